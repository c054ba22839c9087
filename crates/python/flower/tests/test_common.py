"""The Flower app's job options, site policy and refusals (no SuperLink needed; run by
tests/flower/e2e.sh before the loopback scenarios)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedrecon import fed
from fedrecon_flower.common import JobRefused, Options, SiteConfig, check_policies, tomllib

APP = Path(__file__).resolve().parents[1]
TINY = ["local.steps=2", "model.n_iter=2", "model.hidden=4"]


def test_pyproject_defaults_are_the_options_defaults():
    rc = tomllib.loads((APP / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    assert Options.from_run_config(rc) == Options()


@pytest.mark.parametrize(
    "rc, key",
    [
        ({"bogus": 1}, "bogus"),
        ({"rounds": "3"}, "rounds"),
        ({"rounds": -1}, "rounds"),
        ({"min-train-nodes": 3, "min-available-nodes": 2}, "min-available-nodes"),
        ({"resume": True}, "resume"),
        ({"resume": True, "checkpoint-dir": "/tmp/x"}, "run-name"),
        ({"run-name": "../x"}, "run-name"),
        ({"secagg": True, "min-train-nodes": 1, "min-available-nodes": 1}, "min-train-nodes"),
        ({"secagg": True, "dp": True}, "dp"),
        ({"dp": True, "dp-delta": 1.5}, "dp-delta"),
        ({"dp": True, "dp-noise-multiplier": 0.0}, "dp-noise-multiplier"),
    ],
)
def test_bad_run_config_names_the_key(rc, key):
    with pytest.raises(ValueError, match=key):
        Options.from_run_config(rc)


def test_set_is_split_on_semicolons():
    o = Options.from_run_config({"set": "local.steps=2; arch.kind='fdd' ;"})
    assert o.set == ("local.steps=2", "arch.kind='fdd'")


def _policies(extra):
    s = fed.Server(None, set=TINY + extra)
    site = fed.Site(None, "A-sparse", set=TINY + extra)
    s.begin(site.get_parameters(), ["A-sparse"])
    return s.policies()


def test_impossible_combinations_are_refused():
    median = _policies(['method.rule.rule="median"'])
    check_policies(median, secagg=False, dp=False)
    with pytest.raises(ValueError, match="median.*SecAgg"):
        check_policies(median, secagg=True, dp=False)
    trimmed = _policies(['method.rule.rule="trimmed-mean"', "method.rule.trim_fraction=0.2"])
    with pytest.raises(ValueError, match="trimmed-mean"):
        check_policies(trimmed, secagg=True, dp=False)
    adam = _policies(['method.rule.rule="fedadam"', "method.rule.lr=0.01",
                      "method.rule.beta1=0.9", "method.rule.beta2=0.99", "method.rule.tau=0.001"])
    check_policies(adam, secagg=True, dp=False)  # a server step on the SecAgg+ mean is fine
    with pytest.raises(ValueError, match="fedadam.*DP|DP.*fedadam|calibrated"):
        check_policies(adam, secagg=False, dp=True)
    plain = _policies([])
    check_policies(plain, secagg=True, dp=False)
    check_policies(plain, secagg=False, dp=True)


def _site_toml(tmp_path, accept: str) -> Path:
    p = tmp_path / "site.toml"
    p.write_text(f'checkpoint-dir = "state"\n[accept]\n{accept}\n' + fed.site_toml(None, "A-sparse", set=TINY))
    return p


def test_site_policy_refuses_jobs_it_does_not_accept(tmp_path):
    fdd = ["arch.kind='fdd'"]
    cases = [
        ('models = ["lpd"]', [], "model.kind"),
        ('methods = ["fedbn"]', [], "method.preset"),
        ("max-local-steps = 1", [], "local.steps"),
        ('local = ["lowfreq.**"]', fdd + ["method.preset='fedavg'"], "lowfreq"),
    ]
    for accept, extra, field in cases:
        sc = SiteConfig.load(str(_site_toml(tmp_path, accept)))
        site = fed.Site(None, sc.name, set=TINY + extra, sites=sc.path)
        with pytest.raises(JobRefused, match=field):
            sc.check_job(site.job(), site.policies())
    # FedFDD keeps lowfreq local: accepted
    sc = SiteConfig.load(str(_site_toml(tmp_path, 'local = ["lowfreq.**"]')))
    site = fed.Site(None, sc.name, set=TINY + fdd + ["method.preset='fedfdd'"], sites=sc.path)
    sc.check_job(site.job(), site.policies())
    assert sc.checkpoint_dir == tmp_path / "state"


def test_site_config_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("surprise = 1\n")
    with pytest.raises(ValueError, match="surprise"):
        SiteConfig.load(str(p))
    with pytest.raises(OSError):
        SiteConfig.load(str(tmp_path / "missing.toml"))
    good = _site_toml(tmp_path, "")
    with pytest.raises(ValueError, match="Z"):
        SiteConfig.load(str(good), "Z")


def test_latest_checkpoint(tmp_path):
    sc = SiteConfig.load(str(_site_toml(tmp_path, "")))
    assert sc.latest_checkpoint("run", 5) is None
    for k in (1, 3, 4):
        f = sc.checkpoint_path("run", k)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    assert sc.latest_checkpoint("run", 3).name.endswith("after-3.safetensors")
    assert sc.latest_checkpoint("run", 2).name.endswith("after-1.safetensors")
    assert sc.latest_checkpoint("run", 0) is None
    assert sc.latest_checkpoint("other", 9) is None
