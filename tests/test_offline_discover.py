"""Discovery: directories, globs, list files, URLs, symlink dedup and duplicates by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lumiaudit.errors import InputNotFoundError
from lumiaudit.offline.discover import discover, find_duplicates

MakeFile = Callable[..., Path]
RUN_DIR = "e0012/4S/r00101/all/mdst/sub00"


@pytest.fixture
def prod(b2_file: MakeFile, tmp_path: Path) -> Path:
    """Two runs of two files each, a GoodRuns/ view and a stray text file."""
    for run in (101, 102):
        for unit in (1, 2):
            b2_file(
                f"prod/e0012/4S/r{run:05d}/all/mdst/sub00/mdst.physics.0012.{run:05d}.HLT{unit}.f00000.root",
                run=run,
                n_events=3,
            )
    view = tmp_path / "prod/e0012/4S/GoodRuns"
    view.mkdir()
    (view / "r00101").symlink_to("../r00101")
    (tmp_path / "prod/e0012/4S/README.txt").write_text("not data\n")
    return tmp_path / "prod"


def test_directory_walk_follows_views_but_counts_each_file_once(prod: Path) -> None:
    found = discover(prod)
    assert len(found) == 4
    assert all(Path(f.path).resolve() == Path(f.path) for f in found)
    assert [f.path for f in found] == sorted(f.path for f in found)
    linked = [f for f in found if f.name.run == 101]
    assert all("goodruns_dir" in f.markers and "symlink" in f.markers for f in linked)
    assert all(len(f.reached_as) == 1 and "GoodRuns" in f.reached_as[0] for f in linked)
    assert all(f.markers == "" for f in found if f.name.run == 102)


def test_view_alone_reaches_the_real_files(prod: Path) -> None:
    found = discover(prod / "e0012/4S/GoodRuns")
    assert {f.name.run for f in found} == {101}
    assert all("GoodRuns" not in f.path for f in found)


def test_same_file_named_twice_and_via_link_is_one(prod: Path, tmp_path: Path) -> None:
    one = next(prod.glob("e0012/4S/r00102/**/*HLT1*.root"))
    link = tmp_path / "alias.root"
    link.symlink_to(one)
    found = discover([one, str(one), link])
    assert len(found) == 1
    assert "symlink" in found[0].markers


def test_glob_and_recursive_glob(prod: Path) -> None:
    assert len(discover(str(prod / "e0012/4S/r0010*/all/mdst/sub00/*HLT1*.root"))) == 2
    assert len(discover(str(prod / "**" / "*.root"))) == 4


def test_list_file_with_comments_relative_paths_and_urls(prod: Path, tmp_path: Path) -> None:
    listing = tmp_path / "files.txt"
    listing.write_text(
        "# production of run 101\n"
        f"prod/{RUN_DIR}/mdst.physics.0012.00101.HLT1.f00000.root\n"
        "\n"
        f"{prod}/{RUN_DIR}/mdst.physics.0012.00101.HLT2.f00000.root  # absolute\n"
        "root://localhost:1094//store/mdst.physics.0012.00103.HLT1.f00000.root\n"
    )
    found = discover(listing)
    assert [f.name.run for f in found] == [101, 101, 103]
    assert found[2].path.startswith("root://")


def test_missing_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError) as err:
        discover(tmp_path / "nope")
    assert "nope" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(InputNotFoundError, match="no file matches"):
        discover(str(tmp_path / "*.root"))
    listing = tmp_path / "list.txt"
    listing.write_text("# header\nmissing.root\n")
    with pytest.raises(InputNotFoundError, match=r"list\.txt:2: .*missing\.root"):
        discover(listing)
    with pytest.raises(InputNotFoundError, match="no input"):
        discover([])


def test_urls_pass_through_untouched() -> None:
    urls = ["https://host/a/mdst_000001_prod00000001_task00000001.root", "root://h//b/x.root"]
    assert [f.path for f in discover(urls)] == sorted(urls)


def test_symlink_loops_and_dangling_links_do_not_hang(tmp_path: Path, b2_file: MakeFile) -> None:
    b2_file("top/a/mdst.physics.0012.00101.HLT1.f00000.root")
    (tmp_path / "top/a/loop").symlink_to("..")
    (tmp_path / "top/a/dangling.root").symlink_to(tmp_path / "gone.root")
    (tmp_path / "top/a/self.root").symlink_to(tmp_path / "top/a/self.root")
    found = discover(tmp_path / "top")
    names = sorted(Path(f.path).name for f in found)
    # unreadable entries are kept: counting reports them as io_error, with the reason
    assert names == ["gone.root", "mdst.physics.0012.00101.HLT1.f00000.root", "self.root"]


def test_shared_goodruns_placeholders_are_not_data(shared_data: Path) -> None:
    view = shared_data / "b2-sample/prod/release-03-02-04/DB00000677/bucket7/e0010/4S/GoodRuns"
    assert any(view.iterdir())
    with pytest.raises(InputNotFoundError):
        discover(str(view / "*.root"))
    assert not [f for f in discover(view.parent) if "GoodRuns" in f.path]


def test_duplicates_by_name_keep_first_path_or_first_readable(tmp_path: Path) -> None:
    for sub in ("sub00", "sub01", "sub02"):
        d = tmp_path / RUN_DIR.replace("sub00", sub)
        d.mkdir(parents=True)
        (d / "mdst.physics.0012.00101.HLT1.f00000.root").write_bytes(b"x")
    skim = tmp_path / "e0012/4S/r00101/skim/hadron/mdst/sub00"
    skim.mkdir(parents=True)
    (skim / "mdst.physics.0012.00101.HLT1.f00000.root").write_bytes(b"x")
    found = discover(tmp_path)
    assert len(found) == 4
    dups = find_duplicates(found)
    kept = set(dups.values())
    assert len(dups) == 2
    assert len(kept) == 1
    assert "sub00" in kept.pop()
    assert not any("skim" in p for p in dups)  # a skim file is no copy of the all file
    readable = ["sub00" not in f.path and "skim" not in f.path for f in found]
    dups = find_duplicates(found, readable=readable)
    assert {Path(k).parent.name for k in dups} == {"sub00", "sub02"}
    assert all("sub01" in v for v in dups.values())


_COUNT_FILES = """
import json, sys
from lumiaudit.offline import count_events
r = count_events(sys.argv[1:], mode="fast")
print(r.files[["path", "run", "status", "error", "n_entries"]].to_json(orient="records"))
"""


def _count_without_dac(paths: list[Path]) -> list[dict[str, object]]:
    """count_events in a child that obeys file modes (even as root; see tests/support/faults.py)."""
    import json
    import os
    import subprocess
    import sys

    from tests.support.faults import can_bypass_permissions, drop_dac_capabilities

    repo = Path(__file__).parent.parent
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _COUNT_FILES, *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
            preexec_fn=drop_dac_capabilities if can_bypass_permissions() else None,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:  # prctl refused (no CAP_SETPCAP)
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE to make a directory unreadable: {exc}")
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, object]] = json.loads(proc.stdout)
    return rows


# (directory made unreadable, mode): no listing (0o300), no search (0o600), neither (0o000)
@pytest.mark.parametrize(
    "given", ["prod", "prod/**/*.root", "prod/e0012/4S/r*/all/mdst/sub*/*.root"]
)
@pytest.mark.parametrize("where", ["sub00", "mdst", "r00101"])
@pytest.mark.parametrize("mode", [0o000, 0o300, 0o600])
def test_an_unreadable_directory_is_an_io_error_row(
    b2_file: MakeFile, tmp_path: Path, where: str, mode: int, given: str
) -> None:
    good = b2_file(
        "prod/e0012/4S/r00102/all/mdst/sub00/mdst.physics.0012.00102.HLT1.f00000.root", run=102
    )
    hidden = b2_file(f"prod/{RUN_DIR}/mdst.physics.0012.00101.HLT2.f00000.root")
    closed = next(p for p in hidden.parents if p.name == where)
    closed.chmod(mode)
    try:
        rows = _count_without_dac([tmp_path / given])
    finally:
        closed.chmod(0o755)
    by_status: dict[object, list[dict[str, object]]] = {}
    for row in rows:
        by_status.setdefault(row["status"], []).append(row)
    ok = [r["path"] for r in by_status.get("ok", [])]
    if str(hidden) in ok:
        # reached through the closed directory (it only lacked read, not search, permission
        # and the pattern names the way literally): counted, nothing is hidden
        assert (mode, given) == (0o300, "prod/e0012/4S/r*/all/mdst/sub*/*.root")
        assert sorted(ok) == sorted([str(good), str(hidden)])
        return
    assert ok == [str(good)]
    errors = by_status.get("io_error", [])
    assert errors, rows
    assert all(r["n_entries"] is None for r in errors)
    assert all("Permission" in str(r["error"]) for r in errors)
    # the row is where the missing files are: the unreadable directory or below, run 101
    assert all(r["run"] == 101 for r in errors)
    assert all(str(r["path"]).startswith(str(closed)) for r in errors)


@pytest.mark.parametrize("suffix", [".root", ".ROOT", ".Root", ".SROOT"])
def test_root_suffix_in_any_case_is_counted_with_a_warning(
    b2_file: MakeFile, tmp_path: Path, suffix: str, caplog: pytest.LogCaptureFixture
) -> None:
    made = b2_file(f"prod/{RUN_DIR}/mdst.physics.0012.00101.HLT1.f00000.root")
    renamed = made.with_name(made.name[: -len(".root")] + suffix)
    made.rename(renamed)
    for given in (tmp_path / "prod", renamed):  # walked, and named on the command line
        caplog.clear()
        found = discover(given)
        assert [f.path for f in found] == [str(renamed)]
        assert (found[0].name.run, found[0].name.file_index) == (101, 0)
        warned = any("upper-case ROOT suffix" in r.getMessage() for r in caplog.records)
        assert warned == (suffix != suffix.lower())


def test_a_run_with_an_unreadable_subdirectory_is_blamed_on_it_not_on_a_missing_unit(
    b2_sample: Path, tmp_path: Path
) -> None:
    """Seen: the files vanished (a log warning) and the deficit became ``missing_hlt_unit``."""
    import csv
    import os
    import shutil
    import subprocess

    from tests.support.faults import can_bypass_permissions, cli_argv, drop_dac_capabilities

    rel = Path("release-03-02-04/DB00000677/bucket7/e0010/4S/r03000/all/mdst")
    prod = tmp_path / "prod"
    shutil.copytree(b2_sample / "prod" / rel, prod / rel)
    hidden = prod / rel / "sub01"
    hidden.mkdir()
    for path in (prod / rel / "sub00").glob("*HLT4*"):
        path.rename(hidden / path.name)
    hidden.chmod(0)
    out = tmp_path / "audit"
    repo = Path(__file__).parent.parent
    online = b2_sample / "online_truth.csv"
    args = ["audit", "--online", str(online), "--offline", str(prod), "--out", str(out)]
    try:
        proc = subprocess.run(
            [*cli_argv(), *args, "--no-plots", "--no-progress"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(repo)},
            preexec_fn=drop_dac_capabilities if can_bypass_permissions() else None,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE to make a directory unreadable: {exc}")
    finally:
        hidden.chmod(0o755)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with (out / "files.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "io_error"]
    assert [(r["path"], r["run"]) for r in rows] == [(str(hidden), "3000")]
    with (out / "runs.csv").open(newline="") as fh:
        run = next(r for r in csv.DictReader(fh) if r["run"] == "3000")
    assert "unreadable_file" in run["reasons"], run
    assert "missing_hlt_unit" not in run["reasons"], run
