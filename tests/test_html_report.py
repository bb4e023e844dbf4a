"""The HTML report: one self-contained page whose numbers are the result files' numbers,
with every instance name escaped, checked in a real headless browser (Debian's chromium).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib import image

import portfolio_opt as po
from portfolio_opt.html_report import write_report, write_result_report
from portfolio_opt.html_report.data import load_folder
from portfolio_opt.html_report.network import site_graph
from portfolio_opt.loader import load_instance

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "instances" / "tutorial.yaml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

STUCK = """\
name: stuck
horizon: {periods: 2}
market: {hashprice_usd_per_ph_day: 40}
sites:
  - id: campus
    capacity_mw: 30
    grid: {capacity_mw: 30, price_usd_per_mwh: 40}
    ai: {max_it_mw: 10, existing_it_mw: 10, block_it_mw: 10, capex_usd_per_it_mw: 1000000}
contracts:
  - {id: signed-anchor, tenant: acme, it_mw: {min: 25, max: 25}, rate_usd_per_kw_month: 120,
     start_period: 1, term_periods: 2, committed: true}
"""

EVIL_SITE = "<script>alert(1)</script>"
EVIL_TENANT = "a&b\"c'"


def cli(*args: Any, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio_opt.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def musd(usd: float) -> str:
    return f"{usd / 1e6:,.1f}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The CLI runs of this module, started together (each is mostly start-up time)."""
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "stuck.yaml").write_text(STUCK, encoding="utf-8")
    (tmp / "empty").mkdir()
    plain = tmp / "plain"  # written by the library: no instance.json, no report
    po.solve(TUTORIAL).write(plain)
    commands = {
        "tutorial": ["solve", TUTORIAL, "--out", tmp / "out", "--report", "--quiet"],
        "stuck": ["solve", tmp / "stuck.yaml", "--out", tmp / "stuck", "--report", "--quiet"],
        "empty": ["report", tmp / "empty"],
        "plain": ["report", plain, "--out", tmp / "copy.html", "--instance", TUTORIAL],
    }
    procs = {k: subprocess.Popen([sys.executable, "-m", "portfolio_opt.cli",
                                  *map(str, args)], cwd=tmp, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
             for k, args in commands.items()}
    out: dict[str, Any] = {"tmp": tmp}
    for k, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        out[k] = subprocess.CompletedProcess(commands[k], p.returncode, stdout, stderr)
    return out


@pytest.fixture(scope="module")
def tutorial_out(runs: dict[str, Any]) -> Path:
    assert runs["tutorial"].returncode == 0, runs["tutorial"].stderr
    return Path(runs["tmp"]) / "out"


def html_of(folder: Path) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the page and its numbers


def test_solve_report_writes_one_self_contained_page(tutorial_out):
    assert (tutorial_out / "instance.json").is_file()
    same = load_instance(tutorial_out / "instance.json") == load_instance(TUTORIAL)
    assert same
    html = html_of(tutorial_out)
    assert html.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    # nothing to fetch: every reference is to the page itself or inline data
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert all(r.startswith(("#", "data:")) for r in refs), refs
    assert "url(http" not in html
    # four charts: revenue-to-NPV and NPV by period, cash by period, MW by site, the map
    assert html.count("<svg") == 4


def test_headline_and_tables_are_the_files_numbers(tutorial_out):
    html = html_of(tutorial_out)
    summary = json.loads((tutorial_out / "summary.json").read_text(encoding="utf-8"))
    npv = summary["objective_npv_usd"]
    assert round(npv / 1e6, 2) == 280.77  # docs/instances.md
    assert f"{musd(npv)} MUSD" in html
    cf = pd.read_csv(tutorial_out / "cashflows.csv")
    # the cash table's total row: the discounted column adds up to the NPV
    total_row = re.search(r"<tr><td>total</td>(.*?)</tr>", html)
    assert total_row is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', total_row.group(1))
    assert cells[-1] == musd(cf["discounted"].sum()) == musd(npv)
    assert cells[0] == musd(cf["btc_revenue"].sum())
    for year, disc in zip(cf["year"], cf["discounted"], strict=True):
        assert re.search(rf"<tr><td>{year}</td>.*?<td class=\"num\">{re.escape(musd(disc))}"
                         r"</td></tr>", html)
    contracts = pd.read_csv(tutorial_out / "contracts.csv", keep_default_na=False)
    for _, c in contracts.iterrows():
        if c["accepted"]:
            assert f"<td>{c['contract']}</td><td>{c['tenant']}</td>" in html
            assert musd(c["npv_usd"]) in html
        else:
            assert f"{c['contract']} ({c['tenant']})" in html  # listed as declined
    # MW cards: the last period's totals from site_periods.csv
    sp = pd.read_csv(tutorial_out / "site_periods.csv")
    last = sp[sp["period"] == sp["period"].max()]
    assert f"{last['btc_mw'].sum():,.0f}</div>" in html
    assert f"{last['ai_served_it_mw'].sum():,.0f}</div>" in html


def test_marginal_values_section_lists_the_binding_totals(tutorial_out):
    path = tutorial_out / "marginal_values.csv"
    if not path.exists():
        pytest.skip("this build writes no marginal_values.csv")
    mv = pd.read_csv(path)
    binding = mv[mv["period"].isna() & mv["binding"].astype(bool)]
    html = html_of(tutorial_out)
    section = html[html.index('<section id="marginal">'):]
    section = section[:section.index("</section>")]
    assert section.count("<tr>") == len(binding) + 1  # header + one row each
    assert f"all {len(mv):,} rows" in section
    for _, row in binding.iterrows():
        assert f"<td>{row['kind']}</td><td>{row['entity']}</td>" in section


def test_site_graph_of_the_tutorial(tutorial_out):
    sp = pd.read_csv(tutorial_out / "site_periods.csv")
    flows = pd.read_csv(tutorial_out / "flows.csv")
    nodes, edges = site_graph(load_instance(TUTORIAL), sp, flows)
    use = {n.id: n.use for n in nodes}
    # docs/instances.md: alpha mines, bravo mines beside a new hall, charlie hosts AI only
    assert use == {"alpha": "btc", "bravo": "mixed", "charlie": "ai", "wind-farm": "source"}
    size = {n.id: n.mw for n in nodes}
    assert size["alpha"] == pytest.approx(110 * 1.05)  # 100 + 10 bought MW at pue 1.05
    assert size["wind-farm"] == 55  # its most MW in any period
    assert size["charlie"] == pytest.approx(10 * 1.3)  # its full 10 MW hall at ai.pue
    by_id = {e.id: e for e in edges}
    assert by_id["wind-line"].kind == "power" and by_id["wind-line"].directed
    assert by_id["wind-line"].label == "50 MW, 3% loss"
    assert by_id["bravo-charlie"].kind == "fiber" and by_id["bravo-charlie"].label == "3 ms"
    # without the instance: drawn from the plan; the fiber link cannot be known
    nodes2, edges2 = site_graph(None, sp, flows)
    assert {n.id: n.use for n in nodes2} == use
    assert [(e.id, e.u, e.v, e.kind, e.directed) for e in edges2] == [
        ("wind-line", "wind-farm", "charlie", "power", True)]


def test_report_of_a_folder_without_instance_and_from_xlsx_tables(tmp_path, tutorial_out):
    result = po.solve(TUTORIAL)
    result.write(tmp_path / "xlsx", format="xlsx")
    page = write_report(tmp_path / "xlsx").read_text(encoding="utf-8")
    assert "Drawn from the plan alone" in page and "Fiber links are not shown" in page
    full = html_of(tutorial_out)

    def cash_table(html: str) -> str:
        start = html.index('<section id="cash">')
        return re.sub(r"<svg.*?</svg>", "", html[start:html.index("</section>", start)],
                      flags=re.DOTALL)

    assert cash_table(page) == cash_table(full)
    lib = write_result_report(result, tmp_path / "lib.html", load_instance(TUTORIAL))
    assert cash_table(lib.read_text(encoding="utf-8")) == cash_table(full)


def test_report_command_errors_and_out_option(runs):
    tmp = Path(runs["tmp"])
    proc = runs["empty"]
    assert proc.returncode == 2 and proc.stderr.startswith("InputError:")
    assert "no summary.json" in proc.stderr and "Traceback" not in proc.stderr
    assert not list((tmp / "empty").iterdir())
    proc = runs["plain"]
    assert proc.returncode == 0, proc.stderr
    html = (tmp / "copy.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 4
    assert "bravo-charlie" not in html  # link ids are not labels; the fiber one is drawn:
    assert "3 ms" in html and "Drawn from the plan alone" not in html


def test_infeasible_report_says_why(runs):
    proc, out = runs["stuck"], Path(runs["tmp"]) / "stuck"
    assert proc.returncode == 3
    html = html_of(out)
    assert "status-infeasible" in html and "signed-anchor" in html
    # no plan: no cash or MW charts; the network is still drawn, sized by capacity
    assert '<section id="cash">' not in html and '<section id="mw">' not in html
    assert html.count("<svg") == 1 and "No plan: sites sized by capacity_mw" in html
    if (out / "diagnosis.json").exists():
        assert '<section id="diagnosis">' in html


# ------------------------------------------------------------------------------- escaping


def evil_instance() -> po.Instance:
    data = load_instance(TUTORIAL).model_dump(by_alias=True, exclude_none=True)
    data["name"] = "</title><b>board</b>"
    rename = {"charlie": EVIL_SITE}
    for site in data["sites"]:
        site["id"] = rename.get(site["id"], site["id"])
    for link in data["links"]:
        link["to"] = rename.get(link["to"], link["to"])
        link.pop("id", None) if link["kind"] == "fiber" else None
    for c in data["contracts"]:
        c["tenant"] = EVIL_TENANT if c["id"] == "anchor" else c["tenant"]
        if "sites" in c.get("eligible", {}):
            c["eligible"]["sites"] = [rename.get(s, s) for s in c["eligible"]["sites"]]
    return po.Instance.model_validate(data)


def test_every_name_from_the_instance_is_escaped(tmp_path):
    inst = evil_instance()
    result = po.solve(inst)
    assert result.status == po.Status.OPTIMAL
    result.write(tmp_path / "out")
    pages = [write_result_report(result, tmp_path / "lib.html", inst),
             write_report(tmp_path / "out", instance=inst)]
    for path in pages:
        html = path.read_text(encoding="utf-8")
        for raw in (EVIL_SITE, EVIL_TENANT, "<b>board</b>", "bravo-" + EVIL_SITE):
            assert raw not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text
        assert "a&amp;b&quot;c&#x27;" in html  # the tenant in the contracts table
        assert "<script" not in html.lower()
        assert html.count("<svg") == 4


# --------------------------------------------------------------------------- the browser


def browse(html: Path, tmp: Path) -> tuple[Path, list[str]]:
    """Open ``html`` in headless chromium; the screenshot and the page's console lines."""
    assert CHROMIUM is not None
    png = tmp / f"{html.stem}.png"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr",
         "--v=0", f"--screenshot={png}", "--window-size=1280,2400", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return png, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def colour_pixels(rgb: np.ndarray, hex_colour: str, tol: float = 0.03) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(rgb - target) < tol).all(axis=2).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH "
                    "(apt-get install chromium; .ci/run installs it)")
