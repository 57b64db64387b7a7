"""TVM's stage groups (tests/python/unittest/test_te_group.py) as programs through
:mod:`te_shim`: a scan's updates and the stages of its steps form a group from the start, a
group made inside it takes its members out of it, groups nest (``g.group``,
``g.num_child_stages``, ``s.groups``), ``g.attach_stage`` is where the group is computed, and a
member may be attached only inside its group; each schedule still computes numpy's values."""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import close, empty
from .te_shim import te, tvm


def _chain():
    m, n = te.size_var("m"), te.size_var("n")
    x = te.compute((m, n), lambda i, j: tvm.tir.const(1, "float32"), name="x")
    x1 = te.compute(x.shape, lambda *i: x(*i) + 1, name="x1")
    x2 = te.compute(x.shape, lambda *i: x1(*i) + 2, name="x2")
    return x, x1, x2


def _scan_of_three_steps():
    m, n = te.size_var("m"), te.size_var("n")
    x = te.compute((m, n), lambda i, j: tvm.tir.const(1, "float32"), name="x")
    state = te.placeholder((m, n), name="state")
    init = te.compute((1, n), lambda _, i: x[0, i], name="init")
    step1 = te.compute((m, n), lambda t, i: state[t - 1, i] + x[t, i], name="step1")
    step2 = te.compute((m, n), lambda t, i: step1[t, i] + 1, name="step2")
    step3 = te.compute((m, n), lambda t, i: step2[t, i] + 1, name="step3")
    return x, init, (step1, step2, step3), te.scan(init, step3, state, inputs=x)  # one tensor, not a list


def test_a_scans_steps_are_a_group_and_a_group_made_inside_it_nests():
    x, init, (step1, step2, step3), res = _scan_of_three_steps()
    s = te.create_schedule(res.op)
    scan_group = s[step1].group
    assert scan_group is not None and s[step2].group == scan_group and s[step3].group == scan_group
    assert scan_group.attach_stage == s[res] and s.groups == (scan_group,)
    s[step1].compute_at(s[step2], step2.op.axis[1])  # inside the group: allowed
    g = s.create_group(outputs=step2, inputs=[s[res].op.state, x])
    assert g.group == scan_group == s[step3].group
    assert s[step2].group == g and s[step1].group == g
    assert (g.num_child_stages, scan_group.num_child_stages) == (2, 2)  # step3 and g
    g.compute_at(s[step3], step3.op.axis[1])
    assert g.attach_stage == s[step3]
    with pytest.raises(te.ScheduleError, match=(
            r"s\[step2\].compute_at\(s\[init\], .*\): step2 is a member of group\(step1, step2\) and init is not; "
            r"attach step2 inside a stage of its group, or attach the whole group "
            r"\(group\(step1, step2\).compute_at\(...\)\)")):
        s[step2].compute_at(s[init], init.op.axis[0])
    out = empty((5, 3), "float32")
    tvm.build(s, [x, res])(np.zeros((5, 3), np.float32), out)
    close(out, np.repeat(1.0 + 3.0 * np.arange(5.0)[:, None], 3, axis=1))  # each step adds x + 2


def test_a_group_with_its_input_attached_at_the_inner_loop():
    x, x1, x2 = _chain()
    s = te.create_schedule(x2.op)
    g = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    assert s[x1].group == g and s[x].group == g and g.group is None
    assert g.attach_stage is None
    g.compute_at(s[x2], x2.op.axis[1])
    assert g.attach_stage == s[x2] and g.num_child_stages == 2
    bounds = tvm.te.schedule.InferBound(s)
    assert [bounds[x.op.axis[d]].extent.value for d in (0, 1)] == [1, 1]
    out = empty((3, 4), "float32")
    tvm.build(s, [x2])(out)
    close(out, np.full((3, 4), 4.0))


def test_a_group_made_around_an_earlier_one_encloses_it():
    x, x1, x2 = _chain()
    s = te.create_schedule(x2.op)
    inner = s.create_group(outputs=x1, inputs=x)
    outer = s.create_group(outputs=x1, inputs=x, include_inputs=True)
    assert set(s.groups) == {inner, outer}
    assert s[x].group == outer and s[x1].group == inner and inner.group == outer and outer.group is None
    assert (outer.num_child_stages, inner.num_child_stages) == (2, 1)
    outer.compute_at(s[x2], x2.op.axis[0])
    out = empty((2, 5), "float32")
    tvm.build(s, [x2])(out)
    close(out, np.full((2, 5), 4.0))
