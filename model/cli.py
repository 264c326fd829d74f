"""`python -m model.train`: one run, or a sweep of many trained as populations.

Every TrainConfig field is a flag, described from model/presets.py (HELP, BOUNDS, CHOICES). A scalar flag
takes a comma list (`--lr 0.01,0.02`), `--seeds 0-3` (or `0,1,2,3`) lists seeds, and the cross product
is trained. Members that share a shape (POPULATION_KEYS in model/train.py) train as one population;
different shapes run one after another. With more than one member `--out DIR` holds one ordinary run
folder per member and `sweep.json` listing them; `--resume --out DIR` continues the whole sweep.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from model import checkpoint, data, preflight
from model import device as devices
from model import train as trainer
from model.presets import BOUNDS, CHOICES, DEFAULT, HELP, PRESETS, TrainConfig, preset

SWEEP = checkpoint.SWEEP
ENDED = ("finished", "diverged")  # member statuses a resume leaves alone
NOT_FLAGS = {"preset"}


class Parser(argparse.ArgumentParser):
    """Errors in one line and a pointer to --help, not the whole usage first."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see python -m model.train --help)\n")


def _field_type(f: Any) -> str:
    return str(f.type).replace(" | None", "")


def describe(name: str) -> str:
    """A flag's help: what it does, the default recipe's value, its range or choices."""
    text = HELP.get(name, "")
    default = getattr(PRESETS[DEFAULT], name)
    text += f" (default: {default if default is not None else 'none'} in {DEFAULT}"
    if name in BOUNDS:
        text += f"; range {BOUNDS[name].text()}"
    if name in CHOICES:
        text += f"; one of {', '.join(CHOICES[name])}"
    return text + "; a comma list sweeps it)" if name not in ("dataset", "device") else text + ")"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m model.train", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--preset", default=DEFAULT, choices=sorted(PRESETS), help=f"the recipe (default {DEFAULT})")
    p.add_argument(
        "--out", help="run folder, or a sweep's folder (default: runs/<preset>-<dataset>-<hidden>x<T>-s<seed>)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run or the sweep in --out")
    p.add_argument("--seeds", help="seeds to train, as 0-3 or 0,1,2 (the same as --seed with a list)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    for f in fields(TrainConfig):
        if f.name in NOT_FLAGS:
            continue
        kind = _field_type(f)
        metavar = {"bool": "{true,false}", "int": "N", "float": "X"}.get(kind, "NAME")
        if f.name in CHOICES:
            metavar = "{" + ",".join(CHOICES[f.name]) + "}"
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, metavar=metavar, help=describe(f.name))
    return p


def parse_value(name: str, raw: str) -> Any:
    """One value of a flag, typed as its TrainConfig field; ValueError in words a person can act on."""
    kind = _field_type(next(f for f in fields(TrainConfig) if f.name == name))
    flag = "--" + name.replace("_", "-")
    raw = raw.strip()
    if raw.lower() == "none" and name in ("e_bound", "threads", "time_limit", "train_limit", "eval_limit"):
        return None
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{flag}: expected true or false, got {raw!r}")
    if kind in ("int", "float"):
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{flag}: {raw!r} is not a number") from None
        if kind == "int":
            if not value.is_integer():
                raise ValueError(f"{flag}: {raw!r} is not a whole number")
            return int(value)
        return value
    if name in CHOICES and raw not in CHOICES[name]:
        raise ValueError(f"{flag}: {raw!r} is not one of {', '.join(CHOICES[name])}")
    return raw


def parse_list(name: str, raw: str) -> list[Any]:
    """A comma list of values; `a-b` is the integers a..b for whole-number options (seeds)."""
    values: list[Any] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"--{name.replace('_', '-')}: empty value in {raw!r}")
        lo, dash, hi = part.partition("-")
        if dash and lo.isdigit() and hi.isdigit():
            if int(hi) < int(lo):
                raise ValueError(f"--{name.replace('_', '-')}: range {part!r} runs backwards")
            values += list(range(int(lo), int(hi) + 1))
        else:
            values.append(parse_value(name, part))
    if len(set(map(repr, values))) != len(values):
        raise ValueError(f"--{name.replace('_', '-')}: {raw!r} lists a value twice")
    return values


