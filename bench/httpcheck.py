"""The loopback HTTP workloads' readiness and page check, run inside the
container by bench/loopback.sh: waits until PORT on 127.0.0.1 accepts a
connection (failing when the server process PID exits first, or after 60 s),
then GETs / with http.client, as the host-side check does
(benchlib/network.py), and compares the body with FILE byte for byte.

Not busybox wget: it sends "Connection: close", and over runsc's loopback
(Debian's runsc of 2022-12) such a request to nginx never gets its answer
(nginx logs it as sent: 200, 799 bytes); http.client's keep-alive request,
as wrk's, is answered.

Usage: python3 httpcheck.py PID PORT FILE"""

import http.client
import socket
import sys
import time


def alive(pid):
    # An exited server stays a zombie of loopback.sh until it is waited for.
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except OSError:
        return False


def main():
    pid, port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
            break
        except OSError as e:
            if not alive(pid):
                sys.exit("the server exited before answering")
            if time.monotonic() > deadline:
                sys.exit(f"nothing listens on 127.0.0.1:{port} after 60 s (last: {e})")
            time.sleep(0.05)
    with open(path, "rb") as f:
        want = f.read()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read()
    finally:
        c.close()
    if r.status != 200 or body != want:
        sys.exit(f"GET / answered {r.status} with {len(body)} bytes, not the {len(want)} of {path}")


if __name__ == "__main__":
    main()
