"""The paper's claim as a number: the variance of MGAIL's path-wise gradient against REINFORCE's.

    python benchmarks/gradient_variance.py runs/CartPole-v1-seed1
    python benchmarks/gradient_variance.py runs/Hopper-v5-seed1 --unrolls 1 4 16 32 --samples 4 16

Both estimate the gradient of the same objective, the one train.py's policy step
follows (mgail.policy_objective_unrolled): J(theta) = E[ sum_{t<T} gamma^t c(s_t, a_t) ],
c = D's per-step cost, over T real steps from a given start state.

  (a) path-wise (Eq. 12-13, mgail.py): autograd through the reparameterised or
      Gumbel-Softmax action, D, and the learned model's Jacobians f_s, f_a;
  (b) REINFORCE (Eq. 3, gail.py): sum_t grad log pi(a_t|s_t) (G_t - b_t), G_t the
      discounted cost from t on, and b_t the leave-one-out mean of G_t over the other
      samples from the same start state: the best baseline that stays unbiased without
      a learned critic (it depends on t and the start state, not on the action taken).

Each estimate averages N sampled trajectories from each of K start states, real
states from the run's replay buffer, where the envs are put (as the expert-state
restarts do) and then stepped for real. Repeated over R independent noise draws,
each estimator gives R gradients: their variance is the trace of their covariance.
A reference gradient, REINFORCE over many more samples (unbiased for the real
dynamics), measures how far each lands from the truth (cosine). The path-wise
gradient is biased where f is wrong and, for discrete actions, by the
straight-through estimator; the cosine and the norms of the two references
(each over the same many trajectories) show that bias. Where the two means
differ in size (the straight-through gradient of a discrete policy is
smaller than the true one), the last column compares each estimator's
variance relative to its own mean's squared norm, a ratio free of that scale.

Used for: the README's "the variance claim" numbers.
"""
from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gail  # noqa: E402
from cli import ArgumentParser, fail  # noqa: E402
from environments import state_jumper  # noqa: E402
from mgail import Segment, policy_objective_unrolled  # noqa: E402
from policy import to_env  # noqa: E402
from probe import load_run  # noqa: E402


def rollouts(policy, f, env_id: str, starts: torch.Tensor, contexts: torch.Tensor, T: int) -> Segment:
    """One trajectory of T real steps from each start state, in its own env; a Segment (T, M, ...)."""
    M = len(starts)
    envs = gym.make_vec(env_id, M, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    envs.reset(seed=0)
    jump = state_jumper(gym.make(env_id))
    for i in range(M):
        jump(envs.envs[i], starts[i].numpy())
    s, context = starts.clone(), contexts.clone()
    S, XI, CTX, DONE = [], [], [], []
    for _ in range(T):
        xi = policy.sample_xi(M)
        with torch.no_grad():
            a = policy(s, xi)
        obs, _, term, trunc, _ = envs.step(to_env(a, envs.single_action_space))
        done = torch.as_tensor(np.logical_or(term, trunc))
        S.append(s), XI.append(xi), CTX.append(context), DONE.append(done)
        s_new = torch.as_tensor(obs, dtype=torch.float32)
        if context.shape[1] > 0:
            context = torch.cat([context[:, 1:], s.unsqueeze(1)], dim=1)
            context[done] = s_new[done].unsqueeze(1)
        s = s_new
    envs.close()
    return Segment(torch.stack(S), torch.stack(XI), torch.stack(CTX), torch.stack(DONE))


def pathwise(policy, f, cost, seg: Segment, gamma: float) -> torch.Tensor:
    """(a) Eq. 12-13 by autograd through the unrolled graph, flattened."""
    J = policy_objective_unrolled(policy, f, cost, seg, gamma)
    return flat(torch.autograd.grad(J, list(policy.parameters()), allow_unused=True), policy)


def reinforce(policy, cost, seg: Segment, gamma: float, n_per_start: int) -> torch.Tensor:
    """(b) Eq. 3 with the leave-one-out baseline per start state and step, flattened."""
    T, M = seg.s.shape[:2]
    s, xi = seg.s.flatten(0, 1), seg.xi.flatten(0, 1)
    with torch.no_grad():
        a = policy(s, xi)
        c = cost(s, a).view(T, M) * gamma ** torch.arange(T, dtype=torch.float32).unsqueeze(1)  # gamma^t c_t
        G = c.flip(0).cumsum(0).flip(0)  # (T, M): sum_{t' >= t} gamma^t' c_t'
        g = G.view(T, M // n_per_start, n_per_start)  # samples of one start state side by side
        baseline = (g.sum(-1, keepdim=True) - g) / (n_per_start - 1)  # the mean of the others
        weight = (g - baseline).view(T * M)
    # J = mean over trajectories of sum_t gamma^t c_t: mean over rows of log pi * weight, times T
    surrogate = gail.score_function_surrogate(policy, s, a, weight) * T
    return flat(torch.autograd.grad(surrogate, list(policy.parameters()), allow_unused=True), policy)


def flat(grads, policy) -> torch.Tensor:
    return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for g, p in zip(grads, policy.parameters())])


