"""Figures of the method comparison (``gwasrep loci``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.io.figures import pyplot, save_figure

__all__ = ["plot_comparison"]


def plot_comparison(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Bar plot: loci, unique loci and recovered fraction per method."""
    plt = pyplot()
    has_ref = table["N_REFERENCE"].gt(0).any()
    fig, axes = plt.subplots(1, 2 if has_ref else 1, figsize=(9 if has_ref else 5, 3.6),
                             squeeze=False)
    x = np.arange(len(table))
    ax = axes[0, 0]
    ax.bar(x - 0.2, table["N_LOCI"], width=0.4, label="loci")
    ax.bar(x + 0.2, table["N_UNIQUE"], width=0.4, label="unique loci")
    ax.set_xticks(x, table["METHOD"], rotation=30, ha="right")
    ax.set_ylabel("count")
    ax.legend(frameon=False)
    if has_ref:
        ax = axes[0, 1]
        ax.bar(x, table["RECOVERED_FRACTION"], color="tab:green")
        ax.set_xticks(x, table["METHOD"], rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("reference loci recovered")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
