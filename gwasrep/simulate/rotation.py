"""A small planted-signal image task: glyphs rotated by a genetically driven angle.

The GEMCONT EMNIST design (METHODS.md section 4) on synthetic glyphs, small enough for
tests and benchmarks:

- genotypes ``G_ij ~ Binomial(2, f_j)``, ``f_j ~ U(0.1, 0.5)``, ``beta ~ N(0, I_S)``;
- latent ``z = sqrt(h2) std(G beta) + sqrt(1 - h2) std(noise)``;
- angle ``alpha = alpha_max tanh(c z)`` with ``c = 0.5`` (tanh stays near-linear);
- each image is one of ``n_glyphs`` random stroke glyphs, rotated by ``alpha`` about the
  centre, with nuisance variation a random encoder also picks up: a scale factor
  uniform in ``1 +- jitter`` and a shift uniform in ``+- jitter`` half-widths (bilinear).
  The glyphs keep within a disc, so the transforms rarely cut them.

:func:`write_rotation_task` writes the files a user would have: ``images.npz``, a PLINK
fileset, a variant panel whose BETA are noisy external estimates, and the latent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from gwasrep.io.plink import write_plink

__all__ = ["RotationTask", "simulate_rotation", "write_rotation_task"]


@dataclass
class RotationTask:
    images: np.ndarray  # (N, size, size) uint8
    genotypes: np.ndarray  # (N, S) int8 A1 counts
    beta: np.ndarray  # (S,) true effects on the latent's genetic part
    z: np.ndarray  # (N,) latent
    alpha: np.ndarray  # (N,) angle in degrees
    glyph: np.ndarray  # (N,) which glyph
    sample_ids: np.ndarray


def _glyphs(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random three-stroke glyphs (thick anti-aliased segments) inside a centred disc."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    c = (size - 1) / 2
    r = 0.36 * size
    out = np.zeros((n, size, size))
    for k in range(n):
        for _ in range(3):
            p, q = [c + r * np.sqrt(rng.uniform(0.05, 1)) *
                    np.array([np.cos(t), np.sin(t)]) for t in rng.uniform(0, 2 * np.pi, 2)]
            d = q - p
            t = np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / (d @ d + 1e-9), 0, 1)
            dist = np.hypot(xx - p[0] - t * d[0], yy - p[1] - t * d[1])
            out[k] = np.maximum(out[k], np.clip(1.6 - dist, 0, 1))
    return out


def simulate_rotation(n: int = 4000, *, n_variants: int = 20, h2: float = 0.8,
                      alpha_max: float = 45.0, size: int = 28, n_glyphs: int = 20,
                      jitter: float = 0.15, seed: int = 0) -> RotationTask:
    """Simulate the task (see the module docstring)."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.1, 0.5, n_variants)
    G = rng.binomial(2, f, size=(n, n_variants)).astype(np.int8)
    beta = rng.normal(size=n_variants)

    def std(v):
        return (v - v.mean()) / v.std()

    z = np.sqrt(h2) * std(G @ beta) + np.sqrt(1 - h2) * std(rng.normal(size=n))
    alpha = alpha_max * np.tanh(0.5 * z)
    glyphs = _glyphs(n_glyphs, size, rng)
    which = rng.integers(0, n_glyphs, n)
    images = np.empty((n, size, size), dtype=np.uint8)
    scale = rng.uniform(1 - jitter, 1 + jitter, n)
    shift = rng.uniform(-jitter, jitter, (n, 2)) * size / 2
    c = np.full(2, (size - 1) / 2)
    for i in range(n):
        a = np.deg2rad(alpha[i])
        # Output pixel o samples the glyph at M (o - c - shift) + c, M = (s R(alpha))^-1.
        M = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) / scale[i]
        img = ndimage.affine_transform(glyphs[which[i]], M, offset=c - M @ (c + shift[i]),
                                       order=1, mode="constant")
        images[i] = np.clip(np.round(255 * img), 0, 255).astype(np.uint8)
    ids = np.array([f"R{i + 1:05d}" for i in range(n)])
    return RotationTask(images=images, genotypes=G, beta=beta, z=z, alpha=alpha, glyph=which,
                        sample_ids=ids)


def write_rotation_task(out_dir: str | os.PathLike, task: RotationTask, *,
                        beta_noise: float = 0.1, seed: int = 0) -> dict[str, Path]:
    """Write ``images.npz``, ``cohort.bed/.bim/.fam``, ``panel.parquet`` and ``latent.tsv``.

    The panel's BETA is the true effect plus N(0, ``beta_noise``^2) noise, standing in
    for an external GWAS estimate.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    n, m = task.genotypes.shape
    ids = [f"v{j + 1}" for j in range(m)]
    bim = pd.DataFrame({"CHROM": "1", "ID": ids, "CM": 0.0,
                        "POS": 10_000 * (np.arange(m) + 1), "A1": "A", "A2": "G"})
    fam = pd.DataFrame({"FID": task.sample_ids, "IID": task.sample_ids, "PAT": "0", "MAT": "0",
                        "SEX": "0", "PHENO": "-9"})
    write_plink(out / "cohort", task.genotypes, bim, fam)
    panel = bim[["ID", "CHROM", "POS", "A1", "A2"]].copy()
    panel["BETA"] = task.beta + rng.normal(0, beta_noise, m)
    panel["SE"] = beta_noise
    panel["P"] = 1e-10
    panel["SOURCE"] = "simulated"
    panel.to_parquet(out / "panel.parquet", index=False)
    np.savez(out / "images.npz", images=task.images, sample_id=task.sample_ids)
    pd.DataFrame({"sample_id": task.sample_ids, "z": task.z, "alpha": task.alpha,
                  "glyph": task.glyph}).to_csv(out / "latent.tsv", sep="\t", index=False)
    return {"images": out / "images.npz", "bed": out / "cohort", "panel": out / "panel.parquet",
            "latent": out / "latent.tsv"}
