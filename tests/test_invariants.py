"""Every rule of the spec, re-checked from the output tables of a few solved instances.

The checks read only the instance document (with the spec's defaults filled in here) and
the result's DataFrames; they share no code with the model. Each cash-flow column is
recomputed with the spec's formulas, and the NPV with the spec's discounting.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

import portfolio_opt
from portfolio_opt.constants import (
    CASHFLOW_COLUMNS,
    CONTRACT_COLUMNS,
    CONTRACT_SITE_PERIOD_COLUMNS,
    FLOW_COLUMNS,
    SITE_PERIOD_COLUMNS,
)
from portfolio_opt.loader import read_document

ROOT = Path(__file__).resolve().parent.parent
MW_TOL = 1e-5
SPEC_SITE_PERIOD = ["site", "period", "year", "btc_mw", "btc_bought_mw", "halls_started",
                    "ai_reserved_it_mw", "ai_available_it_mw", "ai_served_it_mw",
                    "grid_import_mw", "gross_load_mw"]
SPEC_CONTRACTS = ["contract", "tenant", "accepted", "it_mw", "sites", "npv_usd"]
SPEC_CSP = ["contract", "site", "period", "it_mw"]
SPEC_FLOWS = ["link", "from", "to", "period", "flow_mw"]
SPEC_CASH = ["period", "year", "btc_revenue", "ai_revenue", "energy_cost", "opex", "capex",
             "net", "discounted"]
# spec v2 (parts A, C, D): columns cashflows.csv gains, 0 when unused.
SPEC_V2_CASH = ["energy_recovery", "dr_credit", "tenant_capex", "debt_drawn", "debt_service"]


def money_close(a: float, b: float, scale: float = 0.0) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), scale) + 1.0


# --------------------------------------------------------------------------- instances


def _mesh() -> dict[str, Any]:
    """A hand-made network using most features: half-year periods, discounting, sources,
    directed and lossy links, wheeling, near eligibility, splits, every limit."""
    return {
        "name": "mesh",
        "horizon": {"periods": 4, "years_per_period": 0.5, "start_year": 2030,
                    "discount_rate": 0.07},
        "market": {"hashprice_usd_per_ph_day": [48, 45, 30, 31]},
        "sites": [
            {"id": "north", "capacity_mw": 60,
             "grid": {"capacity_mw": 40, "price_usd_per_mwh": [35, 36, 37, 38]},
             "btc": {"fleet_mw": 40, "efficiency_j_per_th": 18, "pue": 1.05, "uptime": 0.95,
                     "opex_usd_per_mw_year": 40000,
                     "expansion": {"max_mw": 15, "capex_usd_per_mw": 700000}},
             "ai": {"max_it_mw": 30, "block_it_mw": 10, "capex_usd_per_it_mw": 3_000_000,
                    "fixed_capex_usd": 4_000_000, "lead_time_periods": 1, "pue": 1.2,
                    "opex_usd_per_it_mw_year": 90000}},
            {"id": "hub", "capacity_mw": 0},
            {"id": "south", "capacity_mw": 50,
             "ai": {"max_it_mw": 35, "existing_it_mw": 5, "block_it_mw": 10,
                    "capex_usd_per_it_mw": 4_000_000, "lead_time_periods": 0, "pue": 1.3,
                    "opex_usd_per_it_mw_year": 100000}},
            {"id": "east", "capacity_mw": 30,
             "grid": {"capacity_mw": 30, "price_usd_per_mwh": 30},
             "btc": {"fleet_mw": 25, "efficiency_j_per_th": 24, "pue": 1.1,
                     "opex_usd_per_mw_year": 60000}},
        ],
        "sources": [
            {"id": "solar", "capacity_mw": [20, 35, 20, 35], "price_usd_per_mwh": 22},
            {"id": "gas", "capacity_mw": 40, "price_usd_per_mwh": [55, 60, 65, 70]},
        ],
        "links": [
            {"from": "solar", "to": "hub", "kind": "power", "capacity_mw": 40, "loss": 0.02,
             "directed": True},
            {"from": "gas", "to": "hub", "kind": "power", "capacity_mw": 40},
            {"from": "hub", "to": "south", "kind": "power", "capacity_mw": 45, "loss": 0.03},
            {"from": "hub", "to": "north", "kind": "power", "capacity_mw": 20, "loss": 0.05},
            {"id": "ne", "from": "north", "to": "east", "kind": "power", "capacity_mw": 10},
            {"from": "north", "to": "hub", "kind": "fiber", "latency_ms": 1.5},
            {"id": "hub-south-fiber", "from": "hub", "to": "south", "kind": "fiber",
             "latency_ms": 2.0},
        ],
        "contracts": [
            {"id": "anchor", "tenant": "cloudco", "it_mw": {"min": 5, "max": 5},
             "rate_usd_per_kw_month": 140, "escalator": 0.03, "start_period": 1,
             "term_periods": 4, "eligible": {"sites": ["south"]}, "committed": True},
            {"id": "big", "tenant": "hyper", "it_mw": {"min": 10, "max": 30},
             "rate_usd_per_kw_month": 165, "escalator": 0.02, "start_period": 2,
             "term_periods": 6, "eligible": {"near": {"site": "hub", "max_latency_ms": 2}},
             "max_sites": 2},
            {"id": "lab", "tenant": "lab", "it_mw": {"min": 5, "max": 10},
             "rate_usd_per_kw_month": 120, "start_period": 3, "term_periods": 2},
            {"id": "cheap", "tenant": "hyper", "it_mw": {"min": 0, "max": 10},
             "rate_usd_per_kw_month": 60, "start_period": 1, "term_periods": 1},
        ],
        "limits": {"capex_budget_usd": 120_000_000,
                   "capex_budget_usd_per_period": [60_000_000, 60_000_000, 40_000_000, 0],
                   "max_tenant_share": 0.8, "max_contracts": 3},
    }


def _mesh_v2() -> dict[str, Any]:
    """The mesh with every field of spec v2 parts A and D: recovery tariffs, a tenant-funded
    structure in a group with its operator-funded twin, a fixed allocation, the contract
    tail and project debt."""
    d = _mesh()
    d["horizon"].update(terminal_value="contract_tail", tail_energy_price_usd_per_mwh=35)
    big, lab, cheap = d["contracts"][1], d["contracts"][2], d["contracts"][3]
    big.update(energy_recovery_usd_per_mwh=[0, 30, 32, 34], allocation="fixed")
    lab.update(tenant_capex_usd_per_it_mw=2_000_000, tenant_capex_period=2, group="lab-offer",
               energy_recovery_usd_per_mwh=25)
    d["contracts"].append({**lab, "id": "lab-op", "rate_usd_per_kw_month": 150,
                           "tenant_capex_usd_per_it_mw": 0, "group": "lab-offer"})
    cheap.update(term_periods=3)
    d["finance"] = {"debt": {"max_loan_to_cost": 0.6, "interest_rate": 0.06,
                             "tenor_years": 3, "max_total_usd": 30_000_000}}
    # part C: three price blocks, north priced per block, east's plain series in every
    # block, demand response at north.
    d["market"]["blocks"] = [{"id": "off", "hours_share": 0.6},
                             {"id": "peak", "hours_share": 0.35},
                             {"id": "spike", "hours_share": 0.05}]
    north = d["sites"][0]
    north["grid"]["price_usd_per_mwh"] = {"off": [30, 31, 32, 33], "peak": 60,
                                          "spike": [400, 90, 500, 450]}
    north["btc"]["demand_response"] = {"credit_usd_per_mw_year": 30_000, "max_mw": 25}
    return d


def _cases() -> list[Any]:
    cases: list[Any] = [pytest.param(("dict", _mesh()), id="mesh"),
                        pytest.param(("dict", _mesh_v2()), id="mesh-v2")]
    for name in ("tutorial", "us_portfolio"):
        path = ROOT / "instances" / f"{name}.yaml"
        if path.exists():
            cases.append(pytest.param(("file", path), id=name))
    try:
        from portfolio_opt.generate import generate_instance
    except ImportError:
        return cases
    for sites, periods, contracts, seed in [(3, 4, 3, 1), (6, 5, 5, 2), (12, 6, 8, 3)]:
        data = generate_instance(sites, periods, contracts, seed)
        cases.append(pytest.param(("dict", data), id=f"gen-{sites}-{periods}-{contracts}-{seed}"))
    return cases


# --------------------------------------------------------------------------- the spec's data


class Spec:
    """The instance with the spec's defaults filled in and series expanded."""

    def __init__(self, raw: dict[str, Any]) -> None:
        h = raw["horizon"]
        self.T = list(range(1, int(h["periods"]) + 1))
        self.ypp = float(h.get("years_per_period", 1.0))
        self.start_year = int(h.get("start_year", 2026))
        self.r = float(h.get("discount_rate", 0.0))
        self.hashprice = self.series(raw["market"]["hashprice_usd_per_ph_day"])
        self.sites: dict[str, dict[str, Any]] = {s["id"]: s for s in raw["sites"]}
        self.sources: dict[str, dict[str, Any]] = {s["id"]: s for s in raw.get("sources") or []}
        self.links = []
        for link in raw.get("links") or []:
            full = {"id": link.get("id") or f"{link['from']}-{link['to']}", **link}
            full.setdefault("loss", 0.0)
            full.setdefault("directed", False)
            self.links.append(full)
        self.contracts: dict[str, dict[str, Any]] = {}
        for c in raw.get("contracts") or []:
            full = {"escalator": 0.0, "max_sites": 1, "committed": False,
                    "energy_recovery_usd_per_mwh": 0.0, "tenant_capex_usd_per_it_mw": 0.0,
                    "tenant_capex_period": c["start_period"], **c}
            self.contracts[c["id"]] = full
        self.limits = raw.get("limits") or {}
        self.tail = h.get("terminal_value") == "contract_tail"
        self.tail_price = float(h.get("tail_energy_price_usd_per_mwh") or 0.0)
        self.debt = (raw.get("finance") or {}).get("debt")
        blocks = raw["market"].get("blocks") or [{"id": "all", "hours_share": 1.0}]
        self.blocks = {b["id"]: float(b["hours_share"]) for b in blocks}

    def series(self, value: Any) -> dict[int, float]:
        if isinstance(value, list):
            assert len(value) == len(self.T)
            return dict(zip(self.T, map(float, value), strict=True))
        return dict.fromkeys(self.T, float(value))

    def btc(self, s: str) -> dict[str, Any] | None:
        b = self.sites[s].get("btc")
        if b is None:
            return None
        return {"pue": 1.0, "uptime": 1.0, "opex_usd_per_mw_year": 0.0, **b}

    def ai(self, s: str) -> dict[str, Any] | None:
        a = self.sites[s].get("ai")
        if a is None:
            return None
        return {"existing_it_mw": 0.0, "fixed_capex_usd": 0.0, "lead_time_periods": 1,
                "pue": 1.3, "opex_usd_per_it_mw_year": 0.0, **a}

    def max_halls(self, s: str) -> int:
        a = self.ai(s)
        assert a is not None
        return math.floor((a["max_it_mw"] - a["existing_it_mw"]) / a["block_it_mw"] + 1e-9)

    def active(self, c: str) -> list[int]:
        con = self.contracts[c]
        return [t for t in self.T
                if con["start_period"] <= t < con["start_period"] + con["term_periods"]]

    def eligible(self, c: str) -> set[str]:
        ai_sites = {s for s in self.sites if self.sites[s].get("ai") is not None}
        el = self.contracts[c].get("eligible")
        if el is None:
            return ai_sites
        if el.get("sites") is not None:
            return set(el["sites"])
        near = el["near"]
        g = nx.Graph()
        g.add_nodes_from([*self.sites, *self.sources])
        for link in self.links:
            if link["kind"] != "fiber":
                continue
            u, v, w = link["from"], link["to"], float(link["latency_ms"])
            if not g.has_edge(u, v) or g[u][v]["weight"] > w:
                g.add_edge(u, v, weight=w)
        dist = nx.single_source_dijkstra_path_length(g, near["site"], weight="weight")
        limit = float(near["max_latency_ms"])
        tol = 1e-9 * max(1.0, limit)
        return {s for s in ai_sites if s in dist and dist[s] <= limit + tol}

    def disc_op(self, t: int) -> float:
        return (1.0 + self.r) ** (-(t * self.ypp))

    def disc_cap(self, t: int) -> float:
        return (1.0 + self.r) ** (-((t - 1) * self.ypp))

    def lease(self, c: str, t: int) -> float:
        con = self.contracts[c]
        return (con["rate_usd_per_kw_month"]
                * (1.0 + con["escalator"]) ** ((t - con["start_period"]) * self.ypp)
                * 12000.0 * self.ypp)


