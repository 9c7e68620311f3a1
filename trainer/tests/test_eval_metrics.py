"""eval_metrics against values worked out by hand (arithmetic in the comments)."""

import math
import os
import subprocess
import sys
import textwrap

import pytest

from neftune_trainer import eval_metrics as em


def test_repeated_bigram_by_hand():
    # tokens: the cat the cat sat (5); chars 3+1+3+1+3+1+3+1+3 = 19
    # 2-grams: (the cat)(cat the)(the cat)(cat sat): 4 total, 3 unique -> rep_2 = 1/4, distinct_2 = 3/4
    # 3-grams: 3 total, 3 unique -> rep_3 = 0; 4-grams: 2 total, 2 unique -> rep_4 = 0
    # log_diversity = log(3/4 * 1 * 1); distinct_1 = {the, cat, sat} / 5 = 3/5
    m = em.answer_metrics("the cat the cat sat", n_tokens=10)
    assert m["length_chars"] == 19
    assert m["length_words"] == 5
    assert m["diversity_tokens"] == 10
    assert m["rep_2"] == pytest.approx(0.25)
    assert m["distinct_2"] == pytest.approx(0.75)
    assert m["distinct_1"] == pytest.approx(0.6)
    assert m["log_diversity"] == pytest.approx(math.log(0.75))
    assert m["rouge_l"] is None


def test_all_same_token_by_hand():
    # a a a a a: 2-grams 4 total/1 unique -> rep 3/4; 3-grams 3/1 -> 2/3; 4-grams 2/1 -> 1/2
    # diversity = (1/4)(1/3)(1/2) = 1/24; distinct_1 = 1/5; distinct_2 = 1/4
    m = em.answer_metrics("a a a a a")
    assert m["rep_2"] == pytest.approx(0.75)
    assert m["log_diversity"] == pytest.approx(math.log(1 / 24))
    assert m["distinct_1"] == pytest.approx(0.2)
    assert m["distinct_2"] == pytest.approx(0.25)


def test_prefix_of_n_tokens_only():
    # N = 2: head is [the, cat]: one 2-gram -> rep_2 0, distinct_2 1; no 3/4-grams -> log_div 0.
    # Lengths are still of the whole answer.
    m = em.answer_metrics("the cat the cat sat", n_tokens=2)
    assert m["length_words"] == 5
    assert m["rep_2"] == 0.0
    assert m["distinct_1"] == 1.0
    assert m["distinct_2"] == 1.0
    assert m["log_diversity"] == 0.0
    # N = 4: the cat the cat: 2-grams (the cat)(cat the)(the cat): 3 total, 2 unique -> rep 1/3
    # 3-grams 2/2 -> 0; 4-gram 1/1 -> 0; distinct_1 = 2/4
    m = em.answer_metrics("the cat the cat sat", n_tokens=4)
    assert m["rep_2"] == pytest.approx(1 / 3)
    assert m["log_diversity"] == pytest.approx(math.log(2 / 3))
    assert m["distinct_1"] == pytest.approx(0.5)


def test_whitespace_tokens_keep_case_and_punctuation():
    # "A a a." splits to [A, a, a.]: all different, so nothing repeats.
    m = em.answer_metrics("A  a\ta.\n")
    assert m["length_words"] == 3
    assert m["length_chars"] == 8
    assert m["rep_2"] == 0.0
    assert m["distinct_1"] == 1.0


@pytest.mark.parametrize("text,chars", [("", 0), ("  \n ", 4)])
def test_empty_answer(text, chars):
    m = em.answer_metrics(text)
    assert m["length_chars"] == chars
    assert m["length_words"] == 0
    assert (m["rep_2"], m["distinct_1"], m["distinct_2"], m["log_diversity"]) == (0.0, 0.0, 0.0, 0.0)


def test_one_token_answer():
    # one token: no 2-grams -> rep_2 0, distinct_2 0; distinct_1 1/1; all factors 1 -> log 0
    m = em.answer_metrics("hello")
    assert (m["rep_2"], m["distinct_1"], m["distinct_2"], m["log_diversity"]) == (0.0, 1.0, 0.0, 0.0)


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, None])
def test_bad_n_tokens(bad):
    with pytest.raises(ValueError, match="n_tokens"):
        em.answer_metrics("a b", n_tokens=bad)


