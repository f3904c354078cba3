"""A ClickHouse HTTP interface on 127.0.0.1 whose SQL is executed by chdb, for the server-path tests.

No ClickHouse server can run here, so the tests talk to this bridge through the real
clickhouse-connect client: the transport is this file, every statement is executed by
the real ClickHouse engine (chdb) against the bridge's own data directory, in a
subprocess of its own (chdb holds one engine per process; the test process keeps its own
for the `chdb://` side of the parity checks).

What it does, as clickhouse-server's HTTP handler does:
- the query is the `query` URL parameter, then a newline, then the POST body; `GET /`
  without a query and `GET /ping` answer "Ok."; a GET request runs with `readonly = 2`
  when it asks for no readonly level of its own (or for 0);
- URL parameters that are not transport parameters (`database`, `query_id`,
  `session_id`, `default_format`, `param_*`, ...) are settings of that request only: each
  request runs on a fresh chdb connection opened with them as session settings (so a
  per-request `readonly = 1` is the engine's own readonly wall, and a query cannot
  lift it); names outside `system.settings` are refused (UNKNOWN_SETTING);
- one statement per request, checked by the engine's own parser (`formatQuery`):
  "Multi-statements are not allowed" as a server says it;
- `INSERT ... FORMAT X` followed by data (Arrow, Native, RowBinary, ...): the data after
  the format name is written to a temporary file and inserted with
  `INSERT ... FROM INFILE ... FORMAT X`, i.e. the engine's own input format reads it
  against the table's columns;
- request bodies with Content-Encoding gzip / deflate / lz4 / zstd are decompressed;
  responses are compressed when `enable_http_compression` is on and Accept-Encoding asks;
- credentials from Basic auth, X-ClickHouse-User / X-ClickHouse-Key or `user` / `password`
  parameters, checked against the users given on the command line (`default` with an
  empty password when none): a mismatch is AUTHENTICATION_FAILED (516);
- errors: the engine's `Code: N. DB::Exception: ... (NAME) (version V)` text, the
  X-ClickHouse-Exception-Code header and the HTTP status clickhouse-server maps the code
  to (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp: 403 for authentication, 404 for
  unknown tables/databases/settings, 400 for syntax and parse errors, else 500);
- headers: X-ClickHouse-Query-Id, X-ClickHouse-Format, X-ClickHouse-Timezone,
  X-ClickHouse-Summary (read/written rows and bytes, elapsed), X-ClickHouse-Server-Display-Name;
- a session id is locked while one of its requests runs (SESSION_IS_LOCKED, 373).

What it does not emulate: session state (a SET or temporary table does not outlive its
request), users' grants, profiles, quotas and row policies (a user is a password check),
`client_protocol_version` (Native blocks carry no block info, so clients fall back to
protocol 0), ClickHouse's native compression (`compress=1` / `decompress=1`), external
data and multipart forms, progress headers, streaming (a result is sent whole, with a
Content-Length), TLS, clusters and Distributed tables. For the tests' observation only,
each request's method, parameters (without a password), user and query text are appended
to a JSON-lines log.

Run: `python _http_server.py --data DIR [--user NAME:PASSWORD ...] [--log FILE]`; it
prints `READY <port>` and stops when its stdin closes (the test process went away).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

# URL parameters clickhouse-server's HTTP handler consumes itself (not settings)
TRANSPORT = {
    "query", "database", "default_format", "query_id", "session_id", "session_timeout",
    "session_check", "close_session", "compress", "decompress", "buffer_size",
    "wait_end_of_query", "client_protocol_version", "quota_key", "user", "password",
    "role", "stacktrace",
}  # fmt: skip
_STATUS = {
    401: {"REQUIRED_PASSWORD"},
    403: {"UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE",
          "ACCESS_DENIED"},
    400: {"BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
          "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN",
          "TOO_DEEP_AST", "TOO_BIG_AST", "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR",
          "INCORRECT_DATA", "TYPE_MISMATCH", "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"},
    404: {"UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
          "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING",
          "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT",
          "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"},
    413: {"QUERY_IS_TOO_LARGE"},
    501: {"NOT_IMPLEMENTED"},
    503: {"SOCKET_TIMEOUT", "CANNOT_OPEN_FILE", "CANNOT_SCHEDULE_TASK"},
    408: {"TIMEOUT_EXCEEDED"},
}  # fmt: skip
# an INSERT whose data follows its format name (as clickhouse-connect sends Arrow / Native)
_INSERT_DATA = re.compile(
    rb"(?is)\A(\s*INSERT\s+INTO\s(?:(?!\bVALUES\b|\bSELECT\b|\bWITH\b).)*?)\sFORMAT\s+(\w+)"
)
_RESULT_KINDS = {"select", "with", "show", "describe", "desc", "explain", "exists", "check"}


class QueryError(Exception):
    """An error as clickhouse-server reports it: code, name and message."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.name, self.message = code, name, message

    @classmethod
    def from_engine(cls, exc: Exception) -> QueryError:
        text = str(exc).strip()
        code = re.search(r"Code: (\d+)", text)
        names = re.findall(r"\(([A-Z][A-Z0-9_]+)\)", text)
        # the parser check runs inside formatQuery(...): drop the wrapper's scope
        text = re.sub(r"\s*: In scope SELECT formatQuery\(.*\)\.", "", text, flags=re.S)
        return cls(int(code.group(1)) if code else 1001, names[-1] if names else "", text)

    def status(self) -> int:
        return next((s for s, names in _STATUS.items() if self.name in names), 500)


