"""The package version, the one module of ``twin`` that ``weather/`` may import besides
``twin.variables`` (DESIGN.md): it imports nothing. Its one home: pyproject.toml reads it
(``[tool.setuptools.dynamic]``), so the installed metadata says the same without the 15-20 ms
``importlib.metadata`` costs every command at start-up (benchmarks/startup.py)."""

__version__ = "0.1.0"
