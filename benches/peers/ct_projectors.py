#!/usr/bin/env python3
"""Peer comparison of fedrecon's CPU Joseph projector with ASTRA and scikit-image.

For each benchmark geometry (the same ones as ``fedrecon_benches::cases`` in benches/src/lib.rs):

* ``512``:     512x512 unit pixels, 720 angles k*pi/720, 729 unit detector cells;
* ``lodopab``: 362x362 pixels over a 0.26 m square, 1000 angles (k + 1/2)*pi/1000, 513 cells
  over +-0.13*sqrt(2) m (the LoDoPaB-CT geometry, Leuschner et al. 2021, as ODL builds it),

it times, in one run on one machine:

* fedrecon: Joseph forward projection and its exact transpose. Uses ``target/release/fedrecon ct
  project / ct backproject --repeat N`` when that binary exists (median printed as ``time_ms:``
  on stderr), otherwise ``target/release/ct_timing`` (one ``time_ms:`` line per repetition);
* ASTRA (CPU, projector type ``linear`` = Joseph's method): the ``FP`` and ``BP`` algorithms,
  with data objects allocated once and only ``astra.algorithm.run`` timed;
* scikit-image: ``radon(circle=False)`` and the unfiltered back-projection
  ``iradon(filter_name=None)``. These are pixel-driven rotate-and-sum / interpolate-and-sum
  operators, not Joseph, and choose their own detector count (the padded image's diagonal), so
  they are a speed reference only.

and reports median wall times and median CPU times (summed over threads; ours from ``cpu_ms:``
lines of ``ct_timing``, unknown through the CLI; peers from ``time.process_time``) and the ratios
(peer time / our time; > 1 means we are faster), ours at each of ``--threads`` (default 1 and 2;
ASTRA's CPU projectors and scikit-image are single-threaded), so that per-thread ratios are
visible. With ``--instructions 512`` it also counts the instructions of one operation at 1 thread
for us and for ASTRA under valgrind's callgrind (``instructions.py``: the difference between two
and one repetitions, so process and set-up cost cancel), which does not move with other load on
the machine (minutes per case).

Numerical cross-check: the same phantom (scikit-image's Shepp-Logan, resized) is projected by
ASTRA and by us, and the ASTRA back-projection of ASTRA's sinogram is compared with our transpose
of the same sinogram; the relative L2 differences are printed.

Conventions. fedrecon (crates/physics/src/geometry.rs): image (ny, nx), row 0 at the top (largest
y), centred; ray x*cos(t) + y*sin(t) = s, detector coordinate s = (d - (n-1)/2)*spacing increasing
with the cell index d. ASTRA 2-D parallel geometry with ``create_vol_geom(n, n, -L/2, L/2, -L/2,
L/2)`` and ``create_proj_geom('parallel', spacing, n_det, angles)`` uses exactly the same
conventions: verified with a single off-centre pixel, whose ASTRA projection has its centroid at
s = x*cos(t) + y*sin(t) (within the 0.1-0.2 cell sampling error of a Joseph footprint) for every
angle, while a detector flip, negated angles or a quarter turn miss by many cells; every run
repeats that test (``--check-conventions`` runs only it). So the angle arrays are passed
unchanged, without detector flip or angle offset, and the arrays are compared element by
element.

Usage: ``python ct_projectors.py [--repeat N] [--skimage-repeat M] [--cases 512,lodopab]
[--no-skimage] [--ours PATH] [--threads 1,2] [--instructions 512]``; normally run through
``benches/peers/run.sh``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import instructions  # noqa: E402

import numpy as np

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Case:
    name: str
    n: int  # square image side
    fov: float  # image side length
    n_angles: int
    n_det: int
    det_spacing: float

    @property
    def pixel(self) -> float:
        return self.fov / self.n

    midpoint_angles: bool = False  # (k + 1/2)·π/n (ODL's partition midpoints) instead of k·π/n

    @property
    def angles(self) -> np.ndarray:
        return (np.arange(self.n_angles) + (0.5 if self.midpoint_angles else 0.0)) * np.pi / self.n_angles


CASES = {
    "512": Case("512", 512, 512.0, 720, 729, 1.0),
    "lodopab": Case("lodopab", 362, 0.26, 1000, 513, 2 * 0.13 * np.sqrt(2) / 513, midpoint_angles=True),
}


@dataclass
class Timing:
    """Median wall time and median CPU time (all threads of the process) of one operation, in ms;
    `cpu` is NaN when unknown."""

    wall: float
    cpu: float = float("nan")


def measure(fn, repeat: int, warmup: int = 1) -> Timing:
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        fn()
        walls.append((time.perf_counter() - t) * 1e3)
        cpus.append((time.process_time() - c) * 1e3)
    return Timing(statistics.median(walls), statistics.median(cpus))


def phantom(case: Case) -> np.ndarray:
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    return resize(shepp_logan_phantom(), (case.n, case.n), anti_aliasing=True).astype(np.float32)


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))


# ----------------------------------------------------------------------------------------------
# fedrecon


def write_npy_or_raw(path: Path, a: np.ndarray) -> None:
    if path.suffix == ".npy":
        np.save(path, a.astype(np.float32))
    else:
        a.astype("<f4").tofile(path)


def read_npy_or_raw(path: Path, shape) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path).astype(np.float32).reshape(shape)
    return np.fromfile(path, dtype="<f4").reshape(shape)


class Ours:
    """Runs our projector through the `fedrecon` CLI if present, else through `ct_timing`."""

    def __init__(self, explicit: str | None):
        self.cli = None
        self.timing = None
        cli = Path(explicit) if explicit else REPO / "target" / "release" / "fedrecon"
        if cli.name != "ct_timing" and cli.exists() and self._cli_works(cli):
            self.cli = cli
        else:
            t = Path(explicit) if explicit and Path(explicit).name == "ct_timing" else REPO / "target" / "release" / "ct_timing"
            if not t.exists():
                sys.exit(f"{t} not found: build it with `cargo build --release -p fedrecon-benches --bin ct_timing`")
            self.timing = t

    @staticmethod
    def _cli_works(cli: Path) -> bool:
        for sub in ("project", "backproject"):
            r = subprocess.run([cli, "ct", sub, "--help"], capture_output=True, text=True)
            if r.returncode != 0 or "--repeat" not in r.stdout:
                return False
        return True

    @property
    def name(self) -> str:
        return str(self.cli or self.timing)

    def command(self, case: Case, op: str, data: np.ndarray, repeat: int, tmp: Path) -> tuple[list, Path, tuple]:
        """The command that runs `op` ('forward' | 'adjoint') on `data` `repeat` times, its output
        file and the output's shape."""
        out_shape = (case.n_angles, case.n_det) if op == "forward" else (case.n, case.n)
        ext = ".npy" if self.cli else ".f32"
        inp, out = tmp / f"in_{case.name}_{op}{ext}", tmp / f"out_{case.name}_{op}{ext}"
        write_npy_or_raw(inp, data)
        if self.cli:
            sub = "project" if op == "forward" else "backproject"
            geom = tmp / f"geometry_{case.name}.toml"
            geom.write_text(
                'beam = "parallel"\n'
                f"angle_list = [{', '.join(repr(float(t)) for t in case.angles)}]\n"
                f"detectors = {case.n_det}\ndetector_spacing = {float(case.det_spacing)!r}\n"
                f"pixel_size = {float(case.pixel)!r}\n"
            )
            cmd = [self.cli, "ct", sub, "--input", inp, "-o", out, "--geometry", geom,
                   "--repeat", str(repeat)]
            if op == "adjoint":
                cmd += ["--size", str(case.n)]
        else:
            cmd = [self.timing, "--case", case.name, "--op", op, "--repeat", str(repeat), "--warmup", "1",
                   "--input", inp, "--output", out]
        return [str(c) for c in cmd], out, out_shape

    def run(self, case: Case, op: str, data: np.ndarray, repeat: int, tmp: Path,
            threads: int) -> tuple[Timing, np.ndarray]:
        """Median times of `op` ('forward' | 'adjoint') on `data` with `threads` threads, and its
        output."""
        # the CLI prints its median only for --repeat ≥ 2
        cmd, out, out_shape = self.command(case, op, data, max(repeat, 2) if self.cli else repeat, tmp)
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            sys.exit(f"{' '.join(map(str, cmd))} failed:\n{r.stderr}")
        times = [float(t) for t in re.findall(r"time_ms:\s*([0-9.eE+-]+)", r.stdout + r.stderr)]
        cpus = [float(t) for t in re.findall(r"cpu_ms:\s*([0-9.eE+-]+)", r.stdout + r.stderr)]
        if not times:
            sys.exit(f"no time_ms in the output of {' '.join(cmd)}:\n{r.stdout}\n{r.stderr}")
        cpu = statistics.median(cpus) if cpus else float("nan")
        return Timing(statistics.median(times), cpu), read_npy_or_raw(out, out_shape)


