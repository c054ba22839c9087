"""fedrecon: physics-informed CT and MRI reconstruction (Rust, via PyO3).

Submodules:

- :mod:`fedrecon.ct` — :class:`~fedrecon.ct.Projector` (Joseph / Siddon, parallel or fan beam,
  exact adjoint) and :func:`~fedrecon.ct.recon` (FBP, SIRT, CGLS, TV, L1-wavelet);
- :mod:`fedrecon.mri` — :class:`~fedrecon.mri.Nufft`, :class:`~fedrecon.mri.Sense`,
  :func:`~fedrecon.mri.recon`, :func:`~fedrecon.mri.mask`;
- :mod:`fedrecon.io` — fastMRI, LoDoPaB, DICOM CT and BART ``.cfl`` readers;
- :mod:`fedrecon.fed` — :class:`~fedrecon.fed.Site`, a federation site for a client (wheels
  built with the ``fed`` feature);
- :mod:`fedrecon.torch` — :func:`~fedrecon.torch.apply`, an operator as a differentiable
  PyTorch function (imported on demand; PyTorch is optional).

Naming rule: keywords are the ``fedrecon`` CLI flags with dashes turned into underscores, with
the same defaults and conventions (``lambda_`` for ``--lambda``, a Python keyword). Arrays are
float32 / complex64; images ``(ny, nx)`` with row 0 at the top; leading batch axes are allowed.
Errors are ``ValueError`` (arguments, shapes) or ``OSError`` (files) with the Rust message.
"""

from . import ct, fed, io, mri
from ._native import __version__

__all__ = ["ct", "fed", "io", "mri", "__version__"]


def __getattr__(name: str):  # PEP 562: ``fedrecon.torch`` imports PyTorch only when used
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'fedrecon' has no attribute {name!r}")
