"""Shared fixtures: the ``fedrecon`` CLI binary (results must equal it bit for bit), a seeded
generator and the dot-product (adjoint) test.

The CLI is ``$FEDRECON_BIN`` or ``target/debug/fedrecon`` of this checkout (``cargo build -p
fedrecon``). Without it the CLI comparisons skip with a message; ``FEDRECON_REQUIRE_CLI=1``
(set by ``.ci/python-tests``) makes them fail instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]


def _cli_path() -> Path:
    env = os.environ.get("FEDRECON_BIN")
    return Path(env) if env else ROOT / "target" / "debug" / "fedrecon"


@pytest.fixture(scope="session")
def cli():
    """Run the CLI with arguments; returns its stderr. A non-zero exit fails the test."""
    exe = _cli_path()
    if not exe.is_file():
        msg = f"the fedrecon CLI is not built ({exe}); run `cargo build -p fedrecon`"
        if os.environ.get("FEDRECON_REQUIRE_CLI") == "1":
            pytest.fail(msg)
        pytest.skip(msg)

    def run(*args: object) -> str:
        argv: List[str] = [str(exe)] + [str(a) for a in args]
        p = subprocess.run(argv, capture_output=True, text=True)
        assert p.returncode == 0, f"{' '.join(argv)} failed: {p.stderr}"
        return p.stderr

    return run


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def dot_test(op, rng, complex_: bool = False, batch: int = 0) -> float:
    """Relative mismatch of ⟨A x, y⟩ and ⟨x, Aᴴ y⟩ for random x, y, computed in float64."""
    lead = (batch,) if batch else ()

    def rand(shape):
        a = rng.standard_normal(lead + tuple(shape))
        if complex_:
            a = a + 1j * rng.standard_normal(lead + tuple(shape))
        return a.astype(np.complex64 if complex_ else np.float32)

    x, y = rand(op.shape_in), rand(op.shape_out)
    ax, aty = op.forward(x), op.adjoint(y)
    assert ax.shape == y.shape and aty.shape == x.shape
    lhs = np.vdot(y.astype(np.complex128), ax.astype(np.complex128))
    rhs = np.vdot(aty.astype(np.complex128), x.astype(np.complex128))
    # yᴴ(Ax) = (Aᴴy)ᴴx (vdot conjugates its first argument)
    return abs(lhs - rhs) / max(abs(lhs), 1e-30)
