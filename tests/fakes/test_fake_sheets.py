#!/usr/bin/env python3
"""Self-test of tests/fakes/fake_sheets.py.  Standard library only (urllib).

Starts the fake on port 0 and checks values.get (auth, trailing empty cells
left out, the whole range in "range", rows re-ordered between reads, a
column renamed), values.batchUpdate, the quotas' 429, token expiry and the
refresh grant (no new refresh token, as Google), faults, and that a request
is in the log before it is answered.  Prints TAP; exits non-zero on any
failure.  Run: python3 tests/fakes/test_fake_sheets.py
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_sheets.py")
n = 0
failed = 0


def ok(cond, name, detail=""):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name))
    if not cond:
        failed += 1
        for line in str(detail).splitlines():
            sys.stderr.write("# %s\n" % line)


def call(base, method, path, body=None, token="test-token", form=None):
    data = None
    headers = {}
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main():
    tmp = tempfile.mkdtemp()
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", port_file])
    try:
        for _ in range(600):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        base = "http://127.0.0.1:%s" % open(port_file).read().strip()
        admin = lambda m, p, b=None: call(base, m, "/__admin/" + p, b, token=None)
        print("1..17")
        H = ["ID", "Name", "Status", "Mail status"]
        admin("POST", "sheet", {"spreadsheet": "S", "values": [H, ["1", "Ana", "lead", ""], ["2", "Bo", "", ""], ["", "", "", ""]]})
        s, v = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1?majorDimension=ROWS")
        ok(s == 200 and v["values"] == [H, ["1", "Ana", "lead"], ["2", "Bo"]], "values.get: trailing empty cells and rows left out", v)
        ok(v.get("range") == "Sheet1!A1:Z1000" and v.get("majorDimension") == "ROWS", "values.get: the whole range asked for", v)
        s, v = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1", token=None)
        ok(s == 401 and v["error"]["status"] == "UNAUTHENTICATED", "no token: 401 UNAUTHENTICATED", v)
        s, v = call(base, "GET", "/v4/spreadsheets/nope/values/Sheet1")
        ok(s == 404 and v["error"]["status"] == "NOT_FOUND", "an unknown spreadsheet: 404", v)
        s, v = call(base, "GET", "/v4/spreadsheets/S/values/Other")
        ok(s == 400 and "Unable to parse range" in v["error"]["message"], "an unknown sheet: 400", v)
        admin("POST", "sheet", {"spreadsheet": "S", "values": [["ID", "Name", "Stage", "Mail status"], ["2", "Bo"], ["1", "Ana", "lead"]]})
        s, v = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1")
        ok(v["values"][0][2] == "Stage" and v["values"][1][0] == "2", "rows re-ordered and a column renamed between reads", v)
        s, v = call(base, "POST", "/v4/spreadsheets/S/values:batchUpdate",
                    {"valueInputOption": "RAW", "data": [{"range": "'Sheet1'!D3", "values": [["Sent"]]},
                                                          {"range": "Sheet1!E3", "values": [["2026-11-30"]]}]})
        ok(s == 200 and v["totalUpdatedCells"] == 2 and v["totalUpdatedRows"] == 1, "batchUpdate: two cells of one row", v)
        s, v = admin("GET", "sheet?spreadsheet=S")
        ok(v["values"][2] == ["1", "Ana", "lead", "Sent", "2026-11-30"], "batchUpdate: the cells written", v)
        s, v = call(base, "POST", "/v4/spreadsheets/S/values:batchUpdate", {"data": []})
        ok(s == 400, "batchUpdate without valueInputOption: 400", v)
        admin("POST", "quota", {"per_user": 2, "window_s": 60})
        codes = [call(base, "GET", "/v4/spreadsheets/S/values/Sheet1")[0] for _ in range(3)]
        s, v = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1")
        ok(codes == [200, 200, 429] and v["error"]["status"] == "RESOURCE_EXHAUSTED" and "per user" in v["error"]["message"],
           "the per-user quota: 429 RESOURCE_EXHAUSTED", (codes, v))
        admin("POST", "quota", {"per_user": 60, "per_project": 1, "window_s": 60})
        codes = [call(base, "GET", "/v4/spreadsheets/S/values/Sheet1")[0] for _ in range(2)]
        ok(codes == [200, 429], "the per-project quota", codes)
        admin("POST", "quota", {"per_user": 60, "per_project": 300, "window_s": 60})
        s, tok = admin("POST", "tokens")
        s1, _ = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1", token=tok["access_token"])
        admin("POST", "expire")
        s2, _ = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1", token=tok["access_token"])
        ok((s1, s2) == (200, 401), "an access token works, then expires", (s1, s2))
        s, v = call(base, "POST", "/token", token=None, form={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                                                                "client_id": "fake-sheets-client-id",
                                                                "client_secret": "fake-sheets-client-secret"})
        ok(s == 200 and "refresh_token" not in v and v["expires_in"] == 3599, "the refresh grant: a new access token, no new refresh token", v)
        s2, _ = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1", token=v.get("access_token"))
        ok(s2 == 200, "the new access token works", s2)
        admin("POST", "revoke")
        s, v = call(base, "POST", "/token", token=None, form={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                                                                "client_id": "fake-sheets-client-id",
                                                                "client_secret": "fake-sheets-client-secret"})
        ok(s == 400 and v["error"] == "invalid_grant", "a revoked refresh token: invalid_grant", v)
        admin("POST", "faults", {"method": "GET", "path_prefix": "/v4/", "status": 503, "count": 1})
        s, v = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1")
        s2, _ = call(base, "GET", "/v4/spreadsheets/S/values/Sheet1")
        ok((s, s2) == (503, 200), "a fault, once", (s, s2))
        admin("POST", "faults", {"method": "GET", "path_prefix": "/v4/", "hold_s": 1.5, "count": 1})
        t = threading.Thread(target=call, args=(base, "GET", "/v4/spreadsheets/S/values/Sheet1?held=1"))
        t.start()
        time.sleep(0.5)
        s, v = admin("GET", "requests?path_prefix=/v4/")
        held = [r for r in v["requests"] if r["query"] == "held=1"]
        t.join()
        ok(len(held) == 1 and "status" not in held[0], "a held request is logged before it is answered", held)
    finally:
        proc.terminate()
        proc.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
