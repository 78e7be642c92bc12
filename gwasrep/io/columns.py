"""Column names: the one table of accepted alternatives for every column gwasrep reads.

gwasrep writes PLINK 2's names (``CHROM POS ID A1``, ``OBS_CT``); inputs from other tools
use others (``CHR BP SNP``, ``EA``/``OA``, ``N``, ...). Every reader finds its columns
through :data:`ALIASES`, so one name is accepted everywhere or nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

__all__ = ["ALIASES", "find_column", "find_columns", "normalize_columns"]

#: Canonical name -> accepted names, in order of preference (the first present wins).
ALIASES: dict[str, list[str]] = {
    "ID": ["ID", "SNP", "RSID", "rsid", "MarkerName", "variant_id"],
    "CHROM": ["CHROM", "#CHROM", "CHR", "chr", "chromosome"],
    "POS": ["POS", "BP", "pos", "base_pair_location"],
    "A1": ["A1", "EA", "EFFECT_ALLELE", "effect_allele", "Allele1", "ALT"],
    "A2": ["A2", "OA", "OTHER_ALLELE", "other_allele", "Allele2", "NEA"],
    "BETA": ["BETA", "beta", "Effect", "EFFECT"],
    "SE": ["SE", "se", "StdErr", "STDERR"],
    "P": ["P", "p", "PVAL", "P-value", "pval"],
    "N": ["N", "OBS_CT", "n", "TotalSampleSize"],
    "EAF": ["EAF", "A1_FREQ", "FRQ", "Freq1", "effect_allele_frequency"],
}


def find_column(columns: Iterable[str], key: str, explicit: str | None = None) -> str | None:
    """The column that holds ``key`` (``explicit`` if given), or None if absent."""
    cols = list(columns)
    names = [explicit] if explicit else ALIASES[key]
    return next((n for n in names if n in cols), None)


def find_columns(columns: Iterable[str], keys: Iterable[str] | None = None, *,
                 explicit: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Canonical name -> the column holding it, for every key of ``keys`` that is present."""
    cols = list(columns)
    explicit = explicit or {}
    out = {}
    for key in keys if keys is not None else ALIASES:
        hit = find_column(cols, key, explicit.get(key))
        if hit is not None:
            out[key] = hit
    return out


def normalize_columns(frame: pd.DataFrame, keys: Iterable[str] = ("ID", "CHROM", "POS")
                      ) -> pd.DataFrame:
    """Rename alternative names of ``keys`` to the canonical ones (where those are absent)."""
    ren = {v: k for k, v in find_columns(frame.columns, keys).items() if v != k}
    return frame.rename(columns=ren) if ren else frame
