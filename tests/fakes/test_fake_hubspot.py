#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_hubspot.py.  Standard library only (urllib).

Starts the fake on port 0 with 10,050 generated contacts and checks search
paging and the 10,000 cap, tie ordering, auth, rate limits, faults, batch
read/update, associations, webhooks and shutdown.  Prints TAP; exits non-zero
on any failure.  Run: python3 tests/fakes/test_fake_hubspot.py
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
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_hubspot.py")
TOKEN = "test-token"
N_CONTACTS = 10050
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
BASE = None


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None


def call(method, path, body=None, token=TOKEN, raw=None, timeout=15):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
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


def admin(method, path, body=None):
    r = call(method, "/__admin/" + path, body, token=None)
    assert r.status == 200, "admin %s %s -> %s %r" % (method, path, r.status, r.raw[:300])
    return r.json


def search(otype, body):
    return call("POST", "/crm/v3/objects/%s/search" % otype, body)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, what):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def ms_of(iso):
    import datetime
    dt = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(round(dt.timestamp() * 1000))


# ---------------------------------------------------------------- tests

TESTS = []


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn
    return deco


@test("server answers on the port from --port-file")
def t_health():
    h = admin("GET", "health")
    eq(h["ok"], True, "ok")
    eq(BASE.endswith(":%d" % h["port"]), True, "port matches")
    st = admin("GET", "state")
    eq(st["counts"]["contacts"], N_CONTACTS, "generated contacts")
    admin("POST", "rate", {"max": 100000, "interval_ms": 10000})


@test("401 with HubSpot's error shape without or with a wrong token")
def t_auth():
    for tok in (None, "wrong"):
        r = call("POST", "/crm/v3/objects/contacts/search", {"limit": 1}, token=tok)
        eq(r.status, 401, "status")
        eq(r.json["status"], "error", "status field")
        eq(r.json["category"], "INVALID_AUTHENTICATION", "category")
        check(r.json.get("correlationId") and r.json.get("message"), "correlationId+message")
    r = call("GET", "/__admin/health", token=None)
    eq(r.status, 200, "admin needs no auth")


@test("rate-limit headers on every /crm response")
def t_rate_headers():
    r = search("contacts", {"limit": 1})
    eq(r.status, 200, "status")
    for h in ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining",
              "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Daily",
              "X-HubSpot-RateLimit-Daily-Remaining"):
        check(r.headers.get(h) is not None, "missing header " + h)
    eq(r.headers["X-HubSpot-RateLimit-Max"], "100000", "max")


@test("properties listing has names and types")
def t_properties():
    r = call("GET", "/crm/v3/properties/contacts")
    eq(r.status, 200, "status")
    props = {p["name"]: p for p in r.json["results"]}
    for name in ("email", "firstname", "lastname", "phone", "address", "city", "state",
                 "zip", "country", "lifecyclestage", "hubspot_owner_id",
                 "lastmodifieddate", "createdate", "hs_object_id", "job_status"):
        check(name in props, "missing property " + name)
    eq(props["email"]["type"], "string", "email type")
    eq(props["lastmodifieddate"]["type"], "datetime", "lastmodifieddate type")
    eq(props["lifecyclestage"]["type"], "enumeration", "lifecyclestage type")
    eq(props["hs_object_id"]["type"], "number", "hs_object_id type")
    for p in props.values():
        for k in ("name", "label", "type", "fieldType", "groupName"):
            check(k in p, "property %s lacks %s" % (p.get("name"), k))


@test("--data declares properties: an enumeration's options, kept across a reset")
def t_data_properties():
    tmp = tempfile.mkdtemp(prefix="fake_hubspot_data.")
    data = os.path.join(tmp, "data.json")
    port_file = os.path.join(tmp, "port")
    with open(data, "w") as f:
        json.dump({"contacts": [{"id": "1", "properties": {"job_status": "scheduled"}}],
                   "properties": {"contacts": [
                       {"name": "job_status", "type": "enumeration", "label": "Job status",
                        "options": ["scheduled", "in_progress", "job_completed"]},
                       {"name": "do_not_mail", "type": "bool"}]}}, f)
    proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", port_file, "--data", data],
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            check(proc.poll() is None and time.monotonic() < deadline, "the second fake did not start")
            time.sleep(0.05)
        base = "http://127.0.0.1:%d" % int(open(port_file).read())
        for attempt in ("at start", "after a reset"):
            req = urllib.request.Request(base + "/crm/v3/properties/contacts/job_status")
            req.add_header("Authorization", "Bearer " + TOKEN)
            with OPENER.open(req, timeout=15) as r:
                p = json.loads(r.read())
            eq(p["type"], "enumeration", "type " + attempt)
            eq(p["label"], "Job status", "label " + attempt)
            eq([o["value"] for o in p["options"]], ["scheduled", "in_progress", "job_completed"],
               "options " + attempt)
            req = urllib.request.Request(base + "/crm/v3/properties/contacts/do_not_mail")
            req.add_header("Authorization", "Bearer " + TOKEN)
            with OPENER.open(req, timeout=15) as r:
                eq([o["value"] for o in json.loads(r.read())["options"]], ["true", "false"], "a bool's options")
            req = urllib.request.Request(base + "/__admin/reset", data=b"{}", method="POST")
            req.add_header("Content-Type", "application/json")
            with OPENER.open(req, timeout=15) as r:
                r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


