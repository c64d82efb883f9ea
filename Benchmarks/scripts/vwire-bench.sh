#!/usr/bin/env bash
# Throughput through a local vWire next to a bare veth pair between two namespaces, and the time
# from `nsm client` start to the first ping answered through its vWire (docs/benchmarks.md).
# Run as root. Everything lives in namespaces this script makes and deletes; addresses only
# inside them. NSM: the nsm binary (default: this package's release build).
# KEEP=1 keeps the logs in /tmp/vb-keep; MANAGER_LOG=debug makes the manager verbose.
set -euo pipefail
NSM=${NSM:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/nsm}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
tag=vb$$
node=$tag-node; client=$tag-client; endpoint=$tag-endpoint; a=$tag-a; b=$tag-b
dir=$(mktemp -d /tmp/nsm-vb-XXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for ns in $node $client $endpoint $a $b; do ip netns delete "$ns" 2>/dev/null || true; done
  [[ -n "${KEEP:-}" ]] && cp -r "$dir" /tmp/vb-keep; rm -rf "$dir"
}
trap cleanup EXIT
for ns in $node $client $endpoint $a $b; do ip netns add "$ns"; ip -n "$ns" link set lo up; done

iperf() { # iperf() SERVER_NS CLIENT_NS ADDRESS: Gbit/s received
  ip netns exec "$1" iperf3 -s -1 -D -p 5201 >/dev/null
  sleep 0.3
  ip netns exec "$2" iperf3 -c "$3" -p 5201 -t "$SECONDS_PER_RUN" -J |
    python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
}

# The baseline: a bare veth pair between two namespaces.
ip -n "$a" link add bare type veth peer name bare netns "$b"
ip -n "$a" address add 10.200.0.1/30 dev bare; ip -n "$a" link set bare up
ip -n "$b" address add 10.200.0.2/30 dev bare; ip -n "$b" link set bare up
bare=$(iperf "$a" "$b" 10.200.0.1)

# The vWire: a registry and a manager in the node namespace, an endpoint and a client in theirs.
export NSM_INSECURE=true
ip netns exec "$node" "$NSM" registry --listen tcp://127.0.0.1:5002 >"$dir/registry.log" 2>&1 &
pids+=($!)
sleep 0.5
printf 'apiVersion: networkservicemesh.io/v1\nkind: NetworkService\nmetadata: {name: bench}\nspec: {payload: IP}\n' |
  ip netns exec "$node" "$NSM" apply -f - >/dev/null
ip netns exec "$node" "$NSM" manager --log-level ${MANAGER_LOG:-info} --name mgr-vb --dataplane kernel --listen "unix://$dir/mgr.sock" \
  --listen tcp://127.0.0.1:5001 >"$dir/manager.log" 2>&1 &
pids+=($!)
sleep 0.5
ip netns exec "$endpoint" "$NSM" endpoint --name nse-vb --service bench --cidr 10.201.0.0/24 \
  --connect-to "unix://$dir/mgr.sock" --listen "unix://$dir/nse.sock" >"$dir/endpoint.log" 2>&1 &
pids+=($!)
until grep -q "] registered" "$dir/endpoint.log"; do sleep 0.05; done

start=$(date +%s%N)
ip netns exec "$client" "$NSM" client --connect-to "unix://$dir/mgr.sock" --network-service kernel://bench/nsm-1 \
  -o json >"$dir/client.out" 2>"$dir/client.log" &
pids+=($!)
until [[ -s "$dir/client.out" ]]; do sleep 0.001; done
established_ms=$(( ($(date +%s%N) - start) / 1000000 ))
until ip netns exec "$client" ping -c 1 -W 0.05 10.201.0.1 >/dev/null 2>&1; do :; done
first_ping_ms=$(( ($(date +%s%N) - start) / 1000000 ))
vwire=$(iperf "$endpoint" "$client" 10.201.0.1)

echo "| Path | TCP Gbit/s ($SECONDS_PER_RUN s, iperf3, one stream) |"
echo "| --- | ---: |"
echo "| bare veth pair between two namespaces | $bare |"
echo "| local vWire (nsm client → manager → endpoint) | $vwire |"
echo
echo "Ratio vWire / bare veth: $(python3 -c "print('%.2f' % ($vwire / $bare))")"
echo "Time from nsm client start to its connection printed: $established_ms ms; to the first ping answered through its vWire: $first_ping_ms ms"
