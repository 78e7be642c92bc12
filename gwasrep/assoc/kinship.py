"""Genetic relationship matrices, streamed over blocks of variants of a .bed.

Two kinds, both with missing calls mean-imputed (contributing 0 after centring):

- ``standardized`` (GCTA): ``z = (x - 2p) / sqrt(2p(1-p))``, ``K = Z Z^T / S``.
- ``centered`` (GEMMA ``-gk 1``): ``z = x - mean(x)``, ``K = Z Z^T / S``.

``p`` and the means are computed over the samples the GRM is built for. A
variant is used when its MAF among those samples is at least ``maf_min`` and
its missing fraction at most ``max_missing``; monomorphic variants never are.

The full matrix is accumulated block by block: a numba kernel turns the packed .bed
bytes into ``Z_b`` (:mod:`gwasrep.assoc._grm_kernels`, exactly :func:`standardize_block`'s
values) and one symmetric rank-k update (BLAS dsyrk, one triangle, float64) adds
``Z_b Z_b^T``; the other triangle is filled once at the end. For the low-rank
(FaST-LMM) path the N x S matrix ``Z`` itself is kept instead. Leave-one-chromosome-out
GRMs subtract one chromosome's part from the total: ``K_-c = (sum_all - sum_c) / (S - S_c)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gwasrep.aot import kernel
from gwasrep.errors import InputError
from gwasrep.io.plink import PlinkFileset, read_packed
from gwasrep.runs import Progress

__all__ = ["GRM_KINDS", "GrmParts", "compute_grm_parts", "standardize_block",
           "standardize_packed"]

#: :func:`gwasrep.assoc._grm_kernels.standardize_packed`, compiled ahead of time.
standardize_packed = kernel("gwasrep.assoc._grm_kernels", "standardize_packed")

GRM_KINDS = ("standardized", "centered")


def standardize_block(X: np.ndarray, kind: str, *, maf_min: float = 0.0,
                      max_missing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Standardize (or centre) a block of dosages for the GRM.

    Parameters
    ----------
    X : ndarray of shape (N, m)
        A1 dosages, NaN for missing.

    Returns
    -------
    Z : ndarray of shape (N, m_used), float64
        Columns of the used variants, 0 where the call was missing.
    used : ndarray of shape (m,), bool
    """
    if kind not in GRM_KINDS:
        raise InputError(f"GRM kind {kind!r}: expected one of {', '.join(GRM_KINDS)}")
    obs = np.isfinite(X)
    n_obs = obs.sum(axis=0)
    Xz = np.where(obs, X, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = Xz.sum(axis=0) / n_obs
        p = mean / 2
        var = ((Xz - mean) ** 2 * obs).sum(axis=0) / n_obs
    maf = np.minimum(p, 1 - p)
    miss = 1 - n_obs / X.shape[0]
    used = (n_obs > 0) & (var > 0) & (maf >= maf_min) & (miss <= max_missing)
    Z = np.where(obs[:, used], Xz[:, used] - mean[used], 0.0)
    if kind == "standardized":
        Z /= np.sqrt(2 * p[used] * (1 - p[used]))
    return Z, used


@dataclass
class GrmParts:
    """A streamed GRM: the total and, for LOCO, the parts per chromosome."""

    kind: str
    #: Variants used (positions in the .bim).
    variant_idx: np.ndarray
    #: Chromosome of each used variant.
    chrom: np.ndarray
    #: ``sum_j z_j z_j^T`` over all used variants, (N, N); None when ``keep_z``.
    num: np.ndarray | None = None
    #: ``sum_j z_j z_j^T`` per chromosome (only with ``loco``).
    num_by_chrom: dict[str, np.ndarray] = field(default_factory=dict)
    #: The standardized matrix, (N, S), only with ``keep_z``.
    Z: np.ndarray | None = None

    @property
    def n_variants(self) -> int:
        return int(self.variant_idx.size)

    def count(self, exclude_chrom: str | None = None) -> int:
        if exclude_chrom is None:
            return self.n_variants
        return int((self.chrom != exclude_chrom).sum())

    def matrix(self, exclude_chrom: str | None = None) -> np.ndarray:
        """The GRM, or the LOCO GRM without ``exclude_chrom``."""
        S = self.count(exclude_chrom)
        if S == 0:
            raise InputError(f"no GRM variant left outside chromosome {exclude_chrom}")
        if self.Z is not None:
            Zs = self.Z if exclude_chrom is None else self.Z[:, self.chrom != exclude_chrom]
            return Zs @ Zs.T / S
        num = self.num if exclude_chrom is None else self.num - self.num_by_chrom[exclude_chrom]
        return num / S

    def z_matrix(self, exclude_chrom: str | None = None) -> np.ndarray:
        """``Z`` (or its LOCO columns), scaled so that ``K = Z Z^T``."""
        assert self.Z is not None
        sel = slice(None) if exclude_chrom is None else self.chrom != exclude_chrom
        return self.Z[:, sel] / np.sqrt(self.count(exclude_chrom))


def compute_grm_parts(fileset: PlinkFileset, sample_idx: np.ndarray, variant_idx: np.ndarray,
                      *, kind: str = "standardized", maf_min: float = 0.01,
                      max_missing: float = 0.05, loco: bool = False, keep_z: bool = False,
                      block_size: int = 4096,
                      progress: Progress | None = None) -> GrmParts:
    """Stream a GRM over blocks of ``variant_idx`` for the samples ``sample_idx``.

    Parameters
    ----------
    sample_idx : ndarray of int
        Positions in the .fam, in the order of the GRM's rows.
    loco : bool
        Also keep the per-chromosome parts (memory: one N x N per chromosome).
    keep_z : bool
        Keep the N x S standardized matrix instead of accumulating ``Z Z^T``
        (the low-rank path).
    progress : Progress, optional
        Stage ``kinship``, in variants read.
    """
    from scipy.linalg.blas import dsyrk

    if kind not in GRM_KINDS:
        raise InputError(f"GRM kind {kind!r}: expected one of {', '.join(GRM_KINDS)}")
    variant_idx = np.asarray(variant_idx, dtype=np.int64)
    sample_idx = np.asarray(sample_idx, dtype=np.int64)
    N = len(sample_idx)
    chrom_all = fileset.bim["CHROM"].to_numpy().astype(str)
    parts = GrmParts(kind=kind, variant_idx=np.empty(0, np.int64), chrom=np.empty(0, str))
    used_idx, zs = [], []
    total = variant_idx.size
    Zbuf = np.empty((N, min(block_size, max(total, 1))), order="F")
    # Blocks never span chromosomes. Each chromosome's Z Z^T is one rank-k update (dsyrk,
    # upper triangle) per block into its own accumulator, added to the total at its end.
    bounds = np.flatnonzero(np.diff(np.r_[-1, np.unique(chrom_all[variant_idx],
                                                        return_inverse=True)[1], -1]))
    num = None if keep_z else np.zeros((N, N), order="F")
    done = 0
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        acc = np.zeros((N, N), order="F") if loco and not keep_z else num
        any_used = False
        for lo in range(a, b, block_size):
            idx = variant_idx[lo:min(b, lo + block_size)]
            packed = read_packed(fileset.bed_path, idx, fileset.n_samples)
            used = np.zeros(idx.size, dtype=np.bool_)
            k = standardize_packed(packed, sample_idx, kind == "standardized", float(maf_min),
                                   float(max_missing), Zbuf, used)
            if k:
                any_used = True
                used_idx.append(idx[used])
                if keep_z:
                    zs.append(Zbuf[:, :k].copy())
                else:
                    dsyrk(1.0, Zbuf[:, :k], beta=1.0, c=acc, trans=0, lower=0, overwrite_c=1)
            done += idx.size
            if progress:
                progress(done, total, "kinship")
        if acc is not num and any_used:
            num += acc
            parts.num_by_chrom[str(chrom_all[variant_idx[a]])] = _symmetric(acc)
    if num is not None:
        parts.num = _symmetric(num)
    if not used_idx:
        raise InputError(f"no variant usable for the GRM: all {total:,} candidates are "
                         f"monomorphic, have MAF < {maf_min} or missing fraction > {max_missing}")
    parts.variant_idx = np.concatenate(used_idx)
    parts.chrom = chrom_all[parts.variant_idx]
    if keep_z:
        parts.Z = np.hstack(zs)
    return parts


def _symmetric(a: np.ndarray, tile: int = 512) -> np.ndarray:
    """The full symmetric matrix from its upper triangle (what dsyrk writes), in place,
    one tile of columns at a time (no N x N temporary)."""
    n = a.shape[0]
    for j0 in range(0, n, tile):
        j1 = min(n, j0 + tile)
        a[j0:j1, :j0] = a[:j0, j0:j1].T
        blk = a[j0:j1, j0:j1]
        il = np.tril_indices(j1 - j0, -1)
        blk[il] = blk.T[il]
    return a
