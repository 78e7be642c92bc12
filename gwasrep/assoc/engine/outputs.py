"""The outputs of ``gwasrep assoc``: the sumstats schema and writer, excluded variants, variance
components, ``run.json`` and ``report.md`` (data_specs/sumstats.md, run_metadata.md,
variance_components.md).
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gwasrep import aot
from gwasrep.assoc.config import AssocConfig
from gwasrep.assoc.engine.checkpoint import load_block
from gwasrep.assoc.engine.inputs import Prepared
from gwasrep.io.atomic import atomic_path
from gwasrep.system import package_versions

__all__ = ["EXCLUDED_COLUMNS", "SumstatsWriter", "block_frame", "report", "run_metadata",
           "sumstats_schema", "write_excluded", "write_variance_components"]


def sumstats_schema(n_traits: int) -> pa.Schema:
    """Arrow schema of ``sumstats.parquet`` (see data_specs/sumstats.md)."""
    fields = [("CHROM", pa.string()), ("POS", pa.int64()), ("ID", pa.string()),
              ("REF", pa.string()), ("ALT", pa.string()), ("A1", pa.string()),
              ("A1_FREQ", pa.float64()), ("OBS_CT", pa.int64()), ("MISSING_FRAC", pa.float64()),
              ("LRT", pa.float64()), ("DF", pa.int64()), ("P", pa.float64()),
              ("P_BONF", pa.float64())]
    for k in range(1, n_traits + 1):
        fields += [(f"BETA_{k}", pa.float64()), (f"SE_{k}", pa.float64()),
                   (f"P_{k}", pa.float64())]
    return pa.schema(fields)


def block_frame(bim: pd.DataFrame, idx: np.ndarray, res: dict, D: int) -> pd.DataFrame:
    b = bim.iloc[idx]
    cols = {
        "CHROM": b["CHROM"].to_numpy(), "POS": b["POS"].to_numpy(), "ID": b["ID"].to_numpy(),
        "REF": b["A2"].to_numpy(), "ALT": b["A1"].to_numpy(), "A1": b["A1"].to_numpy(),
        "A1_FREQ": res["a1_freq"], "OBS_CT": res["obs_ct"].astype(np.int64),
        "MISSING_FRAC": res["missing_frac"], "LRT": res["lrt"],
        "DF": np.full(len(idx), D, dtype=np.int64), "P": res["p"], "P_BONF": res["p_bonf"],
    }
    for k in range(D):
        cols[f"BETA_{k + 1}"] = res["beta"][:, k]
        cols[f"SE_{k + 1}"] = res["se"][:, k]
        cols[f"P_{k + 1}"] = res["p_dim"][:, k]
    frame = pd.DataFrame(cols)
    frame["_reason"] = res["reason"]
    return frame


#: Columns of excluded_variants.tsv (data_specs/sumstats.md).
EXCLUDED_COLUMNS = ["CHROM", "POS", "ID", "A1", "A1_FREQ", "OBS_CT", "MISSING_FRAC", "REASON"]
#: Columns kept in memory for the summary, lambda GC and the plots.
_KEEP = ["CHROM", "POS", "ID", "A1", "A1_FREQ", "P", "P_BONF", "LRT"]
#: The block results behind the columns of :data:`_KEEP` and the ``P_k``.
_KEPT_FIELDS = ("a1_freq", "p", "p_bonf", "lrt", "p_dim")


class SumstatsWriter:
    """Writes finished blocks into ``sumstats.parquet``/``.tsv`` in variant order.

    Blocks arrive in any order (:meth:`add`); each is written as soon as every block
    before it is in, so memory holds only the out-of-order ones. Blocks finished by an
    earlier run (``done``) are read back from their checkpoints. Files are written to
    temporary paths in ``partial`` and renamed into ``out`` when the writer closes.
    """

    def __init__(self, out: Path, formats: tuple[str, ...], n_traits: int, bim: pd.DataFrame,
                 blocks: list[tuple[int, np.ndarray]], done: set[int], partial: Path, *,
                 bim_table: pa.Table | None = None):
        self.out, self.formats, self.D, self.bim = Path(out), formats, n_traits, bim
        #: The .bim as read (:attr:`gwasrep.io.plink.PlinkFileset.bim_table`), whose text
        #: columns the Parquet blocks take rows from without converting them again.
        self.bim_table = bim_table
        self.blocks, self.done, self.partial = blocks, done, partial
        self.files = {f"sumstats_{fmt}": self.out / f"sumstats.{fmt}" for fmt in formats}
        self.crcs: list[int] = []
        self._kept: list[tuple[np.ndarray, dict]] = []
        self._bim_arrow: dict[str, pa.Array] | None = None
        self._excluded: list[pd.DataFrame] = []
        self._ready: dict[int, dict] = {}
        self._next = 0

    def __enter__(self) -> SumstatsWriter:
        self._stack = contextlib.ExitStack()
        stack = self._stack.__enter__()
        self._tmp = {fmt: stack.enter_context(atomic_path(self.out / f"sumstats.{fmt}",
                                                          tmp_dir=self.partial))
                     for fmt in self.formats}
        self._parquet = None
        try:
            if "parquet" in self._tmp:
                # Dictionary encoding only where values repeat (chromosomes, alleles): on the
                # unique IDs and the floats it costs 3x the write time for a larger file.
                self._parquet = stack.enter_context(pq.ParquetWriter(
                    self._tmp["parquet"], sumstats_schema(self.D),
                    use_dictionary=["CHROM", "REF", "ALT", "A1"]))
            self.write_ready()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())  # close the writers, remove the temp files
            raise
        return self

    def __exit__(self, *exc) -> bool:
        if exc[0] is None and self._next != len(self.blocks):
            err = AssertionError(f"{self._next} of {len(self.blocks)} blocks written")
            self._stack.__exit__(type(err), err, None)
            raise err
        return self._stack.__exit__(*exc)

    def add(self, i: int, res: dict) -> None:
        """A finished block; writes it and every block now in order."""
        self._ready[i] = res
        self.write_ready()

    def write_ready(self) -> None:
        D = self.D
        while self._next < len(self.blocks) and (self._next in self._ready
                                                 or self._next in self.done):
            i, idx = self.blocks[self._next]
            res = self._ready.pop(i) if i in self._ready else load_block(self.partial, i)
            self.crcs.append(int(res["crc32"][0]))
            res = {k: v for k, v in res.items() if k != "crc32"}
            ok = res["reason"] == ""
            if not ok.all():
                bad = block_frame(self.bim, idx[~ok], {k: v[~ok] for k, v in res.items()}, D)
                self._excluded.append(bad[EXCLUDED_COLUMNS[:-1] + ["_reason"]]
                                      .rename(columns={"_reason": "REASON"}))
                idx = idx[ok]
                res = {k: v[ok] for k, v in res.items()}
            self._kept.append((idx, {k: res[k] for k in _KEPT_FIELDS}))
            if self._parquet is not None:
                self._parquet.write_table(self._arrow_table(idx, res))
            if "tsv" in self._tmp:
                frame = block_frame(self.bim, idx, res, D).drop(columns="_reason")
                frame.to_csv(self._tmp["tsv"], sep="\t", index=False, na_rep="NA",
                             float_format="%.10g", header=(i == 0), mode="w" if i == 0 else "a")
            self._next += 1

    def _arrow_table(self, idx: np.ndarray, res: dict) -> pa.Table:
        """The rows of :func:`block_frame` as an Arrow table of :func:`sumstats_schema`.

        Built from the arrays directly (as ``pa.Table.from_pandas`` would: NaN and None
        are nulls), the .bim's text columns converted to Arrow once per run.
        """
        if self._bim_arrow is None:
            if self.bim_table is not None:
                self._bim_arrow = {c: self.bim_table.column(c).combine_chunks().cast(pa.string())
                                   for c in ("CHROM", "ID", "A1", "A2")}
            else:
                self._bim_arrow = {c: pa.array(self.bim[c].to_numpy(), type=pa.string(),
                                               from_pandas=True)
                                   for c in ("CHROM", "ID", "A1", "A2")}
        take = pa.array(idx)
        text = {c: a.take(take) for c, a in self._bim_arrow.items()}
        D = self.D

        def num(x, t):
            return pa.array(x, type=t, from_pandas=True)

        f64, i64 = pa.float64(), pa.int64()
        cols = [text["CHROM"], num(self.bim["POS"].to_numpy()[idx], i64), text["ID"], text["A2"],
                text["A1"], text["A1"], num(res["a1_freq"], f64),
                num(res["obs_ct"].astype(np.int64), i64), num(res["missing_frac"], f64),
                num(res["lrt"], f64), num(np.full(len(idx), D, dtype=np.int64), i64),
                num(res["p"], f64), num(res["p_bonf"], f64)]
        for k in range(D):
            cols += [num(res["beta"][:, k], f64), num(res["se"][:, k], f64),
                     num(res["p_dim"][:, k], f64)]
        return pa.Table.from_arrays(cols, schema=self._parquet.schema)

    def tested(self) -> pd.DataFrame:
        """The tested variants (the summary columns), in variant order."""
        kept = self._kept or [(np.zeros(0, dtype=np.int64),
                               {k: np.zeros((0, self.D) if k == "p_dim" else 0)
                                for k in _KEPT_FIELDS})]
        idx = np.concatenate([i for i, _ in kept])
        res = {k: np.concatenate([r[k] for _, r in kept]) for k in _KEPT_FIELDS}
        b = self.bim.iloc[idx]
        cols = {"CHROM": b["CHROM"].to_numpy(), "POS": b["POS"].to_numpy(),
                "ID": b["ID"].to_numpy(), "A1": b["A1"].to_numpy(), "A1_FREQ": res["a1_freq"],
                "P": res["p"], "P_BONF": res["p_bonf"], "LRT": res["lrt"]}
        for k in range(self.D):
            cols[f"P_{k + 1}"] = res["p_dim"][:, k]
        return pd.DataFrame(cols)

    def excluded(self) -> pd.DataFrame:
        """The untested variants with their reason (:data:`EXCLUDED_COLUMNS`)."""
        return (pd.concat(self._excluded, ignore_index=True) if self._excluded
                else pd.DataFrame(columns=EXCLUDED_COLUMNS))


def write_excluded(path: Path, excluded: pd.DataFrame) -> Path:
    """``excluded_variants.tsv`` (atomically)."""
    with atomic_path(path) as tmp:
        excluded.to_csv(tmp, sep="\t", index=False, na_rep="NA", float_format="%.6g")
    return path


def write_variance_components(path: Path, setup, names: list[str]) -> Path:
    """One row per (group, dimension) with h2 and the Cg, Cn diagonals.

    Specified in data_specs/variance_components.md.
    """
    rows = []
    for g, n in zip(setup.group_names, setup.nulls, strict=True):
        for k, name in enumerate(names):
            rows.append({"GROUP": g, "DIM": k + 1, "NAME": name, "H2": n.h2[k],
                         "H2_SE": np.nan if n.h2_se is None else n.h2_se[k],
                         "VG": n.Cg[k, k], "VE": n.Cn[k, k], "METHOD": "REML" if n.restricted
                         else "ML", "CONVERGED": n.converged, "LML": n.lml})
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False, float_format="%.8g")
    return path


def _null_record(prep: Prepared) -> dict:
    null = prep.state.null
    if prep.lmm is not None:
        return {"kind": "lmm", **prep.lmm.meta}
    if prep.ridge_meta is not None:
        return {"kind": "ridge", **prep.ridge_meta,
                "C0_by_group": {g: n.C0.tolist() for g, n in
                                zip(prep.ridge_meta["groups"], prep.state.loco, strict=True)}}
    return {"kind": "linear", "lml0": null.lml0, "C0": null.C0.tolist()}


def run_metadata(cfg: AssocConfig, prep: Prepared, *, tested: pd.DataFrame, lam: dict,
                 excluded_counts: dict, backend: dict, n_blocks: int, wall: float,
                 t_scan: float) -> dict:
    """The content of ``run.json`` (data_specs/run_metadata.md)."""
    null = prep.state.null
    D = null.n_traits
    return {
        "command": "assoc",
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "inputs": prep.inputs,
        "samples": {"used": int(prep.fam_idx.size), "per_input": prep.sample_counts},
        "traits": {"n_traits": D, "names": {str(k + 1): n for k, n in enumerate(prep.trait_names)},
                   "preprocessing": prep.steps,
                   "pca_explained_variance": prep.explained},
        "covariates": {"n_covariates_with_intercept": null.n_covariates,
                       "names": prep.covariate_names},
        "null_model": _null_record(prep),
        "variants": {"selected": int(prep.variant_idx.size), "tested": int(len(tested)),
                     "excluded": excluded_counts},
        "lambda_gc": lam,
        "backend": backend,
        "block_size": cfg.block_size,
        "n_blocks": n_blocks,
        "versions": package_versions(),
        "kernels": aot.status(),
        "wall_time_s": wall,
        "scan_time_s": t_scan,
        "notes": prep.notes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def report(meta: dict, top_hits: pd.DataFrame, files: dict[str, Path]) -> str:
    """``report.md``: the run in a page (samples, traits, LMM, notes, top variants, files).

    ``meta`` is the content of run.json (:func:`run_metadata`).
    """
    excluded, lam = meta["variants"]["excluded"], meta["lambda_gc"]
    traits = meta["traits"]
    lines = ["# gwasrep assoc report", "",
             f"- samples used: {meta['samples']['used']:,}",
             f"- traits: {traits['n_traits']} ({', '.join(traits['names'].values())}); "
             f"preprocessing: {' -> '.join(meta['traits']['preprocessing']) or 'none'}",
             f"- covariates (with intercept): {meta['covariates']['n_covariates_with_intercept']}",
             f"- variants tested: {meta['variants']['tested']:,}; not tested: "
             + (", ".join(f"{v:,} {k}" for k, v in excluded.items()) or "none")
             + " (see excluded_variants.tsv)",
             f"- lambda GC: multi-trait P {lam['P']:.3f}, "
             f"P_BONF {lam['P_BONF']:.3f}",
             f"- wall time: {meta['wall_time_s']:.1f} s", ""]
    nm = meta["null_model"]
    if nm["kind"] == "lmm":
        lines += ["## Linear mixed model", "",
                  f"- kinship: {nm['mode']} rank ({nm['why']}); LOCO: {nm['loco']}; "
                  f"variance components by {nm['fit']}", ""]
        names = list(meta["traits"]["names"].values())
        for g, summ in nm["null"].items():
            which = "(all chromosomes)" if g == "all" else f"without chromosome {g}"
            lines += [f"Null model {which}: lml {summ['lml']:.6g}, "
                      f"converged {summ['converged']}", "",
                      "| dimension | h2 | " + " | ".join(f"rg with {n}" for n in names) + " |",
                      "|---" * (len(names) + 2) + "|"]
            for k, n in enumerate(names):
                rg = ["NA" if v is None else f"{v:.3f}" for v in summ["rg"][k]]
                lines.append(f"| {n} | {summ['h2'][k]:.3f} | " + " | ".join(rg) + " |")
            lines.append("")
            if len(nm["null"]) > 3:
                lines += [f"(and {len(nm['null']) - 1} more LOCO fits in run.json)", ""]
                break
    if nm["kind"] == "ridge":
        lines += ["## Whole-genome ridge regression (REGENIE step 1, LOCO)", "",
                  f"- why: {nm['why']}",
                  f"- step 1: {nm['n_variants']:,} variants in {nm['n_blocks']:,} blocks of "
                  f"{nm['block_size']:,}, {nm['cross_validation']} cross-validation, "
                  f"heritability grid {', '.join(f'{h:g}' for h in nm['h2_grid'])}; LOCO over "
                  f"{len(nm['chromosomes'])} chromosomes"]
        from gwasrep.assoc.relatives import describe_relatives

        rel = nm.get("relatives")
        lines.append(f"- relatives: {describe_relatives(rel)}"
                     + ("" if rel is None else " (column C_Phi / C0: the factor on each "
                        "dimension's residual variance)"))
        factor = (rel or {}).get("variance_factor", {})
        lines += ["", "| dimension | level-1 h2 | cross-validated R2 | C_Phi / C0 |",
                  "|---|---|---|---|"]
        for name, fit in nm["level1"].items():
            f = factor.get(name)
            lines.append(f"| {name} | {fit['h2']:g} | {fit['cv_r2']:.4f} | "
                         f"{'NA' if f is None else format(f, '.4f')} |")
        lines.append("")
    if meta["notes"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in meta["notes"]] + [""]
    lines += ["## Top variants (multi-trait LRT)", "",
              "| ID | CHROM | POS | A1 | A1_FREQ | P | P_BONF |", "|---|---|---|---|---|---|---|"]
    for r in top_hits.itertuples():
        lines.append(f"| {r.ID} | {r.CHROM} | {r.POS} | {r.A1} | {r.A1_FREQ:.3f} | {r.P:.3g} | "
                     f"{r.P_BONF:.3g} |")
    lines += ["", "## Files", ""] + [f"- {k}: {p.name}" for k, p in files.items()]
    return "\n".join(lines) + "\n"
