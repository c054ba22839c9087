#!/usr/bin/env bash
# Issue 15's personalisation benchmark: `fed compare` of every method on the three heterogeneous
# site sets and the demo sites (null control), three run seeds each, in release; then the claims
# check (benches/fed/claims.py). Usage: benches/fed/run.sh [OUT=runs/bench] [SEEDS=0,1,2]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-runs/bench}"
seeds="${2:-0,1,2}"
methods=local,fedavg,fedprox,fedbn,hyperfed,hyperfed-shared,fedfdd,fdd-fedavg,central,central-onehot
.ci/install-deps
cargo build --release -p fedrecon
bin="${CARGO_TARGET_DIR:-target}/release/fedrecon"
mkdir -p "$out"
for cfg in demo hetero-kernels hetero-physics hetero-anatomy; do
    start=$(date +%s)
    "$bin" fed compare --config "configs/$cfg.toml" --methods "$methods" --seeds "$seeds" \
        --out "$out/$cfg" --json "$out/$cfg.json" 2> "$out/$cfg.log"
    echo "$cfg: $(( $(date +%s) - start )) s"
done
python3 benches/fed/claims.py "$out"
