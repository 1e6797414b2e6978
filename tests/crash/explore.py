#!/usr/bin/env python3
"""explore.py: fieldsync's pipelines killed at every durable step, and run at
once in random interleavings, then checked against the fake vendors' own
records: the spine holds (issue 13).

  explore.py steps       [--size small|full]
  explore.py crash       [--size small|full] [--jobs N] [--stride K] [--only A.S[.N]] [-v]
  explore.py interleave  [--size small|full] [--seeds N] [--first S] [--jobs N] [-v]

The scenario is one realistic stretch of a field-service team's week against
the fake HubSpot and the fake Lob: both pipelines (CRM -> mail, and tracking
-> CRM through fs-hook's inbox), debounce on, a campaign whose trigger
contacts enter, a vendor refusal that dead-letters a piece, a contact whose
address is incomplete, fs-watchdog's hold on the DLQ alert and a person's
acknowledgement, and two DLQ replays (one repaired with jq on the way).

crash: runs the scenario once with every step of every stage logged
(FS_STEP_LOG: each commit, each write of output, each vendor request, each
webhook answer); then, for every stage of every action and every step N of
that stage, from a fresh state file and fresh fakes, runs it again with that
stage killed by SIGKILL just before its Nth step (FS_CRASH_AT), goes on to
the end as an operator would (a failed replay's entries reopened and
replayed again, a failed acknowledgement given again, an unanswered webhook
sent again, as Lob does), settles (ticks until nothing is due), and checks:

  - exactly the expected pieces at Lob, one per contact: none lost, none twice
  - pieces at Lob == distinct enrolments, event for event
  - every piece has its send changelog row, with its vendor id
  - every piece's last status at Lob is its contact's status in the CRM
  - no dead letter left open

interleave: runs the scenario's ticks with two CRM -> mail pipelines, the
tracking pipeline and the replays all at once, every step of every process
delayed at random (FS_STEP_DELAY, FS_STEP_SEED), one run per seed, each
checked the same way.

Prints what it explored and one line per failure; exits 0 when every run
holds, 1 when one does not, 2 on a usage or setup error.  Python 3 standard
library only; the fakes are tests/fakes/.
"""
import argparse
import concurrent.futures
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(TOP, "bin")
FAKES = os.path.join(TOP, "tests", "fakes")
ISO = "%Y-%m-%dT%H:%M:%SZ"
START = dt.datetime(2026, 11, 30, 8, 0, 0)
SECRET = "whsec_explore_0123456789"
LABELS = {"queued": "Queued", "sent": "Sent", "delivered": "Delivered", "returned": "Returned",
          "failed": "Failed"}
# Lob's tracking event names, as fieldsync's statuses (lib/maps/lob-event.jq).
STATUS = {"created": "queued", "mailed": "sent", "in_transit": "sent", "in_local_area": "sent",
          "processed_for_delivery": "sent", "delivered": "delivered", "returned_to_sender": "returned",
          "re-routed": "sent"}

CRM_TO_MAIL = ["fs-pull hubspot", "fs-normalize", "fs-dedupe", "fs-push mail"]
TRACKING = ["fs-pull lob-events", "fs-normalize", "fs-dedupe", "fs-push crm"]
RETRY = ["fs-push --retry-only mail"]


def iso(t):
    return t.strftime(ISO)


def die(msg):
    print("explore: " + msg, file=sys.stderr)
    sys.exit(2)


