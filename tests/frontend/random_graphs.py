"""Random programs over the frontend's tensors, run three ways: numpy (the reference), lazy, eager.

A program is a list of steps made by :func:`generate` from a seed: leaves (contiguous, or views
of a larger array: slices with steps, transposes), elementwise ops (arithmetic with broadcasting
and Python numbers, exp/log/tanh/sigmoid/relu, powers, casts), views (slices with positive and
negative steps, integer indices, transposes, reshapes, broadcasts), reductions (sum, max, mean
over random axes, keepdims or not), reads of any value at any point, dropped references and
in-place writes into a leaf's storage. The generator runs the numpy reference as it goes, so it
only applies an op where its values stay finite and away from kinks it would have to step over
(``log`` of positive values, ``exp`` of moderate ones, division by values away from zero).

:func:`run` executes a program with numpy arrays or with tensors; every read is recorded, so
the three runs can be compared read by read, then the gradients of a random weighted sum of the
live values with respect to the leaves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

import frontend as nf

#: shapes of the leaves (a leading batch axis, broadcastable partners are derived from them)
SHAPES = ((4, 6), (3, 4, 5), (6,), (2, 3, 4), (2, 32), (5, 6), (3, 16, 2))
SCALARS = (0.5, 1.5, -2.0, 3.0)


@dataclass(frozen=True)
class Vocabulary:
    """What the generator may use: leaf shapes, Python numbers, and ops (None: all it knows;
    ``leaf_views`` lets leaves be strided or transposed views, ``write`` writes into leaves)."""

    shapes: tuple = SHAPES
    scalars: tuple = SCALARS
    ops: frozenset | None = None


FULL = Vocabulary()
#: the default run's: few shapes and numbers, so that programs share their kernels
SMALL = Vocabulary(shapes=((4, 6), (6,)), scalars=(1.5,), ops=frozenset({
    "tanh", "exp", "relu", "add_s", "mul_s", "add", "sub", "mul", "sum", "max", "transpose", "index", "cast", "write",
    "leaf_views"}))


@dataclass(frozen=True)
class Step:
    """One step: ``kind`` is leaf, op, read, drop or write; ``name`` the value it makes or uses."""

    kind: str
    name: str
    op: str = ""
    args: tuple = ()
    params: tuple = ()


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


#: elementwise ops: (ours on tensors, numpy's on arrays); scalars come as params
UNARY = {
    "neg": (lambda x: -x, lambda a: -a),
    "exp": (lambda x: x.exp(), np.exp),
    "log": (lambda x: x.log(), np.log),
    "tanh": (lambda x: x.tanh(), np.tanh),
    "sigmoid": (lambda x: x.sigmoid(), _sigmoid),
    "relu": (lambda x: x.relu(), lambda a: np.maximum(a, 0).astype(a.dtype)),
    "square": (lambda x: x ** 2, lambda a: a ** 2),
    "sqrt": (lambda x: x ** 0.5, lambda a: a ** 0.5),
}
SCALAR = {
    "add_s": (lambda x, c: x + c, lambda a, c: a + c),
    "rsub_s": (lambda x, c: c - x, lambda a, c: c - a),
    "mul_s": (lambda x, c: x * c, lambda a, c: a * c),
    "div_s": (lambda x, c: x / c, lambda a, c: a / c),
    "rdiv_s": (lambda x, c: c / x, lambda a, c: c / a),
}
BINARY = {
    "add": (lambda x, y: x + y, lambda a, b: a + b),
    "sub": (lambda x, y: x - y, lambda a, b: a - b),
    "mul": (lambda x, y: x * y, lambda a, b: a * b),
    "div": (lambda x, y: x / y, lambda a, b: a / b),
}
REDUCE = {"sum": np.sum, "max": np.max, "mean": np.mean}


def _apply(step: Step, env: dict, numpy: bool):
    """The value of an op step on ``env``'s values (numpy arrays or tensors)."""
    op, args, params = step.op, [env[a] for a in step.args], step.params
    if op in UNARY:
        return UNARY[op][numpy](args[0])
    if op in SCALAR:
        return SCALAR[op][numpy](args[0], params[0])
    if op in BINARY:
        return BINARY[op][numpy](*args)
    x = args[0]
    if op == "cast":  # to its own dtype: the same tensor (as the frontend's cast), no copy
        return x.astype(params[0]) if x.dtype != params[0] else x
    if op in REDUCE:
        axis, keepdims = params
        return np.asarray(REDUCE[op](x, axis=axis, keepdims=keepdims)) if numpy else getattr(x, op)(axis, keepdims)
    if op == "transpose":  # needle's rule: two axes are swapped, three or more permute
        axes = params[0]
        return np.swapaxes(x, *axes) if numpy and len(axes) == 2 else x.transpose(axes)
    if op == "reshape":
        return x.reshape(params[0])
    if op == "broadcast":
        return np.broadcast_to(x, params[0]) if numpy else x.broadcast_to(params[0])
    if op == "index":  # a negative step is a copy in the frontend (a flip kernel), a view otherwise
        negative = any(isinstance(i, slice) and (i.step or 1) < 0 for i in params[0])
        return x[params[0]].copy() if numpy and negative else x[params[0]]
    raise AssertionError(op)


