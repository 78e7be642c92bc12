"""``gwasrep train`` and ``gwasrep embed``: the trait generators (needs the torch extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gwasrep.models.methods import REGISTRY
from gwasrep_cli._common import (
    Device,
    ImageIds,
    Quiet,
    cli_errors,
    csv_list,
    int_list,
    print_line,
    print_notes,
    progress_bar,
    require_torch,
)

_METHODS = ", ".join(list(REGISTRY)[:-1]) + f" or {list(REGISTRY)[-1]}"


@cli_errors
def train(
    method: Annotated[str, typer.Option(help=_METHODS)],
    images: Annotated[Path, typer.Option(help="Image manifest (.parquet/.csv: sample_id, path) or an .npz/.npy stack (data_specs/images.md)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory (data_specs/train_run.md)")],
    bed: Annotated[Path | None, typer.Option(help="PLINK 1 fileset prefix (methods with a genetic input: gemcont, prs, contig, gim, mrm)")] = None,
    panel: Annotated[Path | None, typer.Option(help="Variant panel with ID, A1, BETA (gwasrep panel; gemcont, prs)")] = None,
    split: Annotated[Path | None, typer.Option(help="Training samples (IID or FID IID per line); default: a seeded random split")] = None,
    val: Annotated[Path | None, typer.Option(help="Validation samples; default: --val-fraction of the training samples")] = None,
    val_fraction: Annotated[float, typer.Option(help="Validation fraction of a random split")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="Test fraction of a random split (without --split)")] = 0.2,
    target: Annotated[Path | None, typer.Option(help="Table with sample_id and the target column (supervised)")] = None,
    target_col: Annotated[str | None, typer.Option(help="Target column (supervised)")] = None,
    task: Annotated[str | None, typer.Option(help="Supervised task: regress or classify")] = None,
    modalities: Annotated[str | None, typer.Option(help="ContIG: comma-separated genetic modalities raw, pgs, burden (default: raw, plus pgs with --pgs-weights and burden with --burden)")] = None,
    missing: Annotated[str | None, typer.Option(help="ContIG: inner (samples with every modality) or outer (every sample; each loss over the samples that have the modality)")] = None,
    snp_every: Annotated[int | None, typer.Option(help="Keep every k-th variant of each chromosome (ContIG raw SNPs: 100; GIM, MRM: 1)")] = None,
    pgs_weights: Annotated[Path | None, typer.Option(help="ContIG: PGS weights (ID, A1, optional A2, one column per score; plink2 --score SCORE_AVG, z-scored)")] = None,
    pgs_cols: Annotated[str | None, typer.Option(help="ContIG: the score columns of --pgs-weights (default: every numeric column but CHR/POS/SE/P/N/frequencies)")] = None,
    burden: Annotated[Path | None, typer.Option(help="ContIG: variant-to-gene table (ID, GENE, optional A1 = the rare allele) for burden scores")] = None,
    min_carriers: Annotated[int, typer.Option(help="ContIG: drop genes with fewer carriers")] = 5,
    rare_maf: Annotated[float, typer.Option(help="ContIG: only variants whose rare allele has a frequency below this count in a burden")] = 0.01,
    img_weight: Annotated[float | None, typer.Option(help="ContIG: weight lambda of the image -> genetics term (0.75)")] = None,
    window: Annotated[int | None, typer.Option(help="GIM: window of the window attention (10)")] = None,
    crop_p: Annotated[float | None, typer.Option(help="GIM: probability of a random crop of the SNP sequence (0.2)")] = None,
    downsample_p: Annotated[float | None, typer.Option(help="GIM: probability of an even downsampling of the SNP sequence (0.8)")] = None,
    downsample_length: Annotated[int | None, typer.Option(help="GIM: SNPs after a crop or downsampling (default: half)")] = None,
    stages: Annotated[str | None, typer.Option(help="GIM: epochs of the three stages (frozen genetic encoder, + augmentation, co-training), summing to --epochs; default 4:2:1")] = None,
    recon_weight: Annotated[float | None, typer.Option(help="GIM: weight of the image reconstruction from its representation (1)")] = None,
    tau_image: Annotated[float | None, typer.Option(help="MRM: relation-masking ratio of attention over image tokens (image self-attention, genome -> image cross-attention; 0.75)")] = None,
    tau_genome: Annotated[float | None, typer.Option(help="MRM: relation-masking ratio of attention over genome tokens (genome self-attention, image -> genome cross-attention; 0.5)")] = None,
    snp_token: Annotated[int | None, typer.Option(help="MRM: SNPs per genome token (16)")] = None,
    match_weight: Annotated[float | None, typer.Option(help="MRM: weight of the relation matching (1)")] = None,
    image_ids: ImageIds = None,
    image_size: Annotated[int | None, typer.Option(help="Resize images to SIZE x SIZE on load")] = None,
    profile: Annotated[str, typer.Option(help="paper (GEMCONT Sec. 3.4) or quick")] = "paper",
    encoder: Annotated[str | None, typer.Option(help="cnn (28x28), resnet18, resnet50 or backbone:PATH (frozen .pt2/TorchScript); mrm: vit (scaled to the image) or vit-b")] = None,
    geno_encoder: Annotated[str | None, typer.Option(help="gemcont: linear or mlp; contig: h1, h12 or none; gim: transformer or mlp; mrm: snn")] = None,
    dim: Annotated[int | None, typer.Option(help="Embedding dimension D")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (profile)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (profile)")] = None,
    lr: Annotated[float | None, typer.Option(help="AdamW learning rate (profile)")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay (profile)")] = None,
    warmup_epochs: Annotated[int | None, typer.Option(help="Linear warm-up epochs before the cosine schedule (profile)")] = None,
    augment: Annotated[str | None, typer.Option(help="Comma-separated: rotation, crop, smallcrop, blur, jitter, erasing, flip; 'none' for no augmentation")] = None,
    scarf_p: Annotated[float | None, typer.Option(help="SCARF genotype corruption rate (profile)")] = None,
    temperature: Annotated[float | None, typer.Option(help="Initial CLIP temperature (gemcont 0.07) or NT-Xent temperature (simclr 0.2)")] = None,
    patience: Annotated[int | None, typer.Option(help="Early-stopping patience in epochs (supervised; profile)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the weights, splits and every random draw")] = 0,
    device: Device = "auto",
    workers: Annotated[int, typer.Option(help="DataLoader worker processes for decoding images")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last finished epoch")] = False,
    quiet: Quiet = False,
):
    """Train a trait generator on images (and genotypes) and save it in a run directory."""
    require_torch()
    from gwasrep.models.config import TrainConfig
    from gwasrep.models.run import run_train

    aug = None if augment is None else ([] if augment == "none" else csv_list(augment))
    cfg = TrainConfig.from_profile(
        method, profile, images=images, out=out_dir, image_ids=image_ids,
        image_size=image_size, bed=bed, panel=panel, split=split, val=val,
        val_fraction=val_fraction, test_fraction=test_fraction, target=target,
        target_col=target_col, resume=resume, encoder=encoder, geno_encoder=geno_encoder,
        dim=dim, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        warmup_epochs=warmup_epochs, augment=aug, scarf_p=scarf_p, temperature=temperature,
        task=task, patience=patience, seed=seed, device=device, workers=workers,
        modalities=None if modalities is None else csv_list(modalities), missing=missing,
        snp_every=snp_every, pgs_weights=pgs_weights,
        pgs_cols=None if pgs_cols is None else csv_list(pgs_cols), burden=burden,
        min_carriers=min_carriers, rare_maf=rare_maf, img_weight=img_weight, window=window,
        crop_p=crop_p, downsample_p=downsample_p, downsample_length=downsample_length,
        stages=None if stages is None else int_list(stages, "--stages"),
        recon_weight=recon_weight, tau_image=tau_image, tau_genome=tau_genome,
        snp_token=snp_token, match_weight=match_weight)
    with progress_bar(quiet) as progress:
        res = run_train(cfg, progress=progress)
    if not quiet:
        last = res.metrics[-1] if res.metrics else None
        if last:
            print_line(f"{res.config.method}: {res.epochs_run} epochs, final train loss "
                       f"{last['train_loss']:.4f}, val loss {last['val_loss']:.4f} -> "
                       f"{res.run_dir}/")
        print_notes(res)


@cli_errors
def embed(
    run: Annotated[Path, typer.Option(help="Run directory of gwasrep train")],
    images: Annotated[Path, typer.Option(help="Image manifest or .npz/.npy stack")],
    out_path: Annotated[Path, typer.Option("--out", help="Embeddings Parquet (data_specs/embeddings.md)")],
    samples: Annotated[Path | None, typer.Option(help="Embed only these samples (e.g. RUN/test.txt)")] = None,
    representation: Annotated[str, typer.Option(help="projection (the trained embedding) or backbone (features before the projector, as ContIG's GWAS)")] = "projection",
    image_ids: ImageIds = None,
    image_size: Annotated[int | None, typer.Option(help="Resize images on load (as in training)")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass")] = 256,
    device: Device = "auto",
    quiet: Quiet = False,
):
    """Write embeddings of a trained run, one row per sample (images of a sample are averaged)."""
    require_torch()
    from gwasrep.models.run import EmbedConfig, run_embed

    cfg = EmbedConfig(run=run, images=images, out=out_path, samples=samples,
                      representation=representation, image_ids=image_ids,
                      image_size=image_size, batch_size=batch_size, device=device)
    with progress_bar(quiet) as progress:
        res = run_embed(cfg, progress=progress)
    if not quiet:
        print_line(f"{len(res.table):,} samples x {res.table.shape[1] - 2} dimensions "
                   f"({representation}) -> {out_path}")
        print_notes(res)
