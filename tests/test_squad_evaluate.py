# coding=utf-8
"""Tests for squad_evaluate: scores checked against numbers computed by hand."""

import collections
import json
import os
import subprocess
import sys

import pytest

import squad_evaluate as se

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "squad_evaluate.py")


def _dataset(questions):
  """A SQuAD "data" list from (qid, [gold texts], extra fields) triples."""
  qas = []
  for qid, golds, extra in questions:
    qa = {"id": qid, "question": "q?",
          "answers": [{"text": t, "answer_start": 0} for t in golds]}
    qa.update(extra)
    qas.append(qa)
  return [{"title": "T", "paragraphs": [{"context": "c", "qas": qas}]}]


def _write(tmp_path, name, obj):
  path = tmp_path / name
  path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
  return str(path)


def _run(*args):
  return subprocess.run([sys.executable, SCRIPT] + list(args),
                        capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------------------
# Normalisation.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("The Cat", "cat"),
    ("  An  apple,  a day!! ", "apple day"),
    ("theater", "theater"),            # "the" only as a whole word
    ("ANNA", "anna"),                  # "an" inside a word stays
    ("Them an THE", "them"),
    ("U.S.A.", "usa"),
    ("don't", "dont"),
    ("A-B", "ab"),                     # removed, not replaced by a space
    ("a.n", ""),                       # punctuation first, then the article
    ("the\tend\n", "end"),
    ("Café “x”", "café “x”"),          # only ASCII string.punctuation goes
    ("", ""),
])
def test_normalize_answer(text, expected):
  assert se.normalize_answer(text) == expected


def test_get_tokens():
  assert se.get_tokens("") == []
  assert se.get_tokens("The quick, brown fox.") == ["quick", "brown", "fox"]
  assert se.get_tokens("the a an") == []


def test_empty_answer_edge_cases_differ_between_versions():
  # v2.0: "" against "" is a correct no-answer.
  assert se.compute_f1("", "") == 1
  assert se.compute_f1("", "Paris") == 0
  assert se.compute_f1("Paris", "") == 0
  assert se.compute_exact("The", "") == 1
  # v1.1: no tokens shared means 0, even when both are empty.
  assert se.f1_score("", "") == 0
  assert se.exact_match_score("", "") is True


# ---------------------------------------------------------------------------
# SQuAD 1.1 on a dozen predictions.
# ---------------------------------------------------------------------------

# (qid, gold answers, prediction or None if missing, EM, F1), worked by hand
# on normalised tokens.
V1_CASES = [
    # "eiffel tower" == "eiffel tower".
    ("q1", ["Eiffel Tower"], "the Eiffel Tower", 1, 1.0),
    # pred [eiffel tower in paris] gold [eiffel tower]: P 2/4 R 2/2 -> 2/3.
    ("q2", ["Eiffel Tower"], "Eiffel Tower in Paris", 0, 2 / 3),
    # pred [tower] gold [eiffel tower]: P 1/1 R 1/2 -> 2*(1/2)/(3/2) = 2/3.
    ("q3", ["Eiffel Tower"], "Tower", 0, 2 / 3),
    # pred [red blue green] gold [red green yellow white]: P 2/3 R 2/4
    # -> 2*(1/3)/(7/6) = 4/7 = 0.5714...
    ("q4", ["red green yellow white"], "red blue green", 0, 4 / 7),
    # Matches the first gold answer exactly.
    ("q5", ["Denver Broncos", "Broncos"], "Denver Broncos", 1, 1.0),
    # vs [denver broncos]: P 1/2 R 1/2 -> 1/2; vs [broncos]: P 1/2 R 1/1
    # -> 2/3; max = 2/3.
    ("q6", ["Denver Broncos", "The Broncos"], "Broncos team", 0, 2 / 3),
    # Counter overlap: pred {x:2, y:1} & gold {x:1, y:2} = 2 tokens; P 2/3
    # R 2/3 -> 2/3.
    ("q7", ["x y y"], "x x y", 0, 2 / 3),
    # Both normalise to "usa".
    ("q8", ["USA"], "U.S.A.", 1, 1.0),
    # An empty prediction shares nothing: 0 in SQuAD 1.1.
    ("q9", ["something"], "", 0, 0.0),
    # pred [1000 people] gold [1000]: P 1/2 R 1/1 -> 2/3.
    ("q10", ["1000"], "1,000 people", 0, 2 / 3),
    ("q11", ["Paris"], "completely wrong", 0, 0.0),
    # No prediction: scores 0 with a warning.
    ("q12", ["Rome"], None, 0, 0.0),
]


