"""TVM's calls by name: ``tir.call_pure_extern``/``call_extern`` of a C math library function
(``"expf"``, CUDA's fast ``"__expf"``, ``"log"`` of doubles ...) and ``tir.call_intrin`` of one of
TVM's intrinsics (``"tir.exp"``) are Nestor's intrinsic of that function, computed in the
function's C parameter type and converted to the requested type (what C does with the arguments and
the result). Nestor links no external code: any other name is refused at the call with what to
write instead, and so are ``register_intrin_lowering``/``register_op_attr`` (Nestor chooses each
target's math function itself); tensor intrinsics are declared in :mod:`tensorir.tensor_intrin`."""

from __future__ import annotations

from collections.abc import Callable

from . import functions, intrinsics, intrinsics2
from .dtypes import DType, as_dtype
from .errors import DefinitionError
from .expr import Expr, as_expr, cast

#: a C math function's name without its float suffix -> (Nestor's function, number of arguments)
_C_MATH: dict[str, tuple[Callable[..., Expr], int]] = {
    "exp": (functions.exp, 1), "log": (functions.log, 1), "sqrt": (functions.sqrt, 1),
    "tanh": (functions.tanh, 1), "fabs": (functions.abs, 1), "pow": (functions.power, 2),
    "fmax": (functions.maximum, 2), "fmin": (functions.minimum, 2), "floor": (intrinsics.floor, 1),
    "ceil": (intrinsics.ceil, 1), "trunc": (intrinsics.trunc, 1), "nearbyint": (intrinsics.round, 1),
    "rint": (intrinsics.round, 1), "erf": (intrinsics.erf, 1), "fmod": (intrinsics.fmod, 2),
    "rsqrt": (intrinsics.rsqrt, 1), "atan2": (intrinsics2.atan2, 2), "hypot": (intrinsics2.hypot, 2),
    "copysign": (intrinsics2.copysign, 2), "nextafter": (intrinsics2.nextafter, 2),
}
_C_MATH.update({name: (getattr(intrinsics, name), 1) for name in (
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log2", "log10",
    "log1p", "exp2", "exp10", "expm1", "cbrt")})

#: TVM's intrinsics (``tir.X``) that are no C math function (TVM's ``tir.round`` halves to even)
_TIR_ONLY: dict[str, tuple[Callable[..., Expr], int]] = {
    "sigmoid": (functions.sigmoid, 1), "isnan": (intrinsics.isnan, 1), "isinf": (intrinsics.isinf, 1),
    "isfinite": (intrinsics.isfinite, 1), "popcount": (intrinsics.popcount, 1), "clz": (intrinsics2.clz, 1),
    "round": (intrinsics.round, 1),
}


def _c_function(name: str) -> tuple[Callable[..., Expr], int, DType] | None:
    """``name`` as a C math function: Nestor's function, its arity and its C parameter type."""
    base = name[2:] if name.startswith("__") else name  # CUDA's fast-math spellings (__expf)
    if base in _C_MATH:
        return (*_C_MATH[base], DType.FLOAT64)
    if base.endswith("f") and base[:-1] in _C_MATH:
        return (*_C_MATH[base[:-1]], DType.FLOAT32)
    return None


def _apply(what: str, dtype, function: Callable[..., Expr], arity: int, parameter: DType | None,
           args: tuple) -> Expr:
    result_type = as_dtype(dtype, f"{what}: dtype")
    if len(args) != arity:
        raise DefinitionError(f"{what}: takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}; "
                              f"pass {arity}")
    values = [as_expr(a) for a in args]
    if parameter is not None:
        values = [cast(v, parameter) for v in values]
    return cast(function(*values), result_type)


