"""Lean reading of ``std::string`` leaves: the baskets of a split object's string member.

basf2's ``FileMetaData::m_release`` (and ``m_lfn``, ``m_site``, ...) is a ``std::string``
member of a split object, a ``TBranchElement`` of streamer type 300 (``kSTL``: uproot reads it
as ``AsStrings(header_bytes=6)``). Each entry of its baskets is streamed by
``TBufferFile::WriteStdString`` behind a byte count and a class version
(``0x40000000 | n``, ``Short_t``): one length byte (255 and an ``Int_t`` for 255 bytes or
more) and the characters. A basket of variable-size entries ends with ``fEntryOffset`` (an
``Int_t`` count and each entry's start, counted from the key's start).

:func:`basket_strings` accepts a basket only when every entry's byte count, length and the
offsets agree exactly and the text is UTF-8; a ``std::vector<std::string>`` or a map (same
streamer type) never does. Anything else raises :class:`~lumiaudit.offline.rootio.Unsure`
and the file is read by uproot.
"""

from __future__ import annotations

import struct

import numpy as np

from lumiaudit.offline.rootio import LeanFile, Unsure, open_basket

__all__ = ["TEXT_TYPES", "basket_strings", "branch_strings"]

#: ``fStreamerType``/``TLeafElement::fType`` of a ``std::string``: ``kSTL`` (a member of a
#: split class) and ``kSTLstring`` (TVirtualStreamerInfo).
TEXT_TYPES = frozenset({300, 365})

_HEAD = struct.Struct(">IH")
_I32 = struct.Struct(">i")
_BYTECOUNT = 0x40000000


def branch_strings(
    file: LeanFile,
    basket_bytes: tuple[int, ...],
    basket_entry: tuple[int, ...],
    basket_seek: tuple[int, ...],
    *,
    entries: int,
    name: str,
) -> list[str]:
    """Every string of a branch from its basket table (every basket is read and checked)."""
    values: list[str] = []
    bounds = [*basket_entry[1:], entries][: len(basket_entry)]
    for nbytes, first, seek, stop in zip(
        basket_bytes, basket_entry, basket_seek, bounds, strict=True
    ):
        if first != len(values) or stop < first or not 0 < seek <= file.size - nbytes:
            msg = f"branch {name!r}: baskets are not contiguous or not in the file"
            raise Unsure(msg)
        raw = file.pread(nbytes, seek)
        values += basket_strings(raw, seek=seek, nbytes=nbytes, n=stop - first, name=name)
    if len(values) != entries:
        msg = f"branch {name!r}: baskets hold {len(values)} of {entries} entries"
        raise Unsure(msg)
    return values


def basket_strings(raw: bytes, *, seek: int, nbytes: int, n: int, name: str) -> list[str]:
    """The ``n`` strings of one basket (its key and body, as read from the file).

    Parameters
    ----------
    raw
        The basket's bytes on file (``nbytes`` at ``seek``).
    seek, nbytes, n
        Where the branch's basket table says the basket is and how many entries it holds.
    name
        The branch, for messages.

    Returns
    -------
    list of str

    Raises
    ------
    Unsure
        If anything disagrees (key, entry count, byte counts, offsets, UTF-8).
    """
    try:
        key, data, last = open_basket(raw, seek=seek, nbytes=nbytes, n=n, name=name)
        border = last - key.keylen
        if not 0 <= border <= len(data):
            msg = f"basket of {name!r} at {seek}: fLast outside the basket"
            raise Unsure(msg)
        out: list[str] = []
        starts: list[int] = []
        pos = 0
        for _ in range(n):
            count, _version = _HEAD.unpack_from(data, pos)
            if not count & _BYTECOUNT:
                msg = f"basket of {name!r} at {seek}: entry without a byte count"
                raise Unsure(msg)
            end = pos + 4 + (count & ~_BYTECOUNT)
            at = pos + _HEAD.size
            length = data[at]
            at += 1
            if length == 255:
                length = _I32.unpack_from(data, at)[0]
                at += _I32.size
            if at + length != end or end > border:
                msg = f"basket of {name!r} at {seek}: entry is not one std::string"
                raise Unsure(msg)
            starts.append(pos)
            out.append(bytes(data[at:end]).decode("utf-8"))
            pos = end
        if pos != border:
            msg = f"basket of {name!r} at {seek}: {border - pos} bytes after the entries"
            raise Unsure(msg)
        if border < len(data):  # fEntryOffset: count, then each entry's start + fKeylen
            offsets = np.frombuffer(data, ">i4", n + 1, border)
            if (offsets[1 : n + 1] - key.keylen).tolist() != starts:
                msg = f"basket of {name!r} at {seek}: entry offsets disagree"
                raise Unsure(msg)
    except (IndexError, struct.error, ValueError) as exc:  # UnicodeDecodeError too
        msg = f"basket of {name!r} at {seek}: {exc}"
        raise Unsure(msg) from exc
    return out
