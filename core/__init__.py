"""What both pipelines share, below them all: the pipeline contract, loading the base model, reading
documents and greedy decoding. It imports neither pipeline nor the eval, so the arrows point down:
app -> eval -> infini, rag -> core."""
