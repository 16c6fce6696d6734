#!/usr/bin/env python3
"""etcd on the test nodes (lesson step 7): how long `groundup run etcd` takes.

Run through `scripts/bench --etcd` (as root: the test nodes need namespaces
and systemd-nspawn). Boots the six test nodes (scripts/testnodes, holding
its machine-wide lock), starts moto, runs network, compute, pki and
distribute with private addresses, and serves an etcd release made from
Debian's etcd 3.4.23 binaries (etcd's layout, with SHA256SUMS) from the host
side of the test network. Then, per repetition:

  * from nothing to healthy: etcd is wiped from the masters (unit, binaries,
    data) and `groundup run etcd` downloads, verifies and installs the
    release, writes and starts the units and waits until every member is
    healthy and the member list is the masters;
  * the no-op: `groundup run etcd` again, which must restart nothing.

Prints a Markdown section (and appends it to --out when given). Timings are
reported, never asserted; the goals are <= 10 s and <= 1 s.
"""

import argparse
import fcntl
import functools
import hashlib
import http.server
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

LOCK = "/run/groundup-testnodes.lock"
HOST_IP = "172.31.0.1"
MASTERS = ["master-0", "master-1", "master-2"]
VERSION = "3.4.23"
GOAL_UP, GOAL_NOOP = 10.0, 1.0


def log(msg):
    print(f"etcd-bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def release(root):
    """etcd's release layout from the host's Debian binaries."""
    top = f"etcd-v{VERSION}-linux-amd64"
    vdir = os.path.join(root, f"v{VERSION}")
    os.makedirs(vdir)
    tgz = os.path.join(vdir, f"{top}.tar.gz")
    with tarfile.open(tgz, "w:gz") as t:
        for b in ["etcd", "etcdctl"]:
            path = shutil.which(b)
            if not path:
                raise SystemExit(f"{b} not found: apt-get install -y etcd-server etcd-client")
            t.add(path, arcname=f"{top}/{b}")
    with open(tgz, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(vdir, "SHA256SUMS"), "w") as f:
        f.write(f"{digest}  {top}.tar.gz\n")


def serve(root):
    h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    h.log_message = lambda *a: None
    s = http.server.ThreadingHTTPServer((HOST_IP, 0), h)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return f"http://{HOST_IP}:{s.server_address[1]}"


class Lab:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="groundup-etcd-bench-")
        self.nodes_script = os.path.join(a.repo, "scripts", "testnodes")
        self.env = dict(os.environ, GROUNDUP_TESTNODES_LOCKED="1")
        self.moto = None

    def nodes(self, *args, input=None):
        r = subprocess.run([self.nodes_script, *args], env=self.env, input=input,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"scripts/testnodes {' '.join(args)} failed:\n{r.stderr}")
        return r.stdout

    def groundup(self, *args, check=True):
        cmd = [self.a.groundup, "--endpoint", self.endpoint, "--state-dir",
               os.path.join(self.work, "state"), "--set", "ssh_address=private",
               "--set", f"etcd_release_url={self.url}", *args]
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=self.work, capture_output=True, text=True,
                           env=dict(os.environ, AWS_ACCESS_KEY_ID="testing",
                                    AWS_SECRET_ACCESS_KEY="testing",
                                    GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT="1"))
        dt = time.perf_counter() - t
        if check and r.returncode != 0:
            raise SystemExit(f"groundup {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
        return dt, r

    def setup(self):
        log("booting the test nodes")
        self.nodes("up")
        port = free_port()
        self.moto_log = open(os.path.join(self.work, "moto.log"), "w")
        self.moto = subprocess.Popen([self.a.moto, "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=self.moto_log, stderr=subprocess.STDOUT)
        self.endpoint = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        root = os.path.join(self.work, "www")
        release(root)
        self.url = serve(root)
        log("network, compute, pki, distribute")
        self.groundup("--set", "steps=network,compute,pki", "up")
        key = os.path.join(self.work, "state", "k8s-cluster", "ssh", "k8s-cluster.id_rsa")
        pub = subprocess.run(["ssh-keygen", "-y", "-f", key], capture_output=True, text=True,
                             check=True).stdout
        self.nodes("authorize", "-", input=pub)
        self.groundup("run", "distribute")

    def wipe(self):
        for m in MASTERS:
            self.nodes("exec", m, "sh", "-c",
                       "systemctl disable --now etcd 2>/dev/null; rm -rf /etc/systemd/system/etcd.service "
                       "/usr/local/bin/etcd /usr/local/bin/etcdctl /var/lib/etcd; systemctl daemon-reload")

    def pids(self):
        return [self.nodes("exec", m, "systemctl", "show", "-p", "MainPID", "--value", "etcd").strip()
                for m in MASTERS]

    def close(self):
        if self.moto:
            self.moto.terminate()
            self.moto.wait()
        subprocess.run([self.nodes_script, "down"], env=self.env, capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)


def fmt(xs):
    if not xs:
        return "n/a"
    return f"{statistics.median(xs):.2f} s ({min(xs):.2f}–{max(xs):.2f})"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", required=True)
    p.add_argument("--groundup", required=True)
    p.add_argument("--moto", required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default="", help="append the section to this file")
    a = p.parse_args()
    lock = open(LOCK, "w")
    log(f"waiting for {LOCK}")
    fcntl.flock(lock, fcntl.LOCK_EX)
    lab = Lab(a)
    up, noop, restarted = [], [], 0
    try:
        lab.setup()
        for i in range(a.reps):
            lab.wipe()
            dt, _ = lab.groundup("run", "etcd")
            up.append(dt)
            before = lab.pids()
            dt, _ = lab.groundup("run", "etcd")
            noop.append(dt)
            if lab.pids() != before:
                restarted += 1
            log(f"rep {i + 1}: nothing -> healthy {up[-1]:.2f} s, no-op {noop[-1]:.2f} s")
    finally:
        lab.close()
    load = os.getloadavg()[0]
    ok = lambda xs, goal: "met" if xs and statistics.median(xs) <= goal else "NOT met"
    text = f"""
## etcd on the test nodes (lesson step 7)

`groundup run etcd` against three real masters (systemd-nspawn Debian nodes,
sshd, systemd, Debian's etcd {VERSION} served as etcd's release layout from the
host side of the test network), {a.reps} repetitions, load average {load:.1f}.

| Run | Median (range) | Goal |
|---|---|---|
| From distributed files to a healthy 3-member cluster (download, verify, install, units, start, health) | {fmt(up)} | ≤ {GOAL_UP:.0f} s: {ok(up, GOAL_UP)} |
| Re-run with nothing to do | {fmt(noop)} | ≤ {GOAL_NOOP:.0f} s: {ok(noop, GOAL_NOOP)} |

Re-runs that changed a member's main PID: {restarted} of {a.reps}.
"""
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
