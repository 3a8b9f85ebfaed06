"""Hostile inputs for reliability tests and benchmarks: broken ROOT files and malformed logbooks.

Nightly audits run unattended on shared storage full of half-written files, and the elog is
free text typed by many people. This module makes such inputs on purpose, from valid files,
so that tests (``tests/test_reliability_*.py``) and benchmarks can check that lumiaudit gives
every bad input a status or a clear error: never a crash, a hang or a silent zero.

ROOT corpus
    :func:`make_root_corpus` writes valid basf2-like files with :func:`lumiaudit.example.
    write_basf2_file` and derives from them files truncated at many offsets, files with bit
    flips in the header, the keys list, the TTree metadata, the streamer info and the baskets
    (the byte ranges come from :func:`root_regions`), zero-byte files, wrong magic, a text
    file and an HTML error page named ``.root``, a directory named ``x.root``, a file without
    read permission, a symlink loop and a FIFO. Each :class:`Fault` says which statuses are
    acceptable.
Online
    :func:`elog_entry` / :func:`write_elog_day` write PSI ELOG day files (``YYMMDDa.log``,
    layout of ``tests/data/elog/README.md``) with any attribute values, encodings and line
    endings; :func:`write_big_elog` writes 10^5-10^6 entries quickly; :func:`write_huge_line`
    and :func:`write_garbage` make the worst files a reader can meet. :data:`HOSTILE_COUNTS`
    lists ``Num events`` texts that must never become a number silently.

Test-only: it lives in tests/support and is not shipped in the wheel. Nothing here is
imported by the audit itself; the module only writes into the directories it
is given.
"""

from __future__ import annotations

import ctypes
import logging
import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

__all__ = [
    "ELOG_ATTRIBUTES",
    "HOSTILE_COUNTS",
    "SPECIAL_KINDS",
    "Fault",
    "can_bypass_permissions",
    "cli_argv",
    "drop_dac_capabilities",
    "elog_entry",
    "flip_bits",
    "is_special_file",
    "make_directory_root",
    "make_fifo",
    "make_root_corpus",
    "make_symlink_loop",
    "make_unreadable",
    "root_regions",
    "run_entry",
    "truncate_copy",
    "write_big_elog",
    "write_elog_day",
    "write_garbage",
    "write_huge_line",
]

logger = logging.getLogger(__name__)

#: Attributes of the Belle II "Beam run" logbook, in configuration order (elog README).
ELOG_ATTRIBUTES: tuple[str, ...] = (
    "Author",
    "Subject",
    "Type",
    "Category",
    "Exp number",
    "Run number",
    "Num events",
    "Run time",
    "Solenoid",
)

#: ``Num events`` texts a shifter (or a broken export) may produce. None of them is a clean
#: event count: a reader must give each a problem (or a documented reading), never a silent 0.
HOSTILE_COUNTS: tuple[str, ...] = (
    "n/a",
    "-",
    "?",
    "unknown",
    "-5",
    "1e6",
    "12O45",  # letter O typed for a zero
    "1,2,3,4",
    "1.234.567,8",
    "99999999999999999999999999",
    "0x1F",
    "NaN",
    "inf",
    "½",
    "１２３",  # full-width digits
    "١٢٣",  # Arabic-Indic digits
    "12\x0034",
    "12\u200b34",  # zero-width space
    "<script>alert(1)</script>",
    '"); import os; os.system("touch PWNED',
)

#: Kinds of fault besides truncations and bit flips.
SPECIAL_KINDS: tuple[str, ...] = (
    "valid",
    "valid_empty",
    "zero_bytes",
    "wrong_magic",
    "text_file",
    "html_page",
    "no_tree",
    "metadata_mismatch",
    "hole",
    "directory",
    "unreadable",
    "symlink_loop",
    "fifo",
)

JST = timezone(timedelta(hours=9))


