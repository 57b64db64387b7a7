"""needle's autograd surface, as its hw1 tests and optimizers use it (through the name-mapping
shim): ``Tensor.data`` as ``detach()`` (a Tensor over the same storage), ``is_leaf()``,
``find_topo_sort`` (``a - b`` listed as needle's two nodes) and ``compute_gradient_of_variables``, ``.grad`` of the
intermediate tensors after ``backward``, ``TensorOp``; values against numpy, gradients against
central differences."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.errors import DefinitionError

from .needle_shim import ndl


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


# -- Tensor.data: needle's detach() ------------------------------------------------------------------
def test_data_is_a_detached_tensor_over_the_same_storage():
    a = np.random.randn(3, 4).astype(np.float32)
    x = ndl.Tensor(a)
    data = x.data
    assert isinstance(data, ndl.Tensor) and not data.requires_grad and data.op is None and data.is_leaf
    assert x.requires_grad and data.dtype == "float32" and data.shape == (3, 4)
    np.testing.assert_array_equal(data.numpy(), a)
    assert np.shares_memory(np.asarray(data), x.realize_cached_data())
    np.testing.assert_array_equal(x.detach().numpy(), a)
    assert not x.detach().requires_grad


def test_numpy_reads_data_as_the_storage_and_copies_when_asked():
    x = ndl.Tensor(np.arange(4.0))
    shared, copied = np.asarray(x.data), np.array(x.data)
    shared[0], copied[1] = 10.0, 20.0
    np.testing.assert_array_equal(x.numpy(), [10.0, 1.0, 2.0, 3.0])
    converted = np.asarray(x.data, dtype=np.float32)
    assert converted.dtype == np.float32 and not np.shares_memory(converted, shared)
    np.testing.assert_array_equal(np.asarray(x), x.numpy())
    assert not np.shares_memory(np.asarray(x), shared)  # a tensor itself reads as a copy


def test_the_optimizer_idiom_on_data_and_grad_data():
    w0 = np.random.randn(4, 3)
    w = ndl.Tensor(w0)
    loss = (w * w).sum()
    loss.backward()
    grad = w.grad.data
    assert isinstance(grad, ndl.Tensor) and not grad.requires_grad
    update = w.data - 0.1 * w.grad.data
    assert not update.requires_grad
    w.data = update
    np.testing.assert_allclose(w.numpy(), w0 - 0.1 * 2 * w0, rtol=1e-12)
    assert w.requires_grad and w.is_leaf and w.op is None


def test_assigning_data_shares_the_tensors_storage_as_needle():
    x, source = ndl.Tensor(np.zeros(3)), ndl.Tensor(np.arange(3.0))
    x.data = source
    np.testing.assert_array_equal(x.numpy(), [0.0, 1.0, 2.0])
    source.data[1] = 7.0  # the storage both now hold
    np.testing.assert_array_equal(x.numpy(), [0.0, 7.0, 2.0])
    x.cached_data = np.ones(3)  # needle's other way to set the storage
    np.testing.assert_array_equal(x.numpy(), np.ones(3))


def test_item_assignment_into_data_writes_the_tensors_values():
    a = np.arange(12.0).reshape(3, 4)
    x = ndl.Tensor(a)
    y = x * 2.0  # pending while the write comes: keeps the values it was applied to
    x.data[1] = ndl.Tensor(np.full(4, -1.0))
    x.data[0, ::2] = 5.0
    x.data[np.array([2]), 3] = np.array([9.0])
    want = a.copy()
    want[1], want[0, ::2], want[2, 3] = -1.0, 5.0, 9.0
    np.testing.assert_array_equal(x.numpy(), want)
    np.testing.assert_array_equal(y.numpy(), a * 2.0)
    z = x * 2.0
    np.testing.assert_array_equal(z.numpy(), want * 2.0)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ndl.Tensor(np.ones(3)).__setitem__(0, 1.0),
     r"Tensor\[0\] = value: the tensor requires grad, and writing into it would change values its graph "
     r"differentiates; write into its values instead: t\.data\[\.\.\.\] = value"),
    (lambda: ndl.Tensor(np.ones(3)).data.__setitem__(3, 1.0),
     r"Tensor\[3\] = value: cannot store float 1\.0 into a tensor of shape \(3,\) \(index 3 is out of bounds .*\); "
     r"give an index within the shape and values that broadcast to the indexed part"),
    (lambda: ndl.Tensor(np.ones((2, 3))).data.__setitem__(0, np.ones(2)),
     r"Tensor\[0\] = value: cannot store values of shape \(2,\) into a tensor of shape \(2, 3\)"),
    (lambda: ndl.broadcast_to(ndl.Tensor(np.ones(3)), (2, 3)).data.__setitem__(0, 1.0),
     r"Tensor\[0\] = value: the tensor of shape \(2, 3\) is a read-only view \(a broadcast_to result\); write "
     r"into the tensor it was broadcast from, or into a copy: Tensor\(t\.numpy\(\)\)"),
])
def test_bad_writes_are_refused_at_the_call(call, message):
    with pytest.raises(DefinitionError, match=message):
        call()


def test_is_leaf_is_needles_method_and_a_truth_value():
    x = ndl.Tensor(np.ones(2))
    y = x * 2
    assert x.is_leaf() is True and y.is_leaf() is False
    assert x.is_leaf and not y.is_leaf and x.is_leaf == True and y.is_leaf == False  # noqa: E712
    assert repr(x.is_leaf) == "True"


def test_subtracting_tensors_is_listed_as_needles_two_nodes():
    a, b = np.random.randn(2, 3), np.random.randn(2, 3)
    x, y = ndl.Tensor(a), ndl.Tensor(b)
    z = x - y
    nodes = ndl.autograd.find_topo_sort([z])
    assert len(nodes) == 4 and nodes[0] is x and nodes[1] is y and nodes[3] is z
    assert nodes[2].inputs == () or nodes[2].inputs[0] is y
    np.testing.assert_allclose(nodes[2].numpy(), -b, rtol=1e-12)
    np.testing.assert_allclose(z.numpy(), a - b, rtol=1e-12)
    (z * z).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (a - b), rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), -2 * (a - b), rtol=1e-12)
    assert len(ndl.autograd.find_topo_sort([x - 1.5])) == 2  # a tensor and a number: one op, as needle's


# -- find_topo_sort and compute_gradient_of_variables (hw1) --------------------------------------------
def _topo_values(*roots):
    return [node.numpy() for node in ndl.autograd.find_topo_sort(list(roots))]


def test_find_topo_sort_lists_needles_nodes_in_needles_order():
    a, b = 0.88282157, 0.90170084
    a1, b1 = ndl.Tensor(np.asarray([[a]])), ndl.Tensor(np.asarray([[b]]))
    c1 = 3 * a1 * a1 + 4 * b1 * a1 - a1
    # needle's nodes: a1, 3*a1, (3*a1)*a1, b1, 4*b1, (4*b1)*a1, their sum, -a1, c1
    want = [a, 3 * a, 3 * a * a, b, 4 * b, 4 * b * a, 3 * a * a + 4 * b * a, -a, 3 * a * a + 4 * b * a - a]
    got = _topo_values(c1)
    assert len(got) == len(want)
    np.testing.assert_allclose(np.array(got).reshape(-1), want, rtol=1e-6, atol=1e-6)
    a = ndl.Tensor(np.asarray([[1.4335016, 0.30559972], [0.08130171, -1.15072371]]))
    b = ndl.Tensor(np.asarray([[1.34571691, -0.95584433], [-0.99428573, -0.04017499]]))
    e = (a @ b + b - a) @ a
    want = [a.numpy(), b.numpy(), a.numpy() @ b.numpy(), a.numpy() @ b.numpy() + b.numpy(), -a.numpy(),
            a.numpy() @ b.numpy() + b.numpy() - a.numpy(), e.numpy()]
    got = _topo_values(e)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def _recursive_topo(nodes):
    """needle's find_topo_sort as written there: recursive, each node after its inputs."""
    order, visited = [], set()

    def visit(node):
        if id(node) in visited:
            return
        for source in node.inputs:
            visit(source)
        visited.add(id(node))
        order.append(node)

    for node in nodes:
        visit(node)
    return order


