#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_jobber.py.  Standard library only (urllib).

Starts the fake on port 0 with 250 generated clients and a fixed clock, and
checks cursor paging (no repeats), the updatedAt filter, single-object
fetches, the version header, token expiry, refresh-token rotation, query-cost
throttling and its restoration, signed webhooks, mutations, faults, the
request log and shutdown.  Prints TAP; exits non-zero on any failure.
Run: python3 tests/fakes/test_fake_jobber.py

No case depends on how fast the machine is: the fake runs with --refill clock
(its query-cost bucket refills only when the fake clock moves), and every
case starts with Jobber's default budget, full, and no pending faults.  A
failing case's details (where it failed, the fake's budget and faults, the
last requests it logged, its log's tail) go to stderr as "# " lines, as
Test::More's diag does, so prove shows them without -v.
"""

import base64
import hashlib
import hmac
import http.client as http_client   # the name http is the helper below
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_jobber.py")
TOKEN = "test-token"
VERSION = "2025-01-20"
CLIENT_ID = "fake-jobber-client-id"
CLIENT_SECRET = "fake-jobber-client-secret"
N_CLIENTS = 250
START = "2026-12-01T12:00:00Z"
DEFAULT_BUDGET = {"maximumAvailable": 10000, "restoreRate": 500, "currentlyAvailable": 10000}
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
    """Whether e is one of the forms a connection closed by the server takes.
    Which one the client sees depends on timing: the server's FIN before the
    answer gives http.client.RemoteDisconnected (a ConnectionResetError and a
    BadStatusLine); a reset gives ConnectionResetError, or BrokenPipeError
    while still sending (which urllib wraps in URLError); a close part-way
    through an answer gives IncompleteRead or another HTTPException.  A
    timeout is not a drop."""
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        e = e.reason
    if isinstance(e, (socket.timeout, TimeoutError)):
        return False
    return isinstance(e, (ConnectionError, http_client.HTTPException))


def http(method, path, data=None, headers=None, timeout=15):
    req = urllib.request.Request(BASE + path, data=data, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())
    except Exception as e:
        if dropped_connection(e):
            return Resp(None, None, b"", error="%s: %s" % (type(e).__name__, e))
        raise


def gql(query, variables=None, token=TOKEN, version=VERSION, op=None):
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if op:
        body["operationName"] = op
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    if version:
        h["X-JOBBER-GRAPHQL-VERSION"] = version
    return http("POST", "/api/graphql", json.dumps(body).encode(), h)


def token_call(form):
    return http("POST", "/api/oauth/token", urllib.parse.urlencode(form).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})


def admin(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = http(method, "/__admin/" + path, data, {"Content-Type": "application/json"})
    assert r.status == 200, "admin %s %s -> %r" % (method, path, r)
    return r.json


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, what):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def ok_data(r, what):
    check(r.status == 200, "%s: expected HTTP 200, got %r" % (what, r))
    check(r.json is not None and "errors" not in r.json,
          "%s: unexpected errors %r" % (what, r.json and r.json.get("errors")))
    return r.json["data"]


def unlimited():
    admin("POST", "budget", {"maximumAvailable": 10000000, "restoreRate": 10000000,
                             "currentlyAvailable": 10000000})


# ---------------------------------------------------------------- tests

TESTS = []


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn
    return deco


@test("server answers on the port from --port-file, with 250 clients and the fixed clock")
def t_health():
    h = admin("GET", "health")
    eq(h["ok"], True, "ok")
    check(BASE.endswith(":%d" % h["port"]), "port matches")
    st = admin("GET", "state")
    eq(st["counts"]["clients"], N_CLIENTS, "generated clients")
    eq(st["clock"], {"now": START, "fixed": True}, "clock")
    eq(st["budget"], {"maximumAvailable": 10000, "currentlyAvailable": 10000,
                      "restoreRate": 500}, "Jobber's default budget")


@test("X-JOBBER-GRAPHQL-VERSION: required; echoed; removed versions upgraded; unsupported warned")
def t_version():
    q = "{ account { id } }"
    r = gql(q, version=None)
    eq(r.status, 400, "missing header status")
    eq(r.json["errors"][0]["extensions"]["code"], "VERSION_HEADER_REQUIRED", "missing code")
    r = gql(q, version="banana")
    eq(r.status, 400, "malformed version status")
    eq(r.json["errors"][0]["extensions"]["code"], "INVALID_API_VERSION", "malformed code")
    r = gql(q)
    ok_data(r, "good version")
    eq(r.json["extensions"]["versioning"], {"version": VERSION}, "version echoed")
    vs = admin("GET", "versions")["versions"]
    r = gql(q, version="2021-01-01")
    ok_data(r, "removed version")
    eq(r.json["extensions"]["versioning"]["version"], vs[0], "upgraded to the oldest supported")
    admin("POST", "versions", {"unsupported": [vs[0]]})
    try:
        r = gql(q, version=vs[0])
        ok_data(r, "unsupported version")
        check("no longer supported" in r.json["extensions"]["versioning"]["warning"], "warning")
    finally:
        admin("POST", "versions", {"unsupported": []})


@test("401 without a token or with an unknown one; the request log hides the token")
def t_auth():
    for tok in (None, "nope"):
        r = gql("{ account { id } }", token=tok)
        eq(r.status, 401, "status")
        eq(r.json["error"], "invalid_request", "error")
        eq(r.json["message"], "Invalid Token Error", "message")
    reqs = admin("GET", "requests")["requests"]
    check(all("authorization" not in {k.lower() for k in x["headers"]} for x in reqs),
          "no Authorization header recorded")


CLIENT_FIELDS = """id firstName lastName companyName
  emails { address primary } phones { number primary }
  billingAddress { street1 street2 city province postalCode country }
  updatedAt tags { nodes { label } }"""


@test("paging 250 clients with first/after: 3 pages, no repeats, totalCount, pageInfo")
def t_paging_nodes():
    unlimited()
    q = """query Clients($first: Int, $after: String) {
      clients(first: $first, after: $after) {
        nodes { %s }
        pageInfo { hasNextPage endCursor }
        totalCount } }""" % CLIENT_FIELDS
    seen, after, pages = [], None, 0
    while True:
        d = ok_data(gql(q, {"first": 100, "after": after}), "page %d" % (pages + 1))
        c = d["clients"]
        pages += 1
        eq(c["totalCount"], N_CLIENTS, "totalCount")
        seen += [n["id"] for n in c["nodes"]]
        check(set(c["nodes"][0]) == {"id", "firstName", "lastName", "companyName", "emails",
                                     "phones", "billingAddress", "updatedAt", "tags"},
              "only the selected fields: %r" % sorted(c["nodes"][0]))
        if not c["pageInfo"]["hasNextPage"]:
            break
        after = c["pageInfo"]["endCursor"]
        check(pages < 10, "paging does not end")
    eq(pages, 3, "pages")
    eq(len(seen), N_CLIENTS, "clients seen")
    eq(len(set(seen)), N_CLIENTS, "distinct clients (no repeats)")


@test("paging with edges { cursor node } sorted by UPDATED_AT: ascending, cursors resume")
def t_paging_edges():
    q = """query($after: String) { clients(first: 60, after: $after,
             sort: [{key: UPDATED_AT, direction: ASCENDING}]) {
             edges { cursor node { id updatedAt } } pageInfo { hasNextPage endCursor } } }"""
    seen, after, times = [], None, []
    while True:
        c = ok_data(gql(q, {"after": after}), "edges page")["clients"]
        eq(c["edges"][-1]["cursor"], c["pageInfo"]["endCursor"], "endCursor = last cursor")
        seen += [e["node"]["id"] for e in c["edges"]]
        times += [e["node"]["updatedAt"] for e in c["edges"]]
        if not c["pageInfo"]["hasNextPage"]:
            break
        after = c["pageInfo"]["endCursor"]
    eq(len(seen), N_CLIENTS, "clients seen")
    eq(len(set(seen)), N_CLIENTS, "no repeats")
    eq(times, sorted(times), "updatedAt ascending")
    r = gql(q, {"after": "not-a-cursor"})
    eq(r.status, 200, "bad cursor status")
    eq(r.json["errors"][0]["extensions"]["code"], "invalidCursor", "bad cursor code")


@test("filter {updatedAt: {after}}: only clients changed after the time (exclusive)")
def t_updated_filter():
    ids = [n["id"] for n in ok_data(gql("{ clients(first: 5) { nodes { id } } }"),
                                    "ids")["clients"]["nodes"]]
    admin("POST", "clock", {"now": "2026-12-02T09:00:00Z"})
    admin("POST", "clients", [{"id": ids[0], "firstName": "AtTheMark"}])
    admin("POST", "clock", {"advance_ms": 1000})
    upd = admin("POST", "clients", [{"id": ids[1], "lastName": "Changed"},
                                    {"id": ids[2], "companyName": "Changed Co"}])["clients"]
    eq([c["updatedAt"] for c in upd], ["2026-12-02T09:00:01Z"] * 2, "updatedAt from the clock")
    q = """query($since: ISO8601DateTime) { clients(first: 100,
             filter: {updatedAt: {after: $since}}) { nodes { id lastName } totalCount } }"""
    c = ok_data(gql(q, {"since": "2026-12-02T09:00:00Z"}), "after the mark")["clients"]
    eq(sorted(n["id"] for n in c["nodes"]), sorted(ids[1:3]), "changed strictly after")
    eq(c["totalCount"], 2, "totalCount follows the filter")
    c = ok_data(gql(q, {"since": "2026-12-02T08:59:59Z"}), "before the mark")["clients"]
    eq(sorted(n["id"] for n in c["nodes"]), sorted(ids[0:3]), "all three")
    c = ok_data(gql('{ clients(filter: {updatedAt: {eq: "2026-12-02T09:00:00Z"}}) '
                    '{ nodes { id firstName } } }'), "eq")["clients"]
    eq([(n["id"], n["firstName"]) for n in c["nodes"]], [(ids[0], "AtTheMark")], "eq")
    admin("POST", "invoices", [{"client": {"id": ids[0]}, "total": 120.5,
                                "invoiceStatus": "paid", "updatedAt": "2026-11-01T00:00:00Z"},
                               {"client": {"id": ids[1]}, "total": 99}])
    inv = ok_data(gql('{ invoices(filter: {updatedAt: {after: "2026-12-01T00:00:00Z"}}) '
                      '{ nodes { total client { id } } } }'), "invoices")["invoices"]["nodes"]
    eq(inv, [{"total": 99.0, "client": {"id": ids[1]}}], "invoice filter")


@test("jobs: filter updatedAt is rejected as in Jobber's schema; sort UPDATED_AT works")
def t_jobs():
    cid = ok_data(gql("{ clients(first: 1) { nodes { id } } }"), "cid")["clients"]["nodes"][0]["id"]
    admin("POST", "clock", {"now": "2026-12-03T10:00:00Z"})
    admin("POST", "jobs", [{"client": {"id": cid}, "title": "Gutter clean", "total": 250,
                            "jobStatus": "requires_invoicing",
                            "completedAt": "2026-12-03T09:30:00Z"}])
    admin("POST", "clock", {"advance_ms": 60000})
    admin("POST", "jobs", [{"client": {"id": cid}, "title": "Furnace", "total": 80}])
    r = gql('{ jobs(filter: {updatedAt: {after: "2026-01-01T00:00:00Z"}}) { totalCount } }')
    eq(r.status, 200, "status")
    check("data" not in r.json, "no data on a validation error")
    eq(r.json["errors"][0]["extensions"]["code"], "argumentNotAccepted", "code")
    eq(r.json["errors"][0]["message"],
       "InputObject 'JobFilterAttributes' doesn't accept argument 'updatedAt'", "message")
    d = ok_data(gql("""{ jobs(sort: [{key: UPDATED_AT, direction: DESCENDING}], first: 10) {
        nodes { id jobNumber title jobStatus client { id } completedAt updatedAt total } } }"""),
                "jobs sorted")["jobs"]["nodes"]
    eq([j["title"] for j in d], ["Furnace", "Gutter clean"], "descending by updatedAt")
    eq(d[1]["completedAt"], "2026-12-03T09:30:00Z", "completedAt")
    eq(d[1]["jobStatus"], "requires_invoicing", "jobStatus")
    eq(d[1]["total"], 250.0, "total")
    eq(d[1]["client"], {"id": cid}, "client id")
    admin("POST", "versions", {"jobs_updated_at_filter": True})
    try:
        d = ok_data(gql('{ jobs(filter: {updatedAt: {after: "2026-12-03T10:00:00Z"}}) '
                        '{ nodes { title } } }'), "opt-in filter")
        eq(d["jobs"]["nodes"], [{"title": "Furnace"}], "opt-in jobs updatedAt filter")
    finally:
        admin("POST", "versions", {"jobs_updated_at_filter": False})


@test("single-object fetch: client(id:), job(id:), invoice(id:), unknown id is null")
def t_single():
    cl = admin("GET", "clients")["clients"][3]
    d = ok_data(gql("query($id: EncodedId!) { client(id: $id) { %s } }" % CLIENT_FIELDS,
                    {"id": cl["id"]}), "client")["client"]
    eq(d["id"], cl["id"], "id")
    eq(d["firstName"], cl["firstName"], "firstName")
    eq(d["billingAddress"]["city"], cl["billingAddress"]["city"], "city")
    eq(d["updatedAt"], cl["updatedAt"], "updatedAt")
    job = admin("GET", "jobs")["jobs"][0]
    d = ok_data(gql('query($id: EncodedId!) { job(id: $id) { id jobNumber title client { id } } }',
                    {"id": job["id"]}), "job")["job"]
    eq(d, {"id": job["id"], "jobNumber": job["jobNumber"], "title": job["title"],
           "client": {"id": job["clientId"]}}, "job")
    inv = admin("GET", "invoices")["invoices"][0]
    d = ok_data(gql('query($id: EncodedId!) { invoice(id: $id) { id invoiceNumber invoiceStatus '
                    'total amounts { total invoiceBalance } client { id } } }',
                    {"id": inv["id"]}), "invoice")["invoice"]
    eq(d["amounts"], {"total": 120.5, "invoiceBalance": 0.0}, "amounts of a paid invoice")
    eq(d["invoiceStatus"], "paid", "invoiceStatus")
    d = ok_data(gql('{ client(id: "bm9wZQ==") { id } }'), "unknown")
    eq(d, {"client": None}, "unknown id")
    admin("DELETE", "jobs/" + urllib.parse.quote(job["id"], safe=""))
    eq(ok_data(gql('query($id: EncodedId!) { job(id: $id) { id } }', {"id": job["id"]}),
               "deleted")["job"], None, "deleted job")


@test("query cost: as Jobber documents (fields 1, nodes/edges 0, connections x first or 100)")
def t_cost():
    r = gql("{ clients(first: 10) { nodes { id firstName } } }")
    eq(r.json["extensions"]["cost"]["requestedQueryCost"], 20, "10 nodes x 2 fields")
    eq(r.json["extensions"]["cost"]["actualQueryCost"], 20, "actual")
    r = gql("{ clients { nodes { id firstName } pageInfo { hasNextPage } } }")
    eq(r.json["extensions"]["cost"]["requestedQueryCost"], 202, "no first: 100 nodes + pageInfo")
    r = gql('{ clients(first: 10, filter: {updatedAt: {after: "2026-12-02T09:00:00Z"}}) '
            '{ nodes { id firstName } } }')
    eq(r.json["extensions"]["cost"]["requestedQueryCost"], 20, "filters cost nothing")
    eq(r.json["extensions"]["cost"]["actualQueryCost"], 4, "actual: 2 nodes returned")
    r = gql('{ client(id: "x") { id firstName emails { address } } }')
    eq(r.json["extensions"]["cost"]["requestedQueryCost"], 5, "object fields count 1")


@test("throttling: over budget -> HTTP 200 with THROTTLED, nothing spent; points restore")
def t_throttle():
    admin("DELETE", "requests")
    admin("POST", "budget", {"maximumAvailable": 1000, "restoreRate": 10,
                             "currentlyAvailable": 1000, "refill": "clock"})
    q = "{ clients(first: 50) { nodes { id firstName } } }"      # costs 100
    for i in range(10):
        r = gql(q)
        ok_data(r, "query %d" % (i + 1))
        eq(r.json["extensions"]["cost"]["actualQueryCost"], 100, "actual cost")
        eq(r.json["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
           1000 - 100 * (i + 1), "left after query %d (refill clock: no real-time refill)"
           % (i + 1))
    r = gql(q)
    eq(r.status, 200, "throttled status is 200, not 429")
    check("data" not in r.json or r.json["data"] is None, "no data when throttled")
    eq(r.json["errors"][0]["message"], "Throttled", "message")
    eq(r.json["errors"][0]["extensions"]["code"], "THROTTLED", "code")
    cost = r.json["extensions"]["cost"]
    eq(cost["requestedQueryCost"], 100, "requested")
    eq(cost["actualQueryCost"], 0, "nothing spent")
    eq(cost["throttleStatus"]["currentlyAvailable"], 0, "available when throttled")
    eq(cost["throttleStatus"]["maximumAvailable"], 1000, "maximumAvailable")
    eq(cost["throttleStatus"]["restoreRate"], 10, "restoreRate")
    admin("POST", "clock", {"advance_ms": 10000})                 # +100 points
    r = gql(q)
    ok_data(r, "after 10 s")
    eq(r.json["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"], 0,
       "the 100 restored points spent again")
    r = gql("{ clients(first: 600) { nodes { id firstName } } }")   # 1200 > maximum
    admin("POST", "clock", {"advance_ms": 1000000})
    r = gql("{ clients(first: 600) { nodes { id firstName } } }")
    eq(r.json["errors"][0]["extensions"]["code"], "THROTTLED", "above maximumAvailable")
    st = admin("GET", "budget")
    eq(st["currentlyAvailable"], 1000, "restored to the maximum, never above")
    counts = admin("GET", "requests")["counts"]
    eq(counts["throttled"], 3, "throttled counted (the 11th query and both 1200-point ones)")


@test("refill real (Jobber's, the default): the bucket also refills in real time")
def t_refill_real():
    st = admin("POST", "budget", {"refill": "real", "maximumAvailable": 1000,
                                  "restoreRate": 1000, "currentlyAvailable": 0})
    eq(st["refill"], "real", "refill mode")
    time.sleep(0.2)          # at least 0.2 s pass, however loaded the machine: >= 200 points
    r = gql("{ clients(first: 50) { nodes { id firstName } } }")          # costs 100
    ok_data(r, "after 0.2 s of real time")
    st = admin("POST", "budget", {"refill": "clock", "currentlyAvailable": 0})
    eq(st["refill"], "clock", "back to refill clock")
    time.sleep(0.2)
    eq(admin("GET", "budget")["currentlyAvailable"], 0, "refill clock: no real-time refill")
    r = http("POST", "/__admin/budget", json.dumps({"refill": "sometimes"}).encode(),
             {"Content-Type": "application/json"})
    eq(r.status, 400, "bad refill mode")


@test("access token expiry: issued tokens expire after access_ttl_s (fake clock) -> 401")
def t_expiry():
    admin("POST", "auth", {"access_ttl_s": 60})
    pair = admin("POST", "tokens")
    head, payload, sig = pair["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    now = admin("GET", "clock")["now_ms"]
    eq(claims["exp"], now // 1000 + 60, "JWT exp")
    ok_data(gql("{ account { id } }", token=pair["access_token"]), "fresh token")
    admin("POST", "clock", {"advance_ms": 59000})
    ok_data(gql("{ account { id } }", token=pair["access_token"]), "at 59 s")
    admin("POST", "clock", {"advance_ms": 1000})
    r = gql("{ account { id } }", token=pair["access_token"])
    eq(r.status, 401, "expired at 60 s")
    eq(r.json["message"], "Invalid Token Error", "message")
    ok_data(gql("{ account { id } }"), "the static --token never expires")
    admin("POST", "auth", {"access_ttl_s": 3600})


@test("refresh grant with rotation on: new pair; the old refresh token is refused at once")
def t_rotation():
    pair = admin("POST", "tokens")
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    r = token_call(form)
    eq(r.status, 200, "refresh status")
    new = r.json
    check(new["refresh_token"] != pair["refresh_token"], "a new refresh token")
    check(new["access_token"] != pair["access_token"], "a new access token")
    check(new["expires_at"].endswith(" UTC"), "expires_at %r" % new["expires_at"])
    check("warning" not in new, "no warning with rotation on")
    ok_data(gql("{ account { id } }", token=new["access_token"]), "new access token works")
    r = token_call(form)
    eq(r.status, 401, "old refresh token refused")
    eq(r.json["error"], "invalid_grant", "error")
    eq(r.json["error_description"], "The provided refresh token is not valid.", "description")
    r = token_call(dict(form, refresh_token=new["refresh_token"]))
    eq(r.status, 200, "the new refresh token works")
    r = token_call(dict(form, client_secret="wrong", refresh_token=r.json["refresh_token"]))
    eq(r.status, 401, "wrong client secret")
    eq(r.json["error"], "invalid_client", "invalid_client")
    r = token_call(dict(form, grant_type="authorization_code", code="x"))
    eq(r.status, 400, "authorization-code exchange is out of scope")


@test("refresh grant with rotation off (same token, warning) and legacy (old token warned)")
def t_rotation_modes():
    admin("POST", "auth", {"rotation": "off"})
    try:
        pair = admin("POST", "tokens")
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
        for _ in range(2):
            r = token_call(form)
            eq(r.status, 200, "off status")
            eq(r.json["refresh_token"], pair["refresh_token"], "same refresh token")
            check("rotation is off" in r.json["warning"], "off warning")
        admin("POST", "auth", {"rotation": "legacy"})
        pair = admin("POST", "tokens")
        form["refresh_token"] = pair["refresh_token"]
        token_call(form)
        r = token_call(form)
        eq(r.status, 200, "legacy: old token still redeemed")
        check(r.json["warning"].startswith("Unexpected Refresh Token Redemption"), "legacy warning")
    finally:
        admin("POST", "auth", {"rotation": "on"})


class Receiver(BaseHTTPRequestHandler):
    got = []
    delay = 0.0

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Receiver.got.append((dict(self.headers), raw))
        time.sleep(Receiver.delay)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@test("webhook: Jobber's payload, X-Jobber-Hmac-SHA256 verifies with the client secret, 1 s")
def t_webhook():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = "http://127.0.0.1:%d/hooks/jobber" % srv.server_address[1]
    try:
        cid = admin("GET", "clients")["clients"][0]["id"]
        res = admin("POST", "webhook", {"url": url, "topic": "CLIENT_UPDATE", "itemId": cid})
        eq(res["status"], 200, "delivered")
        eq(res["within_1s"], True, "answered within 1 s (elapsed_ms %r)" % res.get("elapsed_ms"))
        hdrs, raw = Receiver.got[-1]
        hdrs = {k.lower(): v for k, v in hdrs.items()}
        want = base64.b64encode(hmac.new(CLIENT_SECRET.encode(), raw,
                                         hashlib.sha256).digest()).decode()
        eq(hdrs["x-jobber-hmac-sha256"], want, "signature = base64 HMAC-SHA256(secret, body)")
        eq(hdrs["content-type"], "application/json", "content type")
        ev = json.loads(raw)["data"]["webHookEvent"]
        eq(sorted(ev), ["accountId", "appId", "itemId", "occurredAt", "topic"], "payload keys")
        eq((ev["topic"], ev["itemId"]), ("CLIENT_UPDATE", cid), "topic and itemId")
        eq(ev["occurredAt"], admin("GET", "clock")["now"], "occurredAt from the fake clock")
        res = admin("POST", "webhook", {"url": url, "topic": "JOB_UPDATE", "itemId": "x",
                                        "bad_signature": True})
        zero = base64.b64encode(b"\0" * 32).decode()
        eq(res["signature"], zero, "bad_signature reported")
        eq({k.lower(): v for k, v in Receiver.got[-1][0].items()}["x-jobber-hmac-sha256"], zero,
           "bad signature sent")
        Receiver.delay = 1.3
        res = admin("POST", "webhook", {"url": url, "topic": "INVOICE_UPDATE", "itemId": "y"})
        eq(res["status"], 200, "slow receiver still answered")
        eq(res["within_1s"], False, "but not within 1 s")
        Receiver.delay = 0.0
        r = http("POST", "/__admin/webhook", json.dumps({"url": url, "topic": "NOPE"}).encode(),
                 {"Content-Type": "application/json"})
        eq(r.status, 400, "unknown topic")
        eq(len(admin("GET", "webhooks")["webhooks"]), 3, "webhook log")
    finally:
        srv.shutdown()
        srv.server_close()


@test("mutations: clientCreateNote, customFieldConfigurationCreateText + clientEdit")
def t_mutations():
    cid = admin("GET", "clients")["clients"][5]["id"]
    d = ok_data(gql("""mutation Note($id: EncodedId!, $msg: String) {
        clientCreateNote(clientId: $id, input: {message: $msg}) {
          clientNote { id message } userErrors { message path } } }""",
                    {"id": cid, "msg": "Postcard mailed 2026-12-03"}), "note")
    eq(d["clientCreateNote"]["userErrors"], [], "no userErrors")
    eq(d["clientCreateNote"]["clientNote"]["message"], "Postcard mailed 2026-12-03", "message")
    notes = admin("GET", "notes")["notes"]
    eq([(n["clientId"], n["message"]) for n in notes][-1:],
       [(cid, "Postcard mailed 2026-12-03")], "note recorded")
    d = ok_data(gql('mutation { clientCreateNote(clientId: "bm9wZQ==", input: {message: "x"}) '
                    '{ userErrors { message path } } }'), "unknown client")
    eq(d["clientCreateNote"]["userErrors"][0]["path"], ["clientId"], "userErrors path")
    d = ok_data(gql("""mutation { customFieldConfigurationCreateText(input: {name: "Mail status",
        appliesTo: ALL_CLIENTS, transferable: false, readOnly: true}) {
        customFieldConfiguration { id name readOnly } userErrors { message } } }"""), "cf")
    cfg = d["customFieldConfigurationCreateText"]["customFieldConfiguration"]
    eq((cfg["name"], cfg["readOnly"]), ("Mail status", True), "configuration")
    admin("POST", "clock", {"advance_ms": 5000})
    d = ok_data(gql("""mutation($id: EncodedId!, $cf: EncodedId!) {
        clientEdit(clientId: $id, input: {customFields: [{customFieldConfigurationId: $cf,
          valueText: "mailed"}]}) {
          client { updatedAt customFields { __typename ... on CustomFieldText { label valueText } } }
          userErrors { message } } }""", {"id": cid, "cf": cfg["id"]}), "clientEdit")
    cl = d["clientEdit"]["client"]
    eq(cl["customFields"], [{"__typename": "CustomFieldText", "label": "Mail status",
                             "valueText": "mailed"}], "custom field value")
    eq(cl["updatedAt"], admin("GET", "clock")["now"], "clientEdit moves updatedAt")


@test("write-back: customFieldConfigurations, an account without custom fields, cost, a held answer")
def t_write_back():
    q = """query($after: String) { customFieldConfigurations(first: 100, after: $after) {
        nodes { ... on CustomFieldConfigurationText { id name appliesTo } }
        pageInfo { endCursor hasNextPage } } }"""
    made = admin("POST", "custom_fields", {"name": "Fieldsync status"})
    r = gql(q)
    d = ok_data(r, "configurations")
    nodes = d["customFieldConfigurations"]["nodes"]
    check({"id": made["id"], "name": "Fieldsync status", "appliesTo": "ALL_CLIENTS"} in nodes,
          "the admin's configuration is listed: %r" % nodes)
    eq(r.json["extensions"]["cost"]["requestedQueryCost"], 303, "100 nodes of 3 fields, and pageInfo")
    cid = admin("GET", "clients")["clients"][6]["id"]
    admin("POST", "account", {"custom_fields": False})
    try:
        eq(ok_data(gql(q), "none")["customFieldConfigurations"]["nodes"], [], "a plan without custom fields")
        d = ok_data(gql("""mutation($id: EncodedId!, $cf: EncodedId!) { clientEdit(clientId: $id,
            input: {customFields: [{customFieldConfigurationId: $cf, valueText: "x"}]}) {
            userErrors { message path } } }""", {"id": cid, "cf": made["id"]}), "edit refused")
        eq(d["clientEdit"]["userErrors"][0]["path"], ["input", "customFields"], "refused on the plan")
    finally:
        admin("POST", "account", {"custom_fields": True})
    # A throttled mutation is not carried out.
    admin("POST", "budget", {"maximumAvailable": 10000, "currentlyAvailable": 0, "restoreRate": 500})
    before = len(admin("GET", "notes")["notes"])
    note = """mutation($id: EncodedId!) { clientCreateNote(clientId: $id, input: {message: "m"}) {
        clientNote { id } userErrors { message } } }"""
    r = gql(note, {"id": cid})
    eq(r.json["errors"][0]["extensions"]["code"], "THROTTLED", "throttled")
    eq(len(admin("GET", "notes")["notes"]), before, "no note while throttled")
    admin("POST", "budget", DEFAULT_BUDGET)
    # hold_ms: carried out, the answer held back (a client that gives up never hears of it).
    admin("POST", "faults", {"hold_ms": 3000, "operation": "clientCreateNote"})
    body = json.dumps({"query": note, "variables": {"id": cid}}).encode()
    try:
        r = http("POST", "/api/graphql", body, {"Content-Type": "application/json",
                                                "Authorization": "Bearer " + TOKEN,
                                                "X-JOBBER-GRAPHQL-VERSION": VERSION}, timeout=0.5)
    except Exception:
        r = None                      # the client gave up waiting
    check(r is None or r.status is None, "no answer inside the hold: %r" % r)
    eq(len(admin("GET", "notes")["notes"]), before + 1, "the held note is written")


@test("GraphQL errors: parse error and unknown field are 200 with errors, no data")
def t_errors():
    r = gql("{ clients(first: 1) { nodes { id }")
    eq(r.status, 200, "parse error status")
    eq(r.json["errors"][0]["message"], "Unexpected end of document", "end of document")
    r = gql("{ clients(first: 1) { nodes { id } } } }")
    eq(r.json["errors"][0]["message"], 'Parse error on "}" (RCURLY) at [1, 40]', "parse error")
    deep = "{ clients { nodes { " + "billingAddress { " * 2000 + "city" + " }" * 2002 + " }"
    r = gql(deep)
    eq((r.status, r.json["errors"][0]["extensions"]["code"]), (200, "maxDepthExceeded"),
       "deep nesting is an error, not a crash")
    r = gql("{ clients(first: 1) { nodes { id emailAddress } } }")
    eq(r.json["errors"][0]["message"], "Field 'emailAddress' doesn't exist on type 'Client'",
       "undefined field")
    check("data" not in r.json, "no data")
    r = http("POST", "/api/graphql", b"query=%7B%7D",
             {"Authorization": "Bearer " + TOKEN, "X-JOBBER-GRAPHQL-VERSION": VERSION,
              "Content-Type": "application/x-www-form-urlencoded"})
    eq(r.status, 415, "form-encoded GraphQL refused")


@test("faults: a 503 once, a dropped connection, then normal; request log counts")
def t_faults():
    admin("DELETE", "requests")
    admin("POST", "faults", {"status": 503, "count": 1})
    r = gql("{ account { id } }")
    eq(r.status, 503, "fault status")
    ok_data(gql("{ account { id } }"), "after the fault")
    admin("POST", "faults", {"drop": True, "operation": "clients"})
    ok_data(gql("{ account { id } }"), "other operations unaffected")
    r = gql("{ clients(first: 1) { nodes { id } } }")
    check(r.dropped, "expected a dropped connection, got %r" % r)
    ok_data(gql("{ clients(first: 1) { nodes { id } } }"), "after the drop")
    c = admin("GET", "requests")["counts"]
    eq(c["total"], 5, "requests counted")
    eq(c["by_status"], {"200": 3, "503": 1, "None": 1}, "by status")
    eq(c["by_operation"], {"account": 2, "clients": 1}, "by operation")
    eq(admin("GET", "faults")["faults"], [], "faults used up")


@test("reset: back to the generated clients, default auth and budget")
def t_reset():
    admin("POST", "reset")
    st = admin("GET", "state")
    eq(st["counts"], {"clients": N_CLIENTS, "jobs": 0, "invoices": 0}, "counts")
    eq(st["notes"], 0, "notes")
    eq(st["auth"]["rotation"], "on", "rotation")
    eq(st["clock"]["now"], START, "clock")


# ---------------------------------------------------------------- runner

def fresh_case():
    """What every case starts from, whatever the one before did or left:
    Jobber's default budget, full, refilled by the fake clock only; no faults."""
    admin("POST", "budget", dict(DEFAULT_BUDGET, refill="clock"))
    admin("DELETE", "faults")
    admin("POST", "account", {"custom_fields": True})


