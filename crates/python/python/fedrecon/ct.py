"""CT: the projector and the classical reconstructions of ``fedrecon ct``.

Conventions (as the CLI): image ``(ny, nx)``, row 0 at the top, square pixels of side
``pixel_size`` centred on the rotation axis; sinogram ``(angles, detectors)``; parallel beam
ray ``x·cosθ + y·sinθ = s`` with default angles ``θ_k = kπ/n`` over ``arc`` = 180°; fan beam
source at ``sod·(sinθ, −cosθ)``, default angles ``2πk/n`` over 360°; detector cell ``d`` at
``u_d = (d − (n−1)/2)·detector_spacing + detector_offset``, measured on the detector. The
geometry rules (defaults, validation, memory checks) are the CLI's own
(``fedrecon_physics::geometry::GeometrySpec::resolve``).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._arrays import count, f32

__all__ = ["Projector", "recon"]

Angles = Union[int, Sequence[float], np.ndarray, None]


def _native_projector(
    size: Optional[int],
    beam: Optional[str],
    angles: Angles,
    detectors: Optional[int],
    sod: Optional[float],
    sdd: Optional[float],
    curved: bool,
    detector_spacing: Optional[float],
    detector_offset: Optional[float],
    pixel_size: Optional[float],
    arc: Optional[float],
    projector: str,
    geometry: Optional[str],
    sino: Optional[Tuple[int, int]] = None,
) -> Any:
    angle_list = None
    if angles is not None and not isinstance(angles, (int, np.integer)):
        angle_list = [float(a) for a in np.asarray(angles, dtype=np.float64).ravel()]
        angles = None
    return _native.CtProjector(
        size=count("size", size),
        beam=beam,
        angles=count("angles", angles),
        angle_list=angle_list,
        arc=arc,
        detectors=count("detectors", detectors),
        detector_spacing=detector_spacing,
        detector_offset=detector_offset,
        sod=sod,
        sdd=sdd,
        curved=bool(curved),
        pixel_size=pixel_size,
        projector=projector,
        geometry=None if geometry is None else str(geometry),
        sino=sino,
    )


class Projector:
    """A 2-D CT projector with its exact adjoint (``fedrecon ct project`` / ``ct backproject``).

    Keywords are the CLI's geometry flags: ``size`` (square image side), ``beam``
    (``"parallel"`` or ``"fan"``), ``angles`` (a count, default 180 parallel / 360 fan — or, as
    ASTRA, an array of angles in radians), ``detectors`` (default ⌈√2·size⌉ + 1), ``sod`` /
    ``sdd`` (fan), ``curved`` (equiangular fan detector), ``detector_spacing`` (default the pixel
    size, × magnification for fan), ``detector_offset``, ``pixel_size`` (default 1), ``arc``
    (degrees), ``projector`` (``"joseph"``, the default, or the exact ``"siddon"`` reference)
    and ``geometry`` (a TOML geometry file the keywords override).

    ``forward(x)``: images ``(..., ny, nx)`` → sinograms ``(..., angles, detectors)``;
    ``adjoint(y)``: the exact transpose; ``normal(x)`` = ``adjoint(forward(x))``. float32 in and
    out (other dtypes are converted once); C-contiguous float32 inputs are not copied.
    """

    def __init__(
        self,
        size: Optional[int] = None,
        beam: Optional[str] = None,
        angles: Angles = None,
        detectors: Optional[int] = None,
        sod: Optional[float] = None,
        sdd: Optional[float] = None,
        curved: bool = False,
        detector_spacing: Optional[float] = None,
        detector_offset: Optional[float] = None,
        pixel_size: Optional[float] = None,
        arc: Optional[float] = None,
        projector: str = "joseph",
        geometry: Optional[str] = None,
    ) -> None:
        self._op = _native_projector(
            size, beam, angles, detectors, sod, sdd, curved, detector_spacing,
            detector_offset, pixel_size, arc, projector, geometry,
        )

    dtype = np.dtype(np.float32)

    @property
    def shape_in(self) -> Tuple[int, int]:
        """Image shape ``(ny, nx)``."""
        return tuple(self._op.shape_in)  # type: ignore[return-value]

    @property
    def shape_out(self) -> Tuple[int, int]:
        """Sinogram shape ``(angles, detectors)``."""
        return tuple(self._op.shape_out)  # type: ignore[return-value]

    @property
    def angles(self) -> np.ndarray:
        """Projection angles in radians."""
        return np.asarray(self._op.angles)

    def forward(self, x: Any) -> np.ndarray:
        """Sinograms ``(..., angles, detectors)`` of images ``(..., ny, nx)``."""
        return self._op.forward(f32(x))

    __call__ = forward

    def adjoint(self, y: Any) -> np.ndarray:
        """The exact transpose: images ``(..., ny, nx)`` of sinograms ``(..., angles, detectors)``."""
        return self._op.adjoint(f32(y, "y"))

    def normal(self, x: Any) -> np.ndarray:
        """``adjoint(forward(x))``."""
        return self._op.normal(f32(x))

    def __repr__(self) -> str:
        return repr(self._op)


def recon(
    sino: Any,
    method: str = "fbp",
    *,
    filter: str = "ram-lak",
    frequency_scaling: float = 1.0,
    padding: Optional[int] = None,
    iters: int = 100,
    lambda_: float = 0.01,
    nonneg: bool = False,
    relaxation: float = 1.0,
    projector: str = "joseph",
    size: Optional[int] = None,
    beam: Optional[str] = None,
    angles: Angles = None,
    detectors: Optional[int] = None,
    sod: Optional[float] = None,
    sdd: Optional[float] = None,
    curved: bool = False,
    detector_spacing: Optional[float] = None,
    detector_offset: Optional[float] = None,
    pixel_size: Optional[float] = None,
    arc: Optional[float] = None,
    geometry: Optional[str] = None,
) -> np.ndarray:
    """Reconstruct sinograms ``(..., angles, detectors)`` as ``fedrecon ct recon``: images
    ``(..., size, size)``.

    ``method``: ``"fbp"`` (``filter`` ram-lak | shepp-logan | cosine | hamming | hann,
    ``frequency_scaling`` in (0, 1], ``padding`` FFT length), ``"sirt"`` (``relaxation``,
    ``nonneg``), ``"cgls"``, ``"tv"`` (½‖Ax − y‖² + λ TV(x) by PDHG, ``nonneg``) or ``"l1"``
    (½‖Ax − y‖² + λ‖Wx‖₁, db4, FISTA); ``iters`` (default 100) and ``lambda_`` (``--lambda``,
    default 0.01) as the CLI. ``angles`` and ``detectors`` default to the sinogram's shape; the
    other geometry keywords are :class:`Projector`'s.
    """
    s = f32(sino, "sino")
    if s.ndim < 2:
        raise ValueError(f"sino: expected shape (..., angles, detectors), found {s.shape}")
    op = _native_projector(
        size, beam, angles, detectors, sod, sdd, curved, detector_spacing, detector_offset,
        pixel_size, arc, projector, geometry, sino=(s.shape[-2], s.shape[-1]),
    )
    return _native.ct_recon(
        op,
        s,
        method=method,
        filter=filter,
        frequency_scaling=float(frequency_scaling),
        padding=count("padding", padding),
        iters=count("iters", iters),
        lambda_=float(lambda_),
        nonneg=bool(nonneg),
        relaxation=float(relaxation),
    )
