"""Parallel loops on OS threads: the loop body is outlined into a function that each thread runs,
taking chunks of iterations from a shared counter, on Nestor's thread pool (``nestor_pool_run``,
:mod:`.pool`) or on libgomp's team (``GOMP_parallel``) where the pool is off."""

from __future__ import annotations

from llvmlite import ir

from tensorir.buffer import Buffer
from tensorir.expr import BufferLoad, Const, Var
from tensorir.stmt import Allocate, For, IfThenElse, Seq, Stmt, Store
from tensorir.visitor import walk

from . import pool_ir
from .target import host_target
from .types import I8P, I32, I64, STORAGE, VOID, i64


def free_names(loop: Stmt) -> tuple[list[Var], list[Buffer]]:
    """The variables ``loop`` reads that it does not bind itself and the buffers it reads or
    writes that it does not allocate itself, each in order of first use (one walk)."""
    bound, inner = set(), set()
    variables: dict[Var, None] = {}
    buffers: dict[Buffer, None] = {}
    for node in walk(loop):
        match node:
            case For():
                bound.add(node.var)
            case Allocate():
                inner.add(node.buffer)
            case Var():
                variables.setdefault(node, None)
            case BufferLoad() | Store():
                buffers.setdefault(node.buffer, None)
    return [v for v in variables if v not in bound], [b for b in buffers if b not in inner]


#: statement executions (vector lanes counted) above which one parallel iteration is taken at a time
HEAVY_ITERATION = 1 << 16

#: the chunks per thread a parallel loop of light iterations is cut into: the last chunk a
#: thread takes is what the other may be left waiting for, where another process holds the
#: first off its core. 65536 x 64 x 64 on 2 threads: 4 a thread made each chunk an eighth of
#: the product; 16 cost nothing measurable (CPU time 5.43 vs 5.39-5.54 ms on one thread, 5.55
#: vs 5.55-5.63 on two, interleaved)
CHUNKS_PER_THREAD = 16


def iteration_work(body: Stmt) -> int:
    """Statement executions of one run of ``body`` (vector lanes counted), over its loops of
    static extent; a loop of symbolic extent counts once."""
    match body:
        case For(extent=Const(value=extent)):
            return extent * iteration_work(body.body)
        case For() | Allocate():
            return iteration_work(body.body)
        case Seq(stmts=stmts):
            return sum(iteration_work(item) for item in stmts)
        case IfThenElse(then_body=then_body, else_body=else_body):
            return max(iteration_work(then_body), iteration_work(else_body) if else_body is not None else 0)
    return 1


def emit_parallel(cg, loop: For) -> None:
    """Run ``loop``'s iterations split in chunks over the OpenMP thread team."""
    variables, buffers = free_names(loop)
    if cg.status is not None:  # the threads' failing subscript checks report there
        buffers.append(cg.status)
    state = cg.state
    # the context carries the buffers and variables the body uses, the loop's start and extent,
    # and the next iteration nobody has taken yet
    fields = [STORAGE[b.dtype].as_pointer() for b in buffers] + [I64] * (len(variables) + 3)
    context_type = ir.LiteralStructType(fields)
    cg.outlined += 1
    name = f"{cg.func.name}.parallel.{cg.outlined}"
    outlined = ir.Function(cg.module, ir.FunctionType(VOID, [I8P]), name=name)
    outlined.linkage = "internal"

    # the caller packs what the body needs into a context and starts the team
    context = cg.alloca_entry(context_type, align=8)
    start, extent = cg.as_i64(cg.expr(loop.min)), cg.as_i64(cg.expr(loop.extent))
    values = [state.buffers[b] for b in buffers] + [cg.as_i64(state.vars[v]) for v in variables]
    for position, value in enumerate(values + [start, extent, start]):
        cg.b.store(value, cg.b.gep(context, [ir.Constant(I32, 0), ir.Constant(I32, position)]))
    _write_body(cg, outlined, context_type, loop, buffers, variables)
    task = ir.FunctionType(VOID, [I8P]).as_pointer()
    if host_target().pool:
        cg.b.call(cg.declare(pool_ir.RUN, VOID, [task, I8P]), [outlined, cg.b.bitcast(context, I8P)])
        return
    gomp = cg.declare("GOMP_parallel", VOID, [task, I8P, I32, I32])
    cg.b.call(gomp, [outlined, cg.b.bitcast(context, I8P), ir.Constant(I32, 0), ir.Constant(I32, 0)])


