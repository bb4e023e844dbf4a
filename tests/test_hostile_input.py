"""Hostile input files: each case here once hung the tool or wrote something harmful.

Every command runs for real in a subprocess. ``timeout=`` is only a guard against a hang
(it fails the test instead of stalling CI); what is asserted is the exit code and the
message a person reads.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from portfolio_opt.input_limits import MAX_EXPANDED_NODES, check_expansion
from portfolio_opt.loader import _core_schema_yaml

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"
HANG_GUARD = 30  # seconds; the bomb took over a minute (and growing memory) before the guard


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio_opt.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=HANG_GUARD)


def clean_exit_2(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "InternalError" not in proc.stderr
    return proc.stderr


def billion_laughs(levels: int = 9) -> str:
    """Each anchored list repeats the previous one nine times: 9**9 strings from ~1 KB."""
    lines = ['l1: &l1 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(2, levels + 1):
        lines.append(f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# --- 1. alias expansion is bounded --------------------------------------------------------


def test_the_bomb_is_small_and_expands_to_hundreds_of_millions():
    text = billion_laughs()
    assert len(text.encode()) < 1024
    # 9**9 strings at the last level alone; counted on the composed graph, nothing built.
    node = _core_schema_yaml().compose(text)
    with pytest.raises(ValueError, match="at least"):
        check_expansion(node)
    assert check_expansion(node, limit=10**10) > 9**9


def test_validate_refuses_the_bomb_with_exit_2_naming_file_and_limit(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs(), encoding="utf-8")
    err = clean_exit_2(run("validate", bomb, cwd=tmp_path))
    assert "bomb.yaml" in err
    assert f"expected at most {MAX_EXPANDED_NODES:,}" in err  # "1,000,000"
    assert "aliases are expanded" in err


def test_solve_refuses_the_bomb_and_writes_nothing(tmp_path):
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(billion_laughs(), encoding="utf-8")
    clean_exit_2(run("solve", bomb, "--out", tmp_path / "out", cwd=tmp_path))
    assert not (tmp_path / "out").exists()


def test_a_batch_with_a_bomb_base_or_a_bomb_batch_file_is_refused(tmp_path):
    (tmp_path / "bomb.yaml").write_text(billion_laughs(), encoding="utf-8")
    batch = tmp_path / "batch.yaml"
    batch.write_text("base: bomb.yaml\nmethod: oat\nparameters:\n"
                     "  - {path: market.hashprice_usd_per_ph_day, scale: [0.5, 1.5]}\n",
                     encoding="utf-8")
    err = clean_exit_2(run("sweep", batch, "--out", tmp_path / "store", "--workers", 1,
                           cwd=tmp_path))
    assert "bomb.yaml" in err and "1,000,000" in err
    # The batch file itself goes through the same reader.
    bad_batch = tmp_path / "bad_batch.yaml"
    bad_batch.write_text(billion_laughs() + f"base: {TUTORIAL}\nmethod: oat\n",
                         encoding="utf-8")
    err = clean_exit_2(run("sweep", bad_batch, "--out", tmp_path / "store", cwd=tmp_path))
    assert "bad_batch.yaml" in err and "1,000,000" in err
    assert not (tmp_path / "store").exists()


def test_a_shared_series_through_an_anchor_stays_valid(tmp_path):
    """Normal aliases (one price series for several sites) are read as before."""
    text = """\
name: shared
horizon: {periods: 3}
market: {hashprice_usd_per_ph_day: [50, 45, 40]}
sites:
  - id: a
    capacity_mw: 10
    grid: {capacity_mw: 10, price_usd_per_mwh: &ercot [30, 35, 40]}
    btc: &fleet {fleet_mw: 5, efficiency_j_per_th: 20}
  - id: b
    capacity_mw: 10
    grid: {capacity_mw: 10, price_usd_per_mwh: *ercot}
    btc: *fleet