# ----------------------------------------------------------------------------------------------
# ASTRA


class Astra:
    def __init__(self, case: Case):
        import astra

        self.astra = astra
        h = case.fov / 2
        self.vg = astra.create_vol_geom(case.n, case.n, -h, h, -h, h)
        self.pg = astra.create_proj_geom("parallel", case.det_spacing, case.n_det, case.angles)
        self.proj = astra.create_projector("linear", self.pg, self.vg)
        self.vol = astra.data2d.create("-vol", self.vg, 0)
        self.sino = astra.data2d.create("-sino", self.pg, 0)
        self.algs = {}
        for op, name in (("forward", "FP"), ("adjoint", "BP")):
            cfg = astra.astra_dict(name)
            cfg["ProjectorId"] = self.proj
            cfg["ProjectionDataId"] = self.sino
            if name == "FP":
                cfg["VolumeDataId"] = self.vol
            else:
                cfg["ReconstructionDataId"] = self.vol
            self.algs[op] = astra.algorithm.create(cfg)

    def run(self, op: str, data: np.ndarray, repeat: int) -> tuple[Timing, np.ndarray]:
        a = self.astra
        if op == "forward":
            a.data2d.store(self.vol, data)
        else:
            a.data2d.store(self.sino, data)
        t = measure(lambda: a.algorithm.run(self.algs[op]), repeat)
        out = a.data2d.get(self.sino if op == "forward" else self.vol)
        return t, np.asarray(out, dtype=np.float32)

    def close(self) -> None:
        a = self.astra
        for alg in self.algs.values():
            a.algorithm.delete(alg)
        a.data2d.delete([self.vol, self.sino])
        a.projector.delete(self.proj)


