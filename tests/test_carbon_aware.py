"""The Green Software Foundation Carbon Aware SDK's Web API over the twin (api/routes/
carbon_aware.py), against the SDK's contract as its sources state it: the DTOs' fields
(EmissionsForecastDTO, EmissionsDataDTO, EmissionsData, CarbonIntensityDTO, Location,
ValidationProblemDetails), windows of RollingAverage (start at dataStartAt, one per data point,
time-weighted, none ending after dataEndAt), the raw points of FilterByDuration without a
windowSize, the validation rules and messages (CarbonAwareParameters, EmissionsForecast.Validate)
and the operation ids (the controllers' method names). Expected values are computed by hand
from the twin's hourly values, read from the climate-year Dataset (typical-year mode: a
2026 calendar hour is the 2025 climate year's hour with the same month, day and time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from twin.outlook import Outlook, time_weighted_means

NOW = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)  # half past: the current hour is 00:00
FORECAST = "/emissions/forecasts/current"
PROBLEM_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.1"
FORECAST_FIELDS = {"generatedAt", "requestedAt", "location", "dataStartAt", "dataEndAt",
                   "windowSize", "optimalDataPoints", "forecastData"}
POINT_FIELDS = {"location", "timestamp", "duration", "value"}


@pytest.fixture(scope="module")
def data():
    return Outlook(year=2025, seed=0, battery_policy="balance")


@pytest.fixture
def client(tmp_path, data):
    with TestClient(create_app(Settings(db_path=tmp_path / "r.sqlite3"), data=data,
                               clock=lambda: NOW), raise_server_exceptions=False) as c:
        yield c


def hourly(data, site: str, first: str, n: int) -> np.ndarray:
    """The site's electricity carbon intensity [g/kWh] for n hours from ``first`` (a 2026 UTC
    hour), independently of the service: the climate year's grid share of the facility's
    supply times the grid's intensity."""
    t0 = np.datetime64(first.replace("2026", "2025", 1))
    ds = data.ds.sel(site=site, time=slice(t0, t0 + np.timedelta64(n - 1, "h")))
    return (ds["grid_import"] / ds["facility_power"] * ds["carbon_intensity"]).values


def forecast(client, **params) -> dict:
    r = client.get(FORECAST, params={"location": "shanghai", **params})
    assert r.status_code == 200, r.text
    assert r.headers["X-Data-Mode"] == "typical_year"
    (answer,) = r.json()
    assert set(answer) == FORECAST_FIELDS
    assert all(set(p) == POINT_FIELDS for p in answer["forecastData"])
    return answer


def windows(answer) -> list[tuple[str, int, float]]:
    return [(p["timestamp"], p["duration"], p["value"]) for p in answer["forecastData"]]


