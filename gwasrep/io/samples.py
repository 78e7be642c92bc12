"""Intersect samples by ID across the .fam and every table, and account for the drops."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gwasrep.errors import InputError, preview
from gwasrep.io.tables import SampleKeys

__all__ = ["SampleAlignment", "align_samples"]


@dataclass
class SampleAlignment:
    """Which samples are used, and where each input's rows for them are."""

    #: Positions of the used samples in the .fam, increasing, shape (n_used,).
    fam_idx: np.ndarray
    #: For each input table, its row of each used sample, shape (n_used,).
    rows: dict[str, np.ndarray]
    #: Per input: rows, rows matched to the .fam, rows used.
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Human-readable notes on drops.
    notes: list[str] = field(default_factory=list)

    @property
    def n_used(self) -> int:
        return len(self.fam_idx)

    def subset(self, keep: np.ndarray, reason: str) -> SampleAlignment:
        """Drop used samples where ``keep`` is False, recording ``reason``."""
        n_drop = int((~keep).sum())
        out = SampleAlignment(fam_idx=self.fam_idx[keep],
                              rows={k: v[keep] for k, v in self.rows.items()},
                              counts=self.counts, notes=list(self.notes))
        if n_drop:
            out.notes.append(f"dropped {n_drop:,} samples: {reason}")
        return out


def _fam_lookup(fam: pd.DataFrame, keys: SampleKeys, name: str) -> np.ndarray:
    """Position in the .fam of each key (-1 if absent)."""
    if keys.paired:
        fam_keys = (fam["FID"] + "\t" + fam["IID"]).to_numpy()
    else:
        fam_keys = fam["IID"].to_numpy()
        dup = fam["IID"][fam["IID"].duplicated()]
        if len(dup):
            raise InputError(f"{name} identifies samples by 'sample_id' (IID) but the .fam has "
                             f"{len(dup):,} repeated IIDs, e.g. {preview(dup.unique())}; "
                             "use FID and IID columns instead")
    index = pd.Index(fam_keys)
    return index.get_indexer(keys.keys)


def align_samples(fam: pd.DataFrame, tables: dict[str, SampleKeys], *,
                  keep: SampleKeys | None = None, remove: SampleKeys | None = None
                  ) -> SampleAlignment:
    """Intersect samples across the .fam and the tables (in .fam order).

    Raises
    ------
    InputError
        If no sample is shared; the message shows a few IDs from each side.
    """
    n_fam = len(fam)
    used = np.ones(n_fam, dtype=bool)
    positions: dict[str, np.ndarray] = {}
    counts = {".fam": {"rows": n_fam}}
    for name, keys in tables.items():
        pos = _fam_lookup(fam, keys, name)
        positions[name] = pos
        present = np.zeros(n_fam, dtype=bool)
        present[pos[pos >= 0]] = True
        counts[name] = {"rows": len(pos), "matched_to_fam": int((pos >= 0).sum())}
        if not present.any():
            first_fam = preview(fam["IID"] if not keys.paired else fam["FID"] + " " + fam["IID"])
            first_tab = preview(k.replace("\t", " ") for k in keys.keys)
            raise InputError(f"{name} and the .fam share 0 of {len(pos):,} sample IDs; first "
                             f"{name} IDs: {first_tab}; first .fam IDs: {first_fam}")
        used &= present
    notes = []
    if keep is not None:
        pos = _fam_lookup(fam, keep, "--keep")
        mask = np.zeros(n_fam, dtype=bool)
        mask[pos[pos >= 0]] = True
        notes.append(f"--keep lists {len(pos):,} samples, {int(mask.sum()):,} in the .fam")
        used &= mask
    if remove is not None:
        pos = _fam_lookup(fam, remove, "--remove")
        mask = np.zeros(n_fam, dtype=bool)
        mask[pos[pos >= 0]] = True
        notes.append(f"--remove lists {len(pos):,} samples, {int((mask & used).sum()):,} of them "
                     "otherwise used")
        used &= ~mask
    if not used.any():
        raise InputError("no sample is shared by all inputs (after --keep/--remove); "
                         + "; ".join(f"{k}: {v}" for k, v in counts.items()))
    fam_idx = np.flatnonzero(used)
    rows = {}
    for name, pos in positions.items():
        inv = np.full(n_fam, -1, dtype=np.int64)
        ok = pos >= 0
        inv[pos[ok]] = np.flatnonzero(ok)
        rows[name] = inv[fam_idx]
        counts[name]["used"] = len(fam_idx)
    counts[".fam"]["used"] = len(fam_idx)
    for name, c in counts.items():
        dropped = c["rows"] - c["used"]
        if dropped:
            notes.append(f"{name}: {dropped:,} of {c['rows']:,} rows not used"
                         + (f" ({c['rows'] - c['matched_to_fam']:,} not in the .fam)"
                            if "matched_to_fam" in c and c["matched_to_fam"] < c["rows"] else ""))
    return SampleAlignment(fam_idx=fam_idx, rows=rows, counts=counts, notes=notes)
