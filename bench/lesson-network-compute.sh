#!/usr/bin/env bash
# The lesson's network and compute steps ("Provisioning the AWS Resources
# using AWSCLI" and "Create The Compute Resources"), transcribed command by
# command for `scripts/bench`: the same aws-cli calls, in the same order,
# with the same shell variables.
#
#   ENDPOINT=http://127.0.0.1:PORT bench/lesson-network-compute.sh
#
# Run it in an empty directory (it writes ssh/k8s-cluster.id_rsa). `AWS`
# names the aws-cli executable (default: `aws` on PATH; scripts/bench passes
# the PyPI awscli from .venv). Credentials and region come from the
# environment (scripts/bench sets dummy keys and us-east-2).
#
# Deviations from the lesson, every one forced by the benchmark or by moto:
#   1. Every call carries `--endpoint-url "$ENDPOINT"` (the local emulator);
#      the lesson relies on `aws configure` for credentials and region.
#   2. The image filter: the lesson names
#      `ubuntu-pro-server/images/hvm-ssd/ubuntu-xenial-16.04-amd64-pro-server-20221202`,
#      which moto does not have (its only Canonical xenial image is
#      `ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-20170721`), so
#      the name filter is `ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*`.
#      The `jq` pipeline is the lesson's.
#   3. `set -euo pipefail` and a check that the image lookup found something:
#      the lesson's commands are typed one by one, and a failure would
#      otherwise go unnoticed (jq prints `null`).
# Nothing else differs: 28 network calls, 2 compute lookups, then three
# calls per node (run-instances, modify-instance-attribute, create-tags).
set -euo pipefail
: "${ENDPOINT:?set ENDPOINT to the emulator URL, e.g. http://127.0.0.1:5000}"
AWS_BIN="${AWS:-aws}"
aws() { "$AWS_BIN" --endpoint-url "$ENDPOINT" "$@"; }

# --- Virtual Private Cloud (VPC) -------------------------------------------
VPC_ID=$(aws ec2 create-vpc --cidr-block 172.31.0.0/16 --output text --query 'Vpc.VpcId')
NAME=k8s-cluster
AWS_REGION=us-east-2
aws ec2 create-tags --resources ${VPC_ID} --tags Key=Name,Value=${NAME}

# --- Domain Name System – DNS ----------------------------------------------
aws ec2 modify-vpc-attribute --vpc-id ${VPC_ID} --enable-dns-support '{"Value": true}'
aws ec2 modify-vpc-attribute --vpc-id ${VPC_ID} --enable-dns-hostnames '{"Value": true}'

# --- Dynamic Host Configuration Protocol – DHCP ----------------------------
DHCP_OPTION_SET_ID=$(aws ec2 create-dhcp-options \
  --dhcp-configuration \
    "Key=domain-name,Values=iamyole.uk.internal" \
    "Key=domain-name-servers,Values=AmazonProvidedDNS" \
  --output text --query 'DhcpOptions.DhcpOptionsId')
aws ec2 create-tags  --resources ${DHCP_OPTION_SET_ID} --tags Key=Name,Value=${NAME}
aws ec2 associate-dhcp-options --dhcp-options-id ${DHCP_OPTION_SET_ID} --vpc-id ${VPC_ID}

# --- Subnet ----------------------------------------------------------------
SUBNET_ID=$(aws ec2 create-subnet \
  --vpc-id ${VPC_ID} \
  --cidr-block 172.31.0.0/24 \
  --output text --query 'Subnet.SubnetId')
aws ec2 create-tags  --resources ${SUBNET_ID}  --tags Key=Name,Value=${NAME}

# --- Internet Gateway (IGW) ------------------------------------------------
INTERNET_GATEWAY_ID=$(aws ec2 create-internet-gateway \
  --output text --query 'InternetGateway.InternetGatewayId')
aws ec2 create-tags \
  --resources ${INTERNET_GATEWAY_ID} \
  --tags Key=Name,Value=${NAME}
aws ec2 attach-internet-gateway \
  --internet-gateway-id ${INTERNET_GATEWAY_ID} \
  --vpc-id ${VPC_ID}

# --- Route tables ----------------------------------------------------------
ROUTE_TABLE_ID=$(aws ec2 create-route-table \
  --vpc-id ${VPC_ID} \
  --output text --query 'RouteTable.RouteTableId')
aws ec2 create-tags \
  --resources ${ROUTE_TABLE_ID} \
  --tags Key=Name,Value=${NAME}
aws ec2 associate-route-table \
  --route-table-id ${ROUTE_TABLE_ID} \
  --subnet-id ${SUBNET_ID}
aws ec2 create-route \
  --route-table-id ${ROUTE_TABLE_ID} \
  --destination-cidr-block 0.0.0.0/0 \
  --gateway-id ${INTERNET_GATEWAY_ID}

# --- Security Groups -------------------------------------------------------
SECURITY_GROUP_ID=$(aws ec2 create-security-group \
  --group-name ${NAME} \
  --description "Kubernetes cluster security group" \
  --vpc-id ${VPC_ID} \
  --output text --query 'GroupId')
aws ec2 create-tags \
  --resources ${SECURITY_GROUP_ID} \
  --tags Key=Name,Value=${NAME}
