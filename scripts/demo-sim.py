#!/usr/bin/env python3
"""demo-sim.py: fieldsync's simulated fortnight, for make demo and make soak.

Starts the fake HubSpot and fake Lob on free loopback ports, writes
DIR/fieldsync.conf and DIR/fieldsync.db, imports a fortnight of mailing
history done the old way (the pilot's baseline), then runs the real cron
pipelines tick by tick (one tick every 5 simulated minutes, ticks with
nothing due skipped) over the DAYS that end now, with $FS_NOW advancing:
job completions, flicker, duplicate contacts and webhook deliveries, Lob
tracking events through fs-hook (run as a CGI program, with the environment
a web server gives it), a webhook outage (a proxy that strips Lob's
signature headers: the events arrive unsigned, fs-hook counts them apart
and stores none, the watchdog warns, and Lob delivers them again once the
proxy is fixed), an internet scanner trying fs-hook, a vendor 5xx storm
with the watchdog's hold and a scripted acknowledgement, and a missed
follow-up.
Ends with a verification that checks (and does not assume): pieces at the
fake vendor == distinct enrolments, no duplicate piece, a changelog row for
every piece, each piece's status as far as its tracking events at the
vendor went, and the CRM record of each contact with one piece showing that
piece's last status.  With --soak, stages, the watchdog and fs-hook
requests are killed at random and the vendors fault at random.  Exit 0 when every check holds, 1 when one fails, 2 on a usage
or setup error.  Python 3 standard library only.

  demo-sim.py [--dir DIR] [--days N] [--contacts N] [--seed N]
              [--soak] [--kill-rate P] [--fault-rate P] [--quiet]
"""
import argparse
import datetime as dt
import heapq
import hashlib
import hmac
import json
import os
import resource
import signal
import subprocess
import sys
import time
import zoneinfo

sys.dont_write_bytecode = True   # no __pycache__ in scripts/
from demosim_common import (BIN, FAKES, ISO, TICK, TOP, Fake, SimBase, by_event, cgi_env, cgi_status, iso, ms,
                            piece_behind_back, print_checks, run_sim, say)

OWNER_NAMES = ["alice", "bruno", "chen", "dana", "emeka", "farah", "goran", "hana"]
OWNER_SURNAMES = ["Moreau", "Silva", "Wu", "Kowalski", "Okafor", "Haddad", "Petrov", "Sato"]
TRACK = ["mailed", "in_transit", "in_local_area", "processed_for_delivery"]
JOB_STATUSES = ["estimate_sent", "scheduled", "in_progress", "job_completed", "cancelled"]

out = sys.stdout


