#!/usr/bin/env python3
"""fake_hubspot.py - a fake HubSpot CRM v3 API for fieldsync's tests.

Python 3 standard library only.  It follows HubSpot's public CRM v3
documentation (objects search / batch read / batch update, properties,
associations v4, rate-limit headers, webhooks v3 signatures) closely enough
for fs-pull, fs-push and fs-hook to be tested against it, and adds a control
API under /__admin for fixtures, fault injection and inspection.

The full reference (CLI, endpoints, /__admin API, deviations from the real
HubSpot) is tests/fakes/README-hubspot.md.

Usage:
  fake_hubspot.py --port 0 --port-file FILE [--data FILE.json] [--token TOKEN]
                  [--log FILE] [--generate N] [--seed S] [--now TIME]
                  [--rate-max N] [--rate-interval-ms MS] [--daily-limit N]
  fake_hubspot.py --dump-generated N [--seed S]
"""

import argparse
import base64
import bisect
import collections
import datetime
import functools
import hashlib
import hmac
import http
import http.client
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
import unicodedata
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# --------------------------------------------------------------------------
# Constants: object types, standard properties, limits
# --------------------------------------------------------------------------

OBJECT_TYPES = ("contacts", "calls", "emails", "meetings", "tasks", "deals")
ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "tasks")

TYPE_ALIASES = {
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
    "calls": "calls", "call": "calls", "0-48": "calls",
    "emails": "emails", "email": "emails", "0-49": "emails",
    "meetings": "meetings", "meeting": "meetings", "meeting_event": "meetings",
    "meeting_events": "meetings", "0-47": "meetings",
    "tasks": "tasks", "task": "tasks", "0-27": "tasks",
    "deals": "deals", "deal": "deals", "0-3": "deals",
}

# The property holding the last-modified time, and the creation time.
LASTMOD = {t: ("lastmodifieddate" if t == "contacts" else "hs_lastmodifieddate")
           for t in OBJECT_TYPES}
CREATED = {t: ("hs_createdate" if t in ENGAGEMENT_TYPES else "createdate")
           for t in OBJECT_TYPES}
# Always returned, whatever "properties" asks for.
ALWAYS_PROPS = {t: ["hs_object_id", CREATED[t], LASTMOD[t]] for t in OBJECT_TYPES}
# Returned when the request names no properties.
DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id",
                 "lastmodifieddate", "lastname"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"],
}
for _t in ENGAGEMENT_TYPES:
    DEFAULT_PROPS[_t] = ["hs_createdate", "hs_lastmodifieddate", "hs_object_id",
                         "hs_timestamp"]

READ_ONLY_PROPS = {"hs_object_id", "createdate", "lastmodifieddate",
                   "hs_lastmodifieddate", "hs_createdate"}

LIFECYCLE_STAGES = ["subscriber", "lead", "marketingqualifiedlead",
                    "salesqualifiedlead", "opportunity", "customer",
                    "evangelist", "other"]

# name -> (type, fieldType, label, options)
_COMMON = {
    "hs_object_id": ("number", "number", "Record ID", None),
    "hubspot_owner_id": ("enumeration", "select", "Owner", None),
}
STANDARD_PROPS = {
    "contacts": dict(_COMMON, **{
        "email": ("string", "text", "Email", None),
        "firstname": ("string", "text", "First Name", None),
        "lastname": ("string", "text", "Last Name", None),
        "phone": ("string", "phonenumber", "Phone Number", None),
        "mobilephone": ("string", "phonenumber", "Mobile Phone Number", None),
        "company": ("string", "text", "Company Name", None),
        "jobtitle": ("string", "text", "Job Title", None),
        "address": ("string", "text", "Street Address", None),
        "city": ("string", "text", "City", None),
        "state": ("string", "text", "State/Region", None),
        "zip": ("string", "text", "Postal Code", None),
        "country": ("string", "text", "Country/Region", None),
        "lifecyclestage": ("enumeration", "radio", "Lifecycle Stage", LIFECYCLE_STAGES),
        "hs_lead_status": ("enumeration", "radio", "Lead Status",
                           ["NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL",
                            "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED",
                            "BAD_TIMING"]),
        "createdate": ("datetime", "date", "Create Date", None),
        "lastmodifieddate": ("datetime", "date", "Last Modified Date", None),
    }),
    "deals": dict(_COMMON, **{
        "dealname": ("string", "text", "Deal Name", None),
        "amount": ("number", "number", "Amount", None),
        "closedate": ("datetime", "date", "Close Date", None),
        "dealstage": ("enumeration", "radio", "Deal Stage",
                      ["appointmentscheduled", "qualifiedtobuy",
                       "presentationscheduled", "decisionmakerboughtin",
                       "contractsent", "closedwon", "closedlost"]),
        "pipeline": ("enumeration", "select", "Pipeline", ["default"]),
        "deal_currency_code": ("enumeration", "select", "Currency",
                               ["USD", "EUR", "GBP", "CAD"]),
        "createdate": ("datetime", "date", "Create Date", None),
        "hs_lastmodifieddate": ("datetime", "date", "Last Modified Date", None),
    }),
}
_ENG_COMMON = dict(_COMMON, **{
    "hs_timestamp": ("datetime", "date", "Activity date", None),
    "hs_createdate": ("datetime", "date", "Create date", None),
    "hs_lastmodifieddate": ("datetime", "date", "Last modified date", None),
})
STANDARD_PROPS["calls"] = dict(_ENG_COMMON, **{
    "hs_call_title": ("string", "text", "Call Title", None),
    "hs_call_body": ("string", "html", "Call notes", None),
    "hs_call_direction": ("enumeration", "select", "Call direction", ["INBOUND", "OUTBOUND"]),
    "hs_call_duration": ("number", "number", "Call duration", None),
    "hs_call_status": ("enumeration", "select", "Call status",
                       ["BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED",
                        "CONNECTING", "FAILED", "IN_PROGRESS", "NO_ANSWER",
                        "QUEUED", "RINGING"]),
})
STANDARD_PROPS["emails"] = dict(_ENG_COMMON, **{
    "hs_email_subject": ("string", "text", "Email subject", None),
    "hs_email_text": ("string", "textarea", "Email body", None),
    "hs_email_direction": ("enumeration", "select", "Email direction",
                           ["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"]),
    "hs_email_status": ("enumeration", "select", "Email send status",
                        ["BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"]),
})
STANDARD_PROPS["meetings"] = dict(_ENG_COMMON, **{
    "hs_meeting_title": ("string", "text", "Meeting name", None),
    "hs_meeting_body": ("string", "html", "Meeting description", None),
    "hs_meeting_start_time": ("datetime", "date", "Meeting start time", None),
    "hs_meeting_end_time": ("datetime", "date", "Meeting end time", None),
    "hs_meeting_outcome": ("enumeration", "select", "Meeting outcome",
                           ["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW",
                            "CANCELED"]),
})
STANDARD_PROPS["tasks"] = dict(_ENG_COMMON, **{
    "hs_task_subject": ("string", "text", "Task title", None),
    "hs_task_body": ("string", "html", "Task notes", None),
    "hs_task_status": ("enumeration", "select", "Task status",
                       ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED",
                        "DEFERRED"]),
    "hs_task_priority": ("enumeration", "select", "Priority", ["LOW", "MEDIUM", "HIGH"]),
    "hs_task_type": ("enumeration", "select", "Task type", ["CALL", "EMAIL", "TODO"]),
})

GROUP_NAMES = {"contacts": "contactinformation", "deals": "dealinformation",
               "calls": "call", "emails": "email", "meetings": "meeting",
               "tasks": "task"}
SINGULAR = {"contacts": "CONTACT", "deals": "DEAL", "calls": "CALL",
            "emails": "EMAIL", "meetings": "MEETING", "tasks": "TASK"}

# (fromType, toType) -> (HUBSPOT_DEFINED typeId, v3 type name)
ASSOC_TYPES = {
    ("contacts", "deals"): (4, "contact_to_deal"),
    ("deals", "contacts"): (3, "deal_to_contact"),
    ("contacts", "calls"): (193, "contact_to_call"),
    ("calls", "contacts"): (194, "call_to_contact"),
    ("contacts", "emails"): (197, "contact_to_email"),
    ("emails", "contacts"): (198, "email_to_contact"),
    ("contacts", "meetings"): (199, "contact_to_meeting_event"),
    ("meetings", "contacts"): (200, "meeting_event_to_contact"),
    ("contacts", "tasks"): (203, "contact_to_task"),
    ("tasks", "contacts"): (204, "task_to_contact"),
}

SEARCH_MAX_LIMIT = 200
SEARCH_RESULT_CAP = 10000
BATCH_MAX_INPUTS = 100
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS_TOTAL = 18
MAX_BODY = 32 * 1024 * 1024

DEFAULT_TOKEN = "test-token"
DEFAULT_RATE_MAX = 100
DEFAULT_RATE_INTERVAL_MS = 10000
DEFAULT_DAILY_LIMIT = 250000

OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
             "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN",
             "NOT_CONTAINS_TOKEN"}

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

class ApiError(Exception):
    """An error answered in HubSpot's error shape."""

    def __init__(self, status, message, category="VALIDATION_ERROR", **extra):
        Exception.__init__(self, message)
        self.status = status
        self.message = message
        self.category = category
        self.extra = extra

    def body(self):
        return hs_error(self.message, self.category, **self.extra)


def hs_error(message, category, **extra):
    body = {"status": "error", "message": message,
            "correlationId": str(uuid.uuid4()), "category": category}
    body.update(extra)
    return body


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso_ms(ms):
    """Epoch milliseconds -> '2026-11-30T01:02:03.456Z'."""
    ms = int(ms)
    dt = EPOCH + datetime.timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


_DIGITS = re.compile(r"^-?\d+$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_FRAC = re.compile(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$")


@functools.lru_cache(maxsize=65536)
def _parse_time_str(s):
    s = s.strip()
    if not s:
        return None
    if _DIGITS.match(s):
        return int(s)
    if _DATE_ONLY.match(s):
        s = s + "T00:00:00Z"
    frac_ms = 0
    m = _ISO_FRAC.match(s)
    if m:
        frac = (m.group(2) + "000")[:3]
        frac_ms = int(frac)
        s = m.group(1) + m.group(3)
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    s = s.replace(" ", "T", 1) if "T" not in s else s
    try:
        dt = datetime.datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + frac_ms


def parse_time(v):
    """Epoch ms (int, float or digit string) or an ISO 8601 / RFC 3339 time
    (or a bare date, meaning midnight UTC) -> epoch ms; None if unparseable."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return int(v)
    if isinstance(v, str):
        return _parse_time_str(v)
    return None


def prop_str(v):
    """A property value as HubSpot stores it: a string."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def id_key(oid):
    """Sort key ordering numeric ids numerically, then others lexically."""
    return (0, int(oid), "") if oid.isdigit() else (1, 0, oid)


def norm_type(name):
    if not isinstance(name, str):
        return None
    return TYPE_ALIASES.get(name.strip().lower())


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def as_int(v, what, minimum=None):
    if isinstance(v, bool):
        raise ApiError(400, "%s must be an integer" % what)
    if isinstance(v, int):
        n = v
    elif isinstance(v, float) and v.is_integer():
        n = int(v)
    elif isinstance(v, str) and _DIGITS.match(v.strip()):
        n = int(v.strip())
    else:
        raise ApiError(400, "%s must be an integer, got %r" % (what, v))
    if minimum is not None and n < minimum:
        raise ApiError(400, "%s must be >= %d, got %d" % (what, minimum, n))
    return n


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_ISO_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def infer_type(values):
    vals = [v for v in values if v not in (None, "")]
    if not vals:
        return "string"
    if all(_NUMBER.match(v) for v in vals):
        return "number"
    if all(_ISO_DT.match(v) for v in vals):
        return "datetime"
    if all(_DATE_ONLY.match(v) for v in vals):
        return "date"
    if all(v.lower() in ("true", "false") for v in vals):
        return "bool"
    return "string"


