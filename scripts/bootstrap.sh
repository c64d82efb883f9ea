#!/usr/bin/env bash
# Installs the Debian packages swift-nsm needs to build and test, when they are missing.
# Run as root (CI and the development machines are). Idempotent: does nothing when all are there.
set -euo pipefail

packages=(
  protobuf-compiler   # protoc, for scripts/generate.sh
  libldns-dev         # DNS SRV discovery (libldns)
  ldnsutils           # drill, used by tests to wait for nsd
  nsd                 # authoritative DNS server started by tests
  postgresql          # initdb/postgres/psql for the tests' throwaway database
  openssl             # certificates for the tests' TLS database
  procps              # pkill, used to crash the test database
  golang-go           # builds the grpc-go client the transport tests and benchmarks use
  golang-google-grpc-dev  # grpc-go, for that client (GOPATH mode, no module downloads)
  iproute2            # ip: the data plane's links, addresses and routes; test namespaces
  util-linux          # nsenter: the data plane enters workloads' namespaces
  iputils-ping        # ping through vWires in the data-plane tests
  iperf3              # throughput through vWires in the data-plane benchmarks
  nftables            # nft: keeps foreign packets out of VXLAN vWires
  ethtool             # the gateway relay test turns checksum offload off on its veth underlay
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "bootstrap: missing packages: ${missing[*]}; run as root or install them" >&2
  exit 1
fi

echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
