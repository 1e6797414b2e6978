#!/usr/bin/env python3
"""demo-servicetitan.py: make demo VENDOR=servicetitan, a home-services
business on ServiceTitan that thanks each customer by postcard when a job
is completed.

Starts the fake ServiceTitan and the fake Lob on free loopback ports, writes
DIR/fieldsync.conf (a ServiceTitan source read through its export endpoints,
or its list endpoints with --read list, a Lob target and a thank-you
campaign on ServiceTitan's jobs), then runs the real pipeline
(fs-pull st | fs-normalize | fs-dedupe | fs-push mail) tick by tick (one
tick every 5 simulated minutes, ticks with nothing due skipped) over the
DAYS that end now, with $FS_NOW advancing.

The tenant: CUSTOMERS customers, most of them imported on one day (one
modifiedOn for all), their mailing addresses on their locations (the
customer's own address is a billing box), jobs completed before fieldsync
came (a few in the hours just before its first run), some customers who
say doNotMail.  Over the days: jobs go Scheduled, Dispatched, InProgress,
Completed (a few Canceled); some are booked and finished between two runs
(first seen completed); each day a dispatcher closes several jobs in the
same second and a tablet syncs a completed job late, stamped with the
modifiedOn of the last record already read (the boundary); the office
flags a batch of customers doNotMail in one bulk update (one modifiedOn);
customers move (their location's address changes); duplicate customers are
merged (their locations, jobs and invoices move to the survivor); invoices
are paid.  The fake's access tokens live 2 seconds (renewed in a run) and
once a day it refuses one (a 401: a new token, the request again); with the
export read, includeRecentChanges sends the last records again.

Ends with a verification that checks (and does not assume), from the fakes'
own records and the state file: pieces at the fake Lob == distinct
enrolments == jobs that entered completed since install (to customers that
may be mailed), none on the first run, none for jobs completed before, none
to a doNotMail or merged-away customer, nobody mailed again for a job a
merge moved, no duplicate, each piece to the customer's mailing location,
every customer and its doNotMail in the state file as ServiceTitan has
them, every paid invoice recorded as revenue once.  Exit 0 when every
check holds, 1 when one fails, 2 on a usage or setup error.  Python 3
standard library only.

  demo-servicetitan.py [--dir DIR] [--days N] [--customers N] [--seed N] [--read export|list] [--no-panels]
"""
import argparse
import datetime as dt
import heapq
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in scripts/
from demosim_common import (BIN, FAKES, TICK, TOP, Fake, SimBase, by_event, iso, piece_behind_back,
                            print_checks, run_sim, say)

