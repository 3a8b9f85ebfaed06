"""The HTML report in a real headless browser: renders offline, images shown, nothing executes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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


def test_report_renders_offline_with_its_images(
    hostile_report: ReportResult, tmp_path: Path
) -> None:
    import numpy as np
    from PIL import Image

    assert hostile_report.html is not None
    shot = tmp_path / "report.png"
    result = _chromium(
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        hostile_report.html.as_uri(),
    )
    assert shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    pixels = np.asarray(image).astype(int)
    assert pixels.var() > 500  # not a blank page
    # the plots are drawn: saturated red (flagged runs, funnel losses) and green (matched)
    # pixels exist only in the embedded PNG figures, never in the text and tables
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    red = int(((r > 180) & (g < 60) & (b < 60)).sum())
    green = int(((g > 180) & (r < 150) & (b < 80)).sum())
    assert red > 200, red
    assert green > 200, green


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
    assert "Flagged runs" in dom
