"""Runners of the harness commands: ``gwasrep demo`` (a simulated cohort through the
association engine) and ``gwasrep simulate-emnist`` (trait generators compared on GEMCONT's
simulation; the cells are in :mod:`gwasrep.harness.simulation`)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.run import AssocRun, run_assoc
from gwasrep.errors import InputError, ResumeError, preview
from gwasrep.harness.evaluate import (
    EvaluateConfig,
    check_config,
    match_panel,
    predict_labels,
    read_labels,
    reference_recovery,
    violin_figure,
    write_evaluation,
)
from gwasrep.harness.simulation import (
    METHOD_AUGMENT,
    cell_specs,
    ensure_data,
    load_cell,
    plot_summary,
    run_cell,
    summarize,
    summary_markdown,
    sweep_settings,
)
from gwasrep.harness.simulation import PROFILES as SIM_PROFILES
from gwasrep.heritability.run import H2Config, run_h2
from gwasrep.io.atomic import atomic_path, atomic_write_text
from gwasrep.io.columns import find_column, normalize_columns
from gwasrep.io.idx import idx_shape
from gwasrep.io.ldscores import read_ld_scores
from gwasrep.io.lock import output_lock
from gwasrep.io.plink import open_plink
from gwasrep.io.samples import align_samples
from gwasrep.io.tables import read_embeddings, read_table
from gwasrep.loci.recovery import compare_methods
from gwasrep.loci.run import ClumpConfig, run_clump
from gwasrep.models.methods import REGISTRY
from gwasrep.options import check_options
from gwasrep.runs import Progress, RunResult
from gwasrep.simulate.cohort import SimulatedCohort, simulate_cohort
from gwasrep.simulate.emnist import SETTING_FACTORS
from gwasrep.simulate.pools import (
    STANDIN_NOTE,
    ImagePool,
    emnist_source,
    find_emnist_files,
    read_emnist,
    read_image_pool,
    standin_pool,
    standin_source,
)

__all__ = ["DemoConfig", "DemoResult", "EvaluateConfig", "EvaluateRun", "SimulationConfig",
           "SimulationRun", "run_demo", "run_evaluate", "run_simulation"]


@dataclass
class DemoConfig:
    """``gwasrep demo``: a small simulated cohort with planted multi-trait effects."""

    #: Folder for the demo data (``out/data``) and results (``out/results``).
    out: Path = Path("gwasrep_demo")
    seed: int = 0
    n_samples: int = 2000
    n_variants: int = 20_000


@dataclass(kw_only=True)
class DemoResult(RunResult):
    cohort: SimulatedCohort
    run: AssocRun
    #: Planted variants found at P < 5e-8.
    n_recovered: int


def run_demo(cfg: DemoConfig, *, progress: Progress | None = None) -> DemoResult:
    """Simulate a cohort (deterministic for a seed) into ``out/data`` and scan it into
    ``out/results``, with 3 covariates, 8 embedding dimensions, 10 planted variants and
    0.5% missing calls."""
    check_options(cfg)
    out = Path(cfg.out)
    cohort = simulate_cohort(out / "data", n_samples=cfg.n_samples, n_variants=cfg.n_variants,
                             n_traits=8, n_covariates=3, n_causal=10, missing_rate=0.005,
                             seed=cfg.seed, name="demo")
    run = run_assoc(AssocConfig(emb=cohort.emb, bed=cohort.bed, covar=cohort.covar,
                                out=out / "results", overwrite=True), progress=progress)
    ss = pd.read_parquet(run.files["sumstats_parquet"], columns=["ID", "P"])
    hits = set(ss.loc[ss["P"] < 5e-8, "ID"])
    return DemoResult(cohort=cohort, run=run, n_recovered=len(hits & set(cohort.causal_ids)),
                      files=run.files, notes=run.notes)


# --------------------------------------------------------------------------------------
# simulate-emnist


@dataclass
class SimulationConfig:
    """``gwasrep simulate-emnist``: trait generators compared on GEMCONT's simulation.

    Every None takes the profile's value (:data:`gwasrep.harness.simulation.PROFILES`).
    """

    out: Path
    #: "smoke", "quick" or "paper".
    profile: str = "quick"
    methods: list[str] | None = None
    seeds: int | None = None
    #: Factor -> values, each varied alone around the default setting.
    vary: dict[str, list] = field(default_factory=dict)
    #: The official EMNIST files, or any labelled image stack; neither: the stand-in.
    emnist_dir: Path | None = None
    image_pool: Path | None = None
    # The default setting's values (SimulationSetting fields).
    n_train: int | None = None
    n_test: int | None = None
    h_g: float | None = None
    alpha_max: float | None = None
    n_causal: int | None = None
    maf_range: tuple[float, float] | None = None
    n_null: int | None = None
    external_n: int | None = None
    panel_null: int | None = None
    # Training budget (TrainConfig fields) and the GWAS's principal components.
    epochs: int | None = None
    batch_size: int | None = None
    dim: int | None = None
    pcs: int | None = None
    device: str = "auto"
    #: Cells at once in local processes (1: in this process).
    jobs: int = 1
    #: Run the cells on this dask.distributed scheduler instead.
    dask_scheduler: str | None = None
    #: torch threads per cell (default: the cores divided by ``jobs``).
    threads: int | None = None
    #: Seed of the simulated world (effects, frequencies, test set, external cohort).
    data_seed: int = 0


@dataclass(kw_only=True)
class SimulationRun(RunResult):
    """One row per cell (``table``) and mean +- sd per factor value and method (``summary``)."""

    table: pd.DataFrame
    summary: pd.DataFrame
    pool: str
    standin: bool
    n_cells: int
    n_reused: int


def _resolve(cfg: SimulationConfig):
    if cfg.profile not in SIM_PROFILES:
        raise InputError(f"--profile {cfg.profile}: expected one of {', '.join(SIM_PROFILES)}")
    prof = SIM_PROFILES[cfg.profile]
    overrides = {k: getattr(cfg, k) for k in ("n_train", "n_test", "h_g", "alpha_max",
                                               "n_causal", "n_null", "external_n",
                                               "panel_null")
                 if getattr(cfg, k) is not None}
    if cfg.maf_range is not None:
        overrides["maf_range"] = tuple(float(v) for v in cfg.maf_range)
    base = prof.setting.replace(**overrides)
    methods = list(dict.fromkeys(cfg.methods or prof.methods))  # each once, in order
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown or not methods:
        raise InputError(f"--methods {','.join(methods)}: expected some of "
                         f"{', '.join(REGISTRY)}")
    seeds = prof.seeds if cfg.seeds is None else cfg.seeds
    if seeds < 1:
        raise InputError(f"--seeds {seeds}: expected at least 1")
    for factor, values in cfg.vary.items():
        if factor not in SETTING_FACTORS:
            raise InputError(f"--vary {factor}: not a factor; expected one of "
                             f"{', '.join(SETTING_FACTORS)}")
        if not values:
            raise InputError(f"--vary {factor}: no values")
    train = dict(prof.train)
    train.update({k: getattr(cfg, k) for k in ("epochs", "batch_size", "dim")
                  if getattr(cfg, k) is not None})
    pcs = prof.pcs if cfg.pcs is None else cfg.pcs
    if pcs < 1:
        raise InputError(f"--pcs {pcs}: expected at least 1")
    if cfg.jobs < 1:
        raise InputError(f"--jobs {cfg.jobs}: expected at least 1")
    if cfg.threads is not None and cfg.threads < 1:
        raise InputError(f"--threads {cfg.threads}: expected at least 1")
    if cfg.data_seed < 0:
        raise InputError(f"--data-seed {cfg.data_seed}: expected a seed >= 0")
    for k in ("epochs", "batch_size", "dim"):
        v = train.get(k)
        if v is not None and v < (2 if k == "batch_size" else 1):
            raise InputError(f"--{k.replace('_', '-')} {v}: expected at least "
                             f"{2 if k == 'batch_size' else 1}")
    prof = replace(prof, setting=base, train=train, pcs=pcs)
    return prof, base, methods, seeds


@dataclass
class _PoolHandle:
    """An image pool described before it is loaded: a resumed sweep whose data are all on
    disk never reads EMNIST or renders the stand-in."""

    source: str
    standin: bool
    n_images: int
    load: object  # () -> ImagePool
    notes: list[str] = field(default_factory=list)


def _pool(cfg: SimulationConfig, n_needed: int) -> _PoolHandle:
    if cfg.emnist_dir is not None and cfg.image_pool is not None:
        raise InputError("give --emnist-dir or --image-pool, not both")
    if cfg.emnist_dir is not None:
        files = find_emnist_files(cfg.emnist_dir)
        n = sum(idx_shape(files[(part, "images-idx3")], ndim=3)[0] for part in ("train", "test"))
        return _PoolHandle(source=emnist_source(cfg.emnist_dir), standin=False, n_images=n,
                           load=lambda: read_emnist(cfg.emnist_dir))
    if cfg.image_pool is not None:
        pool = read_image_pool(cfg.image_pool)
        return _PoolHandle(source=pool.source, standin=False, n_images=pool.n_images,
                           load=lambda: pool)
    return _PoolHandle(source=standin_source(cfg.data_seed, n_needed), standin=True,
                       n_images=n_needed,
                       load=lambda: standin_pool(n_needed, seed=cfg.data_seed),
                       notes=[STANDIN_NOTE])


def _dask_client(cfg: SimulationConfig):
    """The dask.distributed client of ``--dask-scheduler`` (connected before any output is
    written, so that an unreachable scheduler leaves nothing behind), or None."""
    if not cfg.dask_scheduler:
        return None
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputError("--dask-scheduler needs dask.distributed: "
                         "pip install 'gwasrep[dask]'") from None
    try:
        return Client(cfg.dask_scheduler, timeout=30)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"--dask-scheduler {cfg.dask_scheduler}: could not reach the "
                         f"scheduler ({exc})") from None


def _run_cells(specs, cfg: SimulationConfig, progress: Progress | None, client=None):
    """Yield each cell's result row as it finishes (in this process, local processes or dask)."""
    if client is not None:
        from distributed import as_completed

        futures = [client.submit(run_cell, s, pure=False) for s in specs]
        for fut in as_completed(futures):
            yield fut.result()
        return
    if cfg.jobs > 1 and len(specs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=cfg.jobs, mp_context=ctx) as ex:
            for fut in as_completed([ex.submit(run_cell, s) for s in specs]):
                yield fut.result()
        return
    for s in specs:
        yield run_cell(s, progress=progress)


