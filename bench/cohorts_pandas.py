"""The pandas recipe for a monthly cohort matrix (customers and revenue per acquisition month and
months since), printed as cohort,period,customers,revenue. Refund rows (negative amounts) are
left out, as retain stores them as refunds.

This is pandas as a competent user writes it once they know the file: only the three columns
needed (usecols), their types given (no inference pass over the ids and amounts), the dates
parsed while reading, and only vectorised operations (the dt accessor, groupby transform and a
named aggregation). The C parser: engine="pyarrow" needs pyarrow, which is neither a Debian
package nor reachable here.

Usage: python3 cohorts_pandas.py orders.csv"""
import sys

import pandas as pd

df = pd.read_csv(sys.argv[1], usecols=["customer_id", "order_date", "amount"],
                 dtype={"customer_id": "int64", "amount": "float64"},
                 parse_dates=["order_date"])
df = df[df["amount"] >= 0]
df["month"] = df["order_date"].dt.year * 12 + df["order_date"].dt.month - 1
df["cohort"] = df.groupby("customer_id")["month"].transform("min")
df["period"] = df["month"] - df["cohort"]
g = (df.groupby(["cohort", "period"])
       .agg(customers=("customer_id", "nunique"), revenue=("amount", "sum"))
       .reset_index())
g["cohort"] = (g["cohort"] // 12).astype(str) + "-" + (g["cohort"] % 12 + 1).map("{:02d}".format)
g["revenue"] = g["revenue"].map("{:.2f}".format)
g.to_csv(sys.stdout, index=False)
