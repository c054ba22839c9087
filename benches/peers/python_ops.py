"""Python overhead of fedrecon's operators, next to ASTRA and FINUFFT in the same process.

Measures, median of ``--repeat`` calls after one warm-up:

- ``fedrecon.ct.Projector`` forward / adjoint (Joseph, parallel beam, 512², 720 angles, 729
  cells) against ASTRA's CPU ``linear`` projector (FP / BP algorithms on data objects allocated
  once; only ``astra.algorithm.run`` is timed, as ``ct_projectors.py``);
- ``fedrecon.mri.Nufft`` type 2 / type 1 (256², 10⁶ random points, ε = 1e-6, complex64) against
  a planned ``finufft`` transform (``execute`` timed, σ = 2, all threads);
- the Rust operator alone for the same inputs: ``fedrecon ct project|backproject`` and
  ``fedrecon mri nufft`` with ``--repeat`` (``time_ms``, operator only, no I/O), from the CLI
  binary built with the same profile as the wheel, so "python − rust" is the binding's overhead
  (argument conversion, GIL release, moving the result into numpy).

Run (a venv with astra-toolbox and finufft, and fedrecon importable from it):

    cargo build -p fedrecon
    pip install --target target/python-bench --no-deps ./crates/python
    PYTHONPATH=target/python-bench /work/peers-venv/bin/python benches/peers/python_ops.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fedrecon
from fedrecon import ct, mri

REPO = Path(__file__).resolve().parents[2]


def median_ms(fn, repeat: int) -> "tuple[float, object]":
    out = fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times)), out


def cli_ms(cli: str, args: "list[str]", repeat: int) -> float:
    cmd = [cli, *args, "--repeat", str(repeat)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    ms = [float(l.split()[1]) for l in p.stderr.splitlines() if l.startswith("time_ms:")]
    return ms[0]


def rel_l2(a, b) -> float:
    a, b = np.asarray(a, np.complex128).ravel(), np.asarray(b, np.complex128).ravel()
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def astra_ops(n: int, angles: np.ndarray, n_det: int):
    import astra

    h = n / 2
    vg = astra.create_vol_geom(n, n, -h, h, -h, h)
    pg = astra.create_proj_geom("parallel", 1.0, n_det, angles)
    proj = astra.create_projector("linear", pg, vg)
    vol, sino = astra.data2d.create("-vol", vg, 0), astra.data2d.create("-sino", pg, 0)
    algs = {}
    for op, name in (("forward", "FP"), ("adjoint", "BP")):
        cfg = astra.astra_dict(name)
        cfg["ProjectorId"], cfg["ProjectionDataId"] = proj, sino
        cfg["VolumeDataId" if name == "FP" else "ReconstructionDataId"] = vol
        algs[op] = astra.algorithm.create(cfg)

    def run(op: str, data: np.ndarray, repeat: int):
        astra.data2d.store(vol if op == "forward" else sino, data)
        ms, _ = median_ms(lambda: astra.algorithm.run(algs[op]), repeat)
        return ms, astra.data2d.get(sino if op == "forward" else vol)

    return astra.__version__, run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=str(REPO / "target" / "debug" / "fedrecon"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--angles", type=int, default=720)
    ap.add_argument("--detectors", type=int, default=729)
    ap.add_argument("--nufft-size", type=int, default=256)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--eps", type=float, default=1e-6)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # CT
        n, na, nd = args.size, args.angles, args.detectors
        img = rng.random((n, n), dtype=np.float32)
        np.save(tmp / "img.npy", img)
        P = ct.Projector(size=n, angles=na, detectors=nd)
        py_f, sino = median_ms(lambda: P.forward(img), args.repeat)
        py_b, back = median_ms(lambda: P.adjoint(sino), args.repeat)
        np.save(tmp / "sino.npy", sino)
        geo = ["--angles", str(na), "--detectors", str(nd)]
        rs_f = cli_ms(args.cli, ["ct", "project", "--input", str(tmp / "img.npy"), "-o", str(tmp / "s.npy"), *geo], args.repeat)
        rs_b = cli_ms(args.cli, ["ct", "backproject", "--input", str(tmp / "sino.npy"), "-o", str(tmp / "b.npy"), "--size", str(n), *geo], args.repeat)
        assert np.array_equal(np.load(tmp / "s.npy"), sino) and np.array_equal(np.load(tmp / "b.npy"), back)
        try:
            astra_version, astra_run = astra_ops(n, P.angles, nd)
            a_f, a_sino = astra_run("forward", img, args.repeat)
            a_b, _ = astra_run("adjoint", sino, args.repeat)
            peer = f"ASTRA {astra_version} linear"
            diff = rel_l2(sino, a_sino)
        except ImportError:
            a_f = a_b = diff = float("nan")
            peer = "ASTRA (not installed)"
        rows.append((f"Projector.forward {n}², {na}×{nd}", py_f, rs_f, a_f, peer, f"vs ASTRA {diff:.1e}"))
        rows.append((f"Projector.adjoint {n}², {na}×{nd}", py_b, rs_b, a_b, peer, ""))
        # NUFFT
        nn, m, eps = args.nufft_size, args.points, args.eps
        kxy = rng.uniform(-0.5, 0.5, (m, 2)).astype(np.float32)
        f = (rng.standard_normal((nn, nn)) + 1j * rng.standard_normal((nn, nn))).astype(np.complex64)
        c = (rng.standard_normal(m) + 1j * rng.standard_normal(m)).astype(np.complex64)
        np.save(tmp / "traj.npy", kxy)
        np.save(tmp / "f.npy", f)
        np.save(tmp / "c.npy", c)
        A = mri.Nufft(kxy, size=nn, eps=eps)
        py_2, y2 = median_ms(lambda: A.forward(f), args.repeat)
        py_1, y1 = median_ms(lambda: A.adjoint(c), args.repeat)
        common = ["--traj", str(tmp / "traj.npy"), "--size", str(nn), "--eps", str(eps)]
        rs_2 = cli_ms(args.cli, ["mri", "nufft", "--type", "2", "--input", str(tmp / "f.npy"), "-o", str(tmp / "y.npy"), *common], args.repeat)
        rs_1 = cli_ms(args.cli, ["mri", "nufft", "--type", "1", "--input", str(tmp / "c.npy"), "-o", str(tmp / "g.npy"), *common], args.repeat)
        assert np.array_equal(np.load(tmp / "y.npy"), y2) and np.array_equal(np.load(tmp / "g.npy"), y1)
        try:
            import finufft

            def plan(kind):
                p = finufft.Plan(kind, (nn, nn), n_trans=1, eps=eps, isign=-1 if kind == 2 else 1,
                                 dtype="complex64", nthreads=os.cpu_count(), upsampfac=2.0, modeord=0)
                # first coordinate pairs with the row (y) axis; pixel x − N/2 as ours
                p.setpts((2 * np.pi * kxy[:, 1]).astype(np.float32), (2 * np.pi * kxy[:, 0]).astype(np.float32))
                return p

            p2, p1 = plan(2), plan(1)
            f_2, fy2 = median_ms(lambda: p2.execute(f), args.repeat)
            f_1, _ = median_ms(lambda: p1.execute(c), args.repeat)
            fpeer = f"FINUFFT {finufft.__version__}"
            fdiff = rel_l2(y2, fy2)
        except ImportError:
            f_2 = f_1 = fdiff = float("nan")
            fpeer = "FINUFFT (not installed)"
        rows.append((f"Nufft.forward (type 2) {nn}², M={m:.0e}", py_2, rs_2, f_2, fpeer, f"vs FINUFFT {fdiff:.1e}"))
        rows.append((f"Nufft.adjoint (type 1) {nn}², M={m:.0e}", py_1, rs_1, f_1, fpeer, ""))
    print(f"# fedrecon {fedrecon.__version__} from Python vs the same operator from the CLI ({args.cli}) "
          f"and peers, same process, median of {args.repeat} (ms); os.cpu_count() = {os.cpu_count()}")
    print(f"{'operation':42s} {'python':>8s} {'rust':>8s} {'overhead':>9s} {'peer':>8s} {'peer/py':>8s}  peer, agreement")
    for name, py, rs, peer, pname, note in rows:
        print(f"{name:42s} {py:8.1f} {rs:8.1f} {py - rs:+9.1f} {peer:8.1f} {peer / py:8.1f}  {pname} {note}")


if __name__ == "__main__":
    main()
