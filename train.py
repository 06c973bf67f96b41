"""Train MGAIL: Algorithm 1 of the paper, wired from the components of this project.

Paper: Section 3.4, Algorithm 1 "Model-based adversarial imitation learning".

    python train.py --env CartPole-v1

Algorithm 1, and where each line lives (each is a marked block of the loop in main()):

    for each iteration:
        act in the real env with a = pi(s, xi; theta)      Policy.forward       policy.py
        push (s, a, s') into the buffer B                  ReplayBuffer.add     below
        train the forward model f on B                     ForwardModel.loss    forward_model.py
        train the discriminator D on B vs expert pairs     Discriminator.loss   discriminator.py
        J_theta by Eq. 12-13 along the real trajectory     policy_objective_unrolled   mgail.py
        apply J_theta to theta (Adam)

`--algo bc` trains the same policy network by behavioural cloning instead,
the baseline of the paper's Table 1.

Every `--eval-every` env steps the deterministic policy (argmax / mu) is
evaluated; progress.csv, results.json and a one-line summary are written to
--out (default runs/<env>-seed<seed>).
"""
from __future__ import annotations

import argparse
import copy
import csv
import difflib
import importlib
import json
import signal
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import expert
from enjoy import first_coordinates, make_tensorboard, plot_learning_curve, policy_actor, record_video
from discriminator import make_discriminator
from forward_model import make_forward_model
from mgail import EndValue, Segment, policy_objective_unrolled
from policy import Normalizer, Policy, from_env, to_env

