"""Reading the machine code nvcc makes, without a GPU: ``ptxas -v`` resource usage, SASS listings
(``cuobjdump -sass``) split into kernels and loops, load widths, the FFMA share of the hot loop,
and occupancy from the sm_90 limits.

The disassemblers are not part of every CUDA install; the ``nvidia-cuda-cuobjdump`` wheel (the
``[gpu-tools]`` extra) carries ``cuobjdump``. :func:`find_tool` looks on PATH, under CUDA_HOME and
in the ``nvidia`` wheels of the running Python.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from tensorir.errors import BackendUnavailable, CodegenError
from tensorir.intmath import round_up

from .nvcc import find_nvcc


@dataclass(frozen=True)
class Instruction:
    """One SASS instruction: its byte address, guard predicate (or ""), opcode with modifiers
    (``LDG.E.128``) and operand text."""

    address: int
    predicate: str
    opcode: str
    operands: str

    @property
    def base(self) -> str:
        """The opcode without modifiers: ``LDG``."""
        return self.opcode.split(".")[0]

    @property
    def bits(self) -> int:
        """The access width of a load or store (32 unless a ``.64``/``.128``/``.U8``... modifier says)."""
        for part in self.opcode.split(".")[1:]:
            if part in ("64", "128"):
                return int(part)
            if part in ("U8", "S8"):
                return 8
            if part in ("U16", "S16"):
                return 16
        return 32

    def branch_target(self) -> int | None:
        """The target address of a ``BRA`` (cuobjdump's ``BRA 0x1f0`` or ``BRA `(.L_x_3)`` with labels)."""
        if self.base != "BRA":
            return None
        found = re.search(r"0x([0-9a-fA-F]+)", self.operands)
        return int(found.group(1), 16) if found else None


@dataclass(frozen=True)
class Loop:
    """The instructions from a backward branch's target to the branch itself."""

    start: int
    end: int
    body: tuple[Instruction, ...]

    def count(self, *bases: str) -> int:
        return sum(1 for i in self.body if i.base in bases)

    @property
    def ffma_share(self) -> float:
        """FFMA instructions over all instructions of the loop (NOPs left out)."""
        work = [i for i in self.body if i.base != "NOP"]
        return sum(1 for i in work if i.base == "FFMA") / len(work) if work else 0.0


_LINE = re.compile(r"/\*([0-9a-fA-F]{4,})\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z0-9_.]+)\s*([^;]*);")
_FUNCTION = re.compile(r"^\s*Function\s*:\s*(\S+)")


def parse_sass(text: str) -> dict[str, tuple[Instruction, ...]]:
    """The instructions of each kernel of a ``cuobjdump -sass`` listing, by kernel name."""
    kernels: dict[str, list[Instruction]] = {}
    current: list[Instruction] | None = None
    for line in text.splitlines():
        header = _FUNCTION.match(line)
        if header:
            current = kernels.setdefault(header.group(1), [])
            continue
        found = _LINE.search(line)
        if found and current is not None:
            address, predicate, opcode, operands = found.groups()
            current.append(Instruction(int(address, 16), (predicate or "").strip(), opcode, operands.strip()))
    return {name: tuple(body) for name, body in kernels.items()}


def loops(instructions: tuple[Instruction, ...]) -> list[Loop]:
    """Every loop of a kernel: a branch back to an earlier (or the same) address closes one."""
    found = []
    for instruction in instructions:
        target = instruction.branch_target()
        if target is not None and target <= instruction.address:
            body = tuple(i for i in instructions if target <= i.address <= instruction.address)
            found.append(Loop(target, instruction.address, body))
    return found


def hot_loop(instructions: tuple[Instruction, ...]) -> Loop | None:
    """The loop where the arithmetic is: the innermost loop holding the most FFMAs (ties: the
    shortest), or None where the kernel has no loop with an FFMA."""
    candidates = [loop for loop in loops(instructions) if loop.count("FFMA")]
    if not candidates:
        return None
    return max(candidates, key=lambda loop: (loop.count("FFMA"), -len(loop.body)))


def tile_loop(instructions: tuple[Instruction, ...], hot: Loop) -> Loop:
    """The loop that steps through the tiles around ``hot``: the smallest loop enclosing it that
    holds a barrier (``hot`` itself where none does)."""
    around = [loop for loop in loops(instructions)
              if loop.start <= hot.start and hot.end <= loop.end and loop.count("BAR")]
    return min(around, key=lambda loop: len(loop.body), default=hot)


def double_buffered(tile: Loop) -> bool:
    """Whether a tile loop is double-buffered: it issues the next tile's global loads and meets
    one barrier per step (a single-buffered loop needs two: before and after the tile is read)."""
    return tile.count("LDG") > 0 and tile.count("BAR") == 1


def load_widths(instructions, base: str) -> dict[int, int]:
    """How many ``base`` instructions (``LDG``, ``LDS``, ``STS``...) of each width in bits."""
    widths: dict[int, int] = {}
    for instruction in instructions:
        if instruction.base == base:
            widths[instruction.bits] = widths.get(instruction.bits, 0) + 1
    return dict(sorted(widths.items()))


@dataclass(frozen=True)
class Resources:
    """What ``ptxas -v`` reports for one kernel."""

    registers: int
    spill_stores: int
    spill_loads: int
    shared_bytes: int
    stack_bytes: int


_PTXAS_FUNCTION = re.compile(r"Compiling entry function '([^']+)'|Function properties for (\S+)")


def parse_ptxas(log: str) -> dict[str, Resources]:
    """Per kernel, the registers, spills, static shared memory and stack of a ``ptxas -v`` log."""
    found: dict[str, dict[str, int]] = {}
    name = None
    for line in log.splitlines():
        header = _PTXAS_FUNCTION.search(line)
        if header:
            name = header.group(1) or header.group(2)
            found.setdefault(name, {})
            continue
        if name is None:
            continue
        facts = found[name]
        for key, pattern in (("stack", r"(\d+) bytes stack frame"), ("spill_stores", r"(\d+) bytes spill stores"),
                             ("spill_loads", r"(\d+) bytes spill loads"), ("registers", r"Used (\d+) registers"),
                             ("shared", r"(\d+) bytes smem")):
            match = re.search(pattern, line)
            if match:
                facts[key] = int(match.group(1))
    return {name: Resources(f.get("registers", 0), f.get("spill_stores", 0), f.get("spill_loads", 0),
                            f.get("shared", 0), f.get("stack", 0)) for name, f in found.items()}


@dataclass(frozen=True)
class SmLimits:
    """Per-SM limits of one architecture (defaults: sm_90, H100/H200)."""

    max_warps: int = 64
    max_blocks: int = 32
    registers: int = 65536
    register_unit: int = 256  # registers are allocated per warp in units of this many
    shared_bytes: int = 233472  # 228 KiB per SM
    shared_unit: int = 128
    shared_reserved_per_block: int = 1024


SM90 = SmLimits()


def blocks_per_sm(threads: int, registers: int, shared_bytes: int, limits: SmLimits = SM90) -> int:
    """Resident blocks per SM of a kernel with ``threads`` per block, ``registers`` per thread and
    ``shared_bytes`` of shared memory per block (static plus dynamic)."""
    warps = -(-threads // 32)
    by_warps = limits.max_warps // warps
    per_warp = round_up(max(registers, 1) * 32, limits.register_unit)
    by_registers = (limits.registers // per_warp) // warps
    per_block = round_up(shared_bytes + limits.shared_reserved_per_block, limits.shared_unit)
    by_shared = limits.shared_bytes // per_block
    return max(0, min(limits.max_blocks, by_warps, by_registers, by_shared))


def find_tool(name: str) -> str | None:
    """The path of a CUDA tool (``cuobjdump``, ``nvdisasm``): on PATH, next to nvcc, or in the
    ``nvidia-cuda-*`` wheels installed for this Python; None where none is found."""
    found = shutil.which(name)
    if found:
        return found
    nvcc = find_nvcc()
    if nvcc and os.access(os.path.join(os.path.dirname(nvcc), name), os.X_OK):
        return os.path.join(os.path.dirname(nvcc), name)
    for root in sys.path:
        for path in glob.glob(os.path.join(root, "nvidia", "*", "bin", name)):
            if os.access(path, os.X_OK):
                return path
    return None


@dataclass(frozen=True)
class Compiled:
    """A source compiled to a cubin with ``ptxas -v``: per kernel resources and SASS."""

    resources: dict[str, Resources]
    sass: dict[str, tuple[Instruction, ...]]
    listing: str


def compile_and_disassemble(source: str, arch: str = "sm_90") -> Compiled:
    """Compile ``source`` with ``nvcc -arch=<arch> -cubin -Xptxas -v`` and disassemble the cubin.

    Raises
    ------
    BackendUnavailable
        Where nvcc or cuobjdump is missing (``pip install 'nestor[gpu-tools]'`` brings cuobjdump).
    CodegenError
        Where nvcc rejects the source.
    """
    nvcc, cuobjdump = find_nvcc(), find_tool("cuobjdump")
    if nvcc is None:
        raise BackendUnavailable("reading SASS needs nvcc (the CUDA compiler); install the CUDA toolkit")
    if cuobjdump is None:
        raise BackendUnavailable("reading SASS needs cuobjdump, which this CUDA install lacks: "
                                 "pip install 'nestor[gpu-tools]' (the nvidia-cuda-cuobjdump wheel)")
    with tempfile.TemporaryDirectory(prefix="nestor_sass_") as folder:
        path, cubin = os.path.join(folder, "kernel.cu"), os.path.join(folder, "kernel.cubin")
        with open(path, "w") as handle:
            handle.write(source)
        done = subprocess.run([nvcc, f"-arch={arch}", "-cubin", "-O3", "-Xptxas", "-v", "-o", cubin, path],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CodegenError(f"nvcc -arch={arch} -cubin failed (exit {done.returncode}):\n{done.stderr.strip()}")
        listing = subprocess.run([cuobjdump, "-sass", cubin], capture_output=True, text=True, check=True).stdout
    return Compiled(parse_ptxas(done.stderr + done.stdout), parse_sass(listing), listing)
