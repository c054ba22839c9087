#!/usr/bin/env bash
# FINUFFT vs fedrecon NUFFT benchmark (see mri_nufft.py): builds the release binary, makes a
# Python venv with finufft and numpy (pip), and runs both on the same points in one run.
# Usage: benches/peers/mri_nufft_run.sh [mri_nufft.py options, e.g. --repeat 7 --threads 1,2]
# Environment: VENV (default target/peers/mri-venv), PYTHON (default python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. benches/peers/common.sh
venv="${VENV:-target/peers/mri-venv}"
peer_venv "$venv" numpy finufft
cargo build --release -p fedrecon
exec "$venv/bin/python" benches/peers/mri_nufft.py --binary target/release/fedrecon "$@"
