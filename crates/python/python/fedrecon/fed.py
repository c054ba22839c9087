"""Federation: one site of a ``fedrecon fed simulate`` scenario, for a federation client.

:class:`Site` builds site ``name`` of a federation config exactly as the simulation does (same
data, initial weights and local training; ``fedrecon_nn::fed::scenario::Site``) and exposes the
calls a Flower ``NumPyClient`` needs. Only the tensors the config's method uploads cross the
boundary: local tensors (FedBN's normalisation layers, FedFDD's low-frequency branch, a local
hypernetwork) stay inside the site and are never returned.

Needs a wheel built with the ``fed`` feature (burn networks):
``MATURIN_PEP517_ARGS="--features fed" pip install ./crates/python``.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native

__all__ = ["Site", "available"]

Params = Dict[str, np.ndarray]


def available() -> bool:
    """Whether this build has the federation site (the ``fed`` feature)."""
    return hasattr(_native, "FedSite")


class Site:
    """Site ``name`` of the federation config ``config`` (a TOML file as ``fed simulate
    --config``; None: the embedded demo ``configs/demo.toml``), with ``set`` overrides
    (``["local.steps=5", …]``, as ``--set``). Runs on the CPU."""

    def __init__(
        self,
        config: Union[str, "os.PathLike[str]", None],
        name: str,
        set: Sequence[str] = (),
    ) -> None:
        if not available():
            raise ImportError(
                "this fedrecon was built without the `fed` feature; reinstall with "
                'MATURIN_PEP517_ARGS="--features fed" pip install ./crates/python'
            )
        text: Optional[str] = None
        if config is not None:
            with open(os.fspath(config), encoding="utf-8") as f:
                text = f.read()
        self._site = _native.FedSite(text, str(name), [str(s) for s in set])

    @property
    def name(self) -> str:
        return self._site.name

    def get_parameters(self) -> Params:
        """The uploadable parameters (float32 arrays by name); local tensors excluded."""
        return self._site.get_parameters()

    def fit(self, params: Params, round: int) -> Tuple[Params, int, Dict[str, float]]:
        """One round of local training from the downloaded ``params``: the uploadable trained
        parameters, the number of training samples and ``{"mean_loss": …}``."""
        p = {str(k): np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
        return self._site.fit(p, int(round))

    def evaluate(self, params: Params) -> Dict[str, float]:
        """Held-out PSNR / SSIM / NMSE with ``params`` merged into the site's model."""
        p = {str(k): np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
        return self._site.evaluate(p)
