"""TVM's runtime-module API on a built function, as TVM's tutorials use it (through
:mod:`te_shim`): ``f.entry_name``, ``f.time_evaluator(...)``, ``f.get_source(...)``,
``f.imported_modules``, ``f.save``, ``f.export_library`` with ``tvm.runtime.load_module``, and
``tvm.cpu``/``tvm.cuda``/``tvm.device``. Times are never asserted: only the result's structure
and that the kernel ran (its outputs, against numpy)."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest

import backends.runtime_module as runtime_module
from backends.runtime_module import BenchmarkResult, time_evaluator
from tensorir.errors import ArgumentError, CodegenError

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def vector_add(n=64, target="llvm", name="myadd"):
    A = te.placeholder((n,), name="A")
    B = te.placeholder((n,), name="B")
    C = te.compute(A.shape, lambda i: A[i] + B[i], name="C")
    s = te.create_schedule(C.op)
    return tvm.build(s, [A, B, C], target, name=name), (A, B, C, s)


def test_time_evaluator_runs_the_kernel_and_reports_each_repeat(rng):
    f, _ = vector_add()
    dev = tvm.cpu(0)
    a, b, c = uniform(rng, 64), uniform(rng, 64), empty((64,), "float32")
    evaluator = f.time_evaluator(f.entry_name, dev, number=3, repeat=4, min_repeat_ms=0)
    result = evaluator(a, b, c)
    close(c, a + b)
    assert f.entry_name == "myadd"
    assert isinstance(result, tvm.runtime.BenchmarkResult) and len(result.results) == 4
    assert all(t > 0 for t in result.results)
    assert result.mean == pytest.approx(statistics.fmean(result.results))
    assert result.median == pytest.approx(statistics.median(result.results))
    assert (result.min, result.max) == (min(result.results), max(result.results))
    assert result.std == pytest.approx(np.std(result.results))
    assert "mean (ms)" in str(result)


def test_time_evaluator_takes_tvms_main_name_and_a_symbolic_call_in_build_order(rng):
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")
    m = te.var("m")  # in no shape: passed by value, before the arrays in TVM's order
    C = te.compute((n,), lambda i: B[i] + te.const(1.0), name="C")
    s = te.create_schedule(C.op)
    f = tvm.build(s, [m, A, C], "llvm")
    a, c = uniform(rng, 9), empty((9,), "float32")
    result = f.time_evaluator("__tvm_main__", tvm.cpu(0), number=2)(3, a, c)
    close(c, a * 2 + 1)
    assert len(result.results) == 1
    assert f.get_function(f.entry_name) is f


def test_min_repeat_ms_grows_the_number_of_calls_per_measurement(monkeypatch):
    clock = [0.0]
    calls = []

    def call():
        calls.append(1)
        clock[0] += 1e-3  # each call lasts 1 ms of this clock

    monkeypatch.setattr(runtime_module.time, "perf_counter", lambda: clock[0])
    result = time_evaluator(call, ("k",), "k", None, number=1, repeat=3, min_repeat_ms=10)()
    # warm-up, one measurement of 1 call (1 ms < 10 ms: redone), then 3 of 10 calls
    assert len(calls) == 1 + 1 + 3 * 10
    assert result.results == pytest.approx((1e-3,) * 3)


def test_benchmark_result_statistics():
    r = BenchmarkResult((3.0, 1.0, 2.0, 6.0))
    assert (r.mean, r.median, r.min, r.max) == (3.0, 2.5, 1.0, 6.0)
    assert r.std == pytest.approx(np.std([3.0, 1.0, 2.0, 6.0]))
    assert BenchmarkResult((0.5,)).std == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"func_name": "nope"}, "time_evaluator: this module has no function 'nope'; its function is 'myadd': "
                            "pass f.entry_name"),
    ({"number": 0}, "time_evaluator: number must be an int >= 1, got 0"),
    ({"repeat": "3"}, "time_evaluator: repeat must be an int >= 1, got '3'"),
    ({"min_repeat_ms": -1}, "time_evaluator: min_repeat_ms must be a number >= 0, got -1"),
    ({"flush": True}, r"time_evaluator: unknown options \['flush'\]; it takes number=, repeat=, min_repeat_ms="),
])
def test_time_evaluator_refuses_bad_options(kwargs, message):
    f, _ = vector_add()
    kwargs = {"func_name": f.entry_name} | kwargs
    with pytest.raises(ArgumentError, match=f"^{message}$"):
        f.time_evaluator(kwargs.pop("func_name"), tvm.cpu(0), **kwargs)


def test_time_evaluator_checks_the_arrays_before_timing():
    f, _ = vector_add()
    evaluator = f.time_evaluator(f.entry_name, tvm.cpu(0))
    with pytest.raises(ArgumentError, match=r"myadd: argument 0 \(A\) must have dtype float32, got float64"):
        evaluator(np.zeros(64), np.zeros(64, "float32"), np.zeros(64, "float32"))


def test_llvm_sources_and_save(tmp_path):
    f, _ = vector_add()
    ir = f.get_source()
    assert ir == f.get_source("ll") and 'define void @"nestor_myadd"(' in ir
    assert "nestor_myadd:" in f.get_source("asm") and f.get_source("s") == f.get_source("asm")
    assert f.imported_modules == [] and f.type_key == "llvm"
    f.save(tmp_path / "k.ll")
    assert (tmp_path / "k.ll").read_text() == ir
    f.save(tmp_path / "k.s")
    assert (tmp_path / "k.s").read_text() == f.get_source("asm")
    with pytest.raises(CodegenError, match=r"^get_source: a llvm module has no 'cu' source; formats: 'll', "
                                           r"'asm', 's'$"):
        f.get_source("cu")
    with pytest.raises(CodegenError, match=r"save: cannot tell the format of '.*k\.bin' from its suffix; name "
                                           r"a file \.ll, \.s or pass fmt="):
        f.save(tmp_path / "k.bin")


def test_a_cuda_build_imports_its_device_module():
    A, B, C, s = vector_add()[1]
    bx, tx = s[C].split(C.op.axis[0], factor=32)
    s[C].bind(bx, te.thread_axis("blockIdx.x"))
    s[C].bind(tx, te.thread_axis("threadIdx.x"))
    f = tvm.build(s, [A, B, C], "cuda", name="myadd")
    (device,) = f.imported_modules
    assert device.type_key == "cuda"
    assert "__global__" in device.get_source() and device.get_source() == f.get_source("cu")
    with pytest.raises(CodegenError, match="^export_library: a cuda module cannot be exported; build with "
                                           "target='llvm' to export a kernel that load_module loads back$"):
        f.export_library("never-written.nmod")


def test_an_interp_build_shows_its_python():
    f, _ = vector_add(target="interp")
    assert f.get_source().startswith(f.get_source("py")) and "def kernel(" in f.get_source()
    assert f.get_source("tir") == f.source


def test_export_library_and_load_module_compute_the_same(rng, tmp_path):
    f, _ = vector_add(37)
    path = tmp_path / "myadd.so"
    f.export_library(path)
    loaded = tvm.runtime.load_module(path)
    a, b, c = uniform(rng, 37), uniform(rng, 37), empty((37,), "float32")
    loaded(a, b, c)
    close(c, a + b)
    assert loaded.entry_name == "myadd" and loaded.get_source() == f.get_source()
    c2 = empty((37,), "float32")
    loaded.time_evaluator(loaded.entry_name, tvm.cpu(0), number=2, repeat=2)(a, b, c2)
    close(c2, a + b)
    with pytest.raises(ArgumentError, match=r"myadd: argument 2 \(C\) must have shape \[37\], got \[36\]"):
        loaded(a, b, np.zeros(36, "float32"))
    again = te.load_module(path)  # a second load takes the object from the kernel cache
    again(b, a, c)
    close(c, a + b)


def test_a_parallel_vectorized_kernel_with_a_float_parameter_round_trips(rng, tmp_path):
    A = te.placeholder((64, 32), name="A")
    alpha = te.var("alpha", "float32")
    B = te.compute((64, 32), lambda i, j: A[i, j] * alpha, name="B")
    s = te.create_schedule(B.op)
    s[B].parallel(B.op.axis[0])
    s[B].vectorize(s[B].split(B.op.axis[1], 16)[1])
    tvm.build(s, [A, alpha, B]).export_library(tmp_path / "scale.so")
    g = tvm.runtime.load_module(tmp_path / "scale.so")
    a, b = uniform(rng, (64, 32)), empty((64, 32), "float32")
    g(a, 2.5, b)
    close(b, a * 2.5)


def test_a_loaded_kernel_keeps_its_subscript_checks(tmp_path):
    A = te.placeholder((5,), name="A")
    Idx = te.placeholder((3,), name="Idx", dtype="int32")
    B = te.compute((3,), lambda i: A[Idx[i]], name="B")
    tvm.build(te.create_schedule(B.op), [A, Idx, B]).export_library(tmp_path / "g.nmod")
    g = tvm.runtime.load_module(tmp_path / "g.nmod")
    a, b = np.arange(5, dtype="float32") * 1.5, empty((3,), "float32")
    g(a, np.array([4, 0, 2], "int32"), b)
    close(b, a[[4, 0, 2]])
    with pytest.raises(te.OutOfBoundsError, match=r"llvm: compute B: the access A\[Idx\[i\]\] reads dimension 0 "
                                                  r"of A \(shape \[5\]\) at index Idx\[i\] = 5, outside 0..4"):
        g(a, np.array([4, 5, 0], "int32"), b)


def test_export_refuses_a_kernel_with_size_variables(tmp_path):
    f, _ = vector_add(te.var("n"))
    with pytest.raises(CodegenError, match=r"^export_library: myadd has size variables \(n\); only kernels of "
                                           r"static shapes are exported: build it with integer shapes$"):
        f.export_library(tmp_path / "k.nmod")


def _exported(tmp_path):
    path = tmp_path / "k.nmod"
    vector_add(8)[0].export_library(path)
    magic, header, ir = path.read_text().split("\n", 2)
    return path, magic, json.loads(header), ir


def test_load_module_refuses_missing_foreign_and_corrupt_files(tmp_path):
    with pytest.raises(ArgumentError, match=r"^load_module: '.*nothing\.so' cannot be read \(No such file or "
                                            r"directory\); pass the path given to f\.export_library\(path\)$"):
        tvm.runtime.load_module(tmp_path / "nothing.so")
    (tmp_path / "lib.so").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64))
    with pytest.raises(ArgumentError, match=r"'.*lib\.so' is not a kernel exported by Nestor's export_library "
                                            r"\(it starts with b'\\x7fELF.*'\); export one with "
                                            r"f\.export_library\(path\) of an llvm build$"):
        tvm.runtime.load_module(tmp_path / "lib.so")
    path, magic, header, ir = _exported(tmp_path)
    path.write_text(f"{magic}\n{{\"entry\": 1}}\n{ir}")
    with pytest.raises(ArgumentError, match=r"'.*k\.nmod' has a corrupt header \(KeyError: 'params'\); export "
                                            r"the kernel again$"):
        tvm.runtime.load_module(path)
    path.write_text(f"{magic}\n{json.dumps(header | {'host': 'x|z80|+none'})}\n{ir}")
    with pytest.raises(ArgumentError, match=r"'.*k\.nmod' was compiled for another host \(z80\); this machine is "
                                            r".*: export the kernel again on this machine$"):
        tvm.runtime.load_module(path)
    path.write_text(f"{magic}\n{json.dumps(header)}\n{ir[:len(ir) // 2]}")
    with pytest.raises(ArgumentError, match=r"'.*k\.nmod' holds IR that does not parse \(LLVM IR parsing error "
                                            r"<string>:\d+:\d+: error: .*\); export the kernel again$"):
        tvm.runtime.load_module(path)


def test_a_loaded_module_is_not_exported_again(tmp_path):
    path = _exported(tmp_path)[0]
    with pytest.raises(CodegenError, match="^export_library: a loaded module is its file already; copy the file"):
        tvm.runtime.load_module(path).export_library(tmp_path / "again.nmod")


def test_devices():
    dev = tvm.cpu(0)
    assert dev.exist and not tvm.cpu(1).exist and str(dev) == "cpu(0)"
    assert (dev.device_type, dev.device_id) == (1, 0)
    assert tvm.device("llvm", 0) == dev and tvm.device("cuda", 0) == tvm.cuda(0)
    assert tvm.cuda(0).device_type == 2 and isinstance(tvm.cuda(0).exist, bool)
    dev.sync()
    with pytest.raises(ArgumentError, match=r"^device: unknown device 'tpu'; use one of 'cpu', 'llvm', 'c', "
                                            r"'cuda', 'gpu', 'nvptx'$"):
        tvm.device("tpu")
    with pytest.raises(ArgumentError, match=r"^device: the index must be an int >= 0, got -1$"):
        tvm.cpu(-1)
