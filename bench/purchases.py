"""purchases.py ORDERS.csv OUT.csv - the benchmark's orders file with the cancelled orders and
the refunds that cancelled them taken out, by the rule of tests/fixtures/purchase_rule.py
(docs/METRICS.md, "Purchases"), so that peers that know nothing of cancellations (DuckDB,
pandas, SQL: orders with amount >= 0) count the same purchases as retain. Only the customers
with a refund are matched (pandas finds them; the rule runs on their rows alone), so it takes
seconds on millions of orders. Days are UTC, as retain's default zone.

Used by cohorts.py, clv.py and store.py through purchases_workload(); run it alone to check."""
import os
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
from purchase_rule import match  # noqa: E402


def derive(src, dst):
    df = pd.read_csv(src, dtype={"order_id": str, "customer_id": str, "currency": str},
                     keep_default_na=False)
    ts = pd.to_datetime(df["order_date"])
    cents = (df["amount"].astype(float) * 100).round().astype("int64")
    refund = cents < 0
    who = set(df.loc[refund, "customer_id"])
    sub = df.index[df["customer_id"].isin(who)]
    rows = [{"cust": df.at[k, "customer_id"], "day": ts.at[k].normalize(), "ms": ts.at[k].value,
             "seq": int(k), "amount": abs(int(cents.at[k])), "cur": df.at[k, "currency"],
             "ext": df.at[k, "order_id"], "named": None, "k": int(k)} for k in sub]
    orders = [r for r in rows if not refund.at[r["k"]]]
    left = match(orders, [r for r in rows if refund.at[r["k"]]])
    drop = {r["k"] for r in orders if r["at"] is not None}
    drop |= {r["k"] for r in rows if refund.at[r["k"]]} - {r["k"] for r in left}
    rest = {r["k"]: r["amount"] for r in left}
    keep = ~df.index.isin(list(drop))
    out = df[keep].copy()
    for k, amount in rest.items():  # what a cancelling refund paid beyond its order
        out.at[k, "amount"] = f"-{amount // 100}.{amount % 100:02d}"
    out.to_csv(dst, index=False)
    return len(df), sum(r["at"] is not None for r in orders), len(out)


if __name__ == "__main__":
    n, cancelled, kept = derive(sys.argv[1], sys.argv[2])
    print(f"{n:,} rows: {cancelled:,} orders cancelled (with their refunds); {kept:,} rows kept")
