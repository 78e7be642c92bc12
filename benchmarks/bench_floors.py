"""Floors under issue 16's remaining targets, measured beside GEMMA and gwasrep in one run.

    python benchmarks/bench_floors.py [--sib-families 750] [--repeat 3]

1. **The LMM at N = 3,000 sibships** (the target: kinship + null + scan <= 1/8 of GEMMA's
   ``-gk 1`` + ``-lmm 4``). The data are bench_lmm.py's sibships (4 children per family,
   20,000 SNPs, 2 traits). Beside GEMMA and ``gwasrep assoc --lmm full``, a child process
   times the three dense-algebra steps any full-rank LMM scan needs, on random matrices of
   the same shapes and the same BLAS threads, best of ``--repeat``:
   the GRM as one symmetric rank-k update per block of 1,000 SNPs (``dsyrk``), its
   eigendecomposition (``numpy.linalg.eigh``, LAPACK ``dsyevd``), and the rotation
   ``U^T G`` of every SNP (``dgemm``). Their sum plus the command's import floor is what no
   implementation on this machine's BLAS goes below.
2. **The fixed cost of a command** (target <= 0.6 s): the wall time of a fresh interpreter
   that imports only what ``clump`` cannot do without (numpy, pyarrow for Parquet, typer and
   rich for the command line) and what ``assoc`` adds (scipy.special, scipy.linalg), best of
   ``--repeat``, and whether pyarrow's first array operation imports pandas on its own.

Prints Markdown tables for benchmarks/RESULTS.md and writes benchmarks/runs/floors.json.
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

sys.path.insert(0, str(Path(__file__).parent))
from bench_assoc import measure  # noqa: E402
from trees import gwasrep_script  # noqa: E402

DENSE = r"""
import json, sys, time
import numpy as np
from scipy.linalg.blas import dsyrk
from threadpoolctl import threadpool_info

n, m, repeat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
blk = 1000
rng = np.random.default_rng(0)
Z = np.asfortranarray(rng.standard_normal((n, blk)))

def best(f):
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter(); r = f(); t.append(time.perf_counter() - t0)
    return min(t), r

