"""Which reservations ledger a location names: ``open_store`` (a module of its own, so that
neither ledger's module imports the other)."""

from __future__ import annotations

from pathlib import Path

from api.store import SQLiteStore, Store, StoreError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(location: str | Path, busy_timeout_s: float = 10.0) -> Store:
    """The ledger at ``location``: a ``postgresql://`` URL (PostgreSQL) or a file path
    (SQLite), created or migrated, and checked (StoreError in one line when it cannot be
    used)."""
    if str(location).startswith(POSTGRES_SCHEMES):
        try:
            from api.store_postgres import PostgresStore
        except ImportError:
            raise StoreError("a PostgreSQL ledger needs psycopg: pip install "
                             "'desert-twin[postgres]'") from None
        return PostgresStore(str(location), busy_timeout_s)
    return SQLiteStore(Path(location), busy_timeout_s)
