"""The instance generator and the bundled instances: valid, deterministic, feature-complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portfolio_opt.generate import generate_instance, write_instance
from portfolio_opt.loader import load_instance
from portfolio_opt.validate import validate_data

INSTANCES = Path(__file__).resolve().parent.parent / "instances"

SIZES = [
    (1, 1, 0),
    (1, 1, 2),
    (3, 5, 4),
    (20, 5, 8),
    (20, 12, 10),
    (200, 12, 30),
]


@pytest.mark.parametrize(("sites", "periods", "contracts"), SIZES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_instance_validates(sites: int, periods: int, contracts: int,
                                      seed: int) -> None:
    data = generate_instance(sites, periods, contracts, seed)
    instance = validate_data(data, source="generated")
    assert len(instance.sites) == sites
    assert instance.horizon.periods == periods
    assert len(instance.contracts) == contracts


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json", ".YAML"])
@pytest.mark.parametrize(("sites", "periods", "contracts"), [(1, 1, 1), (20, 12, 8)])
def test_written_file_loads_back_unchanged(tmp_path: Path, suffix: str, sites: int,
                                           periods: int, contracts: int) -> None:
    data = generate_instance(sites, periods, contracts, seed=7)
    path = write_instance(data, tmp_path / f"instance{suffix}")
    instance = load_instance(path)
    assert instance == validate_data(data)


def test_yaml_output_is_plain(tmp_path: Path) -> None:
    data = generate_instance(5, 3, 4, seed=3)
    data["limits"]["capex_budget_usd"] = 1e17  # repr would be 1e+17
    text = write_instance(data, tmp_path / "plain.yaml").read_text()
    assert "!!" not in text
    assert "e+" not in text
    assert text.startswith("name: ")  # keys keep their order
    assert load_instance(tmp_path / "plain.yaml").limits.capex_budget_usd == 1e17


def test_write_rejects_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.yaml, \.yml or \.json"):
        write_instance(generate_instance(1, 1, 0, 0), tmp_path / "instance.toml")


def test_json_is_plain_json(tmp_path: Path) -> None:
    data = generate_instance(4, 2, 4, seed=5)
    path = write_instance(data, tmp_path / "instance.json")
    assert json.loads(path.read_text()) == data


def test_same_seed_same_instance() -> None:
    assert generate_instance(30, 6, 9, seed=11) == generate_instance(30, 6, 9, seed=11)


def test_different_seed_different_instance() -> None:
    assert generate_instance(30, 6, 9, seed=11) != generate_instance(30, 6, 9, seed=12)


def test_output_is_plain_python() -> None:
    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                assert type(k) is str
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        else:
            assert type(x) in (str, int, float, bool), (x, type(x))

    walk(generate_instance(20, 5, 8, seed=0))


@pytest.mark.parametrize("bad", [{"sites": 0}, {"periods": 0}, {"contracts": -1}])
def test_bad_sizes_are_rejected(bad: dict[str, int]) -> None:
    args: dict[str, Any] = {"sites": 3, "periods": 3, "contracts": 3, "seed": 0} | bad
    with pytest.raises(ValueError):
        generate_instance(**args)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_feature_is_present(seed: int) -> None:
    data = generate_instance(20, 5, 8, seed)
    inst = validate_data(data)
    sites = inst.sites
    power = [link for link in inst.links if link.kind == "power"]
    fiber = [link for link in inst.links if link.kind == "fiber"]
    raw_links = data["links"]

    assert any(s.grid is not None for s in sites)
    assert any(s.grid is None for s in sites)
    assert any(s.grid is not None and isinstance(s.grid.price_usd_per_mwh, list)
               for s in sites)
    assert any(s.btc is not None and s.btc.expansion is not None for s in sites)
    assert any(s.btc is not None and s.btc.expansion is None for s in sites)
    assert any(s.btc is None for s in sites)
    ai = [s.ai for s in sites if s.ai is not None]
    assert any(a.existing_it_mw > 0 for a in ai)
    assert any(a.existing_it_mw == 0 and a.fixed_capex_usd > 0 for a in ai)
    assert any(s.ai is None for s in sites)
    assert all(0 <= a.lead_time_periods <= 2 for a in ai)

    assert inst.sources
    assert any(isinstance(src.capacity_mw, list) for src in inst.sources)
    assert any(link.loss is not None and link.loss > 0 for link in power)
    assert any(link.directed for link in power)
    assert any(not link.directed for link in power)
    assert any("id" in link for link in raw_links)
    assert any("id" not in link for link in raw_links)  # default "<from>-<to>" ids
    assert fiber and all(link.latency_ms is not None for link in fiber)
    site_ids = {s.id for s in sites}
    assert any(link.from_ not in site_ids or link.to not in site_ids for link in power)

    contracts = inst.contracts
    assert any(c.eligible is not None and c.eligible.near is not None for c in contracts)
    assert any(c.eligible is not None and c.eligible.sites is not None for c in contracts)
    assert any(c.eligible is None for c in contracts)
    assert any(c.escalator > 0 for c in contracts)
    assert {c.max_sites for c in contracts} <= {1, 2, 3}
    assert 1 <= sum(c.committed for c in contracts) <= 2

    lim = inst.limits
    assert lim.capex_budget_usd is not None
    assert isinstance(lim.capex_budget_usd_per_period, list)
    assert lim.max_tenant_share is not None
    assert lim.max_contracts is not None


@pytest.mark.parametrize(("sites", "periods", "contracts", "seed"),
                         [(1, 1, 1, 0), (3, 5, 4, 1), (20, 5, 8, 2), (200, 12, 30, 3)])
def test_committed_contracts_are_plainly_servable(sites: int, periods: int, contracts: int,
                                                  seed: int) -> None:
    """Each committed contract fits existing halls of a grid-fed site of its own, with
    power for them, no capex needed, and the limits leave room for it."""
    inst = validate_data(generate_instance(sites, periods, contracts, seed))
    by_id = {s.id: s for s in inst.sites}
    committed = [c for c in inst.contracts if c.committed]
    hosts = set()
    for c in committed:
        assert c.eligible is not None and c.eligible.sites
        host = by_id[c.eligible.sites[0]]
        assert host.ai is not None and host.grid is not None
        assert c.it_mw.min == c.it_mw.max <= host.ai.existing_it_mw
        assert host.grid.capacity_mw >= host.ai.existing_it_mw * host.ai.pue
        hosts.add(host.id)
    assert len(hosts) == len(committed)
    lim = inst.limits
    assert lim.max_contracts is not None and lim.max_contracts >= len(committed)
    if lim.max_tenant_share is not None and committed:
        tenants = {c.tenant for c in committed}
        assert len(tenants) == len(committed)
        assert lim.max_tenant_share >= 1 / len(committed)


def test_generates_thousands_of_sites() -> None:
    data = generate_instance(5000, 12, 50, seed=1)
    assert len(data["sites"]) == 5000
    validate_data(data)


@pytest.mark.parametrize("name", ["tutorial.yaml", "us_portfolio.yaml"])
def test_bundled_instances_load(name: str) -> None:
    inst = load_instance(INSTANCES / name)
    assert inst.sites
    assert sum(c.committed for c in inst.contracts) == 1


def test_tutorial_matches_its_walkthrough() -> None:
    inst = load_instance(INSTANCES / "tutorial.yaml")
    assert [s.id for s in inst.sites] == ["alpha", "bravo", "charlie"]
    assert [s.id for s in inst.sources] == ["wind-farm"]
    assert inst.horizon.periods == 5
    assert inst.horizon.discount_rate == 0.08
    charlie = next(s for s in inst.sites if s.id == "charlie")
    assert charlie.grid is None


def test_us_portfolio_shape() -> None:
    inst = load_instance(INSTANCES / "us_portfolio.yaml")
    assert 18 <= len(inst.sites) <= 22
    assert inst.horizon.periods == 12
    assert 6 <= len(inst.contracts) <= 12
    assert inst.limits.max_tenant_share == 0.6
    # deals as signed (spec v2 A): power passed through, full terms, one offer two ways
    assert inst.horizon.terminal_value == "contract_tail"
    assert all(c.allocation == "fixed" for c in inst.contracts)
    groups = [c.group for c in inst.contracts if c.group is not None]
    assert groups.count("dfw-offer") == 2
    rockdale = next(s for s in inst.sites if s.id == "tx-rockdale")
    anchor = next(c for c in inst.contracts if c.id == "rockdale-anchor")
    assert rockdale.grid is not None
    assert anchor.energy_recovery_usd_per_mwh == rockdale.grid.price_usd_per_mwh
    assert inst.finance is not None and inst.finance.debt.interest_rate == 0.075


# --- spec v2 A and D: deals=True (the command line's default) ---------------------------

V2_KEYS = {"energy_recovery_usd_per_mwh", "tenant_capex_usd_per_it_mw",
           "tenant_capex_period", "group", "allocation"}


@pytest.mark.parametrize(("sites", "periods", "contracts"), SIZES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_deals_validate(sites: int, periods: int, contracts: int,
                                  seed: int) -> None:
    data = generate_instance(sites, periods, contracts, seed, deals=True)
    instance = validate_data(data, source="generated")
    assert len(instance.contracts) == contracts
    assert instance.finance is not None  # debt follows deals by default
    assert data == generate_instance(sites, periods, contracts, seed, deals=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_deals_leave_the_v1_instance_of_the_seed_as_it_was(seed: int) -> None:
    """v1 seeds (benchmarks, reference agreement) keep meaning the same instance: the
    default is v1, and deals=True only adds terms to that instance."""
    v1 = generate_instance(20, 5, 8, seed)
    assert v1 == generate_instance(20, 5, 8, seed, deals=False, debt=False)
    assert "finance" not in v1
    assert not any(V2_KEYS & set(c) for c in v1["contracts"])
    assert set(v1["horizon"]) == {"periods", "years_per_period", "start_year",
                                  "discount_rate"}
    v2 = generate_instance(20, 5, 8, seed, deals=True)
    for key in ("market", "sites", "sources", "links", "limits"):
        assert v2[key] == v1[key]
    assert {k: v2["horizon"][k] for k in v1["horizon"]} == v1["horizon"]
    alternatives = {c["id"] for c in v2["contracts"]
                    if "group" in c and "tenant_capex_usd_per_it_mw" in c}
    for before, after in zip(v1["contracts"], v2["contracts"], strict=True):
        if after["id"] in alternatives:
            continue  # rewritten as the tenant-funded structure of its group's offer
        same = {k: v for k, v in after.items() if k not in V2_KEYS}
        if "tenant_capex_usd_per_it_mw" in after:  # tenant-funded: a lower rent
            assert same.pop("rate_usd_per_kw_month") < 130
            before = {k: v for k, v in before.items() if k != "rate_usd_per_kw_month"}
        assert same == before
    debt_only = generate_instance(20, 5, 8, seed, debt=True)
    assert {k: v for k, v in debt_only.items() if k not in ("finance", "name")} == {
        k: v for k, v in v1.items() if k != "name"}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_v2_feature_is_present(seed: int) -> None:
    data = generate_instance(20, 5, 8, seed, deals=True)
    inst = validate_data(data)
    h = inst.horizon
    assert h.terminal_value == "contract_tail"
    assert h.tail_energy_price_usd_per_mwh is not None
    assert 25 <= h.tail_energy_price_usd_per_mwh <= 55
    contracts = inst.contracts
    by_group: dict[str, list[Any]] = {}
    for c in contracts:
        if c.group is not None:
            by_group.setdefault(c.group, []).append(c)
    assert by_group and all(len(g) == 2 for g in by_group.values())
    for operator, tenant in by_group.values():
        # one offer, two structures: same size, sites, dates and tenant
        assert (operator.it_mw, operator.eligible, operator.start_period,
                operator.term_periods, operator.tenant, operator.allocation) == (
            tenant.it_mw, tenant.eligible, tenant.start_period, tenant.term_periods,
            tenant.tenant, tenant.allocation)
        assert operator.tenant_capex_usd_per_it_mw == 0
        assert 0.3 * 9.5e6 - 1e4 <= tenant.tenant_capex_usd_per_it_mw <= 0.7 * 9.5e6 + 1e4
        assert tenant.rate_usd_per_kw_month < operator.rate_usd_per_kw_month
        assert not operator.committed and not tenant.committed
    # energy recovery at the power price of a site (a pass-through), some not recovered
    prices = [s.grid.price_usd_per_mwh for s in inst.sites if s.grid is not None]
    recovered = [c.energy_recovery_usd_per_mwh for c in contracts
                 if c.energy_recovery_usd_per_mwh != 0]
    assert recovered and len(recovered) < len(contracts)
    assert any(er in prices for er in recovered)
    assert all(min(inst.series(er)) >= 21 and max(inst.series(er)) <= 70 for er in recovered)
    assert any(c.allocation == "fixed" for c in contracts)
    assert any(c.allocation == "flexible" for c in contracts)
    assert all(c.allocation == "fixed" for c in contracts if c.committed)
    assert inst.finance is not None
    debt = inst.finance.debt
    assert 0.6 <= debt.max_loan_to_cost <= 0.8
    assert 0.07 <= debt.interest_rate <= 0.08
    assert 5 <= debt.tenor_years <= 10


def test_deal_features_across_seeds() -> None:
    """Over a few seeds: tenant-funded offers outside groups, contributions paid before
    service, per-period tariffs, debt with and without a cap on the principal."""
    insts = [validate_data(generate_instance(20, 6, 10, seed, deals=True))
             for seed in range(6)]
    contracts = [c for inst in insts for c in inst.contracts]
    assert any(c.group is None and c.tenant_capex_usd_per_it_mw > 0 for c in contracts)
    assert any(c.tenant_capex_period is not None
               and c.tenant_capex_period < c.start_period for c in contracts)
    assert any(isinstance(c.energy_recovery_usd_per_mwh, list) for c in contracts)
    caps = [inst.finance.debt.max_total_usd for inst in insts if inst.finance is not None]
    assert any(cap is None for cap in caps) and any(cap is not None for cap in caps)


@pytest.mark.parametrize(("sites", "periods", "contracts", "seed"),
                         [(1, 1, 2, 0), (3, 5, 4, 1), (20, 5, 8, 0), (20, 5, 8, 1)])
def test_generated_deals_are_feasible(sites: int, periods: int, contracts: int,
                                      seed: int) -> None:
    """Committed contracts stay servable with deals and debt: a plan is found."""
    import portfolio_opt

    res = portfolio_opt.solve(generate_instance(sites, periods, contracts, seed, deals=True),
                              marginal_values=False)
    assert res.status == "optimal", res.message
    accepted = set(res.contracts.loc[res.contracts["accepted"], "contract"])
    inst = validate_data(generate_instance(sites, periods, contracts, seed, deals=True))
    assert {c.id for c in inst.contracts if c.committed} <= accepted
    for group in {c.group for c in inst.contracts if c.group is not None}:
        assert sum(c.id in accepted for c in inst.contracts if c.group == group) <= 1


def test_cli_generates_deals_and_debt_by_default(tmp_path: Path) -> None:
    import subprocess
    import sys

    def gen(name: str, *extra: str) -> dict[str, Any]:
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "portfolio_opt", "generate", "--sites",
                               "5", "--periods", "3", "--contracts", "4", "--seed", "3",
                               "--out", str(out), *extra], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return data

    # the command line's default shows every v2 part: deals, debt, 4 price blocks and DR
    assert gen("v2.json") == generate_instance(5, 3, 4, 3, deals=True, debt=True, blocks=4,
                                               demand_response=True)
    c_off = ("--no-blocks", "--no-demand-response")
    assert gen("ad.json", *c_off) == generate_instance(5, 3, 4, 3, deals=True, debt=True)
    assert gen("v1.json", "--no-deals", "--no-debt", *c_off) == generate_instance(5, 3, 4, 3)
    assert gen("debt.json", "--no-deals", *c_off) == generate_instance(5, 3, 4, 3, debt=True)


# --- spec v2 part C: price blocks and demand response ----------------------------------

def _strip_part_c(data: dict[str, Any]) -> dict[str, Any]:
    """The instance without its part C fields: per-block prices, market.blocks, DR."""
    out = json.loads(json.dumps(data))
    out["market"].pop("blocks", None)
    for site in out["sites"]:
        site.get("btc", {}).pop("demand_response", None)
        site.get("grid", {}).pop("price_usd_per_mwh", None)
    for src in out["sources"]:
        src.pop("price_usd_per_mwh")
    out.pop("name")
    return out


def _mean_price(inst: Any, price: Any) -> list[float]:
    """Share-weighted mean of a (block) price per period."""
    series = inst.block_series(price)
    return [sum(h * series[b][t] for b, h in inst.block_shares.items())
            for t in range(inst.horizon.periods)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_blocks_leave_the_v1_and_deal_draws_of_the_seed_as_they_were(seed: int) -> None:
    v1 = generate_instance(20, 5, 8, seed)
    assert v1 == generate_instance(20, 5, 8, seed, blocks=0, demand_response=False)
    assert "blocks" not in v1["market"]
    assert not any("demand_response" in s.get("btc", {}) for s in v1["sites"])
    for deals in (False, True):
        without = generate_instance(20, 5, 8, seed, deals=deals)
        with_c = generate_instance(20, 5, 8, seed, deals=deals, blocks=4)
        assert _strip_part_c(with_c) == _strip_part_c(without)
        assert with_c["name"] == without["name"] + "-blocks4-dr"
        # every price keeps the v1 draw as its share-weighted mean over the blocks
        inst, base = validate_data(with_c), validate_data(without)
        pairs = [(a.grid.price_usd_per_mwh, b.grid.price_usd_per_mwh)
                 for a, b in zip(inst.sites, base.sites, strict=True) if a.grid and b.grid]
        pairs += [(a.price_usd_per_mwh, b.price_usd_per_mwh)
                  for a, b in zip(inst.sources, base.sources, strict=True)]
        for blocked, plain in pairs:
            assert not isinstance(plain, dict)
            assert _mean_price(inst, blocked) == pytest.approx(base.series(plain), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_part_c_feature_is_present(seed: int) -> None:
    data = generate_instance(20, 5, 8, seed, blocks=4)
    inst = validate_data(data)
    shares = inst.block_shares
    assert list(shares) == ["scarcity", "band1", "band2", "band3"]
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    # shipped West-Texas shape: ~1.7 % scarcity, equal bands
    assert 0.012 <= shares["scarcity"] <= 0.022
    assert shares["band1"] == shares["band2"] == shares["band3"]
    grids = [s.grid.price_usd_per_mwh for s in inst.sites if s.grid is not None]
    mapped = [p for p in grids if isinstance(p, dict)]
    assert mapped and len(mapped) < len(grids)  # some per block, some plain
    assert any(isinstance(s.price_usd_per_mwh, dict) for s in inst.sources)
    for price in [*mapped, *(s.price_usd_per_mwh for s in inst.sources
                             if isinstance(s.price_usd_per_mwh, dict))]:
        series = inst.block_series(price)
        mean = _mean_price(inst, price)
        for t, m in enumerate(mean):
            ratio = [series[b][t] / m for b in shares]
            assert 15.0 <= ratio[0] <= 25.0  # scarcity at ~20x the mean
            assert ratio[1] > ratio[2] > ratio[3] > 0  # bands dearest first
            assert 0.25 <= ratio[3] / ratio[1] <= 0.4  # shipped: 15.9 / 51.3 = 0.31
    mining = [s.btc for s in inst.sites if s.btc is not None]
    dr = [(b, b.demand_response) for b in mining if b.demand_response is not None]
    assert dr and len(dr) < len(mining)
    for btc, offer in dr:
        # calibration.md: 7.6-23 USD per MWh consumed, a yearly average, per MW-year
        assert 7.6 * 8760 - 50 <= offer.credit_usd_per_mw_year <= 23 * 8760 + 50
        assert 0 < offer.max_mw <= btc.fleet_mw * btc.pue


def test_blocks_and_demand_response_apart() -> None:
    only_dr = generate_instance(6, 3, 4, 5, demand_response=True)
    assert "blocks" not in only_dr["market"]
    assert any("demand_response" in s.get("btc", {}) for s in only_dr["sites"])
    validate_data(only_dr)
    only_blocks = generate_instance(6, 3, 4, 5, blocks=2, demand_response=False)
    assert [b["id"] for b in only_blocks["market"]["blocks"]] == ["scarcity", "band1"]
    assert not any("demand_response" in s.get("btc", {}) for s in only_blocks["sites"])
    validate_data(only_blocks)
    for bad in (1, 13, -1):
        with pytest.raises(ValueError, match="blocks must be 0"):
            generate_instance(3, 2, 2, 0, blocks=bad)


@pytest.mark.parametrize(("sites", "periods", "contracts", "seed"),
                         [(1, 1, 2, 0), (6, 3, 4, 1), (10, 4, 5, 2)])
def test_generated_blocks_and_demand_response_solve(sites: int, periods: int,
                                                   contracts: int, seed: int) -> None:
    import portfolio_opt

    data = generate_instance(sites, periods, contracts, seed, deals=True, blocks=3)
    res = portfolio_opt.solve(data, marginal_values=False)
    assert res.status == "optimal", res.message
    assert res.site_period_blocks is not None
    assert set(res.site_period_blocks["block"]) == {"scarcity", "band1", "band2"}
    inst = validate_data(data)
    accepted = set(res.contracts.loc[res.contracts["accepted"], "contract"])
    assert {c.id for c in inst.contracts if c.committed} <= accepted
    # the miners stand ready (DR credit earned) and curtail in some scarcity hours
    assert res.cashflows["dr_credit"].sum() > 0
    btc = res.site_period_blocks.groupby("block")["btc_mw"].sum()
    assert btc["scarcity"] < btc["band2"]


def test_the_command_line_default_showcases_part_c(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from portfolio_opt.cli import app

    runner = CliRunner()
    args = ["generate", "--sites", "6", "--periods", "3", "--contracts", "4", "--seed", "4"]
    shown = runner.invoke(app, [*args, "--out", str(tmp_path / "c.json")])
    assert shown.exit_code == 0, shown.output
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert data == generate_instance(6, 3, 4, 4, deals=True, blocks=4)
    v1 = runner.invoke(app, [*args, "--no-deals", "--no-debt", "--no-blocks",
                             "--no-demand-response", "--out", str(tmp_path / "v1.json")])
    assert v1.exit_code == 0, v1.output
    assert json.loads((tmp_path / "v1.json").read_text(encoding="utf-8")) == \
        generate_instance(6, 3, 4, 4)
    k2 = runner.invoke(app, [*args, "--blocks", "2", "--no-demand-response",
                             "--out", str(tmp_path / "k2.json")])
    assert k2.exit_code == 0, k2.output
    assert json.loads((tmp_path / "k2.json").read_text(encoding="utf-8")) == \
        generate_instance(6, 3, 4, 4, deals=True, blocks=2, demand_response=False)
