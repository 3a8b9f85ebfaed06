"""Statistics of the online/offline comparison: robust baselines, binomial tests, FDR.

The methods (all from :mod:`scipy`, see ``docs/statistics.md``):

* **Robust baseline** of the ratio ``n_online / n_offline``: the median and the scaled median
  absolute deviation (``scipy.stats.median_abs_deviation(scale="normal")``), globally and in a
  centred rolling window along run number (a change of the HLT menu moves the local baseline and
  does not flag every later run). ``z_robust = (ratio - baseline) / sigma`` with
  ``sigma = max(MAD, rel_floor)``: positive z is an offline deficit.
* **Counting significance**: the offline count tested against the baseline efficiency
  ``eps = 1 / baseline`` with a one-sided binomial test (``scipy.stats.binom``): a deficit
  ``P(X <= n_offline | n_online, eps)``, an excess ``P(X >= n_offline | n_online, eps)``.
* **Benjamini-Hochberg** q-values across the tested runs
  (``scipy.stats.false_discovery_control``), controlling the false discovery rate at ``q_fail``.
* **Few runs**: with fewer than ``local_min`` comparable runs the nominal ratio 1 is the
  baseline (the median of a handful of runs, perhaps all broken, is no reference).
* **Floors**: a run is an outlier only when its deviation from the baseline exceeds both
  ``abs_floor`` events and ``rel_floor`` relative, whatever its significance.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Thresholds",
    "binomial_pvalues",
    "flag_outliers",
    "robust_baseline",
    "within_floors",
]

log = logging.getLogger(__name__)

#: Largest significance reported (p-values below ~1e-300 are all "certain").
MAX_SIGNIFICANCE = 37.5


@dataclass(frozen=True)
class Thresholds:
    """Tolerances and significance levels of the audit (documented in docs/statistics.md).

    Parameters
    ----------
    abs_floor
        Absolute floor in events: a difference of at most this many events is ``OK``.
    rel_floor
        Relative floor: a difference of at most this fraction of the online count is ``OK``
        (0.1 %). Beyond both floors an unexplained difference is flagged, whatever the
        spread of the other runs (counts are exact: a real loss is never noise). Also the
        smallest spread used for the robust z (counts that agree exactly have a MAD of 0).
    z_warn, z_fail
        Robust z above which a run is a warning / a failure.
    q_fail
        Benjamini-Hochberg q-value below which a deviation is significant.
    local_window
        Number of neighbouring comparable runs (centred, along run number) of the local baseline.
    local_min
        Fewest runs in the window for the local baseline to be used (else the global one).
    typo_window
        Runs either side searched for a copied count ("the number of another run").
    """

    abs_floor: int = 5
    rel_floor: float = 0.001
    z_warn: float = 3.0
    z_fail: float = 5.0
    q_fail: float = 0.01
    local_window: int = 25
    local_min: int = 7
    typo_window: int = 10

    def tolerance(self, n: float) -> float:
        """Largest deviation (events) that is never an outlier for a count ``n``."""
        return max(float(self.abs_floor), self.rel_floor * abs(n))

    def flag_rule(self) -> str:
        """The flag rule in words, with these thresholds (summary, report, ``--help``)."""
        return (
            f"an unexplained difference of more than {self.abs_floor} events and more than "
            f"{100 * self.rel_floor:g} % of the online count is flagged; explained losses are "
            "flagged (ugly), differences explained by a non-loss are not"
        )

    def as_dict(self) -> dict[str, Any]:
        """The thresholds as a plain dict (for summary.json)."""
        return asdict(self)


def within_floors(deviation: float, n: float, thresholds: Thresholds) -> bool:
    """Whether ``deviation`` events out of ``n`` is below the absolute or the relative floor."""
    if math.isnan(deviation):
        return True
    dev = abs(deviation)
    if dev <= thresholds.abs_floor:
        return True
    return n > 0 and dev / n <= thresholds.rel_floor


def robust_baseline(values: np.ndarray) -> tuple[float, float]:
    """Median and normal-scaled MAD of the finite values (NaN, NaN when there are none).

    Examples
    --------
    >>> robust_baseline(np.array([1.0, 1.0, 1.0, 2.0]))
    (1.0, 0.0)
    """
    from scipy import stats

    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan
    return float(np.median(v)), float(stats.median_abs_deviation(v, scale="normal"))


def _local(values: np.ndarray, window: int, min_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred rolling median and scaled MAD (NaN where the window holds too few values)."""
    s = pd.Series(values, dtype="float64")
    roll = s.rolling(window, center=True, min_periods=min_periods)
    med = roll.median().to_numpy(dtype="float64")
    mad = roll.apply(
        lambda w: float(np.median(np.abs(w - np.median(w)))) * 1.482602218505602, raw=True
    ).to_numpy(dtype="float64")
    return med, mad


