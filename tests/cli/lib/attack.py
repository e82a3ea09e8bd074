#!/usr/bin/env python3
"""attack.py - hostile HTTP clients for the server tests (raw sockets, loopback only, bounded in
count and time). Each mode prints one line of JSON with what it saw.

  attack.py trickle PORT SRC N SECONDS
      N connections from address SRC, each sending a partial request line and then one more
      byte every 0.5 s for SECONDS (slowloris); prints how many were still open after each
      round of bytes, and at the end.
  attack.py legit PORT KEY N SECONDS
      N GET /healthz requests from 127.0.0.1 spread over SECONDS, each on a new connection with
      a 3 s deadline; prints how many were answered 200 and the slowest.
  attack.py early PORT KEY N LENGTH
      N POST /v1/track requests whose headers announce LENGTH bytes of body (KEY: "-" for no
      key), sending no body; prints the statuses answered within 3 s (None: no answer).
  attack.py bodies PORT N LENGTH SEND HOLD
      N concurrent POST /v1/track requests without a key, each announcing LENGTH bytes of body,
      sending SEND of them and holding the connection HOLD seconds; prints the statuses (None:
      no answer).
  attack.py raw PORT TEXT
      sends TEXT (Python escapes allowed) and prints the status line and body answered.
"""
import base64
import json
import socket
import sys
import threading
import time


def connect(port, src="127.0.0.1", timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_answer(s, deadline):
    """the status and body answered on s before deadline, or (None, '')"""
    data = b""
    try:
        while True:  # at least one look, however late: the answer may be waiting already
            s.settimeout(max(0.05, deadline - time.time()))
            d = s.recv(65536)
            if not d:
                break
            data += d
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                if len(body) >= length:
                    break
            if time.time() >= deadline:
                break
    except OSError:
        pass
    if not data.startswith(b"HTTP/"):
        return None, ""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def trickle(port, src, n, seconds):
    socks = []
    for _ in range(n):
        try:
            s = connect(port, src, 1.0)
            s.sendall(b"POST /v1/tr")
            socks.append(s)
        except OSError:
            pass
    end = time.time() + seconds
    alive = list(socks)
    rounds = []
    while time.time() < end and alive:
        time.sleep(0.5)
        still = []
        for s in alive:
            try:
                s.sendall(b"a")
                s.settimeout(0.001)
                try:
                    if s.recv(1) == b"":
                        raise OSError("closed")
                except socket.timeout:
                    pass
                still.append(s)
            except OSError:
                pass
        alive = still
        rounds.append(len(alive))
    print(json.dumps({"connected": len(socks), "open": rounds, "open_at_end": len(alive)}))
    for s in socks:
        s.close()


def legit(port, n, seconds):
    ok, slowest, statuses = 0, 0.0, []
    for i in range(n):
        t0 = time.time()
        status = None
        try:
            s = connect(port, "127.0.0.1", 3.0)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, _ = read_answer(s, t0 + 3.0)
            s.close()
        except OSError:
            pass
        statuses.append(status)
        slowest = max(slowest, time.time() - t0)
        ok += status == 200
        time.sleep(max(0.0, seconds / n - (time.time() - t0)))
    print(json.dumps({"ok": ok, "slowest": round(slowest, 2), "statuses": statuses}))


def auth_header(key):
    if key == "-":
        return ""
    return "Authorization: Basic %s\r\n" % base64.b64encode((key + ":").encode()).decode()


def early(port, key, n, length):
    socks = []
    for _ in range(n):
        s = connect(port)
        s.sendall(("POST /v1/track HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n" % (auth_header(key), length)).encode())
        socks.append(s)
    deadline = time.time() + 3.0
    out = [read_answer(s, deadline)[0] for s in socks]
    print(json.dumps({"statuses": out}))
    for s in socks:
        s.close()


def bodies(port, n, length, send, hold):
    """n connections without a key, each announcing length bytes of body and sending send of
    them, then holding the connection hold seconds (the server would keep what it buffered)"""
    out = [None] * n
    chunk = b"x" * 65536

    def one(i):
        try:
            s = connect(port, "127.0.0.1", 10.0)
            s.sendall(("POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n" % length).encode())
            sent = 0
            try:
                while sent < send:
                    k = min(len(chunk), send - sent)
                    s.sendall(chunk[:k])
                    sent += k
            except OSError:
                pass
            out[i] = read_answer(s, time.time() + hold)[0]
            time.sleep(max(0.0, hold - 0.1))
            s.close()
        except OSError:
            pass

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"statuses": out}))


def raw(port, text):
    s = connect(port)
    s.sendall(text.encode("latin-1").decode("unicode_escape").encode("latin-1"))
    status, body = read_answer(s, time.time() + 3.0)
    print(json.dumps({"status": status, "body": body}))


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    a = sys.argv[3:]
    if mode == "trickle":
        trickle(port, a[0], int(a[1]), float(a[2]))
    elif mode == "legit":
        legit(port, int(a[1]), float(a[2]))
    elif mode == "early":
        early(port, a[0], int(a[1]), int(a[2]))
    elif mode == "bodies":
        bodies(port, int(a[0]), int(a[1]), int(a[2]), float(a[3]))
    elif mode == "raw":
        raw(port, a[0])
    else:
        sys.exit("unknown mode " + mode)
