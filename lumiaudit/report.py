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

import ast
import contextlib
import glob
import html
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lumiaudit._version import __version__
from lumiaudit.errors import OutputError, ParameterError, ReportError
from lumiaudit.notebooks import notebook_path
from lumiaudit.store.atomic import write_text
from lumiaudit.store.audit_dir import read_summary
from lumiaudit.store.outdir import (
    MARKER,
    check_output,
    commit_dir,
    discard_dir,
    new_build_dir,
    read_marker,
)

__all__ = [
    "NotebookParameter",
    "ReportResult",
    "audit_html",
    "export_html",
    "notebook_parameters",
    "run_report",
    "validate_parameters",
]

log = logging.getLogger(__name__)

#: parameters naming inputs that must exist (each element, for lists) before a kernel starts
PATH_PARAMETERS: frozenset[str] = frozenset({"online", "offline", "audit_dir", "waivers", "mask"})
#: parameters whose value must be one of a few words (checked before a kernel starts)
CHOICE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "mode": ("auto", "fast", "deep"),  # lumiaudit.offline.count.MODES
    "policy": ("latest", "first", "max", "error"),  # lumiaudit.online.resolve.POLICIES
}
#: parameters the report sets itself
RESERVED_PARAMETERS: frozenset[str] = frozenset({"out_dir"})
#: where the notebook writes the audit directory, relative to the report being built
_AUDIT_SUBDIR = "audit"
#: metadata key of the executed notebook holding lumiaudit's record (summary, parameters)
METADATA_KEY = "lumiaudit"


class _AuditLike(Protocol):
    summary: dict[str, Any]
    runs: Any
    funnel: Any


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


# ------------------------------------------------------------------------------ parameters


def _nbformat() -> Any:
    """nbformat, typed as Any (it has no type hints)."""
    import nbformat

    return nbformat


