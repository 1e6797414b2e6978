#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_qbo.py.  Standard library only (urllib).

Starts the fake on port 0 with a fixed clock and checks OAuth refresh,
rotation and access-token expiry, the CDC 1,000-object cap and 30-day
look-back, deletions in CDC, query paging, the 500-a-minute and
10-concurrent throttles, both webhook formats and their signatures, faults,
the request log and shutdown.  Prints TAP; exits non-zero on any failure.
Run: python3 tests/fakes/test_fake_qbo.py
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
from http.server import BaseHTTPRequestHandler, HTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_qbo.py")
TOKEN = "test-token"
REALM = "9341453908811111"
NOW = "2026-12-01T18:00:00Z"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
BASE = None
PORT = None


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None


def call(method, path, body=None, token=TOKEN, raw=None, headers=None, timeout=15):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None and raw is None:
        req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def admin(method, path, body=None):
    r = call(method, "/__admin/" + path, body, token=None)
    assert r.status == 200, "admin %s %s -> %s %r" % (method, path, r.status, r.raw[:300])
    return r.json


def v3(path, token=TOKEN, realm=REALM):
    return call("GET", "/v3/company/%s/%s" % (realm, path), token=token)


def cdc(entities, since, token=TOKEN):
    return v3("cdc?" + urllib.parse.urlencode({"entities": entities, "changedSince": since}),
              token=token)


def query(q, token=TOKEN):
    return v3("query?" + urllib.parse.urlencode({"query": q}) + "&minorversion=75", token=token)


def refresh(rt, cid="test-client-id", secret="test-client-secret"):
    basic = base64.b64encode(("%s:%s" % (cid, secret)).encode()).decode()
    data = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": rt}).encode()
    return call("POST", "/oauth2/v1/tokens/bearer", raw=data, token=None,
                headers={"Authorization": "Basic " + basic,
                         "Content-Type": "application/x-www-form-urlencoded"})


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, what):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def cdc_blocks(resp):
    """{"Customer":[...], ...} from a CDC answer, checking its shape."""
    check(isinstance(resp.get("CDCResponse"), list) and len(resp["CDCResponse"]) == 1,
          "CDCResponse is a one-element array")
    qr = resp["CDCResponse"][0]["QueryResponse"]
    check(isinstance(qr, list), "CDCResponse[0].QueryResponse is an array")
    out = {}
    for block in qr:
        for k, v in block.items():
            if isinstance(v, list):
                eq(block.get("maxResults"), len(v), "%s block maxResults" % k)
                out[k] = v
    check(isinstance(resp.get("time"), str), "time present")
    return out


def fault_of(r):
    check(r.json and "Fault" in r.json, "Intuit Fault body, got %r" % r.raw[:200])
    err = r.json["Fault"]["Error"][0]
    for k in ("Message", "Detail", "code"):
        check(k in err, "Fault.Error[0] lacks %s" % k)
    return r.json["Fault"]["type"], err


# ---------------------------------------------------------------- tests

TESTS = []


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn
    return deco


@test("server answers on the port from --port-file; the clock is fixed")
def t_health():
    h = admin("GET", "health")
    eq(h["ok"], True, "ok")
    eq(h["port"], PORT, "port")
    c = admin("GET", "clock")
    eq(c["fixed"], True, "fixed clock")
    eq(c["now"], "2026-12-01T10:00:00.000-08:00", "now in the company's zone")


@test("401 with Intuit's AuthenticationFailed fault without or with a wrong token")
def t_auth():
    for tok in (None, "wrong"):
        r = v3("customer/1", token=tok)
        eq(r.status, 401, "status")
        f = r.json["fault"]
        eq(f["type"], "AUTHENTICATION", "fault.type")
        eq(f["error"][0]["code"], "3200", "code")
        eq(f["error"][0]["message"],
           "message=AuthenticationFailed; errorCode=003200; statusCode=401", "message")
    r = call("GET", "/__admin/health", token=None)
    eq(r.status, 200, "admin needs no auth")
    r = v3("customer/1", realm="123")
    eq(r.status, 403, "unknown realm")


