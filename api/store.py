"""The reservations ledger: one interface (:class:`Store`), two databases. SQLite is the embedded
default (one host, nothing to install); PostgreSQL (``api.store_postgres``) is the ledger of
several replicas on several hosts. ``api.ledger.open_store`` chooses by the location: a
``postgresql://`` URL or a file path.

A reservation holds IT power [W] at one site over whole UTC hours [start, end) until it expires
or is cancelled. The capacity check and the insert run in one transaction that first locks
what it checks: SQLite's write lock (``BEGIN IMMEDIATE``: concurrent writers queue), or in
PostgreSQL a lock per site it touches; so two reservations can never both see the same free
capacity, and a batch of reservations is held all or none. SQLite runs in WAL mode with
``synchronous=FULL``, so a committed reservation survives a killed process or a power cut
(SQLite "WAL mode", "PRAGMA synchronous").

The schema is versioned: each database records the number of the last migration applied
(``SQLITE_MIGRATIONS``, ``api.store_postgres.MIGRATIONS``: SQL applied in order, in
one transaction, at start-up), so an upgrade adds to the schema and never drops a reservation.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from twin.schedule import CAPACITY_TOLERANCE_W
from twin.variables import to_mw

# the schema's migrations, in order; each database records how many it has applied. Columns:
# start_h, end_h: hours since 1970-01-01 UTC; expires_h: the same, fractional
SQLITE_MIGRATIONS = ("""
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    idempotency_key TEXT,
    request TEXT NOT NULL,
    site TEXT NOT NULL,
    start_h INTEGER NOT NULL,
    end_h INTEGER NOT NULL,
    it_power_w REAL NOT NULL,
    created TEXT NOT NULL,
    expires_h REAL NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant, idempotency_key)
);
CREATE INDEX IF NOT EXISTS reservations_site_time ON reservations (site, start_h, end_h)
""",)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# LIMIT without a limit, in both databases' SQL
NO_LIMIT = 2**62
# held() answers kept per process (each at most sites x horizon floats: 15 x 744 x 8 B = 89 KB)
HELD_KEPT = 64


class CapacityExceeded(Exception):
    """The reservation would put more IT power on a site-hour than the site has."""


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different request."""


class NotHeld(Exception):
    """The reservation has expired or was cancelled."""


# what each status means in SQL, at the hour number ``?`` of now
STATUS_SQL = {"held": "(cancelled = 0 AND expires_h > ?)",
              "expired": "(cancelled = 0 AND expires_h <= ?)", "cancelled": "(cancelled = 1)"}


# the columns a reservation is inserted with (the others take their defaults)
ROW = ("id", "tenant", "idempotency_key", "request", "site", "start_h", "end_h", "it_power_w",
       "created", "expires_h")


def new_row(tenant: str, key: str | None, request: str, b: Block, ttl: timedelta | None,
            now: datetime) -> tuple:
    """The ROW values of a new reservation of ``b``, held ``ttl`` from now (None: until its
    block ends)."""
    return (str(uuid.uuid4()), tenant, key, request, b.site, round(hour_number(b.start)),
            round(hour_number(b.end)), b.it_power_w, now.isoformat(),
            hour_number(b.end if ttl is None else now + ttl))


def fits(b: Block, worst: float) -> bool:
    """Whether ``b`` fits its site when ``worst`` [W] is already held in its busiest hour."""
    return worst + b.it_power_w <= b.capacity_w + CAPACITY_TOLERANCE_W


def too_much(b: Block, worst: float, i: int = 0, n: int = 1) -> str:
    """Why block ``i`` of ``n`` does not fit (:func:`fits`)."""
    which = f"block {i} of {n}: " if n > 1 else ""
    return (f"{which}site {b.site} has {to_mw(b.capacity_w):.3f} MW of IT capacity; "
            f"{to_mw(worst):.3f} MW is already held in the busiest hour of "
            f"{b.start:%Y-%m-%dT%H:%MZ}..{b.end:%Y-%m-%dT%H:%MZ}, so "
            f"{to_mw(b.it_power_w):.3f} MW more does not fit; nothing was held")


