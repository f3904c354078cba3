"""The read-only guard of user SQL (`hoptrace sql`, `collector.query`, the TUI console),
built on DuckDB's own parser and tokenizer.

Three walls, outermost first:

1. `check()` parses the text with `duckdb.extract_statements`, refuses more than
   one statement (a paste is refused whole, nothing of it runs), refuses every
   statement type but SELECT / EXPLAIN [ANALYZE] of an allowed statement / a few
   read-only PRAGMAs, refuses writes nested in a query (a CTE), and (through
   `json_serialize_sql`, DuckDB's parse tree as JSON) every function that reads
   or writes files or the network (`read_csv`, `read_parquet`, `glob`,
   `read_text`, `*_scan`, …) and every FROM target that looks like a file path.
2. The runner's instance attaches the file `READ_ONLY`, so a write that slipped
   through fails inside DuckDB.
3. That instance then has `enable_external_access=false` and a locked
   configuration, so DuckDB itself refuses file and network access.

Leading comments are skipped with `duckdb.tokenize` before any keyword is looked at,
so a comment can neither hide nor fake one (`/* note */ EXPLAIN …`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb


class Refused(Exception):
    """The statement is not allowed in `hoptrace sql` (exit code 2)."""


class ParseError(Exception):
    """DuckDB could not parse the text (exit code 1); the message is DuckDB's."""


_ALLOWED_PRAGMAS = frozenset(
    {
        "table_info",
        "show_tables",
        "show_tables_expanded",
        "database_list",
        "version",
        "show",
        "database_size",
        "storage_info",
    }
)
_FILE_PREFIXES = (
    "read_", "parquet_", "iceberg_", "delta_", "sqlite_", "postgres_", "mysql_", "http",
    "s3", "gcs", "azure_", "ducklake_", "st_read", "load_", "install_",
)  # fmt: skip
_FILE_SUFFIXES = ("_scan", "_read", "_write")
_FILE_FUNCTIONS = frozenset(
    {
        "glob", "sniff_csv", "read_text", "read_blob", "checkpoint", "force_checkpoint",
        "getenv", "json_execute_serialized_sql", "query", "query_table", "copy_to",
    }
)  # fmt: skip
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_TYPE_NAMES = {
    "INSERT": "INSERT writes",
    "UPDATE": "UPDATE writes",
    "DELETE": "DELETE writes",
    "CREATE": "CREATE writes",
    "DROP": "DROP writes",
    "ALTER": "ALTER writes",
    "ATTACH": "ATTACH opens other databases",
    "DETACH": "DETACH changes the attached databases",
    "COPY": "COPY reads or writes files",
    "COPY_DATABASE": "COPY DATABASE writes files",
    "EXPORT": "EXPORT writes files",
    "LOAD": "INSTALL/LOAD changes extensions",
    "SET": "SET/RESET/USE changes the session",
    "VARIABLE_SET": "SET VARIABLE changes the session",
    "TRANSACTION": "transactions are not needed for reads",
    "CALL": "CALL runs procedures (use SELECT * FROM fn() for table functions)",
    "VACUUM": "VACUUM writes",
    "UNKNOWN": "statements of this kind are not allowed",
    "ANALYZE": "ANALYZE writes statistics",
    "UPDATE_EXTENSIONS": "UPDATE EXTENSIONS changes extensions",
    "MERGE_INTO": "MERGE writes",
    "MULTI": "PIVOT as a statement creates types",
}


def statement_types(sql: str) -> list[tuple[str, str]]:
    """(type name, text) of each statement; `ParseError` with DuckDB's message on bad syntax."""
    try:
        stmts = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ParseError(str(exc)) from None
    return [(_type_name(s), s.query) for s in stmts]


def _type_name(stmt: Any) -> str:
    try:
        return str(stmt.type.name)
    except ValueError:  # a statement type this duckdb module has no name for
        return "UNKNOWN"


def check(sql: str) -> str:
    """Return the single statement to run, or raise `Refused` / `ParseError`."""
    stmts = statement_types(sql)
    if not stmts:
        raise Refused("refused: no SQL statement given")
    if len(stmts) > 1:
        raise Refused(
            f"refused: one statement at a time (found {len(stmts)}); none of them was run"
        )
    kind, text = stmts[0]
    _check_statement(kind, text)
    return text


def _words(text: str) -> list[tuple[int, str]]:
    """(offset, upper-cased text) of each token, comments skipped (DuckDB's own tokenizer).

    Keywords are found this way, never with a regex over the raw text: a comment
    before or inside a statement (`/* note */ EXPLAIN …`) must not hide or fake one.
    """
    tokens = duckdb.tokenize(text)
    out: list[tuple[int, str]] = []
    for i, (start, kind) in enumerate(tokens):
        if kind == duckdb.token_type.comment:
            continue
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(text)
        out.append((start, text[start:end].strip().upper()))
    return out