# Per-env defaults; every flag below can override them.
#   env_steps:  the budget of real env steps used for training (evaluation excluded).
#   num_demos:  expert trajectories; the paper used 1000-step trajectories.
#   num_envs x unroll: one iteration collects num_envs parallel segments of `unroll`
#               steps; the policy step backpropagates through all `unroll` steps.
#               Deviation from the paper: a batch of parallel segments instead of one
#               trajectory (the authors' code: up to 10 steps per unroll): the same
#               gradient in expectation, with less variance.
#   gamma:      discount of J(theta) (Eq. 12-13), as in the authors' code.
#   tau:        Gumbel-Softmax temperature (Eq. 11). At tau = 1 a confident policy's
#               softmax saturates and its straight-through gradient vanishes (the policy
#               freezes); tau = 3 keeps it alive: on Acrobot-v1 it took MGAIL from about
#               -190 to about -85 after 60-100k steps (README, Departures).
#   policy_updates, model_updates, disc_updates: gradient steps on pi, f and D per iteration.
DEFAULTS = {
    # CartPole: small nets suffice; one demonstration (500 pairs) is enough. 50k env steps,
    # Table 1's budget: at 30k seeds 1-3 ended at 489.1, 500.0, 439.0 (0.9495 normalised, just
    # under 0.95), at 50k at 492.9, 500.0, 465.8 (0.97; the policy's rate decays over the budget).
    "CartPole-v1": dict(env_steps=50_000, num_demos=1, num_envs=8, unroll=32, gamma=0.99, tau=1.0,
                        hidden=64, model="advanced", policy_updates=1, model_updates=20, disc_updates=5, grad_penalty=0.0, eval_every=1_024),
    # Acrobot and MountainCar: as CartPole, with the budget of Table 1 and tau = 3.
    # Expert episodes are short (~65 and ~100 steps), so 4 demonstrations are 260-400 pairs.
    "Acrobot-v1": dict(env_steps=200_000, num_demos=4, num_envs=8, unroll=32, gamma=0.99, tau=3.0,
                       hidden=64, model="advanced", policy_updates=1, model_updates=20, disc_updates=5, grad_penalty=0.0, eval_every=10_000),
    # MountainCar alone learns D as Eq. 6's two factors (discriminator.FactoredDiscriminator)
    # and starts from BC: 5,000 BC steps, then pi is fixed for 50k env steps while f and D
    # learn. From scratch, with one D network, seeds 1-3 ended at -133.3, -130.1 and -200.0;
    # factored, at -115.5, -119.3 and -137.8 (BC ~-109). With one D network the BC start
    # did not hold (seeds 1 and 3: -117.9 and -159.8); with the factored D it did
    # (benchmarks/NOTES.md). The single net had stopped telling the expert's action from
    # the others: its cheapest action was the expert's at only 40-65% of the expert's states.
    "MountainCar-v0": dict(env_steps=200_000, num_demos=4, num_envs=8, unroll=32, gamma=0.99, tau=3.0,
                           hidden=64, model="advanced", policy_updates=1, model_updates=20, disc_updates=5, grad_penalty=0.0, eval_every=10_000,
                           disc="factored", bc_init=5_000, warmup=50_000),
    # Hopper: 256-unit nets for the larger state, no gradient penalty (it learns without one);
    # 300k steps is Table 1's aim for reaching 95% of the expert. Seeds 1-3 got there at
    # 120-150k steps and ended at 3,088-3,155, experts' demos 3,117-3,213 (README).
    "Hopper-v5": dict(env_steps=300_000, num_demos=4, num_envs=8, unroll=32, gamma=0.99, tau=3.0,
                      hidden=256, model="advanced", policy_updates=1, model_updates=20, disc_updates=5, grad_penalty=0.0, eval_every=10_000),
    # Walker2d: Hopper's settings (its two-legged sibling: the same kind of state, the same
    # falls that end an episode) with Table 1's budget for it, and the BASIC forward model:
    # with the advanced one no variant tried learned to walk in 150-250k steps (returns
    # under ~1,000); with the basic one seeds 1-3 ended at 3,563-3,973 (0.95 +- 0.05, seed 3 at
    # 0.87, falling now and then). Plus expert-state restarts, 5% per env and iteration (the
    # authors' code restarts from expert states too; see the loop below), so pi and D also see
    # the expert's states that pi does not reach yet: seeds 1-3 ended at 3,839-3,946 (0.99
    # +- 0.04, every seed at 0.95 or more; benchmarks/NOTES.md, Walker2d-v5).
    "Walker2d-v5": dict(env_steps=1_000_000, num_demos=4, num_envs=8, unroll=32, gamma=0.99, tau=3.0,
                        hidden=256, model="basic", policy_updates=1, model_updates=20, disc_updates=5, grad_penalty=0.0, eval_every=10_000,
                        restarts=0.05),
    # HalfCheetah: Hopper's settings plus D's gradient penalty, Table 1's budget, and SHORT
    # unrolls: T = 8 over 32 envs (the same 256 env steps per iteration). With T = 32 the
    # policy gradient explodes through the model's Jacobians (benchmarks/probe.py: |J_theta|
    # at T = 32 was 600-26,000x the one at T = 1 here, 16-40x on Hopper) and MGAIL stalled
    # at ~4,400; with T = 8 seeds 1-3 ended at 7,091-7,234, demonstrations ~7,080 (README). The
    # penalty is there for the reason given in discriminator.py; one seed each does not prove
    # it (T = 32, 100k steps: 2,133 without, 1,759 with; with it, 3,400-4,150 at 150-240k).
    "HalfCheetah-v5": dict(env_steps=1_000_000, num_demos=4, num_envs=32, unroll=8, gamma=0.99, tau=3.0,
                           hidden=256, model="advanced", policy_updates=1, model_updates=20, disc_updates=5,
                           grad_penalty=10.0, eval_every=10_000),
    # Ant: HalfCheetah's settings (T = 8: |J_theta| grew 26x from T = 1 to 8 and 545x to 32),
    # started from BC (5,000 BC steps, then pi fixed for 50k env steps while f and D learn,
    # as on MountainCar) and held there by a BC anchor: the policy step minimises J + 300 *
    # BC's loss on expert pairs (--bc-anchor; a departure, README). Without the anchor MGAIL
    # did NOT learn Ant (from scratch 0.32 normalised at 2M; from BC it fell within 10-30k
    # env steps): D's cost is ~100x flatter in the action than on Hopper, and one Adam step
    # moves mu further than BC is from the expert. w = 300: |J_theta| at T = 8 was ~30x that
    # at T = 1 after a warm-up; w = 10 fell as before. 2M env steps, Table 1's budget: 0.88
    # +- 0.05 over 20 final episodes, 0.95 +- 0.02 over 200. Plus Walker2d's expert-state
    # restarts (5% per env and iteration): 1.03 +- 0.16 over 20, 0.99 +- 0.09 over 200. Their
    # periodic evaluations during training were level with the runs without restarts, so the
    # gain is in the final policies, not in a faster climb. The history: benchmarks/NOTES.md.
    "Ant-v5": dict(env_steps=2_000_000, num_demos=4, num_envs=32, unroll=8, gamma=0.99, tau=3.0,
                   hidden=256, model="advanced", policy_updates=1, model_updates=20, disc_updates=5,
                   grad_penalty=10.0, eval_every=20_000, bc_init=5_000, warmup=50_000, bc_anchor=300.0,
                   restarts=0.05),
    # Humanoid: HalfCheetah's settings and Table 1's budget, 2M env steps, plus normalised states
    # clipped to +-10 (policy.Normalizer), Ant's BC start, warm-up and anchor, the anchor at
    # w = 30, only WHOLE demonstrations (--whole-demos 1), and T = 16 over 16 envs (the same
    # 256 env steps per iteration). Whole episodes: seeds 2 and 3's sets each held an episode
    # in which the expert fell within ~150 steps, which BC and the anchor then imitate too;
    # with it those seeds ended at 1,539 and 1,525 (0.37, 0.36 normalised), with whole
    # episodes at 3,352 and 2,888 (0.64, 0.55, against a harder bar: demonstrations at ~5,160
    # instead of ~4,055; seed 1's set is whole either way: 3,399, 0.65). T = 16 instead of
    # HalfCheetah's 8 (a guess at why: a fall takes longer than 8 steps, 0.12 s, to develop):
    # seeds 1-3 ended at 3,516, 4,215 and 4,483 (0.67, 0.82, 0.87; with T = 8 0.65, 0.64, 0.55).
    # |J_theta| at T = 16 was 172x the one at T = 1, at T = 32 2,620x (benchmarks/probe.py).
    # These did NOT reach the expert: 0.79 +- 0.08 (BC 0.17); the policy still fell now and then.
    # Hence the end value (--end-value 1, a departure, mgail.EndValue): J + gamma^T V(s_T), V
    # learned by TD with a fall costing 4.6 per step forever, so the policy step sees a fall
    # coming past T = 16. Seeds 1-3 ended at 5,200.7, 4,766.3 and 3,440.9 (1.01, 0.92, 0.66:
    # 0.86 +- 0.15, still below the bar; without it 0.67, 0.82, 0.87): better on two seeds,
    # worse on the third, higher in the mean. V rose from ~150 to ~450-570 in the steps before
    # a fall, seed 3's too, which still fell in 7 of 10 episodes (benchmarks/NOTES.md). Before it:
    # w = 100 at T = 16: ahead on the periodic evaluations, 0.83, 0.68, 0.78 over 20 final episodes,
    # 0.77, 0.76, 0.80 over 200 (w = 30: 0.63, 0.74, 0.83); not yet re-run as Table 1's row.
    # A floor under sigma (--min-log-sigma -1.0, more acting noise late on) did worse (0.55, 0.72).
    # T = 24 over 11 envs did not blow up as T = 32 did, but learned slower: 0.45, 0.80, 0.54.
    # From a random start, without the anchor, seeds 1-3 ended at 1,211, 1,329 and 942 (0.25,
    # fallen demos); w = 300 held pi at BC's level.
    # Of its 348 observation coordinates only 45 are positions and velocities of the joints;
    # the rest are body inertias and velocities, actuator forces and contact forces, and the
    # contact forces of a falling humanoid reach ~800 expert stds. Unclipped (seed 1): f's
    # one-step error 20-240, the policy's mean outside [-1, 1] in 59% of its components,
    # returns 116-389 up to 380k; clipped: error 0.3-1.8, 9% outside, up to 3,210 (seed 1, 1.36M).
    "Humanoid-v5": dict(env_steps=2_000_000, num_demos=4, num_envs=16, unroll=16, gamma=0.99, tau=3.0,
                        hidden=256, model="advanced", policy_updates=1, model_updates=20, disc_updates=5,
                        grad_penalty=10.0, eval_every=20_000, obs_clip=10.0, bc_init=5_000, warmup=50_000,
                        bc_anchor=30.0, whole_demos=1, end_value=1, noiseless_envs=4),
}
# Any other env: HalfCheetah's settings as a starting point, not yet tuned. FALLBACK also
# fills any key a task above leaves out (obs_clip: 0, no clipping, for all but Humanoid;
# disc: "joint", one D network, for all but MountainCar; bc_init and warmup: 0, a random start,
# for all but MountainCar, Ant and Humanoid; bc_anchor: 0, J alone, for all but Ant and Humanoid;
# restarts: 0, every episode from a reset, for all but Walker2d and Ant;
# end_value: 0, the paper's J that stops at T, for all but Humanoid;
# noiseless_envs: 0, every env acts with the policy's noise, for all but Humanoid, where 4
# of the 16 act with xi = 0 (seeds 1-3 at 2M: 0.96, 0.98, 0.95 normalised, 0.97 in the
# mean, where the end value alone gave 1.01, 0.92, 0.66; benchmarks/NOTES.md);
# whole_demos: 0 for all but Humanoid, so the demonstrations keep any episode in which the
# expert fell: Walker2d seed 1, Ant seeds 1-3. On Ant whole sets would raise the bar above the
# expert's own mean (demonstrations ~3,890, the expert 3,427-3,576 over 20 episodes), and BC
# on them did worse on two seeds of three; benchmarks/NOTES.md, Humanoid-v5).
FALLBACK = dict(env_steps=1_000_000, num_demos=4, num_envs=32, unroll=8, gamma=0.99, tau=3.0,
                hidden=256, model="advanced", policy_updates=1, model_updates=20, disc_updates=5, grad_penalty=10.0,
                eval_every=10_000, obs_clip=0.0, disc="joint", bc_init=0, warmup=0, bc_anchor=0.0,
                whole_demos=0, restarts=0.0, obs_dims=0, end_value=0, noiseless_envs=0)


