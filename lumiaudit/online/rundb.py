"""Run-database JSON (Belle II RunDB style) saved to files.

Accepted shapes: a page ``{"results": [run, ...], "next": url}``, a list of such pages, a list
of runs, or one run object. Nested objects are flattened to dotted names
(``statistics.lumi_recorded``), which the mapping's ``[rundb]`` fields name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lumiaudit.online.entries import Problems, RawEntry
from lumiaudit.online.values import norm_key

__all__ = ["flatten", "parse_rundb"]


def flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested JSON objects to ``{normalised dotted name: text}`` (``None`` -> ``""``)."""
    out: dict[str, str] = {}
    for key, value in obj.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        elif value is None:
            out[norm_key(name)] = ""
        elif isinstance(value, bool):
            out[norm_key(name)] = str(value).lower()
        elif isinstance(value, str | int | float):
            out[norm_key(name)] = str(value)
        else:
            out[norm_key(name)] = json.dumps(value)
    return out


def _runs(doc: Any) -> list[Any] | None:
    if isinstance(doc, dict):
        if "results" in doc:
            results = doc["results"]
            return results if isinstance(results, list) else None
        return [doc]
    if isinstance(doc, list):
        runs: list[Any] = []
        for item in doc:
            if isinstance(item, dict) and "results" in item:
                page = item["results"]
                if not isinstance(page, list):
                    return None
                runs.extend(page)
            else:
                runs.append(item)
        return runs
    return None


def parse_rundb(text: str, source: str, problems: Problems) -> Iterator[RawEntry]:
    """Yield one raw entry per run record of a run-database JSON file.

    ``source_line`` and ``line`` are ``record <k>`` (1-based, in file order).
    """
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = getattr(exc, "lineno", 1)
        problems.add(source, where, f"not valid JSON ({exc}); file skipped")
        return
    runs = _runs(doc)
    if runs is None:
        problems.add(source, 1, "JSON is neither a run, a list of runs nor a results page")
        return
    for k, run in enumerate(runs, start=1):
        label = f"record {k}"
        if not isinstance(run, dict):
            problems.add(source, label, "run record is not a JSON object; skipped", str(run))
            continue
        yield RawEntry(
            source=source, source_line=label, line=label, entry_id=str(k), attrs=flatten(run)
        )
