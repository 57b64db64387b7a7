"""Reduce axes whose range uses an output index (TVM's ``reduce_axis((0, i + 1))``) at definition
time: the axis, its bounding box and the predicate reductions over it get, and every refusal."""

from __future__ import annotations

import re

import pytest

import nestor as ns
from nestor import DefinitionError
from tensorir.dependent import RangedIterVar


def _pattern(*parts: str) -> str:
    return ".*".join(re.escape(p) for p in parts)


def test_upper_bound_of_an_output_index_makes_a_box_and_a_predicate():
    A = ns.placeholder((8,), name="A")
    seen = []

    def cumsum(i):
        k = ns.reduce_axis((0, i + 1), "k")
        seen.append(k)
        return ns.sum(A[k], axis=k)

    B = ns.compute((8,), cumsum, name="B")
    (k,) = seen
    assert isinstance(k, RangedIterVar) and (k.min, k.extent) == (0, 8)
    assert repr(k) == "reduce_axis(k, 0..i + 1)"
    assert B.op.reduce_axis == (k,)
    assert str(B.op.body.condition) == "k < i + 1"


def test_lower_bound_keeps_the_users_where_after_the_range():
    A = ns.placeholder((6, 6), name="A")
    n = ns.size_var("n")
    seen = []

    def tail(i, j):
        k = ns.reduce_axis((i, 6), "k")
        seen.append(k)
        return ns.max(A[j, k], axis=k, where=A[j, k] > 0)

    ns.compute((6, 6), tail, name="B")
    (k,) = seen
    assert (k.min, k.extent) == (0, 6)
    B = ns.compute((6,), lambda i: ns.sum(A[i, (k := ns.reduce_axis((i, 6), "k"))], axis=k,
                                          where=A[i, k] > 0), name="B")
    assert str(B.op.body.condition) == "k >= i and A[i, k] > 0.0"
    m = ns.compute((n,), lambda i: ns.sum(i + (k := ns.reduce_axis((0, 2 * i + 1), "k")), axis=k), name="m")
    box = m.op.reduce_axis[0]
    assert box.min == 0 and str(box.extent) == "n * 2 - 1"


def test_both_bounds_and_min_max_bounds():
    A = ns.placeholder((10,), name="A")
    B = ns.compute((5,), lambda i: ns.sum(A[(k := ns.reduce_axis((i, ns.min(2 * i + 2, 10)), "k"))], axis=k),
                   name="B")
    k = B.op.reduce_axis[0]
    assert (k.min, k.extent) == (0, 10)
    assert str(B.op.body.condition) == "k >= i and k < min(2 * i + 2, 10)"


def test_refusals():
    A = ns.placeholder((8,), name="A")
    n = ns.size_var("n")
    other = ns.compute((8,), lambda i: A[i], name="other")
    with pytest.raises(DefinitionError, match=_pattern(
            "reduce_axis k: the upper bound i + 1 uses i, which is neither a size variable nor an index "
            "of the compute being defined (a range may not use another reduce axis or another compute's "
            "index); create the reduce axis inside the compute's lambda")):
        ns.reduce_axis((0, other.op.axis[0] + 1), "k")
    with pytest.raises(DefinitionError, match=_pattern(
            "reduce_axis k2: the upper bound k1 + 1 uses k1, which is neither a size variable nor an index")):
        ns.compute((8,), lambda i: ns.sum(A[(k1 := ns.reduce_axis(8, "k1"))], axis=[
            k1, ns.reduce_axis((0, k1 + 1), "k2")]), name="B")
    with pytest.raises(DefinitionError, match=_pattern(
            "reduce_axis k: cannot bound i * i over the output indices; a bound that uses an index must "
            "be affine in it")):
        ns.compute((8,), lambda i: ns.sum(A[(k := ns.reduce_axis((0, i * i), "k"))], axis=k), name="B")
    with pytest.raises(DefinitionError, match=_pattern(
            "reduce_axis k: the lower bound i + n has no constant least value over the output (it is n); "
            "start the range at an int")):
        ns.compute((8,), lambda i: ns.sum(A[(k := ns.reduce_axis((i + n, 2 * n), "k"))], axis=k), name="B")
    with pytest.raises(DefinitionError, match=_pattern(
            "reduce_axis k: the range i + 8..8 is empty at every output point; it needs hi > lo somewhere")):
        ns.compute((8,), lambda i: ns.sum(A[(k := ns.reduce_axis((i + 8, 8), "k"))], axis=k), name="B")
    with pytest.raises(DefinitionError, match=_pattern(
            "reduce_axis k: the upper bound", "has type float32; bounds are integers")):
        ns.compute((8,), lambda i: ns.sum(A[(k := ns.reduce_axis((0, i * 1.5), "k"))], axis=k), name="B")


