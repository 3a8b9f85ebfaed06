"""Never destroy: every output option meets every kind of existing path the same way.

Table-driven over the situations an output path can be in (absent, empty, an earlier lumiaudit
output, a directory of someone else's files, an input, a parent of an input, a path inside an
input, a symlink to an input, ``.``, ``..``, ``/``, a file, a path below a file) for ``audit``,
``demo``, ``report``, ``nightly`` and ``runlist --symlink-view``. A refused output is exit 2
with one line, before anything is read, and the whole tree (inputs and the previous output)
is byte-identical afterwards (hashed before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lumiaudit.cli import cli
from lumiaudit.example import write_basf2_file
from lumiaudit.store.outdir import MARKER, read_marker
from tests.support.faults import run_entry, write_elog_day

REFUSED = "refused"
OK = "ok"


def _tree(root: Path) -> dict[str, str]:
    """Every entry below ``root``: file contents hashed, links by target, dirs by name."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"-> {path.readlink()}"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, catch_exceptions=True)


def _one_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    # click's own checks of an option too give one line (lumiaudit.cli.LazyGroup)
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny production (2 runs) and its elog, copied into every test's world."""
    root = tmp_path_factory.mktemp("template")
    for run in (101, 102):
        write_basf2_file(
            root / "prod" / f"r{run:05d}" / f"mdst.physics.0012.{run:05d}.HLT1.f00000.root",
            experiment=12,
            run=run,
            n_events=5,
        )
    write_elog_day(root / "elog" / "210301a.log", [run_entry(1, 101, "5"), run_entry(2, 102, "7")])
    return root


