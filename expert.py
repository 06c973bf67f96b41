"""Make (train) or evaluate the expert of one env.

    python expert.py --env Hopper-v5 --steps 300000 --seed 1   # SAC; resumes from its checkpoint
    python expert.py --env Hopper-v5 --evaluate --episodes 20  # last line: JSON

The experts themselves, and how each is made: expert_policies.py and docs/experts.md.
"""
from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym

from cli import ArgumentParser, fail
from environments import split_env_id
from evaluation import evaluate
from expert_policies import HAND_WRITTEN, load_expert, train_sac


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description="Make (train) or evaluate the expert of one env.")
    p.add_argument("--env", required=True, help="gymnasium env id, e.g. Hopper-v5")
    p.add_argument("--evaluate", action="store_true", help="evaluate the shipped expert instead of training")
    p.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    p.add_argument("--steps", type=int, default=1_000_000, help="SAC env steps")
    p.add_argument("--seed", type=int, default=0, help="seed of training and of evaluation episodes")
    p.add_argument("--workdir", default=None, help="SAC checkpoint folder (default runs/expert-<env>)")
    args = p.parse_args(argv)
    for k in ("episodes", "steps"):
        if getattr(args, k) <= 0:
            fail(f"--{k} must be positive, got {getattr(args, k)}")
    env_id = split_env_id(args.env)
    try:
        env = gym.make(env_id)
    except gym.error.Error as e:
        fail(f"cannot make env {env_id!r}: {e}")
    if args.evaluate:
        act = load_expert(env_id, env)
        if act is None:
            fail(f"no expert for {env_id}: train one with `python expert.py --env {args.env}`")
        mean, std = evaluate(act, env, args.episodes, seed=args.seed)
        print(json.dumps({"env": env_id, "return_mean": mean, "return_std": std, "episodes": args.episodes}))
    elif env_id in HAND_WRITTEN:
        print(f"{env_id} uses a hand-written controller ({HAND_WRITTEN[env_id].__name__}); nothing to train")
    elif not (isinstance(env.action_space, gym.spaces.Box) and len(env.action_space.shape) == 1):
        fail(f"SAC trains experts for flat Box actions, and {env_id} has {env.action_space}: write a "
             f"controller for it, or bring demonstrations (train.py --demos FILE)")
    else:
        workdir = Path(args.workdir) if args.workdir else Path(__file__).resolve().parent / "runs" / f"expert-{env_id}"
        train_sac(env_id, args.steps, args.seed, workdir)


if __name__ == "__main__":
    main()
