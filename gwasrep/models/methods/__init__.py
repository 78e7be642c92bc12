"""The trait-method registry: one module per method, one line per method below.

Each module (``gemcont``, ``prs``, ``simclr``, ``vae``, ``autoencoder``, ``supervised``)
defines its model and a ``SPEC`` (:class:`~gwasrep.models.methods.base.MethodSpec`): what
it needs (images only, the panel's dosages, a score, a target) and how its model is built.
To add a method, write its module and add one line to :data:`REGISTRY`.

This package's ``__init__`` does not import torch, so the CLI can list the methods in its
help; :func:`get_method` imports the method's module (and torch) on first use.
"""

from __future__ import annotations

from importlib import import_module

from gwasrep.errors import InputError

__all__ = ["GENO_ENCODERS", "REGISTRY", "get_method", "model_from_config"]

#: Method name -> its module in this package (help order).
REGISTRY = {
    "gemcont": "gwasrep.models.methods.gemcont",
    "prs": "gwasrep.models.methods.prs",
    "simclr": "gwasrep.models.methods.simclr",
    "vae": "gwasrep.models.methods.vae",
    "autoencoder": "gwasrep.models.methods.autoencoder",
    "supervised": "gwasrep.models.methods.supervised",
    "contig": "gwasrep.models.methods.contig",
    "gim": "gwasrep.models.methods.gim",
    "mrm": "gwasrep.models.methods.mrm",
}

#: ``--geno-encoder`` values each method with a genetic encoder accepts; the first is its
#: default. The other methods ignore the option.
GENO_ENCODERS = {
    "gemcont": ("linear", "mlp"),
    "prs": ("linear",),
    "contig": ("h1", "h12", "none"),
    "gim": ("transformer", "mlp"),
    "mrm": ("snn",),
}


def get_method(name: str):
    """The :class:`~gwasrep.models.methods.base.MethodSpec` of method ``name``."""
    if name not in REGISTRY:
        raise InputError(f"method: expected one of {', '.join(REGISTRY)}; found {name!r}")
    return import_module(REGISTRY[name]).SPEC


def model_from_config(cfg, inputs):
    """The model of ``cfg.method`` (a TrainConfig) for ``inputs`` (a ModelInputs).

    The one constructor behind training and loading a run: the initial weights depend
    only on ``cfg.seed``.
    """
    import torch

    spec = get_method(cfg.method)
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    return spec.build(cfg, inputs, g)
