"""``meanfield_mnist``: Liu & Markowich 2020's mean-field residual network trained on MNIST (book chapter
``book/meanfield/mnist.ipynb``).

``python -m savlib.experiments meanfield_mnist --full --threads 1 --out benchmarks/results`` runs
:func:`savlib.meanfield.mnist.mnist_experiment` at full size (28 x 28 grid, N = 784, 4 layers,
10k / 2k images, 3 seeds; adjoint + Adam, adjoint + A-RelSAV, PAM on 2k images, and the plain
torch ResNet of the same depth and width trained by autograd + Adam; plus the learning-rate
0.3 comparison on a 14 x 14 grid) and writes JSON and PNG. Every training run is a resumable
unit (``--resume``).
"""
from __future__ import annotations

from typing import Any

from ..meanfield.mnist import mnist_experiment, plot_mnist
from . import Experiment

__all__ = ["EXPERIMENT", "meanfield_mnist"]


def meanfield_mnist(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0,
                    ctx=None, **kw) -> dict[str, Any]:
    """Liu & Markowich 2020, sections 2.3-2.4 and 5.1 on MNIST; see
    :func:`savlib.meanfield.mnist.mnist_experiment` for the parameters."""
    return mnist_experiment(size, device=device, progress=progress, seed=seed, ctx=ctx, **kw)


EXPERIMENT = Experiment("meanfield_mnist",
                        "Liu & Markowich 2020: mean-field ResNet on MNIST, adjoint+A-RelSAV / PAM vs torch autograd",
                        meanfield_mnist, plot_mnist)
