"""The loop primitives of a stage. Each checks its arguments first, then records a relation, an
annotation or an attachment (the values of :mod:`schedules.relations`) and a Step; none of them
generates code. Whether a move strands a producer is asked of :mod:`schedules.attachment`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorir import symbolic
from tensorir.buffer import Scope
from tensorir.errors import ScheduleError
from tensorir.expr import IterKind, IterVar, Reduce, Var
from tensorir.intmath import as_int
from tensorir.stmt import ForKind
from tensorir.tensor import ComputeOp, Tensor

from .attachment import attached_in, consumers, feeds, runs_inside, stranded_producer
from .geometry import derives
from .groups import check_group_attach
from .parallel import nested_message, nested_parallel
from .relations import AT_ROOT, INLINED, Annotation, At, Attach, Fuse, Inlined, Singleton, Split
from .stage import StageState
from .symbolic_split import replayed_amount, symbolic_amount, trace_value
from .trace import Step
from .vthread import VTHREAD_TAGS, is_vthread

if TYPE_CHECKING:
    pass

THREAD_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y", "threadIdx.z")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class StagePrimitives(StageState):
    """The primitives of a stage: split, tile, reorder, fuse, loop kinds, bind, attachment, scope."""

    # -- helpers ---------------------------------------------------------------------------
    def _fail(self, call: str, reason: str, hint: str = "") -> ScheduleError:
        return ScheduleError(f"s[{self.name}].{call}: {reason}" + (f"; {hint}" if hint else ""))

    def _need_compute(self, call: str) -> None:
        from tensorir.scan import ScanOp

        if isinstance(self.op, ScanOp):
            raise self._fail(call, f"{self.name} is a scan; its loops are those of its init and update",
                             f"schedule s[{self.op.update.name}] and s[{self.op.init.name}]")
        if type(self.op).__name__ == "ExternOp":
            from .extern_stage import refuse_schedule

            if call == "compute_root()":
                return  # an extern stage is at root already (TVM accepts it)

            raise refuse_schedule(self, call)
        if not isinstance(self.op, ComputeOp):
            raise self._fail(call, f"{self.name} is a placeholder (an input); it has no loops",
                             "schedule the compute stages that read it")

    def _leaf(self, call: str, axis: object, fail=None) -> IterVar:
        """``axis`` (an IterVar or a loop name) as a current loop of this stage; ``fail`` makes
        the error (the stage whose primitive was called, when that is another stage)."""
        fail = fail or self._fail
        self._need_compute(call)
        if isinstance(axis, str):
            matches = [iv for iv in self.all_axes if iv.name == axis]
            if len(matches) > 1:
                raise fail(call, f"several loops are named {axis!r}", "pass the axis object")
            if not matches:
                raise fail(call, f"stage {self.name} has no loop named {axis!r}",
                           f"its loops are {self._leaf_names()}")
            axis = matches[0]
        if not isinstance(axis, IterVar):
            if not self.leaves:  # a rank-0 compute without reduction: one element, no loop
                raise fail(call, f"{axis!r} is not a loop axis, and stage {self.name} has no loops "
                           "(a rank-0 tensor computes its one element once)",
                           f"there is no loop to name: {self.name} is computed whole, at root or inside "
                           "a loop of a stage that reads it")
            raise fail(call, f"{axis!r} is not a loop axis",
                       f"pass one of the stage's loops: {self._leaf_names()}")
        if axis in self.leaves:
            return axis
        if axis in self.all_axes:
            raise fail(call, f"{axis.name} is no longer a loop of stage {self.name}: it was split or fused",
                       f"use one of its current loops {self._leaf_names()}")
        owner = next((s.name for s in self.schedule.stages if axis in s.all_axes), None)
        where = f"it belongs to stage {owner}" if owner else "it belongs to no stage of this schedule"
        raise fail(call, f"{axis.name} is not a loop of stage {self.name} ({where})",
                   f"its loops are {self._leaf_names()}")

    def _leaf_names(self) -> list[str]:
        return [iv.name for iv in self.leaves]

    def _record(self, primitive: str, args: dict, results=()) -> None:
        self.schedule.trace.record(Step(primitive, self.name, tuple(args.items()),
                                        tuple(iv.name for iv in results)))

    def _check_unannotated(self, call: str, axis: IterVar) -> None:
        note = self.annotations.get(axis)
        if note is not None and note.kind is not ForKind.SERIAL:
            what = f"bound to {note.thread_tag}" if note.thread_tag else f"marked {note.kind.value}"
            raise self._fail(call, f"{axis.name} is already {what}",
                             "split, fuse and reorder loops before marking them")

    def _refuse_nested_parallel(self, call: str, undo) -> None:
        """After a change that may nest parallel loops: ``undo`` it and refuse where it did."""
        found = nested_parallel(self.schedule)
        if found is not None:
            undo()
            raise self._fail(call, *nested_message(found))

    def _check_nothing_attached(self, call: str, axis: IterVar, innermost: IterVar) -> None:
        """Stages computed inside a fused loop follow it only from the innermost of the loops
        fused (one iteration of the fused loop is one of that loop, as in TVM); inside an outer
        one they would lose their place."""
        attached = [s.name for s in attached_in(self.schedule, self, axis)]
        if attached and axis is not innermost:
            raise self._fail(call, f"stages {attached} are computed inside loop {axis.name}, which "
                             f"is not the innermost of the loops fused, so no loop would be left "
                             f"for one iteration of it", f"attach them at {innermost.name} (or "
                             "inside it), or leave the loops unfused")

    def _follow(self, old: IterVar, new: IterVar) -> None:
        """The stages computed inside loop ``old`` move inside ``new``, which runs one iteration
        of ``old`` at a time (the inner loop of a split, the loop fused from an innermost one)."""
        for stage in attached_in(self.schedule, self, old):
            stage.attach = At(self, new)

    # -- loop structure --------------------------------------------------------------------
    def split(self, axis, factor: int | None = None, nparts: int | None = None, disable_predication: bool = False):
        """Split loop ``axis`` into ``outer`` and ``inner`` (``axis = outer * factor + inner``).

        Before: ``for i in 0..n: body``.  After ``split(i, factor=f)``::

            for i.outer in 0..ceil(n / f):
              for i.inner in 0..f:
                if i.outer * f + i.inner < n:   # only where f does not divide n
                  body

        Give exactly one of ``factor`` (the inner extent) or ``nparts`` (the outer extent). As
        in TVM, ``nparts`` of a loop of symbolic extent ``n`` makes ``nparts`` outer iterations of
        ``ceil(n / nparts)`` inner ones, guarded where ``nparts`` may not divide ``n``.

        ``disable_predication=True`` (TVM's promise that the guard is not needed) is accepted and
        changes nothing: the guard is left out wherever the bounds prove it unneeded, and kept
        where the split overruns, so the kernel never writes or reads past a buffer.
        """
        name = getattr(axis, "name", axis)
        if not isinstance(disable_predication, bool):
            raise ScheduleError(f"s[{self.name}].split({name}, disable_predication={disable_predication!r}): "
                                "expected True or False")
        factor = as_int(replayed_amount(self.schedule, factor))  # numpy integers too
        nparts = as_int(replayed_amount(self.schedule, nparts))
        call = f"split({name}, factor={factor})" if nparts is None else f"split({name}, nparts={nparts})"
        iv = self._leaf(call, axis)
        if (factor is None) == (nparts is None):
            given = "both factor= and nparts= are" if factor is not None else "neither factor= nor nparts= is"
            raise self._fail(call, f"{given} given",
                             "give exactly one: factor= (the inner extent) or nparts= (the outer extent)")
        given = factor if factor is not None else nparts
        label = "factor" if factor is not None else "nparts"
        self._check_splittable(call, iv, label, given)
        outer, inner = self._split(iv, factor, nparts)
        self._record("split", {"axis": iv.name, "factor": trace_value(factor), "nparts": trace_value(nparts)},
                     (outer, inner))
        return outer, inner

    def _check_splittable(self, call: str, iv: IterVar, label: str, factor: object) -> None:
        if symbolic_amount(factor) is not None:  # bound at run time, required positive there
            self._check_unannotated(call, iv)
            return
        if not _positive_int(factor):
            raise self._fail(call, f"{label} must be a positive integer, got {factor!r}",
                             f"pass a whole number of iterations, e.g. {label}=4, or a size variable "
                             f"({label}=ns.var('f')) bound when the kernel is called")
        if not isinstance(iv.extent, int) and factor > symbolic.MAX_SYMBOLIC_FACTOR:
            loop, what = ("outer", "nparts") if label == "nparts" else ("inner", "a factor")
            raise self._fail(call, f"the extent of {iv.name} is the symbolic {iv.extent}, and the {loop} loop "
                             f"would run (guarded) all {factor} iterations whatever the size",
                             f"use {what} of at most {symbolic.MAX_SYMBOLIC_FACTOR}")
        self._check_unannotated(call, iv)

    def _split(self, iv: IterVar, factor: int | None, nparts: int | None = None) -> tuple[IterVar, IterVar]:
        # the loops' extents over the whole axis; where the stage computes a region, lowering
        # takes them from the region's extent (Split.extents)
        outer_extent, inner_extent = Split(iv, iv, iv, factor, nparts).extents(iv.extent)
        outer = IterVar(Var(f"{iv.name}.outer"), 0, outer_extent, iv.kind)
        inner = IterVar(Var(f"{iv.name}.inner"), 0, inner_extent, iv.kind)
        self.relations.append(Split(iv, outer, inner, factor, nparts))
        self._follow(iv, inner)
        at = self.leaves.index(iv)
        self.leaves[at:at + 1] = [outer, inner]
        return outer, inner

    def tile(self, x, y, x_factor: int, y_factor: int):
        """Split ``x`` and ``y`` and order the loops ``x.outer, y.outer, x.inner, y.inner``.

        Before: ``for x in 0..n: for y in 0..m: body``. After ``tile(x, y, 8, 4)``::

            for x.outer in 0..ceil(n / 8):
              for y.outer in 0..ceil(m / 4):
                for x.inner in 0..8:
                  for y.inner in 0..4:
                    body    # guarded where 8 or 4 does not divide the extent
        """
        names = [getattr(a, "name", a) for a in (x, y)]
        x_factor, y_factor = as_int(x_factor), as_int(y_factor)  # numpy integers too
        call = f"tile({names[0]}, {names[1]}, x_factor={x_factor}, y_factor={y_factor})"
        xv, yv = self._leaf(call, x), self._leaf(call, y)
        if xv is yv:
            raise self._fail(call, f"x and y are the same loop {xv.name}", "tile two different loops")
        self._check_splittable(call, xv, "x_factor", x_factor)
        self._check_splittable(call, yv, "y_factor", y_factor)
        xo, xi = self._split(xv, x_factor)
        yo, yi = self._split(yv, y_factor)
        self._reorder([xo, yo, xi, yi])
        self._record("tile", {"x": xv.name, "y": yv.name, "x_factor": x_factor, "y_factor": y_factor},
                     (xo, yo, xi, yi))
        return xo, yo, xi, yi

    def reorder(self, *axes):
        """Put ``axes`` in this order, in the loop positions they occupy now."""
        names = [getattr(a, "name", a) for a in axes]
        call = f"reorder({', '.join(map(str, names))})"
        ivs = [self._leaf(call, a) for a in axes]
        if len(set(ivs)) != len(ivs):
            dup = next(iv.name for iv in ivs if ivs.count(iv) > 1)
            raise self._fail(call, f"{dup} is listed more than once", "list each loop once")
        before = list(self.leaves)
        self._reorder(ivs)
        self._refuse_nested_parallel(call, lambda: setattr(self, "leaves", before))
        self._record("reorder", {"axes": tuple(iv.name for iv in ivs)})

    def _reorder(self, ivs: list[IterVar]) -> None:
        positions = sorted(self.leaves.index(iv) for iv in ivs)
        for position, iv in zip(positions, ivs):
            self.leaves[position] = iv

    def fuse(self, *axes):
        """Fuse adjacent loops (outermost first) into one loop over their product.

        Before: ``for i in 0..n: for j in 0..m: body``. After ``fuse(i, j)``::

            for i.j.fused in 0..n*m:   # i = fused // m, j = fused % m
              body

        As in TVM, ``fuse(i)`` returns ``i`` itself, and ``fuse()`` adds a new outermost loop
        of extent 1 (named ``fused``) that a stage without loops can be split, bound or
        computed at. A reduction loop fused with data loops makes a reduction loop.
        """
        names = [getattr(a, "name", a) for a in axes]
        call = f"fuse({', '.join(map(str, names))})"
        if not axes:
            return self._fuse_nothing(call)
        ivs = [self._leaf(call, a) for a in axes]
        positions = [self.leaves.index(iv) for iv in ivs]
        if positions != list(range(positions[0], positions[0] + len(ivs))):
            raise self._fail(call, f"the loops {names} are not adjacent and in this order (loop order "
                             f"is {self._leaf_names()})", "reorder them next to each other first")
        for iv in ivs:
            self._check_unannotated(call, iv)
            self._check_nothing_attached(call, iv, ivs[-1])
        if len({iv.kind for iv in ivs}) > 1:
            self._check_no_thread_reduction(call)
        fused = ivs[0]
        for inner in ivs[1:]:
            kind = IterKind.REDUCE if IterKind.REDUCE in (fused.kind, inner.kind) else fused.kind
            new = IterVar(Var(_fused_name(fused, inner)), 0, symbolic.mul(fused.extent, inner.extent), kind)
            self.relations.append(Fuse(fused, inner, new))
            fused = new
        self._follow(ivs[-1], fused)
        self.leaves[positions[0]:positions[-1] + 1] = [fused]
        self._record("fuse", {"axes": tuple(iv.name for iv in ivs)}, (fused,))
        return fused

    def _check_no_thread_reduction(self, call: str) -> None:
        bound = [iv.name for iv, note in self.annotations.items() if iv.kind is IterKind.REDUCE and note.thread_tag]
        if bound:
            raise self._fail(call, f"the reduction loop {bound[0]} is bound to a thread index (a cross-thread "
                             "reduction), and a data loop fused with a reduction loop would be part of it",
                             "fuse reduction loops with reduction loops only in this stage")

    def _fuse_nothing(self, call: str) -> IterVar:
        """TVM's fuse of no loops: a new outermost loop of extent 1."""
        self._need_compute(call)
        taken = {iv.name for iv in self.all_axes}
        name = next(n for n in ("fused", *(f"fused.{k}" for k in range(1, len(taken) + 2))) if n not in taken)
        fused = IterVar(Var(name), 0, 1, IterKind.DATA_PAR)
        self.relations.append(Singleton(fused))
        self.leaves.insert(0, fused)
        self._record("fuse", {"axes": ()}, (fused,))
        return fused

    # -- loop kinds ------------------------------------------------------------------------
    def _mark(self, primitive: str, axis, kind: ForKind, tag: str = "") -> None:
        name = getattr(axis, "name", axis)
        call = f"{primitive}({name}" + (f", {tag!r})" if primitive == "bind" else ")")
        iv = self._leaf(call, axis)
        if iv.kind is IterKind.REDUCE and kind is ForKind.THREAD_BINDING:
            self._check_cross_thread(call, iv, tag)
        elif iv.kind is IterKind.REDUCE and kind in (ForKind.PARALLEL, ForKind.VECTORIZED):
            raise self._fail(call, f"{iv.name} is a reduction loop; running its iterations at the "
                             "same time would race on the accumulator",
                             "mark a data-parallel loop instead")
        note = self.annotations.get(iv)
        if note is not None and note.kind is not ForKind.SERIAL and (note.kind, note.thread_tag) != (kind, tag):
            what = f"bound to {note.thread_tag}" if note.thread_tag else f"marked {note.kind.value}"
            raise self._fail(call, f"{iv.name} is already {what}", "a loop has one kind")
        self.annotations[iv] = Annotation(kind, tag)
        if kind is ForKind.PARALLEL:
            self._refuse_nested_parallel(call, lambda: self._restore_annotation(iv, note))
        self._record(primitive, {"axis": iv.name} | ({"tag": tag} if tag else {}))

    def _check_cross_thread(self, call: str, iv: IterVar, tag: str) -> None:
        """A reduction loop bound to ``threadIdx.x`` is a cross-thread reduction; other
        indices would run its iterations in different blocks or without a combining step."""
        if tag != "threadIdx.x":
            raise self._fail(call, f"{iv.name} is a reduction loop; bound to {tag} its iterations "
                             "would race on the accumulator",
                             "bind it to 'threadIdx.x' for a cross-thread reduction, or mark a "
                             "data-parallel loop instead")
        mixed = self._mixed_loop()
        if mixed is not None:
            raise self._fail(call, f"loop {mixed.name} runs over data axes fused with reduction axes, and a "
                             "cross-thread reduction combines the threads' values of one output element",
                             "fuse the data loops with the reduction loops only where no reduction loop is "
                             "bound to a thread, or bind a data loop instead")
        bound = [other.name for other, note in self.annotations.items()
                 if other.kind is IterKind.REDUCE and note.thread_tag and other is not iv]
        if bound:
            raise self._fail(call, f"the reduction loop {bound[0]} is already bound to a thread index",
                             "bind one reduction loop per stage (fuse them first)")

    def _mixed_loop(self) -> IterVar | None:
        """A loop of this stage made by fusing data loops with reduction loops, if any."""
        data = self.compute_op.axis
        return next((leaf for leaf in self.leaves
                     if leaf.kind is IterKind.REDUCE and any(derives(self, root, leaf) for root in data)), None)

    def _restore_annotation(self, iv: IterVar, note: Annotation | None) -> None:
        if note is None:
            del self.annotations[iv]
        else:
            self.annotations[iv] = note

    def unroll(self, axis) -> None:
        """Unroll loop ``axis`` (a constant extent) in generated code."""
        self._mark("unroll", axis, ForKind.UNROLLED)

    def vectorize(self, axis) -> None:
        """Run loop ``axis`` as vector instructions of its extent."""
        self._mark("vectorize", axis, ForKind.VECTORIZED)

    def parallel(self, axis) -> None:
        """Run the iterations of loop ``axis`` on several CPU threads.

        Refused inside another parallel loop; lowering warns (InnerParallelWarning) when the
        loop runs inside other loops, which start and join its threads once per iteration."""
        self._mark("parallel", axis, ForKind.PARALLEL)

    def bind(self, axis, tag: str) -> None:
        """Bind loop ``axis`` to a GPU index: ``blockIdx.x|y|z``, ``threadIdx.x|y|z`` or ``vthread``
        (several loops of a stage may be bound to virtual threads; each runs serially)."""
        limit = getattr(tag, "extent", None)  # thread_axis((0, extent), tag)
        tag = getattr(tag, "thread_tag", tag)  # a thread_axis(...) handle
        name = getattr(axis, "name", axis)
        call = f"bind({name}, {tag!r})"
        if tag not in THREAD_TAGS and not is_vthread(tag):
            raise self._fail(call, f"unknown thread tag {tag!r}",
                             f"use one of {', '.join(THREAD_TAGS + VTHREAD_TAGS)}")
        iv = self._leaf(call, axis)
        if limit is not None and self.attach == AT_ROOT and isinstance(iv.extent, int) and iv.extent > limit:
            raise self._fail(call, f"loop {iv.name} has {iv.extent} iterations but the thread axis has the "
                             f"range (0, {limit})", f"split {iv.name} by {limit} and bind the inner loop")
        for other, note in self.annotations.items():
            if note.thread_tag == tag and other is not iv and other in self.leaves and not is_vthread(tag):
                raise self._fail(call, f"{tag} is already bound to loop {other.name} of this stage",
                                 "bind each thread index once per stage (split or fuse loops instead)")
        self._mark("bind", iv, ForKind.THREAD_BINDING, tag)

    def set_store_predicate(self, predicate) -> None:
        """Store this stage's values only where ``predicate`` holds (TVM's meaning): a condition
        over ``thread_axis(...).var`` (each the loop of this stage bound to that index) and
        constants, e.g. ``s[B].set_store_predicate(tx.var.equal(0))``."""
        from .thread_axis import check_predicate, decode, encode

        call = "set_store_predicate(...)"
        self._need_compute(call)
        if isinstance(predicate, (list, tuple)):  # as the trace keeps it
            predicate = decode(predicate)
        expr = check_predicate(predicate, f"s[{self.name}].{call}")
        self.store_predicate = expr
        self._record("set_store_predicate", {"predicate": encode(expr, call)})

    # -- attachment and storage ------------------------------------------------------------
    def compute_at(self, stage, axis) -> None:
        """Compute this stage inside loop ``axis`` of ``stage``, only the region that loop needs."""
        parent = self.schedule[stage] if isinstance(stage, (str, Tensor)) else stage
        name = getattr(axis, "name", axis)
        call = f"compute_at(s[{getattr(parent, 'name', parent)}], {name})"
        self._need_compute(call)
        if self.is_output:
            raise self._fail(call, f"{self.name} is an output of the schedule", "outputs are computed at root")
        if not hasattr(parent, "leaves") or parent.schedule is not self.schedule:
            raise self._fail(call, f"{parent!r} is not a stage of this schedule",
                             "pass s[T] (or the tensor T) of a stage that reads this one")
        check_group_attach(self, parent, self._fail, call)
        if isinstance(parent.attach, Inlined):
            raise self._fail(call, f"stage {parent.name} is inlined and has no loops",
                             f"attach at a loop of a stage that reads {parent.name}, or compute_root it first")
        if not parent.leaves:
            raise self._fail(call, f"stage {parent.name} has no loops (a rank-0 tensor computes its one "
                             "element once), so nothing can be computed inside one of them",
                             f"compute {self.name} at root (the default) or inline it")
        place = At(parent, parent._leaf(call, axis, self._fail))
        self._check_readers_inside(call, place)
        self._check_not_stranding(call, place)
        before = self.attach
        self.attach = place
        self._refuse_nested_parallel(call, lambda: setattr(self, "attach", before))
        self._record("compute_at", {"stage": parent.name, "axis": place.axis.name})

    def _check_readers_inside(self, call: str, place: At) -> None:
        """Some consumer of this stage must run inside the loop of ``place`` (the stage itself,
        or a stage computed at that loop or inside it), and every other consumer must be able
        to move there later: not an output, and read by ``place.stage`` (so it can be inlined
        or attached inside that loop; lowering refuses it if it is still outside then)."""
        found = consumers(self.schedule, self)
        outside = [c for c in found if not runs_inside(c, place)]
        movable = all(not c.is_output and feeds(self.schedule, c, place.stage) for c in outside)
        if len(outside) == len(found) and not movable:  # TVM's order: readers may be attached after
            readers = [c.name for c in found]
            raise self._fail(call, f"stage {place.stage.name} does not read {self.name} (its readers: "
                             f"{readers})", "attach a stage inside a loop of a stage that reads it, or "
                             "inside the loop where all its readers are computed")
        stuck = [c.name for c in outside if c.is_output or not feeds(self.schedule, c, place.stage)]
        if stuck:
            raise self._fail(call, f"{self.name} is also read by {stuck}, which run outside that loop "
                             f"and can never run inside it (an output, or a stage that does not feed "
                             f"{place.stage.name})", f"leave {self.name} at root, or attach it at a "
                             "loop that all its readers run in")

    def compute_inline(self) -> None:
        """Substitute this stage's expression into every reader instead of storing it."""
        call = "compute_inline()"
        self._need_compute(call)
        if isinstance(self.compute_op.body, Reduce):
            raise self._fail(call, f"{self.name} is a reduction; its value needs a loop",
                             "compute it at root or with compute_at")
        if self.compute_op.num_outputs > 1:
            names = [t.name for t in self.compute_op.outputs]
            raise self._fail(call, f"{self.name} has {len(names)} outputs {names} computed in one loop "
                             "nest, and inlining substitutes a single expression into its readers",
                             "compute it at root or with compute_at (TVM refuses this too)")
        if self.is_output:
            raise self._fail(call, f"{self.name} is an output of the schedule", "outputs must be stored")
        attached = [s.name for s in attached_in(self.schedule, self)]
        if attached:
            raise self._fail(call, f"stages {attached} are computed inside its loops",
                             "compute them at root first")
        self._check_not_stranding(call, INLINED)
        self.attach = INLINED
        self._record("compute_inline", {})

    def compute_root(self) -> None:
        """Compute this stage in its own loop nest at the top of the function (the default)."""
        self._need_compute("compute_root()")
        self._check_not_stranding("compute_root()", AT_ROOT)
        self.attach = AT_ROOT
        self._record("compute_root", {})

    def _check_not_stranding(self, call: str, proposed: Attach) -> None:
        """Refuse to move this stage where it would read a producer attached in a loop it no
        longer runs in (its own readers count when it is inlined)."""
        stranded = stranded_producer(self, proposed)
        if stranded is not None:
            producer, place = stranded
            raise self._fail(call, f"{producer.name}, which {self.name} reads, is computed inside loop "
                             f"{place.axis.name} of {place.stage.name} for it",
                             f"move {producer.name} first (compute_root or compute_at)")

    def set_scope(self, scope: str) -> None:
        """Store this stage's tensor in ``global``, ``shared`` (GPU block) or ``local`` memory."""
        call = f"set_scope({scope!r})"
        self._need_compute(call)
        try:
            value = Scope(scope)
        except ValueError:
            raise self._fail(call, f"unknown scope {scope!r}", "use 'global', 'shared' or 'local'") from None
        if self.is_output and value is not Scope.GLOBAL:
            raise self._fail(call, f"{self.name} is an output, which lives in global memory",
                             "use cache_write to stage it in faster memory")
        self.scope, self.scope_given = value, True
        self._record("set_scope", {"scope": scope})


def _fused_name(outer: IterVar, inner: IterVar) -> str:
    base = outer.name[: -len(".fused")] if outer.name.endswith(".fused") else outer.name
    return f"{base}.{inner.name}.fused"