def astra_loop(case: Case, op: str, data: np.ndarray, tmp: Path):
    """`make_cmd(k)` for instructions.marginal: a Python process that sets up ASTRA's `FP` / `BP`
    on `data` and runs it k times."""
    inp, ang = tmp / f"astra_{case.name}_{op}.npy", tmp / f"astra_{case.name}_angles.npy"
    np.save(inp, data.astype(np.float32))
    np.save(ang, np.asarray(case.angles, dtype=np.float64))
    h = case.fov / 2
    name, data_key, arg = ("FP", "VolumeDataId", "vol") if op == "forward" else ("BP", "ReconstructionDataId", "sino")
    setup = (
        "import numpy as np, astra\n"
        f"vg = astra.create_vol_geom({case.n}, {case.n}, {-h!r}, {h!r}, {-h!r}, {h!r})\n"
        f"pg = astra.create_proj_geom('parallel', {float(case.det_spacing)!r}, {case.n_det}, np.load('{ang}'))\n"
        "proj = astra.create_projector('linear', pg, vg)\n"
        "vol = astra.data2d.create('-vol', vg, 0)\n"
        "sino = astra.data2d.create('-sino', pg, 0)\n"
        f"astra.data2d.store({arg}, np.load('{inp}'))\n"
        f"cfg = astra.astra_dict('{name}')\n"
        "cfg['ProjectorId'] = proj\n"
        "cfg['ProjectionDataId'] = sino\n"
        f"cfg['{data_key}'] = vol\n"
        "alg = astra.algorithm.create(cfg)"
    )
    return instructions.python_loop(sys.executable, setup, "astra.algorithm.run(alg)")


