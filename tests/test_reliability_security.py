"""Reliability: elog text and file names are untrusted data (issue 8, security).

A hostile logbook (``<script>`` and event-handler markup in subject, body, run type and count,
Jira ``{html}`` macros, a Python payload meant for notebook parameters) and a hostile file name
go through the audit, the HTML views, the report and the ticket snippets. Nothing may run,
nothing may be rendered as markup, and no input may change.
"""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
import shutil
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from lumiaudit.cli import cli
from tests.support.faults import elog_entry, truncate_copy, write_elog_day

pytestmark = pytest.mark.reliability

JST = timezone(timedelta(hours=9))
SCRIPT = "<script>alert('xss')</script>"
IMG = "<img src=x onerror=alert(2)>"
JIRA = "{html}<b>jira</b>{html}"
#: a notebook-parameter injection; PWNED_NAME must never appear on disk
PWNED_NAME = "PWNED_lumiaudit"
PAYLOAD = f'"); import os; os.system("touch {PWNED_NAME}"); ("'
PAYLOAD_PATHLESS = "'''; import os; os.system('touch " + PWNED_NAME + "2'); '''"
#: a Markdown link with a javascript: URL as a file name
LINK_FILE = "mdst.physics.0012.00105.HLT1.f00008 [click me](javascript:alert(4)).root"
#: file name of a truncated copy in a flagged run: markup in a path component
HOSTILE_FILE = "mdst.physics.0012.00105.HLT1.f00007 <img src=x onerror=alert(3)><script>{html}.root"


