"""The product against an independent implementation of the spec (tests/reference).

The reference implements instance-format v1 and v2 parts A (deal structures, contract
tail), C (price blocks, demand response) and D (project debt); it takes the validated
instance as a plain dict.

Spec, instance-format v1: "Two correct implementations of this page must find the same
optimal NPV (within the MIP gap) for the same file" and "Two optimal NPVs agree when
|a - b| <= g * max(|a|, |b|) + 1 USD, with g the larger reported relative gap".

Three sets of instances:
- hand-written ones in tests/data/reference/, one rule each, whose NPV is also worked out
  by hand in the file's header comment (checked against the reference here);
- instances of the product's generator (``portfolio_opt.generate``);
- small random instances drawn here, which reach rules the generator leaves alone
  (years_per_period != 1, committed contracts that cannot be met, tight budgets), v2
  ones that use every field of parts A and D, and ones that add part C on top.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import portfolio_opt
from portfolio_opt.validate import validate_data

try:
    from tests.reference import reference_npv, reference_solve
    from tests.reference.random_b import small_instance as _small_instance
    from tests.reference.random_b import small_instance_c as _small_instance_c
    from tests.reference.random_b import small_instance_v2 as _small_instance_v2
except ImportError:  # tests/ itself on sys.path (pytest's rootdir-relative import)
    from reference import reference_npv, reference_solve  # type: ignore[no-redef]
    from reference.random_b import small_instance as _small_instance  # type: ignore[no-redef]
    from reference.random_b import (  # type: ignore[no-redef]
        small_instance_c as _small_instance_c,
    )
    from reference.random_b import (  # type: ignore[no-redef]
        small_instance_v2 as _small_instance_v2,
    )

DATA = Path(__file__).parent / "data" / "reference"

try:
    from portfolio_opt.generate import generate_instance as _product_generator
except ImportError:  # pragma: no cover - the generator is optional for this test
    _product_generator = None


def _escalator_discount() -> float:
    d = 1.1
    btc = 15 * (888_560 / d**2 + 362_960 / d**4) - 5 * 500_000
    ai = 10 * ((2.4e6 - 420_480) / d**4 + (2.4e6 * 1.05**2 - 420_480) / d**6)
    hall_opex = 1e6 * (d**-2 + d**-4 + d**-6)
    return btc + ai - hall_opex


def _annuity(i: float, n: int) -> float:
    return i / (1 - (1 + i) ** -n) if i else 1 / n


def _tail() -> float:
    d = 1.1
    inside = 5_744_000 / d + 5_984_000 / d**2
    tail = sum(10 * (1_200_000 * 1.02 ** (k + 1) - 520_480) / d ** (2 + k) for k in (1, 2, 3))
    return inside + tail


def _tail_two_year_periods() -> float:
    d = 1.05
    tail = sum(10 * (1_200_000 * 1.1 ** (k + 1) + 131_400) / d ** (4 + k) for k in range(1, 5))
    return 27_504_000 / d**4 + tail


def _debt_low_rate() -> float:
    d, a = 1.1, _annuity(0.05, 4)
    gain = 5e6 - 5e6 * a * sum(d**-k for k in range(1, 5))
    return -10e6 + 12e6 / d + 12e6 / d**2 + gain


def _debt_two_year_periods() -> float:
    d, a = 1.06, _annuity(0.03, 5)
    loan = 5e6 / d**2 - 5e6 * a * sum(d ** -(2 + k) for k in range(1, 6))
    return 24e6 / d**4 - 10e6 / d**2 + loan


# The hand computation in each file's header comment; None = infeasible.
EXPECTED: dict[str, float | None] = {
    "budget_per_period.yaml": 36_000_000,
    "directed.yaml": 19_272_000,
    "escalator_discount.yaml": _escalator_discount(),
    "fixed_capex.yaml": 33_040_000,
    "halls_floor.yaml": 60_000,
    "infeasible_budget.yaml": None,
    "infeasible_capacity.yaml": None,
    "infeasible_fixed_capex_budget.yaml": None,
    "infeasible_lead_time.yaml": None,
    "infeasible_max_contracts.yaml": None,
    "infeasible_power.yaml": None,
    "lead_time.yaml": 76_600_000,
    "max_contracts.yaml": 18_000_000,
    "max_sites.yaml": 24_000_000,
    "near_eligibility.yaml": 48_000_000,
    "pue_uptime.yaml": 18_132_000,
    "tenant_share.yaml": 66_000_000,
    "wheeling.yaml": 18_023_733.333333333,
    # spec v2, part A
    "tail.yaml": _tail(),
    "tail_two_year_periods.yaml": _tail_two_year_periods(),
    "energy_recovery.yaml": 8_715_000,
    "group.yaml": 36_000_000,
    "fixed_allocation.yaml": 36_000_000,
    "tenant_capex_budget.yaml": 20_000_000,
    # spec v2, part D
    "debt_equal_rate.yaml": -10e6 + 12e6 / 1.08 + 12e6 / 1.08**2,
    "debt_low_rate.yaml": _debt_low_rate(),
    "debt_only_funding.yaml": 14e6 - 6e6 * (2 * _annuity(0.05, 2) - 1),
    "debt_high_rate_slack.yaml": -10e6 + 12e6 / 1.05 + 12e6 / 1.05**2,
    "debt_two_year_periods.yaml": _debt_two_year_periods(),
    "debt_negative_equity.yaml": _debt_low_rate() + 10e6,
    # spec v2, part C
    "blocks_curtail.yaml": 3_053_736,
    "blocks_beat_average.yaml": 5_256_000,
    "ai_firm_blocks.yaml": 3_568_500,
    "blocks_source_link.yaml": 5_737_800,
    "dr_credit.yaml": 8_523_900,
    "dr_blocks.yaml": 7_621_200 / 1.1,
    "dr_half_year_periods.yaml": 87_600 / 1.1**0.5 + 657_000 / 1.1,
    "one_block.yaml": 18_023_733.333333333,
    "two_blocks_equal_prices.yaml": 18_132_000,
}

PART_C_FILES = ("blocks_curtail.yaml", "blocks_beat_average.yaml", "ai_firm_blocks.yaml",
                "blocks_source_link.yaml", "dr_credit.yaml", "dr_blocks.yaml",
                "dr_half_year_periods.yaml", "one_block.yaml", "two_blocks_equal_prices.yaml")


def assert_agree(result: Any, ref_status: str, ref_npv: float | None, what: str) -> None:
    """The spec's agreement rule between the product's result and the reference."""
    status = str(result.status)
    assert status == ref_status, (
        f"{what}: product says {status} ({result.objective_npv_usd}), "
        f"reference says {ref_status} ({ref_npv})"
    )
    if ref_status != "optimal":
        return
    a, b = float(result.objective_npv_usd), float(ref_npv)  # type: ignore[arg-type]
    g = max(result.mip_gap or 0.0, 1e-4)
    tolerance = g * max(abs(a), abs(b)) + 1.0
    assert abs(a - b) <= tolerance, (
        f"{what}: product NPV {a:,.2f} USD, reference NPV {b:,.2f} USD, "
        f"difference {a - b:,.2f} > tolerance {tolerance:,.2f}"
    )


# --------------------------------------------------------------------------------------
# Hand-written instances, one rule each
# --------------------------------------------------------------------------------------


def test_every_data_file_has_an_expected_value() -> None:
    assert sorted(p.name for p in DATA.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hand_written(name: str) -> None:
    path = DATA / name
    inst = portfolio_opt.load_instance(path)
    ref = reference_solve(inst.model_dump(by_alias=True))
    expected = EXPECTED[name]
    if expected is None:
        assert ref.status == "infeasible"
    else:
        assert ref.status == "optimal"
        assert ref.npv_usd == pytest.approx(expected, rel=1e-9, abs=1e-3)
        assert_reported_identity(ref, name)
    assert_agree(portfolio_opt.solve(path), ref.status, ref.npv_usd, name)


def assert_reported_identity(ref: Any, what: str) -> None:
    """v2 A and D: objective_npv_usd = sum of `discounted` + terminal_value_usd
    - debt_after_horizon_usd (the reference's own report of its plan)."""
    parts = ref.discounted_usd + ref.terminal_value_usd - ref.debt_after_horizon_usd
    assert parts == pytest.approx(ref.npv_usd, rel=1e-9, abs=1e-3), what


def assert_product_identity(result: Any, what: str) -> None:
    """The same identity on the product's reported cash flows and totals."""
    totals = result.summary()
    parts = (float(result.cashflows["discounted"].sum()) + totals["terminal_value_usd"]
             - totals["debt_after_horizon_usd"])
    assert parts == pytest.approx(result.objective_npv_usd, rel=1e-9, abs=1e-2), (
        f"{what}: the product's discounted cash flows + TV - debt after the horizon = "
        f"{parts:,.2f}, its objective_npv_usd = {result.objective_npv_usd:,.2f}")


def test_reference_imports_nothing_from_the_product() -> None:
    """tests/reference stays independent: no import of portfolio_opt anywhere in it."""
    import ast

    for path in (Path(__file__).parent / "reference").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "portfolio_opt" for n in names), path.name


