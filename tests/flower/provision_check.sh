#!/usr/bin/env bash
# Check a `fedrecon fed provision` kit against a real Flower 1.42 SuperLink and SuperNode on
# loopback:
#   1. flower-superlink starts with the kit's CA, certificate and key and --enable-supernode-auth;
#   2. superlink/register-supernodes.sh registers every site's key (`flwr supernode register`);
#   3. a SuperNode with site a's key and the kit's ca.crt connects (`flwr supernode list`: online);
#   4. a SuperNode whose key was not registered exits 1 within seconds;
#   5. a SuperNode with a registered key (site b) but another CA's certificate exits 1.
#
# Usage: tests/flower/provision_check.sh [--keep]
# Environment:
#   FEDRECON    the fedrecon binary (default: target/debug/fedrecon, target/release/fedrecon)
#   FLWR_VENV   a venv with flwr 1.42 (default: /work/flwr-venv)
#   PROVISION_HOSTS  --hosts of the kit (default localhost,127.0.0.1; the checks connect to
#               127.0.0.1, so a list without it must fail them)
#   WAIT_S      how long to wait for the SuperLink to answer and for the SuperNode to show
#               online (default 45 s each; both take 2–7 s on 2 cores)
#   CHECK_JSON  if set, write {"passed": bool, "checks": [{"name", "passed", "detail"}]} there
# Exits 0 when every check passed, 1 otherwise; every process it started is killed (process
# groups) on exit. --keep keeps the temporary directory (kits, logs) and prints its path.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
keep=0
[ "${1:-}" = "--keep" ] && keep=1
venv="${FLWR_VENV:-/work/flwr-venv}"
wait_s="${WAIT_S:-45}"
fedrecon="${FEDRECON:-}"
if [ -z "$fedrecon" ]; then
    for b in "$root/target/debug/fedrecon" "$root/target/release/fedrecon"; do
        [ -x "$b" ] && fedrecon="$b" && break
    done
fi
[ -x "${fedrecon:-}" ] || { echo "provision_check: no fedrecon binary (set FEDRECON or build it)" >&2; exit 1; }
[ -x "$venv/bin/flower-superlink" ] || { echo "provision_check: no flower-superlink in $venv/bin (set FLWR_VENV)" >&2; exit 1; }
export PATH="$venv/bin:$PATH"

tmp="$(mktemp -d -t provision-check.XXXXXX)"
export FLWR_HOME="$tmp/flwr-home"
mkdir -p "$FLWR_HOME"
pgids=()

# every descendant of the given pids (SuperLink and SuperNode start flower-superexec and
# flwr-clientapp children, some in sessions of their own)
descendants() {
    local p c
    for p in "$@"; do
        for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do
            echo "$c"
            descendants "$c"
        done
    done
}

