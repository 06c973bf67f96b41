"""The policy pi_theta(a|s) of MGAIL, with its stochastic unit made differentiable.

Paper: Baram, Anschel, Caspi, Mannor, "End-to-End Differentiable Adversarial
Imitation Learning", ICML 2017 (https://proceedings.mlr.press/v70/baram17a.html),
Section 3.2 "Backpropagating through stochastic units", Eq. 9-11.

MGAIL trains the policy by backpropagating the discriminator's gradient
through the action into theta. A sampled action normally blocks that gradient,
so the sample is written as a deterministic function of theta and of noise xi
that does not depend on theta:

* Continuous actions (Eq. 9, reparameterisation): a = mu_theta(s) + xi * sigma_theta,
  xi ~ N(0, 1). Then d a / d theta exists for a fixed xi.
* Discrete actions (Eq. 10-11, Gumbel-Softmax): with Gumbel noise g_i,
  argmax_i [g_i + log pi(a_i|s)] is an exact sample of pi (Gumbel-Max, Eq. 10);
  softmax((g + log pi) / tau) is its differentiable relaxation (Eq. 11). The
  environment gets the hard one-hot (the argmax); the backward pass uses the
  gradient of the softmax ("straight-through").

The noise xi is an explicit argument of `Policy.forward`, so an action taken in
the environment can be recomputed exactly, at the same xi, when the policy
gradient is computed later: Eq. 12-13 are evaluated "at xi_t" (mgail.py).

Action representation used by D and f (discriminator.py, forward_model.py):
* discrete: a one-hot vector of length n;
* continuous: a vector whose box [-1, 1]^d is the env's bounds, mapped affinely (and clipped) only
  when it is sent to the environment (`to_env`).

This file also holds the two small building blocks every component shares:
`mlp()` and `Normalizer`.

Used by: train.py (acting, BC), mgail.py (the policy step), evaluation.py, watch.py (loading a
run); every network of the project is built by `mlp`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(in_dim: int, hidden: list[int], out_dim: int, activation=nn.ReLU) -> nn.Sequential:
    """Fully connected net: in_dim -> hidden[0] -> ... -> out_dim, `activation` between layers.

    The paper's policy and discriminator are "two hidden layers with ReLU
    non-linearities" (Section 5); every network in this project is built here.
    """
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), activation()]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class Normalizer(nn.Module):
    """x_hat = (x - mean) / std with statistics fixed from the expert data.

    The authors' code normalises states with the expert data's mean and std;
    every network here sees normalised states. The statistics are buffers, so
    they are saved with the networks, and gradients pass straight through
    (except through a coordinate clipped by `clip`, below).
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray, min_std: float = 1e-3, clip: float = 0.0):
        super().__init__()
        self.min_std = min_std
        self.register_buffer("mean", torch.zeros(len(mean)))
        self.register_buffer("std", torch.ones(len(std)))
        self.set_stats(torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32))
        # Deviation from the paper (train.py --obs-clip): x_hat is clipped to [-clip, clip]
        # (0: no clipping), as SB3's VecNormalize does. States far outside the expert's (the
        # contact forces of a fall) would otherwise dominate every network's input and f's loss.
        # (A plain attribute, not a buffer: the run's arguments carry it.)
        self.clip = clip

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The statistics, in place (also anew each iteration with train.py --obs-norm joint):
        every network sharing this normaliser sees them at once.

        A state coordinate (nearly) constant in the data, std < min_std, is left in the env's
        own units (std 1) rather than divided by ~0: a contact force on a part the expert never
        puts down is 0 in every demonstration, not in the policy's states."""
        self.mean.copy_(mean)
        self.std.copy_(torch.where(std < self.min_std, torch.ones_like(std), std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_hat = (x - self.mean) / self.std
        return x_hat.clamp(-self.clip, self.clip) if self.clip > 0 else x_hat


# ---------------------------------------------------------------------------
# Gumbel-Max and Gumbel-Softmax (Eq. 10-11)
# ---------------------------------------------------------------------------

def sample_gumbel(shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """g ~ Gumbel(0, 1), by inverse transform: g = -log(-log u), u ~ U(0, 1)."""
    u = torch.rand(shape, generator=generator)
    # clamp: u = 0 exactly would give -log(-log 0) = -inf.
    return -torch.log(-torch.log(u.clamp_min(1e-20)))


def gumbel_softmax_straight_through(logits: torch.Tensor, g: torch.Tensor, tau: float) -> torch.Tensor:
    """A hard one-hot sample of softmax(logits), with the gradient of its relaxation.

    Eq. 10 (Gumbel-Max):      a_argmax  = one_hot(argmax_i [g_i + log pi_i])
    Eq. 11 (Gumbel-Softmax):  a_softmax = softmax((g + log pi) / tau)
    Straight-through:         value of a_argmax, gradient of a_softmax, i.e.
                              d a / d theta  ~=  d a_softmax / d theta.

    `logits` are log pi up to a constant (softmax ignores the constant).
    The temperature tau trades bias (large tau) for variance (small tau).
    """
    a_softmax = F.softmax((logits + g) / tau, dim=-1)  # (B, n)
    a_argmax = F.one_hot(a_softmax.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)  # (B, n)
    # Value a_argmax, gradient of a_softmax. The bracket is exactly 0 in value,
    # so the value is an exact one-hot (a_argmax + a_softmax - a_softmax.detach()
    # would round to 0.9999999 in places).
    return a_argmax + (a_softmax - a_softmax.detach())


# ---------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------

class Policy(nn.Module):
    """pi_theta: normalised state -> two hidden ReLU layers -> action distribution.

    discrete:   the net outputs logits, log pi(a|s) = log_softmax(logits).
    continuous: the net outputs mu_theta(s); log sigma_theta is one learned
                vector shared by all states (state_sigma: the net outputs
                log sigma_theta(s) too, Eq. 9 as the paper writes it).

    `forward(s, xi)` is the differentiable sample a = pi(s, xi; theta).
    """

    def __init__(self, obs_dim: int, act_dim: int, discrete: bool, normalizer: Normalizer,
                 hidden: int = 64, tau: float = 1.0, init_log_sigma: float = -0.5,
                 logit_bound: float = 5.0, state_sigma: bool = False):
        super().__init__()
        self.discrete = discrete
        self.act_dim = act_dim  # number of actions (discrete) or action dimensions
        self.tau = tau
        self.logit_bound = logit_bound  # 0: unbounded logits (see head)
        self.normalizer = normalizer
        # exp(-0.5) ~ 0.6, in units where the bounds are -1 and 1: wide enough to explore at start.
        self.init_log_sigma = init_log_sigma
        self.state_sigma = state_sigma and not discrete
        self.net = mlp(obs_dim, [hidden, hidden], 2 * act_dim if self.state_sigma else act_dim)
        if not discrete and not self.state_sigma:
            # Deviation from the paper (train.py --state-sigma 0): the paper writes
            # sigma_theta(s). One learned, state-independent log sigma is the usual
            # compromise: sigma adapts, and at a state the policy has never seen it
            # cannot collapse to 0 (the authors' code fixed sigma altogether).
            self.log_sigma = nn.Parameter(torch.full((act_dim,), init_log_sigma))

    def sample_xi(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The noise xi of one action per row: Gumbel(0,1) for discrete, N(0,1) for continuous."""
        if self.discrete:
            return sample_gumbel((batch, self.act_dim), generator)
        return torch.randn((batch, self.act_dim), generator=generator)

    def head(self, s: torch.Tensor) -> torch.Tensor:
        """The net's output: the logits (discrete) or mu_theta(s) (continuous).  (B, act_dim)

        Deviation from the paper (train.py --logit-bound L), discrete actions: the
        logits are bounded, l = L tanh(out / L), so pi(a|s) >= e^{-2L}/n. Unbounded,
        the policy step can drive a logit gap to hundreds; the Gumbel-Softmax then
        saturates at any tau, its straight-through gradient is 0 and the policy is
        frozen for good (benchmarks/NOTES.md, Acrobot-v1).
        """
        out = self.net(self.normalizer(s))
        if self.discrete:
            L = self.logit_bound
            return L * torch.tanh(out / L) if L > 0 else out
        return out[:, :self.act_dim] if self.state_sigma else out

    def log_sigma_at(self, s: torch.Tensor) -> torch.Tensor:
        """log sigma_theta of the Gaussian policy: (B, act_dim) with state_sigma, else (act_dim,)."""
        if self.state_sigma:
            return self.init_log_sigma + self.net(self.normalizer(s))[:, self.act_dim:]
        return self.log_sigma

    def forward(self, s: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        """a = pi(s, xi; theta), differentiable in s and theta.  s: (B, obs_dim), xi: (B, act_dim)."""
        out = self.head(s)  # (B, act_dim)
        if self.discrete:
            return gumbel_softmax_straight_through(out, xi, self.tau)  # (B, n) one-hot
        return reparameterise(out, self.log_sigma_at(s), xi)  # (B, d), unbounded: see to_env

    def mode(self, s: torch.Tensor) -> torch.Tensor:
        """The deterministic action used for evaluation: argmax pi (one-hot), or mu."""
        out = self.head(s)
        if self.discrete:
            return F.one_hot(out.argmax(dim=-1), self.act_dim).to(out.dtype)
        return out

    def entropy(self, s: torch.Tensor) -> torch.Tensor:
        """Mean entropy of pi(.|s), a diagnostic for the log."""
        if self.discrete:
            return torch.distributions.Categorical(logits=self.head(s)).entropy().mean()
        return (0.5 * np.log(2 * np.pi * np.e) + self.log_sigma_at(s)).sum(-1).mean()


def reparameterise(mu: torch.Tensor, log_sigma: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """Eq. 9: u = mu_theta(s) + xi * sigma_theta, xi ~ N(0, 1)."""
    return mu + xi * log_sigma.exp()


def to_env(a: torch.Tensor, space) -> np.ndarray:
    """Internal action -> what env.step takes: an index (Discrete), or a vector in [low, high] (Box).

    Continuous actions are the paper's unbounded Gaussian (Eq. 9); like the
    authors' code, the environment gets them clipped to its bounds, while D and
    f see the unclipped action. D never sees an expert action outside [-1, 1],
    so its gradient can pull the policy back inside the bounds. (Not a tanh-squashed
    Gaussian: where the expert acts at the bounds, the policy pushes every tanh into
    saturation, where no gradient passes; benchmarks/NOTES.md, HalfCheetah-v5.)
    """
    if hasattr(space, "n"):
        return a.argmax(dim=-1).cpu().numpy()
    a = a.detach().cpu().numpy().clip(-1.0, 1.0)
    return space.low + (a + 1.0) * 0.5 * (space.high - space.low)


def from_env(a: np.ndarray, space) -> np.ndarray:
    """Env action -> internal action: one-hot (Discrete), or rescaled to [-1, 1] (Box)."""
    if hasattr(space, "n"):
        return np.eye(space.n, dtype=np.float32)[np.asarray(a, dtype=np.int64)]
    a = np.asarray(a, dtype=np.float32)
    return np.clip(2.0 * (a - space.low) / (space.high - space.low) - 1.0, -1.0, 1.0).astype(np.float32)
