"""Persistent per-file count cache (SQLite), so that a nightly rerun reads only new files.

A cached result is reused only when the file looks exactly as it did when it was counted:
same path, size, modification time (ns), inode, device and status-change time (ns), counted
with the same tree name and mode, by the same version of the record type. Anything else is a
miss and the file is read again. ``st_ctime_ns`` is what catches a rewrite in place that
restores size and mtime (``cp`` + ``touch -r``, ``rsync --inplace``): no user can set it, and
every write, rename into place, ``chmod`` or ``utime`` moves it. A spurious change (a
``chmod``) costs one re-read, never a wrong count.

Safety
------
- The database runs in WAL mode; every :meth:`CountCache.store` is one transaction. A process
  killed with ``kill -9`` in the middle of storing leaves the previous state; concurrent runs
  wait for each other's write lock (``busy_timeout``) instead of failing or corrupting.
- Only a lumiaudit count cache is ever written or moved. A path that holds anything else
  (an input ROOT file, a list file, another program's SQLite database) is refused with an
  :class:`~lumiaudit.errors.OutputError` and left as it is. An empty file (0 bytes: nothing
  to lose, and what a concurrent run's ``sqlite3.connect`` leaves for an instant) is used;
  :func:`~lumiaudit.offline.count_events` refuses a cache path that is one of its inputs.
- A lumiaudit cache whose integrity check fails is renamed to ``<name>.corrupt-<UTC time>``
  and a new one is built; a :class:`LumiauditWarning` says so. A cache of an older layout is
  rebuilt in place (its rows are dropped: every file is counted again); one written by a newer
  lumiaudit (a higher layout number) is refused, not downgraded.
- Records are stored as pickles together with a version string of their type (its qualified
  name and field names). A cache written by another version of lumiaudit is ignored, not
  misread. As with any pickle, only use cache files you (or your production) wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import sqlite3
import time
import warnings
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from lumiaudit.errors import LumiauditWarning, OutputError
from lumiaudit.offline.access import access

__all__ = ["CACHE_SCHEMA", "CountCache", "FileKey", "file_key"]

log = logging.getLogger(__name__)

#: Layout version of the cache database; an older layout is rebuilt, a newer one refused.
#: 2: ``ctime_ns`` and ``dev`` in the key, ``meta.application``.
CACHE_SCHEMA = 2

#: The table of whole stored results (written and read by lumiaudit.offline.result_cache).
RESULTS_TABLE = "stored_tables"

#: ``meta.application`` of a lumiaudit count cache (layout 1 had only ``meta.schema``).
APPLICATION = "lumiaudit count cache"

_SQLITE_MAGIC = b"SQLite format 3\x00"

#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 60.0

#: Paths per SQL query in lookup_many (SQLite's host-parameter limit is 32766 nowadays).
_BATCH = 500

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    path TEXT NOT NULL,
    tree TEXT NOT NULL,
    mode TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    dev INTEGER NOT NULL,
    record_version TEXT NOT NULL,
    payload BLOB NOT NULL,
    stored_at REAL NOT NULL,
    PRIMARY KEY (path, tree, mode)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of a local file (see the module docstring).

    Attributes
    ----------
    path
        The file as it is counted.
    size, mtime_ns, inode, ctime_ns, dev
        ``st_size``, ``st_mtime_ns``, ``st_ino``, ``st_ctime_ns`` and ``st_dev``.
    """

    path: str
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int
    dev: int

    def stat_key(self) -> tuple[int, int, int, int, int]:
        """The part compared with a stored row."""
        return (self.size, self.mtime_ns, self.inode, self.ctime_ns, self.dev)


def file_key(path: str | os.PathLike[str]) -> FileKey | None:
    """Stat ``path`` and return its cache key, or ``None`` for URLs and unstattable files.

    Symlinks are followed: the key describes the file whose bytes are read.

    Examples
    --------
    >>> file_key("root://host//data/f.root") is None
    True
    """
    text = os.fspath(path)
    where = access(text)
    if where.remote:
        return None
    local = where.path
    try:
        st = os.stat(local)  # noqa: PTH116 (hot path: pathlib costs a third of a rerun here)
    except OSError:
        return None
    return FileKey(text, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, st.st_dev)


