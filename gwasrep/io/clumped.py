"""PLINK 1.9's ``.clumped`` text layout (data_specs/clumps.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from gwasrep.io.atomic import atomic_write_text

__all__ = ["CLUMPED_COLUMNS", "write_clumped"]

CLUMPED_COLUMNS = ["CHR", "F", "SNP", "BP", "P", "TOTAL", "NSIG", "S05", "S01", "S001", "S0001",
                   "SP2"]


def write_clumped(clumps: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the clumps in PLINK's whitespace-aligned ``.clumped`` layout (atomically)."""
    t = clumps
    lines = [" ".join(f"{c:>10}" for c in CLUMPED_COLUMNS)]
    for r in t.itertuples(index=False):
        lines.append(f"{r.CHR!s:>10} {r.F:>10} {r.SNP!s:>10} {r.BP:>10} {r.P:>10.3g} "
                     f"{r.TOTAL:>10} {r.NSIG:>10} {r.S05:>10} {r.S01:>10} {r.S001:>10} "
                     f"{r.S0001:>10} {r.SP2}")
    atomic_write_text(path, "\n".join(lines) + "\n\n")
    return Path(path)
