"""run_report: parameter validation, papermill execution, failures, HTML export, audit_html."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from click.testing import CliRunner

from lumiaudit import schema
from lumiaudit.cli import cli
from lumiaudit.errors import OutputError, ParameterError, ReportError
from lumiaudit.numbers import fmt
from lumiaudit.report import ReportResult, audit_html, run_report, validate_parameters

PAYLOAD = '"); import os; os.system("touch PWNED") #'


@pytest.fixture(scope="module")
def custom_notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small notebook with a parameters cell: echoes its parameters, plots, fails on demand."""
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell(
        'label: str = "x"  # free text\n'
        "online: list[str] = []  # input paths\n"
        "fail: bool = False  # fail on purpose\n"
        "out_dir: str | None = None  # set by the report"
    )
    params.metadata["tags"] = ["parameters"]
    book = new_notebook(
        cells=[
            params,
            new_code_cell(
                "import json, pathlib\n"
                'pathlib.Path("echo.json").write_text(json.dumps({"label": label, '
                '"online": online}))'
            ),
            new_code_cell(
                "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\nprint(label)"
            ),
            new_code_cell('if fail:\n    raise RuntimeError("deliberate failure: " + label)'),
            new_code_cell('print("after the failure")'),
        ]
    )
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path_factory.mktemp("nb") / "custom.ipynb"
    nbformat.write(book, path)
    return path


# ------------------------------------------------------------------ validation (no kernel)


def test_unknown_parameter_is_refused_before_the_kernel_starts(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"unknown parameter 'bogus'.*known: audit_dir") as err:
        run_report(online=[tmp_path], offline=[tmp_path], out=tmp_path / "r", bogus=1)
    assert "\n" not in str(err.value)
    assert "online" in str(err.value)  # the audit's inputs and options are listed too
    assert list(tmp_path.iterdir()) == []  # nothing created, no kernel started


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("jobs", "many", "parameter jobs: expected an integer, got 'many'"),
        ("jobs", True, "parameter jobs: expected an integer, got True"),
        ("experiment", 1.5, "parameter experiment: expected an integer, got 1.5"),
        ("run_range", ["a", "b"], "run_range"),
        ("thresholds", [1, 2], "expected a table of thresholds"),
        ("strict", "yes", "expected true or false"),
        ("timeout", float("nan"), "finite"),
        ("thresholds", {"z_failure": 6}, "unknown threshold 'z_failure' (known: abs_floor"),
        ("thresholds", {"z_fail": "high"}, "'z_fail' must be a number"),
        ("mode", "sideways", "'sideways' is not one of auto, fast, deep"),
    ],
)
def test_wrong_audit_options_are_refused(
    tmp_path: Path, name: str, value: Any, expected: str
) -> None:
    """The audit options of a report are AuditOptions' (the notebooks no longer copy them)."""
    with pytest.raises(ParameterError, match=re.escape(expected)):
        validate_parameters(
            "audit_overview", {"online": [tmp_path], "offline": [tmp_path], name: value}
        )


def test_values_are_converted(tmp_path: Path) -> None:
    out = validate_parameters(
        "audit_overview",
        {"online": tmp_path, "offline": [str(tmp_path)], "timeout": 3, "run_range": (1, 9)},
    )
    assert out["online"] == [str(tmp_path.resolve())]  # one path where a list is expected
    assert out["timeout"] == 3  # checked by AuditOptions, handed to the audit as given
    drill = validate_parameters("run_drilldown", {"audit_dir": tmp_path, "run": 3})
    assert drill == {"audit_dir": str(tmp_path.resolve()), "run": 3}
    with pytest.raises(ParameterError, match="parameter 'run' must be int"):
        validate_parameters("run_drilldown", {"audit_dir": tmp_path, "run": "x"})


