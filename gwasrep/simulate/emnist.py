"""The GEMCONT EMNIST simulation (Sec. 3.1): pool images rotated by a genetically driven angle.

For one :class:`SimulationSetting` and one training seed:

- a **test set** of ``n_test`` images, stratified over the classes, with its genotypes,
  latent and angles: fixed by ``data_seed`` alone, so every training seed and every
  method is evaluated on the same test set, as in the paper;
- a **training set** of ``n_train`` other images with their own genotypes, drawn with the
  training seed (the paper's random splits);
- genotypes ``G_ij ~ Binomial(2, f_j)``, ``f_j ~ U(maf_range)``, for ``n_causal`` causal
  variants with ``beta ~ N(0, I)`` and ``n_null`` variants with no effect (tested
  alongside, to count false positives);
- the latent ``z = sqrt(h_g) std(G beta) + sqrt(1 - h_g) e``, ``e ~ N(0, 1)``, where std()
  standardizes with the population mean ``2 f . beta`` and variance
  ``sum 2 f (1 - f) beta^2`` (so that the training and test sets share one scale);
- the angle ``alpha = alpha_max tanh(c z)`` with ``c = 0.5`` by default (at |z| = 2,
  tanh(c z) = 0.76: the spread of z survives), and each image rotated by its alpha about
  the centre (bilinear);
- a **variant panel** (GEMCONT's genetic input) from a simulated external GWAS: an
  independent cohort of ``external_n`` people with the same model, every variant
  regressed one at a time on that cohort's z, giving BETA, SE and P with realistic noise;
  the panel is every causal variant and the ``panel_null`` null variants that GWAS ranked
  best (its false leads, with winner's-curse effects), in order of p, with
  ``gwasrep panel``'s columns.

The world (allele frequencies, effects, the external cohort) depends on ``data_seed``;
each split's causal genotypes, null genotypes, noise and image draws come from separate
streams, so a sweep over one factor changes nothing else (varying ``n_null`` keeps the
causal genotypes and z, varying ``h_g`` keeps G and the noise).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.assoc.lrt import multitrait_lrt
from gwasrep.errors import InputError
from gwasrep.io.atomic import atomic_path, atomic_write_text
from gwasrep.io.fingerprint import digest
from gwasrep.io.plink import write_plink
from gwasrep.simulate.pools import ImagePool, stratified_indices, warp_batch

__all__ = ["SETTING_FACTORS", "SimulatedData", "SimulationSetting", "simulate_data",
           "write_data"]

#: Settings a sweep can vary (``--vary FACTOR=v1,v2``), with their parsers.
SETTING_FACTORS = {"n_train": int, "n_test": int, "h_g": float, "alpha_max": float,
                   "n_causal": int, "n_null": int, "external_n": int, "panel_null": int,
                   "c": float}


@dataclass(frozen=True)
class SimulationSetting:
    """The generative parameters of one simulation cell (everything recorded with it)."""

    n_train: int = 10_000
    n_test: int = 5_000
    #: Variance of z explained by the causal variants, in (0, 1].
    h_g: float = 0.5
    #: Largest rotation in degrees, in (0, 180].
    alpha_max: float = 45.0
    #: S, the causal variants.
    n_causal: int = 20
    maf_range: tuple[float, float] = (0.05, 0.5)
    #: Variants with no effect, tested alongside the causal ones.
    n_null: int = 1000
    #: Size of the external cohort whose GWAS gives the panel's BETA.
    external_n: int = 20_000
    #: Null variants in the panel (the external GWAS's false leads).
    panel_null: int = 20
    #: Scale inside tanh.
    c: float = 0.5

    def check(self) -> None:
        if not 0 < self.h_g <= 1:
            raise InputError(f"h_g {self.h_g}: expected a value in (0, 1]")
        if not 0 < self.alpha_max <= 180:
            raise InputError(f"alpha_max {self.alpha_max}: expected degrees in (0, 180]")
        if self.n_causal < 1:
            raise InputError(f"n_causal (S) {self.n_causal}: expected at least 1")
        lo, hi = self.maf_range
        if not 0 < lo <= hi <= 0.5:
            raise InputError(f"maf_range {lo},{hi}: expected 0 < low <= high <= 0.5")
        for name in ("n_train", "n_test", "external_n"):
            if getattr(self, name) < 10:
                raise InputError(f"{name} {getattr(self, name)}: expected at least 10")
        if self.n_null < 0 or self.panel_null < 0 or self.panel_null > self.n_null:
            raise InputError(f"n_null {self.n_null}, panel_null {self.panel_null}: expected "
                             "0 <= panel_null <= n_null")
        if self.c <= 0:
            raise InputError(f"c {self.c}: expected a positive scale")

    def key(self) -> str:
        """A short digest of every field: equal keys, equal data."""
        return digest(asdict(self))[:12]

    def replace(self, **changes) -> SimulationSetting:
        known = {f.name for f in fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise InputError(f"--vary {bad[0]}: not a setting; expected one of "
                             f"{', '.join(SETTING_FACTORS)}")
        values = {**asdict(self), **changes}
        values["maf_range"] = tuple(values["maf_range"])
        out = SimulationSetting(**values)
        out.check()
        return out


@dataclass
class SimulatedData:
    """One setting and training seed: the training and test individuals together."""

    setting: SimulationSetting
    data_seed: int
    train_seed: int
    #: (n, H, W) uint8 rotated images; the first n_train rows are the training set.
    images: np.ndarray
    #: (n, n_causal + n_null) int8 A1 counts.
    genotypes: np.ndarray
    z: np.ndarray
    alpha: np.ndarray
    #: Class of each image, and which pool image it is.
    labels: np.ndarray
    pool_index: np.ndarray
    sample_ids: np.ndarray
    #: "train" or "test" per individual.
    split: np.ndarray
    #: ID CHROM POS A1 A2 FREQ CAUSAL BETA (true effect on std(G beta); 0 for null).
    variants: pd.DataFrame
    #: The panel (gwasrep panel's columns) from the external GWAS.
    panel: pd.DataFrame
    #: Realized variance of sqrt(h_g) std(G beta) in each split.
    realized_h_g: dict

    @property
    def n_samples(self) -> int:
        return int(self.images.shape[0])


def _world(setting: SimulationSetting, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and effects of every variant (the causal ones first).

    The causal and the null variants come from separate streams, so that varying
    ``n_null`` leaves the causal architecture as it is (and varying S the null variants).
    """
    rc = np.random.default_rng([data_seed, 101, 0])
    f_c = rc.uniform(*setting.maf_range, setting.n_causal)
    beta_c = rc.standard_normal(setting.n_causal)
    f_n = np.random.default_rng([data_seed, 101, 1]).uniform(*setting.maf_range,
                                                              setting.n_null)
    return np.concatenate([f_c, f_n]), np.concatenate([beta_c, np.zeros(setting.n_null)])


