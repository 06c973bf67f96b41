"""Watching runs: a saved policy loaded back, an animation of it, the learning curve, TensorBoard.

Animations use imageio (installed with gymnasium[mujoco]). MuJoCo renders
headless with MUJOCO_GL=egl, set here when unset; the classic-control tasks
draw with pygame, an optional extra (`pip install pygame`). matplotlib and
tensorboard are optional too: without them there is no PNG and no event file.

Used by: train.py (curve, TensorBoard, video), enjoy.py (the command line).
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # must precede the first import of mujoco
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame (classic control) draws off-screen

import gymnasium as gym
import numpy as np
import torch

from cli import fail
from environments import split_env_id
from policy import Normalizer, Policy


def load_policy(run_dir: Path) -> tuple[Policy, dict]:
    """The policy saved by train.py in run_dir/policy.pt, and the run's arguments."""
    try:
        saved = torch.load(run_dir / "policy.pt", weights_only=False)
    except FileNotFoundError:
        fail(f"no policy.pt in {run_dir}: is it a finished or interrupted train.py run?")
    args, state = saved["args"], saved["policy"]
    env = gym.make(split_env_id(args["env"]))
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.n if discrete else env.action_space.shape[0]
    normalizer = Normalizer(np.zeros(obs_dim), np.ones(obs_dim), clip=args.get("obs_clip", 0.0))
    policy = Policy(obs_dim, act_dim, discrete, normalizer, hidden=args["hidden"], tau=args["tau"],
                    logit_bound=args.get("logit_bound", 5.0), state_sigma=bool(args.get("state_sigma", 0)))
    policy.load_state_dict(state)  # also restores the normaliser's statistics
    return policy.eval(), args


@torch.no_grad()
def record_video(act, env_id: str, path: Path, seed: int, max_frames: int = 1000) -> int:
    """One episode of `act`, rendered to an animated GIF at `path`; returns its return."""
    try:
        env = gym.make(split_env_id(env_id), render_mode="rgb_array")
        obs, _ = env.reset(seed=seed)
        frames = [env.render()]
    except gym.error.DependencyNotInstalled as e:
        fail(f"cannot render {env_id}: {e}")
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
