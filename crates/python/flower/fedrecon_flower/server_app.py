"""The ServerApp: fedrecon's coordinator on Flower's SuperLink.

1. Waits for ``min-available-nodes`` SuperNodes, then asks each (``query``) who it is and for its
   initial uploadable tensors; sites refuse jobs their policy does not accept (the reason is
   logged and written to ``metrics.json``). Every accepting site must report the same initial
   model (they all seed it from the job's seed), which becomes the global model — or, with
   ``resume``, the global model and server-optimiser state of the last complete round come from
   ``checkpoint-dir``.
2. Each round: the training sites get the ``aggregate`` tensors (``fedrecon.fed.Server.download``),
   train, and upload every non-local tensor; the round closes when every sampled site answered,
   or ``straggler-wait`` seconds after ``min-train-nodes`` did (a dead site is dropped from the
   round), or at ``round-timeout``. The uploads are checked (names, shapes, dtype, finite) and
   aggregated by parameter group with the method's rules — fedrecon's ``Strategy::aggregate``,
   the code ``fed simulate`` runs, because Flower's strategies apply one rule to a whole model
   and cannot keep groups apart. Every site then evaluates the new model; the round's global
   tensors, server-optimiser state, participants and metrics are saved (atomically).
3. Options: SecAgg+ runs the same policy through Flower's legacy ``SecAggPlusWorkflow`` (the
   only SecAgg+ in 1.42; the server sees only the masked weighted sum); DP uses Flower's
   client-side ``fixedclipping_mod``, adds Flower's Gaussian noise (σ·C/m) to the FedAvg
   aggregate and accounts it with Flower's ``RdpAccountant``, reporting ε(δ) each round.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from logging import INFO, WARNING
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import (
    EvaluateIns,
    FitIns,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import Strategy as LegacyStrategy
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid, ServerApp
from flwr.supercore import log
from flwr.supercore.differential_privacy import (
    KEY_CLIPPING_NORM,
    add_gaussian_noise_inplace,
    compute_stdv,
)
from flwr.supercore.privacy_accounting import (
    GaussianPrivacyEvent,
    NeighboringRelation,
    PrivacyConfig,
    SamplingMethod,
)
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

from fedrecon import fed

from .common import (
    ARRAYS,
    CONFIG,
    METRICS,
    NUM_EXAMPLES,
    Options,
    check_policies,
    from_record,
    to_record,
)

app = ServerApp()


class Site:
    """A node that accepted the job."""

    def __init__(self, node_id: int, name: str, train_samples: int) -> None:
        self.node_id = node_id
        self.name = name
        self.train_samples = train_samples


class Run:
    """One federation run: the options, the fedrecon server and the sites."""

    def __init__(self, grid: Grid, context: Context) -> None:
        self.grid = grid
        self.opts = Options.from_run_config(dict(context.run_config))
        self.run_name = self.opts.run_name or f"run-{context.run_id}"
        self.job_text = self.opts.job_text()
        self.server = fed.Server(None, set=self.opts.set, config_text=self.job_text or None)
        job = self.server.job()
        self.rounds = self.opts.rounds or int(job["rounds"])
        self.seed = int(job["seed"])
        self.ckdir = Path(self.opts.checkpoint_dir).expanduser() if self.opts.checkpoint_dir else None
        self.sites: Dict[int, Site] = {}
        self.refused: Dict[int, str] = {}
        self.log: List[dict] = []
        self.accountant: Optional[RdpAccountant] = None
        # per site, the rounds its restored checkpoint had completed (-1: started fresh)
        self.restored: Dict[str, int] = {}

    # --- messages ---------------------------------------------------------------------------

    def job_config(self, round_: Optional[int] = None) -> ConfigRecord:
        c = ConfigRecord(
            {"fed-config": self.job_text, "set": ";".join(self.opts.set), "run-name": self.run_name}
        )
        if round_ is not None:
            c["round"] = round_
        return c

    def message(self, node: int, kind: str, content: RecordDict, round_: int) -> Message:
        return Message(
            content,
            dst_node_id=node,
            message_type=kind,
            ttl=self.opts.round_timeout,
            group_id=str(round_),
        )

    def exchange(
        self, messages: List[Message], need: int
    ) -> Tuple[List[Tuple[int, Message]], List[int]]:
        """Send, then collect replies until all arrived, or ``straggler-wait`` seconds after
        ``need`` good ones did, or ``round-timeout``. Returns ([(node, reply)], nodes without a
        reply). Replies are matched to nodes by message id: an error reply the SuperLink makes
        for an unavailable node need not carry that node as its source."""
        dst = {}
        ids = []
        for m in messages:
            mid = list(self.grid.push_messages([m]))[0]
            dst[mid] = m.metadata.dst_node_id
            ids.append(mid)
        pending = set(ids)
        replies: List[Tuple[int, Message]] = []
        start, enough_at = time.time(), None
        while pending and time.time() - start < self.opts.round_timeout:
            for r in self.grid.pull_messages(list(pending)):
                mid = r.metadata.reply_to_message_id
                if mid in pending:
                    pending.discard(mid)
                    replies.append((dst[mid], r))
            good = sum(1 for _, r in replies if not r.has_error())
            if enough_at is None and good >= need:
                enough_at = time.time()
            if enough_at is not None and pending and time.time() - enough_at >= self.opts.straggler_wait:
                break
            if pending:
                time.sleep(0.5)
        return replies, [dst[i] for i in pending]

    # --- set-up -----------------------------------------------------------------------------

    def wait_for_nodes(self) -> List[int]:
        deadline = time.time() + self.opts.wait_for_nodes
        while True:
            nodes = sorted(self.grid.get_node_ids())
            if len(nodes) >= self.opts.min_available_nodes:
                return nodes
            if time.time() > deadline:
                raise RuntimeError(
                    f"only {len(nodes)} SuperNodes connected after wait-for-nodes = "
                    f"{self.opts.wait_for_nodes} s; min-available-nodes = "
                    f"{self.opts.min_available_nodes}"
                )
            time.sleep(1.0)

    def query(self, nodes: List[int]) -> Dict[str, object]:
        """Learn the sites; returns the initial tensors each accepting site reported."""
        msgs = [
            self.message(n, MessageType.QUERY, RecordDict({CONFIG: self.job_config()}), 0)
            for n in nodes
        ]
        replies, silent = self.exchange(msgs, need=len(nodes))
        initial: Dict[str, object] = {}
        for node, r in replies:
            if r.has_error():
                self.refused[node] = f"error: {r.error.reason}"
                continue
            info = r.content[CONFIG]
            if not bool(info["accepted"]):
                self.refused[node] = str(info["reason"])
                log(WARNING, "node %s refused the job: %s", node, info["reason"])
                continue
            name = str(info["site"])
            if any(s.name == name for s in self.sites.values()):
                raise RuntimeError(f"two SuperNodes claim site `{name}`")
            self.sites[node] = Site(node, name, int(info["train-samples"]))
            initial[name] = from_record(r.content[ARRAYS], f"the initial tensors of `{name}`")
        for n in silent:
            self.refused[n] = "no answer to the query"
        trainers = [s for s in self.sites.values() if s.train_samples > 0]
        if len(trainers) < self.opts.min_train_nodes:
            raise RuntimeError(
                f"{len(trainers)} training sites accepted the job, min-train-nodes = "
                f"{self.opts.min_train_nodes}; refusals: {self.refused}"
            )
        return initial

    def start(self) -> None:
        initial = self.query(self.wait_for_nodes())
        resumed = bool(self.opts.resume and self.ckdir and self.server.resume(self.ckdir))
        if not resumed:
            import numpy as np

            names = sorted(initial)
            first = initial[names[0]]
            for n in names[1:]:
                other = initial[n]
                same = list(other) == list(first) and all(
                    np.array_equal(other[k], first[k]) for k in first
                )
                if not same:
                    raise RuntimeError(
                        f"sites `{names[0]}` and `{n}` report different initial models: they "
                        f"must run the same job (model, seed, fedrecon version)"
                    )
            self.server.begin(first, names)
        policies = self.server.policies()
        check_policies(policies, self.opts.secagg, self.opts.dp)
        if self.opts.dp:
            trainers = [s for s in self.sites.values() if s.train_samples > 0]
            counts = {s.name: s.train_samples for s in trainers}
            if "samples" in {p[4] for p in policies} and len(set(counts.values())) > 1:
                raise ValueError(
                    f"dp: the sample-weighted mean gives sites unequal weights {counts}, which "
                    f"the accountant's sensitivity C/m does not cover: set "
                    f'method.weighting = "uniform" or give the sites equal train_samples'
                )
            self.accountant = RdpAccountant(
                PrivacyConfig(
                    target_delta=self.opts.dp_delta,
                    population_size=len(trainers),
                    neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                    sampling_method=SamplingMethod.NO_AMPLIFICATION,
                )
            )
            if resumed:
                for entry in self.previous_log():
                    if "dp" in entry:
                        self.accountant.compose(
                            GaussianPrivacyEvent(
                                self.opts.dp_noise_multiplier,
                                int(entry["dp"]["sample_size"]),
                                len(trainers),
                            )
                        )
        if resumed:
            self.log = self.previous_log()
        log(
            INFO,
            "fedrecon: %s sites accepted (%s), %s refused; %s from round %s of %s",
            len(self.sites),
            ", ".join(sorted(s.name for s in self.sites.values())),
            len(self.refused),
            "resuming" if resumed else "starting",
            self.server.completed_rounds + 1,
            self.rounds,
        )

    def previous_log(self) -> List[dict]:
        p = self.ckdir / "metrics.json" if self.ckdir else None
        if p and p.is_file():
            rounds = json.loads(p.read_text())["rounds"]
            return [r for r in rounds if r["round"] < self.server.completed_rounds]
        return []

    # --- rounds -----------------------------------------------------------------------------

    def sample(self, round_: int) -> List[Site]:
        """The training sites of a round: every accepting training site that is online (after
        waiting up to ``rejoin-wait`` seconds for known ones that are not), in an order shuffled
        by (seed, round) for the messages."""
        known = {s.node_id for s in self.sites.values() if s.train_samples > 0}
        deadline = time.time() + self.opts.rejoin_wait
        live = set(self.grid.get_node_ids())
        while not known <= live and time.time() < deadline:
            time.sleep(1.0)
            live = set(self.grid.get_node_ids())
        sites = [s for s in self.sites.values() if s.train_samples > 0 and s.node_id in live]
        random.Random(self.seed * 1_000_003 + round_).shuffle(sites)
        return sites

    def train_round(self, r: int) -> Tuple[List[Tuple[str, int, float]], List[str]]:
        sampled = self.sample(r)
        down = self.server.download()
        cfg = self.job_config(r)
        if self.opts.dp:
            cfg[KEY_CLIPPING_NORM] = self.opts.dp_clipping_norm
        msgs = [
            self.message(
                s.node_id, MessageType.TRAIN, RecordDict({ARRAYS: to_record(down), CONFIG: cfg}), r
            )
            for s in sampled
        ]
        replies, silent = self.exchange(msgs, need=self.opts.min_train_nodes)
        uploads, train, dropped = [], [], [self.sites[n].name for n in silent]
        for node, rep in replies:
            s = self.sites[node]
            if rep.has_error():
                dropped.append(s.name)
                log(WARNING, "round %s: site %s failed: %s", r + 1, s.name, rep.error.reason)
                continue
            if str(rep.content["site"]["site"]) != s.name:
                raise RuntimeError(f"node {s.node_id} answered as another site than `{s.name}`")
            params = from_record(rep.content[ARRAYS], f"the upload of `{s.name}`")
            m = rep.content[METRICS]
            n = int(m[NUM_EXAMPLES])
            uploads.append((s.name, params, n))
            train.append((s.name, n, float(m["mean-loss"])))
            self.restored[s.name] = int(m["restored-rounds"])
        if len(uploads) < self.opts.min_train_nodes:
            raise RuntimeError(
                f"round {r + 1}: {len(uploads)} sites answered, min-train-nodes = "
                f"{self.opts.min_train_nodes} (dropped: {dropped})"
            )
        self.server.aggregate(uploads)
        if self.opts.dp:
            self.add_dp_noise(len(uploads))
        return train, dropped

    def add_dp_noise(self, m: int) -> None:
        """Flower's central-DP noise for client-side clipping: N(0, (σ·C/m)²) on every
        aggregated tensor, drawn by numpy's global generator, which numpy seeds from the OS
        entropy pool at import (fedrecon never seeds it; the run seed goes to the sites only)."""
        g = self.server.global_params()
        arrays = [g[k] for k in g]
        add_gaussian_noise_inplace(
            arrays, compute_stdv(self.opts.dp_noise_multiplier, self.opts.dp_clipping_norm, m)
        )
        self.server.set_global({k: a for k, a in zip(g, arrays)})
        trainers = sum(1 for s in self.sites.values() if s.train_samples > 0)
        self.accountant.compose(GaussianPrivacyEvent(self.opts.dp_noise_multiplier, m, trainers))
        self.dp_last = {"sample_size": m, "noise_stdv": compute_stdv(
            self.opts.dp_noise_multiplier, self.opts.dp_clipping_norm, m)}

    def evaluate_round(self, r: int, dropped: List[str]) -> List[Tuple[str, float, float, float]]:
        live = set(self.grid.get_node_ids())
        sites = [s for s in self.sites.values() if s.node_id in live and s.name not in dropped]
        down, every = self.server.download(), self.server.global_params()
        msgs = [
            self.message(
                s.node_id,
                MessageType.EVALUATE,
                RecordDict(
                    {
                        ARRAYS: to_record(down if s.train_samples > 0 else every),
                        CONFIG: self.job_config(r),
                    }
                ),
                r,
            )
            for s in sites
        ]
        replies, _ = self.exchange(msgs, need=len(msgs))
        out = []
        for node, rep in replies:
            if rep.has_error():
                continue
            s = self.sites[node]
            m = rep.content[METRICS]
            out.append((s.name, float(m["psnr"]), float(m["ssim"]), float(m["nmse"])))
        return sorted(out)

    def finish_round(self, r: int, train, metrics, dropped: List[str], extra: dict) -> None:
        self.server.record_round(r, sorted(train), metrics)
        entry = {
            "round": r,
            "participants": sorted(t[0] for t in train),
            "dropped": sorted(dropped),
            "train": [
                {"site": s, "num_samples": n, "mean_loss": l, "restored_rounds": self.restored.get(s)}
                for s, n, l in sorted(train)
            ],
            "metrics": [
                {"site": s, "psnr": p, "ssim": q, "nmse": e} for s, p, q, e in metrics
            ],
            **extra,
        }
        if self.accountant is not None:
            spent = self.accountant.get_privacy_spent()
            entry["dp"] = {
                **getattr(self, "dp_last", {}),
                "noise_multiplier": self.opts.dp_noise_multiplier,
                "clipping_norm": self.opts.dp_clipping_norm,
                "population_size": self.accountant.config.population_size,
                "delta": spent.delta,
                "epsilon": spent.epsilon,
                "releases": spent.num_releases,
                "accountant": "flwr RdpAccountant (no amplification)",
            }
        self.log.append(entry)
        if self.metric_summary(entry):
            log(INFO, "fedrecon round %s/%s: %s", r + 1, self.rounds, self.metric_summary(entry))
        if self.ckdir is not None:
            self.server.save(self.ckdir)
            self.write_metrics()

    @staticmethod
    def metric_summary(entry: dict) -> str:
        ms = entry["metrics"]
        text = ""
        if ms:
            text = f"mean PSNR {sum(m['psnr'] for m in ms) / len(ms):.2f} dB over {len(ms)} sites"
        if entry.get("dropped"):
            text += f"; dropped {entry['dropped']}"
        if "dp" in entry:
            text += f"; DP ε = {entry['dp']['epsilon']:.3f} at δ = {entry['dp']['delta']:g}"
        return text

    def write_metrics(self) -> None:
        doc = {
            "run_name": self.run_name,
            "rounds": self.log,
            "completed_rounds": self.server.completed_rounds,
            "sites": sorted(s.name for s in self.sites.values()),
            "refused": {str(k): v for k, v in self.refused.items()},
            "secagg": self.opts.secagg,
            "dp": self.opts.dp,
        }
        self.ckdir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.ckdir, prefix=".metrics.", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.ckdir / "metrics.json")

    def run_message_api(self) -> None:
        for r in range(self.server.completed_rounds, self.rounds):
            train, dropped = self.train_round(r)
            self.finish_round(r, train, self.evaluate_round(r, dropped), dropped, {})

    def run_secagg(self, context: Context) -> None:
        strategy = SecAggStrategy(self)
        legacy = LegacyContext(
            context=context,
            config=ServerConfig(
                num_rounds=self.rounds - self.server.completed_rounds,
                round_timeout=self.opts.round_timeout,
            ),
            strategy=strategy,
        )
        workflow = DefaultWorkflow(
            fit_workflow=SecAggPlusWorkflow(
                num_shares=self.opts.secagg_num_shares,
                reconstruction_threshold=self.opts.secagg_reconstruction_threshold,
                max_weight=float(max(1, max(s.train_samples for s in self.sites.values()))),
                clipping_range=self.opts.secagg_clipping_range,
                quantization_range=self.opts.secagg_quantization_range,
                timeout=self.opts.round_timeout,
            )
        )
        workflow(self.grid, legacy)


class SecAggStrategy(LegacyStrategy):
    """The same per-group policy through Flower's legacy API, for ``SecAggPlusWorkflow``. The
    workflow hands ``aggregate_fit`` only the unmasked weighted mean of the uploads (every
    result carries it); fedrecon applies the method's server rule to that one mean (FedAvg:
    taken as is; FedAdam/FedYogi: the server step on Δ = mean − x_t), which is what those rules
    do with the individual uploads. Robust rules are refused before the run starts."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run
        self.names: List[str] = list(run.server.download())
        glob = list(run.server.global_params())
        if glob != self.names:
            raise RuntimeError("SecAgg+ needs the tensors sent down to be those sent up")
        weightings = {w for _, _, p, _, w in run.server.policies() if p != "local"}
        if len(weightings) != 1:
            raise RuntimeError(f"SecAgg+ needs one weighting for every group, got {weightings}")
        self.by_samples = weightings == {"samples"}

    def _round(self, server_round: int) -> int:
        """The absolute 0-based round: the workflow counts 1.. from this run's start (after a
        resume too); fedrecon counts completed rounds, recorded at the end of each round."""
        del server_round
        return self.run.server.completed_rounds

    def _config(self, r: int) -> dict:
        c = dict(self.run.job_config(r))
        c["names"] = ";".join(self.names)
        c["weight-by-samples"] = self.by_samples
        return c

    def _params(self, d) -> object:
        return ndarrays_to_parameters([d[k] for k in self.names])

    def initialize_parameters(self, client_manager):
        return self._params(self.run.server.download())

    def configure_fit(self, server_round, parameters, client_manager):
        r = self._round(server_round)
        live = {p.node_id: p for p in client_manager.all().values()}
        sites = [s for s in self.run.sample(r) if s.node_id in live]
        if len(sites) < self.run.opts.min_train_nodes:
            raise RuntimeError(
                f"round {r + 1}: {len(sites)} training sites online, min-train-nodes = "
                f"{self.run.opts.min_train_nodes}"
            )
        ins = FitIns(self._params(self.run.server.download()), self._config(r))
        self.sampled = [s.name for s in sites]
        return [(live[s.node_id], ins) for s in sites]

    def aggregate_fit(self, server_round, results, failures):
        r = self._round(server_round)
        if not results:
            raise RuntimeError(f"round {r + 1}: SecAgg+ produced no aggregate ({failures})")
        mean = parameters_to_ndarrays(results[0][1].parameters)
        import numpy as np

        mean = {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in zip(self.names, mean)}
        total = sum(res.num_examples for _, res in results)
        self.run.server.aggregate([("secagg+", mean, 1)])
        by_node = {s.node_id: s.name for s in self.run.sites.values()}
        self.train = sorted(
            (by_node[p.node_id], int(res.metrics.get("train-samples", 0)),
             float(res.metrics.get("mean-loss", float("nan"))))
            for p, res in results
        )
        self.dropped = sorted(set(self.sampled) - {t[0] for t in self.train})
        self.total_weight = total
        return self._params(self.run.server.download()), {}

    def configure_evaluate(self, server_round, parameters, client_manager):
        r = self._round(server_round)
        live = {p.node_id: p for p in client_manager.all().values()}
        ins = EvaluateIns(self._params(self.run.server.download()), self._config(r))
        return [(live[s.node_id], ins) for s in self.run.sites.values() if s.node_id in live]

    def aggregate_evaluate(self, server_round, results, failures):
        r = self._round(server_round)
        metrics = sorted(
            (str(res.metrics["site"]), float(res.metrics["psnr"]), float(res.metrics["ssim"]),
             float(res.metrics["nmse"]))
            for _, res in results
        )
        self.run.finish_round(
            r, self.train, metrics, self.dropped, {"secagg": {"total_weight": self.total_weight}}
        )
        return None, {}

    def evaluate(self, server_round, parameters):
        return None


@app.main()
def main(grid: Grid, context: Context) -> None:
    run = Run(grid, context)
    run.start()
    if run.opts.secagg:
        run.run_secagg(context)
    else:
        run.run_message_api()
    log(INFO, "fedrecon: %s rounds complete", run.server.completed_rounds)
