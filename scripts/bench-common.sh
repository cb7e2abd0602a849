# Shared by the bench scripts (sourced, not run): the binaries, a fresh store, the server(s) and
# the prepared users.
#   BIN_DIR=dir   measure the countersign and countersign-load binaries there instead of building
#   COUNTERSIGN_BENCH_POSTGRES_URL=…   PostgreSQL (a fresh schema) instead of SQLite in a temp dir
#   PIN=1         servers on CPU 0, load generator on CPU 1 (use "${gen_pin[@]}" before it)
bin="${BIN_DIR:-./target/release}"
[[ -n "${BIN_DIR:-}" ]] || cargo build --release -q -p countersign -p countersign-load
data="$(mktemp -d)"
args=(--data-dir "$data")
if [[ -n "${COUNTERSIGN_BENCH_POSTGRES_URL:-}" ]]; then
  args=(--database-url "$COUNTERSIGN_BENCH_POSTGRES_URL")
  export COUNTERSIGN_DATABASE_SCHEMA="bench_$(date +%s)"
fi
cs=$bin/countersign
srv_pin=(); gen_pin=()
if [[ "${PIN:-0}" == 1 ]]; then srv_pin=(taskset -c 0); gen_pin=(taskset -c 1); fi
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$data"' EXIT

# serve PORT [serve arguments…]: starts a server on 127.0.0.1:PORT, waits until it answers;
# its pid is appended to `pids` (the first one is `pid`).
serve() {
  local port=$1
  shift
  RUST_LOG=warn "${srv_pin[@]}" $cs "${args[@]}" serve --listen "127.0.0.1:$port" "$@" \
    >"$data/serve-$port.log" 2>&1 &
  pids+=($!)
  pid=${pids[0]}
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
}

# users N: load0@contoso.com … with one password, created with the admin CLI (one Argon2 hash
# each), two at once.
users() {
  export CS_BIN=$cs CS_ARGS="${args[*]}"
  seq 0 $(($1 - 1)) | xargs -r -P 2 -I{} sh -c 'echo tulip-harbor-lantern | $CS_BIN $CS_ARGS \
    admin user create "load{}@contoso.com" --tenant contoso --display-name "Load {}" --password-stdin >/dev/null'
}
