"""End-to-end federation on Flower 1.42 over loopback (run by ``tests/flower/e2e.sh``).

A real ``flower-superlink`` (TLS, SuperNode authentication) and three ``flower-supernode``
processes, one per demo site (its own ``site.toml``, keys and checkpoint directory), all on
127.0.0.1; certificates and keys from ``fedrecon fed provision``. Scenarios, each asserted from
files and exit codes:

- ``normal``: 3 rounds, metrics for every site each round, and the global model after round 1
  equal to ``fed simulate``'s round-1 checkpoint to 1e-6 relative (bit-identical in practice);
- ``site-killed``: FedFDD (a local low-frequency branch), one SuperNode SIGKILLed during round 2:
  the round completes with the other two; the node, restarted, rejoins in round 3 from its own
  checkpoint (its local tensors) — then a second ``flwr run`` with ``resume`` continues from
  the last complete round;
- ``unauthorised-node``: a SuperNode whose key was never registered exits non-zero;
- ``no-ca``: a SuperNode that does not trust the SuperLink's CA exits non-zero;
- ``secagg``: SecAgg+ round 1 equals the plain round 1 within the quantisation bound
  K·Δ/Σr (Δ = 2·clipping_range/(quantization_range − 1), r_i = n_i/max_weight);
- ``dp``: ε(δ) reported each round equals the RDP closed form of the Gaussian mechanism without
  amplification, min_α T·α/(2σ²) + log(1 − 1/α) − (log δ + log α)/(α − 1).

Writes ``OUT/e2e.json``: ``[{"name", "passed", "detail"}]``; exits 1 if any scenario failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from fedrecon import fed

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "crates" / "python" / "flower"
SITES = ["A-sparse", "B-lowdose", "C-fine"]
# small and quick: 2 local steps, a 2-iteration LEARN with 4 channels, the demo's 32² phantoms
SETS = ["local.steps=2", "model.n_iter=2", "model.hidden=4"]
FDD = ["arch.kind='fdd'", "method.preset='fedfdd'"]  # TOML literal strings: the run config quotes with "
FED = "e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, work: Path, cli: Path) -> None:
        self.work = work
        self.cli = cli
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, FLWR_HOME=str(work / "flwr-home"))
        # Flower 1.42 speaks HTTPS (httpx, uvicorn) even on loopback, and httpx honours the
        # HTTP(S)_PROXY/ALL_PROXY a CI machine may set for its registries: loopback must bypass it.
        for var in ("NO_PROXY", "no_proxy"):
            have = [h for h in self.env.get(var, "").split(",") if h]
            self.env[var] = ",".join(have + [h for h in ("127.0.0.1", "localhost") if h not in have])
        self.procs: Dict[str, subprocess.Popen] = {}
        self.port = free_port()
        self.kits = work / "kits"
        self.node_ports: Dict[str, int] = {}

    # --- processes ----------------------------------------------------------------------------

    def spawn(self, name: str, argv: List[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        p = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        self.procs[name] = p
        return p

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
        except OSError as e:
            return f"(no log: {e})"
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(name, None)
        if p is None:
            return
        try:
            os.killpg(p.pid, sig)  # the node and its flwr-clientapp children
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    def flwr(self, *args: str, check: bool = True) -> dict:
        p = subprocess.run(
            ["flwr", *args, "--format", "json"], capture_output=True, text=True, env=self.env
        )
        try:
            out = json.loads(p.stdout)
        except json.JSONDecodeError:
            out = {"success": False, "raw": p.stdout + p.stderr}
        if check and (p.returncode != 0 or not out.get("success", False)):
            raise RuntimeError(f"flwr {' '.join(args)} failed: {out}")
        return out

    # --- set-up -------------------------------------------------------------------------------

    def provision(self) -> None:
        sites = ",".join(SITES + ["spare", "intruder"])
        subprocess.run(
            [str(self.cli), "fed", "provision", "--sites", sites, "--out", str(self.kits)],
            check=True,
            capture_output=True,
        )
        # a second, unrelated CA for the no-ca scenario
        subprocess.run(
            [str(self.cli), "fed", "provision", "--sites", "x", "--out", str(self.work / "other")],
            check=True,
            capture_output=True,
        )
        for s in SITES:
            d = self.work / "sites" / s
            d.mkdir(parents=True, exist_ok=True)
            text = fed.site_toml(None, s, set=SETS)
            (d / "site.toml").write_text(
                f'checkpoint-dir = "state"\n\n[accept]\nmodels = ["learn"]\n'
                f'methods = ["fedavg", "fedprox", "fedbn", "fedfdd", "hyperfed"]\n'
                f'local = ["lowfreq.**"]\nmax-local-steps = 50\n\n{text}'
            )

    def start_superlink(self) -> None:
        k = self.kits / "superlink"
        self.spawn(
            "superlink",
            [
                "flower-superlink",
                "--ssl-ca-certfile", str(k / "ca.crt"),
                "--ssl-certfile", str(k / "server.pem"),
                "--ssl-keyfile", str(k / "server.key"),
                "--enable-supernode-auth",
                "--disable-runtime-dependency-installation",
                "--host", "127.0.0.1",
                "--port", str(self.port),
            ],
        )
        home = self.work / "flwr-home"
        home.mkdir(exist_ok=True)
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{FED}"\n\n[superlink.{FED}]\n'
            f'address = "127.0.0.1:{self.port}"\nroot-certificates = "{k / "ca.crt"}"\n'
        )
        deadline = time.time() + 120
        last: dict = {}
        while time.time() < deadline and self.procs["superlink"].poll() is None:
            last = self.flwr("supernode", "list", FED, check=False)
            if last.get("success"):
                break
            time.sleep(1)
        else:
            code = self.procs["superlink"].poll()
            state = "not answering after 120 s" if code is None else f"exited with {code}"
            raise RuntimeError(
                f"the SuperLink is {state}; last `flwr supernode list`: {last}\n"
                f"--- logs/superlink.log (tail) ---\n{self.log_tail('superlink')}"
            )
        for s in SITES + ["spare"]:  # not the intruder
            self.flwr("supernode", "register", str(self.kits / "sites" / s / f"{s}.pub"), FED)

    def supernode_argv(self, proc: str, site: str, key_dir: str, ca: Path) -> List[str]:
        port = self.node_ports.setdefault(proc, free_port())
        return [
            "flower-supernode",
            "--superlink", f"127.0.0.1:{self.port}",
            "--root-certificates", str(ca),
            "--auth-supernode-private-key", str(self.kits / "sites" / key_dir / key_dir),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--node-config", f'site-config="{self.work / "sites" / site / "site.toml"}"',
        ]

    def start_supernode(self, site: str) -> subprocess.Popen:
        ca = self.kits / "sites" / site / "ca.crt"
        return self.spawn(f"node-{site}", self.supernode_argv(site, site, site, ca))

    def online(self) -> int:
        nodes = self.flwr("supernode", "list", FED, check=False).get("nodes", [])
        return sum(1 for n in nodes if n.get("status") == "online")

    def wait_online(self, n: int, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while self.online() < n:
            if time.time() > deadline:
                tails = "".join(
                    f"\n--- logs/{name}.log (tail) ---\n{self.log_tail(name, 15)}"
                    for name in self.procs
                    if name.startswith("node-")
                )
                raise RuntimeError(f"{n} SuperNodes not online after {timeout} s{tails}")
            time.sleep(1)

    # --- runs ---------------------------------------------------------------------------------

    def run(self, name: str, **cfg) -> str:
        cfg.setdefault("set", ";".join(SETS))
        cfg.setdefault("checkpoint-dir", str(self.work / "server" / name))
        cfg.setdefault("run-name", name)
        parts = []
        for k, v in cfg.items():
            if isinstance(v, bool):
                parts.append(f"{k}={'true' if v else 'false'}")
            elif isinstance(v, str):
                parts.append(f'{k}="{v}"')
            else:
                parts.append(f"{k}={v}")
        out = self.flwr("run", str(APP), FED, "--run-config", " ".join(parts))
        return str(out["run-id"])

    def wait_run(self, run_id: str, timeout: float) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            runs = self.flwr("ls", FED, "--run-id", run_id, check=False).get("runs", [])
            if runs and str(runs[0].get("status", "")).startswith("finished"):
                status = runs[0]["status"]
                if status != "finished:completed":
                    tail = self.run_log(run_id).strip().splitlines()[-12:]
                    status += " — " + " | ".join(tail)
                return status
            time.sleep(2)
        self.flwr("stop", run_id, FED, check=False)
        return "timeout"

    def run_log(self, run_id: str) -> str:
        p = subprocess.run(
            ["flwr", "log", run_id, FED, "--show"], capture_output=True, text=True, env=self.env
        )
        (self.logs / f"run-{run_id}.log").write_text(p.stdout + p.stderr)
        return p.stdout + p.stderr


def metrics(cluster: Cluster, name: str) -> dict:
    return json.loads((cluster.work / "server" / name / "metrics.json").read_text())


def checkpoint(cluster: Cluster, name: str, rounds: Optional[int] = None) -> dict:
    d = cluster.work / "server" / name
    f = d / ("coordinator.safetensors" if rounds is None else f"coordinator.after-{rounds}.safetensors")
    return fed.read_coordinator_checkpoint(f)


def rel_diff(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> float:
    assert sorted(a) == sorted(b), f"different tensors: {sorted(set(a) ^ set(b))}"
    num = math.sqrt(sum(float(np.sum((a[k].astype(np.float64) - b[k]) ** 2)) for k in a))
    den = math.sqrt(sum(float(np.sum(b[k].astype(np.float64) ** 2)) for k in b))
    return num / den


def max_abs(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


# --- scenarios --------------------------------------------------------------------------------


def normal(c: Cluster) -> str:
    rid = c.run("normal", rounds=3, **{"min-train-nodes": 3, "min-available-nodes": 3})
    status = c.wait_run(rid, 240)
    check(status == "finished:completed", f"run status {status}")
    m = metrics(c, "normal")
    check(len(m["rounds"]) == 3, f"{len(m['rounds'])} rounds in metrics.json")
    for r in m["rounds"]:
        check(r["participants"] == SITES, f"round {r['round']}: participants {r['participants']}")
        check(
            sorted(x["site"] for x in r["metrics"]) == SITES,
            f"round {r['round']}: metrics from {[x['site'] for x in r['metrics']]}",
        )
    ck = checkpoint(c, "normal")
    check(ck["completed_rounds"] == 3, f"checkpoint has {ck['completed_rounds']} rounds")
    # the same job in `fed simulate` (in-process): round 1 must match
    sim = c.work / "sim-normal"
    args = [str(c.cli), "fed", "simulate", "--out", str(sim), "--rounds", "1"]
    for s in SETS:
        args += ["--set", s]
    subprocess.run(args, check=True, capture_output=True)
    want = fed.read_coordinator_checkpoint(sim / "checkpoints" / "coordinator.safetensors")
    got = checkpoint(c, "normal", 1)
    rel = rel_diff(got["global"], want["global"])
    check(rel <= 1e-6, f"round-1 global differs from fed simulate by {rel:.3g} (relative)")
    psnr = [np.mean([x["psnr"] for x in r["metrics"]]) for r in m["rounds"]]
    return (
        f"3 rounds, 3 sites each; mean PSNR per round {', '.join(f'{p:.2f}' for p in psnr)} dB; "
        f"round-1 global vs fed simulate: relative difference {rel:.3g}"
    )


def site_killed(c: Cluster) -> str:
    victim = "C-fine"
    name = "killed"
    cfg = {
        "set": ";".join(SETS + FDD),
        "min-train-nodes": 2,
        "min-available-nodes": 3,
        "straggler-wait": 120.0,
        "rejoin-wait": 90.0,
        "round-timeout": 240.0,
    }
    rid = c.run(name, rounds=3, **cfg)
    mfile = c.work / "server" / name / "metrics.json"
    deadline = time.time() + 180
    while not (mfile.is_file() and len(json.loads(mfile.read_text())["rounds"]) >= 1):
        check(time.time() < deadline, "round 1 did not complete in 180 s")
        time.sleep(0.5)
    time.sleep(2.0)  # round 2's training messages are out
    c.kill(f"node-{victim}")
    killed_at = time.time()
    # a SIGKILLed node stays "online" until it misses two heartbeats; restart it once it is
    # offline (an earlier restart is refused by the SuperLink)
    while True:
        check(time.time() - killed_at < 200, "the killed node never came back")
        if c.online() <= 2:
            p = c.start_supernode(victim)
            time.sleep(6)
            if p.poll() is None:
                break
            c.procs.pop(f"node-{victim}", None)
        time.sleep(2)
    restarted_after = time.time() - killed_at
    status = c.wait_run(rid, 400)
    check(status == "finished:completed", f"run status {status}")
    m = metrics(c, name)
    r1, r2, r3 = m["rounds"]
    check(victim in r1["participants"], f"round 1 participants {r1['participants']}")
    check(
        victim not in r2["participants"] and len(r2["participants"]) == 2,
        f"round 2 participants {r2['participants']} (dropped {r2['dropped']})",
    )
    check(victim in r3["participants"], f"round 3 participants {r3['participants']}")
    t3 = {t["site"]: t for t in r3["train"]}
    check(
        t3[victim]["restored_rounds"] == 1,
        f"round 3: {victim} restored its checkpoint after {t3[victim]['restored_rounds']} rounds",
    )
    ck_dir = c.work / "sites" / victim / "state" / name
    files = sorted(p.name for p in ck_dir.iterdir())
    check(f"site-{victim}.after-3.safetensors" in files, f"{victim}'s checkpoints: {files}")
    site_ck = fed.Site(
        None, victim, set=SETS + FDD, sites=c.work / "sites" / victim / "site.toml",
        restore=ck_dir / f"site-{victim}.after-1.safetensors",
    )
    server = checkpoint(c, name)
    check(
        not any(k.startswith("lowfreq.") for k in server["global"]),
        "a local tensor (lowfreq.*) reached the server",
    )
    check(site_ck.restored_rounds == 1, "the site's round-1 checkpoint does not load")
    # resume: a second run continues the same run name from the last complete round
    rid2 = c.run(name, rounds=4, resume=True, **cfg)
    status = c.wait_run(rid2, 240)
    check(status == "finished:completed", f"resumed run status {status}")
    m = metrics(c, name)
    check(len(m["rounds"]) == 4, f"after resume: {len(m['rounds'])} rounds")
    check(m["rounds"][3]["participants"] == SITES, f"round 4: {m['rounds'][3]['participants']}")
    t4 = {t["site"]: t["restored_rounds"] for t in m["rounds"][3]["train"]}
    check(all(v == 3 for v in t4.values()), f"round 4 restored rounds {t4}")
    return (
        f"{victim} SIGKILLed in round 2 ({r2['participants']} completed it, dropped "
        f"{r2['dropped']}); restarted {restarted_after:.0f} s later, it rejoined round 3 from "
        f"its round-1 checkpoint; resume ran round 4 with every site from its round-3 checkpoint"
    )


def refused_exit(c: Cluster, proc: str, key: str, ca: Path, what: str) -> int:
    """Start a SuperNode that must be refused; its (non-zero) exit code within 60 s."""
    p = c.spawn(f"node-{proc}", c.supernode_argv(proc, "A-sparse", key, ca))
    try:
        code = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        c.kill(f"node-{proc}")
        raise AssertionError(f"a SuperNode {what} kept running for 60 s")
    c.procs.pop(f"node-{proc}", None)
    check(code != 0, f"exit code {code}")
    return code


def unauthorised(c: Cluster) -> str:
    ca = c.kits / "sites" / "intruder" / "ca.crt"
    code = refused_exit(c, "intruder", "intruder", ca, "with an unregistered key")
    return f"SuperNode with an unregistered key exited with code {code}"


def no_ca(c: Cluster) -> str:
    # a registered key (spare) and another kit's CA, so only the CA is wrong
    other = c.work / "other" / "superlink" / "ca.crt"
    code = refused_exit(c, "no-ca", "spare", other, "trusting another CA")
    log = (c.logs / "node-no-ca.log").read_text(errors="replace")
    check("CERTIFICATE_VERIFY_FAILED" in log, "its log does not name a certificate failure")
    return f"SuperNode trusting another CA exited with code {code} (CERTIFICATE_VERIFY_FAILED)"


def secagg(c: Cluster) -> str:
    rid = c.run("secagg", rounds=1, secagg=True, **{"min-train-nodes": 3, "min-available-nodes": 3})
    status = c.wait_run(rid, 300)
    check(status == "finished:completed", f"run status {status}")
    got = checkpoint(c, "secagg", 1)["global"]
    plain = checkpoint(c, "normal", 1)["global"]
    clip, q = 8.0, 4194304
    n = [16, 16, 16]  # the demo sites' training samples; max_weight = max(n)
    ratios = [x / max(n) for x in n]
    bound = len(n) * (2 * clip / (q - 1)) / sum(ratios)
    err = max_abs(got, plain)
    big = max(float(np.max(np.abs(v))) for v in plain.values())
    check(big < clip, f"a weight ({big}) is outside the SecAgg+ clipping range ±{clip}")
    check(err <= bound * (1 + 1e-3) + 1e-7, f"|secagg − plain| = {err:.3g} > bound {bound:.3g}")
    return f"round-1 aggregate: max |SecAgg+ − plain| = {err:.3g} ≤ K·Δ/Σr = {bound:.3g}"


def dp(c: Cluster) -> str:
    sigma, clip_norm, delta, rounds = 1.0, 0.5, 1e-5, 2
    rid = c.run(
        "dp", rounds=rounds, dp=True,
        **{"dp-noise-multiplier": sigma, "dp-clipping-norm": clip_norm, "dp-delta": delta,
           "min-train-nodes": 3, "min-available-nodes": 3},
    )
    status = c.wait_run(rid, 240)
    check(status == "finished:completed", f"run status {status}")
    m = metrics(c, "dp")
    alphas = np.concatenate([np.linspace(1.001, 10, 20000), np.linspace(10, 1000, 20000)])
    out = []
    for t, r in enumerate(m["rounds"], start=1):
        e = r["dp"]["epsilon"]
        closed = float(
            np.min(t * alphas / (2 * sigma**2) + np.log1p(-1 / alphas)
                   - (math.log(delta) + np.log(alphas)) / (alphas - 1))
        )
        check(abs(e - closed) <= 1e-3 * closed, f"round {t}: ε {e} vs closed form {closed}")
        out.append(f"round {t}: ε = {e:.4f} (closed form {closed:.4f})")
    noised = checkpoint(c, "dp", 1)["global"]
    plain = checkpoint(c, "normal", 1)["global"]
    d = np.concatenate([(noised[k].astype(np.float64) - plain[k]).ravel() for k in plain])
    std = float(np.std(d))
    want = sigma * clip_norm / 3
    check(0.8 * want < std < 1.25 * want, f"noise std {std:.4f}, expected ≈ σC/m = {want:.4f}")
    return f"σ = {sigma}, C = {clip_norm}, δ = {delta}: " + "; ".join(out) + (
        f"; noise std on the round-1 aggregate {std:.4f} ≈ σC/m = {want:.4f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cli", type=Path, default=ROOT / "target" / "debug" / "fedrecon")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    a = ap.parse_args()
    # Absolute paths: Flower's config.toml rejects relative certificate paths, and the
    # SuperLink/SuperNodes run with their own working directories.
    a.out = a.out.resolve()
    a.cli = a.cli.resolve()
    a.out.mkdir(parents=True, exist_ok=True)
    work = a.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    c = Cluster(work, a.cli)
    scenarios = [
        ("normal", normal),
        ("site-killed", site_killed),
        ("unauthorised-node", unauthorised),
        ("no-ca", no_ca),
        ("secagg", secagg),
        ("dp", dp),
    ]
    only = {s for s in a.only.split(",") if s}
    results = []
    t0 = time.time()
    try:
        c.provision()
        c.start_superlink()
        for s in SITES:
            c.start_supernode(s)
        c.wait_online(3)
        for name, fn in scenarios:
            if only and name not in only:
                continue
            start = time.time()
            try:
                if c.online() < 3:
                    for s in SITES:
                        if f"node-{s}" not in c.procs:
                            c.start_supernode(s)
                    c.wait_online(3, 120)
                detail = fn(c)
                results.append({"name": name, "passed": True, "detail": detail})
            except Exception as e:  # a failed scenario is reported, the others still run
                traceback.print_exc()
                results.append({"name": name, "passed": False, "detail": f"{type(e).__name__}: {e}"})
            results[-1]["seconds"] = round(time.time() - start, 1)
            print(f"e2e {name}: {'PASS' if results[-1]['passed'] else 'FAIL'} "
                  f"({results[-1]['seconds']} s) {results[-1]['detail']}", flush=True)
    finally:
        c.stop_all()
        (a.out / "e2e.json").write_text(json.dumps(results, indent=1))
    print(f"e2e: {sum(r['passed'] for r in results)}/{len(results)} passed in "
          f"{time.time() - t0:.0f} s; {a.out / 'e2e.json'}")
    return 0 if results and all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