def call_pure_extern(dtype, func_name: str, *args) -> Expr:
    """TVM's ``tir.call_pure_extern``: a call of a C math function by its name.

    Parameters
    ----------
    dtype : str
        The type of the result (the function's result is converted to it, as C converts it).
    func_name : str
        A C math library function (``"expf"``, ``"__expf"``, ``"log"``, ``"powf"``, ...):
        ``...f`` names take and give ``float32``, the others ``float64``.
    *args
        The arguments, converted to the function's parameter type.

    Returns
    -------
    Expr
        Nestor's intrinsic of that function; any other name is refused (a DefinitionError).
    """
    what = f"call_pure_extern({str(dtype)!r}, {func_name!r}, ...)"
    found = _c_function(func_name) if isinstance(func_name, str) else None
    if found is None:
        known = ", ".join(sorted(_C_MATH))
        raise DefinitionError(
            f"{what}: Nestor links no external functions, and {func_name!r} is not a C math function it knows "
            f"({known}, each with an f suffix for float32); write the computation as an expression in "
            "ns.compute, or call the external code on the numpy arrays between two kernels")
    return _apply(what, dtype, *found, args)


def call_extern(dtype, func_name: str, *args) -> Expr:
    """TVM's ``tir.call_extern``: as :func:`call_pure_extern` (the math functions have no side effects)."""
    return call_pure_extern(dtype, func_name, *args)


def call_intrin(dtype, op_name: str, *args) -> Expr:
    """TVM's ``tir.call_intrin``: one of TVM's math intrinsics by its name.

    Parameters
    ----------
    dtype : str
        The type of the result (Nestor's intrinsic's result is converted to it).
    op_name : str
        ``"tir."`` and the intrinsic's name: ``"tir.exp"``, ``"tir.log"``, ``"tir.sigmoid"``, ...
    *args
        The intrinsic's arguments.

    Returns
    -------
    Expr
        Nestor's intrinsic; a name Nestor does not have is refused (a DefinitionError), since new
        intrinsics cannot be registered.
    """
    what = f"call_intrin({str(dtype)!r}, {op_name!r}, ...)"
    name = op_name[4:] if isinstance(op_name, str) and op_name.startswith("tir.") else None
    if name == "tvm_storage_sync":  # an IR-builder body's barrier of a thread block (__syncthreads)
        return _storage_sync(what, args)
    found = _TIR_ONLY.get(name) or (_C_MATH.get(name) if name is not None else None)
    if found is None:
        raise DefinitionError(
            f"{what}: not one of Nestor's intrinsics (tir.{', tir.'.join(sorted({*_C_MATH, *_TIR_ONLY}))}), and "
            "new intrinsics cannot be registered; write the function as an expression of these in ns.compute")
    return _apply(what, dtype, *found, None, args)


def _storage_sync(what: str, args: tuple) -> Expr:
    """TVM's ``tvm_storage_sync("shared")``: the block-wide barrier (Nestor's barrier pass also
    places one wherever threads exchange data through memory)."""
    if tuple(args) != ("shared",):
        raise DefinitionError(f"{what}: only the block-wide barrier is supported, tvm_storage_sync('shared'), got "
                              f"{list(args)}")
    from .expr import Call, Func

    return Call(Func.BARRIER, (), DType.INT32)


def register_intrin_lowering(op_name, target=None, f=None, level=10):
    """TVM's custom lowering rule of an intrinsic: refused (Nestor picks each target's function)."""
    raise DefinitionError(
        f"register_intrin_lowering({op_name!r}, target={target!r}): custom lowering rules are not supported; "
        "Nestor lowers each intrinsic to the target's own math function itself (expf/exp on LLVM and CUDA); "
        "to call a given C math function write ns.call_pure_extern('float32', 'expf', x)")


def register_op_attr(op_name, attr_key, value=None, level=10):
    """TVM's registration of an operator attribute (a new intrinsic): refused."""
    raise DefinitionError(
        f"register_op_attr({op_name!r}, {attr_key!r}): new intrinsics cannot be registered; write the "
        "function as an expression of Nestor's intrinsics (ns.log, ns.exp, ...) in ns.compute")


__all__ = ["call_extern", "call_intrin", "call_pure_extern", "register_intrin_lowering",
           "register_op_attr"]
