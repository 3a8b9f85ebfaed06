"""Real static HTTP servers on 127.0.0.1 for the remote-reading tests (one thread each)."""

from __future__ import annotations

import functools
import http.server
import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that honours ``Range`` (as uproot's HTTP source needs)."""

    def log_message(self, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return None
        data = path.read_bytes()
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            stop = int(match.group(2)) if match.group(2) else len(data) - 1
            data_part = data[start : stop + 1]
            self.send_response(206)
            end = start + len(data_part) - 1
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            data_part = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(data_part)))
        self.end_headers()
        return io.BytesIO(data_part)


class PlainHandler(http.server.SimpleHTTPRequestHandler):
    """A static server that ignores ``Range`` (answers 200 with the whole file)."""

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve(
    handler: type[http.server.BaseHTTPRequestHandler], directory: str | Path, **attributes: Any
) -> Iterator[Any]:
    """A ``ThreadingHTTPServer`` serving ``directory`` with ``handler`` until the block ends.

    ``attributes`` are set on the server before it starts (state a handler shares).
    """
    server: Any = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    for name, value in attributes.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def base_url(server: Any) -> str:
    """``http://127.0.0.1:PORT`` of a :func:`serve` server."""
    return f"http://127.0.0.1:{server.server_address[1]}"
