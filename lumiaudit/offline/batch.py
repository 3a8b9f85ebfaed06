"""Dask clusters to count on: ``--cluster local:N | condor:N | slurm:N`` (the ``[batch]`` extra).

``condor:N`` and ``slurm:N`` submit N batch jobs, each running one Dask worker with one thread
(``dask_jobqueue.HTCondorCluster`` / ``SLURMCluster``); ``local:N`` starts N worker processes
on this machine (``distributed.LocalCluster``), the stand-in used where no batch system exists.
The files are then counted as with ``--scheduler`` (:func:`lumiaudit.offline.executors.map_files`
on a ``distributed.Client``), with the same results as locally.

Queue, walltime, memory, accounting project and the like come from dask-jobqueue's own
configuration (``~/.config/dask/jobqueue.yaml``, sections ``jobqueue.htcondor`` and
``jobqueue.slurm``); where it sets no ``cores``/``memory`` (``disk`` for HTCondor), one core and
2 GB per job are asked for. The workers run this Python (``sys.executable``): lumiaudit and the
files must be reachable from the batch nodes (a shared file system or root:// URLs).

Start-up is bounded: the submit command must be on ``PATH`` (``condor_submit``, ``sbatch``),
and a cluster where no worker has joined after ``start_timeout`` seconds is a
:class:`~lumiaudit.errors.ClusterError` (its jobs are cancelled), never a hang.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lumiaudit.errors import ClusterError, ParameterError

__all__ = ["DEFAULT_START_TIMEOUT", "KINDS", "ClusterSpec", "make_cluster", "open_cluster"]

log = logging.getLogger(__name__)

#: ``--cluster`` kinds: the dask-jobqueue class and its submit command (None: local)
KINDS: dict[str, tuple[str, str] | None] = {
    "local": None,
    "condor": ("HTCondorCluster", "condor_submit"),
    "slurm": ("SLURMCluster", "sbatch"),
}

#: Seconds to wait for the first worker of a cluster (a batch queue may take minutes).
DEFAULT_START_TIMEOUT = 600.0

#: Asked per job where dask-jobqueue's configuration says nothing (one worker, one thread).
DEFAULT_JOB = {"cores": 1, "memory": "2GB", "disk": "2GB"}

_SPEC = re.compile(r"(?P<kind>[a-z]+):(?P<jobs>\d+)")


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster to count on: its kind (``local``, ``condor``, ``slurm``) and number of jobs."""

    kind: str
    jobs: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.jobs}"

    @classmethod
    def parse(cls, text: str) -> ClusterSpec:
        """Read ``KIND:N``.

        Raises
        ------
        ParameterError
            An unknown kind, or N not a positive integer.

        Examples
        --------
        >>> ClusterSpec.parse("slurm:20")
        ClusterSpec(kind='slurm', jobs=20)
        >>> ClusterSpec.parse("pbs:2")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lumiaudit.errors.ParameterError: cluster: 'pbs:2' is not KIND:N with KIND one of ...
        """
        match = _SPEC.fullmatch(text.strip())
        if match is None or match["kind"] not in KINDS or int(match["jobs"]) < 1:
            msg = (
                f"cluster: {text!r} is not KIND:N with KIND one of {', '.join(KINDS)} "
                "(e.g. condor:20)"
            )
            raise ParameterError(msg)
        return cls(match["kind"], int(match["jobs"]))


