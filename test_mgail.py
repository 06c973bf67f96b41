"""Tests: every gradient path of MGAIL checked against an independent computation.

train.py and the tools around it are tested in test_train.py.
Run: python -m pytest -q

1. grad_a D and grad_s D by autograd = the closed forms of Eq. 7-8, for Gaussian phi, psi.
2. A discriminator trained on samples of those Gaussians approaches 1/(1 + phi psi).
3. The reparameterised gradient of E[D] (Eq. 9) = the analytic gradient of an analytic E[D].
4. Gumbel-Max samples follow pi (chi-square); straight-through is one-hot forward,
   softmax Jacobian backward (Eq. 10-11); bounded logits keep that gradient alive.
5. f_s, f_a pass gradcheck in float64; both models learn a known linear system, predicting
   the change of state or (the paper's) the next state itself.
6. The Eq. 12-13 recursion = autograd through the unrolled graph = finite differences.
7. "Value from reality": the real state's value, the model's Jacobian.
8. The label convention D = p(pi | s, a), and the policy step lowers D; D's gradient
   penalty = its closed form for a linear D; continuous actions are clipped only for the env.
"""
from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from discriminator import D_and_gradients, Discriminator, FactoredDiscriminator
from forward_model import AdvancedForwardModel, BasicForwardModel, make_forward_model
from mgail import (EndValue, Segment, gradient_norm_by_unroll, longest_stable_unroll, policy_gradient_recursion,
                   policy_objective_unrolled, split_segment, unroll_lengths, value_from_reality)
from policy import (Normalizer, Policy, from_env, gumbel_softmax_straight_through, reparameterise, sample_gumbel,
                    to_env)

ROOT = Path(__file__).resolve().parent
torch.set_num_threads(1)  # small tensors: one thread is as fast, and does not thrash on 2 cores


def identity_normalizer(dim: int) -> Normalizer:
    return Normalizer(np.zeros(dim), np.ones(dim))


# ---------------------------------------------------------------------------
# 1-2. The discriminator against analytic phi and psi
# ---------------------------------------------------------------------------
# Expert:  s ~ N(mE, vE),  a | s ~ N(kE s, wE)      Policy: s ~ N(mP, vP),  a | s ~ N(kP s, wP)
G = dict(mE=0.0, vE=1.0, kE=1.0, wE=0.25, mP=0.5, vP=1.5, kP=0.5, wP=0.36)


def log_normal(x, mean, var):
    return -0.5 * (x - mean) ** 2 / var - 0.5 * math.log(2 * math.pi * var)