@pytest.mark.parametrize("name", sorted(n for n, v in EXPECTED.items() if v is not None))
def test_reference_applies_the_defaults(name: str) -> None:
    """The file as written (defaults left out) gives the reference the same NPV."""
    from ruamel.yaml import YAML

    raw = YAML(typ="safe").load((DATA / name).read_text())
    status, npv = reference_npv(raw)
    assert status == "optimal"
    assert npv == pytest.approx(EXPECTED[name], rel=1e-9, abs=1e-3)


# --------------------------------------------------------------------------------------
# v2 hand-written instances: reported parts, and the same files with one rule undone
# --------------------------------------------------------------------------------------

V2_FILES = sorted(n for n in EXPECTED if n.startswith(("tail", "energy_recovery", "group",
                                                         "fixed_allocation", "tenant_capex",
                                                         "debt")))

# Reported totals fixed by the hand computation (the optimal plan is unique in these).
V2_TOTALS: dict[str, dict[str, float]] = {
    "tail.yaml": {"terminal_value_usd": _tail() - 5_744_000 / 1.1 - 5_984_000 / 1.21},
    "tail_two_year_periods.yaml": {
        "terminal_value_usd": _tail_two_year_periods() - 27_504_000 / 1.05**4},
    "debt_equal_rate.yaml": {"terminal_value_usd": 0.0},
    "debt_low_rate.yaml": {
        "debt_principal_usd": 5e6,
        "debt_after_horizon_usd": 5e6 * _annuity(0.05, 4) * (1.1**-3 + 1.1**-4)},
    "debt_only_funding.yaml": {"debt_principal_usd": 6e6, "debt_after_horizon_usd": 0.0},
    "debt_negative_equity.yaml": {
        "debt_principal_usd": 5e6,
        "debt_after_horizon_usd": 5e6 * _annuity(0.05, 4) * (1.1**-3 + 1.1**-4)},
    "debt_high_rate_slack.yaml": {"debt_principal_usd": 0.0,
                                  "debt_after_horizon_usd": 0.0},
    "debt_two_year_periods.yaml": {
        "debt_principal_usd": 5e6,
        "debt_after_horizon_usd": 5e6 * _annuity(0.03, 5) * sum(1.06**-y for y in (5, 6, 7))},
}


