"""lumiaudit.render.tickets and ``lumiaudit ticket``: snippet values, escaping, JUnit XML."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiaudit.cli import cli
from lumiaudit.errors import ParameterError
from lumiaudit.pipeline import write_csv
from lumiaudit.render.tickets import (
    escape_jira,
    escape_markdown,
    jira_snippet,
    junit_xml,
    markdown_snippet,
    reason_amounts,
    select_runs,
)
from lumiaudit.schema import FILES, GAPS, RUNS, enforce

HOSTILE = "evil|name `x` <script>alert(1)</script> @admin #1 [link](http://x) {html}*b*_i_\\"


@pytest.fixture
def runs() -> pd.DataFrame:
    return enforce(
        {
            "experiment": [10, 10, 10, 10, 10],
            "run": [3000, 3020, 3040, 3060, 3062],
            "run_type": ["physics", "physics", "physics", "physics", "cosmic"],
            "n_online": [6725, 2112, 10296, 5000, 800],
            "n_offline": [6725, 1623, 10613, pd.NA, pd.NA],
            "diff": [0, 489, -317, pd.NA, pd.NA],
            "ratio": [1.0, 2112 / 1623, 10296 / 10613, pd.NA, pd.NA],
            "status": ["OK", "DEFICIT", "EXCESS", "MISSING_OFFLINE", "NOT_AUDITED"],
            "flagged": [False, True, True, True, False],
            "reasons": [
                pd.NA,
                "unreadable_file;error_flag_events",
                "duplicate_file",
                "no_offline_files",
                "non_physics",
            ],
            "q_value": [0.9, 1.2e-7, 3.4e-5, pd.NA, pd.NA],
            "reason_events": [
                pd.NA,
                "unreadable_file=410;error_flag_events=79",
                "duplicate_file=-317",
                "no_offline_files=5000",
                pd.NA,
            ],
        },
        RUNS,
    )


@pytest.fixture
def files() -> pd.DataFrame:
    return enforce(
        {
            "path": [
                "/prod/r03020/mdst.physics.0010.03020.HLT1.f00000.root",
                "/prod/r03020/mdst.physics.0010.03020.HLT3.f00000.root",
                "/prod/sub01/mdst.physics.0010.03040.HLT1.f00000.root",
                f"/prod/r03020/{HOSTILE}.root",
            ],
            "experiment": [10, 10, 10, 10],
            "run": [3020, 3020, 3040, 3020],
            "n_entries": [585, pd.NA, 996, pd.NA],
            "status": ["ok", "not_root", "duplicate", "truncated"],
            "error": [pd.NA, "not a ROOT file: starts with b'Error in'", pd.NA, HOSTILE],
            "duplicate_of": [
                pd.NA,
                pd.NA,
                "/prod/sub00/mdst.physics.0010.03040.HLT1.f00000.root",
                pd.NA,
            ],
        },
        FILES,
    )


@pytest.fixture
def gaps() -> pd.DataFrame:
    return enforce(
        {
            "experiment": [10],
            "run": [3020],
            "hlt_unit": [2],
            "file_index": [4],
            "est_events": [650.0],
            "kind": ["file_index_gap"],
        },
        GAPS,
    )


PLOTS = [
    "ratio_vs_run.png",
    "ratio_vs_run.svg",
    "diff_vs_run.png",
    "drilldown_e0010_r03020.png",
    "drilldown_e0010_r03040.png",
    "drilldown_e0010_r09999.png",
]

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_select_runs(runs):
    assert list(select_runs(runs)["run"]) == [3020, 3040, 3060]
    assert list(select_runs(runs, [3062, 3000])["run"]) == [3062, 3000]
    assert select_runs(runs, experiment=11).empty
    with pytest.raises(ParameterError, match="4242"):
        select_runs(runs, [4242])


def test_reason_amounts():
    assert reason_amounts("a;b", "b=5;c=7") == [("a", ""), ("b", "5"), ("c", "7")]
    assert reason_amounts(pd.NA, pd.NA) == []


def test_markdown_snippet_values(runs, files, gaps):
    chosen = select_runs(runs)
    text = markdown_snippet(
        chosen,
        files=files,
        gaps=gaps,
        plots=PLOTS,
        summary={"totals": {"runs": 5, "runs_flagged": 3}},
    )
    rows = table_rows(text)
    header_cells = len(UNESCAPED_PIPE.findall(rows[0]))
    # every table row has as many cell separators as its header: no cell split
    run_rows = [r for r in rows if re.match(r"\| 10 \| \d+ \|", r)]
    assert len(run_rows) == len(chosen)
    for row in run_rows:
        assert len(UNESCAPED_PIPE.findall(row)) == header_cells
    r3020 = next(r for r in run_rows if "| 3020 |" in r)
    for value in (
        "2,112",
        "1,623",
        "+489",  # signed, as on the report
        "1.30129",
        "1.2e-07",
        "DEFICIT",
        "unreadable\\_file (410 events)",
        "error\\_flag\\_events (79 events)",
    ):
        assert value in r3020
    r3060 = next(r for r in run_rows if "| 3060 |" in r)
    assert "| n/a |" in r3060  # missing stays missing
    assert "| 0 |" not in r3060
    assert "no\\_offline\\_files (5,000 events)" in r3060
    # affected files: the bad ones of these runs, with the duplicate's original
    assert "mdst.physics.0010.03020.HLT3.f00000.root" in text
    assert "not\\_root" in text
    assert "duplicate of /prod/sub00/mdst.physics.0010.03040.HLT1.f00000.root" in text
    assert "HLT1.f00000.root | ok" not in text
    assert "Affected files (3)" in text
    # gaps
    # one number per cause: the gap rows name the files, the run row gives the events
    assert "| 3020 | 2 | 4 | file\\_index\\_gap |" in text
    assert "~" not in text
    # plots: PNGs only; drilldowns only of the selected runs
    assert "- ratio\\_vs\\_run.png" in text
    assert "drilldown\\_e0010\\_r03020.png" in text
    assert "r09999" not in text
    assert ".svg" not in text
    assert "5 runs audited, 3 flagged" in text


def test_ticket_counts_audited_runs_as_the_report_does(runs):
    """A non-physics run is not audited: the ticket says "4 of 5", as the report's verdict."""
    summary = {
        "totals": {"runs": 5, "runs_flagged": 3},
        "status_counts": {"OK": 1, "DEFICIT": 3, "NOT_AUDITED": 1},
    }
    text = markdown_snippet(select_runs(runs, [3020]), summary=summary)
    assert "4 of 5 runs audited, 3 flagged" in text
    assert "\n5 runs audited" not in text


