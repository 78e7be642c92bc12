"""A few columns of a table, read by pyarrow alone when its layout allows.

:func:`gwasrep.io.tables.read_table` (pandas) reads every layout gwasrep accepts, and builds
a DataFrame of every column. :func:`read_columns` reads only the columns asked for, by
pyarrow's readers, and covers the layouts
gwasrep and PLINK write, Parquet, CSV (``.csv``) and tab-separated text, uncompressed,
and returns None whenever the file needs pandas: whitespace-aligned or compressed text, a
header with repeated names, a column missing, or a value its type cannot hold. Callers then
fall back to ``read_table``, which keeps its own messages for bad files. (pandas is still
imported: pyarrow imports it on its first array conversion whenever it is installed.)

Text columns are read as pandas reads them: the same strings are missing (pandas' default
NA strings), a leading ``#`` is dropped from column names, and surrounding spaces of names
are stripped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["NA_STRINGS", "duplicated_values", "read_columns"]

#: pandas' default missing-value strings (``pandas._libs.parsers.STR_NA_VALUES``) plus the
#: ones gwasrep's readers add.
NA_STRINGS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst", ".tar")


def duplicated_values(values: pa.Array | pa.ChunkedArray) -> list:
    """The distinct values that occur more than once, in order of first appearance (empty
    when each occurs once; counted only then)."""
    import pyarrow.compute as pc

    if pc.count_distinct(values).as_py() == len(values):
        return []
    counts = pc.value_counts(values)
    return counts.field("values").filter(pc.greater(counts.field("counts"), 1)).to_pylist()


def _clean(name: str) -> str:
    return str(name).strip().lstrip("#")


def read_columns(path: str | os.PathLike, columns: dict[str, str]) -> dict[str, pa.Array] | None:
    """The named columns, or None when pandas must read the file.

    Parameters
    ----------
    columns : dict
        Column name (after the cleaning above) -> ``"string"`` (text, no missing values
        allowed) or ``"number"`` (integers or floats, missing values allowed; anything
        else, booleans included, returns None).

    Returns
    -------
    dict of name -> pyarrow Array (one chunk), or None.
    """
    import pyarrow as pa

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _COMPRESSED:
        return None
    try:
        if suffix in (".parquet", ".pq"):
            out = _parquet(path, columns)
        else:
            out = _text(path, columns, "," if suffix == ".csv" else "\t")
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError):
        return None
    if out is None:
        return None
    for name, kind in columns.items():
        col = out[name]
        if kind == "string":
            if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) \
                    or col.null_count:
                return None
        elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
                  or pa.types.is_null(col.type)):
            return None
    return out


def _parquet(path: Path, columns: dict[str, str]) -> dict | None:
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    actual = _match(names, columns)
    if actual is None:
        return None
    table = pq.read_table(path, columns=list(actual.values()))
    return {want: table.column(have).combine_chunks() for want, have in actual.items()}


def _text(path: Path, columns: dict[str, str], delimiter: str) -> dict | None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, "rb") as fh:
        header = fh.readline().decode("utf-8").rstrip("\r\n")
    if delimiter == "\t" and "\t" not in header:
        return None                      # whitespace-aligned: pandas splits on runs
    names = header.split(delimiter)
    actual = _match(names, columns)
    if actual is None:
        return None
    types = {have: pa.string() for want, have in actual.items() if columns[want] == "string"}
    table = pcsv.read_csv(
        path,
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=False),
        convert_options=pcsv.ConvertOptions(include_columns=list(actual.values()),
                                            column_types=types, null_values=NA_STRINGS,
                                            strings_can_be_null=True))
    return {want: table.column(have).combine_chunks() for want, have in actual.items()}


def _match(names: list[str], columns: dict[str, str]) -> dict[str, str] | None:
    """Wanted name -> the file's name, or None (a name twice, or a wanted one missing)."""
    clean = [_clean(n) for n in names]
    if len(set(clean)) != len(clean):
        return None
    by_clean = dict(zip(clean, names, strict=True))
    if any(c not in by_clean for c in columns):
        return None
    return {c: by_clean[c] for c in columns}
