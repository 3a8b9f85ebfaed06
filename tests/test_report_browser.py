"""The HTML report in a real headless browser: renders offline, images shown, nothing executes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import need

from lumiaudit.report import ReportResult, run_report

#: a directory name that would run script if a report ever emitted it as HTML (no "/" allowed)
XSS_DIR = "<img src=x onerror=document.body.dataset.pwned=1>"

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium")
    need(exe is not None, "chromium (Debian package chromium)")
    assert exe is not None
    command = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # no name resolves: the page must render from the file alone
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def hostile_report(
    example: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> ReportResult:
    """The overview report of the example production copied under a hostile directory name."""
    need(shutil.which("chromium") is not None, "chromium (Debian package chromium)")
    root = tmp_path_factory.mktemp("hostile")
    prod = root / XSS_DIR / "prod"
    shutil.copytree(example["prod"], prod, symlinks=True)
    return run_report(online=[example["elog"]], offline=[prod], out=root / "report")


def _shot(report: ReportResult, tmp_path: Path, width: int, height: int) -> Any:
    import numpy as np
    from PIL import Image

    assert report.html is not None
    shot = tmp_path / f"report-{width}x{height}.png"
    result = _chromium(
        tmp_path / "profile",
        f"--screenshot={shot}",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        report.html.as_uri(),
    )
    assert shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (width, height)
    return np.asarray(image).astype(int)


def test_first_screen_answers_is_tonight_fine(hostile_report: ReportResult, tmp_path: Path) -> None:
    """At 1,400 x 900 px: the verdict box and the flagged runs' severity badges are on the
    first screen, and nothing is cut at the right edge (the page fits 1,400 px)."""
    pixels = _shot(hostile_report, tmp_path, 1400, 900)
    assert pixels.var() > 500  # not a blank page
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    # the verdict of the example (2 runs fail): the light red box (#fce8e6) with its red bar
    verdict_box = int(((abs(r - 0xFC) < 4) & (abs(g - 0xE8) < 4) & (abs(b - 0xE6) < 4)).sum())
    assert verdict_box > 20_000, verdict_box
    fail_badge = int(((abs(r - 0xC5) < 6) & (abs(g - 0x22) < 6) & (abs(b - 0x1F) < 6)).sum())
    assert fail_badge > 500, fail_badge  # the red FAIL badges and the verdict's bar
    edge = pixels[:, -12:, :]
    assert (edge > 235).all(), "something is cut at the right edge at 1,400 px"


#: how far below the page's top the report's first line may start (the body's own padding)
TITLE_TOP_PX = 16

#: appended to a copy of the page: writes the title's bounding rect into the DOM
_PROBE = """<script>
var title = document.querySelector(".la-report h1, .la-report .la-verdict");
document.body.dataset.titleTop = title ? title.getBoundingClientRect().top : "none";
</script></body>"""


def _probe(report: ReportResult, tmp_path: Path, script: str, attribute: str) -> str:
    """Open a copy of the report's page with ``script`` appended in headless Chromium at
    1,400 px and return the ``data-<attribute>`` the script set on the body."""
    import re

    assert report.html is not None
    page = report.html.read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", script, 1), encoding="utf-8")
    result = _chromium(tmp_path / "profile", "--window-size=1400,900", "--dump-dom", probe.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(rf'data-{attribute}="([^"]*)"', result.stdout)
    assert found, "the probe did not run"
    return found.group(1)


def test_the_title_is_at_the_top_of_the_page(hostile_report: ReportResult, tmp_path: Path) -> None:
    """nbconvert's empty cells and paddings left ~70 px empty above the title (issue 16)."""
    top = float(_probe(hostile_report, tmp_path, _PROBE, "title-top"))
    assert 0 <= top <= TITLE_TOP_PX, f"the title starts {top} px below the page top"


#: appended to a copy of the page: opens every section and names those wider than the page
_WIDTH_PROBE = """<script>
document.querySelectorAll("details").forEach(function (d) { d.open = true; });
var wide = [];
document.querySelectorAll(".la-body").forEach(function (b) {
  if (b.scrollWidth > b.clientWidth + 1) {
    wide.push(b.parentElement.querySelector("summary").textContent + " " + b.scrollWidth);
  }
});
document.body.dataset.wide = wide.length ? wide.join("; ") : "none";
</script></body>"""


def test_no_section_is_wider_than_the_page(hostile_report: ReportResult, tmp_path: Path) -> None:
    """Opened, no section scrolls sideways at 1,400 px: headers wrap at their underscores,
    long paths and messages wrap in their column (the all-runs table was 32 px too wide)."""
    import html

    assert html.unescape(_probe(hostile_report, tmp_path, _WIDTH_PROBE, "wide")) == "none"


def test_report_renders_offline_with_its_images(
    hostile_report: ReportResult, tmp_path: Path
) -> None:
    """Below the first screen, the open section's embedded plots are drawn (no network)."""
    pixels = _shot(hostile_report, tmp_path, 1400, 2400)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    # saturated red markers (flagged runs) and the blue of the runs in the per-run plots
    red = int(((r > 180) & (g < 60) & (b < 60)).sum())
    blue = int(((b > 150) & (r < 90) & (g < 140)).sum())
    assert red > 200, red
    assert blue > 200, blue


def test_report_prints_with_its_details_open(hostile_report: ReportResult, tmp_path: Path) -> None:
    """Printed, the collapsed sections are printed open: every plot is in the PDF."""
    assert hostile_report.html is not None
    pdf = tmp_path / "report.pdf"
    result = _chromium(
        tmp_path / "profile",
        f"--print-to-pdf={pdf}",
        "--no-pdf-header-footer",
        hostile_report.html.as_uri(),
    )
    assert pdf.is_file(), result.stderr[-2000:]
    data = pdf.read_bytes()
    page = hostile_report.html.read_text(encoding="utf-8")
    embedded = page.count('src="data:image/png;base64,')
    assert embedded >= 3  # the per-run grid, the funnel, online vs offline
    assert data.count(b"/Subtype /Image") >= embedded  # closed <details> printed too


def test_hostile_text_is_shown_not_executed(hostile_report: ReportResult, tmp_path: Path) -> None:
    assert hostile_report.html is not None
    page = hostile_report.html.read_text(encoding="utf-8")
    assert XSS_DIR not in page  # never emitted as markup
    assert "&lt;img src=x onerror=document.body.dataset.pwned=1&gt;" in page  # shown as text
    result = _chromium(tmp_path / "profile", "--dump-dom", hostile_report.html.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<body" in dom
    assert "data-pwned" not in dom  # the onerror handler never ran
    assert "Runs that need a person" in dom
