"""Read a table of related pairs with their kinship (data_specs/relatives.md).

Accepted: plink2 ``--make-king-table`` (``.kin0``: ``#FID1 IID1 FID2 IID2 NSNP HETHET IBS0
KINSHIP``, or ``#IID1 IID2 ...``), KING's ``.kin0``/``.kin`` (``FID1 ID1 FID2 ID2 ...
Kinship``; ``FID ID1 ID2 ... Kinship``) and UK Biobank's relatedness file (``ID1 ID2
HetHet IBS0 Kinship``): whitespace-separated, one header line, column names in any case.
Samples are matched by IID, as everywhere in gwasrep.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.errors import InputError
from gwasrep.io.checks import numeric_column

__all__ = ["read_kinship_table"]

_ID1 = ("IID1", "ID1")
_ID2 = ("IID2", "ID2")


def read_kinship_table(path: str | os.PathLike, *, option: str = "--relatives") -> pd.DataFrame:
    """Columns ``IID1``, ``IID2`` (str) and ``KINSHIP`` (float64), one row per listed pair."""
    path = Path(path)
    source = f"{option} {path}"
    if not path.is_file():
        raise InputError(f"{source}: file not found")
    try:
        frame = pd.read_csv(path, sep=r"\s+", dtype=str, comment=None)
    except pd.errors.EmptyDataError:
        raise InputError(f"{source}: the file is empty; expected a header line and one row "
                         "per related pair") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(f"{source}: not a whitespace-separated table ({e})") from None
    cols = {c.lstrip("#").upper(): c for c in frame.columns}
    id1 = next((cols[k] for k in _ID1 if k in cols), None)
    id2 = next((cols[k] for k in _ID2 if k in cols), None)
    kin = cols.get("KINSHIP")
    if id1 is None or id2 is None or kin is None:
        raise InputError(f"{source}: expected columns IID1 (or ID1), IID2 (or ID2) and "
                         f"KINSHIP, as plink2 --make-king-table writes; found "
                         f"{', '.join(map(str, frame.columns))}")
    values = numeric_column(frame[kin], source=source, column=kin)
    bad = ~np.isfinite(values) | (values > 0.5 + 1e-6)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source}: column {kin}: expected kinship coefficients <= 0.5; "
                         f"found {frame[kin].iloc[r]!r} (row {r + 1:,})")
    return pd.DataFrame({"IID1": frame[id1].to_numpy(dtype=str),
                         "IID2": frame[id2].to_numpy(dtype=str), "KINSHIP": values})
