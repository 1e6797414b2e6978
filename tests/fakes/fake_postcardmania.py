#!/usr/bin/env python3
"""fake_postcardmania.py: a fake of PostcardMania's DirectMail API v3 for fieldsync's tests.

It serves POST /auth/login (key and secret for a bearer token that
expires), POST /order/postcard and /order/letter (one order per
external reference number: a repeat answers 409), GET /order/{id},
GET /order?extRefNbr=, and DELETE /order/{id} (refused once the order
day's cutoff, 11:30 pm Eastern, has passed).  An order's status moves
with the fake's clock: Pending until the cutoff, then Processing, Mailing
a day later and Delivered three days after the cutoff; the admin API sets
any status (Undeliverable, Failed, ...).

What PostcardMania documents publicly is little (README-postcardmania.md
says what this fake assumes).  Python 3 standard library only; tests
steer it through /__admin.
"""

import argparse
import json
import signal
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from zoneinfo import ZoneInfo
    EASTERN = ZoneInfo("America/New_York")
except Exception:  # no tz database: Eastern Standard Time all year
    EASTERN = timezone(timedelta(hours=-5))

CUTOFF = (23, 30)
LOCK = threading.RLock()


def parse_time(s):
    if not isinstance(s, str):
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    def __init__(self, args):
        self.key, self.secret = args.key, args.secret
        self.token_ttl = args.token_ttl
        self.now = parse_time(args.now) if args.now else None
        self.tokens = {}   # token -> expiry
        self.ntokens = 0
        self.orders = []   # dicts, in creation order
        self.next_id = 1001
        self.faults = []
        self.requests = []
        self.log = open(args.log, "a") if args.log else None

    def clock(self):
        return self.now if self.now is not None else time.time()


def cutoff_of(created):
    """The order day's cutoff: 11:30 pm Eastern of the day the order was made,
    or of the next day for an order made after that day's cutoff."""
    local = datetime.fromtimestamp(created, EASTERN)
    cut = local.replace(hour=CUTOFF[0], minute=CUTOFF[1], second=0, microsecond=0)
    if cut.timestamp() < created:
        nxt = (local + timedelta(days=1)).date()
        cut = datetime(nxt.year, nxt.month, nxt.day, CUTOFF[0], CUTOFF[1], tzinfo=EASTERN)
    return cut.timestamp()


def status_at(order, now):
    if order.get("forced"):
        return order["forced"]
    cut = order["cutoff"]
    if now <= cut:
        return "Pending"
    if now <= cut + 86400:
        return "Processing"
    if now <= cut + 3 * 86400:
        return "Mailing"
    return "Delivered"


