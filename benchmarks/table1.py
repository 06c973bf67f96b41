"""Table 1 of the paper: MGAIL against GAIL and BC (and the expert), with learning curves per task.

    python benchmarks/table1.py --envs CartPole-v1 --seeds 1 2 3
    python benchmarks/table1.py --envs Hopper-v5 --algos mgail --seeds 1 2 3 --jobs 2
    python benchmarks/table1.py --print-commands > jobs.txt    # one line a run, for a cluster
    python benchmarks/table1.py --report-only                  # collect what has run, here or elsewhere

Each (task, algorithm, seed) runs `train.py` with that task's defaults in its own
process, into benchmarks/runs/<env>-<algo>-seed<seed>. A finished run is not
run again; an interrupted one continues from its checkpoint (--resume), so a
long task can be finished across several sessions. Then the table of every
finished run, of every task (not only those of --envs), is written to benchmarks/table1.md, and benchmarks/curves/<env>.png
(matplotlib, optional) shows MGAIL's evaluation return over env steps, unfinished runs too.
Of each run, git keeps what the table is made from (results.json, progress.csv and
eval200.json; .gitignore), so a new checkout rebuilds the table without the weights.

Past one machine: --print-commands prints the train.py command of every run that has
not finished (one line each, to be run from the repository's root), for a job array
or GNU parallel (docs/usage.md); when their folders are back under benchmarks/runs/,
--report-only tabulates them, and lists the runs still under way below the table.

Normalised return: (R - R_random) / (R_expert - R_random), with R_random the
mean return of uniformly random actions over 10 episodes (seeds 0..9), and
R_expert the return of the demonstrations that run imitated (the expert
column shows their mean over seeds).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from cli import ArgumentParser, fail  # noqa: E402  (after the path is set)
import watch  # noqa: E402  (first of the project's modules: it sets MuJoCo's renderer)
from environments import split_env_id  # noqa: E402
from evaluation import evaluate, policy_actor  # noqa: E402

HERE = ROOT / "benchmarks"
ALGOS = ["mgail", "gail", "bc", "paper"]  # paper: train.py --paper, MGAIL as the paper writes it
TASKS = ["CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Hopper-v5", "Walker2d-v5", "HalfCheetah-v5",
         "Ant-v5", "Humanoid-v5", "Reacher-v5",
         "InvertedPendulum-v5", "InvertedDoublePendulum-v5"]


def finished(out: Path) -> bool:
    results = out / "results.json"
    return results.exists() and bool(json.loads(results.read_text()).get("finished"))


def train_command(env_id: str, algo: str, seed: int, extra: list[str], name: str | None = None) -> list[str]:
    """The train.py command that makes (or finishes) one run into runs/<name>, paths relative to
    the repository's root; [] if it has finished."""
    out = HERE / "runs" / (name or f"{env_id}-{algo}-seed{seed}")
    if finished(out):
        return []
    rel = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    if (out / "checkpoint.pt").exists():
        return ["python", "train.py", "--resume", str(rel)]
    algo_flags = ["--algo", "mgail", "--paper"] if algo == "paper" else ["--algo", algo]
    return ["python", "train.py", "--env", env_id, *algo_flags, "--seed", str(seed), "--out", str(rel), *extra]


