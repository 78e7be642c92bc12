"""LD scores in LDSC's own file format (data_specs/ldscore.md).

``PREFIX.l2.ldscore.gz`` (CHR SNP BP L2, tab-separated), ``PREFIX.l2.M`` (the number of
variants) and ``PREFIX.l2.M_5_50`` (those with MAF > 0.05).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview
from gwasrep.io.atomic import atomic_path, atomic_write_text
from gwasrep.io.checks import check_column

__all__ = ["LDScores", "ld_score_paths", "read_ld_scores", "write_ld_scores"]


@dataclass
class LDScores:
    """LD scores and the variant counts that go with them."""

    #: CHR, SNP, BP, L2 in genome order (and MAF when computed here).
    table: pd.DataFrame
    M: float
    M_5_50: float
    #: Variants left out when computed here (no variance among their calls).
    excluded: int = 0


def ld_score_paths(prefix: str | os.PathLike) -> dict[str, Path]:
    """The three files of an LD score prefix."""
    p = str(prefix)
    return {"ldscore": Path(p + ".l2.ldscore.gz"), "M": Path(p + ".l2.M"),
            "M_5_50": Path(p + ".l2.M_5_50")}


def write_ld_scores(scores: LDScores, prefix: str | os.PathLike) -> dict[str, Path]:
    """Write ``PREFIX.l2.ldscore.gz``, ``PREFIX.l2.M`` and ``PREFIX.l2.M_5_50`` atomically."""
    paths = ld_score_paths(prefix)
    with atomic_path(paths["ldscore"]) as tmp:
        with gzip.open(tmp, "wt", compresslevel=6) as fh:
            scores.table[["CHR", "SNP", "BP", "L2"]].to_csv(fh, sep="\t", index=False,
                                                            float_format="%.6f")
    atomic_write_text(paths["M"], f"{int(scores.M)}\n")
    atomic_write_text(paths["M_5_50"], f"{int(scores.M_5_50)}\n")
    return paths


def read_ld_scores(prefix: str | os.PathLike) -> LDScores:
    """Read LDSC-format LD scores (``PREFIX.l2.ldscore[.gz]`` and its M files).

    Rows are sorted by (CHR, BP) and duplicated SNPs dropped, as ldsc does.
    """
    p = str(prefix)
    path = next((Path(p + s) for s in (".l2.ldscore.gz", ".l2.ldscore.bz2", ".l2.ldscore")
                 if Path(p + s).exists()), None)
    if path is None:
        raise InputError(f"LD scores {p}.l2.ldscore.gz not found")
    try:
        t = pd.read_csv(path, sep=r"\s+", dtype={"SNP": str})
    except Exception as exc:  # gzip, bz2, decoding and parser errors
        raise InputError(f"{path}: could not read LD scores (expected LDSC's tab-separated "
                         f"CHR SNP BP L2, gzip-compressed for .gz): "
                         f"{(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    need = [c for c in ("CHR", "SNP", "BP", "L2") if c not in t.columns]
    if need:
        raise InputError(f"{path}: missing column{'s' if len(need) > 1 else ''} "
                         f"{', '.join(need)}; found {preview(list(t.columns), 12)}")
    t["SNP"] = t["SNP"].astype(str)
    for col in ("BP", "L2"):
        t[col] = check_column(t[col], source=str(path), column=col, ids=t["SNP"].to_numpy(),
                              required="a value")
    t = t.sort_values(["CHR", "BP"], kind="mergesort").drop_duplicates("SNP")

    def read_m(suffix):
        f = Path(p + suffix)
        if not f.exists():
            return np.nan
        words = f.read_text(errors="replace").split()
        try:
            m = float(words[0]) if words else np.nan
        except ValueError:
            m = np.nan
        if not (np.isfinite(m) and m > 0):
            raise InputError(f"{f}: expected the number of variants (a positive number); "
                             f"found {' '.join(words)[:40]!r}")
        return m

    return LDScores(table=t.reset_index(drop=True), M=read_m(".l2.M"),
                    M_5_50=read_m(".l2.M_5_50"))