@test("refresh: expires_in 3600, rotation, old refresh token refused, access token expires")
def t_refresh():
    r = refresh("test-refresh-token", secret="wrong")
    eq(r.status, 401, "wrong client secret")
    eq(r.json, {"error": "invalid_client"}, "invalid_client")
    r = refresh("test-refresh-token")
    eq(r.status, 200, "refresh status")
    tok = r.json
    for k in ("token_type", "expires_in", "refresh_token", "x_refresh_token_expires_in",
              "access_token"):
        check(k in tok, "token answer lacks " + k)
    eq(tok["token_type"], "bearer", "token_type")
    eq(tok["expires_in"], 3600, "expires_in")
    eq(tok["x_refresh_token_expires_in"], 8726400, "x_refresh_token_expires_in")
    check(tok["refresh_token"] != "test-refresh-token", "refresh token rotated")
    at = tok["access_token"]
    eq(v3("query?query=select%20count(*)%20from%20Customer", token=at).status, 200,
       "new access token works")
    r = refresh("test-refresh-token")
    eq(r.status, 400, "rotated-out refresh token")
    eq(r.json, {"error": "invalid_grant"}, "invalid_grant")
    admin("POST", "clock", {"advance_ms": 3599 * 1000})
    eq(v3("query?query=select%20count(*)%20from%20Customer", token=at).status, 200,
       "still valid at 3599 s")
    admin("POST", "clock", {"advance_ms": 1000})
    r = v3("query?query=select%20count(*)%20from%20Customer", token=at)
    eq(r.status, 401, "expired at 3600 s")
    check(r.json["fault"]["error"][0]["detail"].startswith("Token expired"), "detail says expired")
    r2 = refresh(tok["refresh_token"])
    eq(r2.status, 200, "the latest refresh token works")
    check(r2.json["refresh_token"] != tok["refresh_token"], "rotated again")
    eq(v3("query?query=select%20count(*)%20from%20Customer",
          token=r2.json["access_token"]).status, 200, "fresh access token works")
    admin("POST", "tokens", {"rotate": False, "expires_in": 60})
    r3 = refresh(r2.json["refresh_token"])
    eq(r3.json["refresh_token"], r2.json["refresh_token"], "no rotation when turned off")
    eq(r3.json["expires_in"], 60, "configured expires_in")
    admin("POST", "tokens", {"rotate": True, "expires_in": 3600})
    admin("POST", "clock", {"now": NOW})


SEEDED = {}


@test("CDC over 1,200 changes answers 1,000 objects (entity order), no continuation")
def t_cdc_cap():
    res = admin("POST", "generate", {"customers": 600, "invoices": 600, "seed": 3,
                                     "start": "2026-11-30T00:00:00Z", "step_ms": 1000})
    SEEDED.update(res["ids"])
    eq(len(res["ids"]["Customer"]), 600, "customers")
    eq(len(res["ids"]["Invoice"]), 600, "invoices")
    r = cdc("Customer,Invoice", "2026-11-29T00:00:00Z")
    eq(r.status, 200, "status")
    b = cdc_blocks(r.json)
    total = sum(len(v) for v in b.values())
    eq(total, 1000, "objects in a saturated answer")
    eq(len(b["Customer"]), 600, "customers first, as asked")
    eq(len(b["Invoice"]), 400, "invoices fill the rest")
    inv = b["Invoice"]
    times = [o["MetaData"]["LastUpdatedTime"] for o in inv]
    eq(times, sorted(times), "ascending LastUpdatedTime within an entity")
    check(all("status" not in o for o in inv), "live objects carry no status")
    for k in ("Id", "DocNumber", "CustomerRef", "TotalAmt", "Balance", "TxnDate", "MetaData",
              "LinkedTxn", "SyncToken"):
        check(k in inv[0], "invoice lacks " + k)
    c = b["Customer"][0]
    for k in ("Id", "DisplayName", "GivenName", "FamilyName", "BillAddr", "MetaData",
              "SyncToken", "Active"):
        check(k in c, "customer lacks " + k)
    eq(sorted(c["BillAddr"]), sorted(["Line1", "City", "CountrySubDivisionCode",
                                      "PostalCode", "Country"]), "BillAddr fields")
    admin("POST", "limits", {"cdc_truncate": "oldest"})
    b = cdc_blocks(cdc("Invoice,Customer", "2026-11-29T00:00:00Z").json)
    eq(len(b["Customer"]), 600, "oldest mode keeps the 600 older customers")
    eq(len(b["Invoice"]), 400, "and the 400 oldest invoices")
    eq(b["Invoice"][-1]["Id"], SEEDED["Invoice"][399], "the 400th invoice is the last")
    admin("POST", "limits", {"cdc_truncate": "entity"})
    b = cdc_blocks(cdc("Invoice", "2026-11-30T00:10:00-00:00").json)
    eq(len(b["Invoice"]), 600, "a narrower window is under the cap")


