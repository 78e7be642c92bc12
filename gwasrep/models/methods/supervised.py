"""Supervised: regress or classify a target column from the images (the comparisons' upper
bound), with early stopping on the validation loss.
"""

from __future__ import annotations

import numpy as np
from torch import nn
from torch.nn import functional

from gwasrep.errors import InputError
from gwasrep.models.data import TrainData
from gwasrep.models.methods.base import Batch, ImageModel, MethodSpec

__all__ = ["SPEC", "Supervised", "encode_target"]


class Supervised(ImageModel):
    """``backbone -> projector (D) -> ReLU -> Linear`` to the target.

    ``task="regress"``: MSE on the standardized target; ``task="classify"``: cross-entropy
    over ``n_classes``. The upper bound of the comparisons.
    """

    def __init__(self, encoder, shape, dim, *, task: str = "regress", n_classes: int = 0):
        super().__init__(encoder, shape, dim)
        if task not in ("regress", "classify"):
            raise InputError(f"--task: expected regress or classify; found {task!r}")
        self.task = task
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(dim, 1 if task == "regress" else n_classes))

    def loss(self, batch: Batch, augment, g):
        out = self.head(self.project(augment(batch.images, g)))
        if self.task == "regress":
            return functional.mse_loss(out[:, 0], batch.target)
        return functional.cross_entropy(out, batch.target)


def encode_target(data: TrainData, cfg) -> tuple[np.ndarray, list[str] | None]:
    """The target as class codes (int64) and their labels (``task="classify"``), or
    standardized on the training split (float32) with no labels."""
    if data.target is None:
        raise InputError("method supervised needs a target (--target FILE --target-col NAME)")
    if cfg.task == "classify":
        classes, codes = np.unique(np.asarray(data.target).astype(str), return_inverse=True)
        if len(classes) < 2:
            raise InputError(f"the classification target has a single class ({classes[0]!r})")
        return codes.astype(np.int64), [str(c) for c in classes]
    try:
        t = np.asarray(data.target, dtype=np.float64)
    except ValueError:
        raise InputError("the regression target is not numeric; use --task classify for "
                         "labels") from None
    if not np.isfinite(t).all():
        raise InputError("the regression target has non-finite values")
    sd = t[data.splits["train"]].std()
    t = (t - t[data.splits["train"]].mean()) / (sd if sd > 0 else 1.0)
    return t.astype(np.float32), None


def build(cfg, inputs, g) -> Supervised:
    return Supervised(cfg.encoder, inputs.image_shape, cfg.dim, task=cfg.task,
                      n_classes=inputs.n_classes)


SPEC = MethodSpec(name="supervised", build=build, target=True, early_stopping=True,
                  prepare_target=encode_target)
