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
policy's distance from the expert's actions at the expert's states, and whether
D's action gradient there points from the policy's action toward the expert's.
How much D's cost c depends on the action at all: c on the expert's pairs,
and on the expert's states with the expert's actions shuffled among them; for
continuous actions also c after moving the expert's action 1 and 10 units
along -grad_a c. A cost that barely changes under the shuffle, and keeps
falling far outside [-1, 1], is a slope the policy's mean can slide down
without end: D's action gradient then says nothing about the expert.

For discrete actions, also which action D rates cheapest at each of the
expert's states, against the expert's own choice there.

Then where the imitation falls short: the policy and the expert, both
deterministic, from the same 10 start states (env.reset(seed=100 + i)), with
the returns side by side; for discrete actions also the expert's states where
the policy picks another action. (Skipped when the env has no expert here.)

Last, how far back the forward model's gradient can be trusted: the norm of
J_theta (Eq. 13) over segments of T = 1, 2, 4, ..., 64 steps of the policy's
own noisy rollouts. Each extra step adds one cost term, reached through every
action before it, so a healthy norm grows at most like T^2; a norm that grows
by orders of magnitude means the products of the model's Jacobians f_s
(Eq. 12) explode, and the policy step, whose gradient is clipped to norm 1,
follows the explosion instead of D. The unroll should stay where the growth is
still tame (`--adapt-unroll 1` keeps it there by the same measurement, during
training).

And (continuous actions) what the policy step itself does: k = 1 and 3 steps of
Adam's size (the run's learning rate per weight) along J_theta at the run's T,
against the opposite direction and a random one that moves mu as far. For
each: how far mu moves at the expert's states, how much D's cost c changes
there, and the return from the same 10 starts. A step that moves mu far
beyond the policy's distance from the expert while c hardly changes, and
whose return falls as much as the random one's, is a step that D's gradient
cannot guide (the Ant notes).
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cli import ArgumentParser, fail  # noqa: E402
from demonstrations import DemoError, expert_demos, load_demos  # noqa: E402
from discriminator import Discriminator, make_discriminator  # noqa: E402
from environments import split_env_id  # noqa: E402
from evaluation import policy_actor, rollout  # noqa: E402
from expert_policies import load_expert  # noqa: E402
from forward_model import make_forward_model  # noqa: E402
from mgail import Segment, gradient_norm_by_unroll, policy_objective_unrolled  # noqa: E402
from policy import Normalizer, Policy, from_env, to_env  # noqa: E402


def policy_windows(policy: Policy, f, env_id: str, batch: int = 8, warmup: int = 100, t_max: int = 64,
                   seed: int = 100) -> Segment:
    """A Segment of t_max steps of `batch` noisy rollouts of the policy, as train.py collects them.

    The rollouts first run `warmup` steps (to leave the start state behind); an
    episode that ends inside the window is cut there, as in training.
    """
    envs = [gym.make(env_id) for _ in range(batch)]
    obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)])
    space = envs[0].action_space
    states, noise, done = [], [], []
    ended = np.zeros(batch, bool)
    for t in range(warmup + t_max):
        s, xi = torch.as_tensor(obs, dtype=torch.float32), policy.sample_xi(batch)
        with torch.no_grad():
            a = to_env(policy(s, xi), space)
        steps = [e.step(a[i]) for i, e in enumerate(envs)]
        end = np.array([out[2] or out[3] for out in steps])
        if t >= warmup:
            states.append(s), noise.append(xi), done.append(torch.as_tensor(end | ended))
            ended |= end
        next_obs = np.stack([out[0] for out in steps])
        for i in np.flatnonzero(end):  # reset; inside the window `ended` cuts this row's gradient from here on
            next_obs[i] = envs[i].reset()[0]
        obs = next_obs
    S, XI, DONE = torch.stack(states), torch.stack(noise), torch.stack(done)
    # f's past states: the real ones before s_t, the first repeated at the window's start
    H = f.history_len - 1
    padded = torch.cat([S[:1].repeat(H, 1, 1), S]) if H > 0 else S
    context = torch.stack([padded[t:t + H].transpose(0, 1) for t in range(len(S))]) if H > 0 \
        else torch.zeros(len(S), batch, 0, S.shape[-1])
    return Segment(S, XI, context, DONE)


def policy_gradient(policy: Policy, f, D: Discriminator, seg: Segment, T: int, gamma: float,
                    start: int = 0) -> list[torch.Tensor]:
    """J_theta (Eq. 13) over steps start .. start + T - 1 of `seg`, one tensor per policy parameter."""
    w = slice(start, start + T)
    cut = Segment(seg.s[w], seg.xi[w], seg.context[w], seg.done[w])
    J = policy_objective_unrolled(policy, f, D.policy_cost, cut, gamma)
    return list(torch.autograd.grad(J, list(policy.parameters())))


