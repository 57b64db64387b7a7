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


def extern_chain(n=24):
    """An extern reading another extern's output (a shift, then a running maximum)."""
    A = te.placeholder((n,), name="A")

    def shift(ins, outs):
        ib = tvm.tir.ir_builder.create()
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, n, name="i") as i:
            y[i] = x[(i + 1) % n]
        return ib.get()

    def running_max(ins, outs):
        ib = tvm.tir.ir_builder.create()
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        best = ib.allocate("float32", 1, name="best", scope="local")
        best[0] = x[0]
        with ib.for_range(0, n, name="i") as i:
            best[0] = te.max(best[0], x[i])
            y[i] = best[0]
        return ib.get()

    B = te.extern((n,), [A], shift, name="B")
    C = te.extern((n,), [B], running_max, name="C")
    return te.create_schedule(C.op), [A, C], lambda a: np.maximum.accumulate(np.roll(a, -1))


def symbolic_length():
    """Sizes from an ns.var: the extern loops over the bound length."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, n, name="i") as i:
            y[i] = x[n - 1 - i] * 2.0
        return ib.get()

    B = te.extern((n,), [A], ir, name="B")
    return te.create_schedule(B.op), [A, B], lambda a: a[::-1] * 2


PROGRAMS = {"extern_chain": extern_chain, "symbolic_length": symbolic_length,
            "add_one": add_one, "prefix_sum": prefix_sum, "odd_even_sort": odd_even_sort,
            "if_else_and_compute_around": if_else_and_compute_around, "scratch_reverse": scratch_reverse,
            "strided_2d": strided_2d, "two_outputs": two_outputs}


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
    assert B.op.input_tensors == [A] and B.op.num_outputs == 1
    assert [b.name for b in B.op.input_placeholders] == ["A"] and B.op.output_placeholders[0].name == "B"


def test_an_extern_inside_a_tag_scope_takes_its_tag():
    A = te.placeholder((4,), name="A")
    with te.tag_scope("sort_cpu"):
        B = te.extern((4,), [A], lambda ins, outs: add_body(ins, outs, 4), name="B")
    assert B.op.tag == "sort_cpu"


def _reads_of_b_by_an_extern():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] * 2.0, name="B")
    C = te.extern((8,), [B], lambda ins, outs: add_body(ins, outs, 8), name="C")
    D = te.compute((8,), lambda i: B[i] + C[i], name="D")
    return A, B, D, te.create_schedule(D.op)


def test_a_producer_an_extern_reads_cannot_be_inlined():
    A, B, D, s = _reads_of_b_by_an_extern()
    s[B].compute_inline()
    with pytest.raises(te.LoweringError, match=r"lower: extern C reads B whole, as a buffer, but B is inlined "
                       r"\(compute_inline\), so no whole buffer of it exists; leave B at root \(drop its "
                       r"compute_inline/compute_at, or s\[B\].compute_root\(\)\)"):
        tvm.lower(s, [A, D])


def test_a_producer_an_extern_reads_cannot_move_into_another_stages_loop():
    A, B, D, s = _reads_of_b_by_an_extern()
    s[B].compute_at(s[D], D.op.axis[0])
    with pytest.raises(te.LoweringError, match=r"B is computed inside loop i of D \(compute_at\), but \['C'\] "
                       r"still read it outside that loop.*or compute_root B"):
        tvm.lower(s, [A, D])


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


def searchsorted(m=11, n=16, gpu=False):
    """topi's searchsorted: per value, a binary search of the sorted row with ib.while_loop (one
    GPU thread per value, or a parallel loop on the CPU)."""
    S = te.placeholder((n,), name="S")
    V = te.placeholder((m,), name="V")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        sorted_row, values, out = ib.buffer_ptr(ins[0]), ib.buffer_ptr(ins[1]), ib.buffer_ptr(outs[0])

        def search(v):
            lo = ib.allocate("int32", (1,), name="lo", scope="local")
            hi = ib.allocate("int32", (1,), name="hi", scope="local")
            lo[0], hi[0] = 0, n
            with ib.while_loop(lo[0] < hi[0]):
                mid = (lo[0] + hi[0]) >> 1
                with ib.if_scope(sorted_row[mid] < values[v]):
                    lo[0] = mid + 1
                with ib.else_scope():
                    hi[0] = mid
            out[v] = lo[0]

        if gpu:
            tx = te.thread_axis("threadIdx.x")
            ib.scope_attr(tx, "thread_extent", 32)
            with ib.if_scope(tx < m):
                search(tx)
        else:
            with ib.for_range(0, m, name="v", kind="parallel") as v:
                with ib.new_scope():
                    search(v)
        return ib.get()

    B = te.extern((m,), [S, V], ir, dtype="int32", name="searchsorted")
    return te.create_schedule(B.op), [S, V, B]


def _search_data(rng, m=11, n=16):
    row = np.sort(rng.integers(-8, 9, size=n)).astype("float32")
    values = rng.integers(-10, 11, size=m).astype("float32")
    return row, values, np.searchsorted(row, values, side="left")


@pytest.mark.parametrize("target", CPU)
def test_a_while_loop_binary_search_matches_numpy(target, rng):
    s, args = searchsorted()
    row, values, want = _search_data(rng)
    out = empty((11,), "int32")
    tvm.build(s, args, target=target)(row, values, out)
    close(out, want)


def test_the_while_loop_prints_and_its_cuda_source_runs_on_the_host(rng):
    s, args = searchsorted(gpu=True)
    assert "    while lo[0] < hi[0]:\n" in str(tvm.lower(s, args))
    row, values, want = _search_data(rng)
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


def block_reverse(sync: bool, n=256, threads=64):
    """Each block reverses its tile through shared memory; the barrier between the write and the
    read is the body's own (tvm_storage_sync) or the one Nestor's barrier pass places."""
    A = te.placeholder((n,), name="A")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        bx, tx = te.thread_axis("blockIdx.x"), te.thread_axis("threadIdx.x")
        ib.scope_attr(bx, "thread_extent", n // threads)
        ib.scope_attr(tx, "thread_extent", threads)
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        tile = ib.allocate("float32", threads, name="tile", scope="shared")
        tile[tx] = x[bx * threads + tx]
        if sync:
            ib.emit(tvm.tir.call_intrin("int32", "tir.tvm_storage_sync", "shared"))
        y[bx * threads + tx] = tile[threads - 1 - tx]
        return ib.get()

    B = te.extern((n,), [A], ir, name="reverse")
    return te.create_schedule(B.op), [A, B], lambda a: a.reshape(-1, threads)[:, ::-1].ravel()


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


# -- safety: subscripts no loop range bounds are checked when the kernel runs ------------------------

def _scatter(n=16):
    """out[idx[i]] = x[i]: an index read from data, as topi's scatter and argwhere write."""
    X = te.placeholder((n,), name="X")
    I = te.placeholder((n,), dtype="int32", name="I")  # noqa: E741 - the index tensor

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        x, idx, out = ib.buffer_ptr(ins[0]), ib.buffer_ptr(ins[1]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, n, name="i") as i:
            out[idx[i]] = x[i]
        return ib.get()

    Y = te.extern((n,), [X, I], ir, dtype="float32", name="Y")
    return te.create_schedule(Y.op), [X, I, Y]


