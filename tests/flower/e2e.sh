#!/usr/bin/env bash
# End-to-end federation on Flower 1.42 over loopback: a real flower-superlink (TLS, SuperNode
# authentication) and three flower-supernode processes running the demo's sites, certificates
# from `fedrecon fed provision`; scenarios normal, site-killed, unauthorised-node, no-ca,
# secagg, dp (tests/flower/e2e.py says what each asserts). Writes $OUT/e2e.json (default
# target/flower-e2e). Needs target/debug/fedrecon (cargo build -p fedrecon) and installs, into
# the venv .ci/python-tests uses (target/python-venv), flwr[dp]==1.42.0 and the `fed` wheel.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
out="${OUT:-target/flower-e2e}"
venv=target/python-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q numpy "flwr[dp]==1.42.0"
if ! "$venv/bin/python" -c 'import fedrecon.fed as f; assert f.available()' 2>/dev/null; then
    MATURIN_PEP517_ARGS="--features fed" "$venv/bin/python" -m pip install -q ./crates/python
fi
[ -x target/debug/fedrecon ] || cargo build -p fedrecon
export PATH="$PWD/$venv/bin:$PATH"
# the app's options, site policy and refusals, before any process starts
PYTHONPATH=crates/python/flower "$venv/bin/python" -m pytest -q -p no:warnings crates/python/flower/tests
set +e
timeout 900 "$venv/bin/python" tests/flower/e2e.py --out "$out" "$@"
rc=$?
set -e
echo "flower-e2e: $(( $(date +%s) - start )) s (rc $rc)" >&2
exit $rc