class Sim(SimBase):
    def __init__(self, a):
        super().__init__(a)
        self.peak_rss = {}
        self.hook_statuses = {}
        self.webhook_broken = False
        self.failed_deliveries = []
        self.hubspot_dirty = True
        self.inbox_pending = False
        self.polling = False
        self.known_pieces = set()
        self.piece_info = {}
        self.owner_alerts = []
        self.printed_alerts = set()
        self.last_watchdog = None
        self.storm_alert = None
        self.kills = 0
        self.hook_kills = 0
        self.fault_runs = 0
        self.syslog_pos = 0
        self.nruns = {}
        self.watchdog_err = ""
        self.alerts_pos = 0
        self.first_requests = 0
        self.entered = set()        # contacts whose job_status entered job_completed during the fortnight
        self.suppressed = {}        # contact id -> why it must get no piece
        self.suppressed_addresses = set()
        self.cancelled = set()      # pieces cancelled inside their send delay
        self.cancel_after = None
        self.hold_alert = None

    # ---- set-up -----------------------------------------------------------
    def setup(self):
        a = self.a
        self.fresh_dir("tmp", "locks")
        self.base0 = self.start - dt.timedelta(days=a.days)
        self.secret = "whsec_demo_" + hashlib.sha256(str(a.seed).encode()).hexdigest()[:16]
        self.env = self.base_env(HUBSPOT_TOKEN="demo-hubspot-token", LOB_API_KEY="test_demo_key",
                                 LOB_WEBHOOK_SECRET=self.secret, FS_LOCKDIR=os.path.join(self.dir, "locks"),
                                 FS_LOGGER=os.path.join(self.dir, "logger"), FS_DEMO_DIR=self.dir)
        with open(self.env["FS_LOGGER"], "w") as f:
            f.write('#!/bin/sh\n# A stand-in for logger(1): appends "TAG PRIORITY message" to syslog.\n'
                    'tag= prio= file=\nwhile getopts t:p:f: o; do\n'
                    '\tcase $o in t) tag=$OPTARG ;; p) prio=$OPTARG ;; f) file=$OPTARG ;; esac\ndone\n'
                    'shift $((OPTIND - 1))\n'
                    'if [ -n "$file" ]; then sed "s|^|$tag $prio |" "$file"; else echo "$tag $prio $*"; fi'
                    ' >>"$FS_DEMO_DIR/syslog"\n')
        os.chmod(self.env["FS_LOGGER"], 0o755)

        data = self.make_people()
        with open(os.path.join(self.dir, "hubspot-data.json"), "w") as f:
            json.dump(data, f)
        hs_port = os.path.join(self.dir, "hubspot.port")
        self.hs = Fake("HubSpot", [sys.executable, os.path.join(FAKES, "fake_hubspot.py"), "--port", "0",
                                   "--port-file", hs_port, "--data", os.path.join(self.dir, "hubspot-data.json"),
                                   "--token", self.env["HUBSPOT_TOKEN"], "--now", iso(self.start),
                                   "--rate-max", "1000000", "--daily-limit", "100000000"], hs_port)
        self.lob = self.start_lob(self.env["LOB_API_KEY"])
        self.hs.call("POST", "/__admin/clock", {"now": iso(self.start)})
        self.write_config()
        say("fake HubSpot on 127.0.0.1:%d (%d contacts), fake Lob on 127.0.0.1:%d"
            % (self.hs.port, len(data["contacts"]), self.lob.port))
        say("config %s, state %s" % (self.rel(self.conf), self.rel(self.db)))

    def write_config(self):
        a = self.a
        # A cap that the busiest weekdays reach (the small town's three jobs a day, always).
        self.cap = 2 if a.contacts < 200 else round(a.contacts * 0.022 * 1.1)
        storm = 10 if a.contacts >= 1000 else 3
        no_ping = "4h" if a.contacts >= 1000 else "24h"
        with open(self.conf, "w") as f:
            f.write("""# Written by make demo (scripts/demo-sim.py): fieldsync against the fake
# HubSpot and fake Lob on loopback.  For real accounts, see fieldsync(7).
[source "hubspot"]
kind            = hubspot
url             = http://127.0.0.1:{hs}
token_env       = HUBSPOT_TOKEN
status_property = job_status
# The team logs its follow-ups as calls; won jobs are deals.
streams         = contacts, calls, deals
# The demo runs two weeks in minutes: the real clock's rate limits would
# stretch it to hours, so the fakes and these limits are opened up.
rate            = 1000000/10s
search_rate     = none
# The demo skips the ticks that have nothing due, so at night its pulls are
# hours apart: with cron's 5-minute interval that would read as stale syncs.
interval        = {interval}

[source "lob-events"]
kind       = lob-events
url        = http://127.0.0.1:{lob}/v1
token_env  = LOB_API_KEY
secret_env = LOB_WEBHOOK_SECRET
rate       = 1000000/5s
interval   = {interval}

[target "mail"]
kind      = lob
url       = http://127.0.0.1:{lob}/v1
token_env = LOB_API_KEY
rate      = 1000000/5s
# Waits drawn at random up to 10m, 20m, 40m ... 6h: twelve attempts ride out
# the afternoon's five-hour storm (with 1m..6h, one row in thirty would not).
retry     = 10m..6h x12
give_up   = 3d
timeout   = 10s
price     = postcard 0.65, letter 1.10

[target "crm"]
kind      = hubspot
url       = http://127.0.0.1:{hs}
token_env = HUBSPOT_TOKEN
rate      = 1000000/10s
retry     = 1m..1h x12
timeout   = 10s

[campaign "thank-you"]
goal       = retention
trigger    = status = job_completed
format     = postcard
template   = tmpl_thankyou
back       = tmpl_thankyouback
active     = 30d
# No more than this many postcards a business day: the rest wait for the next.
cap        = {cap}/day
# Lob holds each postcard two hours: 'fs-push cancel' can still withdraw it.
send_delay = 2h

[thresholds]
# The business's days, for the campaign's cap.
timezone         = America/Chicago
webhook_failures = 3
# Lob's tracking events come in USPS scan batches about an hour apart.
no_ping          = {no_ping}
# Contacts with incomplete addresses dead-letter their mail requests; the
# demo has no one to repair them, so the hold comes later than in production.
dlq_max          = {dlq_max}
retry_storm      = {storm}
follow_up_sla    = 3bd

[alert]
command = o=$(cat); printf '%s\\t%s\\n' "$FS_ALERT_OWNER" "$o" >>"$FS_DEMO_DIR/alerts.tsv"
""".format(hs=self.hs.port, lob=self.lob.port, storm=storm, no_ping=no_ping, dlq_max=max(200, a.contacts // 10),
                   interval="6h" if a.contacts >= 1000 else "24h",
                   cap=self.cap))

    # ---- people and history ----------------------------------------------
    def make_people(self):
        a = self.a
        gen = subprocess.run([sys.executable, os.path.join(FAKES, "fake_hubspot.py"), "--dump-generated",
                              str(a.contacts), "--seed", str(a.seed)], capture_output=True, check=True)
        contacts = json.loads(gen.stdout)["contacts"]
        self.contacts = {}
        rng = self.rng
        for c in contacts:
            p = c["properties"]
            t = self.base0 - dt.timedelta(seconds=rng.randint(3600, 60 * 86400))
            # Some customers' last job is long done: a first sight, which mails nobody.
            p["job_status"] = rng.choice(["scheduled", "in_progress", "cancelled", "estimate_sent", "job_completed"])
            p["lastmodifieddate"] = iso(t)
            c["updatedAt"] = iso(t)
            p.pop("lastmodifieddate", None)
            ok = all((p.get(k) or "").strip() for k in ("address", "city", "state", "zip"))
            self.contacts[c["id"]] = {"owner": p.get("hubspot_owner_id"), "address": ok, "done": None,
                                      "status": p["job_status"], "street": p.get("address"), "city": p.get("city"),
                                      "state": p.get("state"), "zip": p.get("zip")}
        owners = sorted({c["owner"] for c in self.contacts.values() if c["owner"]})
        self.owner_name = {o: OWNER_NAMES[i % len(OWNER_NAMES)] for i, o in enumerate(owners)}
        # The old way: jobs completed in the baseline fortnight, mailed by
        # hand in twice-weekly batches, some twice, follow-ups slow and patchy.
        engagements, deals, rows = [], [], []
        self.later_calls = []
        ids = list(self.contacts)
        for d in range(a.days):
            day = self.base0 + dt.timedelta(days=d)
            for cid in rng.sample(ids, self.jobs_on(day)):
                done = day + dt.timedelta(hours=rng.uniform(8, 18))
                wait = 2
                while (done + dt.timedelta(days=wait)).weekday() not in (1, 3) and a.days >= 7:
                    wait += 1
                sent = (done + dt.timedelta(days=wait)).replace(hour=16, minute=0, second=0)
                if sent >= self.start:
                    continue
                for copy in range(2 if rng.random() < 0.03 else 1):
                    s = sent + dt.timedelta(days=3 * copy)
                    delivered = s + dt.timedelta(days=rng.uniform(3, 8))
                    returned = rng.random() < 0.04
                    row = {"Contact ID": cid, "Campaign": "thank-you", "Date Sent": s.strftime("%Y-%m-%d"),
                           "Date Delivered": "" if returned or delivered >= self.start else delivered.strftime("%Y-%m-%d"),
                           "Returned": (s + dt.timedelta(days=9)).strftime("%Y-%m-%d")
                           if returned and s + dt.timedelta(days=9) < self.start else ""}
                    rows.append(row)
                    if not returned and delivered < self.start:
                        fu = self.business_after(delivered, rng.uniform(0.5, 8))
                        if fu >= self.start:   # still to come: within the SLA, or the go-live alerts on history
                            fu = self.business_after(delivered, rng.uniform(0.2, 2.5))
                        if fu < self.start:
                            engagements.append(self.call_obj(cid, fu))
                        else:
                            self.later_calls.append((fu, cid))
                if rng.random() < 0.06:
                    deals.append(self.deal_obj(cid, done + dt.timedelta(days=rng.uniform(3, 12))))
        self.history_rows = rows
        # The portal's job status is a dropdown (an enumeration) with these values.
        props = {"contacts": [{"name": "job_status", "type": "enumeration", "label": "Job status",
                               "options": JOB_STATUSES}]}
        # The sales team, as HubSpot's owners API lists them: reports show their names.
        owners = [{"id": o, "email": "%s@example.com" % name, "firstName": name.capitalize(),
                   "lastName": OWNER_SURNAMES[i % len(OWNER_SURNAMES)]}
                  for i, (o, name) in enumerate(sorted(self.owner_name.items()))]
        return {"contacts": contacts, "engagements": engagements, "deals": [d for d in deals if d],
                "properties": props, "owners": owners}

    def jobs_on(self, day):
        rate = {5: 0.006, 6: 0.001}.get(day.weekday(), 0.022)
        n = max(0, int(round(self.a.contacts * rate * self.rng.uniform(0.8, 1.2))))
        if self.a.contacts < 200:   # the test's small town: a few a day, every day
            n = max(n, 3)
        return min(n, len(self.contacts))

    def business_after(self, t, days):
        """t plus this many business days (weekends skipped), at working hours."""
        orig = t
        whole = int(days)
        while whole > 0:
            t += dt.timedelta(days=1)
            if t.weekday() < 5:
                whole -= 1
        while t.weekday() >= 5:
            t += dt.timedelta(days=1)
        t = t.replace(hour=9, minute=0, second=0) + dt.timedelta(hours=(days - int(days)) * 8)
        while t <= orig or t.weekday() >= 5:
            t += dt.timedelta(days=1)
        return t

    def call_obj(self, cid, at):
        self.seq += 1
        return {"type": "calls", "properties": {"hs_timestamp": iso(at), "hs_call_title": "Thank-you follow-up",
                                                "hubspot_owner_id": self.contacts[cid]["owner"] or ""},
                "updatedAt": iso(at), "createdAt": iso(at), "associations": {"contacts": [cid]}}

    def deal_obj(self, cid, at):
        if at >= self.end:
            return None
        return {"properties": {"dealname": "Job %s" % cid, "dealstage": "closedwon",
                               "amount": str(self.rng.choice([180, 240, 420, 650, 1200, 2400])),
                               "closedate": iso(at), "pipeline": "default"},
                "updatedAt": iso(at), "createdAt": iso(at), "associations": {"contacts": [cid]}}

    def describe(self):
        """As README.md says, before the first run: the campaign is checked against the portal."""
        r = subprocess.run([os.path.join(BIN, "fs-pull"), "--describe", "hubspot"], env=dict(self.env, FS_NOW=iso(self.start)),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("demo: fs-pull --describe hubspot failed (%d): %s" % (r.returncode, r.stderr.strip()))
        row = [l.split("\t") for l in r.stdout.splitlines() if l.startswith("job_status\t")]
        say("described the portal (fs-pull --describe hubspot): %d properties; job_status, the campaign's status,"
            " has %s" % (len(r.stdout.splitlines()), row[0][4] if row else "no values"))

    def import_history(self):
        path = os.path.join(self.dir, "mail-history.csv")
        import csv
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, ["Contact ID", "Campaign", "Date Sent", "Date Delivered", "Returned"])
            w.writeheader()
            w.writerows(self.history_rows)
        pipeline = "fs-pull --as mail-history csv:%s | fs-normalize -q | fs-dedupe -q | fs-push -q mail" % path
        env = dict(self.env, FS_NOW=iso(self.start))
        r = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("demo: history import failed (%d): %s" % (r.returncode, r.stderr.strip()))
        say("imported the old way's fortnight (%s .. %s): %d mailings from %s"
            % (self.base0.date(), (self.start - dt.timedelta(days=1)).date(), len(self.history_rows),
               self.rel(path)))

    def suppress(self):
        """The do-not-mail list a team keeps: two customers who asked not to be
        mailed, and a house whose owner moved away.  Each gets a job done on
        the first day, so the campaign asks for a piece that must not go."""
        fs = os.path.join(BIN, "fs-suppress")
        env = dict(self.env, FS_NOW=iso(self.start))
        ok = sorted(c for c, v in self.contacts.items() if v["address"])
        chosen = self.rng.sample(ok, 3)
        for cid in chosen[:2]:
            subprocess.run([fs, "-q", "add", "--contact", cid, "--reason", "asked not to be mailed"], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            self.suppressed[cid] = "contact"
        v = self.contacts[chosen[2]]
        addr = "%s, %s %s %s" % (v["street"].upper(), v["city"], v["state"], v["zip"])
        subprocess.run([fs, "-q", "add", "--address", addr, "--reason", "moved away"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        self.suppressed[chosen[2]] = "address"
        self.suppressed_addresses.add(self.address_key(v["street"], v["zip"]))
        say("do-not-mail list (fs-suppress add): contacts %s, and the address %s"
            % (" and ".join(chosen[:2]), addr))
        self.suppressed_jobs = chosen

    @staticmethod
    def address_key(street, zipcode):
        return (" ".join((street or "").lower().replace(".", "").replace(",", "").split()), (zipcode or "")[:5])

    # ---- the schedule -----------------------------------------------------
    def plan(self):
        a, rng = self.a, self.rng
        ids = list(self.contacts)
        for t, cid in self.later_calls:
            if t < self.end:
                self.at(self.sync_time(t), "call", cid=cid)
        for d in range(a.days):
            day = self.start + dt.timedelta(days=d)
            day0 = day.replace(hour=0, minute=0)
            for cid in rng.sample(ids, self.jobs_on(day)):
                done = self.sync_time(day0 + dt.timedelta(hours=rng.uniform(8, 18)))
                if done < self.start or done >= self.end:
                    continue
                started = self.sync_time(done - dt.timedelta(hours=rng.uniform(0.5, 4)))
                if started >= self.start:
                    self.at(started, "contact", cid=cid, props={"job_status": "in_progress"})
                self.at(done, "contact", cid=cid, props={"job_status": "job_completed"}, job=True)
                if rng.random() < 0.06:   # flicker: undone and done again by a hurried technician
                    t = self.sync_time(done + dt.timedelta(minutes=rng.uniform(2, 15)))
                    self.at(t, "contact", cid=cid, props={"job_status": "in_progress"}, flicker=True)
                    self.at(self.sync_time(t + dt.timedelta(minutes=rng.uniform(3, 40))), "contact", cid=cid,
                            props={"job_status": "job_completed"})
                if rng.random() < 0.08:
                    deal = self.deal_obj(cid, done + dt.timedelta(days=rng.uniform(1, 10)))
                    if deal:
                        self.at(dt.datetime.strptime(deal["updatedAt"], ISO), "deal", deal=deal)
            # Everyday edits: a phone number, an e-mail typo fixed.
            for cid in rng.sample(ids, max(1, a.contacts // 100)):
                t = self.sync_time(day0 + dt.timedelta(hours=rng.uniform(8, 19)))
                if self.start <= t < self.end:
                    self.at(t, "contact", cid=cid, props={"phone": "+1 512 555 %04d" % rng.randint(0, 9999)})
            monday = day0.weekday() == 0
            if monday and day0 + dt.timedelta(hours=6) >= self.start:
                self.at(day0 + dt.timedelta(hours=6), "scan")
        # The incidents, placed on days 4 and 9 of a fortnight (scaled for shorter runs).
        od = self.start.replace(hour=0, minute=0) + dt.timedelta(days=max(1, round(a.days * 4 / 14)) - 1)
        sd = self.start.replace(hour=0, minute=0) + dt.timedelta(days=max(1, round(a.days * 9 / 14)) - 1)
        if od < self.start:
            od += dt.timedelta(days=1)
        if sd < self.start:
            sd += dt.timedelta(days=1)
        self.at(self.start.replace(hour=0, minute=0) + dt.timedelta(hours=3, minutes=17), "scanner")
        self.at(od + dt.timedelta(hours=9, minutes=40), "outage", on=True)
        self.at(od + dt.timedelta(hours=11, minutes=40), "outage", on=False)
        self.at(sd + dt.timedelta(hours=10), "storm", on=True)
        self.at(sd + dt.timedelta(hours=15), "storm", on=False)
        self.at(sd + dt.timedelta(hours=15, minutes=30), "ack")
        self.missed_day = self.start.replace(hour=0, minute=0) + dt.timedelta(days=max(1, round(a.days * 6 / 14)) - 1)
        # The suppressed contacts' jobs, done on the first day.
        day0 = self.start.replace(hour=0, minute=0)
        if day0 + dt.timedelta(hours=11) < self.start:
            day0 += dt.timedelta(days=1)
        for cid in self.suppressed_jobs:
            self.at(day0 + dt.timedelta(hours=11), "contact", cid=cid, props={"job_status": "in_progress"})
            self.at(day0 + dt.timedelta(hours=12), "contact", cid=cid, props={"job_status": "job_completed"}, job=True)
        # The marketer holds the campaign by hand for two hours to check a new
        # card's proof; then a piece just made is cancelled inside its delay.
        self.at(day0 + dt.timedelta(hours=14), "hold")
        self.at(day0 + dt.timedelta(hours=16), "release")
        self.missed = None

    # ---- running the commands --------------------------------------------
    def start_run(self, name, pipeline, now):
        env = dict(self.env, FS_NOW=iso(now))
        if self.a.fs_run:   # the cron wrapper: flock, pipefail, syslog through FS_LOGGER
            argv = [os.path.join(TOP, "cron", "fs-run"), name, pipeline]
        else:               # the same pipeline string, as fs-run runs it, without its lock and logging
            argv = ["bash", "-o", "pipefail", "-c", pipeline]
        errf = open(os.path.join(self.dir, "tmp", name + ".err"), "w+b")
        if self.a.soak and os.access("/usr/bin/time", os.X_OK):
            # GNU time forks the pipeline from a small process: getrusage of
            # its children is then the pipeline's, not this Python's.
            argv = ["/usr/bin/time", "-f", "%M", "-o", os.path.join(self.dir, "tmp", name + ".rss")] + argv
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=errf, start_new_session=True, cwd=self.dir)
        return (name, p, errf, now)

    def finish_run(self, run, killed=False):
        name, p, errf, now = run
        _, st, ru = os.wait4(p.pid, 0)
        self.nruns[name] = self.nruns.get(name, 0) + 1
        p.returncode = os.waitstatus_to_exitcode(st)
        if killed:   # the pipeline's other stages, orphaned in the same session
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        errf.seek(0)
        err = errf.read().decode(errors="replace")
        errf.close()
        if name == "watchdog":
            self.watchdog_err = err
        rss = ru.ru_maxrss
        if self.a.soak:
            try:
                rss = int(open(os.path.join(self.dir, "tmp", name + ".rss")).read().split()[-1])
            except (OSError, ValueError, IndexError):
                rss = 0   # killed: time(1) wrote nothing
        if self.a.soak:
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)
        self.count("runs")
        if p.returncode != 0 and not killed:
            lines = [l for l in err.strip().splitlines() if l.startswith("fs-") and not l.startswith("fs-run:")]
            if p.returncode == 1 and lines:
                lines = ["%s (and other lines went to the dead-letter queue: fs-dlq list)" % lines[0]]
            key = (name, p.returncode)
            self.errors[key] = self.errors.get(key, 0) + 1
            if self.errors[key] == 1 and not self.a.soak:
                say("  %s  %s failed (exit %d, cron mails it): %s" % (self.clock(now), name, p.returncode,
                                                                   lines[-1] if lines else err.strip()[-200:]))
        return p.returncode

    def run_all(self, runs):
        """Starts the pipelines together, as cron does, and waits for them all."""
        t0 = time.monotonic()
        try:
            return self._run_all(runs)
        finally:
            k = "+".join(r[0] for r in runs)
            self.prof[k] = self.prof.get(k, 0) + time.monotonic() - t0

    def _run_all(self, runs):
        started = [self.start_run(*r) for r in runs]
        killed = set()
        if self.a.soak and self.rng.random() < self.a.kill_rate:
            time.sleep(self.rng.uniform(0.0, 0.12))
            victim = self.rng.choice(started)
            try:   # (no poll(): it would reap the child that wait4 reads)
                os.killpg(victim[1].pid, signal.SIGKILL)
                killed.add(victim[0])
                self.kills += 1
            except OSError:
                pass
        return {r[0]: (self.finish_run(r, r[0] in killed), r[0] in killed) for r in started}

    def run(self, name, pipeline, now):
        return self.run_all([(name, pipeline, now)])[name]

    def hook(self, ev, now, signed=True, kill=False):
        """One webhook delivery, as lighttpd's mod_cgi would run fs-hook;
        with kill, fs-hook gets SIGKILL a random moment into the request
        (the soak), and the delivery has no answer: status 0."""
        body = json.dumps(ev, separators=(",", ":")).encode()
        ts = str(ms(now))
        env = cgi_env(self.env, now, "POST", "/lob-events", body, {"CONTENT_TYPE": "application/json"})
        if signed:
            env["HTTP_LOB_SIGNATURE_TIMESTAMP"] = ts
            env["HTTP_LOB_SIGNATURE"] = hmac.new(self.secret.encode(), ts.encode() + b"." + body,
                                                 hashlib.sha256).hexdigest()
        t0 = time.monotonic()
        if kill:
            p = subprocess.Popen([os.path.join(BIN, "fs-hook")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=env)
            p.stdin.write(body)
            p.stdin.close()
            time.sleep(self.rng.uniform(0, 0.004))
            p.kill()
            p.wait()
            p.stdout.close()
            self.hook_kills += 1
            self.prof["fs-hook"] = self.prof.get("fs-hook", 0) + time.monotonic() - t0
            self.hook_statuses[0] = self.hook_statuses.get(0, 0) + 1
            return 0   # an answer cut off counts as none, whatever fs-hook stored
        r = subprocess.run([os.path.join(BIN, "fs-hook")], input=body, env=env, capture_output=True)
        self.prof["fs-hook"] = self.prof.get("fs-hook", 0) + time.monotonic() - t0
        status = cgi_status(r.stdout)
        self.hook_statuses[status] = self.hook_statuses.get(status, 0) + 1
        self.count("webhooks")
        if 200 <= status < 300:
            self.inbox_pending = True
        return status

    def probe(self, now, method, path, body=b""):
        """One request that is no delivery (a scanner's, an uptime probe's):
        no signature headers.  Its answer's status, or 0."""
        env = cgi_env(self.env, now, method, path, body, remote="192.0.2.7")
        r = subprocess.run([os.path.join(BIN, "fs-hook")], input=body, env=env, capture_output=True)
        return cgi_status(r.stdout)

    # ---- the simulation ---------------------------------------------------
    def apply(self, t, kind, kw, now):
        rng = self.rng
        if kind == "contact":
            cid = kw["cid"]
            props = dict(kw["props"])
            was = self.contacts[cid]["status"]
            if "job_status" in props:
                if props["job_status"] == "job_completed" and was != "job_completed":
                    self.entered.add(cid)
                self.contacts[cid]["status"] = props["job_status"]
            props["lastmodifieddate"] = iso(t)
            self.pending_contacts.append({"id": cid, "properties": props, "updatedAt": iso(t)})
            if kw.get("job"):
                self.count("jobs")
            if kw.get("flicker"):
                self.count("flickers")
        elif kind == "call":
            self.hs.call("POST", "/__admin/engagements", [self.call_obj(kw["cid"], t)])
            self.hubspot_dirty = True
            self.count("follow-ups")
        elif kind == "deal":
            self.hs.call("POST", "/__admin/deals", [kw["deal"]])
            self.hubspot_dirty = True
            self.count("deals")
        elif kind == "lob":
            if kw["piece"] in self.cancelled:
                return      # cancelled before its send date: never printed
            self.pending_lob.setdefault((t, kw["event"]), []).append(kw["piece"])
        elif kind == "redeliver":
            for ev in kw["events"]:
                self.hook(ev, now)
            if not kw.get("quiet"):
                say("  %s  Lob retries the %d webhook deliveries that failed during the outage"
                    % (self.clock(now), len(kw["events"])))
        elif kind == "redeliver-killed":
            # Lob retries a delivery that got no answer; fs-hook may be killed again.
            if self.webhook_broken:
                self.hook(kw["event"], now, signed=False)
                self.failed_deliveries.append(kw["event"])
            else:
                self.deliver_one(kw["event"], now)
        elif kind == "scanner":
            tries = [("GET", "/lob-events", b""), ("POST", "/lob-events", b""), ("POST", "/lob-events", b'{"a":1}'),
                     ("PUT", "/lob-events", b""), ("POST", "/wp-login.php", b"log=admin"), ("GET", "/.env", b""),
                     ("POST", "/hubspot", b"[]"), ("POST", "/lob-events", b"x" * 64)]
            answers = [self.probe(now, m, p, b) for m, p, b in tries]
            say("  %s  an internet scanner tries fs-hook: %d requests without a signature (answers %s);"
                " counted apart, none a failed delivery" % (self.clock(now), len(tries),
                                                           " ".join(str(a) for a in answers)))
        elif kind == "outage":
            self.webhook_broken = kw["on"]
            if kw["on"]:
                say("  %s  ** webhook outage: the proxy in front of fs-hook starts dropping Lob's signature headers"
                    " (fs-hook counts those events apart, stores none; Lob will deliver them again)"
                    % self.clock(t))
                self.outage_at = t
            else:
                say("  %s  ** the proxy is fixed: webhooks reach fs-hook signed again" % self.clock(t))
                if self.failed_deliveries:
                    self.at(now + dt.timedelta(minutes=50), "redeliver", events=self.failed_deliveries)
                    self.failed_deliveries = []
        elif kind == "storm":
            if kw["on"]:
                self.lob.call("POST", "/__admin/faults", {"status": 503, "count": -1, "method": "POST",
                                                          "path_prefix": "/postcards"})
                say("  %s  ** Lob answers 503 to every new postcard (a vendor 5xx storm)" % self.clock(t))
            else:
                self.lob.call("DELETE", "/__admin/faults")
                say("  %s  ** Lob recovers: its status page says resolved" % self.clock(t))
        elif kind == "ack":
            rows = self.q("select id, rule, subject from alerts where state != 'acked'"
                          " and exists (select 1 from holds where alert_id = alerts.id and lifted_at is null)")
            for aid, rule, subject in rows:
                r = subprocess.run([os.path.join(BIN, "fs-watchdog"), "-v", "ack", str(aid), "--by", "dana",
                                    "--note", "Lob status page: resolved"],
                                   env=dict(self.env, FS_NOW=iso(now)), capture_output=True, text=True)
                say("  %s  $ fs-watchdog ack %d --by dana --note 'Lob status page: resolved'  (exit %d)%s"
                    % (self.clock(now), aid, r.returncode, (": " + r.stderr.strip()) if r.stderr.strip() else ""))
                self.acked = True
        elif kind == "hold":
            argv = ["fs-watchdog", "hold", "campaign", "thank-you", "--by", "dana", "--note", "checking the new card's proof"]
            r = subprocess.run([os.path.join(BIN, argv[0])] + argv[1:], env=dict(self.env, FS_NOW=iso(now)),
                               capture_output=True, text=True)
            self.hold_alert = (r.stdout.split("#", 1)[1].split(":", 1)[0]) if "#" in r.stdout else None
            say("  %s  $ %s  (exit %d)\n             %s" % (self.clock(now), " ".join(argv[:6]) + " --note '...'",
                                                       r.returncode, (r.stdout + r.stderr).strip()))
        elif kind == "release":
            held = self.q("select count(*) from outbox where target = 'mail' and state = 'held'")[0][0]
            if self.hold_alert:
                r = subprocess.run([os.path.join(BIN, "fs-watchdog"), "ack", self.hold_alert, "--by", "dana"],
                                   env=dict(self.env, FS_NOW=iso(now)), capture_output=True, text=True)
                say("  %s  $ fs-watchdog ack %s --by dana  (exit %d): %d pieces held meanwhile go with the next run"
                    % (self.clock(now), self.hold_alert, r.returncode, held))
            self.hubspot_dirty = True
            self.cancel_after = now
        elif kind == "scan":
            r = subprocess.run([os.path.join(BIN, "fs-dedupe"), "-q", "scan"], env=dict(self.env, FS_NOW=iso(now)),
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
            sets = [l for l in r.stdout.splitlines() if l.strip()]
            say("  %s  weekly duplicate scan (report only, never merges): %d probable duplicate sets"
                % (self.clock(now), len(sets)))

    def new_pieces(self, now):
        rows = self.q("select rowid, vendor_id, contact_id, queued_at from pieces where rowid > ?"
                      " and target = 'mail' and vendor_id not like 'hist:%' order by rowid", (self.piece_rowid,))
        rng = self.rng
        for rowid, vid, cid, queued in rows:
            self.piece_rowid = rowid
            if vid in self.known_pieces:
                continue
            self.known_pieces.add(vid)
            self.count("pieces")
            created = dt.datetime.strptime(queued, ISO) if queued else now
            # Lob's "created" webhook within minutes, then USPS scans, on the hour's batch.
            self.at(self.scan_time(max(now, created)), "lob", piece=vid, event="created")
            t = self.scan_time(created + dt.timedelta(hours=rng.uniform(6, 30)))
            fate = rng.random()
            for ev in TRACK:
                self.at(t, "lob", piece=vid, event=ev)
                t = self.scan_time(t + dt.timedelta(hours=rng.uniform(8, 30)))
            if fate < 0.02:
                self.at(t, "lob", piece=vid, event="returned_to_sender")
            elif fate < 0.03:
                pass   # lost in the mail: in flight to the end
            else:
                self.at(t, "lob", piece=vid, event="delivered")
                self.piece_info[vid] = (cid, t)
                late = (self.missed is None and cid and self.contacts.get(cid, {}).get("owner")
                        and t >= self.missed_day)
                if late:
                    self.missed = (vid, cid)
                    fu = self.business_after(t, 5.2)
                else:
                    fu = self.business_after(t, rng.uniform(0.1, 1.8))
                if fu < self.end:
                    self.at(self.sync_time(fu), "call", cid=cid)

    def maybe_cancel(self, now):
        """Once, after the hold: the piece just made, still inside its send
        delay, is cancelled (a wrong name on the card, spotted in time)."""
        if self.cancel_after is None or now < self.cancel_after or self.cancelled:
            return
        row = self.q("select vendor_id, contact_id from pieces where target = 'mail' and status = 'queued'"
                     " and vendor_id not like 'hist:%' and send_date > ? order by queued_at desc, rowid desc limit 1",
                     (iso(now + dt.timedelta(minutes=5)),))
        if not row:
            return
        vid, cid = row[0]
        r = subprocess.run([os.path.join(BIN, "fs-push"), "cancel", vid], env=dict(self.env, FS_NOW=iso(now)),
                           capture_output=True, text=True)
        say("  %s  $ fs-push cancel %s  (exit %d): %s" % (self.clock(now), vid, r.returncode,
                                                        (r.stdout + r.stderr).strip()))
        if r.returncode == 0:
            self.cancelled.add(vid)

    def sync_time(self, t):
        """The field app syncs job changes to HubSpot every quarter of an hour."""
        q = t.replace(second=0, microsecond=0) + dt.timedelta(minutes=15 - t.minute % 15)
        return q + dt.timedelta(minutes=2, seconds=self.rng.randint(0, 59))

    def scan_time(self, t):
        return t.replace(minute=21, second=0) + dt.timedelta(hours=1, seconds=self.rng.uniform(0, 210))

    def deliver_lob(self, now):
        for (t, event), pids in sorted(self.pending_lob.items()):
            res = self.lob.call("POST", "/__admin/advance", {"ids": pids, "event": "postcard." + event,
                                                              "time": iso(t)})
            for ev in res["data"]:
                self.count("events")
                if event == "delivered":
                    self.count("delivered")
                if self.webhook_broken:
                    self.hook(ev, t, signed=False)
                    self.failed_now = True
                    self.failed_deliveries.append(ev)
                else:
                    self.deliver_one(ev, t)
                    if self.rng.random() < 0.03:   # at-least-once: Lob sends some twice
                        self.hook(ev, t)
                        self.count("repeats")
        self.pending_lob = {}

    def deliver_one(self, ev, t):
        """A signed delivery; in the soak fs-hook is sometimes killed mid-request,
        and Lob, with no answer, delivers again a few minutes later."""
        kill = self.a.soak and self.rng.random() < self.a.kill_rate / 10
        if not 200 <= self.hook(ev, t, kill=kill) < 300:
            self.at(t + dt.timedelta(minutes=self.rng.randint(5, 30)), "redeliver-killed", event=ev)

    def watchdog(self, now):
        # -v: the demo tells of resolved alerts too, which a quiet run keeps to the changelog.
        st, killed = self.run("watchdog", "fs-watchdog -v", now)
        self.last_watchdog = now
        self.show_alerts(now)
        mode = self.q("select mode from source_modes where source = 'lob-events'")
        was = self.polling
        self.polling = bool(mode and mode[0][0] == "polling")
        if was and not self.polling:
            say("  %s  lob-events is back on webhooks (three good deliveries in a row)" % self.clock(now))

    def show_alerts(self, now):
        lines = []
        path = os.path.join(self.dir, "syslog")
        if self.a.fs_run and os.path.exists(path):
            with open(path, errors="replace") as f:
                f.seek(self.syslog_pos)
                lines = [l.split(" ", 2)[2] for l in f if l.startswith("fieldsync/watchdog ")]
                self.syslog_pos = f.tell()
        elif not self.a.fs_run:
            lines = self.watchdog_err.splitlines()
        for line in lines:
            if line.startswith("fs-watchdog: ") and ("opened" in line or "resolved" in line or "hold" in line):
                if not self.a.soak:
                    say("  %s  %s" % (self.clock(now), line[len("fs-watchdog: "):].rstrip()))
        path = os.path.join(self.dir, "alerts.tsv")
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                f.seek(self.alerts_pos)
                for line in f:
                    owner, _, js = line.rstrip("\n").partition("\t")
                    try:
                        al = json.loads(js)
                    except ValueError:
                        continue
                    if al.get("rule") == "follow_up" and al.get("notify_count") == 1:
                        say("  %s  -> notified %s" % (self.clock(now), "owner %s (%s)" % (
                            owner, self.owner_name.get(owner, "?")) if owner else "the office (no owner)"))
                    if al.get("holds") and al.get("notify_count") == 1:
                        say("  %s  -> %s on hold until someone acknowledges alert #%d"
                            % (self.clock(now), ", ".join("%s %s" % (h.get("scope"), h.get("name"))
                                                         if isinstance(h, dict) else str(h) for h in al["holds"]),
                               al["id"]))
                self.alerts_pos = f.tell()

    def retry_due(self, now):
        r = self.q("select target, count(*) from outbox where state = 'pending' and attempts > 0"
                   " and next_attempt_at <= ? group by target", (iso(now),))
        return {t for t, n in r if n}

    def soak_faults(self, now):
        if self.rng.random() < self.a.fault_rate and len(self.lob.call("GET", "/__admin/faults")["data"]) < 2:
            kinds = [{"status": 500}, {"status": 502}, {"status": 503}, {"drop": True},
                     {"accept_then_drop": True}, {"truncate": True}, {"status": 429, "retry_after": 1}]
            f = dict(self.rng.choice(kinds), count=self.rng.randint(1, 4))
            self.lob.call("POST", "/__admin/faults", f)
            self.fault_runs += 1
            hs = dict(self.rng.choice([{"status": 502}, {"status": 503}, {"drop": True}, {"truncate": True}]),
                      count=self.rng.randint(1, 3))
            self.hs.call("POST", "/__admin/faults", hs)

    def tick(self, now, final=False):
        self.pending_contacts = []
        self.pending_lob = {}
        self.failed_now = False
        acted = False
        while self.queue and self.queue[0][0] <= now:
            t, _, kind, kw = heapq.heappop(self.queue)
            self.apply(t, kind, kw, now)
            acted = acted or kind in ("storm", "ack", "outage", "hold", "release", "scanner")
        self.lob.call("POST", "/__admin/clock", {"now": iso(now), "frozen": True})
        if self.pending_contacts:
            self.hs.call("POST", "/__admin/contacts", self.pending_contacts)
            self.hubspot_dirty = True
        self.hs.call("POST", "/__admin/clock", {"now": iso(now)})
        if self.pending_lob:
            self.deliver_lob(now)
        if self.a.soak:
            self.soak_faults(now)
        runs = []
        if self.hubspot_dirty or final:
            runs.append(("crm-to-mail", "fs-pull hubspot | fs-normalize | fs-dedupe | fs-push mail", now))
        if self.inbox_pending or self.polling or final:
            runs.append(("mail-to-crm", "fs-pull lob-events | fs-normalize | fs-dedupe | fs-push crm", now))
        res = self.run_all(runs) if runs else {}
        if "crm-to-mail" in res:
            st, killed = res["crm-to-mail"]
            if st == 0 and not killed:
                self.hubspot_dirty = False
            self.new_pieces(now)
            self.maybe_cancel(now)
        if "mail-to-crm" in res:
            st, killed = res["mail-to-crm"]
            if st == 0 and not killed:
                self.inbox_pending = False
        # fs-push crm's write-back bumps the contacts' modification times: the
        # next CRM pull reads them back (and the campaign guard suppresses the
        # repeat); a tick is not spent on that echo alone.
        due = self.retry_due(now)
        retries = []
        if "mail" in due or final:
            retries.append(("retry-mail", "fs-push --retry-only mail </dev/null", now))
        if "crm" in due or final:
            retries.append(("retry-crm", "fs-push --retry-only crm </dev/null", now))
        if retries:
            self.run_all(retries)
            self.new_pieces(now)
            self.maybe_cancel(now)
        if (acted or self.failed_now or final or self.last_watchdog is None
                or now - self.last_watchdog >= dt.timedelta(minutes=30)):
            self.watchdog(now)
        return bool(runs or retries or acted)

    def first_run(self, now):
        """The first tick of the CRM pipeline: every contact a first sight, no mail."""
        rows = self.q("select coalesce(sum(json_extract(detail, '$.records')), 0),"
                      " coalesce(sum(json_extract(detail, '$.mail_requests')), 0) from changelog"
                      " where kind = 'run' and object = 'fs-normalize' and id > ?", (self.cl0,))
        done = self.q("select count(*) from contacts where status = 'job_completed'")[0][0]
        self.first_requests = rows[0][1]
        say("  %s  first run: %d contacts recorded, %d of them job_completed already; %d mail requests"
            " (a first sight is recorded, not mailed)" % (self.clock(now), rows[0][0], done, rows[0][1]))

    def day_line(self, day_start, n):
        s = self.day_stats
        r = self.q("select (select count(*) from outbox where target = 'mail' and state = 'pending' and attempts > 0),"
                   " (select count(*) from outbox where state = 'held'),"
                   " (select count(*) from alerts where state = 'open'),"
                   " (select count(*) from dlq where state = 'open')")[0]
        say("day %2d  %s  jobs %3d  flicker %2d  pieces %3d  tracking events %4d  delivered %3d  follow-ups %3d"
            "  | retrying %d  held %d  open alerts %d  dlq %d"
            % (n, day_start.strftime("%a %Y-%m-%d"), s.get("jobs", 0), s.get("flickers", 0), s.get("pieces", 0),
               s.get("events", 0), s.get("delivered", 0), s.get("follow-ups", 0), r[0], r[1], r[2], r[3]))
        self.day_stats = {}

    def simulate(self):
        self.piece_rowid = 0
        self.acked = False
        self.cl0 = self.q("select coalesce(max(id), 0) from changelog")[0][0]
        self.tick_days()
        # Lob goes on retrying a delivery that got no answer (a killed fs-hook):
        # the retries not yet made, before the last run.
        retries = [kw["event"] for (_, _, kind, kw) in self.queue if kind == "redeliver-killed"]
        self.queue = [e for e in self.queue if e[2] != "redeliver-killed"]
        heapq.heapify(self.queue)
        for ev in retries:
            self.hook(ev, self.end)
        # Now: one last run of everything, then settle what is still retrying (soak).
        self.tick(self.end, final=True)
        settle = self.end
        for _ in range(40):
            left = self.q("select count(*) from outbox where target in ('mail', 'crm')"
                          " and state in ('pending', 'held')")[0][0]
            if not left:
                break
            if self.a.soak or left:
                self.lob.call("DELETE", "/__admin/faults")
                self.hs.call("DELETE", "/__admin/faults")
                nxt = self.q("select min(next_attempt_at) from outbox where target in ('mail', 'crm')"
                             " and state = 'pending'")[0][0]
                settle = max(settle + TICK, dt.datetime.strptime(nxt, ISO) if nxt else settle + TICK)
                say("  settling: %d mail and CRM rows still waiting; running the retries at %s" % (left, iso(settle)))
                saved = self.a.soak
                self.a.soak = False
                self.tick(settle, final=True)
                self.a.soak = saved
                self.end_settled = settle
        # A piece made while settling (a capped row on the next business day)
        # has Lob's "created" event still to come, and the CRM learns of the
        # piece from it: one more tick once it has come.
        created = [t for (t, _, kind, kw) in self.queue if kind == "lob" and kw["event"] == "created"]
        if created:
            settle = max(settle, max(created))
            say("  settling: %d piece%s made at the end; Lob's created events come by %s"
                % (len(created), "" if len(created) == 1 else "s", iso(settle)))
            saved, self.a.soak = self.a.soak, False
            self.tick(settle, final=True)
            self.a.soak = saved
            self.end_settled = settle
        # What gave up is in the dead-letter queue, visible; an operator replays it
        # (fs-push first asks Lob whether an earlier attempt made the piece after all).
        dead = self.q("select count(*) from dlq where state = 'open' and reason like 'gave up%'")[0][0]
        if dead:
            pipeline = "fs-dlq replay --reason '^gave up' | fs-push mail"
            say("  %d mail rows gave up and are dead letters; as an operator would: %s" % (dead, pipeline))
            before = self.q("select count(*) from changelog where kind = 'send.adopt'")[0][0]
            self.lob.call("DELETE", "/__admin/faults")
            saved, self.a.soak = self.a.soak, False
            self.run("replay", pipeline, self.end_settled if hasattr(self, "end_settled") else self.end)
            self.a.soak = saved
            adopted = self.q("select count(*) from changelog where kind = 'send.adopt'")[0][0] - before
            self.stats["replayed"] = dead
            say("  replayed %d: %d were at Lob already (an earlier attempt's answer was lost), adopted"
                % (dead, adopted))

    # ---- the end ----------------------------------------------------------
    def summary(self, took):
        if self.errors:
            say("  pipeline runs that failed (cron would have mailed them): %s" % ", ".join(
                "%s exit %d x%d" % (n, s, c) for (n, s), c in sorted(self.errors.items())))
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        say("  %d ticks run of %d, %d pipeline runs, %d webhook deliveries, %.0f s (%.0f s CPU in children)"
            % (self.active_ticks, int((self.end - self.start) / TICK), self.stats.get("runs", 0),
               self.stats.get("webhooks", 0), took, ru.ru_utime + ru.ru_stime))
        if self.a.soak:
            say("  soak: %d stages and %d fs-hook requests killed with SIGKILL, %d vendor fault bursts"
                % (self.kills, self.hook_kills, self.fault_runs))
            say("  peak RSS per pipeline (KiB, getrusage of children): %s" % ", ".join(
                "%s %d" % kv for kv in sorted(self.peak_rss.items())))
            size = sum(os.path.getsize(self.db + s) for s in ("", "-wal") if os.path.exists(self.db + s))
            say("  state file: %.1f MiB (%s, with its WAL)" % (size / 1048576, self.db))
        if os.environ.get("FS_DEMO_PROFILE"):
            say("  runs: %s" % ", ".join("%s %d" % kv for kv in sorted(self.nruns.items())))

    def panels(self):
        env = dict(self.env, FS_NOW=iso(self.end))
        say("")
        say("== fs-health")
        r = subprocess.run([os.path.join(BIN, "fs-health")], env=env, capture_output=True, text=True)
        out.write(r.stdout)
        say("(fs-health exit %d: 0 OK, 1 WARNING, 2 CRITICAL)" % r.returncode)
        report = os.path.join(BIN, "fs-report")
        if os.access(report, os.X_OK):
            say("")
            say("== fs-report pilot --baseline %s..%s --pilot %s..%s"
                % (iso(self.base0), iso(self.start), iso(self.start), iso(self.end)))
            r = subprocess.run([report, "pilot", "--format", "text", "--baseline", "%s..%s" % (iso(self.base0), iso(self.start)),
                                "--pilot", "%s..%s" % (iso(self.start), iso(self.end))], env=env,
                               capture_output=True, text=True)
            out.write(r.stdout + r.stderr)
            html = os.path.join(self.dir, "dashboard.html")
            with open(html, "w") as f:
                r = subprocess.run([report, "health", "--format", "html", "--from", iso(self.start),
                                    "--to", iso(self.end)], env=env, stdout=f, stderr=subprocess.PIPE, text=True)
            say("")
            say("dashboard: %s%s" % (html, "" if r.returncode == 0 else " (fs-report exit %d: %s)"
                                     % (r.returncode, r.stderr.strip())))
        else:
            say("")
            say("(fs-report is not built yet: no pilot table or HTML dashboard)")

    def verify(self):
        if self.a.inject_duplicate:
            # For the test that the verification can fail: a second piece for
            # an event, made behind fieldsync's back with a fresh idempotency key.
            piece_behind_back(self.lob, self.env["LOB_API_KEY"], {}, "by-hand-1")
        if self.a.inject_missed_event:
            # For the test that the tracking check can fail: an event at the
            # vendor whose webhook never comes (and that no poll reads).
            p = self.lob.call("GET", "/__admin/pieces")["data"][0]
            self.lob.call("POST", "/__admin/advance", {"ids": [p["id"]], "event": "postcard.returned_to_sender",
                                                        "time": iso(self.end)})
        if self.a.inject_suppressed:
            # For the test that the suppression check can fail: a piece to a
            # contact on the do-not-mail list, made behind fieldsync's back.
            cid = next(c for c, how in self.suppressed.items() if how == "contact")
            piece_behind_back(self.lob, self.env["LOB_API_KEY"], {"contact_id": cid, "event_id": "by-hand-2"},
                              "by-hand-2")
        pieces = self.lob.call("GET", "/__admin/pieces")["data"]
        events, dup_event = by_event(pieces)
        by_contact = {}
        for p in pieces:
            key = ((p.get("metadata") or {}).get("contact_id"), (p.get("metadata") or {}).get("campaign"))
            by_contact.setdefault(key, []).append(p["id"])
        enrol = self.q("select event_id from enrolments where final = 1")
        enrolled = {e for (e,) in enrol}
        dup_contact = sum(len(v) - 1 for v in by_contact.values() if len(v) > 1)
        logged = {v for (v,) in self.q("select json_extract(detail, '$.vendor_id') from changelog"
                                       " where kind in ('send', 'send.adopt')")}
        unlogged = [p["id"] for p in pieces if p["id"] not in logged]
        at_vendor = set(events) - {None}
        missing = sorted(enrolled - at_vendor)
        extra = sorted(at_vendor - enrolled)
        # The CRM side: a contact with one piece that fieldsync sent shows that
        # piece's last status, as fieldsync knows it, in the fake HubSpot.
        labels = {"queued": "Queued", "sent": "Sent", "delivered": "Delivered", "returned": "Returned",
                  "failed": "Failed"}
        crm = {str(c["id"]): (c.get("properties") or {}).get("fieldsync_mail_status")
               for c in self.hs.call("GET", "/__admin/contacts")["contacts"]}
        one = self.q("select p.contact_id, max(p.status) from pieces p where exists (select 1 from outbox o"
                     " where o.target = 'mail' and o.event_id = p.event_id and o.state = 'sent')"
                     " and p.status != 'cancelled' group by p.contact_id having count(*) = 1")
        # The tracking side: each piece's status in fieldsync is the furthest
        # its events at the vendor reached (lob-event.jq's mapping, ranked
        # as fs-push ranks them), so no tracking event was lost on the way.
        lob_status = {"created": "queued", "rendered_pdf": "queued", "rendered_thumbnails": "queued",
                      "mailed": "sent", "in_transit": "sent", "in_local_area": "sent",
                      "processed_for_delivery": "sent", "re-routed": "sent", "delivered": "delivered",
                      "returned_to_sender": "returned"}
        order = ["queued", "sent", "delivered", "returned"]
        known = dict(self.q("select vendor_id, status from pieces"))
        behind = []
        for p in pieces:
            reached = [lob_status.get(e.split(".", 1)[-1]) for e in p.get("events") or []]
            reached = [r for r in reached if r] or ["queued"]
            want = "cancelled" if p.get("deleted") else max(reached, key=order.index)
            if known.get(p["id"]) != want:
                behind.append((p["id"], known.get(p["id"]), want))
        if self.a.inject_stale_crm and one:
            # For the test that this check can fail: a CRM record that lost
            # its write-back (set behind fieldsync's back).
            c, status = one[0]
            wrong = "Returned" if labels.get(status) != "Returned" else "Queued"
            self.hs.call("POST", "/__admin/contacts", {"id": c, "properties": {"fieldsync_mail_status": wrong}})
            crm[c] = wrong
        stale = sorted(c for c, status in one if crm.get(c) != labels.get(status))
        # The brakes: nothing to the do-not-mail list, no business day over the
        # cap (the vendor's creation times, in Chicago), nobody mailed who did
        # not enter the trigger, and the cancelled piece never printed.
        md = lambda p: p.get("metadata") or {}
        to_suppressed = [p["id"] for p in pieces if md(p).get("contact_id") in self.suppressed
                         and self.suppressed[md(p)["contact_id"]] == "contact"
                         or self.address_key(p["to"].get("address_line1"), p["to"].get("address_zip"))
                         in self.suppressed_addresses]
        chicago = zoneinfo.ZoneInfo("America/Chicago")
        per_day = {}
        for p in pieces:
            made = dt.datetime.strptime(p["date_created"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
            key = (md(p).get("campaign"), made.astimezone(chicago).date())
            per_day[key] = per_day.get(key, 0) + 1
        over_cap = sorted(k for k, n in per_day.items() if n > self.cap)
        not_entered = sorted({md(p).get("contact_id") for p in pieces} - self.entered)
        printed = [v for v in self.cancelled if not any(p["id"] == v and p.get("deleted") for p in pieces)]
        checks = [
            ("pieces at the fake vendor == distinct enrolments", len(pieces), len(enrolled),
             len(pieces) == len(enrolled) and not missing and not extra),
            ("pieces whose last tracking event fieldsync missed", len(behind), 0, not behind),
            ("CRM records without their piece's status", len(stale), 0, not stale),
            ("duplicate pieces (same event)", dup_event, 0, dup_event == 0),
            ("second pieces to one contact for one campaign", dup_contact, 0, dup_contact == 0),
            ("pieces without a send changelog row", len(unlogged), 0, not unlogged),
            ("mail requests on the first run (first sights)", self.first_requests, 0, self.first_requests == 0),
            ("pieces to a suppressed contact or address", len(to_suppressed), 0, not to_suppressed),
            ("business days over the campaign's cap", len(over_cap), 0, not over_cap),
            ("pieces to contacts that entered no trigger", len(not_entered), 0, not not_entered),
            ("cancelled pieces the vendor still holds live", len(printed), 0, not printed),
        ]
        ok = print_checks(checks)
        for (campaign, day) in over_cap[:10]:
            say("  %s: %d pieces on %s, over its cap of %d" % (campaign, per_day[(campaign, day)], day, self.cap))
        if not_entered:
            say("  contacts mailed that entered no trigger: %s" % " ".join(str(c) for c in not_entered[:10]))
        say("  (suppressed: %d requests; capped: %d deferrals; held by hand: %d; cancelled: %d)" % (
            self.q("select count(*) from outbox where target = 'mail' and state = 'suppressed'")[0][0],
            self.q("select count(*) from changelog where kind = 'send.capped'")[0][0],
            self.q("select count(*) from changelog where kind = 'send.held'")[0][0], len(self.cancelled)))
        if missing:
            say("  enrolments without a piece: %s" % " ".join(missing[:10]))
        if extra:
            say("  pieces without an enrolment: %s" % " ".join(extra[:10]))
        say("  (CRM records checked: %d, the contacts with one piece fieldsync sent)" % len(one))
        for v, got, want in behind[:10]:
            say("  piece %s: fieldsync knows %s, its events at the vendor reached %s" % (v, got, want))
        for c in stale[:10]:
            say("  contact %s: CRM says %s, fieldsync knows %s" % (
                c, crm.get(c), self.q("select status from pieces where contact_id = ?", (c,))[0][0]))
        dead = self.q("select count(*) from dlq where state = 'open'")[0][0]
        say("  (dead letters open: %d; webhook answers: %s)" % (dead, ", ".join(
            "%d x%d" % (k, v) for k, v in sorted(self.hook_statuses.items()))))
        return ok


def main():
    ap = argparse.ArgumentParser(description="fieldsync's simulated fortnight")
    ap.add_argument("--dir", default=os.path.join(TOP, "demo"))
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--contacts", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--soak", action="store_true", help="random SIGKILLs and vendor faults")
    ap.add_argument("--kill-rate", type=float, default=0.15)
    ap.add_argument("--fault-rate", type=float, default=0.1)
    ap.add_argument("--no-panels", action="store_true")
    ap.add_argument("--inject-duplicate", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inject-stale-crm", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inject-missed-event", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inject-suppressed", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fs-run", action="store_true",
                    help="run each pipeline through cron/fs-run (lock, syslog); the default with --soak")
    a = ap.parse_args()
    if a.soak:
        a.fs_run = True
    if a.days < 1 or a.contacts < 10:
        ap.error("--days must be 1 or more and --contacts 10 or more")
    sim = Sim(a)
    return run_sim(sim, sim.describe, sim.import_history, sim.suppress, sim.plan)


if __name__ == "__main__":
    sys.exit(main())
