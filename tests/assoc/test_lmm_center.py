"""The LMM scan's compiled centring gives center_dosages' numbers, and the same scan."""

from __future__ import annotations

import numpy as np

from gwasrep.assoc.genotypes import center_dosages
from gwasrep.assoc.lmm.scan import _center


def _block(rng, n=157, m=41):
    G = rng.binomial(2, rng.uniform(0.02, 0.5, m), size=(n, m)).astype(float)
    G[rng.uniform(size=G.shape) < 0.05] = np.nan
    G[:, 3] = np.nan           # nothing observed
    G[:, 4] = 1.0              # monomorphic
    G[:, 5] = rng.uniform(0, 2, n)  # dosages, not hard calls
    return G


def test_center_matches_center_dosages():
    rng = np.random.default_rng(7)
    for order in ("F", "C"):
        G = np.array(_block(rng), order=order)
        ref = center_dosages(G, G.shape[0])
        cd, gg = _center(G, G.shape[0])
        np.testing.assert_array_equal(cd.obs_ct, ref.obs_ct)
        np.testing.assert_allclose(cd.mean, ref.mean, rtol=1e-15, equal_nan=True)
        np.testing.assert_allclose(cd.Gc, ref.Gc, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(gg, np.einsum("im,im->m", ref.Gc, ref.Gc), rtol=1e-13)
        np.testing.assert_allclose(cd.missing_frac, ref.missing_frac, rtol=0)
        assert cd.Gc.flags.f_contiguous
        assert np.isnan(cd.mean[3])
        assert not cd.Gc[:, 3].any()
        assert cd.obs_ct[3] == 0
        assert not cd.Gc[:, 4].any()
        # Hard calls: the very same floats.
        hard = [j for j in range(G.shape[1]) if j != 5]
        np.testing.assert_array_equal(cd.Gc[:, hard], ref.Gc[:, hard])
    cd, gg = _center(G[:, 0], G.shape[0])  # one variant as a vector
    np.testing.assert_allclose(cd.Gc[:, 0], center_dosages(G[:, 0], G.shape[0]).Gc[:, 0])
