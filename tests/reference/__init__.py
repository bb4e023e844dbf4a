"""An independent implementation of the spec's MILP, used to cross-check the product.

It is built from /work/shared/spec/instance-format.md alone, directly on highspy, and shares
no code with ``portfolio_opt.model``; only the validated :class:`portfolio_opt.Instance`
is taken from the product.
"""

from .spec_model import reference_npv, reference_solve

__all__ = ["reference_npv", "reference_solve"]
