#!/usr/bin/env python3
"""Issue 15's claims, checked on the `fed compare --seeds` JSON of each benchmark.

Every comparison is paired: the difference of the site-mean PSNR of two methods on the same seed
(same data, initial weights and batches), then its mean ± sample sd over the seeds. A claim
"A >= B + m dB" holds when the mean paired gain is at least m. Standard library only.

Usage: benches/fed/claims.py OUT   (OUT holds demo.json, hetero-kernels.json, ...)
"""
import json
import statistics
import sys
from pathlib import Path


def gain(doc, a, b):
    xs = doc["methods"][a]["seed_psnr"]
    ys = doc["methods"][b]["seed_psnr"]
    d = [x - y for x, y in zip(xs, ys)]
    sd = statistics.stdev(d) if len(d) > 1 else 0.0
    return statistics.fmean(d), sd


def main(out):
    docs = {}
    for name in ["demo", "hetero-kernels", "hetero-physics", "hetero-anatomy"]:
        p = Path(out) / f"{name}.json"
        if p.exists():
            docs[name] = json.loads(p.read_text())
    rows = []

    def claim(bench, text, holds, detail):
        rows.append((bench, text, "holds" if holds else "does not hold", detail))

    if "hetero-kernels" in docs:
        g, s = gain(docs["hetero-kernels"], "hyperfed", "fedavg")
        claim("hetero-kernels", "hyperfed >= fedavg + 1 dB", g >= 1.0, f"{g:+.2f} ± {s:.2f} dB")
    if "hetero-physics" in docs:
        g, s = gain(docs["hetero-physics"], "fedfdd", "fdd-fedavg")
        claim("hetero-physics", "fedfdd >= fdd-fedavg + 0.5 dB", g >= 0.5, f"{g:+.2f} ± {s:.2f} dB")
    if "demo" in docs:
        d = docs["demo"]
        fed = [m for m in d["methods"] if m not in ("fbp", "local")]
        means = {m: d["methods"][m]["mean_psnr"] for m in fed}
        spread = max(means.values()) - min(means.values())
        lo, hi = min(means, key=means.get), max(means, key=means.get)
        claim("demo (null control)", "all trained methods within 0.2 dB", spread <= 0.2,
              f"spread {spread:.2f} dB ({lo} {means[lo]:.2f} … {hi} {means[hi]:.2f})")
    for name, d in docs.items():
        fed = [m for m in d["methods"]
               if m not in ("fbp", "central", "central-onehot")]
        worst = []
        for m in fed:
            g, s = gain(d, "central-onehot", m)
            worst.append((g, s, m))
        g, s, m = min(worst)
        claim(name, "central-onehot >= every federated method and local", g >= 0.0,
              f"closest: {m}, central-onehot {g:+.2f} ± {s:.2f} dB")
    print("| benchmark | claim | verdict | paired gain (mean ± sd over seeds) |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench")
