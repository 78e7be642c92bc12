"""The per-block scan: a pure function of (scan state, block of variants).

Any executor can map :func:`scan_block` over blocks: local threads, or
dask.distributed workers that read their own block from the shared .bed.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from gwasrep.assoc.engine.lut import lut_inputs, packed_crossprod_lut
from gwasrep.assoc.linear import NullModel, block_moments_from_packed, scan_statistics
from gwasrep.assoc.lmm.scan import LmmScan, lmm_block_result
from gwasrep.io.plink import decode_dosages, read_packed, read_packed_span

__all__ = ["BLOCK_FIELDS", "ScanState", "make_scan_state", "scan_block"]

#: Arrays of a block result, in the order they are stored.
BLOCK_FIELDS = ("lrt", "p", "p_bonf", "beta", "se", "p_dim", "a1_freq", "obs_ct",
                "missing_frac", "reason")


@dataclass(frozen=True)
class ScanState:
    """What a worker needs to scan any block (about (D + K) x N floats).

    The look-up table of the scan kernel (18 x 16 doubles per .bed byte, 11.5 MB at
    N = 20,000) is built from ``XT`` on first use (:meth:`byte_table`), once per process,
    and shared by its threads; it is not pickled, so a dask worker builds its own (a few
    ms) the first time it scans a block, instead of receiving it.
    """

    #: Path of the .bed, readable by every worker.
    bed_path: str
    #: Number of samples in the .fam (sets the .bed row width).
    n_fam: int
    #: ``[R0, Qc]^T`` spread over .fam positions (zero for unused samples),
    #: shape (c, 4 ceil(n_fam/4)).
    XT: np.ndarray
    #: 1.0 at used .fam positions, shape (4 ceil(n_fam/4),).
    mask: np.ndarray
    #: Column sums of ``[R0, Qc]``, shape (c,).
    colsum_X: np.ndarray
    #: The fitted null model.
    null: NullModel
    maf: float
    geno: float
    #: Positions of the used samples in the .fam (the LMM decodes dosages in this order).
    sample_idx: np.ndarray | None = None
    #: LMM scans, one per group of variants (empty: no kinship, the OLS-based tests).
    lmm: tuple[LmmScan, ...] = ()
    #: Linear null models on LOCO-adjusted traits (``--lmm ridge``), one per group of
    #: variants (a chromosome); empty otherwise.
    loco: tuple[NullModel, ...] = ()
    #: Group (index into ``lmm`` or ``loco``) of every .bim variant, -1 if not tested.
    variant_group: np.ndarray | None = None
    #: The lazily built kernel inputs (not pickled): see :meth:`byte_table`.
    _lazy: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_lazy"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def byte_table(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``(table, X, base)`` of :func:`~gwasrep.assoc.engine.lut.packed_crossprod_lut`.

        X is ``XT`` transposed (rows by .fam position), ``base`` the count base.
        """
        lazy = self._lazy
        if "table" not in lazy:
            with _TABLE_LOCK:
                if "table" not in lazy:
                    table, lazy["X"], lazy["base"] = lut_inputs(self.XT, self.mask,
                                                                 self.null.n_samples)
                    lazy["table"] = table
        return lazy["table"], lazy["X"], lazy["base"]

    def loco_table(self, group: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """``(table, X, base, colsum_X)`` of the LOCO null model of ``group``.

        Built on first use; the tables of the last :data:`LOCO_TABLES` groups are kept
        (blocks arrive in variant order, so a chromosome's blocks reuse one table).
        """
        lazy = self._lazy
        with _TABLE_LOCK:
            cache = lazy.setdefault("loco", OrderedDict())
            if group in cache:
                cache.move_to_end(group)
                return cache[group]
        null = self.loco[group]
        XT = np.zeros_like(self.XT)
        XT[:, self.sample_idx] = null.design.T
        table, X, base = lut_inputs(XT, self.mask, null.n_samples)
        entry = (table, X, base, null.design.sum(axis=0))
        with _TABLE_LOCK:
            cache[group] = entry
            while len(cache) > LOCO_TABLES:
                cache.popitem(last=False)
        return entry


_TABLE_LOCK = threading.Lock()
#: LOCO look-up tables kept per process (about 18 x 16 doubles per .bed byte each).
LOCO_TABLES = 4


def make_scan_state(bed_path, n_fam: int, fam_idx: np.ndarray, null: NullModel, *,
                    maf: float = 0.0, geno: float = 1.0, lmm: tuple[LmmScan, ...] = (),
                    loco: tuple[NullModel, ...] = (),
                    variant_group: np.ndarray | None = None) -> ScanState:
    """Lay the null model's design out over the .fam positions."""
    X = null.design
    n_pad = 4 * ((n_fam + 3) // 4)
    XT = np.zeros((X.shape[1], n_pad))
    XT[:, fam_idx] = X.T
    mask = np.zeros(n_pad)
    mask[fam_idx] = 1.0
    return ScanState(bed_path=str(bed_path), n_fam=n_fam, XT=XT, mask=mask,
                     colsum_X=X.sum(axis=0), null=null, maf=maf, geno=geno,
                     sample_idx=np.asarray(fam_idx, dtype=np.int64), lmm=tuple(lmm),
                     loco=tuple(loco), variant_group=variant_group)


def scan_block(state: ScanState, variant_idx: np.ndarray) -> dict[str, np.ndarray]:
    """Test one block of variants.

    Parameters
    ----------
    variant_idx : ndarray of shape (m,), int64
        Positions of the block's variants in the .bim.

    Returns
    -------
    dict
        The arrays of :data:`BLOCK_FIELDS` (``reason`` as fixed-width strings)
        plus ``crc32``, the CRC-32 of the block's .bed bytes.
    """
    packed = _read_packed(state.bed_path, variant_idx, state.n_fam)
    if state.lmm:
        group = _block_group(state, variant_idx)
        G = np.empty((state.sample_idx.size, len(variant_idx)), order="F")
        decode_dosages(packed, state.sample_idx, G)
        res = lmm_block_result(state.lmm[group], G, maf=state.maf, geno=state.geno)
        return _as_block(res, packed)
    m, c = packed.shape[0], state.XT.shape[0]
    u = np.empty((m, c))
    s1, s2, nmiss = np.empty(m), np.empty(m), np.empty(m)
    smiss = np.empty((m, c))
    if state.loco:
        group = _block_group(state, variant_idx)
        null = state.loco[group]
        table, X, base, colsum = state.loco_table(group)
    else:
        null = state.null
        table, X, base = state.byte_table()
        colsum = state.colsum_X
    packed_crossprod_lut(packed, table, X, state.mask, base, u, s1, s2, nmiss, smiss)
    mom = block_moments_from_packed(u, s1, s2, nmiss, smiss, colsum, null.n_samples)
    res = scan_statistics(null, mom, maf=state.maf, geno=state.geno)
    return _as_block(res, packed)


def _block_group(state: ScanState, variant_idx: np.ndarray) -> int:
    groups = np.unique(state.variant_group[variant_idx])
    # Blocks never span groups (see schedule.make_blocks).
    assert groups.size == 1, groups
    assert groups[0] >= 0, groups
    return int(groups[0])


def _read_packed(bed_path: str, variant_idx: np.ndarray, n_fam: int) -> np.ndarray:
    """:func:`gwasrep.io.plink.read_packed`; a run of consecutive variants by one read."""
    idx = np.asarray(variant_idx, dtype=np.int64)
    if idx.size == 0 or idx[-1] - idx[0] != idx.size - 1 or np.any(np.diff(idx) != 1):
        return read_packed(bed_path, idx, n_fam)
    return read_packed_span(bed_path, int(idx[0]), int(idx[-1]) + 1, n_fam)


def _as_block(res, packed: np.ndarray) -> dict[str, np.ndarray]:
    out = {name: getattr(res, name) for name in BLOCK_FIELDS}
    out["reason"] = res.reason.astype("U32")
    out["crc32"] = np.array([zlib.crc32(packed)], dtype=np.int64)
    return out
