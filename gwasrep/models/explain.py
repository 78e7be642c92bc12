"""Feature attributions of a trained ContIG run: ``gwasrep explain`` (ContIG Sec. 4.4, App. F).

**The explained quantity.** For a query sample q, the ContIG contrastive loss of q appended
to a fixed reference batch of b samples (b = 1,000 in ContIG), at the run's training
temperature T and weight lambda:

    L(q) = sum over the modalities m that q has of
             lambda CE(img_q -> [gen_ref_m ; gen_q_m])
           + (1 - lambda) CE(gen_q_m -> [img_ref_m ; img_q])

with the logits ``u_n v_n^T / T`` of unit-norm rows and the target the query itself (the
last candidate); ``gen_ref_m``/``img_ref_m`` are the reference samples that have m. Every
image embedding (the query's too) and every reference genetic embedding is computed once,
without gradients; the model is in eval mode, so BatchNorm uses its running statistics
and a query's embedding does not depend on the other rows.

**Attribution.** Integrated Gradients (captum ``IntegratedGradients``, Gauss-Legendre
rule, ``steps`` points, zero baseline) of L(q) with respect to the query's genetic inputs
of every modality at once, batched over queries. By completeness the attributions of a
query sum to ``L(input) - L(zero)`` up to captum's convergence delta. The global
importance of a feature is its mean |attribution| over the queries that have its modality.

Differences from the public code (HealthML/ContIG ``feature_explanations.py``), which
METHODS.md lists as a pitfall: it explains its NT-Xent loss at T = 1.0 and a = 0.5 rather
than the training values, averages the loss over every row of the appended batch (the
reference rows included) and wraps IG in a NoiseTunnel; here the loss is the query's own
term at the trained T and lambda, and IG is plain (a NoiseTunnel's noisy baselines would
break completeness).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.nn import functional

from gwasrep.errors import InputError, preview
from gwasrep.io.atomic import atomic_path, atomic_write_text
from gwasrep.io.figures import pyplot, save_figure
from gwasrep.io.lock import output_lock
from gwasrep.models.data import read_iids
from gwasrep.models.embed import embed_images
from gwasrep.models.run import run_data
from gwasrep.models.train import resolve_device
from gwasrep.options import check_options
from gwasrep.runs import Progress, RunResult

__all__ = ["ExplainConfig", "ExplainRun", "integrated_gradients", "query_loss", "run_explain"]

#: Rows (queries x steps) per forward pass of Integrated Gradients.
ROWS_PER_PASS = 2048
#: Warn when a query's |convergence delta| exceeds this fraction of its total |attribution|.
MAX_RELATIVE_DELTA = 0.05


@dataclass
class ExplainConfig:
    """``gwasrep explain``: Integrated Gradients of a ContIG run's contrastive loss."""

    #: Run directory of ``gwasrep train --method contig``.
    run: Path
    #: Output folder (data_specs/explain.md).
    out: Path
    #: Samples in the fixed reference batch, drawn from the training split.
    reference_batch: int = 1000
    #: Explain only these samples (IID or FID IID per line); default every sample not in
    #: the reference batch.
    samples: Path | None = None
    #: Image input and PLINK prefix replacing those recorded in the run (data moved).
    images: Path | None = None
    bed: Path | None = None
    #: Integration points of Integrated Gradients.
    steps: int = 50
    #: Seed of the reference batch draw.
    seed: int = 0
    #: Features shown in top_features.png.
    top: int = 30
    #: "auto" (CUDA, else MPS, else CPU), "cpu", "cuda" or "mps".
    device: str = "auto"


@dataclass(kw_only=True)
class ExplainRun(RunResult):
    """The tables written (data_specs/explain.md)."""

    #: local.parquet: one row per query.
    local: pd.DataFrame
    #: global.tsv: one row per feature, by rank.
    importance: pd.DataFrame
    #: modalities.tsv: one row per modality.
    modalities: pd.DataFrame
    #: IIDs of the reference batch.
    reference_ids: list[str]
    seconds: float


# --------------------------------------------------------------------------------------
# The numerics


