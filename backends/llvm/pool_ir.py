"""Nestor's thread pool for parallel loops, as LLVM IR (see :mod:`.pool` for how it is loaded).

A parallel loop's caller publishes its job (the outlined loop body and its context) under a new
generation of one 32-bit state word, runs the job itself, then closes the generation and waits
only for the workers that joined it. The state word holds the generation (bits 17 and up), a
closed bit (16) and the count of workers inside the job (bits 0-15).

- A worker joins with a compare-and-swap that succeeds only while its generation is open, so it
  reads the job only while the caller still waits for it; one that wakes late finds the
  generation closed and never touches the caller's data.
- The job itself takes its chunks of iterations from an atomic counter in its context, so the
  caller's run takes every chunk no worker took: it never waits for a thread that is asleep or
  has no core (libgomp's team waits for every thread at the region's end).
- One caller at a time owns the pool (``busy``); a second caller (another Python thread, or a
  parallel loop inside a chunk) runs its job alone on its own thread.
- An idle worker spins ``spin`` times on the state word, then sleeps on it (a futex through
  libc's ``syscall``); a caller wakes sleepers only when there are any.
- Every :data:`YIELD_EVERY`-th look of a spin (the worker's, and the caller's wait for joined
  workers) yields the core instead of pausing where the thread it waits for last ran on the
  same CPU (``sched_getcpu``: the caller records its CPU as it publishes and returns, a worker
  as it joins). Where another process holds the other core, the scheduler puts both of a
  caller's threads on one: a worker spinning there held the caller off its core, spent its
  spin, slept, and the caller's futex wake then gave the core to the worker (256^3 on 2 threads
  under load: the worker slept before 40% of the calls, the caller was preempted as often, and
  a call that waited for the other took 0.6-2.8 ms, not 0.3). On a core of its own a thread
  never yields: a yield there would hand the core to another process, and a worker behind it
  misses the calls it could have joined.
"""

from __future__ import annotations

from llvmlite import ir

from .types import I8P, I32, I64, VOID

ACTIVE = 0xFFFF
CLOSED = 1 << 16
GENERATION_SHIFT = 17
FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129
#: pauses a caller spins while a joined worker finishes its chunk, before it yields its core
#: at every look
JOIN_SPIN = 4096
#: the spins' looks between two yields of the core (a power of two; ``nestor_pool_set_yield``
#: changes it, 0 for never): a pause is ~25 ns on the 2-core host, a yield with no other thread
#: to run ~0.3 us, so a spinning thread gives a thread that waits for its core a turn every ~1 us
YIELD_EVERY = 32

TASK = ir.FunctionType(VOID, [I8P])
#: the workers' thread name (``/proc/<pid>/task/<tid>/comm``)
THREAD_NAME = "nestor-pool"

#: the runtime's entry points a kernel calls, and those :mod:`.pool` calls through ctypes
RUN, THREADS = "nestor_pool_run", "nestor_pool_threads"
SPAWN, RESET, SET_SPIN = "nestor_pool_spawn", "nestor_pool_reset", "nestor_pool_set_spin"
SET_YIELD = "nestor_pool_set_yield"
#: the ``yield_mask`` that never matches a look's count (spins stay below 2^31)
NEVER = 0xFFFFFFFF


def c32(value: int) -> ir.Constant:
    return ir.Constant(I32, value)


