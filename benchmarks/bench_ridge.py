"""gwasrep assoc --lmm ridge vs BOLT-LMM (--lmmInfOnly) on a related cohort, in one run.

    python benchmarks/bench_ridge.py [--data benchmarks/data/related50k] [--threads 2]
        [--bolt-dims K] [--skip-bolt] [--gwasrep-args "--lmm ridge"]
        [--n-samples 50000 --n-variants 200000 --n-traits 10]

The data are those of ``make_related_cohort.py`` (generated into ``--data`` if
``related.bed`` is missing, with the size options passed through). gwasrep tests all
D embedding dimensions in one process (multi-trait LRT plus per-dimension tests on the
LOCO residuals of the ridge step 1); BOLT-LMM fits one trait per process, so it runs
once per dimension on ``related_pheno.txt`` (y_k = INT(emb_k), what gwasrep tests after
its default preprocessing). With ``--bolt-dims K < D`` BOLT runs on the first K
dimensions only and its D-dimension total is extrapolated linearly (marked as such).

Wall time, CPU time and peak RSS come from wait4() (``measure`` of bench_assoc.py).
Agreement: Spearman correlation of -log10 P between gwasrep's ``P_k`` and BOLT's
``P_BOLT_LMM_INF`` per dimension run, and lambda GC of both. Prints a Markdown table
for benchmarks/RESULTS.md and writes benchmarks/runs/ridge.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from bench_assoc import measure  # noqa: E402

HERE = Path(__file__).parent.resolve()
NAME = "related"


def lambda_gc(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=float)
    p = p[np.isfinite(p) & (p > 0) & (p <= 1)]
    if p.size == 0:
        return float("nan")
    return float(np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1))


def neglog10(p: pd.Series) -> np.ndarray:
    return -np.log10(np.clip(p.to_numpy(dtype=float), 1e-300, 1.0))


def ensure_data(args: argparse.Namespace) -> Path:
    data = args.data.resolve()
    if not (data / f"{NAME}.bed").exists():
        cmd = [sys.executable, str(HERE / "make_related_cohort.py"), "--out", str(data)]
        for opt in ("n_samples", "n_variants", "n_traits"):
            val = getattr(args, opt)
            if val is not None:
                cmd += [f"--{opt.replace('_', '-')}", str(val)]
        print("generating:", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return data


def timings(run: dict) -> dict:
    """Stage timings of a gwasrep run.json (any number under a key with ``time`` or ending
    in ``_s``), and the null-model / ridge settings without the per-group matrices."""
    found = {}

    def walk(obj, path, timed):
        if isinstance(obj, dict):
            for k, v in obj.items():
                key = f"{path}.{k}" if path else k
                t = timed or k.endswith("_s") or "time" in k
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    if t:
                        found[key] = v
                else:
                    walk(v, key, t)

    walk(run, "", False)
    for key in ("null_model", "ridge"):
        if isinstance(run.get(key), dict):
            found[f"{key} (settings)"] = {
                k: v for k, v in run[key].items()
                if k not in ("time_s", "C0_by_group", "groups", "chromosomes")}
    return found


def fmt_s(x: float) -> str:
    return f"{x:,.1f} s" if x < 600 else f"{x:,.0f} s ({x / 60:.1f} min)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE / "data" / "related50k")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-samples", type=int, help="generator size, if --data is missing")
    ap.add_argument("--n-variants", type=int, help="generator size, if --data is missing")
    ap.add_argument("--n-traits", type=int, help="generator size, if --data is missing")
    ap.add_argument("--gwasrep-args", default="--lmm ridge",
                    help="model options of `gwasrep assoc` (default: %(default)s)")
    ap.add_argument("--bolt-dims", type=int,
                    help="run BOLT on the first K dimensions only and extrapolate to D")
    ap.add_argument("--skip-bolt", action="store_true")
    ap.add_argument("--bolt-extra", default="", help="extra BOLT options, e.g. --maxModelSnps=N")
    ap.add_argument("--runs", type=Path, default=HERE / "runs",
                    help="where outputs and ridge.json go (default: %(default)s)")
    args = ap.parse_args()

    data = ensure_data(args)
    bed = data / NAME
    meta_path = data / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    emb_cols = [c for c in pd.read_parquet(data / f"{NAME}_emb.parquet").columns
                if c.startswith("emb_")]
    D = len(emb_cols)
    n = sum(1 for _ in open(bed.with_suffix(".fam")))
    m = sum(1 for _ in open(bed.with_suffix(".bim")))
    runs = args.runs.resolve()
    runs.mkdir(parents=True, exist_ok=True)
    out = runs / "ridge_gwasrep"
    env_threads = str(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", env_threads)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", env_threads)

    gw = shutil.which("gwasrep") or sys.exit("gwasrep console script not found")
    gw_args = shlex.split(args.gwasrep_args)
    if "ridge" in gw_args and not any(a.startswith("--ridge-block-size") for a in gw_args):
        # gwasrep refuses a level-0 block larger than a chromosome (small test data).
        per_chrom = pd.read_csv(bed.with_suffix(".bim"), sep="\t", header=None,
                                usecols=[0])[0].value_counts().min()
        if per_chrom < 1000:
            gw_args += ["--ridge-block-size", str(int(per_chrom))]
            print(f"note: --ridge-block-size {per_chrom} (smallest chromosome)")
    gw_cmd = [gw, "assoc", "--emb", str(data / f"{NAME}_emb.parquet"), "--bed", str(bed),
              "--out", str(out), *gw_args, "--threads",
              str(args.threads), "--no-plots", "--quiet", "--overwrite"]
    if out.exists():
        shutil.rmtree(out)
    print(f"data: {data} (N={n:,}, M={m:,}, D={D})", flush=True)
    print("gwasrep:", shlex.join(gw_cmd), flush=True)
    res_gw = measure(gw_cmd, cwd=runs)
    print(f"  {fmt_s(res_gw['wall_s'])}, peak RSS {res_gw['peak_rss_mb']:,.0f} MB", flush=True)
    run_json = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    stage = timings(run_json)
    if stage:
        print("  run.json timings:")
        for k, v in stage.items():
            print(f"    {k}: {json.dumps(v, default=str) if isinstance(v, (dict, list)) else v}")
    ss = pd.read_parquet(out / "sumstats.parquet")
    gw_lambda = {c: lambda_gc(ss[c]) for c in ss.columns
                 if c == "P" or c == "P_BONF" or (c.startswith("P_") and c[2:].isdigit())}

    bolt_runs: list[dict] = []
    bolt_cmd0 = None
    if not args.skip_bolt:
        bolt = shutil.which("bolt") or sys.exit("bolt not found (use --skip-bolt)")
        k_dims = D if args.bolt_dims is None else max(1, min(D, args.bolt_dims))
        for k in range(1, k_dims + 1):
            stats_file = runs / f"ridge_bolt_y{k}.stats"
            cmd = [bolt, f"--bfile={bed}", f"--phenoFile={data / f'{NAME}_pheno.txt'}",
                   f"--phenoCol=y{k}", "--lmmInfOnly", "--LDscoresUseChip",
                   f"--numThreads={args.threads}", f"--statsFile={stats_file}",
                   *shlex.split(args.bolt_extra)]
            bolt_cmd0 = bolt_cmd0 or cmd
            print(f"bolt y{k}:", shlex.join(cmd), flush=True)
            r = measure(cmd, cwd=runs)
            st = pd.read_csv(stats_file, sep=r"\s+")
            j = ss[["ID", f"P_{k}"]].merge(st[["SNP", "P_BOLT_LMM_INF"]], left_on="ID",
                                           right_on="SNP")
            rho = stats.spearmanr(neglog10(j[f"P_{k}"]), neglog10(j["P_BOLT_LMM_INF"]))[0]
            r.update(dim=k, n_merged=int(len(j)), spearman_neglog10p=float(rho),
                     lambda_bolt=lambda_gc(st["P_BOLT_LMM_INF"]),
                     lambda_gwasrep=gw_lambda.get(f"P_{k}", float("nan")))
            print(f"  {fmt_s(r['wall_s'])}, peak RSS {r['peak_rss_mb']:,.0f} MB, "
                  f"Spearman {rho:.4f}, lambda BOLT {r['lambda_bolt']:.3f} / gwasrep "
                  f"{r['lambda_gwasrep']:.3f}", flush=True)
            bolt_runs.append(r)

    summary: dict = {}
    if bolt_runs:
        k_run = len(bolt_runs)
        wall_run = sum(r["wall_s"] for r in bolt_runs)
        extrapolated = k_run < D
        bolt_total = wall_run * D / k_run
        summary = {"bolt_dims_run": k_run, "bolt_wall_dims_run_s": wall_run,
                   "bolt_total_wall_s": bolt_total, "bolt_total_extrapolated": extrapolated,
                   "bolt_peak_rss_mb": max(r["peak_rss_mb"] for r in bolt_runs),
                   "bolt_cpu_s_per_dim": sum(r["cpu_s"] for r in bolt_runs) / k_run,
                   "ratio_gwasrep_over_bolt_total": res_gw["wall_s"] / bolt_total,
                   "spearman_min": min(r["spearman_neglog10p"] for r in bolt_runs),
                   "spearman_mean": float(np.mean([r["spearman_neglog10p"]
                                                   for r in bolt_runs]))}

    # Markdown for benchmarks/RESULTS.md.
    date = datetime.date.today().isoformat()
    cores = os.cpu_count()
    gw_label = ("assoc " + args.gwasrep_args).strip()
    lines = [f"### gwasrep `{gw_label}` vs BOLT-LMM --lmmInfOnly "
             f"(N = {n:,}, M = {m:,}, D = {D}, related)",
             "",
             f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
             f"{cores} cores, {date}; {args.threads} threads each. "
             f"Command: `python benchmarks/bench_ridge.py "
             f"{shlex.join(sys.argv[1:])}`".rstrip() + ".",
             "",
             "| tool | wall | CPU | peak RSS | notes |",
             "|---|---:|---:|---:|---|",
             f"| gwasrep assoc {args.gwasrep_args or '(linear)'} (D = {D}, one run) | "
             f"{fmt_s(res_gw['wall_s'])} | {fmt_s(res_gw['cpu_s'])} | "
             f"{res_gw['peak_rss_mb']:,.0f} MB | lambda GC multi-trait "
             f"{gw_lambda.get('P', float('nan')):.3f} |"]
    for r in bolt_runs:
        lines.append(f"| BOLT-LMM y{r['dim']} | {fmt_s(r['wall_s'])} | {fmt_s(r['cpu_s'])} | "
                     f"{r['peak_rss_mb']:,.0f} MB | Spearman -log10 P "
                     f"{r['spearman_neglog10p']:.4f}; lambda GC BOLT {r['lambda_bolt']:.3f}, "
                     f"gwasrep P_{r['dim']} "
                     f"{r['lambda_gwasrep']:.3f} |")
    if summary:
        tag = (f"**extrapolated** from {summary['bolt_dims_run']} dimension(s)"
               if summary["bolt_total_extrapolated"] else "measured")
        lines.append(f"| BOLT-LMM total, {D} dimensions | "
                     f"{fmt_s(summary['bolt_total_wall_s'])} | | "
                     f"{summary['bolt_peak_rss_mb']:,.0f} MB | {tag} |")
        lines += ["", f"gwasrep / BOLT wall ({D} dimensions, {tag}): "
                      f"**{summary['ratio_gwasrep_over_bolt_total']:.3f}** "
                      f"(BOLT / gwasrep = {1 / summary['ratio_gwasrep_over_bolt_total']:.1f}x)."]
    if stage:
        lines += ["", "gwasrep run.json timings: " + ", ".join(
            f"{k} = {v:.1f} s" for k, v in stage.items()
            if isinstance(v, float) or (isinstance(v, int) and k.endswith("_s")))]
    md = "\n".join(lines)
    print()
    print(md)

    record = {"date": date, "platform": platform.platform(), "cores": cores,
              "threads": args.threads, "argv": sys.argv[1:], "data": str(data),
              "n_samples": n, "n_variants": m, "n_traits": D, "generator": meta,
              "gwasrep": {"cmd": gw_cmd, **res_gw, "lambda_gc": gw_lambda,
                          "run_json_timings": stage},
              "bolt": {"cmd_dim1": bolt_cmd0, "runs": bolt_runs, **summary},
              "markdown": md}
    path = runs / "ridge.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
