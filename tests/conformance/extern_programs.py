"""TVM-style extern programs (``te.extern`` over ``tir.ir_builder`` bodies and ``decl_buffer``s),
as TVM's own programs write them: its codegen_extern test, topi's scans, sorts and
searchsorted, the extern_op tutorial's GPU form. Each returns its schedule, arguments and a
numpy reference; the tests in test_te_extern*.py run them."""

from __future__ import annotations

import numpy as np

from .te_shim import te, tvm


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


def search_data(rng, m=11, n=16):
    row = np.sort(rng.integers(-8, 9, size=n)).astype("float32")
    values = rng.integers(-10, 11, size=m).astype("float32")
    return row, values, np.searchsorted(row, values, side="left")


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


def scatter(n=16):
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