class _Pool:
    """The module under construction: its globals and the libc functions it calls."""

    def __init__(self, triple: str, futex: int, pause: str):
        self.module = ir.Module("nestor_pool")
        self.module.triple = triple
        self.futex_number, self.pause = futex, pause
        self.state, self.busy, self.sleepers = (self._word(n, 0) for n in ("state", "busy", "sleepers"))
        self.workers, self.team, self.spin = self._word("workers", 0), self._word("team", 1), self._word("spin", 0)
        self.yield_mask = self._word("yield_mask", YIELD_EVERY - 1)
        #: the CPU each side last ran on (-1: not known yet), for :meth:`relax_or_yield`
        self.caller_cpu, self.worker_cpu = self._word("caller_cpu", -1), self._word("worker_cpu", -1)
        self.getcpu = ir.Function(self.module, ir.FunctionType(I32, []), "sched_getcpu")
        self.job_fn = self._global("job_fn", TASK.as_pointer(), None)
        self.job_ctx = self._global("job_ctx", I8P, None)
        self.syscall = ir.Function(self.module, ir.FunctionType(I64, [I64], var_arg=True), "syscall")
        self.sched_yield = ir.Function(self.module, ir.FunctionType(I32, []), "sched_yield")

    def _global(self, name, ty, value):
        var = ir.GlobalVariable(self.module, ty, f"nestor_pool.{name}")
        var.linkage = "internal"
        var.initializer = ir.Constant(ty, value)
        var.align = 64  # each word on its own cache line
        return var

    def _word(self, name: str, value: int):
        return self._global(name, I32, value)

    def function(self, name: str, ret, args) -> tuple[ir.Function, ir.IRBuilder]:
        fn = ir.Function(self.module, ir.FunctionType(ret, args), name)
        fn.attributes.add("nounwind")
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    def relax(self, b: ir.IRBuilder) -> None:
        """The spin-wait hint (x86 ``pause``, AArch64 ``yield``: ``llvm.aarch64.hint(1)``)."""
        match self.pause:
            case "pause":
                b.call(self._intrinsic("llvm.x86.sse2.pause", []), [])
            case "yield":
                b.call(self._intrinsic("llvm.aarch64.hint", [I32]), [c32(1)])

    def record_cpu(self, b: ir.IRBuilder, word) -> None:
        b.store_atomic(b.call(self.getcpu, []), word, "monotonic", 4)

    def relax_or_yield(self, fn: ir.Function, b: ir.IRBuilder, looks, other_cpu) -> None:
        """One look of a spin that found nothing: :meth:`relax`, or yield the core where
        ``looks`` is at a multiple of the yield period (``yield_mask``) and the thread waited
        for last ran on this CPU (the word ``other_cpu``)."""
        mask = b.load_atomic(self.yield_mask, "monotonic", 4)
        check, give, pause, on = (fn.append_basic_block(n) for n in ("check", "give", "pause", "on"))
        b.cbranch(b.icmp_unsigned("==", b.and_(looks, mask), mask), check, pause)
        b.position_at_end(check)
        shared = b.icmp_signed("==", b.call(self.getcpu, []), b.load_atomic(other_cpu, "monotonic", 4))
        b.cbranch(shared, give, pause)
        b.position_at_end(give)
        b.call(self.sched_yield, [])
        b.branch(on)
        b.position_at_end(pause)
        self.relax(b)
        b.branch(on)
        b.position_at_end(on)

    def _intrinsic(self, name: str, args) -> ir.Function:
        known = self.module.globals.get(name)
        return known if known is not None else ir.Function(self.module, ir.FunctionType(VOID, args), name)

    def futex(self, b: ir.IRBuilder, op: int, value) -> None:
        null = ir.Constant(I8P, None)
        b.call(self.syscall, [ir.Constant(I64, self.futex_number), self.state, ir.Constant(I64, op),
                              b.zext(value, I64), null])


def build(triple: str, futex: int, pause: str) -> ir.Module:
    """The pool's module for ``triple``: ``futex`` is the futex system call's number there and
    ``pause`` the spin-wait hint instruction (``""`` for none)."""
    pool = _Pool(triple, futex, pause)
    _run(pool)
    worker = _worker(pool)
    _spawn(pool, worker)
    _small_entries(pool)
    return pool.module


def _run(pool: _Pool) -> None:
    """``nestor_pool_run(fn, ctx)``: run ``fn(ctx)`` with the idle workers' help."""
    fn, b = pool.function(RUN, VOID, [TASK.as_pointer(), I8P])
    task, ctx = fn.args
    alone, publish = fn.append_basic_block("alone"), fn.append_basic_block("publish")
    has_workers = b.icmp_unsigned("!=", b.load_atomic(pool.workers, "monotonic", 4), c32(0))
    won = b.extract_value(b.cmpxchg(pool.busy, c32(0), c32(1), "acquire", "monotonic"), 1)
    b.cbranch(b.and_(has_workers, won), publish, alone)
    b.position_at_end(alone)
    b.call(task, [ctx])
    b.ret_void()
    b.position_at_end(publish)
    pool.record_cpu(b, pool.caller_cpu)
    b.store(task, pool.job_fn)
    b.store(ctx, pool.job_ctx)
    old = b.load_atomic(pool.state, "monotonic", 4)
    generation = b.add(b.lshr(old, c32(GENERATION_SHIFT)), c32(1))
    b.store_atomic(b.shl(generation, c32(GENERATION_SHIFT)), pool.state, "seq_cst", 4)
    wake, work = fn.append_basic_block("wake"), fn.append_basic_block("work")
    b.cbranch(b.icmp_unsigned("!=", b.load_atomic(pool.sleepers, "seq_cst", 4), c32(0)), wake, work)
    b.position_at_end(wake)
    pool.futex(b, FUTEX_WAKE_PRIVATE, c32(0x7FFFFFFF))
    b.branch(work)
    b.position_at_end(work)
    b.call(task, [ctx])
    b.atomic_rmw("or", pool.state, c32(CLOSED), "seq_cst")
    _wait_for_joined(pool, fn, b)
    pool.record_cpu(b, pool.caller_cpu)  # where the caller will likely be when the worker next spins
    b.store_atomic(c32(0), pool.busy, "release", 4)
    b.ret_void()


