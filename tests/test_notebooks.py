"""Notebook templates: found installed or in the tree, stripped, typed, library-only."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from lumiaudit import notebooks
from lumiaudit.errors import ParameterError
from lumiaudit.notebooks import (
    NOTEBOOKS,
    file_health_tables,
    flagged_table,
    list_notebooks,
    notebook_dir,
    notebook_path,
    open_audit,
    run_tables,
)
from lumiaudit.report import notebook_parameters
from lumiaudit.schema import UNREADABLE_STATUSES, FileStatus

REPO = Path(__file__).resolve().parents[1]
#: what a template may import: the library and display plumbing, nothing that computes
ALLOWED_IMPORTS = {"lumiaudit", "IPython", "matplotlib"}


def _book(name: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)


def test_templates_are_found_in_the_source_tree() -> None:
    assert notebook_dir() == REPO / "notebooks"
    assert set(NOTEBOOKS) <= set(list_notebooks())
    for name in NOTEBOOKS:
        assert notebook_path(name) == REPO / "notebooks" / f"{name}.ipynb"
        assert notebook_path(f"{name}.ipynb") == notebook_path(name)


def test_unknown_template_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="audit_overview") as err:
        notebook_path("no_such_notebook")
    assert "unknown notebook 'no_such_notebook'" in str(err.value)
    with pytest.raises(ParameterError):
        notebook_path(tmp_path / "missing.ipynb")


def test_a_notebook_file_path_is_accepted(tmp_path: Path) -> None:
    own = tmp_path / "mine.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), own)
    assert notebook_path(own) == own.resolve()


def test_environment_variable_points_to_another_template_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "site_report.ipynb")
    monkeypatch.setenv("LUMIAUDIT_NOTEBOOKS", str(tmp_path))
    assert notebook_dir() == tmp_path
    assert list_notebooks() == ["site_report"]
    monkeypatch.setenv("LUMIAUDIT_NOTEBOOKS", str(tmp_path / "nothing-here"))
    assert notebook_dir() == REPO / "notebooks"  # falls back


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_templates_are_stripped_and_have_one_parameters_cell(name: str) -> None:
    book = _book(name)
    nbformat.validate(book)
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
    assert book.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_templates_only_call_the_library(name: str) -> None:
    book = _book(name)
    for cell in book.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith("%")
        )
        tree = ast.parse(source)
        for node in ast.walk(tree):
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda), name
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
                assert roots <= ALLOWED_IMPORTS, (name, roots)
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] in ALLOWED_IMPORTS, (name, node.module)


#: what each template's parameters cell may hold: the audit directory it renders, the run for
#: the drilldown, the previous audit for the overview's "what changed" (issue 12: no second copy
#: of the audit's options, which lumiaudit.options.AuditOptions declares once)
KNOBS = {
    "audit_overview": {"audit_dir", "previous"},
    "run_drilldown": {"audit_dir", "run", "experiment"},
    "file_health": {"audit_dir"},
}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cells_hold_only_the_audit_dir_and_run_knobs(name: str) -> None:
    from lumiaudit.options import AuditOptions

    params = notebook_parameters(name)
    assert set(params) == KNOBS[name]
    # the drilldown's experiment names the run's experiment, it selects nothing to audit
    knobs = set(params) - {"experiment"}
    assert not knobs & (AuditOptions.names() | {"online", "offline", "out_dir"})
    assert params["audit_dir"].annotation == "str"
    assert params["audit_dir"].default == "../reports/demo"  # what `lumiaudit demo` writes
    for param in params.values():
        assert param.help, (name, param.name)  # every parameter is documented on its line
    if name == "run_drilldown":
        assert params["run"].annotation == "int"
        assert params["experiment"].annotation == "int | None"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_templates_never_audit(name: str) -> None:
    """The audit runs once, in the calling process: a template only loads a directory."""
    code = "\n".join(c.source for c in _book(name).cells if c.cell_type == "code")
    assert "open_audit(audit_dir)" in code
    for word in ("audit(", "count_events", "read_online", "jobs", "online="):
        assert word not in code.replace("open_audit(", "").replace("_audit(", ""), word


def test_wheel_carries_the_templates_and_finds_them(tmp_path: Path) -> None:
    """`lumiaudit report` works from a wheel: the templates ship as lumiaudit/_notebooks."""
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*pip, "-w", str(tmp_path / "dist"), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("lumiaudit-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in NOTEBOOKS:
            assert f"lumiaudit/_notebooks/{name}.ipynb" in names
        zf.extractall(tmp_path / "site")
    code = "from lumiaudit.notebooks import notebook_path; print(notebook_path('run_drilldown'))"
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {code}",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert Path(out.stdout.strip()) == tmp_path / "site" / "lumiaudit" / "_notebooks" / (
        "run_drilldown.ipynb"
    )


@pytest.mark.slow
def test_drilldown_runs_top_to_bottom_as_in_jupyterlab(
    example_audit_dir: Path, tmp_path: Path
) -> None:
    """Opened from a clone after `lumiaudit demo` and run as is: JupyterLab's kernel runs in
    notebooks/, the default audit_dir is ../reports/demo (here a copy of the clone's layout)."""
    import shutil

    name = "run_drilldown"
    import papermill

    from lumiaudit.report import _kernel_env

    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    shutil.copytree(example_audit_dir, clone / "reports" / "demo")
    out = tmp_path / f"{name}.ipynb"
    with _kernel_env():
        papermill.execute_notebook(
            str(notebook_path(name)),
            str(out),
            cwd=str(clone / "notebooks"),
            progress_bar=False,
            kernel_name="python3",
        )
    book = nbformat.read(out, as_version=4)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("data:image/png" in str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert sorted(p.name for p in (clone / "notebooks").iterdir()) == []  # nothing written


# ------------------------------------------------------------------ helpers the notebooks call


@pytest.fixture(scope="module")
def example_audit_dir(example: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    import lumiaudit

    out = tmp_path_factory.mktemp("audit") / "audit"
    lumiaudit.audit([example["elog"]], [example["prod"]]).write(out, formats=("png",))
    return out


@pytest.fixture(scope="module")
def example_audit(example_audit_dir: Path) -> object:
    return open_audit(example_audit_dir)


def test_open_audit_names_the_directory_and_how_to_make_one(tmp_path: Path) -> None:
    from lumiaudit.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError, match="no audit directory here") as err:
        open_audit(tmp_path / "reports" / "demo")
    assert "lumiaudit demo" in str(err.value)
    assert str(tmp_path / "reports" / "demo") in str(err.value)


def test_run_list_table_is_a_table_of_the_written_lists(
    example_audit: object, example_audit_dir: Path
) -> None:
    import json

    from lumiaudit.notebooks import run_list_table

    table = run_list_table(example_audit)  # type: ignore[arg-type]
    assert list(table.columns[:3]) == ["list", "experiment", "run"]
    bad = json.loads((example_audit_dir / "bad_runs.json").read_text(encoding="utf-8"))
    listed = table[table["list"].isin(["bad", "ugly"])]
    assert sorted(int(r) for r in listed["run"]) == sorted(int(r["run"]) for r in bad)


def test_flagged_and_run_tables(example_audit: object) -> None:
    audit = example_audit
    flagged = flagged_table(audit)  # type: ignore[arg-type]
    runs = audit.runs  # type: ignore[attr-defined]
    assert len(flagged) == int(runs["flagged"].fillna(False).sum()) > 0
    assert {"run", "status", "reasons"} <= set(flagged.columns)
    run = int(flagged["run"].iloc[0])
    experiment = int(flagged["experiment"].iloc[0])
    tables = run_tables(audit, run, experiment)  # type: ignore[arg-type]
    fields = tables["run"]
    # one row per field with its name shown (the HTML shows no index), values by their kind
    assert list(fields.columns) == ["field", f"run {run} (e{experiment})"]
    assert fields.loc["run"].tolist() == ["run", str(run)]
    assert "reasons" in fields["field"].tolist()
    lumi = fields.loc["lumi_nb"].iloc[1]
    assert pd.isna(lumi) or "b^-1" in lumi  # a luminosity, not a count
    files = tables["files"]
    of_run = audit.files[(audit.files["run"] == run).fillna(False)]  # type: ignore[attr-defined]
    assert len(files) == len(of_run)
    assert set(files["path"]) == set(of_run["path"])
    # the page's first line names the run: the files table says where, what and why
    assert list(files.columns[:4]) == ["file", "hlt_unit", "file_index", "status"]
    assert "run_type" not in files.columns
    entries = tables["online entries"]
    assert set(entries["run"]) <= {run}


def test_file_health_tables(example_audit: object) -> None:
    audit = example_audit
    files: pd.DataFrame = audit.files  # type: ignore[attr-defined]
    health = file_health_tables(audit)  # type: ignore[arg-type]
    status = health["status"]
    assert int(status["files"].sum()) == len(files)
    readable = {s.value for s in FileStatus if s.readable}
    unreadable = health["unreadable"]
    # the one "unreadable" set (schema): a duplicate is readable, and listed as a duplicate
    assert len(unreadable) == int(files["status"].isin(UNREADABLE_STATUSES).sum()) > 0
    assert not set(unreadable["status"]) & (readable | {"duplicate"})
    assert set(health["duplicates"]["status"]) <= {"duplicate"}
    assert len(health["gaps"]) == len(audit.gaps)  # type: ignore[attr-defined]
    # estimates in whole events (the example's gap is the median of two files: 380.5)
    assert str(health["gaps"]["est_events"].dtype) == "Int64"
    # an unreadable file has no entry count: its status's sum is missing, never 0
    by_status = status.set_index("status")
    for bad in set(unreadable["status"]):
        assert pd.isna(by_status.loc[bad, "entries"]), bad
    assert int(by_status.loc["ok", "entries"]) > 0
    # the problem tables name the file, where and why first; the long path last
    assert list(unreadable.columns[:7]) == [
        "file",
        "experiment",
        "run",
        "hlt_unit",
        "file_index",
        "status",
        "error",
    ]
    assert unreadable.columns[-1] == "path"


def test_page_verdicts_of_the_drilldown_and_file_health(example_audit: object) -> None:
    from lumiaudit.render.firstscreen import files_verdict, run_verdict

    audit = example_audit
    runs: pd.DataFrame = audit.runs  # type: ignore[attr-defined]
    # the example's runs, one of each kind (data/example: injected faults)
    said = {run: run_verdict(runs, run) for run in (101, 105, 113, 117, 119, 123)}
    assert said[101].level == "ok"
    assert (
        said[101].text == "run 101 (e12): fine - online 1,267 = offline 1,267 (error-free events)"
    )
    assert (said[105].level, said[105].text) == (
        "warn",
        "run 105 (e12): WARN - 252 events missing offline: a file cannot be read (252 events)",
    )
    assert said[113].text.startswith("run 113 (e12): WARN - 2,753 events more offline than")
    assert said[117].text == "run 117 (e12): not audited - not a physics run (1,976 events)"
    assert said[119].level == "fail"
    assert said[119].text.startswith("run 119 (e12): FAIL - 42 events missing offline")
    # missing stays missing: no offline count is not "0 offline"
    assert said[123].text.startswith("run 123 (e12): FAIL - 3,213 events online, no offline count")
    assert run_verdict(runs, 999).text == "run 999: not in this audit (24 runs: 101-124)"
    health = files_verdict(audit.files, audit.gaps)  # type: ignore[attr-defined]
    assert (health.level, health.text) == (
        "warn",
        "file health: 1 of 137 files unreadable, 1 missing from its sequence, 1 duplicate",
    )


def test_notebooks_module_has_all() -> None:
    for name in notebooks.__all__:
        assert hasattr(notebooks, name)


def test_the_verdict_counts_losses_against_the_audited_runs(example_audit: object) -> None:
    """The verdict's "X of Y online events" is out of the audited runs' online events (the
    funnel's top bar), not of every run's: cosmic run 117's 1,976 events are not audited."""
    from lumiaudit.render.firstscreen import headline_numbers, verdict

    audit = example_audit
    runs: pd.DataFrame = audit.runs  # type: ignore[attr-defined]
    summary = audit.summary  # type: ignore[attr-defined]
    funnel = audit.funnel  # type: ignore[attr-defined]
    n = headline_numbers(summary, runs, funnel)
    audited = runs["status"].astype("string") != "NOT_AUDITED"
    expected = int(pd.to_numeric(runs.loc[audited, "n_online"]).sum())
    assert n["events_online_audited"] == expected
    assert n["events_online"] - n["events_online_audited"] == 1_976
    top = funnel[funnel["bucket"].astype("string") != "non_physics"]
    assert int(pd.to_numeric(top["events"]).sum()) == expected  # the funnel's audited online
    text = verdict(summary, runs, funnel).text
    assert f"of {expected:,} audited online events not matched offline" in text


def test_a_run_without_offline_files_says_where_they_were_looked_for(
    example_audit: object,
) -> None:
    from lumiaudit.render.firstscreen import flagged_runs

    audit = example_audit
    table = flagged_runs(audit.tables(), audit.summary)  # type: ignore[attr-defined]
    look = table.loc[table["run"] == 123, "look_at"].item()
    assert look == ["offline: no file of this run under prod"]
