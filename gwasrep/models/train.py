"""Training loop of the trait generators, with a resumable run directory.

A run directory (``data_specs/train_run.md``) holds:

- ``config.json``: the :class:`~gwasrep.models.config.TrainConfig`'s model fields, the data
  description and the channel normalization;
- ``train.txt``, ``val.txt`` (and ``test.txt`` for random splits): the sample IDs;
- ``metrics.csv``: one row per epoch (train and validation loss, learning rate,
  temperature, samples/s);
- ``checkpoint.pt``: weights, optimizer and early-stopping state after the last
  finished epoch (rewritten atomically every epoch);
- ``model.pt``: the final weights (the best validation epoch for ``supervised``).

Determinism: the initial weights depend on ``seed`` only, and epoch ``e`` draws its
shuffling, image choice, augmentations and SCARF masks from a generator seeded with
``(seed, e)``. A run killed after epoch k and resumed therefore reproduces the
uninterrupted run's weights exactly on CPU. Everything saved is tensors, numbers and
strings, and is read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from gwasrep.errors import GwasrepError, InputError, ResumeError
from gwasrep.io.atomic import atomic_path, atomic_write_text
from gwasrep.io.fingerprint import digest
from gwasrep.models.config import MODEL_FIELDS, RUNTIME_KEYS, TrainConfig
from gwasrep.models.data import TrainData, channel_stats
from gwasrep.models.imageops import ChannelNorm, build_augment, check_augment_for
from gwasrep.models.methods import get_method, model_from_config
from gwasrep.models.methods.base import Batch, ModelInputs
from gwasrep.runs import Progress, RunResult

__all__ = ["TrainResult", "evaluate_loss", "load_run", "resolve_device", "train"]

VAL_SEED_OFFSET = 7919


@dataclass(kw_only=True)
class TrainResult(RunResult):
    """A finished (or early-stopped) training run."""

    run_dir: Path
    config: TrainConfig
    #: One dict per finished epoch (the rows of metrics.csv).
    metrics: list[dict]
    epochs_run: int
    stopped_early: bool


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA, else MPS, else CPU; an unavailable explicit request is an error."""
    has_cuda = torch.cuda.is_available()
    has_mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda" if has_cuda else "mps" if has_mps else "cpu")
    if name == "cuda" and not has_cuda:
        raise InputError("--device cuda: no CUDA GPU is available to torch "
                         f"({torch.__version__}); use --device cpu or auto")
    if name == "mps" and not has_mps:
        raise InputError("--device mps: Apple MPS is not available; use --device cpu or auto")
    if name not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device: expected auto, cpu, cuda or mps; found {name!r}")
    return torch.device(name)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch + 1)


