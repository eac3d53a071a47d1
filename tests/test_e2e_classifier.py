"""End-to-end: run_classifier.py on slices of the real MRPC and SentEval data.

A tiny model (2 layers, hidden 32) is fine-tuned from scratch in a
subprocess, exactly as a user runs the script; the test then recomputes
accuracy and F1 from `test_results.tsv` and the gold labels itself and checks
them against `eval_results.txt`.
"""

import csv
import os

import numpy as np
import pytest

import bert_testing
from conftest import SHARED_DATA

MRPC = os.path.join(SHARED_DATA, "mrpc")


def read_msr(path):
  """(label, sentence1, sentence2) rows of an MSR paraphrase file."""
  with open(path, encoding="utf-8-sig") as f:
    lines = f.read().splitlines()
  return [tuple(l.split("\t")[i] for i in (0, 3, 4)) for l in lines[1:] if l]


def write_msr(path, header, rows):
  with open(path, "w", encoding="utf-8-sig", newline="") as f:
    f.write(header + "\r\n")  # Windows line endings, as some copies have.
    for label, a, b in rows:
      f.write("%s\t1\t2\t%s\t%s\r\n" % (label, a, b))


def f1_from_counts(labels, preds):
  tp = sum(1 for l, p in zip(labels, preds) if l == 1 and p == 1)
  fp = sum(1 for l, p in zip(labels, preds) if l == 0 and p == 1)
  fn = sum(1 for l, p in zip(labels, preds) if l == 1 and p == 0)
  precision = tp / (tp + fp) if tp + fp else 0.0
  recall = tp / (tp + fn) if tp + fn else 0.0
  return 2 * precision * recall / (precision + recall) if tp else 0.0


@pytest.fixture(scope="module")
def mrpc_run(tmp_path_factory):
  return run_mrpc(tmp_path_factory.mktemp("mrpc"))


def run_mrpc(tmp, *extra_args):
  """Fine-tunes on 600 real MRPC pairs, evaluates on 150; returns outputs."""
  train = read_msr(os.path.join(MRPC, "msr_paraphrase_train.txt"))[:600]
  test = read_msr(os.path.join(MRPC, "msr_paraphrase_test.txt"))[:150]
  data_dir = tmp / "data"
  data_dir.mkdir()
  header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
  write_msr(data_dir / "msr_paraphrase_train.txt", header, train)
  write_msr(data_dir / "msr_paraphrase_test.txt", header, test)
  vocab = bert_testing.write_vocab(
      str(tmp / "vocab.txt"), [a + " " + b for _, a, b in train + test])
  bert_testing.write_config(str(tmp / "bert_config.json"), len(vocab),
                            hidden_size=32)
  out = tmp / "out"
  proc = bert_testing.run_script("run_classifier.py", [
      "--task_name=MRPC", "--do_train", "--do_eval", "--do_predict",
      "--data_dir=%s" % data_dir, "--vocab_file=%s" % (tmp / "vocab.txt"),
      "--bert_config_file=%s" % (tmp / "bert_config.json"),
      "--output_dir=%s" % out, "--max_seq_length=64",
      "--train_batch_size=16", "--learning_rate=1e-3", "--num_train_epochs=2",
      "--save_checkpoints_steps=50", "--log_every_n_steps=20", "--seed=1",
  ] + list(extra_args))
  assert proc.returncode == 0, proc.stderr[-4000:]
  return out, test, proc.stderr


def test_mrpc_outputs_are_written(mrpc_run):
  out, _, log = mrpc_run
  for name in ("train.tf_record", "eval.tf_record", "predict.tf_record",
               "eval_results.txt", "test_results.tsv", "checkpoint",
               "training_summary.json"):
    assert (out / name).exists(), name
  # 600 examples / 16 * 2 epochs.
  assert (out / "model.ckpt-75.index").exists()
  assert "examples/sec" in log and "Converted 600 examples" in log
  assert not [n for n in os.listdir(out) if ".tmp-" in n]


