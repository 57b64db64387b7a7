"""Transform a matmul's loop nest with schedule primitives, replay the trace, compile for the CPU.

    python examples/02_schedule_matmul.py
"""

import numpy as np

import nestor as ns

M, N, K = 67, 45, 33  # sizes the tiles do not divide: guards appear where needed
A = ns.placeholder((M, K), name="A")
B = ns.placeholder((N, K), name="B")
C = ns.compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)

s = ns.create_schedule(C)
CL = s.cache_write(C, "local")                      # a register tile
i, j = C.op.axis
io, jo, ii, ji = s[C].tile(i, j, 8, 16)
s[CL].compute_at(s[C], jo)                          # computed per 8x16 tile
ci, cj = s[CL].op.axis
ko, ki = s[CL].split(s[CL].op.reduce_axis[0], factor=4)
s[CL].reorder(ko, ki, ci, cj)
s[CL].vectorize(cj)
s[C].vectorize(ji)
s[C].parallel(io)

print(s.trace)                                       # the Python that made the schedule
func = ns.lower(s, [A, B, C], name="matmul")
print(func)

replayed = ns.Schedule.from_trace(C, s.trace.to_json())
assert str(ns.lower(replayed, [A, B, C], name="matmul")) == str(func)

rng = np.random.default_rng(0)
a = rng.standard_normal((M, K), dtype=np.float32)
b = rng.standard_normal((N, K), dtype=np.float32)
c = np.empty((M, N), np.float32)
module = ns.build(func, target="llvm")
module(a, b, c)
assert np.allclose(c, a @ b.T, rtol=1e-4, atol=1e-4)
print(f"llvm result matches numpy; compiled in {module.compile_time:.3f} s")