def _index(shape: tuple, rng: random.Random) -> tuple:
    """A basic index of ``shape``: per axis a slice (steps 1, 2, -1 or -2) or, rarely, an integer."""
    items = []
    for n in shape:
        roll = rng.random()
        if roll < 0.1 and len(shape) > 1 and not any(isinstance(i, int) for i in items):
            items.append(rng.randrange(n))
        elif roll < 0.5 or n < 2:
            items.append(slice(None))
        else:
            step = rng.choice([1, 2, -1, -2])
            start = rng.randrange(n)
            stop = rng.choice([None, *range(n + 1)])
            items.append(slice(start, stop, step))
    return tuple(items)


class _Builder:
    """Makes a program step by step, keeping the numpy values (to choose safe ops) and shapes."""

    def __init__(self, seed: int, smooth: bool, vocabulary: Vocabulary):
        self.rng, self.smooth, self.vocabulary = random.Random(seed), smooth, vocabulary
        self.np_rng = np.random.default_rng(seed)
        self.steps: list[Step] = []
        self.env: dict[str, np.ndarray] = {}
        self.live: list[str] = []
        self.leaves: list[str] = []
        self.bases: dict[str, np.ndarray] = {}
        self.count = 0

    def allows(self, op: str) -> bool:
        return self.vocabulary.ops is None or op in self.vocabulary.ops

    def pick(self, options: list) -> str | None:
        """One of the ``options`` the vocabulary allows (None if none is)."""
        allowed = [o for o in options if self.allows(o)]
        return self.rng.choice(allowed) if allowed else None

    def name(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def add(self, step: Step, value: np.ndarray | None = None) -> None:
        self.steps.append(step)
        if step.kind == "leaf":
            self.bases[step.name], value = run_leaf(step, numpy=True)
        elif step.kind == "op":
            value = _apply(step, self.env, numpy=True)
        else:
            return
        self.env[step.name] = value
        self.live.append(step.name)

    def leaf(self, shape: tuple | None = None) -> str:
        rng = self.rng
        shape = shape or rng.choice(self.vocabulary.shapes)
        dtype = "float32" if rng.random() < 0.15 else "float64"
        view = None
        if rng.random() < 0.3 and self.allows("leaf_views"):  # every other element of a larger array, or transposed
            view = rng.choice(["strided", "transposed"])
        data = self.np_rng.uniform(-2.0, 2.0, size=_stored_shape(shape, view)).round(6)
        name = self.name()
        self.add(Step("leaf", name, params=(data, dtype, view)))
        self.leaves.append(name)
        return name

    def partner_shape(self, shape: tuple) -> tuple:
        """A shape that broadcasts against ``shape``: the same, fewer leading axes, some axes 1."""
        rng = self.rng
        lead = rng.randrange(len(shape) + 1) if rng.random() < 0.3 else 0
        return tuple(1 if rng.random() < 0.3 else n for n in shape[lead:]) or (1,)

    def partner(self, shape: tuple) -> str:
        """An existing value whose shape broadcasts against ``shape`` without growing it, or a new leaf."""
        fits = [n for n in self.live if _fits(self.env[n].shape, shape) and self.env[n].dtype.kind == "f"]
        if fits and self.rng.random() < 0.6:
            return self.rng.choice(fits)
        return self.leaf(self.partner_shape(shape))


def _stored_shape(shape: tuple, view: str | None) -> tuple:
    if view == "strided":
        return (*shape[:-1], 2 * shape[-1])
    if view == "transposed":
        return tuple(reversed(shape))
    return shape


def run_leaf(step: Step, numpy: bool, requires_grad: bool = False) -> tuple:
    """``(base, value)`` of a leaf step: a fresh array (or tensor) and the value, it or a view of it."""
    data, dtype, view = step.params
    array = data.astype(dtype)
    base = array if numpy else nf.Tensor(array, requires_grad=requires_grad and dtype == "float64")
    if view == "strided":
        return base, base[(..., slice(None, None, 2))]
    if view == "transposed":
        return base, base.transpose(tuple(reversed(range(array.ndim))))
    return base, base


def _fits(shape: tuple, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    return all(n in (1, m) for n, m in zip(shape, target[len(target) - len(shape):]))


def _choose_op(b: _Builder) -> None:
    """Append one op (or a read, drop or write) to the program ``b`` builds."""
    rng = b.rng
    roll = rng.random()
    if not b.live or roll < 0.08:
        b.leaf()
        return
    x = rng.choice(b.live)
    a = b.env[x]
    if roll < 0.16:
        b.add(Step("read", x))
        return
    if roll < 0.21 and len(b.live) > 2:
        b.live.remove(x)
        b.add(Step("drop", x))
        return
    if roll < 0.25 and b.leaves and not b.smooth and b.allows("write"):
        leaf = rng.choice(b.leaves)
        base = b.bases[leaf]
        value = np.round(b.np_rng.uniform(-1.0, 1.0, base.shape), 6)
        b.add(Step("write", leaf, params=(value,)))
        base[...] = value
        return
    _choose_math(b, x, a, rng.random())


def _choose_math(b: _Builder, x: str, a: np.ndarray, roll: float) -> None:
    rng = b.rng
    big, small = float(np.abs(a).max(initial=0.0)), float(np.abs(a).min(initial=1.0))
    if big > 50.0:  # keep the values moderate: squash
        b.add(Step("op", b.name(), "tanh", (x,)))
    elif roll < 0.3:
        choices = ["neg", "tanh", "sigmoid", "square"] + ["relu"] * (not b.smooth)
        choices += ["exp"] * (big < 4.0) + ["log"] * (float(a.min(initial=1.0)) > 0.1)
        choices += ["sqrt"] * (float(a.min(initial=1.0)) > 0.05)
        b.add(Step("op", b.name(), b.pick(choices) or "tanh", (x,)))
    elif roll < 0.45:
        kind = b.pick(["add_s", "rsub_s", "mul_s", "div_s"] + ["rdiv_s"] * (small > 0.1)) or "mul_s"
        b.add(Step("op", b.name(), kind, (x,), (rng.choice(b.vocabulary.scalars),)))
    elif roll < 0.7:
        y = b.partner(a.shape)
        ok = [k for k in BINARY if b.allows(k) and (k != "div" or float(np.abs(b.env[y]).min(initial=1.0)) > 0.1)]
        args = (x, y) if rng.random() < 0.7 else (y, x)
        if args[1] != y and "div" in ok and float(np.abs(a).min(initial=1.0)) <= 0.1:
            ok.remove("div")
        b.add(Step("op", b.name(), rng.choice(ok), args))
    elif roll < 0.82:
        kind = b.pick(["sum", "mean"] + ["max"] * (not b.smooth)) or "sum"
        axes = [d for d in range(a.ndim) if rng.random() < 0.5]
        axis = None if not axes or rng.random() < 0.2 else (axes[0] - a.ndim if len(axes) == 1 else tuple(axes))
        b.add(Step("op", b.name(), kind, (x,), (axis, rng.random() < 0.5)))
    elif roll < 0.87 and b.allows("cast"):
        b.add(Step("op", b.name(), "cast", (x,), (rng.choice(["float32", "float64"]),)))
    else:
        _choose_view(b, x, a)


def _choose_view(b: _Builder, x: str, a: np.ndarray) -> None:
    rng = b.rng
    roll = rng.random()
    if roll < 0.3 and a.ndim > 1 and b.allows("transpose"):
        axes = list(range(a.ndim))
        rng.shuffle(axes)
        b.add(Step("op", b.name(), "transpose", (x,), (tuple(axes),)))
    elif roll < 0.55 and b.allows("reshape"):
        shape = rng.choice([(-1,), (1, *a.shape), (*a.shape[:-2], -1) if a.ndim > 1 else (a.size, 1)])
        b.add(Step("op", b.name(), "reshape", (x,), (shape,)))
    elif roll < 0.7 and b.allows("broadcast"):
        shape = (rng.choice([2, 3]), *(rng.choice([n, 3]) if n == 1 else n for n in a.shape))
        b.add(Step("op", b.name(), "broadcast", (x,), (shape,)))
    elif b.allows("index"):
        index = _index(a.shape, rng)
        if all(n for n in np.empty(a.shape)[index].shape):
            b.add(Step("op", b.name(), "index", (x,), (index,)))


@dataclass(frozen=True)
class Program:
    steps: tuple
    leaves: tuple
    seed: int


def generate(seed: int, size: int = 8, smooth: bool = False, vocabulary: Vocabulary = FULL) -> Program:
    """A program of about ``size`` ops; ``smooth`` leaves out relu, max and writes (for finite differences)."""
    b = _Builder(seed, smooth, vocabulary)
    b.leaf()
    while sum(s.kind == "op" for s in b.steps) < size:
        _choose_op(b)
    order = list(b.live)
    b.rng.shuffle(order)
    for name in order[: max(1, len(order) // 2)]:
        b.add(Step("read", name))
    return Program(tuple(b.steps), tuple(b.leaves), seed)


def run(program: Program, numpy: bool, grad_seed: int | None = None):
    """Run ``program``: ``(reads, grads)``: every read's value in order, and with ``grad_seed``
    the gradients (by leaf) of a weighted sum of the float64 values still live at the end."""
    env, bases, reads = {}, {}, []
    for step in program.steps:
        if step.kind == "leaf":
            bases[step.name], env[step.name] = run_leaf(step, numpy, requires_grad=grad_seed is not None)
        elif step.kind == "op":
            env[step.name] = _apply(step, env, numpy)
        elif step.kind == "read":
            value = env[step.name]
            reads.append((step.name, np.array(value) if numpy else value.numpy()))
        elif step.kind == "drop":
            del env[step.name]
        else:
            base = bases[step.name]
            (base if numpy else base.data)[...] = step.params[0]
    if grad_seed is None or numpy:
        return reads, {}
    return reads, _gradients(env, bases, grad_seed)


def _gradients(env: dict, bases: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    terms = [v for v in env.values() if v.requires_grad]
    if not terms:
        return {}
    loss = None
    for value in terms:
        term = (value * nf.Tensor(rng.uniform(0.5, 1.5, value.shape))).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return {name: base.grad.numpy() for name, base in bases.items() if base.requires_grad and base.grad is not None}


def loss_value(program: Program, grad_seed: int, leaves: dict) -> float:
    """The numpy reference of the weighted sum :func:`run` differentiates, with the leaves'
    data replaced by ``leaves`` (for finite differences)."""
    steps = [Step("leaf", s.name, params=(leaves[s.name], *s.params[1:])) if s.kind == "leaf" and s.name in leaves
             else s for s in program.steps]
    env: dict = {}
    kinds: dict = {}
    for step in steps:
        if step.kind == "leaf":
            _, env[step.name] = run_leaf(step, numpy=True)
            kinds[step.name] = step.params[1] == "float64"
        elif step.kind == "op":
            env[step.name] = _apply(step, env, numpy=True)
            kinds[step.name] = any(kinds[a] for a in step.args)  # requires grad, as the tensors do
        elif step.kind == "drop":
            del env[step.name]
    rng = np.random.default_rng(grad_seed)
    return float(sum((v * rng.uniform(0.5, 1.5, v.shape)).sum() for n, v in env.items() if kinds[n]))


def describe(program: Program) -> str:
    """The program, one step a line (for a failure's message)."""
    lines = [f"seed {program.seed}:"]
    for s in program.steps:
        if s.kind == "leaf":
            data, dtype, view = s.params
            lines.append(f"  {s.name} = leaf{data.shape} {dtype}" + (f" ({view} view)" if view else ""))
        elif s.kind == "op":
            lines.append(f"  {s.name} = {s.op}({', '.join(s.args)}{''.join(f', {p!r}' for p in s.params)})")
        elif s.kind == "write":
            lines.append(f"  write into {s.name}'s storage")
        else:
            lines.append(f"  {s.kind} {s.name}")
    return "\n".join(lines)


def low_precision(program: Program) -> bool:
    """Whether float32 enters the program (a float32 leaf or a cast to float32)."""
    return any((s.kind == "leaf" and s.params[1] == "float32") or (s.op == "cast" and s.params[0] == "float32")
               for s in program.steps)


def compare(program: Program, got: list, expected: list, what: str) -> None:
    """Assert that the reads ``got`` match ``expected`` (values, shapes, dtypes)."""
    tol = 2e-4 if low_precision(program) else 1e-9
    assert len(got) == len(expected)
    for (name, ours), (_, theirs) in zip(got, expected):
        where = f"{what}: read of {name} in\n{describe(program)}"
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (
            f"{where}\n{ours.shape} {ours.dtype} != {theirs.shape} {theirs.dtype}")
        scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol * scale, err_msg=where)


def check(seed: int, size: int, smooth: bool = False, vocabulary: Vocabulary = FULL) -> None:
    """numpy, lazy and eager agree on every read of the program of ``seed``, lazy and eager on
    the gradients; a smooth program's gradients also match central differences of numpy's."""
    program = generate(seed, size, smooth, vocabulary)
    expected, _ = run(program, numpy=True)
    with nf.lazy(True):
        lazy_reads, lazy_grads = run(program, numpy=False, grad_seed=seed)
    with nf.lazy(False):
        eager_reads, eager_grads = run(program, numpy=False, grad_seed=seed)
    compare(program, lazy_reads, expected, "lazy against numpy")
    compare(program, eager_reads, expected, "eager against numpy")
    assert lazy_grads.keys() == eager_grads.keys(), describe(program)
    tol = 2e-4 if low_precision(program) else 1e-9
    for name, grad in lazy_grads.items():
        np.testing.assert_allclose(grad, eager_grads[name], rtol=tol, atol=tol,
                                   err_msg=f"gradient of {name}, lazy against eager, in\n{describe(program)}")
    if smooth and not low_precision(program):
        _finite_differences(program, seed, lazy_grads)


def _finite_differences(program: Program, seed: int, grads: dict, eps: float = 1e-6) -> None:
    rng = np.random.default_rng(seed + 1)
    data = {s.name: s.params[0] for s in program.steps if s.kind == "leaf"}
    for name, grad in grads.items():
        direction = rng.standard_normal(data[name].shape)
        direction /= np.linalg.norm(direction)
        moved = [loss_value(program, seed, {name: data[name] + sign * eps * direction}) for sign in (1.0, -1.0)]
        numeric = (moved[0] - moved[1]) / (2 * eps)
        analytic = float((grad * direction).sum())  # the base's gradient: the stored data's layout
        assert abs(numeric - analytic) <= 1e-5 * max(1.0, abs(numeric)), (
            f"gradient of {name}: finite differences {numeric}, backward {analytic}, in\n{describe(program)}")
