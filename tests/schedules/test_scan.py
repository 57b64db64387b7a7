"""ns.scan: loop nests, values against numpy on interp and llvm (cumulative sums and a linear
recurrence), scheduled updates, traces, threads with nvcc and the host emulation, and every refusal."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nestor as ns
from backends.cuda.nvcc import find_nvcc
from nestor import DefinitionError, LoweringError
from tests.backends.cuda import host_emulation
from tests.schedules.errors_common import rejects
from tests.schedules.helpers import check_numpy, check_roundtrip, nest


def _cumsum(m=6, n=5):
    X = ns.placeholder((m, n), name="X")
    state = ns.placeholder((m, n), name="state")
    init = ns.compute((1, n), lambda _, i: X[0, i], name="init")
    update = ns.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i], name="update")
    return X, state, init, update


def test_multi_stage_step():
    """TVM's multi-stage scan cell: stages between the state and the update run at each step."""
    X, state, init, _ = _cumsum()
    s1 = ns.compute((6, 5), lambda t, i: state[t - 1, i] * 2, name="s1")
    s2 = ns.compute((6, 5), lambda t, i: s1[t, i] + X[t, i], name="s2")
    Y = ns.scan(init, s2, state, inputs=[X], name="Y")
    s = ns.create_schedule(Y)
    assert nest(s, [X, Y]) == """\
func f(X: float32[6, 5], Y: float32[6, 5]) {
  for i in 0..5:
    Y[0, i] = X[0, i]
  for t in 1..6:
    allocate s1: float32[1, 5] in global
    for i in 0..5:
      s1[0, i] = Y[t - 1, i] * 2.0
    for i in 0..5:
      Y[t, i] = s1[0, i] + X[t, i]
}"""

    def reference(x):
        out = x.copy()
        for t in range(1, len(x)):
            out[t] = out[t - 1] * 2 + x[t]
        return out

    check_numpy(s, [X, Y], reference)
    check_roundtrip(s, [X, Y])


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_rnn_cell(target):
    m, n = 5, 16
    X, W = ns.placeholder((m, n), name="X"), ns.placeholder((n, n), name="W")
    h = ns.placeholder((m, n), name="h")
    init = ns.compute((1, n), lambda _, i: X[0, i], name="h0")
    k = ns.reduce_axis(n, "k")
    mm = ns.compute((m, n), lambda t, i: ns.sum(h[t - 1, k] * W[k, i], axis=k), name="mm")
    cell = ns.compute((m, n), lambda t, i: ns.tanh(mm[t, i]) + X[t, i], name="cell")
    H = ns.scan(init, cell, h, name="H")
    s = ns.create_schedule(H)
    _, inner = s[mm].split(mm.op.axis[1], factor=4)
    s[mm].vectorize(inner)
    rng = np.random.default_rng(4)
    x, w = rng.random((m, n), dtype=np.float32), rng.random((n, n), dtype=np.float32) * 0.3
    out = np.zeros((m, n), np.float32)
    ns.build(s, [X, W, H], target=target)(x, w, out)
    want = x.astype(np.float64)
    for t in range(1, m):
        want[t] = np.tanh(want[t - 1] @ w) + x[t]
    np.testing.assert_allclose(out, want, rtol=1e-5)


def test_multi_stage_refusals():
    X, state, init, _ = _cumsum()
    s1 = ns.compute((6, 5), lambda t, i: state[t - 1, i] * 2, name="s1")
    shifted = ns.compute((6, 5), lambda t, i: s1[5 - t, i] + X[t, i], name="shifted")
    with pytest.raises(DefinitionError, match=r"scan: shifted reads s1\[5 - t, i\], another stage of the "
                       r"scan's step, at another step; read it at the same step, s1\[t, ...\]"):
        ns.scan(init, shifted, state)
    s2 = ns.compute((6, 5), lambda t, i: s1[t, i] + X[t, i], name="s2")
    Y = ns.scan(init, s2, state, name="Y")
    s = ns.create_schedule(Y)
    s[s1].compute_root()
    with pytest.raises(LoweringError, match=r"lower: s1 is computed at each step of scan Y \(it reads the "
                       r"state through s2\), so it must stay attached inside s2's loops; "
                       r"compute_at\(s\[s2\], ...\) it there"):
        ns.lower(s, [X, Y])


