"""One test per validation rule of the instance format (spec: instance-format v1).

Each test writes a tiny instance to a temporary file, loads it with ``load_instance`` and
checks that the :class:`InputError` names the right entity, field and offending value
(and, through ``only_issue``, that the mistake is reported once and nothing else is).
"""

from __future__ import annotations

import copy
import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest

from portfolio_opt.errors import MISSING, InputError, InputIssue
from portfolio_opt.instance import Instance
from portfolio_opt.loader import load_instance

DATA = Path(__file__).parent / "data"


def base() -> dict[str, Any]:
    """A small valid instance: BTC+AI site 'a', AI site 'b' fed by source 'src', BTC site 'm'."""
    return {
        "name": "tiny",
        "horizon": {"periods": 3},
        "market": {"hashprice_usd_per_ph_day": 50},
        "sites": [
            {
                "id": "a",
                "capacity_mw": 100,
                "grid": {"capacity_mw": 100, "price_usd_per_mwh": 40},
                "btc": {"fleet_mw": 50, "efficiency_j_per_th": 17.5},
                "ai": {"max_it_mw": 40, "block_it_mw": 10, "capex_usd_per_it_mw": 8e6},
            },
            {
                "id": "b",
                "capacity_mw": 60,
                "ai": {"max_it_mw": 40, "block_it_mw": 10, "capex_usd_per_it_mw": 9e6},
            },
            {
                "id": "m",
                "capacity_mw": 30,
                "grid": {"capacity_mw": 30, "price_usd_per_mwh": [35, 36, 37]},
                "btc": {"fleet_mw": 25, "efficiency_j_per_th": 21},
            },
        ],
        "sources": [{"id": "src", "capacity_mw": 80, "price_usd_per_mwh": 30}],
        "links": [
            {"from": "src", "to": "b", "kind": "power", "capacity_mw": 60},
            {"from": "a", "to": "b", "kind": "fiber", "latency_ms": 2},
        ],
        "contracts": [
            {
                "id": "c1",
                "tenant": "t1",
                "it_mw": {"min": 0, "max": 20},
                "rate_usd_per_kw_month": 150,
                "start_period": 1,
                "term_periods": 3,
            }
        ],
    }


def site(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in doc["sites"] if s["id"] == sid)


