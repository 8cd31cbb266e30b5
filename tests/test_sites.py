"""The site catalog: bundled TOMLs, validation errors, user directories, normals provenance."""

from __future__ import annotations

import math
import tomllib
import typing
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import pytest
import xarray as xr
from pydantic import ValidationError

from sites import (
    COOLING_TOPOLOGIES,
    Site,
    SiteError,
    get_site,
    load_catalog,
    load_site,
    turbine_types,
)
from sites.make_normals import render_normals, replace_normals, station_normals
from tests.conftest import hami_data, write_site
from twin import model_names

WEATHER_DIR = Path(__file__).resolve().parents[2] / "shared" / "weather"
CATALOG = resources.files("sites").joinpath("catalog")
NAMED = ["hami", "turpan", "urumqi", "golmud", "xining", "zhongwei", "qingyang", "dunhuang",
         "ulanqab", "hohhot", "guian", "chongqing", "wuhu", "shanghai", "beijing"]
needs_weather = pytest.mark.skipif(not WEATHER_DIR.is_dir(),
                                   reason=f"station EPW files not found at {WEATHER_DIR}")


def epw_location(station: str) -> dict:
    fields = (WEATHER_DIR / station).open(encoding="latin-1").readline().strip().split(",")
    return {"city": fields[1], "latitude": float(fields[6]), "longitude": float(fields[7]),
            "altitude_m": float(fields[9])}


def distance_km(lat1, lon1, lat2, lon2) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@pytest.fixture(scope="module")
def catalog() -> dict[str, Site]:
    return load_catalog()


# --- the bundled catalog -----------------------------------------------------------------------

def test_every_bundled_toml_loads(catalog):
    files = sorted(f.name for f in CATALOG.iterdir() if f.name.endswith(".toml"))
    assert files, "no bundled site files"
    for name in files:
        site = load_site(CATALOG.joinpath(name))
        assert site.id == name.removesuffix(".toml")
        assert catalog[site.id] == site
    assert sorted(catalog) == sorted(f.removesuffix(".toml") for f in files)


def test_the_named_hubs_are_in_the_catalog(catalog):
    assert set(NAMED) <= set(catalog)
    assert catalog["guian"].name == "Gui'an"
    assert catalog["wuhu"].role == "inference" and catalog["hami"].role == "training"


def test_site_is_frozen(catalog):
    with pytest.raises(ValidationError):
        catalog["hami"].latitude = 0.0
    with pytest.raises(ValidationError):
        catalog["hami"].pv.capacity_wp = 0.0


def test_normals_dataset_is_built_at_the_site(catalog):
    site = catalog["zhongwei"]
    n = site.normals()
    assert isinstance(n, xr.Dataset)
    assert n.sizes["month"] == 12 and list(n["month"].values) == list(range(1, 13))
    assert float(n["latitude"]) == site.latitude and float(n["altitude"]) == site.altitude_m
    assert n.attrs["source"] == site.weather_station
    np.testing.assert_array_equal(n["temp_air_mean"].values,
                                  site.normals_table["temp_air_mean"])


def test_weather_is_the_sites_synthetic_year(catalog):
    """Zhongwei borrows Yinchuan's normals (1,111 m): its pressure is scaled to the site's
    1,230 m."""
    site = catalog["zhongwei"]
    ds = site.weather(year=2030, seed=7)
    assert ds.attrs["site"] == "Zhongwei" and ds.attrs["synthetic_seed"] == 7
    assert (float(ds.latitude), float(ds.longitude), float(ds.altitude)) == \
        (site.latitude, site.longitude, site.altitude_m)
    assert pd.DatetimeIndex(ds.time.values)[0] == pd.Timestamp("2030-01-01")
    station = np.mean(site.normals_table["pressure_mean"])
    ratio = float(ds.pressure.mean()) / station
    expected = pvlib.atmosphere.alt2pres(site.altitude_m) / pvlib.atmosphere.alt2pres(
        site.normals_table["station_altitude_m"])
    assert ratio == pytest.approx(expected, abs=0.002) and ratio < 0.99