def _rnn(m=5, n=16):
    X, W = ns.placeholder((m, n), name="X"), ns.placeholder((n, n), name="W")
    h = ns.placeholder((m, n), name="h")
    init = ns.compute((1, n), lambda _, i: X[0, i], name="h0")
    k = ns.reduce_axis(n, "k")
    step = ns.compute((m, n), lambda t, i: ns.sum(h[t - 1, k] * W[k, i], axis=k), name="step")
    return X, W, ns.scan(init, step, h, inputs=[X, W], name="H"), init, step


def _rnn_reference(x, w):
    out = np.zeros_like(x)
    out[0] = x[0]
    for t in range(1, len(x)):
        out[t] = out[t - 1] @ w
    return out


def test_cumulative_sum_golden_and_values():
    X, state, init, update = _cumsum()
    Y = ns.scan(init, update, state, inputs=[X], name="Y")
    assert Y.shape == (6, 5)
    s = ns.create_schedule(Y)
    assert nest(s, [X, Y]) == """\
func f(X: float32[6, 5], Y: float32[6, 5]) {
  for i in 0..5:
    Y[0, i] = X[0, i]
  for t in 1..6:
    for i in 0..5:
      Y[t, i] = Y[t - 1, i] + X[t, i]
}"""
    check_numpy(s, [X, Y], lambda x: np.cumsum(x, axis=0))


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_scheduled_update_and_a_consumer(target):
    X, state, init, update = _cumsum(7, 19)
    Y = ns.scan(init, update, state)  # TVM's default name, and the inputs found from the parts
    Z = ns.compute((7, 19), lambda t, i: Y[t, i] * 2.0, name="Z")
    s = ns.create_schedule(Z)
    _, inner = s[update].split(update.op.axis[1], factor=8)
    s[update].vectorize(inner)
    s[init].split(init.op.axis[1], factor=4)
    x = np.random.default_rng(1).random((7, 19), dtype=np.float32)
    out = np.zeros((7, 19), np.float32)
    ns.build(s, [X, Z], target=target)(x, out)
    np.testing.assert_allclose(out, 2 * np.cumsum(x.astype(np.float64), axis=0), rtol=1e-5)
    check_roundtrip(s, [X, Z])


def test_two_initial_steps():
    m, n = 8, 3
    X = ns.placeholder((m, n), name="X")
    state = ns.placeholder((m, n), name="state")
    init = ns.compute((2, n), lambda t, i: X[t, i], name="init")
    update = ns.compute((m, n), lambda t, i: state[t - 1, i] + state[t - 2, i], name="fib")
    Y = ns.scan(init, update, state, name="Y")
    x = np.ones((m, n), np.float32)
    out = np.zeros((m, n), np.float32)
    ns.build(ns.create_schedule(Y), [X, Y], target="llvm")(x, out)
    np.testing.assert_array_equal(out[:, 0], [1, 1, 2, 3, 5, 8, 13, 21])


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_linear_recurrence(target):
    X, W, H, _, _ = _rnn()
    s = ns.create_schedule(H)
    rng = np.random.default_rng(2)
    x, w = rng.random((5, 16), dtype=np.float32), rng.random((16, 16), dtype=np.float32) * 0.3
    out = np.zeros((5, 16), np.float32)
    ns.build(s, [X, W, H], target=target)(x, w, out)
    np.testing.assert_allclose(out, _rnn_reference(x.astype(np.float64), w.astype(np.float64)), rtol=1e-5)


