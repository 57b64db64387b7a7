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
    np.testing.assert_array_equal(nf.ops.contiguous(x.T.data), a.T)
    np.testing.assert_array_equal(nf.ops.contiguous(x[1::2, ::3].data), a[1::2, ::3])


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