def hour_number(t: datetime) -> float:
    return (t - EPOCH) / timedelta(hours=1)


def hour_time(h: float) -> datetime:
    return EPOCH + timedelta(hours=h)


@dataclass(frozen=True)
class Block:
    """IT power [W] to hold at ``site`` over whole UTC hours [start, end), within the site's
    ``capacity_w``."""

    site: str
    start: datetime
    end: datetime
    it_power_w: float
    capacity_w: float


@dataclass(frozen=True)
class Reservation:
    id: str
    tenant: str
    site: str
    start: datetime
    end: datetime
    it_power_w: float
    created: datetime
    expires: datetime
    cancelled: bool

    @classmethod
    def from_row(cls, row) -> Reservation:
        """From a row of either database (read by column name)."""
        return cls(id=row["id"], tenant=row["tenant"], site=row["site"],
                   start=hour_time(row["start_h"]), end=hour_time(row["end_h"]),
                   it_power_w=row["it_power_w"], created=datetime.fromisoformat(row["created"]),
                   expires=hour_time(row["expires_h"]), cancelled=bool(row["cancelled"]))

    def status(self, now: datetime) -> str:
        return "cancelled" if self.cancelled else "expired" if self.expires <= now else "held"

    def as_dict(self, now: datetime) -> dict:
        return {**asdict(self), "status": self.status(now)}


class StoreError(ValueError):
    """The reservations database cannot be used (missing folder, not a database, damaged,
    read-only, unreachable, a newer schema): one line naming it."""


class StoreBusy(Exception):
    """Another write held a lock longer than the busy timeout, or the database could not be
    reached within it: retry."""


# the key of block i > 0 of a batch: the batch's key, this separator and i. HTTP header values
# cannot hold a line feed, so no key a client gives is another batch's block key
BATCH_KEY_SEPARATOR = "\n#"


