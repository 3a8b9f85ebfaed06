"""Lean ROOT reading: the few bytes of a file that an audit needs, and nothing else.

uproot models every object it reads: for a Belle II mdst file with hundreds of branches, the
event tree's header costs ~50 ms to decode, while the audit needs one number of it
(``fEntries``) and, in ``auto``/``deep`` mode, a handful of ``EventMetaData``/``FileMetaData``
leaves (issue 14). This module reads the file header, the top directory's keys and a key's
object with plain ``os.pread`` calls; :mod:`lumiaudit.offline.roottree` walks a TTree's
streamed branches and skips what it does not need by the byte counts ROOT writes in front of
every object. Decompression is uproot's (:mod:`uproot.compression`: zlib and lzma from the
standard library, lz4 and zstd from cramjam), with partial zlib/lzma inflation when only the
first bytes of an object are needed.

Certainty before speed: anything this layer does not know exactly how to read (an unknown
class version, a codec it cannot partially inflate, a reference it cannot resolve, a file
whose header disagrees with its size) raises :class:`Unsure`, and the caller reads the file the
full way with uproot. It never guesses.

The byte layouts follow ROOT's ``TFile::Init``, ``TDirectoryFile::Streamer``, ``TKey`` and
``TBufferFile::ReadObjectAny`` (and uproot's ``reading.py``/``deserialization.py``, which read
the same bytes).
"""

from __future__ import annotations

import logging
import lzma
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from lumiaudit.errors import Unsure
from lumiaudit.numbers import fmt

__all__ = [
    "Key",
    "LeanFile",
    "Unsure",
    "inflate",
    "inflate_head",
    "open_basket",
    "read_key",
    "read_string",
]

logger = logging.getLogger(__name__)

_FILE_SMALL = struct.Struct(">iiiiiiBiii")  # fBEGIN .. fNbytesInfo, fVersion < 1000000
_FILE_BIG = struct.Struct(">iqqiiiBiqi")
_DIR_SMALL = struct.Struct(">hIIiiiii")
_DIR_BIG = struct.Struct(">hIIiiqqq")
_KEY_SMALL = struct.Struct(">ihiIhhii")
_KEY_BIG = struct.Struct(">ihiIhhqq")
_I32 = struct.Struct(">i")
_BASKET = struct.Struct(">HiiiiB")  # fVersion, fBufferSize, fNevBufSize, fNevBuf, fLast, flag
#: ROOT compresses an object in blocks of at most 0xffffff bytes, each with a 9-byte header
_BLOCK_HEADER = 9


@dataclass(frozen=True, slots=True)
class Key:
    """One ``TKey`` of the top directory (``fNbytes``, ``fObjlen``, ``fKeylen``, ``fSeekKey``)."""

    name: str
    classname: str
    cycle: int
    seek: int
    nbytes: int
    objlen: int
    keylen: int

    @property
    def compressed(self) -> bool:
        """Whether the object is stored compressed (ROOT: ``fObjlen != fNbytes - fKeylen``)."""
        return self.objlen != self.nbytes - self.keylen


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    """A ``TString`` at ``pos``: one length byte (255: a 4-byte length follows), then bytes."""
    if pos >= len(data):
        msg = "string past the end of the buffer"
        raise IndexError(msg)
    n = data[pos]
    pos += 1
    if n == 255:
        (n,) = _I32.unpack_from(data, pos)
        pos += 4
    end = pos + n
    if n < 0 or end > len(data):
        msg = "string past the end of the buffer"
        raise IndexError(msg)
    return data[pos:end].decode(errors="surrogateescape"), end


def read_key(data: bytes, pos: int) -> tuple[Key, int]:
    """A ``TKey`` header at ``pos`` of ``data``; returns it and the position after it."""
    version = struct.unpack_from(">h", data, pos + 4)[0]
    layout = _KEY_BIG if version > 1000 else _KEY_SMALL
    nbytes, _, objlen, _, keylen, cycle, seek, _ = layout.unpack_from(data, pos)
    classname, at = read_string(data, pos + layout.size)
    name, at = read_string(data, at)
    _, at = read_string(data, at)  # title
    if nbytes < keylen or keylen <= 0 or objlen < 0 or seek < 0:
        msg = f"implausible key {name!r}: {nbytes} bytes, key length {keylen}"
        raise Unsure(msg)
    return Key(name, classname, cycle, seek, nbytes, objlen, keylen), at


def _zlib(payload: bytes, usize: int) -> bytes:
    return zlib.decompress(payload, bufsize=usize)


def _lzma(payload: bytes, _usize: int) -> bytes:
    return lzma.decompress(payload)


