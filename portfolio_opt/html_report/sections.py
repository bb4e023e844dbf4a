"""The report's sections, each from :class:`ReportData`, each saying so when its data is
missing rather than leaving a hole."""

from __future__ import annotations

import logging
from typing import Any

from .data import ReportData
from .page import esc, figure, fmt, frame_table, kpi, section, table
from .page import musd as _musd
from .page import year_label as _year
from .scenario_sections import expected_note, risk_cards

__all__ = ["batch", "blocks", "cash", "contracts", "diagnosis", "footer", "header",
           "marginal", "mw", "network"]

log = logging.getLogger(__name__)

MUSD = 1e6


def header(data: ReportData) -> str:
    s = data.summary or {}
    status = str(s.get("status", "batch" if data.batch is not None else "unknown"))
    cards = []
    if data.summary is not None:
        npv = s.get("objective_npv_usd")
        gap = s.get("mip_gap")
        bound = s.get("objective_bound_usd")
        risk = risk_cards(s)  # a result with scenarios: E[NPV], CVaR (spec v2 B)
        cards += risk or [kpi("NPV", "n/a" if npv is None else _musd(npv))]
        cards += [
            kpi("status", status, f"status-{status}"),
            kpi("MIP gap", "n/a" if gap is None else f"{100 * gap:.3g} %"),
            kpi("bound on the objective" if risk else "bound",
                "n/a" if bound is None else _musd(bound)),
        ]
    if data.has_plan:
        sp = data.tables["site_periods"]
        last = sp[sp["period"] == sp["period"].max()]
        year = last["year"].iloc[0] if len(last) else ""
        of = ", expected" if data.scenarios is not None else ""
        cards += [kpi(f"BTC MW hashing, {_year(year)}{of}", f"{last['btc_mw'].sum():,.0f}"),
                  kpi(f"AI IT MW served, {_year(year)}{of}",
                      f"{last['ai_served_it_mw'].sum():,.0f}")]
        con = data.tables.get("contracts")
        if con is not None:
            cards.append(kpi("contracts accepted",
                             f"{int(con['accepted'].astype(bool).sum())} of {len(con)}"))
    if data.batch is not None:
        res = data.batch.results
        ok = res[res["status"].isin(["optimal", "feasible"])]
        cards.append(kpi("batch scenarios", f"{len(ok)} solved of {len(res)}"))
        if len(ok):
            lo, hi = ok["objective_npv_usd"].min(), ok["objective_npv_usd"].max()
            cards.append(kpi("batch NPV range", f"{lo / MUSD:,.0f} to {hi / MUSD:,.0f} MUSD"))
    if data.summary is None and data.frontier is not None:
        cards.append(kpi("frontier points", f"{len(data.frontier):,}"))
    message = s.get("message")
    box = f'<div class="message">{esc(message)}</div>' if message else ""
    sub = "Portfolio plan: BTC mining and AI/HPC leasing, site by site and period by period"
    return (f"<header><h1>{esc(data.title)}</h1><p class=\"sub\">{esc(sub)}</p></header>"
            f'<div class="kpis">{"".join(cards)}</div>{box}')