@pytest.mark.parametrize("target", CPU)
def test_a_data_dependent_write_inside_the_buffer_runs(target, rng):
    s, args = _scatter()
    x, perm = uniform(rng, (16,)), rng.permutation(16).astype("int32")
    out = empty((16,), "float32")
    tvm.build(s, args, target=target)(x, perm, out)
    want = np.empty(16, "float32")
    want[perm] = x
    close(out, want)


@pytest.mark.parametrize("target", CPU)
@pytest.mark.parametrize("bad", [16, -1, 10**9])
def test_an_out_of_range_write_raises_and_touches_no_memory(target, bad):
    s, args = _scatter()
    module = tvm.build(s, args, target=target)
    idx = np.arange(16, dtype="int32")
    idx[5] = bad
    guard = np.full(64, 7.0, "float32")
    out = guard[16:32]
    with pytest.raises(te.OutOfBoundsError, match=rf"{target}: extern Y: the store to Y\[I\[i\]\] reaches element "
                       rf"= {bad}, outside 0..15; guard it"):
        module(np.ones(16, "float32"), idx, out)
    assert (guard[:16] == 7.0).all() and (guard[32:] == 7.0).all()


@pytest.mark.parametrize("target", CPU)
def test_a_loop_past_the_buffer_is_caught_where_the_ranges_prove_nothing(target):
    A = te.placeholder((8,), name="A")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, 8, name="i") as i:
            y[i + 1] = x[i]
        return ib.get()

    B = te.extern((8,), [A], ir, name="B")
    module = tvm.build(te.create_schedule(B.op), [A, B], target=target)
    with pytest.raises(te.OutOfBoundsError, match=r"extern B: the store to B\[i \+ 1\] reaches element = 8, "
                       r"outside 0..7"):
        module(np.ones(8, "float32"), np.zeros(8, "float32"))