# --- provenance: normals and coordinates against the station files ------------------------------

@needs_weather
@pytest.mark.parametrize("site_id", NAMED)
def test_normals_agree_with_the_station_file(catalog, site_id):
    site = catalog[site_id]
    fresh = station_normals(WEATHER_DIR, site.weather_station)
    stored = site.normals_table
    assert set(stored) == set(fresh)
    for key, value in fresh.items():
        if isinstance(value, str):
            assert stored[key] == value, key
        else:
            np.testing.assert_allclose(stored[key], value, rtol=0, atol=1e-4, err_msg=key)


@needs_weather
def test_site_coordinates_are_the_station_or_a_named_nearby_city(catalog):
    for site in catalog.values():
        station = epw_location(site.weather_station)
        d = distance_km(site.latitude, site.longitude, station["latitude"], station["longitude"])
        assert d < 200, f"{site.id}: station {station['city']} is {d:.0f} km away"
        if d < 0.5:  # the site is the station: its coordinates come from the LOCATION line
            assert site.altitude_m == pytest.approx(station["altitude_m"], abs=0.1), site.id
        else:
            assert station["city"].split()[0] in site.weather_note, site.id


# --- physical sanity of the catalog data --------------------------------------------------------

def test_catalog_data_is_physically_plausible(catalog):
    for site in catalog.values():
        if site.country == "CHN":
            assert 18 <= site.latitude <= 54 and 73 <= site.longitude <= 135, site.id
        assert 3 <= site.wind.hub_mean_wind_speed_m_s <= 12, site.id
        assert 500 <= site.it.capacity_w / site.it.gpu_count <= 2000, site.id  # W per GPU, all in
        assert site.grid.import_capacity_w >= site.it.capacity_w, site.id
        assert 0.8 <= site.battery.round_trip_efficiency <= 0.95, site.id
        assert 1 <= site.battery.energy_wh / site.battery.power_w <= 8, site.id  # hours
        assert 50 <= site.grid.carbon_intensity_g_per_kwh <= 1000, site.id
        assert site.cooling.topology in COOLING_TOPOLOGIES
        n = site.normals_table
        assert 0 < min(n["relative_humidity_mean"]) and max(n["relative_humidity_mean"]) < 100
        dew_below_dry = zip(n["temp_dew_mean"], n["temp_air_mean"], strict=True)
        assert all(d <= t for d, t in dew_below_dry), site.id
        # surface pressure follows the station's altitude (barometric formula, +-3 %)
        p_expected = 101325 * (1 - 2.25577e-5 * epw_altitude(site)) ** 5.25588
        assert np.mean(n["pressure_mean"]) == pytest.approx(p_expected, rel=0.03), site.id
    assert catalog["golmud"].altitude_m > 2500
    assert catalog["xining"].altitude_m > 2000
    assert np.mean(catalog["golmud"].normals_table["pressure_mean"]) < 80_000
    # the desert wind bases are windier than the Sichuan basin and Guizhou
    assert catalog["hami"].wind.hub_mean_wind_speed_m_s > catalog["chongqing"].wind \
        .hub_mean_wind_speed_m_s
    assert catalog["guian"].wind.hub_mean_wind_speed_m_s <= 5.5
    # Xinjiang is sunnier than Chongqing, and Turpan is hotter in July than Golmud
    assert np.mean(catalog["hami"].normals_table["ghi_mean"]) > 1.3 * np.mean(
        catalog["chongqing"].normals_table["ghi_mean"])
    assert catalog["turpan"].normals_table["temp_air_mean"][6] > \
        catalog["golmud"].normals_table["temp_air_mean"][6] + 10
    # Qinghai's grid is mostly hydro and solar; Xinjiang's mostly coal
    assert catalog["golmud"].grid.carbon_intensity_g_per_kwh < \
        catalog["hami"].grid.carbon_intensity_g_per_kwh / 2


def epw_altitude(site: Site) -> float:
    """Altitude of the station whose pressure the normals hold (the site's when the station files
    are absent: every site is within ~150 m of its station's altitude)."""
    if WEATHER_DIR.is_dir():
        return epw_location(site.weather_station)["altitude_m"]
    return site.altitude_m


