"""The audit's inputs: paths given by the caller, their digests, and the selection of rows.

These are the pipeline's private helpers around :func:`lumiaudit.pipeline.audit`: how a path
or a list of paths is taken, how each input is fingerprinted for ``summary.json`` (sha256 of a
file, of a directory's listing, or of a live source's snapshot), and the experiment/run-range
cut applied to every table.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from lumiaudit.errors import ParameterError


def _digest(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """sha256 of each input file (directories: of the sorted list of file names and sizes)."""
    out: list[dict[str, Any]] = []
    for p in paths:
        text = str(p)
        path = Path(text)
        h = hashlib.sha256()
        if "://" in text or not path.exists():
            out.append({"path": text, "sha256": None})
            continue
        if path.is_dir():
            for sub in sorted(path.rglob("*")):
                if sub.is_file():
                    h.update(f"{sub.relative_to(path)}\0{sub.stat().st_size}\n".encode())
            out.append({"path": text, "sha256": h.hexdigest(), "kind": "directory listing"})
        else:
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            out.append({"path": text, "sha256": h.hexdigest()})
    return out


def _online_digest(inputs: list[str], on: Any) -> list[dict[str, Any]]:
    """:func:`_digest` of the online inputs, URLs without credentials, plus each snapshot."""
    from lumiaudit.online.live import redact_url

    out = _digest([redact_url(p) if "://" in p else p for p in inputs])
    out += [
        {"path": s.url, "sha256": s.sha256, "fetched_at": s.fetched_at, "kind": "snapshot"}
        for s in on.snapshots
    ]
    return out


def _as_paths(value: Any, what: str) -> list[str]:
    if isinstance(value, str | os.PathLike):
        return [os.fspath(value)]
    try:
        paths = [os.fspath(v) for v in value]
    except TypeError as exc:
        msg = f"{what}: expected a path or a list of paths, got {value!r}"
        raise ParameterError(msg) from exc
    if not paths:
        msg = f"{what}: no input given"
        raise ParameterError(msg)
    return paths


def _http_options(timeout: float | None, retries: int) -> Any:
    """Time bounds of live online reads from the audit's ``timeout``/``retries`` (the same
    knobs bound remote ROOT reads, so one ``--timeout`` bounds every protocol)."""
    if timeout is None:
        return None
    from lumiaudit.online import HttpOptions

    return HttpOptions(
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        retries=retries,
        deadline=max(60.0, timeout * (retries + 1) * 4),
    )


def _label(value: Any) -> str:
    """A path as text, ``given`` for an object (a table, a run list built in Python)."""
    return str(value) if isinstance(value, str | os.PathLike) else "given"


def _select(
    frame: pd.DataFrame, *, experiment: int | None, run_range: tuple[int, int] | None
) -> pd.DataFrame:
    if len(frame) == 0:
        return frame
    keep = pd.Series(True, index=frame.index)
    if experiment is not None and "experiment" in frame.columns:
        keep &= (frame["experiment"] == experiment).fillna(True)
    if run_range is not None and "run" in frame.columns:
        lo, hi = run_range
        keep &= ((frame["run"] >= lo) & (frame["run"] <= hi)).fillna(True)
    return frame[keep].reset_index(drop=True)
