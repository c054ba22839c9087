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


SITES = ["A-sparse", "B-lowdose", "C-fine"]


def _one_round(server, sites, round_):
    down = server.download()
    uploads = []
    for s in sites:
        q, n, _ = s.fit(down, round_)
        uploads.append((s.name, q, n))
    server.aggregate(uploads)


def test_server_round_equals_fed_simulate(cli, tmp_path):
    """Sites + Server driven from Python give the coordinator state `fed simulate` writes
    (same code: bit for bit), for FedAvg and for FedAdam (server optimiser state)."""
    adam = ['method.rule.rule="fedadam"', "method.rule.lr=0.01", "method.rule.beta1=0.9",
            "method.rule.beta2=0.99", "method.rule.tau=0.001"]
    for method, extra in [("fedavg", []), ("fedadam", adam)]:
        cfg = TINY + extra
        out = tmp_path / method
        cli("fed", "simulate", "--out", out, "--rounds", "2",
            *[a for s in cfg for a in ("--set", s)])
        ck = fed.read_coordinator_checkpoint(out / "checkpoints" / "coordinator.safetensors")
        sites = [fed.Site(None, n, set=cfg) for n in SITES]
        server = fed.Server(None, set=cfg)
        server.begin(sites[0].get_parameters(), SITES)
        for r in range(2):
            _one_round(server, sites, r)
            server.record_round(r, [], [])
        g = server.global_params()
        assert ck["completed_rounds"] == 2 and sorted(g) == sorted(ck["global"])
        for k in g:
            np.testing.assert_array_equal(g[k], ck["global"][k], err_msg=f"{method} {k}")


def test_site_checkpoint_keeps_local_tensors(tmp_path):
    """FedFDD: the low-frequency branch stays local; a rebuilt site (a restarted process) restores them
    from its checkpoint, and the server never sees them."""
    cfg = TINY + ['method.preset="fedfdd"'] + FDD
    ck = tmp_path / "site-a.safetensors"
    a = fed.Site(None, "A-sparse", set=cfg, checkpoint=ck)
    local = [n for n, _, pol, _, _ in a.policies() if pol == "local"]
    assert local, "this method keeps some tensors local"
    assert a.restored_rounds is None
    up = a.get_parameters()
    assert not set(local) & set(up)
    q, _, _ = a.fit(up, 0)
    b = fed.Site(None, "A-sparse", set=cfg, checkpoint=ck)
    assert b.restored_rounds == 1
    # the restored site continues exactly where the first one stopped
    q_a, _, m_a = a.fit(q, 1)
    q_b, _, m_b = b.fit(q, 1)
    assert m_a == m_b and all(np.array_equal(q_a[k], q_b[k]) for k in q_a)
    fresh = fed.Site(None, "A-sparse", set=cfg)
    q_f, _, m_f = fresh.fit(q, 1)
    assert m_f != m_a, "without the checkpoint the local tensors would be the initial ones"
    with pytest.raises(ValueError, match="B-lowdose|A-sparse"):
        fed.Site(None, "B-lowdose", set=cfg, checkpoint=ck)


def test_received_tensors_are_validated():
    s = fed.Site(None, "A-sparse", set=TINY)
    server = fed.Server(None, set=TINY)
    p = s.get_parameters()
    k = next(iter(p))
    bad = dict(p)
    bad[k] = p[k].copy()
    bad[k].flat[0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        s.fit(bad, 0)
    with pytest.raises(ValueError, match="finite"):
        server.begin(bad, ["A-sparse"])
    server.begin(p, ["A-sparse"])
    with pytest.raises(ValueError, match="finite"):
        server.aggregate([("A-sparse", bad, 16)])
    extra = dict(p, **{"net.bogus": np.zeros(2, np.float32)})
    with pytest.raises(ValueError, match="bogus"):
        s.fit(extra, 0)
    with pytest.raises(ValueError, match="bogus"):
        server.aggregate([("A-sparse", extra, 16)])
    with pytest.raises(ValueError, match="float32"):
        s.fit({n: v.astype(np.float64) for n, v in p.items()}, 0)
    with pytest.raises(ValueError):
        server.record_round(3, [], [])


def test_site_toml_replaces_the_job_sites(tmp_path):
    """A deployed site's data comes from its own `[sites]` table, not from the job."""
    own = tmp_path / "site.toml"
    own.write_text(
        "[sites]\nimage_scale = 1.0\n[[sites.site]]\nname = \"Z-own\"\ntrain_samples = 4\n"
        "val_samples = 2\nseed = 9\n[sites.site.ct]\nviews = 20\ndetector_bins = 40\n"
        "pixel_size_mm = 1.0\ndetector_cell_mm = 1.6\nsod_mm = 120.0\nsdd_mm = 200.0\n"
        "dose_i0 = 5e4\nimage_size = 32\n"
    )
    s = fed.Site(None, "Z-own", set=TINY, sites=own)
    assert s.train_samples == 4
    with pytest.raises(ValueError, match="A-sparse|Z-own"):
        fed.Site(None, "A-sparse", set=TINY, sites=own)


def test_server_resume(tmp_path):
    cfg = TINY
    sites = [fed.Site(None, n, set=cfg) for n in SITES]
    server = fed.Server(None, set=cfg)
    assert not server.resume(tmp_path)
    server.begin(sites[0].get_parameters(), SITES)
    _one_round(server, sites, 0)
    server.record_round(0, [(s, 16, 0.1) for s in SITES], [(s, 20.0, 0.5, 0.1) for s in SITES])
    server.save(tmp_path)
    again = fed.Server(None, set=cfg)
    assert again.resume(tmp_path) and again.completed_rounds == 1
    assert (tmp_path / "coordinator.after-1.safetensors").is_file()
    g1, g2 = server.global_params(), again.global_params()
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)
    assert again.history()[0]["participants"] == SITES
    other = fed.Server(None, set=cfg + ["seed=5"])
    with pytest.raises(ValueError, match="seed"):
        other.resume(tmp_path)