def run_one(env_id: str, algo: str, seed: int, extra: list[str], name: str | None = None) -> Path:
    """Run (or finish) one training run in its own process, into runs/<name>; returns its folder."""
    out = HERE / "runs" / (name or f"{env_id}-{algo}-seed{seed}")
    cmd = train_command(env_id, algo, seed, extra, name)
    if not cmd:
        return out
    cmd = [sys.executable, *cmd[1:]]
    print("running:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-500:], flush=True)
    return out


COLUMNS = ["task", "expert", "BC", "BC normalised", "GAIL", "GAIL normalised", "paper", "paper normalised", "MGAIL",
           "MGAIL normalised", "MGAIL env steps", "MGAIL wall time / run", "seeds (MGAIL, GAIL, paper)"]
# Every seed of MGAIL: the bar for one recipe (docs/results.md).
SEED_COLUMNS = ["task", "seeds", "normalised, each seed", "lowest", "over 200 episodes",
                "seeds that hold", "env steps to 0.95 (median, range)"]


def header(columns: list[str]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]


def kept_rows(table: Path, columns: list[str]) -> dict[str, dict[str, str]]:
    """The rows of the table in table1.md whose first column is "task" and that has a column of
    `columns` other than task (earlier versions of it too), by task and column name; {} if none.
    A column an earlier table did not have is "—"; its "seeds" cells gain a 0 per missing algorithm."""
    if not table.exists():
        return {}
    lines, found = table.read_text().splitlines(), {}
    for i, line in enumerate(lines[:-1]):
        names = [c.strip() for c in line.strip().strip("|").split("|")]
        if names[0] != "task" or len(names) < 2 or names[1] != columns[1] or not lines[i + 1].startswith("| ---"):
            continue
        for row in lines[i + 2:]:
            if not row.startswith("|"):
                break
            cells = dict(zip(names, (c.strip() for c in row.strip().strip("|").split("|"))))
            seeds = next((cells.pop(n) for n in list(cells) if n.startswith("seeds (") or n == "seeds"), None)
            if seeds is not None and columns[-1].startswith("seeds ("):  # pad "3, 3" to "3, 3, 0"
                parts = seeds.split(", ")
                cells[columns[-1]] = ", ".join(parts + ["0"] * (columns[-1].count(",") + 1 - len(parts)))
            elif seeds is not None:
                cells["seeds"] = seeds
            found[cells["task"]] = {c: cells.get(c, "—") for c in columns}
    return found


def run_dirs(env_id: str, algo: str) -> list[Path]:
    """The folders runs/<env>-<algo>-seed<N> there are, by seed (not Figure 4's "-basic-" runs)."""
    pattern = re.compile(re.escape(f"{env_id}-{algo}-seed") + r"(\d+)$")
    found = [(int(m.group(1)), d) for d in (HERE / "runs").glob(f"{env_id}-{algo}-seed*")
             if (m := pattern.match(d.name))]
    return [d for _, d in sorted(found)]


def random_return(env_id: str, episodes: int = 10) -> float:
    env = gym.make(env_id)
    env.action_space.seed(0)
    return evaluate(lambda o: np.array([env.action_space.sample()]), env, episodes, seed=0)[0]


def mean_std(values: list[float], digits: int = 1) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}" if values else "—"


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description="Reproduce Table 1: MGAIL and BC on the paper's tasks.")
    p.add_argument("--envs", nargs="+", default=TASKS, help="tasks to run (default: all eight)")
    p.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS,
                   help="algorithms; paper: MGAIL with --paper (every departure off)")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (at most the number of cores)")
    p.add_argument("--report-only", action="store_true", help="do not run; tabulate what has finished")
    p.add_argument("--print-commands", action="store_true",
                   help="do not run; print the train.py command of each unfinished run, one a line")
    p.add_argument("extra", nargs="*", help="after --: extra train.py flags for new runs")
    args = p.parse_args(argv)
    unknown = [e for e in args.envs if e.split(":")[-1] not in gym.registry and ":" not in e]
    if unknown:
        fail(f"unknown env id {unknown[0]!r}: use gymnasium ids such as {', '.join(TASKS[:3])}")
    if args.jobs <= 0 or any(s < 0 for s in args.seeds):
        fail("--jobs must be positive and --seeds 0 or more")
    if args.print_commands:
        for e in args.envs:
            for a in args.algos:
                for s in args.seeds:
                    if cmd := train_command(e, a, s, args.extra):
                        print(" ".join(cmd))
        return
    if not args.report_only:
        jobs = [(e, a, s) for e in args.envs for a in args.algos for s in args.seeds]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda j: run_one(*j, args.extra), jobs))

    # Every task with finished runs gets its rows, from every seed on disk, not only the --envs
    # and --seeds run now: running one task or one seed must not drop the others from table1.md.
    # Git keeps only each run's results.json, progress.csv and eval200.json (.gitignore), and only
    # from the runs someone committed, so a task with no finished run on disk keeps the rows
    # table1.md already has: a new checkout that finishes one task keeps the rest.
    kept = kept_rows(HERE / "table1.md", COLUMNS)
    kept_seeds = kept_rows(HERE / "table1.md", SEED_COLUMNS)
    rows, seed_rows = [], []
    for env_id in TASKS + [e for e in args.envs if e not in TASKS]:
        res = {a: [json.loads((d / "results.json").read_text()) for d in run_dirs(env_id, a) if finished(d)]
               for a in ALGOS}
        if not any(res.values()):
            rows += [kept[env_id]] if env_id in kept else []
            seed_rows += [kept_seeds[env_id]] if env_id in kept_seeds else []
            continue
        # An algorithm with no finished run on disk keeps its cells of the row table1.md has.
        old = kept.get(env_id, {c: "—" for c in COLUMNS})
        old_seeds = dict(zip(("mgail", "gail", "paper"), (old[COLUMNS[-1]].split(", ") + ["0"] * 3)[:3]))
        # Each run is normalised by the return of its own demonstrations (they depend on the seed).
        r_exp = expert_mean(res)
        r_rand = random_return(env_id)
        norm = lambda rs: [normalised(r["eval_return_mean"], r, r_rand) for r in rs]
        # Mean over seeds of each seed's mean return over its evaluation episodes; ± is the std over seeds.
        row = {"task": env_id, "expert": f"{r_exp:.1f}" if res["mgail"] or env_id not in kept else old["expert"]}
        for a, name in (("bc", "BC"), ("gail", "GAIL"), ("paper", "paper"), ("mgail", "MGAIL")):
            rs = res[a]
            row[name] = mean_std([r["eval_return_mean"] for r in rs]) if rs else old[name]
            row[f"{name} normalised"] = mean_std(norm(rs), 2) if rs else old[f"{name} normalised"]
        m = res["mgail"]
        row["MGAIL env steps"] = str(m[0]["env_steps"]) if m else old["MGAIL env steps"]
        row["MGAIL wall time / run"] = (f"{np.mean([r['wall_seconds'] for r in m]) / 60:.1f} min" if m
                                        else old["MGAIL wall time / run"])
        row[COLUMNS[-1]] = ", ".join(str(len(res[a])) if res[a] else old_seeds[a] for a in ("mgail", "gail", "paper"))
        rows.append(row)
        if m:
            seed_rows.append(seed_row(env_id, run_dirs(env_id, "mgail"), r_rand))
        elif env_id in kept_seeds:
            seed_rows.append(kept_seeds[env_id])
        # Curves of every MGAIL, GAIL and --paper run on disk, unfinished ones too, and BC's level;
        # without MGAIL's runs on disk the task keeps the curve it has (MGAIL's, from elsewhere).
        curves = [d for a in ("mgail", "gail", "paper") for d in run_dirs(env_id, a) if (d / "progress.csv").exists()]
        if curves and run_dirs(env_id, "mgail"):
            plot_curves(env_id, curves, r_exp, [r["eval_return_mean"] for r in res["bc"]])
    lines = header(COLUMNS) + ["| " + " | ".join(r[c] for c in COLUMNS) + " |" for r in rows]
    lines += ["", "Every seed of MGAIL (a seed holds if at least 90% of its evaluations over the last 20% "
              "of its budget are at 0.9 normalised or more):", ""]
    lines += header(SEED_COLUMNS) + ["| " + " | ".join(r[c] for c in SEED_COLUMNS) + " |" for r in seed_rows]
    (HERE / "table1.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    under_way = [under_way_line(d) for e in TASKS + args.envs for a in ALGOS for d in run_dirs(e, a)
                 if (d / "checkpoint.pt").exists() and not finished(d)]
    if under_way:
        print("under way (not in the table):\n" + "\n".join(sorted(set(under_way))))


