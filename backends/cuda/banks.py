"""Shared-memory bank conflicts from the index expressions of a kernel: for each access to a
shared buffer, the addresses that the 32 lanes of the first warp touch, and the conflict degree
(the most distinct 4-byte words that one memory phase asks of one of the 32 banks; 1 is
conflict-free).

The widest access the expressions allow is assumed: an access whose offset steps by 1 along an
enclosing unrolled or vectorized loop and is a multiple of 4 (or 2) where that loop starts is
taken as 128-bit (or 64-bit), as a ``float4`` access or nvcc's merging of an unrolled loop makes
it. A 128-bit
access is served in four phases of 8 lanes, a 64-bit one in two of 16, a 32-bit one in one.
Loop variables other than thread indices are taken at the start of their loop; block indices
are 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.buffer import Scope
from tensorir.expr import Binary, BinaryOp, BufferLoad, Cast, CheckedIndex, Const, Expr, Select, Unary, UnaryOp, Var
from tensorir.stmt import For, ForKind, Stmt, Store
from tensorir.visitor import walk

from .kernels import KernelNest

WARP = 32
BANKS = 32


class _Unknown(Exception):
    """An index that this model cannot evaluate (it reads memory, or uses an unknown operator)."""


def evaluate(e: Expr, env: dict[Var, int]) -> int:
    """The integer value of index expression ``e`` with variables bound by ``env`` (floor
    division and modulo as in the IR)."""
    match e:
        case Const(value=v):
            return int(v)
        case Var():
            return env.get(e, 0)
        case Cast(value=inner) | CheckedIndex(value=inner):
            return evaluate(inner, env)
        case Unary(op=UnaryOp.NEG, a=a):
            return -evaluate(a, env)
        case Select(cond=cond, true_value=t, false_value=f):
            return evaluate(t if evaluate(cond, env) else f, env)
        case Binary(op=op, a=a, b=b):
            return _binary(op, evaluate(a, env), evaluate(b, env))
    raise _Unknown(type(e).__name__)


def _binary(op: BinaryOp, x: int, y: int) -> int:
    match op:
        case BinaryOp.ADD:
            return x + y
        case BinaryOp.SUB:
            return x - y
        case BinaryOp.MUL:
            return x * y
        case BinaryOp.FLOORDIV:
            return x // y if y else 0
        case BinaryOp.FLOORMOD:
            return x % y if y else 0
        case BinaryOp.MIN:
            return min(x, y)
        case BinaryOp.MAX:
            return max(x, y)
        case BinaryOp.LT:
            return int(x < y)
        case BinaryOp.LE:
            return int(x <= y)
        case BinaryOp.GT:
            return int(x > y)
        case BinaryOp.GE:
            return int(x >= y)
        case BinaryOp.EQ:
            return int(x == y)
        case BinaryOp.NE:
            return int(x != y)
        case BinaryOp.AND:
            return int(bool(x) and bool(y))
        case BinaryOp.OR:
            return int(bool(x) or bool(y))
    raise _Unknown(op.name)


@dataclass(frozen=True)
class SharedAccess:
    """One shared-memory access of a kernel and its conflict degree (0 where not evaluable)."""

    buffer: str
    kind: str  # "load" or "store"
    bits: int
    degree: int
    text: str


def _lanes(kernel: KernelNest) -> list[dict[str, int]]:
    """``threadIdx`` of the first warp's lanes."""
    bx, by, _ = kernel.block
    return [{"x": t % bx, "y": t // bx % by, "z": t // (bx * by)}
            for t in range(min(WARP, kernel.block[0] * kernel.block[1] * kernel.block[2]))]


def _env(loops: list[For], lane: dict[str, int]) -> dict[Var, int]:
    env: dict[Var, int] = {}
    for loop in loops:
        start = evaluate(loop.min, env)
        if loop.kind is ForKind.THREAD_BINDING and loop.thread_tag.startswith("threadIdx"):
            start += lane[loop.thread_tag[-1]]
        env[loop.var] = start
    return env


def _width(offset: Expr, loops: list[For], lanes: list[dict[str, int]]) -> int:
    """4, 2 or 1 elements: the widest access the offset allows along an enclosing unrolled or
    vectorized loop of constant extent (the innermost one that it depends on)."""
    for loop in reversed(loops):
        if loop.kind not in (ForKind.UNROLLED, ForKind.VECTORIZED) or not isinstance(loop.extent, Const):
            continue
        if not any(node is loop.var for node in walk(offset)):
            continue
        for lanes_wide in (4, 2):
            if loop.extent.value % lanes_wide:
                continue
            if all(_steps_by_one(offset, loop, lanes_wide, _env(loops, lane)) for lane in lanes):
                return lanes_wide
        return 1
    return 1


def _steps_by_one(offset: Expr, loop: For, wide: int, env: dict[Var, int]) -> bool:
    first = evaluate(offset, env)
    if first % wide:
        return False
    return all(evaluate(offset, env | {loop.var: env[loop.var] + lane}) == first + lane for lane in range(wide))


def degree(words_per_lane: list[list[int]], itemsize: int = 4) -> int:
    """The conflict degree of one warp access: ``words_per_lane[t]`` are the element offsets lane
    ``t`` touches (consecutive, one vector). Lanes are served in phases of 128 bytes."""
    if not words_per_lane:
        return 1
    lane_bytes = len(words_per_lane[0]) * itemsize
    per_phase = max(1, 128 // lane_bytes)
    worst = 1
    for start in range(0, len(words_per_lane), per_phase):
        banks: dict[int, set[int]] = {}
        for words in words_per_lane[start:start + per_phase]:
            for element in words:
                word = element * itemsize // 4
                banks.setdefault(word % BANKS, set()).add(word)
        worst = max(worst, max(len(words) for words in banks.values()))
    return worst


def _access(node, loops: list[For], kernel: KernelNest, kind: str) -> SharedAccess:
    (offset,) = node.indices
    itemsize = node.buffer.dtype.numpy.itemsize
    lanes = _lanes(kernel)
    try:
        wide = _width(offset, loops, lanes) if itemsize == 4 else 1
        words = []
        for lane in lanes:
            first = evaluate(offset, _env(loops, lane))
            words.append([first + i for i in range(wide)])
        found = degree(words, itemsize)
    except _Unknown:
        wide, found = 1, 0
    logical = node.logical if node.logical is not None else node.indices
    text = f"{node.buffer.name}[{', '.join(str(i) for i in logical)}]"
    return SharedAccess(node.buffer.name, kind, wide * itemsize * 8, found, text)


def shared_accesses(kernel: KernelNest) -> list[SharedAccess]:
    """Every distinct shared access of ``kernel`` (flattened IR) with its width and conflict degree."""
    found: dict[tuple, SharedAccess] = {}

    def visit(s: Stmt, loops: list[For]) -> None:
        if isinstance(s, For):
            visit(s.body, loops + [s])
            return
        if isinstance(s, Store) and s.buffer.scope is Scope.SHARED:
            access = _access(s, loops, kernel, "store")
            found.setdefault((access.text, "store"), access)
        if isinstance(s, Store):
            exprs: tuple = (s.value, *s.indices)
        else:
            exprs = tuple(v for v in vars(s).values() if isinstance(v, Expr))
        for e in exprs:
            for node in walk(e):
                if isinstance(node, BufferLoad) and node.buffer.scope is Scope.SHARED:
                    access = _access(node, loops, kernel, "load")
                    found.setdefault((access.text, "load"), access)
        for child in vars(s).values():
            if isinstance(child, Stmt):
                visit(child, loops)
            elif isinstance(child, tuple):
                for item in child:
                    if isinstance(item, Stmt):
                        visit(item, loops)

    visit(kernel.body, [])
    return list(found.values())


