"""Run a report template with papermill into an output directory, and export it to HTML."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lumiaudit._version import __version__
from lumiaudit.errors import OutputError, ParameterError, ReportError
from lumiaudit.notebooks import notebook_path
from lumiaudit.report._common import (
    _AUDIT_SUBDIR,
    METADATA_KEY,
    PATH_PARAMETERS,
    RESERVED_PARAMETERS,
    ReportResult,
    log,
)
from lumiaudit.report.params import _nbformat, notebook_parameters, validate_parameters
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


def _drop_unknown_parameter_warnings(record: logging.LogRecord) -> bool:
    # papermill's own parser does not read `str | None` annotations and calls such parameters
    # unknown; ours (validate_parameters) has checked every one of them already
    return not str(record.msg).startswith("Passed unknown parameter")


@contextlib.contextmanager
def _kernel_env() -> Iterator[None]:
    """Let the kernel import the same lumiaudit as this process (source tree or wheel)."""
    root = str(Path(__file__).resolve().parents[2])  # lumiaudit/report/run.py -> the tree
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
        msg = f"parameter {sorted(reserved)[0]!r} is set by the report (use out=...)"
        raise ParameterError(msg)
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
        msg = f"notebook {name} could not be executed: {type(exc).__name__}: {exc}"
        raise ReportError(
            msg,
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
        msg = f"cannot write the report: {exc.strerror or exc}"
        raise OutputError(msg, path=out_dir) from exc
    except BaseException:
        discard_dir(tmp)
        raise
    final_nb = out_dir / executed.name
    final_html = None if html_path is None else out_dir / html_path.name
    if failure is not None:
        first = (failure.source or "").strip().splitlines()
        msg = (
            f"notebook {name} failed in cell [{failure.exec_count}] "
            f"({first[0][:60] if first else 'empty'}): {failure.ename}: {failure.evalue}"
        )
        raise ReportError(
            msg,
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