# --- validation errors name the file and the field ----------------------------------------------

BAD_VALUES = [  # (table or None, key, value, field named in the message, words in the message)
    (None, "latitude", 95.0, "latitude", "less than or equal to 90"),
    (None, "latitude", -91.0, "latitude", "greater than or equal to -90"),
    (None, "longitude", 181.0, "longitude", "less than or equal to 180"),
    (None, "longitude", -200.0, "longitude", "greater than or equal to -180"),
    (None, "role", "mining", "role", "'training' or 'inference'"),
    ("it", "capacity_w", -1.0, "it.capacity_w", "greater than 0"),
    ("it", "gpu_count", -8, "it.gpu_count", "greater than 0"),
    ("pv", "capacity_wp", -5.0, "pv.capacity_wp", "greater than or equal to 0"),
    ("pv", "dc_ac_ratio", 0.5, "pv.dc_ac_ratio", "greater than 0.5"),
    ("pv", "dc_ac_ratio", 3.5, "pv.dc_ac_ratio", "less than or equal to 3"),
    ("pv", "gcr", 0.0, "pv.gcr", "greater than 0"),
    ("pv", "gcr", 1.2, "pv.gcr", "less than or equal to 1"),
    ("pv", "mounting", "dual_axis", "pv.mounting", "'fixed' or 'single_axis'"),
    ("wind", "turbine_count", -1, "wind.turbine_count", "greater than or equal to 0"),
    ("wind", "turbine_type", "VS112/2600", "wind.turbine_type", "VS112/2500"),
    ("wind", "hub_height_m", -80.0, "wind.hub_height_m", "greater than 0"),
    ("battery", "energy_wh", -1.0, "battery.energy_wh", "greater than or equal to 0"),
    ("battery", "power_w", -1.0, "battery.power_w", "greater than or equal to 0"),
    ("battery", "round_trip_efficiency", 0.0, "battery.round_trip_efficiency", "greater than 0"),
    ("battery", "round_trip_efficiency", 1.1, "battery.round_trip_efficiency",
     "less than or equal to 1"),
    ("grid", "import_capacity_w", -1.0, "grid.import_capacity_w", "greater than or equal to 0"),
    ("grid", "carbon_intensity_g_per_kwh", -3.0, "grid.carbon_intensity_g_per_kwh",
     "greater than or equal to 0"),
    ("cooling", "topology", "immersion_magic", "cooling.topology", "'liquid_dry_cooler'"),
    (None, "colour", "blue", "colour", "Extra inputs are not permitted"),
    ("pv", "bifacial", True, "pv.bifacial", "Extra inputs are not permitted"),
    ("normals", "temp_air_mean", [1.0] * 11, "normals.temp_air_mean", "at least 12 items"),
    ("normals", "ghi_mean", [200.0] * 13, "normals.ghi_mean", "at most 12 items"),
    ("normals", "wind_speed_mean", [3.0] * 11 + [float("nan")], "normals.wind_speed_mean.11",
     "finite number"),
    ("normals", "sunshine_hours", [1.0] * 12, "normals.sunshine_hours",
     "Extra inputs are not permitted"),
    ("normals", "source", "elsewhere.epw", "normals", "run `python -m sites.make_normals`"),
    # issue 19: values in the wrong unit, booleans as numbers, infinities, absurd ratings; a
    # range error names the unit the file must use
    ("normals", "pressure_mean", [1013.25] * 12, "normals.pressure_mean.0",
     "greater than or equal to 30000 [Pa]"),
    ("normals", "temp_air_mean", [283.0] * 12, "normals.temp_air_mean.0",
     "less than or equal to 60 [degC]"),
    ("normals", "wind_speed_mean", [-1.0] + [3.0] * 11, "normals.wind_speed_mean.0",
     "greater than or equal to 0 [m s-1]"),
    ("normals", "wind_height_m", math.inf, "normals.wind_height_m", "finite number (in m)"),
    ("normals", "relative_humidity_mean", [0.4] * 11 + [140.0], "normals.relative_humidity_mean.11",
     "less than or equal to 100 [%]"),
    ("normals", "wind_speed_hourly_autocorrelation", 1.5,
     "normals.wind_speed_hourly_autocorrelation", "less than or equal to 1 [1]"),
    (None, "latitude", True, "latitude", "valid number, not a boolean"),
    ("it", "gpu_count", True, "it.gpu_count", "valid integer, not a boolean"),
    ("pv", "backtrack", 1, "pv.backtrack", "valid boolean"),
    ("battery", "energy_wh", 1e18, "battery.energy_wh", "less than or equal to 100000000000 [Wh]"),
    ("pv", "capacity_wp", 1e15, "pv.capacity_wp", "[Wp]"),
    ("pv", "cleaning_interval_days", math.inf, "pv.cleaning_interval_days",
     "finite number (in day)"),
    ("pv", "cleaning_interval_days", 1e6, "pv.cleaning_interval_days",
     "less than or equal to 3650 [day]"),
    ("cooling", "pm10_lockout_ug_m3", math.inf, "cooling.pm10_lockout_ug_m3", "finite number"),
    ("cooling", "ups_loss_coefficients", [0.01, 0.02, 0.5], "cooling.ups_loss_coefficients.2",
     "less than or equal to 0.2 [1]"),
    ("grid", "carbon_intensity_g_per_kwh", 5.8e5, "grid.carbon_intensity_g_per_kwh",
     "less than or equal to 2000 [g kWh-1]"),
    ("wind", "turbine_count", 10**9, "wind.turbine_count", "less than or equal to 100000 [1]"),
]