@pytest.fixture
def world(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(template, tmp_path / "w", symlinks=True)
    work = tmp_path / "w" / "cwd"
    work.mkdir()
    (work / "thesis.tex").write_text("\\chapter{mine}\n", encoding="utf-8")
    monkeypatch.chdir(work)
    return tmp_path / "w"


def _marked(path: Path, kind: str) -> Path:
    path.mkdir(parents=True)
    (path / MARKER).write_text(json.dumps({"kind": kind}), encoding="utf-8")
    (path / "runs.csv").write_text("old output\n", encoding="utf-8")
    return path


#: situation -> (make the output path in the world, expected outcome, words of the message)
Situation = Callable[[Path, str], Path]


def _absent(w: Path, kind: str) -> Path:
    return w / "new" / "out"


def _empty(w: Path, kind: str) -> Path:
    (w / "out").mkdir()
    return w / "out"


def _earlier(w: Path, kind: str) -> Path:
    return _marked(w / "out", kind)


def _other_kind(w: Path, kind: str) -> Path:
    return _marked(w / "out", "nightly" if kind != "nightly" else "report")


def _foreign(w: Path, kind: str) -> Path:
    out = w / "out"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.tex").write_text("do not delete", encoding="utf-8")
    (out / "sub" / "important.dat").write_bytes(b"\x00data")
    (out / "old.ipynb").write_text("{}", encoding="utf-8")  # a notebook proves nothing
    return out


def _the_input(w: Path, kind: str) -> Path:
    return w / "prod"


def _parent_of_input(w: Path, kind: str) -> Path:
    return w


def _inside_input(w: Path, kind: str) -> Path:
    return w / "prod" / "r00101" / "out"


def _symlink_to_input(w: Path, kind: str) -> Path:
    (w / "link").symlink_to(w / "prod", target_is_directory=True)
    return w / "link"


def _symlink_to_marked(w: Path, kind: str) -> Path:
    _marked(w / "real", kind)
    (w / "link").symlink_to(w / "real", target_is_directory=True)
    return w / "link"


def _dot(w: Path, kind: str) -> Path:
    return Path()


def _dotdot(w: Path, kind: str) -> Path:
    return Path("..")


def _root(w: Path, kind: str) -> Path:
    return Path("/")


def _a_file(w: Path, kind: str) -> Path:
    (w / "file").write_text("a file\n", encoding="utf-8")
    return w / "file"


def _below_a_file(w: Path, kind: str) -> Path:
    (w / "file").write_text("a file\n", encoding="utf-8")
    return w / "file" / "out"


SITUATIONS: dict[str, tuple[Situation, str, str]] = {
    "absent": (_absent, OK, ""),
    "empty": (_empty, OK, ""),
    "earlier output": (_earlier, OK, ""),
    "other kind": (_other_kind, REFUSED, "not a"),
    "unmarked with files": (_foreign, REFUSED, "not a lumiaudit output"),
    "the input itself": (_the_input, REFUSED, "is an input"),
    "parent of an input": (_parent_of_input, REFUSED, "contains the input"),
    "inside an input": (_inside_input, REFUSED, "lies inside the input"),
    "symlink to an input": (_symlink_to_input, REFUSED, "symlink"),
    "symlink to an earlier output": (_symlink_to_marked, REFUSED, "symlink"),
    ".": (_dot, REFUSED, "working directory|contains the input"),
    "..": (_dotdot, REFUSED, "working directory|contains the input"),
    "/": (_root, REFUSED, "root directory"),
    "a file": (_a_file, REFUSED, "not a directory|is a file"),
    "below a file": (_below_a_file, REFUSED, "not a directory"),
}


def _check(result: Result, world: Path, before: dict[str, str], expected: str, words: str) -> None:
    if expected == REFUSED:
        assert result.exit_code == 2, result.output
        line = _one_line(result)
        assert re.search(words, line), line
        assert _tree(world) == before, "a refused run changed the tree"
        assert not list(world.rglob(".*.tmp-*")), "temporary directory left behind"
    else:
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
def test_audit_out(world: Path, situation: str) -> None:
    make, expected, words = SITUATIONS[situation]
    out = make(world, "audit")
    before = _tree(world)
    result = _invoke(
        ["audit", "--online", str(world / "elog"), "--offline", str(world / "prod"),
         "--out", str(out), "--no-plots", "--no-progress"]
    )  # fmt: skip
    _check(result, world, before, expected, words)
    if expected == OK:
        assert (read_marker(out) or {}).get("kind") == "audit"
        assert (out / "runs.csv").read_text(encoding="utf-8") != "old output\n"
        assert (out / "tables.json").is_file()


@pytest.mark.parametrize("situation", ["other kind", "unmarked with files", ".", "a file"])
def test_demo_out_refused(world: Path, situation: str) -> None:
    make, expected, words = SITUATIONS[situation]
    out = make(world, "demo")
    before = _tree(world)
    result = _invoke(["demo", "--out", str(out)])
    _check(result, world, before, expected, words)


@pytest.mark.slow
@pytest.mark.parametrize("situation", ["absent", "earlier output"])
def test_demo_out_written(world: Path, situation: str, bundled_example: Path) -> None:
    make, _, _ = SITUATIONS[situation]
    out = make(world, "audit")  # a demo may replace an audit and the other way round
    result = _invoke(["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (read_marker(out) or {}).get("kind") == "demo"


def test_audit_refuses_before_counting(world: Path) -> None:
    """The output is checked before any input is read: a missing input is not reached."""
    out = _foreign(world, "audit")
    before = _tree(world)
    result = _invoke(
        ["audit", "--online", str(world / "nope"), "--offline", str(world / "prod"),
         "--out", str(out), "--no-plots"]
    )  # fmt: skip
    _check(result, world, before, REFUSED, "not a lumiaudit output")


def test_junit_that_is_an_input_is_refused(world: Path) -> None:
    target = next((world / "prod").rglob("*.root"))
    before = _tree(world)
    result = _invoke(
        ["audit", "--online", str(world / "elog"), "--offline", str(world / "prod"),
         "--out", str(world / "out"), "--no-plots", "--junit", str(target)]
    )  # fmt: skip
    _check(result, world, before, REFUSED, "input")
    assert not (world / "out").exists()


@pytest.fixture
def audit_dir(world: Path) -> Path:
    out = world / "audit"
    result = _invoke(
        ["audit", "--online", str(world / "elog"), "--offline", str(world / "prod"),
         "--out", str(out), "--no-plots", "--no-progress"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


#: for views, the input is the audit directory
_VIEW_INPUT = {"the input itself", "parent of an input", "inside an input", "symlink to an input"}


@pytest.mark.parametrize("situation", sorted(set(SITUATIONS) - {"/"}))
def test_symlink_view_out(world: Path, audit_dir: Path, situation: str) -> None:
    make, expected, words = SITUATIONS[situation]
    if situation in _VIEW_INPUT:
        shutil.rmtree(world / "prod")  # the audit directory plays the input here
        shutil.move(audit_dir, world / "prod")
        audit_dir = world / "prod"
    out = make(world, "views")
    if situation == "parent of an input":
        out = world
    before = _tree(world)
    result = _invoke(["runlist", "--from", str(audit_dir), "--symlink-view", str(out)])
    if expected == REFUSED:
        assert result.exit_code == 2, result.output
        errors = [x for x in result.output.splitlines() if x.startswith("Error:")]
        assert len(errors) == 1, result.output
        assert re.search(words, errors[0]), result.output
        assert _tree(world) == before
    else:
        assert result.exit_code == 0, result.output
        marker = read_marker(out) or {}
        assert marker.get("kind") == "views"
        assert "GoodRuns/r00101" in marker["links"]


def test_symlinked_view_directory_is_never_followed(world: Path, audit_dir: Path) -> None:
    """VIEWS/GoodRuns -> someone else's directory of links: refused, nothing removed."""
    views = world / "views"
    ok = _invoke(["runlist", "--from", str(audit_dir), "--symlink-view", str(views)])
    assert ok.exit_code == 0, ok.output
    other = world / "other links"
    other.mkdir()
    (other / "r09999").symlink_to(world / "prod", target_is_directory=True)
    (other / "keep.txt").write_text("mine", encoding="utf-8")
    shutil.rmtree(views / "GoodRuns")
    (views / "GoodRuns").symlink_to(other, target_is_directory=True)
    before = _tree(world)
    result = _invoke(["runlist", "--from", str(audit_dir), "--symlink-view", str(views)])
    assert result.exit_code == 2, result.output
    assert "never follow" in result.output
    assert _tree(world) == before
    assert (other / "r09999").is_symlink()


# ------------------------------------------------------------------ report and nightly


@pytest.fixture(scope="module")
def echo_notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny notebook: an ``online`` input parameter, a mode choice, fails on demand."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell(
        "online: list[str] = []  # input paths\n"
        'mode: str = "auto"  # fast, deep or auto\n'
        "fail: bool = False  # fail on purpose\n"
    )
    params.metadata["tags"] = ["parameters"]
    book = new_notebook(
        cells=[
            params,
            new_code_cell('print("online", online)'),
            new_code_cell('if fail:\n    raise RuntimeError("deliberate failure")'),
        ]
    )
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path_factory.mktemp("nb") / "echo.ipynb"
    nbformat.write(book, path)
    return path


def _report(notebook: Path, world: Path, out: Path, *extra: str) -> Result:
    return _invoke(
        ["report", "--notebook", str(notebook), "--out", str(out), "--no-html",
         "-p", "online", json.dumps([str(world / "prod")]), *extra]
    )  # fmt: skip


@pytest.mark.parametrize(
    "situation", sorted(s for s, (_, expected, _) in SITUATIONS.items() if expected == REFUSED)
)
def test_report_out_refused_before_the_kernel(
    world: Path, echo_notebook: Path, situation: str
) -> None:
    make, expected, words = SITUATIONS[situation]
    out = make(world, "report")
    before = _tree(world)
    # a kernel that does not exist: a refusal must come before any kernel is asked for
    result = _report(echo_notebook, world, out, "--kernel", "no-such-kernel")
    _check(result, world, before, expected, words)


@pytest.mark.slow
@pytest.mark.parametrize("situation", ["absent", "empty", "earlier output"])
def test_report_out_written(world: Path, echo_notebook: Path, situation: str) -> None:
    make, _, _ = SITUATIONS[situation]
    out = make(world, "report")
    result = _report(echo_notebook, world, out)
    assert result.exit_code == 0, result.output
    assert (read_marker(out) or {}).get("kind") == "report"
    assert (out / "echo.ipynb").is_file()
    assert not (out / "runs.csv").exists()  # the earlier report was replaced as a whole


def test_report_parameter_values_are_checked_before_the_kernel(
    world: Path, echo_notebook: Path
) -> None:
    before = _tree(world)
    result = _report(
        echo_notebook, world, world / "out", "-p", "mode", "sideways", "--kernel", "no-such"
    )
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert "'mode'" in line, line
    assert "sideways" in line, line
    assert "auto, fast, deep" in line, line
    assert _tree(world) == before
    overview = _invoke(
        ["report", "--out", str(world / "out"), "--online", str(world / "elog"),
         "--offline", str(world / "prod"), "-p", "policy", "newest", "--kernel", "no-such"]
    )  # fmt: skip
    assert overview.exit_code == 2
    # the audit's options are checked by AuditOptions (the notebooks no longer copy them)
    assert "parameter policy: 'newest' is not one of latest" in _one_line(overview)


@pytest.mark.slow
def test_report_failing_in_a_cell_keeps_the_previous_report(
    world: Path, echo_notebook: Path
) -> None:
    out = world / "report"
    first = _report(echo_notebook, world, out)
    assert first.exit_code == 0, first.output
    complete = _tree(out)
    failed = _report(echo_notebook, world, out, "-p", "fail", "true")
    assert failed.exit_code == 2
    line = _one_line(failed)
    assert "failed in cell" in line, line
    assert "unchanged" in line, line
    assert _tree(out) == complete, "the failed rerun changed the complete report"
    kept = world / "report.failed"
    assert str(kept / "echo.ipynb") in line
    assert (read_marker(kept) or {}).get("failed") is True
    # a second failure replaces the first failed attempt, never the complete report
    again = _report(echo_notebook, world, out, "-p", "fail", "true")
    assert again.exit_code == 2
    assert _tree(out) == complete


@pytest.mark.slow
def test_report_and_audit_directories_follow_the_umask(world: Path, echo_notebook: Path) -> None:
    old = os.umask(0o027)
    try:
        result = _report(echo_notebook, world, world / "report")
        audit = _invoke(
            ["audit", "--online", str(world / "elog"), "--offline", str(world / "prod"),
             "--out", str(world / "audit"), "--no-plots", "--no-progress"]
        )  # fmt: skip
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert audit.exit_code == 0, audit.output
    assert (world / "report").stat().st_mode & 0o777 == 0o750
    assert (world / "audit").stat().st_mode & 0o777 == 0o750
    assert (world / "audit" / "runs.csv").stat().st_mode & 0o777 == 0o640


def _nightly_config(world: Path, reports: Path) -> Path:
    config = world / "nightly.toml"
    config.write_text(
        f'[nightly]\nonline = ["{world / "elog"}"]\noffline = ["{world / "prod"}"]\n'
        f'reports = "{reports}"\n',
        encoding="utf-8",
    )
    return config


_NIGHTLY_REFUSED = sorted(
    s for s, (_, expected, _) in SITUATIONS.items() if expected == REFUSED and s != "other kind"
)


@pytest.mark.parametrize("situation", [*_NIGHTLY_REFUSED, "latest is a directory"])
def test_nightly_reports_refused(world: Path, situation: str) -> None:
    if situation == "latest is a directory":
        reports = _marked(world / "reports", "nightly")
        (reports / "latest").mkdir()
        (reports / "latest" / "notes.txt").write_text("mine", encoding="utf-8")
        words = "not a symlink"
    else:
        make, _, words = SITUATIONS[situation]
        reports = make(world, "nightly")
    config = _nightly_config(world, reports)
    before = _tree(world)
    result = _invoke(["nightly", "--config", str(config)])
    _check(result, world, before, REFUSED, words)


def test_nightly_adopts_a_reports_directory_with_its_lock(world: Path) -> None:
    """A reports directory from before the marker (it has the lock file) is lumiaudit's."""
    from lumiaudit.nightly import _mark_reports, _prepare_reports, read_config

    reports = world / "reports"
    reports.mkdir()
    (reports / ".nightly.lock").write_text("", encoding="utf-8")
    (reports / "2026-01-01T000000Z").mkdir()
    config = read_config(_nightly_config(world, reports))
    before = _tree(world)
    _prepare_reports(config)
    assert _tree(world) == before  # checked only: the marker comes once the lock is held
    _mark_reports(reports)
    assert (read_marker(reports) or {}).get("kind") == "nightly"


# ------------------------------------------------------------------ single output files

#: command -> arguments with {out} for the output file (inputs are in the world)
FILE_OPTIONS: dict[str, list[str]] = {
    "count -o": ["count", "{w}/prod", "--no-progress", "-o", "{out}"],
    "count --runs": ["count", "{w}/prod", "--no-progress", "--runs", "{out}"],
    "online -o": ["online", "{w}/elog", "-o", "{out}"],
    "online --problems": ["online", "{w}/elog", "--problems", "{out}"],
    "runlist -o": ["runlist", "--from", "{w}/audit", "-o", "{out}"],
    "ticket -o": ["ticket", "--audit", "{w}/audit", "-o", "{out}"],
    "audit --junit": ["audit", "--online", "{w}/elog", "--offline", "{w}/prod",
                      "--out", "{w}/new audit", "--no-plots", "--junit", "{out}"],
}  # fmt: skip

FILE_SITUATIONS: dict[str, tuple[Callable[[Path], str], str]] = {
    ".": (lambda w: ".", "directory"),
    "..": (lambda w: "..", "directory"),
    "/": (lambda w: "/", "directory"),
    "a symlink to a directory": (lambda w: str(w / "link"), "directory"),
    "below a file": (lambda w: str(w / "file" / "x.csv"), "not a directory"),
    "an input file": (lambda w: "{input_file}", "input"),
    "inside an input": (lambda w: "{input_dir}/list.csv", "input"),
}


@pytest.mark.parametrize("situation", sorted(FILE_SITUATIONS))
@pytest.mark.parametrize("option", sorted(FILE_OPTIONS))
def test_output_files(world: Path, audit_dir: Path, option: str, situation: str) -> None:
    (world / "file").write_text("a file\n", encoding="utf-8")
    (world / "link").symlink_to(world / "prod", target_is_directory=True)
    args = FILE_OPTIONS[option]
    reads_audit = option.split(maxsplit=1)[0] in ("runlist", "ticket")
    input_dir = audit_dir if reads_audit else world / ("elog" if "online" in option else "prod")
    input_file = next(p for p in sorted(input_dir.rglob("*")) if p.is_file())
    make, words = FILE_SITUATIONS[situation]
    out = make(world).format(input_file=input_file, input_dir=input_dir)
    before = _tree(world)
    result = _invoke([a.format(w=world, out=out) for a in args])
    assert result.exit_code == 2, result.output
    line = _one_line(result)
    assert words in line, line
    assert _tree(world) == before


@pytest.mark.slow
def test_report_renders_a_stored_audit_without_recounting(world: Path, audit_dir: Path) -> None:
    stored = json.loads((audit_dir / "summary.json").read_text(encoding="utf-8"))
    shutil.rmtree(world / "prod")  # nothing left to count: the audit directory must be enough
    out = world / "rendered"
    result = _invoke(["report", "--audit", str(audit_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    import nbformat

    book = nbformat.read(out / "audit_overview.ipynb", as_version=4)
    record = book.metadata["lumiaudit"]
    assert record["parameters"]["audit_dir"] == str(audit_dir)
    assert record["summary"]["created"] == stored["created"]
    assert (out / "audit_overview.html").is_file()
    assert (read_marker(out) or {}).get("kind") == "report"
    # the stored audit is an input: rendering into it is refused
    refused = _invoke(["report", "--audit", str(audit_dir), "--out", str(audit_dir)])
    assert refused.exit_code == 2
    assert "is an input" in _one_line(refused)


def test_a_junit_file_that_cannot_be_written_leaves_the_previous_audit(
    world: Path, audit_dir: Path, tmp_path: Path
) -> None:
    if os.geteuid() == 0:
        junit = Path("/proc/lumiaudit-cannot-write-here.xml")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        junit = locked / "audit.xml"
    before = _tree(audit_dir)
    result = _invoke(
        ["audit", "--online", str(world / "elog"), "--offline", str(world / "prod"),
         "--out", str(audit_dir), "--no-plots", "--no-progress", "--junit", str(junit)]
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "cannot write" in _one_line(result)
    assert _tree(audit_dir) == before


def test_an_input_given_as_a_symlink_inside_the_output_is_protected(world: Path) -> None:
    """``--offline OUT/prod-link``: replacing OUT would remove the link the user gave."""
    out = _marked(world / "out", "audit")
    (out / "prod-link").symlink_to(world / "prod", target_is_directory=True)
    before = _tree(world)
    result = _invoke(
        ["audit", "--online", str(world / "elog"), "--offline", str(out / "prod-link"),
         "--out", str(out), "--no-plots"]
    )  # fmt: skip
    _check(result, world, before, REFUSED, "contains the input")


@pytest.mark.parametrize("failure", ["missing input", "bad mask", "no such kernel"])
def test_a_failed_run_leaves_the_earlier_output_byte_identical(
    world: Path, audit_dir: Path, echo_notebook: Path, failure: str
) -> None:
    before = _tree(world)
    if failure == "missing input":
        args = ["audit", "--online", str(world / "nope"), "--offline", str(world / "prod"),
                "--out", str(audit_dir), "--no-plots"]  # fmt: skip
    elif failure == "bad mask":
        (world / "mask.json").write_text("[1,", encoding="utf-8")
        before = _tree(world)
        mask = str(world / "mask.json")
        args = ["audit", "--online", str(world / "elog"), "--offline", str(world / "prod"),
                "--out", str(audit_dir), "--no-plots", "--mask", mask]  # fmt: skip
    else:
        report = _marked(world / "report", "report")
        before = _tree(world)
        args = ["report", "--notebook", str(echo_notebook), "--out", str(report),
                "--kernel", "no-such-kernel"]  # fmt: skip
    result = _invoke(args)
    assert result.exit_code == 2, result.output
    _one_line(result)
    assert _tree(world) == before
    assert not list(world.rglob(".*.tmp-*"))
