"""Watching runs: load a saved run, evaluate its policy, save an animation of it;
and the optional TensorBoard writer and learning-curve plot that train.py uses.

    python enjoy.py runs/CartPole-v1-seed1                  # 10 deterministic episodes
    python enjoy.py runs/CartPole-v1-seed1 --video          # also writes runs/.../policy.gif
    python enjoy.py runs/Humanoid-v5-seed3 --noise 1        # acting with its noise, as in training

The last line printed is a JSON object {"env", "return_mean", "return_std", "episodes", "noise"},
as `expert.py --evaluate` prints for an expert.

Animations use imageio (installed with gymnasium[mujoco]). MuJoCo renders
headless with MUJOCO_GL=egl, set here when unset; the classic-control tasks
draw with pygame, an optional extra (`pip install pygame`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # must precede the first import of mujoco
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame (classic control) draws off-screen

import gymnasium as gym
import numpy as np
import torch

import expert
from policy import Normalizer, Policy, to_env


def first_coordinates(env: gym.Env, k: int) -> gym.Env:
    """env with each observation cut to its first k coordinates (train.py --obs-dims); k = 0: all of them."""
    if k <= 0:
        return env
    box = env.observation_space
    return gym.wrappers.TransformObservation(env, lambda o: o[:k],
                                             gym.spaces.Box(box.low[:k], box.high[:k], dtype=box.dtype))


def load_policy(run_dir: Path) -> tuple[Policy, dict]:
    """The policy saved by train.py in run_dir/policy.pt, and the run's arguments."""
    try:
        saved = torch.load(run_dir / "policy.pt", weights_only=False)
    except FileNotFoundError:
        raise SystemExit(f"error: no policy.pt in {run_dir}: is it a finished or interrupted train.py run?")
    args, state = saved["args"], saved["policy"]
    env = first_coordinates(gym.make(args["env"]), args.get("obs_dims", 0))
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.n if discrete else env.action_space.shape[0]
    normalizer = Normalizer(np.zeros(obs_dim), np.ones(obs_dim), clip=args.get("obs_clip", 0.0))
    policy = Policy(obs_dim, act_dim, discrete, normalizer,
                    hidden=args["hidden"], tau=args["tau"])
    policy.load_state_dict(state)  # also restores the normaliser's statistics
    return policy.eval(), args


def policy_actor(policy: Policy, space: gym.Space, device: torch.device | str = "cpu",
                 noise: float = 0.0, generator: torch.Generator | None = None):
    """observations (B, obs_dim) -> env actions (clipped to the bounds).

    noise = 0: the deterministic policy (argmax / mu), the one the paper and train.py evaluate.
    noise = k > 0: a = pi(s, k xi), the policy's own noise scaled by k; k = 1 acts as training
    acts (a = mu + xi sigma, Eq. 9, or a Gumbel-Softmax sample). A diagnostic: how much of a
    return depends on acting with the noise the policy was trained with (benchmarks/NOTES.md).
    """
    def act(o):
        s = torch.as_tensor(np.asarray(o), dtype=torch.float32, device=device)
        if noise == 0.0:
            return to_env(policy.mode(s), space)
        xi = policy.sample_xi(s.shape[0], generator).to(device)
        return to_env(policy(s, noise * xi), space)
    return act


@torch.no_grad()
def record_video(act, env_id: str, path: Path, seed: int, max_frames: int = 1000, obs_dims: int = 0) -> int:
    """One episode of `act`, rendered to an animated GIF at `path`; returns its return."""
    try:
        env = first_coordinates(gym.make(env_id, render_mode="rgb_array"), obs_dims)
        obs, _ = env.reset(seed=seed)
        frames = [env.render()]
    except gym.error.DependencyNotInstalled as e:
        raise SystemExit(f"error: cannot render {env_id}: {e}")
    done, ret = False, 0.0
    while not done and len(frames) < max_frames:
        obs, r, term, trunc, _ = env.step(np.asarray(act(obs[None]))[0])
        ret += float(r)
        done = term or trunc
        frames.append(env.render())
    import imageio.v2 as imageio
    # Every 2nd frame at 25 fps: about real time for 50 Hz control, and half the file.
    imageio.mimsave(path, frames[::2], duration=40, loop=0)
    return ret


def make_tensorboard(out: Path):
    """A TensorBoard writer if the optional `tensorboard` package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def plot_learning_curve(history: list[dict], expert_return: float, path: Path, title: str) -> None:
    """The evaluation return over env steps, if the optional matplotlib is installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    steps = [r["env_steps"] for r in history]
    mean = np.array([r["eval_return_mean"] for r in history])
    std = np.array([r["eval_return_std"] for r in history])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, mean, label="policy (deterministic)")
    ax.fill_between(steps, mean - std, mean + std, alpha=0.25)
    ax.axhline(expert_return, color="k", linestyle="--", label="expert")
    ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")  # 50000 -> 50k
    ax.set(xlabel="env steps", ylabel="return", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description="Evaluate (and watch) a policy saved by train.py.")
    p.add_argument("run", help="the run folder, e.g. runs/CartPole-v1-seed1")
    p.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    p.add_argument("--seed", type=int, default=0, help="episode i starts from reset(seed + i)")
    p.add_argument("--video", action="store_true", help="also save one episode as <run>/policy.gif")
    p.add_argument("--noise", type=float, default=0.0,
                   help="act with the policy's noise scaled by this (1: as in training; default 0: deterministic)")
    args = p.parse_args()
    if args.noise < 0:
        raise SystemExit(f"error: --noise scales the policy's noise and must be >= 0, got {args.noise}")
    run_dir = Path(args.run)
    policy, run_args = load_policy(run_dir)
    env = first_coordinates(gym.make(run_args["env"]), run_args.get("obs_dims", 0))
    generator = torch.Generator().manual_seed(args.seed)  # the noise repeats with --seed
    act = policy_actor(policy, env.action_space, noise=args.noise, generator=generator)
    if args.video:
        ret = record_video(act, run_args["env"], run_dir / "policy.gif", args.seed, obs_dims=run_args.get("obs_dims", 0))
        print(f"wrote {run_dir / 'policy.gif'} (return {ret:.1f})", file=sys.stderr)
    mean, std = expert.evaluate(act, env, args.episodes, args.seed)
    print(json.dumps({"env": run_args["env"], "return_mean": mean, "return_std": std, "episodes": args.episodes,
                      "noise": args.noise}))


if __name__ == "__main__":
    main()
