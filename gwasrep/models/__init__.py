"""PyTorch trait generators (GEMCONT, ContIG, GIM, MRM and baselines); needs the torch extra.

Built so far (issue 6, first part): the contrastive losses (``losses``: CLIP with a
learnable temperature, NT-Xent) and SCARF genotype corruption (``augment``). The
encoders, data loading, training loop and ``gwasrep train``/``embed`` are not built yet.
"""
