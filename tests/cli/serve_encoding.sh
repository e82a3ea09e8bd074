# Compressed request bodies (`Content-Encoding: gzip` or `deflate`, as RudderStack's Node SDK
# sends by default): inflated with zlib under the same size limit, measured after inflation -
# a zip bomb is 413 and stores nothing; damaged data is 400; other encodings 415.
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
KEY=$("$RT_BIN" keys create --scope write 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
python3 - <<'PY'
import gzip, json, zlib
def batch(tag, n):
    return json.dumps({"batch": [{"type": "track", "userId": "u%d" % i, "event": "E",
                                  "messageId": "%s-%d" % (tag, i)} for i in range(n)]}).encode()
open("gzip.bin", "wb").write(gzip.compress(batch("g", 300)))
open("zlib.bin", "wb").write(zlib.compress(batch("z", 300)))
raw = zlib.compressobj(9, zlib.DEFLATED, -15)  # a bare deflate stream, as some clients send
open("raw.bin", "wb").write(raw.compress(batch("r", 300)) + raw.flush())
# 20 MB of blanks inside a valid batch: 20 KB compressed, far past the 1 MiB limit inflated
open("bomb.bin", "wb").write(gzip.compress(b'{"batch":[' + b" " * 20000000 +
                                           b'{"type":"track","userId":"b","event":"E"}]}'))
open("bad.bin", "wb").write(gzip.compress(batch("x", 10))[:-12] + b"garbage!")
PY
serve_start
post() { # FILE ENCODING
  api POST /v1/batch "" -u "$KEY:" -H "Content-Type: application/json" \
    -H "Content-Encoding: $2" --data-binary "@$1"
}
post gzip.bin gzip
assert_eq "$CODE" 200 "a gzip batch"
assert_eq "$(echo "$BODY_OUT" | jq .events)" 300
post zlib.bin deflate
assert_eq "$CODE" 200 "a deflate (zlib) batch"
post raw.bin deflate
assert_eq "$CODE" 200 "a bare deflate batch"
assert_eq "$(sql "select count(*) from events")" 900 "every event of the three"
post bomb.bin gzip
assert_eq "$CODE" 413 "a zip bomb"
assert_contains "$BODY_OUT" "the body inflates to more than 1048576 bytes"
post bad.bin gzip
assert_eq "$CODE" 400 "damaged gzip"
assert_contains "$BODY_OUT" "not valid gzip data"
post gzip.bin br
assert_eq "$CODE" 415 "an encoding it does not speak"
assert_eq "$(sql "select count(*) from customers where ext_id = 'b'")" 0 "nothing of the bomb stored"
assert_eq "$(sql "select count(*) from events")" 900 "nothing more stored"
BYTES=$(curl -s -u "$READ:" "$U/metrics" | sed -n 's/^retain_request_body_bytes //p')
assert_eq "$BYTES" 0 "no body memory held after"
kill -TERM $PID
wait $PID || fail "the server exited with $?"
finish
