# coding=utf-8
"""End-to-end: run_squad.py trains and predicts on a small SQuAD file.

A tiny model (2 layers, hidden 32) with a vocabulary built from the text is
fine-tuned from scratch for a few steps in a subprocess, as a user runs the
script, once on SQuAD 1.1-style data and once with SQuAD 2.0 unanswerable
questions. The tests check the output files' structure, that every question
is answered, and that `eval_results.json` holds the exact match and F1 of
`predictions.json` as the official evaluation scripts define them, computed
here from their formulas (not by `squad_evaluate`, which the script calls).
"""

import collections
import json
import math
import os
import re
import string
import subprocess
import sys

import pytest

import bert_testing

# (context, [(question, answer, alternative gold answers for the dev file)]).
# Several paragraphs are longer than one 64-token window, so the windows
# and the max-context choice are exercised.
PARAGRAPHS = [
    ("The lighthouse on Gull Point was built in 1874 by the harbour board. "
     "Its lamp burned whale oil until 1911, when keepers switched to "
     "kerosene, and it was automated in 1962. The tower is 31 metres tall "
     "and painted with red and white bands so that ships can see it by day.",
     [("When was the lighthouse built?", "1874", ["in 1874"]),
      ("What fuel did the lamp burn first?", "whale oil", []),
      ("How tall is the tower?", "31 metres", ["31"])]),
    ("Marie Dubois opened her bakery in Lyon in 1998. She is known for a "
     "brioche made with orange blossom water, which she learned from her "
     "grandmother in Provence. On Saturdays the queue reaches the corner of "
     "the street before the shop opens at seven.",
     [("Where did Marie Dubois open her bakery?", "Lyon", []),
      ("What flavours the brioche?", "orange blossom water", []),
      ("When does the shop open?", "seven", ["at seven"])]),
    ("The Atacama Desert in northern Chile is one of the driest places on "
     "Earth. Some weather stations there have never recorded rain. Because "
     "the air is so dry and clear, several large telescopes have been built "
     "on its high plateaus, including the Very Large Telescope at Paranal.",
     [("In which country is the Atacama Desert?", "Chile", []),
      ("Why were telescopes built there?",
       "the air is so dry and clear", ["air is so dry and clear"])]),
    ("Honeybees communicate the location of flowers with a waggle dance. "
     "The angle of the dance relative to vertical shows the direction of "
     "the food compared with the sun, and the length of the waggle run "
     "tells the other bees how far away it is.",
     [("How do honeybees communicate where flowers are?", "a waggle dance",
       ["waggle dance"]),
      ("What does the length of the waggle run tell?", "how far away it is",
       [])]),
    ("The river Tamar forms most of the border between Devon and Cornwall. "
     "It rises less than six kilometres from the north coast and flows "
     "south for about 80 kilometres to Plymouth Sound. Brunel's railway "
     "bridge crosses it at Saltash and was opened in 1859.",
     [("Which two counties does the Tamar separate?", "Devon and Cornwall",
       []),
      ("Who designed the railway bridge at Saltash?", "Brunel", []),
      ("When was the bridge opened?", "1859", [])]),
    ("Chess engines evaluate millions of positions per second. Early "
     "programs relied on hand-written rules, but modern engines such as "
     "Stockfish combine deep search with a small neural network that "
     "scores positions. In 1997 the computer Deep Blue defeated the world "
     "champion Garry Kasparov in a six-game match.",
     [("Which computer defeated Kasparov?", "Deep Blue", []),
      ("In what year did Deep Blue win?", "1997", []),
      ("What does Stockfish combine with deep search?",
       "a small neural network", ["neural network"])]),
    ("Sourdough bread rises thanks to a starter, a mixture of flour and "
     "water colonised by wild yeast and lactic acid bacteria. The bacteria "
     "produce the acids that give the bread its sour taste. A starter must "
     "be fed with fresh flour every day or two to stay active.",
     [("What makes sourdough bread rise?", "a starter", ["starter"]),
      ("What gives the bread its sour taste?", "the acids", ["acids"])]),
    ("The Trans-Siberian Railway links Moscow with Vladivostok on the "
     "Pacific coast. The main line is about 9,289 kilometres long and the "
     "journey takes roughly seven days without stops. Construction began "
     "in 1891 under Tsar Alexander III.",
     [("Which city is at the eastern end of the railway?", "Vladivostok",
       []),
      ("How long does the journey take?", "roughly seven days",
       ["seven days"]),
      ("Under which tsar did construction begin?", "Alexander III",
       ["Tsar Alexander III"])]),
    ("Octopuses have three hearts and blue blood. Two hearts pump blood "
     "through the gills, while the third sends it to the rest of the body. "
     "Their blood is blue because it carries oxygen with a copper-based "
     "protein called haemocyanin instead of iron-based haemoglobin.",
     [("How many hearts do octopuses have?", "three", []),
      ("What protein carries oxygen in octopus blood?", "haemocyanin", [])]),
    ("José Martí was a Cuban poet and journalist who spent much of his life "
     "in exile in New York. His collection Versos sencillos, published in "
     "1891, includes the lines later set to the song Guantanamera.",
     [("Where did José Martí spend much of his exile?", "New York", []),
      ("Which song uses lines from Versos sencillos?", "Guantanamera", [])]),
    ("The first practical telephone exchange opened in New Haven, "
     "Connecticut, in January 1878. It served twenty-one subscribers, and "
     "an operator connected calls by hand with plugs and cords on a "
     "switchboard. Automatic exchanges appeared in the 1890s.",
     [("Where did the first telephone exchange open?",
       "New Haven, Connecticut", ["New Haven"]),
      ("How many subscribers did it serve?", "twenty-one", [])]),
    ("Glaciers move because ice deforms under its own weight. A glacier "
     "also slides on a thin film of meltwater at its base. Where it flows "
     "over a steep step in the rock the ice cracks into deep crevasses, "
     "and where it reaches the sea large blocks break off as icebergs.",
     [("Why do glaciers move?", "ice deforms under its own weight",
       ["because ice deforms under its own weight"]),
      ("What forms where a glacier reaches the sea?", "icebergs", [])]),
]

