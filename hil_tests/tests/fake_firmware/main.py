# A stand-in firmware for testing the rig itself (not the product): speaks the sim-board protocol
# to the plant, closes the contactor when a card is shown with the EV in C, prints log lines like
# the real firmware, resets (exit 3) when a file `reset_now` appears, and honours `test_crash`.
import gc
import json
import os
import socket
import sys
import time

st = json.load(open("station.json"))
t0 = time.ticks_ms()


def log(level, msg):
    print(time.ticks_diff(time.ticks_ms(), t0), level, msg)


gc.collect()
log("INFO", f"HEAP_BASE alloc={gc.mem_alloc()}")
host, port = st["plant"].split(":")
s = socket.socket()
s.connect(socket.getaddrinfo(host, int(port))[0][-1])


def ask(req):
    s.write(json.dumps(req).encode() + b"\n")
    return json.loads(s.readline())


ask({"op": "hello", "id": st["id"]})
boots = 0
try:
    boots = int(open("boots").read())
except OSError:
    pass
open("boots", "w").write(str(boots + 1))
log("INFO", f"boot {boots + 1} id={st['id']}")
crash = st.get("test_crash")
if crash:
    log("WARN", "CRASHPOINT")
    while True:
        time.sleep(1)
heap_ms = st.get("heap_report_ms") or 0
last_heap = time.ticks_ms()
tx = False
start_wh = 0
while True:
    r = ask({"op": "get"})
    if r["tag"] and r["cp"] == "C" and not tx:
        ask({"op": "set", "contactor": 1, "lock": 1})
        tx = True
        start_wh = r["energy_wh"]
        log("INFO", f"TX start tag={r['tag']} meter={start_wh}")
    elif tx and r["cp"] != "C":
        ask({"op": "set", "contactor": 0, "lock": 0})
        tx = False
        log("INFO", f"TX stop meter={r['energy_wh']} delta={r['energy_wh'] - start_wh}")
    if heap_ms and time.ticks_diff(time.ticks_ms(), last_heap) >= heap_ms:
        last_heap = time.ticks_ms()
        gc.collect()
        log("INFO", f"HEAP alloc={gc.mem_alloc()}")
    try:
        os.stat("reset_now")
        os.remove("reset_now")
        log("INFO", "RESET")
        sys.exit(3)
    except OSError:
        pass
    time.sleep_ms(100)
