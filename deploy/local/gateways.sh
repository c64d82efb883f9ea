#!/usr/bin/env bash
# Two domains and a floating one on one machine, connected through their gateways, with real
# packets: a client in domain A pings an endpoint in domain B (`simple@b.gwdemo.nsm.test`) and an
# endpoint of B registered in the floating domain (`simple@floating.gwdemo.nsm.test`).
#
#   nodea ─ gwa ═ "wan" ═ gwb ─ nodeb        (network namespaces, veth links)
#   client ⇢ manager A (nodea)               endpoints ⇢ manager B (nodeb)
#
# nodea runs nsd (publishing the three zones), A's registry and manager; nodeb runs B's
# registry and manager and the floating domain's registry; gwa and gwb run the gateways
# (`nsm proxy`) with their userspace relays. The gateways forward the control plane but let
# VXLAN leave only from their own addresses: every packet of the two vWires crosses both relays. Everything
# is plaintext (--insecure) to keep the demo short; docs/gateway.md shows mTLS and policy.
#
#   sudo deploy/local/gateways.sh            # builds nsm first (swift build)
#   sudo NSM=/path/to/nsm deploy/local/gateways.sh
#   KEEP=1 …                                 # keep everything running until Ctrl-C
#
# Needs root (network namespaces), nsd, iproute2 and nftables (scripts/bootstrap.sh). Its
# namespaces are named nsmgw-*; it deletes them when it ends, also on Ctrl-C or an error.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
NSM=${NSM:-}
if [[ -z "$NSM" ]]; then
  (cd "$root" && swift build --product nsm >&2)
  NSM="$root/.build/debug/nsm"
fi
[[ $(id -u) == 0 ]] || { echo "run as root: network namespaces need it" >&2; exit 1; }
for tool in nsd ip nft; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run scripts/bootstrap.sh as root" >&2; exit 1; }
done

