# coding=utf-8
"""Tests of run_squad.py: reading, windows, answer spans, predictions, errors.

Most are pure Python on hand-made paragraphs and logits; the model and the
TFRecord round trip build small graphs, and two bad-flag runs go through a
subprocess to show the user sees a clear error, not a TensorFlow traceback.
"""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import modeling
import run_squad
import runtime

LONG_WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
              "kilo lima mike november oscar papa quebec romeo sierra tango "
              "uniform victor whiskey xray yankee zulu").split()

TEXTS = [
    " ".join(LONG_WORDS * 3),
    "The leader was John Smith (1895-1943). The Japanese electronics "
    "industry is the largest in the world.",
    "Steve Smith's José's café MIXED Case words",
    "what year was he born ? which country exports electronics ?",
    "a long life jose cafe",
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  return bert_testing.tokenizer_for(tmp_path_factory.mktemp("vocab"), TEXTS)


# run_squad's defaults, which are the original's.
ORIGINAL_DEFAULTS = {
    "do_lower_case": True, "max_seq_length": 384, "doc_stride": 128,
    "max_query_length": 64, "do_train": False, "do_predict": False,
    "train_batch_size": 32, "predict_batch_size": 8, "learning_rate": 5e-5,
    "num_train_epochs": 3.0, "warmup_proportion": 0.1, "n_best_size": 20,
    "max_answer_length": 30, "verbose_logging": False,
    "version_2_with_negative": False, "null_score_diff_threshold": 0.0,
    "save_checkpoints_steps": 1000, "iterations_per_loop": 1000,
    "use_tpu": False, "num_tpu_cores": 8,
}


def test_default_settings_are_the_original_defaults():
  """What the original's functions read from FLAGS when called without
  settings: run_squad's defaults, whatever other scripts this process
  imported (some define `max_seq_length` with another default)."""
  settings = run_squad.default_settings()
  for name, value in ORIGINAL_DEFAULTS.items():
    assert getattr(settings, name) == value, name
  for name in NONE_DEFAULTS:
    assert getattr(settings, name) is None, name


def squad_file(tmp_path, paragraphs, name="data.json", version="1.1"):
  """Writes a SQuAD file of (context, [qa dict]) paragraphs."""
  data = {"version": version, "data": [{"title": "t", "paragraphs": [
      {"context": context, "qas": qas} for context, qas in paragraphs]}]}
  path = tmp_path / name
  path.write_text(json.dumps(data), encoding="utf-8")
  return str(path)


def qa(qid, question, answer=None, start=None, impossible=None):
  item = {"id": qid, "question": question}
  if answer is not None:
    item["answers"] = [{"text": answer, "answer_start": start}]
  if impossible is not None:
    item["is_impossible"] = impossible
    item.setdefault("answers", [])
  return item


def collect_features(examples, tokenizer, max_seq_length=32, doc_stride=8,
                     max_query_length=8, is_training=True):
  features = []
  run_squad.convert_examples_to_features(
      examples, tokenizer, max_seq_length, doc_stride, max_query_length,
      is_training, features.append)
  return features


# --- reading ----------------------------------------------------------------


def test_split_paragraph_maps_characters_to_words():
  words, offsets = run_squad.split_paragraph(u"a bc\u202fd  e")
  assert words == ["a", "bc", "d", "e"]
  # White space belongs to the word before it.
  assert offsets == [0, 0, 1, 1, 1, 2, 2, 2, 3]


def test_read_training_examples_word_positions(tmp_path):
  context = "The leader was John Smith (1895-1943)."
  path = squad_file(tmp_path, [(context, [
      qa("q1", "Who?", "John Smith", context.index("John")),
      qa("q2", "When born?", "1895", context.index("1895")),
  ])])
  stats = run_squad.ReadStats()
  examples = run_squad.read_squad_examples(path, is_training=True,
                                           version_2_with_negative=False,
                                           stats=stats)
  assert [e.qas_id for e in examples] == ["q1", "q2"]
  assert (examples[0].start_position, examples[0].end_position) == (3, 4)
  # The character span of "1895" lies inside the word "(1895-1943).".
  assert (examples[1].start_position, examples[1].end_position) == (5, 5)
  assert examples[1].orig_answer_text == "1895"
  assert stats.num_questions == 2 and stats.num_skipped == 0
  assert stats.has_answers
  assert "q1" in repr(examples[0])


def test_prediction_reading_ignores_answers(tmp_path):
  path = squad_file(tmp_path, [("a b c", [qa("q1", "?")])])
  stats = run_squad.ReadStats()
  examples = run_squad.read_squad_examples(path, is_training=False,
                                           stats=stats)
  assert examples[0].start_position is None
  assert not stats.has_answers


def test_malformed_json_names_file_and_position(tmp_path):
  path = tmp_path / "broken.json"
  path.write_text('{"data": [\n  {"paragraphs": [}\n]}', encoding="utf-8")
  with pytest.raises(ValueError) as e:
    run_squad.read_squad_examples(str(path), is_training=False)
  message = str(e.value)
  assert str(path) in message
  assert "line 2 column 19" in message


def test_non_utf8_squad_file_names_line_and_column(tmp_path):
  path = tmp_path / "latin1.json"
  path.write_bytes(b'{"data": [\n  "caf\xe9"]}')
  with pytest.raises(ValueError, match=r"latin1.json:2: not valid UTF-8 "
                     r"\(byte 0xe9 at column 7\)\.$"):
    run_squad.read_squad_examples(str(path), is_training=False)


def test_not_a_squad_file_and_missing_fields(tmp_path):
  path = tmp_path / "list.json"
  path.write_text("[1, 2]", encoding="utf-8")
  with pytest.raises(ValueError, match="top-level"):
    run_squad.read_squad_examples(str(path), is_training=False)
  path = tmp_path / "noctx.json"
  path.write_text(json.dumps({"data": [{"paragraphs": [{"qas": []}]}]}))
  with pytest.raises(ValueError, match=r"data\[0\].paragraphs\[0\].*context"):
    run_squad.read_squad_examples(str(path), is_training=False)
  with pytest.raises(ValueError, match="does not exist"):
    run_squad.read_squad_examples(str(tmp_path / "nope.json"), False)


def test_missing_answers_in_training_names_question(tmp_path):
  path = squad_file(tmp_path, [("a b c", [qa("good", "?", "b", 2),
                                          qa("q-without-answers", "?")])])
  with pytest.raises(ValueError) as e:
    run_squad.read_squad_examples(path, is_training=True,
                                  version_2_with_negative=False)
  assert "q-without-answers" in str(e.value)
  assert path in str(e.value)


def test_two_answers_in_training_is_an_error(tmp_path):
  item = qa("q2a", "?", "b", 2)
  item["answers"].append({"text": "c", "answer_start": 4})
  path = squad_file(tmp_path, [("a b c", [item])])
  with pytest.raises(ValueError, match="q2a.*exactly 1 answer"):
    run_squad.read_squad_examples(path, is_training=True,
                                  version_2_with_negative=False)


class _Records(logging.Handler):

  def __init__(self):
    super().__init__()
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


def test_answer_not_at_answer_start_is_skipped_and_counted(tmp_path):
  context = "the cat sat on the mat"
  path = squad_file(tmp_path, [(context, [
      qa("ok", "?", "cat", 4),
      qa("shifted", "?", "cat", 8),      # "sat" is there.
      qa("outside", "?", "mat", 400),    # Past the end of the paragraph.
      qa("ok2", "?", "mat", 19),
  ])])
  handler = _Records()
  tf.get_logger().addHandler(handler)
  try:
    stats = run_squad.ReadStats()
    examples = run_squad.read_squad_examples(path, is_training=True,
                                             version_2_with_negative=False,
                                             stats=stats)
  finally:
    tf.get_logger().removeHandler(handler)
  assert [e.qas_id for e in examples] == ["ok", "ok2"]
  assert stats.num_skipped == 2
  assert stats.skipped_ids == ["shifted", "outside"]
  assert any("shifted" in m for m in handler.messages)
  assert any("outside" in m for m in handler.messages)
  assert any("skipped 2 of 4" in m for m in handler.messages)


def test_unanswerable_needs_version_2_flag(tmp_path):
  path = squad_file(tmp_path, [("a b c", [qa("imp", "?", impossible=True)])])
  with pytest.raises(ValueError, match="imp.*--version_2_with_negative"):
    run_squad.read_squad_examples(path, is_training=True,
                                  version_2_with_negative=False)


def test_version_2_comes_from_the_settings(tmp_path):
  """Without the argument, --version_2_with_negative of the run's settings
  decides, as the original read the flag (default: off)."""
  path = squad_file(tmp_path, [("a b c", [qa("imp", "?", impossible=True)])])
  with pytest.raises(ValueError, match="--version_2_with_negative"):
    run_squad.read_squad_examples(path, is_training=True)
  settings = run_squad.default_settings().replace(version_2_with_negative=True)
  (example,) = run_squad.read_squad_examples(path, True, settings=settings)
  assert example.is_impossible


def test_unanswerable_questions_point_at_cls(tmp_path, tokenizer):
  context = " ".join(LONG_WORDS)
  path = squad_file(tmp_path, [(context, [
      qa("imp", "which country exports electronics ?", impossible=True),
      qa("ans", "what year", "zulu", context.index("zulu"),
         impossible=False),
  ])], version="v2.0")
  examples = run_squad.read_squad_examples(path, is_training=True,
                                           version_2_with_negative=True)
  imp, ans = examples
  assert imp.is_impossible and (imp.start_position, imp.end_position) == (-1,
                                                                          -1)
  assert imp.orig_answer_text == ""
  assert not ans.is_impossible
  features = collect_features(examples, tokenizer)
  imp_features = [f for f in features if f.example_index == 0]
  assert len(imp_features) > 1
  assert all((f.start_position, f.end_position) == (0, 0) and f.is_impossible
             for f in imp_features)
  # The answerable one points at "zulu" in the last window only.
  ans_features = [f for f in features if f.example_index == 1]
  positions = [(f.start_position, f.end_position) for f in ans_features]
  assert positions[:-1] == [(0, 0)] * (len(positions) - 1)
  last = ans_features[-1]
  assert last.tokens[last.start_position] == "zulu"


# --- windows ----------------------------------------------------------------


def brute_force_max_context(doc_spans, position):
  """The window with max min(left, right) + 0.01 * length; first on ties."""
  scores = []
  for index, span in enumerate(doc_spans):
    if span.start <= position < span.start + span.length:
      left = position - span.start
      right = span.start + span.length - 1 - position
      scores.append((min(left, right) + 0.01 * span.length, -index))
  return -max(scores)[1]


@pytest.mark.parametrize("num_tokens,max_tokens,stride", [
    (78, 17, 8), (78, 17, 16), (30, 10, 3), (5, 10, 3), (40, 10, 1),
    (41, 12, 5)])
def test_doc_spans_cover_everything_with_the_stride(num_tokens, max_tokens,
                                                    stride):
  spans = run_squad.make_doc_spans(num_tokens, max_tokens, stride)
  assert spans[0].start == 0
  assert spans[-1].start + spans[-1].length == num_tokens
  for a, b in zip(spans, spans[1:]):
    assert b.start - a.start == stride
    assert a.length == max_tokens
  assert all(0 < s.length <= max_tokens for s in spans)
  best = run_squad._max_context_span_indexes(spans, num_tokens)
  for position in range(num_tokens):
    expected = brute_force_max_context(spans, position)
    assert best[position] == expected
    for index in range(len(spans)):
      assert run_squad._check_is_max_context(spans, index, position) == (
          index == expected)


def test_max_context_example_from_the_docstring():
  # "the man went to the store and bought a gallon of milk"
  spans = [run_squad.DocSpan(0, 5), run_squad.DocSpan(3, 5),
           run_squad.DocSpan(6, 5)]
  bought = 7
  assert not run_squad._check_is_max_context(spans, 1, bought)
  assert run_squad._check_is_max_context(spans, 2, bought)


def test_windowing_a_long_context(tokenizer):
  context = " ".join(LONG_WORDS * 3)   # 78 words, one piece each.
  example = run_squad.SquadExample(
      "long", "what year was he born ?", context.split(),
      orig_answer_text="november oscar", start_position=13 + 26,
      end_position=14 + 26)
  max_seq_length, doc_stride, max_query_length = 32, 8, 4
  features = collect_features([example], tokenizer, max_seq_length,
                              doc_stride, max_query_length)
  query = tokenizer.tokenize(example.question_text)[:max_query_length]
  doc_offset = len(query) + 2
  max_tokens = max_seq_length - len(query) - 3
  spans = [run_squad.DocSpan(f.tokens and min(f.token_to_orig_map.values()),
                             len(f.token_to_orig_map)) for f in features]
  assert spans == run_squad.make_doc_spans(78, max_tokens, doc_stride)

  vocab = tokenizer.vocab
  for index, feature in enumerate(features):
    assert feature.unique_id == run_squad.FIRST_UNIQUE_ID + index
    assert feature.doc_span_index == index
    span = spans[index]
    assert feature.tokens == (["[CLS]"] + query + ["[SEP]"] +
                              context.split()[span.start:span.start +
                                              span.length] + ["[SEP]"])
    n = len(feature.tokens)
    assert len(feature.input_ids) == max_seq_length
    assert feature.input_ids[:n] == [vocab[t] for t in feature.tokens]
    assert feature.input_ids[n:] == [0] * (max_seq_length - n)
    assert feature.input_mask == [1] * n + [0] * (max_seq_length - n)
    assert feature.segment_ids == ([0] * doc_offset + [1] * (span.length + 1) +
                                   [0] * (max_seq_length - n))
    for position, word in feature.token_to_orig_map.items():
      assert word == span.start + position - doc_offset
      assert feature.token_is_max_context[position] == (
          brute_force_max_context(spans, word) == index)
    # Answer words 39-40: windows holding both point at them, others at [CLS].
    if span.start <= 39 and 40 < span.start + span.length:
      assert feature.tokens[feature.start_position:feature.end_position +
                            1] == ["november", "oscar"]
    else:
      assert (feature.start_position, feature.end_position) == (0, 0)
  # Every word is the max context of exactly one window.
  for word in range(78):
    owners = [f for f in features for p, w in f.token_to_orig_map.items()
              if w == word and f.token_is_max_context[p]]
    assert len(owners) == 1


def test_tokenize_document_matches_tokenizing_each_word(tokenizer):
  doc = u"Steve Smith's (1895-1943) Jos\u00e9's caf\u00e9 life".split()
  cache = {}
  pieces, tok_to_orig, orig_to_tok = run_squad.tokenize_document(
      doc, tokenizer, cache)
  expected = []
  for i, word in enumerate(doc):
    assert orig_to_tok[i] == len(expected)
    expected.extend(tokenizer.tokenize(word))
  assert pieces == expected
  assert [doc[i] for i in tok_to_orig] == [
      w for w in doc for _ in tokenizer.tokenize(w)]
  assert set(cache) == set(doc)
  assert run_squad.tokenize_document(doc, tokenizer, cache)[0] == pieces


def test_interleaved_paragraphs_convert_as_alone(tokenizer):
  """The paragraph and word caches never mix paragraphs up."""
  docs = [" ".join(LONG_WORDS[i:i + 12]).split() for i in (0, 5, 10)]
  examples = [run_squad.SquadExample("q%d" % i, "what year", docs[d])
              for i, d in enumerate([0, 0, 1, 0, 2, 2, 1])]
  together = collect_features(examples, tokenizer, is_training=False)
  for index, example in enumerate(examples):
    alone = collect_features([example], tokenizer, is_training=False)
    mine = [f for f in together if f.example_index == index]
    assert [f.tokens for f in mine] == [f.tokens for f in alone]
    assert [f.input_ids for f in mine] == [f.input_ids for f in alone]
    assert [f.token_to_orig_map for f in mine] == [
        f.token_to_orig_map for f in alone]


def test_long_question_is_truncated(tokenizer):
  example = run_squad.SquadExample(
      "q", " ".join(LONG_WORDS[:10]), ["alpha", "bravo"])
  (feature,) = collect_features([example], tokenizer, max_query_length=3,
                                is_training=False)
  assert feature.tokens[:5] == ["[CLS]", "alpha", "bravo", "charlie", "[SEP]"]
  assert feature.start_position is None


def test_improve_answer_span_finds_sub_word_answer(tokenizer):
  context = "The leader was John Smith (1895-1943)."
  doc = context.split()
  all_doc_tokens, _, orig_to_tok = run_squad.tokenize_document(doc, tokenizer)
  word = doc.index("(1895-1943).")
  start = orig_to_tok[word]
  end = len(all_doc_tokens) - 1
  assert all_doc_tokens[start:end + 1] == ["(", "1895", "-", "1943", ")", "."]
  assert run_squad._improve_answer_span(all_doc_tokens, start, end, tokenizer,
                                        "1895") == (start + 1, start + 1)
  assert run_squad._improve_answer_span(all_doc_tokens, start, end, tokenizer,
                                        "1895-1943") == (start + 1, start + 3)


def test_improve_answer_span_keeps_word_when_answer_is_inside_it(tokenizer):
  doc = "The Japanese electronics industry".split()
  all_doc_tokens, _, _ = run_squad.tokenize_document(doc, tokenizer)
  assert all_doc_tokens[1] == "japanese"
  assert run_squad._improve_answer_span(all_doc_tokens, 1, 1, tokenizer,
                                        "Japan") == (1, 1)


def test_training_feature_uses_improved_span(tmp_path, tokenizer):
  context = "The leader was John Smith (1895-1943)."
  path = squad_file(tmp_path, [(context, [
      qa("born", "what year was he born ?", "1895", context.index("1895"))])])
  examples = run_squad.read_squad_examples(path, True, False)
  (feature,) = collect_features(examples, tokenizer, max_seq_length=40,
                                max_query_length=10)
  assert feature.tokens[feature.start_position] == "1895"
  assert feature.end_position == feature.start_position


# --- answers back to text ---------------------------------------------------


@pytest.mark.parametrize("pred,orig,lower,expected", [
    ("steve smith", "Steve Smith's", True, "Steve Smith"),
    ("jose", u"Jos\u00e9's", True, u"Jos\u00e9"),           # Accent kept.
    ("cafe", u"(caf\u00e9)", True, u"caf\u00e9"),
    ("mixed case", "MIXED Case words", True, "MIXED Case"),
    ("Case", "MIXED Case words", False, "Case"),
    ("case", "MIXED Case words", False, "MIXED Case words"),  # Not found.
    # NFD text: stripping the combining accent changes the length, so the
    # alignment fails and the whole original span is returned.
    ("jose", u"Jose\u0301's", True, u"Jose\u0301's"),
])
def test_get_final_text(pred, orig, lower, expected):
  assert run_squad.get_final_text(pred, orig, lower,
                                  verbose_logging=False) == expected


def test_compute_softmax_matches_numpy():
  rng = np.random.RandomState(0)
  for scores in (rng.randn(7) * 3, np.array([1000.0, 999.0, -1000.0]),
                 np.array([5.0])):
    expected = np.exp(scores - scores.max())
    expected /= expected.sum()
    probs = run_squad._compute_softmax(list(scores))
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    assert all(isinstance(p, float) for p in probs)
  assert run_squad._compute_softmax([]) == []


def test_get_best_indexes_largest_first_ties_by_position():
  logits = [0.5, 2.0, -1.0, 2.0, 1.0]
  assert run_squad._get_best_indexes(logits, 3) == [1, 3, 4]
  assert run_squad._get_best_indexes(logits, 10) == [1, 3, 4, 0, 2]
  assert run_squad._get_best_indexes(np.array(logits), 2) == [1, 3]


# --- write_predictions --------------------------------------------------------


def logits_for(feature, seq_length, scores):
  """Start or end logits: -10 everywhere except {token position: score}."""
  logits = [-10.0] * seq_length
  for position, score in scores.items():
    logits[position] = score
  return logits


def position_of(feature, word):
  return feature.tokens.index(word)


def read_json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def write_predictions(tmp_path, examples, features, results, n_best_size,
                      version_2_with_negative):
  """run_squad.write_predictions (max answer 30, uncased, null threshold 0)
  into `tmp_path`: the paths of its three files, by file name."""
  out = {name: str(tmp_path / name) for name in (
      "predictions.json", "nbest_predictions.json", "null_odds.json")}
  run_squad.write_predictions(
      examples, features, results, n_best_size=n_best_size,
      max_answer_length=30, do_lower_case=True,
      output_prediction_file=out["predictions.json"],
      output_nbest_file=out["nbest_predictions.json"],
      output_null_log_odds_file=out["null_odds.json"],
      version_2_with_negative=version_2_with_negative,
      null_score_diff_threshold=0.0, verbose_logging=False)
  return out


def test_write_predictions_v1(tmp_path, tokenizer):
  e1 = run_squad.SquadExample(
      "q1", "what year", "Steve Smith's (1895-1943) life".split())
  e2 = run_squad.SquadExample("q2", "which country", u"Jos\u00e9's café".split())
  features = collect_features([e1, e2], tokenizer, is_training=False)
  assert len(features) == 2
  f1, f2 = features
  n = 32
  results = [
      run_squad.RawResult(f1.unique_id, logits_for(f1, n, {
          position_of(f1, "steve"): 3.0, position_of(f1, "1895"): 2.5,
          1: 9.0,  # In the question: never an answer.
      }), logits_for(f1, n, {
          position_of(f1, "smith"): 3.0, position_of(f1, "1895"): 1.0,
          position_of(f1, "life"): 0.5,
      })),
      run_squad.RawResult(f2.unique_id, logits_for(f2, n, {
          position_of(f2, "jose"): 1.0}), logits_for(f2, n, {
              position_of(f2, "jose"): 1.0})),
  ]
  out = write_predictions(tmp_path, [e1, e2], features, results, 3, False)
  predictions = read_json(out["predictions.json"])
  assert list(predictions) == ["q1", "q2"]
  assert predictions == {"q1": "Steve Smith", "q2": u"Jos\u00e9"}
  assert not os.path.exists(out["null_odds.json"])
  nbest = read_json(out["nbest_predictions.json"])
  texts = [entry["text"] for entry in nbest["q1"]]
  # Scores: steve..smith 6, 1895..smith invalid (end before start),
  # steve..1895 4, then steve..life and 1895..1895 both 3.5: the sort is
  # stable, and candidates come in order of start logit, then end logit.
  assert texts == ["Steve Smith", "Steve Smith's (1895",
                   "Steve Smith's (1895-1943) life"]
  totals = [e["start_logit"] + e["end_logit"] for e in nbest["q1"]]
  assert totals == [6.0, 4.0, 3.5]
  probs = np.exp(np.array(totals) - 6.0)
  np.testing.assert_allclose([e["probability"] for e in nbest["q1"]],
                             probs / probs.sum())
  with open(out["predictions.json"]) as f:
    assert f.read().endswith("}\n")


def test_write_predictions_respects_max_answer_length(tmp_path, tokenizer):
  example = run_squad.SquadExample("q", "what", LONG_WORDS[:6])
  (feature,) = collect_features([example], tokenizer, is_training=False)
  start = position_of(feature, "alpha")
  results = [run_squad.RawResult(
      feature.unique_id, logits_for(feature, 32, {start: 5.0}),
      logits_for(feature, 32, {start + 5: 5.0, start + 1: 1.0}))]
  predictions, nbest, _ = run_squad.compute_predictions(
      [example], [feature], results, n_best_size=20, max_answer_length=3,
      do_lower_case=True, version_2_with_negative=False, verbose_logging=False)
  assert predictions["q"] == "alpha bravo"


def test_only_max_context_window_counts(tokenizer):
  example = run_squad.SquadExample("q", "what", LONG_WORDS)  # 26 words.
  features = collect_features([example], tokenizer, max_seq_length=16,
                              doc_stride=4, max_query_length=2,
                              is_training=False)
  assert len(features) > 2
  # Windows of 12 words, 4 apart: "juliet" (word 9) has 2 words of right
  # context in window 0 and 5 on either side in window 1, which owns it.
  (p0,) = [p for p, w in features[0].token_to_orig_map.items() if w == 9]
  assert not features[0].token_is_max_context[p0]
  results = []
  for feature in features:
    starts, ends = {}, {}
    if feature is features[0]:
      starts = {p0: 20.0}  # Ignored: not its max-context window.
    if feature is features[1]:
      (p1,) = [p for p, w in feature.token_to_orig_map.items() if w == 8]
      starts = ends = {p1: 1.0}
    results.append(run_squad.RawResult(
        feature.unique_id, logits_for(feature, 16, starts),
        logits_for(feature, 16, ends)))
  predictions, _, _ = run_squad.compute_predictions(
      [example], features, results, 20, 30, True,
      version_2_with_negative=False, verbose_logging=False)
  assert predictions["q"] == "india"


def test_write_predictions_v2_null_odds(tmp_path, tokenizer):
  examples = [run_squad.SquadExample("has", "what", LONG_WORDS[:5]),
              run_squad.SquadExample("none", "what", LONG_WORDS[:5])]
  features = collect_features(examples, tokenizer, is_training=False)
  f_has, f_none = features
  a = position_of(f_has, "charlie")
  results = [
      # Best span 4.0 + 3.0 = 7.0 against a null score of 1.0 + 1.0.
      run_squad.RawResult(f_has.unique_id,
                          logits_for(f_has, 32, {0: 1.0, a: 4.0}),
                          logits_for(f_has, 32, {0: 1.0, a: 3.0})),
      # Null 5.0 + 4.0 = 9.0 against the best span 1.0 + 0.5.
      run_squad.RawResult(f_none.unique_id,
                          logits_for(f_none, 32, {0: 5.0, a: 1.0}),
                          logits_for(f_none, 32, {0: 4.0, a: 0.5})),
  ]
  out = write_predictions(tmp_path, examples, features, results, 5, True)
  assert read_json(out["predictions.json"]) == {"has": "charlie", "none": ""}
  odds = read_json(out["null_odds.json"])
  assert odds == {"has": pytest.approx(2.0 - 7.0),
                  "none": pytest.approx(9.0 - 1.5)}
  nbest = read_json(out["nbest_predictions.json"])
  assert nbest["none"][0]["text"] == ""
  assert "" in [e["text"] for e in nbest["has"]]
  # A threshold above the odds flips the unanswerable one to its best span.
  predictions, _, _ = run_squad.compute_predictions(
      examples, features, results, 5, 30, True, version_2_with_negative=True,
      null_score_diff_threshold=8.0, verbose_logging=False)
  assert predictions == {"has": "charlie", "none": "charlie"}


def test_v2_with_no_valid_span_does_not_crash(tokenizer):
  example = run_squad.SquadExample("q", "what", ["alpha"])
  (feature,) = collect_features([example], tokenizer, is_training=False)
  # Every top logit is in the question: no valid span at all.
  results = [run_squad.RawResult(feature.unique_id,
                                 logits_for(feature, 32, {0: 2.0, 1: 9.0}),
                                 logits_for(feature, 32, {0: 2.0, 1: 9.0}))]
  predictions, nbest, odds = run_squad.compute_predictions(
      [example], [feature], results, n_best_size=2, max_answer_length=30,
      do_lower_case=True, version_2_with_negative=True,
      null_score_diff_threshold=0.0, verbose_logging=False)
  assert predictions == {"q": ""}
  assert [e["text"] for e in nbest["q"]] == ["", "empty"]
  assert odds["q"] == pytest.approx(4.0)


def test_v2_every_nbest_entry_null_answers_no_answer(tokenizer):
  """google-research/bert #476 and #211: n-best holds only the null entry
  (every top span lies in the question), so the original's
  best_non_null_entry is None and `.start_logit` crashes. Here, even with a
  null score below the placeholder's 0 (where the placeholder would win the
  threshold test), the answer is "no answer", never the placeholder."""
  example = run_squad.SquadExample("q", "what", ["alpha", "bravo"])
  (feature,) = collect_features([example], tokenizer, is_training=False)
  results = [run_squad.RawResult(feature.unique_id,
                                 logits_for(feature, 32, {0: -3.0, 1: 9.0}),
                                 logits_for(feature, 32, {0: -2.0, 1: 9.0}))]
  predictions, nbest, odds = run_squad.compute_predictions(
      [example], [feature], results, n_best_size=2, max_answer_length=30,
      do_lower_case=True, version_2_with_negative=True,
      null_score_diff_threshold=0.0, verbose_logging=False)
  assert predictions == {"q": ""}
  assert [(e["text"], e["start_logit"], e["end_logit"]) for e in nbest["q"]] == [
      ("", -3.0, -2.0), ("empty", 0.0, 0.0)]
  assert odds["q"] == pytest.approx(-5.0)


@pytest.mark.parametrize("context", ["", "\n", u"\u200b \u200b\ufeff"])
def test_v2_paragraph_without_any_window(tmp_path, tokenizer, context):
  """google-research/bert #353 (a blank paragraph) and #417 (paragraphs of
  non-printing characters): the example gets no feature at all, and the
  original's write_predictions fails with IndexError on features[0]. Here
  the question is answered "" with the neutral no-answer scores, and the
  question of the next paragraph is unaffected."""
  path = squad_file(tmp_path, [
      (context, [qa("blank", "what is it", impossible=True)]),
      ("alpha bravo", [qa("fine", "what is it", impossible=True)]),
  ], version="v2.0")
  examples = run_squad.read_squad_examples(path, is_training=False,
                                           version_2_with_negative=True)
  features = collect_features(examples, tokenizer, is_training=False)
  assert [f.example_index for f in features] == [1]
  (feature,) = features
  a = position_of(feature, "alpha")
  results = [run_squad.RawResult(feature.unique_id,
                                 logits_for(feature, 32, {0: 1.0, a: 4.0}),
                                 logits_for(feature, 32, {0: 1.0, a: 3.0}))]
  out = write_predictions(tmp_path, examples, features, results, 20, True)
  assert read_json(out["predictions.json"]) == {"blank": "", "fine": "alpha"}
  nbest = read_json(out["nbest_predictions.json"])
  assert [e["text"] for e in nbest["blank"]] == ["", "empty"]
  assert read_json(out["null_odds.json"]) == {
      "blank": 0.0, "fine": pytest.approx(2.0 - 7.0)}
  # SQuAD 1.1 has no "no answer": the placeholder is the answer, as in the
  # original (which, without version_2_with_negative, does not crash).
  predictions, _, _ = run_squad.compute_predictions(
      examples, features, results, 20, 30, True,
      version_2_with_negative=False, verbose_logging=False)
  assert predictions == {"blank": "empty", "fine": "alpha"}


def test_write_predictions_takes_unset_arguments_from_settings(tmp_path,
                                                              tokenizer):
  """The null odds file exists with --version_2_with_negative of the
  settings; an argument given wins over the setting."""
  example = run_squad.SquadExample("q", "what", LONG_WORDS[:3])
  features = collect_features([example], tokenizer, is_training=False)
  results = [run_squad.RawResult(f.unique_id, logits_for(f, 32, {}),
                                 logits_for(f, 32, {})) for f in features]
  out = [str(tmp_path / n) for n in ("p.json", "n.json", "odds.json")]
  settings = run_squad.default_settings().replace(version_2_with_negative=True)
  run_squad.write_predictions([example], features, results, 5, 30, True, *out,
                              version_2_with_negative=False, settings=settings)
  assert not os.path.exists(out[2])
  run_squad.write_predictions([example], features, results, 5, 30, True, *out,
                              settings=settings)
  assert read_json(out[2]).keys() == {"q"}


def test_model_fn_trains_through_runtime_train_spec(monkeypatch):
  """The TRAIN branch is runtime.train_spec, given the run's settings."""
  ids = [[1, 2, 3, 0], [4, 5, 0, 0]]
  features = {"unique_ids": [1, 2], "input_ids": ids,
              "input_mask": [[int(i > 0) for i in row] for row in ids],
              "segment_ids": [[0] * 4] * 2, "start_positions": [1, 2],
              "end_positions": [2, 2]}
  bert_testing.check_trains_through_train_spec(
      monkeypatch, lambda config, settings: run_squad.model_fn_builder(
          config, None, 1e-3, 10, 1, False, False, settings=settings),
      run_squad.default_settings().replace(optimizer="lamb"), features)


def test_missing_result_names_the_question(tokenizer):
  example = run_squad.SquadExample("lonely", "what", ["alpha"])
  features = collect_features([example], tokenizer, is_training=False)
  with pytest.raises(ValueError, match="lonely"):
    run_squad.compute_predictions([example], features, [], 20, 30, True,
                                  version_2_with_negative=False)


# --- TFRecords and the model ------------------------------------------------


def test_feature_writer_round_trip(tmp_path, tokenizer):
  examples = [run_squad.SquadExample(
      "q", "what year", " ".join(LONG_WORDS).split(),
      orig_answer_text="delta", start_position=3, end_position=3)]
  features = collect_features(examples, tokenizer)
  path = str(tmp_path / "train.tf_record")
  with run_squad.FeatureWriter(path, is_training=True) as writer:
    for feature in features:
      writer.process_feature(feature)
  assert writer.num_features == len(features)
  assert os.listdir(str(tmp_path)) == ["train.tf_record"]
  input_fn = run_squad.input_fn_builder(path, 32, is_training=False,
                                        drop_remainder=False)
  with tf.Graph().as_default():
    batch = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": 100})).get_next()
    with tf.Session() as sess:
      values = sess.run(batch)
  assert list(values["unique_ids"]) == [f.unique_id for f in features]
  assert values["input_ids"].tolist() == [f.input_ids for f in features]
  assert values["input_ids"].dtype == np.int32
  assert "start_positions" not in values
  raw = next(tf.io.tf_record_iterator(path))
  parsed = tf.train.Example.FromString(raw).features.feature
  assert parsed["start_positions"].int64_list.value == [
      features[0].start_position]
  assert parsed["is_impossible"].int64_list.value == [0]


def test_feature_writer_leaves_no_file_after_error(tmp_path):
  path = str(tmp_path / "eval.tf_record")
  with pytest.raises(RuntimeError):
    with run_squad.FeatureWriter(path, is_training=False):
      raise RuntimeError("conversion failed")
  assert os.listdir(str(tmp_path)) == []


def test_create_model_head_variables_and_loss():
  config = modeling.BertConfig(vocab_size=30, hidden_size=16,
                               num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32)
  with tf.Graph().as_default():
    ids = tf.constant([[1, 2, 3, 0], [4, 5, 0, 0]])
    start, end = run_squad.create_model(config, False, ids,
                                        tf.cast(ids > 0, tf.int32),
                                        tf.zeros_like(ids), False)
    loss = run_squad.span_loss(start, tf.constant([1, 2]))
    names = {v.name: v.shape.as_list() for v in tf.global_variables()}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      start_v, loss_v = sess.run([start, loss])
  assert names["cls/squad/output_weights:0"] == [2, 16]
  assert names["cls/squad/output_bias:0"] == [2]
  assert start.shape.as_list() == [2, 4] and end.shape.as_list() == [2, 4]
  log_probs = start_v - np.log(np.exp(start_v).sum(-1, keepdims=True))
  assert loss_v == pytest.approx(-(log_probs[0, 1] + log_probs[1, 2]) / 2,
                                 rel=1e-5)


# --- flags ------------------------------------------------------------------


def config():
  return modeling.BertConfig(vocab_size=10, max_position_embeddings=512)


def test_validate_flags_defaults_pass(tmp_path):
  path = squad_file(tmp_path, [("a", [])])
  settings = run_squad.default_settings().replace(do_predict=True,
                                                  predict_file=path)
  with pytest.raises(ValueError, match="--do_predict without --do_train "
                     "reads the model trained in --output_dir=None"):
    run_squad.validate_flags_or_throw(config(), settings)
  run_squad.validate_flags_or_throw(
      config(), settings.replace(allow_untrained_model=True))


@pytest.mark.parametrize("overrides,message", [
    ({}, "At least one of"),
    ({"do_train": True}, "train_file"),
    ({"do_train": True, "train_file": "/nonexistent/x.json"},
     "--train_file=/nonexistent/x.json does not exist"),
    ({"do_predict": True}, "predict_file"),
    ({"do_predict": True, "predict_file": "DATA", "max_seq_length": 600},
     "max_position_embeddings"),
    ({"do_predict": True, "predict_file": "DATA", "max_seq_length": 64,
      "max_query_length": 61}, "must be greater than max_query_length"),
    ({"do_predict": True, "predict_file": "DATA", "max_seq_length": 64,
      "max_query_length": 16, "doc_stride": 45},
     r"--doc_stride=45 .*--max_seq_length - --max_query_length - 3 = "
     r"64 - 16 - 3 = 45"),
    ({"do_predict": True, "predict_file": "DATA", "doc_stride": 0},
     "--doc_stride=0"),
    ({"do_predict": True, "predict_file": "DATA", "n_best_size": 0},
     "--n_best_size must be positive"),
])
def test_validate_flags_errors(tmp_path, overrides, message):
  data = squad_file(tmp_path, [("a", [])])
  settings = run_squad.default_settings().replace(**{
      name: data if value == "DATA" else value
      for name, value in overrides.items()})
  with pytest.raises(ValueError, match=message):
    run_squad.validate_flags_or_throw(config(), settings)


def test_too_little_training_data_is_an_error():
  with pytest.raises(ValueError, match="small.json gives 10 training.*no "
                     "training step"):
    runtime.num_train_steps(10, 32, 1.0, "--train_file=small.json")
  assert runtime.num_train_steps(64, 32, 1.0, "--train_file=small.json") == 2


def test_flag_defaults_match_the_original():
  """Checked in a process that imports run_squad alone, as a user runs it."""
  code = ("import json, run_squad\n"
          "from absl import flags\n"
          "print(json.dumps({n: flags.FLAGS[n].default for n in %r}))" %
          (sorted(ORIGINAL_DEFAULTS) + list(NONE_DEFAULTS)))
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=bert_testing.ROOT, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  defaults = json.loads(proc.stdout.strip().splitlines()[-1])
  for name, value in ORIGINAL_DEFAULTS.items():
    assert defaults[name] == value, name
  for name in NONE_DEFAULTS:
    assert defaults[name] is None, name


NONE_DEFAULTS = ("bert_config_file", "vocab_file", "output_dir", "train_file",
                 "predict_file", "init_checkpoint", "tpu_name", "tpu_zone",
                 "gcp_project", "master")


def tiny_setup(tmp_path):
  vocab = bert_testing.write_vocab(str(tmp_path / "vocab.txt"), TEXTS)
  bert_testing.write_config(str(tmp_path / "bert_config.json"), len(vocab))
  return ["--vocab_file=%s" % (tmp_path / "vocab.txt"),
          "--bert_config_file=%s" % (tmp_path / "bert_config.json"),
          "--output_dir=%s" % (tmp_path / "out")]


@pytest.mark.parametrize("args,message", [
    (["--do_train"], "If `do_train` is True, then `train_file` must be"),
    (["--do_predict", "--predict_file=BROKEN", "--max_seq_length=64",
      "--max_query_length=16", "--doc_stride=48"],
     "--doc_stride=48 must be at least 1 and smaller than"),
    (["--do_predict", "--predict_file=BROKEN", "--max_seq_length=64",
      "--max_query_length=16", "--doc_stride=16", "--allow_untrained_model"],
     "is not valid JSON"),
])
def test_bad_input_gives_clear_error_in_script(tmp_path, args, message):
  broken = tmp_path / "broken.json"
  broken.write_text('{"data": [', encoding="utf-8")
  args = [a.replace("BROKEN", str(broken)) for a in args]
  proc = bert_testing.run_script("run_squad.py", tiny_setup(tmp_path) + args,
                                 timeout=120)
  assert proc.returncode != 0
  last_line = proc.stderr.strip().splitlines()[-1]
  assert message in last_line
  assert "tensorflow/python" not in proc.stderr
