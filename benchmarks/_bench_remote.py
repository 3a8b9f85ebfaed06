"""Remote storage with latency for bench_offline.py: a delaying HTTP server (own process,
Range and multi-range) and ``delayed://``, an fsspec file system that sleeps per request."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"(\d*)-(\d*)")


class DelayingHandler(BaseHTTPRequestHandler):
    """Serves files under ``root`` with Range / multi-range support, after a delay."""

    root: Path = Path()
    delay: float = 0.0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _file(self) -> Path | None:
        path = (self.root / self.path.split("?")[0].lstrip("/")).resolve()
        if self.root not in path.parents or not path.is_file():
            self.send_error(404)
            return None
        return path

    def do_HEAD(self) -> None:
        time.sleep(self.delay)
        path = self._file()
        if path is None:
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:
        time.sleep(self.delay)
        path = self._file()
        if path is None:
            return
        data = path.read_bytes()
        size = len(data)
        spec = self.headers.get("Range", "")
        if not spec.startswith("bytes="):
            self._send(200, data, "application/octet-stream")
            return
        ranges = []
        for part in spec[len("bytes=") :].split(","):
            m = _RANGE.fullmatch(part.strip())
            if m is None:
                self.send_error(416)
                return
            a, b = m.groups()
            if a == "":
                first, last = max(0, size - int(b)), size - 1
            else:
                first, last = int(a), min(size - 1, int(b) if b else size - 1)
            ranges.append((first, last))
        if len(ranges) == 1:
            first, last = ranges[0]
            self._send(
                206,
                data[first : last + 1],
                "application/octet-stream",
                {"Content-Range": f"bytes {first}-{last}/{size}"},
            )
            return
        boundary = "lumiaudit-bench-boundary"
        body = b""
        for first, last in ranges:
            body += (
                (
                    f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
                ).encode()
                + data[first : last + 1]
                + b"\r\n"
            )
        body += f"--{boundary}--\r\n".encode()
        self._send(206, body, f"multipart/byteranges; boundary={boundary}")

    def _send(
        self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def _serve(root: str, delay: float, port_queue: Any) -> None:
    handler = type("H", (DelayingHandler,), {"root": Path(root).resolve(), "delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    port_queue.put(server.server_address[1])
    server.serve_forever()


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, root: Path, delay: float
) -> None:
    """One keep-alive connection: GET/HEAD with one byte range, each after ``delay``."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)
            }
            await asyncio.sleep(delay)
            path = (root / target.split("?")[0].lstrip("/")).resolve()
            if root not in path.parents or not path.is_file():
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                continue
            size = path.stat().st_size
            first, last, status, extra = 0, size - 1, "200 OK", ""
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", headers.get("range", ""))
            if m is not None:  # one range (a multi-range request gets the whole file)
                a, b = m.groups()
                if a == "":
                    first = max(0, size - int(b))
                else:
                    first, last = int(a), min(size - 1, int(b) if b else size - 1)
                status = "206 Partial Content"
                extra = f"Content-Range: bytes {first}-{last}/{size}\r\n"
            body = b""
            if method == "GET":
                with path.open("rb") as fh:
                    body = os.pread(fh.fileno(), last - first + 1, first)
            writer.write(
                (
                    f"HTTP/1.1 {status}\r\nContent-Length: {last - first + 1}\r\n"
                    f"Accept-Ranges: bytes\r\n{extra}\r\n"
                ).encode()
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


def _serve_asyncio(root: str, delay: float, port_queue: Any) -> None:
    async def main() -> None:
        top = Path(root).resolve()
        server = await asyncio.start_server(
            lambda r, w: _answer(r, w, top, delay), "127.0.0.1", 0, backlog=512
        )
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


@contextmanager
def delaying_server(root: Path, delay: float, *, kind: str = "asyncio") -> Iterator[str]:
    """A delaying HTTP server in its own process: ``asyncio`` (one event loop, keep-alive,
    one range per request) or ``threading`` (``ThreadingHTTPServer``, a thread per
    connection, multi-range; under load its per-request cost bounds the in-flight rate)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    target = _serve_asyncio if kind == "asyncio" else _serve
    proc = ctx.Process(target=target, args=(str(root), delay, queue), daemon=True)
    proc.start()
    try:
        port = queue.get(timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.join(10)


# -- an fsspec file system adding latency to every request ------------------------------


def delayed_fs(delay: float) -> type:
    """Register ``delayed://`` = local files with ``delay`` seconds per storage request."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    class DelayedFileSystem(LocalFileSystem):  # type: ignore[misc]
        protocol = ("delayed",)
        requests = 0

        @classmethod
        def _strip_protocol(cls, path: Any) -> Any:
            text = str(path)
            return super()._strip_protocol(text.removeprefix("delayed://"))

        def _wait(self) -> None:
            type(self).requests += 1
            time.sleep(delay)

        def info(self, path: Any, **kwargs: Any) -> Any:
            self._wait()
            return super().info(path, **kwargs)

        def cat_file(self, path: Any, start: Any = None, end: Any = None, **kw: Any) -> Any:
            self._wait()
            return super().cat_file(path, start=start, end=end, **kw)

        def cat_ranges(self, paths: Any, starts: Any, ends: Any, **kw: Any) -> Any:  # noqa: ARG002
            self._wait()  # one vector read, like XRootD's readv or an HTTP multi-range GET
            return [
                super(DelayedFileSystem, self).cat_file(p, start=s, end=e)
                for p, s, e in zip(paths, starts, ends, strict=True)
            ]

    fsspec.register_implementation("delayed", DelayedFileSystem, clobber=True)
    return DelayedFileSystem
