#!/usr/bin/env python3
"""Issue 15's claims, checked on the per-seed tables of `fed compare --seeds` (standard library).

Every comparison is paired: per seed (same data, initial weights and batches), the difference of
two methods' mean PSNR over the *training* sites (evaluation-only sites, `train_samples = 0`, are
left out: a personal model has nothing to personalise there), then its mean ± sample sd over the
seeds. A claim "A >= B + m dB" holds when the mean paired gain is at least m.

Usage: benches/fed/claims.py OUT   (OUT/<benchmark>/seed-<k>/compare.csv from benches/fed/run.sh)
"""
import csv
import statistics
import sys
import tomllib
from pathlib import Path

BENCHMARKS = ["demo", "hetero-kernels", "hetero-physics", "hetero-anatomy"]
PERSONAL = ["hyperfed", "hyperfed-shared", "fedbn", "fedfdd", "fedprox", "central", "central-onehot"]


def load(bench_dir):
    """{seed: {method: {site: psnr}}} and the training sites of the run's config."""
    runs = {}
    train = None
    for d in sorted(bench_dir.glob("seed-*")):
        if not (d / "compare.csv").exists():
            continue  # a run still going
        seed = int(d.name.split("-", 1)[1])
        table = {}
        with open(d / "compare.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row["site"] != "mean":
                    table.setdefault(row["method"], {})[row["site"]] = float(row["psnr"])
        runs[seed] = table
        if train is None:
            cfg = tomllib.loads((d / "config.resolved.toml").read_text())
            train = [s["name"] for s in cfg["sites"]["site"] if s.get("train_samples", 1) > 0]
    return runs, train


def gain(runs, train, a, b):
    d = [statistics.fmean(t[a][s] for s in train) - statistics.fmean(t[b][s] for s in train)
         for t in runs.values()]
    return statistics.fmean(d), (statistics.stdev(d) if len(d) > 1 else 0.0)


def fmt(g):
    return f"{g[0]:+.2f} ± {g[1]:.2f} dB"


def main(out):
    rows = []
    for name in BENCHMARKS:
        p = Path(out) / name
        if not p.is_dir():
            continue
        runs, train = load(p)
        if not runs:
            continue
        methods = list(next(iter(runs.values())))
        if name == "hetero-kernels":
            g = gain(runs, train, "hyperfed", "fedavg")
            rows.append((name, "hyperfed >= fedavg + 1 dB", g[0] >= 1.0, fmt(g)))
        if name == "hetero-physics":
            g = gain(runs, train, "fedfdd", "fdd-fedavg")
            rows.append((name, "fedfdd >= fdd-fedavg + 0.5 dB", g[0] >= 0.5, fmt(g)))
        if name == "hetero-anatomy":
            g = gain(runs, train, "fedfdd", "fdd-fedavg")
            rows.append((name, "(FedFDD's own setting) fedfdd >= fdd-fedavg + 0.5 dB", g[0] >= 0.5,
                         fmt(g)))
        if name == "demo":
            gaps = [(m, gain(runs, train, m, "fedavg")) for m in PERSONAL if m in methods]
            worst = max(gaps, key=lambda x: abs(x[1][0]))
            best = max(gaps, key=lambda x: x[1][0])
            detail = ", ".join(f"{m} {g[0]:+.2f}" for m, g in gaps)
            rows.append((name + " (null control)", "all methods within 0.2 dB of fedavg",
                         abs(worst[1][0]) <= 0.2, detail))
            rows.append((name + " (null control)", "no method gains over 0.2 dB on fedavg",
                         best[1][0] <= 0.2, f"largest: {best[0]} {fmt(best[1])}"))
        others = [m for m in methods if m not in ("fbp", "local", "central", "central-onehot")]
        gaps = [(gain(runs, train, "central-onehot", m), m) for m in others]
        g, m = min(gaps)
        rows.append((name, "central-onehot >= every federated method", g[0] >= 0.0,
                     f"closest: {m}, {fmt(g)}"))
        if "local" in methods:
            g = gain(runs, train, "central-onehot", "local")
            rows.append((name, "(not claimed) central-onehot >= local", g[0] >= 0.0, fmt(g)))
    print("| benchmark | claim | holds here? | paired gain on the training sites (mean ± sd over seeds) |")
    print("|---|---|---|---|")
    for bench, claim, holds, detail in rows:
        print(f"| {bench} | {claim} | {'yes' if holds else 'no'} | {detail} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench")
