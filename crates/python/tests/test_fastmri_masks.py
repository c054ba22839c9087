"""``fedrecon.mri.mask`` against fastMRI's mask functions for the same seed.

Reference: facebookresearch/fastMRI, ``fastmri/data/subsample.py`` at commit
6fd5b70c616877154a2b9c77f488da787a355f20 (``MaskFunc.__call__(shape, offset, seed)``,
``RandomMaskFunc``, ``EquiSpacedMaskFunc``, ``EquispacedMaskFractionFunc``). ``_FastmriMask``
below transcribes that code line for line on ``np.random.RandomState`` (without torch: the
masks are returned as numpy arrays of the column axis); when the ``fastmri`` package itself is
importable (it needs torch) the same comparison runs against it too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from fedrecon import mri


@contextlib.contextmanager
def _temp_seed(rng: np.random.RandomState, seed):
    # fastMRI's temp_seed
    if seed is None:
        yield
    else:
        state = rng.get_state()
        rng.seed(seed)
        try:
            yield
        finally:
            rng.set_state(state)


class _FastmriMask:
    """fastMRI's ``MaskFunc`` with ``allow_any_combination=False``; ``kind`` selects the
    subclass's ``calculate_acceleration_mask``."""

    def __init__(self, kind, center_fractions, accelerations, seed=None):
        self.kind = kind
        self.center_fractions = center_fractions
        self.accelerations = accelerations
        self.rng = np.random.RandomState(seed)

    def __call__(self, shape, offset=None, seed=None):
        if len(shape) < 3:
            raise ValueError("Shape should have 3 or more dimensions")
        with _temp_seed(self.rng, seed):
            center_mask, accel_mask, num_low_frequencies = self.sample_mask(shape, offset)
        return np.maximum(center_mask, accel_mask), num_low_frequencies

    def sample_mask(self, shape, offset):
        num_cols = shape[-2]
        center_fraction, acceleration = self.choose_acceleration()
        num_low_frequencies = round(num_cols * center_fraction)
        center_mask = self.calculate_center_mask(shape, num_low_frequencies)
        acceleration_mask = self.calculate_acceleration_mask(
            num_cols, acceleration, offset, num_low_frequencies
        )
        return center_mask, acceleration_mask, num_low_frequencies

    def calculate_center_mask(self, shape, num_low_freqs):
        num_cols = shape[-2]
        mask = np.zeros(num_cols, dtype=np.float32)
        pad = (num_cols - num_low_freqs + 1) // 2
        mask[pad : pad + num_low_freqs] = 1
        assert mask.sum() == num_low_freqs
        return mask

    def choose_acceleration(self):
        choice = self.rng.randint(len(self.center_fractions))
        return self.center_fractions[choice], self.accelerations[choice]

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies):
        if self.kind == "random":
            prob = (num_cols / acceleration - num_low_frequencies) / (
                num_cols - num_low_frequencies
            )
            return self.rng.uniform(size=num_cols) < prob
        if self.kind == "equispaced":
            if offset is None:
                offset = self.rng.randint(0, high=round(acceleration))
            mask = np.zeros(num_cols, dtype=np.float32)
            mask[offset::acceleration] = 1
            return mask
        # equispaced-fraction
        adjusted_accel = (acceleration * (num_low_frequencies - num_cols)) / (
            num_low_frequencies * acceleration - num_cols
        )
        if offset is None:
            offset = self.rng.randint(0, high=round(adjusted_accel))
        mask = np.zeros(num_cols)
        accel_samples = np.arange(offset, num_cols - 1, adjusted_accel)
        accel_samples = np.around(accel_samples).astype(np.uint)
        mask[accel_samples] = 1.0
        return mask


KINDS = ["random", "equispaced", "equispaced-fraction"]
# (columns, acceleration, centre fraction): fastMRI's knee/brain widths, odd and tiny widths,
# half-way centre counts (round half to even: 10·0.25 = 2.5, 14·0.25 = 3.5)
SETTINGS = [
    (368, 4, 0.08),
    (368, 8, 0.04),
    (320, 4, 0.08),
    (396, 6, 0.06),
    (640, 4, 0.08),
    (101, 3, 0.1),
    (64, 2, 0.16),
    (10, 2, 0.25),
    (14, 3, 0.25),
    (37, 5, 0.05),
]
SEEDS = [0, 1, 5, 42, 1234, 2**31 + 7, 2**32 - 1]


