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


def test_parameters_cells_are_typed() -> None:
    overview = notebook_parameters("audit_overview")
    assert overview["online"].annotation == "list[str]"
    assert overview["experiment"].annotation == "int | None"
    assert overview["jobs"].default == 1
    assert not any(p.required for p in overview.values())
    drill = notebook_parameters("run_drilldown")
    assert drill["run"].annotation == "int"
    assert set(overview) < set(drill)
    # every parameter is documented on its line
    for name in NOTEBOOKS:
        for param in notebook_parameters(name).values():
            assert param.help, (name, param.name)


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
    bundled_example: Path, tmp_path: Path
) -> None:
    """Opened from a fresh clone and run as is (JupyterLab's kernel runs in notebooks/)."""
    name = "run_drilldown"
    import papermill

    from lumiaudit.report import _kernel_env

    out = tmp_path / f"{name}.ipynb"
    with _kernel_env():
        papermill.execute_notebook(
            str(notebook_path(name)),
            str(out),
            cwd=str(REPO / "notebooks"),
            progress_bar=False,
            kernel_name="python3",
        )
    book = nbformat.read(out, as_version=4)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not list((REPO / "notebooks").glob("*.csv"))  # nothing written beside the templates


# ------------------------------------------------------------------ helpers the notebooks call


@pytest.fixture(scope="module")
def example_audit(example: dict[str, Path]) -> object:
    return open_audit(online=[str(example["elog"])], offline=[str(example["prod"])])


def test_open_audit_needs_inputs_or_a_directory() -> None:
    with pytest.raises(ParameterError, match="online and offline"):
        open_audit(online=["x"])


def test_open_audit_rejects_unknown_thresholds(example: dict[str, Path]) -> None:
    with pytest.raises(ParameterError, match="no_such_threshold"):
        open_audit(
            online=[str(example["elog"])],
            offline=[str(example["prod"])],
            thresholds={"no_such_threshold": 1.0},
        )


def test_flagged_and_run_tables(example_audit: object) -> None:
    audit = example_audit
    flagged = flagged_table(audit)  # type: ignore[arg-type]
    runs = audit.runs  # type: ignore[attr-defined]
    assert len(flagged) == int(runs["flagged"].fillna(False).sum()) > 0
    assert {"run", "status", "reasons"} <= set(flagged.columns)
    run = int(flagged["run"].iloc[0])
    experiment = int(flagged["experiment"].iloc[0])
    tables = run_tables(audit, run, experiment)  # type: ignore[arg-type]
    assert tables["run"].loc["run"].tolist() == [run]
    assert "reasons" in tables["run"].index
    files = tables["files"]
    assert len(files) == int((audit.files["run"] == run).fillna(False).sum())  # type: ignore[attr-defined]
    assert set(files["run"]) <= {run}
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


def test_notebooks_module_has_all() -> None:
    for name in notebooks.__all__:
        assert hasattr(notebooks, name)