@pytest.mark.parametrize("table, key, value, field, words", BAD_VALUES,
                         ids=[f"{f}={v!r}"[:40] for _, _, v, f, _ in BAD_VALUES])
def test_impossible_values_name_file_and_field(tmp_path, table, key, value, field, words):
    data = hami_data()
    (data if table is None else data[table])[key] = value
    path = write_site(tmp_path, "hami", data)
    with pytest.raises(SiteError) as err:
        load_site(path)
    first = str(err.value).splitlines()[0]
    assert first.startswith(f"{path}: {field}: "), first
    assert words in first
    assert err.value.field == field and err.value.source == str(path)


@pytest.mark.parametrize("table, key, field", [
    ("normals", "ghi_mean", "normals.ghi_mean"), ("wind", "hub_height_m", "wind.hub_height_m"),
    (None, "weather_station", "weather_station"), (None, "cooling", "cooling")])
def test_missing_fields_are_named(tmp_path, table, key, field):
    data = hami_data()
    del (data if table is None else data[table])[key]
    path = write_site(tmp_path, "hami", data)
    with pytest.raises(SiteError, match=f"^{path}: {field}: Field required"):
        load_site(path)


def test_mounting_needs_its_geometry(tmp_path):
    data = hami_data()
    data["pv"]["mounting"] = "fixed"  # the Hami file gives gcr but no tilt
    path = write_site(tmp_path, "hami", data)
    with pytest.raises(SiteError, match=f"^{path}: pv: fixed mounting needs tilt_deg"):
        load_site(path)


def test_every_problem_of_a_file_is_reported(tmp_path):
    data = hami_data()
    data["latitude"], data["pv"]["capacity_wp"] = 100.0, -1.0
    path = write_site(tmp_path, "hami", data)
    with pytest.raises(SiteError) as err:
        load_site(path)
    lines = str(err.value).splitlines()
    assert [ln.split(": ")[1] for ln in lines] == ["latitude", "pv.capacity_wp"]


def test_unknown_turbine_lists_close_names_from_windpowerlib(tmp_path):
    assert "VS112/2500" in turbine_types() and "E-82/2000" in turbine_types()
    data = hami_data()
    data["wind"]["turbine_type"] = "E82/2000"
    path = write_site(tmp_path, "hami", data)
    with pytest.raises(SiteError, match=r"unknown turbine type 'E82/2000'.*E-82/2000"):
        load_site(path)