def check_conventions() -> dict[str, float]:
    """Largest |centroid − prediction| (in cells) of ASTRA's projections of one off-centre pixel,
    for our convention (``same``: s = x·cosθ + y·sinθ) and for the usual alternatives. The
    centroid of a sampled Joseph footprint is not exactly the pixel's projection (a few tenths of a
    cell at most); a different convention is off by many cells."""
    import astra

    n, nd = 64, 95
    img = np.zeros((n, n), np.float32)
    i, j = 10, 40
    img[i, j] = 1
    x, y = j - (n - 1) / 2, (n - 1) / 2 - i
    t = np.linspace(0, np.pi, 13, endpoint=False)
    pid = astra.create_projector("linear", astra.create_proj_geom("parallel", 1.0, nd, t), astra.create_vol_geom(n, n))
    sid, s = astra.create_sino(img, pid)
    astra.data2d.delete(sid)
    astra.projector.delete(pid)
    u = np.arange(nd) - (nd - 1) / 2
    centroid = (s * u).sum(1) / s.sum(1)
    hypotheses = {
        "same": x * np.cos(t) + y * np.sin(t),
        "detector flipped": -(x * np.cos(t) + y * np.sin(t)),
        "angle negated": x * np.cos(t) - y * np.sin(t),
        "angle + π/2": -x * np.sin(t) + y * np.cos(t),
        "rows flipped (y down)": x * np.cos(t) - y * np.sin(t),
    }
    return {k: float(np.abs(centroid - v).max()) for k, v in hypotheses.items()}


# ----------------------------------------------------------------------------------------------
# scikit-image


def skimage_times(case: Case, img: np.ndarray, repeat: int) -> tuple[Timing, Timing]:
    from skimage.transform import iradon, radon

    theta = np.degrees(case.angles)
    fwd = measure(lambda: radon(img, theta=theta, circle=False), repeat, warmup=0)
    sk_sino = radon(img, theta=theta, circle=False)
    back = measure(lambda: iradon(sk_sino, theta=theta, filter_name=None, circle=False, output_size=case.n), repeat, warmup=0)
    return fwd, back