def _row_losses(model, xs, img, weights, names, refs):
    """Per-row loss of queries (rows of ``xs``, ``img``) against the fixed references.

    ``weights`` (N, M) is 1 where the row has modality ``names[k]``; ``refs[name]`` =
    (unit-norm reference image rows, unit-norm reference genetic rows) of the modality.
    """
    scale = 1.0 / float(model.temperature)
    lam = float(model.img_weight)
    img_n = functional.normalize(img, dim=1)
    total = img.new_zeros(img.shape[0])
    for k, (name, x) in enumerate(zip(names, xs, strict=True)):
        gen_n = functional.normalize(model.genetic[name](x), dim=1)
        ref_img, ref_gen = refs[name]
        pos = scale * (img_n * gen_n).sum(dim=1, keepdim=True)  # (N, 1): the query pair
        to_gen = torch.cat([scale * img_n @ ref_gen.T, pos], dim=1)  # img_q vs the genetics
        to_img = torch.cat([scale * gen_n @ ref_img.T, pos], dim=1)  # gen_q vs the images
        ce_img = torch.logsumexp(to_gen, dim=1) - pos[:, 0]
        ce_gen = torch.logsumexp(to_img, dim=1) - pos[:, 0]
        total = total + weights[:, k] * (lam * ce_img + (1 - lam) * ce_gen)
    return total


def _prepare(model, query_inputs, query_img_emb, ref_img_emb, ref_gen_emb, query_present):
    names = list(model.genetic.keys())
    missing = [m for m in names if m not in query_inputs or m not in ref_gen_emb]
    if missing:
        raise InputError(f"the ContIG model has modalities {', '.join(names)}; no input or "
                         f"reference embeddings for {', '.join(missing)}")
    img = query_img_emb.detach()
    q = img.shape[0]
    weights = torch.ones(q, len(names), dtype=img.dtype, device=img.device)
    for k, m in enumerate(names):
        if query_present is not None and m in query_present:
            weights[:, k] = torch.as_tensor(query_present[m], device=img.device).to(img.dtype)
    ref_img = ref_img_emb.detach()
    refs = {}
    for m in names:
        rows, emb = ref_gen_emb[m]
        rows = torch.as_tensor(rows, dtype=torch.bool, device=ref_img.device)
        emb = (emb if emb is not None else ref_img.new_zeros(0, ref_img.shape[1])).detach()
        if emb.shape[0] != int(rows.sum()):
            raise InputError(f"reference embeddings of {m}: {emb.shape[0]} rows for "
                             f"{int(rows.sum())} reference samples that have it")
        refs[m] = (functional.normalize(ref_img[rows], dim=1), functional.normalize(emb, dim=1))
    # Inputs of a modality the query lacks do not enter its loss; zero them (attribution 0).
    xs = tuple(torch.as_tensor(query_inputs[m], device=img.device).to(img.dtype)
               * weights[:, k:k + 1] for k, m in enumerate(names))
    return names, xs, img, weights, refs


