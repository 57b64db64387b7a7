"""Random schedules of the catalogue's operators: random sequences of primitives, legal and
illegal. Every call either succeeds or raises ScheduleError (and then changes nothing); every
schedule that results lowers, agrees with numpy through the interpreter, and replays from its
trace to the same nest."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import nestor as ns
from nestor import ScheduleError
from tensorir.expr import IterKind, Reduce
from tensorir.tensor import ComputeOp
from tests.catalogue import CATALOGUE, assert_outputs_match, run_module
from tests.schedules.chains import DataChooser, RandomChooser, check_chain, settle

# inner parallel loops are legal (and warned about); the warning is tested in test_accepted_schedules_lower
pytestmark = pytest.mark.filterwarnings("ignore::schedules.parallel.InnerParallelWarning")

LEGAL = ["split", "split", "tile", "reorder", "fuse", "mark", "compute_at", "compute_at", "compute_inline",
         "compute_root", "cache_read", "cache_write", "set_scope", "rfactor"]
ILLEGAL = ["factor", "foreign_axis", "fuse_apart", "reduce_mark", "thread_tag", "inline_reduction",
           "attach_output", "cache_read_non_reader", "reorder_twice"]


def _compute_stages(s):
    return [st_ for st_ in s.stages if isinstance(st_.op, ComputeOp)]


def _state(s):
    return (len(s.trace), [(x.name, list(x.leaves), x.attach, x.scope,
                            dict(x.annotations), dict(x.read_redirect), list(x.relations)) for x in s.stages])


def _leaf(data, stage, label):
    return data.draw(st.sampled_from(stage.leaves), label=label)


def legal_call(data, s, kind):
    """A call of primitive ``kind`` with arguments that fit the schedule's current loops."""
    stages = _compute_stages(s)
    stage = data.draw(st.sampled_from(stages), label="stage")
    if kind == "split":
        axis = _leaf(data, stage, "axis")
        factor = data.draw(st.integers(1, axis.extent + 3), label="factor")
        if data.draw(st.booleans(), label="nparts"):
            return f"s[{stage.name}].split({axis.name}, nparts={factor})", lambda: stage.split(axis, nparts=factor)
        return f"s[{stage.name}].split({axis.name}, factor={factor})", lambda: stage.split(axis, factor=factor)
    if kind == "tile":
        if len(stage.leaves) < 2:
            return legal_call(data, s, "split")
        x, y = data.draw(st.permutations(stage.leaves), label="axes")[:2]
        fx = data.draw(st.integers(1, x.extent + 3), label="x_factor")
        fy = data.draw(st.integers(1, y.extent + 3), label="y_factor")
        return f"s[{stage.name}].tile({x.name}, {y.name}, {fx}, {fy})", lambda: stage.tile(x, y, fx, fy)
    if kind == "reorder":
        order = data.draw(st.permutations(stage.leaves), label="order")
        order = order[:data.draw(st.integers(1, len(order)), label="count")]
        return f"s[{stage.name}].reorder{tuple(a.name for a in order)}", lambda: stage.reorder(*order)
    if kind == "fuse":
        if len(stage.leaves) < 2:
            return legal_call(data, s, "split")
        start = data.draw(st.integers(0, len(stage.leaves) - 2), label="start")
        count = data.draw(st.integers(2, min(3, len(stage.leaves) - start)), label="count")
        axes = stage.leaves[start:start + count]
        return f"s[{stage.name}].fuse{tuple(a.name for a in axes)}", lambda: stage.fuse(*axes)
    if kind == "mark":
        axis = _leaf(data, stage, "axis")
        mark = data.draw(st.sampled_from(["unroll", "vectorize", "parallel"]), label="mark")
        return f"s[{stage.name}].{mark}({axis.name})", lambda: getattr(stage, mark)(axis)
    if kind == "compute_at":
        consumers = s.consumers(stage.op.output) or stages
        parent = data.draw(st.sampled_from(consumers), label="consumer")
        axis = _leaf(data, parent, "axis")
        return (f"s[{stage.name}].compute_at(s[{parent.name}], {axis.name})",
                lambda: stage.compute_at(parent, axis))
    if kind == "compute_inline":
        return f"s[{stage.name}].compute_inline()", stage.compute_inline
    if kind == "compute_root":
        return f"s[{stage.name}].compute_root()", stage.compute_root
    if kind == "cache_read":
        return cache_read_call(data, s)
    if kind == "rfactor":
        return rfactor_call(data, s, stage)
    if kind == "cache_write":
        scope = data.draw(st.sampled_from(["global", "local"]), label="scope")
        return f"s.cache_write({stage.name}, {scope!r})", lambda: s.cache_write(stage.op.output, scope)
    scope = data.draw(st.sampled_from(["global", "shared", "local"]), label="scope")
    return f"s[{stage.name}].set_scope({scope!r})", lambda: stage.set_scope(scope)


