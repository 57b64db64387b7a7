"""``scan``: a recurrence over the first axis (TVM's ``te.scan``), such as a cumulative sum::

    state = placeholder((m, n))
    init = compute((1, n), lambda _, i: X[0, i])
    update = compute((m, n), lambda t, i: state[t - 1, i] + X[t, i])
    Y = scan(init, update, state, inputs=[X])

``Y[:1]`` is ``init``; for ``t`` from 1 on, ``Y[t]`` is ``update`` at ``t``, where ``state`` reads
the steps of ``Y`` already computed. ``update`` may read ``state`` only at earlier steps
``t - c``, ``1 <= c <= init.shape[0]``; such a read is out of bounds for ``t < c``, which the
scan never evaluates, so the bounds check of ``compute`` lets exactly this pattern through
(``state[t - c, ...]`` of a placeholder of two or more dimensions shaped like the compute) and
records it here: the compute can then be used only as the update of a scan over that state
(anywhere else the bounds error is raised where it is used). A one-dimensional state is
written as ``(m, 1)``.

A step may take several stages (TVM's multi-stage scan cell): computes that read the state at
earlier steps and that the update reads at the same step, such as ``mm[t, i] = sum(state[t - 1,
k] * W[k, i])`` under ``update[t, i] = tanh(mm[t, i]) + X[t, i]``. They are the scan's
``body_ops``, computed at each step inside the update's loop over the scan axis.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from .errors import DefinitionError
from .expr import Binary, BinaryOp, Const, Expr, IterVar, TensorLoad, binary
from .symbolic import same_extent
from .tensor import ComputeOp, Operation, PlaceholderOp, Tensor
from .visitor import walk

#: computes whose reads of a state placeholder at ``t - c`` wait for their scan: op -> loads
_STATE_READS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _step_back(index: Expr, axis: IterVar) -> int | None:
    """``c`` where ``index`` is ``axis - c`` with a positive constant ``c``."""
    match index:
        case Binary(op=BinaryOp.SUB, a=a, b=Const(value=int() as c)) if a is axis.var and c > 0:
            return c
    return None


def _is_state_read(node: object, axis: tuple[IterVar, ...], dtype) -> bool:
    if not (isinstance(node, TensorLoad) and axis and isinstance(node.tensor.op, PlaceholderOp)):
        return False
    tensor = node.tensor
    # a state has a step axis and at least one more: a 1-D read A[i - 1] stays an error at once
    return len(axis) >= 2 and len(tensor.shape) == len(axis) and tensor.dtype is dtype \
        and _step_back(node.indices[0], axis[0]) is not None \
        and all(map(same_extent, tensor.shape, (iv.extent for iv in axis)))


def state_reads(axis: Sequence[IterVar], body: Expr) -> tuple[Expr, list[TensorLoad]]:
    """``body`` for the bounds check (each scan state read ``P[t - c, ...]`` checked as
    ``P[t, ...]``, its other indices as written) and those reads."""
    axis = tuple(axis)
    reads = [n for n in walk(body) if _is_state_read(n, axis, body.dtype)]
    if not reads:
        return body, []
    from .visitor import Mutator

    targets = {id(n) for n in reads}

    class _AtStep(Mutator):
        def rewrite(self, node):
            if id(node) in targets:
                rest = tuple(self.visit(i) for i in node.indices[1:])
                return TensorLoad(node.tensor, (axis[0].var, *rest), node.dtype)
            return None

    return _AtStep().visit(body), reads


def record_state_reads(op: ComputeOp, reads: list[TensorLoad]) -> None:
    """Remember that ``op`` reads placeholders at earlier steps, itself or through the computes
    it reads (see the module docstring): it is then a stage of a scan's body."""
    inherited = [read for tensor in op.inputs for read in _STATE_READS.get(tensor.op, ())]
    if reads or inherited:
        _STATE_READS[op] = tuple(reads) + tuple(inherited)


def pending_state_read(op: Operation) -> TensorLoad | None:
    """A read at an earlier step that only a scan over that state makes valid, if ``op`` has one."""
    reads = _STATE_READS.get(op)
    return reads[0] if reads else None


