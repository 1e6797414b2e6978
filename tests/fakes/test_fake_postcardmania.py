#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_postcardmania.py.  Standard library only (urllib).

Starts the fake on port 0 with a fixed clock and checks the login exchange
and the token's expiry, order creation and its validation, the 409 on a
repeated extRefNbr, the extRefNbr filter, status polling to the final
states as the fake clock moves, cancel before and after the order day's
cutoff, faults (429 with Retry-After, 5xx before and after the work, a
dropped answer), the request log (no secret in it) and shutdown.  Prints
TAP; exits non-zero on any failure.
Run: python3 tests/fakes/test_fake_postcardmania.py

No case depends on how fast the machine is: the fake's clock is fixed and
moved only through /__admin/clock, no fault holds an answer back, and every
case starts at the same instant with no pending faults.  A failing case's
details (where it failed, the fake's pending faults, its last requests) go
to stderr as "# " lines, as Test::More's diag does.
"""

import http.client as http_client   # the name http is the helper below
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_postcardmania.py")
KEY, SECRET = "pcm_test_key", "pcm_test_secret"
TOKEN_TTL = 86400
# 10:00 am Eastern (EST) on 1 December: that day's cutoff, 11:30 pm Eastern,
# is 04:30 UTC the next day.
START = "2026-12-01T15:00:00Z"
CUTOFF = "2026-12-02T04:30:00Z"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
BASE = None


class Resp:
    """An answer; or, for a dropped connection, status None and error set."""

    def __init__(self, status, headers, raw, error=None):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.error = error
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    @property
    def dropped(self):
        return self.error is not None

    def __repr__(self):
        if self.dropped:
            return "<dropped connection: %s>" % self.error
        return "<HTTP %s %r>" % (self.status, self.raw[:300])


def dropped_connection(e):
    """Whether e is one of the forms a connection closed by the server takes
    (which one depends on timing); a timeout is not a drop."""
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        e = e.reason
    if isinstance(e, (socket.timeout, TimeoutError)):
        return False
    return isinstance(e, (ConnectionError, http_client.HTTPException))


def http(method, path, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())
    except Exception as e:
        if dropped_connection(e):
            return Resp(None, None, b"", error="%s: %s" % (type(e).__name__, e))
        raise


def admin(method, path, body=None):
    r = http(method, "/__admin/" + path, body)
    assert r.status == 200, "admin %s %s -> %r" % (method, path, r)
    return r.json


def clock(now):
    eq(admin("POST", "clock", {"now": now})["now"], now, "clock set")


def login(key=KEY, secret=SECRET):
    return http("POST", "/auth/login", {"apiKey": key, "apiSecret": secret})


def token():
    r = login()
    eq(r.status, 200, "login status")
    return r.json["token"]


def postcard(ref, tok, **extra):
    body = {"extRefNbr": ref, "designID": 4242, "mailClass": "FirstClass",
            "recipients": [{"firstName": "Ada", "lastName": "Lovelace", "address": "1 Main St",
                            "city": "Tampa", "state": "FL", "zipCode": "33601"}]}
    body.update(extra)
    return http("POST", "/order/postcard", body, tok)


def orders():
    return admin("GET", "orders")["data"]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, what):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


# ---------------------------------------------------------------- tests

TESTS = []


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn
    return deco


@test("server answers on the port from --port-file, with the fixed clock and nothing in it")
def t_start():
    check(BASE.startswith("http://127.0.0.1:"), "base %s" % BASE)
    eq(admin("POST", "clock", {"now": START})["now"], START, "clock")
    s = admin("GET", "stats")
    eq((s["orders"], s["logins"]), (0, 0), "no orders, no logins")


@test("POST /auth/login: the key and secret give a token expiring after --token-ttl; others 401")
def t_login():
    r = login()
    eq(r.status, 200, "status")
    check(r.json["token"].startswith("tok_"), "token %r" % r.json)
    eq(r.json["expires"], "2026-12-02T15:00:00Z", "expires a day later")
    eq(login(secret="wrong").status, 401, "wrong secret")
    eq(login(key="wrong").status, 401, "wrong key")
    eq(http("POST", "/auth/login", None).status, 400, "no body")
    eq(http("GET", "/order").status, 401, "no token")
    eq(http("GET", "/order", token="tok_nope").status, 401, "unknown token")


@test("token expiry: 401 once the fake clock reaches the expiry, a new login works; admin expiry")
def t_token_expiry():
    tok = token()
    eq(http("GET", "/order", token=tok).status, 200, "fresh token")
    clock("2026-12-02T14:59:59Z")
    eq(http("GET", "/order", token=tok).status, 200, "a second before expiry")
    clock("2026-12-02T15:00:00Z")
    r = http("GET", "/order", token=tok)
    eq(r.status, 401, "at expiry")
    check("expired" in r.json["message"], "message %r" % r.json)
    tok2 = token()
    check(tok2 != tok, "a new token")
    eq(http("GET", "/order", token=tok2).status, 200, "new token works")
    eq(admin("POST", "tokens/expire")["expired"] >= 2, True, "admin expires all tokens")
    eq(http("GET", "/order", token=tok2).status, 401, "expired by the admin API")


@test("POST /order/postcard: created Pending; validation errors 400 and no order")
def t_create():
    tok = token()
    r = postcard("ev-create-1", tok)
    eq(r.status, 200, "status")
    o = r.json
    eq((o["extRefNbr"], o["type"], o["status"], o["recordCount"], o["orderDate"]),
       ("ev-create-1", "postcard", "Pending", 1, START), "the order")
    check(isinstance(o["orderID"], int), "orderID %r" % o)
    for k in ("forced", "cutoff", "create_count", "body"):
        check(k not in o, "internal field %s shown" % k)
    r = postcard("ev-bad", tok, recipients=[{"address": "1 Main St", "city": "Tampa"}])
    eq(r.status, 400, "missing state and zipCode")
    eq(r.json["errors"], ["recipients[0].state is required", "recipients[0].zipCode is required"],
       "errors")
    eq(postcard("ev-bad", tok, recipients=[]).status, 400, "no recipients")
    eq(postcard("ev-bad", tok, designID=None).status, 400, "no design")
    eq(postcard("ev-bad", tok, mailClass="Express").status, 400, "bad mail class")
    r = http("POST", "/order/letter", {"extRefNbr": "ev-bad", "recipients": [
        {"address": "a", "city": "b", "state": "FL", "zipCode": "1"}]}, tok)
    eq(r.status, 400, "letter without letter or designID")
    r = http("POST", "/order/letter", {"extRefNbr": "ev-letter", "letter": "https://x/l.pdf",
                                       "recipients": [{"address": "a", "city": "b", "state": "FL",
                                                       "zipCode": "1"}]}, tok)
    eq((r.status, r.json["type"]), (200, "letter"), "a letter")
    eq(sorted(x["extRefNbr"] for x in orders()), ["ev-create-1", "ev-letter"], "no order for the 400s")


@test("a repeated extRefNbr is 409 and makes no second order; GET /order?extRefNbr= finds it")
def t_conflict():
    tok = token()
    first = postcard("ev-dup", tok)
    eq(first.status, 200, "first")
    r = postcard("ev-dup", tok)
    eq(r.status, 409, "repeat")
    check("ev-dup" in r.json["message"], "message %r" % r.json)
    dup = [o for o in orders() if o["extRefNbr"] == "ev-dup"]
    eq(len(dup), 1, "one order")
    eq(dup[0]["create_count"], 2, "asked twice")
    r = http("GET", "/order?extRefNbr=ev-dup", token=tok)
    eq(r.status, 200, "filter")
    eq([o["orderID"] for o in r.json["results"]], [first.json["orderID"]], "found by extRefNbr")
    eq(r.json["pagination"]["totalResults"], 1, "total")
    r = http("GET", "/order?extRefNbr=ev-none", token=tok)
    eq((r.status, r.json["results"]), (200, []), "none found")
    r = http("GET", "/order/%d" % first.json["orderID"], token=tok)
    eq((r.status, r.json["extRefNbr"]), (200, "ev-dup"), "GET /order/{id}")
    eq(http("GET", "/order/999999", token=tok).status, 404, "unknown order")


@test("status follows the clock: Pending to the cutoff, Processing, Mailing, Delivered; forced states")
def t_status():
    tok = token()
    oid = postcard("ev-status", tok).json["orderID"]
    other = postcard("ev-undeliverable", tok).json["orderID"]

    def status(i=oid):
        # A token from this clock's day: the clock jumps days ahead.
        r = http("GET", "/order/%d" % i, token=token())
        eq(r.status, 200, "GET status")
        return r.json["status"]
    steps = [(CUTOFF, "Pending"), ("2026-12-02T04:30:01Z", "Processing"),
             ("2026-12-03T04:30:00Z", "Processing"), ("2026-12-03T04:30:01Z", "Mailing"),
             ("2026-12-05T04:30:00Z", "Mailing"), ("2026-12-05T04:30:01Z", "Delivered"),
             ("2027-01-15T00:00:00Z", "Delivered")]
    for now, want in steps:
        clock(now)
        eq(status(), want, "status at %s" % now)
    r = admin("POST", "orders/%d" % other, {"status": "Undeliverable"})
    eq(r["status"], "Undeliverable", "forced")
    eq(status(other), "Undeliverable", "a forced status stays")
    clock(START)
    eq(status(other), "Undeliverable", "whatever the clock")
    eq(status(), "Pending", "the clock moves back too")
    eq(http("POST", "/__admin/orders/999999", {"status": "Failed"}).status, 404, "unknown order")


@test("DELETE /order/{id}: Canceled before the cutoff (again is 200); 400 after it, order unchanged")
def t_cancel():
    tok = token()
    a = postcard("ev-cancel-a", tok).json["orderID"]
    b = postcard("ev-cancel-b", tok).json["orderID"]
    clock(CUTOFF)
    r = http("DELETE", "/order/%d" % a, token=tok)
    eq((r.status, r.json["status"]), (200, "Canceled"), "cancel at the cutoff")
    r = http("DELETE", "/order/%d" % a, token=tok)
    eq((r.status, r.json["status"]), (200, "Canceled"), "cancel again")
    clock("2026-12-02T04:30:01Z")
    r = http("DELETE", "/order/%d" % b, token=tok)
    eq(r.status, 400, "cancel after the cutoff")
    check("can no longer be canceled" in r.json["message"] and CUTOFF in r.json["message"],
          "message %r" % r.json)
    eq(http("GET", "/order/%d" % b, token=tok).json["status"], "Processing", "not canceled")
    clock("2026-12-10T00:00:00Z")
    eq(http("GET", "/order/%d" % a, token=token()).json["status"], "Canceled",
       "a canceled order is never mailed")
    eq(http("DELETE", "/order/999999", token=token()).status, 404, "unknown order")


@test("an order made after the cutoff belongs to the next order day")
def t_next_day():
    clock("2026-12-02T04:45:00Z")        # 11:45 pm Eastern on 1 December
    tok = token()
    oid = postcard("ev-after-cutoff", tok).json["orderID"]
    eq(http("GET", "/order/%d" % oid, token=tok).json["status"], "Pending", "Pending at once")
    clock("2026-12-03T04:30:00Z")        # 11:30 pm Eastern on 2 December
    eq(http("GET", "/order/%d" % oid, token=tok).json["status"], "Pending", "to the next cutoff")
    clock("2026-12-03T04:30:01Z")
    eq(http("GET", "/order/%d" % oid, token=tok).json["status"], "Processing", "then Processing")
    clock("2026-12-02T05:00:00Z")        # 00:00 Eastern on 2 December
    tok = token()
    oid = postcard("ev-late", tok).json["orderID"]
    clock("2026-12-02T23:00:00Z")        # 6:00 pm Eastern, the same day
    eq(http("GET", "/order/%d" % oid, token=tok).json["status"], "Pending", "still Pending")
    r = http("DELETE", "/order/%d" % oid, token=tok)
    eq(r.json["status"], "Canceled", "cancelable until 11:30 pm")


@test("429 with Retry-After: no order made; the next call works")
def t_429():
    tok = token()
    admin("POST", "faults", {"path": "/order/postcard", "method": "POST", "status": 429,
                             "retry_after": 7, "count": 2})
    for i in (1, 2):
        r = postcard("ev-429", tok)
        eq(r.status, 429, "throttled %d" % i)
        eq(r.headers.get("Retry-After"), "7", "Retry-After %d" % i)
    eq([o for o in orders() if o["extRefNbr"] == "ev-429"], [], "no order while throttled")
    eq(http("GET", "/order", token=tok).status, 200, "other paths unaffected")
    eq(admin("GET", "faults")["faults"], [], "faults used up")
    eq(postcard("ev-429", tok).status, 200, "after the faults")


@test("5xx before the work: no order; after the work: the order made and the answer lost")
def t_5xx():
    tok = token()
    admin("POST", "faults", [{"path": "/order/postcard", "status": 503, "count": 1},
                             {"path": "/order/postcard", "status": 500, "when": "after"}])
    r = postcard("ev-5xx", tok)
    eq(r.status, 503, "503 before")
    eq([o for o in orders() if o["extRefNbr"] == "ev-5xx"], [], "no order after the 503")
    r = postcard("ev-5xx", tok)
    eq(r.status, 500, "500 after")
    eq(len([o for o in orders() if o["extRefNbr"] == "ev-5xx"]), 1, "the order exists")
    eq(postcard("ev-5xx", tok).status, 409, "a retry finds it: 409")
    admin("POST", "faults", {"path": "/order/postcard", "status": 0, "when": "after"})
    r = postcard("ev-drop", tok)
    check(r.dropped, "expected a dropped connection, got %r" % r)
    eq(len([o for o in orders() if o["extRefNbr"] == "ev-drop"]), 1, "made before the drop")
    admin("POST", "faults", {"path": "/auth/login", "status": 502})
    eq(login().status, 502, "a fault on the login")
    eq(login().status, 200, "then a login")


@test("request log: every call with its status; no secret and no token in it")
def t_log():
    before = len(admin("GET", "requests")["data"])
    tok = token()
    postcard("ev-log", tok)
    postcard("ev-log", tok)
    reqs = admin("GET", "requests")["data"][before:]
    eq([(r["method"], r["path"], r["status"]) for r in reqs],
       [("POST", "/auth/login", 200), ("POST", "/order/postcard", 200),
        ("POST", "/order/postcard", 409)], "logged")
    text = json.dumps(admin("GET", "requests"))
    check(SECRET not in text, "the secret is logged")
    check(tok not in text, "a token is logged")
    eq(json.loads(reqs[0]["body"])["apiSecret"], "REDACTED", "redacted")
    eq(reqs[1]["auth"], "Bearer ", "only the scheme")


# ---------------------------------------------------------------- runner

def fresh_case():
    """What every case starts from: the clock at START, no pending faults."""
    clock(START)
    for f in admin("GET", "faults")["faults"]:
        raise AssertionError("a fault left pending: %r" % f)


def diag(lines):
    """Test::More's diag: "# " lines on stderr, which prove shows without -v."""
    sys.stdout.flush()
    for line in lines:
        for part in str(line).splitlines() or [""]:
            sys.stderr.write("# " + part + "\n")
    sys.stderr.flush()


def explain(e):
    out = ["%s: %s" % (type(e).__name__, e)]
    tb = [fr for fr in traceback.extract_tb(e.__traceback__)
          if os.path.abspath(fr.filename) == os.path.abspath(__file__)
          and fr.name not in ("main", "eq", "check")]
    for fr in tb[-3:]:
        out.append("  at %s line %d, in %s: %s" % (os.path.basename(fr.filename), fr.lineno,
                                                   fr.name, (fr.line or "").strip()))
    try:
        out.append("fake faults pending: %s" % json.dumps(admin("GET", "faults")["faults"]))
        reqs = admin("GET", "requests")["data"]
        out.append("fake's last requests (of %d):" % len(reqs))
        for r in reqs[-8:]:
            out.append("  %s %s%s -> %s at %s" % (r["method"], r["path"],
                                                 "?" + r["query"] if r["query"] else "",
                                                 r.get("status"), r["at"]))
    except Exception as e2:
        out.append("fake did not answer the admin API: %s: %s" % (type(e2).__name__, e2))
    return out


def main():
    global BASE
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="fake_pcm_test.")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", port_file,
                             "--key", KEY, "--secret", SECRET, "--token-ttl", str(TOKEN_TTL),
                             "--now", START, "--log", os.path.join(tmp, "fake.log")])
    failures = 0
    n = len(TESTS) + 1
    print("1..%d" % n)
    try:
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                print("Bail out! fake did not start")
                return 1
            time.sleep(0.05)
        with open(port_file) as f:
            BASE = "http://127.0.0.1:%d" % int(f.read().strip())
        for i, (name, fn) in enumerate(TESTS, 1):
            try:
                fresh_case()
                fn()
                print("ok %d - %s" % (i, name))
            except Exception as e:  # report and carry on
                failures += 1
                print("not ok %d - %s" % (i, name))
                diag(explain(e))
            sys.stdout.flush()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                rc = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = "timeout"
        else:
            rc = "exited early with %s" % proc.returncode
        name = "SIGINT stops the fake with exit status 0"
        if rc == 0:
            print("ok %d - %s" % (n, name))
        else:
            failures += 1
            print("not ok %d - %s" % (n, name))
            diag(["rc=%s" % rc])
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %d failure(s), %.1fs" % (failures, time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
