#!/usr/bin/python3
"""check_real_data.py - retain's numbers on the full public datasets against bench/reference.py
(pandas, written from docs/METRICS.md and docs/SEGMENTS.md apart from retain's C code).

For each dataset (UCI Online Retail, CDNOW master, CDNOW sample in /work/shared/data): imports it
into a scratch store (--db), runs `retain report`, `cohorts`, `rfm --customers`, `lifecycle
--customers` and the value tiers (a segment of everybody, exported with its value_tier), all as
CSV, and compares each with the reference field by field: every difference is printed (the
customer or period, the field, both values), then a summary per output ("report month W=90:
13 periods x 53 fields, all equal"). Exit 1 on any difference.

  /usr/bin/python3 bench/check_real_data.py [--retain build/retain] [--data /work/shared/data]
                                            [--only online-retail,cdnow-master,cdnow-sample]
Takes a minute or two (the reference is plain pandas; the imports a few seconds)."""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
import reference as ref  # noqa: E402
from compare_csv import compare, parse, summary  # noqa: E402

DATASETS = {
    "online-retail": ("online_retail/online_retail.csv", "online-retail",
                      ["--currency", "GBP", "--skip-bad"]),
    "cdnow-master": ("cdnow/CDNOW_master.txt", "cdnow-master",
                     ["--delimiter", "whitespace", "--amount-col", "dollar_value"]),
    "cdnow-sample": ("cdnow/CDNOW_sample.txt", "cdnow-sample",
                     ["--delimiter", "whitespace", "--no-header", "--customer-col", "2",
                      "--date-col", "3", "--amount-col", "5"]),
}
REPORTS = [("month", 90), ("quarter", 90), ("year", 90), ("week", 90), ("month", 30),
           ("quarter", 30)]
# judged as of other days too, so that every unit's last period is partial (to-date baselines):
# Online Retail as of 2011-10-15, a Saturday, between orders and the refunds that cancel them
# days later (customer 12454's order 571255 of 2011-10-14, cancelled 2011-10-17, is a purchase
# then), and as of 2011-01-18, the day of customer 12346's £77,183.60 order and its cancellation
EXTRA_AS_OF = {"online-retail": ["2011-10-15", "2011-01-18"],
               "cdnow-master": ["1997-12-10"], "cdnow-sample": ["1998-02-18"]}
COHORTS = [("month", "on"), ("month", "on-or-after"), ("quarter", "on"),
           ("quarter", "on-or-after"), ("week", "on")]
LOOSE = ["baseline_" + f for f in ref.Model.RATES | ref.Model.AVERAGES]


