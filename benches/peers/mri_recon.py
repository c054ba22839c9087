#!/usr/bin/env python3
"""fedrecon vs BART `pics` vs sigpy: CG-SENSE and L1-wavelet at equal iterations, same data.

Problem (benches/src/mri_recon_case.rs, written by the `mri_recon_data` binary): 15 coils,
640 x 368, modified Shepp-Logan, birdcage maps, fastMRI equispaced 4x column mask (centre
fraction 0.08), noiseless. Every tool gets the same k-space and the same coil maps:

- fedrecon: `fedrecon mri recon --method cgsense|l1 --input ksp.npy --maps maps.npy --iters N
  [--lambda L] --repeat R`, which prints the median in-process `time_ms:` (k-space scaling, mask
  detection, reading the maps file, operator set-up and the solver). The CLI scales the data so
  that the zero-filled RSS image peaks at 1 and scales the result back.
- BART (Debian `bart`): `bart pics -i N -w P -S ksp maps out` (no regulariser: conjugate
  gradients on the normal equations, lambda 0) and `bart pics -R W:7:0:L -n -i N -w P -S ...`
  (L1-wavelet, FISTA with BART's fixed step 0.95, no random cycle spinning; a second row adds
  -e, BART's power iteration for the step, which ours and sigpy always run), with -w P the same data scaling as ours (P = peak
  of the zero-filled RSS image). Timed as process wall time (it has no in-process timer), so the
  table also gives our process wall time for a like-for-like ratio, and both processes' CPU time
  (user + sys over all threads), which other load on the machine hardly changes.
- sigpy: `SenseRecon(lamda=0)` (CG) and `L1WaveletRecon(wave_name='db4')` (FISTA) on the data
  scaled by 1/P, result scaled back; timed in process around `.run()` (includes sigpy's
  30-step power iteration for L1, as ours and BART's).

Equal iterations: N for all (CG: N CG steps; L1: N FISTA steps after a power iteration).
Agreement: NMSE ||a - b||^2 / ||b||^2 of the magnitude images against ours, and against the
phantom. Thread counts: ours RAYON_NUM_THREADS, BART OMP_NUM_THREADS, both at each of --threads
(default 1 and 2); sigpy runs on numpy (single-threaded FFT). --instructions also counts each
whole process's instructions at 1 thread under valgrind's callgrind (instructions.py), which,
unlike wall time, does not move with other load on the machine.
"""

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import instructions  # noqa: E402


def ifft2c(k):
    return np.fft.fftshift(
        np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1)
    )


def write_cfl(base, arr_rowmajor):
    """Row-major (coils, ny, nx) -> BART [nx, ny, 1, coils] (column-major): same bytes."""
    c, ny, nx = arr_rowmajor.shape
    with open(base + ".hdr", "w") as f:
        f.write(f"# Dimensions\n{nx} {ny} 1 {c} 1\n")
    np.ascontiguousarray(arr_rowmajor, dtype=np.complex64).tofile(base + ".cfl")


def read_cfl(base):
    with open(base + ".hdr") as f:
        f.readline()
        dims = [int(d) for d in f.readline().split()]
    data = np.fromfile(base + ".cfl", dtype=np.complex64)
    # column-major dims -> row-major reversed
    return data.reshape(dims[::-1]).squeeze()


def nmse(a, b):
    return float(np.sum((a - b) ** 2) / np.sum(b ** 2))


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_timed(cmd, env, repeat):
    """Median process wall time (ms), median process CPU time (user + sys of all threads, ms;
    robust when other processes compete for the cores) and the stderr of the last run."""
    times, cpus, err = [], [], ""
    for _ in range(repeat):
        c0 = children_cpu_s()
        t = time.perf_counter()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        times.append((time.perf_counter() - t) * 1e3)
        cpus.append((children_cpu_s() - c0) * 1e3)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
        err = p.stderr
    return float(np.median(times)), float(np.median(cpus)), err


def ours_cmd(args, method, work, lam):
    out = os.path.join(work, f"ours_{method}.npy")
    cmd = [args.binary, "mri", "recon", "--method", method, "--input",
           os.path.join(work, "ksp.npy"), "--maps", os.path.join(work, "maps.npy"),
           "--iters", str(args.iters), "-o", out]
    if lam is not None:
        cmd += ["--lambda", str(lam)]
    return cmd, out


def ours(args, env, method, work, lam):
    cmd, out = ours_cmd(args, method, work, lam)
    # the CLI prints its median `time_ms:` only for --repeat ≥ 2
    _, _, err = run_timed(cmd + ["--repeat", str(max(2, args.repeat))], env, 1)
    inproc = [float(l.split(":")[1]) for l in err.splitlines() if l.startswith("time_ms:")]
    if not inproc:
        sys.exit(f"no time_ms in the output of {' '.join(cmd)}:\n{err}")
    wall, cpu, _ = run_timed(cmd, env, args.repeat)
    return inproc[0], wall, cpu, np.load(out)


def bart_cmd(args, work, extra, name, peak):
    out = os.path.join(work, f"bart_{name}")
    cmd = [args.bart, "pics", "-i", str(args.iters), "-w", repr(peak), "-S", *extra,
           os.path.join(work, "ksp"), os.path.join(work, "maps"), out]
    return cmd, out


def bart(args, env, work, extra, name, peak):
    cmd, out = bart_cmd(args, work, extra, name, peak)
    wall, cpu, _ = run_timed(cmd, env, args.repeat)
    return wall, cpu, np.abs(read_cfl(out)), " ".join(cmd[1:])


