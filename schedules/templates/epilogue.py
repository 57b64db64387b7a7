"""Elementwise epilogues folded into the matmul and convolution templates: one kernel computes
``D = activation(scale * C + bias)`` while each finished tile of ``C`` is still hot.

An :class:`Epilogue` says what is applied to every element of a template's output ``C`` (a
bias vector broadcast along one output axis, a scale, an activation). :func:`fold` takes a
template's ``(schedule, args)`` as it is -- any knobs, any layout -- and returns the schedule of
``D``: the template's trace replayed on the graph that ends in ``D`` (so every split, tile and
vector loop of the template stays), then the epilogue attached where the template finishes a
tile, as TVM's x86 dense schedule does:

* the template keeps its accumulator apart and copies it to ``C`` (``C.local`` of
  :func:`~schedules.templates.matmul_cpu.register_cache_tile` and of the convolutions'
  :func:`~schedules.templates.generic_cpu.register_tiled`): ``D`` takes the copy's loops and the
  copy is inlined, so the epilogue runs in the vectorized write-back of each register tile::

      for i.outer, j.outer, i.inner.outer, j.inner.outer:
        C.local[v1, v2] = 0; for k: C.local += A * B               # registers
        unrolled for i.inner.inner:                                # constant indices: C.local
          vectorized for j.inner.inner:                            # stays in registers
            D[..] = act(C.local[..] + bias[j])

* the template accumulates in its output (``C`` of :func:`~schedules.templates.matmul_cpu.matmul_cpu`
  with ``b3`` reduction chunks, the zero-padded ``C.padded`` of
  :mod:`~schedules.templates.matmul_edges`, the dot products of ``matmul_dot``): ``D`` is tiled by
  the template's cache tile ``tiles = (b1, b2)`` (columns outermost, the threads there), the
  accumulator computed at each ``D`` tile into a ``b1 x b2`` buffer that stays in cache, and a
  padded product's corner copy inlined into ``D``::

      parallel for j.outer: for i.outer:
        C[b1, b2] = 0; for k.outer, ...: C[..] += A * B.packed     # the template's tile
        for i.inner: vectorized for j.inner: D[..] = act(C[..] + bias[j])
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir import functions as fn
from tensorir.dtypes import INDEX
from tensorir.errors import DefinitionError, ScheduleError
from tensorir.expr import IterKind, IterVar, TensorLoad, Var
from tensorir.intmath import as_int
from tensorir.stmt import ForKind
from tensorir.tensor import make_compute, placeholder

from ..relations import At
from ..schedule import create_schedule
from ..trace import Step, replay

#: the activations an epilogue applies
ACTIVATIONS = frozenset({"relu", "tanh", "sigmoid"})
#: the name of the epilogue's output stage
OUTPUT = "D"


@dataclass(frozen=True)
class Epilogue:
    """``D[idx] = activation(scale * C[idx] + bias[idx[bias_axis]])``; each part optional.

    Attributes
    ----------
    activation
        ``"relu"``, ``"tanh"``, ``"sigmoid"`` or None.
    bias_axis
        The output axis a bias vector runs along (``1``: the columns of a product, the channels
        of an NCHW convolution), or None for no bias.
    scale
        A constant factor applied to ``C`` first, or None.
    """

    activation: str | None = None
    bias_axis: int | None = None
    scale: float | None = None

    def __post_init__(self) -> None:
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise DefinitionError(f"Epilogue: activation {self.activation!r} is not one of "
                                  f"{', '.join(sorted(ACTIVATIONS))}; pass one of them or None")
        if self.bias_axis is not None and (not isinstance(self.bias_axis, int) or self.bias_axis < 0):
            raise DefinitionError(f"Epilogue: bias_axis must be a non-negative int or None, got {self.bias_axis!r}")
        if self.scale is not None and not isinstance(self.scale, (int, float)):
            raise DefinitionError(f"Epilogue: scale must be a number or None, got {self.scale!r}")

    def inputs(self, out) -> list:
        """The extra placeholders ``D`` reads for an output like ``out``: the bias, or none."""
        if self.bias_axis is None:
            return []
        if self.bias_axis >= len(out.shape):
            raise DefinitionError(f"Epilogue: bias_axis {self.bias_axis} is not an axis of the {len(out.shape)}-D "
                                  f"output {out.op.name}; pick an axis below {len(out.shape)}")
        return [placeholder((out.shape[self.bias_axis],), out.dtype, name="bias")]

    def output(self, out, extras: list):
        """``D`` over the axes of ``out`` (their names too, so the template's trace applies to it)."""
        axis = tuple(IterVar(Var(a.var.name, INDEX), 0, a.extent, IterKind.DATA_PAR) for a in out.op.axis)
        index = tuple(a.var for a in axis)
        value = out[index]
        if self.scale is not None:
            value = value * float(self.scale)
        if self.bias_axis is not None:
            value = value + extras[0][index[self.bias_axis]]
        return make_compute(OUTPUT, axis, activate(self.activation, value))


def activate(kind: str | None, value):
    """``kind(value)`` as an expression (None: ``value``)."""
    match kind:
        case None:
            return value
        case "relu":
            return fn.maximum(value, 0.0)
        case "tanh":
            return fn.tanh(value)
        case _:
            return fn.sigmoid(value)


def fold(template: tuple, epilogue: Epilogue, tiles: tuple[int, int] | None = None, vector: int = 16) -> tuple:
    """The template's kernel with ``epilogue`` folded in: ``(schedule, [*inputs, *extras, D])``.

    Parameters
    ----------
    template
        ``(schedule, args)`` as a template returns it, the output last.
    epilogue
        What is applied to each output element.
    tiles
        ``(rows, columns)`` of the template's cache tile over the last two output axes, for a
        template that accumulates in its output (see the module docstring); ignored for one that
        copies a register tile out.
    vector
        The vector width of ``D``'s innermost loop when ``D`` is tiled here.

    Raises
    ------
    ScheduleError
        When the template accumulates in its output and no ``tiles`` are given, or the output
        has fewer than two axes to tile.
    """
    schedule, args = template
    out = args[-1]
    extras = epilogue.inputs(out)
    result = epilogue.output(out, extras)
    source = _copied(schedule[out].op)
    attached = source is not None and isinstance(schedule[source].attach, At)
    s = create_schedule(result)
    if attached:  # the copy's loops become D's, its accumulator attached in them as before
        steps = [_renamed(step, out.op.name) for step in schedule.trace]
        # inlined once the accumulator exists (made by a cache write, or in the graph from the start)
        made = next((n for n, step in enumerate(steps) if source.op.name in step.results), -1) + 1
        replay(s, steps[:made])
        s[out].compute_inline()  # D reads the accumulator itself
        replay(s, steps[made:])
        _unroll_write_back(s[result], next(stage for stage in s.stages if stage.name == source.op.name))
        return s, [*args[:-1], *extras, result]
    if tiles is None:
        raise ScheduleError(f"fold: the template's output {out.op.name} accumulates in memory, so the epilogue "
                            "needs its cache tile; pass tiles=(rows, columns)")
    if len(out.shape) < 2:
        raise ScheduleError(f"fold: the template's output {out.op.name} has {len(out.shape)} axis and accumulates "
                            "in memory; tiles need its last two axes: cache-write it in the template")
    accumulator = out if source is None else source
    threads = any(step.primitive == "parallel" and step.stage in (out.op.name, accumulator.op.name)
                  for step in schedule.trace)
    # the copy's loops go (D reads the accumulator), and the threads move to D's tile loop
    dropped = {f"{accumulator.op.name}:parallel"} | ({out.op.name} if source is not None else set())
    panels = _threaded_producers(schedule.trace, accumulator.op.name)
    replay(s, [step for step in schedule.trace if step not in panels and step.stage not in dropped
               and f"{step.stage}:{step.primitive}" not in dropped])
    if source is not None:
        s[out].compute_inline()
    tile_loop = _tile_output(s, result, s[accumulator], tiles, vector, threads)
    for step in panels:  # packed in D's column tile loop, where the threads now are
        s[step.stage].compute_at(s[result], tile_loop)
    return s, [*args[:-1], *extras, result]


def _threaded_producers(trace, accumulator: str) -> list[Step]:
    """The ``compute_at`` steps that attach a producer (the packing of B) at the loop the
    accumulator's threads run over: once the accumulator is computed per tile of ``D``, that
    loop runs once per tile, so they move to ``D``'s parallel tile loop instead (each panel
    still packed once, by the thread that uses it)."""
    threaded = {dict(step.args)["axis"] for step in trace if step.stage == accumulator and step.primitive == "parallel"}
    return [step for step in trace if step.primitive == "compute_at" and dict(step.args).get("stage") == accumulator
            and dict(step.args).get("axis") in threaded]


#: the longest serial write-back loop that is unrolled
UNROLL_MAX = 16


def _unroll_write_back(stage, accumulator) -> None:
    """Unroll ``D``'s short serial loops inside the accumulator's attach point: every read of the
    register tile then has a constant index, so it stays in registers (a loop over its rows
    would keep it in memory, and the reduction with it)."""
    leaves = list(stage.leaves)
    for axis in leaves[leaves.index(accumulator.attach.axis) + 1:]:
        extent = as_int(axis.extent)
        if stage.annotation(axis).kind is ForKind.SERIAL and isinstance(extent, int) and extent <= UNROLL_MAX:
            stage.unroll(axis)


def _copied(op):
    """The tensor that the stage ``op`` (a cache write may have rewritten it) copies element for
    element, or None when it computes."""
    body = getattr(op, "body", None)
    if not isinstance(body, TensorLoad) or len(body.indices) != len(op.axis):
        return None
    if any(index != axis.var for index, axis in zip(body.indices, op.axis)):
        return None
    return body.tensor


def _renamed(step: Step, name: str) -> Step:
    """``step`` with the stage ``name`` (the template's output) replaced by ``D``, except where it
    names the tensor a cache stage is made of."""
    stage = OUTPUT if step.stage == name else step.stage
    args = tuple((key, OUTPUT if key == "stage" and value == name else value) for key, value in step.args)
    return Step(step.primitive, stage, args, step.results)


def _tile_output(s, result, accumulator, tiles: tuple[int, int], vector: int, threads: bool):
    """``D`` in ``rows x columns`` tiles over its last two axes, columns outermost (after any
    leading axes), the accumulator computed in each tile, the tile's rows in vectors; returns
    the loop over column tiles."""
    stage = s[result]
    axes = list(result.op.axis)
    rows, columns = tiles
    io, jo, ii, ji = stage.tile(axes[-2], axes[-1], rows, columns)
    stage.reorder(*axes[:-2], jo, io, ii, ji)
    accumulator.compute_at(stage, io)
    if columns >= vector:
        _, lanes = stage.split(ji, factor=vector)
        stage.vectorize(lanes)
    if threads:
        stage.parallel(axes[0] if len(axes) > 2 else jo)
    return jo


def fold_copy(template: tuple, epilogue: Epilogue) -> tuple:
    """The template's kernel with ``epilogue`` folded into its output ``Y`` where ``Y`` is a
    gather from another stage (the NCHW output of a blocked convolution, read from its
    ``NCHW16c`` result): ``D`` takes ``Y``'s loops and schedule, ``Y`` inlined into it. Returns
    ``(schedule, [*inputs, *extras, D])``."""
    schedule, args = template
    out = args[-1]
    extras = epilogue.inputs(out)
    result = epilogue.output(out, extras)
    s = create_schedule(result)
    replay(s, [_renamed(step, out.op.name) for step in schedule.trace])
    s[out].compute_inline()
    return s, [*args[:-1], *extras, result]
