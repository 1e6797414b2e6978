#!/usr/bin/env python3
"""fake_lob.py: a fake of Lob's Print & Mail API v1 for fieldsync's tests.

It serves POST/GET /postcards and /letters and GET/DELETE
/{postcards,letters}/{id} (with or without a /v1 prefix) the way Lob's
OpenAPI spec and documentation describe them: HTTP basic auth, validation
with Lob's error shape, Idempotency-Key handling, per-endpoint rate limits
with X-Rate-Limit-* headers, list paging and metadata filters, send_date and
the account's cancellation window, tracking events, and signed webhook
events. Tests steer it through a JSON control API under /__admin.

Python 3 standard library only. See tests/fakes/README-lob.md for the
reference; `python3 fake_lob.py --help` for the command line.
"""

import argparse
import base64
import binascii
import email.parser
import email.policy
import hashlib
import hmac
import json
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 5 * 1024 * 1024
IDEMPOTENCY_TTL = 24 * 3600
RECORD_BODY_MAX = 64 * 1024
# Lob: "By default, all new accounts have a 5 minute cancellation window";
# editable windows go "from 0 minutes (no cancellation window) to up to 3
# days"; a send_date may be "up to 180 days in the future".
DEFAULT_CANCEL_WINDOW = 300
MAX_CANCEL_WINDOW = 3 * 86400
MAX_SEND_AHEAD = 180 * 86400
PAST_SEND_DATE = ("refuse", "accept")

# ---------------------------------------------------------------------------
# Time


def parse_time(value):
    """Parse an RFC 3339 / ISO 8601 date or date-time into epoch seconds.

    A date alone is midnight UTC; a time without an offset is UTC.
    Returns None when the value cannot be parsed.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    # fromisoformat before 3.11 takes at most 6 fraction digits.
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", s)
    if m:
        s = m.group(1) + "." + (m.group(2) + "000000")[:6] + m.group(3)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso(ts):
    """Epoch seconds to Lob's timestamp format: 2021-03-24T22:51:42.838Z."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def ymd(ts):
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")


class Clock:
    """The fake's wall clock: real time, shifted or frozen by /__admin/clock.

    Rate limits and latency use the real clock; everything the API reports
    or compares (date_created, idempotency expiry, events, webhook
    timestamps) uses this one.
    """

    def __init__(self):
        self.offset = 0.0
        self.frozen = None

    def now(self):
        if self.frozen is not None:
            return self.frozen
        return time.time() + self.offset

    def set(self, ts, frozen=False):
        if frozen:
            self.frozen = ts
        else:
            self.frozen = None
            self.offset = ts - time.time()

    def advance(self, seconds):
        if self.frozen is not None:
            self.frozen += seconds
        else:
            self.offset += seconds

    def reset(self):
        self.offset = 0.0
        self.frozen = None


# ---------------------------------------------------------------------------
# Errors


class LobError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self):
        return {"error": {"message": self.message, "status_code": self.status, "code": self.code}}


def invalid(message):
    return LobError(422, "invalid", message)


STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    408: "request_timeout",
    409: "conflict",
    413: "request_entity_too_large",
    422: "invalid",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

STATUS_MESSAGES = {
    401: "Your API key is not valid. Please sign up on lob.com to get a valid api key.",
    404: "not found",
    408: "The request took too long. Please try again.",
    429: "Rate limit exceeded. Please wait 5 seconds and try your request again.",
    500: "An internal server error occurred, please contact support@lob.com",
    502: "Bad gateway",
    503: "The Lob servers are temporarily unavailable. Please try again.",
    504: "Gateway timeout",
}

# ---------------------------------------------------------------------------
# Request bodies

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def nest_pairs(pairs):
    """Turn form pairs with bracketed keys (to[address_line1]=...) into a
    nested dict, the way Lob (and qs/Rails) read them. 'a[]' appends."""
    out = {}
    for key, value in pairs:
        m = _KEY_RE.match(key)
        if not m:
            parts = [key]
        else:
            parts = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
        cur = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_list = not last and parts[i + 1] == ""
            if isinstance(cur, list):
                if last:
                    cur.append(value)
                    break
                child = [] if nxt_is_list else {}
                cur.append(child)
                cur = child
                continue
            if last:
                if part in cur and isinstance(cur[part], (dict, list)):
                    raise invalid("%s cannot be both a value and an object" % parts[0])
                cur[part] = value
                break
            if part not in cur:
                cur[part] = [] if nxt_is_list else {}
            elif not isinstance(cur[part], (dict, list)):
                raise invalid("%s cannot be both a value and an object" % parts[0])
            cur = cur[part]
    return out


def parse_multipart(body, content_type):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise LobError(422, "bad_request", "malformed multipart/form-data body")
    pairs = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename:
            pairs.append((name, "upload:" + filename))
        else:
            pairs.append((name, payload.decode("utf-8", "replace")))
    return nest_pairs(pairs)


MAX_DEPTH = 32


def too_deep(obj):
    """True when obj nests dicts/lists more than MAX_DEPTH levels."""
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict):
            o = list(o.values())
        elif not isinstance(o, list):
            continue
        if d > MAX_DEPTH:
            return True
        stack.extend((c, d + 1) for c in o)
    return False


def parse_body(body, content_type):
    """Parse a create request's body into a dict of parameters."""
    try:
        params = _parse_body(body, content_type)
    except RecursionError:
        params = None
    if params is None or too_deep(params):
        raise LobError(422, "bad_request", "request body is nested too deeply")
    return params


def _parse_body(body, content_type):
    ctype = (content_type or "").split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace") if body else ""
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=False)
        except ValueError as e:
            raise LobError(422, "bad_request", "malformed form body: %s" % e)
        return nest_pairs(pairs)
    if ctype == "multipart/form-data":
        return parse_multipart(body, content_type)
    if ctype in ("application/json", "") or ctype.endswith("+json"):
        if not text.strip():
            return {}
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise LobError(422, "bad_request", "request body is not valid JSON: %s" % e)
        if not isinstance(obj, dict):
            raise LobError(422, "bad_request", "request body must be a JSON object")
        return obj
    raise LobError(422, "bad_request",
                   "unsupported Content-Type '%s': use application/json, "
                   "application/x-www-form-urlencoded or multipart/form-data" % ctype)


# ---------------------------------------------------------------------------
# Validation (Lob's rules as its OpenAPI spec states them)

ADR_ID = re.compile(r"^adr_[a-zA-Z0-9]+$")
TMPL_ID = re.compile(r"^tmpl_[a-zA-Z0-9]+$")
REMOTE_URL = re.compile(r"^https://[-a-zA-Z0-9@:%._+~#=/]{1,256}.(html?|pdf|png|jpg)$")
LOCAL_PATH = re.compile(r"^(?!https://)[a-zA-Z0-9@:%._+~#=/]{1,256}.(html?|pdf|png|jpg)$")
LOCAL_PATH_LTR = re.compile(r"^(?!https://)[a-zA-Z0-9@:%._+~#=/]{1,256}.(html?|pdf)$")
US_STATE = re.compile(r"^[a-zA-Z]{2}$")
US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
COUNTRY2 = re.compile(r"^[A-Z]{2}$")
NOT_INTL = {"US", "AS", "PR", "FM", "GU", "MH", "MP", "PW", "VI", "PS"}
POSTCARD_SIZES = ("4x6", "6x9", "6x11")
LETTER_SIZES = ("us_letter", "us_legal")
USE_TYPES = ("marketing", "operational")
MAIL_TYPES = ("usps_first_class", "usps_standard")
ADDRESS_PLACEMENTS = ("top_first_page", "insert_blank_page", "bottom_first_page_center",
                      "bottom_first_page")
EXTRA_SERVICES = ("certified", "certified_return_receipt", "registered")


def is_blank(v):
    return v is None or (isinstance(v, str) and v.strip() == "")


