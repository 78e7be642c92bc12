"""Runners of the trait-generator commands: ``gwasrep train`` and ``gwasrep embed``."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gwasrep.errors import InputError, preview
from gwasrep.io.atomic import atomic_path
from gwasrep.io.fingerprint import digest
from gwasrep.io.lock import output_lock
from gwasrep.models.config import TrainConfig
from gwasrep.models.data import image_rows_by_sample, prepare_data, read_iids, read_images
from gwasrep.models.embed import embed_images
from gwasrep.models.genetics import build_genetics
from gwasrep.models.methods import get_method
from gwasrep.models.train import TrainResult, load_run, resolve_device, train
from gwasrep.options import check_options, check_suffix
from gwasrep.runs import Progress, RunResult

__all__ = ["EmbedConfig", "EmbedRun", "run_data", "run_embed", "run_train"]


def run_train(cfg: TrainConfig, *, progress: Progress | None = None) -> TrainResult:
    """``gwasrep train``: read the inputs of ``cfg``, match and split the samples, and train
    in ``cfg.out`` (resuming with ``cfg.resume``).

    ``progress`` reports stages ``epoch`` (steps) and ``epochs`` (see
    :func:`gwasrep.models.train.train`).
    """
    cfg.check()  # the option ranges (gwasrep.options) and the cross-field rules
    if cfg.images is None or cfg.out is None:
        raise InputError("gwasrep train needs --images and --out")
    if cfg.encoder.startswith(("backbone:", "torchscript:")):
        p = Path(cfg.encoder.split(":", 1)[1])
        if not p.is_file():
            raise InputError(f"--encoder {cfg.encoder}: file not found")
    resolve_device(cfg.device)  # fail before reading anything
    spec = get_method(cfg.method)
    uses_panel = spec.genetic in ("dosages", "score")
    if uses_panel and (cfg.bed is None or cfg.panel is None):
        raise InputError(f"method {cfg.method} needs genotypes: pass --bed and --panel")
    if spec.needs_genotypes and cfg.bed is None:
        raise InputError(f"method {cfg.method} needs genotypes: pass --bed")
    if spec.genetic == "modalities" and cfg.modalities is None:
        cfg = replace(cfg, modalities=["raw"] + (["pgs"] if cfg.pgs_weights else [])
                      + (["burden"] if cfg.burden else []))
    for opt, path in (("--pgs-weights", cfg.pgs_weights), ("--burden", cfg.burden)):
        if path is not None and spec.genetic == "modalities" and not Path(path).is_file():
            raise InputError(f"{opt} {path}: file not found")
    if spec.target and (cfg.target is None or cfg.target_col is None):
        raise InputError(f"method {cfg.method} needs --target FILE and --target-col NAME")
    src = read_images(cfg.images, ids=cfg.image_ids, image_size=cfg.image_size)
    data = prepare_data(src, bed=cfg.bed if spec.needs_genotypes else None,
                        panel=cfg.panel if uses_panel else None, split=cfg.split,
                        genetics=build_genetics(cfg, spec.genetic),
                        val=cfg.val, val_fraction=cfg.val_fraction,
                        test_fraction=cfg.test_fraction, seed=cfg.seed,
                        target=cfg.target if spec.target else None, target_col=cfg.target_col)
    inputs = {k: None if v is None else str(Path(v).resolve()) for k, v in
              dict(images=cfg.images, image_ids=cfg.image_ids, bed=cfg.bed, panel=cfg.panel,
                   split=cfg.split, val=cfg.val, target=cfg.target,
                   pgs_weights=cfg.pgs_weights, burden=cfg.burden).items()}
    inputs.update(target_col=cfg.target_col, image_size=cfg.image_size,
                  val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                  pgs_cols=cfg.pgs_cols, min_carriers=cfg.min_carriers, rare_maf=cfg.rare_maf)
    with output_lock(cfg.out):
        return train(data, cfg, cfg.out, resume=cfg.resume, inputs=inputs, progress=progress)


def run_data(run_dir, *, images=None, bed=None, device: str = "cpu"):
    """A trained run and its data again: ``(TrainConfig, data description, model, TrainData)``.

    The inputs recorded in ``config.json`` (absolute paths) are read again, with the run's
    own splits (``train.txt``, ``val.txt``); ``images`` and ``bed`` replace the recorded
    paths (data moved). The samples and variants must be those of the training run.
    """
    run_dir = Path(run_dir)
    tcfg, desc, model = load_run(run_dir, device)
    rec = desc.get("inputs", {})
    images = images or rec.get("images")
    bed = bed or rec.get("bed")
    spec = get_method(tcfg.method)
    cfg = replace(tcfg, images=images, bed=bed, panel=rec.get("panel"),
                  pgs_weights=rec.get("pgs_weights"), burden=rec.get("burden"),
                  pgs_cols=rec.get("pgs_cols"), min_carriers=rec.get("min_carriers", 5),
                  rare_maf=rec.get("rare_maf", 0.01), target=rec.get("target"),
                  target_col=rec.get("target_col"))
    for what, path in (("images", images), ("bed", bed)):
        if path is None and (what == "images" or spec.needs_genotypes):
            raise InputError(f"{run_dir}/config.json records no {what} input; pass --{what}")
    src = read_images(images, ids=rec.get("image_ids"), image_size=rec.get("image_size"))
    uses_panel = spec.genetic in ("dosages", "score")
    data = prepare_data(src, bed=bed if spec.needs_genotypes else None,
                        panel=cfg.panel if uses_panel else None, split=run_dir / "train.txt",
                        val=run_dir / "val.txt", genetics=build_genetics(cfg, spec.genetic),
                        target=cfg.target if spec.target else None, target_col=cfg.target_col)
    if data.n_variants != desc["n_variants"] or (
            desc.get("modalities") is not None and data.genetics is not None
            and data.genetics.sizes != desc["modalities"]):
        raise InputError(f"{run_dir}: the data read again have {data.n_variants:,} genetic "
                         f"features; the run was trained on {desc['n_variants']:,} (other "
                         "--bed or weights files?)")
    ids = digest("\n".join(data.variant_ids), algorithm="sha1")
    if desc.get("variant_ids_sha1") not in (None, ids):
        raise InputError(f"{run_dir}: the genetic features read again are not those the run "
                         "was trained on, in the same order (other --bed or weights files?)")
    return cfg, desc, model, data


@dataclass
class EmbedConfig:
    """``gwasrep embed``: the embeddings of a trained run, one row per sample."""

    #: Run directory of gwasrep train.
    run: Path
    #: Image manifest or .npz/.npy stack.
    images: Path
    #: Embeddings Parquet (data_specs/embeddings.md).
    out: Path
    #: Embed only these samples (e.g. RUN/test.txt).
    samples: Path | None = None
    #: "projection" (the trained embedding) or "backbone" (features before the projector).
    representation: str = "projection"
    image_ids: Path | None = None
    image_size: int | None = None
    batch_size: int = 256
    #: "auto" (CUDA, else MPS, else CPU), "cpu", "cuda" or "mps".
    device: str = "auto"


@dataclass(kw_only=True)
class EmbedRun(RunResult):
    """The embeddings written (``sample_id``, ``meta_n_images``, ``emb_1..emb_K``)."""

    table: pd.DataFrame
    representation: str


def run_embed(cfg: EmbedConfig, *, progress: Progress | None = None) -> EmbedRun:
    """``gwasrep embed``: embed the samples of ``cfg.images`` (or those listed in
    ``cfg.samples``) with a trained run and write the Parquet table; stage ``images``."""
    check_options(cfg)
    check_suffix(cfg.out, (".parquet",), what="the embeddings table (Parquet)")
    images = read_images(cfg.images, ids=cfg.image_ids, image_size=cfg.image_size)
    run_dir, out, samples = cfg.run, cfg.out, cfg.samples
    representation, device = cfg.representation, cfg.device
    tcfg, desc, model = load_run(run_dir, device)
    device = resolve_device(device)
    if list(images.out_shape) != list(desc["image_shape"]):
        raise InputError(f"{images.origin}: images have shape (C, H, W) = {images.out_shape}; the "
                         f"run was trained on {tuple(desc['image_shape'])} (use --image-size)")
    ids = pd.unique(images.sample_ids)
    notes = []
    if samples is not None:
        wanted = read_iids(samples)
        if len(wanted) == 0:
            raise InputError(f"--samples {samples}: no sample IDs in the file; expected one "
                             "IID (or FID IID) per line")
        have = np.isin(wanted, ids)
        if not have.any():
            raise InputError(f"{samples}: none of its {len(wanted):,} samples has an image in "
                             f"{images.origin} (e.g. {preview(wanted, 3)} vs {preview(ids, 3)})")
        if not have.all():
            notes.append(f"{int((~have).sum()):,} of the {len(wanted):,} samples in {samples} "
                         "have no image and are skipped")
        ids = wanted[have]
    rows = image_rows_by_sample(images, ids)
    E = embed_images(model, images, rows, (desc["channel_mean"], desc["channel_sd"]),
                     representation=representation, batch_size=cfg.batch_size, device=device,
                     progress=progress)
    df = pd.DataFrame(E, columns=[f"emb_{k + 1}" for k in range(E.shape[1])])
    df.insert(0, "meta_n_images", np.array([len(r) for r in rows], dtype=np.int64))
    df.insert(0, "sample_id", ids.astype(str))
    meta = {"run": str(Path(run_dir).resolve()), "method": tcfg.method,
            "representation": representation, "encoder": tcfg.encoder, "dim": int(E.shape[1]),
            "images": images.origin, "n_samples": int(len(ids)),
            "averaged_over_images": bool(any(len(r) > 1 for r in rows))}
    _write_parquet(df, out, meta)
    return EmbedRun(files={"embeddings": Path(out)}, notes=notes, table=df,
                    representation=representation)


def _write_parquet(df: pd.DataFrame, out, meta: dict) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"gwasrep": json.dumps(meta).encode()})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
