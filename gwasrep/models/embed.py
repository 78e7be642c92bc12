"""Embedding export: a trained run's representation of each sample.

:func:`embed_images` computes it; ``gwasrep embed`` (:func:`gwasrep.models.run.run_embed`)
writes it as a Parquet table that feeds ``gwasrep assoc`` (data_specs/embeddings.md). A
sample with several images gets the mean of their embeddings (GEMCONT averages the two
eyes).
"""

from __future__ import annotations

import numpy as np
import torch

from gwasrep.errors import InputError
from gwasrep.models.data import ImageSource
from gwasrep.models.imageops import ChannelNorm
from gwasrep.models.methods.base import REPRESENTATIONS
from gwasrep.runs import Progress

__all__ = ["embed_images"]


@torch.no_grad()
def embed_images(model, images: ImageSource, rows: list[np.ndarray], norm, *,
                 representation: str = "projection", batch_size: int = 256,
                 device: str | torch.device = "cpu",
                 progress: Progress | None = None) -> np.ndarray:
    """Mean embedding over each sample's images ``rows[i]``: (n_samples, K) float64."""
    if representation not in REPRESENTATIONS:
        raise InputError(f"--representation: expected projection or backbone; found "
                         f"{representation!r}")
    device = torch.device(device)
    normalize = ChannelNorm(norm[0], norm[1], device)
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    out = None
    for start in range(0, len(flat), batch_size):
        x = images.load(flat[start:start + batch_size]).to(device)
        e = model.embed(normalize(x), representation).double().cpu().numpy()
        if out is None:
            out = np.zeros((len(rows), e.shape[1]))
        np.add.at(out, owner[start:start + batch_size], e)
        if progress:
            progress(min(start + batch_size, len(flat)), len(flat), "images")
    return out / np.array([len(r) for r in rows], dtype=np.float64)[:, None]
