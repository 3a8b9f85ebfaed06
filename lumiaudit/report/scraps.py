"""Scrapbook scraps of the headline numbers in an executed report notebook.

nteract scrapbook reads named values ("scraps") back from executed notebooks
(``scrapbook.read_notebook(path).scraps``); papermill-driven pipelines collect results that way.
The report glues the headline numbers (runs audited and flagged, events online, offline and
lost, luminosity affected) with :func:`scrapbook.glue` when scrapbook is installed (the ``lab``
extra), else it displays the very output ``glue`` would: a display output of MIME type
``application/scrapbook.scrap.json+json`` holding ``{"name", "data", "encoder": "json",
"version": 1}``, so the notebook reads the same with or without scrapbook here. A number that
is not known (no luminosity in the inputs) has no scrap: scrapbook's schema has no null, and
missing is never written as 0.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["SCRAP_MIME", "SCRAP_NAMES", "glue_headline", "headline", "scrap_output"]

#: the MIME type of a scrapbook JSON scrap (scrapbook/scraps.py, version 1)
SCRAP_MIME = "application/scrapbook.scrap.json+json"

#: the scraps glued into every overview report
SCRAP_NAMES: tuple[str, ...] = (
    "runs_audited",
    "runs_flagged",
    "events_online",
    "events_offline",
    "events_lost",
    "lumi_affected_nb",
)


def headline(audit: Any) -> dict[str, Any]:
    """The headline numbers of an audit (plain ints and floats; ``None`` when unknown)."""
    from lumiaudit.render.firstscreen import headline_numbers

    numbers = headline_numbers(audit.summary or {}, audit.runs, audit.funnel)
    return {name: numbers[name] for name in SCRAP_NAMES}


def scrap_output(name: str, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The display data and metadata of a JSON scrap, as ``scrapbook.glue`` writes them."""
    scrap = {"name": name, "data": data, "encoder": "json", "version": 1}
    return {SCRAP_MIME: scrap}, {"scrapbook": {"name": name, "data": True, "display": False}}


def _display(name: str, data: Any) -> None:
    ipython = importlib.import_module("IPython.display")  # untyped under IPython 8 and 9 alike
    payload, metadata = scrap_output(name, data)
    ipython.display(payload, metadata=metadata, raw=True)


def glue_headline(audit: Any) -> Mapping[str, Any]:
    """Glue the headline numbers as scraps (inside a notebook kernel); returns them."""
    numbers = headline(audit)
    glue: Any = _display
    try:
        import scrapbook

        glue = scrapbook.glue
    except ImportError:  # the lab extra is not installed: the same outputs, written here
        pass
    for name, value in numbers.items():
        if value is not None:  # scrapbook's schema has no null: an unknown number has no scrap
            glue(name, value)
    return numbers