FIELD_TYPE_FOR = {"string": "text", "number": "number", "datetime": "date",
                  "date": "date", "bool": "booleancheckbox",
                  "enumeration": "select"}


# --------------------------------------------------------------------------
# Data generator
# --------------------------------------------------------------------------

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael",
    "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan",
    "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Christopher",
    "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark",
    "Ashley", "Donald", "Kimberly", "Steven", "Emily", "Andrew", "Donna",
    "Kevin", "Michelle", "Brian", "Carol", "George", "Amanda", "Luis", "Maria",
    "Carlos", "Sofia", "Jos\u00e9", "Zo\u00eb", "Ren\u00e9e", "Bj\u00f6rn",
    "Minh", "Priya", "Wei", "Aisha", "Omar", "Fatima", "Hiroshi", "Yuki",
    "Siobh\u00e1n", "Nguy\u1ec5n", "Andr\u00e9", "Chlo\u00e9",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
    "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams",
    "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "O'Brien",
    "M\u00fcller", "Pe\u00f1a", "Tran", "Patel", "Kim", "Van der Berg",
    "St. John", "D'Angelo",
]
STREET_NAMES = ["Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake",
                "Hill", "Main", "Park", "Sunset", "Ridge", "River", "Church",
                "Highland", "Mill", "Spring", "Walnut", "Lincoln", "Jefferson",
                "Willow", "Chestnut", "Meadow", "Forest", "Cherry", "2nd",
                "3rd", "5th", "Martin Luther King Jr"]
STREET_SUFFIXES = ["St", "Street", "Ave", "Avenue", "Rd", "Road", "Blvd", "Dr",
                   "Drive", "Ln", "Ct", "Way", "Pl", "Pkwy"]
# city, state abbr, state name, zip prefix (3 digits), area code
CITIES = [
    ("Austin", "TX", "Texas", "787", "512"), ("Dallas", "TX", "Texas", "752", "214"),
    ("Houston", "TX", "Texas", "770", "713"), ("Phoenix", "AZ", "Arizona", "850", "602"),
    ("Denver", "CO", "Colorado", "802", "303"), ("Boston", "MA", "Massachusetts", "021", "617"),
    ("Springfield", "IL", "Illinois", "627", "217"), ("Columbus", "OH", "Ohio", "432", "614"),
    ("Raleigh", "NC", "North Carolina", "276", "919"), ("Atlanta", "GA", "Georgia", "303", "404"),
    ("Tampa", "FL", "Florida", "336", "813"), ("Orlando", "FL", "Florida", "328", "407"),
    ("Seattle", "WA", "Washington", "981", "206"), ("Portland", "OR", "Oregon", "972", "503"),
    ("San Diego", "CA", "California", "921", "619"), ("Sacramento", "CA", "California", "958", "916"),
    ("Minneapolis", "MN", "Minnesota", "554", "612"), ("Nashville", "TN", "Tennessee", "372", "615"),
    ("Newark", "NJ", "New Jersey", "071", "973"), ("Hartford", "CT", "Connecticut", "061", "860"),
    ("Las Vegas", "NV", "Nevada", "891", "702"), ("Salt Lake City", "UT", "Utah", "841", "801"),
    ("Kansas City", "MO", "Missouri", "641", "816"), ("Omaha", "NE", "Nebraska", "681", "402"),
    ("Providence", "RI", "Rhode Island", "029", "401"), ("Burlington", "VT", "Vermont", "054", "802"),
]
COMPANY_WORDS = ["Acme", "Summit", "Blue Ridge", "Lone Star", "Evergreen",
                 "Pioneer", "Liberty", "Keystone", "Riverside", "Northside",
                 "Precision", "Reliable", "All-Pro", "Comfort", "Express"]
COMPANY_TRADES = ["Plumbing", "HVAC", "Heating & Cooling", "Roofing",
                  "Electric", "Pest Control", "Landscaping", "Pool Service",
                  "Garage Doors", "Solar", "Home Services", "Appliance Repair"]
COMPANY_FORMS = ["", " LLC", " Inc.", " Co.", ", Inc."]
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com",
                 "icloud.com", "aol.com", "comcast.net", "example.com",
                 "example.org"]
OWNER_IDS = ["41235", "41236", "41237", "52001", "52002"]
GEN_ANCHOR_MS = parse_time("2026-11-29T23:00:00.000Z")


def _weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    r = rng.random() * total
    for value, w in pairs:
        r -= w
        if r < 0:
            return value
    return pairs[-1][0]


def _ascii(s):
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def _local_part(s):
    return re.sub(r"[^a-z0-9]", "", _ascii(s).lower())


def _phone(rng, area):
    line = "01%02d" % rng.randrange(100)
    exch = "555"
    fmt = _weighted(rng, [("paren", 35), ("dash", 20), ("dot", 10),
                          ("plus_space", 10), ("plain", 10), ("e164", 10),
                          ("ext", 5)])
    if fmt == "paren":
        return "(%s) %s-%s" % (area, exch, line)
    if fmt == "dash":
        return "%s-%s-%s" % (area, exch, line)
    if fmt == "dot":
        return "%s.%s.%s" % (area, exch, line)
    if fmt == "plus_space":
        return "+1 %s %s %s" % (area, exch, line)
    if fmt == "plain":
        return "%s%s%s" % (area, exch, line)
    if fmt == "e164":
        return "+1%s%s%s" % (area, exch, line)
    return "(%s) %s-%s x%d" % (area, exch, line, rng.randrange(10, 999))


def _timestamp_clusters(rng, n):
    """Cluster sizes summing to n, with large clusters so that page
    boundaries (multiples of 100/200) fall inside shared timestamps."""
    sizes = []
    total = 0
    forced_big = n >= 500
    while total < n:
        if forced_big:
            size = rng.randint(250, 450)
            forced_big = False
        else:
            size = _weighted(rng, [(rng.randint(1, 3), 70),
                                   (rng.randint(4, 40), 20),
                                   (rng.randint(150, 450), 10)])
        size = min(size, n - total)
        sizes.append(size)
        total += size
    return sizes


def generate_contacts(n, seed=1, start_id=1001):
    """n realistic, deterministic contacts (same n, seed, start_id -> same
    output), in the fake's input shape."""
    rng = random.Random(seed)
    # Timestamps: clusters going back in time from the anchor.
    sizes = _timestamp_clusters(rng, n)
    stamps = []
    t = GEN_ANCHOR_MS - rng.randrange(0, 3600 * 1000)
    for size in sizes:
        ms = t - (t % 1000) + rng.randrange(1000)
        stamps.extend([ms] * size)
        t = ms - rng.randint(1000, 3 * 3600 * 1000)
    rng.shuffle(stamps)   # ids and timestamps uncorrelated: ties need id order
    used_emails = set()
    contacts = []
    people = []
    for i in range(n):
        oid = str(start_id + i)
        upd = stamps[i]
        created = upd - rng.randint(0, 400) * 86400 * 1000 - rng.randrange(86400 * 1000)
        props = {}
        clone = people and rng.random() < 0.02
        if clone:
            # a fuzzy duplicate of an earlier person (dedupe scans find it)
            first, last, city, street, phone = rng.choice(people)
        else:
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            city = rng.choice(CITIES)
            street = "%d %s %s" % (rng.randint(1, 9999), rng.choice(STREET_NAMES),
                                   rng.choice(STREET_SUFFIXES))
            phone = _phone(rng, city[4]) if rng.random() < 0.9 else None
            people.append((first, last, city, street, phone))
        if rng.random() < 0.03:
            first = first.upper()
        props["firstname"] = first
        if rng.random() < 0.97:
            props["lastname"] = last
        if rng.random() < 0.92:
            lf, ll = _local_part(first) or "user", _local_part(last) or "x"
            style = _weighted(rng, [("dot", 40), ("init", 25), ("cat", 20),
                                    ("num", 10), ("utf8", 3), ("plus", 2)])
            if style == "dot":
                local = "%s.%s" % (lf, ll)
            elif style == "init":
                local = "%s%s" % (lf[0], ll)
            elif style == "cat":
                local = "%s%s" % (lf, ll)
            elif style == "num":
                local = "%s%s%d" % (lf, ll, rng.randint(1, 99))
            elif style == "utf8":
                local = first.lower().replace(" ", "")
            else:
                local = "%s.%s+crm" % (lf, ll)
            domain = rng.choice(EMAIL_DOMAINS)
            email = "%s@%s" % (local, domain)
            k = 2
            while email.lower() in used_emails:
                email = "%s%d@%s" % (local, k, domain)
                k += 1
            used_emails.add(email.lower())
            if rng.random() < 0.03:
                email = email[0].upper() + email[1:]
            props["email"] = email
        if phone:
            props["phone"] = phone
        if rng.random() < 0.4:
            props["company"] = "%s %s%s" % (rng.choice(COMPANY_WORDS),
                                            rng.choice(COMPANY_TRADES),
                                            rng.choice(COMPANY_FORMS))
        if rng.random() < 0.96:
            addr = street
            extra = rng.random()
            if extra < 0.06:
                addr += ", Apt %d%s" % (rng.randint(1, 30), rng.choice("ABCD"))
            elif extra < 0.10:
                addr += "\nSuite %d" % (rng.randint(1, 9) * 100)
            elif extra < 0.12:
                addr += " Unit %d" % rng.randint(1, 200)
            props["address"] = addr
            cname, abbr, sname, zprefix, _area = city
            props["city"] = cname if rng.random() > 0.02 else cname.upper()
            props["state"] = _weighted(rng, [(abbr, 85), (sname, 10), (abbr.lower(), 5)])
            z = "%s%02d" % (zprefix, rng.randrange(100))
            r = rng.random()
            if r < 0.05:
                z = "%s-%04d" % (z, rng.randrange(10000))
            elif r < 0.10 and z.startswith("0"):
                z = z.lstrip("0")     # spreadsheet damage: leading zero lost
            if rng.random() < 0.97:
                props["zip"] = z
            country = _weighted(rng, [("United States", 50), ("USA", 20),
                                      ("US", 10), ("us", 8),
                                      ("United States of America", 4), (None, 8)])
            if country:
                props["country"] = country
        props["lifecyclestage"] = _weighted(rng, [
            ("subscriber", 10), ("lead", 30), ("marketingqualifiedlead", 10),
            ("salesqualifiedlead", 8), ("opportunity", 10), ("customer", 25),
            ("evangelist", 3), ("other", 4)])
        if rng.random() < 0.6:
            props["job_status"] = _weighted(rng, [("scheduled", 30),
                                                  ("in_progress", 20),
                                                  ("job_completed", 40),
                                                  ("cancelled", 10)])
        if rng.random() < 0.85:
            props["hubspot_owner_id"] = rng.choice(OWNER_IDS)
        props["createdate"] = iso_ms(created)
        props["lastmodifieddate"] = iso_ms(upd)
        props["hs_object_id"] = oid
        contacts.append({"id": oid, "properties": props,
                         "createdAt": iso_ms(created), "updatedAt": iso_ms(upd),
                         "archived": False})
    return contacts


# --------------------------------------------------------------------------
# The application state
# --------------------------------------------------------------------------

