"""TVM's ``te.extern``: an operation whose body is a statement written with the IR builder
(:mod:`tensorir.ir_builder`) over declared buffers (:mod:`tensorir.decl_buffer`), not an index
expression.

An extern stage is opaque: its outputs are whole buffers that its body writes, it reads its
inputs whole, and schedules place it but never change its loops. Its buffers are bound to the
tensors here: a declared stride or element offset that is a variable takes the dense row-major
value of Nestor's tensors (TVM binds it to the argument's), and a constant one must equal it.
Lowering (:mod:`schedules.extern_stage`) puts the body in the loop nest over the tensors'
buffers, with every subscript no loop range bounds checked when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .buffer import Buffer, row_major_strides
from .decl_buffer import DeclBuffer, as_shape, decl_buffer
from .dtypes import as_dtype
from .errors import DefinitionError
from .expr import BufferLoad, Expr, Var, as_expr
from .stmt import Allocate, Evaluate, Stmt, Store
from .symbolic import ShapeVar
from .tags import scoped_tag
from .tensor import Operation, Tensor
from .visitor import substitute, walk


class ExternOp(Operation):
    """An operation computed by the statement ``body`` over ``input_placeholders`` (one declared
    buffer per input tensor) and ``output_placeholders`` (one per output)."""

    def __init__(self, name: str, tag: str, attrs, inputs: tuple[Tensor, ...], input_placeholders: tuple,
                 output_placeholders: tuple, body: Stmt):
        self.name, self.tag = name, tag
        self.attrs = MappingProxyType(dict(attrs or {}))
        self._inputs = inputs
        self.input_placeholders, self.output_placeholders = input_placeholders, output_placeholders
        self.body = body
        self.num_outputs = len(output_placeholders)
        self.shape, self.dtype = output_placeholders[0].shape, output_placeholders[0].dtype
        self._outputs = tuple(Tensor(self, n) for n in range(self.num_outputs))
        self._output = self._outputs[0]

    def output_shape(self, value_index: int) -> tuple:
        return self.output_placeholders[value_index].shape

    def output_dtype(self, value_index: int):
        return self.output_placeholders[value_index].dtype

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        return self._inputs

    @property
    def placeholders(self) -> tuple[Buffer, ...]:
        """Each declared buffer's placeholder, inputs then outputs."""
        return tuple(d.placeholder for d in (*self.input_placeholders, *self.output_placeholders))

    def __repr__(self) -> str:
        return f"extern({self.name}, {list(self.shape)}, {self.dtype})"


def _shapes(shape, who: str) -> list[tuple]:
    """TVM's forms: one shape, an extent, or a list of shapes (one per output)."""
    if not isinstance(shape, (list, tuple)) or not shape or not all(isinstance(s, (list, tuple)) for s in shape):
        return [as_shape(shape, who)]
    return [as_shape(s, who) for s in shape]


def _listed(value, who: str, role: str) -> list | None:
    if value is None:
        return None
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in value:
        if not isinstance(item, DeclBuffer):
            raise DefinitionError(f"{who}: {role} holds {item!r}; each is a buffer from ns.decl_buffer(...)")
    return value


def _dtypes(dtype, inputs: list[Tensor], count: int, who: str) -> list:
    if dtype is None:
        kinds = {t.dtype for t in inputs}
        if len(kinds) != 1:
            raise DefinitionError(f"{who}: the output type cannot be inferred from inputs of types "
                                  f"{sorted(str(k) for k in kinds) or 'none'}; pass dtype=")
        return [kinds.pop()] * count
    listed = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype] * count
    if len(listed) != count:
        raise DefinitionError(f"{who}: {len(listed)} dtypes {listed} for {count} outputs; give one per output")
    return [as_dtype(d) for d in listed]


def _bind(declared: DeclBuffer, shape: tuple, dtype, who: str, role: str) -> dict:
    """Bind ``declared`` to a dense tensor of ``shape`` and ``dtype``: the values of its stride
    and offset variables, after checking what is constant."""
    if declared.dtype is not dtype:
        raise DefinitionError(f"{who}: {role} buffer {declared.name} holds {declared.dtype}, the tensor {dtype}; "
                              f"declare it with dtype='{dtype}'")
    if len(declared.shape) != len(shape) or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(declared.shape, shape)):
        raise DefinitionError(f"{who}: {role} buffer {declared.name} has shape {list(declared.shape)}, the tensor "
                              f"{list(shape)}; declare it with the tensor's shape")
    values: dict = {}
    for dim, (stride, dense) in enumerate(zip(declared.strides, row_major_strides(shape))):
        if isinstance(stride, ShapeVar) or type(stride) is Var:
            values[stride] = as_expr(dense, stride.dtype)
        elif isinstance(stride, int) and isinstance(dense, int) and stride != dense:
            raise DefinitionError(
                f"{who}: {role} buffer {declared.name} declares stride {stride} in dimension {dim}, but the tensor "
                f"is dense row-major (stride {dense}); declare strides=None, variables (ns.var), or the dense ones")
    if isinstance(declared.elem_offset, Var):
        values[declared.elem_offset] = as_expr(0, declared.elem_offset.dtype)
    elif isinstance(declared.elem_offset, int) and declared.elem_offset:
        raise DefinitionError(f"{who}: {role} buffer {declared.name} has elem_offset={declared.elem_offset}; a "
                              "tensor starts at its first element, so use 0 or a variable")
    return values


