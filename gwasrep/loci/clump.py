"""LD clumping with PLINK 1.9 ``--clump`` semantics (METHODS.md section 2).

- Index candidates have p <= p1, taken in order of p with ties broken by .bim order.
- A candidate already in an earlier clump is not an index.
- Window: same chromosome and |bp distance| <= kb * 1000 - 1.
- A variant joins the clump of the current index when r^2 > r2 (strict) and it
  is in no clump yet, whatever its p-value: TOTAL and the NSIG..S0001 counts
  include every member, SP2 lists those with p < p2 (as PLINK 1.9's output
  shows).
- r^2 over founders (PAT and MAT both 0) with both calls present; by default
  from EM (maximum-likelihood) haplotype frequencies of the 3 x 3 genotype
  table, as PLINK 1.9 does; ``r2_mode="unphased"`` uses the squared
  correlation of allele counts instead.

Only the variants that take part are read, once, as packed .bed bytes turned
straight into bit planes (A1 count 2, 1, called) over the founders; r^2 is computed
per (index, window variant) pair from popcounts in numba and no all-pairs matrix is
built. ``counts["clump_seconds"]`` (also logged at INFO on the ``gwasrep`` logger) is
the time of the planes and the clumping.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from gwasrep.aot import kernel
from gwasrep.errors import InputError, preview
from gwasrep.io.clumped import CLUMPED_COLUMNS
from gwasrep.io.fast_tables import duplicated_values
from gwasrep.io.plink import PlinkFileset, read_packed, read_packed_span

if TYPE_CHECKING:
    import pandas as pd

    from gwasrep.io.sumstats import PValues

__all__ = ["MEMBER_COLUMNS", "R2_MODES", "ClumpResult", "clump", "founders"]

#: The clumping kernel (:func:`gwasrep.loci._ld_kernels.clump_packed`), compiled ahead of time.
clump_packed = kernel("gwasrep.loci._ld_kernels", "clump_packed")

R2_MODES = ("em", "unphased")
MEMBER_COLUMNS = ["INDEX", "ID", "CHROM", "POS", "P", "IN_SP2"]
#: Packed .bed bytes read per chunk while the bit planes are built.
CHUNK_BYTES = 1 << 26

log = logging.getLogger("gwasrep")


@dataclass
class ClumpResult:
    """Clumps in PLINK's ``.clumped`` layout, plus one row per member.

    The tables are kept as columns (numpy arrays) and turned into DataFrames on first use
    of :attr:`clumps` or :attr:`members`, so that writing them needs no pandas.
    """

    #: :data:`CLUMPED_COLUMNS` -> array, one row per clump, in order of the index p.
    clump_columns: dict
    #: :data:`MEMBER_COLUMNS` -> array: every index variant (INDEX == ID) and member;
    #: IN_SP2 is False for members with p >= p2 (counted in TOTAL, not listed in SP2).
    member_columns: dict
    #: Counts of the input accounting (rows, skipped p-values, IDs not in the .bim, ...).
    counts: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @cached_property
    def clumps(self) -> pd.DataFrame:
        """The clumps, columns :data:`CLUMPED_COLUMNS`."""
        return _frame(self.clump_columns, CLUMPED_COLUMNS)

    @cached_property
    def members(self) -> pd.DataFrame:
        """INDEX, ID, CHROM, POS, P, IN_SP2 (:data:`MEMBER_COLUMNS`)."""
        return _frame(self.member_columns, MEMBER_COLUMNS)

    @property
    def n_loci(self) -> int:
        return len(self.clump_columns["SNP"])


def _frame(columns: dict, names: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({k: columns[k] for k in names}, columns=names)


def founders(fileset: PlinkFileset) -> np.ndarray:
    """Positions in the .fam of samples with PAT and MAT both 0."""
    import pyarrow.compute as pc

    fam = fileset.fam_table
    is_founder = pc.and_(pc.equal(fam.column("PAT"), "0"), pc.equal(fam.column("MAT"), "0"))
    idx = np.flatnonzero(is_founder.to_numpy())
    if idx.size == 0:
        raise InputError(f"{fileset.bed_path.with_suffix('.fam')}: no founders (every sample has "
                         "a parent ID); clumping uses founders only, as PLINK does")
    return idx


def _pairs(pvals) -> tuple:
    """(IDs as an Arrow string array, p-values as float64) of PValues or a DataFrame."""
    import pyarrow as pa

    from gwasrep.io.sumstats import PValues

    if isinstance(pvals, PValues):
        ids, p = pvals.ids, pvals.p
    else:
        ids = pa.array([str(v) for v in np.asarray(pvals["ID"], dtype=object)],
                       type=pa.string())
        p = pvals["P"]
    if ids.type != pa.string():
        ids = ids.cast(pa.string())
    return ids, np.asarray(p, dtype=np.float64)


def clump(pvals: PValues | pd.DataFrame, fileset: PlinkFileset, *, p1: float = 1e-4,
          p2: float = 1e-2, r2: float = 0.5, kb: float = 250.0, r2_mode: str = "em",
          sample_idx: np.ndarray | None = None) -> ClumpResult:
    """Clump (ID, P) pairs against the genotypes of ``fileset``.

    Parameters
    ----------
    pvals : PValues, or a DataFrame with columns ID and P
        (see :func:`gwasrep.io.sumstats.read_pvalue_arrays` and ``read_pvalues``)
    p1, p2, r2, kb : float
        PLINK's ``--clump-p1/-p2/-r2/-kb`` (defaults are PLINK's).
    r2_mode : {"em", "unphased"}
    sample_idx : ndarray, optional
        .fam positions to use; default: the founders.
    """
    import pyarrow.compute as pc

    if r2_mode not in R2_MODES:
        raise InputError(f"--r2-mode {r2_mode}: expected one of {', '.join(R2_MODES)}")
    for name, v in (("p1", p1), ("p2", p2), ("r2", r2)):
        if not 0 <= v <= 1:
            raise InputError(f"--{name} {v}: expected a value in [0, 1]")
    if kb < 0:
        raise InputError(f"--kb {kb}: expected a non-negative distance")
    ids_in, p_in = _pairs(pvals)
    bim = fileset.bim_table
    bim_ids = bim.column("ID").combine_chunks()
    dups = duplicated_values(bim_ids)
    if dups:
        raise InputError(f"{fileset.bed_path.with_suffix('.bim')}: {len(dups):,} duplicated "
                         f"variant IDs (e.g. {preview(dups)}); clumping matches by ID")
    where = pc.index_in(ids_in, value_set=bim_ids).fill_null(-1).to_numpy().astype(np.int64)
    in_bim = where >= 0
    notes, counts = [], {"variants_with_p": len(p_in),
                         "not_in_bim": int((~in_bim).sum())}
    if not in_bim.all():
        absent = np.flatnonzero(~in_bim)[:6]
        notes.append(f"{int((~in_bim).sum()):,} of {len(p_in):,} IDs are not in the .bim and "
                     f"were skipped (e.g. {preview(ids_in.take(absent).to_pylist())})")
    bim_idx = where[in_bim]
    p = p_in[in_bim]
    # Chromosomes as they appear in the .bim (codes in order of first appearance).
    chrom_codes = pc.dictionary_encode(bim.column("CHROM")).combine_chunks().indices
    chrom_codes = chrom_codes.to_numpy().astype(np.int64)
    pos_all = fileset.bim_column("POS").astype(np.int64)
    # Every variant with a p-value can be absorbed (PLINK counts them all in TOTAL and
    # lists those with p < p2 in SP2), but only those near an index candidate matter.
    take = _near_index(chrom_codes[bim_idx], pos_all[bim_idx], p <= p1, kb)
    bim_idx, p = bim_idx[take], p[take]
    samples = founders(fileset) if sample_idx is None else np.asarray(sample_idx)
    counts["samples"] = int(samples.size)
    counts["pool"] = int(bim_idx.size)
    counts["index_candidates"] = int((p <= p1).sum())
    if counts["index_candidates"] == 0:
        notes.append(f"no variant with p <= {p1:g}: no clumps")
        return _tables(fileset, np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64),
                       np.empty(0, np.int64), p2, counts, notes)
    # Pool rows sorted by (chromosome as it appears in the .bim, position, .bim order).
    ch = chrom_codes[bim_idx]
    bp = pos_all[bim_idx]
    srt = np.lexsort((bim_idx, bp, ch))
    bim_idx, p, ch, bp = bim_idx[srt], p[srt], ch[srt], bp[srt]
    is_index = p <= p1
    order = np.flatnonzero(is_index)
    order = order[np.lexsort((bim_idx[order], p[order]))].astype(np.int64)
    clump_of = np.full(bim_idx.size, -1, dtype=np.int64)
    window = int(round(kb * 1000)) - 1
    t0 = time.perf_counter()
    # Chromosomes are clumped one after the other (a window never crosses one, so this is
    # PLINK's greedy order restricted to each), in one plane buffer sized for the largest.
    # Bit planes straight from the packed .bed rows, read in .bim order by spans of about
    # CHUNK_BYTES into one reused buffer, each row into its pool row; a span whose pool
    # rows are under a quarter of it is read row by row.
    samples = np.ascontiguousarray(samples, dtype=np.int64)
    all_samples = bool(samples.size == fileset.n_samples
                       and np.array_equal(samples, np.arange(fileset.n_samples)))
    starts = np.flatnonzero(np.r_[True, ch[1:] != ch[:-1], True])
    n_words = (samples.size + 63) // 64
    bits_buf = np.empty((int(np.diff(starts).max()), 3, n_words), dtype=np.uint64)
    bpv = fileset.bytes_per_variant
    step = max(1, CHUNK_BYTES // bpv)
    buf = np.empty((min(step, fileset.n_variants), bpv), dtype=np.uint8)
    no_order = np.empty(0, dtype=np.int64)
    order_ch = ch[order]
    for a, b in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
        order_c = order[order_ch == ch[a]] - a
        if order_c.size == 0:
            continue
        bits = bits_buf[:b - a]
        read_order = np.argsort(bim_idx[a:b], kind="stable").astype(np.int64)
        sorted_idx = bim_idx[a:b][read_order].astype(np.int64)
        clump_c = clump_of[a:b]
        i0 = 0
        while i0 < sorted_idx.size:
            lo = int(sorted_idx[i0])
            i1 = int(np.searchsorted(sorted_idx, lo + step))
            hi = int(sorted_idx[i1 - 1]) + 1
            if 4 * (i1 - i0) >= hi - lo:
                packed = read_packed_span(fileset.bed_path, lo, hi, fileset.n_samples, buf)
                src = sorted_idx[i0:i1] - lo
            else:
                packed = read_packed(fileset.bed_path, sorted_idx[i0:i1], fileset.n_samples)
                src = np.arange(i1 - i0, dtype=np.int64)
            last = i1 >= sorted_idx.size
            clump_packed(packed, src, read_order[i0:i1], samples, all_samples, bits,
                         ch[a:b], bp[a:b], order_c if last else no_order, is_index[a:b],
                         window, float(r2), r2_mode == "em", clump_c)
            i0 = i1
        clump_c[clump_c >= 0] += a
    counts["clump_seconds"] = round(time.perf_counter() - t0, 4)
    log.info("clump: %.3f s for the bit planes and the clumping (%d pool variants, "
             "%d founders)", counts["clump_seconds"], bim_idx.size, samples.size)
    return _tables(fileset, bim_idx, p, clump_of, order, p2, counts, notes)


def _near_index(chrom: np.ndarray, pos: np.ndarray, is_index: np.ndarray,
                kb: float) -> np.ndarray:
    """Mask of the variants within ``kb`` of an index candidate on the same chromosome."""
    window = int(round(kb * 1000)) - 1
    near = np.zeros(pos.size, dtype=bool)
    for c in np.unique(chrom[is_index]):
        on = chrom == c
        ip = np.sort(pos[on & is_index])
        q = pos[on]
        k = np.searchsorted(ip, q)
        left = np.abs(q - ip[np.clip(k - 1, 0, ip.size - 1)])
        right = np.abs(ip[np.clip(k, 0, ip.size - 1)] - q)
        near[on] = np.minimum(left, right) <= window
    return near


def _tables(fileset, bim_idx, p, clump_of, order, p2, counts, notes) -> ClumpResult:
    bim = fileset.bim_table
    rows_used = np.flatnonzero(clump_of >= 0)
    # IDs and chromosomes of the clumped rows only (no Python strings for the rest).
    sub = bim_idx[rows_used]
    ids = np.empty(bim_idx.size, dtype=object)
    chrom = np.empty(bim_idx.size, dtype=object)
    ids[rows_used] = bim.column("ID").take(sub).to_numpy()
    chrom[rows_used] = bim.column("CHROM").take(sub).to_numpy()
    pos = fileset.bim_column("POS")[bim_idx]
    index_rows = order[clump_of[order] == order]          # clumps in order of the index p
    rank = np.full(clump_of.size, -1)
    rank[index_rows] = np.arange(index_rows.size)
    mem = np.flatnonzero((clump_of >= 0) & (clump_of != np.arange(clump_of.size)))
    k = rank[clump_of[mem]]                                # clump number of each member
    mp = p[mem]
    n = index_rows.size

    def count(mask):
        return np.bincount(k[mask], minlength=n).astype(np.int64)

    in_sp2 = mp < p2
    # SP2: members with p < p2 in pool order (chromosome, position), joined per clump.
    sk = k[in_sp2]
    by = np.argsort(sk, kind="stable")                     # mem is in pool order already
    labels = (ids[mem][in_sp2][by] + "(1)").tolist()
    bounds = np.searchsorted(sk[by], np.arange(n + 1))
    sp2_col = np.array(["NONE" if a == b else ",".join(labels[a:b])
                        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)],
                       dtype=object)
    clumps = {
        "CHR": chrom[index_rows], "F": np.ones(n, dtype=np.int64), "SNP": ids[index_rows],
        "BP": pos[index_rows].astype(np.int64), "P": p[index_rows],
        "TOTAL": count(np.ones(mem.size, dtype=bool)), "NSIG": count(mp > 0.05),
        "S05": count((mp > 0.01) & (mp <= 0.05)), "S01": count((mp > 0.001) & (mp <= 0.01)),
        "S001": count((mp > 1e-4) & (mp <= 0.001)), "S0001": count(mp <= 1e-4),
        "SP2": sp2_col}
    # Members: each clump's index, then its members in pool order.
    o = np.argsort(np.r_[np.arange(n), k], kind="stable")
    rows = np.r_[index_rows, mem][o].astype(np.int64)
    listed = np.r_[np.ones(n, dtype=bool), in_sp2][o]
    members = {"INDEX": ids[clump_of[rows]], "ID": ids[rows], "CHROM": chrom[rows],
               "POS": pos[rows].astype(np.int64), "P": p[rows], "IN_SP2": listed}
    counts["clumps"] = n
    return ClumpResult(clump_columns=clumps, member_columns=members, counts=counts,
                       notes=notes)
