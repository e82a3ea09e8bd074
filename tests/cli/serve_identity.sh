# An anonymous visitor who identifies: an identify (or any call) carrying both anonymousId and
# userId attaches the visitor's profile to the user - its earlier events move to the user, the
# link is recorded with its reason and can be undone - and later events under the anonymousId
# alone reach the user. Two identified customers are never merged automatically.
. "$(dirname "$0")/lib/assert.bash"
. "$(dirname "$0")/lib/serve.bash"
KEY=$("$RT_BIN" keys create --scope write 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
ADMIN=$("$RT_BIN" keys create --scope admin 2>/dev/null)
serve_start
W=(-u "$KEY:")
api POST /v1/page '{"anonymousId":"anon-1","name":"Home","messageId":"p1"}' "${W[@]}"
api POST /v1/track '{"anonymousId":"anon-1","event":"Added to Cart","messageId":"t1"}' "${W[@]}"
assert_eq "$CODE" 200
assert_eq "$(sql "select count(*) from customers where ext_id = 'anon:anon-1'")" 1 "the visitor's profile"
api POST /v1/identify '{"anonymousId":"anon-1","userId":"ann","traits":{"email":"ann@example.com"},"messageId":"i1"}' "${W[@]}"
assert_eq "$CODE" 200 "identify with both ids"
api GET /v1/customers/ann "" -u "$READ:"
assert_eq "$(echo "$BODY_OUT" | jq .events)" 3 "the visitor's two events and the identify are ann's"
assert_contains "$(echo "$BODY_OUT" | jq -c '[.identities[] | select(.kind == "anonymous") | .value]')" '"anon-1"'
# the visitor's profile is merged into ann, with the reason
api GET /v1/customers/anon:anon-1 "" -u "$READ:"
assert_eq "$(echo "$BODY_OUT" | jq -r .merged_into)" "$(sql "select id from customers where ext_id = 'ann'")" "merged into ann"
assert_contains "$(sql "select reason from merges order by id desc limit 1")" "the anonymous visitor identified"
# later events under the anonymousId alone reach ann
api POST /v1/track '{"anonymousId":"anon-1","event":"Viewed","messageId":"t2"}' "${W[@]}"
api GET /v1/customers/ann "" -u "$READ:"
assert_eq "$(echo "$BODY_OUT" | jq .events)" 4 "a later anonymous event is ann's"
# two identified customers are never merged: bob arrives on ann's device (her anonymousId)
api POST /v1/identify '{"anonymousId":"anon-1","userId":"bob","messageId":"i2"}' "${W[@]}"
assert_eq "$CODE" 200
assert_eq "$(sql "select count(*) from customers where merged_into is not null")" 1 "only the visitor was merged"
api GET /v1/customers/bob "" -u "$READ:"
assert_eq "$(echo "$BODY_OUT" | jq .events)" 1 "bob has his identify only"
# undone: the visitor's events go back
api POST /v1/customers/anon:anon-1/unmerge "" -u "$ADMIN:"
assert_eq "$CODE" 200 "unmerge"
api GET /v1/customers/ann "" -u "$READ:"
assert_eq "$(echo "$BODY_OUT" | jq .events)" 2 "ann keeps her identify and the later event"
# and undone for good: the next call carrying both ids does not merge them again
api POST /v1/track '{"anonymousId":"anon-1","userId":"ann","event":"Viewed","messageId":"t3"}' "${W[@]}"
assert_eq "$CODE" 200
assert_eq "$(sql "select count(*) from customers where merged_into is not null")" 0 "kept apart after the unmerge"
kill -TERM $PID
wait $PID || fail "the server exited with $?"
finish
