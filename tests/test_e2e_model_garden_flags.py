"""End-to-end: run_classifier.py driven by Model Garden's flag names only.

The commands of Model Garden's BERT README (`--mode`, `--model_dir`,
`--steps_per_loop`, ...) run here as pasted: a tiny model trains and
evaluates with `--mode=train_and_eval`, then `--mode=predict` on the same
`--model_dir` predicts in batches of `--eval_batch_size`; the predictions'
accuracy, recomputed here from the gold labels, is the one evaluated.
"""

import os

import numpy as np
import pytest

import bert_testing
from conftest import SHARED_DATA

MRPC = os.path.join(SHARED_DATA, "mrpc")
HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"


def mrpc_slice(name, count):
  with open(os.path.join(MRPC, name), encoding="utf-8-sig") as f:
    return f.read().splitlines()[1:count + 1]


@pytest.fixture(scope="module")
def garden_run(tmp_path_factory):
  """Trains 64 MRPC pairs for one epoch, evaluates and predicts on 32, with
  Model Garden's spellings alone; returns the directory, the gold labels and
  both runs' logs."""
  tmp = tmp_path_factory.mktemp("garden")
  data_dir = tmp / "data"
  data_dir.mkdir()
  train = mrpc_slice("msr_paraphrase_train.txt", 64)
  test = mrpc_slice("msr_paraphrase_test.txt", 32)
  # The MSR files: the test file is both the dev and the test set.
  (data_dir / "msr_paraphrase_train.txt").write_text(
      "\n".join([HEADER] + train) + "\n")
  (data_dir / "msr_paraphrase_test.txt").write_text(
      "\n".join([HEADER] + test) + "\n")
  texts = [" ".join(row.split("\t")[3:]) for row in train + test]
  vocab = bert_testing.write_vocab(str(tmp / "vocab.txt"), texts)
  bert_testing.write_config(str(tmp / "bert_config.json"), len(vocab))
  model_dir = tmp / "model"
  common = ["--task_name=MRPC", "--data_dir=%s" % data_dir,
            "--vocab_file=%s" % (tmp / "vocab.txt"),
            "--bert_config_file=%s" % (tmp / "bert_config.json"),
            "--max_seq_length=48", "--model_dir=%s" % model_dir,
            "--distribution_strategy=off"]
  train_run = bert_testing.run_script("run_classifier.py", common + [
      "--mode=train_and_eval", "--train_batch_size=8", "--eval_batch_size=8",
      "--steps_per_loop=4", "--learning_rate=1e-3", "--num_train_epochs=1",
      "--optimizer_type=lamb", "--dtype=fp32", "--log_steps=4", "--seed=1"])
  assert train_run.returncode == 0, train_run.stderr[-4000:]
  predict_run = bert_testing.run_script("run_classifier.py", common + [
      "--mode=predict", "--eval_batch_size=4"])
  assert predict_run.returncode == 0, predict_run.stderr[-4000:]
  labels = [int(row.split("\t")[0]) for row in test]
  return model_dir, labels, train_run.stderr, predict_run.stderr


def test_train_and_eval_trains_evaluates_and_predicts_nothing(garden_run):
  model_dir, _, log, _ = garden_run
  assert (model_dir / "model.ckpt-8.index").exists()  # 64 / 8 * 1 epoch.
  assert (model_dir / "eval_results.txt").exists()
  assert "Model Garden flag names: " in log
  assert "--mode=train_and_eval as --do_train --do_eval" in log
  assert "--model_dir as --output_dir" in log
  task = (model_dir / "task.json").read_text()
  assert '"optimizer": "lamb"' in task


def test_predict_mode_uses_the_trained_model_and_eval_batch_size(garden_run):
  model_dir, labels, _, log = garden_run
  assert "--mode=predict as --do_predict" in log
  assert "--eval_batch_size as --predict_batch_size" in log
  assert "Batch size = 4" in log
  rows = (model_dir / "test_results.tsv").read_text().splitlines()
  probs = np.array([r.split("\t") for r in rows], dtype=np.float64)
  assert probs.shape == (len(labels), 2)
  np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
  accuracy = np.mean(probs.argmax(1) == np.array(labels))
  result = bert_testing.read_eval_results(model_dir / "eval_results.txt")
  # The predictions are those of the checkpoint that was evaluated.
  assert result["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
  assert result["global_step"] == 8