@pytest.fixture(scope="module", params=_cases())
def solved(request: pytest.FixtureRequest) -> tuple[Spec, portfolio_opt.Result]:
    kind, source = request.param
    raw = read_document(source).data if kind == "file" else source
    res = portfolio_opt.solve(source)
    assert res.status in ("optimal", "feasible"), res.message
    return Spec(raw), res


def _sp(res: portfolio_opt.Result) -> dict[tuple[str, int], Any]:
    return {(str(r.site), int(r.period)): r for r in res.site_periods.itertuples(index=False)}


def _source_output(spec: Spec, res: portfolio_opt.Result) -> dict[tuple[str, int], float]:
    """Output of each source: what leaves it minus what arrives (after losses)."""
    loss = {link["id"]: float(link["loss"]) for link in spec.links}
    out: dict[tuple[str, int], float] = defaultdict(float)
    for f in res.flows.itertuples(index=False):
        t = int(f.period)
        if f[1] in spec.sources:  # from
            out[f[1], t] += float(f.flow_mw)
        if f.to in spec.sources:
            out[f.to, t] -= float(f.flow_mw) * (1.0 - loss[f.link])
    return out


# --------------------------------------------------------------------------- checks


def test_tables_have_the_spec_columns(solved):
    _, res = solved
    assert list(res.site_periods.columns) == SITE_PERIOD_COLUMNS
    assert list(res.site_periods.columns)[: len(SPEC_SITE_PERIOD)] == SPEC_SITE_PERIOD
    assert list(res.contracts.columns)[: len(SPEC_CONTRACTS)] == SPEC_CONTRACTS
    assert list(res.contracts.columns) == CONTRACT_COLUMNS
    assert list(res.contract_site_periods.columns) == SPEC_CSP == CONTRACT_SITE_PERIOD_COLUMNS
    assert list(res.flows.columns) == SPEC_FLOWS == FLOW_COLUMNS
    assert list(res.cashflows.columns)[: len(SPEC_CASH)] == SPEC_CASH
    assert list(res.cashflows.columns) == CASHFLOW_COLUMNS
    assert set(CASHFLOW_COLUMNS[len(SPEC_CASH):]) == set(SPEC_V2_CASH)