def test_report_in_headless_chromium(tmp_path, tutorial_out):
    # the harness sees console errors: a page that logs one is caught
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom')</script>",
                       encoding="utf-8")
    _, lines = browse(control, tmp_path)
    assert any("boom" in line for line in lines)

    png, lines = browse(tutorial_out / "report.html", tmp_path)
    assert lines == []  # no console message at all: no error, no blocked fetch
    pixels = image.imread(png)
    assert pixels.shape[:2] == (2400, 1280)
    rgb = pixels[:, :, :3]
    assert float(rgb.std()) > 0.05
    assert float((rgb.min(axis=2) < 0.9).mean()) > 0.05  # far from a blank page
    # the charts are drawn: bitcoin orange (BTC MW, revenue) and AI blue bars are there
    assert colour_pixels(rgb, "#f2a900") > 5000
    assert colour_pixels(rgb, "#3b6fd8") > 2000


# ------------------------------------------------------------------------------- batches


@pytest.fixture(scope="module")
def batch_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    run_batch = pytest.importorskip("portfolio_opt.batch.api").run_batch
    tmp = tmp_path_factory.mktemp("batch")
    hash_path = "market.hashprice_usd_per_ph_day"
    rate_path = "contracts[hyperscaler-offer].rate_usd_per_kw_month"
    specs = {
        "oat": {"base": str(TUTORIAL), "method": "oat", "parameters": [
            {"path": hash_path, "scale": [0.5, 1.5], "levels": 3},
            {"path": rate_path, "values": [120.0, 220.0]}]},
        "grid": {"base": str(TUTORIAL), "method": "grid", "parameters": [
            {"path": hash_path, "scale": [0.5, 1.5], "levels": 3},
            {"path": rate_path, "values": [60.0, 170.0, 280.0]}]},
    }
    for name, spec in specs.items():
        run_batch(spec, tmp / name, workers=1)
    return {name: tmp / name for name in specs}