def test_markdown_escapes_untrusted_text(runs, files):
    text = markdown_snippet(select_runs(runs, [3020]), files=files)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "@admin" not in text
    assert "&#35;1" in text
    for row in table_rows(text):
        if "evil" in row:
            assert len(UNESCAPED_PIPE.findall(row)) == 6  # 5 cells
            assert "`" not in row.replace("\\`", "")


def test_jira_snippet(runs, files, gaps):
    text = jira_snippet(select_runs(runs), files=files, gaps=gaps, plots=PLOTS)
    assert text.startswith("h3. ")
    head = "||exp||run||status||online||offline tree entries||diff||ratio||q-value||reasons||"
    assert head in text
    assert "|10|3020|DEFICIT|2,112|1,623|+489|1.30129|1.2e-07|" in text
    assert "!ratio_vs_run.png|thumbnail!" in text
    assert "!drilldown_e0010_r03020.png|thumbnail!" in text
    evil = next(line for line in text.splitlines() if "evil" in line)
    assert "\\{html\\}" in evil
    assert "\\[link\\]" in evil
    assert len(UNESCAPED_PIPE.findall(evil)) == 6
    assert "&#92;" in evil


def test_no_runs_selected(runs):
    text = markdown_snippet(runs.iloc[0:0])
    assert "No runs selected" in text


@given(st.text(max_size=60))
def test_escaped_cells_never_split_or_inject(text):
    md = escape_markdown(text)
    assert not UNESCAPED_PIPE.search(md.replace("\\\\", ""))
    assert "<" not in md
    assert ">" not in md
    assert "\n" not in md
    jira = escape_jira(text)
    assert "\n" not in jira
    assert not UNESCAPED_PIPE.search(jira)
    assert "{" not in jira.replace("\\{", "")


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=40))
def test_markdown_renders_untrusted_text_literally(text):
    """Rendered with a CommonMark + GFM-tables parser (raw HTML allowed, as the worst case),
    a hostile file name stays in its cell and reads back exactly (whitespace collapsed)."""
    markdown_it = pytest.importorskip("markdown_it")
    md = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table")
    runs = enforce({"experiment": [10], "run": [1], "status": ["DEFICIT"], "flagged": [True]}, RUNS)
    files = enforce(
        {"path": [text], "experiment": [10], "run": [1], "status": ["truncated"]}, FILES
    )
    out = md.render(markdown_snippet(runs, files=files))
    assert "<script" not in out.lower()
    tables = re.findall(r"<table>.*?</table>", out, re.S)
    assert len(tables) == 2
    rows = re.findall(r"<tr>(.*?)</tr>", tables[1], re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[1], re.S)
    assert len(cells) == 5
    expected = " ".join(re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text).split())
    assert html.unescape(re.sub(r"<[^>]+>", "", cells[1])) == expected