def test_one_row_per_site_period_and_years(solved):
    spec, res = solved
    sp = _sp(res)
    assert set(sp) == {(s, t) for s in spec.sites for t in spec.T}
    assert len(res.site_periods) == len(sp)
    for (_, t), row in sp.items():
        assert float(row.year) == pytest.approx(spec.start_year + (t - 1) * spec.ypp)
    assert list(res.cashflows["period"]) == spec.T
    for row in res.cashflows.itertuples(index=False):
        assert float(row.year) == pytest.approx(spec.start_year + (row.period - 1) * spec.ypp)


def test_power_balance_at_every_node(solved):
    spec, res = solved
    sp = _sp(res)
    loss = {link["id"]: float(link["loss"]) for link in spec.links}
    net_in: dict[tuple[str, int], float] = defaultdict(float)
    for f in res.flows.itertuples(index=False):
        t, flow = int(f.period), float(f.flow_mw)
        net_in[f[1], t] -= flow
        net_in[f.to, t] += flow * (1.0 - loss[f.link])
    for (s, t), row in sp.items():
        supply = float(row.grid_import_mw)
        assert supply + net_in[s, t] == pytest.approx(float(row.gross_load_mw), abs=MW_TOL), (s, t)
        btc, ai = spec.btc(s), spec.ai(s)
        load = (btc["pue"] * row.btc_mw if btc else 0.0) + (
            ai["pue"] * row.ai_served_it_mw if ai else 0.0)
        assert float(row.gross_load_mw) == pytest.approx(load, abs=MW_TOL)
        grid = spec.sites[s].get("grid")
        cap = float(grid["capacity_mw"]) if grid else 0.0
        assert -MW_TOL <= supply <= cap + MW_TOL, (s, t)
    output = _source_output(spec, res)
    for r, src in spec.sources.items():
        cap = spec.series(src["capacity_mw"])
        for t in spec.T:
            assert -MW_TOL <= output[r, t] <= cap[t] + MW_TOL, (r, t)


