#!/usr/bin/env python3
"""rawsock.py PORT DATA [DATA2 --signal PID] — send raw bytes to 127.0.0.1:PORT and print
what comes back, for the service tests (tests/serve/run): garbage, partial and pipelined
requests that curl will not send. DATA is a Python bytes expression (test input only).
With --signal PID: send DATA, send SIGTERM to PID, wait a moment, then send DATA2 (a
request in flight during a graceful stop). Prints the reply (latin-1) and a last line
"=> closed" when the server closed the connection, "=> open" when it was still open after
the timeout (5 s), or "=> reset" on a connection reset."""
import os
import signal
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    pid = None
    if "--signal" in args:
        i = args.index("--signal")
        pid = int(args[i + 1])
        del args[i:i + 2]
    port = int(args[0])
    chunks = [eval(a, {}, {}) for a in args[1:]]  # noqa: S307 - trusted test input
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(chunks[0])
    if pid is not None:
        time.sleep(0.3)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
    for c in chunks[1:]:
        s.sendall(c)
    out = b""
    state = "open"
    deadline = time.time() + 5
    try:
        while time.time() < deadline:
            s.settimeout(max(0.1, deadline - time.time()))
            b = s.recv(65536)
            if not b:
                state = "closed"
                break
            out += b
    except socket.timeout:
        pass
    except ConnectionResetError:
        state = "reset"
    sys.stdout.write(out.decode("latin-1"))
    sys.stdout.write("\n=> %s\n" % state)


main()
