"""A datafit bound to its data, ``w -> F(X w)``: the smooth part that FISTA and the
subgradient method take (value, gradient, Lipschitz constant), for NumPy, scipy sparse
and torch data. The loss itself comes from the datafit's per-sample pieces, the same
ones the coordinate-descent and Newton solvers use."""

from __future__ import annotations

import numpy as np
from scipy import sparse as sp

from ._validation import normalize_sample_weight


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _vdot(a, b):
    """Real inner product as a Python float (NumPy or torch)."""
    if _is_torch(a):
        return float((a * b).sum())
    return float(np.vdot(a, b))


def _sqnorm(a):
    return _vdot(a, a)


def _copy(a):
    return a.clone() if _is_torch(a) else np.array(a, copy=True)


def _zeros_like(a):
    if _is_torch(a):
        import torch

        return torch.zeros_like(a)
    return np.zeros_like(a)


def _to_float(v):
    """A Python float from a float, NumPy scalar or 0-d tensor."""
    if _is_torch(v):
        return float(v.detach().item())
    return float(v)


def _max_abs(v):
    """``max |v|`` as a Python float (NumPy array or torch tensor), 0 for empty input."""
    if _is_torch(v):
        return float(v.detach().abs().max().item()) if v.numel() else 0.0
    v = np.asarray(v)
    return float(np.max(np.abs(v), initial=0.0))


def _all_finite(a):
    if _is_torch(a):
        import torch

        if a.layout == torch.sparse_coo:
            a = a.coalesce().values()
        elif a.layout != torch.strided:  # CSR / CSC / BSR
            a = a.values()
        return bool(torch.isfinite(a).all())
    if sp.issparse(a):
        return bool(np.all(np.isfinite(a.data)))
    return bool(np.all(np.isfinite(a)))


def _check_X(X, name="X"):
    if X is None:
        raise ValueError(f"{name} is required")
    if _is_torch(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {tuple(X.shape)}")
        if not X.is_floating_point():
            X = X.to(__import__("torch").get_default_dtype())
    elif sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {X.shape}")
        if X.dtype.kind not in "f":
            X = X.astype(np.float64)
        X = X.tocsr() if X.format not in ("csr", "csc") else X
    else:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {X.shape}")
        if X.dtype.kind not in "f":
            if X.dtype.kind not in "iub":
                raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}")
            X = X.astype(np.float64)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(X.shape)})")
    if not _all_finite(X):
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def _check_y(y, X, name="y"):
    if y is None:
        raise ValueError(f"{name} is required")
    if _is_torch(X):
        import torch

        y = torch.as_tensor(y, dtype=X.dtype, device=X.device) if not _is_torch(y) else (
            y.to(dtype=X.dtype, device=X.device))
    else:
        if _is_torch(y):
            raise ValueError(f"{name} is a torch tensor but X is not; give both in one kind")
        y = np.asarray(y)
        if y.dtype.kind not in "fiub":
            raise ValueError(f"{name} must hold real numbers, got dtype {y.dtype}")
        y = y.astype(X.dtype if X.dtype.kind == "f" else np.float64, copy=False)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(y.shape)}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} has {y.shape[0]} entries but X has {X.shape[0]} rows (samples)")
    if not _all_finite(y):
        raise ValueError(f"{name} contains NaN or infinity")
    return y


def _transpose(X):
    """``X.T`` as something that multiplies a vector (torch CSR/CSC tensors have no ``.T``
    with matmul support: go through COO once)."""
    if _is_torch(X):
        import torch

        if X.layout == torch.strided:
            return X.T
        if X.layout == torch.sparse_coo:
            return X.t().coalesce()
        return X.to_sparse_coo().t().coalesce().to_sparse_csr()
    return X.T


