#!/usr/bin/env python3
"""groundup against the lesson's own tools, side by side, on one moto server.

Run through `scripts/bench` (it installs what is missing, builds groundup in
the dev profile and calls this with the paths). Measures:

  * the lesson's network + compute steps as an aws-cli script
    (bench/lesson-network-compute.sh) against `groundup run network compute`,
    each from a freshly reset emulator: wall time (median and range) and the
    API requests each made, counted in moto's request log;
  * the lesson's cfssl PKI (bench/lesson-pki.sh, 10 certificates, RSA 2048)
    against groundup's PKI for the same 10 certificates, RSA 2048 and ECDSA
    P-256 (`groundup run pki` when runbooks/pki.rhai exists, else the PKI
    library through examples/pki_bench.rs, and the runbook is reported n/a);
  * groundup with 25, 50 and 100 workers: wall time and API requests;
  * groundup's cold start (`--version`, `check`) and the peak RSS of `up`;
  * moto's own service time for groundup's request sequence (a bare HTTP
    client replaying it serially), to show what the emulator costs.

Writes a Markdown report (BENCHMARKS.md). Timings are reported, never
asserted.
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

# ---------------------------------------------------------------- targets --

TARGETS = {
    "nc_time": 0.5,  # s, network + compute
    "nc_calls": 30,  # API requests, network + compute
    "nc_ratio": 100,  # x faster than aws-cli
    # PKI, 10 certificates RSA-2048: the target is the floor itself, the
    # process's CPU time divided by the cores, measured in the same run (ten
    # RSA-2048 keys cost about 1 s of CPU at aws-lc's rate, so no ratio to
    # cfssl can promise more on 2 cores); the table shows the distance to it.
    "pki_ec": 0.020,  # s, 10 certificates ECDSA P-256
    "w100": 3.0,  # s, 100 workers
    "check": 0.030,  # s, cold start + compile every runbook
    "rss_mb": 60,  # MB, peak RSS of `up`
    "install": 8 * 60,  # s, cold `cargo install --locked --path .` (scripts/measure-install)
}

REGION = "us-east-2"
REQ_LINE = re.compile(r'"([A-Z]+) (\S+) HTTP/1\.[01]" (\d{3})')


LOADS = []  # 1-minute load average, sampled at every progress line


def log(msg):
    LOADS.append(os.getloadavg()[0])
    print(f"==> {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ------------------------------------------------------------------- moto --


class Moto:
    """One moto server on 127.0.0.1; requests are counted in its log."""

    def __init__(self, moto_bin, workdir):
        self.log_path = os.path.join(workdir, "moto.log")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [moto_bin, "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"moto_server exited: {open(self.log_path).read()}")
            if self._http("GET", "/moto-api/data.json") is not None:
                return
            time.sleep(0.1)
        raise SystemExit("moto_server did not start within 60 s")

    def _http(self, method, path, body=None, headers=None):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            c.close()
            return data if 200 <= r.status < 300 else None
        except OSError:
            return None

    def reset(self):
        """POST /moto-api/reset, then one read call per service so that moto
        builds its per-region backends (about 0.25 s of its own start-up work,
        AMI catalogue included) before the timed run, for every tool alike."""
        if self._http("POST", "/moto-api/reset") is None:
            raise SystemExit("moto reset failed")
        t = time.perf_counter()
        api_call(self.port, "ec2", {"Action": "DescribeVpcs"})
        api_call(self.port, "elasticloadbalancing", {"Action": "DescribeLoadBalancers"})
        return time.perf_counter() - t

    def requests(self):
        """(total, non-2xx) AWS API requests logged so far, read once the log
        is still (moto logs a request after answering it)."""
        last = None
        while True:
            with open(self.log_path, errors="replace") as f:
                text = f.read()
            total = errors = 0
            for m in REQ_LINE.finditer(text):
                if m.group(2).startswith("/moto-api"):
                    continue
                total += 1
                if not m.group(3).startswith("2"):
                    errors += 1
            if (total, errors) == last:
                return total, errors
            last = (total, errors)
            time.sleep(0.15)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()


AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


def api_call(port, service, params):
    """One AWS query-protocol request, unsigned (moto does not check
    signatures); returns (status, body)."""
    params = dict(params)
    params.setdefault(
        "Version", "2016-11-15" if service == "ec2" else "2015-12-01"
    )
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(
        "POST",
        "/",
        body=urllib.parse.urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": AUTH.format(region=REGION, service=service),
        },
    )
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


# ------------------------------------------------------------------ runs --


def run_timed(cmd, cwd, env, out_prefix):
    """Runs cmd; returns (seconds, exit code, peak RSS in KiB). The child's
    CPU time (user + system, s) is left in run_timed.cpu."""
    with open(out_prefix + ".out", "wb") as o, open(out_prefix + ".err", "wb") as e:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
    run_timed.cpu = ru.ru_utime + ru.ru_stime
    return dt, p.returncode, ru.ru_maxrss


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class Bench:
    def __init__(self, a):
        self.a = a
        self.repo = a.repo
        self.work = tempfile.mkdtemp(prefix="groundup-bench-")
        self.moto = Moto(a.moto, self.work)
        self.n = 0
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AWS_") and k not in ("GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT",)
        }
        base.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": "/nonexistent/groundup-bench-aws-config",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/groundup-bench-aws-credentials",
                "NO_COLOR": "1",
            }
        )
        # groundup: loopback endpoints only (as in the tests).
        self.env_g = dict(base, GROUNDUP_REQUIRE_LOOPBACK_ENDPOINT="1")
        # aws-cli: the region the lesson configures with `aws configure`.
        self.env_cli = dict(
            base,
            AWS_DEFAULT_REGION=REGION,
            ENDPOINT=self.moto.endpoint,
            AWS=a.aws,
            PATH=os.path.dirname(a.aws) + os.pathsep + os.environ.get("PATH", ""),
        )
        self.warmups = []

    def fresh_dir(self, label):
        self.n += 1
        d = os.path.join(self.work, f"{self.n:03d}-{label}")
        os.makedirs(d)
        return d

    def groundup(self, args, label, reset=True, cwd=None):
        """Runs groundup against moto from a fresh project dir; returns a
        sample dict."""
        cwd = cwd or self.fresh_dir(label)
        if reset:
            self.warmups.append(self.moto.reset())
        before, _ = self.moto.requests()
        cmd = [self.a.groundup, "--endpoint", self.moto.endpoint, *args]
        dt, rc, rss = run_timed(cmd, cwd, self.env_g, os.path.join(cwd, "groundup"))
        after, errs = self.moto.requests()
        if rc != 0:
            raise SystemExit(
                f"groundup {' '.join(args)} failed ({rc}):\n{tail(os.path.join(cwd, 'groundup.err'))}"
            )
        return {"s": dt, "cpu": run_timed.cpu, "calls": after - before, "rss_kb": rss, "dir": cwd}

    def lesson_network_compute(self):
        d = self.fresh_dir("awscli")
        self.warmups.append(self.moto.reset())
        before, _ = self.moto.requests()
        script = os.path.join(self.repo, "bench", "lesson-network-compute.sh")
        dt, rc, _ = run_timed(["bash", script], d, self.env_cli, os.path.join(d, "lesson"))
        after, errs = self.moto.requests()
        if rc != 0:
            raise SystemExit(f"lesson-network-compute.sh failed ({rc}):\n{tail(os.path.join(d, 'lesson.err'))}")
        return {"s": dt, "calls": after - before, "errors": errs}

    # ------------------------------------------------------------ sections --

    def network_compute(self):
        log(f"network + compute: aws-cli x{self.a.reps_cli}, groundup x{self.a.reps} (interleaved)")
        cli, gu = [], []
        for i in range(max(self.a.reps, self.a.reps_cli)):
            if i < self.a.reps_cli:
                s = self.lesson_network_compute()
                cli.append(s)
                log(f"  aws-cli  #{i + 1}: {s['s']:.2f} s, {s['calls']} requests")
            if i < self.a.reps:
                s = self.groundup(["run", "network", "compute"], "nc")
                nodes = json.load(open(os.path.join(s["dir"], ".groundup", "k8s-cluster", "state.json"))).get("nodes", {})
                if len(nodes) != 6:
                    raise SystemExit(f"groundup recorded {len(nodes)} nodes, expected 6")
                gu.append(s)
                log(f"  groundup #{i + 1}: {s['s'] * 1e3:.0f} ms, {s['calls']} requests")
        return {"cli": cli, "groundup": gu}

    def pki(self):
        r = {"cfssl": [], "runbook": None, "library": {}}
        if shutil.which("cfssl") and shutil.which("cfssljson"):
            log(f"PKI: cfssl x{self.a.reps_pki}")
            script = os.path.join(self.repo, "bench", "lesson-pki.sh")
            for i in range(self.a.reps_pki):
                d = self.fresh_dir("cfssl")
                dt, rc, _ = run_timed(["bash", script, os.path.join(d, "pki")], d, self.env_g, os.path.join(d, "cfssl"))
                if rc != 0:
                    raise SystemExit(f"lesson-pki.sh failed:\n{tail(os.path.join(d, 'cfssl.err'))}")
                keys = [f for f in os.listdir(os.path.join(d, "pki")) if f.endswith("-key.pem")]
                if len(keys) != 10:
                    raise SystemExit(f"cfssl made {len(keys)} keys, expected 10")
                r["cfssl"].append({"s": dt, "cpu": run_timed.cpu})
                log(f"  cfssl #{i + 1}: {dt:.2f} s")
        else:
            log("PKI: cfssl not installed: cfssl column n/a")
        algs = ["rsa-2048", "ecdsa-p256"]
        if os.path.exists(os.path.join(self.repo, "runbooks", "pki.rhai")):
            log("PKI: groundup run pki (after network + compute)")
            base = self.groundup(["run", "network", "compute"], "pki-base")
            snap = base["dir"]
            r["runbook"] = {}
            for alg in algs:
                xs = []
                for i in range(self.a.reps_pki):
                    d = self.fresh_dir("pki-" + alg)
                    shutil.copytree(os.path.join(snap, ".groundup"), os.path.join(d, ".groundup"))
                    s = self.groundup(["--set", f"key_algorithm={alg}", "run", "pki"], alg, reset=False, cwd=d)
                    xs.append(s)
                    log(f"  groundup run pki {alg} #{i + 1}: {s['s'] * 1e3:.0f} ms, {s['calls']} requests")
                r["runbook"][alg] = xs
        else:
            log("PKI: runbooks/pki.rhai is absent: `groundup run pki` is n/a")
        if self.a.pki_bench and os.path.exists(self.a.pki_bench):
            for alg in algs:
                xs = []
                for i in range(self.a.reps_pki):
                    d = self.fresh_dir("lib-" + alg)
                    dt, rc, _ = run_timed([self.a.pki_bench, os.path.join(d, "pki"), alg], d, self.env_g, os.path.join(d, "lib"))
                    if rc != 0:
                        raise SystemExit(f"pki_bench failed:\n{tail(os.path.join(d, 'lib.err'))}")
                    keys = [f for f in os.listdir(os.path.join(d, "pki")) if f.endswith("-key.pem")]
                    if len(keys) != 10:
                        raise SystemExit(f"pki_bench made {len(keys)} keys, expected 10")
                    xs.append({"s": dt, "cpu": run_timed.cpu})
                    log(f"  groundup PKI library {alg} #{i + 1}: {dt * 1e3:.0f} ms")
                r["library"][alg] = xs
        return r

    def scale(self):
        r = {}
        for w in self.a.workers:
            xs = []
            for i in range(self.a.reps_scale):
                s = self.groundup(["--set", f"workers={w}", "run", "network", "compute"], f"w{w}")
                xs.append(s)
                log(f"  groundup workers={w} #{i + 1}: {s['s']:.2f} s, {s['calls']} requests")
            r[w] = xs
        return r

    def cold_start(self):
        d = self.fresh_dir("cold")
        r = {}
        for label, args in (("version", ["--version"]), ("check", ["check"])):
            xs = []
            for _ in range(self.a.reps_cold):
                dt, rc, _ = run_timed([self.a.groundup, *args], d, self.env_g, os.path.join(d, label))
                if rc != 0:
                    raise SystemExit(f"groundup {label} failed:\n{tail(os.path.join(d, label + '.err'))}")
                xs.append(dt)
            r[label] = xs
            log(f"  groundup {' '.join(args)}: median {median(xs) * 1e3:.1f} ms")
        return r

    def peak_rss(self):
        have_pki = os.path.exists(os.path.join(self.repo, "runbooks", "pki.rhai"))
        args = ["up"] if have_pki else ["--set", "steps=network,compute", "up"]
        xs = []
        for i in range(3):
            s = self.groundup(args, "up")
            xs.append(s)
            log(f"  groundup {' '.join(args)}: peak RSS {s['rss_kb'] / 1024:.1f} MiB, {s['s'] * 1e3:.0f} ms")
        return {"args": args, "samples": xs, "with_pki": have_pki}

    def floor(self, nodes):
        """moto's service time for groundup's request sequence (network +
        compute with `nodes` nodes), replayed serially by a bare client."""
        self.warmups.append(self.moto.reset())
        port = self.moto.port
        times = {}

        def call(service, params):
            t = time.perf_counter()
            status, body = api_call(port, service, params)
            op = params["Action"]
            times.setdefault(op, []).append(time.perf_counter() - t)
            if status != 200:
                raise SystemExit(f"floor replay: {op} -> {status}: {body[:300]}")
            return body

        def grab(tag, body):
            return re.search(f"<{tag}>([^<]+)</{tag}>", body).group(1)

        tags = lambda rt, i=1: {  # noqa: E731
            f"TagSpecification.{i}.ResourceType": rt,
            f"TagSpecification.{i}.Tag.1.Key": "Name",
            f"TagSpecification.{i}.Tag.1.Value": "k8s-cluster",
            f"TagSpecification.{i}.Tag.2.Key": "groundup:cluster",
            f"TagSpecification.{i}.Tag.2.Value": "k8s-cluster",
        }
        flt = {"Filter.1.Name": "tag:groundup:cluster", "Filter.1.Value.1": "k8s-cluster"}
        pub = floor_public_key()
        before, _ = self.moto.requests()
        t0 = time.perf_counter()
        call("ec2", {"Action": "DescribeVpcs", **flt})
        vpc = grab("vpcId", call("ec2", {"Action": "CreateVpc", "CidrBlock": "172.31.0.0/16", **tags("vpc")}))
        call("ec2", {"Action": "ModifyVpcAttribute", "VpcId": vpc, "EnableDnsHostnames.Value": "true"})
        dopt = grab("dhcpOptionsId", call("ec2", {
            "Action": "CreateDhcpOptions",
            "DhcpConfiguration.1.Key": "domain-name", "DhcpConfiguration.1.Value.1": "us-east-2.compute.internal",
            "DhcpConfiguration.2.Key": "domain-name-servers", "DhcpConfiguration.2.Value.1": "AmazonProvidedDNS",
            **tags("dhcp-options")}))
        call("ec2", {"Action": "CreateTags", "ResourceId.1": dopt, "Tag.1.Key": "Name", "Tag.1.Value": "k8s-cluster",
                     "Tag.2.Key": "groundup:cluster", "Tag.2.Value": "k8s-cluster"})
        call("ec2", {"Action": "AssociateDhcpOptions", "DhcpOptionsId": dopt, "VpcId": vpc})
        sn = grab("subnetId", call("ec2", {"Action": "CreateSubnet", "VpcId": vpc, "CidrBlock": "172.31.0.0/24", **tags("subnet")}))
        igw = grab("internetGatewayId", call("ec2", {"Action": "CreateInternetGateway", **tags("internet-gateway")}))
        call("ec2", {"Action": "AttachInternetGateway", "InternetGatewayId": igw, "VpcId": vpc})
        rtb = grab("routeTableId", call("ec2", {"Action": "CreateRouteTable", "VpcId": vpc, **tags("route-table")}))
        call("ec2", {"Action": "AssociateRouteTable", "RouteTableId": rtb, "SubnetId": sn})
        call("ec2", {"Action": "CreateRoute", "RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw})
        sg = grab("groupId", call("ec2", {"Action": "CreateSecurityGroup", "GroupName": "k8s-cluster",
                                          "GroupDescription": "Kubernetes cluster security group", "VpcId": vpc,
                                          **tags("security-group")}))
        p = {"Action": "AuthorizeSecurityGroupIngress", "GroupId": sg}
        rules = [("tcp", 2379, 2380, "172.31.0.0/24"), ("tcp", 30000, 32767, "172.31.0.0/24"),
                 ("tcp", 6443, 6443, "0.0.0.0/0"), ("tcp", 22, 22, "0.0.0.0/0"), ("icmp", -1, -1, "0.0.0.0/0")]
        for i, (proto, a, b, cidr) in enumerate(rules, 1):
            p.update({f"IpPermissions.{i}.IpProtocol": proto, f"IpPermissions.{i}.FromPort": a,
                      f"IpPermissions.{i}.ToPort": b, f"IpPermissions.{i}.IpRanges.1.CidrIp": cidr})
        call("ec2", p)
        elb_tags = {"Tags.member.1.Key": "Name", "Tags.member.1.Value": "k8s-cluster",
                    "Tags.member.2.Key": "groundup:cluster", "Tags.member.2.Value": "k8s-cluster"}
        lb = grab("LoadBalancerArn", call("elasticloadbalancing", {
            "Action": "CreateLoadBalancer", "Name": "k8s-cluster", "Subnets.member.1": sn,
            "Scheme": "internet-facing", "Type": "network", **elb_tags}))
        tg = grab("TargetGroupArn", call("elasticloadbalancing", {
            "Action": "CreateTargetGroup", "Name": "k8s-cluster", "Protocol": "TCP", "Port": "6443",
            "VpcId": vpc, "TargetType": "ip", **elb_tags}))
        p = {"Action": "RegisterTargets", "TargetGroupArn": tg}
        for i in range(3):
            p[f"Targets.member.{i + 1}.Id"] = f"172.31.0.1{i}"
            p[f"Targets.member.{i + 1}.Port"] = "6443"
        call("elasticloadbalancing", p)
        call("elasticloadbalancing", {"Action": "CreateListener", "LoadBalancerArn": lb, "Protocol": "TCP",
                                      "Port": "6443", "DefaultActions.member.1.Type": "forward",
                                      "DefaultActions.member.1.TargetGroupArn": tg, **elb_tags})
        t_net = time.perf_counter() - t0
        call("ec2", {"Action": "DescribeImages", "Owner.1": "099720109477",
                     "Filter.1.Name": "name",
                     "Filter.1.Value.1": "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*",
                     "Filter.1.Value.2": "ubuntu/images/hvm-ssd*/ubuntu-focal-20.04-amd64-server-*",
                     "Filter.1.Value.3": "ubuntu/images/hvm-ssd*/ubuntu-xenial-16.04-amd64-server-*",
                     "Filter.2.Name": "architecture", "Filter.2.Value.1": "x86_64",
                     "Filter.3.Name": "root-device-type", "Filter.3.Value.1": "ebs"})
        call("ec2", {"Action": "ImportKeyPair", "KeyName": "k8s-cluster",
                     "PublicKeyMaterial": base64.b64encode(pub.encode()).decode()})
        ids = []
        for i in range(nodes):
            host = 10 + i if i < 3 else 20 + (i - 3)
            body = call("ec2", {
                "Action": "RunInstances", "ImageId": "ami-785db401", "InstanceType": "t2.micro",
                "MinCount": "1", "MaxCount": "1", "KeyName": "k8s-cluster",
                "UserData": base64.b64encode(f"name=node-{i}".encode()).decode(),
                "NetworkInterface.1.DeviceIndex": "0", "NetworkInterface.1.SubnetId": sn,
                "NetworkInterface.1.SecurityGroupId.1": sg,
                "NetworkInterface.1.AssociatePublicIpAddress": "true",
                "NetworkInterface.1.PrivateIpAddress": f"172.31.0.{host}",
                "TagSpecification.1.ResourceType": "instance",
                "TagSpecification.1.Tag.1.Key": "Name", "TagSpecification.1.Tag.1.Value": f"k8s-cluster-node-{i}",
                "TagSpecification.1.Tag.2.Key": "groundup:cluster", "TagSpecification.1.Tag.2.Value": "k8s-cluster"})
            iid = grab("instanceId", body)
            ids.append(iid)
            if i >= 3:  # workers only: they forward pod traffic
                call("ec2", {"Action": "ModifyInstanceAttribute", "InstanceId": iid, "SourceDestCheck.Value": "false"})
        token = None
        while True:
            p = {"Action": "DescribeInstances"}
            for i, x in enumerate(ids, 1):
                p[f"InstanceId.{i}"] = x
            if token:
                p["NextToken"] = token
            body = call("ec2", p)
            m = re.search(r"<nextToken>([^<]+)</nextToken>", body)
            if not m:
                break
            token = m.group(1)
        total = time.perf_counter() - t0
        after, _ = self.moto.requests()
        return {"nodes": nodes, "s": total, "network_s": t_net, "calls": after - before,
                "ops": {k: (len(v), sum(v)) for k, v in times.items()}}


def floor_public_key():
    """A fresh OpenSSH RSA public key for ImportKeyPair in the floor replay
    (moto parses it; `cryptography` comes with moto)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return k.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