def _wait_for_joined(pool: _Pool, fn: ir.Function, b: ir.IRBuilder) -> None:
    """Wait until no worker is inside the closed job: spin, then yield the core between looks."""
    entry = b.block
    poll, spin, relax, give, done = (fn.append_basic_block(n) for n in ("poll", "spin", "relax", "give", "joined"))
    b.branch(poll)
    b.position_at_end(poll)
    count = b.phi(I32)
    active = b.and_(b.load_atomic(pool.state, "acquire", 4), c32(ACTIVE))
    b.cbranch(b.icmp_unsigned("==", active, c32(0)), done, spin)
    b.position_at_end(spin)
    b.cbranch(b.icmp_unsigned("<", count, c32(JOIN_SPIN)), relax, give)
    b.position_at_end(relax)
    pool.relax_or_yield(fn, b, count, pool.worker_cpu)
    more = b.add(count, c32(1))
    spun = b.block
    b.branch(poll)
    b.position_at_end(give)
    b.call(pool.sched_yield, [])
    b.branch(poll)
    count.add_incoming(c32(0), entry)
    count.add_incoming(more, spun)
    count.add_incoming(c32(JOIN_SPIN), give)
    b.position_at_end(done)


def _worker(pool: _Pool) -> ir.Function:
    """A worker's thread function: wait for a generation it has not seen, join it if it is
    still open, run the job, leave; forever."""
    fn, b = pool.function("nestor_pool.worker", I8P, [I8P])
    fn.linkage = "internal"
    idle, poll, join, run = (fn.append_basic_block(n) for n in ("idle", "poll", "join", "run"))
    first_seen = b.lshr(b.load_atomic(pool.state, "acquire", 4), c32(GENERATION_SHIFT))
    entry = b.block
    b.branch(idle)
    b.position_at_end(idle)
    seen = b.phi(I32)
    seen.add_incoming(first_seen, entry)
    b.branch(poll)
    b.position_at_end(poll)
    spins = b.phi(I32)
    spins.add_incoming(c32(0), idle)
    state = b.load_atomic(pool.state, "acquire", 4)
    new = fn.append_basic_block("new")
    wait = fn.append_basic_block("wait")
    b.cbranch(b.icmp_unsigned("!=", b.lshr(state, c32(GENERATION_SHIFT)), seen), new, wait)
    _idle_wait(pool, fn, b, wait, poll, spins, seen)
    b.position_at_end(new)
    b.branch(join)
    b.position_at_end(join)
    current = b.phi(I32)
    current.add_incoming(state, new)
    generation = b.lshr(current, c32(GENERATION_SHIFT))
    seen.add_incoming(generation, join)
    attempt = fn.append_basic_block("attempt")
    b.cbranch(b.icmp_unsigned("!=", b.and_(current, c32(CLOSED)), c32(0)), idle, attempt)
    b.position_at_end(attempt)
    swapped = b.cmpxchg(pool.state, current, b.add(current, c32(1)), "acq_rel", "acquire")
    current.add_incoming(b.extract_value(swapped, 0), attempt)
    b.cbranch(b.extract_value(swapped, 1), run, join)
    b.position_at_end(run)
    pool.record_cpu(b, pool.worker_cpu)
    b.call(b.load(pool.job_fn), [b.load(pool.job_ctx)])
    b.atomic_rmw("sub", pool.state, c32(1), "release")
    seen.add_incoming(generation, run)
    b.branch(idle)
    return fn


