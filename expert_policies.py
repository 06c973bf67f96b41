"""The experts MGAIL imitates, and how each is made.

The paper trained its experts with TRPO and did not publish them; the authors'
expert file was never released. Here every expert is made by the code in this
file, so nothing has to be downloaded (demonstrations.py rolls them out):

* Discrete tasks: a hand-written controller, a few lines each (CartPole: linear
  state feedback; MountainCar and Acrobot: an energy-pumping rule improved by a
  one-step lookahead on the env's own dynamics).
* MuJoCo tasks: a policy trained by the soft actor-critic (SAC, Haarnoja et al.
  2018) written here. Deviation from the paper: SAC instead of TRPO, as it reaches
  expert returns in far fewer environment steps. Only the actor's weights ship,
  as experts/<env-id>.pt. How each was made and what it scores: docs/experts.md.

Used by: demonstrations.py (load_expert), expert.py (the command line).
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cli import atomic_save
from environments import acrobot_state
from evaluation import evaluate
from policy import mlp

EXPERT_DIR = Path(__file__).resolve().parent / "experts"  # shipped: the actor weights of each trained expert


# ---------------------------------------------------------------------------
# Hand-written experts for the discrete tasks
# ---------------------------------------------------------------------------

def cartpole_controller(obs: np.ndarray) -> np.ndarray:
    """Push the cart under the pole: right iff theta + 0.5 theta_dot + 0.05 x + 0.1 x_dot > 0.

    A linear state feedback. The pole terms keep it upright; the small cart
    terms stop the cart from drifting off the track. It returns 500, the maximum
    (docs/experts.md).
    """
    x, x_dot, theta, theta_dot = obs.T
    return (theta + 0.5 * theta_dot + 0.05 * x + 0.1 * x_dot > 0).astype(np.int64)


def lookahead(env_id: str, base, to_state, horizon: int):
    """One-step lookahead over a simple base rule (a "rollout" policy-improvement step).

    For each first action, simulate it and then the base rule for `horizon`
    steps on a private copy of the env's own dynamics, started from the
    current state; take the first action with the highest simulated return.
    Never worse than the base rule, and often much better. The controller
    stays a function of the observation alone: `to_state` recovers the
    physical state from it.
    """
    sim = gym.make(env_id).unwrapped

    def act_one(obs: np.ndarray) -> int:
        best_return, best_action = -np.inf, 0
        for first in range(sim.action_space.n):
            sim.state, ret, a = to_state(obs), 0.0, first
            for _ in range(horizon):
                o, r, term, _, _ = sim.step(a)
                ret += r
                if term:
                    break
                a = base(o)
            if ret > best_return:
                best_return, best_action = ret, first
        return best_action

    return lambda obs: np.array([act_one(o) for o in obs], dtype=np.int64)


def mountaincar_base(obs: np.ndarray) -> int:
    """Pump energy: push right iff velocity > 0.01 (position + 0.5), i.e. along the motion,
    with a small position-dependent threshold that makes the first swing go left."""
    position, velocity = obs
    return 2 if velocity > 0.01 * (position + 0.5) else 0


def acrobot_base(obs: np.ndarray) -> int:
    """Pump energy into the lower link: torque +1 iff the second joint turns positively."""
    return 2 if obs[5] > 0 else 0


# Controllers of the discrete tasks; each maps observations (B, obs_dim) -> actions (B,).
HAND_WRITTEN = {
    "CartPole-v1": cartpole_controller,
    # Horizons: long enough to see the goal from most states (MountainCar's
    # expert episodes last ~100 steps, Acrobot's ~65).
    "MountainCar-v0": lookahead("MountainCar-v0", mountaincar_base, lambda o: np.array(o, np.float64), 200),
    "Acrobot-v1": lookahead("Acrobot-v1", acrobot_base, acrobot_state, 100),
}


# ---------------------------------------------------------------------------
# SAC experts for the MuJoCo tasks
# ---------------------------------------------------------------------------

class SACActor(nn.Module):
    """s -> two hidden layers of 256 ReLU -> (mu, log sigma); a = tanh(mu + sigma xi), rescaled."""

    def __init__(self, obs_dim: int, act_dim: int, low: np.ndarray, high: np.ndarray, hidden: int = 256):
        super().__init__()
        self.net = mlp(obs_dim, [hidden, hidden], 2 * act_dim)
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, s: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the env action (B, act_dim) and log pi(a|s) (B,)."""
        mu, log_sigma = self.net(s).chunk(2, dim=-1)
        # The usual SAC range: sigma in [e^-20, e^2] keeps log pi finite.
        log_sigma = log_sigma.clamp(-20, 2)
        u = mu if deterministic else mu + log_sigma.exp() * torch.randn_like(mu)
        y = torch.tanh(u)
        # log pi(a) of the tanh-squashed Gaussian: log N(u) - sum log(1 - tanh(u)^2),
        # the second term in the stable form 2 (log 2 - u - softplus(-2u)).
        log_pi = (-0.5 * ((u - mu) / log_sigma.exp()) ** 2 - log_sigma - 0.5 * np.log(2 * np.pi)).sum(-1)
        log_pi = log_pi - (2 * (np.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return self.low + (y + 1) * 0.5 * (self.high - self.low), log_pi


def train_sac(env_id: str, total_steps: int, seed: int, workdir: Path, eval_every: int = 10_000,
              start_steps: int = 10_000, expert_dir: Path = EXPERT_DIR) -> None:
    """Soft actor-critic with twin critics and a learned temperature alpha.

    Hyper-parameters are those of Haarnoja et al. (2018), Table 1: Adam 3e-4,
    batch 256, gamma 0.99, polyak 0.005, target entropy -act_dim, 1 update per
    env step; plus `start_steps` uniformly random steps at the start. The checkpoint
    (networks, optimisers, replay buffer, RNG) is written every `eval_every`
    steps and the run resumes from it. The best actor seen at evaluation (10 deterministic episodes) is
    written to experts/<env-id>.pt.
    """
    torch.set_num_threads(1)  # one thread per run: two runs share the 2 cores without thrashing
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = workdir / "checkpoint.pt"
    env, eval_env = gym.make(env_id), gym.make(env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = env.action_space.low, env.action_space.high
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)  # before the networks: the seed sets their initial weights too
    actor = SACActor(obs_dim, act_dim, low, high)
    critics = nn.ModuleList([mlp(obs_dim + act_dim, [256, 256], 1) for _ in range(2)])
    critics_target = copy.deepcopy(critics).requires_grad_(False)
    log_alpha = torch.zeros(1, requires_grad=True)
    opt_actor = torch.optim.Adam(actor.parameters(), lr=3e-4)
    opt_critic = torch.optim.Adam(critics.parameters(), lr=3e-4)
    opt_alpha = torch.optim.Adam([log_alpha], lr=3e-4)
    # What the checkpoint saves and restores by name (log_alpha, a bare tensor, aside).
    state = {"actor": actor, "critics": critics, "critics_target": critics_target,
             "opt_actor": opt_actor, "opt_critic": opt_critic, "opt_alpha": opt_alpha}
    size = total_steps
    buf = {"s": np.zeros((size, obs_dim), np.float32), "a": np.zeros((size, act_dim), np.float32),
           "r": np.zeros(size, np.float32), "s2": np.zeros((size, obs_dim), np.float32),
           "term": np.zeros(size, np.float32)}
    step, best_return, history, wall_before = 0, -np.inf, [], 0.0
    obs, _ = env.reset(seed=seed)
    if ckpt_path.exists():
        step, best_return, history, rng, wall_before = restore_sac(ckpt_path, state, log_alpha, buf)
        obs, _ = env.reset(seed=seed + step)  # the interrupted episode is not resumed
        print(f"resumed {env_id} at step {step}", flush=True)
    t0 = time.time()
    ep_return, ep_returns = 0.0, []
    while step < total_steps:
        if step < start_steps:
            a = rng.uniform(low, high).astype(np.float32)
        else:
            with torch.no_grad():
                a = actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0][0].numpy()
        obs2, r, term, trunc, _ = env.step(a)
        buf["s"][step], buf["a"][step], buf["r"][step], buf["s2"][step], buf["term"][step] = obs, a, r, obs2, term
        ep_return += r
        obs = obs2
        step += 1
        if term or trunc:
            ep_returns.append(ep_return)
            ep_return = 0.0
            obs, _ = env.reset()
        if step >= start_steps:
            idx = rng.integers(0, step, 256)
            batch = [torch.as_tensor(buf[k][idx]) for k in ("s", "a", "r", "s2", "term")]
            sac_update(batch, actor, critics, critics_target, log_alpha, (opt_critic, opt_actor, opt_alpha), act_dim)
        if step % eval_every == 0 or step == total_steps:
            mean, std = evaluate(lambda o: actor(torch.as_tensor(o, dtype=torch.float32), True)[0].detach().numpy(),
                                 eval_env, 10, seed=10_000 + step)
            history.append((step, mean))
            if mean > best_return:
                best_return = mean
                save_actor(actor, env_id, mean, expert_dir)
            print(f"{env_id} step {step} eval {mean:.0f} +- {std:.0f} best {best_return:.0f} "
                  f"train_ret {np.mean(ep_returns[-10:]) if ep_returns else 0:.0f} alpha {log_alpha.exp().item():.3f} "
                  f"{(wall_before + time.time() - t0) / 60:.1f} min", flush=True)
            atomic_save({**{k: m.state_dict() for k, m in state.items()}, "log_alpha": log_alpha.detach(),
                         "step": step, "best_return": best_return, "history": history, "rng": rng,
                         "torch_rng": torch.get_rng_state(), "wall": wall_before + time.time() - t0,
                         "buf": {k: v[:step] for k, v in buf.items()}}, ckpt_path)


def restore_sac(ckpt_path: Path, state: dict, log_alpha: torch.Tensor, buf: dict) -> tuple:
    """Load train_sac's checkpoint into its networks, optimisers, log alpha and buffer, and
    torch's RNG; returns the loop's step, best return, history, numpy RNG and wall time."""
    ck = torch.load(ckpt_path, weights_only=False)
    for k, m in state.items():
        m.load_state_dict(ck[k])
    log_alpha.data.copy_(ck["log_alpha"])
    for k in buf:
        buf[k][:ck["step"]] = ck["buf"][k]
    torch.set_rng_state(ck["torch_rng"])
    return ck["step"], ck["best_return"], ck["history"], ck["rng"], ck.get("wall", 0.0)


def sac_update(batch: list[torch.Tensor], actor: SACActor, critics: nn.ModuleList, critics_target: nn.ModuleList,
               log_alpha: torch.Tensor, opts: tuple, act_dim: int) -> None:
    """One step of each of SAC's three losses on a batch (s, a, r, s', term), then the targets' polyak step."""
    s, a_b, r_b, s2, term_b = batch
    opt_critic, opt_actor, opt_alpha = opts
    alpha = log_alpha.exp().detach()
    with torch.no_grad():  # y = r + gamma (1 - term) (min_i Q'_i(s', a') - alpha log pi(a'|s'))
        a2, logp2 = actor(s2)
        q_next = torch.min(*[q(torch.cat([s2, a2], -1)).squeeze(-1) for q in critics_target])
        y = r_b + 0.99 * (1 - term_b) * (q_next - alpha * logp2)
    loss_q = sum(((q(torch.cat([s, a_b], -1)).squeeze(-1) - y) ** 2).mean() for q in critics)
    opt_critic.zero_grad()
    loss_q.backward()
    opt_critic.step()
    a_new, logp = actor(s)  # actor: minimise alpha log pi - min_i Q_i(s, a~pi)
    q_new = torch.min(*[q(torch.cat([s, a_new], -1)).squeeze(-1) for q in critics])
    loss_pi = (alpha * logp - q_new).mean()
    opt_actor.zero_grad()
    loss_pi.backward()
    opt_actor.step()
    loss_alpha = -(log_alpha * (logp.detach() - act_dim)).mean()  # target entropy -act_dim
    opt_alpha.zero_grad()
    loss_alpha.backward()
    opt_alpha.step()
    with torch.no_grad():
        for p, p_t in zip(critics.parameters(), critics_target.parameters()):
            p_t.mul_(0.995).add_(0.005 * p)


def save_actor(actor: SACActor, env_id: str, eval_return: float, expert_dir: Path = EXPERT_DIR) -> None:
    """The actor's weights alone (float16) and the return it was measured at: experts/<env-id>.pt."""
    expert_dir.mkdir(exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in actor.state_dict().items()}
    # float16 halves the shipped file; the expert's return with the rounded weights is what we report.
    atomic_save({"env": env_id, "state_dict": state, "eval_return": eval_return}, expert_dir / f"{env_id}.pt")


def load_expert(env_id: str, env: gym.Env):
    """The expert's deterministic policy as a function: observations (B, obs_dim) -> env actions;
    None if this env has no expert here (neither hand-written nor in experts/)."""
    if env_id in HAND_WRITTEN:
        return HAND_WRITTEN[env_id]
    path = EXPERT_DIR / f"{env_id}.pt"
    if not path.exists():
        return None
    ck = torch.load(path, weights_only=True)
    actor = SACActor(env.observation_space.shape[0], env.action_space.shape[0],
                     env.action_space.low, env.action_space.high)
    actor.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
    return lambda o: actor(torch.as_tensor(o, dtype=torch.float32), True)[0].detach().numpy()
