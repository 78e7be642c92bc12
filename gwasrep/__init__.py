"""gwasrep: genome-wide association studies on learned phenotypes.

The association engine (:func:`multitrait_lrt` on arrays, :func:`run_assoc` on
files) needs neither torch nor dask. Top-level names are imported on first use
(PEP 562), so ``import gwasrep`` and the CLI start fast.
"""

from importlib import import_module

from gwasrep.errors import GwasrepError, InputError

__version__ = "0.1.0"

_LAZY = {
    "AssocResult": "gwasrep.assoc.lrt",
    "fit_null": "gwasrep.assoc.lrt",
    "multitrait_lrt": "gwasrep.assoc.lrt",
    "preprocess_embeddings": "gwasrep.assoc.preprocess",
    "AssocConfig": "gwasrep.assoc.engine",
    "AssocRun": "gwasrep.assoc.engine",
    "run_assoc": "gwasrep.assoc.engine",
    "clump": "gwasrep.loci.clump",
    # Trait generators (need the torch extra).
    "TrainConfig": "gwasrep.models.train",
    "run_train": "gwasrep.models.train",
    "run_embed": "gwasrep.models.embed",
    "read_images": "gwasrep.models.data",
}

__all__ = [
    "AssocConfig",
    "AssocResult",
    "AssocRun",
    "GwasrepError",
    "InputError",
    "TrainConfig",
    "__version__",
    "clump",
    "fit_null",
    "multitrait_lrt",
    "preprocess_embeddings",
    "read_images",
    "run_embed",
    "run_train",
    "run_assoc",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gwasrep' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