# cashflows.csv columns compared period by period where the optimal plan is unique (in
# debt_equal_rate.yaml any loan up to the limit is optimal, so its debt columns are not).
V2_COLUMNS = ["energy_recovery", "tenant_capex", "debt_drawn", "debt_service", "net",
              "discounted"]


@pytest.mark.parametrize("name", V2_FILES)
def test_v2_reported_parts(name: str) -> None:
    result = portfolio_opt.solve(DATA / name)
    ref = reference_solve(portfolio_opt.load_instance(DATA / name))
    for key, value in V2_TOTALS.get(name, {}).items():
        assert getattr(ref, key) == pytest.approx(value, rel=1e-9, abs=1e-3), (name, key)
        assert result.summary()[key] == pytest.approx(value, rel=1e-7, abs=1e-2), (name, key)
    assert_product_identity(result, name)
    if name != "debt_equal_rate.yaml":
        flows = result.cashflows.set_index("period")
        for row in ref.periods:
            for column in V2_COLUMNS:
                assert flows.loc[row["period"], column] == pytest.approx(
                    row[column], rel=1e-7, abs=1e-2), (name, row["period"], column)
    # contracts.csv tail_value_usd: the contract's part of TV
    tails = result.contracts.set_index("contract")["tail_value_usd"]
    for contract, value in ref.tail_by_contract.items():
        assert tails[contract] == pytest.approx(value, rel=1e-7, abs=1e-2), (name, contract)