# ----------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed repetitions for fedrecon and ASTRA (median)")
    ap.add_argument("--skimage-repeat", type=int, default=3, help="timed repetitions for scikit-image (median)")
    ap.add_argument("--cases", default="512,lodopab")
    ap.add_argument("--no-skimage", action="store_true")
    ap.add_argument("--ours", help="path of the fedrecon binary or of ct_timing (default: target/release/…)")
    ap.add_argument("--check-conventions", action="store_true", help="only run the ASTRA convention test")
    ap.add_argument("--threads", default="1,2", help="our thread counts (RAYON_NUM_THREADS), comma-separated")
    ap.add_argument("--instructions", default="",
                    help="cases whose instructions per operation to count at 1 thread (callgrind; minutes)")
    args = ap.parse_args()

    import astra

    errs = check_conventions()
    print(f"ASTRA {astra.__version__}: one pixel's projection centroid vs conventions, max |Δ| in cells: "
          + ", ".join(f"{k} {v:.2f}" for k, v in errs.items()))
    if min(errs, key=errs.get) != "same" or errs["same"] > 0.5:
        sys.exit("ASTRA's parallel-beam conventions differ from fedrecon's; update the mapping in this script")
    if args.check_conventions:
        return

    ours = Ours(args.ours)
    try:
        threads = len(os.sched_getaffinity(0))
    except AttributeError:
        threads = os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}, {threads} CPUs; ours: {ours.name}")
    print(f"times: median of {args.repeat} (ASTRA, fedrecon) / {args.skimage_repeat} (scikit-image) runs, in ms\n")

    thread_counts = [int(t) for t in args.threads.split(",") if t]
    rows = []  # (op, {threads: Timing}, astra, skimage, instructions (ours, astra) or None)
    checks = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name in args.cases.split(","):
            case = CASES[name]
            img = phantom(case)
            ast = Astra(case)
            a_fwd, a_sino = ast.run("forward", img, args.repeat)
            a_bwd, a_back = ast.run("adjoint", a_sino, args.repeat)
            ast.close()
            o_fwd, o_bwd = {}, {}
            for t in thread_counts:
                o_fwd[t], o_sino = ours.run(case, "forward", img, args.repeat, tmp, t)
                o_bwd[t], o_back = ours.run(case, "adjoint", a_sino, args.repeat, tmp, t)
            s_fwd = s_bwd = Timing(float("nan"))
            if not args.no_skimage:
                s_fwd, s_bwd = skimage_times(case, img, args.skimage_repeat)
            instr = {"forward": None, "adjoint": None}
            if name in args.instructions.split(","):
                env = dict(os.environ, RAYON_NUM_THREADS="1")
                for op, data in (("forward", img), ("adjoint", a_sino)):
                    mine = instructions.marginal(
                        lambda k, op=op, data=data: ours.command(case, op, data, k, tmp)[0], env)
                    theirs = instructions.marginal(astra_loop(case, op, data, tmp), env)
                    instr[op] = (mine, theirs)
            rows.append((f"{name} forward", o_fwd, a_fwd, s_fwd, instr["forward"]))
            rows.append((f"{name} back", o_bwd, a_bwd, s_bwd, instr["adjoint"]))
            checks.append((name, rel_l2(o_sino, a_sino), rel_l2(o_back, a_back)))

    tcols = "".join(f"{f'ours {t}T ms':>13}" for t in thread_counts)
    rcols = "".join(f"{f'astra/{t}T':>11}" for t in thread_counts)
    sk = not args.no_skimage
    best = max(thread_counts)
    print("wall time (what a user waits for; inflated by any other load on the machine); ASTRA and")
    print("scikit-image are single-threaded, ours runs at each thread count (RAYON_NUM_THREADS):")
    print(f"{'op':<18}{tcols}{'astra ms':>11}" + (f"{'skimage ms':>12}" if sk else "") + rcols
          + (f"{'skimage/ours':>14}" if sk else ""))
    for op, o, a, s, _ in rows:
        print(f"{op:<18}" + "".join(f"{o[t].wall:>13.1f}" for t in thread_counts)
              + f"{a.wall:>11.1f}" + (f"{s.wall:>12.1f}" if sk else "")
              + "".join(f"{a.wall / o[t].wall:>10.1f}x" for t in thread_counts)
              + (f"{s.wall / o[best].wall:>13.1f}x" if sk else ""))
    if all(o[t].cpu == o[t].cpu for _, o, _, _, _ in rows for t in thread_counts):  # not NaN
        print("\nCPU time, summed over all threads (robust to other load); per core of work:")
        print(f"{'op':<18}{tcols}{'astra ms':>11}{rcols}")
        for op, o, a, s, _ in rows:
            print(f"{op:<18}" + "".join(f"{o[t].cpu:>13.1f}" for t in thread_counts)
                  + f"{a.cpu:>11.1f}"
                  + "".join(f"{a.cpu / o[t].cpu:>10.1f}x" for t in thread_counts))
    if any(r[4] for r in rows):
        print("\ninstructions of one operation at 1 thread (valgrind callgrind, set-up excluded: the")
        print("difference between k = 2 and k = 1 repetitions; the same on any load):")
        print(f"{'op':<18}{'ours':>14}{'astra':>14}{'astra/ours':>12}")
        for op, _, _, _, ins in rows:
            if ins:
                print(f"{op:<18}{ins[0] / 1e6:>12.0f} M{ins[1] / 1e6:>12.0f} M{ins[1] / ins[0]:>11.1f}x")
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nload average at the end (1, 5, 15 min): {load}")
    except OSError:
        pass
    print("\ncross-check with ASTRA (same phantom / same sinogram), relative L2 difference:")
    for name, fs, bs in checks:
        print(f"  {name:<8} forward ‖ours − astra‖/‖astra‖ = {fs:.2e}   back-projection = {bs:.2e}")


if __name__ == "__main__":
    main()
