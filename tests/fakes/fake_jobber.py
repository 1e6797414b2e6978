#!/usr/bin/env python3
"""fake_jobber.py - a fake Jobber GraphQL API for fieldsync's tests.

Python 3 standard library only.  It follows Jobber's public developer
documentation (GraphQL endpoint, X-JOBBER-GRAPHQL-VERSION, OAuth refresh with
refresh-token rotation, query-cost leaky bucket with THROTTLED errors,
X-Jobber-Hmac-SHA256 signed webhooks) closely enough for fieldsync to be
tested against it, and adds a control API under /__admin for fixtures, the
fake clock, fault injection and inspection.

It serves a small GraphQL subset: queries clients/jobs/invoices (connections
with first/after, nodes/edges, pageInfo, totalCount, filter, sort),
client/job/invoice(id:), customFieldConfigurations (the account's custom
fields; none when the account's plan has no custom fields), and the mutations
clientCreateNote, clientEdit and customFieldConfigurationCreateText.  Selection sets are honoured (only the
fields asked for come back) and drive the query cost.

The full reference (CLI, endpoints, /__admin API, cost formula, deviations
from the real Jobber, and which facts were confirmed) is
tests/fakes/README-jobber.md.

Usage:
  fake_jobber.py --port 0 --port-file FILE [--data FILE.json] [--log FILE]
                 [--now TIME] [--generate-clients N] [--seed S]
                 [--client-id ID] [--client-secret SECRET] [--token TOKEN]
                 [--access-ttl-s N] [--rotation on|off|legacy]
                 [--max-available N] [--restore-rate N] [--refill real|clock]
"""

import argparse
import base64
import collections
import datetime
import hashlib
import hmac
import http
import http.client
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

DEFAULT_CLIENT_ID = "fake-jobber-client-id"
DEFAULT_CLIENT_SECRET = "fake-jobber-client-secret"
DEFAULT_TOKEN = "test-token"             # a static access token that never expires
DEFAULT_ACCESS_TTL_S = 3600              # Jobber: "default expiration time is 60 minutes"
DEFAULT_MAX_AVAILABLE = 10000            # Jobber: maximumAvailable
DEFAULT_RESTORE_RATE = 500               # Jobber: restoreRate, points per second
DEFAULT_DDOS_MAX = 2500                  # Jobber: 2500 requests / 300 s, then 429
DEFAULT_DDOS_WINDOW_S = 300
DEFAULT_CONNECTION_SIZE = 100            # Jobber: a connection without first costs as 100
APP_ID = "3ef22a50-072d-430c-a78f-b7646657560b"
ACCOUNT_ID = "MQ=="
# Dated versions from Jobber's changelog.  All are accepted; the oldest is the
# one a removed ("historic") version is upgraded to.  Changeable at run time.
DEFAULT_VERSIONS = ["2023-08-18", "2023-11-15", "2024-04-17", "2024-06-10",
                    "2024-09-12", "2024-11-12", "2024-12-05", "2025-01-20",
                    "2025-04-16"]
VERSION_HEADER = "X-JOBBER-GRAPHQL-VERSION"
DOC_VERSIONING = "https://developer.getjobber.com/docs/using_jobbers_api/api_versioning"
DOC_RATE = "https://developer.getjobber.com/docs/using_jobbers_api/api_rate_limits"
DOC_ROTATION = "https://developer.getjobber.com/docs/building_your_app/refresh_token_rotation"
MAX_BODY = 8 * 1024 * 1024
# The fake's wording: Jobber's own for an account without custom fields is not documented.
PLAN_NO_CUSTOM_FIELDS = "Custom fields are not available on this account's plan"

JOB_STATUSES = ["requires_invoicing", "archived", "late", "today", "upcoming",
                "action_required", "on_hold", "unscheduled", "active"]
INVOICE_STATUSES = ["draft", "awaiting_payment", "paid", "past_due", "bad_debt"]
WEBHOOK_TOPICS = ["APP_CONNECT", "APP_DISCONNECT", "CLIENT_CREATE", "CLIENT_DESTROY",
                  "CLIENT_UPDATE", "INVOICE_CREATE", "INVOICE_DESTROY", "INVOICE_UPDATE",
                  "JOB_CREATE", "JOB_DESTROY", "JOB_UPDATE", "PROPERTY_CREATE",
                  "PROPERTY_DESTROY", "PROPERTY_UPDATE", "QUOTE_CREATE", "QUOTE_DESTROY",
                  "QUOTE_UPDATE", "REQUEST_CREATE", "REQUEST_DESTROY", "REQUEST_UPDATE",
                  "VISIT_COMPLETE", "VISIT_CREATE", "VISIT_DESTROY", "VISIT_UPDATE",
                  "PRODUCT_OR_SERVICE_CREATE", "PRODUCT_OR_SERVICE_DESTROY",
                  "PRODUCT_OR_SERVICE_UPDATE", "PAYMENT_CREATE", "PAYMENT_DESTROY",
                  "PAYMENT_UPDATE", "PAYOUT_CREATE", "PAYOUT_DESTROY", "PAYOUT_UPDATE"]
KINDS = ("clients", "jobs", "invoices")
GID_NAME = {"clients": "Client", "jobs": "Job", "invoices": "Invoice",
            "notes": "ClientNote", "fields": "CustomFieldConfiguration"}


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

class ApiError(Exception):
    """An /__admin error: HTTP status and a message."""

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message

    def body(self):
        return {"error": self.message}


class GqlError(Exception):
    """A GraphQL request error: answered HTTP 200 with {"errors":[...]}."""

    def __init__(self, message, code=None, line=None, col=None, **ext):
        Exception.__init__(self, message)
        self.message = message
        self.code = code
        self.loc = (line, col) if line else None
        self.ext = ext

    def entry(self):
        e = {"message": self.message}
        if self.loc:
            e["locations"] = [{"line": self.loc[0], "column": self.loc[1]}]
        ext = dict(self.ext)
        if self.code:
            ext["code"] = self.code
        if ext:
            e["extensions"] = ext
        return e


def jdump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def iso_ms(ms):
    """RFC 3339 with a Z, like 2026-11-03T14:00:00Z (milliseconds only if any)."""
    dt = datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(v):
    """Epoch ms (int or digit string) or ISO 8601 -> epoch ms, else None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return int(v)
    if not isinstance(v, str):
        return None
    s = v.strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        s += "T00:00:00Z"
    s = s.replace(" UTC", "Z")
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int(round(dt.timestamp() * 1000))


def as_int(v, what, minimum=None):
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ApiError(400, "%s must be an integer" % what)
    try:
        n = int(v)
    except ValueError:
        raise ApiError(400, "%s must be an integer" % what)
    if minimum is not None and n < minimum:
        raise ApiError(400, "%s must be >= %d" % (what, minimum))
    return n


def b64(s):
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def gid(kind, n):
    """Jobber ids are opaque EncodedIds; the fake uses base64 of a global id."""
    return b64("gid://Jobber/%s/%d" % (GID_NAME[kind], n))


# --------------------------------------------------------------------------
# GraphQL: lexer and parser (executable definitions only)
# --------------------------------------------------------------------------

_PUNCT = set("!$()[]{}:=@|&")
_NAME_RE = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_NUM_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _lex(src):
    toks = []          # (kind, value, line, col)
    i, n, line, lstart = 0, len(src), 1, 0
    while i < n:
        c = src[i]
        if c in " \t,\ufeff\r":
            i += 1
            continue
        if c == "\n":
            line += 1
            i += 1
            lstart = i
            continue
        if c == "#":
            while i < n and src[i] != "\n":
                i += 1
            continue
        col = i - lstart + 1
        if src.startswith("...", i):
            toks.append(("punct", "...", line, col))
            i += 3
            continue
        if c in _PUNCT:
            toks.append(("punct", c, line, col))
            i += 1
            continue
        m = _NAME_RE.match(src, i)
        if m:
            toks.append(("name", m.group(0), line, col))
            i = m.end()
            continue
        m = _NUM_RE.match(src, i)
        if m and m.group(0) not in ("-",):
            txt = m.group(0)
            toks.append(("float" if (m.group(2) or m.group(3)) else "int", txt, line, col))
            i = m.end()
            continue
        if src.startswith('"""', i):
            j = src.find('"""', i + 3)
            if j < 0:
                raise GqlError("Parse error: unterminated block string", None, line, col)
            raw = src[i + 3:j]
            line += raw.count("\n")
            toks.append(("string", _block_string(raw), line, col))
            i = j + 3
            continue
        if c == '"':
            j = i + 1
            out = []
            while True:
                if j >= n or src[j] == "\n":
                    raise GqlError("Parse error: unterminated string", None, line, col)
                ch = src[j]
                if ch == '"':
                    break
                if ch == "\\":
                    esc = src[j + 1:j + 2]
                    if esc == "u":
                        out.append(chr(int(src[j + 2:j + 6], 16)))
                        j += 6
                        continue
                    out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b",
                                "f": "\f"}.get(esc, esc))
                    j += 2
                    continue
                out.append(ch)
                j += 1
            toks.append(("string", "".join(out), line, col))
            i = j + 1
            continue
        raise GqlError("Parse error on %r at [%d, %d]" % (c, line, col), None, line, col)
    toks.append(("eof", None, line, i - lstart + 1))
    return toks


def _block_string(raw):
    lines = raw.replace("\r\n", "\n").split("\n")
    indents = [len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()]
    ind = min(indents) if indents else 0
    lines = [lines[0]] + [ln[ind:] for ln in lines[1:]]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


class Field:
    __slots__ = ("alias", "name", "args", "sels", "line", "col", "directives")

    def __init__(self, alias, name, args, sels, line, col, directives):
        self.alias, self.name, self.args, self.sels = alias, name, args, sels
        self.line, self.col, self.directives = line, col, directives

    @property
    def key(self):
        return self.alias or self.name


