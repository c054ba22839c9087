"""File readers and writers of ``fedrecon-io`` (the CLI's own), as numpy arrays.

Errors reading a file are ``OSError`` with the Rust message (path, dataset, reason).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

import numpy as np

from . import _native
from ._arrays import c64, f32

__all__ = ["read_fastmri", "read_lodopab", "read_dicom_ct", "write_dicom_ct", "read_cfl", "write_cfl"]

PathLike = Union[str, "os.PathLike[str]"]


def read_fastmri(path: PathLike) -> Dict[str, Any]:
    """A fastMRI HDF5 volume: ``kspace`` complex64 ``(slices, coils, ny, nx)`` (single-coil
    ``(slices, ny, nx)``), ``mask`` (bool ``(nx,)`` or None), ``reconstruction_rss`` /
    ``reconstruction_esc`` float32 ``(slices, H, W)`` when present, ``recon_size`` ``(H, W)``,
    the attributes (``acquisition``, ``max``, ``norm``, ``patient_id``, ``acceleration``,
    ``num_low_frequency``) and ``ismrmrd_header`` (XML)."""
    return _native.read_fastmri(os.fspath(path))


def read_lodopab(
    path: PathLike, index: Optional[int] = None, ground_truth: Optional[bool] = None
) -> np.ndarray:
    """LoDoPaB-CT samples (one with ``index``, else all, stacked): observations
    ``(1000, 513)`` as stored (post-log, normalised), ground truth ``(362, 362)`` turned from
    ODL's ``(x, y)`` order into ``(ny, nx)`` row 0 at the top (``out[r, c] = odl[c, n−1−r]``,
    i.e. ``numpy.rot90``), as ``fedrecon ct lodopab``. Ground truth or not: ``ground_truth``,
    else the LoDoPaB file name (``ground_truth_*.hdf5``)."""
    return _native.read_lodopab(os.fspath(path), index, ground_truth)


def read_dicom_ct(path: PathLike) -> Dict[str, Any]:
    """A DICOM CT slice: ``hu`` float32 ``(ny, nx)`` (rescale applied), ``mu`` = μ in mm⁻¹ at
    70 keV (``μ_water·(1 + HU/1000)``, clamped at 0; what ``ct project --input x.dcm``
    projects) and ``pixel_spacing_mm`` ``(row, column)``."""
    return _native.read_dicom_ct(os.fspath(path))


def write_dicom_ct(path: PathLike, hu: Any, pixel_spacing_mm: "tuple[float, float]" = (1.0, 1.0)) -> None:
    """Write ``hu`` ``(ny, nx)`` (Hounsfield units, rounded to int16) as a minimal DICOM CT
    Image Storage file with ``PixelSpacing`` = ``pixel_spacing_mm`` ``(row, column)``."""
    dy, dx = pixel_spacing_mm
    _native.write_dicom_ct(os.fspath(path), f32(hu, "hu"), (float(dy), float(dx)))


def read_cfl(base: PathLike) -> np.ndarray:
    """A BART ``.cfl``/``.hdr`` pair (``base`` with or without extension) as complex64 in the
    row-major view of its dimensions: BART ``[x, y, 1, coils]`` → ``(coils, 1, y, x)``."""
    return _native.read_cfl(os.fspath(base))


def write_cfl(base: PathLike, array: Any) -> None:
    """Write ``array`` (complex64, C order) as a BART pair whose dimensions are the reversed
    shape, so that :func:`read_cfl` and BART's ``readcfl`` read it back."""
    _native.write_cfl(os.fspath(base), c64(array, "array"))
