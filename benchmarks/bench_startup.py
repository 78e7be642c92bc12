"""Fixed cost of a command: gwasrep assoc and clump on a tiny input, beside plink2 and plink1.9.

    python benchmarks/bench_startup.py [--repeat 7] [--before DIR [--before-python PY]]

The input is small enough that the work itself takes milliseconds (N = 500 samples,
M = 2,000 variants on 2 chromosomes, D = 4 traits, 2 covariates), so the wall time is the
fixed cost: the interpreter, imports, numba loading its cached kernels, the outputs and
the plots. Each command runs ``--repeat`` times after one untimed warm-up; the best and
median wall times are reported.

``--before DIR`` also times a checkout of an earlier commit (``git worktree add DIR
<commit>``) in the same run (benchmarks/trees.py): its ``gwasrep`` and ``cli`` packages are
put first on PYTHONPATH, on this interpreter or on ``--before-python``'s.

Then, in fresh interpreters, the incremental import cost of each library the commands load
(in the order they load them), the first call of a kernel compiled ahead of time
(gwasrep.aot), and what the JIT would cost instead: numba's import and its first dispatch of
a cached kernel, which imports numba's lowering registries and, through them, scipy.linalg.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_assoc import measure  # noqa: E402
from trees import add_arguments, gwasrep_commands  # noqa: E402

IMPORT_STEPS = [
    ("interpreter (python -c pass)", ""),
    ("numpy", "import numpy"),
    ("pandas (+ its pyarrow parts)", "import pandas"),
    ("pyarrow.parquet", "import pyarrow.parquet"),
    ("typer + rich (the CLI)", "import typer, rich.progress, rich.table"),
    ("scipy.special", "import scipy.special"),
    ("scipy.linalg", "import scipy.linalg"),
    ("a gwasrep kernel compiled ahead of time: load and first call",
     "from gwasrep.io.plink import encode_bed; import numpy as np; "
     "encode_bed(np.zeros((4, 1), np.int8), np.zeros((1, 1), np.uint8))"),
    ("numba", "import numba"),
    ("numba: first dispatch of a cached kernel (the JIT that the compiled kernels avoid)",
     "from gwasrep.io._bed_kernels import encode_bed as jit_encode; import numpy as np; "
     "jit_encode(np.zeros((4, 1), np.int8), np.zeros((1, 1), np.uint8))"),
    ("matplotlib (Figure + Agg, as pyplot on Agg)",
     "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot"),
]


def import_costs(repeat: int) -> list[tuple[str, float]]:
    """Median incremental cost of each step (a fresh interpreter after the earlier steps)."""
    out = []
    for k, (label, stmt) in enumerate(IMPORT_STEPS):
        before = "; ".join(s for _, s in IMPORT_STEPS[1:k] if s) or "pass"
        code = (f"import time; {before}; t = time.perf_counter(); {stmt or 'pass'}; "
                "print(time.perf_counter() - t)")
        if k == 0:
            times = [measure([sys.executable, "-c", "pass"], Path.cwd())["wall_s"]
                     for _ in range(repeat)]
        else:
            times = [float(subprocess.run([sys.executable, "-c", code], check=True,
                                          capture_output=True, text=True).stdout)
                     for _ in range(repeat)]
        out.append((label, statistics.median(times)))
    return out


def tiny_cohort(d: Path) -> None:
    from gwasrep.simulate import simulate_cohort

    simulate_cohort(d, n_samples=500, n_variants=2000, n_traits=4, n_covariates=2, n_causal=5,
                    effect_sd=0.3, missing_rate=0.0, n_chrom=2, seed=1, name="tiny")
    import pandas as pd

    emb = pd.read_parquet(d / "tiny_emb.parquet").rename(columns={"sample_id": "IID"})
    emb.insert(0, "FID", emb["IID"])
    emb.to_csv(d / "tiny_pheno.tsv", sep="\t", index=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    add_arguments(ap)
    args = ap.parse_args()
    runs = Path(__file__).parent.resolve() / "runs" / "startup"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    tiny_cohort(runs)
    trees = gwasrep_commands(args)
    assoc = ["assoc", "--emb", "tiny_emb.parquet", "--bed", "tiny", "--covar", "tiny_covar.tsv",
             "--quiet"]
    # The sumstats clump reads come from one untimed run.
    subprocess.run(trees["now"] + assoc + ["--out", "ref"], cwd=runs, check=True,
                   capture_output=True)
    clump = ["clump", "--sumstats", "ref/sumstats.parquet", "--bed", "tiny", "--p1", "1e-3",
             "--quiet"]
    cmds = {}
    for tree, cli in trees.items():
        cmds[f"gwasrep --help ({tree})"] = cli + ["--help"]
        cmds[f"gwasrep assoc ({tree})"] = cli + assoc + ["--out", f"a_{tree}", "--overwrite"]
        cmds[f"gwasrep assoc --no-plots ({tree})"] = (
            cli + assoc + ["--out", f"b_{tree}", "--overwrite", "--no-plots"])
        cmds[f"gwasrep clump ({tree})"] = cli + clump + ["--out", f"c_{tree}"]
    cmds["plink2 --glm"] = ["plink2", "--bfile", "tiny", "--pheno", "tiny_pheno.tsv", "--covar",
                            "tiny_covar.tsv", "--glm", "hide-covar", "--out", "pl2"]
    cmds["plink1.9 --clump"] = ["plink1.9", "--bfile", "tiny", "--clump", "ref/sumstats.tsv",
                                "--clump-snp-field", "ID", "--clump-field", "P",
                                "--clump-p1", "1e-3", "--out", "pl19"]
    import pandas as pd

    pd.read_parquet(runs / "ref" / "sumstats.parquet")[["ID", "P"]].to_csv(
        runs / "ref" / "sumstats.tsv", sep="\t", index=False)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():  # warm-up: page cache, numba cache of each tree
        subprocess.run(cmd, cwd=runs, check=True, capture_output=True)
    for _ in range(args.repeat):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=runs, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t0)
    imports = import_costs(args.repeat)
    info = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
            "command": " ".join(sys.argv),
            "wall_s": {k: {"best": min(v), "median": statistics.median(v)}
                       for k, v in times.items()},
            "imports_s": dict(imports)}
    (runs.parent / "startup.json").write_text(json.dumps(info, indent=1))
    print(f"\n{info['machine']}, {info['date']}, best / median of {args.repeat}\n")
    print("| command | best (s) | median (s) |\n|---|---|---|")
    for k, v in info["wall_s"].items():
        print(f"| {k} | {v['best']:.2f} | {v['median']:.2f} |")
    print("\n| import step (incremental, fresh interpreter) | median (s) |\n|---|---|")
    for label, t in imports:
        print(f"| {label} | {t:.3f} |")


if __name__ == "__main__":
    main()
