"""Fingerprints of inputs, for resuming runs and recording what a result was made from.

One digest function serves every resumable command: ``assoc`` (input files by content),
``mi`` (the arrays read and the critic's configuration) and ``train`` (variant and split
IDs).
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

__all__ = ["digest", "sha256_file"]


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def digest(*parts, algorithm: str = "sha256") -> str:
    """Hex digest of ``parts`` in order.

    An ndarray contributes its shape and its bytes (C order), ``bytes`` themselves, a
    ``str`` its UTF-8 encoding, anything else its JSON with sorted keys.
    """
    h = hashlib.new(algorithm)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str(part.shape).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, bytes):
            h.update(part)
        elif isinstance(part, str):
            h.update(part.encode())
        else:
            h.update(json.dumps(part, sort_keys=True).encode())
    return h.hexdigest()