def contract(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["contracts"][0]


def write(tmp_path: Path, doc: Any, name: str = "inst.json") -> Path:
    """Write ``doc`` as JSON (``doc`` a dict) or verbatim text (``doc`` a str)."""
    path = tmp_path / name
    if isinstance(doc, str):
        path.write_text(textwrap.dedent(doc), encoding="utf-8")
    else:
        path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def issues_of(path: Path) -> list[InputIssue]:
    with pytest.raises(InputError) as info:
        load_instance(path)
    issues = info.value.issues
    for issue in issues:
        assert issue.file == str(path)
        # Every message says what would be valid.
        assert issue.expected.startswith("expected"), issue
    return issues


def only_issue(path: Path) -> InputIssue:
    issues = issues_of(path)
    assert len(issues) == 1, "\n".join(map(str, issues))
    return issues[0]


def check(issue: InputIssue, entity: str, field: str, value: Any) -> None:
    assert issue.entity == entity, issue
    assert issue.field == field, issue
    if isinstance(value, float) and math.isnan(value):
        assert isinstance(issue.value, float) and math.isnan(issue.value), issue
    elif value is MISSING:
        assert issue.value is MISSING, issue
    else:
        assert issue.value == value and type(issue.value) is type(value), issue


def loads(tmp_path: Path, doc: Any, name: str = "inst.json") -> Instance:
    return load_instance(write(tmp_path, doc, name))


YAML_BASE = """\
name: tiny
horizon: {periods: 2}
market: {hashprice_usd_per_ph_day: 50}
"""


# --- the base instances are valid ---------------------------------------------------------


def test_base_instance_is_valid(tmp_path: Path) -> None:
    inst = loads(tmp_path, base())
    assert [s.id for s in inst.sites] == ["a", "b", "m"]
    assert inst.links[0].link_id == "src-b"
    assert inst.series(inst.sites[2].grid.price_usd_per_mwh) == [35, 36, 37]  # type: ignore[union-attr]


def test_worked_example_loads() -> None:
    inst = load_instance(DATA / "worked_example.yaml")
    assert [s.id for s in inst.sites] == ["rockdale", "midland", "abilene"]
    assert [c.id for c in inst.contracts] == ["hyperscaler-a", "neocloud-b"]
    assert [c.committed for c in inst.contracts] == [True, False]
    assert {link.link_id: link.kind for link in inst.links} == {
        "windfarm-abilene": "power",
        "midland-abilene": "fiber",
    }


def test_worked_example_matches_the_docs(tmp_path: Path) -> None:
    # docs/instance-format.md shows the example inline; the two must not drift apart.
    from portfolio_opt.loader import read_document

    text = (Path(__file__).parent.parent / "docs" / "instance-format.md").read_text()
    blocks = [b.split("```")[0] for b in text.split("```yaml\n")[1:]]
    (shown,) = [b for b in blocks if b.startswith("name: worked-example")]
    shown_file = write(tmp_path, shown, "shown.yaml")
    assert read_document(shown_file).data == read_document(DATA / "worked_example.yaml").data


# --- keys ---------------------------------------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    doc = base()
    doc["limit"] = {"max_contracts": 1}  # typo for "limits"
    issue = only_issue(write(tmp_path, doc))
    check(issue, "document", "limit", {"max_contracts": 1})
    assert "limits" in issue.expected  # the valid keys are listed


def test_unknown_nested_key(tmp_path: Path) -> None:
    doc = base()
    site(doc, "a")["btc"]["fleet_mv"] = 60
    issue = only_issue(write(tmp_path, doc))
    check(issue, "site 'a'", "btc.fleet_mv", 60)
    assert "fleet_mw" in issue.expected


def test_python_name_of_from_is_an_unknown_key(tmp_path: Path) -> None:
    doc = base()
    doc["links"][0]["from_"] = doc["links"][0].pop("from")
    issue = only_issue(write(tmp_path, doc))
    check(issue, "links[0]", "from_", "src")
    assert "from," in issue.expected


def test_missing_required_key(tmp_path: Path) -> None:
    doc = base()
    del site(doc, "b")["ai"]["block_it_mw"]
    check(only_issue(write(tmp_path, doc)), "site 'b'", "ai.block_it_mw", MISSING)


def test_null_on_required_key_is_an_error(tmp_path: Path) -> None:
    doc = base()
    site(doc, "a")["capacity_mw"] = None
    issue = only_issue(write(tmp_path, doc))
    check(issue, "site 'a'", "capacity_mw", None)
    assert "got null" in str(issue)


def test_null_on_optional_key_means_absent(tmp_path: Path) -> None:
    text = YAML_BASE + """\
sites:
  - id: a
    capacity_mw: 10
    grid: null
    btc: {fleet_mw: 5, efficiency_j_per_th: 20, pue: ~, uptime: null}
    ai: {max_it_mw: 5, block_it_mw: 5, capex_usd_per_it_mw: 1, pue: null, lead_time_periods: ~}
sources: null
links: ~
limits: {max_contracts: null}
"""
    inst = loads(tmp_path, text, "inst.yaml")
    a = inst.sites[0]
    assert a.grid is None
    assert a.btc is not None and (a.btc.pue, a.btc.uptime) == (1.0, 1.0)
    assert a.ai is not None and (a.ai.pue, a.ai.lead_time_periods) == (1.3, 1)
    assert inst.sources == [] and inst.links == []
    assert inst.limits.max_contracts is None


# --- numbers ------------------------------------------------------------------------------


def test_boolean_is_not_a_number(tmp_path: Path) -> None:
    doc = base()
    doc["horizon"]["discount_rate"] = True
    check(only_issue(write(tmp_path, doc)), "horizon", "discount_rate", True)


def test_boolean_is_not_an_integer(tmp_path: Path) -> None:
    doc = base()
    doc["horizon"]["periods"] = True
    check(only_issue(write(tmp_path, doc)), "horizon", "periods", True)


@pytest.mark.parametrize(
    ("literal", "value"), [(".nan", math.nan), (".inf", math.inf), ("-.Inf", -math.inf)]
)
def test_yaml_nan_and_infinity_rejected(tmp_path: Path, literal: str, value: float) -> None:
    text = YAML_BASE + f"sites: [{{id: a, capacity_mw: {literal}}}]\n"
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    check(issue, "site 'a'", "capacity_mw", value)
    assert "finite" in issue.expected


@pytest.mark.parametrize(("literal", "value"), [("NaN", math.nan), ("Infinity", math.inf)])
def test_json_nan_and_infinity_rejected(tmp_path: Path, literal: str, value: float) -> None:
    text = json.dumps(base()).replace('"hashprice_usd_per_ph_day": 50',
                                      f'"hashprice_usd_per_ph_day": {literal}')
    check(only_issue(write(tmp_path, text)), "market", "hashprice_usd_per_ph_day", value)


def test_nan_inside_a_series_rejected(tmp_path: Path) -> None:
    text = json.dumps(base()).replace("[35, 36, 37]", "[35, NaN, 37]")
    issue = only_issue(write(tmp_path, text))
    assert (issue.entity, issue.field) == ("site 'm'", "grid.price_usd_per_mwh")
    assert "period 2" in issue.expected


def test_integral_float_accepted_for_int_field(tmp_path: Path) -> None:
    doc = base()
    doc["horizon"]["periods"] = 3.0
    contract(doc)["start_period"] = 2.0
    inst = loads(tmp_path, doc)
    assert inst.horizon.periods == 3 and isinstance(inst.horizon.periods, int)
    assert inst.contracts[0].start_period == 2 and isinstance(inst.contracts[0].start_period, int)


def test_fractional_float_rejected_for_int_field(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["term_periods"] = 3.5
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "term_periods", 3.5)
    assert "whole number" in issue.expected


def test_huge_integer_is_an_error_not_a_crash(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: a, capacity_mw: 1" + "0" * 400 + "}]\n"
    check(only_issue(write(tmp_path, text, "inst.yaml")), "site 'a'", "capacity_mw", 10**400)