def test_junit_xml(runs):
    text = junit_xml(runs, name="b2audit")
    root = ET.fromstring(text.encode())
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(runs)
    assert root.get("tests") == str(len(runs))
    flagged = runs[runs["flagged"].fillna(False).to_numpy(dtype=bool)]
    assert root.get("failures") == str(len(flagged))
    assert root.get("skipped") == "1"
    by_name = {c.get("name"): c for c in cases}
    assert set(by_name) == {f"r{r:05d}" for r in runs["run"]}
    assert all(c.get("classname") == "b2audit.e0010" for c in cases)
    failure = by_name["r03020"].find("failure")
    assert failure is not None
    assert failure.get("message") == "unreadable_file=410; error_flag_events=79"
    assert "online 2,112" in failure.text
    assert by_name["r03062"].find("skipped") is not None
    assert by_name["r03000"].find("failure") is None
    assert by_name["r03000"].find("skipped") is None


# ------------------------------------------------------------------------------ CLI


@pytest.fixture
def audit_dir(tmp_path, runs, files, gaps) -> Path:
    out = tmp_path / "audit"
    (out / "plots").mkdir(parents=True)
    write_csv(runs, out / "runs.csv")
    write_csv(files, out / "files.csv")
    write_csv(gaps, out / "gaps.csv")
    summary = {
        "lumiaudit_version": "0.1.0",
        "created": "2026-11-29T12:00:00Z",
        "totals": {"runs": 5, "runs_flagged": 3},
        "experiment_label": "Belle II",
        "run_range": [3000, 3062],
        "follows": "entries",
    }
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    for name in PLOTS:
        (out / "plots" / name).write_bytes(b"")
    return out


def test_cli_default_summary_both_formats(audit_dir):
    result = CliRunner().invoke(cli, ["ticket", "--audit", str(audit_dir)])
    assert result.exit_code == 0, result.output
    assert "### Belle II: 3 runs (3 flagged)" in result.output
    assert "h3. Belle II: 3 runs \\(3 flagged\\)" in result.output
    assert "| 10 | 3040 | EXCESS |" in result.output
    assert "|10|3060|MISSING\\_OFFLINE|5,000|n/a|" in result.output
    assert "runs 3000–3062" in result.output
    assert "| 3000 |" not in result.output  # not flagged, not asked for


