"""demosim_common.py: what make demo's simulations share (scripts/demo-sim.py,
the HubSpot one, and scripts/demo-jobber.py): the fake vendors as child
processes with a keep-alive admin connection, their clean-up on exit or on a
signal, times as fieldsync writes them, fs-hook run as a web server's CGI
program, and read-only looks at the state file.  Python 3 standard library
only.
"""
import datetime as dt
import http.client
import json
import os
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