def fail(msg: str) -> None:
    """A one-line error for bad input: exit code 2, no traceback."""
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="MGAIL (Baram et al., ICML 2017): imitate an expert from its demonstrations.")
    p.add_argument("--env", default="CartPole-v1", help="gymnasium env id (default CartPole-v1)")
    p.add_argument("--algo", choices=["mgail", "bc"], default="mgail",
                   help="mgail, or the behavioural-cloning baseline (same policy net and demonstrations)")
    p.add_argument("--seed", type=int, default=1, help="seed of torch, numpy, the envs and the demonstrations")
    p.add_argument("--env-steps", type=int, help="budget of real env steps for training (per-env default)")
    p.add_argument("--num-demos", type=int, help="expert trajectories to imitate (per-env default)")
    p.add_argument("--demos", help="your own demonstrations .npz (format in expert.py) instead of the shipped expert's")
    p.add_argument("--whole-demos", type=int, choices=[0, 1],
                   help="1: imitate only expert episodes that ran to the time limit, skipping any in which the "
                        "expert fell (per-env default: 0, Humanoid-v5 1). For tasks where an ending means a fall (the MuJoCo "
                        "walkers); MountainCar-v0 and Acrobot-v1 end at their goal")
    p.add_argument("--out", help="output folder (default runs/<env>-seed<seed>)")
    p.add_argument("--device", default="cpu", help="torch device; the networks are small, so cpu is usually fastest")
    p.add_argument("--model", choices=["basic", "advanced"], help="forward model of Figure 4 (default advanced)")
    p.add_argument("--num-envs", type=int,
                   help="parallel envs per iteration (per-env default: 8 for the classic-control tasks, "
                   "Hopper-v5 and Walker2d-v5; 16 for Humanoid-v5; 32 otherwise)")
    p.add_argument("--unroll", type=int, help="steps T of each segment the policy step unrolls "
                   "(per-env default: 32 for the classic-control tasks, Hopper-v5 and Walker2d-v5; 16 for Humanoid-v5; 8 otherwise)")
    p.add_argument("--gamma", type=float, help="discount of J(theta) in Eq. 12-13 (default 0.99)")
    p.add_argument("--tau", type=float, help="Gumbel-Softmax temperature, discrete actions (per-env default)")
    p.add_argument("--log-sigma", type=float, default=-0.5,
                   help="initial log sigma of the Gaussian policy, continuous actions (default -0.5)")
    p.add_argument("--hidden", type=int, help="units per hidden layer of pi, D and f (per-env default)")
    p.add_argument("--min-log-sigma", type=float,
                   help="floor under the Gaussian policy's learned log sigma, continuous actions only "
                        "(default: none, sigma shrinks as J asks)")
    p.add_argument("--noiseless-envs", type=int,
                   help="this many of the --num-envs envs act with xi = 0, the deterministic policy that "
                        "evaluation runs; the rest act with noise (per-env default: 0, all act with noise; "
                        "Humanoid-v5 4)")
    p.add_argument("--policy-lr", type=float, default=1e-3, help="Adam learning rate of the policy")
    p.add_argument("--constant-lr", action="store_true",
                   help="keep the policy's learning rate fixed (default: it decays linearly to 0 over the budget)")
    p.add_argument("--policy-updates", type=int, help="policy steps per iteration, on the newest segments")
    p.add_argument("--model-updates", type=int, help="forward-model gradient steps per iteration")
    p.add_argument("--disc-updates", type=int, help="discriminator gradient steps per iteration")
    p.add_argument("--disc", choices=["joint", "factored"],
                   help="D as one network of (s, a), or as Eq. 6's two factors psi(s) and phi(s, a) (per-env default)")
    p.add_argument("--grad-penalty", type=float, help="weight of D's gradient penalty (per-env default; 0 = none)")
    p.add_argument("--obs-clip", type=float,
                   help="clip normalised states (and f's normalised targets) to [-C, C] (per-env default; 0 = none)")
    p.add_argument("--obs-dims", type=int,
                   help="keep only the first K coordinates of each observation, for pi, D and f alike "
                        "(per-env default: 0, all of them)")
    p.add_argument("--f-clip", type=int, choices=[0, 1], default=0,
                   help="1: the forward model sees the continuous action clipped to the env's bounds, "
                        "as the env executes it (default 0: the raw action)")
    p.add_argument("--restarts", type=float,
                   help="chance per env and iteration of jumping to a random expert state (per-env default: 0, Walker2d-v5 and Ant-v5 0.05)")
    p.add_argument("--bc-init", type=int,
                   help="start the policy from BC: this many supervised steps on the expert pairs first (per-env default: 0, MountainCar-v0, Ant-v5 and Humanoid-v5 5000)")
    p.add_argument("--warmup", type=int,
                   help="env steps at the start during which only f and D learn; pi stays fixed (per-env default: 0, MountainCar-v0, Ant-v5 and Humanoid-v5 50000)")
    p.add_argument("--bc-anchor", type=float,
                   help="weight w of a BC term in the policy step: minimise J + w * BC loss on expert pairs (per-env default: 0, J alone; Ant-v5 300, Humanoid-v5 30)")
    p.add_argument("--end-value", type=int, choices=[0, 1],
                   help="1: J also counts gamma^T V(s_T), a value learned by TD at each segment's end, so the "
                        "gradient sees past step T (per-env default: 0, the paper's J; Humanoid-v5 1; mgail.EndValue)")
    p.add_argument("--fall-cost", type=float,
                   help="with --end-value 1: cost per step, forever, of an episode that ended in a fall "
                        "(default 4.6 = -log 0.01, the cost of a pair D is 99%% sure is the policy's)")
    p.add_argument("--eval-every", type=int, help="env steps between evaluations (per-env default)")
    p.add_argument("--video", action="store_true", help="at the end, save one episode of the policy as <out>/policy.gif")
    p.add_argument("--resume", help="continue the interrupted run in this folder (its checkpoint.pt)")
    p.add_argument("--checkpoint-minutes", type=float, default=2.0,
                   help="minutes between checkpoints, at least: after a save that took d seconds the next "
                        "waits 25 d or more")
    p.add_argument("--eval-episodes", type=int, default=10, help="episodes per periodic evaluation")
    p.add_argument("--final-episodes", type=int, default=20, help="episodes of the final evaluation")
    args = p.parse_args(argv)
    if args.demos and args.whole_demos:
        fail("--whole-demos 1 picks episodes of the shipped expert, and --demos replaces them: "
             "leave out one of the two")
    if args.demos:  # the user's own file is imitated as it is, whatever the env's default
        args.whole_demos = 0
    noiseless_given = args.noiseless_envs is not None
    for k, v in {**FALLBACK, **DEFAULTS.get(args.env, {})}.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    for k in ("env_steps", "num_demos", "num_envs", "unroll", "eval_every", "eval_episodes", "final_episodes"):
        if getattr(args, k) <= 0:
            fail(f"--{k.replace('_', '-')} must be positive, got {getattr(args, k)}")
    if not 0 <= args.noiseless_envs < args.num_envs:
        if not noiseless_given:  # the env's default, with fewer envs than it was set for
            fail(f"{args.env} acts without noise in {args.noiseless_envs} envs by default, which leaves none "
                 f"of --num-envs {args.num_envs} acting with noise: "
                 f"add --noiseless-envs N, N from 0 to {args.num_envs - 1}")
        fail(f"--noiseless-envs must be from 0 to --num-envs - 1 ({args.num_envs - 1}), got {args.noiseless_envs}: "
             f"at least one env acts with noise")
    if args.fall_cost is not None and not args.end_value:
        fail("--fall-cost is the cost of a fall in the end value's TD targets: add --end-value 1, or leave it out")
    args.fall_cost = 4.6 if args.fall_cost is None else args.fall_cost
    args.out = Path(args.out or f"runs/{args.env}-seed{args.seed}")
    return args


