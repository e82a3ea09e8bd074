"""purchases.py STORE OUT [AS_OF_DAY] - the purchases of a retain store as of a day, written
independently of retain's C code from the rule in docs/METRICS.md ("Purchases"), for the CLI
tests' SQL checks.

A refund cancels an order (which then is no purchase) when it names the order (refunds.
order_ext_id = orders.ext_id) and covers its amount, or, naming none that the customer has on
or before the refund's day, when it equals the amount of one of the customer's orders on or
before the refund's day: the latest such order not cancelled yet. Refunds are taken in time
order; only rows on or before AS_OF_DAY (a UTC day number; default: all) count. Days are UTC
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


def main():
    store, out = sys.argv[1], sys.argv[2]
    as_of = int(sys.argv[3]) if len(sys.argv) > 3 else None
    db = sqlite3.connect("file:%s?mode=ro" % store, uri=True)
    orders = {}
    for cust, ext, ts, amount, cur in db.execute(
            "select customer_id, ext_id, ts_ms, amount, currency from orders order by ts_ms, id"):
        day = ts // DAY_MS
        if as_of is None or day <= as_of:
            orders.setdefault(cust, []).append(
                {"ext": ext, "ts": ts, "day": day, "amount": amount, "cur": cur, "at": None})
    refunds = []
    for cust, ts, amount, cur, named in db.execute(
            "select customer_id, ts_ms, amount, currency, order_ext_id from refunds "
            "order by ts_ms, id"):
        day = ts // DAY_MS
        if as_of is None or day <= as_of:
            refunds.append({"cust": cust, "ts": ts, "day": day, "amount": amount, "cur": cur,
                            "named": named})
    left = []
    for r in refunds:
        mine = [o for o in orders.get(r["cust"], [])
                if o["day"] <= r["day"] and o["at"] is None and o["cur"] == r["cur"]]
        hit = None
        named = [o for o in mine if r["named"] is not None and o["ext"] == r["named"]]
        if named:
            o = named[-1]
            if o["amount"] <= r["amount"]:
                hit = o
            else:  # a part of the order it names: a partial refund
                left.append(r)
                continue
        if hit is None:
            same = [o for o in mine if o["amount"] == r["amount"]]
            hit = same[-1] if same else None
        if hit is None:
            left.append(r)
            continue
        hit["at"] = r["day"]
        if r["amount"] > hit["amount"]:
            left.append(dict(r, amount=r["amount"] - hit["amount"]))
    if os.path.exists(out):
        os.unlink(out)
    w = sqlite3.connect(out)
    w.execute("create table purchases(customer_id, ext_id, ts_ms, day, amount)")
    w.execute("create table refunds(customer_id, ts_ms, day, amount)")
    w.execute("create table cancelled(customer_id, ext_id, ts_ms, day, amount, at_day)")
    for cust, os_ in orders.items():
        for o in os_:
            if o["at"] is None:
                w.execute("insert into purchases values (?,?,?,?,?)",
                          (cust, o["ext"], o["ts"], o["day"], o["amount"]))
            else:
                w.execute("insert into cancelled values (?,?,?,?,?,?)",
                          (cust, o["ext"], o["ts"], o["day"], o["amount"], o["at"]))
    for r in left:
        w.execute("insert into refunds values (?,?,?,?)", (r["cust"], r["ts"], r["day"],
                                                            r["amount"]))
    w.commit()


if __name__ == "__main__":
    main()
