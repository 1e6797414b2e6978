#!/usr/bin/env python3
"""demo-postcardmania.py: make demo VENDOR=postcardmania, one installation that
mails through Lob and PostcardMania.

Starts the fake HubSpot, fake Lob and fake PostcardMania on free loopback
ports, writes DIR/fieldsync.conf (a HubSpot source, a Lob target "mail", a
PostcardMania target "pcm", and two campaigns of one goal: thank-you, a
postcard by Lob when a job is completed, and winback, a postcard by
PostcardMania when a customer has lapsed), then runs the real pipelines
tick by tick (one tick every 5 simulated minutes, ticks with nothing due
skipped) over the DAYS that end now, with $FS_NOW advancing: contacts'
jobs complete, some customers lapse, some do both.  Each tick pulls HubSpot
once and hands the same events to each mail target's pipeline, as
fieldsync(7) says: a request is taken only by its campaign's target and
stays open for the other's.  Then fs-pull pcm-events polls the orders.

Ends with a verification that checks (and does not assume): pieces at the
fake Lob plus orders at the fake PostcardMania == distinct enrolments, no
contact mailed twice (the goal is shared), each vendor mails only its
campaign, nobody mailed on the first run, and every piece made once.  Exit
0 when every check holds, 1 when one fails, 2 on a usage or setup error.
Python 3 standard library only.

  demo-postcardmania.py [--dir DIR] [--days N] [--contacts N] [--seed N] [--no-panels]
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

PCM_KEY, PCM_SECRET = "demo_pcm_key", "demo_pcm_secret"


class Sim(SimBase):
    def __init__(self, a):
        super().__init__(a)
        self.contacts = {}       # id -> {"status": job_status}
        self.pending = []        # contacts changed since the last pull
        self.first_requests = None

    def setup(self):
        self.fresh_dir("tmp")
        self.env = self.base_env(HUBSPOT_TOKEN="demo-hubspot-token", LOB_API_KEY="test_demo_key",
                                 PCM_API_KEY=PCM_KEY, PCM_API_SECRET=PCM_SECRET)
        self.env.pop("FS_NOW", None)
        data = self.make_people()
        with open(os.path.join(self.dir, "hubspot-data.json"), "w") as f:
            json.dump(data, f)
        hs = os.path.join(self.dir, "hubspot.port")
        self.hs = Fake("HubSpot", [sys.executable, os.path.join(FAKES, "fake_hubspot.py"), "--port", "0",
                                   "--port-file", hs, "--data", os.path.join(self.dir, "hubspot-data.json"),
                                   "--token", self.env["HUBSPOT_TOKEN"], "--now", iso(self.start),
                                   "--rate-max", "1000000", "--daily-limit", "100000000"], hs)
        self.hs.call("POST", "/__admin/clock", {"now": iso(self.start)})
        self.lob = self.start_lob(self.env["LOB_API_KEY"])
        pcm = os.path.join(self.dir, "pcm.port")
        self.pcm = Fake("PostcardMania", [sys.executable, os.path.join(FAKES, "fake_postcardmania.py"), "--port", "0",
                                          "--port-file", pcm, "--key", PCM_KEY, "--secret", PCM_SECRET,
                                          "--now", iso(self.start), "--log", os.path.join(self.dir, "pcm.log")], pcm)
        self.write_config()
        say("fake HubSpot on 127.0.0.1:%d (%d contacts), fake Lob on 127.0.0.1:%d, fake PostcardMania on"
            " 127.0.0.1:%d" % (self.hs.port, len(data["contacts"]), self.lob.port, self.pcm.port))
        say("config %s, state %s" % (self.rel(self.conf), self.rel(self.db)))

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write("""# Written by make demo VENDOR=postcardmania (scripts/demo-postcardmania.py):
# fieldsync against the fake HubSpot, fake Lob and fake PostcardMania on
# loopback.  For real accounts, see fieldsync(7) and fieldsync-postcardmania(7).
[source "hubspot"]
kind            = hubspot
url             = http://127.0.0.1:{hs}
token_env       = HUBSPOT_TOKEN
status_property = job_status
streams         = contacts
# The demo runs days in minutes: the real clock's rate limits are opened up.
rate            = 1000000/10s
search_rate     = none
interval        = 24h

[source "pcm-events"]
kind     = postcardmania-events
url      = http://127.0.0.1:{pcm}
rate     = 1000000/1s
interval = 24h

