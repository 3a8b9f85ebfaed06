"""Run a per-file function over many files: sequentially, on local workers or on Dask.

:func:`map_files` is the one entry point. It keeps the results in input order whatever the
backend, so that the tables built from them are identical locally, with ``--jobs N`` and on a
Dask cluster.

Backends
--------
``jobs=1``
    Local paths are processed in this process, one after the other.
``jobs>1``
    Local paths go to a process pool in chunks: counting a local file is CPU-bound (ROOT
    record parsing and decompression under the GIL), so processes scale and threads do not.
Remote URLs (``root://``, ``http(s)://``, any ``scheme://`` but ``file://``)
    go to a thread pool with many files in flight (``inflight``, default ``16 * jobs``): reading
    a remote file is dominated by request latency; threads overlap it. (Worker processes each
    running threads were measured slower on 2 cores: the CPU per remote file is the limit.)
``client`` / ``scheduler``
    The items are sent in chunks to a ``dask.distributed`` cluster. Dask is imported only then.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any, TypeVar

from lumiaudit.errors import ParameterError
from lumiaudit.offline.access import is_url

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["is_remote", "map_files", "usable_cpus", "worker_processes"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Default number of remote files in flight per job.
INFLIGHT_PER_JOB = 16

#: Chunks per worker: enough to balance uneven files, few enough to keep the overhead small.
CHUNKS_PER_WORKER = 8
MAX_CHUNK = 64


def is_remote(item: object) -> bool:
    """Whether ``item`` is a URL read through the network (any ``scheme://`` but ``file://``).

    The decision is :func:`lumiaudit.offline.access.access`'s, shared by all of offline/.

    Examples
    --------
    >>> is_remote("root://eos.example.org//belle/f.root"), is_remote("/data/f.root")
    (True, False)
    """
    return isinstance(item, str) and is_url(item)


def _run_chunk(func: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    """Apply ``func`` to every item of ``chunk`` (runs in a worker)."""
    return [func(item) for item in chunk]


def _chunks(n: int, workers: int) -> list[range]:
    size = max(1, min(MAX_CHUNK, math.ceil(n / (max(workers, 1) * CHUNKS_PER_WORKER))))
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def _progress_bar(total: int, *, enabled: bool, description: str) -> tqdm[Any] | None:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit="file",
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds (no re-import of uproot/pandas). It is not available
    # or not safe on macOS and Windows, and Python >= 3.12 warns when forking a process that
    # runs other threads (XRootD, Dask, a progress monitor): use forkserver there.
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "darwin" or "fork" not in methods:
        return multiprocessing.get_context()
    if sys.version_info >= (3, 12) and threading.active_count() > 1 and "forkserver" in methods:
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("fork")


def map_files(
    func: Callable[[T], R],
    items: Sequence[T],
    *,
    jobs: int = 1,
    client: Any = None,
    scheduler: str | None = None,
    progress: bool = False,
    description: str = "counting",
    inflight: int | None = None,
) -> list[R]:
    """Apply ``func`` to every item and return the results in input order.

    Parameters
    ----------
    func
        A function of one item (a path or URL). It must be picklable (defined at module level)
        for ``jobs > 1`` and for Dask, and should report failures in its result rather than
        raise: an exception stops the whole map and is re-raised here.
    items
        Paths or URLs.
    jobs
        Local workers. ``1`` runs in this process; ``N > 1`` uses a pool of processes for
        local paths, at most N and never more than the local files or the usable CPUs
        (:func:`worker_processes`; logged when it bounds ``jobs``). ``0`` or a negative value
        means one per CPU.
    client
        A ``dask.distributed.Client``: run on its cluster (``jobs`` is then ignored).
    scheduler
        Address of a Dask scheduler (``tcp://host:8786``); a client is opened and closed here.
    progress
        Show a progress bar (files/s, ETA) on stderr.
    description
        Label of the progress bar.
    inflight
        Remote URLs read at the same time (threads). Default ``16 * jobs``.

    Returns
    -------
    list
        ``[func(item) for item in items]``, in the order of ``items``.

    Raises
    ------
    ParameterError
        If both ``client`` and ``scheduler`` are given, or ``inflight < 1``.

    Examples
    --------
    >>> map_files(len, ["a.root", "bb.root"])
    [6, 7]
    """
    items = list(items)
    if client is not None and scheduler is not None:
        msg = "give either a Dask client or a scheduler address, not both"
        raise ParameterError(msg)
    if inflight is not None and inflight < 1:
        msg = f"inflight must be at least 1, got {inflight}"
        raise ParameterError(msg)
    if jobs < 1:
        jobs = os.cpu_count() or 1
    if not items:
        return []
    bar = _progress_bar(len(items), enabled=progress, description=description)
    try:
        if client is not None or scheduler is not None:
            return _map_dask(func, items, client=client, scheduler=scheduler, bar=bar)
        return _map_local(func, items, jobs=jobs, inflight=inflight, bar=bar)
    finally:
        if bar is not None:
            bar.close()


def _map_local(
    func: Callable[[T], R],
    items: list[T],
    *,
    jobs: int,
    inflight: int | None,
    bar: tqdm[Any] | None,
) -> list[R]:
    results: list[Any] = [None] * len(items)
    remote = [i for i, item in enumerate(items) if is_remote(item)]
    local = [i for i, item in enumerate(items) if not is_remote(item)]
    n_threads = inflight if inflight is not None else INFLIGHT_PER_JOB * jobs
    n_procs = worker_processes(jobs, len(local))
    if n_procs != jobs and local:
        log.info(
            "%d worker process%s for %d local file%s (--jobs %d bounded by the files and "
            "the %d usable CPUs)",
            n_procs,
            "es" * (n_procs != 1),
            len(local),
            "s" * (len(local) != 1),
            jobs,
            usable_cpus(),
        )
    with _Pools(n_threads=min(n_threads, len(remote)), n_procs=n_procs) as pools:
        pending: dict[Future[list[R]], Sequence[int]] = {}
        if local and pools.n_procs > 1:
            proc_pool = pools.processes()
            for part in _chunks(len(local), pools.n_procs):
                idx = [local[k] for k in part]
                pending[proc_pool.submit(_run_chunk, func, [items[i] for i in idx])] = idx
        if remote:
            # threads are started after the worker processes were forked (fork + threads = hangs)
            thread_pool = pools.threads()
            for i in remote:
                pending[thread_pool.submit(_run_chunk, func, [items[i]])] = [i]
        if local and pools.n_procs == 1:
            # sequential local work runs here while the threads (if any) read remote files
            for i in local:
                results[i] = func(items[i])
                if bar is not None:
                    bar.update(1)
        for done in _as_completed(pending):
            where = pending.pop(done)
            for i, value in zip(where, done.result(), strict=True):
                results[i] = value
            if bar is not None:
                bar.update(len(where))
    return results


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def worker_processes(jobs: int, n_local: int) -> int:
    """Processes for ``n_local`` local files: ``jobs``, but never more than files or CPUs.

    Counting a local file is CPU-bound, so a process beyond the usable CPUs only adds a
    fork and memory; one beyond the files (``--jobs 48`` on 3 files) has nothing to do.

    Examples
    --------
    >>> worker_processes(48, 3) <= 3, worker_processes(4, 1), worker_processes(1, 100)
    (True, 1, 1)
    """
    return max(1, min(jobs, n_local, usable_cpus()))


def _as_completed(pending: dict[Future[list[R]], Sequence[int]]) -> Iterator[Future[list[R]]]:
    """Yield futures as they finish; on the first error cancel the rest and re-raise it."""
    remaining = set(pending)
    while remaining:
        done, remaining = wait_futures(remaining, return_when="FIRST_COMPLETED")
        for fut in done:
            if fut.exception() is not None:
                for other in remaining:
                    other.cancel()
            yield fut


#: Seconds between two looks of a pool worker at its parent process.
PARENT_POLL = 0.5


def _worker_init(parent_pid: int, start_method: str) -> None:
    """Make a pool worker exit when the process that started the pool dies (no orphans).

    A ``kill -9`` of the parent gives it no chance to stop its workers, and a worker that
    waits for its next task would wait for ever. On Linux the kernel sends the worker
    ``SIGTERM`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon
    thread also checks every :data:`PARENT_POLL` seconds that the parent is still the same
    process and ends the worker when it is not (the worker was re-parented).
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
                log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:  # no glibc: the watchdog thread is enough
            log.debug("prctl(PR_SET_PDEATHSIG) not available: %s", exc)
    # forked workers are children of the pool's owner; forkserver/spawn ones of a helper
    # process that lives as long as the owner: watch whichever parent we have now
    parent = os.getppid()
    if parent != parent_pid and start_method == "fork":
        os._exit(1)  # the owner died before PDEATHSIG was armed
    threading.Thread(
        target=_watch_parent, args=(parent,), name="lumiaudit-parent-watch", daemon=True
    ).start()


#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
_PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL)
        if os.getppid() != parent:
            log.debug("pool worker %d: parent %d is gone, exiting", os.getpid(), parent)
            os._exit(1)


class _Pools:
    """Lazily created thread and process pools, shut down together."""

    def __init__(self, *, n_threads: int, n_procs: int) -> None:
        self.n_threads = max(1, n_threads)
        self.n_procs = max(1, n_procs)
        self._threads: ThreadPoolExecutor | None = None
        self._procs: ProcessPoolExecutor | None = None

    def threads(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.n_threads, thread_name_prefix="lumiaudit-io")
        return self._threads

    def processes(self) -> ProcessPoolExecutor:
        if self._procs is None:
            context = _mp_context()
            self._procs = ProcessPoolExecutor(
                self.n_procs,
                mp_context=context,
                initializer=_worker_init,
                initargs=(os.getpid(), context.get_start_method()),
            )
        return self._procs

    def __enter__(self) -> _Pools:
        return self

    def __exit__(self, *exc: object) -> None:
        pools: list[Executor | None] = [self._threads, self._procs]
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def _map_dask(
    func: Callable[[T], R],
    items: list[T],
    *,
    client: Any,
    scheduler: str | None,
    bar: tqdm[Any] | None,
) -> list[R]:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the installation
        msg = "running on a Dask cluster needs dask.distributed"
        raise ParameterError(
            msg,
            hint="pip install 'lumiaudit[dask]'",
        ) from exc
    Client: Any = distributed.Client
    as_completed: Any = distributed.as_completed
    own = client is None
    if own:
        try:
            client = Client(scheduler, set_as_default=False)
        except OSError as exc:
            msg = f"cannot connect to the Dask scheduler at {scheduler}: {exc}"
            raise ParameterError(
                msg,
                hint="check the address (tcp://host:8786) and that the scheduler runs",
            ) from exc
    try:
        n_workers = max(1, sum(client.nthreads().values()))
        parts = _chunks(len(items), n_workers)
        futures = [
            client.submit(_run_chunk, func, [items[i] for i in part], pure=False) for part in parts
        ]
        index = {fut.key: part for fut, part in zip(futures, parts, strict=True)}
        results: list[Any] = [None] * len(items)
        try:
            # the client need not be the default one: give as_completed its event loop
            for fut in as_completed(futures, loop=client.loop):
                part = index[fut.key]
                for i, value in zip(part, fut.result(), strict=True):
                    results[i] = value
                if bar is not None:
                    bar.update(len(part))
        finally:
            client.cancel(futures)
        log.debug("ran %d files in %d chunks on %d Dask threads", len(items), len(parts), n_workers)
        return results
    finally:
        if own:
            client.close()
