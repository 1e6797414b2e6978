"""demosim_common.py: what make demo's simulations share (scripts/demo-sim.py,
the HubSpot one, and scripts/demo-jobber.py): the fake vendors as child
processes with a keep-alive admin connection, their clean-up on exit or on a
signal, times as fieldsync writes them, fs-hook run as a web server's CGI
program, and read-only looks at the state file.  Python 3 standard library
only.
"""
import base64
import datetime as dt
import heapq
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(TOP, "bin")
FAKES = os.path.join(TOP, "tests", "fakes")
ISO = "%Y-%m-%dT%H:%M:%SZ"
TICK = dt.timedelta(minutes=5)

children = []          # processes to stop at exit


def say(*a):
    print(*a, file=sys.stdout, flush=True)


def iso(t):
    return t.strftime(ISO)


def parse_iso(s):
    return dt.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")


def ms(t):
    return int(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def stop_children():
    for p in children:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
    for p in children:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
    children.clear()


def on_signal(sig, frame):
    stop_children()
    sys.exit(128 + sig)


def catch_signals():
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)


class Fake:
    """One fake vendor: a child process and a keep-alive admin connection."""

    def __init__(self, name, argv, portfile):
        self.name = name
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(portfile + ".stderr", "ab"), start_new_session=True)
        children.append(self.proc)
        for _ in range(400):
            if os.path.exists(portfile) and open(portfile).read().strip():
                break
            if self.proc.poll() is not None:
                raise SystemExit("demo: the fake %s did not start (see %s.stderr)" % (name, portfile))
            time.sleep(0.025)
        else:
            raise SystemExit("demo: the fake %s did not start" % name)
        self.port = int(open(portfile).read())
        self.url = "http://127.0.0.1:%d" % self.port
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    self.conn.connect()
                    self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                h = dict(headers or {})
                if data:
                    h["Content-Type"] = "application/json"
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                raw = r.read()
                if r.status >= 400:
                    raise SystemExit("demo: %s %s %s: %s %s" % (self.name, method, path, r.status, raw[:300]))
                return json.loads(raw) if raw else None
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.05)


def cgi_env(env, now, method, path, body, headers=None, remote="127.0.0.1"):
    """The environment lighttpd's mod_cgi gives fs-hook for one request;
    headers are more CGI variables (CONTENT_TYPE, HTTP_*)."""
    e = dict(env, FS_NOW=iso(now), REQUEST_METHOD=method, CONTENT_LENGTH=str(len(body)),
             PATH_INFO=path, SCRIPT_NAME="/cgi-bin/fs-hook", REQUEST_URI="/cgi-bin/fs-hook" + path,
             HTTP_HOST="hooks.demo.invalid", SERVER_PROTOCOL="HTTP/1.1", GATEWAY_INTERFACE="CGI/1.1",
             REMOTE_ADDR=remote)
    e.update(headers or {})
    return e


def cgi_status(stdout):
    """The Status: of a CGI answer, or 0 when there is none."""
    for line in stdout.decode(errors="replace").splitlines():
        if line.lower().startswith("status:"):
            return int(line.split()[1])
    return 0


