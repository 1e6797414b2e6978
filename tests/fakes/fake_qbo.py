#!/usr/bin/env python3
"""fake_qbo.py - a fake QuickBooks Online Accounting API for fieldsync's tests.

Python 3 standard library only.  It follows Intuit's public documentation of
the QuickBooks Online (QBO) Accounting API closely enough for fieldsync to be
tested against it: OAuth 2 refresh (with rotating refresh tokens and expiring
access tokens), change data capture (CDC, 30-day look-back, 1,000-object cap,
deletions as status "Deleted"), the query language subset used for
incremental reads (MetaData.LastUpdatedTime, ORDERBY, STARTPOSITION,
MAXRESULTS), single-entity reads, the per-realm throttles (500 requests a
minute, 10 concurrent) and signed webhooks in both the classic
"eventNotifications" format and the CloudEvents array format.  A control API
under /__admin seeds data, moves the fake clock, changes limits and token
rules, injects faults and shows the request log.

The full reference (CLI, endpoints, /__admin API, what is confirmed from
Intuit's documentation and what is the fake's own choice) is
tests/fakes/README-qbo.md.

Usage:
  fake_qbo.py --port 0 --port-file FILE [--realm ID]... [--data FILE.json]
              [--token TOKEN]... [--refresh-token TOKEN]
              [--client-id ID] [--client-secret SECRET]
              [--now TIME] [--tz-offset=-08:00] [--log FILE] [--verbose]
"""

import argparse
import base64
import collections
import copy
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import secrets
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

ENTITIES = ("Customer", "Invoice", "Payment")
ENTITY_BY_LOWER = {e.lower(): e for e in ENTITIES}
# Admin paths: /__admin/customers, /__admin/invoices, /__admin/payments
ADMIN_PLURAL = {"customers": "Customer", "invoices": "Invoice", "payments": "Payment"}
# Entities Intuit's CDC page names as not supported by CDC.
CDC_UNSUPPORTED = {"journalcode", "taxagency", "timeactivity", "taxcode", "taxrate"}
# Other real QBO entity names: CDC and query accept them and find nothing.
OTHER_ENTITIES = {
    "account", "bill", "billpayment", "class", "creditmemo", "department",
    "deposit", "employee", "estimate", "item", "journalentry", "paymentmethod",
    "purchase", "purchaseorder", "refundreceipt", "salesreceipt", "term",
    "transfer", "vendor", "vendorcredit"}
CANONICAL_OTHER = {
    "account": "Account", "bill": "Bill", "billpayment": "BillPayment",
    "class": "Class", "creditmemo": "CreditMemo", "department": "Department",
    "deposit": "Deposit", "employee": "Employee", "estimate": "Estimate",
    "item": "Item", "journalentry": "JournalEntry", "paymentmethod": "PaymentMethod",
    "purchase": "Purchase", "purchaseorder": "PurchaseOrder",
    "refundreceipt": "RefundReceipt", "salesreceipt": "SalesReceipt", "term": "Term",
    "transfer": "Transfer", "vendor": "Vendor", "vendorcredit": "VendorCredit"}

WEBHOOK_OPERATIONS = ("Create", "Update", "Delete", "Merge", "Void", "Emailed")
# CloudEvents "type" verb for each classic operation: qbo.<entity>.<verb>.v1
CE_VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted",
            "Merge": "merged", "Void": "voided", "Emailed": "emailed"}

DEFAULT_REALM = "9341453908811111"
DEFAULT_TOKEN = "test-token"
DEFAULT_REFRESH = "test-refresh-token"
DEFAULT_CLIENT_ID = "test-client-id"
DEFAULT_CLIENT_SECRET = "test-client-secret"
DEFAULT_TZ = "-08:00"

DEFAULT_LIMITS = {
    "per_minute": 500,          # requests per window per realm
    "window_ms": 60000,         # the window (real time, sliding)
    "concurrent": 10,           # requests in flight per realm
    "cdc_max": 1000,            # objects per CDC answer
    "cdc_lookback_days": 30,    # oldest changedSince accepted
    "cdc_truncate": "entity",   # which objects a saturated CDC keeps
    "query_max": 1000,          # MAXRESULTS ceiling
    "query_default": 100,       # MAXRESULTS when none is given
    "query_over_max": "clamp",  # MAXRESULTS above the ceiling: clamp | error
    "inactive_hidden": True,    # queries skip Active=false customers unless asked
}
DEFAULT_TOKEN_RULES = {
    "expires_in": 3600,                 # access token lifetime, s (fake clock)
    "refresh_expires_in": 8726400,      # x_refresh_token_expires_in, s (101 days)
    "rotate": True,                     # a refresh returns a new refresh token
    "old_refresh_grace_s": 0,           # how long a rotated-out refresh token still works
}

MAX_BODY = 8 * 1024 * 1024
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

class Fault(Exception):
    """An error answered in Intuit's <Fault> shape, as JSON:
    {"Fault":{"Error":[{"Message","Detail","code","element"}],"type"},"time"}."""

    def __init__(self, status, message, detail="", code="2010",
                 ftype="ValidationFault", element=None):
        Exception.__init__(self, message)
        self.status = status
        self.message = message
        self.detail = detail
        self.code = code
        self.ftype = ftype
        self.element = element

    def body(self, now_str):
        err = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            err["element"] = self.element
        return {"Fault": {"Error": [err], "type": self.ftype}, "time": now_str}


class AdminError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message

    def body(self):
        return {"error": self.message}


def gateway_fault(message, detail, code, ftype, now_ms):
    """The lower-case envelope Intuit's gateway answers 401s with (as seen in
    public bug reports of python-quickbooks)."""
    return {"warnings": None, "intuitObject": None,
            "fault": {"error": [{"message": message, "detail": detail, "code": code,
                                 "element": None}], "type": ftype},
            "report": None, "queryResponse": None, "batchItemResponse": [],
            "attachableResponse": [], "syncErrorResponse": None, "requestId": None,
            "time": now_ms, "status": None, "cdcresponse": []}