def _batches(n: int, batch_size: int, g: torch.Generator | None) -> list[np.ndarray]:
    """Positions 0..n-1 in ``max(1, n // batch_size)`` near-equal batches (shuffled if g)."""
    order = torch.randperm(n, generator=g).numpy() if g is not None else np.arange(n)
    return np.array_split(order, max(1, n // batch_size))


class _ImageBatches(torch.utils.data.Dataset):
    """Batch k = the images of rows ``plan[k]``: lets DataLoader workers decode files."""

    def __init__(self, source, plan):
        self.source, self.plan = source, plan

    def __len__(self):
        return len(self.plan)

    def __getitem__(self, k):
        return self.source.load(self.plan[k])


class _Runner:
    """Holds the data tensors, normalization and augmentation of a training run."""

    def __init__(self, data: TrainData, cfg: TrainConfig, device: torch.device, norm,
                 target: np.ndarray | None = None):
        self.data, self.cfg, self.device = data, cfg, device
        spec = get_method(cfg.method)
        self.normalize = ChannelNorm(norm[0], norm[1], device)
        self.genotypes = None if data.genotypes is None or not spec.needs_genotypes else \
            torch.from_numpy(spec.genetic_input(data.genotypes, data.beta))
        self.target = None if target is None else torch.from_numpy(target)
        gen = data.genetics
        self.genetics = None if gen is None else {k: torch.from_numpy(v)
                                                  for k, v in gen.arrays.items()}
        self.present = None if gen is None else {k: torch.from_numpy(v)
                                                 for k, v in gen.present.items()}
        self.snp_mean = None if gen is None or gen.layout is None else \
            torch.tensor(gen.layout["mean"], dtype=torch.float32)
        base = build_augment(cfg.augment)
        self.augment = lambda x, g: self.normalize(base(x, g))

    def plan(self, positions: np.ndarray, g: torch.Generator | None, shuffle: bool):
        """Batches of sample positions and, per batch, the image row drawn for each sample."""
        batches = _batches(len(positions), self.cfg.batch_size, g if shuffle else None)
        out = []
        for b in batches:
            pos = positions[b]
            rows = self.data.image_rows
            pick = (torch.randint(0, 2 ** 31 - 1, (len(pos),), generator=g).numpy()
                    if g is not None else np.zeros(len(pos), dtype=np.int64))
            out.append((pos, np.array([rows[p][k % len(rows[p])]
                                       for p, k in zip(pos, pick, strict=True)])))
        return out

    def loader(self, plan):
        ds = _ImageBatches(self.data.images, [rows for _, rows in plan])
        return torch.utils.data.DataLoader(ds, batch_size=None, shuffle=False,
                                           num_workers=self.cfg.workers,
                                           pin_memory=self.device.type == "cuda")

    def batch(self, pos, images) -> Batch:
        dev = self.device
        genetics = present = None
        if self.genetics is not None:
            genetics = {k: v[pos].to(dev) for k, v in self.genetics.items()}
            present = {k: v[pos].to(dev) for k, v in self.present.items()}
            if "snp_codes" in genetics:  # GIM's codes and MRM's centred dosages
                codes = genetics["snp_codes"].long()
                genetics["snp_codes"] = codes
                genetics["snps"] = torch.where(codes == 3, 0.0,
                                               codes.float() - self.snp_mean.to(dev))
        return Batch(images=images.to(dev, non_blocking=True),
                     genotypes=None if self.genotypes is None else self.genotypes[pos].to(dev),
                     target=None if self.target is None else self.target[pos].to(dev),
                     genetics=genetics, present=present)


def _lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up over ``warmup_epochs``, then cosine annealing to 0 at the last step."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = cfg.epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def _save(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.getvalue())


def _load(path: Path, device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)


def _write_metrics(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _data_description(data: TrainData, norm, inputs: dict, classes: list[str] | None) -> dict:
    desc = {
        "inputs": inputs,
        "image_shape": list(data.images.out_shape),
        "channel_mean": norm[0], "channel_sd": norm[1],
        "n_samples": {k: int(len(v)) for k, v in data.splits.items()},
        "n_variants": data.n_variants,
        **({} if data.genetics is None else {"modalities": data.genetics.sizes}),
        **({} if data.genetics is None or data.genetics.layout is None else
           {"layout": {k: v for k, v in data.genetics.layout.items() if k != "mean"}}),
        "variant_ids_sha1": digest("\n".join(data.variant_ids), algorithm="sha1"),
        "split_ids_sha1": digest("\n".join(f"{k}:{','.join(data.sample_ids[v])}"
                                           for k, v in sorted(data.splits.items())),
                                 algorithm="sha1"),
    }
    if classes is not None:
        desc["classes"] = classes
    return desc


def _check_resume(run_dir: Path, old: dict, cfg: TrainConfig, desc: dict) -> None:
    """Refuse to resume ``old`` (the stored config.json) with another method, settings or data."""
    if old["config"]["method"] != cfg.method:
        raise ResumeError(f"{run_dir} holds a {old['config']['method']} run; cannot resume it as "
                          f"{cfg.method} (choose another --out)")
    # A field the stored run predates had its default then.
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    diff = [k for k, v in cfg.settings().items()
            if k not in RUNTIME_KEYS and old["config"].get(k, defaults.get(k)) != v]
    if diff:
        raise ResumeError(f"{run_dir}: --resume with different settings: "
                          + ", ".join(f"{k} {old['config'].get(k)!r} -> {getattr(cfg, k)!r}"
                                      for k in diff))
    for key in ("image_shape", "n_samples", "n_variants", "modalities", "variant_ids_sha1",
                "split_ids_sha1"):
        if old["data"].get(key) != desc.get(key):
            raise ResumeError(f"{run_dir}: --resume with different data ({key}: "
                              f"{old['data'].get(key)} -> {desc.get(key)})")


def train(data: TrainData, cfg: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = False,
          inputs: dict | None = None, progress: Progress | None = None) -> TrainResult:
    """Train ``cfg.method`` on ``data`` in ``run_dir`` (see the module docstring).

    ``progress`` reports stage ``epoch`` after every step (in steps, with ``loss`` and
    ``samples_per_s``) and stage ``epochs`` after every epoch (with the metrics row and a
    ``message`` line).
    """
    run_dir = Path(run_dir)
    cfg.check()
    spec = get_method(cfg.method)
    if spec.genetic in ("dosages", "score") and data.genotypes is None:
        raise InputError(f"method {cfg.method} needs genotypes (--bed and --panel)")
    if spec.genetic in ("modalities", "snps") and data.genetics is None:
        raise InputError(f"method {cfg.method} needs genotypes (--bed)")
    device = resolve_device(cfg.device)
    check_augment_for(cfg.augment, data.images.spatial_dims)
    if len(data.splits["train"]) < 2:
        raise InputError(f"the train split has {len(data.splits['train'])} sample; contrastive "
                         "and batch-norm models need at least 2")
    target, classes = spec.prepare_target(data, cfg) if spec.target else (None, None)
    # Built before anything is written: a bad encoder leaves no half-made run folder.
    model = model_from_config(cfg, ModelInputs(
        image_shape=tuple(data.images.out_shape), n_variants=data.n_variants,
        beta=None if data.beta is None else torch.from_numpy(data.beta),
        n_classes=len(classes or []),
        modalities=None if data.genetics is None else data.genetics.sizes,
        layout=None if data.genetics is None else data.genetics.layout)).to(device)
    ckpt_path = run_dir / "checkpoint.pt"
    existing = (run_dir / "config.json").is_file()
    if existing:
        if not resume:
            raise ResumeError(f"{run_dir} already holds a run; pass --resume to continue it, or "
                              "choose another --out")
        stored = json.loads((run_dir / "config.json").read_text())
        norm = (stored["data"]["channel_mean"], stored["data"]["channel_sd"])
    else:
        norm = channel_stats(data)
    desc = _data_description(data, norm, inputs or {}, classes)
    if existing:
        _check_resume(run_dir, stored, cfg, desc)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        for name, pos in data.splits.items():
            atomic_write_text(run_dir / f"{name}.txt", "".join(f"{s}\n" for s in
                                                               data.sample_ids[pos]))
        atomic_write_text(run_dir / "config.json", json.dumps(
            {"config": cfg.settings(), "data": desc, "torch": torch.__version__},
            indent=2) + "\n")

    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    state = {"epoch": 0, "best_val": math.inf, "best_epoch": 0, "bad_epochs": 0, "metrics": []}
    if resume and ckpt_path.is_file():
        ck = _load(ckpt_path, device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        scaler.load_state_dict(ck["scaler"])
        state = {k: ck[k] for k in state}
    runner = _Runner(data, cfg, device, norm, target)
    train_pos, val_pos = data.splits["train"], data.splits["val"]
    steps = len(_batches(len(train_pos), cfg.batch_size, None))
    stopped = spec.early_stopping and state["bad_epochs"] >= cfg.patience
    notes = list(data.notes)
    for epoch in range(state["epoch"], cfg.epochs):
        if stopped:
            break
        if hasattr(model, "start_epoch"):  # GIM's stages
            model.start_epoch(epoch)
        g = _epoch_generator(cfg.seed, epoch)
        torch.manual_seed(int(torch.randint(0, 2 ** 62, (1,), generator=g)))
        plan = runner.plan(train_pos, g, shuffle=True)
        model.train()
        t0, seen, total = time.perf_counter(), 0, 0.0
        for k, ((pos, _), images) in enumerate(zip(plan, runner.loader(plan), strict=True)):
            for grp in opt.param_groups:
                grp["lr"] = _lr_at(cfg, epoch * steps + k, steps)
            batch = runner.batch(pos, images)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                loss = model.loss(batch, runner.augment, g)
            if not torch.isfinite(loss):
                raise GwasrepError(f"epoch {epoch + 1}, step {k + 1}: the loss is {loss.item()}; "
                                   "lower --lr (finished epochs are kept: --resume)")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            seen += len(pos)
            total += loss.item() * len(pos)
            if progress:
                progress(k + 1, steps, "epoch", epoch=epoch + 1, epochs=cfg.epochs,
                         loss=loss.item(), samples_per_s=seen / (time.perf_counter() - t0))
        seconds = time.perf_counter() - t0
        val_loss = evaluate_loss(model, runner, val_pos)
        row = {"epoch": epoch + 1, "train_loss": total / seen, "val_loss": val_loss,
               "lr": opt.param_groups[0]["lr"],
               "temperature": model.clip.temperature if hasattr(model, "clip") else "",
               "samples_per_s": seen / seconds, "seconds": seconds}
        state["metrics"].append(row)
        state["epoch"] = epoch + 1
        if val_loss < state["best_val"]:
            state.update(best_val=val_loss, best_epoch=epoch + 1, bad_epochs=0)
            if spec.early_stopping:
                _save(model.state_dict(), run_dir / "best.pt")
        else:
            state["bad_epochs"] += 1
        stopped = spec.early_stopping and state["bad_epochs"] >= cfg.patience
        _save({"model": model.state_dict(), "optimizer": opt.state_dict(),
               "scaler": scaler.state_dict(), **state}, ckpt_path)
        _write_metrics(run_dir / "metrics.csv", state["metrics"])
        if progress:
            val = f"{val_loss:.4f}" if val_loss == val_loss else "n/a"
            progress(epoch + 1, cfg.epochs, "epochs", **row,
                     message=f"epoch {epoch + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f}, "
                             f"val loss {val}, {row['samples_per_s']:,.0f} samples/s")
    final = _load(run_dir / "best.pt", device) if spec.early_stopping \
        and (run_dir / "best.pt").is_file() else model.state_dict()
    _save(final, run_dir / "model.pt")
    if stopped:
        notes.append(f"early stopping after epoch {state['epoch']}: no validation improvement "
                     f"for {cfg.patience} epochs; model.pt holds epoch {state['best_epoch']}")
    return TrainResult(run_dir=run_dir, config=cfg, metrics=state["metrics"],
                       epochs_run=state["epoch"], stopped_early=stopped, notes=notes,
                       files={k: run_dir / f for k, f in (
                           ("config", "config.json"), ("metrics", "metrics.csv"),
                           ("checkpoint", "checkpoint.pt"), ("model", "model.pt"))})


@torch.no_grad()
def evaluate_loss(model, runner: _Runner, positions: np.ndarray) -> float:
    """Mean loss over ``positions`` in eval mode, with fixed augmentation draws."""
    if len(positions) < 2:
        return float("nan")
    g = torch.Generator().manual_seed(runner.cfg.seed * 1_000_003 + VAL_SEED_OFFSET)
    model.eval()
    plan = runner.plan(positions, g, shuffle=False)
    total, n = 0.0, 0
    for (pos, _), images in zip(plan, runner.loader(plan), strict=True):
        if len(pos) < 2:
            continue
        total += model.loss(runner.batch(pos, images), runner.augment, g).item() * len(pos)
        n += len(pos)
    return total / max(n, 1)


def load_run(run_dir: str | os.PathLike, device: str = "cpu"):
    """The config, data description and trained model of a run directory (eval mode)."""
    run_dir = Path(run_dir)
    cfg_path, weights = run_dir / "config.json", run_dir / "model.pt"
    if not cfg_path.is_file():
        raise InputError(f"{run_dir}: not a gwasrep run directory (no config.json)")
    if not weights.is_file():
        raise InputError(f"{run_dir}: the run has not finished (no model.pt); resume it with "
                         "gwasrep train --resume")
    try:
        stored = json.loads(cfg_path.read_text())
        cfg = TrainConfig(**{k: v for k, v in stored["config"].items() if k in MODEL_FIELDS})
        desc = stored["data"]
        cfg.check()
        inputs = ModelInputs(image_shape=tuple(desc["image_shape"]),
                             n_variants=desc["n_variants"],
                             n_classes=len(desc.get("classes", [])),
                             modalities=desc.get("modalities"), layout=desc.get("layout"))
        model = model_from_config(cfg, inputs)
    except InputError as exc:
        raise InputError(f"{cfg_path}: not a valid gwasrep run configuration: {exc}") from None
    except Exception as exc:  # JSON, its fields, or a model they cannot build
        raise InputError(f"{cfg_path}: not a readable gwasrep run configuration "
                         f"(data_specs/train_run.md): {type(exc).__name__}: "
                         f"{(str(exc).splitlines() or [''])[0][:120]}") from None
    dev = resolve_device(device)
    try:
        state = _load(weights, "cpu")
        model.load_state_dict(state)
    except Exception as exc:  # torch raises RuntimeError, pickle and zip errors alike
        raise InputError(f"{weights}: could not load the trained weights (a damaged or "
                         f"foreign model.pt?): {type(exc).__name__}: "
                         f"{(str(exc).splitlines() or [''])[0][:120]}") from None
    return replace(cfg, device=device), desc, model.to(dev).eval()
