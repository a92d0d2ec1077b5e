#!/usr/bin/python3
"""stdnum_bench.py FILE — time python-stdnum's stdnum.imei.is_valid over the IMEIs in FILE
(one per line), best of 3 passes, CPU time; prints "valid=N rate_mps=R" (bench/identity_bench.lua
runs it in the same run as the other figures)."""
import sys
import time

try:
    from stdnum.imei import is_valid
except ImportError:
    print("python3-stdnum is not installed: run `make deps`")
    sys.exit(1)

with open(sys.argv[1]) as f:
    imeis = f.read().split()

best = None
for _ in range(3):
    t0 = time.process_time()
    n = 0
    for s in imeis:
        if is_valid(s):
            n += 1
    dt = time.process_time() - t0
    best = dt if best is None or dt < best else best
print("valid=%d rate_mps=%.4f" % (n, len(imeis) / best / 1e6))