class Engine:
    """The chdb engine on the bridge's data directory (one per process)."""

    def __init__(self, path: str) -> None:
        from chdb.state import sqlitelike

        self._connect = sqlitelike.Connection
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.base = self._connect(path)  # keeps the engine up between requests
        version, tz, compression = self._text(
            self.base, "SELECT version(), timezone(), getSetting('enable_http_compression')"
        ).split("\t")
        self.version, self.timezone = version, tz
        self.http_compression = compression in ("1", "true")
        self.settings = set(self._text(self.base, "SELECT name FROM system.settings").split())
        self.tmp = tempfile.mkdtemp(prefix="ch-bridge-")

    @staticmethod
    def _text(conn: Any, sql: str) -> str:
        return bytes(conn.query(sql, "TabSeparatedRaw").bytes()).decode().rstrip("\n")

    def run(
        self, text: bytes, settings: dict[str, str], database: str, fmt: str,
        query_params: dict[str, str],
    ) -> tuple[bytes, str | None, Any]:  # fmt: skip
        """(result bytes, output format or None, chdb result) of one request's statement."""
        for name in settings:
            if name not in self.settings and not name.startswith("custom_"):
                raise QueryError(115, "UNKNOWN_SETTING", f"Code: 115. DB::Exception: Unknown "
                                 f"setting '{name}'. (UNKNOWN_SETTING)")  # fmt: skip
        conn_str = self.path + ("?" + urlencode(settings) if settings else "")
        try:
            conn = self._connect(conn_str)
        except Exception as exc:
            raise QueryError.from_engine(exc) from None
        try:
            if database:
                conn.query(f"USE `{database.replace('`', '``')}`", "TabSeparated")
            insert = _INSERT_DATA.match(text)
            if insert:
                return b"", None, self._insert(conn, text, insert)
            sql = text.decode("utf-8", errors="replace")
            escaped = sql.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            # the engine's own parser: one statement, as a server accepts it
            conn.query("SELECT formatQuery({q:String})", "TabSeparated", params={"q": escaped})
            kind = re.match(r"\s*\(*\s*(\w+)", _blank(sql))
            produces = bool(kind and kind.group(1).lower() in _RESULT_KINDS)
            out = re.findall(r"\bFORMAT\s+(\w+)", _blank(sql), re.I)
            result = conn.query(sql, fmt, params=query_params)
            return (
                bytes(result.bytes() or b""),
                (out[-1] if out else fmt) if produces else None,
                result,
            )
        except QueryError:
            raise
        except Exception as exc:
            raise QueryError.from_engine(exc) from None
        finally:
            conn.close()

    def _insert(self, conn: Any, text: bytes, insert: re.Match[bytes]) -> Any:
        data = text[insert.end() :]
        # clickhouse-server: the data starts after the first newline, or after blanks
        data = data.lstrip(b" \t\f")
        data = data[1:] if data[:1] == b"\r" else data
        data = data[1:] if data[:1] == b"\n" else data
        fd, path = tempfile.mkstemp(dir=self.tmp, suffix=".data")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            head = insert.group(1).decode()
            fmt = insert.group(2).decode()
            return conn.query(f"{head} FROM INFILE '{path}' FORMAT {fmt}", "TabSeparated")
        finally:
            os.unlink(path)


