"""The reference model's spec v2 part B (uncertainty), on its own: no product here.

Spec, instance-format-v2.md "B. Uncertainty": each scenario is the instance with its own
hashprice and energy-price scale and has its own NPV; `two_stage` shares halls, purchases,
contracts and serve across scenarios; `multi_stage` lets a decision of period t differ only
between scenarios whose data differ in some period <= t; the objective is
(1 - w) * E[NPV] + w * CVaR_a.

Four sets of checks:
- every hand-written file of tests/data/reference as one scenario of probability 1, and as
  two identical scenarios: the deterministic NPV (its header comment's, for some);
- energy_price_scale on hand-written files (grid, source and block prices scale; energy
  recovery tariffs and the tail energy price do not), worked out by hand;
- small instances built here whose optimum is worked out by hand in the comments: a
  two-stage hedge, multi-stage decisions that wait for the branch, CVaR on four scenarios;
- relations on small random instances (tests/reference/random_b.py): two_stage <=
  multi_stage <= wait-and-see, each scenario's NPV <= its own optimum, alpha = 0 gives
  CVaR = E[NPV], a higher cvar_weight never raises E[NPV].

Units in the comments: one-year periods unless said, D = 365 days, H = 8,760 hours; an ASIC
MW at 25 J/TH is 40 PH/s, so it earns hashprice * 40 * 365 = 14,600 * hashprice a year.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

try:
    from tests.reference.random_b import small_instance_b
    from tests.reference.spec_model import cvar, reference_solve, scenario_instance
except ImportError:  # tests/ itself on sys.path (pytest's rootdir-relative import)
    from reference.random_b import small_instance_b  # type: ignore[no-redef]
    from reference.spec_model import (  # type: ignore[no-redef]
        cvar,
        reference_solve,
        scenario_instance,
    )

DATA = Path(__file__).parent / "data" / "reference"
FILES = sorted(p.name for p in DATA.glob("*.yaml"))

# A few of the files' NPVs as their header comments work them out.
HAND = {"directed.yaml": 19_272_000.0, "energy_recovery.yaml": 8_715_000.0,
        "dr_blocks.yaml": 7_621_200 / 1.1, "blocks_source_link.yaml": 5_737_800.0,
        "lead_time.yaml": 76_600_000.0, "group.yaml": 36_000_000.0}


def _raw(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((DATA / name).read_text())


def _uncertain(data: dict[str, Any], scenarios: list[dict[str, Any]],
               structure: str | None = None, **risk: float) -> dict[str, Any]:
    """`data` with its market hashprice replaced by `scenarios`."""
    out = copy.deepcopy(data)
    out["market"].pop("hashprice_usd_per_ph_day", None)
    uncertainty: dict[str, Any] = {"scenarios": scenarios}
    if structure is not None:
        uncertainty["structure"] = structure
    if risk:
        uncertainty["risk"] = dict(risk)
    out["uncertainty"] = uncertainty
    return out


def _close(a: float | None, b: float, rel: float = 1e-9) -> bool:
    return a is not None and abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-3


# --------------------------------------------------------------------------------------
# (a), (b): one scenario, and two identical scenarios, are the deterministic instance
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("structure", ["two_stage", "multi_stage"])
@pytest.mark.parametrize("name", FILES)
def test_one_scenario_is_the_deterministic_instance(name: str, structure: str) -> None:
    """One scenario of probability 1 with the market's hashprice: the same status and NPV,
    whatever the risk settings (CVaR of one scenario is its NPV)."""
    data = _raw(name)
    det = reference_solve(data)
    hashprice = data["market"]["hashprice_usd_per_ph_day"]
    one = reference_solve(_uncertain(
        data, [{"id": "only", "probability": 1.0, "hashprice_usd_per_ph_day": hashprice}],
        structure, cvar_alpha=0.5, cvar_weight=0.7))
    assert one.status == det.status
    if det.status != "optimal":
        assert one.objective_usd is None
        return
    assert det.objective_usd is None  # part B fields stay empty without `uncertainty`
    for value in (one.objective_usd, one.expected_npv_usd, one.cvar_usd, one.npv_usd,
                  one.objective_npv_usd, one.scenario_npv_usd["only"]):
        assert _close(value, det.npv_usd), (name, value, det.npv_usd)  # type: ignore[arg-type]
    if name in HAND:
        assert _close(one.objective_usd, HAND[name])
    assert one.in_cvar_tail == {"only": True}
    assert one.structure == structure and one.cvar_alpha == 0.5 and one.cvar_weight == 0.7
    # the reported parts are the deterministic ones, periods tagged with the scenario
    assert _close(one.terminal_value_usd, det.terminal_value_usd)  # type: ignore[arg-type]
    assert _close(one.debt_after_horizon_usd, det.debt_after_horizon_usd)  # type: ignore
    assert [row["scenario"] for row in one.periods] == ["only"] * len(det.periods)
    assert _close(one.discounted_usd + one.terminal_value_usd  # type: ignore[operator]
                  - one.debt_after_horizon_usd, one.npv_usd)  # type: ignore[arg-type]


@pytest.mark.parametrize("structure", ["two_stage", "multi_stage"])
@pytest.mark.parametrize("name", FILES)
def test_two_identical_scenarios_are_the_deterministic_instance(name: str,
                                                                structure: str) -> None:
    """Two scenarios with the same data (one as a number, one as the repeated series; one
    with energy_price_scale 1 written out): the deterministic NPV, for any risk weight."""
    data = _raw(name)
    det = reference_solve(data)
    hashprice = data["market"]["hashprice_usd_per_ph_day"]
    as_list = hashprice if isinstance(hashprice, list) else [hashprice] * data["horizon"][
        "periods"]
    two = reference_solve(_uncertain(data, [
        {"id": "a", "probability": 0.3, "hashprice_usd_per_ph_day": hashprice},
        {"id": "b", "probability": 0.7, "hashprice_usd_per_ph_day": as_list,
         "energy_price_scale": 1}], structure, cvar_alpha=0.9, cvar_weight=0.4))
    assert two.status == det.status
    if det.status != "optimal":
        return
    for value in (two.objective_usd, two.expected_npv_usd, two.cvar_usd,
                  two.scenario_npv_usd["a"], two.scenario_npv_usd["b"]):
        assert _close(value, det.npv_usd, rel=1e-7), (name, value)  # type: ignore[arg-type]
    if structure == "multi_stage":
        # The same data throughout ("a scalar equal to its repeated series"): every column
        # is shared by both scenarios, none carries a scenario label.
        assert not [n for n in two.values if "@" in n and not n.startswith("cvar")], name


# --------------------------------------------------------------------------------------
# energy_price_scale on hand-written files
# --------------------------------------------------------------------------------------


def _tail_value() -> float:
    """tail.yaml's TV, from its header: 10 MW, year k of the tail worth
    1,200,000 * 1.02^(k+1) - 520,480 per MW (tail energy price 40), discounted 1.1^-(2+k)."""
    return sum(10 * (1_200_000 * 1.02 ** (k + 1) - 520_480) / 1.1 ** (2 + k)
               for k in (1, 2, 3))


# (file, scenario's energy_price_scale, NPV by hand)
SCALED = [
    # energy_recovery.yaml (10 MW hall, pue 1.25, grid 60, lease 6,000,000 a period, energy
    # recovery [60, 30] USD/MWh). Scale 0.5: grid 30, ENERGY_t = 12.5 * 8760 * 30 =
    # 3,285,000; the tariff is not scaled: ER_1 = 6,570,000, ER_2 = 3,285,000.
    #   period 1: 6,000,000 + 6,570,000 - 3,285,000 = 9,285,000
    #   period 2: 6,000,000 + 3,285,000 - 3,285,000 = 6,000,000          -> 15,285,000
    # (a scaled tariff would give 6,000,000 + 4,357,500 = 10,357,500)
    ("energy_recovery.yaml", 0.5, 15_285_000.0),
    # The same with scale [2, 0.5]: period 1 grid 120, ENERGY_1 = 13,140,000:
    #   6,000,000 + 6,570,000 - 13,140,000 = -570,000; period 2 as above 6,000,000.
    # The lease is taken for both periods or not at all: 5,430,000 > 0, taken.
    ("energy_recovery.yaml", [2, 0.5], 5_430_000.0),
    # tail.yaml (10 MW, pue 1.2, opex 1,000,000 a year, lease 12,000,000 * 1.02^(t-1),
    # r = 10 %). Scale 2: grid 100, ENERGY_t = 12 * 8760 * 100 = 10,512,000:
    #   t=1: 12,000,000 - 10,512,000 - 1,000,000 = 488,000 / 1.1
    #   t=2: 12,240,000 - 10,512,000 - 1,000,000 = 728,000 / 1.21
    # and the tail as in the file: its energy price (40) is not scaled.
    ("tail.yaml", 2, 488_000 / 1.1 + 728_000 / 1.21 + _tail_value()),
    # dr_blocks.yaml at scale 0.5 (90 USD per IT MWh of hashing, DR credit 10 USD per gross
    # MW-hour, blocks peak 0.2 / off 0.8, r = 10 %):
    #   a: pue 1.2, prices peak 40 / off 20: hashing pays in both (48 and 24 per IT MWh).
    #      peak (90 - 48) * 10 + 6 * 10 = 480/h; off (90 - 24) * 10 + 60 = 720/h
    #   b: pue 1, peak 100 / off 20: peak (90 - 100) + 10 = 0 per MW (indifferent);
    #      off (90 - 20) * 10 + 10 * 10 = 800/h
    #   8760 * (0.2 * 480 + 0.8 * 720 + 0.8 * 800) = 8760 * 1312 = 11,493,120 / 1.1
    ("dr_blocks.yaml", 0.5, 11_493_120 / 1.1),
    # blocks_source_link.yaml (one two-year period, H = 17,520; m earns 100 per MWh hashing;
    # gen 120 peak / 40 off through a 20 % loss; m's grid 5 MW at 90). Scale 0.5: gen 60 /
    # 20 (delivered 75 / 25), grid 45.
    #   off:  gen (25 delivered) before the grid (45): 8 MW from gen (10 bought at 20 =
    #         200/h) + 2 MW grid (90/h): 1000 - 290 = 710/h
    #   peak: the grid (45) before gen (75 delivered): 5 MW grid (225/h) + 5 MW from gen
    #         (6.25 bought at 60 = 375/h): 1000 - 600 = 400/h
    #   17,520 * (0.75 * 710 + 0.25 * 400) = 17,520 * 632.5 = 11,081,400
    ("blocks_source_link.yaml", 0.5, 11_081_400.0),
]


@pytest.mark.parametrize(("name", "scale", "expected"), SCALED,
                         ids=[f"{s[0]}-{s[1]}" for s in SCALED])
def test_energy_price_scale(name: str, scale: Any, expected: float) -> None:
    data = _raw(name)
    hashprice = data["market"]["hashprice_usd_per_ph_day"]
    res = reference_solve(_uncertain(data, [
        {"id": "w", "probability": 1.0, "hashprice_usd_per_ph_day": hashprice,
         "energy_price_scale": scale}]))
    assert res.status == "optimal"
    assert _close(res.objective_usd, expected), (res.objective_usd, expected)
    # the scenario's deterministic instance (prices multiplied) has the same optimum
    alone = reference_solve(scenario_instance(_uncertain(data, [
        {"id": "w", "probability": 1.0, "hashprice_usd_per_ph_day": hashprice,
         "energy_price_scale": scale}]), "w"))
    assert _close(alone.npv_usd, expected)


# --------------------------------------------------------------------------------------
# (c) a two-stage hedge that neither scenario would choose alone
# --------------------------------------------------------------------------------------

# One year, r = 0. Site s: 30 MW, grid 30 MW at 50 USD/MWh (times the scenario's scale).
#   ASICs: none installed, up to 10 MW to buy at 200,000 per MW, 25 J/TH (40 PH/s per MW).
#   AI: one 10 MW hall for 500,000 per MW (5,000,000), lead 0, pue 1.
#   Lease: exactly 10 MW at 100 USD/kW-month for the year: 12,000,000.
# Scenarios (probability 0.5 each):
#   high: hashprice 100, scale 2 (power 100 USD/MWh = 876,000 per MW-year)
#         an ASIC MW earns 1,460,000 - 876,000 = 584,000, less capex: +384,000
#         the lease: 12,000,000 - 5,000,000 - 8,760,000 = -1,760,000
#   low:  hashprice 20, scale 1 (438,000 per MW-year)
#         an ASIC MW earns 292,000 < 438,000: it stays off (hashing is recourse): -200,000
#         the lease: 12,000,000 - 5,000,000 - 4,380,000 = +2,620,000
# Alone: high buys 10 MW and declines the lease (3,840,000); low signs the lease and buys
# nothing (2,620,000); wait-and-see 0.5 * (3,840,000 + 2,620,000) = 3,230,000.
# Two-stage, risk-neutral: per ASIC MW E = 0.5 * 384,000 - 0.5 * 200,000 = 92,000 > 0, the
# lease E = 0.5 * (-1,760,000 + 2,620,000) = 430,000 > 0: the hedge does both:
#   NPV_high = 3,840,000 - 1,760,000 = 2,080,000; NPV_low = -2,000,000 + 2,620,000 = 620,000
#   E = 1,350,000 (= 920,000 + 430,000).
# With risk (alpha 0.5: CVaR = the worse of the two NPVs), lease taken, x ASIC MW bought:
#   NPV_high = 384,000 x - 1,760,000, NPV_low = 2,620,000 - 200,000 x (equal at x = 7.5:
#   1,120,000); E = 92,000 x + 430,000. The objective's slope in x: below 7.5,
#   (1-w) 92,000 + w 384,000 > 0; above, (1-w) 92,000 - w 200,000, < 0 iff w > 92/292.
#   w = 0.25: x = 10, objective 0.75 * 1,350,000 + 0.25 * 620,000 = 1,167,500
#   w = 0.5 and w = 1: x = 7.5, E = CVaR = objective = 1,120,000
#   (without the lease the worse NPV is -200,000 x <= 0)


def _hedge(**risk: float) -> dict[str, Any]:
    return {
        "name": "hedge",
        "horizon": {"periods": 1},
        "sites": [{"id": "s", "capacity_mw": 30,
                   "grid": {"capacity_mw": 30, "price_usd_per_mwh": 50},
                   "btc": {"fleet_mw": 0, "efficiency_j_per_th": 25,
                           "expansion": {"max_mw": 10, "capex_usd_per_mw": 200_000}},
                   "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 500_000,
                          "lead_time_periods": 0, "pue": 1.0}}],
        "contracts": [{"id": "lease", "tenant": "t", "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 1}],
        "uncertainty": {"scenarios": [
            {"id": "high", "probability": 0.5, "hashprice_usd_per_ph_day": 100,
             "energy_price_scale": 2},
            {"id": "low", "probability": 0.5, "hashprice_usd_per_ph_day": 20}],
            **({"risk": dict(risk)} if risk else {})},
    }


def test_two_stage_hedge_differs_from_each_scenario_alone() -> None:
    data = _hedge()
    alone = {sid: reference_solve(scenario_instance(data, sid)) for sid in ("high", "low")}
    assert _close(alone["high"].npv_usd, 3_840_000)
    assert alone["high"].values["buy[s,1]"] == pytest.approx(10)
    assert alone["high"].values["accept[lease]"] == pytest.approx(0)
    assert _close(alone["low"].npv_usd, 2_620_000)
    assert alone["low"].values["buy[s,1]"] == pytest.approx(0)
    assert alone["low"].values["accept[lease]"] == pytest.approx(1)

    res = reference_solve(data)
    assert res.status == "optimal" and res.structure == "two_stage"
    assert _close(res.objective_usd, 1_350_000)
    assert _close(res.expected_npv_usd, 1_350_000) and _close(res.npv_usd, 1_350_000)
    assert _close(res.scenario_npv_usd["high"], 2_080_000)
    assert _close(res.scenario_npv_usd["low"], 620_000)
    assert res.scenario_probability == {"high": 0.5, "low": 0.5}
    # the hedge: both the ASICs and the lease, one decision for both scenarios
    assert res.values["buy[s,1]"] == pytest.approx(10)
    assert res.values["accept[lease]"] == pytest.approx(1)
    # ... and the ASICs hash only in `high` (recourse)
    assert res.site_periods["high", "s", 1]["btc_mw"] == pytest.approx(10)
    assert res.site_periods["low", "s", 1]["btc_mw"] == pytest.approx(0)
    # default alpha 0.95: the worst 5 % is `low`
    assert _close(res.cvar_usd, 620_000) and res.cvar_alpha == 0.95 and res.cvar_weight == 0
    assert res.in_cvar_tail == {"high": False, "low": True}
    # EVPI = 3,230,000 - 1,350,000
    waiting = sum(0.5 * r.npv_usd for r in alone.values())  # type: ignore[misc]
    assert _close(waiting - res.objective_usd, 1_880_000)  # type: ignore[operator]


@pytest.mark.parametrize(("weight", "objective", "expected", "bought"), [
    (0.0, 1_350_000, 1_350_000, 10), (0.25, 1_167_500, 1_350_000, 10),
    (0.5, 1_120_000, 1_120_000, 7.5), (1.0, 1_120_000, 1_120_000, 7.5)])
def test_two_stage_hedge_with_risk(weight: float, objective: float, expected: float,
                                   bought: float) -> None:
    res = reference_solve(_hedge(cvar_alpha=0.5, cvar_weight=weight))
    assert _close(res.objective_usd, objective), (weight, res.objective_usd)
    assert _close(res.expected_npv_usd, expected, rel=1e-6)
    assert res.values["buy[s,1]"] == pytest.approx(bought, abs=1e-6)
    assert res.values["accept[lease]"] == pytest.approx(1)
    # objective = (1 - w) E + w CVaR, CVaR by the formula on the plan's NPVs
    assert _close((1 - weight) * res.expected_npv_usd  # type: ignore[operator]
                  + weight * res.cvar_usd, res.objective_usd, rel=1e-7)  # type: ignore


# --------------------------------------------------------------------------------------
# (d) multi-stage: decisions that wait for the branch
# --------------------------------------------------------------------------------------

# Halls. Three years, r = 0. A committed lease of exactly 10 MW at 100 USD/kW-month in
# period 3 only (12,000,000), max_sites 2, at site a or b; halls of 10 MW, lead 1: the hall
# must start by period 2. Both grids 50 USD/MWh (times the scale).
#   a: 100,000 per MW, pue 1.5: per IT MW 100,000 + 8760 * 50 * 1.5 * s = 100,000 + 657,000 s
#   b: 400,000 per MW, pue 1.0: per IT MW 400,000 + 438,000 s
#   s = 1: a 757,000 < b 838,000;  s = 2: a 1,414,000 > b 1,276,000.
# Scenarios, probability 0.5 each, hashprice 0: `dear` scale 2 from the branch period,
# `cheap` scale 1 throughout.
#   Branch in period 2 (dear: [1, 2, 2]): the hall starts in period 2 knowing the branch:
#     dear at b: 12,000,000 - 12,760,000 = -760,000; cheap at a: 12,000,000 - 7,570,000 =
#     4,430,000; E = 1,835,000 (= wait-and-see).
#   Two-stage (one site for both): a costs E 100,000 + 657,000 * 1.5 = 1,085,500 per MW,
#     b 400,000 + 438,000 * 1.5 = 1,057,000: b, E = 12,000,000 - 10,570,000 = 1,430,000
#     (dear -760,000, cheap 12,000,000 - 8,380,000 = 3,620,000). (A hall at each site,
#     1,266,500 per MW in expectation, is worse.)
#   Value of waiting: 1,835,000 - 1,430,000 = 405,000 = 0.5 * 10 * (838,000 - 757,000).
#   Branch in period 3 (dear: [1, 1, 2]): the hall of period 2 cannot know the branch, so
#     multi_stage = two_stage = 1,430,000.


def _halls_wait(dear_scale: list[float], structure: str) -> dict[str, Any]:
    def site(sid: str, capex: float, pue: float) -> dict[str, Any]:
        return {"id": sid, "capacity_mw": 20,
                "grid": {"capacity_mw": 20, "price_usd_per_mwh": 50},
                "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": capex,
                       "lead_time_periods": 1, "pue": pue}}

    return {
        "name": "halls-wait",
        "horizon": {"periods": 3},
        "market": {},
        "sites": [site("a", 100_000, 1.5), site("b", 400_000, 1.0)],
        "contracts": [{"id": "c", "tenant": "t", "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 100, "start_period": 3, "term_periods": 1,
                       "max_sites": 2, "committed": True}],
        "uncertainty": {"structure": structure, "scenarios": [
            {"id": "dear", "probability": 0.5, "hashprice_usd_per_ph_day": 0,
             "energy_price_scale": dear_scale},
            {"id": "cheap", "probability": 0.5, "hashprice_usd_per_ph_day": [0, 0, 0]}]},
    }


@pytest.mark.parametrize(("branch", "structure", "expected", "dear", "cheap"), [
    (2, "multi_stage", 1_835_000, -760_000, 4_430_000),
    (2, "two_stage", 1_430_000, -760_000, 3_620_000),
    (3, "multi_stage", 1_430_000, -760_000, 3_620_000),
    (3, "two_stage", 1_430_000, -760_000, 3_620_000)])
def test_multi_stage_hall_waits_for_the_branch(branch: int, structure: str, expected: float,
                                               dear: float, cheap: float) -> None:
    scale = [1, 2, 2] if branch == 2 else [1, 1, 2]
    res = reference_solve(_halls_wait(scale, structure))
    assert res.status == "optimal"
    assert _close(res.objective_usd, expected), res.objective_usd
    assert _close(res.scenario_npv_usd["dear"], dear)
    assert _close(res.scenario_npv_usd["cheap"], cheap)
    served = {sid: {s: res.site_periods[sid, s, 3]["gross_load_mw"] for s in "ab"}
              for sid in ("dear", "cheap")}
    assert served["dear"] == pytest.approx({"a": 0, "b": 10})
    if branch == 2 and structure == "multi_stage":
        assert served["cheap"] == pytest.approx({"a": 15, "b": 0})  # 10 IT MW at pue 1.5
    else:
        assert served["cheap"] == pytest.approx({"a": 0, "b": 10})


def test_multi_stage_hall_wait_and_see() -> None:
    data = _halls_wait([1, 2, 2], "multi_stage")
    alone = {sid: reference_solve(scenario_instance(data, sid)).npv_usd
             for sid in ("dear", "cheap")}
    assert _close(alone["dear"], -760_000) and _close(alone["cheap"], 4_430_000)


# ASICs. Two years, r = 0. Site m: 10 MW, grid 10 MW at 50 USD/MWh (438,000 per MW-year),
# no ASICs installed, up to 10 MW to buy at 200,000 per MW (25 J/TH: 14,600 * hashprice
# per MW-year). Hashprice: `up` [20, 100], `down` [20, 20], probability 0.5 each.
#   Period 1 (hashprice 20): 292,000 < 438,000, no hashing; nothing to learn yet.
#   Period 2: up earns 1,460,000 - 438,000 = 1,022,000 per MW; down nothing.
#   multi_stage: buy 10 MW in period 2 in `up` only: NPV_up = 10 * 822,000 = 8,220,000,
#     NPV_down = 0; E = 4,110,000 (= wait-and-see).
#   two_stage: one purchase x for both: E = 0.5 * 822,000 x - 0.5 * 200,000 x = 311,000 x:
#     x = 10, E = 3,110,000 (up 8,220,000, down -2,000,000).
#   Value of waiting: 1,000,000 = 0.5 * 10 * 200,000 (the capex spared in `down`).


def _asics_wait(structure: str) -> dict[str, Any]:
    return {
        "name": "asics-wait",
        "horizon": {"periods": 2},
        "sites": [{"id": "m", "capacity_mw": 10,
                   "grid": {"capacity_mw": 10, "price_usd_per_mwh": 50},
                   "btc": {"fleet_mw": 0, "efficiency_j_per_th": 25,
                           "expansion": {"max_mw": 10, "capex_usd_per_mw": 200_000}}}],
        "uncertainty": {"structure": structure, "scenarios": [
            {"id": "up", "probability": 0.5, "hashprice_usd_per_ph_day": [20, 100]},
            {"id": "down", "probability": 0.5, "hashprice_usd_per_ph_day": 20}]},
    }


@pytest.mark.parametrize(("structure", "expected", "up", "down"), [
    ("multi_stage", 4_110_000, 8_220_000, 0), ("two_stage", 3_110_000, 8_220_000, -2_000_000)])
def test_multi_stage_purchase_waits_for_the_branch(structure: str, expected: float,
                                                   up: float, down: float) -> None:
    res = reference_solve(_asics_wait(structure))
    assert _close(res.objective_usd, expected)
    assert _close(res.scenario_npv_usd["up"], up)
    assert _close(res.scenario_npv_usd["down"], down)
    capex = {(row["scenario"], row["period"]): row["capex"] for row in res.periods}
    if structure == "multi_stage":
        assert capex == pytest.approx({("up", 1): 0, ("up", 2): 2e6, ("down", 1): 0,
                                       ("down", 2): 0}, abs=1e-3)


# --------------------------------------------------------------------------------------
# (e) CVaR by hand, four scenarios
# --------------------------------------------------------------------------------------

# One year, r = 0. Site s: 10 MW, free grid power (price 0), 10 MW of ASICs installed at
# 25 J/TH: mining earns 146,000 * hashprice. Or a 10 MW hall (200,000 per MW, lead 0,
# pue 1) for a 10 MW lease at 50 USD/kW-month: 6,000,000 - 2,000,000 = 4,000,000 in every
# scenario; the hall's reserved 10 MW leaves no room for the ASICs (envelope 10 MW).
# Scenarios s1..s4: probability 0.1, 0.2, 0.3, 0.4; hashprice 10, 20, 30, 40.
#   mine:  NPV 1,460,000 / 2,920,000 / 4,380,000 / 5,840,000; E = 4,380,000.
#   CVaR_0.5 (worst half): 0.1 at 1.46M, 0.2 at 2.92M, 0.2 of the 0.3 at 4.38M:
#     (146,000 + 584,000 + 876,000) / 0.5 = 3,212,000; eta* = 4,380,000 (cumulative 0.6)
#   lease: 4,000,000 everywhere (E = CVaR).
#   w = 0: mine, 4,380,000. w = 1, alpha 0.5: lease, 4,000,000.
#   w = 0.25: mine, 0.75 * 4,380,000 + 0.25 * 3,212,000 = 4,088,000 (> 4,000,000).
#   w = 0.5: mine would give 3,796,000 < 4,000,000: lease.
# Other alphas on the mining plan (w = 0):
#   alpha 0:    eta* = 5,840,000 (cumulative 1), CVaR = E = 4,380,000, every scenario in
#   alpha 0.7:  worst 0.3 = s1 + s2: (146,000 + 584,000) / 0.3 = 2,433,333.33, eta* = 2.92M
#               (s2 is the boundary: in the tail)
#   alpha 0.85: worst 0.15 = s1 + half of s2: (146,000 + 146,000) / 0.15 = 1,946,666.67
#   alpha 0.95: worst 0.05 within s1: 1,460,000, eta* = 1.46M


def _four(alpha: float, weight: float) -> dict[str, Any]:
    return {
        "name": "cvar-four",
        "horizon": {"periods": 1},
        "sites": [{"id": "s", "capacity_mw": 10,
                   "grid": {"capacity_mw": 10, "price_usd_per_mwh": 0},
                   "btc": {"fleet_mw": 10, "efficiency_j_per_th": 25},
                   "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 200_000,
                          "lead_time_periods": 0, "pue": 1.0}}],
        "contracts": [{"id": "lease", "tenant": "t", "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 50, "start_period": 1, "term_periods": 1}],
        "uncertainty": {
            "scenarios": [{"id": f"s{k}", "probability": p, "hashprice_usd_per_ph_day": hp}
                          for k, p, hp in ((1, 0.1, 10), (2, 0.2, 20), (3, 0.3, 30),
                                           (4, 0.4, 40))],
            "risk": {"cvar_alpha": alpha, "cvar_weight": weight}},
    }


MINE = {"s1": 1_460_000, "s2": 2_920_000, "s3": 4_380_000, "s4": 5_840_000}
LEASE = dict.fromkeys(MINE, 4_000_000)


@pytest.mark.parametrize(("alpha", "weight", "objective", "npvs", "cvar_usd", "tail"), [
    (0.5, 0.0, 4_380_000, MINE, 3_212_000, {"s1", "s2", "s3"}),
    (0.5, 1.0, 4_000_000, LEASE, 4_000_000, set(MINE)),
    (0.5, 0.25, 4_088_000, MINE, 3_212_000, {"s1", "s2", "s3"}),
    (0.5, 0.5, 4_000_000, LEASE, 4_000_000, set(MINE)),
    (0.0, 0.0, 4_380_000, MINE, 4_380_000, set(MINE)),
    (0.0, 1.0, 4_380_000, MINE, 4_380_000, set(MINE)),  # alpha 0: CVaR = E
    (0.7, 0.0, 4_380_000, MINE, 730_000 / 0.3, {"s1", "s2"}),
    (0.85, 0.0, 4_380_000, MINE, 292_000 / 0.15, {"s1", "s2"}),
    (0.95, 0.0, 4_380_000, MINE, 1_460_000, {"s1"}),
])
def test_cvar_by_hand(alpha: float, weight: float, objective: float, npvs: dict[str, float],
                      cvar_usd: float, tail: set[str]) -> None:
    res = reference_solve(_four(alpha, weight))
    assert _close(res.objective_usd, objective), res.objective_usd
    assert res.scenario_npv_usd == pytest.approx(npvs, rel=1e-9, abs=1e-3)
    assert _close(res.cvar_usd, cvar_usd), res.cvar_usd
    assert {k for k, v in res.in_cvar_tail.items() if v} == tail
    assert _close(res.expected_npv_usd, sum(p * npvs[f"s{k}"] for k, p in
                                            ((1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4))))


def test_cvar_formula() -> None:
    """The formula on its own: eta* is the smallest maximiser (the (1-a)-quantile)."""
    npvs, probabilities = [5.84, 1.46, 4.38, 2.92], [0.4, 0.1, 0.3, 0.2]
    assert cvar(npvs, probabilities, 0.5) == pytest.approx((4.38, 3.212))
    assert cvar(npvs, probabilities, 0.0) == pytest.approx((5.84, 4.38))
    assert cvar(npvs, probabilities, 0.7) == pytest.approx((2.92, 0.73 / 0.3))
    # two equally likely values, alpha 0.5: every eta in [1, 3] maximises; eta* = 1
    assert cvar([3.0, 1.0], [0.5, 0.5], 0.5) == pytest.approx((1.0, 1.0))
    # ties: the boundary value counts once
    assert cvar([2.0, 2.0, 8.0], [0.25, 0.25, 0.5], 0.5) == pytest.approx((2.0, 2.0))


# --------------------------------------------------------------------------------------
# (f) relations on small random instances
# --------------------------------------------------------------------------------------

B_SEEDS = list(range(24))


def _le(a: float, b: float, what: str) -> None:
    """a <= b up to the reference's MIP gap (1e-7) and rounding."""
    assert a <= b + 1e-6 * max(abs(a), abs(b)) + 1.0, f"{what}: {a:,.2f} > {b:,.2f}"


