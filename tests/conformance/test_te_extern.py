"""TVM's ``te.extern`` with ``tir.ir_builder`` bodies and ``tir.decl_buffer``, as TVM's programs
write them (tests/conformance/extern_programs.py): each checked against numpy on the
interpreter and LLVM; the GPU forms' CUDA source compiles with nvcc and runs on the host
emulation. What Nestor refuses is in test_te_extern_refusals.py."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cuda.nvcc import compile_cuda, find_nvcc
from tests.backends.cuda import host_emulation

from .extern_programs import (
    PROGRAMS,
    add_body,
    block_reverse,
    gpu_add,
    if_else_and_compute_around,
    search_data,
    searchsorted,
)
from .helpers import close, empty, uniform
from .te_shim import te, tvm

CPU = ["interp", "llvm"]


@pytest.mark.parametrize("target", CPU)
@pytest.mark.parametrize("name", PROGRAMS)
def test_extern_programs_match_numpy(name, target, rng):
    s, args, reference = PROGRAMS[name]()
    f = tvm.build(s, args, target=target)
    shapes = [tuple(d if isinstance(d, int) else 29 for d in t.shape) for t in args]  # a var's size: 29
    ins = [uniform(rng, shape, str(t.dtype)) for shape, t in zip(shapes, args[:-1])]
    out = empty(shapes[-1], args[-1].dtype)
    f(*ins, out)
    close(out, reference(*[x.astype(np.float64) for x in ins]), rtol=1e-5, atol=1e-5)


def test_the_extern_stage_prints_as_its_builder_body():
    s, args, _ = if_else_and_compute_around(8)
    assert str(tvm.lower(s, args)) == """\
func main(A: float32[8], D: float32[8]) {
  allocate B: float32[8] in global
  allocate C: float32[8] in global
  for i in 0..8:
    B[i] = A[i] * 2.0
  for i in 0..8:
    if B[i] > 0.0:
      C[i] = B[i]
    else:
      C[i] = -B[i] * 0.5
  for i in 0..8:
    D[i] = C[i] + A[i]
}"""


def test_extern_op_keeps_tvms_attributes():
    A = te.placeholder((4,), name="A")
    B = te.extern((4,), [A], lambda ins, outs: add_body(ins, outs, 4), name="B", tag="copy", attrs={"k": 1})
    assert B.op.tag == "copy" and dict(B.op.attrs) == {"k": 1}
    assert isinstance(B.op, te.ExternOp) and not isinstance(A.op, te.ExternOp)
    assert B.op.input_tensors == [A] and B.op.num_outputs == 1
    assert [b.name for b in B.op.input_placeholders] == ["A"] and B.op.output_placeholders[0].name == "B"


def test_an_extern_inside_a_tag_scope_takes_its_tag():
    A = te.placeholder((4,), name="A")
    with te.tag_scope("sort_cpu"):
        B = te.extern((4,), [A], lambda ins, outs: add_body(ins, outs, 4), name="B")
    assert B.op.tag == "sort_cpu"


@pytest.mark.parametrize("target", CPU)
def test_a_while_loop_binary_search_matches_numpy(target, rng):
    s, args = searchsorted()
    row, values, want = search_data(rng)
    out = empty((11,), "int32")
    tvm.build(s, args, target=target)(row, values, out)
    close(out, want)


def test_the_while_loop_prints_and_its_cuda_source_runs_on_the_host(rng):
    s, args = searchsorted(gpu=True)
    assert "    while lo[0] < hi[0]:\n" in str(tvm.lower(s, args))
    row, values, want = search_data(rng)
    out = empty((11,), "int32")
    tvm.build(s, args, target="interp")(row, values, out)
    close(out, want)
    module = tvm.build(s, args, target="cuda", name="searchsorted")
    assert "while (true) {" in module.source
    if find_nvcc() is not None:
        compile_cuda(module.source)
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    (host,) = host_emulation.compile_host([module])
    out = empty((11,), "int32")
    host(row, values, out)
    close(out, want)


@pytest.mark.parametrize("sync", [True, False], ids=["own_barrier", "placed_barrier"])
def test_shared_memory_through_a_barrier_on_the_interpreter_and_the_host(sync, rng):
    s, args, reference = block_reverse(sync)
    assert str(tvm.lower(s, args)).count("barrier()") == 1
    a = uniform(rng, (256,))
    out = empty((256,), "float32")
    tvm.build(s, args, target="interp")(a, out)
    close(out, reference(a))
    module = tvm.build(s, args, target="cuda", name=f"reverse_{int(sync)}")
    assert module.source.count("__syncthreads();") == 1
    if find_nvcc() is not None:
        compile_cuda(module.source)
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    (host,) = host_emulation.compile_host([module])
    out = empty((256,), "float32")
    host(a, out)
    close(out, reference(a))


def test_a_gpu_body_on_llvm_and_an_unknown_sync_are_refused():
    s, args, _ = block_reverse(True)
    with pytest.raises(te.CodegenError, match=r"llvm: loop blockIdx.x is bound to blockIdx.x, which only a GPU has; "
                       r"build with target='cuda'"):
        tvm.build(s, args, target="llvm")
    with pytest.raises(te.DefinitionError, match=r"only the block-wide barrier is supported, "
                       r"tvm_storage_sync\('shared'\), got \['global'\]"):
        tvm.tir.call_intrin("int32", "tir.tvm_storage_sync", "global")


def test_gpu_extern_runs_on_the_interpreter(rng):
    s, args, reference = gpu_add(300, 64)
    a = uniform(rng, (300,))
    out = empty((300,), "float32")
    tvm.build(s, args, target="interp")(a, out)
    close(out, reference(a.astype(np.float64)))


def test_gpu_extern_cuda_source_binds_the_kernel_and_runs_on_the_host(rng):
    s, args, reference = gpu_add()
    module = tvm.build(s, args, target="cuda", name="gpu_add")
    assert "blockIdx.x" in module.source and "threadIdx.x" in module.source
    if find_nvcc() is not None:
        compile_cuda(module.source)
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    (host,) = host_emulation.compile_host([module])
    a = uniform(rng, (1000,))
    out = empty((1000,), "float32")
    host(a, out)
    close(out, reference(a.astype(np.float64)))


def test_a_cpu_extern_body_built_for_cuda_names_the_thread_extent():
    s, args, _ = PROGRAMS["add_one"]()
    with pytest.raises(te.CodegenError, match=r"is not bound to a GPU index and no bound loop encloses it.*"
                       r"in a te.extern body, open the loop inside ib.scope_attr\(te.thread_axis"
                       r"\('threadIdx.x'\), 'thread_extent', n\) instead"):
        tvm.build(s, args, target="cuda")
