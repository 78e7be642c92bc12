"""gwasrep clump vs plink1.9 --clump on the same files, side by side in one run.

    python benchmarks/bench_clump.py [--repeat 3] [--before DIR [--before-python PY]]
    python benchmarks/bench_clump.py --large DIR [--repeat 1]

Data: EUR_subset (bolt-lmm-example: 379 Europeans x 54,051 SNPs on chr17-22,
real LD) with ``plink2 --glm`` of its PHENO. ``--clump-p1 0.2`` puts more than
10,000 variants below p1. Parameter sets: PLINK's defaults with p1 = 0.2, and
GEMCONT's r2 0.05 / 5,000 kb window with p1 = 0.2. Wall time includes Python
start-up and numba (cache warm after the first, untimed, run). The results of
both tools are compared (index sets and TOTAL) in the same run. ``--before DIR`` also
times an earlier checkout (benchmarks/trees.py) on the same files.

``--large DIR``: the panel of make_ld_reference.py (generated into DIR when
DIR/meta.json is missing; N = 5,000 x M = 1,000,000 by default), ``--clump-p1 P1
--clump-p2 P1 --clump-r2 0.5 --clump-kb 250`` with P1 from DIR/meta.json. Besides
both commands' wall time and peak RSS, ``gwasrep.loci.clump.clump`` is timed
in-process on the same inputs (after a warm-up call on 2,000 rows): the whole call
(after the commands, whose peak RSS a child forked from this process would
otherwise inherit) and its ``counts["clump_seconds"]`` (bit planes + greedy kernel). Results go to
runs/clump_large.json.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_assoc import measure  # noqa: E402
from trees import add_arguments, gwasrep_commands, gwasrep_script  # noqa: E402

EUR = Path("/usr/share/doc/bolt-lmm/examples/examples.tar.xz")


def extract_eur(d: Path, names=("EUR_subset.bed", "EUR_subset.bim", "EUR_subset.fam",
                                 "EUR_subset.pheno.covars")) -> None:
    """Copy EUR_subset files out of bolt-lmm-example's tarball into ``d``."""
    with lzma.open(EUR) as xz, tarfile.open(fileobj=xz) as tar:
        for name in names:
            member = next(m for m in tar.getmembers() if m.name.endswith(name))
            (d / name).write_bytes(tar.extractfile(member).read())


def same_clumps(runs: Path, plink_out: str, gw_out: str) -> bool:
    """Same index set and TOTAL per clump in plink1.9's .clumped and gwasrep's parquet."""
    a = pd.read_csv(runs / f"{plink_out}.clumped", sep=r"\s+")
    b = pd.read_parquet(runs / f"{gw_out}.clumped.parquet")
    m = a.merge(b, on="SNP")
    return bool(set(a["SNP"]) == set(b["SNP"]) and (m["TOTAL_x"] == m["TOTAL_y"]).all())


def in_process(d: Path, p1: float) -> dict:
    """Time ``clump`` itself on the large case (warm-up call on 2,000 rows first)."""
    from gwasrep.io.plink import open_plink
    from gwasrep.io.sumstats import read_pvalues
    from gwasrep.loci.clump import clump

    t0 = time.perf_counter()
    pvals, _, _ = read_pvalues(d / "gwas.tsv")
    fs = open_plink(d / "ref")
    t_read = time.perf_counter() - t0
    clump(pvals.head(2000), fs, p1=p1, p2=p1, r2=0.5, kb=250)
    t0 = time.perf_counter()
    res = clump(pvals, fs, p1=p1, p2=p1, r2=0.5, kb=250)
    return {"read_s": round(t_read, 2), "clump_call_s": round(time.perf_counter() - t0, 2),
            "clump_seconds": res.counts["clump_seconds"], "pool": res.counts["pool"],
            "index_candidates": res.counts["index_candidates"], "clumps": res.n_loci}


