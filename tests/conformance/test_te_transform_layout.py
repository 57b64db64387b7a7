"""TVM's ``Stage.transform_layout`` (tests/python/unittest/test_transform_layout.py's te cases)
through :mod:`te_shim`: the stage is stored in the mapped layout (an argument's array too), its
readers read through the mapping, the returned loops take later primitives; values against
numpy on the interpreter and LLVM, the loop nest as golden text, the trace round trip, and every
refusal's message."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from tests.backends.cuda import host_emulation

from .extern_programs import add_body
from .helpers import close, empty, uniform
from .te_shim import te, tvm

TARGETS = ["interp", "llvm"]


def run(s, args, arrays, out_shapes, target):
    outs = [empty(shape, "float32") for shape in out_shapes]
    tvm.build(s, args, target=target)(*arrays, *outs)
    return outs


@pytest.mark.parametrize("target", TARGETS)
def test_transpose_of_an_output_is_stored_transposed(rng, target):
    A = te.placeholder((3, 5), name="A")
    B = te.compute((3, 5), lambda i, j: A[i, j] * 2, name="B")
    s = te.create_schedule(B.op)
    axes = s[B].transform_layout(lambda i, j: [j, i])
    assert [int(iv.dom.extent) for iv in axes] == [5, 3]
    assert list(s[B].leaf_iter_vars) == axes
    a = uniform(rng, (3, 5))
    (b,) = run(s, [A, B], [a], [(5, 3)], target)
    close(b, (2 * a.astype(np.float64)).T)


@pytest.mark.parametrize("target", TARGETS)
def test_nchw_to_nhwc_of_a_reduction(rng, target):
    A = te.placeholder((2, 3, 4, 5, 6), name="A")
    k = te.reduce_axis((0, 6), name="k")
    B = te.compute((2, 3, 4, 5), lambda n, c, h, w: te.sum(A[n, c, h, w, k], axis=k), name="B")
    s = te.create_schedule(B.op)
    n, h, w, c = s[B].transform_layout(lambda n, c, h, w: [n, h, w, c])
    assert [iv.name for iv in s[B].leaf_iter_vars] == [n.name, h.name, w.name, c.name, "k"]
    a = uniform(rng, (2, 3, 4, 5, 6))
    (b,) = run(s, [A, B], [a], [(2, 4, 5, 3)], target)
    close(b, a.astype(np.float64).sum(axis=4).transpose(0, 2, 3, 1), rtol=1e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_split_layout_of_an_input_and_an_output(rng, target):
    # TVM's TestTransformCache: both arrays in the (-1, 4) layout, a cache_write after it
    A = te.placeholder((16,), name="A")
    B = te.compute(A.shape, lambda i: A[i] + 1, name="B")
    s = te.create_schedule(B.op)
    s[A].transform_layout(lambda i: [i // 4, i % 4])
    outer, inner = s[B].transform_layout(lambda i: [i // 4, i % 4])
    assert (int(outer.dom.extent), int(inner.dom.extent)) == (4, 4)
    s.cache_write(B, "local")
    a = uniform(rng, (16,))
    (b,) = run(s, [A, B], [a.reshape(4, 4)], [(4, 4)], target)
    close(b, (a.astype(np.float64) + 1).reshape(4, 4))


@pytest.mark.parametrize("target", TARGETS)
def test_an_intermediate_read_through_the_mapping(rng, target):
    A = te.placeholder((6, 8), name="A")
    B = te.compute((6, 8), lambda i, j: A[i, j] * 3, name="B")
    C = te.compute((6, 8), lambda i, j: B[i, j] + B[5 - i, j], name="C")
    s = te.create_schedule(C.op)
    s[B].transform_layout(lambda i, j: [j // 2, i, j % 2])
    a = uniform(rng, (6, 8))
    (c,) = run(s, [A, C], [a], [(6, 8)], target)
    want = 3 * a.astype(np.float64)
    close(c, want + want[::-1])


@pytest.mark.parametrize("target", TARGETS)
def test_flattening_and_reversal_of_three_axes(rng, target):
    # TVM's TestTransformedSchedules: "flatten_all" and "reverse" (a *indices mapping)
    A = te.placeholder((4, 6, 40), name="A")
    B = te.compute(A.shape, lambda i, j, k: A[i, j, k] + 1, name="B")
    s = te.create_schedule(B.op)
    s[A].transform_layout(lambda *indices: indices[::-1])
    (flat,) = s[B].transform_layout(lambda i, j, k: [i * 240 + j * 40 + k])
    xo, xi = s[B].split(flat, nparts=2)
    assert [int(iv.dom.extent) for iv in (xo, xi)] == [2, 480]
    a = uniform(rng, (4, 6, 40))
    (b,) = run(s, [A, B], [np.ascontiguousarray(a.transpose(2, 1, 0))], [(960,)], target)
    close(b, (a.astype(np.float64) + 1).reshape(-1))


@pytest.mark.parametrize("target", TARGETS)
def test_keyword_only_axis_as_in_factor_last_by_4(rng, target):
    A = te.placeholder((4, 6, 8), name="A")
    B = te.compute(A.shape, lambda i, j, k: A[i, j, k] - 1, name="B")
    s = te.create_schedule(B.op)
    axes = s[B].transform_layout(lambda *indices, n: [*indices, n // 4, n % 4])
    assert [int(iv.dom.extent) for iv in axes] == [4, 6, 2, 4]
    a = uniform(rng, (4, 6, 8))
    (b,) = run(s, [A, B], [a], [(4, 6, 2, 4)], target)
    close(b, (a.astype(np.float64) - 1).reshape(4, 6, 2, 4))


@pytest.mark.parametrize("target", TARGETS)
def test_later_primitives_on_the_returned_axes(rng, target):
    A = te.placeholder((8, 32), name="A")
    B = te.compute((8, 32), lambda i, j: A[i, j] * A[i, j], name="B")
    C = te.compute((8, 32), lambda i, j: B[i, j] + 1, name="C")
    s = te.create_schedule(C.op)
    jo, i, ji = s[B].transform_layout(lambda i, j: [j // 8, i, j % 8])
    s[B].reorder(i, jo, ji)
    s[B].vectorize(ji)
    x, y = s[C].op.axis
    s[C].parallel(x)
    yo, yi = s[C].split(y, 8)
    s[C].vectorize(yi)
    s[B].compute_at(s[C], x)
    a = uniform(rng, (8, 32))
    (c,) = run(s, [A, C], [a], [(8, 32)], target)
    close(c, a.astype(np.float64) ** 2 + 1)


def test_a_producer_attached_in_a_returned_loop_computes_its_exact_region(rng):
    A = te.placeholder((16,), name="A")
    P = te.compute((16,), lambda i: A[i] * 2, name="P")
    B = te.compute((16,), lambda i: P[i] + 1, name="B")
    s = te.create_schedule(B.op)
    outer, _ = s[B].transform_layout(lambda i: [i // 4, i % 4])
    s[P].compute_at(s[B], outer)
    assert "allocate P: float32[4] in global" in str(tvm.lower(s, [A, B]))
    a = uniform(rng, (16,))
    (b,) = run(s, [A, B], [a], [(4, 4)], "llvm")
    close(b, (2 * a.astype(np.float64) + 1).reshape(4, 4))


@pytest.mark.parametrize("target", TARGETS)
def test_cache_read_of_a_transformed_input_is_in_its_layout(rng, target):
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] + 1, name="B")
    s = te.create_schedule(B.op)
    s[A].transform_layout(lambda i: [i % 4, i // 4])
    AA = s.cache_read(A, "local", [B])
    assert tuple(AA.shape) == (4, 4)
    a = uniform(rng, (16,))
    (b,) = run(s, [A, B], [np.ascontiguousarray(a.reshape(4, 4).T)], [(16,)], target)
    close(b, a.astype(np.float64) + 1)


@pytest.mark.parametrize("target", TARGETS)
def test_transformed_twice_inlined_and_multi_output(rng, target):
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] + 1, name="B")
    C = te.compute((16,), lambda i: B[15 - i] * 2, name="C")
    s = te.create_schedule(C.op)
    s[B].transform_layout(lambda i: [i // 4, i % 4])
    s[B].transform_layout(lambda p, q: [q, p])
    s[C].transform_layout(lambda i: [i % 8, i // 8])
    a = uniform(rng, (16,))
    b, c = run(s, [A, B, C], [a], [(4, 4), (8, 2)], target)
    close(b, (a.astype(np.float64) + 1).reshape(4, 4).T)
    close(c, (2 * (a.astype(np.float64)[::-1] + 1)).reshape(2, 8).T)
    s[B].compute_inline()
    (c,) = run(s, [A, C], [a], [(8, 2)], target)
    close(c, (2 * (a.astype(np.float64)[::-1] + 1)).reshape(2, 8).T)
    X = te.compute((4, 6), lambda i, j: (A[i] + j, A[i + 4] * j), name="X")
    s = te.create_schedule(X[0].op)
    s[X[0]].transform_layout(lambda i, j: [j, i])
    x0, x1 = run(s, [A, X[0], X[1]], [a], [(6, 4), (6, 4)], target)
    j = np.arange(6)[:, None]
    close(x0, a[None, :4].astype(np.float64) + j)
    close(x1, a[None, 4:8].astype(np.float64) * j)


def gpu_program():
    A = te.placeholder((64, 32), name="A")
    B = te.compute((64, 32), lambda i, j: A[i, j] * 2 + 1, name="B")
    s = te.create_schedule(B.op)
    j, i = s[B].transform_layout(lambda i, j: [j, i])
    s[B].bind(j, te.thread_axis("blockIdx.x"))
    s[B].bind(i, te.thread_axis("threadIdx.x"))
    return s, [A, B], lambda a: (2 * a + 1).T


def test_bound_transformed_loops_on_a_gpu(rng):
    s, args, reference = gpu_program()
    a = uniform(rng, (64, 32))
    (b,) = run(s, args, [a], [(32, 64)], "interp")
    close(b, reference(a.astype(np.float64)))
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    (host,) = host_emulation.compile_host([tvm.build(s, args, target="cuda")])
    b = empty((32, 64), "float32")
    host(a, b)
    close(b, reference(a.astype(np.float64)))


@pytest.mark.parametrize(("after", "extents"), [
    (None, [4, 6, 10, 4]), ("reorder", [4, 10, 6, 4]), ("split", [4, 6, 10, 2, 2]), ("fuse", [24, 10, 4])])
def test_loop_order_after_the_transform(rng, after, extents):
    # TVM's TestTransformedSchedules (factor_last_by_4, then reorder / split / fuse the new loops)
    A = te.placeholder((4, 6, 40), name="A")
    B = te.compute(A.shape, lambda i, j, k: A[i, j, k] * 2, name="B")
    s = te.create_schedule(B.op)
    axes = s[B].transform_layout(lambda *indices, n: [*indices, n // 4, n % 4])
    if after == "reorder":
        s[B].reorder(*axes[::-1])
    elif after == "split":
        s[B].split(axes[-1], nparts=2)
    elif after == "fuse":
        s[B].fuse(*axes[:2])
    assert [int(iv.dom.extent) for iv in s[B].leaf_iter_vars] == extents
    a = uniform(rng, (4, 6, 40))
    (b,) = run(s, [A, B], [a], [(4, 6, 10, 4)], "interp")
    close(b, (2 * a.astype(np.float64)).reshape(4, 6, 10, 4))


def test_lowered_loop_nest_of_a_split_layout():
    A = te.placeholder((16,), name="A")
    B = te.compute((16,), lambda i: A[i] + 1, name="B")
    C = te.compute((16,), lambda i: B[i] * 3, name="C")
    s = te.create_schedule(C.op)
    outer, inner = s[B].transform_layout(lambda i: [i // 4, i % 4])
    s[B].parallel(outer)
    s[B].vectorize(inner)
    assert str(tvm.lower(s, [A, C])) == """func main(A: float32[16], C: float32[16]) {
  allocate B: float32[4, 4] in global
  parallel for axis0 in 0..4:
    vectorized for axis1 in 0..4:
      B[axis0, axis1] = A[axis0 * 4 + axis1] + 1.0
  for i in 0..16:
    C[i] = B[i // 4, i % 4] * 3.0
}"""


def test_flattened_inverse_is_written_readably():
    A = te.placeholder((4, 6, 40), name="A")
    B = te.compute(A.shape, lambda i, j, k: A[i, j, k], name="B")
    s = te.create_schedule(B.op)
    s[B].transform_layout(lambda i, j, k: [i * 240 + j * 40 + k])
    assert "A[axis0 // 240, axis0 // 40 % 6, axis0 % 40]" in str(tvm.lower(s, [A, B]))


def test_trace_round_trip(rng):
    A = te.placeholder((8, 12), name="A")
    B = te.compute((8, 12), lambda i, j: A[i, j] + 2, name="B")
    C = te.compute((8, 12), lambda i, j: B[i, j] * B[i, j], name="C")
    s = te.create_schedule(C.op)
    s[A].transform_layout(lambda i, j: [j, i])
    jo, i, ji = s[B].transform_layout(lambda i, j: [j // 4, -i + 7, j % 4])
    s[B].reorder(i, jo, ji)
    s[B].split(ji, 2)
    assert "axis0, axis1, axis2 = s[B].transform_layout(layout=" in str(s.trace)
    replayed = ns.Schedule.from_trace([C], s.trace.to_json())
    assert str(tvm.lower(replayed, [A, C])) == str(tvm.lower(s, [A, C]))
    a = uniform(rng, (8, 12))
    (c,) = run(replayed, [A, C], [np.ascontiguousarray(a.T)], [(8, 12)], "interp")
    close(c, (a.astype(np.float64) + 2) ** 2)


def _stage(shape=(16,)):
    A = te.placeholder(shape, name="A")
    B = te.compute(shape, lambda *i: A(*i) + 1, name="B")
    return te.create_schedule(B.op), B


MAPPINGS_REFUSED = [
    ((4, 4), lambda i, j: [i + j],
     "s[B].transform_layout(...): two elements would be stored at the same place (the mapping is not "
     "one-to-one); transform_layout takes quasi-affine maps onto a box"),
    ((4, 4), lambda i, j: [i, j * 2],
     "s[B].transform_layout(...): the mapped indices do not fill the box of shape (4, 7); the mapping must "
     "be a bijection onto a box; transform_layout takes"),
    ((16,), lambda i: [i + 1],
     "s[B].transform_layout(...): new index 0 starts at 1, not 0 (subtract 1 in the mapping); "),
    ((4, 4), lambda i, j: [i * j, j],
     "s[B].transform_layout(...): new index 0 (i0 * i1) is not quasi-affine in the axes; transform_layout "
     "takes quasi-affine maps onto a box: permutations (lambda i, j: [j, i]), splits (lambda i: [i // 4, "
     "i % 4]) and flattenings (lambda i, j: [i * n + j]) of the axes"),
    ((4, 4), lambda i: [i],
     "s[B].transform_layout(...): the mapping takes 1 indices but B has 2 axes; give the function one "
     "parameter per axis (or *indices)"),
    ((4,), lambda i, j: [i, j],
     "s[B].transform_layout(...): the mapping takes 2 indices but B has 1 axes; give"),
    ((2, 3, 4), lambda i, j, k: [i, j, te.AXIS_SEPARATOR, k],
     "s[B].transform_layout(...): AXIS_SEPARATOR (several physical dimensions) is not supported: Nestor's "
     "buffers are flat; leave it out of the mapping of B"),
    ((4,), lambda i: ["i"],
     "s[B].transform_layout(...): new index 0 is 'i', not an integer index expression of the axes; return a "
     "list of index expressions"),
    ((4,), lambda i: [],
     "s[B].transform_layout(...): the mapping returns no index; "),
]


@pytest.mark.parametrize(("shape", "mapping", "message"), MAPPINGS_REFUSED)
def test_refused_mappings_name_the_reason(shape, mapping, message):
    s, B = _stage(shape)
    with pytest.raises(te.ScheduleError) as info:
        s[B].transform_layout(mapping)
    assert str(info.value).startswith(message)
    assert list(s[B].leaf_iter_vars) == list(B.op.axis)  # nothing changed


def test_refused_calls_name_the_fix():
    s, B = _stage((4, 4))
    with pytest.raises(te.ScheduleError) as info:
        s[B].transform_layout([1, 0])
    assert str(info.value) == (
        "s[B].transform_layout(...): the mapping [1, 0] is not a function; pass a function of the 2 axes "
        "returning the new indices, e.g. lambda i, j: [j, i]")
    s[B].split(B.op.axis[0], 2)
    with pytest.raises(te.ScheduleError) as info:
        s[B].transform_layout(lambda i, j: [j, i])
    assert str(info.value) == (
        "s[B].transform_layout(...): axis i0 of B was already split or fused, so it is no longer a loop to "
        "transform (TVM refuses this too); call transform_layout first and schedule the loops it returns")
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    C = te.compute((n,), lambda i: A[i] * 2, name="C")
    s = te.create_schedule(C.op)
    with pytest.raises(te.ScheduleError) as info:
        s[C].transform_layout(lambda i: [i // 4, i % 4])
    assert str(info.value) == (
        "s[C].transform_layout(...): C has the symbolic shape ('n',); a layout transformation needs a constant "
        "shape")


def test_a_reader_that_is_not_a_compute_is_refused():
    A = te.placeholder((4,), name="A")
    B = te.extern((4,), [A], lambda ins, outs: add_body(ins, outs, 4), name="B")
    s = te.create_schedule(B.op)
    with pytest.raises(te.ScheduleError) as info:
        s[A].transform_layout(lambda i: [i % 2, i // 2])
    assert str(info.value) == (
        "s[A].transform_layout(...): B reads A but is not a plain compute, so its reads cannot be remapped; "
        "transform the layout of a tensor that only computes read")
    with pytest.raises(te.ScheduleError) as info:
        s[B].transform_layout(lambda i: [i % 2, i // 2])
    assert str(info.value) == (
        "s[B].transform_layout(...): B is computed by a ExternOp, whose code decides its layout; transform the "
        "layout of a compute or a placeholder")


def test_malformed_trace_layout_is_refused():
    s, B = _stage((4,))
    with pytest.raises(te.ScheduleError) as info:
        s[B].transform_layout(layout=[["axis", 3]])
    assert str(info.value) == (
        "Schedule.from_trace: s[B].transform_layout(...): malformed layout index ['axis', 3]; replay traces "
        "that s.trace.to_json() wrote")
