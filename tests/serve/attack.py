#!/usr/bin/env python3
"""attack.py MODE PORT [ARGS] — hostile clients for the hardening tests of imei-eird
(tests/serve/run), on 127.0.0.0/8 only, each bounded in time (at most ~15 s) and closing
its sockets at the end. Prints key=value lines for the test to check.

  slowloris PORT N SECONDS   N connections sending a request's header one byte every
                             0.3 s for up to SECONDS; prints answered_408 (connections
                             that got a 408), closed (connections the server ended) and
                             longest (seconds the longest one stayed open)
  h2-halfopen PORT N SECONDS [PATHLEN]
                             one HTTP/2 connection opening N streams whose HEADERS never
                             END_STREAM (a PATHLEN-byte query in each path); waits up to
                             SECONDS; prints resets (RST_STREAM frames received, any code),
                             refused (REFUSED_STREAM among them), internal
                             (INTERNAL_ERROR among them), goaway (1 if the server sent
                             GOAWAY), open (1 if the connection was still open at the end)
  nonreader PORT N SECONDS   pipelines N HTTP/1.1 requests and reads nothing for SECONDS,
                             then prints sent (bytes the server took from us) and
                             keeps the socket open until stdin closes (so the test can
                             look at the server side meanwhile)
  conns PORT N SRC           N connections from source address SRC, one request each;
                             prints answered and refused (closed or reset with no answer)
"""
import socket
import struct
import sys
import time


def connect(port, src=None, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def slowloris(port, n, seconds):
    req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    socks = [connect(port) for _ in range(n)]
    for s in socks:
        s.setblocking(False)
    state = [{"pos": 0, "reply": b"", "closed": False, "end": None} for _ in socks]
    start = time.time()
    while time.time() - start < seconds and not all(st["closed"] for st in state):
        for s, st in zip(socks, state):
            if st["closed"]:
                continue
            try:
                data = s.recv(65536)
                if data:
                    st["reply"] += data
                else:
                    st["closed"], st["end"] = True, time.time() - start
                    continue
            except BlockingIOError:
                pass
            except ConnectionResetError:
                st["closed"], st["end"] = True, time.time() - start
                continue
            if st["pos"] < len(req):
                try:
                    s.send(req[st["pos"]:st["pos"] + 1])
                    st["pos"] += 1
                except (BrokenPipeError, ConnectionResetError):
                    st["closed"], st["end"] = True, time.time() - start
        time.sleep(0.3)
    print("answered_408=%d" % sum(1 for st in state if b" 408 " in st["reply"]))
    print("closed=%d" % sum(1 for st in state if st["closed"]))
    print("longest=%.1f" % max((st["end"] if st["end"] is not None else seconds) for st in state))
    print("bytes_sent_max=%d" % max(st["pos"] for st in state))
    for s in socks:
        s.close()


def hpack_int(value, prefix_bits, first=0):
    # RFC 7541 5.1 integer representation
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(index, value):
    # literal header field without indexing, indexed name (RFC 7541 6.2.2)
    assert index < 15
    return bytes([index]) + hpack_int(len(value), 7) + value


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def h2_halfopen(port, n, seconds, pathlen=0):
    s = connect(port)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
    out = b""
    for i in range(n):
        sid = 2 * i + 1
        path = b"/health" + (b"?" + b"a" * pathlen if pathlen else b"")
        block = b"\x82\x86" + hpack_literal(4, path) + hpack_literal(1, b"x")  # GET http /health
        out += frame(1, 0x4, sid, block)  # HEADERS, END_HEADERS, no END_STREAM
    s.sendall(out)
    resets = refused = internal = goaway = 0
    buf = b""
    closed = False
    start = time.time()
    s.settimeout(0.5)
    while time.time() - start < seconds:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not data:
            closed = True
            break
        buf += data
        while len(buf) >= 9:
            length = int.from_bytes(buf[0:3], "big")
            if len(buf) < 9 + length:
                break
            ftype, payload = buf[3], buf[9:9 + length]
            if ftype == 4 and not (buf[4] & 1):  # SETTINGS: acknowledge
                s.sendall(frame(4, 1, 0, b""))
            if ftype == 3:
                resets += 1
                code = int.from_bytes(payload[0:4], "big")
                refused += code == 7
                internal += code == 2
            if ftype == 7:
                goaway = 1
            buf = buf[9 + length:]
        if resets >= n:
            break
    print("resets=%d" % resets)
    print("refused=%d" % refused)
    print("internal=%d" % internal)
    print("goaway=%d" % goaway)
    print("open=%d" % (0 if closed else 1))
    s.close()


def nonreader(port, n, seconds):
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    s.setblocking(False)
    sent = 0
    data = req * n
    start = time.time()
    while time.time() - start < seconds and sent < len(data):
        try:
            sent += s.send(data[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            break
    print("sent=%d" % sent)
    sys.stdout.flush()
    sys.stdin.read()  # hold the connection (unread) until the test is done looking
    s.close()


def conns(port, n, src):
    socks = []
    for _ in range(n):
        try:
            socks.append(connect(port, src))
        except OSError:
            socks.append(None)
    time.sleep(0.3)  # let the server decide on each
    answered = refused = 0
    for s in socks:
        if s is None:
            refused += 1
            continue
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = s.recv(65536)
            if data.startswith(b"HTTP/1.1 200"):
                answered += 1
            else:
                refused += 1
        except OSError:
            refused += 1
    print("answered=%d" % answered)
    print("refused=%d" % refused)
    for s in socks:
        if s is not None:
            s.close()


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "slowloris":
        slowloris(port, int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "h2-halfopen":
        h2_halfopen(port, int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    elif mode == "nonreader":
        nonreader(port, int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "conns":
        conns(port, int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("unknown mode " + mode)


main()