def test_subscripts_the_loop_ranges_bound_carry_no_check():
    from tensorir.expr import CheckedIndex
    from tensorir.visitor import walk

    s, args, _ = add_one(64)
    assert not [n for n in walk(tvm.lower(s, args).body) if isinstance(n, CheckedIndex)]


# -- what Nestor refuses, each with its message ---------------------------------------------------

def test_call_packed_is_refused_naming_the_function():
    A = te.placeholder((8,), name="A")
    with pytest.raises(te.DefinitionError, match=r"call_packed\('tvm.contrib.sort.sort'\): Nestor's kernels cannot "
                       r"call packed functions .*write the operation in the extern body with ns.ir_builder"):
        te.extern((8,), [A], lambda ins, outs: tvm.tir.call_packed("tvm.contrib.sort.sort", ins[0], outs[0], 0, True),
                  name="sort_cpu")


def test_call_extern_of_an_unknown_function_is_refused_naming_it():
    A = te.placeholder((8,), name="A")
    with pytest.raises(te.DefinitionError, match=r"Nestor links no external functions, and 'my_kernel' is not a C "
                       r"math function it knows"):
        te.extern((8,), [A], lambda ins, outs: tvm.tir.call_extern("int32", "my_kernel", 1), name="B")


def test_gradient_through_an_extern_is_refused():
    A = te.placeholder((8,), name="A")
    B = te.extern((8,), [A], lambda ins, outs: add_body(ins, outs, 8), name="B")
    C = te.compute((8,), lambda i: B[i] * B[i], name="C")
    with pytest.raises(te.DefinitionError, match=r"gradient of C: it depends on the inputs through extern operation B, "
                       r"whose body Nestor cannot differentiate; write that part with ns.compute"):
        te.gradient(C, [A])
    (dB,) = te.gradient(C, [B])  # the extern's output itself is an input like any other
    assert tuple(dB.shape) == (8, 8)


@pytest.mark.parametrize("primitive", [
    lambda s, B: s[B].split(B.op.output_placeholders[0], factor=2),
    lambda s, B: s[B].compute_inline(),
    lambda s, B: s[B].compute_at(s[B], None),
    lambda s, B: s[B].parallel(None),
    lambda s, B: s[B].set_scope("shared"),
    lambda s, B: s.cache_write(B, "local"),
])
def test_schedule_primitives_on_an_extern_stage_are_refused(primitive):
    A = te.placeholder((8,), name="A")
    B = te.extern((8,), [A], lambda ins, outs: add_body(ins, outs, 8), name="B")
    C = te.compute((8,), lambda i: B[i] + 1.0, name="C")
    s = te.create_schedule(C.op)
    with pytest.raises(te.ScheduleError, match=r"s\[B\](\..*)?: B is an extern operation \(te.extern\); its loops "
                       r"are the statements its IR builder made"):
        primitive(s, B)


