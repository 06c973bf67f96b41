"""Train MGAIL: Algorithm 1 of the paper, wired from the components of this project.

Paper: Baram, Anschel, Caspi, Mannor, "End-to-End Differentiable Adversarial
Imitation Learning", ICML 2017, Section 3.4, Algorithm 1.

    python train.py --env CartPole-v1             # this project's recipe
    python train.py --env CartPole-v1 --paper     # Algorithm 1 as written, every departure off

Algorithm 1, and the function here that does each line (`main` calls them in this order):

    for each iteration:
        act in the real env with a = pi(s, xi; theta),       collect_segment      Policy.forward  policy.py
          push (s, a, s') into the buffer B
        train the forward model f on B                       train_forward_model  ForwardModel.loss  forward_model.py
        train the discriminator D on B vs expert pairs       train_discriminator  Discriminator.loss discriminator.py
        J_theta by Eq. 12-13 along the real trajectory,      policy_step          policy_objective_unrolled  mgail.py
          and apply it to theta (Adam)
    (every --eval-every env steps: evaluate the deterministic policy)   evaluate_and_log

Every departure from the paper is one flag of the "departures" group of --help,
set in one place below (BASE, TASKS) and listed with its reason in README.md;
`--paper` sets each of them to the paper's value (PAPER). Two baselines train the
same policy network on the same demonstrations instead: `--algo gail`, against the
same D but with a model-free policy gradient (gail.py, `gail_policy_step`), and
`--algo bc`, behavioural cloning.

A run writes progress.csv (one row per evaluation), results.json, policy.pt
and checkpoint.pt into --out (default runs/<env>-seed<seed>).
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import gail
import watch
from cli import ArgumentParser, atomic_save, fail
from demonstrations import DemoError, expert_demos, load_demos
from discriminator import Discriminator, make_discriminator
from environments import make_envs, split_env_id, state_jumper
from evaluation import evaluate, policy_actor
from forward_model import ForwardModel, make_forward_model
from mgail import (EndValue, Segment, gradient_norm_by_unroll, longest_stable_unroll, policy_objective_unrolled,
                   split_segment, unroll_lengths)
from policy import Normalizer, Policy, from_env, to_env
from replay_buffer import ReplayBuffer

# ---------------------------------------------------------------------------
# Settings: one recipe for each kind of action space, the paper's values of the
# departures, and per-task entries
# ---------------------------------------------------------------------------

# The recipe of every task with continuous actions (the base one); every flag overrides it.
# The evidence for each value: benchmarks/NOTES.md, "One continuous recipe".
BASE = dict(
    # The budget and the data.
    env_steps=1_000_000,  # real env steps for training (evaluation excluded)
    num_demos=4,          # expert trajectories; the paper used 1000-step trajectories
    min_pairs=1000,       # and more of them while they hold fewer pairs: short episodes leave D and BC too few
    # The paper's hyper-parameters (Section 5 gives none but "two ReLU layers, Adam").
    num_envs=8,           # B parallel segments per iteration: Eq. 9's average over M samples
    unroll=32,            # T: steps of each segment; the policy step may unroll fewer (--adapt-unroll)
    gamma=0.99,           # discount of J(theta), as in the authors' code
    tau=3.0,              # Gumbel-Softmax temperature: a confident policy's gradient stays alive
    hidden=256,           # units per hidden layer of pi, D and f
    model="basic",        # Figure 4's simpler f: 2-4x faster, and the GRU's f broke Walker2d's BC start
    log_sigma=-2.0,       # sigma ~ 0.14: the first rollouts act like the BC start; the gradient needs no noise
    policy_lr=1e-3,       # Adam's usual rate (the authors: 1e-4, with 7 trajectories a step)
    model_updates=20,     # gradient steps on f per iteration
    disc_updates=5,       # gradient steps on D per iteration
    # The departures (each explained at its flag and in the README's table).
    cost="log", lr_decay=1, grad_clip=1.0, logit_bound=5.0, state_sigma=0, f_delta=1,
    grad_penalty=1.0,     # a slope of 1 in normalised units: without it D's cost cliffs and pi overshoots
    disc="joint", obs_clip=0.0, warmup=0, restarts=0.0, fall_cost=4.6, whole_demos=0,
    noiseless_envs=2,     # 2 of the 8 envs act as evaluation does: J also trains mu where mu alone goes
    obs_norm="joint",     # narrow demonstrations put pi's states tens of expert stds away
    bc_init=5_000,        # start from BC: the first rollouts already move like the expert
    bc_anchor=100.0,      # and stay near it: J alone moved policies that had reached the expert away
    end_value=1,          # a fall past T still reaches the policy step (a body falls over more than T' steps)
    adapt_unroll=1,       # T' from |J_theta|'s growth: the unroll f's Jacobians allow differs by task
    policy_avg=0.05,      # evaluate the average of pi's last 5% of iterates: the game's iterates circle the expert
    cut_episodes=1,       # episodes cut at random lengths: the late falls come at starts, now twice as frequent
    # Bookkeeping.
    eval_every=10_000,
)

# Every task with discrete actions: what differs from BASE. (The evidence: benchmarks/NOTES.md,
# "One recipe for the discrete tasks", and for the cut "The discrete tasks with the cut".)
DISCRETE = dict(
    hidden=64,               # states of 2-6 numbers need no more
    grad_penalty=0.0,        # in jointly normalised units a slope of 1 leaves D too flat to guide pi
    end_value=0,             # an ending is the goal in Acrobot and MountainCar, not a fall
    noiseless_envs=0,        # pi's entropy falls to ~0 from its BC start: every env already acts as the argmax does
    cut_episodes=0,          # no falls at the start to prevent here, and it helped no seed (measured)
)

# Algorithm 1 as the paper writes it: what --paper sets. Where the paper is silent,
# --paper keeps this project's choice (README, "Departures").
PAPER = dict(cost="D", lr_decay=0, grad_clip=0.0, logit_bound=0.0, state_sigma=1, f_delta=0,
             grad_penalty=0.0, disc="joint", obs_norm="expert", obs_clip=0.0, bc_init=0, warmup=0, bc_anchor=0.0,
             restarts=0.0, end_value=0, adapt_unroll=0, noiseless_envs=0, whole_demos=0, model="advanced",
             policy_avg=0.0, cut_episodes=0)

# Per task: only the budget, the demonstrations and bookkeeping.
TASKS = {
    "CartPole-v1": dict(
        env_steps=29_952,            # 117 iterations of B x T = 256 env steps: at most 30k
        eval_every=2_048),           # a short run: 15 evaluations, at a tenth of its time
    "Acrobot-v1": dict(env_steps=200_000),     # Table 1's budget
    "MountainCar-v0": dict(env_steps=200_000),  # Table 1's budget
    "Hopper-v5": dict(env_steps=300_000),       # Table 1's aim for reaching 95% of the expert
    "Walker2d-v5": dict(),                      # BASE's 1M
    "HalfCheetah-v5": dict(),                   # BASE's 1M
    # The untuned tasks: their budget.
    "Reacher-v5": dict(env_steps=200_000),
    "InvertedPendulum-v5": dict(env_steps=200_000),
    "InvertedDoublePendulum-v5": dict(env_steps=200_000),
    "Ant-v5": dict(env_steps=2_000_000, eval_every=20_000),       # Table 1's budget
    "Humanoid-v5": dict(env_steps=2_000_000, eval_every=20_000),  # Table 1's budget
}

# A checkpoint written before a switch existed ran without it: these values repeat what it did.
BEFORE_SWITCHES = dict(min_pairs=0, adapt_unroll=0, obs_norm="expert", cost="log", lr_decay=1, grad_clip=1.0,
                       logit_bound=5.0, state_sigma=0, f_delta=1,
                       bc_anchor=0.0, whole_demos=0, restarts=0.0, end_value=0, noiseless_envs=0, policy_avg=0.0,
                       cut_episodes=0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = ArgumentParser(description="MGAIL (Baram et al., ICML 2017): imitate an expert from its demonstrations. "
                                   "Defaults: BASE and TASKS in train.py.")
    g = p.add_argument_group("run")
    g.add_argument("--env", default="CartPole-v1", help="gymnasium env id, or module:EnvId for your own (default CartPole-v1)")
    g.add_argument("--algo", choices=["mgail", "gail", "bc"], default="mgail",
                   help="mgail; or a baseline on the same policy net, D and demonstrations: gail (a model-free "
                        "policy gradient, PPO; gail.py) or behavioural cloning")
    g.add_argument("--seed", type=int, default=1, help="seed of torch, numpy, the envs and the demonstrations")
    g.add_argument("--out", help="output folder (default runs/<env>-seed<seed>)")
    g.add_argument("--env-steps", type=int, help="budget of real env steps for training (per task)")
    g.add_argument("--num-demos", type=int, help="expert trajectories to imitate (per task)")
    g.add_argument("--min-pairs", type=int, help="more expert trajectories while they hold fewer state-action "
                   "pairs than this (0: exactly --num-demos)")
    g.add_argument("--demos", help="your own demonstrations instead of the shipped expert's: a .npz file, or "
                   "minari:<dataset id> for a Minari dataset on this disk (docs/demonstrations.md)")
    g.add_argument("--video", action="store_true", help="at the end, save one episode of the policy as <out>/policy.gif")
    g.add_argument("--resume", help="continue the interrupted run in this folder (its checkpoint.pt)")
    g.add_argument("--device", default="cpu", help="torch device; the networks are small, so cpu is usually fastest")

    g = p.add_argument_group("the paper's hyper-parameters")
    g.add_argument("--num-envs", type=int, help="B: parallel envs, one segment each per iteration")
    g.add_argument("--unroll", type=int, help="T: steps of each segment that the policy step unrolls (Eq. 12-13)")
    g.add_argument("--gamma", type=float, help="discount of J(theta) in Eq. 12-13")
    g.add_argument("--tau", type=float, help="Gumbel-Softmax temperature (Eq. 11), discrete actions")
    g.add_argument("--hidden", type=int, help="units per hidden layer of pi, D and f")
    g.add_argument("--model", choices=["basic", "advanced"], help="forward model of Figure 4")
    g.add_argument("--log-sigma", type=float, help="initial log sigma of the Gaussian policy (Eq. 9)")
    g.add_argument("--policy-lr", type=float, help="Adam learning rate of the policy")
    g.add_argument("--model-updates", type=int, help="forward-model gradient steps per iteration")
    g.add_argument("--disc-updates", type=int, help="discriminator gradient steps per iteration")

    g = p.add_argument_group("departures from the paper (README, 'Departures'; --paper turns all off)")
    g.add_argument("--paper", action="store_true", help="run Algorithm 1 as written: every departure below at "
                   "the paper's value, unless given explicitly too")
    g.add_argument("--cost", choices=["log", "D"], help="per-step cost of J: -log(1 - D) (log), or the paper's D")
    g.add_argument("--lr-decay", type=int, choices=[0, 1], help="1: the policy's learning rate decays linearly to 0")
    g.add_argument("--grad-clip", type=float, help="clip the norm of J_theta to this (0: no clipping)")
    g.add_argument("--logit-bound", type=float, help="discrete policies: logits = L tanh(out / L) (0: unbounded)")
    g.add_argument("--state-sigma", type=int, choices=[0, 1], help="1: sigma_theta(s) as the paper writes it; "
                   "0: one learned log sigma for all states")
    g.add_argument("--f-delta", type=int, choices=[0, 1], help="1: f predicts the change of state; 0: the next state")
    g.add_argument("--grad-penalty", type=float, help="weight of D's gradient penalty (0: none)")
    g.add_argument("--disc", choices=["joint", "factored"],
                   help="D as one network of (s, a), or as Eq. 6's two factors psi(s) and phi(s, a)")
    g.add_argument("--obs-norm", choices=["expert", "joint"],
                   help="state statistics of every network: the expert's (the authors'), or the expert's and "
                        "the buffer's together, updated each iteration")
    g.add_argument("--obs-clip", type=float, help="clip normalised states (and f's targets) to [-C, C] (0: none)")
    g.add_argument("--bc-init", type=int, help="start the policy from this many BC steps (0: a random start)")
    g.add_argument("--warmup", type=int, help="env steps at the start during which pi stays fixed while f and D learn")
    g.add_argument("--bc-anchor", type=float, help="w: the policy step minimises J + w * BC's loss on expert pairs")
    g.add_argument("--restarts", type=float, help="chance per env and iteration of jumping to a random expert state")
    g.add_argument("--end-value", type=int, choices=[0, 1],
                   help="1: J also counts gamma^T V(s_T), V learned by TD (mgail.EndValue)")
    g.add_argument("--fall-cost", type=float, help="with --end-value 1: cost per step, forever, of a fall "
                   "(default 4.6 = -log 0.01, the cost of a pair D is 99%% sure is the policy's)")
    g.add_argument("--adapt-unroll", type=int, choices=[0, 1], help="1: every 10 iterations, choose the unroll T' "
                   "(T, T/2, ..., 4) from how |J_theta| grows with it, and cut each segment into T/T' pieces")
    g.add_argument("--policy-avg", type=float, help="evaluate and save an exponential moving average of pi's "
                   "weights over this fraction of the budget's iterations (0: pi's last weights)")
    g.add_argument("--noiseless-envs", type=int, help="this many envs act with xi = 0, the policy evaluation runs")
    g.add_argument("--whole-demos", type=int, choices=[0, 1],
                   help="1: imitate only expert episodes that ran to the time limit (no falls)")
    g.add_argument("--cut-episodes", type=int, choices=[0, 1],
                   help="1: cut each training episode at a length drawn uniformly up to the time limit")

    g = p.add_argument_group("GAIL (--algo gail)")
    g.add_argument("--gail-reward", choices=["survival", "cost", "logit"], default="survival",
                   help="per-step reward: -log D (survival, >= 0, GAIL's own), -c = log(1 - D) (cost, <= 0), "
                        "or log(1 - D) - log D (logit, either sign); gail.py")

    g = p.add_argument_group("bookkeeping")
    g.add_argument("--eval-every", type=int, help="env steps between evaluations (per task)")
    g.add_argument("--eval-episodes", type=int, default=10, help="episodes per periodic evaluation")
    g.add_argument("--final-episodes", type=int, default=20, help="episodes of the final evaluation")
    g.add_argument("--checkpoint-minutes", type=float, default=2.0,
                   help="minutes between checkpoints, at least: after a save that took d seconds the next waits 25 d or more")
    args = p.parse_args(argv)
    if args.resume:
        return args  # the run's own arguments are read from its checkpoint (load_checkpoint)
    fall_cost_given = args.fall_cost is not None
    if args.demos and args.whole_demos:
        fail("--whole-demos 1 picks episodes of the shipped expert, and --demos replaces them: leave out one of the two")
    # Precedence: a flag given, then --paper or GAIL's settings, then the task's entry, then BASE.
    settings = task_settings(args.env)
    settings.update(PAPER if args.paper else {})
    if args.algo == "gail":
        settings.update(gail_settings(args.env))
    if args.demos:  # the user's own file is imitated as it is
        settings["whole_demos"] = 0
    for k, v in settings.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    check_args(args, fall_cost_given)
    args.out = Path(args.out or f"runs/{args.env.split(':')[-1]}-seed{args.seed}")
    return args


def task_settings(env_id: str) -> dict:
    """BASE, then DISCRETE for a task with discrete actions, then the task's own entry."""
    env = gym.make(split_env_id(env_id))
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    settings = {**BASE, **(DISCRETE if discrete else {}), **TASKS.get(env_id.split(":")[-1], {})}
    if not env.spec.max_episode_steps:  # the cut draws lengths up to the time limit: without one, no cut
        settings["cut_episodes"] = 0
    return settings


