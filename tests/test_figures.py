"""lumiaudit.store.figures.write_plots: every figure in every format, names, errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from PIL import Image

from lumiaudit.errors import OutputError, ParameterError
from lumiaudit.schema import FILES, GAPS, RUNS, enforce
from lumiaudit.store.figures import FORMATS, drilldown_name, plot_names, write_plots

META = {"experiment_label": "Belle II", "run_range": "e12 runs 101–104", "date": "2026-11-29"}


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    runs = enforce(
        {
            "experiment": [12, 12, 12, 12],
            "run": [101, 102, 103, 104],
            "run_type": ["physics"] * 4,
            "n_online": [1000, 2000, 1500, pd.NA],
            "n_offline": [1000, 1500, pd.NA, 700],
            "diff": [0, 500, pd.NA, pd.NA],
            "ratio": [1.0, 2000 / 1500, pd.NA, pd.NA],
            "status": ["OK", "DEFICIT", "MISSING_OFFLINE", "MISSING_ONLINE"],
            "flagged": [False, True, True, True],
            "reasons": [pd.NA, "unreadable_file", "no_offline_files", "no_online_entry"],
            "start_time": pd.to_datetime(
                ["2019-11-05T01:00Z", "2019-11-05T03:00Z", None, "2019-11-05T07:00Z"], utc=True
            ),
        },
        RUNS,
    )
    files = enforce(
        {
            "path": [
                f"mdst.physics.0012.{r:05d}.HLT{u}.f00000.root"
                for r, u in [(101, 1), (102, 1), (102, 2), (104, 1)]
            ],
            "experiment": [12] * 4,
            "run": [101, 102, 102, 104],
            "hlt_unit": [1, 1, 2, 1],
            "file_index": [0, 0, 0, 0],
            "n_entries": [1000, 1500, pd.NA, 700],
            "status": ["ok", "ok", "truncated", "ok"],
        },
        FILES,
    )
    gaps = enforce(
        {
            "experiment": [12],
            "run": [102],
            "hlt_unit": [1],
            "file_index": [1],
            "kind": ["file_index_gap"],
        },
        GAPS,
    )
    funnel = pd.DataFrame(
        {
            "bucket": ["unreadable_file", "missing_offline", "matched"],
            "events": [500, 1500, 2500],
            "runs": [1, 1, 2],
        }
    )
    return {"runs": runs, "files": files, "gaps": gaps, "funnel": funnel}


def test_write_plots_all_formats(tables, tmp_path):
    out = tmp_path / "plots"
    written = write_plots(**tables, out_dir=out, meta=META, dpi=150)
    stems = plot_names(tables["runs"], files=tables["files"], funnel=tables["funnel"])
    # drilldowns only for flagged runs that have files: 102 and 104, not 103 (no files)
    assert drilldown_name(12, 102) in stems
    assert drilldown_name(12, 104) in stems
    assert drilldown_name(12, 103) not in stems
    assert {"funnel", "ratio_vs_time", "online_vs_offline"} <= set(stems)
    assert written == [out / f"{s}.{f}" for s in stems for f in FORMATS]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    for path in written:
        assert path.stat().st_size > 1000
    with Image.open(out / "ratio_vs_run.png") as img:
        assert img.info["dpi"][0] == pytest.approx(150, abs=1)
        assert img.size[0] >= 1000  # 8 in at 150 dpi
    ET.parse(out / "funnel.svg")  # valid XML
    assert (out / "diff_vs_run.pdf").read_bytes().startswith(b"%PDF")
    # the run numbers and reasons are real text in the vector output
    svg = (out / "ratio_vs_run.svg").read_text(encoding="utf-8")
    assert "102" in svg
    assert "unreadable_file" in svg


def test_optional_tables_and_formats(tables, tmp_path):
    runs = tables["runs"].assign(start_time=pd.NaT)
    written = write_plots(runs=runs, out_dir=tmp_path, formats=("png",), max_drilldowns=0)
    assert sorted(p.name for p in written) == sorted(
        f"{s}.png"
        for s in (
            "diff_vs_run",
            "ratio_vs_run",
            "diff_distribution",
            "ratio_distribution",
            "online_vs_offline",
        )
    )


def test_drilldown_limit_and_name():
    assert drilldown_name(8, 1925) == "drilldown_e0008_r01925"
    assert drilldown_name(pd.NA, 7) == "drilldown_exxxx_r00007"


def test_bad_format_and_unwritable_dir(tables, tmp_path):
    with pytest.raises(ParameterError, match="jpeg"):
        write_plots(runs=tables["runs"], out_dir=tmp_path, formats=("jpeg",))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=str(blocker)):
        write_plots(runs=tables["runs"], out_dir=blocker / "plots", formats=("png",))


def test_empty_audit_plots_without_warnings(tmp_path):
    """No run at all (e.g. a mask matching nothing): every figure is drawn, nothing warns."""
    import warnings

    from lumiaudit.reconcile import FUNNEL_BUCKETS
    from lumiaudit.reconcile.funnel import funnel

    empty_funnel = funnel(pd.DataFrame(columns=["experiment", "run", "bucket", "events"]))
    assert list(empty_funnel["bucket"]) == list(FUNNEL_BUCKETS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = write_plots(
            runs=enforce({}, RUNS),
            files=enforce({}, FILES),
            gaps=enforce({}, GAPS),
            funnel=empty_funnel,
            out_dir=tmp_path,
            formats=("png",),
            meta=META,
        )
    assert [str(w.message) for w in caught] == []
    assert tmp_path / "funnel.png" in written
    assert all(p.stat().st_size > 0 for p in written)
