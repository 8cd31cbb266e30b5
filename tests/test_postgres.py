"""The PostgreSQL ledger (api.store_postgres) against a real server (tests/postgres_server.py;
skipped, saying why, where none can start). What the SQLite ledger is tested for runs against
both (``both_ledgers`` in test_api.py and test_abuse.py); here what is PostgreSQL's own: the
versioned schema and its start-up errors, writers on separate connections, and `twin serve`
replicas on one database: parallel reservations from two tenants never exceed a site's
capacity and get no 5xx; a replica killed with SIGKILL mid-write, or the database killed and
restarted, loses no confirmed reservation; a reservation made through one replica is seen by
the next window search on the other."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest

from api.ledger import open_store
from api.store import Block, CapacityExceeded, StoreError
from sites import get_site
from tests.test_service import ROOT, START, Server, reservation, seen_by_the_next_search

psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL ledger needs psycopg")
store_postgres = pytest.importorskip("api.store_postgres")

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def schema_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version FROM twin_schema").fetchone()[0]


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM reservations").fetchone()[0]


def held_w(url: str, site: str, hours: int) -> np.ndarray:
    """IT power [W] held at ``site`` in each of ``hours`` from START, read from the ledger."""
    with open_store(url) as store:
        return store.held([site], START, hours, datetime.now(UTC))[0]


def test_the_schema_is_created_at_its_version_and_reopening_keeps_everything(postgres):
    url = postgres.new_database()
    with open_store(url) as store:
        assert schema_version(url) == len(store_postgres.MIGRATIONS)
        made, _ = store.reserve("t", [Block("golmud", NOW, NOW + timedelta(hours=3), 1e6,
                                            2e6)], None, NOW)
    with open_store(url) as again:  # a restart of the service
        assert again.get(made[0].id) == made[0] and count(url) == 1
    assert schema_version(url) == len(store_postgres.MIGRATIONS)


def test_an_upgrade_applies_only_the_new_migrations_and_keeps_the_reservations(postgres,
                                                                            monkeypatch):
    url = postgres.new_database()
    with open_store(url) as store:
        made, _ = store.reserve("t", [Block("hami", NOW, NOW + timedelta(hours=2), 5e5, 2e6)]
                                * 3, None, NOW)
    # the next version of the twin adds a column: a migration after those already applied
    upgrade = "ALTER TABLE reservations ADD COLUMN note TEXT"
    monkeypatch.setattr(store_postgres, "MIGRATIONS", (*store_postgres.MIGRATIONS, upgrade))
    with open_store(url) as upgraded:
        assert schema_version(url) == len(store_postgres.MIGRATIONS)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM reservations WHERE note IS NULL"
                                ).fetchone()[0] == 3
        assert [upgraded.get(r.id) for r in made] == made
    open_store(url)  # nothing left to apply: the column is not added twice


def test_a_schema_newer_than_the_twin_is_refused_in_one_line(postgres):
    url = postgres.new_database()
    open_store(url)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE twin_schema SET version = 99")
    with pytest.raises(StoreError, match="schema version 99, newer") as err:
        open_store(url)
    assert "\n" not in str(err.value)


def test_replicas_starting_together_migrate_once(postgres):
    url = postgres.new_database()
    with ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(lambda _: open_store(url), range(6)))
    assert len(stores) == 6 and schema_version(url) == len(store_postgres.MIGRATIONS)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM twin_schema").fetchone()[0] == 1


def test_a_database_that_cannot_be_used_is_refused_in_one_line_without_the_password(postgres):
    from tests.postgres_server import free_port

    missing = postgres.url("no_such_database").replace("twin@", "twin:s3cret@")
    port = free_port()  # nothing listens there
    nobody = f"postgresql://twin:s3cret@127.0.0.1:{port}/twin"
    for url, words in ((missing, "does not exist"), (nobody, f"port {port} failed")):
        with pytest.raises(StoreError) as err:
            open_store(url, busy_timeout_s=2)
        text = str(err.value)
        assert words in text and "\n" not in text and "s3cret" not in text, text
        assert "twin:***@127.0.0.1" in text
    # twin serve: exit code 2, one line
    run = subprocess.run([sys.executable, "-c", "from api.cli import app; app()", "serve",
                          "--port", "1", "--db", missing], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and "does not exist" in lines[0], run.stderr
    assert "s3cret" not in run.stderr


def test_writers_on_separate_connections_never_oversubscribe(postgres):
    """24 writers through two stores (two replicas' connections) each hold 0.5 MW at golmud
    and at hami over the same six hours, taking the two sites in either order: with 3 MW at
    each, exactly six batches fit, and no writer waits forever on another."""
    url = postgres.new_database()
    stores = [open_store(url), open_store(url)]
    end = NOW + timedelta(hours=6)
    pair = [Block("golmud", NOW, end, 5e5, 3e6), Block("hami", NOW, end, 5e5, 3e6)]

    def attempt(i):
        try:
            stores[i % 2].reserve(f"tenant-{i % 3}", pair[::1 if i % 4 < 2 else -1], None, NOW)
            return "held"
        except CapacityExceeded:
            return "full"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(attempt, range(24)))
    assert outcomes.count("held") == 6, outcomes
    held = stores[0].held(["golmud", "hami"], NOW, 6, NOW)
    for store in stores:
        store.close()
    np.testing.assert_allclose(held, 3e6)


def test_single_holds_racing_through_two_stores_never_oversubscribe(postgres):
    """Single holds without an idempotency key (one round trip: the lock, then the check and
    the insert in one statement): 16 writers through two stores released together, five times,
    each time for new hours where exactly 4 fit. The site carries 20,000 cancelled holds over
    those hours, which each check reads past: without the site's lock the checks overlap."""
    url = postgres.new_database()
    stores = [open_store(url), open_store(url)]
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO reservations (id, tenant, request, site, start_h, end_h, "
                     "it_power_w, created, expires_h, cancelled) SELECT 'old-' || i, 'x', '', "
                     "'golmud', 0, 10000000, 1e6, '', 1e7, 1 FROM generate_series(1, 20000) i")
    start = threading.Barrier(16)

    def attempt(i, hours):
        start.wait()
        try:
            stores[i % 2].reserve(f"tenant-{i % 3}", [Block("golmud", hours, hours + timedelta(
                hours=3), 5e5, 2e6)], None, NOW)
            return "held"
        except CapacityExceeded:
            return "full"

    try:
        for k in range(5):
            hours = NOW + timedelta(hours=10 * k)
            with ThreadPoolExecutor(16) as pool:
                outcomes = list(pool.map(attempt, range(16), [hours] * 16))
            assert outcomes.count("held") == 4, (k, outcomes)
            np.testing.assert_allclose(stores[0].held(["golmud"], hours, 3, NOW), [[2e6] * 3])
    finally:
        for store in stores:
            store.close()


# `twin serve` replicas: separate processes on their own ports, one database


@pytest.fixture(scope="module")
def replicas(postgres):
    url = postgres.new_database()
    servers = [Server(url), Server(url)]
    with ThreadPoolExecutor(2) as pool:  # they simulate the sites at once
        list(pool.map(Server.start, servers))
    yield servers
    for s in servers:
        s.stop()


def test_replicas_take_parallel_reservations_without_oversubscribing(replicas):
    capacity_mw = get_site("golmud").it.capacity_w / 1e6
    body = reservation(START, 6, 0.5)

    def attempt(i):
        with httpx.Client(base_url=replicas[i % 2].url, timeout=60) as c:
            return c.post("/v1/reservations", json=body,
                          headers={"X-API-Key": "key-a" if i % 3 else "key-b"}).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(attempt, range(40)))
    assert set(codes) <= {201, 409}, codes
    assert codes.count(201) == int(capacity_mw // 0.5)
    held = held_w(replicas[0].db, "golmud", 6)
    assert held.max() <= capacity_mw * 1e6 + 1e-6


def test_a_reservation_through_one_replica_is_seen_by_the_next_search_on_the_other(replicas):
    """Each replica simulates the timeline in memory and reads the ledger at every search:
    the bound is the next request (for a hold and for its cancel)."""
    seen_by_the_next_search(replicas)


def writers(urls: list[str], seconds_before: float, disrupt, seconds_after: float,
            site: str = "ulanqab", span_h: int = 500):
    """Writers (four per URL) holding 0.1 MW for 2 h at ``site``, spread over ``span_h``
    hours from START: ``disrupt()`` after ``seconds_before``, then ``seconds_after`` more.
    The ids confirmed (201) and every status code answered."""
    confirmed, codes, stop = [], [], []

    def writer(w):
        with httpx.Client(base_url=urls[w % len(urls)], timeout=30) as c:
            k = 0
            while not stop:
                start = START + timedelta(hours=(w * 97 + k) % span_h)
                try:
                    r = c.post("/v1/reservations", json=reservation(start, 2, 0.1, site=site),
                               headers={"X-API-Key": "key-a" if w % 2 else "key-b"})
                except httpx.TransportError:  # its replica was killed
                    return
                codes.append(r.status_code)
                if r.status_code == 201:
                    confirmed.append(r.json()["id"])
                k += 1

    with ThreadPoolExecutor(4 * len(urls)) as pool:
        futures = [pool.submit(writer, w) for w in range(4 * len(urls))]
        time.sleep(seconds_before)
        disrupt()
        time.sleep(seconds_after)
        stop.append(True)
        for f in futures:
            f.result()
    return confirmed, codes


def kept(url: str) -> set[str]:
    """Every reservation id of both tenants, listed page by page through the service."""
    ids = set()
    for key in ("key-a", "key-b"):
        with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": key}) as c:
            mine, total = set(), 1
            while len(mine) < total:
                page = c.get("/v1/reservations", params={"offset": len(mine)})
                assert page.status_code == 200 and page.json(), page.text
                mine |= {r["id"] for r in page.json()}
                total = int(page.headers["X-Total-Count"])
        ids |= mine
    return ids


def test_a_replica_killed_mid_write_loses_no_confirmed_reservation(replicas):
    killed, survivor = replicas
    confirmed, codes = writers([killed.url, survivor.url], 3, killed.kill, 2)
    assert len(confirmed) > 10, "the writers should have been confirmed before the kill"
    assert set(codes) <= {201, 409}, sorted(set(codes))
    killed.start()  # the same database
    assert set(confirmed) <= kept(killed.url) == kept(survivor.url)
    held = held_w(survivor.db, "ulanqab", 502)
    assert np.all(held <= get_site("ulanqab").it.capacity_w + 1e-6)


def test_the_database_killed_and_restarted_loses_no_confirmed_reservation(tmp_path):
    """PostgreSQL itself killed with SIGKILL (its host crashing) under two replicas' writes,
    and started again a second later: no 5xx but 503 (retry) while it is away, and every
    reservation confirmed before, during or after is kept."""
    from tests.postgres_server import PostgresServer

    try:
        database = PostgresServer().start()
    except RuntimeError as err:
        pytest.skip(f"no PostgreSQL server: {err}")
    servers = []
    try:
        url = database.new_database()
        servers = [Server(url), Server(url)]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Server.start, servers))

        def crash():
            database.kill()
            time.sleep(1)
            database.start()

        confirmed, codes = writers([s.url for s in servers], 3, crash, 3, site="golmud")
        assert len(confirmed) > 10
        assert set(codes) <= {201, 409, 503}, sorted(set(codes))
        assert set(confirmed) <= kept(servers[0].url)
        held = held_w(url, "golmud", 502)
        assert np.all(held <= get_site("golmud").it.capacity_w + 1e-6)
    finally:
        for s in servers:
            s.stop()
        database.stop()