@pytest.mark.slow
def test_batch_folder_report_has_tornado_and_regime_map(batch_dirs):
    base_npv = po.solve(TUTORIAL).objective_npv_usd
    assert base_npv is not None
    oat = write_report(batch_dirs["oat"]).read_text(encoding="utf-8")
    assert '<section id="batch">' in oat and "tornado" in oat.lower()
    assert oat.count("<svg") == 1 and "regime map" not in oat.lower()
    data = load_folder(batch_dirs["oat"])
    assert data.batch is not None
    npv = data.batch.results["objective_npv_usd"]
    # the base scenario is the tutorial itself; lower hashprice lowers the NPV
    assert npv.min() < base_npv < npv.max()
    assert f"{npv.min() / 1e6:,.0f} to {npv.max() / 1e6:,.0f} MUSD" in oat
    grid = write_report(batch_dirs["grid"]).read_text(encoding="utf-8")
    assert grid.count("<svg") == 1 and "share of MW in AI" in grid
    assert "9 solved of 9" in grid


# ------------------------------------------------------------------ spec v2 A and D


def v2_instance() -> dict[str, Any]:
    """One 10 IT MW hall at 50 MUSD, a 4-year lease from period 1 on a 2-period horizon
    (2 tail years, contract_tail), the tenant paying 1 MUSD per IT MW and the energy at
    20 USD/MWh; 70 % borrowed at 5 % over 4 years (payments after the horizon)."""
    return {
        "name": "deal-v2",
        "horizon": {"periods": 2, "discount_rate": 0.1, "terminal_value": "contract_tail",
                    "tail_energy_price_usd_per_mwh": 20},
        "market": {"hashprice_usd_per_ph_day": 40},
        "sites": [{"id": "a", "capacity_mw": 100,
                   "grid": {"capacity_mw": 100, "price_usd_per_mwh": 20},
                   "ai": {"max_it_mw": 10, "block_it_mw": 10, "capex_usd_per_it_mw": 5e6,
                          "lead_time_periods": 0, "pue": 1.0}}],
        "contracts": [{"id": "lease", "tenant": "acme", "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 4,
                       "committed": True, "tenant_capex_usd_per_it_mw": 1e6,
                       "energy_recovery_usd_per_mwh": 20}],
        "finance": {"debt": {"max_loan_to_cost": 0.7, "interest_rate": 0.05,
                             "tenor_years": 4}},
    }


