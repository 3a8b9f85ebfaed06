"""Notebook parameters: read them from a template, check them before a kernel starts."""

from __future__ import annotations

import ast
import glob
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lumiaudit.errors import ParameterError
from lumiaudit.notebooks import notebook_path
from lumiaudit.report._common import (
    AUDIT_INPUTS,
    CHOICE_PARAMETERS,
    PATH_PARAMETERS,
    NotebookParameter,
)


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
        msg = f"expected one cell tagged 'parameters', found {len(cells)}"
        raise ParameterError(msg, path=path)
    source = cells[0].source
    lines = source.splitlines()
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        msg = f"parameters cell is not valid Python: {exc.msg}"
        raise ParameterError(msg, path=path, line=exc.lineno) from exc
    out: dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            msg = "parameters cell: every statement must be `name: type = literal`"
            raise ParameterError(
                msg,
                path=path,
                line=node.lineno,
            )
        try:
            default = ast.literal_eval(node.value) if node.value is not None else None
        except ValueError as exc:
            msg = f"parameter {node.target.id!r}: default is not a literal"
            raise ParameterError(
                msg,
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
        msg = (
            f"parameter {name!r} must be {ast.unparse(node)}, got {type(value).__name__} "
            f"{_short(value)}"
        )
        raise ParameterError(msg)
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
                msg = f"parameter {name!r}: the value must be finite, not {value!r}"
                raise ParameterError(msg)
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
    msg = (
        f"parameter {name!r} must be {_type_name(node)}, got {type(value).__name__} {_short(value)}"
    )
    raise ParameterError(msg)


def _scalar(name: str, value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    msg = f"parameter {name!r}: values must be strings or numbers, got {type(value).__name__}"
    raise ParameterError(msg)


def _check_dict(name: str, value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            msg = f"parameter {name!r}: keys must be strings, got {key!r}"
            raise ParameterError(msg)
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
                msg = f"parameter {name!r}: the glob matches nothing"
                raise ParameterError(msg, path=text)
            out.append(pattern)
            continue
        path = Path(text).expanduser()
        if not path.exists():
            msg = f"parameter {name!r}: no such file or directory"
            raise ParameterError(msg, path=text)
        out.append(str(path.resolve()))
    return out if isinstance(value, list) else out[0]


def _audit_names() -> frozenset[str]:
    from lumiaudit.options import AuditOptions

    return AuditOptions.names(toml=True) | AUDIT_INPUTS


def validate_parameters(
    notebook: str | os.PathLike[str], parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """Check a report's parameters before anything runs: the notebook's and the audit's.

    A template that takes an ``audit_dir`` (all of lumiaudit's) renders an audit: either a
    stored one (``audit_dir``) or the one :func:`~lumiaudit.report.run_report` runs first, in
    the calling process, from ``online``, ``offline`` and the options of
    :class:`~lumiaudit.options.AuditOptions`. Those are accepted here beside the notebook's own
    parameters and checked by :class:`~lumiaudit.options.AuditOptions`, the one declaration
    :func:`lumiaudit.audit` validates with.

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
        The parameters converted to the annotated types (the notebook's) or checked by
        ``AuditOptions`` (the audit's, as given), input paths made absolute (the kernel's
        working directory is the report directory).

    Raises
    ------
    ParameterError
        For an unknown name (the message lists the known ones), a value of the wrong type, an
        input path that does not exist, a required parameter without a value, audit options
        beside a stored audit, or an audit option :class:`AuditOptions` refuses.
    """
    spec = notebook_parameters(notebook)
    renders_audit = "audit_dir" in spec
    audit_names = _audit_names() if renders_audit else frozenset()
    out: dict[str, Any] = {}
    audit: dict[str, Any] = {}
    for name, value in parameters.items():
        if name in spec:
            annotation = ast.parse(spec[name].annotation, mode="eval").body
            checked = _check(name, value, annotation)
            if name in PATH_PARAMETERS:
                checked = _existing_paths(name, checked)
            choices = CHOICE_PARAMETERS.get(name)
            if choices is not None and checked is not None and checked not in choices:
                msg = f"parameter {name!r}: {_short(checked)} is not one of {', '.join(choices)}"
                raise ParameterError(msg)
            out[name] = checked
        elif name in audit_names:
            if name in AUDIT_INPUTS:
                listed = ast.parse("list[str]", mode="eval").body
                audit[name] = _existing_paths(name, _check(name, value, listed))
            else:
                audit[name] = value
        else:
            known = ", ".join([*spec, *sorted(audit_names)])
            msg = f"unknown parameter {name!r} for notebook {Path(str(notebook)).stem}"
            raise ParameterError(msg, hint=f"known: {known}")
    for name, param in spec.items():
        if param.required and out.get(name, param.default) is None:
            msg = f"parameter {name!r} is required for notebook {Path(str(notebook)).stem}"
            raise ParameterError(msg, hint=param.help)
    if renders_audit:
        _check_audit(out, audit)
    return {**out, **audit}


def _check_audit(params: Mapping[str, Any], audit: Mapping[str, Any]) -> None:
    """The audit a report renders: a stored one, or inputs and options for a new one.

    The options go through :class:`AuditOptions` (the rules :func:`lumiaudit.audit` applies),
    so a bad ``jobs``, a ``fast`` mode or a cache that is not a count cache fails here,
    before anything is counted or any directory is made.
    """
    from lumiaudit.options import AuditOptions

    if params.get("audit_dir"):
        if audit:
            msg = (
                f"{', '.join(sorted(audit))}: not used with a stored audit (audit_dir), which "
                "is rendered as it was audited"
            )
            raise ParameterError(msg, hint="give either an audit directory or the audit's inputs")
        return
    missing = [n for n in ("online", "offline") if not audit.get(n)]
    if missing:
        msg = f"give {' and '.join(missing)} sources (or audit_dir, an audit directory)"
        raise ParameterError(msg)
    try:
        options = AuditOptions.from_mapping(
            {k: v for k, v in audit.items() if k not in AUDIT_INPUTS and v is not None}
        )
    except ParameterError as exc:  # "jobs: -3 is below ..." -> "parameter jobs: -3 ..."
        msg = f"parameter {exc.message}"
        raise ParameterError(msg, path=exc.path, hint=exc.hint) from None
    options.check_auditable()
    options.check_paths()
