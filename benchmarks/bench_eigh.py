"""Microbenchmarks behind the LMM's dense linear algebra: eigensolvers, dgemm, syrk, decode.

    python benchmarks/bench_eigh.py [--threads 2] [--repeats 5] [--data DIR] [--both-coretypes]

On the two GRMs of benchmarks/bench_lmm.py (mouse_hs1940 complete cases of phenotypes
1 and 6, N = 1,197, GEMMA's centred kind; simulated sibships, 750 families, N = 3,000):

- every full eigendecomposition on offer (scipy.linalg.eigh drivers evd, evr, evx, ev
  and numpy.linalg.eigh), best wall time of ``--repeats`` and its accuracy
  (``max |K U - U diag(s)| / s_max``, ``max |U^T U - I|``, the eigenvalue difference to
  evd and the smallest eigenvalue: the centred GRM has one eigenvalue 0);
- the scan's rotation ``U^T G`` (dgemm, N x N by N x 2048, F-contiguous) and the GRM's
  rank-k update (dsyrk, N x 4096 into one triangle) against ``Z @ Z.T``, in GFLOP/s;
- the .bed decode kernels (dosages, and the fused decode + centre/standardize of the GRM).

Prints the BLAS libraries threadpoolctl sees (internal_api, architecture, num_threads)
and a Markdown table. With ``--both-coretypes`` it reruns itself once with the caller's
environment and once with ``OPENBLAS_CORETYPE`` unset (``env -u OPENBLAS_CORETYPE``).
Writes benchmarks/runs/eigh.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def blas_info() -> list[dict]:
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS)
    import threadpoolctl

    keys = ("internal_api", "prefix", "version", "architecture", "num_threads",
            "threading_layer", "filepath")
    return [{k: d.get(k) for k in keys} for d in threadpoolctl.threadpool_info()]


def best_of(f, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def grm_of(prefix: Path, emb: Path | None):
    """The centred GRM (GEMMA -gk 1) of the complete cases, as gwasrep assoc --lmm builds it."""
    import numpy as np
    import pandas as pd

    from gwasrep.assoc.kinship import compute_grm_parts
    from gwasrep.io.plink import open_plink

    fs = open_plink(prefix)
    idx = np.arange(fs.n_samples)
    if emb is not None:
        e = pd.read_parquet(emb)
        keys = set(zip(e["FID"].astype(str), e["IID"].astype(str), strict=True))
        fam = fs.fam
        idx = np.flatnonzero([(a, b) in keys for a, b in zip(fam["FID"].astype(str),
                                                                fam["IID"].astype(str),
                                                                strict=True)])
    parts = compute_grm_parts(fs, idx, np.arange(fs.n_variants), kind="centered")
    return fs, idx, parts.matrix()


def _one_thread(f):
    def g(A):
        import threadpoolctl

        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            return f(A)
    return g


def bench_solvers(K, repeats: int) -> list[dict]:
    import numpy as np
    from scipy import linalg

    solvers = {
        "scipy evd": lambda A: linalg.eigh(A, driver="evd", overwrite_a=True, check_finite=False),
        "scipy evr": lambda A: linalg.eigh(A, driver="evr", overwrite_a=True, check_finite=False),
        "scipy evx": lambda A: linalg.eigh(A, driver="evx", overwrite_a=True, check_finite=False),
        "scipy ev": lambda A: linalg.eigh(A, driver="ev", overwrite_a=True, check_finite=False),
        "numpy eigh": np.linalg.eigh,
        "numpy eigh, 1 BLAS thread": _one_thread(np.linalg.eigh),
    }
    rows, ref = [], None
    smax = None
    for name, f in solvers.items():
        times = []
        for _ in range(repeats):
            A = np.array(K, order="F")
            t = time.perf_counter()
            s, U = f(A)
            times.append(time.perf_counter() - t)
        if ref is None:
            ref = s
            smax = float(s[-1])
        R = K @ U - U * s
        rows.append({"solver": name, "best_s": min(times), "median_s": float(np.median(times)),
                     "resid": float(np.abs(R).max() / smax),
                     "orth": float(np.abs(U.T @ U - np.eye(len(s))).max()),
                     "dev_vs_evd": float(np.abs(s - ref).max() / smax),
                     "s_min": float(s[0]), "n_below_1e-10": int((s < 1e-10 * smax).sum())})
    return rows


def bench_blas(N: int, repeats: int) -> list[dict]:
    import numpy as np
    from scipy.linalg import blas

    rng = np.random.default_rng(0)
    out = []
    U = np.asfortranarray(rng.standard_normal((N, N)))
    G = np.asfortranarray(rng.standard_normal((N, 2048)))
    fl = 2.0 * N * N * 2048
    t = best_of(lambda: U.T @ G, repeats)
    out.append({"op": f"U^T G (numpy matmul, {N}x{N} by {N}x2048)", "best_s": t,
                "gflops": fl / t / 1e9})
    t = best_of(lambda: blas.dgemm(1.0, U, G, trans_a=True), repeats)
    out.append({"op": f"U^T G (scipy dgemm trans_a, {N}x{N} by {N}x2048)", "best_s": t,
                "gflops": fl / t / 1e9})
    Z = np.asfortranarray(rng.standard_normal((N, 4096)))
    C = np.zeros((N, N), order="F")
    fl_full = 2.0 * N * N * 4096
    t = best_of(lambda: Z @ Z.T, repeats)
    out.append({"op": f"Z Z^T (numpy matmul, {N}x4096)", "best_s": t,
                "gflops": fl_full / t / 1e9})
    t = best_of(lambda: blas.dsyrk(1.0, Z, beta=1.0, c=C, lower=True, overwrite_c=True),
                repeats)
    # syrk does half the flops of the full product: report its rate on the flops it does.
    out.append({"op": f"Z Z^T (scipy dsyrk lower into C, {N}x4096)", "best_s": t,
                "gflops": fl_full / 2 / t / 1e9})
    return out


def bench_decode(fs, idx, repeats: int) -> list[dict]:
    import numpy as np

    from gwasrep.io import _bed_kernels as bk
    from gwasrep.io.plink import read_packed

    vidx = np.arange(min(4096, fs.n_variants))
    packed = read_packed(fs.bed_path, vidx, fs.n_samples)
    idx = np.asarray(idx, dtype=np.int64)
    out = np.empty((idx.size, vidx.size), order="F")
    bk.decode_dosages(packed, idx, out)
    rows = [{"op": f"decode_dosages ({idx.size} x {vidx.size})",
             "best_s": best_of(lambda: bk.decode_dosages(packed, idx, out), repeats)}]
    from gwasrep.assoc._grm_kernels import standardize_packed

    Z = np.empty((idx.size, vidx.size), order="F")
    used = np.empty(vidx.size, dtype=np.bool_)
    args = (packed, idx, False, 0.0, 1.0, Z, used)
    standardize_packed(*args)
    rows.append({"op": f"standardize_packed: decode + centre ({idx.size} x {vidx.size})",
                 "best_s": best_of(lambda: standardize_packed(*args), repeats)})
    return rows


def run_once(args) -> dict:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import threadpoolctl

    info = blas_info()
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="bench_eigh_"))
    ds_file = data / "datasets.json"
    if not ds_file.exists():
        subprocess.run([sys.executable, str(Path(__file__).parent / "bench_lmm.py"),
                        "--prepare", str(data), "--sib-families", str(args.sib_families)],
                       check=True)
    ds = json.loads(ds_file.read_text())
    res = {"env_OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "blas": info,
           "datasets": {}}
    with threadpoolctl.threadpool_limits(args.threads):
        for name, d in ds.items():
            t = time.perf_counter()
            fs, idx, K = grm_of(Path(d["prefix"]), Path(d["emb"]) if "hs" in name else None)
            t_grm = time.perf_counter() - t
            N = K.shape[0]
            print(f"{name}: N={N}, GRM in {t_grm:.2f} s", file=sys.stderr, flush=True)
            res["datasets"][name] = {
                "N": N, "grm_s": t_grm, "solvers": bench_solvers(K, args.repeats),
                "blas": bench_blas(N, args.repeats), "decode": bench_decode(fs, idx,
                                                                            args.repeats)}
    return res


def table(res: dict) -> str:
    lines = [f"OPENBLAS_CORETYPE={res['env_OPENBLAS_CORETYPE']}; BLAS: " + "; ".join(
        f"{b['filepath'].split('/')[-1]} {b['internal_api']} {b['version']} "
        f"architecture={b['architecture']} num_threads={b['num_threads']}" for b in res["blas"]),
        "", "| data | N | op | best (s) | GFLOP/s | accuracy / median (s) |",
        "|---|---|---|---|---|---|"]
    for name, d in res["datasets"].items():
        for r in d["solvers"]:
            lines.append(f"| {name} | {d['N']} | eigh {r['solver']} | {r['best_s']:.3f} | | "
                         f"resid {r['resid']:.1e}, orth {r['orth']:.1e}, dev {r['dev_vs_evd']:.1e},"
                         f" s_min {r['s_min']:.1e}; median {r['median_s']:.3f} |")
        for r in d["blas"] + d["decode"]:
            gf = f"{r['gflops']:.1f}" if "gflops" in r else ""
            lines.append(f"| {name} | {d['N']} | {r['op']} | {r['best_s']:.4f} | {gf} | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sib-families", type=int, default=750)
    ap.add_argument("--data", help="a folder prepared by bench_lmm.py --prepare (else a new one)")
    ap.add_argument("--both-coretypes", action="store_true")
    ap.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.json:
        args.json.write_text(json.dumps(run_once(args), default=str))
        return
    data = args.data or tempfile.mkdtemp(prefix="bench_eigh_")
    envs = [("as set", dict(os.environ))]
    if args.both_coretypes:
        envs.append(("OPENBLAS_CORETYPE unset",
                     {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}))
    results = {}
    for label, env in envs:
        with tempfile.NamedTemporaryFile(suffix=".json") as tf:
            cmd = [sys.executable, __file__, "--threads", str(args.threads), "--repeats",
                   str(args.repeats), "--sib-families", str(args.sib_families), "--data", data,
                   "--json", tf.name]
            subprocess.run(cmd, env=env, check=True)
            results[label] = json.loads(Path(tf.name).read_text())
        print(f"\n### {label}\n\n{table(results[label])}", flush=True)
    runs = Path(__file__).parent / "runs"
    runs.mkdir(exist_ok=True)
    (runs / "eigh.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