class Store(ABC):
    """The reservations ledger. Subclasses give the database: ``_run`` (one transaction),
    ``_lock_sites`` and ``location`` (what messages name it by); the SQL here is common to
    both (``?`` parameters)."""

    location: str
    # held() answers kept for held_if_unchanged: (sites, first hour, hours) -> (ledger version,
    # hour number of now at the read, first expiry among the holds counted, IT power held)
    _kept: OrderedDict
    _kept_lock: threading.Lock

    def __init__(self):
        self._kept, self._kept_lock = OrderedDict(), threading.Lock()

    @abstractmethod
    def _run(self, work: Callable[[Any], Any], write: bool) -> Any:
        """``work(db)`` in one transaction, committed when it returns, rolled back when it
        raises; ``write``: it writes (SQLite takes the write lock first)."""

    @abstractmethod
    def _lock_sites(self, db, sites: list[str]) -> None:
        """Lock the sites whose capacity the transaction checks, until it ends."""

    @abstractmethod
    def close(self) -> None:
        """Release what the ledger holds open (PostgreSQL's connections)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def reserve(self, tenant: str, blocks: list[Block], ttl: timedelta | None, now: datetime,
                idempotency_key: str | None = None) -> tuple[list[Reservation], bool]:
        """Hold every block, or none (CapacityExceeded naming the first that does not fit,
        counting the blocks before it): one transaction. Each hold lasts ``ttl`` from ``now``,
        or without one until its block ends. Replaying ``idempotency_key`` with the same blocks
        and ttl returns the reservations made the first time, and False.

        The check is linear in the site-hours of the batch: one query per site over the
        batch's span, the batch's own blocks added to that site's array as they are checked."""
        ttl_s = None if ttl is None else ttl.total_seconds()
        requests = [json.dumps([b.site, b.start.isoformat(), b.end.isoformat(), b.it_power_w,
                                ttl_s]) for b in blocks]
        if idempotency_key is not None and BATCH_KEY_SEPARATOR in idempotency_key:
            raise ValueError("an idempotency key cannot hold a line feed")
        # the first block keeps the key itself (as a single reservation does), the others
        # key + BATCH_KEY_SEPARATOR + i
        keys = [None] * len(blocks) if idempotency_key is None else \
            [idempotency_key] + [f"{idempotency_key}{BATCH_KEY_SEPARATOR}{i}"
                                 for i in range(1, len(blocks))]
        if len(blocks) == 1 and idempotency_key is None:
            one = self._reserve_one(tenant, blocks[0], requests[0], ttl, now)
            if one is not None:
                return [one], True
        spans = [(round(hour_number(b.start)), round(hour_number(b.end))) for b in blocks]
        now_h = hour_number(now)
        sites = list(dict.fromkeys(b.site for b in blocks))

        def work(db):
            self._lock_sites(db, sites)
            if idempotency_key is not None:
                replay = self._replay(db, tenant, idempotency_key, requests)
                if replay is not None:
                    return replay, False
            held = {}  # site -> (first hour, IT power held per hour) over the batch's span
            for site in sites:
                mine = [s for s, b in zip(spans, blocks, strict=True) if b.site == site]
                first, last = min(s[0] for s in mine), max(s[1] for s in mine)
                held[site] = first, self._held(db, site, first, last, now_h)
            rows = []
            for i, (b, (start_h, end_h)) in enumerate(zip(blocks, spans, strict=True)):
                first, hourly = held[b.site]
                hours = hourly[start_h - first:end_h - first]
                worst = float(hours.max()) if hours.size else 0.0
                if not fits(b, worst):
                    raise CapacityExceeded(too_much(b, worst, i, len(blocks)))
                hours += b.it_power_w  # a view: the next blocks count this one
                rows.append(new_row(tenant, keys[i], requests[i], b, ttl, now))
            db.executemany(f"INSERT INTO reservations ({', '.join(ROW)}) VALUES "
                           f"({', '.join('?' * len(ROW))})", rows)
            # what was inserted, as read back (without reading it back)
            return [Reservation.from_row({**dict(zip(ROW, row, strict=True)), "cancelled": 0})
                    for row in rows], True

        return self._run(work, write=True)

    def _reserve_one(self, tenant: str, b: Block, request: str, ttl: timedelta | None,
                     now: datetime) -> Reservation | None:
        """A database's quicker way to hold one block without an idempotency key, with the
        same guarantees; None: none (reserve() does)."""
        return None

    @staticmethod
    def _replay(db, tenant: str, key: str, requests: list[str]) -> list[Reservation] | None:
        """The reservations made under ``key`` by the same request, in order; None when the
        key is new; IdempotencyConflict when it was used for another request."""
        batch = f"{key}{BATCH_KEY_SEPARATOR}"
        found = db.execute("SELECT * FROM reservations WHERE tenant = ? AND (idempotency_key = ? "
                           "OR substr(idempotency_key, 1, CAST(? AS INTEGER)) = ?)",
                           (tenant, key, len(batch), batch)).fetchall()
        by_key = {r["idempotency_key"]: r for r in found}
        if key not in by_key:
            return None
        order = [key] + [f"{batch}{i}" for i in range(1, len(by_key))]
        rows = [by_key.get(k) for k in order]
        if len(by_key) != len(requests) or None in rows or \
                [r["request"] for r in rows] != requests:
            raise IdempotencyConflict(f"idempotency key {key!r} was used for another request")
        return [Reservation.from_row(r) for r in rows]

    @staticmethod
    def _by_ids(db, ids: list[str]) -> list[Reservation]:
        out = []
        for k in range(0, len(ids), 500):  # SQLite's limit on parameters
            chunk = ids[k:k + 500]
            out += [Reservation.from_row(r) for r in db.execute(
                f"SELECT * FROM reservations WHERE id IN ({','.join('?' * len(chunk))})", chunk)]
        return out

    @staticmethod
    def _held(db, site: str, start_h: int, end_h: int, now_h: float) -> np.ndarray:
        """IT power [W] held at ``site`` in each hour of [start_h, end_h): summed by the
        database per span of hours (holds of the same hours, as a busy site's mostly are, come
        back as one row)."""
        held = np.zeros(end_h - start_h)
        for r in db.execute("SELECT start_h, end_h, sum(it_power_w) AS it_power_w FROM "
                            "reservations WHERE site = ? AND cancelled = 0 AND expires_h > ? AND "
                            "start_h < ? AND end_h > ? GROUP BY start_h, end_h",
                            (site, now_h, end_h, start_h)):
            held[max(r["start_h"], start_h) - start_h:min(r["end_h"], end_h) - start_h] += \
                r["it_power_w"]
        return held

    def held(self, sites: list[str], start: datetime, hours: int, now: datetime) -> np.ndarray:
        """IT power [W] held by all tenants, ``(len(sites), hours)`` from ``start``: read from
        the database (one query) unless :meth:`held_if_unchanged` can answer, so every replica
        sees every other's reservations. Read-only."""
        kept = self.held_if_unchanged(sites, start, hours, now)
        if kept is not None:
            return kept
        start_h = round(hour_number(start))
        end_h, now_h = start_h + hours, hour_number(now)
        rows: dict[str, list[int]] = {}
        for i, s in enumerate(sites):
            rows.setdefault(s, []).append(i)
        version = self._version()  # before the read: a commit after it is seen as a change

        def work(db):
            held, expiry = np.zeros((len(sites), hours)), np.inf
            for r in db.execute(
                    "SELECT site, start_h, end_h, sum(it_power_w) AS it_power_w, min(expires_h) "
                    f"AS expires_h FROM reservations WHERE site IN ({','.join('?' * len(rows))}) "
                    "AND cancelled = 0 AND expires_h > ? AND start_h < ? AND end_h > ? "
                    "GROUP BY site, start_h, end_h", (*rows, now_h, end_h, start_h)):
                span = slice(max(r["start_h"], start_h) - start_h,
                             min(r["end_h"], end_h) - start_h)
                for i in rows[r["site"]]:
                    held[i, span] += r["it_power_w"]
                expiry = min(expiry, r["expires_h"])
            return held, expiry
        if not rows:
            return np.zeros((0, hours))
        held, expiry = self._run(work, write=False)
        held.setflags(write=False)
        if version is not None:
            with self._kept_lock:
                self._kept[(tuple(sites), start_h, hours)] = (version, now_h, expiry, held)
                while len(self._kept) > HELD_KEPT:
                    self._kept.popitem(last=False)
        return held

    def held_if_unchanged(self, sites: list[str], start: datetime, hours: int,
                          now: datetime) -> np.ndarray | None:
        """What :meth:`held` last read for the same sites and hours, when the ledger has not
        changed since (:meth:`_version`, a check that does not wait for a lock, the network or
        the disk: a service may call it in its event loop) and no hold it counted has expired;
        None otherwise (then read: :meth:`held`)."""
        with self._kept_lock:
            kept = self._kept.get((tuple(sites), round(hour_number(start)), hours))
        if kept is None:
            return None
        version, read_h, expiry, held = kept
        # a hold expired by now is no longer counted; one expired at the read but not at an
        # earlier now (a clock set back) would be
        if not read_h <= hour_number(now) < expiry or self._version(connect=False) != version:
            return None
        return held

    def _version(self, connect: bool = True):
        """A value that changes whenever any connection (this process's or another's) commits
        to the ledger, read without waiting for a lock, the network or the disk (unless
        ``connect``: then it may open what it reads from); None when the database has none
        (then :meth:`held` reads every time)."""
        return None

    def get(self, reservation_id: str) -> Reservation | None:
        def work(db):
            row = db.execute("SELECT * FROM reservations WHERE id = ?",
                             (reservation_id,)).fetchone()
            return None if row is None else Reservation.from_row(row)
        return self._run(work, write=False)

    def list(self, tenant: str, now: datetime, *, status: str | None = None,
             site: str | None = None, start: datetime | None = None, end: datetime | None = None,
             limit: int | None = None, offset: int = 0) -> tuple[list[Reservation], int]:
        """The tenant's reservations with ``status`` (held, expired or cancelled) at ``site``
        overlapping [start, end), in order of start; ``limit`` of them from ``offset``, and how
        many there are in all."""
        where, args = ["tenant = ?"], [tenant]
        if status is not None:
            where.append(STATUS_SQL[status])
            args += [hour_number(now)] * STATUS_SQL[status].count("?")
        for clause, value in (("site = ?", site),
                              ("end_h > ?", None if start is None else hour_number(start)),
                              ("start_h < ?", None if end is None else hour_number(end))):
            if value is not None:
                where.append(clause)
                args.append(value)
        condition = " AND ".join(where)

        def work(db):
            total = db.execute(f"SELECT count(*) AS n FROM reservations WHERE {condition}",
                               args).fetchone()["n"]
            rows = db.execute(f"SELECT * FROM reservations WHERE {condition} ORDER BY start_h, "
                              "created, id LIMIT ? OFFSET ?",
                              [*args, NO_LIMIT if limit is None else limit, offset])
            return [Reservation.from_row(r) for r in rows], total
        return self._run(work, write=False)

    def extend(self, reservation_id: str, tenant: str, ttl: timedelta | None,
               now: datetime) -> Reservation | None:
        """The tenant's held reservation held for ``ttl`` from now, or without one until its
        block ends (confirmed); None when the tenant has no such reservation; NotHeld when it
        has expired or was cancelled (its capacity may be gone: reserve again)."""
        def work(db):
            query = ("SELECT * FROM reservations WHERE id = ? AND tenant = ?",
                     (reservation_id, tenant))
            row = db.execute(*query).fetchone()
            if row is None:
                return None
            # a reservation expiring now frees capacity that a concurrent reserve may take:
            # the site's lock orders the two, and the row is read again under it
            self._lock_sites(db, [row["site"]])
            res = Reservation.from_row(db.execute(*query).fetchone())
            if res.status(now) != "held":
                raise NotHeld(f"reservation {reservation_id!r} is {res.status(now)}: its "
                              "capacity may be gone; reserve again")
            expires = res.end if ttl is None else now + ttl
            db.execute("UPDATE reservations SET expires_h = ? WHERE id = ?",
                       (hour_number(expires), reservation_id))
            return self._by_ids(db, [reservation_id])[0]
        return self._run(work, write=True)

    def cancel(self, reservation_id: str, tenant: str) -> Reservation | None:
        """Cancel the tenant's reservation; None when the tenant has no such reservation."""
        def work(db):
            db.execute("UPDATE reservations SET cancelled = 1 WHERE id = ? AND tenant = ?",
                       (reservation_id, tenant))
            row = db.execute("SELECT * FROM reservations WHERE id = ? AND tenant = ?",
                             (reservation_id, tenant)).fetchone()
            return None if row is None else Reservation.from_row(row)
        return self._run(work, write=True)


