"""Built kernels called with bad arguments, on every backend: the LLVM module, the interpreter and
the CUDA module (its argument checks run before any GPU is needed; its kernels run on the CPU
through the host emulation of ``tests/backends/cuda``). Each bad call raises an ArgumentError
naming the argument, the bad value and the fix, and writes nothing; each call that is accepted
gives numpy's result (misaligned buffers, an input that is also the output, several threads at
once, after ``fork``)."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import nestor as ns
from tensorir.errors import ArgumentError

from .backends.cuda import host_emulation
from .backends.subprocess_run import run_python

TARGETS = ["llvm", "interp", "cuda"]


def _bind_gpu(s, tensor) -> None:
    """One block per row, one thread per column: the loop nest the CUDA backend takes."""
    i, j = tensor.op.axis[:2] if len(tensor.op.axis) > 1 else (None, tensor.op.axis[0])
    if i is None:
        j, inner = s[tensor].split(j, factor=4)
        s[tensor].bind(j, ns.thread_axis("blockIdx.x"))
        s[tensor].bind(inner, ns.thread_axis("threadIdx.x"))
        return
    s[tensor].bind(i, ns.thread_axis("blockIdx.x"))
    s[tensor].bind(j, ns.thread_axis("threadIdx.x"))


class Emulated:
    """A CUDA module called as on a GPU: its own argument checks, then each array copied to the
    "device" (a numpy copy), the kernels run by the host emulation, the outputs copied back."""

    def __init__(self, module):
        if not host_emulation.available():
            pytest.skip("the CUDA host emulation needs g++")
        self.module = module
        self.host = host_emulation.compile_host([module])[0]

    def __call__(self, *arrays):
        checked, _ = self.module._bound(arrays)
        device = [np.array(a, copy=True) for a in checked]
        self.host(*device)
        for param, array, copy in zip(self.module.func.params, checked, device):
            if param in self.module._written:
                array[...] = copy


def build(target: str, make):
    """``make()`` -> (tensors to build, outputs to bind) built for ``target``."""
    args, outputs = make()
    s = ns.create_schedule([t.op for t in outputs])
    if target == "cuda":
        for tensor in outputs:
            _bind_gpu(s, tensor)
        return Emulated(ns.build(s, args, target="cuda"))
    return ns.build(s, args, target=target)


def _matmul():
    A, B = ns.placeholder((6, 4), name="A"), ns.placeholder((4, 3), name="B")
    k = ns.reduce_axis((0, 4), name="k")
    C = ns.compute((6, 3), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
    return [A, B, C], [C]


def _reverse():
    X = ns.placeholder((64,), name="X")
    Y = ns.compute((64,), lambda i: X[63 - i] + 1, name="Y")
    return [X, Y], [Y]


def _square():
    A, B = ns.placeholder((4, 4), name="A"), ns.placeholder((4, 4), name="B")
    k = ns.reduce_axis((0, 4), name="k")
    C = ns.compute((4, 4), lambda i, j: ns.sum(A[i, k] * B[k, j], axis=k), name="C")
    return [A, B, C], [C]


def _two_outputs():
    X = ns.placeholder((8,), name="X")
    P = ns.compute((8,), lambda i: X[i] + 1, name="P")
    Q = ns.compute((8,), lambda i: X[i] * 2, name="Q")
    return [X, P, Q], [P, Q]


@pytest.fixture(scope="module", params=TARGETS)
def kernels(request):
    """The three kernels on one target (the CUDA ones compiled for the host once)."""
    return request.param, {name: build(request.param, make) for name, make in
                           (("matmul", _matmul), ("reverse", _reverse), ("square", _square),
                                                   ("two", _two_outputs))}


def _inputs():
    rng = np.random.default_rng(7)
    return rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)


def _read_only(array):
    array = array.copy()
    array.flags.writeable = False
    return array


def _torch_tensor(array):
    torch = pytest.importorskip("torch")
    return torch.from_numpy(array)


#: (arguments from good a, b, c) -> the whole error message
BAD_CALLS = {
    "too_few": (lambda a, b, c: (a, b), "main: expected 3 arrays (A, B, C), got 2"),
    "too_many": (lambda a, b, c: (a, b, c, c), "main: expected 3 arrays (A, B, C), got 4"),
    "float64": (lambda a, b, c: (a.astype(np.float64), b, c),
                "main: argument 0 (A) must have dtype float32, got float64; convert it with .astype(np.float32)"),
    "int_for_float": (lambda a, b, c: (a.astype(np.int32), b, c),
                      "main: argument 0 (A) must have dtype float32, got int32; convert it with .astype(np.float32)"),
    "bool": (lambda a, b, c: (a > 0, b, c),
             "main: argument 0 (A) must have dtype float32, got bool; convert it with .astype(np.float32)"),
    "float64_output": (lambda a, b, c: (a, b, c.astype(np.float64)),
                       "main: argument 2 (C) must have dtype float32, got float64; convert it with "
                       ".astype(np.float32)"),
    "shape": (lambda a, b, c: (a, b, c[:, :2]), "main: argument 2 (C) must have shape [6, 3], got [6, 2]"),
    "transposed_shape": (lambda a, b, c: (a.T.copy(), b, c), "main: argument 0 (A) must have shape [6, 4], got [4, 6]"),
    "rank_3": (lambda a, b, c: (a[None], b, c), "main: argument 0 (A) must have shape [6, 4], got [1, 6, 4]"),
    "rank_1": (lambda a, b, c: (a.ravel(), b, c), "main: argument 0 (A) must have shape [6, 4], got [24]"),
    "non_contiguous": (lambda a, b, c: (np.repeat(a, 2, axis=1)[:, ::2], b, c),
                       "main: argument 0 (A) must be C-contiguous; pass np.ascontiguousarray(...) of it"),
    "negative_stride": (lambda a, b, c: (a[::-1], b, c),
                        "main: argument 0 (A) must be C-contiguous; pass np.ascontiguousarray(...) of it"),
    "fortran_order": (lambda a, b, c: (np.asfortranarray(a), b, c),
                      "main: argument 0 (A) must be C-contiguous; pass np.ascontiguousarray(...) of it"),
    "fortran_output": (lambda a, b, c: (a, b, np.asfortranarray(c)),
                       "main: argument 2 (C) must be C-contiguous; pass np.ascontiguousarray(...) of it"),
    "read_only_output": (lambda a, b, c: (a, b, _read_only(c)),
                         "main: argument 2 (C) is written by the kernel but the array is read-only; pass a writable "
                         "array, e.g. a .copy() of it"),
    "zero_size": (lambda a, b, c: (a[:0], b, c), "main: argument 0 (A) must have shape [6, 4], got [0, 4]"),
    "list": (lambda a, b, c: (a.tolist(), b, c),
             "main: argument 0 (A) must be a numpy array float32[6, 4], got list; convert it with "
             "np.asarray(value, dtype=np.float32) (an output must be an array to be written)"),
    "python_scalar": (lambda a, b, c: (1.0, b, c),
                      "main: argument 0 (A) must be a numpy array float32[6, 4], got float; convert it with "
                      "np.asarray(value, dtype=np.float32) (an output must be an array to be written)"),
    "numpy_scalar": (lambda a, b, c: (np.float32(1.0), b, c),
                     "main: argument 0 (A) must be a numpy array float32[6, 4], got float32; convert it with "
                     "np.asarray(value, dtype=np.float32)"),
    "torch_tensor": (lambda a, b, c: (_torch_tensor(a), b, c),
                     "main: argument 0 (A) must be a numpy array float32[6, 4], got Tensor; pass its numpy view, "
                     "tensor.detach().cpu().numpy() (outputs: a CPU tensor's view is written in place)"),
    "none": (lambda a, b, c: (a, b, None), "main: argument 2 (C) must be a numpy array float32[6, 3], got NoneType"),
}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c == "torch_tensor" else c
                                  for c in sorted(BAD_CALLS)])  # importing torch takes seconds
def test_a_bad_call_names_the_argument_and_the_fix_and_writes_nothing(kernels, case):
    target, built = kernels
    make, message = BAD_CALLS[case]
    a, b = _inputs()
    c = np.zeros((6, 3), np.float32)
    with pytest.raises(ArgumentError) as caught:
        built["matmul"](*make(a, b, c))
    assert str(caught.value).startswith(message), str(caught.value)
    np.testing.assert_array_equal(c, 0.0)


def test_two_outputs_in_one_memory_are_refused(kernels):
    """Which write lands last is unspecified: refused, not guessed."""
    _, built = kernels
    x, out = np.arange(8, dtype=np.float32), np.zeros(8, np.float32)
    with pytest.raises(ArgumentError) as caught:
        built["two"](x, out, out)
    assert str(caught.value) == (
        "main: arguments 1 (P) and 2 (Q) share memory, and the kernel writes both; which write lands last is "
        "unspecified, so pass separate arrays (e.g. a .copy() of one)")
    with pytest.raises(ArgumentError, match=r"arguments 1 \(P\) and 2 \(Q\) share memory"):
        built["two"](x, out[:8], out.reshape(8)[::1])
    np.testing.assert_array_equal(out, 0.0)


def _misaligned(shape, values=None):
    """A float32 array whose data starts one byte past an aligned address."""
    count = int(np.prod(shape))
    raw = np.zeros(count * 4 + 1, np.uint8)
    array = raw[1:].view(np.float32).reshape(shape)
    assert not array.flags.aligned
    array[...] = 0.0 if values is None else values
    return array


@pytest.mark.parametrize("where", ["input", "output", "both"])
def test_misaligned_buffers_give_numpys_result(kernels, where):
    _, built = kernels
    a, b = _inputs()
    given_a = _misaligned(a.shape, a) if where in ("input", "both") else a
    c = _misaligned((6, 3)) if where in ("output", "both") else np.zeros((6, 3), np.float32)
    built["matmul"](given_a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-6)


def test_a_read_only_input_is_read(kernels):
    _, built = kernels
    a, b = _inputs()
    c = np.zeros((6, 3), np.float32)
    built["matmul"](_read_only(a), _read_only(b), c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-6)


#: an input that is (or overlaps) the output: the result is the one with separate arrays
ALIASES = {
    "same_array": lambda x: (x[:64], x[:64]),
    "overlap_ahead": lambda x: (x[:64], x[1:65]),
    "overlap_behind": lambda x: (x[1:65], x[:64]),
}


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_an_input_that_is_also_the_output_gives_the_result_of_separate_arrays(kernels, alias):
    """``Y[i] = X[63 - i] + 1`` reads elements that an in-place loop has already overwritten."""
    _, built = kernels
    memory = np.arange(65, dtype=np.float32) * 0.5
    x, y = ALIASES[alias](memory)
    want = x[::-1] + 1  # computed before the call, from separate memory
    built["reverse"](x, y)
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("operands", ["left", "right", "both"])
def test_a_product_written_over_its_own_operand(kernels, operands):
    """``A = A @ B`` in place: every element of the result reads a whole row of A."""
    _, built = kernels
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 4)).astype(np.float32), rng.standard_normal((4, 4)).astype(np.float32)
    want = (a @ a) if operands == "both" else (a @ b)
    args = {"left": (a, b, a), "right": (b.T.copy(), a, a), "both": (a, a, a)}[operands]
    if operands == "right":
        want = args[0] @ a
    built["square"](*args)
    np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-5)


def test_a_kernel_called_from_several_threads_at_once(kernels):
    _, built = kernels
    a, b = _inputs()
    failures = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(20):
            left = rng.standard_normal((6, 4)).astype(np.float32)
            out = np.zeros((6, 3), np.float32)
            built["matmul"](left, b, out)
            if not np.allclose(out, left @ b, rtol=1e-5, atol=1e-5):
                failures.append(seed)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork")
@pytest.mark.parametrize("pool", [pytest.param("1", marks=pytest.mark.slow), "0"])  # the pool's own tests fork too
def test_a_parallel_kernel_called_before_and_after_fork(pool):
    """In a child forked after a parallel kernel ran (so after the thread pool or libgomp's
    team started), the kernel still runs and gives numpy's result; with libgomp the child's
    first parallel loop used to wait forever for threads that did not survive the fork."""
    done = run_python(f"""
        import os
        os.environ["NESTOR_THREAD_POOL"] = "{pool}"
        os.environ["OMP_NUM_THREADS"] = "2"
        import numpy as np
        import nestor as ns
        A = ns.placeholder((256, 64), name="A")
        B = ns.compute((256, 64), lambda i, j: A[i, j] * 2 + 1, name="B")
        s = ns.create_schedule(B)
        s[B].parallel(B.op.axis[0])
        kernel = ns.build(s, [A, B])
        a = np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32)
        def check():
            out = np.zeros_like(a)
            kernel(a, out)
            return np.array_equal(out, a * 2 + 1)
        assert check()
        pid = os.fork()
        if pid == 0:
            os._exit(0 if check() and check() else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert check()
        print("ok")
    """, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


# -- size variables passed as ints -------------------------------------------------------------------

def _split_by_variable(target: str):
    f = ns.var("f")
    A = ns.placeholder((10,), name="A")
    B = ns.compute((10,), lambda i: A[i] * 2, name="B")
    s = ns.create_schedule(B)
    s[B].split(B.op.axis[0], factor=f)
    return ns.build(s, [A, B, f], target=target)


#: the run-time split factor f -> the error message (None: accepted, numpy's result)
FACTORS = [
    (3, None), (1, None), (11, None), (2**31 - 1, None), (np.int64(4), None),
    (0, "main: s[B].split(i, factor=f) needs f > 0, but f=0; a split runs no iteration (or divides by zero) "
        "otherwise, so pass a positive value"),
    (-1, "main: s[B].split(i, factor=f) needs f > 0, but f=-1"),
    (2**31, "main: the size variable f=2147483648 does not fit int32 (the kernel's index arithmetic); pass a value "
            "from -2147483648 to 2147483647"),
    (2**63, "main: the size variable f=9223372036854775808 does not fit int32"),
    (-2**63, "main: the size variable f=-9223372036854775808 does not fit int32"),
    (1.5, "main: the size variable f must be passed as an int, got float 1.5"),
    (True, "main: the size variable f must be passed as an int, got bool True"),
    (None, "main: the size variable f must be passed as an int, got NoneType None"),
]


@pytest.mark.parametrize("target", ["llvm", "interp"])
@pytest.mark.parametrize(("factor", "message"), FACTORS, ids=[repr(f) for f, _ in FACTORS])
def test_a_size_variable_out_of_range_is_refused_and_a_huge_one_runs(target, factor, message):
    """A factor of 2**31 - 1 on an extent of 10 runs ten iterations, not two billion (the
    interpreter's loops stop where the guard of the split fails for good)."""
    kernel = _split_by_variable(target)
    a, out = np.arange(10, dtype=np.float32), np.zeros(10, np.float32)
    if message is None:
        kernel(a, out, factor)
        np.testing.assert_array_equal(out, a * 2)
        return
    with pytest.raises(ArgumentError) as caught:
        kernel(a, out, factor)
    assert str(caught.value).startswith(message), str(caught.value)
    np.testing.assert_array_equal(out, 0.0)


@pytest.mark.parametrize("target", ["llvm", "interp"])
def test_symbolic_shapes_too_large_for_the_index_arithmetic_are_refused(target):
    """50000 x 50000 elements do not fit the 32-bit offsets of a kernel of symbolic shape: refused
    before the kernel runs (the arrays are never touched, so they cost no memory)."""
    m = ns.size_var("m")
    X = ns.placeholder((m, m), name="X")
    Y = ns.compute((m, m), lambda i, j: X[i, j] * 2, name="Y")
    kernel = ns.build(ns.create_schedule(Y), [X, Y], target=target)
    big = np.zeros((50000, 50000), np.float32)
    with pytest.raises(ArgumentError) as caught:
        kernel(big, big[:, :])
    assert str(caught.value) == ("main: X has 2500000000 elements with m=50000; a kernel of symbolic shape addresses "
                                 "at most 2147483647, so split the work")


# -- kernels exported to a file and loaded back -----------------------------------------------------------

def _exported(tmp_path) -> str:
    X = ns.placeholder((64,), name="X")
    Y = ns.compute((64,), lambda i: X[63 - i] + 1, name="Y")
    path = str(tmp_path / "kernel.ll")
    ns.build(ns.create_schedule(Y), [X, Y]).export_library(path)
    return path


def _plant(tmp_path, kind: str) -> str:
    path = tmp_path / kind
    text = open(_exported(tmp_path)).read()
    match kind:
        case "fifo":
            os.mkfifo(path)
        case "folder":
            path.mkdir()
        case "random":
            path.write_bytes(bytes(range(256)))
        case "cut_in_header":
            path.write_text(text[:40])
        case "corrupt_header":
            path.write_text(text.split("\n")[0] + '\n{"entry": 1}\n')
    return str(path)


#: a bad file given to ns.load_module -> its whole error message (after the quoted path)
LOADS = {
    "missing": "cannot be read (No such file or directory); pass the path given to f.export_library(path)",
    "fifo": "is not a regular file; pass the path given to f.export_library(path)",
    "folder": "is not a regular file; pass the path given to f.export_library(path)",
    "random": "is not a kernel exported by Nestor's export_library (it starts with b'\\x00\\x01\\x02",
    "cut_in_header": "is cut short (its header line does not end); export the kernel again",
    "corrupt_header": "has a corrupt header (KeyError: 'params'); export the kernel again",
}


@pytest.mark.parametrize("kind", sorted(LOADS))
def test_load_module_refuses_a_bad_file_without_blocking(kind, tmp_path):
    """A FIFO with no writer would block a plain read forever: the load runs in a thread that must
    finish."""
    if kind == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("FIFOs")
    path = _plant(tmp_path, kind)
    outcome = []

    def load() -> None:
        try:
            ns.load_module(path)
        except ArgumentError as error:
            outcome.append(str(error))

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "load_module blocked"
    assert outcome and outcome[0].startswith(f"load_module: {path!r} {LOADS[kind]}"), outcome


def test_a_loaded_kernel_copies_an_input_that_is_also_its_output(tmp_path):
    kernel = ns.load_module(_exported(tmp_path))
    x = np.arange(64, dtype=np.float32)
    want = x[::-1] + 1
    kernel(x, x)
    np.testing.assert_array_equal(x, want)
