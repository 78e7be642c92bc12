"""Packages whose names are imported on first use (PEP 562)."""

from __future__ import annotations

import sys
from importlib import import_module

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for ``package``, importing ``names[name]`` on first use.

    Module names starting with ``.`` are relative to ``package``. A name, once imported,
    is stored in the package, so later look-ups are plain attribute reads.
    """

    def module_getattr(name: str):
        if name in names:
            value = getattr(import_module(names[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def module_dir():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return module_getattr, module_dir
