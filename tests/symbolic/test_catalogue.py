"""The catalogue's symbolic variants under the default schedule: one kernel per operator, run
at the original size and at a second one, on interp and llvm, against numpy."""

import numpy as np
import pytest

import nestor as ns
from tests.catalogue import assert_outputs_match
from tests.catalogue_symbolic import SYMBOLIC_CATALOGUE, run_at, symbolic_variant


def test_most_operators_have_a_variant():
    names = {b.__name__ for b in SYMBOLIC_CATALOGUE}
    assert {"matmul", "conv2d", "softmax", "layer_norm", "transpose", "sum_two_axes"} <= names


@pytest.mark.parametrize("target", ["interp", "llvm"])
@pytest.mark.parametrize("builder", SYMBOLIC_CATALOGUE, ids=lambda b: b.__name__)
def test_variant_matches_numpy(builder, target):
    variant = symbolic_variant(builder)
    assert variant.size in {d for t in variant.args for d in t.shape}
    module = ns.build(ns.create_schedule(variant.outputs), variant.args, target=target, name=variant.name)
    original = variant.concrete.inputs[0].shape[0]
    rng = np.random.default_rng(0)
    ran = [run_at(module, variant, value, rng) for value in (original, original + 3)]
    assert ran[0] is not None  # the original size always applies
    for found in ran:
        if found is not None:
            _, outputs, want = found
            assert_outputs_match(outputs, want)
