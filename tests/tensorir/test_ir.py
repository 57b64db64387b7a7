"""The IR machinery: traversal and rewriting, printing, simplification and verification."""

from __future__ import annotations

import pytest

import nestor as ns
from tensorir.buffer import Buffer
from tensorir.dtypes import DType
from tensorir.errors import LoweringError
from tensorir.expr import Binary, BinaryOp, BufferLoad, Cast, Select, TensorLoad, Var, binary, const
from tensorir.passes.pipeline import PASSES
from tensorir.passes.pipeline import run as run_passes
from tensorir.passes.simplify import simplify, simplify_expr
from tensorir.stmt import Allocate, For, ForKind, IfThenElse, PrimFunc, Seq, Store, seq
from tensorir.verifier import verify
from tensorir.visitor import Mutator, substitute, walk

F32 = DType.FLOAT32


@pytest.fixture
def abc():
    return Var("a"), Var("b"), Var("c")


def _loop(var: Var, body, extent: int = 4) -> For:
    return For(var, const(0), const(extent), ForKind.SERIAL, body)


def _copy_func():
    """``for i in 0..4: B[i] = A[i] * 2.0``, built by hand."""
    A, B = Buffer("A", (4,), F32), Buffer("B", (4,), F32)
    i = Var("i")
    body = _loop(i, Store(B, (i,), BufferLoad(A, (i,), F32) * 2.0))
    return PrimFunc("copy", (A, B), body), A, B, i


# traversal and rewriting --------------------------------------------------------------------
def test_walk_visits_parents_before_children(abc):
    a, b, c = abc
    expr = a + b * c
    nodes = list(walk(expr))
    assert nodes[0] is expr
    assert nodes.index(expr.b) < nodes.index(b)
    assert {id(n) for n in nodes} >= {id(a), id(b), id(c)}


