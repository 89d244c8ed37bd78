"""python -m app [--host 127.0.0.1] [--port 7860] [--model PATH] [--adapter PATH|none]: the side-by-side Gradio app."""
from __future__ import annotations

import argparse

from infini.adapter import adapter_option
from core.loading import ModelLoadError

from .logic import Workbench
from .ui import build


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--model", help="base model: Hugging Face checkpoint folder or .gguf")
    parser.add_argument("--adapter", default="default",
                        help="trained memory gates/adapters for the Infini column ('none': the untrained conversion)")
    args = parser.parse_args(argv)
    adapter = adapter_option(args.adapter)
    try:
        workbench = Workbench.load(args.model, adapter=adapter)  # the base model loads once per process
    except (ModelLoadError, FileNotFoundError, ValueError) as exc:  # no model, no adapter file, or one for another model
        raise SystemExit(f"error: {exc}") from None
    demo = build(workbench)
    demo.queue(default_concurrency_limit=1, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, show_error=True)


if __name__ == "__main__":
    main()
