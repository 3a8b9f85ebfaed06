"""``--table-format parquet`` (issue 15): the audit's tables as Parquet, read back exactly.

Real pyarrow files in tmp_path; the same checks the CSV reader makes (rows, columns, dtypes),
the metadata (schema, provenance, version), and a clear error without pyarrow.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import lumiaudit
from lumiaudit._version import __version__
from lumiaudit.cli import cli
from lumiaudit.errors import AuditDirError, ParameterError
from lumiaudit.options import AuditOptions
from lumiaudit.pipeline import Audit
from lumiaudit.store.audit_dir import TABLES, is_audit_dir, read_tables, write_audit
from lumiaudit.store.formats import read_table, write_table
from lumiaudit.store.parquet import read_parquet_meta
from lumiaudit.store.tables import MANIFEST, write_manifest
from tests.support.nanoaod import NanoProduction, write_nano_production

pq = pytest.importorskip("pyarrow.parquet")  # the [parquet] extra is in [test]


@pytest.fixture(scope="module")
def example_audit(example: dict[str, Path]) -> Audit:
    return lumiaudit.audit(online=example["elog"], offline=example["prod"], table_format="parquet")


@pytest.fixture(scope="module")
def written(example_audit: Audit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_audit.write(tmp_path_factory.mktemp("parquet") / "audit", plots=False)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_round_trips_exactly(example_audit: Audit, written: Path, name: str) -> None:
    original = getattr(example_audit, name).reset_index(drop=True)
    assert (written / f"{name}.parquet").is_file()
    assert not (written / f"{name}.csv").exists()
    loaded = getattr(Audit.load(written), name)
    assert len(original.columns) > 0, name
    # unlike CSV, an empty text cell stays an empty text cell: no masking here
    pd.testing.assert_frame_equal(loaded[list(original.columns)], original, check_exact=True)


def test_dtypes_survive(written: Path) -> None:
    loaded = Audit.load(written)
    assert str(loaded.runs["n_online"].dtype) == "Int64"
    assert str(loaded.runs["flagged"].dtype) == "boolean"
    assert str(loaded.runs["status"].dtype) == "string"
    assert str(loaded.online["start_time"].dtype) == "datetime64[ns, UTC]"
    assert loaded.runs.loc[loaded.runs["run"] == 123, "n_offline"].isna().all()


def test_metadata_names_schema_provenance_and_version(example_audit: Audit, written: Path) -> None:
    meta = read_parquet_meta(written / "runs.parquet")
    assert meta["table"] == "runs"
    assert meta["lumiaudit_version"] == __version__
    assert meta["schema"] == {str(c): str(t) for c, t in example_audit.runs.dtypes.items()}
    inputs = meta["provenance"]["inputs"]
    assert inputs == json.loads((written / "summary.json").read_text())["inputs"]
    digests = [i["sha256"] for side in ("online", "offline") for i in inputs[side]]
    assert digests
    assert all(isinstance(d, str) and len(d) == 64 for d in digests)
    # the file is plain Parquet: pyarrow alone reads it, pandas' own key is there too
    schema = pq.read_schema(written / "runs.parquet")
    assert b"pandas" in schema.metadata
    assert b"lumiaudit" in schema.metadata


def test_manifest_records_the_format(written: Path) -> None:
    doc = json.loads((written / MANIFEST).read_text())
    assert doc["table_format"] == "parquet"
    assert doc["format"] == 2
    assert {e["file"] for e in doc["tables"].values()} == {f"{n}.parquet" for n in TABLES}
    assert "csv" not in doc  # the CSV conventions do not apply
    assert is_audit_dir(written)


def test_csv_audit_records_csv(example_audit: Audit, tmp_path: Path) -> None:
    out = write_audit(example_audit, tmp_path / "csv", plots=False, table_format="csv")
    doc = json.loads((out / MANIFEST).read_text())
    assert (doc["format"], doc["table_format"]) == (1, "csv")
    assert (out / "runs.csv").is_file()
    assert not list(out.glob("*.parquet"))
    # the same tables, whichever format they were stored in
    for name, frame in read_tables(out).items():
        parquet = getattr(Audit.load(tmp_path / "csv"), name)
        pd.testing.assert_frame_equal(frame, parquet)


def test_history_reads_parquet(written: Path) -> None:
    from lumiaudit.store.history import diff_audits, read_audit_tables

    tables = read_audit_tables(written)
    assert len(tables["runs"]) == len(Audit.load(written).runs)
    diff = diff_audits(written, written)
    assert diff.counts()["newly_flagged"] == 0


def test_a_cut_parquet_file_is_a_located_error(written: Path, tmp_path: Path) -> None:
    copy = tmp_path / "audit"
    shutil.copytree(written, copy)
    data = (copy / "runs.parquet").read_bytes()
    (copy / "runs.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(AuditDirError, match=r"runs\.parquet: damaged audit file: not a readable"):
        Audit.load(copy)


def test_rows_are_checked_against_the_manifest(written: Path, tmp_path: Path) -> None:
    copy = tmp_path / "audit"
    shutil.copytree(written, copy)
    table = pq.read_table(copy / "runs.parquet")
    pq.write_table(table.slice(0, table.num_rows - 3), copy / "runs.parquet")
    with pytest.raises(AuditDirError, match=r"runs\.parquet: damaged audit file: 21 rows, tables"):
        Audit.load(copy)


def test_a_declared_column_that_is_gone_is_an_error(written: Path, tmp_path: Path) -> None:
    copy = tmp_path / "audit"
    shutil.copytree(written, copy)
    table = pq.read_table(copy / "funnel.parquet")
    pq.write_table(table.drop_columns(["lumi_nb"]), copy / "funnel.parquet")
    with pytest.raises(AuditDirError, match=r"funnel\.parquet: .*column 'lumi_nb' is missing"):
        Audit.load(copy)


def test_a_manifest_file_name_must_stay_inside(written: Path, tmp_path: Path) -> None:
    copy = tmp_path / "audit"
    shutil.copytree(written, copy)
    doc = json.loads((copy / MANIFEST).read_text())
    doc["tables"]["runs"]["file"] = "../../etc/runs.parquet"
    (copy / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(AuditDirError, match="is not a file name"):
        Audit.load(copy)


def test_cli_audit_table_format_parquet(example: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "audit"
    args = ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"]),
            "--out", str(out), "--no-plots", "--no-progress",
            "--table-format", "parquet"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (out / "runs.parquet").is_file()
    assert json.loads((out / "summary.json").read_text())["options"]["table_format"] == "parquet"
    explained = CliRunner().invoke(cli, ["explain", "--audit", str(out), "113"])
    assert explained.exit_code == 0, explained.output
    # rerunning into the same directory in CSV replaces it whole: no stale Parquet file stays
    args[-1] = "csv"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert not list(out.glob("*.parquet"))
    assert (out / "runs.csv").is_file()


def test_without_pyarrow_exit_2_and_nothing_written(
    example: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    out = tmp_path / "audit"
    result = CliRunner().invoke(
        cli,
        ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"]),
         "--out", str(out), "--no-plots", "--no-progress", "--table-format", "parquet"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "needs pyarrow" in result.output
    assert "pip install 'lumiaudit[parquet]'" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    with pytest.raises(ParameterError, match="needs pyarrow"):
        AuditOptions.from_mapping({"table_format": "parquet"})


def test_nightly_table_takes_the_option() -> None:
    opts = AuditOptions.from_mapping({"table_format": "parquet"})
    assert opts.table_format == "parquet"
    with pytest.raises(ParameterError, match="table_format: 'xlsx' is not one of csv, parquet"):
        AuditOptions.from_mapping({"table_format": "xlsx"})


@pytest.fixture(scope="module")
def nano(tmp_path_factory: pytest.TempPathFactory) -> NanoProduction:
    return write_nano_production(tmp_path_factory.mktemp("nano"))


def test_lumisection_table_as_parquet(nano: NanoProduction, tmp_path: Path) -> None:
    a = lumiaudit.audit(
        online=[nano.online_ls],
        offline=[nano.prod],
        profile="cms-nanoaod",
        golden=nano.golden,
        table_format="parquet",
    )
    out = a.write(tmp_path / "audit", plots=False)
    assert (out / "lumis.parquet").is_file()
    assert not (out / "lumis.csv").exists()
    assert json.loads((out / MANIFEST).read_text())["tables"]["lumis"]["file"] == "lumis.parquet"
    loaded = Audit.load(out)
    pd.testing.assert_frame_equal(loaded.lumis, a.lumis.reset_index(drop=True), check_exact=True)
    explained = CliRunner().invoke(cli, ["explain", "--audit", str(out), "381150"])
    assert explained.exit_code == 0, explained.output
    assert "MISSING_OFFLINE LS 4-6" in explained.output


text_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), text_cells), min_size=1, max_size=8),
    data=st.data(),
)
def test_any_table_round_trips(tmp_path_factory: pytest.TempPathFactory, texts, data) -> None:  # type: ignore[no-untyped-def]
    n = len(texts)
    ints = data.draw(
        st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=n, max_size=n)
    )
    floats = data.draw(
        st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), min_size=n, max_size=n)
    )
    bools = data.draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n))
    stamps = data.draw(
        st.lists(
            st.one_of(
                st.none(),
                st.datetimes(
                    min_value=datetime(1970, 1, 1),
                    max_value=datetime(2200, 1, 1),
                    timezones=st.just(UTC),
                ),
            ),
            min_size=n,
            max_size=n,
        )
    )
    frame = pd.DataFrame(
        {
            "text": pd.array(texts, dtype="string"),
            "count": pd.array(ints, dtype="Int64"),
            "ratio": pd.array(floats, dtype="Float64"),
            "flag": pd.array(bools, dtype="boolean"),
            "time": pd.to_datetime(pd.Series(stamps, dtype=object), utc=True).astype(
                "datetime64[ns, UTC]"
            ),
        }
    )
    d = tmp_path_factory.mktemp("rt")
    write_table(frame, d / "t.parquet", table_format="parquet", metadata={"table": "t"})
    write_manifest(d, {"t": ("t.parquet", frame)}, table_format="parquet")
    entry = json.loads((d / MANIFEST).read_text())["tables"]["t"]
    back = read_table(d / "t.parquet", entry=entry)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    # without the manifest the file's own metadata restores the same dtypes
    pd.testing.assert_frame_equal(read_table(d / "t.parquet"), frame, check_exact=True)


def test_a_loaded_csv_audit_rewritten_as_parquet(example_audit: Audit, tmp_path: Path) -> None:
    csv_dir = write_audit(example_audit, tmp_path / "csv", plots=False, table_format="csv")
    loaded = Audit.load(csv_dir)
    out = loaded.write(tmp_path / "pq", plots=False, table_format="parquet")
    assert json.loads((out / MANIFEST).read_text())["table_format"] == "parquet"
    again = Audit.load(out)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(again, name), getattr(loaded, name))
    with pytest.raises(ParameterError, match="table format 'xlsx' is not one of csv, parquet"):
        loaded.write(tmp_path / "x", plots=False, table_format="xlsx")
    assert not (tmp_path / "x").exists()
