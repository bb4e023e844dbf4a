"""The spec v2 draws of :func:`portfolio_opt.generate.generate_instance`: deal terms, debt,
price blocks and demand response, and the rounding and price-series helpers it shares with
the v1 draws.

With ``deals=True`` (the command line's default) the instance also uses spec v2 part A:
energy recovery at the host's power price, tenant-funded offers at lower rates, pairs of
alternative structures of one offer in a ``group``, fixed allocations and the contract
tail; with ``debt=True`` (default: as ``deals``) a ``finance.debt`` block (part D). These
are drawn from a second generator seeded by ``(seed, 2)`` after the v1 draws and only added
to the v1 instance (the second offer of each group is rewritten as the first's
tenant-funded alternative), so ``deals=False`` gives exactly the v1 instance of a seed and
``deals=True`` the same portfolio with its deal terms. Every addition keeps the instance
feasible: committed contracts stay out of groups, tenant capex and debt only loosen the
budgets, and a committed contract with a fixed allocation still fits its host's halls in
every period.

With ``blocks=K`` (the command line's default is 4) the instance also uses spec v2 part
C: K price blocks shaped like the shipped West-Texas year (docs/price_blocks.md: a
scarcity block of ~1.7 % of the hours at ~20x the mean price, then K - 1 equal bands of
the price-duration curve, dearest first), per-block prices on most grid sites and some
sources, and with ``demand_response=True`` (default: as ``blocks``) a demand-response
offer on about half the mining sites. Each priced site's block prices are its v1 price
times multipliers whose share-weighted mean is 1, so its share-weighted average price is
the v1 one. These come from a third generator seeded by ``(seed, 3)``, after the deal and
debt draws, so blocks leave both the v1 instance and the deal terms of a seed unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# --- rounding and price series (the v1 draws in generate.py use them too) ---------------


def _r(x: Any, digits: int) -> float:
    return float(round(float(x), digits))


def _floor(x: float, digits: int) -> float:
    scale = 10.0**digits
    return float(math.floor(x * scale + 1e-9) / scale)


def _price_series(rng: np.random.Generator, base: float, periods: int,
                  as_list: bool) -> float | list[float]:
    if not as_list:
        return _r(base, 2)
    growth = rng.uniform(0.0, 0.02)
    return [_r(base * (1 + growth) ** t, 2) for t in range(periods)]


# --- spec v2 draws ------------------------------------------------------------------


# Spec v2 A: a typical operator-funded build (calibration.md: 8-11 MUSD per IT MW) that a
# tenant contribution is a share of.
TYPICAL_AI_CAPEX = 9.5e6


def _deals(rng: np.random.Generator, data: dict[str, Any], periods: int) -> None:
    """Deal terms on the drawn contracts (spec v2 part A), in place."""
    sites = {s["id"]: s for s in data["sites"]}
    grid_sites = [s for s in data["sites"] if "grid" in s and "ai" in s]
    data["horizon"]["terminal_value"] = "contract_tail"
    data["horizon"]["tail_energy_price_usd_per_mwh"] = _r(rng.uniform(25.0, 55.0), 2)
    contracts = data["contracts"]
    open_ = [k for k, c in enumerate(contracts) if not c.get("committed")]
    # pairs of alternative structures: about one offer in four, at least one pair
    pairs: list[tuple[int, int]] = []
    for k in range(0, len(open_) - 1, 2):
        if not pairs or rng.random() < 0.5:
            pairs.append((open_[k], open_[k + 1]))
    grouped = {k for pair in pairs for k in pair}
    for n, (a, b) in enumerate(pairs, start=1):
        first = contracts[a]
        share = rng.uniform(0.3, 0.7)
        contribution = float(round(TYPICAL_AI_CAPEX * share, -4))
        # rent lowered by about the contribution spread over the term (x 0.8-1.2), so
        # that neither structure wins everywhere
        years = first["term_periods"]
        cut = contribution / (12_000.0 * years) * rng.uniform(0.8, 1.2)
        alt = {key: value for key, value in first.items() if key != "id"}
        alt = {"id": contracts[b]["id"], **alt}
        alt["rate_usd_per_kw_month"] = _r(max(60.0, first["rate_usd_per_kw_month"] - cut), 1)
        alt["tenant_capex_usd_per_it_mw"] = contribution
        if rng.random() < 0.5 and first["start_period"] > 1:
            alt["tenant_capex_period"] = first["start_period"] - 1  # paid before service
        first["group"] = alt["group"] = f"offer-{n}"
        contracts[b] = alt
    for k, c in enumerate(contracts):
        if k not in grouped and not c.get("committed") and rng.random() < 0.2:
            # tenant-funded on its own: a contribution and a rent near the ~121 USD/kW-month
            # of calibration.md's tenant-funded deal
            c["tenant_capex_usd_per_it_mw"] = float(round(
                TYPICAL_AI_CAPEX * rng.uniform(0.3, 0.7), -4))
            c["rate_usd_per_kw_month"] = _r(rng.uniform(95.0, 125.0), 1)
        if rng.random() < 0.6:
            c["energy_recovery_usd_per_mwh"] = _recovery(rng, c, sites, grid_sites, periods)
        if rng.random() < 0.3 or c.get("committed"):
            c["allocation"] = "fixed"
    for a, b in pairs:  # the two structures of an offer share power terms and allocation
        for key in ("energy_recovery_usd_per_mwh", "allocation"):
            if key in contracts[a]:
                contracts[b][key] = contracts[a][key]
            else:
                contracts[b].pop(key, None)


def _recovery(rng: np.random.Generator, contract: dict[str, Any],
              sites: dict[str, dict[str, Any]], grid_sites: list[dict[str, Any]],
              periods: int) -> float | list[float]:
    """An energy-recovery tariff: the power price of the offer's first named site when it
    has a grid (a full pass-through), else of a grid-fed AI site, else a drawn price."""
    named = (contract.get("eligible") or {}).get("sites") or []
    host = sites.get(named[0]) if named else None
    if host is None or "grid" not in host:
        host = grid_sites[int(rng.integers(0, len(grid_sites)))] if grid_sites else None
    if host is None:
        return _price_series(rng, float(rng.uniform(21.0, 55.0)), periods, False)
    price = host["grid"]["price_usd_per_mwh"]
    return list(price) if isinstance(price, list) else price


def _debt(rng: np.random.Generator, limits: dict[str, Any]) -> dict[str, Any]:
    """Lease-backed project debt (calibration.md: loan-to-cost 60-80 %, 7-8 % a year,
    5-10 years); a cap on the principal in half the instances."""
    debt: dict[str, Any] = {
        "max_loan_to_cost": _r(rng.uniform(0.6, 0.8), 2),
        "interest_rate": _r(rng.uniform(0.07, 0.08), 4),
        "tenor_years": int(rng.integers(5, 11)),
    }
    if rng.random() < 0.5:
        debt["max_total_usd"] = int(round(limits["capex_budget_usd"] * rng.uniform(0.5, 1.5),
                                          -6))
    return {"debt": debt}


# Spec v2 C, shaped like the shipped synthetic West-Texas year (docs/price_blocks.md, K = 4):
# scarcity 1.66 % of the hours at 962 / 46.2 = 20.8x the mean; bands 51.3, 25.2, 15.9
# USD/MWh, i.e. 1 : 0.49 : 0.31 from the dearest to the cheapest.
MIN_BLOCKS, MAX_BLOCKS = 2, 12
SCARCITY_SHARE = (0.012, 0.022)
SCARCITY_MULTIPLIER = (15.0, 25.0)
CHEAPEST_BAND_RATIO = (0.25, 0.4)  # cheapest band's price / dearest band's price
# calibration.md: demand-response credits 7.6-23 USD per MWh consumed (a yearly average),
# paid per MW standing ready: x 8,760 h gives USD per MW-year.
DR_CREDIT_USD_PER_MWH = (7.6, 23.0)


def _block_multipliers(rng: np.random.Generator, shares: list[float]) -> list[float]:
    """Price / mean price per block: scarcity first, then bands falling geometrically
    from the dearest, scaled so that the share-weighted mean is exactly 1."""
    k = len(shares) - 1  # bands
    scarcity = float(rng.uniform(*SCARCITY_MULTIPLIER))
    ratio = float(rng.uniform(*CHEAPEST_BAND_RATIO))
    raw = [ratio ** (j / max(k - 1, 1)) for j in range(k)]
    rest = 1.0 - shares[0] * scarcity  # > 0: shares[0] * scarcity <= 0.022 * 25 = 0.55
    level = rest / sum(h * r for h, r in zip(shares[1:], raw, strict=True))
    return [scarcity, *(level * r for r in raw)]


def _per_block(price: float | list[float], ids: list[str],
               mult: list[float]) -> dict[str, float | list[float]]:
    if isinstance(price, list):
        return {b: [p * m for p in price] for b, m in zip(ids, mult, strict=True)}
    return {b: price * m for b, m in zip(ids, mult, strict=True)}


def _blocks(rng: np.random.Generator, data: dict[str, Any], k: int) -> None:
    """market.blocks and per-block prices (spec v2 C), in place. About 70 % of the grid
    sites (at least one, and one left plain when there are two) and half the sources (at
    least the first) price by block; each with its own scarcity multiplier."""
    scarcity = _r(rng.uniform(*SCARCITY_SHARE), 4)
    ids = ["scarcity", *(f"band{j}" for j in range(1, k))]
    shares = [scarcity, *[(1.0 - scarcity) / (k - 1)] * (k - 1)]
    data["market"]["blocks"] = [{"id": b, "hours_share": h}
                                for b, h in zip(ids, shares, strict=True)]
    grids = [s["grid"] for s in data["sites"] if "grid" in s]
    mapped = rng.random(len(grids)) < 0.7
    if len(grids):
        mapped[0] = True
    if len(grids) >= 2:
        mapped[1] = False
    _price_by_block(rng, grids, mapped, ids, shares)
    sources = data["sources"]
    src_mapped = rng.random(len(sources)) < 0.5
    src_mapped[0] = True
    _price_by_block(rng, sources, src_mapped, ids, shares)


def _price_by_block(rng: np.random.Generator, holders: list[dict[str, Any]], mapped: Any,
                    ids: list[str], shares: list[float]) -> None:
    """Multipliers drawn for every holder (mapped or not, so the stream does not depend on
    which are), and the mapped ones' ``price_usd_per_mwh`` set per block, in place."""
    for holder, m in zip(holders, mapped, strict=True):
        mult = _block_multipliers(rng, shares)
        if m:
            holder["price_usd_per_mwh"] = _per_block(holder["price_usd_per_mwh"], ids, mult)


def _demand_response(rng: np.random.Generator, sites: list[dict[str, Any]]) -> None:
    """btc.demand_response on about half the mining sites (at least the first), in place:
    a credit of 7.6-23 USD/MWh x 8,760 h per MW-year, on up to the gross mining load."""
    mining = [s["btc"] for s in sites if "btc" in s]
    chosen = rng.random(len(mining)) < 0.5
    credit = rng.uniform(*DR_CREDIT_USD_PER_MWH, len(mining))
    ready = rng.uniform(0.3, 1.0, len(mining))
    if len(mining):
        chosen[0] = True
    for btc, on, c, f in zip(mining, chosen, credit, ready, strict=True):
        if on:
            btc["demand_response"] = {
                "credit_usd_per_mw_year": int(round(float(c) * 8760.0, -2)),
                "max_mw": _floor(btc["fleet_mw"] * btc["pue"] * float(f), 1),
            }

