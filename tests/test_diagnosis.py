"""Infeasibility explained in the instance's words: one instance per cause, the numbers
derived by hand in each comment; the data checks never claim infeasibility wrongly; the
IIS rows name the rules; the CLI exits 3 with the explanation and writes diagnosis.json.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import portfolio_opt as po
from portfolio_opt.api import build
from portfolio_opt.diagnose import data_checks


def instance(sites: list[dict[str, Any]], contracts: list[dict[str, Any]], periods: int = 2,
             **extra: Any) -> dict[str, Any]:
    return {"name": "stuck", "horizon": {"periods": periods},
            "market": {"hashprice_usd_per_ph_day": 40}, "sites": sites,
            "contracts": contracts, **extra}


def ai_site(sid: str, grid: float | None = 1000, capacity: float = 1000, **ai: Any
            ) -> dict[str, Any]:
    s: dict[str, Any] = {"id": sid, "capacity_mw": capacity,
                         "ai": {"block_it_mw": 50, "capex_usd_per_it_mw": 0, **ai}}
    if grid is not None:
        s["grid"] = {"capacity_mw": grid, "price_usd_per_mwh": 30}
    return s


def signed(cid: str, need: float, start: int = 1, **c: Any) -> dict[str, Any]:
    return {"id": cid, "tenant": c.pop("tenant", "acme"), "it_mw": {"min": need, "max": need},
            "rate_usd_per_kw_month": 120, "start_period": start, "term_periods": 1,
            "committed": True, **c}


def diagnose(data: dict[str, Any]) -> tuple[po.Result, dict[str, Any]]:
    res = po.solve(data, profile="exact")
    assert res.status == "infeasible"
    assert res.diagnosis is not None
    assert res.diagnosis["message"] == res.message
    json.dumps(res.diagnosis, allow_nan=False)  # diagnosis.json can hold it
    return res, res.diagnosis


def cause(diag: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in diag["causes"] if c["kind"] == kind]
    assert len(found) == 1, [c["kind"] for c in diag["causes"]]
    assert found[0]["text"] in diag["message"]
    return found[0]


def ids(entry: dict[str, Any], kind: str) -> set[str]:
    return {e["id"] for e in entry["entities"] if e["type"] == kind}


def families(diag: dict[str, Any]) -> set[str]:
    return {r["family"] for r in diag["iis"]["rows"]}


# --------------------------------------------------------------------------- one per cause


def test_capacity_two_eligible_sites_short_of_the_contract():
    # 'x' needs 200 IT MW from period 2 at 'a' or 'b' (max_sites 2). Halls of 50 IT MW with
    # lead time 1 started in period 1 are ready in period 2: 'a' holds 100 (max_it_mw),
    # 'b' 50: at most 150 < 200.
    data = instance([ai_site("a", max_it_mw=100, lead_time_periods=1),
                     ai_site("b", max_it_mw=50, lead_time_periods=1)],
                    [signed("x", 200, start=2, max_sites=2, eligible={"sites": ["a", "b"]})])
    res, diag = diagnose(data)
    c = cause(diag, "capacity")
    assert ids(c, "contract") == {"x"} and ids(c, "site") == {"a", "b"}
    assert c["numbers"]["need_it_mw"] == 200 and c["numbers"]["available_it_mw"] == 150
    assert c["numbers"]["sites"] == {"a": 100, "b": 50}
    for text in ("'x' needs 200 IT MW from period 2", "at most 150 IT MW available by period 2",
                 "'a' 100", "'b' 50", "lead time 1", "max_it_mw 100", "max_it_mw 50"):
        assert text in res.message
    assert diag["clashing_contracts"] == ["x"]
    assert diag["iis"]["relaxation"] == "infeasible"
    assert diag["iis"]["status"] == "irreducible"
    assert {"contract_min", "contract_serve"} <= families(diag)


def test_lead_time_no_hall_ready_by_the_start():
    # A hall started in period 1 with lead time 2 serves from period 3: nothing by period 2.
    data = instance([ai_site("a", max_it_mw=100, lead_time_periods=2)],
                    [signed("x", 50, start=2)], periods=3)
    res, diag = diagnose(data)
    c = cause(diag, "lead_time")
    assert c["numbers"]["available_it_mw"] == 0
    assert "no hall can be ready by period 2: lead time 2" in res.message
    rows = [r for r in diag["iis"]["rows"] if r["family"] == "site_ai_capacity"]
    assert [r["index"] for r in rows] == [["a", 2]]
    assert "lead time 2" in rows[0]["text"]


def test_budget_pays_for_too_few_halls():
    # Halls of 50 IT MW at 1 MUSD/IT MW cost 50 MUSD; a 60 MUSD budget pays for one hall,
    # 50 IT MW of the 100 needed. Without the budget two halls fit (max_it_mw 100).
    data = instance([ai_site("a", max_it_mw=100, capex_usd_per_it_mw=1e6)],
                    [signed("x", 100, start=2)], limits={"capex_budget_usd": 60e6})
    res, diag = diagnose(data)
    c = cause(diag, "budget")
    assert c["numbers"]["available_it_mw"] == 50
    assert "the capex budgets pay for 1: a hall costs 50,000,000 USD" in res.message
    assert "capex_budget_usd 60,000,000" in res.message
    assert "capex_budget" in families(diag)


def test_network_power_short_at_the_eligible_site():
    # 100 IT MW at ai.pue 1.3 draw 130 MW at 'dc'. Its grid gives 50 MW and the 'feeder'
    # link from 'plant' delivers at most 40 * (1 - 0.25) = 30 MW: 80 MW < 130.
    data = instance([ai_site("dc", grid=50, capacity=200, max_it_mw=100, existing_it_mw=100,
                             pue=1.3)], [signed("big", 100)],
                    sources=[{"id": "plant", "capacity_mw": 100, "price_usd_per_mwh": 20}],
                    links=[{"id": "feeder", "from": "plant", "to": "dc", "kind": "power",
                            "capacity_mw": 40, "loss": 0.25}])
    _, diag = diagnose(data)
    c = cause(diag, "network_power")
    assert c["numbers"]["need_mw"] == pytest.approx(130)
    assert c["numbers"]["reachable_mw"] == pytest.approx(80)
    assert ids(c, "link") == {"feeder"} and "dc" in ids(c, "site")
    assert "grid at 'dc' 50 MW" in c["text"]
    assert "link 'feeder' ('plant' -> 'dc') 40 MW × (1 − loss 0.25)" in c["text"]
    assert "power_balance" in families(diag)
    cols = {col["variable"]: col for col in diag["iis"]["columns"]}
    assert cols["grid_mw"]["bound"] == "upper" and "grid.capacity_mw 50" in cols["grid_mw"]["text"]
    assert cols["flow_mw"]["entities"] == [{"type": "link", "id": "feeder"}]


def test_more_committed_contracts_than_max_contracts():
    data = instance([ai_site("a", max_it_mw=100, existing_it_mw=100)],
                    [signed("one", 10), signed("two", 10)], limits={"max_contracts": 1})
    _, diag = diagnose(data)
    c = cause(diag, "max_contracts")
    assert ids(c, "contract") == {"one", "two"}
    assert c["numbers"] == {"committed": 2, "max_contracts": 1}
    assert families(diag) == {"max_contracts"}


def test_tenant_share_cannot_hold():
    # acme's committed 80 IT MW may be at most half of all contracted IT MW, so the other
    # tenants must take 80 too; beta's only offer takes at most 50.
    data = instance([ai_site("a", max_it_mw=200, existing_it_mw=200)],
                    [signed("anchor", 80),
                     {"id": "offer", "tenant": "beta", "it_mw": {"min": 0, "max": 50},
                      "rate_usd_per_kw_month": 120, "start_period": 1, "term_periods": 1}],
                    limits={"max_tenant_share": 0.5})
    _, diag = diagnose(data)
    c = cause(diag, "tenant_share")
    assert ids(c, "tenant") == {"acme"} and ids(c, "contract") == {"anchor"}
    assert c["numbers"]["others_needed_it_mw"] == pytest.approx(80)
    assert c["numbers"]["others_max_it_mw"] == pytest.approx(50)
    assert "'offer'" in c["text"]
    assert "tenant_share" in families(diag)


def test_two_contracts_competing_for_one_site():
    # 'x' and 'y' each need 60 IT MW in period 1; each fits alone in 'a''s 100 existing IT
    # MW, together 120 > 100.
    data = instance([ai_site("a", max_it_mw=100, existing_it_mw=100)],
                    [signed("x", 60), signed("y", 60, tenant="other")], periods=1)
    _, diag = diagnose(data)
    assert [c["kind"] for c in diag["causes"]] == ["shared_capacity"]
    c = cause(diag, "shared_capacity")
    assert ids(c, "contract") == {"x", "y"} and ids(c, "site") == {"a"}
    assert c["numbers"]["need_it_mw"] == 120 and c["numbers"]["available_it_mw"] == 100
    assert sorted(diag["clashing_contracts"]) == ["x", "y"]
    iis_contracts = {e["id"] for r in diag["iis"]["rows"] for e in r["entities"]
                     if e["type"] == "contract"}
    assert iis_contracts == {"x", "y"}


def test_shared_budget_only_the_iis_explains():
    # 'x' at 'a' and 'y' at 'b' each need one 50 IT MW hall (50 MUSD); each fits the
    # 60 MUSD budget alone, so no data check fails (they bound each site on its own). The
    # IIS names the budget and both contracts: 100 MUSD of halls against 60.
    data = instance([ai_site("a", max_it_mw=50, capex_usd_per_it_mw=1e6, lead_time_periods=0),
                     ai_site("b", max_it_mw=50, capex_usd_per_it_mw=1e6, lead_time_periods=0)],
                    [signed("x", 50, eligible={"sites": ["a"]}),
                     signed("y", 50, tenant="other", eligible={"sites": ["b"]})],
                    periods=1, limits={"capex_budget_usd": 60e6})
    res, diag = diagnose(data)
    assert diag["causes"] == []
    assert sorted(diag["clashing_contracts"]) == ["x", "y"]
    assert diag["iis"]["status"] == "irreducible"
    assert {"capex_budget", "contract_min", "site_ai_capacity"} <= families(diag)
    named = {(e["type"], e["id"]) for r in diag["iis"]["rows"] for e in r["entities"]}
    assert {("contract", "x"), ("contract", "y"), ("site", "a"), ("site", "b"),
            ("limits", "limits")} <= named
    assert "total capex over the horizon <= limits.capex_budget_usd 60,000,000 USD" \
        in res.message


def test_integer_only_conflict_has_no_lp_iis():
    # The fixed capex (8 MUSD) and the hall (10 MUSD) land in the same period and no
    # period's budget reaches 18 MUSD; with fractional halls a plan would exist.
    ref = Path(__file__).parent / "data" / "reference" / "infeasible_fixed_capex_budget.yaml"
    res, diag = diagnose(po.load_instance(ref).model_dump(by_alias=True, exclude_none=True))
    assert diag["iis"]["relaxation"] == "feasible" and diag["iis"]["rows"] == []
    c = cause(diag, "budget")
    assert "fixed_capex_usd 8,000,000 with the first" in c["text"]
    assert "conflict lies in whole halls" in res.message


# --------------------------------------------------------------------------- soundness


def _random(seed: int) -> dict[str, Any]:
    """A small instance with committed contracts that may or may not be servable."""
    rng = random.Random(seed)
    T = rng.randint(1, 3)
    sites = []
    for i in range(rng.randint(1, 3)):
        block = rng.choice([5.0, 10.0])
        existing = rng.choice([0.0, block])
        s: dict[str, Any] = {"id": f"s{i}", "capacity_mw": rng.choice([15.0, 30.0, 60.0]),
                             "ai": {"max_it_mw": existing + block * rng.randint(0, 3),
                                    "existing_it_mw": existing, "block_it_mw": block,
                                    "capex_usd_per_it_mw": rng.choice([0.0, 1e6]),
                                    "fixed_capex_usd": rng.choice([0.0, 5e6]),
                                    "lead_time_periods": rng.randint(0, 2),
                                    "pue": rng.choice([1.0, 1.3])}}
        s["capacity_mw"] = max(s["capacity_mw"], existing * s["ai"]["pue"])
        if rng.random() < 0.7:
            s["grid"] = {"capacity_mw": rng.choice([10.0, 30.0, 60.0]),
                         "price_usd_per_mwh": 30}
        sites.append(s)
    links = []
    if len(sites) > 1 and rng.random() < 0.5:
        links.append({"id": "l1", "from": "s0", "to": "s1", "kind": "power",
                      "capacity_mw": rng.choice([5.0, 20.0]), "loss": rng.choice([0.0, 0.2])})
    contracts = []
    for k in range(rng.randint(1, 3)):
        need = rng.choice([5.0, 10.0, 20.0])
        contracts.append({"id": f"c{k}", "tenant": rng.choice(["t1", "t2"]),
                          "it_mw": {"min": need, "max": need + rng.choice([0.0, 5.0])},
                          "rate_usd_per_kw_month": 100, "start_period": rng.randint(1, T),
                          "term_periods": rng.randint(1, T), "max_sites": rng.randint(1, 2),
                          "committed": rng.random() < 0.5,
                          "eligible": {"sites": rng.sample([s["id"] for s in sites],
                                                           rng.randint(1, len(sites)))}})
    limits: dict[str, Any] = {}
    if rng.random() < 0.3:
        limits["capex_budget_usd"] = rng.choice([5e6, 20e6])
    if rng.random() < 0.3:
        limits["capex_budget_usd_per_period"] = rng.choice([5e6, 15e6])
    if rng.random() < 0.3:
        limits["max_tenant_share"] = rng.choice([0.5, 0.7])
    if rng.random() < 0.2:
        limits["max_contracts"] = rng.randint(0, 2)
    return {"name": f"random-{seed}", "horizon": {"periods": T},
            "market": {"hashprice_usd_per_ph_day": 40}, "sites": sites, "links": links,
            "contracts": contracts, "limits": limits}


def test_data_checks_never_claim_infeasibility_wrongly():
    # Every check is a necessary condition: when one fails, the MILP must be infeasible.
    # Over these seeds all three outcomes occur (feasible, infeasible with a failed check,
    # infeasible with every check passed), and every infeasible one is explained.
    claimed = infeasible = 0
    for seed in range(60):
        data = _random(seed)
        causes = data_checks(build(data).data)
        res = po.solve(data, marginal_values=False)
        if causes:
            claimed += 1
            assert res.status == "infeasible", (seed, [c.text for c in causes])
        if res.status == "infeasible":
            infeasible += 1
            assert res.diagnosis is not None
            explained = (res.diagnosis["causes"] or res.diagnosis["clashing_contracts"]
                         or res.diagnosis["iis"]["rows"])
            assert explained, seed
    assert 10 <= claimed < infeasible < 60


# --------------------------------------------------------------------------- spec v2 A and D


def v2_site(sid: str, **ai: Any) -> dict[str, Any]:
    return {"id": sid, "capacity_mw": 100,
            "grid": {"capacity_mw": 100, "price_usd_per_mwh": 0},
            "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 0,
                   "lead_time_periods": 0, "pue": 1.0, **ai}}


def _debt_only(contribution: float) -> dict[str, Any]:
    # A committed 10 IT MW lease needs the one 50 MUSD hall (5 MUSD per IT MW) at 'a' in
    # period 1. Equity budget 10 MUSD a period; the tenant pays `contribution` per IT MW in
    # period 1; 70 % of the AI capex may be borrowed. Gross capex payable:
    # (10 MUSD + 10 * contribution) / (1 - 0.7).
    lease = signed("x", 10, tenant_capex_usd_per_it_mw=contribution)
    return instance([v2_site("a", capex_usd_per_it_mw=5e6)], [lease], periods=1,
                    limits={"capex_budget_usd_per_period": 10e6},
                    finance={"debt": {"max_loan_to_cost": 0.7, "interest_rate": 0.05,
                                      "tenor_years": 5}})


def test_budget_counts_tenant_contributions_and_the_most_debt():
    # 0.2 MUSD per IT MW from the tenant: 2 MUSD; (10 + 2) / 0.3 = 40 MUSD < 50 MUSD, of
    # which debt 40 - 12 = 28 MUSD. With 0.5 MUSD per IT MW: 15 / 0.3 = 50 MUSD: a plan.
    assert po.solve(_debt_only(0.5e6), profile="exact").status == "optimal"
    _, diag = diagnose(_debt_only(0.2e6))
    c = cause(diag, "budget")
    assert ids(c, "contract") == {"x"}
    assert ("its 1 hall(s) at 'a' cost 50,000,000 USD by period 1, the equity budget by "
            "then is 10,000,000 USD, tenant contributions add at most 2,000,000 USD and debt "
            "could cover at most 28,000,000 USD: at most 40,000,000 USD of capex") in c["text"]
    assert c["numbers"]["debt_most_usd"] == pytest.approx(28e6)
    assert c["numbers"]["capex_payable_usd"] == pytest.approx(40e6)
    assert "debt at most max_loan_to_cost 0.7 of the AI capex" in c["text"]
    texts = [r["text"] for r in diag["iis"]["rows"]]
    assert any("equity capex (capex − tenant contributions − loans) started in period 1 <= "
               "limits.capex_budget_usd_per_period 10,000,000 USD" in t for t in texts), texts
    assert any("loan drawn in period 1 <= finance.debt.max_loan_to_cost 0.7 × AI capex" in t
               for t in texts), texts


def _moving(allocation: str) -> dict[str, Any]:
    # 'x' (10 IT MW, periods 1-2, 'a' or 'b'): 'a' has 10 IT MW from the start but from
    # period 2 committed 'y' takes them (only 'a' can serve it); 'b' has no hall yet and a
    # lead time of 1, so its 10 IT MW arrive in period 2. x can be served only by moving
    # from 'a' to 'b'.
    x = signed("x", 10, term_periods=2, max_sites=2, eligible={"sites": ["a", "b"]},
               allocation=allocation)
    y = signed("y", 10, start=2, eligible={"sites": ["a"]})
    return instance([v2_site("a", existing_it_mw=10), v2_site("b", lead_time_periods=1)],
                    [x, y])


def test_fixed_allocation_no_site_holds_the_whole_term():
    assert po.solve(_moving("flexible"), profile="exact").status == "optimal"
    _, diag = diagnose(_moving("fixed"))
    c = cause(diag, "fixed_allocation")
    assert ids(c, "contract") == {"x", "y"} and ids(c, "site") == {"a", "b"}
    assert c["text"].startswith(
        "committed contract 'x' has allocation: fixed, so it needs 10 IT MW at the same "
        "site(s) in every period 1-2; kept over the whole term its best 2 site(s) hold at "
        "most 0 IT MW:")
    assert "'a' 0 (period 2: 10 available, less 10 for committed 'y' that only 'a' can " \
        "serve)" in c["text"]
    assert "'b' 0 (period 1: 0 available)" in c["text"]
    assert "period 1 10; period 2 10 IT MW of room" in c["text"]
    assert c["numbers"]["kept_it_mw"] == 0.0
    assert "contract_fixed_allocation" in families(diag)
    rows = [r["text"] for r in diag["iis"]["rows"] if r["family"] == "contract_fixed_allocation"]
    assert any("contract 'x' has allocation: fixed: its IT MW at site" in t
               and "in period 2 equals that in period 1" in t for t in rows), rows


def _grouped(group: bool) -> dict[str, Any]:
    # Committed 'x' (tenant acme, 10 IT MW) and 'y' (tenant beta, up to 10 IT MW) are two
    # structures of one offer; max_tenant_share 0.5 needs 10 IT MW from other tenants, and
    # 'y' is beta's only contract.
    x = signed("x", 10, **({"group": "offer"} if group else {}))
    y = {**signed("y", 10, tenant="beta"), "committed": False,
         **({"group": "offer"} if group else {})}
    return instance([v2_site("a", max_it_mw=20)], [x, y], periods=1,
                    limits={"max_tenant_share": 0.5})


def test_group_excludes_the_partner_a_tenant_share_needs():
    assert po.solve(_grouped(False), profile="exact").status == "optimal"
    _, diag = diagnose(_grouped(True))
    c = cause(diag, "tenant_share")
    assert ids(c, "contract") == {"x", "y"}
    assert c["text"] == (
        "tenant 'acme''s committed contract(s) 'x' take at least 10 IT MW; with "
        "limits.max_tenant_share 0.5 the other tenants must take at least 10 IT MW, but "
        "their contracts that could be accepted do not exist; 'y' cannot be accepted: "
        "group 'offer' takes committed 'x' (at most one contract per group)")
    assert c["numbers"]["excluded_by_group"] == {"y": "x"}
    rows = [r["text"] for r in diag["iis"]["rows"] if r["family"] == "contract_group"]
    assert rows == ["at most one contract of group 'offer' is accepted (alternative "
                    "structures of one offer: 'x', 'y'); committed 'x' excludes the others"]


def _random_v2(seed: int) -> dict[str, Any]:
    """_random with spec v2 fields: groups, fixed allocations, tenant capex, debt."""
    data = _random(seed)
    rng = random.Random(1000 + seed)
    T = data["horizon"]["periods"]
    cons = data["contracts"]
    for c in cons:
        if rng.random() < 0.4:
            c["allocation"] = "fixed"
        if rng.random() < 0.3:
            c["tenant_capex_usd_per_it_mw"] = rng.choice([0.2e6, 1e6])
            c["tenant_capex_period"] = rng.randint(1, T)
    if len(cons) > 1 and rng.random() < 0.5 and not (cons[0]["committed"]
                                                     and cons[1]["committed"]):
        cons[0]["group"] = cons[1]["group"] = "g"
    if rng.random() < 0.5:
        debt: dict[str, Any] = {"max_loan_to_cost": rng.choice([0.5, 0.8]),
                                "interest_rate": 0.05, "tenor_years": 3}
        if rng.random() < 0.5:
            debt["max_total_usd"] = rng.choice([2e6, 10e6])
        data["finance"] = {"debt": debt}
    return data


def test_data_checks_never_claim_infeasibility_wrongly_with_v2_fields():
    claimed = 0
    for seed in range(60):
        data = _random_v2(seed)
        causes = data_checks(build(data).data)
        if causes:
            claimed += 1
            res = po.solve(data, marginal_values=False)
            assert res.status == "infeasible", (seed, [c.text for c in causes])
    assert claimed >= 10


# --------------------------------------------------------------------------- files and CLI


def test_cli_exit_3_prints_the_explanation_and_writes_diagnosis(tmp_path):
    data = instance([ai_site("a", max_it_mw=100, lead_time_periods=1),
                     ai_site("b", max_it_mw=50, lead_time_periods=1)],
                    [signed("x", 200, start=2, max_sites=2, eligible={"sites": ["a", "b"]})])
    path = tmp_path / "stuck.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "solve", str(path), "--out",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "'x' needs 200 IT MW from period 2" in proc.stderr
    assert "at most 150 IT MW available by period 2" in proc.stderr
    assert {p.name for p in out.iterdir()} == {"summary.json", "diagnosis.json"}
    diag = json.loads((out / "diagnosis.json").read_text())
    assert diag["status"] == "infeasible" and diag["causes"][0]["kind"] == "capacity"
    assert json.loads((out / "summary.json").read_text())["message"] == diag["message"]
    # the same folder, now with a feasible instance: diagnosis.json of the old run goes
    data["contracts"][0]["committed"] = False
    path.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "solve", str(path), "--out",
                           str(out), "--quiet", "--duals"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    assert "diagnosis.json" not in names and "marginal_values.csv" in names