@pytest.mark.parametrize("seed", range(5))
def test_find_topo_sort_agrees_with_needles_recursive_walk_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    nodes = [ndl.Tensor(rng.standard_normal((2, 2))) for _ in range(3)]
    makers = [lambda u, v: u + v, lambda u, v: u * v, lambda u, v: u @ v, lambda u, v: ndl.exp(u * 0.1),
              lambda u, v: ndl.negate(u)]
    for _ in range(12):
        left, right = (nodes[k] for k in rng.integers(0, len(nodes), 2))
        nodes.append(makers[rng.integers(0, len(makers))](left, right))
    roots = [nodes[-1], nodes[-3]]
    assert [id(n) for n in ndl.autograd.find_topo_sort(roots)] == [id(n) for n in _recursive_topo(roots)]


def test_compute_gradient_of_variables_sets_every_nodes_gradient():
    a, b = np.random.randn(3, 4), np.random.randn(4, 2)
    x, w = ndl.Tensor(a), ndl.Tensor(b)
    z = x @ w
    h = ndl.relu(z)
    out = ndl.summation(h * h)
    seed = np.random.randn(*out.shape)
    ndl.autograd.compute_gradient_of_variables(out, ndl.Tensor(seed))
    dh = seed * 2 * np.maximum(a @ b, 0)
    dz = dh * (a @ b > 0)
    for node in ndl.autograd.find_topo_sort([out]):  # every node, as in needle
        assert node.grad is not None
    np.testing.assert_allclose(out.grad.numpy(), seed)
    np.testing.assert_allclose(h.grad.numpy(), dh, rtol=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), dz, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), dz @ b.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), a.T @ dz, rtol=1e-12)
    total = ndl.autograd.sum_node_list([x, x, ndl.Tensor(np.ones((3, 4)))])
    np.testing.assert_allclose(total.numpy(), 2 * a + 1)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ndl.autograd.find_topo_sort([np.ones(2)]),
     r"find_topo_sort: node_list\[0\] is a ndarray, not a Tensor; pass a list of tensors"),
    (lambda: ndl.autograd.compute_gradient_of_variables(ndl.Tensor(np.ones(2)) * 2, ndl.Tensor(np.ones(3))),
     r"compute_gradient_of_variables: out_grad has shape \(3,\) but the output has \(2,\)"),
    (lambda: ndl.autograd.compute_gradient_of_variables(np.ones(2), ndl.Tensor(np.ones(2))),
     r"compute_gradient_of_variables: got ndarray and Tensor; give the output tensor and its adjoint as Tensors"),
    (lambda: ndl.autograd.sum_node_list([]), r"sum_node_list: the list is empty"),
])
def test_bad_autograd_calls_are_refused_at_the_call(call, message):
    with pytest.raises(DefinitionError, match=message):
        call()


