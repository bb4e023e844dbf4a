"""The spec's MILP (instance-format v1 and v2 parts A, B, C and D), on highspy.

Written from the spec pages alone (/work/shared/spec/instance-format.md, "Decisions and
rules" and "Objective"; instance-format-v2.md, "A. Deal structures", "B. Uncertainty",
"C. Firm AI, interruptible Bitcoin" and "D. Project debt"),
to cross-check the product: one block per rule, each with the rule it implements quoted
above it. Money is in MUSD inside the model (so that coefficients stay near 1); the NPV
returned is in USD.

The instance comes in as a plain dict with the spec's field names (a link's tail is
``from``), for example ``Instance.model_dump(by_alias=True)`` of a validated instance; an
object with ``model_dump`` is dumped here. Nothing is imported from the product: the
instance is assumed valid, and the spec's defaults are applied here (:func:`with_defaults`).

Part B (uncertainty) is the extensive form: every rule is written once per scenario, over
columns that scenarios share where the spec says a decision is the same for them. Which
scenarios share a column is decided in one place, :class:`Tree`: in ``two_stage`` the
first-stage decisions (halls, first halls, ASIC purchases, serve, loans) are one column for
all scenarios and the recourse (hashing, demand response, grid, sources, flows) one per
scenario; in ``multi_stage`` every decision of period t is one column per group of
scenarios whose data agree up to t (non-anticipativity by shared columns, not by equality
rows). Contract acceptance, it_mw and the sites a contract may use are one column in
both. A deterministic instance is the one-scenario case and builds exactly the model it
built before part B.

The model is held in a small builder of our own (:class:`Milp`: columns, rows as sparse
dicts, a linear objective with a constant) and handed to HiGHS in one go.
"""

from __future__ import annotations

import copy
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

__all__ = ["Expr", "Milp", "ReferenceResult", "Scenario", "Tree", "annuity_factor", "as_dict",
           "cvar", "eligible_sites", "reference_npv", "reference_solve", "scenario_instance",
           "scenarios_of", "with_defaults"]

MUSD = 1e6
INF = math.inf


# --------------------------------------------------------------------------------------
# A minimal linear-expression and MILP builder
# --------------------------------------------------------------------------------------


class Expr:
    """sum(coef * column) + const, over column indices of one :class:`Milp`."""

    __slots__ = ("const", "terms")

    def __init__(self, terms: dict[int, float] | None = None, const: float = 0.0) -> None:
        self.terms: dict[int, float] = dict(terms or {})
        self.const = float(const)

    @staticmethod
    def of(value: Expr | float) -> Expr:
        return value if isinstance(value, Expr) else Expr(const=float(value))

    def __add__(self, other: Expr | float) -> Expr:
        other = Expr.of(other)
        terms = dict(self.terms)
        for j, a in other.terms.items():
            terms[j] = terms.get(j, 0.0) + a
        return Expr(terms, self.const + other.const)

    __radd__ = __add__

    def __mul__(self, k: float) -> Expr:
        return Expr({j: a * k for j, a in self.terms.items()}, self.const * k)

    __rmul__ = __mul__

    def __neg__(self) -> Expr:
        return self * -1.0

    def __sub__(self, other: Expr | float) -> Expr:
        return self + (-Expr.of(other))

    def __rsub__(self, other: Expr | float) -> Expr:
        return Expr.of(other) + (-self)


def total(items: Iterable[Expr | float]) -> Expr:
    terms: dict[int, float] = {}
    const = 0.0
    for item in items:
        item = Expr.of(item)
        const += item.const
        for j, a in item.terms.items():
            terms[j] = terms.get(j, 0.0) + a
    return Expr(terms, const)


@dataclass
class Milp:
    names: list[str] = field(default_factory=list)
    lb: list[float] = field(default_factory=list)
    ub: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    rows: list[tuple[dict[int, float], float, float, str]] = field(default_factory=list)
    objective: Expr = field(default_factory=Expr)  # maximised
    contradictions: list[str] = field(default_factory=list)
    # Drop a row equal to one already added (part B: scenarios that share every column of a
    # rule write the same row); off for a deterministic instance, whose model stays as it was.
    dedupe: bool = False
    _seen: set[tuple[Any, float, float]] = field(default_factory=set, repr=False)

    def var(self, name: str, lb: float = 0.0, ub: float = INF, integer: bool = False) -> Expr:
        self.names.append(name)
        self.lb.append(float(lb))
        self.ub.append(float(ub))
        self.integer.append(integer)
        return Expr({len(self.names) - 1: 1.0})

    def binary(self, name: str, lb: float = 0.0) -> Expr:
        return self.var(name, lb, 1.0, integer=True)

    def _row(self, expr: Expr, lo: float, hi: float, name: str) -> None:
        terms = {j: a for j, a in expr.terms.items() if a != 0.0}
        lo, hi = lo - expr.const, hi - expr.const
        if not terms:  # a row without columns: either always true or a contradiction
            if lo > 1e-9 or hi < -1e-9:
                self.contradictions.append(name)
            return
        if self.dedupe:
            key = (tuple(sorted(terms.items())), lo, hi)
            if key in self._seen:
                return
            self._seen.add(key)
        self.rows.append((terms, lo, hi, name))

    def le(self, lhs: Expr | float, rhs: Expr | float, name: str) -> None:
        self._row(Expr.of(lhs) - rhs, -INF, 0.0, name)

    def ge(self, lhs: Expr | float, rhs: Expr | float, name: str) -> None:
        self._row(Expr.of(lhs) - rhs, 0.0, INF, name)

    def eq(self, lhs: Expr | float, rhs: Expr | float, name: str) -> None:
        self._row(Expr.of(lhs) - rhs, 0.0, 0.0, name)

    def solve(self, mip_rel_gap: float, time_limit: float | None) -> ReferenceResult:
        if self.contradictions:
            return ReferenceResult("infeasible", None, None, {}, [])
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", mip_rel_gap)
        # One thread, as the product uses: HiGHS keeps one thread scheduler per process, and
        # a later run asking for another thread count fails ("Not Set").
        h.setOptionValue("threads", 1)
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        n = len(self.names)
        idx = np.arange(n, dtype=np.int32)
        h.addVars(n, np.array(self.lb), np.array(self.ub))
        cost = np.zeros(n)
        for j, a in self.objective.terms.items():
            cost[j] = a
        h.changeColsCost(n, idx, cost)
        kinds = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                 for i in self.integer]
        h.changeColsIntegrality(n, idx, np.array(kinds))
        for terms, lo, hi, _ in self.rows:
            cols = np.array(list(terms), dtype=np.int32)
            vals = np.array(list(terms.values()), dtype=np.float64)
            h.addRow(lo, hi, len(cols), cols, vals)
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return ReferenceResult("infeasible", None, None, {}, [])
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"reference model: HiGHS ended with {status}")
        x = list(h.getSolution().col_value)
        value = self.objective.const + sum(a * x[j] for j, a in self.objective.terms.items())
        gap = float(h.getInfo().mip_gap) if any(self.integer) else None
        return ReferenceResult("optimal", value * MUSD, gap,
                               dict(zip(self.names, x, strict=True)), x)


