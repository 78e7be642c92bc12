"""GCTA binary GRM files: ``PREFIX.grm.bin``, ``PREFIX.grm.N.bin``, ``PREFIX.grm.id``.

Format (GCTA's ``--make-grm``; see data_specs/grm.md):

- ``.grm.id``: FID and IID, tab separated, no header, one line per sample.
- ``.grm.bin``: the lower triangle with the diagonal, row by row
  (``K[0,0], K[1,0], K[1,1], K[2,0], ...``) as little-endian float32.
- ``.grm.N.bin``: the number of variants behind each entry, same layout and
  type (gwasrep mean-imputes missing calls, so every entry has the same count).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.errors import InputError
from gwasrep.io.atomic import atomic_path

__all__ = ["grm_paths", "read_grm", "write_grm"]


def grm_paths(prefix: str | os.PathLike) -> dict[str, Path]:
    p = str(prefix)
    for suffix in (".grm.bin", ".grm.N.bin", ".grm.id", ".grm"):
        if p.endswith(suffix):
            p = p[: -len(suffix)]
            break
    return {"bin": Path(p + ".grm.bin"), "N": Path(p + ".grm.N.bin"), "id": Path(p + ".grm.id")}


def write_grm(prefix: str | os.PathLike, K: np.ndarray, ids: pd.DataFrame,
              n_variants: int | np.ndarray) -> dict[str, Path]:
    """Write a GRM in GCTA's binary format (atomically, file by file).

    Parameters
    ----------
    K : ndarray of shape (n, n)
    ids : DataFrame with columns FID and IID, n rows
    n_variants : int or ndarray of shape (n, n)
    """
    K = np.asarray(K)
    n = K.shape[0]
    if K.shape != (n, n) or len(ids) != n:
        raise InputError(f"GRM of shape {K.shape} with {len(ids)} IDs: expected a square "
                         "matrix with one ID row per sample")
    paths = grm_paths(prefix)
    rows, cols = np.tril_indices(n)
    # np.tril_indices is row-major: (0,0), (1,0), (1,1), (2,0) ... as GCTA writes.
    Nmat = np.broadcast_to(np.asarray(n_variants, dtype=np.float32), (n, n))
    with atomic_path(paths["bin"]) as tmp:
        K[rows, cols].astype("<f4").tofile(tmp)
    with atomic_path(paths["N"]) as tmp:
        Nmat[rows, cols].astype("<f4").tofile(tmp)
    with atomic_path(paths["id"]) as tmp:
        ids[["FID", "IID"]].to_csv(tmp, sep="\t", header=False, index=False)
    return paths


def read_grm(prefix: str | os.PathLike) -> tuple[np.ndarray, pd.DataFrame, np.ndarray | None]:
    """Read a GCTA binary GRM.

    Returns
    -------
    K : ndarray of shape (n, n), float64, symmetric
    ids : DataFrame with columns FID, IID (str)
    n_variants : ndarray of shape (n, n) or None when ``.grm.N.bin`` is absent

    Raises
    ------
    InputError
        Missing files, or a ``.grm.bin`` whose size does not match the ``.grm.id``.
    """
    paths = grm_paths(prefix)
    for key in ("bin", "id"):
        if not paths[key].exists():
            raise InputError(f"GRM file {paths[key]} not found (expected GCTA's "
                             ".grm.bin/.grm.N.bin/.grm.id)")
    ids = pd.read_csv(paths["id"], sep=r"\s+", header=None, dtype=str, comment=None)
    if ids.shape[1] < 2:
        raise InputError(f"{paths['id']}: expected 2 columns (FID IID), found {ids.shape[1]}")
    ids = ids.iloc[:, :2].set_axis(["FID", "IID"], axis=1)
    n = len(ids)
    n_tri = n * (n + 1) // 2
    size = paths["bin"].stat().st_size
    if size != 4 * n_tri:
        raise InputError(f"{paths['bin']}: {size:,} bytes, expected {4 * n_tri:,} (float32 lower "
                         f"triangle for the {n:,} samples of {paths['id'].name})")
    tri = np.fromfile(paths["bin"], dtype="<f4").astype(np.float64)
    K = np.empty((n, n))
    rows, cols = np.tril_indices(n)
    K[rows, cols] = tri
    K[cols, rows] = tri
    Nmat = None
    if paths["N"].exists() and paths["N"].stat().st_size == 4 * n_tri:
        Nmat = np.empty((n, n), dtype=np.float32)
        trin = np.fromfile(paths["N"], dtype="<f4")
        Nmat[rows, cols] = trin
        Nmat[cols, rows] = trin
    return K, ids, Nmat
