"""The byte look-up-table scan kernel against the definition (plain numpy on decoded dosages)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from gwasrep.assoc.engine._scan_kernels import (
    LUT_SIGNATURE,
    build_byte_table,
    compile_with_slp,
    compiled,
    packed_crossprod_lut,
)
from gwasrep.assoc.engine.lut import (
    BYTE_MISSING,
    NIBBLE_INDEX,
    PATTERN_DOSAGE,
    TILE,
    count_base,
    new_byte_table,
    packed_crossprod,
)
from gwasrep.assoc.engine.scan import make_scan_state, scan_block
from gwasrep.assoc.linear import fit_null


def definition(packed, XT, mask):
    """u, s1, s2, nmiss, smiss from the .bed codes: 0 -> 2, 2 -> 1, 3 -> 0, 1 -> missing."""
    m, n_bytes = packed.shape
    codes = (packed[:, :, None] >> (2 * np.arange(4))[None, None, :]) & 3
    codes = codes.reshape(m, 4 * n_bytes)
    missing = codes == 1
    d = np.choose(codes, [2.0, 0.0, 1.0, 0.0])           # missing as 0
    used = mask > 0
    u = d @ XT.T
    s1 = (d * used).sum(axis=1)
    s2 = (d**2 * used).sum(axis=1)
    miss_used = missing & used[None, :]
    return u, s1, s2, miss_used.sum(axis=1).astype(float), miss_used.astype(float) @ XT.T


def random_case(rng, n_fam, m, c, *, p_missing=0.02, used_frac=0.8):
    n_bytes = (n_fam + 3) // 4
    codes = rng.choice(np.array([0, 2, 3]), size=(m, 4 * n_bytes))
    codes[rng.random(codes.shape) < p_missing] = 1
    codes[:, n_fam:] = 0                                  # .bed padding bits are zero
    c4 = codes.reshape(m, n_bytes, 4)
    packed = (c4[..., 0] | c4[..., 1] << 2 | c4[..., 2] << 4 | c4[..., 3] << 6).astype(np.uint8)
    mask = np.zeros(4 * n_bytes)
    used = np.flatnonzero(rng.random(n_fam) < used_frac)
    mask[used] = 1.0
    XT = np.zeros((c, 4 * n_bytes))
    XT[:, used] = rng.standard_normal((c, used.size)) * rng.uniform(0.5, 3.0, (c, 1))
    return packed, XT, mask


def run_kernel(packed, XT, mask):
    m, c = packed.shape[0], XT.shape[0]
    out = (np.full((m, c), np.nan), np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan),
           np.full((m, c), np.nan))
    packed_crossprod(packed, XT, mask, None, *out)
    return out


def assert_matches_definition(packed, XT, mask):
    got = run_kernel(packed, XT, mask)
    want = definition(packed, XT, mask)
    # Summation order differs: compare at 1e-12 of the sum of absolute terms.
    mag_u = np.abs(XT).sum(axis=1)[None, :] * 2.0 + 1.0
    for name, g, w, scale in zip(("u", "s1", "s2", "nmiss", "smiss"), got, want,
                                 (mag_u, 1.0, 1.0, 1.0, mag_u), strict=True):
        assert g.shape == w.shape, name
        assert np.all(np.abs(g - w) <= 1e-12 * scale + 1e-12 * np.abs(w)), name
    # The counts are exact.
    for g, w in zip(got[1:4], want[1:4], strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(("n_fam", "m", "c"), [
    (157, 23, 15),        # n_fam % 4 == 1: partial last byte; m odd
    (1003, 37, 15),       # several tiles, the last one partial
    (4 * TILE + 2, 1, 4),  # m = 1, exactly one full tile plus a partial byte
    (401, 5, 20),         # c + 1 > 16: two 16-wide chunks per table row
    (98, 64, 16),         # c + 1 = 17
    (8, 3, 1),
])
def test_kernel_matches_definition(n_fam, m, c):
    rng = np.random.default_rng(n_fam * 1000 + m)
    assert_matches_definition(*random_case(rng, n_fam, m, c))


def test_all_missing_and_monomorphic_variants():
    rng = np.random.default_rng(3)
    packed, XT, mask = random_case(rng, 211, 9, 15)
    packed[2] = 0b01010101                                # every call missing
    packed[4] = 0                                         # all homozygous A1 (dosage 2)
    packed[5] = 0xFF                                      # all homozygous A2 (dosage 0)
    packed[6, ::3] = 0b01010101                           # missing runs
    assert_matches_definition(packed, XT, mask)
    u, s1, s2, nmiss, smiss = run_kernel(packed, XT, mask)
    assert nmiss[2] == mask.sum()
    assert s1[2] == s2[2] == 0.0
    np.testing.assert_allclose(smiss[2], XT.sum(axis=1), rtol=1e-12, atol=1e-12)
    assert s1[5] == s2[5] == nmiss[5] == 0.0


def test_missing_calls_of_unused_samples_are_not_counted():
    rng = np.random.default_rng(4)
    packed, XT, mask = random_case(rng, 64, 4, 3, p_missing=0.5, used_frac=0.5)
    assert_matches_definition(packed, XT, mask)
    _, _, _, nmiss, _ = run_kernel(packed, XT, mask)
    codes = ((packed[:, :, None] >> (2 * np.arange(4))) & 3).reshape(4, -1)
    assert np.all(nmiss < (codes == 1).sum(axis=1))       # some missing calls are unused


def test_code_tables_follow_the_bed_codes():
    dos = {0: 2, 1: 0, 2: 1, 3: 0}
    for byte in range(256):
        codes = [(byte >> (2 * k)) & 3 for k in range(4)]
        assert BYTE_MISSING[byte] == sum(1 << k for k, x in enumerate(codes) if x == 1)
        for half, nib in enumerate((byte & 15, byte >> 4)):
            np.testing.assert_array_equal(PATTERN_DOSAGE[NIBBLE_INDEX[nib]],
                                          [dos[x] for x in codes[2 * half:2 * half + 2]])


def test_table_rows_and_count_column():
    rng = np.random.default_rng(5)
    packed, XT, mask = random_case(rng, 30, 1, 5)
    base = count_base(int(mask.sum()))
    table = new_byte_table(XT.shape[1] // 4, 5)
    assert table.ctypes.data % 64 == 0
    assert table.shape == (18 * 8, 16)
    build_byte_table(XT, mask, base, PATTERN_DOSAGE, table)
    for g, e in ((3, 5), (7, 8), (0, 0), (15, 4)):
        d = PATTERN_DOSAGE[e]
        np.testing.assert_allclose(table[9 * g + e, :5], XT[:, 2 * g:2 * g + 2] @ d,
                                   rtol=1e-14, atol=1e-14)
        m2 = mask[2 * g:2 * g + 2]
        assert table[9 * g + e, 5] == (m2 * d).sum() + base * (m2 * d**2).sum()
    assert np.all(table[:, 6:] == 0.0)
    assert base > 2 * mask.sum()


def test_compiled_kernel_is_slp_vectorised():
    # The hot loop's 16 sums are packed into vector registers (numba's default would not);
    # the cached kernel cannot be inspected, so an uncached copy is compiled the same way.
    from numba import njit

    assert compiled() is packed_crossprod_lut
    copy = njit(nogil=True, fastmath=True)(packed_crossprod_lut.py_func)
    asm = compile_with_slp(copy, LUT_SIGNATURE).inspect_asm(LUT_SIGNATURE)
    assert "vaddpd" in asm
    assert next(iter(packed_crossprod_lut.overloads)) == LUT_SIGNATURE


def test_scan_state_pickles_without_the_table():
    rng = np.random.default_rng(6)
    n_fam = 41
    used = np.sort(rng.choice(n_fam, 35, replace=False))
    null = fit_null(rng.standard_normal((used.size, 2)), rng.standard_normal((used.size, 2)))
    state = make_scan_state("/nonexistent.bed", n_fam, used, null)
    table, X, base = state.byte_table()
    assert state.byte_table()[0] is table                # built once
    clone = pickle.loads(pickle.dumps(state))
    assert clone._lazy == {}
    assert len(pickle.dumps(state)) < table.nbytes
    np.testing.assert_array_equal(clone.byte_table()[0], table)


def test_scan_block_reads_consecutive_and_scattered_variants(tmp_path):
    from gwasrep.io.plink import read_packed

    rng = np.random.default_rng(7)
    n_fam, M = 53, 40
    packed, _, _ = random_case(rng, n_fam, M, 1)
    bed = tmp_path / "x.bed"
    bed.write_bytes(bytes([0x6C, 0x1B, 0x01]) + packed.tobytes())
    used = np.arange(n_fam)
    null = fit_null(rng.standard_normal((n_fam, 2)), rng.standard_normal((n_fam, 1)))
    state = make_scan_state(bed, n_fam, used, null)
    from gwasrep.assoc.engine.scan import _read_packed

    for idx in (np.arange(5, 30), np.array([3, 7, 8, 39]), np.array([39])):
        np.testing.assert_array_equal(_read_packed(str(bed), idx, n_fam),
                                      read_packed(bed, idx, n_fam))
    a = scan_block(state, np.arange(0, 20))
    b = scan_block(state, np.arange(10, 20))
    np.testing.assert_allclose(a["lrt"][10:], b["lrt"], rtol=1e-10)
