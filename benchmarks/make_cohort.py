"""Generate the benchmark cohort of issue 2: N=20,000, M=200,000, D=10, 5 covariates, 0.5% missing.

    python benchmarks/make_cohort.py [--out DIR] [--n-samples 20000] [--n-variants 200000]

Writes cohort.bed/.bim/.fam (about 1 GB), cohort_emb.parquet, cohort_covar.tsv and
cohort_pheno.tsv (the embeddings as a PLINK phenotype file), deterministically (seed 1).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from gwasrep.simulate import simulate_cohort


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--n-samples", type=int, default=20_000)
    ap.add_argument("--n-variants", type=int, default=200_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    c = simulate_cohort(args.out, n_samples=args.n_samples, n_variants=args.n_variants,
                        n_traits=10, n_covariates=5, n_causal=20, effect_sd=0.05,
                        missing_rate=0.005, n_chrom=22, seed=1, name="cohort")
    emb = pd.read_parquet(c.emb)
    pheno = emb.rename(columns={"sample_id": "IID"})
    pheno.insert(0, "FID", pheno["IID"])
    pheno.to_csv(args.out / "cohort_pheno.tsv", sep="\t", index=False, float_format="%.10g")
    print(f"wrote {c.bed}.bed/.bim/.fam ({c.n_samples:,} x {c.n_variants:,}), {c.emb}, "
          f"{c.covar} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
