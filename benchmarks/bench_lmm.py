"""gwasrep assoc --lmm vs GEMMA (kinship -gk 1, multi-trait -lmm 4) on the same files, in one run.

    python benchmarks/bench_lmm.py [--threads 2] [--sib-families 1000]
                                   [--before DIR [--before-python PY]]

Two datasets:

- mouse_hs1940 (gemma-doc): phenotypes 1 and 6 (D = 2, complete cases: N = 1,197,
  12,226 SNPs), and phenotypes 1, 4 and 6 (D = 3). GEMMA: ``-gk 1`` then ``-lmm 4 -n 1 6``
  (or ``-n 1 4 6``). gwasrep: ``grm --kind centered``, and the one-step ``assoc --lmm
  full --grm-kind centered`` that builds the GRM, fits the null and scans.
- a simulated sibship cohort (``--sib-families`` x 4 children, 20,000 SNPs,
  2 traits), the same pair of GEMMA commands against ``gwasrep assoc --lmm``.

Both tools get the same threads (OpenBLAS for GEMMA). Wall time and peak RSS
come from wait4(). ``--before DIR`` also times the one-step assoc of an earlier checkout
(benchmarks/trees.py) on the same files. Prints a Markdown table with the ratios for
benchmarks/RESULTS.md and writes benchmarks/runs/lmm.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_assoc import measure  # noqa: E402
from trees import add_arguments, gwasrep_commands, gwasrep_script  # noqa: E402

HS = Path("/usr/share/doc/gemma/example")


def prepare_hs(d: Path, phenos=(1, 6)) -> dict:
    """hs1940 as PLINK with a GEMMA .fam (phenotypes 1..6) and a gwasrep embedding table
    of the complete cases of ``phenos``."""
    d.mkdir(parents=True, exist_ok=True)
    for ext in ("bed", "bim"):
        with gzip.open(HS / f"mouse_hs1940.{ext}.gz", "rb") as fi:
            (d / f"hs.{ext}").write_bytes(fi.read())
    with gzip.open(HS / "mouse_hs1940.fam.gz", "rt") as fi:
        fam = pd.read_csv(fi, sep=r"\s+", header=None, na_values="NA", dtype={0: str, 1: str})
    fam.to_csv(d / "hs.fam", sep="\t", header=False, index=False, na_rep="NA")
    cols = [4 + k for k in phenos]
    cc = fam[cols].notna().all(axis=1)
    emb = pd.DataFrame({"FID": fam[0], "IID": fam[1],
                        **{f"p{k}": fam[4 + k] for k in phenos}})[cc]
    tag = "".join(map(str, phenos))
    emb.to_parquet(d / f"emb_{tag}.parquet", index=False)
    return {"prefix": d / "hs", "emb": d / f"emb_{tag}.parquet", "n": int(cc.sum()),
            "m": 12226, "gemma_n": list(phenos)}


def prepare_sibs(d: Path, n_families: int) -> dict:
    from gwasrep.simulate import simulate_sibships

    c = simulate_sibships(d, n_families=n_families, n_sibs=4, n_variants=20_000, n_chrom=20,
                          n_traits=2, h2=0.5, seed=3)
    emb = pd.read_parquet(c.emb)
    fam = pd.read_csv(c.bed.with_suffix(".fam"), sep=" ", header=None, dtype=str)
    fam[5] = emb["emb_1"].to_numpy()
    fam[6] = emb["emb_2"].to_numpy()
    fam.to_csv(c.bed.with_suffix(".fam"), sep="\t", header=False, index=False)
    return {"prefix": c.bed, "emb": c.emb, "n": c.n_samples, "m": c.n_variants,
            "gemma_n": [1, 2]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sib-families", type=int, default=1000)
    ap.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    add_arguments(ap)
    args = ap.parse_args()
    if args.prepare:
        data = {"hs1940 D=2": prepare_hs(args.prepare / "hs"),
                "hs1940 D=3": prepare_hs(args.prepare / "hs", (1, 4, 6)),
                f"sibships N={4 * args.sib_families}": prepare_sibs(args.prepare / "sibs",
                                                                    args.sib_families)}
        (args.prepare / "datasets.json").write_text(json.dumps(data, default=str))
        return
    runs = Path(__file__).parent.resolve() / "runs" / "lmm"
    if runs.exists():
        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    env_threads = str(args.threads)
    os.environ.update(OPENBLAS_NUM_THREADS=env_threads, OMP_NUM_THREADS=env_threads)
    gw, gemma = gwasrep_script(), shutil.which("gemma")
    trees = gwasrep_commands(args)
    # Prepare the data in a child process: a child forked from a large parent would
    # report the parent's peak RSS as its own (Linux keeps the high-water mark).
    subprocess.run([sys.executable, __file__, "--prepare", str(runs), "--sib-families",
                    str(args.sib_families)], check=True)
    data = json.loads((runs / "datasets.json").read_text())
    for ds in data.values():
        ds["prefix"], ds["emb"] = Path(ds["prefix"]), Path(ds["emb"])
    rows, info = [], {}
    # Warm the numba cache (the kernels compile once per machine), untimed.
    first = next(iter(data.values()))
    for cli in trees.values():
        subprocess.run(cli + ["assoc", "--emb", str(first["emb"]), "--bed",
                              str(first["prefix"]), "--out", str(runs / "warm"), "--lmm",
                              "full", "--quiet", "--no-plots", "--overwrite"],
                       check=True, capture_output=True)
    for name, ds in data.items():
        wd = ds["prefix"].parent
        pre = str(ds["prefix"].name)
        gk = measure([gemma, "-bfile", pre, "-gk", "1", "-o", "gk"], wd)
        mv = measure([gemma, "-bfile", pre, "-k", "output/gk.cXX.txt", "-lmm", "4", "-n",
                      *map(str, ds["gemma_n"]), "-o", "mv"], wd)
        grm = measure([gw, "grm", "--bed", pre, "--out", "ggrm", "--kind", "centered",
                       "--quiet"], wd)
        one_step = ["assoc", "--emb", str(ds["emb"]), "--bed", pre, "--lmm", "full",
                    "--grm-kind", "centered", "--no-int", "--no-regress-covariates",
                    "--threads", env_threads, "--quiet", "--overwrite"]
        one = measure([gw, *one_step, "--out", "gw"], wd)
        before = (measure(trees["before"] + one_step + ["--out", "gw_before"], wd)
                  if "before" in trees else None)
        meta = json.loads((wd / "gw" / "run.json").read_text())
        gm = pd.read_csv(wd / "output" / "mv.assoc.txt", sep="\t", dtype={"rs": str},
                         keep_default_na=False)
        ours = pd.read_parquet(wd / "gw" / "sumstats.parquet")
        m = gm.merge(ours, left_on="rs", right_on="ID")
        a, b = -np.log10(m["p_lrt"]), -np.log10(m["P"])
        agree = {"n_common": len(m), "spearman": float(a.rank().corr(b.rank())),
                 "max_abs_dlog10p": float(np.abs(a - b).max())}
        info[name] = {"n": ds["n"], "m": ds["m"], "gemma_gk": gk, "gemma_lmm4": mv,
                      "gwasrep_grm": grm, "gwasrep_assoc_lmm": one,
                      "gwasrep_assoc_lmm_before": before,
                      "gwasrep_scan_s": meta["scan_time_s"], "agreement": agree}
        g_total = gk["wall_s"] + mv["wall_s"]
        rows.append((name, "kinship", f"gemma -gk 1: {gk['wall_s']:.1f}",
                     f"gwasrep grm: {grm['wall_s']:.1f}", grm["wall_s"] / gk["wall_s"],
                     grm["peak_rss_mb"], gk["peak_rss_mb"]))
        rows.append((name, "kinship + null + scan",
                     f"gemma -gk 1 + -lmm 4: {g_total:.1f}",
                     f"gwasrep assoc --lmm: {one['wall_s']:.1f}", one["wall_s"] / g_total,
                     one["peak_rss_mb"], max(gk["peak_rss_mb"], mv["peak_rss_mb"])))
        if before is not None:
            rows.append((name, "kinship + null + scan (before)",
                         f"gemma -gk 1 + -lmm 4: {g_total:.1f}",
                         f"gwasrep assoc --lmm: {before['wall_s']:.1f}",
                         before["wall_s"] / g_total, before["peak_rss_mb"],
                         max(gk["peak_rss_mb"], mv["peak_rss_mb"])))
        print(name, json.dumps(info[name], indent=1), flush=True)
    out = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
           "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "results": info}
    (runs.parent / "lmm.json").write_text(json.dumps(out, indent=1))
    print("\n| data | stage | GEMMA (s) | gwasrep (s) | time ratio gwasrep/GEMMA | "
          "peak RSS gwasrep / GEMMA (MB) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3f} | {r[5]:.0f} / {r[6]:.0f} |")
    for name, v in info.items():
        ag = v["agreement"]
        print(f"{name}: {ag['n_common']} SNPs, Spearman(-log10 p) {ag['spearman']:.6f}, "
              f"max |d -log10 p| {ag['max_abs_dlog10p']:.3f}")


if __name__ == "__main__":
    main()
