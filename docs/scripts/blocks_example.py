"""Regenerates the numbers of docs/price_blocks.md, "Worked example: the realistic
portfolio with price blocks": the portfolio as shipped (one price per year), with the
Texas sites' prices split into the four blocks of the shipped synthetic West-Texas year
(same annual average), and with demand-response credits on top.

    python docs/scripts/blocks_example.py        # a minute or two on 2 cores

Block shares and each block's price relative to the year's mean come from
`portfolio-opt blocks instances/data/west_texas_synthetic_2026.csv --blocks 4`; every
ERCOT site's grid price series is multiplied by those relatives, so its share-weighted
average is unchanged and only the shape within the year is new. The shipped grid prices
are net of demand-response credits (instances/us_portfolio.yaml); to price DR explicitly
the DR variant adds the low end of the credits back to every block price of the Texas
sites, and to the pass-through tariffs of the leases priced at a Texas site's tariff
(7.6 USD/MWh, calibration.md: demand-response credits), and pays 7.6 * 8760 = 66,576 USD
per MW-year of gross load standing ready, up to each Texas site's gross mining load.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import portfolio_opt as po
from portfolio_opt.blocks import compute_blocks, read_prices

ROOT = Path(__file__).resolve().parents[2]
SERIES = ROOT / "instances" / "data" / "west_texas_synthetic_2026.csv"
DR_USD_PER_MWH = 7.6


def shipped() -> dict[str, Any]:
    inst = po.load_instance(ROOT / "instances" / "us_portfolio.yaml")
    return inst.model_dump(by_alias=True, exclude_none=True)


def relatives(k: int = 4) -> tuple[list[dict[str, Any]], dict[str, float]]:
    blocks = compute_blocks(read_prices(SERIES), k)
    node = next(iter(blocks.pooled))
    mean = blocks.mean[node]
    rel = {b: blocks.pooled[node][b] / mean for b in blocks.ids}
    shares = [{"id": b, "hours_share": s} for b, s in zip(blocks.ids, blocks.shares,
                                                          strict=True)]
    return shares, rel


def with_blocks(d: dict[str, Any], dr: bool) -> dict[str, Any]:
    d = copy.deepcopy(d)
    shares, rel = relatives()
    d["market"]["blocks"] = shares
    periods = d["horizon"]["periods"]
    texas_tariffs = []
    for site in d["sites"]:
        if not site["id"].startswith("tx-") or site.get("grid") is None:
            continue
        price = site["grid"]["price_usd_per_mwh"]
        series = price if isinstance(price, list) else [price] * periods
        texas_tariffs.append(series)
        extra = DR_USD_PER_MWH if dr else 0.0
        site["grid"]["price_usd_per_mwh"] = {b: [p * r + extra for p in series]
                                             for b, r in rel.items()}
        btc = site.get("btc")
        if dr and btc is not None:
            gross = btc["fleet_mw"] * btc.get("pue", 1.0)
            btc["demand_response"] = {"credit_usd_per_mw_year": DR_USD_PER_MWH * 8760,
                                      "max_mw": gross}
    if dr:  # leases passing a Texas site's power through pay the gross tariff too
        for c in d["contracts"]:
            if c.get("energy_recovery_usd_per_mwh") in texas_tariffs:
                c["energy_recovery_usd_per_mwh"] = [
                    p + DR_USD_PER_MWH for p in c["energy_recovery_usd_per_mwh"]]
    return d


def describe(res: Any) -> str:
    acc = res.contracts[res.contracts["accepted"]]
    return ", ".join(f"{r.contract} {r.it_mw:.0f}" for r in acc.itertuples())


def new_it(res: Any, d: dict[str, Any]) -> float:
    block = {s["id"]: s["ai"]["block_it_mw"] for s in d["sites"] if s.get("ai")}
    built = res.site_periods.groupby("site")["halls_started"].sum()
    return float(sum(n * block[s] for s, n in built.items() if n))


def main() -> None:
    base = shipped()
    shares, rel = relatives()
    print("blocks:", ", ".join(f"{s['id']} {s['hours_share']:.4f} x{rel[s['id']]:.3f}"
                               for s in shares))
    print("| instance | NPV, MUSD | BTC revenue, MUSD (undiscounted) | DR credit, MUSD | "
          "new IT MW | contracts (IT MW) |")
    print("|---|---|---|---|---|---|")
    for label, d in (("as shipped (one price a year)", base),
                     ("Texas prices in 4 blocks, same averages", with_blocks(base, False)),
                     ("+ demand response (prices gross of DR)", with_blocks(base, True))):
        res = po.solve(d, marginal_values=False)
        cf = res.cashflows
        print(f"| {label} | {res.objective_npv_usd / 1e6:,.1f} | "
              f"{cf['btc_revenue'].sum() / 1e6:,.0f} | {cf['dr_credit'].sum() / 1e6:,.1f} | "
              f"{new_it(res, d):,.0f} | {describe(res)} |", flush=True)
        if res.site_period_blocks is not None:
            spb = res.site_period_blocks
            hashing = spb.groupby("block")["btc_mw"].sum() / d["horizon"]["periods"]
            print("   mean hashing MW per period by block:",
                  ", ".join(f"{b} {v:,.0f}" for b, v in hashing.items()))


if __name__ == "__main__":
    main()
