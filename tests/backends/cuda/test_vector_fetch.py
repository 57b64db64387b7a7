"""Vectorized cooperative fetches (float4 seen through the ``//`` and ``%`` of a fuse then split),
double-buffered shared tiles, and the machine code of the default matmul (where nvcc and
cuobjdump are installed)."""

from __future__ import annotations

import numpy as np
import pytest

import nestor as ns
from backends.cuda.arith import contiguous_lanes, multiple_of, see_through
from backends.cuda.banks import evaluate, shared_accesses
from schedules.templates import matmul_gpu, window_sum_gpu
from tensorir.expr import Var
from tensorir.structural import structural_key


def test_fused_then_split_offsets_are_contiguous_lanes():
    f, v = Var("f"), Var("v")
    x = f * 4 + v
    assert contiguous_lanes(x // 128 * 256 + x % 128, v, 0)
    assert contiguous_lanes(x // 8 * 1024 + x % 8 + f * 0, v, 0)
    assert not contiguous_lanes(x // 6 * 256 + x % 6, v, 0)          # 6 is no multiple of 4
    assert not contiguous_lanes((f * 3 + v) // 128 * 256 + (f * 3 + v) % 128, v, 0)  # unaligned
    assert not contiguous_lanes(x // 128 * 254 + x % 128, v, 0)      # rows of 254: unaligned
    assert not contiguous_lanes(x, v, 2)                              # starts off a multiple of 4


@pytest.mark.parametrize("make", [lambda f, lane: (f * 8 + lane) % 16, lambda f, lane: (f * 8 + lane) // 16,
                                  lambda f, lane: (f * 4 + 8 + lane) // 12 * 7 + (f * 4 + 8 + lane) % 12,
                                  lambda f, lane: (f * 2 + lane) % 16])
def test_see_through_keeps_the_value(make):
    f, lane = Var("f"), Var("lane")
    original = make(f, lane)
    rewritten = see_through(original, lane, 4)
    for fv in range(12):
        for lv in range(4):
            assert evaluate(rewritten, {f: fv, lane: lv}) == evaluate(original, {f: fv, lane: lv})


def test_see_through_moves_the_lane_out_of_proven_divisions():
    f, lane = Var("f"), Var("lane")
    assert str(see_through((f * 8 + lane) % 16, lane, 4)) == str((f * 8 + 0) % 16 + lane)
    unproven = (f * 2 + lane) % 16  # f * 2 is no multiple of 4
    assert see_through(unproven, lane, 4) is unproven


def test_multiple_of():
    f = Var("f")
    assert multiple_of(f * 8 + 4) == 4 and multiple_of((f * 8) % 12) == 4 and multiple_of(f) == 1


def test_cooperative_fetches_are_float4_loads_and_stores():
    s, args = matmul_gpu(256, 256, 64)
    source = ns.build(s, args, target="cuda", name="mm").source
    # B: a fused then split fetch; A: a transposing fetch (float4 loads, scalar stores)
    assert "const float4 B_v = *reinterpret_cast<const float4*>(&B[" in source
    assert "*reinterpret_cast<float4*>(&B_shared[" in source
    assert "const float4 A_v = *reinterpret_cast<const float4*>(&A[" in source
    assert "= A_v.w;" in source


def test_unaligned_rows_fall_back_to_scalar_fetches():
    s, args = matmul_gpu(256, 254, 64)  # rows of B are 254 floats: not 16-byte aligned
    source = ns.build(s, args, target="cuda", name="mm").source
    assert "const float4 B_v" not in source and "const float4 A_v" in source
    assert "B_shared[" in source


def test_the_default_matmul_reads_shared_memory_without_bank_conflicts():
    s, args = matmul_gpu(512, 512, 512)
    (kernel,) = ns.build(s, args, target="cuda").kernels
    accesses = shared_accesses(kernel)
    assert {(a.buffer, a.kind) for a in accesses} == {("A.shared", "load"), ("A.shared", "store"),
                                                      ("B.shared", "load"), ("B.shared", "store")}
    assert all(a.degree == 1 for a in accesses)
    assert {a.bits for a in accesses if a.kind == "load"} == {128}


def test_a_strided_shared_read_has_its_conflicts_counted():
    A = ns.placeholder((128,), name="A")
    B = ns.compute((64,), lambda i: A[2 * i], name="B")
    s = ns.create_schedule(B)
    cache = s.cache_read(A, "shared", [B])
    block, thread = s[B].split(B.op.axis[0], factor=64)
    s[B].bind(block, "blockIdx.x")
    s[B].bind(thread, "threadIdx.x")
    s[cache].compute_at(s[B], block)
    _, copier = s[cache].split(s[cache].op.axis[0], factor=64)
    s[cache].bind(copier, "threadIdx.x")
    (kernel,) = ns.build(s, [A, B], target="cuda").kernels
    (load,) = [a for a in shared_accesses(kernel) if a.kind == "load"]
    assert (load.bits, load.degree) == (32, 2)


def test_double_buffer_where_it_cannot_take_effect_keeps_one_copy():
    # TVM accepts double_buffer on any stage, before set_scope/compute_at; it only changes storage
    from tensorir.stmt import Allocate
    from tensorir.visitor import walk

    A = ns.placeholder((64,), name="A")
    B = ns.compute((64,), lambda i: A[i] * 2.0, name="B")
    s = ns.create_schedule(B)
    cache = s.cache_read(A, "shared", [B])
    s[cache].double_buffer()  # shared but computed at root
    s[B].double_buffer()  # global memory
    func = ns.lower(s, [A, B])
    assert not [n for n in walk(func.body) if isinstance(n, Allocate) and n.buffer.double_buffered]
    a, b = np.arange(64, dtype=np.float32), np.zeros(64, np.float32)
    ns.build(s, [A, B], target="interp")(a, b)
    np.testing.assert_array_equal(b, 2 * a)


def test_double_buffer_needs_a_serial_tile_loop():
    s, args = window_sum_gpu(45, threads=16)
    (cache,) = [stage for stage in s.stages if stage.name == "A.shared"]
    cache.double_buffer()
    with pytest.raises(ns.CodegenError, match=r"double_buffer\(A.shared\): loop i.outer must be a serial loop"):
        ns.build(s, args, target="cuda")


def test_double_buffer_is_in_the_trace_and_the_structural_key():
    s, args = matmul_gpu(256, 256, 64)
    assert "double_buffer" in s.trace.to_json()
    single, single_args = matmul_gpu(256, 256, 64, double_buffer=False)
    assert structural_key(ns.lower(s, args)) != structural_key(ns.lower(single, single_args))


def test_launch_bounds_come_from_the_schedule():
    s, args = matmul_gpu(256, 256, 64)
    assert "__launch_bounds__(256, 2) mm(" in ns.build(s, args, target="cuda", name="mm").source
    s, args = matmul_gpu(256, 256, 64, L=128, V=4, W=4)  # 1024 threads: no room for two blocks
    assert "__launch_bounds__(1024, 1) mm(" in ns.build(s, args, target="cuda", name="mm").source
    assert "launch_bounds" in s.trace.to_json()


@pytest.mark.parametrize("bad", [0, 33, 1.5, True])
def test_launch_bounds_needs_a_block_count(bad):
    s, args = matmul_gpu(64, 64, 64)
    C = args[-1]
    with pytest.raises(ns.ScheduleError, match=r"launch_bounds\(.*\): min_blocks must be an integer from 1 to "
                                               r"32 \(blocks per SM\)"):
        s[C].launch_bounds(bad)


def test_inner_reduction_loops_are_unrolled():
    s, args = matmul_gpu(256, 256, 64)
    source = ns.build(s, args, target="cuda", name="mm").source
    assert "#pragma unroll\n    for (int k_inner = 0; k_inner < 8; ++k_inner) {" in source


def test_offsets_past_32_bits_stay_64_bit_and_vectorized():
    s, args = matmul_gpu(70000, 64, 70000)  # A has 4.9e9 elements
    source = ns.build(s, args, target="cuda", name="mm").source
    assert "const float4 A_v = *reinterpret_cast<const float4*>(&A[(long long)(i_outer * 64 + " in source
    assert "* 70000LL + (long long)(" in source
