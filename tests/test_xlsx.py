"""Instances as .xlsx workbooks, and results written as one.

Round trips compare validated Instance objects (and their dumps, including which keys the
file gave); validation messages are checked for the sheet, row and column a person would
look at; the solve of a workbook is compared with the solve of the YAML it came from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

import portfolio_opt as po
from portfolio_opt.generate import generate_instance, write_instance
from portfolio_opt.instance import Scenario
from portfolio_opt.loader import load_instance
from portfolio_opt.spreadsheet import convert, write_instance_workbook, write_template
from portfolio_opt.spreadsheet.layout import (
    KEY_VALUE_SHEETS,
    TABLE_SHEETS,
    description,
    key_value_columns,
    table_columns,
)
from portfolio_opt.validate import validate_data

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"
BUNDLED = [TUTORIAL, ROOT / "instances" / "us_portfolio.yaml",
           ROOT / "tests" / "data" / "worked_example.yaml"]


def run(*args: Any, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio_opt.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def same(a: po.Instance, b: po.Instance) -> None:
    """Equal as validated instances, as full dumps, and in which keys were given."""
    assert a == b
    assert a.model_dump() == b.model_dump()
    assert a.model_dump(exclude_unset=True) == b.model_dump(exclude_unset=True)


def sheet_header(ws: Any) -> list[Any]:
    return [c.value for c in ws[1]]


def col(ws: Any, name: str) -> int:
    return sheet_header(ws).index(name) + 1


def schema_leaves(model: Any, path: tuple[str, ...] = ()) -> list[tuple[str, tuple[str, ...]]]:
    """(top-level key, path below it) of every leaf field, walked off the pydantic models."""
    import types
    import typing

    from pydantic import BaseModel

    def models(annotation: Any) -> list[Any]:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            return models(typing.get_args(annotation)[0])
        if origin in (typing.Union, types.UnionType, list):
            return [m for a in typing.get_args(annotation) for m in models(a)]
        return [annotation] if isinstance(annotation, type) and issubclass(
            annotation, BaseModel) else []

    out = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        inner = models(info.annotation)
        if inner and path and "list[" in str(info.annotation):
            out.append((path[0], (*path[1:], key)))  # market.blocks: one JSON cell
        elif inner:
            out += schema_leaves(inner[0], (*path, key))
        elif path:
            out.append((path[0], (*path[1:], key)))
    return out


def problems(path: Path) -> list[str]:
    with pytest.raises(po.InputError) as info:
        load_instance(path)
    return [str(i) for i in info.value.issues]


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_yaml_xlsx_yaml_round_trip_preserves_the_instance(tmp_path, path):
    original = load_instance(path)
    book = write_instance_workbook(original, tmp_path / "inst.xlsx")
    from_book = load_instance(book)
    same(original, from_book)
    back = convert(book, tmp_path / "back.yaml")
    same(original, load_instance(back))
    same(original, load_instance(convert(book, tmp_path / "back.json")))


@pytest.mark.parametrize("deals", [False, True], ids=["v1", "deals"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_instances_round_trip(tmp_path, seed, deals):
    data = generate_instance(sites=14, periods=6, contracts=7, seed=seed, deals=deals)
    original = validate_data(data)
    yaml_path = write_instance(data, tmp_path / "gen.yaml")
    book = convert(yaml_path, tmp_path / "gen.xlsx")
    same(original, load_instance(book))
    same(original, load_instance(convert(book, tmp_path / "gen_back.yaml")))


def deals_and_debt() -> dict[str, Any]:
    """One instance using every field of spec v2 parts A and D, both series forms."""
    return {
        "name": "deals-and-debt",
        "horizon": {"periods": 3, "discount_rate": 0.1, "terminal_value": "contract_tail",
                    "tail_energy_price_usd_per_mwh": 41.5},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [{"id": "a", "capacity_mw": 100,
                   "grid": {"capacity_mw": 100, "price_usd_per_mwh": [30, 31, 32.5]},
                   "ai": {"max_it_mw": 20, "block_it_mw": 10, "capex_usd_per_it_mw": 5e6,
                          "lead_time_periods": 0}}],
        "contracts": [
            {"id": "operator-funded", "tenant": "t", "it_mw": {"min": 10, "max": 10},
             "rate_usd_per_kw_month": 150, "start_period": 1, "term_periods": 6,
             "energy_recovery_usd_per_mwh": [30, 31, 32.5], "group": "offer",
             "allocation": "fixed"},
            {"id": "tenant-funded", "tenant": "t", "it_mw": {"min": 10, "max": 10},
             "rate_usd_per_kw_month": 120, "start_period": 1, "term_periods": 6,
             "energy_recovery_usd_per_mwh": 0.1 + 0.2, "tenant_capex_usd_per_it_mw": 3e6,
             "tenant_capex_period": 2, "group": "offer", "allocation": "flexible"},
        ],
        "limits": {"capex_budget_usd": 60e6},
        "finance": {"debt": {"max_loan_to_cost": 0.7, "interest_rate": 0.075,
                             "tenor_years": 7, "max_total_usd": 30e6}},
    }


def test_every_v2_deal_and_debt_field_round_trips(tmp_path):
    original = po.Instance.model_validate(deals_and_debt())
    yaml_path = write_instance(deals_and_debt(), tmp_path / "deals.yaml")
    same(original, load_instance(yaml_path))
    book = convert(yaml_path, tmp_path / "deals.xlsx")
    from_book = load_instance(book)
    same(original, from_book)
    same(original, load_instance(convert(book, tmp_path / "back.yaml")))
    same(original, load_instance(convert(book, tmp_path / "back.json")))
    assert from_book.finance is not None and from_book.finance.debt.tenor_years == 7
    assert from_book.contracts[1].energy_recovery_usd_per_mwh == 0.1 + 0.2 != 0.3
    wb = openpyxl.load_workbook(book)
    # the series given per period sits in the period columns, the scalar in the plain one
    ws = wb["contracts"]
    assert [ws.cell(2, col(ws, f"energy_recovery_usd_per_mwh[{t}]")).value
            for t in (1, 2, 3)] == [30, 31, 32.5]
    assert ws.cell(2, col(ws, "energy_recovery_usd_per_mwh")).value is None
    assert ws.cell(3, col(ws, "energy_recovery_usd_per_mwh")).value == 0.1 + 0.2
    assert ws.cell(3, col(ws, "energy_recovery_usd_per_mwh[1]")).value is None
    assert ws.cell(2, col(ws, "group")).value == ws.cell(3, col(ws, "group")).value == "offer"
    assert ws.cell(3, col(ws, "tenant_capex_period")).value == 2
    kv = {r[0]: r[1] for r in wb["finance"].iter_rows(min_row=2, values_only=True)}
    assert kv == {"debt.max_loan_to_cost": 0.7, "debt.interest_rate": 0.075,
                  "debt.tenor_years": 7, "debt.max_total_usd": 30e6}
    horizon = {r[0]: r[1] for r in wb["horizon"].iter_rows(min_row=2, values_only=True)}
    assert horizon["terminal_value"] == "contract_tail"
    assert horizon["tail_energy_price_usd_per_mwh"] == 41.5
    # left-out defaults stay left out: no finance, no deal fields -> empty cells
    plain = load_instance(write_instance_workbook(load_instance(TUTORIAL), tmp_path / "t.xlsx"))
    assert plain.finance is None
    assert "allocation" not in plain.contracts[0].model_dump(exclude_unset=True)


def test_a_filled_finance_sheet_reads_as_the_debt_block(tmp_path):
    path = write_template(tmp_path / "debt.xlsx", periods=1)
    wb = openpyxl.load_workbook(path)
    kv = {ws.title: {r[0].value: r[1] for r in ws.iter_rows(min_row=2)}
          for ws in (wb["horizon"], wb["market"], wb["finance"])}
    kv["horizon"]["name"].value = "debt"
    kv["horizon"]["periods"].value = 1
    kv["market"]["hashprice_usd_per_ph_day"].value = 40
    kv["finance"]["debt.max_loan_to_cost"].value = 0.75
    kv["finance"]["debt.interest_rate"].value = 0.0775
    kv["finance"]["debt.tenor_years"].value = 5
    wb["sites"].cell(2, col(wb["sites"], "id"), "a")
    wb["sites"].cell(2, col(wb["sites"], "capacity_mw"), 10)
    wb.save(path)
    inst = load_instance(path)
    assert inst.finance is not None
    assert inst.finance.model_dump() == {"debt": {
        "max_loan_to_cost": 0.75, "interest_rate": 0.0775, "tenor_years": 5,
        "max_total_usd": None}}


def test_bad_v2_fields_name_sheet_row_and_column(tmp_path):
    book = write_instance_workbook(po.Instance.model_validate(deals_and_debt()),
                                   tmp_path / "deals.xlsx")
    wb = openpyxl.load_workbook(book)
    ws = wb["contracts"]
    letter = openpyxl.utils.get_column_letter
    er2 = letter(col(ws, "energy_recovery_usd_per_mwh[2]"))
    alloc = letter(col(ws, "allocation"))
    ws.cell(2, col(ws, "energy_recovery_usd_per_mwh[2]"), "n/a")
    ws.cell(3, col(ws, "allocation"), "fixd")
    rows = {r[0].value: r[1] for r in wb["finance"].iter_rows(min_row=2)}
    rows["debt.tenor_years"].value = 7.5
    rows["debt.max_loan_to_cost"].value = 1.0
    rows["debt.interest_rate"].value = None
    wb["finance"].cell(7, 1, "debt.intrest_rate")
    wb["finance"].cell(7, 2, 0.05)
    horizon = {r[0].value: r[1] for r in wb["horizon"].iter_rows(min_row=2)}
    horizon["terminal_value"].value = "none"
    wb.save(book)
    text = "\n".join(problems(book))
    assert f"sheet 'contracts', row 2, column {er2} (contract 'operator-funded'), field " \
           "'energy_recovery_usd_per_mwh'" in text and "element 2 (period 2)" in text
    assert f"sheet 'contracts', row 3, column {alloc} (contract 'tenant-funded'), field " \
           "'allocation': got 'fixd'; expected 'flexible' or 'fixed'" in text
    # finance rows: 2 max_loan_to_cost, 3 interest_rate, 4 tenor_years, 5 max_total_usd
    assert "sheet 'finance', row 2, column B (finance), field 'debt.max_loan_to_cost': " \
           "got 1; expected a number >= 0 and < 1" in text
    assert "sheet 'finance', row 3, column B (finance), field 'debt.interest_rate'" in text
    assert "sheet 'finance', row 4, column B (finance), field 'debt.tenor_years': got 7.5" \
        in text and "not a fraction" in text
    assert "sheet 'finance', row 7, column B (finance), field 'debt.intrest_rate'" in text
    assert "expected one of the keys max_loan_to_cost, interest_rate" in text
    tail_row = 2 + [c.name for c in key_value_columns("horizon")].index(
        "tail_energy_price_usd_per_mwh")
    assert f"sheet 'horizon', row {tail_row}, column B (horizon), field " \
           "'tail_energy_price_usd_per_mwh': got 41.5" in text
    assert len(problems(book)) == 7
    # cross-entity rules of part A, once the schema passes: both of a group committed,
    # a contribution after the horizon
    wb = openpyxl.load_workbook(write_instance_workbook(
        po.Instance.model_validate(deals_and_debt()), tmp_path / "deals2.xlsx"))
    ws = wb["contracts"]
    for row in (2, 3):
        ws.cell(row, col(ws, "committed"), True)
    ws.cell(3, col(ws, "tenant_capex_period"), 4)
    wb.save(tmp_path / "deals2.xlsx")
    text = "\n".join(problems(tmp_path / "deals2.xlsx"))
    committed = letter(col(ws, "group"))
    period = letter(col(ws, "tenant_capex_period"))
    assert f"sheet 'contracts', row 3, column {committed} (contract 'tenant-funded'), " \
           "field 'group': got 'offer'" in text
    assert f"sheet 'contracts', row 3, column {period} (contract 'tenant-funded'), " \
           "field 'tenant_capex_period': got 4" in text


def test_floats_survive_the_workbook_bit_for_bit(tmp_path):
    # openpyxl writes '%.16g' by default, which turns 0.1 + 0.2 into 0.3; the workbook
    # must hold the shortest exact repr instead.
    awkward = [0.1 + 0.2, 1 / 3, 123456789.12345679, 2.0 ** -30]
    inst = po.Instance.model_validate({
        "name": "floats", "horizon": {"periods": 4, "discount_rate": 0.1 + 0.2},
        "market": {"hashprice_usd_per_ph_day": awkward},
        "sites": [{"id": "a", "capacity_mw": 1 / 3,
                   "grid": {"capacity_mw": 100, "price_usd_per_mwh": 0.1 + 0.7}}],
    })
    back = load_instance(write_instance_workbook(inst, tmp_path / "f.xlsx"))
    assert back.market.hashprice_usd_per_ph_day == awkward
    assert back.horizon.discount_rate == 0.1 + 0.2 != 0.3
    assert back.sites[0].capacity_mw == 1 / 3
    same(inst, back)


def test_scalar_and_per_period_series_keep_their_form(tmp_path):
    inst = load_instance(TUTORIAL)
    book = write_instance_workbook(inst, tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(book)["sites"]
    bravo = 3  # row 1 headers, then alpha, bravo
    assert ws.cell(bravo, col(ws, "id")).value == "bravo"
    # bravo's grid price is one number (36) in the plain column, not five copies
    assert ws.cell(bravo, col(ws, "grid.price_usd_per_mwh")).value == 36
    assert ws.cell(bravo, col(ws, "grid.price_usd_per_mwh[1]")).value is None
    # alpha's is a series [30, 31, 32, 33, 34] in the per-period columns
    assert [ws.cell(2, col(ws, f"grid.price_usd_per_mwh[{t}]")).value
            for t in range(1, 6)] == [30, 31, 32, 33, 34]
    contracts = openpyxl.load_workbook(book)["contracts"]
    assert contracts.cell(2, col(contracts, "eligible.sites")).value == "charlie"
    assert contracts.cell(3, col(contracts, "eligible.near.site")).value == "bravo"


def test_awkward_ids_round_trip(tmp_path):
    # ids with ';', a leading '[', spaces, an '=' (not leading: ids may not begin as a
    # formula does) and a number-like text
    inst = po.Instance.model_validate({
        "name": "SUM(A1)=", "horizon": {"periods": 1},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [{"id": i, "capacity_mw": 10,
                   "ai": {"max_it_mw": 10, "block_it_mw": 5, "capex_usd_per_it_mw": 1}}
                  for i in ("a;b", "[c]", " d ", " =1+1", "007")],
        "contracts": [{"id": "c", "tenant": "t", "it_mw": {"min": 0, "max": 5},
                       "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 1,
                       "eligible": {"sites": ["a;b", "[c]", " d ", " =1+1", "007"]}}],
    })
    back = load_instance(write_instance_workbook(inst, tmp_path / "ids.xlsx"))
    same(inst, back)
    assert back.contracts[0].eligible is not None
    assert back.contracts[0].eligible.sites == ["a;b", "[c]", " d ", " =1+1", "007"]


def test_solving_the_workbook_gives_the_same_npv(tmp_path):
    npv = {}
    for path in (TUTORIAL, ROOT / "tests" / "data" / "worked_example.yaml"):
        book = convert(path, tmp_path / f"{path.stem}.xlsx")
        a, b = po.solve(path), po.solve(book)
        assert a.status == b.status == po.Status.OPTIMAL
        assert a.objective_npv_usd is not None
        assert b.objective_npv_usd == pytest.approx(a.objective_npv_usd, rel=1e-12, abs=1e-6)
        npv[path.stem] = b.objective_npv_usd
    # the tutorial's optimum, as documented in docs/instances.md: 280.77 MUSD
    assert round(npv["tutorial"] / 1e6, 2) == 280.77


# ------------------------------------------------------------------------ template


def test_template_documents_every_field(tmp_path):
    proc = run("template", tmp_path / "t.xlsx", "--periods", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    wb = openpyxl.load_workbook(tmp_path / "t.xlsx")
    assert wb.sheetnames == ["README", "horizon", "market", "limits", "finance", "sites",
                             "sources", "links", "contracts", "uncertainty", "scenarios"]
    # every leaf field of the schema has its column or row (spec v2 fields included);
    # uncertainty.scenarios is not one cell but the scenarios sheet, one column per field
    laid_out = {(sheet, c.name) for sheet in KEY_VALUE_SHEETS for c in key_value_columns(sheet)}
    laid_out |= {(sheet, c.name) for sheet in TABLE_SHEETS for c in table_columns(sheet)}
    assert laid_out == {("horizon", "name")} | {
        (top, ".".join(path)) for top, path in schema_leaves(po.Instance)
        if (top in KEY_VALUE_SHEETS or top in TABLE_SHEETS)
        and (top, path) != ("uncertainty", ("scenarios",))} | {
        ("scenarios", ".".join(path)) for _, path in schema_leaves(Scenario, ("s",))}
    for sheet, name in [("horizon", "terminal_value"),
                        ("horizon", "tail_energy_price_usd_per_mwh"),
                        ("finance", "debt.interest_rate"), ("finance", "debt.tenor_years"),
                        ("contracts", "energy_recovery_usd_per_mwh"),
                        ("contracts", "tenant_capex_usd_per_it_mw"),
                        ("contracts", "group"), ("contracts", "allocation")]:
        assert (sheet, name) in laid_out
    readme_fields = {(r[0], r[1]) for r in wb["README"].iter_rows(values_only=True)
                     if r[0] in wb.sheetnames and r[1]}
    for sheet in TABLE_SHEETS:
        columns = table_columns(sheet)
        headers = sheet_header(wb[sheet])
        for c in columns:
            assert c.name in headers
            assert (sheet, c.name) in readme_fields
            assert description(sheet, c.name), f"{sheet}.{c.name} has no description"
            assert wb[sheet].cell(1, headers.index(c.name) + 1).comment is not None
        series = [c.name for c in columns if c.kind == "series"]
        for name in series:
            assert [h for h in headers if str(h).startswith(name + "[")] == [
                f"{name}[{t}]" for t in (1, 2, 3)]
    for sheet in KEY_VALUE_SHEETS:
        fields = [r[0] for r in wb[sheet].iter_rows(min_row=2, values_only=True)]
        for c in key_value_columns(sheet):
            assert c.name in fields
            assert description(sheet, c.name)
    # the empty template is not an instance: what is missing is named by sheet and row
    found = problems(tmp_path / "t.xlsx")
    assert any("sheet 'horizon', row 3, column B" in p and "'periods'" in p for p in found)
    assert any("sheet 'market'" in p and "hashprice_usd_per_ph_day" in p for p in found)


def test_a_filled_template_reads_as_the_instance(tmp_path):
    # the one-site instance of docs/usage.md, typed into the template cell by cell
    path = write_template(tmp_path / "one.xlsx", periods=3)
    wb = openpyxl.load_workbook(path)
    kv = {ws.title: {r[0].value: r[1] for r in ws.iter_rows(min_row=2)}
          for ws in (wb["horizon"], wb["market"])}
    kv["horizon"]["name"].value = "one-site"
    kv["horizon"]["periods"].value = 3
    for t, v in enumerate([50, 45, 30], start=1):
        kv["market"][f"hashprice_usd_per_ph_day[{t}]"].value = v
    ws = wb["sites"]
    for name, value in {"id": "a", "capacity_mw": 100, "grid.capacity_mw": 100,
                        "grid.price_usd_per_mwh": 35, "btc.fleet_mw": 80,
                        "btc.efficiency_j_per_th": 17.5}.items():
        ws.cell(2, col(ws, name), value)
    wb.save(path)
    expected = po.Instance.model_validate({
        "name": "one-site", "horizon": {"periods": 3},
        "market": {"hashprice_usd_per_ph_day": [50, 45, 30]},
        "sites": [{"id": "a", "capacity_mw": 100,
                   "grid": {"capacity_mw": 100, "price_usd_per_mwh": 35},
                   "btc": {"fleet_mw": 80, "efficiency_j_per_th": 17.5}}],
    })
    same(expected, load_instance(path))


# --------------------------------------------------------------------- validation messages


@pytest.fixture
def tutorial_book(tmp_path: Path) -> Path:
    return write_instance_workbook(load_instance(TUTORIAL), tmp_path / "tutorial.xlsx")


def edit(path: Path, changes: dict[tuple[str, int, str], Any]) -> Path:
    """Set cells by (sheet, row, column header); the header 'B' means column B."""
    wb = openpyxl.load_workbook(path)
    for (sheet, row, column), value in changes.items():
        ws = wb[sheet]
        j = 2 if column == "B" else col(ws, column)
        ws.cell(row, j, value)
    wb.save(path)
    return path


def test_a_bad_number_names_sheet_row_and_column(tutorial_book):
    edit(tutorial_book, {("sites", 3, "capacity_mw"): "1OO"})
    [msg] = problems(tutorial_book)
    # sites: row 3 is bravo; capacity_mw is column B
    assert "sheet 'sites', row 3, column B (site 'bravo')" in msg
    assert "field 'capacity_mw'" in msg and "'1OO'" in msg
    assert "expected a number" in msg


def test_each_problem_is_located(tutorial_book):
    ws = openpyxl.load_workbook(tutorial_book)["sites"]
    price3 = openpyxl.utils.get_column_letter(col(ws, "grid.price_usd_per_mwh[3]"))
    edit(tutorial_book, {
        ("sites", 2, "grid.price_usd_per_mwh[3]"): "n/a",   # alpha, period 3
        ("sites", 4, "ai.lead_time_periods"): 1.5,           # charlie
        ("contracts", 2, "committed"): "yes",                # anchor
        ("contracts", 4, "start_period"): "3",               # lab-offer, a number as text
        ("links", 2, "id"): 5,                               # the fiber link
        ("horizon", 3, "B"): 0,                              # periods
    })
    found = problems(tutorial_book)
    text = "\n".join(found)
    assert f"sheet 'sites', row 2, column {price3} (site 'alpha'), field " \
           "'grid.price_usd_per_mwh'" in text
    assert "period 3" in text
    lead = openpyxl.utils.get_column_letter(col(ws, "ai.lead_time_periods"))
    assert f"sheet 'sites', row 4, column {lead} (site 'charlie')" in text
    assert "not a fraction" in text
    assert "(contract 'anchor'), field 'committed': got 'yes'" in text
    assert "use a TRUE or FALSE cell" in text and "YAML" not in text
    assert "(contract 'lab-offer'), field 'start_period': got '3'" in text
    assert "store it as a number" in text
    assert "sheet 'links', row 2, column A" in text and "format the cell as text" in text
    assert "sheet 'horizon', row 3, column B (horizon), field 'periods': got 0" in text
    assert len(found) == 6


def test_gaps_and_cross_entity_rules_are_located(tutorial_book):
    wb = openpyxl.load_workbook(tutorial_book)
    sites, links, contracts = wb["sites"], wb["links"], wb["contracts"]
    sites.cell(2, col(sites, "grid.price_usd_per_mwh[2]")).value = None  # alpha: a gap
    sites.cell(4, col(sites, "id")).value = "alpha"                     # charlie -> alpha
    links.cell(3, col(links, "to")).value = "nowhere"                    # the fiber link
    contracts.cell(4, col(contracts, "eligible.sites")).value = "bravo; zulu"
    market = {r[0].value: r[1] for r in wb["market"].iter_rows(min_row=2)}
    market["hashprice_usd_per_ph_day[4]"].value = None
    wb.save(tutorial_book)
    text = "\n".join(problems(tutorial_book))
    letter = openpyxl.utils.get_column_letter
    gap = letter(col(sites, "grid.price_usd_per_mwh[2]"))
    assert f"sheet 'sites', row 2, column {gap} (site 'alpha')" in text
    assert "not an empty cell" in text and "element 2 (period 2)" in text
    # market rows: 2 the plain row, 3.. periods 1..: period 4 is row 6
    assert "sheet 'market', row 6, column B (market)" in text
    to = letter(col(links, "to"))
    assert f"sheet 'links', row 3, column {to} (link 'bravo-nowhere'), field 'to'" in text
    eligible = letter(col(contracts, "eligible.sites"))
    assert f"sheet 'contracts', row 4, column {eligible} (contract 'lab-offer'), " \
           "field 'eligible.sites[1]': got 'zulu'" in text
    # a repeated id (checked once the entries pass the schema): the second row is named
    wb = openpyxl.load_workbook(tutorial_book)
    wb["sites"].cell(2, col(sites, "grid.price_usd_per_mwh[2]")).value = 31
    wb["market"]["B6"].value = 25
    wb.save(tutorial_book)
    text = "\n".join(problems(tutorial_book))
    assert "sheet 'sites', row 4, column A (site 'alpha' (sites[2])), field 'id'" in text


def test_workbook_structure_problems(tutorial_book):
    wb = openpyxl.load_workbook(tutorial_book)
    wb.create_sheet("contract")                       # a typo of a sheet name
    wb.create_sheet("_notes")                         # ignored
    ws = wb["sites"]
    extra = ws.max_column + 1
    ws.cell(1, extra, "btc.fleet_mw")                 # a column twice
    ws.cell(1, extra + 1, "btc.fleetmw")              # an unknown column
    ws.cell(2, extra + 1, 5)
    ws.cell(3, col(ws, "grid.price_usd_per_mwh[1]"), 36)  # bravo: plain and per period
    wb.save(tutorial_book)
    text = "\n".join(problems(tutorial_book))
    assert "sheet 'contract': got 'contract'; expected one of the sheets" in text
    assert "_notes" not in text
    assert "expected each column once" in text
    unknown = openpyxl.utils.get_column_letter(extra + 1)
    assert f"sheet 'sites', row 2, column {unknown} (site 'alpha'), field 'btc.fleetmw'" in text
    assert "expected one of the keys fleet_mw" in text
    assert "sheet 'sites', row 3, field 'grid.price_usd_per_mwh': got 'both'" in text


def test_formula_without_a_saved_value(tutorial_book):
    edit(tutorial_book, {("sites", 2, "capacity_mw"): "=100+20"})
    [msg] = problems(tutorial_book)
    assert "sheet 'sites', row 2, column B" in msg and "no saved result" in msg


def test_not_a_workbook_and_yaml_unchanged(tmp_path):
    fake = tmp_path / "fake.xlsx"
    fake.write_text("name: x\n", encoding="utf-8")
    [msg] = problems(fake)
    assert "expected an .xlsx workbook" in msg
    proc = run("validate", fake, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("InputError:")
    assert "Traceback" not in proc.stderr
    wrong = tmp_path / "x.csv"
    wrong.write_text("a,b\n", encoding="utf-8")
    assert "expected a file ending in .yaml, .yml, .json or .xlsx" in problems(wrong)[0]


# ----------------------------------------------------------------------------- results


def test_solve_format_xlsx_matches_the_csv_tables(tmp_path):
    book = convert(TUTORIAL, tmp_path / "Tutorial.XLSX")
    csv_out, xlsx_out = tmp_path / "csv", tmp_path / "xlsx"
    procs = [subprocess.Popen([sys.executable, "-m", "portfolio_opt.cli", "solve", str(src),
                               "--out", str(out), "--quiet", *extra], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for src, out, extra in ((TUTORIAL, csv_out, []),
                                     (book, xlsx_out, ["--format", "xlsx"]))]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert not list(xlsx_out.glob("site_periods.csv"))
    summary = json.loads((xlsx_out / "summary.json").read_text(encoding="utf-8"))
    sheets = pd.read_excel(xlsx_out / "results.xlsx", sheet_name=None)
    assert list(sheets)[:6] == ["summary", "site_periods", "contracts",
                                "contract_site_periods", "flows", "cashflows"]
    kv = dict(zip(sheets["summary"]["field"], sheets["summary"]["value"], strict=True))
    assert kv["status"] == "optimal"
    assert float(kv["objective_npv_usd"]) == summary["objective_npv_usd"]
    # the NPV is the sum of the discounted column, and equals the CSV run's
    assert sheets["cashflows"]["discounted"].sum() == pytest.approx(
        summary["objective_npv_usd"], rel=1e-12)
    csv_summary = json.loads((csv_out / "summary.json").read_text(encoding="utf-8"))
    assert summary["objective_npv_usd"] == pytest.approx(csv_summary["objective_npv_usd"],
                                                         rel=1e-12)
    for name in ("site_periods", "cashflows", "contracts"):
        from_csv = pd.read_csv(csv_out / f"{name}.csv", keep_default_na=False)
        from_xlsx = sheets[name].fillna("")
        assert list(from_xlsx.columns) == list(from_csv.columns)
        pd.testing.assert_frame_equal(from_xlsx, from_csv, check_dtype=False, rtol=1e-9)
    # switching back to CSV removes the workbook
    res = po.solve(TUTORIAL)
    res.write(xlsx_out)
    assert not (xlsx_out / "results.xlsx").exists()
    assert (xlsx_out / "cashflows.csv").exists()


def test_results_workbook_has_the_v2_columns_and_totals(tmp_path):
    """Deals and debt (see deals_and_debt): the workbook's cash flows carry energy recovery,
    tenant capex, debt drawn and serviced, its summary the totals completing the NPV."""
    from portfolio_opt.constants import CASHFLOW_COLUMNS, SUMMARY_TOTALS
    from portfolio_opt.spreadsheet.results import read_results_workbook

    res = po.solve(po.Instance.model_validate(deals_and_debt()), profile="exact")
    assert res.status == po.Status.OPTIMAL
    res.write(tmp_path, format="xlsx")
    summary, sheets = read_results_workbook(tmp_path / "results.xlsx")
    cash = sheets["cashflows"]
    assert list(cash.columns) == CASHFLOW_COLUMNS
    for key in SUMMARY_TOTALS:  # bit for bit, as every float of the workbook
        assert summary[key] == res.summary()[key]
    for column in CASHFLOW_COLUMNS:
        assert cash[column].tolist() == res.cashflows[column].tolist()
    # The operator-funded structure wins (50 MUSD of halls, 30 MUSD borrowed at most):
    # energy recovered at the site's price, 30 MUSD drawn in period 1, a 7-year annuity.
    assert set(sheets["contracts"].loc[sheets["contracts"]["accepted"], "contract"]) == {
        "operator-funded"}
    assert cash["energy_recovery"].tolist() == pytest.approx(
        [10 * p * 8760 * 1.3 for p in (30, 31, 32.5)])
    assert cash["debt_drawn"].tolist() == pytest.approx([30e6, 0, 0])
    a = 0.075 / (1 - 1.075 ** -7)
    assert cash["debt_service"].tolist() == pytest.approx([30e6 * a] * 3)
    assert summary["debt_principal_usd"] == pytest.approx(30e6)
    assert summary["debt_after_horizon_usd"] == pytest.approx(
        30e6 * a * sum(1.1 ** -k for k in range(4, 8)))
    assert summary["terminal_value_usd"] > 0
    assert sheets["contracts"]["tail_value_usd"].sum() == pytest.approx(
        summary["terminal_value_usd"])
    assert summary["objective_npv_usd"] == pytest.approx(
        cash["discounted"].sum() + summary["terminal_value_usd"]
        - summary["debt_after_horizon_usd"], rel=1e-12)
    # and the same numbers as the CSV tables
    res.write(tmp_path / "csv")
    pd.testing.assert_frame_equal(cash, pd.read_csv(tmp_path / "csv" / "cashflows.csv"),
                                  check_dtype=False, rtol=1e-9)


def test_scenarios_sheet_and_scenario_column_round_trip(tmp_path):
    """Spec v2 B: the scenarios sheet and the per-period sheets' leading scenario column read
    back as the result's tables, bit for bit; scenario ids that look like numbers or like a
    missing value stay the text they were."""
    import yaml

    from portfolio_opt.constants import RISK_FIELDS, SCENARIO_COLUMNS
    from portfolio_opt.spreadsheet.results import read_results_workbook

    raw = yaml.safe_load((ROOT / "tests" / "data" / "worked_example.yaml").read_text())
    raw["market"].pop("hashprice_usd_per_ph_day")
    ids = ["007", "NA", "1"]
    raw["uncertainty"] = {
        "scenarios": [{"id": w, "probability": p, "hashprice_usd_per_ph_day": hp}
                      for w, p, hp in zip(ids, (0.5, 0.25, 0.25),
                                          ([48, 30, 20, 15], [48, 70, 60, 50], 48),
                                          strict=True)],
        "structure": "multi_stage", "risk": {"cvar_alpha": 0.5, "cvar_weight": 0.3}}
    res = po.solve(raw, value_of_information=True)
    assert res.status == po.Status.OPTIMAL and res.scenarios is not None
    res.write(tmp_path, format="xlsx")
    summary, sheets = read_results_workbook(tmp_path / "results.xlsx")
    for key in [*RISK_FIELDS, "evpi_usd", "vss_usd", "objective_npv_usd"]:
        assert summary[key] == res.summary()[key]  # bit for bit
    assert json.loads(summary["value_of_information"]) == res.extra["value_of_information"]
    assert list(sheets["scenarios"].columns) == SCENARIO_COLUMNS
    assert sheets["scenarios"]["scenario"].tolist() == ids
    for name, table in res.tables().items():
        back = sheets[name]
        if name == "contracts":
            back = back.assign(sites=back["sites"].fillna(""))
        assert list(back.columns) == list(table.columns), name
        pd.testing.assert_frame_equal(back, table, check_dtype=False, check_exact=True,
                                      obj=name)
        if "scenario" in table.columns:
            assert back.columns[0] == "scenario"
            assert back["scenario"].map(type).eq(str).all()
            assert back["scenario"].tolist() == table["scenario"].tolist()


def test_price_blocks_and_demand_response_round_trip(tmp_path):
    """Spec v2 C in a workbook: market.blocks as one JSON cell, a price per block as a JSON
    mapping in the plain price cell, demand response as btc.demand_response.* columns."""
    inst = po.Instance.model_validate({
        "name": "blocks", "horizon": {"periods": 2},
        "market": {"hashprice_usd_per_ph_day": 40,
                   "blocks": [{"id": "peak", "hours_share": 0.25},
                              {"id": "off", "hours_share": 0.75}]},
        "sites": [{"id": "a", "capacity_mw": 10,
                   "grid": {"capacity_mw": 10,
                            "price_usd_per_mwh": {"peak": [90, 95.5], "off": 0.1 + 0.2}},
                   "btc": {"fleet_mw": 5, "efficiency_j_per_th": 17,
                           "demand_response": {"credit_usd_per_mw_year": 5e4,
                                               "max_mw": 3}}}],
    })
    book = write_instance_workbook(inst, tmp_path / "blocks.xlsx")
    same(inst, load_instance(book))
    same(inst, load_instance(convert(book, tmp_path / "blocks.yaml")))
    ws = openpyxl.load_workbook(book)["sites"]
    assert json.loads(ws.cell(2, col(ws, "grid.price_usd_per_mwh")).value) == {
        "peak": [90, 95.5], "off": 0.1 + 0.2}
    assert ws.cell(2, col(ws, "btc.demand_response.max_mw")).value == 3
