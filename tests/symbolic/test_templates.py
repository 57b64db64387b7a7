"""Templates with a symbolic size (the leading dimension): one build per template serves every
size; compared with numpy; a second build of the same symbolic function is a kernel cache hit."""

import numpy as np
import pytest

import nestor as ns
from schedules.templates import bias_add, conv2d_cpu, elementwise_cpu, matmul_layout, row_sum_cpu, softmax_cpu
from tests.catalogue import _conv_reference


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


CASES = {
    "elementwise": (lambda n: elementwise_cpu((n, 16)), lambda a, b: a + b, [(16,), (16,)]),
    "bias_add": (lambda n: bias_add(n, 16), lambda x, b: x + b, [(16,), None]),
    "row_sum": (lambda n: row_sum_cpu(n, 40), lambda x: x.sum(1), [(40,)]),
    "softmax": (lambda n: softmax_cpu(n, 40), _softmax, [(40,)]),
    "matmul_rows": (lambda n: matmul_layout((n, 32), (32, 16)), lambda a, b: a @ b, [(32,), None]),
    "conv2d_batch": (lambda n: conv2d_cpu(n, 3, 8, 8, 4, 3), lambda x, w: _conv_reference(x, w, 1, 1), None),
}


def _inputs(args, size, rng):
    shapes = []
    for t in args[:-1]:
        shapes.append(tuple(size if not isinstance(d, int) else d for d in t.shape))
    return [rng.uniform(-1, 1, shape).astype(np.float32) for shape in shapes]


@pytest.mark.parametrize("target", ["interp", "llvm"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_template_with_a_symbolic_size(name, target):
    if target == "interp" and name == "conv2d_batch":
        pytest.skip("the interpreter is slow on convolutions; llvm covers it")
    make, reference, _ = CASES[name]
    s, args = make(ns.size_var("n"))
    module = ns.build(s, args, target=target)
    rng = np.random.default_rng(0)
    for size in (1, 5):
        inputs = _inputs(args, size, rng)
        want = reference(*inputs).astype(np.float32)
        out = np.full(want.shape, np.nan, np.float32)
        module(*inputs, out)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


def test_a_second_build_of_a_symbolic_kernel_is_a_cache_hit():
    first = ns.build(*softmax_cpu(ns.size_var("n"), 40), target="llvm")
    again = ns.build(*softmax_cpu(ns.size_var("rows"), 40), target="llvm")  # other variable objects and names
    assert first.cache_hit in (None, "disk", "memory")
    assert again.cache_hit == "memory"
    from tensorir.structural import structural_hash

    assert structural_hash(first.func) == structural_hash(again.func)
    static = ns.build(*softmax_cpu(7, 40), target="llvm")
    assert structural_hash(static.func) != structural_hash(first.func)


def test_constraints_are_part_of_the_key():
    from tensorir.structural import structural_hash

    plain = ns.lower(*elementwise_cpu((ns.size_var("n"), 16), parallel=False))
    divided = ns.lower(*elementwise_cpu((ns.size_var("n", divisor=4), 16), parallel=False))
    assert structural_hash(plain) != structural_hash(divided)