def test_v2_bridge_sums_to_the_npv_and_the_new_lines_show(tmp_path):
    from portfolio_opt.html_report.charts import bridge_steps

    inst = po.Instance.model_validate(v2_instance())
    result = po.solve(inst, profile="exact")
    assert result.status == "optimal"
    summary = result.summary()
    cf = result.cashflows
    tail, after = summary["terminal_value_usd"], summary["debt_after_horizon_usd"]
    assert tail > 0 and after > 0
    assert summary["debt_principal_usd"] == pytest.approx(35e6)
    steps = bridge_steps(cf, summary)
    labels = [label for label, _, _ in steps]
    assert labels == ["BTC revenue", "AI lease revenue", "energy recovery", "tenant capex",
                      "debt drawn", "energy", "opex", "capex", "debt service",
                      "net, undiscounted", "discounting", "discounted cash flow",
                      "terminal value", "debt after horizon", "NPV"]
    # the steps add up to the NPV; each total is the sum of the steps before it
    level = 0.0
    for label, value, kind in steps:
        if kind == "total":
            assert value == pytest.approx(level, abs=1e-3), label
        else:
            level += value
    assert steps[-1][1] == pytest.approx(summary["objective_npv_usd"], abs=1e-3)
    assert dict((k, v) for k, v, _ in steps)["terminal value"] == pytest.approx(tail)
    assert dict((k, v) for k, v, _ in steps)["debt after horizon"] == pytest.approx(-after)
    page = write_result_report(result, tmp_path / "v2.html", inst).read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    for head in ("energy recovery (MUSD)", "tenant capex (MUSD)", "debt drawn (MUSD)",
                 "debt service (MUSD)", "Who pays the capex", "equity (MUSD)"):
        assert head in page, head
    assert ">terminal value<" in page and ">debt after horizon<" in page  # SVG text
    # the funding table's total row: capex 50, tenant 10, debt 35, equity 5 MUSD
    start = page.index("Who pays the capex")
    total = re.search(r"<tr><td>total</td>(.*?)</tr>", page[start:])
    assert total is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', total.group(1)) == \
        ["50.0", "10.0", "35.0", "5.0"]