def _write_body(cg, outlined, context_type, loop: For, buffers, variables) -> None:
    """The thread body: unpack the context, then take chunks of iterations from a shared counter
    until none is left (a thread slowed by another process does less of the work), running each
    in a function whose buffer parameters are ``noalias`` (so loads and stores of different
    buffers stay independent, as in the kernel itself)."""
    chunk_fn = _chunk_function(cg, outlined.name, loop, buffers, variables)
    state = cg.new_function(outlined)
    b = state.builder
    context = b.bitcast(outlined.args[0], context_type.as_pointer())
    count = len(buffers) + len(variables)
    loaded = [b.load(b.gep(context, [ir.Constant(I32, 0), ir.Constant(I32, k)])) for k in range(count + 2)]
    start, extent = loaded[-2], loaded[-1]
    counter = b.gep(context, [ir.Constant(I32, 0), ir.Constant(I32, count + 2)])
    team_size = pool_ir.THREADS if host_target().pool else "omp_get_num_threads"
    team = b.sext(b.call(cg.declare(team_size, I32, []), []), I64)
    # CHUNKS_PER_THREAD chunks per thread; one iteration at a time where each is heavy (a trip
    # to the counter is then free, and 33 tiles on 2 threads end 17 to 16, not 20 to 13)
    if iteration_work(loop.body) >= HEAVY_ITERATION:
        grain = i64(1)
    else:
        shares = b.mul(team, i64(CHUNKS_PER_THREAD))
        grain = b.sdiv(b.add(extent, b.sub(shares, i64(1))), shares)
    limit = b.add(start, extent)
    take = b.append_basic_block("take")
    run = b.append_basic_block("run")
    done = b.append_basic_block("done")
    b.branch(take)
    b.position_at_end(take)
    first = b.atomic_rmw("add", counter, grain, "monotonic")
    b.cbranch(b.icmp_signed("<", first, limit), run, done)
    b.position_at_end(run)
    last = b.add(first, grain)
    last = b.select(b.icmp_signed("<", last, limit), last, limit)
    b.call(chunk_fn, loaded[:-2] + [first, last])
    b.branch(take)
    b.position_at_end(done)
    b.ret_void()


def noalias_function(cg, name: str, buffers, value_types) -> tuple[ir.Function, object]:
    """An internal, always-inlined function of ``buffers`` (``noalias`` pointers) then values of
    ``value_types``, and its codegen state (the caller's loop ranges, the buffers bound)."""
    types = [STORAGE[buf.dtype].as_pointer() for buf in buffers] + list(value_types)
    fn = ir.Function(cg.module, ir.FunctionType(VOID, types), name=name)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    for arg in fn.args[:len(buffers)]:
        arg.add_attribute("noalias")
    state = cg.new_function(fn)
    state.ranges = dict(cg.state.ranges)
    state.buffers.update(zip(buffers, fn.args[:len(buffers)]))
    return fn, state


def _chunk_function(cg, name: str, loop: For, buffers, variables) -> ir.Function:
    fn, state = noalias_function(cg, f"{name}.chunk", buffers, [I64] * (len(variables) + 2))
    state.in_parallel = True
    state.vars.update(zip(variables, fn.args[len(buffers):-2]))
    first, last = fn.args[-2], fn.args[-1]
    cg.run_in(state, lambda: cg.loop(loop, lambda: cg.stmt(loop.body), start=first, stop=last))
    return fn
