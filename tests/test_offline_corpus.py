"""Correctness corpus (issue 14): every real ROOT file gives ROOT's entries in every mode.

Oracles, never lumiaudit's own reading:

- ``root-compat``: ``entries.csv``, counted with ROOT 6.40's ``TTree::GetEntries``;
- ``b2-sample``: ``truth_files.csv`` (what the generator wrote);
- the wide sample and scikit-hep-testdata files: the length of a branch read in full by
  uproot. Not ``tree.num_entries``: for a ROOT 4 file that is the same ``fEntries`` shortcut
  that reads a ``Double_t`` as an integer (see
  ``lumiaudit.offline.uproot_read.TTREE_LONG64_ENTRIES``).

A file is either counted exactly or refused (a bad status with a reason); a wrong number with
status ``ok`` is the failure this file exists to catch.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from lumiaudit.offline import count_file

MODES = ("fast", "auto", "deep")
HERE = Path(__file__).parent
SKHEP = HERE / "data" / "skhep-testdata"


def _branch_length(path: Path, tree: str) -> int | None:
    """Entries of ``tree`` as the length of the first branch uproot can read in full."""
    import uproot

    with uproot.open(path) as f:
        events = f[tree]
        for branch in events.itervalues(recursive=True):
            if branch.branches:  # a split object's top: its array is not one per entry
                continue
            try:
                return len(branch.array(library="np"))
            except Exception:  # an interpretation uproot lacks: try the next branch
                continue
    return None


def _check(path: Path, tree: str, expected: int) -> list[str]:
    wrong = []
    for mode in MODES:
        rec = count_file(str(path), tree=tree, mode=mode)
        if rec.readable:
            if rec.n_entries != expected:
                wrong.append(f"{path.name}:{tree} {mode}: {rec.n_entries} != {expected}")
        elif not rec.error:
            wrong.append(f"{path.name}:{tree} {mode}: refused ({rec.status}) without a reason")
    return wrong


@pytest.mark.parametrize(
    ("name", "tree", "expected"),
    [
        # ROOT 4.00 (TTree v5: fEntries is a Double_t); counts from reading every branch
        ("uproot-from-geant4.root", "Details", 1),
        ("uproot-from-geant4.root", "HitStrips", 4808),
        ("uproot-from-geant4.root", "GeneratedTracks", 1000),
        ("uproot-from-geant4.root", "TrackedRays", 224),
        # a TNtuple is a TTree (ROOT 5.34)
        ("uproot-hepdata-example.root", "ntuple", 75000),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_vendored_old_and_ntuple_files(name: str, tree: str, expected: int, mode: str) -> None:
    rec = count_file(str(SKHEP / name), tree=tree, mode=mode)
    assert (rec.status, rec.n_entries, rec.error) == ("ok", expected, "")


@pytest.mark.parametrize(("name", "tree"), [("uproot-from-geant4.root", "HitStrips")])
def test_the_oracle_is_not_the_shortcut(name: str, tree: str) -> None:
    """uproot's ``num_entries`` gives the double's bit pattern here; the oracle does not."""
    import uproot

    (_, _, shortcut), *_ = uproot.num_entries({str(SKHEP / name): tree})
    assert shortcut == 4662008466607439872  # 4808.0 read as a Long64_t
    assert _branch_length(SKHEP / name, tree) == 4808


def test_root_compat_matches_root_get_entries(shared_data: Path) -> None:
    folder = shared_data / "root-compat"
    with (folder / "entries.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 50
    wrong = [e for r in rows for e in _check(folder / r["file"], r["tree"], int(r["entries"]))]
    assert not wrong, "\n".join(wrong)


def test_b2_sample_matches_the_truth(shared_data: Path) -> None:
    folder = shared_data / "b2-sample"
    with (folder / "truth_files.csv").open(newline="") as fh:
        rows = [
            r for r in csv.DictReader(fh) if r["status"] in ("ok", "empty", "metadata_mismatch")
        ]
    assert len(rows) > 300
    wrong = []
    for row in rows:
        for mode in MODES:
            rec = count_file(str(folder / row["path"]), mode=mode)
            if rec.n_entries != int(row["n_entries"]) or not rec.readable:
                wrong.append(f"{row['path']} {mode}: {rec.status} {rec.n_entries}")
    assert not wrong, "\n".join(wrong[:20])


def test_wide_sample_matches_a_full_branch_read(shared_data: Path) -> None:
    files = sorted((shared_data / "wide-sample").rglob("*.root"))
    assert len(files) == 40
    wrong = []
    for path in files:
        expected = _branch_length(path, "tree")
        assert expected is not None
        wrong += _check(path, "tree", expected)
    assert not wrong, "\n".join(wrong)


def _skhep_trees() -> list[tuple[Path, str]]:
    spec = importlib.util.find_spec("skhep_testdata")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    import uproot

    out = []
    for path in sorted(folder.glob("*.root")):
        try:
            with uproot.open(path) as f:
                names = {
                    k.split(";")[0]
                    for k, v in f.classnames().items()
                    if "TTree" in v or "TNtuple" in v
                }
        except Exception:  # files uproot cannot open at all: count_file must refuse them
            names = {"tree"}
        out.extend((path, n) for n in sorted(names))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("path", "tree"), _skhep_trees(), ids=lambda v: getattr(v, "name", v))
def test_scikit_hep_testdata_wheel(path: Path, tree: str) -> None:
    """Every tree of scikit-hep-testdata 0.3.12 (``pip install scikit-hep-testdata==0.3.12``,
    an 80 MB wheel, so not in the ``test`` extra: runs only where it is installed)."""
    expected = _branch_length(path, tree)
    if expected is None:
        # no branch uproot can read: the count must still be ROOT's or refused
        for mode in MODES:
            rec = count_file(str(path), tree=tree, mode=mode)
            assert rec.readable or rec.error
        return
    wrong = _check(path, tree, expected)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("n_entries", "size", "refused"),
    [
        (0, 10, False),
        (1, 1, False),
        (4808, 171_687, False),
        (171_687 * (2**31 // 64), 171_687, False),  # the bound itself
        (171_687 * (2**31 // 64) + 1, 171_687, True),
        (4662008466607439872, 171_687, True),  # 4808.0's bit pattern
        (-1, 10, True),
        (-1, None, True),
        (10**18, None, False),  # size unknown (a URL without a size): only the sign is checked
    ],
)
def test_impossible_entry_counts_are_refused(
    n_entries: int, size: int | None, refused: bool
) -> None:
    from lumiaudit.offline.uproot_read import Bad, check_entries

    if refused:
        with pytest.raises(Bad, match="impossible for a file of"):
            check_entries(n_entries, size, "tree")
    else:
        check_entries(n_entries, size, "tree")


@pytest.mark.parametrize(
    ("kind", "tree"),
    [
        ("TTree", True),
        ("TNtuple", True),
        ("TNtupleD", True),
        ("ROOT::RNTuple", False),  # counted by its own branch of _read, not as a TTree
        ("TH1F", False),
        ("TDirectory", False),
        ("", False),
    ],
)
def test_tree_classes(kind: str, tree: bool) -> None:
    """TNtupleD has no file in the corpus (uproot cannot write one): its class name is here."""
    from lumiaudit.offline.uproot_read import is_tree

    assert is_tree(kind) is tree
