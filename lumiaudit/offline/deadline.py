"""Run a blocking read with a hard deadline (remote reads must never be unbounded).

Python cannot interrupt a thread blocked inside a C++ client (XRootD) or a socket read; the
only hard bound is to run the read where it can be abandoned. :func:`with_deadline` runs it in
a daemon thread and stops waiting at the deadline; the abandoned thread ends on its own when
the client's per-request timeout (given the same number of seconds) fires.

>>> with_deadline(lambda: 42, 1.0, "answer")
42
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = ["with_deadline"]

T = TypeVar("T")


def with_deadline(func: Callable[[], T], seconds: float, what: str) -> T:
    """``func()`` in a daemon thread; ``TimeoutError`` if it has not returned in time.

    A read blocked inside the XRootD or HTTP client cannot be interrupted from Python; the
    thread is abandoned (it ends when the client's own per-request timeout, which is also
    ``seconds``, fires) and the caller goes on. That makes the bound hard whatever the
    client does (reconnects, retries inside XRootD, a server that trickles bytes).

    Parameters
    ----------
    func
        What to run; its exception, if any, is raised here.
    seconds
        The deadline.
    what
        Named in the thread's name (for debugging a hung process).

    Returns
    -------
    object
        What ``func`` returned.

    Raises
    ------
    TimeoutError
        ``timed out after N s`` when ``func`` is still running after ``seconds``.
    """
    box: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append((True, func()))
        except BaseException as exc:  # handed to the caller's thread
            box.append((False, exc))
        finally:
            done.set()

    worker = threading.Thread(target=run, name=f"lumiaudit-read {what}", daemon=True)
    worker.start()
    if not done.wait(seconds):
        msg = f"timed out after {seconds:g} s"
        raise TimeoutError(msg)
    ok, value = box[0]
    if ok:
        return cast(T, value)
    raise value