def make_envs(env_id: str, num_envs: int, obs_dims: int = 0) -> tuple[gym.vector.VectorEnv, gym.Env]:
    """`num_envs` copies of env_id stepped in one process, and one more for evaluation,
    each showing the first obs_dims coordinates of its observations (0: all).

    Refuses, with a one-line error, what this implementation cannot handle.
    """
    if ":" in env_id:  # "module:EnvId-v0": import the module that registers a custom env
        module, env_id = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as e:
            fail(f"cannot import {module!r} to register {env_id}: {e}")
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.5)
        fail(f"unknown env id {env_id!r}" + (f"; did you mean {', '.join(close)}?" if close else ""))
    # SAME_STEP: when an episode ends, step() already returns the next episode's first
    # observation, and the true last one is in info["final_obs"]. (Sync beats Async on 2 cores.)
    try:
        eval_env = gym.make(env_id)
        full = eval_env.observation_space.shape
        if obs_dims and not (len(full) == 1 and 0 < obs_dims <= full[0]):
            fail(f"--obs-dims {obs_dims} does not fit {env_id}'s observations of shape {full}: "
                 f"use a number from 1 to {full[0] if len(full) == 1 else '?'}, or 0 for all")
        envs = gym.make_vec(env_id, num_envs, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
                            wrappers=[lambda e: first_coordinates(e, obs_dims)])
    except (gym.error.Error, ImportError) as e:
        fail(f"cannot make {env_id}: {e}")
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        fail(f"{env_id} has observations {obs_space}; only flat vector (Box) observations are supported: "
             f"flatten them with a wrapper (e.g. gymnasium.wrappers.FlattenObservation)")
    if not isinstance(act_space, (gym.spaces.Discrete, gym.spaces.Box)) or (
            isinstance(act_space, gym.spaces.Box) and len(act_space.shape) != 1):
        fail(f"{env_id} has actions {act_space}; only Discrete or flat Box actions are supported")
    return envs, first_coordinates(eval_env, obs_dims)


