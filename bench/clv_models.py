"""Which purchase model should `retain clv` use by default? A calibration/holdout comparison of
BG/NBD, MBG/NBD and Pareto/NBD on real and generated order histories.

For each dataset the models are fitted by retain on the orders up to a calibration end
(`clv fit/predict/holdout --until`), and their predictions for the holdout that follows are
compared with what the calibration customers actually bought in it. Everything the comparison
measures is computed here with pandas/numpy from the raw files, independently of retain: each
customer's summary (x, t_x, T), their repeat purchases (distinct order days) in the holdout,
and P(alive) from the fitted parameters when retain leaves it out (a history that does not
identify dropout).

Measures, per dataset and model:
  loglik        calibration log-likelihood (retain's fit)
  gone          the model's expected share of customers dropped out by the calibration end
  dropout       whether retain finds dropout identified (otherwise P(alive) is left out)
  MAE, RMSE     per customer: |expected - actual| repeat purchases over the holdout
  corr          per customer: Pearson correlation of expected and actual
  total         all customers' expected holdout purchases against the actual, in %
  curve         the cumulative weekly repeat-purchase curve (clv holdout): mean absolute
                error over the holdout weeks, in % of the actual total
  AUC P(alive)  how well P(alive) at the calibration end separates the customers who bought
                again in the holdout from those who did not (Mann-Whitney, ties count half);
                '*' = computed here from the fitted parameters because retain left it out
  AUC E[Y]      the same for the expected purchases (a ranking every model gives)

Usage: /usr/bin/python3 bench/clv_models.py [--only cdnow-sample,...] [--markdown]
Data: /work/shared/data (CDNOW, UCI Online Retail; override with RETAIN_DATA) and a business
generated with `retain gen --customers 20000 --seed 3` (into a temporary directory)."""
import argparse
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
from scipy.special import gammaln, hyp2f1
from scipy.stats import rankdata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RETAIN = os.environ.get("RETAIN", os.path.join(ROOT, "build", "retain"))
DATA = os.environ.get("RETAIN_DATA", "/work/shared/data")
MODELS = ["bgnbd", "mbgnbd", "pareto"]


# ---- the orders, read here independently of retain: (customer, day, amount) ----

