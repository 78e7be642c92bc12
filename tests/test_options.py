"""Every numeric option of every command is range-checked before anything is read or written.

The rules live in one table (gwasrep/options.py). These tests fail when a configuration
gains a numeric field without a rule, when a rule names a field that is gone, and, for every
rule, when a value just outside its range reaches a runner without a one-line InputError
naming the option (and leaving the output path untouched).
"""

from __future__ import annotations

import math
import typing
from dataclasses import fields, replace

import numpy as np
import pytest

from gwasrep.errors import InputError
from gwasrep.options import OPTION_RULES, Rule, check_value
from helpers import all_configs, base_config

CONFIGS = all_configs()


def _is_numeric(tp) -> bool:
    if tp is bool:
        return False
    if tp in (int, float):
        return True
    return any(_is_numeric(a) for a in typing.get_args(tp) if a is not Ellipsis)


def _numeric_fields(cls) -> set[str]:
    hints = typing.get_type_hints(cls, localns=CONFIGS)
    return {f.name for f in fields(cls) if _is_numeric(hints[f.name])
            and typing.get_origin(hints[f.name]) is not dict}


def test_every_config_has_a_rule_table():
    assert set(CONFIGS) == set(OPTION_RULES)


@pytest.mark.parametrize("name", sorted(OPTION_RULES))
def test_every_numeric_field_has_a_rule_and_no_rule_is_stale(name):
    cls = CONFIGS[name]
    numeric = _numeric_fields(cls)
    rules = set(OPTION_RULES[name])
    assert numeric - rules == set(), f"{name}: numeric options without a rule"
    assert rules - {f.name for f in fields(cls)} == set(), f"{name}: rules for no field"


def test_rule_edges():
    prob = Rule(0, 1, lo_open=True)
    assert [prob.accepts(v) for v in (0, 1e-300, 0.5, 1, 1.0000001)] == \
        [False, True, True, True, False]
    assert not prob.accepts(math.nan)
    assert not prob.accepts(math.inf)
    assert not prob.accepts("0.5x")
    assert not prob.accepts(True)
    integer = Rule(1, integer=True)
    assert [integer.accepts(v) for v in (0, 1, 2.0, 2.5, 10**9)] == \
        [False, True, True, False, True]
    assert Rule(0, 1, True, True).describe() == "a number in (0, 1)"
    assert integer.describe() == "an integer >= 1"
    with pytest.raises(InputError, match=r"^--kb 0: expected a number > 0$"):
        check_value("--kb", 0, Rule(0, lo_open=True))
    with pytest.raises(InputError, match=r"^--maf-range 0,0.5: expected a number in \(0, 0.5\]$"):
        check_value("--maf-range", (0.0, 0.5), Rule(0, 0.5, lo_open=True))
    check_value("--p", None, prob)          # an option not given passes


def _bad_values(rule: Rule) -> list:
    bad = [math.nan, math.inf]
    if rule.lo is not None:
        bad.append(rule.lo if rule.lo_open else rule.lo - 1)
    if rule.hi is not None:
        bad.append(rule.hi if rule.hi_open else rule.hi + 1)
    if rule.integer:
        bad.append((rule.lo or 0) + 1.5)
    return bad


def _runner(name: str):
    from gwasrep.assoc.run import run_assoc, run_grm
    from gwasrep.harness.run import run_demo, run_evaluate, run_simulation
    from gwasrep.heritability.run import run_h2, run_ldscore
    from gwasrep.loci.run import run_clump, run_loci, run_meta, run_panel
    from gwasrep.mi.estimator import estimate_mi
    from gwasrep.mi.run import run_mi
    from gwasrep.models.explain import run_explain
    from gwasrep.models.run import run_embed, run_train

    def critic(cfg):
        return estimate_mi(np.zeros((20, 2)), np.zeros((20, 2)), seeds=(0,), config=cfg)

    return {"AssocConfig": run_assoc, "GrmConfig": run_grm, "ClumpConfig": run_clump,
            "LociConfig": run_loci, "PanelConfig": run_panel, "MetaConfig": run_meta,
            "LdscoreConfig": run_ldscore, "H2Config": run_h2, "MIConfig": run_mi,
            "CriticConfig": critic, "TrainConfig": run_train, "EmbedConfig": run_embed,
            "DemoConfig": run_demo, "SimulationConfig": run_simulation,
            "EvaluateConfig": run_evaluate, "ExplainConfig": run_explain}[name]


CASES = [(name, field, rule, bad) for name, rules in sorted(OPTION_RULES.items())
         for field, rule in sorted(rules.items()) for bad in _bad_values(rule)]


@pytest.mark.parametrize(("name", "field", "rule", "bad"), CASES,
                         ids=[f"{n}.{f}={b:g}" for n, f, _, b in CASES])
def test_out_of_range_value_is_one_clear_error_before_any_output(name, field, rule, bad,
                                                                 tmp_path):
    cfg = base_config(name, tmp_path)
    hints = typing.get_type_hints(CONFIGS[name], localns=CONFIGS)
    value = (bad, 0.25) if typing.get_origin(hints[field]) is tuple or \
        tuple in map(typing.get_origin, typing.get_args(hints[field])) else bad
    cfg = replace(cfg, **{field: value})
    option = rule.option or "--" + field.replace("_", "-")
    with pytest.raises(InputError) as err:
        _runner(name)(cfg)
    message = str(err.value)
    assert message.startswith(option + " ")
    assert "expected " + rule.describe() in message
    assert "\n" not in message
    assert not (tmp_path / "out").exists()


def test_mi_checks_the_critic_options(tmp_path):
    from gwasrep.mi.estimator import CriticConfig
    from gwasrep.mi.run import run_mi
    cfg = replace(base_config("MIConfig", tmp_path), critic=CriticConfig(lr=0.0))
    with pytest.raises(InputError, match=r"^--lr 0: expected a number > 0$"):
        run_mi(cfg)
    assert not (tmp_path / "out").exists()
