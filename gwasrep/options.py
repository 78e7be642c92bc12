"""Every numeric option of every command, with its range, in one table.

Each runner calls :func:`check_options` on its configuration before it reads or writes
anything: a value outside its range, an integer option given a fraction, or a NaN or
infinite value is an :class:`~gwasrep.errors.InputError` naming the option, the range
and the value. ``tests/test_options.py`` fails if any numeric field of any ``*Config``
dataclass in gwasrep has no rule here, so a new option cannot skip validation.

Cross-field constraints (``p2 >= p1``, ``warmup_epochs <= epochs``, a setting's
``panel_null <= n_null``) stay with the configuration they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import numpy as np

from gwasrep.errors import InputError

__all__ = ["OPTION_RULES", "Rule", "check_options", "check_suffix", "check_value"]


@dataclass(frozen=True)
class Rule:
    """A finite number in [lo, hi] (either end open, or absent), optionally an integer."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    #: The command-line spelling, when it is not ``--`` + the field name with dashes.
    option: str | None = None

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.lo is not None and self.hi is not None:
            return (f"{kind} in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}"
                    f"{')' if self.hi_open else ']'}")
        if self.lo is not None:
            return f"{kind} {'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{kind} {'<' if self.hi_open else '<='} {self.hi:g}"
        return f"a finite {'integer' if self.integer else 'number'}"

    def accepts(self, value) -> bool:
        if isinstance(value, bool):
            return False
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            return False
        return bool(self.accepts_array(np.array([v]))[0])

    def accepts_array(self, values) -> np.ndarray:
        """:meth:`accepts` for each value of a float array."""
        v = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(v)
        with np.errstate(invalid="ignore"):
            if self.integer:
                ok &= v == np.round(v)
            if self.lo is not None:
                ok &= (v > self.lo) if self.lo_open else (v >= self.lo)
            if self.hi is not None:
                ok &= (v < self.hi) if self.hi_open else (v <= self.hi)
        return ok


def _int(lo: float | None = None, **kw) -> Rule:
    return Rule(lo=lo, integer=True, **kw)


_PROB = Rule(0, 1, lo_open=True)         # a p-value threshold: (0, 1]
_UNIT = Rule(0, 1)                       # an r^2 or a fraction: [0, 1]
_FRACTION = Rule(0, 1, True, True)       # a split fraction: (0, 1)
_MAF = Rule(0, 0.5)
_POSITIVE = Rule(0, lo_open=True)
_NONNEG = Rule(0)
_SEED = _int(0)