def gradient_growth(policy: Policy, f, D: Discriminator, seg: Segment, gamma: float) -> list[tuple[int, float]]:
    """[(T, |J_theta| over the first T steps of seg)] for T = 1, 2, 4, ... up to seg's length:
    the measurement train.py's --adapt-unroll makes, over longer and shorter unrolls."""
    lengths = [2 ** k for k in range(seg.s.shape[0].bit_length())]
    return list(zip(lengths, gradient_norm_by_unroll(policy, f, D.policy_cost, seg, gamma, lengths=lengths)))


def adam_sized_step(policy: Policy, direction: list[torch.Tensor], size: float) -> Policy:
    """A copy of the policy with theta - size * sign(direction): `size` = k x the learning rate is
    k steps of Adam along a direction that stays the same (Adam's update m / sqrt(v) is then
    sign(g) per weight, whatever the gradient's magnitude)."""
    moved = copy.deepcopy(policy)
    with torch.no_grad():
        for p, d in zip(moved.parameters(), direction):
            p -= size * d.sign()
    return moved


def policy_step_test(policy: Policy, D: Discriminator, grad: list[torch.Tensor], lr: float,
                     s_exp: torch.Tensor, returns=None, steps: tuple[int, ...] = (1, 3)) -> list[dict]:
    """What k Adam steps along J_theta do: to mu and D's cost c at the expert's states, and to the return.

    Rows for the directions -J_theta (the policy step), +J_theta, and a random sign
    direction scaled to move mu as far as the policy step does (so that it tells whether
    it is the direction that matters, or only how far mu moves). `returns(policy)`, when
    given, is the mean return from fixed starts.
    """
    mu0 = policy.mode(s_exp)
    c0 = D.policy_cost(s_exp, mu0)
    shift = lambda pol: (pol.mode(s_exp) - mu0).abs().mean().item()  # noqa: E731  mean |delta mu|
    g = torch.Generator().manual_seed(0)
    rand = [torch.randn(p.shape, generator=g) for p in grad]
    rows = []
    for k in steps:
        along = adam_sized_step(policy, grad, k * lr)
        # the random direction's size: linear in mu for small steps, so one rescale matches |delta mu|
        scale = shift(along) / max(shift(adam_sized_step(policy, rand, k * lr)), 1e-12)
        for name, moved in (("along -J_theta", along), ("along +J_theta", adam_sized_step(policy, [-x for x in grad], k * lr)),
                            ("random, same |dmu|", adam_sized_step(policy, rand, scale * k * lr))):
            rows.append({"k": k, "direction": name, "dmu": shift(moved),
                         "dc": (D.policy_cost(s_exp, moved.mode(s_exp)) - c0).mean().item(),
                         "return": returns(moved) if returns is not None else None})
    return rows