def analytic_logit(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """l = -log(phi psi), phi = p(a|s,E)/p(a|s,pi), psi = p(s|E)/p(s|pi)."""
    s, a = s[:, 0], a[:, 0]
    log_phi = log_normal(a, G["kE"] * s, G["wE"]) - log_normal(a, G["kP"] * s, G["wP"])
    log_psi = log_normal(s, G["mE"], G["vE"]) - log_normal(s, G["mP"], G["vP"])
    return -(log_phi + log_psi)


def test_1_D_gradients_equal_closed_forms_of_eq_7_8():
    rng = np.random.default_rng(0)
    s, a = rng.normal(size=200), rng.normal(size=200)
    D, D_s, D_a = D_and_gradients(analytic_logit, torch.tensor(s)[:, None], torch.tensor(a)[:, None])
    # Independent, by hand in numpy: phi, psi and their derivatives for the Gaussians above.
    phi = np.exp(log_normal(a, G["kE"] * s, G["wE"]) - log_normal(a, G["kP"] * s, G["wP"]))
    psi = np.exp(log_normal(s, G["mE"], G["vE"]) - log_normal(s, G["mP"], G["vP"]))
    phi_a = phi * (-(a - G["kE"] * s) / G["wE"] + (a - G["kP"] * s) / G["wP"])
    phi_s = phi * (G["kE"] * (a - G["kE"] * s) / G["wE"] - G["kP"] * (a - G["kP"] * s) / G["wP"])
    psi_s = psi * (-(s - G["mE"]) / G["vE"] + (s - G["mP"]) / G["vP"])
    np.testing.assert_allclose(D.numpy(), 1 / (1 + phi * psi), rtol=1e-10)  # Eq. 6
    np.testing.assert_allclose(D_a[:, 0].numpy(), -phi_a * psi / (1 + phi * psi) ** 2, rtol=1e-8, atol=1e-12)  # Eq. 7
    np.testing.assert_allclose(D_s[:, 0].numpy(), -(phi_s * psi + phi * psi_s) / (1 + phi * psi) ** 2,
                               rtol=1e-8, atol=1e-12)  # Eq. 8


def test_2_trained_discriminator_approaches_bayes_optimal_D():
    torch.manual_seed(0)

    def sample(prefix, n):
        s = G["m" + prefix] + math.sqrt(G["v" + prefix]) * torch.randn(n, 1)
        return s, G["k" + prefix] * s + math.sqrt(G["w" + prefix]) * torch.randn(n, 1)

    D = Discriminator(1, 1, identity_normalizer(1), hidden=64)
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    for _ in range(1500):
        loss, _ = D.loss(*sample("P", 256), *sample("E", 256))
        opt.zero_grad()
        loss.backward()
        opt.step()
    s, a = torch.cat([sample("P", 2000)[0], sample("E", 2000)[0]]), torch.cat([sample("P", 2000)[1], sample("E", 2000)[1]])
    with torch.no_grad():
        err = (D(s, a) - torch.sigmoid(analytic_logit(s.double(), a.double())).float()).abs()
    assert err.mean() < 0.05, f"mean |D - 1/(1+phi psi)| = {err.mean():.3f}"


def test_2b_factored_discriminator_learns_phi_and_psi_apart():
    """psi-net -> -log psi(s) from the states alone; phi-net -> -log phi(s, a) from the two
    policies' actions at the expert's states; their sum is Eq. 6's logit (test 1's Gaussians)."""
    torch.manual_seed(0)

    def states(prefix, n):
        return G["m" + prefix] + math.sqrt(G["v" + prefix]) * torch.randn(n, 1)

    def actions(prefix, s):  # a | s of the policy (P) or the expert (E), at any states s
        return G["k" + prefix] * s + math.sqrt(G["w" + prefix]) * torch.randn_like(s)

    D = FactoredDiscriminator(1, 1, identity_normalizer(1), hidden=64)
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    for _ in range(1500):
        s_pi, s_exp = states("P", 256), states("E", 256)
        loss, stats = D.loss(s_pi, actions("P", s_pi), s_exp, actions("E", s_exp), a_pi_at_exp=actions("P", s_exp))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert 0.0 <= stats["phi_acc"] <= 1.0
    # Checked where the phi-net was trained: the expert's states, with both policies' actions.
    s = states("E", 4000)
    a = torch.cat([actions("P", s[:2000]), actions("E", s[2000:])])
    s64, a64 = s.double()[:, 0], a.double()[:, 0]
    minus_log_psi = -(log_normal(s64, G["mE"], G["vE"]) - log_normal(s64, G["mP"], G["vP"]))
    minus_log_phi = -(log_normal(a64, G["kE"] * s64, G["wE"]) - log_normal(a64, G["kP"] * s64, G["wP"]))
    with torch.no_grad():
        g = D.psi_net(s)[:, 0].double()
        h = D.net(torch.cat([s, a], dim=-1))[:, 0].double()
        l = D.logit(s, a).double()
    np.testing.assert_allclose(l.numpy(), (g + h).numpy(), rtol=1e-5, atol=1e-5)  # l = g + h
    assert (g - minus_log_psi).abs().mean() < 0.1, f"psi-net off -log psi by {(g - minus_log_psi).abs().mean():.3f}"
    assert (h - minus_log_phi).abs().mean() < 0.2, f"phi-net off -log phi by {(h - minus_log_phi).abs().mean():.3f}"
    err = (torch.sigmoid(l) - torch.sigmoid(analytic_logit(s.double(), a.double()))).abs()
    assert err.mean() < 0.04, f"mean |D - 1/(1+phi psi)| = {err.mean():.3f}"
    with pytest.raises(ValueError, match="a_pi_at_exp"):
        D.loss(s[:4], a[:4], s[:4], a[:4])


# ---------------------------------------------------------------------------
# 3-4. Stochastic units
# ---------------------------------------------------------------------------

def test_3_reparameterised_gradient_matches_closed_form():
    # D(a) = exp(-(a - c)^2 / 2w^2) in (0, 1]; for a ~ N(mu, sigma^2):
    # E[D] = w / sqrt(w^2 + sigma^2) * exp(-(mu - c)^2 / 2(w^2 + sigma^2)).
    c, w = 0.3, 0.8
    mu = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    log_sigma = torch.tensor([-0.2], dtype=torch.float64, requires_grad=True)
    xi = torch.randn(400_000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = reparameterise(mu, log_sigma, xi)  # Eq. 9
    mc = torch.autograd.grad(torch.exp(-(a - c) ** 2 / (2 * w ** 2)).mean(), (mu, log_sigma))
    var = w ** 2 + torch.exp(2 * log_sigma)
    exact = torch.autograd.grad((w / var.sqrt() * torch.exp(-(mu - c) ** 2 / (2 * var))).sum(), (mu, log_sigma))
    for g_mc, g_exact in zip(mc, exact):
        assert torch.allclose(g_mc, g_exact, rtol=0.02, atol=1e-3), (g_mc, g_exact)


def test_4a_gumbel_max_samples_follow_pi():
    logits = torch.tensor([0.5, -1.0, 1.5, 0.0])
    n = 200_000
    g = sample_gumbel((n, 4), torch.Generator().manual_seed(0))
    counts = torch.bincount((logits + g).argmax(-1), minlength=4).double()  # Eq. 10
    expected = n * torch.softmax(logits, -1).double()
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 16.27, f"chi-square {chi2:.1f} with 3 dof (p < 0.001)"


def test_4b_straight_through_is_one_hot_forward_softmax_jacobian_backward():
    torch.manual_seed(0)
    tau = 0.7
    logits = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    g = sample_gumbel((5, 3)).double()
    a = gumbel_softmax_straight_through(logits, g, tau)
    assert torch.equal(a.detach(), torch.nn.functional.one_hot((logits + g).argmax(-1), 3).double())
    v = torch.randn(5, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad((a * v).sum(), logits)
    # Eq. 11's Jacobian in closed form: d softmax(z/tau)/dz = (diag(p) - p p^T) / tau.
    p = torch.softmax((logits.detach() + g) / tau, -1)
    jac = (torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)) / tau  # (5, 3, 3), symmetric
    torch.testing.assert_close(grad, (jac @ v.unsqueeze(-1)).squeeze(-1))


# ---------------------------------------------------------------------------
# 5. Forward models
# ---------------------------------------------------------------------------

def make_models(obs_dim: int, act_dim: int):
    norm = identity_normalizer(obs_dim)
    return [BasicForwardModel(obs_dim, act_dim, norm, np.ones(obs_dim), hidden=32),
            AdvancedForwardModel(obs_dim, act_dim, norm, np.ones(obs_dim), hidden=32, history_len=3)]


def test_4c_bounded_logits_keep_the_straight_through_gradient_alive():
    # A policy whose raw output favours action 0 by 200 would give softmax = one-hot and a
    # zero gradient; with |logit| <= L, pi(a|s) >= e^{-2L}/n and the gradient lives.
    L = 5.0
    pi = Policy(2, 3, True, identity_normalizer(2), hidden=8, tau=3.0, logit_bound=L)
    with torch.no_grad():
        pi.net[-1].weight.zero_()
        pi.net[-1].bias.copy_(torch.tensor([200.0, 0.0, -200.0]))
    s = torch.zeros(4, 2)
    logits = pi.head(s)
    torch.testing.assert_close(logits[0], L * torch.tanh(torch.tensor([200.0, 0.0, -200.0]) / L))
    probs = torch.softmax(logits, -1)[0]
    assert probs.min() >= math.exp(-2 * L) / 3 - 1e-9
    a = pi(s, torch.zeros(4, 3))
    (g,) = torch.autograd.grad(a[:, 1].sum(), pi.net[-1].bias)
    assert g.abs().max() > 1e-4  # an unbounded head gives ~0 here (checked next)
    raw = torch.tensor([[200.0, 0.0, -200.0]], requires_grad=True)
    (g_raw,) = torch.autograd.grad(gumbel_softmax_straight_through(raw, torch.zeros(1, 3), 3.0)[:, 1].sum(), raw)
    assert g_raw.abs().max() < 1e-20
    # The paper's unbounded logits (--logit-bound 0): the head is the raw output.
    pi.logit_bound = 0.0
    torch.testing.assert_close(pi.head(s)[0], torch.tensor([200.0, 0.0, -200.0]))


def test_5a_forward_model_jacobians_pass_gradcheck():
    torch.manual_seed(0)
    for f in make_models(3, 2):
        f = f.double()
        s, a = torch.randn(4, 3, dtype=torch.float64, requires_grad=True), torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
        ctx = torch.randn(4, f.history_len - 1, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda s, a, c: f(s, a, c), (s, a, ctx))


def test_5c_paper_forward_model_predicts_the_next_state_itself():
    """predict_change=False (--f-delta 0): f(s, a) = mean + std * g and the regression target is the
    normalised s' itself; with predict_change, f(s, a) = s + sigma_delta * g and the target is the
    scaled change. Checked against the same g computed by hand."""
    torch.manual_seed(0)
    norm = Normalizer(np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 1.0]))
    delta_std = np.array([0.1, 0.2, 0.3])
    s, a, s_next = torch.randn(5, 3), torch.randn(5, 2), torch.randn(5, 3)
    for predict_change in (True, False):
        f = BasicForwardModel(3, 2, norm, delta_std, hidden=16, predict_change=predict_change)
        ctx = torch.zeros(5, 0, 3)
        g = f.g(s, a, ctx)
        if predict_change:
            expected, target = s + f.delta_std * g, (s_next - s) / f.delta_std
        else:
            expected, target = norm.mean + norm.std * g, (s_next - norm.mean) / norm.std
        torch.testing.assert_close(f(s, a, ctx), expected)
        torch.testing.assert_close(f.loss(s, a, ctx, s_next), ((g - target) ** 2).mean())