_VERSIONS: dict[type, str] = {}


def record_version(cls: type) -> str:
    """A short version string of a record type: its name and (for dataclasses) its fields."""
    known = _VERSIONS.get(cls)
    if known is not None:
        return known
    fields = ""
    if dataclasses.is_dataclass(cls):
        fields = ",".join(f"{f.name}:{f.type}" for f in dataclasses.fields(cls))
    schema = getattr(cls, "SCHEMA_VERSION", "")
    text = f"{cls.__module__}.{cls.__qualname__}|{schema}|{fields}"
    version = _VERSIONS[cls] = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
    return version


class CountCache:
    """Per-file results keyed by path, size, mtime, inode, ctime, device, tree and mode.

    Open with :meth:`CountCache.open`, preferably as a context manager.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with CountCache.open(tmp / "counts.sqlite") as cache:
    ...     key = FileKey(str(tmp / "a.root"), size=10, mtime_ns=1, inode=2, ctime_ns=3, dev=4)
    ...     cache.store(["record"], tree="tree", mode="fast", keys=[key])
    ...     cache.lookup(key, tree="tree", mode="fast")
    1
    'record'
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = connection

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> CountCache:
        """Open (or create) the cache database at ``path``.

        A damaged lumiaudit cache is moved aside and rebuilt, with a
        :class:`~lumiaudit.errors.LumiauditWarning`; anything that is not a lumiaudit cache
        is refused and left untouched.

        Parameters
        ----------
        path
            The SQLite file. Parent directories are created.

        Returns
        -------
        CountCache

        Raises
        ------
        OutputError
            If ``path`` holds something that is not a lumiaudit count cache, a cache of a
            newer lumiaudit, or cannot be created or opened (permissions, missing disk).
        """
        target = Path(path)
        _refuse_foreign(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the cache directory: {exc}"
            raise OutputError(msg, path=target) from exc
        try:
            return cls(target, _connect(target))
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _looks_corrupt(exc):
                msg = f"cannot open the count cache: {exc}"
                raise OutputError(msg, path=target) from exc
            # _refuse_foreign saw our tables: this is our own damaged cache
            aside = _move_aside(target)
            message = (
                f"{target}: count cache unusable ({exc}); moved to {aside.name} "
                "and rebuilt: every file is counted again"
            )
            log.warning(message)
            warnings.warn(message, LumiauditWarning, stacklevel=2)
            try:
                return cls(target, _connect(target))
            except sqlite3.Error as exc2:
                msg = f"cannot rebuild the count cache: {exc2}"
                raise OutputError(msg, path=target) from exc2

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> CountCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._db is not None else "closed"
        return f"CountCache({str(self.path)!r}, {state})"

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            msg = f"{self.path}: the count cache is closed"
            raise ValueError(msg)
        return self._db

    # -- reading -----------------------------------------------------------------------

    def lookup(self, key: FileKey, *, tree: str, mode: str) -> Any:
        """Return the cached record of this version of a file, or ``None``.

        Parameters
        ----------
        key
            What ``os.stat`` says now (see :func:`file_key`). Any difference is a miss.
        tree, mode
            The event tree name and counting mode of the wanted result.

        Returns
        -------
        FileRecord or None
        """
        return self.lookup_many([key], tree=tree, mode=mode)[0]

    def lookup_many(self, keys: Iterable[FileKey | None], *, tree: str, mode: str) -> list[Any]:
        """Look up many files at once (one query per few hundred paths).

        Parameters
        ----------
        keys
            One :class:`FileKey` per file (``None`` for a file without key: always a miss).
        tree, mode
            The event tree name and counting mode of the wanted results.

        Returns
        -------
        list
            The cached record or ``None`` per key, in the order of ``keys``.
        """
        keys = list(keys)
        out: list[Any] = [None] * len(keys)
        wanted: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            if key is not None:
                wanted.setdefault(key.path, []).append(i)
        paths = list(wanted)
        for start in range(0, len(paths), _BATCH):
            batch = paths[start : start + _BATCH]
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(
                "SELECT path, size, mtime_ns, inode, ctime_ns, dev, record_version, payload "
                f"FROM records WHERE tree = ? AND mode = ? AND path IN ({marks})",
                (tree, mode, *batch),
            ).fetchall()
            for path, *stored, version, payload in rows:
                for i in wanted[path]:
                    key = keys[i]
                    assert key is not None
                    if key.stat_key() != tuple(stored):
                        continue
                    record = _load(payload, version, path=path)
                    if record is not None:
                        out[i] = record
        return out

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    # -- writing -----------------------------------------------------------------------

    def store(
        self,
        records: Iterable[Any],
        *,
        tree: str,
        mode: str,
        keys: Sequence[FileKey | None] | None = None,
    ) -> int:
        """Store records in one transaction and return how many were stored.

        Parameters
        ----------
        records
            Per-file results (picklable; their ``path`` attribute names the file).
        tree, mode
            The tree name and mode they were counted with.
        keys
            The :class:`FileKey` of each record's file as it was stat'ed *before* it was
            read (so a file changed while being read is recounted next time). By default
            each record's ``path`` is stat'ed now. Records without a key (URLs, vanished
            files) are not stored.

        Returns
        -------
        int
            Number of records stored.
        """
        records = list(records)
        if keys is None:
            keys = [file_key(_record_path(r)) for r in records]
        elif len(keys) != len(records):
            msg = f"{len(keys)} keys for {len(records)} records"
            raise ValueError(msg)
        now = time.time()
        rows = []
        for record, key in zip(records, keys, strict=True):
            if key is None:
                continue
            payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
            version = record_version(type(record))
            rows.append((key.path, tree, mode, *key.stat_key(), version, payload, now))
        if not rows:
            return 0
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def forget(self, paths: Iterable[str]) -> None:
        """Drop the cached results of ``paths`` (all trees and modes), and every whole result."""
        with self.transaction() as db:
            db.executemany("DELETE FROM records WHERE path = ?", [(p,) for p in paths])
            with suppress(sqlite3.OperationalError):  # no stored tables yet
                db.execute(f"DELETE FROM {RESULTS_TABLE}")

    def transaction(self) -> _Transaction:
        """``with cache.transaction() as db:``: one write transaction on the cache database."""
        return _Transaction(self.db)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        # IMMEDIATE takes the write lock now (waiting up to busy_timeout) so two writers
        # never deadlock upgrading read locks.
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            with suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")


def _record_path(record: Any) -> str:
    path = getattr(record, "path", None)
    if path is None:
        msg = f"cannot cache {type(record).__name__} without a 'path' attribute"
        raise ValueError(msg)
    return str(path)


def _load(payload: bytes, version: str, *, path: str) -> Any:
    try:
        record = pickle.loads(payload)  # the user's own cache file (see module doc)
    except Exception as exc:  # a record written by another version: count again
        log.debug("%s: cached record unreadable (%s); counting again", path, exc)
        return None
    if record_version(type(record)) != version:
        log.debug("%s: cached record of another version; counting again", path)
        return None
    return record


def _journal_wal(db: sqlite3.Connection) -> object:
    """Switch to WAL, waiting (bounded) for another process that is opening the same cache.

    SQLite answers "database is locked" to this pragma without calling the busy handler while
    another connection switches the mode or recovers the journal (seen with two processes
    opening a new cache at once), so the wait is done here, up to ``BUSY_TIMEOUT_S``.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = _journal_wal(db)
        if str(mode).lower() != "wal":
            log.info("%s: journal_mode is %s (WAL unavailable on this file system)", path, mode)
        # NORMAL is durable against process crashes in WAL mode; only a power cut can lose
        # the last transactions, never corrupt the database.
        db.execute("PRAGMA synchronous = NORMAL")
        _check_integrity(db)
        _ensure_schema(db)
    except BaseException:
        db.close()
        raise
    return db


