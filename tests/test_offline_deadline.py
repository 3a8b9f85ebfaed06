"""with_deadline: the value, the exception, or a TimeoutError while the work is abandoned."""

from __future__ import annotations

import threading

import pytest

from lumiaudit.offline.deadline import with_deadline


def _boom() -> int:
    raise ConnectionResetError("peer went away")


def test_value_and_exception_come_back() -> None:
    assert with_deadline(lambda: 42, 5, "answer") == 42
    with pytest.raises(ConnectionResetError, match="peer went away"):
        with_deadline(_boom, 5, "boom")


@pytest.mark.parametrize("seconds", [0.05, 0.2])
def test_work_still_running_at_the_deadline_is_abandoned(seconds: float) -> None:
    release = threading.Event()
    started = threading.Event()

    def blocked() -> str:
        started.set()
        release.wait()  # like a read inside a stalled client
        return "late"

    try:
        with pytest.raises(TimeoutError, match=f"timed out after {seconds:g} s"):
            with_deadline(blocked, seconds, "stalled")
        assert started.is_set()
        assert any(t.name == "lumiaudit-read stalled" for t in threading.enumerate())
    finally:
        release.set()
