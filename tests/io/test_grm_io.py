"""GCTA GRM files (.grm.bin/.grm.N.bin/.grm.id): layout, round trip and bad files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwasrep.errors import InputError
from gwasrep.io.grm import read_grm, write_grm


def test_gcta_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((7, 20))
    K = A @ A.T / 20
    ids = pd.DataFrame({"FID": [f"f{i}" for i in range(7)], "IID": [f"i{i}" for i in range(7)]})
    paths = write_grm(tmp_path / "g", K, ids, 20)
    # Layout: row-major lower triangle, float32.
    raw = np.fromfile(paths["bin"], dtype="<f4")
    assert raw[:4].tolist() == pytest.approx([K[0, 0], K[1, 0], K[1, 1], K[2, 0]], rel=1e-6)
    K2, ids2, n2 = read_grm(tmp_path / "g")
    np.testing.assert_allclose(K2, K, rtol=1e-6)
    pd.testing.assert_frame_equal(ids2, ids)
    assert (n2 == 20).all()
    paths["bin"].write_bytes(paths["bin"].read_bytes()[:-4])
    with pytest.raises(InputError, match=r"bytes, expected 112 \(float32 lower triangle"):
        read_grm(tmp_path / "g")
    with pytest.raises(InputError, match="not found"):
        read_grm(tmp_path / "nothing")