def _after_leading(text: str, keywords: tuple[str, ...]) -> str:
    """The text from the first token that is not a leading comment or one of `keywords`."""
    for start, word in _words(text):
        if word not in keywords:
            return text[start:]
        keywords = keywords[1:] if word == keywords[0] else keywords
    return ""


def _check_statement(kind: str, text: str) -> None:
    text = _after_leading(text, ())  # leading comments off: the checks below see keywords
    if kind == "SELECT":
        _check_select(text)
        return
    if kind == "EXPLAIN":
        # EXPLAIN [ANALYZE] <inner>: the inner statement is what runs, so it is checked
        # as if given alone. Stripping only the leading keywords (comments skipped by the
        # tokenizer) always shortens the text, so a nested EXPLAIN terminates.
        inner = _after_leading(text, ("EXPLAIN", "ANALYZE"))
        if inner.upper().startswith(("ANALYSE", "(")):
            inner = _after_leading(inner, ("ANALYSE",))
        if not inner or inner.startswith("("):
            raise Refused("refused: EXPLAIN with options; use EXPLAIN [ANALYZE] SELECT …")
        stmts = statement_types(inner)
        if len(stmts) != 1:
            raise Refused("refused: EXPLAIN takes one statement")
        _check_statement(*stmts[0])
        return
    if kind == "PRAGMA" and re.match(r"^\s*IMPORT\b", text, flags=re.IGNORECASE):
        raise Refused("refused: IMPORT DATABASE reads files; hoptrace SQL is read-only")
    if kind == "PRAGMA":
        m = re.match(r"^\s*PRAGMA\s+([A-Za-z_]+)", text, flags=re.IGNORECASE)
        name = m.group(1).lower() if m else ""
        if name in _ALLOWED_PRAGMAS and "=" not in text:
            return
        raise Refused(f"refused: PRAGMA {name or '?'} is not allowed (read-only PRAGMAs: "
                      f"{', '.join(sorted(_ALLOWED_PRAGMAS))})")  # fmt: skip
    reason = _TYPE_NAMES.get(kind, f"{kind} statements are not allowed")
    raise Refused(f"refused: {reason}; hoptrace SQL is read-only (SELECT only)")


def _check_select(text: str) -> None:
    con = duckdb.connect(":memory:", config={"enable_external_access": False})
    try:
        raw = con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()[0][0]
    finally:
        con.close()
    tree = json.loads(raw)
    if tree.get("error"):
        # SHOW/DESCRIBE/SUMMARIZE parse as SELECT but do not serialise: they only read
        if re.match(r"^\s*(SHOW|DESCRIBE|DESC|SUMMARIZE)\b", text, flags=re.IGNORECASE):
            target = re.sub(r"^\s*\w+\s*", "", text).strip().rstrip(";")
            if not target or _IDENT.match(target.split(".")[-1]) or target.upper() == "TABLES":
                return
            if target.upper().startswith(("SELECT", "FROM", "WITH")):
                _check_select(target)
                return
            raise Refused(f"refused: {target!r} looks like a file path; only tables and views")
        raise Refused(f"cannot check this statement: {tree.get('error_message')}")
    for node in _walk(tree):
        node_type = node.get("type")
        # a data-changing statement nested in a query (`WITH d AS (DELETE … RETURNING *)`)
        # serialises as its own query node inside the SELECT
        if isinstance(node_type, str) and node_type.endswith("_QUERY_NODE"):
            verb = node_type.removesuffix("_QUERY_NODE").replace("_", " ")
            raise Refused(f"refused: {verb} inside a query writes; hoptrace SQL is read-only")
        name = node.get("function_name")
        if isinstance(name, str) and _is_file_function(name):
            raise Refused(
                f"refused: {name}() reads or writes files; hoptrace SQL only queries the store"
            )
        if node.get("type") == "BASE_TABLE":
            table = node.get("table_name", "")
            if not _IDENT.match(table):
                raise Refused(
                    f"refused: {table!r} in FROM looks like a file path; "
                    "hoptrace SQL only queries the store's tables and views"
                )


def _is_file_function(name: str) -> bool:
    n = name.lower()
    return n in _FILE_FUNCTIONS or n.startswith(_FILE_PREFIXES) or n.endswith(_FILE_SUFFIXES)


def _walk(node: Any) -> Any:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            yield cur
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