def test_v1_page_hides_the_v2_lines(tutorial_out):
    html = html_of(tutorial_out)
    for text in ("tenant capex", "debt service", "debt drawn", "energy recovery",
                 "terminal value", "debt after horizon", "Who pays the capex"):
        assert text not in html, text


# ------------------------------------------------------------------ spec v2 C: price blocks

EVIL_BLOCK = "<i>peak</i>"


def blocks_instance() -> dict[str, Any]:
    """A miner (50 MW of ASICs at 20 J/TH: break-even 83.33 USD/MWh) and a firm 10 IT MW
    lease at a second site; blocks off (0.8 of the hours, 30 USD/MWh) and a peak (0.2,
    200 USD/MWh) whose id is markup. Demand response: 50,000 USD per MW-year, 30 MW."""
    blocks = [{"id": "off", "hours_share": 0.8}, {"id": EVIL_BLOCK, "hours_share": 0.2}]
    price = {"off": 30, EVIL_BLOCK: 200}
    return {
        "name": "blocks", "horizon": {"periods": 2},
        "market": {"hashprice_usd_per_ph_day": 40, "blocks": blocks},
        "sites": [
            {"id": EVIL_SITE, "capacity_mw": 100,
             "grid": {"capacity_mw": 100, "price_usd_per_mwh": price},
             "btc": {"fleet_mw": 50, "efficiency_j_per_th": 20,
                     "demand_response": {"credit_usd_per_mw_year": 50_000, "max_mw": 30}}},
            {"id": "campus", "capacity_mw": 20,
             "grid": {"capacity_mw": 20, "price_usd_per_mwh": price},
             "ai": {"max_it_mw": 10, "existing_it_mw": 10, "block_it_mw": 10,
                    "capex_usd_per_it_mw": 0, "pue": 1.0}},
        ],
        "contracts": [{"id": "firm", "tenant": EVIL_TENANT, "it_mw": {"min": 10, "max": 10},
                       "rate_usd_per_kw_month": 100, "start_period": 1, "term_periods": 2,
                       "committed": True}],
    }


def section_of(html: str, anchor: str) -> str:
    start = html.index(f'<section id="{anchor}">')
    return html[start:html.index("</section>", start)]


def table_rows(html: str) -> list[list[str]]:
    """The body rows of the first table in ``html``, cells as shown."""
    body = html[html.index("<tbody>"):html.index("</tbody>")]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", body)]


