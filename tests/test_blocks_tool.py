"""``portfolio-opt blocks``: price blocks from an hourly series (docs/price_blocks.md).

Hand-checkable cases: tiny CSVs with known hours and prices give exact shares and block
prices; the scarcity block holds exactly the hours above the threshold; share-weighted
block prices reproduce the time-weighted mean; bad input is exit 2 with file, line, column
and value; the shipped synthetic series gives K = 3 and 4 blocks; a written instance
validates.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from portfolio_opt.blocks import (
    apply_to_instance,
    compute_blocks,
    period_prices,
    period_years,
    read_prices,
)
from portfolio_opt.cli import app
from portfolio_opt.errors import InputError
from portfolio_opt.loader import load_instance, read_document

ROOT = Path(__file__).resolve().parent.parent
SYNTHETIC = ROOT / "instances" / "data" / "west_texas_synthetic_2026.csv"
TUTORIAL = ROOT / "instances" / "tutorial.yaml"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str | Path) -> Run:
    """The command in-process (typer's runner); exit code, stdout and stderr apart."""
    result = CliRunner().invoke(app, ["blocks", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def real_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfolio_opt", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def write_csv(path: Path, prices: list[float], *, node: str | None = None, year: int = 2026,
              header: str | None = None) -> Path:
    head = header or ("timestamp,price_usd_per_mwh" + (",node" if node else ""))
    lines = [head]
    for h, p in enumerate(prices):
        stamp = f"{year}-01-{1 + h // 24:02d}T{h % 24:02d}:00"
        lines.append(f"{stamp},{p}" + (f",{node}" if node else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Ten hours: two above 200 (scarcity), eight below; mean = 3100 / 10 = 310.
TEN = [1000, 20, 30, 300, 50, 10, 40, 0, 60, 1590]


def test_tiny_series_exact_shares_and_prices(tmp_path: Path) -> None:
    data = read_prices(write_csv(tmp_path / "p.csv", TEN))
    blocks = compute_blocks(data, 3, threshold=200)
    assert blocks.ids == ["scarcity", "band1", "band2"]
    # 3 of 10 hours above 200 (1590, 1000, 300); the other 7 in two equal bands of 3.5 h.
    assert blocks.shares == pytest.approx([0.3, 0.35, 0.35], abs=1e-15)
    prices = blocks.pooled["series"]
    assert prices["scarcity"] == pytest.approx((1590 + 1000 + 300) / 3, abs=1e-12)
    # Sorted rest: 60 50 40 | 30 20 10 0, the cut half-way through the 30 hour.
    assert prices["band1"] == pytest.approx((60 + 50 + 40 + 0.5 * 30) / 3.5, abs=1e-12)
    assert prices["band2"] == pytest.approx((0.5 * 30 + 20 + 10 + 0) / 3.5, abs=1e-12)
    assert blocks.mean["series"] == pytest.approx(310.0, abs=1e-12)


def test_scarcity_block_is_exactly_the_hours_above_threshold(tmp_path: Path) -> None:
    prices = [float(p) for p in range(-20, 480, 5)]  # 100 hours, -20 ... 475
    data = read_prices(write_csv(tmp_path / "p.csv", prices))
    for threshold in (200.0, 250.0, 399.99, 470.0):
        above = [p for p in prices if p > threshold]
        blocks = compute_blocks(data, 4, threshold=threshold)
        assert blocks.shares[0] == len(above) / len(prices)
        assert blocks.pooled["series"]["scarcity"] == pytest.approx(
            sum(above) / len(above), rel=1e-13)
    # A price equal to the threshold is not above it.
    blocks = compute_blocks(data, 2, threshold=475.0)
    assert blocks.ids == ["band1", "band2"]  # no hour above: no scarcity block
    assert any("no hour is above" in n for n in blocks.notes)


def test_weighted_block_prices_reproduce_the_mean(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    lines = ["timestamp,price_usd_per_mwh,node"]
    for node, n, year0 in (("a", 500, 2026), ("b", 333, 2027)):
        for year in (year0, year0 + 1):
            for h, p in enumerate(rng.lognormal(3.3, 0.9, n)):
                lines.append(f"{year}-02-{1 + h // 24:02d}T{h % 24:02d}:00,{p:.3f},{node}")
    path = tmp_path / "p.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = read_prices(path)
    for k in (2, 3, 5, 8):
        for kwargs in ({"threshold": 60.0}, {"top_share": 0.037},
                       {"threshold": 1e4}):
            blocks = compute_blocks(data, k, **kwargs)  # type: ignore[arg-type]
            assert abs(math.fsum(blocks.shares) - 1) < 1e-12
            assert all(s > 0 for s in blocks.shares)
            for node in data.nodes:
                got = math.fsum(h * blocks.pooled[node][b]
                                for b, h in zip(blocks.ids, blocks.shares, strict=True))
                assert got == pytest.approx(blocks.mean[node], rel=1e-12)
                for year, table in blocks.by_year[node].items():
                    got = math.fsum(h * table[b]
                                    for b, h in zip(blocks.ids, blocks.shares, strict=True))
                    assert got == pytest.approx(blocks.mean_by_year[node][year], rel=1e-12)
                    values = [table[b] for b in blocks.ids]  # dearest block first
                    assert values == sorted(values, reverse=True)


def test_band_shares_and_top_share(tmp_path: Path) -> None:
    data = read_prices(write_csv(tmp_path / "p.csv", [float(p) for p in range(1, 101)]))
    blocks = compute_blocks(data, 4, top_share=0.05, band_shares=[0.15, 0.3, 0.55])
    assert blocks.shares == pytest.approx([0.05, 0.1425, 0.285, 0.5225], abs=1e-15)
    assert blocks.pooled["series"]["scarcity"] == pytest.approx((100 + 99 + 98 + 97 + 96) / 5)
    with pytest.raises(InputError, match="band-shares"):
        compute_blocks(data, 4, band_shares=[0.5, 0.5])


def test_pooled_shares_over_nodes_and_time_weights(tmp_path: Path) -> None:
    # Node a: hourly, 4 hours, 1 above 100. Node b: 30-minute, 4 intervals (2 h), 2 above.
    # Pooled by time: (1 + 1) / (4 + 2) = 1/3 of hours are scarce.
    path = tmp_path / "p.csv"
    path.write_text(
        "node,timestamp,price_usd_per_mwh\n"
        "a,2026-01-01T00:00,500\na,2026-01-01T01:00,10\na,2026-01-01T02:00,20\n"
        "a,2026-01-01T03:00,30\n"
        "b,2026-01-01T00:00,300\nb,2026-01-01T00:30,200\nb,2026-01-01T01:00,40\n"
        "b,2026-01-01T01:30,50\n", encoding="utf-8")
    data = read_prices(path)
    assert data.nodes["b"].step_s == 1800
    blocks = compute_blocks(data, 2, threshold=100)
    assert blocks.shares == pytest.approx([1 / 3, 2 / 3], abs=1e-15)
    # a: the dearest third of 4 hours = 1.333 h: 500 and a third of 30.
    assert blocks.pooled["a"]["scarcity"] == pytest.approx((500 + 30 / 3) / (4 / 3))
    assert blocks.pooled["b"]["scarcity"] == pytest.approx((300 + 200 / 3) / (4 / 3))


def test_years_to_periods() -> None:
    assert period_years(2026, 1, 3) == [{2026: 1}, {2027: 1}, {2028: 1}]
    assert period_years(2026, 2, 2) == [{2026: 1, 2027: 1}, {2028: 1, 2029: 1}]
    assert period_years(2026, 0.5, 2) == [{2026: 0.5}, {2026: 0.5}]


def test_period_prices_repeat_the_last_year(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    rows = ["timestamp,price_usd_per_mwh"]
    rows += [f"2026-03-01T{h:02d}:00,{10 + h}" for h in range(4)]
    rows += [f"2027-03-01T{h:02d}:00,{20 + h}" for h in range(4)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    blocks = compute_blocks(read_prices(path), 2, threshold=1000)  # two bands of 2 h
    series, filled = period_prices(blocks, "series", 2025, 1.0, 5)
    assert series["band1"] == [12.5, 12.5, 22.5, 22.5, 22.5]  # 2025 <- 2026, 2028-29 <- 2027
    assert filled == [2025, 2028, 2029]
    series, _ = period_prices(blocks, "series", 2026, 2.0, 1)
    assert series["band2"] == [(10.5 + 20.5) / 2]


@pytest.mark.parametrize("k", [3, 4])
def test_shipped_series(k: int) -> None:
    data = read_prices(SYNTHETIC)
    series = data.nodes["series"]
    assert series.prices.size == 8760 and series.step_s == 3600
    blocks = compute_blocks(data, k)
    assert len(blocks.ids) == k and blocks.ids[0] == "scarcity"
    assert abs(math.fsum(blocks.shares) - 1) < 1e-9
    above = series.prices[series.prices > 200]
    assert 0.01 <= above.size / 8760 <= 0.03  # calibration.md: ~1-3 % scarcity hours
    assert blocks.shares[0] == above.size / 8760
    assert blocks.pooled["series"]["scarcity"] == pytest.approx(above.mean(), rel=1e-12)
    got = math.fsum(h * blocks.pooled["series"][b]
                    for b, h in zip(blocks.ids, blocks.shares, strict=True))
    assert got == pytest.approx(series.prices.mean(), rel=1e-12)


def test_cli_fragment(tmp_path: Path) -> None:
    out = tmp_path / "blocks.yaml"
    run = cli(SYNTHETIC, "--blocks", "4", "--out", out)
    assert run.returncode == 0, run.stderr
    assert "scarcity" in run.stdout
    doc = YAML(typ="safe").load(out.read_text(encoding="utf-8"))
    shares = [b["hours_share"] for b in doc["market"]["blocks"]]
    assert abs(math.fsum(shares) - 1) < 1e-9
    node = doc["node_prices"]["series"]
    got = math.fsum(h * node["price_usd_per_mwh"][b["id"]]
                    for b, h in zip(doc["market"]["blocks"], shares, strict=True))
    assert got == pytest.approx(node["mean_price_usd_per_mwh"], rel=1e-12)
    assert list(node["by_year"]) == [2026]


def test_cli_instance_validates(tmp_path: Path) -> None:
    out = tmp_path / "tutorial_blocks.yaml"
    run = cli(SYNTHETIC, "-k", "3", "--instance", TUTORIAL, "--apply-to", "grid", "-o", out)
    assert run.returncode == 0, run.stderr
    inst = load_instance(out)
    assert [b.id for b in inst.market.blocks or []] == ["scarcity", "band1", "band2"]
    grids = {s.id: s.grid.price_usd_per_mwh for s in inst.sites if s.grid is not None}
    assert set(grids) == {"alpha", "bravo"}
    for price in grids.values():
        assert isinstance(price, dict) and set(price) == {"scarcity", "band1", "band2"}
        assert all(len(v) == inst.horizon.periods for v in price.values())  # type: ignore[arg-type]
    assert inst.sources[0].price_usd_per_mwh == 28  # sources keep their price
    ok = real_cli("validate", out)
    assert ok.returncode == 0, ok.stderr


def test_node_map_and_same_id(tmp_path: Path) -> None:
    path = tmp_path / "nodes.csv"
    rows = ["timestamp,node,price_usd_per_mwh"]
    for node, base in (("alpha", 20), ("hb_west", 30)):
        rows += [f"2026-06-01T{h:02d}:00,{node},{base + 10 * h}" for h in range(6)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = read_prices(path)
    blocks = compute_blocks(data, 2, threshold=70)
    raw = read_document(TUTORIAL).data
    new, notes = apply_to_instance(raw, blocks, data)  # alpha by its id
    assert isinstance(new["sites"][0]["grid"]["price_usd_per_mwh"], dict)
    assert new["sites"][1]["grid"]["price_usd_per_mwh"] == 36
    assert any("hb_west" in n for n in notes)
    new, _ = apply_to_instance(raw, blocks, data, node_map=["hb_west=bravo,alpha=alpha"])
    bravo = new["sites"][1]["grid"]["price_usd_per_mwh"]
    assert bravo["scarcity"][0] == pytest.approx(blocks.pooled["hb_west"]["scarcity"])
    assert raw["sites"][1]["grid"]["price_usd_per_mwh"] == 36  # the input is not changed
    with pytest.raises(InputError, match="with a grid"):
        apply_to_instance(raw, blocks, data, node_map=["alpha=charlie"])
    with pytest.raises(InputError, match="one series"):
        apply_to_instance(raw, blocks, data, apply_to="grid")


BAD = {
    "price": ("2026-01-01T00:00,abc", "line 3, column 2, field 'price_usd_per_mwh': got 'abc'"),
    "nan": ("2026-01-01T00:00,nan", "got 'nan'; expected a decimal number"),
    "range": ("2026-01-01T00:00,1e9", "between -10,000 and 50,000"),
    "time": ("2026-01-01T24:00,5", "line 3, column 1, field 'timestamp': got '2026-01-01T24:00'"),
    "fields": ("2026-01-01T00:00", "expected 2 values"),
    "dup": ("2026-01-01T01:00,7", "line 3, field 'timestamp': got 'the time of line 2'"),
    "step": ("2026-01-01T01:45,7", "expected a regular step"),
    "mixed": ("2026-01-01T02:00Z,7", "without a UTC offset"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rows_exit_2(tmp_path: Path, case: str) -> None:
    row, message = BAD[case]
    path = tmp_path / "bad.csv"
    path.write_text(f"timestamp,price_usd_per_mwh\n2026-01-01T01:00,10\n{row}\n"
                    "2026-01-01T05:00,12\n", encoding="utf-8")
    run = cli(path, "-k", "3")
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert str(path) in run.stderr and message in run.stderr, run.stderr


def test_bad_files_exit_2(tmp_path: Path) -> None:
    cases = {
        "header.csv": b"time,price\n2026-01-01T00:00,1\n",
        "empty.csv": b"",
        "binary.csv": b"\xff\xfe\x00garbage\x00\n" * 10,
        "long.csv": b"timestamp,price_usd_per_mwh\n" + b"1" * 100_000,
        "nul.csv": b"timestamp,price_usd_per_mwh\n" + b"\x00" * 50_000 + b"\n",
        "single.csv": b"timestamp,price_usd_per_mwh\n2026-01-01T00:00,1\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        run = cli(path, "-k", "3")
        assert run.returncode == 2, (name, run.stderr)
        assert "Traceback" not in run.stderr and name in run.stderr, (name, run.stderr)
    run = cli(tmp_path / "missing.csv", "-k", "3")
    assert run.returncode == 2 and "expected an existing" in run.stderr


def test_bad_options_exit_2(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "p.csv", TEN)
    for args in (["-k", "1"], ["-k", "3", "--top-share", "1.5"],
                 ["-k", "3", "--threshold", "100", "--top-share", "0.1"],
                 ["-k", "3", "--band-shares", "0.2,x"],
                 ["-k", "3", "--apply-to", "grid"],
                 ["-k", "3", "--instance", TUTORIAL],
                 ["-k", "3", "--instance", TUTORIAL, "-o", tmp_path / "x.yaml"],  # no map
                 ["-k", "3", "--instance", TUTORIAL, "--apply-to", "charlie",
                  "-o", tmp_path / "x.yaml"],
                 ["-k", "3", "-o", tmp_path / "x.csv"],
                 ["-k", "3", "--threshold", "-100"]):
        run = cli(csv_path, *args)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_negative_block_price_refused_for_an_instance(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "p.csv", [-20, -10, -5, 0, 30, 40, 50, 300])
    out = tmp_path / "x.yaml"
    run = cli(csv_path, "-k", "3", "--instance", TUTORIAL, "--apply-to", "alpha", "-o", out)
    assert run.returncode == 2 and "expected a block price >= 0" in run.stderr, run.stderr
    assert not out.exists()
    run = cli(csv_path, "-k", "3")  # the fragment shows the true (negative) mean
    assert run.returncode == 0 and "band2: -10.0" in run.stdout, run.stdout


def test_real_process_bad_row_and_help(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,price_usd_per_mwh\n2026-01-01T00:00,ten\n", encoding="utf-8")
    run = real_cli("blocks", path, "--blocks", "3")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{path}: line 2, column 2, field 'price_usd_per_mwh': got 'ten'" in run.stderr
    assert "--node-map" in real_cli("blocks", "--help").stdout


def test_size_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import portfolio_opt.blocks as blocks_module

    path = write_csv(tmp_path / "p.csv", [float(h % 50) for h in range(200)])
    monkeypatch.setattr(blocks_module, "MAX_ROWS", 100)
    with pytest.raises(InputError, match="more than 100 rows"):
        read_prices(path)
    monkeypatch.setattr(blocks_module, "MAX_ROWS", 3_000_000)
    monkeypatch.setattr(blocks_module, "MAX_FILE_BYTES", 1000)
    with pytest.raises(InputError, match="more than 1,000 characters"):
        read_prices(path)