class Parser:
    MAX_DEPTH = 64

    def __init__(self, src):
        self.t = _lex(src)
        self.i = 0
        self.depth = 0

    def peek(self, k=0):
        return self.t[self.i + k]

    def nxt(self):
        tok = self.t[self.i]
        self.i += 1
        return tok

    _TOKEN_NAMES = {"{": "LCURLY", "}": "RCURLY", "(": "LPAREN", ")": "RPAREN",
                    "[": "LBRACKET", "]": "RBRACKET", ":": "COLON", "$": "VAR_SIGN",
                    "!": "BANG", "=": "EQUALS", "@": "DIR_SIGN", "...": "ELLIPSIS",
                    "|": "PIPE", "&": "AMP", "name": "IDENTIFIER", "int": "INT",
                    "float": "FLOAT", "string": "STRING"}

    def err(self, tok=None):
        tok = tok or self.peek()
        if tok[0] == "eof":
            raise GqlError("Unexpected end of document", None, tok[2], tok[3])
        kind = self._TOKEN_NAMES.get(tok[1] if tok[0] == "punct" else tok[0], "UNKNOWN")
        raise GqlError('Parse error on "%s" (%s) at [%d, %d]'
                       % (tok[1], kind, tok[2], tok[3]), None, tok[2], tok[3])

    def expect(self, val):
        tok = self.nxt()
        if tok[0] not in ("punct", "name") or tok[1] != val:
            self.err(tok)
        return tok

    def is_p(self, val):
        tok = self.peek()
        return tok[0] == "punct" and tok[1] == val

    def name(self):
        tok = self.nxt()
        if tok[0] != "name":
            self.err(tok)
        return tok[1]

    def document(self):
        ops, frags = [], {}
        while self.peek()[0] != "eof":
            tok = self.peek()
            if self.is_p("{"):
                ops.append(("query", None, {}, self.selection_set()))
            elif tok[0] == "name" and tok[1] in ("query", "mutation", "subscription"):
                self.nxt()
                name = self.name() if self.peek()[0] == "name" else None
                var_defs = self.var_defs() if self.is_p("(") else {}
                self.directives()
                ops.append((tok[1], name, var_defs, self.selection_set()))
            elif tok[0] == "name" and tok[1] == "fragment":
                self.nxt()
                fname = self.name()
                self.expect("on")
                tcond = self.name()
                self.directives()
                frags[fname] = (tcond, self.selection_set())
            else:
                self.err(tok)
        if not ops:
            raise GqlError("No operations in query document")
        return ops, frags

    def var_defs(self):
        self.expect("(")
        out = {}
        while not self.is_p(")"):
            self.expect("$")
            vname = self.name()
            self.expect(":")
            vtype = self.type_ref()
            default = None
            if self.is_p("="):
                self.nxt()
                default = self.value(const=True)
            self.directives()
            out[vname] = (vtype, default)
        self.nxt()
        return out

    def type_ref(self):
        if self.is_p("["):
            self.nxt()
            inner = self.type_ref()
            self.expect("]")
            t = "[%s]" % inner
        else:
            t = self.name()
        if self.is_p("!"):
            self.nxt()
            t += "!"
        return t

    def directives(self):
        out = []
        while self.is_p("@"):
            self.nxt()
            dname = self.name()
            args = self.arguments() if self.is_p("(") else {}
            out.append((dname, args))
        return out

    def selection_set(self):
        tok = self.expect("{")
        self.depth += 1
        if self.depth > self.MAX_DEPTH:
            raise GqlError("Query has depth of more than %d, which exceeds max depth of %d"
                           % (self.MAX_DEPTH, self.MAX_DEPTH), "maxDepthExceeded",
                           tok[2], tok[3])
        sels = []
        while not self.is_p("}"):
            if self.peek()[0] == "eof":
                self.err()
            sels.append(self.selection())
        self.nxt()
        self.depth -= 1
        if not sels:
            self.err()
        return sels

    def selection(self):
        if self.is_p("..."):
            self.nxt()
            tok = self.peek()
            if tok[0] == "name" and tok[1] == "on":
                self.nxt()
                tcond = self.name()
                dirs = self.directives()
                return ("inline", tcond, self.selection_set(), dirs)
            if tok[0] == "name":
                fname = self.name()
                dirs = self.directives()
                return ("spread", fname, dirs)
            dirs = self.directives()
            return ("inline", None, self.selection_set(), dirs)
        tok = self.peek()
        name = self.name()
        alias = None
        if self.is_p(":"):
            self.nxt()
            alias, name = name, self.name()
        args = self.arguments() if self.is_p("(") else {}
        dirs = self.directives()
        sels = self.selection_set() if self.is_p("{") else None
        return Field(alias, name, args, sels, tok[2], tok[3], dirs)

    def arguments(self):
        self.expect("(")
        out = {}
        while not self.is_p(")"):
            aname = self.name()
            self.expect(":")
            out[aname] = self.value()
        self.nxt()
        return out

    def value(self, const=False, depth=0):
        if depth > self.MAX_DEPTH:
            raise GqlError("Argument values nest too deeply", "maxDepthExceeded")
        tok = self.nxt()
        kind, v = tok[0], tok[1]
        if kind == "punct" and v == "$" and not const:
            return ("var", self.name())
        if kind == "int":
            return ("lit", int(v))
        if kind == "float":
            return ("lit", float(v))
        if kind == "string":
            return ("lit", v)
        if kind == "name":
            if v in ("true", "false"):
                return ("lit", v == "true")
            if v == "null":
                return ("lit", None)
            return ("enum", v)
        if kind == "punct" and v == "[":
            items = []
            while not self.is_p("]"):
                items.append(self.value(const, depth + 1))
            self.nxt()
            return ("list", items)
        if kind == "punct" and v == "{":
            fields = {}
            while not self.is_p("}"):
                fname = self.name()
                self.expect(":")
                fields[fname] = self.value(const, depth + 1)
            self.nxt()
            return ("obj", fields)
        self.err(tok)


def eval_value(node, variables):
    kind, v = node
    if kind == "var":
        return variables.get(v)
    if kind in ("lit", "enum"):
        return v
    if kind == "list":
        return [eval_value(x, variables) for x in v]
    return {k: eval_value(x, variables) for k, x in v.items()}


# --------------------------------------------------------------------------
# The schema subset: type -> field -> (type, resolver or None)
#   A type written "[T]" is a list; a type ending in "Connection" is a Relay
#   connection resolved by the generic connection code.
# --------------------------------------------------------------------------

SCALARS = {"String", "Boolean", "Int", "Float", "EncodedId", "ISO8601DateTime",
           "JobStatusTypeEnum", "InvoiceStatusTypeEnum", "CustomFieldAppliesTo",
           "WebHookTopicEnum"}


def _f(name):
    return lambda app, o, a: o.get(name)


SCHEMA = {
    "Client": {
        "id": ("EncodedId", None), "firstName": ("String", None),
        "lastName": ("String", None), "companyName": ("String", None),
        "name": ("String", lambda app, o, a: app.client_name(o)),
        "isCompany": ("Boolean", lambda app, o, a: bool(o.get("isCompany"))),
        "isArchived": ("Boolean", lambda app, o, a: bool(o.get("isArchived"))),
        "isLead": ("Boolean", lambda app, o, a: bool(o.get("isLead"))),
        "emails": ("[Email]", lambda app, o, a: o.get("emails") or []),
        "phones": ("[ClientPhoneNumber]", lambda app, o, a: o.get("phones") or []),
        "billingAddress": ("ClientAddress", None),
        "tags": ("TagConnection", lambda app, o, a: app.list_page(
            "Tag", [{"id": b64("gid://Jobber/Tag/%s" % t), "label": t}
                    for t in (o.get("tags") or [])], a)),
        "customFields": ("[CustomFieldUnion]", lambda app, o, a: app.custom_fields(o)),
        "notes": ("ClientNoteConnection", lambda app, o, a: app.list_page(
            "ClientNote", [n for n in app.notes if n["clientId"] == o["id"]], a)),
        "jobs": ("JobConnection", lambda app, o, a: app.list_page(
            "Job", app.sorted_kind("jobs", lambda j: j.get("clientId") == o["id"]), a)),
        "invoices": ("InvoiceConnection", lambda app, o, a: app.list_page(
            "Invoice", app.sorted_kind("invoices", lambda j: j.get("clientId") == o["id"]), a)),
        "createdAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["createdAt"])),
        "updatedAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["updatedAt"])),
        "jobberWebUri": ("String", lambda app, o, a: "https://secure.getjobber.com/clients/%d" % o["_n"]),
    },
    "Email": {"id": ("EncodedId", None), "address": ("String", None),
              "primary": ("Boolean", lambda app, o, a: bool(o.get("primary"))),
              "description": ("String", lambda app, o, a: o.get("description", "MAIN"))},
    "ClientPhoneNumber": {"id": ("EncodedId", None), "number": ("String", None),
                          "primary": ("Boolean", lambda app, o, a: bool(o.get("primary"))),
                          "description": ("String", lambda app, o, a: o.get("description", "MAIN")),
                          "smsAllowed": ("Boolean", lambda app, o, a: bool(o.get("smsAllowed")))},
    "ClientAddress": {k: ("String", (lambda k: lambda app, o, a: o.get(k) or "")(k))
                      for k in ("street", "street1", "street2", "city", "province",
                                "postalCode", "country")},
    "Tag": {"id": ("EncodedId", None), "label": ("String", None)},
    "CustomFieldText": {
        "id": ("EncodedId", None), "label": ("String", None), "valueText": ("String", None),
        "customFieldConfiguration": ("CustomFieldConfigurationText",
                                     lambda app, o, a: app.fields.get(o["configId"]))},
    "CustomFieldConfigurationText": {
        "id": ("EncodedId", None), "name": ("String", None),
        "appliesTo": ("CustomFieldAppliesTo", None), "transferable": ("Boolean", None),
        "readOnly": ("Boolean", None), "defaultValue": ("String", None),
        "createdAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["createdAt"])),
        "updatedAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["updatedAt"]))},
    "Visit": {"id": ("EncodedId", None),
              "job": ("Job", lambda app, o, a: app.objects["jobs"].get(o.get("jobId"))),
              "completedAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["completedAt"])
                              if o.get("completedAt") is not None else None)},
    "ClientNote": {"id": ("EncodedId", None), "message": ("String", None),
                   "createdAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["createdAt"]))},
    "Job": {
        "id": ("EncodedId", None), "jobNumber": ("Int", None), "title": ("String", None),
        "jobStatus": ("JobStatusTypeEnum", None), "instructions": ("String", None),
        "client": ("Client", lambda app, o, a: app.objects["clients"].get(o.get("clientId"))),
        "completedAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["completedAt"])
                        if o.get("completedAt") is not None else None),
        "startAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["startAt"])
                    if o.get("startAt") is not None else None),
        "total": ("Float", lambda app, o, a: float(o.get("total") or 0)),
        "invoices": ("InvoiceConnection", lambda app, o, a: app.list_page(
            "Invoice", app.sorted_kind("invoices", lambda i: o["id"] in (i.get("jobIds") or [])), a)),
        "createdAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["createdAt"])),
        "updatedAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["updatedAt"])),
    },
    "Invoice": {
        "id": ("EncodedId", None), "invoiceNumber": ("String", None),
        "invoiceStatus": ("InvoiceStatusTypeEnum", None), "subject": ("String", None),
        "client": ("Client", lambda app, o, a: app.objects["clients"].get(o.get("clientId"))),
        "total": ("Float", lambda app, o, a: float(o.get("total") or 0)),
        "amounts": ("InvoiceAmounts", lambda app, o, a: app.amounts(o)),
        "jobIds": ("[EncodedId]", lambda app, o, a: list(o.get("jobIds") or [])),
        "issuedDate": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["issuedDate"])
                       if o.get("issuedDate") is not None else None),
        "dueDate": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["dueDate"])
                    if o.get("dueDate") is not None else None),
        "receivedDate": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["receivedDate"])
                         if o.get("receivedDate") is not None else None),
        "createdAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["createdAt"])),
        "updatedAt": ("ISO8601DateTime", lambda app, o, a: iso_ms(o["updatedAt"])),
    },
    "InvoiceAmounts": {k: ("Float", (lambda k: lambda app, o, a: float(o.get(k) or 0))(k))
                       for k in ("depositAmount", "discountAmount", "invoiceBalance",
                                 "nonTaxAmount", "paymentsTotal", "subtotal", "taxAmount",
                                 "tipsTotal", "total")},
    "PageInfo": {"hasNextPage": ("Boolean", None), "hasPreviousPage": ("Boolean", None),
                 "endCursor": ("String", None), "startCursor": ("String", None)},
    "MutationErrors": {"message": ("String", None), "path": ("[String]", None)},
    "ClientCreateNotePayload": {"client": ("Client", None), "clientNote": ("ClientNote", None),
                                "userErrors": ("[MutationErrors]", None)},
    "ClientEditPayload": {"client": ("Client", None), "userErrors": ("[MutationErrors]", None)},
    "CustomFieldConfigurationCreateTextPayload": {
        "customFieldConfiguration": ("CustomFieldConfigurationText", None),
        "userErrors": ("[MutationErrors]", None)},
    "Account": {"id": ("EncodedId", None), "name": ("String", None)},
}
UNIONS = {"CustomFieldUnion": ("CustomFieldText",),
          # customFieldConfigurations' nodes: a union of the value types (text only here)
          "CustomFieldConfiguration": ("CustomFieldConfigurationText",)}

