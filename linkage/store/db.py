"""The linkage store's tables, written once for two backends: SQLite and PostgreSQL.

SQLite (Python's stdlib ``sqlite3``) is the embedded default: one file, the one a council
backs up, in WAL mode. PostgreSQL (through psycopg 3, imported only when a
``postgresql://`` URL is given) serves a shared linkage unit. The SQL is the same for both;
:class:`Dialect` holds the few differences (placeholders, the binary and float types, how
a run takes the store's write lock).

Every table is keyed by the agreement id, so one store can hold several agreements. The
store holds encodings (packed filters, missing flags, keyed blocking tokens), pseudonymous
record ids, models, links, link keys and their history: never a key, never a plaintext
identifier.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from linkage.errors import LinkageError

#: Bumped when the tables change; a store of another version is refused.
SCHEMA_VERSION = "4"  # 2: records.blocking; 3: populations, 128-bit content fingerprints;
#                        4: a record's link key in ``records`` (no ``clusters`` table)


class StoreError(LinkageError, ValueError):
    """The store cannot do what was asked (wrong version, layout, or a missing model)."""


@dataclass(frozen=True)
class Dialect:
    """What differs between the two backends' SQL."""

    name: str
    placeholder: str  #: ``?`` (sqlite3) or ``%s`` (psycopg)
    blob: str         #: BLOB or BYTEA
    real: str         #: an 8-byte float: REAL in SQLite, DOUBLE PRECISION in PostgreSQL
    lock: str | None  #: statement that serialises runs of one agreement (None: BEGIN does)

    def sql(self, text: str) -> str:
        """``text`` written with ``?`` placeholders, in this dialect."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


SQLITE = Dialect("sqlite", "?", "BLOB", "REAL", None)
POSTGRES = Dialect("postgresql", "%s", "BYTEA", "DOUBLE PRECISION",
                   "SELECT pg_advisory_xact_lock(hashtext(?))")

#: The tables, in creation order; ``{blob}`` and ``{real}`` are filled in per dialect.
TABLES: dict[str, str] = {
    "store_info": "name TEXT PRIMARY KEY, value TEXT NOT NULL",
    "agreements": "agreement_id TEXT PRIMARY KEY, layout TEXT NOT NULL, "
                  "created_run INTEGER NOT NULL",
    "runs": "agreement_id TEXT NOT NULL, run_id INTEGER NOT NULL, started TEXT NOT NULL, "
            "finished TEXT NOT NULL, kind TEXT NOT NULL, summary TEXT NOT NULL, "
            "PRIMARY KEY (agreement_id, run_id)",
    # one row a current record: its encoding, blocking tokens and link key (the cluster
    # it is in); run_id: the run that wrote the encoding
    "records": "agreement_id TEXT NOT NULL, partner TEXT NOT NULL, record_id TEXT NOT NULL, "
               "seq BIGINT NOT NULL, content_hash TEXT NOT NULL, encoding {blob} NOT NULL, "
               "blocking {blob} NOT NULL, link_key TEXT NOT NULL, run_id INTEGER NOT NULL, "
               "PRIMARY KEY (agreement_id, partner, record_id)",
    "models": "agreement_id TEXT NOT NULL, run_id INTEGER NOT NULL, model TEXT NOT NULL, "
              "reference TEXT NOT NULL, PRIMARY KEY (agreement_id, run_id)",
    "edges": "agreement_id TEXT NOT NULL, left_partner TEXT NOT NULL, "
             "left_record TEXT NOT NULL, right_partner TEXT NOT NULL, "
             "right_record TEXT NOT NULL, weight {real} NOT NULL, "
             "probability {real} NOT NULL, run_id INTEGER NOT NULL, "
             "PRIMARY KEY (agreement_id, left_partner, left_record, right_partner, "
             "right_record)",
    "link_keys": "agreement_id TEXT NOT NULL, link_key TEXT NOT NULL, "
                 "created_run INTEGER NOT NULL, ended_run INTEGER, ended_event TEXT, "
                 "PRIMARY KEY (agreement_id, link_key)",
    "history": "agreement_id TEXT NOT NULL, run_id INTEGER NOT NULL, seq INTEGER NOT NULL, "
               "event TEXT NOT NULL, link_key TEXT NOT NULL, other_key TEXT, "
               "records INTEGER NOT NULL, PRIMARY KEY (agreement_id, run_id, seq)",
    # each partner's population as Arrow columns (store.population): derived from
    # records, rewritten by every run; a run rebuilds it if the latest run did not
    "populations": "agreement_id TEXT NOT NULL, partner TEXT NOT NULL, part INTEGER NOT NULL, "
                   "run_id INTEGER NOT NULL, data {blob} NOT NULL, "
                   "PRIMARY KEY (agreement_id, partner, part)",
}
# a run reads the edges of the records it touches, from either end. (No index on
# records' link keys: each would take a random place in a B-tree for every new record;
# a run reaches a key's records through their links (incremental._reach), an erasure
# scans.)
INDEXES = ("CREATE INDEX IF NOT EXISTS edges_by_right ON edges (agreement_id, right_partner, "
           "right_record)",)

#: Each table's primary-key columns: the order :meth:`Store.dump` sorts rows in.
ORDER = {"store_info": "name", "agreements": "agreement_id",
         "runs": "agreement_id, run_id", "records": "agreement_id, partner, record_id",
         "models": "agreement_id, run_id",
         "edges": "agreement_id, left_partner, left_record, right_partner, right_record",
         "link_keys": "agreement_id, link_key",
         "history": "agreement_id, run_id, seq",
         "populations": "agreement_id, partner, part"}


class Store:
    """An open linkage store: a DB-API connection and its :class:`Dialect`.

    Use :func:`open_store`. Every write happens inside :meth:`transaction`, so a run that
    fails or is killed leaves the store as it was.
    """

    def __init__(self, connection: Any, dialect: Dialect, location: str) -> None:
        self.connection = connection
        self.dialect = dialect
        self.location = location  #: the file or the URL without a password
        self._in_transaction = False
        with self.transaction():
            self._create()

    def __repr__(self) -> str:
        return f"Store({self.dialect.name}: {self.location})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[None]:
        """One transaction: committed when the block ends, rolled back if it raises.

        ``lock`` (an agreement id) also serialises runs of that agreement on PostgreSQL;
        on SQLite ``BEGIN IMMEDIATE`` takes the file's write lock.
        """
        if self._in_transaction:
            raise StoreError("A store transaction is already open on this connection.")
        self._in_transaction = True
        try:
            if self.dialect is SQLITE:
                self.connection.execute("BEGIN IMMEDIATE")
            if lock is not None and self.dialect.lock:
                self.execute(self.dialect.lock, (lock,))
            yield
        except BaseException:
            if self.dialect is SQLITE:
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
            else:
                self.connection.rollback()
            raise
        else:
            if self.dialect is SQLITE:
                self.connection.execute("COMMIT")
            else:
                self.connection.commit()
        finally:
            self._in_transaction = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        cursor = self.connection.cursor()
        cursor.execute(self.dialect.sql(sql), tuple(params))
        cursor.close()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if rows:
            cursor = self.connection.cursor()
            cursor.executemany(self.dialect.sql(sql), rows)
            cursor.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        cursor.execute(self.dialect.sql(sql), tuple(params))
        rows = [tuple(r) for r in cursor.fetchall()]
        cursor.close()
        return rows

    def _create(self) -> None:
        for name, columns in TABLES.items():
            body = columns.format(blob=self.dialect.blob, real=self.dialect.real)
            self.execute(f"CREATE TABLE IF NOT EXISTS {name} ({body})")
        for statement in INDEXES:
            self.execute(statement)
        found = self.query("SELECT value FROM store_info WHERE name = ?", ("schema_version",))
        if not found:
            self.execute("INSERT INTO store_info (name, value) VALUES (?, ?)",
                         ("schema_version", SCHEMA_VERSION))
        elif found[0][0] != SCHEMA_VERSION:
            raise StoreError(f"{self.location}: the store has schema version {found[0][0]}; "
                             f"this version of linkage reads version {SCHEMA_VERSION}: "
                             f"re-create it (link the current extracts into a new store).")

    # -- reading -----------------------------------------------------------------------
    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows in key order (for backups' checks and the tests)."""
        return {name: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                       for row in self.query(f"SELECT * FROM {name} ORDER BY {ORDER[name]}")]
                for name in TABLES}

    def agreements(self) -> list[str]:
        return [r[0] for r in self.query("SELECT agreement_id FROM agreements "
                                         "ORDER BY agreement_id")]

    def links(self, agreement_id: str) -> pd.DataFrame:
        """Every current record with its link key: ``link_key, partner, record_id``."""
        rows = self.query("SELECT link_key, partner, record_id FROM records "
                          "WHERE agreement_id = ? ORDER BY partner, record_id", (agreement_id,))
        return pd.DataFrame(rows, columns=["link_key", "partner", "record_id"])

    def history(self, agreement_id: str) -> pd.DataFrame:
        """Every key change: ``run_id, event, link_key, other_key, records``."""
        rows = self.query("SELECT run_id, event, link_key, other_key, records FROM history "
                          "WHERE agreement_id = ? ORDER BY run_id, seq", (agreement_id,))
        return pd.DataFrame(rows, columns=["run_id", "event", "link_key", "other_key",
                                           "records"])

    def runs(self, agreement_id: str) -> pd.DataFrame:
        """One row per run: ``run_id, started, finished, kind, summary`` (JSON counts)."""
        rows = self.query("SELECT run_id, started, finished, kind, summary FROM runs "
                          "WHERE agreement_id = ? ORDER BY run_id", (agreement_id,))
        return pd.DataFrame(rows, columns=["run_id", "started", "finished", "kind", "summary"])


