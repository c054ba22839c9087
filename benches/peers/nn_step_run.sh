#!/usr/bin/env bash
# PyTorch vs fedrecon LPD training step (see nn_step.py): builds the release timing binary,
# makes a venv with torch and numpy from plain PyPI, and runs both on 2 threads in one run.
# Usage: benches/peers/nn_step_run.sh [--repeat N]
# Environment: VENV (default target/peers/nn-venv), PYTHON (default python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. benches/peers/common.sh
venv="${VENV:-target/peers/nn-venv}"
peer_venv "$venv" numpy torch
cargo build --release -p fedrecon-benches --bin nn_step_timing
mkdir -p target/peers
exec "$venv/bin/python" benches/peers/nn_step.py --binary target/release/nn_step_timing \
    --matrix target/peers/lpd_joseph_128 "$@"
