"""The IR builder (TVM's ``tir.ir_builder``) and ``decl_buffer``: the statements each construct
makes (golden printed IR), and each misuse refused with its message."""

from __future__ import annotations

import textwrap

import pytest

import nestor as ns
from nestor import DefinitionError


def _golden(stmt, text: str) -> None:
    assert str(stmt) == textwrap.dedent(text).strip()


def test_loops_conditions_and_an_allocation_wrapping_the_rest_of_the_scope():
    ib = ns.ir_builder.create()
    A = ib.allocate("float32", 16, name="A")
    with ib.for_range(0, 16, name="i") as i:
        with ib.if_scope((i % 2) == 0):
            A[i] = A[i] + 1
        with ib.else_scope():
            A[i] = A[i] * 2.0
    _golden(ib.get(), """
        allocate A: float32[16] in global
        for i in 0..16:
          if i % 2 == 0:
            A[i] = A[i] + 1.0
          else:
            A[i] = A[i] * 2.0
        """)


def test_loop_kinds_row_major_indices_a_let_and_a_new_scope():
    ib = ns.ir_builder.create()
    x = ib.allocate("int32", (4, 8), name="x", scope="local")
    with ib.for_range(0, 4) as i:
        with ib.for_range(1, 8, kind="unroll") as j:
            v = ib.let("v", x[i, j - 1] * 3)
            x[i, j] = v + x[i, j]
        with ib.for_range(0, 2, kind="parallel") as k:
            with ib.new_scope():
                x[i, k] = 0
        with ib.for_range(0, 8, kind="vectorize", name="lane") as lane:
            x[i * 8 + lane] = x[i * 8 + lane] + 1
    _golden(ib.get(), """
        allocate x: int32[32] in local
        for i in 0..4:
          unrolled for j in 1..8:
            allocate v.let: int32[1] in local
            v.let[0] = x[i * 8 + (j - 1)] * 3
            x[i * 8 + j] = v.let[0] + x[i * 8 + j]
          parallel for k in 0..2:
            x[i * 8 + k] = 0
          vectorized for lane in 0..8:
            x[i * 8 + lane] = x[i * 8 + lane] + 1
        """)


def test_a_while_loop_tests_its_condition_before_each_run():
    ib = ns.ir_builder.create()
    count = ib.allocate("int32", (1,), name="count", scope="local")
    count[0] = 0
    with ib.while_loop(count[0] < 10):
        count[0] += 1
    _golden(ib.get(), """
        allocate count: int32[1] in local
        count[0] = 0
        while count[0] < 10:
          count[0] = count[0] + 1
        """)


def test_tvms_loop_names_i_j_k_then_numbered():
    ib = ns.ir_builder.create()
    names = []
    for _ in range(5):
        with ib.for_range(0, 2) as var:
            names.append(var.name)
    assert names == ["i", "j", "k", "i_0", "i_1"]


def test_thread_extents_become_loops_bound_to_the_gpu_indices():
    ib = ns.ir_builder.create()
    bx, tx = ns.thread_axis("blockIdx.x"), ns.thread_axis("threadIdx.x")
    ib.scope_attr(bx, "thread_extent", 4)
    ib.scope_attr(tx, "thread_extent", 32)
    y = ib.allocate("float32", 128, name="y", scope="shared")
    with ib.if_scope(ib.likely(bx * 32 + tx < 100)):
        y[bx * 32 + tx] = 1.0
    _golden(ib.get(), """
        for blockIdx.x in 0..4 [blockIdx.x]:
          for threadIdx.x in 0..32 [threadIdx.x]:
            allocate y: float32[128] in shared
            if blockIdx.x * 32 + threadIdx.x < 100:
              y[blockIdx.x * 32 + threadIdx.x] = 1.0
        """)


def test_decl_buffer_indexes_with_its_strides_and_offset():
    s0, off = ns.var("s0"), ns.var("off")
    buf = ns.decl_buffer((3, 5), "float32", name="Ab", strides=[s0, 1], elem_offset=off)
    assert (buf.shape, buf.dtype.value, buf.name, buf.ndim) == ((3, 5), "float32", "Ab", 2)
    assert str(buf.vload([1, 2])) == "Ab[off + s0 + 2]"
    assert str(buf[2, 4]) == "Ab[off + 2 * s0 + 4]"
    assert str(buf.vstore([0, 1], 3.0)) == "Ab[off + 1] = 3.0"
    ib = ns.ir_builder.create()
    ptr = ib.buffer_ptr(buf)  # TVM's pointer: row-major over the shape, from the data pointer
    ptr[1, 2] = ptr[7] * 2.0
    _golden(ib.get(), "Ab[5 + 2] = Ab[7] * 2.0")


