#!/usr/bin/env bash
# Builds the bundle that `benches/gpu/check.sh` runs on a GPU machine without Rust or network.
# Runs here (no GPU needed), offline but for PyPI: LLVM for burn's CUDA backend comes from
# `.ci/install-llvm`.
#
# Usage: benches/gpu/build-bundle.sh [OUT_DIR]     (default target/gpu-bundle)
#
# OUT_DIR gets:
#   fedrecon.xz           the release `fedrecon` with `--features cuda` (burn's CUDA backend + our
#                         kernels), stripped, xz -9
#   tests/*.xz            release test binaries, stripped, xz -9: fedrecon-cuda's `device`
#                         (every kernel against the CPU operator, adjoint tests, on the GPU) and
#                         `nvrtc`; the CLI's `device_cli` and `device_nn_cli` (every --device cuda
#                         command against the CPU; they run the bundled binary via FEDRECON_BIN)
#   lib/                  the shared libraries the binaries need beyond glibc (libhdf5 and its
#                         dependencies), as found by ldd here
#   MANIFEST              what was built from which commit, and the sizes
# One cargo invocation builds the binary and the CLI tests (one feature resolution, one build of
# burn); the fedrecon-cuda tests do not link burn. Cold: about 25 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="${1:-target/gpu-bundle}"
.ci/install-deps
.ci/install-llvm >/dev/null
rm -rf "$out"
mkdir -p "$out/tests" "$out/lib"

executables() { # cargo JSON messages on stdin → the test executables' paths
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])
'
}

cli_tests="$(cargo test --release --no-run -p fedrecon --features cuda \
    --test device_cli --test device_nn_cli --message-format=json | executables)"
cuda_tests="$(cargo test --release --no-run -p fedrecon-cuda --features cuda \
    --test device --test nvrtc --message-format=json | executables)"
bin=target/release/fedrecon
[ -x "$bin" ] || { echo "build-bundle: $bin missing" >&2; exit 1; }

pack() { # pack SRC DEST_WITHOUT_XZ
    strip -o "$2" "$1"
    xz -9 -T0 -f "$2"
}
pack "$bin" "$out/fedrecon"
for t in $cli_tests $cuda_tests; do
    name="$(basename "$t" | sed 's/-[0-9a-f]*$//')"
    pack "$t" "$out/tests/$name"
done
# shared libraries beyond glibc and the compiler runtime
for f in "$bin" $cli_tests; do ldd "$f"; done | awk '/=> \//{print $3}' | sort -u |
    grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$out/lib/"; done
tar -C "$out" -cJf "$out/lib.tar.xz" lib && rm -rf "$out/lib"
{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet || echo ' (dirty)')"
    echo "built $(date -u +%FT%TZ) on $(uname -m), $(ldd --version | head -n1)"
    (cd "$out" && find . -type f ! -name MANIFEST -printf '%s %p\n' | sort -k2)
    echo "total $(du -sb "$out" | cut -f1) bytes"
} >"$out/MANIFEST"
cat "$out/MANIFEST"