def test_missing_paths_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-elog"
    with pytest.raises(ParameterError, match="no such file or directory") as err:
        validate_parameters("audit_overview", {"online": [missing], "offline": [tmp_path]})
    assert str(missing) in str(err.value)
    with pytest.raises(ParameterError, match="glob matches nothing"):
        validate_parameters("audit_overview", {"online": [str(tmp_path / "*.log")]})
    with pytest.raises(ParameterError, match="waivers"):
        validate_parameters(
            "audit_overview",
            {"online": [tmp_path], "offline": [tmp_path], "waivers": str(tmp_path / "w.toml")},
        )
    with pytest.raises(ParameterError, match="audit_dir"):
        validate_parameters("audit_overview", {"audit_dir": tmp_path / "gone"})
    # URLs are not checked locally
    url = "root://127.0.0.1//data/prod"
    ok = validate_parameters("audit_overview", {"online": [tmp_path], "offline": [url]})
    assert ok["offline"] == [url]


def test_required_and_missing_inputs(tmp_path: Path) -> None:
    from nbformat.v4 import new_code_cell, new_notebook

    cell = new_code_cell("run: int | None = None  # the run (required)\nnote: str = ''  # text")
    cell.metadata["tags"] = ["parameters"]
    own = tmp_path / "own.ipynb"
    nbformat.write(new_notebook(cells=[cell]), own)
    with pytest.raises(ParameterError, match="'run' is required"):
        validate_parameters(own, {"note": "x"})
    assert validate_parameters(own, {"run": 3}) == {"run": 3}
    with pytest.raises(ParameterError, match="unknown parameter 'jobs'"):
        validate_parameters(own, {"run": 3, "jobs": 2})  # it renders no audit
    with pytest.raises(ParameterError, match="give offline sources"):
        validate_parameters("audit_overview", {"online": [tmp_path]})
    with pytest.raises(ParameterError, match="not used with a stored audit"):
        validate_parameters("audit_overview", {"audit_dir": tmp_path, "jobs": 2})


def test_an_existing_directory_that_is_not_a_report_is_kept(tmp_path: Path) -> None:
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("do not delete", encoding="utf-8")
    inputs = tmp_path / "in"
    inputs.mkdir()
    with pytest.raises(OutputError, match="not a lumiaudit output"):
        run_report(online=[inputs], offline=[inputs], out=precious)
    assert (precious / "chapter1.tex").read_text(encoding="utf-8") == "do not delete"