def state_jumper(env: gym.Env):
    """A function jump(env, obs) that puts an env of this kind into the state `obs` shows, or None.

    Used by expert-state restarts. Found by comparing an observation, after a
    few random steps, with the simulator's own state:
    * MuJoCo locomotion: obs = (qpos[k:], qvel, ...), where k = 1 (the torso's
      x: Hopper, Walker2d, HalfCheetah) or 2 (x and y: Ant, Humanoid). The k
      left-out coordinates, the torso's place on the floor, do not enter the
      dynamics: they are set to 0. (Only if the observation holds all of qvel:
      not so for a short --obs-dims.)
    * Classic control: `state` is the observation itself (CartPole, MountainCar)
      or, for Acrobot, the angles behind its cosines and sines.
    """
    u = env.unwrapped
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        obs, *_ = env.step(env.action_space.sample())
    if hasattr(u, "set_state") and hasattr(u, "data"):  # MuJoCo
        nq, nv = u.model.nq, u.model.nv
        for k in (0, 1, 2):
            if len(obs) >= nq - k + nv and np.allclose(obs[:nq - k], u.data.qpos[k:], atol=1e-6):
                return lambda e, o: e.unwrapped.set_state(np.concatenate([np.zeros(k), o[:nq - k]]),
                                                          o[nq - k:nq - k + nv])
        return None
    if hasattr(u, "state"):
        state = np.asarray(u.state, dtype=np.float64)
        for to_state in (lambda o: np.array(o, dtype=np.float64), expert.acrobot_state):
            if to_state(obs).shape == state.shape and np.allclose(to_state(obs), state, atol=1e-5):
                return lambda e, o: setattr(e.unwrapped, "state", to_state(o))
    return None


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
        # buffer is saved as it is (copying Humanoid-v5's 1.4 GB took as long as writing it).
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


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    ckpt = None
    if args.resume:  # continue an interrupted run with its own arguments
        try:
            ckpt = torch.load(Path(args.resume) / "checkpoint.pt", weights_only=False)
        except FileNotFoundError:
            fail(f"no checkpoint.pt in {args.resume}: was it written by train.py?")
        # (a default added since the checkpoint was written takes the env's default value)
        env_defaults = {**FALLBACK, **DEFAULTS.get(ckpt["args"]["env"], {})}
        # (... except D's kind, which the saved weights tell: a psi-net means factored)
        env_defaults["disc"] = "factored" if any(k.startswith("psi_net") for k in ckpt["D"]) else "joint"
        # (... and a run from before --bc-anchor had none, whatever the env's default is now)
        env_defaults["bc_anchor"] = 0.0
        # (... and a run from before --whole-demos imitated every episode, falls included)
        env_defaults["whole_demos"] = 0
        # (... and a run from before --restarts existed never restarted)
        env_defaults["restarts"] = 0.0
        # (... and a run from before --obs-dims saw whole observations)
        env_defaults["obs_dims"] = 0
        # (... and a run from before --end-value had none)
        env_defaults["end_value"] = 0
        # (... and a run from before --noiseless-envs acted with noise in every env)
        env_defaults["noiseless_envs"] = 0
        args = argparse.Namespace(**{**vars(args), **env_defaults, **ckpt["args"], "out": Path(args.resume),
                                     "resume": args.resume})
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "progress.csv").touch()
    except OSError as e:
        fail(f"cannot write to --out {args.out}: {e.strerror}; choose a writable folder")
    # Seeding, in one place: torch (networks, xi), numpy, and the envs' reset seeds below.
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(1)  # small nets: one thread is as fast, and never thrashes (README)
    try:
        device = torch.device(args.device)
        torch.zeros(1, device=device)
    except (RuntimeError, AssertionError) as e:
        fail(f"--device {args.device} is not usable here ({str(e).splitlines()[0]}); use --device cpu")
    tensor = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device)
    t_start = time.time()

    envs, eval_env = make_envs(args.env, args.num_envs, args.obs_dims)
    args.env = eval_env.spec.id  # without a "module:" prefix
    act_space = envs.single_action_space
    discrete = isinstance(act_space, gym.spaces.Discrete)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = act_space.n if discrete else act_space.shape[0]
    if discrete and args.min_log_sigma is not None:
        fail(f"--min-log-sigma floors the Gaussian policy's sigma, and {args.env} has discrete actions "
             f"(sampled by Gumbel-Softmax, temperature --tau): leave it out")
    if args.restarts > 0:
        jump = state_jumper(eval_env)
        if jump is None:
            fail(f"--restarts cannot set the state of {args.env} from an observation (it can for MuJoCo "
                 f"locomotion and classic-control envs): use --restarts 0")

    # --- Expert demonstrations: the shipped expert's, rolled out by seed, or the user's file.
    try:
        full_env = gym.make(args.env) if args.obs_dims else eval_env  # the expert acts on whole observations
        demo_path = args.demos or expert.expert_demos(args.env, full_env, args.num_demos, args.seed,
                                                         whole=bool(args.whole_demos))
        demos = expert.load_demos(demo_path, full_env)
    except expert.DemoError as e:
        fail(str(e))
    if args.obs_dims:  # --obs-dims: the demonstrations' states cut as the envs' are
        for k in ("observations", "next_observations"):
            demos[k] = demos[k][:, :args.obs_dims]
    s_exp = tensor(demos["observations"])
    a_exp = tensor(from_env(demos["actions"], act_space))
    expert_return = float(demos["episode_returns"].mean())
    print(f"{args.env}: {len(demos['episode_returns'])} expert trajectories, {len(s_exp)} pairs, "
          f"expert return {expert_return:.1f} +- {demos['episode_returns'].std():.1f}", flush=True)

    # --- The three networks. States are normalised with the expert data's statistics.
    normalizer = Normalizer(demos["observations"].mean(0), demos["observations"].std(0), clip=args.obs_clip)
    delta_std = (demos["next_observations"] - demos["observations"]).std(0)
    policy = Policy(obs_dim, act_dim, discrete, normalizer, hidden=args.hidden, tau=args.tau,
                    init_log_sigma=args.log_sigma).to(device)
    D = make_discriminator(args.disc, obs_dim, act_dim, normalizer, hidden=args.hidden).to(device)
    f = make_forward_model(args.model, obs_dim, act_dim, normalizer, delta_std, hidden=args.hidden).to(device)
    f.clip_actions = bool(args.f_clip) and not discrete
    # Learning rates: Adam's usual 1e-3 for all three by default (the authors used
    # 1e-4 for the policy, with gradients accumulated over 7 trajectories of 10 steps).
    opt_pi = torch.optim.Adam(policy.parameters(), lr=args.policy_lr)
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-3)
    opt_f = torch.optim.Adam(f.parameters(), lr=1e-3)
    buffer = ReplayBuffer(200_000, obs_dim, act_dim, f.history_len - 1, device)
    modules = {"policy": policy, "D": D, "f": f, "opt_pi": opt_pi, "opt_D": opt_D, "opt_f": opt_f}
    V = None  # --end-value 1: V, a slowly following copy V_target for its TD targets, and their Adam
    if args.end_value:
        V = EndValue(obs_dim, normalizer, args.gamma, args.fall_cost, hidden=args.hidden).to(device)
        V_target = copy.deepcopy(V).requires_grad_(False)
        modules.update(V=V, V_target=V_target, opt_V=torch.optim.Adam(V.parameters(), lr=1e-3))
    # The loop's own state: everything a checkpoint needs beyond the networks and the buffer.
    run = {"env_steps": 0, "iteration": 0, "next_eval": 0, "wall_before": 0.0, "history": [],
           "train_returns": [], "stats": {}}
    if ckpt is not None:
        for name, m in modules.items():
            m.load_state_dict(ckpt[name])
        buffer.load_state_dict(ckpt["buffer"])
        run = ckpt["run"]
        torch.set_rng_state(ckpt["torch_rng"])
        np.random.set_state(ckpt["numpy_rng"])
        print(f"resumed {args.out} at {run['env_steps']} env steps", flush=True)

    def save_checkpoint() -> None:
        """Everything needed to continue, written atomically (temporary file, then rename)."""
        state = {name: m.state_dict() for name, m in modules.items()}
        state.update(args={**vars(args), "resume": None}, buffer=buffer.state_dict(),
                     run={**run, "wall_before": wall()}, torch_rng=torch.get_rng_state(),
                     numpy_rng=np.random.get_state())
        expert.atomic_save(state, args.out / "checkpoint.pt")

    def wall() -> float:
        return run["wall_before"] + time.time() - t_start

    def evaluate(episodes: int, seed: int) -> tuple[float, float]:
        return expert.evaluate(policy_actor(policy, act_space, device), eval_env, episodes, seed)

    # Ctrl-C and SIGTERM finish the current iteration, then save and stop cleanly.
    stop = {"signal": None}
    previous_handlers = {sig: signal.signal(sig, lambda signum, _: stop.update(signal=signal.Signals(signum).name))
                         for sig in (signal.SIGINT, signal.SIGTERM)}

    B, T = args.num_envs, args.unroll
    # On resume, the interrupted episodes are not continued: the envs restart from
    # a seed that depends on the step count (the env-step count itself is exact).
    obs = tensor(envs.reset(seed=args.seed + run["env_steps"])[0])  # (B, obs_dim)
    context = obs.unsqueeze(1).repeat(1, f.history_len - 1, 1)  # (B, H-1, obs_dim)
    ep_return = np.zeros(B)
    recent_segments: list[Segment] = []  # the newest segments, for --policy-updates > 1
    # What tells whether learning works: the return, D's accuracy on each class
    # (both drift toward 0.5 as pi imitates), f's one-step error, pi's entropy.
    csv_file = open(args.out / "progress.csv", "w", newline="")
    log = csv.DictWriter(csv_file, ["env_steps", "wall_seconds", "eval_return_mean", "eval_return_std",
                                    "train_return", "d_acc_expert", "d_acc_policy", "model_error", "entropy", "J", "bc_loss", "phi_acc", "v_loss"])
    log.writeheader()
    log.writerows(run["history"])  # rows up to the checkpoint; later ones are redone
    tensorboard = make_tensorboard(args.out)
    last_print, last_checkpoint, save_seconds = 0.0, time.time(), 0.0

    if args.algo == "bc":  # the baseline: supervised learning on the expert pairs, no env steps
        run["stats"] = behavioural_cloning(policy, s_exp, a_exp, opt_pi)
        args.env_steps = 0
    elif args.bc_init > 0 and run["env_steps"] == 0:
        # Deviation from the paper (on for MountainCar-v0, Ant-v5 and Humanoid-v5): MGAIL starts from the BC policy
        # instead of a random one, so its first rollouts already move like the expert. BC
        # gets its own Adam at the BC baseline's rate (1e-3), whatever --policy-lr says.
        run["stats"] = behavioural_cloning(policy, s_exp, a_exp, torch.optim.Adam(policy.parameters(), lr=1e-3),
                                           steps=args.bc_init)
    while True:
        env_steps, stats = run["env_steps"], run["stats"]
        # --- Evaluation and logging (the deterministic policy, its own env).
        if env_steps >= run["next_eval"] or env_steps >= args.env_steps:  # and always at the end
            ret_mean, ret_std = evaluate(args.eval_episodes, seed=10_000 * args.seed + env_steps)
            row = {"env_steps": env_steps, "wall_seconds": round(wall(), 1),
                   "eval_return_mean": ret_mean, "eval_return_std": ret_std,
                   "train_return": float(np.mean(run["train_returns"][-20:])) if run["train_returns"] else None,
                   **stats}
            run["history"].append(row)
            log.writerow(row)
            csv_file.flush()
            if tensorboard:
                for k, v in row.items():
                    if k != "env_steps" and v is not None:
                        tensorboard.add_scalar(k, v, env_steps)
            run["next_eval"] += args.eval_every
            if time.time() - last_print > 3 or env_steps >= args.env_steps:
                last_print = time.time()
                print(f"steps {env_steps:>7d} | eval {ret_mean:7.1f} +- {ret_std:5.1f} | "
                      f"D acc exp {stats.get('d_acc_expert', 0):.2f} pol {stats.get('d_acc_policy', 0):.2f} | "
                      f"f err {stats.get('model_error', 0):.4f} | H(pi) {stats.get('entropy', 0):.2f} | "
                      f"{row['wall_seconds']:.0f}s", flush=True)
        if env_steps >= args.env_steps or stop["signal"]:
            break
        # A save writes the whole buffer (Humanoid-v5: 1.4 GB, 8-13 s on a 2-core machine), so the
        # next one waits at least 25 times as long as the last took: saves cost <= ~4% of the run.
        if time.time() - last_checkpoint > max(60 * args.checkpoint_minutes, 25 * save_seconds):
            t_save = time.time()
            save_checkpoint()
            last_checkpoint = time.time()
            save_seconds = last_checkpoint - t_save

        # --- Expert-state restarts (not in the paper; the authors' code does it, every 15
        # iterations a short rollout from a random expert state). With chance --restarts, an
        # env jumps to a random state of the demonstrations and the policy acts on from there,
        # so pi and D also see the states the expert reaches and pi does not yet. That
        # episode's return is not logged (it did not start from a reset).
        if args.restarts > 0:
            for i in np.flatnonzero(np.random.rand(B) < args.restarts):
                j = np.random.randint(len(s_exp))
                jump(envs.envs[i], demos["observations"][j])
                obs[i] = s_exp[j]  # the demo's observation (features such as contact forces included)
                context[i] = s_exp[j]
                ep_return[i] = np.nan

        # --- Algorithm 1: act in the real env with a = pi(s, xi; theta), keep xi.
        seg_s, seg_xi, seg_ctx, seg_done = [], [], [], []
        for t in range(T):
            xi = policy.sample_xi(B).to(device)  # (B, act_dim)
            # --noiseless-envs K (not in the paper; 4 for Humanoid-v5, else 0): the first K envs act with
            # xi = 0, i.e. mu_theta(s) or argmax pi, the policy that evaluation runs. Their
            # segments carry xi = 0 into J, so the policy step also sees where the noiseless
            # policy goes. (Humanoid-v5, seed 3: acting with its noise its final policy kept
            # 8 of 10 episodes whole, without it 3; benchmarks/NOTES.md.)
            xi[:args.noiseless_envs] = 0.0
            with torch.no_grad():
                a = policy(obs, xi)  # (B, act_dim): one-hot, or a Gaussian sample
            next_obs, reward, term, trunc, info = envs.step(to_env(a, act_space))
            done = np.logical_or(term, trunc)
            s_next = next_obs.copy()  # the true successor, also where an episode ended
            for i in np.flatnonzero(done):
                s_next[i] = info["final_obs"][i]
                if not np.isnan(ep_return[i]):  # (NaN: the episode had a restart)
                    run["train_returns"].append(float(ep_return[i] + reward[i]))
            ep_return = np.where(done, 0.0, ep_return + reward)
            # ... and push (s, a, s') into the buffer B.
            buffer.add(obs, a, tensor(s_next), context, torch.as_tensor(term, device=device))
            done = torch.as_tensor(done, device=device)
            seg_s.append(obs), seg_xi.append(xi), seg_ctx.append(context), seg_done.append(done)
            obs_new = tensor(next_obs)
            if context.shape[1] > 0:  # slide the window of past states; restart it at a new episode
                context = torch.cat([context[:, 1:], obs.unsqueeze(1)], dim=1)
                context[done] = obs_new[done].unsqueeze(1)
            obs = obs_new
        run["env_steps"] += B * T
        run["iteration"] += 1
        seg = Segment(torch.stack(seg_s), torch.stack(seg_xi), torch.stack(seg_ctx), torch.stack(seg_done),
                      s_end=tensor(s_next))

        # --- Algorithm 1: train the forward model f on B (one-step regression).
        for _ in range(args.model_updates):
            s, a, s_next, ctx = buffer.sample(128)
            loss_f = f.loss(s, a, ctx, s_next)
            opt_f.zero_grad()
            loss_f.backward()
            opt_f.step()

        # --- Algorithm 1: train D on B (recent policy pairs) against expert pairs.
        for _ in range(args.disc_updates):
            s_pi, a_pi, _, _ = buffer.sample(128, recent=4 * B * T)
            idx = torch.randint(0, len(s_exp), (128,), device=device)
            if args.disc == "factored":  # the phi-net's policy class: pi's own actions at the expert's states
                with torch.no_grad():
                    a_pi_at_exp = policy(s_exp[idx], policy.sample_xi(128).to(device))
                loss_D, d_stats = D.loss(s_pi, a_pi, s_exp[idx], a_exp[idx], args.grad_penalty, a_pi_at_exp)
            else:
                loss_D, d_stats = D.loss(s_pi, a_pi, s_exp[idx], a_exp[idx], args.grad_penalty)
            opt_D.zero_grad()
            loss_D.backward()
            opt_D.step()

        # --- Not in Algorithm 1 (--end-value 1): V by TD(0) on the buffer with the current D's
        # cost (mgail.EndValue), and V_target following it slowly (Polyak, 0.005 per step).
        loss_V, v_stats = torch.zeros(()), {}
        if V is not None:
            for _ in range(5):
                idx = buffer.indices(256)
                s, a, s_next, fell = buffer.s[idx], buffer.a[idx], buffer.s_next[idx], buffer.fell[idx]
                with torch.no_grad():
                    cost = D.policy_cost(s, a)
                loss_V = V.td_loss(V_target, cost, s, s_next, fell)
                modules["opt_V"].zero_grad()
                loss_V.backward()
                modules["opt_V"].step()
                with torch.no_grad():
                    for p, p_target in zip(V.parameters(), V_target.parameters()):
                        p_target.lerp_(p, 0.005)
            v_stats = {"v_loss": loss_V.item()}

        # --- Algorithm 1: J_theta by Eq. 12-13 along the segment just collected, then the step.
        # (Autograd through the unrolled graph gives exactly the recursion's J_theta: mgail.py.)
        # Deviation from the paper (which does not say): the policy's learning rate decays
        # linearly to 0 over the env-step budget. The adversarial game keeps moving the
        # policy; without the decay the return at the end of a run is one sample of an
        # oscillation (Hopper-v5: 3,125 at 220k env steps, 749 at 240k, one seed).
        if not args.constant_lr:
            for group in opt_pi.param_groups:
                group["lr"] = args.policy_lr * max(0.0, 1.0 - run["env_steps"] / args.env_steps)
        # With --policy-updates K > 1, K steps each take one of the K newest segments: the
        # older ones were collected by a slightly older policy, but their states are real
        # and the actions are recomputed at the current theta with the same xi.
        recent_segments = (recent_segments + [seg])[-args.policy_updates:]
        # --warmup W (not in the paper; the authors' code trains D alone for its first 1000
        # iterations): pi stays fixed for the first W env steps, while f and D learn enough
        # for their gradients to mean something; a BC start (--bc-init) is kept until then.
        J, grad_norm, anchor_stats = torch.zeros(()), torch.zeros(()), {}
        for k in range(args.policy_updates if run["env_steps"] > args.warmup else 0):
            update_seg = recent_segments[-1 - k % len(recent_segments)]
            J = policy_objective_unrolled(policy, f, D.policy_cost, update_seg, args.gamma, end_value=V)
            objective = J
            if args.bc_anchor > 0:
                # Deviation from the paper (--bc-anchor w, default 0): J + w * BC's loss on 256
                # expert pairs, which holds pi to the expert's actions at the expert's states.
                # Where D's cost hardly depends on the action (Ant-v5: one step of Adam's size
                # moves mu by 0.14 and D's cost by 0.04), J alone lets a BC start slide away;
                # states off the demonstrations are still left to J (benchmarks/NOTES.md).
                pairs = torch.randint(0, len(s_exp), (256,), device=device)
                anchor = bc_loss(policy, s_exp[pairs], a_exp[pairs])
                objective = J + args.bc_anchor * anchor
                anchor_stats = {"bc_loss": anchor.item()}
            grads = torch.autograd.grad(objective, list(policy.parameters()))
            for p, g in zip(policy.parameters(), grads):
                p.grad = g
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            opt_pi.step()
            if args.min_log_sigma is not None:  # continuous actions only (checked above)
                # --min-log-sigma (not in the paper): J's gradient shrinks sigma all run long
                # (Humanoid-v5: 0.61 -> 0.19). The floor keeps the acting noise from going below
                # it, in the hope that pi then learns to recover from perturbed states; on
                # Humanoid-v5 (-1.0) it did worse (benchmarks/NOTES.md).
                with torch.no_grad():
                    policy.log_sigma.clamp_(min=args.min_log_sigma)

        # A NaN or Inf stops the run, naming where it appeared; the last checkpoint is kept.
        for name, value in (("forward model f (loss)", loss_f), ("discriminator D (loss)", loss_D),
                            ("end value V (TD loss)", loss_V),
                            ("policy (J_theta)", grad_norm), ("policy (weights)", sum(p.sum() for p in policy.parameters()))):
            if not torch.isfinite(value):
                print(f"error: non-finite value in the {name} at iteration {run['iteration']} "
                      f"({run['env_steps']} env steps); the last good checkpoint is {args.out / 'checkpoint.pt'}",
                      file=sys.stderr)
                sys.exit(3)
        run["stats"] = {"J": J.item(), "model_error": loss_f.item(), "entropy": policy.entropy(seg.s[0]).item(),
                        **d_stats, **anchor_stats, **v_stats}

    # --- Final evaluation (or the results so far, if interrupted) and results.
    for sig, handler in previous_handlers.items():
        signal.signal(sig, handler)
    save_checkpoint()
    finished = run["env_steps"] >= args.env_steps
    ret_mean, ret_std = evaluate(args.final_episodes, seed=10_000 * args.seed + 999_999)
    history = run["history"]
    steps_to_95 = next((r["env_steps"] for r in history if r["eval_return_mean"] >= expert_95(expert_return)), None)
    results = {"env": args.env, "seed": args.seed, "env_steps": run["env_steps"],
               "wall_seconds": round(wall(), 1), "eval_return_mean": ret_mean,
               "eval_return_std": ret_std, "eval_episodes": args.final_episodes,
               "expert_return_mean": expert_return, "num_demos": int(len(demos["episode_returns"])),
               "steps_to_95": steps_to_95, "algo": args.algo, "model": args.model, "finished": finished}
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    torch.save({"policy": policy.state_dict(), "args": {**vars(args), "out": str(args.out)}}, args.out / "policy.pt")
    csv_file.close()
    if tensorboard:
        tensorboard.close()
    plot_learning_curve(history, expert_return, args.out / "learning_curve.png", f"{args.algo.upper()} on {args.env}, seed {args.seed}")
    if args.video:
        record_video(policy_actor(policy, act_space, device), args.env, args.out / "policy.gif", seed=args.seed,
                     obs_dims=args.obs_dims)
    if not finished:
        print(f"stopped by {stop['signal']} at {run['env_steps']} env steps; checkpoint saved. "
              f"Continue with: python train.py --resume {args.out}")
    print(f"done: {args.algo} {args.env} seed {args.seed} | return {ret_mean:.1f} +- {ret_std:.1f} over {args.final_episodes} "
          f"episodes (expert {expert_return:.1f}) | {run['env_steps']} env steps | steps_to_95 {steps_to_95} | "
          f"{results['wall_seconds']:.0f}s | {args.out}")
    return results


