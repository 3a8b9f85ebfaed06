"""The README's pictures: the report's first screen and one plot, made from the bundled example.

``python -m lumiaudit.report.screenshots docs/img`` (or ``nox -s screenshots``) audits
``data/example`` once, renders the overview report, photographs its first screen in headless
Chromium at 1,400 x 900 px (no network: every host name fails to resolve) and copies the
difference-per-run plot. Both PNGs are reduced to 256 colours so that each stays well under
300 kB in the repository, and carry a ``Software: lumiaudit`` text chunk: an existing picture
of the same name is replaced only if it has that mark (lumiaudit replaces only what it made),
checked before anything is rendered.
"""

from __future__ import annotations

import argparse
import io
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lumiaudit.errors import LumiauditError, OutputRefusedError, ReportError

log = logging.getLogger(__name__)

__all__ = [
    "FIRST_SCREEN",
    "MARK",
    "PLOT",
    "check_replaceable",
    "chromium_screenshot",
    "is_ours",
    "main",
    "make_screenshots",
]

#: file names written into the output directory
FIRST_SCREEN = "report-first-screen.png"
PLOT = "plot-diff-vs-run.png"

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_screenshot(
    html: Path, png: Path, *, width: int = 1400, height: int = 900, timeout: float = 120
) -> Path:
    """Photograph ``html`` in headless Chromium (bounded by ``timeout`` seconds).

    Raises
    ------
    ReportError
        No Chromium on ``PATH``, or it wrote no picture.
    """
    exe = next((found for name in _BROWSERS if (found := shutil.which(name))), None)
    if exe is None:
        msg = "no Chromium found (tried " + ", ".join(_BROWSERS) + ")"
        raise ReportError(msg, hint="install chromium (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="lumiaudit-chromium-") as profile:
        command = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # the page must stand alone
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            html.resolve().as_uri(),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    if not png.is_file():
        msg = f"chromium wrote no screenshot: {result.stderr.strip()[-300:]}"
        raise ReportError(msg, path=html)
    return png


#: the PNG text chunk that marks a picture as lumiaudit's
MARK = ("Software", "lumiaudit screenshots")


def is_ours(png: Path) -> bool:
    """Whether ``png`` is a picture this module wrote (its PNG text chunk says so)."""
    from PIL import Image

    try:
        with Image.open(png) as image:
            return image.format == "PNG" and image.info.get(MARK[0]) == MARK[1]
    except OSError:  # not an image at all
        return False


def check_replaceable(target: Path) -> None:
    """Refuse a ``target`` that exists and is not one of this module's pictures."""
    if target.exists() and not (target.is_file() and is_ours(target)):
        msg = "exists and was not written by lumiaudit; not replaced"
        raise OutputRefusedError(msg, path=target, hint="remove it or choose another directory")


def _quantized(png: Path) -> bytes:
    """256 colours, marked as lumiaudit's: the same picture at a fraction of the bytes."""
    from PIL import Image, PngImagePlugin

    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    info = PngImagePlugin.PngInfo()
    info.add_text(*MARK)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True, pnginfo=info)
    return buffer.getvalue()


def make_screenshots(out: str | Path, *, example: str | Path | None = None) -> list[Path]:
    """Audit the bundled example, render its report and write the README's two PNGs.

    Parameters
    ----------
    out
        Directory for :data:`FIRST_SCREEN` and :data:`PLOT` (created). Existing pictures of
        those names are replaced only if lumiaudit wrote them (:func:`check_replaceable`).
    example
        The example's directory (default: ``data/example`` of the source tree).

    Returns
    -------
    list of pathlib.Path
        The two pictures.

    Raises
    ------
    OutputRefusedError
        A picture of those names exists and is not lumiaudit's (before anything is rendered).
    """
    from lumiaudit.report import run_report
    from lumiaudit.store.atomic import write_bytes

    # the source tree's data/example (what `lumiaudit demo` audits; not in the wheel)
    base = Path(example) if example is not None else Path(__file__).parents[2] / "data" / "example"
    target = Path(out)
    for name in (FIRST_SCREEN, PLOT):
        check_replaceable(target / name)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lumiaudit-screenshots-") as tmp:
        report = run_report(
            online=[base / "elog"], offline=[base / "prod"], out=Path(tmp) / "report"
        )
        if report.html is None:
            msg = "the report wrote no HTML page"
            raise ReportError(msg, path=report.out_dir)
        shot = chromium_screenshot(report.html, Path(tmp) / FIRST_SCREEN)
        pictures = [
            write_bytes(target / FIRST_SCREEN, _quantized(shot)),
            write_bytes(target / PLOT, _quantized(report.out_dir / "plots" / "diff_vs_run.png")),
        ]
    for picture in pictures:
        log.info("wrote %s (%d bytes)", picture, picture.stat().st_size)
    return [Path(p) for p in pictures]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lumiaudit.report.screenshots [OUT]`` (default ``docs/img``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="docs/img", help="output directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("papermill").setLevel(logging.WARNING)  # one line per cell otherwise
    try:
        make_screenshots(args.out)
    except LumiauditError as exc:  # one line naming the file, exit 2, as the CLI does
        sys.stderr.write(f"Error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
