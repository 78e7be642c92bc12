"""gwasrep clump vs plink1.9 --clump on the same files, side by side in one run.

    python benchmarks/bench_clump.py [--repeat 3]

Data: EUR_subset (bolt-lmm-example: 379 Europeans x 54,051 SNPs on chr17-22,
real LD) with ``plink2 --glm`` of its PHENO. ``--clump-p1 0.2`` puts more than
10,000 variants below p1. Parameter sets: PLINK's defaults with p1 = 0.2, and
GEMCONT's r2 0.05 / 5,000 kb window with p1 = 0.2. Wall time includes Python
start-up and numba (cache warm after the first, untimed, run). The results of
both tools are compared (index sets and TOTAL) in the same run.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_assoc import measure  # noqa: E402

EUR = Path("/usr/share/doc/bolt-lmm/examples/examples.tar.xz")


def extract_eur(d: Path, names=("EUR_subset.bed", "EUR_subset.bim", "EUR_subset.fam",
                                 "EUR_subset.pheno.covars")) -> None:
    """Copy EUR_subset files out of bolt-lmm-example's tarball into ``d``."""
    with lzma.open(EUR) as xz, tarfile.open(fileobj=xz) as tar:
        for name in names:
            member = next(m for m in tar.getmembers() if m.name.endswith(name))
            (d / name).write_bytes(tar.extractfile(member).read())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    runs = Path(__file__).parent.resolve() / "runs" / "clump"
    runs.mkdir(parents=True, exist_ok=True)
    extract_eur(runs)
    subprocess.run(["plink2", "--bfile", "EUR_subset", "--pheno", "EUR_subset.pheno.covars",
                    "--pheno-name", "PHENO", "--glm", "allow-no-covars", "--out", "eg"],
                   cwd=runs, check=True, capture_output=True)
    ss = "eg.PHENO.glm.linear"
    n_below = int((pd.read_csv(runs / ss, sep=r"\s+")["P"] <= 0.2).sum())
    gw = shutil.which("gwasrep")
    rows, info = [], {}
    for label, (p1, p2, r2, kb) in {"PLINK defaults, p1 0.2": (0.2, 0.5, 0.5, 250),
                                    "GEMCONT r2 0.05 kb 5000, p1 0.2": (0.2, 0.5, 0.05, 5000)
                                    }.items():
        cmds = {
            "plink1.9": ["plink1.9", "--bfile", "EUR_subset", "--clump", ss, "--clump-snp-field",
                         "ID", "--clump-field", "P", "--clump-p1", str(p1), "--clump-p2",
                         str(p2), "--clump-r2", str(r2), "--clump-kb", str(kb), "--out", "pl"],
            "gwasrep": [gw, "clump", "--sumstats", ss, "--bed", "EUR_subset", "--p1", str(p1),
                        "--p2", str(p2), "--r2", str(r2), "--kb", str(kb), "--out", "gw",
                        "--quiet"],
        }
        subprocess.run(cmds["gwasrep"], cwd=runs, check=True, capture_output=True)  # warm JIT
        res = {k: min((measure(c, runs) for _ in range(args.repeat)), key=lambda r: r["wall_s"])
               for k, c in cmds.items()}
        a = pd.read_csv(runs / "pl.clumped", sep=r"\s+")
        b = pd.read_parquet(runs / "gw.clumped.parquet")
        m = a.merge(b, on="SNP")
        same = set(a["SNP"]) == set(b["SNP"]) and (m["TOTAL_x"] == m["TOTAL_y"]).all()
        info[label] = {"results": res, "clumps": len(b), "identical": bool(same)}
        rows.append((label, res["plink1.9"]["wall_s"], res["gwasrep"]["wall_s"], len(b), same,
                     res["gwasrep"]["peak_rss_mb"], res["plink1.9"]["peak_rss_mb"]))
        print(label, json.dumps(info[label]), flush=True)
    out = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
           "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
           "variants_below_p1": n_below, "results": info}
    (runs.parent / "clump.json").write_text(json.dumps(out, indent=1))
    print(f"\n{n_below:,} variants with p <= 0.2\n")
    print("| parameters | plink1.9 (s) | gwasrep (s) | ratio gwasrep/plink | clumps | identical "
          "| peak RSS gwasrep / plink (MB) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[2] / r[1]:.2f} | {r[3]:,} | {r[4]} | "
              f"{r[5]:.0f} / {r[6]:.0f} |")


if __name__ == "__main__":
    main()
