#!/usr/bin/env bash
# fedrecon vs BART pics vs sigpy: CG-SENSE and L1-wavelet at equal iterations on the same
# simulated 15-coil 640 x 368 slice (see mri_recon.py). Builds the release binaries, makes a
# Python venv with sigpy and numpy (pip), installs BART from Debian if `bart` is not on PATH
# (apt-get, with sudo when not root), and prints one table with times, ratios and NMSEs.
# Usage: benches/peers/mri_recon_run.sh [mri_recon.py options, e.g. --repeat 5 --threads 1]
# Environment: VENV (default target/peers/mri-recon-venv), PYTHON (default python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. benches/peers/common.sh
venv="${VENV:-target/peers/mri-recon-venv}"
peer_venv "$venv" numpy sigpy
ensure_bart
cargo build --release -p fedrecon -p fedrecon-benches --bin fedrecon --bin mri_recon_data
mkdir -p target/peers/mri-recon
exec "$venv/bin/python" benches/peers/mri_recon.py "$@"
