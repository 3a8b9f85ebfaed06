"""Good/bad run lists, run-list masks and ``GoodRuns/ BadRuns/ UglyRuns/`` symlink views.

Categories (of audited runs; ``NOT_AUDITED`` runs are in no list):

* **good**: not flagged (waived runs included), not marked bad by the production, every online
  count readable;
* **ugly**: flagged, and the attribution explains the whole difference (a typo, a lost file ...);
* **bad**: marked bad by the production (``rNNNNN_bad/``, ``BadRuns/``), flagged with an
  unexplained difference, or no comparison possible (missing online or offline count).

Writing the lists and the views is :mod:`lumiaudit.store.runlists`' job (``write_runlists``,
``symlink_view``); this module stays pure, so the store depends on it and never the reverse.
"""

from __future__ import annotations

import logging
from os import PathLike
from typing import Any

import pandas as pd

from lumiaudit.errors import ConfigError
from lumiaudit.schema import Reason, RunStatus

__all__ = ["classify_runs", "read_mask"]

log = logging.getLogger(__name__)


def _true(x: object) -> bool:
    return str(x) == "True"


def classify_runs(runs: pd.DataFrame) -> pd.Series:
    """``good`` / ``bad`` / ``ugly`` per run (``<NA>`` for runs not audited).

    Examples
    --------
    >>> runs = pd.DataFrame({"status": ["OK", "DEFICIT"], "flagged": [False, True],
    ...                      "reasons": [None, "unexplained"], "unexplained_diff": [0, 91]})
    >>> classify_runs(runs).tolist()
    ['good', 'bad']
    """
    out: list[Any] = []
    for row in runs.itertuples(index=False):
        status = str(row.status)
        reasons = set(str(row.reasons).split(";")) if isinstance(row.reasons, str) else set()
        markers = getattr(row, "markers", None)
        marked_bad = Reason.BAD_RUN_MARKER.value in reasons or (
            isinstance(markers, str)
            and bool({m.strip() for m in markers.split(";")} & {"bad_suffix", "badruns_dir"})
        )
        if status == RunStatus.NOT_AUDITED.value:
            out.append(pd.NA)
        elif marked_bad:
            # production itself marked the run bad (rNNNNN_bad/, BadRuns/): never good
            out.append("bad")
        elif Reason.ONLINE_COUNT_UNREADABLE.value in reasons and not _true(row.flagged):
            # a waived run whose online count could not be read is still not certain
            out.append("ugly")
        elif not _true(row.flagged):
            out.append("good")
        elif status in (RunStatus.MISSING_ONLINE.value, RunStatus.MISSING_OFFLINE.value):
            out.append("ugly" if Reason.UNREADABLE_FILE.value in reasons else "bad")
        elif Reason.UNEXPLAINED.value in reasons:
            out.append("bad")
        else:
            out.append("ugly")
    return pd.Series(out, index=runs.index, dtype="string")


def read_mask(path: str | PathLike[str], *, partial_ls: str = "refuse") -> pd.DataFrame:
    """Read a run list to restrict an audit to.

    Any format of :func:`lumiaudit.runlist_io.read_runlist`: CMS golden JSON, ATLAS GRL XML,
    basf2 IoVs, JSON (a list of run numbers, of ``{"experiment", "run"}`` objects such as
    ``good_runs.json``, or ``{"runs": [...]}``), CSV with a ``run`` (and optional
    ``experiment``) column, or plain text with one run per line.

    Parameters
    ----------
    path
        The run list.
    partial_ls
        A run with only some lumisections: ``refuse`` (default, a ConfigError naming the runs)
        or ``whole-runs`` (kept whole, with a warning); see :mod:`lumiaudit.masks`.

    Returns
    -------
    DataFrame
        ``experiment`` (<NA> = any) and ``run``, both ``Int64``.

    Raises
    ------
    InputNotFoundError, ConfigError
        Missing file or unreadable content (file and line named), lumisection ranges refused,
        or an open run range (use the IoV file as ``audit(mask=...)``, which needs no list).
    """
    from lumiaudit.errors import ParameterError
    from lumiaudit.masks import check_lumis
    from lumiaudit.runlist_io import read_runlist

    runs = read_runlist(path)
    check_lumis(runs, partial_ls=partial_ls, source=path)
    try:
        rows = [(exp, run) for exp, run, _ in runs.runs()]
    except ParameterError as exc:
        raise ConfigError(exc.message, path=path, hint=exc.hint) from None
    df = pd.DataFrame(rows, columns=["experiment", "run"])
    df = df.astype({"experiment": "Int64", "run": "Int64"}).drop_duplicates(ignore_index=True)
    return df.sort_values(["run", "experiment"], ignore_index=True)