def check_no_pending_reads(who: str, tensors: Sequence[Tensor], allowed: Operation | None = None) -> None:
    """Refuse ``tensors`` computed with a state read that is not the update of a scan."""
    for tensor in tensors:
        if tensor.op is allowed:
            continue
        read = pending_state_read(tensor.op)
        if read is not None:
            raise DefinitionError(
                f"{who}: compute {tensor.name} reads {read.tensor.name} at an earlier step "
                f"({read}), which is out of bounds at the first steps; such a compute is only the "
                f"update of ns.scan(init, update, {read.tensor.name}, ...) or a stage it reads, "
                "which the scan never evaluates at those steps (else guard the read with "
                "if_then_else)")


def check_scan_bodies(who: str, ops: Sequence[Operation]) -> None:
    """Refuse a compute among ``ops`` that reads a state at earlier steps outside a scan's body."""
    inside = {body for op in ops if isinstance(op, ScanOp) for body in (op.update.op, *op.body_ops)}
    check_no_pending_reads(who, [op.output for op in ops if op not in inside and isinstance(op, ComputeOp)])


def _scan_body(update: Tensor) -> list[ComputeOp]:
    """The computes between ``update`` and the state: those it reads, directly or not, that read
    the state at earlier steps (``update`` excluded)."""
    found: list[ComputeOp] = []
    stack = list(update.op.inputs)
    while stack:
        op = stack.pop().op
        if op in _STATE_READS and op not in found and op is not update.op:
            found.append(op)
            stack.extend(op.inputs)
    return found


class ScanOp(Operation):
    """A tensor computed step by step along its first axis: ``init`` for the first
    ``init.shape[0]`` steps, then ``update`` reading ``state`` (the steps already computed)."""

    def __init__(self, name: str, init: Tensor, update: Tensor, state: Tensor, inputs: tuple[Tensor, ...]):
        self.name = name
        self.init, self.update, self.state = init, update, state
        self.scan_inputs = inputs
        self.shape, self.dtype = state.shape, state.dtype
        self.init_steps = init.shape[0]
        #: the computes of each step besides the update (they read the state through it)
        self.body_ops = tuple(_scan_body(update))
        self._output = Tensor(self)

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        seen = {}
        for tensor in (self.init, self.update, *self.scan_inputs):
            seen.setdefault(tensor, None)
        return tuple(seen)

    def __repr__(self) -> str:
        return f"scan({self.name}, {list(self.shape)}, {self.dtype})"


def _one(value, role: str) -> Tensor:
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise DefinitionError(f"scan: {role} is a list of {len(value)} tensors; a scan over several "
                                  "states is not supported, give one tensor")
        value = value[0]
    if not isinstance(value, Tensor):
        raise DefinitionError(f"scan: {role} must be a tensor, got {type(value).__name__}")
    return value


def _check_parts(init: Tensor, update: Tensor, state: Tensor) -> None:
    if not isinstance(state.op, PlaceholderOp):
        raise DefinitionError(f"scan: the state {state.name} must be a placeholder (ns.placeholder(...)) "
                              f"that the update reads, got a computed tensor")
    for role, tensor in (("init", init), ("update", update)):
        if not isinstance(tensor.op, ComputeOp):
            raise DefinitionError(f"scan: {role} {tensor.name} must be a compute (ns.compute(...))")
        if tensor.dtype is not state.dtype:
            raise DefinitionError(f"scan: {role} {tensor.name} has dtype {tensor.dtype} but the state "
                                  f"{state.name} has {state.dtype}; give them one dtype")
    if len(update.shape) != len(state.shape) or not all(map(same_extent, update.shape, state.shape)):
        raise DefinitionError(f"scan: the update {update.name} has shape {list(update.shape)} but the state "
                              f"{state.name} has {list(state.shape)}; they must agree")
    if len(init.shape) != len(state.shape) or not all(map(same_extent, init.shape[1:], state.shape[1:])) \
            or not _fewer_steps(init.shape[0], state.shape[0]):
        raise DefinitionError(
            f"scan: the init {init.name} has shape {list(init.shape)}; it must be the state's shape "
            f"{list(state.shape)} with fewer steps along the first axis, e.g. "
            f"{[1, *state.shape[1:]]}")
    if any(isinstance(n, TensorLoad) and n.tensor is state for n in walk(init.op.body)):
        raise DefinitionError(f"scan: the init {init.name} reads the state {state.name}; the first "
                              "steps must come from the inputs only")


