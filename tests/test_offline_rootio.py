"""The lean ROOT reader against uproot's full reading (the oracle) and ROOT's own counts.

Every tree of every corpus file: the lean ``fEntries`` equals uproot's (and ROOT 6.40's
``GetEntries`` in root-compat's ``entries.csv``) or the lean reader refuses (``Unsure``); every
branch it reads gives uproot's values exactly. ``count_file`` gives the same record with the
lean reader first as with uproot alone, in every mode; and for the Belle II-like files the lean
reader really is the one that answered (no fallback).
"""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import uproot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiaudit.offline.count import MODES, count_file
from lumiaudit.offline.rootio import LeanFile, Unsure
from lumiaudit.offline.roottree import TREE_CLASSES, LeanTree

FALLBACK = "lean reading gave up"


def _trees(path: Path) -> Iterator[tuple[str, object]]:
    with uproot.open(path) as f:
        names = {
            n.split(";")[0] for n, c in f.classnames(recursive=False).items() if c in TREE_CLASSES
        }
        for name in sorted(names):
            yield name, f[name]  # uproot's highest cycle, as the lean reader's


def _lean_entries(path: Path) -> list[int]:
    with LeanFile(str(path)) as lean:
        keys = [k for k in lean.keys.values() if k.classname in TREE_CLASSES]
        return [LeanTree(lean, k.name).num_entries for k in keys]


def check_file(path: Path) -> tuple[int, int, int]:
    """Compare the lean reader with uproot on every tree and branch of ``path``.

    Returns (trees read, trees refused, branches read); asserts on any disagreement.
    """
    try:
        uproot_file = uproot.open(path)
    except Exception:  # not readable by uproot: the lean reader must not read it either
        with pytest.raises((Unsure, OSError)):
            _lean_entries(path)
        return 0, 0, 0
    uproot_file.close()
    read = refused = leaves = 0
    with LeanFile(str(path)) as lean:
        for name, tree in _trees(path):
            try:
                entries = LeanTree(lean, name).num_entries
            except Unsure:
                refused += 1
                continue
            read += 1
            assert entries == tree.num_entries, (path, name)  # type: ignore[attr-defined]
            lean_tree = LeanTree(lean, name)
            for key in tree.keys(recursive=True):  # type: ignore[attr-defined]
                try:
                    texts = lean_tree.strings([key])[key]
                except Unsure:
                    pass
                else:  # std::string members (FileMetaData's m_release, m_lfn, ...)
                    assert texts == list(tree[key].array(library="np")), (path, key)  # type: ignore[index]
                    leaves += 1
                    continue
                try:
                    values = lean_tree.arrays([key])[key]
                except Unsure:
                    continue
                expected = tree[key].array(library="np")  # type: ignore[index]
                assert values.dtype == expected.dtype, (path, key)
                assert np.array_equal(values, expected), (path, key)
                leaves += 1
    return read, refused, leaves


def test_vendored_files_agree_with_uproot(data_dir: Path) -> None:
    files = sorted(data_dir.glob("**/*.root"))
    totals = np.sum([check_file(p) for p in files], axis=0)
    read, _, leaves = totals
    assert read >= 20  # the lean reader read, it did not refuse everything
    assert leaves >= 200


def test_release_is_read_and_equals_uproots(data_dir: Path) -> None:
    """FileMetaData's m_release by the lean string reader, equal to uproot's; strings of
    other layouts with the same streamer type (vector<string>, a map's keys) are refused."""
    files = sorted((data_dir / "b2-sample").glob("**/*.root"))
    files += sorted((data_dir / "wide-sample").glob("*.root"))
    releases = set()
    for path in files:
        if count_file(str(path)).status not in ("ok", "empty", "metadata_mismatch"):
            continue  # the injected faults: not ROOT, cut, 0 bytes
        with uproot.open(path) as f:
            expected = str(f["persistent"]["FileMetaData/m_release"].array(library="np")[0])
        with LeanFile(str(path)) as lean:
            tree = LeanTree(lean, "persistent")
            assert tree.strings(["FileMetaData/m_release"]) == {
                "FileMetaData/m_release": [expected]
            }
            for other in ("FileMetaData/m_parentLfns", "FileMetaData/m_nEvents"):
                with pytest.raises(Unsure):
                    tree.strings([other])
        rec = count_file(str(path))
        assert rec.release == (expected or None), path
        assert count_file(str(path), mode="fast").release is None  # fast reads no metadata
        releases.add(expected)
    assert releases == {"release-03-02-04", "release-06-00-00"}