def test_mutator_returns_the_same_objects_when_nothing_changes(abc):
    a, b, c = abc
    func, *_ = _copy_func()
    assert Mutator()(func) is func
    expr = ns.if_then_else(a < b, a * c, b // 2)
    assert Mutator().visit(expr) is expr


def test_substitution_rebuilds_only_the_changed_path(abc):
    a, b, c = abc
    untouched = b * c
    expr = a + untouched
    result = substitute(expr, {a: c + 1})
    assert str(result) == "c + 1 + b * c"
    assert result is not expr
    assert result.b is untouched
    assert str(expr) == "a + b * c"


def test_substitution_into_a_function_keeps_untouched_statements():
    func, A, B, i = _copy_func()
    j = Var("j")
    renamed = substitute(func.body.body, {i: j})
    assert str(renamed) == "B[j] = A[j] * 2.0"
    assert substitute(func, {}) is func
    other = Var("other")
    assert substitute(func, {other: const(0)}) is func


def test_mutator_rewrites_a_shared_subtree_once(abc):
    a, b, _ = abc
    shared = a + b
    calls = []

    class Count(Mutator):
        def rewrite(self, node):
            if node is shared:
                calls.append(node)
            return None

    Count().visit(shared * shared)
    assert len(calls) == 1


def test_mutator_rewrite_replaces_nodes(abc):
    a, b, _ = abc

    class AddToSub(Mutator):
        def rewrite(self, node):
            if isinstance(node, Binary) and node.op is BinaryOp.ADD:
                return binary(BinaryOp.SUB, self.visit(node.a), self.visit(node.b))
            return None

    assert str(AddToSub().visit((a + b) * (b + 1))) == "(a - b) * (b - 1)"


# printer ------------------------------------------------------------------------------------
@pytest.mark.parametrize("build, text", [
    (lambda a, b, c: a - (b - c), "a - (b - c)"),
    (lambda a, b, c: (a - b) - c, "a - b - c"),
    (lambda a, b, c: a + (b + c), "a + b + c"),
    (lambda a, b, c: (a + b) * c, "(a + b) * c"),
    (lambda a, b, c: a + b * c, "a + b * c"),
    (lambda a, b, c: a // (b // c), "a // (b // c)"),
    (lambda a, b, c: (a % b) % c, "a % b % c"),
    (lambda a, b, c: -(a + b), "-(a + b)"),
    (lambda a, b, c: -a * b, "-a * b"),
    (lambda a, b, c: -(a * b), "-(a * b)"),
    (lambda a, b, c: a * -b, "a * -b"),
    (lambda a, b, c: ns.maximum(a, b + c), "max(a, b + c)"),
    (lambda a, b, c: ns.minimum(a * 2, b), "min(a * 2, b)"),
    (lambda a, b, c: ns.maximum(a, b) * c, "max(a, b) * c"),
    (lambda a, b, c: (a < b) == (b < c), "(a < b) == (b < c)"),
    (lambda a, b, c: (a - b) == c, "a - b == c"),
    (lambda a, b, c: (a < b) & ((b < c) | (c < a)), "a < b and (b < c or c < a)"),
    (lambda a, b, c: ((a < b) & (b < c)) | (c < a), "a < b and b < c or c < a"),
    (lambda a, b, c: ~(a < b), "not a < b"),
    (lambda a, b, c: a / b, "float32(a) / float32(b)"),
    (lambda a, b, c: ns.if_then_else(a < b, a, c), "if_then_else(a < b, a, c)"),
    (lambda a, b, c: ns.exp(a), "exp(float32(a))"),
])
def test_printer_parenthesises_by_precedence(abc, build, text):
    assert str(build(*abc)) == text


def test_printer_constants():
    x = Var("x", F32)
    assert str(x * 0.1) == "x * 0.1"
    assert str(const(float("-inf"), F32)) == "-inf"
    assert str(const(True)) == "True"
    assert str(x.astype("float64") * 2.0) == "float64(x) * 2.0"


def test_printer_statements():
    func, A, B, i = _copy_func()
    T = Buffer("T", (4,), F32)
    body = Allocate(T, seq(
        _loop(i, IfThenElse(i < 3, Store(T, (i,), BufferLoad(A, (i,), F32)),
                            Store(T, (i,), const(0.0, F32)))),
        func.body))
    text = str(PrimFunc("f", (A, B), body))
    assert text == """\
func f(A: float32[4], B: float32[4]) {
  allocate T: float32[4] in global
  for i in 0..4:
    if i < 3:
      T[i] = A[i]
    else:
      T[i] = 0.0
  for i in 0..4:
    B[i] = A[i] * 2.0
}"""


def test_printer_loop_kinds_and_offsets():
    A = Buffer("A", (8,), F32)
    i = Var("i")
    store = Store(A, (i,), const(1.0, F32))
    assert str(For(i, const(2), const(6), ForKind.PARALLEL, store)).splitlines()[0] == \
        "parallel for i in 2..8:"
    assert str(For(i, const(0), const(8), ForKind.THREAD_BINDING, store, "threadIdx.x")) \
        .splitlines()[0] == "for i in 0..8 [threadIdx.x]:"
    n = Var("n")
    assert str(For(i, n, const(4), ForKind.UNROLLED, store)).splitlines()[0] == "unrolled for i in n..n + 4:"


# simplifier ---------------------------------------------------------------------------------
def test_constant_folding():
    assert str(simplify_expr(const(2) + const(3) * const(4))) == "14"
    assert str(simplify_expr(const(-7) // const(2))) == "-4"
    assert str(simplify_expr(const(-7) % const(2))) == "1"
    assert str(simplify_expr(const(7) < const(2))) == "False"
    assert str(simplify_expr(Cast(const(3), F32))) == "3.0"
    assert str(simplify_expr(-const(3))) == "-3"


@pytest.mark.parametrize("build, text", [
    (lambda a, b: a * 1, "a"),
    (lambda a, b: 1 * a, "a"),
    (lambda a, b: a + 0, "a"),
    (lambda a, b: 0 + a, "a"),
    (lambda a, b: a - 0, "a"),
    (lambda a, b: a * 0, "0"),
    (lambda a, b: a // 1, "a"),
    (lambda a, b: a % 1, "0"),
    (lambda a, b: (a - 2) + 2, "a"),
    (lambda a, b: (a + 2) + 3, "a + 5"),
    (lambda a, b: a + -3, "a - 3"),
    (lambda a, b: (b + 1) * 1 + 0, "b + 1"),
    (lambda a, b: (a * 1 + 0) * (b + 0), "a * b"),
])
def test_integer_identities(build, text):
    assert str(simplify_expr(build(Var("a"), Var("b")))) == text


def test_add_then_subtract_the_same_constant():
    a = Var("a")
    assert str(simplify_expr((a + 2) - 2)) == "a"
    assert str(simplify_expr((a * 3 + 2) - (a + 2))) == "a * 2"


def test_float_identities_only_where_exact():
    x = Var("x", F32)
    assert simplify_expr(x * 1.0) is x
    assert simplify_expr(x / 1.0) is x
    # x + 0.0 is not x when x is -0.0
    assert str(simplify_expr(x + 0.0)) == "x + 0.0"


def test_constant_choices():
    a, b = Var("a"), Var("b")
    assert simplify_expr(Select(const(True), a, b, DType.INT32)) is a
    assert simplify_expr(Select(const(False), a, b, DType.INT32)) is b


def test_simplify_statements():
    func, A, B, i = _copy_func()
    store = func.body.body
    assert simplify(func) is func
    dead = PrimFunc("f", (A, B), seq(_loop(i, store, extent=0), func.body))
    assert str(simplify(dead)) == str(func).replace("copy", "f")
    branch = PrimFunc("f", (A, B), _loop(i, IfThenElse(const(1) < const(2), store)))
    assert str(simplify(branch)) == str(func).replace("copy", "f")


def test_simplify_inside_indices():
    A = Buffer("A", (4,), F32)
    i = Var("i")
    func = PrimFunc("f", (A,), _loop(i, Store(A, (i * 1 + 0,), const(1.0, F32))))
    assert str(simplify(func).body.body) == "A[i] = 1.0"


# verifier -----------------------------------------------------------------------------------
def _invalid(func: PrimFunc, *parts: str) -> None:
    with pytest.raises(LoweringError) as info:
        verify(func, "test pass")
    message = str(info.value)
    assert message.startswith(f"invalid IR for {func.name} after test pass:")
    for part in parts:
        assert part in message


def test_verifier_accepts_valid_ir():
    func, *_ = _copy_func()
    assert verify(func) is func


def test_verifier_unbound_variable():
    func, A, B, i = _copy_func()
    j = Var("j")
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (j,), BufferLoad(A, (i,), F32)))),
             "variable j is used outside any loop that defines it")


def test_verifier_variable_used_after_its_loop():
    func, A, B, i = _copy_func()
    _invalid(PrimFunc("f", (A, B), seq(func.body, Store(B, (i,), const(0.0, F32)))),
             "variable i is used outside any loop")


def test_verifier_wrong_rank():
    func, A, B, i = _copy_func()
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (i, i), BufferLoad(A, (i,), F32)))),
             "store to B: 2 indices for buffer B of rank 1")
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (i,), BufferLoad(A, (), F32)))),
             "A[]: 0 indices for buffer A of rank 1")


