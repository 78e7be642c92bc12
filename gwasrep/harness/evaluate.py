"""What ``gwasrep evaluate`` measures (GEMCONT Sec. 3.2-3.3, Figs. 3-4), its configuration and
its report; the runner is :func:`gwasrep.harness.run.run_evaluate`.

- :func:`reference_recovery`: the fraction of a reference GWAS's independent loci that
  reach significance in a method's GWAS after Bonferroni over the reference loci (the
  enrichment of disease loci, Figs. 3a/4a);
- :func:`prediction_auc`: ROC-AUC of an L2-regularized logistic regression from features
  (embeddings, a PRS, a biomarker) for a binary label, cross-validated (Fig. 3b);
- :func:`polygenic_score`: a panel's score on a cohort's genotypes (the PRS-only model);
- :func:`plot_violins`: embedding PC1 and the biomarker by case/control status (Fig. 3c).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gwasrep.errors import InputError, preview
from gwasrep.io.atomic import atomic_path, atomic_write_text
from gwasrep.io.checks import check_column
from gwasrep.io.plink import PlinkFileset, read_dosages
from gwasrep.io.tables import read_table
from gwasrep.loci.harmonize import align_alleles
from gwasrep.loci.plots import plot_comparison

__all__ = ["AucResult", "EvaluateConfig", "PanelVariants", "binary_label", "check_config",
           "match_panel", "plot_violins", "polygenic_score", "predict_labels",
           "prediction_auc", "read_labels", "reference_recovery", "violin_figure",
           "write_evaluation"]


def reference_recovery(sumstats: pd.DataFrame, reference_ids, *, p_col: str = "P",
                       alpha: float = 0.05) -> dict:
    """How many of the reference loci a method's GWAS finds at ``alpha / K``.

    Parameters
    ----------
    sumstats : DataFrame with ID and ``p_col``
    reference_ids : the index variants of the K reference loci (IDs)

    Returns
    -------
    dict with ``n_reference`` (K), ``n_tested`` (reference variants in the sumstats),
    ``n_significant``, ``fraction`` (n_significant / K: an untested reference variant
    counts as not found) and ``threshold`` (alpha / K).
    """
    ref = pd.unique(np.asarray(list(reference_ids), dtype=object).astype(str))
    if ref.size == 0:
        raise InputError("the reference lists no loci")
    p = sumstats.set_index(sumstats["ID"].astype(str))[p_col]
    p = p[~p.index.duplicated()].reindex(ref).to_numpy(dtype=float)
    thr = alpha / ref.size
    sig = np.nan_to_num(p, nan=1.0) < thr
    return {"n_reference": int(ref.size), "n_tested": int(np.isfinite(p).sum()),
            "n_significant": int(sig.sum()), "fraction": float(sig.mean()),
            "threshold": float(thr)}


def binary_label(values, name: str) -> np.ndarray:
    """A label column as 0/1 floats (NaN where missing): 0/1, False/True or two strings
    (sorted: the second is the case).

    Raises
    ------
    InputError
        If the column has more or fewer than two distinct values.
    """
    s = pd.Series(values)
    known = s.dropna()
    levels = sorted(pd.unique(known.astype(str)))
    if len(levels) != 2:
        raise InputError(f"label {name}: expected a binary column (two values, e.g. 0/1); "
                         f"found {len(levels)} distinct values ({preview(levels)})")
    if set(levels) <= {"0", "1", "0.0", "1.0", "False", "True"}:
        case = {"1", "1.0", "True"}
    else:
        case = {levels[1]}
    out = np.where(s.isna(), np.nan, s.astype(str).isin(case).astype(float))
    return out.astype(float)


@dataclass
class AucResult:
    """Cross-validated ROC-AUC of one model for one label."""

    mean: float
    sd: float
    #: AUC of each fold.
    folds: list[float]
    n_cases: int
    n_controls: int


def prediction_auc(X: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0,
                   C: float = 1.0) -> AucResult:
    """ROC-AUC of ``y`` (0/1) from the features ``X`` (n, k) by L2-regularized logistic
    regression on standardized features, with ``folds`` stratified shuffled folds.

    Each fold's model is fitted on the other folds (``C`` is the inverse penalty, as in
    scikit-learn, on the log-likelihood summed over samples); its AUC is computed on the
    held-out fold. Returns the mean and SD (ddof=1) over folds.
    """
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y, float)
    ok = np.isfinite(y) & np.isfinite(X).all(axis=1)
    X, y = X[ok], y[ok].astype(int)
    n_cases, n_controls = int(y.sum()), int((1 - y).sum())
    if min(n_cases, n_controls) < folds:
        raise InputError(f"a label needs at least {folds} cases and {folds} controls for "
                         f"{folds}-fold cross-validation; found {n_cases} and {n_controls}")
    aucs = []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
        model.fit(X[tr], y[tr])
        aucs.append(float(roc_auc_score(y[te], model.decision_function(X[te]))))
    return AucResult(mean=float(np.mean(aucs)), sd=float(np.std(aucs, ddof=1)), folds=aucs,
                     n_cases=n_cases, n_controls=n_controls)


@dataclass
class PanelVariants:
    """A PRS panel matched to a .bim: the variants used, their sign and weight."""

    vidx: np.ndarray
    #: +1 where the panel's A1 is the .bim's A1, -1 where it is the .bim's A2.
    sign: np.ndarray
    beta: np.ndarray
    notes: list[str]


def match_panel(fileset: PlinkFileset, panel: pd.DataFrame, *, option: str = "--panel"
                ) -> PanelVariants:
    """The panel's variants found in the .bim with matching alleles (an error if none, or
    if a column is missing or BETA is not numeric)."""
    need = [c for c in ("ID", "A1", "BETA") if c not in panel.columns]
    if need:
        raise InputError(f"{option}: expected columns ID, A1 and BETA; missing "
                         f"{', '.join(need)} (found {preview(panel.columns, 8)})")
    ids = panel["ID"].astype(str)
    beta = check_column(panel["BETA"], source=option, column="BETA", ids=ids.to_numpy(),
                        required="an effect")
    bim = fileset.bim.drop_duplicates("ID", keep=False).set_index("ID")
    present = ids.isin(bim.index).to_numpy()
    sub = panel[present]
    status, sign = align_alleles(sub["A1"], None, bim.loc[sub["ID"], "A1"],
                                 bim.loc[sub["ID"], "A2"])
    use = sign != 0
    notes = []
    if (~present).any() or (~use).any():
        notes.append(f"PRS: {int((~present).sum()):,} panel variants not in the .bim and "
                     f"{int((~use).sum()):,} with other alleles left out of {len(panel):,}")
    if not use.any():
        raise InputError(f"{option}: none of its {len(panel):,} variants is in the .bim with "
                         f"matching alleles (e.g. {preview(ids, 3)})")
    pos = pd.Series(np.arange(len(fileset.bim)), index=fileset.bim["ID"].astype(str))
    return PanelVariants(vidx=pos.loc[sub["ID"].to_numpy()[use]].to_numpy(),
                         sign=np.asarray(sign)[use], beta=beta[present][use], notes=notes)


def polygenic_score(fileset: PlinkFileset, panel: pd.DataFrame | PanelVariants,
                    sample_idx: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``sum_j BETA_j x dosage of A1_j`` over the panel variants found in the .bim.

    Panel variants are matched by ID and aligned on A1 (a panel A1 that is the .bim's A2
    counts ``2 - d``); missing calls take the variant's mean. Returns the score of each
    sample of ``sample_idx`` and notes on the variants left out.
    """
    pv = panel if isinstance(panel, PanelVariants) else match_panel(fileset, panel)
    X = read_dosages(fileset, pv.vidx, sample_idx)
    X = np.where(pv.sign < 0, 2.0 - X, X)
    X = np.where(np.isfinite(X), X, np.nanmean(X, axis=0))
    return X @ pv.beta, list(pv.notes)


