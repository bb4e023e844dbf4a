"""Model data: the instance turned into index sets and per-period coefficients.

Everything here is plain Python/numpy, computed once; the Pyomo model only reads it.
Money is kept in USD here; the model divides by :data:`MONEY_SCALE` (MUSD inside the model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..graph import Arc, Network, build_network
from ..instance import AI, BTC, Contract, Debt, Instance, Site
from .finance import LoanSchedule, loan_schedule, tail_value_per_it_mw

__all__ = ["MONEY_SCALE", "Formulation", "ModelData", "prepare"]

MONEY_SCALE = 1e6  # USD per model money unit (MUSD)
HALL_FLOOR_EPS = 1e-9
BASE_SCENARIO = "base"  # the one scenario of an instance without `uncertainty`


@dataclass(frozen=True)
class Formulation:
    """Formulation choices. The defaults are the strong formulation; the others exist to
    measure what each choice is worth (benchmarks/, docs/performance.md). Every choice gives
    the same optimum: they differ only in how tight the LP relaxation is.
    """

    hall_encoding: str = "integer"  # "integer": one count per site and period;
    # "block_binaries": one binary per block and period (symmetric, weaker)
    data_bounds: bool = True  # bounds from the data; False: an arbitrary big-M of BIG_M
    valid_inequalities: bool = True  # site-choice/acceptance/served-MW cuts, envelope hall cap
    # Valid inequalities for the hard portfolios (docs/formulation.md; each needs
    # valid_inequalities=True as well):
    single_site_cuts: bool = True  # contract_single_site: a one-site lease is flat over its term
    site_hall_cuts: bool = True  # contract_halls_ready: its site has the halls by its start
    first_hall_cuts: bool = False  # ai_first_hall_cumulative: no hall before the first one
    # (valid, but it moved no LP bound on the hard portfolios: off by default)
    power_bounds: bool = False  # U_cs also <= P^in_s / P^a_s, the power that can reach s
    # (valid and tighter, but it slowed two of the hard portfolios: off by default)
    site_room_cuts: bool = False  # contract_site_room: a lease's share of a site without
    # new halls is its existing IT MW


BIG_M = 1.0e4  # the arbitrary constant a weaker formulation would use (IT MW)


@dataclass
class ModelData:
    instance: Instance
    network: Network
    periods: list[int]
    ypp: float
    days: float  # D = 365 * ypp
    hours: float  # H = 8760 * ypp
    disc_op: dict[int, float]  # (1+r)^-(t*ypp), operating cash at end of period t
    disc_cap: dict[int, float]  # (1+r)^-((t-1)*ypp), capex at start of period t
    hashprice: dict[int, float]
    sites: dict[str, Site]
    sources: list[str]
    blocks: list[str]  # price blocks (spec v2 C); ["all"] without market.blocks
    share: dict[str, float]  # hours share h_b of each block
    grid_price: dict[str, dict[tuple[int, str], float]]  # site -> (t, b) -> USD/MWh
    source_cap: dict[str, dict[int, float]]
    source_price: dict[str, dict[tuple[int, str], float]]  # source -> (t, b) -> USD/MWh
    btc_sites: list[str]
    exp_sites: list[str]
    ai_sites: list[str]
    hall_max: dict[str, int]
    hall_sites: list[str]  # AI sites that may start at least one hall
    fixed_capex_sites: list[str]  # hall sites that pay fixed_capex_usd on the first hall
    btc_revenue: dict[Any, float]  # USD per hashing MW: (s, t), or (s, t, w) with scenarios
    contracts: dict[str, Contract]
    active: dict[str, list[int]]  # contract -> active periods (term clipped to the horizon)
    eligible: dict[str, tuple[str, ...]]
    ai_revenue: dict[tuple[str, int], float]  # USD per served IT MW of contract c in t
    arcs: tuple[Arc, ...]
    formulation: Formulation = field(default_factory=Formulation)
    uses_contracts: list[str] = field(default_factory=list)  # contracts needing site binaries
    # spec v2, part A
    energy_recovery: dict[tuple[str, int], float] = field(default_factory=dict)  # USD/MWh
    recovery_contracts: list[str] = field(default_factory=list)  # any tariff > 0
    tenant_capex_contracts: list[str] = field(default_factory=list)  # contribution > 0
    groups: dict[str, list[str]] = field(default_factory=dict)  # groups of >= 2 contracts
    fixed_contracts: list[str] = field(default_factory=list)  # allocation: fixed
    tail_value: dict[tuple[str, str], float] = field(default_factory=dict)  # USD per IT MW
    # spec v2, part D
    debt: Debt | None = None
    loans: dict[int, LoanSchedule] = field(default_factory=dict)  # periods a loan may start
    # spec v2, part C
    dr_sites: list[str] = field(default_factory=list)  # BTC sites with demand_response
    # spec v2, part B: scenarios W (one, "base", without `uncertainty`)
    scenarios: list[str] = field(default_factory=lambda: [BASE_SCENARIO])
    probability: dict[str, float] = field(default_factory=lambda: {BASE_SCENARIO: 1.0})
    scenario_hashprice: dict[tuple[int, str], float] = field(default_factory=dict)
    energy_scale: dict[tuple[int, str], float] = field(default_factory=dict)  # (t, w)
    # Operational variables carry a scenario index (every instance with `uncertainty`).
    by_scenario: bool = False
    # multi_stage: first-stage decisions of period t carry the node of the scenario tree;
    # node[t, w] is the first scenario sharing w's data in every period <= t.
    multi_stage: bool = False
    node: dict[tuple[int, str], str] = field(default_factory=dict)
    # Most gross MW that can ever reach each site: grid + what its power links can deliver
    # (only with Formulation.power_bounds).
    power_in: dict[str, float] = field(default_factory=dict)

    def nodes(self, t: int) -> list[str]:
        """The scenario-tree nodes of period t, each named by its first scenario: one
        (the first scenario) unless multi_stage."""
        if not self.multi_stage:
            return self.scenarios[:1]
        return list(dict.fromkeys(self.node[t, w] for w in self.scenarios))

    def op(self, head: Any, t: int, w: str, b: str) -> tuple[Any, ...]:
        """Key of an operational variable (hashing, grid, source, flow, DR) at (t, w, b):
        (head, t, b), or (head, t, w, b) with scenarios."""
        return (head, t, w, b) if self.by_scenario else (head, t, b)

    def opt(self, head: Any, t: int, w: str) -> tuple[Any, ...]:
        """Key of a per-period operational parameter: (head, t) or (head, t, w)."""
        return (head, t, w) if self.by_scenario else (head, t)

    def fs(self, head: tuple[Any, ...], t: int, w: str) -> Any:
        """Key of a first-stage variable of period t (halls, first halls, purchases, serve,
        loans) in scenario w: (*head, t), or (*head, t, node) for multi_stage."""
        key = (*head, t, self.node[t, w]) if self.multi_stage else (*head, t)
        return key[0] if len(key) == 1 else key

    def fs_upto(self, head: tuple[Any, ...], last: int, w: str) -> list[Any]:
        """Keys :meth:`fs` of the periods tau <= last (cumulative sums: halls, purchases)."""
        taus = [tau for tau in self.periods if tau <= last]
        if self.multi_stage:
            node = self.node
            return [(*head, tau, node[tau, w]) for tau in taus]
        if not head:
            return taus
        return [(*head, tau) for tau in taus]

    def scenario_of(self, rest: tuple[Any, ...]) -> str:
        """The scenario (or node) closing an index: rest = (w,) with scenarios, () without."""
        return rest[0] if rest else self.scenarios[0]

    def block_prices(self, value: Any) -> dict[tuple[int, str], float]:
        """A (block) price expanded to (period, block) -> USD/MWh."""
        per_block = self.instance.block_series(value)
        return {(t, b): per_block[b][t - 1] for b in self.blocks for t in self.periods}

    def btc(self, s: str) -> BTC:
        b = self.sites[s].btc
        assert b is not None
        return b

    def ai(self, s: str) -> AI:
        a = self.sites[s].ai
        assert a is not None
        return a

    def btc_upper(self, s: str) -> float:
        """Most ASIC MW that can ever hash at s (fleet + expansion, within the envelope)."""
        b = self.btc(s)
        fleet = b.fleet_mw + (b.expansion.max_mw if b.expansion else 0.0)
        room = self.sites[s].capacity_mw
        if self.sites[s].ai is not None:
            room -= self.ai(s).existing_it_mw * self.ai(s).pue
        return max(0.0, min(fleet, room / b.pue))

    def available_upper(self, s: str) -> float:
        a = self.ai(s)
        return a.existing_it_mw + a.block_it_mw * self.hall_max[s]

    def serve_site_upper(self, s: str) -> float:
        """Most IT MW s can ever serve: its halls and, with ``Formulation.power_bounds``,
        the power that can reach it / PUE."""
        if not self.formulation.power_bounds:
            return self.available_upper(s)
        return min(self.available_upper(s), self.power_in[s] / self.ai(s).pue)


def prepare(instance: Instance, network: Network | None = None,
            formulation: Formulation | None = None) -> ModelData:
    """Derive index sets and coefficients from a validated instance."""
    form = formulation or Formulation()
    net = network or build_network(instance)
    h = instance.horizon
    periods = list(range(1, h.periods + 1))
    ypp = h.years_per_period
    r = h.discount_rate
    series = instance.series
    scen = _scenario_data(instance, periods)
    hashprice = scen.mean_hashprice
    sites = {s.id: s for s in instance.sites}
    days = 365.0 * ypp

    hall_max: dict[str, int] = {}
    for s in instance.sites:
        if s.ai is None:
            continue
        a = s.ai
        by_max = math.floor((a.max_it_mw - a.existing_it_mw) / a.block_it_mw + HALL_FLOOR_EPS)
        # The envelope alone already bounds halls: a valid, tighter integer bound.
        room = s.capacity_mw - a.existing_it_mw * a.pue
        by_envelope = math.floor(room / (a.block_it_mw * a.pue) + HALL_FLOOR_EPS)
        hall_max[s.id] = max(0, min(by_max, by_envelope) if form.valid_inequalities else by_max)

    btc_revenue: dict[Any, float] = {}
    for s in instance.sites:
        if s.btc is None:
            continue
        b = s.btc
        for t in periods:
            for w in scen.ids:
                key = (s.id, t, w) if scen.by_scenario else (s.id, t)
                btc_revenue[key] = (scen.hashprice[t, w] * (1000.0 / b.efficiency_j_per_th)
                                    * b.uptime * days)

    contracts = {c.id: c for c in instance.contracts}
    active = {
        c.id: [t for t in periods if c.start_period <= t < c.start_period + c.term_periods]
        for c in instance.contracts
    }
    ai_revenue = {
        (c.id, t): c.rate_usd_per_kw_month
        * (1.0 + c.escalator) ** ((t - c.start_period) * ypp)
        * 12000.0
        * ypp
        for c in instance.contracts
        for t in active[c.id]
    }
    hall_sites = [s for s, n in hall_max.items() if n >= 1]
    data = ModelData(
        instance=instance,
        network=net,
        periods=periods,
        ypp=ypp,
        days=days,
        hours=8760.0 * ypp,
        disc_op={t: (1.0 + r) ** (-(t * ypp)) for t in periods},
        disc_cap={t: (1.0 + r) ** (-((t - 1) * ypp)) for t in periods},
        hashprice=hashprice,
        sites=sites,
        sources=[src.id for src in instance.sources],
        blocks=list(instance.block_shares),
        share=instance.block_shares,
        grid_price={},
        source_cap={
            src.id: dict(zip(periods, series(src.capacity_mw), strict=True))
            for src in instance.sources
        },
        source_price={},
        btc_sites=[s.id for s in instance.sites if s.btc is not None],
        exp_sites=[s.id for s in instance.sites if s.btc is not None and s.btc.expansion],
        ai_sites=list(hall_max),
        hall_max=hall_max,
        hall_sites=hall_sites,
        fixed_capex_sites=[
            s for s in hall_sites
            if sites[s].ai is not None
            and sites[s].ai.fixed_capex_usd > 0  # type: ignore[union-attr]
            and sites[s].ai.existing_it_mw == 0  # type: ignore[union-attr]
        ],
        btc_revenue=btc_revenue,
        contracts=contracts,
        active=active,
        eligible=dict(net.eligible),
        ai_revenue=ai_revenue,
        arcs=net.arcs,
        formulation=form,
    )
    data.uses_contracts = [
        c.id for c in instance.contracts if len(data.eligible[c.id]) > c.max_sites
    ]
    data.grid_price = {s.id: data.block_prices(s.grid.price_usd_per_mwh)
                       for s in instance.sites if s.grid is not None}
    data.source_price = {src.id: data.block_prices(src.price_usd_per_mwh)
                         for src in instance.sources}
    data.dr_sites = [s.id for s in instance.sites
                     if s.btc is not None and s.btc.demand_response is not None]
    data.scenarios = scen.ids
    data.probability = scen.probability
    data.scenario_hashprice = scen.hashprice
    data.energy_scale = scen.scale
    data.by_scenario = scen.by_scenario
    data.multi_stage = scen.multi_stage
    data.node = scen.node
    if form.power_bounds:
        data.power_in = power_in(instance, net.arcs, data.source_cap)
    _prepare_deals(data)
    _prepare_debt(data)
    return data


def power_in(instance: Instance, arcs: tuple[Arc, ...],
             source_cap: dict[str, dict[int, float]]) -> dict[str, float]:
    """P^in_s = G_s + sum over arcs a into s of (1 - loss_a) min(V_a, out_n), n = tail of a.

    out_n bounds what node n can send on: its own supply (G_n at a site, max_t W_nt at a
    source) plus (1 - loss) V of every arc into n. power_balance at s with flows within
    their capacities gives P^b_s btc_mw + P^a_s sum_c serve <= P^in_s in every period, so
    P^in_s / P^a_s bounds the IT MW s can serve (``serve_site_upper``).
    """
    own = {s.id: (s.grid.capacity_mw if s.grid is not None else 0.0) for s in instance.sites}
    for r, cap in source_cap.items():
        own[r] = max(cap.values(), default=0.0)
    inflow = dict.fromkeys(own, 0.0)
    for a in arcs:
        inflow[a.head] += (1.0 - a.loss) * a.capacity_mw
    out = {n: own[n] + inflow[n] for n in own}
    total = {s.id: own[s.id] for s in instance.sites}
    for a in arcs:
        if a.head in total:
            total[a.head] += (1.0 - a.loss) * min(a.capacity_mw, out[a.tail])
    return total


def _prepare_deals(d: ModelData) -> None:
    """Part A: energy recovery tariffs, tenant capex, groups, fixed allocations, tails."""
    inst = d.instance
    P = inst.horizon.periods
    groups: dict[str, list[str]] = {}
    for c in inst.contracts:
        tariff = dict(zip(d.periods, inst.series(c.energy_recovery_usd_per_mwh), strict=True))
        for t in d.active[c.id]:
            d.energy_recovery[c.id, t] = tariff[t]
        if any(tariff[t] > 0 for t in d.active[c.id]):
            d.recovery_contracts.append(c.id)
        if c.tenant_capex_usd_per_it_mw > 0:
            d.tenant_capex_contracts.append(c.id)
        if c.group is not None:
            groups.setdefault(c.group, []).append(c.id)
        if c.allocation == "fixed" and len(d.active[c.id]) > 1:
            d.fixed_contracts.append(c.id)
        if inst.horizon.terminal_value == "contract_tail" and P in d.active[c.id]:
            for s in d.eligible[c.id]:
                ai = d.ai(s)
                value = tail_value_per_it_mw(inst, c, tariff[P], ai.pue,
                                             ai.opex_usd_per_it_mw_year)
                if value != 0.0:
                    d.tail_value[c.id, s] = value
    d.groups = {g: cs for g, cs in groups.items() if len(cs) > 1}


def _prepare_debt(d: ModelData) -> None:
    """Part D: one loan schedule per period in which AI capex can start."""
    finance = d.instance.finance
    if finance is None:
        return
    d.debt = finance.debt
    if not d.hall_sites:
        return  # no AI capex to borrow against
    h = d.instance.horizon
    d.loans = {t: loan_schedule(finance.debt, t, d.ypp, h.discount_rate) for t in d.periods}


@dataclass
class _Scenarios:
    ids: list[str]
    probability: dict[str, float]
    hashprice: dict[tuple[int, str], float]  # (t, w) -> USD/PH/day
    scale: dict[tuple[int, str], float]  # (t, w) -> energy price scale
    mean_hashprice: dict[int, float]  # probability-weighted
    by_scenario: bool
    multi_stage: bool
    node: dict[tuple[int, str], str]


def _scenario_data(instance: Instance, periods: list[int]) -> _Scenarios:
    """W, p_w, the hashprice and energy-price scale of each scenario, and for multi_stage
    the node of each (t, w): the first scenario whose data equal w's in every period <= t
    (numbers compared exactly, spec v2 B)."""
    u = instance.uncertainty
    if u is None:
        hp = instance.market.hashprice_usd_per_ph_day
        assert hp is not None  # validated: required without uncertainty
        values = instance.series(hp)
        return _Scenarios(
            [BASE_SCENARIO], {BASE_SCENARIO: 1.0},
            {(t, BASE_SCENARIO): values[t - 1] for t in periods},
            {(t, BASE_SCENARIO): 1.0 for t in periods},
            dict(zip(periods, values, strict=True)), False, False, {})
    ids = [sc.id for sc in u.scenarios]
    prob = {sc.id: sc.probability for sc in u.scenarios}
    hashprice: dict[tuple[int, str], float] = {}
    scale: dict[tuple[int, str], float] = {}
    for sc in u.scenarios:
        hp_w = instance.series(sc.hashprice_usd_per_ph_day)
        sc_w = instance.series(sc.energy_price_scale)
        for t in periods:
            hashprice[t, sc.id] = hp_w[t - 1]
            scale[t, sc.id] = sc_w[t - 1]
    mean = {t: sum(prob[w] * hashprice[t, w] for w in ids) for t in periods}
    multi = u.structure == "multi_stage"
    node: dict[tuple[int, str], str] = {}
    if multi:
        for t in periods:
            first: dict[tuple[float, ...], str] = {}
            for w in ids:
                history = tuple(x for tau in periods if tau <= t
                                for x in (hashprice[tau, w], scale[tau, w]))
                node[t, w] = first.setdefault(history, w)
    return _Scenarios(ids, prob, hashprice, scale, mean, True, multi, node)