@dataclass(frozen=True)
class Fault:
    """One hostile input derived from a valid file.

    Attributes
    ----------
    path
        The hostile file (or directory, link, FIFO).
    kind
        ``truncated``, ``bitflip:<region>``, or one of :data:`SPECIAL_KINDS`.
    detail
        Offsets, bits, sizes: enough to reproduce it.
    source
        The valid file it was made from (``None`` when made from nothing).
    n_entries
        Entries of the valid source (the right answer when the fault is harmless).
    expect
        Acceptable :class:`~lumiaudit.schema.FileStatus` values; empty when any status is
        acceptable (bit flips may hit bytes that nothing reads), provided a file reported
        ``ok`` gives the source's numbers.
    """

    path: Path
    kind: str
    detail: str = ""
    source: Path | None = None
    n_entries: int | None = None
    expect: frozenset[str] = field(default_factory=frozenset)


def root_regions(path: str | os.PathLike[str], *, tree: str = "tree") -> dict[str, list[range]]:
    """Byte ranges of the records of a ROOT file: where bit flips hurt in different ways.

    Parameters
    ----------
    path
        A readable ROOT file.
    tree
        Name of the event tree whose baskets are listed.

    Returns
    -------
    dict
        ``header`` (file header up to ``fBEGIN``), ``directory`` (top directory record),
        ``keys`` (the keys list), ``objects`` (each top-level key with its object, e.g. the
        TTree metadata holding ``fEntries``), ``streamers`` (TStreamerInfo record) and
        ``baskets`` (every basket of every branch of ``tree``), as lists of ``range``.
    """
    import uproot

    regions: dict[str, list[range]] = {
        "header": [],
        "directory": [],
        "keys": [],
        "objects": [],
        "streamers": [],
        "baskets": [],
    }
    with uproot.open(path) as f:
        regions["header"].append(range(0, int(f.file.fBEGIN)))
        regions["directory"].append(range(int(f.fSeekDir), int(f.fSeekDir) + int(f.fNbytesName)))
        regions["keys"].append(range(int(f.fSeekKeys), int(f.fSeekKeys) + int(f.fNbytesKeys)))
        regions["streamers"].append(
            range(int(f.file.fSeekInfo), int(f.file.fSeekInfo) + int(f.file.fNbytesInfo))
        )
        for name in f.keys(cycle=True):
            key = f.key(name)
            regions["objects"].append(
                range(int(key.fSeekKey), int(key.fSeekKey) + int(key.fNbytes))
            )
        if tree in f:
            for branch in f[tree].branches:
                n = int(branch.member("fWriteBasket"))
                seeks = branch.member("fBasketSeek")[:n]
                sizes = branch.member("fBasketBytes")[:n]
                for seek, size in zip(seeks, sizes, strict=True):
                    regions["baskets"].append(range(int(seek), int(seek) + int(size)))
    return regions


def truncate_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str], size: int) -> Path:
    """Write the first ``size`` bytes of ``src`` to ``dst`` (a copy interrupted mid-way)."""
    out = Path(dst)
    out.write_bytes(Path(src).read_bytes()[:size])
    return out


def flip_bits(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    offsets: Iterable[int],
    *,
    bit: int = 0,
) -> Path:
    """Copy ``src`` to ``dst`` with bit ``bit`` inverted in the byte at each offset."""
    data = bytearray(Path(src).read_bytes())
    for offset in offsets:
        data[offset] ^= 1 << (bit % 8)
    out = Path(dst)
    out.write_bytes(bytes(data))
    return out


def make_directory_root(dst: str | os.PathLike[str]) -> Path:
    """A directory whose name ends in ``.root`` (``x.root/``), with a file inside."""
    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inside.txt").write_text("a directory, not a file\n", encoding="utf-8")
    return out


def make_symlink_loop(dst: str | os.PathLike[str]) -> Path:
    """``dst`` -> ``dst.loop`` -> ``dst``: resolving it fails with ELOOP."""
    out = Path(dst)
    other = out.with_name(out.name + ".loop")
    other.symlink_to(out.name)
    out.symlink_to(other.name)
    return out


