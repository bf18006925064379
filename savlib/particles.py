"""The mean-field two-layer network: particle method (PM) and smoothed particle method (SPM).

Ma, Mao & Shen 2024 (:cite:`ma2024sav`), section 2.1; book chapter
``book/particles/mean_field.ipynb``.

The network (Ma, Mao & Shen 2024, the display after eq. (4), and eq. (7)) is

    f(x) = (1/m) sum_k a_k sigma(w_k . [x; 1]),        theta_k = (a_k, w_k) in R^{1 + (D+1)},

i.e. a two-layer network with the mean-field 1/m output scaling, the bias folded into
``w_k`` by appending a constant 1 to the input. The m particles ``theta_k`` are the
atoms of the empirical measure (7); training moves them with the velocity of eq. (9).

Time scaling (the one place it is decided)
------------------------------------------
Ma, Mao & Shen 2024 uses two clocks without saying so:

* eq. (8)-(9): the particle velocity ``d theta_k/dt = -E_x[(f - f*) d/dtheta_k(a_k sigma(.))]``
  (the first variation of ``I = E (f - f*)^2`` *per unit mass*), and
* section 3: "PM-Euler is actually the GD method", with learning rate ``lr = dt``.

The ordinary gradient of ``I(theta) = E (f - f*)^2`` (eq. 2, the mean-squared error) is
``dI/dtheta_k = (2/m) E_x[(f - f*) d/dtheta_k(a_k sigma(.))]``, so the eq. (9) particle velocity
is ``-(m/2) dI/dtheta_k``: gradient descent on the ordinary gradient with ``lr = 0.6`` and
``m = 1000`` would advance the flow (9) by only ``tau = 2 lr / m = 1.2e-3`` per step, and could
never oscillate as Ma, Mao & Shen 2024 Fig. 1 shows Euler doing at ``lr = 0.6``.

**savlib's choice (``time_scale="particle"``, the default):** "PM-Euler with lr dt" is the
forward Euler step of eq. (9), ``theta_k <- theta_k + dt v_k`` with ``v_k = -(m/2) dI/dtheta_k``,
so ``lr`` is the time step of the mean-field flow and every optimizer (torch's or a savlib
scheme) integrates eq. (9). This is realised by a change of variables, not by touching
gradients: the trainable tensors are ``phi = theta / s`` with ``s = sqrt(m/2)``; then
``d phi/dt = -grad_phi I`` is exactly eq. (9) for ``theta = s phi``, the loss value ``I`` is
unchanged (so SAV's ``r = sqrt(I + C)`` and its energy laws refer to the true loss), and
``torch.optim.SGD(net.parameters(), lr=dt)`` is PM-Euler. Coordinatewise-adaptive methods
(Adam, the A-SAV family) see the same ``phi`` coordinates, so their step in ``theta`` is ``s``
times their step in ``phi``. ``time_scale="gd"`` keeps ``phi = theta`` (ordinary GD; one step
of size ``lr`` then advances eq. (9) by ``2 lr / m``, see :func:`mean_field_time`).
The unit tests check both conventions against eq. (9) written out by hand.

SPM (Ma, Mao & Shen 2024 section 2.1.2, eqs. 10-12, Algorithm 1)
-----------------------------------------------------------------
Each step draws ``xi_1, ..., xi_J ~ N(0, I)``, evaluates the loss with all particles shifted
by ``h xi_j`` and differentiates the average of the J losses. As Algorithm 1 is written,
one ``xi_j`` is shared by all particles (``shared=True``, the default); ``shared=False``
draws an independent shift per particle (the Monte Carlo reading of the mollified
measure (10)). Deviation, documented: Ma, Mao & Shen 2024 writes ``xi in R^{D+1}`` with ``xi_2 in R^D``
for ``omega`` although ``omega`` carries the bias after ``x -> [x; 1]``; savlib shifts the
bias too, so ``xi in R^{out + D + 1}`` (``out = 1`` for a scalar network).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from .config import shift_seed

__all__ = [
    "MeanFieldNet",
    "SmoothedParticleNet",
    "mean_field_time",
    "particle_velocity",
    "get_activation",
]

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": nn.functional.gelu,
    "softplus": nn.functional.softplus,
    "silu": nn.functional.silu,
}


def get_activation(activation: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """Return the activation function: a name in ``relu, tanh, sigmoid, gelu, softplus, silu``
    or any elementwise callable ``Tensor -> Tensor`` (Ma, Mao & Shen 2024 uses ReLU unless stated)."""
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _ACTIVATIONS:
        return _ACTIVATIONS[activation.lower()]
    raise ValueError(f"activation must be a callable or one of {sorted(_ACTIVATIONS)}, got {activation!r}")


class MeanFieldNet(nn.Module):
    """PM: the mean-field two-layer network ``f(x) = (1/m) sum_k a_k sigma(w_k . [x; 1])``.

    Ma, Mao & Shen 2024 eq. (7) and the network above eq. (5); book chapter "The mean-field view".

    Parameters
    ----------
    in_features : D, the input dimension.

    m : number of particles (hidden neurons).

    out_features : ``None`` (default) for a scalar network returning shape ``(N,)``; an int
        ``K`` makes ``a_k in R^K`` and the output ``(N, K)`` (classification, Ma, Mao & Shen 2024 Ex. 4).

    activation : name or callable, see :func:`get_activation`.

    a_std, w_std : initial ``a_k ~ N(0, a_std^2)``, ``w_k ~ N(0, w_std^2 I_{D+1})``; the
        default ``w_std = 1/sqrt(D+1)`` keeps ``w_k . [x; 1]`` of order one for z-scored x.
        Ma, Mao & Shen 2024 does not state its initialisation.

    generator : optional ``torch.Generator`` for the initial particles.

    time_scale : ``"particle"`` (default; an optimizer's ``lr`` is the time step of the particle
        ODE (9)) or ``"gd"`` (``lr`` is the step of GD on the ordinary gradient); see the
        module docstring. The trainable parameters are ``phi_a``, ``phi_w`` = particles / ``scale``
        with ``scale = sqrt(m/2)`` resp. 1.

    Properties ``a`` (shape ``(m,)`` or ``(m, K)``) and ``w`` (shape ``(m, D+1)``, last
    column the bias) are the particles ``theta_k``. ``velocity_scale = m/2`` converts
    ordinary gradients of the MSE w.r.t. ``theta`` into the eq. (9) velocity.
    """

    def __init__(self, in_features: int, m: int, out_features: int | None = None, *,
                 activation: str | Callable[[Tensor], Tensor] = "relu", a_std: float = 1.0,
                 w_std: float | None = None, time_scale: str = "particle",
                 generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        for name, val in (("in_features", in_features), ("m", m)):
            if not isinstance(val, int) or isinstance(val, bool) or val < 1:
                raise ValueError(f"{name} must be a positive int, got {val!r}")
        if out_features is not None and (not isinstance(out_features, int) or out_features < 1):
            raise ValueError(f"out_features must be None or a positive int, got {out_features!r}")
        if time_scale not in ("particle", "gd"):
            raise ValueError(f"time_scale must be 'particle' (eq. 9 velocity) or 'gd' (ordinary gradient), "
                             f"got {time_scale!r}")
        self.in_features, self.m, self.out_features = in_features, m, out_features
        self.time_scale = time_scale
        self.scale = math.sqrt(m / 2.0) if time_scale == "particle" else 1.0
        self.sigma = get_activation(activation)
        self.activation_name = activation if isinstance(activation, str) else getattr(activation, "__name__", "custom")
        dtype = dtype or torch.get_default_dtype()
        w_std = 1.0 / math.sqrt(in_features + 1) if w_std is None else float(w_std)
        a_shape = (m,) if out_features is None else (m, out_features)
        a = torch.randn(a_shape, generator=generator, dtype=dtype) * a_std
        w = torch.randn((m, in_features + 1), generator=generator, dtype=dtype) * w_std
        self.phi_a = nn.Parameter((a / self.scale).to(device))
        self.phi_w = nn.Parameter((w / self.scale).to(device))

    @property
    def a(self) -> Tensor:
        """The outer weights ``a_k`` of the particles (``scale * phi_a``)."""
        return self.phi_a * self.scale if self.scale != 1.0 else self.phi_a

    @property
    def w(self) -> Tensor:
        """The inner weights ``[w_k; b_k]`` of the particles, shape ``(m, D+1)`` (``scale * phi_w``)."""
        return self.phi_w * self.scale if self.scale != 1.0 else self.phi_w

    @property
    def velocity_scale(self) -> float:
        """``m/2``: eq. (9) velocity = ``-velocity_scale * grad`` of the MSE ``E (f - f*)^2``."""
        return self.m / 2.0

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (N, {self.in_features}), got {tuple(x.shape)}")

    def preactivation(self, x: Tensor) -> Tensor:
        """``z[n, k] = w_k . [x_n; 1]``, shape ``(N, m)``."""
        self._check_input(x)
        return x @ self.w[:, :-1].T + self.w[:, -1]

    def forward(self, x: Tensor) -> Tensor:
        """``f(x) = (1/m) sum_k a_k sigma(w_k . [x; 1])``: shape ``(N,)`` or ``(N, K)``."""
        return self.sigma(self.preactivation(x)) @ self.a / self.m

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, m={self.m}, out_features={self.out_features}, "
                f"activation={self.activation_name}, time_scale={self.time_scale!r}")


class SmoothedParticleNet(nn.Module):
    """SPM: Ma, Mao & Shen 2024 section 2.1.2, eqs. (10)-(12), Algorithm 1 (J Gaussian shifts of size h).

    Wraps a :class:`MeanFieldNet` (the particles are *its* parameters, so an optimizer built
    on ``spm.parameters()`` moves the same ``a``, ``w``). The training objective is

        Loss = (1/J) sum_j loss_fn(f(x; theta + h xi_j), y),   xi_j ~ N(0, I)       (Alg. 1, lines 2-6)

    computed by :meth:`training_loss`; the shifts are drawn by :meth:`begin_step` once per
    optimizer step and reused for every closure evaluation within the step (relaxed SAV
    evaluates the loss at the new point with the *same* xi, so the energy it controls is one
    function). ``forward`` returns the unshifted PM prediction, which is what the
    experiments evaluate on the train/test sets (the smoothing changes it by O(h^2)).

    ``shared=True`` (default, Algorithm 1 as written): one ``xi_j`` for all particles.
    ``shared=False``: independent shifts per particle. The generator state is part of
    ``state_dict()`` so a checkpoint resumes with the same future shifts.
    """

    def __init__(self, net: MeanFieldNet, J: int = 10, h: float = 1e-4, *, shared: bool = True,
                 seed: int = 0):
        super().__init__()
        if not isinstance(net, MeanFieldNet):
            raise TypeError(f"net must be a MeanFieldNet, got {type(net).__name__}")
        if not isinstance(J, int) or isinstance(J, bool) or J < 1:
            raise ValueError(f"J must be a positive int, got {J!r}")
        if not (isinstance(h, (int, float)) and h >= 0 and math.isfinite(h)):
            raise ValueError(f"h must be a finite number >= 0, got {h!r}")
        self.net, self.J, self.h, self.shared = net, J, float(h), bool(shared)
        self._gen = torch.Generator(device=net.w.device)
        self._gen.manual_seed(shift_seed(int(seed)))
        self._xi_a: Tensor | None = None
        self._xi_w: Tensor | None = None

    # --- shifts ---------------------------------------------------------------------------
    def begin_step(self) -> None:
        """Draw the J shifts ``xi_j`` for the next optimizer step (Algorithm 1, line 2)."""
        w, a = self.net.w, self.net.a
        if self._gen.device != w.device:  # the module moved: continue the stream on the new device
            seed = int(torch.randint(0, 2**62, (1,), generator=self._gen))
            self._gen = torch.Generator(device=w.device)
            self._gen.manual_seed(seed)
        k = 1 if self.shared else self.net.m
        a_tail = a.shape[1:]
        self._xi_a = torch.randn((self.J, k, *a_tail), generator=self._gen, device=w.device, dtype=w.dtype)
        self._xi_w = torch.randn((self.J, k, w.shape[1]), generator=self._gen, device=w.device, dtype=w.dtype)

    def shifts(self) -> tuple[Tensor, Tensor]:
        """The current ``(xi_a, xi_w)``: shapes ``(J, 1 or m[, K])`` and ``(J, 1 or m, D+1)``."""
        if self._xi_a is None:
            self.begin_step()
        return self._xi_a, self._xi_w  # type: ignore[return-value]

    def shifted_forward(self, x: Tensor) -> Tensor:
        """The J predictions ``f(x; theta + h xi_j)``, shape ``(J, N)`` or ``(J, N, K)``."""
        net = self.net
        net._check_input(x)
        xi_a, xi_w = self.shifts()
        a = net.a.unsqueeze(0) + self.h * xi_a              # (J, 1|m[, K]) broadcast over particles
        if self.shared:  # (w + h xi) . [x; 1] = w . [x; 1] + h xi . [x; 1]: one (N, m) matmul
            off = self.h * (x @ xi_w[:, 0, :-1].T + xi_w[:, 0, -1])          # (N, J)
            z = net.preactivation(x).unsqueeze(0) + off.T.unsqueeze(-1)      # (J, N, m)
        else:
            w = net.w.unsqueeze(0) + self.h * xi_w          # (J, m, D+1)
            z = torch.matmul(x.unsqueeze(0), w[..., :-1].transpose(1, 2)) + w[..., -1].unsqueeze(1)
        s = net.sigma(z)
        if net.out_features is None:
            return torch.einsum("jnm,jm->jn", s, a) / net.m
        return torch.einsum("jnm,jmk->jnk", s, a) / net.m

    def training_loss(self, loss_fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor) -> Tensor:
        """Algorithm 1, lines 3-6: ``(1/J) sum_j loss_fn(f(x; theta + h xi_j), y)``."""
        preds = self.shifted_forward(x)
        return torch.stack([loss_fn(preds[j], y) for j in range(self.J)]).mean()

    def forward(self, x: Tensor) -> Tensor:
        """The unshifted PM prediction (used for evaluation)."""
        return self.net(x)

    # --- checkpointing of the xi stream -----------------------------------------------------
    def get_extra_state(self):
        return {"generator": self._gen.get_state(), "xi_a": self._xi_a, "xi_w": self._xi_w}

    def set_extra_state(self, state) -> None:
        self._gen.set_state(state["generator"])
        self._xi_a, self._xi_w = state["xi_a"], state["xi_w"]

    def extra_repr(self) -> str:
        return f"J={self.J}, h={self.h}, shared={self.shared}"


def mean_field_time(lr: float, steps: int, m: int, time_scale: str = "particle") -> float:
    """Time of the particle ODE (Ma, Mao & Shen 2024 eq. 9) reached by ``steps`` Euler/GD steps of size
    ``lr`` on the MSE of a :class:`MeanFieldNet` with m particles: ``lr * steps`` with
    ``time_scale="particle"``, ``2 lr steps / m`` with ``"gd"`` (see the module docstring)."""
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"m must be a positive int, got {m!r}")
    if time_scale not in ("particle", "gd"):
        raise ValueError(f"time_scale must be 'particle' or 'gd', got {time_scale!r}")
    t = float(lr) * int(steps)
    return t if time_scale == "particle" else 2.0 * t / m


def particle_velocity(net: MeanFieldNet, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The eq. (9) velocity ``(da_k/dt, dw_k/dt) = -(m/2) grad_{theta_k} E (f - y)^2`` on the
    data ``(x, y)``, computed with autograd (no graph is kept; parameters are untouched)."""
    if not isinstance(net, MeanFieldNet):
        raise TypeError(f"net must be a MeanFieldNet, got {type(net).__name__}")
    if net.out_features is not None:
        raise ValueError("particle_velocity is defined for the scalar network (out_features=None)")
    a = net.a.detach().requires_grad_(True)
    w = net.w.detach().requires_grad_(True)
    z = x @ w[:, :-1].T + w[:, -1]
    f = net.sigma(z) @ a / net.m
    loss = ((f - y) ** 2).mean()
    ga, gw = torch.autograd.grad(loss, (a, w))
    return -net.velocity_scale * ga, -net.velocity_scale * gw