@test("CDC refuses changedSince 31 days ago with Intuit's fault; 29 days is fine")
def t_cdc_lookback():
    r = cdc("Invoice", "2026-10-31T18:00:00Z")
    eq(r.status, 400, "31 days ago")
    ftype, err = fault_of(r)
    eq(ftype, "ValidationFault", "fault type")
    check("older than" in err["Detail"], "detail names the look-back: %r" % err["Detail"])
    r = cdc("Invoice", "2026-11-01T18:00:00Z")
    eq(r.status, 200, "30 days ago exactly is accepted")
    r = cdc("Invoice", "2026-11-02")
    eq(r.status, 200, "29 days ago, date only")
    r = cdc("TimeActivity", "2026-11-30")
    eq(r.status, 400, "an entity CDC does not support")
    r = v3("cdc?entities=Invoice")
    eq(r.status, 400, "changedSince missing")


@test("deletes: CDC reports status Deleted; reads answer Object Not Found; queries skip them")
def t_deletes():
    admin("POST", "clock", {"advance_ms": 3600 * 1000})
    inv_id = SEEDED["Invoice"][10]
    d = admin("DELETE", "invoices/%s" % inv_id)
    eq(d["status"], "Deleted", "admin answer")
    r = cdc("Invoice,Payment,Customer", "2026-12-01T10:30:00-08:00")
    b = cdc_blocks(r.json)
    eq(list(b), ["Invoice"], "only the deleted invoice changed since")
    gone = b["Invoice"][0]
    eq(gone["Id"], inv_id, "deleted id")
    eq(gone["status"], "Deleted", "status")
    eq(gone["MetaData"]["LastUpdatedTime"], "2026-12-01T11:00:00-08:00", "stamped at the fake clock")
    r = v3("invoice/%s" % inv_id)
    eq(r.status, 400, "read of a deleted invoice")
    _, err = fault_of(r)
    eq(err["code"], "610", "Object Not Found code")
    r = query("select count(*) from Invoice")
    eq(r.json["QueryResponse"]["totalCount"], 599, "query skips deleted")
    cust_id = SEEDED["Customer"][0]
    c = admin("DELETE", "customers/%s" % cust_id)
    eq(c["Active"], False, "a customer is made inactive, not deleted")
    r = query("select count(*) from Customer")
    eq(r.json["QueryResponse"]["totalCount"], 599, "inactive customers are hidden")
    r = query("select count(*) from Customer where Active in (true, false)")
    eq(r.json["QueryResponse"]["totalCount"], 600, "unless asked for")
    r = v3("customer/%s" % cust_id)
    eq(r.status, 200, "an inactive customer can still be read")
    eq(r.json["Customer"]["Active"], False, "Active false")