def _with(data: dict[str, Any], structure: str | None = None, **risk: float) -> dict[str, Any]:
    out = copy.deepcopy(data)
    if structure is not None:
        out["uncertainty"]["structure"] = structure
    if risk:
        out["uncertainty"]["risk"] = {**(out["uncertainty"].get("risk") or {}), **risk}
    return out


def _shared_period_one(data: dict[str, Any]) -> dict[str, Any]:
    """The instance with every scenario's period-1 data set to the first scenario's, so that
    multi_stage may be used on it."""
    out = copy.deepcopy(data)
    T = out["horizon"]["periods"]
    scenarios = out["uncertainty"]["scenarios"]

    def as_list(value: Any) -> list[float]:
        return list(value) if isinstance(value, list) else [value] * T

    for key, default in (("hashprice_usd_per_ph_day", None), ("energy_price_scale", 1.0)):
        root = as_list(scenarios[0].get(key, default))[0]
        for sc in scenarios:
            values = as_list(sc.get(key, default))
            sc[key] = [root, *values[1:]]
    return out


def test_small_b_uses_every_field() -> None:
    """Over the seeds, part B appears in every form the spec allows."""
    seen: set[str] = set()
    for seed in B_SEEDS:
        data = small_instance_b(seed)
        u = data["uncertainty"]
        seen.add(f"structure {u.get('structure')}")
        seen.add(f"{len(u['scenarios'])} scenarios")
        seen.add("market " + ("absent" if "market" not in data else
                              "null" if data["market"] is None else
                              "blocks" if data["market"] else "empty"))
        for sc in u["scenarios"]:
            scale = sc.get("energy_price_scale")
            seen.add("scale " + ("absent" if scale is None else
                                 "list" if isinstance(scale, list) else "number"))
            seen.add("hashprice " + ("list" if isinstance(sc["hashprice_usd_per_ph_day"], list)
                                     else "number"))
        risk = u.get("risk")
        if risk is None:
            seen.add("risk absent")
        else:
            seen |= {f"risk without {k}" for k in ("cvar_alpha", "cvar_weight")
                     if k not in risk}
            w = risk.get("cvar_weight")
            if w is not None:
                seen.add("weight 0" if w == 0 else "weight 1" if w == 1 else "weight inside")
            if risk.get("cvar_alpha") == 0:
                seen.add("alpha 0")
        if u.get("structure") == "multi_stage" and data["horizon"]["periods"] >= 3:
            seen.add("multi_stage over 3+ periods")
    assert seen >= {
        "structure two_stage", "structure multi_stage", "structure None", "2 scenarios",
        "3 scenarios", "4 scenarios", "market absent", "market empty", "market blocks",
        "scale absent", "scale list", "scale number", "hashprice list", "hashprice number",
        "risk absent", "risk without cvar_alpha", "risk without cvar_weight", "weight 0",
        "weight 1", "weight inside", "alpha 0", "multi_stage over 3+ periods"}, seen


