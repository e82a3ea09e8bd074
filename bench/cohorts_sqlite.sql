-- SQLite: the monthly cohort matrix in SQL over a table imported from the CSV.
WITH o AS (
  SELECT customer_id, CAST(substr(order_date, 1, 4) AS INT) * 12 + CAST(substr(order_date, 6, 2) AS INT) - 1 AS m,
         CAST(amount AS REAL) AS amount
  FROM orders WHERE CAST(amount AS REAL) >= 0),
f AS (SELECT customer_id, min(m) AS c FROM o GROUP BY customer_id)
SELECT printf('%d-%02d', f.c / 12, f.c % 12 + 1) AS cohort, o.m - f.c AS period,
       count(DISTINCT o.customer_id) AS customers, printf('%.2f', sum(o.amount)) AS revenue
FROM o JOIN f USING (customer_id)
GROUP BY f.c, o.m - f.c ORDER BY f.c, period;
