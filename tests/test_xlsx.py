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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_instances_round_trip(tmp_path, seed):
    data = generate_instance(sites=14, periods=6, contracts=7, seed=seed)
    original = validate_data(data)
    yaml_path = write_instance(data, tmp_path / "gen.yaml")
    book = convert(yaml_path, tmp_path / "gen.xlsx")
    same(original, load_instance(book))
    same(original, load_instance(convert(book, tmp_path / "gen_back.yaml")))


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
    # ids with ';', a leading '[', spaces, a formula-like '=' and a number-like text
    inst = po.Instance.model_validate({
        "name": "=SUM(A1)", "horizon": {"periods": 1},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [{"id": i, "capacity_mw": 10,
                   "ai": {"max_it_mw": 10, "block_it_mw": 5, "capex_usd_per_it_mw": 1}}
                  for i in ("a;b", "[c]", " d ", "=1+1", "007")],
        "contracts": [{"id": "c", "tenant": "t", "it_mw": {"min": 0, "max": 5},
                       "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 1,
                       "eligible": {"sites": ["a;b", "[c]", " d ", "=1+1", "007"]}}],
    })
    back = load_instance(write_instance_workbook(inst, tmp_path / "ids.xlsx"))
    same(inst, back)
    assert back.contracts[0].eligible is not None
    assert back.contracts[0].eligible.sites == ["a;b", "[c]", " d ", "=1+1", "007"]


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
    assert wb.sheetnames == ["README", "horizon", "market", "limits", "sites", "sources",
                             "links", "contracts"]
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