def check_metrics_against_predictions(out, test):
  """eval_results.txt holds the accuracy, F1 and mean cross-entropy that
  test_results.tsv's probabilities give against the gold labels.

  The MSR test file is both dev and test set here, so eval and predict see
  the same examples.
  """
  rows = [line.split("\t") for line in
          (out / "test_results.tsv").read_text().splitlines()]
  probs = np.array(rows, dtype=np.float64)
  assert probs.shape == (len(test), 2)
  np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
  preds = probs.argmax(1).tolist()
  labels = [int(label) for label, _, _ in test]
  accuracy = np.mean([p == l for p, l in zip(preds, labels)])
  loss = -np.mean(np.log(probs[np.arange(len(labels)), labels]))
  result = bert_testing.read_eval_results(out / "eval_results.txt")
  assert result["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
  assert result["eval_f1"] == pytest.approx(f1_from_counts(labels, preds),
                                            abs=1e-6)
  # The probabilities are printed to float32 precision.
  assert result["eval_loss"] == pytest.approx(loss, rel=1e-4)
  assert result["global_step"] == 75


def test_mrpc_metrics_agree_with_predictions_and_labels(mrpc_run):
  out, test, _ = mrpc_run
  check_metrics_against_predictions(out, test)


def test_bf16_mrpc_run_is_consistent_and_saves_float32(tmp_path):
  """bf16 (explicit casts) on real MRPC: the run's metrics are those of its
  own predictions and its checkpoint is float32, for a float32 run to start
  from.

  Not an accuracy check: on MRPC a tiny model from scratch stays at the
  majority class in fp32 as in bf16, so their accuracies agree whatever bf16
  costs. The SUBJ test below, where the model learns, is that check.
  """
  out, test, _ = run_mrpc(tmp_path, "--precision=bf16",
                          "--bf16_implementation=cast")
  check_metrics_against_predictions(out, test)
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  reader = tf.train.load_checkpoint(str(out))
  dtypes = reader.get_variable_to_dtype_map()
  assert set(dtypes.values()) == {tf.float32, tf.int64}, dtypes
  kernel = "bert/encoder/layer_0/attention/self/query/kernel"
  assert np.all(np.isfinite(reader.get_tensor(kernel)))


def copy_senteval_slice(task, data_dir, num_train, num_dev, text_column):
  """Writes the first lines of a SentEval task's train.tsv and dev.tsv to
  `data_dir`; returns their sentences (in `text_column`) for a vocabulary."""
  data_dir.mkdir()
  texts = []
  for split, n in (("train", num_train), ("dev", num_dev)):
    with open(os.path.join(SHARED_DATA, "senteval", task, split + ".tsv"),
              encoding="utf-8") as f:
      lines = f.read().splitlines()[:n]
    (data_dir / (split + ".tsv")).write_text("\n".join(lines) + "\n")
    texts += [l.split("\t")[text_column] for l in lines]
  return texts


@pytest.fixture(scope="module")
def subj(tmp_path_factory):
  """2,000 train and 2,000 dev sentences of SentEval SUBJ (balanced), a
  vocabulary of their words and a 2-layer, hidden-32 config."""
  tmp = tmp_path_factory.mktemp("subj")
  texts = copy_senteval_slice("SUBJ", tmp / "data", 2000, 2000, text_column=1)
  vocab = bert_testing.write_vocab(str(tmp / "vocab.txt"), texts)
  bert_testing.write_config(str(tmp / "bert_config.json"), len(vocab),
                            hidden_size=32)
  return tmp


def subj_accuracy(subj, out, *extra_args):
  proc = bert_testing.run_script("run_classifier.py", [
      "--processor_module=examples/senteval_tasks.py", "--task_name=senteval",
      "--do_train", "--do_eval", "--data_dir=%s" % (subj / "data"),
      "--vocab_file=%s" % (subj / "vocab.txt"),
      "--bert_config_file=%s" % (subj / "bert_config.json"),
      "--output_dir=%s" % out, "--max_seq_length=48", "--train_batch_size=32",
      "--num_train_epochs=8", "--seed=1", "--save_checkpoints_steps=1000",
  ] + list(extra_args))
  assert proc.returncode == 0, proc.stderr[-4000:]
  results = bert_testing.read_eval_results(out / "eval_results.txt")
  return results["eval_accuracy"]


def test_bf16_and_lamb_cost_no_accuracy_where_the_model_learns(subj,
                                                               tmp_path):
  """On MRPC a tiny model from scratch stays at the majority class, so a
  test there cannot see a loss of accuracy. On SUBJ it learns (chance 0.5):
  AdamW in fp32, AdamW in bf16 and LAMB, same seed and steps, must end close
  to each other on 2,000 dev sentences.

  Measured at 8 epochs with the dropout of modeling.dropout (16-bit
  draws), seeds 1-3: fp32 0.8575, 0.8505, 0.852; bf16 - fp32 -0.85, -0.35,
  +0.05 points; LAMB (lr 2e-2) - fp32 -2.35, +0.05, -1.6 points: LAMB
  converges more slowly on this small task (at 5 epochs it was 1.2-4.0
  points behind), so its bar is 3 points, bf16's 2.
  """
  fp32 = subj_accuracy(subj, tmp_path / "fp32", "--learning_rate=1e-3")
  bf16 = subj_accuracy(subj, tmp_path / "bf16", "--learning_rate=1e-3",
                       "--precision=bf16", "--bf16_implementation=cast")
  lamb = subj_accuracy(subj, tmp_path / "lamb", "--learning_rate=2e-2",
                       "--optimizer=lamb")
  assert fp32 > 0.8, fp32
  assert abs(bf16 - fp32) < 0.02, (fp32, bf16)
  assert abs(lamb - fp32) < 0.03, (fp32, lamb)


def test_senteval_task_from_processor_module(tmp_path):
  """The README's recipe: a processor of one's own, loaded by flag."""
  data_dir = tmp_path / "cola"
  texts = copy_senteval_slice("CoLA", data_dir, 160, 40, text_column=0)
  vocab = bert_testing.write_vocab(str(tmp_path / "vocab.txt"), texts)
  bert_testing.write_config(str(tmp_path / "bert_config.json"), len(vocab))
  out = tmp_path / "out"
  proc = bert_testing.run_script("run_classifier.py", [
      "--processor_module=examples/senteval_tasks.py", "--task_name=senteval",
      "--do_train", "--do_eval", "--data_dir=%s" % data_dir,
      "--vocab_file=%s" % (tmp_path / "vocab.txt"),
      "--bert_config_file=%s" % (tmp_path / "bert_config.json"),
      "--output_dir=%s" % out, "--max_seq_length=32",
      "--train_batch_size=16", "--num_train_epochs=1",
  ])
  assert proc.returncode == 0, proc.stderr[-4000:]
  # 160 sentences / 16 a batch; ten steps teach CoLA nothing to assert on.
  result = bert_testing.read_eval_results(out / "eval_results.txt")
  assert result["global_step"] == 10
  # The original's keys, then per class (0, 1) and the confusion matrix.
  per_class = ["eval_%s_%s" % (m, c) for m in ("precision", "recall", "f1")
               for c in "01"]
  confusion = ["eval_confusion_%s_predicted_%s" % (g, p) for g in "01"
               for p in "01"]
  assert sorted(result) == sorted(["eval_accuracy", "eval_loss",
                                   "global_step", "loss"] + per_class +
                                  confusion)
  assert sum(result[k] for k in confusion) == 40


def has_gpu():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return bool(tf.config.list_physical_devices("GPU"))


def file_task_args(task_dir, out, *extra):
  """run_classifier.py flags of the file task on `task_dir`, with its
  vocab.txt and bert_config.json."""
  return [
      "--task_name=file", "--data_dir=%s" % task_dir,
      "--vocab_file=%s" % (task_dir / "vocab.txt"),
      "--bert_config_file=%s" % (task_dir / "bert_config.json"),
      "--output_dir=%s" % out, "--seed=1", "--save_checkpoints_steps=1000",
  ] + list(extra)


def run_ok(args):
  proc = bert_testing.run_script("run_classifier.py", args)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return proc


def test_file_task_on_subj_beats_the_majority_class(subj, tmp_path):
  """SentEval SUBJ (label<TAB>sentence, no header) by flags alone.

  Measured (seed 1, 3 epochs): accuracy 0.845 on the 2,000 dev sentences,
  majority class 0.506, a margin of 0.34.
  """
  out = tmp_path / "out"
  dev = subj / "data" / "dev.tsv"
  proc = run_ok([
      "--task_name=file", "--data_dir=%s" % (subj / "data"),
      "--text_a_column=1", "--label_column=0", "--test_file=%s" % dev,
      "--do_train", "--do_eval", "--do_predict",
      "--vocab_file=%s" % (subj / "vocab.txt"),
      "--bert_config_file=%s" % (subj / "bert_config.json"),
      "--output_dir=%s" % out, "--max_seq_length=48", "--train_batch_size=32",
      "--num_train_epochs=3", "--learning_rate=1e-3", "--seed=1",
      "--save_checkpoints_steps=1000"])
  labels = np.array([int(l.split("\t")[0])
                     for l in dev.read_text().splitlines()])
  majority = max(labels.mean(), 1 - labels.mean())
  probs = np.loadtxt(out / "test_results.tsv")
  assert probs.shape == (2000, 2)
  accuracy = np.mean(probs.argmax(1) == labels)
  result = bert_testing.read_eval_results(out / "eval_results.txt")
  assert result["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
  assert accuracy > majority + 0.25, (accuracy, majority)
  assert (out / "label_list.txt").read_text() == "0\n1\n"
  assert "train.tsv: no header" in proc.stderr
  assert "Label counts in %s: 0=1005, 1=995" % (subj / "data" / "train.tsv") \
      in proc.stderr


def write_long_documents(task_dir):
  """Documents of filler words with one word that decides the label ("good"
  1, "bad" 0). Training: 300 of 15 words, the word anywhere. Dev: 60 of 41
  words, the word last, so that only the last window of 14 sees it."""
  rng = np.random.RandomState(0)
  filler = ["f%d" % i for i in range(30)]

  def doc(label, length, at_end):
    words = list(rng.choice(filler, length))
    position = length if at_end else rng.randint(length + 1)
    words.insert(position, "good" if label else "bad")
    return " ".join(words)

  task_dir.mkdir()
  (task_dir / "train.tsv").write_text("".join(
      "%d\t%s\n" % (i % 2, doc(i % 2, 14, False)) for i in range(300)))
  dev_labels = rng.randint(2, size=60)
  (task_dir / "dev.tsv").write_text("".join(
      "%d\t%s\n" % (l, doc(l, 40, True)) for l in dev_labels))
  vocab = bert_testing.SPECIAL_TOKENS + filler + ["good", "bad"]
  (task_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
  bert_testing.write_config(str(task_dir / "bert_config.json"), len(vocab))
  return dev_labels


def test_long_document_is_classified_from_its_last_window(tmp_path):
  """With --doc_stride every window trains and a document's windows decide
  together; truncated to its first window (no --doc_stride) the same model
  cannot see the deciding word and is at chance.

  Measured (10 epochs, seeds 1-3): windows with the max of logits 1.0, 1.0,
  1.0; with their mean 0.78, 0.85, 0.95 (the filler windows dilute the one
  that knows); truncated 0.58, 0.42, 0.45.
  """
  task_dir = tmp_path / "docs"
  labels = write_long_documents(task_dir)
  out = tmp_path / "out"
  common = ["--text_a_column=1", "--label_column=0", "--max_seq_length=16"]
  proc = run_ok(file_task_args(
      task_dir, out, *common, "--do_train", "--do_eval", "--do_predict",
      "--test_file=%s" % (task_dir / "dev.tsv"), "--doc_stride=7",
      "--window_aggregation=max", "--class_weights=balanced",
      "--train_batch_size=32", "--num_train_epochs=10",
      "--learning_rate=1e-3"))
  # 15 words: windows at 0 and 7; 41 words: at 0, 7, 14, 21, 28.
  assert "600 records: windows of --max_seq_length=16, --doc_stride=7" in \
      proc.stderr
  assert "Num records = 300" in proc.stderr
  # Balanced classes: weights 1, the loss unchanged.
  assert "Class weights (N/(labels*count)): 0=1, 1=1" in proc.stderr
  probs = np.loadtxt(out / "test_results.tsv")
  assert probs.shape == (60, 2)  # One row per document.
  accuracy = np.mean(probs.argmax(1) == labels)
  windowed = bert_testing.read_eval_results(
      out / "eval_results.txt")["eval_accuracy"]
  assert windowed == pytest.approx(accuracy, abs=1e-6)
  assert windowed >= 0.9, windowed
  run_ok(file_task_args(task_dir, out, *common, "--do_eval"))
  truncated = bert_testing.read_eval_results(
      out / "eval_results.txt")["eval_accuracy"]
  assert truncated <= 0.7, (windowed, truncated)


def write_tagged_sentences(task_dir, num_train, num_dev):
  """A multi-label CSV of our own: each sentence is 10 filler words and, for
  each of 3 labels independently with probability 0.4, that label's word
  ("goal" sport, "chip" tech, "bread" food), shuffled; the label column lists
  its labels ("sport,tech"), quoted by the csv module."""
  rng = np.random.RandomState(0)
  filler = ["w%d" % i for i in range(30)]
  words = {"sport": "goal", "tech": "chip", "food": "bread"}
  task_dir.mkdir()
  gold = []
  for name, n in (("train.csv", num_train), ("dev.csv", num_dev)):
    rows = []
    for _ in range(n):
      tags = [t for t in words if rng.rand() < 0.4]
      text = list(rng.choice(filler, 10)) + [words[t] for t in tags]
      rng.shuffle(text)
      rows.append((" ".join(text), ",".join(tags)))
    with open(task_dir / name, "w", newline="") as f:
      writer = csv.writer(f)
      writer.writerow(["sentence", "tags"])
      writer.writerows(rows)
    gold = [set(t.split(",")) - {""} for _, t in rows]
  vocab = bert_testing.SPECIAL_TOKENS + filler + list(words.values())
  (task_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
  bert_testing.write_config(str(task_dir / "bert_config.json"), len(vocab),
                            hidden_size=64)
  return gold


def set_f1(gold, predicted):
  tp = len(gold & predicted)
  denominator = len(gold) + len(predicted)
  return 2.0 * tp / denominator if tp else 0.0


def test_multi_label_metrics_agree_with_predicted_label_sets(tmp_path):
  """Sigmoid head on a CSV of our own; eval_results.txt against the label
  sets recomputed here from test_results.tsv at threshold 0.5.

  Measured (16 epochs, hidden 64, 100 dev sentences): micro-F1 0.95,
  macro-F1 0.94, subset accuracy 0.88 with seed 1, all 1.0 with seed 2;
  predicting every label scores micro-F1 0.57.
  """
  task_dir = tmp_path / "tags"
  gold = write_tagged_sentences(task_dir, 600, 100)
  out = tmp_path / "out"
  common = ["--text_a_column=sentence", "--label_column=tags",
            "--multi_label", "--max_seq_length=16"]
  export_dir = tmp_path / "export"
  run_ok(file_task_args(
      task_dir, out, *common, "--do_train", "--do_eval", "--do_predict",
      "--test_file=%s" % (task_dir / "dev.csv"), "--train_batch_size=32",
      "--num_train_epochs=16", "--learning_rate=1e-3",
      "--export_dir=%s" % export_dir))
  labels = (out / "label_list.txt").read_text().split()
  assert labels == ["food", "sport", "tech"]
  probs = np.loadtxt(out / "test_results.tsv")
  assert probs.shape == (100, 3)
  # The SavedModel serves the same per-label probabilities.
  served = bert_testing.serve(
      bert_testing.only_export(str(export_dir)),
      bert_testing.read_features(str(out / "predict.tf_record"), 16))
  np.testing.assert_allclose(served["probabilities"], probs, atol=1e-5)
  predicted = [{l for l, p in zip(labels, row) if p >= 0.5} for row in probs]
  result = bert_testing.read_eval_results(out / "eval_results.txt")
  tp = sum(len(g & p) for g, p in zip(gold, predicted))
  total = sum(len(g) + len(p) for g, p in zip(gold, predicted))
  assert result["eval_micro_f1"] == pytest.approx(2.0 * tp / total, abs=1e-5)
  per_label = [set_f1({i for i, g in enumerate(gold) if l in g},
                      {i for i, p in enumerate(predicted) if l in p})
               for l in labels]
  for label, f1 in zip(labels, per_label):
    assert result["eval_f1_" + label] == pytest.approx(f1, abs=1e-5)
  assert result["eval_macro_f1"] == pytest.approx(np.mean(per_label),
                                                  abs=1e-5)
  assert result["eval_subset_accuracy"] == pytest.approx(
      np.mean([g == p for g, p in zip(gold, predicted)]), abs=1e-6)
  # Predicting every label: tp = the gold labels, fp = the rest.
  num_gold = sum(len(g) for g in gold)
  every_label = 2.0 * num_gold / (num_gold + 3 * len(gold))
  assert result["eval_micro_f1"] > every_label + 0.15, (result, every_label)
  # Evaluation alone, the training file gone: the labels come back from
  # label_list.txt, in the same order, and so do the metrics.
  (task_dir / "train.csv").unlink()
  run_ok(file_task_args(task_dir, out, *common, "--do_eval"))
  assert bert_testing.read_eval_results(out / "eval_results.txt") == result


def test_file_task_bad_dev_row_stops_before_training(tmp_path):
  (tmp_path / "train.csv").write_text("text,label\na b,pos\nb a,neg\n")
  (tmp_path / "dev.csv").write_text("text,label\na,pos\nb,maybe\n")
  bert_testing.write_vocab(str(tmp_path / "vocab.txt"), ["a b"])
  bert_testing.write_config(str(tmp_path / "bert_config.json"), 10)
  out = tmp_path / "out"
  proc = bert_testing.run_script("run_classifier.py", file_task_args(
      tmp_path, out, "--do_train", "--do_eval"), timeout=120)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      "run_classifier.py: error: %s:3: label 'maybe' is not one of the "
      "training labels: neg, pos." % (tmp_path / "dev.csv"))
  assert not (out / "train.tf_record").exists()


@pytest.mark.parametrize("args,message", [
    (["--task_name=nope"], "Task not found: --task_name=nope. Known tasks: "),
    (["--task_name=MRPC", "--max_seq_length=512"],
     "Cannot use sequence length 512 because the BERT model was only trained "
     "up to sequence length 128"),
    (["--task_name=MRPC", "--data_dir=/nonexistent/dir"],
     "--data_dir=/nonexistent/dir is not a directory"),
    (["--task_name=MRPC", "--do_train=false"],
     "At least one of --do_train, --do_eval, --do_predict, --export_dir must "
     "be set."),
    pytest.param(
        ["--task_name=MRPC", "--precision=fp16"],
        "--precision=fp16 needs a GPU and this machine has none",
        marks=pytest.mark.skipif(
            has_gpu(), reason="this machine has a GPU, so fp16 is allowed")),
    (["--task_name=MRPC", "--distribution_strategy=multi_worker_mirrored"],
     "needs the TF_CONFIG environment variable"),
    (["--task_name=MRPC", "--num_accumulation_steps=3"],
     "--num_accumulation_steps=3 does not divide --train_batch_size=32"),
    (["--task_name=MRPC", "--use_tpu", "--distribution_strategy=mirrored"],
     "--use_tpu and --distribution_strategy=mirrored cannot be combined"),
    (["--task_name=MRPC", "--use_tpu", "--bucket_by_length"],
     "--bucket_by_length cannot be combined with --use_tpu"),
    (["--task_name=sts-b", "--multi_label"],
     "--multi_label cannot be used with sts-b, a regression task."),
    (["--task_name=MRPC", "--multi_label"],
     "--multi_label needs a task whose labels are sets: --task_name=file"),
    (["--task_name=MRPC", "--doc_stride=127"],
     "--doc_stride=127 must be between 1 and the window, --max_seq_length - "
     "2 = 126"),
])
def test_bad_flags_fail_before_work(tmp_path, args, message):
  bert_testing.write_vocab(str(tmp_path / "vocab.txt"), ["a b"])
  bert_testing.write_config(str(tmp_path / "bert_config.json"), 10)
  base = {
      "--data_dir": str(tmp_path), "--vocab_file": str(tmp_path / "vocab.txt"),
      "--bert_config_file": str(tmp_path / "bert_config.json"),
      "--output_dir": str(tmp_path / "out"), "--do_train": "true",
  }
  for arg in args:
    key, _, value = arg.partition("=")
    base[key] = value or None
  proc = bert_testing.run_script(
      "run_classifier.py", ["%s=%s" % kv if kv[1] is not None else kv[0]
                            for kv in base.items()], timeout=120)
  assert proc.returncode != 0
  assert message in proc.stderr
  assert not (tmp_path / "out" / "train.tf_record").exists()
