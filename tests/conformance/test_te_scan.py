"""TVM's scan tutorial (``te.scan``) and tuple inputs / multiple outputs tutorial as TVM
programs (through :mod:`te_shim`) on LLVM against numpy, a scan bound to GPU blocks (a kernel
per step, or over a symbolic or large number of steps a loop on the host launching the kernels)
on the interpreter and the CUDA source run on the host; what Nestor refuses of them is refused
at the call, naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cuda.module import host_loop_groups
from backends.cuda.nvcc import compile_cuda, find_nvcc
from schedules.scan_lowering import MAX_STEP_KERNELS
from tests.backends.cuda import host_emulation

from .helpers import close, empty, uniform
from .te_shim import te, tvm


def cumsum(m=None, n=None):
    m, n = m or te.var("m"), n or te.var("n")
    X = te.placeholder((m, n), name="X")
    s_state = te.placeholder((m, n))
    s_init = te.compute((1, n), lambda _, i: X[0, i])
    s_update = te.compute((m, n), lambda t, i: s_state[t - 1, i] + X[t, i])
    s_scan = te.scan(s_init, s_update, s_state, inputs=[X])
    return X, s_init, s_update, s_scan


def test_cumulative_sum(rng):
    X, _, _, s_scan = cumsum()
    s = te.create_schedule(s_scan.op)
    f = tvm.build(s, [X, s_scan], "llvm", name="myscan")
    for shape in ((1, 3), (6, 5)):
        x = uniform(rng, shape)
        out = empty(shape, "float32")
        f(x, out)
        close(out, np.cumsum(x.astype(np.float64), axis=0))


def test_scan_with_split_update(rng):
    X, s_init, s_update, s_scan = cumsum()
    s = te.create_schedule(s_scan.op)
    xo, xi = s[s_update].split(s_update.op.axis[1], factor=4)
    s[s_update].vectorize(xi)
    x = uniform(rng, (5, 11))
    out = empty((5, 11), "float32")
    tvm.build(s, [X, s_scan])(x, out)
    close(out, np.cumsum(x.astype(np.float64), axis=0))


def test_scan_of_a_running_maximum(rng):
    m, n = te.var("m"), te.var("n")
    X = te.placeholder((m, n), name="X")
    state = te.placeholder((m, n))
    init = te.compute((1, n), lambda _, i: X[0, i])
    update = te.compute((m, n), lambda t, i: te.max(state[t - 1, i], X[t, i]))
    res = te.scan(init, update, state, inputs=[X], name="scan")
    s = te.create_schedule(res.op)
    x = uniform(rng, (7, 3))
    out = empty((7, 3), "float32")
    tvm.build(s, [X, res])(x, out)
    close(out, np.maximum.accumulate(x, axis=0))


def test_multi_stage_scan_body(rng):
    m, n = te.var("m"), te.var("n")
    X = te.placeholder((m, n), name="X")
    s_state = te.placeholder((m, n))
    s_init = te.compute((1, n), lambda _, i: X[0, i])
    s_update_s1 = te.compute((m, n), lambda t, i: s_state[t - 1, i] * 2, name="s1")
    s_update_s2 = te.compute((m, n), lambda t, i: s_update_s1[t, i] + X[t, i], name="s2")
    s_scan = te.scan(s_init, s_update_s2, s_state, inputs=[X])
    s = te.create_schedule(s_scan.op)
    s[s_update_s1].compute_at(s[s_update_s2], s_update_s2.op.axis[1])
    x = uniform(rng, (5, 4))
    out = empty((5, 4), "float32")
    tvm.build(s, [X, s_scan])(x, out)
    want = x.astype(np.float64)
    for t in range(1, 5):
        want[t] = want[t - 1] * 2 + x[t]
    close(out, want)


def two_states(m=None, n=None):
    """The scan tutorial's multiple states: a running sum, and a running sum of it."""
    m, n = m or te.var("m"), n or te.var("n")
    X = te.placeholder((m, n), name="X")
    s_state1, s_state2 = te.placeholder((m, n)), te.placeholder((m, n))
    s_init1 = te.compute((1, n), lambda _, i: X[0, i])
    s_init2 = te.compute((1, n), lambda _, i: te.const(0, "float32"))
    s_update1 = te.compute((m, n), lambda t, i: s_state1[t - 1, i] + X[t, i])
    s_update2 = te.compute((m, n), lambda t, i: s_state2[t - 1, i] + s_state1[t - 1, i])
    s_scan1, s_scan2 = te.scan([s_init1, s_init2], [s_update1, s_update2], [s_state1, s_state2], inputs=[X])
    return X, (s_update1, s_update2), (s_scan1, s_scan2)


