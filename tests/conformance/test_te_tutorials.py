"""TVM's how-to guides not covered elsewhere, as TVM programs (through :mod:`te_shim`) at reduced
sizes: "intrinsics and math functions" (``call_pure_extern`` of C's ``__expf``/``exp``, ``te.exp``
on GPU threads with a symbolic length, ``call_intrin``; custom lowering rules and new intrinsics
refused at the call), the matmul of autotvm's "simple template" tutorial with its split knobs
enumerated by hand, "tensorize" with the GEMV intrinsic written with the IR builder, and "how to
optimize convolution using TensorCores" with its whole schedule (float16
NHWCnc data, float32 sums, shared and register caches, threadIdx.y/z warps) but register caches in
place of the wmma fragments, which are refused. Values against numpy on the interpreter (CUDA's
semantics), LLVM and the CUDA source run on the host; the CUDA source compiles with nvcc."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from backends.cuda.nvcc import compile_cuda, find_nvcc
from tests.backends.cuda import host_emulation

from .helpers import close, empty, uniform
from .te_shim import te, tvm

call_pure_extern, call_intrin = te.call_pure_extern, te.call_intrin


def gpu_unary(fcompute, dtype="float32", num_thread=64, n=None):
    """The tutorial's shape: B[i] = f(A[i]) over a symbolic n, split onto blocks and threads."""
    n = te.var("n") if n is None else n
    A = te.placeholder((n,), name="A", dtype=dtype)
    B = te.compute(A.shape, lambda i: fcompute(A[i]), name="B")
    s = te.create_schedule(B.op)
    bx, tx = s[B].split(B.op.axis[0], factor=num_thread)
    s[B].bind(bx, te.thread_axis("blockIdx.x"))
    s[B].bind(tx, te.thread_axis("threadIdx.x"))
    return s, [A, B]


MATH_PROGRAMS = {  # name: (fcompute, dtype, numpy reference)
    "fast_expf": (lambda x: call_pure_extern("float32", "__expf", x), "float32", np.exp),
    "te_exp": (lambda x: te.exp(x), "float32", np.exp),
    "te_exp_float64": (lambda x: te.exp(x), "float64", np.exp),
    "double_exp_to_float": (lambda x: call_pure_extern("float32", "exp", x), "float64", np.exp),
    "logf_of_abs": (lambda x: call_pure_extern("float32", "logf", te.abs(x) + 1.0), "float32",
                    lambda a: np.log(np.abs(a) + 1)),
    "intrin_log": (lambda x: call_intrin("float32", "tir.log", te.abs(x) + 1.0), "float32",
                   lambda a: np.log(np.abs(a) + 1)),
    "powf": (lambda x: call_pure_extern("float32", "powf", te.abs(x), 1.5), "float32", lambda a: np.abs(a) ** 1.5),
}


@pytest.mark.parametrize("name", MATH_PROGRAMS)
@pytest.mark.parametrize("size", [1, 100])
def test_math_calls_on_gpu_threads_run_on_the_interpreter(name, size, rng):
    fcompute, dtype, reference = MATH_PROGRAMS[name]
    s, (A, B) = gpu_unary(fcompute, dtype)
    a = uniform(rng, size, dtype)
    b = empty((size,), B.dtype)
    tvm.build(s, [A, B], "interp", name=name)(a, b)
    close(b, reference(a.astype(np.float64)), rtol=1e-5)


def test_the_result_type_is_the_one_asked_for():
    A = te.placeholder((4,), name="A", dtype="float64")
    assert call_pure_extern("float32", "exp", A[0]).dtype == "float32"  # a double exp converted
    assert call_pure_extern("float64", "expf", A[0]).dtype == "float64"  # computed in float, widened
    assert call_intrin("float64", "tir.exp", A[0]).dtype == "float64"
    N = te.placeholder((4,), name="N", dtype="int32")
    assert call_pure_extern("float32", "sqrtf", N[0]).dtype == "float32"  # the int converted, as C does


def test_expf_of_a_double_rounds_its_argument_to_float():
    A = te.placeholder((3,), name="A", dtype="float64")
    B = te.compute((3,), lambda i: call_pure_extern("float64", "expf", A[i]), name="B")
    a = np.array([0.1, 1.0 / 3.0, 2.2], "float64")
    b = empty((3,), "float64")
    tvm.build(te.create_schedule(B.op), [A, B], "llvm")(a, b)
    close(b, np.exp(a.astype(np.float32)).astype(np.float64), rtol=1e-7)


@pytest.fixture(scope="module")
def cuda_modules():
    built = {name: tvm.build(*gpu_unary(fcompute, dtype), "cuda", name=name)
             for name, (fcompute, dtype, _) in MATH_PROGRAMS.items()}
    s, args = conv_tensorcore()
    built["conv_tensorcore"] = tvm.build(s, args, "cuda", name="conv_tensorcore")
    return built