def _tree_digest(root: Path) -> dict[str, tuple[str, int, str]]:
    """Path -> (kind, mode, content hash or link target) for everything under root."""
    out: dict[str, tuple[str, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[str(path)] = ("link", 0, str(path.readlink()))
            elif stat.S_ISDIR(st.st_mode):
                out[str(path)] = ("dir", st.st_mode, "")
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                out[str(path)] = ("file", st.st_mode, f"{digest}:{st.st_mtime_ns}")
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example production plus a hostile logbook day and a hostile file name."""
    from lumiaudit.example import make_example

    base = tmp_path_factory.mktemp("hostile")
    paths = make_example(base / "inputs")
    date = datetime(2021, 3, 9, 12, 0, tzinfo=JST)
    attrs = {
        "Author": SCRIPT,
        "Type": "Run summary",
        "Exp number": "12",
        "Run time": "01:00:00",
        "Solenoid": "ON",
    }
    entries = [
        # a later correction of run 103: hostile subject and body, valid count
        elog_entry(
            901,
            {**attrs, "Subject": f"run 103 {SCRIPT} {IMG} {JIRA}", "Category": "Physics"}
            | {"Run number": "103", "Num events": "1,999"},
            f"{SCRIPT}\n{IMG}\nIntegrated Luminosity : 5.0\n{PAYLOAD}",
            date=date,
        ),
        # a new run whose run type and count are payloads
        elog_entry(
            902,
            {**attrs, "Subject": PAYLOAD, "Category": PAYLOAD}
            | {"Run number": "130", "Num events": PAYLOAD, "Type": PAYLOAD_PATHLESS},
            PAYLOAD,
            date=date + timedelta(minutes=1),
        ),
        elog_entry(
            903,
            {**attrs, "Subject": IMG, "Category": f"{SCRIPT}"}
            | {"Run number": "131", "Num events": "4321"},
            JIRA,
            date=date + timedelta(minutes=2),
        ),
        # a count that is markup: never a number, reported as a problem with its text
        elog_entry(
            904,
            {**attrs, "Subject": SCRIPT, "Category": "Physics"}
            | {"Run number": "132", "Num events": SCRIPT},
            SCRIPT,
            date=date + timedelta(minutes=3),
        ),
    ]
    write_elog_day(paths["elog"] / "210309a.log", entries)
    # a run table beside the logbook: its run types are free text, so markup reaches `runs`
    (paths["elog"] / "extra_runs.csv").write_text(
        "exp;run;run_type;events;lumi\n"
        f'12;140;"{SCRIPT} {IMG}";1000;1.0\n'
        f"12;141;{PAYLOAD_PATHLESS};2000;2.0\n",
        encoding="utf-8",
    )
    donor = next(paths["prod"].rglob("mdst.physics.0012.00105.HLT1.f00000.root"))
    truncate_copy(donor, donor.with_name(HOSTILE_FILE), 500)
    truncate_copy(donor, donor.with_name(LINK_FILE), 500)
    return {**paths, "base": base}


def _audit_dir(hostile: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit") / "audit"
    args = ["--online", str(hostile["elog"]), "--offline", str(hostile["prod"]), "--out", str(out)]
    result = CliRunner().invoke(cli, ["audit", *args, "--no-plots", "--no-progress"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def audited(
    hostile: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, tuple[str, int, str]]]:
    """An audit directory, and the input digest taken before the audit."""
    before = _tree_digest(hostile["base"] / "inputs")
    return _audit_dir(hostile, tmp_path_factory), before


class _Scan(html.parser.HTMLParser):
    """Collect what a browser would execute: script bodies, event handlers, js: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_script = False
        self.scripts: list[str] = []
        self.handlers: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "script":
            self.in_script = True
            self.scripts.append("")
        for name, value in attrs:
            if name.lower().startswith("on") or (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.handlers.append(f"<{tag} {name}={value}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script:
            self.scripts[-1] += data


def _assert_inert(page: str, *, where: str) -> _Scan:
    scan = _Scan()
    scan.feed(page)
    assert not scan.handlers, f"{where}: event handlers {scan.handlers[:3]}"
    leaked = [s for s in scan.scripts if "alert(" in s or PWNED_NAME in s]
    assert not leaked, f"{where}: hostile script bodies {leaked[:1]}"
    assert SCRIPT not in page, f"{where}: raw {SCRIPT}"
    assert IMG not in page, f"{where}: raw {IMG}"
    return scan


def test_audit_html_escapes_elog_text_and_file_names(
    hostile: dict[str, Path], audited: tuple[Path, dict[str, tuple[str, int, str]]]
) -> None:
    from lumiaudit.pipeline import Audit
    from lumiaudit.report import audit_html

    out, _ = audited
    audit = Audit.load(out)
    # the hostile values did reach the tables: the test is not vacuous
    assert audit.files["path"].str.contains("onerror", regex=False).any()
    assert audit.online_entries["count_text"].str.contains("<script>", regex=False).any()
    assert audit.problems["text"].str.contains("<script>", regex=False).any()
    hostile_types = audit.runs["run_type"].fillna("").str.contains("<script>", regex=False)
    assert audit.runs.loc[hostile_types, "flagged"].any(), "a hostile run type in a flagged run"
    for page, where in ((audit._repr_html_(), "_repr_html_"), (audit_html(audit), "audit_html")):
        _assert_inert(page, where=where)
        assert "&lt;" in page or "alert" not in page


def test_hostile_values_never_become_counts(
    audited: tuple[Path, dict[str, tuple[str, int, str]]],
) -> None:
    from lumiaudit.pipeline import Audit

    audit = Audit.load(audited[0])
    online = audit.online.set_index("run")
    assert online.loc[103, "n_online"] == 1999
    if 130 in online.index:
        assert online.loc[130, "n_online"] is None or str(online.loc[130, "n_online"]) == "<NA>"
    assert online.loc[131, "n_online"] == 4321


def _ticket(audit_dir: Path, fmt: str) -> str:
    result = CliRunner().invoke(cli, ["ticket", "--audit", str(audit_dir), "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ticket_snippets_escape_markup(
    audited: tuple[Path, dict[str, tuple[str, int, str]]],
) -> None:
    out, _ = audited
    markdown = _ticket(out, "markdown")
    jira = _ticket(out, "jira")
    assert "105" in markdown
    assert "105" in jira
    # the hostile file of run 105 is named in the snippets, with its markup neutralised
    assert "onerror" in markdown
    assert "onerror" in jira
    # Markdown renders inline HTML: every < must be escaped (\< or &lt;)
    raw = re.findall(r"(?<![\\&])<(?:img|script)", markdown)
    assert not raw, f"markdown: unescaped markup {raw}"
    # and no live link: the brackets of the hostile name are escaped
    assert "javascript" in markdown
    assert not re.search(r"(?<!\\)\]\(javascript:", markdown), "a live javascript: link"
    # Jira wiki markup shows < as text, but an {html} macro would render raw HTML
    assert "{html}" in HOSTILE_FILE
    assert "{html}" not in jira.replace("\\{html\\}", "")


@pytest.mark.slow
def test_report_escapes_and_runs_no_payload(
    hostile: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lumiaudit report: the page is inert and the payloads in parameters never execute."""
    before = _tree_digest(hostile["base"] / "inputs")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    # the payload is also a directory name: it reaches the notebook as an `online` parameter
    elog = tmp_path / PAYLOAD
    shutil.copytree(hostile["elog"], elog)
    out = tmp_path / "report"
    args = ["report", "--online", str(elog), "--offline", str(hostile["prod"]), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    pages = list(out.rglob("*.html"))
    assert pages, sorted(p.name for p in out.rglob("*"))
    for page in pages:
        _assert_inert(page.read_text(encoding="utf-8"), where=page.name)
    assert PAYLOAD in (out / "summary.json").read_text(encoding="utf-8").replace('\\"', '"')
    for root in (work, out, hostile["base"], tmp_path):
        assert not list(root.rglob(f"{PWNED_NAME}*")), f"payload executed: {root}"
    assert not list(Path.cwd().glob(f"{PWNED_NAME}*"))
    assert _tree_digest(hostile["base"] / "inputs") == before


def test_inputs_unchanged_by_audit_and_symlink_view(
    hostile: dict[str, Path],
    audited: tuple[Path, dict[str, tuple[str, int, str]]],
    tmp_path: Path,
) -> None:
    out, before = audited
    inputs = hostile["base"] / "inputs"
    assert _tree_digest(inputs) == before
    audit_before = _tree_digest(out)
    view = tmp_path / "view"
    result = CliRunner().invoke(cli, ["runlist", "--from", str(out), "--symlink-view", str(view)])
    assert result.exit_code == 0, result.output
    assert _tree_digest(inputs) == before
    assert _tree_digest(out) == audit_before
    made = _tree_digest(view)
    assert made, "the symlink view is empty"
    # links and directories only, besides the view's own marker (it records the links made)
    files = sorted(p for p, v in made.items() if v[0] == "file")
    assert files == [str(view / ".lumiaudit")], files
    kinds = {kind for kind, _, _ in made.values()}
    assert "link" in kinds
    # links point at the run directories of the inputs, never into the view itself
    for path, (kind, _, target) in made.items():
        if kind == "link":
            resolved = (Path(path).parent / target).resolve()
            assert resolved.is_relative_to(inputs.resolve()), (path, target)


def test_view_inside_inputs_is_refused_or_link_only(
    hostile: dict[str, Path], audited: tuple[Path, dict[str, tuple[str, int, str]]]
) -> None:
    """A view asked for inside the production tree must not touch existing files."""
    out, _ = audited
    inputs = hostile["base"] / "inputs"
    before = _tree_digest(inputs)
    view = hostile["prod"] / "views"
    result = CliRunner().invoke(cli, ["runlist", "--from", str(out), "--symlink-view", str(view)])
    assert result.exit_code in (0, 2), result.output
    after = _tree_digest(inputs)
    changed = {p for p in before if before[p] != after.get(p)}
    assert not changed, sorted(changed)[:3]
    added = {p: v for p, v in after.items() if p not in before}
    assert all(v[0] in ("link", "dir") or p == str(view / ".lumiaudit") for p, v in added.items())


def test_junit_xml_stays_well_formed(
    audited: tuple[Path, dict[str, tuple[str, int, str]]], tmp_path: Path
) -> None:
    """Hostile run types and reasons in JUnit XML: well-formed, markup only as text."""
    import xml.etree.ElementTree as ET

    from lumiaudit.pipeline import Audit
    from lumiaudit.render.tickets import junit_xml

    audit = Audit.load(audited[0])
    runs = audit.runs.copy()
    # put the payloads where a sloppy writer would break the XML: run type and reasons
    runs.loc[runs.index[0], "run_type"] = f"{SCRIPT}]]><x/>&amp;\x00\x1b"
    runs.loc[runs["flagged"].fillna(False).astype(bool), "reasons"] = f"{IMG};unexplained"
    text = junit_xml(runs)
    root = ET.fromstring(text.encode("utf-8"))  # raises if not well-formed
    assert root.tag == "testsuites"
    assert not list(root.iter("script"))
    assert not list(root.iter("img"))
    assert not list(root.iter("x"))
    cases = list(root.iter("testcase"))
    assert len(cases) == len(runs)