def check_string(obj, field, path, maxlen=None, required=False, nullable=True):
    v = obj.get(field)
    name = path + field
    if field not in obj or (v is None and not required and nullable):
        if required:
            raise invalid("%s is required" % name)
        return None
    if v is None:
        raise invalid("%s is required" % name if required else "%s must be a string" % name)
    if not isinstance(v, str):
        raise invalid("%s must be a string" % name)
    if required and v.strip() == "":
        raise invalid("%s is required" % name)
    if maxlen is not None and len(v) > maxlen:
        raise invalid("%s length must be less than or equal to %d characters long" % (name, maxlen))
    return v


def check_metadata(md, name="metadata"):
    if md is None:
        return {}
    if not isinstance(md, dict):
        raise invalid("%s must be an object" % name)
    if len(md) > 20:
        raise invalid("%s must have at most 20 keys" % name)
    for k, v in md.items():
        if len(k) > 40:
            raise invalid("%s key '%s' length must be less than or equal to 40 characters long"
                          % (name, k[:60]))
        if "[" in k or "]" in k:
            raise invalid("%s keys must not contain square brackets" % name)
        if '"' in k or "\\" in k:
            raise invalid('%s keys must not contain the characters " and \\' % name)
        if isinstance(v, (dict, list)):
            raise invalid("%s does not support nested objects" % name)
        if not isinstance(v, str):
            raise invalid("%s.%s must be a string" % (name, k))
        if len(v) > 500:
            raise invalid("%s.%s length must be less than or equal to 500 characters long" % (name, k))
        if '"' in v or "\\" in v:
            raise invalid('%s.%s must not contain the characters " and \\' % (name, k))
    return dict(md)


def check_address(value, name, us_only=False):
    """Validate an address: an adr_ id, or an inline US or international
    address object. Returns ('id', adr_id) or ('inline', cleaned dict)."""
    if isinstance(value, str):
        if value.strip() == "":
            raise invalid("%s is required" % name)
        if not ADR_ID.match(value):
            raise invalid("%s must be an address id (adr_...) or an address object" % name)
        return ("id", value)
    if not isinstance(value, dict):
        raise invalid("%s must be an address id (adr_...) or an address object" % name)
    a = value
    p = name + "."
    country = a.get("address_country", "US")
    if country is None or country == "":
        country = "US"
    if not isinstance(country, str):
        raise invalid("%saddress_country must be a string" % p)
    intl = country != "US"
    if intl:
        if us_only:
            raise LobError(422, "foreign_return_address", "The 'from' address must be a US address.")
        if not COUNTRY2.match(country):
            raise invalid("%saddress_country must be a 2 letter country short-name code (ISO 3166)" % p)
        if country in NOT_INTL:
            raise invalid("%saddress_country %s is not accepted; use address_country US" % (p, country))
    name_v = check_string(a, "name", p, 40)
    company_v = check_string(a, "company", p, 40)
    if is_blank(name_v) and is_blank(company_v):
        raise invalid("%sname or %scompany is required" % (p, p))
    check_string(a, "description", p, 255)
    check_string(a, "phone", p, 40)
    check_string(a, "email", p, 100)
    if intl:
        check_string(a, "address_line1", p, 200, required=True)
        check_string(a, "address_line2", p, 200)
        city = check_string(a, "address_city", p, 200)
        state = check_string(a, "address_state", p, 200)
        zipc = check_string(a, "address_zip", p, 40)
        if is_blank(zipc) and (is_blank(city) or is_blank(state)):
            raise invalid("%saddress_zip, or %saddress_city and %saddress_state, are required"
                          % (p, p, p))
    else:
        check_string(a, "address_line1", p, 64, required=True)
        check_string(a, "address_line2", p, 64)
        check_string(a, "address_city", p, 200, required=True)
        state = check_string(a, "address_state", p, required=True)
        if not US_STATE.match(state):
            raise invalid("%saddress_state must be a 2 letter state short-name code" % p)
        zipc = check_string(a, "address_zip", p, required=True)
        if not US_ZIP.match(zipc):
            raise invalid("%saddress_zip must follow the ZIP format of 12345 or ZIP+4 format of 12345-1234"
                          % p)
    md = check_metadata(a.get("metadata"), p + "metadata")
    clean = {k: a.get(k) for k in ("name", "company", "description", "phone", "email",
                                    "address_line1", "address_line2", "address_city",
                                    "address_state", "address_zip")}
    clean["address_country"] = country
    clean["metadata"] = md
    return ("inline", clean)


def check_artwork(params, field, pattern_local, remote=REMOTE_URL):
    v = params.get(field)
    if is_blank(v):
        raise invalid("%s is required" % field)
    if not isinstance(v, str):
        raise invalid("%s must be a string" % field)
    if v.startswith("upload:"):
        return v
    if TMPL_ID.match(v) or remote.match(v) or pattern_local.match(v):
        return v
    if "<" in v:
        if len(v) > 10000:
            raise invalid("%s HTML must be under 10,000 characters" % field)
        return v
    raise invalid("%s must be an HTML string, a template id (tmpl_...), or an https URL "
                  "of a .html, .pdf, .png or .jpg file" % field)


def check_bool(params, field, required=False, default=None):
    if field not in params or params[field] is None:
        if required:
            raise invalid("%s is required" % field)
        return default
    v = params[field]
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise invalid("%s must be a boolean" % field)


def check_enum(params, field, allowed, default=None, nullable=False, required=False):
    if field not in params:
        if required:
            raise invalid("%s is required" % field)
        return default
    v = params[field]
    if v is None or v == "":
        if nullable:
            return None
        if required:
            raise invalid("%s is required" % field)
        return default
    if v not in allowed:
        raise invalid("%s must be one of [%s]" % (field, ", ".join(allowed)))
    return v


def check_send_date(params, now, past="refuse"):
    """send_date: absent, null or "" (the account's window applies), or an
    ISO 8601 date (midnight UTC) or date-time (no offset: UTC) after now
    and at most 180 days ahead. Returns epoch seconds or None."""
    sd = params.get("send_date")
    if is_blank(sd):
        return None
    ts = parse_time(sd) if isinstance(sd, str) else None
    if ts is None:
        raise invalid("send_date must be an ISO 8601 date or date-time")
    if ts <= now and past != "accept":
        raise invalid("send_date must be after the current time (%s)" % iso(now))
    if ts > now + MAX_SEND_AHEAD:
        raise invalid("send_date must be at most 180 days in the future (until %s)"
                      % iso(now + MAX_SEND_AHEAD))
    return ts


def check_common(params, now, past="refuse"):
    out = {}
    out["description"] = check_string(params, "description", "", 255)
    out["metadata"] = check_metadata(params.get("metadata"))
    mv = params.get("merge_variables")
    if mv is not None:
        if not isinstance(mv, dict):
            raise invalid("merge_variables must be an object")
        if len(json.dumps(mv)) > 25000:
            raise invalid("merge_variables must be no longer than 25,000 characters")
    out["merge_variables"] = mv
    out["send_date"] = check_send_date(params, now, past)
    out["mail_type"] = check_enum(params, "mail_type", MAIL_TYPES, "usps_first_class")
    if "use_type" not in params:
        raise invalid("use_type is required")
    out["use_type"] = check_enum(params, "use_type", USE_TYPES, nullable=True)
    return out


def validate_postcard(params, now, past="refuse"):
    if "to" not in params or is_blank(params.get("to")):
        raise invalid("to is required")
    to = check_address(params["to"], "to")
    frm = None
    if not is_blank(params.get("from")):
        frm = check_address(params["from"], "from", us_only=True)
    intl = to[0] == "inline" and to[1]["address_country"] != "US"
    if intl and frm is None:
        raise invalid("from is required when the to address is international")
    front = check_artwork(params, "front", LOCAL_PATH)
    back = check_artwork(params, "back", LOCAL_PATH)
    out = check_common(params, now, past)
    out["size"] = check_enum(params, "size", POSTCARD_SIZES, "4x6")
    if intl and out["size"] != "4x6":
        raise LobError(422, "invalid_international_feature",
                       "Only 4x6 postcards can be sent to international destinations.")
    if out["mail_type"] == "usps_standard" and (out["size"] == "4x6" or intl):
        raise invalid("mail_type usps_standard cannot be used with 4x6 postcards or outside the United States")
    out.update(to=to, frm=frm, front=front, back=back)
    return out


