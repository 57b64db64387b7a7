"""The frontend conv benchmark's sides (benchmarks/conv_frontend.py): ours, torch's and the tiled
kernels compute the same forward, dX and dW on a routed layer (no time asserted)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import conv_frontend
from benchmarks.conv2d_cpu import Conv

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("kind, torch_index", [("forward", None), ("grad_input", 0), ("grad_weight", 1)])
def test_every_side_computes_the_same(kind, torch_index):
    conv = Conv("small 3x3 s2", 16, 9, 24, 3, 2, 1)
    calls = conv_frontend.sides(conv, 2, kind, tiled=True)
    assert sorted(calls) == ["", "tiled", "torch"]
    theirs = calls["torch"]()
    theirs = (theirs if torch_index is None else theirs[torch_index]).numpy()
    for name in ("", "tiled"):
        np.testing.assert_allclose(calls[name](), theirs, rtol=0, atol=1e-4 * np.abs(theirs).max(), err_msg=name)
    assert "tiled" not in conv_frontend.sides(conv, 2, kind, tiled=False)
