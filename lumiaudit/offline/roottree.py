"""Lean TTree reading: ``fEntries`` and a few plain-number leaves, skipping every other branch.

A streamed ROOT object starts with a byte count (``0x40000000 | n``) and a class version, so
a reader that knows where an object starts also knows where it ends without decoding it
(``TBufferFile::ReadVersion``/``CheckByteCount``). This module decodes only:

* the TTree header up to ``fEntries`` (:func:`tree_entries`; from the first bytes of the key's
  first block, so a zlib/lzma tree header is only partly inflated), or up to ``fBranches``;
* the names of the branches in ``fBranches`` (each other branch is skipped by its byte
  count), the sub-branches of the wanted ones, and the wanted branches' leaf type and basket
  table (``fBasketBytes``/``fBasketEntry``/``fBasketSeek``);
* the wanted baskets, read and decompressed whole.

Only layouts it knows exactly are read (TTree v16-v20, TBranch v10-v13, TBranchElement
v8-v10, TLeaf v2, fixed-size numbers, one value per entry, baskets on file); anything else
raises :class:`~lumiaudit.offline.rootio.Unsure` and the caller reads the file with uproot.
Layouts as in uproot's ``models/TTree.py``, ``TBranch.py`` and ``TLeaf.py``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from lumiaudit.offline.rootio import Key, LeanFile, Unsure, open_basket, read_string
from lumiaudit.offline.roottext import TEXT_TYPES, branch_strings

__all__ = ["TREE_CLASSES", "LeanTree", "tree_entries"]

logger = logging.getLogger(__name__)

_BYTECOUNT = 0x40000000
_NEW_CLASS = 0xFFFFFFFF
_CLASS_MASK = 0x80000000
_MAP_OFFSET = 2
_MEMBERWISE = 0x4000
_IS_REFERENCED = 1 << 4

#: Key classes whose object is (or wraps) a TTree; TNtuple/TNtupleD stream a TTree first.
TREE_CLASSES = frozenset({"TTree", "TNtuple", "TNtupleD"})

_HEAD = struct.Struct(">IH")
_NAMES = struct.Struct(">IHIHhII")  # TBranch head, TNamed head, TObject version/uid/bits
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_II = struct.Struct(">ii")
#: TTree members between TAttMarker and the cluster arrays (uproot ``_ttreeNN_format1``)
_TREE_FORMATS = {
    16: struct.Struct(">qqqqdiiiqqqqq"),
    17: struct.Struct(">qqqqdiiiiqqqqq"),
    18: struct.Struct(">qqqqqdiiiiqqqqqq"),
    19: struct.Struct(">qqqqqdiiiiIqqqqqq"),
    20: struct.Struct(">qqqqqdiiiiIqqqqqq"),
}
_N_CLUSTER_RANGE = 10  # index of fNClusterRange in the v19/v20 format
_BRANCH_V10 = struct.Struct(">iiiiqiIiqqq")
_BRANCH_V11 = struct.Struct(">iiiiqiIiqqqq")
_BRANCH_V13A = struct.Struct(">iiiiq")
_BRANCH_V13B = struct.Struct(">iIiqqqq")
_LEAF = struct.Struct(">iii??")

#: TLeaf classes of one plain number and their big-endian dtypes (signed, unsigned)
_LEAF_TYPES = {
    "TLeafB": (">i1", ">u1"),
    "TLeafS": (">i2", ">u2"),
    "TLeafI": (">i4", ">u4"),
    "TLeafL": (">i8", ">u8"),
    "TLeafG": (">i8", ">u8"),
    "TLeafF": (">f4", ">f4"),
    "TLeafD": (">f8", ">f8"),
    "TLeafO": ("?", "?"),
}
#: ``TLeafElement.fType`` (ROOT ``EDataType``) of plain numbers; kLong_t/kULong_t are 8 bytes
#: on file; Double32/Float16 (9, 19) and kBits (15) are packed, and uproot reads a kCounter
#: (6) as unsigned: all three are left to uproot
_ELEMENT_TYPES = {
    1: ">i1",
    2: ">i2",
    3: ">i4",
    4: ">i8",
    5: ">f4",
    8: ">f8",
    11: ">u1",
    12: ">u2",
    13: ">u4",
    14: ">u8",
    16: ">i8",
    17: ">u8",
    18: "?",
}


class _Buf:
    """A decompressed object and the key length its references count from."""

    __slots__ = ("_classes", "data", "keylen")

    def __init__(self, data: bytes, keylen: int) -> None:
        self.data = data
        self.keylen = keylen
        self._classes: dict[int, str] = {}

    def head(self, pos: int) -> tuple[int, int, int]:
        """Byte count and version at ``pos``: (position after them, version, end)."""
        count, version = _HEAD.unpack_from(self.data, pos)
        if not count & _BYTECOUNT:
            msg = f"object without a byte count at {pos}"
            raise Unsure(msg)
        if version & _MEMBERWISE:
            msg = f"memberwise-streamed object at {pos}"
            raise Unsure(msg)
        # the end may lie past a partly inflated buffer: reads past it raise IndexError
        return pos + 6, version, pos + 4 + (count & ~_BYTECOUNT)

    def skip(self, pos: int) -> int:
        """Skip one byte-counted object (a base class or a member) at ``pos``."""
        return self.head(pos)[2]

    def tobject(self, pos: int) -> int:
        version = struct.unpack_from(">h", self.data, pos)[0]
        pos += 2
        if version & 0x4000:  # uproot: kByteCountVMask
            pos += 4
        bits = _U32.unpack_from(self.data, pos + 4)[0]
        pos += 8
        return pos + 2 if bits & _IS_REFERENCED else pos

    def tnamed_name(self, pos: int) -> tuple[str, int]:
        """``fName`` of the TNamed at ``pos``, and the end of the TNamed."""
        at, _, end = self.head(pos)
        name, _ = read_string(self.data, self.tobject(at))
        return name, end

    def object_any(self, pos: int) -> tuple[str | None, int, int, int]:
        """A pointer member (``ReadObjectAny``): (class or None, tag, data start, end)."""
        beg = pos
        (count,) = _U32.unpack_from(self.data, pos)
        pos += 4
        if not count & _BYTECOUNT or count == _NEW_CLASS:
            if count == 0:
                return None, 0, pos, pos
            msg = f"object reference or class without byte count at {beg}"
            raise Unsure(msg)
        (tag,) = _U32.unpack_from(self.data, pos)
        end = beg + 4 + (count & ~_BYTECOUNT)
        if end > len(self.data):
            msg = "object past the end of the buffer"
            raise IndexError(msg)
        if tag == _NEW_CLASS:
            stop = self.data.index(b"\x00", pos + 4, end)
            return self.data[pos + 4 : stop].decode(), tag, stop + 1, end
        if not tag & _CLASS_MASK:
            msg = f"reference to an earlier object at {beg}"
            raise Unsure(msg)
        return self.class_at(tag & ~_CLASS_MASK), tag, pos + 4, end

    def class_at(self, ref: int) -> str:
        """The class a reference tag names: where ROOT wrote it, ``kNewClassTag`` + name.

        References count from the start of the key (``fKeylen`` before the object) plus
        ``kMapOffset``; reading the name there needs no map of the objects skipped.
        """
        name = self._classes.get(ref)
        if name is None:
            at = ref - _MAP_OFFSET - self.keylen
            if at < 0 or _U32.unpack_from(self.data, at)[0] != _NEW_CLASS:
                msg = f"class reference {ref} does not point at a class name"
                raise Unsure(msg)
            stop = self.data.index(b"\x00", at + 4)
            name = self._classes[ref] = self.data[at + 4 : stop].decode()
        return name

    def objarray(self, pos: int) -> tuple[list[tuple[str | None, int, int]], int]:
        """The items of a TObjArray at ``pos``: (class, data start, end) each; its end."""
        at, _, end = self.head(pos)
        at = self.tobject(at)
        _, at = read_string(self.data, at)
        n, _ = _II.unpack_from(self.data, at)
        at += 8
        items = []
        for _ in range(n):
            cls, _, start, stop = self.object_any(at)
            items.append((cls, start, stop))
            at = stop
        if at != end:
            msg = f"TObjArray at {pos} does not end where its byte count says"
            raise Unsure(msg)
        return items, end


def _tree_start(buf: _Buf, classname: str) -> tuple[int, int, int]:
    """Position after the TTree's own header, its version and end."""
    if classname not in TREE_CLASSES:
        msg = f"{classname} is not a TTree"
        raise Unsure(msg)
    pos, version, end = buf.head(0)
    if classname != "TTree":  # TNtuple(D): its TTree base comes first
        pos, version, end = buf.head(pos)
    if version not in _TREE_FORMATS:
        # e.g. ROOT 3/4 trees (fEntries a Double_t): read by uproot
        msg = f"TTree class version {version}"
        raise Unsure(msg)
    return pos, version, end


