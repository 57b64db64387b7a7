"""needle's ``autograd`` module under its names: ``find_topo_sort``,
``compute_gradient_of_variables``, ``sum_node_list``, ``TENSOR_COUNTER``, ``TensorOp`` (a user's
op: ``compute`` on arrays, ``gradient`` from ops), ``TensorTupleOp`` (the same with several outputs),
``Value``.

The graph is the frontend's own (:class:`frontend.tensor.Tensor`'s ``op`` and ``inputs``); these
functions walk it as needle's do, so a program that reads the nodes in order (hw1's
``find_topo_sort`` test) sees needle's order.
"""

from __future__ import annotations

import gc
from functools import reduce

import numpy as np

from tensorir.errors import DefinitionError
from tensorir.graph import post_order

from .autograd import _backpropagate, no_grad
from .ops import add, negative
from .ops.base import Op  # noqa: F401 - needle's ``autograd.Op``
from .ops.elementwise import Subtract
from .tensor import CachedArray, Tensor
from .tensor_tuple import TensorTuple  # noqa: F401 - needle's ``autograd.TensorTuple``
from .tensor_tuple_op import ProgramOp, TensorTupleOp, apply_grouped, checked_array, read_only  # noqa: F401 - needle's TensorTupleOp

#: needle's base of Tensor (the graph's node); here the Tensor itself
Value = Tensor
#: needle's switch for deferred evaluation; the frontend decides that itself (fused lazy kernels)
LAZY_MODE = False
#: the array type a ``TensorOp.compute`` receives (numpy arrays, with NDArray's ``numpy()``)
NDArray = CachedArray


def __getattr__(name: str):
    """``TENSOR_COUNTER``: how many tensors are alive now (needle counts them as they are made
    and freed; hw2's memory checks read it), counted when read."""
    if name == "TENSOR_COUNTER":
        # by the object's type, not isinstance: that reads ``__class__``, which some objects of
        # other libraries answer with a deprecation warning (torch.distributed.reduce_op)
        return sum(1 for value in gc.get_objects() if issubclass(type(value), Tensor))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def find_topo_sort(node_list: list[Tensor]) -> list[Tensor]:
    """Every node the tensors of ``node_list`` depend on, in needle's order: a post-order
    depth-first walk of the inputs, first input first, each node once, after its inputs.

    needle's ``a - b`` of two tensors is two nodes, ``a + (-b)``; the frontend's is one op (one
    kernel, also where nothing is fused), which is listed as needle's two: the node ``-b``
    (computed when listed, a tensor whose op negates ``b``) before ``a - b``.
    """
    if isinstance(node_list, Tensor) or not isinstance(node_list, (list, tuple)):
        raise DefinitionError(f"find_topo_sort: node_list is a {type(node_list).__name__}; pass a list of tensors: "
                              "find_topo_sort([y])")
    nodes = list(node_list)
    for position, node in enumerate(nodes):
        if not isinstance(node, Tensor):
            raise DefinitionError(f"find_topo_sort: node_list[{position}] is a {type(node).__name__}, not a "
                                  "Tensor; pass a list of tensors: find_topo_sort([y])")
    negations: dict[int, Tensor] = {}
    negated: dict[int, Tensor] = {}

    def inputs(node: Tensor) -> tuple[Tensor, ...]:
        if id(node) in negated:
            return (negated[id(node)],)
        if not isinstance(node.op, Subtract) or len(node.inputs) != 2:
            return node.inputs
        negation = negations.get(id(node))
        if negation is None:
            with no_grad():
                negation = negations[id(node)] = negative(node.inputs[1])
            negated[id(negation)] = node.inputs[1]
        return (node.inputs[0], negation)

    return post_order(nodes, inputs)


def sum_node_list(node_list: list[Tensor]) -> Tensor:
    """The sum of the tensors of ``node_list`` (needle's helper of reverse mode)."""
    if not node_list:
        raise DefinitionError("sum_node_list: the list is empty; give at least one tensor")
    return reduce(lambda a, b: a + b if isinstance(a, TensorTuple) else add(a, b), node_list)


def compute_gradient_of_variables(output_tensor: Tensor, out_grad: Tensor) -> None:
    """Reverse mode from ``output_tensor`` with adjoint ``out_grad``: every node of its graph
    gets its gradient as ``.grad`` (needle's function; ``backward`` calls it there)."""
    if not isinstance(output_tensor, Tensor) or not isinstance(out_grad, Tensor):
        raise DefinitionError(f"compute_gradient_of_variables: got {type(output_tensor).__name__} and "
                              f"{type(out_grad).__name__}; give the output tensor and its adjoint as Tensors")
    if tuple(out_grad.shape) != tuple(output_tensor.shape):
        raise DefinitionError(f"compute_gradient_of_variables: out_grad has shape {out_grad.shape} but the output "
                              f"has {output_tensor.shape}; give an adjoint of the output's shape")
    if not output_tensor.requires_grad:  # a constant: the graph is this node alone, as in needle
        output_tensor.grad = out_grad
        return
    with no_grad():
        _backpropagate(output_tensor, out_grad, every_node=True)


class TensorOp(ProgramOp):
    """needle's base of an op that a program defines: ``compute(*arrays)`` returns the output
    array (numpy, from read-only views of the inputs' storage), ``gradient(out_grad, node)`` the
    inputs' adjoints built from tensor ops; ``MyOp()(a, b)`` applies it."""

    def compute(self, *arrays):
        raise NotImplementedError(f"{self.name}: define compute(self, *arrays) returning the output array")

    def __call__(self, *inputs):
        if any(isinstance(x, TensorTuple) for x in inputs):  # compute gets the tuple of their arrays
            return apply_grouped(self, inputs)
        return super().__call__(*inputs)

    def forward(self, *arrays: np.ndarray, device: str = "cpu") -> np.ndarray:
        out = checked_array(self.name, self.compute(*read_only(arrays)))  # compute must not write into its inputs
        return np.array(out, order="C") if not out.flags.writeable or not out.flags.c_contiguous else out

    def __repr__(self) -> str:
        return f"{self.name}()"