def two_states_reference(x):
    first = np.cumsum(x.astype(np.float64), axis=0)
    second = np.zeros_like(first)
    for t in range(1, len(x)):
        second[t] = second[t - 1] + first[t - 1]
    return first, second


@pytest.mark.parametrize("target", ["llvm", "interp"])
def test_several_states_in_one_loop_over_the_steps(target, rng):
    X, updates, (s_scan1, s_scan2) = two_states()
    s = te.create_schedule(s_scan1.op)
    assert s[s_scan1] is s[s_scan2]
    assert str(tvm.lower(s, [X, s_scan1, s_scan2], simple_mode=True)).splitlines()[5:11] == [
        "  for t in 1..m:", "    for i in 0..n:",
        "      scan.v0[t, i] = scan.v0[t - 1, i] + X[t, i]", "    for i in 0..n:",
        "      scan.v1[t, i] = scan.v1[t - 1, i] + scan.v0[t - 1, i]", "}"]
    f = tvm.build(s, [X, s_scan1, s_scan2], target=target)
    for shape in ((1, 2), (5, 7)):
        x = uniform(rng, shape)
        out1, out2 = empty(shape, "float32"), empty(shape, "float32")
        f(x, out1, out2)
        want1, want2 = two_states_reference(x)
        close(out1, want1)
        close(out2, want2)


def test_several_states_with_inlined_and_bound_step_stages(rng):
    # TVM's test_scan_inline1, and the updates bound to threads on the interpreter
    m, n = 6, 32
    x = te.compute((m, n), lambda i, j: tvm.tir.const(1, "float32"), name="x")
    state1, state2 = te.placeholder((m, n)), te.placeholder((m, n))
    init1 = te.compute((1, n), lambda _, i: x[0, i])
    init2 = te.compute((1, n), lambda _, i: x[0, i])
    x1 = te.compute((m, n), lambda t, i: state1[t - 1, i] + x[t, i], name="x1")
    x2 = te.compute((m, n), lambda t, i: state2[t - 1, i] * 0.5 + state1[t - 1, (i + 1) % n], name="x2")
    update1 = te.compute((m, n), lambda t, i: x1[t, i], "u1")
    update2 = te.compute((m, n), lambda t, i: x2[t, i], "u2")
    res1, res2 = tvm.te.scan([init1, init2], [update1, update2], [state1, state2])
    s = te.create_schedule(res1.op)
    s[x1].compute_inline()
    want1, want2 = np.ones((m, n)), np.ones((m, n))
    for t in range(1, m):
        want1[t] = want1[t - 1] + 1
        want2[t] = want2[t - 1] * 0.5 + np.roll(want1[t - 1], -1)
    for target in ("llvm", "interp"):  # the updates bound to threads on the interpreter
        if target == "interp":
            for stage in (update1, update2):
                s[stage].bind(s[stage].op.axis[1], te.thread_axis("threadIdx.x"))
        out1, out2 = empty((m, n), "float32"), empty((m, n), "float32")
        tvm.build(s, [res1, res2], target=target)(out1, out2)
        close(out1, want1)
        close(out2, want2)


def test_the_states_of_one_scan_share_a_shape():
    m = te.var("m")
    X = te.placeholder((m, 4), name="X")
    s1, s2 = te.placeholder((m, 4), name="s1"), te.placeholder((m, 3), name="s2")
    i1 = te.compute((1, 4), lambda _, i: X[0, i])
    i2 = te.compute((1, 3), lambda _, i: X[0, i])
    u1 = te.compute((m, 4), lambda t, i: s1[t - 1, i] + X[t, i])
    u2 = te.compute((m, 3), lambda t, i: s2[t - 1, i] + X[t, i])
    with pytest.raises(te.DefinitionError, match=r"scan: the states s1 and s2 have the shapes \[m, 4\] and "
                       r"\[m, 3\]; the states of one scan must have one shape"):
        te.scan([i1, i2], [u1, u2], [s1, s2], inputs=[X])
    with pytest.raises(te.DefinitionError, match="scan: 2 inits, 1 updates and 2 states; give one init and one "
                       "update per state"):
        te.scan([i1, i1], [u1], [s1, s2], inputs=[X])