def test_flows_follow_the_links(solved):
    spec, res = solved
    power = {link["id"]: link for link in spec.links if link["kind"] == "power"}
    arcs = defaultdict(set)
    for f in res.flows.itertuples(index=False):
        link = power[f.link]
        arcs[f.link].add((f[1], f.to))
        assert -MW_TOL <= float(f.flow_mw) <= float(link["capacity_mw"]) + MW_TOL
    for lid, link in power.items():
        want = {(link["from"], link["to"])}
        if not link["directed"]:
            want.add((link["to"], link["from"]))
        assert arcs[lid] == want
    expected_rows = sum(1 if lk["directed"] else 2 for lk in power.values()) * len(spec.T)
    assert len(res.flows) == expected_rows


def test_envelope_and_hall_accounting(solved):
    spec, res = solved
    sp = _sp(res)
    for s, site in spec.sites.items():
        btc, ai = spec.btc(s), spec.ai(s)
        started = 0
        for t in spec.T:
            row = sp[s, t]
            halls = int(row.halls_started)
            assert halls >= 0
            if ai is None:
                assert halls == 0
                assert row.ai_reserved_it_mw == row.ai_available_it_mw == 0
                assert row.ai_served_it_mw == pytest.approx(0, abs=MW_TOL)
            else:
                started += halls
                ready = sum(int(sp[s, tau].halls_started) for tau in spec.T
                            if tau <= t - ai["lead_time_periods"])
                assert row.ai_reserved_it_mw == pytest.approx(
                    ai["existing_it_mw"] + ai["block_it_mw"] * started)
                assert row.ai_available_it_mw == pytest.approx(
                    ai["existing_it_mw"] + ai["block_it_mw"] * ready)
                assert row.ai_available_it_mw <= row.ai_reserved_it_mw + MW_TOL
                assert row.ai_served_it_mw <= row.ai_available_it_mw + MW_TOL
                assert started <= spec.max_halls(s)
            load = (btc["pue"] * row.btc_mw if btc else 0.0) + (
                ai["pue"] * row.ai_reserved_it_mw if ai else 0.0)
            assert load <= site["capacity_mw"] + 1e-6, (s, t)


