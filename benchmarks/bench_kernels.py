"""The kernels compiled ahead of time (gwasrep.aot) against numba's JIT of the same source.

    python benchmarks/bench_kernels.py [--repeat 5]

Each kernel runs on inputs of the size the commands give it (a block of 2,048 variants of
20,000 or 3,000 samples, a clumping pool), best of ``--repeat`` calls after one warm-up,
through the compiled variant and through the numba dispatcher, in one process, on one
thread. Outputs are checked equal. The JIT's compilation is not timed (numba's on-disk
cache, or the warm-up call).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def packed(rng, m, n, p_missing=0.005):
    codes = rng.choice(np.array([0, 2, 3]), size=(m, 4 * ((n + 3) // 4)), p=[.25, .5, .25])
    codes[rng.random(codes.shape) < p_missing] = 1
    codes[:, n:] = 0
    c4 = codes.reshape(m, -1, 4)
    return (c4[..., 0] | c4[..., 1] << 2 | c4[..., 2] << 4 | c4[..., 3] << 6).astype(np.uint8)


def cases(rng):
    from gwasrep.assoc.engine.lut import lut_inputs

    n, m = 20_000, 2048
    pk = packed(rng, m, n)
    idx = np.arange(n, dtype=np.int64)
    yield ("decode_dosages", "N=20,000 x 2,048", "gwasrep.io._bed_kernels",
           (pk, idx, np.empty((n, m), order="F")))
    G = np.asfortranarray(rng.choice(np.array([0.0, 1.0, 2.0, np.nan]), size=(3000, m),
                                     p=[.3, .4, .29, .01]))
    yield ("center_dense", "N=3,000 x 2,048", "gwasrep.io._bed_kernels",
           (G, np.empty(G.shape, order="F"), np.empty(m, np.int64), np.empty(m), np.empty(m)))
    pk3 = packed(rng, m, 3000)
    yield ("standardize_packed", "N=3,000 x 2,048", "gwasrep.assoc._grm_kernels",
           (pk3, np.arange(3000, dtype=np.int64), True, 0.01, 1.0,
            np.empty((3000, m), order="F"), np.zeros(m, bool)))
    c = 15
    XT = np.zeros((c, 4 * ((n + 3) // 4)))
    XT[:, :n] = rng.standard_normal((c, n))
    mask = np.zeros(XT.shape[1])
    mask[:n] = 1.0
    table, X, base = lut_inputs(XT, mask, n)
    yield ("packed_crossprod_lut", "N=20,000 x 2,048, c=15", "gwasrep.assoc.engine._scan_kernels",
           (pk, table, X, mask, base, np.empty((m, c)), np.empty(m), np.empty(m), np.empty(m),
            np.empty((m, c))))
    nm = 20_000
    pkc = packed(rng, nm, 500)
    order = rng.permutation(np.flatnonzero(rng.random(nm) < 0.2)).astype(np.int64)
    is_index = np.zeros(nm, bool)
    is_index[order] = True
    yield ("clump_packed", "500 founders, pool 20,000, r2 0.5, 250 kb",
           "gwasrep.loci._ld_kernels",
           (pkc, np.arange(nm, dtype=np.int64), np.arange(nm, dtype=np.int64),
            np.arange(500, dtype=np.int64), True, np.zeros((nm, 3, 8), np.uint64),
            np.zeros(nm, np.int64), (np.arange(nm) * 50).astype(np.int64), order, is_index,
            249_999, 0.5, True, np.full(nm, -1, np.int64)))


def best(fn, args, repeat):
    times = []
    for _ in range(repeat + 1):
        fresh = [a.copy(order="K") if isinstance(a, np.ndarray) else a for a in args]
        t0 = time.perf_counter()
        fn(*fresh)
        times.append(time.perf_counter() - t0)
    return min(times[1:]), fresh


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from gwasrep import aot

    if aot.status() != "aot":
        sys.exit(f"the compiled kernels are not in use: {aot.status()}")
    ext = importlib.import_module(aot.EXTENSION)
    manifest = json.loads(aot.MANIFEST.read_text())["kernels"]
    rows = []
    for name, size, module, inputs in cases(np.random.default_rng(0)):
        entry = next(e for e in manifest if e["name"] == name
                     and all(map(aot._arg_matches, map(tuple, e["args"]), inputs)))
        mod = importlib.import_module(module)
        jit = mod.compiled() if name == "packed_crossprod_lut" else getattr(mod, name)
        t_aot, out_aot = best(getattr(ext, entry["symbol"]), inputs, args.repeat)
        t_jit, out_jit = best(jit, inputs, args.repeat)
        same = all(np.array_equal(a, b, equal_nan=True) if isinstance(a, np.ndarray) else True
                   for a, b in zip(out_aot, out_jit, strict=True))
        rows.append((name, size, t_jit, t_aot, same))
        print(name, f"jit {t_jit:.4f} s, aot {t_aot:.4f} s, same {same}", flush=True)
    print(f"\n{platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}, best of {args.repeat}, one thread\n")
    print("| kernel | input | JIT (s) | compiled ahead of time (s) | ratio | identical |\n"
          "|---|---|---|---|---|---|")
    for name, size, tj, ta, same in rows:
        print(f"| {name} | {size} | {tj:.4f} | {ta:.4f} | {ta / tj:.2f} | {same} |")


if __name__ == "__main__":
    main()
