#!/usr/bin/env bash
# Three domains on one machine: nsd publishes zones/ on 127.0.0.1:${DNS_PORT}, and three
# registries serve a.nsm.test (:5002), b.nsm.test (:5012) and the floating domain
# floating.nsm.test (:5022), finding each other through that nsd. Ctrl-C stops everything.
#
#   deploy/local/three-domains.sh            # builds nsm first (swift build)
#   NSM=/path/to/nsm deploy/local/three-domains.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
DNS_PORT=${DNS_PORT:-5353}
NSM=${NSM:-}
if [[ -z "$NSM" ]]; then
  (cd "$root" && swift build --product nsm >&2)
  NSM="$root/.build/debug/nsm"
fi
command -v nsd >/dev/null || { echo "nsd is missing: run scripts/bootstrap.sh as root" >&2; exit 1; }

work=$(mktemp -d -t nsm-three-domains.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  pkill -KILL -f "$work/nsd.conf" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

{
  cat <<CONF
server:
  ip-address: 127.0.0.1@$DNS_PORT
  username: ""
  chroot: ""
  zonesdir: "$work"
  pidfile: "$work/nsd.pid"
  database: ""
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  logfile: "$work/nsd.log"
  do-ip6: no
remote-control:
  control-enable: no
CONF
  for file in "$root"/zones/*.zone; do
    zone=$(basename "$file" .zone)
    cp "$file" "$work/"
    printf 'zone:\n  name: %s\n  zonefile: "%s.zone"\n' "$zone" "$zone"
  done
} >"$work/nsd.conf"
nsd -c "$work/nsd.conf" -d &
pids+=($!)
for _ in $(seq 100); do
  drill -t -Q -p "$DNS_PORT" @127.0.0.1 SOA a.nsm.test >/dev/null 2>&1 && break
  sleep 0.1
done

dns=(--dns-server "127.0.0.1:$DNS_PORT")
"$NSM" registry --domain a.nsm.test --listen tcp://127.0.0.1:5002 "${dns[@]}" --cluster-label clusterName=a &
pids+=($!)
"$NSM" registry --domain b.nsm.test --listen tcp://127.0.0.1:5012 "${dns[@]}" --cluster-label clusterName=b &
pids+=($!)
"$NSM" registry --domain floating.nsm.test --listen tcp://127.0.0.1:5022 "${dns[@]}" &
pids+=($!)

echo "nsd on 127.0.0.1:$DNS_PORT; registries: a.nsm.test 127.0.0.1:5002, b.nsm.test :5012, floating.nsm.test :5022" >&2
wait