[target "mail"]
kind      = lob
url       = http://127.0.0.1:{lob}/v1
token_env = LOB_API_KEY
rate      = 1000000/5s
retry     = 1m..1h x12
timeout   = 10s
price     = postcard 0.65
sla       = mailed 2bd, delivered 7bd

[target "pcm"]
kind    = postcardmania
url     = http://127.0.0.1:{pcm}
rate    = 1000000/1s
retry   = 1m..1h x12
timeout = 10s
price   = postcard 0.58
sla     = mailed 3bd, delivered 8bd

# One goal: a contact in both campaigns gets one postcard, by one vendor.
[campaign "thank-you"]
goal     = retention
trigger  = status = job_completed
format   = postcard
template = tmpl_thankyou
back     = tmpl_thankyouback
target   = mail

[campaign "winback"]
goal     = retention
trigger  = status = lapsed
format   = postcard
template = 40213
target   = pcm
""".format(hs=self.hs.port, lob=self.lob.port, pcm=self.pcm.port))

    def make_people(self):
        """Contacts in Texas, all active customers at the start; then, over the
        days, some complete a job, some lapse, some do both."""
        rng, contacts = self.rng, []
        for n in range(1, self.a.contacts + 1):
            cid = str(5000 + n)
            self.contacts[cid] = {"status": "active"}
            contacts.append({"id": cid, "properties": {
                "firstname": "C%d" % n, "lastname": "Demo", "email": "c%d@example.com" % n,
                "address": "%d Oak St" % (100 + n), "city": "Austin", "state": "TX", "zip": "787%02d" % (n % 60),
                "job_status": "active", "lastmodifieddate": iso(self.start - dt.timedelta(days=30))}})
            span = (self.end - self.start).total_seconds()
            r = rng.random()
            if r < 0.45:
                self.at(self.start + dt.timedelta(seconds=rng.uniform(600, span)), "status", cid=cid, s="job_completed")
            elif r < 0.8:
                self.at(self.start + dt.timedelta(seconds=rng.uniform(600, span)), "status", cid=cid, s="lapsed")
            if r < 0.15:   # both: one of the two campaigns mails, once
                self.at(self.start + dt.timedelta(seconds=rng.uniform(600, span)), "status", cid=cid, s="lapsed")
        return {"contacts": contacts}

    def pipelines(self, now):
        env = dict(self.env, FS_NOW=iso(now))
        for name, line in [
                ("crm-to-mail", "fs-pull hubspot | fs-normalize | tee tick.ndjson | fs-dedupe | fs-push mail"
                                " && fs-dedupe <tick.ndjson | fs-push pcm"),
                ("pcm-status", "fs-pull pcm-events | fs-normalize | fs-dedupe | fs-push mail")]:
            p = subprocess.run(["bash", "-o", "pipefail", "-c", line], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=self.dir)
            self.count("runs")
            if p.returncode != 0:
                key = (name, p.returncode)
                self.errors[key] = self.errors.get(key, 0) + 1
                if self.errors[key] == 1:
                    say("  %s  %s failed (exit %d): %s" % (self.clock(now), name, p.returncode,
                                                           p.stderr.strip()[-300:]))

    def tick(self, now, final=False):
        acted = False
        self.hs.call("POST", "/__admin/clock", {"now": iso(now)})
        self.lob.call("POST", "/__admin/clock", {"now": iso(now), "frozen": True})
        self.pcm.call("POST", "/__admin/clock", {"now": iso(now)})
        while self.queue and self.queue[0][0] <= now:
            t, _, kind, kw = heapq.heappop(self.queue)
            self.contacts[kw["cid"]]["status"] = kw["s"]
            self.hs.call("POST", "/__admin/contacts", [{"id": kw["cid"], "properties": {
                "job_status": kw["s"], "lastmodifieddate": iso(t)}, "updatedAt": iso(t)}])
            self.count(kw["s"])
            acted = True
        if not (acted or final or now == self.start):
            return False
        self.pipelines(now)
        for target, k in (("mail", "lob pieces"), ("pcm", "pcm orders")):
            n = self.q("select count(*) from pieces where target = ?", (target,))[0][0]
            self.count(k, n - self.stats.get(k, 0))
        return True

    def first_run(self, now):
        self.first_requests = self.q("select coalesce(sum(json_extract(detail, '$.mail_requests')), 0) from changelog"
                                     " where kind = 'run' and object = 'fs-normalize'")[0][0]
        say("  %s  first run: %d contacts recorded; %d mail requests (a first sight is recorded, not mailed)"
            % (self.clock(now), self.q("select count(*) from contacts")[0][0], self.first_requests))

    def day_line(self, day_start, n):
        s = self.day_stats
        say("day %d  %s  jobs completed %3d  lapsed %3d  postcards by Lob %3d, by PostcardMania %3d"
            % (n, day_start.strftime("%a %Y-%m-%d"), s.get("job_completed", 0), s.get("lapsed", 0),
               s.get("lob pieces", 0), s.get("pcm orders", 0)))
        self.day_stats = {}

    def simulate(self):
        self.tick_days()
        self.tick(self.end, final=True)

    def summary(self, took):
        say("  %d ticks run of %d, %d pipeline runs, %.0f s"
            % (self.active_ticks, int((self.end - self.start) / TICK), self.stats.get("runs", 0), took))

    def panels(self):
        argv = ["fs-report", "sla", "--section", "vendor_sla", "--format", "text"]
        r = subprocess.run([os.path.join(BIN, argv[0])] + argv[1:], env=dict(self.env, FS_NOW=iso(self.end)),
                           capture_output=True, text=True)
        say("")
        say("== " + " ".join(argv))
        sys.stdout.write(r.stdout + r.stderr)

    def verify(self):
        if self.a.inject_duplicate:
            piece_behind_back(self.lob, self.env["LOB_API_KEY"], {}, "by-hand-1")
        pieces = self.lob.call("GET", "/__admin/pieces")["data"]
        orders = self.pcm.call("GET", "/__admin/orders")["data"]
        enrolled = dict(self.q("select event_id, contact_id from enrolments where final = 1"))
        campaign = dict(self.q("select event_id, campaign from enrolments where final = 1"))
        lob_events, lob_dup = by_event(pieces)
        pcm_events = {}
        for o in orders:
            pcm_events.setdefault(o["extRefNbr"], []).append(o["orderID"])
        pcm_dup = sum(len(v) - 1 for v in pcm_events.values())
        at_vendors = (set(lob_events) - {None}) | set(pcm_events)
        both = set(lob_events) & set(pcm_events)
        per_contact = {}
        for e in list(lob_events) + list(pcm_events):
            per_contact.setdefault(enrolled.get(e), []).append(e)
        twice = [c for c, v in per_contact.items() if c and len(v) > 1]
        wrong_lob = [e for e in lob_events if e and campaign.get(e) != "thank-you"]
        wrong_pcm = [e for e in pcm_events if campaign.get(e) != "winback"]
        n = len(pieces) + len(orders)
        checks = [
            ("pieces at both fakes == distinct enrolments", n, len(enrolled),
             n == len(enrolled) and at_vendors == set(enrolled)),
            ("contacts mailed twice (by one vendor or both)", len(twice), 0, not twice),
            ("events mailed by both vendors", len(both), 0, not both),
            ("duplicate pieces at Lob (same event)", lob_dup, 0, lob_dup == 0),
            ("duplicate orders at PostcardMania (same extRefNbr)", pcm_dup, 0, pcm_dup == 0),
            ("Lob pieces not of thank-you", len(wrong_lob), 0, not wrong_lob),
            ("PostcardMania orders not of winback", len(wrong_pcm), 0, not wrong_pcm),
            ("mail requests on the first run (first sights)", self.first_requests, 0, self.first_requests == 0),
        ]
        ok = print_checks(checks, "vendors'")
        say("  (Lob %d pieces, PostcardMania %d orders; contacts that completed a job %d, lapsed %d)"
            % (len(pieces), len(orders), self.stats.get("job_completed", 0), self.stats.get("lapsed", 0)))
        if self.errors:
            say("  pipeline runs that failed: %s" % ", ".join(
                "%s exit %d x%d" % (n, s, c) for (n, s), c in sorted(self.errors.items())))
        return ok and not self.errors


def main():
    ap = argparse.ArgumentParser(description="fieldsync's simulated days with Lob and PostcardMania")
    ap.add_argument("--dir", default=os.path.join(TOP, "demo-postcardmania"))
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--contacts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-panels", action="store_true")
    ap.add_argument("--inject-duplicate", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.days < 1 or a.contacts < 10:
        ap.error("--days must be 1 or more and --contacts 10 or more")
    return run_sim(Sim(a))


if __name__ == "__main__":
    sys.exit(main())
