"""python -m eval run ... | suite NAME | report DIR | compare DIR DIR ..."""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

from .options import add_case_options, cases_from_options, positive_int
from .runner import run
from .tasks import CasesFileError, load_cases

PIPELINE_NAMES = ("infini", "infini_untrained", "infini_untrained_linear", "rag", "full")
SUITES_DIR = Path(__file__).resolve().parent / "suites"
SUITE_KEYS = ("pipelines", "tasks", "lengths", "depths", "samples", "seed", "max_new_tokens")  # eval run's options


def suite_run_argv(name: str, out: str | None, extra: list[str]) -> tuple[list[str], Path]:
    """`eval run` arguments for a suite: its file's values, then the user's own options (which win)."""
    path = Path(name) if name.endswith(".json") else SUITES_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.json")))
        raise SystemExit(f"error: no suite {name!r} (known: {known}; or give a .json file of your own)")
    try:
        spec = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SystemExit(f"error: {path} is not valid JSON: {exc}") from None
    unknown = sorted(set(spec) - set(SUITE_KEYS) - {"description"})
    if unknown:
        raise SystemExit(f"error: {path} has unknown key {unknown[0]!r}; expected some of {', '.join(SUITE_KEYS)}")
    folder = Path(out or f"runs/suite-{path.stem}")
    argv = ["run"]
    for key in SUITE_KEYS:
        if key in spec:
            argv += [f"--{key.replace('_', '-')}", str(spec[key])]
    return [*argv, "--out", str(folder), *extra], folder


def check_pipeline_names(names: list[str]) -> None:
    unknown = [name for name in names if name not in PIPELINE_NAMES]
    if unknown:
        raise SystemExit(f"unknown pipeline {unknown[0]!r}; expected one of {PIPELINE_NAMES}")


def make_pipelines(names: list[str], model: str | None = None, adapter: str | None = None, segment_len: int | None = None,
                   device: str | None = None, read_cap: float | None = None, memory_layers: list[int] | None = None,
                   dtype: str | None = None, segments_per_pass: int | None = None):
    """Load the base model once; each pipeline converts its own copy.

    dtype: the base model's weights (default: bfloat16 on CUDA, float32 on CPU); the memory is float32 either way.
    "int8": the Infini pipelines' attention and MLP weights quantised to int8 (CPU), the others' float32.
    segments_per_pass: Infini segments per pass over the layers (None: as many as fit the reader's budget).
    """
    check_pipeline_names(names)

    import torch

    from core.loading import default_dtype, load_base_model
    from infini.model import InfiniConfig, InfiniModel
    from infini.pipeline import InfiniPipeline
    from infini.stream import InfiniReader

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    int8 = dtype == "int8"
    weights = torch.float32 if int8 else getattr(torch, dtype) if dtype else default_dtype(device)
    lm, tokenizer = load_base_model(model, dtype=weights, device=device)
    pipelines = {}
    for name in names:
        if name == "infini":
            pipelines[name] = InfiniPipeline.load(
                adapter=adapter, segment_len=segment_len, base=(copy.deepcopy(lm), tokenizer), read_cap=read_cap,
                memory_layers=memory_layers, segments_per_pass=segments_per_pass, int8=int8,
            )
        elif name.startswith("infini_untrained"):
            rule = "linear" if name.endswith("linear") else "delta"
            config = InfiniConfig(segment_len=segment_len or InfiniConfig.segment_len, update_rule=rule)
            model = InfiniModel(copy.deepcopy(lm), config)
            if int8:
                model.quantize_int8()
            pipeline = InfiniPipeline(InfiniReader(model, tokenizer, segments_per_pass=segments_per_pass))
            pipeline.name = name
            pipelines[name] = pipeline
        elif name == "full":
            from .full import FullContextPipeline

            pipelines[name] = FullContextPipeline(copy.deepcopy(lm), tokenizer)
        else:
            from rag.pipeline import RagPipeline

            pipelines[name] = RagPipeline.load(base=(copy.deepcopy(lm), tokenizer))
    return pipelines, tokenizer


