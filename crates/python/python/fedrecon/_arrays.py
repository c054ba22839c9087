"""numpy conversions shared by the wrappers: one conversion at most, none when the array is
already C-contiguous with the right dtype (the extension then borrows its memory)."""

from __future__ import annotations

import numbers
from typing import Any, Optional

import numpy as np


def f32(x: Any, name: str = "x") -> np.ndarray:
    """`x` as a C-contiguous float32 array (no copy when it already is one)."""
    a = np.asarray(x)
    if np.iscomplexobj(a):
        raise ValueError(f"{name}: expected real values, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float32)


def c64(x: Any, name: str = "x") -> np.ndarray:
    """`x` as a C-contiguous complex64 array (no copy when it already is one)."""
    return np.ascontiguousarray(np.asarray(x), dtype=np.complex64)


def count(name: str, v: Optional[Any]) -> Optional[int]:
    """A non-negative integer keyword (None passes through); anything else is a ValueError."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} = {v!r}: expected a non-negative integer")
    if v < 0:
        raise ValueError(f"{name} = {v}: expected a non-negative integer")
    return int(v)


def trajectory(traj: Any) -> "tuple[np.ndarray, tuple[int, ...]]":
    """A trajectory as `(M, 2)` float32 `(kx, ky)` in cycles/pixel and the shape of its point axes:
    real `(..., 2)` → `(M,)` (as `fedrecon mri nufft --traj`), complex `kx + i·ky` → its shape."""
    a = np.asarray(traj)
    if np.iscomplexobj(a):
        pts = a.shape
        kxy = np.stack([a.real.ravel(), a.imag.ravel()], axis=-1)
        return np.ascontiguousarray(kxy, dtype=np.float32), tuple(pts)
    if a.ndim < 1 or a.shape[-1] != 2:
        raise ValueError(
            f"traj: a real trajectory must have shape (M, 2) with columns (kx, ky), found {a.shape} "
            "(or give complex kx + i·ky)"
        )
    kxy = np.ascontiguousarray(a.reshape(-1, 2), dtype=np.float32)
    return kxy, (kxy.shape[0],)
