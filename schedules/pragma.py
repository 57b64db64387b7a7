"""TVM's ``s[T].pragma(loop, key, value)``: a hint on a loop that does not change its values.

As in TVM, the keys ``"unroll"`` and ``"vectorize"`` are the primitives of those names; any
other key is recorded on the loop (``s[T].iter_var_attrs[loop].pragma_keys`` and
``.pragma_values``, in the order given) and the kernel computes what it computes without it.
Nestor's backends take no pragma, so a recorded hint never changes the generated code; the
primitives that do what TVM's common pragmas ask are ``unroll`` (``auto_unroll_max_step``,
``unroll_explicit``) and ``parallel`` (``parallel_launch_point`` and the other parallel keys).
"""

from __future__ import annotations

from tensorir.errors import ScheduleError
from tensorir.expr import Expr
from tensorir.tvm_names3 import StringImm  # TVM's tir.StringImm; pragma keys come back as one


class PragmaPrimitive:
    """Mixed into ``Stage``: ``pragma``, recording hints in the stage's ``pragmas``."""

    name: str
    pragmas: dict

    def pragma(self, var, pragma_type: str, pragma_value=None) -> None:
        """Annotate loop ``var`` with the hint ``pragma_type`` (and ``pragma_value``).

        Parameters
        ----------
        var
            A current loop of this stage (an IterVar or its name).
        pragma_type
            The hint's key: ``"unroll"`` and ``"vectorize"`` unroll or vectorize the loop; any
            other key is recorded and changes nothing in the kernel.
        pragma_value
            The hint's value: a number, a string, an expression or None.
        """
        loop = getattr(var, "name", var)
        call = f"pragma({loop}, {pragma_type!r})"
        if not isinstance(pragma_type, str) or not pragma_type:
            raise ScheduleError(f"s[{self.name}].{call}: the pragma key must be a non-empty string, e.g. "
                                "'unroll' or 'auto_unroll_max_step'")
        if pragma_value is not None and not isinstance(pragma_value, (int, float, str, Expr, StringImm)):
            raise ScheduleError(f"s[{self.name}].{call}: the pragma value {pragma_value!r} is a "
                                f"{type(pragma_value).__name__}; give a number, a string or an expression")
        match pragma_type:
            case "unroll":
                self.unroll(var)
            case "vectorize":
                self.vectorize(var)
            case _:
                iv = self._leaf(f"{call}", var)
                self.pragmas[iv] = (*self.pragmas.get(iv, ()), (StringImm(pragma_type), pragma_value))