def cash(data: ReportData) -> str:
    from .charts import cash_by_period, cash_columns, npv_bridge

    if not data.has_plan:
        return ""
    cf = data.tables["cashflows"].sort_values("period")
    inflows, outflows = cash_columns(cf)
    cols = [c for c, _, _ in inflows] + [c for c, _, _ in outflows] + ["net", "discounted"]
    rows = [[_year(r["year"]),
             *(fmt(float(r[c]), 1, MUSD) for c in cols)] for _, r in cf.iterrows()]
    rows.append(["total", *(fmt(float(cf[c].sum()), 1, MUSD) for c in cols)])
    heads = [("year", ""), *((f"{c.replace('_', ' ')} (MUSD)", "num") for c in cols)]
    s = data.summary or {}
    tail = float(s.get("terminal_value_usd") or 0.0)
    after = float(s.get("debt_after_horizon_usd") or 0.0)
    left = "Left: the horizon's totals, nominal, then discounting"
    if tail or after:
        left += (" and, after the horizon, the contracts' terminal value and the debt "
                 "service still owed (discounted)")
    body = (figure(npv_bridge(cf, s), f"{left}, to the NPV. Right: each period's discounted "
                   "net cash flow adds up to the NPV.")
            + figure(cash_by_period(cf), "Inflows above zero, outflows below; capex is paid "
                     "in the period a hall starts or ASICs are bought"
                     + ("; tenant contributions and loans are inflows, debt service an "
                        "outflow." if any(c in cols for c in ("tenant_capex", "debt_drawn"))
                        else "."))
            + table(heads, rows) + _funding(cf))
    note = expected_note(data, "Expected over the scenarios: each period's cash flows are the "
                         "probability-weighted mean of the scenarios' (never their sum), so "
                         "the bridge ends at E[NPV]; each scenario's rows are in "
                         "cashflows.csv.")
    return section("cash", "Cash flow and NPV", note + body)


def _funding(cf: Any) -> str:
    """Capex split into what tenants pay, what is borrowed and the equity rest, by period;
    only when tenants or lenders pay part of it."""
    tenant = cf["tenant_capex"].astype(float) if "tenant_capex" in cf.columns else None
    debt = cf["debt_drawn"].astype(float) if "debt_drawn" in cf.columns else None
    if not ((tenant is not None and (tenant != 0).any())
            or (debt is not None and (debt != 0).any())):
        return ""
    capex = cf["capex"].astype(float)
    tenant = tenant if tenant is not None else capex * 0.0
    debt = debt if debt is not None else capex * 0.0
    equity = capex - tenant - debt
    rows = [[_year(y), *(fmt(float(v), 1, MUSD) for v in vals)]
            for y, *vals in zip(cf["year"], capex, tenant, debt, equity, strict=True)]
    rows.append(["total", *(fmt(float(x.sum()), 1, MUSD)
                            for x in (capex, tenant, debt, equity))])
    heads = [("year", ""), ("capex (MUSD)", "num"), ("tenant capex (MUSD)", "num"),
             ("debt drawn (MUSD)", "num"), ("equity (MUSD)", "num")]
    return ("<h3>Who pays the capex</h3><p class=\"note\">Capex split into tenant "
            "contributions, loans and the equity rest (what the capex budgets bound); equity "
            "below zero is cash taken out, since lenders lend against the gross build cost."
            "</p>" + table(heads, rows))


def mw(data: ReportData) -> str:
    from .charts import mw_by_site

    if not data.has_plan:
        return ""
    return section("mw", "MW by site and period", expected_note(data) + figure(
        mw_by_site(data.tables["site_periods"]),
        "ASIC MW hashing (BTC) and AI IT MW served, stacked; the first panel is the "
        "whole portfolio."))


def blocks(data: ReportData) -> str:
    """Per site, ASIC MW hashing in each price block beside the AI IT MW served (spec v2
    C); only for a plan with blocks (site_period_blocks)."""
    from .charts import AI_COLUMN, MAX_BLOCK_SITES, block_mw, btc_by_block

    spb = data.tables.get("site_period_blocks")
    if not data.has_plan or spb is None or spb.empty:
        return ""
    sp = data.tables["site_periods"]
    frame = block_mw(spb, sp)
    if frame.empty:
        return section("blocks", "Hashing by price block beside firm AI",
                       '<p class="muted">No site hashes or serves AI in the plan.</p>')
    names = [c for c in frame.columns if c != AI_COLUMN]
    shares = {}
    market = getattr(data.instance, "market", None)
    for b in getattr(market, "blocks", None) or []:
        shares[str(b.id)] = f"{b.id} ({100 * b.hours_share:.3g} % of hours)"
    known = [shares[b] for b in names if b in shares]
    sites = sp["site"].nunique()
    cut = len(frame) == MAX_BLOCK_SITES and sites > MAX_BLOCK_SITES
    which = (f"the {len(frame)} largest of {sites} sites" if cut
             else "each site that hashes or serves AI")
    caption = (f"For {which}: ASIC MW hashing in the hours of each price block (shades of "
               "orange, one bar per block) beside the AI IT MW served (blue), which is firm: "
               "the same in every block. Averages over the periods. A short orange bar is a "
               "block in which the site curtails mining.")
    if len(known) == len(names):
        caption += f" Blocks: {', '.join(known)}."
    if cut:
        caption += " Every site and period is in site_period_blocks.csv."
    rows = [[site, *(fmt(float(v), 1) for v in vals)]
            for site, *vals in frame.itertuples(name=None)]
    heads = [("site", ""), *((f"BTC MW, {b}", "num") for b in names),
             (AI_COLUMN, "num")]
    dr = ""
    if "dr_mw" in spb.columns and (spb["dr_mw"].astype(float) != 0).any():
        dr = ('<p class="note">Demand response: the gross MW standing ready to shed, by '
              "block, is in site_period_blocks.csv (dr_mw); what standing ready earns is the "
              "cash flow's dr credit.</p>")
    body = (expected_note(data) + figure(btc_by_block(frame, shares), caption)
            + table(heads, rows) + dr)
    return section("blocks", "Hashing by price block beside firm AI", body)


