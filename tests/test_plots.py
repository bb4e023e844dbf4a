"""Batch pictures: the numbers drawn are the table's numbers, and the files are valid.

Most tests draw small hand-made results tables (the store's columns) so each bar, line
and cell can be compared with a number written in the test; one runs a real one-at-a-time
batch on the tutorial and checks ``plot_batch`` end to end.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from portfolio_opt.batch.plots import (
    ai_share,
    param_unit,
    plot_batch,
    regime_map,
    regime_table,
    save_figure,
    spider_plot,
    spider_table,
    tornado_chart,
    tornado_table,
)
from portfolio_opt.batch.plots_analysis import breakeven_figure, morris_bars, sobol_bars

ROOT = Path(__file__).resolve().parent.parent
HP, BUDGET, CAPEX = ("market.hashprice_usd_per_ph_day", "limits.capex_budget_usd",
                     "sites[a].ai.capex_usd_per_it_mw")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def results(rows: list[dict[str, Any]], periods: int = 1) -> pd.DataFrame:
    """A results table with the store's columns (period totals default to 0)."""
    full = []
    for r in rows:
        row = {"scenario": r["scenario"], **{k: v for k, v in r.items() if "." in k},
               "status": r.get("status", "optimal"),
               "objective_npv_usd": r.get("npv", math.nan), "mip_gap": 0.0,
               "objective_bound_usd": r.get("npv", math.nan), "solve_seconds": 0.1,
               "build_seconds": 0.0, "wall_seconds": 0.1, "model_built": False,
               "attempts": 1, "message": ""}
        for t in range(1, periods + 1):
            row[f"btc_mw_p{t}"] = r.get("btc", [0.0] * periods)[t - 1]
            row[f"ai_it_mw_p{t}"] = r.get("ai", [0.0] * periods)[t - 1]
        full.append(row)
    return pd.DataFrame(full)


def oat() -> pd.DataFrame:
    """Base (scenario 0) then each parameter moved alone; NPVs in USD.

    hashprice (a factor, base 1.0): 0.5 -> 100 M, 1.5 -> 520 M  (swing 420 M)
    budget (base 1e8 USD): 5e7 -> 280 M, 2e8 -> 300 M           (swing 20 M)
    capex (base 3.6e6): 2.6e6 -> 330 M, 4.6e6 -> no plan        (swing unknown: last)
    """
    base = {HP: 1.0, BUDGET: 1e8, CAPEX: 3.6e6}
    moved = [(HP, 0.5, 100e6, "optimal"), (HP, 1.5, 520e6, "optimal"),
             (BUDGET, 5e7, 280e6, "optimal"), (BUDGET, 2e8, 300e6, "optimal"),
             (CAPEX, 2.6e6, 330e6, "optimal"), (CAPEX, 4.6e6, math.nan,
                                                "time_limit_no_solution")]
    rows = [{"scenario": 0, **base, "npv": 300e6}]
    for i, (p, v, npv, status) in enumerate(moved, start=1):
        rows.append({"scenario": i, **base, p: v, "npv": npv, "status": status})
    return results(rows)


def bar_extents(ax: Axes) -> dict[int, set[tuple[float, float]]]:
    """Horizontal bars by their row (y centre): {(left, right)} in data units."""
    out: dict[int, set[tuple[float, float]]] = {}
    for c in ax.containers:
        if isinstance(c, BarContainer):
            for p in c.patches:
                x0, x1 = sorted((p.get_x(), p.get_x() + p.get_width()))
                y = round(p.get_y() + p.get_height() / 2)
                out.setdefault(y, set()).add((round(x0, 9), round(x1, 9)))
    return out