def test_an_expression_emitted_is_evaluated():
    ib = ns.ir_builder.create()
    ib.emit(ns.call_extern("float32", "sqrtf", ns.const(4.0)))
    assert str(ib.get()).startswith("sqrt(")


@pytest.mark.parametrize("build, message", [
    (lambda ib: ib.for_range(0, 4, kind="pipelined"),
     r"ir_builder.for_range\(kind='pipelined'\): not a loop kind; use one of serial, parallel, vectorize, unroll"),
    (lambda ib: ib.else_scope(), r"ir_builder.else_scope: it must follow an if_scope directly"),
    (lambda ib: ib.while_loop(ns.const(1)), r"ir_builder.while_loop\(1\): the condition has type int32; compare it"),
    (lambda ib: ib.if_scope(ns.const(1)), r"ir_builder.if_scope\(1\): the condition has type int32; compare it"),
    (lambda ib: ib.allocate("float32", (ns.var("n"),), name="t"),
     r"ir_builder.allocate\('t', shape=\[n\]\): scratch buffers have constant shapes"),
    (lambda ib: ib.allocate("float32", 4, scope="texture"), r"scope='texture' is not a storage scope Nestor has"),
    (lambda ib: ib.scope_attr(ns.thread_axis("threadIdx.x"), "pragma_unroll", 1),
     r"ir_builder.scope_attr\(key='pragma_unroll'\): Nestor supports 'thread_extent'"),
    (lambda ib: ib.scope_attr("x", "thread_extent", 4), r"the node must be a GPU index from ns.thread_axis"),
    (lambda ib: ib.pointer("float32", name="p").__setitem__(0, 1.0),
     r"pointer p: it points at no buffer, so its elements cannot be read or written"),
    (lambda ib: ib.allocate("float32", (2, 2), name="t").__getitem__((1, 2, 3)),
     r"buffer t\[1, 2, 3\]: 3 indices for a pointer of rank 2"),
    (lambda ib: ib.allocate("float32", 4, name="t").__setitem__(0, ns.const(1, "int32")),
     r"store into t: the value 1 has type int32, the buffer holds float32; convert it with .astype\('float32'\)"),
    (lambda ib: ib.allocate("float32", 4, name="t").__getitem__(ns.const(1.5)),
     r"buffer t\[1.5\]: the index has type float32; indices are integers"),
    (lambda ib: ib.buffer_ptr("A"), r"ir_builder.buffer_ptr\('A'\): expected a buffer"),
    (lambda ib: ib.emit(3), r"ir_builder.emit\(3\): expected a statement or an expression"),
])
def test_builder_misuse_is_refused(build, message):
    with pytest.raises(DefinitionError, match=message):
        build(ns.ir_builder.create())


def test_get_inside_an_open_scope_is_refused():
    ib = ns.ir_builder.create()
    with pytest.raises(DefinitionError, match=r"ir_builder.get\(\): called inside an open scope"):
        with ib.for_range(0, 4):
            ib.get()


@pytest.mark.parametrize("call, message", [
    (lambda: ns.decl_buffer((4,), data=object()), r"data= \(a buffer over another buffer's memory\) is not supported"),
    (lambda: ns.decl_buffer((4, 4), strides=[1]), r"1 strides \[1\] for shape \[4, 4\]; give one stride per dimension"),
    (lambda: ns.decl_buffer((4, -1)), r"shape \[4, -1\] has a negative extent"),
    (lambda: ns.decl_buffer((4,), elem_offset=1.5), r"elem_offset=1.5 must be 0 or a variable"),
    (lambda: ns.decl_buffer((4,), name=""), r"decl_buffer\(name=''\): name must be a non-empty string"),
    (lambda: ns.decl_buffer((4,), name="B").access_ptr("r"), r"buffer B.access_ptr: raw pointers are only for "
     r"packed or external calls"),
    (lambda: ns.decl_buffer((4, 4), name="B").vload([1]), r"buffer B: 1 indices \['1'\] for a buffer of rank 2"),
])
def test_decl_buffer_misuse_is_refused(call, message):
    with pytest.raises(DefinitionError, match=message):
        call()