def _bind_to_blocks(s, stages, factor=4):
    block_x, thread_x = te.thread_axis("blockIdx.x"), te.thread_axis("threadIdx.x")
    for stage in stages:
        xo, xi = s[stage].split(stage.op.axis[1], factor=factor)
        s[stage].bind(xo, block_x)
        s[stage].bind(xi, thread_x)


def _run_on_gpu_backends(s, args, inputs, wants):
    """The interpreter (CUDA's semantics) and the CUDA source on the host, against ``wants``."""
    runs = [tvm.build(s, args, "interp")]
    if host_emulation.available():
        runs += host_emulation.compile_host([tvm.build(s, args, "cuda", name="myscan")])
    for run in runs:
        outs = [empty(w.shape, "float32") for w in wants]
        run(*inputs, *outs)
        for out, want in zip(outs, wants):
            close(out, want)


def test_scan_bound_to_gpu_blocks_launches_a_kernel_per_step(rng):
    """TVM launches one kernel per step from a host loop; here each step is a nest of its own,
    the step a constant, so one kernel each, launched in order."""
    X, s_init, s_update, s_scan = cumsum(3, 6)
    s = te.create_schedule(s_scan.op)
    _bind_to_blocks(s, (s_init, s_update))
    assert str(tvm.lower(s, [X, s_scan])) == """\
func main(X: float32[3, 6], scan: float32[3, 6]) {
  for i.outer in 0..2 [blockIdx.x]:
    for i.inner in 0..4 [threadIdx.x]:
      if i.outer * 4 + i.inner < 6:
        scan[0, i.outer * 4 + i.inner] = X[0, i.outer * 4 + i.inner]
  for i.outer in 0..2 [blockIdx.x]:
    for i.inner in 0..4 [threadIdx.x]:
      if i.outer * 4 + i.inner < 6:
        scan[1, i.outer * 4 + i.inner] = scan[0, i.outer * 4 + i.inner] + X[1, i.outer * 4 + i.inner]
  for i.outer in 0..2 [blockIdx.x]:
    for i.inner in 0..4 [threadIdx.x]:
      if i.outer * 4 + i.inner < 6:
        scan[2, i.outer * 4 + i.inner] = scan[1, i.outer * 4 + i.inner] + X[2, i.outer * 4 + i.inner]
}"""
    assert len(tvm.build(s, [X, s_scan], "cuda", name="myscan").kernels) == 3  # the init and two steps
    x = uniform(rng, (3, 6))
    _run_on_gpu_backends(s, [X, s_scan], [x], [np.cumsum(x.astype(np.float64), axis=0)])


def test_env_threads_of_a_scan_computes_the_same_values(rng):
    """TVM's persistent-kernel hint (its LSTM recipe): the steps share the GPU indices; Nestor
    keeps one kernel per step and computes the same values."""
    X, s_init, s_update, s_scan = cumsum(4, 10)
    s = te.create_schedule(s_scan.op)
    block_x, thread_x = te.thread_axis("blockIdx.x"), te.thread_axis("threadIdx.x")
    s[s_scan.op].env_threads([block_x, thread_x])
    assert [t.thread_tag for t in s[s_scan].environment_threads] == ["blockIdx.x", "threadIdx.x"]
    _bind_to_blocks(s, (s_init, s_update))
    x = uniform(rng, (4, 10))
    _run_on_gpu_backends(s, [X, s_scan], [x], [np.cumsum(x.astype(np.float64), axis=0)])
    with pytest.raises(te.ScheduleError, match=r"s\[X\]\.env_threads\(\['blockIdx.x'\]\): X is not a scan; "
                       "env_threads is for the stage of a te.scan"):
        s[X].env_threads([block_x])
    with pytest.raises(te.ScheduleError, match=r"env_threads\(\['vthread'\]\): 'vthread' is not a GPU index"):
        s[s_scan].env_threads([te.thread_axis("vthread")])
    with pytest.raises(te.ScheduleError, match="a GPU index is listed twice; list each once"):
        s[s_scan].env_threads([block_x, block_x])


