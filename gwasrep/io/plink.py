"""PLINK 1 binary filesets (.bed/.bim/.fam): validation, metadata and block reads.

Reads are by blocks of variants, never the whole matrix. The .bed is memory
mapped, so a worker that reads one block touches only that block's bytes.

The .bim and .fam are read with pyarrow's CSV reader into Arrow tables when they are
tab- or single-space-delimited (what PLINK writes), else with pandas' whitespace parser
(any run of spaces and tabs); both give the same columns. ``PlinkFileset.bim`` and
``.fam`` are pandas DataFrames built on first use, so a command that needs only IDs and
positions (``clump``) never builds them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gwasrep.aot import kernel
from gwasrep.errors import InputError, preview
from gwasrep.io._bed_codes import BYTE_DOSAGES
from gwasrep.io.fast_tables import duplicated_values

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

#: Blocks of at most this many calls are decoded with numpy (a byte lookup table);
#: larger ones with the numba kernel (with numba's JIT, its one-off load, ~0.3 s, then
#: pays off).
NUMPY_DECODE_MAX = 1 << 22

__all__ = ["PlinkFileset", "center_dense", "decode_dosages", "encode_bed", "open_plink",
           "read_dosages", "read_packed", "read_packed_span", "write_plink"]

#: The .bed kernels of :mod:`gwasrep.io._bed_kernels`, compiled ahead of time (gwasrep.aot).
decode_dosages = kernel("gwasrep.io._bed_kernels", "decode_dosages")
center_dense = kernel("gwasrep.io._bed_kernels", "center_dense")
encode_bed = kernel("gwasrep.io._bed_kernels", "encode_bed")

BED_MAGIC = bytes([0x6C, 0x1B, 0x01])
BIM_COLUMNS = ["CHROM", "ID", "CM", "POS", "A1", "A2"]
FAM_COLUMNS = ["FID", "IID", "PAT", "MAT", "SEX", "PHENO"]


@dataclass(frozen=True)
class PlinkFileset:
    """A validated PLINK 1 fileset.

    Attributes
    ----------
    bed_path : Path
        The .bed file (SNP-major).
    bim_table, fam_table : pyarrow.Table
        The .bim (CHROM, ID, CM, POS, A1, A2) and .fam (FID, IID, PAT, MAT, SEX, PHENO)
        columns; text columns are strings, CM float64, POS int64.
    """

    bed_path: Path
    bim_table: pa.Table
    fam_table: pa.Table

    @cached_property
    def bim(self) -> pd.DataFrame:
        """Columns CHROM (str), ID (str), CM (float), POS (int64), A1 (str, the counted
        allele, PLINK 2's ALT), A2 (str, PLINK 2's REF); one row per variant in file order."""
        return _frame(self.bim_table)

    @cached_property
    def fam(self) -> pd.DataFrame:
        """Columns FID, IID, PAT, MAT, SEX, PHENO (all str); one row per sample."""
        return _frame(self.fam_table)

    def bim_column(self, name: str) -> np.ndarray:
        """One .bim column as a numpy array (POS int64, CM float64, text as objects)."""
        return self.bim_table.column(name).to_numpy()

    @property
    def n_samples(self) -> int:
        return self.fam_table.num_rows

    @property
    def n_variants(self) -> int:
        return self.bim_table.num_rows

    @property
    def bytes_per_variant(self) -> int:
        return (self.n_samples + 3) // 4


def _frame(table: pa.Table) -> pd.DataFrame:
    import pandas  # noqa: F401  (to_pandas needs it)

    return table.to_pandas()


def _prefix(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix in (".bed", ".bim", ".fam"):
        return p.with_suffix("")
    return p


def read_bim(path: Path) -> pd.DataFrame:
    """The .bim with pandas' whitespace parser (any run of spaces and tabs)."""
    import pandas as pd

    try:
        bim = pd.read_csv(
            path, sep=r"\s+", header=None, usecols=range(6), names=BIM_COLUMNS,
            dtype={"CHROM": str, "ID": str, "CM": float, "POS": np.int64, "A1": str, "A2": str},
            keep_default_na=False,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: expected 6 whitespace-separated .bim columns "
                         f"(CHROM ID CM POS A1 A2); could not parse: {exc}") from None
    _check_complete(bim, path, ".bim columns (CHROM ID CM POS A1 A2)")
    return bim


def _check_complete(frame: pd.DataFrame, path: Path, what: str) -> None:
    """A line with fewer fields leaves empty text cells: one error naming its line."""
    short = np.zeros(len(frame), dtype=bool)
    for name in frame.columns:
        if frame[name].dtype.kind not in "fiu":
            short |= (frame[name] == "").to_numpy()
    if short.any():
        raise InputError(f"{path}: expected 6 whitespace-separated {what} on every line; "
                         f"line {int(np.flatnonzero(short)[0]) + 1:,} (not counting blank "
                         "lines) has fewer")