def test_gradient_of_a_triangular_sum_keeps_the_range():
    import numpy as np

    A, H = ns.placeholder((6,), name="A"), ns.placeholder((6,), name="H")
    B = ns.compute((6,), lambda i: ns.sum(A[(k := ns.reduce_axis((0, i + 1), "k"))] * A[k], axis=k), name="B")
    (dA,) = ns.gradient(B, [A], H)
    rng = np.random.default_rng(0)
    a, h = rng.random(6, dtype=np.float32), rng.random(6, dtype=np.float32)
    got = np.full(6, np.nan, np.float32)
    ns.build(ns.create_schedule(dA), [A, H, dA], target="interp")(a, h, got)
    # d/dA[j] of sum_i H[i] * sum_{k <= i} A[k]^2 is 2 A[j] * sum_{i >= j} H[i]
    np.testing.assert_allclose(got, 2 * a * np.cumsum(h[::-1])[::-1], rtol=1e-5)


def test_gradient_of_a_reduction_with_init_reading_the_input_is_refused():
    A, B = ns.placeholder((4, 5), name="A"), ns.placeholder((4,), name="B")
    k = ns.reduce_axis(5, "k")
    C = ns.compute((4,), lambda i: ns.sum(A[i, k], axis=k, init=B[i]), name="C")
    with pytest.raises(DefinitionError, match=_pattern(
            "gradient of C with respect to B: the reduction starts from init=B[i], which reads B; an init "
            "that reads what the gradient is taken through has no derived gradient: reduce without init= "
            "and add the initial value in a compute of its own")):
        ns.gradient(C, [A, B])


def test_gradient_through_a_reduction_with_init_of_another_tensor():
    import numpy as np

    A, B, H = ns.placeholder((4, 5), name="A"), ns.placeholder((4,), name="B"), ns.placeholder((4,), name="H")
    k = ns.reduce_axis(5, "k")
    C = ns.compute((4,), lambda i: ns.sum(A[i, k] * A[i, k], axis=k, init=B[i]), name="C")
    (dA,) = ns.gradient(C, [A], H)
    rng = np.random.default_rng(0)
    a, h = rng.random((4, 5), dtype=np.float32), rng.random(4, dtype=np.float32)
    got = np.full((4, 5), np.nan, np.float32)
    ns.build(ns.create_schedule(dA), [A, H, dA], target="interp")(a, h, got)
    np.testing.assert_allclose(got, 2 * a * h[:, None], rtol=1e-5)


def test_gradient_of_a_where_reduction_counts_only_its_points():
    import numpy as np

    A, H = ns.placeholder((4, 5), name="A"), ns.placeholder((4,), name="H")
    k = ns.reduce_axis(5, "k")
    C = ns.compute((4,), lambda i: ns.sum(A[i, k] * 3.0, axis=k, where=A[i, k] > 0.5), name="C")
    (dA,) = ns.gradient(C, [A], H)
    rng = np.random.default_rng(1)
    a, h = rng.random((4, 5), dtype=np.float32), rng.random(4, dtype=np.float32)
    got = np.full((4, 5), np.nan, np.float32)
    ns.build(ns.create_schedule(dA), [A, H, dA], target="interp")(a, h, got)
    np.testing.assert_allclose(got, np.where(a > 0.5, 3.0 * h[:, None], 0.0), rtol=1e-6)


def test_bounds_are_proven_over_the_exact_range():
    """``A[i - k]`` is inside for ``k <= i`` though not over the box ``0..8``; ``A[k + 1]`` leaves A
    at ``k = i = 7``, a point of the range, and is refused at the definition."""
    A = ns.placeholder((8,), name="A")
    ns.compute((8,), lambda i: ns.sum(A[i - (k := ns.reduce_axis((0, i + 1), "k"))], axis=k), name="B")
    with pytest.raises(DefinitionError, match=_pattern(
            "compute B: the access A[k + 1] may go out of bounds: its index 0, k + 1, is 8 at k=7")):
        ns.compute((8,), lambda i: ns.sum(A[(k := ns.reduce_axis((0, i + 1), "k")) + 1], axis=k), name="B")


def test_a_ranged_axis_reused_in_another_compute_is_refused():
    A = ns.placeholder((8,), name="A")
    made = []

    def cumsum(i):
        made.append(ns.reduce_axis((0, i + 1), "k"))
        return ns.sum(A[made[0]], axis=made[0])

    ns.compute((8,), cumsum, name="B")
    k = made[0]
    with pytest.raises(DefinitionError, match=_pattern(
            "reduce over k: its range 0..i + 1 uses i, an index of another compute; create the reduce "
            "axis again inside this compute's lambda")):
        ns.compute((8,), lambda j: ns.sum(A[k], axis=k), name="C")
