"""The report of a result with scenarios (spec v2 B): the NPV distribution with E[NPV] and
CVaR, the hashprice fan, the first-stage plan, EVPI and VSS, the efficient frontier; the
other sections' expected values; and a deterministic page without any of it.

The instance is the worked example with two hashprice scenarios (a low path with dearer
power and a high one, 0.5 each), CVaR at alpha 0.5 weighted 0.5: the low scenario alone
is the CVaR tail. Under multi_stage the plan buys 7 MW of ASICs at rockdale in 2027 only
in the high scenario, after the scenarios' data branch in 2027.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import portfolio_opt as po
from portfolio_opt.html_report import save_instance_copy, write_report, write_result_report
from portfolio_opt.html_report.data import load_folder
from portfolio_opt.html_report.scenarios import expected_table, split

WORKED = Path(__file__).parent / "data" / "worked_example.yaml"
LOW = [48, 30, 20, 15]
HIGH = [48, 70, 60, 50]


def uncertain(structure: str, ids: tuple[str, str] = ("lo", "hi")) -> po.Instance:
    raw: dict[str, Any] = yaml.safe_load(WORKED.read_text(encoding="utf-8"))
    raw["market"].pop("hashprice_usd_per_ph_day")
    raw["uncertainty"] = {
        "scenarios": [
            {"id": ids[0], "probability": 0.5, "hashprice_usd_per_ph_day": LOW,
             "energy_price_scale": [1, 1.2, 1.2, 1.2]},
            {"id": ids[1], "probability": 0.5, "hashprice_usd_per_ph_day": HIGH}],
        "structure": structure,
        "risk": {"cvar_alpha": 0.5, "cvar_weight": 0.5}}
    return po.Instance.model_validate(copy.deepcopy(raw))


def musd(usd: float) -> str:
    """Money as the page writes it in its headline and sentences."""
    return f"{usd / 1e6:,.1f} MUSD"


def cell(usd: float) -> str:
    """Money as the page writes it in its tables (MUSD, one decimal)."""
    return f"{usd / 1e6:,.1f}"


def section_of(html: str, anchor: str) -> str:
    start = html.index(f'<section id="{anchor}">')
    return html[start:html.index("</section>", start)]


def no_svg(html: str) -> str:
    return re.sub(r"<svg.*?</svg>", "<svg/>", html, flags=re.DOTALL)


def rows_of(html: str) -> list[list[str]]:
    """The body rows of the first table in ``html``, cells as shown."""
    body = html[html.index("<tbody>"):html.index("</tbody>")]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", body)]


def subsection(html: str, title: str) -> str:
    start = html.index(f"<h3>{title}</h3>")
    end = html.find("<h3>", start + 4)
    return html[start:end if end > 0 else len(html)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Solved, written and reported: two_stage with EVPI and VSS, multi_stage without."""
    tmp = tmp_path_factory.mktemp("uncertain")
    out = {}
    for structure, voi in (("two_stage", True), ("multi_stage", False)):
        inst = uncertain(structure)
        res = po.solve(inst, value_of_information=voi)
        assert res.status == po.Status.OPTIMAL
        folder = tmp / structure
        res.write(folder)
        save_instance_copy(inst, folder)
        write_report(folder)
        out[structure] = folder
    return out


def read(folder: Path) -> tuple[str, dict[str, Any], pd.DataFrame]:
    html = (folder / "report.html").read_text(encoding="utf-8")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    scenarios = pd.read_csv(folder / "scenarios.csv", dtype={"scenario": str},
                            keep_default_na=False)
    return html, summary, scenarios


# ------------------------------------------------------------ the distribution and risk


def test_expected_npv_and_cvar_are_summary_json(folders):
    html, summary, scenarios = read(folders["two_stage"])
    e, cvar = summary["expected_npv_usd"], summary["cvar_usd"]
    assert e == summary["objective_npv_usd"]
    head = html[:html.index("<section")]
    assert f'expected NPV</div><div class="value">{musd(e)}</div>' in head
    assert f'CVaR, worst 50 %</div><div class="value">{musd(cvar)}</div>' in head
    assert f"objective, CVaR weight 0.5</div><div class=\"value\">" \
           f"{musd(summary['objective_usd'])}</div>" in head
    part = subsection(section_of(html, "uncertainty"), "NPV across scenarios")
    # the low scenario is the tail (alpha 0.5, probability 0.5): CVaR is its NPV
    assert scenarios["in_cvar_tail"].tolist() == [True, False]
    assert cvar == pytest.approx(scenarios["npv_usd"][0], rel=1e-9)  # CSV: 10 digits
    assert f"E[NPV] {musd(e)}; CVaR {musd(cvar)}, the probability-weighted mean NPV of the " \
           "tail: lo." in part
    assert part.count("<svg") == 1  # the distribution chart, E and CVaR in its legend
    svg = part[part.index("<svg"):part.index("</svg>")]
    assert f"E[NPV] {musd(e)}" in svg and f"CVaR {musd(cvar)}" in svg
    # one row per scenario, lowest NPV first, with scenarios.csv's numbers
    rows = rows_of(part[part.index("<table>"):])
    order = scenarios.sort_values("npv_usd")
    assert rows == [[w, f"{100 * p:.4g} %", cell(v), "yes" if t else "no"]
                    for w, p, v, t in order.itertuples(index=False, name=None)]
    assert e == pytest.approx((scenarios["probability"] * scenarios["npv_usd"]).sum(),
                              rel=1e-9)