def plot_violins(pc1: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                 biomarker: tuple[str, np.ndarray] | None, path: str | os.PathLike) -> Path:
    """One row per label: each method's embedding PC1 (and the biomarker) for controls and
    cases, as violins (Fig. 3c)."""
    from gwasrep.io.figures import pyplot, save_figure

    plt = pyplot()
    series = dict(pc1)
    if biomarker is not None:
        series[biomarker[0]] = biomarker[1]
    fig, axes = plt.subplots(len(labels), len(series), figsize=(2.2 * len(series) + 0.6,
                                                                2.4 * len(labels)),
                             squeeze=False)
    for i, (lab, y) in enumerate(labels.items()):
        for j, (name, v) in enumerate(series.items()):
            ax = axes[i, j]
            ok = np.isfinite(v) & np.isfinite(y)
            groups = [v[ok & (y == 0)], v[ok & (y == 1)]]
            if min(len(g) for g in groups) >= 2:
                ax.violinplot(groups, showmedians=True)
            ax.set_xticks([1, 2], ["control", "case"], fontsize=7)
            ax.set_title(f"{name}" + (" PC1" if name in pc1 else ""), fontsize=8)
            if j == 0:
                ax.set_ylabel(lab, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


@dataclass
class EvaluateConfig:
    """``gwasrep evaluate``: trait generators compared on a real cohort (GEMCONT Figs. 3-4)."""

    #: Method name -> its embeddings table (data_specs/embeddings.md).
    embeddings: dict[str, Path]
    bed: Path
    out: Path
    covar: Path | None = None
    covar_cols: list[str] | None = None
    #: Principal components of each method's embeddings tested (None: all columns).
    pcs: int | None = 10
    inverse_normal: bool = True
    keep: Path | None = None
    #: The reference (disease) GWAS's independent loci: ID, with CHROM and POS.
    reference: Path | None = None
    #: sample_id and binary label columns (and the biomarker).
    labels: Path | None = None
    label_cols: list[str] | None = None
    biomarker: str | None = None
    #: A variant panel (ID, A1, BETA) for the PRS-only model.
    panel: Path | None = None
    #: Clumping of each method's loci (GEMCONT: 5e-8, r^2 0.05, 5 Mb).
    clump_p: float = 5e-8
    clump_r2: float = 0.05
    clump_kb: float = 5000.0
    #: Window of the unique-loci comparison.
    window_kb: float = 250.0
    #: LD scores for LDSC h2 per dimension.
    ref_ld: Path | None = None
    #: Estimate MI between each method's embeddings and the genotypes (``mi_extract``).
    mi: bool = False
    mi_extract: Path | None = None
    mi_seeds: int = 3
    folds: int = 5
    #: Inverse L2 penalty of the logistic regressions.
    logistic_c: float = 1.0
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)


