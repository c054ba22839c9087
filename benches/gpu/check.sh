#!/usr/bin/env bash
# The GPU check of fedrecon (README "GPU"): runs on a machine with an NVIDIA GPU and its driver,
# CUDA 13 (NVRTC; the CUDA headers for burn's JIT), Python 3 with PyTorch and numpy — and no Rust
# and no network — from the bundle that `benches/gpu/build-bundle.sh` builds elsewhere.
#
# Usage (from the repository root): benches/gpu/check.sh [BUNDLE_DIR]   (default target/gpu-bundle)
#
# (a) correctness on the device, against the CPU references shipped in the library:
#     - fedrecon-cuda's device tests: every kernel (Joseph parallel/fan forward and transpose, FBP,
#       FFT, SENSE, NUFFT type 1/2, Toeplitz) against the CPU operator, and the adjoint tests;
#     - `fedrecon device check --device cuda:0`: the physics ops on burn's CUDA backend (our kernels
#       on burn's buffers) forward and backward against the CPU, an unrolled LPD's forward against
#       the CPU, finite differences through it on the GPU;
#     - the CLI device tests: every `--device cuda` command (ct recon fbp/sirt, mri nufft/recon,
#       train, ct/mri recon --method model, fed simulate/compare) against its CPU run;
# (b) the same seeded LPD training (128², 60 views, batch 4) for 20 steps on cpu and cuda:0,
#     losses agreeing to 1e-3 relative at every step;
# (c) throughput as numbers (`fedrecon device bench`): Joseph GUPS and NUFFT points/s on the GPU
#     (and the CPU, for the ratio), ms per training step of LPD (128², 60 views, batch 4) and
#     E2E-VarNet (12 cascades, 15 coils, 320², batch 1), each next to the same step in PyTorch on
#     the same GPU (benches/peers/nn_step.py, varnet_step.py) as a ratio.
# Exits non-zero if any check fails. Every step runs under one 8-minute deadline.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bundle="${1:-target/gpu-bundle}"
deadline=$((SECONDS + ${CHECK_SECONDS:-470}))
work="$(mktemp -d)"
export work
trap 'rm -rf "$work"' EXIT
failed=()

left() { echo $((deadline - SECONDS)); }
step() { # step NAME CMD... — run under the remaining time, record a failure
    local name="$1"
    shift
    local t
    t="$(left)"
    echo "== $name"
    if [ "$t" -le 5 ]; then
        echo "-- FAIL (no time left): $name"
        failed+=("$name (no time left)")
        return 1
    fi
    local s=$SECONDS
    if timeout "$t" "$@"; then
        echo "-- ok ($((SECONDS - s)) s): $name"
    else
        echo "-- FAIL ($((SECONDS - s)) s): $name"
        failed+=("$name")
        return 1
    fi
}

# --- the bundle ---------------------------------------------------------------------------
[ -f "$bundle/fedrecon.xz" ] || { echo "check: no bundle in $bundle (benches/gpu/build-bundle.sh)" >&2; exit 2; }
cat "$bundle/MANIFEST"
xz -dc "$bundle/fedrecon.xz" >"$work/fedrecon"
mkdir -p "$work/tests"
for t in "$bundle"/tests/*.xz; do
    xz -dc "$t" >"$work/tests/$(basename "$t" .xz)"
done
chmod +x "$work/fedrecon" "$work"/tests/*
tar -C "$work" -xJf "$bundle/lib.tar.xz"
export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FEDRECON_BIN="$work/fedrecon"
fed="$work/fedrecon"

# --- NVRTC (our kernels) and the CUDA headers (burn's JIT) ----------------------------------
nvrtc=""
for d in $(ldconfig -p 2>/dev/null | awk '/libnvrtc\.so/{print $NF}' | xargs -r -n1 dirname) \
    /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import glob, site; print(" ".join(sorted({p.rsplit("/", 1)[0] for s in site.getsitepackages() for p in glob.glob(s + "/nvidia/**/libnvrtc.so*", recursive=True)})))' 2>/dev/null); do
    if ls "$d"/libnvrtc.so* >/dev/null 2>&1; then nvrtc="$d"; break; fi
done
[ -n "$nvrtc" ] && export FEDRECON_NVRTC_LIB="$nvrtc"
[ -z "${CUDA_PATH:-}" ] && [ -d /usr/local/cuda ] && export CUDA_PATH=/usr/local/cuda
echo "NVRTC: ${FEDRECON_NVRTC_LIB:-not found}; CUDA_PATH: ${CUDA_PATH:-unset}"
nvidia-smi -L || true
# a missing GPU or NVRTC is a failure here, not a skip
export FEDRECON_REQUIRE_GPU=1 FEDRECON_REQUIRE_NVRTC=1

