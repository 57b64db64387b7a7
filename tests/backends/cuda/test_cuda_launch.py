"""Run-time correctness the compiler cannot see: launch failures reported at the launch, faults
that leave the CUDA context unusable (and the tuner worker that then starts afresh), the context
made current on every calling thread, and device arrays that would alias ``__restrict__``
pointers. Device-free: the driver is replaced by small fakes; the GPU cases carry the cuda mark."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import nestor as ns
from backends.cuda import runtime
from backends.cuda.codegen import Launch
from backends.cuda.module import check_no_aliasing, launch_error
from backends.cuda.runtime import CudaLaunchError, DeviceArray, is_sticky
from schedules.autotune.worker import poisons_the_process
from schedules.templates import matmul_gpu


def _fake_array(ptr: int, shape: tuple, dtype=np.float32) -> DeviceArray:
    array = object.__new__(DeviceArray)
    array.shape, array.dtype = shape, np.dtype(dtype)
    array.allocation = ptr
    return array


@pytest.fixture
def matmul_params():
    s, args = matmul_gpu(64, 64, 64)
    func = ns.lower(s, args)
    return func.params, {func.params[2]}


def test_one_device_array_as_an_input_and_the_output_is_refused(matmul_params):
    params, written = matmul_params
    a, b = _fake_array(0x1000, (64, 64)), _fake_array(0x10000, (64, 64))
    with pytest.raises(ns.ArgumentError, match=r"mm: arguments 0 \(A\) and 2 \(C\) share device memory, and the "
                                               r"kernel writes one of them through a __restrict__ pointer; "
                                               r"pass separate arrays"):
        check_no_aliasing("mm", params, [a, b, a], written)


def test_overlapping_device_arrays_are_refused(matmul_params):
    params, written = matmul_params
    a, b = _fake_array(0x1000, (64, 64)), _fake_array(0x10000, (64, 64))
    inside_b = _fake_array(0x10000 + 64 * 4, (64, 64))
    with pytest.raises(ns.ArgumentError, match=r"arguments 1 \(B\) and 2 \(C\) share device memory"):
        check_no_aliasing("mm", params, [a, b, inside_b], written)


def test_one_array_read_twice_is_allowed(matmul_params):
    params, written = matmul_params
    a, c = _fake_array(0x1000, (64, 64)), _fake_array(0x10000, (64, 64))
    check_no_aliasing("mm", params, [a, a, c], written)  # both only read: no write to reorder
    check_no_aliasing("mm", params, [a, np.zeros((64, 64), np.float32), c], written)


class PycudaError(Exception):
    pass


PycudaError.__module__ = "pycuda._driver"


def test_faults_that_break_the_context_are_sticky():
    assert is_sticky(PycudaError("cuCtxSynchronize failed: an illegal memory access was encountered"))
    assert is_sticky(CudaLaunchError("x", sticky=True))
    assert not is_sticky(PycudaError("cuLaunchKernel failed: too many resources requested for launch"))
    assert not is_sticky(ValueError("an illegal memory access"))  # not from the driver


def test_a_failed_launch_names_the_kernel_and_its_shape():
    launch = Launch("k_main", (8, 8, 1), (256, 1, 1), 16384, ("A", "B", "C"), 0)
    error = launch_error(launch, PycudaError("cuLaunchKernel failed: too many resources requested for launch"))
    assert not error.sticky and isinstance(error, ns.NestorError)
    assert str(error) == ("cuda kernel k_main: launch with grid (8, 8, 1), block (256, 1, 1) and 0 bytes of "
                          "dynamic shared memory failed: cuLaunchKernel failed: too many resources requested "
                          "for launch; check the launch against the device's limits (threads, shared memory, "
                          "registers)")
    fault = launch_error(launch, PycudaError("an illegal memory access was encountered"))
    assert fault.sticky and str(fault).endswith("the CUDA context is unusable after an earlier fault: start a "
                                                "new process")


def test_a_tuner_worker_leaves_after_a_sticky_fault():
    assert poisons_the_process(PycudaError("unspecified launch failure"))
    assert not poisons_the_process(ValueError("wrong result"))


def test_the_context_is_made_current_on_each_calling_thread(monkeypatch):
    pushes = []

    class Context:
        def push(self):
            pushes.append(threading.current_thread().name)

    monkeypatch.setattr(runtime, "_state", {"driver": "drv", "context": Context()})
    monkeypatch.setattr(runtime, "_threads", threading.local())
    runtime._threads.current = True  # the thread that initialised the driver
    assert runtime.driver() == "drv" and pushes == []
    seen = []

    def call():
        seen.append(runtime.driver())
        seen.append(runtime.driver())  # once per thread

    workers = [threading.Thread(target=call) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert seen == ["drv"] * 6 and len(pushes) == 3 and len(set(pushes)) == 3


@pytest.mark.cuda
def test_aliasing_device_arrays_are_refused_on_the_gpu():
    try:
        runtime.driver()
    except ns.BackendUnavailable as error:
        pytest.skip(str(error))
    s, args = matmul_gpu(64, 64, 64)
    module = ns.build(s, args, target="cuda")
    a = ns.device_array(np.ones((64, 64), np.float32))
    b = ns.device_array(np.ones((64, 64), np.float32))
    with pytest.raises(ns.ArgumentError, match="share device memory"):
        module(a, b, a)
    c = ns.device_array(np.zeros((64, 64), np.float32))
    module(a, b, c)
    np.testing.assert_allclose(c.numpy(), np.full((64, 64), 64.0))
