"""Synthetic cohorts: PLINK genotypes, embeddings with planted multi-trait effects, covariates.

Genotypes are drawn independently per variant (no LD): ``G_ij ~ Binomial(2, f_j)``
with ``f_j ~ U(0.05, 0.5)``. Embeddings are ``E = F A + sum_j g_j b_j^T + Psi``,
with rows of ``Psi`` drawn from a correlated normal, so both the multi-trait and
the per-dimension tests have something to find at the causal variants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.io.plink import BED_MAGIC, BIM_COLUMNS, FAM_COLUMNS, encode_bed

__all__ = ["SimulatedCohort", "simulate_cohort"]


@dataclass
class SimulatedCohort:
    """Paths and truth of a simulated cohort."""

    bed: Path
    emb: Path
    covar: Path | None
    #: IDs of the variants with planted effects.
    causal_ids: list[str]
    n_samples: int
    n_variants: int
    n_traits: int


def simulate_cohort(out_dir: str | os.PathLike, *, n_samples: int = 2000,
                    n_variants: int = 10_000, n_traits: int = 8, n_covariates: int = 3,
                    n_causal: int = 10, effect_sd: float = 0.15, missing_rate: float = 0.0,
                    n_chrom: int = 3, trait_corr: float = 0.5, seed: int = 0,
                    chunk: int = 2000, name: str = "cohort") -> SimulatedCohort:
    """Write a synthetic cohort to ``out_dir``.

    Files: ``{name}.bed/.bim/.fam``, ``{name}_emb.parquet`` (``sample_id`` + ``emb_1``...),
    ``{name}_covar.tsv`` (``FID IID cov_1``..., if ``n_covariates > 0``).

    Parameters
    ----------
    effect_sd : float
        Standard deviation of the per-dimension effect of one A1 allele at a
        causal variant (noise has unit variance per dimension).
    missing_rate : float
        Fraction of genotype calls set missing, uniformly at random.
    trait_corr : float
        Correlation between noise dimensions (compound symmetry).
    """
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    N, M, D = n_samples, n_variants, n_traits
    ids = np.array([f"S{i + 1:06d}" for i in range(N)])
    chrom = np.sort(np.arange(M) % n_chrom) + 1
    pos = np.empty(M, dtype=np.int64)
    for c in range(1, n_chrom + 1):
        sel = chrom == c
        pos[sel] = np.cumsum(rng.integers(500, 3000, size=sel.sum()))
    vid = np.array([f"rs{j + 1}" for j in range(M)])
    alleles = np.array(list("ACGT"))
    a1 = rng.integers(0, 4, size=M)
    a2 = (a1 + rng.integers(1, 4, size=M)) % 4
    causal = np.sort(rng.choice(M, size=min(n_causal, M), replace=False))
    B = rng.normal(0.0, effect_sd, size=(len(causal), D))
    genetic = np.zeros((N, D))
    bpv = (N + 3) // 4
    prefix = out / name
    with open(prefix.with_name(name + ".bed"), "wb") as fh:
        fh.write(BED_MAGIC)
        for j0 in range(0, M, chunk):
            m = min(chunk, M - j0)
            f = rng.uniform(0.05, 0.5, size=m)
            G = ((rng.random((N, m)) < f).astype(np.int8) + (rng.random((N, m)) < f))
            G = G.astype(np.int8)
            in_chunk = causal[(causal >= j0) & (causal < j0 + m)]
            for j in in_chunk:
                genetic += np.outer(G[:, j - j0] - 2 * f[j - j0], B[np.searchsorted(causal, j)])
            if missing_rate > 0:
                G[rng.random((N, m)) < missing_rate] = -1
            packed = np.zeros((m, bpv), dtype=np.uint8)
            encode_bed(G, packed)
            fh.write(packed.tobytes())
    bim = pd.DataFrame({"CHROM": chrom.astype(str), "ID": vid, "CM": 0.0, "POS": pos,
                        "A1": alleles[a1], "A2": alleles[a2]})
    bim[BIM_COLUMNS].to_csv(prefix.with_name(name + ".bim"), sep="\t", header=False, index=False)
    fam = pd.DataFrame({"FID": ids, "IID": ids, "PAT": "0", "MAT": "0",
                        "SEX": rng.integers(1, 3, size=N).astype(str), "PHENO": "-9"})
    fam[FAM_COLUMNS].to_csv(prefix.with_name(name + ".fam"), sep=" ", header=False, index=False)

    cov_path = None
    F = rng.standard_normal((N, n_covariates))
    if n_covariates > 0:
        cov_path = out / f"{name}_covar.tsv"
        cov = pd.DataFrame(F, columns=[f"cov_{k + 1}" for k in range(n_covariates)])
        cov.insert(0, "IID", ids)
        cov.insert(0, "FID", ids)
        cov.to_csv(cov_path, sep="\t", index=False, float_format="%.8g")
    Sigma = np.full((D, D), trait_corr) + (1 - trait_corr) * np.eye(D)
    noise = rng.standard_normal((N, D)) @ np.linalg.cholesky(Sigma).T
    A = rng.normal(0.0, 0.5, size=(n_covariates, D))
    E = F @ A + genetic + noise
    emb = pd.DataFrame(E, columns=[f"emb_{k + 1}" for k in range(D)])
    emb.insert(0, "sample_id", ids)
    emb_path = out / f"{name}_emb.parquet"
    emb.to_parquet(emb_path, index=False)
    return SimulatedCohort(bed=prefix, emb=emb_path, covar=cov_path,
                           causal_ids=list(vid[causal]), n_samples=N, n_variants=M, n_traits=D)