def test_evpi_and_vss_when_computed(folders):
    html, summary, scenarios = read(folders["two_stage"])
    voi = subsection(section_of(html, "uncertainty"), "Value of information")
    details = summary["value_of_information"]
    assert summary["evpi_usd"] >= -1.0 and summary["vss_usd"] >= -1.0
    assert f"EVPI {musd(summary['evpi_usd'])}: " in voi
    assert f"VSS {musd(summary['vss_usd'])}: " in voi
    assert f"probability-weighted, {musd(details['wait_and_see_usd'])}) minus the " \
           f"objective {musd(summary['objective_usd'])}" in voi
    # each scenario's own optimum beside its NPV in this plan
    rows = rows_of(voi)
    assert [r[0] for r in rows] == ["lo", "hi"]
    for r, (w, npv) in zip(rows, zip(scenarios["scenario"], scenarios["npv_usd"],
                                     strict=True), strict=True):
        assert r[1] == cell(details["wait_and_see"][w]["npv_usd"]) and r[2] == cell(npv)
    # not asked for: no such part
    html_m, summary_m, _ = read(folders["multi_stage"])
    assert "evpi_usd" not in summary_m
    assert "Value of information" not in html_m and "EVPI" not in html_m


# --------------------------------------------------------------------- the hashprice fan


def test_hashprice_fan_has_each_scenarios_series(folders):
    html, _, _ = read(folders["two_stage"])
    part = subsection(section_of(html, "uncertainty"), "Hashprice by scenario")
    assert part.count("<svg") == 1
    svg = part[part.index("<svg"):part.index("</svg>")]
    assert "Hashprice by scenario" in svg and "probability-weighted mean" in svg
    assert "Energy-price scale by scenario" in svg  # the low scenario scales prices
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", part)
    assert heads == ["scenario", "probability",
                     *(f"{y} (USD/PH/day)" for y in (2026, 2027, 2028, 2029))]
    mean = [0.5 * (a + b) for a, b in zip(LOW, HIGH, strict=True)]
    assert rows_of(part) == [
        ["probability-weighted mean", "", *(f"{v:,.2f}" for v in mean)],
        ["lo", "50 %", *(f"{v:,.2f}" for v in LOW)],
        ["hi", "50 %", *(f"{v:,.2f}" for v in HIGH)]]


def test_no_instance_no_fan(folders, tmp_path):
    res = po.solve(uncertain("two_stage"))
    res.write(tmp_path)
    html = write_report(tmp_path).read_text(encoding="utf-8")
    part = subsection(section_of(html, "uncertainty"), "Hashprice by scenario")
    assert "<svg" not in part and "pass --instance" in part
    # and an instance whose scenarios are others is not drawn as if it were this one's
    other = uncertain("two_stage", ids=("low", "high"))
    html = write_report(tmp_path, instance=other).read_text(encoding="utf-8")
    part = subsection(section_of(html, "uncertainty"), "Hashprice by scenario")
    assert "<svg" not in part and "not those of scenarios.csv" in part


# ---------------------------------------------------------------------- first stage


def test_two_stage_first_stage_is_one_row_per_period(folders):
    html, _, _ = read(folders["two_stage"])
    part = subsection(section_of(html, "uncertainty"), "First-stage plan")
    assert "two_stage: halls, ASIC purchases, contracts" in part
    assert "The plan&#x27;s first-stage decisions are the same in every scenario." in part
    assert "Contracts accepted, decided in period 1 in every scenario: hyperscaler-a " \
           "(30.0 IT MW)." in part
    rows = rows_of(part)
    assert [r[:2] for r in rows] == [[str(y), "every scenario"] for y in range(2026, 2030)]
    sp = pd.read_csv(folders["two_stage"] / "site_periods.csv")
    lo = sp[sp["scenario"] == "lo"]
    for r, t in zip(rows, range(1, 5), strict=True):
        halls = lo[(lo["period"] == t) & (lo["halls_started"] > 0)]
        want = ", ".join(f"{s}: {n} hall{'s' if n != 1 else ''}"
                         for s, n in zip(halls["site"], halls["halls_started"], strict=True))
        assert r[2] == (want or "–")


