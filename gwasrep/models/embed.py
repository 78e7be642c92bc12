"""Embedding export: a trained run's representation of each sample, as a Parquet table.

The table follows ``data_specs/embeddings.md`` (``sample_id``, ``meta_n_images``, then
``emb_1..emb_K``) and feeds ``gwasrep assoc``. A sample with several images gets the
mean of their embeddings (GEMCONT averages the two eyes). The Parquet schema metadata
key ``gwasrep`` holds JSON naming the run, the method and the representation
(``projection`` or ``backbone``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gwasrep.errors import InputError, preview
from gwasrep.io._atomic import atomic_path
from gwasrep.models.data import ImageSource, image_rows_by_sample, read_iids
from gwasrep.models.methods import REPRESENTATIONS
from gwasrep.models.train import load_run, resolve_device

__all__ = ["embed_images", "run_embed"]


@torch.no_grad()
def embed_images(model, images: ImageSource, rows: list[np.ndarray], norm, *,
                 representation: str = "projection", batch_size: int = 256,
                 device: str | torch.device = "cpu",
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Mean embedding over each sample's images ``rows[i]``: (n_samples, K) float64."""
    if representation not in REPRESENTATIONS:
        raise InputError(f"--representation: expected projection or backbone; found "
                         f"{representation!r}")
    device = torch.device(device)
    mean = torch.tensor(norm[0], dtype=torch.float32).reshape(1, -1, 1, 1).to(device)
    sd = torch.tensor(norm[1], dtype=torch.float32).reshape(1, -1, 1, 1).to(device)
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    out = None
    for start in range(0, len(flat), batch_size):
        x = images.load(flat[start:start + batch_size]).to(device)
        e = model.embed((x - mean) / sd, representation).double().cpu().numpy()
        if out is None:
            out = np.zeros((len(rows), e.shape[1]))
        np.add.at(out, owner[start:start + batch_size], e)
        if progress:
            progress(min(start + batch_size, len(flat)), len(flat))
    return out / np.array([len(r) for r in rows], dtype=np.float64)[:, None]


def run_embed(run_dir: str | os.PathLike, images: ImageSource, out: str | os.PathLike, *,
              samples=None, representation: str = "projection", batch_size: int = 256,
              device: str = "cpu", progress=None) -> tuple[pd.DataFrame, list[str]]:
    """Embed the samples of ``images`` (or those listed in ``samples``) with a trained run."""
    cfg, desc, model = load_run(run_dir, device)
    device = resolve_device(device)
    if list(images.out_shape) != list(desc["image_shape"]):
        raise InputError(f"{images.origin}: images have shape (C, H, W) = {images.out_shape}; the "
                         f"run was trained on {tuple(desc['image_shape'])} (use --image-size)")
    ids = pd.unique(images.sample_ids)
    notes = []
    if samples is not None:
        wanted = read_iids(samples)
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
                     representation=representation, batch_size=batch_size, device=device,
                     progress=progress)
    df = pd.DataFrame(E, columns=[f"emb_{k + 1}" for k in range(E.shape[1])])
    df.insert(0, "meta_n_images", np.array([len(r) for r in rows], dtype=np.int64))
    df.insert(0, "sample_id", ids.astype(str))
    meta = {"run": str(Path(run_dir).resolve()), "method": cfg.method,
            "representation": representation, "encoder": cfg.encoder, "dim": int(E.shape[1]),
            "images": images.origin, "n_samples": int(len(ids)),
            "averaged_over_images": bool(any(len(r) > 1 for r in rows))}
    _write_parquet(df, out, meta)
    return df, notes


def _write_parquet(df: pd.DataFrame, out, meta: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"gwasrep": json.dumps(meta).encode()})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
