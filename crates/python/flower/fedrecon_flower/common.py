"""What the ServerApp and the ClientApp share: the job options (Flower run config), the message
layout, the site's own configuration and acceptance policy, and the tensor checks.

Message layout (Message API): ``RecordDict({"arrays": ArrayRecord, "config": ConfigRecord})``
down, ``RecordDict({"arrays": ArrayRecord, "metrics": MetricRecord})`` up; one ArrayRecord and
one ConfigRecord per message, as Flower's ``fixedclipping_mod`` requires. The job travels in
the ConfigRecord (``fed-config`` text, ``set``, ``run-name``, ``round``); a site's data never
does: it comes from the SuperNode's ``--node-config 'site-config="/path/site.toml"'``.
"""

from __future__ import annotations

import fnmatch
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from flwr.app import Array, ArrayRecord

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Flower 1.42 needs >= 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ARRAYS = "arrays"
CONFIG = "config"
METRICS = "metrics"
NUM_EXAMPLES = "num-examples"

Params = Dict[str, np.ndarray]


class JobRefused(ValueError):
    """A site refuses a job its policy does not accept (the reason names the field)."""


def to_record(params: Params) -> ArrayRecord:
    """float32 arrays by name → an ArrayRecord (order kept)."""
    return ArrayRecord(
        OrderedDict(
            (k, Array(np.ascontiguousarray(v, dtype=np.float32))) for k, v in params.items()
        )
    )


def from_record(record: ArrayRecord, what: str) -> Params:
    """An ArrayRecord → float32 arrays by name. Only the dtype is checked here; fedrecon checks
    names, shapes and finiteness against the model before using any tensor."""
    out: Params = OrderedDict()
    for k in record.keys():
        a = record[k]
        if a.dtype != "float32":
            raise ValueError(f"{what}[{k!r}]: dtype {a.dtype}, expected float32")
        out[k] = np.ascontiguousarray(a.numpy())
    return out


def _typed(rc: dict, key: str, kind: type, default):
    v = rc.get(key, default)
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise ValueError(f"run config `{key}` = {v!r}: expected {kind.__name__}")
    return v


@dataclass(frozen=True)
class Options:
    """The job's options (the app's ``[tool.flwr.app.config]``, overridable with
    ``flwr run --run-config``). Every field is checked; errors name the key."""

    fed_config: str = ""
    set: Tuple[str, ...] = ()
    rounds: int = 0
    min_train_nodes: int = 2
    min_available_nodes: int = 2
    round_timeout: float = 300.0
    straggler_wait: float = 20.0
    wait_for_nodes: float = 120.0
    rejoin_wait: float = 0.0
    checkpoint_dir: str = ""
    resume: bool = False
    run_name: str = ""
    secagg: bool = False
    secagg_num_shares: int = 3
    secagg_reconstruction_threshold: int = 2
    secagg_clipping_range: float = 8.0
    secagg_quantization_range: int = 4194304
    dp: bool = False
    dp_noise_multiplier: float = 1.0
    dp_clipping_norm: float = 1.0
    dp_delta: float = 1e-5

    @classmethod
    def from_run_config(cls, rc: dict) -> "Options":
        known = {f.replace("_", "-") for f in cls.__dataclass_fields__}
        unknown = sorted(set(rc) - known)
        if unknown:
            raise ValueError(f"run config: unknown keys {unknown} (known: {sorted(known)})")
        kw = {}
        for name, f in cls.__dataclass_fields__.items():
            key = name.replace("_", "-")
            if name == "set":
                text = _typed(rc, key, str, "")
                kw[name] = tuple(s.strip() for s in text.split(";") if s.strip())
                continue
            kind = type(f.default)
            kw[name] = _typed(rc, key, kind, f.default)
        o = cls(**kw)
        o._check()
        return o

    def _check(self) -> None:
        def need(ok: bool, key: str, value, why: str) -> None:
            if not ok:
                raise ValueError(f"run config `{key}` = {value!r}: {why}")

        need(self.rounds >= 0, "rounds", self.rounds, "must be >= 0 (0: the config's)")
        need(self.min_train_nodes >= 1, "min-train-nodes", self.min_train_nodes, "must be >= 1")
        need(
            self.min_available_nodes >= self.min_train_nodes,
            "min-available-nodes",
            self.min_available_nodes,
            f"must be >= min-train-nodes ({self.min_train_nodes})",
        )
        for key, v in [
            ("round-timeout", self.round_timeout),
            ("wait-for-nodes", self.wait_for_nodes),
        ]:
            need(v > 0, key, v, "must be > 0 seconds")
        need(self.straggler_wait >= 0, "straggler-wait", self.straggler_wait, "must be >= 0")
        need(self.rejoin_wait >= 0, "rejoin-wait", self.rejoin_wait, "must be >= 0")
        need(
            not (self.resume and not self.checkpoint_dir),
            "resume",
            self.resume,
            "needs checkpoint-dir",
        )
        need(
            not (self.resume and not self.run_name),
            "run-name",
            self.run_name,
            "resume needs the run-name of the run it continues (sites key their checkpoints with it)",
        )
        need(
            self.run_name == "" or _safe_name(self.run_name),
            "run-name",
            self.run_name,
            "letters, digits, '-', '_' and '.' only",
        )
        if self.secagg:
            need(self.secagg_num_shares >= 2, "secagg-num-shares", self.secagg_num_shares, ">= 2")
            need(
                2 <= self.secagg_reconstruction_threshold <= self.secagg_num_shares,
                "secagg-reconstruction-threshold",
                self.secagg_reconstruction_threshold,
                f"must be in [2, secagg-num-shares = {self.secagg_num_shares}]",
            )
            need(
                self.min_train_nodes >= 2,
                "min-train-nodes",
                self.min_train_nodes,
                "SecAgg+ needs at least 2 sites per round",
            )
            need(
                self.secagg_clipping_range > 0,
                "secagg-clipping-range",
                self.secagg_clipping_range,
                "must be > 0",
            )
        if self.dp:
            need(
                self.dp_noise_multiplier > 0,
                "dp-noise-multiplier",
                self.dp_noise_multiplier,
                "must be > 0",
            )
            need(self.dp_clipping_norm > 0, "dp-clipping-norm", self.dp_clipping_norm, "> 0")
            need(0 < self.dp_delta < 1, "dp-delta", self.dp_delta, "must be in (0, 1)")
        need(
            not (self.dp and self.secagg),
            "dp",
            self.dp,
            "differential privacy and SecAgg+ together are not supported: choose one",
        )

    def job_text(self) -> str:
        """The federation config's text ("" = the embedded demo)."""
        if not self.fed_config:
            return ""
        p = Path(self.fed_config).expanduser()
        try:
            return p.read_text(encoding="utf-8")
        except OSError as e:
            raise OSError(f"run config `fed-config` = {self.fed_config!r}: {e}") from e