a=a.gwdemo.nsm.test b=b.gwdemo.nsm.test f=floating.gwdemo.nsm.test
roles=(nodea gwa gwb nodeb client endpoint endpoint-f)
work=$(mktemp -d -t nsm-gateways.XXXXXX)
pids=()
ns() { local role=$1; shift; ip netns exec "nsmgw-$role" "$@"; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for role in "${roles[@]}"; do ip netns del "nsmgw-$role" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== namespaces and links" >&2
for role in "${roles[@]}"; do
  ip netns del "nsmgw-$role" 2>/dev/null || true
  ip netns add "nsmgw-$role"
  ns "$role" ip link set lo up
done
link() { # link NAME ROLE-A ADDR-A ROLE-B ADDR-B
  ip -n "nsmgw-$2" link add "$1" type veth peer name "$1" netns "nsmgw-$4"
  ns "$2" ip addr add "$3" dev "$1"; ns "$2" ip link set "$1" up
  ns "$4" ip addr add "$5" dev "$1"; ns "$4" ip link set "$1" up
}
link ia nodea 10.200.1.1/24 gwa 10.200.1.2/24
link wan gwa 198.18.0.1/24 gwb 198.18.0.2/24
link ib gwb 10.200.2.1/24 nodeb 10.200.2.2/24
ns nodea ip route add default via 10.200.1.2
ns nodeb ip route add default via 10.200.2.1
ns gwa ip route add 10.200.2.0/24 via 198.18.0.2
ns gwb ip route add 10.200.1.0/24 via 198.18.0.1
for gw in gwa gwb; do
  ns "$gw" sysctl -qw net.ipv4.ip_forward=1
  # The control plane may cross; VXLAN may not, except through the relays.
  ns "$gw" nft 'table inet nsmgw { chain f { type filter hook postrouting priority 100; udp dport 4789 fib saddr type != local drop; }; }'
done
# A relay in userspace needs the nodes to finish their TCP checksums (docs/gateway.md).
if command -v ethtool >/dev/null; then
  ns nodea ethtool -K ia tx off >/dev/null
  ns nodeb ethtool -K ib tx off >/dev/null
fi

echo "== DNS (nsd in nodea, 10.200.1.1:53)" >&2
zone() { # zone DOMAIN RECORD-ARGS...
  local domain=$1; shift
  printf '$ORIGIN %s.\n$TTL 5\n@ IN SOA ns.%s. hostmaster.%s. ( 1 3600 600 86400 1 )\n@ IN NS ns.%s.\nns IN A 10.200.1.1\n' \
    "$domain" "$domain" "$domain" "$domain"
  "$NSM" dns records --domain "$domain" --ttl 5 "$@" | grep -v '^;'
}
zone "$a" --registry 10.200.1.1:5002 --proxy 198.18.0.1:5004 >"$work/$a.zone"
zone "$b" --registry 10.200.2.2:5002 --proxy 198.18.0.2:5004 >"$work/$b.zone"
zone "$f" --registry 10.200.2.2:5022 >"$work/$f.zone"
{
  printf 'server:\n  ip-address: 10.200.1.1\n  username: ""\n  chroot: ""\n  zonesdir: "%s"\n' "$work"
  printf '  pidfile: "%s/nsd.pid"\n  database: ""\n  xfrdfile: "%s/xfrd.state"\n' "$work" "$work"
  printf '  zonelistfile: "%s/zone.list"\n  logfile: "%s/nsd.log"\n  do-ip6: no\n' "$work" "$work"
  printf 'remote-control:\n  control-enable: no\n'
  for domain in "$a" "$b" "$f"; do printf 'zone:\n  name: %s\n  zonefile: "%s.zone"\n' "$domain" "$domain"; done
} >"$work/nsd.conf"
ip netns exec nsmgw-nodea nsd -c "$work/nsd.conf" -d &
pids+=($!)
dns=(--dns-server 10.200.1.1)

run() { # run ROLE LOG-NAME ARGS... : nsm in a namespace, in the background
  local role=$1 log=$2; shift 2
  # Not through ns(): a function in the background is a subshell, and killing it would leave nsm.
  ip netns exec "nsmgw-$role" "$NSM" "$@" --insecure >"$work/$log.out" 2>"$work/$log.log" &
  pids+=($!)
}
wait_for() { # wait_for LOG-NAME TEXT
  for _ in $(seq 300); do
    grep -q "$2" "$work/$1.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not get to '$2':" >&2
  tail -20 "$work/$1.log" >&2
  exit 1
}

echo "== registries, gateways, managers" >&2
run nodea registry-a registry --domain "$a" --listen tcp://10.200.1.1:5002 "${dns[@]}"
run nodeb registry-b registry --domain "$b" --listen tcp://10.200.2.2:5002 "${dns[@]}"
run nodeb registry-f registry --domain "$f" --listen tcp://10.200.2.2:5022 "${dns[@]}"
for log in registry-a registry-b registry-f; do wait_for "$log" "listening"; done
service='{apiVersion: networkservicemesh.io/v1, kind: NetworkService, metadata: {name: simple}, spec: {payload: IP}}'
ns nodeb "$NSM" apply -f - --registry tcp://10.200.2.2:5002 --insecure <<<"$service" >&2
ns nodeb "$NSM" apply -f - --registry tcp://10.200.2.2:5022 --insecure <<<"$service" >&2

run gwa proxy-a proxy --name proxy-a --domain "$a" --registry tcp://10.200.1.1:5002 --listen tcp://0.0.0.0:5004 \
  "${dns[@]}" --inside-tunnel 10.200.1.2 --outside-tunnel 198.18.0.1
run gwb proxy-b proxy --name proxy-b --domain "$b" --registry tcp://10.200.2.2:5002 --listen tcp://0.0.0.0:5004 \
  "${dns[@]}" --inside-tunnel 10.200.2.1 --outside-tunnel 198.18.0.2
run nodea mgr-a manager --name mgr-a --node-name node-a --registry tcp://10.200.1.1:5002 --dataplane kernel \
  --listen "unix://$work/mgr-a.sock" --listen tcp://10.200.1.1:5001 --proxy-url tcp://10.200.1.2:5004
run nodeb mgr-b manager --name mgr-b --node-name node-b --registry tcp://10.200.2.2:5002 --dataplane kernel \
  --listen "unix://$work/mgr-b.sock" --listen tcp://10.200.2.2:5001
for log in proxy-a proxy-b; do wait_for "$log" "proxy listening"; done
for log in mgr-a mgr-b; do wait_for "$log" "manager listening"; done

echo "== endpoints in B: nse-b (simple@$b), nse-f@$f (simple@$f)" >&2
run endpoint nse-b endpoint --name nse-b --connect-to "unix://$work/mgr-b.sock" --listen "unix://$work/nse-b.sock" \
  --service simple --cidr 10.153.0.0/24 --log-level info
run endpoint-f nse-f endpoint --name "nse-f@$f" --connect-to "unix://$work/mgr-b.sock" \
  --listen "unix://$work/nse-f.sock" --service "simple@$f" --cidr 10.154.0.0/24 --log-level info
wait_for nse-b "registered"
wait_for nse-f "registered"

echo "== a client in A asks for both" >&2
run client nsc-a client --name nsc-a --connect-to "unix://$work/mgr-a.sock" -o json \
  --network-service "kernel://simple@$b/nsm-1" --network-service "kernel://simple@$f/nsm-2"
for _ in $(seq 300); do
  [[ $(grep -c '"state"' "$work/nsc-a.out" 2>/dev/null || true) -ge 2 ]] && break
  sleep 0.1
done
[[ $(grep -c . "$work/nsc-a.out" 2>/dev/null || true) -ge 2 ]] || { tail -20 "$work/nsc-a.log" >&2; exit 1; }

status=0
while read -r line; do
  service=$(sed -E 's/.*"networkService":"([^"]*)".*/\1/' <<<"$line")
  hops=$(grep -oE '"pathSegments":\[[^]]*\]' <<<"$line" | grep -oE '"name":"[^"]*"' | sed -E 's/"name":"([^"]*)"/\1/' | paste -sd, -)
  target=$(sed -E 's/.*"dstIpAddrs":\["([^"/]*).*/\1/' <<<"$line")
  echo "-- $service: hops $hops; ping $target from the client" >&2
  ns client ping -c 3 -i 0.2 -W 2 "$target" || status=1
done < <(head -2 "$work/nsc-a.out")

if [[ -n "${KEEP:-}" ]]; then
  echo "running; logs in $work; try: ip netns exec nsmgw-client ping <address>. Ctrl-C stops everything." >&2
  wait
fi
exit $status