def test_multi_stage_says_where_it_branches(folders):
    html, _, _ = read(folders["multi_stage"])
    part = subsection(section_of(html, "uncertainty"), "First-stage plan")
    assert "multi_stage: the scenarios&#x27; data first differ in 2027 (period 2), into 2 " \
           "groups" in part
    assert "first-stage decisions first differ in 2027 (period 2)" in part
    rows = rows_of(part)
    assert [r[:2] for r in rows] == [["2026", "every scenario"], ["2027", "lo"],
                                     ["2027", "hi"], ["2028", "every scenario"],
                                     ["2029", "every scenario"]]
    sp = pd.read_csv(folders["multi_stage"] / "site_periods.csv")
    bought = sp[(sp["period"] == 2) & (sp["btc_bought_mw"] > 0)]
    assert bought[["scenario", "site", "btc_bought_mw"]].values.tolist() == [
        ["hi", "rockdale", 7.0]]
    assert rows[1][3] == "–" and rows[2][3] == "rockdale: 7 MW"


# --------------------------------------------------------- expected values elsewhere


def test_other_sections_show_the_expectation_never_the_sum(folders):
    folder = folders["multi_stage"]
    html, summary, _ = read(folder)
    cf = pd.read_csv(folder / "cashflows.csv", dtype={"scenario": str})
    assert set(cf["scenario"]) == {"lo", "hi"}
    cash = section_of(html, "cash")
    assert "probability-weighted mean of the scenarios&#x27; (never their sum)" in cash
    total = re.search(r"<tr><td>total</td>(.*?)</tr>", cash)
    assert total is not None
    cells = re.findall(r'<td class="num">([^<]*)</td>', total.group(1))
    expected = {c: 0.5 * cf[c].sum() for c in ("btc_revenue", "discounted")}
    assert cells[0] == cell(expected["btc_revenue"])
    assert cells[-1] == cell(expected["discounted"]) == cell(summary["expected_npv_usd"])
    assert cells[0] != cell(cf["btc_revenue"].sum())
    for year, rows in cf.groupby("year"):
        disc = float((0.5 * rows["discounted"]).sum())
        assert re.search(rf"<tr><td>{year}</td>.*?<td class=\"num\">{re.escape(cell(disc))}"
                         r"</td></tr>", cash)
    sp = pd.read_csv(folder / "site_periods.csv")
    last = sp[sp["period"] == 4]
    head = html[:html.index("<section")]
    assert (f'BTC MW hashing, 2029, expected</div><div class="value">'
            f"{0.5 * last['btc_mw'].sum():,.0f}</div>") in head
    for anchor in ("mw", "contracts"):
        assert "probability-weighted mean" in section_of(html, anchor)
    # the uncertainty and frontier-free page: distribution, fan, then the usual four
    assert html.count("<svg") == 2 + 4


def test_expected_table_weights_and_missing_rows():
    df = pd.DataFrame({"scenario": ["a", "a", "b"], "contract": ["x", "y", "x"],
                       "site": ["s", "s", "s"], "period": [1, 1, 1], "it_mw": [10.0, 4.0, 20.0]})
    out = expected_table(df, {"a": 0.25, "b": 0.75})
    assert out.to_dict("records") == [
        {"contract": "x", "site": "s", "period": 1, "it_mw": 0.25 * 10 + 0.75 * 20},
        {"contract": "y", "site": "s", "period": 1, "it_mw": 0.25 * 4}]  # 0 in b
    plain = {"cashflows": pd.DataFrame({"period": [1], "net": [1.0]})}
    shown, scenarios = split(plain)
    assert shown is plain and scenarios is None


# ------------------------------------------------------------------- deterministic


def test_deterministic_page_has_none_of_it(tmp_path):
    inst = po.load_instance(WORKED)
    res = po.solve(inst)
    assert res.risk is None and res.scenarios is None
    res.write(tmp_path)
    save_instance_copy(inst, tmp_path)
    html = write_report(tmp_path).read_text(encoding="utf-8")
    data = load_folder(tmp_path)
    assert data.scenarios is None and data.frontier is None
    assert "scenario" not in data.tables["site_periods"].columns
    for absent in ('id="uncertainty"', 'id="frontier"', "expected NPV", "CVaR",
                   "probability-weighted", ", expected</div>", "With scenarios"):
        assert absent not in html
    assert f'NPV</div><div class="value">{musd(res.objective_npv_usd or 0)}</div>' in html
    assert html.count("<svg") == 4