def test_cli_bad_parameter_exits_2_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    t = str(tmp_path)
    result = runner.invoke(
        cli,
        ["report", "--online", t, "--offline", t, "--out", f"{t}/r", "-p", "jobs", "many"],
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "parameter jobs: expected an integer, got 'many'" in result.output
    missing = runner.invoke(
        cli,
        ["report", "--online", f"{t}/nope", "--offline", t, "--out", f"{t}/r"],
    )
    assert missing.exit_code == 2
    assert "no such file or directory" in missing.output


def test_cli_lists_parameters() -> None:
    result = CliRunner().invoke(cli, ["report", "--notebook", "run_drilldown", "--list-parameters"])
    assert result.exit_code == 0, result.output
    assert "run: int = 105" in result.output
    assert "audit_dir: str = " in result.output


# ------------------------------------------------------------------ execution (a real kernel)


@pytest.mark.slow
def test_parameters_are_data_not_code(tmp_path: Path, custom_notebook: Path) -> None:
    evil_dir = tmp_path / PAYLOAD
    evil_dir.mkdir()
    result = run_report(
        out=tmp_path / "r",
        notebook=custom_notebook,
        parameters={"label": PAYLOAD + "\n<script>alert(1)</script>\\", "online": [evil_dir]},
    )
    echo = json.loads((result.out_dir / "echo.json").read_text(encoding="utf-8"))
    assert echo["label"] == PAYLOAD + "\n<script>alert(1)</script>\\"  # round-trips exactly
    assert echo["online"] == [str(evil_dir.resolve())]
    assert not any(p.name == "PWNED" for p in tmp_path.rglob("*"))
    assert not Path("PWNED").exists()
    assert result.html is not None
    page = result.html.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page
    # the executed notebook records what it ran with, and the temporary directory is gone
    book = nbformat.read(result.notebook, as_version=4)
    assert book.metadata["lumiaudit"]["parameters"]["label"] == echo["label"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_failing_cell_is_named_and_the_partial_notebook_kept(
    tmp_path: Path, custom_notebook: Path
) -> None:
    out = tmp_path / "failed"
    result = CliRunner().invoke(
        cli, ["report", "--notebook", str(custom_notebook), "--out", str(out), "-p", "fail", "true"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    message = result.output.strip()
    assert "failed in cell [" in message
    assert "if fail:" in message
    assert "RuntimeError: deliberate failure: x" in message
    assert str(out / "custom.ipynb") in message
    book = nbformat.read(out / "custom.ipynb", as_version=4)
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert any(o.output_type == "error" and o.ename == "RuntimeError" for o in errors)
    after = [c for c in book.cells if "after the failure" in c.source]
    assert after[0].outputs == []  # execution stopped at the failing cell
    assert book.metadata["lumiaudit"]["failed"] is True
    page = (out / "custom.html").read_text(encoding="utf-8")
    assert "deliberate failure" in page


@pytest.fixture(scope="module")
def overview(example: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    out = tmp_path_factory.mktemp("reports") / "overview"
    return run_report(online=[example["elog"]], offline=[example["prod"]], out=out)


@pytest.mark.slow
def test_overview_report_files(overview: ReportResult) -> None:
    out = overview.out_dir
    for name in ("audit_overview.ipynb", "audit_overview.html", "summary.json", "runs.csv"):
        assert (out / name).is_file(), name
    assert list((out / "plots").glob("*.png"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert overview.summary == summary
    book = nbformat.read(overview.notebook, as_version=4)
    assert book.metadata["lumiaudit"]["summary"] == summary
    assert book.metadata["lumiaudit"]["failed"] is False
    # papermill injected the parameters as a separate cell, the template's defaults kept above
    injected = [c for c in book.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    runs = pd.read_csv(out / "runs.csv")
    assert summary["totals"]["runs"] == len(runs)


@pytest.mark.slow
def test_overview_html_has_plots_and_no_code(overview: ReportResult) -> None:
    assert overview.html is not None
    page = overview.html.read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', page)
    assert len(images) >= 3  # funnel, the four run plots, online vs offline
    assert "open_audit(" not in page  # code cells are not shown
    assert "plot_diff_vs_run" not in page
    assert 'class="highlight' not in page
    assert not re.search(r'<script[^>]+src="https?://', page)  # nothing loaded from the network
    # no script at all (docs/report.md): nbconvert's mermaid loader imported from a CDN
    assert "<script" not in page.lower()
    assert "cdnjs" not in page
    assert "Runs that need a person" in page
    runs = pd.read_csv(overview.out_dir / "runs.csv")
    flagged = runs[runs["flagged"].astype(str).str.lower() == "true"]
    for run in flagged["run"]:
        assert f"<td>{int(run)}</td>" in page


@pytest.mark.slow
def test_drilldown_and_file_health_from_the_audit_directory(
    overview: ReportResult, tmp_path: Path
) -> None:
    runs = pd.read_csv(overview.out_dir / "runs.csv")
    files = pd.read_csv(overview.out_dir / "files.csv")
    bad = files[~files["status"].isin([s.value for s in schema.FileStatus if s.readable])]
    run = int(bad["run"].dropna().iloc[0])
    drill = run_report(
        notebook="run_drilldown",
        out=tmp_path / "drill",
        parameters={"run": run, "audit_dir": overview.out_dir},
    )
    book = nbformat.read(drill.notebook, as_version=4)
    text = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/html", ""))
        for c in book.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert f"{run}" in text
    for path in bad[bad["run"] == run]["path"]:
        assert Path(path).name in text  # the unreadable file is listed
    assert drill.html is not None
    page = drill.html.read_text(encoding="utf-8")
    assert "data:image/png" in page  # the unit x index grid
    assert len(runs) > 1
    # its first line says which run and whether it is fine, on the main page's verdict colours
    verdict = _first_verdict(page)
    exp = int(runs.loc[runs["run"] == run, "experiment"].iloc[0])
    assert verdict.startswith(f"run {run} (e{exp}): "), verdict
    if run == 105:  # the example's truncated file
        assert verdict == (
            "run 105 (e12): WARN - 252 events missing offline: a file cannot be read (252 events)"
        )

    health = run_report(notebook="file_health", out=tmp_path / "health", audit_dir=overview.out_dir)
    assert health.html is not None
    page = health.html.read_text(encoding="utf-8")
    assert "unreadable (" in page
    for path in bad["path"]:
        assert Path(path).name in page
    unreadable = int(files["status"].isin(schema.UNREADABLE_STATUSES).sum())
    assert unreadable
    assert _first_verdict(page).startswith(
        f"file health: {fmt(unreadable)} of {fmt(len(files))} files unreadable"
    )


def _first_verdict(page: str) -> str:
    """The page's verdict line, checked to come before any section, table or text."""
    match = re.search(r'<p class="la-verdict la-page (ok|warn|fail)">([^<]*)</p>', page)
    assert match, "no verdict line"
    for later in ("<details", "<table", "<pre"):
        assert page.find(later) == -1 or match.start() < page.find(later), later
    return html.unescape(match.group(2))


# ------------------------------------------------------------------ audit_html


class _FakeAudit:
    def __init__(self, runs: pd.DataFrame, funnel: pd.DataFrame, summary: dict[str, Any]):
        self.runs = runs
        self.funnel = funnel
        self.summary = summary


def _fake(n_flagged: int = 2) -> _FakeAudit:
    runs = schema.enforce(
        {
            "experiment": [12] * (n_flagged + 1),
            "run": list(range(101, 102 + n_flagged)),
            "run_type": ["<img src=x onerror=alert(1)>"] + ["physics"] * n_flagged,
            "n_online": [pd.NA] + [1000] * n_flagged,
            "n_offline": [900] * (n_flagged + 1),
            "status": ["MISSING_ONLINE"] + ["DEFICIT"] * n_flagged,
            "flagged": [True] * (n_flagged + 1),
            "reasons": ["<script>alert('elog')</script>"] + ["unreadable_file"] * n_flagged,
        },
        schema.RUNS,
    )
    funnel = pd.DataFrame({"bucket": ["counted", "unreadable_file"], "events": [900, 100]})
    summary = {"experiment_label": "Belle II <b>e12</b>", "totals": {"runs": len(runs)}}
    return _FakeAudit(runs, funnel, summary)


def test_audit_html_escapes_untrusted_text() -> None:
    page = audit_html(_fake())  # type: ignore[arg-type]
    assert "<script>" not in page
    assert "<img" not in page
    assert "<b>e12" not in page
    assert "&lt;script&gt;alert(&#x27;elog&#x27;)&lt;/script&gt;" in page
    assert "Runs that need a person (3)" in page
    assert "a file cannot be read" in page  # the reason in words


def test_tables_have_one_number_policy() -> None:
    """Run numbers without separators, counts with, diffs signed, booleans in words, missing
    as an em dash; no index column (the old report printed `3,012`, `<NA>` and an index)."""
    import numpy as np

    from lumiaudit.render.html import frame_html

    frame = pd.DataFrame(
        {
            "run": pd.array([3012, None], dtype="Int64"),
            "n_online": pd.array([10231, None], dtype="Int64"),
            "n_offline": [10231.0, float("nan")],  # a count read back as a float
            "diff": pd.array([-91, 0], dtype="Int64"),
            "ratio": [1.34608123, None],
            "waived": [np.bool_(False), True],
            # a nullable boolean column as Audit.load gives it (its values: numpy 2's np.bool)
            "flagged": pd.array([True, False], dtype="boolean"),
        },
        index=[7, 8],
    )
    page = frame_html(frame)
    assert ">3012<" in page
    assert "3,012" not in page
    assert page.count(">10,231<") == 2  # Int64 and float alike
    assert ">-91<" in page
    assert ">0<" in page
    assert ">1.34608<" in page
    assert page.count(">no<") == 2
    assert page.count(">yes<") == 2
    assert "&lt;NA&gt;" not in page
    assert "nan" not in page
    assert "<NA>" not in page
    assert page.count("\u2014") == 4  # run, n_online, n_offline and ratio of the 2nd row
    assert ">7<" not in page  # no index column


def test_audit_html_shows_missing_as_missing_and_limits_rows() -> None:
    page = audit_html(_fake(), max_rows=50)  # type: ignore[arg-type]
    first_row = page.split("<tbody>")[1].split("</tr>")[0]
    assert "\u2014" in first_row  # missing is an em dash, never <NA> or 0
    assert "&lt;NA&gt;" not in page
    assert "<td>0</td>" not in first_row
    many = audit_html(_fake(n_flagged=60), max_rows=10)  # type: ignore[arg-type]
    assert "+51 more" in many
    assert many.count("<td>12</td>") == 10


def test_audit_repr_uses_audit_html(example: dict[str, Path]) -> None:
    import lumiaudit

    result = lumiaudit.audit([example["elog"]], [example["prod"]])
    page = result._repr_html_()
    assert page == audit_html(result)
    assert f"Runs that need a person ({len(result.flagged)})" in page


def test_temporary_directories_do_not_leak_on_bad_input(
    tmp_path: Path, custom_notebook: Path
) -> None:
    from lumiaudit.errors import LumiauditError

    inputs = tmp_path / "in"
    inputs.mkdir()
    before = {p.name for p in tmp_path.iterdir()}
    with pytest.raises(ParameterError):
        run_report(online=[tmp_path / "x"], offline=[inputs], out=tmp_path / "r")
    assert {p.name for p in tmp_path.iterdir()} == before
    # the audit runs before anything is created: an audit that fails leaves nothing behind
    with pytest.raises(LumiauditError, match="no online source found"):
        run_report(online=[inputs], offline=[inputs], out=tmp_path / "r")
    assert {p.name for p in tmp_path.iterdir()} == before
    with pytest.raises(ReportError, match="could not be executed"):
        run_report(notebook=custom_notebook, out=tmp_path / "r", kernel_name="no-such-kernel")
    assert {p.name for p in tmp_path.iterdir()} == before


# (-p NAME VALUE, what the one-line error names): audit options checked before any kernel
REFUSED_PARAMETERS = [
    (("jobs", "-3"), "parameter jobs: -3 is below the minimum 1"),
    (("mode", "fast"), "mode 'fast' counts tree entries only"),
    (("retries", "-1"), "parameter retries: -1 is below the minimum 0"),
    (("timeout", "0"), "parameter timeout: 0.0 is below the minimum 0.1"),
    (("run_range", "[9, 3]"), "run_range: first run 9 is greater than last run 3"),
    (("cache", "THESIS"), "not a lumiaudit count cache"),
]


@pytest.mark.parametrize(("param", "message"), REFUSED_PARAMETERS)
def test_audit_option_parameters_are_checked_before_the_kernel(
    tmp_path: Path, param: tuple[str, str], message: str
) -> None:
    """`report -p jobs -3` used to fail in cell [4] after the kernel started; now it is a
    usage error before any kernel starts and before the report directory is created."""
    from click.testing import CliRunner

    from lumiaudit.cli import cli

    (tmp_path / "elog").mkdir()
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("not a cache\n", encoding="utf-8")
    name, value = param
    value = str(thesis) if value == "THESIS" else value
    out = tmp_path / "rep"
    args = ["report", "--online", str(tmp_path / "elog"), "--offline", str(tmp_path / "elog")]
    result = CliRunner().invoke(cli, [*args, "--out", str(out), "-p", name, value])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()
    assert not list(tmp_path.glob(".rep*"))  # no build directory beside it either
    assert thesis.read_text(encoding="utf-8") == "not a cache\n"


# ------------------------------------------------------------------ scraps and changes


def test_scraps_without_scrapbook_are_what_scrapbook_writes() -> None:
    """The fallback (no lab extra) writes the very outputs scrapbook.glue writes."""
    scrapbook_api = pytest.importorskip("scrapbook.api")
    from scrapbook.scraps import Scrap, scrap_to_payload

    from lumiaudit.report.scraps import scrap_output

    for name, value in (("runs_flagged", 5), ("lumi_affected_nb", 116.4), ("events_lost", 4108)):
        payload = scrap_to_payload(
            scrapbook_api.encoder_registry.encode(Scrap(name, value, "json"))
        )
        expected = scrapbook_api._prepare_ipy_data_format(name, payload, "json")
        assert scrap_output(name, value) == expected


@pytest.mark.slow
def test_headline_numbers_are_scrapbook_scraps(overview: ReportResult) -> None:
    scrapbook = pytest.importorskip("scrapbook")
    scraps = scrapbook.read_notebook(str(overview.notebook)).scraps
    out = overview.out_dir
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    totals = summary["totals"]
    runs = pd.read_csv(out / "runs.csv")
    funnel = pd.read_csv(out / "funnel.csv")
    lost = funnel[~funnel["bucket"].isin(["matched", "non_physics"])]["events"].sum()
    assert scraps["runs_audited"].data == int((runs["status"] != "NOT_AUDITED").sum()) == 23
    assert scraps["runs_flagged"].data == totals["runs_flagged"] == 5
    assert scraps["events_online"].data == totals["n_online"]
    assert summary["follows"] == "full"
    assert scraps["events_offline"].data == totals["n_offline_full"]
    assert scraps["events_lost"].data == int(lost) > 0
    affected = summary["stats"]["lumi"]["affected_nb"]
    assert scraps["lumi_affected_nb"].data == pytest.approx(affected)
    page = overview.html.read_text(encoding="utf-8") if overview.html else ""
    assert "application/scrapbook" not in page  # data for readers, not shown


@pytest.mark.slow
def test_first_screen_says_what_changed_since_the_previous_night(
    overview: ReportResult, tmp_path: Path
) -> None:
    from lumiaudit.pipeline import Audit

    last_night = Audit.load(overview.out_dir)
    last_night.runs.loc[last_night.runs["run"] == 119, "flagged"] = False
    last_night.write(tmp_path / "last-night", plots=False)
    tonight = run_report(
        audit_dir=overview.out_dir, previous=tmp_path / "last-night", out=tmp_path / "tonight"
    )
    assert tonight.html is not None
    page = tonight.html.read_text(encoding="utf-8")
    head = page.split("<details")[0]  # the first screen, before the collapsed details
    assert "What changed since last-night" in head
    newly = head.split("newly flagged")[1].split("</table>")[0]
    assert ">119</td>" in newly
    assert "Runs that need a person (5)" in head
    assert ">123</td>" not in head.split("What changed")[1]  # 123 did not change


def test_readme_shows_the_report_and_a_plot_made_by_a_documented_command() -> None:
    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    from lumiaudit.report.screenshots import FIRST_SCREEN, PLOT

    for name in (FIRST_SCREEN, PLOT):
        assert f"(docs/img/{name})" in readme
        picture = repo / "docs" / "img" / name
        assert picture.is_file(), picture
        assert picture.stat().st_size < 300_000
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "python -m lumiaudit.report.screenshots" in readme
    assert "def screenshots(" in (repo / "noxfile.py").read_text(encoding="utf-8")


def test_screenshots_replace_only_their_own_pictures(tmp_path: Path) -> None:
    from PIL import Image

    from lumiaudit.errors import OutputRefusedError
    from lumiaudit.report.screenshots import FIRST_SCREEN, _quantized, check_replaceable, is_ours

    # a user's own picture of the same name is never replaced (checked before rendering)
    foreign = tmp_path / FIRST_SCREEN
    Image.new("RGB", (4, 4), "white").save(foreign)
    before = foreign.read_bytes()
    with pytest.raises(OutputRefusedError, match="not written by lumiaudit"):
        check_replaceable(foreign)
    not_png = tmp_path / "notes.png"
    not_png.write_text("my notes")
    with pytest.raises(OutputRefusedError):
        check_replaceable(not_png)
    assert foreign.read_bytes() == before
    # a picture this module wrote carries the mark and may be replaced; a new name is free
    ours = tmp_path / "ours.png"
    ours.write_bytes(_quantized(foreign))
    assert is_ours(ours)
    assert not is_ours(foreign)
    check_replaceable(ours)
    check_replaceable(tmp_path / "absent.png")
