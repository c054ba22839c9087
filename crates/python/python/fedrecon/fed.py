"""Federation: the two ends of a ``fedrecon fed simulate`` scenario, for a federation engine.

:class:`Site` builds site ``name`` of a federation config exactly as the simulation does (same
data, initial weights and local training; ``fedrecon_nn::fed::scenario::Site``) and exposes the
calls a Flower client needs. Only the tensors the config's method uploads cross the
boundary: local tensors (FedBN's normalisation layers, FedFDD's low-frequency branch, a local
hypernetwork) stay inside the site and are never returned. Every received tensor is checked
(known name, shape, finite). With ``checkpoint=``, the site keeps all its tensors in that file
(written atomically after each round) and restores them when rebuilt.

:class:`Server` is the coordinator's side: the global model, aggregation by parameter group
with the method's rules (the simulation's code), the server-optimiser state and the
coordinator checkpoint, for resume. ``crates/python/flower`` runs both on Flower.

Needs a wheel built with the ``fed`` feature (burn networks):
``MATURIN_PEP517_ARGS="--features fed" pip install ./crates/python``.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native

__all__ = ["Server", "Site", "available", "read_coordinator_checkpoint", "site_toml"]

Params = Dict[str, np.ndarray]


def available() -> bool:
    """Whether this build has the federation site (the ``fed`` feature)."""
    return hasattr(_native, "FedSite")


PathLike = Union[str, "os.PathLike[str]"]


def _need_fed() -> None:
    if not available():
        raise ImportError(
            "this fedrecon was built without the `fed` feature; reinstall with "
            'MATURIN_PEP517_ARGS="--features fed" pip install ./crates/python'
        )


def _read(path: Optional[PathLike]) -> Optional[str]:
    if path is None:
        return None
    with open(os.fspath(path), encoding="utf-8") as f:
        return f.read()


def _f32(params: Params) -> Params:
    out = {}
    for k, v in params.items():
        a = np.asarray(v)
        if a.dtype != np.float32:
            raise ValueError(f"params[{k!r}]: dtype {a.dtype}, expected float32")
        out[str(k)] = np.ascontiguousarray(a)
    return out


class Site:
    """Site ``name`` of the federation config ``config`` (a TOML file as ``fed simulate
    --config``; None: the embedded demo ``configs/demo.toml``), with ``set`` overrides
    (``["local.steps=5", …]``, as ``--set``), running the config's ``[method]`` on its ``[arch]``
    as ``fed simulate`` does. Runs on the CPU.

    ``sites``: a site config file whose ``[sites]`` table replaces the job's (a deployed
    site's own data: exactly one ``[[sites.site]]`` entry named ``name``).
    ``checkpoint``: a file where :meth:`fit` saves all the site's tensors (atomically);
    ``restore``: a checkpoint to start from if it exists (default: ``checkpoint``), so a
    restarted process continues with its own local tensors.
    """

    def __init__(
        self,
        config: Optional[PathLike],
        name: str,
        set: Sequence[str] = (),
        sites: Optional[PathLike] = None,
        checkpoint: Optional[PathLike] = None,
        restore: Optional[PathLike] = None,
        *,
        config_text: Optional[str] = None,
    ) -> None:
        _need_fed()
        text = config_text if config_text is not None else _read(config)
        self._site = _native.FedSite(
            text,
            str(name),
            [str(s) for s in set],
            _read(sites),
            None if checkpoint is None else os.fspath(checkpoint),
            None if restore is None else os.fspath(restore),
        )

    @property
    def name(self) -> str:
        return self._site.name

    @property
    def method(self) -> str:
        return self._site.method

    @property
    def train_samples(self) -> int:
        """Training samples (0: an evaluation-only site)."""
        return self._site.train_samples

    def job(self) -> Dict[str, object]:
        """What the job asks: model / arch kinds, method preset, local steps / epochs, rounds,
        seed (for a site's acceptance policy)."""
        return self._site.job()

    @property
    def restored_rounds(self) -> Optional[int]:
        """Rounds recorded in the restored checkpoint (None: started fresh)."""
        return self._site.restored_rounds

    def policies(self) -> "list[Tuple[str, str, str, str, str]]":
        """``(name, group, policy, rule, weighting)`` of every parameter; policy is ``local``,
        ``aggregate`` or ``aggregate-no-overwrite`` (rule and weighting "" when local)."""
        return self._site.policies()

    def get_parameters(self) -> Params:
        """The uploadable parameters (float32 arrays by name); local tensors excluded."""
        return self._site.get_parameters()

    def fit(self, params: Params, round: int) -> Tuple[Params, int, Dict[str, float]]:
        """Local training of round ``round`` (0-based) from the downloaded ``params`` (exactly
        the tensors the method sends down): the uploadable trained parameters, the number of
        training samples and ``{"mean_loss": …}``."""
        return self._site.fit(_f32(params), int(round))

    def evaluate(self, params: Params) -> Dict[str, float]:
        """Held-out PSNR / SSIM / NMSE with ``params`` merged into the site's model (the
        downloaded tensors; for an evaluation-only site every server tensor)."""
        return self._site.evaluate(_f32(params))


class Server:
    """The coordinator of the federation config ``config``'s ``[method]`` (None: the embedded
    demo) with ``set`` overrides, as ``fed simulate`` runs it: call :meth:`begin` (or
    :meth:`resume`), then per round :meth:`download` → sites → :meth:`aggregate` →
    :meth:`record_round` → :meth:`save`."""

    def __init__(
        self,
        config: Optional[PathLike],
        set: Sequence[str] = (),
        *,
        config_text: Optional[str] = None,
    ) -> None:
        _need_fed()
        text = config_text if config_text is not None else _read(config)
        self._server = _native.FedServer(text, [str(s) for s in set])

    def begin(self, initial: Params, sites: Sequence[str]) -> None:
        """Start from ``initial`` (the sites' uploadable tensors) with participants ``sites``."""
        self._server.begin(_f32(initial), [str(s) for s in sites])

    def resume(self, dir: PathLike) -> bool:
        """Continue from ``dir/coordinator.safetensors`` if present; whether it did."""
        return self._server.resume(os.fspath(dir))

    @property
    def completed_rounds(self) -> int:
        return self._server.completed_rounds

    def job(self) -> Dict[str, object]:
        """The job: model / arch kinds, method preset, local steps / epochs, rounds, seed."""
        return self._server.job()

    def policies(self) -> "list[Tuple[str, str, str, str, str]]":
        """``(name, group, policy, rule, weighting)`` of every global tensor."""
        return self._server.policies()

    def download(self) -> Params:
        """The tensors training sites receive (the ``aggregate`` groups)."""
        return self._server.download()

    def global_params(self) -> Params:
        """Every global tensor (what evaluation-only sites receive)."""
        return self._server.global_params()

    def set_global(self, params: Params) -> None:
        """Replace the global tensors (same names and shapes, finite)."""
        self._server.set_global(_f32(params))

    def aggregate(self, uploads: Sequence[Tuple[str, Params, int]]) -> None:
        """Aggregate ``[(site, params, num_samples)]`` with the method's per-group rules."""
        self._server.aggregate([(str(s), _f32(p), int(n)) for s, p, n in uploads])

    def record_round(
        self,
        round: int,
        train: Sequence[Tuple[str, int, float]],
        metrics: Sequence[Tuple[str, float, float, float]],
    ) -> None:
        """Mark round ``round`` (0-based) complete with ``[(site, num_samples, mean_loss)]``
        and ``[(site, psnr, ssim, nmse)]``."""
        self._server.record_round(int(round), list(train), list(metrics))

    def save(self, dir: PathLike) -> None:
        """Write ``dir/coordinator.safetensors`` and ``coordinator.after-<k>.safetensors``."""
        self._server.save(os.fspath(dir))

    def history(self) -> list:
        """The rounds so far (``[{"round", "participants", "train", "metrics"}]``)."""
        import json

        return json.loads(self._server.history_json())


def read_coordinator_checkpoint(path: PathLike) -> dict:
    """A coordinator checkpoint (``fed simulate --checkpoint-dir`` or a deployment's server):
    ``{"completed_rounds", "seed", "sites", "global": {name: array}, "history": [...]}``."""
    import json

    _need_fed()
    d = _native.read_coordinator_checkpoint(os.fspath(path))
    d["history"] = json.loads(d["history"])
    return d


def site_toml(config: Optional[PathLike], name: str, set: Sequence[str] = ()) -> str:
    """The ``[sites]`` table holding site ``name`` of the federation config ``config`` (None:
    the embedded demo): the data half of that site's ``site.toml`` in a deployment."""
    _need_fed()
    return _native.site_toml(_read(config), str(name), [str(s) for s in set])
