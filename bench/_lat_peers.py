import os, sys, time, json, atexit
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench import srp_peers
from bench.e2e_procs import now_ns
import srpfast.publishing as P
import srpfast.drivers.udp as U
T = {"flush0": [], "flush1": [], "read0": []}
of = P.Publisher.flush
def flush(self):
    if self._pending:
        T["flush0"].append(now_ns())
        of(self)
        T["flush1"].append(now_ns())
    else:
        of(self)
P.Publisher.flush = flush
orr = U.UDPDriver._on_readable
def onr(self):
    T["read0"].append(now_ns())
    orr(self)
U.UDPDriver._on_readable = onr
def dump():
    with open(f"/tmp/pf/lat_{sys.argv[1]}.json", "w") as f:
        json.dump(T, f)
atexit.register(dump)
srp_peers.main()
