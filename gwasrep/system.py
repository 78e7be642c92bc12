"""Facts about the machine and the installed packages (memory budgets, run metadata)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

__all__ = ["format_bytes", "package_versions", "physical_memory"]

#: Packages whose versions go into run metadata.
_PACKAGES = ("gwasrep", "numpy", "scipy", "pandas", "numba", "bed-reader", "pyarrow",
             "matplotlib")


def physical_memory() -> int:
    """Bytes of physical memory (8 GiB when the platform cannot tell)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def format_bytes(n_bytes: float) -> str:
    """``1.5 GB`` or ``300 MB`` (binary units)."""
    return f"{n_bytes / 2**30:.1f} GB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MB"


def package_versions() -> dict[str, str]:
    """Python's and the numerical stack's versions, for run metadata.

    A package already imported gives its ``__version__`` (parsing an installed package's
    metadata costs about 5 ms each); the others are read from their metadata.
    """
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        module = sys.modules.get(pkg.replace("-", "_"))
        version = getattr(module, "__version__", None)
        if isinstance(version, str):
            out[pkg] = version
            continue
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[pkg] = "not installed"
    return out