def parse_layers(text: str) -> list[int]:
    """'0-9' or '3,12-14' -> sorted layer indices."""
    layers = set()
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            layers.update(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layers like 0-9 or 3,12-14, got {text!r}") from None
    if not layers:
        raise argparse.ArgumentTypeError("no layers given")
    return sorted(layers)


def parse_read_cap(text: str) -> float:
    """'on' -> 1.0 (the local read's RMS), 'off' -> 0.0, or a multiple such as '2'."""
    if text in ("on", "off"):
        return float(text == "on")
    try:
        multiple = float(text)
    except ValueError:
        multiple = -1.0
    if not multiple >= 0:  # NaN as well
        raise argparse.ArgumentTypeError(f"expected on, off or a multiple of the local read's scale (>= 0), got {text!r}")
    return multiple


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Score both pipelines on the same cases.")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run cases through pipelines into DIR/results.jsonl (resumable)")
    add_case_options(run_p)
    run_p.add_argument("--pipelines", default="infini,rag")
    run_p.add_argument("--haystack", help="text file to draw needle haystacks from (default: Python's Language Reference)")
    run_p.add_argument("--model", help="base model: checkpoint folder or .gguf")
    run_p.add_argument("--adapter", default="default", help="trained gates/adapters for 'infini' ('none' for untrained)")
    run_p.add_argument("--segment-len", type=int, help="Infini segment length (default: the adapter's)")
    run_p.add_argument("--read-cap", type=parse_read_cap, metavar="on|off|MULTIPLE",
                       help="cap the memory read at the local read's scale (on), at a multiple of it, or not (off)"
                            " (default: as the adapter was trained)")
    run_p.add_argument("--memory-layers", type=parse_layers, metavar="LAYERS",
                       help="keep the trained memory in these layers only, e.g. 0-9 or 3,12-14 (default: all)")
    run_p.add_argument("--max-new-tokens", type=int, default=32)
    run_p.add_argument("--ingest-batch", type=positive_int, default=1, metavar="N",
                       help="Infini: ingest N documents together, one forward pass per segment step for all "
                            "(fills a GPU; each row's ingest_s is then the batch's time). Default 1")
    run_p.add_argument("--device")
    run_p.add_argument("--dtype", choices=("float32", "bfloat16", "int8"),
                       help="base model weights (default: bfloat16 on CUDA, float32 on CPU, where the artifacts were measured);"
                            " int8: the Infini pipelines' linear layers quantised (CPU; bench/ingest.py measures it)")
    run_p.add_argument("--segments-per-pass", type=positive_int, metavar="N",
                       help="Infini: segments of a document ingested per pass over the layers (default: as many as "
                            "1,024 tokens hold; 1: one segment at a time). The same memory either way")
    run_p.add_argument("--cases", help="a JSON Lines file of your own cases (instead of --tasks)")
    run_p.add_argument("--out", required=True)
    run_p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run on Ray workers: a local instance sized to this machine, or the cluster at ADDRESS "
                            "(default: $RAY_ADDRESS when set)")
    run_p.add_argument("--ray-workers", type=positive_int, metavar="N",
                       help="Ray workers (default: the cluster's CPUs / --ray-cpus-per-worker, or its GPUs with --device cuda)")
    run_p.add_argument("--ray-cpus-per-worker", type=positive_int, default=1, metavar="N")
    run_p.add_argument("--ray-retries", type=int, default=2, metavar="N",
                       help="tries more for a document whose worker died or failed, before it is recorded as an error")
    suite_p = sub.add_parser("suite", help="run a named suite (eval/suites/NAME.json, or your own JSON file), then write "
                                          "its report and head-to-head table; other options go to eval run")
    suite_p.add_argument("name")
    suite_p.add_argument("--out", help="run folder (default runs/suite-NAME; resumable)")
    report_p = sub.add_parser("report", help="write report.md, scores.csv and plots from DIR/results.jsonl")
    report_p.add_argument("dir")
    report_p.add_argument("--mixed-provenance", action="store_true",
                          help="pool rows made by different adapters, rules, segment lengths or weights (refused by default)")
    compare_p = sub.add_parser("compare", help="the cases two or more runs share, scored side by side (sign test for two)")
    compare_p.add_argument("dirs", nargs="+", metavar="DIR")
    compare_p.add_argument("--pipeline", default="infini")
    compare_p.add_argument("--by", default="task,length", help="result fields to group by, e.g. task,length,depth")
    compare_p.add_argument("--mixed-provenance", action="store_true",
                           help="let one run's folders come from different set-ups (refused by default)")
    args, extra = parser.parse_known_args(argv)
    if args.command == "suite":
        from .report import head_to_head, read_results, write_report

        run_argv, folder = suite_run_argv(args.name, args.out, extra)
        main(run_argv)
        print(write_report(folder), file=sys.stderr)
        table = head_to_head(read_results(folder))
        (folder / "headline.md").write_text(table)
        print(table, end="")
        return
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    if args.command == "compare":
        from .compare import compare_table

        if len(args.dirs) < 2:
            raise SystemExit("error: compare needs at least two run folders")
        try:
            print(compare_table(args.dirs, args.pipeline, tuple(args.by.split(",")), args.mixed_provenance), end="")
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {exc}") from None
        return

    if args.command == "report":
        from .report import write_report

        try:
            print(write_report(args.dir, args.mixed_provenance))
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from None
        return

    if args.command == "run":
        if args.cases:
            try:
                load_cases(args.cases)  # fail on a bad file before loading any model
            except (CasesFileError, OSError) as exc:
                raise SystemExit(f"error: {exc}") from None
        haystack = None
        if args.haystack:
            with open(args.haystack, encoding="utf-8", errors="replace") as handle:
                haystack = handle.read()
        from infini.adapter import adapter_option

        adapter = adapter_option(args.adapter)
        if adapter not in (None, "default") and not os.path.isfile(adapter):
            raise SystemExit(f"error: no adapter file at {adapter} (use --adapter none for the untrained conversion)")
        check_pipeline_names(args.pipelines.split(","))  # before any model loads, here or on Ray workers
        options = {"names": args.pipelines.split(","), "model": args.model, "adapter": adapter,
                   "segment_len": args.segment_len, "device": args.device, "read_cap": args.read_cap,
                   "memory_layers": args.memory_layers, "dtype": args.dtype, "segments_per_pass": args.segments_per_pass}
        if args.ray is not None:
            from .ray_runner import run_on_ray
            from .runner import case_specs

            try:
                import ray  # noqa: F401
            except ImportError:
                raise SystemExit("error: --ray needs Ray: pip install -e '.[ray]' (make setup installs it)") from None

            address = args.ray or os.environ.get("RAY_ADDRESS") or "local"
            specs = None if args.cases else case_specs(args.tasks, args.lengths, args.depths, args.samples, args.seed)
            path = run_on_ray(address, options, args.out, specs=specs, cases=load_cases(args.cases) if args.cases else None,
                              haystack=haystack, max_new_tokens=args.max_new_tokens, ingest_batch=args.ingest_batch,
                              workers=args.ray_workers, cpus_per_worker=args.ray_cpus_per_worker,
                              max_retries=args.ray_retries)
            print(path, file=sys.stderr)
            return
        pipelines, tokenizer = make_pipelines(**options)
        if args.cases:
            cases = load_cases(args.cases)
        else:
            cases = cases_from_options(tokenizer, args, haystack=haystack)
        print(run(cases, pipelines, args.out, args.max_new_tokens, args.ingest_batch), file=sys.stderr)


if __name__ == "__main__":
    main()