def test_no_release_branch_is_missing_not_a_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mdst.physics.0012.00101.HLT1.f00000.root"
    meta = {
        f"FileMetaData/m_{leaf}": np.array([value], dtype=np.int32)
        for leaf, value in (
            ("nEvents", 5),
            ("nFullEvents", 5),
            ("experimentLow", 12),
            ("experimentHigh", 12),
            ("runLow", 101),
            ("runHigh", 101),
        )
    }
    with uproot.recreate(path) as f:
        for name, branches in (("tree", {"x": np.arange(5, dtype=np.int32)}), ("persistent", meta)):
            f.mktree(name, {k: v.dtype for k, v in branches.items()})
            f[name].extend(branches)
    caplog.set_level(logging.DEBUG, logger="lumiaudit.offline.count")
    rec = count_file(str(path))
    assert (rec.n_meta, rec.run_low, rec.release) == (5, 101, None)
    assert not [r for r in caplog.records if FALLBACK in r.getMessage()]
    monkeypatch.setenv("LUMIAUDIT_LEAN", "0")
    assert count_file(str(path)) == rec


def test_root_compat_entries_are_roots_own(data_dir: Path, shared_data: Path) -> None:
    for directory in (data_dir / "root-compat", shared_data / "root-compat"):
        with (directory / "entries.csv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert rows
        for row in rows:
            with LeanFile(str(directory / row["file"])) as lean:
                assert lean.keys[row["tree"]].cycle == int(row["cycle"])
                assert LeanTree(lean, row["tree"]).num_entries == int(row["entries"]), row


@pytest.mark.parametrize("corpus", ["root-compat", "b2-sample", "wide-sample"])
def test_shared_corpus_agrees_with_uproot(
    shared_data: Path, corpus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted((shared_data / corpus).glob("**/*.root"))
    assert files
    read = sum(check_file(p)[0] for p in files)
    assert read >= len(files) // 2
    if corpus == "root-compat":
        with (shared_data / corpus / "entries.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                _same_records(shared_data / corpus / row["file"], monkeypatch, tree=row["tree"])
    elif corpus == "wide-sample":
        for path in files:
            _same_records(path, monkeypatch)


def test_scikit_hep_testdata_agrees_with_uproot(data_dir: Path) -> None:
    """All 140 files of scikit-hep-testdata 0.3.12 where it is installed, else the two
    vendored ones (the wheel is 80 MB; see tests/data/README.md)."""
    try:
        import skhep_testdata

        files = sorted(Path(skhep_testdata.__file__).parent.glob("**/*.root"))
        assert len(files) >= 100
    except ImportError:
        files = sorted((data_dir / "skhep-testdata").glob("*.root"))
        assert len(files) == 2
    read = 0
    for path in files:
        read += check_file(path)[0]
    assert read >= len(files) // 2
    # ROOT 3/4 trees (class version 5, Double_t fEntries) are refused, never guessed
    old = next(p for p in files if p.name == "uproot-from-geant4.root")
    with LeanFile(str(old)) as lean, pytest.raises(Unsure, match="class version 5"):
        _ = LeanTree(lean, next(iter(lean.keys))).num_entries
    # a TNtuple streams its TTree first: read by the lean reader too
    ntuple = next(p for p in files if p.name == "uproot-hepdata-example.root")
    with LeanFile(str(ntuple)) as lean:
        assert lean.keys["ntuple"].classname == "TNtuple"
        assert LeanTree(lean, "ntuple").num_entries == 75000


def _same_records(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> None:
    for mode in MODES:
        monkeypatch.setenv("LUMIAUDIT_LEAN", "0")
        full = count_file(str(path), mode=mode, **kw)  # type: ignore[arg-type]
        monkeypatch.setenv("LUMIAUDIT_LEAN", "1")
        lean = count_file(str(path), mode=mode, **kw)  # type: ignore[arg-type]
        assert lean == full, (path, mode)


def test_count_file_same_record_lean_or_full(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    files = sorted((data_dir / "b2-sample").glob("**/*.root"))
    files += sorted((data_dir / "wide-sample").glob("*.root"))
    files += sorted((data_dir / "skhep-testdata").glob("*.root"))
    assert len(files) > 20
    for path in files:
        _same_records(path, monkeypatch)
    # the Belle II-like files that are good were read by the lean reader itself
    caplog.set_level(logging.DEBUG, logger="lumiaudit.offline.count")
    for path in sorted((data_dir / "wide-sample").glob("*.root")):
        for mode in MODES:
            assert count_file(str(path), mode=mode).status == "ok"
    assert not [r for r in caplog.records if FALLBACK in r.getMessage()]


def test_bad_files_go_the_full_way(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = data_dir / "wide-sample" / "mdst.physics.0014.00100.HLT1.f00000.root"
    data = good.read_bytes()
    cut = tmp_path / good.name
    cut.write_bytes(data[: len(data) // 2])
    caplog.set_level(logging.DEBUG, logger="lumiaudit.offline.count")
    rec = count_file(str(cut))
    assert rec.status == "truncated"
    assert any(FALLBACK in r.getMessage() for r in caplog.records)
    with pytest.raises(Unsure, match="ROOT header says"):
        LeanFile(str(cut))


def test_corrupt_basket_is_refused_not_read(data_dir: Path, tmp_path: Path) -> None:
    good = data_dir / "wide-sample" / "mdst.physics.0014.00100.HLT1.f00000.root"
    path = tmp_path / good.name
    shutil.copy(good, path)
    with LeanFile(str(path)) as lean:
        tree = LeanTree(lean, "tree")
        runs = tree.arrays(["EventMetaData/m_run"])["EventMetaData/m_run"]
        branch = tree._resolve("EventMetaData/m_run")
        assert branch is not None
        seek = tree._leafy(branch).basket_seek[0]
    assert set(runs.tolist()) == {100}
    raw = bytearray(path.read_bytes())
    for i in range(seek + 80, seek + 120):  # inside the compressed basket data
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    with LeanFile(str(path)) as lean, pytest.raises(Unsure):
        LeanTree(lean, "tree").arrays(["EventMetaData/m_run"])
    assert count_file(str(path), mode="deep").status != "ok"


def test_jagged_and_missing_branches_are_refused(data_dir: Path) -> None:
    path = data_dir / "wide-sample" / "mdst.physics.0014.00100.HLT1.f00000.root"
    with LeanFile(str(path)) as lean:
        tree = LeanTree(lean, "tree")
        with pytest.raises(Unsure, match="TLeafElement of type -1"):
            tree.arrays(["Tracks.m_px"])  # a std::vector<float> per event
        with pytest.raises(Unsure, match="no branch"):
            tree.arrays(["EventMetaData/m_nothing"])
        assert tree.keys_present(["EventMetaData/m_run", "EventMetaData/m_nothing", "x"]) == {
            "EventMetaData/m_run"
        }
        with pytest.raises(Unsure):
            LeanTree(lean, "no-such-tree")


@pytest.mark.parametrize(
    "compression",
    [None, uproot.ZLIB(1), uproot.LZMA(1), uproot.LZ4(1), uproot.ZSTD(1)],
    ids=["none", "zlib", "lzma", "lz4", "zstd"],
)
def test_uproot_written_files_every_codec(tmp_path: Path, compression: object) -> None:
    path = tmp_path / "t.root"
    rng = np.random.default_rng(5)
    with uproot.recreate(path, compression=compression) as f:
        f.mktree("tree", {"a": np.int32, "b": np.float64, "c": np.uint64, "d": np.bool_})
        for _ in range(3):  # three baskets per branch
            n = 400
            f["tree"].extend(
                {
                    "a": rng.integers(-5, 5, n).astype(np.int32),
                    "b": rng.random(n),
                    "c": rng.integers(0, 2**40, n).astype(np.uint64),
                    "d": rng.random(n) < 0.5,
                }
            )
    read, refused, leaves = check_file(path)
    assert (read, refused, leaves) == (1, 0, 4)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_bytes_never_give_another_answer(data_dir: Path, data: st.DataObject) -> None:
    """Flip bytes of a real uncompressed file: the lean reader agrees with uproot or refuses."""
    original = (data_dir / "root-compat" / "uproot-sample-5.30.00-uncompressed.root").read_bytes()
    raw = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.root"
        path.write_bytes(bytes(raw))
        try:
            with uproot.open(path) as f:
                expected = f["sample"].num_entries
                values = f["sample"]["i4"].array(library="np")
        except Exception:
            return  # uproot cannot read it: count_file reports it, the lean reader is not asked
        try:
            with LeanFile(str(path)) as lean:
                tree = LeanTree(lean, "sample")
                assert tree.num_entries == expected
                assert np.array_equal(tree.arrays(["i4"])["i4"], values)
        except (Unsure, OSError):
            pass


def test_cycles_of_different_classes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "mdst.physics.0012.00101.HLT1.f00000.root"
    with uproot.recreate(path) as f:
        f["tree"] = np.histogram([1, 2, 3])  # tree;1 is a histogram
        f.mktree("tree", {"a": np.int32})  # tree;2 the TTree
        f["tree"].extend({"a": np.arange(5, dtype=np.int32)})
    with pytest.raises(Unsure, match="different classes"):
        LeanFile(str(path))
    assert count_file(str(path), mode="fast").n_entries == 5  # uproot's reading