@test("payments: LinkedTxn to invoices, which get Balance, LinkedTxn and a new SyncToken")
def t_payments():
    inv_id = SEEDED["Invoice"][20]
    before = v3("invoice/%s" % inv_id).json["Invoice"]
    admin("POST", "clock", {"advance_ms": 60000})
    res = admin("POST", "payments", {"CustomerRef": before["CustomerRef"]["value"],
                                     "TotalAmt": 50, "Line": [{"Amount": 50, "LinkedTxn": [
                                         {"TxnId": inv_id, "TxnType": "Invoice"}]}]})
    pay_id = res["ids"][0]
    after = v3("invoice/%s" % inv_id).json["Invoice"]
    eq(after["Balance"], round(before["Balance"] - 50, 2), "balance reduced")
    eq(after["LinkedTxn"], [{"TxnId": pay_id, "TxnType": "Payment"}], "LinkedTxn")
    eq(int(after["SyncToken"]), int(before["SyncToken"]) + 1, "SyncToken bumped")
    p = v3("payment/%s" % pay_id).json["Payment"]
    eq(p["Line"][0]["LinkedTxn"][0]["TxnId"], inv_id, "payment links the invoice")
    eq(p["CustomerRef"]["name"], before["CustomerRef"]["name"], "CustomerRef name filled")
    b = cdc_blocks(cdc("Payment,Invoice", "2026-12-01T11:00:30-08:00").json)
    eq([o["Id"] for o in b["Payment"]], [pay_id], "payment in CDC")
    eq([o["Id"] for o in b["Invoice"]], [inv_id], "its invoice too")


@test("query: STARTPOSITION/MAXRESULTS pages have no repeats and cover everything")
def t_query_paging():
    q = ("select * from Invoice where MetaData.LastUpdatedTime > '2026-11-29T00:00:00Z' "
         "ORDERBY MetaData.LastUpdatedTime STARTPOSITION %d MAXRESULTS %d")
    seen = []
    start = 1
    last = None
    while True:
        r = query(q % (start, 250))
        eq(r.status, 200, "status")
        qr = r.json["QueryResponse"]
        check(isinstance(r.json.get("time"), str), "time")
        if not qr:
            break
        eq(qr["startPosition"], start, "startPosition")
        eq(qr["maxResults"], len(qr["Invoice"]), "maxResults is the page's count")
        for o in qr["Invoice"]:
            t = o["MetaData"]["LastUpdatedTime"]
            check(last is None or t >= last, "ordered by LastUpdatedTime")
            last = t
        seen += [o["Id"] for o in qr["Invoice"]]
        if len(qr["Invoice"]) < 250:
            break
        start += 250
    eq(len(seen), len(set(seen)), "no repeats")
    eq(len(seen), 599, "every live invoice once")
    r = query("SELECT * FROM Invoice MAXRESULTS 1000")
    eq(len(r.json["QueryResponse"]["Invoice"]), 599, "MAXRESULTS 1000 is allowed")
    admin("POST", "limits", {"query_max": 100})
    r = query("SELECT * FROM Invoice MAXRESULTS 150")
    eq(len(r.json["QueryResponse"]["Invoice"]), 100, "MAXRESULTS above the ceiling is clamped")
    admin("POST", "limits", {"query_over_max": "error"})
    eq(query("SELECT * FROM Invoice MAXRESULTS 150").status, 400, "or refused, if set so")
    admin("POST", "limits", {"query_max": 1000, "query_over_max": "clamp"})
    r = query("select * from Invoice where MetaData.LastUpdatedTime >= '%s' ORDERBY Id"
              % last)
    ids_ge = [o["Id"] for o in r.json["QueryResponse"]["Invoice"]]
    r = query("select * from Invoice where MetaData.LastUpdatedTime > '%s'" % last)
    eq(r.json["QueryResponse"], {}, "nothing after the last, an empty QueryResponse")
    check(len(ids_ge) >= 1, ">= the watermark includes it")
    r = query("select * from Invoice where MetaData.LastUpdatedTime > '2026-11-29' OR Id = '1'")
    eq(r.status, 400, "OR is refused")
    r = query("select Id from Invoice")
    eq(r.status, 400, "projections are refused")
    ftype, err = fault_of(query("select * form Invoice"))
    eq(err["Message"], "Error parsing query", "parse error message")