class Retain:
    def __init__(self, binary, db):
        self.binary, self.db = binary, db

    def __call__(self, *args):
        p = subprocess.run([self.binary, "--db", self.db, *args], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise SystemExit(f"retain {' '.join(args)} failed ({p.returncode}): "
                             f"{p.stderr.strip()[:2000]}")
        return p.stdout, p.stderr


def check(name, path, kind, import_args, retain_bin, scratch, limit, results):
    """Compares one dataset, as of its default day and as of the EXTRA_AS_OF days; appends
    the summaries to results and returns the number of differences."""
    print(f"== {name}: {path}", flush=True)
    db = os.path.join(scratch, name + ".db")
    retain = Retain(retain_bin, db)
    t = time.time()
    retain("import", "orders", path, *import_args,
           "--rejects", os.path.join(scratch, name + ".rejects.csv"))
    print(f"   imported in {time.time() - t:.1f} s", flush=True)
    recs = ref.LOADERS[kind](path)
    total = 0
    for given in [None] + EXTRA_AS_OF.get(name, []):
        t = time.time()
        m = ref.Model(recs, (), given)
        as_of = ref.date_of(m.as_of).isoformat()
        print(f"-- as of {as_of} ({'given' if given else 'the default'}): {len(m.buyers)} "
              f"buyers of {len(m.profiles)} profiles, {len(m.P)} purchases, {len(m.C)} "
              f"cancelled, {len(m.R)} refunds left (reference model in "
              f"{time.time() - t:.1f} s)", flush=True)
        total += check_as_of(f"{name} as of {as_of}", m, retain, given, limit, results)
    return total


def check_as_of(title, m, retain, given, limit, results):
    as_of = ref.date_of(m.as_of).isoformat()
    first = ref.date_of(m.first_day).isoformat()
    opt = ["--as-of", given] if given else []
    total = 0
    said = set()

    def out(what, unit, got_text, want_rows, key, **kw):
        nonlocal total
        diffs, n, nf = compare(parse(got_text), want_rows, key, **kw)
        total += len(diffs)
        s = summary(what, unit, n, nf, diffs, limit)
        results.append(f"{title}: {s}")
        print("   " + s.replace("\n", "\n   "), flush=True)

    def said_as_of(command, err):
        """METRICS.md 1: every output names its as-of day; for CSV, a line on stderr."""
        nonlocal total
        if f"as of {as_of}" not in err and command not in said:
            said.add(command)
            total += 1
            s = (f"{command} --format csv: no 'as of {as_of}' on stderr (METRICS.md 1: 'for "
                 f"CSV a line on stderr'); stderr was {err.strip()[:200]!r}")
            results.append(f"{title}: {s}")
            print("   " + s, flush=True)

    for unit, w in REPORTS:
        got, err = retain("report", "--period", unit, "--from", first, "--inactive-days", str(w),
                          "--format", "csv", *opt)
        said_as_of("report", err)
        out(f"report {unit} W={w}", unit + "s", got, m.report(unit, first, None, 3, w),
            ["period"], loose=LOOSE, skip_full_baseline_days=True)
    for unit, mode in COHORTS:
        got, err = retain("cohorts", "--period", unit, "--mode", mode, "--format", "csv", *opt)
        said_as_of("cohorts", err)
        out(f"cohorts {unit} {mode}", "cells", got, m.cohorts(unit, mode), ["cohort", "period"])
    got, err = retain("rfm", "--customers", *opt)
    said_as_of("rfm --customers", err)
    out("rfm --customers", "customers", got, m.rfm(), ["customer_id"])
    got, err = retain("lifecycle", "--customers", *opt)
    said_as_of("lifecycle --customers", err)
    out("lifecycle --customers", "customers", got, m.lifecycle(), ["customer_id"])
    seg = "everybody-" + as_of
    retain("segment", "create", seg, "--rule", "orders >= 0", "--as-of", as_of)
    got, _ = retain("segment", "export", seg, "--as-of", as_of, "--format", "csv",
                    "--fields", "value_tier")
    out("value tiers", "customers", got, m.tiers(), ["customer_id"])
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--retain", default=os.path.join(HERE, "..", "build", "retain"))
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--only", default=",".join(DATASETS))
    ap.add_argument("--limit", type=int, default=40, help="differences printed per output")
    a = ap.parse_args()
    grand = 0
    results = []
    with tempfile.TemporaryDirectory(prefix="retain-check-") as scratch:
        for name in a.only.split(","):
            rel, kind, args = DATASETS[name]
            grand += check(name, os.path.join(a.data, rel), kind, args,
                           os.path.abspath(a.retain), scratch, a.limit, results)
    print("== summary")
    heads = [r.split("\n")[0] for r in results]
    for h in heads:
        print(h)
    outputs = [h for h in heads if "no 'as of" not in h]
    equal = sum(1 for h in outputs if h.endswith("all equal"))
    print(f"{equal} of {len(outputs)} outputs all equal; {len(heads) - len(outputs)} CSV outputs "
          f"without their as-of line; {grand} differences in all", flush=True)
    sys.exit(1 if grand else 0)


if __name__ == "__main__":
    main()
