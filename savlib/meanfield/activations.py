"""Activation functions of Liu & Markowich 2020 section 2.2 with their derivatives and antiderivatives.

sigma is used by the forward PDE (eq. 2.8), sigma' by the co-state (eq. 4.2) and the
discrete adjoint, and Sigma (Sigma' = sigma, Sigma(0) = 0) by the Lyapunov functional of
Thm 3.2. Book chapters: "From residual networks to a PDE", "Stability of the forward
problem".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "LEAKY_SLOPE", "ELU_ALPHA"]

LEAKY_SLOPE = 0.1  # Liu & Markowich 2020 section 2.2: sigma(s) = max{0.1 s, s}
ELU_ALPHA = 1.0


@dataclass(frozen=True)
class Activation:
    """An activation: ``fn`` (sigma), ``deriv`` (sigma'), ``antideriv`` (Sigma with
    Sigma(0) = 0) and ``slope0`` = sigma'(0), which sets the linearised decay rate."""

    name: str
    fn: Callable[[Tensor], Tensor]
    deriv: Callable[[Tensor], Tensor]
    antideriv: Callable[[Tensor], Tensor]
    slope0: float
    smooth: bool

    def __call__(self, u: Tensor) -> Tensor:
        return self.fn(u)


def _relu_d(u):
    return (u > 0).to(u.dtype)


def _leaky_d(u):
    return torch.where(u > 0, torch.ones_like(u), torch.full_like(u, LEAKY_SLOPE))


def _leaky_S(u):
    return 0.5 * torch.where(u > 0, u * u, LEAKY_SLOPE * u * u)


def _elu_d(u):
    return torch.where(u > 0, torch.ones_like(u), ELU_ALPHA * torch.exp(torch.clamp(u, max=0)))


def _elu_S(u):
    neg = torch.clamp(u, max=0)
    return torch.where(u > 0, 0.5 * u * u, ELU_ALPHA * (torch.expm1(neg) - neg))


def _tanh_d(u):
    t = torch.tanh(u)
    return 1 - t * t


def _tanh_S(u):  # log cosh u, overflow-safe
    a = u.abs()
    return a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)


def _sigmoid_d(u):
    s = torch.sigmoid(u)
    return s * (1 - s)


def _sigmoid_S(u):
    return F.softplus(u) - math.log(2.0)


def _arctan_d(u):
    return 1 / (1 + u * u)


def _arctan_S(u):
    return u * torch.atan(u) - 0.5 * torch.log1p(u * u)


#: the activations by name (``sigma=`` of the solvers), each with its derivative
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", torch.relu, _relu_d, lambda u: 0.5 * torch.relu(u) ** 2, 1.0, False),
    "leaky_relu": Activation("leaky_relu", lambda u: F.leaky_relu(u, LEAKY_SLOPE), _leaky_d,
                             _leaky_S, 1.0, False),
    "elu": Activation("elu", lambda u: F.elu(u, ELU_ALPHA), _elu_d, _elu_S, 1.0, False),
    "tanh": Activation("tanh", torch.tanh, _tanh_d, _tanh_S, 1.0, True),
    "sigmoid": Activation("sigmoid", torch.sigmoid, _sigmoid_d, _sigmoid_S, 0.25, True),
    "arctan": Activation("arctan", torch.atan, _arctan_d, _arctan_S, 1.0, True),
}
_ALIASES = {"leaky relu": "leaky_relu", "leakyrelu": "leaky_relu", "leaky-relu": "leaky_relu",
            "atan": "arctan"}


def get_activation(sigma: str | Activation) -> Activation:
    """Look an activation up by name (relu, leaky_relu, elu, tanh, sigmoid, arctan)."""
    if isinstance(sigma, Activation):
        return sigma
    if not isinstance(sigma, str):
        raise TypeError(f"sigma must be a name or an Activation, got {type(sigma).__name__}")
    key = sigma.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {sigma!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]
