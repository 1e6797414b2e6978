#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_servicetitan.py.  Standard library only.

Starts the fake on port 0 and checks the client-credentials grant, the
ST-App-Key and tenant checks, token expiry, list paging with
modifiedOnOrAfter (ties at the boundary come back, the filter is inclusive),
export continuation tokens and their repeats with includeRecentChanges,
merges, the rate limit's 429, custom-field PATCH, faults and the request
log (a request is logged before it is answered).  Prints TAP.
Run: python3 tests/fakes/test_fake_servicetitan.py
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_servicetitan.py")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
KEY = "fake-st-app-key"
BASE = None
n = 0
failed = 0


def ok(cond, name, got=None):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, name))
    if not cond:
        failed += 1
        sys.stderr.write("# got: %r\n" % (got,))


def call(method, path, body=None, headers=None, form=None):
    data = None
    h = dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=h)
    try:
        with OPENER.open(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


def token():
    s, doc, _ = call("POST", "/connect/token", form={"grant_type": "client_credentials",
                                                     "client_id": "fake-st-client-id",
                                                     "client_secret": "fake-st-client-secret"})
    return doc["access_token"]


def api(path, tok, key=KEY, method="GET", body=None):
    return call(method, path, body=body, headers={"Authorization": "Bearer " + tok, "ST-App-Key": key})


def main():
    global BASE
    tmp = tempfile.mkdtemp()
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", port_file,
                             "--now", "2026-11-29T10:00:00Z", "--export-page", "2"])
    try:
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        BASE = "http://127.0.0.1:" + open(port_file).read()
        print("1..24")
        call("POST", "/__admin/customers", [
            {"id": 1, "name": "A", "modifiedOn": "2026-11-29T10:00:00Z"},
            {"id": 2, "name": "B", "modifiedOn": "2026-11-29T10:00:00Z"},
            {"id": 3, "name": "C", "modifiedOn": "2026-11-29T10:00:00Z"},
            {"id": 4, "name": "D", "modifiedOn": "2026-11-29T10:01:00Z"}])
        call("POST", "/__admin/jobs", {"id": 9, "customerId": 1, "jobStatus": "Completed"})
        call("POST", "/__admin/locations", {"id": 11, "customerId": 1, "address": {"street": "1 Main St"}})

        s, doc, _ = call("POST", "/connect/token", form={"grant_type": "client_credentials",
                                                         "client_id": "x", "client_secret": "y"})
        ok(s == 401 and doc == {"error": "invalid_client"}, "a wrong client: 401 invalid_client", (s, doc))
        s, doc, _ = call("POST", "/connect/token", form={"grant_type": "refresh_token"})
        ok(s == 400 and doc == {"error": "unsupported_grant_type"}, "client credentials only", (s, doc))
        tok = token()
        ok(tok.startswith("st-"), "a token", tok)
        s, doc, _ = api("/crm/v2/tenant/1000/customers", tok, key="nope")
        ok(s == 401, "a wrong app key: 401", s)
        s, doc, _ = api("/crm/v2/tenant/1001/customers", tok)
        ok(s == 403, "another tenant: 403", s)
        s, doc, _ = call("GET", "/crm/v2/tenant/1000/customers", headers={"ST-App-Key": KEY})
        ok(s == 401, "no token: 401", s)

        s, doc, _ = api("/crm/v2/tenant/1000/customers?sort=%2BModifiedOn&pageSize=2&page=1", tok)
        ok(s == 200 and [c["id"] for c in doc["data"]] == [1, 2] and doc["hasMore"] is True,
           "list: oldest first, paged", doc)
        s, doc, _ = api("/crm/v2/tenant/1000/customers?sort=%2BModifiedOn&pageSize=5"
                        "&modifiedOnOrAfter=2026-11-29T10:00:00.000Z", tok)
        ok([c["id"] for c in doc["data"]] == [1, 2, 3, 4], "modifiedOnOrAfter is inclusive: ties come back", doc)
        s, doc, _ = api("/crm/v2/tenant/1000/customers?modifiedOnOrAfter=2026-11-29T10:00:00.001Z", tok)
        ok([c["id"] for c in doc["data"]] == [4], "a millisecond later: only the newer", doc)
        s, doc, _ = api("/crm/v2/tenant/1000/customers?ids=2,4", tok)
        ok([c["id"] for c in doc["data"]] == [2, 4], "ids", doc)
        s, doc, _ = api("/crm/v2/tenant/1000/locations?customerIds=1", tok)
        ok([loc["id"] for loc in doc["data"]] == [11], "locations by customerIds", doc)
        s, doc, _ = api("/crm/v2/tenant/1000/customers?pageSize=5001", tok)
        ok(s == 400, "pageSize above 5000: 400", s)

        s, doc, _ = api("/crm/v2/tenant/1000/export/customers", tok)
        ok([c["id"] for c in doc["data"]] == [1, 2] and doc["hasMore"], "export: a first page", doc)
        s, doc2, _ = api("/crm/v2/tenant/1000/export/customers?from=" + doc["continueFrom"], tok)
        ok([c["id"] for c in doc2["data"]] == [3, 4] and not doc2["hasMore"], "export: from continueFrom", doc2)
        call("POST", "/__admin/config", {"export_repeat": 1})
        call("POST", "/__admin/clock", {"now": "2026-11-29T10:02:00Z"})
        call("POST", "/__admin/customers", {"id": 5, "name": "E"})
        s, doc3, _ = api("/crm/v2/tenant/1000/export/customers?includeRecentChanges=true&from="
                         + doc2["continueFrom"], tok)
        ok([c["id"] for c in doc3["data"]] == [4, 5], "includeRecentChanges: the last one again", doc3)
        s, doc4, _ = api("/crm/v2/tenant/1000/export/customers?from=2026-11-29T10:01:00Z", tok)
        ok([c["id"] for c in doc4["data"]] == [4, 5], "export from a date: modifiedOn at or after it", doc4)
        call("POST", "/__admin/config", {"export_repeat": 0})

        call("POST", "/__admin/merge", {"from": 1, "into": 2})
        st = call("GET", "/__admin/state")[1]
        one = [c for c in st["customers"] if c["id"] == 1][0]
        ok(one["mergedToId"] == 2 and one["active"] is False, "merge: the merged-away points at the survivor", one)
        ok(st["jobs"][0]["customerId"] == 2 and st["locations"][0]["customerId"] == 2,
           "merge: jobs and locations move to the survivor", st)

        call("POST", "/__admin/custom-field-types", {"id": 77, "name": "Mail status"})
        s, doc, _ = api("/crm/v2/tenant/1000/customers/2", tok, method="PATCH",
                        body={"customFields": [{"typeId": 77, "value": "Delivered"}]})
        ok(s == 200 and doc["customFields"] == [{"typeId": 77, "name": "Mail status", "value": "Delivered"}],
           "PATCH sets a custom field", doc)
        s, doc, _ = api("/crm/v2/tenant/1000/customers/2", tok, method="PATCH",
                        body={"customFields": [{"typeId": 78, "value": "x"}]})
        ok(s == 400, "a custom field type that does not exist: 400", (s, doc))

        call("POST", "/__admin/config", {"rate": 1})
        api("/crm/v2/tenant/1000/customers", tok)
        s, doc, h = api("/crm/v2/tenant/1000/customers", tok)
        ok(s == 429 and h.get("Retry-After") == "1", "over the rate: 429 with Retry-After", (s, h))
        call("POST", "/__admin/config", {"rate": 60})

        call("POST", "/__admin/config", {"access_ttl_s": 1})
        short = token()
        time.sleep(1.1)
        s, doc, _ = api("/crm/v2/tenant/1000/customers", short)
        ok(s == 401, "an expired token: 401", s)
        call("POST", "/__admin/config", {"access_ttl_s": 900})
        call("POST", "/__admin/revoke")
        s, doc, _ = api("/crm/v2/tenant/1000/customers", tok)
        ok(s == 401, "revoked: 401", s)

        call("DELETE", "/__admin/requests")
        call("POST", "/__admin/faults", {"status": 503, "path_prefix": "/jpm/"})
        tok = token()
        s, doc, _ = api("/jpm/v2/tenant/1000/jobs", tok)
        reqs = call("GET", "/__admin/requests?path_prefix=/jpm/")[1]["requests"]
        ok(s == 503 and reqs[0]["status"] == 503 and call("GET", "/__admin/faults")[1]["faults"] == [],
           "a fault answers once and is logged", (s, reqs))
    finally:
        proc.terminate()
        proc.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
