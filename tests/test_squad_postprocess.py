"""squad_postprocess: from start/end logits of hand-made windows to answers.

The features are written by hand (tokens, word maps, max-context flags), not
made by squad_windows, so that each rule shows on its own: the n-best list is
checked against a brute-force enumeration of every (start, end) pair, the
answer texts against the paragraph's own words, the probabilities against
numpy.
"""

import numpy as np
import pytest

import squad_postprocess
from squad_windows import FIRST_UNIQUE_ID, InputFeatures, SquadExample

WORDS = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf",
         "Hotel", "India"]
SEQ = 14  # [CLS] q q [SEP] six words [SEP] and padding.
OFFSET = 4


def window(index, first_word, owned, example_index=0, unique_id=None):
  """A window over WORDS[first_word:first_word + 6], one piece a word (the
  lower-cased word), after the question "[CLS] which one [SEP]"; it is the
  max-context window of the words in `owned`."""
  words = range(first_word, first_word + 6)
  tokens = (["[CLS]", "which", "one", "[SEP]"] +
            [WORDS[w].lower() for w in words] + ["[SEP]"])
  return InputFeatures(
      unique_id=FIRST_UNIQUE_ID + index if unique_id is None else unique_id,
      example_index=example_index, doc_span_index=index, tokens=tokens,
      token_to_orig_map={OFFSET + i: w for i, w in enumerate(words)},
      token_is_max_context={OFFSET + i: w in owned
                            for i, w in enumerate(words)},
      input_ids=[0] * SEQ, input_mask=[0] * SEQ, segment_ids=[0] * SEQ)


def two_windows():
  """Words 0-5 and 3-8; the first owns words 0-4, the second 5-8."""
  return [window(0, 0, range(0, 5)), window(1, 3, range(5, 9))]


def predict(examples, features, results, n_best_size=20,
            max_answer_length=30, **kwargs):
  return squad_postprocess.compute_predictions(
      examples, features, results, n_best_size, max_answer_length,
      do_lower_case=True, **kwargs)


def brute_force_nbest(features, results, n_best_size, max_answer_length):
  """(text, start logit, end logit) of the n-best answers: every pair of
  positions among the n_best_size largest start and end logits that lies in
  the paragraph, starts in a window that owns it, is not backwards and not
  too long, best sum first, first n_best_size."""
  found = []
  for feature, result in zip(features, results):
    starts = np.argsort(-np.array(result.start_logits), kind="stable")
    ends = np.argsort(-np.array(result.end_logits), kind="stable")
    for s in range(SEQ):
      for e in range(SEQ):
        if (s in starts[:n_best_size] and e in ends[:n_best_size] and
            s in feature.token_to_orig_map and
            e in feature.token_to_orig_map and
            feature.token_is_max_context[s] and
            0 <= e - s < max_answer_length):
          words = WORDS[feature.token_to_orig_map[s]:
                        feature.token_to_orig_map[e] + 1]
          found.append((" ".join(words), result.start_logits[s],
                        result.end_logits[e]))
  found.sort(key=lambda x: -(x[1] + x[2]))
  return found[:n_best_size]


@pytest.mark.parametrize("seed", range(12))
def test_nbest_matches_brute_force_over_all_spans(seed):
  rng = np.random.RandomState(seed)
  n_best_size = int(rng.randint(1, 8))
  max_answer_length = int(rng.randint(1, 5))
  features = two_windows()
  results = [squad_postprocess.RawResult(
      f.unique_id, list(rng.randn(SEQ)), list(rng.randn(SEQ)))
             for f in features]
  predictions, nbest, null_odds = predict(
      [SquadExample("q", "which one", WORDS)], features, results,
      n_best_size, max_answer_length)
  want = brute_force_nbest(features, results, n_best_size, max_answer_length)
  if not want:
    want = [("empty", 0.0, 0.0)]
  got = [(e["text"], e["start_logit"], e["end_logit"]) for e in nbest["q"]]
  assert got == want
  assert predictions == {"q": want[0][0]}
  totals = np.array([s + e for _, s, e in want])
  probs = np.exp(totals - totals.max()) / np.exp(totals - totals.max()).sum()
  np.testing.assert_allclose([e["probability"] for e in nbest["q"]], probs,
                             rtol=1e-12)
  assert null_odds == {}


