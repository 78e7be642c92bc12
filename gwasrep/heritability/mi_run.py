"""``gwasrep mi``: read embeddings and genotypes, estimate MI, write OUT.mi.tsv and OUT.mi.json.

The numerics are in :mod:`gwasrep.heritability.mi` (torch). Seeds finished by an
interrupted run are kept in ``OUT.mi.partial.jsonl`` and reused when the same inputs
and configuration are run again, so a killed run resumes with the same result.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview

__all__ = ["MI_COLUMNS", "load_pairs", "run_mi"]

MI_COLUMNS = ["SEED", "N_TRAIN", "N_EVAL", "JSE", "MI_JSE", "MI_INFONCE", "EPOCHS_JSE",
              "CONVERGED_JSE", "EPOCHS_INFONCE", "CONVERGED_INFONCE", "SECONDS"]
#: Refuse genotype matrices above this fraction of RAM (float32); use --extract.
MEMORY_FRACTION = 0.25


def _variant_ids(path: Path) -> set[str]:
    """IDs from a panel/sumstats table (ID or SNP column) or a plain list."""
    from gwasrep.io.tables import read_table, read_variant_list

    if path.suffix.lower() in (".parquet", ".pq", ".tsv", ".csv"):
        df = read_table(path)
        col = next((c for c in ("ID", "SNP") if c in df.columns), None)
        if col is None:
            raise InputError(f"{path}: expected an ID (or SNP) column; found "
                             f"{preview(df.columns, 10)}")
        return set(df[col].astype(str))
    return read_variant_list(path)


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def load_pairs(emb_path, bed, *, extract=None, keep=None, meta_cols=None
               ) -> tuple[np.ndarray, np.ndarray, dict, list[str]]:
    """Embeddings (N, D) and A1 dosages (N, M, float32, NaN missing) of the shared samples.

    Returns the two arrays, a description of the inputs and notes on what was dropped.
    """
    from gwasrep.io.plink import open_plink, read_dosages
    from gwasrep.io.samples import align_samples
    from gwasrep.io.tables import read_embeddings, read_id_list

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
        wanted = _variant_ids(Path(extract))
        vidx = np.flatnonzero(np.isin(ids, list(wanted)))
        notes.append(f"--extract lists {len(wanted):,} variants, {len(vidx):,} in the .bim")
        if len(vidx) == 0:
            raise InputError(f"--extract {extract}: none of its {len(wanted):,} variants is in "
                             f"the .bim ({len(ids):,} variants; e.g. {preview(sorted(wanted))} vs "
                             f"{preview(ids)})")
    else:
        vidx = np.arange(len(ids))
    need = al.n_used * len(vidx) * 4 * 3  # dosages plus two standardized copies
    if need > MEMORY_FRACTION * _ram_bytes():
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


def _fingerprint(E: np.ndarray, X: np.ndarray, cfg) -> str:
    h = hashlib.sha1()
    for a in (np.ascontiguousarray(E, dtype=np.float64), np.ascontiguousarray(X)):
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(json.dumps(asdict(cfg), sort_keys=True).encode())
    return h.hexdigest()


def _seed_row(s) -> dict:
    row = {"SEED": s.seed, "N_TRAIN": s.n_train, "N_EVAL": s.n_eval, "SECONDS": s.seconds}
    row.update({k: s.estimates.get(k, np.nan) for k in ("JSE", "MI_JSE", "MI_INFONCE")})
    for est in ("jse", "infonce"):
        row[f"EPOCHS_{est.upper()}"] = s.epochs.get(est, 0)
        row[f"CONVERGED_{est.upper()}"] = s.converged.get(est, False)
    return row


def run_mi(emb, bed, out, *, extract=None, keep=None, meta_cols=None, seeds=5, config=None,
           progress=None):
    """Estimate MI over ``seeds`` seeds (0..seeds-1); write OUT.mi.tsv and OUT.mi.json.

    Returns the :class:`~gwasrep.heritability.mi.MIResult` and notes.
    """
    try:
        import torch
    except ImportError:
        raise InputError("gwasrep mi needs PyTorch: pip install 'gwasrep[torch]' "
                         "(on CPU-only machines install the CPU wheel of torch first)") from None
    from gwasrep.heritability.mi import MIConfig, SeedResult, estimate_mi
    from gwasrep.io._atomic import atomic_path, atomic_write_text

    if seeds < 1:
        raise InputError(f"--seeds: expected at least 1; found {seeds}")
    cfg = config or MIConfig()
    E, X, info, notes = load_pairs(emb, bed, extract=extract, keep=keep, meta_cols=meta_cols)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {k: out.with_name(out.name + f".mi.{k}") for k in ("tsv", "json", "partial.jsonl")}
    fp = _fingerprint(E, X, cfg)
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

    res = estimate_mi(E, X, seeds=tuple(range(seeds)), config=cfg, done=done, on_seed=on_seed,
                      progress=progress)
    table = pd.DataFrame([_seed_row(s) for s in res.seeds], columns=MI_COLUMNS)
    with atomic_path(paths["tsv"]) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.8g")
    doc = {"inputs": info, **res.to_dict(), "notes": notes,
           "torch": torch.__version__, "units": "nats"}
    atomic_write_text(paths["json"], json.dumps(doc, indent=2) + "\n")
    partial.unlink(missing_ok=True)
    return res, notes
