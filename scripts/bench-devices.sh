#!/usr/bin/env bash
# Measures push approvals through the device channel with a release build: DEVICE_USERS devices
# (default 1000) registered and connected at once, the server's memory per idle connected device,
# then sign-in requests at RATE per second (default 200) for SECONDS (default 10): delivery
# (sent → received on the device) and round trip (sent → the approval seen by the waiting page).
# SQLite by default; COUNTERSIGN_BENCH_POSTGRES_URL=… runs two instances on one PostgreSQL schema,
# the devices connected to the first and the browsers on the second. Also prints the servers' CPU
# time per request while sending. With PIN=1 the server(s) run on CPU 0 and the load generator on
# CPU 1. Asserts nothing.
#   scripts/bench-devices.sh
set -euo pipefail
cd "$(dirname "$0")/.."
users="${DEVICE_USERS:-1000}"
rate="${RATE:-200}"
secs="${SECONDS_:-10}"
bin="${BIN_DIR:-./target/release}"
[[ -n "${BIN_DIR:-}" ]] || cargo build --release -q -p countersign -p countersign-load
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
data="$(mktemp -d)"
args=(--data-dir "$data")
if [[ -n "${COUNTERSIGN_BENCH_POSTGRES_URL:-}" ]]; then
  args=(--database-url "$COUNTERSIGN_BENCH_POSTGRES_URL")
  export COUNTERSIGN_DATABASE_SCHEMA="bench_$(date +%s)"
fi
cs=$bin/countersign
srv_pin=(); gen_pin=()
if [[ "${PIN:-0}" == 1 ]]; then srv_pin=(taskset -c 0); gen_pin=(taskset -c 1); fi
RUST_LOG=warn "${srv_pin[@]}" $cs "${args[@]}" serve --demo --listen 127.0.0.1:18089 >"$data/serve.log" 2>&1 &
pid=$!
pids=($pid)
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18089/healthz >/dev/null && break; sleep 0.2; done
browser_base=http://127.0.0.1:18089
if [[ -n "${COUNTERSIGN_BENCH_POSTGRES_URL:-}" ]]; then
  # The second instance, where the browsers sign in (public_url as the first, so one issuer).
  RUST_LOG=warn "${srv_pin[@]}" $cs "${args[@]}" serve --listen 127.0.0.1:18090 --public-url http://localhost:18089 \
    >"$data/serve2.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18090/healthz >/dev/null && break; sleep 0.2; done
  browser_base=http://127.0.0.1:18090
fi
export CS_BIN=$cs CS_ARGS="${args[*]}"
seq 0 $((users - 1)) | xargs -r -P 2 -I{} sh -c 'echo tulip-harbor-lantern | $CS_BIN $CS_ARGS \
  admin user create "load{}@contoso.com" --tenant contoso --display-name "Load {}" --password-stdin >/dev/null'
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r); store: ${COUNTERSIGN_BENCH_POSTGRES_URL:+postgres, two instances}${COUNTERSIGN_BENCH_POSTGRES_URL:-sqlite}"
echo "$users devices, $rate requests/s for $secs s, pinned: ${PIN:-0}"
pid_args=()
for p in "${pids[@]}"; do pid_args+=(--server-pid "$p"); done
"${gen_pin[@]}" $bin/countersign-load --base http://127.0.0.1:18089 --browser-base "$browser_base" --scenarios devices \
  --users "$users" --rate "$rate" --duration "$secs" --concurrency 8 "${pid_args[@]}"
echo "server RSS after load: $(awk '/VmRSS/{print $2 " " $3}' /proc/$pid/status)"