def network(data: ReportData) -> str:
    from .network import network_map, site_graph

    sp = data.tables.get("site_periods")
    if data.instance is None and sp is None:
        return ""
    nodes, edges = site_graph(data.instance, sp, data.tables.get("flows"))
    note = ("Sites sized by their peak gross MW in the plan (sources by their most MW), "
            "coloured by what the plan does there; power links solid with their capacity, "
            "fiber links dashed with their latency.")
    if not data.has_plan:
        note = ("No plan: sites sized by capacity_mw, sources by their most MW; power links "
                "solid with their capacity, fiber links dashed with their latency.")
    if data.instance is None:
        note = ("Drawn from the plan alone (no instance.json in the folder: write the report "
                "with 'solve --report' or pass --instance): sites, and the power links and "
                "sources in flows.csv, labelled with their peak flow. Fiber links are not "
                "shown.")
    if data.scenarios is not None and data.has_plan:
        note += " With scenarios: sized and coloured by the expected plan."
    return section("map", "Site graph", figure(network_map(nodes, edges), note))


def contracts(data: ReportData) -> str:
    con = data.tables.get("contracts")
    if con is None:
        return ""
    if con.empty:
        return section("contracts", "Accepted contracts",
                       '<p class="muted">The instance has no lease offers.</p>')
    acc = con[con["accepted"].astype(bool)]
    rows = [[r["contract"], r["tenant"], fmt(float(r["it_mw"]), 1),
             str(r["sites"]).replace(";", ", "), fmt(float(r["npv_usd"]), 1, MUSD),
             "signed" if bool(r.get("committed", False)) else "offer"]
            for _, r in acc.iterrows()]
    body = table([("contract", ""), ("tenant", ""), ("IT MW", "num"), ("sites", ""),
                  ("lease NPV (MUSD)", "num"), ("", "")], rows) if rows else \
        '<p class="muted">No contract accepted.</p>'
    body = expected_note(data, "Acceptance and IT MW are the same in every scenario; the "
                         "lease NPV is the probability-weighted mean over the scenarios, the "
                         "sites those serving the lease in some scenario.") + body
    declined = con[~con["accepted"].astype(bool)]
    if len(declined):
        body += ('<p class="note">Declined: ' + ", ".join(
            f"{esc(r['contract'])} ({esc(r['tenant'])})" for _, r in declined.iterrows())
            + "</p>")
    return section("contracts", "Accepted contracts", body)