def sweep_grid(args: argparse.Namespace) -> dict[str, list[Any]]:
    """Every flag given, as the list of its values."""
    grid: dict[str, list[Any]] = {}
    for f in fields(TrainConfig):
        raw = getattr(args, f.name, None)
        if f.name in NOT_FLAGS or raw is None:
            continue
        grid[f.name] = parse_list(f.name, raw)
    if args.seeds is not None:
        if "seed" in grid:
            raise ValueError("give --seed or --seeds, not both")
        grid["seed"] = parse_list("seed", args.seeds)
    return grid


def expand(preset_name: str, grid: dict[str, list[Any]]) -> tuple[list[TrainConfig], list[str]]:
    """The cross product of the grid as configs (each checked), and the names of the options that vary."""
    varying = [k for k, v in grid.items() if len(v) > 1]
    keys = list(grid)
    cfgs = [preset(preset_name, **dict(zip(keys, combo, strict=True))) for combo in itertools.product(*grid.values())]
    return cfgs, varying


def member_name(cfg: TrainConfig, varying: list[str]) -> str:
    parts = [f"{k.replace('_', '-')}{getattr(cfg, k):g}" if isinstance(getattr(cfg, k), float)
             else f"{k.replace('_', '-')}{getattr(cfg, k)}" for k in varying]
    return "-".join(parts) or "run"


