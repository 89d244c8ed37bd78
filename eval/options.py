"""The case options every command that regenerates eval cases shares (--tasks, --lengths, --depths,
--samples, --seed), parsed and checked by argparse so that a bad value stops before any model loads."""
from __future__ import annotations

import argparse

from .runner import generate_cases, parse_length
from .tasks import GENERATORS, Case


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _items(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list without empty items, got {text!r}")
    return items


def task_list(text: str) -> list[str]:
    tasks = _items(text)
    unknown = [task for task in tasks if task not in GENERATORS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown task {unknown[0]!r}; expected some of {','.join(sorted(GENERATORS))}")
    return tasks


def _checked_items(text: str, parse, valid, expected: str) -> list:
    values = []
    for item in _items(text):
        try:
            value = parse(item)
        except (ValueError, OverflowError):  # int(float('inf')) overflows
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {item!r}")
        values.append(value)
    return values


def length_list(text: str) -> list[int]:
    """'4k,32k,1m' -> [4000, 32000, 1000000] (tokens)."""
    return _checked_items(text, parse_length, lambda n: n >= 1, "lengths such as 8k,32k,1m")


def depth_list(text: str) -> list[float]:
    """'0,50,100' -> [0.0, 50.0, 100.0]: where the needle sits, in percent of the document."""
    return _checked_items(text, float, lambda d: 0.0 <= d <= 100.0, "depths in percent from 0 to 100")


def add_case_options(parser: argparse.ArgumentParser, tasks: str | None = "passkey,niah_single",
                     lengths: str = "4k,8k,16k", depths: str = "0,25,50,75,100", samples: int = 3,
                     seed: int | None = 0) -> None:
    """The five case options with this command's defaults; tasks=None leaves --tasks out (a command for one
    task), seed=None makes --seed required (a command that must name the seed of the run it reads)."""
    if tasks is not None:
        parser.add_argument("--tasks", type=task_list, default=tasks)
    parser.add_argument("--lengths", type=length_list, default=lengths, help="tokens, e.g. 8k,32k,1m")
    parser.add_argument("--depths", type=depth_list, default=depths, help="needle depth in percent, e.g. 0,50,100")
    parser.add_argument("--samples", type=positive_int, default=samples, help="cases per task, length and depth")
    if seed is None:
        parser.add_argument("--seed", type=int, required=True)
    else:
        parser.add_argument("--seed", type=int, default=seed)


def cases_from_options(tokenizer, options: argparse.Namespace, tasks: list[str] | None = None,
                       haystack: str | None = None) -> list[Case]:
    """The cases add_case_options' values name (tasks: for a command without --tasks)."""
    return generate_cases(tokenizer, tasks or options.tasks, options.lengths, options.depths, options.samples,
                          options.seed, haystack)
