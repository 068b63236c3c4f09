#!/usr/bin/env bash
# `make run`: the receiver and the worker on this machine.
#
# With ATLASSIAN_CLIENT_ID set (in the environment or ./.env) they talk to the
# real Atlassian. Without it they run against confsync-sim, the simulator, and
# documents go to a local JSONL file instead of AINexLayer's indexer.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f .env ]; then
  set -a; . ./.env; set +a
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && [ -z "${REDIS_URL:-}" ]; then
  command -v redis-server >/dev/null || { echo "run: Redis is not running and redis-server is not installed (apt-get install redis-server)"; exit 1; }
  echo "run: starting a local redis-server (no persistence, loopback only)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
fi

cargo build --bins --locked
bin=target/debug
dev=target/dev
mkdir -p "$dev"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

export RUST_LOG="${RUST_LOG:-info,confsync=debug}"
redirect_uri="${CONFLUENCE_REDIRECT_URI:-http://localhost:8000/api/v1/auth/confluence/connector/callback}"

if [ -z "${ATLASSIAN_CLIENT_ID:-}" ]; then
  rm -f "$dev/sim.json"
  "$bin/confsync-sim" --seed 42 --sites 2 --pages 500 \
    --client-id dev-client --client-secret dev-secret \
    --indexer-token dev-indexer-token \
    --addr-file "$dev/sim.json" > "$dev/sim.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$dev/sim.json" ] && break; sleep 0.1; done
  [ -s "$dev/sim.json" ] || { echo "run: the simulator did not start; see $dev/sim.log"; exit 1; }
  json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dev/sim.json" "$1"; }
  export ATLASSIAN_CLIENT_ID=dev-client ATLASSIAN_CLIENT_SECRET=dev-secret
  export ATLASSIAN_AUTH_URL="$(json auth_url)" ATLASSIAN_API_URL="$(json api_url)"
  export CONFLUENCE_REDIRECT_URI="$redirect_uri"
  export INDEXER_URL="${INDEXER_URL:-file://$dev/documents.jsonl}"
  cat <<MSG
run: no Atlassian credentials (ATLASSIAN_CLIENT_ID is unset), so confsync runs against
     the simulator confsync-sim (auth $ATLASSIAN_AUTH_URL, api $ATLASSIAN_API_URL)
     and writes documents to $INDEXER_URL instead of AINexLayer's indexer.
MSG
fi

"$bin/confsync-receiver" &
pids+=($!)
"$bin/confsync-worker" &
pids+=($!)

cat <<MSG
run: receiver on http://127.0.0.1:8000 (health /healthz, metrics /metrics), worker ops on http://127.0.0.1:9464
run: connect a site:  curl -H 'Authorization: Bearer ${API_TOKEN:-dev-api-token}' \\
       'http://127.0.0.1:8000/api/v1/auth/confluence/connector/add?tenant_id=demo&return_to=http://localhost:3000/'
run: Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