PAGED = {}
SORT_ASC = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]


def page_all(filters, start_after=0):
    """Page a lastmodifieddate-ascending search; return (results, final response)."""
    out = []
    after = start_after
    while True:
        r = search("contacts", {"filterGroups": [{"filters": filters}] if filters else [],
                                "sorts": SORT_ASC, "properties": ["email"],
                                "limit": 200, "after": str(after)})
        if r.status != 200:
            return out, r
        out.extend(r.json["results"])
        nxt = r.json.get("paging", {}).get("next", {}).get("after")
        if nxt is None:
            return out, r
        after = int(nxt)


@test("search pages 200 at a time up to 10,000 and answers 400 past the cap")
def t_paging_cap():
    res, last = page_all([{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}])
    eq(len(res), 10000, "results before the cap")
    eq(last.status, 400, "status past the cap")
    eq(last.json["category"], "VALIDATION_ERROR", "category")
    check("10000" in last.json["message"], "message mentions 10000: %r" % last.json["message"])
    ids = [x["id"] for x in res]
    eq(len(set(ids)), 10000, "no duplicates")
    r = search("contacts", {"limit": 200, "after": "9800"})
    eq(r.status, 200, "after=9800 limit=200 is the last allowed page")
    eq(r.json["total"], N_CONTACTS, "total")
    eq(r.json["paging"]["next"]["after"], "10000", "paging still offered")
    r = search("contacts", {"limit": 200, "after": "9900"})
    eq(r.status, 400, "after+limit past 10000")
    PAGED["first"] = res


@test("ties on lastmodifieddate are ordered by id ascending; boundaries fall inside ties")
def t_ties():
    res = PAGED["first"]
    keys = [(ms_of(x["properties"]["lastmodifieddate"]), int(x["id"])) for x in res]
    check(all(keys[i] < keys[i + 1] for i in range(len(keys) - 1)),
          "not sorted by (lastmodifieddate, id)")
    eq(res[0]["updatedAt"], res[0]["properties"]["lastmodifieddate"], "updatedAt == lastmodifieddate")
    inside = [k for k in range(200, 10000, 200) if keys[k - 1][0] == keys[k][0]]
    check(inside, "no page boundary falls inside a shared timestamp")
    props = res[0]["properties"]
    eq(sorted(props), sorted(["email", "hs_object_id", "createdate", "lastmodifieddate"]),
       "requested + default properties")
    # descending: ties still ascending by id
    r = search("contacts", {"sorts": ["-lastmodifieddate"], "limit": 200})
    eq(r.status, 200, "string sort form")
    ks = [(-ms_of(x["properties"]["lastmodifieddate"]), int(x["id"])) for x in r.json["results"]]
    check(all(ks[i] < ks[i + 1] for i in range(len(ks) - 1)), "descending order / id ties")


@test("re-querying with GTE the last timestamp reaches every contact")
def t_resume():
    res = PAGED["first"]
    last_ts = res[-1]["properties"]["lastmodifieddate"]
    more, last = page_all([{"propertyName": "lastmodifieddate", "operator": "GTE",
                            "value": str(ms_of(last_ts))}])
    eq(last.status, 200, "second query status")
    allids = set(x["id"] for x in res) | set(x["id"] for x in more)
    eq(len(allids), N_CONTACTS, "union of both queries")
    # ISO value is accepted and equals the epoch-ms value
    a = search("contacts", {"limit": 0, "filterGroups": [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": last_ts}]}]})
    b = search("contacts", {"limit": 0, "filterGroups": [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(ms_of(last_ts))}]}]})
    eq(a.json["total"], b.json["total"], "ISO vs epoch ms filter")
    c = search("contacts", {"limit": 0, "filterGroups": [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "BETWEEN", "value": "0",
         "highValue": last_ts}]}]})
    eq(c.json["total"] + a.json["total"] - b.json["total"] >= 10000, True, "BETWEEN")
    d = search("contacts", {"limit": 5, "filterGroups": [{"filters": [
        {"propertyName": "lifecyclestage", "operator": "IN", "values": ["customer"]}]}]})
    check(d.json["total"] > 0 and all(x["properties"].get("lifecyclestage") is None
                                      for x in d.json["results"]),
          "IN filter (lifecyclestage not requested, so not returned)")


