"""The policy step of MGAIL: the gradient of J(theta) through D, pi and the forward model.

Paper: Section 3.4 "MGAIL algorithm", Eq. 12-13 and the inner loop of Algorithm 1.

The policy minimises the discounted cost of a trajectory (the paper writes it
with c = D; see `Discriminator.policy_cost` for the c we use):

    J(theta) = E[ sum_{t=0}^{T-1} gamma^t c(s_t, a_t) ],   a_t = pi(s_t, xi_t; theta),
                                                          s_{t+1} = f(s_t, a_t).

Its gradient, following Heess et al. (2015, "SVG"), is a backward recursion
over the trajectory, evaluated at the noise xi_t that produced each action:

    Eq. 12:  J_s     = c_s + c_a pi_s + gamma J'_s' (f_s + f_a pi_s)
    Eq. 13:  J_theta = c_a pi_theta + gamma (J'_s' f_a pi_theta + J'_theta)

applied for t = T-1 down to 0, starting from J'_s' = 0, J'_theta = 0 (or, with a
learned value V at the segment's end, J'_s' = V_s(s_T); see `EndValue`). J_s is
how the future cost changes with the state; the term gamma J'_s' f_a pi_theta
is where "visit states the expert visits" (psi_s, inside c_s) reaches theta.

Where the trajectory comes from. Algorithm 1 samples a trajectory in the real
environment and evaluates the recursion along it, "at xi_t" (Figure 3 draws the
same graph with the model in the forward pass). As in Algorithm 1 and the
authors' code, the states s_t here are the ones the environment produced when
the policy acted with noise xi_t; the model f supplies only its Jacobians
f_s, f_a. In autograd this is one line, "value from reality, gradient from
the model":

    s_{t+1} = f(s_t, a_t) + stop_gradient(s_real_{t+1} - f(s_t, a_t))

whose value is s_real_{t+1} and whose derivative is f's. A model error then
only bends the gradient; it never makes the policy learn from imagined states.

Two implementations of the same gradient live here:

* `policy_gradient_recursion`: Eq. 12-13 written out, term by term, with
  vector-Jacobian products. Readable; the reference.
* `policy_objective_unrolled`: the unrolled graph of J(theta) with the
  value-from-reality rule; one `backward()` gives the same J_theta. train.py
  uses it: one backward pass instead of three small ones per step, about 2x
  faster with the basic model (T=32, B=8 on this project's 2-core CPU: 15 ms
  against 35 ms); with the advanced model the GRU dominates and both take about
  the same. test_mgail.py checks the two against each other and against
  finite differences.

Used by: train.py (the policy step of Algorithm 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from policy import Normalizer, mlp

CostFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # c(s, a): (B, obs), (B, act) -> (B,)


@dataclass
class Segment:
    """T consecutive real steps of B environments, as collected by train.py.

    s:       (T, B, obs_dim)      the real states s_t
    xi:      (T, B, act_dim)      the noise used when acting at s_t
    context: (T, B, H-1, obs_dim) the H-1 real states before s_t (forward-model input)
    done:    (T, B) bool          the episode ended at step t, so s_{t+1} starts a new
                                  episode and no gradient flows from it to step t
    s_end:   (B, obs_dim)         the real s_T after the last step (the final state where
                                  an episode ended); read only with an end value V
    s_next:  (T, B, obs_dim)      the true successor of each s_t, also where an episode ended;
    fell:    (T, B) bool          ... and whether it ended there in a fall (read by GAIL's
                                  advantages, gail.py)
    """
    s: torch.Tensor
    xi: torch.Tensor
    context: torch.Tensor
    done: torch.Tensor
    s_end: torch.Tensor | None = None
    s_next: torch.Tensor | None = None
    fell: torch.Tensor | None = None


class EndValue(nn.Module):
    """V(s): the discounted cost still to come from s, the tail that J(theta) cuts off at T.

    Deviation from the paper (train.py --end-value 1): the paper's J
    stops at T, so its recursion starts from J'_s' = 0 and nothing after step T
    reaches theta. With V the objective becomes

        J(theta) = sum_{t=0}^{T-1} gamma^t c(s_t, a_t) + gamma^T V(s_T),

    and the recursion starts from J'_s' = V_s(s_T): SVG(infinity)'s unrolled
    recursion, ended by a learned value as SVG(1) uses one (Heess et al. 2015).
    V is learned by TD(0) on the buffer's real transitions, with the current c:

        V(s) <- c(s, a) + gamma V_target(s')           if the episode goes on,
        V(s) <- c(s, a) + gamma c_fall / (1 - gamma)   if it ended in a fall (terminated).

    The fall branch is the "absorbing state" of Kostrikov et al. (2019, DAC): with c >= 0
    and no cost after an ending, a fall would look cheap; here a fallen body costs
    c_fall at every step forever. A time-limit ending (truncated) bootstraps as usual.
    The output is scaled by 1/(1 - gamma), so the network's own output stays O(c).
    """

    def __init__(self, obs_dim: int, normalizer: Normalizer, gamma: float, fall_cost: float, hidden: int = 64):
        super().__init__()
        self.normalizer = normalizer
        self.net = mlp(obs_dim, [hidden, hidden], 1)
        self.gamma, self.fall_cost = gamma, fall_cost

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalizer(s)).squeeze(-1) / (1.0 - self.gamma)  # (B,)

    def td_loss(self, target_net: "EndValue", cost: torch.Tensor, s: torch.Tensor, s_next: torch.Tensor,
                fell: torch.Tensor) -> torch.Tensor:
        """Mean squared TD(0) error, scaled by (1 - gamma) so that it is in units of c."""
        with torch.no_grad():
            v_next = torch.where(fell, torch.full_like(cost, self.fall_cost / (1.0 - self.gamma)), target_net(s_next))
            # c = -log(1 - D) is unbounded as D -> 1; capped at c_fall, no state costs more per
            # step than having fallen, and V's targets stay below c_fall / (1 - gamma).
            y = cost.clamp(max=self.fall_cost) + self.gamma * v_next
        return (((self(s) - y) * (1.0 - self.gamma)) ** 2).mean()


def value_from_reality(s_model: torch.Tensor, s_real: torch.Tensor) -> torch.Tensor:
    """Value of s_real, gradient of s_model: s_model + stop_gradient(s_real - s_model)."""
    return s_model + (s_real - s_model).detach()


def policy_objective_unrolled(policy, f, cost_fn: CostFn, seg: Segment, gamma: float,
                              end_value: EndValue | None = None) -> torch.Tensor:
    """J(theta) = mean over the B rows of sum_t gamma^t c(s_t, a_t), as one differentiable graph
    (+ gamma^T V(s_T) with an end value, on rows whose episode did not end at the last step).

    `J.backward()` puts Eq. 13's J_theta (at t = 0) into the policy's .grad.
    """
    T = seg.s.shape[0]
    s = seg.s[0]  # s_0 is given by the environment: it does not depend on theta
    J = torch.zeros(s.shape[0], dtype=s.dtype)
    for t in range(T):
        a = policy(s, seg.xi[t])  # a_t = pi(s_t, xi_t; theta), (B, act_dim)
        J = J + gamma ** t * cost_fn(s, a)
        if t + 1 < T:
            # Deviation from the paper (which does not say): the context (earlier
            # states, for the GRU) enters as fixed input; only s_t carries a gradient,
            # so the recursion stays first-order, as Eq. 12 is written.
            s_next = value_from_reality(f(s, a, seg.context[t]), seg.s[t + 1])
            # Where an episode ended, s_{t+1} is a reset state: no path back to step t.
            s = torch.where(seg.done[t].unsqueeze(-1), seg.s[t + 1], s_next)
        elif end_value is not None:
            # gamma^T V(s_T), s_T again real in value and f's in gradient. Where the episode
            # ended at the last step, the tail is a reset (or a fall's constant): left out.
            s_T = value_from_reality(f(s, a, seg.context[t]), seg.s_end)
            J = J + gamma ** T * torch.where(seg.done[t], torch.zeros_like(J), end_value(s_T))
    return J.mean()


def policy_gradient_recursion(policy, f, cost_fn: CostFn, seg: Segment, gamma: float,
                              end_value: EndValue | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Eq. 12-13 applied for t = T-1 .. 0 with explicit vector-Jacobian products.

    Returns (J_theta, J_s0): J_theta, one tensor per policy parameter, is the
    gradient of `policy_objective_unrolled`; J_s0 (B, obs_dim) is dJ/ds_0 of each
    row, i.e. Eq. 12 at t = 0. Both are averaged over the B rows like J.
    """
    params = [p for p in policy.parameters() if p.requires_grad]
    T, B = seg.s.shape[:2]
    # J'_s' and J'_theta: the values of Eq. 12-13 one step later; zero after the last step,
    # or with an end value J'_s' = V_s(s_T) there (and J'_theta = 0: V does not depend on theta).
    J_s_prime = torch.zeros_like(seg.s[0])  # (B, obs_dim)
    if end_value is not None:
        s_T = seg.s_end.detach().requires_grad_(True)
        J_s_prime = torch.autograd.grad(end_value(s_T).sum(), s_T)[0]
    J_theta_prime = [torch.zeros_like(p) for p in params]
    for t in reversed(range(T)):
        s = seg.s[t].detach().requires_grad_(True)  # (B, obs_dim), the real s_t
        a_pi = policy(s, seg.xi[t])  # a_t = pi(s_t, xi_t; theta), still attached to s and theta
        a = a_pi.detach().requires_grad_(True)  # the same action as an independent input of c and f

        # c_s, c_a: partial derivatives of the per-step cost (the paper's D_s, D_a).
        c_s, c_a = torch.autograd.grad(cost_fn(s, a).sum(), (s, a))

        # J'_s' f_s and J'_s' f_a: one vector-Jacobian product through the model.
        # J'_s' is zero where the episode ended at t (s_{t+1} was a reset).
        J_prime = J_s_prime * (~seg.done[t]).unsqueeze(-1).to(s.dtype)
        if t + 1 < T or end_value is not None:
            s_model = f(s, a, seg.context[t])
            Jf_s, Jf_a = torch.autograd.grad(s_model, (s, a), grad_outputs=J_prime)
        else:
            Jf_s, Jf_a = torch.zeros_like(s), torch.zeros_like(a)

        # Everything that reaches theta does so through the action a_t:
        # dJ/da_t = c_a + gamma J'_s' f_a                      (B, act_dim)
        J_a = c_a + gamma * Jf_a
        # ... and then through pi: (J_a pi_s, J_a pi_theta), one more VJP.
        pi_s_terms = torch.autograd.grad(a_pi, [s] + params, grad_outputs=J_a)
        Ja_pi_s, Ja_pi_theta = pi_s_terms[0], pi_s_terms[1:]

        # Eq. 12: J_s = c_s + c_a pi_s + gamma J'_s' (f_s + f_a pi_s)
        #             = c_s + gamma J'_s' f_s + (c_a + gamma J'_s' f_a) pi_s
        J_s = c_s + gamma * Jf_s + Ja_pi_s
        # Eq. 13: J_theta = c_a pi_theta + gamma (J'_s' f_a pi_theta + J'_theta)
        #                 = (c_a + gamma J'_s' f_a) pi_theta + gamma J'_theta
        J_theta = [g + gamma * g_prime for g, g_prime in zip(Ja_pi_theta, J_theta_prime)]
        J_s_prime, J_theta_prime = J_s, J_theta  # step t becomes the "next step" of t - 1
    # The rows were summed above; J is their mean.
    return [g / B for g in J_theta], J_s / B


# ---------------------------------------------------------------------------
# Departure (train.py --adapt-unroll 1): the unroll T chosen from how J_theta grows with it
# ---------------------------------------------------------------------------

def segment_steps(seg: Segment, a: int, b: int) -> Segment:
    """Steps a .. b-1 of every row of the segment, ended by the real state after step b-1."""
    s_end = seg.s[b] if b < seg.s.shape[0] else seg.s_end
    return Segment(s=seg.s[a:b], xi=seg.xi[a:b], context=seg.context[a:b], done=seg.done[a:b], s_end=s_end)


def split_segment(seg: Segment, length: int) -> Segment:
    """The T steps of each row cut into T / length pieces of `length` steps, side by side as rows.

    Each piece starts from its own real first state (no gradient from one piece to the one
    before) and ends with its own real s_end, so J over the result is the mean of J over the
    pieces (test_mgail.py checks this), and the policy still learns from all T steps."""
    pieces = [segment_steps(seg, a, a + length) for a in range(0, seg.s.shape[0], length)]
    return Segment(s=torch.cat([p.s for p in pieces], 1), xi=torch.cat([p.xi for p in pieces], 1),
                   context=torch.cat([p.context for p in pieces], 1), done=torch.cat([p.done for p in pieces], 1),
                   s_end=None if seg.s_end is None else torch.cat([p.s_end for p in pieces], 0))


def unroll_lengths(T: int) -> list[int]:
    """The unrolls the rule below chooses from: T, T/2, T/4, ... down to 4 steps."""
    lengths = [T]
    while lengths[0] % 2 == 0 and lengths[0] // 2 >= 4:
        lengths.insert(0, lengths[0] // 2)
    return lengths


def gradient_norm_by_unroll(policy, f, cost_fn: CostFn, seg: Segment, gamma: float,
                            end_value: EndValue | None = None, lengths: list[int] | None = None) -> list[float]:
    """|J_theta| over the segment's first T' steps, for each T' of `lengths` (default:
    `unroll_lengths`, the rule's choices; benchmarks/probe.py asks for 1, 2, 4, ...)."""
    norms = []
    for length in lengths or unroll_lengths(seg.s.shape[0]):
        J = policy_objective_unrolled(policy, f, cost_fn, segment_steps(seg, 0, length), gamma, end_value)
        grads = torch.autograd.grad(J, list(policy.parameters()), allow_unused=True)
        norms.append(float(torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None))))
    return norms


def longest_stable_unroll(lengths: list[int], norms: list[float], growth: float = 4.0) -> int:
    """Deviation from the paper (train.py --adapt-unroll 1): the longest T' reached from the
    shortest by doublings that each multiply |J_theta| by at most `growth`.

    While f's closed-loop Jacobian products stay bounded, the cost t steps ahead reaches theta
    through the t actions before it, so |J_theta| grows at most like T'^2: 4x per doubling,
    less where the terms are discounted or cancel. Products that explode grow it 10-1000x per
    doubling (HalfCheetah past 16 steps), and the clipped policy step then follows those
    products, not D. So the threshold is that bound, 4: a tighter one (3) cut
    InvertedDoublePendulum to 4-16 steps, where it learned late; a looser one (8) let HalfCheetah
    unroll into its explosions (benchmarks/NOTES.md, "The measured unroll's threshold")."""
    best = lengths[0]
    for longer, n_short, n_long in zip(lengths[1:], norms, norms[1:]):
        if n_long > growth * n_short:
            break
        best = longer
    return best
