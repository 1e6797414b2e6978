#!/usr/bin/env python3
"""demo-sheets.py: make demo VENDOR=sheets, the smallest team's CRM: one
Google Sheet of customers, a row each, keyed by its "Customer ID" column.

Starts the fake Google Sheets and the fake Lob on free loopback ports, makes
a service account (an RSA key by openssl, its public half given to the fake
Sheets), writes DIR/fieldsync.conf (a sheets source "sheet", a Lob target
"mail", the Lob tracking events as a source, the same sheet as a target
"sheet-crm" that the mail status and the day last mailed are written back
to, and a thank-you campaign on Status = Completed), then runs the real
pipelines tick by tick (one tick every 5 simulated minutes, ticks with
nothing due skipped) over the DAYS that end now, with $FS_NOW advancing:

  fs-pull sheet | fs-normalize | fs-dedupe | fs-push mail
  fs-pull lob-events | fs-normalize | fs-dedupe | fs-push sheet-crm

What a careful user of a sheet worries about happens over the days: rows
that are Completed before install (the first run mails nobody), Status
edited to Completed (the campaign), the sheet re-sorted between polls, rows
inserted and deleted, the Notes of a mailed row edited, a column renamed
(the pull stops, loudly, exit 2; the operator sets header_changed = accept
for one run), quota errors (429) from Google, and Lob's tracking events
(by signed webhooks to fs-hook, run as a CGI program) written back.

Ends with a verification that checks (and does not assume), from the fakes'
own records and the state file: pieces at the fake Lob == distinct
enrolments == rows that entered Completed since install, nobody mailed on
the first run, no row mailed twice, no duplicate piece per event, and the
status and last-mail-sent cells, read back from the fake sheet, right for
every mailed row and empty on the others.  Exit 0 when every check holds, 1
when one fails, 2 on a usage or setup error.  Python 3 standard library,
and openssl(1) for the service account's key.

  demo-sheets.py [--dir DIR] [--days N] [--rows N] [--seed N] [--no-panels]
"""
import argparse
import datetime as dt
import hashlib
import heapq
import hmac
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in scripts/
from demosim_common import (BIN, FAKES, TICK, TOP, Fake, SimBase, by_event, cgi_env, cgi_status, iso, ms,
                            piece_behind_back, print_checks, run_sim, say)

SHEET_ID = "1DemoFieldsyncSheetsCustomers0000000000000000"
TAB = "Customers"
SA_EMAIL = "fieldsync@demo-project.iam.gserviceaccount.com"
HEADER = ["Customer ID", "First name", "Last name", "Email", "Phone", "Address", "City", "State", "Zip",
          "Status", "Notes", "Mail status", "Last mail sent"]
