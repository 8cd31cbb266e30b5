"""The reservations ledger in PostgreSQL (psycopg 3 and its connection pool), for several
replicas of the service on several hosts sharing one database.

The guarantees are SQLite's (:mod:`api.store`): a write's transaction first takes a
transaction-level advisory lock per site it checks (``pg_advisory_xact_lock``, in one order,
so two writers never wait on each other in a cycle), then reads what is held there and inserts:
two reservations for the same site queue, whichever replica they reach, and every one sees
the other's commit (READ COMMITTED takes a new snapshot per statement, after the lock). A
committed reservation is durable as PostgreSQL makes any commit (its write-ahead log flushed at
commit, ``synchronous_commit=on``, the default).

Every commit to the ledger is announced on CHANNEL (a trigger, LISTEN/NOTIFY), so that a
replica re-uses the held power it last read until another commit is announced
(:meth:`PostgresStore._version`; a reservation's own check always reads under the lock).

Failures: a lock held past the busy timeout is StoreBusy (503, Retry-After); so is a database
that cannot be reached within it (restarting, failing over) — until then the transaction is
tried again, which is safe because nothing was committed. A connection lost while committing
leaves the outcome unknown: StoreBusy says so, and the client's Idempotency-Key makes the retry
safe. A deadlock, a serialization failure or two writers racing for one idempotency key roll
back and are tried again.
"""

from __future__ import annotations

import math
import select
import threading
import time
import zlib
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from api.store import (
    ROW,
    Block,
    CapacityExceeded,
    Reservation,
    Store,
    StoreBusy,
    StoreError,
    check_version,
    hour_number,
    new_row,
    too_much,
)
from twin.schedule import CAPACITY_TOLERANCE_W

# the channel on which every change to the ledger is announced (migration 2: a trigger; PostgreSQL
# delivers a NOTIFY to the listeners when its transaction commits, LISTEN/NOTIFY)
CHANNEL = "twin_ledger"
# the schema's migrations, in order (table twin_schema holds how many were applied); each is
# sent whole (psycopg runs several statements in one query without parameters)
MIGRATIONS = ("""
CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    idempotency_key TEXT,
    request TEXT NOT NULL,
    site TEXT NOT NULL,
    start_h BIGINT NOT NULL,
    end_h BIGINT NOT NULL,
    it_power_w DOUBLE PRECISION NOT NULL,
    created TEXT NOT NULL,
    expires_h DOUBLE PRECISION NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant, idempotency_key)
);
CREATE INDEX reservations_site_time ON reservations (site, start_h, end_h)
""", f"""
CREATE FUNCTION twin_ledger_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END $$;
CREATE TRIGGER reservations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON reservations FOR EACH STATEMENT EXECUTE FUNCTION twin_ledger_changed()
""")
# the first key of the service's advisory locks ("twin"); the second: 0 for migrations, a
# site's CRC-32 for the site
LOCK_NAMESPACE = 0x7477696E
RETRY_PAUSE_S = 0.2
# connections each server process keeps to the database at most (its requests queue for one
# beyond that), besides its one listening connection: two replicas of 2 workers each hold at
# most 44 of PostgreSQL's 100 by default
POOL_SIZE = 10
# one block's check and insert (Store.reserve's, for one block: api.store.fits in SQL), after
# the site's lock: the IT power held in the block's busiest hour, summed per span of hours
# first, and the row inserted only when the block fits; answers (worst, made)
RESERVE_ONE = f"""
WITH spans AS (
    SELECT start_h, end_h, sum(it_power_w) AS power FROM reservations
    WHERE site = %(site)s AND cancelled = 0 AND expires_h > %(now_h)s
        AND start_h < %(end_h)s AND end_h > %(start_h)s
    GROUP BY start_h, end_h),
hourly AS (
    SELECT sum(power) AS power FROM spans,
        generate_series(greatest(start_h, %(start_h)s), least(end_h, %(end_h)s) - 1) AS hour
    GROUP BY hour),
held AS (SELECT coalesce(max(power), 0) AS worst FROM hourly),
made AS (
    INSERT INTO reservations ({', '.join(ROW)})
    SELECT {', '.join(f'%({c})s' for c in ROW)} FROM held
    WHERE worst + %(it_power_w)s <= %(capacity_w)s + %(tolerance_w)s
    RETURNING id)
SELECT worst, (SELECT count(*) FROM made) AS made FROM held
"""
# errors after which the transaction rolled back and may simply run again
TRANSIENT = (errors.DeadlockDetected, errors.SerializationFailure, errors.UniqueViolation)