class App:
    def __init__(self, tokens, log_path=None, verbose=False, initial=None,
                 now=None, rate_max=DEFAULT_RATE_MAX,
                 rate_interval_ms=DEFAULT_RATE_INTERVAL_MS,
                 daily_limit=DEFAULT_DAILY_LIMIT):
        self.lock = threading.RLock()
        self.tokens = list(tokens)
        self.verbose = verbose
        self.log_fp = open(log_path, "a", encoding="utf-8", buffering=1) if log_path else None
        self.log_lock = threading.Lock()
        self.initial = initial or {}
        self.initial_now = now
        self.initial_index_lag = 0
        self.initial_rate = (rate_max, rate_interval_ms, daily_limit)
        self.port = None
        self._reset(empty=False)

    # ---- logging ----------------------------------------------------------
    def log(self, msg):
        line = "%s %s\n" % (iso_ms(time.time() * 1000), msg)
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
            self.objects = {t: {} for t in OBJECT_TYPES}
            self.owners = {}
            self.declared = {t: {} for t in OBJECT_TYPES}
            self.strict_props = False
            self.version = 0
            self._type_cache = {}
            self._index = {}
            self.index_lag_ms = self.initial_index_lag
            self.next_id = 1
            self.faults = []
            self.partial_faults = []
            self.fault_seq = 0
            self.mutations = []
            self.requests = []
            self.updates = []
            self.req_seq = 0
            self.batch_seq = 0
            self.event_seq = 0
            self.fixed_now = self.initial_now
            rm, ri, dl = self.initial_rate
            self.rate = {"max": rm, "interval_ms": ri, "daily": dl,
                         "search_max": None, "search_interval_ms": 1000}
            self._reset_rate_counters()
            if not empty:
                self.load(self.initial, now_ms=self.now_ms())

    def _reset_rate_counters(self):
        self.buckets = {}
        self.search_buckets = {}
        self.daily_counts = collections.Counter()
        self.daily_day = _utcnow().date()

    def now_ms(self):
        if self.fixed_now is not None:
            return self.fixed_now
        return int(time.time() * 1000)

    def declare(self, body):
        """Declare property types (and an enumeration's options), as
        /__admin/properties does: {"contacts":[{"name":…,"type":…,"options":[…]}],"strict":bool}."""
        if not isinstance(body, dict):
            raise ApiError(400, "expected {\"contacts\":[{\"name\":...,\"type\":...}]}")
        for k, v in body.items():
            if k == "strict":
                self.strict_props = bool(v)
                continue
            t = norm_type(k)
            if t is None or not isinstance(v, list):
                raise ApiError(400, "unknown object type %r" % k)
            for d in v:
                if not isinstance(d, dict) or not isinstance(d.get("name"), str):
                    raise ApiError(400, "property definitions need a name")
                d = dict(d)
                d.setdefault("type", "string")
                self.declared[t][d["name"]] = d
        self.version += 1

    def load(self, data, now_ms):
        """Load {"contacts":[...],"engagements":[...],"deals":[...]} (also
        "calls"/"emails"/"meetings"/"tasks" keys, and "properties": the
        declarations /__admin/properties takes, kept across resets)."""
        if not isinstance(data, dict):
            raise ApiError(400, "data must be a JSON object")
        if data.get("properties") is not None:
            self.declare(data["properties"])
        n = 0
        for c in data.get("contacts") or []:
            self.upsert("contacts", c, now_ms)
            n += 1
        for e in data.get("engagements") or []:
            self.upsert(None, e, now_ms)
            n += 1
        for t in ENGAGEMENT_TYPES:
            for e in data.get(t) or []:
                self.upsert(t, e, now_ms)
                n += 1
        for d in data.get("deals") or []:
            self.upsert("deals", d, now_ms)
            n += 1
        for o in data.get("owners") or []:
            self.upsert_owner(o, now_ms)
            n += 1
        return n

    def upsert_owner(self, item, now_ms):
        """Create or merge one owner ({"id","email","firstName","lastName",
        "archived"}; the rest is filled in as HubSpot has it)."""
        if not isinstance(item, dict) or not str(item.get("id") or "").isdigit():
            raise ApiError(400, "an owner needs a numeric \"id\"")
        oid = str(item["id"])
        o = self.owners.get(oid)
        if o is None:
            o = {"id": oid, "email": None, "type": "PERSON", "firstName": None,
                 "lastName": None, "userId": int(oid) + 1000000,
                 "userIdIncludingInactive": int(oid) + 1000000,
                 "createdAt": iso_ms(now_ms), "archived": False, "teams": []}
            self.owners[oid] = o
        for k, v in item.items():
            if k != "id":
                o[k] = v
        o["archived"] = bool(o.get("archived"))
        o["updatedAt"] = iso_ms(now_ms)
        return o

    def owner_page(self, query, path):
        """GET /crm/v3/owners: id order, archived ones only with
        archived=true (and then only they), paged with after."""
        limit = as_int(_q1(query, "limit", "100"), "limit", 1)
        if limit > 500:
            raise ApiError(400, "limit must be at most 500")
        after = as_int(_q1(query, "after", "0") or "0", "after", 0)
        archived = _q1(query, "archived", "false") == "true"
        email = _q1(query, "email")
        owners = sorted((o for o in self.owners.values()
                         if o["archived"] == archived
                         and (email is None or (o.get("email") or "").lower() == email.lower())),
                        key=lambda o: int(o["id"]))
        resp = {"results": [dict(o) for o in owners[after:after + limit]]}
        if after + limit < len(owners):
            nxt = str(after + limit)
            resp["paging"] = {"next": {"after": nxt, "link": "%s?after=%s" % (path, nxt)}}
        return resp

    def max_numeric_id(self):
        m = 0
        for t in OBJECT_TYPES:
            for oid in self.objects[t]:
                if oid.isdigit():
                    m = max(m, int(oid))
        return m

    _META = {"id", "objectId", "createdAt", "updatedAt", "archived",
             "archivedAt", "associations", "type", "objectType",
             "contact_ids", "contactIds", "contact_id", "contactId"}

    def upsert(self, otype, item, now_ms):
        """Create or merge one object from the admin/data-file shape."""
        if not isinstance(item, dict):
            raise ApiError(400, "each object must be a JSON object")
        if otype is None:
            otype = norm_type(item.get("type") or item.get("objectType") or "")
            if otype not in ENGAGEMENT_TYPES:
                raise ApiError(400, "engagement needs \"type\": one of calls, "
                                    "emails, meetings, tasks (got %r)" % item.get("type"))
        if "properties" in item:
            raw_props = item.get("properties") or {}
            if not isinstance(raw_props, dict):
                raise ApiError(400, "\"properties\" must be an object")
        else:
            raw_props = {k: v for k, v in item.items() if k not in self._META}
        oid = item.get("id", item.get("objectId", raw_props.get("hs_object_id")))
        if oid is None or oid == "":
            while True:
                oid = str(self.next_id)
                self.next_id += 1
                if all(oid not in self.objects[t] for t in OBJECT_TYPES):
                    break
        oid = str(oid)
        if oid.isdigit():
            self.next_id = max(self.next_id, int(oid) + 1)
        existing = self.objects[otype].get(oid)
        props = dict(existing["properties"]) if existing else {}
        for k, v in raw_props.items():
            s = prop_str(v)
            if s is None:
                props.pop(k, None)
            else:
                props[k] = s
        upd = parse_time(item.get("updatedAt"))
        if upd is None and LASTMOD[otype] in raw_props:
            upd = parse_time(raw_props.get(LASTMOD[otype]))
        if upd is None:
            upd = now_ms
        created = parse_time(item.get("createdAt"))
        if created is None and CREATED[otype] in raw_props:
            created = parse_time(raw_props.get(CREATED[otype]))
        if created is None:
            created = existing["created"] if existing else upd
        archived = item.get("archived", existing["archived"] if existing else False)
        assoc = self._parse_assoc(item)
        if assoc is None:
            assoc = existing["assoc"] if existing else {}
        obj = {"id": oid, "type": otype, "properties": props, "created": created,
               "updated": upd, "archived": bool(archived), "assoc": assoc,
               "written": now_ms}
        self._sync_derived(obj)
        self.objects[otype][oid] = obj
        self.version += 1
        return obj

    @staticmethod
    def _parse_assoc(item):
        ids = None
        a = item.get("associations")
        if isinstance(a, dict):
            c = a.get("contacts", a.get("contact"))
            if isinstance(c, dict):
                c = c.get("results", [])
            if c is not None:
                ids = c if isinstance(c, list) else [c]
        for k in ("contactIds", "contact_ids", "contactId", "contact_id"):
            if k in item:
                v = item[k]
                ids = (ids or []) + (v if isinstance(v, list) else [v])
        if ids is None:
            return None
        out = []
        for x in ids:
            if isinstance(x, dict):
                x = x.get("id", x.get("toObjectId"))
            if x is None:
                continue
            x = str(x)
            if x not in out:
                out.append(x)
        return {"contacts": out}

    @staticmethod
    def _sync_derived(obj):
        t = obj["type"]
        p = obj["properties"]
        p["hs_object_id"] = obj["id"]
        p[CREATED[t]] = iso_ms(obj["created"])
        p[LASTMOD[t]] = iso_ms(obj["updated"])

    def find(self, otype, oid, id_prop=None, archived=False):
        if id_prop in (None, "", "hs_object_id", "id"):
            obj = self.objects[otype].get(str(oid))
        else:
            want = str(oid).lower()
            obj = None
            for o in self.objects[otype].values():
                v = o["properties"].get(id_prop)
                if v is not None and v.lower() == want:
                    obj = o
                    break
        if obj is None or obj["archived"] != bool(archived):
            return None
        return obj

    # ---- property schema --------------------------------------------------
    def prop_type(self, otype, name):
        if name in ("hs_object_id", "id"):
            return "number"
        d = self.declared[otype].get(name)
        if d:
            return d["type"]
        s = STANDARD_PROPS[otype].get(name)
        if s:
            return s[0]
        key = (otype, name)
        cached = self._type_cache.get(key)
        if cached and cached[0] == self.version:
            return cached[1]
        t = infer_type(o["properties"].get(name) for o in self.objects[otype].values())
        self._type_cache[key] = (self.version, t)
        return t

    def property_list(self, otype):
        names = set(STANDARD_PROPS[otype]) | set(self.declared[otype])
        for o in self.objects[otype].values():
            names.update(o["properties"])
        return [self.property_def(otype, n) for n in sorted(names)]

    def property_def(self, otype, name):
        d = self.declared[otype].get(name)
        s = STANDARD_PROPS[otype].get(name)
        if d:
            ptype = d["type"]
            ftype = d.get("fieldType") or FIELD_TYPE_FOR.get(ptype, "text")
            label = d.get("label") or name
            options = d.get("options")
            group = d.get("groupName") or GROUP_NAMES[otype]
        elif s:
            ptype, ftype, label, options = s
            group = GROUP_NAMES[otype]
        else:
            ptype = self.prop_type(otype, name)
            ftype = FIELD_TYPE_FOR.get(ptype, "text")
            label = name.replace("_", " ").title()
            options = None
            group = GROUP_NAMES[otype]
        if ptype == "enumeration" and options is None:
            seen = set()
            for o in self.objects[otype].values():
                v = o["properties"].get(name)
                if v:
                    seen.add(v)
            options = sorted(seen)
        opts = []
        for i, o in enumerate(options or []):
            if isinstance(o, dict):
                opts.append(o)
            else:
                opts.append({"label": str(o), "value": str(o),
                             "displayOrder": i, "hidden": False})
        if ptype == "bool" and not opts:
            opts = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                    {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]
        custom = not (s or name.startswith("hs_"))
        return {"name": name, "label": label, "type": ptype, "fieldType": ftype,
                "groupName": group, "description": "", "options": opts,
                "displayOrder": -1, "calculated": False,
                "externalOptions": False, "hasUniqueValue": name == "email",
                "hidden": False, "hubspotDefined": not custom,
                "formField": ptype != "datetime" and name not in READ_ONLY_PROPS,
                "modificationMetadata": {"archivable": custom,
                                         "readOnlyDefinition": not custom,
                                         "readOnlyValue": name in READ_ONLY_PROPS},
                "archived": False}

    # ---- rendering --------------------------------------------------------
    def render(self, obj, props=None, assoc_types=None):
        t = obj["type"]
        names = list(DEFAULT_PROPS[t]) if not props else \
            list(dict.fromkeys(list(props) + ALWAYS_PROPS[t]))
        p = obj["properties"]
        out = {"id": obj["id"], "properties": {n: p.get(n) for n in names},
               "createdAt": iso_ms(obj["created"]),
               "updatedAt": iso_ms(obj["updated"]),
               "archived": obj["archived"]}
        if obj["archived"]:
            out["archivedAt"] = iso_ms(obj["updated"])
        if assoc_types:
            a = {}
            for to in assoc_types:
                ids = self.associated(obj, to)
                if ids:
                    name = ASSOC_TYPES.get((t, to), (0, "%s_to_%s" % (t, to)))[1]
                    a[to] = {"results": [{"id": i, "type": name} for i in ids]}
            if a:
                out["associations"] = a
        return out

    def render_admin(self, obj):
        out = {"id": obj["id"], "properties": dict(sorted(obj["properties"].items())),
               "createdAt": iso_ms(obj["created"]),
               "updatedAt": iso_ms(obj["updated"]), "archived": obj["archived"]}
        if obj["type"] in ENGAGEMENT_TYPES:
            out["type"] = obj["type"]
        if obj["type"] != "contacts":
            out["associations"] = {"contacts": list(obj["assoc"].get("contacts", []))}
        return out

    def associated(self, obj, to):
        t = obj["type"]
        if t != "contacts" and to == "contacts":
            return list(obj["assoc"].get("contacts", []))
        if t == "contacts" and to != "contacts":
            ids = [o["id"] for o in self.objects[to].values()
                   if not o["archived"] and obj["id"] in o["assoc"].get("contacts", [])]
            return sorted(ids, key=id_key)
        return []

    # ---- search -----------------------------------------------------------
    def _value_getter(self, otype, name):
        ptype = self.prop_type(otype, name)
        if name in ("hs_object_id", "id"):
            return "number", lambda o: int(o["id"]) if o["id"].isdigit() else None
        if ptype in ("datetime", "date"):
            if name == LASTMOD[otype]:
                return "time", lambda o: o["updated"]
            if name == CREATED[otype]:
                return "time", lambda o: o["created"]

            def g(o, name=name):
                v = o["properties"].get(name)
                return parse_time(v) if v else None
            return "time", g
        if ptype == "number":
            def g(o, name=name):
                v = o["properties"].get(name)
                if not v:
                    return None
                try:
                    return float(v)
                except ValueError:
                    return None
            return "number", g

        def g(o, name=name):
            v = o["properties"].get(name)
            return v if v not in (None, "") else None
        return "string", g

    def _compile_filter(self, otype, f):
        if not isinstance(f, dict):
            raise ApiError(400, "each filter must be an object")
        name = f.get("propertyName")
        op = f.get("operator", "EQ")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "filter is missing propertyName")
        if not isinstance(op, str) or op.upper() not in OPERATORS:
            raise ApiError(400, "Unsupported filter operator %r for property %s" % (op, name))
        op = op.upper()
        if name.startswith("associations."):
            to = norm_type(name.split(".", 1)[1])
            if to is None:
                raise ApiError(400, "unknown association type in %s" % name)
            if op not in ("EQ", "IN", "NEQ", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"):
                raise ApiError(400, "operator %s not supported on %s" % (op, name))
            vals = set(str(v) for v in (f.get("values") or [])) if op in ("IN", "NOT_IN") \
                else {str(f.get("value"))}
            neg = op in ("NEQ", "NOT_IN", "NOT_HAS_PROPERTY")
            if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
                return lambda o: bool(self.associated(o, to)) != neg
            return lambda o: bool(vals & set(self.associated(o, to))) != neg
        kind, get = self._value_getter(otype, name)

        def conv(v):
            if kind == "time":
                t = parse_time(v)
                if t is None:
                    raise ApiError(400, "%r is not a valid date/time value for %s "
                                        "(use epoch milliseconds or ISO 8601)" % (v, name))
                return t
            if kind == "number":
                try:
                    return float(v)
                except (TypeError, ValueError):
                    raise ApiError(400, "%r is not a valid number for %s" % (v, name))
            if v is None:
                raise ApiError(400, "filter on %s is missing a value" % name)
            return prop_str(v)

        if op == "HAS_PROPERTY":
            return lambda o: get(o) is not None
        if op == "NOT_HAS_PROPERTY":
            return lambda o: get(o) is None
        if op in ("IN", "NOT_IN"):
            values = f.get("values")
            if not isinstance(values, list) or not values:
                raise ApiError(400, "%s filter on %s needs a non-empty \"values\" list" % (op, name))
            vs = set(conv(v) for v in values)
            if kind == "string":
                vs = set(v.lower() for v in vs)
                if op == "IN":
                    return lambda o: (get(o) or "\0").lower() in vs
                return lambda o: (get(o) or "\0").lower() not in vs
            if op == "IN":
                return lambda o: get(o) in vs
            return lambda o: get(o) not in vs
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            tok = str(f.get("value", "")).lower()
            rx = re.compile("^" + ".*".join(re.escape(p) for p in tok.split("*")) + "$")
            neg = op == "NOT_CONTAINS_TOKEN"

            def contains(o):
                v = get(o)
                if v is None:
                    return False
                return any(rx.match(w) for w in re.split(r"[\s@.,;]+", str(v).lower()) if w) \
                    or bool(rx.match(str(v).lower()))
            return lambda o: contains(o) != neg
        if "value" not in f:
            raise ApiError(400, "%s filter on %s needs a \"value\"" % (op, name))
        val = conv(f.get("value"))
        if op == "BETWEEN":
            if "highValue" not in f:
                raise ApiError(400, "BETWEEN filter on %s needs \"highValue\"" % name)
            hi = conv(f.get("highValue"))

            def between(o):
                v = get(o)
                return v is not None and val <= v <= hi
            return between
        if kind == "string" and op in ("EQ", "NEQ"):
            lv = val.lower()
            if op == "EQ":
                return lambda o: (get(o) or "\0").lower() == lv
            return lambda o: (get(o) or "\0").lower() != lv
        if op == "EQ":
            return lambda o: get(o) == val
        if op == "NEQ":
            return lambda o: get(o) != val

        cmp = {"LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b,
               "GT": lambda a, b: a > b, "GTE": lambda a, b: a >= b}[op]

        def rel(o):
            v = get(o)
            return v is not None and cmp(v, val)
        return rel

    @staticmethod
    def _parse_sorts(sorts):
        out = []
        if sorts is None:
            return out
        if not isinstance(sorts, list):
            raise ApiError(400, "\"sorts\" must be a list")
        for s in sorts:
            if isinstance(s, str):
                s = s.strip()
                if s.startswith("-"):
                    out.append((s[1:], True))
                else:
                    out.append((s.lstrip("+"), False))
            elif isinstance(s, dict):
                name = s.get("propertyName")
                d = str(s.get("direction", "ASCENDING")).upper()
                if not isinstance(name, str) or not name:
                    raise ApiError(400, "sort is missing propertyName")
                if d not in ("ASCENDING", "DESCENDING", "ASC", "DESC"):
                    raise ApiError(400, "sort direction must be ASCENDING or DESCENDING")
                out.append((name, d.startswith("DESC")))
            else:
                raise ApiError(400, "each sort must be an object or a string")
        return out

    @staticmethod
    def _props_arg(props):
        if props is None:
            return None
        if isinstance(props, str):
            props = [p for p in props.split(",") if p]
        if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
            raise ApiError(400, "\"properties\" must be a list of property names")
        return props or None

    def search(self, otype, body):
        if not isinstance(body, dict):
            raise ApiError(400, "search body must be a JSON object")
        limit = as_int(body.get("limit", 10), "limit", 0)
        if limit > SEARCH_MAX_LIMIT:
            raise ApiError(400, "limit must be between 0 and %d, got %d"
                           % (SEARCH_MAX_LIMIT, limit))
        after = body.get("after")
        after = 0 if after in (None, "") else as_int(after, "after", 0)
        if after + limit > SEARCH_RESULT_CAP:
            raise ApiError(400, "Search results are limited to %d: paging past "
                                "result %d (after=%d, limit=%d) is not allowed. "
                                "Narrow the query (e.g. by lastmodifieddate) instead."
                           % (SEARCH_RESULT_CAP, SEARCH_RESULT_CAP, after, limit))
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list):
            raise ApiError(400, "\"filterGroups\" must be a list")
        if len(groups) > MAX_FILTER_GROUPS:
            raise ApiError(400, "at most %d filterGroups are allowed" % MAX_FILTER_GROUPS)
        compiled = []
        total_filters = 0
        for g in groups:
            if not isinstance(g, dict) or not isinstance(g.get("filters", []), list):
                raise ApiError(400, "each filterGroup must be {\"filters\":[...]}")
            fs = g.get("filters", [])
            if len(fs) > MAX_FILTERS_PER_GROUP:
                raise ApiError(400, "at most %d filters per filterGroup are allowed"
                               % MAX_FILTERS_PER_GROUP)
            total_filters += len(fs)
            compiled.append([self._compile_filter(otype, f) for f in fs])
        if total_filters > MAX_FILTERS_TOTAL:
            raise ApiError(400, "at most %d filters in total are allowed" % MAX_FILTERS_TOTAL)
        sorts = self._parse_sorts(body.get("sorts"))
        props = self._props_arg(body.get("properties"))
        query = body.get("query")
        if query is not None and not isinstance(query, str):
            raise ApiError(400, "\"query\" must be a string")

        lag = self.index_lag_ms
        now = self.now_ms() if lag else 0

        def match(o):
            if o["archived"]:
                return False
            if lag and o.get("written", 0) + lag > now:
                return False    # written, but not yet in the search index
            if compiled and not any(all(p(o) for p in grp) for grp in compiled):
                return False
            if query:
                q = query.lower()
                return any(q in (v or "").lower() for v in o["properties"].values())
            return True

        fast = None if query else self._indexed_search(otype, body.get("filterGroups") or [], compiled,
                                                       sorts, match, after, limit)
        if fast is not None:
            total, page = fast
            resp = {"total": total, "results": [self.render(o, props) for o in page]}
            if limit > 0 and after + limit < total:
                resp["paging"] = {"next": {"after": str(after + limit)}}
            return resp
        matches = [o for o in self.objects[otype].values() if match(o)]
        matches.sort(key=lambda o: id_key(o["id"]))
        for name, desc in reversed(sorts):
            _kind, get = self._value_getter(otype, name)

            def key(o, get=get):
                v = get(o)
                return (1, 0) if v is None else (0, v)
            # list.sort is stable, also with reverse=True: ties keep the
            # order of the previous pass, ending in ascending id order.
            matches.sort(key=key, reverse=desc)
        total = len(matches)
        page = matches[after:after + limit]
        resp = {"total": total, "results": [self.render(o, props) for o in page]}
        if limit > 0 and after + limit < total:
            resp["paging"] = {"next": {"after": str(after + limit)}}
        return resp

    # ---- the last-modified index --------------------------------------------
    def _time_index(self, otype):
        """Objects of otype sorted by (last-modified, id), rebuilt after a change."""
        ix = self._index.get(otype)
        if ix is None or ix[0] != self.version:
            objs = sorted(self.objects[otype].values(), key=lambda o: (o["updated"], id_key(o["id"])))
            ix = (self.version, [o["updated"] for o in objs], objs,
                  any(o["archived"] for o in objs))
            self._index[otype] = ix
        return ix

    def _time_bounds(self, otype, group):
        """(lo, lo_incl, hi, hi_incl, pure) of a filter group's last-modified
        filters; pure when it has no other filter."""
        lo, lo_in, hi, hi_in, pure = None, True, None, True, True
        lastmod = LASTMOD[otype]
        for f in group.get("filters", []):
            if f.get("propertyName") != lastmod:
                pure = False
                continue
            op = str(f.get("operator", "EQ")).upper()
            v = parse_time(f.get("value"))
            if op == "BETWEEN":
                lo2, hi2 = v, parse_time(f.get("highValue"))
                ops = [("GTE", lo2), ("LTE", hi2)]
            elif op in ("EQ", "GT", "GTE", "LT", "LTE"):
                ops = [("GTE", v), ("LTE", v)] if op == "EQ" else [(op, v)]
            else:
                pure = False
                continue
            for o2, val in ops:
                if o2 in ("GT", "GTE") and (lo is None or val > lo or (val == lo and o2 == "GT")):
                    lo, lo_in = val, o2 == "GTE"
                if o2 in ("LT", "LTE") and (hi is None or val < hi or (val == hi and o2 == "LT")):
                    hi, hi_in = val, o2 == "LTE"
        return lo, lo_in, hi, hi_in, pure

    def _only_not_in(self, otype, group):
        """The ids a group excludes when it is time filters plus hs_object_id
        NOT_IN filters only; else None."""
        excl = set()
        for f in group.get("filters", []):
            name = f.get("propertyName")
            op = str(f.get("operator", "EQ")).upper()
            if name == LASTMOD[otype] and op in ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"):
                continue
            if name in ("hs_object_id", "id") and op == "NOT_IN" and isinstance(f.get("values"), list):
                excl.update(str(v) for v in f["values"])
                continue
            return None
        return excl

    def _indexed_search(self, otype, groups, compiled, sorts, match, after, limit):
        """A search sorted by last-modified ascending (or by id inside one
        last-modified value), answered from the index in O(page) instead of
        filtering and sorting everything; None when it does not apply.
        Gives exactly what the full scan gives, total included."""
        lastmod = LASTMOD[otype]
        if len(sorts) != 1 or sorts[0][1]:
            return None
        bounds = [self._time_bounds(otype, g) for g in groups]
        if sorts[0][0] != lastmod:
            # By id: the index order only when every group is one time.
            if sorts[0][0] not in ("hs_object_id", "id") or not bounds or \
               any(b[0] is None or b[0] != b[2] or not b[1] or not b[3] for b in bounds) or \
               len(set(b[0] for b in bounds)) != 1:
                return None
        _v, keys, objs, any_archived = self._time_index(otype)
        n = len(objs)

        def span(b):
            lo, lo_in, hi, hi_in, _pure = b
            i0 = 0 if lo is None else (bisect.bisect_left if lo_in else bisect.bisect_right)(keys, lo)
            i1 = n if hi is None else (bisect.bisect_right if hi_in else bisect.bisect_left)(keys, hi)
            return i0, max(i0, i1)

        spans = [span(b) for b in bounds] if bounds else [(0, n)]
        start = min(sp[0] for sp in spans)
        page, seen = [], 0
        i = start
        while i < n and len(page) < limit:
            o = objs[i]
            if match(o):
                if seen >= after:
                    page.append(o)
                seen += 1
            i += 1
        # total: pure time groups count by bisection; the others are walked
        # within their own span (unbounded ones, archived objects or an index
        # lag make it a walk of everything after start).
        if len(bounds) == 1 and not any_archived and not self.index_lag_ms:
            # One group of a time range minus ids (NOT_IN): by bisection too.
            excl = self._only_not_in(otype, groups[0])
            if excl is not None:
                a, z = spans[0]
                lo_key, hi_key = (keys[a], keys[z - 1]) if z > a else (None, None)
                gone = 0
                for oid in excl:
                    o = self.objects[otype].get(oid)
                    if o is not None and z > a and lo_key <= o["updated"] <= hi_key:
                        j = bisect.bisect_left(keys, o["updated"], a, z)
                        while j < z and keys[j] == o["updated"] and objs[j] is not o:
                            j += 1
                        gone += j < z and objs[j] is o
                return (z - a) - gone, page
        simple = bounds and not any_archived and not self.index_lag_ms and \
            all(b[4] or b[2] is not None for b in bounds)
        if not simple:
            total = seen + sum(1 for o in objs[i:] if match(o))
            return total, page
        pure = sorted(sp for sp, b in zip(spans, bounds) if b[4])
        merged = []
        for a, z in pure:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], z)
            else:
                merged.append([a, z])
        total = sum(z - a for a, z in merged)

        def in_pure(j):
            k = bisect.bisect_right([m[0] for m in merged], j) - 1
            return k >= 0 and j < merged[k][1]
        counted = set()
        for (a, z), b, grp in zip(spans, bounds, compiled):
            if b[4]:
                continue
            for j in range(a, z):
                o = objs[j]
                if j not in counted and not in_pure(j) and not o["archived"] and all(p(o) for p in grp):
                    counted.add(j)
        return total + len(counted), page

    # ---- batch read / update ----------------------------------------------
    @staticmethod
    def _inputs(body, what):
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise ApiError(400, "\"inputs\" must be a list")
        if len(inputs) > BATCH_MAX_INPUTS:
            raise ApiError(400, "Batch %s is limited to %d inputs, got %d"
                           % (what, BATCH_MAX_INPUTS, len(inputs)))
        return inputs

    @staticmethod
    def _input_id(inp):
        if not isinstance(inp, dict) or inp.get("id") in (None, ""):
            raise ApiError(400, "each input needs an \"id\"")
        v = inp["id"]
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ApiError(400, "input id must be a string")
        return str(v)

    def batch_read(self, otype, body):
        started = iso_ms(self.now_ms())
        inputs = self._inputs(body, "read")
        props = self._props_arg(body.get("properties"))
        id_prop = body.get("idProperty")
        archived = bool(body.get("archived", False))
        results, missing, seen = [], [], set()
        for inp in inputs:
            oid = self._input_id(inp)
            obj = self.find(otype, oid, id_prop, archived)
            if obj is None:
                if oid not in missing:
                    missing.append(oid)
            elif obj["id"] not in seen:
                seen.add(obj["id"])
                results.append(self.render(obj, props))
        resp = {"status": "COMPLETE", "results": results}
        status = 200
        if missing:
            status = 207
            resp["numErrors"] = 1
            resp["errors"] = [{
                "status": "error", "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some %s objects, they may be deleted or "
                           "not exist. Check that ids are valid." % SINGULAR[otype],
                "context": {"ids": missing}}]
        resp["startedAt"] = started
        resp["completedAt"] = iso_ms(self.now_ms())
        return status, resp

    def _validate_update_props(self, otype, props):
        if not isinstance(props, dict):
            raise ApiError(400, "each input needs a \"properties\" object")
        bad = []
        for k, v in props.items():
            if k in READ_ONLY_PROPS:
                bad.append({"isValid": False, "name": k, "error": "READ_ONLY_VALUE",
                            "message": "\"%s\" is a read only property; its value "
                                       "cannot be set." % k})
            elif isinstance(v, (dict, list)):
                bad.append({"isValid": False, "name": k, "error": "INVALID_VALUE",
                            "message": "%r is not a valid value for %s" % (v, k)})
            elif self.strict_props and k not in STANDARD_PROPS[otype] \
                    and k not in self.declared[otype]:
                raise ApiError(400, "Property \"%s\" does not exist" % k,
                               "VALIDATION_ERROR", subCategory="PROPERTY_DOESNT_EXIST",
                               context={"propertyName": [k]})
        if bad:
            raise ApiError(400, "Property values were not valid: " + json.dumps(bad),
                           "VALIDATION_ERROR", errors=bad)

    def apply_update(self, obj, props, now, seq, batch):
        for k, v in props.items():
            s = prop_str(v)
            obj["properties"][k] = "" if s is None else s
        obj["updated"] = now
        obj["written"] = now
        self._sync_derived(obj)
        self.version += 1
        self.updates.append({"seq": len(self.updates) + 1, "request": seq,
                             "batch": batch, "type": obj["type"], "id": obj["id"],
                             "properties": {k: prop_str(v) for k, v in props.items()},
                             "updatedAt": iso_ms(now),
                             "at": iso_ms(time.time() * 1000)})

    def batch_update(self, otype, body, path, seq):
        started = iso_ms(self.now_ms())
        inputs = self._inputs(body, "update")
        id_prop = body.get("idProperty")
        ids = []
        for inp in inputs:
            oid = self._input_id(inp)
            self._validate_update_props(otype, inp.get("properties"))
            ids.append(oid)
        dups = sorted(set(i for i in ids if ids.count(i) > 1), key=id_key)
        if dups:
            raise ApiError(400, "Duplicate IDs found in batch input: %s. IDs must be "
                                "unique" % json.dumps(dups), "VALIDATION_ERROR")
        fault = self.take_partial_fault(path, ids)
        fail_ids = set(fault["ids"]) if fault else set()
        now = self.now_ms()
        self.batch_seq += 1
        results, missing, failed = [], [], []
        for inp, oid in zip(inputs, ids):
            if oid in fail_ids:
                failed.append(oid)
                continue
            obj = self.find(otype, oid, id_prop)
            if obj is None:
                missing.append(oid)
                continue
            self.apply_update(obj, inp["properties"], now, seq, self.batch_seq)
            results.append(self.render(obj, list(inp["properties"].keys())))
        errors = []
        if missing:
            errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                           "message": "Could not get some %s objects, they may be "
                                      "deleted or not exist. Check that ids are valid."
                                      % SINGULAR[otype],
                           "context": {"ids": missing}})
        if failed:
            errors.append({"status": "error", "category": fault["category"],
                           "message": fault["message"], "context": {"ids": failed}})
        resp = {"status": "COMPLETE", "results": results}
        if errors:
            resp["numErrors"] = len(errors)
            resp["errors"] = errors
        resp["startedAt"] = started
        resp["completedAt"] = iso_ms(self.now_ms())
        return (207 if errors else 200), resp

    # ---- faults -----------------------------------------------------------
    _EFFECTS = ("status", "slow_ms", "truncate", "drop", "invalid_json",
                "schema_change")

    def add_fault(self, spec):
        if not isinstance(spec, dict):
            raise ApiError(400, "a fault must be a JSON object")
        count = as_int(spec.get("count", 1), "count")
        if count == 0 or count < -1:
            raise ApiError(400, "count must be >= 1, or -1 for unlimited")
        skip = as_int(spec.get("skip", 0), "skip", 0)
        method = spec.get("method")
        if method is not None and not isinstance(method, str):
            raise ApiError(400, "method must be a string")
        self.fault_seq += 1
        if "partial_fail_ids" in spec:
            ids = spec["partial_fail_ids"]
            if not isinstance(ids, list) or not ids:
                raise ApiError(400, "partial_fail_ids must be a non-empty list")
            f = {"id": self.fault_seq, "kind": "partial",
                 "ids": [str(i) for i in ids], "remaining": count,
                 "path_prefix": spec.get("path_prefix", "/crm/"),
                 "category": spec.get("category", "OBJECT_NOT_FOUND"),
                 "message": spec.get("message",
                                     "Could not update some objects, they may be "
                                     "deleted or not exist. Check that ids are valid.")}
            self.partial_faults.append(f)
            return f
        if not any(k in spec for k in self._EFFECTS):
            raise ApiError(400, "fault needs one of: %s, partial_fail_ids"
                           % ", ".join(self._EFFECTS))
        f = {"id": self.fault_seq, "kind": "request", "remaining": count, "skip": skip,
             "path_prefix": spec.get("path_prefix", "/crm/"),
             "method": method.upper() if method else None}
        if "status" in spec:
            f["status"] = as_int(spec["status"], "status", 100)
            if f["status"] > 999:
                raise ApiError(400, "status must be an HTTP status code")
        if "retry_after" in spec:
            f["retry_after"] = spec["retry_after"]
        for k in ("message", "category"):
            if k in spec:
                f[k] = str(spec[k])
        if "slow_ms" in spec:
            f["slow_ms"] = as_int(spec["slow_ms"], "slow_ms", 0)
        for k in ("truncate", "drop", "invalid_json", "schema_change"):
            if spec.get(k):
                f[k] = True
        # does the request still take effect (data changed) despite the fault?
        default_apply = "status" not in f
        f["apply"] = bool(spec.get("apply", default_apply))
        self.faults.append(f)
        return f

    def take_fault(self, path, method):
        with self.lock:
            for f in self.faults:
                if f["remaining"] == 0:
                    continue
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

    def take_partial_fault(self, path, ids):
        for f in self.partial_faults:
            if f["remaining"] == 0 or not path.startswith(f["path_prefix"]):
                continue
            if not set(f["ids"]) & set(ids):
                continue
            if f["remaining"] > 0:
                f["remaining"] -= 1
            self.partial_faults = [x for x in self.partial_faults if x["remaining"] != 0]
            return f
        return None

    # ---- rate limits ------------------------------------------------------
    def rate_check(self, token, is_search, count=True):
        """Account one request; return (headers, limited) where limited is
        None or (policyName, retry_after_seconds, message)."""
        now = time.monotonic()
        with self.lock:
            today = _utcnow().date()
            if today != self.daily_day:
                self.daily_counts.clear()
                self.daily_day = today
            r = self.rate
            interval = r["interval_ms"] / 1000.0
            b = self.buckets.setdefault(token, collections.deque())
            while b and b[0] <= now - interval:
                b.popleft()
            if count:
                b.append(now)
                self.daily_counts[token] += 1
            n = len(b)
            daily_used = self.daily_counts[token]
            headers = [
                ("X-HubSpot-RateLimit-Max", str(r["max"])),
                ("X-HubSpot-RateLimit-Remaining", str(max(0, r["max"] - n))),
                ("X-HubSpot-RateLimit-Interval-Milliseconds", str(r["interval_ms"])),
                ("X-HubSpot-RateLimit-Daily", str(r["daily"])),
                ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, r["daily"] - daily_used))),
            ]
            limited = None
            if count and daily_used > r["daily"]:
                nowdt = _utcnow()
                midnight = datetime.datetime.combine(today + datetime.timedelta(days=1),
                                                     datetime.time(),
                                                     tzinfo=datetime.timezone.utc)
                limited = ("DAILY", max(1, int((midnight - nowdt).total_seconds())),
                           "You have reached your daily limit.")
            elif count and n > r["max"]:
                wait = b[n - r["max"]] + interval - now
                limited = ("TEN_SECONDLY_ROLLING", max(1, int(math.ceil(wait))),
                           "You have reached your ten_secondly_rolling limit.")
            elif count and is_search and r["search_max"]:
                sinterval = r["search_interval_ms"] / 1000.0
                sb = self.search_buckets.setdefault(token, collections.deque())
                while sb and sb[0] <= now - sinterval:
                    sb.popleft()
                sb.append(now)
                if len(sb) > r["search_max"]:
                    wait = sb[len(sb) - r["search_max"]] + sinterval - now
                    limited = ("SECONDLY", max(1, int(math.ceil(wait))),
                               "You have reached your secondly limit.")
            return headers, limited

    # ---- between-pages mutations -------------------------------------------
    def after_search_page(self, otype):
        """Called (under the lock) once a search page of otype is computed."""
        for m in list(self.mutations):
            if m["type"] != otype:
                continue
            m["seen"] += 1
            if m["seen"] >= m["after_page"]:
                now = self.now_ms()
                for c in m["objects"]:
                    self.upsert(otype, c, now)
                self.mutations.remove(m)
                self.log("mutate_between_pages: applied %d %s after page %d"
                         % (len(m["objects"]), otype, m["seen"]))

    # ---- request log --------------------------------------------------------
    def record(self, rec):
        with self.lock:
            self.requests.append(rec)

    def next_req_seq(self):
        with self.lock:
            self.req_seq += 1
            return self.req_seq


