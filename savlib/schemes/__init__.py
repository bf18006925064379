"""savlib.schemes: the time-stepping schemes of the papers as ``torch.optim`` optimizers.

Every scheme runs the one template step of :class:`savlib.schemes.base.EnergyOptimizer`
(closure -> direction -> one reduction -> validate -> scalar update -> apply -> relax ->
commit) and follows the ``torch.optim`` closure protocol (``loss = opt.step(closure)``;
see :mod:`savlib.schemes.base` and :func:`make_closure`), keeps its scalar state in
float64 in ``state_dict()``, and leaves the diagnostics of its last step in
``opt.diagnostics`` (0-d tensors, no host sync). A step completes or raises (a type from
:mod:`savlib.errors`) with parameters, state and diagnostics unchanged.

* :class:`SAV`, :class:`ResSAV`, :class:`RelSAV` -- Ma, Mao & Shen 2024, Algs. 2-5; ``adaptive=True``
  for A-SAV / A-ResSAV / A-RelSAV (Alg. 5). Module :mod:`savlib.schemes.sav`.
* :class:`ExpSAV`, :class:`RelExpSAV` -- Anonymous 2024 (the gradient-flow report), section 2.2.4, Thms 2.2-2.3, and a
  relaxation derived in :mod:`savlib.schemes.expsav`.
* :class:`IEQ`, :class:`IEQAdaptive` -- Anonymous 2024, section 2.2.5 (:mod:`savlib.schemes.ieq`).
* :class:`ISGD`, :func:`isgd_adam` -- Li, Chen & Huang 2023 (:mod:`savlib.schemes.isgd`).

Baselines stay torch's own: SGD (= PM-Euler), Adam (= A-Euler), Adagrad, RMSprop.
"""
from .base import make_closure
from .expsav import ExpSAV, RelExpSAV
from .ieq import IEQ, IEQAdaptive
from .isgd import ISGD, isgd_adam
from .sav import SAV, RelSAV, ResSAV

__all__ = ["SAV", "ResSAV", "RelSAV", "ExpSAV", "RelExpSAV", "IEQ", "IEQAdaptive", "ISGD",
           "isgd_adam", "make_closure"]
