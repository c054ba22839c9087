#!/usr/bin/env python3
"""fedrecon vs BART `pics`: non-Cartesian CG-SENSE on a radial acquisition, same data, 1 and 2 threads.

Problem (issue 16's shape): 32 coils, 256 x 256 image, radial, 512 samples per spoke (2x readout
oversampling) x 64 spokes, 20 CG iterations, no regularisation, no density compensation. The data
come from BART (its analytic coil phantom stops at 8 coils, so the 32 maps are ours):

- `bart traj -r -x 512 -y 64`, scaled by 0.5 (`bart scale`): BART units of the 256 grid;
- maps: 32 birdcage coils on a ring of radius 1.5 N (sigpy's `birdcage_maps` formula), normalised
  to unit root-sum-of-squares, written as a `.cfl`;
- `bart phantom -x 256 truth`, `bart fmac truth maps coil_images`, `bart nufft traj coil_images
  ksp`: the Shepp-Logan phantom's coil images sampled by BART's NUFFT.

fedrecon gets the same numbers as `.npy` (trajectory / 256 in cycles/pixel, samples (coils, M)):
`fedrecon mri recon --method cgsense --input ksp.npy --traj traj.npy --size 256 --maps maps.npy
--iters 20 --repeat R`, which prints its in-process median `time_ms:` (plan, Toeplitz PSF, CG) and
is also timed as a process. BART: `bart pics -l2 -r 0 -i 20 -t traj ksp maps out` (its default
Toeplitz normal operator), timed as a process. Threads: RAYON_NUM_THREADS and OMP_NUM_THREADS.
Also reported: CPU time of each process (user + sys) and, with --instructions, the instructions
of one CG iteration at 1 thread for each tool (valgrind callgrind, the difference between runs of
4 and 2 iterations; see instructions.py) — both hardly move with other load on the machine.

Agreement: magnitude images, each scaled by its least-squares factor onto the other (BART scales
its output differently), NMSE ||a - s b||^2 / ||a||^2; and each against `bart phantom -x 256`.
"""

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import instructions  # noqa: E402
from mri_recon import read_cfl, run_timed, write_cfl  # noqa: E402  (same timing and .cfl layout)


