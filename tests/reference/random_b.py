"""Small random instances for cross-checking the product against the reference.

:func:`small_instance_b` draws an instance that uses spec v2 part B (uncertainty) on top of
the small v1 + A + C + D shapes of tests/test_reference_agreement.py. Those shapes are
copied here as :func:`small_instance`, :func:`small_instance_v2` and
:func:`small_instance_c`, so that this module imports nothing from the product (nor from a
test module that does); a seed draws the same base instance as the test module's
``_small_instance*`` of that seed.

Every instance is a plain dict meant to validate; committed contracts may make it
infeasible (then in every scenario).
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["small_instance", "small_instance_b", "small_instance_c", "small_instance_v2"]


def small_instance(seed: int) -> dict[str, Any]:
    """A small random instance that validates; committed contracts may make it infeasible."""
    rng = random.Random(seed)
    T = rng.randint(2, 4)

    def money(lo: float, hi: float) -> float:
        return round(rng.uniform(lo, hi), -3)

    def series(lo: float, hi: float) -> float | list[float]:
        if rng.random() < 0.5:
            return round(rng.uniform(lo, hi), 1)
        return [round(rng.uniform(lo, hi), 1) for _ in range(T)]

    sites: list[dict[str, Any]] = []
    for i in range(rng.randint(2, 4)):
        site: dict[str, Any] = {"id": f"s{i + 1}", "capacity_mw": round(rng.uniform(10, 80), 1)}
        if rng.random() < 0.7:
            site["grid"] = {"capacity_mw": round(rng.uniform(5, 80), 1),
                            "price_usd_per_mwh": series(20, 70)}
        if rng.random() < 0.6:
            site["btc"] = {"fleet_mw": round(rng.uniform(0, 40), 1),
                           "efficiency_j_per_th": round(rng.uniform(15, 30), 1),
                           "pue": round(rng.uniform(1.0, 1.2), 2),
                           "uptime": round(rng.uniform(0.85, 1.0), 2),
                           "opex_usd_per_mw_year": money(0, 60_000)}
            if rng.random() < 0.5:
                site["btc"]["expansion"] = {"max_mw": round(rng.uniform(0, 20), 1),
                                            "capex_usd_per_mw": money(300_000, 1_500_000)}
        if rng.random() < 0.75:
            block = rng.choice([2.5, 5.0, 10.0])
            pue = round(rng.uniform(1.1, 1.4), 2)
            existing = rng.choice([0.0, 0.0, block])
            site["ai"] = {"max_it_mw": existing + block * rng.randint(0, 3)
                          + rng.choice([0.0, 0.3 * block]),
                          "existing_it_mw": existing, "block_it_mw": block,
                          "capex_usd_per_it_mw": money(500_000, 8_000_000),
                          "fixed_capex_usd": rng.choice([0.0, money(1e6, 15e6)]),
                          "lead_time_periods": rng.randint(0, 2), "pue": pue,
                          "opex_usd_per_it_mw_year": money(0, 150_000)}
            site["capacity_mw"] = max(site["capacity_mw"], round(existing * pue + 1, 1))
        sites.append(site)
    sources = [{"id": f"g{j + 1}", "capacity_mw": series(0, 60),
                "price_usd_per_mwh": series(10, 50)} for j in range(rng.randint(0, 2))]
    nodes = [s["id"] for s in sites] + [g["id"] for g in sources]
    links: list[dict[str, Any]] = []
    for k in range(rng.randint(0, 4)):
        a, b = rng.sample(nodes, 2)
        link: dict[str, Any] = {"id": f"p{k + 1}", "from": a, "to": b, "kind": "power",
                                "capacity_mw": round(rng.uniform(0, 50), 1)}
        if rng.random() < 0.6:
            link["loss"] = round(rng.uniform(0, 0.15), 3)
        if rng.random() < 0.5:
            link["directed"] = rng.random() < 0.5
        links.append(link)
    for k in range(rng.randint(0, 4)):
        a, b = rng.sample(nodes, 2)
        links.append({"id": f"f{k + 1}", "from": a, "to": b, "kind": "fiber",
                      "latency_ms": round(rng.uniform(0.1, 4), 1)})
    ai_sites = [s["id"] for s in sites if "ai" in s]
    contracts: list[dict[str, Any]] = []
    for k in range(rng.randint(1, 4)):
        hi = round(rng.uniform(1, 25), 1)
        contract: dict[str, Any] = {
            "id": f"c{k + 1}", "tenant": rng.choice(["t1", "t2", "t3"]),
            "it_mw": {"min": round(hi * rng.choice([0, 0.5, 1]), 2), "max": hi},
            "rate_usd_per_kw_month": round(rng.uniform(60, 220), 1),
            "escalator": rng.choice([0.0, 0.03]),
            "start_period": rng.randint(1, T), "term_periods": rng.randint(1, T + 1),
            "max_sites": rng.randint(1, 3), "committed": rng.random() < 0.2,
        }
        pick = rng.random()
        if pick < 0.35 and ai_sites:
            contract["eligible"] = {"sites": rng.sample(ai_sites, rng.randint(1, len(ai_sites)))}
        elif pick < 0.7:
            contract["eligible"] = {"near": {"site": rng.choice([s["id"] for s in sites]),
                                             "max_latency_ms": round(rng.uniform(0, 6), 1)}}
        contracts.append(contract)
    limits: dict[str, Any] = {}
    if rng.random() < 0.4:
        limits["capex_budget_usd"] = money(5e6, 150e6)
    if rng.random() < 0.4:
        limits["capex_budget_usd_per_period"] = (
            money(5e6, 60e6) if rng.random() < 0.5 else [money(0, 60e6) for _ in range(T)])
    if rng.random() < 0.3:
        limits["max_tenant_share"] = round(rng.uniform(0.3, 1.0), 2)
    if rng.random() < 0.3:
        limits["max_contracts"] = rng.randint(0, 3)
    return {
        "name": f"small-{seed}",
        "horizon": {"periods": T, "years_per_period": rng.choice([0.5, 1, 2]),
                    "discount_rate": rng.choice([0.0, 0.05, 0.1])},
        "market": {"hashprice_usd_per_ph_day": series(20, 60)},
        "sites": sites, "sources": sources, "links": links, "contracts": contracts,
        "limits": limits,
    }


def small_instance_v2(seed: int) -> dict[str, Any]:
    """A small random v1 instance with every field of v2 parts A and D drawn on top.

    Every instance has a contract tail (or terminal_value written out as none) and debt
    with all four fields; every contract has an energy-recovery tariff (a number or a
    series), a tenant contribution with its period, a group (or none) and an allocation.
    Terms run up to three periods past the horizon so that tails matter; committed
    contracts never share a group (that is an input error).
    """
    data = small_instance(seed)
    rng = random.Random(100_000 + seed)
    T = data["horizon"]["periods"]
    # Mostly a positive discount rate, so that cheap debt adds value; fewer committed
    # contracts and richer leases than v1's draw, so that halls (and loans) are built.
    r = data["horizon"]["discount_rate"] = rng.choice([0.0, 0.05, 0.1, 0.1])
    for site in data["sites"]:
        if "ai" in site and rng.random() < 0.5:
            site["ai"]["capex_usd_per_it_mw"] = round(site["ai"]["capex_usd_per_it_mw"] / 3, -3)
        if "ai" in site and "grid" not in site and rng.random() < 0.7:
            site["grid"] = {"capacity_mw": site["capacity_mw"],
                            "price_usd_per_mwh": round(rng.uniform(20, 60), 1)}
    if rng.random() < 0.5:
        data["limits"]["capex_budget_usd_per_period"] = round(rng.uniform(2e6, 30e6), -3)
    # A build-out that usually pays: a site without halls and a lease that wants it.
    block = rng.choice([2.5, 5.0])
    data["sites"].append({
        "id": "hub", "capacity_mw": 40.0,
        "grid": {"capacity_mw": 40.0, "price_usd_per_mwh": round(rng.uniform(20, 60), 1)},
        "ai": {"max_it_mw": block * rng.randint(1, 3), "block_it_mw": block,
               "capex_usd_per_it_mw": round(rng.uniform(1e6, 4e6), -3),
               "fixed_capex_usd": rng.choice([0.0, 2e6]),
               "lead_time_periods": rng.randint(0, 1), "pue": 1.2}})
    data["contracts"].append({
        "id": "build", "tenant": "t4", "it_mw": {"min": 0.0, "max": block * 2},
        "rate_usd_per_kw_month": round(rng.uniform(150, 300), 1),
        "start_period": rng.randint(1, min(2, T)), "term_periods": T,
        "eligible": {"sites": ["hub"]}})

    def series(lo: float, hi: float) -> float | list[float]:
        if rng.random() < 0.5:
            return round(rng.uniform(lo, hi), 1)
        return [round(rng.uniform(lo, hi), 1) for _ in range(T)]

    if rng.random() < 0.8:
        data["horizon"]["terminal_value"] = "contract_tail"
        data["horizon"]["tail_energy_price_usd_per_mwh"] = round(rng.uniform(10, 90), 1)
    else:
        data["horizon"]["terminal_value"] = "none"
    committed_groups: set[str] = set()
    for c in data["contracts"]:
        c["committed"] = c.get("committed", False) and rng.random() < 0.4
        c["rate_usd_per_kw_month"] = round(c["rate_usd_per_kw_month"] * 1.5, 1)
        c["term_periods"] = rng.randint(1, T + 3)
        c["energy_recovery_usd_per_mwh"] = rng.choice([0.0, series(0, 80)])
        c["tenant_capex_usd_per_it_mw"] = rng.choice([0.0, round(rng.uniform(1e5, 4e6), -3)])
        c["tenant_capex_period"] = rng.randint(1, T)
        group = rng.choice([None, "g1", "g2"])
        if group is not None and c["committed"]:
            group = None if group in committed_groups else group
            if group is not None:
                committed_groups.add(group)
        c["group"] = group
        c["allocation"] = rng.choice(["flexible", "fixed"])
    debt: dict[str, Any] = {
        "max_loan_to_cost": round(rng.uniform(0, 0.9), 2),
        "interest_rate": rng.choice([0.0, max(r - 0.03, 0.0), r, r + 0.04]),
        "tenor_years": rng.randint(1, 8),
    }
    if rng.random() < 0.5:
        debt["max_total_usd"] = round(rng.uniform(1e6, 40e6), -3)
    data["finance"] = {"debt": debt}
    data["name"] = f"small-v2-{seed}"
    return data


def small_instance_c(seed: int) -> dict[str, Any]:
    """A small random v2 instance (v1 with every part A and D field) with part C on top.

    Mostly 2 or 3 price blocks (shares in twentieths), each grid and source price either a
    plain series or a mapping whose blocks hold a number or a per-period list; demand
    response on most mining sites (also without blocks); a miner whose own grid is priced
    by block, sometimes linked to the hub of the v2 draw.
    """
    data = small_instance_v2(seed)
    rng = random.Random(200_000 + seed)
    T = data["horizon"]["periods"]
    blocks: list[dict[str, Any]] = []
    if rng.random() < 0.8:
        n = rng.choice([2, 3])
        cuts = sorted(rng.sample(range(1, 20), n - 1))
        twentieths = [b - a for a, b in zip([0, *cuts], [*cuts, 20], strict=True)]
        names = rng.sample(["peak", "shoulder", "off", "night", "B-2"], n)
        blocks = [{"id": name, "hours_share": k / 20}
                  for name, k in zip(names, twentieths, strict=True)]
        data["market"]["blocks"] = blocks

    def block_price(plain: float | list[float]) -> Any:
        if not blocks or rng.random() < 0.35:
            return plain
        per = plain if isinstance(plain, list) else [plain] * T
        mapping: dict[str, Any] = {}
        for block in blocks:
            factor = rng.choice([0.4, 0.7, 1.0, 1.5, 2.5, 4.0])
            if rng.random() < 0.5:
                mapping[block["id"]] = round(sum(per) / T * factor, 1)
            else:
                mapping[block["id"]] = [round(p * factor * rng.uniform(0.7, 1.3), 1)
                                        for p in per]
        return mapping

    def demand_response() -> dict[str, float]:
        return {"credit_usd_per_mw_year": round(rng.uniform(0, 200_000), -3),
                "max_mw": round(rng.uniform(0, 30), 1)}

    capacity = round(rng.uniform(10, 40), 1)
    miner: dict[str, Any] = {
        "id": "miner", "capacity_mw": capacity,
        "grid": {"capacity_mw": round(capacity * rng.uniform(0.5, 1.2), 1),
                 "price_usd_per_mwh": round(rng.uniform(25, 75), 1)},
        "btc": {"fleet_mw": round(rng.uniform(5, 30), 1),
                "efficiency_j_per_th": round(rng.uniform(15, 30), 1),
                "pue": round(rng.uniform(1.0, 1.3), 2),
                "uptime": round(rng.uniform(0.85, 1.0), 2),
                "opex_usd_per_mw_year": round(rng.uniform(0, 50_000), -3)}}
    if rng.random() < 0.4:
        miner["btc"]["expansion"] = {"max_mw": round(rng.uniform(0, 15), 1),
                                     "capex_usd_per_mw": round(rng.uniform(2e5, 1e6), -3)}
    data["sites"].append(miner)
    if rng.random() < 0.5:
        data["links"].append({"id": "miner-hub", "from": "miner", "to": "hub",
                              "kind": "power", "capacity_mw": round(rng.uniform(5, 30), 1),
                              "loss": round(rng.uniform(0, 0.1), 3)})
    for site in data["sites"]:
        if site.get("grid"):
            site["grid"]["price_usd_per_mwh"] = block_price(site["grid"]["price_usd_per_mwh"])
        if site.get("btc") and rng.random() < (0.9 if site["id"] == "miner" else 0.7):
            site["btc"]["demand_response"] = demand_response()
    for src in data["sources"]:
        src["price_usd_per_mwh"] = block_price(src["price_usd_per_mwh"])
    data["name"] = f"small-c-{seed}"
    return data


# Scenario ids: varied, never numbers (ids are strings), one with a space.
_IDS = ["low", "mid", "high", "bear", "bull", "S-4", "case 7"]


def small_instance_b(seed: int) -> dict[str, Any]:
    """A small random instance with `uncertainty` (spec v2 B) on top of
    :func:`small_instance_c` (which uses every field of parts A, C and D).

    - 2 to 4 scenarios, probabilities in twentieths (at least 1/20 each);
    - structure two_stage, multi_stage, or left out (the default, two_stage);
    - each scenario's hashprice: the base draw's series scaled up or down, a number when it
      is constant (sometimes) or a list;
    - energy_price_scale on some scenarios, a number or a list, left out (= 1) on others;
    - multi_stage: the scenarios form a tree: all share period-1 data (hashprice and scale),
      each further scenario copies the data of an earlier one up to a branch period in
      2..T (or all of it: a scenario identical to another) and draws the rest;
    - risk left out, or partly (defaults), or a cvar_weight in [0, 1] (0 and 1 included)
      and a cvar_alpha in [0, 0.95] (0 and 0.95 included);
    - `market` then holds only the blocks, or is left out, or is empty.
    """
    data = small_instance_c(seed)
    rng = random.Random(300_000 + seed)
    T = data["horizon"]["periods"]
    hashprice = data["market"].pop("hashprice_usd_per_ph_day")
    base = hashprice if isinstance(hashprice, list) else [hashprice] * T
    if not data["market"]:
        pick = rng.random()
        if pick < 0.4:
            del data["market"]
        elif pick < 0.7:
            data["market"] = None if rng.random() < 0.3 else {}
    structure = rng.choice(["two_stage", "multi_stage", None])
    n = rng.randint(2, 4)
    ids = rng.sample(_IDS, n)
    cuts = sorted(rng.sample(range(1, 20), n - 1))
    probabilities = [(b - a) / 20 for a, b in zip([0, *cuts], [*cuts, 20], strict=True)]

    def hashprice_at(t: int, level: float) -> float:
        return round(base[t] * level * rng.uniform(0.8, 1.25), 1)

    def scale_value() -> float:
        return rng.choice([0.5, 0.8, 1.0, 1.25, 2.0])

    paths: list[tuple[list[float], list[float]]] = []  # (hashprice, scale) by period
    if structure == "multi_stage":
        # "All scenarios must share period-1 data": one root value for period 1.
        root = (round(base[0], 1), rng.choice([1.0, 1.0, scale_value()]))
        for i in range(n):
            level = rng.choice([0.3, 0.6, 1.0, 1.6, 2.5])
            hp = [root[0]] + [hashprice_at(t, level) for t in range(1, T)]
            scale = [root[1]] + [scale_value() if rng.random() < 0.5 else root[1]
                                 for _ in range(1, T)]
            if i > 0:  # copy an earlier scenario's data up to a branch period
                parent_hp, parent_scale = rng.choice(paths)
                branch = rng.randint(2, T + 1)  # T + 1: the same data throughout
                hp = parent_hp[:branch - 1] + hp[branch - 1:]
                scale = parent_scale[:branch - 1] + scale[branch - 1:]
            paths.append((hp, scale))
    else:
        for _ in range(n):
            level = rng.choice([0.3, 0.6, 1.0, 1.6, 2.5])
            hp = [hashprice_at(t, level) for t in range(T)]
            if rng.random() < 0.3:
                hp = [hp[0]] * T
            constant = rng.random() < 0.5
            first = scale_value()
            scale = [first if constant else scale_value() for _ in range(T)]
            paths.append((hp, scale))

    def written(values: list[float]) -> float | list[float]:
        """A constant series is written as a number most of the time."""
        if all(v == values[0] for v in values) and rng.random() < 0.7:
            return values[0]
        return list(values)

    scenarios: list[dict[str, Any]] = []
    for sid, p, (hp, scale) in zip(ids, probabilities, paths, strict=True):
        scenario: dict[str, Any] = {"id": sid, "probability": p,
                                    "hashprice_usd_per_ph_day": written(hp)}
        if any(v != 1.0 for v in scale) or rng.random() < 0.3:
            scenario["energy_price_scale"] = written(scale)
        scenarios.append(scenario)
    uncertainty: dict[str, Any] = {"scenarios": scenarios}
    if structure is not None:
        uncertainty["structure"] = structure
    if rng.random() < 0.8:
        risk: dict[str, Any] = {}
        if rng.random() < 0.85:
            risk["cvar_alpha"] = rng.choice([0.0, 0.5, 0.95, round(rng.uniform(0, 0.95), 2)])
        if rng.random() < 0.85:
            risk["cvar_weight"] = rng.choice([0.0, 1.0, round(rng.uniform(0, 1), 2)])
        uncertainty["risk"] = risk
    data["uncertainty"] = uncertainty
    data["name"] = f"small-b-{seed}"
    return data
