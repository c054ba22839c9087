"""Python overhead of fedrecon's operators, next to ASTRA and FINUFFT in the same process.

For each operation, one call from Python, one run of the same Rust operator timed inside Rust
(``_time_rust``: the same operator calls on the same input array, allocating and freeing the
output as ``forward_vec``, GIL released, ``Instant`` around them) and one call of the peer are
interleaved — python and rust in alternating order, then the peer, 20 ms of sleep before each
call so that threads spinning after the last one have stopped — so that load drift on a busy
machine hits all three alike, ``--repeat`` times (default 31) after a warm-up; medians are reported, and the overhead is the
median of the paired differences python − rust over the median rust time, with a 95 % bootstrap
interval. The binding's fixed cost per call is measured apart on operators too small for the
machine's load to interfere (2001 pairs):

- ``fedrecon.ct.Projector`` forward / adjoint (Joseph, parallel beam, 512², 720 angles, 729
  cells) against ASTRA's CPU ``linear`` projector (FP / BP algorithms on data objects allocated
  once; only ``astra.algorithm.run`` is timed, as ``ct_projectors.py``);
- ``fedrecon.mri.Nufft`` type 2 / type 1 (256², 10⁶ random points, ε = 1e-6, complex64) against
  a planned ``finufft`` transform (``execute`` timed, σ = 2, all threads).

Run (a venv with astra-toolbox and finufft; a release wheel into its own folder):

    MATURIN_PEP517_ARGS="--profile release" /work/peers-venv/bin/python -m pip install \\
        --no-deps --upgrade --target target/python-bench-release ./crates/python
    PYTHONPATH=target/python-bench-release /work/peers-venv/bin/python benches/peers/python_ops.py
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

import fedrecon
from fedrecon import ct, mri


def call(f, *args) -> None:
    """Call ``f`` and drop its result (timed by the caller)."""
    f(*args)


def interleaved(fns: "dict[str, object]", repeat: int, settle: float = 0.02) -> "dict[str, list[float]]":
    """``repeat`` timings (ms) of each of ``fns`` (name → callable returning ``None`` for a
    wall-clock timing here, or a float: a time it measured itself), after one warm-up call each.
    Each round runs the first two (python, rust) in alternating order (AB, BA, …) and then the
    rest (the peer); before every call the process sleeps ``settle`` seconds, so that worker
    threads still spinning after the previous call (OpenMP's, rayon's) do not run into it."""
    names = list(fns)
    for f in fns.values():
        f()
    out: "dict[str, list[float]]" = {k: [] for k in names}
    for i in range(repeat):
        pair = names[:2] if i % 2 == 0 else names[1::-1]
        for name in pair + names[2:]:
            time.sleep(settle)
            t = time.perf_counter()
            own = fns[name]()
            ms = (time.perf_counter() - t) * 1e3
            out[name].append(float(own) if isinstance(own, float) else ms)
    return out


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

    def prepare(op: str, data: np.ndarray):
        astra.data2d.store(vol if op == "forward" else sino, data)
        return (lambda: astra.algorithm.run(algs[op])), (lambda: astra.data2d.get(sino if op == "forward" else vol))

    return astra.__version__, prepare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=31)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--angles", type=int, default=720)
    ap.add_argument("--detectors", type=int, default=729)
    ap.add_argument("--nufft-size", type=int, default=256)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--eps", type=float, default=1e-6)
    ap.add_argument("--only", choices=["ct", "nufft"], default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    load0 = os.getloadavg()
    t0 = time.time()

    boot = np.random.default_rng(1)

    def row(name, t, peer_name, note):
        py, rs = np.array(t["python"]), np.array(t["rust"])
        peer = np.array(t.get("peer", [np.nan]))
        d, med = py - rs, float(np.median(rs))
        over = float(np.median(d))
        # 95 % bootstrap interval of the median paired difference
        b = np.median(d[boot.integers(0, len(d), (2000, len(d)))], axis=1)
        lo, hi = (100 * float(np.percentile(b, q)) / med for q in (2.5, 97.5))
        rows.append((name, float(np.median(py)), med, over, 100 * over / med, lo, hi,
                     float(np.median(peer)), peer_name, note))

    if args.only in (None, "ct"):
        n, na, nd = args.size, args.angles, args.detectors
        img = rng.random((n, n), dtype=np.float32)
        P = ct.Projector(size=n, angles=na, detectors=nd)
        sino = P.forward(img)
        try:
            astra_version, astra_prepare = astra_ops(n, P.angles, nd)
            peer = f"ASTRA {astra_version} linear"
        except ImportError:
            astra_prepare, peer = None, "ASTRA (not installed)"
        for op, x in (("forward", img), ("adjoint", sino)):
            fns = {"python": (lambda op=op, x=x: call(getattr(P, op), x)),
                   "rust": (lambda op=op, x=x: P._op._time_rust(op, x, 1)[0])}
            note = ""
            if astra_prepare is not None:
                run, get = astra_prepare(op, x)
                fns["peer"] = run
            t = interleaved(fns, args.repeat)
            if astra_prepare is not None and op == "forward":
                note = f"vs ASTRA {rel_l2(sino, get()):.1e}"
            row(f"Projector.{op} {n}², {na}×{nd}", t, peer, note)
    if args.only in (None, "nufft"):
        nn, m, eps = args.nufft_size, args.points, args.eps
        kxy = rng.uniform(-0.5, 0.5, (m, 2)).astype(np.float32)
        f = (rng.standard_normal((nn, nn)) + 1j * rng.standard_normal((nn, nn))).astype(np.complex64)
        c = (rng.standard_normal(m) + 1j * rng.standard_normal(m)).astype(np.complex64)
        A = mri.Nufft(kxy, size=nn, eps=eps)
        try:
            import finufft

            def plan(kind):
                p = finufft.Plan(kind, (nn, nn), n_trans=1, eps=eps, isign=-1 if kind == 2 else 1,
                                 dtype="complex64", nthreads=os.cpu_count(), upsampfac=2.0, modeord=0)
                # first coordinate pairs with the row (y) axis; pixel x − N/2 as ours
                p.setpts((2 * np.pi * kxy[:, 1]).astype(np.float32), (2 * np.pi * kxy[:, 0]).astype(np.float32))
                return p

            plans = {"forward": plan(2), "adjoint": plan(1)}
            fpeer = f"FINUFFT {finufft.__version__}"
        except ImportError:
            plans, fpeer = None, "FINUFFT (not installed)"
        for op, x, kind in (("forward", f, 2), ("adjoint", c, 1)):
            fns = {"python": (lambda op=op, x=x: call(getattr(A, op), x)),
                   "rust": (lambda op=op, x=x: A._op._time_rust(op, x, 1)[0])}
            note = ""
            if plans is not None:
                fns["peer"] = (lambda op=op, x=x: call(plans[op].execute, x))
                if op == "forward":
                    note = f"vs FINUFFT {rel_l2(A.forward(f), plans[op].execute(f)):.1e}"
            t = interleaved(fns, args.repeat)
            row(f"Nufft.{op} (type {kind}) {nn}², M={m:.0e}", t, fpeer, note)
    # the binding's fixed cost per call, on operators too small for load to interfere
    tiny = []
    P8 = ct.Projector(size=8, angles=4, detectors=13)
    x8 = np.ones((8, 8), np.float32)
    A8 = mri.Nufft(rng.uniform(-0.5, 0.5, (16, 2)).astype(np.float32), size=8)
    c16 = np.ones(16, np.complex64)
    for name, obj, op, x in (("Projector.forward 8²", P8, "forward", x8),
                             ("Nufft.adjoint 8², M=16", A8, "adjoint", c16)):
        t = interleaved({"python": (lambda: call(getattr(obj, op), x)),
                         "rust": (lambda: obj._op._time_rust(op, x, 1)[0])}, 2001, settle=0.0)
        d = np.array(t["python"]) - np.array(t["rust"])
        tiny.append(f"{name}: python {1e3 * np.median(t['python']):.1f} µs, rust "
                    f"{1e3 * np.median(t['rust']):.1f} µs, overhead {1e3 * np.median(d):.1f} µs")
    load1 = os.getloadavg()
    print(f"# fedrecon {fedrecon.__version__} ({Path(fedrecon.__file__).parent}); python call vs the "
          f"same Rust operator timed inside Rust vs the peer, interleaved, median of {args.repeat} "
          f"(ms); os.cpu_count() = {os.cpu_count()}; load average {load0[0]:.2f} → {load1[0]:.2f} "
          f"over {time.time() - t0:.0f} s")
    print(f"{'operation':42s} {'python':>8s} {'rust':>8s} {'overhead':>9s} {'%':>6s} {'95% CI':>14s} "
          f"{'peer':>8s} {'peer/py':>8s}  peer, agreement")
    for name, py, rs, over, pct, lo, hi, peer, pname, note in rows:
        ci = f"[{lo:+.1f}, {hi:+.1f}]"
        print(f"{name:42s} {py:8.1f} {rs:8.1f} {over:+9.2f} {pct:+6.1f} {ci:>14s} {peer:8.1f} "
              f"{peer / py:8.2f}  {pname} {note}")
    print("# fixed cost of a call (median of 2001 interleaved pairs): " + "; ".join(tiny))


if __name__ == "__main__":
    main()
