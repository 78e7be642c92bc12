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
from gwasrep.models.methods import GENO_ENCODERS, REGISTRY
from gwasrep.options import check_options

__all__ = ["METHOD_PROFILES", "MODALITIES", "MODEL_FIELDS", "PROFILES", "RUNTIME_KEYS",
           "TrainConfig"]

#: ContIG's genetic modalities.
MODALITIES = ("raw", "pgs", "burden")

#: Training profiles. ``paper`` is GEMCONT Sec. 3.4: AdamW (3e-4, 1e-4), 150 epochs,
#: batch 1024, cosine schedule with a 10-epoch warm-up, SCARF p = 0.1, early-stopping
#: patience 50 (supervised). ``quick`` is for trying things out.
PROFILES = {
    "paper": dict(epochs=150, batch_size=1024, lr=3e-4, weight_decay=1e-4, warmup_epochs=10,
                  scarf_p=0.1, patience=50),
    "quick": dict(epochs=20, batch_size=256, lr=1e-3, weight_decay=1e-4, warmup_epochs=2,
                  scarf_p=0.1, patience=5),
}
#: Per-method values of a profile, applied over :data:`PROFILES` (then the user's
#: overrides): the papers' settings for ``paper``, scaled-down ones for ``quick``.
#: ContIG: Adam lr 1e-3, wd 1e-6, batch 64 (gwasrep's optimizer is AdamW, which at this
#: weight decay is the same step). GIM: lr 1e-3, batch 12, stages of 200 / 100 / 50
#: epochs. MRM: ViT-B/16, lr 1e-3, batch 256, 50 epochs.
METHOD_PROFILES = {
    ("contig", "paper"): dict(lr=1e-3, weight_decay=1e-6, batch_size=64, warmup_epochs=0,
                              epochs=100, temperature=0.1),
    ("gim", "paper"): dict(lr=1e-3, batch_size=12, epochs=350, stages=[200, 100, 50],
                           warmup_epochs=0),
    ("mrm", "paper"): dict(lr=1e-3, batch_size=256, epochs=50, warmup_epochs=0,
                           encoder="vit-b"),
    ("contig", "quick"): dict(temperature=0.1),
}
#: Fields that may differ when resuming: they do not change the numbers on CPU.
RUNTIME_KEYS = ("device", "workers")


@dataclass
class TrainConfig:
    """Everything a training run needs: the method and hyperparameters, then the inputs."""

    method: str
    encoder: str = "cnn"
    #: Genetic encoder (default per method: gemcont linear, contig h1, gim transformer,
    #: mrm snn; see gwasrep.models.methods.GENO_ENCODERS).
    geno_encoder: str | None = None
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
    # -- ContIG, GIM, MRM (METHODS.md section 4; data_specs/train_run.md) --------------
    #: ContIG's genetic modalities, by name: raw, pgs, burden (default: raw, plus pgs with
    #: --pgs-weights and burden with --burden).
    modalities: list[str] | None = None
    #: ContIG: "inner" (samples with every modality) or "outer" (every sample; each
    #: modality's loss over the samples that have it).
    missing: str = "inner"
    #: Keep every k-th variant of each chromosome (ContIG's raw SNPs: 100; GIM, MRM: 1).
    snp_every: int | None = None
    #: ContIG's weight of the image -> genetics term (lambda; 1 - lambda for the other).
    img_weight: float = 0.75
    #: GIM: window of the window attention; augmentation (crop with probability crop_p,
    #: else even downsampling to downsample_length SNPs with probability downsample_p);
    #: epochs of the three stages (frozen genetic encoder, + augmentation, co-training;
    #: default: epochs split 4 : 2 : 1 as the paper's 200 / 100 / 50, rounded, so fewer
    #: than 4 epochs leave no co-training); weight of the image reconstruction.
    window: int = 10
    crop_p: float = 0.2
    downsample_p: float = 0.8
    downsample_length: int | None = None
    stages: list[int] | None = None
    recon_weight: float = 1.0
    #: MRM: relation-masking ratios of attention over image keys and over genome keys,
    #: SNPs per genome token, relation-matching weight.
    tau_image: float = 0.75
    tau_genome: float = 0.5
    snp_token: int = 16
    match_weight: float = 1.0
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
    #: ContIG's PGS weights (ID, A1, one column per score) and the score columns to use
    #: (default: every numeric column but CHR/POS/SE/P/N/frequencies).
    pgs_weights: Path | None = None
    pgs_cols: list[str] | None = None
    #: ContIG's burden input: a variant-to-gene table (ID, GENE, optional A1: the rare
    #: allele, default the cohort's minor allele); genes with fewer carriers than
    #: min_carriers are dropped; only variants with MAF below rare_maf count.
    burden: Path | None = None
    min_carriers: int = 5
    rare_maf: float = 0.01
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
        values = {**PROFILES[profile], **METHOD_PROFILES.get((method, profile), {}),
                  **{k: v for k, v in overrides.items() if v is not None}}
        if overrides.get("epochs") is not None and overrides.get("stages") is None:
            values.pop("stages", None)  # the profile's stages belong to its epochs
        if overrides.get("warmup_epochs") is None:  # fewer epochs than the profile's warm-up
            values["warmup_epochs"] = min(values["warmup_epochs"], values["epochs"])
        cfg = cls(method=method, profile=profile, **values)
        cfg.check()
        return cfg

    def __post_init__(self):
        if self.geno_encoder is None:
            self.geno_encoder = GENO_ENCODERS.get(self.method, ("linear",))[0]
        if self.snp_every is None and self.method in ("contig", "gim", "mrm"):
            self.snp_every = 100 if self.method == "contig" else 1

    def check(self) -> None:
        # Ranges (batch size >= 2: contrastive and batch-norm models) in gwasrep.options.
        check_options(self)
        allowed = GENO_ENCODERS.get(self.method)
        if allowed and self.geno_encoder not in allowed:
            raise InputError(f"--geno-encoder {self.geno_encoder}: method {self.method} takes "
                             f"{', '.join(allowed)}")
        if self.missing not in ("inner", "outer"):
            raise InputError(f"--missing: expected inner or outer; found {self.missing!r}")
        if self.modalities is not None:
            bad = [m for m in self.modalities if m not in MODALITIES]
            if bad or not self.modalities or len(set(self.modalities)) < len(self.modalities):
                raise InputError(f"--modalities {','.join(self.modalities)}: expected distinct "
                                 f"names among {', '.join(MODALITIES)}")
        if self.crop_p + self.downsample_p > 1:
            raise InputError(f"--crop-p {self.crop_p:g} and --downsample-p "
                             f"{self.downsample_p:g}: expected a sum of at most 1 (one "
                             "augmentation per batch)")
        if self.stages is not None:
            if len(self.stages) != 3 or sum(self.stages) != self.epochs:
                raise InputError(f"--stages {','.join(map(str, self.stages))}: expected three "
                                 f"epoch counts (frozen genetic encoder, augmentation, "
                                 f"co-training) summing to --epochs ({self.epochs})")
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
                "kl_weight", "task", "patience", "modalities", "missing", "snp_every",
                "img_weight", "window", "crop_p", "downsample_p", "downsample_length", "stages",
                "recon_weight", "tau_image", "tau_genome", "snp_token", "match_weight", "seed",
                "device", "workers")
