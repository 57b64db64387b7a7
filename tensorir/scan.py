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

from .dtypes import INDEX
from .errors import DefinitionError
from .expr import Binary, BinaryOp, Const, Expr, IterKind, IterVar, TensorLoad, Var, binary
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
    if not (len(axis) >= 2 and len(tensor.shape) >= 2 and _step_back(node.indices[0], axis[0]) is not None):
        return False
    if len(tensor.shape) == len(axis) and tensor.dtype is dtype \
            and all(map(same_extent, tensor.shape, (iv.extent for iv in axis))):
        return True
    return _earlier_step_input(tensor, axis[0], _step_back(node.indices[0], axis[0]))


def _earlier_step_input(tensor: Tensor, step: IterVar, back: int) -> bool:
    """Whether ``tensor`` has the steps of ``step`` along its first axis, or all but the first
    ``back`` of them (TVM's LSTM reads its input ``X[t - 1]``, of one step less than the state,
    and the state under a gate axis, ``h[t - 1, i, k]`` in a compute over ``(t, gate, i, j)``):
    read at ``t - back``, it is in bounds at every step the scan evaluates."""
    first = tensor.shape[0]
    if isinstance(first, int) and isinstance(step.extent, int):
        return first in (step.extent, step.extent - back)
    return same_extent(first, step.extent)


def state_reads(axis: Sequence[IterVar], body: Expr, written: dict | None = None) -> tuple[Expr, list[TensorLoad]]:
    """``body`` for the bounds check (each scan state read ``P[t - c, ...]`` checked as
    ``P[t, ...]``, its other indices as written) and those reads; ``written``, when given, maps
    the id of each checked read to the read as written (for error messages)."""
    axis = tuple(axis)
    reads = [n for n in walk(body) if _is_state_read(n, axis, body.dtype)]
    if not reads:
        return body, []
    written = {} if written is None else written
    from .visitor import Mutator

    targets = {id(n) for n in reads}

    class _AtStep(Mutator):
        def rewrite(self, node):
            if id(node) in targets:
                rest = tuple(self.visit(i) for i in node.indices[1:])
                # a tensor one step shorter (an input read at t - 1) is in bounds at its row 0 at t = 1
                step = axis[0].var if same_extent(node.tensor.shape[0], axis[0].extent) else Const(0, INDEX)
                checked = TensorLoad(node.tensor, (step, *rest), node.dtype)
                written[id(checked)] = (checked, node)  # the pair keeps the checked read alive
                return checked
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
    inside = {body for op in ops if isinstance(op, ScanOp)
              for body in (*(u.op for u in op.updates), *op.body_ops)}
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


def _steps_after(steps, first: int):
    from .symbolic import fold

    return steps - first if isinstance(steps, int) else fold(binary(BinaryOp.SUB, steps, first))


class ScanOp(Operation):
    """A tensor computed step by step along its first axis: ``init`` for the first
    ``init.shape[0]`` steps, then ``update`` reading ``state`` (the steps already computed).

    A scan over several states (TVM's lists) has one output per state, computed in one loop over
    the steps: ``inits[n]``, ``updates[n]`` and ``states[n]`` are the ``n``-th; each update may
    read every state at earlier steps. ``init``, ``update`` and ``state`` are the first ones.
    """

    def __init__(self, name: str, inits: tuple[Tensor, ...], updates: tuple[Tensor, ...],
                 states: tuple[Tensor, ...], inputs: tuple[Tensor, ...]):
        self.name = name
        self.inits, self.updates, self.states = inits, updates, states
        self.init, self.update, self.state = inits[0], updates[0], states[0]
        self.scan_inputs = inputs
        self.shape, self.dtype = self.state.shape, self.state.dtype
        self.init_steps = self.init.shape[0]
        #: per update, the computes of its step besides it (they read a state through it)
        self.step_ops = tuple(tuple(_scan_body(update)) for update in updates)
        self.body_ops = tuple(dict.fromkeys(op for ops in self.step_ops for op in ops))
        self.num_outputs = len(states)
        self._outputs = tuple(Tensor(self, n) for n in range(self.num_outputs))
        self._output = self._outputs[0]
        #: TVM's ``scan_axis``: the steps the updates compute, after the init's
        self.scan_axis = IterVar(Var(f"{name}.idx"), self.init_steps, _steps_after(self.shape[0], self.init_steps),
                                 IterKind.DATA_PAR)

    def output_dtype(self, value_index: int):
        return self.states[value_index].dtype

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        seen = {}
        for tensor in (*self.inits, *self.updates, *self.scan_inputs):
            seen.setdefault(tensor, None)
        return tuple(seen)

    def __repr__(self) -> str:
        return f"scan({self.name}, {list(self.shape)}, {self.dtype})"