def main_large(d: Path, repeat: int) -> None:
    d = d.resolve()
    if not (d / "meta.json").exists():  # in a child: its memory must not count below
        print(f"generating {d} ...", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).parent / "make_ld_reference.py"),
                        str(d)], check=True, stdout=subprocess.DEVNULL)
    meta = json.loads((d / "meta.json").read_text())
    p1 = meta["p1"]
    gw = gwasrep_script()
    cmds = {
        "plink1.9": ["plink1.9", "--bfile", "ref", "--clump", "gwas.tsv", "--clump-snp-field",
                     "ID", "--clump-field", "P", "--clump-p1", str(p1), "--clump-p2", str(p1),
                     "--clump-r2", "0.5", "--clump-kb", "250", "--out", "pl"],
        "gwasrep": [gw, "clump", "--sumstats", "gwas.tsv", "--bed", "ref", "--p1", str(p1),
                    "--p2", str(p1), "--r2", "0.5", "--kb", "250", "--out", "gw", "--quiet"],
    }
    subprocess.run(cmds["gwasrep"][:-1] + ["--p1", "1e-300"], cwd=d, check=True,
                   capture_output=True)  # numba cache warm
    res = {}
    for k, c in cmds.items():
        res[k] = min((measure(c, d) for _ in range(repeat)), key=lambda r: r["wall_s"])
        print(k, json.dumps(res[k]), flush=True)
    # After the commands: a child forked from a large process inherits its peak RSS.
    ip = in_process(d, p1)
    print("in-process clump:", json.dumps(ip), flush=True)
    same = same_clumps(d, "pl", "gw")
    pl, g = res["plink1.9"], res["gwasrep"]
    out = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
           "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "data": meta,
           "p1": p1, "variants_below_p1": meta["below_p1"], "results": res,
           "in_process": ip, "identical": same}
    (Path(__file__).parent.resolve() / "runs" / "clump_large.json").write_text(
        json.dumps(out, indent=1))
    print(f"\nN = {meta['n']:,} x M = {meta['m']:,}; {meta['below_p1']:,} variants with "
          f"p <= {p1:g}; {ip['clumps']:,} clumps; pool {ip['pool']:,}\n")
    print("| tool | wall (s) | peak RSS (MB) | clumping call (s) |\n|---|---|---|---|")
    print(f"| plink1.9 | {pl['wall_s']:.1f} | {pl['peak_rss_mb']:.0f} | |")
    print(f"| gwasrep | {g['wall_s']:.1f} | {g['peak_rss_mb']:.0f} | {ip['clump_call_s']:.1f} "
          f"(planes + kernel {ip['clump_seconds']:.1f}) |")
    print(f"\nratio gwasrep/plink1.9: wall {g['wall_s'] / pl['wall_s']:.2f}, RSS "
          f"{g['peak_rss_mb'] / pl['peak_rss_mb']:.2f}; identical: {same}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per command, best kept (default 3, 1 with --large)")
    ap.add_argument("--large", type=Path, default=None, metavar="DIR",
                    help="the large case of make_ld_reference.py in DIR (made if missing)")
    add_arguments(ap)
    args = ap.parse_args()
    if args.large is not None:
        main_large(args.large, args.repeat or 1)
        return
    args.repeat = args.repeat or 3
    runs = Path(__file__).parent.resolve() / "runs" / "clump"
    runs.mkdir(parents=True, exist_ok=True)
    extract_eur(runs)
    subprocess.run(["plink2", "--bfile", "EUR_subset", "--pheno", "EUR_subset.pheno.covars",
                    "--pheno-name", "PHENO", "--glm", "allow-no-covars", "--out", "eg"],
                   cwd=runs, check=True, capture_output=True)
    ss = "eg.PHENO.glm.linear"
    n_below = int((pd.read_csv(runs / ss, sep=r"\s+")["P"] <= 0.2).sum())
    trees = gwasrep_commands(args)
    rows, info = [], {}
    for label, (p1, p2, r2, kb) in {"PLINK defaults, p1 0.2": (0.2, 0.5, 0.5, 250),
                                    "GEMCONT r2 0.05 kb 5000, p1 0.2": (0.2, 0.5, 0.05, 5000)
                                    }.items():
        cmds = {"plink1.9": ["plink1.9", "--bfile", "EUR_subset", "--clump", ss,
                             "--clump-snp-field", "ID", "--clump-field", "P", "--clump-p1",
                             str(p1), "--clump-p2", str(p2), "--clump-r2", str(r2),
                             "--clump-kb", str(kb), "--out", "pl"]}
        for tree, prefix in trees.items():
            cmds[f"gwasrep ({tree})"] = prefix + [
                "clump", "--sumstats", ss, "--bed", "EUR_subset", "--p1", str(p1), "--p2",
                str(p2), "--r2", str(r2), "--kb", str(kb), "--out", f"gw_{tree}", "--quiet"]
        for name, cmd in cmds.items():  # untimed: page cache, numba's cache of each tree
            if name != "plink1.9":
                subprocess.run(cmd, cwd=runs, check=True, capture_output=True)
        times = {k: [] for k in cmds}
        for _ in range(args.repeat):  # interleaved, so a busy moment hits every command
            for k, c in cmds.items():
                times[k].append(measure(c, runs))
        res = {k: min(v, key=lambda r: r["wall_s"]) for k, v in times.items()}
        b = pd.read_parquet(runs / "gw_now.clumped.parquet")
        same = same_clumps(runs, "pl", "gw_now")
        info[label] = {"results": res, "clumps": len(b), "identical": bool(same)}
        pl = res["plink1.9"]
        for tree in trees:
            g = res[f"gwasrep ({tree})"]
            rows.append((label, tree, pl["wall_s"], g["wall_s"], len(b), same,
                         g["peak_rss_mb"], pl["peak_rss_mb"]))
        print(label, json.dumps(info[label]), flush=True)
    out = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
           "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
           "variants_below_p1": n_below, "results": info}
    (runs.parent / "clump.json").write_text(json.dumps(out, indent=1))
    print(f"\n{n_below:,} variants with p <= 0.2; best of {args.repeat}\n")
    print("| parameters | gwasrep tree | plink1.9 (s) | gwasrep (s) | ratio gwasrep/plink | "
          "clumps | identical | peak RSS gwasrep / plink (MB) |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[3] / r[2]:.2f} | {r[4]:,} | "
              f"{r[5]} | {r[6]:.0f} / {r[7]:.0f} |")


if __name__ == "__main__":
    main()