# --- (a) correctness on the device ------------------------------------------------------------
step "kernels vs CPU operators + adjoint tests (fedrecon-cuda device tests)" "$work/tests/device"
step "NVRTC compiles every kernel file" "$work/tests/nvrtc"
step "device check: ops on burn's CUDA backend, LPD forward, finite differences" \
    "$fed" device check --device cuda:0
step "classical --device cuda commands vs CPU (CLI device tests)" "$work/tests/device_cli"
step "train / model recon / fed on cuda vs cpu (CLI device tests)" "$work/tests/device_nn_cli" --test-threads=2

# --- (b) the same seeded LPD training for 20 steps on cpu and cuda -----------------------------
cat >"$work/lpd20.toml" <<'EOF'
[model]
kind = "lpd"
[data]
source = "ct-phantom"
train_samples = 16
val_samples = 1
[data.ct]
size = 128
angles = 60
photons = 1e4
[train]
steps = 20
batch_size = 4
lr = 1e-4
loss = "mse"
clip_norm = 1.0
seed = 7
val_every = 1000
checkpoint_every = 1000
sample_pngs = 0
EOF
compare_losses() {
    python3 - "$work/lpd-cpu/metrics.csv" "$work/lpd-cuda/metrics.csv" <<'EOF'
import csv, sys
rows = [list(csv.DictReader(open(p))) for p in sys.argv[1:3]]
assert len(rows[0]) == len(rows[1]) == 20, [len(r) for r in rows]
worst = 0.0
for a, b in zip(*rows):
    x, y = float(a["loss"]), float(b["loss"])
    e = abs(x - y) / abs(x)
    worst = max(worst, e)
    print(f"step {a['step']:>2}: cpu {x:.6e}  cuda {y:.6e}  rel {e:.1e}")
print(f"largest relative loss difference over 20 steps: {worst:.2e} (tolerance 1e-3)")
sys.exit(0 if worst <= 1e-3 else 1)
EOF
}
export -f compare_losses
step "LPD 20 steps on cpu" "$fed" train --config "$work/lpd20.toml" --out "$work/lpd-cpu" --device cpu &&
    step "LPD 20 steps on cuda:0" "$fed" train --config "$work/lpd20.toml" --out "$work/lpd-cuda" --device cuda:0 &&
    step "LPD losses cpu vs cuda (1e-3 relative)" bash -c compare_losses

# --- (c) throughput ---------------------------------------------------------------------------
step "fedrecon device bench on cuda:0" "$fed" device bench --device cuda:0 --json "$work/gpu.json"
step "fedrecon device bench (ops) on the cpu" "$fed" device bench --device cpu --what ops --reps 3 --warmup 1 --json "$work/cpu.json"
step "Joseph matrix for the PyTorch LPD" "$fed" ct matrix --size 128 --angles 60 --detectors 183 -o "$work/A"
torch_lpd() { python3 benches/peers/nn_step.py --device cuda --torch-only --npy-matrix "$work/A" --repeat 5 --warmup 2 --threads 16 | tee "$work/torch-lpd.txt"; }
torch_varnet() { python3 benches/peers/varnet_step.py --device cuda --repeat 5 --warmup 2 | tee "$work/torch-varnet.txt"; }
export -f torch_lpd torch_varnet
step "PyTorch LPD step on cuda" bash -c torch_lpd
step "PyTorch E2E-VarNet step on cuda" bash -c torch_varnet
python3 - "$work" <<'EOF' || true
import json, os, sys
w = sys.argv[1]
def load(p):
    try:
        return json.load(open(os.path.join(w, p)))
    except (OSError, ValueError):
        return {}
def torch_ms(p):
    try:
        return next(float(l.split()[1]) for l in open(os.path.join(w, p)) if l.startswith("torch_ms:"))
    except (OSError, StopIteration):
        return None
g, c = load("gpu.json"), load("cpu.json")
print("| figure | fedrecon cuda | reference | ratio |")
print("|---|---|---|---|")
for k, unit in [("joseph_gups", "GUPS"), ("nufft_points_per_s", "points/s")]:
    if k in g and k in c:
        print(f"| {k} | {g[k]:.4g} {unit} | cpu {c[k]:.4g} | GPU/CPU {g[k] / c[k]:.1f}x |")
for k, peer in [("lpd_ms_per_step", "torch-lpd.txt"), ("varnet_ms_per_step", "torch-varnet.txt")]:
    t = torch_ms(peer)
    if k in g and t:
        print(f"| {k} | {g[k]:.1f} ms | PyTorch {t:.1f} ms | fedrecon/PyTorch time {g[k] / t:.2f} |")
EOF

echo
if [ ${#failed[@]} -eq 0 ]; then
    echo "GPU check passed ($SECONDS s)"
    exit 0
fi
echo "GPU check FAILED ($SECONDS s):"
printf '  - %s\n' "${failed[@]}"
exit 1