def validate_letter(params, now, past="refuse"):
    if "to" not in params or is_blank(params.get("to")):
        raise invalid("to is required")
    to = check_address(params["to"], "to")
    if "from" not in params or is_blank(params.get("from")):
        raise invalid("from is required")
    frm = check_address(params["from"], "from")
    file_ = check_artwork(params, "file", LOCAL_PATH_LTR)
    color = check_bool(params, "color", required=True)
    out = check_common(params, now, past)
    out["double_sided"] = check_bool(params, "double_sided", default=True)
    out["address_placement"] = check_enum(params, "address_placement", ADDRESS_PLACEMENTS,
                                          "top_first_page")
    out["extra_service"] = check_enum(params, "extra_service", EXTRA_SERVICES, nullable=True)
    out["size"] = check_enum(params, "size", LETTER_SIZES, "us_letter")
    if out["extra_service"] and out["mail_type"] == "usps_standard":
        raise invalid("extra_service can only be set if mail_type is not usps_standard")
    out["return_envelope"] = params.get("return_envelope", False)
    if out["return_envelope"] in ("true", "false"):
        out["return_envelope"] = out["return_envelope"] == "true"
    pp = params.get("perforated_page")
    if pp is not None and pp != "":
        try:
            pp = int(pp)
        except (TypeError, ValueError):
            raise invalid("perforated_page must be an integer")
        if pp < 1:
            raise invalid("perforated_page must be greater than or equal to 1")
    else:
        pp = None
    if out["return_envelope"] is True and pp is None:
        raise invalid("perforated_page is required when return_envelope is true")
    out["perforated_page"] = pp
    out.update(to=to, frm=frm, file=file_, color=color)
    return out


# ---------------------------------------------------------------------------
# Events

TRACKING_NAMES = {
    "mailed": "Mailed",
    "in_transit": "In Transit",
    "in_local_area": "In Local Area",
    "processed_for_delivery": "Processed for Delivery",
    "re-routed": "Re-Routed",
    "delivered": "Delivered",
    "returned_to_sender": "Returned to Sender",
    "international_exit": "International Exit",
}
CERTIFIED_NAMES = dict(TRACKING_NAMES, pickup_available="Pickup Available", issue="Issue")
CERTIFIED_DETAILS = {
    "mailed": ("package_accepted", "Package has been accepted into the carrier network for delivery.", False),
    "in_transit": ("package_arrived", "Package has arrived at an intermediate location in the carrier network.", False),
    "in_local_area": ("package_in_local_area", "Package is at a location near the end destination.", False),
    "processed_for_delivery": ("out_for_delivery", "Package is out for delivery.", False),
    "pickup_available": ("pickup_available", "Package is available for pickup at carrier location.", True),
    "delivered": ("delivered", "Package has been delivered.", False),
    "re-routed": ("package_forwarded", "Package has been forwarded.", False),
    "returned_to_sender": ("returned_to_sender", "Package is to be returned to sender.", False),
    "issue": ("other", "Unrecognized carrier status.", False),
}
OTHER_EVENTS = ("created", "rejected", "rendered_pdf", "rendered_thumbnails", "deleted",
                "failed", "viewed")
# Lob's event-type tables: which types are live-only (enabled_for_test false).
LIVE_ONLY = {
    "postcards": {"mailed", "in_transit", "in_local_area", "processed_for_delivery",
                  "re-routed", "returned_to_sender", "international_exit"},
    "letters": {"mailed", "in_transit", "in_local_area", "processed_for_delivery",
                "delivered", "re-routed", "returned_to_sender", "international_exit"},
}
NATURAL_ORDER = ["created", "rendered_pdf", "rendered_thumbnails", "mailed", "in_transit",
                 "in_local_area", "processed_for_delivery", "delivered"]


def split_event(resource, event):
    """'postcard.mailed' or 'mailed' -> (suffix, certified?, full type).
    Raises ValueError for an unknown or mismatched event type."""
    singular = "postcard" if resource == "postcards" else "letter"
    if not isinstance(event, str) or not event:
        raise ValueError("event is required")
    ev = event
    if "." in ev:
        head, rest = ev.split(".", 1)
        if head != singular:
            raise ValueError("event %s does not apply to a %s" % (event, singular))
        ev = rest
    certified = False
    if ev.startswith("certified."):
        if resource != "letters":
            raise ValueError("certified events apply to letters only")
        certified = True
        ev = ev[len("certified."):]
        if ev not in CERTIFIED_NAMES:
            raise ValueError("unknown event type %s" % event)
    elif ev not in TRACKING_NAMES and ev not in OTHER_EVENTS:
        raise ValueError("unknown event type %s" % event)
    full = singular + "." + ("certified." if certified else "") + ev
    return ev, certified, full


# ---------------------------------------------------------------------------
# State