# -- .grad of intermediate tensors after backward ----------------------------------------------------
def test_backward_gives_the_intermediates_the_user_holds_their_gradients():
    a, b = np.random.randn(4, 3), np.random.randn(3, 5)
    x, w = ndl.Tensor(a), ndl.Tensor(b)
    z = x @ w
    y = ndl.tanh(z)
    loss = ndl.summation(y * y + z)
    loss.backward()
    t = np.tanh(a @ b)
    np.testing.assert_allclose(y.grad.numpy(), 2 * t, rtol=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), 2 * t * (1 - t * t) + 1, rtol=1e-12)
    np.testing.assert_allclose(loss.grad.numpy(), 1.0)
    held = [z * 3.0]  # held in a list, not a variable
    ndl.summation(held[0]).backward()
    np.testing.assert_allclose(held[0].grad.numpy(), np.ones((4, 5)))
    np.testing.assert_allclose(z.grad.numpy(), np.full((4, 5), 3.0))  # replaced, as a second backward does


def test_an_intermediates_gradient_can_be_differentiated_again():
    x = ndl.Tensor(np.array([1.5, -0.5]))
    h = x * x
    y = ndl.summation(h * h)
    y.backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * np.array([1.5, -0.5]) ** 2)
    h.grad.backward()  # d/dx sum(2 x^2), as needle differentiates a gradient
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.array([1.5, -0.5]))


