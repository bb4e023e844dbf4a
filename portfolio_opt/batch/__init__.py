"""Sensitivity batches: many re-solves of one base instance, on every core, resumable.

``portfolio_opt.batch.paths`` names numbers inside an instance; ``spec`` reads batch
files; ``designs`` turns them into scenarios; ``runner``/``dask_runner`` solve them;
``store`` keeps the results on disk; ``analysis`` computes sensitivity indices; ``api``
ties these together as :func:`run_batch`. Submodules load on demand.
"""

from __future__ import annotations
