"""Mutual information between embeddings and genotypes (GIM's protocol; needs torch).

A discriminator (critic) scores a pair (embedding e, genotypes x) as
``d(e, x) = f(e) . g(x)``: the inner product of a small embedding MLP ``f`` and a
genotype MLP ``g``. In a batch of B pairs the B diagonal scores are the positives
(pairs drawn from the joint) and the B(B-1) off-diagonal ones the negatives (from
the product of the marginals).

**JSE** (METHODS.md section 3; GIM):

    E_pos = mean_i(log 2 - softplus(-d_ii))
    E_neg = mean_{i!=j}(softplus(-d_ij) + d_ij - log 2)
    loss  = E_neg - E_pos

GIM reports minus the converged loss. At the optimal critic ``d* = log p(e,x)/(p(e)p(x))``
that number is ``2 JSD(P_joint || P_marginals)``, which is bounded by ``2 log 2`` nats
(1.386) whatever the MI: it ranks representations but it is not MI in nats. This module
reports it as ``JSE`` and, from the same trained critic, the Donsker-Varadhan bound

    MI_JSE = E_pos[d] - log E_neg[exp(d)]

which equals the MI at the JS optimum (the JS critic estimates the log density ratio)
and is a lower bound for any critic (at least as tight as the NWJ bound
``1 + E_pos[d] - E_neg[exp(d)]``; Poole et al. 2019).

**InfoNCE** (a second critic of the same architecture, trained with the InfoNCE loss):

    MI_INFONCE = mean_i(d_ii - logsumexp_j d_ij) + log K

over the K evaluation pairs; it is a lower bound capped at ``log K``.

Protocol: the pairs are split at random per seed into a training part (the critic
learns on it, with a validation slice for convergence) and an evaluation part the
critic never saw. Training stops when the validation loss has not improved for
``patience`` epochs (converged) or after ``max_epochs`` (not converged); the best
validation weights are kept. The architecture and budget are fixed by
:class:`CriticConfig` so numbers from different representations are comparable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from gwasrep.errors import InputError
from gwasrep.options import check_options
from gwasrep.runs import Progress

__all__ = ["ESTIMATORS", "CriticConfig", "MIResult", "SeedResult", "estimate_mi", "jse_loss",
           "infonce_loss", "mi_bounds"]

ESTIMATORS = ("jse", "infonce")
LOG2 = math.log(2.0)


@dataclass(frozen=True)
class CriticConfig:
    """Discriminator architecture and training budget (stored with every estimate)."""

    #: Hidden width of both MLPs (two softplus hidden layers each; a smooth activation
    #: learns the quadratic terms of a log density ratio from far fewer pairs than ReLU).
    hidden: int = 256
    #: Output width of both MLPs (the critic is their inner product).
    out_dim: int = 64
    #: Dropout on the genotype encoder's input. Wide variant panels with few informative
    #: variants overfit without it (N = 10,000, 1,000 variants, 20 causal: MI_JSE 0.008
    #: without, 0.90 with 0.5); on dense inputs where every column carries signal it costs
    #: accuracy (the Gaussian test runs with 0).
    geno_dropout: float = 0.5
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-2
    max_epochs: int = 400
    #: Epochs without a validation improvement of more than ``tol`` before stopping.
    patience: int = 25
    tol: float = 1e-4
    #: Fraction of pairs held out for the estimate (the critic never trains on them).
    eval_fraction: float = 0.3
    #: Fraction of the training part used to decide convergence.
    val_fraction: float = 0.2
    estimators: tuple[str, ...] = ESTIMATORS

    def __post_init__(self):
        bad = [e for e in self.estimators if e not in ESTIMATORS]
        if bad or not self.estimators:
            raise InputError(f"--estimators: expected some of {ESTIMATORS}; found {bad or '()'}")


@dataclass
class SeedResult:
    """One seed: its split, and each estimator's training record and estimate (nats)."""

    seed: int
    n_train: int
    n_eval: int
    #: ``JSE`` (GIM's -loss), ``MI_JSE`` (DV bound of the JS critic), ``MI_INFONCE``.
    estimates: dict[str, float]
    epochs: dict[str, int]
    converged: dict[str, bool]
    seconds: float