def _blank(sql: str) -> str:
    """`sql` with its string literals, quoted names and comments blanked."""
    return re.sub(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|--[^\n]*|/\*.*?\*/",
                  " ", sql, flags=re.S)  # fmt: skip


def _decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "lz4":
        import lz4.frame

        return bytes(lz4.frame.decompress(body))
    if encoding == "zstd":
        from backports import zstd

        return bytes(zstd.decompress(body))
    raise QueryError(
        89, "UNKNOWN_COMPRESSION_METHOD",
        f"Code: 89. DB::Exception: Unknown HTTP Content-Encoding {encoding!r}. "
        "(UNKNOWN_COMPRESSION_METHOD)",
    )  # fmt: skip


def _encode(body: bytes, accept: str) -> tuple[bytes, str | None]:
    for encoding in (e.split(";")[0].strip().lower() for e in accept.split(",")):
        if encoding == "lz4":
            import lz4.frame

            return bytes(lz4.frame.compress(body)), "lz4"
        if encoding == "zstd":
            from backports import zstd

            return bytes(zstd.compress(body)), "zstd"
        if encoding == "gzip":
            return gzip.compress(body), "gzip"
        if encoding == "deflate":
            return zlib.compress(body), "deflate"
    return body, None


def _content_type(fmt: str | None) -> str:
    f = (fmt or "").lower()
    if f.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if f.startswith("json"):
        return "application/json; charset=UTF-8"
    return "text/plain; charset=UTF-8" if not f or f == "csv" else "application/octet-stream"


