#!/usr/bin/env python3
"""Checks retain's currency conversion on real data against pandas.

Every invoice of UCI Online Retail (GBP; its total the sum of Quantity x UnitPrice, in pence)
is converted into EUR, USD and JPY at the ECB's reference rates of its day by
build/bench/rates_convert (rt_rates_convert over a store filled by `retain rates import`), and
independently here: pandas.merge_asof picks the latest rate on or before the invoice's day, and
the amount is converted with exact decimals (the rates as written in the file) and rounded half
away from zero. Every result must agree.

    cmake --build build --target bench
    build/retain --db /tmp/ecb.db rates import eurofxref-hist.csv
    /usr/bin/python3 bench/rates_check.py /tmp/ecb.db eurofxref-hist.csv \\
        ../shared/data/online_retail/online_retail.csv
"""
import subprocess
import sys
from decimal import Decimal, ROUND_HALF_UP, getcontext

import pandas as pd

getcontext().prec = 60
db, ecb, retail = sys.argv[1:4]
exe = sys.argv[4] if len(sys.argv) > 4 else "build/bench/rates_convert"

rates = pd.read_csv(ecb, dtype=str, keep_default_na=False)
rates = rates.loc[:, [c for c in rates.columns if c and not c.startswith("Unnamed")]]
rates = rates.melt("Date", var_name="cur", value_name="rate")
rates = rates[~rates.rate.isin(["", "N/A"])]
rates["day"] = pd.to_datetime(rates.Date)

lines = pd.read_csv(retail, dtype={"InvoiceNo": str, "StockCode": str})
# pence, exactly: UnitPrice has at most 3 decimals in this file; round half away like retain
lines["pence"] = [int((Decimal(str(q)) * Decimal(str(p)) * 100).quantize(Decimal(1), ROUND_HALF_UP))
                  for q, p in zip(lines.Quantity, lines.UnitPrice)]
lines["day"] = pd.to_datetime(lines.InvoiceDate).dt.normalize()
inv = lines.groupby("InvoiceNo").agg(day=("day", "first"), pence=("pence", "sum")).reset_index()
inv = inv.sort_values("day").reset_index(drop=True)
print(f"{len(inv)} invoices, {inv.day.min().date()} to {inv.day.max().date()}; "
      f"{(~inv.day.isin(set(rates.day))).sum()} on days without ECB rates (weekends, holidays)",
      flush=True)

EXP = {"JPY": 0}
gbp = rates[rates.cur == "GBP"][["day", "rate"]].sort_values("day")
req, want = [], []
for to in ["EUR", "USD", "JPY"]:
    m = pd.merge_asof(inv, gbp.rename(columns={"rate": "gbp"}), on="day", direction="backward")
    if to != "EUR":
        r = rates[rates.cur == to][["day", "rate"]].sort_values("day").rename(columns={"rate": "to"})
        m = pd.merge_asof(m, r, on="day", direction="backward")
    for day, pence, g, t in zip(m.day, m.pence, m.gbp, m["to"] if to != "EUR" else ["1"] * len(m)):
        x = Decimal(int(pence)) * Decimal(t) / Decimal(g) * Decimal(10) ** (EXP.get(to, 2) - 2)
        q = x.copy_abs().quantize(Decimal(1), ROUND_HALF_UP)
        want.append(str(int(q if x >= 0 else -q)))
        req.append(f"{day.date()},GBP,{to},{int(pence)}")
got = subprocess.run([exe, db], input="\n".join(req) + "\n", capture_output=True, text=True,
                     check=True)
sys.stderr.write(got.stderr)
sys.stderr.flush()
got = got.stdout.split()
bad = [(r, g, w) for r, g, w in zip(req, got, want) if g != w]
print(f"{len(req)} conversions, {len(bad)} differ")
for b in bad[:10]:
    print("  ", b)
sys.exit(1 if bad or len(got) != len(want) else 0)
