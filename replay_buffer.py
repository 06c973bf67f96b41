"""The buffer B of Algorithm 1: the real transitions the forward model and D are trained on.

Algorithm 1 pushes every real step (s, a, s') into B; f is fitted to all of B, D to its
newest part (the current policy's pairs). This one is a ring: newest overwriting oldest,
in preallocated tensors, saved with the checkpoint.

Used by: train.py.
"""
from __future__ import annotations

import torch


class ReplayBuffer:
    """The buffer B of Algorithm 1: real transitions (s, a, s', context, fell), newest overwriting oldest.

    fell: the episode ended there by termination (a fall), not by the time limit; read
    only by the end value's TD targets (--end-value).
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, context_len: int, device: torch.device):
        self.s = torch.zeros(capacity, obs_dim, device=device)
        self.a = torch.zeros(capacity, act_dim, device=device)
        self.s_next = torch.zeros(capacity, obs_dim, device=device)
        self.context = torch.zeros(capacity, context_len, obs_dim, device=device)
        self.fell = torch.zeros(capacity, dtype=torch.bool, device=device)
        self.capacity, self.size, self.pos = capacity, 0, 0

    def add(self, s, a, s_next, context, fell) -> None:
        idx = (self.pos + torch.arange(len(s), device=self.s.device)) % self.capacity
        self.s[idx], self.a[idx], self.s_next[idx], self.context[idx], self.fell[idx] = s, a, s_next, context, fell
        self.pos = (self.pos + len(s)) % self.capacity
        self.size = min(self.size + len(s), self.capacity)

    def state_dict(self) -> dict:
        n = self.size  # only the filled part; after wrap-around that is all of it
        # torch.save writes a slice's whole storage, so a part is copied out first; a full
        # buffer is saved as it is (a copy of a large buffer takes as long as writing it).
        part = (lambda t: t) if n == self.capacity else (lambda t: t[:n].clone())
        return {"s": part(self.s), "a": part(self.a), "s_next": part(self.s_next),
                "context": part(self.context), "fell": part(self.fell), "size": self.size, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        n = state["size"]
        self.s[:n], self.a[:n], self.s_next[:n], self.context[:n] = state["s"], state["a"], state["s_next"], state["context"]
        self.fell[:n] = state.get("fell", False)  # (a checkpoint from before --end-value: none marked)
        self.size, self.pos = n, state["pos"]

    def indices(self, batch: int, recent: int | None = None) -> torch.Tensor:
        """Random positions, among the `recent` newest transitions if given (D sees the current policy)."""
        n = min(self.size, recent or self.size)
        return (self.pos - 1 - torch.randint(0, n, (batch,), device=self.s.device)) % self.capacity

    def sample(self, batch: int, recent: int | None = None) -> tuple[torch.Tensor, ...]:
        """A random batch of (s, a, s', context)."""
        idx = self.indices(batch, recent)
        return self.s[idx], self.a[idx], self.s_next[idx], self.context[idx]
