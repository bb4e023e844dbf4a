"""``python -m portfolio_opt`` runs the ``portfolio-opt`` command line."""

from .cli import main

main()
