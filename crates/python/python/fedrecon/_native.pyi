# Type stubs of the extension module (crates/python/src). Arrays are C-contiguous float32 /
# complex64; the public wrappers in fedrecon.ct / fedrecon.mri / fedrecon.io convert inputs.
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

F32 = npt.NDArray[np.float32]
C64 = npt.NDArray[np.complex64]

class CtProjector:
    def __init__(
        self,
        *,
        size: Optional[int] = None,
        beam: Optional[str] = None,
        angles: Optional[int] = None,
        angle_list: Optional[Sequence[float]] = None,
        arc: Optional[float] = None,
        detectors: Optional[int] = None,
        detector_spacing: Optional[float] = None,
        detector_offset: Optional[float] = None,
        sod: Optional[float] = None,
        sdd: Optional[float] = None,
        curved: bool = False,
        pixel_size: Optional[float] = None,
        projector: str = "joseph",
        geometry: Optional[str] = None,
        image: Optional[Tuple[int, int]] = None,
        sino: Optional[Tuple[int, int]] = None,
    ) -> None: ...
    @property
    def shape_in(self) -> Tuple[int, int]: ...
    @property
    def shape_out(self) -> Tuple[int, int]: ...
    @property
    def angles(self) -> List[float]: ...
    @property
    def projector(self) -> str: ...
    def forward(self, x: F32) -> F32: ...
    def adjoint(self, y: F32) -> F32: ...
    def normal(self, x: F32) -> F32: ...
    # the operator alone timed inside Rust, ms per run (benches/peers/python_ops.py)
    def _time_rust(self, map: str, x: F32, repeat: int = 1) -> List[float]: ...

def ct_recon(
    projector: CtProjector,
    sino: F32,
    *,
    method: str = "fbp",
    filter: str = "ram-lak",
    frequency_scaling: float = 1.0,
    padding: Optional[int] = None,
    iters: int = 100,
    lambda_: float = 0.01,
    nonneg: bool = False,
    relaxation: float = 1.0,
) -> F32: ...

class Nufft:
    def __init__(self, traj: F32, *, size: int, eps: float = 1e-6, upsampling: float = 2.0) -> None: ...
    @property
    def shape_in(self) -> Tuple[int, int]: ...
    @property
    def shape_out(self) -> Tuple[int]: ...
    @property
    def kernel_width(self) -> int: ...
    @property
    def fine_shape(self) -> Tuple[int, int]: ...
    def forward(self, x: C64) -> C64: ...
    def adjoint(self, y: C64) -> C64: ...
    def normal(self, x: C64) -> C64: ...
    def _time_rust(self, map: str, x: C64, repeat: int = 1) -> List[float]: ...

class Sense:
    def __init__(
        self,
        maps: C64,
        *,
        mask: Optional[F32] = None,
        traj: Optional[F32] = None,
        eps: float = 1e-6,
        upsampling: float = 2.0,
        toeplitz: bool = True,
    ) -> None: ...
    @property
    def shape_in(self) -> List[int]: ...
    @property
    def shape_out(self) -> List[int]: ...
    def forward(self, x: C64) -> C64: ...
    def adjoint(self, y: C64) -> C64: ...
    def normal(self, x: C64) -> C64: ...
    def _time_rust(self, map: str, x: C64, repeat: int = 1) -> List[float]: ...

def mri_mask(
    ny: int,
    nx: int,
    *,
    mask: str = "random",
    accel: float = 4.0,
    center_fraction: float = 0.08,
    seed: int = 0,
    seed_key: Optional[List[int]] = None,
) -> npt.NDArray[np.bool_]: ...
def mri_recon(
    ksp: C64,
    *,
    method: str = "zf",
    maps: Optional[C64] = None,
    mask: Optional[F32] = None,
    estimate_maps: Optional[str] = None,
    traj: Optional[F32] = None,
    size: Optional[int] = None,
    iters: Optional[int] = None,
    lambda_: Optional[float] = None,
    recon_size: Optional[Tuple[int, int]] = None,
) -> F32: ...
def mri_estimate_maps(
    ksp: C64,
    *,
    estimate_maps: str = "auto",
    mask: Optional[F32] = None,
    traj: Optional[F32] = None,
    size: Optional[int] = None,
) -> C64: ...
def read_fastmri(path: str) -> Dict[str, Any]: ...
def read_lodopab(path: str, index: Optional[int] = None, ground_truth: Optional[bool] = None) -> F32: ...
def read_dicom_ct(path: str) -> Dict[str, Any]: ...
def write_dicom_ct(path: str, hu: F32, pixel_spacing_mm: Tuple[float, float]) -> None: ...
def read_cfl(base: str) -> C64: ...
def write_cfl(base: str, array: C64) -> None: ...

class FedSite:  # only in wheels built with the `fed` feature
    def __init__(self, config: Optional[str], name: str, set: List[str] = ...) -> None: ...
    @property
    def name(self) -> str: ...
    def get_parameters(self) -> Dict[str, F32]: ...
    def fit(self, params: Dict[str, F32], round: int) -> Tuple[Dict[str, F32], int, Dict[str, float]]: ...
    def evaluate(self, params: Dict[str, F32]) -> Dict[str, float]: ...
