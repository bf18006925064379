"""What each scheme's ``opt.diagnostics`` holds after a step: one table per scheme class.

Every scheme leaves the diagnostics of its last step in ``opt.diagnostics``, a dict of
0-d float64 tensors on the parameter device (:class:`~savlib.schemes.base.EnergyOptimizer`).
:data:`DIAGNOSTICS` maps each scheme class name to its keys, in the order the step forms
them, with their meaning. It is the one table of the keys: the API reference renders it
under each scheme, and a test runs a real step of every scheme (plain, adaptive, both
ExpSAV updates, ``evolve_q``, every ISGD inner solver) and checks that the step produces
exactly these keys.

Notation as in the scheme modules: ``I(theta_n)`` the loss at the start of the step (on
the closure's batch), ``r`` the scalar auxiliary variable, ``C`` the energy constant,
``dt`` the learning rate ``lr``.
"""
from __future__ import annotations

from ..errors import ConfigError

__all__ = ["DIAGNOSTICS", "keys"]

_SAV = {
    "loss": "``I(theta_n)``, the loss at the start of the step",
    "r_hat": "``r^_n = sqrt(I(theta_n) + C)``, the SAV variable the loss implies",
    "q": "``r_n / r^_n``, stored over implied variable before any restart "
         "(Ma, Mao & Shen 2024 Fig. 6 plots ``1 - q``)",
    "r_tilde": "``r~``, the unrelaxed new value of eq. (20)",
    "r": "``r_{n+1}``, the SAV variable the step stores",
    "energy": "``r_{n+1}^2``, the modified energy",
    "xi": "the relaxation weight ``xi`` (1 when nothing is relaxed)",
    "step_scale": "``r~ / r^_n``, the factor multiplying ``dt`` in the update "
                  "(1 is plain gradient descent)",
    "lr_eff": "``step_scale * lr`` of the first param group",
    "dissipation": "``|theta_{n+1} - theta_n|^2 / dt`` (the ``dt``-weighted norm)",
    "r_start": "the ``r`` the step started from: ``r_n``, or ``r^_n`` for ResSAV",
}
_SAV_RELAXED = {
    **_SAV,
    "loss_new": "``I(theta_{n+1})`` on the same batch (the extra forward pass)",
    "r_hat_new": "``sqrt(I(theta_{n+1}) + C)``",
}
_EXPSAV = {
    "loss": "``I(theta_n)``, the loss at the start of the step",
    "log_r": "``log r_{n+1}``, the variable the step stores (kept in log space)",
    "log_r_prev": "``log r_n``, the variable the step started from",
    "log_r_tilde": "``log r~``, the unrelaxed new value",
    "log_r_hat": "``log C + I(theta_n)``, the log of the variable the loss implies",
    "q": "``r_n / (C exp(I(theta_n)))``, stored over implied variable",
    "energy": "``log(r_{n+1} / C)``, the modified energy in loss units",
    "xi": "the relaxation weight ``xi`` (1 when nothing is relaxed)",
    "x": "the ``x`` of ``r_{n+1} = r_n / (1 + x)``: ``dt S_n / r_n`` for "
         "``update=\"2.2.4\"``, ``dt S_n`` for ``\"thm2.3\"``",
    "step_scale": "``1 / (1 + x)``, the factor multiplying ``dt`` in the update",
    "lr_eff": "``step_scale * lr`` of the first param group",
    "dissipation": "``|theta_{n+1} - theta_n|^2 / dt`` (the ``dt``-weighted norm)",
}
_EXPSAV_RELAXED = {
    **_EXPSAV,
    "loss_new": "``I(theta_{n+1})`` on the same batch (the extra forward pass)",
    "log_r_hat_new": "``log C + I(theta_{n+1})``",
    "eta_eff": "``eta'``, the share of the dissipation the relaxation may give back",
}
_IEQ = {
    "step": "the number of the step just taken (1 for the first)",
    "loss": "``1/2 |q(w_n)|^2``, the true energy of the residual the closure returned",
    "energy_before": "``1/2 |q_n|^2``, the modified energy before the step",
    "energy": "``1/2 |q_{n+1}|^2``, the modified energy after the step",
    "dq2": "``|q_{n+1} - q_n|^2``",
    "dissipation": "``|w_{n+1} - w_n|^2 / dt``, so that ``energy - energy_before = "
                   "-dq2/2 - dissipation``",
}
_IEQ_ADAPTIVE = {
    **_IEQ,
    "alpha": "``1 / (1 + dt |g|^2 / (|q_n|^2 + eps))``, the scalar that replaces the "
             "solve (``q_{n+1} = alpha q_n``)",
    "step_scale": "``alpha``, the factor multiplying ``dt`` in the update",
    "lr_eff": "``alpha * lr`` of the first param group",
}
_ISGD = {
    "step": "the number of the step just taken (1 for the first)",
    "loss": "``L(theta_n)``, the loss at the first inner evaluation",
    "loss_last": "the loss at the last inner evaluation",
    "objective": "``1/2 |theta - theta_n|^2 + alpha L(theta)`` at the last inner evaluation",
    "update_norm": "``|theta_{n+1} - theta_n|``",
    "inner_evals": "closure evaluations of the inner solve",
    "inner_lr": "the inner Adam rate (nan for the L-BFGS solvers)",
    "inner_converged": "1 if ``inner=\"prox\"`` met its tolerance, 0 if it stopped at "
                       "``inner_steps``, nan for the fixed budgets",
    "prox_grad": "``|grad F| / |grad F(theta_n)|`` at the last evaluation of "
                 "``inner=\"prox\"`` (nan otherwise)",
}

#: scheme class name -> {diagnostics key: meaning}, keys in the order the step forms them
DIAGNOSTICS: dict[str, dict[str, str]] = {
    "SAV": _SAV,
    "ResSAV": _SAV,
    "RelSAV": _SAV_RELAXED,
    "ExpSAV": _EXPSAV,
    "RelExpSAV": _EXPSAV_RELAXED,
    "IEQ": _IEQ,
    "IEQAdaptive": _IEQ_ADAPTIVE,
    "ISGD": _ISGD,
}


def keys(scheme: str | type) -> list[str]:
    """The diagnostics keys of a scheme (a class or its name), e.g. ``keys(SAV)``."""
    name = scheme if isinstance(scheme, str) else scheme.__name__
    if name not in DIAGNOSTICS:
        raise ConfigError(f"no diagnostics table for {name!r}; known: {sorted(DIAGNOSTICS)}")
    return list(DIAGNOSTICS[name])
