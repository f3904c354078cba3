"""The tests' ClickHouse HTTP interface (_http_server.py) answers as clickhouse-server does:
errors with their code, header and HTTP status, one statement per request, settings as
request parameters, GET as readonly, compression; so the server-path tests mean something."""

from __future__ import annotations

import json
from typing import Any

import pytest


def _raw(
    server: Any, body: bytes = b"", params: dict[str, str] | None = None, **headers: str
) -> tuple[int, Any, bytes]:
    import urllib.error
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode(params or {})
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/?{query}", data=body or None,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.parametrize(
    ("body", "params", "status", "code", "text"),
    [
        (b"SELECT * FROM no_such_table", {}, 404, "60", "UNKNOWN_TABLE"),
        (b"SELEC 1", {}, 400, "62", "Syntax error"),
        (b"SELECT 1; SELECT 2", {}, 400, "62", "Multi-statements are not allowed"),
        (b"SELECT 1", {"no_such_setting": "1"}, 404, "115", "UNKNOWN_SETTING"),
        (b"SELECT 1", {"database": "no_such_db"}, 404, "81", "UNKNOWN_DATABASE"),
        (b"CREATE TABLE x (a Int8) ENGINE = Memory", {"readonly": "1"}, 500, "164", "READONLY"),
        (b"", {"query": "CREATE TABLE x (a Int8) ENGINE = Memory"}, 500, "164", "READONLY"),
        (b"SELECT 1", {"user": "ann", "password": "wrong"}, 403, "516", "AUTHENTICATION_FAILED"),
    ],
)
def test_the_bridge_answers_errors_as_a_server(
    ch_server: Any, body: bytes, params: dict[str, str], status: int, code: str, text: str
) -> None:
    got, headers, answer = _raw(ch_server, body, params)  # without a body: a GET
    assert (got, headers["X-ClickHouse-Exception-Code"]) == (status, code)
    assert answer.startswith(f"Code: {code}. DB::Exception:".encode())
    assert text.encode() in answer
    assert b"(version " in answer


def test_the_bridge_speaks_http_as_a_server(ch_server: Any) -> None:
    import gzip

    assert _raw(ch_server)[0::2] == (200, b"Ok.\n")
    status, headers, body = _raw(
        ch_server, gzip.compress(b"SELECT 41 + 1"), {"enable_http_compression": "1"},
        Content_Encoding="gzip", Accept_Encoding="gzip",
    )  # fmt: skip
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == b"42\n"
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert headers["X-ClickHouse-Timezone"]
    assert json.loads(headers["X-ClickHouse-Summary"])["read_rows"] == "1"
    status, headers, body = _raw(ch_server, b"SELECT 1", {"query_id": "q-1"})
    assert headers["X-ClickHouse-Query-Id"] == "q-1"


def test_a_setting_holds_for_its_request_only(ch_server: Any) -> None:
    sql = b"SELECT getSetting('max_threads')"
    assert _raw(ch_server, sql, {"max_threads": "3"})[2] == b"3\n"
    assert _raw(ch_server, sql)[2] != b"3\n"


def test_a_native_insert_compressed_by_the_client(ch_server: Any) -> None:
    """clickhouse-connect's own insert: Native blocks, lz4 Content-Encoding."""
    clickhouse_connect = pytest.importorskip("clickhouse_connect")
    ch_server.sql("CREATE DATABASE IF NOT EXISTS bridge_native")
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=ch_server.port, database="bridge_native"
    )
    client.command("CREATE TABLE t (a UInt32, m Map(String, String), n Nullable(Int64)) "
                   "ENGINE = MergeTree ORDER BY a")  # fmt: skip
    assert client.write_compression == "lz4"
    assert client.insert("t", [[1, {"k": "v"}, None], [2, {}, 5]]).written_rows == 2
    assert client.query("SELECT * FROM t ORDER BY a").result_rows == [
        (1, {"k": "v"}, None),
        (2, {}, 5),
    ]
    client.close()
