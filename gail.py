"""GAIL, the model-free baseline MGAIL argues against: the same D, a score-function policy gradient.

Papers: Ho & Ermon, "Generative Adversarial Imitation Learning", NIPS 2016; the MGAIL paper's
Section 2.3, Eq. 3-4. The policy step here is PPO (Schulman et al. 2017) with GAE (Schulman
et al. 2016), as GAIL is run today; the original used TRPO.

GAIL trains the same discriminator D(s, a) = p(pi | s, a) as MGAIL (discriminator.py) and
then treats it as a black box: the policy gets a per-step reward from D and follows the
score-function (REINFORCE) estimate of the gradient (Eq. 3-4),

    grad_theta E_pi[log D(s, a)]  ~=  E_tau[ grad_theta log pi_theta(a|s) Q(s, a) ],
    Q(s', a') = E_tau[ log D(s, a) | s_0 = s', a_0 = a' ],

with no derivative of D, of the action or of the dynamics: where MGAIL backpropagates
grad_a D through the reparameterised action and grad_s D through the forward model
(mgail.py), GAIL only weighs the log-likelihood of the actions it happened to take. PPO's
clipped surrogate has exactly that gradient at the old policy (the ratio is 1 there), with
Q replaced by the advantage A = Q - V: a learned baseline V(s), unbiased, less variance.

The reward is r = -log D(s, a) = -log p(pi | s, a) >= 0, GAIL's own cost log D with its sign
turned (Eq. 3), as the `imitation` library uses it. (MGAIL's per-step cost -log(1 - D) is
>= 0 too; its negative as a reward would make every step cost something, and where a fall
ends an episode, ending it early would pay: the survival bias of Kostrikov et al. 2019.
`--gail-reward cost` runs that variant.)

Hyper-parameters: CleanRL's defaults, ppo.py for discrete actions and
ppo_continuous_action.py for continuous ones (rollouts, epochs, minibatches, clipping,
entropy and value coefficients, learning rate, annealed linearly, gradient norm 0.5).

Used by: train.py (--algo gail), benchmarks/gradient_variance.py (the estimator, Eq. 3).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from policy import Policy, mlp

# CleanRL's PPO defaults: ppo.py (CartPole) and ppo_continuous_action.py (MuJoCo).
PPO_DISCRETE = dict(num_envs=4, unroll=128, policy_lr=2.5e-4, gae_lambda=0.95, minibatches=4, epochs=4,
                    clip=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5)
PPO_CONTINUOUS = dict(num_envs=1, unroll=2048, policy_lr=3e-4, gae_lambda=0.95, minibatches=32, epochs=10,
                      clip=0.2, ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5)


def ppo_settings(discrete: bool) -> dict:
    return PPO_DISCRETE if discrete else PPO_CONTINUOUS


class ValueNet(nn.Module):
    """V(s): the baseline of the score-function estimator, on the policy's normalised states."""

    def __init__(self, obs_dim: int, normalizer: nn.Module, hidden: int):
        super().__init__()
        self.normalizer = normalizer
        self.net = mlp(obs_dim, [hidden, hidden], 1)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalizer(s)).squeeze(-1)  # (B,)


def log_prob(policy: Policy, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """log pi_theta(a|s) of actions as the policy samples them (B,): a one-hot a under
    softmax(logits), or an unclipped Gaussian a under N(mu_theta(s), sigma_theta^2)."""
    out = policy.head(s)
    if policy.discrete:
        return (F.log_softmax(out, dim=-1) * a).sum(-1)
    return torch.distributions.Normal(out, policy.log_sigma_at(s).exp()).log_prob(a).sum(-1)


def score_function_surrogate(policy: Policy, s: torch.Tensor, a: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Eq. 3: a scalar whose gradient is the score-function estimate mean_i grad log pi(a_i|s_i) w_i.

    weight is Q (REINFORCE), or Q - b(s) with a baseline b; it carries no gradient."""
    return (log_prob(policy, s, a) * weight.detach()).mean()


def gail_reward(D: nn.Module, s: torch.Tensor, a: torch.Tensor, kind: str = "survival") -> torch.Tensor:
    """Per-step reward from D: -log D (survival, >= 0), -c = log(1 - D) (cost, <= 0), or the
    logit log(1 - D) - log D = -l (logit, either sign: the sum of the two)."""
    l = D.logit(s, a)  # log D / (1 - D)
    return {"survival": F.softplus(-l), "cost": -F.softplus(l), "logit": -l}[kind]


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, fell: torch.Tensor,
        done: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over (T, B) tensors; returns (advantages, returns).

    delta_t = r_t + gamma V(s_{t+1}) [not a fall] - V(s_t)  (a time-limit ending bootstraps)
    A_t     = delta_t + gamma lambda A_{t+1} [the episode goes on]
    """
    delta = rewards + gamma * next_values * (~fell).float() - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = delta[t] + gamma * lam * (~done[t]).float() * running
        advantages[t] = running
    return advantages, advantages + values


def ppo_update(policy: Policy, value: ValueNet, opt: torch.optim.Optimizer, s: torch.Tensor, a: torch.Tensor,
               logp_old: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor, values_old: torch.Tensor,
               cfg: dict) -> dict[str, float]:
    """PPO's clipped surrogate on flat (N, ...) samples, cfg["epochs"] passes of cfg["minibatches"] each."""
    n = len(s)
    params = list(policy.parameters()) + list(value.parameters())
    clipped = []
    for _ in range(cfg["epochs"]):
        for idx in torch.randperm(n).chunk(cfg["minibatches"]):
            adv = advantages[idx]
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)  # per minibatch, as CleanRL
            ratio = (log_prob(policy, s[idx], a[idx]) - logp_old[idx]).exp()
            # At the old policy ratio = 1 and the gradient of -adv * ratio is the score-function
            # estimator of Eq. 3, with the advantage in place of Q; the clip keeps a step near there.
            pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg["clip"], 1 + cfg["clip"])).mean()
            v = value(s[idx])
            v_clipped = values_old[idx] + (v - values_old[idx]).clamp(-cfg["clip"], cfg["clip"])
            v_loss = 0.5 * torch.max((v - returns[idx]) ** 2, (v_clipped - returns[idx]) ** 2).mean()
            entropy = policy.entropy(s[idx])
            loss = pg_loss - cfg["ent_coef"] * entropy + cfg["vf_coef"] * v_loss
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, cfg["max_grad_norm"])
            opt.step()
            clipped.append(((ratio - 1).abs() > cfg["clip"]).float().mean().item())
    return {"J": pg_loss.item(), "v_loss": v_loss.item(), "clip_frac": sum(clipped) / len(clipped)}