def expert_mean(res: dict[str, list[dict]]) -> float:
    """The expert column: the demonstrations' return averaged over seeds, one value per seed (every
    algorithm of a seed imitates the same demonstrations), so that adding a BC or GAIL run of a seed
    already on disk does not move it."""
    return float(np.mean(list({r["seed"]: r["expert_return_mean"] for rs in res.values() for r in rs}.values())))


def normalised(ret: float, results: dict, r_rand: float) -> float:
    """(R - R_random) / (R_expert - R_random), R_expert the run's own demonstrations'."""
    return (ret - r_rand) / (results["expert_return_mean"] - r_rand)


def evaluate_200(run_dir: Path) -> float:
    """The run's final evaluation extended to 200 deterministic episodes, episode i from
    reset(10,000 seed + 999,999 + i) as train.py's final one (its 20 are the first), 20 side by
    side; kept in <run>/eval200.json."""
    cache = run_dir / "eval200.json"
    if cache.exists():
        return json.loads(cache.read_text())["return_mean"]
    policy, run_args = watch.load_policy(run_dir)
    env_id = split_env_id(run_args["env"])
    act = policy_actor(policy, gym.make(env_id).action_space)
    mean, std = evaluate(act, [gym.make(env_id) for _ in range(20)], 200, seed=10_000 * run_args["seed"] + 999_999)
    cache.write_text(json.dumps({"return_mean": mean, "return_std": std, "episodes": 200}))
    return mean