TRIGGER = "Completed"
OPEN = ["Lead", "Quoted", "Scheduled"]
FIRST = ["Ana", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jo", "Kai", "Lena",
         "Marta", "Nils", "Oona", "Pedro", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera", "Wes", "Zoe"]
LAST = ["Lee", "Moreau", "Silva", "Wu", "Kowalski", "Okafor", "Haddad", "Petrov", "Sato", "Garcia", "Novak",
        "Byrne", "Dubois", "Nakamura", "Olsen", "Reyes", "Schmidt", "Tanaka", "Vogel", "Walsh"]
STREETS = ["Oak St", "Elm Ave", "Cedar Ln", "Maple Dr", "Pecan St", "Lamar Blvd", "Burnet Rd", "Manor Rd"]
NOTES = ["gate code 4411", "dog in yard", "prefers mornings", "call first", "paid cash", "repeat customer"]
LABEL = {"mailed": "Sent", "delivered": "Delivered"}   # the tracking event -> the cell


class Sim(SimBase):
    def __init__(self, a):
        super().__init__(a)
        self.status = {}          # row id -> Status as the demo set it
        self.before = set()       # rows Completed before install
        self.entered = set()      # rows that entered Completed since install
        self.will_complete = set()
        self.deleted = set()
        self.n_rows = 0
        self.first_requests = None
        self.piece_seen = set()   # Lob piece ids already scheduled for tracking events
        self.mailed_at = {}       # piece id -> the day its "mailed" event was made
        self.last_event = {}      # piece id -> the latest status its tracking events reached
        self.contact_of = {}      # piece id -> the row id in its metadata
        self.faults = 0           # 429s the demo asked the fake Sheets for
        self.stops = []           # (clock, exit status, its line) of the runs the renamed column stopped
        self.renamed = None       # (time renamed, old name, new name)
        self.accept_next = False
        self.hook_statuses = {}

    # ---- set-up -----------------------------------------------------------
    def setup(self):
        self.fresh_dir("tmp")
        self.secret = "whsec_demo_" + hashlib.sha256(str(self.a.seed).encode()).hexdigest()[:16]
        self.env = self.base_env(LOB_API_KEY="test_demo_key", LOB_WEBHOOK_SECRET=self.secret)
        for k in ("FS_NOW", "GOOGLE_ACCESS_TOKEN"):
            self.env.pop(k, None)
        port = os.path.join(self.dir, "sheets.port")
        self.sh = Fake("Sheets", [sys.executable, os.path.join(FAKES, "fake_sheets.py"), "--port", "0",
                                  "--port-file", port, "--log", os.path.join(self.dir, "sheets.log")], port)
        # The quotas count on the real clock: days run in minutes here, so
        # they are opened up, and the 429s are asked for (see tick).
        self.sh.call("POST", "/__admin/quota", {"per_user": 100000000, "per_project": 100000000})
        self.service_account()
        self.lob = self.start_lob(self.env["LOB_API_KEY"])
        self.sh.call("POST", "/__admin/sheet", {"spreadsheet": SHEET_ID, "sheet": TAB, "values": self.make_rows()})
        self.write_config()
        say("fake Google Sheets on 127.0.0.1:%d (%d rows, %d of them Completed already), fake Lob on 127.0.0.1:%d"
            % (self.sh.port, len(self.status), len(self.before), self.lob.port))
        say("config %s, state %s" % (self.rel(self.conf), self.rel(self.db)))

    def service_account(self):
        """A service account's JSON key (mode 0600) and, at the fake, the
        public half that checks its JWTs, as sharing the sheet with it would."""
        pem = os.path.join(self.dir, "sa.pem")
        try:
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                            "-out", pem], check=True, capture_output=True)
            mod = subprocess.run(["openssl", "rsa", "-in", pem, "-noout", "-modulus"], check=True,
                                 capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        except (OSError, subprocess.CalledProcessError, IndexError) as e:
            raise SystemExit("demo: openssl could not make the service account's key: %s" % e)
        path = os.path.join(self.dir, "service-account.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"type": "service_account", "project_id": "demo-project", "client_email": SA_EMAIL,
                       "private_key": open(pem).read(), "token_uri": self.sh.url + "/token"}, f)
        os.unlink(pem)
        self.sh.call("POST", "/__admin/service_account", {"client_email": SA_EMAIL, "modulus": mod})
        self.sa_file = path

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write("""# Written by make demo VENDOR=sheets (scripts/demo-sheets.py): fieldsync
# against the fake Google Sheets and the fake Lob on loopback.  For a real
# sheet, see fieldsync-sheets(7): share it with the service account's e-mail.
[source "sheet"]
kind                 = sheets
url                  = http://127.0.0.1:{sh}
token_url            = http://127.0.0.1:{sh}/token
spreadsheet          = {sid}
range                = {tab}
id_column            = Customer ID
service_account_file = {sa}
header_changed       = {hc}
# The demo runs days in minutes: Google's 60 requests a minute (on the real
# clock) would stretch it.
rate                 = 1000000/10s
interval             = 24h

[source "lob-events"]
kind       = lob-events
url        = http://127.0.0.1:{lob}/v1
token_env  = LOB_API_KEY
secret_env = LOB_WEBHOOK_SECRET
rate       = 1000000/5s
interval   = 24h

[target "mail"]
kind      = lob
url       = http://127.0.0.1:{lob}/v1
token_env = LOB_API_KEY
rate      = 1000000/5s
retry     = 1m..1h x12
timeout   = 10s
price     = postcard 0.65

# The mail status, and the day the last piece was sent, back in the sheet.
[target "sheet-crm"]
kind                 = sheets
url                  = http://127.0.0.1:{sh}
token_url            = http://127.0.0.1:{sh}/token
spreadsheet          = {sid}
range                = {tab}
id_column            = Customer ID
status_column        = Mail status
sent_column          = Last mail sent
service_account_file = {sa}
rate                 = 1000000/10s
retry                = 1m..1h x12
timeout              = 10s

# A thank-you postcard when a row's Status becomes Completed.  No backfill:
# the rows already Completed at install are recorded, not mailed.
[campaign "thank-you"]
trigger  = status = {trigger}
format   = postcard
template = tmpl_thankyou
back     = tmpl_thankyouback
target   = mail
""".format(sh=self.sh.port, lob=self.lob.port, sid=SHEET_ID, tab=TAB, sa=self.sa_file, trigger=TRIGGER,
           hc="accept" if self.accept_next else "stop"))

    # ---- the sheet ----------------------------------------------------------
    def new_row(self, status):
        rng = self.rng
        self.n_rows += 1
        rid = "C%04d" % (1000 + self.n_rows)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        self.status[rid] = status
        return [rid, first, last, "%s.%s%d@example.com" % (first.lower(), last.lower(), self.n_rows),
                "(512) 555-%04d" % self.n_rows, "%d %s" % (100 + self.n_rows, rng.choice(STREETS)), "Austin", "TX",
                "787%02d" % rng.randint(1, 60), status, rng.choice(NOTES) if rng.random() < 0.3 else "", "", ""]

    def span_time(self, lo=600):
        """A moment of the days simulated, at least lo seconds after the first run."""
        return self.start + dt.timedelta(seconds=self.rng.uniform(lo, (self.end - self.start).total_seconds()))

    def make_rows(self):
        """The sheet at install, and what happens to it over the days."""
        rng, a = self.rng, self.a
        rows = [list(HEADER)]
        for _ in range(a.rows):
            done = rng.random() < 0.2
            row = self.new_row(TRIGGER if done else rng.choice(OPEN))
            rows.append(row)
            if done:
                self.before.add(row[0])
            elif rng.random() < 0.35:
                self.will_complete.add(row[0])
                self.at(self.span_time(), "complete", rid=row[0])
        for d in range(a.days):
            day0 = self.start + dt.timedelta(days=d)
            in_day = lambda lo=600, hi=86400: day0 + dt.timedelta(seconds=rng.uniform(lo, hi))
            for _ in range(4):                  # sorted by one column or another
                self.at(in_day(), "sort")
            for _ in range(max(2, a.rows // 40)):   # new customers, some done later
                t = in_day(600, 80000)
                self.at(t, "insert", complete=rng.random() < 0.6)
            for _ in range(max(1, a.rows // 80)):
                self.at(in_day(), "delete")
            for _ in range(max(2, a.rows // 60)):   # a note on a mailed row: no second piece
                self.at(in_day(3 * 3600), "note")
            for _ in range(3):                  # Google's quota, now and then
                self.at(in_day(), "quota", method=rng.choice(["GET", "POST"]), count=rng.choice([1, 1, 2]))
        # One rename, half way: Phone becomes Mobile (the map reads both).
        self.at(self.start + (self.end - self.start) / 2, "rename", old="Phone", new="Mobile")
        return rows

    def grid(self):
        return self.sh.call("GET", "/__admin/sheet?spreadsheet=%s&sheet=%s" % (SHEET_ID, TAB))["values"]

    def put(self, rows):
        self.sh.call("POST", "/__admin/sheet", {"spreadsheet": SHEET_ID, "sheet": TAB, "values": rows})

    def col(self, rows, name):
        return rows[0].index(name)

    def apply(self, t, kind, kw):
        """One edit by a person, made on the sheet as it is now (with what
        fieldsync wrote back to it)."""
        rng = self.rng
        if kind == "quota":
            self.sh.call("POST", "/__admin/faults", {
                "method": kw["method"], "path_prefix": "/v4/", "status": 429, "error_status": "RESOURCE_EXHAUSTED",
                "message": "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute per user'",
                "count": kw["count"]})
            self.faults += kw["count"]
            self.count("429s", kw["count"])
            return
        if kind == "fix":
            # The operator read cron's mail: the rename is accepted for one run.
            self.accept_next = True
            self.write_config()
            say("  %s  the operator sets header_changed = accept for the next run" % self.clock(t))
            return
        rows = self.grid()
        head, body = rows[0], rows[1:]
        idc = 0
        if kind == "complete":
            rid = kw["rid"]
            if rid in self.deleted:
                return
            for r in body:
                if r[idc] == rid:
                    r[self.col(rows, "Status")] = TRIGGER
            if self.status[rid] != TRIGGER:
                self.entered.add(rid)
                self.count("completed")
            self.status[rid] = TRIGGER
        elif kind == "sort":
            key = rng.choice(["Last name", "Zip", "Status", "Customer ID"])
            c = self.col(rows, key)
            body.sort(key=lambda r: (r[c] if c < len(r) else ""), reverse=rng.random() < 0.5)
            self.count("sorts")
        elif kind == "insert":
            row = self.new_row(rng.choice(OPEN))
            row += [""] * (len(head) - len(row))
            body.insert(rng.randint(0, len(body)), row)
            if kw["complete"]:
                self.will_complete.add(row[0])
                self.at(t + dt.timedelta(hours=rng.uniform(1, 20)), "complete", rid=row[0])
            self.count("inserted")
        elif kind == "delete":
            # A lead that went nowhere: never Completed, never mailed.
            cands = [r for r in body if self.status.get(r[idc]) in OPEN and r[idc] not in self.will_complete]
            if not cands:
                return
            victim = rng.choice(cands)
            body.remove(victim)
            self.deleted.add(victim[idc])
            self.count("deleted")
        elif kind == "note":
            mailed = set(self.contact_of.values())
            cands = [r for r in body if r[idc] in mailed]
            if not cands:
                return
            r = rng.choice(cands)
            c = self.col(rows, "Notes")
            r[c] = (r[c] + "; " if r[c] else "") + rng.choice(NOTES)
            self.count("notes")
        elif kind == "rename":
            head[head.index(kw["old"])] = kw["new"]
            self.renamed = (t, kw["old"], kw["new"])
            self.at(t + TICK, "fix")
            say("  %s  someone renames the column %s to %s" % (self.clock(t), kw["old"], kw["new"]))
        self.put([head] + body)

    # ---- Lob's tracking events, by webhook --------------------------------------
    def hook(self, ev, now):
        body = json.dumps(ev, separators=(",", ":")).encode()
        ts = str(ms(now))
        env = cgi_env(self.env, now, "POST", "/lob-events", body, {
            "CONTENT_TYPE": "application/json", "HTTP_LOB_SIGNATURE_TIMESTAMP": ts,
            "HTTP_LOB_SIGNATURE": hmac.new(self.secret.encode(), ts.encode() + b"." + body,
                                           hashlib.sha256).hexdigest()})
        r = subprocess.run([os.path.join(BIN, "fs-hook")], input=body, env=env, capture_output=True)
        st = cgi_status(r.stdout)
        self.hook_statuses[st] = self.hook_statuses.get(st, 0) + 1
        self.count("webhooks")

    def track(self, piece, event, now):
        evs = self.lob.call("POST", "/__admin/advance", {"id": piece, "event": "postcard." + event})["data"]
        for ev in evs:
            self.hook(ev, now)
        self.last_event[piece] = event
        if event == "mailed":
            self.mailed_at[piece] = now.strftime("%Y-%m-%d")
            self.count("mailed")
        else:
            self.count("delivered")

    def new_pieces(self, now):
        """The pieces Lob made since the last look: each is mailed some hours
        later, and delivered days after that (when the days go so far)."""
        for p in self.lob.call("GET", "/__admin/pieces")["data"]:
            if p["id"] in self.piece_seen:
                continue
            self.piece_seen.add(p["id"])
            self.contact_of[p["id"]] = (p.get("metadata") or {}).get("contact_id")
            self.count("pieces")
            mailed = now + dt.timedelta(hours=self.rng.uniform(1, 8))
            self.at(min(mailed, self.end), "lob", piece=p["id"], event="mailed")
            delivered = mailed + dt.timedelta(days=self.rng.uniform(1.5, 4))
            if delivered < self.end:
                self.at(delivered, "lob", piece=p["id"], event="delivered")

    # ---- the simulation ---------------------------------------------------
    def run(self, name, line, now):
        env = dict(self.env, FS_NOW=iso(now))
        t0 = time.monotonic()
        p = subprocess.run(["bash", "-o", "pipefail", "-c", line], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=self.dir)
        self.prof[name] = self.prof.get(name, 0) + time.monotonic() - t0
        self.count("runs")
        lines = [l for l in p.stderr.strip().splitlines() if l.startswith("fs-")]
        if p.returncode != 0 and self.renamed and name == "sheet-to-mail" and not self.accept_next \
                and any("header_changed" in l or "column" in l for l in lines):
            self.stops.append((self.clock(now), p.returncode, lines[-1] if lines else ""))
            say("  %s  %s stopped (exit %d, cron mails it): %s"
                % (self.clock(now), name, p.returncode, lines[-1] if lines else p.stderr.strip()[-200:]))
            return p.returncode
        if p.returncode != 0:
            key = (name, p.returncode)
            self.errors[key] = self.errors.get(key, 0) + 1
            if self.errors[key] == 1:
                say("  %s  %s failed (exit %d): %s" % (self.clock(now), name, p.returncode,
                                                       lines[-1] if lines else p.stderr.strip()[-300:]))
        return p.returncode

    def pipelines(self, now):
        self.run("sheet-to-mail", "fs-pull sheet | fs-normalize | fs-dedupe | fs-push mail", now)
        if self.accept_next:     # one run with accept, then back to stop
            self.accept_next = False
            self.write_config()
            say("  %s  the renamed column accepted, header_changed back to stop" % self.clock(now))
        self.run("mail-to-sheet", "fs-pull lob-events | fs-normalize | fs-dedupe | fs-push sheet-crm", now)
        for target in ("mail", "sheet-crm"):
            if self.q("select count(*) from outbox where target = ? and state = 'pending' and attempts > 0"
                      " and next_attempt_at <= ?", (target, iso(now)))[0][0]:
                self.run("retry-" + target, "fs-push --retry-only %s </dev/null" % target, now)

    def tick(self, now, final=False):
        acted = False
        self.lob.call("POST", "/__admin/clock", {"now": iso(now), "frozen": True})
        while self.queue and self.queue[0][0] <= now:
            t, _, kind, kw = heapq.heappop(self.queue)
            if kind == "lob":
                self.track(kw["piece"], kw["event"], now)
            else:
                self.apply(t, kind, kw)
            acted = True
        if not (acted or final or now == self.start):
            return False
        self.pipelines(now)
        self.new_pieces(now)
        return True

    def first_run(self, now):
        self.first_requests = self.q("select coalesce(sum(json_extract(detail, '$.mail_requests')), 0) from changelog"
                                     " where kind = 'run' and object = 'fs-normalize'")[0][0]
        say("  %s  first run: %d rows recorded, %d of them Completed already; %d mail requests (a first sight is"
            " recorded, not mailed)" % (self.clock(now), self.q("select count(*) from contacts")[0][0],
                                        len(self.before), self.first_requests))

    def day_line(self, day_start, n):
        s = self.day_stats
        say("day %d  %s  completed %3d  postcards %3d  mailed %3d  delivered %3d  sorts %d  inserted %d  deleted %d"
            "  notes on mailed rows %d  429s %d" % (
                n, day_start.strftime("%a %Y-%m-%d"), s.get("completed", 0), s.get("pieces", 0), s.get("mailed", 0),
                s.get("delivered", 0), s.get("sorts", 0), s.get("inserted", 0), s.get("deleted", 0),
                s.get("notes", 0), s.get("429s", 0)))
        self.day_stats = {}

    def simulate(self):
        self.tick_days()
        self.tick(self.end, final=True)
        # Settling: the pieces made at the last tick are mailed then too, so
        # that every mailed row's cells can be checked.
        late = [p for p in self.piece_seen if p not in self.mailed_at]
        for p in sorted(late):
            self.track(p, "mailed", self.end)
        self.queue = [q for q in self.queue if q[2] != "lob"]
        if late:
            say("  settling: %d piece%s made at the end mailed then" % (len(late), "" if len(late) == 1 else "s"))
            self.pipelines(self.end)

    # ---- the end ----------------------------------------------------------
    def summary(self, took):
        say("  %d ticks run of %d, %d pipeline runs, %d webhook deliveries, %.0f s"
            % (self.active_ticks, int((self.end - self.start) / TICK), self.stats.get("runs", 0),
               self.stats.get("webhooks", 0), took))

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
        md = lambda p: p.get("metadata") or {}
        enrolled = {e for (e,) in self.q("select event_id from enrolments where final = 1")}
        events, dup_event = by_event(pieces)
        at_vendor = set(events) - {None}
        per_row = {}
        for p in pieces:
            per_row.setdefault(md(p).get("contact_id"), []).append(p["id"])
        twice = sorted(r for r, v in per_row.items() if len(v) > 1)
        mailed_rows = set(per_row) - {None}
        for_before = sorted(mailed_rows & self.before)
        unthanked = sorted(self.entered - mailed_rows)
        not_entered = sorted(mailed_rows - self.entered)
        # The sheet as it is at the fake, read back.
        rows = self.grid()
        head = rows[0]
        ci, cs, cl = 0, head.index("Mail status"), head.index("Last mail sent")
        cell = lambda r, c: r[c] if c < len(r) else ""
        sheet = {r[ci]: r for r in rows[1:] if r}
        want_cells = {}
        for p in pieces:
            rid = md(p).get("contact_id")
            pid = p["id"]
            if pid in self.last_event:
                want_cells[rid] = (LABEL[self.last_event[pid]], self.mailed_at[pid])
        right = sorted(r for r, w in want_cells.items()
                       if r in sheet and (cell(sheet[r], cs), cell(sheet[r], cl)) == w)
        wrong = sorted(r for r in want_cells if r not in right)
        stray = sorted(r for r, row in sheet.items() if r not in want_cells and (cell(row, cs) or cell(row, cl)))
        # Every row in the sheet known to fieldsync, none lost to a sort.
        known = {c for (c,) in self.q("select id from contacts")}
        lost = sorted(r for r in sheet if r not in known)
        served = sum(1 for r in self.sh.call("GET", "/__admin/requests?path_prefix=/v4/")["requests"]
                     if r.get("status") == 429)
        # A 429 asked for after the last request of its kind is never served.
        pending = sum(f.get("count", 1) for f in self.sh.call("GET", "/__admin/faults")["faults"])
        checks = [
            ("pieces at the fake Lob == distinct enrolments", len(pieces), len(enrolled),
             len(pieces) == len(enrolled) and at_vendor == enrolled),
            ("pieces == rows that entered Completed since install", len(pieces), len(self.entered),
             len(pieces) == len(self.entered) and not unthanked and not not_entered),
            ("mail requests on the first run (first sights)", self.first_requests, 0, self.first_requests == 0),
            ("pieces for rows Completed before install", len(for_before), 0, not for_before),
            ("rows mailed twice (sorts, moves, edits)", len(twice), 0, not twice),
            ("duplicate pieces at Lob (same event)", dup_event, 0, dup_event == 0),
            ("mailed rows whose status and sent cells are right", len(right), len(want_cells),
             len(right) == len(want_cells) == len(pieces)),
            ("rows with a mail status but no piece", len(stray), 0, not stray),
            ("rows in the sheet unknown to the state file", len(lost), 0, not lost),
            ("429s answered by the fake Sheets, all ridden out", served, self.faults - pending,
             0 < served == self.faults - pending),
            ("pulls the renamed column stopped (exit 2)", len(self.stops), 1,
             len(self.stops) == 1 and self.stops[0][1] == 2),
        ]
        ok = print_checks(checks, "Sheets' and Lob's")
        for r in unthanked[:10]:
            say("  row %s entered Completed and has no piece" % r)
        for r in not_entered[:10]:
            say("  row %s has piece(s) %s and entered no trigger since install" % (r, " ".join(per_row[r])))
        for r in wrong[:10]:
            say("  row %s: cells %s, want %s" % (r, [cell(sheet[r], cs), cell(sheet[r], cl)] if r in sheet
                                                 else "(no row)", list(want_cells[r])))
        for r in stray[:10]:
            say("  row %s: cells %s and no piece" % (r, [cell(sheet[r], cs), cell(sheet[r], cl)]))
        say("  (Lob %d pieces; rows %d at install, %d Completed before, %d entered Completed since; inserted %d,"
            " deleted %d, sorts %d, notes on mailed rows %d; 429s %d)" % (
                len(pieces), self.a.rows, len(self.before), len(self.entered), self.stats.get("inserted", 0),
                self.stats.get("deleted", 0), self.stats.get("sorts", 0), self.stats.get("notes", 0), served))
        if self.errors:
            say("  pipeline runs that failed: %s" % ", ".join(
                "%s exit %d x%d" % (n, s, c) for (n, s), c in sorted(self.errors.items())))
        say("  (webhook answers: %s)" % ", ".join("%d x%d" % kv for kv in sorted(self.hook_statuses.items())))
        return ok and not self.errors


def main():
    ap = argparse.ArgumentParser(description="fieldsync's simulated days on a Google Sheet, mailing through Lob")
    ap.add_argument("--dir", default=os.path.join(TOP, "demo-sheets"))
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-panels", action="store_true")
    ap.add_argument("--inject-duplicate", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.days < 1 or a.rows < 10:
        ap.error("--days must be 1 or more and --rows 10 or more")
    return run_sim(Sim(a))


if __name__ == "__main__":
    sys.exit(main())