def _without(*path: str | int) -> Any:
    """A change to an instance dict: drop the key at ``path`` (the tail price with the
    tail: it is an error without one)."""
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])
        if path == ("horizon", "terminal_value"):
            node.pop("tail_energy_price_usd_per_mwh")
    return change


def _set(value: Any, *path: str | int) -> Any:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


# (file, what is undone, the change, the NPV worked out by hand in the file's comment)
UNDONE = [
    ("tail.yaml", "no tail", _without("horizon", "terminal_value"),
     5_744_000 / 1.1 + 5_984_000 / 1.21),
    ("energy_recovery.yaml", "no recovery: the lease loses money", _without(
        "contracts", 0, "energy_recovery_usd_per_mwh"), 0.0),
    ("group.yaml", "no group: both leases", _without("contracts", 1, "group"), 62_400_000),
    ("fixed_allocation.yaml", "x flexible", _set("flexible", "contracts", 0, "allocation"),
     45_600_000),
    ("tenant_capex_budget.yaml", "contribution paid at the start (period 2)",
     _without("contracts", 0, "tenant_capex_period"), 0.0),
    ("tenant_capex_budget.yaml", "no contribution",
     _without("contracts", 0, "tenant_capex_usd_per_it_mw"), 0.0),
    ("debt_equal_rate.yaml", "no debt", _without("finance"), EXPECTED["debt_equal_rate.yaml"]),
    ("debt_low_rate.yaml", "no debt", _without("finance"), -10e6 + 12e6 / 1.1 + 12e6 / 1.21),
    ("debt_only_funding.yaml", "no debt: the hall cannot start", _without("finance"), 0.0),
    ("debt_high_rate_slack.yaml", "no debt", _without("finance"),
     EXPECTED["debt_high_rate_slack.yaml"]),
]


@pytest.mark.parametrize(("name", "what", "change", "expected"), UNDONE,
                         ids=[f"{u[0]}-{u[1]}" for u in UNDONE])