def test_tornado_table_and_bars_are_the_low_and_high_npvs() -> None:
    table = tornado_table(oat())
    assert list(table["parameter"]) == [HP, BUDGET, CAPEX]  # widest swing first, unknown last
    hp = table.iloc[0]
    assert (hp.low_value, hp.high_value) == (0.5, 1.5)
    assert (hp.npv_low_usd, hp.npv_high_usd, hp.swing_usd) == (100e6, 520e6, 420e6)
    assert table.iloc[1].swing_usd == 20e6
    assert math.isnan(table.iloc[2].npv_high_usd) and math.isnan(table.iloc[2].swing_usd)

    fig = tornado_chart(oat())
    ax = fig.axes[0]
    bars = bar_extents(ax)
    # rows from the top: y = 2 hashprice, 1 budget, 0 capex (no bar for the missing side)
    assert bars[2] == {(100.0, 300.0), (300.0, 520.0)}
    assert bars[1] == {(280.0, 300.0), (300.0, 300.0)}
    assert bars[0] == {(300.0, 330.0)}
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [CAPEX, BUDGET, HP]
    assert ax.get_xlabel() == "NPV (MUSD)"
    assert any("1 scenario(s) without a plan" in t.get_text() for t in fig.texts)
    texts = {t.get_text().strip() for t in ax.texts}
    assert {"0.5", "1.5", "50 MUSD", "200 MUSD", "no plan"} <= {x.split(": ")[-1]
                                                             for x in texts}


def test_tornado_chart_accepts_an_analysis_table() -> None:
    table = tornado_table(oat())
    a = bar_extents(tornado_chart(table).axes[0])
    b = bar_extents(tornado_chart(oat()).axes[0])
    assert a == b


def test_spider_lines_are_relative_change_against_npv() -> None:
    table = spider_table(oat())
    fig = spider_plot(oat())
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    assert set(lines) == {HP, BUDGET, CAPEX}
    np.testing.assert_allclose(lines[HP].get_xdata(), [-50.0, 0.0, 50.0])
    np.testing.assert_allclose(lines[HP].get_ydata(), [100.0, 300.0, 520.0])
    np.testing.assert_allclose(lines[BUDGET].get_xdata(), [-50.0, 0.0, 100.0])
    np.testing.assert_allclose(lines[BUDGET].get_ydata(), [280.0, 300.0, 300.0])
    # capex: 2.6e6 against 3.6e6 is -27.8 %; the level without a plan is not drawn
    np.testing.assert_allclose(lines[CAPEX].get_xdata(), [100 * (2.6 - 3.6) / 3.6, 0.0])
    assert len(table) == 8
    assert ax.get_ylabel() == "NPV (MUSD)" and "%" in ax.get_xlabel()


def test_ai_share_by_hand() -> None:
    df = results([
        {"scenario": 0, "ai": [10.0, 30.0], "btc": [60.0, 0.0], "npv": 1.0},  # 40 / 100
        {"scenario": 1, "ai": [0.0, 0.0], "btc": [0.0, 0.0], "npv": 0.0},  # nothing: 0
        {"scenario": 2, "ai": [5.0, 5.0], "btc": [0.0, 0.0], "npv": 1.0},  # all AI: 1
    ], periods=2)
    df.loc[3] = df.loc[0]
    df.loc[3, ["ai_it_mw_p1", "ai_it_mw_p2", "btc_mw_p1", "btc_mw_p2"]] = math.nan
    share = ai_share(df)
    assert list(share[:3]) == [0.4, 0.0, 1.0] and math.isnan(share[3])


def grid() -> pd.DataFrame:
    """A 2 x 3 grid over hashprice (x) and budget (y); AI share = x * y / 100."""
    rows, sid = [], 0
    for y in (10.0, 20.0, 30.0):
        for x in (1.0, 2.0):
            ai = x * y  # out of 100 MW in each of two periods
            rows.append({"scenario": sid, HP: x, BUDGET: y, "npv": 1e6,
                         "ai": [ai, ai], "btc": [100 - ai, 100 - ai]})
            sid += 1
    rows.append({"scenario": sid, HP: 2.0, BUDGET: 30.0, "status": "infeasible"})
    return results(rows, periods=2)


def test_regime_map_cells_are_the_ai_share_in_percent() -> None:
    df = grid().iloc[:-1]  # a complete grid, every point with a plan
    table = regime_table(df, HP, BUDGET)
    assert table.loc[20.0, 2.0] == pytest.approx(0.4)
    fig = regime_map(df)
    ax = fig.axes[0]
    mesh = ax.collections[0]
    cells = np.asarray(mesh.get_array()).reshape(3, 2)  # rows: budget up, columns: hashprice
    np.testing.assert_allclose(cells, [[10, 20], [20, 40], [30, 60]])
    assert mesh.get_clim() == (0, 100)
    assert "share of MW in AI" in fig.axes[1].get_ylabel()  # the colour bar
    assert ax.get_xlabel() == f"{HP} (USD/PH/s/day)" and ax.get_ylabel() == f"{BUDGET} (USD)"


