"""Training throughput of the trait generators on this machine's CPU (issues 6 and 15).

    python benchmarks/bench_train.py [--n-small 4000] [--n-large 512] [--threads 2]
    python benchmarks/bench_train.py --methods [--n-small 4000] [--threads 2]

``--methods``: GEMCONT, ContIG, GIM and MRM side by side on the simulate-emnist data
(the stand-in pool, 28x28, 1,020 variants on 22 chromosomes: ContIG's raw SNPs + PGS,
GIM's and MRM's SNP sequence), each with the harness's genetic inputs and the quick
profile's batch 256; writes benchmarks/runs/train_methods.json.

Two configurations, each trained by ``gwasrep.models.train.train`` (the full data path:
image loading, augmentation, normalization, genotype batches, SCARF) and, side by
side, as the *model alone*: the same model, loss and optimizer stepping on batches
already in memory. There is no peer tool; the reference is the model-alone ceiling, and
``pipeline / model alone`` near 1 means the loader is not the bottleneck.

1. GEMCONT + SmallCNN on 28x28 one-channel images (the EMNIST setting), batch 256,
   random erasing; images from an ``.npz`` and from a manifest of PNG files.
2. GEMCONT + ResNet-18 on 128x128 RGB images (the fundus setting), batch 64,
   random resized crop + colour jitter + Gaussian blur, from PNG files.

Then the data path alone per batch: loading (npz / PNG decode), augmentation and the
step, in ms. Writes benchmarks/runs/train.json and prints Markdown for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def _png_manifest(d: Path, images: np.ndarray, ids: np.ndarray) -> Path:
    from PIL import Image

    (d / "png").mkdir()
    rows = []
    for img, s in zip(images, ids, strict=True):
        p = d / "png" / f"{s}.png"
        Image.fromarray(img).save(p)
        rows.append({"sample_id": s, "path": f"png/{s}.png"})
    pd.DataFrame(rows).to_parquet(d / "manifest.parquet")
    return d / "manifest.parquet"


def _pipeline(data, cfg, run_dir) -> float:
    """Samples/s of the last epoch of ``train`` (epoch 1 includes one-off warm-up)."""
    from gwasrep.models.train import train

    res = train(data, cfg, run_dir)
    return res.metrics[-1]["samples_per_s"]


def _model_alone(data, cfg, steps: int) -> float:
    """Samples/s of the same model, loss and AdamW on in-memory batches, no augmentation."""
    from gwasrep.models.methods import model_from_config
    from gwasrep.models.methods.base import ModelInputs
    from gwasrep.models.train import _Runner

    shape = tuple(data.images.out_shape)
    gen = data.genetics
    model = model_from_config(replace(cfg, seed=0), ModelInputs(
        image_shape=shape, n_variants=data.n_variants,
        beta=None if data.beta is None else torch.from_numpy(data.beta),
        modalities=None if gen is None else gen.sizes,
        layout=None if gen is None else gen.layout))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(0)
    runner = _Runner(data, cfg, torch.device("cpu"), ([0.0] * shape[0], [1.0] * shape[0]))
    batch = runner.batch(np.arange(cfg.batch_size), torch.rand(cfg.batch_size, *shape))
    if hasattr(model, "start_epoch"):  # GIM: the co-training stage, the costliest
        model.start_epoch(cfg.epochs - 1)
    model.train()

    def step():
        loss = model.loss(batch, lambda v, _g: v, g)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * cfg.batch_size / (time.perf_counter() - t0)


def _data_path(data, cfg, reps: int = 5) -> dict:
    """ms per batch: load the images, augment and normalize them."""
    from gwasrep.models.imageops import build_augment

    rows = np.arange(cfg.batch_size)
    aug = build_augment(cfg.augment)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(reps):
        x = data.images.load(rows)
    t1 = time.perf_counter()
    for _ in range(reps):
        aug(x, g)
    t2 = time.perf_counter()
    return {"load_ms": 1e3 * (t1 - t0) / reps, "augment_ms": 1e3 * (t2 - t1) / reps}


def _case(name, data, cfg, d, steps):
    pipe = _pipeline(data, cfg, d / f"run_{name}")
    alone = _model_alone(data, cfg, steps)
    path = _data_path(data, cfg)
    step_ms = 1e3 * cfg.batch_size / alone
    row = {"case": name, "batch": cfg.batch_size, "pipeline_samples_per_s": pipe,
           "model_alone_samples_per_s": alone, "ratio": pipe / alone, "step_ms": step_ms, **path}
    print(f"{name}: pipeline {pipe:,.0f}/s, model alone {alone:,.0f}/s (ratio {pipe / alone:.2f});"
          f" per batch: load {path['load_ms']:.1f} ms, augment {path['augment_ms']:.1f} ms, "
          f"step {step_ms:.0f} ms", flush=True)
    return row


def methods(args) -> None:
    """GEMCONT, ContIG, GIM and MRM on the simulate-emnist data (the ``--methods`` table)."""
    from gwasrep.harness.simulation import METHOD_AUGMENT, METHOD_INPUTS, ensure_data
    from gwasrep.models.config import TrainConfig
    from gwasrep.models.data import prepare_data, read_images
    from gwasrep.models.genetics import build_genetics
    from gwasrep.models.methods import get_method
    from gwasrep.simulate.emnist import SimulationSetting
    from gwasrep.simulate.pools import standin_pool, standin_source

    setting = SimulationSetting(n_train=args.n_small, n_test=500)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        n_pool = 20_000
        data_dir = ensure_data(lambda: standin_pool(n_pool), setting, data_seed=0, seed=0,
                               root=d, source=standin_source(0, n_pool))
        for method in args.only or ("gemcont", "contig", "gim", "mrm"):
            extra = {k: (data_dir / v if k == "pgs_weights" else v)
                     for k, v in METHOD_INPUTS.get(method, {}).items()}
            if method == "gim":  # both epochs in the co-training stage, the costliest
                extra["stages"] = [0, 0, 2]
            cfg = TrainConfig.from_profile(method, "quick", epochs=2, warmup_epochs=1,
                                           batch_size=256, dim=32,
                                           augment=METHOD_AUGMENT[method], **extra)
            spec = get_method(method)
            data = prepare_data(read_images(data_dir / "images.npz"), bed=data_dir / "cohort",
                                panel=data_dir / "panel.parquet"
                                if spec.genetic in ("dosages", "score") else None,
                                genetics=build_genetics(cfg, spec.genetic),
                                split=data_dir / "train.txt", val_fraction=0.05)
            rows.append(_case(method, data, cfg, d, steps=6))
    info = {"machine": f"{platform.processor() or platform.machine()}, "
                       f"{torch.get_num_threads()} torch threads",
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
            "n_train": args.n_small, "rows": rows}
    out = Path(__file__).parent / "runs" / "train_methods.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(info, indent=2) + "\n")
    print("\n| method | batch | pipeline samples/s | model alone samples/s | ratio | "
          "step ms | vs GEMCONT (pipeline) |\n|---|---|---|---|---|---|---|")
    base = rows[0]["pipeline_samples_per_s"]
    for r in rows:
        print(f"| {r['case']} | {r['batch']} | {r['pipeline_samples_per_s']:,.0f} | "
              f"{r['model_alone_samples_per_s']:,.0f} | {r['ratio']:.2f} | "
              f"{r['step_ms']:.0f} | {r['pipeline_samples_per_s'] / base:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-small", type=int, default=4000)
    ap.add_argument("--n-large", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="+", help="with --methods: these methods only")
    ap.add_argument("--methods", action="store_true",
                    help="GEMCONT, ContIG, GIM and MRM on the simulate-emnist data")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.methods:
        methods(args)
        return
    from gwasrep.models.config import TrainConfig
    from gwasrep.models.data import prepare_data, read_images
    from gwasrep.simulate.rotation import simulate_rotation, write_rotation_task

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        # 1. 28x28, one channel.
        task = simulate_rotation(args.n_small, size=28, seed=0)
        paths = write_rotation_task(d / "small", task)
        man = _png_manifest(d / "small", task.images, task.sample_ids)
        cfg = TrainConfig.from_profile("gemcont", "paper", epochs=2, warmup_epochs=1,
                                       batch_size=256, encoder="cnn", augment=["erasing"])
        for name, src in (("cnn28_npz", paths["images"]), ("cnn28_png", man)):
            data = prepare_data(read_images(src), bed=paths["bed"], panel=paths["panel"],
                                val_fraction=0.05, test_fraction=0.0)
            rows.append(_case(name, data, cfg, d, steps=10))
        # 2. 128x128 RGB, ResNet-18.
        big = simulate_rotation(args.n_large, size=128, seed=1)
        rgb = np.repeat(big.images[..., None], 3, axis=-1)
        rgb = (rgb * np.array([1.0, 0.8, 0.6])).astype(np.uint8)
        paths = write_rotation_task(d / "large", big)
        man = _png_manifest(d / "large", rgb, big.sample_ids)
        cfg = TrainConfig.from_profile("gemcont", "paper", epochs=2, warmup_epochs=1,
                                       batch_size=64, encoder="resnet18",
                                       augment=["crop", "jitter", "blur"])
        data = prepare_data(read_images(man), bed=paths["bed"], panel=paths["panel"],
                            val_fraction=0.05, test_fraction=0.0)
        rows.append(_case("resnet18_128_png", data, cfg, d, steps=4))
    info = {"machine": f"{platform.processor() or platform.machine()}, "
                       f"{torch.get_num_threads()} torch threads",
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "rows": rows}
    out = Path(__file__).parent / "runs" / "train.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(info, indent=2) + "\n")
    print("\n| case | batch | pipeline samples/s | model alone samples/s | ratio | load ms/batch "
          "| augment ms/batch | step ms |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['batch']} | {r['pipeline_samples_per_s']:,.0f} | "
              f"{r['model_alone_samples_per_s']:,.0f} | {r['ratio']:.2f} | {r['load_ms']:.1f} | "
              f"{r['augment_ms']:.1f} | {r['step_ms']:.0f} |")


if __name__ == "__main__":
    main()