def test_the_cuda_source_calls_the_math_library(cuda_modules):
    source = cuda_modules["fast_expf"].imported_modules[0].get_source()
    assert "expf(A[" in source and "blockIdx.x" in source and "threadIdx.x" in source
    assert "exp(A[" in cuda_modules["te_exp_float64"].imported_modules[0].get_source()


def test_the_cuda_sources_compile_with_nvcc(cuda_modules):
    if find_nvcc() is None:
        pytest.skip("nvcc is not installed")
    compile_cuda("\n".join(module.source for module in cuda_modules.values()))


def test_the_cuda_sources_run_on_the_host(rng):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    built = {name: tvm.build(*gpu_unary(fcompute, dtype, n=130), "cuda", name=name)  # the host runs static sizes
             for name, (fcompute, dtype, _) in MATH_PROGRAMS.items()}
    hosts = host_emulation.compile_host(list(built.values()))
    for (name, (_, dtype, reference)), host in zip(MATH_PROGRAMS.items(), hosts):
        a = uniform(rng, 130, dtype)
        b = empty((130,), "float64" if name == "te_exp_float64" else "float32")
        host(a, b)
        close(b, reference(a.astype(np.float64)), rtol=1e-5)


def test_custom_lowering_rules_and_new_intrinsics_are_refused_with_what_to_write():
    def my_cuda_math_rule(op):
        return op

    with pytest.raises(te.DefinitionError, match=r"register_intrin_lowering\('tir.exp', target='cuda'\): custom "
                       r"lowering rules are not supported; .* ns.call_pure_extern\('float32', 'expf', x\)"):
        te.register_intrin_lowering("tir.exp", target="cuda", f=my_cuda_math_rule, level=99)
    with pytest.raises(te.DefinitionError, match=r"register_op_attr\('tir.mylog', 'TCallEffectKind'\): new "
                       "intrinsics cannot be registered"):
        te.register_op_attr("tir.mylog", "TCallEffectKind", 0)
    A = te.placeholder((4,), name="A")
    with pytest.raises(te.DefinitionError, match=r"call_intrin\('float32', 'tir.mylog', ...\): not one of "
                       r"Nestor's intrinsics \(tir.acos, .*tir.log, .*\), and new intrinsics cannot be registered"):
        call_intrin("float32", "tir.mylog", A[0])


@pytest.mark.parametrize("call, message", [
    (lambda x: call_pure_extern("float32", "my_kernel", x), r"Nestor links no external functions, and "
     r"'my_kernel' is not a C math function it knows \(acos, .*\); write the computation as an expression"),
    (lambda x: call_pure_extern("float32", "roundf", x), "'roundf' is not a C math function it knows"),
    (lambda x: call_pure_extern("float32", "powf", x), r"call_pure_extern\('float32', 'powf', ...\): takes 2 "
     "arguments, got 1; pass 2"),
    (lambda x: call_pure_extern("float7", "expf", x), "dtype 'float7' is not supported"),
    (lambda x: te.call_extern("int32", "gemv_update", x), "'gemv_update' is not a C math function"),
])
def test_calls_nestor_cannot_make_are_refused_at_the_call(call, message):
    A = te.placeholder((4,), name="A")
    with pytest.raises(te.DefinitionError, match=message):
        te.compute((4,), lambda i: call(A[i]), name="B")


