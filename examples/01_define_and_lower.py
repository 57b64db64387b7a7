"""Define operators as index expressions (string and lambda forms), lower them, run them.

    python examples/01_define_and_lower.py
"""

import numpy as np

import nestor as ns

# The string form infers every range from the operand shapes.
X = ns.placeholder((1, 3, 10, 10), name="X")
W = ns.placeholder((4, 3, 3, 3), name="W")
Y = ns.compute("Y[n, k, y, x] = sum(X[n, c, y + ry, x + rx] * W[k, c, ry, rx])", X=X, W=W)
print(Y, "reduce axes:", Y.op.reduce_axis)

# The lambda form builds the same objects; stages chain into a softmax.
A = ns.placeholder((4, 6), name="A")
k = ns.reduce_axis(6, "k")
row_max = ns.compute((4,), lambda i: ns.max(A[i, k], axis=k), name="row_max")
j = ns.reduce_axis(6, "j")
total = ns.compute((4,), lambda i: ns.sum(ns.exp(A[i, j] - row_max[i]), axis=j), name="total")
B = ns.compute((4, 6), lambda i, jj: ns.exp(A[i, jj] - row_max[i]) / total[i], name="B")

s = ns.create_schedule(B)
print(ns.lower(s, [A, B], name="softmax"))

a = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
b = np.empty_like(a)
ns.build(s, [A, B], target="interp")(a, b)
e = np.exp(a - a.max(axis=1, keepdims=True))
assert np.allclose(b, e / e.sum(axis=1, keepdims=True), rtol=1e-5)
print("softmax matches numpy")