# --------------------------------------------------------------------------
# CRM routes
# --------------------------------------------------------------------------

_OBJ_RE = re.compile(r"^/crm/v3/objects/([^/]+)(?:/(.*))?$")
_PROP_RE = re.compile(r"^/crm/v3/properties/([^/]+)(?:/([^/]+))?/?$")
_ASSOC_BATCH_RE = re.compile(r"^/crm/v4/associations/([^/]+)/([^/]+)/batch/read/?$")
_ASSOC_ONE_RE = re.compile(r"^/crm/v4/objects/([^/]+)/([^/]+)/associations/([^/]+)/?$")
_OWNERS_RE = re.compile(r"^/crm/v3/owners(?:/([^/]+))?/?$")


def _type_or_400(name):
    t = norm_type(urllib.parse.unquote(name))
    if t is None:
        raise ApiError(400, "Unable to infer object type from: %s" % name,
                       "VALIDATION_ERROR")
    return t


def _q1(query, name, default=None):
    v = query.get(name)
    return v[-1] if v else default


def _qlist(query, name):
    out = []
    for v in query.get(name, []):
        out.extend(x for x in v.split(",") if x)
    return out


def route_crm(app, method, path, query, body, seq):
    """Returns (status, response-object). Raises ApiError."""
    m = _OBJ_RE.match(path)
    if m:
        otype = _type_or_400(m.group(1))
        rest = (m.group(2) or "").strip("/")
        if rest == "search":
            if method != "POST":
                raise ApiError(405, "Method not allowed", "VALIDATION_ERROR")
            with app.lock:
                resp = app.search(otype, body if body is not None else {})
                app.after_search_page(otype)
            return 200, resp
        if rest == "batch/read":
            if method != "POST":
                raise ApiError(405, "Method not allowed", "VALIDATION_ERROR")
            with app.lock:
                return app.batch_read(otype, body)
        if rest == "batch/update":
            if method != "POST":
                raise ApiError(405, "Method not allowed", "VALIDATION_ERROR")
            with app.lock:
                return app.batch_update(otype, body, path, seq)
        if rest == "":
            if method != "GET":
                raise ApiError(405, "Method not allowed (object creation is not "
                                    "supported by the fake)", "VALIDATION_ERROR")
            limit = as_int(_q1(query, "limit", "10"), "limit", 1)
            if limit > 100:
                raise ApiError(400, "limit must be at most 100")
            after = as_int(_q1(query, "after", "0") or "0", "after", 0)
            props = _qlist(query, "properties") or None
            assoc = [_type_or_400(a) for a in _qlist(query, "associations")]
            archived = _q1(query, "archived", "false") == "true"
            with app.lock:
                objs = sorted((o for o in app.objects[otype].values()
                               if o["archived"] == archived),
                              key=lambda o: id_key(o["id"]))
                page = objs[after:after + limit]
                resp = {"results": [app.render(o, props, assoc) for o in page]}
                if after + limit < len(objs):
                    nxt = str(after + limit)
                    resp["paging"] = {"next": {"after": nxt, "link":
                                               "%s?after=%s" % (path, nxt)}}
            return 200, resp
        if "/" not in rest:
            oid = urllib.parse.unquote(rest)
            id_prop = _q1(query, "idProperty")
            if method == "GET":
                props = _qlist(query, "properties") or None
                assoc = [_type_or_400(a) for a in _qlist(query, "associations")]
                archived = _q1(query, "archived", "false") == "true"
                with app.lock:
                    obj = app.find(otype, oid, id_prop, archived)
                    if obj is None:
                        raise ApiError(404, "Object not found.  objectId are usually "
                                            "numeric.", "OBJECT_NOT_FOUND",
                                       context={"id": [oid]})
                    return 200, app.render(obj, props, assoc)
            if method == "PATCH":
                if not isinstance(body, dict):
                    raise ApiError(400, "body must be {\"properties\":{...}}")
                props = body.get("properties")
                with app.lock:
                    app._validate_update_props(otype, props)
                    fault = app.take_partial_fault(path, [oid])
                    obj = app.find(otype, oid, id_prop)
                    if fault or obj is None:
                        raise ApiError(404, "resource not found", "OBJECT_NOT_FOUND",
                                       context={"id": [oid]})
                    app.batch_seq += 1
                    app.apply_update(obj, props, app.now_ms(), seq, app.batch_seq)
                    return 200, app.render(obj, list(props.keys()))
            raise ApiError(405, "Method not allowed", "VALIDATION_ERROR")
        raise ApiError(404, "Unknown endpoint %s" % path, "OBJECT_NOT_FOUND")
    m = _PROP_RE.match(path)
    if m:
        if method != "GET":
            raise ApiError(405, "Method not allowed (property definitions are "
                                "read-only in the fake; use /__admin/properties)",
                           "VALIDATION_ERROR")
        otype = _type_or_400(m.group(1))
        with app.lock:
            if m.group(2):
                name = urllib.parse.unquote(m.group(2))
                names = {p["name"] for p in app.property_list(otype)}
                if name not in names:
                    raise ApiError(404, "Unable to find property %s for object type "
                                        "%s" % (name, otype), "OBJECT_NOT_FOUND")
                return 200, app.property_def(otype, name)
            return 200, {"results": app.property_list(otype)}
    m = _ASSOC_BATCH_RE.match(path)
    if m:
        if method != "POST":
            raise ApiError(405, "Method not allowed", "VALIDATION_ERROR")
        frm, to = _type_or_400(m.group(1)), _type_or_400(m.group(2))
        inputs = App._inputs(body, "read")
        with app.lock:
            started = iso_ms(app.now_ms())
            results, missing = [], []
            type_id = ASSOC_TYPES.get((frm, to), (0, ""))[0]
            for inp in inputs:
                oid = App._input_id(inp)
                obj = app.find(frm, oid)
                if obj is None:
                    missing.append(oid)
                    continue
                results.append({"from": {"id": obj["id"]}, "to": [
                    {"toObjectId": int(i) if i.isdigit() else i,
                     "associationTypes": [{"category": "HUBSPOT_DEFINED",
                                           "typeId": type_id, "label": None}]}
                    for i in app.associated(obj, to)]})
            resp = {"status": "COMPLETE", "results": results}
            status = 200
            if missing:
                status = 207
                resp["numErrors"] = 1
                resp["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "message": "Could not find some %s objects"
                                              % SINGULAR[frm],
                                   "context": {"ids": missing}}]
            resp["startedAt"] = started
            resp["completedAt"] = iso_ms(app.now_ms())
            return status, resp
    m = _ASSOC_ONE_RE.match(path)
    if m:
        if method != "GET":
            raise ApiError(405, "Method not allowed", "VALIDATION_ERROR")
        frm, to = _type_or_400(m.group(1)), _type_or_400(m.group(3))
        oid = urllib.parse.unquote(m.group(2))
        with app.lock:
            obj = app.find(frm, oid)
            if obj is None:
                raise ApiError(404, "Object not found", "OBJECT_NOT_FOUND",
                               context={"id": [oid]})
            type_id = ASSOC_TYPES.get((frm, to), (0, ""))[0]
            return 200, {"results": [
                {"toObjectId": int(i) if i.isdigit() else i,
                 "associationTypes": [{"category": "HUBSPOT_DEFINED",
                                       "typeId": type_id, "label": None}]}
                for i in app.associated(obj, to)]}
    m = _OWNERS_RE.match(path)
    if m:
        if method != "GET":
            raise ApiError(405, "Method not allowed (owners are read-only)", "VALIDATION_ERROR")
        with app.lock:
            if m.group(1) is None:
                return 200, app.owner_page(query, path)
            oid = urllib.parse.unquote(m.group(1))
            by_user = _q1(query, "idProperty", "id") == "userId"
            archived = _q1(query, "archived", "false") == "true"
            for o in app.owners.values():
                if (str(o["userId"]) if by_user else o["id"]) == oid and o["archived"] == archived:
                    return 200, dict(o)
            raise ApiError(404, "Owner %s not found" % oid, "OBJECT_NOT_FOUND")
    raise ApiError(404, "Unknown endpoint %s %s" % (method, path), "OBJECT_NOT_FOUND")