# SQuAD 2.0 additions: questions the paragraph does not answer.
UNANSWERABLE = {
    0: ["Who painted the lighthouse in 1874?", "When was the tower demolished?"],
    2: ["How much rain fell at Paranal in 1998?"],
    4: ["Who designed the bridge at Plymouth?"],
    7: ["How long did construction take under Tsar Nicholas?"],
    9: ["Where was Guantanamera first recorded?"],
    11: ["How fast do icebergs melt?"],
}

# A training question whose answer_start points at the wrong place: it is
# skipped with a warning and counted.
BAD_QUESTION = ("What colour are the bands?", "red and white", 3)


def build_squad(version_2, for_training):
  """The SQuAD dict; dev files list alternative gold answers."""
  data = []
  for p_index, (context, questions) in enumerate(PARAGRAPHS):
    qas = []
    for q_index, (question, answer, alternatives) in enumerate(questions):
      answers = [{"text": answer, "answer_start": context.index(answer)}]
      if not for_training:
        answers += [{"text": a, "answer_start": context.index(a)}
                    for a in alternatives]
      item = {"id": "p%d-q%d" % (p_index, q_index), "question": question,
              "answers": answers}
      if version_2:
        item["is_impossible"] = False
      qas.append(item)
    if version_2:
      for u_index, question in enumerate(UNANSWERABLE.get(p_index, [])):
        qas.append({"id": "p%d-u%d" % (p_index, u_index),
                    "question": question, "answers": [],
                    "is_impossible": True})
    if for_training and p_index == 0:
      question, answer, wrong_start = BAD_QUESTION
      qas.append({"id": "p0-bad", "question": question,
                  "answers": [{"text": answer, "answer_start": wrong_start}]})
    data.append({"title": "para%d" % p_index,
                 "paragraphs": [{"context": context, "qas": qas}]})
  return {"version": "v2.0" if version_2 else "1.1", "data": data}


