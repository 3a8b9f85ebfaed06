"""Whole-result reuse for an unchanged rerun: the tables of the last count of the same inputs.

The per-file cache (:mod:`lumiaudit.offline.cache`) spares a nightly rerun the reading of old
files, but the rerun still rebuilds every table from every file's record. When *nothing* has
changed since the last count of the same inputs with the same options, that work gives the same
tables again, so they are stored once, beside the per-file records, and reused.

"Nothing has changed" is decided from what this run sees, never assumed:

- the **slot** of a result is a digest of the options (tree, mode, branch names, file-name
  grammar, what "full" means, skims, the run selection), of the working directory and of the
  input arguments as given: one stored result per way of calling
  :func:`~lumiaudit.offline.count_events`, replaced by each run that can store one;
- the **fingerprint** is a digest of the slot, the lumiaudit version, the per-file record type's
  version, the cache layout and, for every path discovery reached in order, the path, the
  real path it resolves to and the real file's ``os.stat`` key (size, mtime, inode, ctime,
  device: the same key as the per-file cache). It is computed from discovery's raw walk,
  before any file name is parsed (the parsed names are a function of those paths and the
  grammar in the slot), so an unchanged rerun costs a directory walk and a ``stat`` per file.
  With a run selection the selected files' paths, markers and link paths are used instead
  (the selection is made on parsed names). The stored result is used only when the
  fingerprint of this run equals the stored one: one new, vanished, renamed, rewritten or
  ``touch``-ed file, a new link to a file, or any other option, and the run counts file by
  file as before.
- a run stores a result only when every file was stat'ed, listed without error and read without
  an I/O error (an I/O error says nothing about the file, so such a run must be repeated), and
  every file is local (a URL has no stat key).

A stored result that cannot be read (another version's pickle, a damaged row) is a miss. The
database is the per-file cache's (same safety rules: only a lumiaudit count cache is written,
one transaction per store); the table ``stored_tables`` (one row per table) is created by
the first store.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from lumiaudit._version import __version__
from lumiaudit.offline.cache import (
    CACHE_SCHEMA,
    RESULTS_TABLE,
    CountCache,
    FileKey,
    record_version,
)

__all__ = ["fingerprint", "lookup_result", "slot", "store_result"]

log = logging.getLogger(__name__)

#: Version of the stored parts (the four tables and the stats); part of every fingerprint.
#: 2: one row per part (pickling them all at once cost ~55 MB more peak at 100,000 files),
#: in ``cache.RESULTS_TABLE``; layout 1's ``results`` table, if a cache has one, is never read.
RESULT_LAYOUT = 2

_DDL = f"""
CREATE TABLE IF NOT EXISTS {RESULTS_TABLE} (
    slot TEXT NOT NULL,
    part INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    payload BLOB NOT NULL,
    stored_at REAL NOT NULL,
    PRIMARY KEY (slot, part)
) WITHOUT ROWID
"""


def slot(options: Sequence[object], inputs: Sequence[str]) -> str:
    """The digest naming one way of counting: the options and the input arguments as given."""
    text = repr((tuple(options), tuple(inputs)))
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(
    slot_id: str,
    record_type: type,
    files: Sequence[tuple[Any, ...]],
    keys: Sequence[FileKey],
) -> str:
    """The digest of everything an unchanged rerun must find as it was (see the module doc).

    Parameters
    ----------
    slot_id
        :func:`slot` of this run.
    record_type
        The per-file record class (its field list is part of the digest).
    files
        What discovery found of every file, in discovery order: ``(path, real path, error)``
        as reached (or, with a run selection, ``(path, markers, reached_as, error)`` of each
        selected file).
    keys
        The stat key of every file, in the same order.
    """
    digest = hashlib.sha256()
    head = (RESULT_LAYOUT, CACHE_SCHEMA, __version__, record_version(record_type), slot_id)
    digest.update(repr(head).encode())
    for entry, key in zip(files, keys, strict=True):
        digest.update(repr((entry, key.stat_key())).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def lookup_result(cache: CountCache, slot_id: str, print_: str) -> list[Any] | None:
    """The stored parts of ``slot_id`` if they are whole and of fingerprint ``print_``."""
    parts: list[Any] = []
    expected = 0
    try:
        rows = cache.db.execute(
            f"SELECT part, parts, fingerprint, payload FROM {RESULTS_TABLE} "
            "WHERE slot = ? ORDER BY part",
            (slot_id,),
        )
        # one row (one pickled table) at a time: never all of them in memory at once
        for part, total, stored_print, payload in rows:
            if stored_print != print_ or part != len(parts):
                return None
            expected = total
            parts.append(pickle.loads(payload))  # the user's own cache (lumiaudit.offline.cache)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # no run has stored a result in this cache yet
        raise
    except Exception as exc:  # another version's objects, a damaged row: count file by file
        log.debug("cache %s: stored result unreadable (%s); counting file by file", cache.path, exc)
        return None
    if not parts or len(parts) != expected:
        return None
    return parts


def store_result(cache: CountCache, slot_id: str, print_: str, parts: Sequence[object]) -> None:
    """Store ``parts`` as the result of ``slot_id`` with fingerprint ``print_``, one row each.

    One transaction: a run killed while storing leaves the previous result.
    """
    now = time.time()
    with cache.transaction() as db:
        db.execute(_DDL)
        db.execute(f"DELETE FROM {RESULTS_TABLE} WHERE slot = ?", (slot_id,))
        for i, part in enumerate(parts):
            blob = pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)
            db.execute(
                f"INSERT INTO {RESULTS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                (slot_id, i, len(parts), print_, blob, now),
            )
            del blob