def test_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "Broken"\nlatitude = = 3\n', encoding="utf-8")
    with pytest.raises(SiteError, match=f"^{path}: TOML syntax error"):
        load_site(path)


def test_file_name_must_be_an_id(tmp_path):
    path = write_site(tmp_path, "Hami-2", hami_data())
    with pytest.raises(SiteError, match="not a site id"):
        load_site(path)


def test_missing_file_is_a_site_error(tmp_path):
    with pytest.raises(SiteError, match="cannot read site file"):
        load_site(tmp_path / "nowhere.toml")


# --- user directories ---------------------------------------------------------------------------

def test_env_dir_adds_a_site_and_overrides_a_bundled_one(tmp_path, monkeypatch):
    data = hami_data()
    write_site(tmp_path, "kashgar", {**data, "name": "Kashgar", "latitude": 39.47,
                                     "longitude": 75.98})
    data["it"] = {**data["it"], "capacity_w": 5e6, "gpu_count": 4000}
    write_site(tmp_path, "hami", data)
    monkeypatch.setenv("TWIN_SITES_DIR", str(tmp_path))
    sites = load_catalog()
    assert sites["kashgar"].name == "Kashgar"
    assert sites["hami"].it.gpu_count == 4000
    assert set(NAMED) <= set(sites)
    assert get_site("KASHGAR").id == "kashgar"
    monkeypatch.delenv("TWIN_SITES_DIR")
    assert "kashgar" not in load_catalog() and load_catalog()["hami"].it.gpu_count == 2000


@pytest.fixture
def two_hami_dirs(tmp_path):
    """Two folders with a Hami site file each: 3000 GPUs in the first, 4000 in the second."""
    folders = tmp_path / "first", tmp_path / "second"
    data = hami_data()
    for folder, gpus in zip(folders, (3000, 4000), strict=True):
        folder.mkdir()
        write_site(folder, "hami", {**data, "it": {**data["it"], "gpu_count": gpus}})
    return folders


def test_extra_dirs_add_and_override_and_win_over_the_env_dir(two_hami_dirs, monkeypatch):
    env_dir, extra = two_hami_dirs
    write_site(extra, "korla", {**hami_data(), "name": "Korla"})
    monkeypatch.setenv("TWIN_SITES_DIR", str(env_dir))
    sites = load_catalog(extra_dirs=[extra])
    assert sites["hami"].it.gpu_count == 4000 and sites["korla"].name == "Korla"
    assert get_site("korla", extra_dirs=[extra]).name == "Korla"
    assert load_catalog()["hami"].it.gpu_count == 3000


def test_a_folder_given_twice_is_read_once_where_it_comes_last(two_hami_dirs, monkeypatch):
    import sites.catalog

    first, second = two_hami_dirs
    read = []
    real = sites.catalog.load_site
    monkeypatch.setattr(sites.catalog, "load_site", lambda p: read.append(p) or real(p))
    monkeypatch.setenv("TWIN_SITES_DIR", str(first))
    # `twin serve` gives its folders both ways; the later "first" wins over "second"
    assert load_catalog(extra_dirs=[second, first])["hami"].it.gpu_count == 3000
    assert read == [second / "hami.toml", first / "hami.toml"]


def test_a_bad_user_file_fails_loudly(tmp_path):
    data = hami_data()
    data["battery"]["energy_wh"] = -1.0
    path = write_site(tmp_path, "hami", data)
    with pytest.raises(SiteError, match=f"^{path}: battery.energy_wh"):
        load_catalog(extra_dirs=[tmp_path])


def test_missing_user_dir_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_SITES_DIR", str(tmp_path / "absent"))
    with pytest.raises(SiteError, match="TWIN_SITES_DIR=.*not a directory"):
        load_catalog()


# --- get_site -----------------------------------------------------------------------------------

