#!/usr/bin/env bash
# Peer comparison of the CT projectors (see ct_projectors.py for what is measured and how).
#
#   benches/peers/run.sh [ct_projectors.py options, e.g. --repeat 9 --cases 512]
#
# Builds our timing binary in release mode, creates (once) a Python venv with the peers under
# target/peers-venv (pip install astra-toolbox scikit-image numpy) and runs the comparison.
# PEERS_PYTHON=/path/to/python uses an existing interpreter that has the three packages instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cargo build --release -p fedrecon-benches --bin ct_timing
if [ -n "${PEERS_PYTHON:-}" ]; then
    py="$PEERS_PYTHON"
else
    venv="$root/target/peers-venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c "import astra, skimage, numpy" 2>/dev/null; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet astra-toolbox scikit-image numpy
    fi
    py="$venv/bin/python"
fi
exec "$py" "$root/benches/peers/ct_projectors.py" "$@"
