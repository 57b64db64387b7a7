"""TVM's ``te.extern`` with ``tir.ir_builder`` bodies and ``tir.decl_buffer``, as TVM's programs
write them (its codegen_extern test, topi's scans and sorts, the extern_op tutorial): each
checked against numpy on the interpreter and LLVM; the GPU form's CUDA source compiles with nvcc
and runs on the host emulation. Then what Nestor refuses, each with its message."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cuda.nvcc import compile_cuda, find_nvcc
from tests.backends.cuda import host_emulation

from .helpers import close, empty, uniform
from .te_shim import te, tvm

CPU = ["interp", "llvm"]


def add_one(n=1024):
    """TVM's test_add_pipeline: an elementwise extern."""
    A = te.placeholder((n,), name="A")

    def extern_generator(ins, outs):
        ib = tvm.tir.ir_builder.create()
        dout = ib.buffer_ptr(outs[0])
        din = ib.buffer_ptr(ins[0])
        with ib.for_range(0, n) as i:
            dout[i] = din[i] + 1
        return ib.get()

    C = te.extern(A.shape, [A], extern_generator, name="C")
    return te.create_schedule(C.op), [A, C], lambda a: a + 1


def prefix_sum(m=6, n=33):
    """An inclusive scan along rows, rows in parallel (topi's scan_cpu, serial within a row)."""
    X = te.placeholder((m, n), name="X")

    def ir(data, out):
        ib = tvm.tir.ir_builder.create()
        data, out = ib.buffer_ptr(data), ib.buffer_ptr(out)
        with ib.for_range(0, m, kind="parallel", name="row") as row:
            out[row * n] = data[row * n]
            with ib.for_range(1, n, name="col") as col:
                out[row * n + col] = out[row * n + col - 1] + data[row * n + col]
        return ib.get()

    Y = te.extern(X.shape, [X], lambda ins, outs: ir(ins[0], outs[0]), name="cumsum", tag="cumsum_cpu")
    return te.create_schedule(Y.op), [X, Y], lambda x: np.cumsum(x, axis=1)


def odd_even_sort(n=37):
    """An odd-even transposition sort of each row's copy, a swap through a let and a scratch
    element (topi's sort_ir style)."""
    X = te.placeholder((3, n), name="X")

    def ir(data, out):
        ib = tvm.tir.ir_builder.create()
        data, out = ib.buffer_ptr(data), ib.buffer_ptr(out)
        tmp = ib.allocate("float32", (1,), name="tmp", scope="local")
        with ib.for_range(0, 3, name="b") as b:
            with ib.for_range(0, n, name="i") as i:
                out[b * n + i] = data[b * n + i]
            with ib.for_range(0, n, name="phase") as phase:
                with ib.for_range(0, (n + 1) // 2, name="k") as k:
                    j = k * 2 + phase % 2
                    with ib.if_scope(j + 1 < n):
                        left = ib.let("left", out[b * n + j])
                        with ib.if_scope(left > out[b * n + j + 1]):
                            tmp[0] = out[b * n + j + 1]
                            out[b * n + j + 1] = left
                            out[b * n + j] = tmp[0]
        return ib.get()

    Y = te.extern(X.shape, [X], lambda ins, outs: ir(ins[0], outs[0]), name="sorted")
    return te.create_schedule(Y.op), [X, Y], lambda x: np.sort(x, axis=1)


def if_else_and_compute_around(n=40):
    """A compute before and after the extern; the body branches with if/else."""
    A = te.placeholder((n,), name="A")
    B = te.compute((n,), lambda i: A[i] * 2.0, name="B")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, n, name="i") as i:
            with ib.if_scope(x[i] > 0.0):
                y[i] = x[i]
            with ib.else_scope():
                y[i] = -x[i] * 0.5
        return ib.get()

    C = te.extern((n,), [B], ir, name="C")
    D = te.compute((n,), lambda i: C[i] + A[i], name="D")
    return te.create_schedule(D.op), [A, D], lambda a: np.where(2 * a > 0, 2 * a, -a) + a