@pytest.mark.parametrize(
    ("where", "entity", "field", "value"),
    [
        (("horizon",), "horizon", "discount_rate", -0.05),
        (("sites", 0, "btc"), "site 'a'", "btc.fleet_mw", -1),
        (("sites", 0, "grid"), "site 'a'", "grid.capacity_mw", -10),
        (("sites", 1, "ai"), "site 'b'", "ai.capex_usd_per_it_mw", -1),
        (("sources", 0), "source 'src'", "capacity_mw", -80),
        (("contracts", 0), "contract 'c1'", "rate_usd_per_kw_month", -150),
        (("contracts", 0), "contract 'c1'", "escalator", -0.01),
    ],
)
def test_negative_values_rejected(
    tmp_path: Path, where: tuple[Any, ...], entity: str, field: str, value: float
) -> None:
    doc = base()
    target: Any = doc
    for part in where:
        target = target[part]
    target[field.split(".")[-1]] = value
    issue = only_issue(write(tmp_path, doc))
    check(issue, entity, field, value)
    assert ">= 0" in issue.expected


def test_negative_element_in_series_rejected(tmp_path: Path) -> None:
    doc = base()
    doc["market"]["hashprice_usd_per_ph_day"] = [50, -1, 40]
    issue = only_issue(write(tmp_path, doc))
    check(issue, "market", "hashprice_usd_per_ph_day", [50, -1, 40])
    assert "period 2" in issue.expected


def test_uptime_zero_rejected_one_accepted(tmp_path: Path) -> None:
    doc = base()
    site(doc, "a")["btc"]["uptime"] = 0
    issue = only_issue(write(tmp_path, doc))
    check(issue, "site 'a'", "btc.uptime", 0)
    assert "> 0" in issue.expected and "<= 1" in issue.expected
    site(doc, "a")["btc"]["uptime"] = 1
    assert loads(tmp_path, doc).sites[0].btc.uptime == 1.0  # type: ignore[union-attr]


@pytest.mark.parametrize("block", ["btc", "ai"])
def test_pue_below_one_rejected(tmp_path: Path, block: str) -> None:
    doc = base()
    site(doc, "a")[block]["pue"] = 0.95
    issue = only_issue(write(tmp_path, doc))
    check(issue, "site 'a'", f"{block}.pue", 0.95)
    assert ">= 1" in issue.expected


def test_efficiency_zero_rejected(tmp_path: Path) -> None:
    doc = base()
    site(doc, "m")["btc"]["efficiency_j_per_th"] = 0
    check(only_issue(write(tmp_path, doc)), "site 'm'", "btc.efficiency_j_per_th", 0)


def test_loss_one_rejected(tmp_path: Path) -> None:
    doc = base()
    doc["links"][0]["loss"] = 1
    issue = only_issue(write(tmp_path, doc))
    check(issue, "link 'src-b'", "loss", 1)
    assert "< 1" in issue.expected


def test_periods_zero_rejected(tmp_path: Path) -> None:
    doc = base()
    doc["horizon"]["periods"] = 0
    doc["market"]["hashprice_usd_per_ph_day"] = 50
    site(doc, "m")["grid"]["price_usd_per_mwh"] = 35
    check(only_issue(write(tmp_path, doc)), "horizon", "periods", 0)


# --- ids ----------------------------------------------------------------------------------


def test_number_where_an_id_belongs(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: 7, capacity_mw: 10}]\n"
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    check(issue, "sites[0]", "id", 7)
    assert "quote" in issue.expected


