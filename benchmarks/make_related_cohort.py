"""A simulated related cohort at biobank-ish size, streamed to disk chunk by chunk.

    python benchmarks/make_related_cohort.py [--out benchmarks/data/related50k]
        [--n-samples 50000] [--n-variants 200000] [--n-traits 10] [--h2 0.5]
        [--causal-frac 0.01] [--seed 1]

The model of :func:`gwasrep.simulate.families.simulate_sibships`, without holding the
(families, 2, 2, M) parental haplotypes in memory:

- a third of the samples are in sibships of 2, the rest are unrelated singletons
  (families of 1); families are in random order. Every family has two unrelated
  parents (not written) whose haplotypes are drawn per variant with
  ``f_j ~ U(0.05, 0.5)``; each child takes one random haplotype from each parent at
  every variant (variants unlinked, no LD). For a singleton that is two independent
  haplotype draws, which is how it is simulated.
- a random ``--causal-frac`` of the variants are causal, with multi-trait effects of
  genetic correlation 0.5 (compound symmetric), noise correlation 0.3, heritability
  ``--h2``: ``E = sqrt(h2) Gs @ B + sqrt(1 - h2) eps`` with ``Gs`` the causal genotypes
  standardised by the true frequencies and ``B ~ N(0, Rg / n_causal)``.

Variants are generated ``--chunk`` at a time (default 5,000): the .bed is written
incrementally and the genetic values ``Gs @ B`` are accumulated per chunk, so peak
memory is a few hundred MB plus the (N, chunk) genotypes. 22 chromosomes, variants
spread evenly, sorted by chromosome, positions increasing; cM = Mb (BOLT-LMM reads
the genetic position column).

Writes into ``--out``: ``related.bed/.bim/.fam``, ``related_emb.parquet`` (FID, IID,
emb_1..emb_D), ``related_pheno.txt`` (BOLT: space separated, header ``FID IID y1 .. yD``,
y_k the rank-based inverse normal transform of emb_k, i.e. what ``gwasrep assoc``
tests after its default preprocessing), ``causal.txt`` (causal variant IDs) and
``meta.json``. Files are written under temporary names and renamed at the end.
Deterministic for a given seed and chunk size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gwasrep.assoc.preprocess import inverse_normal_transform
from gwasrep.io._bed_kernels import encode_bed
from gwasrep.io.plink import BED_MAGIC, BIM_COLUMNS, FAM_COLUMNS

NAME = "related"
N_CHROM = 22
GENETIC_CORR = 0.5
NOISE_CORR = 0.3
# Samples per block when drawing haplotypes (bounds the temporary arrays).
ROW_BLOCK = 4096


def _haplotypes(rng: np.random.Generator, shape: tuple[int, ...], thr: np.ndarray) -> np.ndarray:
    """Boolean haplotypes of shape ``shape`` (last axis = variants) with P(1) = thr / 65536."""
    u = np.frombuffer(rng.bytes(2 * int(np.prod(shape))), dtype=np.uint16).reshape(shape)
    return u < thr


def _bits(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Fair random booleans of shape ``shape``."""
    n = int(np.prod(shape))
    b = np.unpackbits(np.frombuffer(rng.bytes((n + 7) // 8), dtype=np.uint8), count=n)
    return b.reshape(shape).astype(bool)


def chunk_genotypes(rng: np.random.Generator, thr: np.ndarray, sib_rows: np.ndarray,
                    single_rows: np.ndarray, n: int) -> np.ndarray:
    """A1 counts of one chunk of variants as int8 (n_variants_chunk, n_samples)."""
    c = thr.size
    G = np.empty((c, n), dtype=np.int8)
    thr_b = thr.astype(np.uint32)
    # Sibships of 2: parents' haplotypes (fam, parent, hap, var), then per sib and parent
    # which of the parent's two haplotypes is transmitted.
    for s in range(0, sib_rows.shape[0], ROW_BLOCK // 2):
        rows = sib_rows[s:s + ROW_BLOCK // 2]
        b = rows.shape[0]
        par = _haplotypes(rng, (b, 2, 2, c), thr_b)
        pick = _bits(rng, (b, 2, 2, c))  # (fam, sib, parent, var)
        child = np.where(pick, par[:, None, :, 1, :], par[:, None, :, 0, :])
        g = child.sum(axis=2, dtype=np.int8)  # (fam, sib, var)
        G[:, rows.ravel()] = g.reshape(2 * b, c).T
    for s in range(0, single_rows.size, ROW_BLOCK):
        rows = single_rows[s:s + ROW_BLOCK]
        hap = _haplotypes(rng, (rows.size, 2, c), thr_b)
        G[:, rows] = hap.sum(axis=1, dtype=np.int8).T
    return G


def generate(out: Path, *, n_samples: int, n_variants: int, n_traits: int, h2: float,
             causal_frac: float, seed: int, chunk: int = 5000) -> dict:
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    N, M, D = n_samples, n_variants, n_traits
    if N < 3 or M < N_CHROM:
        raise SystemExit(f"need at least 3 samples and {N_CHROM} variants")

    # Families: a third of the samples in sibships of 2, the rest singletons.
    n_pairs = N // 6
    n_single = N - 2 * n_pairs
    sizes = rng.permutation(np.r_[np.full(n_pairs, 2), np.ones(n_single, dtype=np.int64)])
    n_fam = sizes.size
    start = np.cumsum(sizes) - sizes
    sib_rows = np.column_stack([start[sizes == 2], start[sizes == 2] + 1])
    single_rows = start[sizes == 1]
    fam_of = np.repeat(np.arange(n_fam), sizes)
    sib_no = np.arange(N) - np.repeat(start, sizes)

    # Variant frequencies (quantised to 1/65536) and effects, drawn up front.
    thr = np.round(rng.uniform(0.05, 0.5, size=M) * 65536).astype(np.uint16)
    f = thr / 65536.0
    n_causal = max(1, int(round(causal_frac * M)))
    causal = np.sort(rng.choice(M, size=n_causal, replace=False))
    Rg = np.full((D, D), GENETIC_CORR) + (1 - GENETIC_CORR) * np.eye(D)
    Rn = np.full((D, D), NOISE_CORR) + (1 - NOISE_CORR) * np.eye(D)
    B = rng.standard_normal((n_causal, D)) @ np.linalg.cholesky(Rg).T / np.sqrt(n_causal)
    is_causal = np.zeros(M, dtype=bool)
    is_causal[causal] = True
    B_full = np.zeros((M, D))
    B_full[causal] = B

    prefix = out / NAME
    tmp = {ext: out / f".{NAME}.{ext}.tmp" for ext in ("bed", "bim", "fam")}
    gv = np.zeros((N, D))
    nbytes = (N + 3) // 4
    with open(tmp["bed"], "wb") as fh:
        fh.write(BED_MAGIC)
        for j0 in range(0, M, chunk):
            j1 = min(M, j0 + chunk)
            G = chunk_genotypes(rng, thr[j0:j1], sib_rows, single_rows, N)
            packed = np.zeros((j1 - j0, nbytes), dtype=np.uint8)
            encode_bed(G.T, packed)  # G.T is (N, c), Fortran-ordered: samples contiguous
            fh.write(packed.tobytes())
            cj = np.flatnonzero(is_causal[j0:j1])
            if cj.size:
                fc = f[j0 + cj]
                Gs = (G[cj].astype(np.float64) - 2 * fc[:, None]) / np.sqrt(
                    2 * fc * (1 - fc))[:, None]
                gv += Gs.T @ B_full[j0 + cj]
            if sys.stderr.isatty():
                print(f"\r  variants {j1:,}/{M:,}  {time.perf_counter() - t0:.0f}s",
                      end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)

    E = np.sqrt(h2) * gv + np.sqrt(1 - h2) * rng.standard_normal((N, D)) @ np.linalg.cholesky(
        Rn).T

    chrom = np.repeat(np.arange(1, N_CHROM + 1), np.diff(np.linspace(0, M, N_CHROM + 1)
                                                         .round().astype(int)))
    pos = np.zeros(M, dtype=np.int64)
    for c in range(1, N_CHROM + 1):
        sel = chrom == c
        pos[sel] = np.cumsum(rng.integers(5_000, 50_000, size=int(sel.sum())))
    vid = np.array([f"v{j + 1}" for j in range(M)])
    bim = pd.DataFrame({"CHROM": chrom.astype(str), "ID": vid, "CM": pos / 1e6, "POS": pos,
                        "A1": "A", "A2": "G"})
    bim[BIM_COLUMNS].to_csv(tmp["bim"], sep="\t", header=False, index=False,
                            float_format="%.6f")
    fid = np.array([f"F{k + 1:06d}" for k in fam_of])
    iid = np.array([f"F{k + 1:06d}_{i + 1}" for i, k in zip(sib_no, fam_of, strict=True)])
    fam = pd.DataFrame({"FID": fid, "IID": iid, "PAT": "0", "MAT": "0",
                        "SEX": rng.integers(1, 3, size=N).astype(str), "PHENO": "-9"})
    fam[FAM_COLUMNS].to_csv(tmp["fam"], sep=" ", header=False, index=False)

    emb = pd.DataFrame(E, columns=[f"emb_{k + 1}" for k in range(D)])
    emb.insert(0, "IID", iid)
    emb.insert(0, "FID", fid)
    emb_tmp = out / f".{NAME}_emb.parquet.tmp"
    emb.to_parquet(emb_tmp, index=False)
    Y = inverse_normal_transform(E)
    pheno = pd.DataFrame(Y, columns=[f"y{k + 1}" for k in range(D)])
    pheno.insert(0, "IID", iid)
    pheno.insert(0, "FID", fid)
    pheno_tmp = out / f".{NAME}_pheno.txt.tmp"
    pheno.to_csv(pheno_tmp, sep=" ", index=False, float_format="%.8g")
    causal_tmp = out / ".causal.txt.tmp"
    causal_tmp.write_text("".join(v + "\n" for v in vid[causal]))

    wall = time.perf_counter() - t0
    meta = {"n_samples": N, "n_variants": M, "n_traits": D, "h2": h2,
            "causal_frac": causal_frac, "n_causal": n_causal, "seed": seed, "chunk": chunk,
            "n_sib_pairs": int(n_pairs), "n_singletons": int(n_single),
            "genetic_corr": GENETIC_CORR, "noise_corr": NOISE_CORR, "n_chrom": N_CHROM,
            "wall_s": round(wall, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    meta_tmp = out / ".meta.json.tmp"
    meta_tmp.write_text(json.dumps(meta, indent=2) + "\n")
    # Rename last, .bed last of all: a complete .bed means a complete dataset.
    os.replace(emb_tmp, out / f"{NAME}_emb.parquet")
    os.replace(pheno_tmp, out / f"{NAME}_pheno.txt")
    os.replace(causal_tmp, out / "causal.txt")
    for ext in ("bim", "fam", "bed"):
        os.replace(tmp[ext], prefix.with_name(f"{NAME}.{ext}"))
    os.replace(meta_tmp, out / "meta.json")
    return meta


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "related50k",
                    help="output directory (files related.*)")
    ap.add_argument("--n-samples", type=int, default=50_000)
    ap.add_argument("--n-variants", type=int, default=200_000)
    ap.add_argument("--n-traits", type=int, default=10)
    ap.add_argument("--h2", type=float, default=0.5)
    ap.add_argument("--causal-frac", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=5000, help="variants per chunk")
    args = ap.parse_args(argv)
    meta = generate(args.out, n_samples=args.n_samples, n_variants=args.n_variants,
                    n_traits=args.n_traits, h2=args.h2, causal_frac=args.causal_frac,
                    seed=args.seed, chunk=args.chunk)
    print(f"wrote {args.out}/{NAME}.* (N={meta['n_samples']:,}, M={meta['n_variants']:,}, "
          f"D={meta['n_traits']}, {meta['n_sib_pairs']:,} sib pairs, "
          f"{meta['n_causal']:,} causal) in {meta['wall_s']:.1f} s, "
          f"peak RSS {meta['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
