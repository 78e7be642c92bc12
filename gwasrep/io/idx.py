"""IDX files (the MNIST/EMNIST distribution format), gzip-compressed or not.

Header: a big-endian magic ``0x0000TTNN`` (TT the element type, 0x08 for uint8; NN the
number of dimensions), then NN big-endian int32 sizes, then the data in C order. EMNIST's
images are ``(count, 28, 28)`` uint8 with magic 2051 and its labels ``(count,)`` with magic
2049.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from gwasrep.errors import InputError

__all__ = ["idx_shape", "read_idx", "write_idx"]

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _header(fh, path: Path, ndim: int | None) -> tuple[np.dtype, tuple[int, ...]]:
    head = fh.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _TYPES or head[3] < 1:
        raise InputError(f"{path}: not an IDX file (magic {head.hex() or 'empty'}; "
                         "expected 0x0000TTNN with TT a known type and NN >= 1 dimensions, "
                         "e.g. 00000803 for uint8 images)")
    dtype, nd = np.dtype(_TYPES[head[2]]), head[3]
    if ndim is not None and nd != ndim:
        raise InputError(f"{path}: IDX file with {nd} dimensions; expected {ndim}")
    dims = np.frombuffer(fh.read(4 * nd), dtype=">i4")
    if dims.size != nd or (dims < 0).any():
        raise InputError(f"{path}: truncated IDX header")
    return dtype, tuple(int(d) for d in dims)


#: What a damaged file (plain or gzip) raises while being read.
_READ_ERRORS = (OSError, EOFError, zlib.error)


def idx_shape(path: str | os.PathLike, *, ndim: int | None = None) -> tuple[int, ...]:
    """The shape an IDX file's header declares (reads the header only)."""
    path = Path(path)
    try:
        with _open(path) as fh:
            return _header(fh, path, ndim)[1]
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: could not read IDX file: {exc}") from None


def read_idx(path: str | os.PathLike, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX array; ``ndim`` (if given) is the number of dimensions expected.

    Raises
    ------
    InputError
        A bad magic number, an unexpected number of dimensions, a damaged file, or a file
        shorter or longer than its header says.
    """
    path = Path(path)
    try:
        with _open(path) as fh:
            dtype, shape = _header(fh, path, ndim)
            want = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            data = fh.read(want + 1)
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: could not read IDX file: {exc}") from None
    if len(data) != want:
        found = f"{len(data):,} bytes" if len(data) < want else "more"
        raise InputError(f"{path}: IDX header says shape {shape} ({want:,} bytes of data); "
                         f"found {found}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool = True) -> Path:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64) as an IDX file."""
    a = np.asarray(array)
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
    code = codes[a.dtype]
    big = a.astype(a.dtype.newbyteorder(">"), copy=False)
    payload = (bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">i4").tobytes()
               + big.tobytes())
    path = Path(path)
    with (gzip.open(path, "wb") if compress else open(path, "wb")) as fh:
        fh.write(payload)
    return path