def run_simulation(cfg: SimulationConfig, *, progress: Progress | None = None
                   ) -> SimulationRun:
    """Simulate, train every method on every setting and seed, test and score (see
    :mod:`gwasrep.harness.simulation`); write ``results.parquet``, ``results.md``,
    ``figure.png`` and ``simulation.json`` in ``cfg.out`` (data_specs/simulation.md).

    ``progress`` reports stages ``data`` (settings x seeds simulated), ``cells`` and, for
    cells run in this process, the training stages ``epoch`` and ``epochs``.
    """
    check_options(cfg)
    prof, base, methods, seeds = _resolve(cfg)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise InputError("gwasrep simulate-emnist trains the trait generators and needs "
                         "PyTorch: pip install 'gwasrep[torch]' (on a CPU-only machine install "
                         "the CPU wheel first)") from None
    sweep = sweep_settings(base, cfg.vary)
    settings = list({s.key(): s for _, _, s in sweep}.values())
    out = Path(cfg.out)
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // max(1, cfg.jobs))
    n_needed = max(s.n_test + 2 * s.n_train for s in settings)
    pool = _pool(cfg, n_needed)
    for s in settings:
        if s.n_train + s.n_test > pool.n_images:
            raise InputError(f"n_train + n_test = {s.n_train:,} + {s.n_test:,} = "
                             f"{s.n_train + s.n_test:,} images, but the image pool "
                             f"({pool.source}) has {pool.n_images:,}")
    from gwasrep.models.train import resolve_device

    device = resolve_device(cfg.device).type  # an unavailable device fails before the lock
    client = _dask_client(cfg)
    with contextlib.ExitStack() as stack:
        if client is not None:
            stack.enter_context(client)
        return _simulate_locked(cfg, prof, methods, seeds, settings, sweep, out, threads, pool,
                                device, client, progress)


