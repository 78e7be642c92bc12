"""PLINK 1.9's ``.clumped`` text layout (data_specs/clumps.md)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gwasrep.io.atomic import atomic_write_text

__all__ = ["CLUMPED_COLUMNS", "write_clumped"]

CLUMPED_COLUMNS = ["CHR", "F", "SNP", "BP", "P", "TOTAL", "NSIG", "S05", "S01", "S001", "S0001",
                   "SP2"]


def write_clumped(clumps, path: str | os.PathLike) -> Path:
    """Write the clumps (a DataFrame, or a dict of columns) in PLINK's whitespace-aligned
    ``.clumped`` layout (atomically)."""
    cols = [np.asarray(clumps[c]).tolist() for c in CLUMPED_COLUMNS]
    lines = [" ".join(f"{c:>10}" for c in CLUMPED_COLUMNS)]
    for chrom, f, snp, bp, p, total, nsig, s05, s01, s001, s0001, sp2 in zip(*cols, strict=True):
        lines.append(f"{chrom!s:>10} {f:>10} {snp!s:>10} {bp:>10} {p:>10.3g} "
                     f"{total:>10} {nsig:>10} {s05:>10} {s01:>10} {s001:>10} "
                     f"{s0001:>10} {sp2}")
    atomic_write_text(path, "\n".join(lines) + "\n\n")
    return Path(path)
