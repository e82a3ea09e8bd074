# serve.bash - starting `retain serve` for a test and talking HTTP to it (sourced after
# assert.bash). serve_start ARGS... starts it on a free loopback port with those arguments and
# sets PID and U (its base URL); it waits until the customer model is loaded (/readyz).
serve_start() {
  "$RT_BIN" serve --listen 127.0.0.1:0 "$@" >"$T/serve.out" 2>>"$T/serve.err" &
  PID=$!
  for _ in $(seq 600); do grep -q listening "$T/serve.out" 2>/dev/null && break; sleep 0.05; done
  local port
  port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$T/serve.out")
  [ -n "$port" ] || { cat "$T/serve.err" >&2; fail "the server did not start"; finish; }
  U="http://127.0.0.1:$port"
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$U/readyz")" = 200 ] && return 0
    sleep 0.05
  done
  fail "the server never became ready: $(curl -s "$U/readyz")"
}

# api METHOD PATH [BODY] [curl options...]: sets CODE and BODY_OUT
api() {
  local method=$1 path=$2 body=${3:-}; shift 3 || shift $#
  CHECKS=$((CHECKS + 1))
  if [ -n "$body" ]; then
    BODY_OUT=$(curl -s -o /dev/stdout -w '\n%{http_code}' -X "$method" \
      -H 'Content-Type: application/json' --data-binary "$body" "$@" "$U$path")
  else
    BODY_OUT=$(curl -s -o /dev/stdout -w '\n%{http_code}' -X "$method" "$@" "$U$path")
  fi
  CODE=${BODY_OUT##*$'\n'}
  BODY_OUT=${BODY_OUT%$'\n'*}
}