def _simulate_locked(cfg, prof, methods, seeds, settings, sweep, out, threads, pool, device,
                     client, progress) -> SimulationRun:
    base = prof.setting
    loaded: list[ImagePool] = []

    def get_pool() -> ImagePool:  # loaded once, and only if some data must be simulated
        if not loaded:
            loaded.append(pool.load())
        return loaded[0]

    with output_lock(out):
        notes = list(pool.notes)
        jobs = [(s, k) for s in settings for k in range(seeds)]
        for i, (s, k) in enumerate(jobs):
            ensure_data(get_pool, s, data_seed=cfg.data_seed, seed=k, root=out,
                        source=pool.source)
            if progress:
                progress(i + 1, len(jobs), "data")
        specs = cell_specs(prof, settings, methods, seeds, root=out, data_seed=cfg.data_seed,
                           device=device, threads=threads, pool=pool)
        reused = [s for s in specs if load_cell(s) is not None]
        if reused:
            notes.append(f"resumed: {len(reused)} of {len(specs)} cells were finished in "
                         f"{out / 'cells'} and are reused")
        rows = {}
        if progress:
            progress(0, len(specs), "cells")
        for row in _run_cells(specs, cfg, progress, client):
            rows[row["key"]] = row
            if progress:
                progress(len(rows), len(specs), "cells")
        table = pd.DataFrame([{k: v for k, v in rows[s.key()].items() if k != "spec"}
                              for s in specs])
        summary = summarize(table, sweep, base)
        files = {"results": out / "results.parquet", "summary": out / "results.md",
                 "figure": out / "figure.png", "config": out / "simulation.json"}
        with atomic_path(files["results"]) as tmp:
            table.to_parquet(tmp, index=False)
        header = [f"- profile: {cfg.profile} ({prof.about}); methods: {', '.join(methods)}; "
                  f"{seeds} seed(s); {len(specs)} cells",
                  "- default setting: " + ", ".join(f"{k}={v}" for k, v in
                                                     asdict(base).items()),
                  f"- image pool: {pool.source}",
                  f"- embeddings: projected on their top {prof.pcs} PCs, adjusted INT, "
                  "multi-trait LRT over every simulated variant on the test set",
                  f"- training: {prof.train_profile} profile with {prof.train}; augmentations: "
                  + "; ".join(f"{m} {'+'.join(METHOD_AUGMENT[m])}" for m in methods)]
        atomic_write_text(files["summary"], summary_markdown(summary, header))
        plot_summary(summary, files["figure"], methods)
        doc = {"command": "simulate-emnist", "config": {k: (str(v) if isinstance(v, Path) else v)
                                                        for k, v in asdict(cfg).items()},
               "profile": cfg.profile, "about": prof.about, "methods": methods,
               "seeds": seeds, "default_setting": asdict(base),
               "settings": {s.key(): asdict(s) for s in settings},
               "train": {"profile": prof.train_profile, **prof.train},
               "augment": {m: METHOD_AUGMENT[m] for m in methods}, "pcs": prof.pcs,
               "pool": pool.source, "standin": pool.standin, "threads_per_cell": threads,
               "notes": notes, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_text(files["config"], json.dumps(doc, indent=1, default=str) + "\n")
    return SimulationRun(files=files, notes=notes, table=table, summary=summary,
                         pool=pool.source, standin=pool.standin, n_cells=len(specs),
                         n_reused=len(reused))


# --------------------------------------------------------------------------------------
# evaluate


@dataclass(kw_only=True)
class EvaluateRun(RunResult):
    """One row per method (``table``) and one per model x label (``prediction``)."""

    table: pd.DataFrame
    prediction: pd.DataFrame


def run_evaluate(cfg: EvaluateConfig, *, progress: Progress | None = None) -> EvaluateRun:
    """For each method: the multi-trait GWAS, clumped and window loci, reference loci found,
    disease prediction (ROC-AUC), PC1 violins, and optionally LDSC h2 and MI; then
    ``evaluation.md``, ``evaluation.parquet``/``.tsv``, ``prediction.tsv`` and the figures
    in ``cfg.out`` (data_specs/evaluation.md). ``progress``: stage ``methods``."""
    check_options(cfg)
    check_config(cfg)
    embs = {n: read_embeddings(p) for n, p in cfg.embeddings.items()}
    fileset = open_plink(cfg.bed)
    for name, e in embs.items():  # fail before any output: no shared sample is an error
        align_samples(fileset.fam, {f"--emb {name}": e.keys})
    labels, label_cols = read_labels(cfg) if cfg.labels else (None, [])
    reference = None
    if cfg.reference is not None:
        ref = read_table(cfg.reference)
        id_col = find_column(ref.columns, "ID")
        if id_col is None:
            raise InputError(f"--reference {cfg.reference}: expected an ID (or SNP) column of "
                             f"the reference loci's index variants; found "
                             f"{preview(ref.columns, 8)}")
        reference = normalize_columns(ref.rename(columns={id_col: "ID"}))
    panel = match_panel(fileset, read_table(cfg.panel)) if cfg.panel is not None else None
    if cfg.ref_ld is not None:
        read_ld_scores(cfg.ref_ld)  # a bad prefix fails before any output
    if cfg.mi:
        try:
            import torch  # noqa: F401
        except ImportError:
            raise InputError("--mi trains a critic network and needs PyTorch: pip install "
                             "'gwasrep[torch]'") from None
    out = Path(cfg.out)
    notes: list[str] = []
    rows, sumstats = [], {}
    with output_lock(out):
        for i, (name, emb) in enumerate(embs.items()):
            mdir = out / "methods" / name
            pcs = None if cfg.pcs is None else min(cfg.pcs, len(emb.columns))
            acfg = AssocConfig(emb=cfg.embeddings[name], bed=cfg.bed, out=mdir / "assoc",
                               covar=cfg.covar, covar_cols=cfg.covar_cols, pcs=pcs,
                               inverse_normal=cfg.inverse_normal, keep=cfg.keep,
                               threads=cfg.threads, resume=True)
            try:  # a scan killed earlier continues where it stopped
                run = run_assoc(acfg)
            except ResumeError:  # ... unless it was of other inputs or settings
                notes.append(f"{name}: an unfinished GWAS of other inputs or settings in "
                             f"{mdir / 'assoc'} was discarded")
                run = run_assoc(replace(acfg, resume=False, overwrite=True))
            ss = pd.read_parquet(run.files["sumstats_parquet"])
            sumstats[name] = ss
            cl = run_clump(ClumpConfig(sumstats=run.files["sumstats_parquet"], bed=cfg.bed,
                                       out=mdir / "loci", p1=cfg.clump_p, p2=cfg.clump_p,
                                       r2=cfg.clump_r2, kb=cfg.clump_kb))
            row = {"METHOD": name, "N_SAMPLES": run.n_samples, "N_DIMS": len(emb.columns),
                   "PCS": pcs if pcs is not None else len(emb.columns),
                   "N_TESTED": run.n_variants_tested, "LAMBDA_GC": run.lambda_gc["P"],
                   "N_SIGNIFICANT": int((ss["P"] < cfg.clump_p).sum()),
                   "N_CLUMPED_LOCI": cl.n_loci}
            if reference is not None:
                for col in ("P", "P_BONF"):
                    rec = reference_recovery(ss, reference["ID"], p_col=col)
                    row[f"REF_SIGNIFICANT_{col}"] = rec["n_significant"]
                    row[f"REF_FRACTION_{col}"] = rec["fraction"]
                row["N_REFERENCE"] = rec["n_reference"]
                row["REF_TESTED"] = rec["n_tested"]
                row["REF_THRESHOLD"] = rec["threshold"]
            if cfg.ref_ld is not None:
                h2 = run_h2(H2Config(sumstats=run.files["sumstats_parquet"], ref_ld=cfg.ref_ld,
                                     out=mdir / "h2.tsv", add_greml=False)).table
                row["LDSC_H2_MEAN"] = float(h2["H2"].mean())
                row["LDSC_H2_MAX"] = float(h2["H2"].max())
            if cfg.mi:
                from gwasrep.mi.run import MIConfig, run_mi  # torch: only when asked

                mi = run_mi(MIConfig(emb=cfg.embeddings[name], bed=cfg.bed, out=mdir / "mi",
                                     extract=cfg.mi_extract, seeds=cfg.mi_seeds)).result
                for k, v in mi.summary.items():
                    row[f"{k}_MEAN"] = v["mean"]
                    row[f"{k}_SD"] = v["sd"]
            rows.append(row)
            if progress:
                progress(i + 1, len(embs), "methods")
        table = pd.DataFrame(rows)
        cmp = compare_methods(sumstats, threshold=cfg.clump_p, window_kb=cfg.window_kb,
                              reference=reference if reference is not None and
                              {"CHROM", "POS"} <= set(reference.columns) else None)
        table = table.merge(cmp.table[["METHOD", "N_LOCI", "N_UNIQUE"]].rename(
            columns={"N_LOCI": "N_WINDOW_LOCI", "N_UNIQUE": "N_UNIQUE_LOCI"}), on="METHOD")
        notes += cmp.notes
        prediction = pd.DataFrame()
        files = {}
        if labels is not None:
            prediction, pc1, pnotes = predict_labels(cfg, embs, labels, label_cols, fileset, panel)
            notes += pnotes
            files["violins"] = violin_figure(cfg, pc1, labels, label_cols, out)
            for lab in label_cols:
                for r in prediction[prediction["LABEL"] == lab].itertuples():
                    if r.MODEL in table["METHOD"].tolist():
                        table.loc[table["METHOD"] == r.MODEL, f"AUC_{lab}"] = r.AUC
                        table.loc[table["METHOD"] == r.MODEL, f"AUC_SD_{lab}"] = r.AUC_SD
        files.update(write_evaluation(cfg, table, prediction, cmp, out, notes, label_cols))
    return EvaluateRun(files=files, notes=notes, table=table, prediction=prediction)
