#!/usr/bin/env bash
# Throughput through a remote vWire (VXLAN between two nodes' managers) next to a bare kernel
# VXLAN between the same kind of namespaces (docs/benchmarks.md). Run as root; everything lives
# in namespaces this script makes and deletes, addresses only inside them.
set -euo pipefail
NSM=${NSM:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/nsm}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
tag=xb$$
n1=$tag-n1; n2=$tag-n2; client=$tag-c; endpoint=$tag-e; a=$tag-a; b=$tag-b
dir=$(mktemp -d /tmp/nsm-xb-XXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for ns in $n1 $n2 $client $endpoint $a $b; do ip netns delete "$ns" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
for ns in $n1 $n2 $client $endpoint $a $b; do ip netns add "$ns"; ip -n "$ns" link set lo up; done

iperf() { # iperf() SERVER_NS CLIENT_NS ADDRESS: Gbit/s received
  ip netns exec "$1" iperf3 -s -1 -D -p 5201 >/dev/null
  sleep 0.3
  ip netns exec "$2" iperf3 -c "$3" -p 5201 -t "$SECONDS_PER_RUN" -J |
    python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
}

# The baseline: two namespaces joined by a veth underlay, a kernel VXLAN in each (MTU 1446, as
# the managers set it).
ip -n "$a" link add under type veth peer name under netns "$b"
ip -n "$a" address add 172.30.253.1/24 dev under; ip -n "$a" link set under up
ip -n "$b" address add 172.30.253.2/24 dev under; ip -n "$b" link set under up
ip -n "$a" link add vx type vxlan id 42 local 172.30.253.1 remote 172.30.253.2 dstport 4789 nolearning
ip -n "$b" link add vx type vxlan id 42 local 172.30.253.2 remote 172.30.253.1 dstport 4789 nolearning
ip -n "$a" link set vx mtu 1446; ip -n "$b" link set vx mtu 1446
ip -n "$a" address add 10.210.0.1/30 dev vx; ip -n "$a" link set vx up
ip -n "$b" address add 10.210.0.2/30 dev vx; ip -n "$b" link set vx up
bare=$(iperf "$a" "$b" 10.210.0.1)

# The remote vWire: node namespaces joined by a veth underlay, a manager in each, the registry in
# the first; the client on node 1, the endpoint on node 2.
ip -n "$n1" link add under type veth peer name under netns "$n2"
ip -n "$n1" address add 172.30.254.1/24 dev under; ip -n "$n1" link set under up
ip -n "$n2" address add 172.30.254.2/24 dev under; ip -n "$n2" link set under up
export NSM_INSECURE=true
ip netns exec "$n1" "$NSM" registry --listen tcp://172.30.254.1:5002 >"$dir/registry.log" 2>&1 &
pids+=($!)
sleep 0.5
printf 'apiVersion: networkservicemesh.io/v1\nkind: NetworkService\nmetadata: {name: bench}\nspec: {payload: IP}\n' |
  ip netns exec "$n1" "$NSM" apply -f - --registry tcp://172.30.254.1:5002 >/dev/null
for n in 1 2; do
  ns=$n1; [[ $n == 2 ]] && ns=$n2
  ip netns exec "$ns" "$NSM" manager --name "mgr-xb$n" --dataplane kernel --listen "unix://$dir/mgr$n.sock" \
    --listen "tcp://172.30.254.$n:5001" --registry tcp://172.30.254.1:5002 >"$dir/manager$n.log" 2>&1 &
  pids+=($!)
done
sleep 0.5
ip netns exec "$endpoint" "$NSM" endpoint --name nse-xb --service bench --cidr 10.211.0.0/24 \
  --connect-to "unix://$dir/mgr2.sock" --listen "unix://$dir/nse.sock" >"$dir/endpoint.log" 2>&1 &
pids+=($!)
until grep -q "] registered" "$dir/endpoint.log"; do sleep 0.05; done
ip netns exec "$client" "$NSM" client --connect-to "unix://$dir/mgr1.sock" --network-service kernel://bench/nsm-1 \
  -o json >"$dir/client.out" 2>"$dir/client.log" &
pids+=($!)
until [[ -s "$dir/client.out" ]]; do sleep 0.01; done
until ip netns exec "$client" ping -c 1 -W 1 10.211.0.1 >/dev/null 2>&1; do sleep 0.05; done
vwire=$(iperf "$endpoint" "$client" 10.211.0.1)

echo "| Path | TCP Gbit/s ($SECONDS_PER_RUN s, iperf3, one stream) |"
echo "| --- | ---: |"
echo "| bare kernel VXLAN between two namespaces over a veth underlay | $bare |"
echo "| remote vWire (client → manager → manager → endpoint, VXLAN) | $vwire |"
echo
echo "Ratio vWire / bare VXLAN: $(python3 -c "print('%.2f' % ($vwire / $bare))")"