@pytest.mark.parametrize("seed", B_SEEDS)
def test_small_b_relations(seed: int) -> None:
    data = small_instance_b(seed)
    what = f"small b seed {seed}"
    res = reference_solve(data)
    scenarios = data["uncertainty"]["scenarios"]
    alone = {sc["id"]: reference_solve(scenario_instance(data, sc["id"])) for sc in scenarios}
    # Prices never decide feasibility: the scenarios and the whole stand or fall together.
    assert {r.status for r in alone.values()} == {res.status}, what
    if res.status != "optimal":
        return
    risk = data["uncertainty"].get("risk") or {}
    alpha, weight = risk.get("cvar_alpha", 0.95), risk.get("cvar_weight", 0.0)
    # the result's own identities
    assert _close((1 - weight) * res.expected_npv_usd  # type: ignore[operator]
                  + weight * res.cvar_usd, res.objective_usd, rel=1e-6), what  # type: ignore
    assert _close(res.discounted_usd + res.terminal_value_usd  # type: ignore[operator]
                  - res.debt_after_horizon_usd, res.npv_usd, rel=1e-7), what  # type: ignore
    assert res.cvar_usd <= res.expected_npv_usd + 1e-6  # type: ignore[operator]
    # each scenario's NPV is at most its own optimum; wait-and-see bounds the objective
    for sid, r in alone.items():
        _le(res.scenario_npv_usd[sid], r.npv_usd, f"{what}: NPV of {sid}")  # type: ignore
    waiting = sum(sc["probability"] * alone[sc["id"]].npv_usd  # type: ignore[misc]
                  for sc in scenarios)
    _le(res.objective_usd, waiting, f"{what}: objective vs wait-and-see")  # type: ignore

    # two_stage <= multi_stage <= wait-and-see, on the instance with period 1 shared
    shared = _shared_period_one(data)
    two = reference_solve(_with(shared, "two_stage"))
    multi = reference_solve(_with(shared, "multi_stage"))
    waiting = sum(sc["probability"] * reference_solve(scenario_instance(shared, sc["id"]))
                  .npv_usd for sc in shared["uncertainty"]["scenarios"])
    _le(two.objective_usd, multi.objective_usd, f"{what}: two_stage vs multi_stage")  # type: ignore
    _le(multi.objective_usd, waiting, f"{what}: multi_stage vs wait-and-see")  # type: ignore

    # alpha 0: CVaR = E[NPV]
    zero = reference_solve(_with(data, cvar_alpha=0.0, cvar_weight=weight))
    assert _close(zero.cvar_usd, zero.expected_npv_usd, rel=1e-9), what  # type: ignore
    assert _close(zero.objective_usd, zero.expected_npv_usd, rel=1e-7), what  # type: ignore

    # a higher cvar_weight never raises E[NPV]
    expected = [reference_solve(_with(data, cvar_alpha=alpha, cvar_weight=w)).expected_npv_usd
                for w in (0.0, 0.5, 1.0)]
    for lo, hi in itertools.pairwise(expected):
        _le(hi, lo, f"{what}: E[NPV] as the weight rises")  # type: ignore[arg-type]
