"""The project as users meet it (README commands, CI script, CLI manual, start-up time) and
its shape (issue 12): no import cycle, no module over 600 lines, pure reconcile/ and render/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from lumiaudit.cli import COMMANDS, cli
from tests.support.codegraph import (
    find_cycles,
    import_graph,
    io_calls,
    module_lines,
    modules,
    separator_formats,
    status_sets,
)

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lumiaudit"
#: the issue's limit for a module of the package
MAX_LINES = 600
#: the pure stages: DataFrames in and out, no file I/O, nothing of store/ (docs/ARCHITECTURE.md)
PURE = ("lumiaudit.reconcile", "lumiaudit.render")


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    install_demo, test_cmd = _readme_commands()
    assert "lumiaudit demo" in install_demo
    for tool in ("pytest", "mypy", "ruff"):
        assert tool in test_cmd
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_cmd in ci


def test_every_command_is_documented_and_has_help() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert name in result.output
        assert f"lumiaudit {name}" in readme, f"README does not show `lumiaudit {name}`"
        sub = runner.invoke(cli, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)
        assert "Usage:" in sub.output


def test_version_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys; from lumiaudit.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "mods = ('pandas', 'uproot', 'matplotlib', 'scipy', 'papermill')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "lumiaudit, version" in out.stdout
    assert "HEAVY []" in out.stdout


def test_unknown_command_and_option_exit_2_without_traceback() -> None:
    runner = CliRunner()
    for args in (["no-such-command"], ["audit", "--no-such-option"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2
        assert "Traceback" not in result.output


# ------------------------------------------------------------------------------ shape (issue 12


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_import_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    # the cycle test below can fail: each kind of import makes a cycle the graph finds
    pkg = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import f\n",
            # module level, via a package: ``from pkg import b`` is the submodule pkg.b
            "pkg/a.py": "from pkg import b\ndef f():\n    pass\n",
            # function level, relative
            "pkg/b.py": "def g():\n    from . import a\n",
            # ``import pkg.sub.c`` and a relative import two levels up
            "pkg/sub/__init__.py": "",
            "pkg/sub/c.py": "from ..d import x\n",
            "pkg/d.py": "import pkg.sub.c\nx = 1\n",
            # under TYPE_CHECKING: never runs, no edge
            "pkg/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.f\n",
            "pkg/f.py": "import pkg.e\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.sub.c"] == {"pkg.d"}
    assert graph["pkg.e"] == set()
    assert find_cycles(graph) == [
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.d", "pkg.sub.c", "pkg.d"],
    ]
    # a longer cycle is named in order
    assert find_cycles({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}) == [["x", "y", "z", "x"]]


def test_no_import_cycle() -> None:
    cycles = find_cycles(import_graph(PACKAGE))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_line_counter_counts_lines(tmp_path: Path) -> None:
    pkg = _package(tmp_path, {"pkg/__init__.py": "", "pkg/big.py": "x = 1\n" * (MAX_LINES + 1)})
    assert module_lines(pkg) == {"pkg": 0, "pkg.big": MAX_LINES + 1}


def test_no_module_over_600_lines() -> None:
    big = {name: n for name, n in module_lines(PACKAGE).items() if n > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_io_finder_sees_file_operations(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/io.py": (
                "import os, shutil\nimport pandas as pd\nfrom pathlib import Path\n"
                "from lumiaudit.store import tables\n"
                "def f(p):\n    with open(p) as fh:\n        fh.read()\n"
                "    Path(p).write_text('x')\n    os.remove(p)\n    shutil.rmtree(p)\n"
                "    pd.read_csv(p)\n    'a'.replace('a', 'b')\n"
            ),
            "pkg/pure.py": '"""open() and read_text() in words are not calls."""\nx = len([])\n',
        },
    )
    found = [f.what for f in io_calls(pkg, under=("pkg.io", "pkg.pure"))]
    assert found == [
        "imports lumiaudit.store",
        "open()",
        ".write_text()",
        "os.remove()",
        "shutil.rmtree()",
        "pd.read_csv()",
    ]


def test_reconcile_and_render_do_no_file_io() -> None:
    # the pure stages do no file I/O themselves and reach none through what they import:
    # the verdict takes the mask and waivers as tables, store/ reads the files
    graph = import_graph(PACKAGE)
    reached: set[str] = set()
    todo = [m for m in graph if m.startswith(PURE)]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    store = sorted(m for m in reached if m.startswith("lumiaudit.store"))
    assert not store, f"the pure stages reach store/: {store}"
    found = io_calls(PACKAGE, under=tuple(sorted(reached)))
    assert not found, "file I/O in the pure stages or what they import:\n" + "\n".join(
        map(str, found)
    )


def test_one_set_of_file_statuses() -> None:
    # schema.READABLE_STATUSES and schema.UNREADABLE_STATUSES are the only sets of statuses
    found = status_sets(PACKAGE, outside="lumiaudit.schema")
    assert not found, "build the set in lumiaudit.schema:\n" + "\n".join(map(str, found))


def test_status_set_finder_sees_copies(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/m.py": (
                "from lumiaudit import schema\nfrom lumiaudit.schema import FileStatus\n"
                "A = {FileStatus.IO_ERROR.value, FileStatus.TRUNCATED.value}\n"
                "B = [s.value for s in schema.FileStatus if s.readable]\n"
                "C = FileStatus.OK.value\n"
            ),
        },
    )
    assert [(f.line, f.what) for f in status_sets(pkg, outside="pkg.schema")] == [
        (3, "a literal set of FileStatus members"),
        (4, "a comprehension over FileStatus"),
    ]


#: modules that may format a thousands separator themselves, and why
SEPARATORS_ELSEWHERE = {
    # the one formatter (docs/ARCHITECTURE.md)
    "lumiaudit.numbers": "fmt",
    # writes the example's *input*: a shifter typing "10,231" into the elog, which the online
    # reader must parse; not a number shown to a reader
    "lumiaudit.example": "elog text as typed",
}


def test_separator_finder_sees_every_kind(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/m.py": (
                "n, w = 10231, 8\n"
                'a = f"{n:,}"\n'
                'b = f"{n:+,.2f} and {n:>{w},}"\n'
                'c = format(n, ",")\n'
                'd = "{:,} of {total:_}".format(n, total=n)\n'
                # not separators: text, other specs, a comma as fill, a doubled brace
                'e = f"{n:d}, {n:>8}, {n:,<8}" + "a, b" + "{{:,}}".format()\n'
                'f = "%d" % n\n'
            ),
            "pkg/fmt.py": 'def fmt(n):\n    return f"{n:,}"\n',
        },
    )
    found = [(f.line, f.what) for f in separator_formats(pkg, outside=("pkg.fmt",))]
    assert found == [
        (2, "f-string spec ','"),
        (3, "f-string spec '+,.2f'"),
        (3, "f-string spec '>1,'"),
        (4, "format(..., ',')"),
        (5, "str.format spec ','"),
        (5, "str.format spec '_'"),
    ]


def test_one_number_formatter() -> None:
    # every number people read goes through lumiaudit.numbers.fmt (issue 16)
    found = separator_formats(PACKAGE, outside=tuple(SEPARATORS_ELSEWHERE))
    assert not found, "format with lumiaudit.numbers.fmt:\n" + "\n".join(map(str, found))
    still = {f.module for f in separator_formats(PACKAGE, outside=())}
    assert set(SEPARATORS_ELSEWHERE) <= still, "an allowed module formats none: drop it"


#: exception classes that may live outside errors.py, and why
EXCEPTIONS_ELSEWHERE = {
    # click's exit-2 message type for the CLI; errors.py stays free of click
    "lumiaudit.cli._common.InputError": "click.ClickException",
}


def test_every_exception_class_is_in_errors() -> None:
    import ast

    found = []
    for name, path in modules(PACKAGE).items():
        if name == "lumiaudit.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if any(re.search(r"(Error|Exception)$", b) for b in bases) or re.search(
                    r"(Error|Exception)$", node.name
                ):
                    found.append(f"{name}.{node.name}")
    assert sorted(set(found) - set(EXCEPTIONS_ELSEWHERE)) == []
    assert set(EXCEPTIONS_ELSEWHERE) <= set(found), "an allowed exception is gone: drop it"


def test_readme_and_the_page_know_every_reason_code() -> None:
    """The README's list of reason codes lacked seven of them (online_count_unreadable among
    them); each code also has words for the report and the tickets."""
    from lumiaudit.render.firstscreen import REASON_WORDS
    from lumiaudit.schema import Reason

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = readme.split("Reason codes (", 1)[1].split("\n\n", 1)[0]
    codes = {r.value for r in Reason}
    assert sorted(c for c in codes if f"`{c}`" not in listed) == []
    assert sorted(codes - set(REASON_WORDS)) == []