class Fault:
    __slots__ = ("spec", "remaining", "path_prefix", "method", "applied", "id", "skip")

    def __init__(self, spec, fid):
        self.spec = spec
        self.id = fid
        c = spec.get("count", 1)
        c = -1 if c is None else int(c)
        self.remaining = -1 if c < 0 else c
        pp = spec.get("path_prefix") or ""
        if pp.startswith("/v1/") or pp == "/v1":
            pp = pp[3:]
        self.path_prefix = pp
        self.method = (spec.get("method") or "").upper()
        self.applied = 0
        self.skip = max(0, int(spec.get("skip") or 0))

    def matches(self, method, path):
        if self.remaining == 0:
            return False
        if self.method and self.method != method:
            return False
        return path.startswith(self.path_prefix)

    def view(self):
        d = dict(self.spec)
        d["id"] = self.id
        d["remaining"] = None if self.remaining < 0 else self.remaining
        d["applied"] = self.applied
        d["skip"] = self.skip
        return d


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.clock = Clock()
        self.rng = random.Random(args.seed) if args.seed is not None else random.SystemRandom()
        self.keys = set(args.key or ["test_key"])
        self.reset()

    def reset(self):
        a = self.args
        self.rate_limit, self.rate_window = a.rate
        self.latency_ms = a.latency_ms
        self.jitter_ms = 0
        self.strict_addresses = False
        self.cancel_window = {"postcards": DEFAULT_CANCEL_WINDOW, "letters": DEFAULT_CANCEL_WINDOW}
        self.past_send_date = "refuse"
        self.clock.reset()
        if a.now:
            self.clock.set(parse_time(a.now))
        self.pieces = {}          # id -> record
        self.order = []           # records in creation order
        self.idem = {}            # (resource, key) -> {"hash","id","at"}
        self.addresses = {}       # adr id -> address object
        self.requests = []
        self.events = []          # webhook event objects made
        self.faults = []
        self.fault_seq = 0
        self.windows = {}         # endpoint -> [start, count]
        self.seq = 0
        self.piece_seq = 0
        self.stats = {"created": 0, "postcards": 0, "letters": 0, "requests": 0, "429": 0,
                      "by_status": {}, "dropped": 0, "replays": 0, "conflicts": 0,
                      "faults_applied": 0, "webhooks_sent": 0}

    def new_id(self, prefix, n=24):
        return prefix + "".join("%x" % self.rng.randrange(16) for _ in range(n))

    def log(self, entry):
        if not self.args.log:
            return
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self.log_lock:
            try:
                with open(self.args.log, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError:
                pass

    # -- rate limiting (real clock) --
    def rate_check(self, endpoint):
        """Count one request against its endpoint's window. Returns
        (headers, retry_after or None)."""
        limit, window = self.rate_limit, self.rate_window
        if not limit or limit <= 0:
            return {}, None
        now = time.time()
        w = self.windows.get(endpoint)
        if w is None or now >= w[0] + window:
            w = [now, 0]
            self.windows[endpoint] = w
        w[1] += 1
        reset = w[0] + window
        remaining = str(max(0, limit - w[1]))
        reset_s = str(int(math.ceil(reset)))
        # Lob's docs name the X-Rate-Limit-* headers; its OpenAPI spec names
        # ratelimit-* on create responses. Send both.
        headers = {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": remaining,
            "X-Rate-Limit-Reset": reset_s,
            "ratelimit-limit": str(limit),
            "ratelimit-remaining": remaining,
            "ratelimit-reset": reset_s,
        }
        if w[1] > limit:
            return headers, max(1, int(math.ceil(reset - now)))
        return headers, None

    def take_fault(self, method, path):
        for f in self.faults:
            if f.matches(method, path):
                if f.skip > 0:
                    f.skip -= 1     # this request passes it by; a later fault may take it
                    continue
                if f.remaining > 0:
                    f.remaining -= 1
                f.applied += 1
                self.stats["faults_applied"] += 1
                spec = f.spec
                if f.remaining == 0:
                    self.faults.remove(f)
                return spec
        return None

    # -- addresses --
    def make_address(self, kind, value, now):
        if kind == "id":
            if value in self.addresses:
                return self.addresses[value]
            if self.strict_addresses:
                return None
            return {
                "id": value, "description": None, "name": "FAKE LOB ADDRESS", "company": None,
                "phone": None, "email": None, "address_line1": "210 KING ST",
                "address_line2": None, "address_city": "SAN FRANCISCO", "address_state": "CA",
                "address_zip": "94107", "address_country": "UNITED STATES", "metadata": {},
                "date_created": iso(now), "date_modified": iso(now), "object": "address",
            }
        a = value
        up = lambda v: v.upper() if isinstance(v, str) else v  # noqa: E731
        us = a["address_country"] == "US"
        obj = {
            "id": self.new_id("adr_"),
            "description": a.get("description"),
            "name": up(a.get("name")),
            "company": up(a.get("company")),
            "phone": a.get("phone"),
            "email": a.get("email"),
            "address_line1": up(a.get("address_line1")),
            "address_line2": up(a.get("address_line2")),
            "address_city": up(a.get("address_city")),
            "address_state": up(a.get("address_state")),
            "address_zip": a.get("address_zip"),
            "address_country": "UNITED STATES" if us else a["address_country"],
            "metadata": a.get("metadata") or {},
            "date_created": iso(now),
            "date_modified": iso(now),
            "object": "address",
        }
        if us:
            obj["recipient_moved"] = False
        self.addresses[obj["id"]] = obj
        return obj

    # -- pieces --
    def create_piece(self, resource, v, idem_key, now):
        prefix = "psc_" if resource == "postcards" else "ltr_"
        pid = self.new_id(prefix)
        to = self.make_address(*v["to"], now)
        if to is None:
            raise LobError(404, "not_found", "to address not found")
        frm = None
        if v["frm"] is not None:
            frm = self.make_address(*v["frm"], now)
            if frm is None:
                raise LobError(404, "not_found", "from address not found")
        # A requested send_date overrides the account's cancellation window;
        # without one, the piece goes to production when the window ends.
        send = v["send_date"] if v["send_date"] is not None else now + self.cancel_window[resource]
        days = 5 if v["mail_type"] == "usps_first_class" else 10
        sig = hashlib.sha256((pid + str(now)).encode()).hexdigest()[:43]
        folder = "postcards" if resource == "postcards" else "letters"
        obj = {
            "id": pid,
            "description": v["description"],
            "metadata": v["metadata"],
            "to": to,
            "from": frm,
            "url": "https://lob-assets.com/%s/%s.pdf?version=v1&expires=%d&signature=%s"
                   % (folder, pid, int(now) + 30 * 86400, sig),
            "carrier": "USPS",
            "tracking_events": [],
            "thumbnails": [],
            "merge_variables": v["merge_variables"],
            "mail_type": v["mail_type"],
            "size": v["size"],
            "expected_delivery_date": ymd(send + days * 86400),
            "date_created": iso(now),
            "date_modified": iso(now),
            "send_date": iso(send),
            "use_type": v["use_type"],
            "fsc": False,
            "status": "processed",
            "failure_reason": None,
            "campaign_id": None,
        }
        if resource == "postcards":
            obj["front_template_id"] = v["front"] if TMPL_ID.match(v["front"]) else None
            obj["back_template_id"] = v["back"] if TMPL_ID.match(v["back"]) else None
            obj["front_template_version_id"] = self.new_id("vrsn_", 15) if obj["front_template_id"] else None
            obj["back_template_version_id"] = self.new_id("vrsn_", 15) if obj["back_template_id"] else None
            obj["object"] = "postcard"
        else:
            tmpl = v["file"] if TMPL_ID.match(v["file"]) else None
            obj["template_id"] = tmpl
            obj["template_version_id"] = self.new_id("vrsn_", 15) if tmpl else None
            obj["color"] = v["color"]
            obj["double_sided"] = v["double_sided"]
            obj["address_placement"] = v["address_placement"]
            obj["return_envelope"] = v["return_envelope"]
            obj["perforated_page"] = v["perforated_page"]
            obj["custom_envelope"] = None
            obj["extra_service"] = v["extra_service"]
            obj["tracking_number"] = None
            if v["extra_service"] in ("certified", "certified_return_receipt"):
                obj["tracking_number"] = "".join(str(self.rng.randrange(10)) for _ in range(22))
            obj["object"] = "letter"
        self.piece_seq += 1
        rec = {"obj": obj, "resource": resource, "seq": self.piece_seq,
               "idempotency_key": idem_key, "create_count": 1, "send_ts": send}
        self.pieces[pid] = rec
        self.order.append(rec)
        self.stats["created"] += 1
        self.stats[resource] += 1
        return rec

    def add_event(self, rec, event, now, time_override=None, location=None):
        """Apply one event to a piece; returns the webhook event object."""
        resource = rec["resource"]
        ev, certified, full = split_event(resource, event)
        obj = rec["obj"]
        when = now
        if time_override:
            t = parse_time(time_override)
            if t is None:
                raise ValueError("time must be an ISO 8601 date-time")
            when = t
        if ev in TRACKING_NAMES or certified:
            zip5 = (obj["to"].get("address_zip") or "")[:5] or None
            if location is None:
                if ev == "mailed":
                    loc = None
                elif ev in ("in_transit", "international_exit"):
                    loc = ((obj.get("from") or {}).get("address_zip") or "94107")[:5]
                else:
                    loc = zip5
            else:
                loc = location
            te = {
                "id": self.new_id("evnt_", 15),
                "type": "certified" if certified else "normal",
                "name": (CERTIFIED_NAMES if certified else TRACKING_NAMES)[ev],
                "details": None,
                "location": loc,
                "time": iso(when),
                "date_created": iso(now),
                "date_modified": iso(now),
                "object": "tracking_event",
            }
            if certified:
                e, d, act = CERTIFIED_DETAILS[ev]
                te["details"] = {"event": e, "description": d, "notes": "", "action_required": act}
            obj["tracking_events"].append(te)
        elif ev == "rendered_pdf":
            obj["status"] = "rendered"
        elif ev == "rendered_thumbnails":
            pid = obj["id"]
            folder = "postcards" if resource == "postcards" else "letters"
            obj["thumbnails"] = [{
                size: "https://lob-assets.com/%s/%s_thumb_%s_1.png?expires=%d&signature=fake"
                      % (folder, pid, size, int(now) + 30 * 86400)
                for size in ("small", "medium", "large")}]
        elif ev == "failed":
            obj["status"] = "failed"
            obj["failure_reason"] = {"failure_reason": "rendering_failed",
                                     "remediation": "fake failure from /__admin/advance",
                                     "errors": None}
        elif ev == "deleted":
            obj["deleted"] = True
        obj["date_modified"] = iso(now)
        rec.setdefault("events", []).append(full)
        event_obj = {
            "id": self.new_id("evt_"),
            "body": json.loads(json.dumps(obj)),
            "reference_id": obj["id"],
            "event_type": {
                "id": full,
                "enabled_for_test": ev not in LIVE_ONLY[resource] and not certified,
                "resource": resource,
                "object": "event_type",
            },
            "date_created": iso(now),
            "object": "event",
        }
        self.events.append(event_obj)
        return event_obj

    def next_event(self, rec):
        """The first stage of NATURAL_ORDER the piece has not had yet."""
        done = set(e.split(".")[-1] for e in rec.get("events", []))
        for name in NATURAL_ORDER:
            if name not in done:
                return name
        return None


# ---------------------------------------------------------------------------
# Lists


def encode_cursor(obj):
    raw = json.dumps({"dateOffset": obj["date_created"], "idOffset": obj["id"]},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token):
    try:
        pad = "=" * (-len(token) % 4)
        d = json.loads(base64.urlsafe_b64decode(token + pad).decode())
        return d["idOffset"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------------
# HTTP


class Reply:
    """One HTTP answer: status, JSON (or raw) body, extra headers."""

    __slots__ = ("status", "body", "headers", "raw", "ctype")

    def __init__(self, status, body=None, headers=None, raw=None, ctype="application/json; charset=utf-8"):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.raw = raw
        self.ctype = ctype

    def bytes(self):
        if self.raw is not None:
            return self.raw if isinstance(self.raw, bytes) else self.raw.encode("utf-8")
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


def json_reply(obj, headers=None):
    """A 200 whose bytes are made now: call it under the state lock, so the
    piece cannot change while it is being serialized."""
    return Reply(200, raw=json.dumps(obj, separators=(",", ":")).encode("utf-8"), headers=headers)


def error_reply(err):
    return Reply(err.status, err.body(), dict(err.headers))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-lob/1.0"

    def version_string(self):
        return self.server_version

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        try:   # headers and body go out in separate writes: without this, Nagle
            # and the client's delayed ACK stall each keep-alive answer 40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # A client that stops sending mid-request frees its thread after this.
    timeout = 60

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def send_error(self, code, message=None, explain=None):
        """Malformed requests (bad request line, huge headers) get Lob's
        JSON error shape too, not http.server's HTML page."""
        self.close_connection = True
        body = json.dumps(LobError(code, STATUS_CODES.get(code, "bad_request"),
                                   message or self.responses.get(code, ("error",))[0]).body(),
                          separators=(",", ":")).encode()
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    @property
    def st(self):
        return self.server.state

    # -- plumbing --
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise LobError(400, "bad_request", "malformed chunked body")
                if n == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                total += n
                if total > MAX_BODY:
                    raise LobError(413, "request_entity_too_large", "request body too large")
                chunks.append(self.rfile.read(n))
                self.rfile.readline(3)
            return b"".join(chunks)
        cl = self.headers.get("Content-Length")
        if not cl:
            return b""
        try:
            n = int(cl)
        except ValueError:
            raise LobError(400, "bad_request", "bad Content-Length")
        if n < 0:
            raise LobError(400, "bad_request", "bad Content-Length")
        if n > MAX_BODY:
            self.close_connection = True
            raise LobError(413, "request_entity_too_large", "request body too large")
        return self.rfile.read(n)

    def send_reply(self, reply, truncate=False):
        full = reply.bytes()
        data = b"" if self.command == "HEAD" else full
        full_len = len(full)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.ctype)
        self.send_header("Content-Length", str(full_len))
        for k, val in reply.headers.items():
            self.send_header(k, val)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(data[: max(0, len(data) // 2)])
            self.wfile.flush()
            self.close_connection = True
            self.hard_close()
        else:
            self.wfile.write(data)

    def hard_close(self):
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def dispatch(self):
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:  # never crash the server on one request
            tb = traceback.format_exc()
            self.st.log({"at": iso(time.time()), "internal_error": tb})
            sys.stderr.write("fake_lob: internal error\n" + tb)
            try:
                self.send_reply(Reply(500, LobError(500, "internal_server_error",
                                                    "fake_lob internal error").body()))
            except OSError:
                pass
            self.close_connection = True

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        raw_path = url.path or "/"
        prefix = ""
        path = raw_path
        if path == "/v1" or path.startswith("/v1/"):
            prefix = "/v1"
            path = path[3:] or "/"
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        try:
            body = self.read_body()
        except LobError as e:
            self.send_reply(error_reply(e))
            self.close_connection = True
            return
        if path == "/__admin" or path.startswith("/__admin/"):
            self.admin(path, url.query, body)
            return
        self.api(raw_path, prefix, path, url.query, body)

    # -- API --
    def endpoint_of(self, path):
        parts = path.strip("/").split("/")
        if parts and parts[0] in ("postcards", "letters"):
            if len(parts) == 1:
                return "/" + parts[0]
            if len(parts) == 2:
                return "/%s/{id}" % parts[0]
        return path

    def api(self, raw_path, prefix, path, query, body):
        st = self.st
        method = self.command
        t0 = time.time()
        qpairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        idem_h = self.headers.get("Idempotency-Key")
        idem_q = [v for k, v in qpairs if k in ("idempotency_key", "idempotency-key")]
        idem = idem_h if idem_h is not None else (idem_q[0] if idem_q else None)
        endpoint = method + " " + self.endpoint_of(path)
        with st.lock:
            st.seq += 1
            seq = st.seq
            rl_headers, retry_after = st.rate_check(endpoint)
            fault = st.take_fault(method, path) if retry_after is None else None
            latency = st.latency_ms + (st.rng.uniform(0, st.jitter_ms) if st.jitter_ms else 0)
            at = st.clock.now()
        if fault and fault.get("slow_ms"):
            latency += float(fault["slow_ms"])
        if latency > 0:
            time.sleep(latency / 1000.0)

        record = {"seq": seq, "method": method, "path": raw_path, "endpoint": endpoint,
                  "query": query, "status": None, "idempotency_key": idem,
                  "idempotency_key_source": "header" if idem_h is not None else ("query" if idem_q else None),
                  "at": iso(at), "body": body[:RECORD_BODY_MAX].decode("utf-8", "replace"),
                  "content_type": self.headers.get("Content-Type"), "outcome": "answered"}
        if fault:
            record["fault"] = {k: v for k, v in fault.items() if k != "body"}

        truncate = False
        drop_after = False
        if retry_after is not None:
            h = dict(rl_headers)
            h["Retry-After"] = str(retry_after)
            reply = Reply(429, LobError(429, "rate_limit_exceeded",
                                        "Rate limit exceeded. Please wait %d seconds and try your request again."
                                        % retry_after).body(), h)
        elif fault and fault.get("drop"):
            record["outcome"] = "dropped"
            self.finish_record(record, None, t0)
            self.hard_close()
            return
        elif fault and fault.get("status"):
            reply = self.fault_reply(fault, rl_headers)
        else:
            reply = self.api_route(method, prefix, path, query, qpairs, body, idem, idem_h,
                                   idem_q, record)
            for k, v in rl_headers.items():
                reply.headers.setdefault(k, v)
            if fault and fault.get("accept_then_drop"):
                drop_after = True
            if fault and fault.get("truncate"):
                truncate = True
        if drop_after:
            record["outcome"] = "accept_then_drop"
            self.finish_record(record, reply.status, t0)
            self.hard_close()
            return
        if truncate:
            record["outcome"] = "truncated"
        self.finish_record(record, reply.status, t0)
        self.send_reply(reply, truncate=truncate)

    def finish_record(self, record, status, t0):
        st = self.st
        record["status"] = status
        record["ms"] = int((time.time() - t0) * 1000)
        with st.lock:
            st.requests.append(record)
            st.stats["requests"] += 1
            if status is None:
                st.stats["dropped"] += 1
            else:
                key = str(status)
                st.stats["by_status"][key] = st.stats["by_status"].get(key, 0) + 1
                if status == 429:
                    st.stats["429"] += 1
        if st.args.log:
            entry = {k: record[k] for k in ("seq", "at", "method", "path", "status", "outcome",
                                             "idempotency_key", "ms")}
            st.log(entry)

    def fault_reply(self, fault, rl_headers):
        status = int(fault["status"])
        headers = dict(rl_headers)
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(fault["retry_after"])
        elif status == 429:
            headers["Retry-After"] = "1"
        for k, v in (fault.get("headers") or {}).items():
            headers[str(k)] = str(v)
        if "raw_body" in fault:
            return Reply(status, raw=str(fault["raw_body"]), headers=headers,
                         ctype=fault.get("content_type") or "text/html; charset=utf-8")
        if "body" in fault:
            return Reply(status, fault["body"], headers)
        code = fault.get("code") or STATUS_CODES.get(status, "internal_server_error")
        msg = fault.get("message") or STATUS_MESSAGES.get(status, "injected fault")
        return Reply(status, LobError(status, code, msg).body(), headers)

    def authorized(self):
        h = self.headers.get("Authorization") or ""
        if not h.lower().startswith("basic "):
            return False
        try:
            user = base64.b64decode(h[6:].strip(), validate=False).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return False
        key = user.split(":", 1)[0]
        return key in self.st.keys

    def api_route(self, method, prefix, path, query, qpairs, body, idem, idem_h, idem_q, record):
        if not self.authorized():
            msg = ("Missing authentication" if not self.headers.get("Authorization")
                   else STATUS_MESSAGES[401])
            return Reply(401, LobError(401, "unauthorized", msg).body(),
                         {"WWW-Authenticate": 'Basic realm="Lob"'})
        parts = path.strip("/").split("/")
        try:
            if parts[0] in ("postcards", "letters"):
                resource = parts[0]
                if len(parts) == 1 and method == "POST":
                    return self.create(resource, body, idem, idem_h, idem_q, record)
                if len(parts) == 1 and method in ("GET", "HEAD"):
                    return self.list_pieces(resource, prefix, path, qpairs)
                if len(parts) == 2 and method in ("GET", "HEAD"):
                    return self.get_piece(resource, parts[1])
                if len(parts) == 2 and method == "DELETE":
                    return self.cancel_piece(resource, parts[1])
            raise LobError(404, "unrecognized_endpoint", "unrecognized endpoint %s %s" % (method, path))
        except LobError as e:
            return error_reply(e)

    def create(self, resource, body, idem, idem_h, idem_q, record):
        st = self.st
        if idem_h is not None and idem_q:
            raise invalid("only one idempotency key may be given: send the Idempotency-Key "
                          "header or the idempotency_key query parameter, not both")
        if idem is not None:
            if idem == "":
                raise invalid("Idempotency-Key must not be empty")
            if len(idem) > 256:
                raise invalid("Idempotency-Key must be no longer than 256 characters")
        params = parse_body(body, self.headers.get("Content-Type"))
        record["params"] = params
        canon = hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":"))
                               .encode()).hexdigest()
        validator = validate_postcard if resource == "postcards" else validate_letter
        with st.lock:
            now = st.clock.now()
            if idem is not None:
                ent = st.idem.get((resource, idem))
                if ent is not None and now - ent["at"] < IDEMPOTENCY_TTL and ent["id"] in st.pieces:
                    if ent["hash"] != canon:
                        st.stats["conflicts"] += 1
                        raise LobError(422, "conflict",
                                       "Idempotency-Key has already been used with different "
                                       "request parameters")
                    rec = st.pieces[ent["id"]]
                    rec["create_count"] += 1
                    st.stats["replays"] += 1
                    record["piece_id"] = rec["obj"]["id"]
                    record["replay"] = True
                    return json_reply(rec["obj"], {"X-Fake-Idempotent-Replay": "true"})
            v = validator(params, now, st.past_send_date)
            rec = st.create_piece(resource, v, idem, now)
            if idem is not None:
                st.idem[(resource, idem)] = {"hash": canon, "id": rec["obj"]["id"], "at": now}
            record["piece_id"] = rec["obj"]["id"]
            return json_reply(rec["obj"])

    def get_piece(self, resource, pid):
        st = self.st
        with st.lock:
            rec = st.pieces.get(pid)
            if rec is None or rec["resource"] != resource:
                raise LobError(404, "not_found", "%s not found" % resource[:-1])
            return json_reply(rec["obj"])

    def cancel_piece(self, resource, pid):
        st = self.st
        with st.lock:
            rec = st.pieces.get(pid)
            if rec is None or rec["resource"] != resource:
                raise LobError(404, "not_found", "%s not found" % resource[:-1])
            if rec["obj"].get("deleted"):       # canceled already: the same answer again
                return Reply(200, {"id": pid, "deleted": True})
            kind = resource[:-1]
            if any(te["name"] == "Mailed" for te in rec["obj"]["tracking_events"]):
                raise LobError(422, "not_deletable", "%s has already been mailed and cannot be canceled"
                               % kind)
            now = st.clock.now()
            if now >= rec["send_ts"]:
                raise LobError(422, "not_deletable",
                               "%s cannot be canceled: its send_date %s has passed"
                               % (kind, rec["obj"]["send_date"]))
            st.add_event(rec, "deleted", now)
            return Reply(200, {"id": pid, "deleted": True})

    def list_pieces(self, resource, prefix, path, qpairs):
        st = self.st
        limit = 10
        before = after = None
        md_filter = {}
        dc_filter = {}
        include_total = False
        keep = []
        for k, v in qpairs:
            if k == "limit":
                try:
                    limit = int(v)
                except ValueError:
                    raise invalid("limit must be a number")
                if limit < 1:
                    raise invalid("limit must be greater than or equal to 1")
                if limit > 100:
                    raise invalid("limit must be less than or equal to 100")
            elif k == "before":
                before = v
                continue
            elif k == "after":
                after = v
                continue
            elif k.startswith("metadata[") and k.endswith("]"):
                md_filter[k[len("metadata["):-1]] = v
            elif k.startswith("date_created[") and k.endswith("]"):
                op = k[len("date_created["):-1]
                if op not in ("gt", "gte", "lt", "lte"):
                    raise invalid("date_created filter must use gt, gte, lt or lte")
                t = parse_time(v)
                if t is None:
                    raise invalid("date_created[%s] must be an ISO 8601 date or date-time" % op)
                dc_filter[op] = t
            elif k in ("include", "include[]"):
                if "total_count" in v:
                    include_total = True
            keep.append((k, v))
        if before is not None and after is not None:
            raise invalid("only one of before and after may be given")
        filters = {}
        for k, v in qpairs:
            if k in ("status", "mail_type"):
                filters[k] = v
            elif k in ("size", "size[]"):
                filters.setdefault("size", set()).add(v.strip('[]"'))
        with st.lock:
            items = []
            for rec in reversed(st.order):  # newest first
                if rec["resource"] != resource:
                    continue
                obj = rec["obj"]
                md = obj.get("metadata") or {}
                if any(md.get(mk) != mv for mk, mv in md_filter.items()):
                    continue
                if dc_filter:
                    t = parse_time(obj["date_created"])
                    if ("gt" in dc_filter and not t > dc_filter["gt"]) or \
                       ("gte" in dc_filter and not t >= dc_filter["gte"]) or \
                       ("lt" in dc_filter and not t < dc_filter["lt"]) or \
                       ("lte" in dc_filter and not t <= dc_filter["lte"]):
                        continue
                if "status" in filters and obj.get("status") != filters["status"]:
                    continue
                if "mail_type" in filters and obj.get("mail_type") != filters["mail_type"]:
                    continue
                if "size" in filters and obj.get("size") not in filters["size"]:
                    continue
                items.append(rec)
            total = len(items)
            if after is not None:
                cid = decode_cursor(after)
                crec = st.pieces.get(cid) if cid else None
                if crec is None:
                    raise invalid("after is not a valid cursor")
                older = [r for r in items if r["seq"] < crec["seq"]]
                page = older[:limit]
            elif before is not None:
                cid = decode_cursor(before)
                crec = st.pieces.get(cid) if cid else None
                if crec is None:
                    raise invalid("before is not a valid cursor")
                newer = [r for r in items if r["seq"] > crec["seq"]]
                page = newer[-limit:] if newer else []
            else:
                page = items[:limit]
            data = [json.loads(json.dumps(r["obj"])) for r in page]
            has_newer = bool(page) and any(r["seq"] > page[0]["seq"] for r in items)
            has_older = bool(page) and any(r["seq"] < page[-1]["seq"] for r in items)
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]
        base = "http://%s%s%s" % (host, prefix, path)

        def link(key, rec_obj):
            q = [(k, v) for k, v in keep] + [(key, encode_cursor(rec_obj))]
            return base + "?" + urllib.parse.urlencode(q)

        out = {
            "data": data,
            "object": "list",
            "next_url": link("after", page[-1]["obj"]) if has_older else None,
            "previous_url": link("before", page[0]["obj"]) if has_newer else None,
            "count": len(data),
        }
        if include_total:
            out["total_count"] = total
        return Reply(200, out)

    # -- admin --
    def admin(self, path, query, body):
        st = self.st
        method = self.command
        try:
            params = {}
            if method in ("POST", "PUT") and body.strip():
                try:
                    params = json.loads(body.decode("utf-8", "replace"))
                except ValueError as e:
                    raise LobError(400, "bad_request", "admin body is not valid JSON: %s" % e)
            if not isinstance(params, (dict, list)):
                raise LobError(400, "bad_request", "admin body must be a JSON object")
            q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
            route = path[len("/__admin"):] or "/"
            handler = ADMIN_ROUTES.get((method, route))
            if handler is None:
                raise LobError(404, "unrecognized_endpoint", "unknown admin endpoint %s %s" % (method, route))
            reply = handler(self, params, q)
        except LobError as e:
            reply = error_reply(e)
        except (ValueError, TypeError, KeyError) as e:
            reply = Reply(400, LobError(400, "bad_request", "bad admin request: %s" % e).body())
        self.send_reply(reply)

    def a_health(self, p, q):
        return Reply(200, {"ok": True, "port": self.server.server_address[1]})

    def a_config(self, p, q):
        st = self.st
        with st.lock:
            return Reply(200, {"rate": {"limit": st.rate_limit, "window_s": st.rate_window},
                               "latency": {"ms": st.latency_ms, "jitter_ms": st.jitter_ms},
                               "clock": {"now": iso(st.clock.now()), "frozen": st.clock.frozen is not None},
                               "strict_addresses": st.strict_addresses,
                               "cancellation_window_s": dict(st.cancel_window),
                               "past_send_date": st.past_send_date,
                               "keys": len(st.keys)})

    def a_set_config(self, p, q):
        st = self.st
        if not isinstance(p, dict):
            raise ValueError("the config body must be a JSON object")
        unknown = set(p) - {"strict_addresses", "cancellation_window_s", "past_send_date"}
        if unknown:
            raise ValueError("unknown config keys: %s" % ", ".join(sorted(unknown)))
        window = {}
        if "cancellation_window_s" in p:
            w = p["cancellation_window_s"]
            items = w.items() if isinstance(w, dict) else [(r, w) for r in ("postcards", "letters")]
            for res, secs in items:
                if res not in ("postcards", "letters"):
                    raise ValueError("cancellation_window_s takes postcards and letters")
                if isinstance(secs, bool) or not isinstance(secs, (int, float)) \
                        or not 0 <= secs <= MAX_CANCEL_WINDOW:
                    raise ValueError("cancellation_window_s must be seconds from 0 to %d (3 days)"
                                     % MAX_CANCEL_WINDOW)
                window[res] = secs
        if "past_send_date" in p and p["past_send_date"] not in PAST_SEND_DATE:
            raise ValueError("past_send_date must be one of %s" % ", ".join(PAST_SEND_DATE))
        with st.lock:
            if "strict_addresses" in p:
                st.strict_addresses = bool(p["strict_addresses"])
            st.cancel_window.update(window)
            if "past_send_date" in p:
                st.past_send_date = p["past_send_date"]
        return self.a_config(p, q)

    def a_faults_add(self, p, q):
        st = self.st
        specs = p if isinstance(p, list) else [p]
        added = []
        for spec in specs:
            if not isinstance(spec, dict):
                raise ValueError("a fault must be a JSON object")
            kinds = [k for k in ("status", "drop", "accept_then_drop", "truncate") if spec.get(k)]
            if len(kinds) > 1:
                raise ValueError("a fault takes one of status, drop, accept_then_drop, truncate")
            if not kinds and not spec.get("slow_ms"):
                raise ValueError("a fault needs status, drop, accept_then_drop, truncate or slow_ms")
            if spec.get("status") is not None:
                s = int(spec["status"])
                if s < 100 or s > 599:
                    raise ValueError("status must be an HTTP status")
            if spec.get("count") is not None:
                int(spec["count"])
            if spec.get("skip") is not None and int(spec["skip"]) < 0:
                raise ValueError("skip must be 0 or more")
            with st.lock:
                st.fault_seq += 1
                f = Fault(spec, st.fault_seq)
                st.faults.append(f)
                added.append(f.view())
        return Reply(200, {"added": added})

    def a_faults_list(self, p, q):
        with self.st.lock:
            return Reply(200, {"data": [f.view() for f in self.st.faults]})

    def a_faults_clear(self, p, q):
        with self.st.lock:
            n = len(self.st.faults)
            self.st.faults = []
        return Reply(200, {"cleared": n})

    def a_rate(self, p, q):
        st = self.st
        limit = p.get("limit", st.rate_limit)
        window = p.get("window_s", st.rate_window)
        limit = int(limit) if limit is not None else 0
        window = float(window)
        if window <= 0:
            raise ValueError("window_s must be positive")
        with st.lock:
            st.rate_limit, st.rate_window = limit, window
            st.windows = {}
        return Reply(200, {"limit": limit, "window_s": window})

    def a_latency(self, p, q):
        st = self.st
        ms = float(p.get("ms", 0))
        jitter = float(p.get("jitter_ms", 0))
        if ms < 0 or jitter < 0:
            raise ValueError("ms and jitter_ms must not be negative")
        with st.lock:
            st.latency_ms, st.jitter_ms = ms, jitter
        return Reply(200, {"ms": ms, "jitter_ms": jitter})

    def a_clock(self, p, q):
        st = self.st
        with st.lock:
            if "now" in p:
                if p["now"] is None:
                    st.clock.reset()
                else:
                    t = parse_time(p["now"])
                    if t is None:
                        raise ValueError("now must be an RFC 3339 date-time")
                    st.clock.set(t, frozen=bool(p.get("frozen")))
            elif "frozen" in p:
                st.clock.set(st.clock.now(), frozen=bool(p["frozen"]))
            if "advance_s" in p:
                st.clock.advance(float(p["advance_s"]))
            now = st.clock.now()
            return Reply(200, {"now": iso(now), "epoch_ms": int(now * 1000),
                               "frozen": st.clock.frozen is not None})

    def a_clock_get(self, p, q):
        st = self.st
        with st.lock:
            now = st.clock.now()
            return Reply(200, {"now": iso(now), "epoch_ms": int(now * 1000),
                               "frozen": st.clock.frozen is not None})

    def a_reset(self, p, q):
        with self.st.lock:
            self.st.reset()
        return Reply(200, {"reset": True})

    def a_addresses(self, p, q):
        st = self.st
        specs = p if isinstance(p, list) else [p]
        out = []
        with st.lock:
            now = st.clock.now()
            for spec in specs:
                aid = spec.get("id")
                if not isinstance(aid, str) or not ADR_ID.match(aid):
                    raise ValueError("id must match ^adr_[a-zA-Z0-9]+$")
                a = {k: v for k, v in spec.items() if k != "id"}
                try:
                    kind, clean = check_address(a, "address")
                except LobError as e:
                    raise ValueError(e.message)
                obj = st.make_address(kind, clean, now)
                del st.addresses[obj["id"]]
                obj["id"] = aid
                st.addresses[aid] = obj
                out.append(obj)
        return Reply(200, {"data": out})

    def _select(self, p):
        """Pieces named by id / ids / all (+ optional metadata, resource)."""
        st = self.st
        if p.get("all"):
            recs = [r for r in st.order if not r["obj"].get("deleted")]
            res = p.get("resource")
            ev = p.get("event") or ""
            if not res and ev.startswith("postcard."):
                res = "postcards"
            elif not res and ev.startswith("letter."):
                res = "letters"
            if res:
                recs = [r for r in recs if r["resource"] == res]
            md = p.get("metadata") or {}
            recs = [r for r in recs if all((r["obj"].get("metadata") or {}).get(k) == v
                                           for k, v in md.items())]
            return recs
        ids = list(p.get("ids") or [])
        if p.get("id"):
            ids.insert(0, p["id"])
        if not ids:
            raise ValueError("give id, ids or all")
        recs = []
        for pid in ids:
            rec = st.pieces.get(pid)
            if rec is None:
                raise LobError(404, "not_found", "no piece %s" % pid)
            recs.append(rec)
        return recs

    def _advance(self, p):
        st = self.st
        if not p.get("event") and not p.get("next"):
            raise ValueError("event (or next: true) is required")
        events = []
        with st.lock:
            recs = self._select(p)
            now = st.clock.now()
            for rec in recs:
                ev = p.get("event")
                if not ev:
                    ev = st.next_event(rec)
                    if ev is None:
                        continue
                try:
                    events.append(st.add_event(rec, ev, now, p.get("time"), p.get("location")))
                except ValueError as e:
                    raise LobError(422, "invalid", str(e))
        return events

    def a_advance(self, p, q):
        events = self._advance(p)
        return Reply(200, {"data": events, "count": len(events)})

    def a_webhook(self, p, q):
        st = self.st
        url = p.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        if p.get("event_ids"):
            with st.lock:
                byid = {e["id"]: e for e in st.events}
                events = []
                for eid in p["event_ids"]:
                    if eid not in byid:
                        raise LobError(404, "not_found", "no event %s" % eid)
                    events.append(byid[eid])
        else:
            events = self._advance(p)
        secret = p.get("secret")
        repeat = max(1, int(p.get("repeat", 1)))
        timeout = float(p.get("timeout_s", 10))
        deliveries = []
        for ev in events:
            body = json.dumps(ev, separators=(",", ":")).encode("utf-8")
            for _ in range(repeat):
                with st.lock:
                    ts = p.get("timestamp_ms")
                    if ts is None:
                        ts = int(st.clock.now() * 1000)
                ts = str(int(ts))
                headers = {"Content-Type": "application/json",
                           "User-Agent": "fake-lob-webhooks/1.0"}
                sig = None
                if secret is not None:
                    key = secret if not p.get("bad_signature") else secret + "-wrong"
                    sig = sign_webhook(key, ts, body)
                    headers["Lob-Signature"] = sig
                    headers["Lob-Signature-Timestamp"] = ts
                d = {"event_id": ev["id"], "reference_id": ev["reference_id"],
                     "event_type": ev["event_type"]["id"], "timestamp": ts, "signature": sig}
                req = urllib.request.Request(url, data=body, headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=timeout) as resp:
                        d["status"] = resp.status
                        d["response_body"] = resp.read(4096).decode("utf-8", "replace")
                except urllib.error.HTTPError as e:
                    d["status"] = e.code
                    try:
                        d["response_body"] = e.read(4096).decode("utf-8", "replace")
                    except OSError:
                        d["response_body"] = ""
                except (urllib.error.URLError, OSError, ValueError) as e:
                    d["status"] = None
                    d["error"] = str(getattr(e, "reason", e))
                with st.lock:
                    st.stats["webhooks_sent"] += 1
                deliveries.append(d)
        return Reply(200, {"deliveries": deliveries, "events": events})

    def a_pieces(self, p, q):
        st = self.st
        with st.lock:
            out = []
            for rec in st.order:
                if q.get("resource") and rec["resource"] != q["resource"]:
                    continue
                d = json.loads(json.dumps(rec["obj"]))
                d["idempotency_key"] = rec["idempotency_key"]
                d["create_count"] = rec["create_count"]
                d["replays"] = rec["create_count"] - 1
                d["events"] = list(rec.get("events", []))
                out.append(d)
        return Reply(200, {"data": out, "count": len(out)})

    def a_requests(self, p, q):
        st = self.st
        since = int(q.get("since", 0))
        with st.lock:
            out = [r for r in st.requests if r["seq"] > since]
        if q.get("method"):
            out = [r for r in out if r["method"] == q["method"].upper()]
        if q.get("path_prefix"):
            pp = q["path_prefix"]
            out = [r for r in out if r["path"].startswith(pp)
                   or r["path"].startswith("/v1" + pp)]
        out = json.loads(json.dumps(out))
        return Reply(200, {"data": out, "count": len(out)})

    def a_events(self, p, q):
        st = self.st
        with st.lock:
            out = json.loads(json.dumps(st.events))
        if q.get("reference_id"):
            out = [e for e in out if e["reference_id"] == q["reference_id"]]
        return Reply(200, {"data": out, "count": len(out)})

    def a_stats(self, p, q):
        st = self.st
        with st.lock:
            s = json.loads(json.dumps(st.stats))
            s["pieces"] = len(st.order)
            s["faults_pending"] = len(st.faults)
        return Reply(200, s)