def rfactor_call(data, s, stage):
    """rfactor of one reduction loop of ``stage`` (refused unless it is a reduction whose data
    axes are not scheduled yet)."""
    reduce_leaves = [leaf for leaf in stage.leaves if leaf.kind is IterKind.REDUCE] or stage.leaves
    axis = data.draw(st.sampled_from(reduce_leaves), label="rfactor axis")
    position = data.draw(st.integers(0, len(stage.op.axis)), label="factor_axis")
    return (f"s.rfactor({stage.name}, {axis.name}, factor_axis={position})",
            lambda: s.rfactor(stage.op.output, axis, factor_axis=position))


def cache_read_call(data, s):
    """cache_read for some readers of a tensor, then perhaps compute_at of the cache in a reader."""
    read = [x for x in s.stages if s.readers(x.op.output)]
    source = data.draw(st.sampled_from(read), label="tensor")
    readers = s.readers(source.op.output)
    chosen = data.draw(st.permutations(readers), label="readers")
    chosen = chosen[:data.draw(st.integers(1, len(chosen)), label="reader count")]
    scope = data.draw(st.sampled_from(["global", "shared", "local"]), label="scope")
    attach = data.draw(st.booleans(), label="attach")

    def call():
        cache = s.cache_read(source.op.output, scope, chosen)
        if attach:
            consumer = data.draw(st.sampled_from(s.consumers(cache)), label="cache consumer")
            s[cache].compute_at(consumer, _leaf(data, consumer, "cache axis"))

    return f"s.cache_read({source.name}, {scope!r}, {[r.name for r in chosen]})", call


