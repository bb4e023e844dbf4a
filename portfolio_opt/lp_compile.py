"""Pyomo's standard-form compiler with a short path for flat linear rows.

The model's rows are almost all flat sums ``c1 v1 + c2 v2 + ... + k`` with plain numbers
for coefficients (``expressions.linear``: a Pyomo ``LinearExpression``), a single term or a
single variable. Pyomo's ``LinearRepnVisitor`` walks each through its general machinery
(dispatch on every node, one call per term, a zero filter after). :class:`FlatLinearVisitor`
reads such a row in one loop with the same arithmetic in the same order, and hands anything
else (a mutable parameter as a coefficient, a fixed variable not yet recorded, nested sums,
negations) to Pyomo's visitor unchanged. Rows, columns and every number are the ones
Pyomo's compiler gives (tests/test_lp_compile.py compares the two bit for bit); the rest of
the compile (row and column order, fixed variables, the sparse matrices) is Pyomo's own
code: the visitor is the hook its compiler class exposes (``_get_visitor``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["compile_standard_form", "import_sparse"]

_VISITOR: Any = None  # FlatLinearVisitor, made on first use
_COMPILER: Any = None  # Pyomo's compiler class with that visitor


def import_sparse() -> Any:
    """``scipy.sparse``, imported without Pyomo's finishing step for ``scipy``.

    Pyomo registers a callback that runs whenever ``scipy`` is first imported and imports
    ``scipy.stats``, ``scipy.spatial`` and ``scipy.integrate`` too: about 1.2 s here, more
    than the whole hand-off of a 200-site model, for modules this package never uses
    (scipy loads them lazily if anything asks). The callback of each still unresolved
    indicator is set aside for this one import (Pyomo 6.10; a Pyomo without these
    attributes simply runs its callback).

    Likewise ``numpy.f2py``: scipy's vendored ``array_api_compat.numpy`` runs ``from numpy
    import *``, which loads every lazy numpy submodule in ``numpy.__all__``, f2py (the
    Fortran wrapper generator, with its regex tables and charset_normalizer) among them:
    about 0.1 s of a 0.15 s ``scipy.sparse`` import. An empty stand-in module answers for it
    during this one import and is removed after it, so a later ``import numpy.f2py`` loads
    the real one.
    """
    import sys
    import types

    if "scipy.sparse" not in sys.modules:
        from pyomo.common import dependencies

        finder = getattr(dependencies, "DeferredImportCallbackFinder", None)
        waiting = getattr(finder, "_callbacks", {}).get("scipy", ())
        held = [(ind, ind._callback) for ind in waiting
                if getattr(ind, "_module", False) is None and hasattr(ind, "_callback")]
        for ind, _ in held:
            ind._callback = None
        import numpy

        stand_in = None
        if "numpy.f2py" not in sys.modules and "f2py" not in vars(numpy):
            stand_in = sys.modules["numpy.f2py"] = types.ModuleType("numpy.f2py")
            numpy.f2py = stand_in
        try:
            import scipy.sparse  # noqa: F401
        finally:
            for ind, callback in held:
                ind._callback = callback
            if stand_in is not None:
                if sys.modules.get("numpy.f2py") is stand_in:
                    del sys.modules["numpy.f2py"]
                if vars(numpy).get("f2py") is stand_in:
                    del numpy.f2py
    return sys.modules["scipy.sparse"]


def _visitor_class() -> Any:
    """FlatLinearVisitor, made on first use (Pyomo's repn modules load with the compiler)."""
    global _VISITOR
    if _VISITOR is not None:
        return _VISITOR
    from pyomo.common.numeric_types import native_numeric_types
    from pyomo.core.expr import (
        LinearExpression,
        MonomialTermExpression,
        NegationExpression,
        SumExpression,
    )
    from pyomo.repn.linear import LinearRepnVisitor

    native = frozenset(native_numeric_types)

    class FlatLinearVisitor(LinearRepnVisitor):
        """LinearRepnVisitor with a one-loop read of flat linear rows."""

        def walk_expression(self, expr: Any) -> Any:
            cls = expr.__class__
            if cls is SumExpression:
                read = self._sum(expr.args)
            elif cls is LinearExpression:
                read = self._flat(expr.args)
            else:
                read = self._flat((expr,))
            if read is None:
                return super().walk_expression(expr)
            linear, const = read
            ans = self.Result()
            ans.constant = const
            for vid in [vid for vid, c in linear.items() if not c]:
                del linear[vid]
            ans.linear = linear
            return ans

        def _flat(self, args: Any) -> tuple[dict[int, Any], Any] | None:
            """Terms and constant of a LinearExpression's arguments, as Pyomo's
            ``_before_linear`` adds them; None for anything it would evaluate."""
            linear: dict[int, Any] = {}
            const = 0
            var_map = self.var_map
            for arg in args:
                kind = arg.__class__
                if kind is MonomialTermExpression:
                    coef, var = arg._args_
                    if coef.__class__ not in native:
                        return None
                elif kind in native:
                    const += arg
                    continue
                elif arg.is_variable_type():
                    coef, var = 1, arg
                else:
                    return None
                vid = id(var)
                if vid not in var_map:
                    if var.fixed:
                        return None
                    self.var_recorder.add(var)
                if vid in linear:
                    linear[vid] += coef
                elif coef:
                    linear[vid] = coef
            return linear, 0 + const

        def _sum(self, args: Any) -> tuple[dict[int, Any], Any] | None:
            """A SumExpression of flat parts (negated or not), each merged as Pyomo's
            ``LinearRepn.append`` merges a child's result; None for anything else."""
            linear: dict[int, Any] = {}
            const = 0
            for arg in args:
                kind = arg.__class__
                mult = 1
                if kind is NegationExpression:
                    arg = arg._args_[0]
                    kind = arg.__class__
                    mult = -1
                if kind in native:
                    const += mult * arg
                    continue
                part = self._flat(arg.args if kind is LinearExpression else (arg,))
                if part is None:
                    return None
                terms, part_const = part
                if not terms:  # the part is a constant
                    const += mult * part_const
                elif mult == 1:
                    const += part_const
                    for vid, coef in terms.items():
                        if vid in linear:
                            linear[vid] += coef
                        else:
                            linear[vid] = coef
                else:
                    if part_const:
                        const += mult * part_const
                    for vid, coef in terms.items():
                        if vid in linear:
                            linear[vid] += mult * coef
                        else:
                            linear[vid] = mult * coef
            return linear, const

    _VISITOR = FlatLinearVisitor
    return _VISITOR


def compile_standard_form(model: Any, **options: Any) -> Any:
    """``LinearStandardFormCompiler().write(model, **options)`` with the flat-row visitor."""
    global _COMPILER
    import_sparse()
    from pyomo.common.gc_manager import PauseGC
    from pyomo.repn.plugins.standard_form import (
        LinearStandardFormCompiler,
        _LinearStandardFormCompiler_impl,
    )

    if _COMPILER is None:
        class _Impl(_LinearStandardFormCompiler_impl):
            _get_visitor = _visitor_class()

        _COMPILER = _Impl
    config = LinearStandardFormCompiler().config(options)
    with PauseGC():
        return _COMPILER(config).write(model)
