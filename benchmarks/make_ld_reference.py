"""A large reference panel with LD, and a polygenic GWAS on it, for bench_clump.py --large.

    python benchmarks/make_ld_reference.py DIR [--n 5000] [--m 1000000] [--seed 1]

Model (numba, deterministic from ``--seed``):

- Founders: K = 40 haplotypes. Each variant's founder allele pattern (which of the K
  founders carry A1) is, with probability ``--copy`` (0.998), the pattern of one of the
  ``--back`` (1,000) previous variants with 0 to ``--flips`` (1) founders flipped, else
  a fresh pattern with an A1 frequency drawn from U(0.025, 0.5) (or its mirror), so
  nearby variants share patterns as in LD blocks.
- Samples: 2 haplotypes each, each a mosaic of the founders: the founder copied
  switches with probability ``--switch`` (1e-4) per variant (geometric gaps), a copied
  allele is flipped with probability 1e-3 (mutation), and a call is missing with
  probability 5e-4.
- Map: ``--chroms`` chromosomes of equal size, bp = 1,000 * k + U{-400..400}.
- Trait: ``--causal`` (1,000) causal variants with N(0, 1) effects on standardized genotypes,
  heritability ``--h2`` (0.5); marginal z of each variant from the standardized genotype
  (missing calls mean-imputed) against the standardized trait, p = 2 Phi(-|z|).
  At N = 5,000, 2,000 causal variants with h2 0.5 and weaker LD leave the p-values
  close to the null (about 13,500 of 1M below 0.01), hence fewer causal variants and
  long-range LD, to put >= 50,000 variants below a p1 <= 1e-2.

Writes DIR/ref.bed/.bim/.fam (SNP-major, founders only), DIR/gwas.tsv (ID, Z, P) and
DIR/meta.json (parameters, seconds, variants under each candidate p1, the chosen p1:
the smallest of 1e-4, 2e-4, 5e-4, ..., 1e-2 with >= 50,000 variants below it).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numba import njit

K = 40
P1_CANDIDATES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2)


@njit(cache=True)
def _founders(seed, m, k, copy, back, flips):  # pragma: no cover - compiled
    """(m, k) uint8 founder alleles (1 = A1) with shared patterns among nearby variants."""
    np.random.seed(seed)
    f = np.zeros((m, k), dtype=np.uint8)
    for v in range(m):
        if v > 0 and np.random.random() < copy:
            src = v - 1 - np.random.randint(0, min(v, back))
            for j in range(k):
                f[v, j] = f[src, j]
            for _ in range(np.random.randint(0, flips + 1)):
                j = np.random.randint(0, k)
                f[v, j] = 1 - f[v, j]
        else:
            q = np.random.uniform(0.025, 0.5)
            if np.random.random() < 0.5:
                q = 1.0 - q
            for j in range(k):
                f[v, j] = 1 if np.random.random() < q else 0
    return f


@njit(cache=True)
def _chunk(f, v0, v1, cur, nsw, nmut, nmis, switch, mu, miss, out):  # pragma: no cover
    """.bed rows of variants v0..v1 into ``out`` (v1 - v0, ceil(n / 4)); the per-haplotype
    state (founder copied, next switch / mutation) and per-sample next missing call carry
    over between chunks."""
    n2 = cur.shape[0]
    n = n2 // 2
    k = f.shape[1]
    for v in range(v0, v1):
        row = out[v - v0]
        for b in range(row.shape[0]):
            row[b] = 0
        for i in range(n):
            g = 0
            for h in (2 * i, 2 * i + 1):
                if nsw[h] == v:
                    cur[h] = np.random.randint(0, k)
                    nsw[h] = v + np.random.geometric(switch)
                a = f[v, cur[h]]
                if nmut[h] == v:
                    a = 1 - a
                    nmut[h] = v + np.random.geometric(mu)
                g += a
            if nmis[i] == v:
                code = 1
                nmis[i] = v + np.random.geometric(miss)
            elif g == 2:
                code = 0
            elif g == 1:
                code = 2
            else:
                code = 3
            row[i >> 2] |= np.uint8(code << ((i & 3) << 1))


@njit(cache=True)
def _gv_add(rows, which, beta, gv):  # pragma: no cover - compiled
    """gv += beta[c] * standardized genotype of packed row which[c] (missing -> 0)."""
    n = gv.shape[0]
    g = np.empty(n)
    for c in range(which.shape[0]):
        row = rows[which[c]]
        s = ss = cnt = 0.0
        for i in range(n):
            code = (row[i >> 2] >> ((i & 3) << 1)) & 3
            if code == 1:
                g[i] = np.nan
                continue
            x = 2.0 if code == 0 else (1.0 if code == 2 else 0.0)
            g[i] = x
            s += x
            ss += x * x
            cnt += 1
        mean = s / cnt
        sd = math.sqrt(max(ss / cnt - mean * mean, 0.0))
        if sd == 0:
            continue
        for i in range(n):
            if not np.isnan(g[i]):
                gv[i] += beta[c] * (g[i] - mean) / sd


@njit(cache=True)
def _zscores(rows, y, z):  # pragma: no cover - compiled
    """Marginal z of each packed row against standardized ``y`` (missing mean-imputed):
    z = r sqrt(n - 2) / sqrt(1 - r^2) with r the correlation over all samples."""
    n = y.shape[0]
    for v in range(rows.shape[0]):
        row = rows[v]
        s = ss = sy = cnt = 0.0
        ymis = 0.0
        for i in range(n):
            code = (row[i >> 2] >> ((i & 3) << 1)) & 3
            if code == 1:
                ymis += y[i]
                continue
            x = 2.0 if code == 0 else (1.0 if code == 2 else 0.0)
            s += x
            ss += x * x
            sy += x * y[i]
            cnt += 1
        mean = s / cnt
        var = (ss / cnt - mean * mean) * cnt / n         # imputed calls add no variance
        cov = (sy + mean * ymis) / n                      # sum(y) == 0
        if var <= 0:
            z[v] = 0.0
            continue
        r = cov / math.sqrt(var)
        r = min(max(r, -0.999999), 0.999999)
        z[v] = r * math.sqrt(n - 2) / math.sqrt(1 - r * r)


@njit(cache=True)
def _two_sided_p(z, p):  # pragma: no cover - compiled
    for v in range(z.shape[0]):
        p[v] = math.erfc(abs(z[v]) / math.sqrt(2.0))


def make(d: Path, n: int = 5000, m: int = 1_000_000, chroms: int = 4, seed: int = 1,
         switch: float = 1e-4, causal: int = 1000, h2: float = 0.5, copy: float = 0.998,
         back: int = 1000, flips: int = 1, chunk: int = 8192) -> dict:
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    f = _founders(seed, m, K, copy, back, flips)
    per = m // chroms
    ch = np.repeat(np.arange(1, chroms + 1), per)
    ch = np.r_[ch, np.full(m - ch.size, chroms)]
    k = np.arange(m) - np.searchsorted(ch, ch)              # rank within the chromosome
    pos = 1000 * (k + 1) + rng.integers(-400, 401, m)
    ids = pd.Series(ch).astype(str) + ":" + pd.Series(pos).astype(str)
    pd.DataFrame({"CHR": ch, "ID": ids, "CM": 0, "POS": pos, "A1": "A", "A2": "G"}).to_csv(
        d / "ref.bim", sep="\t", header=False, index=False)
    fam_ids = [f"s{i + 1}" for i in range(n)]
    pd.DataFrame({"FID": fam_ids, "IID": fam_ids, "PAT": 0, "MAT": 0, "SEX": 0,
                  "PHENO": -9}).to_csv(d / "ref.fam", sep=" ", header=False, index=False)
    causal_idx = np.sort(rng.choice(m, causal, replace=False))
    beta = rng.standard_normal(causal)
    cur = rng.integers(0, K, 2 * n)
    nsw = rng.geometric(switch, 2 * n) - 1
    nmut = rng.geometric(1e-3, 2 * n) - 1
    nmis = rng.geometric(5e-4, n) - 1
    _seed_numba(seed + 1)  # numba's generator, for the switches and mutations
    bpv = (n + 3) // 4
    gv = np.zeros(n)
    buf = np.empty((chunk, bpv), dtype=np.uint8)
    with open(d / "ref.bed", "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        for v0 in range(0, m, chunk):
            v1 = min(m, v0 + chunk)
            out = buf[:v1 - v0]
            _chunk(f, v0, v1, cur, nsw, nmut, nmis, switch, 1e-3, 5e-4, out)
            lo, hi = np.searchsorted(causal_idx, [v0, v1])
            _gv_add(out, (causal_idx[lo:hi] - v0).astype(np.int64), beta[lo:hi], gv)
            fh.write(out.tobytes())
    t_geno = time.perf_counter() - t0
    gv = (gv - gv.mean()) / gv.std()
    y = math.sqrt(h2) * gv + math.sqrt(1 - h2) * rng.standard_normal(n)
    y = (y - y.mean()) / y.std()
    mm = np.memmap(d / "ref.bed", dtype=np.uint8, mode="r", offset=3).reshape(m, bpv)
    z = np.empty(m)
    for v0 in range(0, m, 65536):
        _zscores(np.asarray(mm[v0:v0 + 65536]), y, z[v0:v0 + 65536])
    del mm
    p = np.empty(m)
    _two_sided_p(z, p)
    pd.DataFrame({"ID": ids, "Z": z, "P": p}).to_csv(d / "gwas.tsv", sep="\t", index=False,
                                                      float_format="%.10g")
    below = {f"{p1:g}": int((p <= p1).sum()) for p1 in P1_CANDIDATES}
    ok = [p1 for p1 in P1_CANDIDATES if below[f"{p1:g}"] >= 50_000]
    meta = {"n": n, "m": m, "chroms": chroms, "seed": seed, "founders": K, "switch": switch,
            "causal": causal, "h2": h2,
            "copy": copy, "back": back, "flips": flips, "seconds_genotypes": round(t_geno, 1),
            "seconds": round(time.perf_counter() - t0, 1), "below": below,
            "p1": ok[0] if ok else P1_CANDIDATES[-1]}
    meta["below_p1"] = int((p <= meta["p1"]).sum())
    (d / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


@njit(cache=True)
def _seed_numba(seed):  # pragma: no cover - compiled
    np.random.seed(seed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--m", type=int, default=1_000_000)
    ap.add_argument("--chroms", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--switch", type=float, default=1e-4)
    ap.add_argument("--causal", type=int, default=1000)
    ap.add_argument("--h2", type=float, default=0.5)
    ap.add_argument("--copy", type=float, default=0.998)
    ap.add_argument("--back", type=int, default=1000)
    ap.add_argument("--flips", type=int, default=1)
    args = ap.parse_args()
    meta = make(args.dir, n=args.n, m=args.m, chroms=args.chroms, seed=args.seed,
                switch=args.switch, causal=args.causal, h2=args.h2, copy=args.copy,
                back=args.back, flips=args.flips)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