def cost_action_gradient(D: Discriminator, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """grad_a c(s, a) per row, c = D.policy_cost (rows are independent, so the sum's gradient)."""
    with torch.enable_grad():
        x = a.detach().requires_grad_(True)
        (c_a,) = torch.autograd.grad(D.policy_cost(s, x).sum(), x)
    return c_a


def action_gradient_cosine(D: Discriminator, s: torch.Tensor, mu: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """cos(-grad_a c(s, mu), target - mu) per state: 1 where the policy step on mu (along
    -grad_a c, c = D.policy_cost) heads straight for the target action."""
    return torch.nn.functional.cosine_similarity(-cost_action_gradient(D, s, mu), target - mu, dim=-1)


def action_sensitivity(D: Discriminator, s: torch.Tensor, a: torch.Tensor, discrete: bool) -> dict[str, float]:
    """Mean c = D.policy_cost at the pairs (s, a), with the actions shuffled among the states,
    and (continuous) after moving each action 1 and 10 units along -grad_a c (unit direction
    per state)."""
    g = torch.Generator().manual_seed(0)
    out = {"c": D.policy_cost(s, a).mean().item(),
           "shuffled": D.policy_cost(s, a[torch.randperm(len(a), generator=g)]).mean().item()}
    if not discrete:
        c_a = cost_action_gradient(D, s, a)
        u = -c_a / c_a.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        out["down_1"] = D.policy_cost(s, a + u).mean().item()
        out["down_10"] = D.policy_cost(s, a + 10 * u).mean().item()
    return out


def start_returns(policy: Policy, env: gym.Env, space: gym.Space, episodes: int = 10) -> np.ndarray:
    """Returns of the deterministic policy from the fixed starts env.reset(seed=100 + i)."""
    return rollout(policy_actor(policy, space), env, episodes, seed=100)["episode_returns"]


def same_starts(policy: Policy, expert_act, env: gym.Env, space: gym.Space, s_exp: torch.Tensor,
                a_exp: torch.Tensor, episodes: int = 10) -> None:
    """Print the policy's and the expert's returns from the same start states, and (discrete
    actions) the expert's states where the policy acts otherwise: the rare decisions it missed."""
    # Both start episode i from env.reset(seed=100 + i), so row i compares like with like.
    ret_pi = start_returns(policy, env, space, episodes)
    ret_exp = rollout(expert_act, env, episodes, seed=100)["episode_returns"]
    print(f"policy against expert from the same {episodes} starts: {ret_pi.mean():.1f} against {ret_exp.mean():.1f}")
    for i in np.argsort(ret_pi - ret_exp)[:3]:  # the starts where the policy loses most
        print(f"  start {i}: policy {ret_pi[i]:.1f}, expert {ret_exp[i]:.1f}")
    if isinstance(space, gym.spaces.Discrete):
        differ = (policy.mode(s_exp).argmax(-1) != a_exp.argmax(-1)).nonzero().flatten()
        print(f"  the expert's states where the policy acts otherwise ({len(differ)} of {len(s_exp)}):")
        for j in differ[:8].tolist():
            state = ", ".join(f"{x:.4f}" for x in s_exp[j].tolist())
            print(f"    s = ({state}): expert {int(a_exp[j].argmax())}, "
                  f"policy {int(policy.mode(s_exp[j:j + 1]).argmax())}")


def load_run(run_dir: Path) -> tuple[dict, str, dict, Policy, Discriminator, torch.nn.Module]:
    """A train.py run's arguments, env id, demonstrations and its policy, D and f, from checkpoint.pt;
    a one-line error if there is none."""
    if not (run_dir / "checkpoint.pt").exists():
        fail(f"no checkpoint.pt in {run_dir}: give the output folder of a train.py run")
    ck = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    args = ck["args"]
    env_id = split_env_id(args["env"])
    env = gym.make(env_id)
    space = env.action_space
    discrete = isinstance(space, gym.spaces.Discrete)
    try:
        demo_path = args.get("demos") or expert_demos(env_id, env, args["num_demos"], args["seed"],
                                                      whole=bool(args.get("whole_demos", 0)),
                                                      min_pairs=args.get("min_pairs", 0))
        demos = load_demos(demo_path, env)
    except DemoError as e:
        fail(str(e))
    normalizer = Normalizer(demos["observations"].mean(0), demos["observations"].std(0), clip=args.get("obs_clip", 0.0))
    obs_dim, act_dim = env.observation_space.shape[0], (space.n if discrete else space.shape[0])
    policy = Policy(obs_dim, act_dim, discrete, normalizer, hidden=args["hidden"], tau=args["tau"],
                    logit_bound=args.get("logit_bound", 5.0), state_sigma=bool(args.get("state_sigma", 0)))
    policy.load_state_dict(ck["policy"])
    D = make_discriminator(args.get("disc", "joint"), obs_dim, act_dim, normalizer, hidden=args["hidden"])
    D.load_state_dict(ck["D"])
    delta_std = (demos["next_observations"] - demos["observations"]).std(0)
    f = make_forward_model(args["model"], obs_dim, act_dim, normalizer, delta_std, hidden=args["hidden"],
                           predict_change=bool(args.get("f_delta", 1)))
    f.load_state_dict(ck["f"])
    # The unroll its policy step took last: --adapt-unroll chooses it during the run.
    unroll = ck["run"].get("unroll", args["unroll"]) if args.get("adapt_unroll") else args["unroll"]
    return {**args, "buffer": ck["buffer"], "unroll_used": unroll}, env_id, demos, policy, D, f


@torch.no_grad()
def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description="What D looks at, and how the policy gradient grows with T, for a train.py run.")
    p.add_argument("run", help="a train.py output folder with checkpoint.pt")
    run_dir = Path(p.parse_args(argv).run)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # the networks' (overwritten) initial draws and the policy's noise below: the same every call
    args, env_id, demos, policy, D, f = load_run(run_dir)
    env = gym.make(env_id)
    space = env.action_space
    discrete = isinstance(space, gym.spaces.Discrete)
    act_dim = space.n if discrete else space.shape[0]

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
    mu_exp = policy.mode(s_exp)  # the policy's actions at the expert's states
    expert_act = load_expert(env_id, env)  # None: no expert here (a run on the user's own --demos)
    print(f"{args['env']}: one episode of {len(s_pi)} steps; D = p(policy | s, a)")
    print(f"  D(policy's states, its actions)        {D(s_pi, mu).mean():.3f}")
    if not discrete:
        print(f"  D(policy's states, its actions clipped) {D(s_pi, mu.clamp(-1, 1)).mean():.3f}")
    print(f"  D(expert's states, expert's actions)   {D(s_exp, a_exp).mean():.3f}")
    print(f"  D(expert's states, policy's actions)   {D(s_exp, mu_exp).mean():.3f}")
    sens = action_sensitivity(D, s_exp, a_exp, discrete)
    print(f"  D's cost c at the expert's pairs {sens['c']:.3f}; with their actions shuffled {sens['shuffled']:.3f}"
          + (f"; moved along -grad_a c by 1: {sens['down_1']:.3f}, by 10: {sens['down_10']:.3f}" if not discrete else ""))
    if discrete:
        agree = (mu_exp.argmax(-1) == a_exp.argmax(-1)).float().mean()
        print(f"  policy picks the expert's action in {agree:.1%} of the expert's states")
        # D's cost of each action at every expert state: an action the expert seldom takes
        # and the policy seldom tries is one D has little data on, and may rate as the expert's.
        costs = [D.policy_cost(s_exp, torch.eye(act_dim)[k].expand(len(s_exp), -1)) for k in range(act_dim)]
        cheapest = torch.stack(costs, dim=-1).argmin(-1)
        print(f"  at the expert's states, action k is: the expert's "
              f"{[f'{x:.0%}' for x in a_exp.mean(0).tolist()]}, D's cheapest "
              f"{[f'{x:.0%}' for x in torch.eye(act_dim)[cheapest].mean(0).tolist()]}, D's mean cost "
              f"{[round(c.mean().item(), 3) for c in costs]}; D's cheapest is the expert's action in "
              f"{(cheapest == a_exp.argmax(-1)).float().mean():.1%} of them")
    else:
        print(f"  log sigma {[round(float(x), 2) for x in policy.log_sigma_at(s_pi).reshape(-1, act_dim).mean(0)]}")
        print(f"  policy mean |mu| {mu.abs().mean():.2f}, outside [-1, 1]: {(mu.abs() > 1).float().mean():.1%} "
              f"of components, mean excess {(mu.abs() - 1).clamp(min=0).mean():.3f}, max |mu| {mu.abs().max():.2f}")
        print(f"  expert mean |a| {a_exp.abs().mean():.2f}, |a| > 0.9: {(a_exp.abs() > 0.9).float().mean():.1%}")
        print(f"  mean |mu - a_expert| at the expert's states {(mu_exp - a_exp).abs().mean():.3f}")
        # Does D's action gradient point the policy toward the expert's action? At the expert's
        # states, against the expert's actions there ...
        cos = action_gradient_cosine(D, s_exp, mu_exp, a_exp)
        print(f"  cos(-grad_a c, a_expert - mu) at the expert's states: mean {cos.mean():.2f}, "
              f"> 0 in {(cos > 0).float().mean():.0%} (1: D's action gradient points at the expert's action)")
        if expert_act is not None:  # ... and at the policy's own states, where the policy step is taken
            cos = action_gradient_cosine(D, s_pi, mu, torch.as_tensor(expert_act(s_pi.numpy()), dtype=torch.float32))
            print(f"  cos(-grad_a c, expert's action - mu) at the policy's states: mean {cos.mean():.2f}, "
                  f"> 0 in {(cos > 0).float().mean():.0%}")
    if expert_act is None:
        print(f"  (no expert for {args['env']} here: no side-by-side returns)")
    else:
        same_starts(policy, expert_act, env, space, s_exp, a_exp)
    with torch.enable_grad():
        seg = policy_windows(policy, f, env_id)
        growth = gradient_growth(policy, f, D, seg, args["gamma"])
    print(f"|J_theta| over segments of T steps (policy's noisy rollouts; growth up to T^2 is healthy, "
          f"the run used T = {args['unroll_used']}):")
    for T, norm in growth:
        print(f"  T = {T:2d}   |J_theta| = {norm:.4g}   ({norm / growth[0][1]:.3g} x T = 1)")
    if discrete:
        return
    # One policy step, as train.py takes it: J_theta at the run's unroll T (the mean over the
    # windows' consecutive T-step pieces), applied at the run's base learning rate.
    T = min(args["unroll_used"], len(seg.s))
    with torch.enable_grad():
        pieces = [policy_gradient(policy, f, D, seg, T, args["gamma"], start) for start in range(0, len(seg.s) - T + 1, T)]
    grad = [torch.stack(g).mean(0) for g in zip(*pieces)]
    returns = lambda pol: float(start_returns(pol, env, space).mean())  # noqa: E731
    print(f"k policy steps of Adam's size ({args['policy_lr']:g} per weight) along J_theta at T = {T}: how far "
          f"mu moves at the expert's states, how much that changes D's cost c there, and the return from the same 10 starts ({returns(policy):.1f} before)")
    for row in policy_step_test(policy, D, grad, args["policy_lr"], s_exp, returns):
        print(f"  k = {row['k']}  {row['direction']:19s} |dmu| {row['dmu']:.3f}   dc {row['dc']:+.3f}   "
              f"return {row['return']:.1f}")


if __name__ == "__main__":
    main()
