"""What the command-line scripts (train.py, enjoy.py, expert.py, benchmarks/) share.

* `fail`: bad input ends in one line on stderr and exit code 2, never a traceback.
* `ArgumentParser`: argparse that does the same for a bad flag (no usage dump) and
  takes no abbreviations, so `--env-step` is an error, not silently `--env-steps`.
* `atomic_save`: a file is written whole or not at all, so a kill mid-write never
  destroys the checkpoint it was replacing.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

import torch


def fail(msg: str) -> NoReturn:
    """A one-line error for bad input: exit code 2, no traceback."""
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors and no prefix matching of flags."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)")


def atomic_save(obj, path: Path) -> None:
    """torch.save to path.tmp, then rename: a kill mid-write never leaves a corrupt file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