def test_a_training_steps_intermediates_get_no_gradient_and_the_same_kernels(monkeypatch):
    from frontend import dispatch, node_grads

    rng = np.random.default_rng(0)
    model = ndl.nn.Sequential(ndl.nn.Linear(6, 8), ndl.nn.ReLU(), ndl.nn.Linear(8, 3))
    opt = ndl.optim.SGD(model.parameters(), lr=0.1)
    batch, labels = ndl.Tensor(rng.standard_normal((5, 6)), dtype="float32"), ndl.Tensor(np.array([0, 2, 1, 1, 0]))

    def step():
        opt.reset_grad()
        loss = ndl.nn.SoftmaxLoss()(model(batch), labels)
        loss.backward()
        opt.step()
        return loss

    step()
    calls = []
    for only_root in (False, True):
        if only_root:
            monkeypatch.setattr(node_grads, "shown", lambda order, root, every_node=False: {id(root)})
        dispatch.stats.reset()
        loss = step()
        loss.numpy()
        calls.append(dispatch.stats.calls)
        assert all(node.grad is None for node in ndl.autograd.find_topo_sort([loss])
                   if node.op is not None and node is not loss)
    assert calls[0] == calls[1]


# -- TensorOp: a program's own op -------------------------------------------------------------------
class ScaledSquare(ndl.autograd.TensorOp):
    """``scale * a ** 2``, written as a needle program defines an op."""

    def __init__(self, scale):
        self.scale = scale

    def compute(self, a):
        return self.scale * a ** 2

    def gradient(self, out_grad, node):
        return out_grad * node.inputs[0] * (2 * self.scale)


def test_a_programs_tensor_op_runs_and_differentiates():
    from .needle_checks import gradient_check

    a = np.random.randn(3, 2)
    x = ndl.Tensor(a)
    y = ScaledSquare(1.5)(x)
    assert isinstance(y.op, ndl.autograd.TensorOp) and y.inputs[0] is x and repr(y.op) == "ScaledSquare()"
    np.testing.assert_allclose(y.numpy(), 1.5 * a ** 2, rtol=1e-12)
    gradient_check(lambda t: ScaledSquare(0.5)(t) * 2.0, ndl.Tensor(a), backward=True)
    gradient_check(ScaledSquare(0.5), ndl.Tensor(a), backward=False)
    assert isinstance(x, ndl.autograd.Value)


class WritesItsInput(ndl.autograd.TensorOp):
    def compute(self, a):
        a[0] = 0.0
        return a


class GivesBooleans(ndl.autograd.TensorOp):
    def compute(self, a):
        return a > 0


def test_a_tensor_op_cannot_write_its_inputs_and_must_give_numbers():
    x = ndl.Tensor(np.ones(3))
    with pytest.raises(ValueError, match="read-only"):
        WritesItsInput()(x)
    np.testing.assert_array_equal(x.numpy(), np.ones(3))
    with pytest.raises(DefinitionError, match=r"GivesBooleans.compute returned bool values; return an array of one "
                                              r"of float32, float64, int32, int64 \(astype\)"):
        GivesBooleans()(x)


# -- reductions of integer tensors: numpy's result dtypes ---------------------------------------------
@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("axes", [None, (0,), (1,), (0, 1)])
def test_the_mean_of_an_integer_tensor_is_float64_as_numpys(dtype, axes):
    a = np.random.randint(-50, 50, size=(5, 7)).astype(dtype)
    x = ndl.Tensor(a, requires_grad=False)
    got = x.mean(axes) if axes is not None else ndl.ops.mean(x)
    want = a.mean(axis=axes)
    assert got.dtype == "float64" and got.numpy().dtype == want.dtype == np.float64
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-14)
    total = ndl.summation(x, axes=axes)
    assert total.dtype == "int64" == total.numpy().dtype == a.sum(axis=axes).dtype  # numpy widens int32
    np.testing.assert_array_equal(total.numpy(), a.sum(axis=axes))
    lse = ndl.logsumexp(x * 0 + 1, axes=axes)
    assert lse.dtype == "float64"