def open_store(url_or_path: str | Path) -> Store:
    """Open (creating if needed) the store at ``url_or_path``.

    ``postgresql://...`` (or ``postgres://``) opens a PostgreSQL store through psycopg 3;
    anything else is a SQLite file (``sqlite:///path`` or a plain path).
    """
    text = str(url_or_path)
    if text.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError:
            raise StoreError("A PostgreSQL store needs psycopg 3: pip install "
                             "'psycopg[binary]'.") from None
        try:
            connection = psycopg.connect(text)
        except psycopg.Error as error:
            raise StoreError(f"Cannot open the PostgreSQL store: {error}".strip()) from None
        return Store(connection, POSTGRES, _without_password(text))
    path = Path(text.removeprefix("sqlite:///") if text.startswith("sqlite:///") else text)
    if path.is_dir():
        raise StoreError(f"{path}: is a folder; the store is a file.")
    embedded = sqlite3.connect(path, isolation_level=None, timeout=60.0)
    embedded.execute("PRAGMA journal_mode=WAL")
    embedded.execute("PRAGMA synchronous=FULL")
    # a run touches pages all over the big indexes: keep them in memory until the commit
    embedded.execute("PRAGMA cache_size=-262144")  # KiB: 256 MiB at most
    return Store(embedded, SQLITE, str(path))


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}@{host}"