def query(db, sql, args=()):
    """Rows of a read-only query on the state file."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


class SimBase:
    """What both simulations keep: the run's folder, state file and config,
    the queue of things to happen, the counts, and the days simulated."""

    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.dir = os.path.abspath(a.dir)
        self.db = os.path.join(self.dir, "fieldsync.db")
        self.conf = os.path.join(self.dir, "fieldsync.conf")
        self.queue = []
        self.seq = 0
        self.stats = {}
        self.day_stats = {}
        self.errors = {}
        self.prof = {}

    def fresh_dir(self, *subdirs):
        """An empty DIR with these folders, and the days simulated: the DAYS
        that end now (on a 5-minute tick), or at $FS_DEMO_END, which tests
        pin so that a run does not depend on the day it runs."""
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        for d in subdirs:
            os.makedirs(os.path.join(self.dir, d))
        now = dt.datetime.utcnow().replace(second=0, microsecond=0)
        if os.environ.get("FS_DEMO_END"):
            now = parse_iso(os.environ["FS_DEMO_END"])
        now -= dt.timedelta(minutes=now.minute % 5)
        self.end = now
        self.start = now - dt.timedelta(days=self.a.days)

    def base_env(self, **more):
        """The commands' environment: bin/ first, this run's config and state file."""
        env = dict(os.environ)
        env.update({"PATH": BIN + ":" + env.get("PATH", "/usr/bin:/bin"), "FS_CONFIG": self.conf,
                    "FS_STATE": self.db, "TMPDIR": os.path.join(self.dir, "tmp")}, **more)
        env.pop("FS_MAPDIR", None)
        return env

    def start_lob(self, key):
        """The fake Lob, its clock frozen at the first tick."""
        port = os.path.join(self.dir, "lob.port")
        lob = Fake("Lob", [sys.executable, os.path.join(FAKES, "fake_lob.py"), "--port", "0", "--port-file", port,
                           "--key", key, "--now", iso(self.start), "--rate", "off", "--seed", str(self.a.seed)], port)
        lob.call("POST", "/__admin/clock", {"now": iso(self.start), "frozen": True})
        return lob

    def rel(self, p):
        return os.path.relpath(p, os.getcwd()) if p.startswith(os.getcwd()) else p

    def q(self, sql, args=()):
        return query(self.db, sql, args)

    def at(self, t, kind, **kw):
        self.seq += 1
        heapq.heappush(self.queue, (t, self.seq, kind, kw))

    def count(self, k, n=1):
        self.stats[k] = self.stats.get(k, 0) + n
        self.day_stats[k] = self.day_stats.get(k, 0) + n

    @staticmethod
    def clock(t):
        return t.strftime("%a %H:%M")

    def tick_days(self):
        """The subclass's tick(t) every 5 minutes from start to end (cron's
        interval; one with nothing due does nothing), its first_run(t) line
        after the first, its day_line(day's start, n) at each day's end."""
        t, day_n, day_start, active = self.start, 0, self.start, 0
        while t < self.end:
            if t - day_start >= dt.timedelta(days=1):
                day_n += 1
                self.day_line(day_start, day_n)
                day_start += dt.timedelta(days=1)
            if self.tick(t):
                active += 1
            if t == self.start:
                self.first_run(t)
            t += TICK
        self.day_line(day_start, day_n + 1)
        self.active_ticks = active


def piece_behind_back(lob, key, metadata, idem):
    """For the tests that the verification can fail: a postcard to the first
    piece's address, made at the fake Lob behind fieldsync's back."""
    p = lob.call("GET", "/__admin/pieces")["data"][0]
    auth = "Basic " + base64.b64encode((key + ":").encode()).decode()
    lob.call("POST", "/v1/postcards", {
        "to": {k: p["to"][k] for k in ("name", "address_line1", "address_city", "address_state", "address_zip")},
        "front": "tmpl_thankyou", "back": "tmpl_thankyouback", "use_type": "marketing",
        "metadata": dict(p["metadata"], **metadata)}, headers={"Authorization": auth, "Idempotency-Key": idem})


def by_event(pieces):
    """The pieces at the vendor by the event id in their metadata, and how
    many are second pieces for an event."""
    seen = {}
    for p in pieces:
        seen.setdefault((p.get("metadata") or {}).get("event_id"), []).append(p["id"])
    return seen, sum(len(v) - 1 for v in seen.values() if len(v) > 1)


def print_checks(checks, vendors="vendor's"):
    """The verification's lines, "ok" or "FAILED" each; True when all hold."""
    say("")
    say("== verification (checked against the fake %s own records)" % vendors)
    ok = True
    for name, got, want, good in checks:
        say("  %-50s %6d  (want %d)  %s" % (name, got, want, "ok" if good else "FAILED"))
        ok = ok and good
    return ok


def run_sim(sim, *prepare):
    """main()'s course: set up, the steps before the first tick, the days,
    the panels, the verification and the closing lines; the exit status
    (0 when every check holds, 1 when one fails, 2 on a set-up error: a
    fake that did not start or answered wrong, a folder it cannot make).
    The fakes are stopped whatever happens."""
    try:
        return run_sim_steps(sim, prepare)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            return 2
        raise
    except OSError as e:
        print("demo: %s" % e, file=sys.stderr)
        return 2


def run_sim_steps(sim, prepare):
    catch_signals()
    began = time.monotonic()
    try:
        sim.setup()
        for step in prepare:
            step()
        say("simulating %s .. %s, a tick every 5 minutes (ticks with nothing due are skipped)"
            % (iso(sim.start), iso(sim.end)))
        sim.simulate()
        if not sim.a.no_panels:
            sim.panels()
        ok = sim.verify()
        sim.summary(time.monotonic() - began)
        if os.environ.get("FS_DEMO_PROFILE"):
            say("  profile (s): %s" % ", ".join("%s %.1f" % kv for kv in
                                                sorted(sim.prof.items(), key=lambda kv: -kv[1])))
        say("verification %s" % ("passed" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        stop_children()
