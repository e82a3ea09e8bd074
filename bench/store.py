"""The store path: durable import speed (rows/s), report and cohorts from the store with a warm
model (ms), the cold model build, and memory per order. Median of several runs.

Usage: /usr/bin/python3 bench/store.py [--customers 2000000] [--runs 5]
Uses bench/data/gen-N/ (made by `retain gen` when missing) and a store in a temporary dir."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cohorts import RETAIN, workload  # noqa: E402  (the same generated business)


def timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    el = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return el, int(p.stderr.strip().splitlines()[-1]) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", default="2000000")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    orders = workload(a.customers)
    rows = sum(1 for _ in open(orders, "rb")) - 1
    tmp = tempfile.mkdtemp(prefix="retain-bench-store-", dir=os.environ.get("BENCH_TMP"))
    db = os.path.join(tmp, "bench.db")
    print(f"orders.csv: {rows:,} rows; median of {a.runs} runs")
    try:
        imp = []
        for _ in range(a.runs):
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            t, m = timed([RETAIN, "--quiet", "--db", db, "import", "orders", orders])
            imp.append(t)
        ti = statistics.median(imp)
        print(f"  import orders (fresh store, durable): {ti:.2f} s = {rows / ti / 1e6:.2f} M rows/s"
              f"  ({', '.join(f'{x:.2f}' for x in imp)})")
        t, m = timed([RETAIN, "--quiet", "--db", db, "import", "orders", orders])
        print(f"  re-import (all duplicates): {t:.2f} s = {rows / t / 1e6:.2f} M rows/s")
        snap = db + ".model"
        cold = []
        for _ in range(max(1, a.runs // 2)):
            if os.path.exists(snap):
                os.unlink(snap)
            t, m = timed([RETAIN, "--quiet", "--db", db, "report"])
            cold.append(t)
        print(f"  report, cold (model built from the store): {statistics.median(cold):.2f} s,"
              f" {m:.0f} MB peak")
        for what in (["report"], ["report", "--period", "week", "--from", "2024-W01"],
                     ["cohorts"], ["cohorts", "--format", "csv"]):
            ts, mem = [], 0
            for _ in range(a.runs):
                t, m = timed([RETAIN, "--quiet", "--db", db] + what)
                ts.append(t)
                mem = max(mem, m)
            print(f"  {' '.join(what):34s} warm: {statistics.median(ts) * 1000:6.1f} ms"
                  f"  ({mem:.0f} MB peak)")
        size = os.path.getsize(snap)
        print(f"  model: {size / 1e6:.0f} MB for {rows:,} order rows = {size / rows:.0f} bytes/order"
              " (snapshot = in-memory columns)")
        t, m = timed([RETAIN, "--quiet", "cohorts", "--orders", orders, "--format", "csv"])
        print(f"  cohorts --orders peak memory: {m:.0f} MB = {m * 1048576 / rows:.0f} bytes/order")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
