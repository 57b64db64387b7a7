"""The backward pass's order (frontend.autograd.topological_order): the post-order of
tensorir.graph.post_order over the inputs that require grad, on random graphs, and no recursion
limit on deep ones."""

from __future__ import annotations

import numpy as np

import frontend as nf
from frontend.autograd import topological_order
from tensorir.graph import post_order


def test_the_order_is_the_post_order_of_the_inputs_that_require_grad():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(150):
        nodes = [nf.Tensor(rng.standard_normal(3), requires_grad=k == 0 or bool(rng.integers(0, 2))) for k in range(4)]
        for _ in range(int(rng.integers(1, 25))):
            a, b = nodes[rng.integers(len(nodes))], nodes[rng.integers(len(nodes))]
            nodes.append((a + b, a * b, a - b)[int(rng.integers(3))])
        root = nodes[-1]
        if not root.requires_grad:
            continue
        expected = post_order([root], lambda node: [t for t in node.inputs if t.requires_grad])
        order = topological_order(root)
        assert [id(t) for t in order] == [id(t) for t in expected]
        assert all(t.requires_grad for t in order) and order[-1] is root
        checked += 1
    assert checked > 50


def test_a_deep_chain_is_ordered_and_differentiated_without_recursion():
    x = nf.Tensor(np.ones(2))
    y = x
    for _ in range(3000):
        y = y * 1.0
    order = topological_order(y)
    assert len(order) == 3001 and order[0] is x and order[-1] is y
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones(2))