def read_fam(path: Path) -> pd.DataFrame:
    """The .fam with pandas' whitespace parser (any run of spaces and tabs)."""
    import pandas as pd

    try:
        fam = pd.read_csv(path, sep=r"\s+", header=None, usecols=range(6), names=FAM_COLUMNS,
                          dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: expected at least 6 whitespace-separated .fam columns "
                         f"(FID IID PAT MAT SEX PHENO); could not parse: {exc}") from None
    _check_complete(fam, path, ".fam columns (FID IID PAT MAT SEX PHENO)")
    return fam


def _arrow_table(path: Path, names: list[str], numeric: dict) -> pa.Table | None:
    """``path`` read by pyarrow's CSV reader when every field is separated by exactly one
    tab, or by exactly one space, with ``len(names)`` fields per line; None otherwise, so
    that pandas' whitespace parser reads it (any run of blanks; quotes removed)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    data = path.read_bytes()
    first = data[:data.find(b"\n") + 1 or len(data)]
    delim = b"\t" if b"\t" in first else b" "
    # The other blank anywhere, or a quote, is for pandas: whitespace inside a field, or
    # quoted fields, would be read differently.
    if (b" " if delim == b"\t" else b"\t") in data or b'"' in data:
        return None
    types = {n: numeric.get(n, pa.string()) for n in names}
    try:
        table = pcsv.read_csv(
            pa.BufferReader(data), read_options=pcsv.ReadOptions(column_names=names),
            parse_options=pcsv.ParseOptions(delimiter=delim.decode(), quote_char=False,
                                            double_quote=False, newlines_in_values=False),
            convert_options=pcsv.ConvertOptions(column_types=types, null_values=[],
                                                strings_can_be_null=False,
                                                quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return None
    # Empty fields (two delimiters in a row, a leading or trailing one) are what the
    # whitespace parser would merge: leave those files to it.
    for name in names:
        col = table.column(name)
        if pa.types.is_string(col.type) and _any_empty(col):
            return None
    return table


def _any_empty(col) -> bool:
    import pyarrow.compute as pc

    return bool(pc.any(pc.equal(pc.utf8_length(col), 0)).as_py() or False)


def _read_columns(path: Path, names: list[str], numeric: dict, reader) -> pa.Table:
    import pyarrow as pa

    table = _arrow_table(path, names, numeric)
    if table is None:
        frame = reader(path)
        table = pa.table({n: pa.array(frame[n].to_numpy(), type=numeric.get(n, pa.string()))
                          for n in names})
    return table


def open_plink(path: str | os.PathLike) -> PlinkFileset:
    """Open and validate a PLINK 1 fileset.

    Parameters
    ----------
    path : str or PathLike
        The prefix (``cohort`` for ``cohort.bed/.bim/.fam``) or any of the three files.

    Raises
    ------
    InputError
        If a file is missing, the .bed magic bytes are wrong (not SNP-major
        PLINK 1), or the .bed size does not match the .bim and .fam.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    prefix = _prefix(path)
    files = {ext: prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam")}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise InputError(f"PLINK fileset '{prefix}': expected .bed, .bim and .fam; "
                         f"missing {', '.join(missing)}")
    bim = _read_columns(files[".bim"], BIM_COLUMNS, {"CM": pa.float64(), "POS": pa.int64()},
                        read_bim)
    fam = _read_columns(files[".fam"], FAM_COLUMNS, {}, read_fam)
    bed = files[".bed"]
    with open(bed, "rb") as fh:
        magic = fh.read(3)
    if magic != BED_MAGIC:
        raise InputError(f"{bed}: expected the SNP-major PLINK 1 magic bytes 6c 1b 01, "
                         f"found {magic.hex(' ') or 'an empty file'}")
    n_var, n_fam = bim.num_rows, fam.num_rows
    expected = 3 + n_var * ((n_fam + 3) // 4)
    size = bed.stat().st_size
    if size != expected:
        raise InputError(f"{bed}: size {size:,} bytes does not match {n_var:,} variants "
                         f"(.bim) x {n_fam:,} samples (.fam); expected {expected:,} bytes")
    dup = duplicated_values(
        pc.binary_join_element_wise(fam.column("FID"), fam.column("IID"), "\t"))
    if dup:
        raise InputError(f"{files['.fam']}: {len(dup):,} duplicated sample IDs (FID IID), "
                         f"e.g. {preview(k.split(chr(9))[1] for k in dup)}")
    return PlinkFileset(bed_path=bed, bim_table=bim, fam_table=fam)


def read_packed(bed_path: str | os.PathLike, variant_idx: np.ndarray, n_samples: int) -> np.ndarray:
    """Read the packed .bed bytes of the given variants.

    Returns
    -------
    ndarray of shape (len(variant_idx), ceil(n_samples / 4)), uint8
    """
    bpv = (n_samples + 3) // 4
    variant_idx = np.asarray(variant_idx, dtype=np.int64)
    mm = np.memmap(bed_path, dtype=np.uint8, mode="r", offset=3)
    mm = mm.reshape(-1, bpv)
    lo, hi = int(variant_idx[0]), int(variant_idx[-1]) + 1
    if hi - lo == len(variant_idx) and np.all(np.diff(variant_idx) == 1):
        out = np.array(mm[lo:hi])
    else:
        out = np.asarray(mm[variant_idx])  # a plain array, not a memmap
    del mm
    return out


def read_packed_span(bed_path: str | os.PathLike, lo: int, hi: int, n_samples: int,
                     out: np.ndarray | None = None) -> np.ndarray:
    """The packed .bed bytes of variants ``lo..hi - 1``, read with one ``readinto``.

    ``out`` (uint8, C-contiguous, at least ``hi - lo`` rows of ``ceil(n_samples / 4)``
    bytes) is filled and its first ``hi - lo`` rows returned, so a caller reading a file
    by spans reuses one buffer (no fresh pages, no memory map).
    """
    bpv = (n_samples + 3) // 4
    if out is None:
        out = np.empty((hi - lo, bpv), dtype=np.uint8)
    view = out[:hi - lo]
    if not view.flags.c_contiguous or view.shape != (hi - lo, bpv):
        raise ValueError(f"out: expected a C-contiguous uint8 buffer of at least {hi - lo} "
                         f"rows x {bpv} bytes, got {out.shape}")
    with open(bed_path, "rb") as fh:
        fh.seek(3 + lo * bpv)
        got = fh.readinto(memoryview(view).cast("B"))
    if got != view.nbytes:
        raise InputError(f"{bed_path}: truncated (variants {lo:,}..{hi - 1:,} not all present)")
    return view


def read_dosages(fileset: PlinkFileset, variant_idx=None, sample_idx=None,
                 dtype=np.float64) -> np.ndarray:
    """A1 dosages of a block of variants.

    Returns
    -------
    ndarray of shape (n_samples, n_variants), ``dtype``; NaN marks a missing call.
    """
    if variant_idx is None:
        variant_idx = np.arange(fileset.n_variants)
    if sample_idx is None:
        sample_idx = np.arange(fileset.n_samples)
    packed = read_packed(fileset.bed_path, variant_idx, fileset.n_samples)
    sample_idx = np.asarray(sample_idx, dtype=np.int64)
    if packed.size * 4 <= NUMPY_DECODE_MAX:
        full = BYTE_DOSAGES.astype(dtype, copy=False)[packed].reshape(packed.shape[0], -1)
        return np.asfortranarray(full[:, sample_idx].T)
    out = np.empty((len(sample_idx), len(variant_idx)), dtype=dtype, order="F")
    decode_dosages(packed, sample_idx, out)
    return out


def write_plink(prefix: str | os.PathLike, genotypes: np.ndarray, bim: pd.DataFrame,
                fam: pd.DataFrame, *, chunk: int = 4096) -> None:
    """Write a PLINK 1 fileset.

    Parameters
    ----------
    genotypes : ndarray of shape (n_samples, n_variants), int8
        A1 counts 0/1/2, -1 for missing.
    bim, fam : DataFrame
        With the columns of :data:`BIM_COLUMNS` and :data:`FAM_COLUMNS`.
    """
    prefix = Path(prefix)
    n, m = genotypes.shape
    assert len(bim) == m, (genotypes.shape, len(bim))
    assert len(fam) == n, (genotypes.shape, len(fam))
    bpv = (n + 3) // 4
    with open(prefix.with_name(prefix.name + ".bed"), "wb") as fh:
        fh.write(BED_MAGIC)
        for j0 in range(0, m, chunk):
            block = np.ascontiguousarray(genotypes[:, j0:j0 + chunk], dtype=np.int8)
            out = np.zeros((block.shape[1], bpv), dtype=np.uint8)
            encode_bed(block, out)
            fh.write(out.tobytes())
    bim[BIM_COLUMNS].to_csv(prefix.with_name(prefix.name + ".bim"), sep="\t", header=False,
                            index=False)
    fam[FAM_COLUMNS].to_csv(prefix.with_name(prefix.name + ".fam"), sep=" ", header=False,
                            index=False)