def test_several_states_bound_to_gpu_blocks(rng):
    X, updates, (s_scan1, s_scan2) = two_states(5, 9)
    s = te.create_schedule(s_scan1.op)
    inits = [s_scan1.op.inits[0], s_scan1.op.inits[1]]
    _bind_to_blocks(s, (*inits, *updates))
    x = uniform(rng, (5, 9))
    _run_on_gpu_backends(s, [X, s_scan1, s_scan2], [x], list(two_states_reference(x)))


def test_the_scan_tutorials_gpu_schedule_over_a_symbolic_number_of_steps_loops_on_the_host(rng):
    """TVM's tutorial as written: m symbolic, so the steps are a loop on the host that launches
    the update's kernel once per step, the step passed to it."""
    X, s_init, s_update, s_scan = cumsum()
    s = te.create_schedule(s_scan.op)
    _bind_to_blocks(s, (s_init, s_update), factor=256)
    lowered = str(tvm.lower(s, [X, s_scan], simple_mode=True)).splitlines()
    assert lowered[5:7] == ["  for t in 1..m [host]:",
                            "    for i.outer in 0..(n - 1) // 256 + 1 [blockIdx.x]:"]
    f = tvm.build(s, [X, s_scan], "interp", name="myscan")
    for shape in ((1, 3), (2, 300), (9, 5)):
        x = uniform(rng, shape)
        out = empty(shape, "float32")
        f(x, out)
        close(out, np.cumsum(x.astype(np.float64), axis=0))
    cuda = tvm.build(s, [X, s_scan], "cuda", name="myscan")
    update = cuda.kernels[1]
    assert update.host_loop is not None and [v.name for v in update.scalars] == ["m", "n", "t"]
    assert "int m, int n, int t)" in cuda.source


def test_host_loop_kernels_compile_with_nvcc():
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    X, updates, (s_scan1, s_scan2) = two_states()
    s = te.create_schedule(s_scan1.op)
    _bind_to_blocks(s, (*s_scan1.op.inits, *updates))
    compile_cuda(tvm.build(s, [X, s_scan1, s_scan2], "cuda", name="two_states").source)


def test_steps_past_the_kernel_limit_loop_on_the_host_in_order(rng):
    """Past MAX_STEP_KERNELS static steps the host loop launches both states' kernels at each
    step in turn (the CUDA source on the host runs the module's own launch order)."""
    m = MAX_STEP_KERNELS + 6
    X, updates, (s_scan1, s_scan2) = two_states(m, 5)
    s = te.create_schedule(s_scan1.op)
    _bind_to_blocks(s, (*s_scan1.op.inits, *updates))
    module = tvm.build(s, [X, s_scan1, s_scan2], "cuda", name="long_scan")
    assert [k.host_loop is not None for k in module.kernels] == [False, False, True, True]
    assert host_loop_groups(module.kernels) == [[0], [1], [2, 3]]
    x = rng.integers(-3, 4, size=(m, 5)).astype("float32")  # sums stay exact in float32
    _run_on_gpu_backends(s, [X, s_scan1, s_scan2], [x], list(two_states_reference(x)))


def test_tuple_inputs_and_multiple_outputs(rng):
    n, m = te.var("n"), te.var("m")
    A0 = te.placeholder((m, n), name="A0")
    A1 = te.placeholder((m, n), name="A1")
    B0, B1 = te.compute((m, n), lambda i, j: (A0[i, j] + 2, A1[i, j] * 3), name="B")
    s = te.create_schedule(B0.op)
    assert str(tvm.lower(s, [A0, A1, B0, B1], simple_mode=True)) == """\
func main(A0: float32[m, n], A1: float32[m, n], B.v0: float32[m, n], B.v1: float32[m, n]) {
  for i in 0..m:
    for j in 0..n:
      B.v0[i, j] = A0[i, j] + 2.0
      B.v1[i, j] = A1[i, j] * 3.0
}"""
    a0, a1 = uniform(rng, (3, 4)), uniform(rng, (3, 4))
    b0, b1 = empty((3, 4), "float32"), empty((3, 4), "float32")
    tvm.build(s, [A0, A1, B0, B1])(a0, a1, b0, b1)
    close(b0, a0 + 2.0)
    close(b1, a1 * 3.0)