def cdnow(path, sample):
    if sample:
        df = pd.read_csv(path, sep=r"\s+", header=None, dtype={1: str, 2: str},
                         names=["master", "customer", "date", "cds", "amount"])
    else:
        df = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
        df = df.rename(columns={"customer_id": "customer", "dollar_value": "amount"})
    df["day"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df[["customer", "day", "amount"]]


def online_retail(path):
    df = pd.read_csv(path, dtype={"InvoiceNo": str, "CustomerID": str})
    df = df[df["CustomerID"].notna()].copy()
    df["customer"] = df["CustomerID"].str.replace(r"\.0$", "", regex=True)
    df["line"] = df["Quantity"] * df["UnitPrice"]
    inv = df.groupby("InvoiceNo").agg(customer=("customer", "first"),
                                      date=("InvoiceDate", "first"), amount=("line", "sum"))
    inv["day"] = pd.to_datetime(inv["date"]).dt.floor("D")
    return inv[["customer", "day", "amount"]].reset_index(drop=True)


def generated(path):
    df = pd.read_csv(path, dtype={"customer_id": str})
    df["day"] = pd.to_datetime(df["order_date"]).dt.floor("D")
    return df.rename(columns={"customer_id": "customer"})[["customer", "day", "amount"]]


def summaries(orders, until, end):
    """Calibration summary (weeks) and holdout repeat purchase days of each calibration
    customer. Orders are the rows with a non-negative amount (negative ones are refunds)."""
    o = orders[orders["amount"] >= 0][["customer", "day"]].drop_duplicates()
    cal = o[o["day"] <= until]
    g = cal.groupby("customer")["day"]
    first, last, n = g.min(), g.max(), g.count()
    s = pd.DataFrame({"x": (n - 1).astype(float), "t_x": (last - first).dt.days / 7.0,
                      "T": (until - first).dt.days / 7.0})
    hold = o[(o["day"] > until) & (o["day"] <= end)]
    s["actual"] = hold.groupby("customer").size().reindex(s.index).fillna(0)
    return s


# ---- P(alive) from fitted parameters (for when retain leaves it out) ----

def p_alive(model, p, x, tx, T):
    if model in ("bgnbd", "mbgnbd"):
        k = 1 if model == "mbgnbd" else 0
        r, al, a, b = p["r"], p["alpha"], p["a"], p["b"]
        with np.errstate(divide="ignore", over="ignore"):
            q = np.log(a) - np.log(np.maximum(b + x + k - 1, 1e-300)) + \
                (r + x) * (np.log(al + T) - np.log(al + tx))
        pa = 1 / (1 + np.exp(q))
        return np.where(x + k > 0, pa, 1.0)
    # Pareto/NBD: 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0), A0 from its two 2F1 terms
    r, al, s, be = p["r"], p["alpha"], p["s"], p["beta"]
    a = r + s + x
    if al >= be:
        f = lambda t: hyp2f1(a, s + 1, a + 1, (al - be) / (al + t)) / (al + t) ** a
    else:
        f = lambda t: hyp2f1(a, r + x, a + 1, (be - al) / (be + t)) / (be + t) ** a
    with np.errstate(all="ignore"):
        a0 = f(tx) - f(T)
        q = s / a * (al + T) ** (r + x) * (be + T) ** s * a0
    return 1 / (1 + q)


def auc(score, label):
    """Mann-Whitney AUC with ties counting half; NaN without both classes."""
    label = np.asarray(label, bool)
    n1, n0 = label.sum(), (~label).sum()
    if not n1 or not n0:
        return float("nan")
    ranks = rankdata(score)
    return (ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def retain(db, *args):
    p = subprocess.run([RETAIN, "--db", db, "--quiet"] + list(args), capture_output=True,
                       text=True)
    if p.returncode:
        sys.exit(f"failed: retain {' '.join(args)}\n{p.stderr[-2000:]}")
    return p.stdout


def evaluate(name, db, s, until, end):
    """Fits each model with retain and measures its holdout predictions against s."""
    u = until.strftime("%Y-%m-%d")
    days = (end - until).days
    rows = []
    for model in MODELS:
        fit = json.loads(retain(db, "clv", "fit", "--model", model, "--until", u,
                                "--format", "json"))
        pred = pd.read_csv(io.StringIO(retain(db, "clv", "predict", "--model", model, "--until",
                                              u, "--horizon", f"{days}d", "--format", "csv")),
                           dtype={"customer_id": str}).set_index("customer_id")
        hold = pd.read_csv(io.StringIO(retain(db, "clv", "holdout", "--model", model,
                                              "--until", u, "--format", "csv")))
        if len(pred) != len(s) or not pred.index.isin(s.index).all():
            sys.exit(f"{name}: retain's {len(pred)} customers are not the {len(s)} here")
        d = s.join(pred, how="inner")
        e, act = d["expected_purchases"].to_numpy(), d["actual"].to_numpy()
        pa = d["p_alive"].to_numpy(float)
        own = bool(np.isnan(pa).all())
        if own:
            pa = p_alive(model, fit["params"], d["x"].to_numpy(), d["t_x"].to_numpy(),
                         d["T"].to_numpy())
        cum_a, cum_p = hold["cumulative_actual"].to_numpy(), hold["cumulative_predicted"]
        bought = act > 0
        rows.append({
            "dataset": name, "model": model, "loglik": fit["loglik"],
            "gone": fit["dropout"]["dropped_share"],
            "dropout": "yes" if fit["dropout"]["identified"] else "no",
            "MAE": np.mean(np.abs(e - act)), "RMSE": np.sqrt(np.mean((e - act) ** 2)),
            "corr": np.corrcoef(e, act)[0, 1],
            "total": 100 * (e.sum() - act.sum()) / act.sum(),
            "curve": 100 * np.mean(np.abs(cum_p - cum_a)) / cum_a[-1],
            "AUC P(alive)": auc(pa, bought), "own": own, "AUC E[Y]": auc(e, bought),
            "customers": len(d), "actual": int(act.sum()),
        })
    return rows


def datasets(tmp):
    gen = os.path.join(tmp, "gen")
    subprocess.run([RETAIN, "gen", "--customers", "20000", "--seed", "3", "--out", gen,
                    "--no-lines", "--no-events"], check=True, capture_output=True)
    ws = ["--no-header", "--delimiter", "whitespace"]
    return {
        "cdnow-sample": (lambda: cdnow(f"{DATA}/cdnow/CDNOW_sample.txt", True),
                         [f"{DATA}/cdnow/CDNOW_sample.txt"] + ws +
                         ["--customer-col", "2", "--date-col", "3", "--amount-col", "5"],
                         "1997-09-30", "1998-06-30"),
        "cdnow-master": (lambda: cdnow(f"{DATA}/cdnow/CDNOW_master.txt", False),
                         [f"{DATA}/cdnow/CDNOW_master.txt", "--delimiter", "whitespace",
                          "--customer-col", "customer_id", "--date-col", "date",
                          "--amount-col", "dollar_value"],
                         "1997-09-30", "1998-06-30"),
        "online-retail": (lambda: online_retail(f"{DATA}/online_retail/online_retail.csv"),
                          [f"{DATA}/online_retail/online_retail.csv", "--currency", "GBP",
                           "--skip-bad"],
                          "2011-06-09", "2011-12-09"),
        "generated": (lambda: generated(os.path.join(gen, "orders.csv")),
                      [os.path.join(gen, "orders.csv")], "2024-06-30", "2024-12-31"),
    }


def table(rows, markdown):
    cols = ["dataset", "model", "loglik", "gone", "dropout", "MAE", "RMSE", "corr", "total",
            "curve", "AUC P(alive)", "AUC E[Y]"]

    def cell(r, c):
        v = r[c]
        if c == "loglik":
            return f"{v:,.1f}"
        if c == "gone":
            return f"{100 * v:.1f}%"
        if c in ("total", "curve"):
            return f"{v:+.1f}%" if c == "total" else f"{v:.1f}%"
        if c == "AUC P(alive)":
            return f"{v:.3f}" + ("*" if r["own"] else "")
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v)
    lines = [[c for c in cols]] + [[cell(r, c) for c in cols] for r in rows]
    if markdown:
        out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(l) + " |" for l in lines[1:]]
        return "\n".join(out)
    w = [max(len(l[i]) for l in lines) for i in range(len(cols))]
    return "\n".join("  ".join(l[i].rjust(w[i]) for i in range(len(cols))) for l in lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="comma-separated datasets")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="retain-clv-models-") as tmp:
        for name, (load, imp, until, end) in datasets(tmp).items():
            if a.only and name not in a.only.split(","):
                continue
            db = os.path.join(tmp, name + ".db")
            retain(db, "import", "orders", *imp)
            until_d, end_d = pd.Timestamp(until), pd.Timestamp(end)
            s = summaries(load(), until_d, end_d)
            r = evaluate(name, db, s, until_d, end_d)
            print(f"{name}: {r[0]['customers']:,} calibration customers to {until}, "
                  f"{r[0]['actual']:,} repeat purchase days in the holdout to {end}",
                  file=sys.stderr)
            rows += r
    print(table(rows, a.markdown))


if __name__ == "__main__":
    main()
