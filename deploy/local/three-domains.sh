#!/usr/bin/env bash
# Three domains on one machine: nsd publishes zones/ on 127.0.0.1:${DNS_PORT}, and three
# registries serve a.nsm.test (:5002), b.nsm.test (:5012) and the floating domain
# floating.nsm.test (:5022), finding each other through that nsd. Each domain is its own
# SPIFFE trust domain (nsm.a, nsm.b, nsm.floating) with mTLS; `nsm cert` makes the SVIDs,
# including an "admin" workload per domain for the nsm commands. Ctrl-C stops everything.
#
#   deploy/local/three-domains.sh            # builds nsm first (swift build)
#   NSM=/path/to/nsm deploy/local/three-domains.sh
#   INSECURE=1 deploy/local/three-domains.sh # plaintext instead
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
pki=${PKI:-$root/.build/demo-pki}
declare -A security
if [[ -n "${INSECURE:-}" ]]; then
  for d in a b floating; do security[$d]="--insecure"; done
else
  "$NSM" cert --out "$pki" \
    --svid spiffe://nsm.a/registry --svid spiffe://nsm.a/admin \
    --svid spiffe://nsm.b/registry --svid spiffe://nsm.b/admin \
    --svid spiffe://nsm.floating/registry >&2
  # A and B: their own trust domain does everything; the other may find, and forward finds.
  for pair in a:b b:a; do
    own=${pair%%:*} other=${pair##*:}
    cat >"$work/policy-$own.yaml" <<POLICY
domains:
  $own.nsm.test:
    - identities: ["spiffe://nsm.$own/*"]
      operations: [find, register, unregister]
    - identities: ["spiffe://nsm.$other/*"]
      operations: [find]
forward_to: ["*"]
accept_forwarded_from: ["spiffe://nsm.$own/registry", "spiffe://nsm.$other/registry"]
POLICY
  done
  # The floating domain: B's workloads register, everyone finds.
  cat >"$work/policy-floating.yaml" <<POLICY
domains:
  floating.nsm.test:
    - identities: ["spiffe://nsm.b/*"]
      operations: [find, register, unregister]
    - identities: ["spiffe://nsm.a/*"]
      operations: [find]
accept_forwarded_from: ["spiffe://nsm.a/registry", "spiffe://nsm.b/registry"]
POLICY
  for d in a b floating; do
    security[$d]="--tls-dir $pki/nsm.$d/registry --policy $work/policy-$d.yaml"
  done
fi

# shellcheck disable=SC2086 # the security options are words on purpose
"$NSM" registry --domain a.nsm.test --listen tcp://127.0.0.1:5002 "${dns[@]}" --cluster-label clusterName=a ${security[a]} &
pids+=($!)
# shellcheck disable=SC2086
"$NSM" registry --domain b.nsm.test --listen tcp://127.0.0.1:5012 "${dns[@]}" --cluster-label clusterName=b ${security[b]} &
pids+=($!)
# shellcheck disable=SC2086
"$NSM" registry --domain floating.nsm.test --listen tcp://127.0.0.1:5022 "${dns[@]}" ${security[floating]} &
pids+=($!)

echo "nsd on 127.0.0.1:$DNS_PORT; registries: a.nsm.test 127.0.0.1:5002, b.nsm.test :5012, floating.nsm.test :5022" >&2
if [[ -z "${INSECURE:-}" ]]; then
  echo "identities: --tls-dir $pki/nsm.a/admin (domain A), --tls-dir $pki/nsm.b/admin (domain B)" >&2
fi
wait
