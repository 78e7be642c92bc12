"""Figures: matplotlib on the Agg backend, saved atomically as PNG.

matplotlib is imported on first use, so commands that write no figure never load it.
"""

from __future__ import annotations

import os
from pathlib import Path

from gwasrep.io.atomic import atomic_path

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` as PNG (temporary file, then rename) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    pyplot().close(fig)
    return path