def cosine(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(x, y, dim=0))


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description="Variance of MGAIL's path-wise policy gradient against REINFORCE's, on a train.py run.")
    p.add_argument("run", help="a train.py output folder with checkpoint.pt (an MGAIL run)")
    p.add_argument("--unrolls", type=int, nargs="+", default=[1, 4, 16, 32], help="T values")
    p.add_argument("--samples", type=int, nargs="+", default=[4, 16], help="N: trajectories per start state")
    p.add_argument("--starts", type=int, default=8, help="K: start states from the replay buffer")
    p.add_argument("--repeats", type=int, default=30, help="R: independent noise draws per estimator")
    p.add_argument("--reference", type=int, default=512, help="trajectories per start state of the reference")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if min(a.unrolls) < 1 or min(a.samples) < 2 or a.starts < 1 or a.repeats < 2 or a.reference < 2:
        fail("--unrolls >= 1, --samples >= 2 (the baseline leaves one out), --starts >= 1, --repeats >= 2")
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    args, env_id, _, policy, D, f = load_run(Path(a.run))
    if state_jumper(gym.make(env_id)) is None:
        fail(f"cannot set {env_id}'s state from an observation, so trajectories cannot share start states")
    cost = D.policy_cost if args.get("cost", "log") == "log" else D
    buf = args["buffer"]
    pick = torch.randperm(buf["size"])[:a.starts]
    starts, contexts = buf["s"][pick], buf["context"][pick]
    print(f"{env_id} ({a.run}): K = {a.starts} start states from the buffer, R = {a.repeats} draws, "
          f"reference REINFORCE over {a.reference} trajectories per start state, gamma = {args['gamma']}")
    print(f"{'T':>3} {'N':>4} | {'var path-wise':>13} {'var REINFORCE':>13} {'ratio':>8} | "
          f"{'cos(path-wise, ref)':>19} {'cos(REINFORCE, ref)':>19} | {'cos(path-wise ref, ref)':>23} "
          f"{'|ref|':>9} {'|path-wise ref|':>15} | {'ratio of var/|ref|^2':>20}")
    for T in a.unrolls:
        ref_seg = rollouts(policy, f, env_id, starts.repeat_interleave(a.reference, 0),
                           contexts.repeat_interleave(a.reference, 0), T)
        ref = reinforce(policy, cost, ref_seg, args["gamma"], a.reference)
        ref_pw = pathwise(policy, f, cost, ref_seg, args["gamma"])
        for N in a.samples:
            est = {"pw": [], "rf": []}
            for _ in range(a.repeats):
                seg = rollouts(policy, f, env_id, starts.repeat_interleave(N, 0), contexts.repeat_interleave(N, 0), T)
                est["pw"].append(pathwise(policy, f, cost, seg, args["gamma"]))
                est["rf"].append(reinforce(policy, cost, seg, args["gamma"], N))
            G = {k: torch.stack(v) for k, v in est.items()}  # (R, params)
            var = {k: float(g.var(0).sum()) for k, g in G.items()}  # trace of the covariance
            cos = {k: float(np.mean([cosine(g, ref) for g in G[k]])) for k in G}
            print(f"{T:>3} {N:>4} | {var['pw']:>13.4g} {var['rf']:>13.4g} {var['rf'] / var['pw']:>8.3g} | "
                  f"{cos['pw']:>19.3f} {cos['rf']:>19.3f} | {cosine(ref_pw, ref):>23.3f} "
                  f"{float(ref.norm()):>9.4g} {float(ref_pw.norm()):>15.4g} | "
                  f"{(var['rf'] / ref.norm() ** 2) / (var['pw'] / ref_pw.norm() ** 2):>20.3g}", flush=True)


if __name__ == "__main__":
    main()
