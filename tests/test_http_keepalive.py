"""Kept-alive HTTP connections across files (lumiaudit.offline.http_source): reused, replaced
when the server closed them while idle, never pooled after an error or a Connection: close,
and not inherited by a forked child. Real servers on 127.0.0.1, real sockets."""

from __future__ import annotations

import multiprocessing
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lumiaudit.offline import http_source
from lumiaudit.offline.count import count_file
from lumiaudit.offline.http_source import HttpRanges, close_idle
from tests.support.http_servers import RangeHandler, base_url, serve


class _Handler(RangeHandler):
    """Static files with ``Range``, HTTP/1.1 keep-alive; records each connection it serves."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        server: Any = self.server
        with server.lock:
            server.connections.append(self.connection)


class _Http10Handler(_Handler):
    protocol_version = "HTTP/1.0"


@contextmanager
def _serve(directory: Path, handler: type[_Handler]) -> Iterator[tuple[str, Any]]:
    with serve(handler, directory, lock=threading.Lock(), connections=[]) as server:
        try:
            yield base_url(server), server
        finally:
            close_idle()  # the client's kept connections, before the server stops


@pytest.fixture
def files(b2_file: Any) -> list[Path]:
    return [
        b2_file(f"mdst.physics.0012.00101.HLT1.f{i:05d}.root", n_events=5 + i) for i in range(6)
    ]


@pytest.fixture
def keepalive(files: list[Path]) -> Iterator[tuple[str, Any]]:
    close_idle()
    with _serve(files[0].parent, _Handler) as served:
        yield served


def _urls(base: str, files: list[Path]) -> list[str]:
    return [f"{base}/{f.name}" for f in files]


def test_files_of_one_server_share_a_kept_alive_connection(
    files: list[Path], keepalive: tuple[str, Any]
) -> None:
    base, server = keepalive
    records = [count_file(u, mode="auto", timeout=10) for u in _urls(base, files)]
    assert [r.n_entries for r in records] == [5 + i for i in range(6)]
    assert [r.status for r in records] == ["ok"] * 6
    assert len(server.connections) == 1  # six files, one connection
    local = [count_file(str(f), mode="auto") for f in files]
    assert [(r.n_entries, r.n_full, r.contributions) for r in records] == [
        (r.n_entries, r.n_full, r.contributions) for r in local
    ]


def test_a_connection_the_server_closed_while_idle_is_replaced(
    files: list[Path], keepalive: tuple[str, Any]
) -> None:
    base, server = keepalive
    urls = _urls(base, files)
    first = count_file(urls[0], mode="fast", timeout=10)
    assert first.status == "ok"
    assert len(server.connections) == 1
    with server.lock:  # the server drops every idle connection (keep-alive timeout)
        for conn in server.connections:
            conn.shutdown(socket.SHUT_RDWR)
    again = count_file(urls[1], mode="fast", timeout=10)
    assert again.status == "ok", again.error
    assert again.n_entries == 6
    assert len(server.connections) == 2  # one new connection, the request sent once more


def test_a_broken_new_connection_is_the_files_error_not_resent(files: list[Path]) -> None:
    """Only a *reused* connection is resent to: a server that resets new ones is an error."""
    close_idle()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def reset_every_connection() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.recv(4096)
            conn.close()  # no answer at all

    threading.Thread(target=reset_every_connection, daemon=True).start()
    try:
        with pytest.raises(http_source._STALE):
            HttpRanges(f"http://127.0.0.1:{port}/{files[0].name}", timeout=5)
        assert len(accepted) == 1
    finally:
        listener.close()


def test_http10_answers_are_never_pooled(files: list[Path]) -> None:
    close_idle()
    with _serve(files[0].parent, _Http10Handler) as (base, server):
        records = [count_file(u, mode="fast", timeout=10) for u in _urls(base, files[:3])]
        assert [r.status for r in records] == ["ok"] * 3
        assert len(server.connections) >= 3  # a connection per request: none kept
        assert not any(http_source._idle.values())


def test_an_error_answer_never_goes_back_to_the_pool(
    files: list[Path], keepalive: tuple[str, Any]
) -> None:
    base, _ = keepalive
    with pytest.raises(FileNotFoundError):
        HttpRanges(f"{base}/nothing.root", timeout=10)
    assert not any(http_source._idle.values())


def _child_pool_size(queue: Any) -> None:
    queue.put(sum(len(p) for p in http_source._idle.values()))


def test_a_forked_child_starts_with_an_empty_pool(
    files: list[Path], keepalive: tuple[str, Any]
) -> None:
    base, _ = keepalive
    assert count_file(_urls(base, files)[0], mode="fast", timeout=10).status == "ok"
    assert sum(len(p) for p in http_source._idle.values()) == 1
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_pool_size, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=30) == 0
    finally:
        child.join(timeout=30)
    assert sum(len(p) for p in http_source._idle.values()) == 1  # the parent's is kept
