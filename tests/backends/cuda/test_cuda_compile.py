"""Every catalogue operator under the generic GPU schedule and every GPU template: the generated
CUDA compiles with ``nvcc -arch=sm_90 -c``, and (run on the CPU by the host emulation) matches
numpy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.cuda.cases import NAMES
from tests.catalogue import assert_outputs_match


@pytest.mark.parametrize("name", NAMES)
def test_source_compiles_with_nvcc(name, nvcc_errors):
    assert not nvcc_errors[name], f"nvcc rejected the source of {name}:\n{nvcc_errors[name]}"


@pytest.mark.parametrize("name", NAMES)
def test_source_computes_the_reference_on_the_host(name, built_cases, host_modules, rng):
    built = built_cases[name]
    inputs = built.inputs(rng)
    outputs = built.outputs()
    host_modules[name](*inputs, *outputs)
    want = built.reference(inputs)
    if built.operator is not None:
        assert_outputs_match(outputs, want)
    else:
        for got, expected in zip(outputs, want):
            np.testing.assert_allclose(got, expected, rtol=built.case.rtol, atol=1e-5)
