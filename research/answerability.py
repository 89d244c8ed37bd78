"""Does the model know when the document does not hold the answer? Signals of an invented reply, and how well
each one separates them.

    python research/answerability.py --adapter A --out research/answerability/NAME.jsonl \
        [--tasks facts,facts_unanswerable --lengths 2k --depths 0,50 --samples 8 --seed 50]

For each held-out case the script ingests the document, decodes the greedy reply (as `eval run` does), and
scores that reply teacher-forced twice: after the document (memory and last segment) and after an empty
document (no memory, no tail: the question alone). Per case it records:
- reply_mean, reply_min: the reply's mean and lowest token log-probability (the model's confidence);
- document_gain: log p(reply | document) - log p(reply | nothing), in nats: how much the document made the
  reply likelier (a pointwise mutual information). A reply copied out of the memory gains many nats (a held-out
  fact gains 17-19, research/fact_gain.py); an invented one should gain little;
- refusal_margin: the likeliest training refusal (infini.train_data.REFUSALS) against the greedy reply, in nats.
Then, for each signal, the area under the ROC curve for telling the replies to drop (an invented answer to an
unanswerable question, or a wrong answer) from the right answers, over replies that do not already refuse. An
area near 0.5 means the signal carries nothing; 1.0 (or 0.0, read the other way) that a threshold separates them.

    python research/answerability.py --results DIR [DIR ...]

reads `eval run` folders instead (their Infini rows' `confidence`, the reply's lowest token probability, which is
reply_min as a probability) and prints what refusing below each confidence would do to right and invented answers.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.contract import collect  # noqa: E402
from eval.options import add_case_options, cases_from_options  # noqa: E402
from eval.report import read_results  # noqa: E402
from eval.scorers import abstains, score  # noqa: E402
from infini.pipeline import InfiniPipeline  # noqa: E402
from infini.train_data import REFUSALS  # noqa: E402
from research.answer_likelihood import reply_log_likelihood  # noqa: E402

SIGNALS = ("reply_mean", "reply_min", "document_gain", "document_gain_per_token", "refusal_margin")


def case_signals(reader, case, max_new_tokens: int) -> dict:
    state = reader.ingest(case.document)
    answer = collect(reader.stream_answer(state, case.question, max_new_tokens, case.answer_prefix))
    reply = answer.text
    reply_ids = reader.encode(reply)
    with_document, _ = reply_log_likelihood(reader, state, case.question, case.answer_prefix, reply_ids)
    without, _ = reply_log_likelihood(reader, reader.new_state(), case.question, case.answer_prefix, reply_ids)
    refusals = [sum(reply_log_likelihood(reader, state, case.question, case.answer_prefix, reader.encode(r))[0])
                for r in REFUSALS]
    gain = sum(with_document) - sum(without)
    return {"id": case.id, "task": case.task, "length": case.length, "depth": case.depth, "answers": case.answers,
            "prediction": reply, "score": score(case.metric, reply, case.answers),
            "refuses": bool(abstains(reply, case.answers)), "reply_tokens": len(with_document),
            "confidence": answer.confidence,  # exp(reply_min), as eval rows record it
            "reply_mean": sum(with_document) / len(with_document), "reply_min": min(with_document),
            "document_gain": gain, "document_gain_per_token": gain / len(with_document),
            "refusal_margin": max(refusals) - sum(with_document)}


def unanswerable(row: dict) -> bool:
    return row["task"].endswith("unanswerable")


def should_drop(row: dict) -> bool:
    """An answer that is not right: invented (unanswerable question) or wrong (answerable one)."""
    return unanswerable(row) or row["score"] < 1.0


def summary(rows: list[dict]) -> list[str]:
    answering = [r for r in rows if not r["refuses"]]
    drop = [should_drop(r) for r in answering]
    lines = [f"{len(rows)} cases; {len(rows) - len(answering)} replies refuse; of the {len(answering)} that answer, "
             f"{sum(drop)} should not (invented or wrong) and {len(drop) - sum(drop)} are right.", "",
             "| signal | AUROC, right against not (higher: right answers score higher) | right: median | not: median |",
             "|---|---|---|---|"]
    for signal in SIGNALS:
        values = [r[signal] for r in answering]
        right = sorted(v for v, d in zip(values, drop) if not d)
        wrong = sorted(v for v, d in zip(values, drop) if d)
        area = roc_auc_score([not d for d in drop], values) if right and wrong else float("nan")
        median = lambda xs: xs[len(xs) // 2] if xs else float("nan")  # noqa: E731
        lines.append(f"| {signal} | {area:.2f} | {median(right):.2f} | {median(wrong):.2f} |")
    return lines + ["", *abstention(rows)]


def abstention(rows: list[dict]) -> list[str]:
    """What refusing whenever a reply's confidence is below a threshold would do."""
    asked_blind = [r for r in rows if unanswerable(r)]
    answerable = [r for r in rows if not unanswerable(r)]
    lines = [f"Refusing whenever the reply's least sure token has a probability below a threshold (replies that "
             f"already refuse stay refusals); {len(answerable)} answerable, {len(asked_blind)} unanswerable:", "",
             "| threshold | answerable: right | unanswerable: invented |", "|---|---|---|"]
    for threshold in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        kept = lambda r: not r["refuses"] and r["confidence"] >= threshold  # noqa: E731
        right = sum(kept(r) and r["score"] >= 1.0 for r in answerable)
        invented = sum(kept(r) for r in asked_blind)
        lines.append(f"| {threshold:.1f} | {right}/{len(answerable)} | {invented}/{len(asked_blind)} |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_case_options(parser, tasks="facts,facts_unanswerable", lengths="2k", depths="0,50", samples=8, seed=50)
    parser.add_argument("--adapter", default="default")
    parser.add_argument("--model")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--out", type=Path, help="JSON Lines, one row a case (read back with --summary)")
    parser.add_argument("--summary", action="store_true", help="only summarise an existing --out file")
    parser.add_argument("--results", type=Path, nargs="+", help="eval run folders: the confidence table of their rows")
    args = parser.parse_args(argv)
    if args.results:
        rows = [{**r, "refuses": bool(abstains(r["prediction"], r["answers"]))}
                for folder in args.results for r in read_results(folder)
                if r["pipeline"] == "infini" and r.get("confidence") is not None and r["task"].startswith("facts")]
        print("\n".join(abstention(rows)))
        return
    if not args.out:
        parser.error("--out is required without --results")

    if not args.summary:
        reader = InfiniPipeline.load(model=args.model, adapter=args.adapter).reader
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w") as handle:
            for case in cases_from_options(reader.tokenizer, args):
                row = case_signals(reader, case, args.max_new_tokens)
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                print(f"{row['id']}: {row['score']:.0f} {row['prediction']!r} gain {row['document_gain']:.1f}", flush=True)
    rows = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    print("\n".join(summary(rows)))


if __name__ == "__main__":
    main()
