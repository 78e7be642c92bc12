"""gwasrep: genome-wide association studies on learned phenotypes.

The association engine (:func:`multitrait_lrt` on arrays, :func:`run_assoc` on
files) needs neither torch nor dask. Top-level names are imported on first use
(PEP 562), so ``import gwasrep`` and the CLI start fast.

Subpackages, from the bottom layer up (each imports only from those before it; the
import-linter contracts in pyproject.toml check this in CI):

- ``errors``, ``runs`` (the runner convention), ``system``;
- ``io``: every file format gwasrep reads or writes;
- ``assoc``: the multi-trait LRT, per-dimension tests, the LMM and the streaming engine;
- ``loci``, ``heritability``, ``mi``, ``simulate``: clumping and loci, LD scores and LDSC
  h2, the MI estimator, simulated cohorts and image tasks (independent of each other);
- ``models``: the PyTorch trait generators (GEMCONT and baselines);
- ``harness``: phenotype -> embeddings -> loci pipelines (the demo).
"""

from gwasrep._lazy import lazy_exports
from gwasrep.errors import GwasrepError, InputError

__version__ = "0.1.0"

_LAZY = {
    "AssocResult": "gwasrep.assoc.results",
    "fit_null": "gwasrep.assoc.linear",
    "multitrait_lrt": "gwasrep.assoc.lrt",
    "fit_loco_predictions": "gwasrep.assoc.ridge",
    "LocoPredictions": "gwasrep.assoc.ridge",
    "find_relatives": "gwasrep.assoc.relatives",
    "preprocess_embeddings": "gwasrep.assoc.preprocess",
    "AssocConfig": "gwasrep.assoc.config",
    "AssocRun": "gwasrep.assoc.run",
    "run_assoc": "gwasrep.assoc.run",
    "clump": "gwasrep.loci.clump",
    # Trait generators (need the torch extra).
    "TrainConfig": "gwasrep.models.config",
    "EmbedConfig": "gwasrep.models.run",
    "run_train": "gwasrep.models.run",
    "run_embed": "gwasrep.models.run",
    "read_images": "gwasrep.models.data",
}

__all__ = [
    "AssocConfig",
    "AssocResult",
    "AssocRun",
    "EmbedConfig",
    "GwasrepError",
    "InputError",
    "LocoPredictions",
    "TrainConfig",
    "__version__",
    "clump",
    "find_relatives",
    "fit_loco_predictions",
    "fit_null",
    "multitrait_lrt",
    "preprocess_embeddings",
    "read_images",
    "run_assoc",
    "run_embed",
    "run_train",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
