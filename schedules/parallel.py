"""Where parallel loops may run: never inside another parallel loop, and preferably outermost.

A parallel loop forks a team of threads and joins it each time it starts, so one nested inside
other loops pays that cost once per iteration of the loops around it (an inner ``parallel`` made
a 0.02 ms kernel take 9 ms). The primitives refuse a parallel loop inside another one
(:func:`nested_parallel`, asked by ``parallel``, ``reorder`` and ``compute_at`` with the change
proposed); lowering warns about a parallel loop inside other loops
(:func:`warn_inner_parallel`), naming the stage and the loops and what to do instead.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from tensorir.errors import LoweringError
from tensorir.expr import Const, IterVar
from tensorir.stmt import For, ForKind, PrimFunc, Stmt
from tensorir.visitor import _children

from .relations import At

if TYPE_CHECKING:
    from .schedule import Schedule, Stage


class InnerParallelWarning(UserWarning):
    """A parallel loop runs inside other loops: its threads start and stop once per their iteration."""


def enclosing_loops(stage: Stage, leaf: IterVar) -> list[tuple[Stage, IterVar]]:
    """The loops around loop ``leaf`` of ``stage``, outermost first, through its attachment."""
    position = stage.leaves.index(leaf)
    inner = [(stage, loop) for loop in stage.leaves[:position]]
    match stage.attach:
        case At(stage=consumer, axis=axis) if axis in consumer.leaves:
            return enclosing_loops(consumer, axis) + [(consumer, axis)] + inner
    return inner


def _parallel(stage: Stage, leaf: IterVar) -> bool:
    return stage.annotation(leaf).kind is ForKind.PARALLEL


def nested_parallel(schedule: Schedule) -> tuple[tuple[Stage, IterVar], tuple[Stage, IterVar]] | None:
    """A parallel loop and a parallel loop around it ``((stage, inner), (stage, outer))``; None
    when no parallel loop runs inside another."""
    for stage in schedule.stages:
        for leaf in stage.leaves:
            if not _parallel(stage, leaf):
                continue
            for around in enclosing_loops(stage, leaf):
                if _parallel(*around):
                    return (stage, leaf), around
    return None


def nested_message(found: tuple[tuple[Stage, IterVar], tuple[Stage, IterVar]]) -> tuple[str, str]:
    """The reason and the hint of an error about the nested parallel loops ``found``."""
    (stage, inner), (outer_stage, outer) = found
    where = "" if outer_stage is stage else f" of s[{outer_stage.name}]"
    return (f"parallel loop {inner.name} of s[{stage.name}] would run inside parallel loop "
            f"{outer.name}{where}, starting a thread team per outer iteration",
            "parallelize one loop of a nest only (fuse loops before marking them to run more in parallel)")


def warn_inner_parallel(func: PrimFunc, schedule: Schedule) -> None:
    """Warn about each parallel loop of ``func`` inside loops that repeat it; a parallel loop
    inside another one (which the primitives refuse) is a LoweringError."""
    owners = {leaf.var: (stage, leaf) for stage in schedule.stages for leaf in stage.leaves}
    found: dict[object, str] = {}
    _visit(func.body, [], owners, found)
    for message in found.values():
        warnings.warn(message, InnerParallelWarning, stacklevel=4)


def _visit(node: Stmt, around: list[For], owners: dict, found: dict) -> None:
    if isinstance(node, For) and node.kind is ForKind.PARALLEL:
        _check(node, around, owners, found)
    inner = around + [node] if isinstance(node, For) else around
    for child in _children(node):
        if isinstance(child, Stmt):
            _visit(child, inner, owners, found)


def _extent(loop: For) -> int | None:
    return loop.extent.value if isinstance(loop.extent, Const) else None


def _check(loop: For, around: list[For], owners: dict, found: dict) -> None:
    stage, leaf = owners.get(loop.var, (None, loop.var))
    name = f"s[{stage.name}]" if stage is not None else "the function"
    outer_parallel = [a for a in around if a.kind is ForKind.PARALLEL]
    if outer_parallel:
        raise LoweringError(f"lower: parallel loop {loop.var.name} of {name} runs inside parallel loop "
                            f"{outer_parallel[-1].var.name}; parallelize one loop of a nest only")
    repeating = [a for a in around if _extent(a) != 1]
    if not repeating or leaf in found:
        return
    extents = [_extent(a) for a in repeating]
    times = "once per iteration of the loops around it"
    if None not in extents:
        product = 1
        for extent in extents:
            product *= extent
        times = f"{product} times"
    labels = [_label(a, stage, owners) for a in repeating]
    found[leaf] = (
        f"{name}.parallel({loop.var.name}): the loop runs inside loop(s) {', '.join(labels)}, so its "
        f"threads are started and joined {times}; parallelize the outer loop {labels[0]} instead, or "
        f"reorder {loop.var.name} outermost (fusing the loops outside it keeps their iterations "
        "parallel too)")


def _label(loop: For, stage: Stage | None, owners: dict) -> str:
    """A loop's name, with its stage where that is not ``stage``."""
    owner, _ = owners.get(loop.var, (None, None))
    return loop.var.name if owner is None or owner is stage else f"{loop.var.name} of s[{owner.name}]"