def gail_settings(env_id: str) -> dict:
    """--algo gail: PPO's rollouts and rate (gail.py), D trained on each rollout about once
    (batches of 128), and none of MGAIL's additions to its policy step; D, the demonstrations
    and the budget stay the task's."""
    space = gym.make(split_env_id(env_id)).action_space
    ppo = gail.ppo_settings(isinstance(space, gym.spaces.Discrete))
    return dict(num_envs=ppo["num_envs"], unroll=ppo["unroll"], policy_lr=ppo["policy_lr"],
                disc_updates=max(1, ppo["num_envs"] * ppo["unroll"] // 128), lr_decay=1, bc_init=0, warmup=0,
                bc_anchor=0.0, restarts=0.0, end_value=0, adapt_unroll=0, noiseless_envs=0, policy_avg=0.0,
                cut_episodes=0, log_sigma=-0.5)  # PPO learns from its own noise: it starts wider than MGAIL's BC start


def check_args(args: argparse.Namespace, fall_cost_given: bool) -> None:
    """One-line errors for settings that cannot run."""
    for k in ("env_steps", "num_demos", "num_envs", "unroll", "eval_every", "eval_episodes", "final_episodes"):
        if getattr(args, k) <= 0:
            fail(f"--{k.replace('_', '-')} must be positive, got {getattr(args, k)}")
    for k in ("min_pairs", "grad_clip", "logit_bound", "grad_penalty", "obs_clip", "bc_init", "warmup", "bc_anchor",
              "restarts", "policy_avg"):
        if getattr(args, k) < 0:
            fail(f"--{k.replace('_', '-')} must be 0 or more, got {getattr(args, k)}")
    if not 0 <= args.noiseless_envs < args.num_envs:
        fail(f"--noiseless-envs must be from 0 to --num-envs - 1 ({args.num_envs - 1}), got {args.noiseless_envs}: "
             f"at least one env acts with noise (with 2 envs or fewer, also give --noiseless-envs)")
    if fall_cost_given and not args.end_value:
        fail("--fall-cost is the cost of a fall in the end value's TD targets: add --end-value 1, or leave it out")


# ---------------------------------------------------------------------------
# The run: everything Algorithm 1 reads and writes
# ---------------------------------------------------------------------------

@dataclass
class Run:
    """The state of one training run. `progress` holds the loop's counters and log."""
    args: argparse.Namespace
    envs: gym.vector.VectorEnv
    eval_env: gym.Env
    eval_envs: list                  # eval_env and copies: the evaluation's episodes run side by side
    demos: dict                      # the demonstrations (demonstrations.py format)
    s_exp: torch.Tensor              # (N, obs_dim) expert states
    a_exp: torch.Tensor              # (N, act_dim) expert actions, one-hot or in [-1, 1]
    s_exp_next: torch.Tensor         # (N, obs_dim) the states that followed them
    policy: Policy
    D: Discriminator
    f: ForwardModel
    modules: dict                    # every network and optimiser, by its checkpoint name
    buffer: ReplayBuffer
    device: torch.device
    V: EndValue | None = None        # --end-value 1 only
    policy_avg: Policy | None = None  # --policy-avg: the average of pi's weights, which evaluation runs
    jump: object = None              # --restarts: puts an env into an observed state
    obs: torch.Tensor | None = None  # (B, obs_dim) the envs' current states
    context: torch.Tensor | None = None  # (B, H-1, obs_dim) the states before them, for f
    ep_return: np.ndarray | None = None  # (B,) returns of the episodes under way
    ep_steps: np.ndarray | None = None   # (B,) --cut-episodes: steps of the episodes under way
    ep_cut: np.ndarray | None = None     # (B,) --cut-episodes: the length at which each is cut
    t_start: float = field(default_factory=time.time)
    progress: dict = field(default_factory=lambda: {"env_steps": 0, "iteration": 0, "next_eval": 0, "wall_before": 0.0,
                                                    "history": [], "train_returns": [], "stats": {}})

    def tensor(self, x) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), dtype=torch.float32, device=self.device)

    def wall(self) -> float:
        return self.progress["wall_before"] + time.time() - self.t_start

    @property
    def evaluated(self) -> Policy:
        """The policy that evaluation runs and policy.pt holds: pi, or the average of its weights."""
        return self.policy if self.policy_avg is None else self.policy_avg

    def cost(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The per-step cost c(s, a) that J sums: the paper's D, or -log(1 - D) (--cost)."""
        return self.D.policy_cost(s, a) if self.args.cost == "log" else self.D(s, a)


def adam(params, lr: float) -> torch.optim.Optimizer:
    """Adam, updating all of a network's tensors in one batched call (foreach): the same numbers
    as the per-tensor loop torch picks on a CPU, in less time for these small networks."""
    return torch.optim.Adam(params, lr=lr, foreach=True)


def setup(args: argparse.Namespace, ckpt: dict | None) -> Run:
    """Seeds, envs, demonstrations, the networks and their optimisers, and the buffer."""
    # Seeding, in one place: torch (networks, xi), numpy, and the envs' reset seeds (below).
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(1)  # small nets: one thread is as fast, and never thrashes
    try:
        device = torch.device(args.device)
        torch.zeros(1, device=device)
    except (RuntimeError, AssertionError) as e:
        fail(f"--device {args.device} is not usable here ({str(e).splitlines()[0]}); use --device cpu")
    envs, eval_env = make_envs(args.env, args.num_envs)
    env_id = eval_env.spec.id  # args.env keeps a "module:" prefix, for --resume and enjoy.py
    act_space = envs.single_action_space
    jump = state_jumper(eval_env) if args.restarts > 0 else None
    if args.restarts > 0 and jump is None:
        fail(f"--restarts cannot set the state of {env_id} from an observation (it can for MuJoCo "
             f"locomotion and classic-control envs): use --restarts 0")
    if args.cut_episodes and not eval_env.spec.max_episode_steps:
        fail(f"--cut-episodes draws lengths up to the time limit, and {env_id} has none: use --cut-episodes 0")
    demos = expert_data(args, env_id, eval_env)
    modules = make_modules(args, demos, envs, device)
    # 200k transitions: the last few hundred iterations, so f is fitted to the states pi visits now.
    buffer = ReplayBuffer(200_000, envs.single_observation_space.shape[0], modules["policy"].act_dim,
                          modules["f"].history_len - 1, device)
    s_exp, a_exp, s_exp_next = (torch.as_tensor(x, dtype=torch.float32, device=device) for x in
                                (demos["observations"], from_env(demos["actions"], act_space),
                                 demos["next_observations"]))
    eval_envs = [eval_env] + [gym.make(env_id) for _ in range(args.eval_episodes - 1)]
    run = Run(args, envs, eval_env, eval_envs, demos, s_exp, a_exp, s_exp_next, modules["policy"], modules["D"],
              modules["f"], modules, buffer, device, V=modules.get("V"), jump=jump, policy_avg=modules.get("policy_avg"))
    if ckpt is not None:
        for name, m in modules.items():
            m.load_state_dict(ckpt[name])
        buffer.load_state_dict(ckpt["buffer"])
        run.progress = ckpt["run"]
        torch.set_rng_state(ckpt["torch_rng"])
        np.random.set_state(ckpt["numpy_rng"])
        print(f"resumed {args.out} at {run.progress['env_steps']} env steps", flush=True)
    # On resume, the interrupted episodes are not continued: the envs restart from
    # a seed that depends on the step count (the env-step count itself is exact).
    run.obs = run.tensor(envs.reset(seed=args.seed + run.progress["env_steps"])[0])  # (B, obs_dim)
    run.context = run.obs.unsqueeze(1).repeat(1, run.f.history_len - 1, 1)  # (B, H-1, obs_dim)
    run.ep_return = np.zeros(args.num_envs)
    if args.cut_episodes:
        run.ep_steps = np.zeros(args.num_envs, dtype=np.int64)
        run.ep_cut = cut_lengths(run, args.num_envs)
    return run


def expert_data(args: argparse.Namespace, env_id: str, eval_env: gym.Env) -> dict:
    """The expert's demonstrations: the shipped expert's, rolled out by seed, or the user's file."""
    # Deviation from the paper (--whole-demos 1): only the expert's episodes that ran to the time
    # limit, as BC and its anchor would imitate a fall too.
    try:
        path = args.demos or expert_demos(env_id, eval_env, args.num_demos, args.seed,
                                          whole=bool(args.whole_demos), min_pairs=args.min_pairs)
        demos = load_demos(path, eval_env)
    except DemoError as e:
        fail(str(e))
    print(f"{args.env}: {len(demos['episode_returns'])} expert trajectories, {len(demos['observations'])} pairs, "
          f"expert return {demos['episode_returns'].mean():.1f} +- {demos['episode_returns'].std():.1f}", flush=True)
    return demos


def make_modules(args: argparse.Namespace, demos: dict, envs, device: torch.device) -> dict:
    """pi, D and f (Section 4), the switches' extra networks, and one Adam for each learner;
    the checkpoint saves exactly these, by name."""
    act_space = envs.single_action_space
    discrete = isinstance(act_space, gym.spaces.Discrete)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = act_space.n if discrete else act_space.shape[0]
    # States are normalised with the expert data's statistics (--obs-norm joint updates them in place).
    normalizer = Normalizer(demos["observations"].mean(0), demos["observations"].std(0), clip=args.obs_clip)
    delta_std = (demos["next_observations"] - demos["observations"]).std(0)
    policy = Policy(obs_dim, act_dim, discrete, normalizer, hidden=args.hidden, tau=args.tau,
                    init_log_sigma=args.log_sigma, logit_bound=args.logit_bound,
                    state_sigma=bool(args.state_sigma)).to(device)
    D = make_discriminator(args.disc, obs_dim, act_dim, normalizer, hidden=args.hidden).to(device)
    f = make_forward_model(args.model, obs_dim, act_dim, normalizer, delta_std, hidden=args.hidden,
                           predict_change=bool(args.f_delta)).to(device)
    # Adam for all three: --policy-lr for pi, the usual 1e-3 for D and f.
    modules = {"policy": policy, "D": D, "f": f, "opt_pi": adam(policy.parameters(), args.policy_lr),
               "opt_D": adam(D.parameters(), 1e-3), "opt_f": adam(f.parameters(), 1e-3)}
    if args.end_value:  # V, a slowly following copy V_target for its TD targets, and their Adam
        V = EndValue(obs_dim, normalizer, args.gamma, args.fall_cost, hidden=args.hidden).to(device)
        V_target = copy.deepcopy(V).requires_grad_(False)
        V_target.normalizer = normalizer  # one set of state statistics, shared by every network
        modules.update(V=V, V_target=V_target, opt_V=adam(V.parameters(), 1e-3))
    if args.policy_avg > 0:  # a copy that follows pi's weights slowly (average_policy)
        policy_avg = copy.deepcopy(policy).requires_grad_(False)
        policy_avg.normalizer = normalizer  # one set of state statistics, as V_target
        modules["policy_avg"] = policy_avg
    if args.algo == "gail":  # the baseline V(s) of the score-function gradient, one Adam with pi (as CleanRL)
        value = gail.ValueNet(obs_dim, normalizer, args.hidden).to(device)
        modules.update(value=value, opt_pi=adam([*policy.parameters(), *value.parameters()], args.policy_lr))
    return modules


# ---------------------------------------------------------------------------
# Checkpoints: save, and resume with the run's own arguments
# ---------------------------------------------------------------------------

def save_checkpoint(run: Run) -> None:
    """Everything needed to continue, written atomically (temporary file, then rename)."""
    state = {name: m.state_dict() for name, m in run.modules.items()}
    state.update(args={**vars(run.args), "out": str(run.args.out), "resume": None}, buffer=run.buffer.state_dict(),
                 run={**run.progress, "wall_before": run.wall()}, torch_rng=torch.get_rng_state(),
                 numpy_rng=np.random.get_state())
    atomic_save(state, run.args.out / "checkpoint.pt")


def maybe_save_checkpoint(run: Run, saves: dict) -> None:
    """Every --checkpoint-minutes; a save writes the whole buffer, so the next one waits at
    least 25 times as long as the last took, and saves cost <= ~4% of the run."""
    if time.time() - saves["last"] > max(60 * run.args.checkpoint_minutes, 25 * saves["seconds"]):
        t_save = time.time()
        save_checkpoint(run)
        saves["last"] = time.time()
        saves["seconds"] = saves["last"] - t_save


def load_checkpoint(folder: str) -> tuple[argparse.Namespace, dict]:
    """The arguments and the state of an interrupted run."""
    try:
        ckpt = torch.load(Path(folder) / "checkpoint.pt", weights_only=False)
    except FileNotFoundError:
        fail(f"no checkpoint.pt in {folder}: was it written by train.py?")
    saved = ckpt["args"]
    gone = {"obs_dims": 0, "f_clip": 0, "min_log_sigma": None, "policy_updates": 1}  # flags since removed
    for k, neutral in gone.items():
        if saved.get(k, neutral) != neutral:
            fail(f"{folder} was trained with --{k.replace('_', '-')} {saved[k]}, which this train.py no longer has")
    settings = {**task_settings(saved["env"]), **BEFORE_SWITCHES}
    settings["disc"] = "factored" if any(k.startswith("psi_net") for k in ckpt["D"]) else "joint"
    if "constant_lr" in saved:
        settings["lr_decay"] = int(not saved["constant_lr"])
    args = {**settings, **{k: v for k, v in saved.items() if k not in gone and k != "constant_lr"}}
    args.update(out=Path(folder), resume=folder, paper=args.get("paper", False))
    return argparse.Namespace(**args), ckpt


# ---------------------------------------------------------------------------
# Algorithm 1, one named step each
# ---------------------------------------------------------------------------

def expert_state_restarts(run: Run) -> None:
    """Deviation from the paper (--restarts P): with chance P, an env jumps to a random state
    of the demonstrations and the policy acts on from there, so pi and D also see the states
    the expert reaches and pi does not yet (the authors' code does this every 15 iterations).
    That episode's return is not logged: it did not start from a reset. Its step counts (the
    env's time limit, and --cut-episodes's length) run on from before the jump, as a jump
    continues the episode rather than starting one."""
    for i in np.flatnonzero(np.random.rand(run.args.num_envs) < run.args.restarts):
        j = np.random.randint(len(run.s_exp))
        run.jump(run.envs.envs[i], run.demos["observations"][j])
        run.obs[i] = run.s_exp[j]  # the demo's observation (features such as contact forces included)
        run.context[i] = run.s_exp[j]
        run.ep_return[i] = np.nan


def collect_segment(run: Run) -> Segment:
    """Algorithm 1: act in the real env with a = pi(s, xi; theta) for T steps, keep xi,
    and push each (s, a, s') into the buffer B."""
    args, act_space = run.args, run.envs.single_action_space
    seg_s, seg_xi, seg_ctx, seg_done, seg_next, seg_fell = [], [], [], [], [], []
    for t in range(args.unroll):
        xi = run.policy.sample_xi(args.num_envs).to(run.device)  # (B, act_dim)
        # Deviation from the paper (--noiseless-envs K): the first K envs act with xi = 0, the
        # policy that evaluation runs, and carry xi = 0 into J, so the policy step also sees
        # the states the noiseless policy goes to.
        xi[:args.noiseless_envs] = 0.0
        with torch.no_grad():
            a = run.policy(run.obs, xi)  # (B, act_dim): one-hot, or a Gaussian sample
        next_obs, reward, term, trunc, info = run.envs.step(to_env(a, act_space))
        done = np.logical_or(term, trunc)
        s_next = next_obs.copy()  # the true successor, also where an episode ended
        for i in np.flatnonzero(done):
            s_next[i] = info["final_obs"][i]
            if not np.isnan(run.ep_return[i]):  # (NaN: the episode had a restart)
                run.progress["train_returns"].append(float(run.ep_return[i] + reward[i]))
        done = cut_episodes(run, next_obs, done)
        run.ep_return = np.where(done, 0.0, run.ep_return + reward)
        s_next, fell = run.tensor(s_next), torch.as_tensor(term, device=run.device)
        run.buffer.add(run.obs, a, s_next, run.context, fell)
        done = torch.as_tensor(done, device=run.device)
        seg_s.append(run.obs), seg_xi.append(xi), seg_ctx.append(run.context), seg_done.append(done)
        seg_next.append(s_next), seg_fell.append(fell)
        obs_new = run.tensor(next_obs)
        if run.context.shape[1] > 0:  # slide the window of past states; restart it at a new episode
            run.context = torch.cat([run.context[:, 1:], run.obs.unsqueeze(1)], dim=1)
            run.context[done] = obs_new[done].unsqueeze(1)
        run.obs = obs_new
    run.progress["env_steps"] += args.num_envs * args.unroll
    run.progress["iteration"] += 1
    # (T, B, ...) each; s_end is the real s_T after the last step
    return Segment(torch.stack(seg_s), torch.stack(seg_xi), torch.stack(seg_ctx), torch.stack(seg_done),
                   s_end=s_next, s_next=torch.stack(seg_next), fell=torch.stack(seg_fell))


def cut_episodes(run: Run, next_obs: np.ndarray, done: np.ndarray) -> np.ndarray:
    """Deviation from the paper (--cut-episodes 1): each training episode ends at a length L
    drawn uniformly from 1 to the env's time limit (the env restarts from a reset, and a new L
    is drawn). Late in a run, a policy at the expert's level meets a start once per time limit,
    and that is where it still falls (benchmarks/NOTES.md, "Where the late falls happen"):
    cut, an episode's first steps are twice as frequent in B. D still draws the expert's pairs
    uniformly, so its expert class keeps the demonstrations' time profile while its policy
    class has more starts: D then learns that a body standing still near a start is the
    policy's, not the expert's. (Weighting the expert's pairs to the cut profile instead made
    a barely-moving body the largest share of the expert class, and a policy that stood still
    fooled D.) The envs cut get their new first observation in next_obs (in place); the result
    is `done` with them marked. A cut is not a fall: the end value bootstraps past it, and its
    return is not logged, as the episode did not end by itself."""
    if not run.args.cut_episodes:
        return done
    run.ep_steps += 1
    cut = (run.ep_steps >= run.ep_cut) & ~done
    for i in np.flatnonzero(cut):
        next_obs[i] = run.envs.envs[i].reset()[0]
    done = done | cut
    run.ep_steps[done] = 0
    run.ep_cut[done] = cut_lengths(run, int(done.sum()))
    return done


def cut_lengths(run: Run, n: int) -> np.ndarray:
    """--cut-episodes 1: n episode lengths, uniform from 1 to the env's time limit."""
    return np.random.randint(1, run.eval_env.spec.max_episode_steps + 1, n)


def update_normalizer(run: Run) -> None:
    """Deviation from the paper (--obs-norm joint): every network normalises states with the
    statistics of the expert's states and the buffer's together, each set weighted 1/2 as D
    weighs its two classes. With the expert's alone, narrow demonstrations (a controller that
    holds a pole within 0.01 rad) put the policy's states tens of stds away, where D separates
    the classes by any slope and f's inputs are out of scale; the mixture spans both."""
    def mixture(x_exp: torch.Tensor, x_pi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        var_e, mean_e = torch.var_mean(x_exp, dim=0, correction=0)
        var_p, mean_p = torch.var_mean(x_pi, dim=0, correction=0)
        return 0.5 * (mean_e + mean_p), (0.5 * (var_e + var_p) + 0.25 * (mean_e - mean_p) ** 2).sqrt()

    n = run.buffer.size
    mean, std = mixture(run.s_exp, run.buffer.s[:n])
    run.policy.normalizer.set_stats(mean, std)
    # f's scale of a change of state, likewise: the expert's changes and the policy's
    _, delta_std = mixture(run.s_exp_next - run.s_exp, run.buffer.s_next[:n] - run.buffer.s[:n])
    run.f.delta_std.copy_(torch.where(delta_std < 1e-6, torch.ones_like(delta_std), delta_std))


def train_forward_model(run: Run) -> torch.Tensor:
    """Algorithm 1: train the forward model f on B (one-step regression, batches of 128)."""
    for _ in range(run.args.model_updates):
        s, a, s_next, ctx = run.buffer.sample(128)
        loss_f = run.f.loss(s, a, ctx, s_next)
        run.modules["opt_f"].zero_grad()
        loss_f.backward()
        run.modules["opt_f"].step()
    return loss_f


def train_discriminator(run: Run) -> tuple[torch.Tensor, dict]:
    """Algorithm 1: train D on B against expert pairs, 128 of each; the policy's pairs are
    the 4 newest iterations', so D judges the current policy."""
    args = run.args
    for _ in range(args.disc_updates):
        s_pi, a_pi, _, _ = run.buffer.sample(128, recent=4 * args.num_envs * args.unroll)
        idx = torch.randint(0, len(run.s_exp), (128,), device=run.device)
        if args.disc == "factored":  # the phi-net's policy class: pi's own actions at the expert's states
            with torch.no_grad():
                a_pi_at_exp = run.policy(run.s_exp[idx], run.policy.sample_xi(128).to(run.device))
            loss_D, d_stats = run.D.loss(s_pi, a_pi, run.s_exp[idx], run.a_exp[idx], args.grad_penalty, a_pi_at_exp)
        else:
            loss_D, d_stats = run.D.loss(s_pi, a_pi, run.s_exp[idx], run.a_exp[idx], args.grad_penalty)
        run.modules["opt_D"].zero_grad()
        loss_D.backward()
        run.modules["opt_D"].step()
    return loss_D, d_stats


def train_end_value(run: Run) -> tuple[torch.Tensor, dict]:
    """Deviation from the paper (--end-value 1): V by TD(0) on B with the current cost
    (mgail.EndValue), 5 steps of 256 transitions, and V_target following it slowly
    (Polyak, 0.005 per step), as in DDPG/SAC critics."""
    V, V_target, opt_V = run.V, run.modules["V_target"], run.modules["opt_V"]
    for _ in range(5):
        idx = run.buffer.indices(256)
        s, a, s_next, fell = run.buffer.s[idx], run.buffer.a[idx], run.buffer.s_next[idx], run.buffer.fell[idx]
        with torch.no_grad():
            cost = run.cost(s, a)
        loss_V = V.td_loss(V_target, cost, s, s_next, fell)
        opt_V.zero_grad()
        loss_V.backward()
        opt_V.step()
        with torch.no_grad():
            for p, p_target in zip(V.parameters(), V_target.parameters()):
                p_target.lerp_(p, 0.005)
    return loss_V, {"v_loss": loss_V.item()}


def policy_step(run: Run, seg: Segment) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Algorithm 1: J_theta by Eq. 12-13 along the segment just collected, and one Adam step.

    Autograd through the unrolled graph gives exactly the recursion's J_theta (mgail.py).
    Returns J, the norm of J_theta, and its stats: BC's loss with an anchor, T' with --adapt-unroll.
    """
    args, policy, opt_pi = run.args, run.policy, run.modules["opt_pi"]
    # Deviation from the paper (--lr-decay 1): the policy's learning rate decays linearly to 0
    # over the budget. The adversarial game keeps moving the policy; without the decay the
    # return at the end of a run is one sample of an oscillation.
    if args.lr_decay:
        for group in opt_pi.param_groups:
            group["lr"] = args.policy_lr * max(0.0, 1.0 - run.progress["env_steps"] / args.env_steps)
    # Deviation from the paper (--warmup W): pi stays fixed for the first W env steps, while f
    # and D learn enough for their gradients to mean something (the authors' code trains D
    # alone at first); a BC start is kept until then.
    if run.progress["env_steps"] <= args.warmup:
        return torch.zeros(()), torch.zeros(()), {}
    step_stats = {}
    if args.adapt_unroll:
        # Deviation from the paper (--adapt-unroll 1): J over T'-step pieces of the segment,
        # each from its own real first state and ended by V, with T' from |J_theta|'s growth.
        step_stats["unroll"] = choose_unroll(run, seg)
        seg = split_segment(seg, step_stats["unroll"])
    J = policy_objective_unrolled(policy, run.f, run.cost, seg, args.gamma, end_value=run.V)
    objective = J
    if args.bc_anchor > 0:
        # Deviation from the paper (--bc-anchor w): J + w * BC's loss on 256 expert pairs holds pi
        # to the expert's actions at the expert's states, where D's cost may hardly depend on the
        # action; the states off the demonstrations are still left to J.
        pairs = torch.randint(0, len(run.s_exp), (256,), device=run.device)
        anchor = bc_loss(policy, run.s_exp[pairs], run.a_exp[pairs])
        objective = J + args.bc_anchor * anchor
        step_stats["bc_loss"] = anchor.item()
    grads = torch.autograd.grad(objective, list(policy.parameters()))
    for p, g in zip(policy.parameters(), grads):
        p.grad = g
    # Deviation from the paper (--grad-clip 1): the norm of J_theta is clipped, since the
    # product of f's Jacobians over T steps can blow up (the authors clip element-wise).
    grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), args.grad_clip or float("inf"))
    opt_pi.step()
    return J, grad_norm, step_stats


def average_policy(run: Run) -> None:
    """Deviation from the paper (--policy-avg F): evaluation runs an exponential moving average of
    pi's weights, theta_avg <- theta_avg + r (theta - theta_avg), r = 1 / (F x the budget's
    iterations). Training is unchanged. In a GAN's game the iterates circle an equilibrium
    rather than settle on it, and their average sits nearer (Yazici et al., ICLR 2019); here
    single policies now and then fall where their neighbours in time do not."""
    args = run.args
    rate = 1.0 / max(1.0, args.policy_avg * args.env_steps / (args.num_envs * args.unroll))
    with torch.no_grad():
        for p_avg, p in zip(run.policy_avg.parameters(), run.policy.parameters()):
            p_avg.lerp_(p, rate)


def choose_unroll(run: Run, seg: Segment) -> int:
    """--adapt-unroll 1: T' by `longest_stable_unroll` (mgail.py), from |J_theta| measured on this
    segment every 10 iterations. One segment's measurement is noisy, so the rule reads an
    exponential average of their logarithms (0.3 on each new one): T' follows the growth, not
    the segment."""
    progress, lengths = run.progress, unroll_lengths(seg.s.shape[0])
    if "unroll" not in progress or progress["iteration"] % 10 == 0:
        norms = gradient_norm_by_unroll(run.policy, run.f, run.cost, seg, run.args.gamma, run.V)
        logs = [float(np.log(max(n, 1e-30))) for n in norms]
        old = progress.get("unroll_log_norms")
        if old is not None and len(old) == len(logs):
            logs = [0.7 * o + 0.3 * n for o, n in zip(old, logs)]
        progress["unroll_log_norms"] = logs
        progress["unroll"] = longest_stable_unroll(lengths, [float(np.exp(x)) for x in logs])
    return progress["unroll"]


def gail_policy_step(run: Run, seg: Segment) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """--algo gail: the model-free policy step. Rewards from the current D, advantages by GAE,
    then PPO's clipped score-function gradient (gail.py), for pi and its baseline V together.
    Returns PPO's last policy loss (twice: as J and for the finiteness check) and its stats."""
    args, policy, value = run.args, run.policy, run.modules["value"]
    cfg = gail.ppo_settings(policy.discrete)
    if args.lr_decay:  # PPO anneals its rate to 0 over the budget, as --lr-decay does
        for group in run.modules["opt_pi"].param_groups:
            group["lr"] = args.policy_lr * max(0.0, 1.0 - run.progress["env_steps"] / args.env_steps)
    T, B = seg.s.shape[:2]
    s = seg.s.flatten(0, 1)  # (T * B, obs_dim), step t of env i in row t * B + i
    with torch.no_grad():
        a = policy(s, seg.xi.flatten(0, 1))  # the actions taken, recomputed at the same xi
        logp_old = gail.log_prob(policy, s, a)
        reward = gail.gail_reward(run.D, s, a, args.gail_reward).view(T, B)
        v, v_next = value(s).view(T, B), value(seg.s_next.flatten(0, 1)).view(T, B)
        advantages, returns = gail.gae(reward, v, v_next, seg.fell, seg.done, args.gamma, cfg["gae_lambda"])
    stats = gail.ppo_update(policy, value, run.modules["opt_pi"], s, a, logp_old, advantages.flatten(),
                            returns.flatten(), v.flatten(), cfg)
    J = torch.tensor(stats.pop("J"))
    return J, J, {**stats, "reward": reward.mean().item()}


def evaluate_and_log(run: Run, log: csv.DictWriter, csv_file, tensorboard, last_print: float) -> float:
    """Evaluate the deterministic policy (argmax / mu; with --policy-avg, of the averaged
    weights) in its own env, and log one row: the return, D's accuracy on each class (both
    drift toward 0.5 as pi imitates), f's one-step error, pi's entropy. Returns the time of
    the last printed line."""
    args, progress = run.args, run.progress
    env_steps, stats = progress["env_steps"], progress["stats"]
    act = policy_actor(run.evaluated, run.envs.single_action_space, run.device)
    ret_mean, ret_std = evaluate(act, run.eval_envs, args.eval_episodes, seed=10_000 * args.seed + env_steps)
    train_returns = progress["train_returns"]
    row = {"env_steps": env_steps, "wall_seconds": round(run.wall(), 1),
           "eval_return_mean": ret_mean, "eval_return_std": ret_std,
           "train_return": float(np.mean(train_returns[-20:])) if train_returns else None, **stats}
    progress["history"].append(row)
    log.writerow(row)
    csv_file.flush()
    if tensorboard:
        for k, v in row.items():
            if k != "env_steps" and v is not None:
                tensorboard.add_scalar(k, v, env_steps)
    progress["next_eval"] += args.eval_every
    if time.time() - last_print > 3 or env_steps >= args.env_steps:
        last_print = time.time()
        print(f"steps {env_steps:>7d} | eval {ret_mean:7.1f} +- {ret_std:5.1f} | "
              f"D acc exp {stats.get('d_acc_expert', 0):.2f} pol {stats.get('d_acc_policy', 0):.2f} | "
              + (f"f err {stats.get('model_error', 0):.4f}" if args.algo != "gail" else f"reward {stats.get('reward', 0):.3f}")
              + f" | H(pi) {stats.get('entropy', 0):.2f} | "
              f"{row['wall_seconds']:.0f}s", flush=True)
    return last_print


def check_finite(run: Run, values: dict[str, torch.Tensor]) -> None:
    """A NaN or Inf stops the run with exit code 3, naming where it appeared; the last checkpoint is kept."""
    for name, value in values.items():
        if not torch.isfinite(value):
            print(f"error: non-finite value in the {name} at iteration {run.progress['iteration']} "
                  f"({run.progress['env_steps']} env steps); the last good checkpoint is "
                  f"{run.args.out / 'checkpoint.pt'}", file=sys.stderr)
            sys.exit(3)


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    args, ckpt = load_checkpoint(args.resume) if args.resume else (args, None)
    run = setup(args, ckpt)
    log, csv_file, tensorboard = open_logs(run)
    stop = catch_stop_signals()
    start_policy(run)
    last_print, saves = 0.0, {"last": time.time(), "seconds": 0.0}
    mgail_step = args.algo == "mgail"
    while True:
        if run.progress["env_steps"] >= min(run.progress["next_eval"], args.env_steps):  # and always at the end
            last_print = evaluate_and_log(run, log, csv_file, tensorboard, last_print)
        if run.progress["env_steps"] >= args.env_steps or stop["signal"]:
            break
        maybe_save_checkpoint(run, saves)

        # One iteration of Algorithm 1 (the departures' steps are marked as such)
        if args.restarts > 0:
            expert_state_restarts(run)                                      # departure (--restarts)
        seg = collect_segment(run)                                          # act in the real env; push into B
        if args.obs_norm == "joint":
            update_normalizer(run)                                          # departure (--obs-norm)
        loss_f = train_forward_model(run) if mgail_step else torch.zeros(())  # train f on B
        loss_D, d_stats = train_discriminator(run)                          # train D on B vs the expert's pairs
        loss_V, v_stats = train_end_value(run) if run.V is not None else (torch.zeros(()), {})  # departure
        J, grad_norm, step_stats = (policy_step if mgail_step else gail_policy_step)(run, seg)  # Eq. 12-13; step
        if run.policy_avg is not None:
            average_policy(run)                                             # departure (--policy-avg)

        check_finite(run, {"forward model f (loss)": loss_f, "discriminator D (loss)": loss_D,
                           "end value V (TD loss)": loss_V, "policy (J_theta)": grad_norm,
                           "policy (weights)": sum(p.sum() for p in run.policy.parameters())})
        run.progress["stats"] = {"J": J.item(), **({"model_error": loss_f.item()} if mgail_step else {}),
                                 "entropy": run.policy.entropy(seg.s[0]).item(), **d_stats, **step_stats, **v_stats}
    for sig, handler in stop["previous"].items():
        signal.signal(sig, handler)
    csv_file.close()
    if tensorboard:
        tensorboard.close()
    return final_report(run, stop["signal"])


def open_logs(run: Run):
    """progress.csv (rows up to a checkpoint are kept; later ones are redone) and TensorBoard."""
    args = run.args
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        csv_file = open(args.out / "progress.csv", "w", newline="")
    except OSError as e:
        fail(f"cannot write to --out {args.out}: {e.strerror}; choose a writable folder")
    log = csv.DictWriter(csv_file, ["env_steps", "wall_seconds", "eval_return_mean", "eval_return_std", "train_return",
                                    "d_acc_expert", "d_acc_policy", "model_error", "entropy", "J", "bc_loss",
                                    "phi_acc", "v_loss", "unroll"] + (["reward", "clip_frac"] if args.algo == "gail" else []))
    log.writeheader()
    log.writerows(run.progress["history"])
    return log, csv_file, watch.make_tensorboard(args.out)


def catch_stop_signals() -> dict:
    """Ctrl-C and SIGTERM finish the current iteration, then save and stop cleanly."""
    stop = {"signal": None}
    stop["previous"] = {sig: signal.signal(sig, lambda signum, _: stop.update(signal=signal.Signals(signum).name))
                        for sig in (signal.SIGINT, signal.SIGTERM)}
    return stop


def start_policy(run: Run) -> None:
    """--algo bc: the whole baseline, no env steps. Deviation from the paper (--bc-init N): MGAIL
    starts from the BC policy instead of a random one, so its first rollouts already move like
    the expert."""
    if run.args.algo == "bc":
        run.progress["stats"] = behavioural_cloning(run.policy, run.s_exp, run.a_exp, run.modules["opt_pi"])
        run.args.env_steps = 0
    elif run.args.bc_init > 0 and run.progress["env_steps"] == 0:
        # BC gets its own Adam at the BC baseline's rate (1e-3), whatever --policy-lr says.
        run.progress["stats"] = behavioural_cloning(run.policy, run.s_exp, run.a_exp,
                                                    adam(run.policy.parameters(), 1e-3),
                                                    steps=run.args.bc_init)
    if run.policy_avg is not None and run.progress["env_steps"] == 0:
        run.policy_avg.load_state_dict(run.policy.state_dict())  # the average starts where pi does


def final_report(run: Run, stopped_by: str | None) -> dict:
    """The final evaluation (or the results so far, if interrupted): results.json, policy.pt, the curve."""
    args, history = run.args, run.progress["history"]
    save_checkpoint(run)
    finished = run.progress["env_steps"] >= args.env_steps
    act = policy_actor(run.evaluated, run.envs.single_action_space, run.device)
    ret_mean, ret_std = evaluate(act, run.eval_envs, args.final_episodes, seed=10_000 * args.seed + 999_999)
    expert_return = float(run.demos["episode_returns"].mean())
    steps_to_95 = next((r["env_steps"] for r in history if r["eval_return_mean"] >= expert_95(expert_return)), None)
    results = {"env": args.env, "seed": args.seed, "env_steps": run.progress["env_steps"],
               "wall_seconds": round(run.wall(), 1), "eval_return_mean": ret_mean,
               "eval_return_std": ret_std, "eval_episodes": args.final_episodes,
               "expert_return_mean": expert_return, "num_demos": int(len(run.demos["episode_returns"])),
               "steps_to_95": steps_to_95, "algo": args.algo, "model": args.model, "finished": finished}
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    torch.save({"policy": run.evaluated.state_dict(), "args": {**vars(args), "out": str(args.out)}}, args.out / "policy.pt")
    watch.plot_learning_curve(history, expert_return, args.out / "learning_curve.png",
                              f"{args.algo.upper()} on {args.env}, seed {args.seed}")
    if args.video:
        watch.record_video(act, args.env, args.out / "policy.gif", seed=args.seed)
    if not finished:
        print(f"stopped by {stopped_by} at {run.progress['env_steps']} env steps; checkpoint saved. "
              f"Continue with: python train.py --resume {args.out}")
    print(f"done: {args.algo} {args.env} seed {args.seed} | return {ret_mean:.1f} +- {ret_std:.1f} over "
          f"{args.final_episodes} episodes (expert {expert_return:.1f}) | {run.progress['env_steps']} env steps | "
          f"steps_to_95 {steps_to_95} | {results['wall_seconds']:.0f}s | {args.out}")
    return results


# ---------------------------------------------------------------------------
# Behavioural cloning: the baseline, and the BC start and anchor
# ---------------------------------------------------------------------------

def behavioural_cloning(policy: Policy, s_exp: torch.Tensor, a_exp: torch.Tensor, opt: torch.optim.Optimizer,
                        steps: int = 5_000, batch: int = 256) -> dict[str, float]:
    """BC (Section 2.2): fit pi to the expert's pairs by supervised learning, on the same network.
    5,000 Adam steps of 256 pairs: BC's training loss has flattened by then on these tasks."""
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
