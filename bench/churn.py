"""Churn classifiers on the Telco table (../shared/data/telco): retain churn cv (XGBoost through
its C API, and the logistic baseline) against scikit-learn (LogisticRegression,
HistGradientBoostingClassifier) and against XGBoost's own Python package with retain's
parameters (bench/churn_sklearn.py; needs python3-xgboost), 5 stratified folds each, in one
run. Prints each model's mean AUC and the time of its cross-validation (median of --runs), and
the ratios.

Usage: /usr/bin/python3 bench/churn.py [--runs 3] [--table PATH] [--priority]"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RETAIN = os.environ.get("RETAIN", os.path.join(ROOT, "build", "retain"))
sys.path.insert(0, HERE)
from cohorts import raise_priority  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--table", default=os.path.join(ROOT, "..", "shared", "data", "telco",
                                                    "telco_customer_churn.csv"))
    ap.add_argument("--priority", action="store_true",
                    help="run in an own session at priority -20 (root; for a shared machine)")
    a = ap.parse_args()
    if a.priority:
        raise_priority()
    if not os.path.exists(a.table):
        sys.exit(f"no table at {a.table}")
    times, aucs = {}, {}
    for _ in range(a.runs):
        r = subprocess.run([RETAIN, "churn", "cv", "--table", a.table, "--id", "customerID",
                            "--label", "Churn", "--folds", "5", "--seed", "1", "--model",
                            "both", "--format", "json"], capture_output=True, text=True,
                           check=True)
        for m in json.loads(r.stdout)["models"]:
            times.setdefault("retain " + m["model"], []).append(m["seconds"])
            aucs["retain " + m["model"]] = m["mean_auc"]
        p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "churn_sklearn.py"), a.table,
                            "customerID", "Churn", "1"], capture_output=True, text=True,
                           check=True)
        for m in json.loads(p.stdout)["models"]:
            times.setdefault("sklearn " + m["model"], []).append(m["seconds"])
            aucs["sklearn " + m["model"]] = m["mean_auc"]
    print(f"Telco churn table, 5 stratified folds; median of {a.runs} runs (cross-validation "
          "time, reading excluded)")
    for name in times:
        print(f"  {name:32s} mean AUC {aucs[name]:.4f}   {statistics.median(times[name]):7.3f} s")
    hgb = statistics.median(times["sklearn hist_gradient_boosting"])
    for name in ("retain xgboost", "retain logistic"):
        print(f"  {name} is {hgb / statistics.median(times[name]):.1f}x faster than "
              "HistGradientBoosting")
    if "sklearn xgboost_python" in times:
        xp = statistics.median(times["sklearn xgboost_python"])
        print(f"  retain xgboost vs XGBoost's Python package, same parameters: "
              f"{xp / statistics.median(times['retain xgboost']):.1f}x")
    lr = statistics.median(times["sklearn logistic"])
    print(f"  retain logistic vs sklearn logistic: "
          f"{lr / statistics.median(times['retain logistic']):.1f}x")


if __name__ == "__main__":
    main()
