"""The .bed decoder and writer against bed-reader (the field's reference reader)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bed_reader import open_bed

from gwasrep.errors import InputError
from gwasrep.io import open_plink, read_dosages, write_plink


@pytest.mark.parametrize("decoder", ["numpy", "numba"])
@pytest.mark.parametrize("which", ["hs1940", "simulated_with_missing"])
def test_decoder_matches_bed_reader(which, decoder, hs1940, small_cohort, monkeypatch):
    """Both decoders (numpy lookup table for small blocks, numba kernel for large ones)."""
    from gwasrep.io import plink

    monkeypatch.setattr(plink, "NUMPY_DECODE_MAX", 1 << 40 if decoder == "numpy" else 0)
    fs = open_plink(hs1940["prefix"] if which == "hs1940" else small_cohort.bed)
    rng = np.random.default_rng(0)
    vidx = np.sort(rng.choice(fs.n_variants, 400, replace=False))
    sidx = np.sort(rng.choice(fs.n_samples, fs.n_samples // 2 + 1, replace=False))
    ours = read_dosages(fs, vidx, sidx)
    with open_bed(str(fs.bed_path), count_A1=True) as bed:
        ref = bed.read(index=np.s_[sidx, vidx], dtype="float64")
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(np.nan_to_num(ours, nan=-1), np.nan_to_num(ref, nan=-1))
    assert np.isnan(ours).any() == (which != "hs1940")  # hs1940 has no missing calls


def test_writer_roundtrips_through_bed_reader(tmp_path):
    rng = np.random.default_rng(1)
    n, m = 13, 9  # n not a multiple of 4: padding bits
    G = rng.integers(-1, 3, size=(n, m)).astype(np.int8)
    bim = pd.DataFrame({"CHROM": "1", "ID": [f"v{j}" for j in range(m)], "CM": 0.0,
                        "POS": np.arange(1, m + 1) * 100, "A1": "A", "A2": "G"})
    fam = pd.DataFrame({"FID": [f"f{i}" for i in range(n)], "IID": [f"i{i}" for i in range(n)],
                        "PAT": "0", "MAT": "0", "SEX": "1", "PHENO": "-9"})
    write_plink(tmp_path / "x", G, bim, fam, chunk=4)
    with open_bed(str(tmp_path / "x.bed"), count_A1=True) as bed:
        ref = bed.read(dtype="float64")
    expect = np.where(G < 0, np.nan, G.astype(float))
    np.testing.assert_array_equal(np.nan_to_num(ref, nan=-1), np.nan_to_num(expect, nan=-1))


def test_bed_size_and_magic_are_checked(tmp_path, small_cohort):
    prefix = tmp_path / "c"
    for ext in ("bim", "fam"):
        (tmp_path / f"c.{ext}").write_bytes(small_cohort.bed.with_suffix(f".{ext}").read_bytes())
    raw = small_cohort.bed.with_suffix(".bed").read_bytes()
    (tmp_path / "c.bed").write_bytes(raw[:-5])
    with pytest.raises(InputError, match=r"size .* does not match 3,000 variants .* 400 samples"):
        open_plink(prefix)
    (tmp_path / "c.bed").write_bytes(b"\x6c\x1b\x00" + raw[3:])
    with pytest.raises(InputError, match="magic bytes 6c 1b 01, found 6c 1b 00"):
        open_plink(prefix)