class Bridge(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, engine: Engine, users: Mapping[str, str], log: str | None):
        super().__init__((host, 0), Handler)
        self.engine, self.users, self.log_path = engine, dict(users), log
        self.lock = threading.Lock()
        self.busy_sessions: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body leave in one write: two small writes meet the client's delayed ACK
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: Bridge

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the JSON-lines log (--log) is the record

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _credentials(self, params: dict[str, str]) -> tuple[str, str]:
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return user, password
        if "X-ClickHouse-User" in self.headers:
            return self.headers["X-ClickHouse-User"], self.headers.get("X-ClickHouse-Key", "")
        return params.get("user", "default"), params.get("password", "")

    def _handle(self, method: str) -> None:
        engine = self.server.engine
        query_id = str(uuid.uuid4())
        base_headers = {"X-ClickHouse-Server-Display-Name": "ch-bridge",
                        "X-ClickHouse-Timezone": engine.timezone}  # fmt: skip
        try:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            body = _decode(self._body(), self.headers.get("Content-Encoding", ""))
            query_id = params.get("query_id") or query_id
            base_headers["X-ClickHouse-Query-Id"] = query_id
            if url.path == "/ping" or (url.path == "/" and not params.get("query") and not body):
                self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
                return
            if url.path != "/":
                self._send(404, f"There is no handle {url.path}\n".encode(), {})
                return
            user, password = self._credentials(params)
            if self.server.users.get(user) != password:
                raise QueryError(516, "AUTHENTICATION_FAILED", f"Code: 516. DB::Exception: "
                                 f"{user}: Authentication failed: password is incorrect, or "
                                 "there is no user with such name. (AUTHENTICATION_FAILED)")  # fmt: skip
            if params.get("compress") == "1" or params.get("decompress") == "1":
                raise QueryError(48, "NOT_IMPLEMENTED", "Code: 48. DB::Exception: the test "
                                 "bridge does not speak ClickHouse's native compression. "
                                 "(NOT_IMPLEMENTED)")  # fmt: skip
            query = params.get("query", "")
            text = (query.encode() + b"\n" + body) if query and body else (query.encode() or body)
            settings = {k: v for k, v in params.items()
                        if k not in TRANSPORT and not k.startswith("param_")}  # fmt: skip
            if method == "GET" and settings.get("readonly", "0") == "0":
                settings["readonly"] = "2"
            self._record(method, params, user, text)
            session = params.get("session_id")
            with self.server.lock:
                if session and session in self.server.busy_sessions:
                    raise QueryError(373, "SESSION_IS_LOCKED", f"Code: 373. DB::Exception: "
                                     f"Session {session} is locked by a concurrent client. "
                                     "(SESSION_IS_LOCKED)")  # fmt: skip
                if session:
                    self.server.busy_sessions.add(session)
            started = time.perf_counter_ns()
            try:
                out, fmt, result = engine.run(
                    text, settings, params.get("database", ""),
                    params.get("default_format", "TabSeparated"),
                    {k[6:]: v for k, v in params.items() if k.startswith("param_")},
                )  # fmt: skip
            finally:
                if session:
                    with self.server.lock:
                        self.server.busy_sessions.discard(session)
            headers = {**base_headers, "Content-Type": _content_type(fmt)}
            if fmt:
                headers["X-ClickHouse-Format"] = fmt
            headers["X-ClickHouse-Summary"] = json.dumps({
                "read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                "written_rows": str(result.rows_written()),
                "written_bytes": str(result.bytes_written()),
                "elapsed_ns": str(time.perf_counter_ns() - started),
            })  # fmt: skip
            compress = settings.get("enable_http_compression", str(int(engine.http_compression)))
            if compress in ("1", "true") and out:
                out, encoding = _encode(out, self.headers.get("Accept-Encoding", ""))
                if encoding:
                    headers["Content-Encoding"] = encoding
            self._send(200, out, headers)
        except QueryError as exc:
            message = exc.message
            if "(version " not in message:
                message = f"{message} (version {engine.version})"
            headers = {**base_headers, "X-ClickHouse-Exception-Code": str(exc.code),
                       "Content-Type": "text/plain; charset=UTF-8"}  # fmt: skip
            self._send(exc.status(), (message + "\n").encode(), headers)

    def _record(self, method: str, params: dict[str, str], user: str, text: bytes) -> None:
        if not self.server.log_path:
            return
        insert = _INSERT_DATA.match(text)
        shown = text[: insert.end()] if insert else text[:4000]
        entry = {"method": method, "user": user, "query": shown.decode(errors="replace"),
                 "params": {k: v for k, v in params.items() if k not in ("password", "query")}}  # fmt: skip
        with self.server.lock, open(self.server.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


@dataclass
class Running:
    """The test process's handle on a bridge subprocess."""

    port: int
    log: Path
    process: subprocess.Popen[str]

    def url(self, database: str = "default", user: str | None = None, password: str = "") -> str:
        """A `clickhouse://` store URL for `database` (credentials in it when `user` is given)."""
        cred = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        return f"clickhouse://{cred}127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, user: str = "default", password: str = "") -> str:
        """Run one statement over plain HTTP (no client library); returns the body text."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/", data=statement.encode(), method="POST",
            headers={"X-ClickHouse-User": user, "X-ClickHouse-Key": password},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(response.read().decode())

    def requests(self) -> list[dict[str, Any]]:
        """Every request logged so far (method, user, params without the password, query)."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def stop(self) -> None:
        """Close its stdin (it exits) and reap it; kill it if it lingers."""
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def start(
    workdir: Path, users: Mapping[str, str] | None = None, timezone: str | None = None
) -> Running:
    """Start a bridge on a free port with its data in `workdir`; returns once it listens.

    `timezone`: the server's timezone (its process's TZ), as a server configured elsewhere.
    """
    env = {**os.environ, "TZ": timezone} if timezone else None
    log = workdir / "requests.jsonl"
    args = [sys.executable, __file__, "--data", str(workdir / "data"), "--log", str(log)]
    for name, password in (users or {}).items():
        args += ["--user", f"{name}:{password}"]
    with open(workdir / "stderr.txt", "w") as err:
        process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        with contextlib.suppress(Exception):
            process.kill()
        process.wait()
        raise RuntimeError(f"the bridge did not start: {(workdir / 'stderr.txt').read_text()}")
    return Running(int(line.split()[1]), log, process)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="chdb data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", action="append", default=[], help="NAME:PASSWORD")
    parser.add_argument("--log", help="append each request to this JSON-lines file")
    args = parser.parse_args(argv)
    users = dict(u.partition(":")[::2] for u in args.user) or {"default": ""}
    bridge = Bridge(args.host, Engine(args.data), users, args.log)
    threading.Thread(target=bridge.serve_forever, daemon=True).start()
    print(f"READY {bridge.server_address[1]}", flush=True)
    sys.stdin.read()  # returns when the test process closes the pipe (or dies)
    bridge.shutdown()


if __name__ == "__main__":
    main()