def test_fleet_bounds(solved):
    spec, res = solved
    sp = _sp(res)
    for s in spec.sites:
        btc = spec.btc(s)
        bought = 0.0
        for t in spec.T:
            row = sp[s, t]
            assert row.btc_mw >= -MW_TOL and row.btc_bought_mw >= -MW_TOL
            if btc is None:
                assert row.btc_mw == pytest.approx(0, abs=MW_TOL)
                assert row.btc_bought_mw == pytest.approx(0, abs=MW_TOL)
                continue
            bought += row.btc_bought_mw
            assert row.btc_mw <= btc["fleet_mw"] + bought + MW_TOL
        exp = (btc or {}).get("expansion")
        assert bought <= (exp["max_mw"] if exp else 0.0) + MW_TOL


def test_contracts_served_exactly_over_their_term(solved):
    spec, res = solved
    csp = res.contract_site_periods
    rows = {str(r.contract): r for r in res.contracts.itertuples(index=False)}
    assert set(rows) == set(spec.contracts)
    by_contract: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    sites_of: dict[str, set[str]] = defaultdict(set)
    for r in csp.itertuples(index=False):
        assert float(r.it_mw) > 1e-6
        by_contract[r.contract][int(r.period)] += float(r.it_mw)
        sites_of[r.contract].add(str(r.site))
    for c, con in spec.contracts.items():
        row = rows[c]
        assert row.tenant == con["tenant"]
        if con["committed"]:
            assert bool(row.accepted)
        if not row.accepted:
            assert c not in by_contract
            assert row.it_mw == 0
            continue
        mw = float(row.it_mw)
        assert con["it_mw"]["min"] - MW_TOL <= mw <= con["it_mw"]["max"] + MW_TOL
        active = spec.active(c)
        for t in spec.T:
            got = by_contract[c].get(t, 0.0)
            if t in active:
                assert got == pytest.approx(mw, abs=MW_TOL * len(spec.sites)), (c, t)
            else:
                assert got == 0.0, (c, t)
        assert sites_of[c] <= spec.eligible(c), c
        assert len(sites_of[c]) <= con["max_sites"], c
        if mw > 1e-6:
            assert set(str(row.sites).split(";")) == sites_of[c]


