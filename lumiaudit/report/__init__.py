"""Notebook reports: an audit rendered by papermill into a self-contained HTML page.

:func:`run_report` audits once, in the calling process (or takes a stored audit directory),
writes the audit directory (CSV tables, ``plots/``, ``summary.json``) into the report
directory, then executes one of the notebook templates (:mod:`lumiaudit.notebooks`) with
papermill on a real Jupyter kernel. The templates take the audit directory (and a run, for the
drilldown) as parameters and only read it. Beside the audit it writes the executed notebook
(with the summary in its metadata and the headline numbers as scrapbook scraps) and an HTML
page without code cells whose images are embedded, so it opens offline. Parameters are data:
they are checked before anything is counted and are handed to papermill, which writes them as
literals; nothing from the input (elog text, paths) is ever spliced into code.

:func:`audit_html` is the rich HTML view of an :class:`~lumiaudit.pipeline.Audit` in JupyterLab
(its ``_repr_html_``). Every value in it is escaped: elog text and file names are untrusted.
"""

from __future__ import annotations

from lumiaudit.render.html import audit_html
from lumiaudit.report._common import (
    CHOICE_PARAMETERS,
    METADATA_KEY,
    PATH_PARAMETERS,
    RESERVED_PARAMETERS,
    NotebookParameter,
    ReportResult,
)
from lumiaudit.report.kernel import kernel_env as _kernel_env  # noqa: F401 (tests use it)
from lumiaudit.report.params import notebook_parameters, validate_parameters
from lumiaudit.report.run import export_html, run_report

__all__ = [
    "CHOICE_PARAMETERS",
    "METADATA_KEY",
    "PATH_PARAMETERS",
    "RESERVED_PARAMETERS",
    "NotebookParameter",
    "ReportResult",
    "audit_html",
    "export_html",
    "notebook_parameters",
    "run_report",
    "validate_parameters",
]
