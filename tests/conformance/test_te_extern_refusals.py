"""What ``te.extern`` bodies may not do, and the checks that keep them safe: a subscript that no
loop range bounds is checked when the kernel runs (an out-of-range write raises and touches no
memory), and each refusal (packed calls, gradients, schedule primitives that would change an
extern's loops, mismatched buffer declarations) comes with its message."""

from __future__ import annotations

import numpy as np
import pytest

from .extern_programs import add_body, add_one, scatter
from .helpers import close, empty, uniform
from .te_shim import te, tvm

CPU = ["interp", "llvm"]


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


# -- safety: subscripts no loop range bounds are checked when the kernel runs ------------------------
@pytest.mark.parametrize("target", CPU)
def test_a_data_dependent_write_inside_the_buffer_runs(target, rng):
    s, args = scatter()
    x, perm = uniform(rng, (16,)), rng.permutation(16).astype("int32")
    out = empty((16,), "float32")
    tvm.build(s, args, target=target)(x, perm, out)
    want = np.empty(16, "float32")
    want[perm] = x
    close(out, want)


@pytest.mark.parametrize("target", CPU)
@pytest.mark.parametrize("bad", [16, -1, 10**9])
def test_an_out_of_range_write_raises_and_touches_no_memory(target, bad):
    s, args = scatter()
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