def seed_row(env_id: str, dirs: list[Path], r_rand: float) -> dict[str, str]:
    """One task's MGAIL seeds against the bar of one recipe: each seed's normalised return (20
    episodes), the lowest, the mean over 200 episodes, how many seeds hold their level at the end
    (no collapse), and the env steps of their first evaluation at 0.95 normalised or more (not
    results.json's steps_to_95, 95% of the expert's raw return, which a negative return such as
    Acrobot's -64 puts out of reach: 0.95 normalised is -86, 95% of -64 is -67)."""
    import csv
    per_seed, held, s95, over_200 = [], 0, [], []
    for d in dirs:
        if not finished(d):
            continue
        r = json.loads((d / "results.json").read_text())
        per_seed.append(normalised(r["eval_return_mean"], r, r_rand))
        over_200.append(normalised(evaluate_200(d), r, r_rand))
        curve = [(int(h["env_steps"]), normalised(float(h["eval_return_mean"]), r, r_rand))
                 for h in csv.DictReader(open(d / "progress.csv"))]
        late = [x for steps, x in curve if steps >= 0.8 * r["env_steps"]]
        held += bool(late) and np.mean(np.array(late) >= 0.9) >= 0.9
        s95.append(next((steps for steps, x in curve if x >= 0.95), None))
    reached = sorted(x for x in s95 if x is not None)
    s95_cell = (f"{int(np.median(reached)):,} ({reached[0]:,}-{reached[-1]:,})" if reached else "never") + (
        f", {len(s95) - len(reached)} never" if reached and len(reached) < len(s95) else "")
    return {"task": env_id, "seeds": str(len(per_seed)), "normalised, each seed": ", ".join(f"{x:.2f}" for x in per_seed),
            "lowest": f"{min(per_seed):.2f}", "over 200 episodes": mean_std(over_200, 2),
            "seeds that hold": f"{held} of {len(per_seed)}", "env steps to 0.95 (median, range)": s95_cell}


def under_way_line(d: Path) -> str:
    """A run that has not finished: how far it got, from its last logged evaluation."""
    rows = (d / "progress.csv").read_text().splitlines()[1:] if (d / "progress.csv").exists() else []
    last = rows[-1].split(",") if rows else None
    return f"  {d.name}: " + (f"{last[0]} env steps, last evaluation {float(last[2]):.1f}" if last else "started")


def plot_curves(env_id: str, run_dirs: list[Path], expert_return: float, bc_returns: list[float]) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    import csv
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for d in run_dirs:
        if not (d / "progress.csv").exists():
            continue
        rows = list(csv.DictReader(open(d / "progress.csv")))
        algo = "GAIL" if "-gail-" in d.name else "MGAIL --paper" if "-paper-" in d.name else "MGAIL"
        ax.plot([int(r["env_steps"]) for r in rows], [float(r["eval_return_mean"]) for r in rows],
                label=f"{algo} {d.name.rsplit('-', 1)[-1]}", linestyle={"GAIL": "--", "MGAIL": "-"}.get(algo, ":"))
    ax.axhline(expert_return, color="k", linestyle="--", label="expert")
    if bc_returns:
        ax.axhline(np.mean(bc_returns), color="gray", linestyle=":", label="BC (mean)")
    ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1000:.0f}k")  # 50k, 1.5M
    ax.set(xlabel="env steps", ylabel="evaluation return", title=env_id)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    (HERE / "curves").mkdir(exist_ok=True)
    fig.savefig(HERE / "curves" / f"{env_id}.png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
