"""Climate data in: every source becomes the same CF Dataset (see DESIGN.md, "Data model").

The names below are imported on first use (:mod:`twin._lazy`): ``import weather.errors`` loads
no reader."""

from twin._lazy import lazy_package

_EXPORTS = {"WeatherError": ("weather.errors", "WeatherError"),
            "from_dataframe": ("weather.dataset", "from_dataframe"),
            "read_epw": ("weather.epw", "read_epw"),
            "read_netcdf": ("weather.netcdf", "read_netcdf"),
            "normals": ("weather.normals", "normals"),
            "read_nsrdb": ("weather.nsrdb", "read_nsrdb"),
            "read_pvgis_tmy": ("weather.pvgis", "read_pvgis_tmy"),
            "read": ("weather.readers", "read"),
            "synthetic_year": ("weather.synthetic", "synthetic_year"),
            "qc_report": ("weather.qc", "report_from_attrs")}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_package(__name__, _EXPORTS)
