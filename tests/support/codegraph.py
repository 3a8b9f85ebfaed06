"""Static views of a package's source, for the architecture tests (tests/test_project.py).

- :func:`import_graph`: module -> modules it imports, read with :mod:`ast` (module-level and
  function-level imports; ``from x import y`` resolved to the submodule ``x.y`` when there is
  one; relative imports resolved; imports under ``if TYPE_CHECKING:`` left out, since they never
  run). An import points at the module it names, not at its parent packages (whose
  ``__init__`` only re-exports), as import-linter and pydeps count them.
- :func:`find_cycles`: the import cycles of a graph, each as a closed path ``a -> b -> a``.
- :func:`io_calls`: the places where a module reads or writes files.
- :func:`separator_formats`: the places where a module formats a thousands separator itself.

Nothing here imports the package it looks at.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Finding",
    "find_cycles",
    "import_graph",
    "io_calls",
    "module_lines",
    "modules",
    "separator_formats",
    "status_sets",
]


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``package`` (a directory)."""
    out: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def module_lines(package: Path) -> dict[str, int]:
    """Dotted module name -> number of lines."""
    return {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in modules(package).items()
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` at any depth, except the body of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for node in child.orelse:
                yield node
                yield from _statements(node)
            continue
        yield child
        yield from _statements(child)


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"

    def owner(dotted: str) -> str | None:
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in known:
                return candidate
        return None

    out: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            out.update(t for a in node.names if (t := owner(a.name)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                target = sub if sub in known else owner(module)
                if target:
                    out.add(target)
    out.discard(name)
    return out


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (see the module docstring)."""
    found = modules(package)
    known = set(found)
    return {name: _imports(name, path, known) for name, path in found.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One closed path per strongly connected component of more than one module.

    Tarjan's algorithm, iterative; each cycle is given as ``[a, b, ..., a]`` starting at the
    component's first module by name, following the first edges by name (deterministic).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp: set[str] = set()
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        comp.add(top)
                        if top == node:
                            break
                    if len(comp) > 1:
                        components.append(comp)
    return [_closed_path(graph, comp) for comp in sorted(components, key=min)]


def _closed_path(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first)."""
    start = min(comp)
    parent: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & comp):
            if nxt == start:
                trace = [node]
                while trace[-1] != start:
                    trace.append(parent[trace[-1]])
                return [*reversed(trace), start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return sorted(comp)  # pragma: no cover - a component always closes


@dataclass(frozen=True)
class Finding:
    """One file operation found in a module's source."""

    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


#: names that open, read, write, move or remove files when called
_CALLS = frozenset({"open"})
#: ``Path``/file-object methods that touch the file system
_METHODS = frozenset(
    {
        "read_text",
        "read_bytes",
        "write_text",
        "write_bytes",
        "open",
        "mkdir",
        "unlink",
        "rmdir",
        "touch",
        "symlink_to",
        "hardlink_to",
        "iterdir",
        "glob",
        "rglob",
        "to_csv",
        "to_parquet",
        "to_json",
        "to_sql",
        "savefig",
    }
)
#: ``os``/``shutil``/``pd``/``json``/``tomllib`` functions that touch the file system
_MODULE_FUNCS = {
    "os": {
        "open",
        "remove",
        "unlink",
        "rename",
        "replace",
        "mkdir",
        "makedirs",
        "rmdir",
        "removedirs",
        "listdir",
        "scandir",
        "walk",
        "symlink",
        "link",
        "chmod",
        "fdopen",
        "pread",
        "pwrite",
        "write",
        "read",
    },
    "shutil": {"copy", "copy2", "copyfile", "copytree", "move", "rmtree"},
    "pd": {"read_csv", "read_parquet", "read_json", "read_table", "read_excel"},
    "pandas": {"read_csv", "read_parquet", "read_json", "read_table", "read_excel"},
    "json": {"load", "dump"},
    "tomllib": {"load"},
}


def io_calls(package: Path, *, under: tuple[str, ...]) -> list[Finding]:
    """File operations in the modules whose name starts with one of ``under``.

    Calls of ``open()``, of ``os``/``shutil`` file functions, of ``pandas.read_*``,
    ``json.load/dump``, and of file-system methods (``Path.read_text``, ``.write_*``,
    ``.mkdir``, ``DataFrame.to_csv``, ``Figure.savefig`` ...), plus imports of
    ``lumiaudit.store``. Text in docstrings is not code and is not looked at.
    """
    out: list[Finding] = []
    for name, path in modules(package).items():
        if not name.startswith(under):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id in _CALLS:
                    out.append(Finding(name, node.lineno, f"{func.id}()"))
                elif isinstance(func, ast.Attribute):
                    base = func.value
                    if isinstance(base, ast.Name) and base.id in _MODULE_FUNCS:
                        if func.attr in _MODULE_FUNCS[base.id]:
                            out.append(Finding(name, node.lineno, f"{base.id}.{func.attr}()"))
                    elif func.attr in _METHODS:
                        out.append(Finding(name, node.lineno, f".{func.attr}()"))
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                if isinstance(node, ast.ImportFrom) and node.module == "lumiaudit":
                    names += [f"lumiaudit.{a.name}" for a in node.names]
                for n in names:
                    if n == "lumiaudit.store" or n.startswith("lumiaudit.store."):
                        out.append(Finding(name, node.lineno, f"imports {n}"))
    return sorted(out, key=lambda f: (f.module, f.line))


def _is_file_status(node: ast.AST) -> bool:
    """``FileStatus`` or ``schema.FileStatus``."""
    return (isinstance(node, ast.Name) and node.id == "FileStatus") or (
        isinstance(node, ast.Attribute) and node.attr == "FileStatus"
    )


def _status_member(node: ast.AST) -> bool:
    """``FileStatus.X`` or ``FileStatus.X.value``."""
    if isinstance(node, ast.Attribute) and node.attr == "value":
        node = node.value
    return isinstance(node, ast.Attribute) and _is_file_status(node.value)


def status_sets(package: Path, *, outside: str) -> list[Finding]:
    """Sets of file statuses built outside the module ``outside``: a literal of two or more
    ``FileStatus`` members, or a comprehension over ``FileStatus``."""
    out: list[Finding] = []
    for name, path in modules(package).items():
        if name == outside:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            comprehension = ast.SetComp | ast.ListComp | ast.GeneratorExp | ast.DictComp
            if isinstance(node, ast.Set | ast.List | ast.Tuple):
                if sum(_status_member(e) for e in node.elts) >= 2:
                    out.append(Finding(name, node.lineno, "a literal set of FileStatus members"))
            elif isinstance(node, comprehension) and any(
                _is_file_status(g.iter) for g in node.generators
            ):
                out.append(Finding(name, node.lineno, "a comprehension over FileStatus"))
    return sorted(out, key=lambda f: (f.module, f.line))


#: after [[fill]align], a format spec with a grouping option: [sign][z][#][0][width](,|_)
_GROUPING_AFTER_ALIGN = re.compile(r"[+\- ]?z?#?0?\d*[,_]")


def _grouping(spec: str) -> bool:
    """Whether a format spec asks for a thousands separator (a ``,`` fill char does not)."""
    if len(spec) >= 2 and spec[1] in "<>=^":
        spec = spec[2:]
    elif spec[:1] in {"<", ">", "=", "^"}:
        spec = spec[1:]
    return _GROUPING_AFTER_ALIGN.match(spec) is not None


#: a replacement field of a ``str.format`` template, with its spec
_FIELD = re.compile(r"(?<!\{)\{[^{}:]*:([^{}]*)\}")


def _spec_text(spec: ast.expr) -> str:
    """An f-string's format spec as text; a nested ``{width}`` reads as a digit."""
    if isinstance(spec, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "1"
            for v in spec.values
        )
    return ""


def separator_formats(package: Path, *, outside: tuple[str, ...]) -> list[Finding]:
    """Thousands separators formatted outside the modules ``outside``: an f-string field with
    a ``,``/``_`` grouping spec (``f"{n:,}"``, ``f"{x:+,.2f}"``), ``format(n, ",")`` and
    ``"{:,}".format(n)``."""
    out: list[Finding] = []
    for name, path in modules(package).items():
        if name in outside:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
                spec = _spec_text(node.format_spec)
                if _grouping(spec):
                    out.append(Finding(name, node.lineno, f"f-string spec {spec!r}"))
            elif isinstance(node, ast.Call):
                func, args = node.func, node.args
                if (
                    isinstance(func, ast.Name)
                    and func.id == "format"
                    and len(args) == 2
                    and isinstance(args[1], ast.Constant)
                    and isinstance(args[1].value, str)
                    and _grouping(args[1].value)
                ):
                    out.append(Finding(name, node.lineno, f"format(..., {args[1].value!r})"))
                elif (
                    isinstance(func, ast.Attribute)
                    and func.attr == "format"
                    and isinstance(func.value, ast.Constant)
                    and isinstance(func.value.value, str)
                ):
                    for spec in _FIELD.findall(func.value.value):
                        if _grouping(spec):
                            out.append(Finding(name, node.lineno, f"str.format spec {spec!r}"))
    return sorted(out, key=lambda f: (f.module, f.line))