def sigpy_runs(args, ksp, maps, mask, peak, lam):
    import sigpy as sp
    import sigpy.mri.app as app

    weights = np.broadcast_to(mask[None, :], ksp.shape[1:]).astype(np.float32)
    y = (ksp / peak).astype(np.complex64)
    mps = maps.astype(np.complex64)
    res = {}
    for name, make in (
        ("cgsense", lambda: app.SenseRecon(y, mps, lamda=0, weights=weights,
                                           max_iter=args.iters, show_pbar=False)),
        ("l1", lambda: app.L1WaveletRecon(y, mps, lam, weights=weights, wave_name="db4",
                                          max_iter=args.iters, show_pbar=False)),
    ):
        times, img = [], None
        for _ in range(args.repeat):
            t = time.perf_counter()
            img = make().run()
            times.append((time.perf_counter() - t) * 1e3)
        res[name] = (float(np.median(times)), np.abs(sp.to_device(img)) * peak)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="target/release/fedrecon")
    ap.add_argument("--data-binary", default="target/release/mri_recon_data")
    ap.add_argument("--bart", default="bart")
    ap.add_argument("--work", default="target/peers/mri-recon")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--lambda", dest="lam", type=float, default=1e-3,
                    help="L1 weight relative to the zero-filled image peak")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="thread counts for fedrecon and BART")
    ap.add_argument("--instructions", action="store_true",
                    help="also count each whole process's instructions at 1 thread (callgrind)")
    ap.add_argument("--no-sigpy", action="store_true")
    args = ap.parse_args()

    work = args.work
    subprocess.run([args.data_binary, "--out", work], check=True)
    ksp = np.load(os.path.join(work, "ksp.npy"))
    maps = np.load(os.path.join(work, "maps.npy"))
    mask = np.load(os.path.join(work, "mask.npy"))
    truth = np.load(os.path.join(work, "image.npy"))
    write_cfl(os.path.join(work, "ksp"), ksp)
    write_cfl(os.path.join(work, "maps"), maps)
    zf = np.sqrt(np.sum(np.abs(ifft2c(ksp)) ** 2, axis=0))
    peak = float(zf.max())

    load = os.getloadavg()
    print(f"# {ksp.shape[0]} coils, {ksp.shape[1]} x {ksp.shape[2]}, "
          f"{int(mask.sum())}/{mask.size} columns, {args.iters} iterations, "
          f"median of {args.repeat}, {args.threads} thread(s) for fedrecon and BART; "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    rows = []
    sig = {} if args.no_sigpy else sigpy_runs(args, ksp, maps, mask, peak, args.lam)
    counts = []
    for threads in [int(t) for t in args.threads.split(",") if t]:
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        for method, label, extra, lam in (
            ("cgsense", "cgsense", [], None),
            ("l1", "l1", ["-R", f"W:7:0:{args.lam}", "-n"], args.lam),
            # BART's FISTA uses a fixed step 0.95 unless -e (power iteration, as ours and sigpy do)
            ("l1", "l1 (BART -e)", ["-R", f"W:7:0:{args.lam}", "-n", "-e"], args.lam),
        ):
            t_in, t_wall, t_cpu, img = ours(args, env, method, work, lam)
            b_wall, b_cpu, b_img, b_cmd = bart(args, env, work, extra, method, peak)
            row = {
                "method": f"{label}, {threads} thread(s)", "ours_ms": t_in,
                "ours_wall_ms": t_wall, "bart_ms": b_wall,
                "ours_cpu_ms": t_cpu, "bart_cpu_ms": b_cpu,
                "nmse_bart": nmse(img, b_img), "nmse_truth": nmse(img, truth),
                "bart_nmse_truth": nmse(b_img, truth), "bart_cmd": b_cmd,
            }
            if method in sig and label == method:
                row["sigpy_ms"], s_img = sig[method]
                row["nmse_sigpy"] = nmse(img, s_img)
            rows.append(row)
            if args.instructions and threads == 1 and label == method:
                counts.append((label,
                               instructions.count(ours_cmd(args, method, work, lam)[0], env),
                               instructions.count(bart_cmd(args, work, extra, method, peak)[0], env)))

    print()
    print("| method | ours ms (in-process) | ours ms (process) | BART pics ms (process) "
          "| BART/ours (process) | BART/ours (in-process) "
          "| CPU ms ours / BART (process) | BART/ours (CPU) | sigpy ms | sigpy/ours "
          "| NMSE ours vs BART | NMSE ours vs sigpy | NMSE vs phantom: ours / BART |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s_ms = r.get("sigpy_ms")
        cells = [
            r["method"], f"{r['ours_ms']:.1f}", f"{r['ours_wall_ms']:.1f}", f"{r['bart_ms']:.1f}",
            f"{r['bart_ms'] / r['ours_wall_ms']:.2f}", f"{r['bart_ms'] / r['ours_ms']:.2f}",
            f"{r['ours_cpu_ms']:.0f} / {r['bart_cpu_ms']:.0f}",
            f"{r['bart_cpu_ms'] / r['ours_cpu_ms']:.2f}",
            "—" if s_ms is None else f"{s_ms:.1f}",
            "—" if s_ms is None else f"{s_ms / r['ours_ms']:.2f}",
            f"{r['nmse_bart']:.2e}",
            "—" if s_ms is None else f"{r['nmse_sigpy']:.2e}",
            f"{r['nmse_truth']:.2e} / {r['bart_nmse_truth']:.2e}",
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    for r in rows:
        print(f"# BART {r['method']}: bart {r['bart_cmd']}")
    if counts:
        print("\n# instructions of the whole process at 1 thread (valgrind callgrind; independent of load):")
        for label, mine, theirs in counts:
            print(f"# {label}: ours {mine / 1e9:.2f} G, BART {theirs / 1e9:.2f} G, "
                  f"BART/ours {theirs / mine:.2f}")
    load = os.getloadavg()
    print(f"# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
