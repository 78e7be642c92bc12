"""Runners of the loci commands: ``gwasrep clump``, ``loci``, ``panel`` and ``meta``.

Each takes its ``<Command>Config``, reads the inputs, calls the numerics
(:mod:`~gwasrep.loci.clump`, :mod:`~gwasrep.loci.recovery`, :mod:`~gwasrep.loci.panel`,
:mod:`~gwasrep.loci.meta`) and writes the outputs atomically. Each command imports only its
own numerics, so ``gwasrep clump`` loads neither scipy nor matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gwasrep.errors import InputError
from gwasrep.io.atomic import atomic_path
from gwasrep.io.clumped import CLUMPED_COLUMNS, write_clumped
from gwasrep.io.plink import open_plink
from gwasrep.io.sumstats import read_effect_table, read_pvalue_arrays
from gwasrep.loci.clump import MEMBER_COLUMNS, ClumpResult, clump
from gwasrep.options import check_options, check_suffix
from gwasrep.runs import RunResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ClumpConfig", "ClumpRun", "LociConfig", "LociRun", "MetaConfig", "MetaRun",
           "PanelConfig", "PanelRun", "run_clump", "run_loci", "run_meta", "run_panel"]


def _suffixed(prefix: Path, suffix: str) -> Path:
    return prefix.with_name(prefix.name + suffix)


# --------------------------------------------------------------------------------------
# clump


@dataclass
class ClumpConfig:
    """``gwasrep clump``: PLINK 1.9 ``--clump`` of summary statistics."""

    sumstats: Path
    #: PLINK 1 fileset for LD (founders are used).
    bed: Path
    #: Output prefix: OUT.clumped, OUT.clumped.parquet, OUT.clump_members.parquet.
    out: Path
    p1: float = 1e-4
    p2: float = 1e-2
    r2: float = 0.5
    kb: float = 250.0
    #: "em" (PLINK 1.9's haplotype r^2) or "unphased".
    r2_mode: str = "em"
    snp_field: str = "ID"
    p_field: str = "P"


@dataclass(kw_only=True)
class ClumpRun(RunResult):
    """Clumps (PLINK's ``.clumped`` columns), their members and the input accounting."""

    result: ClumpResult
    counts: dict = field(default_factory=dict)

    @property
    def clumps(self) -> pd.DataFrame:
        return self.result.clumps

    @property
    def members(self) -> pd.DataFrame:
        return self.result.members

    @property
    def n_loci(self) -> int:
        return self.result.n_loci


def run_clump(cfg: ClumpConfig) -> ClumpRun:
    """Read, clump and write ``OUT.clumped``, ``OUT.clumped.parquet`` and
    ``OUT.clump_members.parquet`` (data_specs/clumps.md). pyarrow reads and writes the
    tables (no DataFrame is built) and the kernel is compiled ahead of time (numba is not
    imported)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_options(cfg)
    fileset = open_plink(cfg.bed)
    pvals, counts, notes = read_pvalue_arrays(cfg.sumstats, snp_field=cfg.snp_field,
                                              p_field=cfg.p_field)
    res = clump(pvals, fileset, p1=cfg.p1, p2=cfg.p2, r2=cfg.r2, kb=cfg.kb,
                r2_mode=cfg.r2_mode)
    out = Path(cfg.out)
    files = {"clumped": write_clumped(res.clump_columns, _suffixed(out, ".clumped"))}
    for key, suffix, cols, names in (
            ("clumped_parquet", ".clumped.parquet", res.clump_columns, CLUMPED_COLUMNS),
            ("members", ".clump_members.parquet", res.member_columns, MEMBER_COLUMNS)):
        files[key] = _suffixed(out, suffix)
        table = pa.table({n: _arrow_column(cols[n]) for n in names})
        with atomic_path(files[key]) as tmp:
            pq.write_table(table, tmp)
    return ClumpRun(files=files, notes=notes + res.notes, result=res,
                    counts={**counts, **res.counts})


def _arrow_column(values):
    """A numpy column as Arrow: object arrays (IDs, chromosomes, SP2) as strings."""
    import pyarrow as pa

    values = np.asarray(values)
    return pa.array(values, type=pa.string()) if values.dtype == object else pa.array(values)


# --------------------------------------------------------------------------------------
# loci


@dataclass
class LociConfig:
    """``gwasrep loci``: window loci per method, recovered reference loci, unique loci."""

    #: Summary statistics of each method.
    sumstats: list[Path]
    #: Output prefix: OUT.comparison.tsv, OUT.loci.tsv, OUT.png (and OUT.reference.tsv).
    out: Path
    #: Reference loci (CHROM, POS; ID for the LD rule).
    reference: Path | None = None
    #: Significance threshold (default 5e-8, or 5e-8 / bonferroni_dims).
    p: float | None = None
    bonferroni_dims: int | None = None
    window_kb: float = 250.0
    p_field: str = "P"
    #: Method names in the order of ``sumstats`` (default: each file's parent folder for
    #: ``sumstats.*`` files, else the file's stem).
    names: list[str] | None = None
    #: LD recovery rule: EM r^2 >= this with the reference variant (needs ``bed``).
    recovery_r2: float | None = None
    bed: Path | None = None

    def method_names(self) -> list[str]:
        names = self.names or [(f.parent.name if f.name.startswith("sumstats") else f.stem)
                               for f in map(Path, self.sumstats)]
        if len(names) != len(self.sumstats) or len(set(names)) != len(names):
            raise InputError(f"--name: expected {len(self.sumstats)} distinct names, one per "
                             f"--sumstats; found {names}")
        return names


@dataclass(kw_only=True)
class LociRun(RunResult):
    """One row per method (COMPARISON_COLUMNS), the loci, and the reference loci."""

    table: pd.DataFrame
    loci: pd.DataFrame
    reference: pd.DataFrame | None
    threshold: float


def run_loci(cfg: LociConfig) -> LociRun:
    """Compare methods' loci and write OUT.comparison.tsv, OUT.loci.tsv, OUT.png and, with a
    reference, OUT.reference.tsv (data_specs/loci.md)."""
    from gwasrep.io.tables import read_table
    from gwasrep.loci.plots import plot_comparison
    from gwasrep.loci.recovery import compare_methods
    from gwasrep.loci.windows import significance_threshold

    check_options(cfg)
    names = cfg.method_names()
    if cfg.recovery_r2 is not None and cfg.bed is None:
        raise InputError("--recovery-r2 needs --bed (genotypes for r^2)")
    thr = significance_threshold(cfg.p, n_dims=cfg.bonferroni_dims)
    res = compare_methods({n: read_table(f) for n, f in zip(names, cfg.sumstats, strict=True)},
                          threshold=thr, window_kb=cfg.window_kb,
                          reference=read_table(cfg.reference) if cfg.reference else None,
                          p_col=cfg.p_field, ld_r2=cfg.recovery_r2,
                          fileset=open_plink(cfg.bed) if cfg.bed else None)
    out = Path(cfg.out)
    frames = {"comparison": res.table, "loci": res.loci}
    if res.reference is not None:
        frames["reference"] = res.reference
    files = {}
    for key, frame in frames.items():
        files[key] = _suffixed(out, f".{key}.tsv")
        with atomic_path(files[key]) as tmp:
            frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    files["plot"] = plot_comparison(res.table, _suffixed(out, ".png"))
    return LociRun(files=files, notes=res.notes, table=res.table, loci=res.loci,
                   reference=res.reference, threshold=thr)


# --------------------------------------------------------------------------------------
# panel


@dataclass
class PanelConfig:
    """``gwasrep panel``: threshold external sumstats, harmonize to the cohort's A1, clump."""

    #: External GWAS: ID A1 A2 BETA SE P (and CHROM POS EAF).
    sumstats: Path
    #: The cohort's PLINK 1 fileset (alleles and LD).
    bed: Path
    #: Panel Parquet; dropped variants go to OUT-stem.dropped.tsv.
    out: Path
    p: float = 1e-5
    r2: float = 0.05
    kb: float = 5000.0
    r2_mode: str = "em"


@dataclass(kw_only=True)
class PanelRun(RunResult):
    """The panel (PANEL_COLUMNS), the dropped variants with reasons, and the counts."""

    panel: pd.DataFrame
    dropped: pd.DataFrame
    counts: dict = field(default_factory=dict)


def run_panel(cfg: PanelConfig) -> PanelRun:
    """Write OUT (Parquet) and OUT's ``.dropped.tsv`` (data_specs/panel.md)."""
    from gwasrep.loci.panel import build_panel

    check_options(cfg)
    check_suffix(cfg.out, (".parquet",), what="the panel (Parquet)")
    ext = read_effect_table(cfg.sumstats, require=("ID", "A1", "A2", "BETA", "SE", "P"))
    res = build_panel(ext, open_plink(cfg.bed), p=cfg.p, r2=cfg.r2, kb=cfg.kb,
                      source=Path(cfg.sumstats).name, r2_mode=cfg.r2_mode)
    out = Path(cfg.out)
    files = {"panel": out, "dropped": out.with_name(out.stem + ".dropped.tsv")}
    with atomic_path(files["panel"]) as tmp:
        res.panel.to_parquet(tmp, index=False)
    with atomic_path(files["dropped"]) as tmp:
        res.dropped.to_csv(tmp, sep="\t", index=False)
    return PanelRun(files=files, notes=res.notes, panel=res.panel, dropped=res.dropped,
                    counts=res.counts)


# --------------------------------------------------------------------------------------
# meta


@dataclass
class MetaConfig:
    """``gwasrep meta``: fixed-effect IVW meta-analysis with allele harmonization."""

    #: Two or more sumstats files (ID A1 A2 BETA SE, optional N EAF).
    studies: list[Path]
    #: Output .parquet, or TSV for any other suffix.
    out: Path
    #: Effect and standard-error columns (e.g. BETA_3, SE_3 of gwasrep sumstats).
    beta_col: str | None = None
    se_col: str | None = None


@dataclass(kw_only=True)
class MetaRun(RunResult):
    """The meta-analysed variants and the variants dropped per study."""

    table: pd.DataFrame
    dropped: pd.DataFrame


def run_meta(cfg: MetaConfig) -> MetaRun:
    """Read, meta-analyse and write OUT (Parquet or TSV) and OUT's ``.dropped.tsv``
    (data_specs/meta.md)."""
    from gwasrep.loci.meta import ivw_meta

    check_options(cfg)
    check_suffix(cfg.out, (".parquet", ".tsv", ".txt"), what="Parquet (.parquet) or TSV")
    seen = {}
    for p in cfg.studies:
        key = Path(p).resolve()
        if key in seen:
            raise InputError(f"meta: study {p} is given twice (also as {seen[key]}); expected "
                             "each study once")
        seen[key] = p
    studies = [read_effect_table(p, beta_col=cfg.beta_col, se_col=cfg.se_col)
               for p in cfg.studies]
    res = ivw_meta(studies, [Path(p).name for p in cfg.studies])
    out = Path(cfg.out)
    files = {"meta": out, "dropped": out.with_name(out.stem + ".dropped.tsv")}
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            res.table.to_parquet(tmp, index=False)
        else:
            res.table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    with atomic_path(files["dropped"]) as tmp:
        res.dropped.to_csv(tmp, sep="\t", index=False)
    return MetaRun(files=files, notes=res.notes, table=res.table, dropped=res.dropped)