# ---------------------------------------------------------------- report --


def fmt_s(x):
    if x != x:  # nan
        return "n/a"
    if x >= 10:
        return f"{x:.1f} s"
    if x >= 1:
        return f"{x:.2f} s"
    return f"{x * 1e3:.0f} ms" if x >= 0.01 else f"{x * 1e3:.1f} ms"


def fmt_min(x):
    """Minutes and seconds: `7 min 12 s`."""
    return f"{int(x // 60)} min {x % 60:.0f} s" if x >= 60 else fmt_s(x)


def cell(xs, key="s"):
    """'median (min-max), n' of samples."""
    if not xs:
        return "n/a"
    v = [x[key] if isinstance(x, dict) else x for x in xs]
    if len(v) == 1:
        return fmt_s(v[0])
    return f"{fmt_s(median(v))} ({fmt_s(min(v))} – {fmt_s(max(v))}, n={len(v)})"


def calls_cell(xs):
    v = sorted({x["calls"] for x in xs})
    return "/".join(str(c) for c in v) if v else "n/a"


def ratio(a, b):
    return f"{a / b:.0f}×" if a / b >= 10 else f"{a / b:.1f}×"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor(),
        "nproc": cmd_out(["nproc"]),
        "mem": cmd_out(["free", "-h"]).splitlines()[1].split()[1] if cmd_out(["free", "-h"]) else "",
        "kernel": platform.release(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def pki_floor(samples):
    """The PKI floor of this run: the median CPU time (user + system) of the
    runs divided by the cores; NaN without samples."""
    cpu = median([x.get("cpu", float("nan")) for x in samples]) if samples else float("nan")
    return cpu / (os.cpu_count() or 1)


def floor_distance(t, floor_t):
    """How far a time is from its floor, e.g. `+28 ms (1.07× the floor)`."""
    if not (t == t and floor_t == floor_t) or floor_t <= 0:
        return "n/a"
    d = t - floor_t
    sign = "+" if d >= 0 else "−"
    return f"{sign}{fmt_s(abs(d))} from the floor ({t / floor_t:.2f}× it)"


def report(a, m_before, res, elapsed):
    nc = res["nc"]
    cli_t = median([x["s"] for x in nc["cli"]])
    gu_t = median([x["s"] for x in nc["groundup"]])
    cli_c = median([x["calls"] for x in nc["cli"]])
    gu_c = median([x["calls"] for x in nc["groundup"]])
    pki = res["pki"]
    cf_t = median([x["s"] for x in pki["cfssl"]])
    src = "runbook" if pki["runbook"] else "library"
    g_rsa = pki[src].get("rsa-2048", []) if pki[src] else []
    g_ec = pki[src].get("ecdsa-p256", []) if pki[src] else []
    rsa_t = median([x["s"] for x in g_rsa])
    ec_t = median([x["s"] for x in g_ec])
    sc = res["scale"]
    cold = res["cold"]
    rss = res["rss"]
    rss_mb = max(x["rss_kb"] for x in rss["samples"]) / 1024
    m_after = machine()
    L = []
    w = L.append
    w("# Benchmarks: groundup against the lesson's own tools")
    w("")
    w(f"Measured by `scripts/bench` on {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')} "
      f"(whole run {elapsed / 60:.1f} min). Timings are reported here and never asserted in tests.")
    w("")
    w("## Machine and tools")
    w("")
    w(f"- CPU: {m_before['cpu']}, `nproc` = {m_before['nproc']}; memory {m_before['mem']}; Linux {m_before['kernel']}")
    w(f"- Load average (1, 5, 15 min) before the run: {m_before['load']}; after: {m_after['load']}; "
      f"1-minute load during the run: {min(LOADS):.2f} – {max(LOADS):.2f}. "
      "The machine's 2 cores are shared with other builds, so absolute times are noisy: "
      "medians and ranges are given, and aws-cli and groundup runs are interleaved.")
    if a.install_s:
        w(f"- groundup: `{res['versions']['groundup']}`, **release binary from `cargo install --locked --path .`** "
          "(scripts/measure-install; the release profile in Cargo.toml: opt-level 3 for the crates a run spends CPU "
          "in, 1 for Rhai and groundup itself, 0 for every other crate; see \"Install time and the release profile\")"
          + (f", with `{a.install_args}`" if a.install_args else "") + ".")
    else:
        w(f"- groundup: `{res['versions']['groundup']}`, **debug binary from `cargo build`** (the one profile this "
          "project builds: dev, with aws-lc, the PKI and SSH crypto crates and the AWS SDK's request path compiled at opt-level 3, Rhai at 1, and no debug assertions in dependencies — see Cargo.toml).")
    w(f"- aws-cli: `{res['versions']['aws']}` (PyPI awscli in .venv); "
      f"cfssl: `{res['versions']['cfssl']}` (Debian golang-cfssl); moto server {res['versions']['moto']}.")
    w("")
    w("## Results")
    w("")
    w("| Benchmark | Lesson's tool | groundup | Ratio (lesson / groundup) | Target | |")
    w("|---|---|---|---|---|---|")
    w(f"| Network + compute, wall time | aws-cli script: {cell(nc['cli'])} | `run network compute`: {cell(nc['groundup'])} "
      f"| {ratio(cli_t, gu_t)} | ≤ {fmt_s(TARGETS['nc_time'])}, ≥ {TARGETS['nc_ratio']}× | "
      f"≤ {fmt_s(TARGETS['nc_time'])}: {verdict(gu_t <= TARGETS['nc_time'])}; "
      f"≥ {TARGETS['nc_ratio']}×: {verdict(cli_t / gu_t >= TARGETS['nc_ratio'])} |")
    w(f"| Network + compute, API requests | {calls_cell(nc['cli'])} | {calls_cell(nc['groundup'])} | {ratio(cli_c, gu_c)} "
      f"| ≤ {TARGETS['nc_calls']} | {verdict(gu_c <= TARGETS['nc_calls'])} |")
    if pki["cfssl"] or g_rsa:
        label = "`run pki`" if src == "runbook" else "PKI library†"
        floor_t = pki_floor(g_rsa)
        w(f"| PKI, 10 certificates, RSA-2048 | cfssl: {cell(pki['cfssl'])} | {label}: {cell(g_rsa)} "
          f"| {ratio(cf_t, rsa_t) if g_rsa and pki['cfssl'] else 'n/a'} "
          f"| the floor: CPU time ÷ {os.cpu_count() or 1} cores = {fmt_s(floor_t)} (this run) "
          f"| {floor_distance(rsa_t, floor_t)} |")
        w(f"| PKI, 10 certificates, ECDSA P-256 | (cfssl RSA-2048 above) | {label}: {cell(g_ec)} "
          f"| {ratio(cf_t, ec_t) if g_ec and pki['cfssl'] else 'n/a'} | ≤ {fmt_s(TARGETS['pki_ec'])} "
          f"| {verdict(ec_t <= TARGETS['pki_ec'])} |")
    if not pki["runbook"]:
        w("| PKI, `groundup run pki` | | n/a: `runbooks/pki.rhai` is not on this branch | | | |")
    for wk, xs in sc.items():
        t = median([x["s"] for x in xs])
        tgt = f"≤ {fmt_s(TARGETS['w100'])}" if wk == 100 else ""
        ok = verdict(t <= TARGETS["w100"]) if wk == 100 else ""
        w(f"| {wk} workers (+3 masters), network + compute | | {cell(xs)}, {calls_cell(xs)} requests | | {tgt} | {ok} |")
    chk = median(cold["check"])
    w(f"| Cold start: `groundup --version` | | {cell(cold['version'])} | | | |")
    if a.install_s:
        w(f"| Install: `cargo install --locked --path .`, cold target dir | | {fmt_min(a.install_s)} "
          f"({fmt_min(a.install_cpu_s)} of CPU) | | ≤ {TARGETS['install'] // 60:.0f} min "
          f"| {verdict(a.install_s <= TARGETS['install'])} |")
    w(f"| Cold start + compile every runbook and stdlib module: `groundup check` | | {cell(cold['check'])} | "
      f"| ≤ {fmt_s(TARGETS['check'])} | {verdict(chk <= TARGETS['check'])} |")
    w(f"| Peak RSS of `groundup {' '.join(rss['args'])}` | | {rss_mb:.1f} MiB (max of {len(rss['samples'])}) | "
      f"| ≤ {TARGETS['rss_mb']} MB | {verdict(rss_mb * 1.048576 <= TARGETS['rss_mb'])} |")
    w("")
    if not pki["runbook"]:
        w("† `runbooks/pki.rhai` does not exist yet (branch `pki` has the PKI library only), so `groundup run pki` "
          "is n/a. The PKI rows time `examples/pki_bench.rs`: a process that makes the same 10 certificates "
          "with the library calls a PKI runbook makes (`pki::ensure_ca`, then `pki::ensure_leaves` on all "
          "cores), timed from process start like cfssl. Once the runbook lands, `scripts/bench` times "
          "`groundup run pki` instead.")
        w("")
    # Scaling.
    w("## API requests as the cluster grows")
    w("")
    pts = [(6, median([x["calls"] for x in nc["groundup"]]))] + [
        (wk + 3, median([x["calls"] for x in xs])) for wk, xs in sc.items()]
    w("| Nodes | Requests | Requests − fixed part | Per node | Wall time |")
    w("|---|---|---|---|---|")
    times = {6: gu_t, **{wk + 3: median([x["s"] for x in xs]) for wk, xs in sc.items()}}
    fixed = None
    if len(pts) >= 2:
        (n0, c0), (n1, c1) = pts[0], pts[-1]
        per = (c1 - c0) / (n1 - n0)
        fixed = c0 - per * n0
    for n, c in pts:
        w(f"| {n} | {c:.0f} | {c - fixed:.0f} | {(c - fixed) / n:.2f} | {fmt_s(times[n])} |" if fixed is not None
          else f"| {n} | {c:.0f} | | | {fmt_s(times[n])} |")
    if fixed is not None:
        w("")
        w(f"A straight line through the end points gives {fixed:.0f} fixed requests + {per:.2f} per node; "
          "every measured point lies on it (see the per-node column): growth is linear in nodes.")
    w("")
    # Floor.
    fl = res.get("floor") or []
    if fl:
        w("## What the emulator itself costs")
        w("")
        w("moto serves requests on threads but under Python's GIL, effectively one at a time, so its own "
          "service time bounds any client. This replays groundup's request sequence (network + compute) with a bare HTTP client, "
          "serially, from a reset emulator, and sums the round trips:")
        w("")
        w("| Nodes | Requests | moto's time, serial | of which RunInstances + ModifyInstanceAttribute | groundup (median) |")
        w("|---|---|---|---|---|")
        for f in fl:
            ri = f["ops"].get("RunInstances", (0, 0))[1] + f["ops"].get("ModifyInstanceAttribute", (0, 0))[1]
            w(f"| {f['nodes']} | {f['calls']} | {fmt_s(f['s'])} | {fmt_s(ri)} | {fmt_s(times.get(f['nodes'], float('nan')))} |")
        w("")
        w(f"A reset emulator spends {fmt_s(median(res['warmups']))} (median) building its per-region "
          "backends (the AMI catalogue among them) on the first EC2 call. `scripts/bench` makes that call "
          "(one DescribeVpcs, one DescribeLoadBalancers) right after every reset and before the clock "
          "starts, for both tools alike, and does not count it.")
        w("")
    # Analysis of each target, with the numbers of this run.
    w("## Where the time and the requests go")
    w("")
    fl6 = next((f for f in fl if f["nodes"] == 6), None)
    fl103 = next((f for f in fl if f["nodes"] == 103), None)
    w(f"- **Network + compute, {fmt_s(gu_t)}.** "
      + (f"moto itself needs {fmt_s(fl6['s'])} to answer the same {fl6['calls']} requests one after the other, so "
         f"groundup's own share (start-up, request signing and parsing in a {'release' if a.install_s else 'debug'} build, a state write "
         f"after every resource, the waiter) is about {fmt_s(max(gu_t - fl6['s'], 0))}. " if fl6 else "")
      + "The network steps depend on each other and run in order; the six nodes are launched together "
      "(bounded pool of `launch_concurrency` = 8), but moto serves them effectively one at a time. "
      "The state file is replaced atomically (temporary file + rename) after every resource, so a killed "
      "run loses nothing, and writes are flushed to disk with one `syncfs` at exit and at the end of any "
      "step a second or more after the oldest unflushed write (src/durable.rs); a flush also waits for "
      "whatever other processes left unwritten on the same file system, which is most of the spread. "
      f"The aws-cli script's {fmt_s(cli_t)} for {cli_c:.0f} requests is ≈ {fmt_s(cli_t / cli_c)} a request, "
      "nearly all of it aws-cli's own start-up (one Python process per command), so the ratio moves with "
      "the machine's load as much as with groundup.")
    w(f"- **API requests, {gu_c:.0f}.** The lesson's layout has 6 nodes. Fixed part (network 18, compute 3): "
      "DescribeVpcs (find-or-create: is the cluster's VPC already there?), CreateVpc (tagged at creation), "
      "ModifyVpcAttribute (DNS host names; DNS support is on by default: one call, not the lesson's two), "
      "CreateDhcpOptions, CreateTags (only because moto ignores tags given at creation on DHCP options; "
      "none on AWS), AssociateDhcpOptions, CreateSubnet, CreateInternetGateway, AttachInternetGateway, "
      "CreateRouteTable, AssociateRouteTable, CreateRoute, CreateSecurityGroup, "
      "AuthorizeSecurityGroupIngress (all five rules in one call), CreateLoadBalancer, CreateTargetGroup, "
      "RegisterTargets (three masters in one call), CreateListener; DescribeImages (every name pattern in "
      "one call), ImportKeyPair, one DescribeInstances for all nodes (the waiter; more only while nodes are "
      "pending, and one per 100 nodes). Per node: RunInstances (its own private IP and user data, tags "
      "included); per worker also ModifyInstanceAttribute (source/destination check off, which EC2 cannot "
      "set at launch: workers forward their pods' traffic). The lesson turns the check off on the masters "
      "too, but they route nothing, so groundup leaves AWS's default there. That is 21 + 6 + 3 = 30 on moto "
      "and 29 on AWS; the lesson's script needs 48 (a CreateTags per resource and per node, five ingress "
      "calls, two DNS calls, a source/dest call per master, a describe of the load balancer).")
    cf_cpu = median([x["cpu"] for x in pki["cfssl"]]) if pki["cfssl"] else float("nan")
    rsa_cpu = median([x.get("cpu", float("nan")) for x in g_rsa]) if g_rsa else float("nan")
    ncpu = os.cpu_count() or 1
    if g_rsa:
        w(f"- **PKI, RSA-2048, {fmt_s(rsa_t)}.** Generating the ten RSA keys is nearly all of it: the process "
          f"used {fmt_s(rsa_cpu)} of CPU (about {fmt_s(rsa_cpu / 10)} a key, in aws-lc's optimised assembly), "
          f"spread over {ncpu} cores; the prime search is random, hence the spread. cfssl used "
          f"{fmt_s(cf_cpu)} of CPU for the same keys, one after the other. The CA must exist before a leaf "
          "can be signed, so while its key is made the other cores keep making leaf keys "
          "(src/pki/keys.rs); then every leaf gets its own thread, so the kernel shares the cores among "
          "all the prime searches and they end together. With "
          f"{ncpu} cores the floor is the CPU time over the cores: {fmt_s(rsa_cpu / ncpu)} for this "
          "run's keys, and that floor is the target (issue 15: a fixed time or a ratio to cfssl is "
          "met or missed by the luck of the primes, since RSA key generation is a random search whose "
          f"cost varies from key to key). The median run is {floor_distance(rsa_t, rsa_cpu / ncpu)}; "
          f"the ratio to cfssl is {cf_t / rsa_t:.1f}× (against the issue's cfssl figure, ≈ 2.4 s, "
          f"{2.4 / rsa_t:.1f}×). More cores, or ECDSA keys, is what moves it.")
    if g_ec:
        w(f"- **PKI, ECDSA P-256, {fmt_s(ec_t)}.** Key generation is microseconds; what remains is process "
          f"start-up (the engine, the settings and compiling the runbook: about {fmt_s(chk)}, see cold start) "
          "and creating 28 files (10 certificates and their keys, 7 kubeconfigs, the encryption config), "
          "each as a temporary file renamed into place, flushed with one `syncfs` at exit.")
    if fl103:
        t100 = median([x["s"] for x in sc.get(100, [])]) if 100 in sc else float("nan")
        w(f"- **100 workers, {fmt_s(t100)}.** moto alone needs {fmt_s(fl103['s'])} for the "
          f"{fl103['calls']} requests (its RunInstances gets slower as instances accumulate, and one "
          "DescribeInstances page of 100 instances takes it ~0.3 s); groundup keeps up to 8 launches in flight, so its own work overlaps moto's and it finishes "
          "close to moto's time.")
    w(f"- **Cold start.** `groundup check` builds the Rhai engine, evaluates the settings and compiles "
      f"every shipped runbook and stdlib module: {fmt_s(chk)}. Peak RSS of `up`: {rss_mb:.1f} MiB.")
    w("")
    w("### What was changed to get here")
    w("")
    w("- The masters keep their source/destination check (only workers forward pod traffic): "
      "33 → 30 requests for network + compute, 3 fewer ModifyInstanceAttribute calls.")
    w("- State and PKI files are no longer fsync'd one by one (a file fsync and a directory fsync per "
      "write): the atomic rename protects against a killed process, and one `syncfs` at exit, and at the "
      "end of any step a second or more after the oldest unflushed write, puts them on disk. Measured on "
      "this machine, medians of 9 runs: `run pki` with ECDSA 43 → 29 ms, network + compute 355 → 330 ms "
      "(a flush per step); flushing at most once a second: ECDSA `run pki` 18–20 → 17 ms (medians of 15).")
    w("- Start-up: one Rhai standard package shared by the settings and runbook engines, each runbook "
      "compiled once (it was compiled to check it, then again to run it), the list of host function "
      "names for \"did you mean\" made only when there is an error, the PKI directory's symlink guard "
      "reads file types from the directory listing instead of a stat per file; rcgen, yasna, "
      "x509-parser, asn1-rs, der-parser, nom, pem, base64, time, serde_json and Rhai's collections "
      "are optimised in the dev profile. ECDSA `run pki`: 29 → 22–25 ms (medians of 15, noisy).")
    w("- Dependencies are built without debug assertions and overflow checks in the dev profile (the "
      "standard library's UB checks ran on every pointer copy in the AWS SDK's request path). Measured "
      "on this machine, medians of 11 runs: groundup's own CPU for network + compute 238 → 174–197 ms, "
      "wall 317 → 252 ms; ECDSA `run pki` 20–22 → 17–20 ms.")
    w("- The AWS SDK's request path (the smithy orchestrator, SigV4 signing, hyper, tokio, tracing, the "
      "XML reader) is optimised in the dev profile; the service crates (aws-sdk-ec2 is huge) are not. "
      "groundup's CPU for network + compute 175–190 → 129–153 ms, wall (median of 11) ≈ 300 → 266 ms.")
    w("- RSA: while the CA's key is made, the other cores keep making leaf keys; then one thread per "
      "leaf (not one per core with a queue), so long prime searches share the cores instead of leaving "
      "one idle. `run pki` RSA-2048: 463 → 399 ms (this script's medians of 5, before and after).")
    w("- The region lookup in the AWS config builds no async runtime when there is no config file.")
    w("- Rhai is compiled optimised in the dev profile (`groundup check` had a median of 64 ms on this "
      "machine before, measured under heavier load; see the table for now); at opt-level 1 since issue 15's "
      "install work, which keeps nearly all of opt-level 3's gain (see \"Install time and the release profile\").")
    w("- aws-lc seeds its random generator from the OS (`AWS_LC_SYS_NO_JITTER_ENTROPY=1` in .cargo/config.toml) "
      "instead of CPU-jitter entropy, whose one-time set-up cost ~35–70 ms of CPU in every process that makes "
      "a key (10 ECDSA certificates: 109–129 ms before, measured under heavier load; see the table for now).")
    w("- The SSH key pair's RSA key is generated on a background thread while the network steps wait on AWS.")
    w("- A plain-`http://` endpoint gets an HTTP client without the system's root certificates (parsing them "
      "was ~25 ms of start-up in the dev profile).")
    w("- The waiter records all nodes' addresses in one state write (it wrote the state file once per node).")
    w("- The node waiter (and `down`'s) follows DescribeInstances pages: before, 100 workers never finished "
      "(moto returns 100 instances a page, so three nodes were never seen running).")
    w("- Already in place: tags in the create calls, the five ingress rules in one call, DNS support not "
      "re-set on a new VPC, all image patterns in one DescribeImages, lookups skipped under a resource made "
      "by this run, nodes launched concurrently with a bounded pool, one DescribeInstances for all nodes "
      "(backing off 0.5 s → 5 s). HTTP connections are pooled by the SDK, but moto closes every connection "
      "(`Connection: close`), so each request here opens a new loopback TCP connection (well under 1 ms).")
    w("")
    if a.install_notes:
        # The install's own section: what each release-profile setting costs
        # to build and at run time, measured by scripts/measure-install and
        # bench/profiles.py and kept in bench/install.md.
        with open(a.install_notes) as f:
            w(f.read().rstrip("\n"))
        w("")
    w("## How it was measured")
    w("")
    w(f"- One moto server for the whole run; before every network/compute run: `POST /moto-api/reset` "
      "and the warm-up above. API requests are counted from moto's request log "
      "(one `\"POST / HTTP/1.1\" 200` line per request), read once the log is still.")
    w(f"- Lesson, network + compute: `bench/lesson-network-compute.sh` ({len(nc['cli'])} runs): the seed's "
      "aws-cli commands in order, with `--endpoint-url`; the deviations moto forces are listed in its header "
      "(the AMI name filter names an image moto lacks, so moto's xenial image is used).")
    w(f"- groundup, network + compute: `groundup --endpoint URL run network compute` with the shipped "
      f"runbooks, from an empty project and state dir ({len(nc['groundup'])} runs).")
    w(f"- Lesson, PKI: `bench/lesson-pki.sh` ({len(pki['cfssl'])} runs): cfssl with the lesson's CSRs, "
      "ca-config profile `kubernetes`, expiry 8760h, RSA 2048; the worker IPs are fixed instead of looked up "
      "with aws-cli (see its header).")
    w(f"- Scaling: `--set workers=N` for N in {', '.join(str(x) for x in sc)} ({a.reps_scale} runs each).")
    w(f"- Cold start: {a.reps_cold} runs each of `groundup --version` and `groundup check` in an empty "
      "directory (the built-in runbooks and stdlib).")
    w(f"- Peak RSS: the child's `ru_maxrss` (getrusage via wait4) for `groundup {' '.join(rss['args'])}`"
      + ("" if rss["with_pki"] else " (no PKI runbook yet, so `up` runs the network and compute steps)") + ".")
    w("- Wall time is the process's, from spawn to exit (start-up included), for every tool.")
    w("")
    return "\n".join(L) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", required=True)
    p.add_argument("--groundup", required=True)
    p.add_argument("--pki-bench", default="")
    p.add_argument("--moto", required=True)
    p.add_argument("--aws", required=True)
    p.add_argument("--reps", type=int, default=10, help="groundup network+compute runs")
    p.add_argument("--reps-cli", type=int, default=3, help="aws-cli script runs (about 1 min each)")
    p.add_argument("--reps-pki", type=int, default=5)
    p.add_argument("--reps-scale", type=int, default=3)
    p.add_argument("--reps-cold", type=int, default=30)
    p.add_argument("--workers", default="25,50,100")
    p.add_argument("--out", default="BENCHMARKS.md")
    p.add_argument("--json", default="", help="also write the raw samples here")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--install-s", type=float, default=0.0,
                   help="wall time of a cold `cargo install` (scripts/measure-install), for the table")
    p.add_argument("--install-cpu-s", type=float, default=0.0, help="its CPU time (user + system)")
    p.add_argument("--install-args", default="", help="extra cargo flags that install used")
    p.add_argument("--install-notes", default="",
                   help="a Markdown section on the install's measurements (bench/install.md), copied into the report")
    a = p.parse_args()
    a.workers = [int(x) for x in a.workers.split(",") if x.strip()]
    start = time.time()
    m = machine()
    b = Bench(a)
    log(f"moto on {b.moto.endpoint}; work dir {b.work}; load {m['load']}")
    res = {}
    try:
        res["versions"] = {
            "groundup": cmd_out([a.groundup, "--version"]),
            "aws": (subprocess.run([a.aws, "--version"], capture_output=True, text=True).stdout
                    + subprocess.run([a.aws, "--version"], capture_output=True, text=True).stderr).strip().split()[0],
            "cfssl": " ".join(cmd_out(["cfssl", "version"]).split()[:2]) if shutil.which("cfssl") else "n/a",
            "moto": cmd_out([os.path.join(os.path.dirname(a.moto), "python"), "-c",
                             "import moto; print(moto.__version__)"]),
        }
        log("cold start")
        res["cold"] = b.cold_start()
        res["nc"] = b.network_compute()
        res["pki"] = b.pki()
        log("scaling")
        res["scale"] = b.scale()
        log("peak RSS of up")
        res["rss"] = b.peak_rss()
        log("moto's own service time")
        res["floor"] = [b.floor(n) for n in [6] + [w + 3 for w in a.workers if w == max(a.workers)]]
        res["warmups"] = b.warmups
    finally:
        b.moto.stop()
        if not a.keep:
            shutil.rmtree(b.work, ignore_errors=True)
    text = report(a, m, res, time.time() - start)
    with open(a.out, "w") as f:
        f.write(text)
    if a.json:
        for xs in [res["nc"]["cli"], res["nc"]["groundup"], *res["scale"].values(), res["rss"]["samples"]]:
            for x in xs:
                x.pop("dir", None)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    print(text)
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