def test_regime_map_of_a_sample_is_a_scatter_without_the_failed_points() -> None:
    fig = regime_map(grid().sample(frac=1.0, random_state=3).iloc[1:])  # holes: not a grid
    ax = fig.axes[0]
    points = ax.collections[0]
    xy = points.get_offsets()
    colours = np.asarray(points.get_array())
    for (x, y), c in zip(xy, colours, strict=True):
        assert c == pytest.approx(x * y)  # share x*y/100, drawn in percent
    assert len(xy) <= 6


def test_sobol_and_morris_bars_and_intervals() -> None:
    sobol = pd.DataFrame({"parameter": ["p1", "p2"], "S1": [0.6, 0.1], "S1_conf": [0.05, 0.02],
                          "ST": [0.7, 0.3], "ST_conf": [0.06, 0.04]})
    ax = sobol_bars(sobol).axes[0]
    st, s1 = (c for c in ax.containers if isinstance(c, BarContainer))
    assert [p.get_width() for p in st.patches] == [0.3, 0.7]  # sorted by ST, largest on top
    assert [p.get_width() for p in s1.patches] == [0.1, 0.6]
    assert st.errorbar is not None
    segs = st.errorbar.lines[2][0].get_segments()
    np.testing.assert_allclose([(s[0][0], s[1][0]) for s in segs], [(0.26, 0.34), (0.64, 0.76)])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p2", "p1"]

    morris = pd.DataFrame({"parameter": ["p1", "p2"], "mu": [5e6, -2e7],
                           "mu_star": [5e6, 2e7], "mu_star_conf": [1e6, 2e6],
                           "sigma": [1e6, 3e7], "sigma_conf": [5e5, 4e6]})
    ax = morris_bars(morris).axes[0]
    mu, sigma = (c for c in ax.containers if isinstance(c, BarContainer))
    assert [p.get_width() for p in mu.patches] == [5.0, 20.0]  # MUSD
    assert [p.get_width() for p in sigma.patches] == [1.0, 30.0]
    assert mu.errorbar is not None
    segs = mu.errorbar.lines[2][0].get_segments()
    np.testing.assert_allclose([(s[0][0], s[1][0]) for s in segs], [(4.0, 6.0), (18.0, 22.0)])
    assert "MUSD" in ax.get_xlabel()


def test_breakeven_figure_marks_each_flip() -> None:
    from test_breakeven import one_site

    from portfolio_opt import Instance
    from portfolio_opt.batch.breakeven import run_breakeven

    res = run_breakeven(Instance.model_validate(one_site()), "market.hashprice_usd_per_ph_day",
                        20.0, 60.0, verify=False)
    fig = breakeven_figure(res)
    top, bottom = fig.axes
    (site_line,) = [ln for ln in bottom.get_lines() if ln.get_label() == "a"]
    scan = res.scan[res.scan["site"] == "a"].sort_values("value")
    np.testing.assert_allclose(site_line.get_xdata(), scan["value"])
    np.testing.assert_allclose(site_line.get_ydata(), scan["ai_it_mw_periods"])  # 1 period
    vertical = {float(ln.get_xdata()[0]) for ln in bottom.get_lines()
                if len(ln.get_xdata()) == 2 and len(set(ln.get_xdata())) == 1}
    assert vertical == set(res.table["breakeven"])
    (flip,) = [ln for ln in bottom.get_lines() if ln.get_marker() == "v"]  # a leaves AI
    row = res.table[res.table["site"] == "a"].iloc[0]
    assert (flip.get_xdata()[0], flip.get_ydata()[0]) == (row.breakeven, 100.0)
    npv = top.get_lines()[0]
    points = scan.drop_duplicates("value")
    np.testing.assert_allclose(npv.get_ydata(), points["objective_npv_usd"] / 1e6)
    assert top.get_ylabel() == "NPV (MUSD)"


