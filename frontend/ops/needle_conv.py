"""needle's ``conv`` as one op of the graph: an NHWC image and a ``(K, K, C_in, C_out)`` weight to an
NHWC output, run by the frontend's NCHW convolution kernel on views of the operands.

One node, as in needle, so ``conv(a, b).op.gradient_as_tuple(g, out)`` gives the adjoints of the
image and the weight (needle's gradient checks call it); the adjoints are the convolution's own
adjoint kernels on views, each differentiable again.
"""

from __future__ import annotations

import numpy as np

from schedules.templates.conv_variants import ConvParams

from .base import Op
from .conv import Conv2d, Conv2dGradInput, Conv2dGradWeight
from .shape import permute

IMAGE_TO_NCHW, NCHW_TO_IMAGE = (0, 3, 1, 2), (0, 2, 3, 1)
WEIGHT_TO_OIHW, OIHW_TO_WEIGHT = (3, 2, 0, 1), (2, 3, 1, 0)


class NeedleConv(Op):
    """``out[n, y, x, o] = sum_{r, s, i} pad(a)[n, y*st + r, x*st + s, i] * b[r, s, i, o]``."""

    name = "needle_conv"
    saves, saves_output = (0, 1), False

    def __init__(self, params: ConvParams):
        self.params = params
        self.key = (self.name, params)

    def forward(self, a: np.ndarray, b: np.ndarray, device: str = "cpu") -> np.ndarray:
        out = Conv2d(self.params).forward(a.transpose(IMAGE_TO_NCHW), b.transpose(WEIGHT_TO_OIHW), device=device)
        return out.transpose(NCHW_TO_IMAGE)

    def gradient(self, g, node):
        a, b = node.inputs
        x, w = permute(a, IMAGE_TO_NCHW), permute(b, WEIGHT_TO_OIHW)
        dy = permute(g, IMAGE_TO_NCHW)
        dx = Conv2dGradInput(self.params, x.shape[2:])(dy, w) if a.requires_grad else None
        dw = Conv2dGradWeight(self.params, w.shape[2:])(x, dy) if b.requires_grad else None
        return (None if dx is None else permute(dx, NCHW_TO_IMAGE),
                None if dw is None else permute(dw, OIHW_TO_WEIGHT))