"""
    path = tmp_path / "shared.yaml"
    path.write_text(text, encoding="utf-8")
    proc = run("validate", path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 sites" in proc.stdout


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("name: &n [1, *n]\n", encoding="utf-8")
    err = clean_exit_2(run("validate", path, cwd=tmp_path))
    assert "loop.yaml: document (line 1)" in err and "recursive aliases" in err


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_nesting_is_an_input_error(tmp_path, suffix):
    path = tmp_path / f"deep{suffix}"
    path.write_text('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    err = clean_exit_2(run("validate", path, cwd=tmp_path))
    assert f"deep{suffix}: document: got 'values nested too deeply to read'" in err


def test_an_xlsx_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * (300 * 2**20) + b"</a>")
    assert path.stat().st_size < 2**20  # 300 MiB of XML in well under 1 MiB
    err = clean_exit_2(run("validate", path, cwd=tmp_path))
    assert "bomb.xlsx: file: got '314,572,807 bytes once unzipped" in err


# --- 2. ids that a spreadsheet would execute ----------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HYPERLINK = '=HYPERLINK("http://x","y")'

# Every id-like field holds an id that contains, but does not begin with, = + - @.
EDGE = """\
name: "q=1 portfolio"
horizon: {periods: 2, discount_rate: 0.05}
market: {hashprice_usd_per_ph_day: [40, 35]}
sites:
  - id: "mine=1"
    capacity_mw: 50
    grid: {capacity_mw: 30, price_usd_per_mwh: 40}
    btc: {fleet_mw: 30, efficiency_j_per_th: 20, pue: 1.1}
    ai: {max_it_mw: 20, existing_it_mw: 10, block_it_mw: 10, capex_usd_per_it_mw: 1000000,
         lead_time_periods: 0, pue: 1.2}
  - id: "north-2"
    capacity_mw: 40
    grid: {capacity_mw: 20, price_usd_per_mwh: 45}
    btc: {fleet_mw: 10, efficiency_j_per_th: 22}
    ai: {max_it_mw: 20, block_it_mw: 10, capex_usd_per_it_mw: 1000000, lead_time_periods: 0}
sources:
  - {id: "solar+wind", capacity_mw: 20, price_usd_per_mwh: 20}
links:
  - {id: "line@1", from: "solar+wind", to: "mine=1", kind: power, capacity_mw: 20, loss: 0.02}
  - {id: "fiber=a", from: "mine=1", to: "north-2", kind: fiber, latency_ms: 3}
  - {from: "solar+wind", to: "north-2", kind: power, capacity_mw: 10}
contracts:
  - {id: "lease+1", tenant: "acme@cloud", group: "g=1", it_mw: {min: 5, max: 20},
     rate_usd_per_kw_month: 120, start_period: 1, term_periods: 2,
     eligible: {sites: ["mine=1"]}, committed: true}
  - {id: "lease-2", tenant: "beta-co", it_mw: {min: 5, max: 10}, rate_usd_per_kw_month: 110,
     start_period: 1, term_periods: 2, max_sites: 2,
     eligible: {near: {site: "mine=1", max_latency_ms: 5}}}
"""


def edge_document() -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(EDGE)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_text_cells(path: Path) -> list[str]:
    """Every cell of a CSV file that a spreadsheet reads as text (not as a number)."""
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return [c for row in csv.reader(fh) for c in row if c and not _is_number(c)]


def xlsx_text_cells(path: Path) -> tuple[list[str], list[str]]:
    """The text cells of every sheet, and the coordinates of any formula cell."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    texts, formulas = [], []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    formulas.append(f"{ws.title}!{cell.coordinate}")
                elif isinstance(cell.value, str):
                    texts.append(cell.value)
    return texts, formulas


def starting_like_a_formula(cells: list[str]) -> list[str]:
    return [c for c in cells if c.startswith(FORMULA_STARTS)]