def behavioural_cloning(policy: Policy, s_exp: torch.Tensor, a_exp: torch.Tensor, opt: torch.optim.Optimizer,
                        steps: int = 5_000, batch: int = 256) -> dict[str, float]:
    """BC (Section 2.2): fit pi to the expert's pairs by supervised learning, on the same network.

    discrete:   cross-entropy of the expert's action under softmax(logits);
    continuous: squared error between mu(s) and the expert's action.
    5,000 Adam steps of 256 pairs: BC's training loss has flattened by then on these tasks.
    """
    for _ in range(steps):
        idx = torch.randint(0, len(s_exp), (batch,), device=s_exp.device)
        loss = bc_loss(policy, s_exp[idx], a_exp[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"bc_loss": loss.item()}


def bc_loss(policy: Policy, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """BC's loss on expert pairs: cross-entropy of the expert's actions (discrete), or the mean
    squared error between mu(s) and them (continuous)."""
    out = policy.head(s)
    if policy.discrete:
        return torch.nn.functional.cross_entropy(out, a.argmax(-1))
    return ((out - a) ** 2).mean()


def expert_95(expert_return: float) -> float:
    """95% of the expert's return; for negative returns, 95% of the way from 0 is 105% of it."""
    return expert_return - 0.05 * abs(expert_return)


if __name__ == "__main__":
    main()
