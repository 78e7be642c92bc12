"""gwasrep: genome-wide association studies on learned phenotypes.

The association engine (:func:`multitrait_lrt` on arrays, :func:`run_assoc` on
files) needs neither torch nor dask.
"""

from gwasrep.assoc import AssocResult, fit_null, multitrait_lrt, preprocess_embeddings
from gwasrep.assoc.engine import AssocConfig, AssocRun, run_assoc
from gwasrep.errors import GwasrepError, InputError

__version__ = "0.1.0"

__all__ = [
    "AssocConfig",
    "AssocResult",
    "AssocRun",
    "GwasrepError",
    "InputError",
    "__version__",
    "fit_null",
    "multitrait_lrt",
    "preprocess_embeddings",
    "run_assoc",
]