def test_after_a_database_restart_the_dead_pooled_connections_are_not_used(monkeypatch):
    """The pool's connections all die with the database; after it is back, writes and reads
    are answered at once, none tried on a dead connection and tried again after a pause: the
    pool's check (a poll of each socket, api.store_postgres.unbroken) replaced them first."""
    from tests.postgres_server import PostgresServer

    try:
        database = PostgresServer().start()
    except RuntimeError as err:
        pytest.skip(f"no PostgreSQL server: {err}")
    try:
        url = database.new_database()
        with open_store(url) as store, ThreadPoolExecutor(4) as pool:
            def hold(k):
                start = NOW + timedelta(hours=k)
                return store.reserve("t", [Block("hami", start, start + timedelta(hours=1),
                                                  1e5, 1e7)], None, NOW)
            list(pool.map(hold, range(8)))  # several connections in the pool
            database.kill()
            database.start()
            time.sleep(0.5)  # the killed connections' sockets closed
            pauses = []
            monkeypatch.setattr(store_postgres.time, "sleep", pauses.append)
            made = list(pool.map(hold, range(8, 16)))
            assert len(made) == 8
            assert store.held(["hami"], NOW, 16, NOW).tolist() == [[1e5] * 16]
            assert not pauses  # no retry
    finally:
        monkeypatch.undo()
        database.stop()


