"""The EMNIST simulation's generative model: realized h_g, the angle, the fixed test set, the
external-GWAS panel, the files written, and bad settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwasrep.errors import InputError
from gwasrep.io.plink import open_plink, read_dosages
from gwasrep.loci.panel import PANEL_COLUMNS
from gwasrep.simulate.emnist import SimulationSetting, simulate_data, write_data
from gwasrep.simulate.pools import ImagePool, warp_batch


@pytest.fixture(scope="module")
def pool():
    rng = np.random.default_rng(0)
    return ImagePool(images=rng.integers(0, 256, (9000, 12, 12), dtype=np.uint8),
                     labels=np.repeat(np.arange(9), 1000), classes=[str(k) for k in range(9)],
                     source="random test pool")


@pytest.mark.parametrize("h_g", [0.2, 0.8])
def test_realized_h_g_and_the_angle(pool, h_g):
    s = SimulationSetting(n_train=4000, n_test=4000, h_g=h_g, alpha_max=30.0, n_causal=50,
                          n_null=10, external_n=500, panel_null=2, c=0.5)
    d = simulate_data(pool, s, data_seed=1, train_seed=0)
    # Var of sqrt(h) std(G beta) is h; its sampling SE over n values is about h sqrt(2/n).
    se = h_g * np.sqrt(2 / 4000)
    for part in ("train", "test"):
        assert abs(d.realized_h_g[part] - h_g) < 4 * se, (part, d.realized_h_g[part])
    # The genetic part recomputed from the genotypes and the true effects.
    causal = d.variants["CAUSAL"].to_numpy()
    f, beta = d.variants["FREQ"].to_numpy()[causal], d.variants["BETA"].to_numpy()[causal]
    g = d.genotypes[:, causal] @ beta
    gstd = (g - 2 * f @ beta) / np.sqrt((2 * f * (1 - f) * beta**2).sum())
    resid = d.z - np.sqrt(h_g) * gstd
    assert abs(resid.var() - (1 - h_g)) < 4 * (1 - h_g) * np.sqrt(2 / 8000)
    assert abs(np.corrcoef(resid, gstd)[0, 1]) < 4 / np.sqrt(8000)
    np.testing.assert_array_equal(d.alpha, 30.0 * np.tanh(0.5 * d.z))
    assert np.abs(d.alpha).max() < 30.0
    assert 0.35 * 30 < d.alpha.std() < 0.5 * 30      # tanh(0.5 z) keeps most of z's spread
    # Every image is its pool image rotated by its alpha.
    rot = warp_batch(pool.images[d.pool_index[:50]], degrees=d.alpha[:50])
    np.testing.assert_array_equal(d.images[:50], np.clip(np.round(rot), 0, 255).astype(np.uint8))


def test_test_set_is_fixed_and_training_sets_differ(pool):
    s = SimulationSetting(n_train=1000, n_test=500, n_null=20, external_n=1000, panel_null=3)
    a = simulate_data(pool, s, data_seed=2, train_seed=0)
    b = simulate_data(pool, s, data_seed=2, train_seed=1)
    c = simulate_data(pool, s.replace(h_g=0.2), data_seed=2, train_seed=0)
    test = a.split == "test"
    np.testing.assert_array_equal(a.pool_index[test], b.pool_index[test])
    np.testing.assert_array_equal(a.images[test], b.images[test])
    np.testing.assert_array_equal(a.genotypes[test], b.genotypes[test])
    np.testing.assert_array_equal(a.pool_index[test], c.pool_index[test])  # same test images
    assert not set(a.pool_index[~test]) & set(a.pool_index[test])
    assert not np.array_equal(a.pool_index[~test], b.pool_index[~test])
    pd.testing.assert_frame_equal(a.panel, b.panel)
    again = simulate_data(pool, s, data_seed=2, train_seed=1)
    np.testing.assert_array_equal(again.images, b.images)


def test_one_factor_changes_nothing_else(pool):
    """Separate streams: more null variants leave the causal genotypes, z and the images
    alone; another h_g keeps G, the pool images drawn and the noise (z is the same mix)."""
    s = SimulationSetting(n_train=600, n_test=400, n_causal=8, n_null=10, external_n=300,
                          panel_null=2)
    a = simulate_data(pool, s, data_seed=3, train_seed=1)
    b = simulate_data(pool, s.replace(n_null=30), data_seed=3, train_seed=1)
    causal = a.variants["CAUSAL"].to_numpy()
    np.testing.assert_array_equal(a.genotypes[:, causal], b.genotypes[:, :8])
    np.testing.assert_array_equal(a.z, b.z)
    np.testing.assert_array_equal(a.images, b.images)
    c = simulate_data(pool, s.replace(h_g=0.2), data_seed=3, train_seed=1)
    np.testing.assert_array_equal(a.genotypes, c.genotypes)
    np.testing.assert_array_equal(a.pool_index, c.pool_index)
    f, beta = a.variants["FREQ"].to_numpy()[causal], a.variants["BETA"].to_numpy()[causal]
    g = a.genotypes[:, causal] @ beta
    gstd = (g - 2 * f @ beta) / np.sqrt((2 * f * (1 - f) * beta**2).sum())
    e_a = (a.z - np.sqrt(0.5) * gstd) / np.sqrt(0.5)
    e_c = (c.z - np.sqrt(0.2) * gstd) / np.sqrt(0.8)
    np.testing.assert_allclose(e_a, e_c, atol=1e-12)


def test_panel_from_the_external_gwas(pool):
    s = SimulationSetting(n_train=100, n_test=100, n_causal=15, n_null=200, external_n=20000,
                          panel_null=10, h_g=0.6)
    d = simulate_data(pool, s, data_seed=3)
    p = d.panel
    assert list(p.columns) == PANEL_COLUMNS
    v = d.variants.set_index("ID")
    assert v.loc[p["ID"], "CAUSAL"].sum() == 15
    assert (~v.loc[p["ID"], "CAUSAL"]).sum() == 10
    causal = p[v.loc[p["ID"], "CAUSAL"].to_numpy()]
    # The external GWAS estimates the marginal effect of each allele on z: with population
    # standardization that is sqrt(h_g) beta_j / sd(G beta).
    f, beta = v["FREQ"].to_numpy(), v["BETA"].to_numpy()
    sd = np.sqrt((2 * f * (1 - f) * beta**2).sum())
    truth = np.sqrt(0.6) * v.loc[causal["ID"], "BETA"].to_numpy() / sd
    assert np.abs((causal["BETA"].to_numpy() - truth) / causal["SE"].to_numpy()).max() < 5
    assert np.corrcoef(causal["BETA"], truth)[0, 1] > 0.95
    nulls = p[~v.loc[p["ID"], "CAUSAL"].to_numpy()]
    assert (np.abs(nulls["BETA"] / nulls["SE"]) < 5).all()


def test_written_files_read_back(pool, tmp_path):
    s = SimulationSetting(n_train=200, n_test=100, n_null=30, external_n=500, panel_null=2)
    d = simulate_data(pool, s, data_seed=4)
    paths = write_data(d, tmp_path / "data")
    fs = open_plink(paths["bed"])
    np.testing.assert_array_equal(read_dosages(fs, dtype=np.float64), d.genotypes)
    with np.load(paths["images"]) as z:
        np.testing.assert_array_equal(z["images"], d.images)
        assert z["sample_id"].tolist() == d.sample_ids.tolist()
    lat = pd.read_csv(paths["latent"], sep="\t")
    np.testing.assert_allclose(lat["z"], d.z, rtol=1e-9)
    assert paths["test"].read_text().split() == d.sample_ids[d.split == "test"].tolist()
    assert pd.read_parquet(paths["panel"]).shape == (s.n_causal + 2, len(PANEL_COLUMNS))


@pytest.mark.parametrize(("change", "message"), [
    ({"h_g": 0.0}, r"h_g 0.0: expected a value in \(0, 1\]"),
    ({"h_g": 1.5}, r"h_g 1.5: expected a value in \(0, 1\]"),
    ({"alpha_max": 0.0}, r"alpha_max 0.0: expected degrees in \(0, 180\]"),
    ({"alpha_max": 200.0}, r"alpha_max 200.0"),
    ({"n_causal": 0}, "n_causal .S. 0: expected at least 1"),
    ({"maf_range": (0.0, 0.3)}, r"maf_range 0.0,0.3: expected 0 < low <= high <= 0.5"),
    ({"maf_range": (0.1, 0.6)}, r"maf_range 0.1,0.6"),
    ({"panel_null": 5000}, "expected 0 <= panel_null <= n_null"),
    ({"n_fake": 3}, "--vary n_fake: not a setting"),
])
def test_bad_settings(change, message):
    with pytest.raises(InputError, match=message):
        SimulationSetting().replace(**change)


def test_pool_too_small(pool):
    s = SimulationSetting(n_train=8000, n_test=2000)
    with pytest.raises(InputError, match=r"8,000 \+ 2,000 = 10,000 images, but the image pool "
                                         r"\(random test pool\) has 9,000"):
        simulate_data(pool, s)
