#!/usr/bin/python3
"""reference.py - retain's retention numbers recomputed with pandas, straight from the
definitions in docs/METRICS.md (sections 1-6) and docs/SEGMENTS.md, without retain's C code.
bench/check_real_data.py compares retain with it on the full public datasets, and
tests/fixtures/real_data_expected.py uses it to write the expected outputs of the real-data
fixtures (tests/cli/real_data.sh).

Input, read as retain imports it (docs/IMPORT.md):
  online-retail  UCI Online Retail invoice lines (InvoiceNo, InvoiceDate, Quantity, UnitPrice,
                 CustomerID, ...): lines without a CustomerID are skipped, "17850.0" is customer
                 17850, each line is Quantity x the unit price taken to the penny (half away
                 from zero), the lines of an invoice are summed into one order, and an invoice
                 whose total is negative (the C-invoices) is a refund of that amount naming no
                 order
  invoices       the same, one row per invoice: InvoiceNo,InvoiceDate,CustomerID,Amount (the
                 shape of the fixtures' Online Retail slices)
  cdnow-master   whitespace-separated with a header (customer_id date number_of_cds
                 dollar_value), YYYYMMDD dates, one order per row
  cdnow-sample   the same without a header: master id, sample id (the customer), date, CDs,
                 dollars
All amounts are in one currency (GBP or USD), all days UTC.

Which orders are purchases: tests/fixtures/purchase_rule.py (METRICS.md section 2, written apart
from retain). As of a day (METRICS.md section 1: by default the last day with data, since these
files are historical) nothing after the day exists, and the cancellations are judged as of it.

CLI (CSV on stdout, in the layouts retain prints):
  reference.py FILE [--kind K] [--signups CSV] [--as-of DATE] report [--period U] [--from P]
               [--to P] [--baseline N] [--inactive-days W]       (retain report --format csv)
  reference.py FILE ... cohorts [--period U] [--mode on|on-or-after]
                                                                 (retain cohorts --format csv)
  reference.py FILE ... rfm [--rfm-bins N]                        (retain rfm --customers)
  reference.py FILE ... lifecycle                                 (retain lifecycle --customers)
  reference.py FILE ... tiers                   (customer_id,value_tier of every profile)
  reference.py selftest      (the worked example of METRICS.md 8, subscriber left out)

Choices where the docs leave room:
  - the time of an invoice whose lines carry different minutes is its first line's;
  - the profiles as of a day are those with a record (an order, a refund, a sign-up) on or
    before it: "nothing after the as-of day exists" (METRICS.md 1);
  - the baseline of money sums (revenue, refunded, ...) is their mean rounded to the penny, half
    away from zero, like the counts; averages (aov, historic_clv, frequency) and rates are the
    mean of the periods' own values;
  - baseline_days of a whole period is left empty (METRICS.md defines it for a partial period
    only: k); the comparisons skip it there;
  - lifecycle: "repeat customers" are those with 2+ distinct order days, and the business's
    median gap is the median of their own (mean) gaps; "new" = first purchase on one of the
    last 30 days, (d - 30, d], the window of orders_30d (SEGMENTS.md);
    "won back" compares the last gap with max(4 x the mean gap of the order days before it, 90),
    the business median standing in when only one order day came before it.
"""
import argparse
import csv
import datetime as dt
import os
import sys
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
from purchase_rule import match  # noqa: E402

EPOCH = dt.date(1970, 1, 1)
DAY_MS = 86400000


def day_of(d):
    """A date (or 'YYYY-MM-DD') as a day number since 1970-01-01."""
    if isinstance(d, str):
        d = dt.date.fromisoformat(d[:10])
    return (d - EPOCH).days


def date_of(day):
    return EPOCH + dt.timedelta(days=int(day))


