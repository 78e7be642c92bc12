"""Embeddings, covariates, sample and variant lists: reading and validation.

Formats are specified column by column in ``data_specs/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview
from gwasrep.io.columns import ALIASES, find_column

__all__ = [
    "ID_COLUMNS",
    "Covariates",
    "Embeddings",
    "SampleKeys",
    "read_covariates",
    "read_embeddings",
    "read_id_list",
    "read_table",
    "read_variant_ids",
    "read_variant_list",
]

META_PREFIX = "meta_"
#: Columns read as text from CSV/TSV files, so that IDs such as ``007`` keep their form.
ID_COLUMNS = ("sample_id", "FID", "IID", *ALIASES["ID"])


def _delimiter(path: Path) -> str:
    """Tab if the header line has a tab (so that empty cells stay empty cells: whitespace
    splitting would shift the rest of the row left), else any run of whitespace."""
    # pandas' own decompression (gz, bz2, xz, zip, zst by suffix), one line, unsplit.
    header = pd.read_csv(path, header=None, nrows=1, sep="\x01", dtype=str,
                         compression="infer", skip_blank_lines=False)
    return "\t" if not header.empty and "\t" in str(header.iloc[0, 0]) else r"\s+"


def read_table(path: str | os.PathLike, *, str_columns=ID_COLUMNS) -> pd.DataFrame:
    """Read a Parquet, CSV (``.csv``) or whitespace/tab-delimited table with a header.

    The columns named in ``str_columns`` are read as text from CSV/TSV files; a leading
    ``#`` is stripped from column names (``#CHROM`` -> ``CHROM``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    dtype = {c: str for c in str_columns}
    dtype.update({"#" + c: str for c in str_columns})
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            df = pd.read_csv(path, sep=",", na_values=["NA", "nan", "NaN", ""], dtype=dtype)
        else:
            # index_col=False: a row with a trailing tab must not turn the first column
            # into the index (which shifts every column left by one).
            df = pd.read_csv(path, sep=_delimiter(path), na_values=["NA", "nan", "NaN", ""],
                             dtype=dtype, index_col=False)
    except Exception as exc:  # parse errors of every reader end here with the file named
        raise InputError(f"{path}: could not read table: {str(exc).splitlines()[0]}") from None
    df.columns = [str(c).strip().lstrip("#") for c in df.columns]
    return df


@dataclass
class SampleKeys:
    """Sample identifiers of a table: either IIDs (``sample_id``) or FID/IID pairs."""

    #: ``sample_id`` values, or ``FID<TAB>IID``.
    keys: np.ndarray
    #: True if keys are FID/IID pairs.
    paired: bool


def _sample_keys(df: pd.DataFrame, path: Path, what: str) -> tuple[SampleKeys, list[str]]:
    if "sample_id" in df.columns:
        keys, idcols, paired = df["sample_id"].astype(str).to_numpy(), ["sample_id"], False
    elif "IID" in df.columns and "FID" in df.columns:
        keys = (df["FID"].astype(str) + "\t" + df["IID"].astype(str)).to_numpy()
        idcols, paired = ["FID", "IID"], True
    else:
        raise InputError(f"{path}: {what} need a 'sample_id' column or 'FID' and 'IID' columns; "
                         f"found columns {preview(df.columns, 8)}")
    empty = df[idcols].isna().any(axis=1).to_numpy()
    if empty.any():
        raise InputError(f"{path}: {int(empty.sum()):,} rows without a sample ID (first: row "
                         f"{int(np.flatnonzero(empty)[0]) + 1:,}); expected an ID in every row")
    dup = pd.Series(keys)[pd.Series(keys).duplicated()].unique()
    if len(dup):
        raise InputError(f"{path}: {len(dup):,} duplicated sample IDs in the {what}, e.g. "
                         f"{preview(str(k).replace(chr(9), ' ') for k in dup)}")
    return SampleKeys(keys=keys, paired=paired), idcols


@dataclass
class Embeddings:
    """Embedding matrix read from a table."""

    keys: SampleKeys
    #: shape (n_rows, n_columns), float64; may hold NaN/inf (checked later).
    values: np.ndarray
    #: Embedding column names.
    columns: list[str]
    #: Metadata columns that were set aside.
    metadata_columns: list[str]


