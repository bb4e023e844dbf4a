"""Regenerates the numbers of docs/instances.md, "What the plan does with the deals the
companies signed": the realistic portfolio read step by step from v1 to deals as signed
(spec v2 part A) and financed (part D), and, for every public deal it echoes, whether the
optimal plan signs it and the lease rate at which that would change.

    python docs/scripts/deals.py            # ~3-6 minutes on 2 cores

Each breakeven is a bisection on one ScenarioEngine (a parameter update and a re-solve per
value, exact profile) to 0.5 USD/kW-month (rates) or 0.05 points (interest).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import portfolio_opt as po
from portfolio_opt.scenario import ScenarioEngine

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {  # contract id -> the public deal it echoes (calibration.md, public deals)
    "rockdale-anchor": "Riot / AMD, Rockdale (signed)",
    "hyperscaler-dfw": "Hut 8, Beacon Point (operator-funded)",
    "hyperscaler-dfw-tenant-funded": "Core Scientific / CoreWeave (tenant-funded)",
    "neocloud-permian": "Cipher / Fluidstack, Barber Lake",
    "neocloud-lake-mariner": "TeraWulf / Fluidstack, Lake Mariner",
    "neocloud-abernathy": "TeraWulf JV / Fluidstack, Abernathy",
    "gpu-cloud-ellendale": "Applied Digital / CoreWeave, Ellendale",
    "gpu-cloud-helios": "Galaxy / CoreWeave, Helios",
    "ai-lab-river-bend": "Hut 8 / Fluidstack, River Bend",
    "hyperscaler-anywhere": "Cipher / AWS",
}


def shipped() -> dict[str, Any]:
    inst = po.load_instance(ROOT / "instances" / "us_portfolio.yaml")
    return inst.model_dump(by_alias=True, exclude_none=True)


def strip(d: dict[str, Any], *, recovery: bool = True, tail: bool = True,
          alternative: bool = True, fixed: bool = True, debt: bool = True) -> dict[str, Any]:
    """The shipped instance without the v2 features switched off here."""
    d = copy.deepcopy(d)
    if not debt:
        d.pop("finance", None)
    if not tail:
        d["horizon"]["terminal_value"] = "none"
        d["horizon"].pop("tail_energy_price_usd_per_mwh", None)
    cs = []
    for c in d["contracts"]:
        if not alternative and c.get("tenant_capex_usd_per_it_mw", 0) > 0:
            continue
        if not alternative:
            c.pop("group", None)
        if not recovery:
            c["energy_recovery_usd_per_mwh"] = 0.0
        if not fixed:
            c["allocation"] = "flexible"
        cs.append(c)
    d["contracts"] = cs
    return d


def describe(res: Any) -> tuple[float, float, str]:
    sp = res.site_periods
    last = sp[sp["period"] == sp["period"].max()]
    served = float(last["ai_served_it_mw"].sum())
    built = sp.groupby("site")["halls_started"].sum()
    new_it = 0.0
    inst_sites = {s["id"]: s for s in DOC["sites"]}
    for site, n in built.items():
        if n:
            new_it += n * inst_sites[site]["ai"]["block_it_mw"]
    acc = res.contracts[res.contracts["accepted"]]
    words = ", ".join(f"{r.contract} {r.it_mw:.0f}" for r in acc.itertuples())
    return new_it, served, words


def accepted(engine: ScenarioEngine, inst: po.Instance, cid: str) -> bool:
    res = engine.solve(inst)
    row = res.contracts.set_index("contract").loc[cid]
    return bool(row["accepted"])


def rate_breakeven(base: dict[str, Any], cid: str, lo: float, hi: float) -> float | None:
    """The lowest rate (USD/kW-month) in [lo, hi] at which the plan signs ``cid``."""
    from portfolio_opt.validate import validate_data

    inst = validate_data(base)
    engine = ScenarioEngine(inst, profile="exact")
    index = [c.id for c in inst.contracts].index(cid)

    def at(x: float) -> bool:
        variant = inst.model_copy(deep=True)
        variant.contracts[index].rate_usd_per_kw_month = x
        return accepted(engine, variant, cid)

    if not at(hi):
        return None
    while hi - lo > 0.5:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if at(mid) else (mid, hi)
    return hi


def interest_breakeven(base: dict[str, Any], cid: str, lo: float, hi: float
                       ) -> float | None:
    """The interest rate in [lo, hi] above which the plan no longer signs ``cid``."""
    from portfolio_opt.validate import validate_data

    inst = validate_data(base)
    engine = ScenarioEngine(inst, profile="exact")

    def at(x: float) -> bool:
        variant = inst.model_copy(deep=True)
        assert variant.finance is not None
        variant.finance.debt.interest_rate = x
        return accepted(engine, variant, cid)

    if at(hi):
        return None
    while hi - lo > 0.0005:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at(mid) else (lo, mid)
    return lo


DOC = shipped()


def main() -> None:
    steps = [
        ("v1 reading (no v2 field)", strip(DOC, recovery=False, tail=False, alternative=False,
                                          fixed=False, debt=False)),
        ("+ power passed through", strip(DOC, tail=False, alternative=False, fixed=False,
                                         debt=False)),
        ("+ full terms (contract_tail)", strip(DOC, alternative=False, fixed=False,
                                               debt=False)),
        ("+ tenant-funded alternative (group)", strip(DOC, fixed=False, debt=False)),
        ("+ fixed allocations = part A as shipped, no debt", strip(DOC, debt=False)),
        ("+ project debt = as shipped", DOC),
    ]
    print("| instance | NPV, MUSD | new IT MW built | IT MW served in 2037 | contracts (IT MW) |")
    print("|---|---|---|---|---|")
    results = {}
    for label, d in steps:
        res = po.solve(d)
        results[label] = res
        new_it, served, words = describe(res)
        print(f"| {label} | {res.objective_npv_usd / 1e6:,.1f} | {new_it:,.0f} | "
              f"{served:,.0f} | {words} |", flush=True)
    for label, d in (("no debt", strip(DOC, debt=False)), ("with debt", DOC)):
        res = po.solve(d)
        acc = set(res.contracts.loc[res.contracts["accepted"], "contract"])
        print(f"\n### {label}\n")
        print("| contract | public deal | rate | signed? | rate at which it is signed |")
        print("|---|---|---|---|---|")
        for c in d["contracts"]:
            cid = c["id"]
            rate = c["rate_usd_per_kw_month"]
            if cid in acc:
                be = "signed"
            else:
                found = rate_breakeven(d, cid, rate, 400.0)
                be = f"{found:.1f}" if found is not None else "not even at 400"
            print(f"| {cid} | {PUBLIC.get(cid, '')} | {rate:g} | "
                  f"{'yes' if cid in acc else 'no'} | {be} |", flush=True)
    # The deals that only debt lets the plan sign, and the rate at which each drops out.
    def signed(label: str) -> set[str]:
        c = results[label].contracts
        return set(c.loc[c["accepted"], "contract"])

    enabled = signed("+ project debt = as shipped") - signed(
        "+ fixed allocations = part A as shipped, no debt")
    for cid in sorted(enabled):
        rate = interest_breakeven(DOC, cid, 0.075, 0.40)
        print(f"\nsigned only with debt: {cid}; signed up to an interest rate of "
              f"{'above 40 %' if rate is None else f'{rate:.2%}'}")


if __name__ == "__main__":
    sys.exit(main())