# Root fields: name -> (type, allowed arguments)
QUERY_FIELDS = {
    "clients": ("ClientConnection", {"filter", "searchTerm", "sort", "first", "after",
                                     "last", "before"}),
    "jobs": ("JobConnection", {"filter", "searchTerm", "sort", "first", "after", "last",
                               "before"}),
    "invoices": ("InvoiceConnection", {"filter", "searchTerm", "sort", "first", "after",
                                       "last", "before"}),
    "client": ("Client", {"id"}),
    "job": ("Job", {"id"}),
    "invoice": ("Invoice", {"id"}),
    "visit": ("Visit", {"id"}),
    "account": ("Account", set()),
    "customFieldConfigurations": ("CustomFieldConfigurationConnection", {"first", "after", "filter"}),
}
MUTATION_FIELDS = {
    "clientCreateNote": ("ClientCreateNotePayload", {"clientId", "input"}),
    "clientEdit": ("ClientEditPayload", {"clientId", "input"}),
    "customFieldConfigurationCreateText": ("CustomFieldConfigurationCreateTextPayload",
                                           {"input"}),
}
ROOT_KIND = {"clients": "clients", "jobs": "jobs", "invoices": "invoices",
             "client": "clients", "job": "jobs", "invoice": "invoices"}
# Filter input objects, as in Jobber's schema (Jan 2023 snapshot):
# JobFilterAttributes has no updatedAt.
FILTERS = {
    "clients": ("ClientFilterAttributes", {"updatedAt": "range", "createdAt": "range",
                                           "isArchived": "bool", "isCompany": "bool",
                                           "isLead": "bool"}),
    "jobs": ("JobFilterAttributes", {"createdAt": "range", "completedAt": "range",
                                     "startAt": "range", "status": "enum"}),
    "invoices": ("InvoiceFilterAttributes", {"updatedAt": "range", "createdAt": "range",
                                             "issuedDate": "range", "status": "enum",
                                             "clientId": "id"}),
}
SORT_KEYS = {"UPDATED_AT": "updatedAt", "CREATED_AT": "createdAt"}
SORT_INPUT = {"clients": "ClientsSortInput", "jobs": "JobsSortInput",
              "invoices": "InvoiceSortInput"}


def connection_node_type(t):
    return t[:-len("Connection")] if t.endswith("Connection") else None


def base_type(t):
    return t.strip("[]!")


# --------------------------------------------------------------------------
# The application state
# --------------------------------------------------------------------------