class SQLiteStore(Store):
    """The reservations database at ``path`` (created on first use; checked: SQLite's quick
    check and a write, StoreError naming the file when it cannot be used). A write waits
    ``busy_timeout_s`` for another's lock, then raises StoreBusy. Connections are kept between
    transactions (opening one cost a search about a third of its time), one per thread that
    runs one at a time."""

    def __init__(self, path: Path, busy_timeout_s: float = 10.0):
        super().__init__()
        self.path, self.busy_timeout_s = Path(path), busy_timeout_s
        self._watch = None  # the connection of _version(), which never writes
        self.location = str(self.path)
        self._idle: list[sqlite3.Connection] = []  # connections between transactions
        self._idle_lock, self._closed = threading.Lock(), False
        if self.path.is_dir():
            raise StoreError(f"reservations database {self.path} is a directory")
        if not self.path.parent.is_dir():
            raise StoreError(f"reservations database {self.path}: folder {self.path.parent} "
                             "does not exist")
        try:
            db = self._connect()
            try:
                db.execute("PRAGMA journal_mode=WAL")
                check = db.execute("PRAGMA quick_check").fetchall()
                if [tuple(r) for r in check] != [("ok",)]:
                    first = " ".join(str(check[0][0]).split("\n")[0].split())
                    raise StoreError(f"reservations database {self.path} is damaged (SQLite "
                                     f"quick_check: {first}); restore it from a backup")
                # the migrations not applied yet, in one transaction; a write even when none
                # is due, so that a read-only file or folder fails here
                db.execute("BEGIN IMMEDIATE")
                version = db.execute("PRAGMA user_version").fetchone()[0]
                check_version(version, len(SQLITE_MIGRATIONS), self.location)
                for migration in SQLITE_MIGRATIONS[version:]:
                    for statement in filter(str.strip, migration.split(";")):
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {len(SQLITE_MIGRATIONS)}")
                db.execute("COMMIT")
            finally:
                db.close()
        except sqlite3.Error as err:
            raise StoreError(f"reservations database {self.path} cannot be used: "
                             f"{' '.join(str(err).split())}") from None

    def _connect(self) -> sqlite3.Connection:
        # used by one thread at a time, not always the one that opened it
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                             check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _run(self, work, write: bool):
        with self._idle_lock:
            db = self._idle.pop() if self._idle else None
        ended = False  # the transaction ended (committed or rolled back): db can be kept
        try:
            if db is None:
                db = self._connect()
            # BEGIN IMMEDIATE: the write lock first, waiting the busy timeout for it
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                ended = True
                raise
            db.execute("COMMIT")
            ended = True
            return result
        except sqlite3.OperationalError as err:
            raise _busy(err) from None
        finally:
            if db is not None:
                with self._idle_lock:
                    keep = ended and not self._closed
                    if keep:
                        self._idle.append(db)
                if not keep:
                    db.close()

    def _lock_sites(self, db, sites: list[str]) -> None:
        """Nothing: BEGIN IMMEDIATE took the lock of the whole database."""

    def _version(self, connect: bool = True) -> int | None:
        """SQLite's ``PRAGMA data_version`` on a connection of its own that never writes: it
        changes whenever another connection, of this process or another, commits (SQLite
        "PRAGMA data_version"). In WAL mode a read of the WAL index in shared memory: it does
        not wait for writers. None after close()."""
        with self._kept_lock:
            if self._closed:
                return None
            try:
                if self._watch is None:
                    self._watch = self._connect()
                return self._watch.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                return None

    def close(self) -> None:
        """Close the connections kept between transactions."""
        with self._idle_lock:
            self._closed, idle, self._idle = True, self._idle, []
        with self._kept_lock:
            watch, self._watch = self._watch, None
            self._kept.clear()
        for db in idle + ([watch] if watch else []):
            db.close()


def check_version(version: int, known: int, location: str) -> None:
    """StoreError when the database's schema is newer than this version of the twin knows."""
    if version > known:
        raise StoreError(f"reservations database {location} has schema version {version}, "
                         f"newer than this twin's {known}: upgrade the twin to use it")


def _busy(err: sqlite3.OperationalError) -> Exception:
    """StoreBusy for SQLite's lock errors (another writer held the lock past the timeout);
    the error itself otherwise."""
    text = str(err)
    if "locked" in text or "busy" in text:
        return StoreBusy("the reservations database is busy with other writes: retry shortly")
    return err
