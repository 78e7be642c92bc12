"""Genotype augmentation: SCARF corruption (GEMCONT; Bahri et al. 2022).

Each entry is corrupted with probability ``p``; a corrupted entry takes the value of
the same feature in another sample of the batch, drawn uniformly (the empirical
marginal of the batch, not noise).
"""

from __future__ import annotations

import torch

from gwasrep.errors import InputError

__all__ = ["scarf_corrupt"]


def scarf_corrupt(x: torch.Tensor, p: float = 0.1, generator: torch.Generator | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupted copy of ``x`` (B, M) and the boolean mask of corrupted entries.

    A corrupted entry (i, j) becomes ``x[r, j]`` with r drawn uniformly from the other
    B - 1 samples (so a corrupted entry can keep its value only when another sample
    shares it).
    """
    if not 0 <= p <= 1:
        raise InputError(f"SCARF corruption rate: expected p in [0, 1]; found {p}")
    b, m = x.shape
    if b < 2:
        raise InputError(f"SCARF needs at least 2 samples in a batch; found {b}")
    # Random draws on the generator's device (the CPU), so a seed gives the same
    # corruption whatever device the batch is on.
    mask = (torch.rand((b, m), generator=generator) < p).to(x.device)
    # Another sample: i + offset (mod B), offset uniform in 1..B-1.
    offset = torch.randint(1, b, (b, m), generator=generator)
    donor = ((torch.arange(b)[:, None] + offset) % b).to(x.device)
    replaced = torch.gather(x, 0, donor)
    return torch.where(mask, replaced, x), mask