def test_twin_serve_takes_the_database_url_from_the_environment(postgres, tmp_path):
    url = postgres.new_database()
    server = Server(None, env={"TWIN_DB_URL": url}, cwd=tmp_path).start()
    try:
        made = httpx.post(f"{server.url}/v1/reservations", json=reservation(START, 2, 0.1),
                          headers={"X-API-Key": "key-a"}, timeout=30)
        assert made.status_code == 201, made.text
    finally:
        server.stop()
    assert count(url) == 1 and not list(tmp_path.glob("*.sqlite3"))


def test_a_replica_keeps_what_it_read_until_another_commits(postgres):
    """Searches re-use the held power a replica last read while PostgreSQL has announced no
    change (LISTEN/NOTIFY: a trigger notifies at every commit to the ledger); another
    replica's hold, and its cancel, are announced and read at the next search after the
    notification arrives (on loopback: by the time the writer has its answer)."""
    url = postgres.new_database()
    capacity = get_site("hami").it.capacity_w
    with open_store(url) as a, open_store(url) as b:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        start = now + timedelta(hours=2)

        def unchanged():
            return a.held_if_unchanged(["hami"], start, 4, now)

        first = a.held(["hami"], start, 4, now)
        assert not first.any()
        assert unchanged() is first  # kept: no round trip to the database
        made, _ = b.reserve("t", [Block("hami", start, start + timedelta(hours=2), 1e6,
                                        capacity)], None, now)
        for _ in range(100):  # the notification is on its way once b's commit returned
            if unchanged() is None:
                break
            time.sleep(0.01)
        assert unchanged() is None
        assert a.held(["hami"], start, 4, now)[0].tolist() == [1e6, 1e6, 0, 0]
        assert unchanged() is not None
        b.cancel(made[0].id, "t")
        deadline = time.monotonic() + 1
        while unchanged() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert a.held(["hami"], start, 4, now)[0].tolist() == [0, 0, 0, 0]


def test_a_replica_sees_its_own_reservation_at_once(postgres, monkeypatch):
    """A client that has its 201 may search the same replica at once: the replica counts its
    own commits without waiting for their notification (held here as in flight: the
    listening socket's poll says nothing has arrived)."""
    import types

    monkeypatch.setattr(store_postgres, "select",
                        types.SimpleNamespace(select=lambda *a: ([], [], [])))
    url = postgres.new_database()
    capacity = get_site("hami").it.capacity_w
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now + timedelta(hours=2)
    with open_store(url) as a:
        for _ in range(5):
            assert a.held(["hami"], start, 2, now) is not None
            assert a.held_if_unchanged(["hami"], start, 2, now) is not None  # kept
            a.reserve("t", [Block("hami", start, start + timedelta(hours=2), 1e5, capacity)],
                      None, now)
            assert a.held_if_unchanged(["hami"], start, 2, now) is None  # no pause