def _check_body(body: Stmt, op: ExternOp, who: str) -> None:
    """Every access of the body is to a declared or allocated buffer."""
    known = set(op.placeholders) | {n.buffer for n in walk(body) if isinstance(n, Allocate)}
    for node in walk(body):
        if isinstance(node, (BufferLoad, Store)) and node.buffer not in known:
            raise DefinitionError(f"{who}: the body accesses buffer {node.buffer.name}, which is neither one of "
                                  "this extern's ins/outs nor allocated in its body; pass its tensor as an input")


def extern(shape, inputs, fcompute, name: str = "extern", dtype=None, in_buffers=None, out_buffers=None,
           tag: str = "", attrs: Mapping | None = None):
    """TVM's ``te.extern``: tensors computed by a statement built over their buffers.

    Parameters
    ----------
    shape
        The output's shape, or a list of shapes (one per output).
    inputs
        The tensors the body reads.
    fcompute
        ``fcompute(ins, outs)``: the body, built with ``ns.ir_builder`` over the declared
        buffers ``ins`` (one per input) and ``outs`` (one per output).
    name, tag, attrs
        The operation's name, and TVM's label and attributes for schedules to match on.
    dtype
        The output type (or one per output); by default the inputs' common type.
    in_buffers, out_buffers
        Declared buffers (``ns.decl_buffer``) to use instead of dense ones.

    Returns
    -------
    Tensor or list of Tensor
        The output, or a list of them where there are several.

    Raises
    ------
    DefinitionError
        For an input that is not a tensor, buffers that do not match the tensors, a body that
        is not a statement, or one that calls functions Nestor cannot provide.
    """
    who = f"extern({name!r})"
    shapes = _shapes(shape, who)
    if not isinstance(inputs, (list, tuple)) or not all(isinstance(t, Tensor) for t in inputs):
        raise DefinitionError(f"{who}: inputs must be a list of tensors, got {inputs!r}")
    inputs = list(inputs)
    ins, outs = _listed(in_buffers, who, "in_buffers"), _listed(out_buffers, who, "out_buffers")
    if ins is not None and len(ins) != len(inputs):
        raise DefinitionError(f"{who}: {len(ins)} in_buffers for {len(inputs)} inputs; give one per input")
    if outs is not None and len(outs) != len(shapes):
        raise DefinitionError(f"{who}: {len(outs)} out_buffers for {len(shapes)} outputs; give one per output")
    dtypes = _dtypes(dtype, inputs, len(shapes), who)
    ins = ins or [decl_buffer(t.shape, t.dtype, t.op.name) for t in inputs]
    outs = outs or [decl_buffer(s, d, name) for s, d in zip(shapes, dtypes)]
    bound: dict = {}
    for declared, tensor in zip(ins, inputs):
        bound.update(_bind(declared, tuple(tensor.shape), tensor.dtype, who, "input"))
    for declared, shp, dt in zip(outs, shapes, dtypes):
        bound.update(_bind(declared, shp, dt, who, "output"))
    body = fcompute(ins, outs)
    if isinstance(body, Expr):
        body = Evaluate(body)
    if not isinstance(body, Stmt):
        raise DefinitionError(f"{who}: fcompute returned {type(body).__name__}; return the statement of the "
                              "body (ib.get()) or an expression")
    if not isinstance(tag, str) or attrs is not None and not isinstance(attrs, Mapping):
        raise DefinitionError(f"{who}: tag={tag!r} must be a string and attrs={attrs!r} a dict (or None)")
    tag = scoped_tag(tag, who)  # inside a tag_scope, the scope's (as TVM's extern)
    op = ExternOp(name, tag, attrs, tuple(inputs), tuple(ins), tuple(outs), substitute(body, bound))
    _check_body(op.body, op, who)
    return op.output if op.num_outputs == 1 else list(op.outputs)


def call_packed(*args):
    """TVM's ``tir.call_packed``: a call into a registered packed function, which Nestor's
    kernels cannot make; refused naming the function."""
    func = args[0] if args else "?"
    raise DefinitionError(f"call_packed({func!r}): Nestor's kernels cannot call packed functions (there is no TVM "
                          "runtime registry); write the operation in the extern body with ns.ir_builder, or call "
                          "the function on the numpy arrays between two kernels")


def refuse_gradient(ops, output_name: str) -> None:
    """Gradients do not flow through an extern operation: refused naming it."""
    for op in ops:
        if isinstance(op, ExternOp):
            raise DefinitionError(f"gradient of {output_name}: it depends on the inputs through extern operation "
                                  f"{op.name}, whose body Nestor cannot differentiate; write that part with "
                                  "ns.compute, or pass the extern's output as an input of the gradient")


__all__ = ["ExternOp", "call_packed", "extern"]
