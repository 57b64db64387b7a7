"""Every 2-D product of the frontend names a tuning task, and a tuned record of that task changes
the config its kernel is built with (and the result stays right)."""

from __future__ import annotations

import numpy as np

from frontend import dispatch
from frontend.ops.matmul import MatMul
from schedules.autotune import TEMPLATES, Database, Record, hardware_fingerprint


def _kernel(variant):
    return next(k for r, k in dispatch.cache.kernels.items() if r.op == "matmul" and r.variant == variant)


def _tuned_record(template: str, sizes: tuple, options: dict, kwargs: dict) -> Record:
    spec = TEMPLATES[template]
    config = next(c for c in spec.space(sizes, options).points() if spec.to_kwargs(c) == kwargs)
    knobs = {name: list(value) if isinstance(value, tuple) else value for name, value in config.items()}
    return Record(template, sizes, "float32", "llvm", hardware_fingerprint("llvm"), spec.task_options(options),
                  knobs, kwargs, "[]", 0.1, 1e-6, 0.01)


def test_products_name_their_tuning_tasks(rng):
    op = MatMul()
    a, b = rng.random((24, 40), dtype=np.float32), rng.random((40, 32), dtype=np.float32)
    narrow = rng.random((40, 5), dtype=np.float32)
    cases = [((a, b, (False, False)), ("matmul_cpu", (24, 32, 40), {"transpose_b": False, "parallel": False})),
             ((np.ascontiguousarray(a.T), b, (True, False)),
              ("matmul_layout", (24, 32, 40), {"transpose_a": True, "transpose_b": False, "parallel": False})),
             ((a, np.ascontiguousarray(narrow.T), ("dot",)), ("matmul_dot", (24, 5, 40), {})),
             ((a[None], b[None], (False, False)), None)]  # batched: no tuning space
    for (x, y, variant), task in cases:
        assert op.tuning_task(op.request([x, y], "cpu", variant)) == task


def test_a_tuned_record_changes_the_config_of_the_frontend_kernel(tmp_path, monkeypatch, rng):
    at, b = rng.random((40, 24), dtype=np.float32), rng.random((40, 32), dtype=np.float32)
    dispatch.clear()
    out = MatMul().forward(at.T, b)  # A stored transposed: the matmul_layout kernel
    default = _kernel((True, False)).config
    assert _kernel((True, False)).task == ("matmul_layout", (24, 32, 40),
                                           {"transpose_a": True, "transpose_b": False, "parallel": False})
    tuned = {"v1": 2, "v2": 16, "v3": 2, "b1": 8, "b2": 32}
    path = tmp_path / "tuning.db"
    monkeypatch.setenv("NESTOR_TUNING_DB", str(path))
    with Database(path) as database:
        database.add(_tuned_record("matmul_layout", (24, 32, 40), {"parallel": False}, tuned))
    dispatch.clear()
    tuned_out = MatMul().forward(at.T, b)
    config = _kernel((True, False)).config
    assert {k: config[k] for k in tuned} == tuned != {k: default[k] for k in tuned}
    np.testing.assert_allclose(tuned_out, at.T @ b, rtol=1e-5)
    np.testing.assert_allclose(out, at.T @ b, rtol=1e-5)
    dispatch.clear()


def test_a_tuned_record_changes_the_tiles_of_a_convolution(tmp_path, monkeypatch, rng):
    from frontend.ops.conv import Conv2d, ConvParams

    x, w = rng.random((2, 3, 9, 9), dtype=np.float32), rng.random((4, 3, 3, 3), dtype=np.float32)
    path = tmp_path / "tuning.db"
    monkeypatch.setenv("NESTOR_TUNING_DB", str(path))
    options = {"stride": 1, "padding": 1, "which": "forward"}
    with Database(path) as database:
        database.add(_tuned_record("conv2d_tiled", (2, 3, 9, 9, 4, 3), options, {"tile_c": 2, "tile_v": 8}))
    dispatch.clear()
    out = Conv2d(ConvParams(padding=1)).forward(x, w)
    kernel = next(k for r, k in dispatch.cache.kernels.items() if r.op == "conv2d")
    assert kernel.task == ("conv2d_tiled", (2, 3, 9, 9, 4, 3), options)
    assert (kernel.config["tile_c"], kernel.config["tile_v"]) == (2, 8)
    expected = TEMPLATES["conv2d_tiled"].reference([x, w], (2, 3, 9, 9, 4, 3), options)[0]
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    dispatch.clear()
