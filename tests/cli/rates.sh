# `retain rates`: importing the ECB's layout and the long layout (every stored value checked
# against the file by Python), idempotent re-imports that leave the data version alone, a
# corrected rate replacing the stored one, bad cells with their exact place and nothing stored,
# --skip-bad with its rejects file, list, and conversions against exact fractions computed in
# Python from the fixture files (the latest rate on or before the day, cross rates through EUR).
. "$(dirname "$0")/lib/assert.bash"

ECB=$RT_FIXTURES/ecb_rates.csv
LONG=$RT_FIXTURES/rates_long.csv
dv() { sql "select value from meta where key = 'data_version'"; }

# Python's reading of the fixtures: every rate as (base, currency, date, text), N/A left out.
cat >rates_of.py <<'EOF'
import csv, sys
def ecb(path, base="EUR"):
    rows = list(csv.reader(open(path)))
    head = rows[0]
    for row in rows[1:]:
        for name, cell in zip(head[1:], row[1:]):
            if name and cell not in ("", "N/A"):
                yield base, name, row[0], cell
def long(path, base="EUR"):
    for row in csv.DictReader(open(path)):
        yield (row["base"] or base).upper(), row["currency"].upper(), row["date"], row["rate"]
EOF

# ---- the ECB's layout ----
run 0 "$RT_BIN" rates import "$ECB"
assert_contains "$OUT" "7 rows, 213 rates of 41 currencies against EUR, 1999-01-04 to 2024-03-18"
assert_contains "$OUT" "stored 213 new, replaced 0, 0 already in the store; 74 cells without a rate"
want=$(python3 -c "
import sys; sys.path.insert(0, '.'); from rates_of import ecb
print(len(list(ecb('$ECB'))))")
assert_eq "$(sql 'select count(*) from exchange_rates')" "$want" "rates stored"
# every stored value is the file's, on its day, against EUR
run 0 python3 -c "
import sqlite3, sys; sys.path.insert(0, '.'); from rates_of import ecb
from datetime import date
db = sqlite3.connect('$RETAIN_DB')
got = {(b, c, date.fromordinal(d + 719163).isoformat()): r
       for b, c, d, r in db.execute('select base, currency, day, rate from exchange_rates')}
want = {(b, c, d): float(r) for b, c, d, r in ecb('$ECB')}
assert got == want, sorted(set(got.items()) ^ set(want.items()))[:5]
print('same', len(got))"
assert_eq "$OUT" "same 213" "stored values"
v1=$(dv)

# importing again stores nothing and leaves the data version (and the model snapshot) alone
run 0 "$RT_BIN" rates import "$ECB"
assert_contains "$OUT" "stored 0 new, replaced 0, 213 already in the store"
assert_eq "$(dv)" "$v1" "data version after a re-import"

# a corrected rate replaces the stored one, and the data version moves
printf 'Date,USD,JPY,\n2024-03-18,1.0892,162.50,\n' >fix.csv
run 0 "$RT_BIN" rates import fix.csv
assert_contains "$OUT" "stored 0 new, replaced 1, 1 already in the store"
assert_eq "$(sql "select rate, source from exchange_rates where currency = 'JPY' and day = 19800")" \
  "162.5|fix.csv" "replaced value"
[ "$(dv)" -gt "$v1" ] || fail "a replaced rate did not bump the data version"
run 0 "$RT_BIN" rates import "$ECB"
assert_contains "$OUT" "replaced 1, 212 already in the store"

# ---- the long layout: bases per row, lower-case codes, empty base = EUR ----
run 0 "$RT_BIN" rates import "$LONG"
assert_contains "$OUT" "5 rows, 5 rates of 3 currencies, 2024-03-14 to 2024-03-18"
assert_eq "$(sql "select base || '/' || currency || '=' || rate from exchange_rates
  where currency in ('ARS', 'KWD') or base = 'NOK' order by base, currency, day" | tr '\n' ' ')" \
  "EUR/KWD=0.3357 EUR/KWD=0.3342 NOK/EUR=0.08721 USD/ARS=855.25 USD/ARS=856.0 " "long rows"

# ---- list: per series first and last day, count and latest, as Python counts them ----
run 0 "$RT_BIN" rates list --format csv
printf '%s\n' "$OUT" >list.csv
run 0 python3 -c "
import csv, sys; sys.path.insert(0, '.'); from rates_of import ecb, long
from collections import defaultdict
s = defaultdict(list)
for b, c, d, r in list(ecb('$ECB')) + list(long('$LONG')):
    s[(b, c)].append((d, r))
got = list(csv.DictReader(open('list.csv')))
assert len(got) == len(s), (len(got), len(s))
for row in got:
    v = sorted(s[(row['base'], row['currency'])])
    assert (row['first'], row['last'], int(row['rates'])) == (v[0][0], v[-1][0], len(v)), row
    assert float(row['latest']) == float(v[-1][1]), row
print('same', len(got))"
assert_eq "$OUT" "same 44" "list" # 41 of the ECB's, EUR/KWD, USD/ARS, NOK/EUR
run 0 "$RT_BIN" rates list --currency usd
OUT=$(printf '%s\n' "$OUT" | tr -s ' ')
assert_contains "$OUT" "EUR USD 1999-01-04 2024-03-18 7 1.0892"
assert_contains "$OUT" "USD ARS 2024-03-15 2024-03-18 2 856"
assert_not_contains "$OUT" "JPY"
run 0 "$RT_BIN" rates list --format json --currency KWD
assert_contains "$OUT" '"latest": 0.3342'

# ---- convert, against exact fractions from the files ----
cat >expect.py <<'EOF'
import sys; sys.path.insert(0, '.'); from rates_of import ecb, long
from fractions import Fraction as F
import math
ECB, LONG, amount, frm, to, day = sys.argv[1:7]
R = list(ecb(ECB)) + list(long(LONG))
EXP = {"JPY": 0, "KWD": 3}
def latest(b, c):
    v = [(d, F(r)) for bb, cc, d, r in R if (bb, cc) == (b, c) and d <= day]
    return max(v)[1] if v else None
def rho(c):  # units of c per EUR: direct, or through the base it is quoted against
    if c == "EUR": return F(1)
    if latest("EUR", c) is not None: return latest("EUR", c)
    for b, cc, _, _ in R:
        if cc == c: return rho(b) * latest(b, c)
e_from, e_to = EXP.get(frm, 2), EXP.get(to, 2)
a = F(amount) * 10 ** e_from
x = a * rho(to) / rho(frm) * F(10) ** (e_to - e_from)
q = math.floor(abs(x) + F(1, 2)) * (1 if x >= 0 else -1)
s = str(abs(q)).rjust(e_to + 1, "0")
print(("-" if q < 0 else "") + (s[:-e_to] + "." + s[-e_to:] if e_to else s))
EOF
conv() { # AMOUNT FROM TO DAY
  local want
  want=$(python3 expect.py "$ECB" "$LONG" "$@")
  run 0 "$RT_BIN" rates convert "$1" "$2" "$3" --date "$4"
  assert_contains "$OUT" "$1 $2 = $want $3 on $4" "convert $*"
}
conv 100.00 USD JPY 2024-03-15
conv 100.00 USD JPY 2024-03-16   # Saturday: Friday's rates
conv 100.00 USD JPY 2024-03-17   # Sunday
conv 100.00 USD JPY 2024-03-18
conv 100.00 USD JPY 2030-06-01   # after the last rate: the last
conv -15.00 EUR JPY 2024-03-14   # an exact tie (-2425.5), away from zero
conv 1000.00 ARS GBP 2024-03-17  # ARS through USD
conv 1.234 KWD USD 2024-03-16    # three decimals
conv 5000 JPY KWD 2024-03-18
conv 100.00 CYP GBP 2019-04-09   # 1999's CYP rate is still the latest
conv 12.34 GBP USD 1999-01-05
run 0 "$RT_BIN" rates convert 6.01 CHF HUF --date 2024-03-14 --format json
assert_contains "$OUT" '"result": "2468.13"' # 2468.125 exactly
assert_contains "$OUT" '"result_minor": 246813'
# a currency into itself, with or without rates
run 0 "$RT_BIN" rates convert 5 XYZ xyz --date 2024-01-01
assert_contains "$OUT" "5.00 XYZ = 5.00 XYZ"
# no rate on or before the day: an answer of its own, not a guess
run 1 "$RT_BIN" rates convert 1 USD EUR --date 1998-12-31
assert_contains "$ERR" "no exchange rate for USD on or before 1998-12-31: the EUR/USD rates start on 1999-01-04"
run 1 "$RT_BIN" rates convert 1 ARS EUR --date 2024-03-14
assert_contains "$ERR" "no exchange rate for ARS on or before 2024-03-14: the USD/ARS rates start on 2024-03-15"
run 1 "$RT_BIN" rates convert 1 XAU EUR --date 2024-03-14
assert_contains "$ERR" "no exchange rate for XAU: no rate mentions it"
run 2 "$RT_BIN" rates convert 1 USD EUR
assert_contains "$ERR" "--date"
run 2 "$RT_BIN" rates convert 1,5 USD EUR --date 2024-03-14
run 2 "$RT_BIN" rates convert 1 DOLLAR EUR --date 2024-03-14
run 2 "$RT_BIN" rates convert 1 USD EUR --date 2024-02-30

# ---- bad files: the place and the reason, exit 1, nothing stored ----
before="$(sql 'select count(*), sum(rate) from exchange_rates')|$(dv)"
check_bad() { # FILE CONTENT EXPECTED [import options]
  local f=$1 text=$2 want=$3
  shift 3
  printf "$text" >"$f"
  run 1 "$RT_BIN" rates import "$f" "$@"
  assert_contains "$ERR" "$want" "error for $f"
  assert_contains "$ERR" "no rates were imported from $f"
  assert_eq "$(sql 'select count(*), sum(rate) from exchange_rates')|$(dv)" "$before" "store after $f"
}
check_bad bad_rate.csv 'Date,USD,JPY,\n2024-04-02,1.09,160.1,\n2024-04-03,1.1,16O.2,\n' \
  "bad_rate.csv:3:3 (column 3 'JPY'): invalid rate '16O.2' (expected a decimal number like 1.0921)"
check_bad bad_date.csv 'Date,USD\n2024-04-02,1.09\n2024-04-31,1.1\n' \
  "bad_date.csv:3:1 (column 1 'Date'): invalid date '2024-04-31': day 31 out of range"
check_bad zero.csv 'date,currency,rate\n2024-04-02,USD,0\n' \
  "zero.csv:2:3 (column 3 'rate'): rate 0 is not above 0"
check_bad code.csv 'date,currency,rate\n2024-04-02,US$,1.1\n' \
  "code.csv:2:2 (column 2 'currency'): invalid currency 'US\$'"
check_bad header.csv 'Date,USD,Japanese yen\n' \
  "header.csv:1:3 (column 3 'Japanese yen'): not a currency code"
check_bad layout.csv 'when,what,how much\n' "layout.csv:1: cannot tell the layout"
check_bad short.csv 'Date,USD,JPY\n2024-04-02,1.09\n' "short.csv:2: 2 fields, but the header has 3"
check_bad self.csv 'Date,EUR,USD\n2024-04-02,1.2,1.1\n' \
  "self.csv:2:2 (column 2 'EUR'): the rate of EUR against itself must be 1, not 1.2"
run 1 "$RT_BIN" rates import missing.csv
assert_contains "$ERR" "missing.csv"

# --skip-bad: the good cells are stored, every bad one reported and written to the rejects file
printf 'Date,USD,JPY,\n2024-04-02,1.0811,x,\n2024-04-31,1.08,163,\n2024-04-03,N/A,163.2,\n' >mixed.csv
run 0 "$RT_BIN" rates import mixed.csv --skip-bad
assert_contains "$OUT" "stored 2 new"
assert_contains "$OUT" "skipped 2 bad cells"
assert_contains "$OUT" "mixed.csv:2:3 (column 3 'JPY'): invalid rate 'x'"
assert_contains "$OUT" "mixed.csv:3:1 (column 1 'Date'): invalid date '2024-04-31'"
assert_eq "$(sql "select count(*) from exchange_rates where source = 'mixed.csv'")" 2 "good cells"
assert_eq "$(head -1 mixed.csv.rejects.csv)" "line,reason,fields..." "rejects header"
assert_eq "$(sed -n 3p mixed.csv.rejects.csv)" \
  "3,\"invalid date '2024-04-31': day 31 out of range for 2024-04\",\"2024-04-31\",\"1.08\",\"163\",\"\"" \
  "a rejected row"
assert_eq "$(grep -c '' mixed.csv.rejects.csv)" 3 "rejects lines"

# --base, a delimiter and a date format
printf 'Date;CAD;MXN\n02.01.2024;1.3316;17.0105\n' >usd.csv
run 0 "$RT_BIN" rates import usd.csv --base usd --delimiter ';' --date-format '%d.%m.%Y'
assert_contains "$OUT" "2 rates of 2 currencies against USD, 2024-01-02 to 2024-01-02"
assert_eq "$(sql "select base, currency, rate from exchange_rates where currency = 'MXN' and base = 'USD'")" \
  "USD|MXN|17.0105" "--base"

# ---- usage ----
run 0 "$RT_BIN" rates --help
assert_contains "$OUT" "Usage: retain"
run 0 "$RT_BIN" rates import --help
run 0 "$RT_BIN" help rates
assert_contains "$OUT" "convert AMOUNT FROM TO"
run 2 "$RT_BIN" rates
run 2 "$RT_BIN" rates frobnicate
run 2 "$RT_BIN" rates import
run 2 "$RT_BIN" rates import x.csv --customer-col 2
run 2 "$RT_BIN" rates import x.csv --base EURO
run 2 "$RT_BIN" rates list --format xml
run 0 "$RT_BIN" --help
assert_contains "$OUT" "rates"
# a store without rates lists none, with a hint; no store is an error
printf 'customer_id,order_date,amount\na,2024-01-05,10\n' >o.csv
run 0 "$RT_BIN" --db empty.db import orders o.csv
run 0 "$RT_BIN" --db empty.db rates list
assert_contains "$OUT" "No exchange rates yet"
run 1 "$RT_BIN" --db none.db rates list
assert_contains "$ERR" "no store at 'none.db'"
# ---- the model converts with the stored rates ----
# A GBP store with USD and JPY orders: without rates the other currencies are left out, with a
# note naming them; with the ECB's rates every order counts, at the rate of its own day (the
# 2024-03-16 Saturday order at Friday's), and an order before any rate is still left out.
export RETAIN_DB="$T/shop.db"
cat >shop.csv <<'CSV'
order_id,customer_id,order_date,amount,currency
1,a,2024-03-14,100.00,GBP
2,a,2024-03-15,108.92,USD
3,b,2024-03-16,1000.00,USD
4,b,2024-03-18,16251,JPY
5,c,1990-01-01,50.00,USD
CSV
run 0 "$RT_BIN" import orders shop.csv --currency GBP
run 0 "$RT_BIN" --currency GBP report --format csv
assert_contains "$ERR" "4 orders and refunds in other currencies than GBP are left out (no exchange rate): 3 USD, 1 JPY"
run 0 "$RT_BIN" rates import "$ECB"
run 0 "$RT_BIN" --currency GBP features --customer b --format csv
# b: 1000 USD on 2024-03-16 at the 15th's rates (USD 1.0892, GBP 0.8541) and 16251 JPY on the
# 18th (JPY 162.51, GBP 0.85525), each rounded to the penny
WANT=$(python3 -c "
from decimal import Decimal as D, ROUND_HALF_UP as H
a = (D('100000') * D('0.8541') / D('1.0892')).quantize(D(1), H)
b = (D('16251') * 100 * D('0.85525') / D('162.51')).quantize(D(1), H)
print(f'{(a + b) / 100:.2f}')")
assert_eq "$(echo "$OUT" | awk -F, '$1 == "revenue" { print $NF }')" "$WANT" "b's revenue in GBP"
run 0 "$RT_BIN" --currency GBP report --format csv
assert_contains "$ERR" "1 orders and refunds in other currencies than GBP are left out (no exchange rate): 1 USD"
finish