def _spectral_norm_sq(X):
    """``||X||_2^2`` (largest squared singular value) for NumPy, scipy sparse or torch."""
    if _is_torch(X):
        import torch

        if X.layout != torch.strided:
            # never densify a sparse tensor: hand its entries to scipy (on the CPU)
            coo = X.to_sparse_coo().coalesce() if X.layout != torch.sparse_coo else (
                X.coalesce())
            idx = coo.indices().cpu().numpy()
            vals = coo.values().detach().cpu().to(torch.float64).numpy()
            return _spectral_norm_sq(sp.coo_matrix((vals, (idx[0], idx[1])),
                                                   shape=tuple(X.shape)).tocsr())
        return float(torch.linalg.matrix_norm(X.detach().to(torch.float64), ord=2) ** 2)
    if sp.issparse(X) or min(X.shape) > 2000:
        # Lanczos (ARPACK) for sparse or large designs; an eigendecomposition otherwise
        if min(X.shape) <= 2:
            dense = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
            return float(np.linalg.norm(dense, 2) ** 2)
        from scipy.sparse.linalg import svds

        try:
            s = svds(X.astype(np.float64), k=1, return_singular_vectors=False,
                     random_state=0, tol=1e-10)
            # svds is accurate to ~tol; a hair more keeps 1/L a valid step
            return float(s[0] ** 2) * (1 + 1e-8)
        except Exception:  # noqa: BLE001 - ARPACK can fail on tiny/odd matrices
            dense = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
            return float(np.linalg.norm(dense, 2) ** 2)
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    gram = X.T @ X if p <= n else X @ X.T
    return float(np.linalg.eigvalsh(gram)[-1])


class BoundDatafit:
    r"""``F(w) = datafit(X w)``: a datafit bound to ``(X, y)`` and sample weights.

    ``value(w)``, ``gradient(w) = X^T F'(Xw)``, ``value_and_gradient(w)`` (one product
    ``X @ w``), ``lipschitz`` (:math:`c\,\|\mathrm{diag}(\sqrt{s}) X\|_2^2`, ``c`` the
    datafit's bound on the second derivative, computed on first use) and ``zeros()``, in
    the kind (NumPy or torch, on its device) of ``X``. Sample weights are normalized to
    sum to one, so the unweighted loss is a mean.

    Parameters
    ----------
    datafit : Quadratic, Logistic or Multinomial
    X : array-like, sparse matrix or torch.Tensor of shape (n_samples, n_features)
    y : array-like or torch.Tensor of shape (n_samples,)
    sample_weight : array-like, optional

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic, BoundDatafit
    >>> f = BoundDatafit(Quadratic(), np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 2.0]))
    >>> f.value(np.zeros(2)), f.lipschitz
    (1.25, 2.0)
    """

    def __init__(self, datafit, X, y, sample_weight=None):
        self.datafit = datafit
        self.X = _check_X(X)
        self.y = _check_y(y, self.X)
        if not _is_torch(self.y):
            self.y = datafit.check_y(self.y, self.X.shape[0]).astype(self.X.dtype, copy=False)
        else:
            datafit.check_y(self.y.detach().cpu().numpy().astype(np.float64), self.X.shape[0])
        self.n_samples, self.n_features = self.X.shape
        sw = normalize_sample_weight(sample_weight, self.n_samples)
        self.sw = _like(sw, self.X)
        self.Xt = _transpose(self.X)
        self._lipschitz = None

    @property
    def lipschitz(self):
        if self._lipschitz is None:
            sw = np.asarray(self.sw.cpu() if _is_torch(self.sw) else self.sw)
            if np.all(sw == sw[0]):
                norm2 = sw[0] * _spectral_norm_sq(self.X)
            else:
                root = np.sqrt(sw)
                X = self.X
                if _is_torch(X):
                    X = X.to_dense().cpu().numpy() if X.layout != __import__(
                        "torch").strided else X.detach().cpu().numpy()
                norm2 = _spectral_norm_sq(sp.diags(root) @ X if sp.issparse(X)
                                          else root[:, None] * np.asarray(X))
            self._lipschitz = float(self.datafit._hess_bound * norm2)
        return self._lipschitz

    def value(self, w):
        return float(self.datafit._value_u(self.y, self.X @ w, self.sw))

    def gradient(self, w):
        return self.Xt @ self.datafit._raw_grad(self.y, self.X @ w, self.sw)

    def value_and_gradient(self, w):
        u = self.X @ w
        return (float(self.datafit._value_u(self.y, u, self.sw)),
                self.Xt @ self.datafit._raw_grad(self.y, u, self.sw))

    def residual(self, w):
        """``y - X @ w``."""
        return self.y - self.X @ w

    def zeros(self):
        """The all-zero coefficient vector, in the kind (NumPy/torch) of ``X``."""
        shape = (self.n_features,) if self.datafit.n_classes is None else (
            self.n_features, self.datafit.n_classes)
        if _is_torch(self.X):
            import torch

            return torch.zeros(shape, dtype=self.X.dtype, device=self.X.device)
        return np.zeros(shape, dtype=self.X.dtype)


def _like(a, X):
    if _is_torch(X):
        import torch

        return torch.as_tensor(a, dtype=X.dtype, device=X.device)
    return np.asarray(a, dtype=X.dtype)