def test_v1_per_question_scores():
  for _, golds, pred, em, f1 in V1_CASES:
    pred = pred or ""
    assert se.metric_max_over_ground_truths(
        se.exact_match_score, pred, golds) == em
    assert se.metric_max_over_ground_truths(
        se.f1_score, pred, golds) == pytest.approx(f1)


def _v1_inputs():
  dataset = _dataset([(qid, golds, {}) for qid, golds, _, _, _ in V1_CASES])
  preds = {qid: p for qid, _, p, _, _ in V1_CASES if p is not None}
  return dataset, preds


# EM: q1, q5, q8 -> 3/12 = 25%.
# F1: 3 ones + five 2/3 + 4/7 = 3 + 10/3 + 4/7 = 145/21; /12 -> 145/252.
V1_EXPECTED = {"exact_match": 25.0, "f1": 100.0 * 145 / 252}  # 57.5396...


def test_evaluate_v1(capsys):
  dataset, preds = _v1_inputs()
  result = se.evaluate_v1(dataset, preds)
  assert list(result) == ["exact_match", "f1"]
  assert result["exact_match"] == pytest.approx(V1_EXPECTED["exact_match"])
  assert result["f1"] == pytest.approx(V1_EXPECTED["f1"])
  assert ("Unanswered question q12 will receive score 0."
          in capsys.readouterr().err)


def test_v1_command_prints_official_json(tmp_path):
  dataset, preds = _v1_inputs()
  data_file = _write(tmp_path, "dev.json", {"version": "1.1", "data": dataset})
  pred_file = _write(tmp_path, "pred.json", preds)
  proc = _run(data_file, pred_file)
  assert proc.returncode == 0, proc.stderr
  # The official v1.1 script prints json.dumps(dict) on one line.
  assert proc.stdout == json.dumps(se.evaluate_v1(dataset, preds)) + "\n"
  assert proc.stdout.startswith('{"exact_match": 25.0, "f1": 57.539')
  assert "Unanswered question q12 will receive score 0." in proc.stderr


# ---------------------------------------------------------------------------
# SQuAD 2.0 with unanswerable questions.
# ---------------------------------------------------------------------------

# (qid, gold answers, prediction, no-answer probability)
V2_CASES = [
    ("q1", ["Normandy"], "Normandy", 0.1),             # EM 1, F1 1
    # "." normalises to "" and is dropped; pred [10th century ad] vs gold
    # [10th century]: P 2/3 R 1 -> 2*(2/3)/(5/3) = 0.8; EM 0.
    ("q2", ["10th century", "."], "the 10th century AD", 0.3),
    ("q3", [], "", 0.9),                               # unanswerable: 1, 1
    ("q4", [], "Rollo", 0.6),                          # unanswerable: 0, 0
    # Answerable but the model abstains: F1 = int([] == [france]) = 0.
    ("q5", ["France", "in France"], "", 0.8),
    # "the" normalises to "", so it scores as a correct no-answer (1, 1),
    # but the raw text is non-empty, which the threshold search counts.
    ("q6", [], "the", 0.35),
]


def _v2_inputs():
  dataset = _dataset([(qid, golds, {"is_impossible": not golds})
                      for qid, golds, _, _ in V2_CASES])
  preds = {qid: p for qid, _, p, _ in V2_CASES}
  na_probs = {qid: prob for qid, _, _, prob in V2_CASES}
  return dataset, preds, na_probs


def test_v2_raw_scores():
  dataset, preds, _ = _v2_inputs()
  exact, f1 = se.get_raw_scores(dataset, preds)
  assert exact == {"q1": 1, "q2": 0, "q3": 1, "q4": 0, "q5": 0, "q6": 1}
  assert f1 == pytest.approx(
      {"q1": 1, "q2": 0.8, "q3": 1, "q4": 0, "q5": 0, "q6": 1})


def test_v2_splits_without_na_probs():
  dataset, preds, _ = _v2_inputs()
  result = se.evaluate_v2(dataset, preds)
  assert list(result) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1",
                          "HasAns_total", "NoAns_exact", "NoAns_f1",
                          "NoAns_total"]
  # exact: 1+0+1+0+0+1 = 3/6; f1: 1+0.8+1+0+0+1 = 3.8/6.
  assert result["exact"] == pytest.approx(50.0)
  assert result["f1"] == pytest.approx(100 * 3.8 / 6)   # 63.33...
  assert result["total"] == 6
  # HasAns = q1, q2, q5: exact 1/3, f1 1.8/3 = 0.6.
  assert result["HasAns_exact"] == pytest.approx(100 / 3)
  assert result["HasAns_f1"] == pytest.approx(60.0)
  assert result["HasAns_total"] == 3
  # NoAns = q3, q4, q6: 2/3 for both.
  assert result["NoAns_exact"] == pytest.approx(200 / 3)
  assert result["NoAns_f1"] == pytest.approx(200 / 3)
  assert result["NoAns_total"] == 3


