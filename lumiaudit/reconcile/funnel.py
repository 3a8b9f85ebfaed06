"""The accounting funnel: every online event lands in exactly one bucket."""

from __future__ import annotations

import math

import pandas as pd

from lumiaudit import schema
from lumiaudit.reconcile._common import FUNNEL_BUCKETS, _fnum, _i


def funnel(allocation: pd.DataFrame) -> pd.DataFrame:
    """Sum a per-run allocation into the exclusive funnel buckets.

    Parameters
    ----------
    allocation
        ``experiment, run, bucket, events`` from :func:`explain_runs`.

    Returns
    -------
    DataFrame
        ``bucket, events, runs`` in :data:`FUNNEL_BUCKETS` order (every bucket listed, 0 when
        empty); the events add up exactly to the online total of the runs with an online count.
        With a ``lumi_nb`` column in ``allocation`` also ``lumi_nb``: the recorded luminosity
        of those events (``events / n_online x lumi`` per run; runs without a known luminosity
        add nothing, so the column adds up to the luminosity of the runs that have one).
    """
    has_lumi = "lumi_nb" in allocation.columns
    if len(allocation):
        agg = allocation.groupby("bucket")["events"].agg(["sum", "count"])
        lumi = (
            allocation.groupby("bucket")["lumi_nb"].sum(min_count=1)
            if has_lumi
            else pd.Series(dtype="float64")
        )
    else:
        agg = pd.DataFrame({"sum": [], "count": []})
        lumi = pd.Series(dtype="float64")
    rows = []
    for bucket in FUNNEL_BUCKETS:
        lum = _fnum(lumi.get(bucket, 0.0)) if has_lumi else math.nan
        lum = 0.0 if has_lumi and not math.isfinite(lum) else lum
        if bucket in agg.index:
            rows.append((bucket, _i(agg.loc[bucket, "sum"]), _i(agg.loc[bucket, "count"]), lum))
        else:
            rows.append((bucket, 0, 0, lum))
    out = pd.DataFrame(rows, columns=schema.FUNNEL.names).astype(schema.FUNNEL.dtypes)
    return out if has_lumi else out.drop(columns=["lumi_nb"])
