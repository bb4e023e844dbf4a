"""K-block variants of an instance (spec v2 C) and the per-case measurement of bench_blocks.

The block shares and the relative block prices come from the shipped synthetic
West-Texas year (``instances/data/west_texas_synthetic_2026.csv``) through
:mod:`portfolio_opt.blocks`, as ``portfolio-opt blocks --blocks K`` computes them: the
scarcity block (hours above 200 USD/MWh) and K - 1 equal price-duration bands. A block's
multiplier is its price over the series' time-weighted mean, so ``sum_b share_b * m_b = 1``.
Every site's grid price and every source's price is then made a mapping {block: series},
each period's value times the block's multiplier, so the share-weighted average price of
every site and source in every period is the value of the original instance.

Two adjustments, both deterministic:

- at K = 24 the cheapest band of the synthetic year is negative (windy hours, -0.23 times
  the mean), and instance prices must be >= 0: multipliers are floored at 0 and then all
  divided by ``sum_b share_b * m_b`` again (which lowers the others by about 1 %);
- with ``jitter > 0`` each site and source gets its own multipliers, the shape times
  ``exp(jitter * z_b)`` with ``z`` standard normal from ``numpy.random.default_rng((seed,
  K))``, renormalised the same way, so nodes differ a little, as real nodes do.

K = 1 is the instance as it is: no ``market.blocks``, i.e. the one block ``all`` of share 1.
"""

from __future__ import annotations

import copy
import json
import math
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from _scale import (
    BASE_OPTIONS,
    BENCH_DIR,
    REALISTIC,
    SOLVE_TIME_LIMIT,
    run_json,
    work_dir,
)

PRICE_CSV = BENCH_DIR.parent / "instances" / "data" / "west_texas_synthetic_2026.csv"
BLOCK_COUNTS = (1, 4, 8, 24)
JITTER = 0.05
SEED = 1
# The generated case: 1,000 sites, 10 periods, 250 contracts (v1 generator), seed 1.
GENERATED = {"sites": 1000, "periods": 10, "contracts": 250, "seed": 1}
CASES = ("realistic", "s1000")


@cache
def block_shape(k: int, csv: str = str(PRICE_CSV)) -> tuple[tuple[str, ...],
                                                           tuple[float, ...],
                                                           tuple[float, ...]]:
    """Block ids, hours shares and price multipliers (share-weighted mean 1) for K blocks."""
    if k == 1:
        return ("all",), (1.0,), (1.0,)
    from portfolio_opt.blocks import compute_blocks, read_prices

    data = read_prices(csv)
    blocks = compute_blocks(data, k)
    (node,) = data.nodes  # the shipped series has one node
    prices = blocks.pooled[node]
    mean = blocks.mean[node]
    shares = tuple(blocks.shares)
    raw = [max(0.0, prices[b] / mean) for b in blocks.ids]
    return tuple(blocks.ids), shares, tuple(_normalised(raw, shares))


def _normalised(mult: list[float], shares: tuple[float, ...]) -> list[float]:
    total = math.fsum(h * m for h, m in zip(shares, mult, strict=True))
    return [m / total for m in mult]


def _scale(value: float | list[float], factor: float) -> float | list[float]:
    if isinstance(value, list):
        return [v * factor for v in value]
    return value * factor


def blocked_instance(raw: dict[str, Any], k: int, *, seed: int = SEED,
                     jitter: float = JITTER) -> dict[str, Any]:
    """A copy of ``raw`` (an instance as a dict) with K price blocks; see the module doc."""
    out = copy.deepcopy(raw)
    if k == 1:
        return out
    ids, shares, shape = block_shape(k)
    rng = np.random.default_rng([seed, k])
    out["name"] = f"{out.get('name', 'instance')}-blocks{k}"
    out.setdefault("market", {})["blocks"] = [
        {"id": b, "hours_share": h} for b, h in zip(ids, shares, strict=True)]

    def per_block(price: Any) -> dict[str, Any]:
        if isinstance(price, dict):
            raise ValueError("the instance already has block prices")
        mult = list(shape)
        if jitter > 0:
            z = rng.standard_normal(len(ids))
            mult = _normalised([m * math.exp(jitter * zb) for m, zb in zip(mult, z,
                                                                           strict=True)],
                               shares)
        return {b: _scale(price, m) for b, m in zip(ids, mult, strict=True)}

    for site in out.get("sites", []):
        grid = site.get("grid")
        if grid is not None:
            grid["price_usd_per_mwh"] = per_block(grid["price_usd_per_mwh"])
    for source in out.get("sources", []):
        source["price_usd_per_mwh"] = per_block(source["price_usd_per_mwh"])
    return out


def base_instance(case: str) -> dict[str, Any]:
    """The instance of a case as a plain dict."""
    if case == "realistic":
        from portfolio_opt.loader import read_document

        data: dict[str, Any] = json.loads(json.dumps(read_document(REALISTIC).data,
                                                     default=str))
        return data
    if case == "s1000":
        from portfolio_opt.generate import generate_instance

        return generate_instance(**GENERATED)
    raise ValueError(f"unknown case {case!r}")


def instance_file(case: str, k: int) -> Path:
    """The K-block variant of a case, written once as JSON into the work folder."""
    path = work_dir() / f"blocks-{case}-k{k}-seed{SEED}.json"
    if not path.exists():
        from portfolio_opt.generate import write_instance

        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.json")
        write_instance(blocked_instance(base_instance(case), k), tmp)
        os.replace(tmp, path)
    return path


def mps_read(mps: Path, tag: str) -> dict[str, Any]:
    """HiGHS alone in a fresh process reading the MPS file (``_floor.py``, no solve)."""
    out = work_dir() / f"mpsread-{tag}.json"
    return run_json([str(BENCH_DIR / "_floor.py"), str(mps), "{}", str(out), "read"], out)


def measure(case: str, k: int) -> dict[str, Any]:
    """Stages of one case with K blocks (``_stages.py``) and HiGHS's read of its MPS file."""
    options = {**BASE_OPTIONS, "time_limit": SOLVE_TIME_LIMIT}
    wd = work_dir()
    tag = f"blocks-{case}-k{k}"
    spec = {
        "instance": str(instance_file(case, k)),
        "out_dir": str(wd / f"out-{tag}"),
        "mps": str(wd / f"model-{tag}.mps"),
        "options": options,
        # The other hand-off for comparison where it is cheap (the realistic instance).
        "both_handoffs": case == "realistic",
        "component_counts": True,
    }
    out = wd / f"stages-{tag}.json"
    res = run_json([str(BENCH_DIR / "_stages.py"), json.dumps(spec), str(out)], out)
    res["mps_read"] = mps_read(wd / f"model-{tag}.mps", tag)
    res["mps_mb"] = (wd / f"model-{tag}.mps").stat().st_size / 1e6
    (wd / f"model-{tag}.mps").unlink()
    work = res["prepare_s"] + res["build_s"] + res["handoff_s"]
    work_cpu = res["prepare_cpu_s"] + res["build_cpu_s"] + res["handoff_cpu_s"]
    res["build_handoff_s"] = work
    res["build_handoff_cpu_s"] = work_cpu
    res["ratio"] = work / res["mps_read"]["read_s"]
    res["ratio_cpu"] = work_cpu / res["mps_read"]["read_cpu_s"]
    res.update(case=case, blocks=k, options=options,
               shares=list(block_shape(k)[1]), multipliers=list(block_shape(k)[2]))
    return res