def test_v2_best_threshold_search():
  dataset, preds, na_probs = _v2_inputs()
  result = se.evaluate_v2(dataset, preds, na_probs)
  # With threshold 1.0 nothing changes, so the plain keys are as above.
  assert result["exact"] == pytest.approx(50.0)
  assert list(result)[-4:] == ["best_exact", "best_exact_thresh", "best_f1",
                               "best_f1_thresh"]
  # Start: everything answered "" -> the 3 unanswerable are right, score 3.
  # Walk in na-prob order q1 .1, q2 .3, q6 .35, q4 .6, q5 .8, q3 .9:
  #   exact: q1 +1 -> 4 (best, thresh .1); q2 +0 -> 4 (not better);
  #          q6 non-empty raw "the" -> -1 -> 3; q4 -1 -> 2; q5 +0; q3 +0.
  #   f1:    q1 +1 -> 4 (.1); q2 +0.8 -> 4.8 (best, .3); q6 -1 -> 3.8;
  #          q4 -1 -> 2.8; q5 +0; q3 +0.
  assert result["best_exact"] == pytest.approx(100 * 4 / 6)
  assert result["best_exact_thresh"] == 0.1
  assert result["best_f1"] == pytest.approx(80.0)
  assert result["best_f1_thresh"] == 0.3


def test_v2_threshold_application():
  dataset, preds, na_probs = _v2_inputs()
  result = se.evaluate_v2(dataset, preds, na_probs, na_prob_thresh=0.5)
  # na > 0.5: q4 (.6), q5 (.8), q3 (.9) now count as "": q4 and q3 are
  # unanswerable -> 1; q5 answerable -> 0.
  # exact: 1+0+1+1+0+1 = 4/6; f1: 1+0.8+1+1+0+1 = 4.8/6.
  assert result["exact"] == pytest.approx(100 * 4 / 6)
  assert result["f1"] == pytest.approx(80.0)
  assert result["HasAns_exact"] == pytest.approx(100 / 3)   # q1 only
  assert result["HasAns_f1"] == pytest.approx(60.0)         # 1.8/3
  assert result["NoAns_exact"] == pytest.approx(100.0)
  assert result["NoAns_f1"] == pytest.approx(100.0)


def test_v2_only_present_splits_and_missing_predictions(capsys):
  dataset = _dataset([("a", ["x"], {}), ("b", ["y z"], {})])
  result = se.evaluate_v2(dataset, {"a": "x"})
  assert list(result) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1",
                          "HasAns_total"]
  # "b" has no prediction: scored as "" -> 0; so 1/2 for both.
  assert result["exact"] == pytest.approx(50.0)
  assert result["f1"] == pytest.approx(50.0)
  assert "Missing prediction for b" in capsys.readouterr().err


def test_v2_command_prints_official_json(tmp_path):
  dataset, preds, na_probs = _v2_inputs()
  data_file = _write(tmp_path, "dev.json", {"version": "v2.0", "data": dataset})
  pred_file = _write(tmp_path, "pred.json", preds)
  na_file = _write(tmp_path, "null_odds.json", na_probs)
  proc = _run(data_file, pred_file, "--na-prob-file", na_file)
  assert proc.returncode == 0, proc.stderr
  printed = json.loads(proc.stdout, object_pairs_hook=collections.OrderedDict)
  assert list(printed) == [
      "exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
      "NoAns_exact", "NoAns_f1", "NoAns_total", "best_exact",
      "best_exact_thresh", "best_f1", "best_f1_thresh"]
  assert printed["f1"] == pytest.approx(100 * 3.8 / 6)
  assert printed["best_f1"] == pytest.approx(80.0)
  assert printed["best_f1_thresh"] == 0.3
  # Same text as the official print(json.dumps(out_eval, indent=2)).
  assert proc.stdout == json.dumps(printed, indent=2) + "\n"
  assert proc.stdout.startswith('{\n  "exact": 50.0,\n  "f1": 63.33')


def test_out_file_is_written_atomically(tmp_path):
  dataset, preds, _ = _v2_inputs()
  data_file = _write(tmp_path, "dev.json", {"data": dataset})
  pred_file = _write(tmp_path, "pred.json", preds)
  out_dir = tmp_path / "out"
  out_dir.mkdir()
  out_file = out_dir / "eval.json"
  out_file.write_text("old")
  assert se.main([data_file, pred_file, "--out-file", str(out_file),
                  "--na-prob-thresh", "0.5"]) == 0
  assert os.listdir(out_dir) == ["eval.json"]   # no temporary left behind
  assert json.loads(out_file.read_text()) == se.evaluate(data_file, pred_file)


