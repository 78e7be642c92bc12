"""Sibships: a cohort with family structure for LMM calibration.

Each family has two unrelated parents (not written) and ``n_sibs`` children.
Parental haplotypes are drawn per variant with ``f_j ~ U(0.05, 0.5)``; each
child takes one random haplotype from each parent at every variant (variants
are unlinked). Traits are polygenic: every variant in a random ``causal_frac``
share has a small multi-trait effect, with genetic covariance ``h2 * Rg`` and
noise covariance ``(1 - h2) * Rn`` (compound-symmetric correlations), so the
genetic values of siblings are correlated and a linear model without kinship
is inflated genome-wide.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.io.plink import BED_MAGIC, BIM_COLUMNS, FAM_COLUMNS, encode_bed
from gwasrep.simulate.cohort import SimulatedCohort

__all__ = ["simulate_sibships"]


def simulate_sibships(out_dir: str | os.PathLike, *, n_families: int = 500,
                      n_sibs: int | Sequence[int] = 4,
                      n_variants: int = 5000, n_chrom: int = 5, n_traits: int = 2,
                      h2: float = 0.6, causal_frac: float = 0.2, genetic_corr: float = 0.5,
                      noise_corr: float = 0.3, seed: int = 0,
                      name: str = "sibs") -> SimulatedCohort:
    """Write a sibship cohort ``{name}.bed/.bim/.fam`` and ``{name}_emb.parquet``.

    Samples share a FID within a family. The embeddings table has ``FID``,
    ``IID`` and ``emb_1..emb_D``. ``causal_ids`` lists the polygenic variants.
    ``n_sibs`` is the size of every family, or one size per family (1: an unrelated
    sample; a mixture gives sparse relatedness, as in a biobank).
    """
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = np.broadcast_to(np.asarray(n_sibs, dtype=np.int64), (n_families,))
    if sizes.min() < 1:
        raise ValueError(f"n_sibs: expected family sizes >= 1, found {int(sizes.min())}")
    N, M, D = int(sizes.sum()), n_variants, n_traits
    f = rng.uniform(0.05, 0.5, size=M)
    # Parental haplotypes: (family, parent, haplotype, variant) as booleans.
    par = rng.random((n_families, 2, 2, M)) < f
    fam_of = np.repeat(np.arange(n_families), sizes)
    sib_no = np.arange(N) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    pick_p = rng.integers(0, 2, size=(N, M))
    pick_m = rng.integers(0, 2, size=(N, M))
    cols = np.arange(M)[None, :]
    hap_p = par[fam_of][:, 0][np.arange(N)[:, None], pick_p, cols]
    hap_m = par[fam_of][:, 1][np.arange(N)[:, None], pick_m, cols]
    G = (hap_p.astype(np.int8) + hap_m.astype(np.int8))
    causal = np.sort(rng.choice(M, size=max(1, int(causal_frac * M)), replace=False))
    Gc = G[:, causal] - 2 * f[causal]
    Gc /= np.sqrt(2 * f[causal] * (1 - f[causal]))
    Rg = np.full((D, D), genetic_corr) + (1 - genetic_corr) * np.eye(D)
    Rn = np.full((D, D), noise_corr) + (1 - noise_corr) * np.eye(D)
    B = rng.standard_normal((len(causal), D)) @ np.linalg.cholesky(Rg).T / np.sqrt(len(causal))
    E = (np.sqrt(h2) * Gc @ B
         + np.sqrt(1 - h2) * rng.standard_normal((N, D)) @ np.linalg.cholesky(Rn).T)

    prefix = out / name
    packed = np.zeros((M, (N + 3) // 4), dtype=np.uint8)
    encode_bed(np.ascontiguousarray(G), packed)
    with open(prefix.with_name(name + ".bed"), "wb") as fh:
        fh.write(BED_MAGIC)
        fh.write(packed.tobytes())
    chrom = np.sort(np.arange(M) % n_chrom) + 1
    pos = np.zeros(M, dtype=np.int64)
    for c in range(1, n_chrom + 1):
        sel = chrom == c
        pos[sel] = np.cumsum(rng.integers(5_000, 50_000, size=sel.sum()))
    vid = np.array([f"v{j + 1}" for j in range(M)])
    bim = pd.DataFrame({"CHROM": chrom.astype(str), "ID": vid, "CM": 0.0, "POS": pos,
                        "A1": "A", "A2": "G"})
    bim[BIM_COLUMNS].to_csv(prefix.with_name(name + ".bim"), sep="\t", header=False, index=False)
    fid = np.array([f"F{k + 1:05d}" for k in fam_of])
    iid = np.array([f"F{k + 1:05d}_{i + 1}" for i, k in zip(sib_no, fam_of, strict=True)])
    fam = pd.DataFrame({"FID": fid, "IID": iid, "PAT": "0", "MAT": "0",
                        "SEX": rng.integers(1, 3, size=N).astype(str), "PHENO": "-9"})
    fam[FAM_COLUMNS].to_csv(prefix.with_name(name + ".fam"), sep=" ", header=False, index=False)
    emb = pd.DataFrame(E, columns=[f"emb_{k + 1}" for k in range(D)])
    emb.insert(0, "IID", iid)
    emb.insert(0, "FID", fid)
    emb_path = out / f"{name}_emb.parquet"
    emb.to_parquet(emb_path, index=False)
    return SimulatedCohort(bed=prefix, emb=emb_path, covar=None, causal_ids=list(vid[causal]),
                           n_samples=N, n_variants=M, n_traits=D)