def query_loss(model, query_inputs: dict[str, torch.Tensor], query_img_emb: torch.Tensor,
               ref_img_emb: torch.Tensor, ref_gen_emb: dict, *,
               query_present: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """The explained loss L(q) of each query (the module docstring): (Q,) tensor.

    ``query_inputs[m]`` (Q, p_m) genetic inputs; ``query_img_emb`` (Q, D) and
    ``ref_img_emb`` (R, D) image embeddings; ``ref_gen_emb[m]`` = (rows (R,) bool: the
    reference samples that have m, their genetic embeddings (n_m, D)); ``query_present[m]``
    (Q,) bool, default every query has every modality. ``model`` is a ContIG in eval mode.
    """
    names, xs, img, weights, refs = _prepare(model, query_inputs, query_img_emb,
                                             ref_img_emb, ref_gen_emb, query_present)
    return _row_losses(model, xs, img, weights, names, refs)


def integrated_gradients(model, query_inputs: dict[str, torch.Tensor],
                         query_img_emb: torch.Tensor, ref_img_emb: torch.Tensor,
                         ref_gen_emb: dict, steps: int = 50, *,
                         query_present: dict[str, torch.Tensor] | None = None,
                         rows_per_pass: int = ROWS_PER_PASS, progress: Progress | None = None
                         ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Integrated Gradients of :func:`query_loss` from the zero baseline.

    Returns (attributions: modality -> (Q, p_m) float64 array, captum's convergence delta
    (Q,) = sum of a query's attributions - (L(input) - L(zero))). Queries are explained
    ``max(1, rows_per_pass // steps)`` at a time (stage ``queries``); a query's features of
    a modality it lacks get attribution 0.
    """
    from captum.attr import IntegratedGradients

    if int(steps) < 1:
        raise InputError(f"--steps {steps}: expected an integer >= 1")
    names, xs, img, weights, refs = _prepare(model, query_inputs, query_img_emb,
                                             ref_img_emb, ref_gen_emb, query_present)
    if model.training:
        raise ValueError("integrated_gradients needs the model in eval mode (model.eval())")

    def forward(*args):
        *inputs, img_rows, weight_rows = args
        return _row_losses(model, tuple(inputs), img_rows, weight_rows, names, refs)

    ig = IntegratedGradients(forward)
    q = img.shape[0]
    chunk = max(1, int(rows_per_pass) // int(steps))
    parts: list[list[np.ndarray]] = [[] for _ in names]
    deltas = []
    for start in range(0, q, chunk):
        sl = slice(start, start + chunk)
        inputs = tuple(x[sl].detach().requires_grad_(True) for x in xs)
        attr, delta = ig.attribute(inputs, baselines=tuple(torch.zeros_like(x) for x in inputs),
                                   additional_forward_args=(img[sl], weights[sl]),
                                   n_steps=int(steps), return_convergence_delta=True)
        for k, a in enumerate(attr):
            parts[k].append(a.detach().double().cpu().numpy())
        deltas.append(delta.detach().double().cpu().numpy().reshape(-1))
        if progress:
            progress(min(start + chunk, q), q, "queries")
    attributions = {m: (np.concatenate(parts[k]) if q else np.zeros((0, xs[k].shape[1])))
                    for k, m in enumerate(names)}
    return attributions, (np.concatenate(deltas) if q else np.zeros(0))


# --------------------------------------------------------------------------------------
# The runner


def _check(cfg: ExplainConfig) -> None:
    """The numeric options' ranges (gwasrep.options.OPTION_RULES["ExplainConfig"])."""
    check_options(cfg)


def _recorded_method(run_dir: Path) -> str | None:
    """The method in ``run_dir/config.json``, or None when it cannot be read (then loading
    the run gives the error)."""
    try:
        method = json.loads((run_dir / "config.json").read_text())["config"]["method"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return method if isinstance(method, str) else None


def _queries(cfg: ExplainConfig, ids: np.ndarray, ref: np.ndarray, notes: list[str]):
    """Positions (in ``ids``) of the samples to explain."""
    in_ref = np.zeros(len(ids), dtype=bool)
    in_ref[ref] = True
    if cfg.samples is None:
        return np.flatnonzero(~in_ref)
    wanted = pd.unique(read_iids(cfg.samples))
    if len(wanted) == 0:
        raise InputError(f"--samples {cfg.samples}: no sample IDs in the file; expected one "
                         "IID (or FID IID) per line")
    pos = pd.Index(ids).get_indexer(wanted)
    if (pos < 0).all():
        raise InputError(f"--samples {cfg.samples}: none of its {len(wanted):,} samples is "
                         f"among the run's {len(ids):,} samples with images and genotypes "
                         f"(e.g. {preview(wanted, 3)} vs {preview(ids, 3)})")
    if (pos < 0).any():
        notes.append(f"{int((pos < 0).sum()):,} of the {len(wanted):,} samples in "
                     f"{cfg.samples} are not among the run's samples and are skipped")
    pos = pos[pos >= 0]
    ref_hit = in_ref[pos]
    if ref_hit.all():
        raise InputError(f"--samples {cfg.samples}: all {len(pos):,} of its samples in the run "
                         "are in the reference batch; list other samples (e.g. RUN/test.txt) "
                         "or change --seed")
    if ref_hit.any():
        notes.append(f"{int(ref_hit.sum()):,} of the samples in {cfg.samples} are in the "
                     "reference batch and are skipped")
    return pos[~ref_hit]


def run_explain(cfg: ExplainConfig, progress: Progress | None = None) -> ExplainRun:
    """``gwasrep explain``: Integrated Gradients of a ContIG run's contrastive loss for each
    query sample, and the features' global importance; writes the files of
    data_specs/explain.md into ``cfg.out``. Stages ``images`` and ``queries``.
    """
    t0 = time.perf_counter()
    _check(cfg)
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        raise InputError("gwasrep explain needs captum (pip install 'gwasrep[torch]')") from None
    device = resolve_device(cfg.device)  # fail before reading anything
    run_dir = Path(cfg.run)
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    method = _recorded_method(run_dir)
    if method is not None and method != "contig":
        raise InputError(f"--run {run_dir}: a {method} run; gwasrep explain explains ContIG "
                         "runs only (gwasrep train --method contig)")
    tcfg, desc, model, data = run_data(run_dir, images=cfg.images, bed=cfg.bed,
                                       device=cfg.device)
    if tcfg.method != "contig":
        raise InputError(f"--run {run_dir}: a {tcfg.method} run; gwasrep explain explains "
                         "ContIG runs only (gwasrep train --method contig)")
    if list(data.images.out_shape) != list(desc["image_shape"]):
        raise InputError(f"{data.images.origin}: images have shape (C, H, W) = "
                         f"{data.images.out_shape}; the run was trained on "
                         f"{tuple(desc['image_shape'])}")
    model.eval()
    notes = list(data.notes)
    gen = data.genetics
    names = list(model.genetic.keys())
    train_pos = np.asarray(data.splits["train"])
    if cfg.reference_batch > len(train_pos):
        raise InputError(f"--reference-batch {cfg.reference_batch}: expected at most "
                         f"{len(train_pos):,} (the training samples with images)")
    rng = np.random.default_rng(cfg.seed)
    ref = np.sort(rng.choice(train_pos, size=int(cfg.reference_batch), replace=False))
    queries = _queries(cfg, data.sample_ids, ref, notes)
    with output_lock(out):
        # Image embeddings: un-augmented, normalized, eval mode, averaged over a sample's
        # images (as gwasrep embed).
        both = np.concatenate([ref, queries])
        E = embed_images(model, data.images, [data.image_rows[p] for p in both],
                         (desc["channel_mean"], desc["channel_sd"]), device=device,
                         progress=progress)
        E = torch.as_tensor(E, dtype=torch.float32, device=device)
        ref_img, query_img = E[:len(ref)], E[len(ref):]

        def inputs_of(pos):
            return {m: torch.as_tensor(gen.arrays[m][pos], dtype=torch.float32, device=device)
                    for m in names}

        def present_of(pos):
            return {m: torch.as_tensor(gen.present[m][pos], device=device) for m in names}

        ref_present = present_of(ref)
        with torch.no_grad():
            ref_x = inputs_of(ref)
            ref_gen = {m: (ref_present[m], model.genetic[m](ref_x[m][ref_present[m]]))
                       for m in names}
            for m in names:
                if int(ref_present[m].sum()) == 0:
                    notes.append(f"no reference sample has {m}: its loss terms are 0")
        qx, qp = inputs_of(queries), present_of(queries)
        attr, delta = integrated_gradients(model, qx, query_img, ref_img, ref_gen, cfg.steps,
                                           query_present=qp, progress=progress)
        with torch.no_grad():
            loss = query_loss(model, qx, query_img, ref_img, ref_gen, query_present=qp)
            base = query_loss(model, {m: torch.zeros_like(v) for m, v in qx.items()},
                              query_img, ref_img, ref_gen, query_present=qp)
        loss = loss.double().cpu().numpy()
        base = base.double().cpu().numpy()
        has = {m: gen.present[m][queries] for m in names}
        local, importance, mods = _tables(data.sample_ids[queries], names, gen.features,
                                          attr, has, delta, loss, base)
        total = sum(np.abs(a).sum(axis=1) for a in attr.values())
        rel = np.abs(delta) / np.maximum(total, 1e-12)
        warnings = []
        if len(rel) and float(rel.max()) > MAX_RELATIVE_DELTA:
            warnings.append(f"Integrated Gradients' convergence delta is up to "
                            f"{float(rel.max()):.1%} of a query's total |attribution| (median "
                            f"{float(np.median(rel)):.2%}); use more --steps")
        seconds = time.perf_counter() - t0
        meta = {
            "run": str(run_dir.resolve()), "method": tcfg.method,
            "inputs": {"images": None if tcfg.images is None else str(tcfg.images),
                       "bed": None if tcfg.bed is None else str(tcfg.bed),
                       "samples": None if cfg.samples is None
                       else str(Path(cfg.samples).resolve())},
            "settings": {"reference_batch": int(cfg.reference_batch), "steps": int(cfg.steps),
                         "seed": int(cfg.seed), "top": int(cfg.top), "device": str(device),
                         "attribution": "integrated gradients (captum IntegratedGradients, "
                                        "gausslegendre)", "baseline": "zero"},
            "loss": {"temperature": float(model.temperature),
                     "img_weight": float(model.img_weight)},
            "modalities": {m: len(gen.features[m]) for m in names},
            "counts": {"n_samples": int(len(data.sample_ids)), "n_train": int(len(train_pos)),
                       "n_reference": int(len(ref)), "n_queries": int(len(queries)),
                       "n_features": int(sum(len(gen.features[m]) for m in names)),
                       "reference_with": {m: int(gen.present[m][ref].sum()) for m in names},
                       "queries_with": {m: int(has[m].sum()) for m in names}},
            "delta": {"max_abs": float(np.abs(delta).max()) if len(delta) else None,
                      "max_relative": float(rel.max()) if len(rel) else None,
                      "median_relative": float(np.median(rel)) if len(rel) else None},
            "reference_samples": [str(s) for s in data.sample_ids[ref]],
            "notes": notes, "warnings": warnings, "seconds": round(seconds, 3),
            "torch": torch.__version__, "captum": _captum_version(),
        }
        files = _write(out, local, importance, mods, meta, cfg.top)
    return ExplainRun(files=files, notes=notes, warnings=warnings, local=local,
                      importance=importance, modalities=mods,
                      reference_ids=[str(s) for s in data.sample_ids[ref]], seconds=seconds)


def _captum_version() -> str:
    import captum

    return str(getattr(captum, "__version__", "unknown"))


def _tables(ids, names, features, attr, has, delta, loss, base):
    cols, blocks, rows = [], [], []
    for m in names:
        a = np.array(attr[m], dtype=np.float64)
        a[~has[m]] = np.nan  # the query lacks the modality: no attribution
        blocks.append(a)
        cols += [f"{m}:{f}" for f in features[m]]
        with np.errstate(invalid="ignore"):
            mean_abs = (np.abs(a[has[m]]).mean(axis=0) if has[m].any()
                        else np.full(a.shape[1], np.nan))
        rows.append(pd.DataFrame({"modality": m, "feature": [str(f) for f in features[m]],
                                  "mean_abs_attribution": mean_abs}))
    A = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(ids), 0))
    local = pd.concat([pd.DataFrame({"sample_id": np.asarray(ids).astype(str)}),
                       pd.DataFrame(A, columns=cols),
                       pd.DataFrame({"delta": np.asarray(delta, dtype=np.float64),
                                     "loss": loss, "baseline_loss": base})], axis=1)
    importance = pd.concat(rows, ignore_index=True)
    importance["rank"] = importance["mean_abs_attribution"].rank(
        ascending=False, method="first", na_option="bottom").astype(np.int64)
    importance = importance.sort_values("rank", kind="stable").reset_index(drop=True)
    mods = pd.DataFrame([{
        "modality": m, "n_features": int(len(features[m])), "n_samples": int(has[m].sum()),
        "mean_abs_attribution": float(g["mean_abs_attribution"].mean()),
        "total_abs_attribution": float(g["mean_abs_attribution"].sum(min_count=1))}
        for m in names for g in [importance[importance["modality"] == m]]])
    return local, importance, mods


def _write(out: Path, local, importance, mods, meta, top) -> dict[str, Path]:
    files = {"local": out / "local.parquet", "global": out / "global.tsv",
             "modalities": out / "modalities.tsv", "figure": out / "top_features.png",
             "metadata": out / "explain.json"}
    with atomic_path(files["local"]) as tmp:
        pq.write_table(pa.Table.from_pandas(local, preserve_index=False), tmp)
    atomic_write_text(files["global"], importance.to_csv(sep="\t", index=False))
    atomic_write_text(files["modalities"], mods.to_csv(sep="\t", index=False))
    save_figure(_figure(importance, top), files["figure"])
    atomic_write_text(files["metadata"], json.dumps(meta, indent=2) + "\n")
    return files


def _figure(importance: pd.DataFrame, top: int):
    plt = pyplot()
    shown = importance.dropna(subset=["mean_abs_attribution"]).head(int(top))
    mods = list(dict.fromkeys(importance["modality"]))
    colours = {m: plt.get_cmap("tab10")(k % 10) for k, m in enumerate(mods)}
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.28 * max(len(shown), 1)))
    y = np.arange(len(shown))
    ax.barh(y, shown["mean_abs_attribution"], color=[colours[m] for m in shown["modality"]])
    ax.set_yticks(y)
    ax.set_yticklabels([(f"{m}:{f}" if len(f) <= 40 else f"{m}:{f[:39]}…")
                        for m, f in zip(shown["modality"], shown["feature"], strict=True)],
                       fontsize=8)
    ax.invert_yaxis()  # rank 1 at the top
    ax.set_xlabel("mean |attribution| (Integrated Gradients of the contrastive loss)")
    ax.set_title(f"Top {len(shown)} of {len(importance)} genetic features")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colours[m], label=m) for m in mods], title="modality",
              loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