class Fake:
    """A fake vendor: its process and a keep-alive admin connection."""

    def __init__(self, name, argv, portfile):
        self.name = name
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        for _ in range(2400):
            if os.path.exists(portfile) and open(portfile).read().strip():
                break
            if self.proc.poll() is not None:
                die("the fake %s did not start" % name)
            time.sleep(0.025)
        else:
            die("the fake %s did not start" % name)
        self.port = int(open(portfile).read())
        self.conn = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(5):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                self.conn.request(method, path, body=data,
                                  headers={"Content-Type": "application/json"} if data else {})
                r = self.conn.getresponse()
                raw = r.read()
                if r.status >= 400:
                    raise RuntimeError("%s %s %s: %s %s" % (self.name, method, path, r.status, raw[:300]))
                return json.loads(raw) if raw else None
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 4:
                    raise
                time.sleep(0.1)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class World:
    """One worker's fakes and folder; each run starts from a fresh state."""

    def __init__(self, base, size):
        self.base = base
        self.size = size
        os.makedirs(base, exist_ok=True)
        self.hs = Fake("HubSpot", [sys.executable, os.path.join(FAKES, "fake_hubspot.py"), "--port", "0",
                                   "--port-file", os.path.join(base, "hs.port"), "--token", "tok-hubspot",
                                   "--now", iso(START), "--rate-max", "1000000", "--daily-limit", "100000000"],
                       os.path.join(base, "hs.port"))
        self.lob = Fake("Lob", [sys.executable, os.path.join(FAKES, "fake_lob.py"), "--port", "0",
                                "--port-file", os.path.join(base, "lob.port"), "--key", "test_explore",
                                "--now", iso(START), "--rate", "off", "--seed", "7"],
                        os.path.join(base, "lob.port"))
        self.run_no = 0

    def stop(self):
        self.hs.stop()
        self.lob.stop()

    # ---- one run's set-up -------------------------------------------------
    def reset(self):
        self.run_no += 1
        self.dir = os.path.join(self.base, "run")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.db = os.path.join(self.dir, "fieldsync.db")
        self.now = START
        self.hs.call("POST", "/__admin/reset", {"empty": True})
        self.lob.call("POST", "/__admin/reset")
        self.hs.call("POST", "/__admin/rate", {"max": 1000000})
        self.clocks()
        self.delivered = set()      # Lob event ids fs-hook answered 2xx
        self.log = []
        self.fired = False          # the stage meant to die did
        self.env = dict(os.environ)
        for k in [k for k in self.env if k.startswith("FS_")]:
            del self.env[k]
        self.env.update({
            "PATH": BIN + ":" + self.env.get("PATH", "/usr/bin:/bin"),
            "FS_CONFIG": os.path.join(self.dir, "fieldsync.conf"), "FS_STATE": self.db,
            "HUBSPOT_TOKEN": "tok-hubspot", "LOB_API_KEY": "test_explore", "LOB_WEBHOOK_SECRET": SECRET,
            "FS_BUSY_TIMEOUT": "20000",
        })
        with open(self.env["FS_CONFIG"], "w") as f:
            f.write(CONFIG.format(hs=self.hs.port, lob=self.lob.port))

    def clocks(self):
        self.hs.call("POST", "/__admin/clock", {"now": iso(self.now)})
        self.lob.call("POST", "/__admin/clock", {"now": iso(self.now), "frozen": True})

    def advance(self, minutes):
        self.now += dt.timedelta(minutes=minutes)
        self.clocks()

    def sql(self, q):
        c = sqlite3.connect(self.db, timeout=60)
        try:
            return c.execute(q).fetchall()
        finally:
            c.close()

    # ---- running the commands ----------------------------------------------
    def shell(self, cmd, stdin=None, extra=None):
        env = dict(self.env, FS_NOW=iso(self.now))
        env.update(extra or {})
        r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=env, cwd=self.dir, input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        self.log.append((cmd, r.returncode, r.stderr.decode(errors="replace")[-2000:]))
        return r

    def pipeline(self, stages, tag, inject, stdin=None):
        """stages as a shell pipeline; inject(tag, i) gives stage i's extra environment."""
        parts = []
        crash = False
        for i, s in enumerate(stages):
            extra = inject(tag, i)
            crash |= "FS_CRASH_AT" in extra
            parts.append(" ".join("%s=%s" % kv for kv in sorted(extra.items())) + (" " if extra else "") + s)
        r = self.shell(" | ".join(parts), stdin=stdin)
        # pipefail: the status of the last stage that failed, 137 for SIGKILL.
        self.fired |= crash and r.returncode == 128 + signal.SIGKILL
        return r

    def hook(self, ev, tag, inject):
        """One webhook delivery of a Lob event, as a web server runs fs-hook (CGI)."""
        body = json.dumps(ev, separators=(",", ":")).encode()
        ts = str(int(self.now.replace(tzinfo=dt.timezone.utc).timestamp() * 1000))
        env = dict(self.env, FS_NOW=iso(self.now), REQUEST_METHOD="POST", CONTENT_LENGTH=str(len(body)),
                   CONTENT_TYPE="application/json", PATH_INFO="/lob-events", SCRIPT_NAME="/cgi-bin/fs-hook",
                   REQUEST_URI="/cgi-bin/fs-hook/lob-events", HTTP_HOST="hooks.explore.invalid",
                   SERVER_PROTOCOL="HTTP/1.1", GATEWAY_INTERFACE="CGI/1.1", REMOTE_ADDR="127.0.0.1",
                   HTTP_LOB_SIGNATURE_TIMESTAMP=ts,
                   HTTP_LOB_SIGNATURE=hmac.new(SECRET.encode(), ts.encode() + b"." + body,
                                               hashlib.sha256).hexdigest())
        extra = inject(tag, 0)
        env.update(extra)
        r = subprocess.run([os.path.join(BIN, "fs-hook")], input=body, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        status = 0
        for line in r.stdout.decode(errors="replace").splitlines():
            if line.lower().startswith("status:"):
                status = int(line.split()[1])
                break
        if 200 <= status < 300:
            self.delivered.add(ev["id"])
        self.fired |= "FS_CRASH_AT" in extra and r.returncode == -signal.SIGKILL
        return status

    # ---- the vendors' side ------------------------------------------------
    def contact(self, cid, status, zip_code="78701", phone=None):
        props = {"email": "%s@example.com" % cid, "firstname": "Pat", "lastname": cid.upper(),
                 "address": "%d Oak St" % (100 + int(cid[1:])), "city": "Austin", "state": "TX",
                 "country": "US", "lifecyclestage": status, "lastmodifieddate": iso(self.now)}
        if phone:
            props["phone"] = phone
        if zip_code:
            props["zip"] = zip_code
        self.hs.call("POST", "/__admin/contacts", {"id": cid[1:], "properties": props})

    def lob_pieces(self):
        return self.lob.call("GET", "/__admin/pieces")["data"]

    def track(self, event):
        """Lob moves every live piece to event (those that have not had it)."""
        for p in self.lob_pieces():
            done = set(e.split(".")[-1] for e in p.get("events", []))
            if event not in done and "delivered" not in done:
                self.lob.call("POST", "/__admin/advance", {"id": p["id"], "event": "postcard." + event})

    def undelivered(self):
        return [e for e in self.lob.call("GET", "/__admin/events")["data"] if e["id"] not in self.delivered]


CONFIG = """[source "hubspot"]
kind        = hubspot
url         = http://127.0.0.1:{hs}
token_env   = HUBSPOT_TOKEN
rate        = 1000000/10s
search_rate = none

[source "lob-events"]
kind       = lob-events
url        = http://127.0.0.1:{lob}/v1
token_env  = LOB_API_KEY
secret_env = LOB_WEBHOOK_SECRET
rate       = 1000000/5s

[target "mail"]
kind      = lob
url       = http://127.0.0.1:{lob}/v1
token_env = LOB_API_KEY
rate      = 1000000/5s
retry     = 1m..10m x6
timeout   = 20s

[target "crm"]
kind      = hubspot
url       = http://127.0.0.1:{hs}
token_env = HUBSPOT_TOKEN
rate      = 1000000/10s
retry     = 1m..10m x6
timeout   = 20s

[campaign "thank-you"]
goal     = retention
trigger  = status = customer
format   = postcard
template = tmpl_thanks
back     = tmpl_thanksback
active   = 30d
# A first run killed before it saw a contact leaves it unseen: entering the
# trigger, it is a first sight, which fires only within the backfill.
backfill = 1d

[dedupe]
debounce = 2m

[thresholds]
dlq_max  = 1
no_ping  = 24h
"""


class Scenario:
    """The actions, in order; each stage of each is a crash target."""

    def __init__(self, size):
        n = 6 if size == "small" else 18
        self.contacts = ["c%d" % i for i in range(1, n + 1)]
        # First wave: every other contact but the broken one; the broken
        # one (no ZIP) is repaired by replay; the rest come later.
        self.wave1 = self.contacts[: n // 2]
        self.broken = self.wave1[-1]
        self.wave2 = self.contacts[n // 2: n - 1]
        self.last = self.contacts[-1]
        self.refused = self.wave1[0]

    def actions(self):
        """(tag, kind, argument): kind pipe (stages), hook, watchdog, ack, replay, world."""
        s = self
        return [
            ("setup", "world", lambda w: [w.contact(c, "lead") for c in s.contacts]),
            ("t1", "pipe", CRM_TO_MAIL),
            ("enter1", "world", lambda w: (w.advance(1), [w.contact(c, "customer", None if c == s.broken else "78701")
                                                         for c in s.wave1])),
            ("t2", "pipe", CRM_TO_MAIL),                  # held by debounce; the broken one dead-lettered
            ("fault", "world", lambda w: w.lob.call("POST", "/__admin/faults",
                                                    {"status": 422, "method": "POST", "path_prefix": "/postcards",
                                                     "message": "address undeliverable", "count": 1})),
            ("t3", "pipe", CRM_TO_MAIL),                  # released, sent; one refused (DLQ)
            ("mailed", "world", lambda w: w.track("mailed")),
            # An edit of a contact already mailed (a new version of it): no
            # second piece, whatever became of the first run.
            ("edit", "world", lambda w: [w.contact(c, "customer", None if c == s.broken else "78701", phone="+15125550100")
                                         for c in s.wave1[1:-1]]),
            ("t3b", "pipe", CRM_TO_MAIL),
            ("hooks1", "hooks", None),
            ("t4", "pipe", TRACKING),
            ("watchdog", "watchdog", None),               # the DLQ alert holds the mail target
            ("enter2", "world", lambda w: [w.contact(c, "customer") for c in s.wave2]),
            ("t5", "pipe", CRM_TO_MAIL),                  # their pieces wait behind the hold
            ("ack", "ack", None),
            ("replay", "replay", ("--reason 'address undeliverable'", "", ["fs-push mail"])),
            ("repair", "replay", ("--reason 'postal_code'", "jq -c '.data.properties.zip = \"78701\"'",
                                  ["fs-normalize", "fs-dedupe", "fs-push mail"])),
            ("t6", "pipe", RETRY),
            ("enter3", "world", lambda w: w.contact(s.last, "customer")),
            ("t7", "pipe", CRM_TO_MAIL),
            ("delivered", "world", lambda w: w.track("delivered")),
            ("hooks2", "hooks", None),
            ("t8", "pipe", TRACKING),
        ]


class Runner:
    def __init__(self, world, scenario, verbose=False):
        self.w = world
        self.sc = scenario
        self.verbose = verbose

    def run(self, inject, settle=True):
        """The scenario with inject(tag, stage) adding to a stage's environment; then settles and
        returns the list of broken invariants."""
        w = self.w
        w.reset()
        for tag, kind, arg in self.sc.actions():
            w.advance(5)
            self.act(tag, kind, arg, inject)
        if settle:
            self.settle()
        if getattr(self, "inject_duplicate", False):
            self.duplicate()
        return self.check()

    def duplicate(self):
        """For the test that the check can fail: a second piece for contact 1,
        made at Lob behind fieldsync's back."""
        import base64
        body = json.dumps({"to": {"name": "Pat C1", "address_line1": "101 Oak St", "address_city": "Austin",
                                  "address_state": "TX", "address_zip": "78701"},
                           "front": "tmpl_thanks", "back": "tmpl_thanksback", "use_type": "marketing",
                           "metadata": {"event_id": "evt_behind_its_back", "contact_id": "1"}})
        c = http.client.HTTPConnection("127.0.0.1", self.w.lob.port, timeout=60)
        c.request("POST", "/v1/postcards", body=body, headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(b"test_explore:").decode()})
        c.getresponse().read()
        c.close()

    def act(self, tag, kind, arg, inject):
        w = self.w
        if kind == "world":
            arg(w)
        elif kind == "pipe":
            w.pipeline(arg, tag, inject)
        elif kind == "hooks":
            for i, ev in enumerate(w.undelivered()):
                w.hook(ev, "%s/%d" % (tag, i), inject)
        elif kind == "watchdog":
            w.pipeline(["fs-watchdog"], tag, inject)
        elif kind == "ack":
            # A person acknowledges the open alerts; if that failed, again.
            for attempt in range(2):
                ids = [r[0] for r in w.sql("select id from alerts where state = 'open' order by id")]
                failed = False
                for a in ids:
                    r = w.pipeline(["fs-watchdog ack %d --by explore" % a], tag if attempt == 0 else "-", inject)
                    failed |= r.returncode not in (0, 2)
                if not failed:
                    break
        elif kind == "replay":
            select, fix, stages = arg
            for attempt in range(2):
                before = set(r[0] for r in w.sql("select id from dlq where state = 'replayed'"))
                cmd = ["fs-dlq replay " + select] + ([fix] if fix else []) + stages
                r = w.pipeline(cmd, tag if attempt == 0 else "-", inject)
                if r.returncode in (0, 1):
                    break
                # The repair did not arrive: its entries go back to the open
                # ones (fs-dlq(1)), and the operator runs it again.
                again = [str(r[0]) for r in w.sql("select id from dlq where state = 'replayed'")
                         if r[0] not in before]
                if again:
                    w.shell("fs-dlq reopen " + " ".join(again))

    def settle(self):
        """Ticks until nothing is due: what cron would do next, with Lob
        sending again what fs-hook did not answer."""
        w = self.w
        none = lambda tag, i: {}
        for _ in range(6):
            w.advance(15)
            w.pipeline(CRM_TO_MAIL, "-", none)
            w.pipeline(RETRY, "-", none)
            w.track("delivered")
            for ev in w.undelivered():
                w.hook(ev, "-", none)
            w.pipeline(TRACKING, "-", none)
            busy = w.sql("select count(*) from outbox where state in ('pending', 'held')")[0][0]
            held = w.sql("select count(*) from debounce")[0][0]
            alerts = [r[0] for r in w.sql("select id from alerts where state = 'open'")]
            for a in alerts:
                w.shell("fs-watchdog ack %d --by explore" % a)
            if busy == 0 and held == 0 and not w.undelivered():
                break

    def check(self):
        w, sc = self.w, self.sc
        bad = []
        pieces = [p for p in w.lob_pieces() if not p.get("deleted")]
        by_contact = {}
        for p in pieces:
            by_contact.setdefault(p["metadata"].get("contact_id"), []).append(p)
        want = sorted(c[1:] for c in sc.contacts)
        got = sorted(by_contact)
        if got != want:
            bad.append("pieces for contacts %s, want %s" % (got, want))
        twice = {c: [p["metadata"].get("event_id") for p in ps] for c, ps in by_contact.items() if len(ps) > 1}
        if twice:
            bad.append("second pieces: %s" % twice)
        enrolled = sorted(r[0] for r in w.sql("select event_id from enrolments where final = 1"))
        at_lob = sorted(p["metadata"].get("event_id") for p in pieces)
        if enrolled != at_lob:
            bad.append("pieces at Lob %s != enrolments %s" % (at_lob, enrolled))
        sends = set(r[0] for r in w.sql("select json_extract(detail, '$.vendor_id') from changelog where kind = 'send'"))
        unlogged = [p["id"] for p in pieces if p["id"] not in sends]
        if unlogged:
            bad.append("pieces without a send row: %s" % unlogged)
        crm = {c["id"]: (c.get("properties") or {}).get("fieldsync_mail_status")
               for c in w.hs.call("GET", "/__admin/contacts")["contacts"]}
        for c, ps in by_contact.items():
            if len(ps) != 1:
                continue
            last = [e.split(".")[-1] for e in ps[0].get("events", [])]
            status = STATUS.get(last[-1], "queued") if last else "queued"
            if crm.get(c) != LABELS[status]:
                bad.append("contact %s: CRM says %s, Lob %s" % (c, crm.get(c), status))
        # A stage killed while it wrote leaves the next one a last line cut
        # short: a dead letter that says so (its record comes again).
        still = [r for r in w.sql("select id, command, reason from dlq where state = 'open'")
                 if not r[2].endswith("(the last line, with no newline: cut short?)")]
        if still:
            bad.append("open dead letters: %s" % still)
        return bad


# ---- crash exploration ------------------------------------------------------

def count_steps(world, scenario):
    """Each stage's steps in an undisturbed run: {(tag, stage): n}."""
    logs = os.path.join(world.base, "steps")
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)

    def inject(tag, i):
        return {} if tag == "-" else {"FS_STEP_LOG": os.path.join(logs, "%s.%d" % (tag.replace("/", "_"), i))}
    bad = Runner(world, scenario).run(inject)
    if bad:
        die("the scenario fails without any crash: " + "; ".join(bad))
    counts = {}
    for name in sorted(os.listdir(logs)):
        tag, stage = name.rsplit(".", 1)
        with open(os.path.join(logs, name)) as f:
            counts[(tag.replace("_", "/", 1) if tag.startswith("hooks") else tag, int(stage))] = \
                sum(1 for _ in f)
    return counts


_world = None


def worker_init(base, size):
    global _world
    import multiprocessing.util
    _world = World(base + "/w%d" % os.getpid(), size)
    # Run at the worker's exit (atexit is not, in a pool's worker).
    multiprocessing.util.Finalize(None, _world.stop, exitpriority=10)


def worker_crash(job):
    tag, stage, n, size, dup = job

    def inject(t, i):
        return {"FS_CRASH_AT": str(n)} if t == tag and i == stage else {}
    r = Runner(_world, Scenario(size))
    r.inject_duplicate = dup
    bad = r.run(inject)
    return (tag, stage, n, bad, _world.log if bad else None, _world.fired)


def worker_interleave(job):
    seed, size = job
    bad = Interleaver(_world, Scenario(size), seed).run()
    if bad:
        bad.append("kept in " + keep(_world, "seed%d" % seed))
    return (seed, bad, None)


def keep(w, name):
    """A failed run's folder (its state file, each process's standard error)
    and the fakes' records, for the post-mortem."""
    dest = os.path.join(os.path.dirname(w.base), "failed-" + name)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(w.dir, dest)
    with open(os.path.join(dest, "lob-pieces.json"), "w") as f:
        json.dump(w.lob_pieces(), f, indent=1)
    with open(os.path.join(dest, "commands.log"), "w") as f:
        for cmd, rc, err in w.log:
            f.write("[%d] %s\n%s\n" % (rc, cmd, err))
    return dest


class Interleaver(Runner):
    """Each of the scenario's pipelines and replays at once with a second CRM
    -> mail pipeline and the tracking one, every step of every process
    delayed at random."""

    def __init__(self, world, scenario, seed):
        super().__init__(world, scenario)
        self.seed = seed

    def run(self):
        w = self.w
        w.reset()
        seed = self.seed
        k = [0]

        def delay(tag, i):
            k[0] += 1
            return {"FS_STEP_DELAY": "15", "FS_STEP_SEED": str(seed * 1000 + k[0])}
        for tag, kind, arg in self.sc.actions():
            w.advance(5)
            if kind in ("pipe", "replay"):
                # The action, a second CRM -> mail pipeline and the tracking
                # one, all at once: with the replays, the four the issue names.
                self.flush([(tag, kind, arg), (tag + "b", "pipe", CRM_TO_MAIL), (tag + "c", "pipe", TRACKING)],
                           delay)
            else:
                self.act(tag, kind, arg, delay)
        self.settle()
        return self.check()

    def flush(self, batch, inject):
        """The pipelines and replays gathered since the last world change, all at once."""
        w = self.w
        procs = []
        for tag, kind, arg in batch:
            if kind == "pipe":
                stages = arg
            else:
                select, fix, rest = arg
                stages = ["fs-dlq replay " + select] + ([fix] if fix else []) + rest
            env = dict(w.env, FS_NOW=iso(w.now))
            err = open(os.path.join(w.dir, "%s.err" % tag), "ab")
            parts = []
            for i, s in enumerate(stages):
                extra = inject(tag, i)
                parts.append(" ".join("%s=%s" % kv for kv in sorted(extra.items())) + " " + s)
            procs.append(subprocess.Popen(["bash", "-o", "pipefail", "-c", " | ".join(parts)], env=env, cwd=w.dir,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=err))
            err.close()
        for (tag, _, _), p in zip(batch, procs):
            w.log.append((tag, p.wait(timeout=600), ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["steps", "crash", "interleave"])
    ap.add_argument("--size", choices=["small", "full"], default="small")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--stride", type=int, default=1, help="explore every Kth crash point")
    ap.add_argument("--only", help="TAG.STAGE[.N]: one stage (or one crash point)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--inject-duplicate", action="store_true",
                    help="make a second piece at Lob before the check (the check must fail)")
    ap.add_argument("--dir")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    if not os.access(os.path.join(BIN, "fs-push"), os.X_OK):
        die("no %s/fs-push: run make first" % BIN)
    base = a.dir or tempfile.mkdtemp(prefix="fs-explore.")
    scenario = Scenario(a.size)
    world = World(base + "/count", a.size)
    try:
        counts = count_steps(world, scenario)
    finally:
        world.stop()
    if a.mode == "steps":
        for (tag, stage), n in sorted(counts.items(), key=lambda kv: str(kv[0])):
            print("%-12s %d %3d" % (tag, stage, n))
        print("%d stages, %d crash points" % (len(counts), sum(counts.values())))
        return 0
    failures = 0
    t0 = time.monotonic()
    if a.mode == "crash":
        jobs = []
        # Every stride-th point of each stage, from its first: every stage
        # is a target, however long the stride (the sanitizers' is long).
        for (tag, stage), n in sorted(counts.items(), key=lambda kv: str(kv[0])):
            for k in range(1, n + 1, a.stride):
                if a.only:
                    parts = a.only.split(".")
                    if parts[0] != tag or int(parts[1]) != stage or (len(parts) > 2 and int(parts[2]) != k):
                        continue
                jobs.append((tag, stage, k, a.size, a.inject_duplicate))
        stages = len(set((j[0], j[1]) for j in jobs))
        print("# %d crash points in %d stages (of %d points, %d stages in the scenario)" %
              (len(jobs), stages, sum(counts.values()), len(counts)), flush=True)
        fn = worker_crash
    else:
        jobs = [(s, a.size) for s in range(a.first, a.first + a.seeds)]
        print("# %d interleavings (seeds %d..%d)" % (len(jobs), a.first, a.first + a.seeds - 1), flush=True)
        fn = worker_interleave
    done = fired = 0
    with concurrent.futures.ProcessPoolExecutor(a.jobs, initializer=worker_init, initargs=(base, a.size)) as ex:
        for res in ex.map(fn, jobs):
            done += 1
            fired += a.mode == "crash" and res[5]
            what, bad, log = (res[:3], res[3], res[4]) if a.mode == "crash" else ((res[0],), res[1], None)
            if bad:
                failures += 1
                print("FAIL %s: %s" % (".".join(str(x) for x in what), "; ".join(bad)), flush=True)
                if a.v and log:
                    for cmd, rc, err in log:
                        print("#   [%d] %s\n#       %s" % (rc, cmd, err.strip().replace("\n", "\n#       ")))
            elif a.v:
                print("ok %s" % ".".join(str(x) for x in what), flush=True)
    if a.mode == "crash":
        # A stage may take fewer steps in one run than in another (a stage
        # commits whenever its input would block): those points are not reached.
        print("# %d of them killed their stage (the others were past its last step in that run)" % fired)
    print("# %.0f s" % (time.monotonic() - t0))
    print("%s: %d runs, %d failed" % (a.mode, done, failures))
    if not a.dir:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