def _fewer_steps(init_steps, state_steps) -> bool:
    """Whether the init fits in the state: fewer steps (static), or never more (symbolic: with
    one step of each, the scan is its init)."""
    if isinstance(init_steps, int) and isinstance(state_steps, int):
        return init_steps < state_steps
    from .isl_params import always
    from .symbolic import to_expr

    return always(binary(BinaryOp.LE, to_expr(init_steps), to_expr(state_steps)), positive=[state_steps])


def _check_state_reads(init: Tensor, update: Tensor, state: Tensor) -> None:
    """The update and the stages of its body read the state only at earlier steps, and one
    another at the same step."""
    body = [update.op, *_scan_body(update)]
    reads_state = False
    for op in body:
        t = op.axis[0]
        for read in (n for n in walk(op.body) if isinstance(n, TensorLoad)):
            if read.tensor is state:
                reads_state = True
                _check_step_back(op, read, t, init, state)
            elif read.tensor.op in body and read.indices[0] is not t.var:
                raise DefinitionError(
                    f"scan: {op.name} reads {read}, another stage of the scan's step, at another "
                    f"step; read it at the same step, {read.tensor.name}[{t.name}, ...]")
    if not reads_state:
        raise DefinitionError(f"scan: the update {update.name} never reads the state {state.name}; "
                              "read it at an earlier step, e.g. state[t - 1, ...]")
    for op in body[1:]:
        if not same_extent(op.shape[0], state.shape[0]):
            raise DefinitionError(
                f"scan: {op.name}, a stage of the scan's step, has {op.shape[0]} steps along its first "
                f"axis but the state {state.name} has {state.shape[0]}; give it the state's steps")


def _check_step_back(op: ComputeOp, read: TensorLoad, t: IterVar, init: Tensor, state: Tensor) -> None:
    back = _step_back(read.indices[0], t)
    if back is None:
        raise DefinitionError(
            f"scan: the update {op.name} reads the state as {read}; it may read only earlier "
            f"steps, with the first index {t.name} - c for a constant c >= 1 (e.g. "
            f"{state.name}[{t.name} - 1, ...])")
    if back > init.shape[0]:
        raise DefinitionError(
            f"scan: the update {op.name} reads {read}, {back} steps back, but the init "
            f"{init.name} gives only {init.shape[0]} first step(s); give init {back} steps")


def scan(init, update, state_placeholder, inputs: Sequence[Tensor] | None = None,
         name: str = "scan") -> Tensor:
    """A recurrence along the first axis (TVM's ``te.scan``).

    Parameters
    ----------
    init
        The first steps: a compute of the state's shape with ``s`` (>= 1) steps along axis 0.
    update
        A compute of the state's shape; at step ``t >= s`` it gives the scan's value, reading
        ``state_placeholder`` only at earlier steps (``state[t - c, ...]``, ``1 <= c <= s``),
        itself or through stages that it reads at the same step (``s1[t, ...]``).
    state_placeholder
        A placeholder that stands for the scan's own earlier steps.
    inputs
        The tensors the scan reads (optional: they are found from init and update).
    name
        The name of the scan's tensor.

    Returns
    -------
    Tensor
        The scan, of the state's shape; schedule ``s[update]`` (its inner axes) and ``s[init]``.
    """
    init, update = _one(init, "init"), _one(update, "update")
    state = _one(state_placeholder, "state_placeholder")
    listed = tuple(inputs or ())
    if not all(isinstance(t, Tensor) for t in listed):
        raise DefinitionError("scan: inputs must be a list of tensors")
    _check_parts(init, update, state)
    _check_state_reads(init, update, state)
    check_no_pending_reads("scan", [init, *listed])
    for read in _STATE_READS.get(update.op, ()):
        if read.tensor is not state:
            raise DefinitionError(
                f"scan: the step of {update.name} reads {read.tensor.name} at an earlier step ({read}), "
                f"which is out of bounds at the first steps, but the scan's state is {state.name}; "
                f"read only the state at earlier steps (else guard the read with if_then_else)")
    return ScanOp(name, init, update, state, listed).output
