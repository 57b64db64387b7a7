"""Random schedule chains over symbolic operators: the catalogue's symbolic variants under chains
of random primitives (tests/schedules/chains.py), each result lowered and run at two sizes
against numpy; a refused primitive must leave the schedule unchanged."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nestor as ns
from tests.catalogue import assert_outputs_match
from tests.catalogue_symbolic import SYMBOLIC_CATALOGUE, run_at, symbolic_variant
from tests.schedules.chains import DataChooser, RandomChooser, random_chain, settle

pytestmark = pytest.mark.filterwarnings("ignore::schedules.parallel.InnerParallelWarning")


def check_symbolic_chain(c, steps: int, targets=("interp",)) -> None:
    variant = symbolic_variant(c.choice(SYMBOLIC_CATALOGUE, "operator"))
    s = ns.create_schedule(variant.outputs)
    log = random_chain(c, s, steps)
    text = f"operator {variant.name}:\n" + "\n".join(log)
    print(text)
    settle(s, variant.args, variant.name)  # producers left waiting for readers: named, then at root
    original = variant.concrete.inputs[0].shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for target in targets:
            try:
                module = ns.build(s, variant.args, target=target, name=variant.name)
            except ns.LoweringError as error:  # a loop vectorized over a symbolic extent
                assert "is vectorized but its extent" in str(error)
                return
            for value in (original, 1 + original // 2):
                found = run_at(module, variant, value, np.random.default_rng(value))
                if found is not None:
                    assert_outputs_match(found[1], found[2])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_symbolic_chains(data):
    check_symbolic_chain(DataChooser(data), steps=data.draw(st.integers(4, 12), label="steps"))


@pytest.mark.parametrize("seed", range(4))
def test_random_symbolic_chains_llvm(seed):
    check_symbolic_chain(RandomChooser(seed), steps=10, targets=("interp", "llvm"))


@pytest.mark.slow
@pytest.mark.parametrize("block", range(5))
def test_random_symbolic_chains_many(block):
    for seed in range(1000 + block * 100, 1000 + (block + 1) * 100):
        check_symbolic_chain(RandomChooser(seed), steps=16)
