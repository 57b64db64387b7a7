"""Reading machine code: the SASS and ptxas parsers on a checked-in listing (data/tiny.cu compiled
with ``nvcc -arch=sm_90 -cubin -O3 -Xptxas -v``, disassembled with ``cuobjdump -sass``), occupancy
from the sm_90 limits, and bank-conflict degrees from index expressions."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.cuda import banks, sass
from backends.cuda.nvcc import find_nvcc
from tensorir.expr import Var

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tiny():
    kernels = sass.parse_sass((DATA / "tiny.sass").read_text())
    return kernels["tiny"]


def test_the_listing_splits_into_kernels_and_instructions(tiny):
    assert tiny[0] == sass.Instruction(0, "", "LDC", "R1, c[0x0][0x28]")
    assert [i.opcode for i in tiny if i.base in ("LDG", "STS", "LDS")] == \
        ["LDG.E.128.CONSTANT", "STS.128", "LDS.128"]
    branch = next(i for i in tiny if i.address == 0x1F0)
    assert (branch.predicate, branch.opcode, branch.branch_target()) == ("@!P0", "BRA", 0x130)


def test_the_hot_loop_is_the_backward_branch_with_the_ffmas(tiny):
    loop = sass.hot_loop(tiny)
    assert (loop.start, loop.end, len(loop.body)) == (0x130, 0x1F0, 13)
    assert loop.count("FFMA") == 3 and loop.count("BAR") == 2
    assert loop.ffma_share == pytest.approx(3 / 13)
    # the trap loop at the end (BRA to itself) has no FFMA
    assert [(found.start, found.end) for found in sass.loops(tiny)] == [(0x130, 0x1F0), (0x220, 0x220)]
    assert sass.tile_loop(tiny, loop) is not None and not sass.double_buffered(sass.tile_loop(tiny, loop))


def test_load_widths_in_bits(tiny):
    assert sass.load_widths(tiny, "LDG") == {128: 1}
    assert sass.load_widths(tiny, "LDS") == {128: 1}
    assert sass.load_widths(tiny, "STG") == {32: 1}


def test_one_barrier_per_step_with_global_loads_is_double_buffering():
    body = tuple(sass.Instruction(a * 16, "", op, "") for a, op in
                 enumerate(["LDG.E.128", "FFMA", "STS.128", "BAR.SYNC", "FFMA"]))
    branch = sass.Instruction(len(body) * 16, "@P0", "BRA", "0x0")
    loop = sass.hot_loop(body + (branch,))
    assert sass.double_buffered(sass.tile_loop(body + (branch,), loop))


def test_ptxas_resources():
    found = sass.parse_ptxas((DATA / "tiny.ptxas").read_text())
    assert found == {"tiny": sass.Resources(registers=20, spill_stores=0, spill_loads=0, shared_bytes=1024,
                                            stack_bytes=0)}


@pytest.mark.parametrize(("threads", "registers", "shared", "blocks"), [
    (256, 64, 4096, 4),       # registers: 64 * 256 = 16384 per block, 65536 per SM
    (256, 128, 16384, 2),
    (256, 129, 0, 1),         # 136 registers after rounding to the allocation unit
    (64, 16, 0, 32),          # the 32-block limit
    (1024, 32, 0, 2),         # the 64-warp limit
    (128, 32, 100 * 1024, 2),  # shared memory: 228 KiB per SM, 1 KiB reserved per block
])
def test_blocks_per_sm_from_the_sm90_limits(threads, registers, shared, blocks):
    assert sass.blocks_per_sm(threads, registers, shared) == blocks


def test_bank_conflict_degree():
    # 32 lanes reading consecutive words: one per bank
    assert banks.degree([[t] for t in range(32)]) == 1
    # a stride of 2 words puts two lanes on each even bank
    assert banks.degree([[2 * t] for t in range(32)]) == 2
    # the same word for every lane is a broadcast
    assert banks.degree([[5] for _ in range(32)]) == 1
    # 128-bit accesses: phases of 8 lanes; 8 lanes 32 bytes apart hit each bank group twice
    assert banks.degree([[8 * t + i for i in range(4)] for t in range(32)]) == 2
    assert banks.degree([[4 * t + i for i in range(4)] for t in range(32)]) == 1


def test_index_evaluation_floors_like_the_ir():
    x = Var("x")
    assert banks.evaluate((x * 3 + 1) // 4 % 5, {x: 7}) == 0
    assert banks.evaluate(-x // 4, {x: 1}) == -1


needs_tools = pytest.mark.skipif(find_nvcc() is None or sass.find_tool("cuobjdump") is None,
                                 reason="needs nvcc and cuobjdump (pip install 'nestor[gpu-tools]')")


@needs_tools
def test_the_default_matmul_meets_the_machine_code_targets():
    from benchmarks.gpu_sass import _matmul, analyse

    (row,) = analyse("matmul", lambda: _matmul(1024))
    assert row["hot_loop_ffma"] >= 0.85
    assert row["spill_bytes"] == 0
    assert set(row["global_loads"]) == {128} and set(row["hot_shared_loads"]) == {128}
    assert row["bank_conflict_degree"] == 1
    assert row["blocks_per_sm"] >= 2
    assert row["double_buffered"] and row["tile_loop_barriers"] == 1