# ----------------------------------------------------------------- odd ids, xlsx, memory


def test_odd_scenario_ids_are_escaped_everywhere(tmp_path):
    evil, amp = "<script>alert(1)</script>", "a&b\"c'"
    inst = uncertain("multi_stage", ids=(evil, amp))
    res = po.solve(inst)
    res.write(tmp_path / "csv")
    res.write(tmp_path / "xlsx", format="xlsx")
    pages = [write_result_report(res, tmp_path / "lib.html", inst).read_text(encoding="utf-8"),
             write_report(tmp_path / "csv", instance=inst).read_text(encoding="utf-8"),
             write_report(tmp_path / "xlsx", instance=inst).read_text(encoding="utf-8")]
    for html in pages:
        assert evil not in html and amp not in html and "<script" not in html.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "a&amp;b&quot;c&#x27;" in html
        assert html.count("<svg") == 2 + 4
    # the workbook's page and the in-memory one are the CSV folder's, charts aside
    parts = [no_svg(section_of(h, "uncertainty")) for h in pages]
    assert parts[0] == parts[1] == parts[2]
    cash = [no_svg(section_of(h, "cash")) for h in pages]
    assert cash[0] == cash[1] == cash[2]


# -------------------------------------------------------------------------- frontier


def test_frontier_csv_is_drawn_and_tolerates_missing_columns(folders, tmp_path):
    folder = folders["two_stage"]
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    e, c = summary["expected_npv_usd"], summary["cvar_usd"]
    frontier = pd.DataFrame({
        "weight": [0.0, 0.5, 1.0], "alpha": 0.5, "status": ["optimal", "optimal", "feasible"],
        "expected_npv_usd": [e + 5e6, e, e - 20e6], "cvar_usd": [c - 10e6, c, c + 1e6],
        "contracts_accepted": ["hyperscaler-a;<b>x</b>", "hyperscaler-a", ""],
        "change": ["first point", "same investments", "− contract <b>x</b>"],
        "a_column_from_later": [1, 2, 3]})
    full = tmp_path / "full"
    full.mkdir()
    for f in folder.iterdir():
        (full / f.name).write_bytes(f.read_bytes())
    frontier.to_csv(full / "frontier.csv", index=False)
    html = write_report(full).read_text(encoding="utf-8")
    part = section_of(html, "frontier")
    assert part.count("<svg") == 1 and "the star is this folder" in part
    rows = rows_of(part[part.rindex("<table>"):])
    assert [r[0] for r in rows] == ["0", "0.5", "1"]
    assert rows[0][:5] == ["0", "0.5", "optimal", cell(e + 5e6), cell(c - 10e6)]
    assert "hyperscaler-a, &lt;b&gt;x&lt;/b&gt;" in part and "<b>x</b>" not in part
    assert html.index('id="uncertainty"') < html.index('id="frontier"') < html.index('id="cash"')
    # only some columns, no summary.json: a table, no chart
    bare = tmp_path / "bare"
    bare.mkdir()
    frontier[["weight", "expected_npv_usd", "status"]].to_csv(bare / "frontier.csv",
                                                               index=False)
    (bare / "frontier.json").write_text(json.dumps(
        {"instance_name": "<b>n</b>", "structure": "two_stage", "scenarios": 2,
         "cvar_alpha": 0.5}), encoding="utf-8")
    html = write_report(bare).read_text(encoding="utf-8")
    assert "<h1>&lt;b&gt;n&lt;/b&gt;</h1>" in html and "<b>n</b>" not in html
    part = section_of(html, "frontier")
    assert "scenarios: 2, structure two_stage, CVaR at alpha 0.5 (frontier.json)" in part
    assert "<svg" not in part and "No chart" in part
    assert rows_of(part)[1] == ["0.5", "optimal", cell(e)]  # the page's column order


# --------------------------------------------------------------------------- the browser


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="no chromium binary on PATH (apt-get install chromium)")
def test_stochastic_page_in_headless_chromium(folders, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium is not None
    png = tmp_path / "page.png"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={png}", "--window-size=1280,2400",
         (folders["multi_stage"] / "report.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if ":CONSOLE" in line] == []
    assert png.stat().st_size > 50_000  # drawn, not blank