def test_v2_rule_undone(name: str, what: str, change: Any, expected: float) -> None:
    """Each v2 file with its rule undone: the NPV its header comment gives for that case."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load((DATA / name).read_text())
    change(data)
    inst = validate_data(data, f"{name} ({what})")
    ref_status, ref_npv = reference_npv(inst.model_dump(by_alias=True))
    assert ref_status == "optimal"
    assert ref_npv == pytest.approx(expected, rel=1e-9, abs=1e-3)
    assert_agree(portfolio_opt.solve(inst), ref_status, ref_npv, f"{name} ({what})")


# --------------------------------------------------------------------------------------
# Random instances
# --------------------------------------------------------------------------------------



GENERATED = [(seed, 3 + seed % 6, 3 + seed % 4, 2 + seed % 5) for seed in range(15)]


@pytest.mark.parametrize(("seed", "sites", "periods", "contracts"), GENERATED)
def test_generated(seed: int, sites: int, periods: int, contracts: int) -> None:
    if _product_generator is not None:
        data = _product_generator(sites, periods, contracts, seed)
    else:  # pragma: no cover
        data = _small_instance(seed)
    if seed % 3 == 1:  # the generator draws yearly periods; try two-year ones too
        data["horizon"]["years_per_period"] = 2.0
    inst = validate_data(data, f"generated seed {seed}")
    ref_status, ref_npv = reference_npv(inst.model_dump(by_alias=True))
    assert_agree(portfolio_opt.solve(inst), ref_status, ref_npv, f"generated seed {seed}")


# 117 and 2000 (found in a longer sweep) start the first hall where the fixed capex meets a
# per-period budget.
@pytest.mark.parametrize("seed", [*range(60), 117, 2000])
def test_small_random(seed: int) -> None:
    inst = validate_data(_small_instance(seed), f"small random seed {seed}")
    ref_status, ref_npv = reference_npv(inst.model_dump(by_alias=True))
    assert_agree(portfolio_opt.solve(inst), ref_status, ref_npv, f"small random seed {seed}")


def _agree_v2(seed: int) -> None:
    data = _small_instance_v2(seed)
    inst = validate_data(data, f"small v2 seed {seed}")
    ref = reference_solve(inst.model_dump(by_alias=True))
    if ref.status == "optimal":
        assert_reported_identity(ref, f"small v2 seed {seed}")
    result = portfolio_opt.solve(inst)
    assert_agree(result, ref.status, ref.npv_usd, f"small v2 seed {seed}")
    if ref.status == "optimal":
        assert_product_identity(result, f"small v2 seed {seed}")


def test_small_v2_uses_every_field() -> None:
    """Over the seeds below, every v2 A and D field takes a non-default value."""
    seen: set[str] = set()
    for seed in V2_SEEDS:
        data = _small_instance_v2(seed)
        if data["horizon"]["terminal_value"] == "contract_tail":
            seen |= {"terminal_value", "tail_energy_price_usd_per_mwh"}
        seen |= {f"debt.{k}" for k in data["finance"]["debt"]}
        for c in data["contracts"]:
            seen |= {k for k in ("energy_recovery_usd_per_mwh", "tenant_capex_usd_per_it_mw",
                                 "group") if c[k]}
            if c["allocation"] == "fixed":
                seen.add("allocation")
            if c["tenant_capex_usd_per_it_mw"] and c["tenant_capex_period"] != c[
                    "start_period"]:
                seen.add("tenant_capex_period")
    assert seen == {
        "terminal_value", "tail_energy_price_usd_per_mwh", "energy_recovery_usd_per_mwh",
        "tenant_capex_usd_per_it_mw", "tenant_capex_period", "group", "allocation",
        "debt.max_loan_to_cost", "debt.interest_rate", "debt.tenor_years",
        "debt.max_total_usd"}


V2_SEEDS = list(range(30))


@pytest.mark.parametrize("seed", V2_SEEDS)
def test_small_random_v2(seed: int) -> None:
    _agree_v2(seed)


# --------------------------------------------------------------------------------------
# v2 part C: price blocks and demand response
# --------------------------------------------------------------------------------------


def _raw(name: str) -> dict[str, Any]:
    """A data file as written (no defaults applied), as a plain dict."""
    from ruamel.yaml import YAML

    return YAML(typ="safe").load((DATA / name).read_text())


def _averaged(data: dict[str, Any]) -> None:
    """Undo the blocks: drop market.blocks and replace every price mapping by its
    share-weighted average (per period). The averaged plan is a plan of the blocks (the
    same in every block, at the same energy cost), so the blocks' NPV is at least this."""
    blocks = data["market"].pop("blocks", None)
    if not blocks:
        return
    T = data["horizon"]["periods"]
    shares = {b["id"]: b["hours_share"] for b in blocks}

    def average(price: Any) -> Any:
        if not isinstance(price, dict):
            return price
        if all(not isinstance(v, list) for v in price.values()):
            return sum(shares[b] * v for b, v in price.items())
        per = {b: v if isinstance(v, list) else [v] * T for b, v in price.items()}
        return [sum(shares[b] * per[b][t] for b in per) for t in range(T)]

    for site in data["sites"]:
        if site.get("grid"):
            site["grid"]["price_usd_per_mwh"] = average(site["grid"]["price_usd_per_mwh"])
    for src in data.get("sources") or []:
        src["price_usd_per_mwh"] = average(src["price_usd_per_mwh"])


def _without_dr(data: dict[str, Any]) -> None:
    for site in data["sites"]:
        if site.get("btc"):
            site["btc"].pop("demand_response", None)


def _in_blocks(shares: dict[str, float]) -> Any:
    """A change that splits every period into blocks priced alike: each price becomes a
    mapping naming every block with the same series (which must leave the NPV as it is)."""
    def change(data: dict[str, Any]) -> None:
        data["market"]["blocks"] = [{"id": b, "hours_share": h} for b, h in shares.items()]
        for site in data["sites"]:
            if site.get("grid"):
                price = site["grid"]["price_usd_per_mwh"]
                site["grid"]["price_usd_per_mwh"] = dict.fromkeys(shares, price)
        for src in data.get("sources") or []:
            src["price_usd_per_mwh"] = dict.fromkeys(shares, src["price_usd_per_mwh"])
    return change