def check_config(cfg: EvaluateConfig) -> None:
    if not cfg.embeddings:
        raise InputError("--emb: expected at least one NAME=PATH")
    for name, path in cfg.embeddings.items():
        if not name or not name.replace("-", "_").replace(".", "_").isidentifier():
            raise InputError(f"--emb {name}={path}: the name must be letters, digits, '_', "
                             "'-' or '.'")
        if not Path(path).is_file():
            raise InputError(f"--emb {name}={path}: file not found")
    if cfg.pcs is not None and cfg.pcs < 1:
        raise InputError(f"--pcs {cfg.pcs}: expected at least 1")
    if cfg.biomarker and cfg.labels is None:
        raise InputError("--biomarker needs --labels (the table that holds it)")
    # Numeric ranges (folds, C, clump and window settings, threads): gwasrep.options.
    if cfg.mi_extract is not None and not cfg.mi:
        raise InputError("--mi-extract needs --mi")
    for name, path in (("--labels", cfg.labels), ("--reference", cfg.reference),
                       ("--panel", cfg.panel), ("--covar", cfg.covar), ("--keep", cfg.keep),
                       ("--mi-extract", cfg.mi_extract)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{name} {path}: file not found")


def read_labels(cfg: EvaluateConfig) -> tuple[pd.DataFrame, list[str]]:
    """The label table indexed by sample_id: binary labels as 0/1, and their names."""
    tab = read_table(cfg.labels)
    if "sample_id" not in tab.columns:
        raise InputError(f"--labels {cfg.labels}: expected a sample_id column; found "
                         f"{preview(tab.columns, 8)}")
    dup = tab["sample_id"].astype(str).duplicated()
    if dup.any():
        raise InputError(f"--labels {cfg.labels}: sample_id {tab['sample_id'][dup].iloc[0]!r} "
                         f"appears more than once ({int(dup.sum()):,} repeated IDs); expected "
                         "one row per sample")
    tab = tab.set_index(tab["sample_id"].astype(str).rename(None))
    if cfg.biomarker and cfg.biomarker not in tab.columns:
        raise InputError(f"--biomarker {cfg.biomarker}: no such column in {cfg.labels} (found "
                         f"{preview(tab.columns, 8)})")
    skip = {"sample_id", "FID", "IID", cfg.biomarker}
    cols = cfg.label_cols or [c for c in tab.columns if c not in skip]
    missing = [c for c in cols if c not in tab.columns]
    if missing or not cols:
        raise InputError(f"--label-cols: {', '.join(missing) or 'no label columns'} not in "
                         f"{cfg.labels} (found {preview(tab.columns, 8)})")
    out = pd.DataFrame({c: binary_label(tab[c].to_numpy(), c) for c in cols}, index=tab.index)
    if cfg.biomarker:
        out[cfg.biomarker] = pd.to_numeric(tab[cfg.biomarker], errors="coerce")
    return out, cols


def predict_labels(cfg: EvaluateConfig, embs, labels: pd.DataFrame, label_cols: list[str],
             fileset, panel) -> tuple[pd.DataFrame, dict, list[str]]:
    """ROC-AUC of every method's embeddings (and the PRS, the biomarker) for every label."""
    from sklearn.decomposition import PCA

    rows, pc1, notes = [], {}, []
    # Every model is scored on the same people: those with labels, finite embeddings of
    # every method, genotypes (for the PRS) and the biomarker.
    rows_of = {}
    common = labels.index
    for name, e in embs.items():
        ids = pd.Index(e.keys.keys if not e.keys.paired else
                       [k.split("\t")[1] for k in e.keys.keys])
        if not ids.isin(labels.index).any():
            raise InputError(f"--labels {cfg.labels}: none of its samples is in --emb {name} "
                             f"(e.g. {preview(labels.index, 3)} vs {preview(ids, 3)})")
        first = ~ids.duplicated()
        finite = np.isfinite(e.values).all(axis=1)
        rows_of[name] = pd.Series(np.flatnonzero(first), index=ids[first])
        common = common[common.isin(ids[first & finite])]
    fam_ids = pd.Index(fileset.fam["IID"].astype(str))
    if panel is not None:
        common = common[common.isin(fam_ids)]
    if cfg.biomarker:
        common = common[np.isfinite(labels.loc[common, cfg.biomarker].to_numpy(float))]
    if len(common) == 0:
        raise InputError(f"--labels {cfg.labels}: no sample has a label, finite embeddings of "
                         f"every method{', genotypes' if panel is not None else ''}"
                         f"{f' and {cfg.biomarker}' if cfg.biomarker else ''}")
    lab = labels.loc[common]
    if len(common) < len(labels):
        notes.append(f"prediction: {len(common):,} of the {len(labels):,} labelled samples "
                     "have finite embeddings of every method"
                     f"{', genotypes' if panel is not None else ''}"
                     f"{f' and {cfg.biomarker}' if cfg.biomarker else ''}; every model is "
                     "scored on them")
    for name, e in embs.items():
        X = e.values[rows_of[name].loc[common].to_numpy()]
        sd = X.std(0)
        scores = PCA(n_components=1, random_state=0).fit_transform(
            (X - X.mean(0)) / np.where(sd > 0, sd, 1))[:, 0]
        pc1[name] = pd.Series(scores, index=common)
        for c in label_cols:
            res = prediction_auc(X, lab[c].to_numpy(), folds=cfg.folds, C=cfg.logistic_c)
            rows.append({"MODEL": name, "KIND": "embeddings", "LABEL": c, "AUC": res.mean,
                         "AUC_SD": res.sd, "N_CASES": res.n_cases,
                         "N_CONTROLS": res.n_controls})
    baselines = {}
    if panel is not None:
        prs, pn = polygenic_score(fileset, panel, fam_ids.get_indexer(common))
        notes += pn
        baselines["PRS"] = pd.Series(prs, index=common)
    if cfg.biomarker:
        baselines[cfg.biomarker] = lab[cfg.biomarker]
    for name, v in baselines.items():
        for c in label_cols:
            res = prediction_auc(v.to_numpy(), lab[c].to_numpy(), folds=cfg.folds,
                                 C=cfg.logistic_c)
            rows.append({"MODEL": name, "KIND": "PRS" if name == "PRS" else "biomarker",
                         "LABEL": c, "AUC": res.mean, "AUC_SD": res.sd,
                         "N_CASES": res.n_cases, "N_CONTROLS": res.n_controls})
    return pd.DataFrame(rows), pc1, notes


def violin_figure(cfg: EvaluateConfig, pc1: dict, labels: pd.DataFrame, label_cols, out: Path):
    common = labels.index
    for s in pc1.values():
        common = common.intersection(s.index)
    series = {n: s.reindex(common).to_numpy() for n, s in pc1.items()}
    labs = {c: labels.loc[common, c].to_numpy() for c in label_cols}
    bio = (cfg.biomarker, labels.loc[common, cfg.biomarker].to_numpy()) if cfg.biomarker \
        else None
    return plot_violins(series, labs, bio, out / "violins.png")


def write_evaluation(cfg: EvaluateConfig, table: pd.DataFrame, prediction: pd.DataFrame, cmp,
                      out: Path, notes: list[str], label_cols: list[str]) -> dict[str, Path]:
    files = {"table": out / "evaluation.parquet", "table_tsv": out / "evaluation.tsv",
             "report": out / "evaluation.md", "loci_plot": out / "loci.png"}
    with atomic_path(files["table"]) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(files["table_tsv"]) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    if len(prediction):
        files["prediction"] = out / "prediction.tsv"
        with atomic_path(files["prediction"]) as tmp:
            prediction.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    plot_comparison(cmp.table, files["loci_plot"])
    lines = ["# gwasrep evaluate", "",
             f"- cohort: {cfg.bed}; methods: {', '.join(table['METHOD'])}",
             f"- GWAS: multi-trait LRT on the top {cfg.pcs} PCs of each method's embeddings"
             f"{', adjusted INT' if cfg.inverse_normal else ''}"
             f"{f', covariates {cfg.covar}' if cfg.covar else ''}; loci: PLINK clumping at "
             f"p < {cfg.clump_p:g}, r2 {cfg.clump_r2:g}, {cfg.clump_kb:g} kb; window loci "
             f"{cfg.window_kb:g} kb (unique: no other method's significant variant nearby)", ""]
    cols = [c for c in ("METHOD", "N_SAMPLES", "PCS", "LAMBDA_GC", "N_SIGNIFICANT",
                        "N_CLUMPED_LOCI", "N_WINDOW_LOCI", "N_UNIQUE_LOCI", "N_REFERENCE",
                        "REF_SIGNIFICANT_P", "REF_FRACTION_P", "LDSC_H2_MEAN", "MI_JSE_MEAN")
            if c in table.columns]
    lines += ["## Genetic signal", "", "| " + " | ".join(cols) + " |",
              "|" + "---|" * len(cols)]
    for r in table[cols].itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v)
                                       for v in r) + " |")
    if "N_REFERENCE" in table.columns:
        lines += ["", f"Reference loci found: the reference's index variants with P < 0.05 / "
                      f"{int(table['N_REFERENCE'].iloc[0])} (Bonferroni over the reference "
                      "loci) in each method's GWAS."]
    if len(prediction):
        lines += ["", "## Disease prediction (ROC-AUC, mean ± sd over "
                      f"{cfg.folds} folds; L2-logistic regression, C = {cfg.logistic_c:g})",
                  "", "| model | " + " | ".join(label_cols) + " |",
                  "|" + "---|" * (len(label_cols) + 1)]
        for model, g in prediction.groupby("MODEL", sort=False):
            g = g.set_index("LABEL")
            lines.append(f"| {model} | " + " | ".join(
                f"{g.loc[c, 'AUC']:.3f} ± {g.loc[c, 'AUC_SD']:.3f}" for c in label_cols) + " |")
        lines += ["", "![PC1 by case/control status](violins.png)"]
    lines += ["", "![Loci per method](loci.png)", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    atomic_write_text(files["report"], "\n".join(lines))
    return files