cleanup() {
    local g pids i
    pids="$(descendants "${pgids[@]}")"
    for g in "${pgids[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
    for g in $pids; do kill -TERM "$g" 2>/dev/null; done
    for i in $(seq 1 20); do
        alive=0
        for g in "${pgids[@]}" $pids; do kill -0 "$g" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.25
    done
    for g in "${pgids[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
    for g in $pids; do kill -KILL "$g" 2>/dev/null; done
    if [ "$keep" = 1 ]; then echo "provision_check: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start "$log" cmd...: run in its own process group (setsid), remember the group id
start() {
    local log="$1"; shift
    setsid "$@" >"$log" 2>&1 &
    pgids+=("$!")
    last_pid=$!
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

names=() results=() details=()
record() { # name passed(0/1) detail
    names+=("$1") results+=("$2") details+=("$3")
    if [ "$2" = 1 ]; then echo "PASS $1: $3"; else echo "FAIL $1: $3"; fi
}

write_json() {
    [ -n "${CHECK_JSON:-}" ] || return 0
    python3 - "$CHECK_JSON" "${#names[@]}" "${names[@]}" "${results[@]}" "${details[@]}" <<'EOF'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
a = sys.argv[3:]
checks = [{"name": a[i], "passed": a[n + i] == "1", "detail": a[2 * n + i]} for i in range(n)]
json.dump({"passed": bool(checks) and all(c["passed"] for c in checks), "checks": checks},
          open(path, "w"), indent=2)
EOF
}

finish() {
    write_json
    local r
    for r in "${results[@]}"; do [ "$r" = 1 ] || exit 1; done
    [ "${#results[@]}" -gt 0 ] || exit 1
    echo "provision_check: all ${#results[@]} checks passed"
    exit 0
}

kits="$tmp/kits"
other="$tmp/other"
"$fedrecon" fed provision --sites a,b,c --out "$kits" --hosts "${PROVISION_HOSTS:-localhost,127.0.0.1}" || { record provision 0 "fedrecon fed provision failed"; finish; }
# a second, independent kit: its key is not registered and its CA did not sign the SuperLink
"$fedrecon" fed provision --sites intruder --out "$other" || { record provision 0 "second kit failed"; finish; }
record provision 1 "kits written by $fedrecon"

port="$(free_port)"
start "$tmp/superlink.log" flower-superlink \
    --ssl-ca-certfile "$kits/superlink/ca.crt" \
    --ssl-certfile "$kits/superlink/server.pem" \
    --ssl-keyfile "$kits/superlink/server.key" \
    --enable-supernode-auth --disable-runtime-dependency-installation \
    --host 127.0.0.1 --port "$port"
superlink_pid=$last_pid

cat >"$FLWR_HOME/config.toml" <<EOF
[superlink]
default = "check"

[superlink.check]
address = "127.0.0.1:$port"
root-certificates = "$kits/superlink/ca.crt"
EOF

# the `flwr supernode list` JSON on stdout; fails unless flwr reports success (with --format
# json, flwr 1.42 exits 0 even when it cannot reach the SuperLink: {"success": false, ...})
nodes() {
    local out
    out="$(flwr supernode list check --format json 2>/dev/null)" || return 1
    printf '%s' "$out" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("success") is True else 1)' 2>/dev/null || return 1
    printf '%s\n' "$out"
}
count_status() { # status -> number of nodes with that status (-1: no answer)
    local out
    out="$(nodes)" || { echo -1; return; }
    printf '%s' "$out" | python3 -c 'import json,sys
print(sum(n["status"]==sys.argv[1] for n in json.load(sys.stdin)["nodes"]))' "$1"
}

t0=$SECONDS
up=0
while [ $((SECONDS - t0)) -lt "$wait_s" ]; do
    kill -0 "$superlink_pid" 2>/dev/null || break
    if nodes >/dev/null; then up=1; break; fi
    sleep 1
done
if [ "$up" = 1 ]; then
    record superlink-tls 1 "SuperLink up with the kit's certificate on 127.0.0.1:$port, Control API answers over TLS with the kit's CA after $((SECONDS - t0)) s"
else
    record superlink-tls 0 "SuperLink not reachable after $((SECONDS - t0)) s: $(tail -5 "$tmp/superlink.log" | tr '\n' ' ')"
    finish
fi

if "$kits/superlink/register-supernodes.sh" check >"$tmp/register.out" 2>"$tmp/register.err"; then
    n="$(count_status registered)"
    if [ "$n" = 3 ]; then
        record register 1 "register-supernodes.sh check: exit 0, 3 nodes registered"
    else
        record register 0 "register-supernodes.sh exit 0 but $n nodes show as registered"
    fi
else
    record register 0 "register-supernodes.sh failed: $(tail -3 "$tmp/register.err" | tr '\n' ' ')"
    finish
fi

start "$tmp/supernode-a.log" flower-supernode --superlink "127.0.0.1:$port" \
    --root-certificates "$kits/sites/a/ca.crt" \
    --auth-supernode-private-key "$kits/sites/a/a" \
    --host 127.0.0.1 --port "$(free_port)" --node-config 'site-name="a"'
a_pid=$last_pid
t0=$SECONDS
online=0
while [ $((SECONDS - t0)) -lt "$wait_s" ]; do
    kill -0 "$a_pid" 2>/dev/null || break
    if [ "$(count_status online)" = 1 ]; then online=1; break; fi
    sleep 1
done
if [ "$online" = 1 ]; then
    record supernode-connects 1 "SuperNode a (registered key, kit CA) online after $((SECONDS - t0)) s"
else
    record supernode-connects 0 "SuperNode a not online after $((SECONDS - t0)) s (alive: $(kill -0 "$a_pid" 2>/dev/null && echo yes || echo no)): $(tail -5 "$tmp/supernode-a.log" | tr '\n' ' ')"
fi

# refused_node name key ca marker: the SuperNode must exit 1 by itself within 30 s, its log
# naming the reason (marker: an extended regex)
refused_node() {
    local name="$1" key="$2" ca="$3" marker="$4" t rc why
    t=$SECONDS
    timeout -k 5 30 flower-supernode --superlink "127.0.0.1:$port" \
        --root-certificates "$ca" --auth-supernode-private-key "$key" \
        --host 127.0.0.1 --port "$(free_port)" >"$tmp/$name.log" 2>&1
    rc=$?
    why="$(grep -m1 -oE "$marker" "$tmp/$name.log")"
    if [ "$rc" = 1 ] && [ -n "$why" ]; then
        record "$name" 1 "exit 1 after $((SECONDS - t)) s: $why"
    else
        record "$name" 0 "exit $rc after $((SECONDS - t)) s (expected 1 and /$marker/ in the log): $(tail -3 "$tmp/$name.log" | tr '\n' ' ')"
    fi
}
refused_node unregistered-key "$other/sites/intruder/intruder" "$kits/sites/a/ca.crt" \
    'code: 2004\] Failed to activate SuperNode'
refused_node wrong-ca "$kits/sites/b/b" "$other/sites/intruder/ca.crt" \
    'CERTIFICATE_VERIFY_FAILED\] certificate verify failed[a-z ]*'

n="$(count_status online)"
if [ "$n" = 1 ]; then
    record still-one-online 1 "after the refused SuperNodes exactly 1 node is online"
else
    record still-one-online 0 "$n nodes online after the refused SuperNodes (expected 1)"
fi
finish
