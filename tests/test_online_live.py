"""Live online sources against local HTTP servers (``http.server`` on 127.0.0.1, port 0).

The run-database server serves the documented page format (``{"count", "next", "results"}``),
plus a slow page, an error page, a 401 and malformed JSON; the ELOG server serves the real elogd
3.1.5 export bodies of ``tests/data/elog/exports`` byte for byte at the URLs elogd uses
(``/Beam+run/?mode=XML`` ...; see ``tests/data/elog/README.md``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lumiaudit.cli import cli
from lumiaudit.errors import (
    InputNotFoundError,
    InputReadError,
    LumiauditError,
    OnlineFormatError,
    ParameterError,
)
from lumiaudit.online import HttpOptions, read_online, read_snapshots
from lumiaudit.online.live import redact_url

DATA = Path(__file__).parent / "data"
TOKEN = "s3cr3t-token-value"
FAST = HttpOptions(connect_timeout=5, read_timeout=5, deadline=60, retries=2, backoff=0.01)


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    #: the first ``fail_first`` requests get 503 (exercises urllib3's Retry)
    fail_first: int = 0
    #: wait this long (on the server's release event) before answering
    delay: float = 0.0
    auth: str | None = None


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    hits: list[tuple[str, str | None]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth = self.headers.get("Authorization")
            server.hits.append((self.path, auth))
            route = server.routes.get(self.path)
            if route is None:
                return self._send(404, b"not found", "text/plain")
            if route.auth is not None and auth != route.auth:
                return self._send(401, b'{"detail": "not authenticated"}', "application/json")
            if route.fail_first > 0:
                route.fail_first -= 1
                return self._send(503, b"busy", "text/plain")
            if route.delay:
                server.release.wait(route.delay)
            self._send(route.status, route.body, route.content_type)

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, Route]], Server]]:
    started: list[tuple[ThreadingHTTPServer, Server]] = []

    def start(routes: dict[str, Route]) -> Server:
        srv = Server(base="", routes=routes)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(srv))
        httpd.daemon_threads = True
        srv.base = f"http://127.0.0.1:{httpd.server_address[1]}"
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append((httpd, srv))
        return srv

    yield start
    for httpd, srv in started:
        srv.release.set()
        httpd.shutdown()
        httpd.server_close()


def _pages(base: str, *, count: int = 4) -> dict[str, Route]:
    """The two saved RunDB pages, linked by ``next`` on this server."""
    one = json.loads((DATA / "online" / "rundb_page1.json").read_text(encoding="utf-8"))
    two = json.loads((DATA / "online" / "rundb_page2.json").read_text(encoding="utf-8"))
    one["count"] = count
    one["next"] = f"{base}/rest/v1/runs/?min_experiment=10&expand=statistics&page=2"
    two["next"] = None
    return {
        "/rest/v1/runs/?min_experiment=10&expand=statistics": Route(body=json.dumps(one).encode()),
        "/rest/v1/runs/?min_experiment=10&expand=statistics&page=2": Route(
            body=json.dumps(two).encode()
        ),
    }


def _url(srv: Server, query: str = "?min_experiment=10") -> str:
    return f"rundb+{srv.base}/rest/v1/runs/{query}"


# ------------------------------------------------------------------ run database


def test_rundb_pages_are_followed_and_equal_the_saved_pages(
    serve: Callable[[dict[str, Route]], Server],
) -> None:
    srv = serve({})
    srv.routes.update(_pages(srv.base))
    live = read_online(_url(srv), http=FAST)
    saved = read_online(
        [DATA / "online" / "rundb_page1.json", DATA / "online" / "rundb_page2.json"]
    )
    cols = ["experiment", "run", "run_type", "n_online", "lumi_nb", "start_time", "stop_time"]
    pd.testing.assert_frame_equal(live.table[cols], saved.table[cols])
    # expand=statistics was asked for (the URL had no expand), then next was followed
    assert [p for p, _ in srv.hits] == list(srv.routes)
    assert len(live.snapshots) == 2
    assert list(live.problems["reason"]) == list(saved.problems["reason"])  # 3048 has no count
    assert set(live.table["source"]) == {redact_url(u) for u in [s.url for s in live.snapshots]}
    assert live.table["source_line"].str.startswith("record ").all()
    assert live.formats == {s.url: "rundb" for s in live.snapshots}


def test_rundb_count_mismatch_is_a_problem(serve: Callable[[dict[str, Route]], Server]) -> None:
    srv = serve({})
    srv.routes.update(_pages(srv.base, count=5))
    res = read_online(_url(srv), http=FAST)
    assert len(res.table) == 4
    (reason,) = [r for r in res.problems["reason"] if "announced" in r]
    assert "count 5" in reason
    assert "4 runs" in reason


def test_bearer_token_from_env_sent_and_never_stored(
    serve: Callable[[dict[str, Route]], Server],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    srv = serve({})
    for route in _pages(srv.base).items():
        srv.routes[route[0]] = Route(body=route[1].body, auth=f"Bearer {TOKEN}")
    monkeypatch.setenv("LUMIAUDIT_HTTP_TOKEN", TOKEN)
    res = read_online(_url(srv), http=FAST)
    assert len(res.table) == 4
    assert all(auth == f"Bearer {TOKEN}" for _, auth in srv.hits)
    out = res.write_snapshots(tmp_path / "snap")
    assert out is not None
    for path in out.iterdir():
        assert TOKEN.encode() not in path.read_bytes()
    # without the token: 401, one line naming the URL, not the token
    monkeypatch.delenv("LUMIAUDIT_HTTP_TOKEN")
    with pytest.raises(InputReadError) as err:
        read_online(_url(srv), http=FAST)
    msg = str(err.value)
    assert "HTTP 401" in msg
    assert "/rest/v1/runs/" in msg
    assert "\n" not in msg
    assert "LUMIAUDIT_HTTP_TOKEN" in msg  # the hint says what to set
    # a wrong token: refused, and the token is in no message
    monkeypatch.setenv("LUMIAUDIT_HTTP_TOKEN", "wrong-" + TOKEN)
    with pytest.raises(InputReadError) as err:
        read_online(_url(srv), http=FAST)
    assert "HTTP 401" in str(err.value)
    assert TOKEN not in str(err.value)


def test_basic_auth_from_netrc_and_from_the_url(
    serve: Callable[[dict[str, Route]], Server],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    basic = "Basic " + base64.b64encode(b"shifter:pa55word").decode()
    srv = serve({})
    for path, route in _pages(srv.base).items():
        srv.routes[path] = Route(body=route.body, auth=basic)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login shifter password pa55word\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert len(read_online(_url(srv), http=FAST).table) == 4
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with_user = _url(srv).replace("http://", "http://shifter:pa55word@")
    res = read_online(with_user, http=FAST)
    assert len(res.table) == 4
    stored = " ".join([*res.table["source"], *(s.url for s in res.snapshots), *res.formats])
    assert "pa55word" not in stored
    assert "shifter" not in stored


def test_retry_with_backoff_recovers_from_503(serve: Callable[[dict[str, Route]], Server]) -> None:
    srv = serve({})
    srv.routes.update(_pages(srv.base))
    first = next(iter(srv.routes))
    srv.routes[first].fail_first = 2
    res = read_online(_url(srv), http=FAST)
    assert len(res.table) == 4
    assert [p for p, _ in srv.hits].count(first) == 3


@pytest.mark.parametrize(
    ("route", "error", "words"),
    [
        (Route(status=500, body=b"<h1>Server Error</h1>"), InputReadError, "HTTP 500"),
        (Route(fail_first=99), InputReadError, "HTTP 503 Service Unavailable (after 1 retries)"),
        (Route(body=b'{"results": [ {"run": 1'), OnlineFormatError, "not JSON"),
        (Route(body=b'{"runs": []}'), OnlineFormatError, '{"results"'),
        (Route(body=b"\xff\xfe garbage"), OnlineFormatError, "not JSON"),
        (Route(delay=30, body=b"{}"), InputReadError, "timed out"),
    ],
    ids=["500", "503-always", "truncated-json", "not-a-page", "binary", "slow"],
)
def test_rundb_errors_are_one_line_naming_the_url(
    serve: Callable[[dict[str, Route]], Server],
    route: Route,
    error: type[LumiauditError],
    words: str,
) -> None:
    srv = serve({"/rest/v1/runs/?min_experiment=10&expand=statistics": route})
    opts = HttpOptions(connect_timeout=2, read_timeout=0.5, deadline=60, retries=1, backoff=0.01)
    with pytest.raises(error) as err:
        read_online(_url(srv), http=opts)
    msg = str(err.value)
    assert words in msg
    assert "\n" not in msg
    assert f"{srv.base}/rest/v1/runs/" in msg


def test_rundb_404_and_refused_connection(serve: Callable[[dict[str, Route]], Server]) -> None:
    srv = serve({})
    with pytest.raises(InputNotFoundError, match="HTTP 404"):
        read_online(_url(srv), http=FAST)
    with pytest.raises(InputReadError, match="connection failed"):
        read_online("rundb+http://127.0.0.1:9/runs/", http=FAST)
    with pytest.raises(ParameterError, match="rundb"):
        read_online(f"{srv.base}/runs/", http=FAST)


def test_deadline_bounds_the_whole_read(serve: Callable[[dict[str, Route]], Server]) -> None:
    srv = serve({})
    srv.routes.update(_pages(srv.base))
    second = list(srv.routes)[1]
    srv.routes[second].delay = 30
    opts = HttpOptions(connect_timeout=2, read_timeout=20, deadline=1.0, retries=0)
    with pytest.raises(InputReadError, match=r"timed out|deadline"):
        read_online(_url(srv), http=opts)


@pytest.mark.parametrize("where", ["other-host", "loop"])
def test_next_must_stay_on_the_host_and_not_loop(
    serve: Callable[[dict[str, Route]], Server], where: str
) -> None:
    srv = serve({})
    pages = _pages(srv.base)
    first = next(iter(pages))
    page = json.loads(pages[first].body)
    page["next"] = "http://elsewhere.example/steal" if where == "other-host" else srv.base + first
    srv.routes[first] = Route(body=json.dumps(page).encode())
    with pytest.raises(OnlineFormatError, match=r"leaves|loop"):
        read_online(_url(srv), http=FAST)
    assert all("elsewhere" not in p for p, _ in srv.hits)


# ------------------------------------------------------------------ snapshots


def test_snapshot_directory_reruns_the_read_offline(
    serve: Callable[[dict[str, Route]], Server], tmp_path: Path
) -> None:
    srv = serve({})
    srv.routes.update(_pages(srv.base))
    live = read_online(_url(srv), http=FAST)
    snap = live.write_snapshots(tmp_path / "snap")
    assert snap is not None
    n_hits = len(srv.hits)
    again = read_online(snap)
    assert len(srv.hits) == n_hits  # offline: no request
    pd.testing.assert_frame_equal(again.table, live.table)
    assert [s.sha256 for s in again.snapshots] == [s.sha256 for s in live.snapshots]
    index = json.loads((snap / "snapshots.json").read_text(encoding="utf-8"))
    assert [i["url"] for i in index["snapshots"]] == [s.url for s in live.snapshots]
    # a body changed after the fetch is refused, naming the file
    body = snap / index["snapshots"][1]["file"]
    body.write_bytes(body.read_bytes().replace(b"3050", b"3051"))
    with pytest.raises(InputReadError, match="sha256") as err:
        read_snapshots(snap)
    assert body.name in str(err.value)


# ------------------------------------------------------------------ ELOG


def _elog_routes(*, auth: str | None = None) -> dict[str, Route]:
    exports = DATA / "elog" / "exports"
    kinds = {"XML": "export_XML.xml", "CSV1": "export_CSV1.csv", "CSV3": "export_CSV3.csv"}
    kinds["Raw"] = "export_Raw.txt"
    return {
        f"/Beam+run/?mode={mode}": Route(
            body=(exports / name).read_bytes(), content_type="text/plain", auth=auth
        )
        for mode, name in kinds.items()
    }


@pytest.mark.parametrize(
    ("query", "export"),
    [
        ("", "export_XML.xml"),
        ("?mode=CSV3", "export_CSV3.csv"),
        ("?mode=CSV1", "export_CSV1.csv"),
        ("?mode=Raw", "export_Raw.txt"),
    ],
)
def test_elog_over_http_equals_the_export_file(
    serve: Callable[[dict[str, Route]], Server], query: str, export: str
) -> None:
    srv = serve(_elog_routes())
    live = read_online(f"elog+{srv.base}/Beam+run/{query}", http=FAST)
    saved = read_online(DATA / "elog" / "exports" / export)
    cols = ["experiment", "run", "run_type", "n_online", "lumi_nb", "source_line"]
    pd.testing.assert_frame_equal(live.table[cols], saved.table[cols])
    assert len(live.table) == 53
    (snap,) = live.snapshots
    assert snap.body == (DATA / "elog" / "exports" / export).read_bytes()
    assert snap.url.endswith("/Beam+run/?mode=" + (query[6:] or "XML"))
    assert live.table.loc[live.table["run"] == 3030, "n_online"].item() == 10231


def test_elog_login_page_is_a_format_error(serve: Callable[[dict[str, Route]], Server]) -> None:
    login = b"<!DOCTYPE html>\n<html><body><form name=form1>Login</form></body></html>\n"
    srv = serve({"/Beam+run/?mode=XML": Route(body=login, content_type="text/html")})
    with pytest.raises(OnlineFormatError, match="login page") as err:
        read_online(f"elog+{srv.base}/Beam+run/", http=FAST)
    assert "/Beam+run/?mode=XML" in str(err.value)


def test_elog_basic_auth_401(
    serve: Callable[[dict[str, Route]], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    basic = "Basic " + base64.b64encode(b"shift:pw").decode()
    srv = serve(_elog_routes(auth=basic))
    monkeypatch.setenv("NETRC", "/nonexistent")
    with pytest.raises(InputReadError, match="HTTP 401"):
        read_online(f"elog+{srv.base}/Beam+run/", http=FAST)
    monkeypatch.setenv("LUMIAUDIT_HTTP_USER", "shift")
    monkeypatch.setenv("LUMIAUDIT_HTTP_PASSWORD", "pw")
    assert len(read_online(f"elog+{srv.base}/Beam+run/", http=FAST).table) == 53


# ------------------------------------------------------------------ CLI


def test_cli_online_url_snapshots_and_exit_2(
    serve: Callable[[dict[str, Route]], Server],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    srv = serve({})
    for path, route in _pages(srv.base).items():
        srv.routes[path] = Route(body=route.body, auth=f"Bearer {TOKEN}")
    monkeypatch.setenv("LUMIAUDIT_HTTP_TOKEN", TOKEN)
    runner = CliRunner()
    snap = tmp_path / "snap"
    res = runner.invoke(cli, ["online", _url(srv), "--snapshots", str(snap), "--timeout", "5"])
    assert res.exit_code == 0, res.output
    assert "\n10,3050,,2952," in res.stdout
    assert TOKEN not in res.output
    offline = runner.invoke(cli, ["online", str(snap)])
    assert offline.exit_code == 0, offline.output
    assert offline.stdout == res.stdout
    monkeypatch.delenv("LUMIAUDIT_HTTP_TOKEN")
    bad = runner.invoke(cli, ["online", _url(srv)])
    assert bad.exit_code == 2
    assert "HTTP 401" in bad.output
    assert "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1


# ------------------------------------------------------------------ audit


def test_audit_from_a_live_rundb_writes_snapshots_and_reruns_offline(
    serve: Callable[[dict[str, Route]], Server],
    example: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lumiaudit
    from lumiaudit.pipeline import Audit

    elog = read_online(example["elog"]).table
    results = [
        {
            "experiment": int(r.experiment),
            "run": int(r.run),
            "run_type": r.run_type,
            "statistics": {"nevents": None if pd.isna(r.n_online) else int(r.n_online)},
        }
        for r in elog.itertuples()
    ]
    half = len(results) // 2
    srv = serve({})
    path = "/rest/v1/runs/?min_experiment=12&expand=statistics"
    srv.routes[path] = Route(
        body=json.dumps(
            {"count": len(results), "next": path + "&page=2", "results": results[:half]}
        ).encode()
    )
    srv.routes[path + "&page=2"] = Route(
        body=json.dumps({"count": len(results), "next": None, "results": results[half:]}).encode()
    )
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    url = f"rundb+{srv.base}".replace("http://", "http://auditor:hunter2@") + path.split("&", 1)[0]
    live = lumiaudit.audit(online=url, offline=example["prod"])
    assert len(live.snapshots) == 2
    out = live.write(tmp_path / "audit", plots=False)
    index = json.loads((out / "online_snapshots" / "snapshots.json").read_text(encoding="utf-8"))
    assert len(index["snapshots"]) == 2
    summary_text = (out / "summary.json").read_text(encoding="utf-8")
    assert "hunter2" not in summary_text
    assert "auditor" not in summary_text
    summary = json.loads(summary_text)
    kinds = [i.get("kind") for i in summary["inputs"]["online"]]
    assert kinds.count("snapshot") == 2
    for name in ("online.csv", "online_entries.csv", "problems.csv"):
        assert "hunter2" not in (out / name).read_text(encoding="utf-8")
    n_hits = len(srv.hits)
    rerun = lumiaudit.audit(online=out / "online_snapshots", offline=example["prod"])
    assert len(srv.hits) == n_hits
    pd.testing.assert_frame_equal(rerun.runs, live.runs)
    assert isinstance(Audit.load(out), Audit)


@pytest.mark.parametrize(
    ("route", "words"),
    [
        (None, "HTTP 404"),
        (Route(status=500, body=b"oops"), "HTTP 500"),
        (Route(body=b"{not json"), "not JSON"),
        (Route(delay=30, body=b"{}"), "read timed out"),
        (Route(body=b"{}", auth="Bearer right"), "HTTP 401"),
    ],
    ids=["404", "500", "malformed", "slow", "401"],
)
@pytest.mark.parametrize("command", ["online", "audit"])
def test_cli_http_errors_exit_2_in_one_line(
    serve: Callable[[dict[str, Route]], Server],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    route: Route | None,
    words: str,
    command: str,
) -> None:
    srv = serve({})
    if route is not None:
        srv.routes["/rest/v1/runs/?min_experiment=10&expand=statistics"] = route
    monkeypatch.setenv("LUMIAUDIT_HTTP_TOKEN", TOKEN)
    if command == "online":
        args = ["online", _url(srv), "--timeout", "0.5"]
    else:
        (tmp_path / "prod").mkdir()  # --out must not lie inside an input (docs/report.md)
        args = [
            "audit",
            "--online",
            _url(srv),
            "--offline",
            str(tmp_path / "prod"),
            "--out",
            str(tmp_path / "a"),
        ]
        if route is not None and route.delay:
            args += ["--timeout", "0.5", "--retries", "0"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert words in res.output
    assert "Traceback" not in res.output
    assert TOKEN not in res.output
    assert len([line for line in res.output.splitlines() if line.strip()]) == 1, res.output
    assert not (tmp_path / "a").exists()