def logits(scores):
  """-10 everywhere but {position: score}."""
  values = [-10.0] * SEQ
  for position, score in scores.items():
    values[position] = score
  return values


def test_only_the_owning_window_scores_a_start():
  features = two_windows()
  # Word 3 ("Delta") is at position 7 of window 0, which owns it, and at
  # position 4 of window 1, which does not: its high score there is ignored.
  results = [
      squad_postprocess.RawResult(features[0].unique_id,
                                  logits({7: 1.0}), logits({7: 1.0})),
      squad_postprocess.RawResult(features[1].unique_id,
                                  logits({4: 9.0, 6: 0.5}),
                                  logits({4: 9.0, 6: 0.5})),
  ]
  predictions, nbest, _ = predict([SquadExample("q", "which one", WORDS)],
                                  features, results)
  assert predictions["q"] == "Delta"
  texts = [e["text"] for e in nbest["q"]]
  assert texts[:2] == ["Delta", "Foxtrot"]
  # No entry starts at the ignored position (which would score 9.5 with
  # Foxtrot's end).
  assert 9.0 not in [e["start_logit"] for e in nbest["q"]]


def test_same_text_from_two_windows_is_listed_once():
  # Hand-made overlap: both windows claim word 4 ("Echo").
  features = [window(0, 0, range(0, 5)), window(1, 3, range(4, 9))]
  results = [
      squad_postprocess.RawResult(features[0].unique_id,
                                  logits({8: 2.5}), logits({8: 2.5})),
      squad_postprocess.RawResult(features[1].unique_id,
                                  logits({5: 3.0, 6: 1.0}),
                                  logits({5: 3.0, 6: 1.0})),
  ]
  _, nbest, _ = predict([SquadExample("q", "which one", WORDS)], features,
                        results, n_best_size=3)
  got = [(e["text"], e["start_logit"], e["end_logit"]) for e in nbest["q"]]
  # Echo from window 1 (6.0) first; the same text from window 0 (5.0) is
  # dropped, and the list fills up with the next distinct texts.
  assert got == [("Echo", 3.0, 3.0), ("Echo Foxtrot", 3.0, 1.0),
                 ("Foxtrot", 1.0, 1.0)]


def test_answer_texts_come_back_in_the_paragraph_spelling():
  doc = ["John", "Smith's", "(1895-1943).", "Jos\u00e9"]
  tokens = ["[CLS]", "who", "[SEP]", "john", "smith", "'", "s", "(", "1895",
            "-", "1943", ")", ".", "jo", "##se", "[SEP]"]
  words = [0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3]
  seq = len(tokens)
  feature = InputFeatures(
      FIRST_UNIQUE_ID, 0, 0, tokens,
      token_to_orig_map={3 + i: w for i, w in enumerate(words)},
      token_is_max_context={3 + i: True for i in range(len(words))},
      input_ids=[0] * seq, input_mask=[0] * seq, segment_ids=[0] * seq)
  example = SquadExample("q", "who", doc)
  for (start, end), want in [((3, 4), "John Smith"), ((4, 6), "Smith's"),
                             ((8, 8), "1895"), ((8, 10), "1895-1943"),
                             ((7, 11), "(1895-1943)"),
                             ((13, 14), "Jos\u00e9"), ((3, 14), " ".join(doc))]:
    start_logits = [0.0] * seq
    end_logits = [0.0] * seq
    start_logits[start] = end_logits[end] = 5.0
    result = squad_postprocess.RawResult(FIRST_UNIQUE_ID, start_logits,
                                         end_logits)
    predictions, _, _ = predict([example], [feature], [result], n_best_size=1)
    assert predictions["q"] == want, (start, end)


