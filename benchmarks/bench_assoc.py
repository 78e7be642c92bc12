"""gwasrep assoc vs plink2 --glm on the same files, side by side in one run.

    python benchmarks/make_cohort.py            # once: benchmarks/data/cohort.*
    python benchmarks/bench_assoc.py [--data benchmarks/data] [--threads 2] [--repeat 1]

Both tools test all 10 embedding dimensions with the same 5 covariates on 2
threads. Wall time and peak RSS of each process come from wait4(); the script
prints a Markdown table with the ratios for benchmarks/RESULTS.md and writes
the figures to benchmarks/runs/assoc.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def measure(cmd: list[str], cwd: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    output = proc.stdout.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{output}")
    return {"wall_s": wall, "peak_rss_mb": ru.ru_maxrss / 1024, "cpu_s": ru.ru_utime + ru.ru_stime}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--skip-plink2", action="store_true")
    args = ap.parse_args()
    data = args.data.resolve()
    runs = Path(__file__).parent.resolve() / "runs"
    runs.mkdir(exist_ok=True)
    gw = shutil.which("gwasrep")
    cmds = {
        "gwasrep": [gw, "assoc", "--emb", str(data / "cohort_emb.parquet"), "--bed",
                    str(data / "cohort"), "--covar", str(data / "cohort_covar.tsv"),
                    "--threads", str(args.threads), "--out", str(runs / "gwasrep"),
                    "--overwrite", "--quiet"],
        "gwasrep (no plots)": [gw, "assoc", "--emb", str(data / "cohort_emb.parquet"), "--bed",
                               str(data / "cohort"), "--covar", str(data / "cohort_covar.tsv"),
                               "--threads", str(args.threads), "--out",
                               str(runs / "gwasrep_noplots"), "--overwrite", "--quiet",
                               "--no-plots"],
        "plink2 --glm": ["plink2", "--bfile", str(data / "cohort"), "--pheno",
                         str(data / "cohort_pheno.tsv"), "--covar", str(data / "cohort_covar.tsv"),
                         "--glm", "hide-covar", "--threads", str(args.threads), "--out",
                         str(runs / "plink2")],
    }
    if args.skip_plink2:
        cmds.pop("plink2 --glm")
    # Warm the numba cache and the page cache once, untimed.
    subprocess.run(cmds["gwasrep (no plots)"], check=True, capture_output=True)
    results: dict[str, list[dict]] = {k: [] for k in cmds}
    for _ in range(args.repeat):
        for name, cmd in cmds.items():
            results[name].append(measure(cmd, runs))
            print(f"{name}: {results[name][-1]}", flush=True)
    best = {k: min(v, key=lambda r: r["wall_s"]) for k, v in results.items()}
    meta = json.loads((runs / "gwasrep" / "run.json").read_text())
    info = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
            "command": " ".join(sys.argv), "best_of": args.repeat, "results": best,
            "gwasrep_scan_s": meta["scan_time_s"], "gwasrep_wall_inside_s": meta["wall_time_s"]}
    (runs / "assoc.json").write_text(json.dumps(info, indent=1))
    print("\n| tool | wall (s) | peak RSS (MB) | CPU (s) |\n|---|---|---|---|")
    for name, r in best.items():
        print(f"| {name} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['cpu_s']:.1f} |")
    if "plink2 --glm" in best:
        p = best["plink2 --glm"]["wall_s"]
        for name in ("gwasrep", "gwasrep (no plots)"):
            print(f"\nwall-time ratio {name} / plink2: {best[name]['wall_s'] / p:.4f} "
                  f"(1/{p / best[name]['wall_s']:.1f})")
    print(f"gwasrep scan (blocks only) {meta['scan_time_s']:.2f} s of {meta['wall_time_s']:.2f} s "
          "inside run_assoc")


if __name__ == "__main__":
    main()
