"""Checkpoints of ``gwasrep assoc``: one file per finished block under ``OUT/.gwasrep_partial/``.

A killed run continues with ``resume=True`` when its settings and inputs match the
fingerprint stored beside the blocks; the final outputs are identical to an
uninterrupted run's.
"""

from __future__ import annotations

import json
import logging
import shutil
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gwasrep.assoc.config import RESULT_SETTINGS, AssocConfig
from gwasrep.assoc.engine.inputs import Prepared
from gwasrep.errors import ResumeError
from gwasrep.io.atomic import atomic_path, atomic_write_text
from gwasrep.io.plink import read_packed

__all__ = ["PARTIAL_DIR", "finished_blocks", "fingerprint", "load_block", "open_partial",
           "save_block", "verify_blocks"]

log = logging.getLogger("gwasrep")

PARTIAL_DIR = ".gwasrep_partial"


def fingerprint(cfg: AssocConfig, prep: Prepared) -> dict:
    """What a resumed run must share with the run that wrote the checkpoints."""
    # Paths compared after resolving, so that a relative and an absolute spelling agree.
    settings = {k: (str(Path(v).resolve()) if isinstance(v, Path) else v)
                for k, v in asdict(cfg).items() if k in RESULT_SETTINGS}
    signature = {k: {kk: vv for kk, vv in v.items() if kk != "path"}
                 for k, v in prep.inputs.items()}
    fp = {"settings": settings, "inputs": signature, "n_variants": int(prep.variant_idx.size),
          "n_samples": int(prep.fam_idx.size)}
    # As stored (tuples become lists), so that a comparison with the stored one names only
    # what changed.
    return json.loads(json.dumps(fp))


def open_partial(cfg: AssocConfig, prep: Prepared) -> Path:
    """The checkpoint folder of ``cfg.out``: resumed, discarded or created."""
    partial = Path(cfg.out) / PARTIAL_DIR
    fp = fingerprint(cfg, prep)
    fp_path = partial / "fingerprint.json"
    if partial.exists():
        n_done = len(list(partial.glob("block_*.npz")))
        if cfg.resume:
            old = json.loads(fp_path.read_text()) if fp_path.exists() else None
            if old != json.loads(json.dumps(fp)):
                changed = sorted(k for k in fp["settings"]
                                 if (old or {}).get("settings", {}).get(k) != fp["settings"][k])
                changed += sorted(k for k in fp["inputs"]
                                  if (old or {}).get("inputs", {}).get(k) != fp["inputs"][k])
                raise ResumeError(f"cannot resume the unfinished run in {partial}: inputs or "
                                  f"settings changed ({', '.join(changed) or 'fingerprint'}); "
                                  "rerun with --overwrite to start over")
            log.info("resuming: %d blocks already done", n_done)
            return partial
        if not cfg.overwrite:
            raise ResumeError(f"{cfg.out} holds an unfinished run ({n_done} blocks done); pass "
                              "--resume to continue it or --overwrite to discard it")
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    atomic_write_text(fp_path, json.dumps(fp, indent=1))
    return partial


def save_block(partial: Path, i: int, res: dict) -> None:
    with atomic_path(partial / f"block_{i:06d}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **res)


def load_block(partial: Path, i: int) -> dict:
    with np.load(partial / f"block_{i:06d}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def finished_blocks(partial: Path) -> set[int]:
    """Numbers of the blocks checkpointed in ``partial``."""
    return {int(p.stem.split("_")[1]) for p in partial.glob("block_*.npz")}


def verify_blocks(partial: Path, blocks: list[tuple[int, np.ndarray]], done: set[int],
                  bed_path: str | Path, n_fam: int) -> None:
    """Check that the .bed bytes of every checkpointed block are those it was computed from.

    Each block file keeps the CRC-32 of its variants' packed .bed bytes; a .bed edited in
    place (even with its size and modification time restored) fails here instead of
    resuming into a mixture of old and new results.
    """
    for i, idx in blocks:
        if i not in done:
            continue
        with np.load(partial / f"block_{i:06d}.npz", allow_pickle=False) as z:
            stored = int(z["crc32"][0])
        if zlib.crc32(read_packed(bed_path, idx, n_fam)) != stored:
            raise ResumeError(f"cannot resume the unfinished run in {partial}: the .bed "
                              f"{bed_path} changed since block {i} (variants {int(idx[0]) + 1:,}"
                              f"-{int(idx[-1]) + 1:,}) was computed; rerun with --overwrite "
                              "to start over")