TENANT = 1000
APP_KEY, CLIENT_ID, CLIENT_SECRET = "fake-st-app-key", "fake-st-client-id", "fake-st-client-secret"
TOKEN_TTL = 2            # seconds (the fake's clock is the real one): renewed within a run
EXPORT_REPEAT = 3        # includeRecentChanges: the last 3 records again with each continuation
FIRST = ["Ana", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ines", "Kai", "Lena", "Marta",
         "Nils", "Oona", "Pedro", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera", "Wes"]
LAST = ["Lee", "Moreau", "Silva", "Wu", "Kowalski", "Okafor", "Haddad", "Petrov", "Sato", "Novak", "Byrne",
        "Dubois", "Olsen", "Reyes", "Schmidt", "Tanaka", "Vogel", "Walsh"]
STREETS = ["Oak St", "Elm Ave", "Cedar Ln", "Maple Dr", "Pecan St", "Lamar Blvd", "Burnet Rd", "Manor Rd",
           "Riverside Dr", "Airport Blvd"]
TOWNS = [("Austin", "787%02d"), ("Round Rock", "786%02d"), ("Pflugerville", "786%02d"), ("Cedar Park", "786%02d")]
AMOUNTS = [180, 240, 320, 420, 650, 980, 1200]


def stamp(t):
    """ServiceTitan's modifiedOn: milliseconds, Z."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


class Sim(SimBase):
    def __init__(self, a):
        super().__init__(a)
        self.customers = {}      # id -> {"name", "locs": [location ids]}
        self.locs = {}           # location id -> {"cid", "street", "city", "zip"}
        self.addr_hist = {}      # customer id -> [(time, mailing street)]
        self.dnm_since = {}      # customer id -> when it said doNotMail (the tick it was read)
        self.merged = {}         # merged-away customer id -> (survivor, time)
        self.jobs = {}           # job id -> {"cid", "done": completion time or None}
        self.before = set()      # jobs completed before fieldsync's first run
        self.entered = {}        # job id -> customer, jobs that entered completed since, mailable
        self.entered_dnm = {}    # job id -> customer, the same for customers that say doNotMail
        self.moved_jobs = {}     # job id -> merge time, completed jobs a merge moved
        self.tick_done = []      # jobs completed this tick, classified once the tick's events are in
        self.first_requests = None
        self.boundary = None     # the newest job modifiedOn given ServiceTitan before the last pull
        self.jobs_mod = None     # ... and now
        self.faults = 0          # 401s injected
        self.n_jobs = self.n_inv = 0

    # ---- set-up -----------------------------------------------------------
    def setup(self):
        self.fresh_dir("tmp")
        self.env = self.base_env(ST_APP_KEY=APP_KEY, ST_CLIENT_ID=CLIENT_ID, ST_CLIENT_SECRET=CLIENT_SECRET,
                                 LOB_API_KEY="test_demo_key")
        self.env.pop("FS_NOW", None)
        world = self.make_world()
        port = os.path.join(self.dir, "servicetitan.port")
        self.st = Fake("ServiceTitan", [sys.executable, os.path.join(FAKES, "fake_servicetitan.py"), "--port", "0",
                                        "--port-file", port, "--now", iso(self.start), "--tenant", str(TENANT),
                                        "--app-key", APP_KEY, "--client-id", CLIENT_ID,
                                        "--client-secret", CLIENT_SECRET, "--access-ttl-s", str(TOKEN_TTL),
                                        "--rate", "1000", "--export-page", "50",
                                        "--export-repeat", str(EXPORT_REPEAT),
                                        "--log", os.path.join(self.dir, "servicetitan.log")], port)
        for r in ("customers", "locations", "jobs", "invoices"):
            for i in range(0, len(world[r]), 500):
                self.st.call("POST", "/__admin/" + r, world[r][i:i + 500])
        self.lob = self.start_lob(self.env["LOB_API_KEY"])
        self.write_config()
        say("fake ServiceTitan on 127.0.0.1:%d (tenant %d: %d customers, %d locations, %d jobs, %d invoices;"
            " read = %s), fake Lob on 127.0.0.1:%d" % (self.st.port, TENANT, len(world["customers"]),
                                                       len(world["locations"]), len(world["jobs"]),
                                                       len(world["invoices"]), self.a.read, self.lob.port))
        say("config %s, state %s" % (self.rel(self.conf), self.rel(self.db)))

    def write_config(self):
        read = ("read      = export\n" if self.a.read == "export" else
                "read      = list\n# Small pages: records that share a modifiedOn straddle them.\npage_size = 20\n")
        with open(self.conf, "w") as f:
            f.write("""# Written by make demo VENDOR=servicetitan (scripts/demo-servicetitan.py):
# fieldsync against the fake ServiceTitan and the fake Lob on loopback.  For
# a real tenant, see fieldsync-servicetitan(7); the credentials are in the
# environment (ST_APP_KEY, ST_CLIENT_ID, ST_CLIENT_SECRET).
[source "st"]
kind      = servicetitan
url       = http://127.0.0.1:{st}
token_url = http://127.0.0.1:{st}/connect/token
tenant    = {tenant}
{read}# Ticks with nothing due are skipped, so at night pulls are hours apart.
interval  = 24h

[target "mail"]
kind      = lob
url       = http://127.0.0.1:{lob}/v1
token_env = LOB_API_KEY
rate      = 1000000/5s
retry     = 1m..1h x12
timeout   = 10s
price     = postcard 0.65

# One postcard a job, when ServiceTitan says it is completed.  backfill = 0s:
# a job booked and finished between two runs (first seen completed) is
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
""".format(st=self.st.port, lob=self.lob.port, tenant=TENANT, read=read))

    # ---- the world ---------------------------------------------------------
    def new_customer(self, t, dnm=False):
        rng = self.rng
        n = len(self.customers) + 1
        cid, lid = 1000 + n, 5000 + n
        name = "%s %s" % (rng.choice(FIRST), rng.choice(LAST))
        town, zipf = rng.choice(TOWNS)
        loc = {"cid": cid, "street": "%d %s" % (100 + n, rng.choice(STREETS)), "city": town,
               "zip": zipf % rng.randint(1, 60)}
        self.customers[cid] = {"name": name, "locs": [lid]}
        self.locs[lid] = loc
        self.addr_hist[cid] = [(t, loc["street"])]
        if dnm:
            self.dnm_since[cid] = t
        cobj = {"id": cid, "name": name, "type": "Residential", "doNotMail": dnm, "modifiedOn": stamp(t),
                "createdOn": stamp(t),
                # The billing address is a box: the mail goes to the location.
                "address": {"street": "PO Box %d" % (2000 + n), "city": town, "state": "TX", "zip": loc["zip"],
                            "country": "USA"}}
        lobj = self.loc_obj(lid, t)
        return cobj, lobj

    def loc_obj(self, lid, t):
        l = self.locs[lid]
        return {"id": lid, "customerId": l["cid"], "name": "Home", "active": True, "modifiedOn": stamp(t),
                "address": {"street": l["street"], "city": l["city"], "state": "TX", "zip": l["zip"],
                            "country": "USA"}}

    def new_job(self, cid, t, status="Scheduled", **more):
        self.n_jobs += 1
        jid = 20000 + self.n_jobs
        self.jobs[jid] = {"cid": cid, "done": None}
        return self.new_job_obj(jid, cid, t, status, **more)

    def invoice(self, jid, t, paid):
        self.n_inv += 1
        total = "%.2f" % self.rng.choice(AMOUNTS)
        return {"id": 40000 + self.n_inv, "customer": {"id": self.jobs[jid]["cid"]}, "job": {"id": jid},
                "total": total, "balance": "0.00" if paid else total, "invoiceDate": stamp(t)[:10],
                "modifiedOn": stamp(t)}

    def make_world(self):
        a, rng = self.a, self.rng
        span = (self.end - self.start).total_seconds()
        imported = (self.start - dt.timedelta(days=200)).replace(hour=14, minute=0, second=0, microsecond=0)
        customers, locations, jobs, invoices = [], [], [], []
        for i in range(a.customers):
            # Most came in one import: one modifiedOn for all of them.
            t = imported if rng.random() < 0.6 else self.start - dt.timedelta(days=rng.uniform(2, 190))
            c, l = self.new_customer(t, dnm=rng.random() < 0.08 or i % 25 == 3)
            customers.append(c)
            locations.append(l)
        ids = list(self.customers)
        # Jobs completed before fieldsync: most long ago, a few in the hours
        # just before its first run; their invoices paid.
        recent = max(2, a.customers // 50)
        for i, cid in enumerate(rng.sample(ids, a.customers // 2)):
            hours = rng.uniform(0.3, 3) if i < recent else rng.uniform(24, 120 * 24)
            done = self.start - dt.timedelta(hours=hours)
            jid, obj = self.new_job(cid, done - dt.timedelta(days=rng.uniform(3, 20)), "Completed",
                                    completedOn=stamp(done), modifiedOn=stamp(done + dt.timedelta(minutes=5)))
            jobs.append(obj)
            self.jobs[jid]["done"] = done
            self.before.add(jid)
            invoices.append(self.invoice(jid, done + dt.timedelta(hours=1), paid=hours > 48))
        self.jobs_mod = max(j["modifiedOn"] for j in jobs) if jobs else None
        # The days: jobs booked before them (Scheduled at the first run),
        # others booked and done in the days, a few walk-ins.
        planned = []     # (customer, begin)
        for d in range(a.days):
            day0 = (self.start + dt.timedelta(days=d)).replace(hour=0, minute=0, second=0, microsecond=0)
            weekday = day0.weekday() < 5
            n = max(4, round(a.customers * (0.05 if weekday else 0.015) * rng.uniform(0.8, 1.2)))
            day_jobs = []
            for cid in rng.sample(ids, min(n, len(ids))):
                begin = day0 + dt.timedelta(hours=rng.uniform(13, 22))   # 7 am .. 4 pm in Texas
                if begin < self.start + dt.timedelta(minutes=20) or begin >= self.end:
                    continue
                if rng.random() < 0.7:     # booked before fieldsync came
                    jid, obj = self.new_job(cid, self.start - dt.timedelta(days=rng.uniform(1, 14)))
                    jobs.append(obj)
                else:                      # booked in the days
                    booked = self.start + dt.timedelta(seconds=rng.uniform(0, (begin - self.start).total_seconds()))
                    jid = self.at_new_job(cid, booked)
                day_jobs.append((jid, begin))
            # The dispatcher closes several jobs in one second.
            batch = day_jobs[:max(3, len(day_jobs) // 5)]
            close = max(b for _, b in batch) + dt.timedelta(minutes=rng.uniform(30, 90)) if batch else None
            for jid, begin in day_jobs:
                self.plan_job(jid, begin, close if (jid, begin) in batch and close < self.end else None)
            # Walk-ins: booked and finished between two runs.
            for _ in range(2):
                t = day0 + dt.timedelta(hours=rng.uniform(14, 23))
                if self.start + dt.timedelta(minutes=10) <= t < self.end:
                    self.at(t, "walk-in", cid=rng.choice(ids))
            # A tablet syncs a completed job late: the modifiedOn of the boundary.
            t = day0 + dt.timedelta(hours=rng.uniform(16, 22))
            if self.start + dt.timedelta(hours=1) <= t < self.end:
                self.at(t, "late", cid=rng.choice(ids))
            # A customer moves: the location's address changes.
            for jid, _ in day_jobs[:2]:
                t = day0 + dt.timedelta(hours=rng.uniform(12, 13))
                if self.start + dt.timedelta(minutes=10) <= t < self.end:
                    self.at(t, "move", cid=self.jobs[jid]["cid"])
            # ServiceTitan refuses a token before its time: a 401.
            t = day0 + dt.timedelta(hours=rng.uniform(14, 22))
            if self.start + dt.timedelta(minutes=10) <= t < self.end:
                self.at(t, "refuse")
        # The office flags customers doNotMail in one bulk update (one modifiedOn),
        # among them customers with jobs to come.
        bulk_t = (self.start + dt.timedelta(seconds=span * 0.3)).replace(microsecond=0)
        later = [j["cid"] for j in self.jobs.values() if j["done"] is None and j["cid"] not in self.dnm_since]
        k = max(3, a.customers // 40)
        pick = list(dict.fromkeys(rng.sample(later, min(len(later), k)) + rng.sample(ids, k)))[:k]
        self.at(bulk_t, "bulk-dnm", cids=pick)
        # Duplicates merged: customers both thanked for a job already, later.
        self.merge_t = (self.start + dt.timedelta(seconds=span * 0.7)).replace(microsecond=0)
        self.plan_merges(max(2, a.customers // 100), set(pick))
        self.n_world = (len(customers), len(jobs))
        return {"customers": customers, "locations": locations, "jobs": jobs, "invoices": invoices}

    def at_new_job(self, cid, t):
        """A job booked at t (its id now)."""
        jid, _ = self.new_job(cid, t)
        self.at(t, "book", jid=jid)
        return jid

    def plan_job(self, jid, begin, close=None):
        rng = self.rng
        self.jobs[jid]["plan"] = None
        if rng.random() < 0.06 and close is None:   # cancelled before the day
            self.at(begin - dt.timedelta(hours=rng.uniform(1, 6)), "job", jid=jid, status="Canceled")
            return
        self.at(begin, "job", jid=jid, status="Dispatched")
        self.at(begin + dt.timedelta(minutes=rng.uniform(5, 20)), "job", jid=jid, status="InProgress")
        done = close or (begin + dt.timedelta(hours=rng.uniform(1, 4)))
        self.jobs[jid]["plan"] = done
        if done < self.end:
            self.at(done, "job", jid=jid, status="Completed", batch=close is not None)

    def plan_merges(self, n, avoid):
        """Pairs of customers with a job completed in the days before the merge
        (each thanked once): the first merged into the second."""
        done_by = {}
        for jid, j in self.jobs.items():
            p = j.get("plan")
            if p and p < self.merge_t - dt.timedelta(minutes=30) and j["cid"] not in avoid \
                    and j["cid"] not in self.dnm_since:
                done_by.setdefault(j["cid"], jid)
        cands = sorted(done_by)
        if len(cands) < 2 * n:     # few days or customers: customers thanked before fieldsync too
            cands += sorted(c for c in {self.jobs[j]["cid"] for j in self.before}
                            if c not in avoid and c not in self.dnm_since and c not in done_by)
        self.rng.shuffle(cands)
        for i in range(min(n, len(cands) // 2)):
            self.at(self.merge_t + dt.timedelta(minutes=7 * i), "merge", frm=cands[2 * i], into=cands[2 * i + 1])

    # ---- the simulation ---------------------------------------------------
    def post(self, resource, obj):
        self.st.call("POST", "/__admin/" + resource, obj)
        if resource == "jobs":
            self.jobs_mod = max(self.jobs_mod or "", obj["modifiedOn"])

    def mailing(self, cid):
        locs = [l for l in self.customers[cid]["locs"]]
        return self.locs[min(locs)]["street"] if locs else None

    def completed(self, jid):
        self.tick_done.append(jid)
        self.count("jobs")

    def apply(self, t, kind, kw):
        rng = self.rng
        if kind == "book":
            jid = kw["jid"]
            cid = self.jobs[jid]["cid"]
            _, obj = self.new_job_obj(jid, cid, t)
            self.post("jobs", obj)
        elif kind == "job":
            jid, s = kw["jid"], kw["status"]
            obj = {"id": jid, "jobStatus": s, "modifiedOn": stamp(t)}
            if s == "Completed":
                obj["completedOn"] = stamp(t)
            self.post("jobs", obj)
            if s == "Completed":
                self.jobs[jid]["done"] = t
                self.completed(jid)
                if kw.get("batch"):
                    self.count("batch")
                self.bill(jid, t)
            elif s == "Canceled":
                self.count("cancelled")
        elif kind in ("walk-in", "late"):
            cid = kw["cid"]
            while cid in self.merged:
                cid = self.merged[cid][0]
            mod = t
            if kind == "late":
                # Stamped with the newest modifiedOn already read, when that is
                # since the first run (else it is an ordinary walk-in).
                if self.boundary and self.boundary > stamp(self.start):
                    mod = dt.datetime.strptime(self.boundary, "%Y-%m-%dT%H:%M:%S.%fZ")
                    self.count("late")
            jid, obj = self.new_job(cid, mod, "Completed",
                                    completedOn=stamp(mod - dt.timedelta(minutes=rng.uniform(1, 4))))
            self.jobs[jid]["done"] = mod
            self.post("jobs", obj)
            self.completed(jid)
            self.count("walk-ins")
            self.bill(jid, t)
        elif kind == "refuse":
            # The next request for jobs is refused (401): the connector asks
            # for a new token and sends it again.
            self.st.call("POST", "/__admin/faults", {"status": 401, "path_prefix": "/jpm/", "count": 1,
                                                    "title": "the access token is invalid or has expired"})
            self.faults += 1
            self.count("401s")
        elif kind == "invoice":
            self.post("invoices", kw["obj"])
            if kw["obj"]["balance"] == "0.00":
                self.count("paid")
        elif kind == "move":
            cid = kw["cid"]
            if cid in self.merged:
                return
            lid = min(self.customers[cid]["locs"])
            self.locs[lid]["street"] = "%d %s" % (rng.randint(2000, 9000), rng.choice(STREETS))
            self.post("locations", self.loc_obj(lid, t))
            self.addr_hist[cid].append((t, self.mailing(cid)))
            self.count("moves")
        elif kind == "bulk-dnm":
            self.post("customers", [{"id": c, "doNotMail": True, "modifiedOn": stamp(t)} for c in kw["cids"]])
            for c in kw["cids"]:
                self.dnm_since.setdefault(c, self.tick_now)
            self.count("flagged", len(kw["cids"]))
        elif kind == "merge":
            frm, into = kw["frm"], kw["into"]
            if frm in self.merged or into in self.merged:
                return
            self.st.call("POST", "/__admin/clock", {"now": iso(t)})
            self.st.call("POST", "/__admin/merge", {"from": frm, "into": into})
            self.merged[frm] = (into, self.tick_now)
            self.dnm_since.setdefault(frm, self.tick_now)
            self.customers[into]["locs"] += self.customers[frm]["locs"]
            for lid in self.customers[frm]["locs"]:
                self.locs[lid]["cid"] = into
            self.customers[frm]["locs"] = []
            self.addr_hist[into].append((t, self.mailing(into)))
            for jid, j in self.jobs.items():
                if j["cid"] == frm:
                    j["cid"] = into
                    if j["done"] is not None:
                        self.moved_jobs[jid] = self.tick_now
            # The merge bumped the moved records' modifiedOn (the fake's clock).
            self.jobs_mod = max(self.jobs_mod or "", stamp(t))
            self.count("merges")

    def new_job_obj(self, jid, cid, t, status="Scheduled", **more):
        obj = {"id": jid, "jobNumber": str(jid), "customerId": cid, "locationId": min(self.customers[cid]["locs"]),
               "jobStatus": status, "jobTypeId": 7, "total": float(self.rng.choice(AMOUNTS)),
               "createdOn": stamp(t), "modifiedOn": stamp(t)}
        obj.update(more)
        return jid, obj

    def bill(self, jid, t):
        """The invoice at completion, paid some hours or days later."""
        inv = self.invoice(jid, t, paid=False)
        self.at(t + dt.timedelta(minutes=1), "invoice", obj=inv)
        paid = t + dt.timedelta(hours=self.rng.uniform(1, 48))
        if paid < self.end:
            self.at(paid, "invoice", obj=dict(inv, balance="0.00", modifiedOn=stamp(paid)))

    def pipelines(self, runs, now):
        env = dict(self.env, FS_NOW=iso(now))
        t0 = time.monotonic()
        for name, line in runs:
            p = subprocess.run(["bash", "-o", "pipefail", "-c", line], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=self.dir)
            self.count("runs")
            if p.returncode != 0:
                key = (name, p.returncode)
                self.errors[key] = self.errors.get(key, 0) + 1
                if self.errors[key] == 1:
                    lines = [l for l in p.stderr.strip().splitlines() if l.startswith("fs-")]
                    say("  %s  %s failed (exit %d, cron mails it): %s" % (
                        self.clock(now), name, p.returncode, lines[-1] if lines else p.stderr.strip()[-200:]))
        self.prof["pipelines"] = self.prof.get("pipelines", 0) + time.monotonic() - t0

    def tick(self, now, final=False):
        self.tick_now = now
        acted = False
        self.st.call("POST", "/__admin/clock", {"now": iso(now)})
        self.lob.call("POST", "/__admin/clock", {"now": iso(now), "frozen": True})
        while self.queue and self.queue[0][0] <= now:
            t, _, kind, kw = heapq.heappop(self.queue)
            self.apply(t, kind, kw)
            acted = True
        # What is completed this tick is read with the tick's customers: mailable or not.
        for jid in self.tick_done:
            cid = self.jobs[jid]["cid"]
            (self.entered_dnm if cid in self.dnm_since else self.entered)[jid] = cid
        self.tick_done = []
        if not (acted or final or now == self.start):
            return False
        self.boundary = self.jobs_mod
        self.pipelines([("st-to-mail", "fs-pull st | fs-normalize | fs-dedupe | fs-push mail")], now)
        if self.q("select count(*) from outbox where state = 'pending' and attempts > 0 and next_attempt_at <= ?",
                  (iso(now),))[0][0]:
            self.pipelines([("retry-mail", "fs-push --retry-only mail </dev/null")], now)
        n = self.q("select count(*) from pieces where target = 'mail'")[0][0]
        self.count("pieces", n - self.stats.get("pieces", 0))
        n = self.q("select count(*) from changelog where kind = 'send.suppressed'")[0][0]
        self.count("suppressed", n - self.stats.get("suppressed", 0))
        return True

    def first_run(self, now):
        reqs = self.q("select coalesce(sum(json_extract(detail, '$.mail_requests')), 0) from changelog"
                      " where kind = 'run' and object = 'fs-normalize'")[0][0]
        self.first_requests = reqs
        contacts, dnm = self.q("select count(*), coalesce(sum(do_not_mail), 0) from contacts where source = 'st'")[0]
        jobs, done, recent = self.q("select count(*), coalesce(sum(status = 'completed'), 0),"
                                    " coalesce(sum(status = 'completed' and completed_at >= ?), 0) from jobs",
                                    (iso(now - dt.timedelta(hours=3)),))[0]
        say("  %s  first run: %d customers (%d say doNotMail) and %d jobs recorded, %d of them completed already"
            " (%d in the last 3 hours); %d mail requests (a first sight is recorded, not mailed)" % (
                self.clock(now), contacts, dnm, jobs, done, recent, reqs))

    def day_line(self, day_start, n):
        s = self.day_stats
        say("day %d  %s  jobs completed %3d (in one second %d, walk-ins %d, late at the boundary %d,"
            " cancelled %d)  postcards %3d  suppressed %d  flagged doNotMail %d  merges %d  moves %d"
            "  invoices paid %d  401s %d"
            % (n, day_start.strftime("%a %Y-%m-%d"), s.get("jobs", 0), s.get("batch", 0), s.get("walk-ins", 0),
               s.get("late", 0), s.get("cancelled", 0), s.get("pieces", 0), s.get("suppressed", 0),
               s.get("flagged", 0), s.get("merges", 0), s.get("moves", 0), s.get("paid", 0), s.get("401s", 0)))
        self.day_stats = {}

    def simulate(self):
        self.tick_days()
        self.tick(self.end, final=True)

    # ---- the end ----------------------------------------------------------
    def summary(self, took):
        say("  %d ticks run of %d, %d pipeline runs, %.0f s"
            % (self.active_ticks, int((self.end - self.start) / TICK), self.stats.get("runs", 0), took))

    def panels(self):
        """fs-report outcomes: what was sent and suppressed each day, and the
        paid invoices after a piece."""
        for section in ("spend", "revenue"):
            argv = ["fs-report", "outcomes", "--section", section, "--from",
                    str((self.start - dt.timedelta(days=1)).date()), "--to", str(self.end.date()), "--format", "text"]
            r = subprocess.run([os.path.join(BIN, argv[0])] + argv[1:], env=dict(self.env, FS_NOW=iso(self.end)),
                               capture_output=True, text=True)
            say("")
            say("== " + " ".join(argv))
            sys.stdout.write(r.stdout + r.stderr)

    def verify(self):
        if self.a.inject_duplicate:
            piece_behind_back(self.lob, self.env["LOB_API_KEY"], {}, "by-hand-1")
        pieces = self.lob.call("GET", "/__admin/pieces")["data"]
        state = self.st.call("GET", "/__admin/state")
        reqs = self.st.call("GET", "/__admin/requests")["requests"]
        md = lambda p: p.get("metadata") or {}
        created = lambda p: dt.datetime.strptime(p["date_created"][:19], "%Y-%m-%dT%H:%M:%S")
        enrolled = {e for (e,) in self.q("select event_id from enrolments where final = 1")}
        events, dup_event = by_event(pieces)
        at_vendor = set(events) - {None}
        missing, extra = sorted(enrolled - at_vendor), sorted(at_vendor - enrolled)
        job_of = {}
        for e, line in self.q("select event_id, line from outbox where target = 'mail'"):
            j = json.loads(line).get("data", {}).get("job_id")
            job_of[e] = int(j) if j and str(j).isdigit() else j
        per_job = {}
        for p in pieces:
            per_job.setdefault(job_of.get(md(p).get("event_id")), []).append(p)
        second = sum(len(v) - 1 for j, v in per_job.items() if j and len(v) > 1)
        for_before = sorted(j for j in per_job if j in self.before)
        not_entered = sorted(j for j in per_job if j not in self.entered)
        unthanked = sorted(j for j in self.entered if j not in per_job)
        wrong_client = [p["id"] for p in pieces
                        if str(self.entered.get(job_of.get(md(p).get("event_id")))) != str(md(p).get("contact_id"))]
        # doNotMail and merged-away customers, as the fake has them at the end.
        st_cust = {c["id"]: c for c in state["customers"]}
        fake_dnm = {c for c, o in st_cust.items() if o.get("doNotMail") or o.get("mergedToId")}
        to_dnm = [p["id"] for p in pieces if self.cid(p) in self.dnm_since
                  and self.dnm_since[self.cid(p)] <= created(p)]
        supp = {e for (e,) in self.q("select event_id from changelog where kind = 'send.suppressed'")}
        supp_jobs = {job_of.get(e) for e in supp}
        dnm_suppressed = sorted(j for j in self.entered_dnm if j in supp_jobs and j not in per_job)
        # Merges: no piece again for a job a merge moved, none to the merged-away.
        again = [p["id"] for j, v in per_job.items() if j in self.moved_jobs for p in v
                 if created(p) >= self.moved_jobs[j]]
        to_merged = [p["id"] for p in pieces if self.cid(p) in self.merged
                     and created(p) >= self.merged[self.cid(p)][1]]
        # The address: the customer's mailing location (lowest id) when mailed.
        misaddressed = []
        for p in pieces:
            hist = [s for t, s in self.addr_hist.get(self.cid(p), []) if t <= created(p)]
            if not hist or (p.get("to") or {}).get("address_line1", "").upper() != hist[-1].upper():
                misaddressed.append(p["id"])
        # The state file against ServiceTitan: every customer, its doNotMail.
        contacts = {int(c): (s, d) for c, s, d in self.q("select id, status, do_not_mail from contacts"
                                                          " where source = 'st'")}
        lost = sorted(c for c in st_cust if c not in contacts)
        dnm_differs = sorted(c for c in st_cust if c in contacts and bool(contacts[c][1]) != (c in fake_dnm))
        # Revenue: each paid invoice once.
        paid = {i["id"] for i in state["invoices"] if float(i["total"]) > 0 and float(i["balance"]) == 0}
        revenue = [int(d) for (d,) in self.q("select deal_id from revenue")]
        unrecorded = sorted(paid - set(revenue))
        rev_twice = len(revenue) - len(set(revenue))
        # Tokens: grants, 401s at the fake, runs failed.
        grants = sum(1 for r in reqs if r["path"] == "/connect/token")
        r401 = sum(1 for r in reqs if r["status"] == 401)
        failed = sum(self.errors.values())
        checks = [
            ("pieces at the fake vendor == distinct enrolments", len(pieces), len(enrolled),
             len(pieces) == len(enrolled) and not missing and not extra),
            ("pieces == jobs that entered completed since install", len(pieces), len(self.entered),
             len(pieces) == len(self.entered) and not unthanked and not not_entered),
            ("duplicate pieces (same event)", dup_event, 0, dup_event == 0),
            ("second pieces for one job", second, 0, second == 0),
            ("pieces to another customer than the job's", len(wrong_client), 0, not wrong_client),
            ("mail requests on the first run (first sights)", self.first_requests, 0, self.first_requests == 0),
            ("pieces for jobs completed before install", len(for_before), 0, not for_before),
            ("pieces to doNotMail customers", len(to_dnm), 0, not to_dnm),
            ("doNotMail customers' completed jobs suppressed", len(dnm_suppressed), len(self.entered_dnm),
             len(dnm_suppressed) == len(self.entered_dnm)),
            ("pieces again for jobs a merge moved", len(again), 0, not again),
            ("pieces to merged-away customers", len(to_merged), 0, not to_merged),
            ("pieces not to the customer's mailing location", len(misaddressed), 0, not misaddressed),
            ("customers at ServiceTitan not in the state file", len(lost), 0, not lost),
            ("customers whose doNotMail differs from ServiceTitan", len(dnm_differs), 0, not dnm_differs),
            ("paid invoices not recorded as revenue", len(unrecorded), 0, not unrecorded),
            ("invoices recorded as revenue twice", rev_twice, 0, rev_twice == 0),
            ("pipeline runs that failed", failed, 0, failed == 0),
        ]
        ok = print_checks(checks, "vendors'")
        if missing:
            say("  enrolments without a piece: %s" % " ".join(missing[:10]))
        if extra:
            say("  pieces without an enrolment: %s" % " ".join(extra[:10]))
        for j in unthanked[:10]:
            say("  job %s (customer %s) entered completed and has no piece" % (j, self.entered[j]))
        for j in not_entered[:10]:
            say("  piece(s) %s for job %s, which entered no trigger since install"
                % (" ".join(p["id"] for p in per_job[j]), j))
        for j in sorted(set(self.entered_dnm) - set(dnm_suppressed))[:10]:
            say("  job %s of doNotMail customer %s: not suppressed" % (j, self.entered_dnm[j]))
        for pid in misaddressed[:5]:
            p = next(p for p in pieces if p["id"] == pid)
            say("  piece %s to %s, customer %s's mailing location is %s" % (
                pid, (p.get("to") or {}).get("address_line1"), self.cid(p), self.addr_hist.get(self.cid(p))))
        for c in lost[:5]:
            say("  customer %s is not in the state file" % c)
        for c in dnm_differs[:5]:
            say("  customer %s: doNotMail %s at ServiceTitan, %s in the state file" % (
                c, c in fake_dnm, contacts[c][1]))
        say("  (pieces %d; jobs completed since install %d, of doNotMail customers %d (suppressed %d); customers"
            " saying doNotMail %d, merged %d (jobs moved %d), moved %d; paid invoices %d)" % (
                len(pieces), len(self.entered) + len(self.entered_dnm), len(self.entered_dnm), len(supp),
                len(fake_dnm) - len(self.merged), len(self.merged), len(self.moved_jobs), self.stats.get("moves", 0),
                len(paid)))
        say("  (ServiceTitan: %d requests, %d access tokens granted (they live %d s), %d answered 401 (%d"
            " injected), read = %s, includeRecentChanges repeating %d)" % (
                len(reqs), grants, TOKEN_TTL, r401, self.faults, self.a.read,
                EXPORT_REPEAT if self.a.read == "export" else 0))
        if self.errors:
            say("  pipeline runs that failed: %s" % ", ".join(
                "%s exit %d x%d" % (n, s, c) for (n, s), c in sorted(self.errors.items())))
        return ok

    @staticmethod
    def cid(p):
        c = (p.get("metadata") or {}).get("contact_id")
        return int(c) if c and str(c).isdigit() else c


def main():
    ap = argparse.ArgumentParser(description="fieldsync's simulated days on a ServiceTitan tenant")
    ap.add_argument("--dir", default=os.path.join(TOP, "demo-servicetitan"))
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--customers", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--read", choices=("export", "list"), default="export")
    ap.add_argument("--no-panels", action="store_true")
    ap.add_argument("--inject-duplicate", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.days < 1 or a.customers < 10:
        ap.error("--days must be 1 or more and --customers 10 or more")
    return run_sim(Sim(a))


if __name__ == "__main__":
    sys.exit(main())