def _idle_wait(pool: _Pool, fn, b: ir.IRBuilder, wait, poll, spins, seen) -> None:
    """Nothing new: spin ``spin`` times, then sleep on the state word while it is unchanged
    (counted in ``sleepers``, so that a caller knows to wake it)."""
    b.position_at_end(wait)
    relax, sleep, nap = (fn.append_basic_block(n) for n in ("relax", "sleep", "nap"))
    b.cbranch(b.icmp_unsigned("<", spins, b.load_atomic(pool.spin, "monotonic", 4)), relax, sleep)
    b.position_at_end(relax)
    pool.relax_or_yield(fn, b, spins, pool.caller_cpu)
    spins.add_incoming(b.add(spins, c32(1)), b.block)
    b.branch(poll)
    b.position_at_end(sleep)
    b.atomic_rmw("add", pool.sleepers, c32(1), "seq_cst")
    state = b.load_atomic(pool.state, "seq_cst", 4)
    awake = fn.append_basic_block("awake")
    b.cbranch(b.icmp_unsigned("==", b.lshr(state, c32(GENERATION_SHIFT)), seen), nap, awake)
    b.position_at_end(nap)
    pool.futex(b, FUTEX_WAIT_PRIVATE, state)
    b.branch(awake)
    b.position_at_end(awake)
    b.atomic_rmw("sub", pool.sleepers, c32(1), "seq_cst")
    spins.add_incoming(c32(0), awake)
    b.branch(poll)


def _spawn(pool: _Pool, worker: ir.Function) -> None:
    """``nestor_pool_spawn()``: start one more worker (detached); 0, or pthread_create's error."""
    module = pool.module
    create = ir.Function(module, ir.FunctionType(I32, [I64.as_pointer(), I8P, worker.type, I8P]), "pthread_create")
    detach = ir.Function(module, ir.FunctionType(I32, [I64]), "pthread_detach")
    name_thread = ir.Function(module, ir.FunctionType(I32, [I64, I8P]), "pthread_setname_np")
    fn, b = pool.function(SPAWN, I32, [])
    handle = b.alloca(I64)
    error = b.call(create, [handle, ir.Constant(I8P, None), worker, ir.Constant(I8P, None)])
    started, done = fn.append_basic_block("started"), fn.append_basic_block("done")
    b.cbranch(b.icmp_unsigned("==", error, c32(0)), started, done)
    b.position_at_end(started)
    b.call(name_thread, [b.load(handle), b.bitcast(_text(module, "name", THREAD_NAME), I8P)])  # for top -H, ps -L
    b.call(detach, [b.load(handle)])
    b.atomic_rmw("add", pool.team, c32(1), "seq_cst")
    b.atomic_rmw("add", pool.workers, c32(1), "seq_cst")
    b.branch(done)
    b.position_at_end(done)
    b.ret(error)


def _text(module: ir.Module, name: str, text: str) -> ir.GlobalVariable:
    data = bytearray(text.encode() + b"\0")
    var = ir.GlobalVariable(module, ir.ArrayType(ir.IntType(8), len(data)), f"nestor_pool.{name}")
    var.linkage, var.global_constant = "internal", True
    var.initializer = ir.Constant(var.type.pointee, data)
    return var


def _small_entries(pool: _Pool) -> None:
    """``nestor_pool_threads()`` (the team a job is split for), ``nestor_pool_set_spin(n)``,
    ``nestor_pool_set_yield(mask)`` (the spins yield where ``looks & mask == mask``), and
    ``nestor_pool_reset()`` (in a forked child, whose workers did not survive the fork)."""
    fn, b = pool.function(THREADS, I32, [])
    b.ret(b.load_atomic(pool.team, "monotonic", 4))
    fn, b = pool.function(SET_SPIN, VOID, [I32])
    b.store_atomic(fn.args[0], pool.spin, "monotonic", 4)
    b.ret_void()
    fn, b = pool.function(SET_YIELD, VOID, [I32])
    b.store_atomic(fn.args[0], pool.yield_mask, "monotonic", 4)
    b.ret_void()
    fn, b = pool.function(RESET, VOID, [])
    for word, value in ((pool.workers, 0), (pool.team, 1), (pool.state, 0), (pool.busy, 0), (pool.sleepers, 0)):
        b.store_atomic(c32(value), word, "seq_cst", 4)
    b.ret_void()
