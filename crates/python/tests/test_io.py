"""fedrecon.io: BART, DICOM and LoDoPaB files as the CLI reads them."""

from __future__ import annotations

import numpy as np
import pytest

from fedrecon import ct, io, mri


def test_cfl_round_trip_and_the_cli_reads_it(cli, tmp_path, rng):
    a = (rng.standard_normal((2, 12, 12)) + 1j * rng.standard_normal((2, 12, 12))).astype(np.complex64)
    io.write_cfl(tmp_path / "img", a)
    assert (tmp_path / "img.cfl").stat().st_size == a.nbytes
    np.testing.assert_array_equal(io.read_cfl(tmp_path / "img.cfl"), a)
    np.testing.assert_array_equal(io.read_cfl(tmp_path / "img"), a)
    # BART order: the first BART dimension is the last axis
    hdr = (tmp_path / "img.hdr").read_text().split("\n")[1].split()
    assert hdr[:3] == ["12", "12", "2"]
    k = (rng.random((50, 2)) - 0.5).astype(np.float32)
    np.save(tmp_path / "traj.npy", k)
    cli("mri", "nufft", "--type", 2, "--traj", tmp_path / "traj.npy", "--input",
        tmp_path / "img.cfl", "--size", 12, "-o", tmp_path / "y.npy")
    np.testing.assert_array_equal(mri.Nufft(k, size=12).forward(a), np.load(tmp_path / "y.npy"))


def test_dicom_ct_round_trip_and_projection_equal_the_cli(cli, tmp_path, rng):
    hu = np.round(rng.uniform(-1000, 2000, (20, 20))).astype(np.float32)
    io.write_dicom_ct(tmp_path / "s.dcm", hu, (0.5, 0.5))
    d = io.read_dicom_ct(tmp_path / "s.dcm")
    np.testing.assert_array_equal(d["hu"], hu)
    assert d["pixel_spacing_mm"] == (0.5, 0.5)
    np.testing.assert_allclose(d["mu"], np.maximum(0.01937 * (1 + hu / 1000), 0), rtol=1e-6)
    cli("ct", "project", "--input", tmp_path / "s.dcm", "-o", tmp_path / "sino.npy", "--angles", 10)
    op = ct.Projector(size=20, angles=10, pixel_size=d["pixel_spacing_mm"][1])
    np.testing.assert_array_equal(op.forward(d["mu"]), np.load(tmp_path / "sino.npy"))


def test_lodopab_ground_truth_is_turned_to_row_major(tmp_path, rng):
    h5py = pytest.importorskip("h5py", reason="h5py writes the LoDoPaB test file (.ci/python-tests installs it)")
    odl = rng.random((3, 6, 6), dtype=np.float32)
    obs = rng.random((3, 4, 5), dtype=np.float32)
    for name, data in [("ground_truth_test_000.hdf5", odl), ("observation_test_000.hdf5", obs)]:
        with h5py.File(tmp_path / name, "w") as f:
            f.create_dataset("data", data=data)
    gt = io.read_lodopab(tmp_path / "ground_truth_test_000.hdf5")
    np.testing.assert_array_equal(gt, np.stack([np.rot90(o) for o in odl]))
    np.testing.assert_array_equal(io.read_lodopab(tmp_path / "ground_truth_test_000.hdf5", 1), np.rot90(odl[1]))
    np.testing.assert_array_equal(io.read_lodopab(tmp_path / "observation_test_000.hdf5"), obs)
    # the keyword overrides the name: a square observation read as ground truth is turned
    sq = rng.random((1, 5, 5), dtype=np.float32)
    with h5py.File(tmp_path / "other.hdf5", "w") as f:
        f.create_dataset("data", data=sq)
    np.testing.assert_array_equal(io.read_lodopab(tmp_path / "other.hdf5", 0), sq[0])
    np.testing.assert_array_equal(io.read_lodopab(tmp_path / "other.hdf5", 0, ground_truth=True), np.rot90(sq[0]))
    with pytest.raises(OSError):
        io.read_lodopab(tmp_path / "ground_truth_test_000.hdf5", 3)


def test_missing_files_are_os_errors(tmp_path):
    for f in (io.read_cfl, io.read_dicom_ct, io.read_lodopab):
        with pytest.raises(OSError, match="absent"):
            f(tmp_path / "absent")