aws ec2 authorize-security-group-ingress \
  --group-id ${SECURITY_GROUP_ID} \
  --ip-permissions IpProtocol=tcp,FromPort=2379,ToPort=2380,IpRanges='[{CidrIp=172.31.0.0/24}]'
aws ec2 authorize-security-group-ingress \
  --group-id ${SECURITY_GROUP_ID} \
  --ip-permissions IpProtocol=tcp,FromPort=30000,ToPort=32767,IpRanges='[{CidrIp=172.31.0.0/24}]'
aws ec2 authorize-security-group-ingress \
  --group-id ${SECURITY_GROUP_ID} \
  --protocol tcp \
  --port 6443 \
  --cidr 0.0.0.0/0
aws ec2 authorize-security-group-ingress \
  --group-id ${SECURITY_GROUP_ID} \
  --protocol tcp \
  --port 22 \
  --cidr 0.0.0.0/0
aws ec2 authorize-security-group-ingress \
  --group-id ${SECURITY_GROUP_ID} \
  --protocol icmp \
  --port -1 \
  --cidr 0.0.0.0/0

# --- Network Load Balancer -------------------------------------------------
LOAD_BALANCER_ARN=$(aws elbv2 create-load-balancer \
  --name ${NAME} \
  --subnets ${SUBNET_ID} \
  --scheme internet-facing \
  --type network \
  --output text --query 'LoadBalancers[].LoadBalancerArn')

# --- Target Group ----------------------------------------------------------
TARGET_GROUP_ARN=$(aws elbv2 create-target-group \
  --name ${NAME} \
  --protocol TCP \
  --port 6443 \
  --vpc-id ${VPC_ID} \
  --target-type ip \
  --output text --query 'TargetGroups[].TargetGroupArn')
aws elbv2 register-targets --target-group-arn ${TARGET_GROUP_ARN} --targets Id=172.31.0.1{0,1,2}
aws elbv2 create-listener \
  --load-balancer-arn ${LOAD_BALANCER_ARN} \
  --protocol TCP \
  --port 6443 \
  --default-actions Type=forward,TargetGroupArn=${TARGET_GROUP_ARN} \
  --output text --query 'Listeners[].ListenerArn'

# --- K8s Public Address ----------------------------------------------------
KUBERNETES_PUBLIC_ADDRESS=$(aws elbv2 describe-load-balancers \
  --load-balancer-arns ${LOAD_BALANCER_ARN} \
  --output text --query 'LoadBalancers[].DNSName')
echo "KUBERNETES_PUBLIC_ADDRESS=${KUBERNETES_PUBLIC_ADDRESS}"

# --- Create The Compute Resources ------------------------------------------
# Deviation 2: moto's Canonical xenial image instead of the 2022 "pro" one.
IMAGE_ID=$(aws ec2 describe-images --owners 099720109477 \
  --filters \
  'Name=root-device-type,Values=ebs' \
  'Name=architecture,Values=x86_64' \
  'Name=name,Values=ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*' \
  | jq -r '.Images|sort_by(.Name)[-1]|.ImageId')
# Deviation 3: fail rather than launch `null`.
[ -n "${IMAGE_ID}" ] && [ "${IMAGE_ID}" != null ] || { echo "no image found" >&2; exit 1; }

mkdir -p ssh
aws ec2 create-key-pair \
  --key-name ${NAME} \
  --output text --query 'KeyMaterial' \
  >ssh/${NAME}.id_rsa
chmod 400 ssh/${NAME}.id_rsa

# --- EC2 Instances for Control Plane (Master Nodes) ------------------------
for i in 0 1 2; do
  instance_id=$(aws ec2 run-instances \
    --associate-public-ip-address \
    --image-id ${IMAGE_ID} \
    --count 1 \
    --key-name ${NAME} \
    --security-group-ids ${SECURITY_GROUP_ID} \
    --instance-type t2.micro \
    --private-ip-address 172.31.0.1${i} \
    --user-data "name=master-${i}" \
    --subnet-id ${SUBNET_ID} \
    --output text --query 'Instances[].InstanceId')
  aws ec2 modify-instance-attribute \
    --instance-id ${instance_id} \
    --no-source-dest-check
  aws ec2 create-tags \
    --resources ${instance_id} \
    --tags "Key=Name,Value=${NAME}-master-${i}"
done

# --- EC2 Instances for Worker Nodes ----------------------------------------
for i in 0 1 2; do
  instance_id=$(aws ec2 run-instances \
    --associate-public-ip-address \
    --image-id ${IMAGE_ID} \
    --count 1 \
    --key-name ${NAME} \
    --security-group-ids ${SECURITY_GROUP_ID} \
    --instance-type t2.micro \
    --private-ip-address 172.31.0.2${i} \
    --user-data "name=worker-${i}|pod-cidr=172.20.${i}.0/24" \
    --subnet-id ${SUBNET_ID} \
    --output text --query 'Instances[].InstanceId')
  aws ec2 modify-instance-attribute \
    --instance-id ${instance_id} \
    --no-source-dest-check
  aws ec2 create-tags \
    --resources ${instance_id} \
    --tags "Key=Name,Value=${NAME}-worker-${i}"
done