@pytest.fixture(scope="module")
def edge_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The edge instance solved with every output: CSV and xlsx tables, duals, report."""
    d = tmp_path_factory.mktemp("edge")
    (d / "edge.yaml").write_text(EDGE, encoding="utf-8")
    for out, extra in (("csv", []), ("xlsx", ["--format", "xlsx"])):
        proc = run("solve", "edge.yaml", "--out", out, "--duals", "--report", *extra, cwd=d)
        assert proc.returncode == 0, proc.stderr
    return d


def test_ids_containing_formula_characters_are_valid_and_reach_the_csv_files(edge_runs):
    csv_dir = edge_runs / "csv"
    files = sorted(p.name for p in csv_dir.glob("*.csv"))
    assert files == ["cashflows.csv", "contract_site_periods.csv", "contracts.csv",
                     "flows.csv", "marginal_values.csv", "site_periods.csv"]
    cells = {p.name: csv_text_cells(p) for p in csv_dir.glob("*.csv")}
    # The edge ids are written verbatim (the rule refuses only a leading character).
    assert {"mine=1", "north-2"} <= set(cells["site_periods.csv"])
    assert {"lease+1", "acme@cloud", "lease-2", "beta-co"} <= set(cells["contracts.csv"])
    assert {"line@1", "solar+wind", "solar+wind-north-2"} <= set(cells["flows.csv"])
    for name, texts in cells.items():
        assert starting_like_a_formula(texts) == [], name


def test_no_cell_of_the_results_workbook_is_or_looks_like_a_formula(edge_runs):
    texts, formulas = xlsx_text_cells(edge_runs / "xlsx" / "results.xlsx")
    assert formulas == []
    assert {"mine=1", "lease+1", "acme@cloud", "line@1"} <= set(texts)
    assert starting_like_a_formula(texts) == []
    # marginal_values.csv is written beside the workbook; its notes too.
    assert starting_like_a_formula(csv_text_cells(edge_runs / "xlsx" / "marginal_values.csv")) \
        == []


def test_a_formula_profile_path_stays_text_in_the_results_workbook(tmp_path):
    """The summary sheet repeats --solver-profile as given: free text, written as text."""
    (tmp_path / "edge.yaml").write_text(EDGE, encoding="utf-8")
    (tmp_path / "=p.yaml").write_text((ROOT / "solvers" / "default.yaml").read_text())
    proc = run("solve", "edge.yaml", "--solver-profile", "=p.yaml", "--out", "o",
               "--format", "xlsx", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    texts, formulas = xlsx_text_cells(tmp_path / "o" / "results.xlsx")
    assert formulas == []  # before: summary!B<row> was the formula =p.yaml
    assert "=p.yaml" in texts  # kept, as a text cell


def test_batch_and_breakeven_tables_hold_no_formula_text(edge_runs):
    import pandas as pd

    batch = edge_runs / "batch.yaml"
    batch.write_text("base: edge.yaml\nmethod: oat\nname: edge-batch\nparameters:\n"
                     "  - {path: 'sites[mine=1].grid.price_usd_per_mwh', scale: [0.5, 1.5],"
                     " levels: 2}\n", encoding="utf-8")
    proc = run("sweep", batch, "--out", "store", "--workers", 1, "--quiet", cwd=edge_runs)
    assert proc.returncode == 0, proc.stderr
    proc = run("breakeven", "edge.yaml", "--param", "sites[mine=1].grid.price_usd_per_mwh",
               "--range", 10, 80, "--grid", 3, "--no-verify", "--out", "be", cwd=edge_runs)
    assert proc.returncode == 0, proc.stderr
    csvs = sorted((edge_runs / "store").rglob("*.csv")) + sorted((edge_runs / "be").glob("*.csv"))
    assert {p.name for p in csvs} >= {"tornado.csv", "breakevens.csv", "breakeven_scan.csv"}
    for p in csvs:
        assert starting_like_a_formula(csv_text_cells(p)) == [], p
    for p in sorted((edge_runs / "store").glob("*.parquet")):
        df = pd.read_parquet(p)
        texts = [v for c in df.columns for v in df[c] if isinstance(v, str)]
        texts += [str(c) for c in df.columns]
        assert starting_like_a_formula(texts) == [], p


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_id_field_refuses_each_formula_start(start):
    from portfolio_opt import InputError
    from portfolio_opt.validate import validate_data

    bad = start + "x"
    doc = edge_document()
    doc["name"] = bad
    doc["sites"][0]["id"] = bad
    doc["sources"][0]["id"] = bad + "s"
    doc["links"][0]["id"] = bad + "l"
    doc["links"][1]["from"] = bad + "f"
    doc["links"][1]["to"] = bad + "t"
    c1, c2 = doc["contracts"]
    c1.update(id=bad + "c", tenant=bad + "t", group=bad + "g", eligible={"sites": [bad + "e"]})
    c2["eligible"]["near"]["site"] = bad + "n"
    with pytest.raises(InputError) as info:
        validate_data(doc, "edge.yaml")
    refused = {(i.field, i.value) for i in info.value.issues
               if "spreadsheets execute as formulas" in i.expected}
    assert refused == {("name", bad), ("id", bad), ("id", bad + "s"), ("id", bad + "l"),
                       ("from", bad + "f"), ("to", bad + "t"), ("id", bad + "c"),
                       ("tenant", bad + "t"), ("group", bad + "g"),
                       ("eligible.sites[0]", bad + "e"), ("eligible.near.site", bad + "n")}


def test_a_hyperlink_site_is_refused_by_validate_and_solve_and_nothing_is_written(tmp_path):
    path = tmp_path / "hyp.yaml"
    path.write_text(EDGE.replace('"mine=1"', "'" + HYPERLINK + "'"), encoding="utf-8")
    err = clean_exit_2(run("validate", path, cwd=tmp_path))
    assert ("hyp.yaml: site '=HYPERLINK(\"http://x\",\"y\")', field 'id': got "
            "'=HYPERLINK(\"http://x\",\"y\")'; expected an id that does not begin with "
            "= + - @, tab or CR, which spreadsheets execute as formulas; rename it, e.g. "
            "'site_=HYPERLINK(\"htt...'") in err
    err = clean_exit_2(run("solve", path, "--out", tmp_path / "out", "--duals", "--report",
                           cwd=tmp_path))
    assert "field 'id'" in err and "spreadsheets execute as formulas" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hyp.yaml"]


def test_a_leading_tab_is_refused_and_the_suggestion_drops_it(tmp_path):
    path = tmp_path / "tab.yaml"
    path.write_text(EDGE.replace('"north-2"', '"\\tnorth-2"'), encoding="utf-8")
    err = clean_exit_2(run("validate", path, cwd=tmp_path))
    assert "got '\\tnorth-2'" in err and "rename it, e.g. 'north-2'" in err


def test_a_formula_id_typed_as_text_in_a_workbook_is_refused_at_its_cell(tmp_path):
    from openpyxl import load_workbook

    from portfolio_opt.spreadsheet import convert

    (tmp_path / "edge.yaml").write_text(EDGE, encoding="utf-8")
    book = convert(tmp_path / "edge.yaml", tmp_path / "edge.xlsx")
    wb = load_workbook(book)
    ws = wb["sources"]
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index("id") + 1)
    assert cell.value == "solar+wind"
    cell.value = "@SUM(1)"
    cell.data_type = "s"  # typed as text, as a spreadsheet keeps '@SUM(1)
    wb.save(book)
    err = clean_exit_2(run("validate", book, cwd=tmp_path))
    assert f"edge.xlsx: sheet 'sources', row 2, column {cell.column_letter}" in err
    assert "'@SUM(1)'" in err and "spreadsheets execute as formulas" in err


def test_a_formula_batch_name_is_refused(tmp_path):
    batch = tmp_path / "b.yaml"
    batch.write_text(f"base: {TUTORIAL}\nname: '+cmd'\nmethod: oat\nparameters:\n"
                     "  - {path: market.hashprice_usd_per_ph_day, scale: [0.5, 1.5]}\n",
                     encoding="utf-8")
    err = clean_exit_2(run("sweep", batch, "--out", tmp_path / "store", cwd=tmp_path))
    assert "b.yaml: batch, field 'name': got '+cmd'" in err and "e.g. 'batch_+cmd'" in err
    assert not (tmp_path / "store").exists()


# --- 3. --out naming something that is not a place to write -------------------------------

KEEP = "not a results folder\n"


def _untouched(path: Path) -> None:
    assert path.read_text(encoding="utf-8") == KEEP


def _one_issue(err: str, command: str, option: str, path: str) -> str:
    """The single issue line, after the usual head line."""
    lines = err.strip().splitlines()
    assert lines[0] == "InputError: 1 problem in the input:", err
    assert len(lines) == 2, err
    assert lines[1].startswith(f"  - <command line>: {command} {option}: got '{path}'; "), err
    return lines[1]


@pytest.mark.parametrize("command", [
    ["solve", TUTORIAL],
    ["breakeven", TUTORIAL, "--param", "market.hashprice_usd_per_ph_day", "--range", 0.5, 1.5,
     "--scale"],
    ["sweep", ROOT / "instances" / "batches" / "tutorial_tornado.yaml", "--workers", 1],
])
def test_a_folder_out_that_is_an_existing_file_is_exit_2_and_left_untouched(tmp_path, command):
    target = tmp_path / "existing.txt"
    target.write_text(KEEP, encoding="utf-8")
    err = clean_exit_2(run(*command, "--out", "existing.txt", cwd=tmp_path))
    line = _one_issue(err, command[0], "--out", "existing.txt")
    assert "it is an existing file (left untouched)" in line
    _untouched(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.txt"]


def test_a_folder_out_below_a_file_is_exit_2(tmp_path):
    (tmp_path / "existing.txt").write_text(KEEP, encoding="utf-8")
    err = clean_exit_2(run("solve", TUTORIAL, "--out", "existing.txt/plan", cwd=tmp_path))
    assert "'existing.txt' is a file, so nothing can be created below it" in \
        _one_issue(err, "solve", "--out", "existing.txt/plan")
    _untouched(tmp_path / "existing.txt")


def test_file_outputs_refuse_a_folder_a_wrong_extension_and_their_own_input(tmp_path):
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "folder.xlsx").mkdir()
    (tmp_path / "folder.html").mkdir()
    (tmp_path / "existing.txt").write_text(KEEP, encoding="utf-8")
    own = tmp_path / "own.yaml"
    own.write_text(TUTORIAL.read_text(encoding="utf-8") + "# a comment convert would drop\n",
                   encoding="utf-8")
    cases = [
        (["generate", "--sites", 2, "--out", "folder.yaml"], "generate --out", "folder.yaml",
         "it is an existing folder"),
        (["generate", "--sites", 2, "--out", "existing.txt"], "generate --out", "existing.txt",
         "expected a file ending in .yaml, .yml, .json"),
        (["template", "folder.xlsx"], "template OUT", "folder.xlsx", "existing folder"),
        (["convert", own, "folder.yaml"], "convert TARGET", "folder.yaml", "existing folder"),
        (["convert", own, "own.yaml"], "convert TARGET", "own.yaml",
         "writing over the input would lose it"),
        (["report", ROOT / "instances", "--out", "folder.html"], "report --out", "folder.html",
         "existing folder"),
        (["report", ROOT / "instances", "--out", "existing.txt"], "report --out",
         "existing.txt", "expected a file ending in .html, .htm"),
    ]
    for args, where, path, why in cases:
        err = clean_exit_2(run(*args, cwd=tmp_path))
        command, option = where.split()
        assert why in _one_issue(err, command, option, path), args
    _untouched(tmp_path / "existing.txt")
    assert own.read_text(encoding="utf-8").endswith("# a comment convert would drop\n")
    assert all(not any(p.iterdir()) for p in tmp_path.glob("folder.*"))


def test_run_batch_refuses_a_file_as_its_store(tmp_path):
    from portfolio_opt import InputError
    from portfolio_opt.batch.api import run_batch

    target = tmp_path / "store"
    target.write_text(KEEP, encoding="utf-8")
    spec = {"base": str(TUTORIAL), "method": "oat",
            "parameters": [{"path": "market.hashprice_usd_per_ph_day", "scale": [0.5, 1.5]}]}
    with pytest.raises(InputError, match="it is an existing file"):
        run_batch(spec, target, workers=1)
    _untouched(target)
