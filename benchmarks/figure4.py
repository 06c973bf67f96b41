"""Figure 4 of the paper: the basic against the advanced forward model, same task, same seeds.

    python benchmarks/figure4.py --env Hopper-v5 --seeds 1 2 3 --jobs 2

Runs `train.py --model basic` and `--model advanced` (each with the task's
other defaults) in separate processes, resuming interrupted runs like
table1.py, then plots benchmarks/curves/figure4-<env>.png: the evaluation
return (left) and the forward model's one-step error (right, the training
loss in normalised units, log scale) over env steps, mean over seeds, and
prints the final returns of both.
"""
from __future__ import annotations

import argparse
import csv
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from table1 import HERE, mean_std, run_one

MODELS = ["basic", "advanced"]


def main() -> None:
    p = argparse.ArgumentParser(description="Reproduce Figure 4: basic vs advanced forward model.")
    p.add_argument("--env", default="Hopper-v5", help="task (default Hopper-v5)")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (at most the number of cores)")
    p.add_argument("extra", nargs="*", help="after --: extra train.py flags for new runs")
    args = p.parse_args()
    # The advanced model is train.py's default, so its runs are Table 1's MGAIL runs (table1.py
    # names them <env>-mgail-seed<s>): one set of runs serves both, and a finished one is reused.
    name = lambda m, s: f"{args.env}-mgail-seed{s}" if m == "advanced" else f"{args.env}-mgail-{m}-seed{s}"
    jobs = [(m, s) for m in MODELS for s in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda j: run_one(args.env, "mgail", j[1], ["--model", j[0], *args.extra], name(*j)), jobs))

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt:
        fig, (ax_ret, ax_err) = plt.subplots(1, 2, figsize=(9, 3.2))
    for m in MODELS:
        runs = [list(csv.DictReader(open(HERE / "runs" / name(m, s) / "progress.csv"))) for s in args.seeds]
        n = min(len(r) for r in runs)  # common evaluation points of all seeds
        steps = [int(r["env_steps"]) for r in runs[0][:n]]
        ret = np.array([[float(r["eval_return_mean"]) for r in run[:n]] for run in runs])  # (seeds, n)
        err = np.array([[float(r["model_error"] or "nan") for r in run[:n]] for run in runs])
        finals = [json.loads((HERE / "runs" / name(m, s) / "results.json").read_text())["eval_return_mean"]
                  for s in args.seeds]
        print(f"{args.env} {m:8s} final return {mean_std(finals)} over seeds {args.seeds}")
        if plt:
            ax_ret.plot(steps, ret.mean(0), label=m)
            ax_ret.fill_between(steps, ret.min(0), ret.max(0), alpha=0.2)
            ax_err.plot(steps[1:], err[:, 1:].mean(0), label=m)  # no model error before the first update
    if plt:
        ax_ret.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")  # 50000 -> 50k
        ax_ret.set(xlabel="env steps", ylabel="evaluation return", title=f"{args.env}: return")
        ax_err.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:.0f}k")  # 50000 -> 50k
        ax_err.set(xlabel="env steps", ylabel="one-step error (normalised MSE)", yscale="log",
                   title="forward-model error")
        ax_ret.legend()
        fig.tight_layout()
        (HERE / "curves").mkdir(exist_ok=True)
        fig.savefig(HERE / "curves" / f"figure4-{args.env}.png", dpi=100)


if __name__ == "__main__":
    main()
