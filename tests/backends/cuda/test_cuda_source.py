"""The generated CUDA C, read as text: kernels and their launch shapes, thread indices, guards,
shared and register arrays, barriers, vector accesses, floor division, names and literals."""

from __future__ import annotations

import re

import pytest

import nestor as ns
from backends.cuda import generate
from schedules.templates import matmul_gpu
from tests.backends.cuda.cases import vectorized_scale, window_sum_guarded
from tests.catalogue import by_name


def _generic(name: str, threads: int = 32):
    from schedules.templates.gpu_generic import schedule_gpu

    op = by_name(name)
    return ns.build(schedule_gpu(ns.create_schedule(op.outputs), threads), op.args, target="cuda",
                    name=op.name)


@pytest.fixture(scope="module")
def matmul():
    s, args = matmul_gpu(1024, 1024, 1024)
    return ns.build(s, args, target="cuda", name="matmul")


def test_matmul_kernel_signature_and_launch(matmul):
    assert 'extern "C" __global__ void __launch_bounds__(256, 2) matmul(const float* __restrict__ A, ' \
        "const float* __restrict__ B, float* __restrict__ C) {" in matmul.source
    (launch,) = matmul.launches
    # 128 x 128 block tiles, 8 x 8 per thread
    assert (launch.kernel, launch.grid, launch.block) == ("matmul", (8, 8, 1), (256, 1, 1))
    assert launch.shared_bytes == 2 * (128 * 8 + 8 * 128) * 4  # double-buffered
    assert launch.args == ("A", "B", "C")


def test_matmul_shared_tiles_registers_and_barriers(matmul):
    source = matmul.source
    assert "__shared__ float A_shared[2048];" in source
    assert "__shared__ __align__(16) float B_shared[2048];" in source
    assert "float C_local[64];" in source
    # one barrier before the loop (the first tiles), one per step
    assert source.count("__syncthreads();") == 2
    assert "const int i_outer = blockIdx.y;" in source
    assert "for (int k_outer = 0; k_outer < 128; ++k_outer) {\n    if (k_outer + 1 < 128) {" in source
    assert "#pragma unroll" in source


def test_matmul_fetches_and_stores_128_bit_words(matmul):
    source = matmul.source
    assert source.count("const float4 A_v") == 2 and source.count("const float4 B_v") == 2
    assert source.count("*reinterpret_cast<float4*>(&B_shared[") == 2
    assert source.count("*reinterpret_cast<float4*>(&C[") == 1


def test_matmul_has_no_guards_when_tiles_divide(matmul):
    # the only condition is the double buffer's "is there a next tile"
    assert matmul.source.count("if (") == 1 and "threadIdx.x <" not in matmul.source


def test_names_are_c_identifiers(matmul):
    declared = re.findall(r"\b(?:int|float) (\w+)", matmul.source)
    assert declared and all("." not in name for name in declared)
    assert "i.outer" not in matmul.source


def test_shorter_thread_loop_runs_under_a_guard():
    s, args = window_sum_guarded(70)
    module = ns.build(s, args, target="cuda", name="window")
    assert module.launches[0].block == (32, 1, 1)
    assert "if (threadIdx.x < 16) {" in module.source


def test_root_nests_become_kernels_launched_in_order():
    module = _generic("softmax")
    assert [launch.kernel for launch in module.launches] == ["softmax_rowmax", "softmax_expsum", "softmax_Y"]
    assert [launch.args for launch in module.launches] == [
        ("X", "rowmax"), ("X", "rowmax", "expsum"), ("X", "Y", "rowmax", "expsum")]
    assert [b.name for b in module.temporaries] == ["rowmax", "expsum"]
    assert "= -3.4028235e+38f;" in module.source  # te.max starts from min_value(float32), as in TVM
    assert "expf(" in module.source


def test_integer_floor_division_of_signed_values_uses_helpers():
    source = _generic("elementwise_int32").source
    assert "nestor_floordiv(b[" in source and "nestor_floormod(a[" in source
    assert "template <typename T> __device__ __forceinline__ T nestor_floordiv" in source


def test_floor_division_of_non_negative_indices_is_plain_c():
    source = _generic("softmax").source
    assert "(i_j_fused_outer * 32 + i_j_fused_inner) / 13" in source
    assert "nestor_floordiv" not in source


def test_float64_uses_double_math():
    source = _generic("softmax_float64").source
    assert "double* __restrict__ Y" in source and "exp(" in source and "expf(" not in source


def test_aligned_vector_loop_uses_float4():
    s, args = vectorized_scale(5, 32)
    source = ns.build(s, args, target="cuda", name="scale").source
    assert "const float4 X_v = *reinterpret_cast<const float4*>(&X[i * 32 + j_outer * 4]);" in source
    assert "*reinterpret_cast<float4*>(&Y[i * 32 + j_outer * 4]) = Y_v;" in source
    assert "Y_v.w = X_v.w * 2.0f + bias_v.w;" in source


def test_unaligned_vector_loop_is_unrolled():
    s, args = vectorized_scale(5, 30)
    source = ns.build(s, args, target="cuda", name="scale").source
    assert "float4" not in source
    assert "#pragma unroll\n  for (int j_inner = 0; j_inner < 4; ++j_inner) {" in source


def test_generate_reads_a_lowered_function():
    s, args = matmul_gpu(128, 128, 128)
    generated = generate(ns.lower(s, args, name="mm"))
    assert generated.source.startswith("// Generated by Nestor.")
    assert [k.name for k in generated.kernels] == ["mm"]


def test_build_refuses_a_schedule():
    s, _ = matmul_gpu(128, 128, 128)
    from backends.cuda import build

    with pytest.raises(ns.CodegenError, match="expected a lowered function"):
        build(s)
