# coding=utf-8
r"""Scores SQuAD predictions the way the official SQuAD 1.1 and 2.0 scripts do.

`run_squad.py` writes `predictions.json` (question id -> answer text) and, for
SQuAD 2.0, `null_odds.json` (question id -> no-answer score). This module turns
them into the leaderboard numbers without TensorFlow:

  python squad_evaluate.py dev-v1.1.json predictions.json
  python squad_evaluate.py dev-v2.0.json predictions.json \
      --na-prob-file null_odds.json [--na-prob-thresh 1.0] [--out-file eval.json]

The scores are those of evaluate-v1.1.py and evaluate-v2.0.py from the SQuAD
site, and so is the printed JSON (key order, float formatting, indentation):

  * Answers are normalised: lower case, punctuation (`string.punctuation`)
    removed, the whole words a/an/the removed, white space collapsed.
  * Exact match (EM) compares normalised strings; F1 compares the bags of
    normalised tokens. Each question takes the best score over its gold answers.
  * SQuAD 2.0 drops gold answers whose normalised text is empty; a question
    without gold answers is unanswerable and its only gold answer is "".
  * With no-answer probabilities, a question whose probability exceeds the
    threshold counts as answered with "", and the best threshold is searched.

Where this module departs from the official scripts, it is on input the official
scripts crash on or mis-report:

  * A SQuAD 2.0 question without a prediction is scored as answered with ""
    (the official script stops with a KeyError) and a warning goes to stderr
    (the official prints it to stdout, in the middle of the JSON).
  * Malformed input raises ValueError naming the file instead of a traceback.
  * `--out-file` is written atomically.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import collections
import json
import os
import re
import string
import sys

import temp_names

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b", re.UNICODE)


# ---------------------------------------------------------------------------
# Answer normalisation and per-answer scores.
# ---------------------------------------------------------------------------


def normalize_answer(s):
  """Lower text and remove punctuation, articles and extra whitespace."""
  text = s.lower()
  # Punctuation goes before articles, as in the official script: "a.n" becomes
  # "an" and then disappears.
  text = "".join(ch for ch in text if ch not in _PUNCTUATION)
  text = _ARTICLES_RE.sub(" ", text)
  return " ".join(text.split())


def get_tokens(s):
  """Normalised tokens of `s`, the unit of F1."""
  if not s:
    return []
  return normalize_answer(s).split()


def _overlap_f1(gold_toks, pred_toks):
  """Harmonic mean of token precision and recall, 0 if nothing is shared."""
  common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
  num_same = sum(common.values())
  if num_same == 0:
    return 0
  precision = 1.0 * num_same / len(pred_toks)
  recall = 1.0 * num_same / len(gold_toks)
  return (2 * precision * recall) / (precision + recall)


def compute_exact(a_gold, a_pred):
  """SQuAD 2.0 exact match: 1 if the normalised answers are equal, else 0."""
  return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold, a_pred):
  """SQuAD 2.0 token F1, where "" against "" is a perfect score."""
  gold_toks = get_tokens(a_gold)
  pred_toks = get_tokens(a_pred)
  if not gold_toks or not pred_toks:
    # An empty side means "no answer": right only if both sides say so.
    return int(gold_toks == pred_toks)
  return _overlap_f1(gold_toks, pred_toks)


def exact_match_score(prediction, ground_truth):
  """SQuAD 1.1 exact match (a bool; note the argument order of v1.1)."""
  return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction, ground_truth):
  """SQuAD 1.1 token F1, where an empty answer always scores 0."""
  return _overlap_f1(normalize_answer(ground_truth).split(),
                     normalize_answer(prediction).split())


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
  """Best score of `prediction` over all gold answers (SQuAD 1.1)."""
  return max(metric_fn(prediction, gt) for gt in ground_truths)


# ---------------------------------------------------------------------------
# Walking and checking the dataset.
# ---------------------------------------------------------------------------


def _require(condition, where, message):
  if not condition:
    raise ValueError("%s: %s" % (where, message))


def _iter_qas(dataset):
  """Yields every question dict of a SQuAD "data" list, checking its shape.

  The official scripts die with KeyError/TypeError on a malformed file; saying
  where the problem is (e.g. data[3].paragraphs[0].qas[7]) is more useful.
  """
  _require(isinstance(dataset, list), "data", "expected a list of articles")
  for i, article in enumerate(dataset):
    where = "data[%d]" % i
    _require(isinstance(article, dict) and
             isinstance(article.get("paragraphs"), list),
             where, "expected an object with a 'paragraphs' list")
    for j, paragraph in enumerate(article["paragraphs"]):
      where_p = "%s.paragraphs[%d]" % (where, j)
      _require(isinstance(paragraph, dict) and
               isinstance(paragraph.get("qas"), list),
               where_p, "expected an object with a 'qas' list")
      for k, qa in enumerate(paragraph["qas"]):
        _check_qa(qa, "%s.qas[%d]" % (where_p, k))
        yield qa


def _check_qa(qa, where):
  _require(isinstance(qa, dict), where, "expected a question object")
  _require(isinstance(qa.get("id"), str), where, "missing string 'id'")
  answers = qa.get("answers")
  _require(isinstance(answers, list), where, "missing 'answers' list")
  for answer in answers:
    _require(isinstance(answer, dict) and isinstance(answer.get("text"), str),
             where, "every answer needs a string 'text'")


def _check_predictions(preds):
  if not isinstance(preds, dict):
    raise ValueError("expected a JSON object mapping question id to answer "
                     "text, got %s" % type(preds).__name__)
  for qid, text in preds.items():
    if not isinstance(text, str):
      raise ValueError("prediction for %s is %s, not a string" %
                       (qid, type(text).__name__))


def _check_na_probs(na_probs, qids):
  """The threshold needs a probability for every question that is scored."""
  if not isinstance(na_probs, dict):
    raise ValueError("expected a JSON object mapping question id to "
                     "no-answer probability, got %s" % type(na_probs).__name__)
  for qid, prob in na_probs.items():
    # bool is an int subclass, but true/false is surely a mistake here.
    if isinstance(prob, bool) or not isinstance(prob, (int, float)):
      raise ValueError("no-answer probability for %s is %r, not a number" %
                       (qid, prob))
  for qid in qids:
    if qid not in na_probs:
      raise ValueError("no no-answer probability for question %s" % qid)


def _warn(message):
  print(message, file=sys.stderr)


# ---------------------------------------------------------------------------
# SQuAD 1.1.
# ---------------------------------------------------------------------------


def evaluate_v1(dataset, predictions):
  """Official SQuAD 1.1 scores of `predictions` (id -> text) on `dataset`.

  Args:
    dataset: the "data" list of a SQuAD JSON file.
    predictions: dict from question id to predicted answer text.

  Returns:
    {"exact_match": EM, "f1": F1}, both in percent.
  """
  _check_predictions(predictions)
  f1 = exact_match = total = 0
  for qa in _iter_qas(dataset):
    total += 1
    if qa["id"] not in predictions:
      # A missing answer counts as wrong, as in the official script.
      _warn("Unanswered question " + qa["id"] + " will receive score 0.")
      continue
    ground_truths = [answer["text"] for answer in qa["answers"]]
    if not ground_truths:
      raise ValueError("question %s has no gold answers, which SQuAD 1.1 "
                       "cannot score; evaluate it as SQuAD 2.0" % qa["id"])
    prediction = predictions[qa["id"]]
    exact_match += metric_max_over_ground_truths(
        exact_match_score, prediction, ground_truths)
    f1 += metric_max_over_ground_truths(f1_score, prediction, ground_truths)
  if total == 0:
    raise ValueError("the dataset has no questions")
  return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


# ---------------------------------------------------------------------------
# SQuAD 2.0.
# ---------------------------------------------------------------------------


def make_qid_to_has_ans(dataset):
  """Question id -> whether the question has any gold answer."""
  return collections.OrderedDict(
      (qa["id"], bool(qa["answers"])) for qa in _iter_qas(dataset))


def get_raw_scores(dataset, preds):
  """Per-question EM and F1 before any no-answer threshold is applied."""
  exact_scores = collections.OrderedDict()
  f1_scores = collections.OrderedDict()
  for qa in _iter_qas(dataset):
    qid = qa["id"]
    gold_answers = [a["text"] for a in qa["answers"]
                    if normalize_answer(a["text"])]
    if not gold_answers:
      # For unanswerable questions, the only correct answer is "".
      gold_answers = [""]
    if qid not in preds:
      _warn("Missing prediction for %s; scored as no answer." % qid)
    a_pred = preds.get(qid, "")
    exact_scores[qid] = max(compute_exact(a, a_pred) for a in gold_answers)
    f1_scores[qid] = max(compute_f1(a, a_pred) for a in gold_answers)
  return exact_scores, f1_scores


def apply_no_ans_threshold(scores, na_probs, qid_to_has_ans, na_prob_thresh):
  """Scores after answering "" wherever the no-answer prob exceeds thresh."""
  new_scores = {}
  for qid, s in scores.items():
    pred_na = na_probs[qid] > na_prob_thresh
    if pred_na:
      new_scores[qid] = float(not qid_to_has_ans[qid])
    else:
      new_scores[qid] = s
  return new_scores


def make_eval_dict(exact_scores, f1_scores, qid_list=None):
  """EM, F1 (percent) and count over `qid_list`, or over all questions."""
  if not qid_list:
    qid_list = list(exact_scores)
  total = len(qid_list)
  return collections.OrderedDict([
      ("exact", 100.0 * sum(exact_scores[k] for k in qid_list) / total),
      ("f1", 100.0 * sum(f1_scores[k] for k in qid_list) / total),
      ("total", total),
  ])


def merge_eval(main_eval, new_eval, prefix):
  for k in new_eval:
    main_eval["%s_%s" % (prefix, k)] = new_eval[k]


def find_best_thresh(preds, scores, na_probs, qid_to_has_ans):
  """Best total score over no-answer thresholds, and that threshold.

  Starts from threshold "below everything" (every question answered "", so
  exactly the unanswerable ones are right) and raises the threshold one
  question at a time in order of no-answer probability. Each question that
  stops being answered "" changes the total by its raw score if answerable,
  and by -1 if unanswerable but the model gave a non-empty raw answer. This
  follows the official script exactly, including its quirks (the raw, not the
  normalised, answer decides "non-empty"; ties are walked one at a time).
  """
  num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
  cur_score = num_no_ans
  best_score = cur_score
  best_thresh = 0.0
  qid_list = sorted(na_probs, key=lambda k: na_probs[k])
  for qid in qid_list:
    if qid not in scores:
      continue
    if qid_to_has_ans[qid]:
      diff = scores[qid]
    elif preds.get(qid, ""):
      diff = -1
    else:
      diff = 0
    cur_score += diff
    if cur_score > best_score:
      best_score = cur_score
      best_thresh = na_probs[qid]
  return 100.0 * best_score / len(scores), best_thresh


def find_all_best_thresh(main_eval, preds, exact_raw, f1_raw, na_probs,
                         qid_to_has_ans):
  best_exact, exact_thresh = find_best_thresh(preds, exact_raw, na_probs,
                                              qid_to_has_ans)
  best_f1, f1_thresh = find_best_thresh(preds, f1_raw, na_probs,
                                        qid_to_has_ans)
  main_eval["best_exact"] = best_exact
  main_eval["best_exact_thresh"] = exact_thresh
  main_eval["best_f1"] = best_f1
  main_eval["best_f1_thresh"] = f1_thresh


def evaluate_v2(dataset, preds, na_probs=None, na_prob_thresh=1.0):
  """Official SQuAD 2.0 scores.

  Args:
    dataset: the "data" list of a SQuAD JSON file.
    preds: dict from question id to predicted answer text ("" = no answer).
    na_probs: optional dict from question id to no-answer probability. When
      given, the best-threshold search is added to the result.
    na_prob_thresh: questions whose no-answer probability exceeds this count
      as answered with "".

  Returns:
    OrderedDict with the official keys: exact, f1, total, HasAns_* and NoAns_*
    for the splits present, then best_* when `na_probs` is given.
  """
  _check_predictions(preds)
  qid_to_has_ans = make_qid_to_has_ans(dataset)
  if not qid_to_has_ans:
    raise ValueError("the dataset has no questions")
  search_thresh = na_probs is not None
  if search_thresh:
    _check_na_probs(na_probs, qid_to_has_ans)
  else:
    na_probs = {k: 0.0 for k in qid_to_has_ans}
  has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
  no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
  exact_raw, f1_raw = get_raw_scores(dataset, preds)
  exact_thresh = apply_no_ans_threshold(exact_raw, na_probs, qid_to_has_ans,
                                        na_prob_thresh)
  f1_thresh = apply_no_ans_threshold(f1_raw, na_probs, qid_to_has_ans,
                                     na_prob_thresh)
  out_eval = make_eval_dict(exact_thresh, f1_thresh)
  if has_ans_qids:
    merge_eval(out_eval, make_eval_dict(exact_thresh, f1_thresh, has_ans_qids),
               "HasAns")
  if no_ans_qids:
    merge_eval(out_eval, make_eval_dict(exact_thresh, f1_thresh, no_ans_qids),
               "NoAns")
  if search_thresh:
    find_all_best_thresh(out_eval, preds, exact_raw, f1_raw, na_probs,
                         qid_to_has_ans)
  return out_eval


# ---------------------------------------------------------------------------
# Files and command line.
# ---------------------------------------------------------------------------


def _load_json(path):
  """Parses a JSON file; a bad file raises ValueError naming it."""
  with open(path, "rb") as f:
    raw = f.read()
  try:
    return json.loads(raw.decode("utf-8"))
  except UnicodeDecodeError as e:
    raise ValueError("%s: not UTF-8 text (%s)" % (path, e))
  except json.JSONDecodeError as e:
    # str(e) gives the position: "Expecting ',' delimiter: line 3 column 5 ..."
    raise ValueError("%s: invalid JSON: %s" % (path, e))


def _with_file_name(path, fn, *args):
  """Calls fn(*args), prefixing the file name to any ValueError it raises."""
  try:
    return fn(*args)
  except ValueError as e:
    raise ValueError("%s: %s" % (path, e))


def _is_v2(dataset_json, dataset):
  """SQuAD 2.0 says so in "version" or marks questions "is_impossible"."""
  if dataset_json.get("version") == "v2.0":
    return True
  # A question without gold answers cannot be scored by 1.1 either.
  return any("is_impossible" in qa or not qa["answers"]
             for qa in _iter_qas(dataset))


def _load_dataset(dataset_file):
  dataset_json = _load_json(dataset_file)
  if not isinstance(dataset_json, dict) or "data" not in dataset_json:
    raise ValueError("%s: not a SQuAD dataset (no top-level \"data\")" %
                     dataset_file)
  # Walk the whole file once now, so shape errors name this file.
  _with_file_name(dataset_file, lambda: list(_iter_qas(dataset_json["data"])))
  return dataset_json


def evaluate(dataset_file, prediction_file, na_prob_file=None,
             na_prob_thresh=1.0, version="auto"):
  """Scores a predictions file against a SQuAD dataset file.

  Args:
    dataset_file: path of the SQuAD JSON (e.g. dev-v2.0.json).
    prediction_file: path of the JSON object question id -> answer text.
    na_prob_file: optional path of the JSON object question id -> no-answer
      probability (SQuAD 2.0 only).
    na_prob_thresh: no-answer threshold for SQuAD 2.0.
    version: "1.1", "2.0" or "auto". "auto" picks 2.0 for a file with version
      "v2.0", any "is_impossible" field or a question without answers, and
      also whenever `na_prob_file` is given, since only 2.0 uses it.

  Returns:
    The dict the official script for that version prints.

  Raises:
    ValueError: on unreadable or malformed input, naming the file.
    OSError: when a file cannot be opened.
  """
  if version not in ("1.1", "2.0", "auto"):
    raise ValueError("version must be 1.1, 2.0 or auto, not %r" % (version,))
  dataset_json = _load_dataset(dataset_file)
  dataset = dataset_json["data"]
  preds = _load_json(prediction_file)
  _with_file_name(prediction_file, _check_predictions, preds)
  if version == "auto":
    is_v2 = na_prob_file is not None or _is_v2(dataset_json, dataset)
  else:
    is_v2 = version == "2.0"
  if not is_v2:
    if na_prob_file is not None:
      raise ValueError("--na-prob-file is only used by SQuAD 2.0 evaluation")
    if dataset_json.get("version", "1.1") != "1.1":
      _warn("Evaluation expects v-1.1, but got dataset with v-%s" %
            dataset_json["version"])
    return _with_file_name(dataset_file, evaluate_v1, dataset, preds)
  na_probs = None
  if na_prob_file is not None:
    na_probs = _load_json(na_prob_file)
    _with_file_name(na_prob_file, _check_na_probs, na_probs,
                    make_qid_to_has_ans(dataset))
  return evaluate_v2(dataset, preds, na_probs, na_prob_thresh)


# The project's one naming scheme for files being written (see temp_names).
temp_path = temp_names.temp_path


def write_json_atomically(path, obj):
  """Writes json.dumps(obj) to `path` so readers never see a partial file.

  The data goes to `temp_path(path)` (same directory, so os.replace is
  atomic), renamed over `path` once complete.
  """
  tmp_path = temp_path(path)
  # Mode 0o666 lets the umask decide permissions, as a plain open() would.
  fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      json.dump(obj, f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp_path, path)
  except BaseException:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)
    raise


def format_result(result):
  """The text the official script prints: indented for 2.0, flat for 1.1."""
  if "exact_match" in result:
    return json.dumps(result)
  return json.dumps(result, indent=2)


def _parse_args(argv):
  parser = argparse.ArgumentParser(
      description="Official evaluation for SQuAD 1.1 and 2.0 predictions.")
  parser.add_argument("data_file", metavar="data.json",
                      help="SQuAD dataset JSON file.")
  parser.add_argument("pred_file", metavar="pred.json",
                      help="Model predictions: question id -> answer text.")
  parser.add_argument("--out-file", "-o", metavar="eval.json",
                      help="Write the metrics to this file (default: stdout).")
  parser.add_argument("--na-prob-file", "-n", metavar="na_prob.json",
                      help="Model estimates of probability of no answer.")
  parser.add_argument("--na-prob-thresh", "-t", type=float, default=1.0,
                      help="Predict \"\" if the no-answer probability exceeds "
                      "this (default: 1.0).")
  parser.add_argument("--version", choices=("1.1", "2.0", "auto"),
                      default="auto",
                      help="SQuAD version of the dataset (default: detect).")
  return parser.parse_args(argv)


def main(argv=None):
  """Command-line entry point; `argv` excludes the program name.

  Returns:
    0 on success, 1 on bad input (the message goes to stderr).
  """
  args = _parse_args(sys.argv[1:] if argv is None else argv)
  try:
    result = evaluate(args.data_file, args.pred_file, args.na_prob_file,
                      args.na_prob_thresh, args.version)
    if args.out_file:
      write_json_atomically(args.out_file, result)
  except (OSError, ValueError) as e:
    print("squad_evaluate.py: error: %s" % e, file=sys.stderr)
    return 1
  if not args.out_file:
    print(format_result(result))
  return 0


if __name__ == "__main__":
  sys.exit(main())
