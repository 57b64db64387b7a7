"""What TVM programs read of a schedule after caches (through :mod:`te_shim`): a reader's stage
operation reads the cache (``s[B].op.input_tensors`` lists ``A.shared``) while the user's
``B.op`` stays the definition; after ``cache_write`` the stage's operation copies from the cache,
whose operation holds the computation and reduction axes; ``s.outputs``, ``op.body``, ``op.axis``
and ``op.reduce_axis`` read as in TVM; the schedules still compute numpy's values."""

from __future__ import annotations

import numpy as np

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def _chain():
    A = te.placeholder((8, 8), name="A")
    B = te.compute((8, 8), lambda i, j: A[i, j] * 2.0 + A[i, 7 - j], name="B")
    k = te.reduce_axis((0, 8), "k")
    C = te.compute((8,), lambda i: te.sum(B[i, k], axis=k), name="C")
    return A, B, k, C


def test_a_readers_stage_operation_reads_the_cache_and_the_definition_is_unchanged():
    A, B, k, C = _chain()
    s = te.create_schedule(C.op)
    AA = s.cache_read(A, "shared", [B])
    assert s[B].op.input_tensors == [AA] and B.op.input_tensors == [A]
    assert AA.op.input_tensors == [A] and s[AA].op is AA.op
    assert str(s[B].op.body) == "A.shared[i, j] * 2.0 + A.shared[i, 7 - j]"
    assert str(B.op.body) == "A[i, j] * 2.0 + A[i, 7 - j]"
    assert s[B].op.axis == B.op.axis and s[B].op.name == "B"
    AL = s.cache_read(AA, "local", [B])  # a cache of the cache: the reader moves on to it
    assert s[B].op.input_tensors == [AL] and AL.op.input_tensors == [AA]
    assert s[s[B].op] is s[B]  # the stage operation indexes the schedule too
    xo, xi = s[B].split(B.op.axis[0], factor=4)  # the user's axis handles still schedule B
    s[AL].compute_at(s[B], xo)
    a = uniform(np.random.default_rng(1), (8, 8))
    out = empty((8,), "float32")
    tvm.build(s, [A, C], target="interp")(a, out)
    close(out, (a * 2.0 + a[:, ::-1]).sum(axis=1), rtol=1e-5)


def test_introspection_after_cache_write():
    A, B, k, C = _chain()
    s = te.create_schedule(C.op)
    CL = s.cache_write(C, "local")
    assert [t.name for t in s.outputs] == ["C"]
    assert s[C].op.input_tensors == [CL] and str(s[C].op.body) == "C.local[i]"
    assert s[C].op.axis == C.op.axis and s[C].op.reduce_axis == ()
    assert CL.op.input_tensors == [B] and len(CL.op.reduce_axis) == 1
    assert str(CL.op.body) == "sum(B[i, k], axis=[k])"
    assert str(C.op.body) == "sum(B[i, k], axis=[k])" and C.op.reduce_axis == (k,)
    BS = s.cache_read(B, "shared", [CL])  # the cache is the reader now
    assert s[CL].op.input_tensors == [BS] and CL.op.input_tensors == [B]
    assert [st.op.name for st in s.stages] == ["A", "B", "B.shared", "C.local", "C"]
    a = uniform(np.random.default_rng(2), (8, 8))
    out = empty((8,), "float32")
    tvm.build(s, [A, C], target="llvm")(a, out)
    close(out, (a * 2.0 + a[:, ::-1]).sum(axis=1), rtol=1e-5)


def test_topi_style_traversal_from_the_outputs_sees_the_caches():
    """A schedule walking the stages from ``s.outputs`` through ``s[t].op.input_tensors``
    (the way TVM's topi schedules traverse) reaches every cache once."""
    A, B, k, C = _chain()
    s = te.create_schedule(C.op)
    s.cache_read(A, "shared", [B])
    s.cache_write(C, "local")
    seen = []

    def visit(tensor):
        op = s[tensor].op
        if op.name in seen:
            return
        seen.append(op.name)
        for t in op.input_tensors:
            visit(t)

    for out in s.outputs:
        visit(out)
    assert seen == ["C", "C.local", "B", "A.shared", "A"]
