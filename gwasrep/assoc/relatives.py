"""Close relatives, and the relatedness-calibrated residual covariance of the ridge mode.

Why (measured in tests/assoc/test_ridge_calibration.py)
-------------------------------------------------------
REGENIE's step 2 tests a variant x against the residual ``r = y - LOCO_c`` by linear
regression, with the null variance of ``x^T r`` taken as ``x^T x r^T r / N``. That holds
when the samples are unrelated. The LOCO prediction of a sample comes from models fitted on
the other folds, which hold its relatives, so relatives' residuals are negatively
correlated (about -0.07 between siblings at h2 0.6); and the genotypes of relatives at a
null variant are positively correlated. The statistic deflates: lambda GC 0.90 when every
sample is one of four siblings, 0.98 when a third of the samples are in sib pairs.

The calibration (retrospective, as in MASTOR, Jakobsdottir & McPeek 2013, and BOLT's
retrospective variance): for a null variant, standardized genotypes have covariance
``Phi`` across samples, the genetic relationship (twice the kinship: 1 on the diagonal,
0.5 for siblings and parent-offspring, 0.25 for second degree, ...), independent of the
residuals given the pedigree. So ``Var(x^T r | r) = var(x) r^T Phi r``, and the residual
covariance of the D traits that the tests use is

    ``C_Phi = R^T Phi R / N = (R^T R + sum_{pairs i<j} phi_ij (r_i r_j^T + r_j r_i^T)) / N``

instead of ``C0 = R^T R / N``. The multi-trait LRT takes ``C_Phi^-1`` in its quadratic form;
per dimension, the standard error is multiplied by ``sqrt(C_Phi_kk / C0_kk)`` (the effect
estimate is unchanged). Without relatives ``C_Phi = C0`` exactly. Only close relatives
enter ``Phi`` (relationship above a threshold, default 0.1: down to third degree); more
distant structure is left to the ridge predictions and covariates, as in REGENIE.

The pairs come from a KING table (``plink2 --make-king-table``, KING's .kin0, UK Biobank's
relatedness file) or from the genetic relationship matrix of up to 5,000 step-1 variants,
computed in row blocks so that only the pairs above the threshold are kept (O(N^2 m) time,
O(N m) memory): at N = 400,000 a KING table is the faster route.

Numerics only: arrays in, :class:`Relatives` and null models out (numpy).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gwasrep.assoc.linear import NullModel, pd_inverse
from gwasrep.errors import InputError

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_GRM_VARIANTS",
    "Relatives",
    "calibrate_null",
    "describe_relatives",
    "evenly_spaced",
    "find_relatives",
    "grm_pairs",
    "grm_threshold",
    "relatedness_covariance",
    "relatives_from_table",
]

#: Pairs with a genetic relationship (2 x kinship) above this are relatives.
DEFAULT_THRESHOLD = 0.1
#: Variants of the relationship matrix the pairs are found from.
MAX_GRM_VARIANTS = 5000


@dataclass(frozen=True)
class Relatives:
    """Pairs of related samples: rows ``i < j`` of the tested samples, relationship ``phi``."""

    i: np.ndarray
    j: np.ndarray
    #: Genetic relationship, twice the kinship coefficient (0.5 for siblings).
    phi: np.ndarray
    n_samples: int
    #: Where the pairs come from (a file name, or "genotypes").
    source: str
    threshold: float = DEFAULT_THRESHOLD
    #: Variants of the relationship matrix (0 for a table read from a file).
    n_variants: int = 0

    def __post_init__(self):
        if not (self.i.shape == self.j.shape == self.phi.shape):
            raise ValueError("i, j and phi must have one entry per pair")

    @property
    def n_pairs(self) -> int:
        return int(self.i.size)

    def n_related_samples(self) -> int:
        return int(np.unique(np.r_[self.i, self.j]).size)

    def summary(self) -> dict:
        """For run.json."""
        return {"source": self.source, "threshold": self.threshold,
                "n_variants": self.n_variants, "n_pairs": self.n_pairs,
                "n_related_samples": self.n_related_samples(),
                "mean_relationship": float(self.phi.mean()) if self.n_pairs else None}


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """Positions of ``min(n, k)`` evenly spaced items among ``n`` (first and last included)."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(np.int64))


def grm_threshold(n_variants: int, threshold: float = DEFAULT_THRESHOLD) -> float:
    """The threshold, raised to 6 standard errors of a relationship estimated from
    ``n_variants`` unlinked variants (``1 / sqrt(m)``) when there are few of them."""
    return float(max(threshold, 6.0 / np.sqrt(max(n_variants, 1))))


#: Memory of one row block of the relationship matrix (float32) in :func:`grm_pairs`.
BLOCK_BYTES = 512 << 20


