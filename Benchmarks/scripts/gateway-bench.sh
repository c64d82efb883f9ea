#!/usr/bin/env bash
# A vWire across two domains through both gateways (docs/benchmarks.md), for each relay
# (userspace, kernel), next to a bare kernel VXLAN between two namespaces over the same kind of
# veth link; the time from `nsm client` start to its connection across the domains next to one
# within its own domain; and heal: the time the ping across stops when the endpoint the client
# reaches is killed with SIGKILL (the client moves to B's other endpoint). Run as root;
# everything lives in namespaces this script makes and deletes, addresses only inside them.
# NSM: the nsm binary (default: this package's release build); SECONDS_PER_RUN (default 5);
# ROUNDS of bare and relayed iperf3 in turn per relay (default 3);
# GATEWAY_GRO=0 leaves GRO off on the gateways' links (default: on, as on a physical NIC).
set -euo pipefail
NSM=${NSM:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/nsm}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
ROUNDS=${ROUNDS:-3}
export NSM_INSECURE=true
A=a.bench.nsm.test
B=b.bench.nsm.test

iperf() { # iperf SERVER_NS CLIENT_NS ADDRESS: Gbit/s received
  ip netns exec "$1" iperf3 -s -1 -D -p 5201 >/dev/null
  sleep 0.3
  ip netns exec "$2" iperf3 -c "$3" -p 5201 -t "$SECONDS_PER_RUN" -J |
    python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
}

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

bare() { # a kernel VXLAN between two namespaces over a veth: Gbit/s
  local x=gb$$-x y=gb$$-y
  ip netns add $x; ip netns add $y
  ip -n $x link add u type veth peer name u netns $y
  ip -n $x address add 172.29.0.1/24 dev u; ip -n $y address add 172.29.0.2/24 dev u
  ip -n $x link set u up; ip -n $y link set u up; ip -n $x link set lo up; ip -n $y link set lo up
  ip -n $x link add v type vxlan id 42 local 172.29.0.1 remote 172.29.0.2 dstport 4789 nolearning
  ip -n $y link add v type vxlan id 42 local 172.29.0.2 remote 172.29.0.1 dstport 4789 nolearning
  ip -n $x address add 10.210.0.1/24 dev v; ip -n $y address add 10.210.0.2/24 dev v
  ip -n $x link set v mtu 1446 up; ip -n $y link set v mtu 1446 up
  iperf $y $x 10.210.0.2
  ip netns delete $x; ip netns delete $y
}