def _ours(kind, cols, accel, cf, seed):
    m = mri.mask(cols, kind, accel=accel, center_fraction=cf, seed=seed)
    assert m.shape == (cols,) and m.dtype == bool
    return m


@pytest.mark.parametrize("kind", KINDS)
def test_masks_equal_fastmris_algorithm_on_numpy(kind):
    n = 0
    for cols, accel, cf in SETTINGS:
        ref = _FastmriMask(kind, [cf], [accel], seed=99)  # its own seed is replaced per call
        for seed in SEEDS:
            want, num_low = ref((1, cols, 2), seed=seed)
            got = _ours(kind, cols, accel, cf, seed)
            np.testing.assert_array_equal(got, want.astype(bool), err_msg=f"{kind} {cols} R{accel} "
                                          f"cf {cf} seed {seed}")
            assert num_low == round(cols * cf)
            n += 1
        # fastMRI's data transforms seed with the file name's code points
        name = tuple(map(ord, "file1000001.h5"))
        np.testing.assert_array_equal(_ours(kind, cols, accel, cf, name),
                                      ref((1, cols, 2), seed=name)[0].astype(bool))
    assert n == len(SETTINGS) * len(SEEDS)


def test_masks_differ_with_the_seed_and_keep_the_centre():
    m = [_ours("random", 368, 4, 0.08, s) for s in range(5)]
    assert len({x.tobytes() for x in m}) == 5
    assert all(x[170:199].all() for x in m)
    offsets = {int(np.flatnonzero(_ours("equispaced", 368, 4, 0.0, s))[0]) for s in range(40)}
    assert offsets == {0, 1, 2, 3}


def test_mask_seed_errors():
    with pytest.raises(ValueError, match="seed"):
        mri.mask(32, "random", seed=-1)
    with pytest.raises(ValueError, match="seed"):
        mri.mask(32, "random", seed=(1, 2**32))
    with pytest.raises(ValueError, match="seed"):
        mri.mask(32, "random", seed=())
    with pytest.raises(ValueError, match="seed"):
        mri.mask((32, 32), "poisson", seed=(1, 2))


def _fastmri_subsample():
    """The installed fastmri package's ``data/subsample.py``, loaded on its own: the package's
    ``__init__`` imports far more (pandas, h5py, …) than this module, which needs numpy and
    torch only."""
    spec = importlib.util.find_spec("fastmri")
    if spec is None or spec.origin is None:
        if os.environ.get("FEDRECON_REQUIRE_TORCH") == "1":
            pytest.fail("CI installs torch and then fastmri: the fastmri package is missing")
        pytest.skip("the fastmri package is not installed (pip install --no-deps fastmri; it "
                    "needs torch); the transcription above is compared instead")
    path = Path(spec.origin).parent / "data" / "subsample.py"
    mspec = importlib.util.spec_from_file_location("fastmri_data_subsample", path)
    module = importlib.util.module_from_spec(mspec)
    try:
        mspec.loader.exec_module(module)
    except ImportError as e:
        pytest.skip(f"{path} does not import ({e}); the transcription above is compared instead")
    if not hasattr(module, "EquispacedMaskFractionFunc"):
        pytest.skip(f"{path} predates EquispacedMaskFractionFunc (fastmri ≥ 0.2 has it)")
    return module


@pytest.mark.parametrize("kind", KINDS)
def test_masks_equal_the_fastmri_package(kind):
    sub = _fastmri_subsample()
    cls = {"random": sub.RandomMaskFunc, "equispaced": sub.EquiSpacedMaskFunc,
           "equispaced-fraction": sub.EquispacedMaskFractionFunc}[kind]
    for cols, accel, cf in SETTINGS:
        f = cls([cf], [accel])
        for seed in SEEDS + [tuple(map(ord, "file1000002.h5"))]:
            want, _ = f((1, cols, 2), seed=seed)
            got = _ours(kind, cols, accel, cf, seed)
            np.testing.assert_array_equal(got, want.numpy().reshape(cols).astype(bool),
                                          err_msg=f"{kind} {cols} R{accel} cf {cf} seed {seed}")