def _streams(*key: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for a split's causal genotypes, null genotypes, environmental
    noise and image draws."""
    return tuple(np.random.default_rng([*key, k]) for k in range(4))


def _latent(G: np.ndarray, f: np.ndarray, beta: np.ndarray, h_g: float,
            rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """z and the realized variance of its genetic part, with population standardization."""
    mean = 2 * f @ beta
    sd = np.sqrt((2 * f * (1 - f) * beta**2).sum())
    genetic = np.sqrt(h_g) * (G.astype(np.float64) @ beta - mean) / sd
    e = rng.standard_normal(G.shape[0])
    return genetic + np.sqrt(1 - h_g) * e, float(genetic.var())


def _people(n: int, f: np.ndarray, n_causal: int, rng_causal: np.random.Generator,
            rng_null: np.random.Generator) -> np.ndarray:
    """Genotypes of n people: the causal block and the null block from their own streams."""
    return np.hstack([rng_causal.binomial(2, f[:n_causal], size=(n, n_causal)),
                      rng_null.binomial(2, f[n_causal:], size=(n, f.size - n_causal))]
                     ).astype(np.int8)


def simulate_data(pool: ImagePool, setting: SimulationSetting, *, data_seed: int = 0,
                  train_seed: int = 0) -> SimulatedData:
    """Simulate the training and test sets of one setting (see the module docstring).

    Raises
    ------
    InputError
        If the pool has fewer than ``n_train + n_test`` images.
    """
    setting.check()
    need = setting.n_train + setting.n_test
    if need > pool.n_images:
        raise InputError(f"n_train + n_test = {setting.n_train:,} + {setting.n_test:,} = "
                         f"{need:,} images, but the image pool ({pool.source}) has "
                         f"{pool.n_images:,}")
    S = setting.n_causal
    f, beta = _world(setting, data_seed)
    gc, gn, noise, draw = _streams(data_seed, 202)
    test_idx = stratified_indices(pool.labels, setting.n_test, draw)
    G_test = _people(setting.n_test, f, S, gc, gn)
    z_test, h_test = _latent(G_test, f, beta, setting.h_g, noise)
    gc, gn, noise, draw = _streams(data_seed, 303, train_seed)
    train_idx = stratified_indices(pool.labels, setting.n_train, draw, exclude=test_idx)
    G_train = _people(setting.n_train, f, S, gc, gn)
    z_train, h_train = _latent(G_train, f, beta, setting.h_g, noise)

    idx = np.concatenate([train_idx, test_idx])
    z = np.concatenate([z_train, z_test])
    alpha = setting.alpha_max * np.tanh(setting.c * z)
    images = np.empty((idx.size, *pool.image_size), dtype=np.uint8)
    for lo in range(0, idx.size, 8192):
        sl = slice(lo, lo + 8192)
        rot = warp_batch(pool.images[idx[sl]], degrees=alpha[sl])
        images[sl] = np.clip(np.round(rot), 0, 255).astype(np.uint8)

    m = f.size
    chrom = 1 + np.arange(m) % 22
    pos = 1_000_000 * (1 + np.arange(m) // 22)
    ids = np.array([f"c{j + 1}" if j < setting.n_causal else f"n{j + 1 - setting.n_causal}"
                    for j in range(m)])
    variants = pd.DataFrame({"ID": ids, "CHROM": chrom.astype(str), "POS": pos, "A1": "A",
                             "A2": "G", "FREQ": f, "CAUSAL": np.arange(m) < setting.n_causal,
                             "BETA": beta})
    panel = _external_panel(setting, f, beta, variants, data_seed)
    n = idx.size
    return SimulatedData(
        setting=setting, data_seed=data_seed, train_seed=train_seed, images=images,
        genotypes=np.concatenate([G_train, G_test]), z=z, alpha=alpha, labels=pool.labels[idx],
        pool_index=idx, sample_ids=np.array([f"S{i + 1:06d}" for i in range(n)]),
        split=np.array(["train"] * setting.n_train + ["test"] * setting.n_test),
        variants=variants, panel=panel, realized_h_g={"train": h_train, "test": h_test})


def _external_panel(setting: SimulationSetting, f: np.ndarray, beta: np.ndarray,
                    variants: pd.DataFrame, data_seed: int) -> pd.DataFrame:
    """The external GWAS of z, one variant at a time, on an independent cohort: the panel is
    every causal variant and the ``panel_null`` null variants it ranked best (its false
    leads, with their winner's-curse effects), in order of p."""
    gc, gn, noise, _ = _streams(data_seed, 404)
    G = _people(setting.external_n, f, setting.n_causal, gc, gn)
    z, _ = _latent(G, f, beta, setting.h_g, noise)
    res = multitrait_lrt(z[:, None], G.astype(np.float64))
    p = res.p_dim[:, 0]
    null = setting.n_causal + np.argsort(p[setting.n_causal:], kind="stable")[:setting.panel_null]
    cols = np.concatenate([np.arange(setting.n_causal), null])
    cols = cols[np.argsort(p[cols], kind="stable")]
    v = variants.iloc[cols]
    return pd.DataFrame({"ID": v["ID"].to_numpy(), "CHROM": v["CHROM"].to_numpy(),
                         "POS": v["POS"].to_numpy(), "A1": v["A1"].to_numpy(),
                         "A2": v["A2"].to_numpy(), "BETA": res.beta[cols, 0],
                         "SE": res.se[cols, 0], "P": p[cols],
                         "SOURCE": f"simulated external GWAS (N={setting.external_n:,})"})


def write_data(data: SimulatedData, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the files ``gwasrep train``/``embed``/``assoc`` read (data_specs/simulation.md):
    ``images.npz``, ``cohort.{bed,bim,fam}``, ``panel.parquet``, ``latent.tsv``,
    ``variants.tsv``, ``train.txt``, ``test.txt`` and ``setting.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"images": out / "images.npz", "bed": out / "cohort", "panel": out / "panel.parquet",
             "latent": out / "latent.tsv", "variants": out / "variants.tsv",
             "train": out / "train.txt", "test": out / "test.txt",
             "setting": out / "setting.json"}
    with atomic_path(paths["images"]) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, images=data.images, sample_id=data.sample_ids)
    v = data.variants
    bim = pd.DataFrame({"CHROM": v["CHROM"], "ID": v["ID"], "CM": 0.0, "POS": v["POS"],
                        "A1": v["A1"], "A2": v["A2"]})
    fam = pd.DataFrame({"FID": data.sample_ids, "IID": data.sample_ids, "PAT": "0", "MAT": "0",
                        "SEX": "0", "PHENO": "-9"})
    write_plink(paths["bed"], data.genotypes, bim, fam)
    with atomic_path(paths["panel"]) as tmp:
        data.panel.to_parquet(tmp, index=False)
    latent = pd.DataFrame({"sample_id": data.sample_ids, "z": data.z, "alpha": data.alpha,
                           "label": data.labels, "pool_index": data.pool_index,
                           "split": data.split})
    with atomic_path(paths["latent"]) as tmp:
        latent.to_csv(tmp, sep="\t", index=False, float_format="%.10g")
    with atomic_path(paths["variants"]) as tmp:
        v.to_csv(tmp, sep="\t", index=False, float_format="%.10g")
    for part in ("train", "test"):
        atomic_write_text(paths[part], "".join(f"{s}\n" for s in
                                               data.sample_ids[data.split == part]))
    atomic_write_text(paths["setting"], json.dumps(
        {"setting": asdict(data.setting), "data_seed": data.data_seed,
         "train_seed": data.train_seed, "realized_h_g": data.realized_h_g}, indent=1) + "\n")
    return paths
