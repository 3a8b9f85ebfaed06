"""The Jupyter kernel a report runs on: the same lumiaudit as this process, and quiet.

Two lines used to reach stderr (and cron mail) on every report and nightly, both from the kernel
process, whose stderr is ours:

- ``[IPKernelApp] WARNING | Kernel is running over TCP without encryption``: ipykernel >= 7 warns
  whenever the kernel's ZeroMQ sockets are TCP without CurveZMQ keys
  (``ipykernel/kernelapp.py:init_sockets``). The report's kernel is a child of this process on
  the same host, so it is started over IPC (Unix sockets beside the connection file, private
  to the user) instead: nothing travels over the loopback, and nothing is warned about.
- ``KeyboardInterrupt caught in kernel``: jupyter_client's ``shutdown_kernel`` sends SIGINT
  before the shutdown request (``jupyter_client/manager.py:_async_shutdown_kernel``, there to
  break a busy kernel); when the kernel is still handling a message it logs that line. A
  report shuts its kernel down only once every cell has finished, and the control channel
  handles the shutdown request even if one has not (ipykernel >= 6), so the interrupt is
  skipped while shutting down.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def kernel_manager_class() -> type[Any]:
    """An ``AsyncKernelManager`` on IPC that does not interrupt a kernel it shuts down."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class QuietKernelManager(AsyncKernelManager):
        """The report's kernel manager (see the module's docstring)."""

        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return QuietKernelManager


def _drop_unknown_parameter_warnings(record: logging.LogRecord) -> bool:
    # papermill's own parser does not read `str | None` annotations and calls such parameters
    # unknown; ours (validate_parameters) has checked every one of them already
    return not str(record.msg).startswith("Passed unknown parameter")


@contextlib.contextmanager
def kernel_env() -> Iterator[None]:
    """Let the kernel import the same lumiaudit as this process (source tree or wheel)."""
    root = str(Path(__file__).resolve().parents[2])  # lumiaudit/report/kernel.py -> the tree
    old = os.environ.get("PYTHONPATH")
    parts = [root, *(old.split(os.pathsep) if old else [])]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    papermill_log = logging.getLogger("papermill")
    papermill_log.addFilter(_drop_unknown_parameter_warnings)
    try:
        yield
    finally:
        papermill_log.removeFilter(_drop_unknown_parameter_warnings)
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