domains() { # domains RELAY: "Gbit/s cross-domain-ms local-ms heal-ms"
  local relay=$1 tag=gw$$-$1
  local nodea=$tag-na gwa=$tag-ga gwb=$tag-gb nodeb=$tag-nb client=$tag-c endpoint=$tag-e endpoint2=$tag-f local=$tag-l
  local dir; dir=$(mktemp -d /tmp/nsm-gwb-XXXX)
  local pids=()
  # shellcheck disable=SC2317
  cleanup() {
    # Once: a RETURN trap set here would otherwise fire again when the caller's functions return.
    trap - RETURN EXIT
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for ns in $nodea $gwa $gwb $nodeb $client $endpoint $endpoint2 $local; do ip netns delete "$ns" 2>/dev/null || true; done
    rm -rf "$dir"
  }
  # RETURN for a normal end, EXIT for a failure (set -e) in this subshell.
  trap cleanup RETURN EXIT
  for ns in $nodea $gwa $gwb $nodeb $client $endpoint $endpoint2 $local; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  link() { # link NS1 ADDR1 NS2 ADDR2 NAME
    ip -n "$1" link add "$5" type veth peer name "$5" netns "$3"
    ip -n "$1" address add "$2" dev "$5"; ip -n "$3" address add "$4" dev "$5"
    ip -n "$1" link set "$5" up; ip -n "$3" link set "$5" up
  }
  link $nodea 10.200.1.1/24 $gwa 10.200.1.2/24 ia
  link $gwa 198.18.0.1/24 $gwb 198.18.0.2/24 wan
  link $gwb 10.200.2.1/24 $nodeb 10.200.2.2/24 ib
  ip -n $nodea route add default via 10.200.1.2; ip -n $nodeb route add default via 10.200.2.1
  ip -n $gwa route add 10.200.2.0/24 via 198.18.0.2; ip -n $gwb route add 10.200.1.0/24 via 198.18.0.1
  ip netns exec $gwa sysctl -qw net.ipv4.ip_forward=1; ip netns exec $gwb sysctl -qw net.ipv4.ip_forward=1
  for gw in $gwa $gwb; do
    # VXLAN leaves a gateway only from its own addresses (its relay), never as a node sent it.
    ip netns exec $gw nft "table inet t { chain f { type filter hook postrouting priority 100; udp dport 4789 fib saddr type != local drop; }; }"
  done
  # A userspace relay cannot finish checksums a veth left for "hardware" (docs/gateway.md);
  # the kernel relay needs no such help.
  if [[ $relay == userspace ]]; then
    ip netns exec $nodea ethtool -K ia tx off >/dev/null; ip netns exec $nodeb ethtool -K ib tx off >/dev/null
    # GRO on the gateways' receiving links, as a physical NIC has it by default (a veth does
    # not): the kernel can then hand the relay one vWire's packets coalesced (UDP GRO).
    if [[ "${GATEWAY_GRO:-1}" != 0 ]]; then
      ip netns exec $gwa ethtool -K ia gro on >/dev/null; ip netns exec $gwa ethtool -K wan gro on >/dev/null
      ip netns exec $gwb ethtool -K ib gro on >/dev/null; ip netns exec $gwb ethtool -K wan gro on >/dev/null
    fi
  fi

  mkdir -p "$dir/zones"
  for d in $A $B; do
    if [[ $d == "$A" ]]; then reg=10.200.1.1:5002; gw=198.18.0.1:5004; else reg=10.200.2.2:5002; gw=198.18.0.2:5004; fi
    { printf '$ORIGIN %s.\n$TTL 60\n@ IN SOA ns.%s. h.%s. ( 1 3600 600 86400 5 )\n@ IN NS ns.%s.\nns IN A 10.200.1.1\n' "$d" "$d" "$d" "$d"
      "$NSM" dns records --domain "$d" --registry "$reg" --proxy "$gw" --ttl 60; } >"$dir/zones/$d.zone"
  done
  cat >"$dir/nsd.conf" <<CONF
server:
  ip-address: 10.200.1.1@5353
  username: ""
  chroot: ""
  zonesdir: "$dir/zones"
  pidfile: "$dir/nsd.pid"
  database: ""
  xfrdfile: "$dir/xfrd.state"
  zonelistfile: "$dir/zone.list"
  logfile: "$dir/nsd.log"
  do-ip6: no
remote-control:
  control-enable: no
zone:
  name: $A
  zonefile: "$A.zone"
zone:
  name: $B
  zonefile: "$B.zone"
CONF
  ip netns exec $nodea /usr/sbin/nsd -c "$dir/nsd.conf" -d >/dev/null 2>&1 &
  pids+=($!)
  local dns=10.200.1.1:5353
  run() { # run NS LOG ARGS...
    local ns=$1 log=$2; shift 2
    ip netns exec "$ns" "$NSM" "$@" >"$dir/$log.log" 2>&1 &
    pids+=($!)
  }
  wait_for() { until grep -q "$2" "$dir/$1.log"; do sleep 0.05; done; }
  run $nodea registry-a registry --domain $A --listen tcp://10.200.1.1:5002 --dns-server $dns
  run $nodeb registry-b registry --domain $B --listen tcp://10.200.2.2:5002 --dns-server $dns
  wait_for registry-a "address="; wait_for registry-b "address="
  printf 'apiVersion: networkservicemesh.io/v1\nkind: NetworkService\nmetadata: {name: bench}\nspec: {payload: IP}\n' |
    ip netns exec $nodeb "$NSM" apply -f - --registry tcp://10.200.2.2:5002 >/dev/null
  printf 'apiVersion: networkservicemesh.io/v1\nkind: NetworkService\nmetadata: {name: near}\nspec: {payload: IP}\n' |
    ip netns exec $nodea "$NSM" apply -f - --registry tcp://10.200.1.1:5002 >/dev/null
  run $gwa proxy-a proxy --name proxy-a --domain $A --registry tcp://10.200.1.1:5002 --listen tcp://0.0.0.0:5004 \
    --dns-server $dns --inside-tunnel 10.200.1.2 --outside-tunnel 198.18.0.1 --relay "$relay"
  run $gwb proxy-b proxy --name proxy-b --domain $B --registry tcp://10.200.2.2:5002 --listen tcp://0.0.0.0:5004 \
    --dns-server $dns --inside-tunnel 10.200.2.1 --outside-tunnel 198.18.0.2 --relay "$relay"
  run $nodea mgr-a manager --name "mgr-$tag-a" --dataplane kernel --listen "unix://$dir/a.sock" \
    --listen tcp://10.200.1.1:5001 --registry tcp://10.200.1.1:5002 --proxy-url tcp://10.200.1.2:5004
  run $nodeb mgr-b manager --name "mgr-$tag-b" --dataplane kernel --listen "unix://$dir/b.sock" \
    --listen tcp://10.200.2.2:5001 --registry tcp://10.200.2.2:5002
  wait_for proxy-a "proxy listening"; wait_for proxy-b "proxy listening"
  wait_for mgr-a "manager listening"; wait_for mgr-b "manager listening"
  run $endpoint nse-b endpoint --name nse-b --service bench --cidr 10.211.0.0/24 --connect-to "unix://$dir/b.sock" \
    --listen "unix://$dir/nse-b.sock"
  run $local nse-a endpoint --name nse-a --service near --cidr 10.212.0.0/24 --connect-to "unix://$dir/a.sock" \
    --listen "unix://$dir/nse-a.sock"
  run $endpoint2 nse-b2 endpoint --name nse-b2 --service bench --cidr 10.211.0.0/24 --connect-to "unix://$dir/b.sock" \
    --listen "unix://$dir/nse-b2.sock"
  wait_for nse-b "] registered"; wait_for nse-b2 "] registered"; wait_for nse-a "] registered"

  local start far near
  start=$(date +%s%N)
  ip netns exec $client "$NSM" client --connect-to "unix://$dir/a.sock" --network-service "kernel://near/nsm-9" \
    -o json >"$dir/near.out" 2>"$dir/near.log" &
  pids+=($!)
  until [[ -s "$dir/near.out" ]]; do sleep 0.001; done
  near=$(ms_since "$start")
  start=$(date +%s%N)
  ip netns exec $client "$NSM" client --connect-to "unix://$dir/a.sock" --network-service "kernel://bench@$B/nsm-1" \
    -o json >"$dir/far.out" 2>"$dir/far.log" &
  pids+=($!)
  until [[ -s "$dir/far.out" ]]; do sleep 0.001; done
  far=$(ms_since "$start")
  until ip netns exec $client ping -c 1 -W 0.2 10.211.0.1 >/dev/null 2>&1; do :; done
  # Rounds of the bare path and this one in turn, so both see the same moment of the machine
  # (two cores shared with iperf3's two ends: rates drift by a quarter from minute to minute).
  local bares=() relayed=()
  for ((round = 0; round < ROUNDS; round++)); do
    bares+=("$(bare)"); relayed+=("$(iperf $endpoint $client 10.211.0.1)")
  done
  local gbits; gbits=$(python3 -c '
import statistics, sys
bare = [float(x) for x in sys.argv[1].split()]; relay = [float(x) for x in sys.argv[2].split()]
ratios = [r / b for r, b in zip(relay, bare)]
print("%.2f %.2f %.2f %.2f %.2f" % (statistics.median(relay), statistics.median(bare),
      statistics.median(ratios), min(ratios), max(ratios)))' "${bares[*]}" "${relayed[*]}")

  # Heal: a ping every 10 ms; the endpoint the client reaches dies; the longest run of
  # unanswered pings is the time the vWire was down.
  local victim=nse-b
  grep -q '"networkServiceEndpointName":"nse-b2@' "$dir/far.out" && victim=nse-b2
  ip netns exec $client ping -i 0.01 -c 800 -W 1 10.211.0.1 >"$dir/ping.out" 2>&1 &
  local ping=$!
  sleep 1
  pkill -KILL -f "endpoint --name $victim --service bench" || true
  wait $ping || true
  local heal
  heal=$(python3 -c '
import re, sys
seqs = sorted(int(m) for m in re.findall(r"icmp_seq=(\d+)", open(sys.argv[1]).read()))
print(max((b - a - 1) * 10 for a, b in zip(seqs, seqs[1:])) if len(seqs) > 1 else -1)' "$dir/ping.out")
  echo "$gbits $far $near $heal"
}

read -r user user_base user_ratio user_low user_high user_far user_near user_heal < <(domains userspace)
read -r kern kern_base kern_ratio kern_low kern_high kern_far kern_near kern_heal < <(domains kernel)
echo "Medians of $ROUNDS rounds; in each round the bare kernel VXLAN between two namespaces over a veth,"
echo "then the path through both gateways ($SECONDS_PER_RUN s of iperf3 each, one TCP stream)."
echo
echo "| Relay | through both gateways, Gbit/s | bare VXLAN, Gbit/s | ratio (lowest–highest round) |"
echo "| --- | ---: | ---: | ---: |"
echo "| userspace | $user | $user_base | $user_ratio ($user_low–$user_high) |"
echo "| kernel | $kern | $kern_base | $kern_ratio ($kern_low–$kern_high) |"
echo
echo "Client start → connection: across the domains $user_far ms (userspace run), $kern_far ms (kernel run);" \
  "within domain A $user_near ms, $kern_near ms."
echo "Heal after the endpoint in B is killed (ping every 10 ms, longest gap): $user_heal ms (userspace run)," \
  "$kern_heal ms (kernel run)."
