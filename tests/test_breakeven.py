"""Breakevens: found values match hand-derived ones and cold single solves confirm each side.

Every instance here has one period, no discounting, PUEs 1, no opex, so each plan's NPV is
a line of arithmetic (derived in each test's comment). A reported breakeven is trusted
only when :func:`portfolio_opt.solve` (a fresh model, the ``exact`` profile) at
breakeven - tol and breakeven + tol puts the site on the stated sides.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import portfolio_opt
from portfolio_opt.batch.breakeven import (
    AI_TOL,
    BREAKEVEN_COLUMNS,
    PORTFOLIO,
    find_breakevens,
    run_breakeven,
)
from portfolio_opt.batch.paths import apply_overrides

ROOT = Path(__file__).resolve().parent.parent
HASHPRICE = "market.hashprice_usd_per_ph_day"
BUDGET = "limits.capex_budget_usd"


def one_site() -> dict[str, Any]:
    """A 100 MW site: keep 100 MW of ASICs hashing, or build one 100 IT MW hall for a lease.

    Per MW-year: BTC revenue hp * (1000/20) * 365 = 18,250 hp; energy 50 * 8760 = 438,000;
    lease 100 USD/kW-month * 12,000 = 1,200,000; hall capex 500,000 per IT MW.
    Mining:  100 * (18,250 hp - 438,000).
    AI:      100 * (1,200,000 - 438,000 - 500,000) = 26,200,000 (the hall fills the
             envelope, so no ASIC hashes beside it; the contract is all-or-nothing).
    AI wins exactly when 18,250 hp < 700,000, i.e. hp < X = 700,000 / 18,250 = 38.3562...
    """
    return {
        "name": "one-site",
        "horizon": {"periods": 1},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [{
            "id": "a", "capacity_mw": 100,
            "grid": {"capacity_mw": 100, "price_usd_per_mwh": 50},
            "btc": {"fleet_mw": 100, "efficiency_j_per_th": 20},
            "ai": {"max_it_mw": 100, "block_it_mw": 100, "capex_usd_per_it_mw": 500_000,
                   "lead_time_periods": 0, "pue": 1.0},
        }],
        "contracts": [{"id": "lease", "tenant": "t", "it_mw": {"min": 100, "max": 100},
                       "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 1}],
    }


HASHPRICE_X = 700_000 / 18_250


def two_sites(committed: bool = False) -> dict[str, Any]:
    """One 10 IT MW lease (12 MUSD of revenue) that site a or site b can host.

    a: energy 10 * 50 * 8760 = 4.38 MUSD, hall 10 * 100,000 = 1.0 MUSD -> NPV 6.62 MUSD.
    b: energy 10 * 10 * 8760 = 0.876 MUSD, hall 10 * 300,000 = 3.0 MUSD -> NPV 8.124 MUSD.
    With a capex budget B: B < 1.0 MUSD nothing (NPV 0); 1.0 <= B < 3.0 site a;
    B >= 3.0 site b. So a enters AI at 1.0 MUSD and leaves at 3.0 MUSD (two flips of one
    site), b enters at 3.0 MUSD, the portfolio enters at 1.0 MUSD.
    """
    def site(sid: str, price: float, capex: float) -> dict[str, Any]:
        return {"id": sid, "capacity_mw": 10,
                "grid": {"capacity_mw": 10, "price_usd_per_mwh": price},
                "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": capex,
                       "lead_time_periods": 0, "pue": 1.0}}

    return {
        "name": "two-sites",
        "horizon": {"periods": 1},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [site("a", 50, 100_000), site("b", 10, 300_000)],
        "contracts": [{"id": "lease", "tenant": "t", "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 1,
                       "committed": committed}],
        "limits": {"capex_budget_usd": 5_000_000},
    }


def ai_mw_periods(inst: portfolio_opt.Instance, param: str, x: float, who: str,
                  scale: bool = False) -> float:
    """AI IT MW-periods of ``who`` in the optimum of a fresh, cold solve at ``x``."""
    variant = apply_overrides(inst, {param: x}, scale=scale)
    result = portfolio_opt.solve(variant, profile="exact", marginal_values=False)
    assert result.status == "optimal", result.message
    served = result.site_periods.groupby("site")["ai_served_it_mw"].sum()
    return float(served.sum()) if who == PORTFOLIO else float(served.get(who, 0.0))


def assert_confirmed(inst: portfolio_opt.Instance, table: pd.DataFrame, param: str,
                     lo: float, hi: float, scale: bool = False) -> None:
    """Every row: the plan at breakeven - tol / + tol is on the stated side."""
    for r in table.itertuples(index=False):
        below = ai_mw_periods(inst, param, max(lo, r.breakeven - r.tolerance), r.site, scale)
        above = ai_mw_periods(inst, param, min(hi, r.breakeven + r.tolerance), r.site, scale)
        if r.direction == "to_ai":
            assert below <= AI_TOL < above, (r, below, above)
        else:
            assert above <= AI_TOL < below, (r, below, above)


def test_hashprice_breakeven_matches_hand_derivation() -> None:
    inst = portfolio_opt.Instance.model_validate(one_site())
    table = find_breakevens(inst, HASHPRICE, 20.0, 60.0)
    tol = 1e-3 * (60 - 20)
    assert list(table.columns) == BREAKEVEN_COLUMNS
    assert table.attrs["tolerance"] == pytest.approx(tol)
    assert list(table["site"]) == [PORTFOLIO, "a"]
    for r in table.itertuples(index=False):
        assert r.direction == "to_btc"  # AI below X, mining above
        assert abs(r.breakeven - HASHPRICE_X) <= tol / 2
        assert r.bracket_low < HASHPRICE_X < r.bracket_high
        assert r.bracket_high - r.bracket_low <= tol
        assert r.ai_it_mw_periods_below == pytest.approx(100.0)
        assert r.ai_it_mw_periods_above == 0.0
        assert r.npv_below_usd == pytest.approx(26_200_000.0, abs=1.0)
        assert r.npv_above_usd == pytest.approx(100 * (18_250 * r.bracket_high - 438_000),
                                                abs=1.0)
        assert r.verified
    assert_confirmed(inst, table, HASHPRICE, 20.0, 60.0)


def test_a_site_that_flips_twice_reports_both_flips() -> None:
    inst = portfolio_opt.Instance.model_validate(two_sites())
    res = run_breakeven(inst, BUDGET, 0.0, 5_000_000.0, verify=False)
    tol = 5_000.0
    got = [(r.site, r.direction, r.breakeven) for r in res.table.itertuples(index=False)]
    expected = [(PORTFOLIO, "to_ai", 1e6), ("a", "to_ai", 1e6), ("a", "to_btc", 3e6),
                ("b", "to_ai", 3e6)]
    assert [(s, d) for s, d, _ in got] == [(s, d) for s, d, _ in expected]
    for (_, _, x), (_, _, want) in zip(got, expected, strict=True):
        assert abs(x - want) <= tol
    npv = dict(zip(res.table["direction"] + res.table["site"], res.table["npv_above_usd"],
                   strict=True))
    assert npv["to_aia"] == pytest.approx(6_620_000.0, abs=1.0)
    assert npv["to_aib"] == pytest.approx(8_124_000.0, abs=1.0)
    assert res.total_solves == len(res.scan["value"].unique())
    assert res.rebuilds == 1  # one model, every other value a parameter update
    assert_confirmed(inst, res.table, BUDGET, 0.0, 5_000_000.0)


def test_no_flip_in_range_gives_an_empty_table_and_says_so() -> None:
    inst = portfolio_opt.Instance.model_validate(one_site())
    table = find_breakevens(inst, HASHPRICE, 50.0, 60.0)  # mining wins throughout (X < 50)
    assert table.empty
    assert list(table.columns) == BREAKEVEN_COLUMNS
    assert "no flip" in table.attrs["message"]
    assert table.attrs["total_solves"] == 9  # the grid only: nothing to bisect


def test_scaled_series_breakeven_on_the_tutorial_is_confirmed_by_cold_solves() -> None:
    """Hashprice scaled as a whole series (its halving shape kept) on the tutorial."""
    inst = portfolio_opt.load_instance(ROOT / "instances" / "tutorial.yaml")
    param = "contracts[hyperscaler-offer].rate_usd_per_kw_month"
    res = run_breakeven(inst, param, 50.0, 300.0, verify=False)
    assert len(res.table) >= 1
    assert_confirmed(inst, res.table, param, 50.0, 300.0)
    res = run_breakeven(inst, HASHPRICE, 0.2, 3.0, scale=True, verify=False)
    assert_confirmed(inst, res.table, HASHPRICE, 0.2, 3.0, scale=True)


def test_values_without_a_plan_are_reported_and_not_bracketed() -> None:
    """With the lease committed, budgets under 1.0 MUSD are infeasible (see two_sites)."""
    inst = portfolio_opt.Instance.model_validate(two_sites(committed=True))
    res = run_breakeven(inst, BUDGET, 0.0, 5_000_000.0, verify=False)
    assert [(r.site, r.direction) for r in res.table.itertuples(index=False)] == [
        ("a", "to_btc"), ("b", "to_ai")]
    assert abs(res.table["breakeven"].iloc[0] - 3e6) <= 5_000
    assert any("infeasible" in n for n in res.notes)
    statuses = res.scan.drop_duplicates("value").set_index("value")["status"]
    assert set(statuses[statuses.index < 1e6]) == {"infeasible"}
    assert set(statuses[statuses.index > 1e6]) == {"optimal"}


@pytest.mark.slow
def test_re_solves_after_an_infeasible_value_are_still_proven_optimal() -> None:
    """An infeasible value (and its diagnosis) must not change how later values solve.

    On the realistic instance a zero budget is infeasible (its committed contract needs
    capex); the value after it must reach the same NPV as a cold solve. (The diagnosis
    once set mip_max_improving_sols = 1 on the engine's HiGHS instance, and the next
    re-solve stopped at its first plan.)
    """
    inst = portfolio_opt.load_instance(ROOT / "instances" / "us_portfolio.yaml")
    # Loans and the tenant-funded offer would fund what the zero budget cannot.
    inst.finance = None
    inst.contracts = [c for c in inst.contracts if c.tenant_capex_usd_per_it_mw == 0]
    res = run_breakeven(inst, BUDGET, 0.0, 1.5e9, grid=2, verify=False)
    at = res.scan.drop_duplicates("value").set_index("value")
    assert at.loc[0.0, "status"] == "infeasible"
    assert at.loc[1.5e9, "status"] == "optimal"
    cold = portfolio_opt.solve(apply_overrides(inst, {BUDGET: 1.5e9}), profile="exact",
                               marginal_values=False)
    assert at.loc[1.5e9, "objective_npv_usd"] == pytest.approx(cold.objective_npv_usd,
                                                               rel=1e-7)


def test_invalid_arguments_are_input_errors() -> None:
    inst = portfolio_opt.Instance.model_validate(one_site())
    with pytest.raises(portfolio_opt.InputError, match="LO < HI"):
        run_breakeven(inst, HASHPRICE, 60.0, 20.0)
    with pytest.raises(portfolio_opt.InputError, match="nearest valid paths"):
        run_breakeven(inst, "market.hashprize", 20.0, 60.0)
    with pytest.raises(portfolio_opt.InputError, match=">= 0"):  # the format refuses -5
        run_breakeven(inst, HASHPRICE, -5.0, 60.0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio_opt", "breakeven", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_cli_writes_the_table_scan_and_pictures(tmp_path: Path) -> None:
    src = tmp_path / "one.json"
    src.write_text(json.dumps(one_site()), encoding="utf-8")
    out = tmp_path / "out"
    proc = _cli(str(src), "--param", HASHPRICE, "--range", "20", "60", "--out", str(out),
                "--plot", "--no-verify")
    assert proc.returncode == 0, proc.stderr
    assert "within 0.04" in proc.stdout
    table = pd.read_csv(out / "breakevens.csv")
    assert list(table["site"]) == [PORTFOLIO, "a"]
    assert abs(table["breakeven"].iloc[1] - HASHPRICE_X) <= 0.02
    meta = json.loads((out / "breakeven.json").read_text(encoding="utf-8"))
    assert meta["tolerance"] == pytest.approx(0.04) and meta["flips"] == 2
    scan = pd.read_csv(out / "breakeven_scan.csv")
    assert meta["total_solves"] == scan["value"].nunique()
    assert (out / "breakevens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "breakevens.svg").stat().st_size > 1000


def test_cli_bad_path_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "one.json"
    src.write_text(json.dumps(one_site()), encoding="utf-8")
    out = tmp_path / "out"
    proc = _cli(str(src), "--param", "sites[b].ai.capex_usd_per_it_mw", "--range", "0", "1",
                "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.startswith("InputError:") and "Traceback" not in proc.stderr
    assert "sites[a].ai.capex_usd_per_it_mw" in proc.stderr  # the nearest valid path
    assert not out.exists()


# --- spec v2: project debt and alternative deal structures ------------------------------

RATE = "finance.debt.interest_rate"
CONTRIBUTION = "contracts[tenant-funded].tenant_capex_usd_per_it_mw"


def debt_only_hall(tenor: int) -> dict[str, Any]:
    """One 10 IT MW hall at 5 MUSD per IT MW (C = 50 MUSD, period 1, no lead time) for a
    3-year lease at 175 USD/kW-month (21 MUSD a year), free power, r = 10 %.

    Unlevered: U = 21e6 * A(3) - 50e6 = 2,223,891.81, A(n) = sum_{k<=n} 1.1^-k.
    The equity budget of period 1 is 10 MUSD, so the hall needs a loan L >= 40 MUSD, and
    the loan-to-cost of 0.8 caps it at 40 MUSD: L = 40 MUSD whatever the rate. The lease is
    not committed, so the plan is this hall (NPV U + L (1 - a(i) A(n)), a(i) the annuity
    factor) or nothing (NPV 0): the hall is built iff its levered NPV >= 0.
    """
    return {
        "name": "debt-only-hall",
        "horizon": {"periods": 3, "discount_rate": 0.10},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [{"id": "a", "capacity_mw": 100,
                   "grid": {"capacity_mw": 100, "price_usd_per_mwh": 0},
                   "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 5e6,
                          "lead_time_periods": 0, "pue": 1.0}}],
        "contracts": [{"id": "lease", "tenant": "t", "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 175, "start_period": 1, "term_periods": 3}],
        "limits": {"capex_budget_usd_per_period": 10e6},
        "finance": {"debt": {"max_loan_to_cost": 0.8, "interest_rate": 0.075,
                             "tenor_years": tenor}},
    }


def annuity_pv(n: int, r: float = 0.10) -> float:
    return sum((1 + r) ** -k for k in range(1, n + 1))


def annuity(i: float, n: int) -> float:
    return i / (1 - (1 + i) ** -n) if i else 1 / n


UNLEVERED = 21e6 * annuity_pv(3) - 50e6
LOAN = 40e6


def levered_npv(i: float, tenor: int) -> float:
    return UNLEVERED + LOAN * (1 - annuity(i, tenor) * annuity_pv(tenor))


def test_interest_rate_breakeven_with_a_one_year_loan_is_the_closed_form(tmp_path) -> None:
    """Tenor 1: the loan is repaid as L (1 + i) at the end of year 1, so the levered NPV is
    U + L - L (1 + i) / 1.1 = U - L (i - 0.1) / 1.1, zero at i* = 0.1 + 1.1 U / L."""
    i_star = 0.1 + 1.1 * UNLEVERED / LOAN
    assert round(UNLEVERED, 2) == 2_223_891.81
    assert i_star == pytest.approx(0.1611570, abs=1e-7)
    src = tmp_path / "hall.json"
    src.write_text(json.dumps(debt_only_hall(tenor=1)), encoding="utf-8")
    out = tmp_path / "out"
    proc = _cli(str(src), "--param", RATE, "--range", "0", "0.2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "breakevens.csv")
    assert list(table["site"]) == [PORTFOLIO, "a"]
    tol = 1e-3 * 0.2
    for r in table.itertuples(index=False):
        assert r.direction == "to_btc"  # built below i*, nothing above
        assert abs(r.breakeven - i_star) <= tol / 2
        assert r.bracket_low < i_star < r.bracket_high
        assert r.npv_below_usd == pytest.approx(UNLEVERED - LOAN * (r.bracket_low - 0.1) / 1.1,
                                                abs=1.0)
        assert r.npv_above_usd == 0.0
        assert r.verified
    meta = json.loads((out / "breakeven.json").read_text(encoding="utf-8"))
    assert meta["model_rebuilds"] == 1  # every rate a parameter update, never a rebuild


def test_interest_rate_breakeven_with_a_five_year_loan() -> None:
    """Tenor 5: zero levered NPV where a(i*) = (U + L) / (L A(5)) = 0.2784639; i* found here
    by bisecting that arithmetic alone (no solver): 12.153 %."""
    a_star = (UNLEVERED + LOAN) / (LOAN * annuity_pv(5))
    lo, hi = 0.0, 0.2
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if annuity(mid, 5) < a_star else (lo, mid)
    i_star = 0.5 * (lo + hi)
    assert a_star == pytest.approx(0.2784639, abs=1e-7)
    assert i_star == pytest.approx(0.1215328, abs=1e-7)
    assert levered_npv(i_star, 5) == pytest.approx(0.0, abs=1e-3)
    inst = portfolio_opt.Instance.model_validate(debt_only_hall(tenor=5))
    res = run_breakeven(inst, RATE, 0.0, 0.2)
    assert [(r.site, r.direction) for r in res.table.itertuples(index=False)] == [
        (PORTFOLIO, "to_btc"), ("a", "to_btc")]
    for r in res.table.itertuples(index=False):
        assert abs(r.breakeven - i_star) <= r.tolerance / 2
        assert r.npv_below_usd == pytest.approx(levered_npv(r.bracket_low, 5), abs=1.0)
        assert r.verified
    assert res.rebuilds == 1
    assert_confirmed(inst, res.table, RATE, 0.0, 0.2)


def two_structures(r: float = 0.0) -> dict[str, Any]:
    """One offer of 10 IT MW for 3 years in two structures (one `group`), one hall of
    50 MUSD either way, free power, r = 0:

    operator-funded at 150 USD/kW-month: 150 * 12,000 * 10 * 3 - 50e6 = 4,000,000;
    tenant-funded at 100 USD/kW-month with x per IT MW from the tenant:
        100 * 12,000 * 10 * 3 - 50e6 + 10 x = -14,000,000 + 10 x.
    Equal at x* = 12,000 * (150 - 100) * 3 = 1,800,000 USD per IT MW: the tenant-funded
    structure is accepted above x*, the operator-funded one below. The hall is built
    either way, so no site changes state.
    """
    def offer(cid: str, rate: float, **extra: Any) -> dict[str, Any]:
        return {"id": cid, "tenant": "t", "it_mw": {"min": 10, "max": 10},
                "rate_usd_per_kw_month": rate, "start_period": 1, "term_periods": 3,
                "group": "offer", **extra}

    return {
        "name": "two-structures",
        "horizon": {"periods": 3, "discount_rate": r},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [{"id": "a", "capacity_mw": 100,
                   "grid": {"capacity_mw": 100, "price_usd_per_mwh": 0},
                   "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 5e6,
                          "lead_time_periods": 0, "pue": 1.0}}],
        "contracts": [offer("operator-funded", 150),
                      offer("tenant-funded", 100, tenant_capex_usd_per_it_mw=1e6)],
    }


def test_tenant_capex_breakeven_between_two_structures_of_one_offer() -> None:
    x_star = 12_000 * (150 - 100) * 3
    assert x_star == 1_800_000
    inst = portfolio_opt.Instance.model_validate(two_structures())
    res = run_breakeven(inst, CONTRIBUTION, 0.5e6, 4e6)
    got = [(r.site, r.kind, r.direction) for r in res.table.itertuples(index=False)]
    assert got == [("operator-funded", "contract", "declined"),
                   ("tenant-funded", "contract", "accepted")]
    for r in res.table.itertuples(index=False):
        assert abs(r.breakeven - x_star) <= r.tolerance / 2
        assert r.npv_below_usd == pytest.approx(4e6, abs=1.0)
        assert r.npv_above_usd == pytest.approx(-14e6 + 10 * r.bracket_high, abs=1.0)
        assert r.verified
    # 30 IT MW-periods of the accepted structure on each side
    assert list(res.table["ai_it_mw_periods_below"]) == pytest.approx([30.0, 0.0])
    assert list(res.table["ai_it_mw_periods_above"]) == pytest.approx([0.0, 30.0])
    assert res.rebuilds == 1  # positive contributions only: parameter updates
    scan = res.scan
    assert set(scan["kind"]) == {"portfolio", "site", "contract"}
    assert (scan.loc[scan["kind"] == "site", "ai_it_mw_periods"] == 30.0).all()
    # from a zero contribution the structure changes once (tenant capex enters the
    # model): one more build, the same breakeven
    res0 = run_breakeven(inst, CONTRIBUTION, 0.0, 4e6, verify=False)
    assert res0.rebuilds == 2
    assert abs(res0.table["breakeven"].iloc[0] - x_star) <= res0.tol / 2
