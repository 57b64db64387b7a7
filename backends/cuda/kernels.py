"""Kernel boundaries and launch checks: a lowered function -> kernels with grid and block sizes.

Kernel boundaries
    Each statement at the root of the function (after peeling root allocations) becomes one
    kernel, launched in order. A root nest may write a global buffer that the next one reads,
    and only a kernel boundary orders all blocks of one before any block of the next. Root
    allocations of scope global become device buffers owned by the module; a root allocation of
    scope shared or local must be used by one kernel only.

Inside one kernel (the rules this module enforces, each with its own CodegenError)
    * The grid level is a perfect nest of loops bound to distinct ``blockIdx`` indices; no
      statement sits beside them (it would run once per block instead of once). Grid sizes are
      the extents of those loops.
    * Unbound loops. A serial, unrolled or vectorized loop that no GPU-bound loop encloses, and
      that encloses no ``threadIdx`` loop, would run serially on a single thread: it is refused,
      with a hint to bind it. A loop inside ``blockIdx`` loops (but outside the ``threadIdx``
      loops) is allowed: every thread of the block runs it, as in the reference interpreter. An
      unbound loop that encloses ``blockIdx`` loops is refused (blocks run in no order).
    * ``parallel`` loops are refused: they mean CPU threads.
    * Thread extents. Along each ``threadIdx`` index the block has the largest extent among the
      loops bound to it. A loop with a smaller extent runs under a guard
      ``if (threadIdx.x < extent)``. Guards reconcile stages of different extents unless (a) the
      guarded loop contains a barrier, which the threads past the guard would never reach, or
      (b) the loop is nested in a loop of the same index with a smaller extent, whose guard
      would drop the iterations past that extent. Both are refused, and so is a barrier under a
      condition or loop bound that depends on a thread index.
    * Limits (see :class:`Limits`): threads per block and per index, grid size per index,
      shared memory per block. Buffers of scope global cannot be allocated inside a kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tensorir.buffer import Buffer, Scope
from tensorir.errors import CodegenError
from tensorir.expr import BufferLoad, Call, Const, Func, Var
from tensorir.names import identifier
from tensorir.stmt import HOST_LOOP, Allocate, Evaluate, For, ForKind, IfThenElse, PrimFunc, Seq, Stmt, Store, While
from tensorir.symbolic import ShapeVar
from tensorir.thread_reduce import is_thread_allreduce
from tensorir.visitor import walk

from .cstyle import RESERVED

AXES = ("x", "y", "z")


@dataclass(frozen=True)
class Limits:
    """Launch limits checked at build time (defaults: every CUDA GPU since compute capability 3.0)."""

    max_threads: int = 1024
    max_block: tuple[int, int, int] = (1024, 1024, 64)
    max_grid: tuple[int, int, int] = (2**31 - 1, 65535, 65535)
    shared_memory_bytes: int = 48 * 1024


@dataclass(frozen=True, eq=False)
class KernelNest:
    """One kernel of a function: its body, the buffers it takes and its launch shape."""

    name: str
    body: Stmt
    params: tuple[Buffer, ...]
    written: frozenset[Buffer]
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    shared: tuple[Buffer, ...]
    root_locals: tuple[Buffer, ...] = ()
    #: the function's size variables, passed to every kernel as ints after its buffers (and the
    #: variable of its host loop, last)
    scalars: tuple[Var, ...] = ()
    #: the loop on the host that launches this kernel once per iteration (a scan's steps), if any;
    #: consecutive kernels of one host loop launch in turn at each iteration
    host_loop: For | None = None

    @property
    def shared_bytes(self) -> int:
        return sum(b.size * b.dtype.numpy.itemsize for b in self.shared)


def is_bound(s: Stmt, prefix: str = "") -> bool:
    return isinstance(s, For) and s.kind is ForKind.THREAD_BINDING and s.thread_tag.startswith(prefix)


def has(s: Stmt, predicate) -> bool:
    return any(isinstance(n, Stmt) and predicate(n) for n in walk(s))


def _is_barrier(s: Stmt) -> bool:
    # a cross-thread reduction synchronises the block as a barrier does
    return (isinstance(s, Evaluate) and isinstance(s.value, Call) and s.value.func is Func.BARRIER) \
        or is_thread_allreduce(s)


def _used_buffers(s: Stmt) -> tuple[set[Buffer], set[Buffer]]:
    used, written = set(), set()
    for node in walk(s):
        if isinstance(node, BufferLoad):
            used.add(node.buffer)
        elif isinstance(node, Store):
            used.add(node.buffer)
            written.add(node.buffer)
    return used, written


def _root_items(s: Stmt, allocations: list[Buffer], items: list[Stmt], hosts: list[For | None] | None = None,
                host: For | None = None) -> None:
    match s:
        case Allocate(buffer=buffer, body=body):
            allocations.append(buffer)
            _root_items(body, allocations, items, hosts, host)
        case Seq(stmts=stmts):
            for item in stmts:
                _root_items(item, allocations, items, hosts, host)
        case For(thread_tag=tag, body=body) if tag == HOST_LOOP and host is None:
            _root_items(body, allocations, items, hosts, s)
        case _:
            items.append(s)
            if hosts is not None:
                hosts.append(host)


def _sanitize(name: str) -> str:
    return identifier(name, prefix="k_", reserved=("_", "nestor_"), reserved_names=RESERVED)


def _kernel_names(func: PrimFunc, items: list[Stmt]) -> list[str]:
    base = _sanitize(func.name)
    if len(items) == 1:
        return [base]
    names: list[str] = []
    for position, item in enumerate(items):
        # named after the first global buffer it writes (not a register accumulator)
        stores = [n.buffer for n in walk(item) if isinstance(n, Store)]
        stored = next((b.name for b in stores if b.scope is Scope.GLOBAL),
                      stores[0].name if stores else str(position))
        name, n = f"{base}_{_sanitize(stored)}", 1
        while name in names:
            name = f"{base}_{_sanitize(stored)}_{n}"
            n += 1
        names.append(name)
    return names


def split_kernels(func: PrimFunc, limits: Limits | None = None) -> tuple[list[KernelNest], list[Buffer]]:
    """The kernels of ``func`` in launch order, and the global temporaries the module allocates."""
    limits = limits or Limits()
    allocations: list[Buffer] = []
    items: list[Stmt] = []
    hosts: list[For | None] = []
    _root_items(func.body, allocations, items, hosts)
    kept = [n for n, item in enumerate(items) if not (isinstance(item, Seq) and not item.stmts)]
    items, hosts = [items[n] for n in kept], [hosts[n] for n in kept]
    temporaries = [b for b in allocations if b.scope is Scope.GLOBAL]
    _check_symbolic_sizes(func, [n.buffer for n in walk(func.body) if isinstance(n, Allocate)])
    names = _kernel_names(func, items)
    usage = [_used_buffers(item) for item in items]
    _check_root_scoped(func, allocations, names, usage)
    kernels = []
    order = list(func.params) + temporaries
    for name, item, host, (used, written) in zip(names, items, hosts, usage):
        checker = _Checker(name, limits)
        grid, block, shared = checker.run(item)
        root_scoped = [b for b in allocations if b.scope is not Scope.GLOBAL and b in used]
        shared += [b for b in root_scoped if b.scope is Scope.SHARED and b not in shared]
        checker.check_shared(shared)
        kernels.append(KernelNest(
            name, item, tuple(b for b in order if b in used), frozenset(written), grid, block,
            tuple(shared), tuple(b for b in root_scoped if b.scope is Scope.LOCAL),
            func.scalars + ((host.var,) if host is not None else ()), host))
    return kernels, temporaries


def _check_symbolic_sizes(func: PrimFunc, buffers: list[Buffer]) -> None:
    for buffer in buffers:
        if not isinstance(buffer.size, int):
            raise CodegenError(
                f"cuda {func.name}: buffer {buffer.name} (scope {buffer.scope.value}) has the symbolic "
                f"shape {list(buffer.shape)}; GPU temporaries need a constant size: compute the stage "
                "inside a loop (compute_at) over a constant tile, or inline it")


def _check_root_scoped(func: PrimFunc, allocations, names, usage) -> None:
    for buffer in allocations:
        if buffer.scope is Scope.GLOBAL:
            continue
        users = [name for name, (used, _) in zip(names, usage) if buffer in used]
        if len(users) > 1:
            raise CodegenError(
                f"cuda {func.name}: buffer {buffer.name} of scope {buffer.scope.value} is allocated at "
                f"the top of the function and used by kernels {', '.join(users)}; such a buffer lives "
                f"in one kernel only: give it scope 'global', or compute it inside the loops of its "
                f"consumer with compute_at")


@dataclass
class _Context:
    thread_vars: frozenset[Var] = frozenset()
    open_extent: tuple[int | None, int | None, int | None] = (None, None, None)
    open_loop: tuple[For | None, For | None, For | None] = (None, None, None)
    bound: bool = False
    loop: For | None = None

    def enter(self, loop: For, **changes) -> _Context:
        values = dict(self.__dict__, loop=loop)
        values.update(changes)
        return _Context(**values)


@dataclass
class _Checker:
    kernel: str
    limits: Limits
    block: list[int] = field(default_factory=lambda: [1, 1, 1])
    thread_loops: list[tuple[For, bool]] = field(default_factory=list)
    shared: list[Buffer] = field(default_factory=list)

    def fail(self, message: str) -> CodegenError:
        return CodegenError(f"cuda kernel {self.kernel}: {message}")

    def run(self, item: Stmt) -> tuple[tuple[int, int, int], tuple[int, int, int], list[Buffer]]:
        grid_loops, body = self.grid(item)
        grid = [1, 1, 1]
        for loop in grid_loops:
            axis = AXES.index(loop.thread_tag[-1])
            grid[axis] = self.constant_extent(loop)
            if isinstance(grid[axis], int) and grid[axis] > self.limits.max_grid[axis]:
                raise self.fail(f"loop {loop.var.name} bound to {loop.thread_tag} has extent {grid[axis]}, "
                                f"over the limit of {self.limits.max_grid[axis]} blocks for that index; "
                                "bind a larger part of the loop to threadIdx or another blockIdx")
        self.visit(body, _Context(bound=bool(grid_loops), loop=grid_loops[-1] if grid_loops else None))
        self.check_guards()
        self.check_threads()
        return tuple(grid), tuple(self.block), list(self.shared)

    # -- grid level ------------------------------------------------------------------------
    def grid(self, s: Stmt) -> tuple[list[For], Stmt]:
        """The perfect nest of blockIdx loops at the top of ``s``, and the body it encloses."""
        chain: list[For] = []
        while has(s, lambda n: is_bound(n, "blockIdx")):
            match s:
                case For(kind=ForKind.PARALLEL):
                    raise self.parallel_error(s)
                case For() if is_bound(s, "blockIdx"):
                    same = next((c for c in chain if c.thread_tag == s.thread_tag), None)
                    if same is not None:
                        raise self.fail(f"loops {same.var.name} and {s.var.name} are both bound to "
                                        f"{s.thread_tag}; bind each blockIdx index once per kernel")
                    chain.append(s)
                    s = s.body
                case For(kind=ForKind.THREAD_BINDING):
                    inner = next(n for n in walk(s) if isinstance(n, For) and is_bound(n, "blockIdx"))
                    raise self.fail(f"loop {inner.var.name} bound to {inner.thread_tag} sits inside loop "
                                    f"{s.var.name} bound to {s.thread_tag}; blockIdx loops must enclose "
                                    "the threadIdx loops")
                case For():
                    inner = next(n for n in walk(s) if isinstance(n, For) and is_bound(n, "blockIdx"))
                    raise self.fail(f"loop {s.var.name} is not bound to a GPU index but encloses loop "
                                    f"{inner.var.name} bound to {inner.thread_tag}; blocks run in no "
                                    f"order, so bind {s.var.name} to a blockIdx index as well, or "
                                    "reorder it inside the blockIdx loops")
                case Allocate(body=body) | IfThenElse(then_body=body, else_body=None):
                    if isinstance(s, Allocate):
                        self.allocate(s.buffer, _Context())
                    s = body
                case _:
                    inner = next(n for n in walk(s) if isinstance(n, For) and is_bound(n, "blockIdx"))
                    raise self.fail(f"loop {inner.var.name} bound to {inner.thread_tag} sits beside other "
                                    "statements outside the blockIdx loops, which would run once per "
                                    "block; a kernel's blockIdx loops must enclose all its work "
                                    "(compute each stage at root in its own nest, or inside the "
                                    "innermost blockIdx loop)")
        return chain, s

    def constant_extent(self, loop: For) -> int:
        if is_bound(loop, "blockIdx") and not isinstance(loop.extent, Const) \
                and not any(isinstance(n, Var) and not isinstance(n, ShapeVar) for n in walk(loop.extent)):
            return loop.extent  # type: ignore[return-value]  # a grid of symbolic size, set at launch
        if not isinstance(loop.extent, Const) or loop.extent.value <= 0:
            raise self.fail(f"loop {loop.var.name} bound to {loop.thread_tag} has extent {loop.extent}; "
                            "GPU launch sizes must be positive constants")
        return loop.extent.value

    # -- block level -----------------------------------------------------------------------
    def visit(self, s: Stmt, ctx: _Context) -> None:
        match s:
            case For(kind=ForKind.PARALLEL):
                raise self.parallel_error(s)
            case For() if is_bound(s, "threadIdx"):
                self.thread_loop(s, ctx)
            case For() if is_bound(s, "blockIdx"):
                raise self.fail(f"loop {s.var.name} bound to {s.thread_tag} sits inside loop "
                                f"{ctx.loop.var.name if ctx.loop else '?'}; blockIdx loops must enclose "
                                "the threadIdx loops and every other loop of the kernel")
            case For():
                self.serial_loop(s, ctx)
            case IfThenElse(cond=cond, then_body=then_body, else_body=else_body):
                self.no_divergent_barrier(s, (cond,), ctx)
                self.visit(then_body, ctx)
                if else_body is not None:
                    self.visit(else_body, ctx)
            case Allocate(buffer=buffer, body=body):
                self.allocate(buffer, ctx)
                self.visit(body, ctx)
            case Seq(stmts=stmts):
                for item in stmts:
                    self.visit(item, ctx)
            case While(cond=cond, body=body):
                self.no_divergent_barrier(s, (cond,), ctx)
                self.visit(body, ctx)

    def parallel_error(self, s: For) -> CodegenError:
        return self.fail(f"loop {s.var.name} is marked parallel, which means CPU threads and has no "
                         f"meaning on a GPU; bind it instead, e.g. s[stage].bind({s.var.name!r}, "
                         "'blockIdx.x') (split it first to bind a part to threadIdx.x)")

    def serial_loop(self, s: For, ctx: _Context) -> None:
        if not ctx.bound and not has(s, lambda n: is_bound(n, "threadIdx")):
            extent = s.extent.value if isinstance(s.extent, Const) else s.extent
            raise self.fail(f"loop {s.var.name} (extent {extent}) is not bound to a GPU index and no "
                            "bound loop encloses it, so it would run serially on a single GPU thread; "
                            f"bind it: split it and bind the parts to 'blockIdx.x' and 'threadIdx.x' "
                            "(schedules.templates.gpu_generic.schedule_gpu(s) does this for every "
                            "stage; in a te.extern body, open the loop inside ib.scope_attr("
                            "te.thread_axis('threadIdx.x'), 'thread_extent', n) instead)")
        self.no_divergent_barrier(s, (s.min, s.extent), ctx)
        self.visit(s.body, ctx.enter(s))

    def thread_loop(self, s: For, ctx: _Context) -> None:
        axis = AXES.index(s.thread_tag[-1])
        extent = self.constant_extent(s)
        outer = ctx.open_extent[axis]
        if outer is not None and extent > outer:
            raise self.fail(
                f"loop {s.var.name} bound to {s.thread_tag} (extent {extent}) is nested in loop "
                f"{ctx.open_loop[axis].var.name} bound to the same index with the smaller extent {outer}; "
                f"threads past {outer} never reach it, so its iterations past {outer} would be lost: "
                f"give both loops the same extent (or a smaller one inside)")
        if extent > self.limits.max_block[axis]:
            raise self.fail(f"loop {s.var.name} bound to {s.thread_tag} has extent {extent}, over the "
                            f"limit of {self.limits.max_block[axis]} threads for that index; split it "
                            "with a smaller factor")
        self.block[axis] = max(self.block[axis], extent)
        self.thread_loops.append((s, has(s.body, _is_barrier)))
        extents, loops = list(ctx.open_extent), list(ctx.open_loop)
        extents[axis], loops[axis] = extent, s
        self.visit(s.body, ctx.enter(s, thread_vars=ctx.thread_vars | {s.var}, bound=True,
                                     open_extent=tuple(extents), open_loop=tuple(loops)))

    def no_divergent_barrier(self, s: Stmt, exprs: tuple, ctx: _Context) -> None:
        if not ctx.thread_vars or not has(s, _is_barrier):
            return
        used = next((n for e in exprs for n in walk(e) if isinstance(n, Var) and n in ctx.thread_vars),
                    None)
        if used is not None:
            what = (f"the condition {exprs[0]}" if isinstance(s, (IfThenElse, While))
                    else f"the range of loop {s.var.name}")
            raise self.fail(f"{what} depends on the thread loop {used.name} and encloses "
                            "a barrier (__syncthreads()) that some threads of the block would skip; "
                            "every thread must reach each barrier: move the barrier out of it")

    def allocate(self, buffer: Buffer, ctx: _Context) -> None:
        if buffer.scope is Scope.GLOBAL:
            where = f"inside loop {ctx.loop.var.name}" if ctx.loop is not None else "inside the kernel"
            raise self.fail(f"buffer {buffer.name} of scope global is allocated {where}, so every block "
                            "would need its own copy; give it scope 'shared' (one per block) or "
                            f"'local' (one per thread): s[{buffer.name!r}].set_scope('shared')")
        if buffer.scope is Scope.SHARED and buffer not in self.shared:
            self.shared.append(buffer)

    # -- whole-kernel checks ---------------------------------------------------------------
    def check_guards(self) -> None:
        for loop, has_barrier in self.thread_loops:
            axis = AXES.index(loop.thread_tag[-1])
            if has_barrier and loop.extent.value < self.block[axis]:
                raise self.fail(
                    f"loop {loop.var.name} bound to {loop.thread_tag} has extent {loop.extent.value} but "
                    f"the block has {self.block[axis]} threads along {loop.thread_tag} (the largest "
                    "extent of the loops bound to it), so it runs under a guard; it contains a barrier "
                    "(__syncthreads()) that the threads past the guard would never reach: give the "
                    f"loops bound to {loop.thread_tag} the same extent")

    def check_threads(self) -> None:
        threads = self.block[0] * self.block[1] * self.block[2]
        if threads > self.limits.max_threads:
            sizes = ", ".join(f"threadIdx.{a}={n}" for a, n in zip(AXES, self.block))
            raise self.fail(f"{threads} threads per block ({sizes}) exceed the limit of "
                            f"{self.limits.max_threads}; split the loops bound to threadIdx with "
                            "smaller factors")

    def check_shared(self, shared: list[Buffer]) -> None:
        total = sum(b.size * b.dtype.numpy.itemsize for b in shared)
        if total > self.limits.shared_memory_bytes:
            parts = ", ".join(f"{b.name}: {b.size * b.dtype.numpy.itemsize}" for b in shared)
            raise self.fail(f"{total} bytes of shared memory ({parts}) exceed the limit of "
                            f"{self.limits.shared_memory_bytes} bytes per block; use smaller tiles "
                            "or raise shared_memory_bytes where the device allows it")
