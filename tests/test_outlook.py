"""The per-request shortcuts of window search answer as the long way does: calendar hours
mapped onto the climate year from a cache (across a year boundary and 29 February, against the
month, day and hour of each calendar hour), scheduling timelines built without checking again
what was checked at start-up (against the checked constructor), and the ledger's holds read in
one query on kept connections (against what another store committed)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from api.ledger import open_store
from api.store import Block
from tests.conftest import both_ledgers
from twin.outlook import Outlook, calendar_hours
from twin.schedule import SITE_HOUR_FIELDS, Timeline

YEAR = 2025


@pytest.fixture(scope="module")
def outlook():
    return Outlook(year=YEAR)


def climate_hour(t: datetime) -> int:
    """The climate year's hour with the month, day and hour of ``t`` (28 for 29 February):
    hours after 1 January 00:00 of the climate year, counted with datetime."""
    day = 28 if (t.month, t.day) == (2, 29) else t.day
    return int((datetime(YEAR, t.month, day, t.hour) - datetime(YEAR, 1, 1)) / timedelta(hours=1))


@pytest.mark.parametrize("start, n", [
    (datetime(2027, 12, 31, 20, tzinfo=UTC), 10),   # into the next year
    (datetime(2028, 2, 28, 22, tzinfo=UTC), 52),    # 29 February reads 28 February
    (datetime(2026, 7, 1, 0, tzinfo=UTC), 744),     # a whole month
])
def test_cached_climate_positions_match_the_calendar(outlook, start, n):
    calendar = calendar_hours(start, start + timedelta(hours=n))
    expected = [climate_hour(t) for t in calendar]
    assert len(calendar) == n
    for _ in range(2):  # the second answer from the cache
        assert outlook.climate_positions(calendar).tolist() == expected
    # the same hours without an hourly freq: mapped without the cache
    scattered = pd.DatetimeIndex(list(calendar))
    assert scattered.freq is None
    assert outlook.climate_positions(scattered).tolist() == expected
    assert calendar_hours(start, start + timedelta(hours=n)) is calendar  # kept
    with pytest.raises(ValueError, match="read-only"):
        outlook.climate_positions(calendar)[0] = 0
    np.testing.assert_array_equal(outlook.values("pue", ["hami"], calendar)[0],
                                  outlook.ds["pue"].sel(site="hami").values[expected])


def test_unchecked_timeline_equals_the_checked_one(outlook):
    """Outlook.timeline (Timeline.unchecked) against the checked constructor and
    with_committed, the way it was built before, with reservations over the headroom."""
    sites = ["hami", "ulanqab", "golmud"]
    start = datetime(2028, 2, 28, 18, tzinfo=UTC)
    calendar = calendar_hours(start, start + timedelta(hours=30))
    held = np.zeros((3, 30))
    held[0, 3:9] = 2e6
    held[1, :] = outlook.catalog["ulanqab"].it.capacity_w  # full
    held[2, 10] = 1.0
    fast = outlook.timeline(sites, calendar, held)

    def get(v):
        return outlook.values(v, sites, calendar)

    capacity = np.array([outlook.catalog[s].it.capacity_w for s in sites])
    checked = Timeline(site_ids=tuple(sites), time=calendar, it_capacity_w=capacity,
                       it_headroom_w=get("it_available_power"),
                       it_committed_w=np.zeros((3, 30)), marginal_pue=get("marginal_pue"),
                       pue=get("pue"), carbon_intensity_g_per_kwh=get("carbon_intensity"),
                       price_per_kwh=get("electricity_price"),
                       currency=outlook.currency).with_committed(held)
    assert fast.site_ids == checked.site_ids and fast.currency == checked.currency
    assert fast.time.equals(checked.time)
    np.testing.assert_array_equal(fast.it_capacity_w, checked.it_capacity_w)
    for name in SITE_HOUR_FIELDS:
        np.testing.assert_array_equal(getattr(fast, name), getattr(checked, name), name)
        assert not getattr(fast, name).flags.writeable
    assert (fast.it_headroom_w[1] == 0).all()
    with pytest.raises(ValueError, match="committed IT power"):
        outlook.timeline(sites, calendar, -held)


def test_unchecked_needs_every_field():
    with pytest.raises(TypeError, match="exactly the fields"):
        Timeline.unchecked(site_ids=("a",))


@both_ledgers
def test_held_reads_what_another_process_committed(ledger):
    """Two stores on one ledger, as two server processes: each read, on a connection kept
    from the read before, sees what the other committed since; held() counts each site
    asked for (also one asked twice) and no other."""
    now = datetime(2026, 7, 1, tzinfo=UTC)
    one, two = open_store(ledger), open_store(ledger)
    try:
        assert not two.held(["hami", "golmud"], now, 4, now).any()  # a connection now kept
        one.reserve("a", [Block("hami", now + timedelta(hours=1), now + timedelta(hours=3),
                                2e6, 1e7)], None, now)
        one.reserve("b", [Block("golmud", now, now + timedelta(hours=1), 5e5, 1e7),
                          Block("ulanqab", now, now + timedelta(hours=4), 1e6, 1e7)], None, now)
        held = two.held(["hami", "golmud", "hami"], now, 4, now)
        np.testing.assert_array_equal(held, [[0, 2e6, 2e6, 0], [5e5, 0, 0, 0],
                                             [0, 2e6, 2e6, 0]])
    finally:
        one.close()
        two.close()
    with two:  # after close: answers still, and closes again
        assert two.held(["hami"], now, 2, now).tolist() == [[0, 2e6]]


@both_ledgers
def test_held_kept_between_reads_only_while_the_ledger_is_unchanged(ledger):
    """held() answers again from memory only while no connection committed anything (another
    store, as another server process, or this store itself) and no hold it counted expired;
    a clock set back reads again. SQLite sees a commit at once (data_version); PostgreSQL
    once the commit's notification has arrived (LISTEN/NOTIFY, sent at the commit: on
    loopback well within the pause ``announced`` gives it)."""
    now = datetime(2026, 7, 1, tzinfo=UTC)
    one, two = open_store(ledger), open_store(ledger)
    hour = timedelta(hours=1)

    def announced():
        if ledger.startswith("postgresql"):
            time.sleep(0.2)

    try:
        assert two.held_if_unchanged(["hami"], now, 4, now) is None  # nothing read yet
        assert not two.held(["hami"], now, 4, now).any()
        kept = two.held_if_unchanged(["hami"], now, 4, now)
        assert kept is not None and not kept.any()
        assert two.held_if_unchanged(["hami"], now, 5, now) is None  # other hours: not read
        one.reserve("a", [Block("hami", now, now + 2 * hour, 2e6, 1e7)], now - now, now)
        announced()
        assert two.held_if_unchanged(["hami"], now, 4, now) is None  # another's commit
        assert two.held(["hami"], now, 4, now).tolist() == [[0, 0, 0, 0]]  # ttl 0: expired
        two.reserve("b", [Block("hami", now, now + 2 * hour, 1e6, 1e7)], 2 * hour, now)
        announced()
        assert two.held_if_unchanged(["hami"], now, 4, now) is None  # its own commit
        assert two.held(["hami"], now, 4, now).tolist() == [[1e6, 1e6, 0, 0]]
        later = now + 1.5 * hour
        assert two.held_if_unchanged(["hami"], now, 4, later).tolist() == [[1e6, 1e6, 0, 0]]
        # b expires 2 h after now: from then it is not counted, and the kept answer is not used
        assert two.held_if_unchanged(["hami"], now, 4, now + 2 * hour) is None
        assert not two.held(["hami"], now, 4, now + 2 * hour).any()
        assert two.held_if_unchanged(["hami"], now, 4, now) is None  # the clock set back
        made, _ = one.reserve("a", [Block("hami", now + 2 * hour, now + 3 * hour, 5e5, 1e7)],
                              None, now)
        announced()
        two.held(["hami"], now, 4, now)
        assert two.held_if_unchanged(["hami"], now, 4, now) is not None
        one.cancel(made[0].id, "a")
        announced()
        assert two.held_if_unchanged(["hami"], now, 4, now) is None  # a cancel is a change
        assert two.held(["hami"], now, 4, now).tolist() == [[1e6, 1e6, 0, 0]]
    finally:
        one.close()
        two.close()
