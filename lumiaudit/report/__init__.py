"""Notebook reports: validated parameters, papermill execution, self-contained HTML.

:func:`run_report` executes one of the notebook templates (:mod:`lumiaudit.notebooks`) with
papermill on a real Jupyter kernel and writes, into one directory, the audit directory the
notebook produced (CSV tables, ``plots/``, ``summary.json``), the executed notebook (with the
summary in its metadata) and an HTML page without code cells whose images are embedded, so it
opens offline. Parameters are data: they are checked against the annotated ``parameters`` cell
of the template before a kernel starts and are handed to papermill, which writes them as
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
from lumiaudit.report.params import notebook_parameters, validate_parameters
from lumiaudit.report.run import _kernel_env as _kernel_env  # tests use the kernel environment
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
