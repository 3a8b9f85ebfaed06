"""Scrapbook scraps of the headline numbers in an executed report notebook.

nteract scrapbook reads named values ("scraps") back from executed notebooks
(``scrapbook.read_notebook(path).scraps``); papermill-driven pipelines collect results that way.
The report glues the headline numbers (runs audited and flagged, events online, offline and
lost, luminosity affected) with :func:`scrapbook.glue` when scrapbook is installed (the ``lab``
extra), else it displays the very output ``glue`` would: a display output of MIME type
``application/scrapbook.scrap.json+json`` holding ``{"name", "data", "encoder": "json",
"version": 1}``, so the notebook reads the same with or without scrapbook here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SCRAP_MIME", "SCRAP_NAMES", "glue_headline", "headline"]

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


def _display(name: str, data: Any) -> None:
    from IPython import display as ipython

    display: Any = ipython.display
    scrap = {"name": name, "data": data, "encoder": "json", "version": 1}
    display(
        {SCRAP_MIME: scrap},
        metadata={"scrapbook": {"name": name, "data": True, "display": False}},
        raw=True,
    )


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
        glue(name, value)
    return numbers