def test_verifier_unallocated_buffer():
    func, A, B, i = _copy_func()
    T = Buffer("T", (4,), F32)
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(T, (i,), BufferLoad(A, (i,), F32)))),
             "store to T: buffer T is neither a parameter nor allocated here")
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (i,), BufferLoad(T, (i,), F32)))),
             "T[i]: buffer T is neither a parameter nor allocated here")


def test_verifier_buffer_used_after_its_allocation():
    func, A, B, i = _copy_func()
    T = Buffer("T", (4,), F32)
    fill = _loop(i, Store(T, (i,), const(0.0, F32)))
    use = _loop(i, Store(B, (i,), BufferLoad(T, (i,), F32)))
    _invalid(PrimFunc("f", (A, B), seq(Allocate(T, fill), use)), "buffer T is neither a parameter")


def test_verifier_buffer_allocated_twice():
    func, A, B, i = _copy_func()
    T = Buffer("T", (4,), F32)
    _invalid(PrimFunc("f", (A, B), Allocate(T, Allocate(T, func.body))), "buffer T is allocated twice")


def test_verifier_dtype_mismatch_in_a_store():
    func, A, B, i = _copy_func()
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (i,), i))),
             "store of int32 value i into float32 buffer B")


def test_verifier_mixed_operand_types():
    func, A, B, i = _copy_func()
    bad = Binary(BinaryOp.ADD, BufferLoad(A, (i,), F32), i, F32)
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (i,), bad))),
             "operands of A[i] + i have types float32 and int32")


def test_verifier_non_bool_conditions():
    func, A, B, i = _copy_func()
    store = func.body.body
    _invalid(PrimFunc("f", (A, B), _loop(i, IfThenElse(i, store))), "if condition i is not bool")
    choice = Select(i, BufferLoad(A, (i,), F32), const(0.0, F32), F32)
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (i,), choice))), "condition of if_then_else(i")
    compare = Binary(BinaryOp.LT, i, const(2), DType.INT32)
    _invalid(PrimFunc("f", (A, B), _loop(i, IfThenElse(compare, store))), "comparison i < 2 is not bool")


def test_verifier_float_index():
    func, A, B, i = _copy_func()
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (Cast(i, F32),), const(0.0, F32)))),
             "store to B: index float32(i) has type float32")


def test_verifier_loop_variable_bound_twice():
    func, A, B, i = _copy_func()
    _invalid(PrimFunc("f", (A, B), _loop(i, func.body)), "loop variable i is bound again")


def test_verifier_definition_nodes_left_in_lowered_ir():
    func, A, B, i = _copy_func()
    X = ns.placeholder((4,), name="X")
    _invalid(PrimFunc("f", (A, B), _loop(i, Store(B, (i,), TensorLoad(X, (i,), F32)))),
             "X[i] is a definition-level node left in lowered IR")


def test_verifier_lists_every_problem_once():
    func, A, B, i = _copy_func()
    j = Var("j")
    store = Store(B, (j,), i)
    _invalid(PrimFunc("f", (A, B), _loop(i, Seq((store, store)))),
             "variable j is used outside", "store of int32 value i")
    with pytest.raises(LoweringError) as info:
        verify(PrimFunc("f", (A, B), _loop(i, Seq((store, store)))))
    assert str(info.value).count("variable j") == 1


# pipeline -----------------------------------------------------------------------------------
def test_pipeline_prints_the_ir_after_each_pass(capsys):
    func, *_ = _copy_func()
    assert run_passes(func, print_ir=True) is not None
    printed = capsys.readouterr().out
    assert "# after schedule lowering" in printed
    for name, _ in PASSES:
        assert f"# after {name}" in printed
    assert "func copy(" in printed


def test_pipeline_rejects_invalid_ir():
    func, A, B, i = _copy_func()
    with pytest.raises(LoweringError, match="after schedule lowering"):
        run_passes(PrimFunc("f", (A, B), _loop(i, Store(B, (i,), i))))
