#!/usr/bin/env python3
"""PyTorch peer of fedrecon's LPD training step (benches/benches/nn_train_step.rs).

Same problem: 128^2 image, batch 4, parallel beam 60 views x 183 cells, Learned Primal-Dual
(Adler & Oektem 2018) with 10 iterations, 5 primal / 5 dual channels, 32 hidden, PReLU, 3x3
convolutions, the operator scaled by 1/||A|| as fedrecon's LPD does, MSE loss, Adam with
global-norm clipping. The projector is fedrecon's Joseph matrix, exported by
`nn_step_timing --export-matrix` and applied as a torch sparse CSR matrix (A and A^T).
Runs on 2 threads and prints the median step time of both implementations and their ratio.
With `--device cuda --torch-only --npy-matrix DIR` it times only the PyTorch step on the GPU,
with the matrix written by `fedrecon ct matrix --size 128 --angles 60 --detectors 183 -o DIR`
(COO triplets and `‖A‖₂`), and prints `torch_ms: <median>`; that is what `benches/gpu/check.sh`
compares with `fedrecon device bench --device cuda`.
"""
import argparse
import statistics
import subprocess
import time

import numpy as np
import torch


def load_npy_matrix(d):
    import json
    rows, cols = np.load(d + "/row.npy"), np.load(d + "/col.npy")
    vals = np.load(d + "/data.npy")
    meta = json.load(open(d + "/matrix.json"))
    m, n = meta["shape"]
    a = torch.sparse_coo_tensor(np.stack([rows, cols]), vals, (m, n)).coalesce().to_sparse_csr()
    at = torch.sparse_coo_tensor(np.stack([cols, rows]), vals, (n, m)).coalesce().to_sparse_csr()
    return a, at, 1.0 / float(meta["norm"])


def load_matrix(prefix):
    rows = np.fromfile(prefix + ".rows", dtype="<u4").astype(np.int64)
    cols = np.fromfile(prefix + ".cols", dtype="<u4").astype(np.int64)
    vals = np.fromfile(prefix + ".vals", dtype="<f4")
    m, n, s = open(prefix + ".shape").read().split()
    m, n = int(m), int(n)
    a = torch.sparse_coo_tensor(np.stack([rows, cols]), vals, (m, n)).coalesce().to_sparse_csr()
    at = torch.sparse_coo_tensor(np.stack([cols, rows]), vals, (n, m)).coalesce().to_sparse_csr()
    return a, at, float(s)


class Cnn3(torch.nn.Module):
    def __init__(self, a, h, b):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(a, h, 3, padding=1), torch.nn.PReLU(h),
            torch.nn.Conv2d(h, h, 3, padding=1), torch.nn.PReLU(h),
            torch.nn.Conv2d(h, b, 3, padding=1))

    def forward(self, x):
        return self.net(x)


class Lpd(torch.nn.Module):
    def __init__(self, a, at, s, shape, sino, n_iter=10, np_=5, nd=5, h=32):
        super().__init__()
        self.a, self.at, self.s, self.shape, self.sino = a, at, s, shape, sino
        self.np_, self.nd = np_, nd
        self.primal = torch.nn.ModuleList([Cnn3(np_ + 1, h, np_) for _ in range(n_iter)])
        self.dual = torch.nn.ModuleList([Cnn3(nd + 2, h, nd) for _ in range(n_iter)])

    def op(self, x):  # [B,1,ny,nx] -> [B,1,na,nd]
        b = x.shape[0]
        y = (self.a @ x.reshape(b, -1).T).T
        return y.reshape(b, 1, *self.sino) * self.s

    def adj(self, y):
        b = y.shape[0]
        x = (self.at @ y.reshape(b, -1).T).T
        return x.reshape(b, 1, *self.shape) * self.s

    def forward(self, g):
        b = g.shape[0]
        g = g * self.s
        f = torch.zeros(b, self.np_, *self.shape, device=g.device)
        h = torch.zeros(b, self.nd, *self.sino, device=g.device)
        for dual, primal in zip(self.dual, self.primal):
            h = h + dual(torch.cat([h, self.op(f[:, 1:2]), g], 1))
            f = f + primal(torch.cat([f, self.adj(h[:, 0:1])], 1))
        return f[:, 0:1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", help="nn_step_timing binary")
    p.add_argument("--matrix", help="prefix for the exported Joseph matrix")
    p.add_argument("--npy-matrix", help="directory written by `fedrecon ct matrix` (torch only)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--torch-only", action="store_true",
                   help="only export the matrix and time the PyTorch step")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--angles", type=int, default=60)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rust = []
    if a.npy_matrix and a.torch_only:
        A, AT, s = load_npy_matrix(a.npy_matrix)
    else:
        cmd = [a.binary, "--export-matrix", a.matrix, "--repeat", str(a.repeat)]
        if a.torch_only:
            cmd = [a.binary, "--export-matrix", a.matrix, "--repeat", "0", "--warmup", "0"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                             env={"RAYON_NUM_THREADS": str(a.threads), "PATH": "/usr/bin:/bin"})
        rust = [float(l.split()[1]) for l in out.stdout.splitlines() if l.startswith("time_ms:")]
        A, AT, s = load_matrix(a.matrix)
    dev = torch.device(a.device)
    A, AT = A.to(dev), AT.to(dev)
    torch.manual_seed(0)
    n, na = a.size, a.angles
    nd = A.shape[0] // na
    model = Lpd(A, AT, s, (n, n), (na, nd)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(4, 1, n, n, device=dev)
    with torch.no_grad():
        y = (A @ x.reshape(4, -1).T).T.reshape(4, 1, na, nd)
    times = []
    for k in range(a.repeat + a.warmup):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        opt.zero_grad()
        loss = torch.mean((model(y) - x) ** 2)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if k >= a.warmup:
            times.append((time.perf_counter() - t) * 1e3)
    t = statistics.median(times)
    if a.torch_only:
        print(f"torch_ms: {t:.3f}")
        print(f"pytorch {torch.__version__} LPD step on {a.device}: {t:.1f} ms")
        return
    r = statistics.median(rust)
    print(f"fedrecon (burn-flex) step: {r:.1f} ms")
    print(f"pytorch {torch.__version__} step: {t:.1f} ms ({a.threads} threads)")
    print(f"ratio fedrecon/pytorch: {r / t:.2f}")


if __name__ == "__main__":
    main()
