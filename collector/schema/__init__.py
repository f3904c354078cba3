"""The DuckDB layout: physical tables, the public views (the SQL API), the schema version."""

from __future__ import annotations

from collector.schema._tables import (
    DERIVED_COLUMNS,
    DERIVED_SPAN_COLUMNS,
    DERIVED_TABLES,
    OLDEST_MIGRATABLE,
    PRICE_COLUMNS,
    RAW_COLUMN_NAMES,
    SCHEMA_VERSION,
    SPAN_COLUMN_NAMES,
    SPAN_COLUMNS,
    VIEW_NAMES,
    ddl,
)

__all__ = [
    "DERIVED_COLUMNS",
    "DERIVED_SPAN_COLUMNS",
    "DERIVED_TABLES",
    "OLDEST_MIGRATABLE",
    "PRICE_COLUMNS",
    "RAW_COLUMN_NAMES",
    "SCHEMA_VERSION",
    "SPAN_COLUMNS",
    "SPAN_COLUMN_NAMES",
    "VIEW_NAMES",
    "ddl",
]