# --------------------------------------------------------------------------
# Webhook sender
# --------------------------------------------------------------------------

def send_webhook(app, spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        raise ApiError(400, "webhook needs {\"url\":...,\"secret\":...,\"events\":[...]}")
    url = spec["url"]
    secret = spec.get("secret", "")
    if not isinstance(secret, str):
        raise ApiError(400, "secret must be a string")
    events = spec.get("events", [])
    if isinstance(events, dict):
        events = [events]
    if not isinstance(events, list):
        raise ApiError(400, "events must be a list")
    now = app.now_ms()
    payload = []
    with app.lock:
        for ev in events:
            if not isinstance(ev, dict):
                raise ApiError(400, "each event must be an object")
            app.event_seq += 1
            out = collections.OrderedDict()
            out["eventId"] = app.event_seq
            out["subscriptionId"] = 1001
            out["portalId"] = 62515
            out["appId"] = 1160452
            out["occurredAt"] = now
            out["subscriptionType"] = "contact.propertyChange"
            out["attemptNumber"] = 0
            out["objectId"] = None
            for k in ("propertyName", "propertyValue"):
                if k in ev:
                    out[k] = None
            out["changeSource"] = "CRM"
            for k, v in ev.items():
                out[k] = v
            if isinstance(out.get("objectId"), str) and out["objectId"].isdigit():
                out["objectId"] = int(out["objectId"])
            if isinstance(out.get("occurredAt"), str):
                t = parse_time(out["occurredAt"])
                if t is not None:
                    out["occurredAt"] = t
            payload.append(out)
            if spec.get("apply") and out.get("subscriptionType") == "contact.propertyChange" \
                    and out.get("propertyName") and out.get("objectId") is not None:
                app.upsert("contacts", {"id": str(out["objectId"]), "properties": {
                    out["propertyName"]: out.get("propertyValue")},
                    "updatedAt": out["occurredAt"]}, now)
    if "raw_body" in spec:
        body = str(spec["raw_body"]).encode("utf-8")
    else:
        body = jdump(payload)
    method = str(spec.get("method", "POST")).upper()
    ts = str(spec.get("timestamp", now))
    signed_uri = spec.get("signed_uri", url)
    src = method.encode() + signed_uri.encode("utf-8") + body + ts.encode()
    sig3 = base64.b64encode(hmac.new(secret.encode("utf-8"), src,
                                     hashlib.sha256).digest()).decode()
    sig1 = hashlib.sha256(secret.encode("utf-8") + body).hexdigest()
    if spec.get("bad_signature"):
        sig3 = base64.b64encode(b"\0" * 32).decode()
    headers = {"Content-Type": "application/json",
               "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon",
               "X-HubSpot-Signature-v3": sig3,
               "X-HubSpot-Request-Timestamp": ts,
               "X-HubSpot-Signature": sig1,
               "X-HubSpot-Signature-Version": "v1"}
    for k, v in (spec.get("headers") or {}).items():
        if v is None:
            headers.pop(k, None)
        else:
            headers[k] = str(v)
    result = {"url": url, "timestamp": ts, "signature": sig3,
              "payload": json.loads(body) if "raw_body" not in spec else None}
    # http.client keeps the header names' case exactly as HubSpot sends them
    try:
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("url must be http(s)://host[:port]/path")
        conn_cls = http.client.HTTPSConnection if u.scheme == "https" \
            else http.client.HTTPConnection
        conn = conn_cls(u.hostname, u.port, timeout=float(spec.get("timeout_s", 10)))
        target = (u.path or "/") + ("?" + u.query if u.query else "")
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            result["status"] = r.status
            result["body"] = r.read(65536).decode("utf-8", "replace")
        finally:
            conn.close()
    except Exception as e:  # connection refused, timeout, bad url ...
        result["status"] = None
        result["error"] = "%s: %s" % (type(e).__name__, e)
    app.log("webhook -> %s: %s (%d events)" % (url, result.get("status"), len(payload)))
    return result


# --------------------------------------------------------------------------
# Admin routes
# --------------------------------------------------------------------------

def _list_arg(body, key):
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        v = body.get(key)
        if isinstance(v, list):
            return v
        if v is None and ("id" in body or "properties" in body):
            return [body]
    raise ApiError(400, "expected a list, or {\"%s\":[...]}" % key)


def route_admin(app, method, path, query, body):
    p = path.rstrip("/")
    if p in ("/__admin", "/__admin/health"):
        return 200, {"ok": True, "port": app.port}
    if p == "/__admin/state" and method == "GET":
        with app.lock:
            return 200, {
                "counts": {t: len(app.objects[t]) for t in OBJECT_TYPES},
                "clock": {"now": iso_ms(app.now_ms()), "fixed": app.fixed_now is not None},
                "rate": dict(app.rate), "faults": app.faults + app.partial_faults,
                "mutations": app.mutations, "requests": len(app.requests),
                "updates": len(app.updates)}
    for key, types in (("contacts", ("contacts",)), ("deals", ("deals",)),
                       ("engagements", ENGAGEMENT_TYPES)):
        base = "/__admin/" + key
        if p == base:
            if method == "GET":
                with app.lock:
                    objs = [o for t in types for o in app.objects[t].values()]
                    objs.sort(key=lambda o: id_key(o["id"]))
                    return 200, {key: [app.render_admin(o) for o in objs]}
            if method == "POST":
                items = _list_arg(body, key)
                with app.lock:
                    now = app.now_ms()
                    ids = [app.upsert(types[0] if len(types) == 1 else None,
                                      it, now)["id"] for it in items]
                return 200, {"upserted": len(ids), "ids": ids}
            if method == "DELETE":
                with app.lock:
                    for t in types:
                        app.objects[t].clear()
                    app.version += 1
                return 200, {"deleted": True}
        if p.startswith(base + "/") and method in ("GET", "DELETE"):
            oid = urllib.parse.unquote(p[len(base) + 1:])
            with app.lock:
                for t in types:
                    o = app.objects[t].get(oid)
                    if o:
                        if method == "DELETE":
                            del app.objects[t][oid]
                            app.version += 1
                            return 200, {"deleted": oid}
                        return 200, app.render_admin(o)
            raise ApiError(404, "no such object %s" % oid, "OBJECT_NOT_FOUND")
    if p == "/__admin/owners":
        if method == "GET":
            with app.lock:
                return 200, {"owners": sorted(app.owners.values(), key=lambda o: int(o["id"]))}
        if method == "POST":
            items = _list_arg(body, "owners")
            with app.lock:
                now = app.now_ms()
                ids = [app.upsert_owner(it, now)["id"] for it in items]
            return 200, {"upserted": len(ids), "ids": ids}
        if method == "DELETE":
            with app.lock:
                app.owners.clear()
            return 200, {"deleted": True}
    if p == "/__admin/reset" and method == "POST":
        empty = bool(isinstance(body, dict) and body.get("empty"))
        app._reset(empty=empty)
        with app.lock:
            return 200, {"reset": True,
                         "counts": {t: len(app.objects[t]) for t in OBJECT_TYPES}}
    if p == "/__admin/generate" and method == "POST":
        if not isinstance(body, dict):
            raise ApiError(400, "expected {\"count\":N,\"seed\":S}")
        n = as_int(body.get("count", 0), "count", 0)
        seed = body.get("seed", 1)
        with app.lock:
            start = as_int(body.get("start_id", max(1001, app.max_numeric_id() + 1)),
                           "start_id", 1)
            now = app.now_ms()
            ids = [app.upsert("contacts", c, now)["id"]
                   for c in generate_contacts(n, seed, start)]
        return 200, {"upserted": len(ids),
                     "first_id": ids[0] if ids else None,
                     "last_id": ids[-1] if ids else None}
    if p == "/__admin/faults":
        if method == "GET":
            with app.lock:
                return 200, {"faults": app.faults + app.partial_faults}
        if method == "DELETE" or (method == "POST" and isinstance(body, dict)
                                  and body.get("clear")):
            with app.lock:
                app.faults = []
                app.partial_faults = []
            return 200, {"faults": []}
        if method == "POST":
            specs = body if isinstance(body, list) else [body]
            with app.lock:
                added = [app.add_fault(s) for s in specs]
            return 200, {"added": added}
    if p == "/__admin/rate":
        if method == "POST":
            if not isinstance(body, dict):
                raise ApiError(400, "expected {\"max\":N,\"interval_ms\":MS}")
            with app.lock:
                for k, lo in (("max", 0), ("interval_ms", 1), ("daily", 0),
                              ("search_interval_ms", 1)):
                    if k in body:
                        app.rate[k] = as_int(body[k], k, lo)
                if "search_max" in body:
                    app.rate["search_max"] = None if body["search_max"] is None \
                        else as_int(body["search_max"], "search_max", 1)
                if body.get("reset", True):
                    app._reset_rate_counters()
                return 200, dict(app.rate)
        if method == "GET":
            with app.lock:
                return 200, dict(app.rate)
    if p == "/__admin/mutate_between_pages" and method == "POST":
        if not isinstance(body, dict):
            raise ApiError(400, "expected {\"after_page\":N,\"contacts\":[...]}")
        n = as_int(body.get("after_page", 1), "after_page", 1)
        otype, objs = "contacts", body.get("contacts")
        for k in ("deals", "calls", "emails", "meetings", "tasks"):
            if objs is None and body.get(k) is not None:
                otype, objs = k, body[k]
        if not isinstance(objs, list) or not all(
                isinstance(o, dict) and isinstance(o.get("properties", {}), dict)
                for o in objs):
            raise ApiError(400, "\"%s\" must be a list of objects" % otype)
        with app.lock:
            app.mutations.append({"after_page": n, "type": otype, "objects": objs,
                                  "seen": 0})
            return 200, {"pending": len(app.mutations)}
    if p == "/__admin/requests":
        if method == "DELETE":
            with app.lock:
                app.requests = []
            return 200, {"requests": []}
        if method == "GET":
            since = as_int(_q1(query, "since", "0"), "since", 0)
            prefix = _q1(query, "path_prefix", "")
            meth = (_q1(query, "method", "") or "").upper()
            with app.lock:
                reqs = [r for r in app.requests if r["seq"] > since
                        and r["path"].startswith(prefix)
                        and (not meth or r["method"] == meth)]
            return 200, {"requests": reqs}
    if p == "/__admin/updates":
        if method == "DELETE":
            with app.lock:
                app.updates = []
            return 200, {"updates": []}
        if method == "GET":
            with app.lock:
                return 200, {"updates": list(app.updates)}
    if p == "/__admin/index_lag":
        if method == "POST":
            if not isinstance(body, dict) or "ms" not in body:
                raise ApiError(400, "expected {\"ms\":N}")
            with app.lock:
                app.index_lag_ms = as_int(body["ms"], "ms", 0)
        with app.lock:
            return 200, {"ms": app.index_lag_ms}
    if p == "/__admin/clock":
        if method == "POST":
            if not isinstance(body, dict):
                raise ApiError(400, "expected {\"now\":TIME} or {\"advance_ms\":N}")
            with app.lock:
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
        with app.lock:
            return 200, {"now": iso_ms(app.now_ms()), "now_ms": app.now_ms(),
                         "fixed": app.fixed_now is not None}
    if p == "/__admin/properties" and method == "POST":
        with app.lock:
            app.declare(body)
            return 200, {"declared": {t: sorted(app.declared[t]) for t in OBJECT_TYPES
                                      if app.declared[t]},
                         "strict": app.strict_props}
    if p == "/__admin/webhook" and method == "POST":
        return 200, send_webhook(app, body)
    raise ApiError(404, "unknown admin endpoint %s %s" % (method, path), "OBJECT_NOT_FOUND")


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

class BodyError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


def _fault_body(status, f):
    if status == 429:
        return hs_error(f.get("message", "You have reached your ten_secondly_rolling limit."),
                        f.get("category", "RATE_LIMITS"), errorType="RATE_LIMIT",
                        policyName="TEN_SECONDLY_ROLLING")
    default = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION",
               403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND", 409: "CONFLICT",
               423: "LOCKED"}.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
    msg = f.get("message") or (http.HTTPStatus(status).phrase
                               if status in http.HTTPStatus._value2member_map_
                               else "Error %d" % status)
    return hs_error(msg, f.get("category", default))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hubspot/1.0"
    sys_version = ""
    timeout = 120

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        try:   # headers and body go out in separate writes: avoid Nagle stalls
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        self.server.app.log("http: " + (fmt % args))

    def log_request(self, code="-", size="-"):
        pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ---- I/O ---------------------------------------------------------------
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise BodyError(400, "truncated chunked body")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BodyError(400, "bad chunk size")
                if size == 0:
                    while True:
                        tl = self.rfile.readline(65537)
                        if tl in (b"\r\n", b"\n", b""):
                            break
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    raise BodyError(413, "request body too large")
                data = self.rfile.read(size)
                if len(data) != size:
                    raise BodyError(400, "truncated chunked body")
                out += data
                self.rfile.readline(65537)
        cl = self.headers.get("Content-Length")
        if cl is None or cl.strip() == "":
            return b""
        try:
            n = int(cl)
        except ValueError:
            raise BodyError(400, "bad Content-Length")
        if n < 0:
            raise BodyError(400, "bad Content-Length")
        if n > MAX_BODY:
            raise BodyError(413, "request body too large")
        data = self.rfile.read(n)
        if len(data) != n:
            raise BodyError(400, "truncated request body")
        return data

    def _abort_connection(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except Exception:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reply(self, status, obj, headers=(), ctype="application/json;charset=utf-8",
              truncate=False):
        body = obj if isinstance(obj, bytes) else jdump(obj)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if truncate or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(body[:len(body) // 2])
            self._abort_connection()
            return
        self.wfile.write(body)

    # ---- dispatch ------------------------------------------------------------
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
                self.reply(e.status, hs_error(str(e), "VALIDATION_ERROR"))
                return
            if path.startswith("/__admin"):
                self.handle_admin(app, path, query, raw)
                return
            seq = app.next_req_seq()
            rec = {"seq": seq, "method": self.command, "path": self.path,
                   "body": self._body_for_log(raw), "status": None,
                   "at": iso_ms(time.time() * 1000), "clock": iso_ms(app.now_ms()),
                   "auth": None, "fault": None,
                   "headers": {k: v for k, v in self.headers.items()
                               if k.lower() not in ("authorization", "cookie")}}
            if path.startswith("/crm/"):
                self.handle_crm(app, path, query, raw, rec)
            else:
                rec["status"] = 404
                self.reply(404, hs_error("Not found: %s" % path, "OBJECT_NOT_FOUND"))
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:
            app.log("internal error on %s %s:\n%s" % (self.command, self.path,
                                                      traceback.format_exc()))
            if rec is not None:
                rec["status"] = 500
            try:
                self.close_connection = True
                self.reply(500, hs_error("internal error in the fake", "INTERNAL_ERROR"))
            except Exception:
                pass
        finally:
            if rec is not None:
                rec["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
                app.record(rec)
                app.log("%s %s -> %s%s (%d ms)" % (
                    self.command, self.path, rec["status"],
                    " fault=%s" % rec["fault"] if rec["fault"] else "",
                    rec["elapsed_ms"]))

    @staticmethod
    def _body_for_log(raw):
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw[:65536].decode("utf-8", "replace")

    def handle_admin(self, app, path, query, raw):
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as e:
            self.reply(400, hs_error("Invalid input JSON: %s" % e, "VALIDATION_ERROR"))
            return
        try:
            status, obj = route_admin(app, self.command, path, query, body)
        except ApiError as e:
            status, obj = e.status, e.body()
        if path.rstrip("/") != "/__admin/requests":
            app.log("admin %s %s -> %d" % (self.command, path, status))
        self.reply(status, obj)

    def handle_crm(self, app, path, query, raw, rec):
        auth = self.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        is_search = path.endswith("/search")
        if token is None or token not in app.tokens:
            rec["auth"] = "missing" if not auth else "invalid"
            hdrs, _ = app.rate_check(token or "", is_search, count=False)
            rec["status"] = 401
            msg = ("Authentication credentials not found. This API supports OAuth 2.0 "
                   "authentication and you can find more details at "
                   "https://developers.hubspot.com/docs/methods/auth/oauth-overview"
                   if not auth else
                   "The OAuth token used to make this call expired or is invalid.")
            self.reply(401, hs_error(msg, "INVALID_AUTHENTICATION"), hdrs)
            return
        rec["auth"] = "ok"
        hdrs, limited = app.rate_check(token, is_search)
        hdrs = list(hdrs)
        if limited:
            policy, retry, msg = limited
            rec["status"] = 429
            self.reply(429, hs_error(msg, "RATE_LIMITS", errorType="RATE_LIMIT",
                                     policyName=policy),
                       hdrs + [("Retry-After", str(retry))])
            return
        fault = app.take_fault(path, self.command)
        if fault:
            rec["fault"] = {k: v for k, v in fault.items()
                            if k not in ("remaining", "skip", "path_prefix", "method",
                                         "kind")}
            if fault.get("slow_ms"):
                time.sleep(fault["slow_ms"] / 1000.0)
            if fault.get("drop") and not fault.get("apply"):
                rec["status"] = None
                self._abort_connection()
                return
            if "status" in fault and not fault.get("apply"):
                self._fault_status(fault, hdrs, rec)
                return
        body = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as e:
                rec["status"] = 400
                self.reply(400, hs_error("Invalid input JSON on line 1: %s" % e,
                                         "VALIDATION_ERROR"), hdrs)
                return
        elif self.command in ("POST", "PATCH", "PUT") and \
                not path.endswith("/search"):
            rec["status"] = 400
            self.reply(400, hs_error("Invalid input JSON: request body is empty",
                                     "VALIDATION_ERROR"), hdrs)
            return
        try:
            status, obj = route_crm(app, self.command, path, query, body, rec["seq"])
        except ApiError as e:
            status, obj = e.status, e.body()
        hdrs.append(("X-HubSpot-Correlation-Id", str(uuid.uuid4())))
        if fault:
            if fault.get("drop"):
                rec["status"] = None
                self._abort_connection()
                return
            if "status" in fault:
                self._fault_status(fault, hdrs, rec)
                return
            if fault.get("invalid_json"):
                rec["status"] = 200
                self.reply(200, b"<!DOCTYPE html><html><body><h1>502 Bad Gateway"
                                b"</h1><p>upstream hiccup</p></body></html>", hdrs)
                return
            if fault.get("schema_change") and isinstance(obj, dict):
                obj = dict(obj)
                if "results" in obj:
                    obj["items"] = obj.pop("results")
                elif "properties" in obj:
                    obj["props"] = obj.pop("properties")
                else:
                    obj = {"data": obj}
                status = 200
            if fault.get("truncate"):
                rec["status"] = status
                self.reply(status, obj, hdrs, truncate=True)
                return
        rec["status"] = status
        self.reply(status, obj, hdrs)

    def _fault_status(self, fault, hdrs, rec):
        status = fault["status"]
        extra = list(hdrs)
        if status == 429 or "retry_after" in fault:
            extra.append(("Retry-After", str(fault.get("retry_after", 1))))
        rec["status"] = status
        self.reply(status, _fault_body(status, fault), extra)


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
    ap = argparse.ArgumentParser(
        description="Fake HubSpot CRM v3 API for fieldsync tests "
                    "(see tests/fakes/README-hubspot.md)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", help="write the bound port here (atomically)")
    ap.add_argument("--data", help="initial data: {\"contacts\":[..],\"engagements\":[..],\"deals\":[..],"
                    "\"properties\":{\"contacts\":[{\"name\":..,\"type\":..,\"options\":[..]}]}}")
    ap.add_argument("--token", action="append",
                    help="accepted bearer token (repeatable; default test-token)")
    ap.add_argument("--log", help="append a request log here")
    ap.add_argument("--verbose", action="store_true", help="log to stderr too")
    ap.add_argument("--generate", type=int, metavar="N", default=0,
                    help="add N generated contacts")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--dump-generated", type=int, metavar="N",
                    help="print {\"contacts\":[...]} for N generated contacts and exit")
    ap.add_argument("--now", help="fix the fake clock at this time (RFC 3339 or epoch ms)")
    ap.add_argument("--index-lag-ms", type=int, default=0,
                    help="a written object shows in searches only this long after (fake clock)")
    ap.add_argument("--rate-max", type=int, default=DEFAULT_RATE_MAX)
    ap.add_argument("--rate-interval-ms", type=int, default=DEFAULT_RATE_INTERVAL_MS)
    ap.add_argument("--daily-limit", type=int, default=DEFAULT_DAILY_LIMIT)
    args = ap.parse_args(argv)

    if args.dump_generated is not None:
        if args.dump_generated < 0:
            ap.error("--dump-generated needs N >= 0")
        out = {"contacts": generate_contacts(args.dump_generated, args.seed)}
        sys.stdout.buffer.write(jdump(out) + b"\n")
        sys.stdout.flush()
        return 0

    now = None
    if args.now:
        now = parse_time(args.now)
        if now is None:
            ap.error("--now: cannot parse %r" % args.now)
    data = {}
    if args.data:
        try:
            with open(args.data, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError) as e:
            sys.stderr.write("fake_hubspot: --data %s: %s\n" % (args.data, e))
            return 2
        if not isinstance(data, dict):
            sys.stderr.write("fake_hubspot: --data must hold a JSON object\n")
            return 2
    if args.generate:
        # generated contacts get ids after any loaded ones
        tmp = App([DEFAULT_TOKEN], initial=data)
        start = max(1001, tmp.max_numeric_id() + 1)
        data = dict(data)
        data["contacts"] = list(data.get("contacts") or []) + \
            generate_contacts(args.generate, args.seed, start)
    try:
        app = App(args.token or [DEFAULT_TOKEN], log_path=args.log,
                  verbose=args.verbose, initial=data, now=now,
                  rate_max=args.rate_max, rate_interval_ms=args.rate_interval_ms,
                  daily_limit=args.daily_limit)
        app.initial_index_lag = app.index_lag_ms = args.index_lag_ms
    except ApiError as e:
        sys.stderr.write("fake_hubspot: bad data: %s\n" % e.message)
        return 2
    try:
        server = Server((args.host, args.port), Handler)
    except OSError as e:
        sys.stderr.write("fake_hubspot: cannot bind %s:%d: %s\n" % (args.host, args.port, e))
        return 1
    server.app = app
    port = server.server_address[1]
    app.port = port
    # The handler takes no lock: it runs in the main thread between two
    # bytecodes, maybe while that thread holds one (Event.set() there could
    # wait for the Event's own lock for ever).
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    th = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                          daemon=True)
    th.start()
    app.log("listening on %s:%d (%d contacts)" % (args.host, port,
                                                  len(app.objects["contacts"])))
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
