#!/usr/bin/env python3
"""Load generator for fs-hook: signed Lob-style webhooks at a fixed rate.

hook-load.py URL SECRET RATE SECONDS [CONCURRENCY] [IDS_FILE]
Open loop: request i is due at start + i/RATE; CONCURRENCY threads (50) send
them over keep-alive connections.  Latency is from the moment a request is
due to its answer, so a server that falls behind pays for its queue.
With RATE "seq", SECONDS is a count: that many requests one after another,
each sent when the last was answered (sparse traffic: every fs-hook opens
the state file alone).
Prints "sent ok p50_ms p99_ms"; IDS_FILE gets the ids answered 200.
"""
import hashlib, hmac, http.client, queue, sys, threading, time, urllib.parse, uuid

url, secret = sys.argv[1], sys.argv[2].encode()
seq = sys.argv[3] == "seq"
rate, secs = (0.0, 0.0) if seq else (float(sys.argv[3]), float(sys.argv[4]))
conc = 1 if seq else int(sys.argv[5]) if len(sys.argv) > 5 else 50
ids_file = sys.argv[6] if len(sys.argv) > 6 else None
u = urllib.parse.urlsplit(url)
n = int(sys.argv[4]) if seq else int(rate * secs)
start = time.monotonic() + 0.2
slots = queue.Queue()
for i in range(n):
    slots.put(None if seq else start + i / rate)
lat, ok_ids, lock = [], [], threading.Lock()
tag = uuid.uuid4().hex[:8]
counter = iter(range(n))

def worker():
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    while True:
        try:
            due = slots.get_nowait()
        except queue.Empty:
            return
        if due is None:
            due = time.monotonic()
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        with lock:
            k = next(counter)
        eid = "evt_%s_%06d" % (tag, k)
        body = ('{"id":"%s","event_type":{"id":"postcard.delivered"},"reference_id":"psc_%d"}' % (eid, k)).encode()
        ts = str(int(time.time() * 1000))
        sig = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        hdrs = {"Content-Type": "application/json", "Lob-Signature": sig, "Lob-Signature-Timestamp": ts}
        status = None
        for attempt in range(2):
            try:
                conn.request("POST", u.path, body, hdrs)
                r = conn.getresponse()
                r.read()
                status = r.status
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        done = time.monotonic()
        with lock:
            lat.append(done - due)
            if status == 200:
                ok_ids.append(eid)

threads = [threading.Thread(target=worker) for _ in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join()
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
if ids_file:
    with open(ids_file, "w") as f:
        f.write("\n".join(ok_ids) + ("\n" if ok_ids else ""))
print("%d %d %.1f %.1f" % (n, len(ok_ids), p(0.50), p(0.99)))
