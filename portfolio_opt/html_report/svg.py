"""matplotlib figures as inline SVG fragments for one self-contained HTML page.

Figures are made with :class:`matplotlib.figure.Figure` directly (no pyplot, so no GUI
backend and no global figure state) and rendered by matplotlib's SVG backend. Text stays
text (``svg.fonttype: none``), escaped by the backend; XML comments, which the backend fills
with the raw strings it draws, are removed, and every figure gets its own id salt so that
clip paths and markers of several figures on one page never share an id.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Callable
from typing import Any

from matplotlib import rc_context
from matplotlib.figure import Figure

__all__ = ["PALETTE", "figure_svg", "render"]

PALETTE = {
    "btc": "#f2a900",  # bitcoin orange
    "ai": "#3b6fd8",
    "mixed": "#2e9e6a",
    "source": "#8a8f98",
    "idle": "#ffffff",
    "positive": "#2e9e6a",
    "negative": "#d1495b",
    "total": "#33415c",
}

_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,  # an id such as 'a$b$' is text, not mathtext
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "legend.frameon": False,
}

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def render(draw: Callable[[Figure], None], width: float, height: float) -> str:
    """Draw a ``width`` x ``height`` inch figure with ``draw`` in the report's style and
    return it as an ``<svg>`` element to paste into HTML (no prolog, no comments)."""
    style: Any = {**_STYLE, "svg.hashsalt": secrets.token_hex(8)}
    with rc_context(style):
        fig = Figure(figsize=(width, height), layout="constrained")
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return _clean(buf.getvalue())


def figure_svg(fig: Figure) -> str:
    """An already drawn figure (e.g. from :mod:`portfolio_opt.batch.plots`) as inline SVG."""
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": secrets.token_hex(8)}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return _clean(buf.getvalue())


def _clean(text: str) -> str:
    text = _PROLOG.sub("", text, count=1)
    text = _METADATA.sub("", text)
    return _COMMENT.sub("", text).strip()