def test_number_as_tenant(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["tenant"] = 42
    check(only_issue(write(tmp_path, doc)), "contract 'c1'", "tenant", 42)


def test_empty_id(tmp_path: Path) -> None:
    doc = base()
    doc["sources"][0]["id"] = ""
    doc["links"] = []
    check(only_issue(write(tmp_path, doc)), "sources[0]", "id", "")


def test_ids_unique_across_sites_and_sources(tmp_path: Path) -> None:
    doc = base()
    doc["sources"][0]["id"] = "b"
    doc["links"] = []
    issue = only_issue(write(tmp_path, doc))
    check(issue, "source 'b' (sources[0])", "id", "b")
    assert "sites[1]" in issue.expected


def test_ids_compared_case_sensitively(tmp_path: Path) -> None:
    doc = base()
    doc["sources"][0]["id"] = "B"
    doc["links"] = []
    assert [r.id for r in loads(tmp_path, doc).sources] == ["B"]


def test_duplicate_site_ids(tmp_path: Path) -> None:
    doc = base()
    site(doc, "m")["id"] = "a"
    check(only_issue(write(tmp_path, doc)), "site 'a' (sites[2])", "id", "a")


def test_duplicate_link_ids(tmp_path: Path) -> None:
    doc = base()
    doc["links"][0]["id"] = "feed"
    doc["links"].append({"id": "feed", "from": "src", "to": "a", "kind": "power",
                         "capacity_mw": 10})
    issue = only_issue(write(tmp_path, doc))
    check(issue, "link 'feed' (links[2])", "id", "feed")
    assert "links[0]" in issue.expected


def test_default_link_id_collision_names_it(tmp_path: Path) -> None:
    doc = base()
    doc["links"].append({"from": "src", "to": "b", "kind": "power", "capacity_mw": 5})
    issue = only_issue(write(tmp_path, doc))
    check(issue, "link 'src-b' (links[2])", "id", "src-b")
    assert "default id" in issue.expected and "'src-b'" in issue.expected


def test_explicit_id_colliding_with_a_default_id(tmp_path: Path) -> None:
    doc = base()
    doc["links"].append({"id": "src-b", "from": "a", "to": "m", "kind": "power",
                         "capacity_mw": 5})
    issue = only_issue(write(tmp_path, doc))
    check(issue, "link 'src-b' (links[2])", "id", "src-b")
    assert "links[0]" in issue.expected and "default id" in issue.expected


def test_default_ids_of_hyphenated_nodes_can_collide(tmp_path: Path) -> None:
    # "a-b" -> "c" and "a" -> "b-c" are both "a-b-c" by default: the second needs an id.
    text = YAML_BASE + """\
sites: [{id: a, capacity_mw: 1}, {id: a-b, capacity_mw: 1}, {id: c, capacity_mw: 1},
        {id: b-c, capacity_mw: 1}]
links:
  - {from: a-b, to: c, kind: fiber, latency_ms: 1}
  - {from: a, to: b-c, kind: fiber, latency_ms: 1}
"""
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    check(issue, "link 'a-b-c' (links[1])", "id", "a-b-c")


def test_duplicate_contract_ids(tmp_path: Path) -> None:
    doc = base()
    doc["contracts"].append(copy.deepcopy(contract(doc)))
    check(only_issue(write(tmp_path, doc)), "contract 'c1' (contracts[1])", "id", "c1")


# --- links --------------------------------------------------------------------------------


def test_link_to_unknown_node(tmp_path: Path) -> None:
    doc = base()
    doc["links"][1]["to"] = "nowhere"
    issue = only_issue(write(tmp_path, doc))
    check(issue, "link 'a-nowhere'", "to", "nowhere")
    assert "'src'" in issue.expected  # the known ids are listed


def test_link_from_unknown_node(tmp_path: Path) -> None:
    doc = base()
    doc["links"][0]["from"] = "Src"
    check(only_issue(write(tmp_path, doc)), "link 'Src-b'", "from", "Src")


def test_self_link(tmp_path: Path) -> None:
    doc = base()
    doc["links"][0]["to"] = "src"
    check(only_issue(write(tmp_path, doc)), "link 'src-src'", "to", "src")


def test_unknown_link_kind(tmp_path: Path) -> None:
    doc = base()
    doc["links"][0]["kind"] = "Power"
    issue = only_issue(write(tmp_path, doc))
    check(issue, "link 'src-b'", "kind", "Power")
    assert "'power'" in issue.expected and "'fiber'" in issue.expected


def test_power_link_without_capacity(tmp_path: Path) -> None:
    doc = base()
    del doc["links"][0]["capacity_mw"]
    check(only_issue(write(tmp_path, doc)), "link 'src-b'", "capacity_mw", MISSING)


def test_latency_on_power_link(tmp_path: Path) -> None:
    doc = base()
    doc["links"][0]["latency_ms"] = 3
    check(only_issue(write(tmp_path, doc)), "link 'src-b'", "latency_ms", 3.0)


@pytest.mark.parametrize(("field", "value"), [("capacity_mw", 5.0), ("loss", 0.0),
                                              ("directed", False)])
def test_power_fields_on_fiber_link(tmp_path: Path, field: str, value: Any) -> None:
    doc = base()
    doc["links"][1][field] = value
    check(only_issue(write(tmp_path, doc)), "link 'a-b'", field, value)


def test_fiber_link_without_latency(tmp_path: Path) -> None:
    doc = base()
    del doc["links"][1]["latency_ms"]
    check(only_issue(write(tmp_path, doc)), "link 'a-b'", "latency_ms", MISSING)


def test_directed_must_be_a_boolean(tmp_path: Path) -> None:
    text = YAML_BASE + """\
sites: [{id: a, capacity_mw: 1}, {id: b, capacity_mw: 1}]
links: [{from: a, to: b, kind: power, capacity_mw: 1, directed: yes}]
"""
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    check(issue, "link 'a-b'", "directed", "yes")
    assert "true or false" in issue.expected


# --- series -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "entity", "field"),
    [
        (("market",), "market", "hashprice_usd_per_ph_day"),
        (("sites", 2, "grid"), "site 'm'", "grid.price_usd_per_mwh"),
        (("sources", 0), "source 'src'", "capacity_mw"),
        (("sources", 0), "source 'src'", "price_usd_per_mwh"),
        (("limits",), "limits", "capex_budget_usd_per_period"),
    ],
)
def test_series_of_wrong_length(
    tmp_path: Path, where: tuple[Any, ...], entity: str, field: str
) -> None:
    doc = base()
    doc.setdefault("limits", {})
    target: Any = doc
    for part in where:
        target = target[part]
    target[field.split(".")[-1]] = [1.0, 2.0]  # periods is 3
    issue = only_issue(write(tmp_path, doc))
    check(issue, entity, field, [1.0, 2.0])
    assert "exactly 3" in issue.expected


