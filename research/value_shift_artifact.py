"""A diagnostic artifact: a trained artifact read with value_shift on (each key returns the next token's value).

    python research/value_shift_artifact.py ADAPTER OUT
    python -m eval run --adapter OUT ...

The weights are unchanged, so what OUT answers shows what ADAPTER's queries find. If a query for
token t finds the key of token t + 1 (the shifted match an unshifted memory must learn), then with
value_shift it reads the value of token t + 2, and a needle comes back with digits skipped; if it
finds its own key, the answers are as before.
"""
from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infini.adapter import read_card, write_derived_artifact  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, out = sys.argv[1:]
    if read_card(source)["infini"].get("value_shift"):
        raise SystemExit(f"{source} was trained with value_shift already")
    write_derived_artifact(out, load_file(source), read_card(source),
                           f"{source} read with value_shift on (research/value_shift_artifact.py)", value_shift=True)
    print(out)