def test_blocks_chart_matches_site_period_blocks(tmp_path):
    from portfolio_opt.html_report.charts import AI_COLUMN, block_mw

    inst = po.Instance.model_validate(blocks_instance())
    result = po.solve(inst, profile="exact")
    assert result.status == "optimal"
    spb = result.site_period_blocks
    assert spb is not None
    # by hand: the miner hashes its 50 MW off-peak and curtails the 200 USD/MWh peak; the
    # lease's 10 IT MW are served in both blocks (site_periods has no block column)
    frame = block_mw(spb, result.site_periods)
    assert list(frame.index) == [EVIL_SITE, "campus"]
    assert list(frame.columns) == ["off", EVIL_BLOCK, AI_COLUMN]
    assert frame.loc[EVIL_SITE].tolist() == pytest.approx([50.0, 0.0, 0.0], abs=1e-6)
    assert frame.loc["campus"].tolist() == pytest.approx([0.0, 0.0, 10.0], abs=1e-6)
    # ... and they are site_period_blocks.csv's numbers, averaged over the periods
    mean = spb.groupby(["site", "block"])["btc_mw"].mean()
    for site in frame.index:
        for block in ("off", EVIL_BLOCK):
            assert frame.loc[site, block] == pytest.approx(mean[site, block])
    # DR: 30 MW ready in the off block only: 0.8 * 50,000 * 30 = 1.2 MUSD a year
    assert result.cashflows["dr_credit"].tolist() == pytest.approx([1.2e6, 1.2e6])

    result.write(tmp_path / "out")
    assert (tmp_path / "out" / "site_period_blocks.csv").is_file()
    pages = [write_result_report(result, tmp_path / "lib.html", inst),
             write_report(tmp_path / "out", instance=inst)]
    shown = []
    for path in pages:
        html = path.read_text(encoding="utf-8")
        assert "<script" not in html.lower()
        for raw in (EVIL_SITE, EVIL_BLOCK, EVIL_TENANT):
            assert raw not in html
        # five charts: the bridge, cash by period, MW by site, by block, the map
        assert html.count("<svg") == 5
        sec = section_of(html, "blocks")
        assert "&lt;i&gt;peak&lt;/i&gt; (20 % of hours)" in sec  # caption, escaped
        assert "BTC MW, &lt;i&gt;peak&lt;/i&gt;" in sec  # table header, escaped
        rows = table_rows(sec)
        assert rows == [["&lt;script&gt;alert(1)&lt;/script&gt;", "50.0", "0.0", "0.0"],
                        ["campus", "0.0", "0.0", "10.0"]]
        assert "dr_mw" in sec
        cash = section_of(html, "cash")
        assert "dr credit (MUSD)" in cash
        assert ">demand-response credit<" in cash  # the bridge's step (SVG text)
        total = re.search(r"<tr><td>total</td>(.*?)</tr>", cash)
        assert total is not None
        heads = re.findall(r'<th class="num">([^<]*)</th>', cash)
        cells = re.findall(r'<td class="num">([^<]*)</td>', total.group(1))
        assert dict(zip(heads, cells, strict=True))["dr credit (MUSD)"] == "2.4"
        shown.append(re.sub(r"<svg.*?</svg>", "", sec, flags=re.DOTALL))
    assert shown[0] == shown[1]  # the folder reads site_period_blocks.csv back


def test_no_blocks_no_block_chart(tmp_path, tutorial_out):
    assert '<section id="blocks">' not in html_of(tutorial_out)
    # demand response without blocks: the credit shows, the block chart does not
    data = blocks_instance()
    del data["market"]["blocks"]
    for site in data["sites"]:
        site["grid"]["price_usd_per_mwh"] = 30
    result = po.solve(data, profile="exact")
    assert result.site_period_blocks is None
    html = write_result_report(result, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert '<section id="blocks">' not in html and "dr credit (MUSD)" in html
    assert html.count("<svg") == 4  # the bridge, cash by period, MW by site, the map


def test_blocks_end_to_end_through_the_cli(tmp_path):
    # the tutorial with four blocks from the shipped West Texas prices, solved with
    # --report, then the folder's report rewritten by 'portfolio-opt report'
    csv = ROOT / "instances" / "data" / "west_texas_synthetic_2026.csv"
    made = cli("blocks", csv, "--blocks", 4, "--instance", TUTORIAL, "--apply-to", "grid",
               "--out", tmp_path / "t4.yaml", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    solved = cli("solve", tmp_path / "t4.yaml", "--out", tmp_path / "out", "--report",
                 "--quiet", cwd=tmp_path)
    assert solved.returncode == 0, solved.stderr
    out = tmp_path / "out"
    first = section_of(html_of(out), "blocks")
    (out / "report.html").unlink()
    again = cli("report", out, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    html = html_of(out)
    assert "<script" not in html.lower()
    sec = section_of(html, "blocks")
    strip = re.compile(r"<svg.*?</svg>", re.DOTALL)
    assert strip.sub("", sec) == strip.sub("", first)
    spb = pd.read_csv(out / "site_period_blocks.csv", dtype={"site": str, "block": str})
    mean = spb.groupby(["site", "block"])["btc_mw"].mean()
    blocks = list(dict.fromkeys(spb["block"]))
    assert len(blocks) == 4
    for row in table_rows(sec):
        site, *cells = row
        assert cells[:4] == [f"{mean[site, b]:,.1f}" for b in blocks], site
