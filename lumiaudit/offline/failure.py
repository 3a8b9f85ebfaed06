"""What a failed read of a ROOT file says about the file: the header probe's verdict.

After a read failed, :func:`~lumiaudit.offline.count.count_file` looks at the file's first
bytes (:func:`~lumiaudit.offline.access.probe_local` / ``probe_remote``) to tell a bad file
(zero bytes, not ROOT, cut: :func:`header_problem`) from a failure that may pass (network,
permissions: :func:`classify` gives ``io_error``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from lumiaudit.numbers import fmt
from lumiaudit.offline.uproot_read import Bad
from lumiaudit.schema import FileStatus

__all__ = ["Failure", "classify", "first_bytes", "header_problem"]


def first_bytes(header: bytes, n: int = 8) -> str:
    """The first ``n`` bytes as a person reads them: text in quotes, anything else in hex.

    >>> first_bytes(b"Error in <TFile::Init>"), first_bytes(b"\\x1f\\x8b\\x08\\x00rest")
    ('"Error in"', 'the bytes 1f 8b 08 00 72 65 73 74')
    >>> first_bytes(b"")
    'nothing'
    """
    head = header[:n]
    if not head:
        return "nothing"
    if all(32 <= b < 127 or b == 9 for b in head):
        return '"' + head.decode("ascii") + '"'
    return "the bytes " + " ".join(f"{b:02x}" for b in head)


def header_problem(header: bytes, size: int | None) -> Bad | None:
    """Check the ROOT file header (``TFile::Init``): magic bytes and ``fEND`` vs size."""
    if size == 0:
        return Bad(FileStatus.ZERO_BYTES, "file has 0 bytes")
    if header[:4] != b"root":
        return Bad(FileStatus.NOT_ROOT, f"not a ROOT file: starts with {first_bytes(header)}")
    if len(header) < 20:
        return Bad(FileStatus.TRUNCATED, f"ROOT header cut after {fmt(len(header))} bytes")
    version = struct.unpack(">i", header[4:8])[0]
    end = (
        struct.unpack(">q", header[12:20])[0]
        if version >= 1_000_000
        else struct.unpack(">i", header[12:16])[0]
    )
    if size is not None and end > size:
        said = f"file has {fmt(size)} bytes but its ROOT header says {fmt(end)}"
        return Bad(FileStatus.TRUNCATED, said)
    return None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt, with what the header probe saw (``None``: not probed)."""

    exc: BaseException
    size: int | None
    header: bytes | None


def classify(exc: BaseException, header_bad: Bad | None, *, header_seen: bool) -> Bad:
    """The status of a file whose read failed with ``exc``, from what its header showed."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    if header_bad is not None:
        return Bad(header_bad.status, f"{header_bad.error} ({text})")
    if not header_seen or isinstance(
        exc,
        TimeoutError
        | PermissionError
        | ConnectionError
        | FileNotFoundError
        | IsADirectoryError
        | ImportError,
    ):
        # nothing shows that the file itself is bad: it may be fine
        return Bad(FileStatus.IO_ERROR, text)
    # a ROOT header that looks fine but records that cannot be read: cut or corrupt
    return Bad(FileStatus.TRUNCATED, text)