def sign_webhook(secret, timestamp, body):
    """Lob's webhook signature: hex HMAC-SHA256, keyed with the webhook's
    secret, of the Lob-Signature-Timestamp value, a '.', and the raw body."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                    hashlib.sha256).hexdigest()


ADMIN_ROUTES = {
    ("GET", "/"): Handler.a_health,
    ("GET", "/health"): Handler.a_health,
    ("GET", "/config"): Handler.a_config,
    ("POST", "/config"): Handler.a_set_config,
    ("GET", "/faults"): Handler.a_faults_list,
    ("POST", "/faults"): Handler.a_faults_add,
    ("DELETE", "/faults"): Handler.a_faults_clear,
    ("POST", "/rate"): Handler.a_rate,
    ("POST", "/latency"): Handler.a_latency,
    ("GET", "/clock"): Handler.a_clock_get,
    ("POST", "/clock"): Handler.a_clock,
    ("POST", "/reset"): Handler.a_reset,
    ("POST", "/addresses"): Handler.a_addresses,
    ("POST", "/advance"): Handler.a_advance,
    ("POST", "/webhook"): Handler.a_webhook,
    ("GET", "/pieces"): Handler.a_pieces,
    ("GET", "/requests"): Handler.a_requests,
    ("GET", "/events"): Handler.a_events,
    ("GET", "/stats"): Handler.a_stats,
}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096
    allow_reuse_address = True


# ---------------------------------------------------------------------------
# Main


def parse_rate(s):
    s = s.strip().lower()
    if s in ("0", "off", "none"):
        return (0, 5.0)
    m = re.match(r"^(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*(ms|s|m|h)?$", s)
    if not m:
        raise argparse.ArgumentTypeError("rate must look like 150/5s")
    n = int(m.group(1))
    d = float(m.group(2) or 1)
    unit = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(3)]
    if d * unit <= 0:
        raise argparse.ArgumentTypeError("rate window must be positive")
    return (n, d * unit)


def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="fake_lob.py",
        description="Fake Lob Print & Mail API v1 server for tests (see tests/fakes/README-lob.md).")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free port)")
    ap.add_argument("--port-file", help="write the port here (atomically) once listening")
    ap.add_argument("--key", action="append",
                    help="accepted API key (repeatable; default test_key)")
    ap.add_argument("--log", help="append one JSON line per API request to this file")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay before each API answer")
    ap.add_argument("--rate", type=parse_rate, default=(150, 5.0),
                    help="requests per window per endpoint, e.g. 150/5s (default); 0 disables")
    ap.add_argument("--now", help="start the fake clock at this RFC 3339 time")
    ap.add_argument("--seed", type=int, help="seed ids for reproducible runs")
    ap.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.now and parse_time(args.now) is None:
        ap.error("--now must be an RFC 3339 date-time")

    try:
        threading.stack_size(512 * 1024)
    except (ValueError, RuntimeError):
        pass
    state = State(args)
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as e:
        sys.stderr.write("fake_lob: cannot listen on %s:%d: %s\n" % (args.host, args.port, e))
        return 1
    server.state = state
    port = server.server_address[1]

    # The handler takes no lock: it runs in the main thread between two
    # bytecodes, maybe while that thread holds one (Event.set() there could
    # wait for the Event's own lock for ever).
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    state.log({"at": iso(time.time()), "listening": port})
    while not stop:
        time.sleep(0.1)
    server.shutdown()
    server.server_close()
    state.log({"at": iso(time.time()), "stopped": port})
    return 0


if __name__ == "__main__":
    sys.exit(main())