def _check_integrity(db: sqlite3.Connection) -> None:
    check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    if check != "ok":
        msg = f"integrity check failed: {check}"
        raise sqlite3.DatabaseError(msg)


def _ensure_schema(db: sqlite3.Connection) -> None:
    if _schema_current(db):
        return  # nothing to write: a rerun's open takes no write lock and leaves no WAL
    with _Transaction(db):
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        layout = None
        if "meta" in tables:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            layout = None if row is None else row[0]
        if layout is not None and layout != str(CACHE_SCHEMA):
            # only older layouts get here (_refuse_foreign refuses newer ones)
            log.info(
                "count cache layout %s != %s: rebuilt (every file is counted again)",
                layout,
                CACHE_SCHEMA,
            )
            db.execute("DROP TABLE IF EXISTS records")
            db.execute("DROP TABLE IF EXISTS meta")
        for statement in _DDL.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(CACHE_SCHEMA),))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('application', ?)", (APPLICATION,))


def _schema_current(db: sqlite3.Connection) -> bool:
    """Whether both tables exist and ``meta`` says this layout and application."""
    try:
        rows = dict(
            db.execute("SELECT key, value FROM meta WHERE key IN ('schema', 'application')")
        )
        db.execute("SELECT 1 FROM records LIMIT 0")
    except sqlite3.OperationalError:  # no such table
        return False
    return rows == {"schema": str(CACHE_SCHEMA), "application": APPLICATION}


