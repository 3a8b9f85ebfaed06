"""Plots as issue 16 and issue 12 require: artists returned, the stored band, scales, labels."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lumiaudit.reconcile.stats import flag_outliers, robust_baseline
from lumiaudit.render import plots
from lumiaudit.schema import FILES, RUNS, enforce

META = {"experiment_label": "Belle II e12", "run_range": [1, 60], "date": "2026-12-01"}


def _runs(n_on: list[int], n_off: list[int], **extra: list[object]) -> pd.DataFrame:
    n = len(n_on)
    on = pd.array(n_on, dtype="Int64")
    off = pd.array(n_off, dtype="Int64")
    frame = {
        "experiment": [12] * n,
        "run": list(range(1, n + 1)),
        "run_type": ["physics"] * n,
        "n_online": on,
        "n_offline": off,
        "diff": on - off,
        "ratio": pd.array(on, dtype="Float64") / pd.array(off, dtype="Float64"),
        "status": [
            "OK" if a == b else ("DEFICIT" if a > b else "EXCESS")
            for a, b in zip(n_on, n_off, strict=True)
        ],
        "flagged": [a != b for a, b in zip(n_on, n_off, strict=True)],
        "reasons": [pd.NA if a == b else "unexplained" for a, b in zip(n_on, n_off, strict=True)],
    }
    frame.update(extra)
    return enforce(frame, RUNS)


@pytest.fixture
def shifted() -> pd.DataFrame:
    """30 runs at ratio 1, then 30 at 1.02 (a menu change): the local band is not the global."""
    rng = np.random.default_rng(7)
    off = rng.integers(9_000, 11_000, size=60)
    on = np.where(np.arange(60) < 30, off, np.round(off * 1.02)).astype(int)
    runs = _runs(list(on), list(off))
    runs["n_offline_def"] = runs["n_offline"]
    out, _ = flag_outliers(runs)
    return out


def test_drawn_band_is_the_stored_band_not_a_global_one(shifted):
    fig, ax = plt.subplots()
    try:
        art = plots.plot_ratio_vs_run(shifted, ax=ax, meta=META)
        assert art.band is not None
        assert art.baseline is not None
        # the drawn baseline is the stored per-run baseline
        np.testing.assert_allclose(art.baseline.get_ydata(), shifted["baseline"].astype(float))
        drawn = np.unique(np.round(art.band.get_paths()[0].vertices[:, 1], 12))
        stored = np.unique(
            np.round(
                np.r_[shifted["band_low"].astype(float), shifted["band_high"].astype(float)], 12
            )
        )
        assert set(drawn) == set(stored)
        # ... and it is not what a global median/MAD would have drawn
        med, mad = robust_baseline(shifted["ratio"].astype(float).to_numpy())
        assert not np.isclose(shifted["baseline"].astype(float), med).all()
        assert (shifted["band_high"].astype(float) < med + 3 * mad).any()
        diff_art = plots.plot_diff_vs_run(shifted, ax=fig.add_subplot(2, 1, 2), meta=META)
        np.testing.assert_allclose(
            diff_art.baseline.get_ydata(), shifted["diff_baseline"].astype(float)
        )
    finally:
        plt.close(fig)


def test_stats_band_contains_exactly_the_non_outliers(shifted):
    ratio = shifted["ratio"].astype(float)
    inside = (ratio >= shifted["band_low"].astype(float)) & (
        ratio <= shifted["band_high"].astype(float)
    )
    assert not (inside & shifted["outlier"].astype(bool)).any()
    diff_from_band = (shifted["band_high"].astype(float) - 1) * shifted["n_offline"].astype(float)
    np.testing.assert_allclose(shifted["diff_band_high"].astype(float), diff_from_band)


def test_no_band_columns_no_band_and_a_note():
    runs = _runs([100, 100, 191], [100, 100, 100])
    fig, ax = plt.subplots()
    try:
        art = plots.plot_diff_vs_run(runs, ax=ax)
        assert art.band is None
        assert art.baseline is None
        assert any("no stored band" in t.get_text() for t in art.notes)
    finally:
        plt.close(fig)


def test_small_deficit_visible_beside_a_large_typo():
    n_off = [10_000] * 20 + [63_100, 10_000]
    n_on = [10_000] * 20 + [6_310, 10_091]  # a 56,790-event typo and a 91-event deficit
    runs = _runs(n_on, n_off)
    fig, ax = plt.subplots()
    try:
        art = plots.plot_diff_vs_run(runs, ax=ax)
        assert ax.get_yscale() == "symlog"
        to_axes = ax.transData + ax.transAxes.inverted()
        zero = to_axes.transform((1, 0))[1]
        small = to_axes.transform((22, 91))[1]
        big = to_axes.transform((21, -56_790))[1]
        assert small - zero > 0.1  # a tenth of the height, not a pixel
        assert 0.0 <= big < zero
        ratio = plots.plot_ratio_vs_run(runs, ax=fig.add_subplot(2, 1, 2))
        rax = ratio.ax
        to_axes = rax.transData + rax.transAxes.inverted()
        assert to_axes.transform((22, 1.0091))[1] - to_axes.transform((1, 1.0))[1] > 0.1
        assert art.labels.texts
    finally:
        plt.close(fig)


def test_label_priority_severity_then_events_and_unexplained_fail_always():
    n = 12
    n_off = [10_000] * n
    n_on = [10_000 + 1000 * (i + 1) for i in range(10)] + [10_091, 10_000]
    severity = ["warn"] * 10 + ["fail", "ok"]
    reasons = ["unreadable_file"] * 10 + ["unexplained", pd.NA]
    runs = _runs(n_on, n_off)
    runs["reasons"] = pd.array(reasons, dtype="string")
    runs["severity"] = pd.array(severity, dtype="string")
    fig, ax = plt.subplots()
    try:
        art = plots.plot_diff_vs_run(runs, ax=ax, max_labels=3)
        first = [t.get_text().split("\n")[0] for t in art.labels.texts]
        # the unexplained fail (run 11, 91 events) first, then the biggest warns
        assert first == ["11", "10", "9"]
        assert art.labels.more is not None
        assert art.labels.more.get_text() == "+8 more flagged"
        none = plots.plot_diff_vs_run(runs, ax=fig.add_subplot(2, 1, 2), max_labels=0)
        assert [t.get_text().split("\n")[0] for t in none.labels.texts] == ["11"]
    finally:
        plt.close(fig)


def test_rendered_labels_do_not_overlap_each_other_or_the_legend():
    rng = np.random.default_rng(3)
    n_off = list(rng.integers(5_000, 6_000, size=40))
    n_on = [v + (int(rng.integers(50, 3000)) if i % 4 == 0 else 0) for i, v in enumerate(n_off)]
    runs = _runs(n_on, n_off)
    for func in (plots.plot_diff_vs_run, plots.plot_ratio_vs_run, plots.plot_online_vs_offline):
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        canvas = FigureCanvasAgg(fig)
        art = func(runs, ax=fig.add_subplot(), meta=META)
        fig.savefig(io.BytesIO(), format="png", dpi=150)
        renderer = canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in art.labels.texts]
        assert len(boxes) == 8
        legend = art.legend.get_window_extent(renderer)
        for i, a in enumerate(boxes):
            assert not a.overlaps(legend), (func.__name__, a, legend)
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (func.__name__, a, b)


def test_distributions_have_a_bin_of_exact_agreement():
    runs = _runs([1000] * 10 + [1091, 1001], [1000] * 12)
    fig, ax = plt.subplots()
    try:
        art = plots.plot_diff_distribution(runs, ax=ax)
        edges = np.asarray(art.edges)
        zero = int(np.flatnonzero((edges[:-1] < 0) & (edges[1:] > 0))[0])
        assert (edges[zero], edges[zero + 1]) == (-0.5, 0.5)
        assert art.counts[zero] == 10  # the perfect runs only
        assert sum(art.counts) == 12
        assert ax.get_xscale() == "symlog"
        ratio = plots.plot_ratio_distribution(runs, ax=fig.add_subplot(2, 1, 2))
        edges = np.asarray(ratio.edges)
        zero = int(np.flatnonzero((edges[:-1] < 1) & (edges[1:] > 1))[0])
        assert ratio.counts[zero] == 10  # 1001/1000 does not share the bin of exactly 1
    finally:
        plt.close(fig)


def _funnel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bucket": pd.array(
                ["non_physics", "unreadable_file", "missing_hlt_unit", "unexplained", "matched"],
                dtype="string",
            ),
            "events": pd.array([50_000, 300, 0, 50, 49_650], dtype="Int64"),
            "runs": pd.array([2, 3, 0, 1, 20], dtype="Int64"),
            "lumi_nb": pd.array([0.0, 900.0, 0.0, 150.0, 150_000.0], dtype="Float64"),
        }
    )


def test_funnel_of_audited_runs_on_a_log_axis_with_the_rest_apart():
    runs = _runs([1000], [1000])
    runs.loc[len(runs)] = {
        "experiment": 12,
        "run": 2,
        "n_offline": 4200,
        "status": "MISSING_ONLINE",
        "flagged": True,
    }
    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        art = plots.plot_funnel(_funnel(), runs=runs, ax=ax)
        assert ax.get_xscale() == "log"
        assert art.rows[:4] == ["audited online", "unreadable_file", "unexplained", "matched"]
        assert art.rows[4:] == ["non-physics (not audited)", "no online count (offline)"]
        values = [t.get_text() for t in art.values]
        assert values[0] == "50,000"  # the audited total: cosmics apart
        assert values[2] == "50 · 0.1 % · 1 run"
        assert "4,200 offline" in values[5]
        # a 0.1 % loss is a bar of a good part of the width, not a sliver
        fig.canvas.draw()
        width = art.bars[2].get_window_extent().width / ax.get_window_extent().width
        assert width > 0.1  # on a linear axis it would be 0.001 of the total's bar
        assert art.apart is not None
        assert len(art.apart) == 2
        lumi = plots.plot_funnel(_funnel(), ax=fig.add_subplot(2, 1, 2), unit="lumi")
        assert lumi.unit == "lumi"
        assert [t.get_text() for t in lumi.values][1].startswith("900 nb⁻¹")
    finally:
        plt.close(fig)


def test_funnel_in_lumi_needs_the_column():
    from lumiaudit.errors import ParameterError

    with pytest.raises(ParameterError, match="lumi_nb"):
        plots.plot_funnel(_funnel().drop(columns="lumi_nb"), unit="lumi")


def test_drilldown_title_has_counts_diff_and_reasons():
    runs = _runs([1601], [1349])
    runs["reason_events"] = pd.array(["unreadable_file=252"], dtype="string")
    files = enforce(
        {
            "path": ["a.root", "b.root"],
            "experiment": [12, 12],
            "run": [1, 1],
            "hlt_unit": [1, 2],
            "file_index": [0, 0],
            "n_entries": [1349, pd.NA],
            "status": ["ok", "truncated"],
        },
        FILES,
    )
    fig, ax = plt.subplots()
    try:
        art = plots.plot_run_drilldown(files, None, 1, runs=runs, experiment=12, ax=ax)
        assert art.title.get_text() == (
            "e12 r1: online 1,601 − offline 1,349 = +252 · unreadable_file (252 events)"
        )
        assert len(art.cells["unreadable"].get_paths()) == 1
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    ("meta", "lumi", "expect", "absent"),
    [
        ({"experiment_label": "CMS"}, [1000.0, 2000.0], ["CMS", "3 pb⁻¹ recorded"], ["Belle II"]),
        ({}, [None, None], ["e12"], ["recorded", "Belle II"]),
    ],
)
def test_experiment_label_and_luminosity(meta, lumi, expect, absent):
    runs = _runs([10, 10], [10, 10])
    runs["lumi_nb"] = pd.array(lumi, dtype="Float64")
    fig, ax = plt.subplots()
    try:
        plots.plot_ratio_vs_run(runs, ax=ax, meta=meta)
        text = "\n".join(t.get_text() for t in ax.texts)
        for word in expect:
            assert word in text
        for word in absent:
            assert word not in text
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    "func",
    [
        plots.plot_diff_vs_run,
        plots.plot_ratio_vs_run,
        plots.plot_online_vs_offline,
        plots.plot_ratio_vs_time,
    ],
)
def test_the_unexplained_fail_is_labelled_in_every_run_plot(func):
    """Issue 16: labels went to the 8 runs with most events, never to the one unexplained run."""
    n_off = [10_000] * 14
    n_on = [10_000 + 500 * (i + 1) for i in range(12)] + [10_091, 10_000]
    runs = _runs(n_on, n_off)
    runs["reasons"] = pd.array(["unreadable_file"] * 12 + ["unexplained", pd.NA], dtype="string")
    runs["severity"] = pd.array(["warn"] * 12 + ["fail", "ok"], dtype="string")
    runs["start_time"] = pd.Timestamp("2021-03-01", tz="UTC") + pd.to_timedelta(
        np.arange(14), unit="h"
    )
    fig, ax = plt.subplots()
    try:
        art = func(runs, ax=ax)
        firsts = [t.get_text().split("\n")[0] for t in art.labels.texts]
        assert firsts[0] == "13"
        assert len(firsts) == 8
    finally:
        plt.close(fig)


def test_ratio_zero_bin_separates_one_event_in_ten_million():
    runs = _runs([10_000_000] * 5 + [10_000_001], [10_000_000] * 6)
    fig, ax = plt.subplots()
    try:
        art = plots.plot_ratio_distribution(runs, ax=ax)
        edges = np.asarray(art.edges)
        zero = int(np.flatnonzero((edges[:-1] <= 1) & (edges[1:] > 1))[0])
        assert art.counts[zero] == 5
        assert sum(art.counts) == 6
    finally:
        plt.close(fig)


def test_bundled_example_pngs_have_apart_labels(example, tmp_path, monkeypatch):
    """The demo's figures as written to disk: label boxes overlap neither each other nor the
    legend (rendered at the PNG's size and dpi)."""
    import lumiaudit
    from lumiaudit.store import figures

    audit = lumiaudit.audit(online=example["elog"], offline=example["prod"])
    seen = {}
    real_save = figures._save

    def save(fig, out_dir, stem, formats, dpi):
        canvas = FigureCanvasAgg(fig)
        paths = real_save(fig, out_dir, stem, formats, dpi)
        renderer = canvas.get_renderer()
        ax = fig.axes[0]
        seen[stem] = (
            [t.get_window_extent(renderer) for t in ax.texts if t.get_gid() == "flag_label"],
            ax.get_legend().get_window_extent(renderer) if ax.get_legend() else None,
            [t.get_text() for t in ax.texts if t.get_gid() == "flag_label"],
        )
        return paths

    # look at each figure as it is saved (its real size, layout and labels)
    monkeypatch.setattr(figures, "_save", save)
    figures.write_plots(
        runs=audit.runs,
        files=audit.files,
        gaps=audit.gaps,
        funnel=audit.funnel,
        out_dir=tmp_path,
        formats=("png",),
        meta=audit._meta(),
    )
    unexplained = audit.runs.loc[
        audit.runs["reasons"].fillna("").str.contains("unexplained"), "run"
    ].tolist()
    assert unexplained
    for stem in ("diff_vs_run", "ratio_vs_run", "online_vs_offline", "ratio_vs_time"):
        boxes, legend, texts = seen[stem]
        assert boxes, stem
        for run in unexplained:
            assert any(t.split("\n")[0] == str(run) for t in texts), (stem, texts)
        for i, a in enumerate(boxes):
            assert legend is None or not a.overlaps(legend), (stem, texts[i])
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (stem, a, b)


def test_audit_methods_return_artists_and_the_band_survives_the_store(example, tmp_path):
    import lumiaudit
    from lumiaudit.pipeline import Audit

    audit = lumiaudit.audit(online=example["elog"], offline=example["prod"])
    audit.write(tmp_path / "out", plots=False)
    stored = Audit.load(tmp_path / "out")
    for name in ("band_low", "band_high", "diff_baseline", "diff_band_low", "diff_band_high"):
        assert str(stored.runs[name].dtype) == "Float64"
        pd.testing.assert_series_equal(stored.runs[name], audit.runs[name], check_exact=False)
    fig, axes = plt.subplots(3)
    try:
        art = stored.plot_ratio_vs_run(ax=axes[0])
        assert isinstance(art, plots.RunPlotArtists)
        assert art.band is not None
        funnel = stored.plot_funnel(ax=axes[1])
        assert isinstance(funnel, plots.FunnelArtists)
        assert funnel.rows[0] == "audited online"
        flagged = stored.runs[stored.runs["reasons"].fillna("").str.contains("unreadable_file")]
        run, exp = int(flagged["run"].iloc[0]), int(flagged["experiment"].iloc[0])
        drill = stored.plot_run_drilldown(run, exp, ax=axes[2])
        assert drill.title.get_text().startswith(f"e{exp} r{run}: online ")
        assert "unreadable_file (" in drill.title.get_text()
    finally:
        plt.close(fig)


def test_file_status_plot_counts_every_file_and_names_the_experiment():
    files = enforce(
        {
            "run": [1] * 6,
            "path": [f"f{i}.root" for i in range(6)],
            "status": ["ok", "ok", "ok", "truncated", "duplicate", None],
            "n_entries": pd.array([10, 10, 10, None, 10, None], dtype="Int64"),
        },
        FILES,
    )
    runs = _runs([40], [30])
    fig, ax = plt.subplots()
    try:
        art = plots.plot_file_status(files, ax=ax, meta={}, runs=runs)
        assert isinstance(art, plots.FileStatusArtists)
        assert art.rows[0] == "ok"  # ok on top, then by number of files
        assert sorted(art.rows) == ["duplicate", "no status", "ok", "truncated"]
        assert [t.get_text().strip() for t in art.values] == ["3", "1", "1", "1"]
        assert art.bars is not None
        widths = [p.get_width() for p in art.bars.patches]
        assert widths == [3, 1, 1, 1]  # a file without a status is counted, never dropped
        assert ax.get_xscale() == "log"
        # the unreadable file is red like the drilldown's unreadable cells
        red = plots.DRILLDOWN_CATEGORIES["unreadable"][0]
        colors = dict(zip(art.rows, [p.get_facecolor() for p in art.bars.patches], strict=True))
        assert colors["truncated"] == pytest.approx(matplotlib.colors.to_rgba(red))
        text = "\n".join(t.get_text() for t in ax.texts)
        assert "e12" in text  # the data's experiment: no label given, none guessed
        assert "Belle II" not in text
    finally:
        plt.close(fig)


def test_file_status_plot_without_files_says_so():
    fig, ax = plt.subplots()
    try:
        art = plots.plot_file_status(enforce({"path": []}, FILES), ax=ax)
        assert art.bars is None
        assert [t.get_text() for t in art.notes] == ["no offline file"]
    finally:
        plt.close(fig)


def test_an_audit_stored_without_a_label_does_not_claim_belle_ii(example):
    import lumiaudit

    audit = lumiaudit.audit(online=example["elog"], offline=example["prod"])
    audit.summary.pop("experiment_label", None)
    fig, ax = plt.subplots()
    try:
        art = audit.plot_file_status(ax=ax)
        assert isinstance(art, plots.FileStatusArtists)
        text = "\n".join(t.get_text() for t in ax.texts)
        assert "Belle II" not in text
        assert "e12" in text
    finally:
        plt.close(fig)


def _misread_labels(art, runs, x_col, renderer):
    """Labels a reader could pin to the wrong run: a label without a leader line that is not
    nearest its own run's marker, or a leader line that ends elsewhere or passes within 4 px
    of another flagged run's marker. Display coordinates (pixels)."""
    flagged = runs[runs["flagged"].fillna(False).astype(bool)]
    by_x = {
        float(x): int(r)
        for x, r in zip(flagged[x_col], flagged["run"], strict=True)
        if not pd.isna(x)
    }
    offsets = art.flagged.get_offsets()
    shown = art.flagged.get_offset_transform().transform(offsets)
    marks = {by_x[float(o[0])]: np.asarray(xy) for o, xy in zip(offsets, shown, strict=True)}
    leaders = []
    for patch in art.labels.leaders:
        ends = patch.get_transform().transform(patch.get_path().vertices[[0, -1]])
        leaders.append((ends[0], ends[-1]))
    wrong = []
    for text in art.labels.texts:
        run = int(text.get_text().split()[0])
        if run not in marks:
            continue  # a run on the missing-value strip: no marker of this collection
        box = text.get_window_extent(renderer)
        # a leader line starts at the edge of its label's box
        near = box.expanded(1.0, 1.0).padded(6)
        mine = [seg for seg in leaders if near.contains(*seg[0])]
        others = {r: xy for r, xy in marks.items() if r != run}
        if mine:
            start, end = mine[0]
            if np.hypot(*(end - marks[run])) > 8:
                wrong.append((run, "leader ends elsewhere"))
            d = end - start
            for other, xy in others.items():
                t = np.clip(((xy - start) @ d) / float(d @ d), 0.0, 1.0)
                if np.hypot(*(xy - (start + t * d))) < 4:
                    wrong.append((run, f"leader through run {other}"))
            continue

        def distance(xy, box=box):
            dx = max(box.x0 - xy[0], 0.0, xy[0] - box.x1)
            dy = max(box.y0 - xy[1], 0.0, xy[1] - box.y1)
            return float(np.hypot(dx, dy))

        nearest = min(marks, key=lambda r: distance(marks[r]))
        if nearest != run:
            wrong.append((run, f"nearest to run {nearest}, no leader"))
    return wrong


@pytest.mark.parametrize(
    ("name", "x_col", "panel"),
    [
        ("plot_diff_distribution", "diff", 2),
        ("plot_ratio_distribution", "ratio", 3),
        ("plot_online_vs_offline", "n_offline_def", None),
    ],
)
def test_each_label_points_at_its_own_run_at_the_report_size(example, name, x_col, panel):
    """As the overview report draws them (notebooks.plotted_grid's 14 x 10 in grid of four,
    the 7 x 6 in scatter), the label "105 unreadable_file" sat beside run 119's marker with no
    leader line, and a leader line to run 105 ran through run 119's marker: a reader would pin
    the reason to the wrong run."""
    import lumiaudit

    audit = lumiaudit.audit(online=example["elog"], offline=example["prod"])
    if panel is None:
        fig, ax = plt.subplots(figsize=(7, 6))
    else:
        fig, axes = plt.subplots(2, 2, figsize=(14, 10), squeeze=False)
        fig.subplots_adjust(hspace=0.32)
        ax = axes.flat[panel]
    try:
        art = getattr(audit, name)(ax=ax)
        fig.savefig(io.BytesIO(), format="png", dpi=100)
        assert len(art.labels.texts) >= 4
        renderer = fig.canvas.get_renderer()
        assert _misread_labels(art, audit.runs, x_col, renderer) == []
    finally:
        plt.close(fig)