@dataclass
class ReferenceResult:
    status: str                 # "optimal" or "infeasible"
    npv_usd: float | None
    mip_gap: float | None
    values: dict[str, float]    # column name -> value (for debugging a disagreement)
    x: list[float] = field(default_factory=list, repr=False)  # column values, by index
    # The reported decomposition of the NPV (spec v2 A and D outputs), in USD, of the
    # optimal plan: objective NPV = discounted + terminal_value - debt_after_horizon.
    discounted_usd: float | None = None          # sum of cashflows.csv `discounted`
    terminal_value_usd: float | None = None      # TV (A), 0 without a tail
    debt_principal_usd: float | None = None      # sum of loans (D)
    debt_after_horizon_usd: float | None = None  # payments after the last period, discounted
    periods: list[dict[str, float]] = field(default_factory=list)  # cashflows.csv rows
    # v2 C: site_period_blocks.csv, (site, period, block) -> btc_mw, grid_import_mw, dr_mw
    # (and gross_load_mw; block None without market.blocks); site_periods.csv's
    # share-weighted averages of them.
    site_blocks: dict[tuple[str, int, str | None], dict[str, float]] = field(
        default_factory=dict)
    site_periods: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    tail_by_contract: dict[str, float] = field(default_factory=dict)  # tail_value_usd
    # v2 B, for an instance with `uncertainty` (None / empty without it). Then `npv_usd`
    # (= objective_npv_usd) is E[NPV]; discounted_usd, terminal_value_usd,
    # debt_principal_usd, debt_after_horizon_usd and tail_by_contract are expectations over
    # the scenarios; `periods` has one row per (scenario, period), each with a "scenario"
    # key; site_blocks and site_periods keys start with the scenario id.
    objective_usd: float | None = None       # (1 - w) * E[NPV] + w * CVaR_a, the optimum
    expected_npv_usd: float | None = None    # E[NPV] of the optimal plan
    cvar_usd: float | None = None            # CVaR_a of its NPVs, by the spec's formula
    cvar_eta_usd: float | None = None        # eta*: the (1-a)-quantile, smallest maximiser
    cvar_alpha: float | None = None
    cvar_weight: float | None = None
    structure: str | None = None             # "two_stage" or "multi_stage"
    scenario_probability: dict[str, float] = field(default_factory=dict)
    scenario_npv_usd: dict[str, float] = field(default_factory=dict)  # NPV_w, USD
    in_cvar_tail: dict[str, bool] = field(default_factory=dict)  # NPV_w <= eta*
    # Per scenario: discounted_usd, terminal_value_usd, debt_principal_usd,
    # debt_after_horizon_usd (npv = discounted + terminal value - debt after the horizon).
    scenario_parts: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def objective_npv_usd(self) -> float | None:
        """The spec's `objective_npv_usd`: the NPV, E[NPV] under uncertainty."""
        return self.npv_usd

    def value(self, expr: Expr) -> float:
        """An expression at the solution, in the expression's own unit."""
        return expr.const + sum(a * self.x[j] for j, a in expr.terms.items())


# --------------------------------------------------------------------------------------
# The instance as a dict, with the spec's defaults
# --------------------------------------------------------------------------------------

# Field -> default, from the spec's schema blocks ("default ..."). `null` on an optional key
# means "absent" (v1 "Document"), so a None value is replaced by the default too.
_HORIZON = {"years_per_period": 1.0, "start_year": 2026, "discount_rate": 0.0,
            "terminal_value": "none", "tail_energy_price_usd_per_mwh": None}
_BTC = {"pue": 1.0, "uptime": 1.0, "opex_usd_per_mw_year": 0.0, "expansion": None,
        "demand_response": None}
_AI = {"existing_it_mw": 0.0, "fixed_capex_usd": 0.0, "lead_time_periods": 1, "pue": 1.3,
       "opex_usd_per_it_mw_year": 0.0}
_SITE = {"grid": None, "btc": None, "ai": None}
_LINK = {"id": None, "capacity_mw": None, "loss": 0.0, "directed": False, "latency_ms": None}
_CONTRACT = {"escalator": 0.0, "eligible": None, "max_sites": 1, "committed": False,
             "energy_recovery_usd_per_mwh": 0.0, "tenant_capex_usd_per_it_mw": 0.0,
             "tenant_capex_period": None, "group": None, "allocation": "flexible"}
_LIMITS = {"capex_budget_usd": None, "capex_budget_usd_per_period": None,
           "max_tenant_share": None, "max_contracts": None}
_DEBT = {"max_total_usd": None}
_UNCERTAINTY = {"structure": "two_stage", "risk": None}
_RISK = {"cvar_alpha": 0.95, "cvar_weight": 0.0}
_SCENARIO = {"energy_price_scale": 1.0}


def as_dict(instance: Any) -> dict[str, Any]:
    """The instance as a plain dict: a dict as is, an object with ``model_dump`` dumped."""
    if isinstance(instance, dict):
        return instance
    dump = getattr(instance, "model_dump", None)
    if dump is None:
        raise TypeError(f"expected a dict or an object with model_dump(), not "
                        f"{type(instance).__name__}")
    return dump(by_alias=True)