def read_embeddings(path: str | os.PathLike, *, meta_cols: list[str] | None = None) -> Embeddings:
    """Read embeddings: ID columns, numeric embedding columns, optional metadata.

    Columns named ``meta_*``, or listed in ``meta_cols``, are metadata and ignored.
    Every other non-ID column must be numeric.
    """
    path = Path(path)
    df = read_table(path)
    keys, idcols = _sample_keys(df, path, "embeddings")
    meta = [c for c in df.columns if c.startswith(META_PREFIX) or c in (meta_cols or [])]
    unknown = sorted(set(meta_cols or []) - set(df.columns))
    if unknown:
        raise InputError(f"{path}: metadata columns {', '.join(unknown)} not found")
    cols = [c for c in df.columns if c not in idcols and c not in meta]
    if not cols:
        raise InputError(f"{path}: no embedding columns besides IDs and metadata; "
                         f"found {preview(df.columns, 8)}")
    for c in cols:
        if not (pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])):
            raise InputError(f"{path}: embedding column '{c}' is not numeric (dtype {df[c].dtype}, "
                             f"e.g. {preview(df[c].head(3))}); name metadata columns meta_* or "
                             "pass --meta-cols")
    values = df[cols].to_numpy(dtype=np.float64)
    return Embeddings(keys=keys, values=values, columns=cols, metadata_columns=meta)


@dataclass
class Covariates:
    """Covariate matrix with categorical columns one-hot encoded."""

    keys: SampleKeys
    #: shape (n_rows, n_encoded), float64; NaN marks a missing value.
    values: np.ndarray
    #: Encoded column names (``col=level`` for one-hot columns).
    columns: list[str]
    #: One line per categorical column that was encoded.
    notes: list[str]


def read_covariates(path: str | os.PathLike, *, columns: list[str] | None = None) -> Covariates:
    """Read covariates; non-numeric columns are one-hot encoded (first level as reference)."""
    path = Path(path)
    df = read_table(path)
    keys, idcols = _sample_keys(df, path, "covariates")
    cols = columns or [c for c in df.columns if c not in idcols]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{path}: covariate columns {', '.join(missing)} not found; "
                         f"found {preview(df.columns, 8)}")
    parts, names, notes = [], [], []
    for c in cols:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            parts.append(s.to_numpy(dtype=np.float64)[:, None])
            names.append(c)
            continue
        isna = s.isna().to_numpy()
        as_number = pd.to_numeric(s, errors="coerce")
        text = (as_number.isna() & s.notna()).to_numpy()
        if not text.any():  # numbers stored as text (or all missing)
            parts.append(as_number.to_numpy(dtype=np.float64)[:, None])
            names.append(c)
            continue
        if as_number.notna().sum() >= text.sum():  # mostly numbers: the text is a mistake
            i = int(np.flatnonzero(text)[0])
            more = "" if text.sum() == 1 else f", and {text.sum() - 1:,} more"
            raise InputError(f"{path}: covariate {c}: non-numeric value {s.iloc[i]!r} (row "
                             f"{i + 1:,}{more}) in a column of numbers; expected numbers, or "
                             "NA for missing")
        levels = sorted(s.dropna().astype(str).unique())
        if len(levels) > 10 and len(levels) > (~isna).sum() / 2:
            raise InputError(f"{path}: covariate {c}: {len(levels):,} distinct text values among "
                             f"{int((~isna).sum()):,} samples (e.g. {preview(levels, 3)}); "
                             "expected numbers, or a categorical covariate with few levels")
        block = np.zeros((len(s), max(len(levels) - 1, 0)))
        for k, lev in enumerate(levels[1:]):
            block[:, k] = (s.astype(str) == lev).to_numpy()
        block[isna] = np.nan
        parts.append(block)
        names += [f"{c}={lev}" for lev in levels[1:]]
        notes.append(f"covariate '{c}' is categorical with {len(levels)} levels: one-hot encoded "
                     f"as {len(levels) - 1} columns (reference level '{levels[0]}')")
    values = np.hstack(parts) if parts else np.zeros((len(df), 0))
    return Covariates(keys=keys, values=values, columns=names, notes=notes)


def read_id_list(path: str | os.PathLike) -> SampleKeys:
    """A PLINK-style sample list: ``FID IID`` per line, or one IID per line; no header."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    widths = {len(r) for r in rows}
    if not rows:
        return SampleKeys(keys=np.array([], dtype=str), paired=False)
    if widths == {1}:
        return SampleKeys(keys=np.array([r[0] for r in rows]), paired=False)
    if min(widths) >= 2:
        return SampleKeys(keys=np.array([f"{r[0]}\t{r[1]}" for r in rows]), paired=True)
    raise InputError(f"{path}: expected one IID or 'FID IID' per line; found lines with "
                     f"{sorted(widths)} fields")


def read_variant_list(path: str | os.PathLike) -> set[str]:
    """Variant IDs, one per line (first whitespace-separated field)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return {ln.split()[0] for ln in path.read_text().splitlines() if ln.strip()}


def read_variant_ids(path: str | os.PathLike) -> set[str]:
    """Variant IDs from a table with an ID column (a gwasrep panel, sumstats: Parquet, TSV,
    CSV) or from a plain list, one ID per line."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq", ".tsv", ".csv"):
        df = read_table(path)
        col = find_column(df.columns, "ID")
        if col is None:
            raise InputError(f"{path}: expected an ID (or SNP) column; found "
                             f"{preview(df.columns, 10)}")
        return set(df[col].astype(str))
    return read_variant_list(path)