def _refuse_foreign(path: Path) -> None:
    """Raise :class:`OutputError` unless ``path`` is absent or a lumiaudit cache we may write.

    Read-only: the file is opened with ``mode=ro`` and never changed here. A lumiaudit cache
    is an SQLite file with the tables ``meta`` (``schema`` row) and ``records``; an empty
    file or an SQLite file without any table (nothing to lose) may be initialised.
    """
    hint = "give --cache a path of its own (a new file, or a lumiaudit count cache)"
    try:
        if not path.exists():
            return
        if not path.is_file():
            msg = "the count cache path is not a regular file"
            raise OutputError(msg, path=path, hint=hint)
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        msg = f"cannot read the count cache: {exc}"
        raise OutputError(msg, path=path) from exc
    if not head:
        # nothing to lose, and what a concurrent run's sqlite3.connect leaves for an instant
        return
    if head != _SQLITE_MAGIC:
        msg = "not a lumiaudit count cache (not an SQLite database); refusing to touch it"
        raise OutputError(
            msg,
            path=path,
            hint=hint,
        )
    try:
        ro = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            layout = None
            if {"meta", "records"} <= tables:
                row = ro.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                layout = None if row is None else str(row[0])
        finally:
            ro.close()
    except sqlite3.DatabaseError as exc:
        if _looks_corrupt(exc):
            # its first page (the table list) cannot be read: whose it is cannot be known
            msg = (
                f"damaged SQLite file ({exc}); cannot tell whether it is a lumiaudit count "
                "cache, so it is left as it is"
            )
            raise OutputError(
                msg,
                path=path,
                hint="remove it if it is one",
            ) from exc
        msg = f"cannot open the count cache: {exc}"
        raise OutputError(msg, path=path) from exc
    if not tables:
        return
    if layout is None:
        names = ", ".join(sorted(tables))
        msg = (
            f"not a lumiaudit count cache (an SQLite database with tables {names}); "
            "refusing to touch it"
        )
        raise OutputError(
            msg,
            path=path,
            hint=hint,
        )
    if not layout.isdigit() or int(layout) > CACHE_SCHEMA:
        msg = f"count cache of layout {layout}, newer than this lumiaudit's {CACHE_SCHEMA}"
        raise OutputError(
            msg,
            path=path,
            hint="upgrade lumiaudit, or give --cache another path",
        )


def _looks_corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return any(
        s in text for s in ("not a database", "malformed", "corrupt", "integrity", "file is not")
    )


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            with suppress(FileNotFoundError):
                src.replace(Path(f"{aside}{suffix}"))
    return aside