def test_series_as_empty_list(tmp_path: Path) -> None:
    doc = base()
    doc["sources"][0]["price_usd_per_mwh"] = []
    check(only_issue(write(tmp_path, doc)), "source 'src'", "price_usd_per_mwh", [])


def test_series_as_a_string(tmp_path: Path) -> None:
    doc = base()
    doc["market"]["hashprice_usd_per_ph_day"] = "50"
    check(only_issue(write(tmp_path, doc)), "market", "hashprice_usd_per_ph_day", "50")


# --- sites --------------------------------------------------------------------------------


def test_no_sites(tmp_path: Path) -> None:
    doc = base()
    doc["sites"] = []
    doc["links"] = []
    doc["contracts"] = []
    check(only_issue(write(tmp_path, doc)), "document", "sites", [])


def test_existing_it_above_max_it(tmp_path: Path) -> None:
    doc = base()
    site(doc, "b")["ai"]["existing_it_mw"] = 45
    issue = only_issue(write(tmp_path, doc))
    check(issue, "site 'b'", "ai.existing_it_mw", 45.0)
    assert "40" in issue.expected


def test_existing_it_times_pue_above_site_capacity(tmp_path: Path) -> None:
    doc = base()
    site(doc, "b")["ai"]["existing_it_mw"] = 40  # 40 * 1.6 = 64 MW > capacity 60
    site(doc, "b")["ai"]["pue"] = 1.6
    issue = only_issue(write(tmp_path, doc))
    check(issue, "site 'b'", "ai.existing_it_mw", 40.0)
    assert "37.5" in issue.expected  # 60 / 1.6, the most that fits


def test_existing_it_filling_the_site_exactly_is_accepted(tmp_path: Path) -> None:
    doc = base()
    site(doc, "b")["ai"]["existing_it_mw"] = 40
    site(doc, "b")["ai"]["pue"] = 1.5  # exactly 60 MW
    assert loads(tmp_path, doc).sites[1].ai.existing_it_mw == 40  # type: ignore[union-attr]


# --- contracts ----------------------------------------------------------------------------


def test_it_mw_max_below_min(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["it_mw"] = {"min": 20, "max": 10}
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "it_mw.max", 10)
    assert "20" in issue.expected


@pytest.mark.parametrize("start", [0, 4])
def test_start_period_out_of_range(tmp_path: Path, start: int) -> None:
    doc = base()
    contract(doc)["start_period"] = start
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "start_period", start)


