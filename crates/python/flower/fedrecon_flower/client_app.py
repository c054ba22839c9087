"""The ClientApp: one fedrecon site on the hospital's SuperNode.

Every message builds the site from the job (in the message) and the site's own ``site.toml``
(the SuperNode's ``--node-config 'site-config="/path/site.toml"'``), checks the job against the
site's acceptance policy, restores the site's newest checkpoint of this run (its local tensors:
FedBN norms, FedFDD's low-frequency branch, a local hypernetwork), runs, and saves its tensors
again. Flower starts a fresh ClientApp process per message and ``context.state`` does not
survive a SuperNode restart, so the site's own checkpoint directory is the only state.

Messages (see ``common``): ``query`` → the site's name, training samples and initial uploadable
tensors (or a refusal with its reason); ``train`` → local training of the given round;
``evaluate`` → held-out PSNR / SSIM / NMSE. The legacy message format (``fitins.*``), used by
Flower's SecAgg+ workflow, is answered in kind; Flower's ``secaggplus_mod`` masks the upload and
its ``fixedclipping_mod`` clips it for differential privacy, each only when the server asks.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from flwr.app import ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.client.mod import secaggplus_mod
from flwr.common import Code, EvaluateRes, FitRes, Status, ndarrays_to_parameters
from flwr.common import parameters_to_ndarrays
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.compat.common import recorddict_compat as compat
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from fedrecon import fed

from .common import (
    ARRAYS,
    CONFIG,
    METRICS,
    NUM_EXAMPLES,
    JobRefused,
    SiteConfig,
    from_record,
    job_config,
    to_record,
)


def _privacy_mods(msg: Message, ctxt: Context, call_next):
    """Flower's SecAgg+ and DP-clipping mods, each only on the train messages that ask for it
    (a plain run passes straight through)."""
    if msg.metadata.message_type == MessageType.TRAIN:
        if RECORD_KEY_CONFIGS in msg.content.config_records:
            return secaggplus_mod(msg, ctxt, call_next)
        rec = msg.content.config_records.get(CONFIG)
        if rec is not None and KEY_CLIPPING_NORM in rec:
            return fixedclipping_mod(msg, ctxt, call_next)
    return call_next(msg, ctxt)


app = ClientApp(mods=[_privacy_mods])


def _open_site(
    cfg, context: Context, restore_round: Optional[int], save_round: Optional[int]
) -> Tuple[fed.Site, SiteConfig]:
    text, sets, run = job_config(cfg)
    try:
        site_config = context.node_config["site-config"]
    except KeyError:
        raise ValueError(
            "this SuperNode has no site: start it with "
            "--node-config 'site-config=\"/path/site.toml\"'"
        ) from None
    sc = SiteConfig.load(str(site_config), context.node_config.get("site-name"))
    restore = None if restore_round is None else sc.latest_checkpoint(run, restore_round)
    save = None if save_round is None else sc.checkpoint_path(run, save_round)
    site = fed.Site(
        None,
        sc.name,
        set=sets,
        sites=sc.path,
        checkpoint=save,
        restore=restore,
        config_text=text or None,
    )
    sc.check_job(site.job(), site.policies())
    return site, sc


@app.query()
def query(msg: Message, context: Context) -> Message:
    """Who this site is and its initial uploadable tensors, or why it refuses the job."""
    try:
        site, sc = _open_site(msg.content[CONFIG], context, None, None)
    except (JobRefused, ValueError, OSError) as e:
        return Message(
            RecordDict({CONFIG: ConfigRecord({"accepted": False, "reason": str(e)})}),
            reply_to=msg,
        )
    info = ConfigRecord(
        {"accepted": True, "site": sc.name, "train-samples": int(site.train_samples)}
    )
    return Message(
        RecordDict({ARRAYS: to_record(site.get_parameters()), CONFIG: info}), reply_to=msg
    )


@app.train()
def train(msg: Message, context: Context) -> Message:
    if "fitins.parameters" in msg.content.array_records:
        return _legacy_fit(msg, context)
    cfg = msg.content[CONFIG]
    r = int(cfg["round"])
    site, sc = _open_site(cfg, context, restore_round=r, save_round=r + 1)
    sent = from_record(msg.content[ARRAYS], "arrays")
    up, n, m = site.fit(sent, r)
    # the sent names first, in their order (Flower's clipping mod pairs them by position)
    order = [k for k in sent if k in up] + [k for k in up if k not in sent]
    content = RecordDict(
        {
            ARRAYS: to_record({k: up[k] for k in order}),
            METRICS: MetricRecord(
                {
                    NUM_EXAMPLES: int(n),
                    "mean-loss": float(m["mean_loss"]),
                    "restored-rounds": -1 if site.restored_rounds is None else site.restored_rounds,
                }
            ),
            "site": ConfigRecord({"site": sc.name}),
        }
    )
    return Message(content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    if "evaluateins.parameters" in msg.content.array_records:
        return _legacy_evaluate(msg, context)
    cfg = msg.content[CONFIG]
    r = int(cfg["round"])
    site, sc = _open_site(cfg, context, restore_round=r + 1, save_round=None)
    metrics = site.evaluate(from_record(msg.content[ARRAYS], "arrays"))
    content = RecordDict(
        {
            METRICS: MetricRecord({k: float(v) for k, v in metrics.items()}),
            "site": ConfigRecord({"site": sc.name}),
        }
    )
    return Message(content, reply_to=msg)


def _named(parameters, names: str, what: str):
    arrays = parameters_to_ndarrays(parameters)
    keys = [k for k in names.split(";") if k]
    if len(keys) != len(arrays):
        raise ValueError(f"{what}: {len(arrays)} arrays for {len(keys)} names")
    out = {}
    for k, a in zip(keys, arrays):
        if a.dtype != np.float32:
            raise ValueError(f"{what}[{k!r}]: dtype {a.dtype}, expected float32")
        out[k] = np.ascontiguousarray(a)
    return keys, out


def _legacy_fit(msg: Message, context: Context) -> Message:
    """SecAgg+ (legacy format): the arrays come as a list named by ``config["names"]``; the
    upload goes back in the same order, weighted by the method's weighting."""
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    cfg = fitins.config
    r = int(cfg["round"])
    site, _ = _open_site(cfg, context, restore_round=r, save_round=r + 1)
    keys, sent = _named(fitins.parameters, str(cfg["names"]), "fitins")
    up, n, m = site.fit(sent, r)
    if set(up) != set(keys):
        raise ValueError("SecAgg+: the upload must hold exactly the tensors sent down")
    weight = int(n) if bool(cfg["weight-by-samples"]) else 1
    res = FitRes(
        status=Status(code=Code.OK, message=""),
        parameters=ndarrays_to_parameters([up[k] for k in keys]),
        num_examples=weight,
        metrics={"mean-loss": float(m["mean_loss"]), "train-samples": int(n)},
    )
    return Message(compat.fitres_to_recorddict(res, keep_input=True), reply_to=msg)


def _legacy_evaluate(msg: Message, context: Context) -> Message:
    ins = compat.recorddict_to_evaluateins(msg.content, keep_input=True)
    cfg = ins.config
    r = int(cfg["round"])
    site, sc = _open_site(cfg, context, restore_round=r + 1, save_round=None)
    _, params = _named(ins.parameters, str(cfg["names"]), "evaluateins")
    metrics = site.evaluate(params)
    res = EvaluateRes(
        status=Status(code=Code.OK, message=""),
        loss=float(metrics["nmse"]),
        num_examples=1,
        metrics={**{k: float(v) for k, v in metrics.items()}, "site": sc.name},
    )
    return Message(compat.evaluateres_to_recorddict(res), reply_to=msg)
