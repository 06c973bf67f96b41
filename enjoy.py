"""Evaluate, and watch, a policy saved by train.py.

    python enjoy.py runs/CartPole-v1-seed1                  # 10 deterministic episodes
    python enjoy.py runs/CartPole-v1-seed1 --video          # also writes runs/.../policy.gif
    python enjoy.py runs/Humanoid-v5-seed3 --noise 1        # acting with its noise, as in training

The last line printed is a JSON object {"env", "return_mean", "return_std", "episodes", "noise"},
as `expert.py --evaluate` prints for an expert. Episode i starts from reset(--seed + i),
as in train.py, so `--seed 1009999` (10,000 * seed + 999,999 for seed 1) repeats a run's
final evaluation, and more --episodes extend it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import watch  # first: it sets MuJoCo's headless renderer before mujoco is imported
import gymnasium as gym
import torch

from cli import ArgumentParser, fail
from environments import split_env_id
from evaluation import evaluate, policy_actor


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description="Evaluate (and watch) a policy saved by train.py.")
    p.add_argument("run", help="the run folder, e.g. runs/CartPole-v1-seed1")
    p.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    p.add_argument("--seed", type=int, default=0, help="episode i starts from reset(seed + i)")
    p.add_argument("--video", action="store_true", help="also save one episode as <run>/policy.gif")
    p.add_argument("--noise", type=float, default=0.0,
                   help="act with the policy's noise scaled by this (1: as in training; default 0: deterministic)")
    args = p.parse_args(argv)
    if args.noise < 0:
        fail(f"--noise scales the policy's noise and must be >= 0, got {args.noise}")
    if args.episodes <= 0:
        fail(f"--episodes must be positive, got {args.episodes}")
    run_dir = Path(args.run)
    policy, run_args = watch.load_policy(run_dir)
    env = gym.make(split_env_id(run_args["env"]))
    generator = torch.Generator().manual_seed(args.seed)  # the noise repeats with --seed
    act = policy_actor(policy, env.action_space, noise=args.noise, generator=generator)
    if args.video:
        ret = watch.record_video(act, run_args["env"], run_dir / "policy.gif", args.seed)
        print(f"wrote {run_dir / 'policy.gif'} (return {ret:.1f})", file=sys.stderr)
    copies = [env] + [gym.make(split_env_id(run_args["env"])) for _ in range(min(args.episodes, 20) - 1)]
    mean, std = evaluate(act, copies, args.episodes, args.seed)  # up to 20 episodes side by side
    print(json.dumps({"env": run_args["env"], "return_mean": mean, "return_std": std, "episodes": args.episodes,
                      "noise": args.noise}))


if __name__ == "__main__":
    main()