def test_start_period_last_accepted(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["start_period"] = 3
    assert loads(tmp_path, doc).contracts[0].start_period == 3


def test_term_zero_rejected(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["term_periods"] = 0
    check(only_issue(write(tmp_path, doc)), "contract 'c1'", "term_periods", 0)


def test_max_sites_zero_rejected(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["max_sites"] = 0
    check(only_issue(write(tmp_path, doc)), "contract 'c1'", "max_sites", 0)


def test_committed_must_be_a_boolean(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["committed"] = 1
    check(only_issue(write(tmp_path, doc)), "contract 'c1'", "committed", 1)


def test_eligible_with_both_sites_and_near(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"sites": ["a"], "near": {"site": "a", "max_latency_ms": 5}}
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "eligible",
          {"sites": ["a"], "near": {"site": "a", "max_latency_ms": 5.0}})
    assert "exactly one" in issue.expected


def test_eligible_with_neither(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {}
    check(only_issue(write(tmp_path, doc)), "contract 'c1'", "eligible", {})


def test_eligible_null_means_every_ai_site(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = None
    assert loads(tmp_path, doc).contracts[0].eligible is None


def test_eligible_sites_empty(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"sites": []}
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "eligible.sites", [])
    assert "'a', 'b'" in issue.expected


def test_eligible_unknown_site(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"sites": ["a", "x"]}
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "eligible.sites[1]", "x")
    assert "'a', 'b'" in issue.expected


def test_eligible_site_without_ai(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"sites": ["m"]}
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "eligible.sites[0]", "m")
    assert "'ai'" in issue.expected


def test_eligible_source_is_not_a_site(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"sites": ["src"]}
    check(only_issue(write(tmp_path, doc)), "contract 'c1'", "eligible.sites[0]", "src")


def test_eligible_site_repeated(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"sites": ["a", "b", "a"]}
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "eligible.sites", "a")
    assert "2 times" in issue.expected


def test_near_unknown_site(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"near": {"site": "z", "max_latency_ms": 5}}
    check(only_issue(write(tmp_path, doc)), "contract 'c1'", "eligible.near.site", "z")


def test_near_a_source(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"near": {"site": "src", "max_latency_ms": 5}}
    issue = only_issue(write(tmp_path, doc))
    check(issue, "contract 'c1'", "eligible.near.site", "src")
    assert "sources" in issue.expected


def test_near_site_without_ai_is_a_reference_point(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"near": {"site": "m", "max_latency_ms": 5}}
    near = loads(tmp_path, doc).contracts[0].eligible.near  # type: ignore[union-attr]
    assert near is not None and near.site == "m"


def test_near_negative_latency(tmp_path: Path) -> None:
    doc = base()
    contract(doc)["eligible"] = {"near": {"site": "a", "max_latency_ms": -1}}
    check(only_issue(write(tmp_path, doc)), "contract 'c1'", "eligible.near.max_latency_ms", -1)


# --- limits -------------------------------------------------------------------------------


def test_max_tenant_share_zero_rejected_one_accepted(tmp_path: Path) -> None:
    doc = base()
    doc["limits"] = {"max_tenant_share": 0}
    issue = only_issue(write(tmp_path, doc))
    check(issue, "limits", "max_tenant_share", 0)
    assert "> 0" in issue.expected
    doc["limits"] = {"max_tenant_share": 1}
    assert loads(tmp_path, doc).limits.max_tenant_share == 1.0


def test_max_contracts_negative(tmp_path: Path) -> None:
    doc = base()
    doc["limits"] = {"max_contracts": -1}
    check(only_issue(write(tmp_path, doc)), "limits", "max_contracts", -1)


def test_max_contracts_zero_accepted(tmp_path: Path) -> None:
    doc = base()
    doc["limits"] = {"max_contracts": 0, "capex_budget_usd": 0}
    assert loads(tmp_path, doc).limits.max_contracts == 0


# --- YAML specifics -----------------------------------------------------------------------


def test_yaml_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    text = YAML_BASE + """\
sites:
  - id: a
    capacity_mw: 9e6
    ai: {max_it_mw: 10, block_it_mw: 5, capex_usd_per_it_mw: 9.0e6, fixed_capex_usd: 1E+3}
"""
    a = loads(tmp_path, text, "inst.yaml").sites[0]
    ai = a.ai
    assert a.capacity_mw == 9e6
    assert ai is not None and (ai.capex_usd_per_it_mw, ai.fixed_capex_usd) == (9e6, 1e3)


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "OFF", "y"])
def test_yaml_11_booleans_are_strings(tmp_path: Path, word: str) -> None:
    text = YAML_BASE + f"sites: [{{id: a, capacity_mw: 1, ai: {{max_it_mw: 1, block_it_mw: 1, " \
        f"capex_usd_per_it_mw: 1, pue: {word}}}}}]\n"
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    check(issue, "site 'a'", "ai.pue", word)
    assert "a number" in issue.expected


def test_yaml_11_boolean_word_is_a_valid_id(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: no, capacity_mw: 1}, {id: on, capacity_mw: 1}]\n"
    assert [s.id for s in loads(tmp_path, text, "inst.yaml").sites] == ["no", "on"]