def _safe_name(s: str) -> bool:
    return bool(s) and all(c.isalnum() or c in "-_." for c in s) and s not in (".", "..")


def check_policies(
    policies: List[Tuple[str, str, str, str, str]], secagg: bool, dp: bool
) -> None:
    """Refuse combinations that cannot work, naming the group: SecAgg+ reveals only a
    (weighted) sum, so robust rules (median, trimmed mean) cannot run on it; the DP noise is
    calibrated for a FedAvg mean of clipped updates; both need the tensors sent down to be the
    ones sent up (no ``aggregate-no-overwrite`` group)."""
    for name, group, policy, rule, _ in policies:
        if policy == "local":
            continue
        if secagg and rule in ("median", "trimmed-mean"):
            raise ValueError(
                f"group `{group}` (e.g. `{name}`) aggregates with `{rule}`, which needs every "
                f"site's tensor; SecAgg+ reveals only their sum: use fedavg/fedadam/fedyogi or "
                f"turn secagg off"
            )
        if dp and rule != "fedavg":
            raise ValueError(
                f"group `{group}` (e.g. `{name}`) aggregates with `{rule}`; the DP noise is "
                f"calibrated for a FedAvg mean of clipped updates: use fedavg or turn dp off"
            )
        if (secagg or dp) and policy == "aggregate-no-overwrite":
            raise ValueError(
                f"group `{group}` (e.g. `{name}`) is aggregate-no-overwrite; with "
                f"{'SecAgg+' if secagg else 'DP'} the tensors sent up must be those sent down"
            )


