"""Write west_texas_synthetic_2026.csv: a SYNTHETIC hourly price series shaped like a
West-Texas (ERCOT West hub) year. It is made up, not market data and not a forecast.

    python instances/data/make_west_texas_synthetic.py   # rewrites the CSV beside this file

Seeded (numpy default_rng(2026)), so every run writes the same file. The shape follows
/work/shared/data/calibration.md, "Power market: interruptible load in ERCOT":

- "Derived shape for a West-Texas year": ~1-3 % of hours at scarcity prices (several
  hundred to thousands of USD/MWh), ~10-20 % at peak prices (~60-150), the rest off-peak
  (~15-35), with some windy hours below zero.
- "heat-wave scarcity pricing": >1,000 USD/MWh for ~2 h on summer afternoons when wind
  drops (system-wide 15-min averages 1,371-1,733).
- "real-time price cap": 5,000 USD/MWh; no hour exceeds it.
- "windy-hour pricing, West hub": negative for whole days (e.g. -10 average).

Assumed beyond those rows (choices, documented in docs/price_blocks.md): 2026 is a
non-leap year of 8,760 hours, hour-beginning timestamps at a fixed UTC-06:00 offset
(Central Standard Time all year, so no daylight-saving gaps or repeats); scarcity comes
in 14 events (12 summer heat-wave afternoons in June-September, 2 winter cold snaps),
each ~8-14 hours above 200 USD/MWh with a 2-3 hour core above 1,000; peak hours are
summer afternoons and evenings, winter mornings and some shoulder-season evening ramps;
negative prices come on 9 windy whole days and 30 windy nights in spring and autumn.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

SEED = 2026
YEAR = 2026
HOURS = 8760
OUT = Path(__file__).with_name("west_texas_synthetic_2026.csv")
CAP = 5000.0  # calibration.md: ERCOT real-time price cap

HEADER = """\
# SYNTHETIC hourly prices shaped like a West-Texas (ERCOT West hub) year -- NOT market data.
# Written by instances/data/make_west_texas_synthetic.py (seed {seed}); shape and assumptions
# from calibration.md (ERCOT section: price cap, heat-wave scarcity pricing, windy-hour
# pricing, derived shape for a West-Texas year); see docs/price_blocks.md.
# Hour-beginning timestamps at UTC-06:00 (no daylight saving), USD/MWh.
"""


def _shape(rng: np.random.Generator) -> np.ndarray:
    hour = np.arange(HOURS)
    day = hour // 24
    hod = hour % 24
    start = datetime(YEAR, 1, 1)
    month = np.array([(start + timedelta(days=int(d))).month for d in range(365)])[day]
    weekday = np.array([(start + timedelta(days=int(d))).weekday() for d in range(365)])[day]

    # Off-peak: 15-35 USD/MWh, cheaper at night, dearer in the evening.
    diurnal = 4.0 * np.sin((hod - 10) / 24 * 2 * np.pi)
    price = np.clip(25.0 + diurnal + rng.normal(0.0, 3.5, HOURS), 15.0, 35.0)

    # Peak: 60-150 USD/MWh.
    summer = np.isin(month, (6, 7, 8, 9))
    peak = summer & (weekday < 5) & (hod >= 14) & (hod < 21)
    peak |= summer & (weekday >= 5) & (hod >= 16) & (hod < 20)
    winter_days = rng.choice(np.flatnonzero(np.isin(np.arange(365), np.r_[0:59, 334:365])),
                             30, replace=False)
    peak |= np.isin(day, winter_days) & (hod >= 6) & (hod < 9)
    shoulder_days = rng.choice(np.flatnonzero(np.isin(month[::24], (3, 4, 5, 10, 11))),
                               70, replace=False)
    peak |= np.isin(day, shoulder_days) & (hod >= 18) & (hod < 22)
    price[peak] = np.clip(rng.lognormal(np.log(85.0), 0.25, int(peak.sum())), 60.0, 150.0)

    # Windy hours below zero: whole days (~ -10 on average) and nights.
    windy_pool = np.flatnonzero(np.isin(month[::24], (3, 4, 5, 10, 11))
                                & ~np.isin(np.arange(365), shoulder_days))
    windy = rng.choice(windy_pool, 39, replace=False)
    whole, nights = windy[:9], windy[9:]
    neg = np.isin(day, whole) | (np.isin(day, nights) & ((hod < 5) | (hod >= 23)))
    price[neg] = np.clip(rng.normal(-10.0, 6.0, int(neg.sum())), -30.0, -0.5)

    # Scarcity: 12 summer heat-wave afternoons and 2 winter cold snaps.
    summer_days = rng.choice(np.flatnonzero(summer[::24]), 12, replace=False)
    cold_days = rng.choice(np.r_[15:45], 2, replace=False)
    for d, first, length in [(d, 13, int(rng.integers(8, 12))) for d in summer_days] + [
            (d, 5, int(rng.integers(12, 15))) for d in cold_days]:
        hours = 24 * int(d) + first + np.arange(length)
        core = 24 * int(d) + first + int(rng.integers(2, length - 4)) + np.arange(
            int(rng.integers(2, 4)))
        price[hours] = rng.uniform(220.0, 800.0, length)
        price[core] = np.minimum(rng.uniform(1000.0, 2200.0, core.size)
                                 * rng.choice([1.0, 1.0, 1.0, 2.3], core.size), CAP)
    return np.round(price, 2)


def main() -> None:
    price = _shape(np.random.default_rng(SEED))
    tz = timezone(timedelta(hours=-6))
    t0 = datetime(YEAR, 1, 1, tzinfo=tz)
    lines = [HEADER.format(seed=SEED) + "timestamp,price_usd_per_mwh"]
    for h, p in enumerate(price):
        stamp = (t0 + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M")
        lines.append(f"{stamp}-06:00,{p:.2f}")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    n = price.size
    peak = ((price >= 60) & (price <= 150)).mean()
    print(f"wrote {OUT}: {n} hours, mean {price.mean():.2f} USD/MWh; "
          f"> 200: {(price > 200).mean():.2%}, 60-150: {peak:.2%}, "
          f"15-35: {((price >= 15) & (price <= 35)).mean():.2%}, < 0: {(price < 0).mean():.2%}, "
          f"> 1000: {int((price > 1000).sum())} h, max {price.max():.2f}")


if __name__ == "__main__":
    main()