@test("limit > 200 and bad bodies answer 400 and the server survives")
def t_bad_requests():
    r = search("contacts", {"limit": 201})
    eq(r.status, 400, "limit 201")
    eq(r.json["category"], "VALIDATION_ERROR", "category")
    r = call("POST", "/crm/v3/objects/contacts/search", raw=b"{not json")
    eq(r.status, 400, "invalid JSON")
    eq(r.json["category"], "VALIDATION_ERROR", "category")
    r = search("contacts", {"filterGroups": [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "LOL", "value": "1"}]}]})
    eq(r.status, 400, "bad operator")
    r = call("POST", "/crm/v3/objects/contacts/batch/update", {"inputs": "x"})
    eq(r.status, 400, "inputs not a list")
    r = call("POST", "/crm/v3/objects/contacts/batch/update",
             {"inputs": [{"id": str(1001 + i), "properties": {"city": "X"}} for i in range(101)]})
    eq(r.status, 400, "101 inputs")
    r = call("POST", "/crm/v3/objects/widgets/search", {})
    eq(r.status, 400, "unknown object type")
    eq(search("contacts", {"limit": 1}).status, 200, "still alive")


@test("429 with Retry-After once over the window; 429s count too")
def t_rate_limit():
    admin("POST", "rate", {"max": 3, "interval_ms": 4000})
    for i in range(3):
        r = search("contacts", {"limit": 1})
        eq(r.status, 200, "request %d" % (i + 1))
    eq(r.headers["X-HubSpot-RateLimit-Remaining"], "0", "remaining after 3")
    r = search("contacts", {"limit": 1})
    eq(r.status, 429, "4th request")
    ra = int(r.headers["Retry-After"])
    check(1 <= ra <= 4, "Retry-After %d" % ra)
    eq(r.headers["X-HubSpot-RateLimit-Max"], "3", "max header")
    eq(r.json["category"], "RATE_LIMITS", "category")
    eq(r.json["policyName"], "TEN_SECONDLY_ROLLING", "policyName")
    eq(search("contacts", {"limit": 1}).status, 429, "5th request")
    admin("POST", "rate", {"max": 100000, "interval_ms": 10000})
    eq(search("contacts", {"limit": 1}).status, 200, "after raising the limit")


@test("injected 503s answer JSON, then the API recovers")
def t_fault_503():
    admin("POST", "faults", {"status": 503, "count": 2,
                             "path_prefix": "/crm/v3/objects/contacts/search"})
    r1 = search("contacts", {"limit": 1})
    r2 = search("contacts", {"limit": 1})
    r3 = search("contacts", {"limit": 1})
    eq([r1.status, r2.status, r3.status], [503, 503, 200], "statuses")
    eq(r1.json["status"], "error", "JSON error body")
    admin("POST", "faults", {"status": 429, "retry_after": 7})
    r = search("contacts", {"limit": 1})
    eq((r.status, r.headers.get("Retry-After")), (429, "7"), "injected 429")


@test("drop, truncate, invalid_json and schema_change faults")
def t_fault_kinds():
    admin("POST", "faults", {"drop": True})
    try:
        search("contacts", {"limit": 1})
        raise AssertionError("drop: got an answer")
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, OSError):
        pass
    admin("POST", "faults", {"truncate": True})
    try:
        r = search("contacts", {"limit": 5})
        raise AssertionError("truncate: read a full body (%d bytes)" % len(r.raw))
    except (http.client.IncompleteRead, http.client.HTTPException, ConnectionError, OSError):
        pass
    admin("POST", "faults", {"invalid_json": True})
    r = search("contacts", {"limit": 1})
    eq(r.status, 200, "invalid_json status")
    eq(r.json, None, "body is not JSON")
    admin("POST", "faults", {"schema_change": True})
    r = search("contacts", {"limit": 1})
    eq(r.status, 200, "schema_change status")
    check(isinstance(r.json, dict) and "results" not in r.json, "no results key")
    eq(search("contacts", {"limit": 1}).status, 200, "faults used up")