class App:
    def __init__(self, args, initial=None):
        self.lock = threading.RLock()
        self.verbose = args.verbose
        self.log_fp = open(args.log, "a", encoding="utf-8", buffering=1) if args.log else None
        self.log_lock = threading.Lock()
        self.initial = initial or {}
        self.args = args
        self.port = None
        self.jwt_key = os.urandom(16)
        self._reset()

    # ---- logging ----------------------------------------------------------
    def log(self, msg):
        line = "%s %s\n" % (iso_ms(int(time.time() * 1000)), msg)
        with self.log_lock:
            if self.log_fp:
                try:
                    self.log_fp.write(line)
                except (OSError, ValueError):
                    pass
            if self.verbose:
                sys.stderr.write(line)

    # ---- state ------------------------------------------------------------
    def _reset(self):
        a = self.args
        with self.lock:
            self.objects = {k: {} for k in KINDS}
            self.seq = 0                      # insertion order, for ids and ties
            self.num = {k: 0 for k in KINDS}
            self.notes = []
            self.visits = {}                  # visit id -> {"id","jobId","completedAt"} (VISIT_COMPLETE's item)
            self.fields = {}                  # custom field configurations by id
            self.custom_fields_allowed = True  # the account's plan has custom fields (Connect or higher)
            self.fixed_now = a.now_ms
            self.bucket_offset_ms = 0         # clock advances also restore points
            self.refill = a.refill            # "real": real time refills too (Jobber)
            self.budget = {"maximumAvailable": a.max_available,
                           "restoreRate": a.restore_rate}
            self.available = float(a.max_available)
            self.bucket_t = self._bucket_clock()
            self.ddos = {"max": DEFAULT_DDOS_MAX, "window_s": DEFAULT_DDOS_WINDOW_S}
            self.ddos_hits = collections.deque()
            self.auth = {"client_id": a.client_id, "client_secret": a.client_secret,
                         "access_ttl_s": a.access_ttl_s, "rotation": a.rotation}
            self.static_tokens = set(a.token or [DEFAULT_TOKEN])
            self.access_tokens = {}           # token -> {"exp": ms, "revoked": bool}
            self.refresh_tokens = {}          # token -> {"state": valid|rotated|revoked}
            self.versions = list(DEFAULT_VERSIONS)
            self.unsupported = []             # accepted, with a warning
            self.jobs_updated_at_filter = False
            self.faults = []
            self.fault_seq = 0
            self.requests = []
            self.req_seq = 0
            self.webhooks = []
            if a.generate_clients:
                self.generate(a.generate_clients, a.seed)
            self.load(self.initial)

    def now_ms(self):
        if self.fixed_now is not None:
            return self.fixed_now
        return int(time.time() * 1000)

    def _bucket_clock(self):
        """The bucket's time in ms: real time plus the fake clock's forward moves
        (refill "real", as in Jobber), or the forward moves only (refill "clock",
        so a test's budget does not depend on how fast the machine is)."""
        real = time.monotonic() * 1000.0 if self.refill == "real" else 0.0
        return real + self.bucket_offset_ms

    def set_refill(self, mode):
        if mode not in ("real", "clock"):
            raise ApiError(400, "refill must be real or clock")
        with self.lock:
            self._restore()                   # settle the points earned so far
            self.refill = mode
            self.bucket_t = self._bucket_clock()

    # ---- objects ----------------------------------------------------------
    def load(self, data):
        if not isinstance(data, dict):
            raise ApiError(400, "data must be a JSON object")
        for kind in KINDS:
            for item in data.get(kind) or []:
                self.upsert(kind, item)

    def upsert(self, kind, item, bump=True):
        """Create or update from the admin input shape.  updatedAt comes from
        the fake clock unless the input gives one."""
        if not isinstance(item, dict):
            raise ApiError(400, "each %s entry must be an object" % kind[:-1])
        now = self.now_ms()
        oid = item.get("id")
        if oid is not None and not isinstance(oid, str):
            oid = str(oid)
        old = self.objects[kind].get(oid) if oid is not None else None
        if old is None:
            self.seq += 1
            self.num[kind] += 1
            n = self.num[kind]
            obj = {"_seq": self.seq, "_n": n, "id": oid or gid(kind, n), "createdAt": now}
            if kind == "jobs":
                obj.update({"jobNumber": n, "jobStatus": "active", "total": 0.0})
            elif kind == "invoices":
                obj.update({"invoiceNumber": str(n), "invoiceStatus": "draft", "total": 0.0})
            else:
                obj.update({"firstName": "", "lastName": "", "emails": [], "phones": [],
                            "tags": [], "customFields": {}})
        else:
            obj = dict(old)
        for k, v in item.items():
            if k in ("id", "_seq", "_n"):
                continue
            if k == "client" and isinstance(v, dict):
                obj["clientId"] = v.get("id")
            elif k in ("createdAt", "updatedAt", "completedAt", "startAt", "issuedDate",
                       "dueDate", "receivedDate"):
                t = parse_time(v) if v is not None else None
                if v is not None and t is None:
                    raise ApiError(400, "%s: bad time %r" % (k, v))
                obj[k] = t
            elif k == "customFields" and isinstance(v, dict):
                obj[k] = dict(v)
            else:
                obj[k] = v
        if kind == "clients":
            for lst, pre in (("emails", "Email"), ("phones", "ClientPhoneNumber")):
                fixed = []
                for i, e in enumerate(obj.get(lst) or []):
                    e = dict(e) if isinstance(e, dict) else \
                        {("address" if lst == "emails" else "number"): str(e)}
                    e.setdefault("id", b64("gid://Jobber/%s/%d%02d" % (pre, obj["_n"], i)))
                    e.setdefault("primary", i == 0)
                    fixed.append(e)
                obj[lst] = fixed
            ba = obj.get("billingAddress")
            if isinstance(ba, dict) and "street" not in ba:
                ba = dict(ba)
                ba["street"] = " ".join(x for x in (ba.get("street1"), ba.get("street2")) if x)
                obj["billingAddress"] = ba
        if bump and "updatedAt" not in item:
            obj["updatedAt"] = now
        obj.setdefault("updatedAt", now)
        self.objects[kind][obj["id"]] = obj
        return obj

    def delete(self, kind, oid):
        return self.objects[kind].pop(oid, None)

    def client_name(self, o):
        if o.get("isCompany") and o.get("companyName"):
            return o["companyName"]
        return " ".join(x for x in (o.get("firstName"), o.get("lastName")) if x) \
            or o.get("companyName") or ""

    def amounts(self, o):
        am = dict(o.get("amounts") or {})
        am.setdefault("total", o.get("total") or 0)
        am.setdefault("subtotal", am["total"])
        paid = am["total"] if o.get("invoiceStatus") == "paid" else 0
        am.setdefault("paymentsTotal", paid)
        am.setdefault("invoiceBalance", float(am["total"] or 0) - float(am["paymentsTotal"] or 0))
        return am

    def custom_fields(self, o):
        out = []
        for cid, val in sorted((o.get("customFields") or {}).items()):
            cfg = self.fields.get(cid)
            out.append({"__typename": "CustomFieldText", "id": b64("%s/%s" % (o["id"], cid)),
                        "label": cfg["name"] if cfg else cid, "valueText": val,
                        "configId": cid})
        return out

    def sorted_kind(self, kind, pred=None):
        objs = [o for o in self.objects[kind].values() if pred is None or pred(o)]
        objs.sort(key=lambda o: o["_seq"])
        return objs

    # ---- generator ----------------------------------------------------------
    def generate(self, n, seed=1):
        rng = random.Random(seed)
        first = ["Ana", "Ben", "Chloé", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan",
                 "José", "Kai", "Lena", "Mo", "Nguyễn", "Omar", "Pia", "Quinn", "Rosa"]
        last = ["Smith", "García", "Nguyen", "Okafor", "Müller", "Brown", "Khan", "Lee",
                "O'Brien", "Rossi", "Silva", "Wong"]
        cities = [("Austin", "TX", "787"), ("Denver", "CO", "802"), ("Tampa", "FL", "336"),
                  ("Calgary", "AB", "T2P"), ("Boise", "ID", "837")]
        base = parse_time("2026-11-01T00:00:00Z")
        out = []
        for i in range(n):
            fn, ln = rng.choice(first), rng.choice(last)
            city, prov, pc = rng.choice(cities)
            # a few shared timestamps, so paging meets ties
            t = base + (i // 3) * 60000
            c = {"firstName": fn, "lastName": ln,
                 "companyName": ("%s Holdings" % ln) if rng.random() < 0.2 else None,
                 "emails": [{"address": "%s.%s%d@example.com"
                             % (fn.lower(), ln.lower().replace("'", ""), i),
                             "primary": True}] if rng.random() < 0.9 else [],
                 "phones": [{"number": "(512) 555-%04d" % rng.randrange(10000),
                             "primary": True}] if rng.random() < 0.85 else [],
                 "billingAddress": {"street1": "%d Main St" % rng.randrange(1, 9999),
                                    "street2": "", "city": city, "province": prov,
                                    "postalCode": pc + ("%02d" % rng.randrange(100)
                                                        if prov != "AB" else " 1A1"),
                                    "country": "Canada" if prov == "AB" else "United States"},
                 "tags": ["residential"] if rng.random() < 0.5 else [],
                 "createdAt": t, "updatedAt": t}
            out.append(self.upsert("clients", c))
        return out

    # ---- connections ----------------------------------------------------------
    def list_page(self, typ, items, args, key=None):
        """Page a list with first/after; cursors are opaque base64 of
        [sort value, insertion seq] for sorted lists, or of the position."""
        if args.get("last") is not None or args.get("before") is not None:
            raise GqlError("the fake supports forward paging only (first/after)",
                           "argumentNotSupported")
        first = args.get("first")
        if first is not None and (not isinstance(first, int) or isinstance(first, bool)
                                  or first < 0):
            raise GqlError("Argument 'first' must be a non-negative integer", "argumentLiteralsIncompatible")
        size = DEFAULT_CONNECTION_SIZE if first is None else first

        def cur(i, o):
            if key:
                return b64(json.dumps([key(o), o.get("_seq", i)]))
            return b64(json.dumps([i + 1]))
        start = 0
        after = args.get("after")
        if after is not None:
            try:
                pos = json.loads(base64.b64decode(after.encode("ascii"), validate=True))
                if not isinstance(pos, list):
                    raise ValueError
            except Exception:
                raise GqlError("Invalid cursor: %s" % after, "invalidCursor")
            if key and len(pos) == 2:
                k = tuple(pos)
                start = len(items)
                for i, o in enumerate(items):
                    if self._after(k, (key(o), o.get("_seq", i)), args.get("_desc")):
                        start = i
                        break
            elif len(pos) == 1:
                start = int(pos[0])
        page = items[start:start + size]
        cursors = [cur(start + i, o) for i, o in enumerate(page)]
        return {"__conn": typ, "items": page, "cursors": cursors,
                "hasNextPage": start + size < len(items),
                "hasPreviousPage": start > 0, "totalCount": len(items)}

    @staticmethod
    def _after(cursor_key, obj_key, desc):
        return obj_key < cursor_key if desc else obj_key > cursor_key

    def root_connection(self, kind, args):
        ftype, spec = FILTERS[kind]
        filt = args.get("filter") or {}
        if not isinstance(filt, dict):
            raise GqlError("Argument 'filter' on Field '%s' has an invalid value" % kind,
                           "argumentLiteralsIncompatible")
        preds = []
        for k, v in filt.items():
            kindk = spec.get(k)
            if k == "updatedAt" and kind == "jobs" and self.jobs_updated_at_filter:
                kindk = "range"
            if kindk is None:
                raise GqlError("InputObject '%s' doesn't accept argument '%s'" % (ftype, k),
                               "argumentNotAccepted", name=ftype, typeName="InputObject",
                               argumentName=k)
            if v is None:
                continue
            if kindk == "range":
                if not isinstance(v, dict) or set(v) - {"after", "before", "eq"}:
                    raise GqlError("Argument '%s' on InputObject '%s' has an invalid value "
                                   "(Iso8601DateTimeRangeInput takes after, before, eq)"
                                   % (k, ftype), "argumentLiteralsIncompatible")
                bounds = {}
                for op, tv in v.items():
                    if tv is None:
                        continue
                    t = parse_time(tv) if isinstance(tv, str) else None
                    if t is None:
                        raise GqlError("Argument '%s' on InputObject 'Iso8601DateTimeRangeInput'"
                                       " has an invalid value (%s)" % (op, json.dumps(tv)),
                                       "argumentLiteralsIncompatible")
                    bounds[op] = t
                preds.append((k, bounds))
            else:
                preds.append((k, v))

        def match(o):
            for k, cond in preds:
                val = o.get(k)
                ks = spec.get(k) or "range"
                if ks == "range":
                    if val is None:
                        return False
                    if "after" in cond and not val > cond["after"]:
                        return False
                    if "before" in cond and not val < cond["before"]:
                        return False
                    if "eq" in cond and val != cond["eq"]:
                        return False
                elif ks == "bool":
                    if bool(o.get(k)) != bool(cond):
                        return False
                elif ks == "enum":
                    status = o.get("jobStatus" if kind == "jobs" else "invoiceStatus")
                    if status != cond:
                        return False
                elif ks == "id":
                    if o.get(k) != cond:
                        return False
            return True
        items = [o for o in self.objects[kind].values() if match(o)]
        sort = args.get("sort")
        if isinstance(sort, dict):
            sort = [sort]
        key = None
        desc = False
        if sort:
            if not isinstance(sort, list) or not all(isinstance(s, dict) for s in sort):
                raise GqlError("Argument 'sort' on Field '%s' has an invalid value" % kind,
                               "argumentLiteralsIncompatible")
            s0 = sort[0]
            skey = SORT_KEYS.get(s0.get("key"))
            if skey is None:
                raise GqlError("Argument 'key' on InputObject '%s' has an invalid value (%s); "
                               "the fake sorts by %s" % (SORT_INPUT[kind],
                                                         json.dumps(s0.get("key")),
                                                         " or ".join(SORT_KEYS)),
                               "argumentLiteralsIncompatible")
            desc = s0.get("direction") == "DESCENDING"
            key = (lambda o, skey=skey: o.get(skey) or 0)
            items.sort(key=lambda o: (key(o), o["_seq"]), reverse=desc)
        else:
            key = lambda o: 0   # insertion order; the cursor still carries the seq
            items.sort(key=lambda o: o["_seq"])
        a2 = dict(args)
        a2["_desc"] = desc
        return self.list_page({"clients": "Client", "jobs": "Job",
                               "invoices": "Invoice"}[kind], items, a2, key)

    # ---- auth ------------------------------------------------------------
    def make_access_token(self):
        now = self.now_ms()
        exp = now + int(self.auth["access_ttl_s"]) * 1000
        hdr = b64url(jdump({"typ": "JWT", "alg": "HS256"}))
        payload = b64url(jdump({"sub": ACCOUNT_ID, "app_id": APP_ID, "iat": now // 1000,
                                "exp": exp // 1000, "jti": uuid.uuid4().hex}))
        sig = b64url(hmac.new(self.jwt_key, (hdr + "." + payload).encode(),
                              hashlib.sha256).digest())
        tok = "%s.%s.%s" % (hdr, payload, sig)
        self.access_tokens[tok] = {"exp": exp}
        return tok, exp

    def issue_pair(self):
        with self.lock:
            tok, exp = self.make_access_token()
            rt = uuid.uuid4().hex
            self.refresh_tokens[rt] = {"state": "valid"}
            return {"access_token": tok, "refresh_token": rt,
                    "expires_at": self.token_time(exp)}

    @staticmethod
    def token_time(ms):
        return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc) \
            .strftime("%Y-%m-%d %H:%M:%S UTC")

    def check_access(self, token):
        """-> None if ok, else a reason string."""
        with self.lock:
            if token in self.static_tokens:
                return None
            t = self.access_tokens.get(token)
            if t is None:
                return "unknown"
            if t.get("revoked"):
                return "revoked"
            if self.now_ms() >= t["exp"]:
                return "expired"
            return None

    def refresh(self, form):
        """The refresh_token grant -> (status, body)."""
        with self.lock:
            gt = form.get("grant_type")
            if gt != "refresh_token":
                if gt == "authorization_code":
                    return 400, {"error": "unsupported_grant_type",
                                 "error_description": "the fake does not implement the "
                                 "authorization-code exchange; use POST /__admin/tokens"}
                return 400, {"error": "unsupported_grant_type",
                             "error_description": "The authorization grant type is not "
                             "supported by the authorization server."}
            if form.get("client_id") != self.auth["client_id"] or \
                    form.get("client_secret") != self.auth["client_secret"]:
                return 401, {"error": "invalid_client",
                             "error_description": "Client authentication failed due to "
                             "unknown client, no client authentication included, or "
                             "unsupported authentication method."}
            rt = form.get("refresh_token") or ""
            st = self.refresh_tokens.get(rt)
            rotation = self.auth["rotation"]
            warning = None
            if st is None or st["state"] == "revoked" or \
                    (st["state"] == "rotated" and rotation != "legacy"):
                return 401, {"error": "invalid_grant",
                             "error_description": "The provided refresh token is not valid.",
                             "message": "Error: The provided refresh token is not valid."}
            if st["state"] == "rotated":
                warning = ("Unexpected Refresh Token Redemption: A newer refresh token exists "
                           "than the one that was used for token redemption on this request. "
                           "Please check your app's handling of refresh token rotation. "
                           + DOC_ROTATION)
            tok, exp = self.make_access_token()
            if rotation == "off":
                new_rt = rt
                warning = ("Refresh token rotation is off. This setting is required for apps "
                           "to be published in the Jobber App Marketplace. You can turn it on "
                           "in the Developer Center. https://developer.getjobber.com/apps")
            else:
                new_rt = uuid.uuid4().hex
                st["state"] = "rotated"
                self.refresh_tokens[new_rt] = {"state": "valid"}
            body = collections.OrderedDict()
            if warning:
                body["warning"] = warning
            body["access_token"] = tok
            body["refresh_token"] = new_rt
            body["expires_at"] = self.token_time(exp)
            return 200, body

    # ---- budget ------------------------------------------------------------
    def _restore(self):
        now = self._bucket_clock()
        dt = max(0.0, now - self.bucket_t) / 1000.0
        self.bucket_t = now
        self.available = min(float(self.budget["maximumAvailable"]),
                             self.available + dt * float(self.budget["restoreRate"]))

    def throttle_status(self):
        return {"maximumAvailable": self.budget["maximumAvailable"],
                "currentlyAvailable": int(self.available),
                "restoreRate": self.budget["restoreRate"]}

    def ddos_check(self):
        now = time.monotonic()
        with self.lock:
            w = self.ddos["window_s"]
            while self.ddos_hits and self.ddos_hits[0] <= now - w:
                self.ddos_hits.popleft()
            self.ddos_hits.append(now)
            return len(self.ddos_hits) > self.ddos["max"]

    # ---- faults ------------------------------------------------------------
    _EFFECTS = ("status", "drop", "slow_ms", "hold_ms", "truncate", "invalid_json", "graphql_error")

    def add_fault(self, spec):
        if not isinstance(spec, dict):
            raise ApiError(400, "a fault must be a JSON object")
        if not any(k in spec for k in self._EFFECTS):
            raise ApiError(400, "fault needs one of: %s" % ", ".join(self._EFFECTS))
        count = as_int(spec.get("count", 1), "count")
        if count == 0 or count < -1:
            raise ApiError(400, "count must be >= 1, or -1 for unlimited")
        self.fault_seq += 1
        f = {"id": self.fault_seq, "remaining": count,
             "skip": as_int(spec.get("skip", 0), "skip", 0),
             "path_prefix": spec.get("path_prefix", "/api/"),
             "operation": spec.get("operation")}
        if "status" in spec:
            f["status"] = as_int(spec["status"], "status", 100)
        for k in ("message", "retry_after", "code"):
            if k in spec:
                f[k] = spec[k]
        if "slow_ms" in spec:
            f["slow_ms"] = as_int(spec["slow_ms"], "slow_ms", 0)
        if "hold_ms" in spec:
            f["hold_ms"] = as_int(spec["hold_ms"], "hold_ms", 0)
        for k in ("drop", "truncate", "invalid_json"):
            if spec.get(k):
                f[k] = True
        if "graphql_error" in spec:
            f["graphql_error"] = str(spec["graphql_error"])
        f["apply"] = bool(spec.get("apply", False))
        self.faults.append(f)
        return f

    def take_fault(self, path, operation):
        with self.lock:
            for f in self.faults:
                if not path.startswith(f["path_prefix"]):
                    continue
                if f["operation"] and f["operation"] != operation:
                    continue
                if f["skip"] > 0:
                    f["skip"] -= 1
                    continue
                if f["remaining"] > 0:
                    f["remaining"] -= 1
                if f["remaining"] == 0:
                    self.faults.remove(f)
                return dict(f)
        return None

    # ---- request log ---------------------------------------------------------
    def next_req_seq(self):
        with self.lock:
            self.req_seq += 1
            return self.req_seq

    def record(self, rec):
        with self.lock:
            self.requests.append(rec)


# --------------------------------------------------------------------------
# GraphQL execution
# --------------------------------------------------------------------------

class Executor:
    def __init__(self, app, frags, variables):
        self.app = app
        self.frags = frags
        self.vars = variables

    # -- selections, with fragments and @skip/@include ---------------------
    def _keep(self, dirs):
        for dname, args in dirs or []:
            cond = eval_value(args.get("if", ("lit", True)), self.vars)
            if dname == "skip" and cond:
                return False
            if dname == "include" and not cond:
                return False
        return True

    def fields(self, sels, typename, depth=0):
        if depth > 20:
            raise GqlError("fragments nest too deeply", "fragmentCycle")
        for s in sels:
            if isinstance(s, Field):
                if self._keep(s.directives):
                    yield s
            elif s[0] == "inline":
                _, tcond, sub, dirs = s
                if self._keep(dirs) and (tcond is None or tcond == typename
                                         or (tcond in UNIONS and typename in UNIONS[tcond])):
                    yield from self.fields(sub, typename, depth + 1)
            else:
                _, fname, dirs = s
                if fname not in self.frags:
                    raise GqlError("Fragment %s was used, but not defined" % fname,
                                   "useAndDefineFragment", fragmentName=fname)
                tcond, sub = self.frags[fname]
                if self._keep(dirs) and (tcond == typename or
                                         (tcond in UNIONS and typename in UNIONS[tcond])):
                    yield from self.fields(sub, typename, depth + 1)

    def fdef(self, typename, f):
        if typename == "Query":
            if f.name not in QUERY_FIELDS:
                raise self.undefined(f, "Query")
            return QUERY_FIELDS[f.name][0], None
        if typename == "Mutation":
            if f.name not in MUTATION_FIELDS:
                raise self.undefined(f, "Mutation")
            return MUTATION_FIELDS[f.name][0], None
        conn = connection_node_type(typename)
        if conn:
            t = {"nodes": "[%s]" % conn, "edges": "[%sEdge]" % conn,
                 "pageInfo": "PageInfo", "totalCount": "Int"}.get(f.name)
            if t is None:
                raise self.undefined(f, typename)
            return t, None
        if typename.endswith("Edge"):
            t = {"cursor": "String", "node": typename[:-4]}.get(f.name)
            if t is None:
                raise self.undefined(f, typename)
            return t, None
        fields = SCHEMA.get(typename, {})
        if f.name not in fields:
            raise self.undefined(f, typename)
        return fields[f.name]

    @staticmethod
    def undefined(f, typename):
        return GqlError("Field '%s' doesn't exist on type '%s'" % (f.name, typename),
                        "undefinedField", f.line, f.col, typeName=typename, fieldName=f.name)

    def check_sels(self, f, t):
        bt = base_type(t)
        leaf = bt in SCALARS
        if leaf and f.sels:
            raise GqlError("Selections can't be made on scalars (field '%s' returns %s but "
                           "has selections [%s])" % (f.name, bt, ", ".join(
                               x.name for x in f.sels if isinstance(x, Field))),
                           "selectionMismatch", f.line, f.col)
        if not leaf and not f.sels:
            raise GqlError("Field must have selections (field '%s' returns %s but has no "
                           "selections. Did you mean '%s { ... }'?)" % (f.name, bt, f.name),
                           "selectionMismatch", f.line, f.col)
        return leaf

    # -- requested cost (static) -------------------------------------------
    def cost(self, typename, sels):
        if typename in UNIONS:
            return max(self.cost(m, sels) for m in UNIONS[typename])
        total = 0
        for f in self.fields(sels, typename):
            if f.name == "__typename":
                continue
            t, _ = self.fdef(typename, f)
            leaf = self.check_sels(f, t)
            bt = base_type(t)
            if leaf:
                total += 1
                continue
            if connection_node_type(bt):
                first = eval_value(f.args["first"], self.vars) if "first" in f.args else None
                n = first if isinstance(first, int) and not isinstance(first, bool) \
                    else DEFAULT_CONNECTION_SIZE
                total += self.conn_cost(bt, f.sels, n)
                continue
            if bt in UNIONS:
                total += 1 + max([self.cost(m, f.sels) for m in UNIONS[bt]] or [0])
                continue
            total += 1 + self.cost(bt, f.sels)
        return total

    def conn_cost(self, conntype, sels, n):
        node = connection_node_type(conntype)
        total = 0
        for g in self.fields(sels, conntype):
            if g.name == "__typename":
                continue
            t, _ = self.fdef(conntype, g)
            self.check_sels(g, t)
            if g.name == "nodes":
                total += n * self.cost(node, g.sels)
            elif g.name == "edges":
                total += n * self.edge_cost(node, g.sels)
            elif g.name == "pageInfo":
                total += 1 + self.cost("PageInfo", g.sels)
            else:
                total += 1
        return total

    def edge_cost(self, node, sels):
        total = 0
        for h in self.fields(sels, node + "Edge"):
            if h.name == "__typename":
                continue
            t, _ = self.fdef(node + "Edge", h)
            self.check_sels(h, t)
            total += self.cost(node, h.sels) if h.name == "node" else 1
        return total

    # -- execution: returns (value, actual cost) -------------------------------
    def resolve_object(self, typename, obj, sels):
        out = collections.OrderedDict()
        cost = 0
        if typename in UNIONS:
            typename = obj.get("__typename")
        for f in self.fields(sels, typename):
            if f.name == "__typename":
                out[f.key] = typename
                continue
            t, resolver = self.fdef(typename, f)
            args = {k: eval_value(v, self.vars) for k, v in f.args.items()}
            val = resolver(self.app, obj, args) if resolver else obj.get(f.name)
            v, c = self.complete(t, val, f)
            out[f.key] = v
            cost += c
        return out, cost

    def complete(self, t, val, f):
        bt = base_type(t)
        if bt in SCALARS or bt == "String":
            if t.startswith("["):
                return (list(val) if val is not None else None), 1
            return val, 1
        conn = connection_node_type(bt)
        if conn:
            return self.complete_connection(bt, val, f)
        if val is None:
            return None, 1
        if t.startswith("["):
            items = []
            for x in val:
                v, _ = self.resolve_object(bt if bt not in UNIONS else bt, x, f.sels)
                items.append(v)
            return items, 1 + (self.cost(bt if bt not in UNIONS else UNIONS[bt][0], f.sels)
                               if items else 0)
        v, c = self.resolve_object(bt, val, f.sels)
        return v, 1 + c

    def complete_connection(self, conntype, page, f):
        node = connection_node_type(conntype)
        out = collections.OrderedDict()
        cost = 0
        for g in self.fields(f.sels, conntype):
            if g.name == "__typename":
                out[g.key] = conntype
            elif g.name == "nodes":
                lst = []
                for o in page["items"]:
                    v, c = self.resolve_object(node, o, g.sels)
                    lst.append(v)
                    cost += c
                out[g.key] = lst
            elif g.name == "edges":
                lst = []
                for o, cur in zip(page["items"], page["cursors"]):
                    e = collections.OrderedDict()
                    for h in self.fields(g.sels, node + "Edge"):
                        if h.name == "__typename":
                            e[h.key] = node + "Edge"
                        elif h.name == "cursor":
                            e[h.key] = cur
                            cost += 1
                        elif h.name == "node":
                            v, c = self.resolve_object(node, o, h.sels)
                            e[h.key] = v
                            cost += c
                        else:
                            raise self.undefined(h, node + "Edge")
                    lst.append(e)
                out[g.key] = lst
            elif g.name == "pageInfo":
                pi = {"hasNextPage": page["hasNextPage"],
                      "hasPreviousPage": page["hasPreviousPage"],
                      "startCursor": page["cursors"][0] if page["cursors"] else None,
                      "endCursor": page["cursors"][-1] if page["cursors"] else None}
                v, c = self.resolve_object("PageInfo", pi, g.sels)
                out[g.key] = v
                cost += 1 + c
            elif g.name == "totalCount":
                out[g.key] = page["totalCount"]
                cost += 1
            else:
                raise self.undefined(g, conntype)
        return out, cost


# -- root fields ---------------------------------------------------------------

def _check_args(f, allowed, parent):
    for a in f.args:
        if a not in allowed:
            raise GqlError("Field '%s' doesn't accept argument '%s'" % (f.name, a),
                           "argumentNotAccepted", f.line, f.col, name=f.name,
                           typeName="Field", argumentName=a)


def resolve_query_root(app, ex, f, args):
    _check_args(f, QUERY_FIELDS[f.name][1], "Query")
    if f.name in ("clients", "jobs", "invoices"):
        if args.get("searchTerm"):
            raise GqlError("the fake does not implement searchTerm", "argumentNotSupported")
        return app.root_connection(f.name, args)
    if f.name == "account":
        return {"id": ACCOUNT_ID, "name": "Fake Field Services"}
    if f.name == "customFieldConfigurations":
        # An account whose plan has no custom fields has none to list.
        cfgs = [dict(c, __typename="CustomFieldConfigurationText") for c in app.fields.values()]
        return app.list_page("CustomFieldConfiguration", cfgs if app.custom_fields_allowed else [], args)
    oid = args.get("id")
    if not isinstance(oid, str):
        raise GqlError("Field '%s' is missing required arguments: id" % f.name,
                       "missingRequiredArguments", f.line, f.col)
    if f.name == "visit":
        return app.visits.get(oid)
    return app.objects[ROOT_KIND[f.name]].get(oid)


def resolve_mutation_root(app, ex, f, args):
    _check_args(f, MUTATION_FIELDS[f.name][1], "Mutation")
    inp = args.get("input")
    if not isinstance(inp, dict):
        raise GqlError("Field '%s' is missing required arguments: input" % f.name,
                       "missingRequiredArguments", f.line, f.col)
    now = app.now_ms()
    if f.name == "customFieldConfigurationCreateText" and not app.custom_fields_allowed:
        return {"customFieldConfiguration": None,
                "userErrors": [{"message": PLAN_NO_CUSTOM_FIELDS, "path": ["input"]}]}
    if f.name == "customFieldConfigurationCreateText":
        errs = [{"message": "%s is required" % k, "path": [k]}
                for k in ("name", "appliesTo", "transferable", "readOnly") if k not in inp]
        if errs:
            return {"customFieldConfiguration": None, "userErrors": errs}
        if inp["appliesTo"] not in ("ALL_PROPERTIES", "ALL_CLIENTS", "ALL_QUOTES", "ALL_JOBS",
                                    "ALL_INVOICES", "TEAM"):
            return {"customFieldConfiguration": None,
                    "userErrors": [{"message": "appliesTo is not valid", "path": ["appliesTo"]}]}
        for c in app.fields.values():
            if c["name"] == inp["name"] and c["appliesTo"] == inp["appliesTo"]:
                return {"customFieldConfiguration": None,
                        "userErrors": [{"message": "Name has already been taken",
                                        "path": ["name"]}]}
        n = len(app.fields) + 1
        cfg = {"id": gid("fields", n), "name": inp["name"], "appliesTo": inp["appliesTo"],
               "transferable": bool(inp["transferable"]), "readOnly": bool(inp["readOnly"]),
               "defaultValue": inp.get("defaultValue") or "", "createdAt": now,
               "updatedAt": now}
        app.fields[cfg["id"]] = cfg
        return {"customFieldConfiguration": cfg, "userErrors": []}
    cid = args.get("clientId")
    client = app.objects["clients"].get(cid) if isinstance(cid, str) else None
    if client is None:
        return {"client": None, "clientNote": None,
                "userErrors": [{"message": "Client not found", "path": ["clientId"]}]}
    if f.name == "clientCreateNote":
        msg = inp.get("message")
        if not isinstance(msg, str) or not msg.strip():
            return {"client": client, "clientNote": None,
                    "userErrors": [{"message": "Message can't be blank",
                                    "path": ["input", "message"]}]}
        note = {"id": gid("notes", len(app.notes) + 1), "clientId": cid, "message": msg,
                "createdAt": now}
        app.notes.append(note)
        return {"client": client, "clientNote": note, "userErrors": []}
    # clientEdit
    upd = {"id": cid}
    errs = []
    for k in ("firstName", "lastName", "companyName", "isCompany", "title"):
        if k in inp:
            upd[k] = inp[k]
    if "billingAddress" in inp and isinstance(inp["billingAddress"], dict):
        ba = dict(client.get("billingAddress") or {})
        ba.update(inp["billingAddress"])
        ba.pop("street", None)
        upd["billingAddress"] = ba
    if "customFields" in inp and not app.custom_fields_allowed:
        errs.append({"message": PLAN_NO_CUSTOM_FIELDS, "path": ["input", "customFields"]})
    elif "customFields" in inp:
        cfs = dict(client.get("customFields") or {})
        for i, cf in enumerate(inp["customFields"] or []):
            cfgid = cf.get("customFieldConfigurationId") or cf.get("id") \
                if isinstance(cf, dict) else None
            cfg = app.fields.get(cfgid)
            if cfg is None or cfg["appliesTo"] != "ALL_CLIENTS":
                errs.append({"message": "Custom field not found",
                             "path": ["input", "customFields", str(i)]})
                continue
            cfs[cfgid] = str(cf.get("valueText", ""))
        upd["customFields"] = cfs
    if errs:
        return {"client": None, "userErrors": errs}
    client = app.upsert("clients", upd)
    return {"client": client, "userErrors": []}


def execute(app, body):
    """-> (data or None, errors list, requested cost, actual cost, operation name,
    root fields, throttled flag).  Raises GqlError for request errors."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise GqlError("No query string was present", "missingQuery")
    variables = body.get("variables") or {}
    if isinstance(variables, str):
        try:
            variables = json.loads(variables) if variables.strip() else {}
        except ValueError:
            raise GqlError("variables is not valid JSON", "invalidVariables")
    if not isinstance(variables, dict):
        raise GqlError("variables must be an object", "invalidVariables")
    ops, frags = Parser(body["query"]).document()
    opname = body.get("operationName")
    if opname:
        cands = [o for o in ops if o[1] == opname]
        if not cands:
            raise GqlError('Operation name "%s" was not found' % opname, "operationNotFound")
        op = cands[0]
    elif len(ops) > 1:
        raise GqlError("An operation name is required", "operationNameRequired")
    else:
        op = ops[0]
    optype, name, var_defs, sels = op
    if optype == "subscription":
        raise GqlError("Subscriptions are not supported", "subscriptionsNotSupported")
    vals = {}
    for vname, (vtype, default) in var_defs.items():
        if vname in variables:
            vals[vname] = variables[vname]
        elif default is not None:
            vals[vname] = eval_value(default, {})
        elif vtype.endswith("!"):
            raise GqlError("Variable $%s of type %s was provided invalid value" % (vname, vtype),
                           "variableMismatch", value=None,
                           problems=[{"path": [], "explanation": "Expected value to not be null"}])
    ex = Executor(app, frags, vals)
    root = "Mutation" if optype == "mutation" else "Query"
    with app.lock:
        requested = ex.cost(root, sels)
        app._restore()
        roots = [f.name for f in ex.fields(sels, root)]
        if requested > app.available or requested > app.budget["maximumAvailable"]:
            return (None, [{"message": "Throttled",
                            "extensions": {"code": "THROTTLED", "documentation": DOC_RATE}}],
                    requested, 0, name, roots, True)
        data = collections.OrderedDict()
        errors = []
        actual = 0
        resolver = resolve_mutation_root if root == "Mutation" else resolve_query_root
        for f in ex.fields(sels, root):
            if f.name == "__typename":
                data[f.key] = root
                continue
            args = {k: eval_value(v, vals) for k, v in f.args.items()}
            try:
                val = resolver(app, ex, f, args)
                t = (MUTATION_FIELDS if root == "Mutation" else QUERY_FIELDS)[f.name][0]
                v, c = ex.complete(t, val, f)
                data[f.key] = v
                actual += c
            except GqlError as e:
                if e.code in ("argumentNotAccepted", "argumentLiteralsIncompatible",
                              "missingRequiredArguments", "undefinedField"):
                    return None, [e.entry()], requested, 0, name, roots, False
                ent = e.entry()
                ent["path"] = [f.key]
                errors.append(ent)
                data[f.key] = None
        actual = min(actual, requested)
        app.available = max(0.0, app.available - actual)
        return data, errors, requested, actual, name, roots, False


# --------------------------------------------------------------------------
# Webhook sender
# --------------------------------------------------------------------------

def send_webhook(app, spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        raise ApiError(400, "webhook needs {\"url\":...,\"topic\":...,\"itemId\":...}")
    topic = spec.get("topic", "CLIENT_UPDATE")
    if topic not in WEBHOOK_TOPICS and not spec.get("any_topic"):
        raise ApiError(400, "unknown topic %r (WebHookTopicEnum: %s)"
                       % (topic, ", ".join(WEBHOOK_TOPICS)))
    with app.lock:
        secret = spec.get("secret", app.auth["client_secret"])
        now = app.now_ms()
    occurred = spec.get("occurredAt")
    if occurred is None:
        occurred = iso_ms(now)
    ts_field = "occuredAt" if spec.get("legacy_occured") else "occurredAt"
    ev = collections.OrderedDict([("topic", topic), ("appId", spec.get("appId", APP_ID)),
                                  ("accountId", spec.get("accountId", ACCOUNT_ID)),
                                  ("itemId", spec.get("itemId")), (ts_field, occurred)])
    if "raw_body" in spec:
        body = str(spec["raw_body"]).encode("utf-8")
    else:
        body = jdump({"data": {"webHookEvent": ev}})
    sig = base64.b64encode(hmac.new(str(secret).encode("utf-8"), body,
                                    hashlib.sha256).digest()).decode()
    if spec.get("bad_signature"):
        sig = base64.b64encode(b"\0" * 32).decode()
    headers = collections.OrderedDict([("Content-Type", "application/json"),
                                       ("X-Jobber-Hmac-SHA256", sig),
                                       ("User-Agent", "Jobber-Webhooks (fake)")])
    for k, v in (spec.get("headers") or {}).items():
        if v is None:
            headers.pop(k, None)
        else:
            headers[k] = str(v)
    times = 1 + as_int(spec.get("duplicates", 0), "duplicates", 0)
    retries = as_int(spec.get("retries", 0), "retries", 0)
    timeout = float(spec.get("timeout_s", 5))
    deliveries = []
    sent = 0
    while sent < times + retries:
        d = _deliver(spec["url"], body, headers, timeout)
        deliveries.append(d)
        sent += 1
        ok = d["status"] is not None and 200 <= d["status"] < 300 and d["within_1s"]
        if sent >= times and (ok or sent >= times + retries):
            break
    result = {"url": spec["url"], "signature": sig,
              "payload": json.loads(body) if "raw_body" not in spec else None,
              "status": deliveries[-1]["status"],
              "elapsed_ms": deliveries[-1]["elapsed_ms"],
              "within_1s": deliveries[-1]["within_1s"],
              "deliveries": deliveries}
    if deliveries[-1].get("error"):
        result["error"] = deliveries[-1]["error"]
    with app.lock:
        app.webhooks.append(result)
    app.log("webhook %s -> %s: %s in %d ms (%d deliveries)"
            % (topic, spec["url"], result["status"], result["elapsed_ms"], len(deliveries)))
    return result


def _deliver(url, body, headers, timeout):
    t0 = time.monotonic()
    d = {"status": None}
    try:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("url must be http(s)://host[:port]/path")
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conn = cls(u.hostname, u.port, timeout=timeout)
        try:
            conn.putrequest("POST", (u.path or "/") + ("?" + u.query if u.query else ""),
                            skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            d["status"] = r.status
            d["body"] = r.read(65536).decode("utf-8", "replace")
        finally:
            conn.close()
    except Exception as e:
        d["error"] = "%s: %s" % (type(e).__name__, e)
    d["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
    d["within_1s"] = d["status"] is not None and d["elapsed_ms"] <= 1000
    return d


# --------------------------------------------------------------------------
# Admin routes
# --------------------------------------------------------------------------

def _q1(query, name, default=None):
    v = query.get(name)
    return v[0] if v else default


def request_counts(reqs):
    c = {"total": len(reqs), "by_path": collections.Counter(),
         "by_status": collections.Counter(), "by_operation": collections.Counter(),
         "throttled": 0, "unauthorized": 0}
    for r in reqs:
        c["by_path"][r["path"].split("?")[0]] += 1
        c["by_status"][str(r["status"])] += 1
        for op in r.get("roots") or []:
            c["by_operation"][op] += 1
        if r.get("throttled"):
            c["throttled"] += 1
        if r["status"] == 401:
            c["unauthorized"] += 1
    for k in ("by_path", "by_status", "by_operation"):
        c[k] = dict(sorted(c[k].items()))
    return c


def route_admin(app, method, path, query, body):
    p = path.rstrip("/")
    if p in ("/__admin", "/__admin/health"):
        return 200, {"ok": True, "port": app.port}
    if p == "/__admin/state" and method == "GET":
        with app.lock:
            app._restore()
            return 200, {"counts": {k: len(app.objects[k]) for k in KINDS},
                         "notes": len(app.notes), "custom_fields": len(app.fields),
                         "clock": {"now": iso_ms(app.now_ms()), "fixed": app.fixed_now is not None},
                         "budget": app.throttle_status(), "auth": dict(app.auth),
                         "versions": app.versions, "unsupported_versions": app.unsupported,
                         "faults": app.faults, "requests": len(app.requests),
                         "webhooks": len(app.webhooks)}
    for kind in KINDS:
        base = "/__admin/" + kind
        if p == base:
            if method == "GET":
                with app.lock:
                    return 200, {kind: [render_admin(o) for o in app.sorted_kind(kind)]}
            if method == "POST":
                items = body.get(kind) if isinstance(body, dict) and kind in body else body
                if isinstance(items, dict):
                    items = [items]
                if not isinstance(items, list):
                    raise ApiError(400, "expected a list, or {\"%s\":[...]}" % kind)
                with app.lock:
                    out = [render_admin(app.upsert(kind, it)) for it in items]
                return 200, {kind: out}
            if method == "DELETE":
                with app.lock:
                    n = len(app.objects[kind])
                    app.objects[kind] = {}
                return 200, {"deleted": n}
        if p.startswith(base + "/"):
            oid = urllib.parse.unquote(p[len(base) + 1:])
            with app.lock:
                if method == "GET":
                    o = app.objects[kind].get(oid)
                    if o is None:
                        raise ApiError(404, "no such %s %s" % (kind[:-1], oid))
                    return 200, render_admin(o)
                if method in ("PATCH", "POST", "PUT"):
                    if oid not in app.objects[kind]:
                        raise ApiError(404, "no such %s %s" % (kind[:-1], oid))
                    if not isinstance(body, dict):
                        raise ApiError(400, "expected an object")
                    upd = dict(body)
                    upd["id"] = oid
                    return 200, render_admin(app.upsert(kind, upd))
                if method == "DELETE":
                    o = app.delete(kind, oid)
                    if o is None:
                        raise ApiError(404, "no such %s %s" % (kind[:-1], oid))
                    return 200, {"deleted": oid}
    if p == "/__admin/generate" and method == "POST":
        body = body or {}
        with app.lock:
            out = app.generate(as_int(body.get("clients", 0), "clients", 0),
                               as_int(body.get("seed", 1), "seed"))
        return 200, {"clients": [o["id"] for o in out]}
    if p == "/__admin/notes" and method == "GET":
        with app.lock:
            return 200, {"notes": [dict(n, createdAt=iso_ms(n["createdAt"]))
                                   for n in app.notes]}
    if p == "/__admin/custom_fields" and method == "GET":
        with app.lock:
            return 200, {"custom_fields": [dict(c, createdAt=iso_ms(c["createdAt"]),
                                                updatedAt=iso_ms(c["updatedAt"]))
                                           for c in app.fields.values()]}
    if p == "/__admin/custom_fields" and method == "POST":
        # A configuration the account's admin made: {"name","appliesTo"?,"readOnly"?}.
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ApiError(400, "expected {\"name\":...,\"appliesTo\":\"ALL_CLIENTS\"}")
        with app.lock:
            now = app.now_ms()
            cfg = {"id": gid("fields", len(app.fields) + 1), "name": body["name"],
                   "appliesTo": body.get("appliesTo", "ALL_CLIENTS"),
                   "transferable": bool(body.get("transferable", False)),
                   "readOnly": bool(body.get("readOnly", False)), "defaultValue": "",
                   "createdAt": now, "updatedAt": now}
            app.fields[cfg["id"]] = cfg
            return 200, dict(cfg, createdAt=iso_ms(now), updatedAt=iso_ms(now))
    if p == "/__admin/visits" and method == "POST":
        # [{"id","jobId","completedAt"?}]: a visit is read only as VISIT_COMPLETE's item, for its job.
        items = body if isinstance(body, list) else [body]
        if not all(isinstance(v, dict) and isinstance(v.get("id"), str) for v in items):
            raise ApiError(400, "expected [{\"id\":...,\"jobId\":...}]")
        with app.lock:
            for v in items:
                app.visits[v["id"]] = {"id": v["id"], "jobId": v.get("jobId"),
                                       "completedAt": parse_time(v["completedAt"])
                                       if v.get("completedAt") else None}
        return 200, {"visits": sorted(app.visits)}
    if p == "/__admin/account" and method == "POST":
        # {"custom_fields": false}: a plan below Connect, without custom fields.
        if not isinstance(body, dict) or not isinstance(body.get("custom_fields"), bool):
            raise ApiError(400, "expected {\"custom_fields\":true|false}")
        with app.lock:
            app.custom_fields_allowed = body["custom_fields"]
        return 200, {"custom_fields": app.custom_fields_allowed}
    if p == "/__admin/reset" and method == "POST":
        app._reset()
        app.log("reset")
        return 200, {"ok": True}
    if p == "/__admin/clock":
        if method == "POST":
            if not isinstance(body, dict):
                raise ApiError(400, "expected {\"now\":TIME} or {\"advance_ms\":N}")
            with app.lock:
                app._restore()
                if "now" in body:
                    if body["now"] is None:
                        app.fixed_now = None
                    else:
                        t = parse_time(body["now"])
                        if t is None:
                            raise ApiError(400, "bad time %r" % body["now"])
                        app.fixed_now = t
                if "advance_ms" in body:
                    adv = as_int(body["advance_ms"], "advance_ms")
                    app.fixed_now = app.now_ms() + adv
                    if adv > 0:
                        app.bucket_offset_ms += adv
                        app._restore()
        with app.lock:
            return 200, {"now": iso_ms(app.now_ms()), "now_ms": app.now_ms(),
                         "fixed": app.fixed_now is not None}
    if p == "/__admin/budget":
        with app.lock:
            if method == "POST":
                if not isinstance(body, dict):
                    raise ApiError(400, "expected {\"maximumAvailable\":N,\"restoreRate\":N,"
                                   "\"currentlyAvailable\":N}")
                app._restore()
                if "refill" in body:          # first, so the rest is set in the new mode
                    app.set_refill(body["refill"])
                for k in ("maximumAvailable", "restoreRate"):
                    if k in body:
                        app.budget[k] = as_int(body[k], k, 0)
                if "currentlyAvailable" in body:
                    app.available = float(as_int(body["currentlyAvailable"],
                                                 "currentlyAvailable", 0))
                app.available = min(app.available, float(app.budget["maximumAvailable"]))
                if "ddos_max" in body:
                    app.ddos["max"] = as_int(body["ddos_max"], "ddos_max", 1)
                if "ddos_window_s" in body:
                    app.ddos["window_s"] = as_int(body["ddos_window_s"], "ddos_window_s", 1)
            app._restore()
            st = app.throttle_status()
            st["refill"] = app.refill
            st["ddos"] = dict(app.ddos)
            return 200, st
    if p == "/__admin/auth":
        with app.lock:
            if method == "POST":
                if not isinstance(body, dict):
                    raise ApiError(400, "expected an object")
                if "rotation" in body:
                    if body["rotation"] not in ("on", "off", "legacy"):
                        raise ApiError(400, "rotation must be on, off or legacy")
                    app.auth["rotation"] = body["rotation"]
                if "access_ttl_s" in body:
                    app.auth["access_ttl_s"] = as_int(body["access_ttl_s"], "access_ttl_s", 1)
                for k in ("client_id", "client_secret"):
                    if k in body:
                        app.auth[k] = str(body[k])
                if body.get("revoke_all"):
                    for t in app.access_tokens.values():
                        t["revoked"] = True
                    for t in app.refresh_tokens.values():
                        t["state"] = "revoked"
            return 200, dict(app.auth)
    if p == "/__admin/tokens" and method == "POST":
        return 200, app.issue_pair()
    if p == "/__admin/versions":
        with app.lock:
            if method == "POST":
                if not isinstance(body, dict):
                    raise ApiError(400, "expected {\"versions\":[...],\"unsupported\":[...]}")
                for k, attr in (("versions", "versions"), ("unsupported", "unsupported")):
                    if k in body:
                        v = body[k]
                        if not isinstance(v, list) or not all(
                                isinstance(x, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", x)
                                for x in v):
                            raise ApiError(400, "%s must be a list of YYYY-MM-DD" % k)
                        if k == "versions" and not v:
                            raise ApiError(400, "versions must not be empty")
                        setattr(app, attr, sorted(v))
                if "jobs_updated_at_filter" in body:
                    app.jobs_updated_at_filter = bool(body["jobs_updated_at_filter"])
            return 200, {"versions": app.versions, "unsupported": app.unsupported,
                         "jobs_updated_at_filter": app.jobs_updated_at_filter}
    if p == "/__admin/faults":
        with app.lock:
            if method == "POST":
                specs = body if isinstance(body, list) else [body]
                added = [app.add_fault(s) for s in specs]
                return 200, {"added": added, "faults": app.faults}
            if method == "DELETE":
                app.faults = []
            return 200, {"faults": app.faults}
    if p == "/__admin/requests":
        with app.lock:
            if method == "DELETE":
                app.requests = []
                return 200, {"requests": [], "counts": request_counts([])}
            since = as_int(_q1(query, "since", "0"), "since", 0)
            prefix = _q1(query, "path_prefix", "")
            reqs = [r for r in app.requests if r["seq"] > since and r["path"].startswith(prefix)]
            return 200, {"requests": reqs, "counts": request_counts(reqs)}
    if p == "/__admin/webhook" and method == "POST":
        return 200, send_webhook(app, body)
    if p == "/__admin/webhooks":
        with app.lock:
            if method == "DELETE":
                app.webhooks = []
            return 200, {"webhooks": list(app.webhooks)}
    raise ApiError(404, "unknown admin endpoint %s %s" % (method, path))


def render_admin(o):
    out = {k: v for k, v in o.items() if not k.startswith("_")}
    for k in ("createdAt", "updatedAt", "completedAt", "startAt", "issuedDate", "dueDate",
              "receivedDate"):
        if out.get(k) is not None:
            out[k] = iso_ms(out[k])
    return out


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

class BodyError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-jobber"
    sys_version = ""

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        self.connection.settimeout(30)
        try:   # headers and body go out in two writes: no Nagle stall on keep-alive
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass

    def log_request(self, code="-", size="-"):
        pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def read_body(self):
        cl = self.headers.get("Content-Length")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    raise BodyError(413, "request body too large")
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        if not cl:
            return b""
        try:
            n = int(cl)
        except ValueError:
            raise BodyError(400, "bad Content-Length")
        if n < 0 or n > MAX_BODY:
            raise BodyError(413 if n > 0 else 400, "bad Content-Length")
        data = self.rfile.read(n)
        if len(data) != n:
            raise BodyError(400, "truncated request body")
        return data

    def _commit_record(self):
        """Put this request's record in the log, once, *before* its answer (or
        its dropped connection) reaches the client: a client that has seen the
        answer then always finds the request in /__admin/requests, and a
        request never lands in the log after a later DELETE /__admin/requests.
        The record is not changed afterwards."""
        rec = getattr(self, "rec", None)
        if rec is None or getattr(self, "rec_done", False):
            return
        self.rec_done = True
        app = self.server.app
        rec["elapsed_ms"] = int((time.monotonic() - self.t0) * 1000)
        app.record(rec)
        app.log("%s %s -> %s%s%s (%d ms)" % (
            self.command, self.path, rec["status"],
            " ops=%s" % ",".join(rec.get("roots") or []) if rec.get("roots") else "",
            " fault=%s" % rec["fault"] if rec["fault"] else "", rec["elapsed_ms"]))

    def _abort(self):
        self._commit_record()
        self.close_connection = True
        try:
            self.wfile.flush()
        except Exception:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reply(self, status, obj, headers=(), truncate=False,
              ctype="application/json; charset=utf-8"):
        body = obj if isinstance(obj, bytes) else jdump(obj)
        self._commit_record()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if truncate or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(body[:len(body) // 2])
            self._abort()
            return
        self.wfile.write(body)

    def dispatch(self):
        app = self.server.app
        self.t0 = time.monotonic()
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        rec = self.rec = None        # one handler serves a keep-alive connection's requests
        self.rec_done = False
        try:
            try:
                raw = self.read_body()
            except BodyError as e:
                self.close_connection = True
                self.reply(e.status, {"error": str(e)})
                return
            if path.startswith("/__admin"):
                self.handle_admin(app, path, query, raw)
                return
            rec = {"seq": app.next_req_seq(), "method": self.command, "path": self.path,
                   "status": None, "at": iso_ms(int(time.time() * 1000)),
                   "clock": iso_ms(app.now_ms()), "auth": None, "fault": None,
                   "version": self.headers.get(VERSION_HEADER),
                   "headers": {k: v for k, v in self.headers.items()
                               if k.lower() not in ("authorization", "cookie")},
                   "body": self._body_for_log(raw, path)}
            self.rec = rec
            if path == "/api/graphql" and self.command == "POST":
                self.handle_graphql(app, raw, rec)
            elif path == "/api/oauth/token" and self.command == "POST":
                self.handle_token(app, raw, rec)
            else:
                rec["status"] = 404
                self.reply(404, {"error": "Not Found"})
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:
            app.log("internal error on %s %s:\n%s" % (self.command, self.path,
                                                      traceback.format_exc()))
            if rec is not None and not self.rec_done:
                rec["status"] = 500
            try:
                self.close_connection = True
                self.reply(500, {"errors": [{"message": "internal error in the fake"}]})
            except Exception:
                pass
        finally:
            self._commit_record()   # requests that ended without an answer
            self.rec = None

    @staticmethod
    def _body_for_log(raw, path):
        if not raw:
            return None
        if path == "/api/oauth/token":
            form = dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace")))
            return {k: ("***" if k in ("client_secret", "refresh_token", "code") else v)
                    for k, v in form.items()}
        try:
            return json.loads(raw)
        except ValueError:
            return raw[:65536].decode("utf-8", "replace")

    def handle_admin(self, app, path, query, raw):
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            self.reply(400, {"error": "invalid JSON: %s" % e})
            return
        try:
            status, obj = route_admin(app, self.command, path, query, body)
        except ApiError as e:
            status, obj = e.status, e.body()
        if path.rstrip("/") not in ("/__admin/requests", "/__admin/health"):
            app.log("admin %s %s -> %d" % (self.command, path, status))
        self.reply(status, obj)

    # ---- faults -------------------------------------------------------------
    def apply_fault(self, fault, rec, before):
        """Returns True when the fault answered the request."""
        rec["fault"] = {k: v for k, v in fault.items()
                        if k not in ("remaining", "skip", "path_prefix", "operation")}
        if before:
            if fault.get("slow_ms"):
                time.sleep(fault["slow_ms"] / 1000.0)
            if fault.get("apply"):
                return False
        elif fault.get("hold_ms"):
            # Carried out, the answer held back: a client killed meanwhile never hears of it.
            time.sleep(fault["hold_ms"] / 1000.0)
        if fault.get("drop"):
            rec["status"] = None
            self._abort()
            return True
        if "status" in fault:
            st = fault["status"]
            hdrs = []
            if st == 429 or "retry_after" in fault:
                hdrs.append(("Retry-After", str(fault.get("retry_after", 1))))
            msg = fault.get("message") or (http.HTTPStatus(st).phrase
                                           if st in http.HTTPStatus._value2member_map_
                                           else "Error %d" % st)
            rec["status"] = st
            self.reply(st, {"errors": [{"message": msg}]} if st != 401 else
                       {"error": "invalid_request", "message": msg}, hdrs)
            return True
        if fault.get("graphql_error"):
            rec["status"] = 200
            ent = {"message": fault["graphql_error"]}
            if fault.get("code"):
                ent["extensions"] = {"code": fault["code"]}
            self.reply(200, {"data": None, "errors": [ent]})
            return True
        if fault.get("invalid_json"):
            rec["status"] = 200
            self.reply(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                       ctype="text/html")
            return True
        return False

    # ---- OAuth token ---------------------------------------------------------
    def handle_token(self, app, raw, rec):
        ctype = (self.headers.get("Content-Type") or "").lower()
        if "json" in ctype:
            try:
                form = json.loads(raw or b"{}")
                form = {k: str(v) for k, v in form.items()} if isinstance(form, dict) else {}
            except ValueError:
                form = {}
        else:
            form = dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace")))
            q = urllib.parse.urlsplit(self.path).query
            for k, v in urllib.parse.parse_qsl(q):
                form.setdefault(k, v)
        fault = app.take_fault("/api/oauth/token", None)
        if fault and self.apply_fault(fault, rec, True):
            return
        status, body = app.refresh(form)
        rec["auth"] = "refresh:%s" % ("ok" if status == 200 else body.get("error"))
        if fault and self.apply_fault(fault, rec, False):
            return
        rec["status"] = status
        self.reply(status, body, truncate=bool(fault and fault.get("truncate")))

    # ---- GraphQL ---------------------------------------------------------------
    def handle_graphql(self, app, raw, rec):
        auth = self.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if app.ddos_check():
            rec["status"] = 429
            self.reply(429, b"Retry later\n", [("Retry-After", "60")], ctype="text/plain")
            return
        why = app.check_access(token) if token else "missing"
        rec["auth"] = why or "ok"
        if why:
            rec["status"] = 401
            self.reply(401, {"error": "invalid_request", "message": "Invalid Token Error",
                             "error_description": {
                                 "missing": "No access token was provided",
                                 "expired": "The access token expired",
                                 "revoked": "The access token was revoked",
                                 "unknown": "The access token is invalid"}[why]})
            return
        with app.lock:
            versions, unsupported = list(app.versions), list(app.unsupported)
        ver = (self.headers.get(VERSION_HEADER) or "").strip()
        versioning = {}
        if not ver:
            rec["status"] = 400
            self.reply(400, {"errors": [{
                "message": "The %s header is required. Set it to one of the active API "
                           "versions. For more information: %s" % (VERSION_HEADER, DOC_VERSIONING),
                "extensions": {"code": "VERSION_HEADER_REQUIRED"}}]})
            return
        if ver in unsupported:
            versioning = {"version": ver,
                          "warning": "API Version %s is no longer supported, and will be "
                                     "removed at any time without warning. Upgrade to the "
                                     "latest API version %s to ensure your app continues to "
                                     "function. For more information: %s"
                                     % (ver, versions[-1], DOC_VERSIONING)}
        elif ver in versions:
            versioning = {"version": ver}
        elif versions and re.fullmatch(r"\d{4}-\d{2}-\d{2}", ver) and ver < versions[0]:
            versioning = {"version": versions[0]}      # removed: upgraded to the oldest
        else:
            rec["status"] = 400
            self.reply(400, {"errors": [{
                "message": "%s %r is not a valid API version. Set it to one of the active "
                           "API versions. For more information: %s"
                           % (VERSION_HEADER, ver, DOC_VERSIONING),
                "extensions": {"code": "INVALID_API_VERSION"}}]})
            return
        rec["served_version"] = versioning["version"]
        ctype = (self.headers.get("Content-Type") or "").lower()
        if "application/json" not in ctype:
            rec["status"] = 415
            self.reply(415, {"errors": [{"message": "GraphQL requests must use the "
                                                    "application/json content type"}]})
            return
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError) as e:
            rec["status"] = 400
            self.reply(400, {"errors": [{"message": "Invalid JSON: %s" % e}]})
            return
        opguess = None
        if isinstance(body, dict) and isinstance(body.get("query"), str):
            m = re.search(r"\{\s*(?:\w+\s*:\s*)?(\w+)", body["query"])
            opguess = m.group(1) if m else None
        fault = app.take_fault("/api/graphql", opguess)
        if fault and self.apply_fault(fault, rec, True):
            return
        resp = collections.OrderedDict()
        try:
            data, errors, requested, actual, name, roots, throttled = execute(app, body)
            rec["roots"] = roots
            rec["operation"] = name
            rec["throttled"] = throttled
            if errors:
                resp["errors"] = errors
            if data is not None:
                resp["data"] = data
            with app.lock:
                cost = {"requestedQueryCost": requested, "actualQueryCost": actual,
                        "throttleStatus": app.throttle_status()}
            rec["cost"] = {"requested": requested, "actual": actual}
        except GqlError as e:
            resp["errors"] = [e.entry()]
            with app.lock:
                app._restore()
                cost = {"requestedQueryCost": 0, "actualQueryCost": 0,
                        "throttleStatus": app.throttle_status()}
        resp["extensions"] = {"cost": cost, "versioning": versioning}
        if fault and self.apply_fault(fault, rec, False):
            return
        rec["status"] = 200
        self.reply(200, resp, truncate=bool(fault and fault.get("truncate")))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        self.app.log("connection error from %s:\n%s" % (client_address,
                                                        traceback.format_exc()))


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Jobber GraphQL API for fieldsync tests "
                                             "(see tests/fakes/README-jobber.md)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", help="write the bound port here (atomically)")
    ap.add_argument("--data", help="initial data: {\"clients\":[..],\"jobs\":[..],\"invoices\":[..]}")
    ap.add_argument("--log", help="append a request log here")
    ap.add_argument("--verbose", action="store_true", help="log to stderr too")
    ap.add_argument("--now", help="fix the fake clock at this time (RFC 3339 or epoch ms)")
    ap.add_argument("--generate-clients", type=int, default=0, metavar="N",
                    help="add N generated clients")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    ap.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET,
                    help="the OAuth client secret; also the webhook signing key")
    ap.add_argument("--token", action="append",
                    help="a static access token that never expires (repeatable; "
                         "default test-token)")
    ap.add_argument("--access-ttl-s", type=int, default=DEFAULT_ACCESS_TTL_S,
                    help="lifetime of issued access tokens, fake clock (default 3600)")
    ap.add_argument("--rotation", choices=("on", "off", "legacy"), default="on",
                    help="refresh-token rotation (default on)")
    ap.add_argument("--max-available", type=int, default=DEFAULT_MAX_AVAILABLE)
    ap.add_argument("--restore-rate", type=int, default=DEFAULT_RESTORE_RATE)
    ap.add_argument("--refill", choices=("real", "clock"), default="real",
                    help="the bucket refills in real time and by fake-clock advances "
                         "(real, default, as Jobber), or by fake-clock advances only "
                         "(clock, for deterministic tests)")
    args = ap.parse_args(argv)
    args.now_ms = None
    if args.now:
        args.now_ms = parse_time(args.now)
        if args.now_ms is None:
            ap.error("--now: cannot parse %r" % args.now)
    data = {}
    if args.data:
        try:
            with open(args.data, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError) as e:
            sys.stderr.write("fake_jobber: --data %s: %s\n" % (args.data, e))
            return 2
    try:
        app = App(args, initial=data)
    except ApiError as e:
        sys.stderr.write("fake_jobber: bad data: %s\n" % e.message)
        return 2
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as e:
        sys.stderr.write("fake_jobber: cannot bind %s:%d: %s\n" % (args.host, args.port, e))
        return 1
    server.app = app
    app.port = server.server_address[1]
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    th = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                          daemon=True)
    th.start()
    app.log("listening on %s:%d (%d clients)" % (args.host, app.port,
                                                 len(app.objects["clients"])))
    if args.port_file:
        write_port_file(args.port_file, app.port)
    while not stop:
        time.sleep(0.1)
    app.log("signal received, shutting down")
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