def test_multiple_outputs_attached_into_a_reader(rng):
    A = te.placeholder((16, 16), name="A")
    B0, B1 = te.compute((16, 16), lambda i, j: (A[i, j] + 1, A[i, j] * 2), name="B")
    C = te.compute((16, 16), lambda i, j: B0[i, j] + B1[i, j], name="C")
    s = te.create_schedule(C.op)
    s[B0].compute_at(s[C], C.op.axis[0])
    xo, xi = s[C].split(C.op.axis[1], 4)
    s[C].vectorize(xi)
    a = uniform(rng, (16, 16))
    c = empty((16, 16), "float32")
    tvm.build(s, [A, C])(a, c)
    close(c, 3 * a.astype(np.float64) + 1)


def test_two_states_two_steps_back_with_a_scheduled_step_stage(rng):
    m, n = 7, 10
    X = te.placeholder((m, n), name="X")
    a, b = te.placeholder((m, n), name="a"), te.placeholder((m, n), name="b")
    init_a = te.compute((2, n), lambda t, i: X[t, i], name="ia")
    init_b = te.compute((2, n), lambda t, i: X[t, i] * 0, name="ib")
    update_a = te.compute((m, n), lambda t, i: a[t - 1, i] + a[t - 2, i] * 0.5 + X[t, i], name="ua")
    mid = te.compute((m, n), lambda t, i: b[t - 2, i] + a[t - 1, i], name="mid")
    update_b = te.compute((m, n), lambda t, i: mid[t, i] * 0.25, name="ub")
    ra, rb = te.scan([init_a, init_b], [update_a, update_b], [a, b], inputs=[X])
    s = te.create_schedule(ra.op)
    xo, xi = s[update_b].split(update_b.op.axis[1], factor=4)
    s[update_b].vectorize(xi)
    s[mid].compute_at(s[update_b], xo)
    replayed = te.Schedule.from_trace([ra, rb], s.trace.to_json())
    assert str(tvm.lower(replayed, [X, ra, rb])) == str(tvm.lower(s, [X, ra, rb]))
    x = uniform(rng, (m, n))
    want_a, want_b = np.zeros((m, n)), np.zeros((m, n))
    want_a[:2] = x[:2]
    for t in range(2, m):
        want_a[t] = want_a[t - 1] + want_a[t - 2] * 0.5 + x[t]
        want_b[t] = (want_b[t - 2] + want_a[t - 1]) * 0.25
    out_a, out_b = empty((m, n), "float32"), empty((m, n), "float32")
    tvm.build(s, [X, ra, rb])(x, out_a, out_b)
    close(out_a, want_a)
    close(out_b, want_b)


def test_the_lists_of_a_scan_are_checked():
    m = te.var("m")
    X = te.placeholder((m, 4), name="X")
    s1, s2 = te.placeholder((m, 4), name="s1"), te.placeholder((m, 4), name="s2")
    i1 = te.compute((1, 4), lambda _, i: X[0, i], name="i1")
    i2 = te.compute((2, 4), lambda t, i: X[0, i], name="i2")
    u1 = te.compute((m, 4), lambda t, i: s1[t - 1, i] + X[t, i], name="u1")
    u2 = te.compute((m, 4), lambda t, i: s2[t - 1, i] + X[t, i], name="u2")
    plain = te.compute((m, 4), lambda t, i: X[t, i] * 2, name="plain")
    with pytest.raises(te.DefinitionError, match="scan: init is an empty list; give one tensor per state"):
        te.scan([], [u1], [s1])
    with pytest.raises(te.DefinitionError, match=r"scan: update must be a tensor \(or a list, one per state\), "
                       "got int"):
        te.scan([i1], [1], [s1])
    with pytest.raises(te.DefinitionError, match="scan: a state placeholder is listed twice; give each state its "
                       "own placeholder"):
        te.scan([i1, i1], [u1, u1], [s1, s1])
    with pytest.raises(te.DefinitionError, match="scan: the inits i1 and i2 give 1 and 2 first steps; give every "
                       "state as many"):
        te.scan([i1, i2], [u1, u2], [s1, s2])
    with pytest.raises(te.DefinitionError, match=r"scan: no update reads a state \(s1, s2\); read them at an "
                       r"earlier step, e.g. state\[t - 1, ...\]"):
        te.scan([i1, i1], [plain, plain], [s1, s2])
