#!/usr/bin/env python3
"""demo-jobber.py: make demo VENDOR=jobber, a field-service business on Jobber
with its books in QuickBooks Online.

Starts the fake Jobber, fake QuickBooks Online and fake Lob on free loopback
ports, writes DIR/fieldsync.conf (a Jobber source, a QuickBooks source, a
Lob target and a thank-you campaign on Jobber's jobs), then runs the real
pipelines tick by tick (one tick every 5 simulated minutes, ticks with
nothing due skipped) over the DAYS that end now, with $FS_NOW advancing:
jobs go from upcoming to completed (some reopened and completed again, some
booked and finished between two runs, some cancelled), new clients come,
QuickBooks gets the customers, the invoices and, days later, the payments,
and both vendors' webhooks reach fs-hook (run as a CGI program).  Each tick
that has anything to do pulls Jobber and QuickBooks, together as cron starts
them (the first time Jobber first).

Ends with a verification that checks (and does not assume): pieces at the
fake Lob == distinct enrolments == jobs that entered completed since
fieldsync was installed, none for the jobs completed before, no duplicate,
every payment at QuickBooks recorded as revenue, and the revenue rows of
fs-report outcomes attributed to the pieces that preceded them, through the
QuickBooks customer's match to its Jobber client (the same e-mail, else
phone, else address; some customers match none).  Exit 0 when every check
holds, 1 when one fails, 2 on a usage or setup error.  Python 3 standard
library only.

  demo-jobber.py [--dir DIR] [--days N] [--clients N] [--seed N] [--no-panels]
"""
import argparse
import base64
import datetime as dt
import hashlib
import heapq
import hmac
import json
import os
import random
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True   # no __pycache__ in scripts/
from demosim_common import (BIN, FAKES, TICK, TOP, Fake, SimBase, by_event, cgi_env, cgi_status, iso, ms,
                            parse_iso, piece_behind_back, print_checks, run_sim, say)

