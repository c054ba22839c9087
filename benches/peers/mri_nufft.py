#!/usr/bin/env python3
"""FINUFFT vs fedrecon: 2-D NUFFT types 1 and 2 on the same points, same run.

Setting: M random points uniform in [-0.5, 0.5)^2 cycles/pixel, an N x N image, tolerance eps,
single precision (complex64), upsampling 2. Both sides are timed on the transform alone (after
planning / point sorting: FINUFFT's `Plan.setpts`, fedrecon's `NufftPlan::new`), median of
`--repeat` runs. fedrecon runs as `fedrecon mri nufft --repeat R`, which prints `time_ms:`.

Conventions (see crates/physics/src/mri/nufft.rs): fedrecon's type 2 is
    y_m = sum_{i,j} f[i, j] exp(-2 pi i (kx_m (j - N/2) + ky_m (i - N/2))),
image rows i <-> y. FINUFFT's nufft2d2 with modeord=0 (modes -N/2..N/2-1 along each axis, the
first array axis paired with the first coordinate) and isign=-1 is
    c_j = sum_{k1,k2} f[k1, k2] exp(-i (k1 x_j + k2 y_j)),
so x_j = 2 pi ky_j, y_j = 2 pi kx_j with the same array f. Type 1 is the adjoint (isign=+1) on
both sides. Neither side normalises.

Accuracy: a double-precision FINUFFT run at eps = 1e-12 on the same data is the reference;
the table gives each single-precision output's relative L2 error against it and the relative L2
difference between the two. FINUFFT's single-precision interface takes float32 coordinates in
radians, whose rounding (relative 6e-8, phases up to pi N / 2) costs it about 1e-5 at N = 256;
fedrecon reads float32 cycles/pixel and keeps coordinates in f64. For an equal-accuracy
comparison the table also times FINUFFT in double precision (complex128, same eps). The script exits non-zero if our error exceeds --max-diff.

Ratios are FINUFFT's time over ours (> 1: we are faster), at each of --threads (default 1 and 2).
--instructions also counts the instructions of one transform at 1 thread for both (valgrind's
callgrind, the difference between two and one repetitions; see instructions.py), which, unlike
wall time, does not move with other load on the machine.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import finufft
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import instructions  # noqa: E402


def median_time(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times)), out


def finufft_run(kind, kx, ky, data, n, eps, threads, repeat, dtype="complex64"):
    """Median execute time (ms) of a planned FINUFFT transform and its output."""
    isign = -1 if kind == 2 else +1
    real = np.float32 if dtype == "complex64" else np.float64
    plan = finufft.Plan(
        kind, (n, n), n_trans=1, eps=eps, isign=isign, dtype=dtype,
        nthreads=threads, upsampfac=2.0, modeord=0,
    )
    # first coordinate pairs with the first (row, y) axis; the float32 points are used as given
    x = (2 * np.pi * ky.astype(np.float64)).astype(real)
    y = (2 * np.pi * kx.astype(np.float64)).astype(real)
    plan.setpts(x, y)
    # converted once, outside the timed call (an 8 MB copy per call for 10⁶ points)
    data = np.ascontiguousarray(data, dtype=dtype)
    return median_time(lambda: plan.execute(data), repeat)


def ours_cmd(binary, kind, traj_path, in_path, out_path, n, eps, repeat):
    return [
        binary, "mri", "nufft", "--type", str(kind), "--traj", traj_path,
        "--input", in_path, "--size", str(n), "--eps", str(eps), "--upsampling", "2",
        "-o", out_path, "--repeat", str(repeat),
    ]


def finufft_loop(kind, d, n, eps, in_path):
    """`make_cmd(k)` for instructions.marginal: FINUFFT (complex64, 1 thread) planned on the same
    points as finufft_run, then executed k times."""
    setup = (
        "import numpy as np, finufft\n"
        f"t = np.load('{os.path.join(d, 'traj.npy')}').astype(np.float64)\n"
        f"data = np.load('{in_path}').astype(np.complex64)\n"
        f"plan = finufft.Plan({kind}, ({n}, {n}), n_trans=1, eps={eps!r}, "
        f"isign={-1 if kind == 2 else 1}, dtype='complex64', nthreads=1, upsampfac=2.0, modeord=0)\n"
        "plan.setpts((2 * np.pi * t[:, 1]).astype(np.float32), (2 * np.pi * t[:, 0]).astype(np.float32))"
    )
    return instructions.python_loop(sys.executable, setup, "plan.execute(data)")


def ours_run(binary, kind, traj_path, in_path, out_path, n, eps, threads, repeat):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    cmd = ours_cmd(binary, kind, traj_path, in_path, out_path, n, eps, repeat)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    ms = [float(l.split()[1]) for l in p.stderr.splitlines() if l.startswith("time_ms:")]
    if not ms:
        sys.exit(f"no time_ms: line from {' '.join(cmd)}:\n{p.stderr}")
    return ms[0], np.load(out_path)


def rel_l2(a, b):
    a = a.astype(np.complex128).ravel()
    b = b.astype(np.complex128).ravel()
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="target/release/fedrecon")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--eps", type=float, default=1e-6)
    ap.add_argument("--ours-eps", type=float, default=None,
                    help="our tolerance (default --eps): e.g. the loosest one whose achieved error "
                    "is still below FINUFFT's at --eps, for a matched-accuracy comparison; the "
                    "errors are printed either way")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--instructions", action="store_true",
                    help="also count the instructions of one transform at 1 thread (callgrind)")
    ap.add_argument("--max-diff", type=float, default=None,
                    help="fail if our relative L2 error vs the f64 reference exceeds this "
                    "(default 10 eps)")
    args = ap.parse_args()
    n, m, eps = args.size, args.points, args.eps
    ours_eps = args.ours_eps if args.ours_eps is not None else eps
    max_err = args.max_diff if args.max_diff is not None else 10 * ours_eps
    rng = np.random.default_rng(args.seed)
    kx = rng.uniform(-0.5, 0.5, m).astype(np.float32)
    ky = rng.uniform(-0.5, 0.5, m).astype(np.float32)
    image = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))).astype(np.complex64)
    samples = (rng.standard_normal(m) + 1j * rng.standard_normal(m)).astype(np.complex64)

    print(f"# FINUFFT {finufft.__version__} vs fedrecon: N = {n}, M = {m}, eps = {eps:g} (ours {ours_eps:g}), "
          f"complex64, sigma = 2, median of {args.repeat}; os.cpu_count() = {os.cpu_count()}")
    print(f"{'type':>4} {'threads':>7} {'finufft_ms':>11} {'ours_ms':>9} {'finufft/ours':>12} "
          f"{'err_finufft':>11} {'err_ours':>9} {'ours_vs_fi':>10} {'finufft64_ms':>12} {'err_fi64':>9}")
    worst = 0.0
    counts = []
    with tempfile.TemporaryDirectory() as d:
        traj_path = os.path.join(d, "traj.npy")
        np.save(traj_path, np.stack([kx, ky], axis=1))
        img_path, smp_path = os.path.join(d, "img.npy"), os.path.join(d, "smp.npy")
        np.save(img_path, image)
        np.save(smp_path, samples)
        out_path = os.path.join(d, "out.npy")
        for kind, data, in_path in [(2, image, img_path), (1, samples, smp_path)]:
            _, ref = finufft_run(kind, kx, ky, data, n, 1e-12, 2, 1, dtype="complex128")
            for threads in [int(t) for t in args.threads.split(",")]:
                f_ms, f_out = finufft_run(kind, kx, ky, data, n, eps, threads, args.repeat)
                o_ms, o_out = ours_run(args.binary, kind, traj_path, in_path, out_path, n, ours_eps,
                                       threads, args.repeat)
                d_ms, d_out = finufft_run(kind, kx, ky, data, n, eps, threads, args.repeat,
                                          dtype="complex128")
                e_f, e_o, diff = rel_l2(f_out, ref), rel_l2(o_out, ref), rel_l2(o_out, f_out)
                worst = max(worst, e_o)
                print(f"{kind:>4} {threads:>7} {f_ms:>11.2f} {o_ms:>9.2f} {f_ms / o_ms:>12.2f} "
                      f"{e_f:>11.2e} {e_o:>9.2e} {diff:>10.2e} {d_ms:>12.2f} "
                      f"{rel_l2(d_out, ref):>9.2e}")
            if args.instructions:
                env = dict(os.environ, RAYON_NUM_THREADS="1")
                mine = instructions.marginal(
                    lambda k: ours_cmd(args.binary, kind, traj_path, in_path, out_path, n, ours_eps, k), env)
                theirs = instructions.marginal(finufft_loop(kind, d, n, eps, in_path), env)
                counts.append((kind, mine, theirs))
    if counts:
        print("\n# instructions of one transform at 1 thread (valgrind callgrind; the difference between")
        print("# 2 and 1 repetitions, so planning and process start-up cancel; independent of load):")
        for kind, mine, theirs in counts:
            print(f"type {kind}: ours {mine / 1e6:.0f} M, FINUFFT {theirs / 1e6:.0f} M, "
                  f"FINUFFT/ours {theirs / mine:.2f}")
    if worst > max_err:
        sys.exit(f"our relative L2 error {worst:.2e} > {max_err:.2e}")


if __name__ == "__main__":
    main()
