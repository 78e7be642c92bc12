"""Manhattan and QQ plots of association results (matplotlib, written atomically as PNG).

The drawing functions take arrays and import only numpy and matplotlib, so that a
:class:`gwasrep.io.figures.FigureWorker` process can draw them while the command runs.
Each plot is one scatter collection per series, fixed margins (no ``tight_layout``,
which draws the figure twice) and plain-text labels (no mathtext parser).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gwasrep.io.figures import pyplot, save_figure

__all__ = ["chrom_order", "manhattan", "manhattan_arrays", "qq", "qq_arrays"]

_NEG_LOG10_P = "\u2212log\u2081\u2080 p"


def chrom_order(chroms: np.ndarray) -> list[str]:
    """Chromosome names in genome order: numbers first (with or without ``chr``), then others."""
    uniq = np.unique(np.asarray(chroms).astype(str))

    def key(c: str):
        c2 = c.removeprefix("chr")
        return (0, int(c2), "") if c2.isdigit() else (1, 0, c2)

    return sorted(uniq.tolist(), key=key)


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


def manhattan_arrays(chrom: np.ndarray, pos: np.ndarray, p: np.ndarray,
                     path: str | os.PathLike, *, threshold: float = 5e-8,
                     title: str | None = None) -> Path:
    """Manhattan plot of ``-log10 p`` along the genome, from per-variant arrays.

    Parameters
    ----------
    chrom, pos, p : ndarray of shape (m,)
        Chromosome names, base-pair positions and p-values.
    threshold : float
        Drawn as a dashed genome-wide significance line.
    """
    plt = pyplot()
    chrom = np.asarray(chrom).astype(str)
    pos = np.asarray(pos, dtype=float)
    y = -np.log10(np.clip(np.asarray(p, dtype=float), 1e-300, 1.0))
    fig = plt.figure(figsize=(11, 4))
    ax = fig.add_axes((0.06, 0.13, 0.925, 0.78 if title else 0.83))
    offset, ticks = 0.0, []
    xs, ys, cs = [], [], []
    for k, c in enumerate(chrom_order(chrom)):
        sel = chrom == c
        pc = pos[sel]
        lo, hi = (pc.min(), pc.max()) if pc.size else (0.0, 1.0)
        x = pc - lo + offset
        yc = y[sel]
        keep = _one_per_pixel(x, yc, width=max(200, int(4000 * sel.mean())))
        xs.append(x[keep])
        ys.append(yc[keep])
        cs.append(np.full(int(keep.sum()), k % 2, dtype=np.int8))
        ticks.append((offset + (hi - lo) / 2, c))
        offset += (hi - lo) + max((hi - lo) * 0.02, 1.0)
    colors = ("#1f4e79", "#7fa7d1")
    x_all, y_all, c_all = np.concatenate(xs), np.concatenate(ys), np.concatenate(cs)
    # One single-coloured collection per colour: Agg stamps its markers from one raster
    # (per-point colours take its per-path route, 8x slower at 200,000 points).
    for k, color in enumerate(colors):
        sel = c_all == k
        ax.scatter(x_all[sel], y_all[sel], s=3, color=color, linewidths=0)
    ax.axhline(-np.log10(threshold), color="#c0392b", ls="--", lw=1)
    ax.set_xticks([t for t, _ in ticks], [c for _, c in ticks], fontsize=7)
    ax.set_xlim(0, max(offset, 1.0))
    ax.set_ylim(0, max(float(np.nanmax(y)) * 1.05 if y.size else 1.0, -np.log10(threshold) * 1.1))
    ax.set_xlabel("chromosome")
    ax.set_ylabel(_NEG_LOG10_P)
    if title:
        ax.set_title(title)
    return save_figure(fig, path, dpi=110)


def manhattan(sumstats, path: str | os.PathLike, *, p_col: str = "P",
              threshold: float = 5e-8, title: str | None = None) -> Path:
    """:func:`manhattan_arrays` of a table with columns CHROM, POS and ``p_col``."""
    return manhattan_arrays(sumstats["CHROM"].to_numpy(), sumstats["POS"].to_numpy(),
                            sumstats[p_col].to_numpy(), path, threshold=threshold, title=title)


def qq_arrays(pvalues: dict[str, np.ndarray], lambdas: dict[str, float],
              path: str | os.PathLike) -> Path:
    """QQ plot of observed against expected ``-log10 p`` for one or more tests.

    ``lambdas`` holds each test's genomic-control lambda for its legend entry.
    """
    plt = pyplot()
    fig = plt.figure(figsize=(5, 5))
    ax = fig.add_axes((0.13, 0.11, 0.82, 0.84))
    top = 1.0
    for label, p in pvalues.items():
        p = np.asarray(p, dtype=float)
        p = np.sort(np.clip(p[np.isfinite(p)], 1e-300, 1.0))
        if p.size == 0:
            continue
        expected = -np.log10((np.arange(1, p.size + 1) - 0.5) / p.size)
        obs = -np.log10(p)
        keep = _one_per_pixel(expected, obs)
        ax.scatter(expected[keep], obs[keep], s=4, linewidths=0,
                   label=f"{label} (lambda GC {lambdas[label]:.3f})")
        top = max(top, expected.max())
    ax.plot([0, top], [0, top], color="grey", lw=1, ls="--", label="expected under the null")
    ax.set_xlabel(f"expected {_NEG_LOG10_P}")
    ax.set_ylabel(f"observed {_NEG_LOG10_P}")
    ax.legend(fontsize=7, loc="upper left")
    return save_figure(fig, path, dpi=110)


def qq(pvalues: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """:func:`qq_arrays` with each test's lambda GC computed here."""
    from gwasrep.assoc.stats import lambda_gc

    return qq_arrays(pvalues, {k: lambda_gc(v) for k, v in pvalues.items()}, path)