def diag(lines):
    """Test::More's diag: "# " lines on stderr, which prove shows without -v."""
    sys.stdout.flush()
    for line in lines:
        for part in str(line).splitlines() or [""]:
            sys.stderr.write("# " + part + "\n")
    sys.stderr.flush()


def explain(e, log):
    """The details of a failed case, for diag()."""
    out = ["%s: %s" % (type(e).__name__, e)]
    tb = [fr for fr in traceback.extract_tb(e.__traceback__)
          if os.path.abspath(fr.filename) == os.path.abspath(__file__)
          and fr.name not in ("main", "eq", "check")]
    for fr in tb[-3:]:
        out.append("  at %s line %d, in %s: %s" % (os.path.basename(fr.filename), fr.lineno,
                                                   fr.name, (fr.line or "").strip()))
    try:                                       # the fake's view, if it still answers
        b = admin("GET", "budget")
        out.append("fake budget: %s" % json.dumps(b, sort_keys=True))
        out.append("fake faults pending: %s" % json.dumps(admin("GET", "faults")["faults"]))
        reqs = admin("GET", "requests")["requests"]
        out.append("fake's last requests (of %d logged since the last clear):" % len(reqs))
        for r in reqs[-8:]:
            out.append("  #%s %s %s -> %s roots=%s throttled=%s cost=%s fault=%s %sms" % (
                r.get("seq"), r.get("method"), r.get("path"), r.get("status"),
                ",".join(r.get("roots") or []) or "-", r.get("throttled"),
                json.dumps(r.get("cost")), json.dumps(r.get("fault")), r.get("elapsed_ms")))
    except Exception as e2:
        out.append("fake did not answer the admin API: %s: %s" % (type(e2).__name__, e2))
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = f.read().splitlines()[-12:]
        out.append("fake log tail:")
        out += ["  " + ln for ln in tail]
    except OSError:
        pass
    return out


def main():
    global BASE
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="fake_jobber_test.")
    port_file = os.path.join(tmp, "port")
    log = os.path.join(tmp, "fake.log")
    proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", port_file,
                             "--generate-clients", str(N_CLIENTS), "--seed", "7",
                             "--now", START, "--refill", "clock", "--log", log])
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
            BASE = "http://127.0.0.1:%d" % int(f.read().strip())
        for i, (name, fn) in enumerate(TESTS, 1):
            try:
                fresh_case()
                fn()
                print("ok %d - %s" % (i, name))
            except Exception as e:  # report and carry on
                failures += 1
                print("not ok %d - %s" % (i, name))
                diag(explain(e, log))
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
            lines = ["rc=%s" % rc]
            try:
                with open(log, encoding="utf-8", errors="replace") as f:
                    lines += ["log tail:"] + ["  " + ln for ln in f.read().splitlines()[-10:]]
            except OSError:
                pass
            diag(lines)
        shutil.rmtree(tmp, ignore_errors=True)
    print("# %d failure(s), %.1fs" % (failures, time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
