"""Symbolic variants of the catalogue's operators: the same definitions with every extent equal
to the first input's leading dimension replaced by a size variable ``n``.

A variant is built by rebuilding the operator's tensors (placeholders with symbolic shapes,
computes with symbolic axes over the same bodies), so its definition passes the bounds proofs
for every ``n`` or the operator has no variant (its index arithmetic is tied to the size, as a
window over ``n + 4`` elements is). A variant runs on the original operator's inputs (``n``
bound to the original size) against the original reference, and on inputs of a second size
where the reference is shape-generic.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

import nestor as ns
from nestor import Tensor
from tensorir.expr import CheckedIndex, IterVar, Reduce, TensorLoad, Var
from tensorir.tensor import PlaceholderOp, make_compute
from tensorir.visitor import Mutator, walk
from tests.catalogue import CATALOGUE, Inputs, Operator, random_array


class SymbolicOperator(NamedTuple):
    name: str
    size: object  # the size variable (a ShapeVar)
    args: list[Tensor]
    outputs: list[Tensor]
    concrete: Operator

    def shapes(self, value: int) -> list[tuple[int, ...]]:
        """The argument shapes with the size variable bound to ``value``."""
        from tensorir.symbolic import evaluate

        return [tuple(evaluate(d, {self.size: value}) for d in t.shape) for t in self.args]


class _Rebuild(Mutator):
    def __init__(self, tensors: dict, variables: dict):
        super().__init__()
        self.tensors, self.variables = tensors, variables

    def rewrite(self, node):
        if isinstance(node, TensorLoad):
            return TensorLoad(self.tensors[node.tensor], tuple(self.visit(i) for i in node.indices), node.dtype)
        if isinstance(node, Reduce):
            axes = tuple(self.variables[iv.var][1] for iv in node.axes)
            return Reduce(node.op, self.visit(node.source), axes, node.dtype)
        if isinstance(node, Var) and node in self.variables:
            return self.variables[node][1].var
        return None


def symbolic_variant(builder) -> SymbolicOperator | None:
    """The variant of catalogue entry ``builder``, or None where the operator has none."""
    op = builder()
    first = op.inputs[0].shape[0]
    n = ns.var("n")

    def sym(extent):
        return n if isinstance(extent, int) and extent == first else extent

    tensors: dict[Tensor, Tensor] = {}

    def rebuild(t: Tensor) -> Tensor | None:
        if t in tensors:
            return tensors[t]
        if isinstance(t.op, PlaceholderOp):
            tensors[t] = ns.placeholder(tuple(sym(d) for d in t.shape), t.dtype.value, name=t.name)
            return tensors[t]
        c = t.op
        if any(isinstance(node, CheckedIndex) for node in walk(c.body)):
            return None  # run-time checks hold the static extent
        for source in c.inputs:
            if rebuild(source) is None:
                return None
        variables = {iv.var: (iv, IterVar(Var(iv.name, iv.var.dtype), iv.min, sym(iv.extent), iv.kind))
                     for iv in (*c.axis, *c.reduce_axis)}
        body = _Rebuild(tensors, variables).visit(c.body)
        try:
            tensors[t] = make_compute(c.name, tuple(variables[iv.var][1] for iv in c.axis), body)
        except ns.DefinitionError:
            return None
        return tensors[t]

    if any(rebuild(t) is None for t in op.outputs):
        return None
    return SymbolicOperator(op.name, n, [tensors[t] for t in op.args], [tensors[t] for t in op.outputs], op)


def run_at(module, variant: SymbolicOperator, value: int, rng: np.random.Generator
           ) -> tuple[Inputs, Inputs, Inputs] | None:
    """Run ``module`` with ``n = value``: (inputs, outputs, reference); None where the reference
    does not apply to that size."""
    op = variant.concrete
    shapes = variant.shapes(value)
    count = len(op.inputs)
    inputs = [random_array(rng, shape, t.dtype.value) for shape, t in zip(shapes, variant.args)][:count]
    try:
        want = op.reference(inputs)
    except (ValueError, IndexError):
        return None
    outputs = [np.full(shape, np.nan if t.dtype.is_float else -7, dtype=t.dtype.numpy)
               for shape, t in zip(shapes[count:], variant.outputs)]
    if [w.shape for w in want] != [o.shape for o in outputs]:
        return None
    module(*inputs, *outputs)
    return inputs, outputs, want


SYMBOLIC_CATALOGUE = [b for b in CATALOGUE if symbolic_variant(b) is not None]
