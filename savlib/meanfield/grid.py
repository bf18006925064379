"""The label set Y = (0,1)^dim cut into cubes (Liu & Markowich 2020 section 2.1, eqs. 2.4-2.7).

Book chapter: "From residual networks to a PDE" (``book/meanfield/pde_limit.ipynb``).

A function on Y is stored by its values at the cell centres; the integral operator
``(B_b f)(y) = int_Y b(y, z) f(z) dz`` becomes ``volume * b @ f`` (midpoint rule), which is
exactly the rescaled width-``M^dim`` residual network of Liu & Markowich 2020 eq. 2.6.
"""
from __future__ import annotations

import itertools
from typing import Callable

import torch
from torch import Tensor

__all__ = ["Grid"]


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return value


class Grid:
    """Y = (0,1)^dim split into ``cells**dim`` equal cubes of side ``h = 1/cells``.

    Attributes
    ----------
    dim, cells : the space dimension n and the number M of cells per axis.

    N : ``cells**dim``, the width of the equivalent residual network.

    h : the cell side ``1/cells``; ``volume = h**dim`` is the cell volume.

    points : ``(N, dim)`` float64 tensor of cell centres. The ordering is row-major
        (the last coordinate runs fastest), so for ``dim=2`` a vector of length N
        reshaped to ``(cells, cells)`` is an image with ``y_0`` down the rows.
    """

    def __init__(self, dim: int, cells: int):
        self.dim = _check_int("dim", dim, 1)
        self.cells = _check_int("cells", cells, 1)
        self.N = self.cells ** self.dim
        if self.N > 50_000_000:
            raise ValueError(f"Grid({dim}, {cells}) has {self.N} cells; that is too many")
        self.h = 1.0 / self.cells
        self.volume = self.h ** self.dim
        centres = (torch.arange(self.cells, dtype=torch.float64) + 0.5) * self.h
        mesh = torch.meshgrid(*([centres] * self.dim), indexing="ij")
        self.points = torch.stack([m.reshape(-1) for m in mesh], dim=1)

    def __repr__(self) -> str:
        return f"Grid(dim={self.dim}, cells={self.cells})  # N={self.N}, volume={self.volume:.3g}"

    def __eq__(self, other) -> bool:
        return isinstance(other, Grid) and (self.dim, self.cells) == (other.dim, other.cells)

    def __hash__(self) -> int:
        return hash((self.dim, self.cells))

    # ------------------------------------------------------------------ sampling
    def sample(self, fn: Callable[[Tensor], Tensor], *, dtype: torch.dtype = torch.float64,
               device=None) -> Tensor:
        """Values ``fn(y_i)`` at the cell centres: ``fn`` maps an ``(N, dim)`` tensor of
        points to ``(N,)`` (or ``(..., N)``); returns a tensor of the given dtype/device."""
        out = fn(self.points.to(device=device))
        out = torch.as_tensor(out)
        if out.shape[-1] != self.N:
            raise ValueError(f"fn returned shape {tuple(out.shape)}; expected last dim N={self.N}")
        return out.to(dtype=dtype, device=device)

    def kernel(self, fn: Callable[[Tensor, Tensor], Tensor], *, dtype: torch.dtype = torch.float64,
               device=None) -> Tensor:
        """The ``(N, N)`` matrix ``b_ij = fn(y_i, z_j)``; ``fn`` receives broadcastable
        ``y`` of shape ``(N, 1, dim)`` and ``z`` of shape ``(1, N, dim)``."""
        p = self.points.to(device=device)
        out = torch.as_tensor(fn(p[:, None, :], p[None, :, :]))
        if tuple(out.shape) != (self.N, self.N):
            raise ValueError(f"fn returned shape {tuple(out.shape)}; expected ({self.N}, {self.N})")
        return out.to(dtype=dtype, device=device)

    def inner(self, f: Tensor, g: Tensor) -> Tensor:
        """The L2(Y) inner product ``volume * sum_i f_i g_i`` over the last axis."""
        return self.volume * (f * g).sum(-1)

    def norm(self, f: Tensor) -> Tensor:
        """The L2(Y) norm over the last axis."""
        return torch.sqrt(self.inner(f, f))

    # ------------------------------------------------------------------ coarsening
    def coarsen(self, values: Tensor, fine: "Grid") -> Tensor:
        """Cell averages on this (coarse) grid of a function given on the finer grid
        ``fine`` (same dim, ``fine.cells`` a multiple of ``self.cells``). The last axis of
        ``values`` has length ``fine.N``; used for the width limit (Thm 2.2)."""
        if not isinstance(fine, Grid) or fine.dim != self.dim or fine.cells % self.cells:
            raise ValueError(f"fine must be a Grid of dim {self.dim} whose cells are a multiple of "
                             f"{self.cells}, got {fine!r}")
        if values.shape[-1] != fine.N:
            raise ValueError(f"values has last dim {values.shape[-1]}; expected fine.N={fine.N}")
        r = fine.cells // self.cells
        lead = values.shape[:-1]
        shape = list(lead)
        for _ in range(self.dim):
            shape += [self.cells, r]
        v = values.reshape(shape)
        red = [len(lead) + 2 * k + 1 for k in range(self.dim)]
        return v.mean(dim=red).reshape(*lead, self.N)

    def refine(self, values: Tensor, fine: "Grid") -> Tensor:
        """The piecewise-constant extension of a function on this grid to the finer grid
        ``fine`` (the inverse of :meth:`coarsen` on piecewise-constant functions)."""
        if not isinstance(fine, Grid) or fine.dim != self.dim or fine.cells % self.cells:
            raise ValueError(f"fine must be a Grid of dim {self.dim} whose cells are a multiple of "
                             f"{self.cells}, got {fine!r}")
        r = fine.cells // self.cells
        lead = values.shape[:-1]
        v = values.reshape(*lead, *([self.cells] * self.dim))
        for k in range(self.dim):
            v = v.repeat_interleave(r, dim=len(lead) + k)
        return v.reshape(*lead, fine.N)
