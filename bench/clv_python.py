"""The CLV notebook recipe in Python, as a peer for bench/clv.py: pandas reads the orders and
builds each customer's (frequency, recency, T, monetary value) summary in weeks (repeat purchase
days, as the lifetimes library's summary_data_from_transaction_data does), scipy fits BG/NBD and
Gamma-Gamma by maximum likelihood (vectorized NumPy likelihoods, BFGS; BG/NBD on the distinct
summaries weighted by their count, as lifetimes' `weights` allows; spend net of refunds as
retain keeps it), and every customer gets
P(alive), expected purchases over 52 weeks (scipy.special.hyp2f1) and a CLV discounted monthly
over 12 steps. The lifetimes package itself is not installable here (no PyPI); this follows its
recipe with the same libraries it is built on.

Usage: python3 clv_python.py orders.csv > predictions.csv   (fit parameters go to stderr)"""
import json
import sys

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1


def summary(path):
    df = pd.read_csv(path, usecols=["customer_id", "order_date", "amount"],
                     dtype={"customer_id": "int64", "amount": "float64"},
                     parse_dates=["order_date"])
    refunds = df[df["amount"] < 0]  # negative amounts are refunds
    df = df[df["amount"] >= 0]
    df["day"] = df["order_date"].dt.floor("D")
    days = df.groupby(["customer_id", "day"], as_index=False)["amount"].sum()
    g = days.groupby("customer_id")
    first, last, n = g["day"].min(), g["day"].max(), g["day"].count()
    until = days["day"].max()
    total = g["amount"].sum()
    first_amount = days.sort_values("day").groupby("customer_id")["amount"].first()
    s = pd.DataFrame({"x": n - 1, "t_x": (last - first).dt.days / 7.0,
                      "T": (until - first).dt.days / 7.0})
    # spend net of refunds, as retain keeps it (docs/MODELS.md): the repeat mean times the share
    # of the customer's spend they kept up to the calibration end
    refunded = -refunds[refunds["order_date"].dt.floor("D") <= until].groupby(
        "customer_id")["amount"].sum().reindex(s.index).fillna(0)
    kept = np.where(total > 0, np.maximum(0, total - refunded) / total.where(total > 0, 1), 0)
    s["m"] = np.where(s["x"] > 0, (total - first_amount) / s["x"].where(s["x"] > 0, 1) * kept,
                      0.0)
    return s, until


def bgnbd_nll(lp, x, tx, T, w):
    r, alpha, a, b = np.exp(lp)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                  - (r + x) * np.log(alpha + tx), -np.inf)
    return -np.sum(w * (a1 + a2 + np.logaddexp(a3, a4))) / np.sum(w)


def gg_nll(lp, x, m):
    p, q, v = np.exp(lp)
    ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
          + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(v + m * x))
    return -np.mean(ll)


def main():
    s, until = summary(sys.argv[1])
    x, tx, T = s["x"].to_numpy(float), s["t_x"].to_numpy(float), s["T"].to_numpy(float)
    # identical (x, t_x, T) summaries once, weighted by their count (the lifetimes fitters'
    # `weights`; Fader and Hardie fit the condensed matrix the same way): the same likelihood,
    # 780,000 rows instead of 2 million on the benchmark
    c = pd.DataFrame({"x": x, "tx": tx, "T": T}).value_counts().reset_index()
    cx, ctx, cT, cw = (c[k].to_numpy(float) for k in ("x", "tx", "T", c.columns[-1]))
    fit = minimize(bgnbd_nll, np.zeros(4), args=(cx, ctx, cT, cw), method="BFGS")
    r, alpha, a, b = np.exp(fit.x)
    rep = (x > 0) & (s["m"].to_numpy() > 0)
    xm, mm = x[rep], s["m"].to_numpy(float)[rep]
    gfit = minimize(gg_nll, np.zeros(3), args=(xm, mm), method="BFGS")
    p, q, v = np.exp(gfit.x)
    json.dump({"r": r, "alpha": alpha, "a": a, "b": b, "p": p, "q": q, "v": v}, sys.stderr)
    sys.stderr.write("\n")

    def expected(t):
        z = t / (alpha + T + t)
        num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
                                           * hyp2f1(r + x, b + x, a + b + x - 1, z))
        den = 1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-300)
                           * ((alpha + T) / (alpha + tx)) ** (r + x), 0)
        return num / den

    p_alive = 1 / (1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-300)
                                * ((alpha + T) / (alpha + tx)) ** (r + x), 0))
    m = s["m"].to_numpy(float)
    spend = np.where(x > 0, p * (v + x * m) / (p * x + q - 1), p * v / (q - 1))
    horizon, steps, monthly = 52.0, 12, 0.01
    per_week = (1 + monthly) ** (7 / (365.25 / 12)) - 1
    clv, prev = np.zeros(len(x)), np.zeros(len(x))
    for k in range(1, steps + 1):
        t = horizon * k / steps
        e = expected(t)
        clv += (e - prev) * spend / (1 + per_week) ** t
        prev = e
    out = pd.DataFrame({"customer_id": s.index, "p_alive": p_alive, "expected_purchases": prev,
                        "predicted_clv": clv})
    out.to_csv(sys.stdout, index=False, float_format="%.6f")


if __name__ == "__main__":
    main()
