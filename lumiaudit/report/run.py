"""Run a report template with papermill into an output directory, and export it to HTML."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lumiaudit._version import __version__
from lumiaudit.errors import OutputError, ReportError
from lumiaudit.notebooks import notebook_path
from lumiaudit.report._common import (
    AUDIT_INPUTS,
    METADATA_KEY,
    PATH_PARAMETERS,
    ReportResult,
    log,
)
from lumiaudit.report.kernel import kernel_env, kernel_manager_class
from lumiaudit.report.params import _nbformat, notebook_parameters, validate_parameters
from lumiaudit.store.atomic import write_text
from lumiaudit.store.audit_dir import read_summary
from lumiaudit.store.outdir import (
    check_output,
    commit_dir,
    discard_dir,
    new_build_dir,
    read_marker,
)

#: parameters naming inputs: the report directory must stay clear of them
_INPUTS = (*sorted(PATH_PARAMETERS | AUDIT_INPUTS), "mask", "waivers", "golden")


def _input_parameters(params: Mapping[str, Any]) -> list[str]:
    """The input paths among the parameters (the report directory must stay clear of them)."""
    out: list[str] = []
    for name in _INPUTS:
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
    audit_dir: str | os.PathLike[str] | None = None,
    notebook: str | os.PathLike[str] = "audit_overview",
    parameters: Mapping[str, Any] | None = None,
    previous: str | os.PathLike[str] | None = None,
    kernel_name: str | None = None,
    html: bool = True,
    progress: bool = False,
    cell_timeout: float | None = None,
    **audit_options: Any,
) -> ReportResult:
    """Audit (unless given a stored audit), then render the audit with a notebook template.

    The audit runs once, here in the calling process (:func:`lumiaudit.audit`), and is
    written into the report directory; the notebook, executed by papermill on a Jupyter
    kernel, only reads it (its ``audit_dir`` parameter). With ``audit_dir`` a stored audit is
    rendered as it is, nothing is counted. A notebook without an ``audit_dir`` parameter (a
    user's own) just runs with ``parameters``.

    Parameters
    ----------
    online, offline
        Audit inputs (paths, globs, URLs), as for :func:`lumiaudit.audit`.
    out
        Report directory. It is built under a temporary name beside ``out`` and swapped in
        when complete; an existing ``out`` is replaced only if it is empty or a lumiaudit
        report (``.lumiaudit`` marker), never if it is, holds or lies inside an input. A
        report that fails in a cell is kept in ``out`` when there was no report there, else
        in ``<out>.failed`` beside it: the previous complete report stays as it was.
    audit_dir
        A stored audit (``lumiaudit audit --out DIR``) to render instead of auditing.
    notebook
        Template name (``audit_overview``, ``run_drilldown``, ``file_health``) or path.
    parameters
        The notebook's own parameters (e.g. ``{"run": 3041}`` for ``run_drilldown``).
    previous
        The previous report or audit directory (the nightly's last night): the overview's
        first screen says what changed since. Ignored by templates without ``previous``.
    kernel_name
        Jupyter kernel; default: the notebook's (``python3``).
    html
        Also write ``<notebook>.html``: no code cells, images embedded.
    progress
        Progress bars (counting, papermill's cells) on stderr.
    cell_timeout
        Seconds one cell may run (default: no limit).
    **audit_options
        :class:`~lumiaudit.options.AuditOptions` fields for the audit (``tree``, ``mode``,
        ``jobs``, ``cache``, ``thresholds``, ``waivers``, ``mask``, ``runs``, ...).

    Returns
    -------
    ReportResult

    Raises
    ------
    ParameterError
        Before anything is counted: unknown parameter, wrong type, missing input path, an
        audit option :class:`~lumiaudit.options.AuditOptions` refuses.
    ReportError
        A cell failed (the message names it and where the partially executed notebook, with
        the error visible, is kept) or the kernel could not be started.
    OutputRefusedError
        Before anything is counted: ``out`` is not lumiaudit's to replace (see
        :func:`lumiaudit.store.outdir.check_output`).
    OutputError
        ``out`` cannot be written.

    Examples
    --------
    Not a doctest (it audits, starts a Jupyter kernel and writes a report)::

        from lumiaudit.report import run_report
        r = run_report(online="data/example/elog", offline="data/example/prod",
                       out="reports/example")
        r.html  # PosixPath('reports/example/audit_overview.html')
    """
    nbformat = _nbformat()
    source = notebook_path(notebook)
    name = source.stem
    spec = notebook_parameters(source)
    given: dict[str, Any] = {}
    for key, value in (("online", online), ("offline", offline)):
        if value is not None:
            given[key] = [value] if isinstance(value, str | os.PathLike) else list(value)
    given.update(audit_options)
    given.update(parameters or {})
    if audit_dir is not None:
        given["audit_dir"] = os.fspath(audit_dir)
    if previous is not None and "previous" in spec:
        given["previous"] = os.fspath(previous)
    params = validate_parameters(source, given)
    book_params = {k: v for k, v in params.items() if k in spec}
    audit_params = {k: v for k, v in params.items() if k not in spec}
    out_dir = check_output(out, kind="report", inputs=_input_parameters(params), what="--out")
    result = None
    if "audit_dir" in spec and not book_params.get("audit_dir"):
        from lumiaudit.pipeline import audit

        options = {k: v for k, v in audit_params.items() if k not in AUDIT_INPUTS}
        log.info("auditing for the report %s", out_dir)
        result = audit(
            audit_params["online"], audit_params["offline"], progress=progress, **options
        )
    requested = out_dir
    tmp = new_build_dir(out_dir)
    executed = tmp / f"{name}.ipynb"
    try:
        if result is not None:
            from lumiaudit.store.audit_dir import write_audit_into

            write_audit_into(result, tmp, plots=True, formats=("png", "svg", "pdf"))
            # the kernel runs in the report directory: the notebook stays valid once moved
            book_params["audit_dir"] = "."
        failure = _execute(
            source,
            executed,
            book_params,
            tmp,
            kernel_name,
            progress=progress,
            cell_timeout=cell_timeout,
        )
    except BaseException:
        discard_dir(tmp)
        raise
    html_path: Path | None = None
    try:
        stored = book_params.get("audit_dir")
        summary = None
        if (tmp / "summary.json").is_file():
            summary = read_summary(tmp)
        elif stored:  # a stored audit, rendered as it is
            summary = read_summary(stored) or None
        if executed.is_file():
            book = nbformat.read(executed, as_version=4)
            from lumiaudit.store.audit_dir import jsonable

            # paths, tuples and Thresholds of the audit options as JSON, as in summary.json
            recorded = jsonable(dict(params))
            if result is not None:
                recorded["audit_dir"] = "."
            book.metadata[METADATA_KEY] = {
                "lumiaudit_version": __version__,
                "notebook": name,
                "parameters": recorded,
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


def _execute(
    source: Path,
    executed: Path,
    params: Mapping[str, Any],
    cwd: Path,
    kernel_name: str | None,
    *,
    progress: bool,
    cell_timeout: float | None,
) -> Any:
    """Execute ``source`` into ``executed``; the PapermillExecutionError of a failing cell, or
    ``None``.

    Raises
    ------
    ReportError
        The kernel is missing or died: nothing useful to keep.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    log.info("executing %s in %s", source, cwd)
    try:
        with kernel_env():
            papermill.execute_notebook(
                str(source),
                str(executed),
                parameters=dict(params),
                kernel_name=kernel_name,
                progress_bar=progress,
                log_output=False,
                cwd=str(cwd),
                execution_timeout=cell_timeout,
                kernel_manager_class=kernel_manager_class(),
            )
    except PapermillExecutionError as exc:
        return exc
    except Exception as exc:
        msg = f"notebook {source.stem} could not be executed: {type(exc).__name__}: {exc}"
        raise ReportError(
            msg,
            path=source,
            hint="is the Jupyter kernel installed? (`jupyter kernelspec list`)",
        ) from exc
    return None


def export_html(notebook: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write an executed notebook as one self-contained HTML page without code cells.

    Outputs only (no code, no markdown, no prompts); images are inline ``data:`` URIs, so the
    page opens offline. Script tags of the template that load from the network (require.js, MathJax)
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
    for cell in book.cells:  # scrapbook scraps are data for readers of the notebook, not views
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.outputs if not _is_scrap(o)]
    # a code cell without output shows nothing on the page but its padding: the parameters,
    # imports and set-up cells left an empty band above the title (issue 16)
    book.cells = [c for c in book.cells if c.get("cell_type") != "code" or c.outputs]
    quiet = logging.getLogger(f"{__name__}.nbconvert")
    quiet.setLevel(logging.ERROR)  # "alternative text is missing" on every matplotlib image
    exporter = exporter_class(
        log=quiet,
        exclude_input=True,
        # the templates' markdown cells introduce them in JupyterLab; the page opens with the
        # verdict (lumiaudit.render.html.report_head) instead
        exclude_markdown=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        exclude_anchor_links=True,
    )
    body, _ = exporter.from_notebook_node(book)
    # the page stands alone: no script at all (nbconvert's template carries a MathJax set-up
    # and a mermaid loader that imports from a CDN when a diagram is present; a static report
    # needs neither, and the docs promise "no script, no network")
    body = re.sub(r"<script\b[^>]*>.*?</script\s*>", "", body, flags=re.DOTALL | re.IGNORECASE)
    # the report's own style for every template (the overview's first screen also carries it,
    # for JupyterLab): collapsible sections, tables, print CSS
    from lumiaudit.render.html import STYLE

    body = body.replace("</head>", f"{STYLE}\n{PAGE_STYLE}\n</head>", 1)
    return write_text(out, body)


#: the exported page's own frame (not in :data:`lumiaudit.render.html.STYLE`, which JupyterLab
#: also receives): the first line (title or verdict) at the top of the page, not under the
#: body's and the first cell's margins and paddings (issue 16: ~70 px of empty band)
PAGE_STYLE = """<style>
body.jp-Notebook{margin:0;padding:8px 16px 16px}
body.jp-Notebook main>.jp-Cell:first-child{padding-top:0}
body.jp-Notebook main>.jp-Cell:first-child .jp-Cell-outputWrapper{margin-top:0}
</style>"""


def _is_scrap(output: Any) -> bool:
    data = output.get("data") or {}
    return bool(data) and all(str(k).startswith("application/scrapbook.scrap") for k in data)