def shown(order, now):
    o = {k: v for k, v in order.items() if k not in ("forced", "cutoff", "create_count", "body")}
    o["status"] = status_at(order, now)
    return o


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-postcardmania/1"

    def log_message(self, *a):
        pass

    def answer(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        with LOCK:
            if self.entry is not None:
                self.entry["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self, method):
        st = self.server.st
        url = urllib.parse.urlsplit(self.path)
        raw = self.read_body()
        self.entry = None
        if url.path.startswith("/__admin"):
            return self.admin(method, url, raw)
        with LOCK:
            body_text = raw.decode("utf-8", "replace")
            if url.path == "/auth/login":
                try:
                    b = json.loads(body_text)
                    b["apiSecret"] = "REDACTED" if b.get("apiSecret") else b.get("apiSecret")
                    body_text = json.dumps(b)
                except ValueError:
                    pass
            self.entry = {"method": method, "path": url.path, "query": url.query, "body": body_text,
                          "auth": (self.headers.get("Authorization") or "")[:7], "at": iso(st.clock())}
            st.requests.append(self.entry)
            if st.log:
                st.log.write(json.dumps(self.entry) + "\n")
                st.log.flush()
            fault = None
            for f in st.faults:
                if f.get("path", url.path) == url.path and f.get("method", method) == method:
                    fault = f
                    f["count"] = f.get("count", 1) - 1
                    if f["count"] <= 0:
                        st.faults.remove(f)
                    break
        if fault and fault.get("hold"):
            time.sleep(fault["hold"])
        if fault and fault.get("when", "before") == "before" and "status" in fault:
            h = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else None
            return self.answer(fault["status"], {"message": fault.get("message", "fault")}, h)
        if url.path == "/auth/login" and method == "POST":
            return self.login(raw)
        with LOCK:
            tok = (self.headers.get("Authorization") or "")[7:]
            exp = st.tokens.get(tok)
            if exp is None or exp <= st.clock():
                return self.answer(401, {"message": "Unauthorized: the token is missing or expired"})
            rc = self.route(method, url, raw)
        if fault and fault.get("when") == "after":
            if fault.get("status") == 0:
                self.close_connection = True
                self.wfile.flush()
                return
            return self.answer(fault["status"], {"message": "fault after the work"})
        return self.answer(*rc)

    def login(self, raw):
        st = self.server.st
        try:
            b = json.loads(raw)
        except ValueError:
            return self.answer(400, {"message": "invalid JSON"})
        if b.get("apiKey") != st.key or b.get("apiSecret") != st.secret:
            return self.answer(401, {"message": "invalid apiKey or apiSecret"})
        with LOCK:
            st.ntokens += 1
            tok = "tok_%d" % st.ntokens
            st.tokens[tok] = st.clock() + st.token_ttl
            return self.answer(200, {"token": tok, "expires": iso(st.tokens[tok])})

    def route(self, method, url, raw):
        st = self.server.st
        now = st.clock()
        parts = url.path.strip("/").split("/")
        if method == "POST" and parts[0] == "order" and len(parts) == 2 and parts[1] in ("postcard", "letter"):
            try:
                b = json.loads(raw)
            except ValueError:
                return 400, {"message": "invalid JSON"}
            errors = []
            ref = b.get("extRefNbr")
            recips = b.get("recipients")
            if not isinstance(recips, list) or not recips:
                errors.append("recipients: at least one is required")
            else:
                for i, r in enumerate(recips):
                    for k in ("address", "city", "state", "zipCode"):
                        if not (isinstance(r, dict) and r.get(k)):
                            errors.append("recipients[%d].%s is required" % (i, k))
            if parts[1] == "postcard" and not b.get("designID") and not (b.get("front") and b.get("back")):
                errors.append("designID, or front and back, is required")
            if parts[1] == "letter" and not b.get("letter") and not b.get("designID"):
                errors.append("letter (or designID) is required")
            if b.get("mailClass", "FirstClass") not in ("FirstClass", "Standard"):
                errors.append("mailClass must be FirstClass or Standard")
            if errors:
                return 400, {"message": "validation failed", "errors": errors}
            for o in st.orders:
                if ref and o["extRefNbr"] == ref:
                    o["create_count"] += 1
                    return 409, {"message": "an order with extRefNbr %s exists" % ref}
            o = {"orderID": st.next_id, "extRefNbr": ref, "type": parts[1], "orderDate": iso(now),
                 "recordCount": len(recips), "mailClass": b.get("mailClass", "FirstClass"),
                 "cutoff": cutoff_of(now), "create_count": 1, "body": b}
            st.next_id += 1
            st.orders.append(o)
            return 200, shown(o, now)
        if parts[0] == "order" and len(parts) == 1 and method == "GET":
            q = urllib.parse.parse_qs(url.query)
            ref = q.get("extRefNbr", [None])[0]
            res = [shown(o, now) for o in st.orders if ref is None or o["extRefNbr"] == ref]
            return 200, {"results": res, "pagination": {"page": 1, "totalResults": len(res)}}
        if parts[0] == "order" and len(parts) == 2:
            o = next((o for o in st.orders if str(o["orderID"]) == parts[1]), None)
            if o is None:
                return 404, {"message": "order %s not found" % parts[1]}
            if method == "GET":
                return 200, shown(o, now)
            if method == "DELETE":
                s = status_at(o, now)
                if s == "Canceled":
                    return 200, shown(o, now)
                if s != "Pending":
                    return 400, {"message": "order %s can no longer be canceled: it is %s (the cutoff was %s)"
                                 % (o["orderID"], s, iso(o["cutoff"]))}
                o["forced"] = "Canceled"
                return 200, shown(o, now)
        return 404, {"message": "no route %s %s" % (method, url.path)}

    def admin(self, method, url, raw):
        st = self.server.st
        b = json.loads(raw) if raw else {}
        p = url.path[len("/__admin"):]
        with LOCK:
            if p == "/clock" and method == "POST":
                st.now = parse_time(b["now"])
                return self.answer(200, {"now": iso(st.clock())})
            if p == "/faults" and method == "POST":
                st.faults.extend(b if isinstance(b, list) else [b])
                return self.answer(200, {"faults": st.faults})
            if p == "/faults" and method == "GET":
                return self.answer(200, {"faults": st.faults})
            if p == "/requests":
                return self.answer(200, {"data": st.requests})
            if p == "/orders" and method == "GET":
                return self.answer(200, {"data": [dict(shown(o, st.clock()), create_count=o["create_count"],
                                                       body=o["body"]) for o in st.orders]})
            if p.startswith("/orders/") and method == "POST":
                o = next((o for o in st.orders if str(o["orderID"]) == p.split("/")[2]), None)
                if o is None:
                    return self.answer(404, {"message": "no such order"})
                o["forced"] = b.get("status")
                return self.answer(200, shown(o, st.clock()))
            if p == "/tokens/expire" and method == "POST":
                for t in st.tokens:
                    st.tokens[t] = 0
                return self.answer(200, {"expired": len(st.tokens)})
            if p == "/stats":
                return self.answer(200, {"requests": len(st.requests), "orders": len(st.orders),
                                         "logins": st.ntokens})
        return self.answer(404, {"message": "no admin route"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--key", default="pcm_key")
    ap.add_argument("--secret", default="pcm_secret")
    ap.add_argument("--token-ttl", type=int, default=86400, help="seconds a token lasts (default a day)")
    ap.add_argument("--now", help="the fake's clock, frozen (RFC 3339); default the real clock")
    args = ap.parse_args(argv)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.st = State(args)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    # Started in the background by a non-interactive shell (a CI run under
    # nohup, say), SIGINT arrives ignored: stop on it, and on SIGTERM, anyway.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