def _filled(raw: dict[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw or {})
    for key, default in defaults.items():
        if out.get(key) is None:
            out[key] = copy.deepcopy(default)
    return out


def with_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of a valid instance dict with every optional field at its spec default."""
    inst = dict(raw)
    inst["horizon"] = _filled(raw["horizon"], _HORIZON)
    # v2 B: "structure: two_stage | multi_stage  # default two_stage"; "cvar_alpha ...
    #  default 0.95"; "cvar_weight ... default 0 (risk-neutral)"; "energy_price_scale:
    #  series > 0  # default 1". "With uncertainty, ... market may then be absent, empty, or
    #  hold only blocks."
    uncertainty = raw.get("uncertainty")
    if uncertainty is not None:
        uncertainty = _filled(uncertainty, _UNCERTAINTY)
        uncertainty["risk"] = _filled(uncertainty["risk"], _RISK)
        uncertainty["scenarios"] = [_filled(sc, _SCENARIO)
                                    for sc in uncertainty["scenarios"]]
    inst["uncertainty"] = uncertainty
    # v2 C: "market.blocks: optional: each period's hours split into blocks"; without
    # blocks, "one block with share 1" (said of demand response; it is v1 for the rest).
    market = dict(raw.get("market") or {})
    blocks = market.get("blocks")
    market["blocks"] = ([{"id": b["id"], "hours_share": float(b["hours_share"])}
                         for b in blocks] if blocks else [{"id": None, "hours_share": 1.0}])
    inst["market"] = market
    sites = []
    for s in raw["sites"]:
        s = _filled(s, _SITE)
        if s["btc"] is not None:
            s["btc"] = _filled(s["btc"], _BTC)
        if s["ai"] is not None:
            s["ai"] = _filled(s["ai"], _AI)
        sites.append(s)
    inst["sites"] = sites
    inst["sources"] = [dict(src) for src in raw.get("sources") or []]
    links = []
    for link in raw.get("links") or []:
        link = _filled(link, _LINK)
        # "id: optional; default "<from>-<to>""
        if link["id"] is None:
            link["id"] = f"{link['from']}-{link['to']}"
        links.append(link)
    inst["links"] = links
    contracts = []
    for c in raw.get("contracts") or []:
        c = _filled(c, _CONTRACT)
        # v2 A: "tenant_capex_period: int (1..periods; default start_period)"
        if c["tenant_capex_period"] is None:
            c["tenant_capex_period"] = c["start_period"]
        contracts.append(c)
    inst["contracts"] = contracts
    inst["limits"] = _filled(raw.get("limits"), _LIMITS)
    finance = raw.get("finance")
    if finance is not None:
        finance = dict(finance)
        finance["debt"] = _filled(finance["debt"], _DEBT)
    inst["finance"] = finance
    return inst


def series(value: float | list[float], periods: int) -> list[float]:
    """"A series is either one number (the same in every period) or a list of exactly
    `horizon.periods` numbers.\""""
    if isinstance(value, list):
        assert len(value) == periods, "a series must have one value per period"
        return [float(v) for v in value]
    return [float(value)] * periods


def block_prices(value: Any, periods: int, blocks: list[str | None]
                 ) -> dict[str | None, list[float]]:
    """v2 C: "every price_usd_per_mwh (grid and sources) may be a mapping {block id: series}
    naming every block, or a plain series (the same in every block)"."""
    if isinstance(value, dict):
        assert set(value) == set(blocks), "a price mapping must name every block"
        return {b: series(value[b], periods) for b in blocks}
    return dict.fromkeys(blocks, series(value, periods))


def annuity_factor(i: float, n: int) -> float:
    """v2 D: "level payments a * loan[t], a = i / (1 - (1+i)^-n) (1/n when i = 0)"."""
    if i == 0:
        return 1.0 / n
    return i / (1.0 - (1.0 + i) ** -n)


# --------------------------------------------------------------------------------------
# Contract eligibility
# --------------------------------------------------------------------------------------


def fiber_latencies(inst: dict[str, Any], origin: str) -> dict[str, float]:
    """Shortest fiber-path latency (ms) from ``origin`` to every node reachable by fiber."""
    adj: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for link in inst["links"]:
        if link["kind"] == "fiber":
            assert link["latency_ms"] is not None
            adj[link["from"]].append((link["to"], float(link["latency_ms"])))
            adj[link["to"]].append((link["from"], float(link["latency_ms"])))
    dist = {origin: 0.0}
    heap = [(0.0, origin)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v, w in adj[u]:
            if d + w < dist.get(v, INF):
                dist[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return dist


def eligible_sites(inst: dict[str, Any], contract_index: int) -> list[str]:
    """The sites contract ``contract_index`` may use (``inst`` with defaults applied)."""
    c = inst["contracts"][contract_index]
    ai_sites = [s["id"] for s in inst["sites"] if s["ai"] is not None]
    # "eligible: optional; default every site with an `ai` block"
    if c["eligible"] is None:
        return ai_sites
    # "sites: [site id, ...]  # either an explicit list ..."
    if c["eligible"].get("sites") is not None:
        return list(c["eligible"]["sites"])
    # "near: ... every AI site whose shortest fiber-path latency to `site` is <= max (the
    #  site itself: 0); paths may run through any node; compare with a tolerance of
    #  1e-9 * max(1, max_latency_ms)"
    near = c["eligible"]["near"]
    assert near is not None
    dist = fiber_latencies(inst, near["site"])
    max_ms = float(near["max_latency_ms"])
    limit = max_ms + 1e-9 * max(1.0, max_ms)
    return [s for s in ai_sites if dist.get(s, INF) <= limit]


# --------------------------------------------------------------------------------------
# Scenarios (v2 B)
# --------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One scenario's data and, once the model is built, its expressions (money in MUSD).

    A deterministic instance is one scenario with id None, probability 1, the market's
    hashprice and an energy-price scale of 1.
    """

    index: int
    id: str | None
    probability: float
    hashprice: list[float]
    scale: list[float]              # energy_price_scale by period
    suffix: str = ""                # appended to row names: "" or "@<id>"
    # Cash of each period, built up rule by rule.
    btc_rev: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))
    ai_rev: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))
    recovery: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))  # A: ER_t
    energy: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))
    opex: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))
    capex: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))
    ai_capex: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))  # D
    tenant_capex: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))  # A
    dr_credit: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))  # C: DR_t
    loan: dict[int, Expr] = field(default_factory=lambda: defaultdict(Expr))  # D
    # Per-site quantities (zero when the site lacks the block). btc_mw, dr_mw and grid_mw
    # are per price block (v2 C): keys (site, period, block).
    btc_mw: dict[tuple[str, int, str | None], Expr] = field(default_factory=dict)
    dr_mw: dict[tuple[str, int, str | None], Expr] = field(default_factory=dict)
    grid_mw: dict[tuple[str, int, str | None], Expr] = field(default_factory=dict)
    reserved: dict[tuple[str, int], Expr] = field(default_factory=dict)
    available: dict[tuple[str, int], Expr] = field(default_factory=dict)
    serve_at: dict[tuple[str, int], list[Expr]] = field(
        default_factory=lambda: defaultdict(list))  # (site, t) -> serve columns
    tail_value: Expr = field(default_factory=Expr)  # v2 A: TV
    tail_by_contract: dict[str, Expr] = field(default_factory=dict)
    npv: Expr = field(default_factory=Expr)


def scenarios_of(inst: dict[str, Any]) -> list[Scenario]:
    """The scenarios of an instance with defaults applied (one for a deterministic one)."""
    T = int(inst["horizon"]["periods"])
    unc = inst["uncertainty"]
    if unc is None:
        return [Scenario(0, None, 1.0, series(inst["market"]["hashprice_usd_per_ph_day"], T),
                         [1.0] * T)]
    # v2 B: "Each scenario w is the instance with its own hashprice and prices";
    # "energy_price_scale: series > 0  # default 1; multiplies every grid and source price"
    return [Scenario(k, sc["id"], float(sc["probability"]),
                     series(sc["hashprice_usd_per_ph_day"], T),
                     series(sc["energy_price_scale"], T), f"@{sc['id']}")
            for k, sc in enumerate(unc["scenarios"])]


class Tree:
    """Which scenarios share a decision's column (v2 B).

    A label names the group of scenarios that share one column: None when every scenario
    does (the column keeps its plain name, as in a deterministic model), otherwise the ids
    of the group joined by "+" (appended to the column's name after "@").
    """

    def __init__(self, scenarios: list[Scenario], structure: str) -> None:
        self.scenarios = scenarios
        self.structure = structure

    def _label(self, group: list[Scenario]) -> str | None:
        if len(group) == len(self.scenarios):
            return None
        return "+".join(str(sc.id) for sc in group)

    def _together(self, t: int, sc: Scenario) -> str | None:
        # "multi_stage: every decision of period t may differ between two scenarios only if
        #  their data (hashprice, energy_price_scale) differ in some period <= t (numbers
        #  compared exactly, a scalar equal to its repeated series); decisions of period t
        #  know the data of period t."
        def data(o: Scenario) -> tuple[list[float], list[float]]:
            return o.hashprice[:t], o.scale[:t]

        return self._label([o for o in self.scenarios if data(o) == data(sc)])

    def stage_one(self, t: int, sc: Scenario) -> str | None:
        """Halls, first halls, ASIC purchases, serve and loans of period t.

        "two_stage: halls, first halls, ASIC purchases, contract acceptance, it_mw, the
        sites used and serve are decided once, the same in every scenario"; v2 D: "loans
        are decided with the halls: first-stage in two_stage; by period
        (non-anticipative) in multi_stage"."""
        return None if self.structure == "two_stage" else self._together(t, sc)

    def recourse(self, t: int, sc: Scenario) -> str | None:
        """Hashing, demand response, grid imports, source output and flows of period t.

        "two_stage: ... BTC hashing, grid imports, source output, flows (and C's block and
        demand-response variables) are decided per scenario.\""""
        if self.structure == "two_stage":
            return self._label([sc])
        return self._together(t, sc)


def cvar(npvs: list[float], probabilities: list[float], alpha: float) -> tuple[float, float]:
    """(eta*, CVaR_a) of a discrete NPV distribution, by the spec's formula.

    "CVaR_a = max_eta ( eta - 1/(1-a) * sum_w p_w * max(0, eta - NPV_w) )"; eta* is "the
    smallest maximiser in the CVaR formula, i.e. the (1-a)-quantile": the function is
    concave and piecewise linear with slope 1 - P(NPV <= eta)/(1-a) right of eta, so eta*
    is the smallest NPV value whose cumulative probability reaches 1 - a (1e-9 absorbs
    probabilities that sum to 1 within 1e-9).
    """
    cumulative = 0.0
    eta = max(npvs)
    for value, p in sorted(zip(npvs, probabilities, strict=True)):
        cumulative += p
        if cumulative >= 1.0 - alpha - 1e-9:
            eta = value
            break
    shortfall = sum(p * max(0.0, eta - v) for v, p in zip(npvs, probabilities, strict=True))
    return eta, eta - shortfall / (1.0 - alpha)


def scenario_instance(raw: dict[str, Any], scenario_id: str) -> dict[str, Any]:
    """The deterministic instance of one scenario of an uncertain instance dict: its
    hashprice in `market`, every grid and source price (each block's too) multiplied by its
    energy_price_scale period by period, no `uncertainty`. (Contract energy-recovery
    tariffs and tail_energy_price are not prices of power bought: they stay.)"""
    data = copy.deepcopy(as_dict(raw))
    T = int(data["horizon"]["periods"])
    unc = data.pop("uncertainty")
    sc = next(o for o in unc["scenarios"] if o["id"] == scenario_id)
    scale = sc.get("energy_price_scale")
    scale = series(scale if scale is not None else 1.0, T)

    def scaled(price: Any) -> Any:
        if isinstance(price, dict):
            return {b: scaled(v) for b, v in price.items()}
        return [p * f for p, f in zip(series(price, T), scale, strict=True)]

    for site in data["sites"]:
        if site.get("grid") is not None:
            site["grid"]["price_usd_per_mwh"] = scaled(site["grid"]["price_usd_per_mwh"])
    for src in data.get("sources") or []:
        src["price_usd_per_mwh"] = scaled(src["price_usd_per_mwh"])
    market = dict(data.get("market") or {})
    market["hashprice_usd_per_ph_day"] = sc["hashprice_usd_per_ph_day"]
    data["market"] = market
    return data


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


def reference_solve(instance: Any, mip_rel_gap: float = 1e-7,
                    time_limit: float | None = None) -> ReferenceResult:
    """Solve a valid instance (a dict with the spec's field names, or an object with
    ``model_dump``) per the spec; the result carries the NPV and its reported parts (and,
    with `uncertainty`, the weighted objective, E[NPV], CVaR and each scenario's NPV)."""
    inst = with_defaults(as_dict(instance))
    uncertain = inst["uncertainty"] is not None
    m = Milp(dedupe=uncertain)
    hz = inst["horizon"]
    T = int(hz["periods"])
    P = range(1, T + 1)
    ypp = float(hz["years_per_period"])
    r = float(hz["discount_rate"])
    D = 365.0 * ypp          # days per period
    H = 8760.0 * ypp         # hours per period
    scen = scenarios_of(inst)
    tree = Tree(scen, inst["uncertainty"]["structure"] if uncertain else "two_stage")
    # v2 C: "Per block b: btc_mw[s,t,b] <= fleet, the site envelope, grid import, source
    #  output, flows and the power balance hold; AI load is firm: serve[c,s,t] is the same
    #  in every block. Period totals weight blocks by share h_b". Without blocks there is
    #  one block (id None) of share 1, which is v1.
    blocks = [(b["id"], float(b["hours_share"])) for b in inst["market"]["blocks"]]
    block_ids = [bid for bid, _ in blocks]

    def at(*key: Any) -> str:
        """A column or row name's index, the block left out when there are no blocks."""
        return ",".join(str(k) for k in key if k is not None)

    def df(years: float) -> float:
        """Discount factor (1+r)^-years."""
        return (1.0 + r) ** -years

    columns: dict[str, Expr] = {}

    def col(name: str, label: str | None, lb: float = 0.0, ub: float = INF,
            integer: bool = False) -> Expr:
        """The column of decision `name` for the scenarios `label` stands for (see
        :class:`Tree`), made by the first scenario that asks for it."""
        if label is not None:
            name = f"{name}@{label}"
        if name not in columns:
            columns[name] = m.var(name, lb, ub, integer)
        return columns[name]

    site_by_id = {s["id"]: s for s in inst["sites"]}

    for s in inst["sites"]:
        sid = s["id"]
        # ---------------------------------------------------------------- BTC hashing
        # "btc_mw[s,t] >= 0: ASIC IT MW hashing. btc_mw <= fleet_mw + bought so far;
        #  purchases buy[s,t] >= 0 serve from the period they are bought;
        #  sum_t buy[s,t] <= expansion.max_mw."
        b = s["btc"]
        for sc in scen:
            if b is None:
                for t in P:
                    for bid in block_ids:
                        sc.btc_mw[sid, t, bid] = Expr()
                        sc.dr_mw[sid, t, bid] = Expr()
                continue
            exp = b["expansion"]
            dr = b["demand_response"]
            buy = {t: Expr() for t in P}
            if exp is not None:
                # v2 B: purchases are first-stage (Tree.stage_one), hashing is recourse.
                buy = {t: col(f"buy[{sid},{t}]", tree.stage_one(t, sc)) for t in P}
                m.le(total(buy.values()), exp["max_mw"], f"buy_max[{sid}]{sc.suffix}")
            for t in P:
                bought = total(buy[tau] for tau in P if tau <= t)
                ph_per_mw = 1000.0 / b["efficiency_j_per_th"]
                for bid, h in blocks:
                    x = sc.btc_mw[sid, t, bid] = col(f"btc_mw[{at(sid, t, bid)}]",
                                                     tree.recourse(t, sc))
                    # v1: "btc_mw <= fleet_mw + bought so far"; v2 C: per block
                    m.le(x, b["fleet_mw"] + bought, f"fleet[{at(sid, t, bid)}]{sc.suffix}")
                    # v1: "BTC_t = sum_s hashprice[t] * (1000 / efficiency) * uptime * D
                    #  * btc_mw"; v2 C: "BTC_t = sum_{s,b} h_b * hashprice[t] * ...";
                    #  v2 B: the scenario's own hashprice.
                    sc.btc_rev[t] += x * (h * sc.hashprice[t - 1] * ph_per_mw * b["uptime"]
                                          * D / MUSD)
                    # "OPEX_t = ypp * sum_s ( btc.opex * btc_mw[s,t] + ... )";
                    # v2 C: "BTC opex on sum_b h_b * btc_mw[s,t,b]"
                    sc.opex[t] += x * (h * ypp * b["opex_usd_per_mw_year"] / MUSD)
                    # v2 C: "Per block b (without blocks: one block with share 1),
                    #  dr_mw[s,t,b] in [0, max_mw] and dr_mw[s,t,b] <= btc.pue *
                    #  btc_mw[s,t,b] ... DR_t = ypp * sum_{s,b} h_b * credit * dr_mw[s,t,b]"
                    if dr is None:
                        sc.dr_mw[sid, t, bid] = Expr()
                        continue
                    d = sc.dr_mw[sid, t, bid] = col(f"dr_mw[{at(sid, t, bid)}]",
                                                    tree.recourse(t, sc), 0, dr["max_mw"])
                    m.le(d, x * b["pue"], f"dr_ready[{at(sid, t, bid)}]{sc.suffix}")
                    sc.dr_credit[t] += d * (ypp * h * dr["credit_usd_per_mw_year"] / MUSD)
                # "CAPEX_t = sum_s ( ... + expansion.capex * buy[s,t] )"
                if exp is not None:
                    sc.capex[t] += buy[t] * (exp["capex_usd_per_mw"] / MUSD)

        # ---------------------------------------------------------------- AI halls
        # "halls[s,t] integer >= 0: AI halls started in t. The most halls a site can ever
        #  start is floor((max_it_mw - existing_it_mw) / block_it_mw + 1e-9) ...
        #  reserved[s,t] = existing_it_mw + block_it_mw * sum_{tau <= t} halls[s,tau];
        #  available[s,t] = existing_it_mw + block_it_mw * sum_{tau <= t - lead} halls[s,tau]"
        a = s["ai"]
        if a is None:
            for sc in scen:
                for t in P:
                    sc.reserved[sid, t] = Expr()
                    sc.available[sid, t] = Expr()
            continue
        existing, block = float(a["existing_it_mw"]), float(a["block_it_mw"])
        n_max = math.floor((a["max_it_mw"] - existing) / block + 1e-9)
        n_max = max(n_max, 0)
        lead = int(a["lead_time_periods"])
        for sc in scen:
            # v2 B: halls and first halls are first-stage (Tree.stage_one).
            halls = {t: col(f"halls[{sid},{t}]", tree.stage_one(t, sc), 0, n_max,
                            integer=True) for t in P}
            m.le(total(halls.values()), n_max, f"max_halls[{sid}]{sc.suffix}")
            for t in P:
                sc.reserved[sid, t] = existing + block * total(
                    halls[tau] for tau in P if tau <= t)
                sc.available[sid, t] = existing + block * total(
                    halls[tau] for tau in P if tau <= t - lead)
                # "CAPEX_t = sum_s ( ai.capex * block_it_mw * halls[s,t] + ... )"
                hall_capex = halls[t] * (a["capex_usd_per_it_mw"] * block / MUSD)
                sc.capex[t] += hall_capex
                # v2 D: "AICAPEX_t = sum_s ( ai.capex * block_it_mw * halls[s,t] + ... )"
                sc.ai_capex[t] += hall_capex
                # "OPEX_t = ypp * sum_s ( ... + ai.opex * available[s,t] )" (existing too)
                sc.opex[t] += sc.available[sid, t] * (
                    ypp * a["opex_usd_per_it_mw_year"] / MUSD)

            # "fixed_capex_usd: once, in the first period a hall starts, and only at a site
            #  with existing_it_mw = 0". first[s,t] = 1 exactly when t is the first period
            #  with a hall: it needs a hall in t, and no hall may start before the period it
            #  marks.
            if existing == 0 and a["fixed_capex_usd"] > 0 and n_max > 0:
                first = {t: col(f"first_hall[{sid},{t}]", tree.stage_one(t, sc), 0, 1,
                                integer=True) for t in P}
                m.le(total(first.values()), 1, f"first_once[{sid}]{sc.suffix}")
                for t in P:
                    m.le(first[t], halls[t], f"first_has_hall[{sid},{t}]{sc.suffix}")
                    marked = total(first[tau] for tau in P if tau <= t)
                    m.le(halls[t], n_max * marked, f"hall_after_first[{sid},{t}]{sc.suffix}")
                    fixed = first[t] * (a["fixed_capex_usd"] / MUSD)
                    sc.capex[t] += fixed
                    # v2 D: "AICAPEX_t = sum_s ( ... + fixed_capex * first[s,t] )"
                    sc.ai_capex[t] += fixed

    # -------------------------------------------------------------------- contracts
    # "accept[c] binary (fixed to 1 when committed); it_mw[c] in [min * accept[c],
    #  max * accept[c]]. In each active period t (start <= t < start + term, t <= periods):
    #  sum over eligible s of serve[c,s,t] = it_mw[c]; outside its term serve = 0.
    #  At most max_sites sites serve c over the whole term (a site that serves in any
    #  period counts once)."
    # v2 B: accept, it_mw and uses are one column for every scenario: "two_stage: ...
    #  contract acceptance, it_mw, the sites used and serve are decided once"; "multi_stage:
    #  ... Contract acceptance, it_mw and, per contract, the set of at most max_sites sites
    #  it may use are decided in period 1; later periods split serve over that set (0 MW at
    #  some of its sites is allowed)". serve is first-stage (Tree.stage_one).
    accept: dict[str, Expr] = {}
    it_mw: dict[str, Expr] = {}
    tail = hz["terminal_value"] == "contract_tail"
    tail_price = hz["tail_energy_price_usd_per_mwh"]
    if tail and tail_price is None:
        raise ValueError("terminal_value contract_tail needs tail_energy_price_usd_per_mwh")
    for ci, c in enumerate(inst["contracts"]):
        cid = c["id"]
        lo, hi = float(c["it_mw"]["min"]), float(c["it_mw"]["max"])
        accept[cid] = m.binary(f"accept[{cid}]", lb=1.0 if c["committed"] else 0.0)
        it_mw[cid] = m.var(f"it_mw[{cid}]", 0, hi)
        m.ge(it_mw[cid], lo * accept[cid], f"it_mw_min[{cid}]")
        m.le(it_mw[cid], hi * accept[cid], f"it_mw_max[{cid}]")
        sites = eligible_sites(inst, ci)
        start, term = int(c["start_period"]), int(c["term_periods"])
        active = [t for t in range(start, start + term) if t <= T]
        uses = {s: m.binary(f"uses[{cid},{s}]") for s in sites}
        m.le(total(uses.values()), c["max_sites"], f"max_sites[{cid}]")
        recovery_tariff = series(c["energy_recovery_usd_per_mwh"], T)
        serves: dict[tuple[int, int], dict[str, Expr]] = {}  # (scenario, t) -> site -> serve
        for t in active:
            # "AI_t = sum_{c,s} rate_c * (1+escalator)^((t - start_c) * ypp) * 12000 * ypp
            #  * serve[c,s,t]"
            usd_per_mw = (c["rate_usd_per_kw_month"]
                          * (1.0 + c["escalator"]) ** ((t - start) * ypp) * 12000.0 * ypp)
            for sc in scen:
                serve = {s: col(f"serve[{cid},{s},{t}]", tree.stage_one(t, sc), 0, hi)
                         for s in sites}
                serves[sc.index, t] = serve
                m.eq(total(serve.values()), it_mw[cid], f"serve_all[{cid},{t}]{sc.suffix}")
                for s in sites:
                    m.le(serve[s], hi * uses[s], f"serve_uses[{cid},{s},{t}]{sc.suffix}")
                    sc.serve_at[s, t].append(serve[s])
                    sc.ai_rev[t] += serve[s] * (usd_per_mw / MUSD)
                    # v2 A: "ER_t = sum_{c,s} energy_recovery_c[t] * ai.pue_s * H *
                    #  serve[c,s,t]" (v2 B: a contract tariff, not scaled)
                    er = recovery_tariff[t - 1] * site_by_id[s]["ai"]["pue"] * H
                    if er != 0.0:
                        sc.recovery[t] += serve[s] * (er / MUSD)

        # v2 A: "Fixed allocation: serve[c,s,t] = serve[c,s,t'] for all active t, t' of c"
        if c["allocation"] == "fixed" and active:
            for sc in scen:
                for t in active[1:]:
                    for s in sites:
                        m.eq(serves[sc.index, t][s], serves[sc.index, active[0]][s],
                             f"fixed[{cid},{s},{t}]{sc.suffix}")

        # v2 A: "TC_t = sum_{c : tenant_capex_period_c = t} tenant_capex_c * it_mw[c]"
        if c["tenant_capex_usd_per_it_mw"] > 0:
            for sc in scen:
                sc.tenant_capex[int(c["tenant_capex_period"])] += it_mw[cid] * (
                    c["tenant_capex_usd_per_it_mw"] / MUSD)

        # v2 A, contract_tail: "R_c = floor((start_c - 1 + term_c - P) * ypp + 1e-9)
        #  (none when <= 0). For tail year k = 1..R_c, at each site s it serves in period P,
        #  per IT MW: v_csk = rate_c * (1+escalator_c)^((P - start_c + 1)*ypp + k - 1) * 12000
        #  + (energy_recovery_c[P] - tail_energy_price) * ai.pue_s * 8760
        #  - ai.opex_usd_per_it_mw_year_s;
        #  TV = sum_c sum_s serve[c,s,P] * sum_{k=1..R_c} v_csk * (1+r)^-(P*ypp + k)"
        # v2 B: each scenario's TV on its own serve[c,s,P]; tail_energy_price is not scaled.
        R = math.floor((start - 1 + term - T) * ypp + 1e-9)
        tail_per_mw: dict[str, float] = {}
        if tail and R > 0 and T in active:
            for s in sites:
                ai = site_by_id[s]["ai"]
                per_mw = 0.0
                for k in range(1, R + 1):
                    v = (c["rate_usd_per_kw_month"]
                         * (1.0 + c["escalator"]) ** ((T - start + 1) * ypp + k - 1)
                         * 12000.0
                         + (recovery_tariff[T - 1] - tail_price) * ai["pue"] * 8760.0
                         - ai["opex_usd_per_it_mw_year"])
                    per_mw += v * df(T * ypp + k)
                tail_per_mw[s] = per_mw
        for sc in scen:
            tail_c = Expr()
            for s, per_mw in tail_per_mw.items():
                tail_c += serves[sc.index, T][s] * (per_mw / MUSD)
            sc.tail_by_contract[cid] = tail_c
            sc.tail_value += tail_c

    # v2 A: "Groups: for every group g, sum_{c in g} accept[c] <= 1."
    groups: dict[str, list[str]] = defaultdict(list)
    for c in inst["contracts"]:
        if c["group"] is not None:
            groups[c["group"]].append(c["id"])
    for g, members in sorted(groups.items()):
        m.le(total(accept[cid] for cid in members), 1, f"group[{g}]")

    for s in inst["sites"]:
        sid = s["id"]
        btc_pue = s["btc"]["pue"] if s["btc"] is not None else 1.0
        ai_pue = s["ai"]["pue"] if s["ai"] is not None else 1.0
        for sc in scen:
            for t in P:
                served = total(sc.serve_at[sid, t])
                # "Site AI use: sum_c serve[c,s,t] <= available[s,t]."
                if s["ai"] is not None:
                    m.le(served, sc.available[sid, t], f"ai_use[{sid},{t}]{sc.suffix}")
                # "Site envelope (reserved halls hold their power from the period they
                #  start): btc_mw * btc.pue + reserved * ai.pue <= capacity_mw."
                #  (v2 C: per block)
                for bid in block_ids:
                    m.le(sc.btc_mw[sid, t, bid] * btc_pue + sc.reserved[sid, t] * ai_pue,
                         s["capacity_mw"], f"envelope[{at(sid, t, bid)}]{sc.suffix}")

    # -------------------------------------------------------------------- power
    # "Power balance at every site and source, per period, over power-link arcs:
    #  supply + sum_in flow * (1 - loss) - sum_out flow = load,
    #  where load(site) = btc_mw * btc.pue + sum_c serve[c,s,t] * ai.pue, load(source) = 0,
    #  supply(site) = grid import <= grid.capacity_mw (0 without grid),
    #  supply(source) = output <= capacity_mw[t]. Each arc: 0 <= flow <= capacity_mw."
    # "directed: default false (= two arcs, each capacity_mw)"; "the far end receives
    #  (1 - loss) of it". v2 A: "The energy itself is still load in the power balance and
    #  still bought by the operator (ENERGY_t unchanged)."
    arcs: list[tuple[str, str, str, float, float]] = []  # (name, tail, head, cap, loss)
    for link in inst["links"]:
        if link["kind"] != "power":
            continue
        assert link["capacity_mw"] is not None
        loss = float(link["loss"])
        cap = float(link["capacity_mw"])
        arcs.append((link["id"], link["from"], link["to"], cap, loss))
        if not link["directed"]:
            arcs.append((link["id"] + "~rev", link["to"], link["from"], cap, loss))
    # v2 C: "Capacities are the same in every block. Per block b: ... grid import, source
    #  output, flows and the power balance hold"; "ENERGY_t = H * sum_b h_b * ( sum_s
    #  grid[s,t,b] * price_b[s,t] + sum_src out[src,t,b] * price_b[src,t] )", where a price
    #  is a mapping {block id: series} or a plain series (the same in every block).
    # v2 B: "energy_price_scale: ... multiplies every grid and source price (per-block
    #  prices too)"; grid imports, source output and flows are recourse (Tree.recourse).
    grid_prices = {s["id"]: block_prices(s["grid"]["price_usd_per_mwh"], T, block_ids)
                   for s in inst["sites"] if s["grid"] is not None}
    source_prices = {src["id"]: block_prices(src["price_usd_per_mwh"], T, block_ids)
                     for src in inst["sources"]}
    for sc in scen:
        for t in P:
            stage = tree.recourse(t, sc)
            for bid, h in blocks:
                inflow: dict[str, Expr] = defaultdict(Expr)
                outflow: dict[str, Expr] = defaultdict(Expr)
                for name, tail_node, head, cap, loss in arcs:
                    f = col(f"flow[{at(name, t, bid)}]", stage, 0, cap)
                    outflow[tail_node] = outflow[tail_node] + f
                    inflow[head] = inflow[head] + f * (1.0 - loss)
                for s in inst["sites"]:
                    sid = s["id"]
                    supply = Expr()
                    if s["grid"] is not None:
                        supply = col(f"grid[{at(sid, t, bid)}]", stage, 0,
                                     s["grid"]["capacity_mw"])
                        price = grid_prices[sid][bid][t - 1] * sc.scale[t - 1]
                        # "ENERGY_t = H * ( sum_s grid_import[s,t] * grid.price[t] + ... )"
                        sc.energy[t] += supply * (H * h * price / MUSD)
                    sc.grid_mw[sid, t, bid] = supply
                    load = Expr()
                    if s["btc"] is not None:
                        load += sc.btc_mw[sid, t, bid] * s["btc"]["pue"]
                    if s["ai"] is not None:  # firm: the same serve in every block
                        load += total(sc.serve_at[sid, t]) * s["ai"]["pue"]
                    m.eq(supply + inflow[sid] - outflow[sid], load,
                         f"balance[{at(sid, t, bid)}]{sc.suffix}")
                for src in inst["sources"]:
                    cap = series(src["capacity_mw"], T)[t - 1]
                    price = source_prices[src["id"]][bid][t - 1] * sc.scale[t - 1]
                    output = col(f"output[{at(src['id'], t, bid)}]", stage, 0, cap)
                    # "ENERGY_t = H * ( ... + sum_src output[src,t] * price[src,t] )"
                    sc.energy[t] += output * (H * h * price / MUSD)
                    m.eq(output + inflow[src["id"]] - outflow[src["id"]], 0.0,
                         f"balance[{at(src['id'], t, bid)}]{sc.suffix}")

    # -------------------------------------------------------------------- debt (v2 D)
    # "loan[t] >= 0, loan[t] <= max_loan_to_cost * AICAPEX_t ...; sum_t loan[t] <=
    #  max_total_usd when given. Lenders lend against the gross build cost: tenant capex
    #  (A) does not reduce what may be borrowed."
    # "Under uncertainty, loans are decided with the halls: first-stage in two_stage; by
    #  period (non-anticipative) in multi_stage" (Tree.stage_one).
    debt = inst["finance"]["debt"] if inst["finance"] is not None else None
    annuity, tenor = 0.0, 0
    if debt is not None:
        annuity = annuity_factor(float(debt["interest_rate"]), int(debt["tenor_years"]))
        tenor = int(debt["tenor_years"])
        for sc in scen:
            for t in P:
                sc.loan[t] = col(f"loan[{t}]", tree.stage_one(t, sc))
                m.le(sc.loan[t], float(debt["max_loan_to_cost"]) * sc.ai_capex[t],
                     f"loan_to_cost[{t}]{sc.suffix}")
            if debt["max_total_usd"] is not None:
                m.le(total(sc.loan[t] for t in P), float(debt["max_total_usd"]) / MUSD,
                     f"debt_total{sc.suffix}")

    # -------------------------------------------------------------------- limits
    # v1 budgets, read in v2 as equity budgets net of tenant capex (A) and loans (D):
    # "CAPEX_t - TC_t - loan[t] <= capex_budget_usd_per_period[t] and
    #  sum_t (CAPEX_t - TC_t - loan[t]) <= capex_budget_usd" (v2 B: in every scenario)
    lim = inst["limits"]
    for sc in scen:
        equity = {t: sc.capex[t] - sc.tenant_capex[t] - sc.loan[t] for t in P}
        if lim["capex_budget_usd"] is not None:
            m.le(total(equity.values()), lim["capex_budget_usd"] / MUSD,
                 f"capex_budget{sc.suffix}")
        if lim["capex_budget_usd_per_period"] is not None:
            budget = series(lim["capex_budget_usd_per_period"], T)
            for t in P:
                m.le(equity[t], budget[t - 1] / MUSD, f"capex_budget[{t}]{sc.suffix}")
    # "max_tenant_share: for every tenant k: sum of it_mw[c] over k's contracts <=
    #  share * sum of it_mw[c] over all contracts (committed contracts count)"
    if lim["max_tenant_share"] is not None:
        everyone = total(it_mw.values())
        for tenant in sorted({c["tenant"] for c in inst["contracts"]}):
            own = total(it_mw[c["id"]] for c in inst["contracts"] if c["tenant"] == tenant)
            m.le(own, lim["max_tenant_share"] * everyone, f"tenant_share[{tenant}]")
    # "max_contracts: accepted contracts, committed ones included"
    if lim["max_contracts"] is not None:
        m.le(total(accept.values()), lim["max_contracts"], "max_contracts")

    # -------------------------------------------------------------------- NPV per scenario
    # v1: "NPV = sum_t [ (BTC_t + AI_t - ENERGY_t - OPEX_t) * (1+r)^-(t*ypp)
    #                   - CAPEX_t * (1+r)^-((t-1)*ypp) ]"
    # v2 A: ER_t is "an operating cash flow of period t"; TC_t is "a cash inflow discounted
    # like capex, (1+r)^-((t-1)*ypp)"; "TV is part of the NPV".
    # v2 D: "the NPV term of a loan is loan[t] * ( (1+r)^-((t-1)*ypp)
    #        - a * sum_{k=1..n} (1+r)^-((t-1)*ypp + k) )", every payment counted.
    # v2 C: DR_t is "an operating cash flow (dr_credit column)".
    # v2 B: "Each scenario w ... has its own NPV_w (every rule of v1 and v2 holds in every
    #  scenario)."
    for sc in scen:
        npv = Expr()
        for t in P:
            operating = (sc.btc_rev[t] + sc.ai_rev[t] + sc.recovery[t] + sc.dr_credit[t]
                         - sc.energy[t] - sc.opex[t])
            npv += (operating * df(t * ypp)
                    - (sc.capex[t] - sc.tenant_capex[t]) * df((t - 1) * ypp))
            if debt is not None:
                repaid = annuity * sum(df((t - 1) * ypp + k) for k in range(1, tenor + 1))
                npv += sc.loan[t] * (df((t - 1) * ypp) - repaid)
        sc.npv = npv + sc.tail_value

    # -------------------------------------------------------------------- objective
    # v1: "maximise NPV". v2 B: "maximise (1 - w) * E[NPV] + w * CVaR_a, E over the
    #  scenario probabilities, w = cvar_weight, a = cvar_alpha, and
    #  CVaR_a = max_eta ( eta - 1/(1-a) * sum_w p_w * max(0, eta - NPV_w) )":
    # a free column eta and shortfall_w >= 0, shortfall_w >= eta - NPV_w (MUSD).
    alpha = weight = 0.0
    if not uncertain:
        m.objective = scen[0].npv
    else:
        risk = inst["uncertainty"]["risk"]
        alpha, weight = float(risk["cvar_alpha"]), float(risk["cvar_weight"])
        expected = total(sc.npv * sc.probability for sc in scen)
        objective = expected * (1.0 - weight)
        if weight > 0:
            eta = m.var("cvar_eta", -INF, INF)
            shortfall = []
            for sc in scen:
                z = m.var(f"cvar_shortfall[{sc.id}]")
                m.ge(z, eta - sc.npv, f"cvar_shortfall[{sc.id}]")
                shortfall.append(z * sc.probability)
            objective += (eta - total(shortfall) * (1.0 / (1.0 - alpha))) * weight
        m.objective = objective
    res = m.solve(mip_rel_gap, time_limit)
    if res.status != "optimal":
        return res

    # -------------------------------------------------------------------- reported parts
    # v2 A/C/D outputs: cashflows.csv per period (net adds energy_recovery, dr_credit,
    # tenant_capex, debt_drawn - debt_service; `discounted` discounts the operating part
    # at the end of the period, capex - tenant_capex and debt_drawn at its start, and each
    # payment at its own year); "debt_service (payments whose year falls in ((t-1)*ypp, t*ypp],
    # compared with a 1e-9 tolerance)"; debt_after_horizon_usd = the payments after the
    # last period, discounted; objective_npv_usd = sum of discounted + terminal_value_usd
    # - debt_after_horizon_usd.
    def report(sc: Scenario) -> dict[str, Any]:
        """One scenario's cash flows, totals and site reports at the optimum."""
        payments: list[tuple[float, float]] = []  # (year, USD)
        for t in P:
            drawn = res.value(sc.loan[t]) * MUSD
            for k in range(1, tenor + 1):
                payments.append(((t - 1) * ypp + k, annuity * drawn))
        rows = []
        for t in P:
            service = [(y, p) for y, p in payments
                       if (t - 1) * ypp + 1e-9 < y <= t * ypp + 1e-9]
            row = {name: res.value(e[t]) * MUSD for name, e in (
                ("btc_revenue", sc.btc_rev), ("ai_revenue", sc.ai_rev),
                ("energy_recovery", sc.recovery), ("dr_credit", sc.dr_credit),
                ("energy_cost", sc.energy), ("opex", sc.opex), ("capex", sc.capex),
                ("tenant_capex", sc.tenant_capex), ("debt_drawn", sc.loan))}
            row["period"] = t
            row["debt_service"] = sum(p for _, p in service)
            operating = (row["btc_revenue"] + row["ai_revenue"] + row["energy_recovery"]
                         + row["dr_credit"] - row["energy_cost"] - row["opex"])
            row["net"] = (operating - row["capex"] + row["tenant_capex"] + row["debt_drawn"]
                          - row["debt_service"])
            row["discounted"] = (operating * df(t * ypp)
                                 + (row["tenant_capex"] - row["capex"] + row["debt_drawn"])
                                 * df((t - 1) * ypp)
                                 - sum(p * df(y) for y, p in service))
            rows.append(row)
        out: dict[str, Any] = {
            "periods": rows,
            "discounted_usd": sum(row["discounted"] for row in rows),
            "terminal_value_usd": res.value(sc.tail_value) * MUSD,
            "debt_principal_usd": sum(row["debt_drawn"] for row in rows),
            "debt_after_horizon_usd": float(sum(p * df(y) for y, p in payments
                                                if y > T * ypp + 1e-9)),
            "tail_by_contract": {cid: res.value(e) * MUSD
                                 for cid, e in sc.tail_by_contract.items()},
            "site_blocks": {}, "site_periods": {}}
        # v2 C: "site_period_blocks.csv has site, period, block, btc_mw, grid_import_mw"
        # (and dr_mw); "site_periods.csv gains dr_mw (share-weighted) and reports every
        # block-varying column, gross_load_mw included, as its share-weighted average" (v1:
        # gross_load_mw is the site's load, btc_mw * btc.pue + served IT MW * ai.pue).
        for s in inst["sites"]:
            sid = s["id"]
            for t in P:
                avg = dict.fromkeys(("btc_mw", "grid_import_mw", "dr_mw", "gross_load_mw"),
                                    0.0)
                served = res.value(total(sc.serve_at[sid, t]))
                for bid, h in blocks:
                    btc = res.value(sc.btc_mw[sid, t, bid])
                    row = {"btc_mw": btc,
                           "grid_import_mw": res.value(sc.grid_mw[sid, t, bid]),
                           "dr_mw": res.value(sc.dr_mw[sid, t, bid]),
                           "gross_load_mw": (btc * (s["btc"]["pue"] if s["btc"] else 1.0)
                                             + served * (s["ai"]["pue"] if s["ai"] else 1.0))}
                    out["site_blocks"][sid, t, bid] = row
                    for key, value in row.items():
                        avg[key] += h * value
                out["site_periods"][sid, t] = avg
        return out

    totals = ("discounted_usd", "terminal_value_usd", "debt_principal_usd",
              "debt_after_horizon_usd")
    if not uncertain:
        rep = report(scen[0])
        res.periods = rep["periods"]
        for key in totals:
            setattr(res, key, rep[key])
        res.tail_by_contract = rep["tail_by_contract"]
        res.site_blocks = rep["site_blocks"]
        res.site_periods = rep["site_periods"]
        return res

    # v2 B outputs: "summary.json gains expected_npv_usd, cvar_usd, cvar_alpha, cvar_weight,
    #  objective_usd (the weighted objective), and objective_npv_usd = expected_npv_usd;
    #  terminal_value_usd is the expected TV; scenarios.csv: scenario, probability, npv_usd,
    #  in_cvar_tail (NPV_w <= eta*, the smallest maximiser in the CVaR formula, i.e. the
    #  (1-a)-quantile; the boundary scenario is in; with a = 0 every scenario is); the
    #  per-period files gain a leading scenario column." D: debt totals are expectations.
    res.objective_usd = res.npv_usd
    res.structure = tree.structure
    res.cvar_alpha, res.cvar_weight = alpha, weight
    for key in totals:
        setattr(res, key, 0.0)
    tails: dict[str, float] = defaultdict(float)
    for sc in scen:
        sid_ = str(sc.id)
        rep = report(sc)
        res.scenario_probability[sid_] = sc.probability
        res.scenario_npv_usd[sid_] = res.value(sc.npv) * MUSD
        res.scenario_parts[sid_] = {key: rep[key] for key in totals}
        for key in totals:
            setattr(res, key, getattr(res, key) + sc.probability * rep[key])
        for cid, value in rep["tail_by_contract"].items():
            tails[cid] += sc.probability * value
        res.periods += [{"scenario": sid_, **row} for row in rep["periods"]]
        res.site_blocks.update({(sid_, *key): row for key, row in rep["site_blocks"].items()})
        res.site_periods.update({(sid_, *key): row
                                 for key, row in rep["site_periods"].items()})
    res.tail_by_contract = dict(tails)
    npvs = list(res.scenario_npv_usd.values())
    probabilities = list(res.scenario_probability.values())
    res.expected_npv_usd = sum(p * v for p, v in zip(probabilities, npvs, strict=True))
    res.npv_usd = res.expected_npv_usd
    res.cvar_eta_usd, res.cvar_usd = cvar(npvs, probabilities, alpha)
    # "in_cvar_tail (NPV_w <= eta* ...; the boundary scenario is in)": NPVs equal to eta*
    # up to rounding (1e-9 relative) count as equal.
    boundary = res.cvar_eta_usd + 1e-9 * max(1.0, abs(res.cvar_eta_usd))
    res.in_cvar_tail = {k: v <= boundary for k, v in res.scenario_npv_usd.items()}
    return res


def reference_npv(instance: Any) -> tuple[str, float | None]:
    """("optimal", NPV in USD) or ("infeasible", None), per the spec, to a 1e-7 gap; with
    `uncertainty` the NPV is E[NPV] (use :func:`reference_solve` for the objective)."""
    res = reference_solve(instance)
    return res.status, res.npv_usd
