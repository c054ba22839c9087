"""Radial cardiac MRI from Python with fedrecon: NUFFT → adjoint / gridding → coil maps → CG-SENSE.

The data (``../shared/data/mri`` beside the repository, or ``$FEDRECON_DATA_DIR/mri``):
``cardiac_radial_12coil_ksp.npy`` — 256 readout samples × 25 spokes × 12 coils, complex64 — and
``cardiac_radial_12coil_traj.npy`` — the (256, 25) trajectory as ``kx + i·ky`` in cycles/pixel.

SigPy / FINUFFT                                    fedrecon
-------------------------------------------------  ------------------------------------------------
sp.linop.NUFFT((N, N), coord)                      A = fedrecon.mri.Nufft(traj, size=N)   # ε 1e-6
A.H * y  (per coil)                                A.adjoint(y)          # y (coils, *points)
mr.app.EspiritCalib / Walsh on the gridded centre  fedrecon.mri.estimate_maps(y, traj=traj, size=N)
mr.linop.Sense(maps, coord)                        S = fedrecon.mri.Sense(maps, traj=traj)
mr.app.SenseRecon(y, maps, coord).run()            fedrecon.mri.recon(y, "cgsense", traj=traj, size=N)

Run (cells are marked ``# %%`` for a notebook):

    python examples/mri_nufft_cgsense_radial.py [--size 192] [--iters 10] [--out DIR]

It writes PNGs and ``.npy`` files to ``--out``, prints the data residual ‖Ax − y‖/‖y‖ of every
CG-SENSE iteration (written here with the operator; it must not increase), compares it with the
library's CG-SENSE (the same algorithm, in Rust), and prints two checks: the CG-SENSE image fits
the data better than the best-scaled adjoint image (CG's first step), and it is sharper (gradient
energy relative to the image energy inside the coil-map support) than the adjoint and gridded
images. It exits non-zero if a check fails, and with
status 2 if the data are missing.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from fedrecon import mri

REPO = Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    """``$FEDRECON_DATA_DIR/mri`` when set, else ``shared/data/mri`` beside the clone (as the Rust
    tests look for it)."""
    env = os.environ.get("FEDRECON_DATA_DIR")
    return (Path(env) if env else REPO.parent / "shared" / "data") / "mri"


def write_png(path: Path, img: np.ndarray) -> None:
    """An 8-bit greyscale PNG of ``img`` (min/max window), without any imaging library."""
    a = np.asarray(img, np.float64)
    lo, hi = a.min(), a.max()
    g = np.round(255 * (a - lo) / (hi - lo if hi > lo else 1)).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in g)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    head = struct.pack(">IIBBBBB", g.shape[1], g.shape[0], 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def rss(imgs: np.ndarray) -> np.ndarray:
    return np.sqrt((np.abs(imgs) ** 2).sum(axis=0))


def sharpness(img: np.ndarray, support: np.ndarray) -> float:
    """Mean squared finite-difference gradient over mean squared value, inside ``support``."""
    a = img / img[support].max()
    gy, gx = np.diff(a, axis=0)[:, :-1], np.diff(a, axis=1)[:-1, :]
    s = support[:-1, :-1]
    return float(((gx ** 2 + gy ** 2)[s]).mean() / (a[:-1, :-1][s] ** 2).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="folder with the two .npy files")
    ap.add_argument("--size", type=int, default=192, help="image side N (the body spans ~190 px)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("cardiac_radial_out"))
    args = ap.parse_args()
    d = args.data or data_dir()
    files = [d / "cardiac_radial_12coil_ksp.npy", d / "cardiac_radial_12coil_traj.npy"]
    if not all(f.is_file() for f in files):
        print(f"data not found: {', '.join(map(str, files))}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    # %% Load: k-space (readout, spoke, coil), trajectory (readout, spoke) as kx + i·ky
    ksp, traj = np.load(files[0]), np.load(files[1])
    n_read, n_spokes, coils = ksp.shape
    assert traj.shape == (n_read, n_spokes) and np.iscomplexobj(traj)
    y = np.ascontiguousarray(ksp.reshape(-1, coils).T)  # (coils, M), points in the trajectory's order
    n = args.size
    print(f"{n_spokes} spokes × {n_read} readout samples, {coils} coils, |k| ≤ {np.abs(traj).max():.3f} "
          f"cycles/pixel → {n}² image")

    # %% NUFFT: type 2 forward, type 1 adjoint; the adjoint of every coil (no density weights)
    A = mri.Nufft(traj, size=n)
    adj = A.adjoint(y)  # a leading batch axis: (coils, N, N)
    assert adj.shape == (coils, n, n)
    adj_rss = rss(adj)
    # gridding = the adjoint with Pipe–Menon density compensation, as `mri recon --method zf`
    grid = mri.recon(y, "zf", traj=traj, size=n)

    # %% Coil maps as `fedrecon mri recon` estimates them for non-Cartesian data: Walsh maps from
    # the fully sampled centre of the gridded k-space
    maps = mri.estimate_maps(y, traj=traj, size=n)
    support = np.abs(maps).sum(axis=0) > 0
    inside = float((grid[support] ** 2).sum() / (grid ** 2).sum())

    # %% CG-SENSE on AᴴA x = Aᴴy, written with the operator (the data scaled to a peak-1 gridded
    # image, as the library does, so that the numbers are comparable)
    S = mri.Sense(maps, traj=traj)  # NUFFT · coil maps, Toeplitz normal operator
    s = 1.0 / grid.max()
    ys = (y * s).astype(np.complex64)
    norm_y = np.linalg.norm(ys)

    def residual(x: np.ndarray) -> float:
        return float(np.linalg.norm(S.forward(x) - ys) / norm_y)

    x = np.zeros((n, n), np.complex64)
    r = S.adjoint(ys)
    p = r.copy()
    rr = np.vdot(r, r).real
    history = [residual(x)]
    for _ in range(args.iters):
        q = S.normal(p)
        alpha = rr / np.vdot(p, q).real
        x = x + alpha * p
        r = r - alpha * q
        rr, rr_old = np.vdot(r, r).real, rr
        p = r + (rr / rr_old) * p
        history.append(residual(x))
    print("CG-SENSE ‖Ax − y‖/‖y‖ per iteration: " + " ".join(f"{h:.4f}" for h in history))
    ours = np.abs(x) / s

    # %% The library's CG-SENSE: maps estimated inside (= the maps above), or given
    lib = mri.recon(y, "cgsense", traj=traj, size=n, iters=args.iters)
    lib_given = mri.recon(y, "cgsense", traj=traj, size=n, iters=args.iters, maps=maps)
    same_maps = bool(np.array_equal(lib, lib_given))
    diff = float(np.linalg.norm(ours - lib) / np.linalg.norm(lib))
    print(f"library CG-SENSE vs the loop above: relative difference {diff:.1e}; estimated maps "
          f"== given maps: {same_maps}")

    # %% Figures of merit: data consistency and sharpness against the adjoint image
    xa = S.adjoint(ys)
    ax = S.forward(xa)
    xa *= np.vdot(ax, ys) / np.vdot(ax, ax)  # the best scale of the adjoint image
    r_adj, r_cg = residual(xa), history[-1]
    sh_adj, sh_grid, sh_cg = (sharpness(v, support) for v in (adj_rss, grid, ours))
    print(f"data residual: adjoint at its best scale (CG's first step) {r_adj:.4f}, CG-SENSE {r_cg:.4f}")
    print(f"sharpness (gradient / image energy in the map support): adjoint {sh_adj:.4f}, gridding "
          f"{sh_grid:.4f}, CG-SENSE {sh_cg:.4f}; gridded energy inside the support {inside:.3f}")

    # %% Save
    for name, img in (("adjoint", adj_rss), ("gridding", grid), ("cgsense", ours)):
        write_png(args.out / f"cardiac_{name}.png", img)
    np.save(args.out / "cardiac_cgsense.npy", lib_given)
    np.save(args.out / "cardiac_maps.npy", maps)
    print(f"wrote {args.out}/cardiac_{{adjoint,gridding,cgsense}}.png, cardiac_cgsense.npy "
          "(library, given maps), cardiac_maps.npy")

    checks = {
        "residual never increases": all(b <= a * (1 + 1e-4) for a, b in zip(history, history[1:])),
        "residual falls below half": history[-1] < 0.5 * history[0],
        "CG-SENSE fits better than the adjoint": r_cg < r_adj,
        "CG-SENSE is sharper than the adjoint and the gridded image": sh_cg > max(sh_adj, sh_grid),
        "the library agrees with the loop": diff < 1e-3,
        "estimated maps are the given maps": same_maps,
        "the maps' support holds the object": inside > 0.9,
    }
    for k, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {k}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
