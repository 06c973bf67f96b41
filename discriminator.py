"""The discriminator D(s, a) of MGAIL and the gradients it hands to the policy.

Paper: Section 3.1 "The discriminator network", Eq. 6-8.

Convention (the paper's, used everywhere in this project):

    D(s, a) = p(pi | s, a)   -- the probability that (s, a) came from the POLICY.

Labels: policy pairs -> 1, expert pairs -> 0. The policy wants D LOW.

With equal class priors p(pi) = p(pi_E) = 1/2 and Bayes' rule (Eq. 6):

    D(s, a) = 1 / (1 + phi(s, a) * psi(s)),
    phi(s, a) = p(a | s, pi_E) / p(a | s, pi)    policy likelihood ratio
    psi(s)    = p(s | pi_E)    / p(s | pi)       state-distribution ratio

so the network's logit l = log D/(1-D) is exactly -log(phi * psi):
D = sigmoid(l) and phi * psi = (1 - D) / D = exp(-l). Its gradients (Eq. 7-8)

    D_a = -phi_a psi / (1 + phi psi)^2
    D_s = -(phi_s psi + phi psi_s) / (1 + phi psi)^2

tell the policy how to change its action (through phi) and, via the forward
model, which states to visit (through psi_s). Those two are what mgail.py
propagates back in time.

Training: binary cross-entropy on equal batches of policy and expert pairs
(the GAN and GAIL objectives of Eq. 1-2, with the paper's labels).

FactoredDiscriminator (below) learns phi and psi with a network each instead of
l with one; everything downstream sees the same l(s, a).

Used by: train.py (training D, logging its accuracy), mgail.py (the policy's
per-step cost).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from policy import Normalizer, mlp


class Discriminator(nn.Module):
    """(s, a) -> two hidden ReLU layers -> the logit l = log D/(1-D) = -log(phi psi)."""

    def __init__(self, obs_dim: int, act_dim: int, normalizer: Normalizer, hidden: int = 64):
        super().__init__()
        self.normalizer = normalizer
        self.net = mlp(obs_dim + act_dim, [hidden, hidden], 1)

    def net_input(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """x = [normalised s, a], what the net sees; (B, obs_dim + act_dim)."""
        return torch.cat([self.normalizer(s), a], dim=-1)

    def logit(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """l(s, a) = log D / (1 - D); s: (B, obs_dim), a: (B, act_dim) -> (B,)."""
        return self.net(self.net_input(s, a)).squeeze(-1)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Eq. 6: D(s, a) = p(pi | s, a) = 1 / (1 + phi psi) = sigmoid(l)."""
        return torch.sigmoid(self.logit(s, a))

    def phi_psi(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """phi(s, a) * psi(s) = (1 - D) / D = exp(-l): how much more expert-like (s, a) is."""
        return torch.exp(-self.logit(s, a))

    def policy_cost(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The per-step cost c(s, a) that the policy minimises in mgail.py.

        The paper's objective (Eq. 12-13) sums D(s, a) itself (`forward`, train.py
        --cost D). Deviation from the paper (--cost log): like the authors' code, we
        use c = -log(1 - D) = -log D_expert = softplus(l), the "non-saturating" GAN loss. Both are
        increasing in D, so both push D down; but when D is close to 1 (the
        policy is easy to spot, e.g. early in training) dD/dl = D(1-D) ~ 0,
        while d(-log(1-D))/dl = D ~ 1 keeps the gradient alive.
        """
        return F.softplus(self.logit(s, a))

    def loss(self, s_pi: torch.Tensor, a_pi: torch.Tensor, s_exp: torch.Tensor,
             a_exp: torch.Tensor, grad_penalty: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy with labels policy = 1, expert = 0, on equal batches.

        Returns the loss and D's accuracy on each class, the diagnostic that
        tells whether the game is balanced (both near 0.5 once pi imitates well).

        grad_penalty > 0 adds lambda E[(||grad_x l(x)|| - 1)^2] at points x mixed
        at random between policy and expert pairs (Gulrajani et al. 2017; used on
        a GAIL discriminator by Kostrikov et al. 2019). Deviation from the paper,
        which has no such term: MGAIL follows grad_a D and grad_s D themselves, so
        they must point from the policy's pairs toward the expert's. An
        unconstrained D that separates the two classes perfectly is flat on both
        (zero gradient) and steep on a thin boundary; the penalty keeps its slope
        moderate everywhere between them.
        """
        loss, l_pi, l_exp = classifier_loss(self.net, self.net_input(s_pi, a_pi), self.net_input(s_exp, a_exp),
                                            grad_penalty)
        stats = {"d_acc_policy": (l_pi > 0).float().mean().item(),   # D > 1/2 on policy pairs
                 "d_acc_expert": (l_exp < 0).float().mean().item()}  # D < 1/2 on expert pairs
        return loss, stats


def classifier_loss(net: nn.Module, x_pi: torch.Tensor, x_exp: torch.Tensor,
                    grad_penalty: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-entropy of the logit net(x), labels policy = 1, expert = 0, on equal batches,
    plus the gradient penalty of Discriminator.loss. Returns (loss, l_pi, l_exp)."""
    l_pi, l_exp = net(x_pi).squeeze(-1), net(x_exp).squeeze(-1)
    loss = 0.5 * (F.binary_cross_entropy_with_logits(l_pi, torch.ones_like(l_pi))
                  + F.binary_cross_entropy_with_logits(l_exp, torch.zeros_like(l_exp)))
    if grad_penalty > 0:
        eps = torch.rand(len(x_pi), 1, device=x_pi.device)
        x = (eps * x_pi + (1 - eps) * x_exp).detach().requires_grad_(True)
        (grad_x,) = torch.autograd.grad(net(x).sum(), x, create_graph=True)
        loss = loss + grad_penalty * ((grad_x.norm(dim=-1) - 1) ** 2).mean()
    return loss, l_pi, l_exp


class FactoredDiscriminator(Discriminator):
    """Eq. 6 taken literally: l(s, a) = -log phi(s, a) - log psi(s), one net for each factor.

    Deviation from the paper and the authors' code (train.py --disc factored): both fit
    ONE network to l(s, a). Where the policy's states
    already differ from the expert's, that network can tell the classes apart by the
    state alone and need not learn how l depends on a, yet the policy follows exactly
    that dependence, grad_a D. Here the two ratios of Eq. 6 are learned apart:

        g(s)    = -log psi(s)     psi-net: the policy's states (label 1) against the
                                  expert's (label 0), actions unseen;
        h(s, a) = -log phi(s, a)  phi-net: at the EXPERT's states only, the policy's
                                  actions a ~ pi(.|s) (label 1) against the expert's
                                  (label 0), so no state difference can answer it;
        l(s, a) = g(s) + h(s, a)  D = sigmoid(l) = 1 / (1 + phi psi), as before.

    Each is a logistic regression whose optimum is the log-ratio it stands for (a
    classifier's optimal logit is the log-ratio of its two classes' densities), so at
    the optimum l is Eq. 6's logit exactly (test_mgail.py trains both against analytic
    phi and psi). phi is learned where it is defined for both policies, at the expert's
    states; elsewhere h is the net's extrapolation. (The evidence, task by task:
    benchmarks/NOTES.md, MountainCar-v0 and Ant-v5.)
    """

    def __init__(self, obs_dim: int, act_dim: int, normalizer: Normalizer, hidden: int = 64):
        super().__init__(obs_dim, act_dim, normalizer, hidden)  # self.net is the phi-net, h(s, a)
        self.psi_net = mlp(obs_dim, [hidden, hidden], 1)  # g(s)

    def logit(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """l(s, a) = g(s) + h(s, a) = -log psi(s) - log phi(s, a); (B,)."""
        return (self.psi_net(self.normalizer(s)) + self.net(self.net_input(s, a))).squeeze(-1)

    def loss(self, s_pi: torch.Tensor, a_pi: torch.Tensor, s_exp: torch.Tensor, a_exp: torch.Tensor,
             grad_penalty: float = 0.0, a_pi_at_exp: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The two cross-entropies, labels policy = 1, expert = 0, as in Discriminator.loss.

        a_pi_at_exp: actions the policy takes at the expert's states s_exp (sampled, no
        gradient), the phi-net's policy class. grad_penalty: as in Discriminator.loss, on
        each net between its own two classes.
        """
        if a_pi_at_exp is None:
            raise ValueError("FactoredDiscriminator.loss needs a_pi_at_exp: the policy's actions at s_exp")
        loss_psi, g_pi, g_exp = classifier_loss(self.psi_net, self.normalizer(s_pi), self.normalizer(s_exp),
                                                grad_penalty)
        loss_phi, h_pi_at_exp, h_exp = classifier_loss(self.net, self.net_input(s_exp, a_pi_at_exp),
                                                       self.net_input(s_exp, a_exp), grad_penalty)
        with torch.no_grad():  # D's own accuracy, on the pairs Discriminator.loss rates
            l_pi = g_pi + self.net(self.net_input(s_pi, a_pi)).squeeze(-1)
            l_exp = g_exp + h_exp
        stats = {"d_acc_policy": (l_pi > 0).float().mean().item(),
                 "d_acc_expert": (l_exp < 0).float().mean().item(),
                 # the phi-net alone, at the expert's states: 0.5 once pi acts as the expert there
                 "phi_acc": 0.5 * ((h_pi_at_exp > 0).float().mean().item() + (h_exp < 0).float().mean().item())}
        return loss_psi + loss_phi, stats


def make_discriminator(kind: str, obs_dim: int, act_dim: int, normalizer: Normalizer, hidden: int) -> Discriminator:
    """kind "joint": one network of (s, a), as in the paper; "factored": FactoredDiscriminator."""
    cls = {"joint": Discriminator, "factored": FactoredDiscriminator}[kind]
    return cls(obs_dim, act_dim, normalizer, hidden=hidden)


def D_and_gradients(logit_fn, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """D, grad_s D and grad_a D by autograd, for any logit function l(s, a) = -log(phi psi).

    These are the quantities Eq. 7-8 write in closed form; test_mgail.py
    checks the two against each other with analytic phi and psi.
    Returns D: (B,), D_s: (B, obs_dim), D_a: (B, act_dim).
    """
    s = s.detach().requires_grad_(True)
    a = a.detach().requires_grad_(True)
    D = torch.sigmoid(logit_fn(s, a))
    # Rows are independent, so the gradient of the sum gives every row's gradient.
    D_s, D_a = torch.autograd.grad(D.sum(), (s, a))
    return D.detach(), D_s, D_a
