"""Good/bad run lists, run-list masks and ``GoodRuns/ BadRuns/ UglyRuns/`` symlink views.

Categories (of audited runs; ``NOT_AUDITED`` runs are in no list):

* **good**: not flagged (waived runs included), not marked bad by the production, every online
  count readable;
* **ugly**: flagged, and the attribution explains the whole difference (a typo, a lost file ...);
* **bad**: marked bad by the production (``rNNNNN_bad/``, ``BadRuns/``), flagged with an
  unexplained difference, or no comparison possible (missing online or offline count).

Writing the lists and the views is :mod:`lumiaudit.store.runlists`' job (re-exported here).
"""

from __future__ import annotations

import json
import logging
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit.errors import ConfigError
from lumiaudit.schema import Reason, RunStatus
from lumiaudit.store.config import read_config_text
from lumiaudit.store.runlists import VIEWS, symlink_view, write_runlists

__all__ = ["VIEWS", "classify_runs", "read_mask", "symlink_view", "write_runlists"]

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


def read_mask(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a run list to restrict an audit to.

    Accepted: JSON (a list of run numbers, a list of ``{"experiment", "run"}`` objects such as
    ``good_runs.json``, ``{"runs": [...]}``, or a CMS golden-JSON-like ``{"3000": [[1, 9]]}``),
    CSV with a ``run`` (and optional ``experiment``) column, or plain text with one run per line.

    Returns
    -------
    DataFrame
        ``experiment`` (<NA> = any) and ``run``, both ``Int64``.

    Raises
    ------
    InputNotFoundError, ConfigError
        Missing file or unreadable content (file and line named).
    """
    p = Path(path)
    text = read_config_text(p, what="run list", hint="expected JSON, CSV or one run per line")
    rows: list[tuple[int | None, int]] = []
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON: {exc.msg}", path=p, line=exc.lineno) from None
        if isinstance(doc, dict) and "runs" in doc:
            doc = doc["runs"]
        if isinstance(doc, dict):
            for key in doc:
                rows.append((None, _as_int(key, p, f"key {key!r}")))
        elif isinstance(doc, list):
            for i, item in enumerate(doc):
                if isinstance(item, dict):
                    if "run" not in item:
                        raise ConfigError("run list entry without 'run'", path=p, line=f"item {i}")
                    exp = item.get("experiment")
                    rows.append(
                        (
                            None if exp is None else _as_int(exp, p, f"item {i}"),
                            _as_int(item["run"], p, f"item {i}"),
                        )
                    )
                else:
                    rows.append((None, _as_int(item, p, f"item {i}")))
        else:
            raise ConfigError("a run list must be a JSON list or object", path=p)
    else:
        lines = text.splitlines()
        header = lines[0].lower().replace(" ", "").split(",") if lines else []
        if "run" in header:
            try:
                df = pd.read_csv(p, dtype=str)
            except pd.errors.ParserError as exc:
                raise ConfigError(f"not a valid CSV run list: {exc}", path=p) from None
            df.columns = [c.strip().lower() for c in df.columns]
            rec: Any
            for i, rec in enumerate(df.itertuples(index=False), start=2):
                col_exp: Any = getattr(rec, "experiment", None)
                exp_v = (
                    None
                    if col_exp is None or pd.isna(col_exp) or not str(col_exp).strip()
                    else col_exp
                )
                rows.append(
                    (
                        None if exp_v is None else _as_int(exp_v, p, i),
                        _as_int(rec.run, p, i),
                    )
                )
        else:
            for i, ln in enumerate(lines, start=1):
                item = ln.split("#")[0].strip().strip(",")
                if item:
                    rows.append((None, _as_int(item, p, i)))
    df = pd.DataFrame(rows, columns=["experiment", "run"])
    return df.astype({"experiment": "Int64", "run": "Int64"}).drop_duplicates(ignore_index=True)


def _as_int(value: Any, path: Path, where: int | str) -> int:
    try:
        return int(str(value).strip().lstrip("r"))
    except ValueError:
        raise ConfigError(f"not a run number: {value!r}", path=path, line=where) from None
