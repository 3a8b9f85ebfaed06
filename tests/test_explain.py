"""Attribution: typo patterns, DAQ-catalogue amounts, partial explanations, explain_run text."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lumiaudit import schema
from lumiaudit.errors import ParameterError
from lumiaudit.reconcile import reconcile, typo_pattern
from lumiaudit.render.text import explain_run

P = "/data/e0010/4S/r{run:05d}/all/mdst/sub00/mdst.physics.0010.{run:05d}.HLT{u}.f{i:05d}.root"


@given(st.integers(min_value=10, max_value=10**8), st.data())
def test_dropped_digit_is_recognised(true: int, data: st.DataObject) -> None:
    text = str(true)
    i = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    typed = text[:i] + text[i + 1 :]
    if typed and int(typed) != true and not typed.startswith("0"):
        assert typo_pattern(int(typed), true) is not None


@pytest.mark.parametrize(
    ("typed", "true", "pattern"),
    [
        (232, 2329, "dropped digit"),
        (23299, 2329, "extra digit"),
        (23290, 2329, "factor 10"),
        (2392, 2329, "swapped digits"),
        (3117, 3026, None),
        (2303, 2302, None),
    ],
)
def test_typo_patterns(typed: int, true: int, pattern: str | None) -> None:
    assert typo_pattern(typed, true) == pattern


def _files(
    run: int, counts: dict[tuple[int, int], int | None], *, status: str = "ok"
) -> pd.DataFrame:
    rows = []
    for (u, i), n in counts.items():
        rows.append(
            {
                "path": P.format(run=run, u=u, i=i),
                "experiment": 10,
                "run": run,
                "hlt_unit": u,
                "file_index": i,
                "n_entries": n,
                "n_full": n,
                "status": status if n is None else "ok",
            }
        )
    return schema.enforce(pd.DataFrame(rows), schema.FILES)


def _tables(
    files: pd.DataFrame, online: dict[int, int | None], **extra: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    ok = files[files["status"] == "ok"]
    contrib = ok[["path", "experiment", "run", "n_entries", "n_full"]]
    per_run = contrib.groupby(["experiment", "run"]).agg(
        n_offline=("n_entries", "sum"), n_offline_full=("n_full", "sum")
    )
    nfiles = files.groupby(["experiment", "run"]).agg(
        n_files=("path", "size"), n_files_bad=("status", lambda s: int((s != "ok").sum()))
    )
    offline_runs = per_run.join(nfiles, how="outer").reset_index()
    on = schema.enforce(
        pd.DataFrame(
            {
                "experiment": [10] * len(online),
                "run": list(online),
                "run_type": ["physics"] * len(online),
                "n_online": pd.array(list(online.values()), dtype="Int64"),
            }
        ),
        schema.ONLINE,
    )
    return {
        "online": on,
        "files": files,
        "contributions": contrib,
        "offline_runs": offline_runs,
        **extra,
    }


def _filler(first_run: int, n: int) -> tuple[pd.DataFrame, dict[int, int | None]]:
    """Clean runs so that baselines have company."""
    frames, online = [], {}
    for run in range(first_run, first_run + n):
        frames.append(_files(run, {(1, 0): 500 + run % 7, (2, 0): 480}))
        online[run] = 980 + run % 7
    return pd.concat(frames), online


def test_unreadable_file_amount_from_daq_catalogue() -> None:
    f, online = _filler(1, 12)
    bad = _files(100, {(1, 0): 600, (2, 0): 610, (3, 0): None}, status="truncated")
    daq = pd.DataFrame(
        {
            "experiment": [10] * 3,
            "run": [100] * 3,
            "hlt_unit": [1, 2, 3],
            "file_index": [0, 0, 0],
            "n_online": [600, 610, 777],
            "n_online_full": [600, 610, 777],
        }
    )
    tables = _tables(pd.concat([f, bad]), {**online, 100: 600 + 610 + 777}, daq_files=daq)
    rec = reconcile(**tables)
    row = rec.runs.set_index("run").loc[100]
    assert row["status"] == "DEFICIT"
    assert row["reasons"] == "unreadable_file"
    assert row["reason_events"] == "unreadable_file=777"
    assert row["unexplained_diff"] == 0
    assert "DAQ catalogue" in row["evidence"]
    # a deficit larger than the catalogue says is not explained by it
    tables = _tables(pd.concat([f, bad]), {**online, 100: 600 + 610 + 777 + 300}, daq_files=daq)
    row = reconcile(**tables).runs.set_index("run").loc[100]
    assert "unexplained" in row["reasons"].split(";")
    assert row["explained_events"] == 777
    assert row["unexplained_diff"] == 300


def test_daq_lists_a_file_the_production_lacks() -> None:
    f, online = _filler(1, 12)
    run = _files(100, {(1, 0): 600, (1, 1): 610})
    daq = pd.DataFrame(
        {
            "experiment": [10] * 3,
            "run": [100] * 3,
            "hlt_unit": [1, 1, 1],
            "file_index": [0, 1, 2],
            "n_online": [600, 610, 404],
        }
    )
    rec = reconcile(**_tables(pd.concat([f, run]), {**online, 100: 1614}, daq_files=daq))
    row = rec.runs.set_index("run").loc[100]
    assert row["reason_events"] == "file_index_gap=404"
    assert not pd.isna(row["flagged"])
    assert bool(row["flagged"])


def test_missing_hlt_unit_from_gaps_table() -> None:
    f, online = _filler(1, 12)
    run = _files(100, {(1, 0): 600, (2, 0): 610})
    gaps = schema.enforce(
        pd.DataFrame(
            {
                "experiment": [10],
                "run": [100],
                "hlt_unit": [3],
                "file_index": pd.array([pd.NA], dtype="Int64"),
                "est_events": [605.0],
                "kind": ["missing_hlt_unit"],
            }
        ),
        schema.GAPS,
    )
    rec = reconcile(**_tables(pd.concat([f, run]), {**online, 100: 1800}, gaps=gaps))
    row = rec.runs.set_index("run").loc[100]
    assert row["reasons"] == "missing_hlt_unit"
    assert row["reason_events"] == "missing_hlt_unit=590"
    by = dict(zip(rec.funnel["bucket"], rec.funnel["events"], strict=True))
    assert by["missing_hlt_unit"] == 590


def test_copied_count_and_wrong_conflict_choice() -> None:
    f, online = _filler(1, 12)
    online[5] = 4321  # the count of run 6 ...
    online[6] = 4321
    f = f[f["run"] != 6]
    f = pd.concat([f, _files(6, {(1, 0): 2000, (2, 0): 2321})])
    # run 8: the policy kept the first entry, the reply was right
    conflicts = schema.enforce(
        pd.DataFrame(
            {
                "experiment": [10],
                "run": [8],
                "values": ["1,500;983"],
                "sources": ["MID 1;MID 2"],
                "chosen": [1500],
                "policy": ["first"],
            }
        ),
        schema.CONFLICTS,
    )
    online[8] = 1500
    rec = reconcile(**_tables(f, online, conflicts=conflicts))
    by = rec.runs.set_index("run")
    assert by.loc[5, "reasons"] == "elog_typo"
    assert "run 6" in by.loc[5, "evidence"]
    # the evidence formats its counts as every text does (lumiaudit.numbers.fmt)
    assert by.loc[5, "evidence"] == "elog typo: the count of run 6 (online 4,321)"
    assert by.loc[6, "status"] == "OK"
    assert by.loc[8, "reasons"] == "elog_conflict"
    assert by.loc[8, "status"] == "DEFICIT"
    assert by.loc[8, "unexplained_diff"] == 0
    assert bool(by.loc[8, "flagged"])


def test_off_by_one_per_file() -> None:
    f, online = _filler(1, 12)
    online[3] = online[3] + 2  # two files, each one event short
    row = reconcile(**_tables(f, online)).runs.set_index("run").loc[3]
    assert row["reasons"] == "off_by_one"
    assert row["reason_events"] == "off_by_one=2"
    assert not bool(row["flagged"])


def test_explain_run_prints_the_evidence() -> None:
    f, online = _filler(1, 12)
    bad = _files(100, {(1, 0): 600, (2, 1): 610, (3, 0): None}, status="not_root")
    gaps = schema.enforce(
        pd.DataFrame(
            {
                "experiment": [10],
                "run": [100],
                "hlt_unit": [2],
                "file_index": [0],
                "est_events": [600.5],  # a median of two files
                "kind": ["file_index_gap"],
            }
        ),
        schema.GAPS,
    )
    entries = pd.DataFrame(
        {
            "experiment": [10, 10],
            "run": [100, 100],
            "n_online": [1, 2400],
            "entry_id": ["MID 7", "MID 9"],
            "count_text": ["1", "2,400"],
            "chosen": [False, True],
            "entry_type": ["Run summary"] * 2,
            "source": ["191107a.log"] * 2,
        }
    )
    tables = _tables(pd.concat([f, bad]), {**online, 100: 2400}, gaps=gaps, online_entries=entries)
    rec = reconcile(**tables)
    text = explain_run({**tables, "runs": rec.runs}, 100)
    assert "Run 100 (experiment 10, physics): DEFICIT" in text
    assert "HLT3 f00000 not_root" in text
    # one number per cause (issue 16): the credited amount, and the gap named without a
    # second, estimated amount beside it
    assert "file_index_gap: HLT2 f00000 missing\n" in text
    assert "about" not in text
    assert "estimate" not in text
    assert "events per reason: " in text
    assert "MID 9" in text
    assert "typed '2,400'" in text
    assert "(chosen)" in text
    assert "diff = online - offline(full) = 2,400 - 1,210 = +1,190" in text
    assert "explained 1,190 + unexplained 0 = 1,190" in text
    with pytest.raises(ParameterError, match="run 4242"):
        explain_run({"runs": rec.runs}, 4242)


def test_missing_unit_without_catalogue_and_metadata_count() -> None:
    f, online = _filler(1, 12)
    # run 100: units 1 and 2 have two files each, unit 3 is gone (no DAQ catalogue)
    run = _files(100, {(1, 0): 600, (1, 1): 590, (2, 0): 610, (2, 1): 605})
    gaps = schema.enforce(
        pd.DataFrame(
            {
                "experiment": [10],
                "run": [100],
                "hlt_unit": [3],
                "file_index": pd.array([pd.NA], dtype="Int64"),
                "est_events": pd.array([pd.NA], dtype="Float64"),
                "kind": ["missing_hlt_unit"],
            }
        ),
        schema.GAPS,
    )
    # run 101: the online number is FileMetaData's nEvents, 40 more than the tree entries
    meta = _files(101, {(1, 0): 600, (2, 0): 610})
    meta.loc[0, "status"] = "metadata_mismatch"
    meta["n_meta"] = pd.array([640, 610], dtype="Int64")
    files = pd.concat([f, run, meta])
    tables = _tables(files, {**online, 100: 2405 + 1180, 101: 1250}, gaps=gaps)
    tables["files"] = files  # _tables keeps only status ok as contributions: add the mismatch
    tables["contributions"] = files[files["status"] != "truncated"][
        ["path", "experiment", "run", "n_entries", "n_full"]
    ]
    off = tables["offline_runs"].set_index("run")
    off.loc[101, ["n_offline", "n_offline_full"]] = 1210
    tables["offline_runs"] = off.reset_index()
    rec = reconcile(**tables)
    by = rec.runs.set_index("run")
    assert by.loc[100, "reasons"] == "missing_hlt_unit"
    assert by.loc[100, "unexplained_diff"] == 0
    assert "2 file(s) expected" in by.loc[100, "evidence"]
    assert by.loc[101, "reasons"] == "metadata_mismatch"
    assert by.loc[101, "reason_events"] == "metadata_mismatch=40"
    funnel = dict(zip(rec.funnel["bucket"], rec.funnel["events"], strict=True))
    assert funnel["metadata_mismatch"] == 40
    assert int(rec.funnel["events"].sum()) == int(rec.runs["n_online"].sum())


def test_missing_unit_inferred_only_for_a_deficit_of_its_size() -> None:
    frames, online = [], {}
    for run in range(1, 13):
        counts = {(u, 0): 500 + 10 * u + run for u in (1, 2, 3, 4)}
        if run == 3:  # a clean run with three units: never a reason
            counts.pop((4, 0))
        frames.append(_files(run, counts))
        online[run] = sum(counts.values())
    frames.append(_files(20, {(1, 0): 510, (2, 0): 520, (3, 0): 530}))
    online[20] = 510 + 520 + 530 + 545  # unit 4 wrote nothing offline
    frames.append(_files(21, {(1, 0): 510, (2, 0): 520, (3, 0): 530}))
    online[21] = 510 + 520 + 530 + 40  # a small loss is not a whole unit
    by = reconcile(**_tables(pd.concat(frames), online)).runs.set_index("run")
    assert by.loc[3, "reasons"] is pd.NA
    assert by.loc[20, "reasons"] == "missing_hlt_unit"
    assert by.loc[20, "reason_events"] == "missing_hlt_unit=545"
    assert by.loc[21, "reasons"] == "unexplained"


def test_yield_tells_which_count_is_off() -> None:
    f, online = _filler(1, 12)
    offline = {run: 980 + run % 7 for run in online}
    online[4] = 2 * offline[4] + 3  # a wrong online number (no typo pattern)
    tables = _tables(f, online)
    # the luminosity follows the real event count: 0.5 nb^-1 per event
    tables["online"]["lumi_nb"] = pd.array([offline[r] / 2 for r in online], dtype="Float64")
    by = reconcile(**tables).runs.set_index("run")
    assert "the online yield stands out" in by.loc[4, "evidence"]
    assert by.loc[4, "yield_offline"] == pytest.approx(2.0)
    assert by.loc[4, "z_yield_online"] > 3


def test_run_number_typed_as_count() -> None:
    f, online = _filler(1, 12)
    f = pd.concat([f, _files(3046, {(1, 0): 1200, (2, 0): 1300})])
    online[3046] = 3046
    row = reconcile(**_tables(f, online)).runs.set_index("run").loc[3046]
    assert row["reasons"] == "elog_typo"
    assert "run number" in row["evidence"]


# ---------------------------------------------------------------- issue 11 / 15


@pytest.mark.parametrize("side", ["online", "offline"])
def test_missing_experiment_is_a_key_value(side: str) -> None:
    # an elog entry without `Exp number`, or a production keyed by run alone (issue 15):
    # no int(NA); the run is matched by its number when only one experiment has it
    from lumiaudit.runlists import classify_runs

    f, online = _filler(1, 12)
    tables = _tables(f, online)
    if side == "online":
        on = tables["online"]
        on.loc[on["run"] == 3, "experiment"] = pd.NA
        on.loc[len(on)] = {**on.iloc[0].to_dict(), "experiment": pd.NA, "run": 99}
        tables["online"] = schema.enforce(on, schema.ONLINE)
    else:
        for name in ("files", "contributions", "offline_runs"):
            t = tables[name].copy()
            t["experiment"] = pd.array([pd.NA] * len(t), dtype="Int64")
            tables[name] = t
    rec = reconcile(**tables)
    runs = rec.runs
    row3 = runs[runs["run"] == 3].iloc[0]
    assert row3["experiment"] == 10
    assert row3["status"] == "OK"
    assert row3["experiment_filled"] == ("offline" if side == "online" else "online")
    assert "experiment" in str(row3["evidence"])
    assert len(runs[runs["run"] == 3]) == 1
    if side == "online":
        row99 = runs[runs["run"] == 99].iloc[0]
        assert row99["experiment"] is pd.NA
        assert row99["status"] == "MISSING_OFFLINE"
        assert classify_runs(runs[runs["run"] == 99]).tolist() == ["bad"]
    text = explain_run({"runs": runs}, 3)
    assert "Run 3 (experiment 10" in text


def test_unreadable_online_count_is_never_good() -> None:
    # issue 11: a count the online side could not read (typed `12k`: missing + problem) while an
    # older entry gave a count that matches offline; the run must not be in the good list
    from lumiaudit.runlists import classify_runs

    f, online = _filler(1, 12)
    tables = _tables(f, online)
    base = tables["online"][tables["online"]["run"] == 4].iloc[0].to_dict()
    entries = pd.DataFrame(
        [
            {**base, "entry_id": "2", "count_text": "985", "problem": pd.NA, "chosen": True},
            {
                **base,
                "n_online": pd.NA,
                "entry_id": "9",
                "count_text": "12k",
                "problem": "not a number",
                "chosen": False,
            },
        ]
    )
    rec = reconcile(**tables, online_entries=entries)
    row = rec.runs.set_index("run").loc[4]
    assert row["status"] == "OK"
    assert "online_count_unreadable" in str(row["reasons"])
    assert "12k" in str(row["evidence"])
    assert bool(row["flagged"])
    assert classify_runs(rec.runs[rec.runs["run"] == 4]).tolist() != ["good"]


@pytest.mark.parametrize(
    ("markers", "reasons"),
    [("bad_suffix", "bad_run_marker"), ("badruns_dir", None), (None, "bad_run_marker")],
)
def test_production_marked_bad_is_never_good(markers: str | None, reasons: str | None) -> None:
    from lumiaudit.runlists import classify_runs

    runs = pd.DataFrame(
        {
            "status": ["OK"],
            "flagged": pd.array([False], dtype="boolean"),
            "reasons": [reasons],
            "markers": [markers],
            "unexplained_diff": [0],
        }
    )
    assert classify_runs(runs).tolist() == ["bad"]


# counts as they may come back from a stored audit: floats (a column with a gap, an audit
# directory without tables.json), text (an object column), numpy and nullable integers
READ_BACK = {
    "float64": lambda v: pd.Series(v, dtype="float64"),
    "Float64": lambda v: pd.Series(v, dtype="Float64"),
    "text": lambda v: pd.Series([str(x) for x in v], dtype=object),
    "int64": lambda v: pd.Series(v, dtype="int64"),
    "Int64": lambda v: pd.Series(v, dtype="Int64"),
}


@pytest.mark.parametrize("dtype", sorted(READ_BACK))
def test_explain_prints_counts_as_integers_whatever_they_were_read_back_as(dtype: str) -> None:
    """`10,231 - 1.023e+04 = 0` and `6,583 - 5883 = 700` were printed for stored audits."""
    col = READ_BACK[dtype]
    runs = pd.DataFrame(
        {
            "experiment": [10, 10],
            "run": [1915, 1916],
            "run_type": ["physics", "physics"],
            "status": ["OK", "DEFICIT"],
            "n_online": col([10231, 6583]),
            "n_offline": col([10231, 5883]),
            "n_offline_full": col([10231, 5883]),
            "n_offline_def": col([10231, 5883]),
            "diff": col([0, 700]),
            "ratio": pd.Series([1.0, 6583 / 5883]),
            "follows": ["full", "full"],
        }
    )
    ok = explain_run({"runs": runs}, 1915)
    assert "= 10,231 - 10,231 = 0  (ratio 1.00000)" in ok
    assert "e+0" not in ok
    deficit = explain_run({"runs": runs}, 1916)
    assert "= 6,583 - 5,883 = +700" in deficit
    assert "online (elog/DAQ):           6,583" in deficit
    assert "5883" not in deficit
