"""Random but valid instances, drawn from the public calibration ranges.

:func:`generate_instance` returns a plain ``dict`` (JSON/YAML-serialisable) that passes
:func:`portfolio_opt.validate.validate_data` and uses every feature of the instance format:
sites with and without a grid, mining with and without expansion, AI sites with and
without existing halls, fixed capex, lead times 0-2, sources with per-period capacity and
price, directed and undirected power links with losses, fiber links with latencies,
contracts eligible by explicit list, by ``near`` and by default, escalators, ``max_sites``
1-3, committed contracts, and every limit.

Committed contracts are added only where they are plainly servable, so a generated instance
is always feasible: each committed contract asks for a fixed IT MW that fits in the
existing halls of one site of its own (available from period 1, no capex), that site's
grid covers the halls' full draw, ``max_contracts`` counts them, and two committed
contracts of equal size from different tenants keep every tenant at a 50 % share, below
``max_tenant_share``. With a single committed contract ``max_tenant_share`` is left out
(it alone would hold 100 %).

The distributions follow ``calibration.md`` (see docs/instances.md). Draws come from
``numpy.random.default_rng(seed)``, so a seed always gives the same instance; per-site
draws are vectorised, so thousands of sites take well under a second.

With ``deals``, ``debt``, ``blocks`` or ``demand_response`` the instance also uses spec v2
parts A, C and D, drawn by :mod:`portfolio_opt.generate_v2` from their own seeded streams
after the v1 draws, so a seed's v1 instance (and its deal terms) stays the same.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .generate_v2 import (
    MAX_BLOCKS,
    MIN_BLOCKS,
    _blocks,
    _deals,
    _debt,
    _demand_response,
    _floor,
    _price_series,
    _r,
)
from .writer import write_instance

__all__ = ["generate_instance", "write_instance"]

START_YEAR = 2026
# Share of hashprice left after each halving: the subsidy halves, fees do not. The first
# cut is the full ~45 % drop; later ones are softened on the assumption that fees and price
# growth absorb part of them (the same choice as instances/us_portfolio.yaml).
HALVINGS = {2028: 0.55, 2032: 0.85, 2036: 0.85}
# April halving: about a third of the year runs at the old subsidy.
HALVING_YEAR_BLEND = 1 / 3
# Above this many AI sites only one offer (the third) is open to every AI site.
DEFAULT_ELIGIBILITY_MAX_AI_SITES = 30
LEAD_TIMES = np.array([0, 1, 2])
LEAD_TIME_WEIGHTS = np.array([0.2, 0.5, 0.3])
BLOCK_SIZES_IT_MW = np.array([10.0, 20.0, 25.0, 35.0, 50.0, 60.0, 100.0])

# Roles of the first sites, so that every feature appears once there are enough sites.
# (grid, btc, expansion, ai, existing halls)
_FORCED_ROLES = (
    (True, True, False, True, True),    # committed host; mining + AI halls already built
    (False, False, False, True, False),  # AI-only, fed by a source, fixed capex
    (True, True, True, False, False),   # mining with expansion
    (True, True, False, True, True),    # second committed host
    (True, False, False, True, False),  # greenfield AI on the grid
)


def generate_instance(sites: int, periods: int, contracts: int, seed: int, *,
                      deals: bool = False, debt: bool | None = None, blocks: int = 0,
                      demand_response: bool | None = None) -> dict[str, Any]:
    """Draw a valid, feasible instance with ``sites`` sites, ``periods`` yearly periods and
    ``contracts`` lease offers; the same arguments always give the same ``dict``.

    ``deals``: add the deal structures of spec v2 part A; ``debt``: add project debt
    (part D; default: as ``deals``); ``blocks``: K >= 2 price blocks (part C; 0: none);
    ``demand_response``: demand response on some mining sites (part C; default: when
    ``blocks``). Without any of them, the instance is the v1 one of the seed, as earlier
    versions drew it.
    """
    if sites < 1:
        raise ValueError(f"sites must be >= 1, got {sites}")
    if periods < 1:
        raise ValueError(f"periods must be >= 1, got {periods}")
    if contracts < 0:
        raise ValueError(f"contracts must be >= 0, got {contracts}")
    if blocks != 0 and not MIN_BLOCKS <= blocks <= MAX_BLOCKS:
        raise ValueError(f"blocks must be 0 (none) or {MIN_BLOCKS}-{MAX_BLOCKS}, got {blocks}")
    rng = np.random.default_rng(seed)
    width = len(str(sites))
    site_ids = [f"site-{i + 1:0{width}d}" for i in range(sites)]

    horizon = {
        "periods": periods,
        "years_per_period": 1.0,
        "start_year": START_YEAR,
        "discount_rate": _r(rng.uniform(0.06, 0.10), 3),
    }
    market = {"hashprice_usd_per_ph_day": _hashprice(rng, periods)}
    site_list, ai_index, hosts = _sites(rng, site_ids, periods)
    sources = _sources(rng, max(1, sites // 8), periods)
    links = _links(rng, site_list, sources)
    contract_list, committed = _contracts(rng, contracts, site_list, ai_index, hosts, periods)
    limits = _limits(rng, site_list, contract_list, committed, periods)

    data: dict[str, Any] = {
        "name": f"generated-s{sites}-t{periods}-c{contracts}-seed{seed}",
        "horizon": horizon,
        "market": market,
        "sites": site_list,
        "sources": sources,
        "links": links,
        "contracts": contract_list,
        "limits": limits,
    }
    with_debt = deals if debt is None else debt
    if deals or with_debt:
        extra = np.random.default_rng([seed, 2])  # v2 draws: the v1 ones stay as they were
        if deals:
            data["name"] += "-deals"
            _deals(extra, data, periods)
        if with_debt:
            data["name"] += "-debt"
            data["finance"] = _debt(extra, limits)
    with_dr = blocks > 0 if demand_response is None else demand_response
    if blocks or with_dr:
        third = np.random.default_rng([seed, 3])  # part C: v1, deal and debt draws stay
        if blocks:
            data["name"] += f"-blocks{blocks}"
            _blocks(third, data, blocks)
        if with_dr:
            data["name"] += "-dr"
            _demand_response(third, data["sites"])
    return data



# --- drawing -------------------------------------------------------------------------


def _hashprice(rng: np.random.Generator, periods: int) -> list[float]:
    """calibration.md: 35-55 USD/PH/day now, ~45 % less after April 2028; slow drift."""
    years = START_YEAR + np.arange(periods)
    level = np.ones(periods)
    for year, factor in HALVINGS.items():
        blend = HALVING_YEAR_BLEND + (1 - HALVING_YEAR_BLEND) * factor
        level = np.where(years > year, level * factor, level)
        level = np.where(years == year, level * blend, level)
    drift = (1 + rng.uniform(-0.02, 0.01)) ** np.arange(periods)
    noise = rng.lognormal(0.0, 0.04, periods)
    values = rng.uniform(38.0, 52.0) * level * drift * noise
    return [_r(v, 2) for v in values]


def _sites(rng: np.random.Generator, ids: list[str],
           periods: int) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    n = len(ids)
    has_grid = rng.random(n) < 0.85
    has_btc = rng.random(n) < 0.75
    has_exp = rng.random(n) < 0.3
    has_ai = rng.random(n) < 0.4
    has_existing = rng.random(n) < 0.3
    for i, role in enumerate(_FORCED_ROLES[:n]):
        has_grid[i], has_btc[i], has_exp[i], has_ai[i], has_existing[i] = role
    has_exp &= has_btc
    has_existing &= has_ai

    capacity = np.round(rng.uniform(50.0, 700.0, n), 1)
    grid_share = rng.uniform(0.6, 1.1, n)
    grid_price = rng.uniform(21.0, 55.0, n)
    grid_list = rng.random(n) < 0.5
    btc_eff = np.round(rng.uniform(13.5, 25.0, n), 1)
    btc_pue = np.round(rng.uniform(1.03, 1.10, n), 3)
    btc_uptime = np.round(rng.uniform(0.95, 0.98, n), 3)
    btc_opex = np.round(rng.uniform(40e3, 60e3, n), -3).astype(np.int64)
    btc_fill = rng.uniform(0.5, 0.95, n)
    exp_share = rng.uniform(0.05, 0.3, n)
    asic_usd_per_th = rng.uniform(7.0, 19.0, n)
    build_usd_per_mw = rng.uniform(0.2e6, 0.35e6, n)
    ai_pue = np.round(rng.uniform(1.18, 1.40, n), 3)
    ai_share = rng.uniform(0.4, 0.9, n)
    block = rng.choice(BLOCK_SIZES_IT_MW, n)
    retrofit = rng.random(n) < 0.1
    ai_capex = np.where(retrofit, rng.uniform(3.6e6, 5.0e6, n), rng.uniform(8e6, 11e6, n))
    ai_capex = np.round(ai_capex, -4).astype(np.int64)
    fixed_capex = np.round(rng.uniform(20e6, 80e6, n), -5).astype(np.int64)
    lead = rng.choice(LEAD_TIMES, n, p=LEAD_TIME_WEIGHTS)
    ai_opex = np.round(rng.uniform(100e3, 130e3, n), -3).astype(np.int64)
    existing_halls = rng.uniform(0.0, 1.0, n)

    out: list[dict[str, Any]] = []
    ai_index: list[int] = []
    hosts: list[int] = []
    for i, sid in enumerate(ids):
        cap = float(capacity[i])
        site: dict[str, Any] = {"id": sid, "capacity_mw": cap}
        ai_gross = 0.0
        ai: dict[str, Any] | None = None
        if has_ai[i]:
            pue = float(ai_pue[i])
            max_it = _floor(cap * float(ai_share[i]) / pue, 1)
            blk = float(min(block[i], max(1.0, _floor(max_it / 2, 1))))
            ai = {"max_it_mw": max_it}
            if has_existing[i]:
                most = max(1, math.floor(max_it / blk + 1e-9))
                halls = 1 + math.floor(float(existing_halls[i]) * most * 0.5)
                existing = min(blk * halls, max_it)
                ai["existing_it_mw"] = existing
                ai_gross = existing * pue
                hosts.append(i)
            ai["block_it_mw"] = blk
            ai["capex_usd_per_it_mw"] = int(ai_capex[i])
            if not has_existing[i]:
                ai["fixed_capex_usd"] = int(fixed_capex[i])
            ai["lead_time_periods"] = int(lead[i])
            ai["pue"] = pue
            ai["opex_usd_per_it_mw_year"] = int(ai_opex[i])
            ai_index.append(i)
        if has_grid[i]:
            grid_cap = _r(cap * float(grid_share[i]), 1)
            if has_existing[i]:
                grid_cap = cap  # existing halls (and a committed tenant) always get power
            site["grid"] = {
                "capacity_mw": grid_cap,
                "price_usd_per_mwh": _price_series(rng, float(grid_price[i]), periods,
                                                   bool(grid_list[i])),
            }
        if has_btc[i]:
            pue = float(btc_pue[i])
            fleet = _floor(max(cap - ai_gross, 0.0) * float(btc_fill[i]) / pue, 1)
            eff = float(btc_eff[i])
            btc: dict[str, Any] = {
                "fleet_mw": fleet,
                "efficiency_j_per_th": eff,
                "pue": pue,
                "uptime": float(btc_uptime[i]),
                "opex_usd_per_mw_year": int(btc_opex[i]),
            }
            if has_exp[i]:
                # 1 MW at e J/TH is 1e6/e TH/s of machines, plus shell and power.
                per_mw = float(asic_usd_per_th[i]) * 1e6 / eff + float(build_usd_per_mw[i])
                btc["expansion"] = {
                    "max_mw": _r(max(fleet, 10.0) * float(exp_share[i]), 1),
                    "capex_usd_per_mw": int(round(per_mw, -4)),
                }
            site["btc"] = btc
        if ai is not None:
            site["ai"] = ai
        out.append(site)
    return out, ai_index, hosts


def _sources(rng: np.random.Generator, count: int, periods: int) -> list[dict[str, Any]]:
    width = len(str(count))
    base_cap = rng.uniform(100.0, 400.0, count)
    price = rng.uniform(21.0, 50.0, count)
    cap_list = rng.random(count) < 0.5
    price_list = rng.random(count) < 0.5
    cap_list[0], price_list[0] = True, False
    if count > 1:
        cap_list[1], price_list[1] = False, True
    out = []
    for k in range(count):
        cap: float | list[float]
        if cap_list[k]:
            # a wind-like profile: yearly capacity factor varies around the mean
            cap = [_r(v, 1) for v in base_cap[k] * rng.uniform(0.85, 1.15, periods)]
        else:
            cap = _r(base_cap[k], 1)
        out.append({
            "id": f"src-{k + 1:0{width}d}",
            "capacity_mw": cap,
            "price_usd_per_mwh": _price_series(rng, float(price[k]), periods,
                                               bool(price_list[k])),
        })
    return out


def _links(rng: np.random.Generator, sites: list[dict[str, Any]],
           sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    n, m = len(sites), len(sources)
    links: list[dict[str, Any]] = []
    pairs: set[frozenset[str]] = set()

    def power(a: str, b: str, cap: float, loss: float, directed: bool) -> None:
        if frozenset((a, b)) in pairs:
            return
        pairs.add(frozenset((a, b)))
        link: dict[str, Any] = {"id": f"power-{len(links) + 1}", "from": a, "to": b,
                                "kind": "power", "capacity_mw": _r(cap, 1)}
        if loss > 0:
            link["loss"] = _r(loss, 3)
        if directed:
            link["directed"] = True
        elif rng.random() < 0.5:
            link["directed"] = False
        links.append(link)

    # every site without a grid is fed by a source; the first such link is directed, lossy
    no_grid = [i for i, s in enumerate(sites) if "grid" not in s]
    feeders = rng.integers(0, m, len(no_grid))
    losses = rng.uniform(0.01, 0.05, len(no_grid))
    directed = rng.random(len(no_grid)) < 0.6
    for j, i in enumerate(no_grid):
        cap = sites[i]["capacity_mw"] * rng.uniform(0.8, 1.2)
        power(sources[int(feeders[j])]["id"], sites[i]["id"], cap, float(losses[j]),
              bool(directed[j]) or j == 0)
    # every source also reaches one grid site (undirected: wheeling both ways);
    # the first source's link is lossless
    grid_sites = [i for i, s in enumerate(sites) if "grid" in s]
    if grid_sites:
        targets = rng.choice(grid_sites, m)
        for k in range(m):
            loss = 0.0 if k == 0 else float(rng.uniform(0.0, 0.05))
            power(sources[k]["id"], sites[int(targets[k])]["id"], rng.uniform(50.0, 200.0),
                  loss, False)
    # a few site-to-site lines
    if n >= 2:
        for _ in range(max(1, n // 10)):
            a, b = rng.choice(n, 2, replace=False)
            power(sites[int(a)]["id"], sites[int(b)]["id"], rng.uniform(20.0, 150.0),
                  float(rng.uniform(0.0, 0.03)), False)

    # fiber: a random tree over the sites, plus the first source (default ids)
    if n >= 2:
        parents = (rng.random(n - 1) * np.arange(1, n)).astype(int)
        latency = np.round(rng.uniform(0.5, 6.0, n - 1), 1)
        for child in range(1, n):
            links.append({"from": sites[int(parents[child - 1])]["id"],
                          "to": sites[child]["id"], "kind": "fiber",
                          "latency_ms": float(latency[child - 1])})
    links.append({"from": sources[0]["id"], "to": sites[0]["id"], "kind": "fiber",
                  "latency_ms": _r(rng.uniform(0.5, 3.0), 1)})
    return links


def _contracts(rng: np.random.Generator, count: int, sites: list[dict[str, Any]],
               ai_index: list[int], hosts: list[int],
               periods: int) -> tuple[list[dict[str, Any]], int]:
    if count == 0:
        return [], 0
    n_committed = 2 if count >= 4 and len(hosts) >= 2 else 1
    width = len(str(count))
    tenants = [f"tenant-{k + 1}" for k in range(max(2, count // 3 + 1))]
    out: list[dict[str, Any]] = []

    # committed: equal fixed size, distinct tenants, each fits its host's existing halls
    host_ids = hosts[:n_committed]
    room = min(sites[i]["ai"]["existing_it_mw"] for i in host_ids)
    size = max(0.1, _floor(room * rng.uniform(0.4, 1.0), 1))
    for j, i in enumerate(host_ids):
        others = [k for k in ai_index if k != i]
        extra = list(rng.choice(others, min(len(others), int(rng.integers(0, 3))),
                                replace=False)) if others else []
        out.append({
            "id": f"contract-{len(out) + 1:0{width}d}",
            "tenant": tenants[j],
            "it_mw": {"min": size, "max": size},
            "rate_usd_per_kw_month": _r(rng.uniform(102.0, 188.0), 1),
            "escalator": _r(rng.uniform(0.0, 0.03), 3),
            "start_period": int(rng.integers(1, periods + 1)),
            "term_periods": int(rng.integers(10, 16)),
            "eligible": {"sites": [sites[i]["id"]] + [sites[int(k)]["id"] for k in extra]},
            "max_sites": int(rng.integers(1, 4)),
            "committed": True,
        })

    ai_ids = [sites[i]["id"] for i in ai_index]
    for j in range(count - n_committed):
        hi = _r(rng.uniform(20.0, 300.0), 1)
        lo = 0.0 if rng.random() < 0.1 else _r(hi * rng.uniform(0.2, 0.8), 1)
        c: dict[str, Any] = {
            "id": f"contract-{len(out) + 1:0{width}d}",
            "tenant": tenants[int(rng.integers(0, len(tenants)))],
            "it_mw": {"min": lo, "max": hi},
            "rate_usd_per_kw_month": _r(rng.uniform(102.0, 188.0), 1),
        }
        if rng.random() < 0.8:
            c["escalator"] = _r(rng.uniform(0.0, 0.03), 3)
        # offers start in the first half of the horizon: later ones could never repay a hall
        c["start_period"] = 1 + int(rng.integers(0, max(1, periods // 2)))
        c["term_periods"] = int(rng.integers(10, 16))
        # the first offers use near, an explicit list and the default; then at random
        kind = j if j < 3 else int(rng.integers(0, 3))
        if kind == 2 and j >= 3 and len(ai_ids) > DEFAULT_ELIGIBILITY_MAX_AI_SITES:
            # Past a few dozen AI sites a real offer names its sites or region: offers
            # open to every AI site would make the model grow with sites x contracts.
            kind = 1
        if kind == 0:
            ref = sites[int(rng.choice(ai_index))]["id"] if j == 0 else \
                sites[int(rng.integers(0, len(sites)))]["id"]
            c["eligible"] = {"near": {"site": ref,
                                      "max_latency_ms": _r(rng.uniform(2.0, 12.0), 1)}}
        elif kind == 1:
            k = int(rng.integers(1, min(4, len(ai_ids)) + 1))
            c["eligible"] = {"sites": [str(s) for s in rng.choice(ai_ids, k, replace=False)]}
        c["max_sites"] = int(rng.integers(1, 4))
        out.append(c)
    return out, n_committed


def _limits(rng: np.random.Generator, sites: list[dict[str, Any]],
            contracts: list[dict[str, Any]], n_committed: int,
            periods: int) -> dict[str, Any]:
    # Budgets are a share of what building every hall would cost; committed contracts
    # are served from existing halls, so no budget can make them infeasible.
    full_build = sum(
        ai["capex_usd_per_it_mw"] * (ai["max_it_mw"] - ai.get("existing_it_mw", 0.0))
        + ai.get("fixed_capex_usd", 0.0)
        for ai in (s["ai"] for s in sites if "ai" in s)
    )
    total = int(round(max(full_build, 1e8) * rng.uniform(0.2, 0.6), -6))
    per_period = [int(round(total / max(periods, 2) * v, -6))
                  for v in rng.uniform(1.0, 2.5, periods)]
    limits: dict[str, Any] = {
        "capex_budget_usd": total,
        "capex_budget_usd_per_period": per_period,
    }
    if contracts and n_committed != 1:
        low = 0.55 if n_committed == 2 else 0.4
        limits["max_tenant_share"] = _r(rng.uniform(low, 0.9), 2)
    limits["max_contracts"] = n_committed + int(rng.integers(0, len(contracts) - n_committed + 1))
    return limits

