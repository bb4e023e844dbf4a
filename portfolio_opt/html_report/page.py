"""The HTML page: one file, inline CSS and SVG, no script, nothing fetched.

Every string that comes from an instance or a results file goes through :func:`esc`
(``html.escape`` with quotes) before it reaches the page; the charts' SVG text is escaped
by matplotlib's SVG backend. A Content-Security-Policy forbids scripts and every network
fetch, so even a mistake could not make the page run code or call home.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

__all__ = ["CSP", "esc", "kpi", "musd", "page", "section", "table", "year_label"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
:root { --ink:#1f2633; --muted:#5b6472; --line:#dde2ea; --card:#f6f8fb; --btc:#f2a900;
        --ai:#3b6fd8; --bad:#d1495b; --good:#2e9e6a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica,
       Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 8px; padding-bottom: 4px;
     border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.sub, p.note, .muted { color: var(--muted); }
p.note { font-size: 12.5px; margin: 4px 0 10px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr));
        gap: 12px; margin: 18px 0 6px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
       padding: 10px 14px; }
.kpi .label { font-size: 12px; color: var(--muted); text-transform: uppercase;
              letter-spacing: .04em; }
.kpi .value { font-size: 18px; white-space: nowrap; font-weight: 650; margin-top: 2px; }
.status-optimal, .status-feasible { color: var(--good); }
.status-infeasible, .status-error, .status-time_limit_no_solution { color: var(--bad); }
.message { white-space: pre-wrap; background: #fff7e6; border: 1px solid #f1d9a6;
           border-radius: 8px; padding: 10px 14px; font-size: 13px; }
figure { margin: 10px 0 4px; }
figure svg { width: 100%; height: auto; display: block; }
figure.narrow { max-width: 780px; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); }
code { font-size: 12.5px; }
"""


def esc(value: Any) -> str:
    """Text for the page: escaped, quotes included (safe in elements and attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any, digits: int = 1, scale: float = 1.0) -> str:
    """A number with thousands separators, or the value as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value / scale:,.{digits}f}"
    return str(value)


def musd(usd: float) -> str:
    """USD as MUSD: one decimal below a billion, none above (the headline stays short)."""
    return f"{usd / 1e6:,.{0 if abs(usd) >= 1e9 else 1}f} MUSD"


def year_label(value: object) -> str:
    """A period's year label: 2026, or 2026.5 when periods are fractional years."""
    try:
        y = float(str(value))
    except ValueError:
        return str(value)
    return f"{y:.0f}" if y.is_integer() else f"{y:g}"


def kpi(label: str, value: str, css: str = "") -> str:
    """A headline figure; ``value`` is escaped here."""
    cls = f' class="value {esc(css)}"' if css else ' class="value"'
    return (f'<div class="kpi"><div class="label">{esc(label)}</div>'
            f"<div{cls}>{esc(value)}</div></div>")


def table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]],
          numeric: Sequence[bool] | None = None) -> str:
    """A table; ``columns`` are (header, css class) pairs; every cell is escaped."""
    numeric = list(numeric) if numeric is not None else [c[1] == "num" for c in columns]
    head = "".join(f'<th class="{esc(cls)}">{esc(name)}</th>' for name, cls in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(v)}</td>' if num else f"<td>{esc(v)}</td>"
            for v, num in zip(row, numeric, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def significant(value: Any) -> str:
    """A number to read, not to copy: whole above 100, three significant digits below."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        return fmt(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def frame_table(df: pd.DataFrame, formats: dict[str, Callable[[Any], str]] | None = None,
                max_rows: int = 200) -> str:
    """A DataFrame as a table (first ``max_rows`` rows; a note says how many were left).
    Numbers are shown by ``formats[column]`` (default :func:`significant`)."""
    formats = formats or {}
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    rows = [[formats.get(str(c), significant)(v) if num else fmt(v)
             for v, c, num in zip(r, df.columns, numeric, strict=True)]
            for r in df.head(max_rows).itertuples(index=False, name=None)]
    out = table([(str(c), "num" if n else "") for c, n in zip(df.columns, numeric, strict=True)],
                rows, numeric)
    if len(df) > max_rows:
        out += f'<p class="note">{len(df) - max_rows:,} more rows in the file.</p>'
    return out


def figure(svg: str, caption: str = "", narrow: bool = False) -> str:
    """An inline SVG chart (made by :func:`portfolio_opt.html_report.svg.render`)."""
    cap = f'<p class="note">{esc(caption)}</p>' if caption else ""
    cls = ' class="narrow"' if narrow else ""
    return f"<figure{cls}>{svg}</figure>{cap}"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, header: str, sections: Sequence[str], footer: str) -> str:
    """The whole document."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body><main>\n"
        f"{header}\n" + "\n".join(sections) + f"\n<footer>{footer}</footer>\n"
        "</main></body></html>\n"
    )