def binomial_pvalues(n_online: np.ndarray, n_offline: np.ndarray, eff: np.ndarray) -> np.ndarray:
    """One-sided binomial p-values of ``n_offline`` given ``n_online`` trials, efficiency ``eff``.

    A deficit (``n_offline`` below ``n_online * eff``) gets ``P(X <= n_offline)``, an excess
    ``P(X >= n_offline)`` (0 when the offline count exceeds the online one). NaN where an input
    is missing. ``eff`` is clipped to ``[1e-12, 1 - 1e-12]`` so that a perfect baseline still
    gives a finite, tiny p-value to a one-event deficit (the floors decide whether it matters).
    """
    from scipy import stats

    n_on = np.asarray(n_online, dtype="float64")
    n_off = np.asarray(n_offline, dtype="float64")
    p = np.clip(np.asarray(eff, dtype="float64"), 1e-12, 1 - 1e-12)
    out = np.full(n_on.shape, np.nan)
    ok = np.isfinite(n_on) & np.isfinite(n_off) & np.isfinite(p) & (n_on >= 0)
    low = ok & (n_off < n_on * p)
    high = ok & ~low
    out[low] = stats.binom.cdf(n_off[low], n_on[low], p[low])
    out[high] = stats.binom.sf(n_off[high] - 1, n_on[high], p[high])
    result: np.ndarray = np.clip(out, 0.0, 1.0)
    return result