# (file, what is undone, the change, the NPV worked out by hand in the file's comment)
C_UNDONE = [
    ("blocks_curtail.yaml", "averaged prices", _averaged, 2_218_032),
    ("blocks_beat_average.yaml", "averaged prices", _averaged, 1_752_000),
    ("ai_firm_blocks.yaml", "averaged prices", _averaged, 1_816_500),
    ("blocks_source_link.yaml", "averaged prices", _averaged, 3_854_400),
    # a at 48: (90 - 57.6) * 10 + 60 = 384/h; b at 72: (90 - 72) * 10 + 100 = 280/h
    ("dr_blocks.yaml", "averaged prices", _averaged, 8760 * 664 / 1.1),
    ("dr_blocks.yaml", "no demand response", _without_dr, 8760 * 736 / 1.1),
    ("dr_credit.yaml", "no demand response", _without_dr, 7_446_000),
    ("dr_half_year_periods.yaml", "no demand response", _without_dr, 219_000 / 1.1),
    ("one_block.yaml", "no blocks", _averaged, EXPECTED["one_block.yaml"]),
    ("two_blocks_equal_prices.yaml", "no blocks", _averaged,
     EXPECTED["two_blocks_equal_prices.yaml"]),
]
C_UNDONE_IDS = [f"{u[0]}-{u[1]}" for u in C_UNDONE]


@pytest.mark.parametrize(("name", "what", "change", "expected"), C_UNDONE, ids=C_UNDONE_IDS)
def test_part_c_rule_undone_reference(name: str, what: str, change: Any,
                                      expected: float) -> None:
    """Each part C file with its rule undone: the NPV its header comment gives, never more
    than with the rule (blocks and demand response only add options)."""
    data = _raw(name)
    change(data)
    status, npv = reference_npv(data)
    assert status == "optimal"
    assert npv == pytest.approx(expected, rel=1e-9, abs=1e-3)
    assert npv <= EXPECTED[name] + 1e-3  # type: ignore[operator]


@pytest.mark.parametrize(("name", "what", "change", "expected"), C_UNDONE, ids=C_UNDONE_IDS)
def test_part_c_rule_undone(name: str, what: str, change: Any, expected: float) -> None:
    data = _raw(name)
    change(data)
    inst = validate_data(data, f"{name} ({what})")
    assert_agree(portfolio_opt.solve(inst), "optimal", expected, f"{name} ({what})")


# The plan of each part C file, per (site, period, block), from its header comment: these
# plans are unique. Block None: the file has no blocks.
C_PLANS: dict[str, dict[tuple[str, int, str | None], dict[str, float]]] = {
    "blocks_curtail.yaml": {
        ("a", 1, "peak"): {"btc_mw": 0, "grid_import_mw": 0},
        ("a", 1, "shoulder"): {"btc_mw": 10, "grid_import_mw": 12},
        ("a", 1, "offpeak"): {"btc_mw": 10, "grid_import_mw": 12},
        ("a", 2, "peak"): {"btc_mw": 0, "grid_import_mw": 0},
        ("a", 2, "shoulder"): {"btc_mw": 0, "grid_import_mw": 0},
        ("a", 2, "offpeak"): {"btc_mw": 10, "grid_import_mw": 12}},
    "blocks_beat_average.yaml": {
        ("a", t, b): {"btc_mw": 10.0 * (b == "off")} for t in (1, 2) for b in ("peak", "off")},
    "ai_firm_blocks.yaml": {
        ("a", 1, "peak"): {"btc_mw": 0, "grid_import_mw": 12.5},
        ("a", 1, "off"): {"btc_mw": 5, "grid_import_mw": 17.5}},
    "blocks_source_link.yaml": {
        ("m", 1, "peak"): {"btc_mw": 5, "grid_import_mw": 5},
        ("m", 1, "off"): {"btc_mw": 10, "grid_import_mw": 2}},
    "dr_credit.yaml": {
        ("a", 1, None): {"btc_mw": 10, "dr_mw": 8},
        ("b", 1, None): {"btc_mw": 10, "dr_mw": 12},
        ("c", 1, None): {"btc_mw": 5, "dr_mw": 5.5}},
    "dr_blocks.yaml": {
        ("a", 1, "peak"): {"btc_mw": 5, "dr_mw": 6},
        ("a", 1, "off"): {"btc_mw": 10, "dr_mw": 6},
        ("b", 1, "peak"): {"btc_mw": 0, "dr_mw": 0},
        ("b", 1, "off"): {"btc_mw": 10, "dr_mw": 10}},
    "dr_half_year_periods.yaml": {
        ("a", 1, None): {"btc_mw": 4, "dr_mw": 4}, ("a", 2, None): {"btc_mw": 10, "dr_mw": 4}},
    "two_blocks_equal_prices.yaml": {
        ("a", 1, b): {"btc_mw": 37.5, "grid_import_mw": 60} for b in ("day", "night")},
}
# dr_credit per period, by hand (0 in the other part C files).
C_DR_CREDIT = {"dr_credit.yaml": [1_275_000.0], "dr_blocks.yaml": [1_226_400.0],
               "dr_half_year_periods.yaml": [438_000.0, 438_000.0]}


