"""Compare two training runs step by step on the logged steps that drew the same segment count.

Two stages that run one recipe on the same seeded samples log the same steps, but a step's loss depends
mostly on how many segments its sample had, and the length schedule follows each run's own clock, so
only steps with equal `segments` in both logs are compared. Prints how many of them run A's loss is
lower on, and the two means (the figures in README "How the default was reached").

    python research/train_log_compare.py A/train_log.csv B/train_log.csv [--upto STEP]
"""
import argparse
import csv


def read_losses(path: str, upto: int | None) -> dict[int, tuple[int, float]]:
    """step -> (segments, loss) for each logged row up to `upto`."""
    with open(path, newline="") as f:
        rows = {int(r["step"]): (int(r["segments"]), float(r["loss"])) for r in csv.DictReader(f)}
    return {step: v for step, v in rows.items() if upto is None or step <= upto}


def compare(a: dict[int, tuple[int, float]], b: dict[int, tuple[int, float]]) -> dict:
    """A's losses against B's on the steps both logged with the same segment count."""
    steps = sorted(s for s in a.keys() & b.keys() if a[s][0] == b[s][0])
    lower = sum(a[s][1] < b[s][1] for s in steps)
    n = len(steps)
    return {"steps": n, "a_lower": lower,
            "a_mean": sum(a[s][1] for s in steps) / n if n else float("nan"),
            "b_mean": sum(b[s][1] for s in steps) / n if n else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", help="train_log.csv of the run being judged")
    parser.add_argument("b", help="train_log.csv of the run it is compared with")
    parser.add_argument("--upto", type=int, default=None, help="only steps up to this one (a stopped run)")
    args = parser.parse_args()
    result = compare(read_losses(args.a, args.upto), read_losses(args.b, args.upto))
    if not result["steps"]:
        parser.error("no step is logged in both with the same segment count (different recipes or seeds?)")
    print("| logged steps, same segments | A lower | A mean loss | B mean loss |")
    print("|---|---|---|---|")
    print(f"| {result['steps']} | {result['a_lower']} | {result['a_mean']:.3f} | {result['b_mean']:.3f} |")


if __name__ == "__main__":
    main()
