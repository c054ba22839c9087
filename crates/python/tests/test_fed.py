"""fedrecon.fed.Site: a scenario's site for a federation client; local tensors never leave it.

Needs a wheel built with the ``fed`` feature (``.ci/python-tests`` builds one); skipped, with
the reason, otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

from fedrecon import fed

pytestmark = pytest.mark.skipif(
    not fed.available(), reason="this fedrecon was built without the `fed` feature"
)

TINY = ["local.steps=1", "model.n_iter=2", "model.hidden=4"]
FDD = ['arch.kind="fdd"']


def test_fit_and_evaluate_are_deterministic_and_shaped():
    a, b = fed.Site(None, "A-sparse", set=TINY), fed.Site(None, "A-sparse", set=TINY)
    p = a.get_parameters()
    assert p and all(v.dtype == np.float32 for v in p.values())
    assert sorted(p) == sorted(b.get_parameters())
    q, n, metrics = a.fit(p, 0)
    assert sorted(q) == sorted(p) and n == 16 and np.isfinite(metrics["mean_loss"])
    assert any(not np.array_equal(q[k], p[k]) for k in p)  # it trained
    q2, _, m2 = b.fit(p, 0)
    assert m2 == metrics and all(np.array_equal(q[k], q2[k]) for k in q)
    e = a.evaluate(q)
    assert set(e) == {"psnr", "ssim", "nmse"} and e["psnr"] > 0


def test_local_tensors_are_never_returned():
    shared = fed.Site(None, "B-lowdose", set=TINY + FDD + ['method.preset="fedavg"'])
    split = fed.Site(None, "B-lowdose", set=TINY + FDD + ['method.preset="fedfdd"'])
    everything, uploaded = shared.get_parameters(), split.get_parameters()
    local = set(everything) - set(uploaded)
    assert local and set(uploaded) < set(everything)
    assert all(k.startswith("highfreq.") for k in uploaded)  # FedFDD shares the high branch only
    q, _, _ = split.fit(uploaded, 0)
    assert set(q) == set(uploaded)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="nowhere"):
        fed.Site(None, "nowhere", set=TINY)
    with pytest.raises(ValueError, match="bogus"):
        fed.Site(None, "A-sparse", set=["bogus=1"])
    with pytest.raises(OSError):
        fed.Site(tmp_path / "missing.toml", "A-sparse")
    s = fed.Site(None, "A-sparse", set=TINY)
    p = s.get_parameters()
    name = next(iter(p))
    with pytest.raises(ValueError):
        s.fit({name: np.zeros(3, np.float32)}, 0)