def test_get_site_by_id_or_name_ignoring_case():
    assert get_site("hami").name == "Hami"
    assert get_site("HAMI").id == "hami"
    assert get_site("gui'an").id == "guian" and get_site("Gui'An").id == "guian"
    assert get_site("Ulanqab").weather_station.startswith("CHN_Nei.Mongol.Huade")


def test_get_site_unknown_lists_known_ids():
    with pytest.raises(SiteError) as err:
        get_site("Atlantis")
    message = str(err.value)
    assert "unknown site 'Atlantis'" in message
    assert all(site_id in message for site_id in NAMED)
    with pytest.raises(SiteError, match="did you mean hami"):
        get_site("hamii")


# --- make_normals -------------------------------------------------------------------------------

def test_normals_table_round_trips_through_toml():
    mapping = hami_data()["normals"]
    table = render_normals(mapping, mapping["source"])
    assert tomllib.loads(table)["normals"] == mapping


def test_replace_normals_keeps_the_rest_of_the_file():
    head = '# a comment\nname = "X"\n\n[cooling]\ntopology = "chiller_tower"  # why\n\n'
    table = render_normals({"temp_air_mean": [1.0] * 12, "source": "x.epw"}, "x.epw")
    once = replace_normals(head + "[normals]\nold = 1\n", table)
    assert once == head + table
    assert replace_normals(once, table) == once
    assert replace_normals(head.rstrip("\n"), table) == head + table  # appended when absent


def test_site_files_are_validated_against_the_model_names():
    """Each model family's names in a site file are those of twin.model_names (the physics
    dispatches on the same tuples), and the sites package re-exports them."""
    import sites
    from sites import catalog

    fields = {(catalog.ITConfig, "gpu_model"): "SERVER_MODELS",
              (catalog.PVConfig, "mounting"): "MOUNTINGS",
              (catalog.PVConfig, "transposition"): "TRANSPOSITIONS",
              (catalog.PVConfig, "temperature_model"): "TEMPERATURE_MODELS",
              (catalog.PVConfig, "spectral"): "SPECTRAL_MODELS",
              (catalog.PVConfig, "soiling"): "SOILING_MODELS",
              (catalog.WindConfig, "profile"): "WIND_PROFILES",
              (catalog.WindConfig, "density_correction"): "DENSITY_CORRECTIONS",
              (catalog.WindConfig, "wake_model"): "WAKE_MODELS",
              (catalog.CoolingConfig, "topology"): "COOLING_TOPOLOGIES",
              (catalog.CoolingConfig, "air_path"): "AIR_PATHS",
              (catalog.CoolingConfig, "control"): "COOLING_CONTROLS",
              (catalog.CoolingConfig, "allowable_class"): "ASHRAE_CLASSES",
              (catalog.Site, "role"): "ROLES"}
    for (model, field), family in fields.items():
        names = getattr(model_names, family)
        assert typing.get_args(model.model_fields[field].annotation) == names, (model, field)
        assert getattr(catalog, family) is names
    for family in ("COOLING_TOPOLOGIES", "MOUNTINGS", "ROLES"):
        assert getattr(sites, family) is getattr(model_names, family)


def test_names_site_files_are_validated_against_are_the_libraries():
    """Validation reads these without importing pvlib and windpowerlib (a fast `twin sites`):
    the albedo surfaces are pvlib's, in order, and the turbine types those windpowerlib's own
    get_turbine_types lists with a power curve."""
    import windpowerlib
    from pvlib.albedo import SURFACE_ALBEDOS

    from sites.catalog import turbine_types
    from twin.model_names import ALBEDO_SURFACES

    assert ALBEDO_SURFACES == tuple(SURFACE_ALBEDOS)
    table = windpowerlib.get_turbine_types(print_out=False)
    assert turbine_types() == tuple(sorted(table.loc[table["has_power_curve"], "turbine_type"]))


def test_listing_the_catalog_imports_no_numerical_library():
    """`twin sites` validates every site file with pydantic and the standard library only."""
    import subprocess
    import sys

    code = ("import sys, sites; sites.load_catalog(); print(sorted(m for m in ('numpy', 'pandas', "
            "'xarray', 'pvlib', 'windpowerlib', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
