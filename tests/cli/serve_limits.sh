# `retain serve --request-timeout 1` against slow clients, with raw sockets (python3): a body
# that completes after the timeout is answered 408 with a JSON error; one still arriving after
# it, and one that stalls, are closed within about the timeout (libmicrohttpd cannot answer
# while a body is incomplete, see docs/SERVER.md); neither stores anything, and the server
# keeps serving.
. "$(dirname "$0")/lib/assert.bash"
KEY=$("$RT_BIN" keys create --scope write 2>/dev/null)
READ=$("$RT_BIN" keys create --scope read 2>/dev/null)
"$RT_BIN" serve --listen 127.0.0.1:0 --request-timeout 1 >serve.out 2>serve.err &
PID=$!
for _ in $(seq 100); do grep -q listening serve.out 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' serve.out)
[ -n "$PORT" ] || { cat serve.err >&2; fail "the server did not start"; finish; }

# slow MODE: sends a track request's headers with its Content-Length, then the body as MODE
# says; prints the seconds until the server answered or closed, and what it answered
cat >slow.py <<'PY'
import base64, socket, sys, time
port, key, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = b'{"userId":"slow","event":"A","messageId":"slow-%s"}' % mode.encode()
s = socket.create_connection(("127.0.0.1", port))
auth = base64.b64encode((key + ":").encode()).decode()
s.sendall(("POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
           % (auth, len(body))).encode())
t0 = time.time()
try:
    if mode == "late":      # three pieces 0.6 s apart: complete after 1.2 s, never idle 1 s
        for piece in (body[:10], body[10:20], body[20:]):
            s.sendall(piece)
            time.sleep(0.6)
    elif mode == "trickle":  # a byte every 0.3 s: would take 15 s
        for b in body:
            s.sendall(bytes([b]))
            time.sleep(0.3)
    # "stall": nothing more
except OSError:
    pass
s.settimeout(10)
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except OSError:
    pass
print("%.1f %s" % (time.time() - t0, data.decode(errors="replace").replace("\r\n", " ")))
PY

run 0 python3 slow.py "$PORT" "$KEY" late
assert_contains "$OUT" "HTTP/1.1 408" "a body completed after the timeout"
assert_contains "$OUT" '{"error":{"code":"timeout","message":"the request took longer than 1 s to arrive"}}'
for mode in stall trickle; do
  run 0 python3 slow.py "$PORT" "$KEY" $mode
  assert_eq "${OUT#* }" "" "$mode: closed without an answer"
  CHECKS=$((CHECKS + 1))
  awk -v t="${OUT%% *}" 'BEGIN { exit !(t >= 0.9 && t < 3) }' || fail "$mode: closed after ${OUT%% *} s"
done
assert_eq "$(sql "select count(*) from events where ext_id like 'slow-%'")" 0 "nothing stored"
# a prompt request is still served, and the three were logged as 408
CHECKS=$((CHECKS + 1))
[ "$(curl -s -o /dev/null -w '%{http_code}' -u "$KEY:" --data-binary '{"userId":"ok","event":"A"}' "http://127.0.0.1:$PORT/v1/track")" = 200 ] || fail "a prompt request"
run 0 curl -sf -u "$READ:" "http://127.0.0.1:$PORT/metrics"
assert_contains "$OUT" 'retain_http_requests_total{method="POST",route="/v1/track",status="408"} 3'
assert_eq "$(grep -c '"status":408' serve.err)" 3 "408s in the log"
kill -TERM $PID
wait $PID || true
run 2 "$RT_BIN" serve --request-timeout 0
assert_contains "$ERR" "--request-timeout: request_timeout wants a whole number from 1 to 3600"
finish
