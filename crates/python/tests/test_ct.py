"""fedrecon.ct: adjoints, the CLI's results bit for bit, batches, dtypes, errors, the GIL."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

import fedrecon
from fedrecon import ct
from fedrecon._arrays import f32

from conftest import dot_test

GEOMETRIES = {
    "parallel": dict(size=24, angles=17, detectors=37),
    "parallel-offset-arc": dict(size=20, angles=9, detectors=31, detector_offset=1.5, arc=120.0,
                                pixel_size=0.7),
    "fan-flat": dict(size=24, beam="fan", angles=19, detectors=41, sod=60.0, sdd=110.0),
    "fan-curved": dict(size=22, beam="fan", angles=13, detectors=39, sod=50.0, sdd=90.0,
                       curved=True, detector_offset=-2.0),
}


def flags(kw):
    out = []
    for k, v in kw.items():
        if v is True:
            out.append("--" + k.replace("_", "-"))
        else:
            out += ["--" + k.replace("_", "-"), str(v)]
    return out


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
@pytest.mark.parametrize("projector", ["joseph", "siddon"])
def test_adjoint(name, projector, rng):
    op = ct.Projector(**GEOMETRIES[name], projector=projector)
    assert dot_test(op, rng) < 1e-5
    assert dot_test(op, rng, batch=3) < 1e-5


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
def test_project_and_backproject_equal_the_cli(name, cli, tmp_path, rng):
    kw = GEOMETRIES[name]
    img = rng.random((kw["size"], kw["size"]), dtype=np.float32)
    np.save(tmp_path / "img.npy", img)
    op = ct.Projector(**kw)
    cli("ct", "project", "--input", tmp_path / "img.npy", "-o", tmp_path / "sino.npy", *flags(kw))
    sino = np.load(tmp_path / "sino.npy")
    assert op.shape_out == sino.shape
    np.testing.assert_array_equal(op.forward(img), sino)
    assert np.array_equal(op(img), sino)  # __call__ = forward
    cli("ct", "backproject", "--input", tmp_path / "sino.npy", "-o", tmp_path / "bp.npy",
        *flags(kw))
    np.testing.assert_array_equal(op.adjoint(sino), np.load(tmp_path / "bp.npy"))


RECON = [
    ("fbp", dict(filter="hann", frequency_scaling=0.8)),
    ("fbp", dict(padding=128)),
    ("sirt", dict(iters=7, nonneg=True, relaxation=1.5)),
    ("cgls", dict(iters=6)),
    ("tv", dict(iters=9, lambda_=0.05, nonneg=True)),
    ("l1", dict(iters=8, lambda_=0.02)),
]


@pytest.mark.parametrize("method,opts", RECON, ids=[f"{m}-{i}" for i, (m, _) in enumerate(RECON)])
@pytest.mark.parametrize("name", ["parallel", "fan-curved"])
def test_recon_equals_the_cli(method, opts, name, cli, tmp_path, rng):
    kw = dict(GEOMETRIES[name])
    op = ct.Projector(**kw)
    sino = op.forward(rng.random(op.shape_in, dtype=np.float32))
    np.save(tmp_path / "sino.npy", sino)
    cli_opts = {("lambda" if k == "lambda_" else k): v for k, v in opts.items()}
    # angles / detectors come from the sinogram's shape, as in the CLI
    geo = {k: v for k, v in kw.items() if k not in ("angles", "detectors")}
    cli("ct", "recon", "--method", method, "--input", tmp_path / "sino.npy",
        "-o", tmp_path / "x.npy", *flags(geo), *flags(cli_opts))
    x = ct.recon(sino, method, **geo, **opts)
    np.testing.assert_array_equal(x, np.load(tmp_path / "x.npy"))


def test_batches_dtypes_and_no_copy(rng):
    op = ct.Projector(size=16, angles=8)
    x = rng.random((2, 3, 16, 16))  # float64, batched over two axes
    y = op.forward(x)
    assert y.shape == (2, 3) + op.shape_out and y.dtype == np.float32
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(y[i, j], op.forward(x[i, j].astype(np.float32)))
    # a C-contiguous float32 array goes to Rust as is; others are converted once
    x32 = np.ascontiguousarray(x[0, 0], dtype=np.float32)
    assert f32(x32) is x32
    assert f32(x[0, 0].T).flags.c_contiguous
    np.testing.assert_array_equal(op.forward(x32.T), op.forward(np.ascontiguousarray(x32.T)))
    r = ct.recon(y, size=16)
    assert r.shape == (2, 3, 16, 16) and r.dtype == np.float32


def test_explicit_angles_and_defaults():
    op = ct.Projector(size=32)
    # CLI defaults: 180 angles kπ/n, ⌈√2·32⌉ + 1 detectors
    assert op.shape_in == (32, 32) and op.shape_out == (180, 47)
    np.testing.assert_allclose(op.angles, np.arange(180) * np.pi / 180)
    fan = ct.Projector(size=32, beam="fan", sod=100.0, sdd=200.0)
    np.testing.assert_allclose(fan.angles, np.arange(360) * 2 * np.pi / 360)
    a = np.array([0.0, 0.3, 1.1])
    op = ct.Projector(size=32, angles=a)
    assert op.shape_out[0] == 3
    np.testing.assert_array_equal(op.angles, a)


def test_errors_are_value_and_os_errors(tmp_path):
    with pytest.raises(ValueError, match="beam"):
        ct.Projector(size=16, beam="cone")
    with pytest.raises(ValueError, match="sod"):
        ct.Projector(size=16, beam="fan")
    with pytest.raises(ValueError, match="size"):
        ct.Projector(size=-3)
    with pytest.raises(ValueError, match="projector"):
        ct.Projector(size=16, projector="astra")
    op = ct.Projector(size=16, angles=8)
    with pytest.raises(ValueError, match=r"\(\.\.\., 16, 16\)"):
        op.forward(np.zeros((15, 16), np.float32))
    with pytest.raises(ValueError, match="sinogram shape"):
        ct.recon(np.zeros((8, 23), np.float32), size=16, angles=9)
    with pytest.raises(ValueError, match="non-finite"):
        ct.recon(np.full((8, 23), np.nan, np.float32), size=16)
    with pytest.raises(ValueError, match="method"):
        ct.recon(np.zeros((8, 23), np.float32), "model", size=16)
    with pytest.raises(ValueError, match="iters"):
        ct.recon(np.zeros((8, 23), np.float32), "cgls", size=16, iters=0)
    with pytest.raises(ValueError, match="filter"):
        ct.recon(np.zeros((8, 23), np.float32), size=16, filter="box")
    with pytest.raises(ValueError, match="nonneg"):
        ct.recon(np.zeros((8, 23), np.float32), "l1", size=16, nonneg=True)
    with pytest.raises(OSError, match="missing.toml"):
        ct.Projector(size=16, geometry=tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="memory"):
        ct.Projector(size=10**9)


def test_geometry_file_under_keywords(tmp_path):
    (tmp_path / "g.toml").write_text('beam = "fan"\nangles = 12\nsod = 40.0\nsdd = 80.0\nsize = 8\n')
    op = ct.Projector(geometry=tmp_path / "g.toml", angles=5)
    assert op.shape_in == (8, 8) and op.shape_out[0] == 5


def _progress_during(call) -> "tuple[float, float]":
    """How far a Python loop gets in another thread while ``call`` runs: (the call's seconds,
    the loop's iterations during the call ÷ its iterations alone in that time)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 0.1:
            n += 1
        alone = n / (time.perf_counter() - t0)
        state = {"started": False, "done": False, "seconds": 0.0}

        def work():
            state["started"] = True
            t = time.perf_counter()
            call()
            state["seconds"] = time.perf_counter() - t
            state["done"] = True

        th = threading.Thread(target=work)
        th.start()
        while not state["started"]:
            pass
        n = 0
        while not state["done"]:
            n += 1
        th.join()
    finally:
        sys.setswitchinterval(old)
    return state["seconds"], n / (alone * state["seconds"])


def test_the_gil_is_released_while_computing():
    """A Python thread keeps running while another projects. The same measurement of a call
    that holds the GIL (a backtracking regex) gives ≈ 0.003 here; ours ≈ 2."""
    op = ct.Projector(size=96, angles=120, projector="siddon")
    x = np.ones((4, 96, 96), np.float32)
    seconds, ratio = _progress_during(lambda: op.forward(x))
    assert seconds > 0.03, f"the call took {seconds:.3f} s: too short to tell"
    assert ratio > 0.1, f"Python ran at {ratio:.3f} of its rate during the call"


def test_version():
    assert fedrecon.__version__ == "0.1.0"


def test_the_dot_test_catches_a_wrong_adjoint(rng):
    class Wrong:
        shape_in, shape_out = (4, 5), (3, 5)
        m = rng.standard_normal((15, 20))

        def forward(self, x):
            return (self.m @ x.reshape(x.shape[:-2] + (20,))[..., None])[..., 0].reshape(x.shape[:-2] + (3, 5))

        def adjoint(self, y):  # transpose without the reshape order: wrong
            return (self.m.T @ y.reshape(y.shape[:-2] + (15,))[..., None])[..., 0].reshape(y.shape[:-2] + (5, 4)).swapaxes(-1, -2)

    assert dot_test(Wrong(), rng) > 1e-2
