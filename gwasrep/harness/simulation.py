"""``gwasrep simulate-emnist``: GEMCONT's simulation benchmark, cell by cell.

A **cell** is one method x training seed x setting. It trains the method on the training
split (:func:`gwasrep.models.run.run_train`), embeds the fixed test split
(:func:`gwasrep.models.run.run_embed`), projects the embeddings on their top ``pcs``
principal components, applies the adjusted INT and runs the multi-trait GWAS over every
simulated variant (:func:`gwasrep.assoc.run.run_assoc`), all in-process. Its metrics:

- ``r2_z``: R^2 of the latent z from the embeddings, ridge regression cross-validated
  within the test split (:func:`gwasrep.harness.metrics.cv_ridge_r2`);
- ``frac_causal_P`` / ``frac_causal_P_BONF``: the causal variants at p < 5e-8 for the
  multi-trait test and for the Bonferroni aggregate;
- ``null_hits_P`` / ``null_hits_P_BONF`` and ``lambda_gc_null``: the false positives;
- ``train_seconds``, ``epochs`` and ``device``.

Every finished cell is stored under ``OUT/cells/`` as soon as it ends (its
``result.json`` is written last, atomically), keyed by everything that determines it, so a
killed sweep resumes where it stopped and a changed setting is a new cell. Each setting's
data (images, genotypes, panel) is simulated once per training seed under ``OUT/data/``.
Cells run one after another, ``jobs`` at a time in local processes, or on a
dask.distributed cluster (the workers must see ``OUT`` at the same path).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import run_assoc
from gwasrep.errors import InputError
from gwasrep.harness.metrics import cv_ridge_r2, recovery
from gwasrep.io.atomic import atomic_write_text
from gwasrep.io.fingerprint import digest
from gwasrep.models.methods import REGISTRY
from gwasrep.runs import Progress
from gwasrep.simulate.emnist import SimulationSetting, simulate_data, write_data
from gwasrep.simulate.pools import ImagePool

__all__ = ["METHOD_AUGMENT", "METHOD_INPUTS", "PROFILES", "CellSpec", "SimulationProfile",
           "cell_specs",
           "ensure_data", "run_cell"]

#: Each method's image augmentation: none that destroys the rotation (no ``rotation``, no
#: flips; SimCLR gets mild crops, blur and contrast jitter, which it needs for two views).
METHOD_AUGMENT = {
    "gemcont": ["erasing"],
    "prs": ["erasing"],
    "simclr": ["smallcrop", "jitter", "blur", "erasing"],
    "vae": ["erasing"],
    "autoencoder": ["erasing"],
    "supervised": ["erasing"],
    "contig": ["erasing"],
    "gim": ["erasing"],
    "mrm": ["erasing"],
}

#: Each method's genetic inputs from a setting's data folder, as TrainConfig fields (paths
#: relative to the folder). ContIG gets two modalities: every simulated variant as raw SNPs
#: and the panel's PGS (the simulated external GWAS's BETA); GIM and MRM the whole
#: simulated SNP sequence.
METHOD_INPUTS = {
    "contig": {"modalities": ["raw", "pgs"], "snp_every": 1, "pgs_weights": "panel.parquet"},
    "gim": {"snp_every": 1},
    "mrm": {"snp_every": 1},
}


@dataclass(frozen=True)
class SimulationProfile:
    """Sizes, methods and training budget of a run (every value can be overridden)."""

    setting: SimulationSetting
    methods: tuple[str, ...]
    seeds: int
    #: The trait generators' training profile and its overrides.
    train_profile: str
    train: dict
    #: Principal components the embeddings are projected on before the GWAS.
    pcs: int
    about: str


PROFILES = {
    "smoke": SimulationProfile(
        setting=SimulationSetting(n_train=600, n_test=400, h_g=0.8, alpha_max=45.0,
                                  n_causal=5, n_null=300, external_n=2000, panel_null=5),
        methods=("gemcont", "simclr", "supervised"), seeds=1, train_profile="quick",
        train=dict(epochs=2, batch_size=128, dim=16, lr=2e-3, warmup_epochs=1), pcs=4,
        about="the whole loop in about a minute (CI, the notebook)"),
    "quick": SimulationProfile(
        setting=SimulationSetting(n_train=10_000, n_test=5_000, h_g=0.5, alpha_max=45.0,
                                  n_causal=20, n_null=1000, external_n=20_000, panel_null=20),
        methods=("gemcont", "prs", "contig", "gim", "mrm", "simclr", "vae", "supervised"),
        seeds=2,
        train_profile="quick",
        train=dict(epochs=10, batch_size=256, dim=32, lr=2e-3, warmup_epochs=1), pcs=10,
        about="the default comparison of all eight methods, about 1.5 hours on a 2-core CPU "
              "(--jobs 2)"),
    "paper": SimulationProfile(
        setting=SimulationSetting(n_train=100_000, n_test=100_000, h_g=0.5, alpha_max=45.0,
                                  n_causal=20, n_null=1000, external_n=100_000,
                                  panel_null=20),
        methods=("gemcont", "simclr", "vae", "supervised"), seeds=5, train_profile="paper",
        train=dict(dim=128), pcs=10,
        about="GEMCONT Sec. 3.1's sizes and training (150 epochs, batch 1024): a GPU run; "
              "about 140 hours of this 2-core CPU (measured: 730 training samples/s for "
              "GEMCONT's SmallCNN, twice the time for SimCLR)"),
}


@dataclass(frozen=True)
class CellSpec:
    """Everything one cell needs: a pure function of this gives its result."""

    method: str
    seed: int
    setting: SimulationSetting
    data_seed: int
    train_profile: str
    train: dict
    pcs: int
    #: Data files of this setting and seed (see :func:`ensure_data`).
    data_dir: str
    cell_dir: str
    device: str = "auto"
    #: torch intra-op threads (fixed, so that serial and parallel runs give equal numbers).
    threads: int = 1
    #: Description of the image pool, recorded with the result.
    pool: str = ""
    standin: bool = False

    def key_fields(self) -> dict:
        """What determines the cell's numbers (not where it runs, nor how fast; but the
        device type, since CPU and GPU kernels round differently)."""
        return {"method": self.method, "seed": self.seed, "setting": asdict(self.setting),
                "data_seed": self.data_seed, "train_profile": self.train_profile,
                "train": self.train, "pcs": self.pcs, "threads": self.threads,
                "device": self.device, "pool": self.pool,
                "augment": METHOD_AUGMENT.get(self.method, ["erasing"]),
                **({"inputs": METHOD_INPUTS[self.method]} if self.method in METHOD_INPUTS
                   else {})}

    def key(self) -> str:
        return digest(self.key_fields())[:16]


def data_dir_for(root: Path, setting: SimulationSetting, data_seed: int, seed: int,
                 pool_source: str) -> Path:
    return root / "data" / f"{setting.key()}-{digest([pool_source, data_seed])[:6]}" / \
        f"seed{seed}"


def ensure_data(get_pool: Callable[[], ImagePool], setting: SimulationSetting, *,
                data_seed: int, seed: int, root: Path, source: str) -> Path:
    """Simulate and write a setting's data for one training seed, unless already there.

    ``get_pool`` loads the image pool (``source`` describes it) and is called only when
    the data must be made. The files are written to a temporary folder beside the target
    and renamed into place, so a kill never leaves a half-written data folder.
    """
    target = data_dir_for(root, setting, data_seed, seed, source)
    if (target / "setting.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write_data(simulate_data(get_pool(), setting, data_seed=data_seed, train_seed=seed),
                   tmp)
        if target.exists():  # an earlier kill between mkdir and rename
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def cell_specs(profile: SimulationProfile, settings: list[SimulationSetting],
               methods: list[str], seeds: int, *, root: Path, data_seed: int, device: str,
               threads: int, pool) -> list[CellSpec]:
    """One spec per setting x method x seed, in that order (``pool``: its ``source`` and
    ``standin``)."""
    specs = []
    for setting in settings:
        for method in methods:
            for seed in range(seeds):
                d = data_dir_for(root, setting, data_seed, seed, pool.source)
                spec = CellSpec(method=method, seed=seed, setting=setting, data_seed=data_seed,
                                train_profile=profile.train_profile, train=dict(profile.train),
                                pcs=profile.pcs, data_dir=str(d), cell_dir="", device=device,
                                threads=threads, pool=pool.source, standin=pool.standin)
                specs.append(_with_cell_dir(spec, root))
    return specs


def _with_cell_dir(spec: CellSpec, root: Path) -> CellSpec:
    return replace(spec, cell_dir=str(root / "cells" / spec.method / spec.key()))


def load_cell(spec: CellSpec) -> dict | None:
    """The stored result of a finished cell (None if it has not finished)."""
    path = Path(spec.cell_dir) / "result.json"
    if not path.is_file():
        return None
    try:
        res = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return res if res.get("key") == spec.key() else None


def run_cell(spec: CellSpec, progress: Progress | None = None) -> dict:
    """Train, embed, test and score one cell; store and return its result row.

    A cell found finished on disk is returned as stored. An unfinished one starts over in
    a clean folder (its parts are cheap next to a sweep, and a clean start keeps the
    result independent of where it was killed).
    """
    done = load_cell(spec)
    if done is not None:
        return done
    # The trait generators need torch, which the rest of the harness (gwasrep demo) does
    # not: they are imported when a cell runs.
    import torch

    from gwasrep.models.config import TrainConfig
    from gwasrep.models.run import EmbedConfig, run_embed, run_train
    from gwasrep.models.train import resolve_device

    torch.set_num_threads(max(1, spec.threads))
    cell = Path(spec.cell_dir)
    if cell.exists():
        shutil.rmtree(cell)
    cell.mkdir(parents=True)
    data = Path(spec.data_dir)
    t0 = time.perf_counter()
    extra = {}
    if spec.method not in REGISTRY:
        raise InputError(f"method {spec.method}: expected one of {', '.join(REGISTRY)}")
    if spec.method == "supervised":
        extra = dict(target=data / "latent.tsv", target_col="z", task="regress")
    for k, v in METHOD_INPUTS.get(spec.method, {}).items():
        extra[k] = data / v if k == "pgs_weights" else v
    cfg = TrainConfig.from_profile(
        spec.method, spec.train_profile, images=data / "images.npz", out=cell / "run",
        bed=data / "cohort", panel=data / "panel.parquet", split=data / "train.txt",
        augment=list(METHOD_AUGMENT.get(spec.method, ["erasing"])), seed=spec.seed,
        device=spec.device, workers=0, **spec.train, **extra)
    tr = run_train(cfg, progress=progress)
    train_seconds = time.perf_counter() - t0
    emb = run_embed(EmbedConfig(run=cell / "run", images=data / "images.npz",
                                out=cell / "embeddings.parquet", samples=data / "test.txt",
                                device=spec.device))
    dim = emb.table.shape[1] - 2
    assoc = run_assoc(AssocConfig(emb=cell / "embeddings.parquet", bed=data / "cohort",
                                  out=cell / "assoc", keep=data / "test.txt",
                                  meta_cols=["meta_n_images"], pcs=min(spec.pcs, dim),
                                  plots=False, threads=max(1, spec.threads), overwrite=True))
    latent = pd.read_csv(data / "latent.tsv", sep="\t", dtype={"sample_id": str})
    z = latent.set_index("sample_id")["z"].reindex(emb.table["sample_id"]).to_numpy()
    E = emb.table.filter(like="emb_").to_numpy()
    variants = pd.read_csv(data / "variants.tsv", sep="\t", dtype={"ID": str})
    ss = pd.read_parquet(assoc.files["sumstats_parquet"], columns=["ID", "P", "P_BONF"])
    rec = recovery(ss, variants.loc[variants["CAUSAL"], "ID"],
                   variants.loc[~variants["CAUSAL"], "ID"])
    device = str(resolve_device(spec.device))
    row = {"key": spec.key(), "method": spec.method, "seed": spec.seed,
           **{k: (list(v) if isinstance(v, tuple) else v)
              for k, v in asdict(spec.setting).items()},
           "setting_key": spec.setting.key(), "r2_z": cv_ridge_r2(E, z, seed=spec.seed),
           **rec, "epochs": tr.epochs_run, "train_seconds": train_seconds,
           "cell_seconds": time.perf_counter() - t0, "device": device,
           "pcs": min(spec.pcs, dim), "dim": dim, "pool": spec.pool, "standin": spec.standin,
           "spec": spec.key_fields()}
    atomic_write_text(cell / "result.json", json.dumps(row, indent=1, default=float) + "\n")
    return row


# --------------------------------------------------------------------------------------
# Sweeps: settings, the table, the figure

#: The metrics of the table and the figure, with their labels.
METRICS = {"r2_z": "R^2 of z", "frac_causal_P": "causal variants at p < 5e-8 (P)",
           "frac_causal_P_BONF": "causal variants at p < 5e-8 (P_BONF)",
           "null_hits_P": "null variants at p < 5e-8 (P)", "lambda_gc_null": "lambda GC (null)",
           "train_seconds": "training time (s)"}


def sweep_settings(base: SimulationSetting, vary: dict[str, list]) -> list[tuple[str, object,
                                                                                 SimulationSetting]]:
    """``(factor, value, setting)`` for the default setting and each factor varied alone.

    The default comes first as ``("default", None, base)``; a varied value equal to the
    default reuses it.
    """
    out = [("default", None, base)]
    for factor, values in vary.items():
        for v in values:
            out.append((factor, v, base.replace(**{factor: v})))
    return out


def summarize(table: pd.DataFrame, sweep: list[tuple[str, object, SimulationSetting]],
              base: SimulationSetting) -> pd.DataFrame:
    """Mean and sd over seeds per factor value and method (one row each)."""
    rows = []
    factors = list(dict.fromkeys(f for f, _, _ in sweep if f != "default")) or ["default"]
    for factor in factors:
        values = [v for f, v, _ in sweep if f == factor] if factor != "default" else [None]
        default_value = getattr(base, factor) if factor != "default" else None
        if factor != "default" and default_value not in values:
            values = sorted([*values, default_value])
        for v in values:
            setting = base if v is None else base.replace(**{factor: v})
            sub = table[table["setting_key"] == setting.key()]
            for method, g in sub.groupby("method", sort=False):
                row = {"factor": factor, "value": v, "default": v == default_value,
                       "method": method, "n_seeds": len(g)}
                for m in METRICS:
                    row[f"{m}_mean"] = float(g[m].mean())
                    row[f"{m}_sd"] = float(g[m].std(ddof=1)) if len(g) > 1 else float("nan")
                rows.append(row)
    return pd.DataFrame(rows)


def summary_markdown(summary: pd.DataFrame, header: list[str]) -> str:
    """``results.md``: one table per factor, mean +- sd over seeds."""
    lines = ["# gwasrep simulate-emnist", "", *header, ""]
    cols = ["r2_z", "frac_causal_P", "frac_causal_P_BONF", "null_hits_P", "lambda_gc_null",
            "train_seconds"]
    for factor, fs in summary.groupby("factor", sort=False):
        lines += [f"## {factor}" if factor != "default" else "## Default setting", ""]
        lines.append("| " + " | ".join(([factor] if factor != "default" else []) +
                                        ["method", "seeds"] + [METRICS[c] for c in cols]) + " |")
        lines.append("|" + "---|" * (len(cols) + 2 + (factor != "default")))
        for r in fs.itertuples():
            cells = []
            if factor != "default":
                cells.append(f"{r.value}{' *' if r.default else ''}")
            cells += [r.method, str(r.n_seeds)]
            for c in cols:
                m, sd = getattr(r, f"{c}_mean"), getattr(r, f"{c}_sd")
                fmt = ".0f" if c == "train_seconds" else ".3f"
                cells.append(f"{m:{fmt}}" + (f" ± {sd:{fmt}}" if sd == sd else ""))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["`*` the default value, held while the other factors vary. R^2 of z: ridge "
              "regression cross-validated (5 folds) within the test set. Causal variants: "
              "the fraction at p < 5e-8 in the multi-trait GWAS of the test set.", ""]
    return "\n".join(lines)


def plot_summary(summary: pd.DataFrame, path: Path, methods: list[str]) -> Path:
    """GEMCONT Fig. 2's layout: rows R^2 of z and the causal fraction recovered; one column per
    swept factor; bars mean +- sd over seeds per method; the default value starred."""
    from gwasrep.io.figures import pyplot, save_figure

    plt = pyplot()
    factors = list(dict.fromkeys(summary["factor"]))
    fig, axes = plt.subplots(2, len(factors), figsize=(3.6 * len(factors) + 1.2, 5.4),
                             squeeze=False)
    colors = {m: c for m, c in zip(methods, plt.get_cmap("tab10").colors, strict=False)}
    width = 0.8 / max(1, len(methods))
    for j, factor in enumerate(factors):
        fs = summary[summary["factor"] == factor]
        values = list(dict.fromkeys(fs["value"]))
        for i, metric in enumerate(("r2_z", "frac_causal_P")):
            ax = axes[i, j]
            for k, method in enumerate(methods):
                ms = fs[fs["method"] == method].set_index("value").reindex(values)
                x = np.arange(len(values)) + (k - (len(methods) - 1) / 2) * width
                ax.bar(x, ms[f"{metric}_mean"], width, yerr=ms[f"{metric}_sd"].fillna(0),
                       color=colors[method], label=method, capsize=2)
            labels = ["default" if v is None or v != v else
                      f"{v:g}" if isinstance(v, float) else f"{v:,}" for v in values]
            defaults = [bool(fs[fs["value"].isin([v]) if v == v else fs["value"].isna()]
                             ["default"].any()) for v in values]
            ax.set_xticks(np.arange(len(values)),
                          [lab + ("*" if d and factor != "default" else "")
                           for lab, d in zip(labels, defaults, strict=True)])
            ax.set_ylim(0, 1.05)
            if j == 0:
                ax.set_ylabel(["R$^2$ of z", "causal variants\nrecovered"][i])
            if i == 1:
                ax.set_xlabel(factor if factor != "default" else "")
    axes[0, -1].legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
