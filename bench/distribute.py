#!/usr/bin/env python3
"""Lesson step 4 on the six test nodes: groundup's `run distribute` against
the lesson's own way (an `scp` per node to ~/, then `ssh … sudo mv` into
place, node after node), on the same nodes in the same run, first run and
re-run. Prints a Markdown table (and writes it to --out when given).

Boots the nodes with scripts/testnodes (systemd-nspawn Debian machines at
172.31.0.10-12/.20-22), runs network, compute and pki on a local moto, and
lets the nodes trust the cluster key (cloud-init's part). Traffic goes only
to loopback (moto) and the test nodes' namespaces. Nothing here asserts a
timing.
"""

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

NODES = [("master-0", "172.31.0.10"), ("master-1", "172.31.0.11"), ("master-2", "172.31.0.12"),
         ("worker-0", "172.31.0.20"), ("worker-1", "172.31.0.21"), ("worker-2", "172.31.0.22")]
CLUSTER = "k8s-cluster"
DIRS = "/var/lib/kubernetes /var/lib/kubelet /var/lib/kube-proxy /etc/etcd"


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def files_for(node):
    """(local pki name, node path, mode) as runbooks/distribute.rhai puts them."""
    if node.startswith("master-"):
        return [("ca.pem", "/var/lib/kubernetes/ca.pem", "644"),
                ("ca-key.pem", "/var/lib/kubernetes/ca-key.pem", "600"),
                ("master-kubernetes.pem", "/var/lib/kubernetes/master-kubernetes.pem", "644"),
                ("master-kubernetes-key.pem", "/var/lib/kubernetes/master-kubernetes-key.pem", "600"),
                ("service-account.pem", "/var/lib/kubernetes/service-account.pem", "644"),
                ("service-account-key.pem", "/var/lib/kubernetes/service-account-key.pem", "600"),
                ("encryption-config.yaml", "/var/lib/kubernetes/encryption-config.yaml", "600"),
                ("kube-controller-manager.kubeconfig", "/var/lib/kubernetes/kube-controller-manager.kubeconfig", "600"),
                ("kube-scheduler.kubeconfig", "/var/lib/kubernetes/kube-scheduler.kubeconfig", "600"),
                ("ca.pem", "/etc/etcd/ca.pem", "644"),
                ("master-kubernetes.pem", "/etc/etcd/master-kubernetes.pem", "644"),
                ("master-kubernetes-key.pem", "/etc/etcd/master-kubernetes-key.pem", "600")]
    stem = f"{CLUSTER}-worker-{node.split('-')[1]}"
    return [("ca.pem", "/var/lib/kubernetes/ca.pem", "644"),
            (f"{stem}.pem", f"/var/lib/kubelet/{stem}.pem", "644"),
            (f"{stem}-key.pem", f"/var/lib/kubelet/{stem}-key.pem", "600"),
            (f"{stem}.kubeconfig", "/var/lib/kubelet/kubeconfig", "600"),
            ("kube-proxy.kubeconfig", "/var/lib/kube-proxy/kubeconfig", "600")]


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="groundup-bench-distribute-")
        self.proj = os.path.join(self.work, "project")
        os.makedirs(self.proj)
        self.state = os.path.join(self.proj, ".groundup", CLUSTER)
        self.key = os.path.join(self.state, "ssh", f"{CLUSTER}.id_rsa")
        self.moto = None

    def testnodes(self, *args, input=None):
        subprocess.run([self.a.testnodes, *args], check=True, input=input, text=True,
                       stdout=subprocess.DEVNULL if args[0] != "exec" else None)

    def exec_node(self, node, cmd):
        return subprocess.run([self.a.testnodes, "exec", node, "sh", "-c", cmd], check=True,
                              capture_output=True, text=True).stdout

    def start_moto(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.moto = subprocess.Popen([self.a.moto, "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.endpoint = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/data.json", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("moto did not start")

    def env(self):
        e = dict(os.environ)
        e.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_EC2_METADATA_DISABLED": "true", "NO_COLOR": "1",
                  "GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT": "1"})
        for k in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
            e.pop(k, None)
        return e

    def groundup(self, *args):
        cmd = [self.a.groundup, "--endpoint", self.endpoint, "--set", "ssh_address=private", *args]
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=self.proj, env=self.env(), capture_output=True, text=True)
        dt = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{p.stderr}")
        return dt, p

    def clean_nodes(self):
        for node, _ in NODES:
            self.exec_node(node, f"rm -rf {DIRS} /home/ubuntu/*.pem /home/ubuntu/*.kubeconfig /home/ubuntu/*.yaml")

    def lesson(self, known_hosts):
        """The lesson's loop: per node, one scp of its files to ~/, then one
        ssh that sudo-moves them into place (mkdir, mv, chown, chmod)."""
        pki = os.path.join(self.state, "pki")
        opts = ["-i", self.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-F", "/dev/null",
                "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=accept-new"]
        t = time.perf_counter()
        for node, ip in NODES:
            files = files_for(node)
            local = sorted({f[0] for f in files})
            subprocess.run(["scp", "-q", *opts, *[os.path.join(pki, f) for f in local], f"ubuntu@{ip}:~/"],
                           check=True)
            dirs = " ".join(sorted({os.path.dirname(f[1]) for f in files}))
            steps = [f"sudo mkdir -p {dirs}"]
            moved = {}
            for name, dest, mode in files:
                if name in moved:
                    steps.append(f"sudo cp {moved[name]} {dest}")
                else:
                    steps.append(f"sudo mv ~/{name} {dest}")
                    moved[name] = dest
                steps.append(f"sudo chown root:root {dest} && sudo chmod {mode} {dest}")
            subprocess.run(["ssh", *opts, f"ubuntu@{ip}", " && ".join(steps)], check=True)
        return time.perf_counter() - t

    def check(self):
        """Every file in place, identical to the local PKI, with its mode."""
        for node, _ in NODES:
            for name, dest, mode in files_for(node):
                out = self.exec_node(node, f"sha256sum < {dest} | cut -d' ' -f1; stat -c %a:%U {dest}").split()
                with open(os.path.join(self.state, "pki", name), "rb") as f:
                    want = hashlib.sha256(f.read()).hexdigest()
                if out != [want, f"{mode}:root"]:
                    raise SystemExit(f"{node}:{dest}: {out}, expected {want} {mode}:root")

    def run(self):
        log("booting the six test nodes (scripts/testnodes up)")
        self.testnodes("up", *[f"{n}={ip}" for n, ip in NODES])
        try:
            self.start_moto()
            log("network, compute, pki on moto")
            self.groundup("--set", "steps=network,compute,pki", "up")
            pub = subprocess.run(["ssh-keygen", "-y", "-f", self.key], check=True, capture_output=True,
                                 text=True).stdout
            self.testnodes("authorize", "-", input=pub)
            res = {"groundup_first": [], "groundup_rerun": [], "lesson_first": [], "lesson_rerun": [],
                   "rerun_unchanged": []}
            kh = os.path.join(self.state, "ssh", "known_hosts")
            for i in range(self.a.reps):
                log(f"rep {i + 1}/{self.a.reps}: groundup")
                self.clean_nodes()
                if os.path.exists(kh):
                    os.remove(kh)  # a true first contact: host keys recorded too
                dt, _ = self.groundup("run", "distribute")
                res["groundup_first"].append(dt)
                self.check()
                dt, p = self.groundup("--json", "run", "distribute")
                res["groundup_rerun"].append(dt)
                ev = [e for e in json.loads(p.stdout)["events"] if e["kind"] == "file"]
                res["rerun_unchanged"].append(all(e["status"] == "unchanged" for e in ev) and len(ev) == 51)
                log(f"rep {i + 1}/{self.a.reps}: the lesson's scp + ssh sudo mv loop")
                self.clean_nodes()
                lkh = os.path.join(self.work, f"lesson_known_hosts_{i}")
                res["lesson_first"].append(self.lesson(lkh))
                self.check()
                res["lesson_rerun"].append(self.lesson(lkh))
            return res
        finally:
            if self.moto:
                self.moto.kill()
            self.testnodes("down")
            shutil.rmtree(self.work, ignore_errors=True)