def _lz4(payload: bytes, usize: int) -> bytes:
    # an 8-byte xxhash64 checksum of the lz4 block precedes it (uproot checks it too)
    import cramjam
    import xxhash

    if xxhash.xxh64_intdigest(payload[8:]) != int.from_bytes(payload[:8], "big"):
        msg = "lz4 block checksum does not match"
        raise Unsure(msg)
    return bytes(cramjam.lz4.decompress_block(payload[8:], output_len=usize))


def _zstd(payload: bytes, usize: int) -> bytes:
    import cramjam

    return bytes(cramjam.zstd.decompress(payload, output_len=usize))


#: ROOT's block codecs, as uproot.compression decompresses them (zlib and lzma from the
#: standard library, lz4 and zstd from cramjam, uproot's own dependency); importing uproot
#: itself would cost each worker process a third of a second
_CODECS: dict[bytes, Callable[[bytes, int], bytes]] = {
    b"ZL": _zlib,
    b"XZ": _lzma,
    b"L4": _lz4,
    b"ZS": _zstd,
}


def inflate(raw: bytes, objlen: int) -> bytes:
    """Decompress a whole object (all of its ROOT blocks) as uproot does."""
    out: list[bytes] = []
    done = pos = 0
    while done < objlen:
        algo, csize, usize = _block(raw, pos)
        payload = raw[pos + _BLOCK_HEADER : pos + _BLOCK_HEADER + csize]
        if len(payload) != csize:
            msg = "compressed block cut short"
            raise Unsure(msg)
        codec = _CODECS.get(algo)
        if codec is None:
            msg = f"compression algorithm {algo!r} not read by the lean reader"
            raise Unsure(msg)
        try:
            part = codec(payload, usize)
        except Unsure:
            raise
        except Exception as exc:  # zlib.error, lzma.LZMAError, cramjam's errors
            msg = f"cannot inflate a {algo.decode()} block: {exc}"
            raise Unsure(msg) from exc
        if len(part) != usize:
            msg = f"block inflated to {len(part)} bytes instead of {usize}"
            raise Unsure(msg)
        out.append(part)
        done += usize
        pos += _BLOCK_HEADER + csize
    data = b"".join(out)
    if len(data) != objlen:
        msg = f"object inflated to {len(data)} bytes instead of {objlen}"
        raise Unsure(msg)
    return data


def open_basket(raw: bytes, *, seek: int, nbytes: int, n: int, name: str) -> tuple[Key, bytes, int]:
    """The key, the (decompressed) body and ``fLast`` of one basket of branch ``name``.

    ``raw`` is the basket as read from the file (``nbytes`` at ``seek``), which must hold ``n``
    entries; a key or header that disagrees, or cannot be read, raises :class:`Unsure`.
    """
    try:
        key, at = read_key(raw, 0)
        _, _, _, entries, last, _ = _BASKET.unpack_from(raw, at)
    except (IndexError, struct.error) as exc:
        msg = f"basket of {name!r} at {seek}: {exc}"
        raise Unsure(msg) from exc
    if key.nbytes != nbytes or key.seek != seek or entries != n:
        msg = f"basket of {name!r} at {seek} disagrees with the branch"
        raise Unsure(msg)
    body = raw[key.keylen :]
    return key, inflate(body, key.objlen) if key.compressed else body, last


def inflate_head(raw: bytes, want: int) -> bytes | None:
    """The first ``want`` bytes (or fewer, if the first block is shorter) of the first block.

    zlib and lzma inflate only as far as asked; other codecs return ``None`` (the caller
    inflates the whole object). ``None`` also when ``raw`` holds too little of the block.
    """
    algo, csize, usize = _block(raw, 0)
    payload = raw[_BLOCK_HEADER : _BLOCK_HEADER + csize]
    want = min(want, usize)
    try:
        if algo == b"ZL":
            out = zlib.decompressobj().decompress(payload, want)
        elif algo == b"XZ":
            out = lzma.LZMADecompressor().decompress(payload, max_length=want)
        else:
            return None
    except (zlib.error, lzma.LZMAError) as exc:
        msg = f"cannot inflate the first block: {exc}"
        raise Unsure(msg) from exc
    return out if len(out) == want else None


def _block(raw: bytes, pos: int) -> tuple[bytes, int, int]:
    head = raw[pos : pos + _BLOCK_HEADER]
    if len(head) != _BLOCK_HEADER:
        msg = "compressed block header cut short"
        raise Unsure(msg)
    csize = head[3] | head[4] << 8 | head[5] << 16
    usize = head[6] | head[7] << 8 | head[8] << 16
    return bytes(head[:2]), csize, usize


