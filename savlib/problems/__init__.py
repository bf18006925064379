"""The papers' problems: regression targets, MNIST (offline), PINN residuals and exact solutions.

Each submodule owns one family; this file re-exports their public names.
"""
from __future__ import annotations

# --- regression and MNIST (savlib.problems.regression, savlib.problems.mnist) ---
from .mnist import MNISTIntegrityError, accuracy, cross_entropy, mnist
from .regression import (
    REGRESSION_PROBLEMS,
    Split,
    discontinuous,
    gaussian,
    mse,
    multiscale,
    quadratic,
    regression_problem,
    relative_error,
    sin_cos,
)

# --- PINNs (savlib.problems.pinn, savlib.problems.burgers) ---
from .burgers import BURGERS_NU, burgers_exact, burgers_reference, burgers_test_grid  # noqa: E402
from .pinn import (  # noqa: E402
    Burgers,
    BurgersRaissi,
    Helmholtz2D,
    PerturbedODE,
    PINNData,
    PINNProblem,
    Poisson1D,
    Poisson2D,
    mlp,
    poisson1d_low,
    poisson1d_multiscale,
)