def problem(r, status: int = 400) -> dict[str, list[str]]:
    """The answer as ASP.NET's ValidationProblemDetails; its errors."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == PROBLEM_TYPE and body["status"] == status
    assert body["title"] and body["detail"]
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v)
               for v in body["errors"].values())
    return body["errors"]


def test_time_weighted_means_weigh_each_hour_by_the_part_covered():
    """The SDK's AverageOverPeriod rule on its own worked case: hourly 30, 100, 50 from 01:00;
    01:30-03:30 counts a quarter, a half and a quarter: 70. Whole zero hours give exactly 0."""
    origin = datetime(2022, 1, 1, 1, tzinfo=UTC)
    values = np.array([[30.0, 100.0, 50.0], [0.0, 0.0, 7.0]])
    means = time_weighted_means(values, origin,
                                [origin + timedelta(minutes=30), origin, origin],
                                [origin + timedelta(minutes=150), origin + timedelta(hours=3),
                                 origin + timedelta(hours=2)])
    np.testing.assert_allclose(means[0], [70.0, 60.0, 65.0])
    assert means[1, 2] == 0.0
    with pytest.raises(ValueError, match="within"):
        time_weighted_means(values, origin, [origin], [origin + timedelta(hours=4)])


def test_windows_end_by_data_end_at(client, data):
    """Hourly values v0..v4 from 00:00; 3-hour windows between 00:00 and 04:00 start at 00:00
    and 01:00 only: the one at 02:00 would end at 05:00, after dataEndAt, even though it is
    lower (the optimum may not end after the client's deadline)."""
    v = hourly(data, "shanghai", "2026-07-01T00:00", 5)
    answer = forecast(client, dataStartAt="2026-07-01T00:00:00Z",
                      dataEndAt="2026-07-01T04:00:00Z", windowSize=180)
    got = windows(answer)
    assert [(t, d) for t, d, _ in got] == [("2026-07-01T00:00:00Z", 180),
                                          ("2026-07-01T01:00:00Z", 180)]
    np.testing.assert_allclose([x for *_, x in got], [v[0:3].mean(), v[1:4].mean()])
    assert v[2:5].mean() < min(v[0:3].mean(), v[1:4].mean())  # the window left out
    assert answer["optimalDataPoints"] == [answer["forecastData"][1]]
    assert answer["windowSize"] == 180
    assert (answer["dataStartAt"], answer["dataEndAt"]) == ("2026-07-01T00:00:00Z",
                                                            "2026-07-01T04:00:00Z")
    assert answer["location"] == "shanghai"
    assert answer["generatedAt"] == "2026-07-01T00:00:00Z"   # the forecast's first hour
    assert answer["requestedAt"] == "2026-07-01T00:30:00Z"   # the request's time


def test_window_of_90_minutes_is_time_weighted(client, data):
    v = hourly(data, "shanghai", "2026-07-01T00:00", 3)
    answer = forecast(client, dataStartAt="2026-07-01T00:00:00Z",
                      dataEndAt="2026-07-01T03:00:00Z", windowSize=90)
    got = windows(answer)
    assert [(t, d) for t, d, _ in got] == [("2026-07-01T00:00:00Z", 90),
                                          ("2026-07-01T01:00:00Z", 90)]
    np.testing.assert_allclose([x for *_, x in got], [(60 * v[0] + 30 * v[1]) / 90,
                                                      (60 * v[1] + 30 * v[2]) / 90])
    assert answer["windowSize"] == 90  # echoed as requested, not rounded to hours


def test_off_hour_data_start_at_is_time_weighted_and_echoed(client, data):
    """dataStartAt 00:30 UTC (given as 08:30+08:00): hour windows 00:30-01:30 and 01:30-02:30
    average half of each hour they cover; the request's times are echoed with their offset."""
    v = hourly(data, "shanghai", "2026-07-01T00:00", 3)
    answer = forecast(client, dataStartAt="2026-07-01T08:30:00+08:00",
                      dataEndAt="2026-07-01T11:00:00+08:00", windowSize=60)
    got = windows(answer)
    assert [t for t, *_ in got] == ["2026-07-01T00:30:00Z", "2026-07-01T01:30:00Z"]
    np.testing.assert_allclose([x for *_, x in got], [(v[0] + v[1]) / 2, (v[1] + v[2]) / 2])
    assert (answer["dataStartAt"], answer["dataEndAt"]) == ("2026-07-01T08:30:00+08:00",
                                                            "2026-07-01T11:00:00+08:00")


def test_window_longer_than_the_period_gives_empty_arrays(client):
    answer = forecast(client, dataStartAt="2026-07-01T00:00:00Z",
                      dataEndAt="2026-07-01T04:00:00Z", windowSize=241)
    assert answer["forecastData"] == [] and answer["optimalDataPoints"] == []
    assert answer["windowSize"] == 241
    assert answer["dataEndAt"] == "2026-07-01T04:00:00Z"
    exactly = forecast(client, dataStartAt="2026-07-01T00:00:00Z",
                       dataEndAt="2026-07-01T04:00:00Z", windowSize=240)
    assert [t for t, *_ in windows(exactly)] == ["2026-07-01T00:00:00Z"]


@pytest.mark.parametrize("window", [{}, {"windowSize": 0}])
def test_without_window_the_hourly_points_as_they_are(client, data, window):
    """No windowSize (or 0): the twin's hourly points that overlap dataStartAt..dataEndAt,
    unaveraged: the hour dataStartAt falls in (01:00 for 01:30), and one starting at dataEndAt
    (the SDK's FilterByDuration keeps points whose time <= dataEndAt); windowSize 0."""
    v = hourly(data, "shanghai", "2026-07-01T01:00", 4)
    answer = forecast(client, dataStartAt="2026-07-01T01:30:00Z",
                      dataEndAt="2026-07-01T04:00:00Z", **window)
    got = windows(answer)
    assert [t for t, *_ in got] == [f"2026-07-01T0{h}:00:00Z" for h in (1, 2, 3, 4)]
    assert {d for _, d, _ in got} == {60}
    np.testing.assert_allclose([x for *_, x in got], v)
    assert answer["windowSize"] == 0
    assert [p["value"] for p in answer["optimalDataPoints"]] == [min(x for *_, x in got)]


def test_defaults_the_whole_forecast_from_the_current_hour(client, data):
    """Without bounds: the forecast, from the current hour over the horizon (744 h); the SDK
    then reports the first and last points' timestamps as dataStartAt and dataEndAt."""
    answer = forecast(client)
    times = [t for t, *_ in windows(answer)]
    assert len(times) == 744
    assert times[0] == "2026-07-01T00:00:00Z" and times[-1] == "2026-07-31T23:00:00Z"
    assert (answer["dataStartAt"], answer["dataEndAt"]) == (times[0], times[-1])
    np.testing.assert_allclose([x for *_, x in windows(answer)][:24],
                               hourly(data, "shanghai", "2026-07-01T00:00", 24))
    best = min(x for *_, x in windows(answer))
    assert answer["optimalDataPoints"] == [p for p in answer["forecastData"]
                                           if p["value"] == best]


def test_carbon_aware_sdk_forecast(client, data):
    """Two locations in the order asked, two-hour windows over a day: 23 windows (the last
    starts at 22:00 and ends at midnight), each the mean of two of the twin's hours."""
    params = {"location": ["hami", "wuhu"], "dataStartAt": "2026-07-01T00:00:00Z",
              "dataEndAt": "2026-07-02T00:00:00Z", "windowSize": 120}
    r = client.get(FORECAST, params=params)
    assert r.status_code == 200, r.text
    forecasts = r.json()
    assert [f["location"] for f in forecasts] == ["hami", "wuhu"]
    wuhu = forecasts[1]
    values = [p["value"] for p in wuhu["forecastData"]]
    assert len(values) == 23 and all(p["duration"] == 120 for p in wuhu["forecastData"])
    assert wuhu["forecastData"][-1]["timestamp"] == "2026-07-01T22:00:00Z"
    assert wuhu["optimalDataPoints"][0]["value"] == min(values)
    v = hourly(data, "wuhu", "2026-07-01T00:00", 24)
    np.testing.assert_allclose(values, (v[:-1] + v[1:]) / 2, atol=1e-9)


def test_errors_are_validation_problem_details(client):
    def errors(**params):
        return problem(client.get(FORECAST, params={"location": "shanghai", **params}))

    same = "2026-07-01T02:00:00Z"
    assert errors(dataStartAt=same, dataEndAt=same) == {
        "dataStartAt": ["dataStartAt must be before dataEndAt"]}
    # a current forecast of past hours is refused, as the SDK refuses times outside its
    # data source's forecast
    past = errors(dataStartAt="2026-06-30T00:00:00Z", dataEndAt="2026-07-01T02:00:00Z")
    assert past == {"dataStartAt": ["dataStartAt must be within time range of the forecasted "
                                    "data, '2026-07-01T00:00:00+00:00' through "
                                    "'2026-08-01T00:00:00+00:00'"]}
    beyond = errors(dataStartAt="2026-08-02T00:00:00Z")
    assert beyond["dataStartAt"][0] == "dataStartAt must be earlier than dataEndAt"
    assert "within time range" in beyond["dataStartAt"][1]
    assert list(errors(windowSize=-1)) == ["windowSize"]
    assert list(errors(windowSize="1.5")) == ["windowSize"]
    assert list(errors(dataEndAt="tomorrow")) == ["dataEndAt"]
    assert problem(client.get(FORECAST)) == {"location": ["location is not set"]}
    assert problem(client.get(FORECAST, params={"location": ""})) == {
        "location": ["location is not set"]}
    unknown = problem(client.get(FORECAST, params={"location": ["hami", "atlantis"]}))
    assert unknown["location"][0].startswith("Unknown Location: 'atlantis' not found")
    # the rest of the API keeps {"detail": ...} and 422
    r = client.get("/v1/sites/hami/timeseries", params={"start": "tomorrow"})
    assert r.status_code == 422 and set(r.json()) == {"detail"}


def test_batch_forecasts_back_test_as_of_requested_at(client, data):
    """The forecast that was the latest at requestedAt (10:20+02:00 = 08:20 UTC) starts at
    08:00 UTC; requestedAt is echoed as given; the same window rules."""
    v = hourly(data, "beijing", "2026-03-01T09:00", 3)
    r = client.post("/emissions/forecasts/batch", json=[
        {"location": "beijing", "requestedAt": "2026-03-01T10:20:00+02:00",
         "dataStartAt": "2026-03-01T09:00:00Z", "dataEndAt": "2026-03-01T12:00:00Z",
         "windowSize": 90},
        {"location": "shanghai", "requestedAt": "2026-06-30T23:00:00Z"}])
    assert r.status_code == 200, r.text
    first, second = r.json()
    assert set(first) == FORECAST_FIELDS
    assert first["requestedAt"] == "2026-03-01T10:20:00+02:00"
    assert first["generatedAt"] == "2026-03-01T08:00:00Z"
    np.testing.assert_allclose([p["value"] for p in first["forecastData"]],
                               [(60 * v[0] + 30 * v[1]) / 90, (60 * v[1] + 30 * v[2]) / 90])
    assert len(second["forecastData"]) == 744
    assert second["forecastData"][0]["timestamp"] == "2026-06-30T23:00:00Z"
    assert second["windowSize"] == 0

    def errors(*items):
        return problem(client.post("/emissions/forecasts/batch", json=list(items)))

    assert errors({"location": "beijing"}, {"requestedAt": "2026-03-01T00:00:00Z"}) == {
        "$[0].requestedAt": ["requestedAt is not set"], "$[1].location": ["location is not set"]}
    future = errors({"location": "beijing", "requestedAt": "2026-07-02T00:00:00Z"})
    assert list(future) == ["$[0].requestedAt"] and "after the current time" in \
        future["$[0].requestedAt"][0]
    before = errors({"location": "beijing", "requestedAt": "2026-03-01T08:20:00Z",
                     "dataStartAt": "2026-03-01T07:00:00Z"})
    assert "within time range of the forecasted data" in before["$[0].dataStartAt"][0]
    assert list(errors({"location": "beijing", "requestedAt": "2021-9-1T08:30:00Z"})) == [
        "$[0].requestedAt"]
    assert client.post("/emissions/forecasts/batch", json=[]).json() == []


def test_emissions_by_locations_are_the_hours_up_to_now(client, data):
    """Observed emissions: the twin's points overlapping time..toTime (also the one starting
    at toTime, as FilterByDuration keeps), among the hours up to the current one (00:00)."""
    beijing = hourly(data, "beijing", "2026-06-30T22:00", 3)
    shanghai = hourly(data, "shanghai", "2026-06-30T22:00", 3)
    r = client.get("/emissions/bylocations", params={
        "location": ["beijing", "shanghai"], "time": "2026-06-30T22:30:00Z",
        "toTime": "2026-07-01T03:00:00Z"})
    assert r.status_code == 200, r.text
    points = r.json()
    assert all(set(p) == {"location", "time", "rating", "duration"} for p in points)
    assert [(p["location"], p["time"]) for p in points] == [
        (s, t) for s in ("beijing", "shanghai")
        for t in ("2026-06-30T22:00:00Z", "2026-06-30T23:00:00Z", "2026-07-01T00:00:00Z")]
    assert {p["duration"] for p in points} == {"01:00:00"}
    np.testing.assert_allclose([p["rating"] for p in points], [*beijing, *shanghai])
    one = client.get("/emissions/bylocation", params={
        "location": "beijing", "time": "2026-06-30T23:00:00Z", "toTime": "2026-07-01T00:00:00Z"})
    assert [p["time"] for p in one.json()] == ["2026-06-30T23:00:00Z", "2026-07-01T00:00:00Z"]
    now = client.get("/emissions/bylocation", params={"location": "beijing"}).json()
    assert [p["time"] for p in now] == ["2026-07-01T00:00:00Z"]  # default: now
    assert problem(client.get("/emissions/bylocations", params={
        "location": "beijing", "toTime": "2026-07-01T00:00:00Z"})) == {
        "time": ["time must be defined if toTime is defined"]}
    assert problem(client.get("/emissions/bylocation", params={
        "location": "beijing", "time": "2026-07-01T00:00:00Z",
        "toTime": "2026-07-01T00:00:00Z"})) == {"time": ["time must be before toTime"]}


def test_best_emissions_and_204_when_empty(client, data):
    r = client.get("/emissions/bylocations/best", params={
        "location": ["beijing", "shanghai"], "time": "2026-06-30T22:00:00Z",
        "toTime": "2026-07-01T02:00:00Z"})
    assert r.status_code == 200, r.text
    values = [*hourly(data, "beijing", "2026-06-30T22:00", 3),
              *hourly(data, "shanghai", "2026-06-30T22:00", 3)]
    (best,) = r.json()
    assert best["rating"] == pytest.approx(min(values))
    assert (best["location"], best["time"]) == ("shanghai", "2026-07-01T00:00:00Z")
    future = client.get("/emissions/bylocations/best", params={
        "location": ["beijing", "shanghai"], "time": "2026-07-01T02:00:00Z"})
    assert future.status_code == 204 and future.content == b""
    assert client.get("/emissions/bylocation", params={
        "location": "beijing", "time": "2026-07-02T00:00:00Z"}).status_code == 204


def test_average_carbon_intensity_is_time_weighted(client, data):
    """22:30..00:15: half of 22:00, all of 23:00, a quarter of 00:00, over 1.75 h."""
    v = hourly(data, "shanghai", "2026-06-30T22:00", 3)
    expected = (0.5 * v[0] + v[1] + 0.25 * v[2]) / 1.75
    params = {"location": "shanghai", "startTime": "2026-06-30T22:30:00Z",
              "endTime": "2026-07-01T00:15:00Z"}
    r = client.get("/emissions/average-carbon-intensity", params=params)
    assert r.status_code == 200, r.text
    assert r.json() == {"location": "shanghai", "startTime": "2026-06-30T22:30:00Z",
                        "endTime": "2026-07-01T00:15:00Z",
                        "carbonIntensity": pytest.approx(expected)}
    batch = client.post("/emissions/average-carbon-intensity/batch", json=[
        params, {**params, "location": "beijing"}])
    assert batch.status_code == 200, batch.text
    assert [b["location"] for b in batch.json()] == ["shanghai", "beijing"]
    assert batch.json()[0]["carbonIntensity"] == pytest.approx(expected)
    later = problem(client.get("/emissions/average-carbon-intensity", params={
        **params, "endTime": "2026-07-01T03:00:00Z"}))
    assert later["endTime"][0].startswith("Period out of range")
    assert problem(client.get("/emissions/average-carbon-intensity", params={
        **params, "endTime": params["startTime"]})) == {
        "startTime": ["startTime must be before endTime"]}
    assert problem(client.get("/emissions/average-carbon-intensity", params={
        "location": "shanghai"})) == {"startTime": ["startTime is not set"],
                                      "endTime": ["endTime is not set"]}
    assert list(problem(client.post("/emissions/average-carbon-intensity/batch", json=[
        {"location": "shanghai", "startTime": "2026-06-30T22:30:00Z"}]))) == ["$[0].endTime"]


def test_locations_are_the_site_ids(client, data):
    r = client.get("/locations")
    assert r.status_code == 200
    locations = r.json()
    assert list(locations) == list(data.catalog)
    hami = data.catalog["hami"]
    assert locations["hami"] == {"latitude": hami.latitude, "longitude": hami.longitude,
                                 "name": "hami"}


def test_openapi_operation_ids_and_typed_responses(client):
    paths = client.get("/openapi.json").json()["paths"]
    expected = {
        ("/emissions/bylocations/best", "get"): ("GetBestEmissionsDataForLocationsByTime",
                                                 "EmissionsData"),
        ("/emissions/bylocations", "get"): ("GetEmissionsDataForLocationsByTime",
                                            "EmissionsData"),
        ("/emissions/bylocation", "get"): ("GetEmissionsDataForLocationByTime",
                                           "EmissionsData"),
        ("/emissions/forecasts/current", "get"): ("GetCurrentForecastData",
                                                  "EmissionsForecastDTO"),
        ("/emissions/forecasts/batch", "post"): ("BatchForecastDataAsync",
                                                 "EmissionsForecastDTO"),
        ("/emissions/average-carbon-intensity", "get"): ("GetAverageCarbonIntensity",
                                                         "CarbonIntensityDTO"),
        ("/emissions/average-carbon-intensity/batch", "post"): (
            "GetAverageCarbonIntensityBatch", "CarbonIntensityDTO"),
        ("/locations", "get"): ("GetAllLocations", "Location"),
    }
    for (path, method), (operation_id, model) in expected.items():
        op = paths[path][method]
        assert op["operationId"] == operation_id
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        ref = schema.get("$ref") or (schema.get("items") or schema.get(
            "additionalProperties"))["$ref"]
        assert ref == f"#/components/schemas/{model}"
        if path != "/locations":
            assert op["responses"]["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ValidationProblemDetails"}
    for path in ("/emissions/bylocations/best", "/emissions/bylocations",
                 "/emissions/bylocation"):
        assert "204" in paths[path]["get"]["responses"]


def test_no_window_past_the_horizon_and_huge_window_sizes(client):
    """windowSize up to a .NET int: no window fits, nothing computed past the forecast."""
    answer = forecast(client, windowSize=2**31 - 1)
    assert answer["forecastData"] == [] and answer["windowSize"] == 2**31 - 1
    assert answer["dataStartAt"] == "2026-07-01T00:00:00Z"
    week = forecast(client, windowSize=7 * 24 * 60)
    assert len(week["forecastData"]) == 744 - 7 * 24 + 1
    end = datetime.fromisoformat(week["forecastData"][-1]["timestamp"]) + timedelta(days=7)
    assert end == datetime(2026, 8, 1, tzinfo=UTC)


def test_window_size_and_locations_are_bounded(client):
    """A windowSize of 1e12 minutes (was a 500: OverflowError) and a location repeated without
    limit (about 40 MB an answer per repetition) get the SDK's 400 with the reason."""
    huge = client.get("/emissions/forecasts/current",
                      params={"location": "wuhu", "windowSize": 10**12})
    assert huge.status_code == 400 and "windowSize" in huge.json()["errors"]
    many = client.get("/emissions/forecasts/current", params=[("location", "wuhu")] * 500)
    assert many.status_code == 400 and "at most 100 locations" in many.json()["detail"]