def illegal_call(data, s, kind):
    """A call that no schedule accepts, or None where this schedule offers none of ``kind``."""
    stages = _compute_stages(s)
    stage = data.draw(st.sampled_from(stages), label="stage")
    if kind == "factor":
        axis = _leaf(data, stage, "axis")
        factor = data.draw(st.sampled_from([0, -1, 2.5, None]), label="factor")
        return f"s[{stage.name}].split({axis.name}, factor={factor})", lambda: stage.split(axis, factor=factor)
    if kind == "foreign_axis":
        others = [leaf for x in stages if x is not stage for leaf in x.leaves]
        if not others:
            return None
        axis = data.draw(st.sampled_from(others), label="axis")
        primitive = data.draw(st.sampled_from(["split", "parallel", "unroll", "reorder"]), label="primitive")
        if primitive == "split":
            return f"s[{stage.name}].split(<foreign {axis.name}>)", lambda: stage.split(axis, factor=2)
        return f"s[{stage.name}].{primitive}(<foreign {axis.name}>)", lambda: getattr(stage, primitive)(axis)
    if kind == "fuse_apart":
        if len(stage.leaves) < 3:
            return None
        start = data.draw(st.integers(0, len(stage.leaves) - 3), label="start")
        axes = [stage.leaves[start], stage.leaves[start + 2]]
        return f"s[{stage.name}].fuse{tuple(a.name for a in axes)}", lambda: stage.fuse(*axes)
    if kind == "reduce_mark":
        reduce_leaves = [leaf for leaf in stage.leaves if leaf.kind is IterKind.REDUCE]
        if not reduce_leaves:
            return None
        axis = data.draw(st.sampled_from(reduce_leaves), label="axis")
        mark = data.draw(st.sampled_from(["parallel", "vectorize", "bind"]), label="mark")
        if mark == "bind":  # threadIdx.x would be a cross-thread reduction
            return f"s[{stage.name}].bind({axis.name})", lambda: stage.bind(axis, "blockIdx.x")
        return f"s[{stage.name}].{mark}({axis.name})", lambda: getattr(stage, mark)(axis)
    if kind == "thread_tag":
        axis = _leaf(data, stage, "axis")
        return f"s[{stage.name}].bind({axis.name}, 'warp.x')", lambda: stage.bind(axis, "warp.x")
    if kind == "inline_reduction":
        reductions = [x for x in stages if isinstance(x.op.body, Reduce)]
        if not reductions:
            return None
        target = data.draw(st.sampled_from(reductions), label="reduction")
        return f"s[{target.name}].compute_inline()", target.compute_inline
    if kind == "attach_output":
        output = s[data.draw(st.sampled_from(s.outputs), label="output")]
        parent = data.draw(st.sampled_from(stages), label="parent")
        if not parent.leaves:
            return None
        axis = _leaf(data, parent, "axis")
        return f"s[{output.name}].compute_at(s[{parent.name}], {axis.name})", lambda: output.compute_at(parent, axis)
    if kind == "cache_read_non_reader":
        source = data.draw(st.sampled_from(s.stages), label="tensor")
        others = [x for x in stages if x not in s.readers(source.op.output)]
        if not others:
            return None
        reader = data.draw(st.sampled_from(others), label="reader")
        return (f"s.cache_read({source.name}, 'local', [{reader.name}])",
                lambda: s.cache_read(source.op.output, "local", [reader]))
    axis = _leaf(data, stage, "axis")
    return f"s[{stage.name}].reorder({axis.name}, {axis.name})", lambda: stage.reorder(axis, axis)


def check_random_schedule(data, max_steps: int, target: str = "interp", operators=CATALOGUE) -> None:
    builder = data.draw(st.sampled_from(operators), label="operator")
    op = builder()
    s = ns.create_schedule(op.outputs)
    for _ in range(data.draw(st.integers(1, max_steps), label="steps")):
        before = _state(s)
        if data.draw(st.integers(0, 4), label="illegal?") == 0:
            drawn = illegal_call(data, s, data.draw(st.sampled_from(ILLEGAL), label="illegal"))
            if drawn is None:
                continue
            text, call = drawn
            with pytest.raises(ScheduleError):
                call()
            assert _state(s) == before, f"{text} failed but changed the schedule"
            continue
        kind = data.draw(st.sampled_from(LEGAL), label="primitive")
        text, call = legal_call(data, s, kind)
        try:
            call()
            event(f"accepted {kind}")
        except ScheduleError:
            event(f"refused {kind}")
            if not text.startswith("s.cache_read"):  # the attach after a cache_read may be refused
                assert _state(s) == before, f"{text} failed but changed the schedule"
    settle(s, op.args, op.name)
    note(f"operator {op.name}, trace:\n{s.trace}")
    module = ns.build(s, op.args, target=target, name=op.name)
    source = str(module.func)
    note(f"nest:\n{source}")
    inputs = op.make_inputs(np.random.default_rng(0))
    assert_outputs_match(run_module(module, op, inputs), op.reference(inputs))
    replayed = ns.Schedule.from_trace(op.outputs, s.trace.to_json())
    assert str(ns.lower(replayed, op.args, name=op.name)) == source


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules(data):
    check_random_schedule(data, max_steps=8)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_schedules_long(data):
    check_random_schedule(data, max_steps=16)


# long chains (tests/schedules/chains.py): 20+ steps over affine-read producers and the catalogue
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_long_chains(data):
    check_chain(DataChooser(data), steps=data.draw(st.integers(20, 30), label="steps"))


@pytest.mark.slow
@pytest.mark.parametrize("block", range(10))
def test_random_long_chains_many(block):
    """3,000 seeded chains of 24 steps through the interpreter; any exception but a refused
    primitive's ScheduleError fails."""
    for seed in range(block * 300, (block + 1) * 300):
        check_chain(RandomChooser(seed), steps=24)