def test_what_tvm_allows_on_an_extern_stage_works_and_the_stages_around_it_are_scheduled(rng):
    A = te.placeholder((8,), name="A")
    B = te.extern((8,), [A], lambda ins, outs: add_body(ins, outs, 8), name="B")
    C = te.compute((8,), lambda i: B[i] + 1.0, name="C")
    s = te.create_schedule(C.op)
    s[B].compute_root()  # where it is already
    s.cache_read(B, "local", [C])
    outer, inner = s[C].split(C.op.axis[0], factor=4)
    s[C].parallel(outer)
    a, out = uniform(rng, (8,)), empty((8,), "float32")
    tvm.build(s, [A, C], target="llvm")(a, out)
    close(out, a + 1)


@pytest.mark.parametrize("call, message", [
    (lambda A: te.extern((8,), A, lambda i, o: None), r"extern\('extern'\): inputs must be a list of tensors"),
    (lambda A: te.extern((8,), [A], lambda i, o: None, in_buffers=[]),
     r"0 in_buffers for 1 inputs; give one per input"),
    (lambda A: te.extern([(8,), (2,)], [A], lambda i, o: None, out_buffers=tvm.tir.decl_buffer((8,))),
     r"1 out_buffers for 2 outputs; give one per output"),
    (lambda A: te.extern((8,), [A], lambda i, o: None, in_buffers=[tvm.tir.decl_buffer((8,), "int32", "Ab")]),
     r"input buffer Ab holds int32, the tensor float32; declare it with dtype='float32'"),
    (lambda A: te.extern((8,), [A], lambda i, o: None, in_buffers=[tvm.tir.decl_buffer((4, 2), name="Ab")]),
     r"input buffer Ab has shape \[4, 2\], the tensor \[8\]; declare it with the tensor's shape"),
    (lambda A: te.extern((8,), [A], lambda i, o: None, in_buffers=[tvm.tir.decl_buffer((8,), name="Ab",
                                                                                         strides=[2])]),
     r"declares stride 2 in dimension 0, but the tensor is dense row-major \(stride 1\)"),
    (lambda A: te.extern((8,), [A], lambda i, o: None, in_buffers=[tvm.tir.decl_buffer((8,), name="Ab",
                                                                                         elem_offset=3)]),
     r"input buffer Ab has elem_offset=3; a tensor starts at its first element"),
    (lambda A: te.extern((8,), [A, te.placeholder((8,), "int32", "I")], lambda i, o: None),
     r"the output type cannot be inferred from inputs of types \['float32', 'int32'\]; pass dtype="),
    (lambda A: te.extern((8,), [A], lambda i, o: None, dtype=["float32", "int32"]),
     r"2 dtypes \['float32', 'int32'\] for 1 outputs"),
])
def test_extern_arguments_are_checked_at_the_call(call, message):
    A = te.placeholder((8,), name="A")
    with pytest.raises(te.DefinitionError, match=message):
        call(A)


def test_a_body_reaching_another_externs_buffer_is_refused():
    A = te.placeholder((8,), name="A")
    other = tvm.tir.decl_buffer((8,), name="other")

    def ir(ins, outs):
        ib = tvm.tir.ir_builder.create()
        ib.buffer_ptr(outs[0])[0] = ib.buffer_ptr(other)[0]
        return ib.get()

    with pytest.raises(te.DefinitionError, match=r"extern\('B'\): the body accesses buffer other, which is neither one "
                       r"of this extern's ins/outs nor allocated in its body"):
        te.extern((8,), [A], ir, name="B")


def test_hybrid_scripts_stay_refused():
    def outer(a):
        return a

    with pytest.raises(te.DefinitionError, match=r"hybrid.script\(outer\): hybrid scripts"):
        te.hybrid.script(outer)
