#!/usr/bin/env python3
"""fake_servicetitan.py - a fake ServiceTitan REST API for fieldsync's tests.

Python 3 standard library only.  It follows what is public of ServiceTitan's
API (tests/fakes/README-servicetitan.md says what is confirmed and what is
not): the client-credentials grant at /connect/token, the ST-App-Key header
on every request, tenant-scoped paths /{module}/v2/tenant/{tenant}/...,
list endpoints with modifiedOnOrAfter, sort, page and pageSize, export
endpoints with from/continueFrom/hasMore and includeRecentChanges (which
may send the same records again), merged customers (mergedToId), a rate
limit answered with 429 and Retry-After, and PATCH of a customer's custom
fields.  A control API under /__admin loads fixtures, moves the clock,
merges customers, injects faults and shows the request log.

Usage:
  fake_servicetitan.py --port 0 --port-file FILE [--log FILE] [--now TIME]
                       [--tenant ID] [--app-key KEY] [--client-id ID]
                       [--client-secret SECRET] [--access-ttl-s N] [--rate N]
                       [--export-page N] [--export-repeat N]
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {  # resource -> module
    "customers": "crm", "locations": "crm", "jobs": "jpm", "invoices": "accounting",
}


def parse_time(s):
    if not isinstance(s, str):
        raise ValueError("not a time")
    if len(s) == 10:
        s += "T00:00:00Z"
    s = s.replace("Z", "+00:00")
    if "." in s:  # fractions of any length, as ServiceTitan writes them
        head, rest = s.split(".", 1)
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        s = head + "." + (frac + "000000")[:6] + tz
    t = datetime.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t


def iso(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ApiError(Exception):
    def __init__(self, status, title, headers=None, oauth=False):
        super().__init__(title)
        self.status, self.title, self.headers = status, title, headers or {}
        self.oauth = oauth  # the token endpoint answers as RFC 6749 says: {"error": ...}

    def doc(self):
        return {"error": self.title} if self.oauth else {"title": self.title, "status": self.status}


class App:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        a = self.args
        self.now = parse_time(a.now) if a.now else datetime.datetime.now(datetime.timezone.utc)
        self.data = {r: {} for r in RESOURCES}
        self.seq = 0
        self.tokens = {}  # token -> monotonic expiry
        self.ttl = a.access_ttl_s
        self.rate = a.rate
        self.hits = []
        self.export_page = a.export_page
        self.export_repeat = a.export_repeat
        self.faults = []
        self.fault_seq = 0
        self.requests = []
        self.field_types = {}
        self.webhook_secret = None

    # ---- data --------------------------------------------------------------
    def upsert(self, resource, obj, bump=True):
        if not isinstance(obj, dict) or "id" not in obj:
            raise ApiError(400, "a %s must be an object with an id" % resource)
        with self.lock:
            old = self.data[resource].get(obj["id"], {})
            new = dict(old)
            new.update(obj)
            if "modifiedOn" not in obj and bump:
                new["modifiedOn"] = iso(self.now)
            new.setdefault("createdOn", new["modifiedOn"])
            if resource == "customers":
                new.setdefault("active", True)
                new.setdefault("doNotMail", False)
                new.setdefault("mergedToId", None)
                new.setdefault("customFields", [])
            elif resource == "locations":
                new.setdefault("active", True)
            self.seq += 1
            new["_seq"] = self.seq
            self.data[resource][obj["id"]] = new
            return new

    def public(self, obj):
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def merge(self, frm, into):
        with self.lock:
            c = self.data["customers"]
            if frm not in c or into not in c:
                raise ApiError(404, "no such customer")
            self.upsert("customers", {"id": frm, "mergedToId": into, "active": False})
            for loc in list(self.data["locations"].values()):
                if loc.get("customerId") == frm:
                    self.upsert("locations", {"id": loc["id"], "customerId": into})
            for job in list(self.data["jobs"].values()):
                if job.get("customerId") == frm:
                    self.upsert("jobs", {"id": job["id"], "customerId": into})
            for inv in list(self.data["invoices"].values()):
                if (inv.get("customer") or {}).get("id") == frm:
                    self.upsert("invoices", {"id": inv["id"], "customer": {"id": into}})
            self.upsert("customers", {"id": into})

    # ---- auth and limits ---------------------------------------------------
    def token(self, form):
        if form.get("grant_type") != "client_credentials":
            raise ApiError(400, "unsupported_grant_type", oauth=True)
        if form.get("client_id") != self.args.client_id or form.get("client_secret") != self.args.client_secret:
            raise ApiError(401, "invalid_client", oauth=True)
        tok = "st-" + uuid.uuid4().hex
        with self.lock:
            self.tokens[tok] = time.monotonic() + self.ttl
        return {"access_token": tok, "token_type": "Bearer", "expires_in": self.ttl, "scope": "tn.crm tn.jpm"}

    def check(self, headers):
        if headers.get("ST-App-Key") != self.args.app_key:
            raise ApiError(401, "ST-App-Key is missing or wrong")
        auth = headers.get("Authorization") or ""
        tok = auth[7:] if auth.startswith("Bearer ") else None
        with self.lock:
            exp = self.tokens.get(tok)
            if exp is None or time.monotonic() >= exp:
                raise ApiError(401, "the access token is invalid or has expired")
            now = time.monotonic()
            self.hits = [h for h in self.hits if h > now - 1.0]
            if len(self.hits) >= self.rate:
                raise ApiError(429, "too many requests", {"Retry-After": "1"})
            self.hits.append(now)

    # ---- reads -------------------------------------------------------------
    def items(self, resource):
        return [o for o in self.data[resource].values()]

    def list(self, resource, q):
        rows = self.items(resource)
        try:
            if "modifiedOnOrAfter" in q:
                t = parse_time(q["modifiedOnOrAfter"])
                rows = [o for o in rows if parse_time(o["modifiedOn"]) >= t]
            if "modifiedBefore" in q:
                t = parse_time(q["modifiedBefore"])
                rows = [o for o in rows if parse_time(o["modifiedOn"]) < t]
        except ValueError:
            raise ApiError(400, "a time must be RFC 3339")
        for key, field in (("ids", "id"), ("customerIds", "customerId")):
            if key in q:
                want = {int(x) for x in q[key].split(",") if x.strip()}
                rows = [o for o in rows if o.get(field) in want]
        if resource == "customers" and q.get("active", "True") != "Any":
            pass  # the fake's list returns inactive customers too: see README
        sort = q.get("sort", "+Id")
        key = {"Id": lambda o: o["id"],
               "ModifiedOn": lambda o: (parse_time(o["modifiedOn"]), o["_seq"])}.get(sort[1:])
        if key is None or sort[0] not in "+-":
            raise ApiError(400, "sort must be +Id, -Id, +ModifiedOn or -ModifiedOn")
        rows.sort(key=key, reverse=sort[0] == "-")
        page = int(q.get("page", "1"))
        size = int(q.get("pageSize", "50"))
        if page < 1 or not 1 <= size <= 5000:
            raise ApiError(400, "page starts at 1; pageSize is 1 to 5000")
        chunk = rows[(page - 1) * size: page * size]
        return {"page": page, "pageSize": size, "hasMore": page * size < len(rows),
                "totalCount": len(rows) if q.get("includeTotal") == "true" else None,
                "data": [self.public(o) for o in chunk]}

    def export(self, resource, q):
        rows = sorted(self.items(resource), key=lambda o: o["_seq"])
        frm = q.get("from")
        after = 0
        repeat = self.export_repeat if q.get("includeRecentChanges") == "true" else 0
        if frm:
            if frm.startswith("ct-"):
                try:
                    after = int(base64.urlsafe_b64decode(frm[3:].encode()).decode())
                except Exception:
                    raise ApiError(400, "from is no continuation token")
            else:
                try:
                    t = parse_time(frm)
                except ValueError:
                    raise ApiError(400, "from is neither a continuation token nor a date")
                rows = [o for o in rows if parse_time(o["modifiedOn"]) >= t]
                repeat = 0
        older = [o for o in rows if o["_seq"] <= after]
        newer = [o for o in rows if o["_seq"] > after]
        chunk = newer[:self.export_page]
        again = older[-repeat:] if repeat and after else []
        last = chunk[-1]["_seq"] if chunk else after
        token = "ct-" + base64.urlsafe_b64encode(str(last).encode()).decode()
        return {"hasMore": len(newer) > len(chunk), "continueFrom": token,
                "data": [self.public(o) for o in again + chunk]}

    def patch_customer(self, cid, body):
        with self.lock:
            c = self.data["customers"].get(cid)
            if c is None:
                raise ApiError(404, "customer %d not found" % cid)
            upd = {"id": cid}
            if "customFields" in body:
                fields = {f["typeId"]: dict(f) for f in c.get("customFields", [])}
                for f in body["customFields"]:
                    tid = f.get("typeId")
                    if tid not in self.field_types:
                        raise ApiError(400, "custom field type %s does not exist" % tid)
                    fields[tid] = {"typeId": tid, "name": self.field_types[tid], "value": f.get("value")}
                upd["customFields"] = sorted(fields.values(), key=lambda f: f["typeId"])
            if "doNotMail" in body:
                upd["doNotMail"] = bool(body["doNotMail"])
            return self.public(self.upsert("customers", upd))

    # ---- faults ------------------------------------------------------------
    def take_fault(self, path):
        with self.lock:
            for f in self.faults:
                if not path.startswith(f.get("path_prefix", "/")):
                    continue
                if f.get("skip", 0) > 0:
                    f["skip"] -= 1
                    continue
                if f["remaining"] > 0:
                    f["remaining"] -= 1
                if f["remaining"] == 0:
                    self.faults.remove(f)
                return dict(f)
        return None

    # ---- webhooks ----------------------------------------------------------
    def send_webhook(self, spec):
        """POST an event to spec.url, signed (HMAC-SHA256 of the body, base64) in spec.header."""
        body = json.dumps(spec.get("event", {}), separators=(",", ":")).encode()
        secret = spec.get("secret") or self.webhook_secret or ""
        sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        req = urllib.request.Request(spec["url"], data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              spec.get("header", "X-ServiceTitan-Signature"): sig})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return {"status": r.status}
        except urllib.error.HTTPError as e:
            return {"status": e.code}


def route_api(app, method, path, q, headers, body):
    if path == "/connect/token" and method == "POST":
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        return 200, app.token(form)
    parts = path.strip("/").split("/")
    # /{module}/v2/tenant/{tenant}/[export/]{resource}[/{id}]
    if len(parts) < 5 or parts[1] != "v2" or parts[2] != "tenant":
        raise ApiError(404, "no such endpoint")
    app.check(headers)
    if parts[3] != str(app.args.tenant):
        raise ApiError(403, "the app may not read tenant %s" % parts[3])
    module, rest = parts[0], parts[4:]
    export = rest[0] == "export"
    if export:
        rest = rest[1:]
    if not rest or RESOURCES.get(rest[0]) != module:
        raise ApiError(404, "no such endpoint")
    resource = rest[0]
    if len(rest) == 2 and resource == "customers" and method == "PATCH" and not export:
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "the body is not JSON")
        return 200, app.patch_customer(int(rest[1]), doc)
    if len(rest) == 2 and method == "GET" and not export:
        o = app.data[resource].get(int(rest[1]))
        if o is None:
            raise ApiError(404, "not found")
        return 200, app.public(o)
    if len(rest) != 1 or method != "GET":
        raise ApiError(405, "method not allowed")
    with app.lock:
        return 200, (app.export(resource, q) if export else app.list(resource, q))


def route_admin(app, method, path, q, body):
    p = path[len("/__admin"):] or "/"
    doc = json.loads(body) if body else None
    if p == "/health":
        return 200, {"ok": True}
    if p in ("/customers", "/locations", "/jobs", "/invoices") and method == "POST":
        items = doc if isinstance(doc, list) else [doc]
        return 200, {"data": [app.public(app.upsert(p[1:], o)) for o in items]}
    if p == "/state" and method == "GET":
        return 200, {r: [app.public(o) for o in sorted(app.data[r].values(), key=lambda o: o["id"])]
                     for r in RESOURCES}
    if p == "/clock" and method == "POST":
        app.now = parse_time(doc["now"])
        return 200, {"now": iso(app.now)}
    if p == "/merge" and method == "POST":
        app.merge(doc["from"], doc["into"])
        return 200, {"merged": doc["from"], "into": doc["into"]}
    if p == "/config" and method == "POST":
        for k, attr in (("access_ttl_s", "ttl"), ("rate", "rate"), ("export_page", "export_page"),
                        ("export_repeat", "export_repeat"), ("webhook_secret", "webhook_secret")):
            if k in doc:
                setattr(app, attr, doc[k])
        return 200, {"access_ttl_s": app.ttl, "rate": app.rate, "export_page": app.export_page,
                     "export_repeat": app.export_repeat}
    if p == "/custom-field-types" and method == "POST":
        for f in doc if isinstance(doc, list) else [doc]:
            app.field_types[f["id"]] = f["name"]
        return 200, {"data": [{"id": k, "name": v} for k, v in sorted(app.field_types.items())]}
    if p == "/revoke" and method == "POST":
        with app.lock:
            app.tokens.clear()
        return 200, {"revoked": True}
    if p == "/tokens" and method == "GET":
        return 200, {"live": sum(1 for e in app.tokens.values() if e > time.monotonic())}
    if p == "/faults":
        if method == "POST":
            items = doc if isinstance(doc, list) else [doc]
            out = []
            for f in items:
                app.fault_seq += 1
                f = dict(f, id=app.fault_seq, remaining=int(f.get("count", 1)))
                app.faults.append(f)
                out.append(f)
            return 200, {"faults": out}
        if method == "DELETE":
            app.faults = []
            return 200, {"faults": []}
        return 200, {"faults": app.faults}
    if p == "/requests":
        if method == "DELETE":
            app.requests = []
            return 200, {"requests": []}
        pre = q.get("path_prefix", "")
        return 200, {"requests": [r for r in app.requests if r["path"].startswith(pre)]}
    if p == "/webhooks" and method == "POST":
        return 200, app.send_webhook(doc)
    if p == "/reset" and method == "POST":
        app.reset()
        return 200, {"reset": True}
    raise ApiError(404, "no such admin endpoint")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-servicetitan"

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        try:   # headers and body go out in separate writes: avoid Nagle stalls
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *a):
        if self.server.app.args.log:
            with open(self.server.app.args.log, "a") as f:
                f.write("%s %s\n" % (self.log_date_time_string(), fmt % a))

    def answer(self, status, doc, headers=None):
        data = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        app = self.server.app
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if u.path.startswith("/__admin"):
            try:
                status, doc = route_admin(app, self.command, u.path, q, body)
            except ApiError as e:
                status, doc = e.status, {"title": e.title, "status": e.status}
            except (ValueError, KeyError, TypeError) as e:
                status, doc = 400, {"title": "bad admin request: %s" % e, "status": 400}
            return self.answer(status, doc)
        # Logged before it is answered: a client killed mid-request is in the log.
        rec = {"method": self.command, "path": u.path, "query": q,
               "app_key": self.headers.get("ST-App-Key") is not None,
               "body": body.decode("utf-8", "replace") if u.path != "/connect/token" else "(form)",
               "status": None}
        with app.lock:
            app.requests.append(rec)
        fault = app.take_fault(u.path)
        if fault and fault.get("slow_ms"):
            time.sleep(fault["slow_ms"] / 1000.0)
        if fault and fault.get("status"):
            rec["status"] = fault["status"]
            h = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            return self.answer(fault["status"], {"title": fault.get("title", "injected"),
                                                 "status": fault["status"]}, h)
        try:
            status, doc = route_api(app, self.command, u.path, q, self.headers, body)
            headers = {}
        except ApiError as e:
            status, doc, headers = e.status, e.doc(), e.headers
        rec["status"] = status
        return self.answer(status, doc, headers)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = handle_any


def main():
    ap = argparse.ArgumentParser(description="a fake ServiceTitan API")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--now")
    ap.add_argument("--tenant", type=int, default=1000)
    ap.add_argument("--app-key", default="fake-st-app-key")
    ap.add_argument("--client-id", default="fake-st-client-id")
    ap.add_argument("--client-secret", default="fake-st-client-secret")
    ap.add_argument("--access-ttl-s", type=int, default=900)
    ap.add_argument("--rate", type=int, default=60)
    ap.add_argument("--export-page", type=int, default=50)
    ap.add_argument("--export-repeat", type=int, default=0)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.app = App(args)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
