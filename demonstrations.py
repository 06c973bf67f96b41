"""Expert demonstrations: the data MGAIL imitates (Section 2.2: trajectories of pi_E).

Three sources, one format:
* the shipped expert of an env (expert_policies.py), rolled out deterministically by
  seed and cached in demos/ (`expert_demos`);
* the user's own .npz file (`train.py --demos FILE`);
* a Minari dataset on this disk (`train.py --demos minari:<dataset id>`, `minari_demos`).
The last two are checked against the env (`load_demos`).

The format (.npz), one row per transition of E episodes:
    observations       (N, obs_dim) float32
    actions            (N,) int64 for Discrete spaces, (N, act_dim) float32 for Box
    next_observations  (N, obs_dim) float32   the true successor, also at episode ends
    terminated         (N,) bool              the episode ended in a terminal state
    truncated          (N,) bool              the episode was cut by its time limit
    episode_returns    (E,) float64           the expert's return in each episode

Used by: train.py, benchmarks/probe.py.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from evaluation import rollout
from expert_policies import EXPERT_DIR, load_expert

DEMO_CACHE = Path(__file__).resolve().parent / "demos"  # local, not shipped: rolled out from the experts


class DemoError(ValueError):
    """Demonstrations that cannot be had or used for this env; the message says why."""


def expert_episodes(act, env: gym.Env, num_demos: int, seed: int, min_pairs: int = 0, whole: bool = False,
                    max_tries: int = 100) -> dict[str, np.ndarray]:
    """Episodes from reset(seed), reset(seed + 1), ... until there are at least `num_demos` of
    them and at least `min_pairs` state-action pairs in all.

    min_pairs: short episodes (Acrobot's expert swings up in ~65 steps) would otherwise leave
    D and BC a few hundred pairs, where 1000-step episodes give thousands.
    whole: keep only episodes that were not cut short by a termination (a fall): those that
    ran to the env's time limit; `max_tries` falls are given up on.
    """
    kept, pairs, i = [], 0, 0
    while len(kept) < num_demos or pairs < min_pairs:
        if whole and i - len(kept) >= max_tries:  # every episode of a plain roll-out counts
            raise DemoError(f"the expert of {env.spec.id} fell in {max_tries} episodes with only {len(kept)} "
                            f"run to the time limit, of the {num_demos} asked for: use --whole-demos 0")
        ep = rollout(act, env, 1, seed + i)
        i += 1
        if whole and ep["terminated"].any():
            continue
        kept.append(ep)
        pairs += len(ep["actions"])
    return {k: np.concatenate([ep[k] for ep in kept]) for k in kept[0]}


def expert_demos(env_id: str, env: gym.Env, num_demos: int, seed: int, whole: bool = False,
                 min_pairs: int = 0) -> Path:
    """The path of expert episodes for env_id (`num_demos` of them, more while they hold fewer
    than `min_pairs` pairs: expert_episodes), rolled out once and cached in demos/.

    Deterministic: the expert acts without noise, and episode i starts from
    reset(seed = 1_000_000 + 1000 * seed + i), a range no training run uses.
    whole: keep only episodes that ran to the time limit, skipping any in which
    the expert fell; the demonstrations are then the first whole episodes of that same
    sequence of starts.
    The file name carries a digest of the expert's weights, so a retrained
    expert never reuses the demonstrations of the one before it.
    """
    weights = EXPERT_DIR / f"{env_id}.pt"
    version = hashlib.sha1(weights.read_bytes()).hexdigest()[:8] if weights.exists() else "hand"
    pairs = f"-p{min_pairs}" if min_pairs else ""
    path = DEMO_CACHE / f"{env_id}-n{num_demos}{pairs}-seed{seed}{'-whole' if whole else ''}-{version}.npz"
    if not path.exists():
        # Building the expert's network draws from torch's global generator. Its state is
        # put back afterwards, so a run that rolls out its demonstrations here draws the
        # same numbers as one that finds them cached (benchmarks/NOTES.md, Hopper-v5).
        torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
        start = 1_000_000 + 1000 * seed
        try:
            act = load_expert(env_id, env)
            if act is None:
                raise DemoError(f"no expert for {env_id}: train one with `python expert.py --env {env_id}`, "
                                f"or pass your own demonstrations with --demos FILE")
            demos = expert_episodes(act, env, num_demos, start, min_pairs, whole)
        finally:
            torch.set_rng_state(torch_state)
            np.random.set_state(numpy_state)
        DEMO_CACHE.mkdir(exist_ok=True)
        # The temporary name is this process's own: two runs of one seed started together
        # both roll out the same episodes, and each then swaps its finished file in whole.
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **demos)
        os.replace(tmp, path)
    return path


def load_demos(path: str | Path, env: gym.Env) -> dict[str, np.ndarray]:
    """Read demonstrations, a .npz file or "minari:<dataset id>", and check them against env;
    a DemoError names what is wrong."""
    if str(path).startswith(MINARI_PREFIX):
        demos = minari_demos(str(path)[len(MINARI_PREFIX):], env)
    else:
        try:
            with np.load(path) as f:
                demos = {k: f[k] for k in f.files}
        except FileNotFoundError:
            raise DemoError(f"demonstrations file {path} does not exist") from None
        except Exception as e:
            raise DemoError(f"demonstrations file {path} is not a readable .npz ({type(e).__name__}): "
                            f"see docs/demonstrations.md for the format") from None
    required = ("observations", "actions", "next_observations", "terminated", "truncated", "episode_returns")
    missing = [k for k in required if k not in demos]
    if missing:
        raise DemoError(f"demonstrations file {path} lacks {', '.join(missing)}: see docs/demonstrations.md for the format")
    obs, act = demos["observations"], demos["actions"]
    if len(obs) == 0:
        raise DemoError(f"demonstrations file {path} is empty: it holds no transitions")
    obs_shape = env.observation_space.shape
    if obs.shape[1:] != obs_shape or demos["next_observations"].shape != obs.shape:
        raise DemoError(f"demonstrations file {path} has observations of shape {obs.shape[1:]}, "
                        f"but {env.spec.id} has {obs_shape}: were they made for another env?")
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    want = () if discrete else env.action_space.shape
    if act.shape != (len(obs),) + want:
        raise DemoError(f"demonstrations file {path} has actions of shape {act.shape[1:]} per step, "
                        f"but {env.spec.id} takes {want}: were they made for another env?")
    if discrete and (act.min() < 0 or act.max() >= env.action_space.n):
        raise DemoError(f"demonstrations file {path} has actions outside 0..{env.action_space.n - 1}")
    for k in ("observations", "actions", "next_observations", "episode_returns"):
        if not np.all(np.isfinite(demos[k])):
            raise DemoError(f"demonstrations file {path} has non-finite values (nan or inf) in '{k}'")
    return demos


MINARI_PREFIX = "minari:"


def minari_demos(dataset_id: str, env: gym.Env) -> dict[str, np.ndarray]:
    """Every episode of a Minari dataset already on this disk, in this project's format.

    Minari (the Farama Foundation's format for offline RL data) stores each episode's
    T + 1 observations, T actions, rewards, terminations and truncations; s' is the next
    observation. Its root folder is $MINARI_DATASETS_PATH (default ~/.minari/datasets).
    Nothing is downloaded here: `minari download <id>` does that, beforehand.
    """
    try:
        import minari  # optional: only this path needs it
    except ImportError:
        raise DemoError("--demos minari:... needs the minari package: pip install 'minari[hdf5]'") from None
    try:
        dataset = minari.load_dataset(dataset_id)
    except (FileNotFoundError, ValueError) as e:
        raise DemoError(f"no Minari dataset {dataset_id!r} on this disk ({str(e).splitlines()[0]}): "
                        f"download it first with `minari download {dataset_id}`") from None
    recorded = dataset.spec.env_spec.id if dataset.spec.env_spec is not None else None
    if recorded is not None and recorded != env.spec.id:
        raise DemoError(f"Minari dataset {dataset_id} was recorded on {recorded}, not {env.spec.id}: "
                        f"train with --env {recorded}, or choose a dataset of {env.spec.id}")
    rows = {k: [] for k in ("observations", "actions", "next_observations", "terminated", "truncated")}
    returns = []
    for ep in dataset.iterate_episodes():
        if not isinstance(ep.observations, np.ndarray):
            raise DemoError(f"Minari dataset {dataset_id} has observations of kind {type(ep.observations).__name__}; "
                            f"only flat arrays are supported")
        for k, v in zip(rows, (ep.observations[:-1], ep.actions, ep.observations[1:], ep.terminations, ep.truncations)):
            rows[k].append(np.asarray(v))
        returns.append(float(np.sum(ep.rewards)))
    if not returns:
        raise DemoError(f"Minari dataset {dataset_id} holds no episodes")
    demos = {k: np.concatenate(v) for k, v in rows.items()}
    for k in ("observations", "next_observations"):
        demos[k] = demos[k].astype(np.float32)
    demos["episode_returns"] = np.asarray(returns, dtype=np.float64)
    return demos
