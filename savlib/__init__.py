"""savlib: energy-stable schemes for training neural networks, and the book that explains them.

Training a network integrates the gradient flow ``dtheta/dt = -grad I(theta)``. savlib
holds the time steppers (``savlib.schemes``), the mean-field particle discretisation
(``savlib.particles``), the papers' problems (``savlib.problems``), a training loop
(``savlib.train``) and the mean-field PDE of residual networks (``savlib.meanfield``).
"""
from __future__ import annotations

#: the version of this savlib (the distribution's version, as ``pip show savlib`` reports it)
__version__ = "0.1.0"

from .config import generator, get_device, pick, quick, seed_everything, seed_offset, setup, shift_seed

__all__ = ["__version__", "generator", "get_device", "pick", "quick", "seed_everything", "seed_offset", "setup",
           "shift_seed"]
