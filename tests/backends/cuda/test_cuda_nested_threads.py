"""TVM's nested-thread bound example on CUDA: the local stage is one register per thread, the
shared one the block's 32 elements; the source compiles with nvcc and, run by the host
emulation (threads in lock step at the barrier), matches numpy."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from tests.backends.cuda import host_emulation
from tests.schedules.test_tvm_bounds import nested_threads


@pytest.fixture(scope="module")
def module():
    s, args = nested_threads()
    return ns.build(s, args, target="cuda", name="nested_threads")


def test_the_local_stage_is_one_register_per_thread(module):
    assert "float A1[1];" in module.source
    assert "__shared__ float A2[32];" in module.source


def test_the_source_compiles_with_nvcc(module, tmp_path):
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    path = tmp_path / "nested.cu"
    path.write_text(module.source)
    done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(tmp_path / "nested.o")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_source_computes_numpy_on_the_host(module, tmp_path):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    (host,) = host_emulation.compile_host([module], str(tmp_path))
    a = np.random.default_rng(0).uniform(-1, 1, 64).astype(np.float32)
    out = np.full(64, np.nan, np.float32)
    host(a, out)
    np.testing.assert_allclose(out, a + 5, rtol=1e-6)
