"""Tune the CPU matmul template's tile sizes (a few trials), then build with the best config.

    python examples/05_autotune.py
"""

import os
import tempfile

import numpy as np

import nestor as ns

database = os.path.join(tempfile.mkdtemp(), "tuning.db")
result = ns.autotune.tune("matmul_cpu", (256, 256, 256), trials=8, tuner="model", db=database)
print(result)

s, args = ns.autotune.apply_best("matmul_cpu", (256, 256, 256), db=database)
module = ns.build(s, args, target="llvm")
a = np.random.default_rng(0).standard_normal((256, 256), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((256, 256), dtype=np.float32)
c = np.empty((256, 256), np.float32)
module(a, b, c)
assert np.allclose(c, a @ b.T, rtol=1e-3, atol=1e-3)
print(f"tuned matmul: {module.time(a, b, c) * 1e6:.0f} us per call, matches numpy")
