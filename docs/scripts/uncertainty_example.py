"""Regenerates the numbers and pictures of docs/uncertainty.md, "Worked example: the
realistic portfolio under hashprice uncertainty".

    python docs/scripts/uncertainty_example.py     # a few minutes on 2 cores

Scenario sets come from `portfolio-opt scenarios` (docs/scenarios.md; gbm-halving, seed 7,
1,000 paths): ten two-stage scenarios by fast forward selection, and a multi-stage tree
branching into 3 in 2027 and each into 3 again in 2029 (9 scenarios). Every solve uses the
`exact` solver profile's settings through the library defaults (gap 1e-4).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import portfolio_opt as po
from portfolio_opt.scenario_gen import model_from_options, run_scenarios
from portfolio_opt.value_of_information import mean_value_instance

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "instances" / "us_portfolio.yaml"
IMAGES = ROOT / "docs" / "images"
SEED = 7
PATHS = 1000


def musd(x: float | None) -> str:
    return "n/a" if x is None else f"{x / 1e6:,.1f}"


def scenario_files(tmp: Path) -> tuple[Path, Path]:
    two = tmp / "us_two_stage.yaml"
    tree = tmp / "us_tree.yaml"
    model = model_from_options()
    print(run_scenarios(SHIPPED, two, paths=PATHS, seed=SEED, model=model, reduce=10))
    print(run_scenarios(SHIPPED, tree, paths=PATHS, seed=SEED, model=model, tree="2:3,4:3"))
    return two, tree


def with_risk(inst: po.Instance, weight: float, structure: str | None = None) -> po.Instance:
    data = inst.model_dump(by_alias=True, exclude_none=True)
    data = copy.deepcopy(data)
    data["uncertainty"]["risk"] = {"cvar_alpha": 0.95, "cvar_weight": weight}
    if structure is not None:
        data["uncertainty"]["structure"] = structure
    return po.Instance.model_validate(data)


def new_halls(res: Any, inst: po.Instance) -> dict[str, dict[str, float]]:
    """IT MW of halls started per site, per scenario (one key 'plan' without scenarios)."""
    block = {s.id: s.ai.block_it_mw for s in inst.sites if s.ai is not None}
    sp = res.site_periods
    if "scenario" not in sp.columns:
        sp = sp.assign(scenario="plan")
    out: dict[str, dict[str, float]] = {}
    for (w, site), n in sp.groupby(["scenario", "site"], sort=False)["halls_started"].sum().items():
        if n:
            out.setdefault(str(w), {})[str(site)] = float(n) * block[str(site)]
    return out


def bought(res: Any) -> dict[str, float]:
    sp = res.site_periods
    if "scenario" not in sp.columns:
        sp = sp.assign(scenario="plan")
    return {str(w): float(v) for w, v in sp.groupby("scenario")["btc_bought_mw"].sum().items()}


def signed(res: Any) -> list[str]:
    c = res.contracts
    return [f"{r.contract} {r.it_mw:.0f}" for r in c[c["accepted"]].itertuples()]


def plan_row(label: str, res: Any, inst: po.Instance) -> str:
    halls = new_halls(res, inst)
    first = next(iter(halls.values()), {})
    per_site = ", ".join(f"{s} {mw:.0f}" for s, mw in first.items()) or "none"
    asic = next(iter(bought(res).values()), 0.0)
    risk = res.risk or {}
    e = risk.get("expected_npv_usd", res.objective_npv_usd)
    cv = risk.get("cvar_usd")
    return (f"| {label} | {musd(e)} | {musd(cv)} | {sum(first.values()):,.0f} ({per_site}) | "
            f"{asic:,.0f} | {'; '.join(signed(res))} |")


def fan(inst: po.Instance, path: Path, title: str) -> None:
    u = inst.uncertainty
    assert u is not None
    years = [inst.horizon.start_year + t for t in range(inst.horizon.periods)]
    fig, ax = plt.subplots(figsize=(7.5, 3.8), dpi=120)
    mean = [0.0] * len(years)
    for sc in u.scenarios:
        series = inst.series(sc.hashprice_usd_per_ph_day)
        ax.plot(years, series, color="#4a78b5", alpha=min(1.0, 0.25 + 2 * sc.probability),
                linewidth=0.6 + 8 * sc.probability)
        mean = [m + sc.probability * h for m, h in zip(mean, series, strict=True)]
    ax.plot(years, mean, color="#c23b22", linewidth=2.2, label="probability-weighted mean")
    ax.set_ylabel("hashprice, USD/PH/s/day")
    ax.set_title(title, fontsize=10)
    ax.axvline(2028, color="grey", linestyle=":", linewidth=1)
    ax.text(2028.1, ax.get_ylim()[1] * 0.92, "halving (Apr 2028)", fontsize=8, color="grey")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def npv_chart(results: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), dpi=120,
                             sharey=True)
    for ax, (label, res) in zip(axes, results.items(), strict=True):
        sc = res.scenarios.sort_values("npv_usd")
        colors = ["#c23b22" if t else "#4a78b5" for t in sc["in_cvar_tail"]]
        top = float(sc["probability"].max())
        ax.bar(range(len(sc)), sc["npv_usd"] / 1e6, color=colors,
               width=[0.15 + 0.7 * p / top for p in sc["probability"]])
        ax.axhline(res.risk["expected_npv_usd"] / 1e6, color="black", linewidth=1.2,
                   label=f"E[NPV] {musd(res.risk['expected_npv_usd'])}")
        ax.axhline(res.risk["cvar_usd"] / 1e6, color="#c23b22", linestyle="--", linewidth=1.2,
                   label=f"CVaR 0.95 {musd(res.risk['cvar_usd'])}")
        ax.set_xticks(range(len(sc)), sc["scenario"], fontsize=7, rotation=60)
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    axes[0].set_ylabel("NPV per scenario, MUSD")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        two_file, tree_file = scenario_files(Path(tmp))
        two = po.load_instance(two_file)
        tree = po.load_instance(tree_file)
    shipped = po.load_instance(SHIPPED)
    runs: dict[str, tuple[Any, po.Instance]] = {}

    def run(label: str, inst: po.Instance, **kw: Any) -> Any:
        res = po.solve(inst, marginal_values=False, **kw)
        print(f"{label}: {res.status}, gap {res.mip_gap}, {res.solve_seconds:.1f} s", flush=True)
        runs[label] = (res, inst)
        return res

    run("deterministic, the shipped hashprice path", shipped)
    run("mean-value problem (the 10 scenarios' mean)", mean_value_instance(two))
    st = run("two-stage, 10 scenarios, risk-neutral", two, value_of_information=True)
    st_risk = run("two-stage, 10 scenarios, CVaR weight 0.5", with_risk(two, 0.5),
                  value_of_information=True)
    ms = run("multi-stage tree 2:3,4:3 (9 scenarios), risk-neutral", tree,
             value_of_information=True)
    run("the same 9 scenarios, two-stage", with_risk(tree, 0.0, "two_stage"))
    run("multi-stage tree, CVaR weight 0.5", with_risk(tree, 0.5))

    print("\n| plan | E[NPV], MUSD | CVaR 0.95, MUSD | new AI IT MW (by site) | ASIC MW bought "
          "| contracts signed (IT MW) |")
    print("|---|---|---|---|---|---|")
    for label, (res, inst) in runs.items():
        print(plan_row(label, res, inst))
    print("\n| plan | objective, MUSD | wait-and-see, MUSD | EVPI, MUSD | VSS, MUSD |")
    print("|---|---|---|---|---|")
    for label, res in (("two-stage, risk-neutral", st), ("two-stage, CVaR weight 0.5", st_risk),
                       ("multi-stage, risk-neutral", ms)):
        r = res.risk
        ws = res.extra["value_of_information"]["wait_and_see_usd"]
        print(f"| {label} | {musd(r['objective_usd'])} | {musd(ws)} | {musd(r['evpi_usd'])} | "
              f"{musd(r['vss_usd'])} |")
    print("\nmulti-stage: new AI IT MW and ASIC MW per scenario")
    halls = new_halls(ms, tree)
    asic = bought(ms)
    for sc in tree.uncertainty.scenarios:  # type: ignore[union-attr]
        h = halls.get(sc.id, {})
        npv = float(ms.scenarios.set_index("scenario").at[sc.id, "npv_usd"])
        print(f"| {sc.id} | {sc.probability:.3f} | {musd(npv)} | "
              f"{sum(h.values()):,.0f} ({', '.join(f'{s} {v:.0f}' for s, v in h.items())}) | "
              f"{asic.get(sc.id, 0.0):,.0f} |")
    IMAGES.mkdir(exist_ok=True)
    fan(two, IMAGES / "uncertainty_fan.png",
        "Ten hashprice scenarios (gbm-halving, fast forward selection from 1,000 paths)")
    fan(tree, IMAGES / "uncertainty_tree.png",
        "Multi-stage tree: 3 branches in 2027, 3 more in 2029 (9 scenarios)")
    npv_chart({"two-stage, risk-neutral": st, "two-stage, CVaR weight 0.5": st_risk,
               "multi-stage, risk-neutral": ms}, IMAGES / "uncertainty_npv.png")


if __name__ == "__main__":
    main()
