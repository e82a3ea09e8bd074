// DuckDB (the @duckdb/node-api package) computing the monthly cohort matrix from the CSV with
// read_csv and SQL, on 2 threads. Prints cohort,period,customers,revenue.
import { DuckDBInstance } from '@duckdb/node-api';

const file = process.argv[2];
const threads = process.argv[3] || '2';
const db = await DuckDBInstance.create(':memory:', { threads });
const con = await db.connect();
const sql = `
WITH o AS (
  SELECT customer_id, year(order_date) * 12 + month(order_date) - 1 AS m, amount
  FROM read_csv('${file.replace(/'/g, "''")}', header = true)
  WHERE amount >= 0),
f AS (SELECT customer_id, min(m) AS c FROM o GROUP BY customer_id)
SELECT f.c // 12 AS y, f.c % 12 + 1 AS mo, o.m - f.c AS period,
       count(DISTINCT o.customer_id) AS customers, round(sum(o.amount), 2) AS revenue
FROM o JOIN f USING (customer_id)
GROUP BY ALL ORDER BY 1, 2, 3`;
const reader = await con.runAndReadAll(sql);
const out = ['cohort,period,customers,revenue'];
for (const r of reader.getRows()) {
  out.push(`${r[0]}-${String(r[1]).padStart(2, '0')},${r[2]},${r[3]},${Number(r[4]).toFixed(2)}`);
}
process.stdout.write(out.join('\n') + '\n');