def make_fifo(dst: str | os.PathLike[str]) -> Path:
    """A named pipe with no writer: ``open(dst, "rb")`` blocks until one appears."""
    out = Path(dst)
    os.mkfifo(out)
    return out


def can_bypass_permissions() -> bool:
    """Whether this process reads files whatever their mode (root with CAP_DAC_OVERRIDE)."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return hasattr(os, "geteuid") and os.geteuid() == 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            caps = int(line.split()[1], 16)
            return bool(caps & 0b110)  # CAP_DAC_OVERRIDE (1), CAP_DAC_READ_SEARCH (2)
    return os.geteuid() == 0


def make_unreadable(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy ``src`` to ``dst`` with mode 000.

    A process with CAP_DAC_OVERRIDE (root) still reads it: run the reader in a subprocess
    started with ``preexec_fn=drop_dac_capabilities`` (see :func:`can_bypass_permissions`).
    """
    out = Path(dst)
    out.write_bytes(Path(src).read_bytes())
    out.chmod(0)
    return out


def drop_dac_capabilities() -> None:
    """``preexec_fn`` for :mod:`subprocess`: the child (even root) obeys file permissions.

    Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set before ``exec``, so
    that the executed program does not regain them. Linux only; needs CAP_SETPCAP (root has
    it).

    Raises
    ------
    OSError
        If ``prctl(PR_CAPBSET_DROP)`` fails.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for cap in (1, 2):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_CAPBSET_DROP, {cap}): {os.strerror(err)}")


def cli_argv() -> list[str]:
    """The command that runs the ``lumiaudit`` CLI in a subprocess.

    The console script beside the running interpreter when there is one, else
    ``python -m lumiaudit``; run it with ``PYTHONPATH`` pointing at the source tree in that case.
    """
    import sys

    # the console script of the interpreter running the tests (its venv), never another
    # installation found first on PATH, which may lack this checkout's dependencies
    here = Path(sys.executable).parent / "lumiaudit"
    if here.is_file():
        return [str(here)]
    return [sys.executable, "-m", "lumiaudit"]


def _spread(region: Sequence[range], n: int, rng: np.random.Generator) -> list[int]:
    """``n`` offsets spread over the ranges (first, last and random bytes)."""
    offsets = sorted({o for r in region for o in (r.start, r.stop - 1) if len(r)})
    pool = [o for r in region for o in (r.start + len(r) // 2,) if len(r)]
    everything = np.concatenate([np.arange(r.start, r.stop) for r in region if len(r)])
    picked = list(dict.fromkeys(offsets + pool))
    if len(everything):
        picked += [int(x) for x in rng.choice(everything, size=min(n, len(everything)))]
    return list(dict.fromkeys(picked))[:n]


def make_root_corpus(
    out_dir: str | os.PathLike[str],
    *,
    n_truncations: int = 40,
    n_flips: int = 6,
    seed: int = 8,
    n_events: int = 200,
    special: bool = True,
) -> list[Fault]:
    """Write a corpus of hostile ROOT inputs derived from valid basf2-like files.

    Parameters
    ----------
    out_dir
        Directory to fill (created). Names follow the raw/mdst convention so that discovery
        sees run numbers: ``mdst.physics.0012.<run>.HLT1.f<index>.root``.
    n_truncations
        Number of truncation offsets: every byte of the first 24 (header fields), then
        offsets spread over the file and at each record boundary.
    n_flips
        Bit flips per region (header, directory, keys, objects, streamers, baskets).
    seed
        Seed of the random offsets.
    n_events
        Entries of the valid source file.
    special
        Also write the special cases of :data:`SPECIAL_KINDS` (FIFO, symlink loop, ...).

    Returns
    -------
    list of Fault
        One per hostile input, in writing order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     faults = make_root_corpus(pathlib.Path(tmp), n_truncations=5)
    ...     sorted({f.kind for f in faults})[:3]
    ['bitflip:baskets', 'bitflip:directory', 'bitflip:header']
    """
    from lumiaudit.example import write_basf2_file

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src_dir = out / "_sources"
    flags = np.zeros(n_events, dtype=np.uint32)
    flags[::17] = 0x10  # HLT discard: makes n_full differ from n_entries
    source = write_basf2_file(
        src_dir / "mdst.physics.0012.00100.HLT1.f00000.root",
        experiment=12,
        run=100,
        n_events=n_events,
        error_flags=flags,
    )
    size = source.stat().st_size
    faults: list[Fault] = []
    counter = iter(range(1, 1_000_000))

    def name(run: int = 200) -> Path:
        return out / f"mdst.physics.0012.{run:05d}.HLT1.f{next(counter):05d}.root"

    regions = root_regions(source)
    # truncations: every header byte, every record boundary, then spread offsets
    cuts = set(range(1, min(24, size)))
    for ranges in regions.values():
        for r in ranges:
            cuts.update(x for x in (r.start, r.start + 1, r.stop - 1, r.stop) if 0 < x < size)
    spread = sorted(cuts)
    if len(spread) > n_truncations:
        keep = np.linspace(0, len(spread) - 1, n_truncations).round().astype(int)
        spread = [spread[i] for i in sorted(set(keep.tolist()))]
    extra = rng.integers(24, size, size=max(0, n_truncations - len(spread)))
    for cut in sorted(set(spread) | {int(x) for x in extra}):
        expect = {"truncated"} if cut >= 4 else {"truncated", "not_root"}
        faults.append(
            Fault(
                truncate_copy(source, name(), cut),
                "truncated",
                f"first {cut} of {size} bytes",
                source,
                n_events,
                frozenset(expect),
            )
        )
    for region, ranges in regions.items():
        if not ranges:
            continue
        for offset in _spread(ranges, n_flips, rng):
            bit = int(rng.integers(0, 8))
            faults.append(
                Fault(
                    flip_bits(source, name(), [offset], bit=bit),
                    f"bitflip:{region}",
                    f"bit {bit} of byte {offset}",
                    source,
                    n_events,
                )
            )
    if special:
        faults.extend(_special(out, source, n_events, name, rng))
    logger.info("wrote %d hostile ROOT inputs to %s", len(faults), out)
    return faults


def _special(
    out: Path,
    source: Path,
    n_events: int,
    name: Callable[[], Path],
    rng: np.random.Generator,
) -> list[Fault]:
    from lumiaudit.example import write_basf2_file

    data = source.read_bytes()
    faults = [Fault(source, "valid", "", None, n_events, frozenset({"ok"}))]
    empty = write_basf2_file(name(), experiment=12, run=300, n_events=0)
    faults.append(Fault(empty, "valid_empty", "0 entries", None, 0, frozenset({"empty"})))
    zero = name()
    zero.write_bytes(b"")
    faults.append(Fault(zero, "zero_bytes", "", source, n_events, frozenset({"zero_bytes"})))
    magic = name()
    magic.write_bytes(b"toor" + data[4:])
    faults.append(
        Fault(magic, "wrong_magic", "root -> toor", source, n_events, frozenset({"not_root"}))
    )
    text = name()
    text.write_text("physics.0008.01925.HLT3.f00010.root\n", encoding="utf-8")
    faults.append(Fault(text, "text_file", "", None, None, frozenset({"not_root"})))
    html = name()
    html.write_text(
        "<html><head><title>404 Not Found</title></head><body>gone</body></html>\n",
        encoding="utf-8",
    )
    faults.append(Fault(html, "html_page", "", None, None, frozenset({"not_root"})))
    no_tree = write_basf2_file(name(), experiment=12, run=301, n_events=5, tree="events")
    faults.append(Fault(no_tree, "no_tree", "tree named 'events'", None, 5, frozenset({"no_tree"})))
    mismatch = write_basf2_file(name(), experiment=12, run=302, n_events=7, meta_n_events=9)
    faults.append(
        Fault(
            mismatch,
            "metadata_mismatch",
            "FileMetaData nEvents 9, 7 entries",
            None,
            7,
            frozenset({"metadata_mismatch"}),
        )
    )
    hole = name()
    start = int(rng.integers(200, max(201, len(data) - 1024)))
    hole.write_bytes(data[:start] + bytes(1024) + data[start + 1024 :])
    faults.append(Fault(hole, "hole", f"1024 zero bytes at {start}", source, n_events))
    directory = make_directory_root(out / "x.root")
    faults.append(Fault(directory, "directory", "", None, None, frozenset({"io_error"})))
    unreadable = make_unreadable(source, name())
    faults.append(
        Fault(unreadable, "unreadable", "mode 000", source, n_events, frozenset({"io_error"}))
    )
    loop = make_symlink_loop(name())
    faults.append(Fault(loop, "symlink_loop", "", None, None, frozenset({"io_error"})))
    fifo = make_fifo(name())
    faults.append(Fault(fifo, "fifo", "", None, None, frozenset({"io_error", "not_root"})))
    return faults


def is_special_file(path: Path) -> bool:
    """Whether ``path`` is a FIFO, socket or device (reading it may block)."""
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


# ----------------------------------------------------------------------------- online inputs


def elog_entry(
    mid: int | str,
    attributes: Mapping[str, str],
    text: str = "",
    *,
    date: datetime | str | None = None,
    encoding: str = "plain",
    attribute_order: Sequence[str] = ELOG_ATTRIBUTES,
) -> str:
    """One entry in PSI ELOG's day-file layout (header lines LF, text lines CRLF, last LF).

    Parameters
    ----------
    mid
        Message id (``$@MID@$: <mid>``); any text, to make malformed ids.
    attributes
        Attribute values; those not in ``attribute_order`` are appended in their order.
    text
        The body; ``\\n`` becomes CRLF except after the last line (elogd's way).
    date
        A datetime (written in RFC 2822 form) or raw text for the ``Date:`` line.
    encoding
        ``plain``, ``ELCode`` or ``HTML``.
    attribute_order
        Configured attribute order.

    Returns
    -------
    str
        The entry, ending with ``\\n``.
    """
    if date is None:
        date = datetime(2019, 11, 5, 10, 0, tzinfo=JST)
    date_text = date if isinstance(date, str) else date.strftime("%a, %d %b %Y %H:%M:%S %z")
    lines = [f"$@MID@$: {mid}", f"Date: {date_text}"]
    names = list(attribute_order) + [a for a in attributes if a not in attribute_order]
    lines += [f"{a}: {attributes.get(a, '')}" for a in names]
    lines += ["Attachment: ", f"Encoding: {encoding}", "=" * 40]
    body = "\r\n".join(text.rstrip("\n").split("\n")) + "\n"
    return "\n".join(lines) + "\n" + body


def run_entry(
    mid: int,
    run: int,
    count: str,
    *,
    experiment: str = "12",
    run_type: str = "Physics",
    subject: str | None = None,
    text: str | None = None,
    date: datetime | None = None,
) -> str:
    """A ``Run summary`` entry for one run with the given ``Num events`` text."""
    return elog_entry(
        mid,
        {
            "Author": "reliability",
            "Subject": subject if subject is not None else f"physics run {run}",
            "Type": "Run summary",
            "Category": run_type,
            "Exp number": experiment,
            "Run number": str(run),
            "Num events": count,
            "Run time": "01:00:00",
            "Solenoid": "ON",
        },
        text if text is not None else f"Run summary for run {run}\nIntegrated Luminosity : 1.5",
        date=date,
    )


def write_elog_day(
    path: str | os.PathLike[str],
    entries: Iterable[str],
    *,
    encoding: str = "utf-8",
    bom: bool = False,
    newline: str | None = None,
) -> Path:
    """Write entries (from :func:`elog_entry`) as one day file.

    Parameters
    ----------
    path
        Output, e.g. ``.../191105a.log`` (parents are created).
    entries
        Entry texts.
    encoding
        Text encoding (``utf-8``, ``iso-8859-1``, ``utf-16``, ...); unencodable characters
        become ``?``.
    bom
        Prefix a UTF-8 byte order mark (``utf-16`` always writes its own).
    newline
        Replace every line ending by this one (``"\\r\\n"`` for a CRLF-only file, ``"\\r"``
        for old Mac files); ``None`` keeps elogd's LF/CRLF mix.
    """
    text = "".join(entries)
    if newline is not None:
        text = text.replace("\r\n", "\n").replace("\n", newline)
    data = text.encode(encoding, errors="replace")
    if bom and encoding.lower().replace("-", "") == "utf8":
        data = b"\xef\xbb\xbf" + data
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def write_big_elog(
    path: str | os.PathLike[str], n_entries: int, *, experiment: int = 12, first_run: int = 1
) -> Path:
    """Write ``n_entries`` run summaries into one day file, fast (about 300 bytes each).

    Run ``first_run + i`` gets ``Num events`` ``1000 + i % 5000``, typed with a thousands
    separator for every third run, so the expected table is known without parsing.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    date = "Tue, 05 Nov 2019 10:27:05 +0900"
    sep = "=" * 40
    with out.open("w", encoding="utf-8", newline="") as fh:
        chunk: list[str] = []
        for i in range(n_entries):
            run = first_run + i
            n = 1000 + i % 5000
            typed = f"{n:,}" if run % 3 == 0 else str(n)
            chunk.append(
                f"$@MID@$: {i + 1}\nDate: {date}\nAuthor: shifter\nSubject: physics run {run}\n"
                f"Type: Run summary\nCategory: Physics\nExp number: {experiment}\n"
                f"Run number: {run}\nNum events: {typed}\nRun time: 01:00:00\nSolenoid: ON\n"
                f"Attachment: \nEncoding: plain\n{sep}\nRun summary for run {run}\r\n"
                f"Integrated Luminosity : {n / 0.35:.3f}\n"
            )
            if len(chunk) >= 10_000:
                fh.write("".join(chunk))
                chunk.clear()
        fh.write("".join(chunk))
    return out


def write_huge_line(
    path: str | os.PathLike[str], n_bytes: int = 50 * 2**20, *, where: str = "body"
) -> Path:
    """A day file with one valid entry around a single line of ``n_bytes`` bytes.

    ``where`` is ``body`` (a huge text line), ``attribute`` (a huge ``Subject`` value),
    ``count`` (a huge ``Num events`` value of digits) or ``nonewline`` (a file that is one
    huge line without any newline).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if where == "nonewline":
        out.write_bytes(b"x" * n_bytes)
        return out
    huge = ("7" if where == "count" else "A") * n_bytes
    good = run_entry(1, 501, "1234")
    if where == "body":
        bad = run_entry(2, 502, "2345", text=f"Run summary\n{huge}\nIntegrated Luminosity : 2")
    elif where == "attribute":
        bad = run_entry(2, 502, "2345", subject=huge)
    elif where == "count":
        bad = run_entry(2, 502, huge)
    else:
        raise ValueError(f"where must be body, attribute, count or nonewline, not {where!r}")
    tail = run_entry(3, 503, "3456")
    with out.open("w", encoding="utf-8", newline="") as fh:
        fh.write(good)
        fh.write(bad)
        fh.write(tail)
    return out


def write_garbage(
    path: str | os.PathLike[str], n_bytes: int = 65536, *, seed: int = 0, prefix: bytes = b""
) -> Path:
    """Random bytes (optionally after a plausible ``prefix`` such as ``b"$@MID@$: 1\\n"``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out.write_bytes(prefix + rng.integers(0, 256, size=n_bytes, dtype=np.uint8).tobytes())
    return out