def _jobqueue(spec: ClusterSpec, *, check_submit: bool) -> Any:
    name, submit = KINDS[spec.kind] or ("LocalCluster", "")
    try:
        import dask
        import dask_jobqueue
    except ImportError:
        msg = f"--cluster {spec.kind}:N needs dask-jobqueue, which is not installed"
        raise ParameterError(msg, hint="pip install 'lumiaudit[batch]'") from None
    if check_submit and shutil.which(submit) is None:
        msg = f"--cluster {spec}: {submit} is not on PATH (is this a {spec.kind} submit host?)"
        raise ClusterError(msg, hint="run where jobs can be submitted, or use --cluster local:N")
    section = {"condor": "htcondor", "slurm": "slurm"}[spec.kind]
    wanted = ("cores", "memory", "disk") if spec.kind == "condor" else ("cores", "memory")
    kwargs: dict[str, Any] = {
        key: DEFAULT_JOB[key]
        for key in wanted
        if dask.config.get(f"jobqueue.{section}.{key}", None) is None
    }
    options = dict(dask.config.get(f"jobqueue.{section}.scheduler-options", None) or {})
    options.setdefault("dashboard_address", None)  # no fixed port 8787 to collide on
    # one worker with one thread per job: counting is CPU-bound under the GIL
    return getattr(dask_jobqueue, name)(processes=1, scheduler_options=options, **kwargs)


def make_cluster(spec: ClusterSpec | str, *, check_submit: bool = True) -> Any:
    """Build the cluster of ``spec`` without any worker yet (no job is submitted).

    ``check_submit=False`` skips the check that the submit command is on ``PATH`` (to look at
    the job script on a machine that cannot submit).

    Returns
    -------
    distributed.LocalCluster or dask_jobqueue.JobQueueCluster
        Its ``job_script()`` (batch kinds) shows what would be submitted; ``scale(n)`` starts
        the workers. Close it when done.

    Raises
    ------
    ParameterError
        dask.distributed (``local``) or dask-jobqueue is not installed.
    ClusterError
        The submit command is not on ``PATH``.
    """
    spec = ClusterSpec.parse(spec) if isinstance(spec, str) else spec
    if spec.kind != "local":
        return _jobqueue(spec, check_submit=check_submit)
    try:
        import distributed
    except ImportError:
        msg = "--cluster local:N needs dask.distributed, which is not installed"
        raise ParameterError(msg, hint="pip install 'lumiaudit[dask]'") from None
    local_cluster: Any = distributed.LocalCluster
    return local_cluster(
        n_workers=0,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


def wait_for_workers(client: Any, *, timeout: float, what: str) -> int:
    """Wait until a worker has joined ``client``'s cluster; return the workers there.

    Raises
    ------
    ClusterError
        No worker joined within ``timeout`` seconds.
    """
    try:
        client.wait_for_workers(n_workers=1, timeout=timeout)
    except TimeoutError:
        msg = f"{what}: no Dask worker joined within {timeout:g} s"
        raise ClusterError(
            msg,
            hint="the jobs may be queued or failing: check the queue and the job logs, or "
            "allow longer with --cluster-timeout",
        ) from None
    n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
    log.info("%s: %d worker%s joined", what, n, "s" * (n != 1))
    return n


@contextlib.contextmanager
def open_cluster(
    spec: ClusterSpec | str, *, start_timeout: float = DEFAULT_START_TIMEOUT
) -> Iterator[Any]:
    """Start the cluster of ``spec`` and yield a ``distributed.Client`` on it.

    The workers are asked for (``scale``) and the first one is awaited for at most
    ``start_timeout`` seconds; on leaving, the client and the cluster are closed (batch jobs
    cancelled), also after an error.

    Raises
    ------
    ParameterError
        A bad spec, or the extra it needs is not installed.
    ClusterError
        The submit command is missing, or no worker joined in time.

    Examples
    --------
    Not a doctest (it starts worker processes)::

        with open_cluster("local:2") as client:
            map_files(count_file, paths, client=client)
    """
    spec = ClusterSpec.parse(spec) if isinstance(spec, str) else spec
    import distributed

    cluster = make_cluster(spec)
    try:
        cluster.scale(spec.jobs)
        client_cls: Any = distributed.Client
        with client_cls(cluster, set_as_default=False) as client:
            wait_for_workers(client, timeout=start_timeout, what=f"--cluster {spec}")
            yield client
    finally:
        cluster.close()