def grm_pairs(Z: np.ndarray, threshold: float, *, chunk: int | None = None,
              progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``i < j`` with ``Z_i . Z_j / m > threshold`` for standardized genotypes Z (N x m).

    The relationship matrix is formed ``chunk`` rows at a time against the rows after them
    (default: as many rows as fit in :data:`BLOCK_BYTES`, at most 2,048), so memory stays
    O(chunk N) whatever N.
    """
    N, m = Z.shape
    if m == 0:
        raise InputError("relatives: no variants to estimate relationships from")
    if chunk is None:
        chunk = int(min(2048, max(64, BLOCK_BYTES // (4 * max(N, 1)))))
    Zf = np.ascontiguousarray(Z, dtype=np.float32)
    out_i, out_j, out_v = [], [], []
    starts = range(0, N, chunk)
    for n, a in enumerate(starts):
        b = min(a + chunk, N)
        K = Zf[a:b] @ Zf[a:].T
        K /= m
        # Only the upper triangle (j > i): mask the diagonal block's lower part.
        K[np.tril_indices(b - a)] = -np.inf
        ii, jj = np.nonzero(K > threshold)
        out_i.append(ii + a)
        out_j.append(jj + a)
        out_v.append(K[ii, jj].astype(np.float64))
        if progress:
            progress(n + 1, len(starts), "relatives")
    return (np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64),
            np.concatenate(out_v))


def find_relatives(G: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD,
                   max_variants: int = MAX_GRM_VARIANTS, maf_min: float = 0.01) -> Relatives:
    """Close relatives from dosages ``G`` (N x M, NaN for missing): the pairs whose genetic
    relationship over the variants with MAF >= ``maf_min`` among ``max_variants`` evenly
    spaced ones (:func:`evenly_spaced`, as the file engine picks them) exceeds
    :func:`grm_threshold`.

    Examples
    --------
    >>> import numpy as np
    >>> from gwasrep.assoc.relatives import find_relatives
    >>> rng = np.random.default_rng(0)
    >>> G = rng.binomial(2, 0.3, size=(50, 4000)).astype(float)
    >>> G[1] = G[0]                      # a duplicate: relationship 1
    >>> rel = find_relatives(G)
    >>> rel.i, rel.j, bool(abs(rel.phi[0] - 1) < 0.1)
    (array([0]), array([1]), True)
    """
    G = np.asarray(G)
    pick = evenly_spaced(G.shape[1], max_variants)
    G = np.asarray(G[:, pick], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        p = np.nanmean(G, axis=0) / 2
    maf = np.minimum(p, 1 - p)
    keep = np.flatnonzero(np.isfinite(maf) & (maf >= maf_min))
    Z = (G[:, keep] - 2 * p[keep]) / np.sqrt(2 * p[keep] * (1 - p[keep]))
    Z = np.where(np.isnan(Z), 0.0, Z)
    thr = grm_threshold(keep.size, threshold)
    i, j, v = grm_pairs(Z, thr)
    return Relatives(i=i, j=j, phi=v, n_samples=G.shape[0], source="genotypes", threshold=thr,
                     n_variants=int(keep.size))


def relatives_from_table(iid1, iid2, kinship, sample_ids, *, source: str,
                         threshold: float = DEFAULT_THRESHOLD) -> Relatives:
    """The pairs of a kinship table among ``sample_ids`` (the tested samples, in order) whose
    relationship ``2 x kinship`` exceeds ``threshold``; a pair listed twice counts once."""
    pos = {str(s): k for k, s in enumerate(sample_ids)}
    a = np.array([pos.get(str(s), -1) for s in iid1], dtype=np.int64)
    b = np.array([pos.get(str(s), -1) for s in iid2], dtype=np.int64)
    phi = 2 * np.asarray(kinship, dtype=np.float64)
    keep = (a >= 0) & (b >= 0) & (a != b) & (phi > threshold)
    i, j = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    _, first = np.unique(i * len(pos) + j, return_index=True)
    first.sort()
    return Relatives(i=i[first], j=j[first], phi=phi[keep][first], n_samples=len(pos),
                     source=source, threshold=float(threshold))


def relatedness_covariance(R: np.ndarray, rel: Relatives) -> np.ndarray:
    """``R^T Phi R / N`` with ``Phi`` the identity plus the pairs' relationships."""
    N = R.shape[0]
    if rel.n_samples != N:
        raise InputError(f"relatives are for {rel.n_samples:,} samples; the residuals have "
                         f"{N:,} rows")
    C = R.T @ R
    if rel.n_pairs:
        cross = (R[rel.i] * rel.phi[:, None]).T @ R[rel.j]
        C += cross + cross.T
    return C / N


def calibrate_null(null: NullModel, rel: Relatives) -> NullModel:
    """The null model whose tests use the relatedness-calibrated covariance ``C_Phi``."""
    C = relatedness_covariance(null.R0, rel)
    C = (C + C.T) / 2
    C_inv = pd_inverse(C, lambda lo, hi: (
        f"relatives ({rel.source}): the relatedness-calibrated residual covariance is not "
        f"positive definite (eigenvalue {lo:.3g} vs largest {hi:.3g}); check the "
        "relationships listed"))
    scale = np.sqrt(np.diag(C) / np.diag(null.C0))
    return replace(null, C0_inv=C_inv, se_scale=scale)


def describe_relatives(summary: dict | None) -> str:
    """One line on the calibration, from :meth:`Relatives.summary` (None: not calibrated)."""
    if summary is None:
        return "tests not calibrated for relatives (--relatives none)"
    where = (f"relationship over {summary['n_variants']:,} variants"
             if summary["source"] == "genotypes" else f"2 x kinship in {summary['source']}")
    return (f"tests calibrated for {summary['n_pairs']:,} pairs of relatives among "
            f"{summary['n_related_samples']:,} samples ({where} > {summary['threshold']:.3g})")