def throttle_fault(now_str, detail="The request limit was reached."):
    return {"Fault": {"Error": [{
        "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "Detail": detail, "code": "3001"}], "type": "SERVICE"}, "time": now_str}


# --------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------

_TZ_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DT_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                    r"\s*(Z|z|[+-]\d{2}:?\d{2})?$")


def parse_offset(s):
    """'-08:00' or '-0800' or 'Z' -> minutes east of UTC; None if bad."""
    if s in ("Z", "z", "+00:00", "UTC"):
        return 0
    m = _TZ_RE.match(s or "")
    if not m:
        return None
    mins = int(m.group(2)) * 60 + int(m.group(3))
    return -mins if m.group(1) == "-" else mins


def fmt_offset(mins):
    sign = "-" if mins < 0 else "+"
    mins = abs(mins)
    return "%s%02d:%02d" % (sign, mins // 60, mins % 60)


def parse_time(v, tz_mins=0):
    """Epoch ms (number or digit string), an ISO 8601 date-time (with Z, ±HH:MM,
    ±HHMM or no zone, which means the company's zone) or a bare date (midnight
    in the company's zone) -> epoch ms, or None."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return int(v)
    if not isinstance(v, str):
        return None
    s = v.strip()
    if re.match(r"^-?\d+$", s):
        return int(s)
    if _DATE_ONLY.match(s):
        s += "T00:00:00"
    m = _DT_RE.match(s)
    if not m:
        return None
    try:
        d = datetime.date.fromisoformat(m.group(1))
    except ValueError:
        return None
    hh, mi, ss = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
    if hh > 23 or mi > 59 or ss > 60:
        return None
    frac = int(((m.group(5) or "") + "000")[:3])
    off = tz_mins if m.group(6) is None else parse_offset(m.group(6))
    if off is None:
        return None
    days = (d - EPOCH.date()).days
    return ((days * 86400 + hh * 3600 + mi * 60 + ss) - off * 60) * 1000 + frac


def fmt_time(ms, tz_mins, with_ms=False):
    """Epoch ms -> '2026-12-01T09:30:00-08:00' in the company's zone."""
    ms = int(ms)
    dt = EPOCH + datetime.timedelta(milliseconds=ms + tz_mins * 60000)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if with_ms:
        s += ".%03d" % (ms % 1000)
    return s + fmt_offset(tz_mins)


def iso_utc(ms):
    ms = int(ms)
    dt = EPOCH + datetime.timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def as_int(v, what, minimum=None):
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise AdminError(400, "%s must be an integer, got %r" % (what, v))
    try:
        n = int(v)
    except ValueError:
        raise AdminError(400, "%s must be an integer, got %r" % (what, v))
    if isinstance(v, float) and not v.is_integer():
        raise AdminError(400, "%s must be an integer, got %r" % (what, v))
    if minimum is not None and n < minimum:
        raise AdminError(400, "%s must be >= %d, got %d" % (what, minimum, n))
    return n


def id_key(oid):
    s = str(oid)
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def deep_merge(dst, src):
    for k, v in src.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


def money(v):
    try:
        return round(float(v), 2)
    except (TypeError, ValueError):
        raise AdminError(400, "not an amount: %r" % (v,))


# --------------------------------------------------------------------------
# Query language subset
# --------------------------------------------------------------------------

class QueryError(Exception):
    pass


_TOKEN_RE = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<op>>=|<=|!=|<>|=|<|>)
  | (?P<punct>[(),*])
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
)""", re.X)


def tokenize(q):
    toks = []
    pos = 0
    q = q.rstrip()
    while pos < len(q):
        m = _TOKEN_RE.match(q, pos)
        if not m or m.end() == pos:
            raise QueryError("Encountered \"%s\" at line 1, column %d."
                             % (q[pos:pos + 10].strip(), pos + 1))
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "str":
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        toks.append((kind, val, m.start(kind) + 1))
        pos = m.end()
    return toks


class Query:
    """SELECT * | COUNT(*) FROM Entity [WHERE c AND c ...]
    [ORDERBY f [ASC|DESC], ...] [STARTPOSITION n] [MAXRESULTS m]
    c: field op 'value' | field IN ('a','b') ; op: = != < <= > >="""

    def __init__(self, text):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.count = False
        self.entity = None
        self.where = []
        self.order = []
        self.start = None
        self.max = None
        self._parse()

    def _peek(self, n=0):
        j = self.i + n
        return self.toks[j] if j < len(self.toks) else (None, None, len(self.text) + 1)

    def _next(self):
        t = self._peek()
        self.i += 1
        return t

    def _kw(self, *words):
        k, v, _ = self._peek()
        if k == "word" and v.upper() in words:
            self.i += 1
            return v.upper()
        return None

    def _expect_kw(self, word):
        if not self._kw(word):
            self._fail()

    def _fail(self):
        k, v, col = self._peek()
        raise QueryError("Encountered \"%s\" at line 1, column %d."
                         % (v if v is not None else "<EOF>", col))

    def _parse(self):
        self._expect_kw("SELECT")
        k, v, _ = self._peek()
        if k == "punct" and v == "*":
            self._next()
        elif k == "word" and v.upper() == "COUNT":
            self._next()
            for want in ("(", "*", ")"):
                k2, v2, _ = self._next()
                if k2 != "punct" or v2 != want:
                    self.i -= 1
                    self._fail()
            self.count = True
        else:
            raise QueryError("The fake supports only SELECT * and SELECT COUNT(*) "
                             "(no projections)")
        self._expect_kw("FROM")
        k, v, _ = self._next()
        if k != "word":
            self.i -= 1
            self._fail()
        self.entity = v
        if self._kw("WHERE"):
            while True:
                self.where.append(self._cond())
                if self._kw("AND"):
                    continue
                if self._kw("OR"):
                    raise QueryError("OR is not supported by the query language")
                break
        if self._kw("ORDERBY") or (self._kw("ORDER") and self._expect_kw("BY") is None):
            while True:
                k, v, _ = self._next()
                if k != "word":
                    self.i -= 1
                    self._fail()
                desc = self._kw("ASC", "DESC") == "DESC"
                self.order.append((v, desc))
                k, v, _ = self._peek()
                if k == "punct" and v == ",":
                    self._next()
                    continue
                break
        while True:
            w = self._kw("STARTPOSITION", "MAXRESULTS")
            if not w:
                break
            k, v, _ = self._next()
            if k != "num" or "." in v:
                self.i -= 1
                self._fail()
            if w == "STARTPOSITION":
                self.start = int(v)
            else:
                self.max = int(v)
        if self._peek()[0] is not None:
            self._fail()

    def _value(self):
        k, v, _ = self._next()
        if k in ("str", "num"):
            return v
        if k == "word" and v.lower() in ("true", "false"):
            return v.lower()
        self.i -= 1
        self._fail()

    def _cond(self):
        k, field, _ = self._next()
        if k != "word":
            self.i -= 1
            self._fail()
        if self._kw("IN"):
            k, v, _ = self._next()
            if k != "punct" or v != "(":
                self.i -= 1
                self._fail()
            vals = [self._value()]
            while True:
                k, v, _ = self._next()
                if k == "punct" and v == ",":
                    vals.append(self._value())
                    continue
                if k == "punct" and v == ")":
                    break
                self.i -= 1
                self._fail()
            return (field, "IN", vals)
        if self._kw("LIKE"):
            return (field, "LIKE", self._value())
        k, op, _ = self._next()
        if k != "op":
            self.i -= 1
            self._fail()
        return (field, "!=" if op == "<>" else op, self._value())


TIME_FIELDS = {"metadata.lastupdatedtime", "metadata.createtime"}


def field_value(obj, field):
    """The comparable value of a (case-insensitive, dotted) field."""
    f = field.lower()
    if f == "metadata.lastupdatedtime":
        return obj["_lut"]
    if f == "metadata.createtime":
        return obj["_ct"]
    cur = obj
    for part in field.split("."):
        if not isinstance(cur, dict):
            return None
        hit = None
        for k in cur:
            if k.lower() == part.lower() and not k.startswith("_"):
                hit = k
                break
        if hit is None:
            return None
        cur = cur[hit]
    if isinstance(cur, dict) and "value" in cur:
        cur = cur["value"]
    return cur


def compile_cond(cond, tz):
    field, op, val = cond
    is_time = field.lower() in TIME_FIELDS

    def conv(v):
        if is_time:
            t = parse_time(v, tz)
            if t is None:
                raise QueryError("Invalid date/time %r for %s" % (v, field))
            return t
        return v

    def norm(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, (int, float)):
            return x
        return x

    def cmp_pair(a, b):
        # numbers compare as numbers, everything else as strings
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            try:
                return a, float(b)
            except (TypeError, ValueError):
                return str(a), str(b)
        if isinstance(b, str) and isinstance(a, str):
            if field.lower() == "id" and a.isdigit() and b.isdigit():
                return int(a), int(b)
            return a.lower(), b.lower()
        return str(norm(a)), str(b)

    if op == "IN":
        vals = [conv(v) for v in val]

        def pred(o):
            a = field_value(o, field)
            if a is None:
                return False
            return any(x == y for x, y in (cmp_pair(norm(a), v) for v in vals))
        return pred
    if op == "LIKE":
        pat = "^" + re.escape(str(val)).replace("%", ".*") + "$"
        rx = re.compile(pat, re.I)
        return lambda o: field_value(o, field) is not None and \
            bool(rx.match(str(field_value(o, field))))
    v = conv(val)
    ops = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b,
           "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
           ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    fn = ops[op]

    def pred(o):
        a = field_value(o, field)
        if a is None:
            return False
        x, y = cmp_pair(norm(a), v)
        try:
            return fn(x, y)
        except TypeError:
            return False
    return pred


# --------------------------------------------------------------------------
# Generated data
# --------------------------------------------------------------------------

GIVEN = ["Amy", "Bill", "Carla", "Dmitri", "Elena", "Farah", "George", "Hana", "Iván",
         "Jules", "Kwame", "Lucía", "Mei", "Nasser", "Olga", "Priya", "Quinn", "Rosa",
         "Sean", "Thảo", "Uma", "Víctor", "Wen", "Xavier", "Yusuf", "Zoë"]
FAMILY = ["Lauterbach", "Nguyễn", "O'Brien", "Smith", "García", "Kowalski", "Okafor",
          "Müller", "Johnson", "Tanaka", "Dubois", "Schmidt", "Silva", "Rossi", "Khan"]
STREETS = ["Finch St.", "Main St.", "Oak Ave", "Elm Rd", "Lakeview Dr", "Cedar Ln",
           "Sunset Blvd", "2nd Ave", "Maple Ct", "River Rd"]
CITIES = [("Bayshore", "CA", "94326"), ("Austin", "TX", "78701"), ("Denver", "CO", "80202"),
          ("Portland", "OR", "97205"), ("Tampa", "FL", "33602"), ("Boise", "ID", "83702"),
          ("Newark", "NJ", "07102"), ("Madison", "WI", "53703")]


def gen_customer(rng, n):
    g, f = rng.choice(GIVEN), rng.choice(FAMILY)
    city, st, zc = rng.choice(CITIES)
    c = {"GivenName": g, "FamilyName": f, "DisplayName": "%s %s %d" % (g, f, n),
         "BillAddr": {"Line1": "%d %s" % (rng.randint(1, 9999), rng.choice(STREETS)),
                      "City": city, "CountrySubDivisionCode": st, "PostalCode": zc,
                      "Country": rng.choice(["USA", "US", "United States"])}}
    if rng.random() < 0.9:
        c["PrimaryEmailAddr"] = {"Address": "%s.%s%d@example.com" % (
            g.lower(), f.lower().replace("'", ""), n)}
    if rng.random() < 0.85:
        c["PrimaryPhone"] = {"FreeFormNumber": "(%03d) 555-%04d" % (
            rng.randint(201, 989), rng.randint(0, 9999))}
    return c


# --------------------------------------------------------------------------
# The application state
# --------------------------------------------------------------------------

class App:
    def __init__(self, realms, tokens, refresh_tokens, client_id, client_secret,
                 initial=None, now=None, tz_mins=-480, log_path=None, verbose=False):
        self.lock = threading.RLock()
        self.init_realms = list(realms)
        self.init_tokens = list(tokens)
        self.init_refresh = list(refresh_tokens)
        self.init_client = (client_id, client_secret)
        self.initial = initial or {}
        self.initial_now = now
        self.initial_tz = tz_mins
        self.verbose = verbose
        self.log_fp = open(log_path, "a", encoding="utf-8", buffering=1) if log_path else None
        self.log_lock = threading.Lock()
        self.port = None
        self._reset(empty=False)

    # ---- logging ----------------------------------------------------------
    def log(self, msg):
        line = "%s %s\n" % (iso_utc(time.time() * 1000), msg)
        with self.log_lock:
            if self.log_fp:
                try:
                    self.log_fp.write(line)
                except (OSError, ValueError):
                    pass
            if self.verbose:
                sys.stderr.write(line)

    # ---- state ------------------------------------------------------------
    def _reset(self, empty):
        with self.lock:
            self.fixed_now = self.initial_now
            self.tz = self.initial_tz
            self.realms = {}
            for r in self.init_realms:
                self._add_realm(r)
            self.limits = dict(DEFAULT_LIMITS)
            self.token_rules = dict(DEFAULT_TOKEN_RULES)
            self.client_id, self.client_secret = self.init_client
            # access token -> {"realms": None (all) | set, "exp": ms or None}
            self.access = {t: {"realms": None, "exp": None, "issued": None}
                           for t in self.init_tokens}
            # refresh token -> {"realms", "exp", "dead_after": ms or None}
            self.refresh = {t: {"realms": None, "exp": None, "dead_after": None}
                            for t in self.init_refresh}
            self.refreshes = 0
            self.windows = {}
            self.inflight = collections.Counter()
            self.faults = []
            self.fault_seq = 0
            self.requests = []
            self.req_seq = 0
            self.webhooks = []
            if not empty:
                self.load(self.initial)

    def _add_realm(self, realm):
        if realm not in self.realms:
            self.realms[realm] = {"objects": {e: {} for e in ENTITIES},
                                  "next_id": {e: 1 for e in ENTITIES}}
        return self.realms[realm]

    def now_ms(self):
        if self.fixed_now is not None:
            return self.fixed_now
        return int(time.time() * 1000)

    def now_str(self):
        return fmt_time(self.now_ms(), self.tz, with_ms=True)

    def realm_or_404(self, realm):
        r = self.realms.get(realm)
        if r is None:
            raise AdminError(404, "unknown realm %s" % realm)
        return r

    def default_realm(self):
        return self.init_realms[0]

    # ---- objects ------------------------------------------------------------
    def load(self, data):
        """{"realm":..., "customers":[...], "invoices":[...], "payments":[...]}
        or {"realms":{"<id>":{"customers":...}}}."""
        if not isinstance(data, dict):
            raise AdminError(400, "data must be a JSON object")
        blocks = []
        if isinstance(data.get("realms"), dict):
            blocks = list(data["realms"].items())
        else:
            blocks = [(str(data.get("realm") or self.default_realm()), data)]
        for realm, block in blocks:
            self._add_realm(realm)
            for plural in ("customers", "invoices", "payments"):
                for item in block.get(plural) or []:
                    self.upsert(realm, ADMIN_PLURAL[plural], item)

    def stamp(self, item, key_lut, default):
        md = item.get("MetaData") if isinstance(item.get("MetaData"), dict) else {}
        v = md.get(key_lut)
        if v is None:
            return default
        t = parse_time(v, self.tz)
        if t is None:
            raise AdminError(400, "bad MetaData.%s %r" % (key_lut, v))
        return t

    def upsert(self, realm, entity, item, apply_links=True):
        """Create or update (deep merge) one object; MetaData from the fake clock
        unless the item names it.  Returns the stored object."""
        if not isinstance(item, dict):
            raise AdminError(400, "each %s must be a JSON object" % entity)
        store = self._add_realm(realm)
        objs = store["objects"][entity]
        now = (self.now_ms() // 1000) * 1000      # QBO times have whole seconds
        oid = item.get("Id")
        if oid is None:
            while str(store["next_id"][entity]) in objs:
                store["next_id"][entity] += 1
            oid = str(store["next_id"][entity])
            store["next_id"][entity] += 1
        oid = str(oid)
        old = objs.get(oid)
        lut = self.stamp(item, "LastUpdatedTime", now)
        if old is None or old.get("_deleted"):
            obj = {"Id": oid, "SyncToken": "0", "domain": "QBO", "sparse": False}
            obj.update(self._defaults(entity, store))
            ct = self.stamp(item, "CreateTime", lut)
            obj["_ct"] = ct
        else:
            obj = old
            obj["SyncToken"] = str(int(obj.get("SyncToken", "0")) + 1)
        body = {k: v for k, v in item.items() if k not in ("Id", "MetaData", "SyncToken",
                                                             "domain", "sparse")}
        if "SyncToken" in item:
            obj["SyncToken"] = str(item["SyncToken"])
        old_lines = copy.deepcopy(obj.get("Line")) if entity == "Payment" else None
        deep_merge(obj, body)
        obj.pop("_deleted", None)
        obj["_lut"] = lut
        if isinstance(item.get("MetaData"), dict) and "CreateTime" in item["MetaData"]:
            obj["_ct"] = self.stamp(item, "CreateTime", lut)
        self._derive(realm, entity, obj)
        objs[oid] = obj
        if entity == "Payment" and apply_links:
            self._apply_payment(realm, obj, old_lines, lut)
        return obj

    def _defaults(self, entity, store):
        if entity == "Customer":
            return {"Active": True, "Balance": 0, "Taxable": False, "Job": False,
                    "BillWithParent": False, "PreferredDeliveryMethod": "Print"}
        if entity == "Invoice":
            n = 1000 + len(store["objects"]["Invoice"]) + 1
            return {"DocNumber": str(n), "TxnDate": fmt_time(self.now_ms(), self.tz)[:10],
                    "LinkedTxn": [], "TotalAmt": 0, "Balance": None,
                    "CurrencyRef": {"value": "USD", "name": "United States Dollar"}}
        return {"TxnDate": fmt_time(self.now_ms(), self.tz)[:10], "TotalAmt": 0,
                "UnappliedAmt": 0, "Line": [],
                "CurrencyRef": {"value": "USD", "name": "United States Dollar"}}

    def _derive(self, realm, entity, obj):
        objs = self.realms[realm]["objects"]
        if entity == "Customer":
            if "DisplayName" not in obj:
                name = " ".join(x for x in (obj.get("GivenName"), obj.get("FamilyName")) if x)
                obj["DisplayName"] = name or "Customer %s" % obj["Id"]
            obj["FullyQualifiedName"] = obj["DisplayName"]
            obj["PrintOnCheckName"] = obj["DisplayName"]
            return
        ref = obj.get("CustomerRef")
        if isinstance(ref, (str, int)):
            ref = {"value": str(ref)}
            obj["CustomerRef"] = ref
        if isinstance(ref, dict) and ref.get("value") is not None:
            ref["value"] = str(ref["value"])
            c = objs["Customer"].get(ref["value"])
            if c and "name" not in ref:
                ref["name"] = c["DisplayName"]
        if "TotalAmt" in obj:
            obj["TotalAmt"] = money(obj["TotalAmt"])
        if entity == "Invoice":
            if obj.get("Balance") is None:
                obj["Balance"] = obj["TotalAmt"]
            obj["Balance"] = money(obj["Balance"])
            if not obj.get("Line"):
                obj["Line"] = [
                    {"Id": "1", "LineNum": 1, "Amount": obj["TotalAmt"],
                     "DetailType": "SalesItemLineDetail",
                     "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}}},
                    {"Amount": obj["TotalAmt"], "DetailType": "SubTotalLineDetail",
                     "SubTotalLineDetail": {}}]
        if entity == "Payment":
            lines = obj.get("Line") or []
            for ln in lines:
                if "Amount" in ln:
                    ln["Amount"] = money(ln["Amount"])
                for lt in ln.get("LinkedTxn") or []:
                    lt["TxnId"] = str(lt.get("TxnId"))
                    lt.setdefault("TxnType", "Invoice")
            applied = sum(ln.get("Amount", 0) for ln in lines)
            obj["UnappliedAmt"] = money(max(0.0, obj.get("TotalAmt", 0) - applied))

    @staticmethod
    def _links(lines):
        out = {}
        for ln in lines or []:
            for lt in ln.get("LinkedTxn") or []:
                if lt.get("TxnType", "Invoice") == "Invoice":
                    out[str(lt.get("TxnId"))] = out.get(str(lt.get("TxnId")), 0) + \
                        float(ln.get("Amount", 0))
        return out

    def _apply_payment(self, realm, pay, old_lines, lut):
        """Keep the linked invoices' Balance and LinkedTxn in step, as QBO does
        (each touched invoice gets a new SyncToken and LastUpdatedTime)."""
        invs = self.realms[realm]["objects"]["Invoice"]
        before = self._links(old_lines)
        after = self._links(pay.get("Line")) if not pay.get("_deleted") else {}
        for inv_id in set(before) | set(after):
            inv = invs.get(inv_id)
            if inv is None or inv.get("_deleted"):
                continue
            delta = after.get(inv_id, 0) - before.get(inv_id, 0)
            links = [lt for lt in inv.get("LinkedTxn") or []
                     if not (lt.get("TxnType") == "Payment" and lt.get("TxnId") == pay["Id"])]
            if inv_id in after:
                links.append({"TxnId": pay["Id"], "TxnType": "Payment"})
            inv["LinkedTxn"] = links
            inv["Balance"] = money(max(0.0, inv.get("Balance", 0) - delta))
            inv["SyncToken"] = str(int(inv.get("SyncToken", "0")) + 1)
            inv["_lut"] = lut

    def delete(self, realm, entity, oid, hard=False):
        store = self.realm_or_404(realm)
        obj = store["objects"][entity].get(str(oid))
        if obj is None or obj.get("_deleted"):
            raise AdminError(404, "no %s %s in realm %s" % (entity, oid, realm))
        now = (self.now_ms() // 1000) * 1000
        if entity == "Customer" and not hard:
            obj["Active"] = False
            obj["SyncToken"] = str(int(obj.get("SyncToken", "0")) + 1)
            obj["_lut"] = now
            return obj
        old_lines = copy.deepcopy(obj.get("Line")) if entity == "Payment" else None
        obj["_deleted"] = True
        obj["_lut"] = now
        if entity == "Payment":
            self._apply_payment(realm, obj, old_lines, now)
        return obj

    def void(self, realm, entity, oid):
        store = self.realm_or_404(realm)
        obj = store["objects"][entity].get(str(oid))
        if obj is None or obj.get("_deleted") or entity == "Customer":
            raise AdminError(404, "no %s %s in realm %s to void" % (entity, oid, realm))
        old_lines = copy.deepcopy(obj.get("Line")) if entity == "Payment" else None
        now = (self.now_ms() // 1000) * 1000
        obj["TotalAmt"] = 0.0
        if entity == "Invoice":
            obj["Balance"] = 0.0
            for ln in obj.get("Line") or []:
                ln["Amount"] = 0.0
        else:
            for ln in obj.get("Line") or []:
                ln["Amount"] = 0.0
            obj["UnappliedAmt"] = 0.0
        obj["PrivateNote"] = "Voided"
        obj["SyncToken"] = str(int(obj.get("SyncToken", "0")) + 1)
        obj["_lut"] = now
        if entity == "Payment":
            self._apply_payment(realm, obj, old_lines, now)
        return obj

    def render(self, obj):
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        out["MetaData"] = {"CreateTime": fmt_time(obj["_ct"], self.tz),
                           "LastUpdatedTime": fmt_time(obj["_lut"], self.tz)}
        return out

    def render_deleted(self, obj):
        return {"domain": "QBO", "status": "Deleted", "Id": obj["Id"],
                "MetaData": {"LastUpdatedTime": fmt_time(obj["_lut"], self.tz)}}

    def render_admin(self, obj):
        out = self.render(obj)
        if obj.get("_deleted"):
            out["status"] = "Deleted"
        return out

    # ---- CDC ----------------------------------------------------------------
    def cdc(self, realm, entities_arg, since_arg):
        tz = self.tz
        if not entities_arg:
            raise Fault(400, "Request has invalid or unsupported property",
                        "Property Name:entities specified is unsupported or invalid",
                        "2010", element="entities")
        if not since_arg:
            raise Fault(400, "Request has invalid or unsupported property",
                        "Property Name:changedSince specified is unsupported or invalid",
                        "2010", element="changedSince")
        since = parse_time(since_arg, tz)
        if since is None:
            raise Fault(400, "Request has invalid or unsupported property",
                        "Property Name:changedSince specified is unsupported or invalid: %s"
                        % since_arg, "2010", element="changedSince")
        now = self.now_ms()
        oldest = now - self.limits["cdc_lookback_days"] * 86400000
        if since < oldest:
            raise Fault(400, "Request has invalid or unsupported property",
                        "Operation cdc with changedSince date %s which is older than "
                        "fixed days is not supported." % since_arg, "2010",
                        element="changedSince")
        names = []
        for raw in entities_arg.split(","):
            n = raw.strip()
            if not n:
                continue
            low = n.lower()
            if low in CDC_UNSUPPORTED:
                raise Fault(400, "Request has invalid or unsupported property",
                            "Operation CDC is not supported for entity %s" % n, "2010",
                            element="entities")
            if low in ENTITY_BY_LOWER:
                canon = ENTITY_BY_LOWER[low]
            elif low in OTHER_ENTITIES:
                canon = CANONICAL_OTHER[low]
            else:
                raise Fault(400, "Request has invalid or unsupported property",
                            "Property Name:entities specified is unsupported or invalid: %s"
                            % n, "2010", element="entities")
            if canon not in names:
                names.append(canon)
        store = self.realms[realm]["objects"]
        changed = {}
        for i, name in enumerate(names):
            objs = store.get(name, {})
            rows = [o for o in objs.values() if o["_lut"] >= since]
            rows.sort(key=lambda o: (o["_lut"], id_key(o["Id"])))
            changed[name] = rows
        cap = self.limits["cdc_max"]
        total = sum(len(v) for v in changed.values())
        if total > cap:
            mode = self.limits["cdc_truncate"]
            if mode == "oldest" or mode == "newest":
                flat = [(o["_lut"], names.index(n), id_key(o["Id"]), n, o)
                        for n, rows in changed.items() for o in rows]
                flat.sort(key=lambda x: x[:3], reverse=(mode == "newest"))
                keep = set(id(x[4]) for x in flat[:cap])
                changed = {n: [o for o in rows if id(o) in keep]
                           for n, rows in changed.items()}
            else:  # "entity": fill in the order the entities were asked for
                left = cap
                for n in names:
                    changed[n] = changed[n][:left]
                    left -= len(changed[n])
        blocks = []
        for n in names:
            rows = changed[n]
            if not rows:
                blocks.append({})
                continue
            blocks.append({n: [self.render_deleted(o) if o.get("_deleted") else self.render(o)
                               for o in rows],
                           "startPosition": 1, "maxResults": len(rows)})
        return {"CDCResponse": [{"QueryResponse": blocks}], "time": self.now_str()}, total

    # ---- query --------------------------------------------------------------
    def query(self, realm, text):
        try:
            q = Query(text or "")
        except QueryError as e:
            raise Fault(400, "Error parsing query", "QueryParserError: %s" % e, "4000")
        low = q.entity.lower()
        if low in ENTITY_BY_LOWER:
            entity = ENTITY_BY_LOWER[low]
        elif low in OTHER_ENTITIES:
            entity = CANONICAL_OTHER[low]
        else:
            raise Fault(400, "Invalid query",
                        "QueryValidationError: Invalid entity: %s" % q.entity, "4001")
        try:
            preds = [compile_cond(c, self.tz) for c in q.where]
        except QueryError as e:
            raise Fault(400, "Invalid query", "QueryValidationError: %s" % e, "4001")
        objs = [o for o in self.realms[realm]["objects"].get(entity, {}).values()
                if not o.get("_deleted")]
        if entity == "Customer" and self.limits["inactive_hidden"] and \
                not any(c[0].lower() == "active" for c in q.where):
            objs = [o for o in objs if o.get("Active", True)]
        rows = [o for o in objs if all(p(o) for p in preds)]
        if q.count:
            return {"QueryResponse": {"totalCount": len(rows)}, "time": self.now_str()}
        rows.sort(key=lambda o: id_key(o["Id"]))           # ties: Id ascending
        for field, desc in reversed(q.order):
            def key(o, field=field):
                v = field_value(o, field)
                if v is None:
                    return (0, 0, "")
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    return (1, v, "")
                if field.lower() == "id" and str(v).isdigit():
                    return (1, int(v), "")
                return (2, 0, str(v).lower())
            rows.sort(key=key, reverse=desc)
        start = q.start if q.start is not None else 1
        start = max(1, start)
        mx = q.max if q.max is not None else self.limits["query_default"]
        if mx > self.limits["query_max"]:
            if self.limits["query_over_max"] == "error":
                raise Fault(400, "Invalid query",
                            "QueryValidationError: value %d for MAXRESULTS exceeds the "
                            "maximum of %d" % (mx, self.limits["query_max"]), "4001")
            mx = self.limits["query_max"]
        mx = max(0, mx)
        page = rows[start - 1:start - 1 + mx]
        if not page:
            return {"QueryResponse": {}, "time": self.now_str()}
        return {"QueryResponse": {entity: [self.render(o) for o in page],
                                  "startPosition": start, "maxResults": len(page)},
                "time": self.now_str()}

    def read_one(self, realm, entity_seg, oid):
        low = entity_seg.lower()
        if low not in ENTITY_BY_LOWER:
            raise Fault(400, "Unsupported Operation",
                        "Operation %s is not supported by the fake." % entity_seg, "500",
                        "ValidationFault")
        entity = ENTITY_BY_LOWER[low]
        obj = self.realms[realm]["objects"][entity].get(oid)
        if obj is None or obj.get("_deleted"):
            raise Fault(400, "Object Not Found",
                        "Object Not Found : Something you're trying to use has been made "
                        "inactive. Check the fields with accounts, customers, items, "
                        "vendors or employees.", "610", "ValidationFault", element="")
        return {entity: self.render(obj), "time": self.now_str()}

    # ---- OAuth ----------------------------------------------------------------
    def check_access(self, token, realm):
        """-> None if fine, else ('missing'|'invalid'|'expired'|'realm', detail)."""
        if not token:
            return ("missing", "Authorization header is missing")
        t = self.access.get(token)
        if t is None:
            return ("invalid", "Token invalid")
        if t["exp"] is not None and self.now_ms() >= t["exp"]:
            return ("expired", "Token expired: %s" % token[:12])
        if t["realms"] is not None and realm not in t["realms"]:
            return ("realm", "Token is not authorized for realm %s" % realm)
        return None

    def do_refresh(self, rt):
        now = self.now_ms()
        info = self.refresh.get(rt)
        if info is None or (info["exp"] is not None and now >= info["exp"]) or \
                (info["dead_after"] is not None and now >= info["dead_after"]):
            return 400, {"error": "invalid_grant"}
        rules = self.token_rules
        self.refreshes += 1
        at = "AT.%d.%s" % (self.refreshes, secrets.token_urlsafe(24))
        self.access[at] = {"realms": info["realms"], "exp": now + rules["expires_in"] * 1000,
                           "issued": now}
        new_rt = rt
        if rules["rotate"]:
            new_rt = "RT1-%d-H0-%s" % (self.refreshes, secrets.token_urlsafe(18))
            grace = rules["old_refresh_grace_s"]
            info["dead_after"] = now + grace * 1000
        self.refresh[new_rt] = {"realms": info["realms"],
                                "exp": now + rules["refresh_expires_in"] * 1000,
                                "dead_after": None}
        return 200, {"token_type": "bearer", "expires_in": rules["expires_in"],
                     "refresh_token": new_rt,
                     "x_refresh_token_expires_in": rules["refresh_expires_in"],
                     "access_token": at}

    # ---- throttles -------------------------------------------------------------
    def throttle_enter(self, realm):
        """Count one request; -> None or the reason it is refused (429)."""
        now = time.monotonic()
        with self.lock:
            if self.inflight[realm] >= self.limits["concurrent"]:
                return "concurrent"
            w = self.windows.setdefault(realm, collections.deque())
            span = self.limits["window_ms"] / 1000.0
            while w and w[0] <= now - span:
                w.popleft()
            if len(w) >= self.limits["per_minute"]:
                return "per_minute"
            w.append(now)
            self.inflight[realm] += 1
            return None

    def throttle_leave(self, realm):
        with self.lock:
            self.inflight[realm] -= 1

    # ---- faults -----------------------------------------------------------------
    def add_fault(self, spec):
        if not isinstance(spec, dict):
            raise AdminError(400, "a fault must be a JSON object")
        count = as_int(spec.get("count", 1), "count")
        if count == 0 or count < -1:
            raise AdminError(400, "count must be >= 1, or -1 for unlimited")
        if not any(k in spec for k in ("status", "drop", "slow_ms", "invalid_json")):
            raise AdminError(400, "fault needs one of: status, drop, slow_ms, invalid_json")
        self.fault_seq += 1
        f = {"id": self.fault_seq, "remaining": count,
             "skip": as_int(spec.get("skip", 0), "skip", 0),
             "path_prefix": str(spec.get("path_prefix", "/v3/")),
             "method": str(spec["method"]).upper() if spec.get("method") else None}
        if "status" in spec:
            f["status"] = as_int(spec["status"], "status", 100)
            if f["status"] > 999:
                raise AdminError(400, "status must be an HTTP status code")
            for k in ("message", "detail", "code", "type"):
                if k in spec:
                    f[k] = str(spec[k])
            if "body" in spec:
                f["body"] = spec["body"]
        if "slow_ms" in spec:
            f["slow_ms"] = as_int(spec["slow_ms"], "slow_ms", 0)
        if spec.get("drop"):
            f["drop"] = True
        if spec.get("invalid_json"):
            f["invalid_json"] = True
        self.faults.append(f)
        return f

    def take_fault(self, path, method):
        with self.lock:
            for f in self.faults:
                if not path.startswith(f["path_prefix"]):
                    continue
                if f["method"] and f["method"] != method:
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

    def record(self, rec):
        with self.lock:
            self.requests.append(rec)

    def next_req_seq(self):
        with self.lock:
            self.req_seq += 1
            return self.req_seq


# --------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------

def _event_list(app, spec):
    events = spec.get("events", [])
    if isinstance(events, dict):
        events = [events]
    if not isinstance(events, list) or not events:
        raise AdminError(400, "events must be a non-empty list")
    out = []
    for ev in events:
        if not isinstance(ev, dict):
            raise AdminError(400, "each event must be an object")
        name = ev.get("name", "Invoice")
        canon = ENTITY_BY_LOWER.get(str(name).lower()) or \
            CANONICAL_OTHER.get(str(name).lower())
        if canon is None:
            raise AdminError(400, "unknown entity name %r" % name)
        op = str(ev.get("operation", "Update")).capitalize()
        if op not in WEBHOOK_OPERATIONS:
            raise AdminError(400, "operation must be one of %s" % ", ".join(WEBHOOK_OPERATIONS))
        if ev.get("id") is None:
            raise AdminError(400, "each event needs an id")
        realm = str(ev.get("realmId") or spec.get("realmId") or app.default_realm())
        t = ev.get("lastUpdated")
        if t is None:
            ms = app.now_ms()
        else:
            ms = parse_time(t, app.tz)
            if ms is None:
                raise AdminError(400, "bad lastUpdated %r" % t)
        out.append({"realmId": realm, "name": canon, "id": str(ev["id"]), "operation": op,
                    "ms": ms, "lastUpdated": t if isinstance(t, str) else iso_utc(ms),
                    "extra": ev.get("cloudevent") or {}})
    return out


def legacy_payload(events):
    by_realm = collections.OrderedDict()
    for ev in events:
        by_realm.setdefault(ev["realmId"], []).append(
            collections.OrderedDict([("name", ev["name"]), ("id", ev["id"]),
                                     ("operation", ev["operation"]),
                                     ("lastUpdated", ev["lastUpdated"])]))
    return {"eventNotifications": [
        {"realmId": r, "dataChangeEvent": {"entities": ents}} for r, ents in by_realm.items()]}


def cloudevents_payload(events, source):
    out = []
    for ev in events:
        ce = collections.OrderedDict()
        ce["specversion"] = "1.0"
        ce["id"] = str(uuid.uuid4())
        ce["source"] = source
        ce["type"] = "qbo.%s.%s.v1" % (ev["name"].lower(), CE_VERBS[ev["operation"]])
        ce["datacontenttype"] = "application/json"
        ce["time"] = iso_utc(ev["ms"])
        ce["intuitentityid"] = ev["id"]
        ce["intuitaccountid"] = ev["realmId"]
        ce["data"] = {}
        for k, v in ev["extra"].items():
            if v is None:
                ce.pop(k, None)
            else:
                ce[k] = v
        out.append(ce)
    return out


def post_signed(url, body, token, extra_headers, timeout_s, bad_signature=False):
    sig = base64.b64encode(hmac.new(token.encode("utf-8"), body,
                                    hashlib.sha256).digest()).decode()
    if bad_signature:
        sig = base64.b64encode(b"\0" * 32).decode()
    headers = collections.OrderedDict([("Content-Type", "application/json"),
                                       ("intuit-signature", sig)])
    for k, v in (extra_headers or {}).items():
        if v is None:
            headers.pop(k, None)
        else:
            headers[k] = str(v)
    result = {"url": url, "signature": sig}
    try:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("url must be http(s)://host[:port]/path")
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conn = cls(u.hostname, u.port, timeout=timeout_s)
        target = (u.path or "/") + ("?" + u.query if u.query else "")
        try:
            conn.putrequest("POST", target, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            result["status"] = r.status
            result["body"] = r.read(65536).decode("utf-8", "replace")
        finally:
            conn.close()
    except Exception as e:  # refused, timeout, bad url
        result["status"] = None
        result["error"] = "%s: %s" % (type(e).__name__, e)
    return result


def send_webhook(app, spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        raise AdminError(400, "webhook needs {\"url\":...,\"verifier_token\":...,\"events\":[...]}")
    token = spec.get("verifier_token", "")
    if not isinstance(token, str):
        raise AdminError(400, "verifier_token must be a string")
    fmt = spec.get("format", "both")
    if fmt not in ("legacy", "cloudevents", "both"):
        raise AdminError(400, "format must be legacy, cloudevents or both")
    with app.lock:
        events = _event_list(app, spec)
    source = spec.get("source", "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=")
    timeout_s = float(spec.get("timeout_s", 10))
    sends = []
    for kind in (("legacy", "cloudevents") if fmt == "both" else (fmt,)):
        if "raw_body" in spec:
            body = str(spec["raw_body"]).encode("utf-8")
            payload = None
        else:
            payload = legacy_payload(events) if kind == "legacy" \
                else cloudevents_payload(events, source)
            body = jdump(payload)
        res = post_signed(spec["url"], body, token, spec.get("headers"), timeout_s,
                          bool(spec.get("bad_signature")))
        res["format"] = kind
        res["payload"] = payload
        sends.append(res)
        app.log("webhook %s -> %s: %s (%d events)" % (kind, spec["url"], res.get("status"),
                                                      len(events)))
    with app.lock:
        app.webhooks.extend({"format": s["format"], "status": s.get("status"),
                             "url": s["url"]} for s in sends)
    return {"sent": sends}


# --------------------------------------------------------------------------
# Admin routes
# --------------------------------------------------------------------------

def _items(body, key):
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        v = body.get(key)
        if isinstance(v, list):
            return v
        if v is None and key not in body:
            return [body]
    raise AdminError(400, "expected a list, one object, or {\"%s\":[...]}" % key)


def _q1(query, name, default=None):
    v = query.get(name)
    return v[0] if v else default


def route_admin(app, method, path, query, body):
    p = path.rstrip("/")
    realm = _q1(query, "realm") or (body.get("realm") if isinstance(body, dict) and
                                    isinstance(body.get("realm"), str) else None)
    if p in ("/__admin", "/__admin/health"):
        return 200, {"ok": True, "port": app.port}
    if p == "/__admin/state" and method == "GET":
        with app.lock:
            return 200, {
                "realms": {r: {e: {"live": sum(1 for o in s["objects"][e].values()
                                               if not o.get("_deleted")),
                                   "deleted": sum(1 for o in s["objects"][e].values()
                                                  if o.get("_deleted"))}
                               for e in ENTITIES} for r, s in app.realms.items()},
                "clock": {"now": app.now_str(), "now_ms": app.now_ms(),
                          "fixed": app.fixed_now is not None, "tz": fmt_offset(app.tz)},
                "limits": dict(app.limits), "tokens": dict(app.token_rules),
                "faults": list(app.faults), "requests": len(app.requests),
                "refreshes": app.refreshes}
    m = re.match(r"^/__admin/(customers|invoices|payments)(?:/([^/]+))?(?:/(void))?$", p)
    if m:
        entity = ADMIN_PLURAL[m.group(1)]
        oid = urllib.parse.unquote(m.group(2)) if m.group(2) else None
        r = realm or app.default_realm()
        with app.lock:
            if oid is None and method == "POST":
                items = _items(body, m.group(1))
                objs = [app.upsert(r, entity, {k: v for k, v in it.items() if k != "realm"}
                                   if isinstance(it, dict) else it) for it in items]
                return 200, {"upserted": len(objs), "ids": [o["Id"] for o in objs],
                             "realm": r}
            if oid is None and method == "GET":
                store = app.realm_or_404(r)["objects"][entity]
                objs = sorted(store.values(), key=lambda o: id_key(o["Id"]))
                return 200, {m.group(1): [app.render_admin(o) for o in objs]}
            if oid is not None and m.group(3) and method == "POST":
                return 200, app.render_admin(app.void(r, entity, oid))
            if oid is not None and method == "GET":
                o = app.realm_or_404(r)["objects"][entity].get(oid)
                if o is None:
                    raise AdminError(404, "no %s %s" % (entity, oid))
                return 200, app.render_admin(o)
            if oid is not None and method in ("POST", "PATCH", "PUT"):
                if not isinstance(body, dict):
                    raise AdminError(400, "expected a JSON object")
                if oid not in app.realm_or_404(r)["objects"][entity]:
                    raise AdminError(404, "no %s %s" % (entity, oid))
                item = dict(body)
                item.pop("realm", None)
                item["Id"] = oid
                return 200, app.render_admin(app.upsert(r, entity, item))
            if oid is not None and method == "DELETE":
                hard = _q1(query, "hard", "") in ("1", "true") or \
                    (isinstance(body, dict) and bool(body.get("hard")))
                return 200, app.render_admin(app.delete(r, entity, oid, hard=hard))
    if p == "/__admin/generate" and method == "POST":
        if not isinstance(body, dict):
            raise AdminError(400, "expected {\"customers\":N,\"invoices\":N,\"payments\":N}")
        r = realm or app.default_realm()
        rng = random.Random(body.get("seed", 1))
        nc = as_int(body.get("customers", 0), "customers", 0)
        ni = as_int(body.get("invoices", 0), "invoices", 0)
        npay = as_int(body.get("payments", 0), "payments", 0)
        step = as_int(body.get("step_ms", 0), "step_ms", 0)
        with app.lock:
            start = parse_time(body["start"], app.tz) if body.get("start") is not None \
                else app.now_ms()
            if start is None:
                raise AdminError(400, "bad start %r" % body.get("start"))
            store = app._add_realm(r)
            seq = [0]

            def md():
                t = start + seq[0] * step
                seq[0] += 1
                s = fmt_time(t, app.tz)
                return {"CreateTime": s, "LastUpdatedTime": s}
            ids = {"Customer": [], "Invoice": [], "Payment": []}
            for i in range(nc):
                c = gen_customer(rng, len(store["objects"]["Customer"]) + 1)
                c["MetaData"] = md()
                ids["Customer"].append(app.upsert(r, "Customer", c)["Id"])
            custs = [o["Id"] for o in store["objects"]["Customer"].values()
                     if not o.get("_deleted")]
            for i in range(ni):
                if not custs:
                    raise AdminError(400, "invoices need at least one customer")
                amt = round(rng.uniform(80, 2400), 2)
                inv = {"CustomerRef": {"value": rng.choice(custs)}, "TotalAmt": amt,
                       "MetaData": md()}
                ids["Invoice"].append(app.upsert(r, "Invoice", inv)["Id"])
            open_inv = [o for o in store["objects"]["Invoice"].values()
                        if not o.get("_deleted") and o.get("Balance", 0) > 0]
            for i in range(npay):
                if not open_inv:
                    break
                inv = open_inv.pop(rng.randrange(len(open_inv)))
                amt = inv["Balance"]
                pay = {"CustomerRef": dict(inv["CustomerRef"]), "TotalAmt": amt,
                       "Line": [{"Amount": amt, "LinkedTxn": [{"TxnId": inv["Id"],
                                                               "TxnType": "Invoice"}]}],
                       "MetaData": md()}
                ids["Payment"].append(app.upsert(r, "Payment", pay)["Id"])
        return 200, {"realm": r, "ids": ids}
    if p == "/__admin/realms" and method == "POST":
        if not isinstance(body, dict) or not isinstance(body.get("realm"), str):
            raise AdminError(400, "expected {\"realm\":\"<id>\"}")
        with app.lock:
            app._add_realm(body["realm"])
            return 200, {"realms": sorted(app.realms)}
    if p == "/__admin/reset" and method == "POST":
        app._reset(empty=bool(isinstance(body, dict) and body.get("empty")))
        return 200, {"reset": True}
    if p == "/__admin/clock":
        if method == "POST":
            if not isinstance(body, dict):
                raise AdminError(400, "expected {\"now\":TIME} and/or {\"advance_ms\":N}")
            with app.lock:
                if "tz" in body:
                    off = parse_offset(str(body["tz"]))
                    if off is None:
                        raise AdminError(400, "bad tz %r (want like -08:00)" % body["tz"])
                    app.tz = off
                if "now" in body:
                    if body["now"] is None:
                        app.fixed_now = None
                    else:
                        t = parse_time(body["now"], app.tz)
                        if t is None:
                            raise AdminError(400, "bad time %r" % body["now"])
                        app.fixed_now = t
                if "advance_ms" in body:
                    app.fixed_now = app.now_ms() + as_int(body["advance_ms"], "advance_ms")
        with app.lock:
            return 200, {"now": app.now_str(), "now_ms": app.now_ms(),
                         "fixed": app.fixed_now is not None, "tz": fmt_offset(app.tz)}
    if p == "/__admin/limits":
        if method == "POST":
            if not isinstance(body, dict):
                raise AdminError(400, "expected an object of limits")
            with app.lock:
                for k, v in body.items():
                    if k not in DEFAULT_LIMITS:
                        raise AdminError(400, "unknown limit %r" % k)
                    if k == "cdc_truncate":
                        if v not in ("entity", "oldest", "newest"):
                            raise AdminError(400, "cdc_truncate: entity, oldest or newest")
                        app.limits[k] = v
                    elif k == "query_over_max":
                        if v not in ("clamp", "error"):
                            raise AdminError(400, "query_over_max: clamp or error")
                        app.limits[k] = v
                    elif k == "inactive_hidden":
                        app.limits[k] = bool(v)
                    else:
                        app.limits[k] = as_int(v, k, 1 if k in ("window_ms",) else 0)
                if body.get("reset_counters", True):
                    app.windows = {}
        with app.lock:
            return 200, dict(app.limits)
    if p == "/__admin/tokens":
        if method == "POST":
            if not isinstance(body, dict):
                raise AdminError(400, "expected an object")
            with app.lock:
                for k in ("expires_in", "refresh_expires_in", "old_refresh_grace_s"):
                    if k in body:
                        app.token_rules[k] = as_int(body[k], k, 0)
                if "rotate" in body:
                    app.token_rules["rotate"] = bool(body["rotate"])
                if "client_id" in body:
                    app.client_id = str(body["client_id"])
                if "client_secret" in body:
                    app.client_secret = str(body["client_secret"])
                now = app.now_ms()
                if body.get("expire_access"):
                    which = body["expire_access"]
                    for t, info in app.access.items():
                        if which is True or t == which or (isinstance(which, list) and
                                                           t in which):
                            info["exp"] = now
                if body.get("revoke_refresh"):
                    which = body["revoke_refresh"]
                    for t, info in app.refresh.items():
                        if which is True or t == which:
                            info["dead_after"] = now
                for t in body.get("add_access") or []:
                    app.access[str(t)] = {"realms": None, "exp": None, "issued": now}
                for t in body.get("add_refresh") or []:
                    app.refresh[str(t)] = {"realms": None, "exp": None, "dead_after": None}
        with app.lock:
            now = app.now_ms()
            return 200, {
                "rules": dict(app.token_rules), "client_id": app.client_id,
                "refreshes": app.refreshes,
                "access": [{"token": t, "expires_at": iso_utc(i["exp"]) if i["exp"] else None,
                            "valid": i["exp"] is None or now < i["exp"]}
                           for t, i in app.access.items()],
                "refresh": [{"token": t,
                             "valid": not ((i["exp"] is not None and now >= i["exp"]) or
                                           (i["dead_after"] is not None and
                                            now >= i["dead_after"]))}
                            for t, i in app.refresh.items()]}
    if p == "/__admin/faults":
        if method == "GET":
            with app.lock:
                return 200, {"faults": list(app.faults)}
        if method == "DELETE":
            with app.lock:
                app.faults = []
            return 200, {"faults": []}
        if method == "POST":
            specs = body if isinstance(body, list) else [body]
            with app.lock:
                return 200, {"added": [app.add_fault(s) for s in specs]}
    if p == "/__admin/requests":
        if method == "DELETE":
            with app.lock:
                app.requests = []
            return 200, {"requests": []}
        if method == "GET":
            since = as_int(_q1(query, "since", "0"), "since", 0)
            prefix = _q1(query, "path_prefix", "")
            with app.lock:
                reqs = [r for r in app.requests if r["seq"] > since and
                        r["path"].startswith(prefix)]
            return 200, {"requests": reqs}
    if p == "/__admin/webhook" and method == "POST":
        return 200, send_webhook(app, body)
    raise AdminError(404, "unknown admin endpoint %s %s" % (method, path))


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

_V3_RE = re.compile(r"^/v3/company/([^/]+)/(.+?)/?$")
TOKEN_PATH = "/oauth2/v1/tokens/bearer"


class BodyError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-qbo/1.0"

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        self.connection.settimeout(30)
        try:  # headers and body go out in two writes: no Nagle delay on keep-alive
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(65537).strip()
                try:
                    size = int(line.split(b";")[0], 16)
                except ValueError:
                    raise BodyError(400, "bad chunked body")
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    raise BodyError(413, "request body too large")
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        cl = (self.headers.get("Content-Length") or "").strip()
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

    def _abort(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except Exception:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reply(self, status, obj, headers=(), ctype="application/json;charset=UTF-8"):
        body = obj if isinstance(obj, bytes) else jdump(obj)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def dispatch(self):
        app = self.server.app
        t0 = time.monotonic()
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        rec = None
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
                   "body": raw[:65536].decode("utf-8", "replace") if raw else None,
                   "status": None, "at": iso_utc(time.time() * 1000),
                   "clock": app.now_str(), "realm": None, "auth": None, "fault": None,
                   "throttled": None,
                   "headers": {k: v for k, v in self.headers.items()
                               if k.lower() not in ("authorization", "cookie")}}
            if path.rstrip("/") == TOKEN_PATH:
                self.handle_token(app, raw, rec)
            elif path.startswith("/v3/company/"):
                self.handle_v3(app, path, query, raw, rec)
            else:
                rec["status"] = 404
                self.reply(404, Fault(404, "Not Found", "No such resource %s" % path,
                                      "404", "SystemFault").body(app.now_str()))
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:
            app.log("internal error on %s %s:\n%s" % (self.command, self.path,
                                                      traceback.format_exc()))
            if rec is not None:
                rec["status"] = 500
            try:
                self.close_connection = True
                self.reply(500, Fault(500, "An application error has occurred while "
                                      "processing your request", "internal error in the fake",
                                      "10000", "SystemFault").body(app.now_str()))
            except Exception:
                pass
        finally:
            if rec is not None:
                rec["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
                app.record(rec)
                app.log("%s %s -> %s%s (%d ms)" % (self.command, self.path, rec["status"],
                                                    " fault=%s" % rec["fault"]
                                                    if rec["fault"] else "",
                                                    rec["elapsed_ms"]))

    def handle_admin(self, app, path, query, raw):
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            self.reply(400, {"error": "invalid JSON: %s" % e})
            return
        try:
            status, obj = route_admin(app, self.command, path, query, body)
        except AdminError as e:
            status, obj = e.status, e.body()
        if path.rstrip("/") != "/__admin/requests":
            app.log("admin %s %s -> %d" % (self.command, path, status))
        self.reply(status, obj)

    # ---- OAuth -------------------------------------------------------------
    def handle_token(self, app, raw, rec):
        if self.command != "POST":
            rec["status"] = 405
            self.reply(405, {"error": "method_not_allowed"})
            return
        auth = self.headers.get("Authorization") or ""
        form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        cid = csec = None
        if auth[:6].lower() == "basic ":
            try:
                cid, _, csec = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            except Exception:
                cid = None
        with app.lock:
            client_ok = (cid == app.client_id and csec == app.client_secret)
        if not client_ok:
            rec["auth"] = "invalid_client"
            rec["status"] = 401
            self.reply(401, {"error": "invalid_client"})
            return
        rec["auth"] = "client_ok"
        fault = app.take_fault(TOKEN_PATH, "POST")
        if fault and self._apply_pre_fault(app, fault, rec):
            return
        grant = (form.get("grant_type") or [""])[0]
        if grant != "refresh_token":
            status, obj = 400, {"error": "unsupported_grant_type"}
        else:
            rt = (form.get("refresh_token") or [""])[0]
            with app.lock:
                status, obj = app.do_refresh(rt)
        rec["status"] = status
        self.reply(status, obj, [("Cache-Control", "no-cache, no-store"),
                                 ("Pragma", "no-cache")])

    # ---- /v3 ---------------------------------------------------------------
    def handle_v3(self, app, path, query, raw, rec):
        m = _V3_RE.match(path)
        if not m:
            rec["status"] = 404
            self.reply(404, Fault(404, "Not Found", path, "404", "SystemFault")
                       .body(app.now_str()))
            return
        realm, rest = m.group(1), m.group(2)
        rec["realm"] = realm
        auth = self.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        with app.lock:
            bad = app.check_access(token, realm)
            known = realm in app.realms
            now_ms = app.now_ms()
        if bad:
            rec["auth"] = bad[0]
            if bad[0] == "realm":
                rec["status"] = 403
                self.reply(403, gateway_fault(
                    "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                    bad[1], "3100", "AUTHORIZATION", now_ms))
                return
            rec["status"] = 401
            self.reply(401, gateway_fault(
                "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                bad[1], "3200", "AUTHENTICATION", now_ms),
                [("WWW-Authenticate", 'Bearer realm="Intuit", error="invalid_token"')])
            return
        rec["auth"] = "ok"
        if not known:
            rec["status"] = 403
            self.reply(403, gateway_fault(
                "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                "unknown realm %s" % realm, "3100", "AUTHORIZATION", now_ms))
            return
        why = app.throttle_enter(realm)
        if why:
            rec["throttled"] = why
            rec["status"] = 429
            self.reply(429, throttle_fault(app.now_str()))
            return
        try:
            fault = app.take_fault(path, self.command)
            if fault and self._apply_pre_fault(app, fault, rec):
                return
            try:
                status, obj = self.route_v3(app, realm, rest, query, raw)
            except Fault as e:
                status, obj = e.status, e.body(app.now_str())
            if fault and fault.get("invalid_json"):
                rec["status"] = 200
                self.reply(200, b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>"
                                b"</body></html>")
                return
            rec["status"] = status
            self.reply(status, obj, [("intuit_tid", str(uuid.uuid4()))])
        finally:
            app.throttle_leave(realm)

    def _apply_pre_fault(self, app, fault, rec):
        """Apply a fault's effect; True if the request is answered by it."""
        rec["fault"] = {k: v for k, v in fault.items()
                        if k not in ("remaining", "skip", "path_prefix", "method")}
        if fault.get("slow_ms"):
            time.sleep(fault["slow_ms"] / 1000.0)
        if fault.get("drop"):
            rec["status"] = None
            self._abort()
            return True
        if "status" in fault:
            st = fault["status"]
            rec["status"] = st
            if "body" in fault:
                self.reply(st, fault["body"])
            elif st == 429:
                self.reply(st, throttle_fault(app.now_str()))
            elif st == 401:
                self.reply(st, gateway_fault(
                    "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    fault.get("detail", "Token revoked"), "3200", "AUTHENTICATION",
                    app.now_ms()))
            else:
                msg = fault.get("message") or (
                    "An application error has occurred while processing your request"
                    if st >= 500 else "A validation error has occurred")
                self.reply(st, Fault(st, msg, fault.get("detail", "fault injected by the fake"),
                                     fault.get("code", "10000" if st >= 500 else "2010"),
                                     fault.get("type", "SystemFault" if st >= 500
                                               else "ValidationFault")).body(app.now_str()))
            return True
        return False

    def route_v3(self, app, realm, rest, query, raw):
        parts = rest.split("/")
        low = parts[0].lower()
        if low == "cdc" and len(parts) == 1 and self.command == "GET":
            with app.lock:
                obj, total = app.cdc(realm, _q1(query, "entities"), _q1(query, "changedSince"))
            return 200, obj
        if low == "query" and len(parts) == 1 and self.command in ("GET", "POST"):
            text = _q1(query, "query")
            if text is None and self.command == "POST":
                text = raw.decode("utf-8", "replace")
            if not text:
                raise Fault(400, "Error parsing query", "QueryParserError: empty query", "4000")
            with app.lock:
                return 200, app.query(realm, text)
        if len(parts) == 2 and self.command == "GET":
            with app.lock:
                return 200, app.read_one(realm, parts[0], urllib.parse.unquote(parts[1]))
        raise Fault(400, "Unsupported Operation",
                    "Operation %s %s is not supported by the fake" % (self.command, rest),
                    "500", "ValidationFault")


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
    ap = argparse.ArgumentParser(description="Fake QuickBooks Online Accounting API for "
                                 "fieldsync tests (see tests/fakes/README-qbo.md)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", help="write the bound port here (atomically)")
    ap.add_argument("--realm", action="append",
                    help="company (realm) id served, repeatable (default %s)" % DEFAULT_REALM)
    ap.add_argument("--data", help="initial data: {\"customers\":[..],\"invoices\":[..],"
                    "\"payments\":[..]} or {\"realms\":{\"<id>\":{...}}}")
    ap.add_argument("--token", action="append",
                    help="access token that never expires, repeatable (default %s)"
                    % DEFAULT_TOKEN)
    ap.add_argument("--refresh-token", action="append",
                    help="initial refresh token, repeatable (default %s)" % DEFAULT_REFRESH)
    ap.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    ap.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    ap.add_argument("--now", help="fix the fake clock at this time (RFC 3339 or epoch ms)")
    ap.add_argument("--tz-offset", default=DEFAULT_TZ,
                    help="the company's UTC offset for times in answers (default -08:00)")
    ap.add_argument("--log", help="append a request log here")
    ap.add_argument("--verbose", action="store_true", help="log to stderr too")
    args = ap.parse_args(argv)

    tz = parse_offset(args.tz_offset)
    if tz is None:
        ap.error("--tz-offset: want like -08:00, got %r" % args.tz_offset)
    now = None
    if args.now:
        now = parse_time(args.now, 0)
        if now is None:
            ap.error("--now: cannot parse %r" % args.now)
    data = {}
    if args.data:
        try:
            with open(args.data, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError) as e:
            sys.stderr.write("fake_qbo: --data %s: %s\n" % (args.data, e))
            return 2
    realms = args.realm or [DEFAULT_REALM]
    try:
        app = App(realms, args.token or [DEFAULT_TOKEN], args.refresh_token or [DEFAULT_REFRESH],
                  args.client_id, args.client_secret, initial=data, now=now, tz_mins=tz,
                  log_path=args.log, verbose=args.verbose)
    except AdminError as e:
        sys.stderr.write("fake_qbo: bad data: %s\n" % e.message)
        return 2
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as e:
        sys.stderr.write("fake_qbo: cannot bind %s:%d: %s\n" % (args.host, args.port, e))
        return 1
    server.app = app
    port = server.server_address[1]
    app.port = port
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    th = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                          daemon=True)
    th.start()
    app.log("listening on %s:%d (realms %s)" % (args.host, port, ", ".join(realms)))
    if args.port_file:
        write_port_file(args.port_file, port)
    while not stop:
        time.sleep(0.1)
    app.log("signal received, shutting down")
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
