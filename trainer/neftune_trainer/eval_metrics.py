"""Per-answer text metrics (the paper's Table 4) and their means over an eval.

Keys and meanings follow `AggregateMetrics` in schemas/eval-report.schema.json (the single source
of the definitions); this module only computes them.

Tokens are whitespace tokens (`str.split()`), case kept. Repetition, diversity and distinct-n are
measured on the first `n_tokens` of them (recorded as `diversity_tokens`) so long answers are not
penalised just for being long.

Edge cases, chosen explicitly:
- An n-gram statistic over zero n-grams (empty answer, or fewer than n tokens) is 0: rep_n = 0
  (nothing repeats), distinct_n = 0 (nothing distinct). Length metrics still expose the answer.
- log_diversity never meets log(0): for any non-empty n-gram list unique >= 1, so
  1 - rep_n = unique/total > 0; with no n-grams rep_n = 0 and the factor is 1. An empty or
  one-word answer thus has log_diversity = 0 (the maximum): it is not repetitive, only short.
- rouge_l is None when there is no reference (None); an empty reference string is a reference.

ROUGE-L is rouge-score's (`RougeScorer(['rougeL'], use_stemmer=False)`), imported lazily so the
trainer imports without it. Its tokenizer lowercases and keeps only [a-z0-9] runs, so text with no
ASCII letters or digits scores 0 against anything.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

DEFAULT_DIVERSITY_TOKENS = 128

# Keys averaged by `aggregate` (every per-answer dict has them, numeric).
_MEAN_KEYS = ("length_chars", "length_words", "rep_2", "log_diversity", "distinct_1", "distinct_2")

_scorer = None


def _rouge_scorer():
    # Lazy: rouge-score (and nltk under it) is only needed when a reference is scored.
    global _scorer
    if _scorer is None:
        from rouge_score import rouge_scorer

        _scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return _scorer


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 of `prediction` against `reference` (rouge-score)."""
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def rep_n(tokens: Sequence[str], n: int) -> float:
    """1 - unique n-grams / total n-grams; 0 when there are no n-grams."""
    grams = _ngrams(tokens, n)
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def distinct_n(tokens: Sequence[str], n: int) -> float:
    """Unique n-grams / total n-grams; 0 when there are no n-grams."""
    grams = _ngrams(tokens, n)
    if not grams:
        return 0.0
    return len(set(grams)) / len(grams)


def answer_metrics(
    text: str, reference: str | None = None, n_tokens: int = DEFAULT_DIVERSITY_TOKENS
) -> dict:
    """Table 4 metrics of one answer. `reference` None: rouge_l is None."""
    if not isinstance(text, str):
        raise TypeError(f"answer_metrics: text must be a string, got {type(text).__name__}")
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int) or n_tokens < 1:
        raise ValueError(f"answer_metrics: n_tokens must be an integer >= 1, got {n_tokens!r}")
    words = text.split()
    head = words[:n_tokens]
    # Each factor is > 0 (see module docstring), so the log is finite.
    log_div = sum(math.log(1.0 - rep_n(head, n)) for n in (2, 3, 4))
    return {
        "length_chars": len(text),
        "length_words": len(words),
        "diversity_tokens": n_tokens,
        "rep_2": rep_n(head, 2),
        "log_diversity": log_div,
        "distinct_1": distinct_n(head, 1),
        "distinct_2": distinct_n(head, 2),
        "rouge_l": None if reference is None else rouge_l(text, reference),
    }


def memorization_scores(answers: Sequence[str], training_answers: Sequence[str]) -> list[float]:
    """ROUGE-L F1 of each answer (to a training prompt) against that prompt's training answer."""
    if len(answers) != len(training_answers):
        raise ValueError(
            f"memorization: {len(answers)} answers but {len(training_answers)} training answers"
        )
    return [rouge_l(a, t) for a, t in zip(answers, training_answers)]


def aggregate(
    per_answer: Iterable[Mapping], memorization: Sequence[float] | None = None
) -> dict:
    """Means of `answer_metrics` dicts, as AggregateMetrics.

    rouge_l is the mean over the answers that have one (None when none has). `memorization` is the
    list from `memorization_scores`; None (not measured) gives memorization_rouge_l None.
    """
    rows = list(per_answer)
    if not rows:
        raise ValueError("aggregate: no answers to aggregate")
    ns = {r["diversity_tokens"] for r in rows}
    if len(ns) != 1:
        # Means over different prefix lengths would not be one stated N.
        raise ValueError(f"aggregate: answers measured with different diversity_tokens {sorted(ns)}")
    out: dict = {k: sum(r[k] for r in rows) / len(rows) for k in _MEAN_KEYS}
    out["diversity_tokens"] = ns.pop()
    scored = [r["rouge_l"] for r in rows if r.get("rouge_l") is not None]
    out["rouge_l"] = sum(scored) / len(scored) if scored else None
    if memorization is None:
        out["memorization_rouge_l"] = None
        out["memorization_examples"] = 0
    else:
        mem = list(memorization)
        out["memorization_rouge_l"] = sum(mem) / len(mem) if mem else None
        out["memorization_examples"] = len(mem)
    return out