@test("batch read: 207 with errors for unknown ids")
def t_batch_read():
    r = call("POST", "/crm/v3/objects/contacts/batch/read",
             {"properties": ["email", "city"], "inputs": [{"id": "1001"}, {"id": "424242"}]})
    eq(r.status, 207, "status")
    eq(r.json["status"], "COMPLETE", "status field")
    eq([x["id"] for x in r.json["results"]], ["1001"], "results")
    check("city" in r.json["results"][0]["properties"], "requested property")
    eq(r.json["numErrors"], 1, "numErrors")
    eq(r.json["errors"][0]["category"], "OBJECT_NOT_FOUND", "category")
    eq(r.json["errors"][0]["context"]["ids"], ["424242"], "ids")
    r = call("POST", "/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": "1002"}]})
    eq(r.status, 200, "all found")


@test("batch update: applies, bumps lastmodifieddate to the fake clock, 207 for failures")
def t_batch_update():
    admin("POST", "clock", {"now": "2026-11-30T01:00:00Z"})
    admin("DELETE", "updates")
    before = admin("GET", "contacts/1002")
    admin("POST", "faults", {"partial_fail_ids": ["1002"]})
    r = call("POST", "/crm/v3/objects/contacts/batch/update", {"inputs": [
        {"id": "1001", "properties": {"last_mail_sent": "2026-11-30", "city": "Austin"}},
        {"id": "1002", "properties": {"city": "Nowhere"}},
        {"id": "999999", "properties": {"city": "Nowhere"}}]})
    eq(r.status, 207, "status")
    eq([x["id"] for x in r.json["results"]], ["1001"], "applied")
    errs = {e["category"] + ":" + ",".join(e["context"]["ids"]) for e in r.json["errors"]}
    check("OBJECT_NOT_FOUND:999999" in errs, "unknown id error: %r" % errs)
    check(any(e.endswith(":1002") for e in errs), "fault id error: %r" % errs)
    c = admin("GET", "contacts/1001")
    eq(c["properties"]["lastmodifieddate"], "2026-11-30T01:00:00.000Z", "lastmodifieddate")
    eq(c["updatedAt"], "2026-11-30T01:00:00.000Z", "updatedAt")
    eq(c["properties"]["last_mail_sent"], "2026-11-30", "new property")
    eq(admin("GET", "contacts/1002"), before, "1002 untouched")
    ups = admin("GET", "updates")["updates"]
    eq([(u["id"], u["properties"]["city"]) for u in ups], [("1001", "Austin")], "recorded updates")
    r = call("POST", "/crm/v3/objects/contacts/batch/update",
             {"inputs": [{"id": "1002", "properties": {"city": "Reno"}}]})
    eq(r.status, 200, "fault used up")
    r = call("POST", "/crm/v3/objects/contacts/batch/update",
             {"inputs": [{"id": "1002", "properties": {"lastmodifieddate": "1"}}]})
    eq(r.status, 400, "read-only property")


@test("contacts changing between pages (mutate_between_pages)")
def t_mutate_between_pages():
    q = {"sorts": SORT_ASC, "limit": 3, "properties": ["email"]}
    p1 = search("contacts", q).json["results"]
    first = p1[0]["id"]
    admin("POST", "mutate_between_pages", {"after_page": 1, "contacts": [
        {"id": first, "properties": {"lifecyclestage": "customer"},
         "updatedAt": "2027-01-01T00:00:00Z"}]})
    eq(admin("GET", "contacts/" + first)["updatedAt"] != "2027-01-01T00:00:00.000Z", True,
       "not applied before the page")
    p1b = search("contacts", q).json["results"]
    eq(p1b[0]["id"], first, "page 1 served before the change")
    eq(admin("GET", "contacts/" + first)["updatedAt"], "2027-01-01T00:00:00.000Z",
       "applied right after page 1")
    p2 = search("contacts", dict(q, after="3")).json["results"]
    # the moved contact left the head of the list, so offsets shifted by one:
    # page 2 now starts with what was the 5th result (the 4th was skipped)
    before = search("contacts", dict(q, limit=6)).json["results"]
    check(first not in [x["id"] for x in before], "moved contact left the head")
    eq([x["id"] for x in p2], [x["id"] for x in before[3:6]], "page 2 after the shift")