def test_update_bound_to_threads_compiles_and_runs_in_the_emulation():
    X, W, H, init, step = _rnn(4, 32)
    s = ns.create_schedule(H)
    s[init].bind(init.op.axis[1], "threadIdx.x")
    s[step].bind(step.op.axis[1], "threadIdx.x")
    text = nest(s, [X, W, H])
    assert "  for t in 1..4:\n" in text and text.rstrip("}\n ").endswith("barrier()")
    check_numpy(s, [X, W, H], _rnn_reference)
    module = ns.build(s, [X, W, H], target="cuda", name="rnn")
    assert "for (int t = 1; t < 4; ++t) {" in module.source
    nvcc = find_nvcc()
    if nvcc is not None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "rnn.cu"
            path.write_text(module.source)
            done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "r.o")],
                                  capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    if host_emulation.available():
        (host,) = host_emulation.compile_host([module])
        rng = np.random.default_rng(3)
        x, w = (rng.random((4, 32), dtype=np.float32) * 0.3, rng.random((32, 32), dtype=np.float32) * 0.3)
        out = np.full((4, 32), np.nan, np.float32)
        host(x, w, out)
        np.testing.assert_allclose(out, _rnn_reference(x.astype(np.float64), w.astype(np.float64)), rtol=1e-5)


# refusals -------------------------------------------------------------------------------------
def test_scan_refusals():
    X, state, init, update = _cumsum()
    other = ns.placeholder((6, 5), name="other")
    with pytest.raises(DefinitionError, match="scan: the state Xc must be a placeholder"):
        ns.scan(init, update, ns.compute((6, 5), lambda t, i: X[t, i], name="Xc"))
    with pytest.raises(DefinitionError, match="scan: init X must be a compute"):
        ns.scan(X, update, state)
    wide = ns.compute((6, 4), lambda t, i: X[t, i], name="wide")
    with pytest.raises(DefinitionError, match=r"scan: the update wide has shape \[6, 4\] but the state "
                       r"state has \[6, 5\]; they must agree"):
        ns.scan(init, wide, state)
    tall = ns.compute((6, 5), lambda t, i: X[t, i], name="tall")
    with pytest.raises(DefinitionError, match=r"scan: the init tall has shape \[6, 5\]; it must be the "
                       r"state's shape \[6, 5\] with fewer steps along the first axis, e.g. \[1, 5\]"):
        ns.scan(tall, update, state)
    doubled = ns.compute((1, 5), lambda _, i: (X[0, i] * 2).astype("float64"), name="doubled")
    with pytest.raises(DefinitionError, match="scan: init doubled has dtype float64 but the state state "
                       "has float32; give them one dtype"):
        ns.scan(doubled, update, state)
    reads = ns.compute((1, 5), lambda _, i: state[0, i], name="reads")
    with pytest.raises(DefinitionError, match="scan: the init reads reads the state state; the first "
                       "steps must come from the inputs only"):
        ns.scan(reads, update, state)
    with pytest.raises(DefinitionError, match="scan: the update update never reads the state other"):
        ns.scan(init, update, other)
    same_step = ns.compute((6, 5), lambda t, i: state[t, i] + X[t, i], name="same_step")
    with pytest.raises(DefinitionError, match=r"scan: the update same_step reads the state as "
                       r"state\[t, i\]; it may read only earlier steps, with the first index t - c"):
        ns.scan(init, same_step, state)
    far = ns.compute((6, 5), lambda t, i: state[t - 2, i], name="far")
    with pytest.raises(DefinitionError, match=r"scan: the update far reads state\[t - 2, i\], 2 steps "
                       r"back, but the init init gives only 1 first step\(s\); give init 2 steps"):
        ns.scan(init, far, state)
    with pytest.raises(DefinitionError, match="scan: 2 inits, 1 updates and 1 states; give one init and one "
                       "update per state"):
        ns.scan([init, init], update, state)
    with pytest.raises(DefinitionError, match="scan: inputs must be a list of tensors"):
        ns.scan(init, update, state, inputs=[1])