def notebook_parameters(notebook: str | os.PathLike[str] = "audit_overview") -> dict[str, Any]:
    """Read the annotated ``parameters`` cell of a notebook.

    Parameters
    ----------
    notebook
        Template name or path of a notebook file.

    Returns
    -------
    dict
        Name -> :class:`NotebookParameter`, in the order of the cell.

    Raises
    ------
    ParameterError
        If the notebook has no cell tagged ``parameters`` or the cell is not a list of
        annotated assignments of literals.
    """
    nbformat = _nbformat()
    path = notebook_path(notebook)
    book = nbformat.read(path, as_version=4)
    cells = [c for c in book.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(
            f"expected one cell tagged 'parameters', found {len(cells)}", path=path
        )
    source = cells[0].source
    lines = source.splitlines()
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(
            f"parameters cell is not valid Python: {exc.msg}", path=path, line=exc.lineno
        ) from exc
    out: dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            raise ParameterError(
                "parameters cell: every statement must be `name: type = literal`",
                path=path,
                line=node.lineno,
            )
        try:
            default = ast.literal_eval(node.value) if node.value is not None else None
        except ValueError as exc:
            raise ParameterError(
                f"parameter {node.target.id!r}: default is not a literal",
                path=path,
                line=node.lineno,
            ) from exc
        comment = lines[node.lineno - 1].partition("#")[2].strip()
        out[node.target.id] = NotebookParameter(
            name=node.target.id,
            annotation=ast.unparse(node.annotation),
            default=default,
            help=comment,
            required="(required)" in comment,
        )
    return out


def _type_name(node: ast.expr) -> str:
    return ast.unparse(node)


def _check(name: str, value: Any, node: ast.expr) -> Any:
    """Return ``value`` converted to the annotation ``node``, or raise ParameterError."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        if value is None and "None" in ast.unparse(node):
            return None
        errors: list[ParameterError] = []
        for option in (node.left, node.right):
            try:
                return _check(name, value, option)
            except ParameterError as exc:
                errors.append(exc)
        for error in errors:  # the right type with a bad value: say what is wrong with it
            if not error.message.startswith(f"parameter {name!r} must be "):
                raise error
        raise ParameterError(
            f"parameter {name!r} must be {ast.unparse(node)}, got {type(value).__name__} "
            f"{_short(value)}"
        )
    if isinstance(node, ast.Constant) and node.value is None:
        if value is None:
            return None
    elif isinstance(node, ast.Name):
        kind = node.id
        if kind == "str" and isinstance(value, str | os.PathLike):
            return os.fspath(value)
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise ParameterError(f"parameter {name!r}: the value must be finite, not {value!r}")
            return float(value)
        if kind == "dict" and isinstance(value, Mapping):
            return _check_dict(name, value)
        if kind == "list" and isinstance(value, list | tuple):
            return [_scalar(name, v) for v in value]
    elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        kind = node.value.id
        if kind == "list":
            if isinstance(value, str | os.PathLike):
                value = [value]  # one path where a list is expected
            if isinstance(value, list | tuple):
                return [_check(f"{name}[{i}]", v, node.slice) for i, v in enumerate(value)]
        if kind == "dict" and isinstance(value, Mapping):
            return _check_dict(name, value)
    raise ParameterError(
        f"parameter {name!r} must be {_type_name(node)}, got {type(value).__name__} {_short(value)}"
    )


def _scalar(name: str, value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise ParameterError(
        f"parameter {name!r}: values must be strings or numbers, got {type(value).__name__}"
    )


def _check_dict(name: str, value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ParameterError(f"parameter {name!r}: keys must be strings, got {key!r}")
        out[key] = _scalar(f"{name}[{key!r}]", item)
    return out


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _existing_paths(name: str, value: Any) -> Any:
    """Absolute paths (the kernel runs elsewhere); URLs kept; globs must match."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        text = str(item)
        if "://" in text:
            out.append(text)
            continue
        if any(ch in text for ch in "*?["):
            pattern = str(Path(text).expanduser().absolute())
            if not glob.glob(pattern, recursive=True):  # noqa: PTH207 (absolute patterns)
                raise ParameterError(f"parameter {name!r}: the glob matches nothing", path=text)
            out.append(pattern)
            continue
        path = Path(text).expanduser()
        if not path.exists():
            raise ParameterError(f"parameter {name!r}: no such file or directory", path=text)
        out.append(str(path.resolve()))
    return out if isinstance(value, list) else out[0]


def _check_thresholds(values: Mapping[str, Any]) -> None:
    import dataclasses

    from lumiaudit.stats import Thresholds

    known = {f.name: f for f in dataclasses.fields(Thresholds)}
    for key, value in values.items():
        if key not in known:
            raise ParameterError(f"unknown threshold {key!r}", hint=f"known: {', '.join(known)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(f"threshold {key!r} must be a number, got {value!r}")


def validate_parameters(
    notebook: str | os.PathLike[str], parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """Check parameters against a notebook's ``parameters`` cell, before any kernel starts.

    Parameters
    ----------
    notebook
        Template name or notebook path.
    parameters
        Name -> value. Paths may be :class:`os.PathLike`; a single path is accepted where a
        list of paths is expected.

    Returns
    -------
    dict
        The parameters as they will be injected: converted to the annotated types, input
        paths made absolute (the kernel's working directory is the report directory).

    Raises
    ------
    ParameterError
        For an unknown name (the message lists the known ones), a value of the wrong type, an
        input path that does not exist or a required parameter without a value.
    """
    spec = notebook_parameters(notebook)
    out: dict[str, Any] = {}
    for name, value in parameters.items():
        if name not in spec:
            known = ", ".join(spec)
            raise ParameterError(
                f"unknown parameter {name!r} for notebook {Path(str(notebook)).stem}",
                hint=f"known: {known}",
            )
        annotation = ast.parse(spec[name].annotation, mode="eval").body
        checked = _check(name, value, annotation)
        if name in PATH_PARAMETERS:
            checked = _existing_paths(name, checked)
        if name == "thresholds" and checked:
            _check_thresholds(checked)
        choices = CHOICE_PARAMETERS.get(name)
        if choices is not None and checked is not None and checked not in choices:
            raise ParameterError(
                f"parameter {name!r}: {_short(checked)} is not one of {', '.join(choices)}"
            )
        out[name] = checked
    for name, param in spec.items():
        if param.required and out.get(name, param.default) is None:
            raise ParameterError(
                f"parameter {name!r} is required for notebook {Path(str(notebook)).stem}",
                hint=param.help,
            )
    if "audit_dir" in spec and not out.get("audit_dir"):
        missing = [n for n in ("online", "offline") if n in spec and not out.get(n)]
        if missing:
            raise ParameterError(
                f"give {' and '.join(missing)} sources (or audit_dir, an audit directory)"
            )
    return out


# ------------------------------------------------------------------------------ execution


def _drop_unknown_parameter_warnings(record: logging.LogRecord) -> bool:
    # papermill's own parser does not read `str | None` annotations and calls such parameters
    # unknown; ours (validate_parameters) has checked every one of them already
    return not str(record.msg).startswith("Passed unknown parameter")


@contextlib.contextmanager
def _kernel_env() -> Iterator[None]:
    """Let the kernel import the same lumiaudit as this process (source tree or wheel)."""
    root = str(Path(__file__).resolve().parent.parent)
    old = os.environ.get("PYTHONPATH")
    parts = [root, *(old.split(os.pathsep) if old else [])]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    papermill_log = logging.getLogger("papermill")
    papermill_log.addFilter(_drop_unknown_parameter_warnings)
    try:
        yield
    finally:
        papermill_log.removeFilter(_drop_unknown_parameter_warnings)
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _merge_audit_dir(report_dir: Path) -> None:
    """Move the audit directory the notebook wrote up into the report directory."""
    audit_dir = report_dir / _AUDIT_SUBDIR
    if not audit_dir.is_dir():
        return
    (audit_dir / MARKER).unlink(missing_ok=True)  # the report's own marker is written last
    for child in audit_dir.iterdir():
        target = report_dir / child.name
        if target.exists():
            log.warning(
                "%s: the notebook also wrote %s; kept in %s", report_dir, child.name, audit_dir
            )
            continue
        child.rename(target)
    with contextlib.suppress(OSError):
        audit_dir.rmdir()


def _input_parameters(params: Mapping[str, Any]) -> list[str]:
    """The input paths among the parameters (the report directory must stay clear of them)."""
    out: list[str] = []
    for name in sorted(PATH_PARAMETERS):
        value = params.get(name)
        if value is None:
            continue
        out += [str(v) for v in (value if isinstance(value, list) else [value])]
    return out


def _keep_failed(tmp: Path, out: Path) -> Path:
    """Where a report that failed in a cell goes: ``out`` if it holds no report yet, else
    ``<out>.failed`` beside it, so that the previous complete report stays as it was."""
    previous = read_marker(out) if out.is_dir() else None
    target = out if previous is None else out.with_name(f"{out.name}.failed")
    try:
        check_output(target, kind="report")
        return commit_dir(tmp, target, kind="report", marker={"failed": True})
    except OutputError as exc:  # nowhere safe to put it: leave the build directory
        log.warning("%s: the failed notebook stays in %s (%s)", out, tmp, exc)
        return tmp


def run_report(
    *,
    online: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    offline: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str],
    notebook: str | os.PathLike[str] = "audit_overview",
    parameters: Mapping[str, Any] | None = None,
    kernel_name: str | None = None,
    html: bool = True,
    progress: bool = False,
    cell_timeout: float | None = None,
    **audit_options: Any,
) -> ReportResult:
    """Execute a notebook template on a Jupyter kernel and write the report directory.

    Parameters
    ----------
    online, offline
        Audit inputs (the notebook's ``online`` / ``offline`` parameters).
    out
        Report directory. It is built under a temporary name beside ``out`` and swapped in
        when complete; an existing ``out`` is replaced only if it is empty or a lumiaudit
        report (``.lumiaudit`` marker), never if it is, holds or lies inside an input. A
        report that fails in a cell is kept in ``out`` when there was no report there, else
        in ``<out>.failed`` beside it: the previous complete report stays as it was.
    notebook
        Template name (``audit_overview``, ``run_drilldown``, ``file_health``) or path.
    parameters
        Further notebook parameters (e.g. ``{"run": 3041}`` for ``run_drilldown``).
    kernel_name
        Jupyter kernel; default: the notebook's (``python3``).
    html
        Also write ``<notebook>.html``: no code cells, images embedded.
    progress
        papermill's progress bar on stderr.
    cell_timeout
        Seconds one cell may run (default: no limit).
    **audit_options
        Notebook parameters forwarded to :func:`lumiaudit.audit` (``tree``, ``mode``, ``jobs``,
        ``cache``, ``thresholds``, ``waivers``, ``mask``, ``experiment``, ``run_range``, ...).

    Returns
    -------
    ReportResult

    Raises
    ------
    ParameterError
        Before any kernel starts: unknown parameter, wrong type, missing input path.
    ReportError
        A cell failed (the message names it and where the partially executed notebook, with
        the error visible, is kept) or the kernel could not be started.
    OutputRefusedError
        Before any kernel starts: ``out`` is not lumiaudit's to replace (see
        :func:`lumiaudit.store.outdir.check_output`).
    OutputError
        ``out`` cannot be written.

    Examples
    --------
    Not a doctest (it starts a Jupyter kernel and writes a report)::

        from lumiaudit.report import run_report
        r = run_report(online="data/example/elog", offline="data/example/prod",
                       out="reports/example")
        r.html  # PosixPath('reports/example/audit_overview.html')
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nbformat = _nbformat()
    source = notebook_path(notebook)
    name = source.stem
    given: dict[str, Any] = {}
    for key, value in (("online", online), ("offline", offline)):
        if value is not None:
            given[key] = [value] if isinstance(value, str | os.PathLike) else list(value)
    given.update(audit_options)
    given.update(parameters or {})
    reserved = RESERVED_PARAMETERS & set(given)
    if reserved:
        raise ParameterError(
            f"parameter {sorted(reserved)[0]!r} is set by the report (use out=...)"
        )
    params = validate_parameters(source, given)
    if params.get("runs") is not None:
        from lumiaudit.runselect import RunSelection

        RunSelection.parse(params["runs"])  # a bad selection fails here, before any kernel
    spec = notebook_parameters(source)
    if "out_dir" in spec:
        # relative to the kernel's working directory (the report directory being built); the
        # audit directory is merged into the report directory afterwards
        params["out_dir"] = _AUDIT_SUBDIR

    out_dir = check_output(out, kind="report", inputs=_input_parameters(params), what="--out")
    requested = out_dir
    tmp = new_build_dir(out_dir)
    executed = tmp / f"{name}.ipynb"
    failure: PapermillExecutionError | None = None
    log.info("executing %s into %s", source, out_dir)
    try:
        with _kernel_env():
            papermill.execute_notebook(
                str(source),
                str(executed),
                parameters=params,
                kernel_name=kernel_name,
                progress_bar=progress,
                log_output=False,
                cwd=str(tmp),
                execution_timeout=cell_timeout,
            )
    except PapermillExecutionError as exc:
        failure = exc
    except Exception as exc:  # kernel missing or dead: nothing useful to keep
        discard_dir(tmp)
        raise ReportError(
            f"notebook {name} could not be executed: {type(exc).__name__}: {exc}",
            path=source,
            hint="is the Jupyter kernel installed? (`jupyter kernelspec list`)",
        ) from exc

    html_path: Path | None = None
    try:
        _merge_audit_dir(tmp)
        summary_path = tmp / "summary.json"
        summary = read_summary(tmp) if summary_path.is_file() else None
        if summary is None and params.get("audit_dir"):  # a stored audit, rendered as it is
            summary = read_summary(params["audit_dir"]) or None
        if executed.is_file():
            book = nbformat.read(executed, as_version=4)
            book.metadata[METADATA_KEY] = {
                "lumiaudit_version": __version__,
                "notebook": name,
                "parameters": params,
                "summary": summary,
                "failed": failure is not None,
            }
            nbformat.write(book, executed)
            if html:
                html_path = export_html(executed, tmp / f"{name}.html")
        if failure is not None:
            out_dir = _keep_failed(tmp, requested)
        else:
            commit_dir(tmp, out_dir, kind="report")
    except OSError as exc:
        discard_dir(tmp)
        raise OutputError(f"cannot write the report: {exc.strerror or exc}", path=out_dir) from exc
    except BaseException:
        discard_dir(tmp)
        raise
    final_nb = out_dir / executed.name
    final_html = None if html_path is None else out_dir / html_path.name
    if failure is not None:
        first = (failure.source or "").strip().splitlines()
        raise ReportError(
            f"notebook {name} failed in cell [{failure.exec_count}] "
            f"({first[0][:60] if first else 'empty'}): {failure.ename}: {failure.evalue}",
            path=final_nb,
            hint="the partially executed notebook with the error is kept there"
            + (
                "" if out_dir == requested else f"; the previous report in {requested} is unchanged"
            ),
        )
    log.info("report written to %s", out_dir)
    return ReportResult(
        out_dir=out_dir, notebook=final_nb, html=final_html, summary=summary, parameters=params
    )


def export_html(notebook: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write an executed notebook as one self-contained HTML page without code cells.

    Outputs only (no code, no prompts); images are inline ``data:`` URIs, so the page opens
    offline. Script tags of the template that load from the network (require.js, MathJax)
    are dropped: the report needs neither.

    Parameters
    ----------
    notebook
        An executed ``.ipynb``.
    out
        The HTML file to write (written to a temporary name, then renamed).

    Returns
    -------
    pathlib.Path
    """
    import re

    import nbconvert

    nbformat = _nbformat()
    exporter_class: Any = nbconvert.HTMLExporter
    book = nbformat.read(notebook, as_version=4)
    quiet = logging.getLogger(f"{__name__}.nbconvert")
    quiet.setLevel(logging.ERROR)  # "alternative text is missing" on every matplotlib image
    exporter = exporter_class(
        log=quiet,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        exclude_anchor_links=True,
    )
    body, _ = exporter.from_notebook_node(book)
    body = re.sub(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>', "", body)
    return write_text(out, body)


# ------------------------------------------------------------------------------ rich repr


def _cell(value: Any) -> str:
    if value is None:
        return '<span class="la-na">n/a</span>'
    try:
        import pandas as pd

        if pd.isna(value):
            return '<span class="la-na">n/a</span>'
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    if isinstance(value, int) and not isinstance(value, bool):
        return html.escape(f"{value:,}")
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="la-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def audit_html(audit: _AuditLike, *, max_rows: int = 50) -> str:
    """The rich HTML view of an audit: summary, funnel and flagged runs with reasons.

    Every value (elog text, run types, file names, reasons) is escaped with
    :func:`html.escape`: the page shows ``<script>`` as text and never runs it.

    Parameters
    ----------
    audit
        An :class:`~lumiaudit.pipeline.Audit` (anything with ``summary``, ``runs``, ``funnel``).
    max_rows
        Flagged runs shown; the rest are counted as "+N more".

    Returns
    -------
    str
        An HTML fragment (what JupyterLab shows for ``audit``).
    """
    import pandas as pd

    summary = audit.summary or {}
    totals = summary.get("totals", {}) or {}
    parts = ['<div class="lumiaudit-audit">']
    label = summary.get("experiment_label") or ""
    run_range = summary.get("run_range")
    title = "lumiaudit audit"
    if label:
        title += f" - {label}"
    if run_range:
        title += f", runs {run_range[0]}-{run_range[-1]}"
    parts.append(f"<h3>{html.escape(title)}</h3>")
    meta = [
        ("lumiaudit", summary.get("lumiaudit_version", __version__)),
        ("created", summary.get("created")),
        ("offline follows", summary.get("follows")),
    ]
    parts.append("<p>" + "; ".join(f"{html.escape(k)} {_cell(v)}" for k, v in meta if v) + "</p>")
    stats = summary.get("stats") or {}
    said = [
        ("flag rule", stats.get("flag_rule")),
        ("luminosity", (stats.get("lumi") or {}).get("text")),
    ]
    said += [("source", (v or {}).get("text")) for v in (stats.get("sources") or {}).values()]
    for name, text in said:
        if text:
            parts.append(f"<p>{html.escape(name)}: {html.escape(str(text))}</p>")
    if totals:  # one row each: the page stays short enough to see the plots below it
        parts.append("<h4>Summary</h4>")
        parts.append(_table(list(totals), [list(totals.values())]))
    status = summary.get("status_counts") or {}
    if status:
        parts.append(
            _table([str(k) for k in sorted(status)], [[status[k] for k in sorted(status)]])
        )
    funnel = audit.funnel
    if isinstance(funnel, pd.DataFrame) and len(funnel) and "events" in funnel.columns:
        parts.append("<h4>Accounting funnel</h4>")
        cols = [c for c in ("bucket", "events", "runs", "lumi_nb") if c in funnel.columns]
        events = pd.to_numeric(funnel["events"], errors="coerce")
        shown = funnel[(events != 0).fillna(True).astype(bool)]
        parts.append(_table(cols, shown[cols].astype(object).to_numpy().tolist()))
        if "bucket" in funnel.columns and len(shown) < len(funnel):
            empty = funnel.loc[(events == 0).fillna(False).astype(bool), "bucket"]
            parts.append(f"<p>no events: {html.escape(', '.join(map(str, empty)))}</p>")
    runs = audit.runs
    if isinstance(runs, pd.DataFrame) and "flagged" in runs.columns:
        flagged = runs[runs["flagged"].fillna(False).astype(bool)]
        parts.append(f"<h4>Flagged runs ({len(flagged)} of {len(runs)})</h4>")
        if len(flagged):
            wanted = (
                "experiment",
                "run",
                "run_type",
                "status",
                "n_online",
                "n_offline",
                "diff",
                "ratio",
                "q_value",
                "reasons",
                "reason_events",
                "waived",
            )
            cols = [c for c in wanted if c in flagged.columns]
            shown = flagged[cols].head(max_rows).astype(object)
            parts.append(_table(cols, shown.to_numpy().tolist()))
            if len(flagged) > max_rows:
                parts.append(f"<p>+{len(flagged) - max_rows} more</p>")
        else:
            parts.append("<p>No run is flagged.</p>")
    defects = getattr(audit, "source_defects", None)
    if isinstance(defects, pd.DataFrame) and len(defects):
        parts.append(f"<h4>Online source defects ({len(defects)})</h4>")
        cols = [c for c in ("run", "source", "value", "expected", "kind", "detail") if c in defects]
        parts.append(_table(cols, defects[cols].head(max_rows).astype(object).to_numpy().tolist()))
    parts.append("</div>")
    return "\n".join(parts)