class LeanFile:
    """A local ROOT file opened for lean reading: its header and top-directory keys.

    Parameters
    ----------
    path
        Local path (or the URL of ``source``).
    size
        The file's size in bytes when the caller has ``stat``-ed it already.
    source
        Reads of a remote file instead of a local path: an object with ``size``,
        ``read(n, offset)`` (up to ``n`` bytes) and ``close()``, such as
        :class:`~lumiaudit.offline.http_source.HttpRanges`. It is closed with the file.

    Raises
    ------
    Unsure
        Whatever the lean reader cannot read with certainty (the caller reads the file with
        uproot, which also tells a cut or corrupt file from a good one).
    OSError
        If the file cannot be opened or read.
    """

    def __init__(self, path: str, *, size: int | None = None, source: Any = None) -> None:
        self.path = path
        self._source = source
        self._fd = -1 if source is not None else os.open(path, os.O_RDONLY)
        try:
            if source is not None:
                self.size = int(source.size)
            else:
                self.size = os.fstat(self._fd).st_size if size is None else size
            self.keys = self._read_keys()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> LeanFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file descriptor or the source (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._source is not None:
            self._source.close()

    def pread(self, n: int, offset: int) -> bytes:
        """``n`` bytes at ``offset``; :class:`Unsure` when the file has fewer there."""
        data = self._raw(n, offset)
        if len(data) != n:
            msg = f"{n} bytes wanted at {offset}, the file has {len(data)} there"
            raise Unsure(msg)
        return data

    def _raw(self, n: int, offset: int) -> bytes:
        if self._source is not None:
            return bytes(self._source.read(n, offset))
        return os.pread(self._fd, n, offset)

    def _read_keys(self) -> dict[str, Key]:
        head = self._raw(1024, 0)
        if head[:4] != b"root" or len(head) < 64:
            msg = "not a ROOT file header"
            raise Unsure(msg)
        version = _I32.unpack_from(head, 4)[0]
        big = version >= 1_000_000
        begin, end, *_rest = (_FILE_BIG if big else _FILE_SMALL).unpack_from(head, 8)
        nbytes_name = _rest[3]
        if end > self.size:
            msg = f"file has {fmt(self.size)} bytes but its ROOT header says {fmt(end)}"
            raise Unsure(msg)
        at = begin + nbytes_name
        if at + _DIR_BIG.size > len(head):
            head = self.pread(_DIR_BIG.size, at)
            at = 0
        dir_version = struct.unpack_from(">h", head, at)[0]
        layout = _DIR_BIG if dir_version > 1000 else _DIR_SMALL
        *_, nbytes_keys, _, _, _, seek_keys = layout.unpack_from(head, at)
        if seek_keys <= 0 or nbytes_keys <= 0 or seek_keys + nbytes_keys > end:
            msg = "top directory has no readable keys list"
            raise Unsure(msg)
        data = self.pread(nbytes_keys, seek_keys)
        try:
            _, pos = read_key(data, 0)
            (nkeys,) = _I32.unpack_from(data, pos)
            pos += 4
            keys: dict[str, Key] = {}
            for _ in range(nkeys):
                key, pos = read_key(data, pos)
                old = keys.get(key.name)
                if old is not None and old.classname != key.classname:
                    # which cycle a reader takes then decides what the file holds
                    msg = f"cycles of {key.name!r} are of different classes"
                    raise Unsure(msg)
                if old is None or key.cycle > old.cycle:  # uproot: the highest cycle
                    keys[key.name] = key
        except (struct.error, IndexError) as exc:
            msg = f"keys list cut short: {exc}"
            raise Unsure(msg) from exc
        return keys

    def classnames(self) -> dict[str, str]:
        """``{name: class}`` of the top directory (highest cycle of each name)."""
        return {k.name: k.classname for k in self.keys.values()}

    def object_head(self, key: Key, want: int) -> bytes:
        """At least the first ``want`` bytes of ``key``'s object (all of it if shorter)."""
        stored = key.nbytes - key.keylen
        if key.seek + key.nbytes > self.size:
            msg = f"key {key.name!r} reaches past the end of the file"
            raise Unsure(msg)
        if not key.compressed:
            return self.pread(min(stored, max(want, 0)), key.seek + key.keylen)
        # a few compressed bytes inflate to the ``want`` bytes; read more only if needed
        raw = self.pread(min(stored, 4 * want + _BLOCK_HEADER + 64), key.seek + key.keylen)
        head = inflate_head(raw, want)
        if head is not None:
            return head
        return self.object(key)

    def object(self, key: Key) -> bytes:
        """The whole (decompressed) object of ``key``."""
        if key.seek + key.nbytes > self.size:
            msg = f"key {key.name!r} reaches past the end of the file"
            raise Unsure(msg)
        raw = self.pread(key.nbytes - key.keylen, key.seek + key.keylen)
        return inflate(raw, key.objlen) if key.compressed else raw