def test_rouge_l_lcs_by_hand():
    # pred  the cat sat on the mat (6), ref the cat is on the mat (6)
    # LCS = the cat on the mat = 5 -> P = 5/6, R = 5/6, F1 = 5/6
    m = em.answer_metrics("the cat sat on the mat", reference="the cat is on the mat")
    assert m["rouge_l"] == pytest.approx(5 / 6)
    # pred the cat (2), ref the big cat sat (4): LCS 2 -> P = 1, R = 1/2, F1 = 2*1*0.5/1.5 = 2/3
    assert em.rouge_l("the cat", "the big cat sat") == pytest.approx(2 / 3)
    # rouge-score's tokenizer lowercases and drops punctuation: same tokens -> 1
    assert em.rouge_l("The CAT!", "the cat") == pytest.approx(1.0)
    # no common token -> 0; empty reference is a reference (scores 0, not None)
    assert em.rouge_l("dog", "cat") == 0.0
    assert em.answer_metrics("dog", reference="")["rouge_l"] == 0.0


def test_aggregate_means_by_hand():
    a = em.answer_metrics("the cat the cat sat", reference="the cat sat")
    b = em.answer_metrics("hello")
    agg = em.aggregate([a, b])
    assert agg["length_chars"] == pytest.approx((19 + 5) / 2)
    assert agg["length_words"] == pytest.approx((5 + 1) / 2)
    assert agg["rep_2"] == pytest.approx((0.25 + 0) / 2)
    assert agg["log_diversity"] == pytest.approx((math.log(0.75) + 0) / 2)
    assert agg["distinct_1"] == pytest.approx((0.6 + 1) / 2)
    assert agg["distinct_2"] == pytest.approx((0.75 + 0) / 2)
    assert agg["diversity_tokens"] == em.DEFAULT_DIVERSITY_TOKENS
    # rouge_l over the one answer with a reference: pred 5 tokens, ref 3, LCS the cat sat = 3
    # P = 3/5, R = 1, F1 = 2*0.6/1.6 = 3/4 (b has none, so it is not averaged in as 0)
    assert agg["rouge_l"] == pytest.approx(0.75)
    assert agg["memorization_rouge_l"] is None
    assert agg["memorization_examples"] == 0


def test_aggregate_no_reference_and_memorization():
    agg = em.aggregate([em.answer_metrics("x y")], memorization=em.memorization_scores(
        ["the cat sat on the mat", "dog"], ["the cat is on the mat", "dog"]))
    assert agg["rouge_l"] is None
    # (5/6 + 1) / 2 = 11/12
    assert agg["memorization_rouge_l"] == pytest.approx(11 / 12)
    assert agg["memorization_examples"] == 2


def test_aggregate_errors():
    with pytest.raises(ValueError, match="no answers"):
        em.aggregate([])
    with pytest.raises(ValueError, match="diversity_tokens"):
        em.aggregate([em.answer_metrics("a", n_tokens=2), em.answer_metrics("a", n_tokens=3)])
    with pytest.raises(ValueError, match="2 answers but 1"):
        em.memorization_scores(["a", "b"], ["a"])


def test_aggregate_matches_schema():
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(em.__file__).parent / "schemas" / "eval-report.schema.json").read_text())
    defs = schema["$defs"]
    agg = em.aggregate([em.answer_metrics("a b a b", reference="a b")], memorization=[0.5])
    jsonschema.validate(agg, defs["AggregateMetrics"])
    # Per-answer dicts fit Generation.metrics (numbers or null).
    jsonschema.validate(em.answer_metrics("a"), defs["Generation"]["properties"]["metrics"])
    assert set(agg) <= set(defs["AggregateMetrics"]["properties"])


def test_import_is_lazy_and_rouge_needs_no_network_or_nltk_data(tmp_path):
    # Fresh interpreter: sockets refused, NLTK_DATA an empty folder. Importing the module and
    # scoring without a reference must not import rouge_score; scoring with one must work offline.
    code = textwrap.dedent(
        """
        import socket, sys
        def refuse(*a, **k):
            raise RuntimeError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from neftune_trainer import eval_metrics as em
        em.answer_metrics("a b c")
        assert "rouge_score" not in sys.modules and "nltk" not in sys.modules
        print(round(em.rouge_l("the cat sat on the mat", "the cat is on the mat"), 6))
        """
    )
    env = dict(os.environ, NLTK_DATA=str(tmp_path), HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(round(5 / 6, 6))
