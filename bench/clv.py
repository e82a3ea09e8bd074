"""Orders CSV → per-customer P(alive) and 52-week CLV, retain against the Python recipe
(bench/clv_python.py: pandas + scipy, the libraries the lifetimes package is built on), on the
same file in one run. retain runs twice: with BG/NBD, the recipe's model (like for like), and
with its default purchase model (MBG/NBD; bench/clv_models.py has the comparison that chose
it). Prints the median wall time of each, the ratios, the two BG/NBD fits' parameter
estimates side by side and the largest difference in the customers' predictions.

Usage: /usr/bin/python3 bench/clv.py [--customers 2000000] [--runs 3] [--priority]"""
import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cohorts import RETAIN, purchases_workload, raise_priority  # noqa: E402  (the same business)


def timed(cmd, out_path):
    with open(out_path, "w") as out:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
        el = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return el, p.stderr


def predictions(path):
    with open(path) as f:
        return {row["customer_id"]: row for row in csv.DictReader(f)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", default="2000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--priority", action="store_true",
                    help="run in an own session at priority -20 (root; for a shared machine)")
    a = ap.parse_args()
    if a.priority:
        raise_priority()
    orders = purchases_workload(a.customers)
    out = tempfile.mkdtemp(prefix="retain-bench-clv-")
    rcmd = [RETAIN, "--quiet", "clv", "predict", "--orders", orders, "--horizon", "52w",
            "--discount", "0.01", "--format", "csv"]
    bcmd = rcmd[:4] + ["--model", "bgnbd"] + rcmd[4:]
    pcmd = ["/usr/bin/python3", os.path.join(HERE, "clv_python.py"), orders]
    rt, bt, pt = [], [], []
    for _ in range(a.runs):  # interleaved rounds
        bt.append(timed(bcmd, os.path.join(out, "retain.csv"))[0])
        rt.append(timed(rcmd, os.path.join(out, "retain_default.csv"))[0])
        t, err = timed(pcmd, os.path.join(out, "python.csv"))
        pt.append(t)
    py_fit = json.loads(err.strip().splitlines()[-1])
    r_fit = subprocess.run([RETAIN, "--quiet", "clv", "fit", "--model", "bgnbd", "--orders",
                            orders, "--format", "json"],
                           capture_output=True, text=True, check=True).stdout
    r_fit = json.loads(r_fit)
    mine = dict(r_fit["params"], **r_fit["spend"]["params"])
    med = statistics.median
    print(f"{os.path.basename(orders)} of {a.customers} customers; median of {a.runs} runs")
    print(f"  retain clv predict --model bgnbd  {med(bt):7.2f} s  "
          f"({', '.join(f'{x:.2f}' for x in bt)})")
    print(f"  retain clv predict (default)      {med(rt):7.2f} s  "
          f"({', '.join(f'{x:.2f}' for x in rt)})")
    print(f"  pandas + scipy (BG/NBD)           {med(pt):7.2f} s  "
          f"({', '.join(f'{x:.2f}' for x in pt)})")
    print(f"  ratio, BG/NBD against BG/NBD      {med(pt) / med(bt):7.1f}x")
    print(f"  ratio, retain's default           {med(pt) / med(rt):7.1f}x")
    print("  BG/NBD parameters (retain / python):")
    for k in ("r", "alpha", "a", "b", "p", "q", "v"):
        print(f"    {k:6s} {mine[k]:12.6g} {py_fit[k]:12.6g}   rel. diff "
              f"{abs(mine[k] - py_fit[k]) / abs(py_fit[k]):.1e}")
    rp, pp = predictions(os.path.join(out, "retain.csv")), predictions(os.path.join(out, "python.csv"))
    worst = {"p_alive": 0.0, "expected_purchases": 0.0, "predicted_clv": 0.0}
    for cid, row in pp.items():
        mine_row = rp[cid]
        for k in worst:
            worst[k] = max(worst[k], abs(float(mine_row[k]) - float(row[k])))
    print(f"  customers: {len(rp):,} / {len(pp):,}; largest differences: " +
          ", ".join(f"{k} {v:.2g}" for k, v in worst.items()))
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