def _listed(value, role: str) -> tuple[Tensor, ...]:
    """One tensor, or TVM's list of one per state."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not values:
        raise DefinitionError(f"scan: {role} is an empty list; give one tensor per state")
    for tensor in values:
        if not isinstance(tensor, Tensor):
            raise DefinitionError(f"scan: {role} must be a tensor (or a list, one per state), got "
                                  f"{type(tensor).__name__}")
    return values


def _check_lists(inits, updates, states) -> None:
    if not len(inits) == len(updates) == len(states):
        raise DefinitionError(f"scan: {len(inits)} inits, {len(updates)} updates and {len(states)} states; "
                              "give one init and one update per state")
    if len(set(states)) != len(states):
        raise DefinitionError("scan: a state placeholder is listed twice; give each state its own placeholder")
    first = states[0]
    for init, state in zip(inits, states):
        if len(state.shape) != len(first.shape) or not all(map(same_extent, state.shape, first.shape)):
            raise DefinitionError(f"scan: the states {first.name} and {state.name} have the shapes "
                                  f"{list(first.shape)} and {list(state.shape)}; the states of one scan "
                                  "must have one shape")
        if not same_extent(init.shape[0], inits[0].shape[0]):
            raise DefinitionError(f"scan: the inits {inits[0].name} and {init.name} give {inits[0].shape[0]} "
                                  f"and {init.shape[0]} first steps; give every state as many")


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


def _check_state_reads(init: Tensor, update: Tensor, state: Tensor, states: tuple[Tensor, ...] = ()) -> None:
    """The update and the stages of its body read the states only at earlier steps, and one
    another at the same step."""
    body = [update.op, *_scan_body(update)]
    states = states or (state,)
    reads_state = False
    for op in body:
        t = op.axis[0]
        for read in (n for n in walk(op.body) if isinstance(n, TensorLoad)):
            if read.tensor in states:
                reads_state = True
                _check_step_back(op, read, t, init, read.tensor)
            elif read.tensor.op in body and read.indices[0] is not t.var:
                raise DefinitionError(
                    f"scan: {op.name} reads {read}, another stage of the scan's step, at another "
                    f"step; read it at the same step, {read.tensor.name}[{t.name}, ...]")
    if not reads_state and len(states) == 1:
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


def _input_at_an_earlier_step(read: TensorLoad, states: tuple[Tensor, ...], init: Tensor) -> bool:
    """A read of an input of the scan (listed in ``inputs=``) at ``t - c`` with ``c`` within the
    init's steps (TVM's LSTM reads ``X[t - 1]``): the scan evaluates only the steps where it is
    in bounds."""
    if read.tensor in states or not isinstance(read.tensor.op, PlaceholderOp):
        return False
    back = _step_back_any(read.indices[0])
    return back is not None and isinstance(init.shape[0], int) and back <= init.shape[0]


def _step_back_any(index: Expr) -> int | None:
    match index:
        case Binary(op=BinaryOp.SUB, b=Const(value=int() as c)) if c > 0:
            return c
    return None


def scan(init, update, state_placeholder, inputs: Sequence[Tensor] | None = None,
         name: str = "scan") -> Tensor | list[Tensor]:
    """A recurrence along the first axis (TVM's ``te.scan``).

    ``init``, ``update`` and ``state_placeholder`` may be lists, one entry per state (TVM's
    multiple states, e.g. the two states of an RNN): the updates run in one loop over the
    steps, each reading any state at earlier steps; the states share one shape.

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
    Tensor or list of Tensor
        The scan, of the state's shape (one tensor per state for several); schedule
        ``s[update]`` (its inner axes) and ``s[init]``.
    """
    inits, updates = _listed(init, "init"), _listed(update, "update")
    states = _listed(state_placeholder, "state_placeholder")
    listed = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs or ())  # TVM takes one tensor too
    if not all(isinstance(t, Tensor) for t in listed):
        raise DefinitionError("scan: inputs must be a list of tensors")
    _check_lists(inits, updates, states)
    for init, update, state in zip(inits, updates, states):
        _check_parts(init, update, state)
        _check_state_reads(init, update, state, states)
    if not any(n.tensor in states for u in updates for op in (u.op, *_scan_body(u)) for n in walk(op.body)
               if isinstance(n, TensorLoad)):
        raise DefinitionError(f"scan: no update reads a state ({', '.join(s.name for s in states)}); read "
                              "them at an earlier step, e.g. state[t - 1, ...]")
    check_no_pending_reads("scan", [*inits, *listed])
    named = (f"state is {states[0].name}; read only the state" if len(states) == 1 else
             f"states are {', '.join(s.name for s in states)}; read only the states")
    for init, update in zip(inits, updates):
        for read in _STATE_READS.get(update.op, ()):
            if read.tensor in listed and _input_at_an_earlier_step(read, states, init):
                continue
            if read.tensor not in states:
                raise DefinitionError(
                    f"scan: the step of {update.name} reads {read.tensor.name} at an earlier step ({read}), "
                    f"which is out of bounds at the first steps, but the scan's {named} at earlier steps "
                    f"(else guard the read with if_then_else, or list {read.tensor.name} in the scan's inputs= "
                    "if it is an input read one step behind)")
    op = ScanOp(name, inits, updates, states, listed)
    return op.output if op.num_outputs == 1 else list(op.outputs)
