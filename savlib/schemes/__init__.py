"""savlib.schemes: the time-stepping schemes of the papers as ``torch.optim`` optimizers.

Every scheme follows the ``torch.optim`` closure protocol (``loss = opt.step(closure)``;
see :mod:`savlib.schemes.base` and :func:`make_closure`), keeps its scalar state in
float64 in ``state_dict()``, and leaves the diagnostics of its last step in
``opt.diagnostics`` (0-d tensors, no host sync).

* :class:`SAV`, :class:`ResSAV`, :class:`RelSAV` -- seed 000 Algs. 2-4; ``adaptive=True``
  for A-SAV / A-ResSAV / A-RelSAV (Alg. 5). Module :mod:`savlib.schemes.sav`.
* :class:`ExpSAV`, :class:`RelExpSAV` -- seed 002 section 2.2.4, Thms 2.2-2.3, and a
  relaxation derived in :mod:`savlib.schemes.expsav`.
* :class:`IEQ`, :class:`IEQAdaptive` -- seed 002 section 2.2.5 (:mod:`savlib.schemes.ieq`).
* :class:`ISGD`, :func:`isgd_adam` -- seed 001 (:mod:`savlib.schemes.isgd`).

Baselines stay torch's own: SGD (= PM-Euler), Adam (= A-Euler), Adagrad, RMSprop.
"""
from .base import make_closure
from .expsav import ExpSAV, RelExpSAV
from .ieq import IEQ, IEQAdaptive
from .isgd import ISGD, isgd_adam
from .sav import SAV, RelSAV, ResSAV

__all__ = ["SAV", "ResSAV", "RelSAV", "ExpSAV", "RelExpSAV", "IEQ", "IEQAdaptive", "ISGD",
           "isgd_adam", "make_closure"]
