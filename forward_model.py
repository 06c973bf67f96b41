"""The learned forward model s' = f(s, a) that carries grad_s D back in time.

Paper: Section 3.3 "Backpropagating through a forward model" (Eq. 12-13 use
its Jacobians f_s and f_a) and Section 4 "Forward model structure", Figure 4.

MGAIL needs the environment to be differentiable: the gradient of a future
D(s_{t+1}, a_{t+1}) with respect to an earlier action a_t goes through
ds_{t+1}/da_t = f_a. The real environment has no such derivative, so a neural
network f is fitted to real transitions (s, a, s') by regression and only its
Jacobians are used; the values of the states always come from the real
environment (mgail.py, "value from reality").

Two models, as compared in Figure 4:

* `BasicForwardModel`: one MLP on the concatenation [s, a].
* `AdvancedForwardModel`: the paper's design. State and action live in
  different spaces, so each gets its own encoder into a shared space, and the
  two codes are combined multiplicatively, so that the action acts as an
  operator on the state:  h = sigma(E_s(s_{t-H+1..t})) * sigma(E_a(a_t)).
  The state encoder runs a GRU over the last H states, treating the system
  as an H-th order MDP. A decoder maps h to the next state.

Both predict the change of state, in units of its spread in the expert data:
    s' = s + sigma_delta * g(s_hat, a)
Deviation from the paper (train.py --f-delta 1; 0 gives the paper's model): the
authors' model outputs the normalised next state itself, s' = mean + std * g.
Predicting the change is the usual choice for physical systems sampled at a
small time step: s' is close to s, so the identity is free and the net only has
to learn the small correction, and f_s starts near I.

Used by: train.py (fitting f on the replay buffer), mgail.py (f_s, f_a).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from policy import Normalizer, mlp


class ForwardModel(nn.Module):
    """What both models share: s' = s + sigma_delta * g(s_hat, a, context), and its regression loss.

    Each model defines g(s, a, context), the normalised change of state (B, obs_dim), or
    with predict_change=False the normalised next state, as the authors' model does.
    """

    history_len = 1  # number of states the model reads: s_t and the H-1 before it

    def __init__(self, normalizer: Normalizer, delta_std: np.ndarray, predict_change: bool = True):
        super().__init__()
        self.normalizer = normalizer
        self.predict_change = predict_change
        # A coordinate that never changes in the demonstrations (std < 1e-6) would make a zero
        # target scale: it keeps the env's own units instead (as in policy.Normalizer).
        self.register_buffer("delta_std", torch.as_tensor(np.where(delta_std < 1e-6, 1.0, delta_std),
                                                          dtype=torch.float32))

    def forward(self, s: torch.Tensor, a: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """s' = f(s, a). s: (B, obs_dim), a: (B, act_dim), context: (B, H-1, obs_dim) -> (B, obs_dim)."""
        if self.predict_change:
            return s + self.delta_std * self.g(s, a, context)
        return self.normalizer.mean + self.normalizer.std * self.g(s, a, context)

    def loss(self, s: torch.Tensor, a: torch.Tensor, context: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor:
        """One-step regression: mean || g(s, a) - (s' - s) / sigma_delta ||^2 (or the
        normalised s' itself, without predict_change).

        With the states clipped (train.py --obs-clip C > 0) the target is clipped to [-C, C]
        too: a jump of hundreds of sigma_delta (a contact-force spike) is not learnable, and
        squared, it would outweigh every other coordinate of the batch.
        """
        if self.predict_change:
            target = (s_next - s) / self.delta_std
        else:
            target = (s_next - self.normalizer.mean) / self.normalizer.std
        clip = self.normalizer.clip
        target = target.clamp(-clip, clip) if clip > 0 else target
        return ((self.g(s, a, context) - target) ** 2).mean()


class BasicForwardModel(ForwardModel):
    """Figure 4's baseline: g = MLP([s_hat, a]). Sees only the current state."""

    def __init__(self, obs_dim: int, act_dim: int, normalizer: Normalizer, delta_std: np.ndarray,
                 hidden: int = 100, predict_change: bool = True):
        super().__init__(normalizer, delta_std, predict_change)
        self.net = mlp(obs_dim + act_dim, [hidden, hidden], obs_dim)

    def g(self, s: torch.Tensor, a: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([self.normalizer(s), a], dim=-1))  # context unused


class AdvancedForwardModel(ForwardModel):
    """Figure 4's winner: separate encoders, multiplicative merge, a GRU over past states.

    State encoder:  s_hat_{t-H+1..t} -> Linear+ReLU -> GRU -> Linear -> sigmoid   (B, hidden)
    Action encoder: a_t              -> Linear+ReLU -> Linear -> sigmoid          (B, hidden)
    Merge:          h = state_code * action_code                                  (B, hidden)
    Decoder:        h -> three ReLU layers -> g                                   (B, obs_dim)
    (layer sizes as in the authors' code, with `hidden` units each.)

    The GRU starts from a zero hidden state on every call and reads the H most
    recent real states; `context` holds the H-1 states before s_t, oldest
    first (at the start of an episode, copies of the first state).
    """

    def __init__(self, obs_dim: int, act_dim: int, normalizer: Normalizer, delta_std: np.ndarray,
                 hidden: int = 100, history_len: int = 4, predict_change: bool = True):
        super().__init__(normalizer, delta_std, predict_change)
        self.history_len = history_len
        self.state_in = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU())
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.state_out = nn.Sequential(nn.Linear(hidden, hidden), nn.Sigmoid())
        self.action_enc = nn.Sequential(nn.Linear(act_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.Sigmoid())
        self.decoder = mlp(hidden, [hidden, hidden, hidden], obs_dim)

    def g(self, s: torch.Tensor, a: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        states = torch.cat([context, s.unsqueeze(1)], dim=1)  # (B, H, obs_dim), s_t last
        _, h_last = self.gru(self.state_in(self.normalizer(states)))  # h_last: (1, B, hidden)
        state_code = self.state_out(h_last.squeeze(0))  # (B, hidden)
        # The action as an operator on the state: an element-wise product of the codes.
        h = state_code * self.action_enc(a)  # (B, hidden)
        return self.decoder(h)


def make_forward_model(kind: str, obs_dim: int, act_dim: int, normalizer: Normalizer,
                       delta_std: np.ndarray, hidden: int = 100, predict_change: bool = True) -> ForwardModel:
    """'basic' or 'advanced' (Figure 4)."""
    if kind == "basic":
        return BasicForwardModel(obs_dim, act_dim, normalizer, delta_std, hidden, predict_change)
    if kind == "advanced":
        return AdvancedForwardModel(obs_dim, act_dim, normalizer, delta_std, hidden, predict_change=predict_change)
    raise ValueError(f"unknown forward model {kind!r}: use 'basic' or 'advanced'")
