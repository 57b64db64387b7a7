"""flatten_buffers: one flat offset per access, the per-dimension indices kept for printing."""

from __future__ import annotations

import nestor as ns
from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.expr import BufferLoad, Var, const
from tensorir.passes.flatten_buffers import flatten_buffers
from tensorir.stmt import For, ForKind, PrimFunc, Store
from tensorir.structural import structural_equal
from tensorir.verifier import verify
from tensorir.visitor import walk

F32 = DType.FLOAT32


def _transpose() -> PrimFunc:
    A, B = Buffer("A", (3, 5), F32), Buffer("B", (5, 3), F32)
    i, j = Var("i"), Var("j")
    body = For(i, const(0), const(3), ForKind.SERIAL, For(j, const(0), const(5), ForKind.SERIAL,
               Store(B, (j, i), BufferLoad(A, (i, j), F32))))
    return PrimFunc("transpose", (A, B), body)


def test_accesses_get_one_flat_offset_and_keep_their_indices():
    func = _transpose()
    flat = verify(flatten_buffers(func))
    store = next(n for n in walk(flat.body) if isinstance(n, Store))
    load = next(n for n in walk(flat.body) if isinstance(n, BufferLoad))
    assert str(store.indices[0]) == "j * 3 + i" and str(load.indices[0]) == "i * 5 + j"
    assert [str(x) for x in store.logical] == ["j", "i"]
    assert str(flat) == str(func)  # printed with one index per dimension, as before


def test_flattening_twice_changes_nothing():
    once = flatten_buffers(_transpose())
    assert flatten_buffers(once) is once


def test_lowered_functions_are_flat_and_print_as_written():
    A = ns.placeholder((4, 6), name="A")
    B = ns.compute((4, 6), lambda i, j: A[i, j] + 1.0, name="B")
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[1], factor=3)
    func = ns.lower(s, [A, B])
    accesses = [n for n in walk(func.body) if isinstance(n, (BufferLoad, Store))]
    assert accesses and all(len(n.indices) == 1 and len(n.logical) == 2 for n in accesses)
    assert "B[i, j.outer * 3 + j.inner] = A[i, j.outer * 3 + j.inner] + 1.0" in str(func)
    assert structural_equal(flatten_buffers(func), func)
