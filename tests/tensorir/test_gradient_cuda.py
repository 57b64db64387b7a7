"""Derived adjoints under the generic GPU schedule: the CUDA source compiles with nvcc and, run on
the host CPU by the emulation of the CUDA tests, matches the LLVM build of the same adjoints."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from schedules.templates.gpu_generic import schedule_gpu
from tests.backends.cuda import host_emulation
from tests.tensorir.test_gradient import conv2d


def _derived_conv():
    x, w = ns.placeholder((1, 2, 7, 7), name="X"), ns.placeholder((3, 2, 3, 3), name="W")
    y = conv2d(2, 1, 1)(x, w)
    head = ns.placeholder(y.shape, name="dY")
    return [x, w, head], ns.gradient(y, [x, w], head)


@pytest.mark.slow
def test_derived_conv_adjoints_compile_for_cuda_and_compute_the_llvm_result():
    if find_nvcc() is None or not host_emulation.available():
        pytest.skip("nvcc or g++ is not installed")
    args, grads = _derived_conv()
    module = ns.build(schedule_gpu(ns.create_schedule(grads)), [*args, *grads], target="cuda", name="derived")
    with tempfile.TemporaryDirectory(prefix="nestor_grad_cuda_") as folder:
        path = Path(folder) / "derived.cu"
        path.write_text(module.source)
        done = subprocess.run([find_nvcc(), "-arch=sm_90", "-c", str(path), "-o", str(path.with_suffix(".o"))],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        (host,) = host_emulation.compile_host([module], folder)
        rng = np.random.default_rng(0)
        inputs = [rng.standard_normal(t.shape).astype("float32") for t in args]
        got = [np.zeros(t.shape, "float32") for t in grads]
        host(*inputs, *got)
    reference = ns.build(ns.create_schedule(grads), [*args, *grads])
    want = [np.zeros(t.shape, "float32") for t in grads]
    reference(*inputs, *want)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
