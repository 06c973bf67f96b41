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

Past one machine: --print-commands prints the train.py command of every run that has
not finished (one line each, to be run from the repository's root), for a job array
or GNU parallel (docs/usage.md); when their folders are back under benchmarks/runs/,
--report-only tabulates them, and lists the runs still under way below the table.

Normalised return: (R - R_random) / (R_expert - R_random), with R_random the
mean return of uniformly random actions over 10 episodes (seeds 0..9), and
R_expert the return of the demonstrations that run imitated (the expert
column shows their mean over runs).
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
from evaluation import evaluate  # noqa: E402

HERE = ROOT / "benchmarks"
TASKS = ["CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Hopper-v5", "Walker2d-v5", "HalfCheetah-v5",
         "Ant-v5", "Humanoid-v5"]


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
    return ["python", "train.py", "--env", env_id, "--algo", algo, "--seed", str(seed), "--out", str(rel), *extra]


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


TABLE_HEADER = ["| task | expert | BC | BC normalised | GAIL | GAIL normalised | MGAIL | MGAIL normalised "
                "| MGAIL env steps | MGAIL wall time / run | seeds (MGAIL, GAIL) |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
# The table's header before it had a GAIL column: its rows are kept, with GAIL's cells empty.
OLD_HEADER = ["| task | expert | BC | BC normalised | MGAIL | MGAIL normalised | MGAIL env steps | MGAIL wall time / run | seeds |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]


def kept_rows(table: Path) -> dict[str, str]:
    """The rows of an existing table1.md, by task (empty if there is none, or it has another header)."""
    if not table.exists():
        return {}
    lines = table.read_text().splitlines()
    if lines[:2] == OLD_HEADER:
        rows = [line.split(" | ") for line in lines[2:] if line.startswith("|")]
        lines = TABLE_HEADER + [" | ".join(r[:4] + ["—", "—"] + r[4:-1] + [r[-1].replace(" |", ", 0 |")]) for r in rows]
    if lines[:2] != TABLE_HEADER:
        return {}
    return {line.split("|")[1].strip(): line for line in lines[2:] if line.startswith("|")}


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
    p.add_argument("--algos", nargs="+", default=["mgail", "gail", "bc"], choices=["mgail", "gail", "bc"],
                   help="algorithms")
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

    rows = TABLE_HEADER[:]
    # Every task with finished runs gets its row, from every seed on disk, not only the --envs
    # and --seeds run now: running one task or one seed must not drop the others from table1.md.
    # The runs are not in git (benchmarks/runs/ is ignored), so a task with no finished run on
    # disk keeps the row table1.md already has: a new checkout that finishes one task keeps the rest.
    kept = kept_rows(HERE / "table1.md")
    for env_id in TASKS + [e for e in args.envs if e not in TASKS]:
        done = {a: [(d, json.loads((d / "results.json").read_text())) for d in run_dirs(env_id, a)
                    if (d / "results.json").exists()] for a in ("mgail", "gail", "bc")}
        done = {a: [(d, r) for d, r in runs if r.get("finished")] for a, runs in done.items()}
        res = {a: [r for _, r in runs] for a, runs in done.items()}
        if not any(res.values()):
            if env_id in kept:
                rows.append(kept[env_id])
            continue
        # An algorithm with no finished run on disk keeps its cells of the row table1.md has.
        old = [c.strip() for c in kept[env_id].strip().strip("|").split("|")] if env_id in kept else ["—"] * 11
        old_seeds = (old[10].split(", ") + ["0"])[:2] if old[10] != "—" else ["0", "0"]
        # Each run is normalised by the return of its own demonstrations (they depend on the seed).
        r_exp = float(np.mean([r["expert_return_mean"] for rs in res.values() for r in rs]))
        r_rand = random_return(env_id)
        norm = lambda rs: [(r["eval_return_mean"] - r_rand) / (r["expert_return_mean"] - r_rand) for r in rs]
        # Mean over seeds of each seed's mean return over its evaluation episodes; ± is the std over seeds.
        cell = lambda rs: mean_std([r["eval_return_mean"] for r in rs])
        m, g, bc = res["mgail"], res["gail"], res["bc"]
        bc_cells = f"{cell(bc)} | {mean_std(norm(bc), 2)}" if bc else " | ".join(old[2:4])
        gail_cells = f"{cell(g)} | {mean_std(norm(g), 2)}" if g else " | ".join(old[4:6])
        mgail_cells = (f"{cell(m)} | {mean_std(norm(m), 2)} | {m[0]['env_steps']} | "
                       f"{np.mean([r['wall_seconds'] for r in m]) / 60:.1f} min" if m else " | ".join(old[6:10]))
        seeds = f"{len(m) if m else old_seeds[0]}, {len(g) if g else old_seeds[1]}"
        expert_cell = f"{r_exp:.1f}" if m or env_id not in kept else old[1]  # MGAIL's runs' demonstrations
        rows.append(f"| {env_id} | {expert_cell} | {bc_cells} | {gail_cells} | {mgail_cells} | {seeds} |")
        # Curves of every MGAIL and GAIL run on disk, unfinished ones too, and BC's level.
        curves = [d for a in ("mgail", "gail") for d in run_dirs(env_id, a) if (d / "progress.csv").exists()]
        if curves:
            plot_curves(env_id, curves, r_exp, [r["eval_return_mean"] for r in res["bc"]])
    (HERE / "table1.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    under_way = [under_way_line(d) for e in TASKS + args.envs for a in ("mgail", "gail", "bc") for d in run_dirs(e, a)
                 if (d / "checkpoint.pt").exists() and not finished(d)]
    if under_way:
        print("under way (not in the table):\n" + "\n".join(sorted(set(under_way))))


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
        algo = "GAIL" if "-gail-" in d.name else "MGAIL"
        ax.plot([int(r["env_steps"]) for r in rows], [float(r["eval_return_mean"]) for r in rows],
                label=f"{algo} {d.name.rsplit('-', 1)[-1]}", linestyle="--" if algo == "GAIL" else "-")
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