def default_out(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{cfg.preset}-{cfg.dataset}-{cfg.hidden}x{cfg.T}-s{cfg.seed}"


def write_sweep(out: Path, cfgs: list[TrainConfig], names: list[str], varying: list[str], argv: list[str]) -> None:
    checkpoint.atomic_write_json(
        out / SWEEP,
        {
            "command": " ".join(["python -m model.train", *argv]),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "varying": varying,
            "members": [
                {"name": n, "folder": n, "settings": {k: getattr(c, k) for k in varying}, "train": c.to_dict()}
                for c, n in zip(cfgs, names, strict=True)
            ],
        },
    )


def read_sweep(out: Path) -> tuple[list[TrainConfig], list[Path]]:
    """The members of a sweep folder that have not ended (finished or diverged)."""
    sweep = json.loads((out / SWEEP).read_text())
    cfgs, dirs = [], []
    for m in sweep["members"]:
        folder = out / m["folder"]
        status = checkpoint.read_config(folder).get("status") if (folder / checkpoint.CONFIG).exists() else None
        if status in ENDED:
            continue
        cfgs.append(TrainConfig.from_dict(m["train"]))
        dirs.append(folder)
    return cfgs, dirs


def populations(cfgs: list[TrainConfig], dirs: list[Path]) -> list[tuple[list[TrainConfig], list[Path]]]:
    """Members grouped by shape (model.train.POPULATION_KEYS), in the order first seen."""
    groups: dict[tuple[Any, ...], tuple[list[TrainConfig], list[Path]]] = {}
    for c, d in zip(cfgs, dirs, strict=True):
        g = groups.setdefault(trainer.population_key(c), ([], []))
        g[0].append(c)
        g[1].append(d)
    return list(groups.values())


def plan(args: argparse.Namespace, rank: int = 0) -> tuple[list[TrainConfig], list[Path], bool]:
    """(configs, run folders, resuming) from the command line. A resumed sweep's members that never
    started (no state.pt) start afresh."""
    out = Path(args.out) if args.out else None
    if args.resume:
        if out is None:
            raise ValueError("--resume needs --out RUN_OR_SWEEP_FOLDER")
        if not out.is_dir():
            raise ValueError(f"no such run folder: {out}")
        if (out / SWEEP).exists():
            cfgs, dirs = read_sweep(out)
            if not cfgs:
                raise ValueError(f"every member of the sweep in {out} has ended; nothing to resume")
            return cfgs, dirs, True
        if not (out / checkpoint.CONFIG).exists():
            raise ValueError(f"{out} holds no run to resume (no {checkpoint.CONFIG} or {SWEEP})")
        return [TrainConfig.from_dict(checkpoint.read_config(out)["train"])], [out], True
    cfgs, varying = expand(args.preset, sweep_grid(args))
    if len(cfgs) == 1:
        return cfgs, [out or default_out(cfgs[0])], False
    if out is None:
        raise ValueError(f"a sweep of {len(cfgs)} runs needs --out DIR for its folders")
    names = [member_name(c, varying) for c in cfgs]
    if rank == 0 and (out / SWEEP).exists():  # the other ranks may find rank 0's fresh one
        raise ValueError(f"{out} already holds a sweep: continue it with --resume or choose another --out")
    return cfgs, [out / n for n in names], False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    try:
        cfgs, dirs, resume = plan(args, rank)
        sweep = len(cfgs) > 1 or (args.out is not None and (Path(args.out) / SWEEP).exists())
        mine = list(range(rank, len(cfgs), world_size)) if sweep else list(range(len(cfgs)))
        # device, data, batch and (rank 0, which writes it) every output folder, before anything starts
        problems = []
        for c, d in ((cfgs[i], dirs[i]) for i in mine):  # under torchrun each rank checks its own members
            try:
                preflight.check_run(c, d if rank == 0 or sweep else None, resume=resume and started(d),
                                    world_size=1 if sweep else world_size)
            except preflight.PreflightError as e:
                problems += [f"{d}: {line}" if sweep else line for line in str(e).splitlines()]
        if problems:
            raise preflight.PreflightError("\n".join(dict.fromkeys(problems)))
        if sweep and not resume and rank == 0:
            out = Path(args.out)
            varying = [k for k, v in sweep_grid(args).items() if len(v) > 1]
            write_sweep(out, cfgs, [d.name for d in dirs], varying, argv)
        if sweep:
            return run_sweep(cfgs, dirs, resume, rank, world_size, not args.no_progress)
        return run_single(cfgs[0], dirs[0], resume, rank, world_size, not args.no_progress)
    except (ValueError, data.DataError, checkpoint.CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def run_single(cfg: TrainConfig, out: Path, resume: bool, rank: int, world_size: int, bar: bool) -> int:
    """One run; under torchrun, data-parallel."""
    import torch.distributed as dist

    if world_size > 1:
        dev = devices.resolve(cfg.device)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    try:
        summary = trainer.train(cfg, out, rank=rank, world_size=world_size, resume=resume, progress_bar=bar)
    finally:
        if world_size > 1:
            dist.destroy_process_group()
    return 0 if summary["status"] in ("finished", "cancelled", "interrupted") else 1


def run_sweep(cfgs: list[TrainConfig], dirs: list[Path], resume: bool, rank: int, world_size: int, bar: bool) -> int:
    """Each population in turn; under torchrun each rank trains its share of the members on its own
    device, with no gradient exchange between members."""
    if world_size > 1:
        share = list(range(rank, len(cfgs), world_size))
        cfgs, dirs = [cfgs[i] for i in share], [dirs[i] for i in share]
        local = int(os.environ.get("LOCAL_RANK", rank))
        cfgs = [_on_local_device(c, local) for c in cfgs]
        if not cfgs:
            print(f"rank {rank}: no member left for this rank", file=sys.stderr)
            return 0
    for group_cfgs, group_dirs in populations(cfgs, dirs):
        # a resumed population continues from one epoch: members that stopped elsewhere, or never
        # started, train as populations of their own
        batches: dict[tuple[bool, int], tuple[list[TrainConfig], list[Path]]] = {}
        for c, d in zip(group_cfgs, group_dirs, strict=True):
            key = (resume and started(d), _epoch_of(d) if resume and started(d) else 0)
            batches.setdefault(key, ([], []))[0].append(c)
            batches[key][1].append(d)
        for (resuming, _), (bc, bd) in batches.items():
            print(f"population of {len(bc)} ({bc[0].hidden} units, T = {bc[0].T}, batch {bc[0].batch_size})",
                  file=sys.stderr, flush=True)
            summaries = trainer.train_population(bc, bd, resume=resuming, progress_bar=bar)
            if any(s["status"] in ("interrupted", "cancelled") for s in summaries):
                return 0  # Ctrl-C: the later populations wait for --resume
    return 0


def started(folder: Path) -> bool:
    return (folder / checkpoint.STATE).is_file()


def _epoch_of(folder: Path) -> int:
    """The epoch a member resumes from: its state.pt's (config.json's is the best epoch's)."""
    try:
        return int(checkpoint.load_state(folder)["train_state"]["epoch"])
    except (checkpoint.CheckpointError, KeyError, ValueError, TypeError, RuntimeError):
        return 0


def _on_local_device(cfg: TrainConfig, local_rank: int) -> TrainConfig:
    from dataclasses import replace

    if devices.resolve(cfg.device).type == "cuda":
        return replace(cfg, device=f"cuda:{local_rank}")
    return cfg


if __name__ == "__main__":
    sys.exit(main())
