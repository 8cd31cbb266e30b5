"""The package version, the one module of ``twin`` that ``weather/`` may import besides
``twin.variables`` (DESIGN.md): it imports nothing of the twin."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("desert-twin")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