@pytest.mark.parametrize("name", PART_C_FILES)
def test_part_c_reference_plan(name: str) -> None:
    """The reference's plan and dr_credit column are those of the header comment."""
    ref = reference_solve(_raw(name))
    assert ref.status == "optimal"
    assert_reported_identity(ref, name)
    periods = len(ref.periods)
    assert [row["dr_credit"] for row in ref.periods] == pytest.approx(
        C_DR_CREDIT.get(name, [0.0] * periods), rel=1e-9, abs=1e-3)
    for key, columns in C_PLANS.get(name, {}).items():
        for column, value in columns.items():
            assert ref.site_blocks[key][column] == pytest.approx(value, abs=1e-6), (key, column)


@pytest.mark.parametrize("name", PART_C_FILES)
def test_part_c_reported_parts(name: str) -> None:
    """The product's dr_credit column, its NPV identity, and its per-block and
    share-weighted site reports, against the reference's (unique) plan."""
    result = portfolio_opt.solve(DATA / name)
    ref = reference_solve(portfolio_opt.load_instance(DATA / name))
    assert_product_identity(result, name)
    flows = result.cashflows.set_index("period")
    for row in ref.periods:
        for column in ("btc_revenue", "ai_revenue", "energy_cost", "opex", "dr_credit",
                       "net", "discounted"):
            assert flows.loc[row["period"], column] == pytest.approx(
                row[column], rel=1e-7, abs=1e-2), (name, row["period"], column)
    if name == "one_block.yaml":  # grid imports unique, flows not (m may import via f)
        return
    sites = result.site_periods.set_index(["site", "period"])
    for (site, t), avg in ref.site_periods.items():
        for column in ("btc_mw", "grid_import_mw", "dr_mw", "gross_load_mw"):
            assert sites.loc[(site, t), column] == pytest.approx(avg[column], abs=1e-5), (
                name, site, t, column)
    if _raw(name)["market"].get("blocks"):
        assert result.site_period_blocks is not None, name
        blocks = result.site_period_blocks.set_index(["site", "period", "block"])
        for (site, t, b), row in ref.site_blocks.items():
            for column in ("btc_mw", "grid_import_mw", "dr_mw"):
                assert blocks.loc[(site, t, b), column] == pytest.approx(
                    row[column], abs=1e-5), (name, site, t, b, column)


# Every v1, A and D file split into blocks priced alike keeps its NPV (and status).
V1_AD_FILES = sorted(n for n in EXPECTED if n not in PART_C_FILES)
SPLITS = {"one block": {"all": 1.0}, "two blocks": {"day": 0.3, "night": 0.7},
          "three blocks": {"p": 0.2, "s": 0.35, "o": 0.45}}


@pytest.mark.parametrize("split", sorted(SPLITS))
@pytest.mark.parametrize("name", V1_AD_FILES)
def test_blocks_priced_alike_reference(name: str, split: str) -> None:
    data = _raw(name)
    _in_blocks(SPLITS[split])(data)
    status, npv = reference_npv(data)
    if EXPECTED[name] is None:
        assert status == "infeasible"
    else:
        assert status == "optimal"
        assert npv == pytest.approx(EXPECTED[name], rel=1e-9, abs=1e-3)


@pytest.mark.parametrize("split", ["one block", "three blocks"])
@pytest.mark.parametrize("name", V1_AD_FILES)
def test_blocks_priced_alike(name: str, split: str) -> None:
    data = _raw(name)
    _in_blocks(SPLITS[split])(data)
    inst = validate_data(data, f"{name} in {split}")
    expected = EXPECTED[name]
    assert_agree(portfolio_opt.solve(inst), "optimal" if expected is not None else
                 "infeasible", expected, f"{name} in {split}")



C_SEEDS = list(range(30))


