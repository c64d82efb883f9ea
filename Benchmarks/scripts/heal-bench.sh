#!/usr/bin/env bash
# Packets lost through a local vWire when the endpoint under it is killed with SIGKILL and the
# client heals to another endpoint of the same prefix (docs/benchmarks.md). A ping every 10 ms
# runs through the vWire; each round starts everything afresh. Run as root; everything lives in
# namespaces this script makes and deletes, addresses only inside them.
# NSM: the nsm binary (default: this package's release build); ROUNDS (default 5).
set -euo pipefail
NSM=${NSM:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/nsm}
ROUNDS=${ROUNDS:-5}
export NSM_INSECURE=true

round() { # round N: prints "lost SENT"
  local tag=hb$$-$1
  local node=$tag-node client=$tag-client a=$tag-a b=$tag-b
  local dir; dir=$(mktemp -d /tmp/nsm-hb-XXXX)
  local pids=()
  # shellcheck disable=SC2317
  cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for ns in $node $client $a $b; do ip netns delete "$ns" 2>/dev/null || true; done
    rm -rf "$dir"
  }
  trap cleanup RETURN
  for ns in $node $client $a $b; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip netns exec "$node" "$NSM" registry --listen tcp://127.0.0.1:5002 >"$dir/registry.log" 2>&1 &
  pids+=($!)
  sleep 0.5
  printf 'apiVersion: networkservicemesh.io/v1\nkind: NetworkService\nmetadata: {name: bench}\nspec: {payload: IP}\n' |
    ip netns exec "$node" "$NSM" apply -f - >/dev/null
  ip netns exec "$node" "$NSM" manager --name "mgr-$tag" --dataplane kernel --listen "unix://$dir/mgr.sock" \
    --listen tcp://127.0.0.1:5001 >"$dir/manager.log" 2>&1 &
  pids+=($!)
  sleep 0.5
  local pid_a pid_b
  ip netns exec "$a" "$NSM" endpoint --name nse-a --service bench --cidr 10.202.0.0/24 \
    --connect-to "unix://$dir/mgr.sock" --listen "unix://$dir/a.sock" >"$dir/a.log" 2>&1 &
  pid_a=$!; pids+=($pid_a)
  ip netns exec "$b" "$NSM" endpoint --name nse-b --service bench --cidr 10.202.0.0/24 \
    --connect-to "unix://$dir/mgr.sock" --listen "unix://$dir/b.sock" >"$dir/b.log" 2>&1 &
  pid_b=$!; pids+=($pid_b)
  until grep -q "] registered" "$dir/a.log" && grep -q "] registered" "$dir/b.log"; do sleep 0.05; done
  ip netns exec "$client" "$NSM" client --connect-to "unix://$dir/mgr.sock" --network-service kernel://bench/nsm-1 \
    -o json >"$dir/client.out" 2>"$dir/client.log" &
  pids+=($!)
  until [[ -s "$dir/client.out" ]]; do sleep 0.01; done
  local target
  target=$(head -1 "$dir/client.out" | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["context"]["ipContext"]["dstIpAddrs"][0].split("/")[0])')
  until ip netns exec "$client" ping -c 1 -W 0.1 "$target" >/dev/null 2>&1; do :; done
  # 500 pings 10 ms apart (5 s); the endpoint in use dies 1 s in.
  ip netns exec "$client" ping -i 0.01 -c 500 -W 1 "$target" >"$dir/ping.out" 2>&1 &
  local ping=$!
  sleep 1
  if head -1 "$dir/client.out" | grep -q "\"nse-a"; then kill -9 "$pid_a"; echo "killed nse-a" >&2; else kill -9 "$pid_b"; echo "killed nse-b" >&2; fi
  wait "$ping" || true
  local received
  received=$(grep -c "bytes from" "$dir/ping.out" || true)
  echo "healed to: $(tail -1 "$dir/client.out" | grep -o "\"networkServiceEndpointName\":\"[^\"]*\"")" >&2
  echo "$((500 - received)) 500"
}

echo "| Round | pings lost (10 ms apart) | traffic lost |"
echo "| ---: | ---: | ---: |"
for n in $(seq "$ROUNDS"); do
  read -r lost sent < <(round "$n")
  echo "| $n | $lost of $sent | $((lost * 10)) ms |"
done
