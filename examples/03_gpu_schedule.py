"""A GPU schedule (the seed's window sum with its input staged in shared memory), checked on the
CPU by the reference interpreter, which runs the threads of a block with CUDA's barrier rules.

    python examples/03_gpu_schedule.py
"""

import numpy as np

import nestor as ns
from schedules.templates import window_sum_gpu

n = 100
s, args = window_sum_gpu(n, radius=2, threads=32)
func = ns.lower(s, args, name="window_sum")
print(func)  # 36 elements of A staged per 32-thread block, a barrier before they are read

a = np.random.default_rng(0).standard_normal(n + 4).astype(np.float32)
b = np.empty(n, np.float32)
ns.build(func, target="interp")(a, b)
assert np.allclose(b, sum(a[r:r + n] for r in range(5)), rtol=1e-5)
print("window sum matches numpy")
