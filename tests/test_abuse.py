"""The service under abuse (issue 19): bad input anywhere gets a clear 4xx (or a correct
answer), never a wrong number, a 500, a locked database or gigabytes of memory. Each test is
one class of abuse that was reproduced against the service."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.ledger import open_store
from api.settings import Settings, parse_api_keys
from api.store import Block, SQLiteStore, StoreError
from tests.conftest import both_ledgers, ledger_settings
from twin.outlook import Outlook

NOW = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
KEYS = {"key-a": "tenant-a", "key-b": "tenant-b"}
A = {"X-API-Key": "key-a"}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    return Outlook(year=2025, seed=0, battery_policy="balance")


def make_client(tmp_path, data, ledger=None, **overrides):
    where = ledger_settings(ledger) if ledger else {"db_path": tmp_path / "r.sqlite3"}
    config = Settings(**where, api_keys=KEYS, **overrides)
    return TestClient(create_app(config, data=data, clock=lambda: NOW),
                      raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path, data):
    with make_client(tmp_path, data) as c:
        yield c


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def block(site="golmud", start=NOW, hours=4, mw=1.0) -> dict:
    return {"site": site, "start": iso(start), "end": iso(start + timedelta(hours=hours)),
            "it_power_w": mw * 1e6}


def long_job(i: int, hours: int = 743, duration: int = 400, **extra) -> dict:
    return {"name": f"j{i}", "it_power_w": 1e5, "duration_h": duration,
            "earliest_start": iso(NOW), "deadline": iso(NOW + timedelta(hours=hours)), **extra}


# 1. plans: the problem's size is bounded before it is built


def test_a_plan_too_large_to_build_is_refused_at_once_naming_the_limit(client):
    """200 long jobs over a 743-hour horizon (an 18.7 KB body) would need billions of matrix
    entries: refused in well under a second, before any is allocated."""
    body = {"jobs": [long_job(i) for i in range(200)]}
    r = client.post("/v1/plans", json=body)
    assert r.status_code == 422, r.text
    assert "TWIN_MAX_PLAN_NONZEROS" in r.json()["detail"]


def test_plans_beyond_the_concurrency_limit_get_503_with_retry_after(tmp_path, data,
                                                                     monkeypatch):
    """Each plan may take up to max_plan_nonzeros of memory: with one slot, a second plan
    while the first is solved gets 503 and Retry-After, not a second model in memory."""
    import threading

    entered, release, real_plan = threading.Event(), threading.Event(), data.plan

    def slow_plan(*args, **kwargs):
        entered.set()
        release.wait(30)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(data, "plan", slow_plan)
    body = {"jobs": [long_job(0, hours=48, duration=6, sites=["golmud"])]}
    answers = []
    with make_client(tmp_path, data, max_concurrent_plans=1) as c:
        first = threading.Thread(target=lambda: answers.append(c.post("/v1/plans", json=body)))
        first.start()
        assert entered.wait(30)
        busy = c.post("/v1/plans", json=body)
        release.set()
        first.join(60)
        assert busy.status_code == 503 and "MAX_CONCURRENT_PLANS" in busy.json()["detail"]
        assert int(busy.headers["Retry-After"]) >= 1
        assert answers[0].status_code == 200, answers[0].text
        assert c.post("/v1/plans", json=body).status_code == 200  # the slot is free again


def test_the_plan_size_limit_is_a_setting(tmp_path, data):
    small = {"jobs": [long_job(i, hours=48, duration=6, sites=["golmud", "hami"])
                      for i in range(3)]}
    with make_client(tmp_path, data, max_plan_nonzeros=100) as c:
        r = c.post("/v1/plans", json=small)
        assert r.status_code == 422 and "at most 100" in r.json()["detail"]
    with make_client(tmp_path, data) as c:
        assert c.post("/v1/plans", json=small).status_code == 200


# 2. batches: linear capacity check, capped size, 503 on lock contention


@both_ledgers
def test_a_large_batch_is_checked_in_linear_time(ledger):
    with open_store(ledger) as store:
        blocks = [Block("golmud", NOW + timedelta(hours=i % 700),
                        NOW + timedelta(hours=i % 700 + 40), 1.0, 1e9) for i in range(4000)]
        t0 = time.perf_counter()
        held, created = store.reserve("t", blocks, None, NOW)
        assert created and len(held) == 4000
        assert time.perf_counter() - t0 < 10  # 91 s when quadratic
        # the batch's own blocks still count against each other
        over = [Block("hami", NOW, NOW + timedelta(hours=3), 6.0, 10.0),
                Block("hami", NOW + timedelta(hours=2), NOW + timedelta(hours=5), 6.0, 10.0)]
        with pytest.raises(Exception, match="block 1 of 2"):
            store.reserve("t", over, None, NOW)


def test_a_batch_over_the_cap_is_refused_naming_the_setting(tmp_path, data):
    with make_client(tmp_path, data, max_batch_blocks=3) as c:
        r = c.post("/v1/reservations:batch", json={"reservations": [block()] * 4}, headers=A)
        assert r.status_code == 422 and "TWIN_MAX_BATCH_BLOCKS" in r.json()["detail"]


@both_ledgers
def test_a_locked_database_gets_503_with_retry_after(tmp_path, data, ledger):
    with make_client(tmp_path, data, ledger, db_busy_timeout_s=0.2) as c:
        if ledger.startswith("postgres"):
            import psycopg

            other = psycopg.connect(ledger)
            # another session holds the table (an operator's migration, say)
            other.execute("LOCK TABLE reservations IN ACCESS EXCLUSIVE MODE")
        else:
            other = sqlite3.connect(ledger, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            r = c.post("/v1/reservations", json=block(), headers=A)
        finally:
            other.rollback()
            other.close()
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] and "busy" in r.json()["detail"]
        assert c.post("/v1/reservations", json=block(), headers=A).status_code == 201


# 3. operator errors: refused at start-up in one line


@pytest.mark.parametrize("kind", ["missing_folder", "directory", "garbage", "truncated",
                                  "read_only", "corrupted"])
def test_a_bad_database_is_refused_at_start_up(tmp_path, kind, request):
    path = tmp_path / "r.sqlite3"
    if kind == "missing_folder":
        path = tmp_path / "nowhere" / "r.sqlite3"
    elif kind == "directory":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(b"not a database at all\n" * 100)
    else:
        store = SQLiteStore(path)
        store.reserve("t", [Block("golmud", NOW, NOW + timedelta(hours=2), 1.0, 1e9)] * 200,
                      None, NOW)
        sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        raw = path.read_bytes()
        if kind == "truncated":
            path.write_bytes(raw[:len(raw) // 2 + 100])
        elif kind == "corrupted":
            page = 4096
            path.write_bytes(raw[:page * 2] + b"\xff" * page + raw[page * 3:])
        else:
            path.chmod(0o444)
            if _writes(path):  # root ignores permissions: make the file immutable instead
                _immutable(request, path)
    with pytest.raises(StoreError) as err:
        SQLiteStore(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_postgresql_url_without_psycopg_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "api.store_postgres", None)  # as if psycopg were missing
    with pytest.raises(StoreError, match=r"needs psycopg: pip install 'desert-twin\[postgres\]'"):
        open_store("postgresql://twin@127.0.0.1:1/twin")


def _writes(path: Path) -> bool:
    try:
        with open(path, "ab"):
            return True
    except OSError:
        return False


def _immutable(request, path: Path):
    """``path`` made immutable (chattr +i: not even root writes it) until the test ends; the
    test skips where the file system or the process cannot do that."""
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True) \
        if shutil.which("chattr") else None
    if made is None or made.returncode != 0 or _writes(path):
        if made is not None and made.returncode == 0:
            subprocess.run(["chattr", "-i", str(path)])
        pytest.skip("running as root, where a read-only file is writable, and chattr +i "
                    f"is not available here ({made.stderr.strip() if made else 'no chattr'})")
    request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(path)]))


def serve(tmp_path, *args, env=None):
    import os
    return subprocess.run([sys.executable, "-c", "from api.cli import app; app()", "serve",
                           "--port", "1", *args], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, **(env or {})})


def test_twin_serve_refuses_a_bad_database_or_year_in_one_line(tmp_path):
    (tmp_path / "garbage.sqlite3").write_bytes(b"garbage" * 1000)
    for args, env, words in (
            (["--db", str(tmp_path / "nowhere" / "r.sqlite3")], None, "nowhere"),
            (["--db", str(tmp_path / "garbage.sqlite3")], None, "garbage.sqlite3"),
            ([], {"TWIN_YEAR": "99999"}, "TWIN_YEAR"),
            ([], {"TWIN_DB_URL": "mysql://db/twin"}, "TWIN_DB_URL: Value error, not a Postgre")):
        run = serve(tmp_path, *args, env=env)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2, run.stderr
        assert len(lines) == 1 and words in lines[0], run.stderr


# 4. silent coercion and values that make no sense


@pytest.mark.parametrize("change", [{"it_power_w": True}, {"it_power_w": "1000000"},
                                    {"it_power_w": 5e-324}, {"ttl_s": "60"}, {"ttl_s": 60.5},
                                    {"ttl_s": True}])
def test_request_numbers_are_not_coerced(client, change):
    r = client.post("/v1/reservations", json={**block(), **change}, headers=A)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("change", [{"duration_h": "6"}, {"duration_h": 6.0},
                                    {"it_power_w": False}, {"interruptible": "yes"},
                                    {"interruptible": 1}])
def test_job_fields_are_not_coerced(client, change):
    job = {"it_power_w": 1e6, "duration_h": 6, "deadline": iso(NOW + timedelta(hours=48)),
           **change}
    assert client.post("/v1/windows:search", json=job).status_code == 422


@pytest.mark.parametrize("start, words", [(datetime(1900, 1, 1, tzinfo=UTC), "past"),
                                          (datetime(2020, 1, 1, tzinfo=UTC), "past"),
                                          (NOW + timedelta(days=60), "horizon")])
def test_blocks_in_the_past_or_beyond_the_horizon_are_refused(client, start, words):
    r = client.post("/v1/reservations", json=block(start=start), headers=A)
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_an_idempotency_key_replayed_with_another_ttl_is_a_conflict(client):
    first = client.post("/v1/reservations", json={**block(), "ttl_s": 60},
                        headers={**A, "Idempotency-Key": "k"})
    again = client.post("/v1/reservations", json={**block(), "ttl_s": 3600},
                        headers={**A, "Idempotency-Key": "k"})
    assert first.status_code == 201 and again.status_code == 409, again.text


def test_a_key_does_not_alias_a_block_of_another_batch(client):
    made = client.post("/v1/reservations:batch", json={"reservations": [block(), block("hami")]},
                       headers={**A, "Idempotency-Key": "X"})
    assert made.status_code == 201
    single = client.post("/v1/reservations", json=block("hami"),
                         headers={**A, "Idempotency-Key": "X#1"})
    assert single.status_code == 201, single.text  # a new reservation, not a replay
    assert single.json()["id"] not in [r["id"] for r in made.json()]


# 5. timeseries on whole hours


@pytest.mark.parametrize("params", [{"start": "2026-07-01T10:30:00Z"},
                                    {"start": "2026-07-01T10:00:00Z",
                                     "end": "2026-07-01T12:00:01Z"},
                                    {"start": "2026-07-01T16:00:00+05:30"}])
def test_timeseries_refuses_times_that_are_not_whole_hours(client, params):
    r = client.get("/v1/sites/hami/timeseries", params=params)
    assert r.status_code == 422 and "whole" in r.json()["detail"]
    # the same hours in another zone are whole UTC hours
    ok = client.get("/v1/sites/hami/timeseries", params={"start": "2026-07-01T18:00:00+08:00"})
    assert ok.status_code == 200 and ok.json()["time"][0].startswith("2026-07-01T10:00")


# 6. keys


def test_a_malformed_key_list_is_not_echoed_and_duplicates_are_refused():
    with pytest.raises(ValueError) as err:
        parse_api_keys("good:team,s3cr3t-key-without-tenant")
    assert "s3cr3t" not in str(err.value) and "2" in str(err.value)
    with pytest.raises(ValueError, match="twice"):
        parse_api_keys("k:team-a,k:team-b")


def test_keys_are_compared_in_constant_time():
    source = (ROOT / "api" / "deps.py").read_text()
    assert "compare_digest" in source


# 7. bounded fuzzing: values of any JSON type, large and small, in every field of the bodies


JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([5e-324, 1e308, -0.0]),
    st.text(max_size=30), st.sampled_from(["2026-07-01T00:00:00Z", "2026-07-01T00:30:00+05:30",
                                           "1900-01-01T00:00:00Z", "9999-12-31T23:00:00Z"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2))


def mutated(base: dict):
    return st.dictionaries(st.sampled_from(sorted(base)), JSON_VALUES, max_size=len(base)).map(
        lambda change: {**base, **change})


BLOCK = block()
JOB = {"it_power_w": 1e6, "duration_h": 6, "earliest_start": iso(NOW),
       "deadline": iso(NOW + timedelta(hours=48)), "sites": ["golmud", "hami"],
       "interruptible": False}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(one=mutated({**BLOCK, "ttl_s": 60}), many=st.lists(mutated(BLOCK), min_size=1,
                                                           max_size=50),
       job=mutated(JOB), jobs=st.lists(mutated(JOB), min_size=1, max_size=20))
def test_fuzzed_bodies_get_an_answer_or_a_4xx_never_a_500(fuzz_client, one, many, job, jobs):
    for path, body, headers in (("/v1/reservations", one, A),
                                ("/v1/reservations:batch", {"reservations": many}, A),
                                ("/v1/windows:search", job, {}),
                                ("/v1/plans", {"jobs": jobs, "time_limit_s": 1}, {})):
        r = fuzz_client.post(path, json=body, headers=headers)
        assert r.status_code < 500, (path, body, r.text)
        if r.status_code >= 400:
            assert r.json()["detail"], (path, body)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory, data):
    with make_client(tmp_path_factory.mktemp("fuzz"), data) as c:
        yield c
