"""Shared pieces of the report: parameter and result types, constants."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


#: notebook parameters naming inputs that must exist before a kernel starts (made absolute: the
#: kernel runs in the report directory): the audit directory a template renders, the previous
#: one it compares with (the nightly's), and inputs a user's own notebook may declare
PATH_PARAMETERS: frozenset[str] = frozenset(
    {"audit_dir", "previous", "online", "offline", "waivers", "mask"}
)


#: the audit's inputs, given to :func:`~lumiaudit.report.run_report` beside the
#: :class:`~lumiaudit.options.AuditOptions` of the audit it runs before rendering
AUDIT_INPUTS: frozenset[str] = frozenset({"online", "offline"})


#: parameters whose value must be one of a few words (checked before a kernel starts)
CHOICE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "mode": ("auto", "fast", "deep"),  # lumiaudit.offline.count.MODES
    "policy": ("latest", "first", "max", "error"),  # lumiaudit.online.resolve.POLICIES
}


#: parameters the report sets itself (none since the audit runs before the notebook; kept
#: for callers that import it)
RESERVED_PARAMETERS: frozenset[str] = frozenset()


#: metadata key of the executed notebook holding lumiaudit's record (summary, parameters)
METADATA_KEY = "lumiaudit"


@dataclass(frozen=True)
class NotebookParameter:
    """One entry of a template's ``parameters`` cell.

    Attributes
    ----------
    name
        The variable name.
    annotation
        Its type annotation as written (``list[str]``, ``int | None``, ...).
    default
        The default value (a Python literal).
    help
        The comment on its line.
    required
        The comment says ``(required)``: a value must be given.
    """

    name: str
    annotation: str
    default: Any
    help: str
    required: bool


@dataclass(frozen=True)
class ReportResult:
    """What :func:`run_report` wrote.

    Attributes
    ----------
    out_dir
        The report directory (also an audit directory when the notebook wrote one).
    notebook
        The executed notebook.
    html
        The HTML page, or ``None`` when ``html=False``.
    summary
        The audit's ``summary.json`` (also in the notebook's metadata), or ``None``.
    parameters
        The validated parameters the notebook ran with.
    """

    out_dir: Path
    notebook: Path
    html: Path | None
    summary: dict[str, Any] | None
    parameters: dict[str, Any]