def test_small_c_uses_every_field() -> None:
    """Over the seeds, part C appears in every form: 2 and 3 blocks, prices as mappings
    (blocks as numbers and as lists) and as plain series beside them, for grids and
    sources, demand response with and without blocks."""
    seen: set[str] = set()
    for seed in C_SEEDS:
        data = _small_instance_c(seed)
        blocks = data["market"].get("blocks") or []
        seen.add(f"{len(blocks)} blocks")
        prices = [("grid", s["grid"]["price_usd_per_mwh"]) for s in data["sites"]
                  if s.get("grid")]
        prices += [("source", g["price_usd_per_mwh"]) for g in data["sources"]]
        for kind, price in prices:
            if isinstance(price, dict):
                seen.add(f"{kind} mapping")
                seen |= {"block list" if isinstance(v, list) else "block number"
                         for v in price.values()}
            elif blocks:
                seen.add(f"{kind} plain with blocks")
        if any(s.get("btc", {}).get("demand_response") for s in data["sites"]):
            seen.add("demand response with blocks" if blocks else
                     "demand response without blocks")
    assert seen >= {"0 blocks", "2 blocks", "3 blocks", "grid mapping", "source mapping",
                    "block list", "block number", "grid plain with blocks",
                    "source plain with blocks", "demand response with blocks",
                    "demand response without blocks"}, seen


@pytest.mark.parametrize("seed", C_SEEDS)
def test_small_random_c_reference(seed: int) -> None:
    """The reference alone: its reported identity, and blocks worth at least their
    share-weighted average prices."""
    data = _small_instance_c(seed)
    ref = reference_solve(data)
    if ref.status != "optimal":
        return
    assert_reported_identity(ref, f"small c seed {seed}")
    if data["market"].get("blocks"):
        _averaged(data)
        status, averaged = reference_npv(data)
        assert status == "optimal"
        assert averaged <= ref.npv_usd + 1e-7 * abs(ref.npv_usd) + 1.0, seed  # type: ignore


@pytest.mark.parametrize("seed", C_SEEDS)
def test_small_random_c(seed: int) -> None:
    data = _small_instance_c(seed)
    inst = validate_data(data, f"small c seed {seed}")
    ref = reference_solve(inst.model_dump(by_alias=True))
    result = portfolio_opt.solve(inst)
    assert_agree(result, ref.status, ref.npv_usd, f"small c seed {seed}")
    if ref.status == "optimal":
        assert_product_identity(result, f"small c seed {seed}")


# Seeds (found in sweeps of seeds 30-199) where solve() with its MIP start returned a plan
# worse than its own bound while reporting a gap of 0: HiGHS 1.16.0, given a start and with
# presolve on, reported the optimum's objective but handed back the start as its solution.
# Without the start the product agreed with the reference.
MIP_START_SEEDS = [("v2", seed) for seed in (59, 78, 136, 159, 162, 197)] + [
    ("c", seed) for seed in (136, 159)]


@pytest.mark.parametrize(("draw", "seed"), MIP_START_SEEDS)
def test_small_random_after_the_mip_start(draw: str, seed: int) -> None:
    what = f"small {draw} seed {seed}"
    data = _small_instance_v2(seed) if draw == "v2" else _small_instance_c(seed)
    inst = validate_data(data, what)
    ref = reference_solve(inst.model_dump(by_alias=True))
    assert_agree(portfolio_opt.solve(inst, mip_start=False), ref.status, ref.npv_usd,
                 f"{what}, without the MIP start")
    result = portfolio_opt.solve(inst)
    assert_agree(result, ref.status, ref.npv_usd, f"{what}, with the MIP start")
    assert_product_identity(result, what)


# --------------------------------------------------------------------------------------
# The product next to other HiGHS users in one process
# --------------------------------------------------------------------------------------


def test_solve_after_another_highs_run_in_the_same_process() -> None:
    """A HiGHS run with default options earlier in the process must not break solve().

    HiGHS keeps one thread scheduler per process; a later run that asks for a different
    thread count fails unless the scheduler is reset. A notebook or a test session that
    used highspy first must still get a solution. Run in a fresh interpreter, since the
    scheduler outlives every Highs object.
    """
    code = textwrap.dedent(f"""
        import json, highspy, portfolio_opt
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.addVars(1, [0.0], [1.0])
        h.run()
        result = portfolio_opt.solve({str(DATA / "directed.yaml")!r})
        print(json.dumps([str(result.status), result.objective_npv_usd, result.message]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    status, npv, message = json.loads(out.strip().splitlines()[-1])
    assert status == "optimal", f"solve() after another HiGHS run: {status}: {message}"
    assert npv == pytest.approx(19_272_000)