def test_site_ai_use_is_the_sum_of_contract_service(solved):
    _, res = solved
    per_site: dict[tuple[str, int], float] = defaultdict(float)
    for r in res.contract_site_periods.itertuples(index=False):
        per_site[str(r.site), int(r.period)] += float(r.it_mw)
    for (s, t), row in _sp(res).items():
        assert row.ai_served_it_mw == pytest.approx(per_site[s, t], abs=1e-5 + 1e-6 * 10)


def test_limits(solved):
    spec, res = solved
    lim = spec.limits
    cf = res.cashflows
    # the budgets bound equity: capex net of tenant contributions and loans (spec v2)
    equity = cf["capex"] - cf["tenant_capex"] - cf["debt_drawn"]
    capex = dict(zip(cf["period"], equity, strict=True))
    if lim.get("capex_budget_usd") is not None:
        assert sum(capex.values()) <= lim["capex_budget_usd"] + 1e-6 * lim["capex_budget_usd"] + 1
    if lim.get("capex_budget_usd_per_period") is not None:
        per = spec.series(lim["capex_budget_usd_per_period"])
        for t in spec.T:
            assert capex[t] <= per[t] + 1e-6 * per[t] + 1, t
    acc = res.contracts[res.contracts["accepted"]]
    if lim.get("max_contracts") is not None:
        assert len(acc) <= lim["max_contracts"]
    if lim.get("max_tenant_share") is not None:
        total = float(acc["it_mw"].sum())
        for _, group in acc.groupby("tenant"):
            assert float(group["it_mw"].sum()) <= lim["max_tenant_share"] * total + MW_TOL


