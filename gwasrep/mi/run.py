"""``gwasrep mi``: read embeddings and genotypes, estimate MI, write OUT.mi.tsv and OUT.mi.json.

The numerics are in :mod:`gwasrep.mi.estimator` (torch), imported when the run starts so
that a missing torch is one clear error. Seeds finished by an
interrupted run are kept in ``OUT.mi.partial.jsonl`` and reused when the same inputs
and configuration are run again, so a killed run resumes with the same result.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview
from gwasrep.io.atomic import atomic_path, atomic_write_text
from gwasrep.io.fingerprint import digest
from gwasrep.io.plink import open_plink, read_dosages
from gwasrep.io.samples import align_samples
from gwasrep.io.tables import read_embeddings, read_id_list, read_variant_ids
from gwasrep.options import check_options
from gwasrep.runs import Progress, RunResult
from gwasrep.system import physical_memory

if TYPE_CHECKING:  # torch is imported only when a run starts
    from gwasrep.mi.estimator import CriticConfig, MIResult

__all__ = ["MI_COLUMNS", "MIConfig", "MIRun", "fingerprint", "load_pairs", "run_mi"]

MI_COLUMNS = ["SEED", "N_TRAIN", "N_EVAL", "JSE", "MI_JSE", "MI_INFONCE", "EPOCHS_JSE",
              "CONVERGED_JSE", "EPOCHS_INFONCE", "CONVERGED_INFONCE", "SECONDS"]
#: Refuse genotype matrices above this fraction of RAM (float32); use --extract.
MEMORY_FRACTION = 0.25


def load_pairs(emb_path, bed, *, extract=None, keep=None, meta_cols=None
               ) -> tuple[np.ndarray, np.ndarray, dict, list[str]]:
    """Embeddings (N, D) and A1 dosages (N, M, float32, NaN missing) of the shared samples.

    Returns the two arrays, a description of the inputs and notes on what was dropped.
    """
    emb = read_embeddings(emb_path, meta_cols=meta_cols)
    fs = open_plink(bed)
    al = align_samples(fs.fam, {"embeddings": emb.keys},
                       keep=read_id_list(keep) if keep is not None else None)
    notes = list(al.notes)
    E = emb.values[al.rows["embeddings"]]
    finite = np.isfinite(E).all(axis=1)
    if not finite.all():
        al = al.subset(finite, "non-finite embedding values")
        notes = list(al.notes)
        E = E[finite]
    ids = fs.bim["ID"].astype(str).to_numpy()
    if extract is not None:
        wanted = read_variant_ids(extract)
        vidx = np.flatnonzero(np.isin(ids, list(wanted)))
        notes.append(f"--extract lists {len(wanted):,} variants, {len(vidx):,} in the .bim")
        if len(vidx) == 0:
            raise InputError(f"--extract {extract}: none of its {len(wanted):,} variants is in "
                             f"the .bim ({len(ids):,} variants; e.g. {preview(sorted(wanted))} vs "
                             f"{preview(ids)})")
    else:
        vidx = np.arange(len(ids))
    need = al.n_used * len(vidx) * 4 * 3  # dosages plus two standardized copies
    if need > MEMORY_FRACTION * physical_memory():
        raise InputError(f"the genotype matrix of {al.n_used:,} samples x {len(vidx):,} variants "
                         f"needs ~{need / 2**30:.1f} GiB, more than {MEMORY_FRACTION:.0%} of RAM; "
                         "select variants with --extract (e.g. a gwasrep panel)")
    X = read_dosages(fs, vidx, al.fam_idx, dtype=np.float32)
    mono = np.nanstd(X, axis=0) == 0
    if mono.any():
        notes.append(f"{int(mono.sum()):,} monomorphic variants carry no information "
                     "(standardized to 0)")
    info = {"emb": str(emb_path), "bed": str(bed), "extract": None if extract is None
            else str(extract), "keep": None if keep is None else str(keep),
            "n_samples": int(al.n_used), "n_variants": int(len(vidx)),
            "emb_columns": list(emb.columns)}
    return E, X, info, notes


def fingerprint(E: np.ndarray, X: np.ndarray, critic: CriticConfig) -> str:
    """Digest of the pairs read and the critic's configuration: a finished seed is reused only
    for the same data and critic."""
    return digest(np.ascontiguousarray(E, dtype=np.float64), np.ascontiguousarray(X),
                  asdict(critic), algorithm="sha1")


def _seed_row(s) -> dict:
    row = {"SEED": s.seed, "N_TRAIN": s.n_train, "N_EVAL": s.n_eval, "SECONDS": s.seconds}
    row.update({k: s.estimates.get(k, np.nan) for k in ("JSE", "MI_JSE", "MI_INFONCE")})
    for est in ("jse", "infonce"):
        row[f"EPOCHS_{est.upper()}"] = s.epochs.get(est, 0)
        row[f"CONVERGED_{est.upper()}"] = s.converged.get(est, False)
    return row


@dataclass
class MIConfig:
    """``gwasrep mi``: MI between held-out embeddings and the genotypes of the same samples."""

    #: Embeddings of held-out samples (data_specs/embeddings.md).
    emb: Path
    #: PLINK 1 fileset of the same samples.
    bed: Path
    #: Output prefix: OUT.mi.tsv (per seed) and OUT.mi.json.
    out: Path
    #: Variants to use: a gwasrep panel / table with ID, or one ID per line.
    extract: Path | None = None
    #: Samples to use (FID IID or IID per line).
    keep: Path | None = None
    meta_cols: list[str] | None = None
    #: Number of seeds (split and initialization), 0..seeds-1.
    seeds: int = 5
    #: The critic's architecture and budget (:class:`gwasrep.mi.estimator.CriticConfig`);
    #: None for its defaults.
    critic: CriticConfig | None = None


@dataclass(kw_only=True)
class MIRun(RunResult):
    """The estimate (:class:`gwasrep.mi.estimator.MIResult`) and the files written."""

    result: MIResult = field(repr=False)


def run_mi(cfg: MIConfig, *, progress: Progress | None = None) -> MIRun:
    """Estimate MI over ``cfg.seeds`` seeds; write OUT.mi.tsv and OUT.mi.json (data_specs/mi.md).

    ``progress`` reports stage ``training``, in epochs of the seeds' budget.
    """
    check_options(cfg)
    if cfg.critic is not None:
        check_options(cfg.critic)
    try:
        import torch

        from gwasrep.mi.estimator import CriticConfig, SeedResult, estimate_mi
    except ImportError:
        raise InputError("gwasrep mi needs PyTorch: pip install 'gwasrep[torch]' "
                         "(on CPU-only machines install the CPU wheel of torch first)") from None

    if cfg.seeds < 1:
        raise InputError(f"--seeds: expected at least 1; found {cfg.seeds}")
    critic = cfg.critic or CriticConfig()
    E, X, info, notes = load_pairs(cfg.emb, cfg.bed, extract=cfg.extract, keep=cfg.keep,
                                   meta_cols=cfg.meta_cols)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {k: out.with_name(out.name + f".mi.{k}") for k in ("tsv", "json", "partial.jsonl")}
    fp = fingerprint(E, X, critic)
    done: dict[int, SeedResult] = {}
    partial = paths["partial.jsonl"]
    if partial.is_file():
        for line in partial.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill: that seed runs again
                continue
            if rec.get("fingerprint") == fp:
                done[rec["seed"]["seed"]] = SeedResult(**rec["seed"])
        if done:
            notes.append(f"resumed: {len(done)} seed(s) reused from {partial}")
        else:
            partial.unlink()

    def on_seed(s):
        with open(partial, "a") as fh:
            fh.write(json.dumps({"fingerprint": fp, "seed": asdict(s)}) + "\n")

    res = estimate_mi(E, X, seeds=tuple(range(cfg.seeds)), config=critic, done=done,
                      on_seed=on_seed, progress=progress)
    table = pd.DataFrame([_seed_row(s) for s in res.seeds], columns=MI_COLUMNS)
    with atomic_path(paths["tsv"]) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.8g")
    doc = {"inputs": info, **res.to_dict(), "notes": notes,
           "torch": torch.__version__, "units": "nats"}
    atomic_write_text(paths["json"], json.dumps(doc, indent=2) + "\n")
    partial.unlink(missing_ok=True)
    return MIRun(files={"tsv": paths["tsv"], "json": paths["json"]}, notes=notes, result=res)
