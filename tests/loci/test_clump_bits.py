"""Bit planes straight from packed .bed bytes == genotype_bits of the decoded int8 genotypes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwasrep.io.plink import open_plink, read_dosages, read_packed, write_plink
from gwasrep.loci._ld_kernels import genotype_bits, packed_bits
from gwasrep.loci.clump import founders


def _fileset(tmp_path, n, m, seed, non_founders=()):
    rng = np.random.default_rng(seed)
    G = rng.integers(0, 3, size=(n, m)).astype(np.int8)
    G[rng.random((n, m)) < 0.1] = -1                       # missing calls
    G[:, 0] = -1                                             # an all-missing variant
    G[:, 1] = 2                                              # monomorphic
    bim = pd.DataFrame({"CHROM": "1", "ID": [f"v{j}" for j in range(m)], "CM": 0.0,
                        "POS": np.arange(m) * 1000 + 1, "A1": "A", "A2": "G"})
    pat = np.array(["0"] * n, dtype=object)
    pat[list(non_founders)] = "f0"
    fam = pd.DataFrame({"FID": [f"f{i}" for i in range(n)], "IID": [f"i{i}" for i in range(n)],
                        "PAT": pat, "MAT": "0", "SEX": "1", "PHENO": "-9"})
    write_plink(tmp_path / "g", G, bim, fam)
    return open_plink(tmp_path / "g")


def _reference_bits(fs, variant_idx, samples):
    X = read_dosages(fs, variant_idx, samples, dtype=np.float32)
    geno = np.ascontiguousarray(np.where(np.isfinite(X), X, -1).astype(np.int8).T)
    return genotype_bits(geno)


@pytest.mark.parametrize("n", [1, 3, 63, 64, 65, 130, 257])
@pytest.mark.parametrize("non_founders", [(), (0, 2)])
def test_packed_bits_match_genotype_bits(tmp_path, n, non_founders):
    non_founders = tuple(i for i in non_founders if i < n - 1)
    fs = _fileset(tmp_path, n, 37, seed=n, non_founders=non_founders)
    samples = founders(fs).astype(np.int64)
    assert samples.size == n - len(non_founders)
    all_samples = bool(samples.size == n)
    # Rows read out of order, in two chunks, each into its own destination row.
    variant_idx = np.r_[np.arange(20, 37), np.arange(0, 20)]
    ref = _reference_bits(fs, variant_idx, samples)
    bits = np.full(ref.shape, 0xDEADBEEF, dtype=np.uint64)   # every word must be written
    for sl in (np.arange(0, 11), np.arange(11, 37)):
        packed = read_packed(fs.bed_path, variant_idx[sl], n)
        packed_bits(packed, sl.astype(np.int64), samples, all_samples, bits)
    np.testing.assert_array_equal(bits, ref)
    if all_samples:  # the gather path gives the same planes as the 64-at-a-time path
        gathered = np.full(ref.shape, 7, dtype=np.uint64)
        packed_bits(read_packed(fs.bed_path, variant_idx, n), np.arange(37), samples, False,
                    gathered)
        np.testing.assert_array_equal(gathered, ref)


def test_packed_bits_sample_subset_in_any_order(tmp_path):
    fs = _fileset(tmp_path, 201, 9, seed=5)
    samples = np.array([200, 3, 7, 150, 0, 64, 65, 199, 128, 4], dtype=np.int64)
    ref = _reference_bits(fs, np.arange(9), samples)
    bits = np.empty_like(ref)
    packed_bits(read_packed(fs.bed_path, np.arange(9), 201), np.arange(9), samples, False, bits)
    np.testing.assert_array_equal(bits, ref)


def test_read_packed_span_reuses_a_buffer(tmp_path):
    from gwasrep.io.plink import read_packed_span

    fs = _fileset(tmp_path, 130, 37, seed=1)
    buf = np.empty((20, fs.bytes_per_variant), dtype=np.uint8)
    for lo, hi in ((0, 20), (17, 37), (5, 6)):
        got = read_packed_span(fs.bed_path, lo, hi, 130, buf)
        assert np.shares_memory(got, buf)
        np.testing.assert_array_equal(got, read_packed(fs.bed_path, np.arange(lo, hi), 130))
    np.testing.assert_array_equal(read_packed_span(fs.bed_path, 30, 37, 130),
                                  read_packed(fs.bed_path, np.arange(30, 37), 130))