def test_update_outside_a_scan_keeps_its_bounds_error():
    X, state, init, update = _cumsum()
    message = (r"compute update reads state at an earlier step \(state\[t - 1, i\]\), which is out of "
               r"bounds at the first steps; such a compute is only the update of ns.scan\(init, update, "
               r"state, ...\) or a stage it reads")
    with pytest.raises(DefinitionError, match="create_schedule: " + message):
        ns.create_schedule(update)
    use = ns.compute((6, 5), lambda t, i: update[t, i], name="use")  # a stage of a scan's step, maybe
    with pytest.raises(DefinitionError, match="create_schedule: " + message):
        ns.create_schedule(use)
    other = ns.placeholder((6, 5), name="other")
    pending = ns.compute((6, 5), lambda t, i: other[t - 1, i] + state[t - 1, i], name="pending")
    with pytest.raises(DefinitionError, match=r"scan: the step of pending reads state at an earlier step "
                       r"\(state\[t - 1, i\]\), which is out of bounds at the first steps, but the scan's "
                       "state is other; read only the state at earlier steps"):
        ns.scan(init, pending, other)
    with pytest.raises(DefinitionError, match="the access A\\[i - 1\\] may go out of bounds"):
        A = ns.placeholder((6,), name="A")  # one dimension: no state, the error comes at once
        ns.compute((6,), lambda i: A[i - 1])


def test_scan_parts_stay_at_root():
    X, state, init, update = _cumsum()
    Y = ns.scan(init, update, state, name="Y")
    s = ns.create_schedule(Y)
    rejects(s, lambda: s[Y].parallel("t"), "s[Y].parallel(t): Y is a scan; its loops are those of its init "
            "and update; schedule s[update] and s[init]")
    s[update].reorder(update.op.axis[1], update.op.axis[0])
    with pytest.raises(LoweringError, match=r"lower: the scan axis t of update \(the update of scan Y\) must "
                       r"stay its outermost loop, neither split, reordered nor marked; its loops are "
                       r"\['i', 't'\]; schedule the other axes"):
        ns.lower(s, [X, Y])
    s = ns.create_schedule(Y)
    s[init].compute_inline()
    with pytest.raises(LoweringError, match="lower: init, the init of scan Y, is inlined or attached; a scan "
                       "computes its init into its own buffer, so leave init at root"):
        ns.lower(s, [X, Y])


@pytest.mark.parametrize("target", ["interp", "llvm"])
def test_symbolic_cumulative_sum_as_in_tvms_tutorial(target):
    m, n = ns.var("m"), ns.var("n")
    X = ns.placeholder((m, n), name="X")
    state = ns.placeholder((m, n))
    init = ns.compute((1, n), lambda _, i: X[0, i])
    update = ns.compute((m, n), lambda t, i: state[t - 1, i] + X[t, i])
    scan = ns.scan(init, update, state, inputs=[X])
    s = ns.create_schedule(scan.op)
    _, xi = s[update].split(update.op.axis[1], factor=4)
    f = ns.build(s, [X, scan], target=target)
    for rows, cols in ((7, 5), (1, 3), (12, 8)):
        x = np.random.default_rng(rows).random((rows, cols), dtype="float32")
        y = np.zeros_like(x)
        f(x, y)
        np.testing.assert_allclose(y, np.cumsum(x, axis=0), rtol=1e-5)


def test_symbolic_init_longer_than_the_state_is_refused():
    m = ns.var("m")
    X = ns.placeholder((m, 4), name="X")
    state = ns.placeholder((m, 4))
    init = ns.compute((m + 1, 4), lambda t, i: X[0, i])
    update = ns.compute((m, 4), lambda t, i: state[t - 1, i] + X[t, i])
    with pytest.raises(ns.DefinitionError, match=r"fewer steps along the first axis"):
        ns.scan(init, update, state, inputs=[X])
