"""Cohort matrix straight from an orders CSV: retain against pandas, DuckDB (2 threads),
SQLite SQL and PostgreSQL SQL on the same file, in one run. Prints median wall time and peak
memory of each, the ratios to retain, and checks that all give the same numbers.

Usage: /usr/bin/python3 bench/cohorts.py [--customers 2000000] [--runs 5] [--only a,b]
The data is generated once into bench/data/ by `retain gen` (2M customers ~ 6M orders).
PostgreSQL runs in a throwaway cluster on a loopback port as the postgres user."""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RETAIN = os.environ.get("RETAIN", os.path.join(ROOT, "build", "retain"))


def measure(cmd, out_path, env=None):
    """Runs cmd with stdout to out_path; returns (seconds, peak RSS MB)."""
    with open(out_path, "w") as out:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=out,
                           stderr=subprocess.PIPE, env=env, text=True)
        el = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    rss_kb = int(p.stderr.strip().splitlines()[-1])
    return el, rss_kb / 1024.0


def warm(path):
    """Reads the file once so that every tool starts with it in the page cache (this machine's
    kernel reclaims idle cache pages within seconds, which otherwise makes some runs read the
    disk and others not)."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def cells(path):
    """Non-zero cells {(cohort, period): (customers, revenue cents)}."""
    res = {}
    with open(path) as f:
        r = csv.DictReader(f)
        for row in r:
            cu = int(row["customers"])
            rv = round(float(row["revenue"]) * 100)
            if cu or rv:
                res[(row["cohort"], int(row["period"]))] = (cu, rv)
    return res


def workload(customers):
    """The orders.csv of the benchmark business of that many customers (generated once into
    bench/data/ by `retain gen`, seed 1)."""
    data_dir = os.path.join(HERE, "data", f"gen-{customers}")
    orders = os.path.join(data_dir, "orders.csv")
    if not os.path.exists(orders):
        subprocess.run([RETAIN, "--quiet", "gen", "--customers", str(customers), "--seed", "1",
                        "--no-lines", "--no-events", "--out", data_dir], check=True)
    return orders


class Postgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="retain-bench-pg-")
        shutil.chown(self.dir, "postgres")
        self.bin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        self.bin = f"/usr/lib/postgresql/{self.bin}/bin"
        self.port = "55439"
        self.su(["initdb", "-D", self.dir + "/db", "-A", "trust", "-U", "postgres"])
        self.su(["pg_ctl", "-D", self.dir + "/db", "-l", self.dir + "/log", "-w", "-o",
                 f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
                 "-c shared_buffers=1GB -c work_mem=1GB -c max_parallel_workers_per_gather=2",
                 "start"])

    def su(self, cmd):
        subprocess.run(["runuser", "-u", "postgres", "--", self.bin + "/" + cmd[0]] + cmd[1:],
                       check=True, stdout=subprocess.DEVNULL)

    def cmd(self, sql_file, data):
        # psql does not interpolate variables in \copy, so the path is written into a copy
        with open(sql_file) as f:
            sql = f.read().replace(":'file'", "'" + data.replace("'", "''") + "'")
        path = os.path.join(self.dir, "cohorts.sql")
        with open(path, "w") as f:
            f.write(sql)
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", self.port,
                "-U", "postgres", "-f", path]

    def stop(self):
        self.su(["pg_ctl", "-D", self.dir + "/db", "-m", "fast", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", default="2000000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="retain,duckdb,pandas,sqlite,postgres")
    a = ap.parse_args()
    only = a.only.split(",")
    orders = workload(a.customers)
    nrows = sum(1 for _ in open(orders, "rb")) - 1
    size = os.path.getsize(orders) / 1e6
    print(f"orders.csv: {nrows:,} rows, {size:.0f} MB, {a.customers} customers; "
          f"median of {a.runs} runs")
    out = tempfile.mkdtemp(prefix="retain-bench-")
    tools = {
        "retain": lambda: [RETAIN, "--quiet", "cohorts", "--orders", orders, "--format", "csv"],
        "duckdb": lambda: ["node", os.path.join(HERE, "cohorts_duckdb.mjs"), orders, "2"],
        "pandas": lambda: ["/usr/bin/python3", os.path.join(HERE, "cohorts_pandas.py"), orders],
        "sqlite": lambda: ["sqlite3", ":memory:", "-cmd", f".import --csv {orders} orders",
                           "-cmd", ".headers on", "-cmd", ".mode csv",
                           f".read {os.path.join(HERE, 'cohorts_sqlite.sql')}"],
    }
    pg = None
    if "postgres" in only:
        pg = Postgres()
        os.chmod(out, 0o755)
        tools["postgres"] = lambda: pg.cmd(os.path.join(HERE, "cohorts_pg.sql"), orders)
    results = {}
    try:
        # rounds: every tool once per round (while it has runs left), so that the machine's
        # drift over the minutes of a benchmark touches all tools alike
        nruns = {name: a.runs if name in ("retain", "duckdb") else max(1, min(a.runs, 3))
                 for name in only}
        times = {name: [] for name in only}
        mems = {name: [] for name in only}
        for r in range(max(nruns.values())):
            for name in only:
                if r < nruns[name]:
                    warm(orders)
                    t, m = measure(tools[name](), os.path.join(out, name + ".csv"))
                    times[name].append(t)
                    mems[name].append(m)
        for name in only:
            results[name] = (statistics.median(times[name]), max(mems[name]), nruns[name])
            print(f"  {name:9s} {results[name][0]:8.3f} s  {results[name][1]:7.0f} MB peak"
                  f"  ({nruns[name]} runs: {', '.join(f'{x:.2f}' for x in times[name])})",
                  flush=True)
    finally:
        if pg:
            pg.stop()
    ref = cells(os.path.join(out, "retain.csv"))
    ok = True
    for name in results:
        if name != "retain" and cells(os.path.join(out, name + ".csv")) != ref:
            print(f"  MISMATCH: {name} gives other numbers than retain")
            ok = False
    if "retain" in results:
        base = results["retain"][0]
        print("ratios (time of peer / time of retain):")
        for name, (t, m, _) in results.items():
            if name != "retain":
                print(f"  {name:9s} {t / base:6.1f}x slower")
    print("same numbers: " + ("yes" if ok else "NO"))
    shutil.rmtree(out, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
