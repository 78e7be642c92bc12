"""ContIG (issue 15): modalities from a hand-built cohort, inner/outer masks tied to modality
names in either order, BatchNorm statistics free of missing rows, burden scores, the loss
against its definition, and the bad inputs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from helpers import require_torch

torch = require_torch()

from gwasrep.errors import InputError  # noqa: E402
from gwasrep.io.plink import open_plink, write_plink  # noqa: E402
from gwasrep.models.genetics import (  # noqa: E402
    build_genetics,
    burden_scores,
    chrom_codes,
    polygenic_scores,
)
from gwasrep.models.losses import clip_loss  # noqa: E402
from gwasrep.models.methods.base import Batch  # noqa: E402
from gwasrep.models.methods.contig import ContIG  # noqa: E402

N, M = 12, 8  # samples; variants v0..v7: raw = v0, v2, v4, v6 (every 2nd); PGS on v1, v3, v5


def _cohort(tmp_path):
    """Sample 0 lacks raw (its even variants missing), 1 lacks pgs (odd PGS variants
    missing), 2 lacks both; the others have every call."""
    rng = np.random.default_rng(0)
    G = rng.integers(0, 3, size=(N, M)).astype(np.int8)
    G[0, 0::2] = -1
    G[1, [1, 3, 5]] = -1
    G[2, :] = -1
    bim = pd.DataFrame({"CHROM": "1", "ID": [f"v{j}" for j in range(M)], "CM": 0.0,
                        "POS": np.arange(M) * 1000 + 1, "A1": "A", "A2": "G"})
    fam = pd.DataFrame({"FID": [f"i{i}" for i in range(N)], "IID": [f"i{i}" for i in range(N)],
                        "PAT": "0", "MAT": "0", "SEX": "1", "PHENO": "-9"})
    write_plink(tmp_path / "c", G, bim, fam)
    w = pd.DataFrame({"ID": ["v1", "v3", "v5"], "A1": ["A", "G", "A"], "BETA": [0.5, -1.0, 2.0]})
    w.to_csv(tmp_path / "w.tsv", sep="\t", index=False)
    return open_plink(tmp_path / "c"), G


def _cfg(tmp_path, modalities, missing):
    return SimpleNamespace(modalities=modalities, missing=missing, snp_every=2,
                           pgs_weights=tmp_path / "w.tsv", pgs_cols=None, burden=None,
                           min_carriers=1, rare_maf=0.5)


@pytest.mark.parametrize("order", [["raw", "pgs"], ["pgs", "raw"]])
def test_inner_and_outer_masks_follow_modality_names(tmp_path, order):
    fs, G = _cohort(tmp_path)
    has_raw = np.ones(N, bool)
    has_raw[[0, 2]] = False
    has_pgs = np.ones(N, bool)
    has_pgs[[1, 2]] = False
    outer = build_genetics(_cfg(tmp_path, order, "outer"), "modalities")(fs, np.arange(N))
    assert outer.keep is None
    np.testing.assert_array_equal(outer.present["raw"], has_raw)
    np.testing.assert_array_equal(outer.present["pgs"], has_pgs)
    assert outer.sizes == {m: {"raw": 4, "pgs": 1}[m] for m in order}
    # raw: the even variants, mode-imputed where a sample lacks a call
    raw = outer.arrays["raw"]
    assert outer.features["raw"] == ["v0", "v2", "v4", "v6"]
    np.testing.assert_array_equal(raw[has_raw], G[has_raw][:, 0::2])
    assert np.all(raw[~has_raw] == 0)  # rows without the modality: zeros, never used
    inner = build_genetics(_cfg(tmp_path, order, "inner"), "modalities")(fs, np.arange(N))
    np.testing.assert_array_equal(inner.keep, has_raw & has_pgs)


def test_contig_loss_uses_each_modalitys_own_rows_in_either_order(tmp_path):
    fs, _ = _cohort(tmp_path)
    gi = build_genetics(_cfg(tmp_path, ["raw", "pgs"], "outer"), "modalities")(fs, np.arange(N))
    torch.manual_seed(0)
    a = ContIG("cnn", (1, 16, 16), 8, modalities={"raw": 4, "pgs": 1})
    b = ContIG("cnn", (1, 16, 16), 8, modalities={"pgs": 1, "raw": 4})
    b.load_state_dict(a.state_dict())  # weights by name: the same model, other order
    a.eval()
    b.eval()
    x = torch.randn(N, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    batch = Batch(images=x, genetics={k: torch.from_numpy(v) for k, v in gi.arrays.items()},
                  present={k: torch.from_numpy(v) for k, v in gi.present.items()})
    ident = lambda im, g: im  # noqa: E731
    with torch.no_grad():
        la, lb = a.loss(batch, ident, None), b.loss(batch, ident, None)
        img = a.project(x)
        expected = sum(clip_loss(img[batch.present[m]],
                                 a.genetic[m](batch.genetics[m][batch.present[m]]), 10.0, 0.75)
                       for m in ("raw", "pgs"))
    assert float(la) == pytest.approx(float(expected), rel=1e-6)
    assert float(lb) == pytest.approx(float(expected), rel=1e-6)
    # Tying masks to list positions (the public code's bug) gives another loss.
    with torch.no_grad():
        wrong = sum(clip_loss(img[batch.present[m2]],
                              a.genetic[m](batch.genetics[m][batch.present[m2]]), 10.0, 0.75)
                    for m, m2 in (("raw", "pgs"), ("pgs", "raw")))
    assert abs(float(wrong) - float(expected)) > 1e-3


def test_a_modality_with_fewer_than_two_samples_is_an_error(tmp_path):
    fs, _ = _cohort(tmp_path)
    w = pd.DataFrame({"ID": ["v1"], "A1": ["A"], "BETA": [1.0]})
    w.to_csv(tmp_path / "w1.tsv", sep="\t", index=False)
    cfg = _cfg(tmp_path, ["pgs"], "outer")
    cfg.pgs_weights = tmp_path / "w1.tsv"
    with pytest.raises(InputError, match=r"--modalities pgs: 1 of 3 samples have a call"):
        build_genetics(cfg, "modalities")(fs, np.array([0, 1, 2]))  # 1 and 2 lack v1


def test_chromosome_codes_are_stable_and_sorted():
    codes = chrom_codes(["1", "chr2", "X", "scaffold_b", "scaffold_a", "MT", "chrUn", "22"])
    np.testing.assert_array_equal(codes, [1, 2, 23, 1001, 1000, 26, 1002, 22])
    assert chrom_codes(["scaffold_b", "scaffold_a"]).tolist() == [1001, 1000]


def test_batchnorm_statistics_ignore_rows_without_the_modality():
    torch.manual_seed(0)
    model = ContIG("cnn", (1, 16, 16), 8, modalities={"raw": 5}).train()
    ref = ContIG("cnn", (1, 16, 16), 8, modalities={"raw": 5}).train()
    ref.load_state_dict(model.state_dict())
    naive = ContIG("cnn", (1, 16, 16), 8, modalities={"raw": 5}).train()
    naive.load_state_dict(model.state_dict())
    x = torch.randn(10, 5) + 1.0
    present = torch.tensor([True] * 6 + [False] * 4)
    x[~present] = 0.0  # zero-filled, as the data layer leaves them
    batch = Batch(images=torch.zeros(10, 1, 16, 16), genetics={"raw": x},
                  present={"raw": present})
    model.genetic_embeddings(batch)
    ref.genetic["raw"](x[present])  # the present rows alone
    naive.genetic["raw"](x)  # zero rows included (HealthML/ContIG)
    bn, bn_ref = model.genetic["raw"].encoder[2], ref.genetic["raw"].encoder[2]
    torch.testing.assert_close(bn.running_mean, bn_ref.running_mean)
    torch.testing.assert_close(bn.running_var, bn_ref.running_var)
    assert not torch.allclose(bn.running_mean, naive.genetic["raw"].encoder[2].running_mean)


def test_burden_scores_by_hand(tmp_path):
    # 6 samples, 4 variants; gene A = v0, v1; gene B = v2; gene C = v3 (one carrier).
    G = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1],
                  [-1, -1, -1, -1]], dtype=np.int8)
    bim = pd.DataFrame({"CHROM": "1", "ID": ["v0", "v1", "v2", "v3"], "CM": 0.0,
                        "POS": [1, 2, 3, 4], "A1": "A", "A2": "G"})
    fam = pd.DataFrame({"FID": list("abcdef"), "IID": list("abcdef"), "PAT": "0", "MAT": "0",
                        "SEX": "1", "PHENO": "-9"})
    write_plink(tmp_path / "b", G, bim, fam)
    fs = open_plink(tmp_path / "b")
    tab = pd.DataFrame({"ID": ["v0", "v1", "v2", "v3"], "GENE": ["A", "A", "B", "C"]})
    B, called, genes, notes = burden_scores(fs, np.arange(6), tab, min_carriers=2, rare_maf=0.5)
    assert genes == ["A", "B"]
    np.testing.assert_array_equal(B, [[0, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 0]])
    np.testing.assert_array_equal(called, [True] * 5 + [False])
    assert any("fewer than 2 carriers" in n for n in notes)
    # The rare allele named explicitly: G of v2 (carried by everyone but d and e).
    tab2 = pd.DataFrame({"ID": ["v2"], "GENE": ["B"], "A1": ["G"]})
    B2, _, _, _ = burden_scores(fs, np.arange(6), tab2, min_carriers=1, rare_maf=0.9)
    np.testing.assert_array_equal(B2[:, 0], [1, 1, 1, 1, 1, 0])
    with pytest.raises(InputError, match=r"2 of 3 rows name variants that are not in"):
        burden_scores(fs, np.arange(6), pd.DataFrame({"ID": ["v0", "x1", "x2"],
                                                      "GENE": ["A", "A", "B"]}))
    with pytest.raises(InputError, match="no gene has at least --min-carriers 9"):
        burden_scores(fs, np.arange(6), tab, min_carriers=9, rare_maf=0.5)


def test_pgs_weights_bad_inputs(tmp_path):
    fs, _ = _cohort(tmp_path)
    absent = pd.DataFrame({"ID": ["x1", "x2"], "A1": ["A", "A"], "BETA": [1.0, 2.0]})
    with pytest.raises(InputError, match=r"none of its 2 weight variants is in .*2 not in"):
        polygenic_scores(fs, np.arange(N), absent)
    other = pd.DataFrame({"ID": ["v1", "v3"], "A1": ["C", "A"], "A2": ["T", "G"],
                          "BETA": [1.0, 2.0]})
    # C/T on the other strand is G/A: v1's weight counts the .bim's A2 (2 - dosage).
    ok, _, _, _ = polygenic_scores(fs, np.arange(N), other)
    _, G = _cohort(tmp_path)
    D = np.where(G >= 0, G, np.nan).astype(float)[:, [1, 3]]
    mean = np.nanmean(D, axis=0)
    D = np.where(np.isnan(D), mean, D)
    np.testing.assert_allclose(ok[:, 0], (1.0 * (2 - D[:, 0]) + 2.0 * D[:, 1]) / 4, rtol=1e-12)
    bad = pd.DataFrame({"ID": ["v1", "v3"], "A1": ["C", "A"], "A2": ["A", "G"],
                        "BETA": [1.0, 2.0]})
    with pytest.raises(InputError, match=r"1 of 2 weight variants have alleles that match "
                                         r"neither .bim allele on either strand, e.g. v1"):
        polygenic_scores(fs, np.arange(N), bad)
    assert ok.shape == (N, 1)
    some = pd.DataFrame({"ID": ["v1", "x2"], "A1": ["A", "A"], "BETA": [1.0, 2.0]})
    _, _, _, notes = polygenic_scores(fs, np.arange(N), some)
    assert "1 of 2 weight variants are not in the .bim" in notes[0]
