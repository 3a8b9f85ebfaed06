from __future__ import annotations

import pandas as pd
import pytest

from lumiaudit import schema


def test_empty_tables_have_canonical_columns_and_dtypes() -> None:
    for table in (schema.ONLINE, schema.FILES, schema.RUNS, schema.CONFLICTS, schema.GAPS):
        frame = schema.empty(table)
        assert list(frame.columns) == table.names
        for col in table.columns:
            assert str(frame[col.name].dtype) == col.dtype


def test_enforce_keeps_missing_as_missing_never_zero() -> None:
    frame = schema.enforce(
        {"experiment": [10, None], "run": [1, 2], "n_online": [None, 5]}, schema.ONLINE
    )
    assert frame["n_online"].isna().tolist() == [True, False]
    assert frame["experiment"].isna().tolist() == [False, True]
    assert frame["lumi_nb"].isna().all()
    assert frame["source"].isna().all()
    # the CSV form of a missing count is an empty cell, not 0
    csv = frame.to_csv(index=False, na_rep="")
    assert "\n10,1,,," in csv


def test_enforce_rejects_unconvertible_values_with_column_name() -> None:
    with pytest.raises(ValueError, match="'run'"):
        schema.enforce({"run": ["not a number"]}, schema.ONLINE)


def test_enforce_keeps_extra_columns_after_canonical_ones() -> None:
    frame = schema.enforce(pd.DataFrame({"run": [1], "zz": ["x"]}), schema.RUNS)
    assert list(frame.columns)[: len(schema.RUNS.names)] == schema.RUNS.names
    assert frame["zz"].tolist() == ["x"]
    assert "zz" not in schema.enforce(pd.DataFrame({"zz": [1]}), schema.RUNS, extra=False)


def test_file_status_readability() -> None:
    readable = {s.value for s in schema.FileStatus if s.readable}
    assert readable == {"ok", "empty", "metadata_mismatch"}
    assert str(schema.RunStatus.NOT_AUDITED) == "NOT_AUDITED"
    assert str(schema.Reason.ELOG_TYPO) == "elog_typo"


@pytest.mark.parametrize(
    ("columns", "run", "experiment", "expected"),
    [
        ({"experiment": [12, 12, None], "run": [5, 6, 5]}, 5, None, [0, 2]),
        ({"experiment": [12, 12, None], "run": [5, 6, 5]}, 5, 12, [0]),
        ({"experiment": [12, 13], "run": [5, None]}, 5, 13, []),  # a missing run: not selected
        ({"run": [5, 6, 5]}, 5, 12, [0, 2]),  # no experiment column: by run alone
        ({"path": ["a", "b"]}, 5, None, []),  # no run column: no row
        ({"experiment": [], "run": []}, 5, None, []),
    ],
)
def test_select_run(
    columns: dict[str, list[object]], run: int, experiment: int | None, expected: list[int]
) -> None:
    frame = pd.DataFrame(
        {k: pd.array(v, dtype="Int64" if k != "path" else "string") for k, v in columns.items()}
    )
    assert schema.select_run(frame, run, experiment).index.tolist() == expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (pd.array([True, None, False], dtype="boolean"), [0]),
        (pd.Series([True, False], dtype=bool), [0]),
        (pd.Series([None, True], dtype=object), [1]),  # None is not flagged
        (None, []),  # no flagged column: nothing is flagged
    ],
)
def test_flagged(flags: object, expected: list[int]) -> None:
    runs = pd.DataFrame({"run": [1, 2, 3][: 3 if flags is None else len(flags)]})  # type: ignore[arg-type]
    if flags is not None:
        runs["flagged"] = flags
    assert schema.flagged(runs).index.tolist() == expected


def test_status_sets_partition_the_statuses() -> None:
    values = {s.value for s in schema.FileStatus}
    assert not schema.READABLE_STATUSES & schema.UNREADABLE_STATUSES
    assert values == schema.READABLE_STATUSES | schema.UNREADABLE_STATUSES | {"duplicate"}