def test_yaml_date_is_a_string(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: 2026-01-01, capacity_mw: 1}]\n"
    assert loads(tmp_path, text, "inst.yaml").sites[0].id == "2026-01-01"
    text = YAML_BASE.replace("{periods: 2}", "{periods: 2, start_year: 2026-01-01}")
    text += "sites: [{id: a, capacity_mw: 1}]\n"
    check(only_issue(write(tmp_path, text, "inst.yaml")), "horizon", "start_year", "2026-01-01")


def test_yaml_underscore_digits_are_a_string(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: a, capacity_mw: 1_000}]\n"
    check(only_issue(write(tmp_path, text, "inst.yaml")), "site 'a'", "capacity_mw", "1_000")


def test_yaml_duplicate_key(tmp_path: Path) -> None:
    text = YAML_BASE + """\
sites:
  - id: a
    capacity_mw: 10
    capacity_mw: 20
"""
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    assert issue.value == "capacity_mw"
    assert "line 7" in issue.entity
    assert "at most once" in issue.expected


def test_yaml_duplicate_top_level_key(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: a, capacity_mw: 1}]\nname: other\n"
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    assert (issue.value, issue.entity) == ("name", "document (line 5, column 1)")


def test_json_duplicate_key(tmp_path: Path) -> None:
    text = json.dumps(base()).replace('"name": "tiny"', '"name": "tiny", "name": "again"')
    issue = only_issue(write(tmp_path, text))
    assert (issue.entity, issue.value) == ("document", "name")
    assert "at most once" in issue.expected


def test_yaml_object_tag_is_an_error_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = YAML_BASE + (
        "sites: [{id: a, capacity_mw: !!python/object/apply:os.system "
        f"['touch {marker}']}}]\n"
    )
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    assert issue.value == "tag:yaml.org,2002:python/object/apply:os.system"
    assert issue.entity == "document (line 4, column 30)"
    assert not marker.exists()


def test_yaml_custom_tag_is_an_error(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: a, capacity_mw: !mw 1}]\n"
    assert only_issue(write(tmp_path, text, "inst.yaml")).value == "!mw"


def test_yaml_anchors_and_aliases_work(tmp_path: Path) -> None:
    text = YAML_BASE + """\
sites:
  - {id: a, capacity_mw: 10, btc: &fleet {fleet_mw: 5, efficiency_j_per_th: 17.5}}
  - {id: b, capacity_mw: 10, btc: *fleet}
"""
    inst = loads(tmp_path, text, "inst.yaml")
    assert inst.sites[0].btc == inst.sites[1].btc


def test_yaml_merge_key_is_an_unknown_key(tmp_path: Path) -> None:
    text = YAML_BASE + """\
sites:
  - {id: a, capacity_mw: 10, btc: &fleet {fleet_mw: 5, efficiency_j_per_th: 17.5}}
  - {id: b, capacity_mw: 10, btc: {<<: *fleet, pue: 1.1}}
"""
    issues = issues_of(write(tmp_path, text, "inst.yaml"))
    # YAML 1.2 has no merge keys: '<<' is a plain (unknown) key, and nothing was merged.
    assert {(i.entity, i.field) for i in issues} == {
        ("site 'b'", "btc.<<"),
        ("site 'b'", "btc.fleet_mw"),
        ("site 'b'", "btc.efficiency_j_per_th"),
    }


def test_yaml_two_documents_rejected(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: a, capacity_mw: 1}]\n---\nname: again\n"
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    assert "single" in issue.expected


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: a, capacity_mw: 1}\n"
    issue = only_issue(write(tmp_path, text, "inst.yaml"))
    assert issue.entity.startswith("document (line ")


def test_json_syntax_error_gives_the_line(tmp_path: Path) -> None:
    issue = only_issue(write(tmp_path, '{"name": "x",\n "horizon": }'))
    assert issue.entity == "document (line 2, column 13)"
    assert issue.expected == "expected well-formed JSON"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "inst.yaml"
    path.write_bytes(YAML_BASE.replace("tiny", "caf\xe9").encode("latin-1"))
    assert "UTF-8" in only_issue(path).expected


@pytest.mark.parametrize("name", ["inst.json", "inst.yaml"])
def test_utf8_byte_order_mark_accepted(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base()).encode())
    assert load_instance(path).name == "tiny"


def test_non_string_key(tmp_path: Path) -> None:
    text = YAML_BASE + "sites: [{id: a, capacity_mw: 1}]\n1: one\n"
    check(only_issue(write(tmp_path, text, "inst.yaml")), "document", "", 1)