def scratch_reverse(n=50):
    """A global scratch buffer allocated in the body: copy, then read it back reversed."""
    A = te.placeholder((n,), name="A")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        scratch = ib.allocate("float32", n, name="scratch")
        with ib.for_range(0, n, name="i") as i:
            scratch[i] = x[i] * 3.0
        with ib.for_range(0, n, name="i") as i:
            y[i] = scratch[n - 1 - i]
        return ib.get()

    B = te.extern((n,), [A], ir, name="B")
    return te.create_schedule(B.op), [A, B], lambda a: (a * 3)[::-1]


def strided_2d(m=7, n=9):
    """decl_buffer with variable strides (bound to the tensors' dense ones) and an element
    offset variable; the body indexes with buf[i, j], vload and vstore, and a vectorized loop."""
    A = te.placeholder((m, n), name="A")
    s0, off = te.var("s0"), te.var("off")
    Ab = tvm.tir.decl_buffer((m, n), "float32", name="Ab", strides=[s0, 1], elem_offset=off)
    Bb = tvm.tir.decl_buffer((n, m), "float32", name="Bb", strides=[te.var("t0"), 1])

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        with ib.for_range(0, n, name="j") as j:
            with ib.for_range(0, m, name="i", kind="vectorize") as i:
                ib.emit(outs[0].vstore([j, i], ins[0].vload([i, j]) + ins[0][i, 0]))
        return ib.get()

    B = te.extern((n, m), [A], ir, name="B", in_buffers=[Ab], out_buffers=[Bb])
    return te.create_schedule(B.op), [A, B], lambda a: (a + a[:, :1]).T


def two_outputs(n=20):
    """An extern with two outputs of different shapes and types (a list back, as TVM's)."""
    A = te.placeholder((n,), name="A")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        x, neg, count = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0]), ib.buffer_ptr(outs[1])
        count[0] = 0
        with ib.for_range(0, n, name="i", kind="unroll") as i:
            neg[i] = -x[i]
            with ib.if_scope(x[i] > 0.0):
                count[0] = count[0] + 1
        return ib.get()

    neg, count = te.extern([(n,), (1,)], [A], ir, dtype=["float32", "int32"], name="split")
    total = te.compute((n,), lambda i: neg[i] + count[0].astype("float32"), name="total")
    return te.create_schedule(total.op), [A, total], lambda a: -a + (a > 0).sum()


PROGRAMS = {"add_one": add_one, "prefix_sum": prefix_sum, "odd_even_sort": odd_even_sort,
            "if_else_and_compute_around": if_else_and_compute_around, "scratch_reverse": scratch_reverse,
            "strided_2d": strided_2d, "two_outputs": two_outputs}


@pytest.mark.parametrize("target", CPU)
@pytest.mark.parametrize("name", PROGRAMS)
def test_extern_programs_match_numpy(name, target, rng):
    s, args, reference = PROGRAMS[name]()
    f = tvm.build(s, args, target=target)
    ins = [uniform(rng, t.shape, str(t.dtype)) for t in args[:-1]]
    out = empty(args[-1].shape, args[-1].dtype)
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
    assert B.op.input_tensors == [A] and B.op.num_outputs == 1
    assert [b.name for b in B.op.input_placeholders] == ["A"] and B.op.output_placeholders[0].name == "B"


def add_body(ins, outs, n):
    ib = tvm.tir.ir_builder.create()
    x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
    with ib.for_range(0, n) as i:
        y[i] = x[i]
    return ib.get()


def gpu_add(n=1000, threads=128):
    """TVM's extern_op GPU form: thread_extent scope_attrs bind blockIdx.x and threadIdx.x."""
    A = te.placeholder((n,), name="A")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        bx, tx = te.thread_axis("blockIdx.x"), te.thread_axis("threadIdx.x")
        ib.scope_attr(bx, "thread_extent", (n + threads - 1) // threads)
        ib.scope_attr(tx, "thread_extent", threads)
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        tid = bx * threads + tx
        with ib.if_scope(tid < n):
            y[tid] = x[tid] * 2.0 + 1.0
        return ib.get()

    B = te.extern(A.shape, [A], ir, name="gpu_add")
    return te.create_schedule(B.op), [A, B], lambda a: a * 2 + 1


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