def test_3b_state_dependent_sigma_is_eq_9_as_written():
    """state_sigma (--state-sigma 1): a = mu_theta(s) + xi sigma_theta(s), with log sigma_theta(s)
    the net's second half of outputs plus the initial log sigma; d a / d xi = sigma(s) per row."""
    torch.manual_seed(0)
    pi = Policy(3, 2, False, identity_normalizer(3), hidden=8, init_log_sigma=-0.5, state_sigma=True)
    s, xi = torch.randn(4, 3), torch.randn(4, 2).requires_grad_(True)
    out = pi.net(s)
    mu, log_sigma = out[:, :2], -0.5 + out[:, 2:]
    a = pi(s, xi)
    torch.testing.assert_close(a, mu + xi * log_sigma.exp())
    (d_xi,) = torch.autograd.grad(a.sum(), xi)
    torch.testing.assert_close(d_xi, log_sigma.exp())
    assert not torch.allclose(log_sigma[0], log_sigma[1])  # it depends on the state
    torch.testing.assert_close(pi.mode(s), mu)
    entropy = (0.5 * math.log(2 * math.pi * math.e) + log_sigma).sum(-1).mean()
    torch.testing.assert_close(pi.entropy(s), entropy)


def test_5d_coordinates_constant_in_the_demonstrations_keep_env_units():
    # Coordinate 0 is constant in the "demonstrations" (std 0); coordinate 1 varies (std 2).
    n = Normalizer(np.array([0.0, 1.0]), np.array([0.0, 2.0]))
    assert torch.allclose(n(torch.tensor([[0.5, 3.0]])), torch.tensor([[0.5, 1.0]]))  # not 0.5 / 1e-3
    f = make_forward_model("basic", 2, 1, n, np.array([0.0, 0.5]), hidden=8)
    assert f.delta_std.tolist() == [1.0, 0.5]
    # A step of 1 in the constant coordinate is a regression target of 1, not 1e6.
    s, a, s_next = torch.zeros(1, 2), torch.zeros(1, 1), torch.tensor([[1.0, 0.0]])
    with torch.no_grad():
        g = f.g(s, a, torch.zeros(1, 0, 2))
    expected = ((g - torch.tensor([[1.0, 0.0]])) ** 2).mean()
    assert torch.allclose(f.loss(s, a, torch.zeros(1, 0, 2), s_next), expected)