@dataclass
class SiteConfig:
    """A site's own ``site.toml`` (kept at the hospital, never sent):

    .. code-block:: toml

        checkpoint-dir = "state"        # relative to this file; local tensors live here
        [accept]                        # what this site agrees to run (absent: anything)
        models = ["learn", "lpd"]       # model kinds
        methods = ["fedavg", "fedprox", "fedbn", "fedfdd", "hyperfed"]
        local = ["hyper.**"]            # tensors that must never leave this site
        max-local-steps = 200           # optimiser steps per round
        [sites]                         # this site's data, as in a federation config
        [[sites.site]]
        name = "A-sparse"
        ...
    """

    path: Path
    name: str
    checkpoint_dir: Path
    models: Optional[List[str]] = None
    methods: Optional[List[str]] = None
    local: List[str] = field(default_factory=list)
    max_local_steps: Optional[int] = None

    @classmethod
    def load(cls, path: str, name: Optional[str] = None) -> "SiteConfig":
        p = Path(path).expanduser().resolve()
        try:
            t = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise OSError(f"site config {p}: {e}") from e
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"site config {p}: {e}") from e
        unknown = sorted(set(t) - {"checkpoint-dir", "accept", "sites"})
        if unknown:
            raise ValueError(f"site config {p}: unknown keys {unknown}")
        entries = t.get("sites", {}).get("site", [])
        names = [e.get("name") for e in entries if isinstance(e, dict)]
        if name is None:
            if len(names) != 1:
                raise ValueError(
                    f"site config {p}: [sites] must hold exactly one [[sites.site]] "
                    f"(found {names}) or the node config must name the site (site-name)"
                )
            name = names[0]
        elif name not in names:
            raise ValueError(f"site config {p}: site-name {name!r} is not in {names}")
        acc = t.get("accept", {})
        bad = sorted(set(acc) - {"models", "methods", "local", "max-local-steps"})
        if bad:
            raise ValueError(f"site config {p}: unknown [accept] keys {bad}")
        ck = Path(str(t.get("checkpoint-dir", "fedrecon-state"))).expanduser()
        if not ck.is_absolute():
            ck = p.parent / ck
        return cls(
            path=p,
            name=str(name),
            checkpoint_dir=ck,
            models=acc.get("models"),
            methods=acc.get("methods"),
            local=list(acc.get("local", [])),
            max_local_steps=acc.get("max-local-steps"),
        )

    def check_job(self, job: dict, policies: List[Tuple[str, str, str, str, str]]) -> None:
        """Raise :class:`JobRefused` if the job asks what this site does not accept."""
        where = f"site `{self.name}` ({self.path})"
        if self.models is not None and job["model"] not in self.models:
            raise JobRefused(
                f"{where} refuses model.kind = {job['model']!r}: it accepts {self.models}"
            )
        if self.methods is not None and job["method"] not in self.methods:
            raise JobRefused(
                f"{where} refuses method.preset = {job['method']!r}: it accepts {self.methods}"
            )
        steps = job.get("local_steps")
        if self.max_local_steps is not None and (steps is None or steps > self.max_local_steps):
            raise JobRefused(
                f"{where} refuses local.steps = {steps!r}: at most {self.max_local_steps}"
            )
        for name, group, policy, _, _ in policies:
            for pat in self.local:
                if _glob(name, pat) and policy != "local":
                    raise JobRefused(
                        f"{where} refuses the job: `{name}` (group `{group}`) would be "
                        f"{policy}d, but this site keeps {pat!r} local"
                    )

    def checkpoint_path(self, run_name: str, completed_rounds: int) -> Path:
        """Where the site keeps its tensors after ``completed_rounds`` rounds of ``run_name``."""
        return self.checkpoint_dir / run_name / f"site-{self.name}.after-{completed_rounds}.safetensors"

    def latest_checkpoint(self, run_name: str, at_most: int) -> Optional[Path]:
        """The newest checkpoint of ``run_name`` after at most ``at_most`` rounds."""
        d = self.checkpoint_dir / run_name
        best: Optional[Tuple[int, Path]] = None
        prefix, suffix = f"site-{self.name}.after-", ".safetensors"
        if d.is_dir():
            for f in d.iterdir():
                n = f.name
                if n.startswith(prefix) and n.endswith(suffix):
                    k = n[len(prefix) : -len(suffix)]
                    if k.isdigit() and int(k) <= at_most and (best is None or int(k) > best[0]):
                        best = (int(k), f)
        return None if best is None else best[1]


def _glob(name: str, pattern: str) -> bool:
    """fedrecon's name patterns: ``*`` within one dotted component, ``**`` across them."""
    return fnmatch.fnmatchcase(name, pattern.replace("**", "*"))


def job_config(rec) -> Tuple[str, Tuple[str, ...], str]:
    """``(fed-config text, set overrides, run-name)`` from a message's ConfigRecord."""
    try:
        text = str(rec["fed-config"])
        sets = tuple(s for s in str(rec["set"]).split(";") if s)
        run = str(rec["run-name"])
    except KeyError as e:
        raise ValueError(f"the message's config lacks {e}") from e
    if not _safe_name(run):
        raise ValueError(f"run-name {run!r}: letters, digits, '-', '_' and '.' only")
    return text, sets, run


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
