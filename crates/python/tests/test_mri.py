"""fedrecon.mri: NUFFT against the direct sum and the CLI, SENSE adjoints and normals, the
CLI's masks, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fedrecon import io, mri

from conftest import dot_test


def traj(rng, m):
    return (rng.random((m, 2)) - 0.5).astype(np.float32)


def nudft2(f, k):
    """The direct type-2 sum y_m = Σ_x f(x) exp(−2πi k_m·x), x = index − N/2, in float64."""
    n = f.shape[-1]
    c = np.arange(n) - n // 2
    ey = np.exp(-2j * np.pi * np.outer(k[:, 1], c))  # rows: y
    ex = np.exp(-2j * np.pi * np.outer(k[:, 0], c))  # columns: x
    return np.einsum("my,mx,...yx->...m", ey, ex, f.astype(np.complex128))


def test_nufft_matches_the_direct_sum_and_is_adjoint(rng):
    k = traj(rng, 300)
    op = mri.Nufft(k, size=24)
    assert op.shape_in == (24, 24) and op.shape_out == (300,)
    f = (rng.standard_normal((2, 24, 24)) + 1j * rng.standard_normal((2, 24, 24))).astype(np.complex64)
    ref = nudft2(f, k.astype(np.float64))
    err = np.linalg.norm(op.forward(f) - ref) / np.linalg.norm(ref)
    assert err < 1e-6, err  # eps = 1e-6 (the README's table: 2.4e-7 at σ = 2)
    assert dot_test(op, rng, complex_=True) < 1e-5
    assert dot_test(op, rng, complex_=True, batch=2) < 1e-5
    x = f[0]
    np.testing.assert_allclose(op.normal(x), op.adjoint(op.forward(x)), rtol=0, atol=1e-3 * np.abs(op.normal(x)).max())


@pytest.mark.parametrize("eps,sigma", [(1e-6, 2.0), (1e-3, 1.25)])
def test_nufft_equals_the_cli(eps, sigma, cli, tmp_path, rng):
    k = traj(rng, 500)
    np.save(tmp_path / "traj.npy", k)
    f = (rng.standard_normal((3, 20, 20)) + 1j * rng.standard_normal((3, 20, 20))).astype(np.complex64)
    np.save(tmp_path / "f.npy", f)
    op = mri.Nufft(k, size=20, eps=eps, upsampling=sigma)
    common = ["--traj", tmp_path / "traj.npy", "--size", 20, "--eps", eps, "--upsampling", sigma]
    cli("mri", "nufft", "--type", 2, "--input", tmp_path / "f.npy", "-o", tmp_path / "y.npy", *common)
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(op.forward(f), y)
    cli("mri", "nufft", "--type", 1, "--input", tmp_path / "y.npy", "-o", tmp_path / "g.npy", *common)
    np.testing.assert_array_equal(op.adjoint(y), np.load(tmp_path / "g.npy"))


def test_complex_trajectory_keeps_its_point_shape(rng):
    k = traj(rng, 6 * 7)
    z = (k[:, 0] + 1j * k[:, 1]).reshape(6, 7)
    a, b = mri.Nufft(k, size=8), mri.Nufft(z, size=8)
    x = rng.standard_normal((8, 8)).astype(np.complex64)
    assert b.shape_out == (6, 7) and b.forward(x).shape == (6, 7)
    np.testing.assert_array_equal(b.forward(x).ravel(), a.forward(x))
    np.testing.assert_array_equal(b.adjoint(b.forward(x)), a.adjoint(a.forward(x)))


def fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def test_cartesian_sense_is_m_f_s_and_adjoint(rng):
    c, ny, nx = 3, 12, 10
    maps = (rng.standard_normal((c, ny, nx)) + 1j * rng.standard_normal((c, ny, nx))).astype(np.complex64)
    cols = rng.random(nx) < 0.5
    full = rng.random((ny, nx)) < 0.4
    x = (rng.standard_normal((ny, nx)) + 1j * rng.standard_normal((ny, nx))).astype(np.complex64)
    for m, dense in [(None, np.ones((ny, nx), bool)), (cols, np.broadcast_to(cols, (ny, nx))),
                     (full, full)]:
        op = mri.Sense(maps, mask=m)
        assert op.shape_in == (ny, nx) and op.shape_out == (c, ny, nx)
        ref = fft2c(maps * x) * dense
        np.testing.assert_allclose(op.forward(x), ref, atol=1e-5 * np.abs(ref).max())
        assert dot_test(op, rng, complex_=True, batch=2) < 1e-5
        np.testing.assert_allclose(op.normal(x), op.adjoint(op.forward(x)), atol=1e-5 * np.abs(x).max() * c)


def test_noncartesian_sense_toeplitz_normal(rng):
    c, n = 2, 16
    maps = (rng.standard_normal((c, n, n)) + 1j * rng.standard_normal((c, n, n))).astype(np.complex64)
    k = traj(rng, 400)
    op = mri.Sense(maps, traj=k)
    assert op.shape_out == (c, 400)
    assert dot_test(op, rng, complex_=True) < 1e-5
    x = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))).astype(np.complex64)
    ref = op.adjoint(op.forward(x))
    assert np.linalg.norm(op.normal(x) - ref) / np.linalg.norm(ref) < 1e-4
    plain = mri.Sense(maps, traj=k, toeplitz=False)
    np.testing.assert_array_equal(plain.normal(x), ref)


@pytest.mark.parametrize("kind", ["random", "equispaced", "equispaced-fraction"])
def test_fastmri_masks_equal_the_cli(kind, cli, tmp_path):
    cli("mri", "simulate", "--size", 40, "--coils", 2, "--mask", kind, "--accel", 4,
        "--center-fraction", 0.1, "--seed", 5, "-o", tmp_path / "sim.h5")
    f = io.read_fastmri(tmp_path / "sim.h5")
    m = mri.mask(40, kind, accel=4, center_fraction=0.1, seed=5)
    assert m.dtype == bool and m.shape == (40,)
    np.testing.assert_array_equal(m, f["mask"])
    assert f["kspace"].shape == (1, 2, 40, 40) and f["kspace"].dtype == np.complex64
    # unsampled columns are zero in the simulated k-space, sampled ones are not
    assert not f["kspace"][..., ~m].any() and np.abs(f["kspace"][..., m]).min() > 0
    np.testing.assert_array_equal(mri.mask((7, 40), kind, accel=4, center_fraction=0.1, seed=5),
                                  np.broadcast_to(m, (7, 40)))
    assert not np.array_equal(m, mri.mask(40, kind, accel=4, center_fraction=0.1, seed=6)) or kind == "equispaced"


def test_poisson_mask_equals_the_cli(cli, tmp_path):
    cli("mri", "simulate", "--size", 32, "--coils", 2, "--mask", "poisson", "--accel", 3,
        "--center-fraction", 0.25, "--seed", 2, "-o", tmp_path / "sim.h5")
    k = io.read_fastmri(tmp_path / "sim.h5")["kspace"][0]
    m = mri.mask((32, 32), "poisson", accel=3, center_fraction=0.25, seed=2)
    np.testing.assert_array_equal(m, (k != 0).any(axis=0))


def test_errors(rng, tmp_path):
    with pytest.raises(ValueError, match="eps"):
        mri.Nufft(traj(rng, 10), size=8, eps=1e-9)
    with pytest.raises(ValueError, match=r"\(M, 2\)"):
        mri.Nufft(np.zeros((10, 3), np.float32), size=8)
    op = mri.Nufft(traj(rng, 10), size=8)
    with pytest.raises(ValueError, match=r"\(\.\.\., 8, 8\)"):
        op.forward(np.zeros((8, 9), np.complex64))
    with pytest.raises(ValueError, match="mask"):
        mri.Sense(np.ones((2, 8, 8), np.complex64), mask=np.ones(7))
    with pytest.raises(ValueError, match="mask"):
        mri.mask(32, "gaussian")
    with pytest.raises(ValueError, match="acceleration"):
        mri.mask(32, "equispaced", accel=2.5)
    with pytest.raises(OSError, match="nope.h5"):
        io.read_fastmri(tmp_path / "nope.h5")


RECON = [
    ("zf", {}),
    ("cgsense", dict(iters=5)),
    ("cgsense", dict(iters=4, lambda_=0.01, estimate_maps="walsh")),
    ("cgls", dict(iters=4)),
    ("l1", dict(iters=6, lambda_=0.003)),
    ("tv", dict(iters=7)),
]


def _cli_flags(opts):
    out = []
    for k, v in opts.items():
        out += ["--" + ("lambda" if k == "lambda_" else k.replace("_", "-")), v]
    return out


@pytest.mark.parametrize("method,opts", RECON, ids=[f"{m}-{i}" for i, (m, _) in enumerate(RECON)])
def test_cartesian_recon_equals_the_cli(method, opts, cli, tmp_path):
    cli("mri", "simulate", "--size", 48, "--coils", 4, "--mask", "equispaced", "--accel", 2,
        "--center-fraction", 0.3, "--noise", 0.001, "--seed", 1, "-o", tmp_path / "sim.h5")
    cli("mri", "recon", "--method", method, "--input", tmp_path / "sim.h5", "-o", tmp_path / "x.npy",
        *_cli_flags(opts))
    f = io.read_fastmri(tmp_path / "sim.h5")
    x = mri.recon(f["kspace"], method, mask=f["mask"], **opts)
    assert x.shape == (1, 48, 48) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], np.load(tmp_path / "x.npy"))


def test_cartesian_recon_with_maps_and_a_2d_pattern_equals_the_cli(cli, tmp_path, rng):
    cli("mri", "simulate", "--size", 40, "--coils", 3, "--mask", "poisson", "--accel", 2,
        "--center-fraction", 0.35, "--seed", 4, "-o", tmp_path / "sim.h5")
    k = io.read_fastmri(tmp_path / "sim.h5")["kspace"][0]  # (3, 40, 40), zeros where unsampled
    np.save(tmp_path / "k.npy", k)
    maps = (rng.standard_normal((3, 40, 40)) + 1j * rng.standard_normal((3, 40, 40))).astype(np.complex64)
    np.save(tmp_path / "maps.npy", maps)
    for args, kw in [((), {}), (("--maps", tmp_path / "maps.npy"), dict(maps=maps))]:
        cli("mri", "recon", "--method", "cgsense", "--iters", 3, "--input", tmp_path / "k.npy",
            "-o", tmp_path / "x.npy", *args)
        np.testing.assert_array_equal(mri.recon(k, "cgsense", iters=3, **kw), np.load(tmp_path / "x.npy"))


@pytest.mark.parametrize("method", ["zf", "cgsense", "l1"])
def test_cartesian_recon_with_a_2d_mask_equals_the_cli(method, cli, tmp_path):
    # a 2-D Poisson-disc k-space: the CLI reads the sampling from its zeros, Python is given it
    cli("mri", "simulate", "--size", 40, "--coils", 3, "--mask", "poisson", "--accel", 2,
        "--center-fraction", 0.35, "--seed", 6, "-o", tmp_path / "sim.h5")
    k = io.read_fastmri(tmp_path / "sim.h5")["kspace"]  # (1, 3, 40, 40)
    m2 = mri.mask((40, 40), "poisson", accel=2, center_fraction=0.35, seed=6)
    assert not np.all(m2 == m2[:1])  # not a column mask
    np.save(tmp_path / "k.npy", k[0])
    iters = [] if method == "zf" else ["--iters", 3]
    cli("mri", "recon", "--method", method, "--input", tmp_path / "k.npy", "-o", tmp_path / "x.npy",
        *iters)
    kw = {} if method == "zf" else dict(iters=3)
    want = np.load(tmp_path / "x.npy")
    np.testing.assert_array_equal(mri.recon(k[0], method, mask=m2, **kw), want)
    np.testing.assert_array_equal(mri.recon(k, method, mask=m2.astype(np.float32), **kw)[0], want)
    with pytest.raises(ValueError, match=r"mask: expected shape \(40,\) \(columns\) or \(40, 40\)"):
        mri.recon(k, method, mask=m2[:, :39])
    with pytest.raises(ValueError, match="0 or 1"):
        mri.recon(k, method, mask=m2 * 0.5)


@pytest.mark.parametrize("method", ["zf", "cgsense"])
def test_recon_size_crops_as_the_cli_crops_a_fastmri_file(method, cli, tmp_path):
    h5py = pytest.importorskip("h5py")
    cli("mri", "simulate", "--size", 48, "--coils", 3, "--mask", "random", "--accel", 2,
        "--center-fraction", 0.3, "--seed", 3, "-o", tmp_path / "sim.h5")
    # a header whose reconstruction matrix is smaller than the k-space (as fastMRI's 640 × 368
    # knee k-space with a 320 × 320 reconSpace): x = 40 rows, y = 36 columns
    with h5py.File(tmp_path / "sim.h5", "r+") as h:
        xml = h["ismrmrd_header"][()].decode()
        head, rest = xml.split("<reconSpace>", 1)
        recon, tail = rest.split("</reconSpace>", 1)
        recon = re.sub(r"<matrixSize>\s*<x>\d+</x>\s*<y>\d+</y>",
                       "<matrixSize><x>40</x><y>36</y>", recon)
        del h["ismrmrd_header"]
        h["ismrmrd_header"] = np.bytes_(head + "<reconSpace>" + recon + "</reconSpace>" + tail)
    f = io.read_fastmri(tmp_path / "sim.h5")
    assert tuple(f["recon_size"]) == (40, 36)
    iters = [] if method == "zf" else ["--iters", 3]
    cli("mri", "recon", "--method", method, "--input", tmp_path / "sim.h5", "-o", tmp_path / "x.npy",
        *iters)
    kw = {} if method == "zf" else dict(iters=3)
    want = np.load(tmp_path / "x.npy")
    assert want.shape == (40, 36)
    x = mri.recon(f["kspace"], method, mask=f["mask"], recon_size=f["recon_size"], **kw)
    assert x.shape == (1, 40, 36)
    np.testing.assert_array_equal(x[0], want)
    full = mri.recon(f["kspace"], method, mask=f["mask"], **kw)
    np.testing.assert_array_equal(x, full[:, 4:44, 6:42])
    # clamped to the image; the whole image or a zero side leaves it alone
    np.testing.assert_array_equal(mri.recon(f["kspace"], method, mask=f["mask"],
                                            recon_size=(320, 36), **kw), full[:, :, 6:42])
    np.testing.assert_array_equal(mri.recon(f["kspace"], method, mask=f["mask"],
                                            recon_size=(0, 36), **kw), full)
    with pytest.raises(ValueError, match="recon_size"):
        mri.recon(f["kspace"], method, mask=f["mask"], recon_size=(-1, 3))


@pytest.mark.parametrize("method", ["zf", "cgsense", "tv"])
def test_noncartesian_recon_equals_the_cli(method, cli, tmp_path):
    cli("mri", "simulate", "--traj", "radial", "--spokes", 24, "--size", 32, "--coils", 3,
        "--seed", 2, "-o", tmp_path / "y.npy", "--traj-out", tmp_path / "traj.npy")
    iters = [] if method == "zf" else ["--iters", 4]
    cli("mri", "recon", "--method", method, "--input", tmp_path / "y.npy", "--traj",
        tmp_path / "traj.npy", "--size", 32, "-o", tmp_path / "x.npy", *iters)
    kw = {} if method == "zf" else dict(iters=4)
    x = mri.recon(np.load(tmp_path / "y.npy"), method, traj=np.load(tmp_path / "traj.npy"), size=32, **kw)
    np.testing.assert_array_equal(x, np.load(tmp_path / "x.npy"))


def test_recon_errors():
    k = np.ones((2, 16, 16), np.complex64)
    with pytest.raises(ValueError, match="method"):
        mri.recon(k, "model")
    with pytest.raises(ValueError, match="zf"):
        mri.recon(k, "zf", iters=3)
    with pytest.raises(ValueError, match="cgls"):
        mri.recon(k, "cgls", lambda_=0.1)
    with pytest.raises(ValueError, match="maps"):
        mri.recon(k, "cgsense", maps=np.ones((3, 16, 16), np.complex64))
    with pytest.raises(ValueError, match="ESPIRiT"):
        mri.recon(np.pad(np.ones((2, 16, 4), np.complex64), ((0, 0), (0, 0), (6, 6))), "cgsense",
                  estimate_maps="espirit")
    with pytest.raises(ValueError, match="zero"):
        mri.recon(np.zeros((2, 16, 16), np.complex64), "cgsense")
    with pytest.raises(ValueError, match="size"):
        mri.recon(np.ones((2, 10), np.complex64), "zf", traj=np.zeros((10, 2)))


def test_estimated_maps_are_the_ones_recon_uses(cli, tmp_path):
    cli("mri", "simulate", "--size", 40, "--coils", 3, "--mask", "equispaced", "--accel", 2,
        "--center-fraction", 0.4, "--seed", 2, "-o", tmp_path / "sim.h5")
    f = io.read_fastmri(tmp_path / "sim.h5")
    k = f["kspace"][0]
    for est in ["auto", "espirit", "walsh"]:
        maps = mri.estimate_maps(k, est, mask=f["mask"])
        assert maps.shape == (3, 40, 40) and maps.dtype == np.complex64
        np.testing.assert_array_equal(mri.recon(k, "cgsense", iters=3, mask=f["mask"], maps=maps),
                                      mri.recon(k, "cgsense", iters=3, mask=f["mask"], estimate_maps=est))
    cli("mri", "simulate", "--traj", "radial", "--spokes", 24, "--size", 32, "--coils", 3,
        "--seed", 2, "-o", tmp_path / "y.npy", "--traj-out", tmp_path / "traj.npy")
    y, t = np.load(tmp_path / "y.npy"), np.load(tmp_path / "traj.npy")
    maps = mri.estimate_maps(y, traj=t, size=32)
    assert maps.shape == (3, 32, 32)
    np.testing.assert_array_equal(mri.recon(y, "cgsense", traj=t, size=32, iters=3, maps=maps),
                                  mri.recon(y, "cgsense", traj=t, size=32, iters=3))
    with pytest.raises(ValueError, match="estimate_maps"):
        mri.estimate_maps(k, "sense")
    with pytest.raises(ValueError, match="size"):
        mri.estimate_maps(y, traj=t)
