"""SQuAD post-processing: from start/end logits of windows to answer texts.

The n-best spans of each question over all its windows, their texts mapped
back onto the paragraph's original characters (`get_final_text`), their
probabilities, and for SQuAD 2.0 the no-answer decision. run_squad.py
(`write_predictions`) and the predictor (`predictor.py`) both answer
through `compute_predictions`.

Library layer: it imports `tokenization` and TensorFlow's logging only.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import math

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import tokenization

RawResult = collections.namedtuple("RawResult",
                                   ["unique_id", "start_logits", "end_logits"])

_PrelimPrediction = collections.namedtuple(
    "PrelimPrediction",
    ["feature_index", "start_index", "end_index", "start_logit", "end_logit"])

_NbestPrediction = collections.namedtuple(
    "NbestPrediction", ["text", "start_logit", "end_logit"])


def _valid_spans(feature, start_indexes, end_indexes, max_answer_length):
  """The (start, end) pairs that are answers inside the paragraph, in order.

  Pairs in the question or padding, backwards, too long, or starting where
  another window has more context are thrown out.
  """
  in_doc = feature.token_to_orig_map
  max_context = feature.token_is_max_context
  valid_ends = [end for end in end_indexes if end in in_doc]
  for start in start_indexes:
    # Starts are checked once, not once per end: this runs n_best_size^2
    # times per window.
    if start not in in_doc or not max_context.get(start, False):
      continue
    for end in valid_ends:
      if start <= end < start + max_answer_length:
        yield start, end


def _prelim_predictions(features, results, n_best_size, max_answer_length,
                        version_2_with_negative):
  """Candidate spans of one example from all its windows, best first.

  Returns:
    (candidates, null): `null` is the no-answer candidate of the window with
    the lowest [CLS] score, or None without `version_2_with_negative`.
  """
  candidates = []
  null = None
  for (feature_index, feature) in enumerate(features):
    result = results[feature_index]
    start_logits = result.start_logits
    end_logits = result.end_logits
    if version_2_with_negative:
      null_score = start_logits[0] + end_logits[0]
      if null is None or null_score < null.start_logit + null.end_logit:
        null = _PrelimPrediction(feature_index, 0, 0, start_logits[0],
                                 end_logits[0])
    for start_index, end_index in _valid_spans(
        feature, _get_best_indexes(start_logits, n_best_size),
        _get_best_indexes(end_logits, n_best_size), max_answer_length):
      candidates.append(_PrelimPrediction(
          feature_index, start_index, end_index, start_logits[start_index],
          end_logits[end_index]))
  if version_2_with_negative and null is None:
    # An empty paragraph has no window: "no answer" with neutral scores.
    null = _PrelimPrediction(0, 0, 0, 0.0, 0.0)
  if null is not None:
    candidates.append(null)
  candidates.sort(key=lambda x: x.start_logit + x.end_logit, reverse=True)
  return candidates, null


def _span_text(example, feature, start_index, end_index, do_lower_case,
               verbose_logging):
  """The original paragraph text of a predicted span of pieces."""
  tok_tokens = feature.tokens[start_index:(end_index + 1)]
  orig_doc_start = feature.token_to_orig_map[start_index]
  orig_doc_end = feature.token_to_orig_map[end_index]
  orig_tokens = example.doc_tokens[orig_doc_start:(orig_doc_end + 1)]
  # Glue WordPieces back into words and normalise white space.
  tok_text = " ".join(tok_tokens).replace(" ##", "").replace("##", "")
  tok_text = " ".join(tok_text.split())
  orig_text = " ".join(orig_tokens)
  return get_final_text(tok_text, orig_text, do_lower_case, verbose_logging)


def _nbest_predictions(example, features, candidates, null, n_best_size,
                       do_lower_case, verbose_logging):
  """The `n_best_size` best distinct answer texts of one example."""
  seen = set()
  nbest = []
  for pred in candidates:
    if len(nbest) >= n_best_size:
      break
    if pred.start_index > 0:
      text = _span_text(example, features[pred.feature_index],
                        pred.start_index, pred.end_index, do_lower_case,
                        verbose_logging)
    else:
      text = ""
    if text in seen:
      continue
    seen.add(text)
    nbest.append(_NbestPrediction(text, pred.start_logit, pred.end_logit))

  if null is not None and "" not in seen:
    nbest.append(_NbestPrediction("", null.start_logit, null.end_logit))
  # With no valid span at all, a placeholder answer keeps every question
  # answered (and, for SQuAD 2.0, gives the no-answer score a rival where the
  # original crashed).
  if not any(entry.text for entry in nbest):
    nbest.append(_NO_SPAN)
  return nbest


# The placeholder n-best entry of an example without any valid span (the
# original's text and scores). It is not an answer from the paragraph, so
# SQuAD 2.0 never predicts it: an example whose windows offer no span, or
# that has no window at all (an empty or all-control-character paragraph),
# is answered "" (original issues #353, #417, #476).
_NO_SPAN = _NbestPrediction("empty", 0.0, 0.0)


def _results_of(example, features, unique_id_to_result):
  results = []
  for feature in features:
    result = unique_id_to_result.get(feature.unique_id)
    if result is None:
      raise ValueError("No model output for feature %d of question %s." %
                       (feature.unique_id, example.qas_id))
    results.append(result)
  return results


def compute_predictions(all_examples, all_features, all_results, n_best_size,
                        max_answer_length, do_lower_case,
                        version_2_with_negative=False,
                        null_score_diff_threshold=0.0, verbose_logging=False):
  """Turns the model's logits into answers.

  Returns:
    (predictions, nbest, null_odds), ordered dicts keyed by question id:
    the answer text; the n-best list of {"text", "probability",
    "start_logit", "end_logit"}; and (SQuAD 2.0 only, else empty) the
    no-answer score minus the best answer's score.
  """
  example_index_to_features = collections.defaultdict(list)
  for feature in all_features:
    example_index_to_features[feature.example_index].append(feature)
  unique_id_to_result = {result.unique_id: result for result in all_results}

  all_predictions = collections.OrderedDict()
  all_nbest_json = collections.OrderedDict()
  scores_diff_json = collections.OrderedDict()
  for (example_index, example) in enumerate(all_examples):
    features = example_index_to_features[example_index]
    results = _results_of(example, features, unique_id_to_result)
    candidates, null = _prelim_predictions(
        features, results, n_best_size, max_answer_length,
        version_2_with_negative)
    nbest = _nbest_predictions(example, features, candidates, null,
                               n_best_size, do_lower_case, verbose_logging)

    probs = _compute_softmax([e.start_logit + e.end_logit for e in nbest])
    nbest_json = []
    for (entry, prob) in zip(nbest, probs):
      output = collections.OrderedDict()
      output["text"] = entry.text
      output["probability"] = prob
      output["start_logit"] = entry.start_logit
      output["end_logit"] = entry.end_logit
      nbest_json.append(output)
    all_nbest_json[example.qas_id] = nbest_json

    if not version_2_with_negative:
      all_predictions[example.qas_id] = nbest[0].text
      continue
    # Answer "" iff the no-answer score beats the best answer by more than
    # the threshold.
    best_non_null = next(entry for entry in nbest if entry.text)
    score_diff = (null.start_logit + null.end_logit -
                  best_non_null.start_logit - best_non_null.end_logit)
    scores_diff_json[example.qas_id] = score_diff
    if score_diff > null_score_diff_threshold or best_non_null is _NO_SPAN:
      all_predictions[example.qas_id] = ""
    else:
      all_predictions[example.qas_id] = best_non_null.text
  return all_predictions, all_nbest_json, scores_diff_json


_basic_tokenizers = {}


def get_final_text(pred_text, orig_text, do_lower_case, verbose_logging=False):
  """Maps a normalised predicted answer back onto the original text.

  `pred_text` comes from WordPiece tokens: lower-cased, accents stripped,
  punctuation split off. `orig_text` is the whole paragraph words the span
  touches, e.g. pred_text "steve smith" in orig_text "Steve Smith's". We want
  "Steve Smith": the original characters (case, accents) of just the
  predicted part. Running the basic tokenizer over `orig_text` gives a text
  with the same characters as `pred_text`'s words; with spaces removed it
  aligns one to one with `orig_text` without spaces, which maps the
  prediction's start and end back. When that alignment fails (the
  tokenizer changed the number of characters), `orig_text` is returned.
  """
  tokenizer = _basic_tokenizers.get(do_lower_case)
  if tokenizer is None:
    tokenizer = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
    _basic_tokenizers[do_lower_case] = tokenizer

  tok_text = " ".join(tokenizer.tokenize(orig_text))
  start_position = tok_text.find(pred_text)
  if start_position == -1:
    if verbose_logging:
      tf.logging.info("Unable to find text: '%s' in '%s'", pred_text,
                      orig_text)
    return orig_text
  end_position = start_position + len(pred_text) - 1

  # Position in orig_text of each of its non-space characters.
  orig_chars = [i for (i, c) in enumerate(orig_text) if c != " "]
  if len(orig_chars) != len(tok_text) - tok_text.count(" "):
    if verbose_logging:
      tf.logging.info("Length not equal after stripping spaces: '%s' vs '%s'",
                      orig_text.replace(" ", ""), tok_text.replace(" ", ""))
    return orig_text

  orig_start_position = _orig_position(start_position, tok_text, orig_chars)
  if orig_start_position is None:
    if verbose_logging:
      tf.logging.info("Couldn't map start position")
    return orig_text
  orig_end_position = _orig_position(end_position, tok_text, orig_chars)
  if orig_end_position is None:
    if verbose_logging:
      tf.logging.info("Couldn't map end position")
    return orig_text
  return orig_text[orig_start_position:(orig_end_position + 1)]


def _orig_position(tok_position, tok_text, orig_chars):
  """Where the character at `tok_position` of `tok_text` is in the original.

  Both texts have the same non-space characters, so the n-th non-space
  character of one is the n-th of the other. None for a space.
  """
  if not 0 <= tok_position < len(tok_text) or tok_text[tok_position] == " ":
    return None
  return orig_chars[tok_position - tok_text.count(" ", 0, tok_position)]


def _get_best_indexes(logits, n_best_size):
  """Indexes of the `n_best_size` largest logits, largest first.

  Equal logits keep their order (lower index first), as a stable sort does.
  """
  # sorted() is stable, and in C: faster than heapq.nlargest here.
  return sorted(range(len(logits)), key=logits.__getitem__,
                reverse=True)[:n_best_size]


def _compute_softmax(scores):
  """Softmax of a list of raw scores, as Python floats."""
  if not scores:
    return []
  max_score = max(scores)
  exp_scores = [math.exp(score - max_score) for score in scores]
  total = sum(exp_scores)
  return [x / total for x in exp_scores]