@dataclass
class MIResult:
    """Estimates over seeds: per-seed records and mean/sd per quantity."""

    seeds: list[SeedResult]
    config: CriticConfig
    n_pairs: int
    emb_dim: int
    geno_dim: int
    summary: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.summary:
            keys = sorted({k for s in self.seeds for k in s.estimates})
            for k in keys:
                v = np.array([s.estimates[k] for s in self.seeds if k in s.estimates])
                self.summary[k] = {"mean": float(v.mean()),
                                   "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                                   "n_seeds": len(v)}

    def to_dict(self) -> dict:
        return {"n_pairs": self.n_pairs, "emb_dim": self.emb_dim, "geno_dim": self.geno_dim,
                "config": asdict(self.config), "summary": self.summary,
                "seeds": [asdict(s) for s in self.seeds]}


def _mlp(d_in: int, cfg: CriticConfig, dropout: float = 0.0) -> nn.Module:
    head = [nn.Dropout(dropout)] if dropout > 0 else []
    return nn.Sequential(*head, nn.Linear(d_in, cfg.hidden), nn.Softplus(),
                         nn.Linear(cfg.hidden, cfg.hidden), nn.Softplus(),
                         nn.Linear(cfg.hidden, cfg.out_dim))


class Critic(nn.Module):
    """``d(e, x) = f(e) . g(x)``; :meth:`forward` gives the (B_e, B_x) score matrix."""

    def __init__(self, emb_dim: int, geno_dim: int, cfg: CriticConfig):
        super().__init__()
        self.f = _mlp(emb_dim, cfg)
        self.g = _mlp(geno_dim, cfg, cfg.geno_dropout)
        self.scale = 1.0 / math.sqrt(cfg.out_dim)

    def forward(self, e: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (self.f(e) * self.scale) @ self.g(x).T


def _offdiag_mean(m: torch.Tensor) -> torch.Tensor:
    n = m.shape[0]
    return (m.sum() - m.diagonal().sum()) / (n * (n - 1))


def jse_loss(scores: torch.Tensor) -> torch.Tensor:
    """JSE loss of a square score matrix (positives on the diagonal)."""
    e_pos = (LOG2 - functional.softplus(-scores.diagonal())).mean()
    e_neg = _offdiag_mean(functional.softplus(-scores) + scores - LOG2)
    return e_neg - e_pos


def infonce_loss(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE loss (cross-entropy of each embedding picking its own genotypes)."""
    return functional.cross_entropy(scores, torch.arange(scores.shape[0]))


def mi_bounds(scores: torch.Tensor) -> dict[str, float]:
    """JSE, Donsker-Varadhan and InfoNCE values of one square score matrix (float64)."""
    s = scores.double()
    n = s.shape[0]
    diag = s.diagonal()
    # exp of the negatives, with the max factored out for range; mean over i != j.
    off = s.masked_fill(torch.eye(n, dtype=torch.bool), -math.inf).flatten()
    log_mean_exp = torch.logsumexp(off, 0) - math.log(n * (n - 1))
    return {"JSE": float(-jse_loss(s)), "DV": float(diag.mean() - log_mean_exp),
            "INFONCE": float((diag - torch.logsumexp(s, dim=1)).mean() + math.log(n))}


def _train(critic: Critic, loss_fn, e_tr, x_tr, e_va, x_va, cfg: CriticConfig,
           gen: torch.Generator, tick: Callable[[], None] | None) -> tuple[int, bool]:
    opt = torch.optim.AdamW(critic.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = e_tr.shape[0]
    bs = min(cfg.batch_size, n)
    best, best_state, since, epochs = math.inf, None, 0, 0
    converged = False
    for epochs in range(1, cfg.max_epochs + 1):  # noqa: B007 - the count is returned
        critic.train()
        perm = torch.randperm(n, generator=gen)
        # Full batches only: the loss of a batch depends on its size (negatives).
        for b0 in range(0, n - bs + 1, bs):
            idx = perm[b0:b0 + bs]
            loss = loss_fn(critic(e_tr[idx], x_tr[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        critic.eval()
        with torch.no_grad():
            val = float(loss_fn(critic(e_va, x_va)))
        if tick is not None:
            tick()
        if val < best - cfg.tol:
            best, since = val, 0
            best_state = {k: v.clone() for k, v in critic.state_dict().items()}
        else:
            since += 1
            if since >= cfg.patience:
                converged = True
                break
    if best_state is not None:
        critic.load_state_dict(best_state)
    return epochs, converged


def _standardize(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    mu = np.nanmean(a, axis=0)
    a = np.where(np.isnan(a), mu, a) - mu
    sd = a.std(axis=0)
    return a / np.where(sd > 0, sd, 1.0)


def _estimate_seed(E: torch.Tensor, X: torch.Tensor, seed: int, cfg: CriticConfig,
                   tick: Callable[[], None] | None) -> SeedResult:
    t0 = time.perf_counter()
    n = E.shape[0]
    rng = np.random.default_rng(seed)
    perm = torch.from_numpy(rng.permutation(n))
    n_eval = int(round(n * cfg.eval_fraction))
    n_val = int(round((n - n_eval) * cfg.val_fraction))
    ev, va, tr = perm[:n_eval], perm[n_eval:n_eval + n_val], perm[n_eval + n_val:]
    estimates, epochs, converged = {}, {}, {}
    for name in cfg.estimators:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        critic = Critic(E.shape[1], X.shape[1], cfg)
        loss_fn = jse_loss if name == "jse" else infonce_loss
        epochs[name], converged[name] = _train(critic, loss_fn, E[tr], X[tr], E[va], X[va],
                                               cfg, gen, tick)
        critic.eval()
        with torch.no_grad():
            b = mi_bounds(critic(E[ev], X[ev]))
        if name == "jse":
            estimates["JSE"], estimates["MI_JSE"] = b["JSE"], b["DV"]
        else:
            estimates["MI_INFONCE"] = b["INFONCE"]
    return SeedResult(seed=seed, n_train=len(tr) + len(va), n_eval=n_eval, estimates=estimates,
                      epochs=epochs, converged=converged, seconds=time.perf_counter() - t0)


def estimate_mi(embeddings: np.ndarray, genotypes: np.ndarray, *, seeds=(0, 1, 2, 3, 4),
                config: CriticConfig | None = None, done: dict[int, SeedResult] | None = None,
                on_seed: Callable[[SeedResult], None] | None = None,
                progress: Progress | None = None) -> MIResult:
    """MI (nats) between paired rows of ``embeddings`` (N, D) and ``genotypes`` (N, M).

    Both are standardized per column (missing genotypes, NaN, mean-imputed first).
    Seeds in ``done`` are reused (resume); ``on_seed`` is called after each new seed.
    """
    cfg = config or CriticConfig()
    check_options(cfg)
    E0 = np.asarray(embeddings, dtype=np.float64)
    X0 = np.asarray(genotypes, dtype=np.float64)
    if E0.ndim != 2 or X0.ndim != 2 or E0.shape[0] != X0.shape[0]:
        raise InputError(f"expected paired (N, D) and (N, M) arrays; found {E0.shape} and "
                         f"{X0.shape}")
    n = E0.shape[0]
    n_val = int(round((n - round(n * cfg.eval_fraction)) * cfg.val_fraction))
    if n_val < 2 or n - round(n * cfg.eval_fraction) - n_val < 2:
        raise InputError(f"expected enough pairs to train, validate and evaluate; found N = {n}")
    E = torch.from_numpy(_standardize(E0)).float()
    X = torch.from_numpy(_standardize(X0)).float()
    done = dict(done or {})
    total = len(seeds) * len(cfg.estimators) * cfg.max_epochs
    count = [sum(sum(s.epochs.values()) for s in done.values())]

    def tick():
        count[0] += 1
        if progress is not None:
            progress(min(count[0], total), total, "training")

    results = []
    for seed in seeds:
        if seed in done:
            results.append(done[seed])
            continue
        res = _estimate_seed(E, X, int(seed), cfg, tick)
        # A seed that stopped early frees the rest of its epoch budget on the bar.
        count[0] += len(cfg.estimators) * cfg.max_epochs - sum(res.epochs.values())
        if progress is not None:
            progress(min(count[0], total), total, "training")
        results.append(res)
        if on_seed is not None:
            on_seed(res)
    return MIResult(seeds=results, config=cfg, n_pairs=n, emb_dim=E.shape[1],
                    geno_dim=X.shape[1])
