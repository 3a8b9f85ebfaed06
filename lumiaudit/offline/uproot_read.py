"""uproot's full reading, the fallback of the lean reader and its oracle in the tests.

What :func:`~lumiaudit.offline.count.count_file` needs from a file opened by uproot (or by the
lean reader, whose :class:`~lumiaudit.offline.roottree.LeanTree` answers the same questions):
the event tree's entries (``fEntries``, old ``Double_t`` ones included), a few leaves read
basket by basket, and the per-run split and error-flag bits of per-event arrays.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lumiaudit.errors import BadFile as Bad
from lumiaudit.numbers import fmt
from lumiaudit.offline.rootio import LeanFile
from lumiaudit.offline.roottree import LeanTree
from lumiaudit.schema import FileStatus

__all__ = [
    "FLAG_BITS",
    "MAX_ENTRIES_PER_BYTE",
    "TREE_CLASSES",
    "TTREE_LONG64_ENTRIES",
    "Bad",
    "Contribution",
    "bit_counts",
    "check_entries",
    "data_level",
    "get",
    "is_tree",
    "leaves",
    "num_entries",
    "scalar",
    "split",
    "text",
    "tree_entries",
]

logger = logging.getLogger(__name__)

#: basf2 ``EventMetaData::EventErrorFlag`` bits (DOMAIN.md); other set bits are counted too.
FLAG_BITS = (0x1, 0x2, 0x4, 0x8, 0x10, 0x20)

#: (experiment, run, n_entries, n_full) of one file in one run.
Contribution = tuple[int | None, int, int, int | None]

#: Classes of a ROOT event tree: ``TNtuple``/``TNtupleD`` derive from ``TTree`` (ROOT's
#: ``TNtuple::Class()->InheritsFrom(TTree::Class())``) and are counted like one.
TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD")

#: The first ``TTree`` class version whose ``fEntries`` is a ``Long64_t``; older versions
#: (ROOT 3/4, e.g. scikit-hep-testdata's ``uproot-from-geant4.root``: ``TTree`` v5) stored a
#: ``Double_t``. ``uproot.num_entries`` reads 8 bytes as an integer whatever the version and
#: so returns the bit pattern of the double (4607182418800017408 for 1.0). uproot's oldest
#: hand-written TTree model is v16; below it uproot follows the file's streamers.
TTREE_LONG64_ENTRIES = 16

#: Entries per byte of file that no ROOT file can exceed: a basket holds at most 2**31 bytes
#: (``Int_t`` buffer), every entry of a branch takes at least one byte, and every basket costs
#: a ``TKey`` of at least 64 bytes on disk. A count above ``size * MAX_ENTRIES_PER_BYTE`` is
#: not a count (a misread header) and is never reported.
MAX_ENTRIES_PER_BYTE = 2**31 // 64


def is_tree(kind: str) -> bool:
    """Whether a class name is an event tree (:data:`TREE_CLASSES`, or a versioned TTree)."""
    return kind in TREE_CLASSES or kind.startswith("TTree")


def entries_value(value: Any, *, what: str) -> int:
    """An entry count as an ``int``; a float (old ``Double_t`` ``fEntries``) must be integral."""
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number) or number != math.floor(number):
            raise Bad(FileStatus.TRUNCATED, f"{what} is {number!r}, not a number of entries")
        return int(number)
    return int(value)


def num_entries(f: Any, tree: str, kind: str) -> int:
    """``fEntries`` without reading the branch list (what ``uproot.num_entries`` does).

    The shortcut is taken only for ``TTree`` class versions whose ``fEntries`` is a
    ``Long64_t``; older ones (``Double_t``) and ``TNtuple``/``TNtupleD`` are read through the
    file's streamers. ``f`` is uproot's file or the lean reader's ``LeanFile``.
    """
    if isinstance(f, LeanFile):  # TTree v16+ (Long64_t fEntries), TNtuple(D); or Unsure
        return LeanTree(f, tree).num_entries
    if kind.startswith("TTree"):
        from uproot.models.TTree import Model_TTree_NumEntries

        f.file.custom_classes = {"TTree": Model_TTree_NumEntries}
        try:
            short = f[tree]
            if getattr(short, "instance_version", 0) >= TTREE_LONG64_ENTRIES:
                return int(short.all_members["fEntries"][0])
            logger.debug(
                "%s: TTree v%s stores fEntries as a double: reading its streamer",
                f.file.file_path,
                getattr(short, "instance_version", "?"),
            )
        except Exception as exc:  # e.g. memberwise streaming: read the whole TTree
            logger.debug("fEntries shortcut failed for %s: %s", f.file.file_path, exc)
        finally:
            f.file.custom_classes = None
    return tree_entries(f[tree])


def tree_entries(events: Any) -> int:
    """Entries of a fully read tree object, as the streamer gave its ``fEntries``."""
    return entries_value(events.num_entries, what=f"fEntries of {events.object_path!r}")


def check_entries(n_entries: int, size: int | None, tree: str) -> None:
    """Refuse an entry count that no file of ``size`` bytes can hold (see above)."""
    if n_entries < 0 or (size is not None and n_entries > size * MAX_ENTRIES_PER_BYTE):
        raise Bad(
            FileStatus.TRUNCATED,
            f"TTree {tree!r} claims {fmt(n_entries)} entries, impossible for a file of "
            f"{fmt(size, missing='unknown')} bytes: its header is misread or corrupt",
        )


def leaves(tree: Any, names: list[str], present: set[str] | None = None) -> dict[str, Any]:
    """Read a few leaves (and the parts of split ones) in one request.

    When every name is a branch of ``tree`` (``present``: its recursive keys, read here when
    not given) they are read by name, which skips uproot's pattern matching over all branches
    (a third of the time for these small per-file reads); otherwise by ``filter_name``, which
    also finds leaf-only names and the parts of split branches.
    """
    if isinstance(tree, LeanTree):  # every name a branch of plain numbers, or Unsure
        return tree.arrays(names)
    if present is None:
        present = set(tree.keys())
    if names and all(n in present for n in names):
        direct = _baskets(tree, names)
        return direct if direct is not None else dict(tree.arrays(names, library="np"))
    return dict(tree.arrays(filter_name=[*names, *(f"{n}/*" for n in names)], library="np"))


def _baskets(tree: Any, names: list[str]) -> dict[str, Any] | None:
    """Plain numbers read basket by basket (every basket is read and decompressed).

    ``tree.arrays`` spends more time planning a read than reading a few small baskets; for
    fixed-size numbers the baskets are the array. ``None`` when a branch is anything else
    (jagged, objects, embedded baskets) or the baskets do not add up to the entries: the
    caller then uses ``tree.arrays``.
    """
    from uproot.interpretation.numerical import AsDtype

    out: dict[str, Any] = {}
    for name in names:
        branch = tree[name]
        interpretation = branch.interpretation
        if type(interpretation) is not AsDtype or branch.embedded_baskets:
            return None
        parts = [
            branch.basket(i).array(interpretation, library="np") for i in range(branch.num_baskets)
        ]
        if not parts:
            return None
        array = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if len(array) != branch.num_entries:
            return None
        out[name] = array
    return out


def get(arrays: Mapping[str, Any], branch: str) -> Any:
    """The array of ``branch``, by its full name or by its leaf name."""
    # basf2 writes split objects (key: the leaf name), uproot flat branches (the full name)
    value = arrays.get(branch)
    return arrays.get(branch.rsplit("/", 1)[-1]) if value is None else value


def scalar(arrays: Mapping[str, Any], branch: str) -> int | None:
    """The one value of a one-entry branch as an ``int``; ``None`` when absent or not one."""
    value = get(arrays, branch)
    if value is None or len(value) != 1:
        return None
    return int(value[0])


def text(arrays: Mapping[str, Any], branch: str) -> str | None:
    """The one string of a one-entry string branch; ``None`` when absent, empty or not one."""
    value = get(arrays, branch)
    if value is None or len(value) != 1 or not isinstance(value[0], str):
        return None
    return value[0] or None


def data_level(arrays: Mapping[str, Any], branch: str) -> str | None:
    """``dataLevel`` of FileMetaData's ``m_dataDescription`` map, ``None`` when absent."""
    keys = get(arrays, f"{branch}.first")
    values = get(arrays, f"{branch}.second")
    if keys is None or values is None or len(keys) != 1:
        return None
    mapping = dict(zip(list(keys[0]), list(values[0]), strict=False))
    level = mapping.get("dataLevel")
    return None if level is None else str(level)