@test("429 with Intuit's throttle fault after 500 requests in a minute, per realm")
def t_rate():
    # The window is real time: ten minutes here, so that 500 requests on a
    # loaded machine cannot outlast it and let the 501st through.
    admin("POST", "limits", {"window_ms": 600000})  # clears the windows too
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=15)
    path = "/v3/company/%s/customer/%s" % (REALM, SEEDED["Customer"][1])
    hdr = {"Authorization": "Bearer " + TOKEN, "Accept": "application/json"}
    try:
        for i in range(500):
            conn.request("GET", path, headers=hdr)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise AssertionError("request %d got %d" % (i + 1, r.status))
        conn.request("GET", path, headers=hdr)
        r = conn.getresponse()
        body = json.loads(r.read())
    finally:
        conn.close()
    eq(r.status, 429, "the 501st request")
    err = body["Fault"]["Error"][0]
    eq(err["Message"], "message=ThrottleExceeded; errorCode=003001; statusCode=429", "message")
    eq(err["code"], "3001", "code")
    reqs = admin("GET", "requests?path_prefix=" + urllib.parse.quote(path))["requests"]
    eq(reqs[-1]["throttled"], "per_minute", "recorded as per_minute")
    admin("POST", "realms", {"realm": "4620816365000000"})
    eq(v3("query?query=select%20count(*)%20from%20Invoice", realm="4620816365000000").status,
       200, "another realm has its own budget")
    admin("POST", "limits", {"window_ms": 300})
    time.sleep(0.4)
    eq(v3("customer/%s" % SEEDED["Customer"][1]).status, 200, "the window slides")
    admin("POST", "limits", {"window_ms": 60000})


@test("429 for the 11th concurrent request to one realm")
def t_concurrent():
    admin("POST", "limits", {})
    # Slow enough that the 11th arrives while the 10 are in flight, on a loaded machine too.
    admin("POST", "faults", {"slow_ms": 5000, "count": 10,
                             "path_prefix": "/v3/company/%s/customer/" % REALM})
    results = []

    def one():
        results.append(v3("customer/%s" % SEEDED["Customer"][2]).status)
    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(admin("GET", "faults")["faults"]) == 0:
            break
        time.sleep(0.05)
    r = v3("invoice/%s" % SEEDED["Invoice"][0])
    for t in threads:
        t.join()
    eq(r.status, 429, "11th while 10 are in flight")
    eq(sorted(results), [200] * 10, "the 10 slow ones succeed")
    eq(v3("invoice/%s" % SEEDED["Invoice"][0]).status, 200, "fine once they finish")


