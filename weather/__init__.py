"""Climate data in: every source becomes the same CF Dataset (see DESIGN.md, "Data model")."""

from weather.dataset import from_dataframe
from weather.epw import read_epw
from weather.errors import WeatherError
from weather.netcdf import read_netcdf
from weather.normals import normals
from weather.nsrdb import read_nsrdb
from weather.pvgis import read_pvgis_tmy
from weather.qc import report_from_attrs as qc_report
from weather.readers import read
from weather.synthetic import synthetic_year

__all__ = ["WeatherError", "from_dataframe", "normals", "qc_report", "read", "read_epw",
           "read_netcdf", "read_nsrdb", "read_pvgis_tmy", "synthetic_year"]