REALM = "9341453908811111"
JOBBER_ID, JOBBER_SECRET = "fake-jobber-client-id", "fake-jobber-client-secret"
QBO_ID, QBO_SECRET, QBO_VERIFIER = "test-client-id", "test-client-secret", "demo-verifier-token"
ATTRIBUTION = dt.timedelta(days=90)     # fs-report's default attribution window
FIRST = ["Ana", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ines", "José", "Kai", "Lena",
         "Marta", "Nils", "Oona", "Pedro", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera", "Wes", "Zoë"]
LAST = ["Lee", "Moreau", "Silva", "Wu", "Kowalski", "Okafor", "Haddad", "Petrov", "Sato", "García", "Novak",
        "Byrne", "Dubois", "Nakamura", "Olsen", "Reyes", "Schmidt", "Tanaka", "Vogel", "Walsh"]
STREETS = ["Oak St", "Elm Ave", "Cedar Ln", "Maple Dr", "Pecan St", "Lamar Blvd", "Burnet Rd", "Guadalupe St",
           "Red River St", "Manor Rd", "Riverside Dr", "Airport Blvd"]
TOWNS = [("Austin", "787%02d"), ("Round Rock", "786%02d"), ("Pflugerville", "786%02d"), ("Cedar Park", "786%02d")]
WORK = ["Gutter clean", "Lawn care", "Window wash", "AC tune-up", "Fence repair", "Pressure wash", "Tree trim"]


def gid(kind, n):
    return base64.b64encode(("gid://Jobber/%s/%d" % (kind, n)).encode()).decode()


class Sim(SimBase):
    def __init__(self, a):
        super().__init__(a)
        self.hook_rng = random.Random(a.seed + 1)   # repeat deliveries, apart from the world's draws
        self.hook_statuses = {}
        self.clients = {}        # Jobber client id -> {"first", "last", "email", "phone", "street", "city", "zip"}
        self.jobs = {}           # Jobber job id -> {"client", "done": completion time or None}
        self.before = set()      # jobs completed before fieldsync's first run
        self.entered = {}        # job id -> client, for jobs that entered completed since
        self.customers = {}      # QuickBooks customer id -> (Jobber client id or None, how it matches)
        self.customer_of = {}    # Jobber client id -> QuickBooks customer id
        self.payments = []       # (payment id, customer id, invoice id, amount, at)
        self.first_requests = None
        self.n_jobs = 0
        self.n_clients = 0

    # ---- set-up -----------------------------------------------------------
    def setup(self):
        self.fresh_dir("tmp")
        self.env = self.base_env(JOBBER_CLIENT_ID=JOBBER_ID, JOBBER_CLIENT_SECRET=JOBBER_SECRET, QBO_CLIENT_ID=QBO_ID,
                                 QBO_CLIENT_SECRET=QBO_SECRET, QBO_VERIFIER_TOKEN=QBO_VERIFIER,
                                 LOB_API_KEY="test_demo_key")
        for k in ("FS_NOW", "JOBBER_ACCESS_TOKEN", "QBO_ACCESS_TOKEN"):
            self.env.pop(k, None)
        self.make_world()
        jb = os.path.join(self.dir, "jobber.port")
        self.jb = Fake("Jobber", [sys.executable, os.path.join(FAKES, "fake_jobber.py"), "--port", "0",
                                  "--port-file", jb, "--data", os.path.join(self.dir, "jobber-data.json"),
                                  "--now", iso(self.start), "--log", os.path.join(self.dir, "jobber.log")], jb)
        qb = os.path.join(self.dir, "qbo.port")
        self.qb = Fake("QuickBooks", [sys.executable, os.path.join(FAKES, "fake_qbo.py"), "--port", "0",
                                      "--port-file", qb, "--data", os.path.join(self.dir, "qbo-data.json"),
                                      "--realm", REALM, "--now", iso(self.start), "--tz-offset=-06:00",
                                      "--log", os.path.join(self.dir, "qbo.log")], qb)
        self.lob = self.start_lob(self.env["LOB_API_KEY"])
        self.jb_now = self.start
        # Days run in minutes: Jobber's 2,500 requests in 5 minutes and
        # Intuit's 500 a minute (both on the real clock) are opened up.
        self.jb.call("POST", "/__admin/budget", {"ddos_max": 100000000})
        self.qb.call("POST", "/__admin/limits", {"per_minute": 100000000})
        self.tokens()
        self.write_config()
        say("fake Jobber on 127.0.0.1:%d (%d clients, %d jobs), fake QuickBooks Online on 127.0.0.1:%d"
            " (%d customers), fake Lob on 127.0.0.1:%d"
            % (self.jb.port, len(self.clients), self.n_jobs0, self.qb.port, len(self.customers), self.lob.port))
        say("config %s, state %s" % (self.rel(self.conf), self.rel(self.db)))

    def tokens(self):
        """Each installation's OAuth pair, as the authorization-code exchange
        leaves it, in a mode 0600 file beside the state file."""
        pair = self.jb.call("POST", "/__admin/tokens")
        self.write_tokens("jobber-tokens.json", pair)
        self.qb.call("POST", "/__admin/tokens", {"add_refresh": ["demo-refresh-0"]})
        req = urllib.request.Request(self.qb.url + "/oauth2/v1/tokens/bearer",
                                     data=b"grant_type=refresh_token&refresh_token=demo-refresh-0",
                                     headers={"Authorization": "Basic " + base64.b64encode(
                                         ("%s:%s" % (QBO_ID, QBO_SECRET)).encode()).decode()})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.write_tokens("qbo-tokens.json", json.loads(r.read()))

    def write_tokens(self, name, pair):
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({k: pair[k] for k in ("access_token", "refresh_token")}, f)

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write("""# Written by make demo VENDOR=jobber (scripts/demo-jobber.py): fieldsync
# against the fake Jobber, fake QuickBooks Online and fake Lob on loopback.
# For real accounts, see fieldsync-jobber(7) and fieldsync-quickbooks(7).
[source "jobber"]
kind       = jobber
url        = http://127.0.0.1:{jb}
oauth_file = {dir}/jobber-tokens.json
# The books are in QuickBooks: revenue comes from there, not from Jobber's invoices.
streams    = clients, jobs
# The demo runs days in minutes: the real clock's rate limit would stretch it.
rate       = 1000000/10s
# Ticks with nothing due are skipped, so at night pulls are hours apart.
interval   = 24h

[source "qbo"]
kind       = quickbooks
url        = http://127.0.0.1:{qb}
token_url  = http://127.0.0.1:{qb}/oauth2/v1/tokens/bearer
realm      = {realm}
oauth_file = {dir}/qbo-tokens.json
rate       = 1000000/10s
interval   = 24h

[target "mail"]
kind      = lob
url       = http://127.0.0.1:{lob}/v1
token_env = LOB_API_KEY
rate      = 1000000/5s
retry     = 1m..1h x12
timeout   = 10s
price     = postcard 0.65

# One postcard a job, when Jobber says it is completed.  backfill = 0s: a
# job booked and finished between two runs (first seen completed) is
# thanked too, and none completed before the first run.
[campaign "thank-you"]
on       = job
trigger  = status = completed
backfill = 0s
format   = postcard
template = tmpl_thankyou
back     = tmpl_thankyouback

[thresholds]
timezone = America/Chicago
""".format(jb=self.jb.port, qb=self.qb.port, lob=self.lob.port, realm=REALM, dir=self.dir))

    # ---- the world: clients, jobs, customers -------------------------------
    def new_client(self, t):
        """A Jobber client (its e-mail, phone and address unique), created at t."""
        rng = self.rng
        self.n_clients += 1
        n = self.n_clients
        first, last = rng.choice(FIRST), rng.choice(LAST)
        town, zipf = rng.choice(TOWNS)
        c = {"first": first, "last": last,
             "email": None if rng.random() < 0.1 else "%s.%s%d@example.com" % (
                 first.lower().replace("é", "e").replace("ë", "e"), last.lower().replace("í", "i"), n),
             "phone": "(512) 5%02d-%04d" % (n // 10000 + 10, n % 10000),
             "street": "%d %s" % (100 + n, rng.choice(STREETS)), "city": town,
             "zip": zipf % rng.randint(1, 60)}
        cid = gid("Client", n)
        self.clients[cid] = c
        obj = {"id": cid, "firstName": first, "lastName": last,
               "emails": [{"address": c["email"], "primary": True}] if c["email"] else [],
               "phones": [{"number": c["phone"], "primary": True}],
               "billingAddress": {"street1": c["street"], "city": town, "province": "Texas",
                                  "postalCode": c["zip"], "country": "United States"},
               "createdAt": iso(t), "updatedAt": iso(t)}
        return cid, obj

    def new_job(self, cid, t, **fields):
        self.n_jobs += 1
        jid = gid("Job", self.n_jobs)
        self.jobs[jid] = {"client": cid, "done": None}
        obj = {"id": jid, "client": {"id": cid}, "title": self.rng.choice(WORK), "jobStatus": "upcoming",
               "total": float(self.rng.choice([180, 240, 320, 420, 650, 980, 1200])),
               "createdAt": iso(t), "updatedAt": iso(t)}
        obj.update(fields)
        return jid, obj

    def customer(self, cid, t):
        """The QuickBooks customer the bookkeeper made for a Jobber client, at t:
        most with the same e-mail (written differently), some with only the
        same phone, a few with only the same address, a few with nothing in
        common (a spouse's e-mail, a work phone, a post office box)."""
        rng = self.rng
        c = self.clients[cid]
        r = rng.random()
        n = len(self.customers) + 1
        how = ("email" if r < 0.72 else "phone" if r < 0.86 else "address" if r < 0.94 else "none")
        if n % 15 == 7:     # a few for sure, however few the customers
            how = "none"
        if how == "email" and not c["email"]:
            how = "phone"
        qid = str(n)
        obj = {"Id": qid, "GivenName": c["first"], "FamilyName": c["last"],
               "MetaData": {"CreateTime": iso(t), "LastUpdatedTime": iso(t)}}
        if how == "email":
            obj["PrimaryEmailAddr"] = {"Address": c["email"].capitalize()}
            if rng.random() < 0.5:
                obj["PrimaryPhone"] = {"FreeFormNumber": "512-555-%04d" % n}   # not the client's
        elif how == "phone":
            obj["PrimaryPhone"] = {"FreeFormNumber": "+1 512 " + c["phone"][6:].replace("-", " ")}
            if rng.random() < 0.5:
                obj["PrimaryEmailAddr"] = {"Address": "billing%d@books.test" % n}
        elif how == "address":
            obj["BillAddr"] = {"Line1": c["street"], "City": c["city"], "CountrySubDivisionCode": "TX",
                               "PostalCode": c["zip"], "Country": "USA"}
        else:
            obj["PrimaryEmailAddr"] = {"Address": "spouse%d@books.test" % n}
            obj["PrimaryPhone"] = {"FreeFormNumber": "(737) 555-%04d" % n}
            obj["BillAddr"] = {"Line1": "PO Box %d" % (1000 + n), "City": c["city"], "CountrySubDivisionCode": "TX",
                               "PostalCode": c["zip"], "Country": "USA"}
        self.customers[qid] = (None if how == "none" else cid, how)
        self.customer_of[cid] = qid
        return qid, obj

    def make_world(self):
        a, rng = self.a, self.rng
        old = self.start - dt.timedelta(days=400)   # clients from 400 to 130 days ago
        clients, jobs, customers, invoices, payments = [], [], [], [], []
        self.inv_seq = 0
        self.pay_seq = 0
        for _ in range(a.clients):
            cid, obj = self.new_client(old + dt.timedelta(days=rng.uniform(0, 270)))
            clients.append(obj)
        ids = list(self.clients)
        # The jobs done before fieldsync: most long ago, a few in the hours
        # just before its first run.  Their invoices are paid, or being paid.
        recent = max(2, a.clients // 50)
        for i, cid in enumerate(rng.sample(ids, a.clients // 2)):
            hours = rng.uniform(0.3, 3) if i < recent else rng.uniform(24, 120 * 24)
            done = self.start - dt.timedelta(hours=hours)
            jid, obj = self.new_job(cid, done - dt.timedelta(days=rng.uniform(3, 20)),
                                    jobStatus="requires_invoicing" if i < recent else "archived",
                                    startAt=iso(done - dt.timedelta(hours=2)), completedAt=iso(done),
                                    updatedAt=iso(done + dt.timedelta(minutes=rng.uniform(1, 20))))
            jobs.append(obj)
            self.jobs[jid]["done"] = done
            self.before.add(jid)
            qid, cobj = self.customer(cid, done - dt.timedelta(days=rng.uniform(1, 3)))
            customers.append(cobj)
            inv_at = done + dt.timedelta(hours=rng.uniform(1, 20))
            iobj, inv = self.invoice(qid, obj["total"], inv_at)
            if inv_at < self.start:
                invoices.append(iobj)
            else:
                self.at(inv_at, "invoice", obj=iobj)
            paid = inv_at + dt.timedelta(days=rng.uniform(1, 8))
            if paid < self.end:
                pobj = self.payment(qid, inv, obj["total"], paid)
                if paid < self.start:
                    payments.append(pobj)
                else:
                    self.at(paid, "payment", obj=pobj)
        # The jobs of the days simulated, booked before them: started and
        # completed on their day, a few reopened and completed again, a few
        # cancelled.
        for d in range(a.days):
            day0 = (self.start + dt.timedelta(days=d)).replace(hour=0, minute=0)
            weekday = day0.weekday() < 5
            # The small town of the tests: three a day, always.
            n = round(a.clients * (0.03 if weekday else 0.008) * rng.uniform(0.8, 1.2))
            n = max(n, 3) if a.clients < 200 else n
            for cid in rng.sample(ids, min(n, len(ids))):
                begin = day0 + dt.timedelta(hours=rng.uniform(13, 23))   # 7 am .. 5 pm in Texas
                if begin < self.start + dt.timedelta(minutes=10) or begin >= self.end:
                    continue
                jid, obj = self.new_job(cid, self.start - dt.timedelta(days=rng.uniform(1, 14)),
                                        startAt=iso(begin))
                jobs.append(obj)
                self.plan_job(jid, begin, self.start)
            # A job booked and finished between two runs (first seen completed).
            if rng.random() < 0.8:
                t = day0 + dt.timedelta(hours=rng.uniform(14, 23))
                if self.start + dt.timedelta(minutes=10) <= t < self.end:
                    self.at(t, "walk-in", cid=rng.choice(ids))
            # A new client, booked for the next days.
            for _ in range(max(1, a.clients // 100)):
                t = day0 + dt.timedelta(hours=rng.uniform(14, 24))
                if self.start + dt.timedelta(minutes=10) <= t < self.end:
                    self.at(t, "new-client", begin=t + dt.timedelta(days=rng.uniform(0.5, 2.5)))
        self.n_jobs0 = len(jobs)
        with open(os.path.join(self.dir, "jobber-data.json"), "w") as f:
            json.dump({"clients": clients, "jobs": jobs}, f)
        with open(os.path.join(self.dir, "qbo-data.json"), "w") as f:
            json.dump({"customers": customers, "invoices": invoices, "payments": payments}, f)

    def plan_job(self, jid, begin, booked):
        rng = self.rng
        if rng.random() < 0.05:   # cancelled the day before: archived, never completed
            t = begin - dt.timedelta(hours=rng.uniform(2, 20))
            self.at(max(t, booked + dt.timedelta(minutes=10)), "job", jid=jid, fields={"jobStatus": "archived"},
                    topic="JOB_UPDATE")
            return
        self.at(begin, "job", jid=jid, fields={"jobStatus": "today"}, topic="JOB_UPDATE")
        done = begin + dt.timedelta(hours=rng.uniform(0.5, 4))
        self.at(done, "job", jid=jid, fields={"jobStatus": "requires_invoicing", "completedAt": iso(done)},
                topic="JOB_UPDATE", completed=True)
        if rng.random() < 0.06:   # reopened by a hurried technician, completed again
            t = done + dt.timedelta(minutes=rng.uniform(10, 40))
            self.at(t, "job", jid=jid, fields={"jobStatus": "today", "completedAt": None}, topic="JOB_UPDATE",
                    reopened=True)
            t2 = t + dt.timedelta(minutes=rng.uniform(15, 60))
            self.at(t2, "job", jid=jid, fields={"jobStatus": "requires_invoicing", "completedAt": iso(t2)},
                    topic="JOB_UPDATE", completed=True)
            done = t2
        self.bill(jid, done)

    def bill(self, jid, done):
        """The bookkeeper invoices the job in QuickBooks (making the customer
        the first time), and the client pays some days later, or not yet."""
        rng = self.rng
        cid = self.jobs[jid]["client"]
        inv_at = done + dt.timedelta(hours=rng.uniform(2, 20))
        if inv_at < self.end:
            self.at(inv_at, "invoice", jid=jid, cid=cid)

    def invoice(self, qid, amount, t):
        self.inv_seq += 1
        inv = str(self.inv_seq)
        return {"Id": inv, "CustomerRef": qid, "TotalAmt": amount, "TxnDate": t.strftime("%Y-%m-%d"),
                "MetaData": {"CreateTime": iso(t), "LastUpdatedTime": iso(t)}}, inv

    def payment(self, qid, inv, amount, t):
        self.pay_seq += 1
        pid = str(self.pay_seq)
        day = t.replace(hour=0, minute=0, second=0)
        self.payments.append((pid, qid, inv, amount, day))
        return {"Id": pid, "CustomerRef": qid, "TotalAmt": amount, "TxnDate": t.strftime("%Y-%m-%d"),
                "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": inv, "TxnType": "Invoice"}]}],
                "MetaData": {"CreateTime": iso(t), "LastUpdatedTime": iso(t)}}

    # ---- the simulation ---------------------------------------------------
    def hook(self, topic, item, t):
        """Jobber's webhook for a change, signed with the app's client secret."""
        body = json.dumps({"data": {"webHookEvent": {
            "topic": topic, "appId": "3ef22a50-072d-430c-a78f-b7646657560b", "accountId": "MQ==",
            "itemId": item, "occurredAt": iso(t)}}}, separators=(",", ":")).encode()
        self.deliver("/jobber", body, "HTTP_X_JOBBER_HMAC_SHA256", JOBBER_SECRET, t)

    def qbo_hook(self, entity, oid, operation, t):
        """Intuit's webhook (the classic payload), signed with the verifier token."""
        body = json.dumps({"eventNotifications": [{"realmId": REALM, "dataChangeEvent": {"entities": [
            {"name": entity, "id": oid, "operation": operation,
             "lastUpdated": t.strftime("%Y-%m-%dT%H:%M:%S.000Z")}]}}]}, separators=(",", ":")).encode()
        self.deliver("/qbo", body, "HTTP_INTUIT_SIGNATURE", QBO_VERIFIER, t)

    def deliver(self, path, body, header, key, t):
        """One webhook to fs-hook, as lighttpd's mod_cgi would run it; the
        vendors deliver at least once, so some twice."""
        sig = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
        env = cgi_env(self.env, t, "POST", path, body, {"CONTENT_TYPE": "application/json", header: sig})
        for _ in range(2 if self.hook_rng.random() < 0.03 else 1):
            t0 = time.monotonic()
            r = subprocess.run([os.path.join(BIN, "fs-hook")], input=body, env=env, capture_output=True)
            self.prof["fs-hook"] = self.prof.get("fs-hook", 0) + time.monotonic() - t0
            st = cgi_status(r.stdout)
            self.hook_statuses[st] = self.hook_statuses.get(st, 0) + 1
            self.count("webhooks")

    def apply(self, t, kind, kw):
        rng = self.rng
        if kind == "job":
            jid = kw["jid"]
            self.jb.call("POST", "/__admin/jobs", dict(kw["fields"], id=jid, updatedAt=iso(t)))
            if kw.get("completed"):
                if self.jobs[jid]["done"] is None and jid not in self.entered:
                    self.entered[jid] = self.jobs[jid]["client"]
                    self.count("jobs")
                self.jobs[jid]["done"] = t
            if kw.get("reopened"):
                self.jobs[jid]["done"] = None
                self.count("reopened")
            if kw["fields"].get("jobStatus") == "archived":
                self.count("cancelled")
            self.hook(kw["topic"], jid, t)
        elif kind == "walk-in":
            cid = kw["cid"]
            done = t - dt.timedelta(minutes=rng.uniform(1, 4))
            jid, obj = self.new_job(cid, t, jobStatus="requires_invoicing", startAt=iso(done - dt.timedelta(hours=1)),
                                    completedAt=iso(done))
            self.jb.call("POST", "/__admin/jobs", obj)
            self.jobs[jid]["done"] = done
            self.entered[jid] = cid
            self.count("jobs")
            self.count("walk-ins")
            self.hook("JOB_CREATE", jid, t)
            self.bill(jid, t)
        elif kind == "new-client":
            cid, obj = self.new_client(t)
            self.jb.call("POST", "/__admin/clients", obj)
            self.hook("CLIENT_CREATE", cid, t)
            begin = kw["begin"]
            jid, jobj = self.new_job(cid, t + dt.timedelta(minutes=1), startAt=iso(begin))
            self.jb.call("POST", "/__admin/jobs", jobj)
            self.hook("JOB_CREATE", jid, t)
            self.count("new clients")
            if begin < self.end:
                self.plan_job(jid, begin, t)
        elif kind == "invoice":
            if "obj" in kw:      # an old job's invoice, made after fieldsync came
                self.qb.call("POST", "/__admin/invoices", kw["obj"])
                self.qbo_hook("Invoice", kw["obj"]["Id"], "Create", t)
                return
            cid = kw["cid"]
            qid = self.customer_of.get(cid)
            if qid is None:      # a new customer in the books, for the first invoice
                qid, cobj = self.customer(cid, t)
                self.qb.call("POST", "/__admin/customers", cobj)
                self.qbo_hook("Customer", qid, "Create", t)
                self.count("customers")
            amount = float(rng.choice([180, 240, 320, 420, 650, 980, 1200]))
            iobj, inv = self.invoice(qid, amount, t)
            self.qb.call("POST", "/__admin/invoices", iobj)
            self.qbo_hook("Invoice", inv, "Create", t)
            self.count("invoices")
            if rng.random() < 0.85:   # paid a few days later, or not yet
                paid = t + dt.timedelta(days=rng.uniform(0.7, 3))
                if paid < self.end:
                    self.at(paid, "payment", obj=self.payment(qid, inv, amount, paid))
        elif kind == "payment":
            self.qb.call("POST", "/__admin/payments", kw["obj"])
            self.qbo_hook("Payment", kw["obj"]["Id"], "Create", t)
            self.count("payments")
            self.count("paid", kw["obj"]["TotalAmt"])

    def pipelines(self, runs, now):
        """Starts the pipelines together, as cron does, and waits for them all."""
        env = dict(self.env, FS_NOW=iso(now))
        t0 = time.monotonic()
        started = [(name, subprocess.Popen(["bash", "-o", "pipefail", "-c", line], env=env, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                           cwd=self.dir)) for name, line in runs]
        for name, p in started:
            err = p.communicate()[1]
            self.count("runs")
            if p.returncode != 0:
                key = (name, p.returncode)
                self.errors[key] = self.errors.get(key, 0) + 1
                if self.errors[key] == 1:
                    lines = [l for l in err.strip().splitlines() if l.startswith("fs-")]
                    say("  %s  %s failed (exit %d, cron mails it): %s" % (
                        self.clock(now), name, p.returncode, lines[-1] if lines else err.strip()[-200:]))
        k = "+".join(name for name, _ in runs)
        self.prof[k] = self.prof.get(k, 0) + time.monotonic() - t0

    def tick(self, now, final=False):
        acted = False
        # Forward, so that Jobber's query-cost bucket refills as the minutes pass.
        self.jb.call("POST", "/__admin/clock", {"advance_ms": ms(now) - ms(self.jb_now)})
        self.jb_now = now
        self.qb.call("POST", "/__admin/clock", {"now": iso(now)})
        self.lob.call("POST", "/__admin/clock", {"now": iso(now), "frozen": True})
        while self.queue and self.queue[0][0] <= now:
            t, _, kind, kw = heapq.heappop(self.queue)
            self.apply(t, kind, kw)
            acted = True
        if not (acted or final or now == self.start):
            return False
        # Jobber and the books, together as cron starts them; the first time
        # Jobber first, so that the clients are there to match the customers
        # to (a customer read before its client is matched at a later run).
        runs = [("jobber-to-mail", "fs-pull jobber | fs-normalize | fs-dedupe | fs-push mail"),
                ("qbo-revenue", "fs-pull qbo | fs-normalize | fs-dedupe | fs-push mail")]
        if now == self.start:
            for r in runs:
                self.pipelines([r], now)
        else:
            self.pipelines(runs, now)
        if self.q("select count(*) from outbox where state = 'pending' and attempts > 0 and next_attempt_at <= ?",
                  (iso(now),))[0][0]:
            self.pipelines([("retry-mail", "fs-push --retry-only mail </dev/null")], now)
        n = self.q("select count(*) from pieces where target = 'mail'")[0][0]
        self.count("pieces", n - self.stats.get("pieces", 0))
        return True

    def first_run(self, now):
        """The first tick: every client, job and customer a first sight, no mail."""
        reqs = self.q("select coalesce(sum(json_extract(detail, '$.mail_requests')), 0) from changelog"
                      " where kind = 'run' and object = 'fs-normalize'")[0][0]
        self.first_requests = reqs
        clients = self.q("select count(*) from contacts where source = 'jobber'")[0][0]
        customers, matched = self.q("select count(*), coalesce(sum(contact_id is not null), 0)"
                                    " from customer_matches where source = 'qbo'")[0]
        jobs, done, recent = self.q("select count(*), coalesce(sum(status = 'completed'), 0),"
                                    " coalesce(sum(status = 'completed' and completed_at >= ?), 0) from jobs",
                                    (iso(now - dt.timedelta(hours=3)),))[0]
        rev = self.q("select count(*), coalesce(sum(amount), 0) from revenue")[0]
        say("  %s  first run: %d clients and %d jobs recorded, %d of them completed already (%d in the last"
            " 3 hours); %d mail requests (a first sight is recorded, not mailed)" % (
                self.clock(now), clients, jobs, done, recent, reqs))
        say("  %s  first run: %d QuickBooks customers, %d of them matched to a Jobber client; %d payments"
            " recorded as revenue ($%.0f)" % (self.clock(now), customers, matched, rev[0], rev[1]))

    def day_line(self, day_start, n):
        s = self.day_stats
        say("day %d  %s  jobs completed %3d (booked and done between runs %d, reopened %d, cancelled %d)"
            "  postcards %3d  invoices %3d  payments %3d ($%.0f)  new clients %d  webhooks %d"
            % (n, day_start.strftime("%a %Y-%m-%d"), s.get("jobs", 0), s.get("walk-ins", 0), s.get("reopened", 0),
               s.get("cancelled", 0), s.get("pieces", 0), s.get("invoices", 0), s.get("payments", 0),
               s.get("paid", 0), s.get("new clients", 0), s.get("webhooks", 0)))
        self.day_stats = {}

    def simulate(self):
        self.tick_days()
        self.tick(self.end, final=True)

    # ---- the end ----------------------------------------------------------
    def summary(self, took):
        say("  %d ticks run of %d, %d pipeline runs, %d webhook deliveries, %.0f s"
            % (self.active_ticks, int((self.end - self.start) / TICK), self.stats.get("runs", 0),
               self.stats.get("webhooks", 0), took))

    def outcomes(self, fmt):
        """fs-report outcomes over the days simulated (whole days in the
        business's time zone, as a marketer would ask for them)."""
        argv = ["fs-report", "outcomes", "--from", str((self.start - dt.timedelta(days=1)).date()),
                "--to", str(self.end.date()), "--format", fmt]
        r = subprocess.run([os.path.join(BIN, argv[0])] + argv[1:], env=dict(self.env, FS_NOW=iso(self.end)),
                           capture_output=True, text=True)
        return " ".join(argv), r

    def report(self):
        """fs-report outcomes, as JSON rows by section."""
        _, r = self.outcomes("json")
        if r.returncode != 0:
            raise SystemExit("demo: fs-report outcomes failed (%d): %s" % (r.returncode, r.stderr.strip()))
        rows = {}
        for line in r.stdout.splitlines():
            o = json.loads(line)
            if "section" in o:
                rows.setdefault(o["section"], []).append(o)
        return rows

    def panels(self):
        argv, r = self.outcomes("text")
        say("")
        say("== " + argv)
        sys.stdout.write(r.stdout + r.stderr)

    def expected_attribution(self, pieces):
        """Each payment's piece, worked out from the fakes' own records and the
        customers as the demo made them: the newest piece to the matching
        Jobber client mailed at or before the payment, within 90 days."""
        by_client = {}
        for p in pieces:
            cid = (p.get("metadata") or {}).get("contact_id")
            by_client.setdefault(cid, []).append((parse_iso(p["date_created"]), p["id"]))
        want = {}
        for pid, qid, inv, amount, at in self.payments:
            if at >= self.end + dt.timedelta(days=1):
                continue
            cid = self.customers[qid][0]
            before = [(t, v) for t, v in by_client.get(cid, []) if t <= at and at - t <= ATTRIBUTION]
            if before:
                want[inv] = (max(before)[1], amount, self.customers[qid][1])
        return want

    def verify(self):
        if self.a.inject_duplicate:
            # For the test that the verification can fail: a second piece for
            # a job, made behind fieldsync's back with a fresh idempotency key.
            piece_behind_back(self.lob, self.env["LOB_API_KEY"], {}, "by-hand-1")
        pieces = self.lob.call("GET", "/__admin/pieces")["data"]
        md = lambda p: p.get("metadata") or {}
        enrolled = {e for (e,) in self.q("select event_id from enrolments where final = 1")}
        events, dup_event = by_event(pieces)
        at_vendor = set(events) - {None}
        missing, extra = sorted(enrolled - at_vendor), sorted(at_vendor - enrolled)
        # Which job each piece is for: the mail request fieldsync was asked for
        # under the piece's event id names it.
        job_of = {e: json.loads(line).get("data", {}).get("job_id")
                  for e, line in self.q("select event_id, line from outbox where target = 'mail'")}
        per_job = {}
        for p in pieces:
            per_job.setdefault(job_of.get(md(p).get("event_id")), []).append(p["id"])
        second = sum(len(v) - 1 for j, v in per_job.items() if j and len(v) > 1)
        for_before = sorted(j for j in per_job if j in self.before)
        not_entered = sorted(j for j in per_job if j not in self.entered)
        unthanked = sorted(j for j in self.entered if j not in per_job)
        # Clients: the contact of each piece at Lob against the jobs' clients.
        wrong_client = [p["id"] for p in pieces
                        if self.entered.get(job_of.get(md(p).get("event_id"))) != md(p).get("contact_id")]
        # Revenue: every payment at QuickBooks recorded, and attributed.
        qbo_pay = [p for p in self.qb.call("GET", "/__admin/payments")["payments"]
                   if p.get("status") != "Deleted" and float(p.get("TotalAmt") or 0) > 0]
        recorded = {d for (d,) in self.q("select deal_id from revenue")}
        unrecorded = [p["Id"] for p in qbo_pay if (p["Line"][0]["LinkedTxn"][0]["TxnId"]) not in recorded]
        want = self.expected_attribution(pieces)
        rep = self.report()
        got = {r["deal_id"]: (r["vendor_id"], r["amount"]) for r in rep.get("deals", [])}
        right = sorted(d for d, (v, amt, how) in want.items() if got.get(d) == (v, amt))
        wrong = sorted(d for d in got if d not in want or got[d] != want[d][:2])
        want_total = sum(amt for _, amt, _ in want.values())
        got_total = sum(r.get("amount") or 0 for r in rep.get("revenue", []))
        # Each QuickBooks customer's match, as fs-normalize made it, against the
        # demo's own making of the customer.
        stored = {c: (k, r) for c, k, r in self.q("select customer_id, contact_id, reason from customer_matches"
                                                   " where source = 'qbo'")}
        mismatched = sorted((c for c in self.customers if stored.get(c) != self.customers[c]), key=int)
        checks = [
            ("pieces at the fake vendor == distinct enrolments", len(pieces), len(enrolled),
             len(pieces) == len(enrolled) and not missing and not extra),
            ("pieces == jobs that entered completed since install", len(pieces), len(self.entered),
             len(pieces) == len(self.entered) and not unthanked and not not_entered),
            ("duplicate pieces (same event)", dup_event, 0, dup_event == 0),
            ("second pieces for one job", second, 0, second == 0),
            ("pieces to another contact than the job's client", len(wrong_client), 0, not wrong_client),
            ("mail requests on the first run (first sights)", self.first_requests, 0, self.first_requests == 0),
            ("pieces for jobs completed before install", len(for_before), 0, not for_before),
            ("QuickBooks customers matched otherwise than made", len(mismatched), 0, not mismatched),
            ("payments at QuickBooks not recorded as revenue", len(unrecorded), 0, not unrecorded),
            ("revenue rows attributed to the piece before them", len(right), len(want),
             len(right) == len(want) and not wrong),
            ("revenue rows attributed wrongly", len(wrong), 0, not wrong),
        ]
        ok = print_checks(checks, "vendors'")
        if missing:
            say("  enrolments without a piece: %s" % " ".join(missing[:10]))
        if extra:
            say("  pieces without an enrolment: %s" % " ".join(extra[:10]))
        for j in unthanked[:10]:
            say("  job %s (client %s) entered completed and has no piece" % (j, self.entered[j]))
        for j in not_entered[:10]:
            say("  piece(s) %s for job %s, which entered no trigger since install" % (" ".join(per_job[j]), j))
        hows = {}
        for cid, how in self.customers.values():
            hows[how] = hows.get(how, 0) + 1
        say("  (QuickBooks customers: %d; as the demo made them: same e-mail %d, same phone only %d, same address"
            " only %d, nothing in common %d)" % (len(self.customers), hows.get("email", 0), hows.get("phone", 0),
                                                 hows.get("address", 0), hows.get("none", 0)))
        by_how = {}
        for d, (v, amt, how) in want.items():
            by_how[how] = by_how.get(how, 0) + 1
        say("  (revenue: %d payments, %d of them after a piece to the matching client (by e-mail %d, phone %d,"
            " address %d); attributed $%.2f, want $%.2f)" % (
                len(qbo_pay), len(want), by_how.get("email", 0), by_how.get("phone", 0), by_how.get("address", 0),
                got_total, want_total))
        for d in [d for d in want if d not in got][:5]:
            say("  invoice %s: paid after piece %s (a match by %s), attributed to none" % (d, want[d][0], want[d][2]))
        for d in wrong[:5]:
            say("  invoice %s: attributed to %s, want %s" % (d, got[d][0], want[d][0] if d in want else "none"))
        for c in mismatched[:5]:
            say("  customer %s: made %s (client %s), matched %s" % (
                c, self.customers[c][1], self.customers[c][0], "%s (contact %s)" % (stored[c][1], stored[c][0])
                if c in stored else "never"))
        if self.errors:
            say("  pipeline runs that failed: %s" % ", ".join(
                "%s exit %d x%d" % (n, s, c) for (n, s), c in sorted(self.errors.items())))
        say("  (webhook answers: %s)" % ", ".join("%d x%d" % kv for kv in sorted(self.hook_statuses.items())))
        return ok and not self.errors


def main():
    ap = argparse.ArgumentParser(description="fieldsync's simulated days on Jobber and QuickBooks Online")
    ap.add_argument("--dir", default=os.path.join(TOP, "demo-jobber"))
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-panels", action="store_true")
    ap.add_argument("--inject-duplicate", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.days < 1 or a.clients < 10:
        ap.error("--days must be 1 or more and --clients 10 or more")
    return run_sim(Sim(a))


if __name__ == "__main__":
    sys.exit(main())