def split(
    runs: np.ndarray,
    experiments: np.ndarray | None,
    flags: np.ndarray | None,
    default_experiment: int | None,
) -> tuple[tuple[Contribution, ...], tuple[tuple[int | None, int, int, int], ...]]:
    """Per-run entries, error-free entries and flag-bit counts from per-event arrays."""
    exps = (
        experiments.astype(np.int64)
        if experiments is not None
        else np.full(len(runs), -1 if default_experiment is None else default_experiment)
    )
    runs = runs.astype(np.int64)
    if len(runs) and runs.min() == runs.max() and exps.min() == exps.max():
        # the usual file: one run (np.unique over rows costs more than the rest of the split)
        uniq = np.array([[exps[0], runs[0]]], dtype=np.int64)
        inverse = np.zeros(len(runs), dtype=np.intp)
    else:
        keys = np.stack([exps, runs], axis=1)
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
    contributions: list[Contribution] = []
    run_flags: list[tuple[int | None, int, int, int]] = []
    for i, (exp_value, run_value) in enumerate(uniq.tolist()):
        mask = inverse == i
        exp = None if exp_value < 0 else int(exp_value)
        n_full = None if flags is None else int(np.count_nonzero(flags[mask] == 0))
        contributions.append((exp, int(run_value), int(np.count_nonzero(mask)), n_full))
        if flags is not None:
            run_flags.extend((exp, int(run_value), b, n) for b, n in bit_counts(flags[mask]))
    return tuple(contributions), tuple(run_flags)


def bit_counts(flags: np.ndarray) -> tuple[tuple[int, int], ...]:
    """``(bit, events with it set)`` for every :data:`FLAG_BITS` bit and every other set bit."""
    flags = flags.astype(np.uint64)
    seen = int(np.bitwise_or.reduce(flags)) if len(flags) else 0
    bits = sorted(set(FLAG_BITS) | {1 << i for i in range(64) if seen >> i & 1})
    return tuple((b, int(np.count_nonzero(flags & np.uint64(b)))) for b in bits)