# --- the file itself ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["inst.YML", "inst.Json", "inst.yaml", "INST.JSON"])
def test_extension_decides_any_case(tmp_path: Path, name: str) -> None:
    assert loads(tmp_path, json.dumps(base()), name).name == "tiny"


def test_extension_decides_yaml_rules(tmp_path: Path) -> None:
    # Valid YAML but not JSON: the .json extension means JSON rules.
    issue = only_issue(write(tmp_path, YAML_BASE, "inst.json"))
    assert issue.expected == "expected well-formed JSON"


def test_other_extension_rejected(tmp_path: Path) -> None:
    issue = only_issue(write(tmp_path, json.dumps(base()), "inst.txt"))
    check(issue, "file", "", ".txt")
    assert ".yaml" in issue.expected


def test_missing_file(tmp_path: Path) -> None:
    issue = only_issue(tmp_path / "absent.yaml")
    assert issue.entity == "file"
    assert "existing" in issue.expected


@pytest.mark.parametrize(("text", "value"), [("", None), ("- 1\n- 2\n", [1, 2]),
                                             ("just text\n", "just text")])
def test_top_level_not_a_mapping(tmp_path: Path, text: str, value: Any) -> None:
    check(only_issue(write(tmp_path, text, "inst.yaml")), "document", "", value)


def test_error_message_names_the_file(tmp_path: Path) -> None:
    doc = base()
    site(doc, "a")["capacity_mw"] = -5
    path = write(tmp_path, doc)
    with pytest.raises(InputError) as info:
        load_instance(path)
    text = str(info.value)
    assert text.startswith("1 problem in the input:")
    assert f"{path}: site 'a', field 'capacity_mw': got -5; expected a number >= 0" in text


# --- all problems at once -----------------------------------------------------------------


def test_all_errors_reported(tmp_path: Path) -> None:
    doc = base()
    doc["horizon"]["discount_rate"] = -0.1  # schema
    site(doc, "a")["btc"]["pue"] = 0.9  # schema
    doc["links"][1]["to"] = "nowhere"  # reference
    doc["sources"][0]["capacity_mw"] = [1, 2]  # series length
    contract(doc)["eligible"] = {"sites": ["m"]}  # site without ai
    issues = issues_of(write(tmp_path, doc))
    assert {(i.entity, i.field) for i in issues} == {
        ("horizon", "discount_rate"),
        ("site 'a'", "btc.pue"),
        ("link 'a-nowhere'", "to"),
        ("source 'src'", "capacity_mw"),
        ("contract 'c1'", "eligible.sites[0]"),
    }
    assert len(issues) == 5


def test_bad_limit_does_not_hide_a_series_length(tmp_path: Path) -> None:
    doc = base()
    doc["limits"] = {"max_contracts": -1, "capex_budget_usd_per_period": [1, 2]}
    issues = issues_of(write(tmp_path, doc))
    assert {(i.entity, i.field) for i in issues} == {
        ("limits", "max_contracts"),
        ("limits", "capex_budget_usd_per_period"),
    }


def test_no_false_reference_errors_when_the_target_is_invalid(tmp_path: Path) -> None:
    # Site 'b' fails the schema; links and contracts naming it are not reported again.
    doc = base()
    site(doc, "b")["ai"]["pue"] = 0.5
    contract(doc)["eligible"] = {"sites": ["b"]}
    check(only_issue(write(tmp_path, doc)), "site 'b'", "ai.pue", 0.5)


def test_invalid_entries_still_listed_as_valid_choices(tmp_path: Path) -> None:
    doc = base()
    site(doc, "b")["ai"]["pue"] = 0.5
    contract(doc)["eligible"] = {"sites": ["m"]}
    issues = issues_of(write(tmp_path, doc))
    assert [(i.entity, i.field) for i in issues] == [
        ("site 'b'", "ai.pue"),
        ("contract 'c1'", "eligible.sites[0]"),
    ]
    assert "'a', 'b'" in issues[1].expected


def test_no_false_reference_errors_when_sites_are_malformed(tmp_path: Path) -> None:
    doc = base()
    doc["sites"] = {"a": doc["sites"][0]}  # a mapping instead of a list
    check(only_issue(write(tmp_path, doc)), "document", "sites", {"a": base()["sites"][0]})


def test_python_model_keeps_cross_checks(tmp_path: Path) -> None:
    # check_instance is the same rule set for instances built in Python.
    from portfolio_opt.validate import check_instance

    doc = base()
    doc["links"][0]["to"] = "x"
    inst = Instance.model_validate(doc)
    with pytest.raises(InputError) as info:
        check_instance(inst, "built-in-python")
    (issue,) = info.value.issues
    assert (issue.file, issue.entity, issue.field) == ("built-in-python", "link 'src-x'", "to")