def test_cli_per_run_jira_to_file(audit_dir, tmp_path):
    out = tmp_path / "ticket.txt"
    result = CliRunner().invoke(
        cli,
        [
            "ticket",
            "--audit",
            str(audit_dir),
            "--run",
            "3020",
            "--run",
            "3000",
            "--format",
            "jira",
            "--per-run",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""
    text = out.read_text(encoding="utf-8")
    assert text.count("h3. ") == 2
    assert "h3. Belle II e10 run 3020: DEFICIT" in text
    assert "h3. Belle II e10 run 3000: OK" in text
    assert "###" not in text


def test_cli_errors_are_one_line(audit_dir, tmp_path):
    result = CliRunner().invoke(cli, ["ticket", "--audit", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'nope'}: no such directory" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["ticket", "--audit", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "runs.csv" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["ticket", "--audit", str(audit_dir), "--run", "4242"])
    assert result.exit_code == 2
    assert "4242" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("jira", [False, True])
def test_ticket_row_adds_up_with_the_compared_count(jira: bool) -> None:
    # issue 11 (run 1915): the offline cell showed the tree entries (63,100) while the diff was
    # computed from the error-free count; online - offline must give the diff that is printed
    runs = enforce(
        {
            "experiment": [8],
            "run": [1915],
            "run_type": ["physics"],
            "n_online": [56790],
            "n_offline": [63100],
            "n_offline_full": [50285],
            "n_offline_def": [50285],
            "diff": [6505],
            "ratio": [56790 / 50285],
            "status": ["DEFICIT"],
            "flagged": [True],
            "reasons": ["unreadable_file"],
        },
        RUNS,
    )
    snippet = jira_snippet if jira else markdown_snippet
    text = snippet(runs, summary={"follows": "full"})
    sep = "||" if jira else " | "
    assert f"online{sep}offline error-free{sep}diff" in text
    row = next(line for line in text.splitlines() if line.startswith("|") and "1915" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    online, offline, diff = (int(c.replace(",", "")) for c in cells[3:6])
    assert (online, offline, diff) == (56790, 50285, 6505)
    assert online - offline == diff
    assert "63,100" not in row
    xml = junit_xml(runs)
    assert "offline error-free 50,285" in xml
    assert "diff 6,505" in xml


# ------------------------------------------------------------------------------ issue 16


@pytest.mark.parametrize(
    ("error", "path", "expect"),
    [
        (
            "not a ROOT file: starts with b'Error in' (OSError: expected Chunk of length 403, "
            "received 0 bytes from FileSource for file path /p/mdst.physics.0010.03020.HLT3."
            "f00000.root)",
            "/p/mdst.physics.0010.03020.HLT3.f00000.root",
            "not a ROOT file: starts with b'Error in'",
        ),
        ("truncated: file ends at 1,204 of 9,800 bytes", "/p/a.root", None),
        (
            "cannot open /p/a.root: Permission denied",
            "/p/a.root",
            "cannot open the file: Permission denied",
        ),
        (pd.NA, "/p/a.root", ""),
    ],
)
def test_file_problem_is_one_sentence_without_the_path(error, path, expect):
    from lumiaudit.render.tickets import file_problem

    text = file_problem(error, path)
    assert text == (error if expect is None else expect)
    assert path not in text
    assert "Error:" not in text


def test_file_row_names_the_path_once(runs, files):
    files = files.copy()
    path = "/p/mdst.physics.0010.03020.HLT3.f00000.root"
    files.loc[files["status"] == "not_root", "error"] = (
        f"not a ROOT file: starts with b'Error in' (OSError: expected Chunk of length 403 for "
        f"file path {path})"
    )
    files.loc[files["status"] == "not_root", "path"] = path
    text = markdown_snippet(select_runs(runs, [3020]), files=files)
    row = next(line for line in text.splitlines() if "not\\_root" in line)
    assert row.count("mdst.physics.0010.03020.HLT3.f00000.root") == 1
    assert "OSError" not in row


def test_plots_to_attach_by_relevance():
    from lumiaudit.render.tickets import _plots_for

    names = [
        "diff_vs_run.png",
        "ratio_vs_run.png",
        "funnel.png",
        "online_vs_offline.png",
        "diff_distribution.png",
        "drilldown_e0012_r00113.png",
        "drilldown_e0012_r00105.png",
    ]
    typo = pd.DataFrame({"run": [113], "reasons": ["elog_typo"], "reason_events": [pd.NA]})
    assert _plots_for(names, typo) == ["diff_vs_run.png", "ratio_vs_run.png"]
    loss = pd.DataFrame(
        {
            "run": [105, 113],
            "reasons": ["unreadable_file", "elog_typo"],
            "reason_events": ["unreadable_file=252", pd.NA],
        }
    )
    assert _plots_for(names, loss) == [
        "diff_vs_run.png",
        "ratio_vs_run.png",
        "funnel.png",
        "online_vs_offline.png",
        "drilldown_e0012_r00105.png",
    ]


def test_every_row_adds_up_with_the_named_count(runs, files, gaps):
    text = markdown_snippet(select_runs(runs), files=files, gaps=gaps)
    rows = table_rows(text)
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    at = {name: i for i, name in enumerate(header)}
    offline = next(name for name in header if name.startswith("offline"))
    assert offline != "offline"  # the header says which count
    for row in rows[2:]:
        cells = [c.strip() for c in UNESCAPED_PIPE.split(row.strip())[1:-1]]
        if len(cells) != len(header) or "n/a" in (cells[at["online"]], cells[at[offline]]):
            continue
        online, off, diff = (
            int(cells[at[k]].replace(",", "")) for k in ("online", offline, "diff")
        )
        assert online - off == diff, row


def test_header_names_the_count_when_a_run_has_no_offline_count():
    """A MISSING_OFFLINE run compares nothing: the header still says which count the others use."""
    runs = pd.DataFrame(
        {
            "experiment": [12, 12],
            "run": [105, 123],
            "status": ["DEFICIT", "MISSING_OFFLINE"],
            "n_online": pd.array([1601, 3213], dtype="Int64"),
            "n_offline": pd.array([1349, pd.NA], dtype="Int64"),
            "n_offline_full": pd.array([1349, pd.NA], dtype="Int64"),
            "n_offline_def": pd.array([1349, pd.NA], dtype="Int64"),
            "diff": pd.array([252, pd.NA], dtype="Int64"),
            "flagged": [True, True],
        }
    )
    text = markdown_snippet(runs, summary={"follows": "full"})
    assert "| offline error-free |" in text
    assert "offline (compared)" not in text
