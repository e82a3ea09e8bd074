-- SQLite: the CSV imported into a typed table (integer customer ids, real amounts: what a user
-- who declares the schema gets; an untyped `.import` keeps every value as text and makes the
-- join and the grouping compare strings), then the monthly cohort matrix in SQL. bench/cohorts.py
-- writes the file's path in place of :file (the shell does not substitute parameters in dot
-- commands).
CREATE TABLE orders(order_id TEXT, customer_id INTEGER, order_date TEXT, amount REAL,
                    currency TEXT);
.import --csv --skip 1 :file orders
.headers on
.mode csv
WITH o AS (
  SELECT customer_id, CAST(substr(order_date, 1, 4) AS INT) * 12 + CAST(substr(order_date, 6, 2) AS INT) - 1 AS m,
         amount
  FROM orders WHERE amount >= 0),
f AS (SELECT customer_id, min(m) AS c FROM o GROUP BY customer_id)
SELECT printf('%d-%02d', f.c / 12, f.c % 12 + 1) AS cohort, o.m - f.c AS period,
       count(DISTINCT o.customer_id) AS customers, printf('%.2f', sum(o.amount)) AS revenue
FROM o JOIN f USING (customer_id)
GROUP BY f.c, o.m - f.c ORDER BY f.c, period;