def birdcage(coils, n, r=1.5):
    """sigpy.mri.birdcage_maps for (coils, n, n), normalised to unit root-sum-of-squares."""
    c = np.arange(coils)[:, None, None]
    y, x = np.mgrid[:n, :n]
    y = (y - n // 2)[None]
    x = (x - n // 2)[None]
    cx = r * n / 2 * np.cos(2 * np.pi * c / coils)
    cy = r * n / 2 * np.sin(2 * np.pi * c / coils)
    dist = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    phase = np.arctan2(x - cx, -(y - cy)) + 2 * np.pi * c / coils
    s = np.exp(1j * phase) / dist
    return (s / np.sqrt(np.sum(np.abs(s) ** 2, axis=0))).astype(np.complex64)


def nmse_fit(a, b):
    """NMSE of b against a after the least-squares scale s minimising ||a - s b||."""
    s = float(np.vdot(b, a).real / np.vdot(b, b).real)
    return float(np.sum((a - s * b) ** 2) / np.sum(a ** 2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="target/release/fedrecon")
    ap.add_argument("--bart", default="bart")
    ap.add_argument("--work", default="target/peers/mri-radial")
    ap.add_argument("--coils", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--spokes", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--instructions", action="store_true",
                    help="also count the instructions per CG iteration at 1 thread (callgrind, minutes)")
    args = ap.parse_args()

    w = args.work
    os.makedirs(w, exist_ok=True)
    n, samples = args.size, 2 * args.size
    b = args.bart
    p = lambda name: os.path.join(w, name)  # noqa: E731
    write_cfl(p("maps"), birdcage(args.coils, n))
    for cmd in (
        [b, "traj", "-r", "-x", str(samples), "-y", str(args.spokes), p("traj_full")],
        [b, "scale", "0.5", p("traj_full"), p("traj")],
        [b, "phantom", "-x", str(n), p("truth")],
        [b, "fmac", p("truth"), p("maps"), p("coil_images")],
        [b, "nufft", p("traj"), p("coil_images"), p("ksp")],
    ):
        subprocess.run(cmd, check=True, capture_output=True)
    traj = read_cfl(p("traj")).reshape(-1, 3)  # (spokes · samples, [x, y, z]), BART grid units
    ksp = read_cfl(p("ksp")).reshape(args.coils, -1)  # [1, samples, spokes, coils] reversed
    maps = read_cfl(p("maps")).reshape(args.coils, n, n)
    truth = np.abs(read_cfl(p("truth")).reshape(n, n))
    np.save(p("traj.npy"), ((traj[:, 0].real + 1j * traj[:, 1].real) / n).astype(np.complex64))
    np.save(p("ksp.npy"), np.ascontiguousarray(ksp, dtype=np.complex64))
    np.save(p("maps.npy"), np.ascontiguousarray(maps, dtype=np.complex64))

    ours_cmd = [args.binary, "mri", "recon", "--method", "cgsense", "--input", p("ksp.npy"),
                "--traj", p("traj.npy"), "--size", str(n), "--maps", p("maps.npy"),
                "--iters", str(args.iters), "-o", p("ours.npy")]
    bart_cmd = [b, "pics", "-l2", "-r", "0", "-i", str(args.iters), "-t", p("traj"), p("ksp"),
                p("maps"), p("bart")]
    load = os.getloadavg()
    print(f"# {args.coils} coils, {n} x {n}, radial {samples} samples x {args.spokes} spokes, "
          f"{args.iters} CG iterations, median of {args.repeat}; load average before: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows = []
    for t in [int(x) for x in args.threads.split(",") if x]:
        env = dict(os.environ, RAYON_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
        _, _, err = run_timed(ours_cmd + ["--repeat", str(max(2, args.repeat))], env, 1)
        inproc = [float(l.split(":")[1]) for l in err.splitlines() if l.startswith("time_ms:")]
        o_wall, o_cpu, _ = run_timed(ours_cmd, env, args.repeat)
        b_wall, b_cpu, _ = run_timed(bart_cmd, env, args.repeat)
        rows.append((t, inproc[0] if inproc else float("nan"), o_wall, o_cpu, b_wall, b_cpu))
    ours = np.abs(np.load(p("ours.npy"))).reshape(n, n)
    theirs = np.abs(read_cfl(p("bart")).reshape(n, n))

    print()
    print("| threads | ours ms (in-process) | ours ms (process) | BART pics ms (process) "
          "| BART/ours (process) | CPU ms ours / BART | BART/ours (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for t, inproc, o_wall, o_cpu, b_wall, b_cpu in rows:
        print(f"| {t} | {inproc:.0f} | {o_wall:.0f} | {b_wall:.0f} | {b_wall / o_wall:.2f} "
              f"| {o_cpu:.0f} / {b_cpu:.0f} | {b_cpu / o_cpu:.2f} |")
    if args.instructions:
        # per CG iteration: the difference between 4 and 2 iterations, so that reading the files,
        # planning and the Toeplitz PSF cancel (callgrind is ~50x slower than native)
        env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
        it = ours_cmd.index("--iters") + 1
        ib = bart_cmd.index("-i") + 1
        oi = instructions.marginal(
            lambda k: ours_cmd[:it] + [str(k)] + ours_cmd[it + 1:], env, 2, 4)
        bi = instructions.marginal(
            lambda k: bart_cmd[:ib] + [str(k)] + bart_cmd[ib + 1:], env, 2, 4)
        print(f"\ninstructions per CG iteration at 1 thread (callgrind, 4 minus 2 iterations, / 2): "
              f"ours {oi / 1e6:.0f} M, BART {bi / 1e6:.0f} M, BART/ours {bi / oi:.2f}")
    print(f"\nNMSE of the magnitude images (least-squares scale): ours vs BART "
          f"{nmse_fit(ours, theirs):.2e}; vs the phantom: ours {nmse_fit(truth, ours):.3f}, "
          f"BART {nmse_fit(truth, theirs):.3f}")
    print("# ours: " + " ".join(ours_cmd[1:]))
    print("# BART: " + " ".join(bart_cmd[1:]))
    load = os.getloadavg()
    print(f"# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