def grm():
    K = dsyrk(1.0, Z, lower=1)
    for _ in range(m // blk - 1):
        K = dsyrk(1.0, Z, beta=1.0, c=K, lower=1, overwrite_c=1)
    K = np.tril(K) + np.tril(K, -1).T
    return K / m

t_grm, K = best(grm)
K += np.eye(n)                      # well conditioned, as a GRM of related samples
t_eigh, (s, U) = best(lambda: np.linalg.eigh(K))
def rotate():
    for _ in range(m // blk):
        U.T @ Z
t_rot, _ = best(rotate)
blas = [f"{i['internal_api']} {i.get('version')} {i.get('architecture')} x{i['num_threads']}"
        for i in threadpool_info() if i["user_api"] == "blas"]
print(json.dumps({"grm_dsyrk_s": t_grm, "grm_gflops": n * n * m / t_grm / 1e9,
                  "eigh_s": t_eigh, "rotation_dgemm_s": t_rot,
                  "rotation_gflops": 2 * n * n * m / t_rot / 1e9, "blas": blas}))
"""

IMPORTS = {
    "clump's libraries (numpy, pyarrow.parquet, typer, rich)":
        "import numpy, pyarrow.parquet, typer, rich.progress, rich.table",
    "the same + pandas (which pyarrow imports on its first array operation)":
        "import numpy, pyarrow.parquet, typer, rich.progress, rich.table, pandas",
    "assoc's libraries (the above + scipy.special, scipy.linalg)":
        "import numpy, pyarrow.parquet, typer, rich.progress, rich.table, pandas, "
        "scipy.special, scipy.linalg",
}

PANDAS_PROBE = ("import sys, numpy as np, pyarrow as pa; before = 'pandas' in sys.modules; "
                "pa.array(np.arange(3)); print(before, 'pandas' in sys.modules)")


def best_wall(cmd: list[str], repeat: int, cwd: Path) -> float:
    return min(measure(cmd, cwd)["wall_s"] for _ in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sib-families", type=int, default=750)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    runs = Path(__file__).parent.resolve() / "runs" / "floors"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    threads = str(args.threads)
    os.environ.update(OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
    gemma = shutil.which("gemma")
    if gemma is None:
        sys.exit("gemma is not on PATH (apt-get install gemma)")
    # The sibships, prepared as bench_lmm.py does (in a child: its peak RSS is not ours).
    subprocess.run([sys.executable, str(Path(__file__).with_name("bench_lmm.py")), "--prepare",
                    str(runs), "--sib-families", str(args.sib_families)], check=True)
    sibs = next(v for k, v in json.loads((runs / "datasets.json").read_text()).items()
                if k.startswith("sibships"))
    wd, pre = Path(sibs["prefix"]).parent, Path(sibs["prefix"]).name
    n, m = int(sibs["n"]), int(sibs["m"])

    gk = measure([gemma, "-bfile", pre, "-gk", "1", "-o", "gk"], wd)
    mv = measure([gemma, "-bfile", pre, "-k", "output/gk.cXX.txt", "-lmm", "4", "-n", "1", "2",
                  "-o", "mv"], wd)
    gw_cmd = [gwasrep_script(), "assoc", "--emb", str(sibs["emb"]), "--bed", pre, "--lmm",
              "full", "--grm-kind", "centered", "--no-int", "--no-regress-covariates",
              "--threads", threads, "--quiet", "--overwrite", "--out", "gw"]
    subprocess.run(gw_cmd, cwd=wd, check=True, capture_output=True)       # warm page cache
    gw = measure(gw_cmd, wd)
    dense = json.loads(subprocess.run([sys.executable, "-c", DENSE, str(n), str(m),
                                       str(args.repeat)], check=True, capture_output=True,
                                      text=True).stdout)
    imports = {label: best_wall([sys.executable, "-c", stmt], args.repeat, runs)
               for label, stmt in IMPORTS.items()}
    interp = best_wall([sys.executable, "-c", "pass"], args.repeat, runs)
    probe = subprocess.run([sys.executable, "-c", PANDAS_PROBE], check=True,
                           capture_output=True, text=True).stdout.split()

    gemma_s = gk["wall_s"] + mv["wall_s"]
    assoc_imports = imports[list(IMPORTS)[-1]]
    floor = dense["grm_dsyrk_s"] + dense["eigh_s"] + dense["rotation_dgemm_s"] + assoc_imports
    info = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
            "n": n, "m": m, "gemma_gk": gk, "gemma_lmm4": mv, "gwasrep": gw, "dense": dense,
            "interpreter_s": interp, "imports_s": imports,
            "pyarrow_imports_pandas": {"before": probe[0] == "True", "after": probe[1] == "True"}}
    (runs.parent / "floors.json").write_text(json.dumps(info, indent=1))

    print(f"\n{info['machine']}, {info['date']}; BLAS: {', '.join(dense['blas'])}\n")
    print(f"**LMM, sibships N = {n:,}, M = {m:,}, D = 2**\n")
    print("| | seconds | / GEMMA |\n|---|---|---|")
    print(f"| GEMMA `-gk 1` + `-lmm 4` | {gemma_s:.1f} | 1 |")
    print(f"| target (1/8) | {gemma_s / 8:.1f} | 1/8 |")
    print(f"| gwasrep `assoc --lmm full` | {gw['wall_s']:.1f} | 1/{gemma_s / gw['wall_s']:.1f} |")
    print(f"| GRM, `dsyrk` per 1,000 SNPs ({dense['grm_gflops']:.0f} GFLOP/s) | "
          f"{dense['grm_dsyrk_s']:.2f} | |")
    print(f"| `eigh` (`dsyevd`) | {dense['eigh_s']:.2f} | |")
    print(f"| rotation `U^T G`, `dgemm` ({dense['rotation_gflops']:.0f} GFLOP/s) | "
          f"{dense['rotation_dgemm_s']:.2f} | |")
    print(f"| assoc's import floor | {assoc_imports:.2f} | |")
    print(f"| **floor: the three steps + imports** | **{floor:.1f}** | "
          f"1/{gemma_s / floor:.1f} |")
    print("\n**Fixed cost of a command** (fresh interpreter, best of "
          f"{args.repeat}; target 0.6 s)\n")
    print("| what is imported | seconds |\n|---|---|")
    print(f"| nothing (`python -c pass`) | {interp:.2f} |")
    for label, t in imports.items():
        print(f"| {label} | {t:.2f} |")
    print(f"\npandas imported by pyarrow's first `pa.array`: {info['pyarrow_imports_pandas']}")


if __name__ == "__main__":
    main()
