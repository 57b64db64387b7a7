"""The string form of compute: ``compute("C[i,j] = sum(A[i,k] * B[j,k])", A=A, B=B)``.

The syntax (tokens, tree, parser, and the grammar) lives in :mod:`tensorir.syntax`; this module
gives the names their meaning. The indices on the left side are the output axes (none for a
rank-0 output: ``s = sum(A[i])``). Every other index is a reduction index and must sit inside a
reducer (``sum``, ``max``, ``min``, each with one argument and optionally ``where=`` and
``init=`` as ``ns.sum`` takes them: ``C[i] = sum(A[i,k], where=A[i,k] > 0)``), which reduces
over every such index of its argument. The ranges of all indices are inferred from the operand
shapes (see
:class:`~tensorir.isl_bridge.RangeInference`) unless pinned with ``ranges={"y": 54}``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from . import functions, intrinsics, te_reducers
from .dtypes import INDEX
from .errors import DefinitionError
from .expr import Expr, IterKind, IterVar, Var, as_expr
from .intmath import as_int
from .isl_bridge import RangeInference
from .symbolic import ShapeVar, as_extent
from .syntax import Access, BinaryNode, Call, Definition, Name, Negate, Node, Number, Parser, located
from .tensor import MAX_DEPTH, Tensor, make_compute, reduce_axis

_OPERATORS = {"|": operator.or_, "&": operator.and_, "<": operator.lt, "<=": operator.le,
              ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
              "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
              "//": operator.floordiv, "%": operator.mod}
_FUNCTIONS = {"exp": (functions.exp, 1), "log": (functions.log, 1), "sqrt": (functions.sqrt, 1),
              "tanh": (functions.tanh, 1), "abs": (functions.abs, 1),
              "sigmoid": (functions.sigmoid, 1), "maximum": (functions.maximum, 2),
              "minimum": (functions.minimum, 2), "power": (functions.power, 2),
              "if_then_else": (functions.if_then_else, 3)}
# the intrinsics of tensorir.intrinsics, by their public names
_FUNCTIONS.update({name: (getattr(intrinsics, name), 2 if name in ("fmod", "truncdiv", "truncmod") else 1)
                   for name in ("fmod", "truncdiv", "truncmod", "popcount", "floor", "ceil", "round", "erf",
                                "isnan", "isinf", "isfinite", "rsqrt", "trunc", *intrinsics.LIBM)})
_REDUCERS = {"sum": functions.sum, "max": te_reducers.max, "min": te_reducers.min}
#: the keyword arguments of a reducer in the string form, as ns.sum takes them
_REDUCER_KEYWORDS = frozenset({"where", "init"})


@dataclass
class _Uses:
    """What the right side refers to, in text order."""

    #: every access with whether it sits in a branch of if_then_else
    accesses: list[tuple[Access, bool]] = field(default_factory=list)
    #: index name -> its uses, each with the reducers around it
    indices: dict[str, list[tuple[Name, tuple[Call, ...]]]] = field(default_factory=dict)
    #: every call of sum, max or min
    reducers: list[Call] = field(default_factory=list)


class _Scope:
    """The text, the output name and the operands of one definition; located errors."""

    def __init__(self, text: str, name: str, operands: dict):
        self.text, self.name, self.operands = text, name, operands

    def error(self, pos: int, message: str) -> DefinitionError:
        return located(f"compute {self.name}: {message}", self.text, pos)

    def available(self) -> str:
        if not self.operands:
            return "no operands were passed"
        described = [f"{n} ({'tensor' if isinstance(v, Tensor) else 'constant'})"
                     for n, v in self.operands.items()]
        return "the operands passed are " + ", ".join(described)

    def check_access(self, node: Access) -> None:
        value = self.operands.get(node.name)
        if value is None:
            raise self.error(node.start, f"unknown tensor `{node.name}`; {self.available()}; pass "
                             f"it as compute(..., {node.name}={node.name})")
        if not isinstance(value, Tensor):
            raise self.error(node.start, f"`{node.name}` is the constant {value!r}, not a tensor; "
                             "use it without indices")

    def check_call(self, node: Call) -> None:
        if node.name in _REDUCERS:
            arity, hint = 1, (f"; for the elementwise {node.name}imum of two values use "
                              f"{node.name}imum(a, b)" if node.name != "sum" else "")
        elif node.name in _FUNCTIONS:
            arity, hint = _FUNCTIONS[node.name][1], ""
        else:
            known = ", ".join(_FUNCTIONS)
            raise self.error(node.start, f"unknown function `{node.name}`; the functions are "
                             f"{known}, and the reducers sum, max, min")
        if len(node.args) != arity:
            raise self.error(node.start, f"{node.name} takes {arity} argument"
                             f"{'s' if arity > 1 else ''}, got {len(node.args)}{hint}")
        for keyword, _ in node.keywords:
            if node.name not in _REDUCERS:
                raise self.error(keyword.pos, f"{node.name} takes no keyword arguments; only the reducers "
                                 "sum, max and min take where= and init=")
            if keyword.text not in _REDUCER_KEYWORDS:
                raise self.error(keyword.pos, f"{node.name} has no argument {keyword.text}=; a reducer "
                                 "takes where= (which points count) and init= (the starting value)")

    def collect(self, node: Node, uses: _Uses, reducers: tuple = (), branch: bool = False) -> None:
        """Check the names under ``node`` and record its accesses and index uses in ``uses``."""
        match node:
            case Name(name=name) if name in self.operands:
                value = self.operands[name]
                if isinstance(value, Tensor):
                    like = f"{name}[]" if value.ndim == 0 else f"{name}[...]"
                    raise self.error(node.start, f"`{name}` is a tensor; index it, like {like}")
            case Name(name=name):
                uses.indices.setdefault(name, []).append((node, reducers))
            case Access(indices=indices):
                self.check_access(node)
                uses.accesses.append((node, branch))
                for index in indices:
                    self.collect(index, uses, reducers, branch)
            case Call(name=name, args=args):
                self.check_call(node)
                inner = reducers
                if name in _REDUCERS:
                    uses.reducers.append(node)
                    inner = (*reducers, node)
                for position, arg in enumerate(args):
                    in_branch = branch or (name == "if_then_else" and position > 0)
                    self.collect(arg, uses, inner, in_branch)
                for _, value in node.keywords:
                    self.collect(value, uses, inner, branch)
            case BinaryNode(a=a, b=b):
                self.collect(a, uses, reducers, branch)
                self.collect(b, uses, reducers, branch)
            case Negate(a=a):
                self.collect(a, uses, reducers, branch)


def _roles(scope: _Scope, definition: Definition, uses: _Uses) -> dict[Call, list[str]]:
    """Check where indices are used; return the indices each reducer reduces over."""
    lhs = [token.text for token in definition.indices]
    for position, token in enumerate(definition.indices):
        if token.text in lhs[:position]:
            raise scope.error(token.pos, f"the index {token.text} appears twice on the left side; "
                              "each output dimension needs its own index")
        if token.text in scope.operands:
            raise scope.error(token.pos, f"`{token.text}` is both an index on the left side and an "
                              "operand; rename one of them")
    axes: dict[Call, list[str]] = {}
    for name, occurrences in uses.indices.items():
        if name in lhs:
            continue
        if not any(reducers for _, reducers in occurrences):
            node = occurrences[0][0]
            raise scope.error(node.start, f"index `{name}` is neither on the left side nor inside a "
                              "reducer; add it to the left side, wrap its use in sum(...), max(...) "
                              f"or min(...), or, if it is a constant, pass it: compute(..., {name}=...)")
        for _, reducers in occurrences:
            for reducer in reducers:
                axes.setdefault(reducer, [])
                if name not in axes[reducer]:
                    axes[reducer].append(name)
    return axes


def _check_reducers(scope: _Scope, uses: _Uses, axes: dict[Call, list[str]]) -> None:
    for reducer in uses.reducers:
        if reducer not in axes:
            raise scope.error(reducer.start, f"{reducer.name}(...) has no index to reduce over: "
                              "every index in it is on the left side, and a reducer reduces over "
                              "the others")


class _Builder:
    """Builds expressions from syntax with the public expression API, as a lambda would."""

    def __init__(self, scope: _Scope, env: dict, reducer_axes: dict | None = None):
        self.scope, self.env, self.reducer_axes = scope, env, reducer_axes

    def attempt(self, pos: int, make):
        try:
            return make()
        except DefinitionError as error:
            raise self.scope.error(pos, str(error)) from None
        except (TypeError, ZeroDivisionError) as error:
            raise self.scope.error(pos, f"cannot evaluate this: {error}") from None

    def build(self, node: Node):
        match node:
            case Number(value=value):
                return value
            case Name(name=name):
                return self.env[name]
            case Access(name=name, indices=indices):
                values = tuple(self.build(index) for index in indices)
                return self.attempt(node.start, lambda: self.env[name][values])
            case BinaryNode(op=op, a=a, b=b):
                left, right = self.build(a), self.build(b)
                return self.attempt(node.at, lambda: _OPERATORS[op](left, right))
            case Negate(a=a):
                value = self.build(a)
                return self.attempt(node.start, lambda: -value)
            case Call(name=name, args=args):
                values = [self.build(arg) for arg in args]
                if name not in _REDUCERS:
                    return self.attempt(node.start, lambda: _FUNCTIONS[name][0](*values))
                if self.reducer_axes is None:
                    raise self.scope.error(node.start, f"{name}(...) cannot be used in a subscript")
                axes = self.reducer_axes[node]
                options = {keyword.text: self.build(value) for keyword, value in node.keywords}
                return self.attempt(node.start, lambda: _REDUCERS[name](values[0], axis=axes, **options))
        raise AssertionError(node)


# ---------------------------------------------------------------------------------------------
# Entry point


def _check_arguments(name: str, ranges, operands: dict) -> tuple[dict, dict[str, int]]:
    clean = {}
    for key, value in operands.items():
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, (Tensor, int, float, ShapeVar)):
            raise DefinitionError(f"compute {name}: operand {key}={value!r} must be a tensor or a "
                                  "Python number")
        clean[key] = value
    ranges = {key: as_int(extent) for key, extent in dict(ranges or {}).items()}
    for key, extent in ranges.items():
        if isinstance(extent, Expr):  # a symbolic extent, e.g. ranges={"i": n - 1}
            ranges[key] = as_extent(extent, f"compute {name}: ranges={{{key!r}: {extent}}}")
            continue
        if isinstance(extent, bool) or not isinstance(extent, int) or extent <= 0:
            raise DefinitionError(f"compute {name}: ranges={{{key!r}: {extent!r}}}: a range is a "
                                  "positive int extent")
    return clean, ranges


def compute_from_string(text: str, name: str | None = None, ranges: dict[str, int] | None = None,
                        **operands) -> Tensor:
    """The tensor defined by ``text``, like ``"C[i,j] = sum(A[i,k] * B[j,k])"``.

    Parameters
    ----------
    text
        ``Out[i, ...] = expression``; see the module docstring for the grammar.
    name
        The name of the tensor; by default the name on the left side.
    ranges
        Extents that override inference, like ``{"y": 54}``; accesses must stay in bounds.
    **operands
        The tensors and named constants the expression uses, like ``A=A, eps=1e-5``.

    Returns
    -------
    Tensor
        The same compute definition as the lambda form builds.

    Raises
    ------
    DefinitionError
        On a syntax error (with a caret under it), an unknown name, a range that cannot be
        inferred or is inconsistent, or an access that may go out of bounds.
    """
    if not isinstance(text, str):
        raise DefinitionError(f"compute: the definition must be a string, got {type(text).__name__}")
    definition = Parser(text).definition()
    name = name or definition.output.text
    _check_depth(text, name, definition.rhs)
    operands, pinned = _check_arguments(name, ranges, operands)
    scope = _Scope(text, name, operands)
    uses = _Uses()
    scope.collect(definition.rhs, uses)
    reducer_axes = _roles(scope, definition, uses)
    _check_reducers(scope, uses, reducer_axes)
    extents = _infer(scope, definition, uses, pinned)
    lhs = [token.text for token in definition.indices]
    axis = tuple(IterVar(Var(n, INDEX), 0, extents[n], IterKind.DATA_PAR) for n in lhs)
    reduce = {n: reduce_axis(extents[n], n) for n in uses.indices if n not in lhs}
    env = {**operands, **dict(zip(lhs, axis)), **reduce}
    axes = {call: [reduce[n] for n in names] for call, names in reducer_axes.items()}
    body = _Builder(scope, env, axes).build(definition.rhs)
    return make_compute(name, axis, as_expr(body))


def _infer(scope: _Scope, definition: Definition, uses: _Uses, pinned: dict[str, int]) -> dict:
    names = [token.text for token in definition.indices]
    names += [n for n in uses.indices if n not in names]
    for key in pinned:
        if key not in names:
            raise DefinitionError(f"compute {scope.name}: ranges names {key!r}, which is not an "
                                  f"index of the definition (its indices are {', '.join(names)})")
    variables = {name: Var(name, INDEX) for name in names}
    inference = RangeInference(f"compute {scope.name}", list(variables.values()),
                               {variables[key]: extent for key, extent in pinned.items()},
                               locate=lambda pos, message: scope.error(pos, message))
    builder = _Builder(scope, {**scope.operands, **variables})
    for node, in_branch in uses.accesses:
        if not in_branch:
            inference.add(builder.build(node), [index.start for index in node.indices])
    extents = inference.run()
    return {name: extents[var] for name, var in variables.items()}


def _check_depth(text: str, name: str, root: Node) -> None:
    """Refuse a syntax tree deeper than MAX_DEPTH (a long chain of ``/`` cannot be regrouped), before
    any recursive pass walks it."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise located(f"compute {name}: the expression is more than {MAX_DEPTH} operations deep here (a chain "
                           "of -, /, //, % or comparisons, or nested calls); split it into several computes, or "
                           "write long sums and products as chains of + or *, which are regrouped", text, node.start)
        match node:
            case BinaryNode(a=a, b=b):
                stack += [(a, depth + 1), (b, depth + 1)]
            case Negate(a=a):
                stack.append((a, depth + 1))
            case Access(indices=items):
                stack += [(item, depth + 1) for item in items]
            case Call(args=items, keywords=keywords):
                stack += [(item, depth + 1) for item in (*items, *(value for _, value in keywords))]
