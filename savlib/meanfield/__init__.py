"""savlib.meanfield: the mean-field PDE of residual networks (Liu & Markowich 2020).

``f_t = sigma(a(y,t) - int_Y b(y,z,t) f(z,t) dz)`` (eq. 2.8) on ``Y = (0,1)^dim``:

* :class:`Grid` -- the label set cut into cubes; ``(B_b f)_i = volume * sum_j b_ij f_j``.
* :func:`forward` -- Euler (= a residual network, eq. 2.1), Heun, RK4; six activations.
* :func:`loss_and_grad`, :func:`classifier_loss_and_grad` -- cost and exact gradients of
  the discrete cost by the discrete adjoint (section 4.1), with checkpointing;
  :func:`costate`, :func:`continuous_gradients` -- eq. 4.2 and Prop. 4.1.
* :func:`gradient_descent`, :func:`pam` (Alg. 1), :func:`msa` (Alg. 2, bang-bang eq. 4.10,
  and the extended MSA) -- training.
* stability tools of section 3: :func:`spectrum`, :func:`symmetric_spectrum`,
  :func:`lyapunov`, :func:`steady_state`, :func:`low_rank_kernel`, :func:`decay_matrix`,
  :func:`predicted_decay_rate`, :func:`rank_one_unstable`.
* MNIST as functions on (0,1)^2 (module :mod:`savlib.meanfield.mnist`): :func:`mnist_functions`,
  :func:`init_network`, :class:`ResNet` (the same network in plain torch), :func:`train_adjoint`,
  :func:`train_pam`, :func:`train_torch`, :func:`mnist_experiment`.

Book part: ``book/meanfield/`` (chapters pde_limit, stability, control, pmp, mnist).
"""
from .activations import ACTIVATIONS, Activation, get_activation
from .adjoint import (AdjointInfo, classifier_loss_and_grad, continuous_gradients, costate,
                      head_logits, loss_and_grad, make_head, predict, tikhonov)
from .control import (History, accuracy, classifier_objective, discrete_costates,
                      gradient_descent, hamiltonian, hamiltonian_argmax, init_params, l2_weights,
                      msa, pam, regression_objective)
from .grid import Grid
from .mnist import (MNISTFunctions, ResNet, RunRecord, gradient_check, init_network,
                    mnist_experiment, mnist_functions, network_weights, plot_mnist, train_adjoint,
                    train_pam, train_torch)
from .solver import METHODS, ForwardOverflowError, autonomous, check_inputs, forward
from .stability import (decay_matrix, gram_matrix, low_rank_kernel, lyapunov, operator_matrix,
                        predicted_decay_rate, rank_one_unstable, residual_u, spectrum,
                        steady_state, symmetric_spectrum)

__all__ = [
    "Grid", "forward", "loss_and_grad", "classifier_loss_and_grad", "head_logits", "predict",
    "make_head", "tikhonov", "costate", "continuous_gradients", "AdjointInfo",
    "ACTIVATIONS", "Activation", "get_activation", "METHODS", "ForwardOverflowError",
    "autonomous", "check_inputs",
    "History", "accuracy", "classifier_objective", "regression_objective", "gradient_descent",
    "pam", "msa", "hamiltonian", "hamiltonian_argmax", "discrete_costates", "init_params",
    "l2_weights",
    "operator_matrix", "spectrum", "symmetric_spectrum", "lyapunov", "steady_state",
    "low_rank_kernel", "gram_matrix", "decay_matrix", "predicted_decay_rate",
    "rank_one_unstable", "residual_u",
    "MNISTFunctions", "mnist_functions", "init_network", "network_weights", "ResNet", "RunRecord",
    "train_adjoint", "train_torch", "train_pam", "gradient_check", "mnist_experiment", "plot_mnist",
]
