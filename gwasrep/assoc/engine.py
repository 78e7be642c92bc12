"""File-level association run: ``gwasrep assoc`` calls :func:`run_assoc`.

Reading and aligning inputs, preprocessing and the null fit happen before any
file is written, so bad input leaves no output. The scan then streams over
blocks of variants; each finished block is checkpointed under
``OUT/.gwasrep_partial/``, which lets ``resume=True`` continue a killed run.
Final files are written atomically and the checkpoints removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import special

from gwasrep.assoc.executors import run_dask, run_local
from gwasrep.assoc.lrt import fit_null
from gwasrep.assoc.preprocess import preprocess_embeddings
from gwasrep.assoc.scan import make_scan_state
from gwasrep.errors import InputError, ResumeError, preview
from gwasrep.io._atomic import atomic_path, atomic_write_text
from gwasrep.io.plink import open_plink
from gwasrep.io.samples import align_samples
from gwasrep.io.tables import read_covariates, read_embeddings, read_id_list, read_variant_list

__all__ = ["AssocConfig", "AssocRun", "lambda_gc", "run_assoc", "sumstats_schema"]

log = logging.getLogger("gwasrep")

PARTIAL_DIR = ".gwasrep_partial"
#: Settings that change results; a resumed run must match them exactly.
_RESULT_SETTINGS = ("emb", "bed", "covar", "covar_cols", "meta_cols", "pcs", "regress_covariates",
                    "inverse_normal", "maf", "geno", "chrom", "extract", "exclude", "keep",
                    "remove", "drop_missing", "block_size", "lmm", "grm", "grm_extract",
                    "grm_kind", "grm_maf", "loco", "reml")


@dataclass
class AssocConfig:
    """Parameters of an association run (the CLI's options)."""

    emb: Path
    bed: Path
    out: Path
    covar: Path | None = None
    covar_cols: list[str] | None = None
    meta_cols: list[str] | None = None
    pcs: int | None = None
    regress_covariates: bool = True
    inverse_normal: bool = True
    maf: float = 0.0
    geno: float = 1.0
    chrom: list[str] | None = None
    extract: Path | None = None
    exclude: Path | None = None
    keep: Path | None = None
    remove: Path | None = None
    drop_missing: bool = False
    block_size: int = 2048
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    dask_scheduler: str | None = None
    formats: tuple[str, ...] = ("parquet",)
    plots: bool = True
    resume: bool = False
    overwrite: bool = False
    #: Linear mixed model: None (off), "auto", "full" or "lowrank" (see assoc/lmm_setup.py).
    lmm: str | None = None
    #: GCTA binary GRM prefix to use instead of computing one from the .bed.
    grm: Path | None = None
    #: Variant IDs to build the GRM from (default: every variant of the .bim).
    grm_extract: Path | None = None
    grm_kind: str = "standardized"
    grm_maf: float = 0.01
    loco: bool = False
    reml: bool = False
    allow_nonconverged: bool = False

    def check(self) -> None:
        if not 0.0 <= self.maf <= 0.5:
            raise InputError(f"--maf {self.maf}: expected a value in [0, 0.5]")
        if not 0.0 <= self.geno <= 1.0:
            raise InputError(f"--geno {self.geno}: expected a value in [0, 1]")
        if self.block_size < 1:
            raise InputError(f"--block-size {self.block_size}: expected a positive integer")
        if self.threads < 1:
            raise InputError(f"--threads {self.threads}: expected a positive integer")
        if self.lmm is None and (self.grm or self.grm_extract or self.loco or self.reml):
            raise InputError("--grm, --grm-extract, --loco and --reml need --lmm")
        if not 0.0 <= self.grm_maf <= 0.5:
            raise InputError(f"--grm-maf {self.grm_maf}: expected a value in [0, 0.5]")
        bad = set(self.formats) - {"parquet", "tsv"}
        if bad or not self.formats:
            raise InputError(f"--format {','.join(self.formats)}: expected parquet, tsv or both")


@dataclass
class AssocRun:
    """What a finished run produced."""

    out: Path
    #: Paths of the files written, by kind.
    files: dict[str, Path]
    n_samples: int
    n_traits: int
    n_variants_tested: int
    #: Untested variants by reason.
    excluded: dict[str, int]
    #: Genomic control lambda per test (P, P_BONF, P_1 ...).
    lambda_gc: dict[str, float]
    #: The best variants by multi-trait P.
    top_hits: pd.DataFrame
    wall_time_s: float
    #: Lines worth telling the user (sample drops, encodings, ...).
    notes: list[str]


def lambda_gc(p: np.ndarray) -> float:
    """Genomic control: median of the chi2(1) quantiles of ``p`` over their null median.

    The chi2(1) quantile is decreasing in p, so the median of the quantiles is
    the quantile of the median p (the mean of the two middle ones for even n):
    O(n), without transforming every p-value.
    """
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    n = p.size
    if n == 0:
        return float("nan")
    mid = np.partition(p, [(n - 1) // 2, n // 2])[[(n - 1) // 2, n // 2]]
    return float(special.chdtri(1, mid).mean() / special.chdtri(1, 0.5))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("gwasrep", "numpy", "scipy", "pandas", "numba", "bed-reader", "pyarrow",
                "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[pkg] = "not installed"
    return out


@dataclass
class _Prepared:
    fileset: object
    fam_idx: np.ndarray
    variant_idx: np.ndarray
    state: object
    trait_names: list[str]
    steps: list[str]
    explained: list[float]
    covariate_names: list[str]
    notes: list[str]
    inputs: dict[str, dict]
    sample_counts: dict
    lmm: object | None = None


def _prepare(cfg: AssocConfig, progress: Callable[..., None] | None = None) -> _Prepared:
    """Read, validate and align every input and fit the null model; writes nothing."""
    cfg.check()
    fileset = open_plink(cfg.bed)
    emb = read_embeddings(cfg.emb, meta_cols=cfg.meta_cols)
    tables = {"embeddings": emb.keys}
    cov = None
    if cfg.covar is not None:
        cov = read_covariates(cfg.covar, columns=cfg.covar_cols)
        tables["covariates"] = cov.keys
    keep = read_id_list(cfg.keep) if cfg.keep else None
    remove = read_id_list(cfg.remove) if cfg.remove else None
    align = align_samples(fileset.fam, tables, keep=keep, remove=remove)
    notes = list(cov.notes if cov else [])
    ids = fileset.fam["IID"].to_numpy()

    def finite_rows(values: np.ndarray, name: str) -> np.ndarray:
        ok = np.isfinite(values).all(axis=1)
        if not ok.all() and not cfg.drop_missing:
            bad = ids[align.fam_idx[~ok]]
            raise InputError(f"{name}: {int((~ok).sum()):,} of the {len(ok):,} shared samples have "
                             f"NaN or inf values (e.g. {preview(bad)}); pass --drop-missing to "
                             "drop them")
        return ok

    ok = finite_rows(emb.values[align.rows["embeddings"]], "embeddings")
    align = align.subset(ok, "NaN/inf in embeddings (--drop-missing)")
    if cov is not None:
        ok = finite_rows(cov.values[align.rows["covariates"]], "covariates")
        align = align.subset(ok, "missing covariate values (--drop-missing)")
    notes += align.notes
    E = emb.values[align.rows["embeddings"]]
    F = cov.values[align.rows["covariates"]] if cov is not None else None
    cov_names = cov.columns if cov is not None else []
    pre = preprocess_embeddings(E, F, names=emb.columns, covariate_names=cov_names,
                                n_pcs=cfg.pcs, regress_covariates=cfg.regress_covariates,
                                inverse_normal=cfg.inverse_normal)
    null = fit_null(pre.E, F, covariate_names=cov_names, trait_names=pre.names)

    bim = fileset.bim
    sel = np.ones(len(bim), dtype=bool)
    if cfg.chrom:
        sel &= bim["CHROM"].isin([str(c) for c in cfg.chrom]).to_numpy()
        if not sel.any():
            raise InputError(f"--chrom {','.join(map(str, cfg.chrom))}: no such chromosome in the "
                             f".bim (found {preview(bim['CHROM'].unique(), 8)})")
    for flag, path, keep_listed in (("--extract", cfg.extract, True),
                                    ("--exclude", cfg.exclude, False)):
        if path is None:
            continue
        listed = read_variant_list(path)
        hit = bim["ID"].isin(listed).to_numpy()
        notes.append(f"{flag}: {len(listed):,} IDs listed, {int(hit.sum()):,} in the .bim")
        sel &= hit if keep_listed else ~hit
    variant_idx = np.flatnonzero(sel)
    if variant_idx.size == 0:
        raise InputError("no variant left to test after --chrom/--extract/--exclude")

    setup = None
    if cfg.lmm is not None:
        from gwasrep.assoc.lmm_setup import prepare_lmm

        setup = prepare_lmm(cfg, fileset, align.fam_idx, pre.E, F, variant_idx,
                            trait_names=pre.names, progress=progress)
        notes += setup.notes

    inputs = {}
    grm_files = {}
    if cfg.grm is not None:
        from gwasrep.io.grm import grm_paths

        grm_files = {f"grm_{k}": v for k, v in grm_paths(cfg.grm).items() if v.exists()}
    for name, path in (("emb", cfg.emb), ("covar", cfg.covar), ("keep", cfg.keep),
                       ("remove", cfg.remove), ("extract", cfg.extract), ("exclude", cfg.exclude),
                       ("grm_extract", cfg.grm_extract), *grm_files.items(),
                       ("bim", fileset.bed_path.with_suffix(".bim")),
                       ("fam", fileset.bed_path.with_suffix(".fam"))):
        if path is not None:
            p = Path(path)
            inputs[name] = {"path": str(p), "size": p.stat().st_size, "sha256": _sha256(p)}
    st = fileset.bed_path.stat()
    inputs["bed"] = {"path": str(fileset.bed_path), "size": st.st_size,
                     "mtime_ns": st.st_mtime_ns, "n_samples": fileset.n_samples,
                     "n_variants": fileset.n_variants}
    state = make_scan_state(fileset.bed_path, fileset.n_samples, align.fam_idx, null,
                            maf=cfg.maf, geno=cfg.geno, lmm=setup.scans if setup else (),
                            variant_group=setup.variant_group if setup else None)
    return _Prepared(fileset=fileset, fam_idx=align.fam_idx, variant_idx=variant_idx, state=state,
                     trait_names=pre.names, steps=pre.steps, explained=pre.explained_variance,
                     covariate_names=cov_names, notes=notes, inputs=inputs,
                     sample_counts=align.counts, lmm=setup)


def _make_blocks(variant_idx: np.ndarray, block_size: int,
                 group: np.ndarray | None) -> list[tuple[int, np.ndarray]]:
    """Consecutive blocks of at most ``block_size`` variants that never span two LMM groups."""
    labels = np.zeros(variant_idx.size, dtype=np.int64) if group is None else group[variant_idx]
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], variant_idx.size]
    blocks = []
    for a, b in zip(starts, ends, strict=True):
        for lo in range(a, b, block_size):
            blocks.append((len(blocks), variant_idx[lo:min(b, lo + block_size)]))
    return blocks


def _fingerprint(cfg: AssocConfig, prep: _Prepared) -> dict:
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
                if k in _RESULT_SETTINGS}
    signature = {k: {kk: vv for kk, vv in v.items() if kk != "path"}
                 for k, v in prep.inputs.items()}
    return {"settings": settings, "inputs": signature, "n_variants": int(prep.variant_idx.size),
            "n_samples": int(prep.fam_idx.size)}


def _open_partial(cfg: AssocConfig, prep: _Prepared) -> Path:
    partial = Path(cfg.out) / PARTIAL_DIR
    fp = _fingerprint(cfg, prep)
    fp_path = partial / "fingerprint.json"
    if partial.exists():
        n_done = len(list(partial.glob("block_*.npz")))
        if cfg.resume:
            old = json.loads(fp_path.read_text()) if fp_path.exists() else None
            if old != json.loads(json.dumps(fp)):
                changed = sorted(k for k in fp["settings"]
                                 if (old or {}).get("settings", {}).get(k) != fp["settings"][k])
                changed += sorted(k for k in fp["inputs"]
                                  if (old or {}).get("inputs", {}).get(k) != fp["inputs"][k])
                raise ResumeError(f"cannot resume the unfinished run in {partial}: inputs or "
                                  f"settings changed ({', '.join(changed) or 'fingerprint'}); "
                                  "rerun with --overwrite to start over")
            log.info("resuming: %d blocks already done", n_done)
            return partial
        if not cfg.overwrite:
            raise ResumeError(f"{cfg.out} holds an unfinished run ({n_done} blocks done); pass "
                              "--resume to continue it or --overwrite to discard it")
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    atomic_write_text(fp_path, json.dumps(fp, indent=1))
    return partial


def _save_block(partial: Path, i: int, res: dict) -> None:
    with atomic_path(partial / f"block_{i:06d}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **res)


def _load_block(partial: Path, i: int) -> dict:
    with np.load(partial / f"block_{i:06d}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def sumstats_schema(n_traits: int) -> pa.Schema:
    """Arrow schema of ``sumstats.parquet`` (see data_specs/sumstats.md)."""
    fields = [("CHROM", pa.string()), ("POS", pa.int64()), ("ID", pa.string()),
              ("REF", pa.string()), ("ALT", pa.string()), ("A1", pa.string()),
              ("A1_FREQ", pa.float64()), ("OBS_CT", pa.int64()), ("MISSING_FRAC", pa.float64()),
              ("LRT", pa.float64()), ("DF", pa.int64()), ("P", pa.float64()),
              ("P_BONF", pa.float64())]
    for k in range(1, n_traits + 1):
        fields += [(f"BETA_{k}", pa.float64()), (f"SE_{k}", pa.float64()),
                   (f"P_{k}", pa.float64())]
    return pa.schema(fields)


def _block_frame(bim: pd.DataFrame, idx: np.ndarray, res: dict, D: int) -> pd.DataFrame:
    b = bim.iloc[idx]
    cols = {
        "CHROM": b["CHROM"].to_numpy(), "POS": b["POS"].to_numpy(), "ID": b["ID"].to_numpy(),
        "REF": b["A2"].to_numpy(), "ALT": b["A1"].to_numpy(), "A1": b["A1"].to_numpy(),
        "A1_FREQ": res["a1_freq"], "OBS_CT": res["obs_ct"].astype(np.int64),
        "MISSING_FRAC": res["missing_frac"], "LRT": res["lrt"],
        "DF": np.full(len(idx), D, dtype=np.int64), "P": res["p"], "P_BONF": res["p_bonf"],
    }
    for k in range(D):
        cols[f"BETA_{k + 1}"] = res["beta"][:, k]
        cols[f"SE_{k + 1}"] = res["se"][:, k]
        cols[f"P_{k + 1}"] = res["p_dim"][:, k]
    frame = pd.DataFrame(cols)
    frame["_reason"] = res["reason"]
    return frame


def run_assoc(cfg: AssocConfig, *, progress: Callable[[int, int], None] | None = None
              ) -> AssocRun:
    """Run the association scan described by ``cfg`` and write its outputs.

    Parameters
    ----------
    cfg : AssocConfig
    progress : callable, optional
        Called as ``progress(n_variants_done, n_variants_total)`` after each block.

    Returns
    -------
    AssocRun

    Notes
    -----
    Outputs in ``cfg.out``: ``sumstats.parquet`` and/or ``sumstats.tsv`` (tested
    variants), ``excluded_variants.tsv`` (untested variants with the reason),
    ``run.json`` (metadata), ``manhattan.png``, ``qq.png`` and ``report.md``.
    """
    t0 = time.perf_counter()
    prep = _prepare(cfg, progress)
    null = prep.state.null
    D = null.n_traits
    out = Path(cfg.out)
    partial = _open_partial(cfg, prep)
    blocks = _make_blocks(prep.variant_idx, cfg.block_size, prep.state.variant_group)
    done = {int(p.stem.split("_")[1]) for p in partial.glob("block_*.npz")}
    pending = [blk for blk in blocks if blk[0] not in done]
    n_total = int(prep.variant_idx.size)
    n_done = sum(len(idx) for i, idx in blocks if i in done)
    if progress:
        progress(n_done, n_total)
    if cfg.dask_scheduler:
        results = run_dask(prep.state, pending, scheduler=cfg.dask_scheduler)
        backend = {"kind": "dask", "scheduler": cfg.dask_scheduler}
    else:
        results = run_local(prep.state, pending, threads=cfg.threads)
        backend = {"kind": "local", "threads": cfg.threads}

    # The main thread writes finished blocks in variant order while workers scan.
    files: dict[str, Path] = {}
    bim = prep.fileset.bim
    keep_cols = ["CHROM", "POS", "ID", "A1", "A1_FREQ", "P", "P_BONF", "LRT"]
    kept, excluded, crcs = [], [], []
    t_scan = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmp = {fmt: stack.enter_context(atomic_path(out / f"sumstats.{fmt}", tmp_dir=partial))
               for fmt in cfg.formats}
        writer = None
        if "parquet" in tmp:
            writer = stack.enter_context(pq.ParquetWriter(tmp["parquet"], sumstats_schema(D)))
        ready: dict[int, dict] = {}
        next_block = 0

        def write_ready() -> None:
            nonlocal next_block
            while next_block < len(blocks) and (next_block in ready or next_block in done):
                i, idx = blocks[next_block]
                res = ready.pop(i) if i in ready else _load_block(partial, i)
                crcs.append(int(res["crc32"][0]))
                frame = _block_frame(bim, idx, res, D)
                ok = frame["_reason"].to_numpy() == ""
                if not ok.all():
                    excluded.append(frame.loc[~ok, ["CHROM", "POS", "ID", "A1", "A1_FREQ",
                                                    "OBS_CT", "MISSING_FRAC", "_reason"]]
                                    .rename(columns={"_reason": "REASON"}))
                frame = frame.loc[ok].drop(columns="_reason")
                kept.append(frame[keep_cols + [f"P_{k + 1}" for k in range(D)]])
                if writer is not None:
                    writer.write_table(pa.Table.from_pandas(frame, schema=writer.schema,
                                                            preserve_index=False))
                if "tsv" in tmp:
                    frame.to_csv(tmp["tsv"], sep="\t", index=False, na_rep="NA",
                                 float_format="%.10g", header=(i == 0), mode="w" if i == 0 else "a")
                next_block += 1

        write_ready()
        for i, res in results:
            _save_block(partial, i, res)
            n_done += len(blocks[i][1])
            if progress:
                progress(n_done, n_total)
            ready[i] = res
            write_ready()
        assert next_block == len(blocks), (next_block, len(blocks))
    t_scan = time.perf_counter() - t_scan
    files.update({f"sumstats_{fmt}": out / f"sumstats.{fmt}" for fmt in cfg.formats})

    tested = pd.concat(kept, ignore_index=True)
    excl = (pd.concat(excluded, ignore_index=True) if excluded else
            pd.DataFrame(columns=["CHROM", "POS", "ID", "A1", "A1_FREQ", "OBS_CT",
                                  "MISSING_FRAC", "REASON"]))
    with atomic_path(out / "excluded_variants.tsv") as tmp:
        excl.to_csv(tmp, sep="\t", index=False, na_rep="NA", float_format="%.6g")
    files["excluded_variants"] = out / "excluded_variants.tsv"
    excluded_counts = {str(k): int(v)
                       for k, v in excl["REASON"].value_counts().sort_index().items()}
    lam = {"P": lambda_gc(tested["P"]), "P_BONF": lambda_gc(tested["P_BONF"])}
    lam.update({f"P_{k + 1}": lambda_gc(tested[f"P_{k + 1}"]) for k in range(D)})
    top = tested.nsmallest(10, "P")[["ID", "CHROM", "POS", "A1", "A1_FREQ", "P", "P_BONF"]]

    if prep.lmm is not None:
        files["variance_components"] = _write_variance_components(
            out / "variance_components.tsv", prep.lmm, prep.trait_names)

    if cfg.plots and len(tested):
        from gwasrep import plots

        files["manhattan"] = plots.manhattan(tested, out / "manhattan.png",
                                             title=f"Multi-trait {'LMM ' if prep.lmm else ''}"
                                                   f"LRT ({D} df)")
        files["qq"] = plots.qq({"multi-trait LRT": tested["P"].to_numpy(),
                                "Bonferroni over dimensions": tested["P_BONF"].to_numpy()},
                               out / "qq.png")
    wall = time.perf_counter() - t0
    bed_digest = hashlib.sha256(np.array(crcs, dtype=np.int64).tobytes()).hexdigest()
    prep.inputs["bed"]["blocks_crc32_sha256"] = bed_digest
    meta = {
        "command": "assoc",
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "inputs": prep.inputs,
        "samples": {"used": int(prep.fam_idx.size), "per_input": prep.sample_counts},
        "traits": {"n_traits": D, "names": {str(k + 1): n for k, n in enumerate(prep.trait_names)},
                   "preprocessing": prep.steps,
                   "pca_explained_variance": prep.explained},
        "covariates": {"n_covariates_with_intercept": null.n_covariates,
                       "names": prep.covariate_names},
        "null_model": ({"kind": "lmm", **prep.lmm.meta} if prep.lmm else
                       {"kind": "linear", "lml0": null.lml0, "C0": null.C0.tolist()}),
        "variants": {"selected": n_total, "tested": int(len(tested)), "excluded": excluded_counts},
        "lambda_gc": lam,
        "backend": backend,
        "block_size": cfg.block_size,
        "n_blocks": len(blocks),
        "versions": _versions(),
        "wall_time_s": wall,
        "scan_time_s": t_scan,
        "notes": prep.notes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(out / "run.json", json.dumps(meta, indent=1, default=float))
    files["run_json"] = out / "run.json"
    run = AssocRun(out=out, files=files, n_samples=int(prep.fam_idx.size), n_traits=D,
                   n_variants_tested=int(len(tested)), excluded=excluded_counts, lambda_gc=lam,
                   top_hits=top, wall_time_s=wall, notes=prep.notes)
    atomic_write_text(out / "report.md", _report(run, meta))
    files["report"] = out / "report.md"
    shutil.rmtree(partial)
    return run


def _write_variance_components(path: Path, setup, names: list[str]) -> Path:
    """One row per (group, dimension) with h2 and the Cg, Cn diagonals.

    Specified in data_specs/variance_components.md.
    """
    rows = []
    for g, n in zip(setup.group_names, setup.nulls, strict=True):
        for k, name in enumerate(names):
            rows.append({"GROUP": g, "DIM": k + 1, "NAME": name, "H2": n.h2[k],
                         "H2_SE": np.nan if n.h2_se is None else n.h2_se[k],
                         "VG": n.Cg[k, k], "VE": n.Cn[k, k], "METHOD": "REML" if n.restricted
                         else "ML", "CONVERGED": n.converged, "LML": n.lml})
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False, float_format="%.8g")
    return path


def _report(run: AssocRun, meta: dict) -> str:
    lines = ["# gwasrep assoc report", "",
             f"- samples used: {run.n_samples:,}",
             f"- traits: {run.n_traits} ({', '.join(meta['traits']['names'].values())}); "
             f"preprocessing: {' -> '.join(meta['traits']['preprocessing']) or 'none'}",
             f"- covariates (with intercept): {meta['covariates']['n_covariates_with_intercept']}",
             f"- variants tested: {run.n_variants_tested:,}; not tested: "
             + (", ".join(f"{v:,} {k}" for k, v in run.excluded.items()) or "none")
             + " (see excluded_variants.tsv)",
             f"- lambda GC: multi-trait P {run.lambda_gc['P']:.3f}, "
             f"P_BONF {run.lambda_gc['P_BONF']:.3f}",
             f"- wall time: {run.wall_time_s:.1f} s", ""]
    nm = meta["null_model"]
    if nm["kind"] == "lmm":
        lines += ["## Linear mixed model", "",
                  f"- kinship: {nm['mode']} rank ({nm['why']}); LOCO: {nm['loco']}; "
                  f"variance components by {nm['fit']}", ""]
        names = list(meta["traits"]["names"].values())
        for g, summ in nm["null"].items():
            which = "(all chromosomes)" if g == "all" else f"without chromosome {g}"
            lines += [f"Null model {which}: lml {summ['lml']:.6g}, "
                      f"converged {summ['converged']}", "",
                      "| dimension | h2 | " + " | ".join(f"rg with {n}" for n in names) + " |",
                      "|---" * (len(names) + 2) + "|"]
            for k, n in enumerate(names):
                rg = ["NA" if v is None else f"{v:.3f}" for v in summ["rg"][k]]
                lines.append(f"| {n} | {summ['h2'][k]:.3f} | " + " | ".join(rg) + " |")
            lines.append("")
            if len(nm["null"]) > 3:
                lines += [f"(and {len(nm['null']) - 1} more LOCO fits in run.json)", ""]
                break
    if run.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in run.notes] + [""]
    lines += ["## Top variants (multi-trait LRT)", "",
              "| ID | CHROM | POS | A1 | A1_FREQ | P | P_BONF |", "|---|---|---|---|---|---|---|"]
    for r in run.top_hits.itertuples():
        lines.append(f"| {r.ID} | {r.CHROM} | {r.POS} | {r.A1} | {r.A1_FREQ:.3f} | {r.P:.3g} | "
                     f"{r.P_BONF:.3g} |")
    lines += ["", "## Files", ""] + [f"- {k}: {p.name}" for k, p in run.files.items()]
    return "\n".join(lines) + "\n"
