"""What the conformance programs share: output arrays as TVM's programs make them, and the
numpy comparison they end with."""

from __future__ import annotations

import numpy as np


def empty(shape, dtype) -> np.ndarray:
    """An output array that shows any element a kernel forgets: NaN for floats, -7 (unsigned: 7)."""
    dtype = np.dtype(str(dtype))
    fill = np.nan if dtype.kind == "f" else (False if dtype.kind == "b" else (7 if dtype.kind == "u" else -7))
    return np.full(tuple(int(d) for d in shape), fill, dtype)


def uniform(rng: np.random.Generator, shape, dtype="float32", low=-1.0, high=1.0) -> np.ndarray:
    """Floats uniform in [low, high); ints in [-5, 5]."""
    if np.dtype(dtype).kind == "f":
        return rng.uniform(low, high, size=shape).astype(dtype)
    return rng.integers(-5, 6, size=shape).astype(dtype)


def close(got: np.ndarray, want, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Floats within tolerance of ``want`` (computed in float64); ints and bools exactly."""
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want.astype(got.dtype))


def inputs_for(args, rng: np.random.Generator) -> list[np.ndarray]:
    """Uniform inputs for every argument but the last (the output) of a built program."""
    return [uniform(rng, t.shape, str(t.dtype)) for t in args[:-1]]


def check_on_interpreter(build, program, rng: np.random.Generator) -> None:
    """Build ``program()`` (schedule, arguments, numpy reference) for the interpreter through
    ``build`` (TVM's ``tvm.build``), run it on uniform inputs and compare with the reference."""
    s, args, reference = program()
    ins = inputs_for(args, rng)
    out = empty(args[-1].shape, args[-1].dtype)
    build(s, args, target="interp")(*ins, out)
    close(out, reference(*[x.astype(np.float64) for x in ins]), rtol=1e-4, atol=1e-5)