#: Configuration class name -> field -> rule. ``None`` values (option not given) pass.
OPTION_RULES: dict[str, dict[str, Rule]] = {
    "AssocConfig": {"pcs": _int(1), "maf": _MAF, "geno": _UNIT, "block_size": _int(1),
                    "threads": _int(1), "grm_maf": _MAF, "ridge_block_size": _int(1),
                    "ridge_folds": _int(2), "ridge_h2": _FRACTION},
    "GrmConfig": {"maf": _MAF, "geno": _UNIT},
    "ClumpConfig": {"p1": _PROB, "p2": _PROB, "r2": _UNIT, "kb": _POSITIVE},
    "LociConfig": {"p": _PROB, "bonferroni_dims": _int(1), "window_kb": _POSITIVE,
                   "recovery_r2": Rule(0, 1, lo_open=True)},
    "PanelConfig": {"p": _PROB, "r2": _UNIT, "kb": _POSITIVE},
    "MetaConfig": {},
    "LdscoreConfig": {"window_kb": _NONNEG, "window_cm": _NONNEG, "chunk_size": _int(1)},
    "H2Config": {"intercept": Rule(0, lo_open=True, option="--intercept-h2"),
                 "n_blocks": _int(2)},
    "MIConfig": {"seeds": _int(1)},
    "CriticConfig": {"hidden": _int(1), "out_dim": _int(1),
                     "geno_dropout": Rule(0, 1, hi_open=True), "batch_size": _int(2),
                     "lr": _POSITIVE, "weight_decay": _NONNEG, "max_epochs": _int(1),
                     "patience": _int(1), "tol": _NONNEG, "eval_fraction": _FRACTION,
                     "val_fraction": _FRACTION},
    "TrainConfig": {"dim": _int(1), "epochs": _int(1), "batch_size": _int(2),
                    "lr": _POSITIVE, "weight_decay": _NONNEG, "warmup_epochs": _int(0),
                    "scarf_p": Rule(0, 1, hi_open=True), "temperature": _POSITIVE,
                    "kl_weight": _NONNEG, "patience": _int(1), "seed": _SEED,
                    "workers": _int(0), "image_size": _int(8), "val_fraction": _FRACTION,
                    "test_fraction": _FRACTION, "snp_every": _int(1), "img_weight": _UNIT,
                    "window": _int(2), "crop_p": _UNIT, "downsample_p": _UNIT,
                    "downsample_length": _int(1), "stages": _int(0), "recon_weight": _NONNEG,
                    "tau_image": Rule(0, 1, hi_open=True), "tau_genome": Rule(0, 1, hi_open=True),
                    "snp_token": _int(1), "match_weight": _NONNEG, "min_carriers": _int(1),
                    "rare_maf": Rule(0, 0.5, lo_open=True)},
    "EmbedConfig": {"image_size": _int(8), "batch_size": _int(1)},
    "ExplainConfig": {"reference_batch": _int(2), "steps": _int(1), "seed": _SEED,
                      "top": _int(1)},
    "DemoConfig": {"seed": _SEED, "n_samples": _int(50), "n_variants": _int(100)},
    "SimulationConfig": {"seeds": _int(1), "n_train": _int(10), "n_test": _int(10),
                         "h_g": Rule(0, 1, lo_open=True), "alpha_max": Rule(0, 180, True),
                         "n_causal": _int(1), "n_null": _int(0), "external_n": _int(10),
                         "panel_null": _int(0), "epochs": _int(1), "batch_size": _int(2),
                         "dim": _int(1), "pcs": _int(1), "jobs": _int(1), "threads": _int(1),
                         "data_seed": _SEED,
                         "maf_range": Rule(0, 0.5, lo_open=True)},
    "EvaluateConfig": {"pcs": _int(1), "clump_p": _PROB, "clump_r2": _UNIT,
                       "clump_kb": _POSITIVE, "window_kb": _POSITIVE, "mi_seeds": _int(1),
                       "folds": _int(2), "logistic_c": _POSITIVE, "threads": _int(1)},
}


def check_value(option: str, value, rule: Rule) -> None:
    """Raise an InputError unless ``value`` is None or satisfies ``rule``."""
    if value is None:
        return
    values = value if isinstance(value, (tuple, list)) else [value]
    for v in values:
        if not rule.accepts(v):
            shown = ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in values)
            raise InputError(f"{option} {shown}: expected {rule.describe()}")


def check_options(cfg) -> None:
    """Check every numeric field of the configuration ``cfg`` against its rule."""
    assert is_dataclass(cfg), type(cfg)
    rules = OPTION_RULES[type(cfg).__name__]
    for f in fields(cfg):
        rule = rules.get(f.name)
        if rule is not None:
            check_value(rule.option or "--" + f.name.replace("_", "-"),
                        getattr(cfg, f.name), rule)


def check_suffix(path, suffixes: tuple[str, ...], *, what: str, option: str = "--out") -> None:
    """An output file's suffix must say the format written: ``what`` names the format."""
    name = str(path).lower()
    if not any(name.endswith(x) for x in suffixes):
        found = "".join(Path(str(path)).suffixes) or "no suffix"
        raise InputError(f"{option} {path}: {what} is written here; expected a name ending "
                         f"in {' or '.join(suffixes)}, found {found}")