def test_5e_obs_clip_bounds_normalised_states_and_model_targets():
    # mean 0, std 0.5: x = 100 is 200 stds out; with clip 10 every network sees 10.
    n = Normalizer(np.array([0.0, 0.0]), np.array([0.5, 0.5]), clip=10.0)
    x = torch.tensor([[100.0, -0.25]], requires_grad=True)
    x_hat = n(x)
    assert x_hat.tolist() == [[10.0, -0.5]]
    (grad,) = torch.autograd.grad(x_hat.sum(), x)
    assert grad.tolist() == [[0.0, 2.0]]  # no gradient through a clipped coordinate, 1/std elsewhere
    assert Normalizer(np.zeros(1), np.full(1, 0.5))(torch.tensor([[100.0]])).item() == 200.0  # default: no clip
    # The forward model's target (s' - s) / sigma_delta is clipped the same way: a jump of 400
    # sigma_delta in coordinate 0 is a target of 10.
    f = make_forward_model("basic", 2, 1, n, np.array([0.25, 0.25]), hidden=8)
    s, a, s_next = torch.zeros(1, 2), torch.zeros(1, 1), torch.tensor([[100.0, 0.5]])
    with torch.no_grad():
        g = f.g(s, a, torch.zeros(1, 0, 2))
    assert torch.allclose(f.loss(s, a, torch.zeros(1, 0, 2), s_next), ((g - torch.tensor([[10.0, 2.0]])) ** 2).mean())


def test_5b_forward_models_learn_a_linear_system():
    torch.manual_seed(0)
    A = torch.tensor([[1.0, 0.1], [-0.2, 0.95]])
    Bm = torch.tensor([[0.0], [0.3]])
    for f in make_models(2, 1):
        opt = torch.optim.Adam(f.parameters(), lr=2e-3)
        for _ in range(1500):
            s, a = torch.randn(128, 2), torch.rand(128, 1) * 2 - 1
            # Past states that carry no information about s': the model must learn to ignore them.
            ctx = torch.randn(128, f.history_len - 1, 2)
            loss = f.loss(s, a, ctx, s @ A.T + a @ Bm.T)
            opt.zero_grad()
            loss.backward()
            opt.step()
        s, a = torch.randn(256, 2, requires_grad=True), (torch.rand(256, 1) * 2 - 1).requires_grad_(True)
        pred = f(s, a, torch.randn(256, f.history_len - 1, 2))
        assert ((pred - (s @ A.T + a @ Bm.T)) ** 2).mean() < 1e-3, type(f).__name__
        # The Jacobians the recursion uses: f_s ~ A and f_a ~ B.
        f_s = torch.stack([torch.autograd.grad(pred[:, i].sum(), s, retain_graph=True)[0].mean(0) for i in range(2)])
        f_a = torch.stack([torch.autograd.grad(pred[:, i].sum(), a, retain_graph=True)[0].mean(0) for i in range(2)])
        assert torch.allclose(f_s, A, atol=0.05) and torch.allclose(f_a, Bm, atol=0.05), (type(f).__name__, f_s, f_a)


