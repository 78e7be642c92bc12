"""gwasrep assoc vs plink2 --glm on the same files, side by side in one run.

    python benchmarks/make_cohort.py            # once: benchmarks/data/cohort.*
    python benchmarks/bench_assoc.py [--data benchmarks/data] [--threads 2] [--repeat 1]
                                     [--before DIR [--before-python PY]]

Both tools test all 10 embedding dimensions with the same 5 covariates on 2
threads. Wall time and peak RSS of each process come from wait4(); the script
prints a Markdown table with the ratios for benchmarks/RESULTS.md and writes
the figures to benchmarks/runs/assoc.json. ``--before DIR`` also times an earlier checkout
(benchmarks/trees.py) on the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    sys.path.insert(0, str(Path(__file__).parent))
    from trees import add_arguments, gwasrep_commands

    add_arguments(ap)
    args = ap.parse_args()
    data = args.data.resolve()
    runs = Path(__file__).parent.resolve() / "runs"
    runs.mkdir(exist_ok=True)
    trees = gwasrep_commands(args)
    cmds = {}
    for tree, cli in trees.items():
        suffix = "" if tree == "now" else f" ({tree})"
        base = cli + ["assoc", "--emb", str(data / "cohort_emb.parquet"), "--bed",
                      str(data / "cohort"), "--covar", str(data / "cohort_covar.tsv"),
                      "--threads", str(args.threads), "--overwrite", "--quiet"]
        cmds[f"gwasrep{suffix}"] = base + ["--out", str(runs / f"gwasrep_{tree}")]
        cmds[f"gwasrep (no plots){suffix}"] = base + [
            "--out", str(runs / f"gwasrep_noplots_{tree}"), "--no-plots"]
    cmds["plink2 --glm"] = ["plink2", "--bfile", str(data / "cohort"), "--pheno",
                            str(data / "cohort_pheno.tsv"), "--covar",
                            str(data / "cohort_covar.tsv"), "--glm", "hide-covar", "--threads",
                            str(args.threads), "--out", str(runs / "plink2")]
    if args.skip_plink2:
        cmds.pop("plink2 --glm")
    # Warm the numba cache of each tree and the page cache once, untimed.
    for name, cmd in cmds.items():
        if name.startswith("gwasrep (no plots)"):
            subprocess.run(cmd, check=True, capture_output=True)
    results: dict[str, list[dict]] = {k: [] for k in cmds}
    for _ in range(args.repeat):
        for name, cmd in cmds.items():
            results[name].append(measure(cmd, runs))
            print(f"{name}: {results[name][-1]}", flush=True)
    best = {k: min(v, key=lambda r: r["wall_s"]) for k, v in results.items()}
    meta = json.loads((runs / "gwasrep_now" / "run.json").read_text())
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
        for name in best:
            if name.startswith("gwasrep"):
                print(f"wall-time ratio {name} / plink2: {best[name]['wall_s'] / p:.4f} "
                      f"(1/{p / best[name]['wall_s']:.1f})")
    print(f"gwasrep scan (blocks only) {meta['scan_time_s']:.2f} s of {meta['wall_time_s']:.2f} s "
          "inside run_assoc")


if __name__ == "__main__":
    main()