def marginal(data: ReportData) -> str:
    mv = data.marginal_values
    if mv is None:
        return ""
    totals = mv[mv["period"].isna()] if "period" in mv.columns else mv
    if "binding" in totals.columns:
        binding = totals[totals["binding"].astype(str).str.lower().isin(["true", "1"])]
    else:
        binding = totals
    keep = [c for c in ("kind", "entity", "direction", "value_usd_per_unit", "unit", "limit",
                        "note") if c in binding.columns]
    shown = binding[keep]
    if "value_usd_per_unit" in shown.columns:
        shown = shown.reindex(shown["value_usd_per_unit"].abs().sort_values(
            ascending=False, kind="stable").index)
    body = ('<p class="note">What one more unit of a binding limit is worth, in USD of NPV '
            "per unit, over the whole horizon, with the plan's integer choices held fixed "
            "(see docs/marginal_values.md). Limits with room left are worth 0 and not "
            f"listed; all {len(mv):,} rows, per period too, are in marginal_values.csv.</p>")
    body += frame_table(shown) if len(shown) else '<p class="muted">No limit is binding.</p>'
    return section("marginal", "Marginal values", body)


def diagnosis(data: ReportData) -> str:
    diag = data.diagnosis
    if not isinstance(diag, dict):
        return ""
    parts = []
    causes = [c for c in diag.get("causes", []) if isinstance(c, dict)]
    if causes:
        parts.append("<h3>Causes found in the data</h3><ul>" + "".join(
            f"<li><b>{esc(c.get('kind'))}</b>: {esc(c.get('text'))}</li>" for c in causes)
            + "</ul>")
    clash = diag.get("clashing_contracts") or []
    if clash:
        parts.append("<h3>Committed contracts that cannot all be served</h3><p>"
                     + ", ".join(esc(c) for c in clash) + "</p>")
    iis = diag.get("iis") or {}
    lines = [r.get("text") for key in ("rows", "columns") for r in iis.get(key, [])
             if isinstance(r, dict)]
    if lines:
        parts.append("<h3>Rules that clash (irreducible infeasible subsystem)</h3><ul>"
                     + "".join(f"<li>{esc(t)}</li>" for t in lines) + "</ul>")
    return section("diagnosis", "Why there is no plan", "".join(parts)) if parts else ""


def batch(data: ReportData) -> str:
    if data.batch is None:
        return ""
    from .svg import figure_svg

    res = data.batch.results
    method = str((data.batch.manifest.get("design") or {}).get("method", ""))
    try:
        from ..batch import plots
    except ImportError as exc:  # the batch package is optional for a plan report
        return section("batch", "Batch", f'<p class="muted">Batch charts unavailable: '
                       f"{esc(exc)}</p>")
    charts: list[str] = []
    params = plots.parameter_columns(res)
    for name, make, caption in (
        ("tornado", lambda: plots.tornado_chart(res), "NPV at each parameter's low and "
         "high level, one parameter at a time; the widest swing on top."),
        ("regime map", lambda: plots.regime_map(res), "Share of MW in AI over the horizon "
         "across the first two varied parameters (a dashed line marks 50 % where the plan "
         "crosses it)."),
    ):
        if name == "tornado" and method != "oat":
            continue
        if name == "regime map" and (method == "oat" or len(params) < 2):
            continue
        try:
            charts.append(figure(figure_svg(make()), caption, narrow=True))
        except (ValueError, KeyError) as exc:
            log.warning("batch %s not drawn: %s", name, exc)
            charts.append(f'<p class="muted">No {esc(name)}: {esc(exc)}</p>')
    intro = (f'<p class="note">{len(res):,} scenarios, method {esc(method or "unknown")}, '
             f"parameters: {esc(', '.join(map(str, params)))}.</p>")
    if not charts:
        charts.append('<p class="muted">This batch\'s method has no tornado or regime map '
                      "(a tornado needs a one-at-a-time batch, a regime map two varied "
                      "parameters).</p>")
    return section("batch", "Batch: sensitivity", intro + "".join(charts))


def footer(data: ReportData) -> str:
    s = data.summary or {}
    bits = [f"Results folder: {esc(data.source)}"]
    if s.get("solver"):
        bits.append(f"solver {esc(s.get('solver'))} {esc(s.get('solver_version'))}")
    if s.get("instance_sha256"):
        bits.append(f"instance sha256 <code>{esc(str(s['instance_sha256'])[:16])}…</code>")
    for note in data.notes:
        bits.append(esc(note))
    return " · ".join(bits)
