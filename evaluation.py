"""Acting and evaluating: roll a policy out for whole episodes, and score it.

The same loop makes the expert's demonstrations (demonstrations.py) and evaluates
every policy here: MGAIL's and BC's during training (train.py), a saved run
(enjoy.py) and an expert (expert.py). Evaluation is deterministic, as the paper's:
argmax pi for discrete actions, mu_theta(s) for continuous ones.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from policy import Policy, to_env


def policy_actor(policy: Policy, space: gym.Space, device: torch.device | str = "cpu",
                 noise: float = 0.0, generator: torch.Generator | None = None):
    """observations (B, obs_dim) -> env actions (clipped to the bounds).

    noise = 0: the deterministic policy (argmax / mu), the one the paper and train.py evaluate.
    noise = k > 0: a = pi(s, k xi), the policy's own noise scaled by k; k = 1 acts as training
    acts (a = mu + xi sigma, Eq. 9, or a Gumbel-Softmax sample). A diagnostic: how much of a
    return depends on acting with the noise the policy was trained with.
    """
    def act(o):
        s = torch.as_tensor(np.asarray(o), dtype=torch.float32, device=device)
        if noise == 0.0:
            return to_env(policy.mode(s), space)
        xi = policy.sample_xi(s.shape[0], generator).to(device)
        return to_env(policy(s, noise * xi), space)
    return act


@torch.no_grad()
def rollout(act, env: gym.Env, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Run `act` for whole episodes; episode i starts from env.reset(seed=seed + i)."""
    rows = {k: [] for k in ("observations", "actions", "next_observations", "terminated", "truncated")}
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, ret = False, 0.0
        while not done:
            a = np.asarray(act(obs[None]))[0]
            obs2, r, term, trunc, _ = env.step(a)
            for k, v in zip(rows, (obs, a, obs2, term, trunc)):
                rows[k].append(v)
            ret += float(r)
            obs, done = obs2, term or trunc
        returns.append(ret)
    demos = {k: np.asarray(v) for k, v in rows.items()}
    demos["observations"] = demos["observations"].astype(np.float32)
    demos["next_observations"] = demos["next_observations"].astype(np.float32)
    demos["episode_returns"] = np.asarray(returns, dtype=np.float64)
    return demos


def evaluate(act, env: gym.Env | list[gym.Env], episodes: int, seed: int) -> tuple[float, float]:
    """Mean and std of the return over `episodes` episodes, episode i from reset(seed + i).

    Given a list of K copies of the env, K episodes run side by side and `act` sees their
    observations as one batch: one forward pass per step instead of K. The returns are
    those of the episodes run one by one (each episode's seed and actions are its own).
    """
    envs = env if isinstance(env, list) else [env]
    returns = np.zeros(episodes)
    running = {}  # env index -> (episode, its current observation)
    next_episode = 0
    while running or next_episode < episodes:
        for k in range(len(envs)):  # every free env starts the next episode
            if k not in running and next_episode < episodes:
                running[k] = (next_episode, envs[k].reset(seed=seed + next_episode)[0])
                next_episode += 1
        ks = list(running)
        actions = np.asarray(act(np.stack([running[k][1] for k in ks])))
        for k, a in zip(ks, actions):
            episode = running[k][0]
            obs, r, term, trunc, _ = envs[k].step(a)
            returns[episode] += float(r)
            if term or trunc:
                del running[k]
            else:
                running[k] = (episode, obs)
    return float(returns.mean()), float(returns.std())