def all_question_ids(dataset):
  return [qa["id"] for article in dataset["data"]
          for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def run(tmp, version_2):
  train = build_squad(version_2, for_training=True)
  dev = build_squad(version_2, for_training=False)
  for name, dataset in (("train.json", train), ("dev.json", dev)):
    with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
      json.dump(dataset, f, ensure_ascii=False, indent=1)
  texts = [c for c, _ in PARAGRAPHS] + [
      q for c, qs in PARAGRAPHS for q, _, _ in qs] + [
          q for qs in UNANSWERABLE.values() for q in qs]
  vocab = bert_testing.write_vocab(os.path.join(tmp, "vocab.txt"), texts)
  bert_testing.write_config(os.path.join(tmp, "bert_config.json"), len(vocab),
                            hidden_size=32)
  out = os.path.join(tmp, "out")
  args = [
      "--do_train", "--do_predict",
      "--train_file=%s" % os.path.join(tmp, "train.json"),
      "--predict_file=%s" % os.path.join(tmp, "dev.json"),
      "--vocab_file=%s" % os.path.join(tmp, "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(tmp, "bert_config.json"),
      "--output_dir=%s" % out,
      "--max_seq_length=64", "--doc_stride=32", "--max_query_length=16",
      "--train_batch_size=8", "--predict_batch_size=16",
      "--learning_rate=1e-3", "--num_train_epochs=2",
      "--n_best_size=5", "--max_answer_length=10",
      "--save_checkpoints_steps=1000", "--log_every_n_steps=2", "--seed=3",
  ]
  if version_2:
    args.append("--version_2_with_negative")
  else:
    # Evaluation during training: here once, at the last step.
    args.append("--eval_every_n_steps=1000")
  proc = bert_testing.run_script("run_squad.py", args, timeout=300)
  assert proc.returncode == 0, proc.stderr[-5000:]
  return out, train, dev, proc.stderr


@pytest.fixture(scope="module")
def squad_v1(tmp_path_factory):
  return run(str(tmp_path_factory.mktemp("squad_v1")), version_2=False)


@pytest.fixture(scope="module")
def squad_v2(tmp_path_factory):
  return run(str(tmp_path_factory.mktemp("squad_v2")), version_2=True)


# --- the official SQuAD metrics, written out from their definition --------


def normalize(text):
  """Lower case, no ASCII punctuation, no articles, single spaces: the
  official scripts' normalisation, in their order."""
  text = "".join(c for c in text.lower() if c not in string.punctuation)
  return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def exact(gold, prediction):
  return float(normalize(gold) == normalize(prediction))


def token_f1(gold, prediction):
  """Harmonic mean of token precision and recall over the normalised words
  (as multisets); two empty answers agree (SQuAD 2.0's rule)."""
  gold_words = normalize(gold).split()
  pred_words = normalize(prediction).split()
  if not gold_words or not pred_words:
    return float(gold_words == pred_words)
  common = sum((collections.Counter(gold_words) &
                collections.Counter(pred_words)).values())
  if not common:
    return 0.0
  precision, recall = common / len(pred_words), common / len(gold_words)
  return 2 * precision * recall / (precision + recall)


def gold_answers(dataset):
  """{question id: its gold texts}; [""] for an unanswerable question."""
  golds = {}
  for article in dataset["data"]:
    for paragraph in article["paragraphs"]:
      for qa in paragraph["qas"]:
        texts = [a["text"] for a in qa["answers"] if normalize(a["text"])]
        golds[qa["id"]] = texts or [""]
  return golds


def percent_scores(golds, predictions, qids):
  """(exact match, F1), in percent, of `predictions` over `qids`: each
  question scores its best gold answer."""
  em = sum(max(exact(g, predictions[q]) for g in golds[q]) for q in qids)
  f1 = sum(max(token_f1(g, predictions[q]) for g in golds[q]) for q in qids)
  return 100.0 * em / len(qids), 100.0 * f1 / len(qids)


def test_metric_formulas_on_hand_counted_answers():
  """The formulas above, on answers whose scores are counted by hand."""
  assert normalize("The  Tower, in 1874!") == "tower in 1874"
  assert exact("in 1874", "In 1874.") == 1.0
  # gold {31, metres} vs prediction {31}: precision 1, recall 1/2.
  assert token_f1("31 metres", "31") == pytest.approx(2 / 3)
  # gold {roughly, seven, days}, prediction {seven, days, by, train}:
  # 2 common, precision 2/4, recall 2/3, F1 = 2 * (1/3) / (7/6) = 4/7.
  assert token_f1("roughly seven days", "seven days by train") == (
      pytest.approx(4 / 7))
  assert token_f1("", "") == 1.0 and token_f1("Lyon", "") == 0.0
  golds = {"a": ["31 metres", "31"], "b": ["Lyon"]}
  assert percent_scores(golds, {"a": "31", "b": "Paris"}, ["a", "b"]) == (
      pytest.approx((50.0, 50.0)))


def load(out, name):
  with open(os.path.join(out, name), encoding="utf-8") as f:
    return json.load(f)


def check_nbest(nbest, predictions, n_best_size=5):
  assert set(nbest) == set(predictions)
  for qid, entries in nbest.items():
    assert 1 <= len(entries) <= n_best_size + 1  # + the null answer (2.0).
    for entry in entries:
      assert list(entry) == ["text", "probability", "start_logit",
                             "end_logit"]
    texts = [e["text"] for e in entries]
    assert len(set(texts)) == len(texts), qid
    assert math.isclose(sum(e["probability"] for e in entries), 1.0,
                        rel_tol=1e-6)


def test_v1_outputs_answer_every_question(squad_v1):
  out, _, dev, log = squad_v1
  files = set(os.listdir(out))
  assert {"train.tf_record", "eval.tf_record", "predictions.json",
          "nbest_predictions.json", "eval_results.json",
          "training_summary.json"} <= files
  assert "null_odds.json" not in files
  assert not [f for f in files if ".tmp-" in f]
  predictions = load(out, "predictions.json")
  assert list(predictions) == all_question_ids(dev)
  assert all(isinstance(text, str) and text for text in predictions.values())
  nbest = load(out, "nbest_predictions.json")
  check_nbest(nbest, predictions)
  for qid, text in predictions.items():
    entries = nbest[qid]
    assert text == entries[0]["text"]
    totals = [e["start_logit"] + e["end_logit"] for e in entries]
    assert totals == sorted(totals, reverse=True)
  # Each answer is a piece of its own paragraph (or the placeholder).
  contexts = {qa["id"]: p["context"] for a in dev["data"]
              for p in a["paragraphs"] for qa in p["qas"]}
  for qid, text in predictions.items():
    assert text == "empty" or text in contexts[qid]


def test_v1_eval_results_match_official_evaluation(squad_v1):
  out, _, dev, log = squad_v1
  dev_file = os.path.join(os.path.dirname(out), "dev.json")
  eval_results = load(out, "eval_results.json")
  predictions = load(out, "predictions.json")
  em, f1 = percent_scores(gold_answers(dev), predictions, list(predictions))
  print("SQuAD 1.1 run: exact match %.2f, F1 %.2f" % (em, f1))
  assert eval_results == pytest.approx({"exact_match": em, "f1": f1})
  # The command line a user would run prints the same numbers.
  proc = subprocess.run(
      [sys.executable, os.path.join(bert_testing.ROOT, "squad_evaluate.py"),
       dev_file, os.path.join(out, "predictions.json")],
      capture_output=True, text=True, timeout=60)
  assert proc.returncode == 0, proc.stderr
  assert json.loads(proc.stdout) == pytest.approx(eval_results)
  assert "exact_match = " in log


def test_v1_evaluation_during_training_keeps_the_best(squad_v1):
  out, _, _, log = squad_v1
  with open(os.path.join(out, "eval_history.jsonl")) as f:
    history = [json.loads(line) for line in f]
  last = json.load(open(os.path.join(out, "training_summary.json")))
  assert [h["step"] for h in history] == [last["global_step"]]
  eval_results = load(out, "eval_results.json")
  assert history[0]["f1"] == pytest.approx(eval_results["f1"])
  assert history[0]["exact_match"] == pytest.approx(
      eval_results["exact_match"])
  assert load(os.path.join(out, "best"), "eval_results.json") == (
      pytest.approx(eval_results))
  assert "Predictions are those of the best checkpoint" in log


def test_v1_log_reports_progress_and_skipped_answer(squad_v1):
  _, _, _, log = squad_v1
  assert "Skipping question p0-bad" in log
  assert "skipped 1 of" in log
  assert ("Summary: training read %d questions; 1 skipped" %
          (sum(len(q) for _, q in PARAGRAPHS) + 1)) in log
  assert "(p0-bad)" in log
  assert "examples/sec" in log
  assert "TRAINING_SUMMARY" in log
  assert "Processing example: 0" in log


def test_v2_null_odds_and_unanswerable_questions(squad_v2):
  out, train, dev, log = squad_v2
  predictions = load(out, "predictions.json")
  ids = all_question_ids(dev)
  assert list(predictions) == ids
  assert sum(1 for i in ids if "-u" in i) == 7
  null_odds = load(out, "null_odds.json")
  assert list(null_odds) == ids
  nbest = load(out, "nbest_predictions.json")
  check_nbest(nbest, predictions)
  for qid in ids:
    # "" exactly when the null score beats the best span by more than the
    # threshold (0.0).
    assert (predictions[qid] == "") == (null_odds[qid] > 0.0), qid
    assert "" in [e["text"] for e in nbest[qid]]
  # The official 2.0 script, given null_odds.json, counts a question whose
  # odds exceed 1.0 as answered with "" whatever the prediction; here those
  # predictions are "" already (odds > 0), so it changes nothing.
  golds = gold_answers(dev)
  has_answer = [q for q in ids if golds[q] != [""]]
  no_answer = [q for q in ids if golds[q] == [""]]
  expected = {"total": len(ids), "HasAns_total": len(has_answer),
              "NoAns_total": len(no_answer)}
  for prefix, qids in (("", ids), ("HasAns_", has_answer),
                       ("NoAns_", no_answer)):
    (expected[prefix + "exact"], expected[prefix + "f1"]) = percent_scores(
        golds, predictions, qids)
  print("SQuAD 2.0 run: %s" % expected)
  eval_results = load(out, "eval_results.json")
  assert {k: eval_results[k] for k in expected} == pytest.approx(expected)
  assert len(no_answer) == 7
  # The best-threshold search over null_odds (best_exact, best_f1 and
  # their thresholds) is checked on hand-counted scores in
  # test_squad_evaluate.test_v2_best_threshold_search.
  assert {"best_exact", "best_exact_thresh", "best_f1",
          "best_f1_thresh"} <= set(eval_results)
