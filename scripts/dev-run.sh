#!/usr/bin/env bash
# `make run`: the receiver and the worker on this machine.
#
# With ATLASSIAN_CLIENT_ID set (in the environment or ./.env) they talk to the
# real Atlassian. Without it they run against confsync-sim, the simulator:
# documents go to a local JSONL file instead of AINexLayer's indexer, and a
# demo tenant is connected at once (the consent a browser would give, driven
# with curl), so documents appear in target/dev/documents.jsonl within seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "run: $*" >&2; exit 1; }

if [ -f .env ]; then
  set -a; . ./.env; set +a
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && [ -z "${REDIS_URL:-}" ]; then
  command -v redis-server >/dev/null || fail "Redis is not running and redis-server is not installed (apt-get install redis-server)"
  echo "run: starting a local redis-server (no persistence, loopback only)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
fi

cargo build --bins --locked
bin="${CARGO_TARGET_DIR:-target}/debug"
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
receiver=http://127.0.0.1:8000
api_token="${API_TOKEN:-dev-api-token}"
simulated=false

if [ -z "${ATLASSIAN_CLIENT_ID:-}" ]; then
  simulated=true
  command -v curl >/dev/null || fail "curl is needed to connect the demo tenant"
  command -v python3 >/dev/null || fail "python3 is needed to read the simulator's address file"
  rm -f "$dev/sim.json"
  "$bin/confsync-sim" --seed 42 --sites 2 --pages 500 \
    --client-id dev-client --client-secret dev-secret \
    --indexer-token dev-indexer-token \
    --addr-file "$dev/sim.json" > "$dev/sim.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$dev/sim.json" ] && break; sleep 0.1; done
  [ -s "$dev/sim.json" ] || fail "the simulator did not start; see $dev/sim.log"
  json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$dev/sim.json" "$1"; }
  export ATLASSIAN_CLIENT_ID=dev-client ATLASSIAN_CLIENT_SECRET=dev-secret
  export ATLASSIAN_AUTH_URL="$(json auth_url)" ATLASSIAN_API_URL="$(json api_url)"
  export CONFLUENCE_REDIRECT_URI="$redirect_uri"
  documents="$dev/documents.jsonl"
  export INDEXER_URL="${INDEXER_URL:-file://$documents}"
  # A fresh simulator each run: start its Redis state and its index afresh
  # too, under a key prefix of their own (never the real one).
  export CONFSYNC__REDIS__KEY_PREFIX="${CONFSYNC__REDIS__KEY_PREFIX:-confsync-dev-sim:}"
  redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" --scan --pattern "${CONFSYNC__REDIS__KEY_PREFIX}*" \
    | xargs -r -n 500 redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" unlink >/dev/null
  rm -f "$documents"
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

for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$receiver/readyz")" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$receiver/readyz")" = 200 ] \
  || fail "the receiver is not ready on $receiver (is port 8000 taken?)"

if $simulated; then
  # What AINexLayer's backend and the user's browser would do: ask for the
  # consent URL, follow Atlassian's (the simulator's) redirect to the
  # callback, and land on the receiver.
  add=$(curl -fsS -H "Authorization: Bearer $api_token" \
    "$receiver/api/v1/auth/confluence/connector/add?tenant_id=demo") \
    || fail "the connect request was refused (API_TOKEN?)"
  auth_url=$(printf '%s' "$add" | python3 -c 'import json,sys; print(json.load(sys.stdin)["auth_url"])') \
    || fail "no auth_url in the connect answer: $add"
  callback=$(curl -fsS -o /dev/null -w '%{redirect_url}' "$auth_url") \
    || fail "the simulator's consent page did not answer"
  [ -n "$callback" ] || fail "the simulator's consent did not redirect to the callback"
  connected=$(curl -fsS -H 'Accept: application/json' "$callback") \
    || fail "the callback failed: $(curl -s -H 'Accept: application/json' "$callback")"
  echo "run: connected demo tenant: $connected"
  for _ in $(seq 1 300); do [ -s "$documents" ] && break; sleep 0.1; done
  [ -s "$documents" ] || fail "no document reached $documents within 30 s; see the worker's log above"
  sleep 2
  echo "run: $(wc -l < "$documents") documents so far in $documents (the full sync goes on); e.g.:"
  head -c 400 "$documents"; echo " …"
fi

cat <<MSG
run: receiver on $receiver (health /healthz, metrics /metrics), worker ops on http://127.0.0.1:9464
run: connect a site:  curl -H 'Authorization: Bearer $api_token' \\
       '$receiver/api/v1/auth/confluence/connector/add?tenant_id=demo&return_to=http://localhost:3000/'
run: Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
