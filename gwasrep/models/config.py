"""The configuration of ``gwasrep train``: the method, its hyperparameters (with profiles) and
the run's inputs and output.

:data:`MODEL_FIELDS` are what determines the trained weights; they are stored as
``config.json["config"]`` and a resumed run must match them. The input fields (images,
genotypes, splits, target) are recorded in the run's data description instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from gwasrep.errors import InputError
from gwasrep.models.imageops import build_augment
from gwasrep.models.methods import REGISTRY
from gwasrep.options import check_options

__all__ = ["MODEL_FIELDS", "PROFILES", "RUNTIME_KEYS", "TrainConfig"]

#: Training profiles. ``paper`` is GEMCONT Sec. 3.4: AdamW (3e-4, 1e-4), 150 epochs,
#: batch 1024, cosine schedule with a 10-epoch warm-up, SCARF p = 0.1, early-stopping
#: patience 50 (supervised). ``quick`` is for trying things out.
PROFILES = {
    "paper": dict(epochs=150, batch_size=1024, lr=3e-4, weight_decay=1e-4, warmup_epochs=10,
                  scarf_p=0.1, patience=50),
    "quick": dict(epochs=20, batch_size=256, lr=1e-3, weight_decay=1e-4, warmup_epochs=2,
                  scarf_p=0.1, patience=5),
}
#: Fields that may differ when resuming: they do not change the numbers on CPU.
RUNTIME_KEYS = ("device", "workers")


@dataclass
class TrainConfig:
    """Everything a training run needs: the method and hyperparameters, then the inputs."""

    method: str
    encoder: str = "cnn"
    geno_encoder: str = "linear"
    dim: int = 128
    profile: str = "paper"
    epochs: int = 150
    batch_size: int = 1024
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_epochs: int = 10
    augment: list[str] = field(default_factory=lambda: ["erasing"])
    scarf_p: float = 0.1
    temperature: float | None = None
    kl_weight: float = 1.0
    task: str = "regress"
    patience: int = 50
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    # -- inputs and output of ``gwasrep train`` (not in MODEL_FIELDS) -------------------
    #: Image manifest or .npz/.npy stack (data_specs/images.md).
    images: Path | None = None
    #: Run directory (data_specs/train_run.md).
    out: Path | None = None
    #: Sample IDs of an .npy stack, one per image.
    image_ids: Path | None = None
    #: Resize images to SIZE x SIZE on load.
    image_size: int | None = None
    #: PLINK 1 fileset and variant panel (methods with a genetic input).
    bed: Path | None = None
    panel: Path | None = None
    #: Training (and validation) samples; default: a seeded random split.
    split: Path | None = None
    val: Path | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    #: Table with sample_id and the target column (methods with a target).
    target: Path | None = None
    target_col: str | None = None
    #: Continue the run in ``out`` from its last finished epoch.
    resume: bool = False

    @classmethod
    def from_profile(cls, method: str, profile: str = "paper", **overrides) -> TrainConfig:
        """The profile's values, then every override that is not None.

        The profile's warm-up is capped at ``epochs`` (a 5-epoch ``paper`` run warms up
        for 5 epochs); an explicit ``warmup_epochs`` above ``epochs`` is an error.
        """
        if profile not in PROFILES:
            raise InputError(f"profile: expected one of {', '.join(PROFILES)}; found "
                             f"{profile!r}")
        if method not in REGISTRY:
            raise InputError(f"method: expected one of {', '.join(REGISTRY)}; found {method!r}")
        values = {**PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}}
        if overrides.get("warmup_epochs") is None:  # fewer epochs than the profile's warm-up
            values["warmup_epochs"] = min(values["warmup_epochs"], values["epochs"])
        cfg = cls(method=method, profile=profile, **values)
        cfg.check()
        return cfg

    def check(self) -> None:
        # Ranges (batch size >= 2: contrastive and batch-norm models) in gwasrep.options.
        check_options(self)
        if not self.warmup_epochs <= self.epochs:
            raise InputError(f"--warmup-epochs {self.warmup_epochs}: expected at most --epochs "
                             f"({self.epochs})")
        build_augment(self.augment)  # names checked here

    def settings(self) -> dict:
        """The :data:`MODEL_FIELDS` as stored in ``config.json["config"]``."""
        return {k: v for k, v in asdict(self).items() if k in MODEL_FIELDS}


#: Fields that determine the trained weights (plus ``device`` and ``workers``, which do not
#: change the numbers on CPU): the method and its hyperparameters.
MODEL_FIELDS = ("method", "encoder", "geno_encoder", "dim", "profile", "epochs", "batch_size",
                "lr", "weight_decay", "warmup_epochs", "augment", "scarf_p", "temperature",
                "kl_weight", "task", "patience", "seed", "device", "workers")
