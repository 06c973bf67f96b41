"""The real environment of Algorithm 1: gymnasium envs made and checked, and set to a given state.

* `make_envs`: the B parallel envs the policy acts in, and one more for evaluation;
  what this implementation cannot handle is refused with a one-line error.
* `state_jumper`: puts an env into the state an observation shows; used by the
  expert-state restarts (train.py --restarts) and the experts' lookahead.

Used by: train.py, expert_policies.py (acrobot_state).
"""
from __future__ import annotations

import difflib
import importlib
import sys

import gymnasium as gym
import numpy as np

from cli import fail


def split_env_id(env_id: str) -> str:
    """"module:EnvId-v0" -> "EnvId-v0", after importing the module that registers it; a one-line
    error if that id is not registered. (A run keeps the whole "module:EnvId-v0" in its saved
    arguments, so that --resume, enjoy.py and probe.py import the module again.)"""
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as e:
            fail(f"cannot import {module!r} to register {env_id}: {e}")
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.5)
        fail(f"unknown env id {env_id!r}" + (f"; did you mean {', '.join(close)}?" if close else ""))
    return env_id


def mujoco_warnings_once() -> None:
    """Print each MuJoCo warning once: every env of a vector compiles the same model,
    and HalfCheetah-v5's model carries a deprecated attribute, once per env. (Imported here:
    a task without MuJoCo starts half a second sooner.)"""
    import mujoco
    seen: set[str] = set()

    def warn(msg: str) -> None:
        if msg not in seen:
            seen.add(msg)
            print(f"MuJoCo warning: {msg}", file=sys.stderr)

    mujoco.set_mju_user_warning(warn)


def make_envs(env_id: str, num_envs: int) -> tuple[gym.vector.VectorEnv, gym.Env]:
    """`num_envs` copies of env_id stepped in one process, and one more for evaluation.

    Refuses, with a one-line error, what this implementation cannot handle.
    """
    env_id = split_env_id(env_id)
    if "mujoco" in str(gym.spec(env_id).entry_point):
        mujoco_warnings_once()
    # SAME_STEP: when an episode ends, step() already returns the next episode's first
    # observation, and the true last one is in info["final_obs"]. (Sync beats Async on 2 cores.)
    try:
        eval_env = gym.make(env_id)
        envs = gym.make_vec(env_id, num_envs, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    except (gym.error.Error, ImportError) as e:
        fail(f"cannot make {env_id}: {e}")
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        fail(f"{env_id} has observations {obs_space}; only flat vector (Box) observations are supported: "
             f"flatten them with a wrapper (e.g. gymnasium.wrappers.FlattenObservation)")
    if not isinstance(act_space, (gym.spaces.Discrete, gym.spaces.Box)) or (
            isinstance(act_space, gym.spaces.Box) and len(act_space.shape) != 1):
        fail(f"{env_id} has actions {act_space}; only Discrete or flat Box actions are supported")
    return envs, eval_env


def acrobot_state(obs: np.ndarray) -> np.ndarray:
    """(cos t1, sin t1, cos t2, sin t2, dt1, dt2) -> the env's state (t1, t2, dt1, dt2)."""
    return np.array([np.arctan2(obs[1], obs[0]), np.arctan2(obs[3], obs[2]), obs[4], obs[5]])


def state_jumper(env: gym.Env):
    """A function jump(env, obs) that puts an env of this kind into the state `obs` shows, or None.

    Found by comparing an observation, after a few random steps, with the
    simulator's own state:
    * MuJoCo locomotion: obs = (qpos[k:], qvel, ...), where k = 1 (the torso's
      x: Hopper, Walker2d, HalfCheetah) or 2 (x and y: Ant, Humanoid). The k
      left-out coordinates, the torso's place on the floor, do not enter the
      dynamics: they are set to 0.
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
        for to_state in (lambda o: np.array(o, dtype=np.float64), acrobot_state):
            if to_state(obs).shape == state.shape and np.allclose(to_state(obs), state, atol=1e-5):
                return lambda e, o: setattr(e.unwrapped, "state", to_state(o))
    return None
