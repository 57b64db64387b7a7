"""cache_read and cache_write: stages that copy a tensor into (or out of) faster memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tensorir.buffer import Scope
from tensorir.errors import ScheduleError
from tensorir.expr import IterKind, IterVar, Var
from tensorir.tensor import ComputeOp, PlaceholderOp, Tensor
from tensorir.visitor import substitute

from .trace import Step

if TYPE_CHECKING:
    from .schedule import Stage


def _scope(call: str, scope: str) -> Scope:
    try:
        return Scope(scope)
    except ValueError:
        raise ScheduleError(f"s.{call}: unknown scope {scope!r}; use 'global', 'shared' or 'local'") from None


class ScheduleCaching:
    """Mixed into Schedule: the primitives that add cache stages."""

    def _tensor(self, call: str, tensor) -> Tensor:
        if isinstance(tensor, str):
            return self[tensor].op.output  # type: ignore[index]
        if isinstance(tensor, Tensor):
            if tensor not in self:  # type: ignore[operator]
                raise ScheduleError(f"s.{call}: {tensor.name} is not part of this schedule; pass a "
                                    "tensor that the schedule's outputs are computed from")
            return tensor
        raise ScheduleError(f"s.{call}: {tensor!r} is not a tensor")

    def _stage_list(self, call: str, readers) -> list[Stage]:
        if isinstance(readers, (str, Tensor)) or hasattr(readers, "leaves"):
            readers = [readers]
        stages = []
        for reader in readers:
            stage = reader if hasattr(reader, "leaves") else self[reader]  # type: ignore[index]
            if stage.schedule is not self:
                raise ScheduleError(f"s.{call}: {stage.name} is a stage of another schedule")
            stages.append(stage)
        if not stages:
            raise ScheduleError(f"s.{call}: give at least one reader stage")
        return stages

    def _insert_cache_stage(self, op: ComputeOp, before: Stage, scope: Scope) -> Stage:
        stage = self.add_stage(op, self.stages.index(before))  # type: ignore[attr-defined]
        stage.scope = scope
        return stage

    def cache_read(self, tensor, scope: str, readers: Sequence) -> Tensor:
        """A copy of ``tensor`` in ``scope`` that ``readers`` read instead of ``tensor``.

        Attach the returned tensor's stage with ``compute_at`` to copy only the region a tile needs.
        """
        tensor = self._tensor("cache_read(...)", tensor)
        reader_names = [getattr(r, "name", r) for r in (readers if isinstance(readers, (list, tuple)) else [readers])]
        call = f"cache_read({tensor.name}, {scope!r}, {reader_names})"
        value = _scope(call, scope)
        stages = self._stage_list(call, readers)
        for stage in stages:
            if not any(self.same_tensor(t, tensor) for t in stage.inputs):  # type: ignore[attr-defined]
                reads = [t.name for t in stage.inputs]
                raise ScheduleError(
                    f"s.{call}: stage {stage.name} does not read {tensor.name} (it reads {reads}); "
                    "list only stages that read the tensor")
        source = self.stage_of(tensor)  # type: ignore[attr-defined]
        if source.attach == "at":
            raise ScheduleError(
                f"s.{call}: {source.name} is computed inside loop {source.attach_axis.name} of "
                f"{source.attach_stage.name}, where its readers would no longer read it; call "
                f"cache_read before compute_at, or compute_root {source.name} first")
        axes = tuple(IterVar(Var(f"ax{d}"), 0, extent, IterKind.DATA_PAR)
                     for d, extent in enumerate(tensor.shape))
        op = ComputeOp(f"{tensor.name}.{scope}", axes, tensor[tuple(a.var for a in axes)])
        first = min(stages, key=self.stages.index)  # type: ignore[attr-defined]
        cache = self._insert_cache_stage(op, first, value)
        for stage in stages:
            for read in stage.op.inputs:
                if self.same_tensor(stage.read_redirect.get(read, read), tensor):  # type: ignore[attr-defined]
                    stage.read_redirect[read] = op.output
        self.trace.record(Step("cache_read", "", (  # type: ignore[attr-defined]
            ("tensor", self.stage_of(tensor).name), ("scope", scope),  # type: ignore[attr-defined]
            ("readers", tuple(s.name for s in stages))), (cache.name,)))
        return op.output

    def cache_write(self, tensor, scope: str) -> Tensor:
        """Compute ``tensor`` into a cache in ``scope``, then copy the cache to ``tensor``.

        The returned tensor's stage holds the original computation (and its reduce axes); the
        stage of ``tensor`` becomes the copy, with fresh loops ``s[tensor].op.axis``.
        """
        tensor = self._tensor("cache_write(...)", tensor)
        call = f"cache_write({tensor.name}, {scope!r})"
        value = _scope(call, scope)
        stage = self.stage_of(tensor)  # type: ignore[attr-defined]
        if isinstance(stage.op, PlaceholderOp):
            raise ScheduleError(f"s.{call}: {tensor.name} is a placeholder, which nothing computes; "
                                f"use cache_read to copy an input")
        if stage.op is not tensor.op or stage.relations or stage.annotations or stage.attach != "root":
            raise ScheduleError(
                f"s.{call}: stage {stage.name} is already scheduled (split, marked, attached or "
                "cached); call cache_write before the other primitives on it")
        attached = [s.name for s in self.stages if s.attach == "at" and s.attach_stage is stage]  # type: ignore[attr-defined]
        if attached:
            raise ScheduleError(
                f"s.{call}: stages {attached} are computed inside the loops of {stage.name}; call "
                "cache_write before compute_at into it")
        op: ComputeOp = stage.op
        fresh = tuple(IterVar(Var(iv.name), iv.min, iv.extent, iv.kind) for iv in op.axis)
        body = substitute(op.body, {old.var: new.var for old, new in zip(op.axis, fresh)})
        cache_op = ComputeOp(f"{stage.name}.{scope}", fresh, body)
        cache = self._insert_cache_stage(cache_op, stage, value)
        cache.read_redirect = dict(stage.read_redirect)
        copy_axes = op.axis  # the user's handles C.op.axis now name the copy's loops
        stage.op = ComputeOp(op.name, copy_axes, cache_op.output[tuple(a.var for a in copy_axes)])
        stage.read_redirect = {}
        stage.leaves = list(copy_axes)
        self._by_op[stage.op] = stage  # type: ignore[attr-defined]
        self.trace.record(Step("cache_write", "", (  # type: ignore[attr-defined]
            ("tensor", stage.name), ("scope", scope)), (cache.name,)))
        return cache_op.output
