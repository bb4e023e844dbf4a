"""The uncertainty block of spec v2 B in an instance workbook: the ``scenarios`` sheet
(one row per scenario) and the ``uncertainty`` sheet (structure, risk.*).

Every test writes a real .xlsx file and reads it back (or edits it with openpyxl the way a
person would in a spreadsheet program); round trips compare validated Instance objects,
their full dumps and which keys the file gave, as tests/test_xlsx.py does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

import portfolio_opt as po
from portfolio_opt.generate import write_instance
from portfolio_opt.instance import Instance
from portfolio_opt.loader import load_instance
from portfolio_opt.spreadsheet import convert, write_instance_workbook, write_template
from portfolio_opt.spreadsheet.layout import (
    KEY_VALUE_SHEETS,
    TABLE_KEYS,
    key_value_columns,
    table_columns,
)

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"


def run(*args: Any, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio_opt", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def same(a: po.Instance, b: po.Instance) -> None:
    """Equal as validated instances, as full dumps, and in which keys were given."""
    assert a == b
    assert a.model_dump() == b.model_dump()
    assert a.model_dump(exclude_unset=True) == b.model_dump(exclude_unset=True)


def col(ws: Any, name: str) -> int:
    return [c.value for c in ws[1]].index(name) + 1


def letter(ws: Any, name: str) -> str:
    return get_column_letter(col(ws, name))


def kv_rows(ws: Any) -> dict[str, Any]:
    return {r[0].value: r[1] for r in ws.iter_rows(min_row=2)}


def problems(path: Path) -> list[str]:
    with pytest.raises(po.InputError) as info:
        load_instance(path)
    return [str(i) for i in info.value.issues]


def two_stage() -> dict[str, Any]:
    """Every field of the block: a hashprice per period and as one number, a scale per
    period, as one number and left out (default 1), risk; market holding only blocks."""
    return {
        "name": "two-stage",
        "horizon": {"periods": 3, "discount_rate": 0.08},
        "market": {"blocks": [{"id": "peak", "hours_share": 0.25},
                              {"id": "off", "hours_share": 0.75}]},
        "sites": [{"id": "a", "capacity_mw": 100,
                   "grid": {"capacity_mw": 100,
                            "price_usd_per_mwh": {"peak": [90, 95.5, 99], "off": 31}},
                   "btc": {"fleet_mw": 60, "efficiency_j_per_th": 17.5},
                   "ai": {"max_it_mw": 20, "block_it_mw": 10, "capex_usd_per_it_mw": 5e6}}],
        "contracts": [{"id": "lease", "tenant": "t", "it_mw": {"min": 0, "max": 10},
                       "rate_usd_per_kw_month": 140, "start_period": 2, "term_periods": 4}],
        "uncertainty": {
            "structure": "two_stage",
            "scenarios": [
                {"id": "bear", "probability": 0.1 + 0.2,  # 0.30000000000000004
                 "hashprice_usd_per_ph_day": [45, 30.5, 1 / 3],
                 "energy_price_scale": [1, 1.15, 1.25]},
                {"id": "base", "probability": 0.5, "hashprice_usd_per_ph_day": 40,
                 "energy_price_scale": 1.05},
                {"id": "bull", "probability": 0.2, "hashprice_usd_per_ph_day": [50, 58, 60]},
            ],
            "risk": {"cvar_alpha": 0.9, "cvar_weight": 0.25},
        },
    }


def multi_stage() -> dict[str, Any]:
    """A tree with one root (period 1 shared), no market block at all, risk left out."""
    return {
        "name": "multi-stage",
        "horizon": {"periods": 3},
        "sites": [{"id": "a", "capacity_mw": 50,
                   "grid": {"capacity_mw": 50, "price_usd_per_mwh": [30, 31, 32]},
                   "btc": {"fleet_mw": 40, "efficiency_j_per_th": 20}}],
        "uncertainty": {
            "structure": "multi_stage",
            "scenarios": [
                {"id": "low", "probability": 0.5, "hashprice_usd_per_ph_day": [45, 30, 25]},
                {"id": "high", "probability": 0.5, "hashprice_usd_per_ph_day": [45, 55, 60],
                 "energy_price_scale": [1, 1.1, 1.2]},
            ],
        },
    }


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("make", [two_stage, multi_stage], ids=["two_stage", "multi_stage"])
def test_uncertainty_round_trips_exactly(tmp_path, make):
    original = Instance.model_validate(make())
    assert original.uncertainty is not None
    yaml_path = write_instance(make(), tmp_path / "inst.yaml")
    same(original, load_instance(yaml_path))
    book = convert(yaml_path, tmp_path / "inst.xlsx")
    from_book = load_instance(book)
    same(original, from_book)
    same(original, load_instance(convert(book, tmp_path / "back.yaml")))
    same(original, load_instance(convert(book, tmp_path / "back.json")))
    # and once more through a second workbook written from the first
    same(original, load_instance(convert(book, tmp_path / "again.xlsx")))


def test_two_stage_layout_in_the_workbook(tmp_path):
    book = write_instance_workbook(Instance.model_validate(two_stage()), tmp_path / "u.xlsx")
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == ["README", "horizon", "market", "limits", "finance", "sites",
                             "sources", "links", "contracts", "uncertainty", "scenarios"]
    ws = wb["scenarios"]
    assert [ws.cell(r, col(ws, "id")).value for r in (2, 3, 4)] == ["bear", "base", "bull"]
    assert ws.cell(5, 1).value is None
    # probabilities bit for bit (0.1 + 0.2 is not 0.3)
    assert ws.cell(2, col(ws, "probability")).value == 0.1 + 0.2 != 0.3
    # bear: hashprice and scale per period, in the period columns, the plain cells empty
    assert [ws.cell(2, col(ws, f"hashprice_usd_per_ph_day[{t}]")).value
            for t in (1, 2, 3)] == [45, 30.5, 1 / 3]
    assert ws.cell(2, col(ws, "hashprice_usd_per_ph_day")).value is None
    assert [ws.cell(2, col(ws, f"energy_price_scale[{t}]")).value
            for t in (1, 2, 3)] == [1, 1.15, 1.25]
    # base: both as one number in the plain column
    assert ws.cell(3, col(ws, "hashprice_usd_per_ph_day")).value == 40
    assert ws.cell(3, col(ws, "hashprice_usd_per_ph_day[1]")).value is None
    assert ws.cell(3, col(ws, "energy_price_scale")).value == 1.05
    # bull: no scale given, every scale cell empty (the default 1 stays a default)
    assert all(ws.cell(4, col(ws, h)).value is None for h in
               ("energy_price_scale", *(f"energy_price_scale[{t}]" for t in (1, 2, 3))))
    unc = {k: c.value for k, c in kv_rows(wb["uncertainty"]).items()}
    assert unc == {"structure": "two_stage", "risk.cvar_alpha": 0.9, "risk.cvar_weight": 0.25}
    # the market sheet keeps its blocks and leaves every hashprice row empty
    market = {k: c.value for k, c in kv_rows(wb["market"]).items()}
    assert market.pop("blocks") is not None
    assert set(market) == {"hashprice_usd_per_ph_day",
                           *(f"hashprice_usd_per_ph_day[{t}]" for t in (1, 2, 3))}
    assert all(v is None for v in market.values())


def test_multi_stage_without_market_and_with_an_empty_market(tmp_path):
    # no market block: no market sheet (an empty one would read back as market: {})
    book = write_instance_workbook(Instance.model_validate(multi_stage()), tmp_path / "m.xlsx")
    wb = openpyxl.load_workbook(book)
    assert "market" not in wb.sheetnames
    assert {k: c.value for k, c in kv_rows(wb["uncertainty"]).items()} == {
        "structure": "multi_stage", "risk.cvar_alpha": None, "risk.cvar_weight": None}
    back = load_instance(book)
    assert "market" not in back.model_dump(exclude_unset=True)
    assert "risk" not in back.model_dump(exclude_unset=True)["uncertainty"]
    assert back.uncertainty is not None and back.uncertainty.risk.cvar_alpha == 0.95
    # market: {} given: an empty market sheet, read back as the empty block
    data = multi_stage() | {"market": {}}
    original = Instance.model_validate(data)
    book = write_instance_workbook(original, tmp_path / "m2.xlsx")
    assert "market" in openpyxl.load_workbook(book).sheetnames
    same(original, load_instance(book))
    assert load_instance(book).model_dump(exclude_unset=True)["market"] == {}


def test_instances_without_uncertainty_are_unchanged(tmp_path):
    # the uncertainty and scenarios sheets are there, empty, and read as no block
    inst = load_instance(TUTORIAL)
    book = write_instance_workbook(inst, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(book)
    assert wb["scenarios"].max_row == 1
    assert all(c.value is None for c in kv_rows(wb["uncertainty"]).values())
    back = load_instance(book)
    same(inst, back)
    assert back.uncertainty is None
    # a workbook written before these sheets existed still reads
    del wb["uncertainty"], wb["scenarios"]
    wb.save(tmp_path / "old.xlsx")
    same(inst, load_instance(tmp_path / "old.xlsx"))


def test_scenarios_cli_output_converts_both_ways(tmp_path):
    """Scenario sets written by `portfolio-opt scenarios` (two-stage with energy scales and
    risk; a multi-stage tree), converted to .xlsx and back through the CLI."""
    made = {
        "two": ["--paths", "40", "--reduce", "6", "--energy-correlation", "0.4",
                "--cvar-weight", "0.3", "--seed", "3"],
        "multi": ["--paths", "60", "--tree", "2:3,4:2", "--cvar-alpha", "0.9"],
    }
    for stem, options in made.items():
        proc = run("scenarios", TUTORIAL, "--out", f"{stem}.yaml", *options, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        original = load_instance(tmp_path / f"{stem}.yaml")
        assert original.uncertainty is not None
        proc = run("convert", f"{stem}.yaml", f"{stem}.xlsx", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"wrote {stem}.xlsx"
        proc = run("validate", f"{stem}.xlsx", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        proc = run("convert", f"{stem}.xlsx", f"{stem}_back.yaml", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        same(original, load_instance(tmp_path / f"{stem}.xlsx"))
        same(original, load_instance(tmp_path / f"{stem}_back.yaml"))
        ws = openpyxl.load_workbook(tmp_path / f"{stem}.xlsx")["scenarios"]
        assert ws.max_row == 1 + len(original.uncertainty.scenarios) == 7
    scales = load_instance(tmp_path / "two.xlsx").uncertainty
    assert scales is not None and scales.structure == "two_stage"
    assert all(isinstance(s.energy_price_scale, list) for s in scales.scenarios)
    assert scales.risk.cvar_weight == 0.3
    tree = load_instance(tmp_path / "multi.xlsx").uncertainty
    assert tree is not None and tree.structure == "multi_stage"
    assert tree.risk.cvar_alpha == 0.9


def test_solving_the_workbook_gives_the_same_objective(tmp_path):
    path = write_instance(two_stage(), tmp_path / "u.yaml")
    book = convert(path, tmp_path / "u.xlsx")
    a, b = po.solve(path), po.solve(book)
    assert a.status == b.status == po.Status.OPTIMAL
    sa, sb = a.summary(), b.summary()
    for key in ("objective_usd", "expected_npv_usd", "cvar_usd"):
        assert sb[key] == pytest.approx(sa[key], rel=1e-9, abs=1e-6)
    assert sb["cvar_weight"] == 0.25 and sb["cvar_alpha"] == 0.9


def test_no_block_of_the_format_lacks_a_sheet(tmp_path, monkeypatch):
    # every top-level key of an instance has a sheet, so convert drops nothing ...
    held = {"name"} | {key for key, _ in KEY_VALUE_SHEETS.values()} | {
        keys[0] for keys in TABLE_KEYS.values()}
    assert {f.alias or n for n, f in Instance.model_fields.items()} == held
    # ... and a block without one (as uncertainty was) stops the write instead of
    # vanishing from the workbook
    monkeypatch.delitem(KEY_VALUE_SHEETS, "uncertainty")
    monkeypatch.delitem(TABLE_KEYS, "scenarios")
    with pytest.raises(po.InputError) as info:
        write_instance_workbook(Instance.model_validate(two_stage()), tmp_path / "x.xlsx")
    assert "uncertainty" in str(info.value) and "write this instance as .yaml" in str(
        info.value)
    assert not (tmp_path / "x.xlsx").exists()


# ------------------------------------------------------------------------------- template


def test_template_has_the_uncertainty_sheets(tmp_path):
    proc = run("template", "t.xlsx", "--periods", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    wb = openpyxl.load_workbook(tmp_path / "t.xlsx")
    ws = wb["scenarios"]
    assert [c.value for c in ws[1]] == [
        "id", "probability", "hashprice_usd_per_ph_day",
        *(f"hashprice_usd_per_ph_day[{t}]" for t in (1, 2, 3)),
        "energy_price_scale", *(f"energy_price_scale[{t}]" for t in (1, 2, 3))]
    assert all(c.comment is not None and c.comment.text for c in ws[1])
    assert "Unique among scenarios" in ws["A1"].comment.text
    unc = wb["uncertainty"]
    assert [c.name for c in key_value_columns("uncertainty")] == [
        "structure", "risk.cvar_alpha", "risk.cvar_weight"]
    rows = kv_rows(unc)
    assert list(rows) == ["structure", "risk.cvar_alpha", "risk.cvar_weight"]
    notes = {r[0]: r[2] for r in unc.iter_rows(min_row=2, values_only=True)}
    assert "multi_stage" in notes["structure"] and "0.95" in notes["risk.cvar_alpha"]
    # structure has a drop-down of the two structures on its value cell
    [rule] = unc.data_validations.dataValidation
    assert rule.formula1 == '"two_stage,multi_stage"' and str(rule.sqref) == "B2"
    readme = {(r[0], r[1]): r for r in wb["README"].iter_rows(values_only=True)
              if r[0] in ("uncertainty", "scenarios")}
    assert set(readme) == {("uncertainty", c.name) for c in key_value_columns("uncertainty")
                           } | {("scenarios", c.name) for c in table_columns("scenarios")}
    assert readme[("uncertainty", "structure")][2:5] == (
        "choice (two_stage, multi_stage)", "no", "two_stage")
    assert readme[("scenarios", "energy_price_scale")][4] == 1
    text = " ".join(str(r[0]) for r in wb["README"].iter_rows(values_only=True) if r[0])
    assert "leave market's hashprice rows empty" in text
    market_note = {r[0]: r[2] for r in wb["market"].iter_rows(min_row=2, values_only=True)}
    assert "scenarios sheet" in market_note["hashprice_usd_per_ph_day"]


def test_a_filled_template_reads_as_the_uncertain_instance(tmp_path):
    path = write_template(tmp_path / "u.xlsx", periods=2)
    wb = openpyxl.load_workbook(path)
    rows = {ws.title: kv_rows(ws) for ws in (wb["horizon"], wb["uncertainty"])}
    rows["horizon"]["name"].value = "filled"
    rows["horizon"]["periods"].value = 2
    rows["uncertainty"]["structure"].value = "multi_stage"
    rows["uncertainty"]["risk.cvar_weight"].value = 0.5
    ws = wb["sites"]
    for name, value in {"id": "a", "capacity_mw": 10, "grid.capacity_mw": 10,
                        "grid.price_usd_per_mwh": 35, "btc.fleet_mw": 8,
                        "btc.efficiency_j_per_th": 17.5}.items():
        ws.cell(2, col(ws, name), value)
    ws = wb["scenarios"]
    for r, (ident, p, hp, scale) in enumerate(
            [("down", 0.4, [50, 30], None), ("up", 0.6, [50, 70], [1, 1.1])], start=2):
        ws.cell(r, col(ws, "id"), ident)
        ws.cell(r, col(ws, "probability"), p)
        for t, v in enumerate(hp, start=1):
            ws.cell(r, col(ws, f"hashprice_usd_per_ph_day[{t}]"), v)
        for t, v in enumerate(scale or [], start=1):
            ws.cell(r, col(ws, f"energy_price_scale[{t}]"), v)
    wb.save(path)
    expected = Instance.model_validate({
        "name": "filled", "horizon": {"periods": 2},
        "market": {},  # the template's market sheet, left empty
        "sites": [{"id": "a", "capacity_mw": 10,
                   "grid": {"capacity_mw": 10, "price_usd_per_mwh": 35},
                   "btc": {"fleet_mw": 8, "efficiency_j_per_th": 17.5}}],
        "uncertainty": {"structure": "multi_stage", "risk": {"cvar_weight": 0.5},
                        "scenarios": [
                            {"id": "down", "probability": 0.4,
                             "hashprice_usd_per_ph_day": [50, 30]},
                            {"id": "up", "probability": 0.6,
                             "hashprice_usd_per_ph_day": [50, 70],
                             "energy_price_scale": [1, 1.1]}]},
    })
    same(expected, load_instance(path))


# --------------------------------------------------------------------- validation messages


def test_bad_scenario_cells_name_sheet_row_column_field_and_value(tmp_path):
    book = write_instance_workbook(Instance.model_validate(two_stage()), tmp_path / "u.xlsx")
    wb = openpyxl.load_workbook(book)
    ws = wb["scenarios"]
    ws.cell(3, col(ws, "probability"), -0.5)                            # base
    ws.cell(2, col(ws, "hashprice_usd_per_ph_day[2]"), "n/a")           # bear, period 2
    ws.cell(4, col(ws, "energy_price_scale"), 0)                        # bull
    ws.cell(4, col(ws, "id"), 7)                                        # bull: not text
    ws.cell(1, ws.max_column + 1, "hashprise")                          # unknown column
    ws.cell(3, ws.max_column, 1)
    unc = kv_rows(wb["uncertainty"])
    unc["structure"].value = "multistage"
    unc["risk.cvar_alpha"].value = 1
    unc["risk.cvar_weight"].value = "0.5"
    wb.save(book)
    found = problems(book)
    text = "\n".join(found)
    assert f"sheet 'scenarios', row 3, column {letter(ws, 'probability')} (scenario 'base' " \
           "(uncertainty.scenarios[1])), field 'probability': got -0.5; expected a number " \
           "> 0" in text
    assert f"sheet 'scenarios', row 2, column {letter(ws, 'hashprice_usd_per_ph_day[2]')} " \
           "(scenario 'bear' (uncertainty.scenarios[0])), field 'hashprice_usd_per_ph_day'" \
           in text and "element 2 (period 2) is 'n/a'" in text
    assert f"sheet 'scenarios', row 4, column {letter(ws, 'energy_price_scale')} " \
           "(uncertainty.scenarios[2]), field 'energy_price_scale': got 0" in text
    assert f"sheet 'scenarios', row 4, column {letter(ws, 'id')} (uncertainty.scenarios[2])" \
           ", field 'id': got 7" in text and "format the cell as text" in text
    assert f"sheet 'scenarios', row 3, column {get_column_letter(ws.max_column)} " \
           "(scenario 'base' (uncertainty.scenarios[1])), field 'hashprise': got 1; " \
           "expected one of the keys id, probability, hashprice_usd_per_ph_day, " \
           "energy_price_scale" in text
    # uncertainty rows: 2 structure, 3 risk.cvar_alpha, 4 risk.cvar_weight
    assert "sheet 'uncertainty', row 2, column B (uncertainty), field 'structure': got " \
           "'multistage'; expected 'two_stage' or 'multi_stage'" in text
    assert "sheet 'uncertainty', row 3, column B (uncertainty), field 'risk.cvar_alpha': " \
           "got 1; expected a number >= 0 and < 1" in text
    assert "sheet 'uncertainty', row 4, column B (uncertainty), field 'risk.cvar_weight': " \
           "got '0.5'" in text and "store it as a number" in text
    assert len(found) == 8
    assert all(p.startswith(f"{book}: sheet '") for p in found)


def test_rules_across_scenarios_are_located(tmp_path):
    book = write_instance_workbook(Instance.model_validate(two_stage()), tmp_path / "u.xlsx")
    wb = openpyxl.load_workbook(book)
    ws = wb["scenarios"]
    ws.cell(4, col(ws, "id"), "bear")                                    # bull -> bear
    ws.cell(3, col(ws, "probability"), 0.6)                              # sum 1.1
    ws.cell(4, col(ws, "energy_price_scale[1]"), 1.0)                    # 2 of 3 periods
    ws.cell(4, col(ws, "energy_price_scale[2]"), 1.0)
    market = kv_rows(wb["market"])
    market["hashprice_usd_per_ph_day"].value = 40                        # with scenarios
    wb.save(book)
    text = "\n".join(problems(book))
    assert f"sheet 'scenarios', row 4, column {letter(ws, 'id')} (scenario 'bear' " \
           "(uncertainty.scenarios[2])), field 'id': got 'bear'; expected a scenario id " \
           "used by no other scenario; uncertainty.scenarios[0] already has id 'bear'" in text
    assert f"sheet 'scenarios', rows 2-4, column {letter(ws, 'probability')} (uncertainty), " \
           "field 'scenarios[].probability'" in text and "sum to 1 (within 1e-9), not 1.1" \
        in text
    scale = f"{letter(ws, 'energy_price_scale[1]')}-{letter(ws, 'energy_price_scale[2]')}"
    assert f"sheet 'scenarios', row 4, columns {scale} (scenario 'bear' " \
           "(uncertainty.scenarios[2])), field 'energy_price_scale': got [1.0, 1.0]; expected " \
           "one number or a list of exactly 3 numbers (horizon.periods), not 2" in text
    assert "sheet 'market', row 2, column B (market), field 'hashprice_usd_per_ph_day': " \
           "got 40.0; expected no hashprice_usd_per_ph_day in market with an 'uncertainty' " \
           "block" in text


def test_multi_stage_root_and_missing_scenarios_are_located(tmp_path):
    book = write_instance_workbook(Instance.model_validate(multi_stage()), tmp_path / "m.xlsx")
    wb = openpyxl.load_workbook(book)
    ws = wb["scenarios"]
    ws.cell(3, col(ws, "hashprice_usd_per_ph_day[1]"), 46)              # high: period 1
    wb.save(book)
    [msg] = problems(book)
    assert msg.startswith(f"{book}: sheet 'scenarios', row 3, column "
                          f"{letter(ws, 'hashprice_usd_per_ph_day[1]')} (scenario 'high' "
                          "(uncertainty.scenarios[1])), field 'hashprice_usd_per_ph_day': "
                          "got [46.0, 55.0, 60.0]; expected period 1 equal to that of the first "
                          "scenario, scenario 'low' (uncertainty.scenarios[0]): 45, not 46")
    # the uncertainty sheet filled, no scenario rows: the missing scenarios are named
    ws.delete_rows(2, 2)
    wb.save(book)
    [msg] = problems(book)
    assert "sheet 'scenarios' (uncertainty), field 'scenarios': got nothing" in msg
    assert "expected at least one scenario: a row of the sheet 'scenarios'" in msg
    del wb["scenarios"]
    wb.save(book)
    [msg] = problems(book)
    assert "no sheet 'scenarios' (uncertainty), field 'scenarios'" in msg
    # scenarios typed as a row of the uncertainty sheet instead of the scenarios sheet
    wb = openpyxl.load_workbook(write_instance_workbook(
        Instance.model_validate(multi_stage()), tmp_path / "m2.xlsx"))
    wb["uncertainty"].cell(5, 1, "scenarios")
    wb["uncertainty"].cell(5, 2, "low; high")
    wb.save(tmp_path / "m2.xlsx")
    [msg] = problems(tmp_path / "m2.xlsx")
    assert "sheet 'uncertainty', row 5, column B, field 'scenarios': got 'low; high'; " \
           "expected the scenarios as rows of the sheet 'scenarios'" in msg


def test_cli_reports_workbook_errors_with_exit_2(tmp_path):
    book = write_instance_workbook(Instance.model_validate(two_stage()), tmp_path / "u.xlsx")
    wb = openpyxl.load_workbook(book)
    ws = wb["scenarios"]
    ws.cell(3, col(ws, "probability"), 0.6)
    wb.save(book)
    for args in (("validate", "u.xlsx"), ("convert", "u.xlsx", "u.yaml")):
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("InputError:")
        assert "u.xlsx: sheet 'scenarios', rows 2-4, column B (uncertainty), field " \
               "'scenarios[].probability': got 'bear 0.3, base 0.6, bull 0.2'; expected " \
               "probabilities that sum to 1 (within 1e-9), not 1.1" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "u.yaml").exists()
