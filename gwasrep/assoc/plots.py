"""Manhattan and QQ plots of association results (matplotlib, written atomically as PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.assoc.stats import lambda_gc
from gwasrep.io.figures import pyplot, save_figure

__all__ = ["manhattan", "qq"]


def _chrom_order(chroms: pd.Series) -> list[str]:
    uniq = pd.unique(chroms.astype(str))

    def key(c: str):
        c2 = c.removeprefix("chr")
        return (0, int(c2), "") if c2.isdigit() else (1, 0, c2)

    return sorted(uniq, key=key)


def _one_per_pixel(x: np.ndarray, y: np.ndarray, width: int = 4000, height: int = 2000):
    """Keep one point per cell of a grid finer than the figure's pixels.

    Hundreds of thousands of overlapping markers draw the same picture as one
    marker per pixel, at a fraction of the time.
    """
    if x.size < 20_000:
        return np.ones(x.size, dtype=bool)
    xr = np.ptp(x) or 1.0
    yr = np.ptp(y) or 1.0
    cell = (np.rint((x - x.min()) / xr * width).astype(np.int64) * (height + 1)
            + np.rint((y - y.min()) / yr * height).astype(np.int64))
    _, first = np.unique(cell, return_index=True)
    keep = np.zeros(x.size, dtype=bool)
    keep[first] = True
    return keep


def manhattan(sumstats: pd.DataFrame, path: str | os.PathLike, *, p_col: str = "P",
              threshold: float = 5e-8, title: str | None = None) -> Path:
    """Manhattan plot of ``-log10 p`` along the genome.

    Parameters
    ----------
    sumstats : DataFrame
        Columns CHROM, POS and ``p_col``.
    threshold : float
        Drawn as a dashed genome-wide significance line.
    """
    plt = pyplot()
    df = sumstats[["CHROM", "POS", p_col]].copy()
    df["CHROM"] = df["CHROM"].astype(str)
    order = _chrom_order(df["CHROM"])
    fig, ax = plt.subplots(figsize=(11, 4))
    offset, ticks = 0.0, []
    p = df[p_col].to_numpy(dtype=float)
    y = -np.log10(np.clip(p, 1e-300, 1.0))
    for k, c in enumerate(order):
        sel = (df["CHROM"] == c).to_numpy()
        pos = df["POS"].to_numpy()[sel].astype(float)
        lo, hi = (pos.min(), pos.max()) if pos.size else (0.0, 1.0)
        x = pos - lo + offset
        ys = y[sel]
        keep = _one_per_pixel(x, ys, width=max(200, int(4000 * sel.mean())))
        ax.scatter(x[keep], ys[keep], s=3, c="#1f4e79" if k % 2 == 0 else "#7fa7d1", linewidths=0,
                   rasterized=True)
        ticks.append((offset + (hi - lo) / 2, c))
        offset += (hi - lo) + max((hi - lo) * 0.02, 1.0)
    ax.axhline(-np.log10(threshold), color="#c0392b", ls="--", lw=1)
    ax.set_xticks([t for t, _ in ticks])
    ax.set_xticklabels([c for _, c in ticks], fontsize=7)
    ax.set_xlim(0, max(offset, 1.0))
    ax.set_ylim(0, max(float(np.nanmax(y)) * 1.05 if y.size else 1.0, -np.log10(threshold) * 1.1))
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}\,p$")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def qq(pvalues: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """QQ plot of observed against expected ``-log10 p`` for one or more tests, with lambda GC."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 1.0
    for label, p in pvalues.items():
        p = np.sort(np.clip(np.asarray(p, dtype=float)[np.isfinite(p)], 1e-300, 1.0))
        if p.size == 0:
            continue
        expected = -np.log10((np.arange(1, p.size + 1) - 0.5) / p.size)
        obs = -np.log10(p)
        keep = _one_per_pixel(expected, obs)
        ax.scatter(expected[keep], obs[keep], s=4, linewidths=0, rasterized=True,
                   label=f"{label} (lambda GC {lambda_gc(p):.3f})")
        top = max(top, expected.max())
    ax.plot([0, top], [0, top], color="grey", lw=1, ls="--", label="expected under the null")
    ax.set_xlabel(r"expected $-\log_{10}\,p$")
    ax.set_ylabel(r"observed $-\log_{10}\,p$")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
