"""lumiaudit.render.plots: plotted data, labels and missing values, no warnings (not pixels)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from lumiaudit._version import __version__
from lumiaudit.render import plots
from lumiaudit.schema import FILES, GAPS, RUNS, empty, enforce

META = {"experiment_label": "Belle II", "run_range": [3000, 3062], "date": "2026-11-29"}


def truth_runs(data: Path) -> pd.DataFrame:
    """A runs table built from the vendored b2-sample truth, plus three runs without a ratio.

    Flags and reasons are derived from the truth (fault column, readable vs written events),
    so nothing below is hard-coded.
    """
    truth = pd.read_csv(data / "truth_runs.csv")
    online = pd.read_csv(data / "online_truth.csv")
    df = truth.merge(online[["run", "num_events"]], on="run")
    n_on = df["num_events"].astype("Int64")
    n_off = df["n_readable"].astype("Int64")
    diff = n_on - n_off
    ratio = n_on.astype("Float64") / n_off.astype("Float64")
    reasons = []
    for row in df.itertuples():
        codes = []
        if row.n_readable < row.n_written:
            codes.append("unreadable_file")
        if isinstance(row.fault, str):
            codes.append(row.fault)
        if not codes and row.num_events != row.n_readable:
            codes.append("unexplained")
        reasons.append(";".join(codes) or pd.NA)
    status = np.where(diff > 0, "DEFICIT", np.where(diff < 0, "EXCESS", "OK"))
    runs = pd.DataFrame(
        {
            "experiment": 10,
            "run": df["run"],
            "run_type": df["run_type"],
            "n_online": n_on,
            "n_offline": n_off,
            "diff": diff,
            "ratio": ratio,
            "n_files": df["n_files"],
            "status": status,
            "flagged": ((ratio - 1).abs() > 0.02).to_numpy(dtype=bool),
            "reasons": reasons,
        }
    )
    extra = pd.DataFrame(
        {
            "experiment": [10, 10, 10],
            "run": [3060, 3061, 3062],
            "run_type": ["physics", "physics", "cosmic"],
            "n_online": [5000, pd.NA, 800],
            "n_offline": [pd.NA, 4200, 790],
            "status": ["MISSING_OFFLINE", "MISSING_ONLINE", "NOT_AUDITED"],
            "flagged": [True, True, False],
            "reasons": ["no_offline_files", "no_online_entry", "non_physics"],
        }
    )
    out = enforce(pd.concat([runs, extra], ignore_index=True), RUNS)
    hours = (out["run"] - 3000).astype(float) * 3
    out["start_time"] = pd.Timestamp("2019-11-05", tz="UTC") + pd.to_timedelta(hours, unit="h")
    return out


@pytest.fixture(scope="module")
def runs(b2_sample: Path) -> pd.DataFrame:
    return truth_runs(b2_sample)


@pytest.fixture
def files(b2_sample: Path) -> pd.DataFrame:
    tf = pd.read_csv(b2_sample / "truth_files.csv", dtype={"run": str})
    tf = tf[tf["run"].str.isdigit()]
    return enforce(
        pd.DataFrame(
            {
                "path": tf["path"],
                "experiment": 10,
                "run": tf["run"].astype(int),
                "hlt_unit": tf["hlt"],
                "file_index": tf["index"],
                "n_entries": tf["n_entries"],
                "status": tf["status"],
            }
        ),
        FILES,
    )


@pytest.fixture
def ax() -> Axes:
    fig, new = plt.subplots(figsize=(8, 4.5), layout="constrained")
    yield new
    plt.close(fig)


def by_gid(ax: Axes, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def offsets(ax: Axes, gid: str) -> np.ndarray:
    found = by_gid(ax, gid)
    assert found, f"no artist {gid!r}"
    return np.asarray(found[0].get_offsets(), dtype=float)


def texts(ax: Axes) -> str:
    return "\n".join(t.get_text() for t in ax.texts)


def flagged_rows(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["flagged"].fillna(False).to_numpy(dtype=bool)]


def compared(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"].isin(["OK", "DEFICIT", "EXCESS"]).to_numpy(dtype=bool)]


# ------------------------------------------------------------------------------ vs run


@pytest.mark.parametrize(
    ("func", "column"), [("plot_diff_vs_run", "diff"), ("plot_ratio_vs_run", "ratio")]
)
def test_vs_run_plots_the_values_and_splits_flagged(runs, ax, func, column):
    out = getattr(plots, func)(runs, ax=ax, meta=META)
    assert out.ax is ax
    good = compared(runs)
    is_flag = good["flagged"].to_numpy(dtype=bool)
    expect_ok = np.c_[good["run"][~is_flag].astype(float), good[column][~is_flag].astype(float)]
    expect_flag = np.c_[good["run"][is_flag].astype(float), good[column][is_flag].astype(float)]
    np.testing.assert_allclose(offsets(ax, "runs_ok"), expect_ok)
    np.testing.assert_allclose(offsets(ax, "runs_flagged"), expect_flag)


def test_missing_runs_go_to_the_strip_not_to_zero(runs, ax):
    plots.plot_diff_vs_run(runs, ax=ax, meta=META)
    for gid, status in [
        ("no_offline", "MISSING_OFFLINE"),
        ("no_online", "MISSING_ONLINE"),
        ("not_audited", "NOT_AUDITED"),
    ]:
        expect = runs.loc[runs["status"] == status, "run"].astype(float).to_numpy()
        got = offsets(ax, gid)
        np.testing.assert_allclose(got[:, 0], expect)
        # strip rows are in axes coordinates, below the data region
        assert np.all(got[:, 1] < 0.15)
    plotted_runs = np.r_[offsets(ax, "runs_ok")[:, 0], offsets(ax, "runs_flagged")[:, 0]]
    missing = runs.loc[runs["diff"].isna(), "run"].astype(float)
    assert not set(missing) & set(plotted_runs)
    assert by_gid(ax, "missing_strip")
    # value ticks never sit on the strip
    to_axes = ax.transData + ax.transAxes.inverted()
    x0 = ax.get_xlim()[0]
    assert all(to_axes.transform((x0, t))[1] > 0.15 for t in ax.get_yticks())


def test_flagged_runs_are_labelled_with_run_and_reason(runs, ax):
    plots.plot_ratio_vs_run(runs, ax=ax, meta=META, max_labels=20)
    labels = [t.get_text() for t in by_gid(ax, "flag_label")]
    flagged = flagged_rows(runs)
    assert len(labels) == len(flagged)
    for row in flagged.itertuples():
        label = next(text for text in labels if text.startswith(str(row.run)))
        assert str(row.reasons).split(";")[0] in label
    assert not by_gid(ax, "more_flagged")


def test_label_count_is_limited_and_the_rest_counted(runs, ax):
    plots.plot_diff_vs_run(runs, ax=ax, meta=META, max_labels=2)
    labels = by_gid(ax, "flag_label")
    assert len(labels) == 2
    (more,) = by_gid(ax, "more_flagged")
    assert more.get_text() == f"+{len(flagged_rows(runs)) - 2} more flagged"
    # the largest unaccounted amounts get the labels: |diff|, or the one known count
    flagged = flagged_rows(runs)
    amount = flagged["diff"].abs().fillna(flagged["n_online"]).fillna(flagged["n_offline"])
    top = flagged.assign(a=amount.astype(float)).nlargest(2, "a")
    assert {t.get_text().split("\n")[0] for t in labels} == {str(r) for r in top["run"]}


def test_labels_do_not_overlap(runs):
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    plots.plot_ratio_vs_run(runs, ax=ax, meta=META, max_labels=8)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in by_gid(ax, "flag_label")]
    plt.close(fig)
    assert len(boxes) == 8
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_figure_label_has_experiment_range_date_version(runs, ax):
    plots.plot_diff_vs_run(runs, ax=ax, meta={**META, "experiment_label": "Belle II e10"})
    text = texts(ax)
    assert "Belle II e10" in text
    assert "runs 3000–3062" in text
    assert "2026-11-29" in text
    assert f"lumiaudit {__version__}" in text


def test_label_defaults_from_runs(runs, ax):
    plots.plot_ratio_vs_run(runs, ax=ax)
    lo, hi = int(runs["run"].min()), int(runs["run"].max())
    assert f"e10 runs {lo}–{hi}" in texts(ax)
    # no profile label given: the data names the experiment, never a default "Belle II"
    assert "Belle II" not in texts(ax)
    assert "e10" in [t.get_text() for t in ax.texts]


# ------------------------------------------------------------------------------ distributions


@pytest.mark.parametrize(
    ("func", "column"), [("plot_diff_distribution", "diff"), ("plot_ratio_distribution", "ratio")]
)
def test_distributions_log_scale_and_counts(runs, ax, func, column):
    art = getattr(plots, func)(runs, ax=ax, meta=META)
    assert ax.get_yscale() == "log"
    values = runs.loc[runs["status"] != "NOT_AUDITED", column].dropna()
    assert sum(art.counts) == len(values)
    assert f"runs ({len(values)})" in [t.get_text() for t in art.legend.get_texts()]
    # the flagged markers sit at the flagged runs' values
    expect = compared(flagged_rows(runs))[column].astype(float).to_numpy()
    np.testing.assert_allclose(np.sort(offsets(ax, "runs_flagged")[:, 0]), np.sort(expect))
    (note,) = by_gid(ax, "not_shown")
    assert "1 no online" in note.get_text()
    assert "1 no offline" in note.get_text()
    assert "1 not audited" in note.get_text()


# ------------------------------------------------------------------------------ scatter


def test_online_vs_offline_loglog_identity_and_strips(runs, ax):
    plots.plot_online_vs_offline(runs, ax=ax, meta=META)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    (identity,) = by_gid(ax, "identity")
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
    good = compared(runs)
    got = np.r_[offsets(ax, "runs_ok"), offsets(ax, "runs_flagged")]
    expect = np.c_[good["n_offline"].astype(float), good["n_online"].astype(float)]
    assert sorted(map(tuple, got)) == sorted(map(tuple, expect))
    no_off = runs[runs["status"] == "MISSING_OFFLINE"]
    np.testing.assert_allclose(offsets(ax, "no_offline")[:, 1], no_off["n_online"].astype(float))
    no_on = runs[runs["status"] == "MISSING_ONLINE"]
    np.testing.assert_allclose(offsets(ax, "no_online")[:, 0], no_on["n_offline"].astype(float))
    assert "3060" in texts(ax)
    assert "no_offline_files" in texts(ax)
    # compact tick labels on the log axes, minor ticks unlabelled
    assert ax.xaxis.get_major_formatter()(2000, 0) == "2k"
    assert ax.yaxis.get_major_formatter()(1.5e6, 0) == "1.5M"
    assert ax.xaxis.get_minor_formatter()(300, 0) == ""
    assert ax.get_xlabel() == "offline events (entries)"  # no n_offline_def: the entries


def test_online_vs_offline_plots_the_count_the_online_one_follows(runs, ax):
    # diff and ratio compare against n_offline_def (here the error-free events): so does the
    # scatter, and its axis says which count it is
    follows = runs.assign(
        n_offline_def=(runs["n_offline"] - 7).astype("Int64"),
        follows=pd.array(["full"] * len(runs), dtype="string"),
    )
    plots.plot_online_vs_offline(follows, ax=ax, meta=META)
    good = compared(follows)
    got = np.r_[offsets(ax, "runs_ok"), offsets(ax, "runs_flagged")]
    expect = np.c_[good["n_offline_def"].astype(float), good["n_online"].astype(float)]
    assert sorted(map(tuple, got)) == sorted(map(tuple, expect))
    assert ax.get_xlabel() == "offline events (error-free)"


def test_many_missing_runs_are_listed_as_ranges(runs, ax):
    many = pd.concat(
        [runs]
        + [runs[runs["status"] == "MISSING_OFFLINE"].assign(run=r) for r in range(3070, 3080)],
        ignore_index=True,
    )
    plots.plot_ratio_vs_run(many, ax=ax, meta=META)
    (row,) = by_gid(ax, "no_offline_text")
    assert "11 flagged" in row.get_text()
    assert "3070–3079" in row.get_text()
    assert not any(t.get_text().startswith("3075") for t in by_gid(ax, "flag_label"))


def test_compress_runs():
    assert plots.compress_runs([5, 1, 2, 3, 9]) == "1–3, 5, 9"
    long = plots.compress_runs(list(range(0, 200, 2)), max_chars=20)
    assert len(long) < 40
    assert long.endswith("ranges)")


# ------------------------------------------------------------------------------ time


def test_ratio_vs_time_uses_start_time(runs, ax):
    some = runs.copy()
    some.loc[some["run"] == 3027, "start_time"] = pd.NaT
    plots.plot_ratio_vs_time(some, ax=ax, meta=META)
    good = compared(some)
    good = good[good["start_time"].notna().to_numpy()]
    xs = mdates.date2num(good["start_time"].dt.tz_convert(None).to_numpy())
    got = np.r_[offsets(ax, "runs_ok")[:, 0], offsets(ax, "runs_flagged")[:, 0]]
    np.testing.assert_allclose(np.sort(got), np.sort(xs))
    (note,) = by_gid(ax, "no_time")
    assert note.get_text().startswith("1 run(s) without start time")


# ------------------------------------------------------------------------------ funnel


# ------------------------------------------------------------------------------ drilldown


def _cells(ax: Axes, category: str) -> int:
    found = by_gid(ax, category)
    return len(found[0].get_paths()) if found else 0


def test_drilldown_gap_unreadable_duplicate(files, ax, b2_sample):
    tf = pd.read_csv(b2_sample / "truth_files.csv", dtype={"run": str})
    gaps = enforce(
        pd.DataFrame(
            {
                "experiment": [10],
                "run": [3035],
                "hlt_unit": [2],
                "file_index": [0],
                "est_events": [650.0],
                "kind": ["file_index_gap"],
            }
        ),
        GAPS,
    )
    plots.plot_run_drilldown(files, gaps, 3035, experiment=10, ax=ax, meta=META)
    n_3035 = int((tf["run"] == "3035").sum())
    assert _cells(ax, "ok") == n_3035
    assert _cells(ax, "missing") == 1
    assert "e10 run 3035" in texts(ax)
    assert f"{n_3035} files" in ax.get_xlabel()
    plt.cla()
    plots.plot_run_drilldown(files, None, 3020, ax=ax)
    assert _cells(ax, "unreadable") == int(((tf["run"] == "3020") & (tf["status"] != "ok")).sum())
    assert "not root" in texts(ax)
    plt.cla()
    plots.plot_run_drilldown(files, None, 3040, ax=ax)
    assert _cells(ax, "duplicate") == 1
    assert "×2" in texts(ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "duplicate (1)" in legend


def test_drilldown_missing_unit_and_loose_files(files, ax):
    gaps = enforce(
        pd.DataFrame(
            {
                "experiment": [10],
                "run": [3000],
                "hlt_unit": [5],
                "file_index": [pd.NA],
                "kind": ["missing_hlt_unit"],
            }
        ),
        GAPS,
    )
    grid = files.copy()
    grid.loc[len(grid)] = {
        "path": "mdst_000123_prod00012345_task10020000123.root",
        "experiment": 10,
        "run": 3000,
        "status": "ok",
        "n_entries": 5,
    }
    plots.plot_run_drilldown(grid, gaps, 3000, ax=ax)
    n_idx = int(files.loc[files["run"] == 3000, "file_index"].max()) + 1
    assert _cells(ax, "missing") == n_idx
    assert "HLT5" in [t.get_text() for t in ax.get_yticklabels()]
    assert "+1 file(s) without HLT unit/index" in ax.get_xlabel()


# ------------------------------------------------------------------------------ robustness


def test_empty_tables_and_no_warnings(runs, files):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for table in (empty(RUNS), runs):
            for name in (
                "plot_diff_vs_run",
                "plot_ratio_vs_run",
                "plot_diff_distribution",
                "plot_ratio_distribution",
                "plot_online_vs_offline",
                "plot_ratio_vs_time",
            ):
                fig, ax = plt.subplots(layout="constrained")
                getattr(plots, name)(table, ax=ax, meta=META)
                fig.canvas.draw()  # layout warnings appear at draw time
                plt.close(fig)
        fig, ax = plt.subplots(layout="constrained")
        plots.plot_funnel(pd.DataFrame({"bucket": [], "events": [], "runs": []}), ax=ax)
        plots.plot_run_drilldown(empty(FILES), empty(GAPS), 1, ax=fig.add_subplot(2, 1, 2))
        fig.canvas.draw()
        plt.close(fig)


def test_new_figure_when_no_axes(runs):
    ax = plots.plot_ratio_vs_run(runs).ax
    try:
        assert isinstance(ax, Axes)
        assert ax.get_ylabel() == "online / offline"
    finally:
        plt.close(ax.get_figure())


def test_funnel_of_an_empty_audit(ax):
    from lumiaudit.reconcile import FUNNEL_BUCKETS
    from lumiaudit.reconcile.funnel import funnel

    empty_funnel = funnel(pd.DataFrame(columns=["experiment", "run", "bucket", "events"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.plot_funnel(empty_funnel, ax=ax, meta=META)
        ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    assert 0 < lo < hi  # a log axis, not a singular one
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == len(set(ticks))
    (note,) = by_gid(ax, "empty_buckets")
    assert all(name in note.get_text() for name in FUNNEL_BUCKETS)
    assert max(len(line) for line in note.get_text().splitlines()) <= 90