# ---------------------------------------------------------------------------
# 6-7. The policy gradient of Eq. 12-13
# ---------------------------------------------------------------------------

def small_setup(discrete: bool, model: str = "basic", T: int = 6, B: int = 3, end_value: bool = False):
    """A float64 policy, model and cost; reality is the model itself plus a reset at t = 2 in row 0.

    end_value: J also counts 0.9^T V(s_T) for a random V (mgail.EndValue), and row 2's
    episode ends at the last step, so its V term is left out. Returns V too (None without)."""
    torch.manual_seed(1)
    obs_dim, act_dim = 3, 2
    norm = identity_normalizer(obs_dim)
    policy = Policy(obs_dim, act_dim, discrete, norm, hidden=16).double()
    f = (BasicForwardModel(obs_dim, act_dim, norm, np.full(obs_dim, 0.3), hidden=16) if model == "basic" else
         AdvancedForwardModel(obs_dim, act_dim, norm, np.full(obs_dim, 0.3), hidden=16, history_len=3)).double()
    D = Discriminator(obs_dim, act_dim, norm, hidden=16).double()
    s0 = torch.randn(B, obs_dim, dtype=torch.float64)
    xi = torch.stack([policy.sample_xi(B) for _ in range(T)]).double()
    ctx = torch.randn(T, B, f.history_len - 1, obs_dim, dtype=torch.float64)
    done = torch.zeros(T, B, dtype=torch.bool)
    done[2, 0] = True
    reset_state = torch.randn(obs_dim, dtype=torch.float64)
    V = EndValue(obs_dim, norm, 0.9, fall_cost=1.0, hidden=16).double() if end_value else None
    if end_value:
        done[T - 1, 2] = True

    def rollout_J(s0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """J(theta) by simulating the model as the real environment; also the states visited."""
        s, J, states = s0, 0.0, []
        for t in range(T):
            states.append(s)
            a = policy(s, xi[t])
            J = J + 0.9 ** t * D.policy_cost(s, a)
            s = f(s, a, ctx[t])
            if t == T - 1 and V is not None:  # s is s_T
                J = J + 0.9 ** T * torch.where(done[t], torch.zeros_like(J), V(s))
            s = torch.where(done[t].unsqueeze(-1), reset_state.expand_as(s), s)
        return J.mean(), torch.stack(states + [s])

    with torch.no_grad():
        _, states = rollout_J(s0)
    seg = Segment(states[:T], xi, ctx, done, s_end=states[T])
    return policy, f, D, seg, rollout_J, V


@pytest.mark.parametrize("discrete,model", [(False, "basic"), (False, "advanced"), (True, "basic"), (True, "advanced")])
@pytest.mark.parametrize("end_value", [False, True])
def test_6a_recursion_equals_autograd_through_unrolled_graph(discrete, model, end_value):
    policy, f, D, seg, _, V = small_setup(discrete, model, end_value=end_value)
    J_theta, J_s0 = policy_gradient_recursion(policy, f, D.policy_cost, seg, gamma=0.9, end_value=V)
    s0 = seg.s[0].clone().requires_grad_(True)
    seg_s0 = Segment(torch.cat([s0.unsqueeze(0), seg.s[1:]]), seg.xi, seg.context, seg.done, seg.s_end)
    J = policy_objective_unrolled(policy, f, D.policy_cost, seg_s0, gamma=0.9, end_value=V)
    grads = torch.autograd.grad(J, [s0] + list(policy.parameters()))
    torch.testing.assert_close(J_s0, grads[0])
    for g_rec, g_auto in zip(J_theta, grads[1:]):
        torch.testing.assert_close(g_rec, g_auto)
    assert sum(g.abs().sum() for g in J_theta) > 0


@pytest.mark.parametrize("end_value", [False, True])
def test_6b_recursion_equals_finite_differences_of_J(end_value):
    # Continuous actions and the basic model, so J(theta) is smooth and the model's
    # input is s_t alone: when reality IS the model, Eq. 12-13 give the exact gradient
    # (with an end value: of J + 0.9^T V(s_T), the recursion starting from V_s).
    policy, f, D, seg, rollout_J, V = small_setup(discrete=False, model="basic", end_value=end_value)
    J_theta, J_s0 = policy_gradient_recursion(policy, f, D.policy_cost, seg, gamma=0.9, end_value=V)
    params = list(policy.parameters())
    eps = 1e-6
    for k in range(3):  # directional derivatives along random directions v
        v = [torch.randn_like(p) for p in params]
        with torch.no_grad():
            for p, vp in zip(params, v):
                p += eps * vp
            J_plus = rollout_J(seg.s[0])[0]
            for p, vp in zip(params, v):
                p -= 2 * eps * vp
            J_minus = rollout_J(seg.s[0])[0]
            for p, vp in zip(params, v):
                p += eps * vp
        fd = (J_plus - J_minus) / (2 * eps)
        analytic = sum((g * vp).sum() for g, vp in zip(J_theta, v))
        assert abs(fd - analytic) < 1e-6 * max(1.0, abs(fd)), (fd, analytic)
    # And Eq. 12 at t = 0: dJ/ds_0 against finite differences, coordinate by coordinate.
    for b, i in [(0, 0), (1, 2), (2, 1)]:
        e = torch.zeros_like(seg.s[0])
        e[b, i] = eps
        with torch.no_grad():
            fd = (rollout_J(seg.s[0] + e)[0] - rollout_J(seg.s[0] - e)[0]) / (2 * eps)
        assert abs(fd - J_s0[b, i]) < 1e-6, (fd, J_s0[b, i])


@pytest.mark.parametrize("end_value", [False, True])
def test_6c_split_segment_J_is_the_mean_of_its_pieces(end_value):
    # T = 8 cut into two 4-step pieces, each built here by hand: steps 0-3 ended by the real
    # s_4, steps 4-7 by the segment's own s_end. J (and J_theta) over the split segment must
    # be the mean of the two pieces' J (and their J_theta); at length T it is J itself.
    policy, f, D, seg, _, V = small_setup(discrete=False, T=8, end_value=end_value)
    first = Segment(seg.s[:4], seg.xi[:4], seg.context[:4], seg.done[:4], s_end=seg.s[4])
    second = Segment(seg.s[4:], seg.xi[4:], seg.context[4:], seg.done[4:], s_end=seg.s_end)
    J_split = policy_objective_unrolled(policy, f, D.policy_cost, split_segment(seg, 4), 0.9, V)
    J_pieces = [policy_objective_unrolled(policy, f, D.policy_cost, piece, 0.9, V) for piece in (first, second)]
    torch.testing.assert_close(J_split, (J_pieces[0] + J_pieces[1]) / 2)
    params = list(policy.parameters())
    g_split = torch.autograd.grad(J_split, params)
    g_pieces = [torch.autograd.grad(J, params) for J in J_pieces]
    for g, g0, g1 in zip(g_split, *g_pieces):
        torch.testing.assert_close(g, (g0 + g1) / 2)
    J_whole = policy_objective_unrolled(policy, f, D.policy_cost, seg, 0.9, V)
    torch.testing.assert_close(policy_objective_unrolled(policy, f, D.policy_cost, split_segment(seg, 8), 0.9, V),
                               J_whole)
    assert not torch.isclose(J_split, J_whole)  # the pieces really are cut apart


def test_6d_unroll_rule_reads_the_recursions_gradient_norms():
    # The lengths the rule chooses from: T halved while it stays even and at least 4.
    assert unroll_lengths(32) == [4, 8, 16, 32]
    assert unroll_lengths(30) == [15, 30]
    assert unroll_lengths(6) == [6]
    assert unroll_lengths(3) == [3]
    # The choice: the longest length reached by doublings that each grow the norm at most 4x.
    assert longest_stable_unroll([4, 8, 16, 32], [1.0, 2.0, 4.0, 8.0]) == 32
    assert longest_stable_unroll([4, 8, 16, 32], [1.0, 2.0, 8.5, 9.0]) == 8  # 2 -> 8.5 stops it, whatever follows
    assert longest_stable_unroll([4, 8, 16, 32], [1.0, 4.5, 5.0, 6.0]) == 4
    assert longest_stable_unroll([4, 8, 16, 32], [1.0, 4.0, 16.0, 64.0]) == 32  # 4x exactly still passes
    assert longest_stable_unroll([4, 8, 16, 32], [1.0, 3.5, 14.0, 56.0], growth=3.0) == 4  # the threshold is a parameter
    # The norms it reads: |J_theta| of each prefix, against Eq. 12-13 written out (the recursion).
    policy, f, D, seg, _, V = small_setup(discrete=False, T=8, end_value=True)
    norms = gradient_norm_by_unroll(policy, f, D.policy_cost, seg, 0.9, V)
    for length, norm in zip([4, 8], norms):
        prefix = Segment(seg.s[:length], seg.xi[:length], seg.context[:length], seg.done[:length],
                         s_end=seg.s[length] if length < 8 else seg.s_end)
        J_theta, _ = policy_gradient_recursion(policy, f, D.policy_cost, prefix, 0.9, end_value=V)
        assert math.isclose(norm, float(torch.sqrt(sum((g ** 2).sum() for g in J_theta))), rel_tol=1e-9)


def test_7b_end_value_td_targets_closed_form():
    # V's last layer set to a constant b, so V(s) = b / (1 - gamma) everywhere; then the
    # TD targets are c + gamma b / (1 - gamma) (the episode goes on) and
    # c + gamma c_fall / (1 - gamma) (it ended in a fall), by hand, with c capped at c_fall
    # (the third pair's cost of 5 counts as 3).
    gamma, c_fall, b = 0.9, 3.0, 0.7
    V = EndValue(2, identity_normalizer(2), gamma, fall_cost=c_fall, hidden=8).double()
    with torch.no_grad():
        V.net[-1].weight.zero_()
        V.net[-1].bias.fill_(b)
    s, s_next = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    cost = torch.tensor([0.5, 1.0, 5.0, 0.1], dtype=torch.float64)
    capped = torch.tensor([0.5, 1.0, 3.0, 0.1], dtype=torch.float64)
    fell = torch.tensor([False, True, False, True])
    torch.testing.assert_close(V(s), torch.full((4,), b / (1 - gamma), dtype=torch.float64))
    y = torch.where(fell, capped + gamma * c_fall / (1 - gamma), capped + gamma * b / (1 - gamma))
    expected = (((b / (1 - gamma) - y) * (1 - gamma)) ** 2).mean()
    torch.testing.assert_close(V.td_loss(V, cost, s, s_next, fell), expected)


def test_7_value_from_reality_has_real_value_and_model_gradient():
    torch.manual_seed(0)
    f = make_models(3, 2)[0].double()
    s, a = torch.randn(1, 3, dtype=torch.float64), torch.randn(1, 2, dtype=torch.float64)
    s_real = torch.randn(1, 3, dtype=torch.float64)
    ctx = torch.zeros(1, 0, 3, dtype=torch.float64)
    out = value_from_reality(f(s, a, ctx), s_real)
    torch.testing.assert_close(out, s_real, rtol=0, atol=1e-12)  # value: the real state
    jac_mixed = torch.autograd.functional.jacobian(lambda s, a: value_from_reality(f(s, a, ctx), s_real), (s, a))
    jac_model = torch.autograd.functional.jacobian(lambda s, a: f(s, a, ctx), (s, a))
    for jm, jf in zip(jac_mixed, jac_model):
        torch.testing.assert_close(jm, jf)  # gradient: the model's
    assert jac_model[0].abs().sum() > 0


# ---------------------------------------------------------------------------
# 8. The convention D = p(pi | s, a), and the direction of the policy step
# ---------------------------------------------------------------------------

def test_8_label_convention_D_is_probability_of_policy_and_policy_lowers_it():
    torch.manual_seed(0)
    norm = identity_normalizer(1)
    D = Discriminator(1, 1, norm, hidden=32)
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    s = torch.randn(256, 1)
    a_pi, a_exp = torch.full((256, 1), 0.5), torch.full((256, 1), -0.5)  # policy pushes +0.5, expert -0.5
    for _ in range(300):
        loss, _ = D.loss(s, a_pi, s, a_exp)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert D(s, a_pi).mean() > 0.9 and D(s, a_exp).mean() < 0.1  # D = p(pi | s, a)
        torch.testing.assert_close(D.phi_psi(s, a_exp), (1 - D(s, a_exp)) / D(s, a_exp), rtol=1e-4, atol=1e-4)
        assert D.policy_cost(s, a_pi).mean() > D.policy_cost(s, a_exp).mean()
    # A few policy steps on J(theta) move the policy's actions toward the expert's.
    policy = Policy(1, 1, False, norm, hidden=16)
    f = BasicForwardModel(1, 1, norm, np.ones(1), hidden=16)
    opt_pi = torch.optim.Adam(policy.parameters(), lr=1e-2)
    seg = Segment(s.view(4, 64, 1), torch.zeros(4, 64, 1), torch.zeros(4, 64, 0, 1), torch.zeros(4, 64, dtype=torch.bool))
    before = policy.mode(s).mean().item()
    for _ in range(20):
        J = policy_objective_unrolled(policy, f, D.policy_cost, seg, gamma=0.99)
        opt_pi.zero_grad()
        J.backward()
        opt_pi.step()
    assert policy.mode(s).mean().item() < before - 0.1


def test_8b_gradient_penalty_equals_closed_form_for_a_linear_D():
    # With a linear logit l(x) = w.x + b, grad_x l = w at every point, so the penalty
    # is lambda (||w|| - 1)^2 wherever the mixed points fall, and its gradient in w is
    # 2 lambda (||w|| - 1) w / ||w||: both checked against discriminator.py's term.
    torch.manual_seed(0)
    D = Discriminator(3, 2, identity_normalizer(3))
    D.net = torch.nn.Linear(5, 1)
    s_pi, a_pi, s_exp, a_exp = torch.randn(64, 3), torch.randn(64, 2), torch.randn(64, 3), torch.randn(64, 2)
    lam = 10.0
    plain, _ = D.loss(s_pi, a_pi, s_exp, a_exp)
    with_gp, _ = D.loss(s_pi, a_pi, s_exp, a_exp, grad_penalty=lam)
    w = D.net.weight.detach()[0]
    torch.testing.assert_close(with_gp - plain, lam * (w.norm() - 1) ** 2)
    (g_plain,) = torch.autograd.grad(plain, D.net.weight)
    (g_gp,) = torch.autograd.grad(with_gp, D.net.weight)
    torch.testing.assert_close(g_gp - g_plain, (2 * lam * (w.norm() - 1) * w / w.norm())[None])


def test_8c_continuous_actions_are_clipped_only_for_the_env():
    space = gym.spaces.Box(low=np.array([-2.0, 0.0]), high=np.array([2.0, 1.0]), dtype=np.float64)
    a = torch.tensor([[1.5, -3.0], [0.0, 0.5]])  # unbounded Gaussian samples, in [-1, 1] units
    np.testing.assert_allclose(to_env(a, space), [[2.0, 0.0], [0.0, 0.75]])
    np.testing.assert_allclose(from_env(np.array([[2.0, 0.0], [0.0, 0.75]]), space), [[1.0, -1.0], [0.0, 0.5]])
    # The policy's sample itself is not clipped: D and f see it, and D's gradient reaches mu beyond the bounds.
    policy = Policy(1, 1, False, identity_normalizer(1), hidden=8)
    with torch.no_grad():
        policy.net[-1].bias.fill_(5.0)
    mu = policy.mode(torch.zeros(3, 1))
    assert (mu > 4).all()
    a = policy(torch.zeros(3, 1), torch.zeros(3, 1))
    (g,) = torch.autograd.grad(a.sum(), policy.net[-1].bias)
    torch.testing.assert_close(g, torch.tensor([3.0]))


# ---------------------------------------------------------------------------
# 9. GAIL's score-function gradient (Eq. 3), the contrast MGAIL argues against
# ---------------------------------------------------------------------------

def test_9a_score_function_gradient_equals_the_exact_gradient_by_enumeration():
    """Eq. 3 on a case small enough to compute exactly: one state, 3 actions, cost c(a). The
    score-function estimate, averaged with each action's probability as its weight (the exact
    expectation over a ~ pi), equals grad_theta E[c] = grad_theta sum_a pi(a) c(a) by autograd."""
    import gail
    torch.manual_seed(0)
    pi = Policy(2, 3, True, identity_normalizer(2), hidden=8, tau=1.0)
    s = torch.randn(1, 2).expand(3, 2)
    a = torch.eye(3)  # every action once
    c = torch.tensor([1.0, -2.0, 0.5])
    params = list(pi.parameters())
    probs = torch.softmax(pi.head(s[:1]), -1)[0]
    exact = torch.autograd.grad((probs * c).sum(), params, allow_unused=True)
    # mean over the 3 rows of grad log pi(a_i) * (3 pi(a_i) c_i) = sum_i pi(a_i) grad log pi(a_i) c_i
    surrogate = gail.score_function_surrogate(pi, s, a, 3 * probs.detach() * c)
    estimate = torch.autograd.grad(surrogate, params, allow_unused=True)
    for g_exact, g_est in zip(exact, estimate):
        if g_exact is None:
            assert g_est is None or g_est.abs().max() == 0
        else:
            torch.testing.assert_close(g_est, g_exact, atol=1e-6, rtol=1e-5)


def test_9b_gaussian_log_prob_and_a_sampled_score_function_estimate():
    """log pi(a|s) of the Gaussian policy is N's log-density summed over action dimensions; and
    the score-function estimate of grad_mu E[|a|^2] = 2 mu approaches its closed form."""
    import gail
    torch.manual_seed(0)
    pi = Policy(1, 2, False, identity_normalizer(1), hidden=8, init_log_sigma=-1.0)
    s, a = torch.zeros(4, 1), torch.randn(4, 2)
    mu, sigma = pi.head(s), math.exp(-1.0)
    closed = (-0.5 * ((a - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(gail.log_prob(pi, s, a), closed)
    n = 200_000
    s = torch.zeros(n, 1)
    with torch.no_grad():
        a = pi(s, pi.sample_xi(n))
        cost = (a ** 2).sum(-1)
    bias = pi.net[-1].bias  # mu = bias here (the state is 0, the net's last layer adds it)
    (g,) = torch.autograd.grad(gail.score_function_surrogate(pi, s, a, cost - cost.mean()), [bias])
    torch.testing.assert_close(g, 2 * pi.head(s[:1])[0].detach(), atol=0.02, rtol=0.05)


def test_9c_gae_equals_its_closed_form():
    """GAE on T = 3 steps of one env with a fall at the last step and gamma, lambda chosen so the
    sums can be written by hand; a time-limit ending bootstraps from V(s'), a fall does not."""
    import gail
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [0.25], [1.0]])
    v_next = torch.tensor([[0.25], [1.0], [7.0]])
    g, lam = 0.5, 0.5
    for fell_last in (True, False):
        fell = torch.tensor([[False], [False], [fell_last]])
        done = fell.clone() if fell_last else torch.tensor([[False], [False], [True]])
        d2 = 3.0 + (0.0 if fell_last else g * 7.0) - 1.0
        d1 = 2.0 + g * 1.0 - 0.25
        d0 = 1.0 + g * 0.25 - 0.5
        expected = torch.tensor([[d0 + g * lam * (d1 + g * lam * d2)], [d1 + g * lam * d2], [d2]])
        adv, ret = gail.gae(r, v, v_next, fell, done, g, lam)
        torch.testing.assert_close(adv, expected)
        torch.testing.assert_close(ret, expected + v)