def tree_entries(data: bytes, key: Key) -> int:
    """``fEntries`` from the first bytes of a TTree's object (IndexError when too few)."""
    buf = _Buf(data, key.keylen)
    pos, _, _ = _tree_start(buf, key.classname)
    for _ in range(4):  # TNamed, TAttLine, TAttFill, TAttMarker
        pos = buf.skip(pos)
    return int(_I64.unpack_from(data, pos)[0])


@dataclass(frozen=True, slots=True)
class _Branch:
    name: str
    classname: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Leafy:
    """What reading a branch's baskets needs."""

    dtype: np.dtype[np.generic]
    entries: int
    basket_bytes: tuple[int, ...]
    basket_entry: tuple[int, ...]
    basket_seek: tuple[int, ...]


class LeanTree:
    """A TTree of a :class:`~lumiaudit.offline.rootio.LeanFile`, read as little as possible.

    Parameters
    ----------
    file
        The open file.
    name
        The tree's key name in the top directory.
    """

    def __init__(self, file: LeanFile, name: str) -> None:
        key = file.keys.get(name)
        if key is None or key.classname not in TREE_CLASSES:
            msg = f"no TTree {name!r} in the top directory"
            raise Unsure(msg)
        self.file = file
        self.key = key
        self._buf: _Buf | None = None
        self._entries: int | None = None
        self._branches: list[_Branch] | None = None
        self._subs: dict[int, list[_Branch]] = {}

    @property
    def object_path(self) -> str:
        """The tree's path in the file, as uproot names it (for messages)."""
        return f"/{self.key.name};{self.key.cycle}"

    @property
    def num_entries(self) -> int:
        """``fEntries`` (only the first bytes of the tree's object are inflated)."""
        if self._entries is None:
            want = 512
            while True:
                data = self.file.object_head(self.key, want)
                try:
                    self._entries = tree_entries(data, self.key)
                    break
                except (IndexError, struct.error):
                    if len(data) < want:  # the whole object and still too short
                        msg = "TTree header cut short"
                        raise Unsure(msg) from None
                    want *= 8
        return self._entries

    def _whole(self) -> _Buf:
        if self._buf is None:
            self._buf = _Buf(self.file.object(self.key), self.key.keylen)
        return self._buf

    def _top(self) -> list[_Branch]:
        if self._branches is None:
            buf = self._whole()
            try:
                pos, version, _ = _tree_start(buf, self.key.classname)
                for _ in range(4):
                    pos = buf.skip(pos)
                fmt = _TREE_FORMATS[version]
                fields = fmt.unpack_from(buf.data, pos)
                self._entries = int(fields[0])
                pos += fmt.size
                if version >= 19:
                    n = fields[_N_CLUSTER_RANGE]
                    pos += 2 + 16 * n  # two speedbump bytes, fClusterRangeEnd, fClusterSize
                if version >= 20:
                    pos = buf.skip(pos)  # fIOFeatures
                items, _ = buf.objarray(pos)
                self._branches = [self._named(buf, item) for item in items]
            except (IndexError, struct.error, ValueError) as exc:
                msg = f"TTree {self.key.name!r} header: {exc}"
                raise Unsure(msg) from exc
        return self._branches

    @staticmethod
    def _named(buf: _Buf, item: tuple[str | None, int, int]) -> _Branch:
        cls, start, end = item
        if cls == "TBranchElement":
            pos = start + 6
            c0, v0 = _HEAD.unpack_from(buf.data, start)
        elif cls == "TBranch":
            pos, c0, v0 = start, _BYTECOUNT, 0
        else:
            msg = f"branch of class {cls}"
            raise Unsure(msg)
        # TBranch and TNamed headers and TObject's version, uid and bits in one read: a
        # wide tree has hundreds of branches whose names are all this reader decodes
        c1, v1, c2, v2, tv, _, bits = _NAMES.unpack_from(buf.data, pos)
        if not c0 & c1 & c2 & _BYTECOUNT or (v0 | v1 | v2) & _MEMBERWISE or tv & 0x4000:
            name, _ = buf.tnamed_name(buf.head(pos)[0])  # the general way, with its checks
        else:
            at = pos + _NAMES.size + (2 if bits & _IS_REFERENCED else 0)
            name, _ = read_string(buf.data, at)
        return _Branch(name, cls, start, end)

    def _tbranch(self, br: _Branch) -> tuple[int, int, list[tuple[str | None, int, int]]]:
        """Position after fBranches of ``br``'s TBranch part, its version and sub-branches."""
        buf = self._whole()
        pos = buf.head(br.start)[0] if br.classname == "TBranchElement" else br.start
        pos, version, _ = buf.head(pos)
        if version not in (10, 11, 12, 13):
            msg = f"TBranch class version {version}"
            raise Unsure(msg)
        pos = buf.skip(buf.skip(pos))  # TNamed, TAttFill
        if version == 13:
            pos += _BRANCH_V13A.size
            pos = buf.skip(pos)  # fIOFeatures
            pos += _BRANCH_V13B.size
        else:
            pos += (_BRANCH_V10 if version == 10 else _BRANCH_V11).size
        items, pos = buf.objarray(pos)
        return pos, version, items

    def _resolve(self, name: str) -> _Branch | None:
        """The branch whose ``/``-joined names are ``name``; ``None`` if there is none.

        uproot's recursive ``keys()`` joins branch names with ``/``; a top-level branch whose
        own name contains ``/`` is matched first, as uproot's lookup does.
        """
        top = self._top()
        found = [b for b in top if b.name == name]
        if found:
            if len(found) > 1:
                msg = f"two branches named {name!r}"
                raise Unsure(msg)
            return found[0]
        parts = name.split("/")
        level = top
        branch: _Branch | None = None
        for i, part in enumerate(parts):
            matches = [b for b in level if b.name == part]
            if len(matches) != 1:
                if len(matches) > 1:
                    msg = f"two branches named {part!r}"
                    raise Unsure(msg)
                return None
            branch = matches[0]
            if i < len(parts) - 1:
                level = self._subbranches(branch)
        return branch

    def _subbranches(self, br: _Branch) -> list[_Branch]:
        subs = self._subs.get(br.start)
        if subs is None:
            _, _, items = self._tbranch(br)
            subs = self._subs[br.start] = [self._named(self._whole(), s) for s in items]
        return subs

    def _leafy(self, br: _Branch, *, text: bool = False) -> _Leafy:
        buf = self._whole()
        data = buf.data
        start = buf.head(br.start)[0] if br.classname == "TBranchElement" else br.start
        at, version, _ = buf.head(start)
        at = buf.skip(buf.skip(at))
        if version == 13:
            _, _, _, write_basket, _ = _BRANCH_V13A.unpack_from(data, at)
            at = buf.skip(at + _BRANCH_V13A.size)
            _, max_baskets, _, entries, *_ = _BRANCH_V13B.unpack_from(data, at)
        else:
            fmt = _BRANCH_V10 if version == 10 else _BRANCH_V11
            fields = fmt.unpack_from(data, at)
            write_basket, max_baskets, entries = fields[3], fields[6], fields[8]
        pos, _, subs = self._tbranch(br)
        if subs:
            msg = f"branch {br.name!r} has sub-branches"
            raise Unsure(msg)
        leaves, pos = buf.objarray(pos)
        baskets, pos = buf.objarray(pos)
        if any(cls is not None for cls, _, _ in baskets):
            msg = f"branch {br.name!r} has baskets inside the TTree (not on file)"
            raise Unsure(msg)
        if len(leaves) != 1:
            msg = f"branch {br.name!r} has {len(leaves)} leaves"
            raise Unsure(msg)
        if text:  # a std::string member: its leaf and streamer say so
            kind = self._streamer_type(br) if br.classname == "TBranchElement" else -1
            if kind not in TEXT_TYPES or self._element_type(*leaves[0]) not in TEXT_TYPES:
                msg = f"branch {br.name!r} is not a std::string member"
                raise Unsure(msg)
            dtype: np.dtype[np.generic] = np.dtype("u1")  # unused: entries of any size
        else:
            dtype = self._dtype(*leaves[0])
        if br.classname == "TBranchElement" and not text:
            # uproot interprets a TBranchElement by its streamer type, not by its leaf
            kind = self._streamer_type(br)
            if kind not in _ELEMENT_TYPES or np.dtype(_ELEMENT_TYPES[kind]) != dtype:
                msg = f"branch {br.name!r}: streamer type {kind} and leaf {dtype} differ"
                raise Unsure(msg)
        arrays = []
        for table in (">i4", ">i8", ">i8"):  # fBasketBytes, fBasketEntry, fBasketSeek
            if data[pos] not in (1, 2):
                msg = f"branch {br.name!r}: unexpected basket table marker"
                raise Unsure(msg)
            pos += 1
            size = np.dtype(table).itemsize * max_baskets
            if pos + size > len(data):
                msg = "basket table past the end of the buffer"
                raise IndexError(msg)
            arrays.append(np.frombuffer(data, table, max_baskets, pos).tolist())
            pos += size
        file_name, _ = read_string(data, pos)
        if file_name:
            msg = f"branch {br.name!r} keeps its baskets in {file_name!r}"
            raise Unsure(msg)
        nbytes, first, seeks = arrays
        n = write_basket
        if not 0 <= n <= max_baskets or (n < max_baskets and first[n] != entries):
            # entries past the last basket on file sit in a basket inside the TTree
            msg = f"branch {br.name!r}: basket table does not add up"
            raise Unsure(msg)
        return _Leafy(dtype, entries, tuple(nbytes[:n]), tuple(first[:n]), tuple(seeks[:n]))

    def _streamer_type(self, br: _Branch) -> int:
        """``fStreamerType`` of a TBranchElement (after its TBranch base and three strings)."""
        buf = self._whole()
        at, version, _ = buf.head(br.start)
        if version not in (8, 9, 10):
            msg = f"TBranchElement class version {version}"
            raise Unsure(msg)
        at = buf.skip(at)  # TBranch
        for _ in range(3):  # fClassName, fParentName, fClonesName
            _, at = read_string(buf.data, at)
        fmt = ">Ihiiii" if version == 10 else ">Iiiiii"
        return int(struct.unpack_from(fmt, buf.data, at)[4])

    def _element_type(self, cls: str | None, start: int, _end: int) -> int:
        """``fType`` of a one-value ``TLeafElement`` (``-1`` for any other leaf)."""
        buf = self._whole()
        at, version, _ = buf.head(buf.head(start)[0])  # TLeafElement, TLeaf
        if cls != "TLeafElement" or version != 2:
            return -1
        at = buf.skip(at)  # TNamed
        length, *_ = _LEAF.unpack_from(buf.data, at)
        count_cls, *_, after = buf.object_any(at + _LEAF.size)
        if length != 1 or count_cls is not None:
            return -1
        return int(_II.unpack_from(buf.data, after)[1])

    def _dtype(self, cls: str | None, start: int, _end: int) -> np.dtype[np.generic]:
        buf = self._whole()
        at = buf.head(start)[0]  # TLeafX
        at, version, _ = buf.head(at)  # TLeaf
        if version != 2:
            msg = f"TLeaf class version {version}"
            raise Unsure(msg)
        at = buf.skip(at)  # TNamed
        length, _, _, _, unsigned = _LEAF.unpack_from(buf.data, at)
        at += _LEAF.size
        count_cls, *_ = buf.object_any(at)
        if length != 1 or count_cls is not None:
            msg = f"leaf of {length} values or variable length"
            raise Unsure(msg)
        if cls in _LEAF_TYPES:
            return np.dtype(_LEAF_TYPES[cls][unsigned])
        if cls == "TLeafElement":
            _, kind = _II.unpack_from(buf.data, buf.object_any(at)[3])
            if kind in _ELEMENT_TYPES:
                return np.dtype(_ELEMENT_TYPES[kind])
            msg = f"TLeafElement of type {kind}"
            raise Unsure(msg)
        msg = f"leaf class {cls}"
        raise Unsure(msg)

    def keys_present(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are branches (``/``-joined as uproot's recursive keys)."""
        try:
            return {n for n in names if self._resolve(n) is not None}
        except (IndexError, struct.error, ValueError) as exc:
            msg = f"TTree {self.key.name!r} branches: {exc}"
            raise Unsure(msg) from exc

    def arrays(self, names: Iterable[str]) -> dict[str, np.ndarray]:
        """Every value of each of ``names`` (plain numbers, native byte order).

        Every basket is read and decompressed, so a cut or corrupt basket raises.

        Raises
        ------
        Unsure
            If a name is not a branch, or its branch is not plain numbers in baskets on file.
        """
        return {name: self._read_baskets(self._leaves_of(name), name) for name in names}

    def strings(self, names: Iterable[str]) -> dict[str, list[str]]:
        """Every value of each of ``names``, ``std::string`` members of a split object.

        Raises :class:`Unsure` unless each is exactly that (:mod:`~lumiaudit.offline.roottext`).
        """
        out: dict[str, list[str]] = {}
        for name in names:
            leafy = self._leaves_of(name, text=True)
            tables = (leafy.basket_bytes, leafy.basket_entry, leafy.basket_seek)
            out[name] = branch_strings(self.file, *tables, entries=leafy.entries, name=name)
        return out

    def _leaves_of(self, name: str, *, text: bool = False) -> _Leafy:
        """The basket table of branch ``name``; :class:`Unsure` when there is none to read."""
        try:
            br = self._resolve(name)
            if br is None:
                msg = f"no branch {name!r}"
                raise Unsure(msg)
            return self._leafy(br, text=text)
        except (IndexError, struct.error, ValueError) as exc:
            msg = f"branch {name!r}: {exc}"
            raise Unsure(msg) from exc

    def _read_baskets(self, leafy: _Leafy, name: str) -> np.ndarray:
        parts = []
        expected = 0
        bounds = [*leafy.basket_entry[1:], leafy.entries][: len(leafy.basket_entry)]
        for nbytes, first, seek, stop in zip(
            leafy.basket_bytes, leafy.basket_entry, leafy.basket_seek, bounds, strict=True
        ):
            if first != expected or stop < first:
                msg = f"branch {name!r}: baskets are not contiguous"
                raise Unsure(msg)
            parts.append(self._basket(nbytes, seek, stop - first, leafy.dtype, name))
            expected = stop
        if expected != leafy.entries:
            msg = f"branch {name!r}: baskets hold {expected} of {leafy.entries} entries"
            raise Unsure(msg)
        native = leafy.dtype.newbyteorder("=")
        if not parts:
            return np.zeros(0, dtype=native)
        array = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return array.astype(native, copy=False)

    def _basket(
        self, nbytes: int, seek: int, n: int, dtype: np.dtype[np.generic], name: str
    ) -> np.ndarray:
        if seek <= 0 or nbytes <= 0 or seek + nbytes > self.file.size:
            msg = f"basket of {name!r} at {seek} ({nbytes} bytes) is not inside the file"
            raise Unsure(msg)
        raw = self.file.pread(nbytes, seek)
        key, data, last = open_basket(raw, seek=seek, nbytes=nbytes, n=n, name=name)
        size = last - key.keylen
        if size != n * dtype.itemsize or size > len(data):
            msg = f"basket of {name!r} at {seek} holds {size} bytes for {n} values"
            raise Unsure(msg)
        return np.frombuffer(data, dtype, n)
