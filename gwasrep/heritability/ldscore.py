"""LD scores from a PLINK fileset, streamed in banded blocks, in LDSC's file format.

``l_j = sum_k r2adj_jk`` over the variants k on j's chromosome within the window
(``|coord_k - coord_j| <= width``: ``window_cm`` cM or ``window_kb`` kb), j itself
included, where ``r_jk = z_j . z_k / N`` and ``r2adj = r^2 - (1 - r^2) / (N - 2)``
(LDSC's bias correction). Genotypes are standardized as ldsc does
(``PlinkBEDFile.nextSNPs``): missing calls take the variant's mean, then each column is
centred and scaled to unit variance over all N samples, so a variant's r^2 with itself
is exactly 1. Variants with no variance among their calls (monomorphic, all missing, all
heterozygous) are left out, as ldsc leaves them out: they get no LD score, count in
neither M nor M_5_50, and add nothing to their neighbours' scores. So are variants with a
negative position (cM with ``window_cm``), which PLINK excludes.

The variants are processed in chunks along each chromosome: a chunk's standardized
genotypes are multiplied with those of the variants ahead of it within the window, so
memory is O(N x (chunk + window)) and no N x M matrix is formed. The standardized window
ahead is kept for the next chunk, so each variant is read once.

``ldsc_compat=True`` reproduces ``ldsc --l2`` run on one chromosome's fileset exactly,
window rounding included: ldsc processes the variants in chunks of ``chunk_size`` (50)
and extends each chunk's left window to a multiple of the chunk size, so it counts up to
``chunk_size - 1`` variants beyond the window's edge (``__corSumVarBlocks__``,
``block_sizes = np.ceil(block_sizes / c) * c``), and every pair among the chromosome's
first block. Use it to reproduce published LD scores made with ldsc.

The result is an :class:`~gwasrep.io.ldscores.LDScores`, written in LDSC's own format by
:func:`gwasrep.io.ldscores.write_ld_scores` (data_specs/ldscore.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from gwasrep.errors import InputError
from gwasrep.io.ldscores import LDScores
from gwasrep.io.plink import PlinkFileset, read_dosages
from gwasrep.runs import Progress

__all__ = ["compute_ld_scores"]


def _standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ldsc's standardization: mean-impute, centre, unit variance over all N.

    Returns Z (0 in columns without variance), the MAF among the observed calls and the
    mask of the variants kept (variance > 0 among the calls).
    """
    obs = np.isfinite(X)
    n = obs.sum(axis=0)
    Xz = np.where(obs, X, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = Xz.sum(axis=0) / n
        dev = np.where(obs, Xz - mean, 0.0)                 # imputed calls sit at the mean
        sd = np.sqrt((dev**2).sum(axis=0) / X.shape[0])
        keep = (n > 0) & (sd > 1e-12 * np.maximum(np.abs(mean), 1.0))
        Z = np.where(keep, dev / np.where(keep, sd, 1.0), 0.0)
    maf = np.minimum(mean / 2, 1 - mean / 2)
    return Z, np.where(n > 0, maf, np.nan), keep


def _r2_adjusted(R: np.ndarray, N: int) -> np.ndarray:
    R2 = R**2
    return R2 - (1 - R2) / (N - 2)


def _ldsc_chunked(Z: np.ndarray, coord: np.ndarray, width: float, c: int, N: int
                  ) -> np.ndarray:
    """ldsc's ``__corSumVarBlocks__`` on one chromosome's kept, sorted variants: the pairs
    it counts, chunk-rounded windows included (see the module docstring)."""
    m = Z.shape[1]
    block_left = np.searchsorted(coord, coord - width, side="left")
    l2 = np.zeros(m)
    first = np.flatnonzero(block_left > 0)
    b = int(first[0]) if first.size else m
    b = int(np.ceil(b / c) * c)
    if b > m:
        c, b = 1, m
    A = Z[:, :b]
    l2[:b] += _r2_adjusted(A.T @ A / N, N).sum(axis=1)         # every pair of the first block
    sizes = (np.ceil((np.arange(m) - block_left) / c) * c).astype(np.int64)
    md = int(c * np.floor(m / c))
    for lb in range(b, md + 1 if md != m else md, c):
        cc = c if lb != md else m - md
        B = Z[:, lb:lb + cc]
        w = int(sizes[lb])
        if w > 0:
            R = _r2_adjusted(Z[:, lb - w:lb].T @ B / N, N)
            l2[lb - w:lb] += R.sum(axis=1)
            l2[lb:lb + cc] += R.sum(axis=0)
        l2[lb:lb + cc] += _r2_adjusted(B.T @ B / N, N).sum(axis=1)
    return l2


def compute_ld_scores(fileset: PlinkFileset, *, window_kb: float | None = None,
                      window_cm: float | None = None, sample_idx: np.ndarray | None = None,
                      variant_idx: np.ndarray | None = None, chunk: int = 1000,
                      ldsc_compat: bool = False, chunk_size: int = 50,
                      progress: Progress | None = None) -> LDScores:
    """LD scores of ``variant_idx`` (default: all) over ``sample_idx`` (default: all).

    ``chunk`` caps the variants per step (the step is the median window size, at least
    128). ``ldsc_compat`` counts ldsc's chunk-rounded windows instead, with ldsc's
    ``--chunk-size`` ``chunk_size``, per chromosome (it reads one chromosome at a time).
    Variants without variance are left out of the table (``excluded`` counts them).
    """
    if (window_kb is None) == (window_cm is None):
        raise InputError("give exactly one of --window-kb and --window-cm")
    width = window_cm if window_cm is not None else window_kb * 1000
    name = "--window-cm" if window_cm is not None else "--window-kb"
    if not np.isfinite(width) or width < 0:
        raise InputError(f"{name} {window_cm if window_cm is not None else window_kb}: expected "
                         "a finite, non-negative window")
    if chunk_size < 1:
        raise InputError(f"--chunk-size {chunk_size}: expected a positive integer")
    bim = fileset.bim
    if window_cm is not None and (bim["CM"] == 0).all():
        raise InputError("--window-cm: the .bim has no genetic positions (all CM are 0); "
                         "use --window-kb")
    samples = np.arange(fileset.n_samples) if sample_idx is None else np.asarray(sample_idx)
    N = samples.size
    if N < 3:
        raise InputError(f"LD scores need at least 3 samples, found {N}")
    vidx = np.arange(len(bim)) if variant_idx is None else np.asarray(variant_idx)
    coord_all = (bim["CM"].to_numpy(float) if window_cm is not None
                 else bim["POS"].to_numpy(float))
    chrom_all = bim["CHROM"].astype(str).to_numpy()
    l2 = np.zeros(vidx.size)
    maf = np.full(vidx.size, np.nan)
    kept = np.zeros(vidx.size, dtype=bool)
    # A negative position marks a variant PLINK excludes (its bp is unknown): no window.
    placed = coord_all[vidx] >= 0
    done = int((~placed).sum())
    for c in pd.unique(chrom_all[vidx[placed]]):
        rows = np.flatnonzero((chrom_all[vidx] == c) & placed)
        rows = rows[np.argsort(coord_all[vidx[rows]], kind="stable")]
        coord = coord_all[vidx[rows]]
        span = coord[-1] - coord[0]
        if width > span and rows.size > 1:
            warnings.warn(f"LD window {width:g} is larger than chromosome {c} "
                          f"({span:g} spanned): every pair on it is in the window",
                          UserWarning, stacklevel=2)
        if ldsc_compat:
            Zc, f, k = _standardize(read_dosages(fileset, vidx[rows], samples))
            maf[rows], kept[rows] = f, k
            l2[rows[k]] = _ldsc_chunked(Zc[:, k], coord[k], width, chunk_size, N)
            done += rows.size
            if progress:
                progress(done, vidx.size, "LD scores")
            continue
        # A chunk about as wide as the window ahead wastes little of its chunk x
        # (chunk + window) product on pairs outside the window (1,000 kb on EUR_subset:
        # ~180 variants ahead; chunk 1,000 took 1.3 s, 180-256 took 0.7 s).
        ahead = np.searchsorted(coord, coord + width, side="right") - np.arange(rows.size)
        step = int(np.clip(np.median(ahead), 128, chunk))
        # Z holds the standardized columns rows[z_lo:z_hi]; the window ahead of one chunk
        # is the start of the next one's, so each variant is read and standardized once.
        Z, z_lo, z_hi = np.empty((N, 0)), 0, 0
        for a in range(0, rows.size, step):
            b = min(rows.size, a + step)
            hi = int(np.searchsorted(coord, coord[b - 1] + width, side="right"))
            start = max(a, z_hi)
            Z = Z[:, max(0, a - z_lo):]
            if hi > start:
                Znew, f, k = _standardize(read_dosages(fileset, vidx[rows[start:hi]], samples))
                maf[rows[start:hi]], kept[rows[start:hi]] = f, k
                Z = np.hstack([Z, Znew])
            z_lo, z_hi = a, max(hi, z_hi)
            R2 = _r2_adjusted(Z[:, : b - a].T @ Z[:, : hi - a] / N, N)    # (chunk, a..hi)
            # Variants without variance take no part: their pairs count for nobody.
            R2 *= kept[rows[a:b]][:, None] & kept[rows[a:hi]][None, :]
            # Pair (j, k), j < k within the window, counts for j (rows) and for k
            # (columns); the diagonal (k = j) once.
            k_hi = np.searchsorted(coord, coord[a:b] + width, side="right") - a
            col = np.arange(hi - a)[None, :]
            jj = np.arange(b - a)[:, None]
            ahead = np.where((col > jj) & (col < k_hi[:, None]), R2, 0.0)
            l2[rows[a:b]] += ahead.sum(axis=1) + R2[np.arange(b - a), np.arange(b - a)]
            l2[rows[a:hi]] += ahead.sum(axis=0)
            done += b - a
            if progress:
                progress(done, vidx.size, "LD scores")
    table = pd.DataFrame({"CHR": chrom_all[vidx], "SNP": bim["ID"].to_numpy()[vidx],
                          "BP": bim["POS"].to_numpy()[vidx], "L2": l2, "MAF": maf})[kept]
    return LDScores(table=table.reset_index(drop=True), M=float(kept.sum()),
                    M_5_50=float((maf[kept] > 0.05).sum()), excluded=int((~kept).sum()))
