"""An independent implementation of the spec's MILP, used to cross-check the product.

It is built from /work/shared/spec/instance-format.md (v1) and instance-format-v2.md
(parts A, B, C and D) alone, directly on highspy, and shares no code with ``portfolio_opt``:
it imports nothing from the product and takes the validated instance as a plain dict
(``Instance.model_dump(by_alias=True)``, or any object with ``model_dump``), applying the
spec's defaults itself.
"""

from .spec_model import reference_npv, reference_solve

__all__ = ["reference_npv", "reference_solve"]