def table(res, reps):
    med = lambda k: statistics.median(res[k])
    rng = lambda k: f"{min(res[k]) * 1000:.0f}-{max(res[k]) * 1000:.0f} ms"
    rows = [
        "| Distribute to 6 test nodes (51 files) | groundup `run distribute` | lesson: scp + ssh sudo mv per node | speed-up |",
        "|---|---|---|---|",
        f"| first run (nothing on the nodes; groundup also records 6 host keys) | {med('groundup_first') * 1000:.0f} ms ({rng('groundup_first')}) "
        f"| {med('lesson_first') * 1000:.0f} ms ({rng('lesson_first')}) | {med('lesson_first') / med('groundup_first'):.1f}x |",
        f"| re-run (nothing changed) | {med('groundup_rerun') * 1000:.0f} ms ({rng('groundup_rerun')}) "
        f"| {med('lesson_rerun') * 1000:.0f} ms ({rng('lesson_rerun')}) | {med('lesson_rerun') / med('groundup_rerun'):.1f}x |",
    ]
    ok = "yes" if med("groundup_first") <= 1.0 else "NO"
    rows.append("")
    rows.append(f"Median of {reps} runs each, whole processes (groundup start-up included). Goal: first run <= 1 s "
                f"for 6 nodes: {ok}. Every groundup re-run reported all 51 files unchanged (nothing rewritten): "
                f"{'yes' if all(res['rerun_unchanged']) else 'NO'}; the lesson's loop copies and moves every file again.")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--groundup", required=True)
    p.add_argument("--moto", required=True)
    p.add_argument("--testnodes", required=True, help="scripts/testnodes")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default="", help="also write the table to this file")
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the test nodes need root (systemd-nspawn, network namespaces)")
    res = Bench(a).run()
    t = "## Distributing the PKI to the nodes (lesson step 4)\n\n" + table(res, a.reps) + "\n"
    print(t)
    if a.out:
        with open(a.out, "w") as f:
            f.write(t)


if __name__ == "__main__":
    main()
