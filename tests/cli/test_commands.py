"""Each command turns its options into the config its runner expects (the runner is mocked).

The end-to-end CLI tests (bad input, train/embed/assoc, resume) run the real runners; these
check the translation layer of every command, option by option, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pandas as pd
from typer.testing import CliRunner

from gwasrep_cli.main import _bare_flags, app
from helpers import require_torch

runner = CliRunner()


def _call(target: str, args: list[str], result=None):
    """Invoke the CLI with ``target`` mocked; return the config it was called with."""
    result = result if result is not None else SimpleNamespace(notes=[], warnings=[])
    with mock.patch(target, return_value=result) as fake:
        res = runner.invoke(app, args)
    assert res.exit_code == 0, (res.output, res.stderr)
    assert fake.call_count == 1
    (cfg,), kwargs = fake.call_args
    return cfg, kwargs


def test_assoc_builds_assoc_config():
    from gwasrep.assoc.config import AssocConfig

    cfg, kw = _call("gwasrep.assoc.run.run_assoc", [
        "assoc", "--emb", "e.parquet", "--bed", "cohort", "--out", "res", "--covar", "c.tsv",
        "--covar-cols", "age, sex", "--meta-cols", "meta_a", "--pcs", "3", "--no-int",
        "--no-regress-covariates", "--maf", "0.01", "--geno", "0.1", "--chrom", "1,2",
        "--extract", "x.txt", "--exclude", "y.txt", "--keep", "k.txt", "--remove", "r.txt",
        "--drop-missing", "--block-size", "64", "--threads", "1", "--format", "parquet,tsv",
        "--no-plots", "--resume", "--lmm", "lowrank", "--grm-extract", "g.txt",
        "--grm-kind", "centered", "--grm-maf", "0.05", "--loco", "--reml",
        "--allow-nonconverged", "--ridge-block-size", "500", "--ridge-folds", "4",
        "--ridge-h2", "0.1, 0.5", "--quiet"])
    assert cfg == AssocConfig(
        emb=Path("e.parquet"), bed=Path("cohort"), out=Path("res"), covar=Path("c.tsv"),
        covar_cols=["age", "sex"], meta_cols=["meta_a"], pcs=3, regress_covariates=False,
        inverse_normal=False, maf=0.01, geno=0.1, chrom=["1", "2"], extract=Path("x.txt"),
        exclude=Path("y.txt"), keep=Path("k.txt"), remove=Path("r.txt"), drop_missing=True,
        block_size=64, threads=1, formats=("parquet", "tsv"), plots=False, resume=True,
        lmm="lowrank", grm_extract=Path("g.txt"), grm_kind="centered", grm_maf=0.05,
        loco=True, reml=True, allow_nonconverged=True, ridge_block_size=500, ridge_folds=4,
        ridge_h2=(0.1, 0.5))
    assert kw == {"progress": None, "figures": None}  # --no-plots: no figure process


def test_assoc_defaults_and_bare_lmm():
    from gwasrep.assoc.config import AssocConfig

    cfg, _ = _call("gwasrep.assoc.run.run_assoc",
                   ["assoc", "--emb", "e", "--bed", "b", "--quiet"])
    assert cfg == AssocConfig(emb=Path("e"), bed=Path("b"), out=Path("gwasrep_out"),
                              threads=cfg.threads)
    cfg, _ = _call("gwasrep.assoc.run.run_assoc",
                   ["assoc", "--emb", "e", "--bed", "b", "--lmm", "ridge", "--ridge-loocv",
                    "--quiet"])
    assert cfg == AssocConfig(emb=Path("e"), bed=Path("b"), out=Path("gwasrep_out"),
                              threads=cfg.threads, lmm="ridge", ridge_loocv=True)
    assert _bare_flags(["assoc", "--lmm", "--loco"]) == ["assoc", "--lmm", "auto", "--loco"]
    assert _bare_flags(["assoc", "--lmm"]) == ["assoc", "--lmm", "auto"]
    assert _bare_flags(["assoc", "--lmm", "full"]) == ["assoc", "--lmm", "full"]


def test_grm_builds_grm_config():
    from gwasrep.assoc.config import GrmConfig

    cfg, _ = _call("gwasrep.assoc.run.run_grm", [
        "grm", "--bed", "b", "--out", "g", "--kind", "centered", "--extract", "x",
        "--keep", "k", "--maf", "0.05", "--geno", "0.2", "--quiet"])
    assert cfg == GrmConfig(bed=Path("b"), out=Path("g"), kind="centered", extract=Path("x"),
                            keep=Path("k"), maf=0.05, geno=0.2)


def test_loci_commands_build_their_configs():
    from gwasrep.loci.run import ClumpConfig, LociConfig, MetaConfig, PanelConfig

    cfg, _ = _call("gwasrep.loci.run.run_clump", [
        "clump", "--sumstats", "s.parquet", "--bed", "ref", "--out", "o", "--p1", "5e-8",
        "--p2", "1e-6", "--r2", "0.1", "--kb", "150", "--r2-mode", "unphased",
        "--snp-field", "SNP", "--p-field", "P_BONF", "--quiet"])
    assert cfg == ClumpConfig(sumstats=Path("s.parquet"), bed=Path("ref"), out=Path("o"),
                              p1=5e-8, p2=1e-6, r2=0.1, kb=150.0, r2_mode="unphased",
                              snp_field="SNP", p_field="P_BONF")
    cfg, _ = _call("gwasrep.loci.run.run_loci", [
        "loci", "--sumstats", "a/sumstats.parquet", "--sumstats", "b.tsv", "--name", "A",
        "--name", "B", "--reference", "ref.tsv", "--out", "cmp", "--bonferroni-dims", "10",
        "--window-kb", "500", "--p-field", "P_BONF", "--recovery-r2", "0.6", "--bed", "g",
        "--quiet"])
    assert cfg == LociConfig(sumstats=[Path("a/sumstats.parquet"), Path("b.tsv")],
                             out=Path("cmp"), reference=Path("ref.tsv"), p=None,
                             bonferroni_dims=10, window_kb=500.0, p_field="P_BONF",
                             names=["A", "B"], recovery_r2=0.6, bed=Path("g"))
    assert cfg.method_names() == ["A", "B"]
    assert LociConfig(sumstats=[Path("a/sumstats.parquet"), Path("b.tsv")],
                      out=Path("o")).method_names() == ["a", "b"]
    cfg, _ = _call("gwasrep.loci.run.run_panel", [
        "panel", "--sumstats", "ext.tsv", "--bed", "c", "--out", "p.parquet", "--p", "1e-6",
        "--r2", "0.01", "--kb", "1000", "--quiet"])
    assert cfg == PanelConfig(sumstats=Path("ext.tsv"), bed=Path("c"), out=Path("p.parquet"),
                              p=1e-6, r2=0.01, kb=1000.0)
    cfg, _ = _call("gwasrep.loci.run.run_meta", [
        "meta", "a.tsv", "b.tsv", "c.tsv", "--out", "m.tsv", "--beta-col", "BETA_2",
        "--se-col", "SE_2", "--quiet"])
    assert cfg == MetaConfig(studies=[Path("a.tsv"), Path("b.tsv"), Path("c.tsv")],
                             out=Path("m.tsv"), beta_col="BETA_2", se_col="SE_2")


def test_heritability_commands_build_their_configs():
    from gwasrep.heritability.run import H2Config, LdscoreConfig

    cfg, kw = _call("gwasrep.heritability.run.run_ldscore", [
        "ldscore", "--bed", "ref", "--out", "ld", "--window-cm", "1", "--quiet"])
    assert cfg == LdscoreConfig(bed=Path("ref"), out=Path("ld"), window_cm=1.0)
    cfg, _ = _call("gwasrep.heritability.run.run_ldscore", [
        "ldscore", "--bed", "ref", "--out", "ld", "--window-kb", "1000", "--ldsc-compat",
        "--chunk-size", "20", "--quiet"])
    assert cfg == LdscoreConfig(bed=Path("ref"), out=Path("ld"), window_kb=1000.0,
                                ldsc_compat=True, chunk_size=20)
    assert kw == {"progress": None}
    base = ["h2", "--sumstats", "s.parquet", "--ref-ld", "ld", "--quiet"]
    cfg, _ = _call("gwasrep.heritability.run.run_h2", base)
    assert cfg == H2Config(sumstats=Path("s.parquet"), ref_ld=Path("ld"), out=Path("h2.tsv"))
    cfg, _ = _call("gwasrep.heritability.run.run_h2", base + [
        "--w-ld", "w", "--out", "h.tsv", "--no-intercept", "--not-M-5-50", "--n-blocks", "50",
        "--no-greml", "--drop-ambiguous"])
    assert cfg == H2Config(sumstats=Path("s.parquet"), ref_ld=Path("ld"), out=Path("h.tsv"),
                           w_ld=Path("w"), intercept=1.0, use_m_5_50=False, n_blocks=50,
                           add_greml=False, drop_ambiguous=True)
    cfg, _ = _call("gwasrep.heritability.run.run_h2", base + [
        "--intercept-h2", "1.05", "--greml", "vc.tsv"])
    assert (cfg.intercept, cfg.greml, cfg.add_greml) == (1.05, Path("vc.tsv"), True)


def test_h2_has_no_double_negative_flags():
    res = runner.invoke(app, ["h2", "--sumstats", "s", "--ref-ld", "l", "--no-no-intercept"])
    assert res.exit_code == 2
    assert "No such option: --no-no-intercept" in res.output + res.stderr


def test_mi_builds_mi_config():
    require_torch()  # the CLI builds the critic's config from gwasrep.mi.estimator
    from gwasrep.mi.estimator import CriticConfig
    from gwasrep.mi.run import MIConfig

    cfg, _ = _call("gwasrep.mi.run.run_mi", [
        "mi", "--emb", "e.parquet", "--bed", "c", "--out", "o", "--extract", "panel.parquet",
        "--keep", "test.txt", "--meta-cols", "a,b", "--seeds", "3", "--estimators", "jse",
        "--geno-dropout", "0.2", "--quiet"])
    assert cfg == MIConfig(emb=Path("e.parquet"), bed=Path("c"), out=Path("o"),
                           extract=Path("panel.parquet"), keep=Path("test.txt"),
                           meta_cols=["a", "b"], seeds=3,
                           critic=CriticConfig(estimators=("jse",), geno_dropout=0.2))


def test_train_and_embed_build_their_configs():
    require_torch()
    from gwasrep.models.config import PROFILES, TrainConfig
    from gwasrep.models.run import EmbedConfig

    cfg, _ = _call("gwasrep.models.run.run_train", [
        "train", "--method", "gemcont", "--images", "m.parquet", "--out", "run", "--bed", "c",
        "--panel", "p.parquet", "--split", "tr.txt", "--val", "va.txt", "--profile", "quick",
        "--encoder", "resnet18", "--geno-encoder", "mlp", "--dim", "32", "--epochs", "3",
        "--lr", "0.01", "--augment", "none", "--scarf-p", "0.2", "--temperature", "0.1",
        "--seed", "4", "--device", "cpu", "--workers", "2", "--image-size", "64", "--resume",
        "--quiet"])
    assert cfg == TrainConfig(
        method="gemcont", profile="quick", images=Path("m.parquet"), out=Path("run"),
        bed=Path("c"), panel=Path("p.parquet"), split=Path("tr.txt"), val=Path("va.txt"),
        encoder="resnet18", geno_encoder="mlp", dim=32, epochs=3, lr=0.01, augment=[],
        scarf_p=0.2, temperature=0.1, seed=4, device="cpu", workers=2, image_size=64,
        resume=True, batch_size=PROFILES["quick"]["batch_size"],
        weight_decay=PROFILES["quick"]["weight_decay"], warmup_epochs=2,
        patience=PROFILES["quick"]["patience"])
    cfg, _ = _call("gwasrep.models.run.run_train", [
        "train", "--method", "supervised", "--images", "m.npz", "--out", "r", "--target", "t.tsv",
        "--target-col", "age", "--task", "classify", "--augment", "crop, flip", "--quiet"])
    assert (cfg.method, cfg.profile, cfg.epochs, cfg.target, cfg.target_col, cfg.task,
            cfg.augment) == ("supervised", "paper", 150, Path("t.tsv"), "age", "classify",
                             ["crop", "flip"])
    cfg, _ = _call("gwasrep.models.run.run_embed", [
        "embed", "--run", "r", "--images", "m.npz", "--out", "e.parquet", "--samples",
        "r/test.txt", "--representation", "backbone", "--batch-size", "8", "--device", "cpu",
        "--quiet"])
    assert cfg == EmbedConfig(run=Path("r"), images=Path("m.npz"), out=Path("e.parquet"),
                              samples=Path("r/test.txt"), representation="backbone",
                              batch_size=8, device="cpu")


def test_train_lists_the_registered_methods():
    from gwasrep.models.methods import REGISTRY

    res = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    assert ", ".join(list(REGISTRY)[:-1]) in " ".join(res.output.split())


def test_demo_builds_demo_config():
    from gwasrep.harness.run import DemoConfig

    run = SimpleNamespace(top_hits=pd.DataFrame(columns=["ID", "CHROM", "POS", "A1", "A1_FREQ",
                                                         "P", "P_BONF"]),
                          excluded={}, n_samples=10, n_traits=2, n_variants_tested=5,
                          lambda_gc={"P": 1.0}, wall_time_s=0.1, notes=[], warnings=[],
                          out=Path("d/results"), files={"manhattan": Path("m.png"),
                                                        "qq": Path("q.png")})
    cohort = SimpleNamespace(n_samples=10, n_variants=5, n_traits=2, causal_ids=["v1"],
                             bed=Path("d/data/demo"))
    cfg, _ = _call("gwasrep.harness.run.run_demo",
                   ["demo", "--out", "d", "--seed", "3", "--n-samples", "500",
                    "--n-variants", "1000", "--quiet"],
                   SimpleNamespace(cohort=cohort, run=run, n_recovered=1, notes=[],
                                   warnings=[]))
    assert cfg == DemoConfig(out=Path("d"), seed=3, n_samples=500, n_variants=1000)


def test_help_lists_every_command_in_order():
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    names = [ln.split()[1] for ln in res.output.splitlines()
             if ln.startswith("│ ") and len(ln.split()) > 2
             and ln.split()[1].replace("-", "_").isidentifier()]
    assert names[-15:] == ["assoc", "grm", "clump", "loci", "panel", "meta", "ldscore", "h2",
                           "mi", "train", "embed", "explain", "demo", "simulate-emnist",
                           "evaluate"]


def test_simulate_emnist_builds_simulation_config():
    require_torch()
    from gwasrep.harness.run import SimulationConfig

    cfg, kw = _call("gwasrep.harness.run.run_simulation", [
        "simulate-emnist", "--out", "sim", "--profile", "smoke", "--methods", "gemcont,vae",
        "--seeds", "3", "--vary", "n_train=1_000,2000", "--vary", "h_g=0.2,0.8",
        "--emnist-dir", "E", "--n-test", "500", "--h-g", "0.6", "--alpha-max", "30",
        "--n-causal", "10", "--maf-range", "0.1,0.4", "--null-variants", "50",
        "--external-n", "3000", "--panel-null", "4", "--epochs", "3", "--batch-size", "64",
        "--dim", "8", "--pcs", "5", "--device", "cpu", "--jobs", "2", "--threads", "1",
        "--data-seed", "7", "--quiet"],
        SimpleNamespace(notes=[], warnings=[], summary=pd.DataFrame(), n_cells=0, n_reused=0,
                        files={}))
    assert cfg == SimulationConfig(
        out=Path("sim"), profile="smoke", methods=["gemcont", "vae"], seeds=3,
        vary={"n_train": [1000, 2000], "h_g": [0.2, 0.8]}, emnist_dir=Path("E"), n_test=500,
        h_g=0.6, alpha_max=30.0, n_causal=10, maf_range=(0.1, 0.4), n_null=50,
        external_n=3000, panel_null=4, epochs=3, batch_size=64, dim=8, pcs=5, device="cpu",
        jobs=2, threads=1, data_seed=7)
    assert kw == {"progress": None}


def test_evaluate_builds_evaluate_config():
    from gwasrep.harness.run import EvaluateConfig

    cfg, kw = _call("gwasrep.harness.run.run_evaluate", [
        "evaluate", "--emb", "gemcont=a.parquet", "--emb", "simclr=b.parquet", "--bed", "c",
        "--out", "ev", "--covar", "cov.tsv", "--covar-cols", "age,sex", "--pcs", "5",
        "--no-int", "--keep", "k.txt", "--reference", "ref.tsv", "--labels", "lab.tsv",
        "--label-cols", "asthma", "--biomarker", "fev1_fvc", "--panel", "p.parquet",
        "--clump-p", "1e-6", "--clump-r2", "0.1", "--clump-kb", "1000", "--window-kb", "500",
        "--ref-ld", "ld", "--mi", "--mi-extract", "p.parquet", "--folds", "3",
        "--logistic-c", "0.5", "--threads", "1", "--quiet"],
        SimpleNamespace(notes=[], warnings=[], table=pd.DataFrame(), prediction=pd.DataFrame(),
                        files={}))
    assert cfg == EvaluateConfig(
        embeddings={"gemcont": Path("a.parquet"), "simclr": Path("b.parquet")}, bed=Path("c"),
        out=Path("ev"), covar=Path("cov.tsv"), covar_cols=["age", "sex"], pcs=5,
        inverse_normal=False, keep=Path("k.txt"), reference=Path("ref.tsv"),
        labels=Path("lab.tsv"), label_cols=["asthma"], biomarker="fev1_fvc",
        panel=Path("p.parquet"), clump_p=1e-6, clump_r2=0.1, clump_kb=1000.0, window_kb=500.0,
        ref_ld=Path("ld"), mi=True, mi_extract=Path("p.parquet"), folds=3, logistic_c=0.5,
        threads=1)
    assert kw == {"progress": None}
