#!/usr/bin/env python3
"""fake_sheets.py - a fake Google Sheets API v4 (values) for fieldsync's tests.

Python 3 standard library only.  It serves what fieldsync's sheets connector
uses, as Google documents it:

  GET  /v4/spreadsheets/ID/values/RANGE        values.get (majorDimension=ROWS)
  POST /v4/spreadsheets/ID/values:batchUpdate  values.batchUpdate
  POST /token                                  OAuth 2 refresh grant (no rotation)

with Google's error shape ({"error":{"code","message","status"}}), bearer
tokens that expire, and per-user / per-project request quotas answered with
429 RESOURCE_EXHAUSTED.  A control API under /__admin sets the sheets, the
tokens, the quotas and faults, and lists the requests (each logged before it
is answered).  The reference is tests/fakes/README-sheets.md.

Usage:
  fake_sheets.py --port 0 --port-file FILE [--token TOKEN] [--client-id ID]
                 [--client-secret SECRET] [--log FILE]
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_TOKEN = "test-token"            # a static access token, valid until expired by /__admin/expire
DEFAULT_CLIENT_ID = "fake-sheets-client-id"
DEFAULT_CLIENT_SECRET = "fake-sheets-client-secret"
ACCESS_TTL_S = 3599                      # Google's token answers say expires_in 3599 (about an hour)


def col_letters(n):
    """0 -> A, 25 -> Z, 26 -> AA."""
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def col_index(letters):
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


A1 = re.compile(r"^([A-Za-z]+)?(\d+)?(?::([A-Za-z]+)?(\d+)?)?$")


def split_range(rng):
    """'Sheet1!B2:C9' -> ('Sheet1', 'B2:C9'); 'Sheet1' -> ('Sheet1', '')."""
    if "!" in rng:
        name, cells = rng.rsplit("!", 1)
    else:
        name, cells = rng, ""
    if len(name) >= 2 and name[0] == "'" and name[-1] == "'":
        name = name[1:-1].replace("''", "'")
    return name, cells


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.sheets = {}            # spreadsheet id -> {sheet name -> [[cells]]}
        self.tokens = {args.token: None} if args.token else {}   # access token -> expiry (None: never)
        self.refresh = set()
        self.service_accounts = {}  # client_email -> (n, e): the public half of its RSA key
        self.faults = []
        self.requests = []
        self.quota = {"per_user": 60, "per_project": 300, "window_s": 60.0}
        self.stamps = {}            # token -> [monotonic times]
        self.project = []
        self.seq = 0

    # ---- quota ----
    def over_quota(self, token):
        now = time.monotonic()
        w = self.quota["window_s"]
        user = [t for t in self.stamps.get(token, []) if now - t < w]
        proj = [t for t in self.project if now - t < w]
        self.stamps[token] = user
        self.project = proj
        if len(user) >= self.quota["per_user"]:
            return "per minute per user"
        if len(proj) >= self.quota["per_project"]:
            return "per minute"
        user.append(now)
        proj.append(now)
        return None


def quota_error(which, write):
    metric = "Write requests" if write else "Read requests"
    return 429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                           "message": "Quota exceeded for quota metric '%s' and limit '%s %s' of service "
                                      "'sheets.googleapis.com' for consumer 'project_number:0'."
                                      % (metric, metric, which)}}


def gerror(code, status, message):
    return code, {"error": {"code": code, "message": message, "status": status}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-sheets/1"

    def log_message(self, fmt, *a):
        if self.server.args.log:
            with open(self.server.args.log, "a") as f:
                f.write("%s %s\n" % (self.log_date_time_string(), fmt % a))

    def send_json(self, code, obj, headers=None):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def handle_any(self, method):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if url.path.startswith("/__admin/"):
            code, obj = self.admin(method, url.path[len("/__admin/"):], urllib.parse.parse_qs(url.query), raw)
            return self.send_json(code, obj)
        auth = self.headers.get("Authorization") or ""
        entry = {"method": method, "path": urllib.parse.unquote(url.path), "query": url.query,
                 "auth": "Bearer" if auth.startswith("Bearer ") else ("none" if not auth else "other"),
                 "body": raw.decode("utf-8", "replace") if url.path != "/token" else "(redacted)"}
        with st.lock:
            st.seq += 1
            entry["seq"] = st.seq
            st.requests.append(entry)   # logged before it is answered
            fault = None
            for f in st.faults:
                if method == f.get("method", method) and entry["path"].startswith(f.get("path_prefix", "")):
                    fault = dict(f)
                    f["count"] = f.get("count", 1) - 1
                    if f["count"] <= 0:
                        st.faults.remove(f)
                    break
        if fault:
            if fault.get("hold_s"):
                time.sleep(float(fault["hold_s"]))
            if fault.get("status"):
                entry["status"] = fault["status"]
                hdrs = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else None
                body = fault.get("body") or gerror(fault["status"], fault.get("error_status", "UNAVAILABLE"),
                                                   fault.get("message", "fault injected"))[1]
                return self.send_json(fault["status"], body, hdrs)
        if url.path == "/token" and method == "POST":
            code, obj = self.token(raw)
        else:
            code, obj = self.api(method, url, raw, auth)
        entry["status"] = code
        self.send_json(code, obj)

    # ---- OAuth: the refresh grant (Google keeps the refresh token: none in the answer) ----
    def token(self, raw):
        st = self.server.state
        form = urllib.parse.parse_qs(raw.decode())
        get = lambda k: (form.get(k) or [""])[0]
        if get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self.jwt_grant(get("assertion"))
        if get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}
        if get("client_id") != st.args.client_id or get("client_secret") != st.args.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        with st.lock:
            if get("refresh_token") not in st.refresh:
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            access = "ya29.fake-" + secrets.token_hex(8)
            st.tokens[access] = time.time() + ACCESS_TTL_S
        return 200, {"access_token": access, "expires_in": ACCESS_TTL_S, "token_type": "Bearer",
                     "scope": "https://www.googleapis.com/auth/spreadsheets"}

    # ---- service accounts: the JWT bearer grant (RFC 7523), RS256 checked in pure Python ----
    def jwt_grant(self, assertion):
        st = self.server.state
        bad = lambda why: (400, {"error": "invalid_grant", "error_description": why})
        unb64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        try:
            h64, c64, s64 = assertion.split(".")
            header, claims, sig = json.loads(unb64(h64)), json.loads(unb64(c64)), unb64(s64)
        except (ValueError, TypeError):
            return bad("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
        if header.get("alg") != "RS256":
            return bad("Invalid JWT: unsupported algorithm")
        with st.lock:
            key = st.service_accounts.get(claims.get("iss"))
        if key is None:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        n, e = key
        k = (n.bit_length() + 7) // 8
        em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(k, "big")
        # PKCS #1 v1.5 over SHA-256 (RFC 8017, section 9.2): 00 01 FF.. 00 DigestInfo
        info = bytes.fromhex("3031300d060960864801650304020105000420") + \
            hashlib.sha256(("%s.%s" % (h64, c64)).encode()).digest()
        if em != b"\x00\x01" + b"\xff" * (k - len(info) - 3) + b"\x00" + info:
            return bad("Invalid JWT Signature.")
        if not str(claims.get("aud", "")).endswith("/token") or not claims.get("scope"):
            return bad("Invalid JWT: aud or scope")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or not 0 < exp - iat <= 3600:
            return bad("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        with st.lock:
            access = "ya29.fake-sa-" + secrets.token_hex(8)
            st.tokens[access] = time.time() + ACCESS_TTL_S
        return 200, {"access_token": access, "expires_in": ACCESS_TTL_S, "token_type": "Bearer"}

    # ---- the API ----
    def api(self, method, url, raw, auth):
        st = self.server.state
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        with st.lock:
            exp = st.tokens.get(token, 0) if token else 0
            valid = token in st.tokens and (exp is None or exp > time.time())
        if not valid:
            return gerror(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected "
                          "OAuth 2 access token, login cookie or other valid authentication credential.")
        m = re.match(r"^/v4/spreadsheets/([^/]+)/values(?::batchUpdate|/(.+))$", url.path)
        if not m:
            return gerror(404, "NOT_FOUND", "Requested entity was not found.")
        sid = urllib.parse.unquote(m.group(1))
        write = m.group(2) is None
        with st.lock:
            over = st.over_quota(token)
            if over:
                return quota_error(over, write)
            book = st.sheets.get(sid)
            if book is None:
                return gerror(404, "NOT_FOUND", "Requested entity was not found.")
            if not write and method == "GET":
                return self.values_get(sid, book, urllib.parse.unquote(m.group(2)))
            if write and method == "POST":
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return gerror(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
                return self.batch_update(sid, book, body)
        return gerror(404, "NOT_FOUND", "Requested entity was not found.")

    def values_get(self, sid, book, rng):
        name, cells = split_range(rng)
        if name not in book:
            return gerror(400, "INVALID_ARGUMENT", "Unable to parse range: %s" % rng)
        rows = [list(r) for r in book[name]]
        # Google leaves out trailing empty cells and rows.
        for r in rows:
            while r and r[-1] == "":
                r.pop()
        while rows and not rows[-1]:
            rows.pop()
        width = max([len(r) for r in rows] or [1])
        out = {"range": "%s!A1:%s%d" % (name, col_letters(max(width, 26) - 1), max(len(rows), 1000)),
               "majorDimension": "ROWS"}
        if rows:
            out["values"] = rows
        return 200, out

    def batch_update(self, sid, book, body):
        if body.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
            return gerror(400, "INVALID_ARGUMENT", "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        responses, total_cells, rows_hit, cols_hit = [], 0, set(), set()
        for d in body.get("data") or []:
            name, cells = split_range(d.get("range", ""))
            a = A1.match(cells)
            if name not in book or not a or not a.group(1) or not a.group(2):
                return gerror(400, "INVALID_ARGUMENT", "Unable to parse range: %s" % d.get("range"))
            c0, r0 = col_index(a.group(1)), int(a.group(2)) - 1
            grid = book[name]
            n = 0
            for i, vrow in enumerate(d.get("values") or []):
                while len(grid) <= r0 + i:
                    grid.append([])
                row = grid[r0 + i]
                for j, v in enumerate(vrow):
                    while len(row) <= c0 + j:
                        row.append("")
                    row[c0 + j] = "" if v is None else str(v)
                    n += 1
                    rows_hit.add((name, r0 + i))
                    cols_hit.add((name, c0 + j))
            total_cells += n
            responses.append({"spreadsheetId": sid, "updatedRange": d["range"], "updatedCells": n})
        return 200, {"spreadsheetId": sid, "totalUpdatedRows": len(rows_hit),
                     "totalUpdatedColumns": len(cols_hit), "totalUpdatedCells": total_cells,
                     "totalUpdatedSheets": len({r[0] for r in rows_hit}), "responses": responses}

    # ---- /__admin ----
    def admin(self, method, what, q, raw):
        st = self.server.state
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return 400, {"error": "not JSON"}
        with st.lock:
            if what == "sheet" and method == "POST":
                st.sheets.setdefault(body["spreadsheet"], {})[body.get("sheet", "Sheet1")] = \
                    [[str(c) for c in r] for r in body["values"]]
                return 200, {"ok": True}
            if what == "sheet" and method == "GET":
                book = st.sheets.get(q.get("spreadsheet", [""])[0], {})
                return 200, {"values": book.get(q.get("sheet", ["Sheet1"])[0])}
            if what == "tokens" and method == "POST":
                access, refresh = "ya29.fake-" + secrets.token_hex(8), "1//fake-" + secrets.token_hex(8)
                st.tokens[access] = time.time() + ACCESS_TTL_S
                st.refresh.add(refresh)
                at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ACCESS_TTL_S))
                return 200, {"access_token": access, "refresh_token": refresh, "expires_at": at}
            if what == "expire" and method == "POST":
                # Every access token ends now (the static one too with {"all":true}).
                for k in list(st.tokens):
                    if st.tokens[k] is not None or body.get("all"):
                        st.tokens[k] = time.time() - 1
                return 200, {"ok": True}
            if what == "service_account" and method == "POST":
                # {"client_email", "modulus": hex (openssl rsa -noout -modulus), "exponent": 65537}
                st.service_accounts[body["client_email"]] = (int(body["modulus"], 16), int(body.get("exponent", 65537)))
                return 200, {"ok": True}
            if what == "revoke" and method == "POST":
                st.refresh.clear()
                return 200, {"ok": True}
            if what == "quota" and method == "POST":
                st.quota.update({k: body[k] for k in ("per_user", "per_project", "window_s") if k in body})
                st.stamps, st.project = {}, []
                return 200, st.quota
            if what == "faults" and method == "POST":
                st.faults.extend(body if isinstance(body, list) else [body])
                return 200, {"faults": st.faults}
            if what == "faults" and method == "GET":
                return 200, {"faults": st.faults}
            if what == "requests" and method == "GET":
                prefix = q.get("path_prefix", [""])[0]
                return 200, {"requests": [r for r in st.requests if r["path"].startswith(prefix)]}
            if what == "reset" and method == "POST":
                st.sheets, st.faults, st.requests = {}, [], []
                st.stamps, st.project = {}, []
                return 200, {"ok": True}
        return 404, {"error": "no such admin call: %s %s" % (method, what)}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client killed mid-request (the tests' SIGKILL) is no error of the fake's.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def __init__(self, addr, args):
        super().__init__(addr, Handler)
        self.args = args
        self.state = State(args)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Google Sheets API v4 for fieldsync tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--token", default=DEFAULT_TOKEN)
    ap.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    ap.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    ap.add_argument("--log")
    args = ap.parse_args(argv)
    srv = Server((args.host, args.port), args)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
