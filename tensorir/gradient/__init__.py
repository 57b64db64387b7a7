"""Gradients derived from index expressions: ``gradient(output, inputs, head)``.

``adjoint.py`` walks the stages backwards and builds each adjoint as a gather;
``sympy_bridge.py`` differentiates scalar bodies (the only module that imports sympy);
``isl_inverse.py`` inverts the index maps of accesses (islpy, behind this bridge);
``opaque.py`` keeps the equality of a subscript with no affine form (TVM's ``take``).
"""

from .adjoint import gradient

__all__ = ["gradient"]