def test_cashflows_recomputed_from_the_tables(solved):
    spec, res = solved
    sp = _sp(res)
    output = _source_output(spec, res)
    hours, days = 8760.0 * spec.ypp, 365.0 * spec.ypp
    want: dict[int, dict[str, float]] = {t: defaultdict(float) for t in spec.T}
    for s, site in spec.sites.items():
        btc, ai = spec.btc(s), spec.ai(s)
        grid = site.get("grid")
        raw_price = grid["price_usd_per_mwh"] if grid else None
        per_block = isinstance(raw_price, dict)  # {block: series} (spec v2 C)
        price = spec.series(raw_price) if grid and not per_block else None
        first_paid = False
        for t in spec.T:
            row, w = sp[s, t], want[t]
            if btc:
                w["btc_revenue"] += (spec.hashprice[t] * 1000.0 / btc["efficiency_j_per_th"]
                                     * btc["uptime"] * days * row.btc_mw)
                w["opex"] += spec.ypp * btc["opex_usd_per_mw_year"] * row.btc_mw
                exp = btc.get("expansion")
                if exp:
                    w["capex"] += exp["capex_usd_per_mw"] * row.btc_bought_mw
            if ai:
                w["opex"] += spec.ypp * ai["opex_usd_per_it_mw_year"] * row.ai_available_it_mw
                hall = ai["capex_usd_per_it_mw"] * ai["block_it_mw"] * row.halls_started
                w["capex"] += hall
                w["ai_capex"] += hall
                if row.halls_started > 0 and not first_paid and ai["existing_it_mw"] == 0:
                    w["capex"] += ai["fixed_capex_usd"]
                    w["ai_capex"] += ai["fixed_capex_usd"]
                    first_paid = True
            if per_block:  # per price block: from site_period_blocks.csv
                assert isinstance(raw_price, dict)
                blocks = res.site_period_blocks.set_index(["site", "period", "block"])
                for b, share in spec.blocks.items():
                    imported = float(blocks.loc[(s, t, b), "grid_import_mw"])
                    w["energy_cost"] += hours * share * spec.series(raw_price[b])[t] * imported
            elif price is not None:
                w["energy_cost"] += hours * price[t] * row.grid_import_mw
            if btc and btc.get("demand_response"):
                dr = btc["demand_response"]
                w["dr_credit"] += spec.ypp * dr["credit_usd_per_mw_year"] * row.dr_mw
    for r, src in spec.sources.items():
        price = spec.series(src["price_usd_per_mwh"])
        for t in spec.T:
            want[t]["energy_cost"] += hours * price[t] * output[r, t]
    lease_npv: dict[str, float] = defaultdict(float)
    for r in res.contract_site_periods.itertuples(index=False):
        t = int(r.period)
        rev = spec.lease(str(r.contract), t) * float(r.it_mw)
        want[t]["ai_revenue"] += rev
        lease_npv[str(r.contract)] += rev * spec.disc_op(t)

    # spec v2 A: energy recovery on served MW, tenant capex on contracted MW, the tail
    tail = 0.0
    for r in res.contract_site_periods.itertuples(index=False):
        c, t, mw = str(r.contract), int(r.period), float(r.it_mw)
        con, ai = spec.contracts[c], spec.ai(str(r.site))
        assert ai is not None
        tariff = spec.series(con["energy_recovery_usd_per_mwh"])
        want[t]["energy_recovery"] += tariff[t] * ai["pue"] * hours * mw
        years = math.floor((con["start_period"] - 1 + con["term_periods"] - spec.T[-1])
                           * spec.ypp + 1e-9)
        if spec.tail and t == spec.T[-1] and years > 0:
            for k in range(1, years + 1):
                v = (con["rate_usd_per_kw_month"] * (1 + con["escalator"])
                     ** ((t - con["start_period"] + 1) * spec.ypp + k - 1) * 12000
                     + (tariff[t] - spec.tail_price) * ai["pue"] * 8760
                     - ai["opex_usd_per_it_mw_year"])
                tail += mw * v * (1 + spec.r) ** -(t * spec.ypp + k)
    for r in res.contracts.itertuples(index=False):
        con = spec.contracts[str(r.contract)]
        want[con["tenant_capex_period"]]["tenant_capex"] += (
            con["tenant_capex_usd_per_it_mw"] * float(r.it_mw))
    # spec v2 D: each loan's level payments, in their periods or after the horizon
    debt_pv: dict[int, float] = defaultdict(float)
    after = 0.0
    drawn = dict(zip(res.cashflows["period"], res.cashflows["debt_drawn"], strict=True))
    if spec.debt is None:
        assert all(x == 0 for x in drawn.values())
    else:
        i, n = spec.debt["interest_rate"], int(spec.debt["tenor_years"])
        a = i / (1 - (1 + i) ** -n) if i else 1 / n
        for t, loan in drawn.items():
            assert loan <= spec.debt["max_loan_to_cost"] * want[t]["ai_capex"] + 1e-3
            debt_pv[t] += loan * spec.disc_cap(t)
            for k in range(1, n + 1):
                y = (t - 1) * spec.ypp + k
                pv = a * loan * (1 + spec.r) ** -y
                holder = [p for p in spec.T if (p - 1) * spec.ypp < y <= p * spec.ypp + 1e-9]
                if holder:
                    want[holder[0]]["debt_service"] += a * loan
                    debt_pv[holder[0]] -= pv
                else:
                    after += pv
        if spec.debt.get("max_total_usd") is not None:
            assert sum(drawn.values()) <= spec.debt["max_total_usd"] + 1e-3

    npv = 0.0
    scale = max(abs(float(x)) for x in res.cashflows[SPEC_CASH[2:]].to_numpy().ravel())
    for row in res.cashflows.itertuples(index=False):
        t, w = int(row.period), want[int(row.period)]
        for key in ("btc_revenue", "ai_revenue", "energy_cost", "opex", "capex",
                    "energy_recovery", "dr_credit", "tenant_capex", "debt_service"):
            assert money_close(float(getattr(row, key)), w[key], scale), (key, t)
        operating = (w["btc_revenue"] + w["ai_revenue"] + w["energy_recovery"]
                     + w["dr_credit"] - w["energy_cost"] - w["opex"])
        investing = w["capex"] - w["tenant_capex"]
        debt = float(row.debt_drawn) - w["debt_service"]
        assert money_close(float(row.net), operating - investing + debt, scale), t
        disc = operating * spec.disc_op(t) - investing * spec.disc_cap(t) + debt_pv[t]
        assert money_close(float(row.discounted), disc, scale), t
        npv += disc
    s = res.summary()
    assert money_close(s["terminal_value_usd"], tail, scale)
    assert money_close(s["debt_after_horizon_usd"], after, scale)
    assert money_close(s["debt_principal_usd"], sum(drawn.values()), scale)
    assert money_close(res.objective_npv_usd, npv + tail - after, scale)
    assert res.objective_npv_usd == pytest.approx(
        float(res.cashflows["discounted"].sum()) + s["terminal_value_usd"]
        - s["debt_after_horizon_usd"], rel=1e-9, abs=1e-3)
    tails = res.contracts.set_index("contract")["tail_value_usd"]
    assert money_close(float(tails.sum()), tail, scale)
    for row in res.contracts.itertuples(index=False):
        assert money_close(float(row.npv_usd), lease_npv.get(str(row.contract), 0.0), scale)


def test_objective_within_reported_gap_of_bound(solved):
    _, res = solved
    bound = getattr(res, "objective_bound_usd", None)  # optional: the solver's best bound
    if res.status == "optimal" and res.mip_gap is not None and bound:
        npv = res.objective_npv_usd
        assert bound >= npv - 1e-6 * abs(npv) - 1
        assert bound - npv <= max(res.mip_gap, 1e-4) * max(abs(bound), abs(npv)) + 1
