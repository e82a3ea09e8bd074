// DuckDB (the @duckdb/node-api package, 2 threads) as a peer for bench/segments.py: the
// features CSV loaded into an in-memory table with its types declared, then the segment's WHERE
// clause as SELECT count(*), timed in the process (loading excluded, as for the other peers).
// DuckDB is a column store with vectorised scans: the peer closest to what retain's rule
// engine does, where SQLite and PostgreSQL are row stores answering through an index.
//
// Usage: node segments_duckdb.mjs features.csv runs "WHERE clause"   (prints JSON)
import { DuckDBInstance } from '@duckdb/node-api';

const [file, runs, where] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: '2' });
const con = await db.connect();
await con.run(`CREATE TABLE features AS SELECT * FROM read_csv('${file.replace(/'/g, "''")}',
  header = true, auto_detect = false, delim = ',', quote = '"',
  columns = {'customer_id': 'VARCHAR', 'orders': 'INTEGER', 'days_since_last_order': 'INTEGER',
             'net_revenue': 'DOUBLE'})`);
const times = [];
let n = null;
for (let r = 0; r < Number(runs); r++) {
  const t0 = process.hrtime.bigint();
  const reader = await con.runAndReadAll(`SELECT count(*) FROM features WHERE ${where}`);
  n = Number(reader.getRows()[0][0]);
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ ms: times[times.length >> 1], min: times[0],
                                      max: times[times.length - 1], n }) + '\n');
