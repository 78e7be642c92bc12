"""Time one MI estimate (`gwasrep mi`, one seed, JSE + InfoNCE) at N = 10,000, 1,000 variants.

    python benchmarks/bench_mi.py [--samples 10000] [--variants 1000] [--seeds 1]

There is no peer tool to run beside it: GIM's estimator has no public code, so this
records absolute CPU time (and epochs, and time per epoch) only. The cohort is
simulated (gwasrep.simulate.cohort: 10 embedding dimensions, 20 causal variants).
Writes benchmarks/runs/mi.json and prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_ldsc import measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--variants", type=int, default=1_000)
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    from gwasrep.simulate.cohort import simulate_cohort

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sim = simulate_cohort(d, n_samples=args.samples, n_variants=args.variants, n_traits=10,
                              n_covariates=0, n_causal=20, effect_sd=0.2, seed=1)
        cmd = [shutil.which("gwasrep") or "gwasrep", "mi", "--emb", str(sim.emb), "--bed",
               str(sim.bed), "--out", str(d / "b"), "--seeds", str(args.seeds), "--quiet"]
        m = measure(cmd, d)
        t = pd.read_csv(d / "b.mi.tsv", sep="\t")
        doc = json.loads((d / "b.mi.json").read_text())
    epochs = int(t["EPOCHS_JSE"].sum() + t["EPOCHS_INFONCE"].sum())
    rec = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
           "python": platform.python_version(), "torch": doc["torch"],
           "samples": args.samples, "variants": args.variants, "seeds": args.seeds, **m,
           "epochs": epochs, "s_per_epoch": float(t["SECONDS"].sum()) / max(epochs, 1),
           "per_seed": t.to_dict("records"), "summary": doc["summary"]}
    out = Path(__file__).parent / "runs" / "mi.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rec, indent=2) + "\n")
    print("| N | variants | seeds | wall (s) | CPU (s) | peak RSS (MB) | epochs (JSE+InfoNCE) "
          "| s/epoch | MI_JSE | MI_INFONCE | JSE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    s = doc["summary"]
    print(f"| {args.samples:,} | {args.variants:,} | {args.seeds} | {m['wall_s']:.1f} | "
          f"{m['cpu_s']:.1f} | {m['peak_rss_mb']:.0f} | {epochs} | {rec['s_per_epoch']:.3f} | "
          f"{s['MI_JSE']['mean']:.3f} | {s['MI_INFONCE']['mean']:.3f} | {s['JSE']['mean']:.3f} |")


if __name__ == "__main__":
    main()