def check_files(paths: list[Path]) -> None:
    """Non-empty; PNG by its magic bytes; SVG parses as XML with an <svg> root."""
    assert paths
    for p in paths:
        data = p.read_bytes()
        assert len(data) > 1000, p
        if p.suffix == ".png":
            assert data[:8] == PNG_MAGIC, p
        else:
            assert p.suffix == ".svg"
            assert ET.parse(p).getroot().tag.endswith("svg"), p


def test_save_figure_writes_valid_png_and_svg(tmp_path: Path) -> None:
    paths = save_figure(tornado_chart(oat()), tmp_path / "pics", "tornado")
    assert [p.name for p in paths] == ["tornado.png", "tornado.svg"]
    check_files(paths)
    assert not list((tmp_path / "pics").glob(".*"))  # no temporary file left behind
    assert b"NPV (MUSD)" in paths[1].read_bytes()  # text kept as text in the SVG


def test_param_units_follow_the_field_names() -> None:
    assert param_unit("sites[*].grid.price_usd_per_mwh") == "USD/MWh"
    assert param_unit("contracts[x].rate_usd_per_kw_month") == "USD/kW-month"
    assert param_unit("sites[a].ai.capex_usd_per_it_mw") == "USD/IT MW"
    assert param_unit("sites[a].btc.opex_usd_per_mw_year") == "USD/MW-yr"
    assert param_unit("horizon.discount_rate") == ""
    assert param_unit("market.hashprice_usd_per_ph_day", "scale") == "× base"


@pytest.mark.slow
def test_plot_batch_on_a_real_one_at_a_time_batch(tmp_path: Path) -> None:
    """Tornado and spider of a real batch; the tornado equals the batch's own analysis."""
    from portfolio_opt.batch.api import run_batch

    spec = {"base": str(ROOT / "instances" / "tutorial.yaml"), "method": "oat",
            "parameters": [{"path": HP, "scale": [0.5, 1.5]},
                           {"path": "contracts[hyperscaler-offer].rate_usd_per_kw_month",
                            "values": [120, 200]}]}
    result = run_batch(spec, tmp_path / "store", workers=1)
    files = plot_batch(result, tmp_path / "pics")
    assert sorted(p.name for p in files) == ["spider.png", "spider.svg", "tornado.png",
                                            "tornado.svg"]
    check_files(files)
    again = plot_batch(tmp_path / "store", tmp_path / "pics2")  # from the folder alone
    assert sorted(p.name for p in again) == sorted(p.name for p in files)
    ours = tornado_table(result.results).set_index("parameter")
    theirs = result.analyses["tornado"].table.set_index("parameter")
    for col in ("low_value", "high_value", "npv_low_usd", "npv_high_usd", "npv_base_usd"):
        np.testing.assert_allclose(ours.loc[theirs.index, col], theirs[col], rtol=1e-12)
    fig: Figure = tornado_chart(theirs.reset_index())
    bars = bar_extents(fig.axes[0])
    base = float(theirs["npv_base_usd"].iloc[0]) / 1e6
    for y, (_, r) in zip((1, 0), theirs.iterrows(), strict=True):
        want = {tuple(round(v, 9) for v in sorted((base, npv / 1e6)))
                for npv in (r["npv_low_usd"], r["npv_high_usd"])}
        assert bars[y] == want


def test_tornado_row_without_any_change_is_labelled_not_drawn() -> None:
    rows = [{"scenario": 0, HP: 1.0, BUDGET: 1e8, "npv": 300e6},
            {"scenario": 1, HP: 0.5, BUDGET: 1e8, "npv": 100e6},
            {"scenario": 2, HP: 1.0, BUDGET: 5e7, "npv": 300e6},
            {"scenario": 3, HP: 1.0, BUDGET: 2e8, "npv": 300e6}]
    ax = tornado_chart(results(rows)).axes[0]
    bars = bar_extents(ax)
    assert bars == {1: {(100.0, 300.0)}}  # hashprice's one level on top; budget: no bar
    assert any(t.get_text().strip() == "no change from 50 MUSD to 200 MUSD" for t in ax.texts)
