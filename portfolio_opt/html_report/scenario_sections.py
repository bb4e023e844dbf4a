"""The sections of a result with scenarios (spec v2 B): the NPV distribution with E[NPV]
and CVaR, the hashprice fan, the first-stage plan, EVPI and VSS; and the efficient
frontier of frontier.csv.

The page has no script, so there is no scenario selector: every other section shows the
expectation over the scenarios (see :mod:`portfolio_opt.html_report.scenarios`) and says
so; this one shows the scenarios side by side.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from .data import ReportData
from .page import esc, figure, fmt, kpi, musd, section, table, year_label
from .scenarios import (
    MAX_LISTED,
    FirstStageRow,
    ScenarioData,
    ScenarioPaths,
    first_stage,
    listed,
    scenario_paths,
)

__all__ = ["EXPECTED_NOTE", "expected_note", "frontier", "risk_cards", "uncertainty"]

MUSD = 1e6
MAX_ROWS = 200  # rows of a table before "N more in the file"
MAX_SCENARIO_ROWS = 50  # scenarios in the NPV and hashprice tables
EXPECTED_NOTE = ("Expected over the scenarios: each number is the probability-weighted mean "
                 "of the scenarios' numbers, never their sum (each scenario's own rows are "
                 "in the files, under its id in the scenario column).")


def _tail_share(alpha: Any) -> str:
    return f"{100 * (1 - float(alpha)):.3g} %"


def risk_cards(summary: dict[str, Any]) -> list[str]:
    """Headline cards of a result with scenarios: E[NPV], CVaR and, when CVaR weighs in,
    the objective; none without the risk fields."""
    if summary.get("expected_npv_usd") is None:
        return []
    cards = [kpi("expected NPV", musd(float(summary["expected_npv_usd"])))]
    if summary.get("cvar_usd") is not None:
        alpha = summary.get("cvar_alpha")
        label = "CVaR" if alpha is None else f"CVaR, worst {_tail_share(alpha)}"
        cards.append(kpi(label, musd(float(summary["cvar_usd"]))))
    weight = summary.get("cvar_weight")
    if summary.get("objective_usd") is not None and weight:
        cards.append(kpi(f"objective, CVaR weight {float(weight):g}",
                         musd(float(summary["objective_usd"]))))
    return cards


def expected_note(data: ReportData, text: str = EXPECTED_NOTE) -> str:
    """The note that a section shows expected values; nothing without scenarios."""
    return f'<p class="note">{esc(text)}</p>' if data.scenarios is not None else ""


def uncertainty(data: ReportData) -> str:
    sc = data.scenarios
    if sc is None:
        return ""
    s = data.summary or {}
    paths = scenario_paths(data.instance, sc.ids)
    structure = paths.structure if isinstance(paths, ScenarioPaths) else None
    intro = (f"{len(sc.ids):,} scenario{'s' if len(sc.ids) != 1 else ''}"
             + (f", structure {structure}" if structure else "") + ".")
    if s.get("cvar_alpha") is not None:
        alpha, weight = float(s["cvar_alpha"]), float(s.get("cvar_weight") or 0.0)
        aim = (f"The plan maximises (1 − w) E[NPV] + w CVaR with w = {weight:g}" if weight
               else "Risk-neutral (CVaR weight 0): the plan maximises E[NPV]")
        intro += (f" {aim}; CVaR at alpha {alpha:g} is the mean NPV of the worst "
                  f"{_tail_share(alpha)} of the probability.")
    intro += (" The other sections of this page show expected values: each number is the "
              "probability-weighted mean over the scenarios, never their sum; the rows of "
              "each scenario are in the files (scenario column).")
    body = f'<p class="note">{esc(intro)}</p>'
    body += "".join(f'<p class="note">{esc(n)}</p>' for n in sc.notes)
    body += _distribution(sc, s) + _fan(paths) + _first_stage(data, sc, paths)
    body += _value_of_information(sc, s)
    return section("uncertainty", "Scenarios and risk", body)


def _distribution(sc: ScenarioData, s: dict[str, Any]) -> str:
    from .scenario_charts import in_tail, npv_distribution

    t = sc.table
    if t is None or not {"npv_usd", "probability"} <= set(t.columns) or t.empty:
        return ('<h3>NPV across scenarios</h3><p class="muted">No scenarios.csv: the NPV '
                "distribution is not drawn.</p>")

    def money(key: str) -> float | None:
        v = s.get(key)
        return None if v is None else float(v)

    chart = npv_distribution(t, money("expected_npv_usd"), money("cvar_usd"),
                             money("cvar_alpha"))
    caption = ("Each scenario's NPV, lowest first, as a bar as wide as its probability; red "
               "bars are the CVaR tail (NPV at or below the (1 − alpha)-quantile); the solid "
               "line is E[NPV], the dashed one CVaR.")
    order = t.sort_values("npv_usd", kind="stable")
    tail = in_tail(order["in_cvar_tail"]) if "in_cvar_tail" in order.columns else None
    rows = [[w, f"{100 * float(p):.4g} %", fmt(float(v), 1, MUSD),
             "" if tail is None else ("yes" if tail[i] else "no")]
            for i, (w, p, v) in enumerate(zip(order["scenario"], order["probability"],
                                              order["npv_usd"], strict=True))
            if i < MAX_SCENARIO_ROWS]
    marks = []
    if s.get("expected_npv_usd") is not None:
        marks.append(f"E[NPV] {musd(float(s['expected_npv_usd']))}")
    if s.get("cvar_usd") is not None:
        names = [] if tail is None else [str(w) for w, t_ in zip(order["scenario"], tail,
                                                                 strict=True) if t_]
        marks.append(f"CVaR {musd(float(s['cvar_usd']))}"
                     + (f", the probability-weighted mean NPV of the tail: "
                        f"{listed(names, MAX_LISTED)}" if names else ""))
    line = f'<p>{esc("; ".join(marks))}.</p>' if marks else ""
    out = ("<h3>NPV across scenarios</h3>" + line + figure(chart, caption)
           + table([("scenario", ""), ("probability", "num"), ("NPV (MUSD)", "num"),
                    ("in CVaR tail", "")], rows))
    if len(order) > MAX_SCENARIO_ROWS:
        out += (f'<p class="note">The {MAX_SCENARIO_ROWS} lowest NPVs; '
                f"{len(order) - MAX_SCENARIO_ROWS:,} more scenarios in scenarios.csv.</p>")
    return out


def _fan(paths: ScenarioPaths | str | None) -> str:
    from .scenario_charts import MAX_FAN_LINES, hashprice_fan

    head = "<h3>Hashprice by scenario</h3>"
    if paths is None:
        return (head + '<p class="muted">Drawn from the instance: write the report with '
                "'solve --report' (which saves instance.json) or pass --instance.</p>")
    if isinstance(paths, str):
        return head + f'<p class="muted">{esc(paths)}</p>'
    n = len(paths.probability)
    caption = ("Each scenario's hashprice by period, wider and darker the more probable; the "
               "black line is the probability-weighted mean (the mean-value problem's path).")
    if n > MAX_FAN_LINES:
        caption += f" The {MAX_FAN_LINES} most probable of the {n:,} scenarios are drawn."
    years = [year_label(y) for y in paths.years]
    mean = paths.mean_hashprice
    rows = [["probability-weighted mean", "", *(fmt(v, 2) for v in mean)]]
    for w in list(paths.probability)[:MAX_SCENARIO_ROWS]:
        rows.append([w, f"{100 * paths.probability[w]:.4g} %",
                     *(fmt(float(v), 2) for v in paths.hashprice[w])])
    out = (head + figure(hashprice_fan(paths), caption)
           + table([("scenario", ""), ("probability", "num"),
                    *((f"{y} (USD/PH/day)", "num") for y in years)], rows))
    if n > MAX_SCENARIO_ROWS:
        out += f'<p class="note">{n - MAX_SCENARIO_ROWS:,} more scenarios in the instance.</p>'
    return out


def _scenarios_cell(members: list[str], total: int) -> str:
    if len(members) == total:
        return "every scenario" if total != 1 else members[0]
    return listed(members, MAX_LISTED)


def _decisions(row: FirstStageRow) -> list[str]:
    halls = [f"{s}: {n:g} hall{'s' if n != 1 else ''}" for s, n in row.halls]
    asics = [f"{s}: {mw:,.4g} MW" for s, mw in row.asics]
    leases = [f"{c} at {s}: {mw:,.4g}" for c, s, mw in row.leases]
    return [listed(x, MAX_LISTED) or "–" for x in (halls, asics, leases)]


def _first_stage(data: ReportData, sc: ScenarioData, paths: ScenarioPaths | str | None
                 ) -> str:
    head = "<h3>First-stage plan</h3>"
    rows = first_stage(sc.per_scenario, sc.ids)
    if not rows:
        return head + '<p class="muted">No per-scenario site_periods table.</p>'
    text = []
    con = data.tables.get("contracts")
    if con is not None and len(con):
        acc = con[con["accepted"].astype(bool)]
        names = [f"{c} ({fmt(float(mw), 1)} IT MW)" for c, mw in zip(acc["contract"],
                                                                    acc["it_mw"], strict=True)]
        text.append("Contracts accepted, decided in period 1 in every scenario: "
                    + (", ".join(names) if names else "none") + ".")
    by_period: dict[int, list[FirstStageRow]] = {}
    for r in rows:
        by_period.setdefault(r.period, []).append(r)
    split_at = next((t for t, rs in by_period.items() if len(rs) > 1), None)
    if isinstance(paths, ScenarioPaths):
        b = paths.branch_index()
        if paths.structure == "two_stage":
            text.append("two_stage: halls, ASIC purchases, contracts and the leases' split "
                        "over sites are decided once, the same in every scenario; only "
                        "hashing, power and flows follow the scenario.")
        elif b is None:
            text.append("multi_stage, but the scenarios' data never differ: one plan.")
        else:
            groups = paths.groups(b)
            text.append(
                f"multi_stage: the scenarios' data first differ in {year_label(paths.years[b])} "
                f"(period {paths.periods[b]}), into {len(groups)} groups; from then on a "
                "period's decisions may differ between scenarios whose hashprice or "
                "energy-price scale differed up to that period.")
    if split_at is None:
        text.append("The plan's first-stage decisions are the same in every scenario.")
    else:
        year = by_period[split_at][0].year
        text.append(f"The plan's first-stage decisions first differ in {year_label(year)} "
                    f"(period {split_at}): one row below per group of scenarios deciding "
                    "alike.")
    table_rows = [[year_label(r.year), _scenarios_cell(r.scenarios, len(sc.ids)),
                   *_decisions(r)] for r in rows[:MAX_ROWS]]
    heads = [("year", ""), ("scenarios", ""), ("halls started", ""),
             ("ASIC MW bought", ""), ("lease IT MW served, by site", "")]
    out = (head + "".join(f'<p class="note">{esc(t)}</p>' for t in text)
           + table(heads, table_rows))
    if len(rows) > MAX_ROWS:
        out += (f'<p class="note">{len(rows) - MAX_ROWS:,} more rows: see site_periods.csv '
                "and contract_site_periods.csv.</p>")
    return out


def _details(s: dict[str, Any]) -> Any:
    details = s.get("value_of_information")
    if isinstance(details, str) and details.startswith("{"):
        try:
            return json.loads(details)  # a results workbook holds mappings as JSON text
        except ValueError:
            return details
    return details


def _value_of_information(sc: ScenarioData, s: dict[str, Any]) -> str:
    details = _details(s)
    evpi, vss = s.get("evpi_usd"), s.get("vss_usd")
    if evpi is None and vss is None:
        if isinstance(details, str) and details:
            return ('<h3>Value of information</h3><p class="muted">EVPI and VSS '
                    f"{esc(details)}.</p>")
        return ""
    d = details if isinstance(details, dict) else {}
    obj = s.get("objective_usd")
    parts = []
    if evpi is not None:
        ws = d.get("wait_and_see_usd")
        parts.append(f"EVPI {musd(float(evpi))}: what knowing the scenario before deciding "
                     "would add, the wait-and-see value (each scenario's own optimal NPV, "
                     "probability-weighted"
                     + (f", {musd(float(ws))}" if ws is not None else "") + ") minus the "
                     "objective" + (f" {musd(float(obj))}" if obj is not None else "") + ".")
    if vss is not None:
        mv = (d.get("mean_value_plan") or {}).get("objective_usd") \
            if isinstance(d.get("mean_value_plan"), dict) else None
        parts.append(f"VSS {musd(float(vss))}: what planning with the scenarios adds over "
                     "planning for the mean: the objective minus the objective"
                     + (f" {musd(float(mv))}" if mv is not None else "") + " of the plan "
                     "whose first-stage decisions are fixed at the mean-value problem's "
                     "(probability-weighted hashprice and scale), the rest optimised in each "
                     "scenario.")
    out = "<h3>Value of information</h3>" + "".join(
        f'<p class="note">{esc(p)}</p>' for p in parts)
    wait = d.get("wait_and_see")
    t = sc.table
    if isinstance(wait, dict) and t is not None and "npv_usd" in t.columns:
        own = dict(zip(t["scenario"].astype(str), t["npv_usd"], strict=True))
        rows = []
        for w, info in list(wait.items())[:MAX_ROWS]:
            best = info.get("npv_usd") if isinstance(info, dict) else None
            here = own.get(str(w))
            gap = None if best is None or here is None \
                else round(float(best) - float(here), 2) or 0.0  # no "-0.0"
            rows.append([w, fmt(None if best is None else float(best), 1, MUSD),
                         fmt(None if here is None else float(here), 1, MUSD),
                         fmt(gap, 1, MUSD)])
        out += table([("scenario", ""), ("own optimal NPV (MUSD)", "num"),
                      ("NPV in this plan (MUSD)", "num"), ("regret (MUSD)", "num")], rows)
    return out


# ----------------------------------------------------------------------------- frontier

_FRONTIER_COLUMNS = (  # (column, header, kind): money in MUSD, numbers, or text
    ("weight", "CVaR weight", "number"), ("alpha", "alpha", "number"),
    ("status", "status", "text"), ("mip_gap", "MIP gap", "number"),
    ("expected_npv_usd", "E[NPV] (MUSD)", "money"), ("cvar_usd", "CVaR (MUSD)", "money"),
    ("objective_usd", "objective (MUSD)", "money"), ("new_it_mw", "new IT MW", "number"),
    ("contracted_it_mw", "contracted IT MW", "number"),
    ("contracts_accepted", "contracts accepted", "text"),
    ("change", "change from the previous weight", "text"),
)


def _cell(value: Any, kind: str) -> str:
    if kind == "text":
        text = "" if value is None or (isinstance(value, float) and math.isnan(value)) \
            else str(value)
        return text.replace(";", ", ")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "" if value is None else str(value)
    v = float(value)
    if kind == "money":
        return fmt(v, 1, MUSD)
    if math.isnan(v) or v.is_integer():
        return fmt(v, 0)
    return f"{v:.3g}" if abs(v) < 1 else f"{v:,.2f}"


def frontier(data: ReportData) -> str:
    from .scenario_charts import frontier_chart

    df = data.frontier
    if df is None:
        return ""
    if df.empty:
        return section("frontier", "Efficient frontier",
                       '<p class="muted">frontier.csv has no rows.</p>')
    intro = ("The plan solved at each CVaR weight w, from risk-neutral (w = 0) to the worst "
             "scenarios only (w = 1): how much expected NPV each plan gives up for a better "
             "bad case.")
    info = data.frontier_info
    facts = [f"{label} {info[key]}" for key, label in (
        ("instance_name", "Instance"), ("scenarios", "scenarios:"),
        ("structure", "structure"), ("cvar_alpha", "CVaR at alpha"))
        if isinstance(info.get(key), (str, int, float)) and not isinstance(info[key], bool)]
    if facts:
        intro += " " + ", ".join(facts) + " (frontier.json)."
    body = f'<p class="note">{esc(intro)}</p>'
    cols = [c for c in _FRONTIER_COLUMNS if c[0] in df.columns]
    numeric = {"expected_npv_usd", "cvar_usd"} <= set(df.columns) and all(
        pd.api.types.is_numeric_dtype(df[c]) for c in ("expected_npv_usd", "cvar_usd"))
    finite = numeric and bool((df["expected_npv_usd"].notna() & df["cvar_usd"].notna()).any())
    if finite:
        s = data.summary or {}
        here = (float(s["cvar_usd"]), float(s["expected_npv_usd"])) \
            if s.get("cvar_usd") is not None and s.get("expected_npv_usd") is not None \
            else None
        body += figure(frontier_chart(df, here),
                       "One point per CVaR weight, joined in weight order (hollow: not "
                       "proven optimal)" + ("; the star is this folder's plan." if here
                                            else "."), narrow=True)
    else:
        body += ('<p class="muted">No chart: frontier.csv has no expected_npv_usd and '
                 "cvar_usd numbers.</p>")
    rows = [[_cell(r[c], kind) for c, _, kind in cols]
            for r in df.head(MAX_ROWS).to_dict("records")]
    body += table([(h, "" if kind == "text" else "num") for _, h, kind in cols], rows)
    return section("frontier", "Efficient frontier", body)
