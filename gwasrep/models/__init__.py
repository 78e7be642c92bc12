"""PyTorch trait generators: GEMCONT, its PRS baseline, SimCLR, VAE, autoencoder and
supervised models; needs the torch extra (the association engine never imports this).

Modules, from the data to the run:

- ``data``: image manifests and stacks, panel genotypes aligned to A1, splits;
- ``imageops``: batched augmentations in plain torch (rotation, random resized crop,
  Gaussian blur, colour jitter, random erasing, flip);
- ``encoders``: SmallCNN, ResNet-18/50, a frozen user backbone with attention pooling,
  linear (effect-size initialized) and MLP genotype encoders;
- ``losses`` and ``augment``: CLIP with a learnable temperature, NT-Xent, SCARF;
- ``methods``: the models and their losses;
- ``train``: the deterministic, resumable training loop and its run directory;
- ``embed``: embeddings of a trained run as a Parquet table for ``gwasrep assoc``.

ContIG, GIM and MRM are not built yet.
"""
