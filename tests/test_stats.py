"""Statistics: robust baselines, binomial p-values, Benjamini-Hochberg, floors, drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lumiaudit.reconcile.stats import Thresholds, binomial_pvalues, flag_outliers, robust_baseline


def _runs(n_online: list[int], n_offline: list[int]) -> pd.DataFrame:
    n = len(n_online)
    return pd.DataFrame(
        {
            "experiment": pd.array([10] * n, dtype="Int64"),
            "run": pd.array(range(1, n + 1), dtype="Int64"),
            "status": ["OK"] * n,
            "n_online": pd.array(n_online, dtype="Int64"),
            "n_offline_def": pd.array(n_offline, dtype="Int64"),
            "lumi_nb": pd.array([float(x) / 2 for x in n_offline], dtype="Float64"),
        }
    )


def test_robust_baseline_ignores_outliers() -> None:
    values = np.array([1.0, 1.01, 0.99, 1.0, 50.0, np.nan])
    med, mad = robust_baseline(values)
    assert med == pytest.approx(1.0)
    assert mad == pytest.approx(
        stats.median_abs_deviation([1.0, 1.01, 0.99, 1.0, 50.0], scale="normal")
    )
    assert np.isnan(robust_baseline(np.array([np.nan]))[0])


def test_binomial_pvalues_match_scipy_binomtest() -> None:
    n_on = np.array([1000, 1000, 500])
    n_off = np.array([950, 990, 500])
    eff = np.array([0.99, 0.99, 0.99])
    p = binomial_pvalues(n_on, n_off, eff)
    assert p[0] == pytest.approx(stats.binomtest(950, 1000, 0.99, alternative="less").pvalue)
    assert p[1] == pytest.approx(stats.binomtest(990, 1000, 0.99, alternative="greater").pvalue)
    assert np.isnan(binomial_pvalues(np.array([np.nan]), np.array([1.0]), np.array([0.9]))[0])


def test_clean_runs_are_not_outliers_and_a_deficit_is() -> None:
    n_on = [3000 + 100 * i for i in range(30)]
    n_off = list(n_on)
    n_off[10] = int(n_on[10] * 0.97)  # a 3 % loss
    n_off[20] = n_on[20] - 1  # off by one
    out, summary = flag_outliers(_runs(n_on, n_off))
    outliers = out.loc[out["outlier"].astype(bool), "run"].tolist()
    assert outliers == [11]
    assert out.loc[10, "z_robust"] > Thresholds().z_fail
    assert out.loc[10, "q_value"] < 1e-6
    # BH q-values are scipy's
    p = out["p_value"].to_numpy(dtype=float)
    assert np.allclose(out["q_value"].to_numpy(dtype=float), stats.false_discovery_control(p))
    assert summary["ratio_median"] == pytest.approx(1.0)
    assert summary["n_tested"] == 30
    # yields: events per nb^-1, each side with its own baseline
    assert out.loc[0, "yield_offline"] == pytest.approx(2.0)
    # the luminosity here follows the offline count: the online yield of run 11 stands out
    assert out.loc[10, "z_yield_online"] > 2
    assert out.loc[10, "z_yield_offline"] == pytest.approx(0.0)


def test_local_baseline_follows_a_drift() -> None:
    # the HLT menu changes at run 31: the online count is 3 % higher from then on
    n_off = [4000 + 37 * (i % 7) for i in range(60)]
    n_on = [o if i < 30 else round(o * 1.03) for i, o in enumerate(n_off)]
    out, _ = flag_outliers(_runs(n_on, n_off))
    # far from the step the local baseline absorbs it; the global one would flag 30 runs
    assert int(out["outlier"].sum()) <= 4
    assert not out.loc[50, "outlier"]
    assert out.loc[50, "baseline"] == pytest.approx(1.03, abs=1e-3)


def test_floors_and_missing_counts() -> None:
    out, _ = flag_outliers(_runs([100, 100, 100, 100, 100, 100, 100, 103], [100] * 8))
    assert not out["outlier"].any()  # 3 events is below the absolute floor
    runs = _runs([100] * 8, [100] * 8)
    runs.loc[3, "n_online"] = pd.NA
    out, _ = flag_outliers(runs)
    assert out.loc[3, "z_robust"] is pd.NA
    assert out.loc[3, "p_value"] is pd.NA


def test_thresholds_tolerance() -> None:
    th = Thresholds(abs_floor=5, rel_floor=0.01)
    assert th.tolerance(100) == 5
    assert th.tolerance(10_000) == 100
    assert th.as_dict()["z_fail"] == th.z_fail


def test_few_runs_use_the_nominal_ratio() -> None:
    # three broken runs alone (e.g. an audit masked to the bad runs): no self-made baseline
    out, summary = flag_outliers(_runs([1200, 1400, 1030], [1000, 1000, 1000]))
    assert out["outlier"].tolist() == [True, True, True]
    assert summary["ratio_median"] == 1.0
