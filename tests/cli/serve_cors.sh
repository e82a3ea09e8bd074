# Browsers: CORS for the origins `retain serve --cors-origin` names (none by default), and the
# write key inside a text/plain body as `writeKey`, as Segment's analytics.js sends it from a
# page (no preflight). Without an allowed Origin a body key counts for nothing: such requests
# are refused from their headers, before the body is read (docs/SECURITY.md).
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
KEY=$("$RT_BIN" keys create --scope write 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
headers() { curl -s -o /dev/null -D - "$@" | tr -d '\r'; }

# no origins configured: no CORS at all
serve_start
H=$(headers -X OPTIONS -H "Origin: https://shop.example" "$U/v1/batch")
assert_contains "$H" "HTTP/1.1 403" "a preflight with no origins configured"
assert_not_contains "$H" "Access-Control-Allow-Origin"
kill -TERM $PID; wait $PID || true

serve_start --cors-origin https://shop.example --cors-origin http://localhost:3000
H=$(headers -X OPTIONS -H "Origin: https://shop.example" -H "Access-Control-Request-Method: POST" \
  -H "Access-Control-Request-Headers: content-type" "$U/v1/batch")
assert_contains "$H" "HTTP/1.1 204"
assert_contains "$H" "Access-Control-Allow-Origin: https://shop.example"
assert_contains "$H" "Vary: Origin"
assert_contains "$H" "Access-Control-Allow-Methods: GET, POST, PUT, DELETE, OPTIONS"
assert_contains "$H" "Access-Control-Allow-Headers: Authorization, Content-Type, Content-Encoding"
H=$(headers -X OPTIONS -H "Origin: https://evil.example" "$U/v1/batch")
assert_contains "$H" "HTTP/1.1 403" "another origin"
assert_not_contains "$H" "Access-Control-Allow-Origin"

# analytics.js from a page: text/plain, the key as writeKey in the body
api POST /v1/batch "{\"writeKey\":\"$KEY\",\"batch\":[{\"type\":\"track\",\"userId\":\"web1\",\"event\":\"Viewed\",\"messageId\":\"w1\"}]}" \
  -H "Origin: http://localhost:3000" -H "Content-Type: text/plain"
assert_eq "$CODE" 200 "a batch with its writeKey in the body"
H=$(headers -H "Origin: http://localhost:3000" -H "Content-Type: text/plain" \
  --data-binary "{\"writeKey\":\"$KEY\",\"userId\":\"web1\",\"event\":\"Viewed\",\"messageId\":\"w2\"}" "$U/v1/track")
assert_contains "$H" "Access-Control-Allow-Origin: http://localhost:3000" "the answer names the origin"
assert_eq "$(sql "select count(*) from events where ext_id in ('w1','w2')")" 2 "both stored"
api POST /v1/track '{"writeKey":"wk_wrong","userId":"web1","event":"Viewed","messageId":"w3"}' \
  -H "Origin: https://shop.example" -H "Content-Type: text/plain"
assert_eq "$CODE" 401 "a wrong writeKey"
assert_contains "$BODY_OUT" "writeKey in the body"
api POST /v1/track "{\"writeKey\":\"$READ\",\"userId\":\"web1\",\"event\":\"Viewed\",\"messageId\":\"w4\"}" \
  -H "Origin: https://shop.example" -H "Content-Type: text/plain"
assert_eq "$CODE" 403 "a read key in the body"
# from an origin not allowed (or none), a body key is not looked at: 401 from the headers
api POST /v1/track "{\"writeKey\":\"$KEY\",\"userId\":\"web1\",\"event\":\"Viewed\",\"messageId\":\"w5\"}" \
  -H "Origin: https://evil.example" -H "Content-Type: text/plain"
assert_eq "$CODE" 401 "another origin's body key"
api POST /v1/track "{\"writeKey\":\"$KEY\",\"userId\":\"web1\",\"event\":\"Viewed\",\"messageId\":\"w6\"}" \
  -H "Content-Type: text/plain"
assert_eq "$CODE" 401 "no origin"
assert_eq "$(sql "select count(*) from events where ext_id in ('w3','w4','w5','w6')")" 0 "none of those stored"
# reads answer allowed origins too (a dashboard on that origin, with a read key)
H=$(headers -u "$READ:" -H "Origin: https://shop.example" "$U/v1/metrics")
assert_contains "$H" "Access-Control-Allow-Origin: https://shop.example" "a read"
kill -TERM $PID
wait $PID || fail "the server exited with $?"
finish