class _UsersAdam(ndl.optim.Optimizer):
    """hw2's Adam as students write it: moments of ``.data`` tensors in dicts keyed by parameter."""

    def __init__(self, params, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(params)
        self.lr, self.beta1, self.beta2, self.eps, self.weight_decay = lr, beta1, beta2, eps, weight_decay
        self.t, self.m, self.v = 0, {}, {}

    def step(self):
        self.t += 1
        for p in self.params:
            if p.grad is None:
                continue
            grad = ndl.Tensor(p.grad, dtype="float32").data + self.weight_decay * p.data
            self.m[p] = self.beta1 * self.m.get(p, 0) + (1 - self.beta1) * grad
            self.v[p] = self.beta2 * self.v.get(p, 0) + (1 - self.beta2) * grad ** 2
            m_hat = self.m[p] / (1 - self.beta1 ** self.t)
            v_hat = self.v[p] / (1 - self.beta2 ** self.t)
            p.data = p.data - self.lr * m_hat / (v_hat ** 0.5 + self.eps)


def test_an_optimizer_written_over_data_matches_the_built_in_one():
    results = []
    for optimizer in (_UsersAdam, ndl.optim.Adam):
        np.random.seed(0)
        model = ndl.nn.Sequential(ndl.nn.Linear(6, 8), ndl.nn.ReLU(), ndl.nn.Linear(8, 3))
        opt = optimizer(model.parameters(), lr=0.01, weight_decay=0.01)
        x, y = ndl.Tensor(np.random.randn(16, 6), dtype="float32"), ndl.Tensor(np.random.randint(0, 3, 16))
        for _ in range(4):
            opt.reset_grad()
            ndl.nn.SoftmaxLoss()(model(x), y).backward()
            opt.step()
        assert all(p.dtype == "float32" and p.requires_grad and p.op is None for p in model.parameters())
        results.append([p.numpy() for p in model.parameters()])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


# -- more bad input of needle programs: an error at the call ----------------------------------------
@pytest.mark.parametrize(("call", "message"), [
    (lambda: ndl.nn.LSTM(4, 5)(ndl.Tensor(np.ones((2, 3, 4)), dtype="float32"), ndl.Tensor(np.ones((1, 3, 5)))),
     r"LSTM: the state must be a pair \(h0, c0\) of \(num_layers, batch, hidden_size\) tensors, got a Tensor"),
    (lambda: ndl.nn.LSTM(4, 5, 2)(ndl.Tensor(np.ones((2, 3, 4)), dtype="float32"),
                                  (ndl.Tensor(np.ones((1, 3, 5))), ndl.Tensor(np.ones((1, 3, 5))))),
     r"LSTM: initial state of shape \(1, 3, 5\) does not fit; give \(num_layers, batch, hidden_size\) = "
     r"\(2, 3, 5\) tensors, or None for zeros"),
    (lambda: ndl.nn.RNN(4, 5)(ndl.Tensor(np.ones((2, 3, 4)), dtype="float32"), ndl.Tensor(np.ones((1, 2, 5)))),
     r"RNN: initial state of shape \(1, 2, 5\) does not fit; give \(num_layers, batch, hidden_size\) = \(1, 3, 5\)"),
    (lambda: ndl.nn.RNN(4, 5)(ndl.Tensor(np.ones((2, 3, 4)), dtype="float32"), [np.ones((1, 3, 5))]),
     r"RNN: initial state \(a list\) does not fit"),
    (lambda: ndl.autograd.find_topo_sort(ndl.Tensor(np.ones(2))),
     r"find_topo_sort: node_list is a Tensor; pass a list of tensors: find_topo_sort\(\[y\]\)"),
    (lambda: ndl.nn.BatchNorm1d(3, momentum=2.0), r"BatchNorm1d: momentum must be a number in \[0.0, 1.0\], got 2.0"),
    (lambda: ndl.nn.BatchNorm2d(3, eps=0), r"BatchNorm2d: eps must be a number above 0.0, got 0"),
    (lambda: ndl.nn.LayerNorm1d(3, eps=-1.0), r"LayerNorm: eps must be a number above 0.0, got -1.0"),
    (lambda: ndl.data.get_batch(np.ones((5, 2)), 0, 0),
     r"get_batch: bptt must be a positive int \(the sequence length\), got 0"),
])
def test_more_bad_input_is_refused_at_the_call(call, message):
    from frontend.errors import DataError

    with pytest.raises((DefinitionError, DataError), match=message):
        call()


def test_clipping_without_gradients_is_a_no_op():
    layer = ndl.nn.Linear(2, 2)
    before = layer.weight.numpy()
    assert ndl.optim.SGD(layer.parameters()).clip_grad_norm(0.25) == 0.0
    np.testing.assert_array_equal(layer.weight.numpy(), before)