def test_version_2_null_comes_from_the_window_with_the_lowest_cls_score():
  features = two_windows()
  results = [
      # [CLS] 1.0 + 1.5; best span "Bravo" (5) 4.0 + 3.0.
      squad_postprocess.RawResult(features[0].unique_id,
                                  logits({0: 1.0, 5: 4.0}),
                                  logits({0: 1.5, 5: 3.0})),
      # [CLS] 0.5 + 0.25: the null answer's scores.
      squad_postprocess.RawResult(features[1].unique_id,
                                  logits({0: 0.5}), logits({0: 0.25})),
  ]
  example = SquadExample("q", "which one", WORDS)
  predictions, nbest, null_odds = predict([example], features, results,
                                          n_best_size=3,
                                          version_2_with_negative=True)
  assert predictions == {"q": "Bravo"}
  assert null_odds["q"] == pytest.approx(0.75 - 7.0)
  entries = [(e["text"], e["start_logit"], e["end_logit"]) for e in nbest["q"]]
  assert entries[0] == ("Bravo", 4.0, 3.0)
  assert [e for e in entries if e[0] == ""] == [("", 0.5, 0.25)]
  # The no-answer wins once its deficit is above the threshold.
  predictions, _, _ = predict([example], features, results, n_best_size=3,
                              version_2_with_negative=True,
                              null_score_diff_threshold=-6.5)
  assert predictions == {"q": ""}
  predictions, _, _ = predict([example], features, results, n_best_size=3,
                              version_2_with_negative=True,
                              null_score_diff_threshold=-6.0)
  assert predictions == {"q": "Bravo"}


def test_predictions_keep_example_order_across_examples():
  examples = [SquadExample("first", "which one", WORDS),
              SquadExample("second", "which one", WORDS)]
  # Features listed out of example order, with their own unique ids.
  features = [window(0, 3, range(3, 9), example_index=1, unique_id=7),
              window(0, 0, range(0, 6), example_index=0, unique_id=3)]
  results = [squad_postprocess.RawResult(3, logits({5: 2.0}),
                                         logits({6: 2.0})),
             squad_postprocess.RawResult(7, logits({9: 2.0}),
                                         logits({9: 2.0}))]
  predictions, nbest, _ = predict(examples, features, results)
  assert list(predictions.items()) == [("first", "Bravo Charlie"),
                                       ("second", "India")]
  assert list(nbest) == ["first", "second"]


def test_missing_model_output_names_feature_and_question():
  features = two_windows()
  results = [squad_postprocess.RawResult(features[0].unique_id,
                                         logits({}), logits({}))]
  with pytest.raises(ValueError, match="No model output for feature %d of "
                     "question lost" % (FIRST_UNIQUE_ID + 1)):
    predict([SquadExample("lost", "which one", WORDS)], features, results)


def test_get_final_text_without_lower_casing_keeps_case():
  assert squad_postprocess.get_final_text("Smith", "Smith's", False) == (
      "Smith")
  # Cased: "smith" is not in "Smith ' s", so the whole span comes back.
  assert squad_postprocess.get_final_text("smith", "Smith's", False) == (
      "Smith's")
  assert squad_postprocess.get_final_text("smith", "Smith's", True) == "Smith"


def test_get_final_text_logs_failures_only_when_verbose(monkeypatch):
  logged = []
  monkeypatch.setattr(squad_postprocess.tf.logging, "info",
                      lambda fmt, *args: logged.append(fmt % args))
  squad_postprocess.get_final_text("zulu", "Alpha", True)
  assert logged == []
  squad_postprocess.get_final_text("zulu", "Alpha", True,
                                   verbose_logging=True)
  assert logged == ["Unable to find text: 'zulu' in 'Alpha'"]
