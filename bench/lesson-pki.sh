#!/usr/bin/env bash
# The lesson's PKI step with cfssl, transcribed for `scripts/bench`: the CA
# config (profile `kubernetes`: signing, key encipherment, server auth,
# client auth; expiry 8760h), the CA, and 9 certificates signed by it —
# master-kubernetes (with the lesson's hosts list), the three worker
# (kubelet) certificates, kube-proxy, kube-controller-manager,
# kube-scheduler, admin and service-account: 10 certificates, RSA 2048.
#
#   bench/lesson-pki.sh DIR        # writes the CSRs, keys and certificates into DIR
#
# Needs `cfssl` and `cfssljson` (Debian: apt-get install -y golang-cfssl).
#
# Deviations from the lesson:
#   1. The workers' public and private IPs are fixed values (198.51.100.2i,
#      172.31.0.2i) instead of two `aws ec2 describe-instances` calls per
#      worker: those six aws-cli calls are not PKI work, and are counted in
#      the network/compute benchmark's kind of cost already.
#   2. KUBERNETES_PUBLIC_ADDRESS is a fixed NLB-like name (override with the
#      environment variable), as groundup's harness uses.
#   3. The lesson's `api-server-kubelet-client` certificate is not made: the
#      benchmark compares the same 10 certificates on both sides.
#   4. `set -euo pipefail`, so a failing cfssl stops the run.
#   5. The CSR files are written by a small `csr` function instead of one
#      heredoc each; their JSON (CN, key, names, hosts) is the lesson's.
set -euo pipefail
DIR="${1:?usage: lesson-pki.sh DIR}"
mkdir -p "$DIR" && cd "$DIR"
NAME=k8s-cluster
AWS_REGION=us-east-2
KUBERNETES_PUBLIC_ADDRESS="${KUBERNETES_PUBLIC_ADDRESS:-k8s-cluster-0123456789.elb.us-east-2.amazonaws.com}"

# --- The certificate authority ---------------------------------------------
{
cat > ca-config.json <<JSON
{
  "signing": {
    "default": {
      "expiry": "8760h"
    },
    "profiles": {
      "kubernetes": {
        "usages": ["signing", "key encipherment", "server auth", "client auth"],
        "expiry": "8760h"
      }
    }
  }
}
JSON

cat > ca-csr.json <<JSON
{
  "CN": "Kubernetes",
  "key": {
    "algo": "rsa",
    "size": 2048
  },
  "names": [
    {
      "C": "UK",
      "L": "England",
      "O": "Kubernetes",
      "OU": "DAREY.IO DEVOPS",
      "ST": "London"
    }
  ]
}
JSON

cfssl gencert -initca ca-csr.json | cfssljson -bare ca
}

# csr CN O [hosts-json]: the lesson's CSR JSON for one certificate.
csr() {
  local hosts=""
  if [ -n "${3:-}" ]; then hosts="\"hosts\": [$3],"; fi
  cat <<JSON
{
  "CN": "$1",
  ${hosts}
  "key": {
    "algo": "rsa",
    "size": 2048
  },
  "names": [
    {
      "C": "UK",
      "L": "England",
      "O": "$2",
      "OU": "DAREY.IO DEVOPS",
      "ST": "London"
    }
  ]
}
JSON
}

# --- The API server (master-kubernetes) --------------------------------------
{
csr kubernetes Kubernetes "
   \"127.0.0.1\",
   \"172.31.0.10\",
   \"172.31.0.11\",
   \"172.31.0.12\",
   \"ip-172-31-0-10\",
   \"ip-172-31-0-11\",
   \"ip-172-31-0-12\",
   \"ip-172-31-0-10.${AWS_REGION}.compute.internal\",
   \"ip-172-31-0-11.${AWS_REGION}.compute.internal\",
   \"ip-172-31-0-12.${AWS_REGION}.compute.internal\",
   \"${KUBERNETES_PUBLIC_ADDRESS}\",
   \"kubernetes\",
   \"kubernetes.default\",
   \"kubernetes.default.svc\",
   \"kubernetes.default.svc.cluster\",
   \"kubernetes.default.svc.cluster.local\"" > master-kubernetes-csr.json

cfssl gencert \
  -ca=ca.pem \
  -ca-key=ca-key.pem \
  -config=ca-config.json \
  -profile=kubernetes \
  master-kubernetes-csr.json | cfssljson -bare master-kubernetes
}

# --- kube-scheduler ------------------------------------------------------------
{
csr system:kube-scheduler system:kube-scheduler > kube-scheduler-csr.json
cfssl gencert \
  -ca=ca.pem \
  -ca-key=ca-key.pem \
  -config=ca-config.json \
  -profile=kubernetes \
  kube-scheduler-csr.json | cfssljson -bare kube-scheduler
}

# --- kube-proxy ----------------------------------------------------------------
{
csr system:kube-proxy system:node-proxier > kube-proxy-csr.json
cfssl gencert \
  -ca=ca.pem \
  -ca-key=ca-key.pem \
  -config=ca-config.json \
  -profile=kubernetes \
  kube-proxy-csr.json | cfssljson -bare kube-proxy
}

# --- kube-controller-manager ---------------------------------------------------
{
csr system:kube-controller-manager system:kube-controller-manager > kube-controller-manager-csr.json
cfssl gencert \
  -ca=ca.pem \
  -ca-key=ca-key.pem \
  -config=ca-config.json \
  -profile=kubernetes \
  kube-controller-manager-csr.json | cfssljson -bare kube-controller-manager
}

# --- kubelet: one certificate per worker ---------------------------------------
for i in 0 1 2; do
  instance="${NAME}-worker-${i}"
  instance_hostname="ip-172-31-0-2${i}"
  csr "system:node:${instance_hostname}" system:nodes > ${instance}-csr.json

  # Deviation 1: the lesson asks aws-cli for these two addresses.
  external_ip="198.51.100.2${i}"
  internal_ip="172.31.0.2${i}"

  cfssl gencert \
    -ca=ca.pem \
    -ca-key=ca-key.pem \
    -config=ca-config.json \
    -hostname=${instance_hostname},${external_ip},${internal_ip} \
    -profile=kubernetes \
    ${NAME}-worker-${i}-csr.json | cfssljson -bare ${NAME}-worker-${i}
done

# --- admin -------------------------------------------------------------------
{
csr admin system:masters > admin-csr.json
cfssl gencert \
  -ca=ca.pem \
  -ca-key=ca-key.pem \
  -config=ca-config.json \
  -profile=kubernetes \
  admin-csr.json | cfssljson -bare admin
}

# --- service-account -----------------------------------------------------------
{
csr service-accounts Kubernetes > service-account-csr.json
cfssl gencert \
  -ca=ca.pem \
  -ca-key=ca-key.pem \
  -config=ca-config.json \
  -profile=kubernetes \
  service-account-csr.json | cfssljson -bare service-account
}