def flag_outliers(
    runs: pd.DataFrame, *, thresholds: Thresholds | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Add the statistics columns to a runs table from :func:`lumiaudit.reconcile.compare.compare`.

    Parameters
    ----------
    runs
        Runs table with ``experiment, run, status, n_online, n_offline_def`` (the offline count
        of the definition the online number follows), ``ratio``, ``lumi_nb``.
    thresholds
        Tolerances and levels (default :class:`Thresholds`).

    Returns
    -------
    runs : DataFrame
        With ``baseline, band_low, band_high, diff_baseline, diff_band_low, diff_band_high``
        (the per-run band of the outlier test, see :func:`_bands`), ``z_robust, p_value,
        q_value, significance, outlier`` and the yield columns
        ``yield_online, yield_offline, z_yield_online, z_yield_offline``. ``outlier`` is the
        purely statistical verdict; :func:`lumiaudit.reconcile.reconcile` turns it into
        ``flagged`` with the attribution.
    stats : dict
        Global baselines (``ratio_median``, ``ratio_mad``, yields) and the number of tests.
    """
    from scipy import stats as sps

    th = thresholds or Thresholds()
    out = runs.sort_values(["experiment", "run"], kind="stable").reset_index(drop=True)
    n_on = out["n_online"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    n_off = out["n_offline_def"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    comparable = (
        out["status"].isin(["OK", "DEFICIT", "EXCESS"]).to_numpy(dtype=bool)
        & np.isfinite(n_on)
        & np.isfinite(n_off)
        & (n_off > 0)
    )
    ratio = np.full(len(out), np.nan)
    ratio[comparable] = n_on[comparable] / n_off[comparable]

    g_med, g_mad = robust_baseline(ratio[comparable])
    if int(comparable.sum()) < th.local_min:
        # too few runs for a baseline (a masked audit of a few bad runs would make its own
        # outliers the norm): the counts are meant to agree, so use the nominal ratio 1
        g_med, g_mad = 1.0, 0.0
    base = np.full(len(out), g_med)
    sigma = np.full(len(out), g_mad)
    idx = np.flatnonzero(comparable)
    if idx.size >= th.local_min:
        med, mad = _local(ratio[idx], th.local_window, th.local_min)
        use = np.isfinite(med)
        base[idx[use]] = med[use]
        sigma[idx[use]] = mad[use]
    sigma = np.fmax(np.nan_to_num(sigma, nan=0.0), th.rel_floor * np.abs(np.nan_to_num(base)))
    sigma = np.where(sigma > 0, sigma, th.rel_floor)
    z = np.where(comparable, (ratio - base) / sigma, np.nan)

    eff = np.where(np.isfinite(base) & (base > 0), 1.0 / base, np.nan)
    p = np.where(comparable, binomial_pvalues(n_on, n_off, eff), np.nan)
    q = np.full(len(out), np.nan)
    tested = np.isfinite(p)
    if tested.any():
        q[tested] = sps.false_discovery_control(p[tested], method="bh")
    signif = np.where(
        tested, np.minimum(sps.norm.isf(np.clip(p, 1e-300, 1.0)), MAX_SIGNIFICANCE), np.nan
    )
    signif = np.where(tested, np.maximum(signif, 0.0), np.nan)

    # Deviation from the baseline expectation, in online events.
    deviation = np.where(comparable, n_on - base * n_off, np.nan)
    beyond = np.array(
        [
            bool(c) and not within_floors(float(d), float(n), th)
            for c, d, n in zip(comparable, deviation, n_on, strict=True)
        ],
        dtype=bool,
    )
    outlier = (
        beyond & (np.abs(np.nan_to_num(z)) >= th.z_warn) & (np.nan_to_num(q, nan=1.0) <= th.q_fail)
    )

    out["baseline"] = _float(np.where(comparable, base, np.nan))
    for name, values in _bands(comparable, base, sigma, n_on, n_off, th).items():
        out[name] = _float(values)
    out["z_robust"] = _float(z)
    out["p_value"] = _float(p)
    out["q_value"] = _float(q)
    out["significance"] = _float(signif)
    out["outlier"] = pd.array(outlier, dtype="boolean")

    summary: dict[str, Any] = {
        "ratio_median": _num(g_med),
        "ratio_mad": _num(g_mad),
        "efficiency": _num(1.0 / g_med) if g_med and math.isfinite(g_med) else None,
        "n_tested": int(tested.sum()),
        "n_outliers": int(outlier.sum()),
    }
    summary.update(_yields(out, comparable, n_on, n_off, th.rel_floor))
    log.info("baseline ratio %.6g (MAD %.3g) over %d runs", g_med, g_mad, int(comparable.sum()))
    return out, summary


def _bands(
    comparable: np.ndarray,
    base: np.ndarray,
    sigma: np.ndarray,
    n_on: np.ndarray,
    n_off: np.ndarray,
    th: Thresholds,
) -> dict[str, np.ndarray]:
    """The per-run band the outlier test used, as ratios and as online - offline events.

    A run is an outlier only when its deviation exceeds the floors (``|ratio - baseline| >
    tolerance / n_offline``) *and* its robust z reaches ``z_warn`` (``|ratio - baseline| >=
    z_warn * sigma``); inside ``baseline ± max(z_warn * sigma, tolerance / n_offline)`` it is
    neither. Plots draw these columns: the band shown is the band that decided, never a
    global median/MAD recomputed afterwards (issue 12).
    """
    tol = np.fmax(float(th.abs_floor), th.rel_floor * np.abs(n_on))
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.fmax(th.z_warn * sigma, tol / n_off)
    low = np.where(comparable, base - half, np.nan)
    high = np.where(comparable, base + half, np.nan)
    return {
        "band_low": low,
        "band_high": high,
        # the same band in events: diff = (ratio - 1) * n_offline
        "diff_baseline": np.where(comparable, (base - 1.0) * n_off, np.nan),
        "diff_band_low": (low - 1.0) * n_off,
        "diff_band_high": (high - 1.0) * n_off,
    }


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _yields(
    out: pd.DataFrame,
    comparable: np.ndarray,
    n_on: np.ndarray,
    n_off: np.ndarray,
    rel_floor: float,
) -> dict[str, Any]:
    """Events per nb^-1 online and offline, each with its own robust z (in place)."""
    lumi = (
        out["lumi_nb"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        if "lumi_nb" in out
        else np.full(len(out), np.nan)
    )
    has = np.isfinite(lumi) & (lumi > 0)
    summary: dict[str, Any] = {}
    for side, n in (("online", n_on), ("offline", n_off)):
        y = np.where(has & np.isfinite(n), n / np.where(has, lumi, 1.0), np.nan)
        med, mad = robust_baseline(y[comparable])
        # luminosity scatters by a few per cent: never a spread below rel_floor of the median
        floor = abs(med) * rel_floor if math.isfinite(med) else math.nan
        spread = max(mad, floor) if math.isfinite(mad) else floor
        zy = (y - med) / spread if spread and math.isfinite(spread) else np.full(len(y), np.nan)
        out[f"yield_{side}"] = _float(y)
        out[f"z_yield_{side}"] = _float(zy)
        summary[f"yield_{side}_median"] = _num(med)
        summary[f"yield_{side}_mad"] = _num(mad)
    return summary


def _float(values: np.ndarray) -> pd.Series:
    arr = np.asarray(values, dtype="float64")
    s = pd.Series(arr, dtype="Float64")
    return s.mask(~np.isfinite(arr))
