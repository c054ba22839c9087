"""MRI: the 2-D NUFFT, multi-coil SENSE, sampling masks and the reconstructions of
``fedrecon mri``.

Conventions (as the CLI): images ``(ny, nx)`` complex64, row 0 at the top; k-space
``(coils, ny, nx)`` with the centred orthonormal FFT (fastMRI's ``fft2c``); trajectories
``(M, 2)`` columns ``(kx, ky)`` in cycles/pixel within [−0.5, 0.5] (or complex ``kx + i·ky`` of
any shape); the type-2 NUFFT is ``y_m = Σ_x f(x) exp(−2πi k_m·x)`` with pixel coordinates
``x − N/2``, unnormalised, and type 1 its exact adjoint.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._arrays import c64, count, f32, trajectory

__all__ = ["Nufft", "Sense", "estimate_maps", "mask", "recon"]


def _points_out(y: np.ndarray, points: Tuple[int, ...]) -> np.ndarray:
    return y.reshape(y.shape[:-1] + points)


def _points_in(y: np.ndarray, points: Tuple[int, ...], m: int) -> np.ndarray:
    """Samples ``(..., *points)`` or ``(..., M)`` as ``(..., M)``."""
    k = len(points)
    if y.ndim >= k and tuple(y.shape[y.ndim - k:]) == points:
        return y.reshape(y.shape[: y.ndim - k] + (m,))
    return y


class Nufft:
    """The 2-D NUFFT on an ``size × size`` image (``fedrecon mri nufft``).

    ``forward(x)`` = type 2 (images ``(..., N, N)`` → samples ``(..., M)``), ``adjoint(y)`` =
    type 1 (the exact adjoint), ``normal(x)`` = type 1 ∘ type 2. ``eps`` is the requested
    relative tolerance (default 1e-6; f32 floor: 1e-6 at ``upsampling`` σ = 2, 1e-4 at 1.25).
    """

    dtype = np.dtype(np.complex64)

    def __init__(self, traj: Any, size: int, eps: float = 1e-6, upsampling: float = 2.0) -> None:
        kxy, self._points = trajectory(traj)
        self._op = _native.Nufft(kxy, size=count("size", size), eps=float(eps),
                                 upsampling=float(upsampling))

    @property
    def shape_in(self) -> Tuple[int, int]:
        return tuple(self._op.shape_in)  # type: ignore[return-value]

    @property
    def shape_out(self) -> Tuple[int, ...]:
        return self._points

    @property
    def kernel_width(self) -> int:
        return int(self._op.kernel_width)

    def forward(self, x: Any) -> np.ndarray:
        """Type 2: samples ``(..., *points)`` of images ``(..., N, N)``."""
        return _points_out(self._op.forward(c64(x)), self._points)

    __call__ = forward

    def adjoint(self, y: Any) -> np.ndarray:
        """Type 1: images ``(..., N, N)`` of samples ``(..., *points)`` or ``(..., M)``."""
        y = c64(y, "y")
        return self._op.adjoint(_points_in(y, self._points, self._op.shape_out[0]))

    def normal(self, x: Any) -> np.ndarray:
        return self._op.normal(c64(x))


class Sense:
    """Multi-coil SENSE ``A = M F S`` (Cartesian) or ``A = NUFFT · S`` (``traj`` given).

    ``maps``: coil sensitivities ``(coils, ny, nx)`` (or ``(ny, nx)`` for one coil). Cartesian:
    ``mask`` (optional) is a column mask ``(nx,)`` or a 2-D mask ``(ny, nx)`` (non-zero =
    sampled); ``forward`` maps images ``(..., ny, nx)`` to k-space ``(..., coils, ny, nx)``.
    Non-Cartesian: ``forward`` maps to samples ``(..., coils, M)``; the normal operator is the
    Toeplitz embedding (``toeplitz=True``, as ``mri recon``) or type 1 ∘ type 2.
    """

    dtype = np.dtype(np.complex64)

    def __init__(
        self,
        maps: Any,
        mask: Any = None,
        traj: Any = None,
        eps: float = 1e-6,
        upsampling: float = 2.0,
        toeplitz: bool = True,
    ) -> None:
        m = c64(maps, "maps")
        if m.ndim == 2:
            m = m[None]
        kxy = None
        if traj is not None:
            kxy, _ = trajectory(traj)
        mk = None if mask is None else f32(np.asarray(mask, dtype=np.float32), "mask")
        self._op = _native.Sense(m, mask=mk, traj=kxy, eps=float(eps),
                                 upsampling=float(upsampling), toeplitz=bool(toeplitz))

    @property
    def shape_in(self) -> Tuple[int, ...]:
        return tuple(self._op.shape_in)

    @property
    def shape_out(self) -> Tuple[int, ...]:
        return tuple(self._op.shape_out)

    def forward(self, x: Any) -> np.ndarray:
        return self._op.forward(c64(x))

    __call__ = forward

    def adjoint(self, y: Any) -> np.ndarray:
        return self._op.adjoint(c64(y, "y"))

    def normal(self, x: Any) -> np.ndarray:
        return self._op.normal(c64(x))


def mask(
    shape: Union[int, Tuple[int, int]],
    mask: str = "random",
    accel: float = 4.0,
    center_fraction: float = 0.08,
    seed: Union[int, Sequence[int]] = 0,
) -> np.ndarray:
    """The sampling mask of ``fedrecon mri simulate --mask`` (same seed, same mask).

    ``mask``: ``"random"`` / ``"equispaced"`` / ``"equispaced-fraction"`` — equal to fastMRI's
    ``RandomMaskFunc`` / ``EquiSpacedMaskFunc`` / ``EquispacedMaskFractionFunc``
    ``([center_fraction], [accel])(shape, seed=seed)`` (``fastmri/data/subsample.py``, numpy's
    ``RandomState`` stream; ``seed`` an integer below 2³² or, as fastMRI's data transforms pass
    it, a sequence such as ``tuple(map(ord, fname))``; a larger integer ``s`` is the pair
    ``(s mod 2³², s >> 32)``) — or ``"poisson"`` (2-D variable-density Poisson disc with a
    centred calibration square of side ``round(center_fraction·N)``; this library's generator).
    ``shape``: ``nx`` (a column mask ``(nx,)``, fastMRI kinds) or ``(ny, nx)`` (a 2-D bool mask).
    """
    key = None
    if isinstance(seed, (int, np.integer)):
        seed = count("seed", seed)
    else:
        key = [count("seed", int(v)) for v in np.asarray(seed).ravel()]
        if any(v > 0xFFFFFFFF for v in key):
            raise ValueError("seed: the items of a sequence seed must be below 2**32 (as numpy's)")
        seed = 0
    opts = dict(mask=mask, accel=float(accel), center_fraction=float(center_fraction), seed=seed,
                seed_key=key)
    if isinstance(shape, (int, np.integer)):
        if mask == "poisson":
            raise ValueError("mask = 'poisson' is 2-D: give shape = (ny, nx)")
        return _native.mri_mask(1, count("shape", shape), **opts)[0]
    ny, nx = (count("shape", int(s)) for s in shape)
    return _native.mri_mask(ny, nx, **opts)


def recon(
    ksp: Any,
    method: str = "zf",
    *,
    maps: Any = None,
    mask: Any = None,
    estimate_maps: Optional[str] = None,
    traj: Any = None,
    size: Optional[int] = None,
    iters: Optional[int] = None,
    lambda_: Optional[float] = None,
    recon_size: Optional[Tuple[int, int]] = None,
) -> np.ndarray:
    """Reconstruct k-space to magnitude images as ``fedrecon mri recon`` (same image bit for bit).

    ``method``: ``"zf"`` (zero-filled RSS; gridding with ``traj``), ``"cgsense"`` (CG on
    ``(AᴴA + λI)x = Aᴴy``, 20 iterations), ``"cgls"`` (20), ``"l1"`` (L1-wavelet by FISTA, λ 2e-3,
    100) or ``"tv"`` (PDHG, λ 2e-3, 150); ``iters`` and ``lambda_`` (``--lambda``) override.
    Each slice is scaled so that its zero-filled (gridded) RSS image peaks at 1 before solving,
    and the result scaled back: λ is relative to the image peak.

    Cartesian ``ksp``: ``(ny, nx)``, ``(coils, ny, nx)`` or ``(slices, coils, ny, nx)``; sampled
    where ``mask`` (0 / 1: columns ``(nx,)``, e.g. a fastMRI file's, or 2-D ``(ny, nx)``) is set,
    else where any coil is non-zero (``ksp`` is expected zero where unsampled, as fastMRI's
    masked k-space). ``recon_size`` ``(H, W)`` centre-crops the images, each side clamped to the
    image, as ``mri recon`` crops a fastMRI ``.h5`` to its header's matrix (pass
    ``io.read_fastmri(path)["recon_size"]``; the CLI reads it from the file, so it has no flag).

    Non-Cartesian (``traj`` ``(M, 2)`` or complex ``kx + i·ky``): samples ``(coils, M)`` or
    ``(coils, *points)`` and the image side ``size``. Coil maps: ``maps``
    ``(coils, ny, nx)``, or estimated (``estimate_maps`` ``"auto"`` — ESPIRiT when the
    calibration square is ≥ 12 × 12 on Cartesian data, else Walsh —, ``"espirit"``,
    ``"walsh"``).
    """
    y = c64(ksp, "ksp")
    kxy = None
    if traj is not None:
        kxy, points = trajectory(traj)
        k = len(points)
        if y.ndim >= k and tuple(y.shape[y.ndim - k:]) == points:
            y = y.reshape(y.shape[: y.ndim - k] + (kxy.shape[0],))
    m = None
    if maps is not None:
        m = c64(maps, "maps")
        if m.ndim == 2:
            m = m[None]
    mk = None if mask is None else np.ascontiguousarray(np.asarray(mask), dtype=np.float32)
    return _native.mri_recon(
        y,
        method=method,
        maps=m,
        mask=mk,
        estimate_maps=estimate_maps,
        traj=kxy,
        size=count("size", size),
        iters=count("iters", iters),
        lambda_=None if lambda_ is None else float(lambda_),
        recon_size=None if recon_size is None else tuple(count("recon_size", int(v))
                                                         for v in recon_size),
    )


def estimate_maps(
    ksp: Any,
    estimate_maps: str = "auto",
    *,
    mask: Any = None,
    traj: Any = None,
    size: Optional[int] = None,
) -> np.ndarray:
    """The coil maps ``(coils, ny, nx)`` complex64 that ``recon`` (and ``fedrecon mri recon``)
    estimates when no ``maps`` are given, so that ``recon(ksp, m, maps=estimate_maps(ksp))``
    equals ``recon(ksp, m)`` bit for bit.

    ``estimate_maps``: ``"auto"`` (ESPIRiT on Cartesian data with a fully sampled centred
    calibration square ≥ 12 × 12, else Walsh), ``"espirit"`` or ``"walsh"``, from the largest
    fully sampled centred calibration block (at most 24 × 24) of the data normalised to a peak-1
    zero-filled image. Cartesian ``ksp`` ``(coils, ny, nx)`` sampled where ``mask`` (columns
    ``(nx,)`` or ``(ny, nx)``) is set, else where any coil is non-zero. Non-Cartesian (``traj``
    ``(M, 2)`` or complex ``kx + i·ky``): samples ``(coils, M)`` or ``(coils, *points)`` are
    gridded (Pipe–Menon weights) onto ``size × size`` and the maps estimated from the centre of
    the gridded k-space, which is fully sampled.
    """
    y = c64(ksp, "ksp")
    kxy = None
    if traj is not None:
        kxy, points = trajectory(traj)
        y = _points_in(y, points, kxy.shape[0])
    mk = None if mask is None else np.ascontiguousarray(np.asarray(mask), dtype=np.float32)
    return _native.mri_estimate_maps(y, estimate_maps=estimate_maps, mask=mk, traj=kxy,
                                     size=count("size", size))