# autotvm's "writing a tunable template" matmul, its knobs enumerated by hand -------------------
def matmul(N, L, M, y_factor, x_factor, dtype="float32"):
    A = te.placeholder((N, L), name="A", dtype=dtype)
    B = te.placeholder((L, M), name="B", dtype=dtype)
    k = te.reduce_axis((0, L), name="k")
    C = te.compute((N, M), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = te.create_schedule(C.op)
    y, x = s[C].op.axis
    k = s[C].op.reduce_axis[0]
    yo, yi = s[C].split(y, y_factor)
    xo, xi = s[C].split(x, x_factor)
    s[C].reorder(yo, xo, k, yi, xi)
    return s, [A, B, C]


def test_every_configuration_of_the_simple_template_computes_the_product(rng):
    N, L, M = 24, 20, 18
    a, b = uniform(rng, (N, L)), uniform(rng, (L, M))
    for y_factor, x_factor in itertools.product((1, 4, 5, 24), (2, 8, 18)):  # divisors and not
        s, args = matmul(N, L, M, y_factor, x_factor)
        c = empty((N, M), "float32")
        tvm.build(s, args, "llvm")(a, b, c)
        close(c, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_the_simple_template_loop_order():
    s, args = matmul(16, 8, 16, 4, 8)
    update = ("C[i.outer * 4 + i.inner, j.outer * 8 + j.inner] = C[i.outer * 4 + i.inner, j.outer * 8 + j.inner]"
              " + A[i.outer * 4 + i.inner, k] * B[k, j.outer * 8 + j.inner]")
    assert str(tvm.lower(s, args, simple_mode=True)) == """\
func main(A: float32[16, 8], B: float32[8, 16], C: float32[16, 16]) {
  for i.outer in 0..4:
    for j.outer in 0..2:
      for i.inner in 0..4:
        for j.inner in 0..8:
          C[i.outer * 4 + i.inner, j.outer * 8 + j.inner] = 0.0
      for k in 0..8:
        for i.inner in 0..4:
          for j.inner in 0..8:
            UPDATE
}""".replace("UPDATE", update)


# "use tensorize to leverage hardware intrinsics", the GEMV written with the IR builder ---------
def test_tensorize_replaces_the_inner_loops_with_the_gemv_intrinsic(rng):
    N, M, L, factor = 12, 32, 8, 16
    A = te.placeholder((N, L), name="A")
    B = te.placeholder((M, L), name="B")
    k = te.reduce_axis((0, L), name="k")
    C = te.compute((N, M), lambda i, j: te.sum(A[i, k] * B[j, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    x, y = C.op.axis
    (z,) = C.op.reduce_axis
    yo, yi = s[C].split(y, factor=factor)
    s[C].reorder(x, yo, yi, z)

    a = te.placeholder((L,), name="a")
    b = te.placeholder((factor, L), name="b")
    kk = te.reduce_axis((0, L), name="k")
    c = te.compute((factor,), lambda i: te.sum(a[kk] * b[i, kk], axis=kk), name="c")
    Ab = tvm.tir.decl_buffer(a.shape, a.dtype, name="A", offset_factor=1, strides=[1])
    Bb = tvm.tir.decl_buffer(b.shape, b.dtype, name="B", offset_factor=1, strides=[te.var("s1"), 1])
    Cb = tvm.tir.decl_buffer(c.shape, c.dtype, name="C", offset_factor=1, strides=[1])

    def intrin_func(ins, outs):
        ib = tvm.tir.ir_builder.create()
        aa, bb = ins
        cc = outs[0]
        with ib.for_range(0, factor, name="m") as m:
            ib.emit(cc.vstore([m], te.const(0, "float32")))
            with ib.for_range(0, L, name="l") as q:
                ib.emit(cc.vstore([m], cc.vload([m]) + aa.vload([q]) * bb.vload([m, q])))
        return ib.get()

    gemv = te.decl_tensor_intrin(c.op, intrin_func, binds={a: Ab, b: Bb, c: Cb})
    s[C].tensorize(yi, gemv)
    aa, bb = uniform(rng, (N, L)), uniform(rng, (M, L))
    cc = empty((N, M), "float32")
    tvm.build(s, [A, B, C], "llvm")(aa, bb, cc)
    close(cc, aa.astype(np.float64) @ bb.T, rtol=1e-5, atol=1e-5)


# "how to optimize convolution using TensorCores", with register caches for the fragments ------
def conv_tensorcore(fragment_scopes=("local", "local", "local")):
    batch, height, width, in_channels, out_channels, block_size, pad = 16, 4, 4, 8, 16, 4, 1
    data_shape = (batch // block_size, height, width, in_channels // block_size, block_size, block_size)
    kernel_shape = (3, 3, in_channels // block_size, out_channels // block_size, block_size, block_size)
    output_shape = (batch // block_size, height, width, out_channels // block_size, block_size, block_size)
    kh, kw = te.reduce_axis((0, 3), name="kh"), te.reduce_axis((0, 3), name="kw")
    ic = te.reduce_axis((0, in_channels // block_size), name="ic")
    ii = te.reduce_axis((0, block_size), name="ii")
    A = te.placeholder(data_shape, name="A", dtype="float16")
    W = te.placeholder(kernel_shape, name="W", dtype="float16")
    Apad = te.compute(
        (batch // block_size, height + 2 * pad, width + 2 * pad, in_channels // block_size, block_size, block_size),
        lambda n, h, w, i, nn, ii: tvm.tir.if_then_else(
            tvm.tir.all(h >= pad, h - pad < height, w >= pad, w - pad < width),
            A[n, h - pad, w - pad, i, nn, ii], tvm.tir.const(0.0, "float16")), name="Apad")
    Conv = te.compute(output_shape, lambda n, h, w, o, nn, oo: te.sum(
        Apad[n, h + kh, w + kw, ic, nn, ii].astype("float32") * W[kh, kw, ic, o, ii, oo].astype("float32"),
        axis=[ic, kh, kw, ii]), name="Conv")
    s = te.create_schedule(Conv.op)
    s[Apad].compute_inline()
    AS, WS = s.cache_read(Apad, "shared", [Conv]), s.cache_read(W, "shared", [Conv])
    AF, WF = s.cache_read(AS, fragment_scopes[0], [Conv]), s.cache_read(WS, fragment_scopes[1], [Conv])
    ConvF = s.cache_write(Conv, fragment_scopes[2])
    block_row_warps, block_col_warps, warp_row_tiles, warp_col_tiles, warp_size, chunk = 2, 2, 1, 2, 8, 2
    thread_x, thread_y, thread_z = (te.thread_axis(f"threadIdx.{a}") for a in "xyz")

    nc, hc, wc, oc, nnc, ooc = Conv.op.axis
    block_k = s[Conv].fuse(hc, wc)
    s[Conv].bind(block_k, te.thread_axis("blockIdx.z"))
    nc, nci = s[Conv].split(nc, factor=warp_row_tiles)
    block_i, nc = s[Conv].split(nc, factor=block_row_warps)
    oc, oci = s[Conv].split(oc, factor=warp_col_tiles)
    block_j, oc = s[Conv].split(oc, factor=block_col_warps)
    s[Conv].reorder(block_k, block_i, block_j, nc, oc, nci, oci, nnc, ooc)
    s[Conv].bind(block_i, te.thread_axis("blockIdx.x"))
    s[Conv].bind(block_j, te.thread_axis("blockIdx.y"))
    s[Conv].bind(nc, thread_y)
    s[Conv].bind(oc, thread_z)

    s[ConvF].compute_at(s[Conv], oc)
    n, h, w, o, nnf, oof = ConvF.op.axis
    ko, ki = s[ConvF].split(ic, factor=chunk)
    s[ConvF].reorder(ko, kh, ki, kw, n, o, nnf, oof, ii)
    s[AF].compute_at(s[ConvF], kw)
    s[WF].compute_at(s[ConvF], kw)

    s[AS].compute_at(s[ConvF], kh)
    n, h, w, i, nn, ii = AS.op.axis
    tx, xo = s[AS].split(n, nparts=block_row_warps)
    ty, yo = s[AS].split(xo, nparts=block_col_warps)
    to, ti = s[AS].split(s[AS].fuse(nn, ii), factor=warp_size)
    s[AS].bind(tx, thread_y)
    s[AS].bind(ty, thread_z)
    s[AS].bind(ti, thread_x)

    s[WS].compute_at(s[ConvF], kh)
    kh, kw, ic, o, ii, oo = WS.op.axis
    tx, xo = s[WS].split(o, nparts=block_row_warps)
    ty, yo = s[WS].split(xo, nparts=block_col_warps)
    to, ti = s[WS].split(s[WS].fuse(ii, oo), nparts=warp_size)
    s[WS].bind(tx, thread_y)
    s[WS].bind(ty, thread_z)
    s[WS].bind(to, thread_x)
    s[WS].vectorize(ti)
    return s, [A, W, Conv]


def conv_nhwcnc_reference(a, w):
    padded = np.pad(a.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0), (0, 0)))
    height, width = a.shape[1:3]
    out = 0.0
    for kh, kw in itertools.product(range(3), range(3)):
        window = padded[:, kh:kh + height, kw:kw + width]
        out = out + np.einsum("nhwiab,iobc->nhwoac", window, w[kh, kw].astype(np.float64))
    return out


def test_the_tensorcore_schedule_runs_as_cuda_source_on_the_host(cuda_modules, rng):
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    module = cuda_modules["conv_tensorcore"]
    assert "__half" in module.source and "threadIdx.z" in module.source
    (host,) = host_emulation.compile_host([module])
    _, (A, W, Conv) = conv_tensorcore()
    a = rng.uniform(size=tuple(int(d) for d in A.shape)).astype("float16")
    w = rng.uniform(size=tuple(int(d) for d in W.shape)).astype("float16")
    out = empty(Conv.shape, Conv.dtype)
    host(a, w, out)
    close(out, conv_nhwcnc_reference(a, w), rtol=1e-5, atol=1e-5)


def test_wmma_fragment_scopes_are_refused_with_the_scopes_nestor_has():
    with pytest.raises(te.ScheduleError, match=r"s.cache_read\(Apad.shared, 'wmma.matrix_a', \['Conv'\]\): unknown "
                       "scope 'wmma.matrix_a'; use 'global', 'shared' or 'local'; TensorCore fragments "
                       r"\(wmma.\*\) are not supported: 'local' keeps the tile in registers"):
        conv_tensorcore(("wmma.matrix_a", "wmma.matrix_b", "wmma.accumulator"))
