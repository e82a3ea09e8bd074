"""purchases.py STORE OUT [AS_OF_DAY] - the purchases of a retain store as of a day, by the rule
of tests/fixtures/purchase_rule.py (written apart from retain's C code), for the CLI tests' SQL
checks. Only rows on or before AS_OF_DAY (a UTC day number; default: all) count; days are UTC
(the tests' stores have no time zone set).

Writes OUT (a new SQLite file) with tables
  purchases(customer_id, ext_id, ts_ms, day, amount)
  refunds(customer_id, ts_ms, day, amount)       -- what is left of the refunds
  cancelled(customer_id, ext_id, ts_ms, day, amount, at_day)
for the tests to ATTACH."""
import os
import sqlite3
import sys

DAY_MS = 86400000


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "fixtures"))
from purchase_rule import match  # noqa: E402


def main():
    store, out = sys.argv[1], sys.argv[2]
    as_of = int(sys.argv[3]) if len(sys.argv) > 3 else None
    db = sqlite3.connect("file:%s?mode=ro" % store, uri=True)
    orders, refunds = [], []
    for seq, (cust, ext, ts, amount, cur) in enumerate(db.execute(
            "select customer_id, ext_id, ts_ms, amount, currency from orders order by ts_ms, id")):
        day = ts // DAY_MS
        if as_of is None or day <= as_of:
            orders.append({"cust": cust, "ext": ext, "ms": ts, "seq": seq, "day": day,
                           "amount": amount, "cur": cur})
    for seq, (cust, ts, amount, cur, named) in enumerate(db.execute(
            "select customer_id, ts_ms, amount, currency, order_ext_id from refunds "
            "order by ts_ms, id")):
        day = ts // DAY_MS
        if as_of is None or day <= as_of:
            refunds.append({"cust": cust, "ms": ts, "seq": seq, "day": day, "amount": amount,
                            "cur": cur, "named": named})
    left = match(orders, refunds)
    if os.path.exists(out):
        os.unlink(out)
    w = sqlite3.connect(out)
    w.execute("create table purchases(customer_id, ext_id, ts_ms, day, amount)")
    w.execute("create table refunds(customer_id, ts_ms, day, amount)")
    w.execute("create table cancelled(customer_id, ext_id, ts_ms, day, amount, at_day)")
    for o in orders:
        if o["at"] is None:
            w.execute("insert into purchases values (?,?,?,?,?)",
                      (o["cust"], o["ext"], o["ms"], o["day"], o["amount"]))
        else:
            w.execute("insert into cancelled values (?,?,?,?,?,?)",
                      (o["cust"], o["ext"], o["ms"], o["day"], o["amount"], o["at"]))
    for r in left:
        w.execute("insert into refunds values (?,?,?,?)", (r["cust"], r["ms"], r["day"],
                                                            r["amount"]))
    w.commit()


if __name__ == "__main__":
    main()
