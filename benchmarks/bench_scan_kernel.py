"""The assoc scan kernel alone: byte look-up table vs the decode-and-multiply kernel it replaced.

    python benchmarks/bench_scan_kernel.py [--data benchmarks/data] [--block 2048]
        [--blocks 8] [--repeat 5] [--assoc]

Inputs: ``--blocks`` consecutive blocks of ``--block`` variants from
benchmarks/data/cohort.bed (N = 20,000, 0.5 % missing calls; random bytes with the
same missing rate when the cohort is absent) and a random X with c = D + K - 1 = 15
columns. Times, best of ``--repeat``, in one process after a warm-up call:

* ``old``: the kernel of commit e00301b (copied below), decode 4 dosages per byte
  and 4 x c multiply-adds;
* ``new``: :func:`gwasrep.assoc.engine._scan_kernels.packed_crossprod_lut`, the nibble
  look-up table (table build timed separately: it is once per scan);

each on 1 thread (blocks one after another) and on 2 threads (each its own blocks,
the table shared), reported per block and extrapolated to M = 200,000 variants.
Both kernels' results are compared. ``--assoc`` also runs
``bench_assoc.py --repeat 1 --skip-plink2``. Results go to runs/scan_kernel.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numba import njit

from gwasrep.assoc.engine._scan_kernels import build_byte_table, compiled
from gwasrep.assoc.engine.lut import PATTERN_DOSAGE, count_base, new_byte_table

_LUT = np.zeros((256, 4))
_HAS_MISSING = np.zeros(256, dtype=np.bool_)
_N_HET = np.zeros(256, dtype=np.int64)
_N_HOM = np.zeros(256, dtype=np.int64)
for _b in range(256):
    for _k in range(4):
        _code = (_b >> (2 * _k)) & 3
        _LUT[_b, _k] = (2.0, 0.0, 1.0, 0.0)[_code]
        _HAS_MISSING[_b] |= _code == 1
        _N_HET[_b] += _code == 2
        _N_HOM[_b] += _code == 0


@njit(cache=True, nogil=True, fastmath=True)
def old_packed_crossprod(packed, XT, mask, byte_full, u, s1, s2, nmiss, smiss):
    """The kernel of commit e00301b, verbatim but for the table names."""
    lut = _LUT
    has_missing = _HAS_MISSING
    n_het = _N_HET
    n_hom = _N_HOM
    n_var = packed.shape[0]
    n_bytes = packed.shape[1]
    c = XT.shape[0]
    n = XT.shape[1]
    cols = np.zeros((4, n))
    for j0 in range(0, n_var, 4):
        m4 = min(4, n_var - j0)
        for b in range(4):
            col = cols[b]
            if b >= m4:
                col[:] = 0.0
                continue
            j = j0 + b
            row = packed[j]
            nm = 0.0
            het = 0
            hom = 0
            for q in range(n_bytes):
                byte = row[q]
                base = 4 * q
                col[base] = lut[byte, 0]
                col[base + 1] = lut[byte, 1]
                col[base + 2] = lut[byte, 2]
                col[base + 3] = lut[byte, 3]
                if byte_full[q]:
                    het += n_het[byte]
                    hom += n_hom[byte]
                else:
                    for k in range(4):
                        if mask[base + k] != 0.0:
                            code = (byte >> (2 * k)) & 3
                            het += code == 2
                            hom += code == 0
                if has_missing[byte]:
                    for k in range(4):
                        if ((byte >> (2 * k)) & 3) == 1 and mask[base + k] != 0.0:
                            nm += 1.0
                            for r in range(c):
                                smiss[j, r] += XT[r, base + k]
            nmiss[j] = nm
            s1[j] = het + 2.0 * hom
            s2[j] = het + 4.0 * hom
        c0 = cols[0]
        c1 = cols[1]
        c2 = cols[2]
        c3 = cols[3]
        for r in range(0, c, 2):
            r2 = min(r + 1, c - 1)
            xa = XT[r]
            xb = XT[r2]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            b0 = 0.0
            b1 = 0.0
            b2 = 0.0
            b3 = 0.0
            for i in range(n):
                x = xa[i]
                y = xb[i]
                d0 = c0[i]
                d1 = c1[i]
                d2 = c2[i]
                d3 = c3[i]
                a0 += d0 * x
                a1 += d1 * x
                a2 += d2 * x
                a3 += d3 * x
                b0 += d0 * y
                b1 += d1 * y
                b2 += d2 * y
                b3 += d3 * y
            for b, (va, vb) in enumerate(((a0, b0), (a1, b1), (a2, b2), (a3, b3))):
                if b < m4:
                    u[j0 + b, r] = va
                    u[j0 + b, r2] = vb


def load_blocks(data: Path, block: int, n_blocks: int, n_fam: int) -> list[np.ndarray]:
    n_bytes = (n_fam + 3) // 4
    bed = data / "cohort.bed"
    if bed.exists():
        mm = np.memmap(bed, dtype=np.uint8, mode="r", offset=3).reshape(-1, n_bytes)
        return [np.array(mm[i * block:(i + 1) * block]) for i in range(n_blocks)]
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n_blocks):
        codes = rng.choice(np.array([0, 2, 3], np.uint8), size=(block, 4 * n_bytes))
        codes[rng.random(codes.shape) < 0.005] = 1
        c4 = codes.reshape(block, n_bytes, 4)
        out.append((c4[..., 0] | c4[..., 1] << 2 | c4[..., 2] << 4 | c4[..., 3] << 6)
                   .astype(np.uint8))
    return out


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--c", type=int, default=15)
    ap.add_argument("--block", type=int, default=2048)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--assoc", action="store_true")
    args = ap.parse_args()
    n_fam, c = args.n, args.c
    blocks = load_blocks(args.data, args.block, args.blocks, n_fam)
    n_bytes = blocks[0].shape[1]
    rng = np.random.default_rng(0)
    mask = np.zeros(4 * n_bytes)
    mask[:n_fam] = 1.0
    XT = rng.standard_normal((c, 4 * n_bytes)) * mask
    X = np.ascontiguousarray(XT.T)
    byte_full = mask.reshape(-1, 4).min(axis=1) > 0
    base = count_base(n_fam)
    table = new_byte_table(n_bytes, c)
    kernel = compiled()

    def build():
        build_byte_table(XT, mask, base, PATTERN_DOSAGE, table)

    def outputs(m):
        return (np.empty((m, c)), np.empty(m), np.empty(m), np.empty(m), np.zeros((m, c)))

    def new(packed):
        kernel(packed, table, X, mask, base, *outputs(packed.shape[0]))

    def old(packed):
        old_packed_crossprod(packed, XT, mask, byte_full, *outputs(packed.shape[0]))

    build()
    kernels = {"new": new} if args.skip_old else {"old": old, "new": new}
    res_new, res_old = outputs(args.block), outputs(args.block)
    kernel(blocks[0], table, X, mask, base, *res_new)
    if not args.skip_old:
        old_packed_crossprod(blocks[0], XT, mask, byte_full, *res_old)
        for name, a, b in zip(("u", "s1", "s2", "nmiss", "smiss"), res_new, res_old,
                              strict=True):
            err = np.abs(a - b).max() / (np.abs(b).max() + 1.0)
            print(f"new vs old {name}: max |diff| / max |old| = {err:.2e}")
    scale = 200_000 / (args.block * len(blocks))
    info = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
            "n_fam": n_fam, "c": c, "block": args.block, "blocks": len(blocks),
            "best_of": args.repeat, "table_mb": table.nbytes / 2**20,
            "table_build_s": best_of(build, args.repeat), "kernels": {}}
    print(f"table: {info['table_mb']:.0f} MB, built in {info['table_build_s'] * 1e3:.0f} ms")
    with ThreadPoolExecutor(2) as ex:
        for name, fn in kernels.items():
            one = best_of(lambda fn=fn: [fn(p) for p in blocks], args.repeat)
            two = best_of(lambda fn=fn: list(ex.map(fn, blocks)), args.repeat)
            info["kernels"][name] = {"1_thread_s": one, "2_threads_s": two,
                                     "1_thread_200k_s": one * scale,
                                     "2_threads_200k_s": two * scale}
            print(f"{name}: {len(blocks)} blocks x {args.block}: 1 thread {one:.3f} s "
                  f"({one / len(blocks) * 1e3:.1f} ms/block, {one * scale:.2f} s per 200k), "
                  f"2 threads {two:.3f} s ({two * scale:.2f} s per 200k)", flush=True)
    runs = Path(__file__).parent / "runs"
    runs.mkdir(exist_ok=True)
    (runs / "scan_kernel.json").write_text(json.dumps(info, indent=1))
    if args.assoc:
        subprocess.run([sys.executable, str(Path(__file__).parent / "bench_assoc.py"),
                        "--repeat", "1", "--skip-plink2"], check=True)


if __name__ == "__main__":
    main()
