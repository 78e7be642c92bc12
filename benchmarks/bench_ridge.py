"""gwasrep assoc --lmm ridge vs BOLT-LMM (--lmmInfOnly, once per dimension), same files, one run.

    python benchmarks/bench_ridge.py [--n-samples 10000] [--n-variants 20000] [--traits 10]
                                     [--bolt-dims 10] [--threads 2] [--relatives auto]
    python benchmarks/bench_ridge.py --cohort benchmarks/data/related50k [--bolt-dims 1]

The cohort (written once under benchmarks/data/related_N_M_D/): a third of the samples in
sib pairs, the rest unrelated; LD-free genotypes on 22 chromosomes; D polygenic traits
(h2 0.5 over 5 % of the variants, genetic correlation 0.5). BOLT gets each trait after
gwasrep's default preprocessing (the rank-based inverse normal transform), one run per
dimension with 2 threads; ``--bolt-dims k < D`` runs the first k and scales the total by
D / k (said so in the output). Wall time and peak RSS come from wait4(). Prints a Markdown
table for benchmarks/RESULTS.md, gwasrep's stage times (run.json), the Spearman
correlation of -log10 P per dimension, and writes benchmarks/runs/ridge.json.

``--cohort DIR`` takes a cohort written by benchmarks/make_related_cohort.py (the issue's
N = 50,000 x 200,000 x 10, streamed to disk) instead of generating one in memory.
``--relatives`` is passed to gwasrep (auto: the pairs from the genotypes, timed as the
``relatives`` stage; none: plain REGENIE step 2). ``--loocv`` also runs gwasrep with
``--ridge-loocv`` (leave-one-out cross-validation) and reports it as a second row.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_assoc import measure  # noqa: E402


def make_data(d: Path, n: int, m: int, D: int) -> None:
    from gwasrep.assoc.preprocess import inverse_normal_transform
    from gwasrep.simulate.families import simulate_sibships

    if (d / "sibs.bed").exists():
        return
    n_pairs = n // 6
    sizes = np.r_[np.ones(n - 2 * n_pairs, dtype=int), np.full(n_pairs, 2)]
    t = time.perf_counter()
    simulate_sibships(d, n_families=sizes.size, n_sibs=sizes, n_variants=m, n_chrom=22,
                      n_traits=D, h2=0.5, causal_frac=0.05, seed=11)
    emb = pd.read_parquet(d / "sibs_emb.parquet")
    y = inverse_normal_transform(emb[[f"emb_{k}" for k in range(1, D + 1)]].to_numpy())
    pheno = pd.DataFrame({"FID": emb["FID"], "IID": emb["IID"],
                          **{f"y{k + 1}": y[:, k] for k in range(D)}})
    pheno.to_csv(d / "pheno.txt", sep=" ", index=False)
    print(f"generated {d} in {time.perf_counter() - t:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-samples", type=int, default=10_000)
    ap.add_argument("--n-variants", type=int, default=20_000)
    ap.add_argument("--traits", type=int, default=10)
    ap.add_argument("--bolt-dims", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cohort", type=Path, default=None)
    ap.add_argument("--relatives", default="auto")
    ap.add_argument("--loocv", action="store_true", help="also run --ridge-loocv")
    args = ap.parse_args()
    here = Path(__file__).parent.resolve()
    if args.cohort is not None:
        d = args.cohort.resolve()
        info = json.loads((d / "meta.json").read_text())
        N, M, D = info["n_samples"], info["n_variants"], info["n_traits"]
        prefix, emb, pheno = d / "related", d / "related_emb.parquet", d / "related_pheno.txt"
    else:
        N, M, D = args.n_samples, args.n_variants, args.traits
        d = here / "data" / f"related_{N}_{M}_{D}"
        # In a spawned process: wait4's peak RSS of each measured child would otherwise
        # include this process's high-water mark from generating the cohort.
        import multiprocessing

        gen = multiprocessing.get_context("spawn").Process(target=make_data, args=(d, N, M, D))
        gen.start()
        gen.join()
        if gen.exitcode != 0:
            sys.exit(f"generating the cohort in {d} failed (exit {gen.exitcode})")
        prefix, emb, pheno = d / "sibs", d / "sibs_emb.parquet", d / "pheno.txt"
    k_bolt = min(args.bolt_dims or D, D)
    runs = here / "runs" / "ridge"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    modes = {"gwasrep": []}
    if args.loocv:
        modes["gwasrep_loocv"] = ["--ridge-loocv"]
    gws, stages, sumstats = {}, {}, {}
    for name, extra in modes.items():
        gws[name] = measure([shutil.which("gwasrep"), "assoc", "--emb", str(emb), "--bed",
                             str(prefix), "--lmm", "ridge", "--threads", str(args.threads),
                             "--relatives", args.relatives, *extra, "--out", str(runs / name),
                             "--quiet"], cwd=runs)
        meta = json.loads((runs / name / "run.json").read_text())
        stages[name] = {**meta["null_model"]["time_s"], "scan": meta["scan_time_s"]}
        sumstats[name] = pd.read_parquet(runs / name / "sumstats.parquet")
    gw, ss = gws["gwasrep"], sumstats["gwasrep"]
    bolt = []
    from scipy.stats import spearmanr

    for k in range(1, k_bolt + 1):
        r = measure(["bolt", f"--bfile={prefix}", f"--phenoFile={pheno}",
                     f"--phenoCol=y{k}", "--lmmInfOnly", "--LDscoresUseChip",
                     f"--numThreads={args.threads}", f"--statsFile={runs / f'bolt_{k}.stats'}"],
                    cwd=runs)
        b = pd.read_csv(runs / f"bolt_{k}.stats", sep="\t")
        j = ss[["ID", f"P_{k}"]].merge(b, left_on="ID", right_on="SNP")
        r["spearman"] = float(spearmanr(-np.log10(j[f"P_{k}"]),
                                        -np.log10(j["P_BOLT_LMM_INF"]))[0])
        if args.loocv:
            j = sumstats["gwasrep_loocv"][["ID", f"P_{k}"]].merge(b, left_on="ID",
                                                                  right_on="SNP")
            r["spearman_loocv"] = float(spearmanr(-np.log10(j[f"P_{k}"]),
                                                  -np.log10(j["P_BOLT_LMM_INF"]))[0])
        bolt.append(r)
        print(f"BOLT dimension {k}: {r['wall_s']:.1f} s, Spearman {r['spearman']:.3f}"
              + (f" (--ridge-loocv {r['spearman_loocv']:.3f})" if args.loocv else ""))
    bolt_total = sum(r["wall_s"] for r in bolt) * D / k_bolt
    ratio = gw["wall_s"] / bolt_total
    extrap = ("" if k_bolt == D else
              f" (measured on {k_bolt} of {D} dimensions, scaled x{D / k_bolt:g})")
    print(f"\nmachine: {platform.node()}, {platform.processor() or platform.machine()}, "
          f"{args.threads} threads; {time.strftime('%Y-%m-%d')}")
    print(f"cohort: N = {N:,} (a third in sib pairs), M = {M:,}, D = {D}\n")
    print("| tool | wall (s) | peak RSS (MB) |\n|---|---|---|")
    for name, g in gws.items():
        label = "--lmm ridge" + (" --ridge-loocv" if name.endswith("loocv") else "")
        print(f"| gwasrep assoc {label} | {g['wall_s']:.1f} | {g['peak_rss_mb']:.0f} |")
    print(f"| BOLT-LMM --lmmInfOnly x {D}{extrap} | {bolt_total:.1f} | "
          f"{max(r['peak_rss_mb'] for r in bolt):.0f} |")
    for name, g in gws.items():
        rt = g["wall_s"] / bolt_total
        print(f"\nratio {name} / BOLT: {rt:.3f} (1/{1 / rt:.1f})")
        print(f"{name} stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages[name].items()
                                                 if isinstance(v, float)))
    print("Spearman of -log10 P per dimension: "
          + ", ".join(f"{r['spearman']:.3f}" for r in bolt))
    if args.loocv:
        print("with --ridge-loocv: " + ", ".join(f"{r['spearman_loocv']:.3f}" for r in bolt))
    out = {"N": N, "M": M, "D": D, "gwasrep": gw, "stages": stages["gwasrep"], "bolt": bolt,
           "bolt_total_s": bolt_total, "bolt_dims_run": k_bolt, "ratio": ratio,
           "modes": {k: {"run": gws[k], "stages": stages[k]} for k in gws}}
    (here / "runs" / "ridge.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