def pence(text):
    """A decimal amount in minor units, further decimals rounded half away from zero."""
    return int(Decimal(text.strip()).scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(p):
    """Minor units as the major unit with 2 decimals."""
    p = int(p)
    return f"{'-' if p < 0 else ''}{abs(p) // 100}.{abs(p) % 100:02d}"


def round_half_away(fr):
    """A Fraction rounded to the nearest integer, halves away from zero."""
    if fr < 0:
        return -round_half_away(-fr)
    return int((fr * 2 + 1) // 2)


def money_fr(fr):
    """A Fraction of minor units as the major unit, rounded to the penny half away from zero."""
    return None if fr is None else money(round_half_away(fr))


def rate(x):
    return "" if x is None else "%.6g" % x


# ---------------------------------------------------------------------------------- input

def _records(rows):
    """rows: (customer, ext id or None, ms, signed amount: a refund when negative), in file
    order."""
    df = pd.DataFrame(rows, columns=["cust", "ext", "ms", "signed"])
    df["seq"] = np.arange(len(df))
    df["day"] = df["ms"] // DAY_MS
    df["amount"] = df["signed"].abs()
    df["kind"] = np.where(df["signed"] < 0, "r", "o")
    return df


def _ms(ts):
    ns = pd.to_datetime(ts, format="%Y-%m-%d %H:%M:%S").values.astype("datetime64[ns]")
    return ns.astype("int64") // 1000000


def online_retail_invoices(path):
    """The invoices of a UCI Online Retail file as retain's import makes them: one row per
    invoice (InvoiceNo, InvoiceDate of its first line, CustomerID, Amount in minor units)."""
    src = pd.read_csv(path, dtype=str, keep_default_na=False)
    src = src[src["CustomerID"].str.strip() != ""].copy()
    src["cust"] = src["CustomerID"].str.strip().str.replace(r"\.0+$", "", regex=True)
    price = src["UnitPrice"].map(pence)
    src["line"] = [int((Decimal(q) * p).quantize(Decimal(1), rounding=ROUND_HALF_UP))
                   for q, p in zip(src["Quantity"], price)]
    return src.groupby("InvoiceNo", sort=False).agg(
        InvoiceDate=("InvoiceDate", "first"), CustomerID=("cust", "first"),
        Amount=("line", "sum")).reset_index()


def load_online_retail(path):
    inv = online_retail_invoices(path)
    return _records(list(zip(inv["CustomerID"], inv["InvoiceNo"], _ms(inv["InvoiceDate"]),
                             inv["Amount"])))


def load_invoices(path):
    inv = pd.read_csv(path, dtype=str, keep_default_na=False)
    inv["cust"] = inv["CustomerID"].str.replace(r"\.0+$", "", regex=True)
    return _records(list(zip(inv["cust"], inv["InvoiceNo"], _ms(inv["InvoiceDate"]),
                             inv["Amount"].map(pence))))


def _cdnow(df):
    ns = pd.to_datetime(df["date"], format="%Y%m%d").values.astype("datetime64[ns]")
    ms = ns.astype("int64") // 1000000
    return _records(list(zip(df["cust"], [None] * len(df), ms, df["amount"].map(pence))))


def load_cdnow_master(path):
    df = pd.read_csv(path, sep=r"\s+", dtype=str)
    return _cdnow(df.rename(columns={"customer_id": "cust", "dollar_value": "amount"}))


def load_cdnow_sample(path):
    df = pd.read_csv(path, sep=r"\s+", dtype=str, header=None,
                     names=["master", "cust", "date", "cds", "amount"])
    return _cdnow(df)


LOADERS = {"online-retail": load_online_retail, "invoices": load_invoices,
           "cdnow-master": load_cdnow_master, "cdnow-sample": load_cdnow_sample}


def guess_kind(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.readline()
    if head.startswith("InvoiceNo,StockCode"):
        return "online-retail"
    if head.startswith("InvoiceNo,"):
        return "invoices"
    if head.split()[:1] == ["customer_id"]:
        return "cdnow-master"
    return "cdnow-sample"


def load_signups(path):
    """A customers CSV of sign-ups (customer_id,signup_date): [(id, day)]."""
    with open(path, newline="") as f:
        return [(r[0], day_of(r[1])) for i, r in enumerate(csv.reader(f)) if i > 0 and r]


# ---------------------------------------------------------------------------------- periods

class Periods:
    """Period arithmetic for one unit: index of a day, first and last day, label."""

    def __init__(self, unit):
        if unit not in ("day", "week", "month", "quarter", "year"):
            raise SystemExit(f"unknown period unit {unit}")
        self.unit = unit

    def index(self, day):
        d = date_of(day)
        return {"day": lambda: day, "week": lambda: (day + 3) // 7,  # 1970-01-01 is a Thursday
                "month": lambda: d.year * 12 + d.month - 1,
                "quarter": lambda: d.year * 4 + (d.month - 1) // 3,
                "year": lambda: d.year}[self.unit]()

    def index_array(self, days):
        days = np.asarray(days, dtype="int64")
        if self.unit == "day":
            return days
        if self.unit == "week":
            return (days + 3) // 7
        d = pd.to_datetime(days, unit="D")
        y, m = d.year.values.astype("int64"), d.month.values.astype("int64")
        return {"month": y * 12 + m - 1, "quarter": y * 4 + (m - 1) // 3, "year": y}[self.unit]

    def first(self, i):
        if self.unit == "day":
            return i
        if self.unit == "week":
            return i * 7 - 3
        if self.unit == "month":
            return day_of(dt.date(i // 12, i % 12 + 1, 1))
        if self.unit == "quarter":
            return day_of(dt.date(i // 4, (i % 4) * 3 + 1, 1))
        return day_of(dt.date(i, 1, 1))

    def last(self, i):
        return self.first(i + 1) - 1

    def label(self, i):
        f = date_of(self.first(i))
        if self.unit == "day":
            return f.isoformat()
        if self.unit == "week":
            y, w, _ = f.isocalendar()
            return f"{y}-W{w:02d}"
        if self.unit == "month":
            return f"{f.year}-{f.month:02d}"
        if self.unit == "quarter":
            return f"{f.year}-Q{(f.month - 1) // 3 + 1}"
        return str(f.year)

    def parse(self, text):
        """A label (2024-03, 2024-W10, 2024-Q1, 2024) or a date inside the period."""
        t = text.strip()
        if len(t) == 10:
            return self.index(day_of(t))
        if "-W" in t:
            y, w = t.split("-W")
            return self.index(day_of(dt.date.fromisocalendar(int(y), int(w), 1)))
        if "-Q" in t:
            y, q = t.split("-Q")
            return self.index(day_of(dt.date(int(y), (int(q) - 1) * 3 + 1, 1)))
        if len(t) == 7:
            return self.index(day_of(t + "-01"))
        return self.index(day_of(t + "-01-01"))


# ---------------------------------------------------------------------------------- the model

class Model:
    """The purchases, cancelled orders and refunds left of a file, as of a day."""

    def __init__(self, recs, signups=(), as_of=None):
        self.last_day = int(recs["day"].max())          # the last day with data
        self.as_of = day_of(as_of) if as_of else self.last_day
        recs = recs[recs["day"] <= self.as_of]
        self.first_day = int(recs["day"].min())
        cols = ["cust", "ext", "ms", "seq", "day", "amount"]
        orders = [dict(zip(cols, r), cur="X") for r in
                  recs.loc[recs["kind"] == "o", cols].itertuples(index=False)]
        refunds = [dict(zip(cols, r), cur="X", named=None) for r in
                   recs.loc[recs["kind"] == "r", cols].itertuples(index=False)]
        left = match(orders, refunds)
        o = pd.DataFrame(orders, columns=cols + ["at"]) if orders else \
            pd.DataFrame(columns=cols + ["at"])
        self.P = o[o["at"].isna()][["cust", "day", "amount", "ms", "seq"]].reset_index(drop=True)
        self.C = o[o["at"].notna()][["cust", "day", "amount"]].reset_index(drop=True)
        self.R = pd.DataFrame([(r["cust"], r["day"], r["amount"]) for r in left],
                              columns=["cust", "day", "amount"])
        for df in (self.P, self.C, self.R):
            df["day"] = df["day"].astype("int64")
            df["amount"] = df["amount"].astype("int64")
        # every profile: whoever has a record on or before the as-of day (sign-ups included)
        seen = list(dict.fromkeys(list(recs.sort_values("seq")["cust"]) +
                                  [c for c, day in signups if day <= self.as_of]))
        self.profiles = seen
        self.first_purchase = self.P.groupby("cust")["day"].min()
        self.buyers = list(self.first_purchase.index)

    # -- the report (METRICS.md section 4)

    def _active(self, d, W):
        p = self.P
        return set(p.loc[(p["day"] <= d) & (p["day"] > d - W), "cust"].unique())

    def window(self, F, Lc, W):
        """Every field of METRICS.md section 4 for the window [F, Lc]: counts and money (minor
        units) as ints, rates as floats, averages as Fractions; None where undefined."""
        P, C, R, fp = self.P, self.C, self.R, self.first_purchase
        S, E = self._active(F - 1, W), self._active(Lc, W)
        N = set(fp[(fp >= F) & (fp <= Lc)].index)
        before = set(fp[fp < F].index)
        inp = P[(P["day"] >= F) & (P["day"] <= Lc)]
        upto = P[P["day"] <= Lc]
        canc = C[(C["day"] >= F) & (C["day"] <= Lc)]
        ref = R[(R["day"] >= F) & (R["day"] <= Lc)]
        buyers = set(upto["cust"].unique())
        r_upto = R[(R["day"] <= Lc) & R["cust"].isin(buyers)]
        v = {}
        v["customers"] = len(buyers)
        v["new_customers"] = len(N)
        v["active_start"] = len(S)
        v["churned"] = len(S - E)
        v["retained"] = len(S & E)
        v["returning"] = len((E - S) & before)
        v["active_end"] = len(E)
        s = len(S)
        v["churn_rate"] = v["churned"] / s if s else None
        v["retention_rate"] = v["retained"] / s if s else None
        v["ordering"] = int(inp["cust"].nunique())
        v["orders"] = len(inp)
        v["cancelled"] = len(canc)
        v["refunds"] = len(ref)
        v["repeat_buyers"] = int((upto.groupby("cust").size() >= 2).sum())
        v["repeat_rate"] = v["repeat_buyers"] / v["customers"] if v["customers"] else None
        v["frequency"] = v["orders"] / v["ordering"] if v["ordering"] else None
        v["revenue"] = int(inp["amount"].sum())
        v["aov"] = Fraction(v["revenue"], v["orders"]) if v["orders"] else None
        v["cancelled_value"] = int(canc["amount"].sum())
        v["refunded"] = int(ref["amount"].sum())
        v["net_revenue"] = v["revenue"] - v["refunded"]
        v["net_revenue_to_date"] = int(upto["amount"].sum()) - int(r_upto["amount"].sum())
        v["historic_clv"] = (Fraction(v["net_revenue_to_date"], v["customers"])
                             if v["customers"] else None)
        v["textbook_retention_rate"] = (v["active_end"] - v["new_customers"]) / s if s else None
        return v

    REPORT_FIELDS = ["customers", "new_customers", "active_start", "churned", "retained",
                     "returning", "active_end", "churn_rate", "retention_rate", "ordering",
                     "orders", "cancelled", "refunds", "repeat_rate", "frequency", "aov",
                     "revenue", "cancelled_value", "refunded", "net_revenue",
                     "net_revenue_to_date", "repeat_buyers", "historic_clv",
                     "textbook_retention_rate"]
    COUNTS = {"customers", "new_customers", "active_start", "churned", "retained", "returning",
              "active_end", "ordering", "orders", "cancelled", "refunds", "repeat_buyers"}
    SUMS = {"revenue", "cancelled_value", "refunded", "net_revenue", "net_revenue_to_date"}
    AVERAGES = {"aov", "historic_clv"}      # money averages: printed to the penny
    RATES = {"churn_rate", "retention_rate", "repeat_rate", "frequency",
             "textbook_retention_rate"}

    def report(self, unit="month", frm=None, to=None, baseline=3, W=90):
        """Rows of `retain report --format csv`: dicts of the CSV's columns as text."""
        per = Periods(unit)
        first_p = per.index(self.first_day)
        last_p = per.index(self.as_of)
        hi = min(per.parse(to), last_p) if to else last_p
        lo = max(per.parse(frm), first_p) if frm else hi
        cache = {}

        def win(F, Lc):
            if (F, Lc) not in cache:
                cache[(F, Lc)] = self.window(F, Lc, W)
            return cache[(F, Lc)]

        rows = []
        for i in range(lo, hi + 1):
            F, L = per.first(i), per.last(i)
            Lc = min(L, self.as_of)
            k = Lc - F + 1
            partial = Lc < L
            v = win(F, Lc)
            row = {"period": per.label(i), "days": str(k), "period_days": str(L - F + 1),
                   "partial": "1" if partial else "0"}
            row.update(self._fmt(v))
            # the baseline: up to `baseline` periods before, within the data; to date when
            # this period is partial (each counted over its first k days)
            base = [j for j in range(i - baseline, i) if j >= first_p]
            bv = []
            for j in base:
                Fj, Lj = per.first(j), per.last(j)
                bv.append(win(Fj, min(Lj, Fj + k - 1) if partial else Lj))
            row["baseline_days"] = str(k) if (partial and bv) else ""
            agg = {}
            for f in self.REPORT_FIELDS:
                vals = [b[f] for b in bv if b[f] is not None]
                if not vals:
                    agg[f] = None
                elif f in self.COUNTS or f in self.SUMS:
                    agg[f] = round_half_away(Fraction(sum(vals), len(vals)))
                elif f in self.AVERAGES:
                    agg[f] = sum(vals, Fraction(0)) / len(vals)
                else:
                    agg[f] = sum(vals) / len(vals)
            for f, t in self._fmt(agg).items():
                row["baseline_" + f] = t
            rows.append(row)
        return rows

    def _fmt(self, v):
        out = {}
        for f in self.REPORT_FIELDS:
            x = v[f]
            if x is None:
                out[f] = ""
            elif f in self.COUNTS:
                out[f] = str(x)
            elif f in self.SUMS:
                out[f] = money(x)
            elif f in self.AVERAGES:
                out[f] = money_fr(x)
            else:
                out[f] = rate(x)
        return out

    REPORT_COLUMNS = (["period", "days", "period_days", "partial"] + REPORT_FIELDS +
                      ["baseline_days"] + ["baseline_" + f for f in REPORT_FIELDS])

    # -- cohorts (METRICS.md section 5)

    def cohorts(self, unit="month", mode="on"):
        per = Periods(unit)
        last = per.index(self.as_of)
        partial_last = self.as_of < per.last(last)
        P = self.P.copy()
        P["p"] = per.index_array(P["day"])
        coh = P.groupby("cust")["p"].min().rename("c")
        P = P.join(coh, on="cust")
        R = self.R[self.R["cust"].isin(coh.index)].copy()
        R["p"] = per.index_array(R["day"])
        R = R.join(coh, on="cust")
        R["p"] = R[["p", "c"]].max(axis=1)   # a refund before the first purchase: period 0
        rows = []
        if P.empty:
            return rows
        for c in range(int(coh.min()), int(coh.max()) + 1):
            pc, rc = P[P["c"] == c], R[R["c"] == c]
            for k in range(0, last - c + 1):
                if mode == "on":
                    pk, rk = pc[pc["p"] == c + k], rc[rc["p"] == c + k]
                else:
                    pk, rk = pc[pc["p"] >= c + k], rc[rc["p"] >= c + k]
                rev = int(pk["amount"].sum())
                rows.append({"cohort": per.label(c), "period": str(k),
                             "customers": str(pk["cust"].nunique()), "revenue": money(rev),
                             "net_revenue": money(rev - int(rk["amount"].sum())),
                             "partial": "1" if (c + k == last and partial_last) else "0"})
        return rows

    COHORT_COLUMNS = ["cohort", "period", "customers", "revenue", "net_revenue", "partial"]

    # -- per-customer values (SEGMENTS.md)

    def customers(self):
        """One row per profile: orders, net revenue (minor units), last and first purchase
        days (NaN for prospects), distinct order days."""
        g = self.P.groupby("cust")
        df = pd.DataFrame(index=pd.Index(self.profiles, name="cust"))
        df["orders"] = g.size().reindex(df.index, fill_value=0)
        rev = g["amount"].sum().reindex(df.index, fill_value=0)
        ref = self.R.groupby("cust")["amount"].sum().reindex(df.index, fill_value=0)
        df["net"] = rev - ref
        df["first"] = g["day"].min().reindex(df.index)
        df["last"] = g["day"].max().reindex(df.index)
        return df

    @staticmethod
    def midrank(values, bins):
        """1 + floor(bins x (worse + same/2) / n): rank(average) - 1/2 is worse + same/2; in
        integers, since 2 x rank is one."""
        n = len(values)
        two_r = np.rint(values.rank(method="average") * 2).astype("int64")
        return 1 + (bins * (two_r - 1)) // (2 * n)

    GRID = {5: ["new", "potential loyalists", "potential loyalists", "champions", "champions"],
            4: ["promising", "potential loyalists", "potential loyalists", "loyal",
                "champions"],
            3: ["about to sleep", "about to sleep", "need attention", "loyal", "loyal"],
            2: ["hibernating", "hibernating", "at risk", "at risk", "at risk"],
            1: ["lost", "lost", "at risk", "at risk", "cannot lose them"]}

    def rfm(self, bins=5):
        """Rows of `retain rfm --customers`."""
        df = self.customers()
        b = df[df["orders"] > 0].copy()
        rec = self.as_of - b["last"]
        b["R"] = self.midrank(-rec, bins)        # longer ago is worse
        b["F"] = self.midrank(b["orders"], bins)
        b["M"] = self.midrank(b["net"], bins)

        def five(s):  # scores rescaled to five for the grid (the identity for 5 bins)
            return s if bins == 5 else 1 + ((s - 1) * 5) // bins

        fm = (five(b["F"]) + five(b["M"]) + 1) // 2     # the mean, rounded half up
        b["seg"] = [self.GRID[r][m - 1] for r, m in zip(five(b["R"]), fm)]
        rows = []
        for cust, r in df.iterrows():
            if r["orders"] > 0:
                x = b.loc[cust]
                rows.append({"customer_id": cust, "rfm_segment": x["seg"],
                             "recency_score": str(x["R"]), "frequency_score": str(x["F"]),
                             "monetary_score": str(x["M"]), "orders": str(int(r["orders"])),
                             "net_revenue": money(r["net"]),
                             "days_since_last_order": str(int(self.as_of - r["last"]))})
            else:
                rows.append({"customer_id": cust, "rfm_segment": "", "recency_score": "",
                             "frequency_score": "", "monetary_score": "", "orders": "0",
                             "net_revenue": money(r["net"]), "days_since_last_order": ""})
        return rows

    RFM_COLUMNS = ["customer_id", "rfm_segment", "recency_score", "frequency_score",
                   "monetary_score", "orders", "net_revenue", "days_since_last_order"]

    def tiers(self):
        """customer_id,value_tier: buyers by net revenue, mid-rank share from the top."""
        df = self.customers()
        b = df[df["orders"] > 0]
        n = len(b)
        # rank descending: a + (e + 1)/2, so 2a + e = 2 rank - 1; share = (2a + e) / 2n
        twice = np.rint(b["net"].rank(method="average", ascending=False) * 2).astype("int64") - 1
        tier = {}
        for cust, t in zip(b.index, twice):
            tier[cust] = ("platinum" if 100 * t < 2 * n else "gold" if 10 * t < 2 * n else
                          "silver" if 10 * t < 6 * n else "bronze")
        return [{"customer_id": c, "value_tier": tier.get(c, "")} for c in df.index]

    TIER_COLUMNS = ["customer_id", "value_tier"]

    def lifecycle(self, at_risk_gaps=2, lapsed_gaps=4, at_risk_min=30, lapsed_min=90,
                  new_days=30, loyal_orders=5):
        """Rows of `retain lifecycle --customers`."""
        df = self.customers()
        odays = self.P.groupby("cust")["day"].apply(lambda s: sorted(set(s)))
        own = {c: Fraction(d[-1] - d[0], len(d) - 1) for c, d in odays.items() if len(d) >= 2}
        med = self._median(list(own.values())) if own else None
        rows = []
        for cust, r in df.iterrows():
            if r["orders"] == 0:
                rows.append({"customer_id": cust, "lifecycle_stage": "prospect", "orders": "0",
                             "net_revenue": money(r["net"]), "days_since_last_order": ""})
                continue
            d = odays[cust]
            since = self.as_of - d[-1]
            gap = own.get(cust, med)

            def longer(gaps, min_days, gap):  # a silence longer than max(gaps x gap, min)
                return since > (max(gaps * gap, min_days) if gap is not None else min_days)

            stage = None
            if longer(lapsed_gaps, lapsed_min, gap):
                stage = "lapsed"
            elif longer(at_risk_gaps, at_risk_min, gap):
                stage = "at risk"
            if stage is None and len(d) >= 2:
                before = d[:-1]
                g0 = (Fraction(before[-1] - before[0], len(before) - 1) if len(before) >= 2
                      else med)
                window = max(lapsed_gaps * g0, lapsed_min) if g0 is not None else lapsed_min
                if d[-1] - d[-2] > window:
                    stage = "won back"
            if stage is None:
                if self.as_of - d[0] < new_days:
                    stage = "new"
                elif len(d) == 1:
                    stage = "first-time buyer"
                elif r["orders"] >= loyal_orders:
                    stage = "loyal"
                else:
                    stage = "active"
            rows.append({"customer_id": cust, "lifecycle_stage": stage,
                         "orders": str(int(r["orders"])), "net_revenue": money(r["net"]),
                         "days_since_last_order": str(int(since))})
        return rows

    @staticmethod
    def _median(xs):
        xs = sorted(xs)
        n = len(xs)
        return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

    LIFECYCLE_COLUMNS = ["customer_id", "lifecycle_stage", "orders", "net_revenue",
                         "days_since_last_order"]


def load(path, kind=None, signups=None, as_of=None):
    kind = kind or guess_kind(path)
    recs = LOADERS[kind](path)
    return Model(recs, load_signups(signups) if signups else (), as_of)


def write_csv(rows, columns, out):
    w = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)


def selftest():
    """The worked example of docs/METRICS.md 8 without the subscriber E (this reference has no
    subscriptions), window 30 days, as of 2024-03-31: A, B, C and D's rows worked out by hand."""
    def rec(cust, ext, day, pence_):
        return (cust, ext, day_of(day) * DAY_MS, pence_)
    m = Model(_records([rec("A", "a1", "2024-01-05", 1000), rec("A", "a2", "2024-01-20", 500),
                        rec("A", "a3", "2024-03-10", 700), rec("B", "b1", "2024-01-31", 2000),
                        rec("B", "b2", "2024-02-05", -300), rec("C", "c1", "2024-02-15", 400),
                        rec("C", "c2", "2024-02-16", 100), rec("D", "d1", "2024-03-01", -999)]),
              (), "2024-03-31")
    rows = {r["period"]: r for r in m.report("month", "2024-01", None, 3, 30)}
    want = {  # active on Jan 31: A, B; on Feb 29: B, C; on Mar 31: A (E left out)
        "2024-01": dict(customers="2", new_customers="2", active_start="0", active_end="2",
                        churn_rate="", orders="3", revenue="35.00", aov="11.67",
                        repeat_buyers="1", historic_clv="17.50"),
        "2024-02": dict(customers="3", new_customers="1", active_start="2", active_end="2",
                        churned="1", retained="1", churn_rate="0.5", refunds="1",
                        refunded="3.00", net_revenue_to_date="37.00", repeat_rate="0.666667",
                        frequency="2", aov="2.50", historic_clv="12.33"),
        "2024-03": dict(active_start="2", active_end="1", churned="2", retained="0",
                        returning="1", churn_rate="1", retention_rate="0",
                        textbook_retention_rate="0.5", refunded="9.99",
                        net_revenue_to_date="44.00", historic_clv="14.67",
                        baseline_customers="3", baseline_orders="3", baseline_revenue="20.00",
                        baseline_churn_rate="0.5", baseline_repeat_rate="0.583333")}
    bad = [(p, f, rows[p][f], v) for p, fs in want.items() for f, v in fs.items()
           if rows[p][f] != v]
    cells = {(r["cohort"], r["period"]): r for r in m.cohorts("month", "on")}
    after = {(r["cohort"], r["period"]): r for r in m.cohorts("month", "on-or-after")}
    for got, v in [(cells[("2024-01", "1")]["net_revenue"], "-3.00"),
                   (cells[("2024-01", "2")]["customers"], "1"),
                   (after[("2024-01", "0")]["revenue"], "42.00"),
                   (after[("2024-01", "1")]["customers"], "1")]:
        if got != v:
            bad.append(("cohorts", "", got, v))
    for b in bad:
        print("selftest: %s %s: %r, wanted %r" % b, file=sys.stderr)
    print("selftest: " + ("FAILED" if bad else "the worked example of METRICS.md 8 holds"))
    return 1 if bad else 0


def main(argv=None):
    if (argv or sys.argv[1:]) == ["selftest"]:
        sys.exit(selftest())
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--kind", choices=sorted(LOADERS))
    ap.add_argument("--signups")
    ap.add_argument("--as-of")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report")
    r.add_argument("--period", default="month")
    r.add_argument("--from", dest="frm")
    r.add_argument("--to")
    r.add_argument("--baseline", type=int, default=3)
    r.add_argument("--inactive-days", type=int, default=90)
    c = sub.add_parser("cohorts")
    c.add_argument("--period", default="month")
    c.add_argument("--mode", default="on", choices=["on", "on-or-after"])
    f = sub.add_parser("rfm")
    f.add_argument("--rfm-bins", type=int, default=5)
    sub.add_parser("lifecycle")
    sub.add_parser("tiers")
    a = ap.parse_args(argv)
    m = load(a.file, a.kind, a.signups, a.as_of)
    print(f"reference: as of {date_of(m.as_of)}", file=sys.stderr)
    if a.cmd == "report":
        write_csv(m.report(a.period, a.frm, a.to, a.baseline, a.inactive_days),
                  Model.REPORT_COLUMNS, sys.stdout)
    elif a.cmd == "cohorts":
        write_csv(m.cohorts(a.period, a.mode), Model.COHORT_COLUMNS, sys.stdout)
    elif a.cmd == "rfm":
        write_csv(m.rfm(a.rfm_bins), Model.RFM_COLUMNS, sys.stdout)
    elif a.cmd == "lifecycle":
        write_csv(m.lifecycle(), Model.LIFECYCLE_COLUMNS, sys.stdout)
    else:
        write_csv(m.tiers(), Model.TIER_COLUMNS, sys.stdout)


if __name__ == "__main__":
    main()
