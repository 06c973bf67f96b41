"""What D looks at, and where the policy's actions are: a diagnosis of a saved MGAIL run.

    python benchmarks/probe.py runs/HalfCheetah-v5-seed1      # a folder with checkpoint.pt

Rolls the run's deterministic policy for one episode, then prints D's mean
probability of "policy" (Eq. 6) on
  * the policy's own states with its actions (mu, and mu clipped to the bounds),
  * the expert's states with the expert's actions, and with the policy's.
If D is high on the first and low on both of the last two, D tells the two
apart by the STATES alone, and its action gradient says little. For
continuous actions it also prints how far the policy's mean lies outside the
bounds [-1, 1] (the env clips there) against the expert's actions, and the
policy's distance from the expert's actions at the expert's states.
"""
from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import expert  # noqa: E402
from discriminator import Discriminator  # noqa: E402
from policy import Normalizer, Policy, from_env, to_env  # noqa: E402


@torch.no_grad()
def main() -> None:
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "checkpoint.pt").exists():
        sys.exit("usage: python benchmarks/probe.py RUN_DIR   (a train.py output folder with checkpoint.pt)")
    torch.set_num_threads(1)
    ck = torch.load(Path(sys.argv[1]) / "checkpoint.pt", weights_only=False)
    args = ck["args"]
    env = gym.make(args["env"])
    space = env.action_space
    discrete = isinstance(space, gym.spaces.Discrete)
    demo_path = args.get("demos") or expert.expert_demos(args["env"], env, args["num_demos"], args["seed"])
    demos = expert.load_demos(demo_path, env)
    normalizer = Normalizer(demos["observations"].mean(0), demos["observations"].std(0))
    obs_dim, act_dim = env.observation_space.shape[0], (space.n if discrete else space.shape[0])
    policy = Policy(obs_dim, act_dim, discrete, normalizer, hidden=args["hidden"], tau=args["tau"])
    policy.load_state_dict(ck["policy"])
    D = Discriminator(obs_dim, act_dim, normalizer, hidden=args["hidden"])
    D.load_state_dict(ck["D"])

    states, (obs, _), done = [], env.reset(seed=5), False
    while not done:
        states.append(obs)
        action = policy.mode(torch.as_tensor(obs, dtype=torch.float32)[None])
        obs, _, term, trunc, _ = env.step(to_env(action, space)[0])
        done = term or trunc
    s_pi = torch.as_tensor(np.array(states), dtype=torch.float32)
    s_exp = torch.as_tensor(demos["observations"])
    a_exp = torch.as_tensor(from_env(demos["actions"], space))
    mu = policy.mode(s_pi)
    print(f"{args['env']}: one episode of {len(s_pi)} steps; D = p(policy | s, a)")
    print(f"  D(policy's states, its actions)        {D(s_pi, mu).mean():.3f}")
    if not discrete:
        print(f"  D(policy's states, its actions clipped) {D(s_pi, mu.clamp(-1, 1)).mean():.3f}")
    print(f"  D(expert's states, expert's actions)   {D(s_exp, a_exp).mean():.3f}")
    print(f"  D(expert's states, policy's actions)   {D(s_exp, policy.mode(s_exp)).mean():.3f}")
    if discrete:
        agree = (policy.mode(s_exp).argmax(-1) == a_exp.argmax(-1)).float().mean()
        print(f"  policy picks the expert's action in {agree:.1%} of the expert's states")
    else:
        print(f"  log sigma {[round(float(x), 2) for x in policy.log_sigma]}")
        print(f"  policy mean |mu| {mu.abs().mean():.2f}, outside [-1, 1]: {(mu.abs() > 1).float().mean():.1%} "
              f"of components, mean excess {(mu.abs() - 1).clamp(min=0).mean():.3f}, max |mu| {mu.abs().max():.2f}")
        print(f"  expert mean |a| {a_exp.abs().mean():.2f}, |a| > 0.9: {(a_exp.abs() > 0.9).float().mean():.1%}")
        print(f"  mean |mu - a_expert| at the expert's states {(policy.mode(s_exp) - a_exp).abs().mean():.3f}")


if __name__ == "__main__":
    main()
