"""The kernel cache: first use compiles, later uses only call; tuned configs are looked up."""

from __future__ import annotations

import numpy as np

import frontend as nf
from frontend import dispatch
from frontend.ops.elementwise import ReLU


def test_second_call_compiles_nothing(rng):
    x = nf.Tensor(rng.standard_normal((7, 9)).astype(np.float32))
    nf.relu(x)
    before = dispatch.stats.compiled
    for _ in range(3):
        nf.relu(x)
    assert dispatch.stats.compiled == before


def test_same_shape_operands_share_one_flat_kernel(rng):
    nf.exp(nf.Tensor(rng.standard_normal((4, 6))))
    before = dispatch.stats.compiled
    nf.exp(nf.Tensor(rng.standard_normal((6, 4))))
    nf.exp(nf.Tensor(rng.standard_normal((24,))))
    assert dispatch.stats.compiled == before


def test_schedule_for_prefers_a_registered_config():
    key, shapes, dtypes = ("matmul", False, False), ((8, 4), (4, 8)), ("float32", "float32")
    defaults = {"v1": 4, "v2": 16}
    assert dispatch.schedule_for(key, shapes, dtypes, "cpu", defaults) == defaults
    dispatch.register_config(key, shapes, dtypes, "cpu", {"v1": 2})
    try:
        assert dispatch.schedule_for(key, shapes, dtypes, "cpu", defaults) == {"v1": 2, "v2": 16}
    finally:
        dispatch.clear_configs()


def test_a_tuned_config_reaches_the_schedule(rng, monkeypatch):
    seen = []
    original = ReLU.schedule

    def spy(self, request, s, outputs, config):
        seen.append(config)
        return original(self, request, s, outputs, config)

    monkeypatch.setattr(ReLU, "schedule", spy)
    dispatch.register_config(("relu", (37,)), ((37,),), ("float32",), "cpu", {"vector": 8})
    try:
        out = nf.relu(nf.Tensor(rng.standard_normal(37).astype(np.float32)))
        out.numpy()  # the lazy graph runs the kernel when the value is read
    finally:
        dispatch.clear_configs()
    assert seen == [{"vector": 8}]
    assert (out.numpy() >= 0).all()


def test_strided_views_are_compacted_by_a_kernel(rng):
    a = rng.standard_normal((6, 8))
    x = nf.Tensor(a)
    np.testing.assert_array_equal(nf.ops.contiguous(np.asarray(x.T.data)), a.T)
    np.testing.assert_array_equal(nf.ops.contiguous(np.asarray(x[1::2, ::3].data)), a[1::2, ::3])


def test_an_op_object_applied_twice_reuses_its_kernel(rng):
    op = ReLU()
    x = nf.Tensor(rng.standard_normal(19).astype(np.float32))
    op(x).numpy()  # the lazy graph runs the kernel when the value is read
    before = dispatch.stats.compiled
    op(x).numpy()
    assert dispatch.stats.compiled == before and op.key == ("relu",)
    assert ("relu", (19,)) in {request.key for request in dispatch.cache.kernels}


def test_the_tuning_database_supplies_template_configs(tmp_path, monkeypatch, rng):
    from schedules.autotune import tune

    monkeypatch.setenv("NESTOR_TUNING_DB", str(tmp_path / "tuning.db"))
    options = {"transpose_b": False, "parallel": False}
    result = tune("matmul_cpu", (16, 32, 8), trials=2, tuner="random", options=options, n_parallel=1)
    dtypes = ("float32", "float32")

    def config(m: int) -> dict:
        task = ("matmul_cpu", (m, 32, 8), options)
        return dispatch.schedule_for(("matmul", False, False), ((m, 8), (8, 32)), dtypes, "cpu", {}, task)

    assert config(16) == dict(result.best.kwargs)
    assert config(17) == {}


def test_bind_gives_the_kernel_run_calls_and_it_writes_into_given_outputs(rng):
    """A bound kernel is the cached one (no second compile); with output arrays it fills those
    (a slice of a larger array) and returns them; without, new arrays. Values as numpy's."""
    from frontend.recurrent_layer import LayerMatMul

    a, b = (rng.standard_normal(s).astype(np.float32) for s in ((4, 8), (8, 16)))
    op = LayerMatMul()
    assert op.plain_form(a, b)
    (first,) = dispatch.run(op, [a, b], "cpu", (False, False))
    compiled = dispatch.stats.compiled
    kernel = dispatch.bind(op, [a, b], "cpu", (False, False))
    assert dispatch.stats.compiled == compiled
    assert kernel is dispatch.cache.kernels[op.request([a, b], "cpu", (False, False))]
    into = np.full((3, 4, 16), 7.0, np.float32)
    (out,) = kernel([a, b], [into[1]])
    assert out is into[1] or np.shares_memory(out, into)
    np.testing.assert_allclose(into[1], a @ b, rtol=1e-5)
    np.testing.assert_array_equal(into[[0, 2]], 7.0)
    (fresh,) = kernel([a, b])
    np.testing.assert_allclose(fresh, first, rtol=0)
    assert not np.shares_memory(fresh, into)


def test_plain_form_says_when_a_product_runs_on_its_operands_as_stored(rng):
    """Only a C-contiguous 2-D product with enough columns, whose A is not copied, is bound."""
    from frontend.ops.matmul import NARROW, WHOLE_K_MAX, MatMul

    op = MatMul()
    a, b = np.zeros((32, 8), np.float32), np.zeros((8, NARROW), np.float32)
    assert op.plain_form(a, b)
    assert not op.plain_form(a, np.zeros((8, NARROW - 1), np.float32))  # dot products of rows
    assert not op.plain_form(np.zeros((8, 32), np.float32).T, b)  # transposed A
    assert not op.plain_form(a, np.zeros((NARROW, 8), np.float32).T)  # transposed B
    assert not op.plain_form(np.zeros((2, 32, 8), np.float32), b)  # batched
    long = np.zeros((64, WHOLE_K_MAX + 1), np.float32)
    assert not op.plain_form(long, np.zeros((WHOLE_K_MAX + 1, NARROW), np.float32))  # A copied transposed


def test_whole_k_products_read_b_as_stored_only_when_it_is_not_transposed():
    """A whole-k product of at most UNPACKED_N_MAX columns reads a plain B as stored; a
    transposed B (dZ @ W2^T) stays packed: read as stored its columns would be gathers."""
    from frontend.ops.matmul import MatMul

    op = MatMul()
    dz, w2 = np.zeros((128, 10), np.float32), np.zeros((256, 10), np.float32)
    x, w1 = np.zeros((128, 784), np.float32), np.zeros((784, 256), np.float32)
    transposed = op.default_config(op.request([dz, w2], "cpu", (False, True)))
    plain = op.default_config(op.request([x, w1], "cpu", (False, False)))
    assert (transposed["b3"], transposed["pack_b"]) == (None, True)
    assert (plain["b3"], plain["pack_b"]) == (None, False)