@test("engagements and deals: search, GET with associations, v4 batch read")
def t_associations():
    admin("POST", "engagements", [
        {"id": "900001", "type": "calls", "properties": {
            "hs_timestamp": "2026-11-29T10:00:00Z", "hubspot_owner_id": "41235",
            "hs_call_title": "Follow-up"}, "associations": {"contacts": ["1001"]}},
        {"id": "900002", "type": "TASK", "properties": {"hs_timestamp": "1764410400000"},
         "contactIds": ["1003"]}])
    admin("POST", "deals", {"deals": [
        {"id": "700001", "properties": {"dealname": "Furnace", "amount": "4200",
                                        "closedate": "2026-11-28T00:00:00Z",
                                        "dealstage": "closedwon", "pipeline": "default",
                                        "deal_currency_code": "USD"},
         "associations": {"contacts": ["1001", "1002"]}}]})
    r = search("calls", {"filterGroups": [{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "2026-11-30"}]}],
        "properties": ["hs_timestamp", "hubspot_owner_id"]})
    eq(r.status, 200, "calls search")
    eq([x["id"] for x in r.json["results"]], ["900001"], "calls found")
    eq(r.json["results"][0]["properties"]["hs_lastmodifieddate"], "2026-11-30T01:00:00.000Z",
       "hs_lastmodifieddate from the fake clock")
    r = call("GET", "/crm/v3/objects/calls/900001?associations=contacts")
    eq(r.json["associations"]["contacts"]["results"][0]["id"], "1001", "v3 associations")
    r = call("POST", "/crm/v4/associations/deals/contacts/batch/read",
             {"inputs": [{"id": "700001"}]})
    eq(r.status, 200, "v4 status")
    to = r.json["results"][0]["to"]
    eq([t["toObjectId"] for t in to], [1001, 1002], "v4 toObjectIds")
    eq(to[0]["associationTypes"][0]["typeId"], 3, "deal_to_contact typeId")
    r = call("POST", "/crm/v4/associations/tasks/contacts/batch/read",
             {"inputs": [{"id": "900002"}, {"id": "1"}]})
    eq(r.status, 207, "v4 with a missing id")
    eq(r.json["results"][0]["to"][0]["toObjectId"], 1003, "task association")
    r = search("deals", {"filterGroups": [{"filters": [
        {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
        {"propertyName": "amount", "operator": "GT", "value": "1000"}]}]})
    eq(r.json["total"], 1, "deal search")


class Receiver(BaseHTTPRequestHandler):
    got = []
    answer = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.got.append((self.path, self.headers, body))
        self.send_response(Receiver.answer)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


@test("webhook v3: JSON array of events, X-HubSpot-Signature-v3 verifies")
def t_webhook():
    srv = HTTPServer(("127.0.0.1", 0), Receiver)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = "http://127.0.0.1:%d/cgi-bin/fs-hook?source=hubspot" % srv.server_address[1]
        res = admin("POST", "webhook", {"url": url, "secret": "s3cret", "events": [
            {"subscriptionType": "contact.propertyChange", "objectId": 1001,
             "propertyName": "lifecyclestage", "propertyValue": "customer",
             "occurredAt": 1764464400000}]})
        eq(res["status"], 200, "receiver status")
        path, headers, body = Receiver.got[-1]
        eq(path, "/cgi-bin/fs-hook?source=hubspot", "path")
        ts = headers["X-HubSpot-Request-Timestamp"]
        eq(ts, str(ms_of("2026-11-30T01:00:00Z")), "timestamp from the fake clock")
        want = base64.b64encode(hmac.new(b"s3cret", b"POST" + url.encode() + body + ts.encode(),
                                         hashlib.sha256).digest()).decode()
        eq(headers["X-HubSpot-Signature-v3"], want, "signature")
        events = json.loads(body)
        check(isinstance(events, list) and len(events) == 1, "array of one event")
        for k in ("eventId", "subscriptionId", "portalId", "appId", "occurredAt",
                  "subscriptionType", "attemptNumber", "objectId", "propertyName",
                  "propertyValue", "changeSource"):
            check(k in events[0], "event lacks " + k)
        eq(events[0]["objectId"], 1001, "objectId")
        Receiver.answer = 500
        res = admin("POST", "webhook", {"url": url, "secret": "s3cret", "events": [
            {"objectId": 1002, "propertyName": "lifecyclestage", "propertyValue": "lead"}]})
        eq(res["status"], 500, "receiver's 500 reported")
    finally:
        srv.shutdown()
        srv.server_close()


@test("owners: paged in id order, archived apart, by id, auth and faults as elsewhere")
def t_owners():
    admin("POST", "owners", [{"id": "300", "email": "c@x.io", "firstName": "Cy", "lastName": "Old",
                              "archived": True},
                             {"id": "200", "email": "b@x.io", "firstName": "Bo", "lastName": "Lee"},
                             {"id": "100", "email": "a@x.io", "firstName": "Al", "lastName": "Ng"}])
    r = call("GET", "/crm/v3/owners?limit=1")
    eq(r.status, 200, "status")
    eq([(o["id"], o["firstName"], o["archived"]) for o in r.json["results"]], [("100", "Al", False)], "page 1")
    eq(r.json["paging"]["next"]["after"], "1", "next after")
    r = call("GET", "/crm/v3/owners?limit=1&after=1")
    eq([o["id"] for o in r.json["results"]], ["200"], "page 2")
    check("paging" not in r.json, "no next page after the last active owner")
    r = call("GET", "/crm/v3/owners?archived=true")
    eq([o["id"] for o in r.json["results"]], ["300"], "archived=true: the archived ones only")
    eq(call("GET", "/crm/v3/owners/200").json["email"], "b@x.io", "one owner by id")
    eq(call("GET", "/crm/v3/owners/300").status, 404, "an archived owner, without archived=true")
    eq(call("GET", "/crm/v3/owners?limit=501").status, 400, "limit above 500")
    eq(call("GET", "/crm/v3/owners", token=None).status, 401, "no token")
    admin("POST", "faults", {"status": 500, "path_prefix": "/crm/v3/owners"})
    eq(call("GET", "/crm/v3/owners").status, 500, "a fault")
    eq(call("GET", "/crm/v3/owners").status, 200, "then the API again")
    eq(len(admin("GET", "requests?path_prefix=/crm/v3/owners")["requests"]), 9, "requests logged")
    admin("DELETE", "owners")
    eq(call("GET", "/crm/v3/owners").json["results"], [], "cleared")


@test("/__admin/requests records method, path, body, status, at")
def t_requests_log():
    reqs = admin("GET", "requests?path_prefix=/crm/v3/objects/contacts/batch/update")["requests"]
    check(reqs, "batch updates recorded")
    r = reqs[0]
    for k in ("method", "path", "body", "status", "at"):
        check(k in r, "record lacks " + k)
    eq(r["method"], "POST", "method")
    eq(r["status"], 400, "first batch update was the 101-input 400")
    check("authorization" not in {k.lower() for k in r["headers"]}, "token not recorded")


@test("--dump-generated is deterministic and well-formed")
def t_dump():
    a = subprocess.run([sys.executable, FAKE, "--dump-generated", "40", "--seed", "5"],
                       capture_output=True, check=True).stdout
    b = subprocess.run([sys.executable, FAKE, "--dump-generated", "40", "--seed", "5"],
                       capture_output=True, check=True).stdout
    c = subprocess.run([sys.executable, FAKE, "--dump-generated", "40", "--seed", "6"],
                       capture_output=True, check=True).stdout
    eq(a, b, "same seed, same output")
    check(a != c, "different seed, different output")
    d = json.loads(a)
    eq(len(d["contacts"]), 40, "count")
    p = d["contacts"][0]["properties"]
    eq(p["lastmodifieddate"], d["contacts"][0]["updatedAt"], "lastmodifieddate == updatedAt")


# ---------------------------------------------------------------- runner

def main():
    global BASE
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="fake_hubspot_test.")
    port_file = os.path.join(tmp, "port")
    log = os.path.join(tmp, "fake.log")
    proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", port_file,
                             "--generate", str(N_CONTACTS), "--seed", "7", "--log", log])
    failures = 0
    print("1..%d" % (len(TESTS) + 1))
    try:
        deadline = time.monotonic() + 15
        while not os.path.exists(port_file):
            if proc.poll() is not None or time.monotonic() > deadline:
                print("Bail out! fake did not start")
                return 1
            time.sleep(0.05)
        with open(port_file) as f:
            BASE = "http://127.0.0.1:%d" % int(f.read().strip())
        for i, (name, fn) in enumerate(TESTS, 1):
            try:
                fn()
                print("ok %d - %s" % (i, name))
            except Exception as e:  # report and carry on
                failures += 1
                print("not ok %d - %s" % (i, name))
                for line in ("%s: %s" % (type(e).__name__, e)).splitlines():
                    print("# " + line)
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
