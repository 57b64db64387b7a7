"""Lowering of extern stages (schedules/extern_stage.py): the body over the tensors' buffers with
flat offsets taken apart row-major for the printed indices, run-time checks exactly where the
loop ranges bound nothing, the stage among compute stages, and a trace round trip."""

from __future__ import annotations

import numpy as np

import nestor as ns
from schedules.trace import replay
from tensorir.expr import CheckedIndex
from tensorir.visitor import walk


def _transpose_extern(m=3, n=4):
    A = ns.placeholder((m, n), name="A")

    def ir(ins, outs):
        ib = ns.ir_builder.create()
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, m, name="i") as i:
            with ib.for_range(0, n, name="j") as j:
                y[j, i] = x[i * n + j]
        return ib.get()

    return A, ns.extern((n, m), [A], ir, name="T")


def test_flat_offsets_print_as_row_major_indices_of_the_tensor_once_simplified():
    A, T = _transpose_extern()
    s = ns.create_schedule(T)
    assert str(ns.lower(s, [A, T])) == """\
func main(A: float32[3, 4], T: float32[4, 3]) {
  for i in 0..3:
    for j in 0..4:
      T[j, i] = A[i, j]
}"""
    a = np.arange(12, dtype="float32").reshape(3, 4)
    out = np.zeros((4, 3), "float32")
    ns.build(s, [A, T], target="llvm")(a, out)
    np.testing.assert_array_equal(out, a.T)


def _checks(s, args) -> list[CheckedIndex]:
    return [n for n in walk(ns.lower(s, args).body) if isinstance(n, CheckedIndex)]


def test_checks_sit_exactly_where_the_loop_ranges_do_not_bound_the_offset():
    A, T = _transpose_extern()
    assert _checks(ns.create_schedule(T), [A, T]) == []
    A = ns.placeholder((8,), name="A")

    def ir(ins, outs):
        ib = ns.ir_builder.create()
        x, y = ib.buffer_ptr(ins[0]), ib.buffer_ptr(outs[0])
        with ib.for_range(0, 8, name="i") as i:
            y[i] = x[(i * 3) % 8] + x[i + 1]  # the first is bounded, the second reaches 8
        return ib.get()

    B = ns.extern((8,), [A], ir, name="B")
    (check,) = _checks(ns.create_schedule(B), [A, B])
    assert check.extent == 8 and check.site == "extern B: the load of A[i + 1] reaches element"


def test_extern_stage_between_computes_and_its_trace_round_trip():
    A, T = _transpose_extern()
    U = ns.compute((4, 3), lambda i, j: T[i, j] * 2.0, name="U")
    s = ns.create_schedule(U)
    outer, inner = s[U].split(U.op.axis[1], factor=2)
    s[U].vectorize(inner)
    again = ns.create_schedule(U)
    replay(again, s.trace.to_json())
    assert str(ns.lower(again, [A, U])) == str(ns.lower(s, [A, U]))
    a = np.arange(12, dtype="float32").reshape(3, 4)
    out = np.zeros((4, 3), "float32")
    ns.build(s, [A, U], target="llvm")(a, out)
    np.testing.assert_array_equal(out, a.T * 2)
