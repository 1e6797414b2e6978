#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_lob.py, printing TAP.

Starts the fake on port 0 as a subprocess and talks to it with urllib only.
When scripts/prism can start Prism (npm reachable, or Prism already in the
cache), the same valid and invalid postcard bodies also go to Prism, to
check that the fake and Lob's published spec agree; otherwise those test
points are reported as "# SKIP".

    python3 tests/fakes/test_fake_lob.py      (or: prove -e python3 ...)

Environment: FS_TEST_NO_PRISM=1 skips the Prism points without trying.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
FAKE = os.path.join(HERE, "fake_lob.py")
PRISM = os.path.join(TOP, "scripts", "prism")
KEY = "test_key"

results = []


def ok(cond, name, diag=None):
    results.append(bool(cond))
    n = len(results)
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:20]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def skip(name, why):
    results.append(True)
    print("ok %d - %s # SKIP %s" % (len(results), name, why))
    sys.stdout.flush()


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def h(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def call(base, method, path, body=None, key=KEY, headers=None, form=False, timeout=10):
    h = dict(headers or {})
    data = None
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif isinstance(body, (bytes, str)):
            data = body.encode() if isinstance(body, str) else body
            h.setdefault("Content-Type", "application/json")
        else:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
    if key is not None:
        h["Authorization"] = "Basic " + base64.b64encode((key + ":").encode()).decode()
    req = urllib.request.Request(base + path, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, r.getheaders(), r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers.items(), e.read())


def admin(base, method, path, body=None):
    r = call(base, method, "/__admin" + path, body, key=None)
    return r.json()


def postcard(**over):
    b = {
        "description": "fs test",
        "to": {"name": "Jane Doe", "address_line1": "185 Berry St", "address_line2": "Ste 6100",
               "address_city": "San Francisco", "address_state": "CA", "address_zip": "94107"},
        "front": "tmpl_front1",
        "back": "<html><body>Thanks {{name}}</body></html>",
        "use_type": "marketing",
        "merge_variables": {"name": "Jane"},
        "metadata": {"fs_event": "evt_0001", "campaign": "thank-you"},
    }
    for k, v in over.items():
        if v is None and k in b:
            del b[k]
        else:
            b[k] = v
    return b


class Receiver(BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        Receiver.got.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def start_fake(tmp):
    portfile = os.path.join(tmp, "lob.port")
    log = os.path.join(tmp, "lob.log")
    p = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", portfile,
                          "--key", KEY, "--log", log],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(100):
        if os.path.exists(portfile):
            break
        if p.poll() is not None:
            break
        time.sleep(0.05)
    with open(portfile) as f:
        port = int(f.read().strip())
    return p, port, log


def start_prism(tmp):
    """Start scripts/prism in the background; returns a function that waits
    for it and gives (port, pidfile) or (None, reason)."""
    if os.environ.get("FS_TEST_NO_PRISM"):
        return lambda: (None, "FS_TEST_NO_PRISM is set")
    if not os.access(PRISM, os.X_OK):
        return lambda: (None, "scripts/prism not found")
    portfile = os.path.join(tmp, "prism.port")
    pidfile = os.path.join(tmp, "prism.pid")
    logfile = os.path.join(tmp, "prism.log")
    p = subprocess.Popen([PRISM, "start", portfile, logfile, pidfile],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait():
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            return None, "Prism did not start within 60 s"
        if p.returncode == 77:
            return None, "Prism not available: " + err.decode(errors="replace").strip().splitlines()[-1]
        if p.returncode != 0:
            return None, "scripts/prism start failed (%d)" % p.returncode
        with open(portfile) as f:
            return int(f.read().strip()), pidfile
    return wait


def main():
    tmp = tempfile.mkdtemp(prefix="fake_lob_test.")
    prism_wait = start_prism(tmp)
    fake, port, logfile = start_fake(tmp)
    base = "http://127.0.0.1:%d" % port
    try:
        run(base, logfile)
        run_prism(prism_wait, tmp)
    finally:
        if fake.poll() is None:
            fake.send_signal(signal.SIGTERM)
            try:
                fake.wait(timeout=5)
            except subprocess.TimeoutExpired:
                fake.kill()
    ok(fake.returncode == 0, "fake exits 0 on SIGTERM", "exit %s" % fake.returncode)
    shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(results))
    failed = results.count(False)
    if failed:
        print("# %d of %d failed" % (failed, len(results)))
    sys.exit(1 if failed else 0)


def run(base, logfile):
    # -- auth --
    r = call(base, "GET", "/postcards", key=None)
    ok(r.status == 401 and r.json() == {"error": {"message": "Missing authentication",
                                                   "status_code": 401, "code": "unauthorized"}},
       "401 with Lob's error shape without auth", r.body)
    r = call(base, "GET", "/v1/postcards", key="wrong_key")
    ok(r.status == 401 and r.json()["error"]["code"] == "unauthorized", "401 with a wrong key", r.body)

    # -- create --
    before = int(time.time())
    r = call(base, "POST", "/v1/postcards", postcard(), headers={"Idempotency-Key": "key-1"})
    pc = r.json() or {}
    ok(r.status == 200 and pc.get("object") == "postcard" and len(pc.get("id", "")) == 28
       and pc["id"].startswith("psc_") and pc["to"]["id"].startswith("adr_")
       and pc["to"]["name"] == "JANE DOE" and pc["metadata"]["fs_event"] == "evt_0001"
       and pc["tracking_events"] == [] and pc["carrier"] == "USPS" and pc["size"] == "4x6"
       and pc["use_type"] == "marketing" and pc["front_template_id"] == "tmpl_front1",
       "create postcard: 200 with a psc_ object", r.body)
    ok(r.h("X-Rate-Limit-Limit") == "150" and r.h("X-Rate-Limit-Remaining") is not None
       and int(r.h("X-Rate-Limit-Reset")) >= before,
       "rate-limit headers on a create", r.headers)
    first_id = pc.get("id")

    r = call(base, "POST", "/postcards", postcard(to=None))
    ok(r.status == 422 and r.json() == {"error": {"message": "to is required", "status_code": 422,
                                                   "code": "invalid"}},
       "422 naming the missing field 'to'", r.body)
    r = call(base, "POST", "/postcards", postcard(use_type=None))
    ok(r.status == 422 and "use_type" in r.json()["error"]["message"], "422 when use_type is missing", r.body)
    bad_to = postcard()["to"]
    bad_to["address_zip"] = "9410"
    r = call(base, "POST", "/postcards", postcard(to=bad_to))
    ok(r.status == 422 and "to.address_zip" in r.json()["error"]["message"], "422 on a bad US zip", r.body)
    r = call(base, "POST", "/postcards", postcard(metadata={"k%d" % i: "v" for i in range(21)}))
    ok(r.status == 422 and "metadata" in r.json()["error"]["message"], "422 on 21 metadata keys", r.body)
    r = call(base, "POST", "/postcards", b"{not json")
    ok(r.status == 422 and r.json()["error"]["code"] == "bad_request", "invalid JSON gets Lob's error shape",
       r.body)
    r = call(base, "POST", "/postcards", [("to", "adr_abc123"), ("front", "tmpl_a"), ("back", "tmpl_b"),
                                          ("use_type", "operational"), ("metadata[campaign]", "form"),
                                          ("to[name]", "x")], form=True)
    ok(r.status == 422, "form body with 'to' both a value and an object is refused", r.body)
    form = [("to[name]", "John Roe"), ("to[address_line1]", "1 Main St"), ("to[address_city]", "Austin"),
            ("to[address_state]", "TX"), ("to[address_zip]", "78701-1234"), ("front", "tmpl_a"),
            ("back", "https://example.com/back.pdf"), ("use_type", "operational"),
            ("metadata[campaign]", "form"), ("size", "6x9")]
    r = call(base, "POST", "/postcards", form, form=True)
    ok(r.status == 200 and r.json()["to"]["address_zip"] == "78701-1234"
       and r.json()["metadata"] == {"campaign": "form"} and r.json()["size"] == "6x9",
       "form-encoded create with nested keys", r.body)
    r = call(base, "POST", "/letters", {"to": "adr_abc123", "from": "adr_def456", "file": "tmpl_letter",
                                        "color": False, "use_type": "operational",
                                        "metadata": {"campaign": "letters"}})
    ok(r.status == 200 and r.json()["id"].startswith("ltr_") and r.json()["object"] == "letter"
       and r.json()["color"] is False, "create letter", r.body)
    r = call(base, "POST", "/letters", {"to": "adr_abc123", "from": "adr_def456", "file": "tmpl_letter",
                                        "use_type": "operational"})
    ok(r.status == 422 and r.json()["error"]["message"] == "color is required", "letter without color: 422",
       r.body)

    # -- idempotency --
    r = call(base, "POST", "/postcards", postcard(), headers={"Idempotency-Key": "key-1"})
    ok(r.status == 200 and r.json()["id"] == first_id, "same key, same body: the original piece again", r.body)
    r = call(base, "POST", "/postcards", postcard(description="other"), headers={"Idempotency-Key": "key-1"})
    ok(r.status == 422 and r.json()["error"]["code"] == "conflict", "same key, other body: 422 conflict",
       r.body)
    r = call(base, "POST", "/postcards?idempotency_key=key-1", postcard())
    ok(r.status == 200 and r.json()["id"] == first_id, "idempotency_key query parameter works too", r.body)
    r = call(base, "POST", "/postcards", postcard(), headers={"Idempotency-Key": "k" * 257})
    ok(r.status == 422 and "256" in r.json()["error"]["message"], "a 257-character key: 422", r.body)
    pieces = admin(base, "GET", "/pieces")["data"]
    mine = [p for p in pieces if p["idempotency_key"] == "key-1"]
    ok(len(mine) == 1 and mine[0]["create_count"] == 3, "one piece for key-1, asked for three times", mine)

    # -- faults --
    admin(base, "POST", "/faults", {"accept_then_drop": True, "count": 1, "path_prefix": "/postcards"})
    body = postcard(metadata={"fs_event": "evt_atd"})
    try:
        r = call(base, "POST", "/postcards", body, headers={"Idempotency-Key": "key-atd"})
        dropped = False
    except (http.client.HTTPException, ConnectionError, urllib.error.URLError) as e:
        dropped = True
    ok(dropped, "accept_then_drop closes the connection without an answer")
    r = call(base, "POST", "/postcards", body, headers={"Idempotency-Key": "key-atd"})
    atd = [p for p in admin(base, "GET", "/pieces")["data"] if p["idempotency_key"] == "key-atd"]
    ok(r.status == 200 and len(atd) == 1 and r.json()["id"] == atd[0]["id"] and atd[0]["create_count"] == 2,
       "retry after accept_then_drop returns the piece made before the drop", atd)

    n_before = admin(base, "GET", "/stats")["created"]
    admin(base, "POST", "/faults", {"drop": True, "count": 1})
    try:
        call(base, "POST", "/postcards", postcard(metadata={"fs_event": "evt_drop"}),
             headers={"Idempotency-Key": "key-drop"})
        dropped = False
    except (http.client.HTTPException, ConnectionError, urllib.error.URLError):
        dropped = True
    ok(dropped and admin(base, "GET", "/stats")["created"] == n_before, "drop: no answer and no piece")

    admin(base, "POST", "/faults", {"status": 500, "count": 2, "path_prefix": "/postcards", "method": "POST"})
    r1 = call(base, "POST", "/postcards", postcard())
    r2 = call(base, "POST", "/postcards", postcard())
    r3 = call(base, "POST", "/postcards", postcard(metadata={"fs_event": "evt_after500"}))
    ok(r1.status == 500 and r2.status == 500 and r1.json()["error"]["code"] == "internal_server_error"
       and r3.status == 200, "500 fault answers the next 2 matching requests, then normal", [r1.body, r3.body])

    admin(base, "POST", "/faults", [{"status": 503, "skip": 2, "path_prefix": "/postcards", "method": "POST"},
                                    {"status": 502, "path_prefix": "/postcards", "method": "POST"}])
    rs = [call(base, "POST", "/postcards", postcard(metadata={"fs_event": "evt_skip%d" % i})).status for i in range(4)]
    ok(rs == [502, 200, 503, 200], "skip: the first 2 pass it by (the next fault takes one), then it applies", rs)

    admin(base, "POST", "/faults", {"status": 429, "retry_after": 7, "count": 1})
    r = call(base, "GET", "/postcards")
    ok(r.status == 429 and r.h("Retry-After") == "7" and r.json()["error"]["code"] == "rate_limit_exceeded",
       "injected 429 carries Retry-After from retry_after", r.headers)

    admin(base, "POST", "/faults", {"truncate": True, "count": 1, "path_prefix": "/letters"})
    try:
        call(base, "GET", "/letters")
        truncated = False
    except (http.client.IncompleteRead, http.client.HTTPException, ConnectionError):
        truncated = True
    ok(truncated, "truncate: body cut short")

    admin(base, "POST", "/faults", {"slow_ms": 300, "count": 1})
    t0 = time.time()
    r = call(base, "GET", "/letters")
    ok(r.status == 200 and time.time() - t0 >= 0.28, "slow_ms delays the answer", time.time() - t0)

    # -- rate limit --
    admin(base, "POST", "/rate", {"limit": 5, "window_s": 3})
    statuses = [call(base, "GET", "/letters").status for _ in range(5)]
    r = call(base, "GET", "/letters")
    other = call(base, "GET", "/postcards")
    ok(statuses == [200] * 5 and r.status == 429 and r.h("Retry-After") is not None
       and 1 <= int(r.h("Retry-After")) <= 3 and r.h("X-Rate-Limit-Remaining") == "0"
       and r.json()["error"]["code"] == "rate_limit_exceeded",
       "429 after 5 requests in the window, with Retry-After", [statuses, r.status, r.headers])
    ok(other.status == 200, "rate limits are per endpoint", other.status)
    admin(base, "POST", "/rate", {"limit": 150, "window_s": 5})

    # -- list, metadata filter, paging --
    for i in range(5):
        call(base, "POST", "/postcards", postcard(metadata={"fs_event": "evt_p%d" % i, "batch": "paging"}))
    r = call(base, "GET", "/postcards?metadata%5Bbatch%5D=paging&limit=2&include=%5B%22total_count%22%5D")
    page = r.json()
    ok(r.status == 200 and page["object"] == "list" and page["count"] == 2 and page["total_count"] == 5
       and [p["metadata"]["fs_event"] for p in page["data"]] == ["evt_p4", "evt_p3"]
       and page["next_url"] and page["previous_url"] is None,
       "list with metadata[batch]=paging, newest first", r.body)
    seen = [p["metadata"]["fs_event"] for p in page["data"]]
    while page["next_url"]:
        u = urllib.parse.urlsplit(page["next_url"])
        page = call(base, "GET", u.path + "?" + u.query).json()
        seen += [p["metadata"]["fs_event"] for p in page["data"]]
    ok(seen == ["evt_p4", "evt_p3", "evt_p2", "evt_p1", "evt_p0"], "next_url pages through all", seen)
    r = call(base, "GET", "/postcards?metadata[fs_event]=evt_0001")
    ok(r.status == 200 and [p["id"] for p in r.json()["data"]] == [first_id], "metadata filter finds one piece",
       r.body)
    r = call(base, "GET", "/postcards?limit=101")
    ok(r.status == 422, "limit over 100: 422", r.body)

    # -- retrieve, events --
    r = call(base, "GET", "/postcards/" + first_id)
    ok(r.status == 200 and r.json()["id"] == first_id, "GET /postcards/{id}", r.body)
    r = call(base, "GET", "/postcards/psc_000000000000000000000000")
    ok(r.status == 404 and r.json()["error"]["code"] == "not_found", "GET of an unknown id: 404", r.body)
    ev = admin(base, "POST", "/advance", {"id": first_id, "event": "postcard.mailed"})["data"][0]
    r = call(base, "GET", "/postcards/" + first_id)
    te = r.json()["tracking_events"]
    ok(len(te) == 1 and te[0]["name"] == "Mailed" and te[0]["object"] == "tracking_event"
       and te[0]["type"] == "normal" and te[0]["id"].startswith("evnt_"),
       "advance adds a Mailed tracking event", te)
    ok(ev["object"] == "event" and ev["id"].startswith("evt_") and ev["reference_id"] == first_id
       and ev["event_type"] == {"id": "postcard.mailed", "enabled_for_test": False,
                                "resource": "postcards", "object": "event_type"}
       and ev["body"]["id"] == first_id and len(ev["body"]["tracking_events"]) == 1,
       "advance returns a webhook event object", ev)

    # -- webhook --
    recv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=recv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/hook" % recv.server_address[1]
    secret = "whsec_fieldsync_test"
    sent_after = time.time()
    out = admin(base, "POST", "/webhook", {"url": url, "secret": secret, "ids": [first_id],
                                           "event": "postcard.delivered"})
    recv.shutdown()
    hdrs, raw = Receiver.got[-1] if Receiver.got else ({}, b"")
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    ts = hdrs.get("lob-signature-timestamp", "")
    want = hmac.new(secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
    ok(out["deliveries"][0]["status"] == 200 and hmac.compare_digest(want, hdrs.get("lob-signature", ""))
       and ts.isdigit() and int(sent_after * 1000) <= int(ts) <= int(time.time() * 1000),
       "webhook: Lob-Signature is hex HMAC-SHA256 of timestamp_ms + '.' + body", [hdrs, out])
    evt = json.loads(raw.decode()) if raw else {}
    ok(evt.get("event_type", {}).get("id") == "postcard.delivered" and evt.get("body", {}).get("id") == first_id
       and evt["body"]["tracking_events"][-1]["name"] == "Delivered",
       "webhook body is the event with the whole postcard", evt)

    # -- clock and idempotency expiry --
    admin(base, "POST", "/clock", {"advance_s": 24 * 3600 + 1})
    r = call(base, "POST", "/postcards", postcard(), headers={"Idempotency-Key": "key-1"})
    ok(r.status == 200 and r.json()["id"] != first_id, "a key is forgotten after 24 h of the fake's clock",
       r.body)

    # -- admin views --
    reqs = admin(base, "GET", "/requests")["data"]
    ok(any(q["idempotency_key"] == "key-atd" and q["outcome"] == "accept_then_drop" for q in reqs)
       and all(set(("method", "path", "status", "idempotency_key", "at", "body")) <= set(q) for q in reqs),
       "/__admin/requests records each request", reqs[-1])
    st = admin(base, "GET", "/stats")
    ok(st["requests"] == len(reqs) and st["429"] >= 2 and st["by_status"].get("500") == 2,
       "/__admin/stats counts", st)
    with open(logfile) as f:
        log = f.read()
    ok(KEY not in log and "Basic " not in log, "the request log holds no API key")
    admin(base, "POST", "/reset")
    st = admin(base, "GET", "/stats")
    ok(st["created"] == 0 and st["requests"] == 0, "reset empties the fake", st)

    run_cancel(base)


def letter(**over):
    b = {"to": postcard()["to"], "from": "adr_companyhq1", "file": "tmpl_letter", "color": False,
         "use_type": "operational", "metadata": {"fs_event": "evt_l"}}
    b.update(over)
    return b


def run_cancel(base):
    """The cancellation window, send_date and DELETE, on a frozen clock."""
    admin(base, "POST", "/clock", {"now": "2026-11-30T01:00:00Z", "frozen": True})

    def advance(s):
        admin(base, "POST", "/clock", {"advance_s": s})

    def delete(kind, pid):
        return call(base, "DELETE", "/v1/%s/%s" % (kind, pid))

    def not_deletable(r, kind):
        e = (r.json() or {}).get("error", {})
        return (r.status == 422 and set(e) == {"message", "status_code", "code"}
                and e["code"] == "not_deletable" and e["status_code"] == 422 and kind in e["message"])

    cfg = admin(base, "GET", "/config")
    ok(cfg.get("cancellation_window_s") == {"postcards": 300, "letters": 300}
       and cfg.get("past_send_date") == "refuse",
       "config: a 5-minute cancellation window for postcards and letters by default", cfg)

    # -- no send_date: the account's window --
    r = call(base, "POST", "/postcards", postcard(metadata={"fs_event": "evt_w1"}))
    pc = r.json() or {}
    ok(r.status == 200 and pc.get("date_created") == "2026-11-30T01:00:00.000Z"
       and pc.get("send_date") == "2026-11-30T01:05:00.000Z"
       and pc.get("expected_delivery_date") == "2026-12-05",
       "no send_date: send_date is date_created plus the 5-minute window", r.body)
    r = call(base, "POST", "/letters", letter(send_date=None))
    lt = r.json() or {}
    ok(r.status == 200 and lt.get("send_date") == "2026-11-30T01:05:00.000Z",
       "a null send_date is the same as none (a letter, here)", r.body)
    advance(299)
    r = delete("postcards", pc.get("id"))
    ok(r.status == 200 and r.json() == {"id": pc.get("id"), "deleted": True},
       "DELETE inside the window: 200 {id, deleted: true}", r.body)
    got = call(base, "GET", "/postcards/" + pc.get("id", "")).json() or {}
    evs = admin(base, "GET", "/events?reference_id=" + pc.get("id", ""))["data"]
    ok(got.get("deleted") is True and [e["event_type"]["id"] for e in evs] == ["postcard.deleted"],
       "the canceled postcard reads deleted, with a postcard.deleted event", [got.get("deleted"), evs])
    r = delete("postcards", pc.get("id"))
    ok(r.status == 200 and r.json() == {"id": pc.get("id"), "deleted": True},
       "DELETE of a canceled piece answers the same again", r.body)
    advance(1)
    r = delete("letters", lt.get("id"))
    got = call(base, "GET", "/letters/" + lt.get("id", "")).json() or {}
    ok(not_deletable(r, "letter") and "deleted" not in got,
       "DELETE when the window ends (at send_date): 422 not_deletable, in Lob's error shape", r.body)
    r = delete("letters", "ltr_000000000000000000000000")
    ok(r.status == 404 and r.json()["error"]["code"] == "not_found", "DELETE of an unknown letter: 404",
       r.body)

    # -- send_date overrides the window --
    r = call(base, "POST", "/postcards", postcard(send_date="2026-12-07T09:30:00Z",
                                                  metadata={"fs_event": "evt_sd1"}),
             headers={"Idempotency-Key": "key-sd1"})
    pc = r.json() or {}
    ok(r.status == 200 and pc.get("send_date") == "2026-12-07T09:30:00.000Z"
       and pc.get("expected_delivery_date") == "2026-12-12",
       "send_date is honoured on a postcard (expected delivery from it)", r.body)
    forms = [("2026-12-07", "2026-12-07T00:00:00.000Z"),
             ("2026-12-07T10:30:00+01:00", "2026-12-07T09:30:00.000Z"),
             ("2026-12-07T09:30:00", "2026-12-07T09:30:00.000Z")]
    got = [(call(base, "POST", "/letters", letter(send_date=f)).json() or {}).get("send_date") for f, _ in forms]
    ok(got == [w for _, w in forms],
       "a letter's send_date: a date is midnight UTC, an offset is converted, none is UTC", got)
    r = call(base, "POST", "/letters", letter(send_date="2026-11-30T01:06:00Z"))
    lt = r.json() or {}
    advance(59)
    r = delete("letters", lt.get("id"))
    ok(r.status == 200 and r.json() == {"id": lt.get("id"), "deleted": True},
       "a letter due in a minute can be canceled 59 s later", r.body)
    r = call(base, "POST", "/letters", letter(send_date="2026-11-30T01:07:00Z"))
    lt = r.json() or {}
    advance(61)
    r = delete("letters", lt.get("id"))
    ok(not_deletable(r, "letter"),
       "a send_date sooner than the window ends it sooner: 422 at the send_date", r.body)
    advance(6 * 86400)
    r = delete("postcards", pc.get("id"))
    ok(r.status == 200, "six days later, before its send_date, the postcard is still canceled", r.body)
    r = call(base, "POST", "/postcards", postcard(send_date="2026-12-06T02:00:00Z",
                                                  metadata={"fs_event": "evt_sd2"}),
             headers={"Idempotency-Key": "key-sd2"})
    sd2 = (r.json() or {}).get("id")
    advance(3600)
    r = delete("postcards", sd2)
    ok(not_deletable(r, "postcard"), "after its send_date a postcard is not deletable", r.body)
    r = call(base, "POST", "/postcards", postcard(send_date="2026-12-06T02:00:00Z",
                                                  metadata={"fs_event": "evt_sd2"}),
             headers={"Idempotency-Key": "key-sd2"})
    ok(r.status == 200 and (r.json() or {}).get("id") == sd2,
       "an idempotent replay answers the piece even when its send_date has passed", r.body)
    r = call(base, "POST", "/postcards", postcard(metadata={"fs_event": "evt_m1"}))
    pid = (r.json() or {}).get("id")
    admin(base, "POST", "/advance", {"id": pid, "event": "postcard.mailed"})
    ok(not_deletable(delete("postcards", pid), "postcard"),
       "a piece with a Mailed event is not deletable, even inside the window")

    # -- send_date limits --
    admin(base, "POST", "/clock", {"now": "2026-11-30T01:00:00Z", "frozen": True})
    cases = [("2026-11-30T00:59:59Z", 422, "a past send_date"),
             ("2026-11-30T01:00:00Z", 422, "a send_date equal to now"),
             ("2026-11-30", 422, "today's date (midnight, past)"),
             ("2027-05-29T01:00:01Z", 422, "180 days and a second ahead"),
             ("2027-05-29T01:00:00Z", 200, "exactly 180 days ahead"),
             ("2026-11-30T01:00:01Z", 200, "a second ahead"),
             ("tomorrow", 422, "a malformed send_date"),
             ("2026-13-01", 422, "a month 13"),
             (20261201, 422, "a number")]
    for value, want, what in cases:
        for kind, body in (("postcards", postcard(send_date=value)), ("letters", letter(send_date=value))):
            r = call(base, "POST", "/" + kind, body)
            e = (r.json() or {}).get("error", {})
            ok(r.status == want and (want == 200 or (e.get("code") == "invalid"
                                                      and "send_date" in e.get("message", ""))),
               "%s: %s %d" % (kind, what, want), r.body)

    # -- the window setting --
    r = call(base, "POST", "/__admin/config", {"cancellation_window_s": 3600}, key=None)
    ok(r.status == 200 and r.json()["cancellation_window_s"] == {"postcards": 3600, "letters": 3600},
       "config: cancellation_window_s N sets both windows", r.body)
    early = (call(base, "POST", "/postcards", postcard()).json() or {}).get("id")
    a = (call(base, "POST", "/postcards", postcard()).json() or {})
    ok(a.get("send_date") == "2026-11-30T02:00:00.000Z", "a one-hour window: send_date an hour on", a)
    r = call(base, "POST", "/__admin/config", {"cancellation_window_s": {"letters": 0}}, key=None)
    ok(r.status == 200 and r.json()["cancellation_window_s"] == {"postcards": 3600, "letters": 0},
       "config: {\"letters\": 0} sets the letters' window only", r.body)
    lt = call(base, "POST", "/letters", letter()).json() or {}
    ok(lt.get("send_date") == lt.get("date_created") and not_deletable(delete("letters", lt.get("id")), "letter"),
       "a window of 0: the letter goes at once and cannot be canceled", lt)
    advance(3599)
    ok(delete("postcards", a.get("id")).status == 200, "with a one-hour window, DELETE at 59:59 succeeds")
    b = call(base, "POST", "/postcards", postcard()).json() or {}
    admin(base, "POST", "/config", {"cancellation_window_s": 300})
    advance(3599)
    ok(delete("postcards", b.get("id")).status == 200,
       "a changed window applies to pieces made afterwards only")
    advance(1)
    ok(not_deletable(delete("postcards", early), "postcard"), "with a one-hour window, DELETE after the hour is refused")
    bad = [{"cancellation_window_s": -1}, {"cancellation_window_s": 3 * 86400 + 1},
           {"cancellation_window_s": "5m"}, {"cancellation_window_s": True},
           {"cancellation_window_s": {"checks": 60}}, {"past_send_date": "now"}, {"cancel_window": 60}]
    rs = [call(base, "POST", "/__admin/config", b_, key=None) for b_ in bad]
    cfg = admin(base, "GET", "/config")
    ok([r.status for r in rs] == [400] * len(bad) and cfg["cancellation_window_s"] == {"postcards": 300, "letters": 300},
       "config refuses windows outside 0..3 days, other resources and unknown keys (400), changing nothing",
       [r.body for r in rs])
    admin(base, "POST", "/config", {"past_send_date": "accept"})
    r = call(base, "POST", "/postcards", postcard(send_date="2026-11-29T00:00:00Z"))
    pc = r.json() or {}
    ok(r.status == 200 and pc.get("send_date") == "2026-11-29T00:00:00.000Z"
       and not_deletable(delete("postcards", pc.get("id")), "postcard"),
       "past_send_date accept: a past send_date is kept, and the piece cannot be canceled", r.body)
    admin(base, "POST", "/config", {"cancellation_window_s": 86400, "past_send_date": "refuse"})
    admin(base, "POST", "/reset")
    cfg = admin(base, "GET", "/config")
    ok(cfg["cancellation_window_s"] == {"postcards": 300, "letters": 300} and cfg["past_send_date"] == "refuse",
       "reset puts the window back to 5 minutes", cfg)


def run_prism(prism_wait, tmp):
    port, info = prism_wait()
    names = ["Prism: valid postcard gets 200", "Prism: postcard without 'to' gets 422 + sl-violations",
             "Prism: postcard with a bad zip gets 422 + sl-violations",
             "Prism: postcard with a malformed send_date gets 422 + sl-violations",
             "Prism: postcard with a send_date a day ahead gets 200",
             "fake and Prism agree on the five bodies"]
    if port is None:
        for n in names:
            skip(n, info)
        return
    base = "http://127.0.0.1:%d" % port
    bad_to = postcard()["to"]
    bad_to["address_zip"] = "9410"
    # The fake's clock is the real one here: a day ahead is inside 180 days.
    ahead = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    bodies = [postcard(), postcard(to=None), postcard(to=bad_to), postcard(send_date="tomorrow"),
              postcard(send_date=ahead)]
    try:
        rs = [call(base, "POST", "/postcards", b) for b in bodies]
        ok(rs[0].status == 200, names[0], rs[0].body)
        for r, n in zip(rs[1:4], names[1:4]):
            v = r.h("sl-violations")
            ok(r.status == 422 and v and json.loads(v), n, [r.status, v])
        ok(rs[4].status == 200 and not rs[4].h("sl-violations"), names[4], [rs[4].status, rs[4].body])
        fake_tmp = os.path.join(tmp, "again")
        os.mkdir(fake_tmp)
        fake, fport, _ = start_fake(fake_tmp)
        try:
            fs = [call("http://127.0.0.1:%d" % fport, "POST", "/postcards", b).status for b in bodies]
        finally:
            fake.send_signal(signal.SIGTERM)
            fake.wait(timeout=5)
        ok(fs == [r.status for r in rs], names[5], [fs, [r.status for r in rs]])
    finally:
        subprocess.call([PRISM, "stop", info])


if __name__ == "__main__":
    main()
