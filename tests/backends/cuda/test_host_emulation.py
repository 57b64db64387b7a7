"""The host emulation of CUDA shows what a GPU does not promise: shared memory that no thread
wrote holds NaN, and blocks run in a shuffled order."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

import nestor as ns
from schedules.templates import window_sum_gpu
from tests.backends.cuda import host_emulation
from tests.backends.cuda.cases import bound_relu

pytestmark = pytest.mark.skipif(not host_emulation.available(), reason="g++ is not installed")


def _with_source(module, source: str):
    return SimpleNamespace(**{**vars(module), "source": source})


def test_shared_memory_that_no_thread_wrote_reads_nan(tmp_path):
    s, args = window_sum_gpu(45, threads=16)
    module = ns.build(s, args, target="cuda", name="unfilled")
    without_copy = re.sub(r"\n\s*A_shared\[[^\n]*= A\[[^\n]*;", "", module.source)
    assert without_copy != module.source and "A_shared[" in without_copy
    (run,) = host_emulation.compile_host([_with_source(module, without_copy)], str(tmp_path))
    a, b = np.ones(49, np.float32), np.zeros(45, np.float32)
    run(a, b)
    assert np.isnan(b).all()


def test_shared_memory_is_poisoned_before_each_block(tmp_path):
    # the copy fills the tile; a stale tile from the previous block would not show otherwise
    s, args = window_sum_gpu(45, threads=16)
    (run,) = host_emulation.compile_host([ns.build(s, args, target="cuda", name="filled")], str(tmp_path))
    a, b = np.arange(49, dtype=np.float32), np.zeros(45, np.float32)
    run(a, b)
    np.testing.assert_allclose(b, [a[i:i + 5].sum() for i in range(45)])


def test_blocks_run_in_a_shuffled_order(tmp_path):
    s, args = bound_relu(7, 13, ("blockIdx.x", ""))
    module = ns.build(s, args, target="cuda", name="order")
    # each block writes the step at which it ran
    counting = module.source.replace("nestor_max(X[i * 13 + j], 0.0f);", "(float)nestor_step;") \
        .replace("  for (int j = 0; j < 13; ++j) {", "  ++nestor_step;\n  for (int j = 0; j < 13; ++j) {")
    counting = "static int nestor_step = 0;\n" + counting
    assert counting.count("nestor_step") == 3
    (run,) = host_emulation.compile_host([_with_source(module, counting)], str(tmp_path))
    y = np.zeros((7, 13), np.float32)
    run(np.zeros((7, 13), np.float32), y)
    steps = y[:, 0].astype(int)
    assert sorted(steps) == list(range(1, 8)) and list(steps) != list(range(1, 8))


def test_shared_declarations_move_to_file_scope():
    source = ('extern "C" __global__ void __launch_bounds__(64, 2) k(float* __restrict__ Y) {\n'
              "  __shared__ __align__(16) float T[8];\n"
              "  __shared__ int U[4];\n"
              "  Y[0] = T[0] + U[0];\n}")
    assert host_emulation.poisoned_shared(source).splitlines() == [
        "static float nestor_shared_k_T[8] __attribute__((aligned(16)));",
        "static int nestor_shared_k_U[4] __attribute__((aligned(16)));",
        "static void nestor_poison_k(void) { memset(nestor_shared_k_T, 0xFF, sizeof nestor_shared_k_T); "
        "memset(nestor_shared_k_U, 0xFF, sizeof nestor_shared_k_U); }",
        'extern "C" __global__ void __launch_bounds__(64, 2) k(float* __restrict__ Y) {',
        "  float* const T = nestor_shared_k_T;",
        "  int* const U = nestor_shared_k_U;",
        "  Y[0] = T[0] + U[0];",
        "}",
    ]