def test_failed_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
  out_file = tmp_path / "eval.json"
  out_file.write_text("old")

  def broken_replace(src, dst):
    raise OSError("disk full")

  monkeypatch.setattr(se.os, "replace", broken_replace)
  with pytest.raises(OSError):
    se.write_json_atomically(str(out_file), {"exact": 1.0})
  assert os.listdir(tmp_path) == ["eval.json"]
  assert out_file.read_text() == "old"


def test_version_detection(tmp_path):
  dataset, preds = _v1_inputs()
  pred_file = _write(tmp_path, "pred.json", preds)
  v1_file = _write(tmp_path, "v1.json", {"version": "1.1", "data": dataset})
  v2_file = _write(tmp_path, "v2.json", {"version": "v2.0", "data": dataset})
  assert "exact_match" in se.evaluate(v1_file, pred_file)
  assert "exact" in se.evaluate(v2_file, pred_file)
  assert "exact" in se.evaluate(v1_file, pred_file, version="2.0")
  # Any is_impossible field means 2.0 even without a version.
  marked = _dataset([("q1", ["x"], {"is_impossible": False})])
  marked_file = _write(tmp_path, "marked.json", {"data": marked})
  assert "exact" in se.evaluate(marked_file, pred_file)


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------


def test_malformed_json_names_file_and_position(tmp_path):
  bad = _write(tmp_path, "dev.json", '{"data": [\n  {"paragraphs": [}\n')
  pred_file = _write(tmp_path, "pred.json", {})
  with pytest.raises(ValueError) as e:
    se.evaluate(bad, pred_file)
  assert "dev.json" in str(e.value)
  assert "line 2 column" in str(e.value)


@pytest.mark.parametrize("dataset_obj", [{"version": "1.1"}, [1, 2]])
def test_dataset_without_data(tmp_path, dataset_obj):
  data_file = _write(tmp_path, "dev.json", dataset_obj)
  pred_file = _write(tmp_path, "pred.json", {})
  with pytest.raises(ValueError, match=r"dev\.json.*\"data\""):
    se.evaluate(data_file, pred_file)


def test_malformed_question_names_location(tmp_path):
  data_file = _write(tmp_path, "dev.json", {"data": [
      {"paragraphs": [{"qas": [{"id": "q1", "answers": [{"text": "x"}]},
                               {"answers": []}]}]}]})
  pred_file = _write(tmp_path, "pred.json", {})
  with pytest.raises(ValueError, match=r"dev\.json.*paragraphs\[0\]\.qas\[1\]"):
    se.evaluate(data_file, pred_file)


@pytest.mark.parametrize("preds", [["q1"], {"q1": 3}])
def test_bad_predictions(tmp_path, preds):
  data_file = _write(tmp_path, "dev.json",
                     {"data": _dataset([("q1", ["x"], {})])})
  pred_file = _write(tmp_path, "pred.json", preds)
  with pytest.raises(ValueError, match=r"pred\.json"):
    se.evaluate(data_file, pred_file)


def test_na_prob_file_missing_question(tmp_path):
  dataset, preds, na_probs = _v2_inputs()
  del na_probs["q4"]
  data_file = _write(tmp_path, "dev.json", {"data": dataset})
  pred_file = _write(tmp_path, "pred.json", preds)
  na_file = _write(tmp_path, "null_odds.json", na_probs)
  with pytest.raises(ValueError, match=r"null_odds\.json.*q4"):
    se.evaluate(data_file, pred_file, na_file)


def test_v1_rejects_unanswerable_questions(tmp_path):
  dataset, preds, _ = _v2_inputs()
  data_file = _write(tmp_path, "dev.json", {"data": dataset})
  pred_file = _write(tmp_path, "pred.json", preds)
  with pytest.raises(ValueError, match="no gold answers"):
    se.evaluate(data_file, pred_file, version="1.1")


def test_command_bad_input_exits_nonzero_without_traceback(tmp_path):
  good = _write(tmp_path, "dev.json", {"data": _dataset([("q1", ["x"], {})])})
  bad_json = _write(tmp_path, "broken.json", '{"q1": "x",}')
  not_object = _write(tmp_path, "list.json", ["x"])
  missing = str(tmp_path / "nope.json")
  for args, name in [((good, bad_json), "broken.json"),
                     ((good, not_object), "list.json"),
                     ((missing, not_object), "nope.json")]:
    proc = _run(*args)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert name in proc.stderr
    assert "Traceback" not in proc.stderr
