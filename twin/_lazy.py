"""Packages whose names are imported on first use (PEP 562): ``twin`` and ``weather``, so that
importing one of their modules (``weather.errors``, ``twin.variables``) loads nothing else.
Standard library only: ``weather/`` may import it."""

from __future__ import annotations

import importlib
import sys
import types


def lazy_package(name: str, exports: dict[str, tuple[str, str]]):
    """Make package ``name`` resolve ``exports`` (attribute -> (module, name in it)) on first
    use; returns the package's ``__getattr__`` and ``__dir__``.

    A function named like its module (``twin.simulate``, ``weather.normals``) stays the
    function after that module is imported: the import system sets an imported submodule as
    its package's attribute, which the package's class here declines for exported names."""

    class Package(types.ModuleType):
        def __setattr__(self, attribute, value):
            if not (attribute in exports and isinstance(value, types.ModuleType)):
                super().__setattr__(attribute, value)

    sys.modules[name].__class__ = Package

    def __getattr__(attribute: str):
        if attribute in exports:
            module, inner = exports[attribute]
            return getattr(importlib.import_module(module), inner)
        raise AttributeError(f"module {name!r} has no attribute {attribute!r}")

    def __dir__():
        return sorted(exports)

    return __getattr__, __dir__