def redacted(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc[-1]}"))


def site_lock_key(site: str) -> int:
    """The site's advisory lock key: its CRC-32 as a signed 32-bit integer (two sites sharing
    one only queue behind each other)."""
    crc = zlib.crc32(site.encode())
    return crc - 2**32 if crc >= 2**31 else crc


def unbroken(conn: psycopg.Connection) -> None:
    """The pool's check of a connection it hands out: closed, and OperationalError, when the
    server closed it, or sent it anything, while it was idle (a database restarted or failed
    over closes its connections: their sockets turn readable). A poll of the socket, no round
    trip: the query of psycopg_pool's own check cost a window search 0.7 ms of CPU, a third of
    it."""
    if not conn.closed and not select.select([conn.fileno()], [], [], 0)[0]:
        return
    conn.close()  # closed, the pool drops it (one failing the check goes back to the pool)
    raise psycopg.OperationalError("the connection was closed by the server")


class _Db:
    """A psycopg connection answering the SQL of :class:`api.store.Store` (``?`` parameters);
    ``committing`` set by work that sends its own COMMIT (then a lost connection leaves the
    outcome unknown)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn, self.committing = conn, False

    def execute(self, sql: str, args=()):
        return self.conn.execute(sql.replace("?", "%s"), args)

    def executemany(self, sql: str, rows) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)


class PostgresStore(Store):
    """The reservations ledger in the PostgreSQL database at ``url``: its schema created or
    migrated (StoreError in one line, without the password, when the database cannot be
    reached, does not exist, refuses the user or has a newer schema). A write waits
    ``busy_timeout_s`` for a lock or for the database, then raises StoreBusy."""

    def __init__(self, url: str, busy_timeout_s: float = 10.0):
        super().__init__()
        self.url, self.busy_timeout_s = url, busy_timeout_s
        self.location = redacted(url)
        self._pool, self._pool_lock = None, threading.Lock()
        # _version()'s listening connection, the changes it was told of, and a generation
        # counted up whenever it is opened anew (what it missed while closed is unknown)
        self._watch, self._changes, self._generation = None, 0, 0
        self._watch_lock, self._closed, self._retry_at = threading.Lock(), False, 0.0
        # this process's own write attempts: a commit it made counts at once, before its
        # notification comes back
        self._writes, self._writes_lock = 0, threading.Lock()
        try:
            with self._connect() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s::integer, 0)", (LOCK_NAMESPACE,))
                conn.execute("CREATE TABLE IF NOT EXISTS twin_schema (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM twin_schema").fetchone()
                if row is None:
                    conn.execute("INSERT INTO twin_schema VALUES (0)")
                version = 0 if row is None else row["version"]
                check_version(version, len(MIGRATIONS), self.location)
                for migration in MIGRATIONS[version:]:
                    conn.execute(migration)
                # a write even when no migration is due: a read-only user fails here
                conn.execute("UPDATE twin_schema SET version = %s", (len(MIGRATIONS),))
        except psycopg.Error as err:
            raise StoreError(f"reservations database {self.location} cannot be used: "
                             f"{' '.join(str(err).split())}") from None

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, **self._options())

    def _options(self) -> dict:
        # libpq counts connect_timeout in whole seconds, at least 2; a lock waited for longer
        # than the busy timeout fails (LockNotAvailable: StoreBusy), set once per connection
        return {"autocommit": False, "row_factory": dict_row,
                "connect_timeout": max(2, math.ceil(self.busy_timeout_s)),
                "options": f"-c lock_timeout={round(self.busy_timeout_s * 1000)}"}

    def _connections(self) -> ConnectionPool:
        """The process's pool, opened at first use (not in `twin serve`'s check before
        serving, nor before uvicorn starts its worker processes)."""
        with self._pool_lock:
            if self._pool is None:
                # a connection is checked as it is taken: after a restart of the database the
                # broken ones are replaced, not handed to a request
                self._pool = ConnectionPool(self.url, min_size=1, max_size=POOL_SIZE,
                                            kwargs=self._options(), open=True,
                                            check=unbroken, name="twin-ledger")
            return self._pool

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
        with self._watch_lock:
            self._closed = True
            if self._watch is not None:
                self._watch.close()
                self._watch = None

    def _version(self, connect: bool = True) -> tuple[int, int, int] | None:
        """Changes announced on CHANNEL since this process started listening, read from the
        listening connection's socket without waiting (a poll, then what has arrived), and this
        process's own write attempts: another replica's commit is counted once its
        notification has arrived, which PostgreSQL sends at the commit (on one network, well
        before the writer's client has its answer and asks another replica); this process's at
        once. None when there is no usable connection (then :meth:`held` reads every time),
        or, unless ``connect``, when one would have to be opened or another thread is using it
        (the event loop never waits here); after a failed connection none is tried for
        RETRY_PAUSE_S x 10. A new connection starts a new generation (what was missed while
        closed is unknown). TCP keepalives close a connection whose server vanished without
        closing it (about 11 s), so that its silence is never taken for "no change"."""
        if not self._watch_lock.acquire(blocking=connect):
            return None
        try:
            if self._watch is None:
                if not connect or self._closed or time.monotonic() < self._retry_at:
                    return None
                self._retry_at = time.monotonic() + 10 * RETRY_PAUSE_S
                self._watch = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=self._options()["connect_timeout"],
                    keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3)
                self._watch.execute(f"LISTEN {CHANNEL}")
                self._generation += 1
                self._retry_at = 0.0
            pg = self._watch.pgconn
            if select.select([self._watch.fileno()], [], [], 0)[0]:
                pg.consume_input()
                if pg.status != psycopg.pq.ConnStatus.OK:
                    raise psycopg.OperationalError("the listening connection was closed")
            while pg.notifies() is not None:
                self._changes += 1
            return self._generation, self._changes, self._writes
        except psycopg.Error:
            if self._watch is not None:
                self._watch.close()
            self._watch = None
            return None
        finally:
            self._watch_lock.release()

    def _run(self, work, write: bool):
        try:
            return self._attempt(work, write)
        finally:
            if write:  # committed, or perhaps: the kept held power is read again
                with self._writes_lock:
                    self._writes += 1

    def _attempt(self, work, write: bool):
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            committing = False
            try:
                with self._connections().connection(
                        timeout=max(RETRY_PAUSE_S, deadline - time.monotonic())) as conn:
                    db = _Db(conn)
                    try:
                        result = work(db)
                    finally:
                        committing = db.committing
                    committing = True
                    conn.commit()
                    return result
            except errors.LockNotAvailable:
                raise StoreBusy("the reservations database is busy with other work: retry "
                                "shortly") from None
            except TRANSIENT:
                if time.monotonic() > deadline:
                    raise StoreBusy("the reservations database is busy with other work: "
                                    "retry shortly") from None
            except psycopg.OperationalError:  # PoolTimeout included
                if committing and write:
                    raise StoreBusy("the connection to the reservations database was lost "
                                    "while committing, so whether this write was made is "
                                    "unknown: retry it with the same Idempotency-Key") from None
                if time.monotonic() + RETRY_PAUSE_S > deadline:
                    raise StoreBusy("the reservations database cannot be reached: retry "
                                    "shortly") from None
                time.sleep(RETRY_PAUSE_S)

    def _reserve_one(self, tenant: str, b: Block, request: str, ttl: timedelta | None,
                     now: datetime) -> Reservation:
        """One block without an idempotency key in one round trip: the site's lock, then the
        check and the insert in one statement (its snapshot taken after the lock: every commit
        before is counted), then COMMIT, sent together (psycopg's pipeline mode), so that the
        lock is held only while PostgreSQL runs them, never while this process, sharing its
        interpreter with other requests, answers a round trip."""
        row = dict(zip(ROW, new_row(tenant, None, request, b, ttl, now), strict=True))
        args = {**row, "now_h": hour_number(now), "capacity_w": b.capacity_w,
                "tolerance_w": CAPACITY_TOLERANCE_W}

        def work(db: _Db):
            with db.conn.pipeline():
                self._lock_sites(db, [b.site])
                cursor = db.conn.execute(RESERVE_ONE, args)
                db.committing = True
                db.conn.commit()
            worst, made = cursor.fetchone().values()
            if not made:
                raise CapacityExceeded(too_much(b, worst))
            return Reservation.from_row({**row, "cancelled": 0})
        return self._run(work, write=True)

    def _lock_sites(self, db: _Db, sites: list[str]) -> None:
        for key in sorted({site_lock_key(s) for s in sites}):
            db.execute("SELECT pg_advisory_xact_lock(?::integer, ?::integer)",
                       (LOCK_NAMESPACE, key))
