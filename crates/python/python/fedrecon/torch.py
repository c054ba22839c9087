"""PyTorch: any fedrecon operator as a differentiable function.

``apply(op, x)`` computes ``op.forward(x)`` on a CPU tensor, and its backward applies the
operator's exact adjoint (``op.adjoint``) to the incoming gradient: for ``y = A x`` and a real
loss ``L``, ``∂L/∂x = Aᴴ ∂L/∂y`` — PyTorch's convention for complex tensors (conjugate Wirtinger)
included. ``apply(op, x, adjoint=True)`` is ``Aᴴ`` with ``A`` as its backward. Both run the Rust
operator with the GIL released; the tensors' memory is shared with numpy (no copy when the
tensor is contiguous with the operator's dtype).

Dtypes: real operators (:class:`fedrecon.ct.Projector`) take float32 tensors; complex operators
(:class:`fedrecon.mri.Nufft`, :class:`fedrecon.mri.Sense`) take complex64 tensors, or float32
*real views* ``(..., 2)`` (``torch.view_as_real``), and then return a real view too. CPU tensors
only (a CUDA tensor is a ``ValueError``). PyTorch is imported when this module is, not by
``import fedrecon``; it is an optional dependency.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["apply"]


def _numpy(t: "torch.Tensor", dtype: Any) -> np.ndarray:
    if t.device.type != "cpu":
        raise ValueError(f"fedrecon.torch: CPU tensors only, got a tensor on {t.device}")
    a = t.detach().contiguous().numpy()
    return np.ascontiguousarray(a, dtype=dtype)


class _Apply(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: "torch.Tensor", op: Any, adjoint: bool) -> "torch.Tensor":  # type: ignore[override]
        ctx.op, ctx.adjoint = op, adjoint
        a = _numpy(x, op.dtype)
        return torch.from_numpy(op.adjoint(a) if adjoint else op.forward(a))

    @staticmethod
    def backward(ctx: Any, g: "torch.Tensor") -> Any:  # type: ignore[override]
        op = ctx.op
        a = _numpy(g, op.dtype)
        dx = op.forward(a) if ctx.adjoint else op.adjoint(a)
        return torch.from_numpy(dx), None, None


def apply(op: Any, x: "torch.Tensor", adjoint: bool = False) -> "torch.Tensor":
    """``op.forward(x)`` (or ``op.adjoint(x)`` with ``adjoint=True``) as a differentiable
    function of the CPU tensor ``x`` whose backward is the exact adjoint map."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"fedrecon.torch.apply: expected a torch.Tensor, got {type(x).__name__}")
    complex_op = np.dtype(op.dtype).kind == "c"
    if complex_op and not x.is_complex():
        if x.shape[-1:] != (2,):
            raise ValueError(
                "fedrecon.torch.apply: a complex operator takes complex64 tensors or real views "
                f"(..., 2); got a real tensor of shape {tuple(x.shape)}"
            )
        z = torch.view_as_complex(x.to(torch.float32).contiguous())
        return torch.view_as_real(_Apply.apply(z, op, adjoint))
    want = torch.complex64 if complex_op else torch.float32
    if x.is_complex() and not complex_op:
        raise ValueError("fedrecon.torch.apply: a real operator takes real (float32) tensors")
    return _Apply.apply(x.to(want), op, adjoint)
