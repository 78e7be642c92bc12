"""PyTorch trait generators: GEMCONT, its PRS baseline, SimCLR, VAE, autoencoder and
supervised models; needs the torch extra (the association engine never imports this).

Modules, from the data to the run:

- ``data``: image manifests and stacks, panel genotypes aligned to A1, splits, channel
  statistics;
- ``imageops``: batched augmentations in plain torch (rotation, random resized crop,
  Gaussian blur, colour jitter, random erasing, flip) and the channel normalization;
- ``encoders``: SmallCNN, ResNet-18/50, a frozen user backbone with attention pooling,
  linear (effect-size initialized) and MLP genotype encoders, the image decoder;
- ``losses`` and ``augment``: CLIP with a learnable temperature, NT-Xent, SCARF;
- ``methods/``: the registry, one module per method (model, loss and what it needs);
- ``config``: :class:`~gwasrep.models.config.TrainConfig` and the profiles;
- ``train``: the deterministic, resumable training loop and its run directory;
- ``embed``: embeddings of a trained run;
- ``run``: the runners of ``gwasrep train`` and ``gwasrep embed``.

ContIG, GIM and MRM are not built yet; each will be one module in ``methods/``.
"""
