#!/usr/bin/env bash
# fedrecon vs BART pics: non-Cartesian (radial) CG-SENSE, 1 and 2 threads (see mri_radial.py).
# Builds the release binary, installs BART from Debian if `bart` is not on PATH, and uses a venv
# with numpy (VENV, default target/peers/mri-recon-venv, shared with mri_recon_run.sh).
# Usage: benches/peers/mri_radial_run.sh [mri_radial.py options, e.g. --repeat 5 --instructions]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. benches/peers/common.sh
venv="${VENV:-target/peers/mri-recon-venv}"
peer_venv "$venv" numpy
ensure_bart
cargo build --release -p fedrecon --bin fedrecon
exec "$venv/bin/python" benches/peers/mri_radial.py "$@"
