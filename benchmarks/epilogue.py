"""Forward time of affine layers with the epilogue folded into the product's kernel
(``frontend.fusion_epilogue``) against the product followed by the separate ``bias_<act>``
kernel, on the layers of ``benchmarks/train_step.py`` (MLP 784-256-10 at batch 128, the CNN's
convolutions at batch 64), in the same process, interleaved.

    python benchmarks/epilogue.py [--json] [--repeat N]

"nestor" is the folded kernel, the peer the two kernels; a ratio above 1 means folding is faster.
Both sides run without recording gradients, on float32, from warm kernel caches. The harness
pauses before each round (``NESTOR_BENCH_SETTLE``), so a threaded kernel pays its threads'
wake-up there; on a busy machine compare the kernels themselves on one thread with
``NESTOR_PARALLEL_MIN=1000000000000``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.harness import report_fused_pairs  # noqa: E402


def _cases(rng):
    import frontend as nf
    from frontend import ops
    from frontend.fusion import bias_activation
    from frontend.fusion_epilogue import affine, conv_affine

    def tensor(*shape):
        return nf.Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=False)

    def linear(batch, n_in, n_out, act):
        x, w, b = tensor(batch, n_in), tensor(n_in, n_out), tensor(n_out)
        return (lambda: affine(x, w, b, act), lambda: bias_activation(ops.matmul(x, w), b, act))

    def conv(batch, c, size, k, act):
        x, w, b = tensor(batch, c, size, size), tensor(k, c, 3, 3), tensor(k)
        return (lambda: conv_affine(x, w, b, act, 1, 1),
                lambda: bias_activation(ops.conv2d(x, w, 1, 1), ops.reshape(b, (1, -1, 1, 1)), act))

    return {"linear 784-256 relu b128": linear(128, 784, 256, "relu"),
            "linear 256-10 b128": linear(128, 256, 10, None),
            "conv 1->16 28^2 relu b64": conv(64, 1, 28, 16, "relu"),
            "conv 16->32 14^2 relu b64": conv(64, 16, 14, 32, "relu"),
            "linear 1568-10 b64": linear(64, 32 * 7 * 7, 10, None)}


def main() -> None:
    report_fused_pairs("epilogue", __doc__.splitlines()[0], lambda: _cases(np.random.default_rng(0)),
                       "matmul/conv + bias_act")


if __name__ == "__main__":
    main()