class Receiver(BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.got.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def verify(body, token, sig):
    want = base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(want, sig)


@test("webhooks: classic and CloudEvents payloads, intuit-signature verifies")
def t_webhooks():
    srv = HTTPServer(("127.0.0.1", 0), Receiver)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = "http://127.0.0.1:%d/cgi-bin/fs-hook?source=qbo" % srv.server_address[1]
        res = admin("POST", "webhook", {
            "url": url, "verifier_token": "verif-123", "format": "both",
            "events": [{"name": "Invoice", "id": "130", "operation": "Create"},
                       {"name": "Payment", "id": "7", "operation": "Void",
                        "lastUpdated": "2026-12-01T10:59:00.000Z"}]})
        eq([s["status"] for s in res["sent"]], [200, 200], "two deliveries")
        eq(len(Receiver.got), 2, "received two")
        (p1, h1, b1), (p2, h2, b2) = Receiver.got
        eq(p1, "/cgi-bin/fs-hook?source=qbo", "path")
        check(verify(b1, "verif-123", h1["intuit-signature"]), "classic signature verifies")
        check(verify(b2, "verif-123", h2["intuit-signature"]), "CloudEvents signature verifies")
        check(not verify(b1, "client-secret", h1["intuit-signature"]),
              "the signature is keyed by the verifier token only")
        legacy = json.loads(b1)
        en = legacy["eventNotifications"]
        eq(len(en), 1, "one realm")
        eq(en[0]["realmId"], REALM, "realmId")
        ents = en[0]["dataChangeEvent"]["entities"]
        eq([(e["name"], e["id"], e["operation"]) for e in ents],
           [("Invoice", "130", "Create"), ("Payment", "7", "Void")], "entities")
        check(all("lastUpdated" in e for e in ents), "lastUpdated")
        ces = json.loads(b2)
        check(isinstance(ces, list) and len(ces) == 2, "CloudEvents: a JSON array")
        ce = ces[0]
        for k in ("specversion", "id", "source", "type", "datacontenttype", "time",
                  "intuitentityid", "intuitaccountid", "data"):
            check(k in ce, "CloudEvent lacks " + k)
        eq(ce["specversion"], "1.0", "specversion")
        eq(ce["type"], "qbo.invoice.created.v1", "type")
        eq(ces[1]["type"], "qbo.payment.voided.v1", "void type")
        eq(ce["intuitentityid"], "130", "intuitentityid")
        eq(ce["intuitaccountid"], REALM, "intuitaccountid")
        check(ce["id"] != ces[1]["id"], "distinct event ids")
        Receiver.got = []
        res = admin("POST", "webhook", {"url": url, "verifier_token": "verif-123",
                                        "format": "cloudevents", "bad_signature": True,
                                        "events": [{"name": "Customer", "id": "1",
                                                    "operation": "Update"}]})
        eq(len(Receiver.got), 1, "one delivery")
        _, h, b = Receiver.got[0]
        check(not verify(b, "verif-123", h["intuit-signature"]), "bad_signature fails")
    finally:
        srv.shutdown()
        srv.server_close()


@test("faults: an injected 503 in Intuit's shape, a dropped connection, then normal")
def t_faults():
    admin("POST", "faults", [{"status": 503, "count": 1}, {"drop": True, "count": 1}])
    r = v3("invoice/%s" % SEEDED["Invoice"][0])
    eq(r.status, 503, "fault status")
    ftype, _ = fault_of(r)
    eq(ftype, "SystemFault", "5xx type")
    try:
        r = v3("invoice/%s" % SEEDED["Invoice"][0])
        raise AssertionError("expected a dropped connection, got %s" % r.status)
    except (ConnectionError, http.client.HTTPException, urllib.error.URLError, OSError):
        pass
    eq(v3("invoice/%s" % SEEDED["Invoice"][0]).status, 200, "normal again")


@test("/__admin/requests records method, path, realm, status, auth; never the token")
def t_requests_log():
    reqs = admin("GET", "requests?path_prefix=/oauth2/")["requests"]
    check(reqs, "token requests recorded")
    eq(reqs[0]["status"], 401, "first was the wrong-secret refresh")
    reqs = admin("GET", "requests?path_prefix=/v3/")["requests"]
    r = reqs[-1]
    for k in ("seq", "method", "path", "status", "at", "clock", "realm", "auth", "headers"):
        check(k in r, "record lacks " + k)
    eq(r["realm"], REALM, "realm")
    check("authorization" not in {k.lower() for k in r["headers"]}, "token not recorded")


# ---------------------------------------------------------------- runner

def main():
    global BASE, PORT
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="fake_qbo_test.")
    port_file = os.path.join(tmp, "port")
    log = os.path.join(tmp, "fake.log")
    proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", port_file,
                             "--now", NOW, "--log", log])
    failures = 0
    print("1..%d" % (len(TESTS) + 1))
    try:
        deadline = time.monotonic() + 15
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                print("Bail out! fake did not start")
                return 1
            time.sleep(0.05)
        with open(port_file) as f:
            PORT = int(f.read().strip())
        BASE = "http://127.0.0.1:%d" % PORT
        for i, (name, fn) in enumerate(TESTS, 1):
            try:
                fn()
                print("ok %d - %s" % (i, name))
            except Exception as e:  # report and carry on
                failures += 1
                print("not ok %d - %s" % (i, name))
                # On stderr, which prove shows without -v.
                for line in ("%s: %s" % (type(e).__name__, e)).splitlines():
                    print("# " + line, file=sys.stderr)
            sys.stdout.flush()
    finally:
        n = len(TESTS) + 1
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = "timeout"
        else:
            rc = "exited early with %s" % proc.returncode
        if rc == 0:
            print("ok %d - SIGTERM stops the fake with exit status 0" % n)
        else:
            failures += 1
            print("not ok %d - SIGTERM stops the fake with exit status 0" % n)
            print("# rc=%s" % rc)
            try:
                with open(log) as f:
                    print("# log tail: " + " | ".join(f.read().splitlines()[-10:]))
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %d failure(s), %.1fs" % (failures, time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
