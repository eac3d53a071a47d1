"""Tests of run_classifier.py: processors, features, metrics, model, errors."""

import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import classifier_metrics
import classifier_tasks
import input_pipeline
import modeling
import run_classifier
import task_description
from conftest import SHARED_DATA


@pytest.fixture
def tokenizer(tmp_path):
  return bert_testing.tokenizer_for(tmp_path,
                                    ["the cat sat on the mat . a dog ran far"])


def write(path, text, encoding="utf-8"):
  with open(path, "w", encoding=encoding, newline="") as f:
    f.write(text)
  return str(path)


# --- reading files ----------------------------------------------------------


def test_mrpc_reads_bom_and_windows_line_endings(tmp_path):
  write(tmp_path / "train.tsv",
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"
        "1\t11\t12\tThe cat sat .\tA cat sat .\r\n"
        "0\t13\t14\tA dog ran \"far\t The dog .\r\n",
        encoding="utf-8-sig")
  examples = run_classifier.MrpcProcessor().get_train_examples(str(tmp_path))
  assert [(e.guid, e.text_a, e.text_b, e.label) for e in examples] == [
      ("train-0", "The cat sat .", "A cat sat .", "1"),
      # The stray quote is data (quotechar=None), not a field delimiter.
      ("train-1", "A dog ran \"far", " The dog .", "0"),
  ]


def test_mrpc_falls_back_to_original_msr_files(tmp_path):
  write(tmp_path / "msr_paraphrase_train.txt",
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\ta\tb\n",
        encoding="utf-8-sig")
  write(tmp_path / "msr_paraphrase_test.txt",
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t3\t4\tc\td\n")
  p = run_classifier.MrpcProcessor()
  assert p.get_train_examples(str(tmp_path))[0].label == "1"
  dev = p.get_dev_examples(str(tmp_path))
  assert (dev[0].text_a, dev[0].label) == ("c", "0")
  assert p.get_test_examples(str(tmp_path))[0].guid == "test-0"


def test_glue_test_tsv_uses_placeholder_label(tmp_path):
  write(tmp_path / "test.tsv",
        "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n7\t1\t2\tx y\tz\n")
  ex = run_classifier.MrpcProcessor().get_test_examples(str(tmp_path))[0]
  assert (ex.text_a, ex.text_b, ex.label) == ("x y", "z", "0")


@pytest.mark.parametrize("task,files,expected", [
    ("cola", {"train.tsv": "gj04\t1\t\tThe cat sat .\n"},
     ("train-0", "The cat sat .", None, "1")),
    ("sst-2", {"train.tsv": "sentence\tlabel\ngreat film\t1\n"},
     ("train-0", "great film", None, "1")),
    ("qqp", {"train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                          "5\t1\t2\tq one ?\tq two ?\t0\n"},
     ("train-5", "q one ?", "q two ?", "0")),
    ("qnli", {"train.tsv": "index\tquestion\tsentence\tlabel\n"
                           "3\twho ?\thim .\tentailment\n"},
     ("train-3", "who ?", "him .", "entailment")),
    ("rte", {"train.tsv": "index\tsentence1\tsentence2\tlabel\n"
                          "0\ta b\tc\tnot_entailment\n"},
     ("train-0", "a b", "c", "not_entailment")),
    ("wnli", {"train.tsv": "index\tsentence1\tsentence2\tlabel\n"
                           "0\ta\tb\t1\n"},
     ("train-0", "a", "b", "1")),
    ("mnli", {"train.tsv": "\t".join("c%d" % i for i in range(12)) + "\n" +
                           "\t".join(["9"] + ["x"] * 7 + ["prem", "hyp"] +
                                     ["y", "neutral"]) + "\n"},
     ("train-9", "prem", "hyp", "neutral")),
    ("sts-b", {"train.tsv": "\t".join("c%d" % i for i in range(10)) + "\n" +
                            "4\tg\tf\ty\to\ts1\ts2\tone\ttwo\t3.8\n"},
     ("train-4", "one", "two", 3.8)),
])
def test_glue_processors_read_glue_layout(tmp_path, task, files, expected):
  for name, text in files.items():
    write(tmp_path / name, text)
  processor = run_classifier.get_processor(task)
  ex = processor.get_train_examples(str(tmp_path))[0]
  assert (ex.guid, ex.text_a, ex.text_b, ex.label) == expected
  labels = processor.get_labels()
  if processor.is_regression:
    assert labels is None
  else:
    assert ex.label in labels


def test_xnli_reads_language_files(tmp_path):
  os.makedirs(tmp_path / "multinli")
  write(tmp_path / "multinli" / "multinli.train.zh.tsv",
        "premise\thypo\tlabel\n前提\t假设\tcontradictory\n")
  write(tmp_path / "xnli.dev.tsv",
        "\t".join("c%d" % i for i in range(8)) + "\n" +
        "en\tneutral\tx\tx\tx\tx\tA\tB\n" +
        "zh\tentailment\tx\tx\tx\tx\t甲\t乙\n")
  p = run_classifier.XnliProcessor()
  train = p.get_train_examples(str(tmp_path))
  assert [(e.text_a, e.label) for e in train] == [("前提", "contradiction")]
  dev = p.get_dev_examples(str(tmp_path))
  assert [(e.text_a, e.text_b, e.label) for e in dev] == [
      ("甲", "乙", "entailment")]


def test_wrong_column_count_names_file_and_line(tmp_path):
  write(tmp_path / "train.tsv",
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        "1\t1\t2\ta\tb\n"
        "1\t1\t2\tonly four columns\n")
  with pytest.raises(ValueError, match=r"train.tsv:3: expected at least 5 "
                     r"tab-separated columns, found 4"):
    run_classifier.MrpcProcessor().get_train_examples(str(tmp_path))


def test_empty_and_missing_files(tmp_path):
  write(tmp_path / "train.tsv", "")
  with pytest.raises(ValueError, match="train.tsv has no data rows"):
    run_classifier.MrpcProcessor().get_train_examples(str(tmp_path))
  with pytest.raises(ValueError, match="dev.tsv does not exist"):
    run_classifier.ColaProcessor().get_dev_examples(str(tmp_path))


def test_non_utf8_file_names_line(tmp_path):
  with open(tmp_path / "train.tsv", "wb") as f:
    f.write(b"gj04\t1\t\tfine\ngj04\t0\t\tcaf\xe9\n")
  with pytest.raises(ValueError, match=r"train.tsv:2: not valid UTF-8 "
                     r"\(byte 0xe9 at column 12\)\.$"):
    run_classifier.ColaProcessor().get_train_examples(str(tmp_path))


def test_bad_stsb_score_names_line(tmp_path):
  write(tmp_path / "train.tsv", "\t".join("c%d" % i for i in range(10)) +
        "\n1\tg\tf\ty\to\ts1\ts2\tone\ttwo\thigh\n")
  with pytest.raises(ValueError, match=r"train.tsv:2: score 'high'"):
    run_classifier.StsbProcessor().get_train_examples(str(tmp_path))


def test_unknown_task_lists_known_ones():
  with pytest.raises(ValueError, match=r"--task_name=nope\. Known tasks: "
                     r"xnli, mnli, mrpc, cola"):
    run_classifier.get_processor("nope")


def test_register_processor_through_module_file(tmp_path):
  module = tmp_path / "my_tasks.py"
  module.write_text(
      "import run_classifier\n"
      "class Senti(run_classifier.DataProcessor):\n"
      "  def get_labels(self):\n"
      "    return ['0', '1']\n"
      "run_classifier.register_processor('my-senti', Senti)\n")
  run_classifier.load_processor_modules(str(module))
  try:
    assert run_classifier.get_processor("MY-SENTI").get_labels() == ["0", "1"]
    # One registry and one base class, whichever module names them.
    senti = classifier_tasks.PROCESSORS["my-senti"]
    assert issubclass(senti, classifier_tasks.DataProcessor)
    assert classifier_tasks.get_processor("my-senti").get_labels() == [
        "0", "1"]
  finally:
    run_classifier.PROCESSORS.pop("my-senti")
  with pytest.raises(ValueError, match="nothere.py does not exist"):
    run_classifier.load_processor_modules(str(tmp_path / "nothere.py"))


def test_task_names_are_classifier_tasks_own_objects():
  for name in ("InputExample", "PaddingInputExample", "DataProcessor",
               "PROCESSORS", "register_processor", "get_processor",
               "load_processor_modules", "MrpcProcessor", "FileProcessor",
               "FileTaskOptions"):
    assert getattr(run_classifier, name) is getattr(classifier_tasks, name)
  assert run_classifier.PROCESSORS["mrpc"] is run_classifier.MrpcProcessor


def test_processor_module_registers_into_the_script_run_as_a_command(
    tmp_path):
  """Run as a command, run_classifier is `__main__`: a processor module's
  `import run_classifier` gets that module, not a second copy, and the
  processor it registers is the one --task_name finds."""
  module = tmp_path / "cmd_tasks.py"
  module.write_text(
      "import sys\n"
      "import run_classifier\n"
      "assert run_classifier is sys.modules['__main__']\n"
      "class Mine(run_classifier.DataProcessor):\n"
      "  @classmethod\n"
      "  def from_settings(cls, settings):\n"
      "    raise run_classifier.UserError('Mine of ' + settings.task_name)\n"
      "run_classifier.register_processor('mine', Mine)\n")
  proc = bert_testing.run_script("run_classifier.py", [
      "--processor_module=%s" % module, "--task_name=MINE",
      "--vocab_file=v.txt", "--bert_config_file=c.json",
      "--output_dir=%s" % (tmp_path / "out")], timeout=300)
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert "run_classifier.py: error: Mine of MINE" in proc.stderr


# --- features ---------------------------------------------------------------


def test_convert_single_example_pair_layout(tokenizer):
  ex = run_classifier.InputExample("g", "The cat sat", "a dog", "1")
  f = run_classifier.convert_single_example(0, ex, ["0", "1"], 10, tokenizer)
  tokens = tokenizer.convert_ids_to_tokens(f.input_ids[:8])
  assert tokens == ["[CLS]", "the", "cat", "sat", "[SEP]", "a", "dog", "[SEP]"]
  assert f.input_ids[8:] == [0, 0]
  assert f.input_mask == [1] * 8 + [0] * 2
  assert f.segment_ids == [0] * 5 + [1] * 3 + [0] * 2
  assert f.label_id == 1 and f.is_real_example


def test_in_memory_input_fn_buckets_by_length(tokenizer):
  texts = ["the cat", "the cat sat on the mat . a dog ran far " * 2, "a dog",
           "the mat"]
  features = [run_classifier.convert_single_example(
      i, run_classifier.InputExample(str(i), t, None, "0"), ["0"], 40,
      tokenizer) for i, t in enumerate(texts)]
  lengths = [sum(f.input_mask) for f in features]  # 4, 24, 4, 4
  input_fn = run_classifier.input_fn_builder(features, 40, False, False,
                                             bucket_by_length=True)
  got = list(input_fn({"batch_size": 2}))
  # The three short ones are of one bucket: a full batch of two, then the
  # leftovers (one short, the long one) packed together.
  assert [b[input_pipeline.EXAMPLE_INDEX].numpy().tolist() for b in got] == [[0, 2],
                                                                [3, 1]]
  assert [b["input_ids"].shape for b in got] == [(2, 4), (2, lengths[1])]
  np.testing.assert_array_equal(got[1]["input_ids"][1],
                                features[1].input_ids[:lengths[1]])


def test_truncation_trims_longer_side_first(tokenizer):
  ex = run_classifier.InputExample("g", "the cat sat on the mat", "a dog ran",
                                   "0")
  f = run_classifier.convert_single_example(0, ex, ["0", "1"], 9, tokenizer)
  tokens = tokenizer.convert_ids_to_tokens(f.input_ids)
  # 6 slots for text: the longer side loses tokens until the two are even.
  assert tokens == ["[CLS]", "the", "cat", "sat", "[SEP]", "a", "dog", "ran",
                    "[SEP]"]
  single = run_classifier.InputExample("g", "the cat sat on the mat", None, "0")
  f = run_classifier.convert_single_example(0, single, ["0", "1"], 5,
                                            tokenizer)
  assert tokenizer.convert_ids_to_tokens(f.input_ids) == [
      "[CLS]", "the", "cat", "sat", "[SEP]"]
  a, b = list("abcdefg"), list("xy")
  run_classifier._truncate_seq_pair(a, b, 5)
  assert (a, b) == (list("abc"), list("xy"))


def test_label_not_in_labels_is_an_error(tokenizer):
  ex = run_classifier.InputExample("train-7", "the cat", None, "2")
  with pytest.raises(ValueError, match=r"Example train-7 has label '2', which "
                     r"is not one of get_labels\(\) = \['0', '1'\]"):
    run_classifier.convert_single_example(0, ex, ["0", "1"], 8, tokenizer)


def test_padding_example_and_regression_labels(tokenizer):
  pad = run_classifier.convert_single_example(
      0, run_classifier.PaddingInputExample(), ["0", "1"], 6, tokenizer)
  assert pad.input_ids == [0] * 6 and not pad.is_real_example
  ex = run_classifier.InputExample("g", "the cat", None, 2.5)
  f = run_classifier.convert_single_example(0, ex, None, 6, tokenizer)
  assert f.label_id == 2.5


def test_tfrecord_round_trip_and_no_temp_file_left(tmp_path, tokenizer):
  examples = [run_classifier.InputExample("g%d" % i, "the cat", "a dog",
                                          str(i % 2)) for i in range(5)]
  examples.append(run_classifier.PaddingInputExample())
  path = str(tmp_path / "train.tf_record")
  run_classifier.file_based_convert_examples_to_features(
      examples, ["0", "1"], 12, tokenizer, path)
  assert sorted(os.listdir(tmp_path)) == ["train.tf_record", "vocab.txt"]
  expected = run_classifier.convert_examples_to_features(
      examples, ["0", "1"], 12, tokenizer)
  input_fn = run_classifier.file_based_input_fn_builder(path, 12, False, False)
  with tf.Graph().as_default():
    batch = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": 6})).get_next()
    with tf.Session() as sess:
      got = sess.run(batch)
  np.testing.assert_array_equal(got["input_ids"],
                                [f.input_ids for f in expected])
  np.testing.assert_array_equal(got["segment_ids"],
                                [f.segment_ids for f in expected])
  np.testing.assert_array_equal(got["label_ids"], [0, 1, 0, 1, 0, 0])
  np.testing.assert_array_equal(got["is_real_example"], [1] * 5 + [0])
  assert got["input_ids"].dtype == np.int32


# --- metrics ----------------------------------------------------------------


def test_compute_metrics_against_hand_counts():
  labels = [1, 1, 1, 0, 0, 0, 0, 1]
  preds = [1, 1, 0, 0, 0, 1, 0, 1]
  # tp=3 fp=1 fn=1 tn=3: accuracy 6/8, F1 = 6/8, MCC = (9-1)/sqrt(4*4*4*4).
  m = run_classifier.compute_metrics(("accuracy", "f1", "mcc"), labels, preds)
  assert m["accuracy"] == pytest.approx(0.75)
  assert m["f1"] == pytest.approx(0.75)
  assert m["mcc"] == pytest.approx(0.5)


def test_pearson_and_spearman_with_ties():
  labels = [1.0, 2.0, 2.0, 3.0, 5.0]
  preds = [1.5, 1.0, 2.5, 3.0, 4.0]
  m = run_classifier.compute_metrics(("pearson", "spearman"), labels, preds,
                                     is_regression=True)
  x = np.array(labels) - np.mean(labels)
  y = np.array(preds) - np.mean(preds)
  assert m["pearson"] == pytest.approx(
      (x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))
  # Ranks: labels 1, 2.5, 2.5, 4, 5; predictions 2, 1, 3, 4, 5.
  rx = np.array([1, 2.5, 2.5, 4, 5]) - 3
  ry = np.array([2, 1, 3, 4, 5]) - 3
  assert m["spearman"] == pytest.approx(
      (rx * ry).sum() / np.sqrt((rx * rx).sum() * (ry * ry).sum()))


def test_metric_ops_stream_over_batches_and_skip_padding():
  with tf.Graph().as_default():
    labels = tf.placeholder(tf.int32, [None])
    preds = tf.placeholder(tf.int32, [None])
    weights = tf.placeholder(tf.float32, [None])
    ops = run_classifier._task_metric_ops(("f1", "mcc"), labels, preds,
                                          weights, False)
    with tf.Session() as sess:
      sess.run(tf.local_variables_initializer())
      sess.run(ops["eval_f1"][1], {labels: [1, 1, 1, 0], preds: [1, 1, 0, 0],
                                   weights: [1, 1, 1, 1]})
      sess.run(ops["eval_f1"][1], {labels: [0, 0, 0, 1, 0],
                                   preds: [0, 1, 0, 1, 1],
                                   weights: [1, 1, 1, 1, 0]})
      f1, mcc = sess.run([ops["eval_f1"][0], ops["eval_mcc"][0]])
  assert f1 == pytest.approx(0.75)
  assert mcc == pytest.approx(0.5)


# --- model ------------------------------------------------------------------


def test_create_model_head_names_and_loss():
  config = modeling.BertConfig(**bert_testing.tiny_config_dict(40))
  with tf.Graph().as_default():
    ids = tf.constant([[2, 5, 6, 3], [2, 7, 3, 0]])
    mask = tf.constant([[1, 1, 1, 1], [1, 1, 1, 0]])
    labels = tf.constant([1, 2])
    loss, per_example, logits, probs = run_classifier.create_model(
        config, False, ids, mask, tf.zeros_like(ids), labels, 3, False)
    names = {v.op.name for v in tf.trainable_variables()}
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      loss_v, per_v, logits_v, probs_v = sess.run(
          [loss, per_example, logits, probs])
  assert {"output_weights", "output_bias"} <= names
  shifted = logits_v - logits_v.max(-1, keepdims=True)
  expected_probs = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
  np.testing.assert_allclose(probs_v, expected_probs, atol=1e-6)
  expected_per = -np.log(expected_probs[[0, 1], [1, 2]])
  np.testing.assert_allclose(per_v, expected_per, atol=1e-5)
  assert loss_v == pytest.approx(expected_per.mean(), abs=1e-5)


def test_mean_pooled_output_averages_the_real_tokens_only():
  rng = np.random.RandomState(0)
  sequence = rng.randn(2, 4, 3).astype(np.float32)
  mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0]])
  with tf.Graph().as_default(), tf.Session() as sess:
    pooled = sess.run(run_classifier.mean_pooled_output(
        tf.constant(sequence), tf.constant(mask)))
  np.testing.assert_allclose(pooled[0], sequence[0, :3].mean(0), atol=1e-6)
  np.testing.assert_allclose(pooled[1], sequence[1, 0], atol=1e-6)


def test_mean_pooled_model_predicts_with_its_own_pooling(tmp_path):
  """--pooling=mean is kept in task.json: a later prediction run, which
  gives no --pooling, predicts as the training run's own --do_predict."""
  texts = bert_testing.write_mrpc_slice(str(tmp_path / "data"), 32, 12)
  vocab = bert_testing.write_vocab(str(tmp_path / "data" / "vocab.txt"),
                                   texts)
  bert_testing.write_config(str(tmp_path / "data" / "bert_config.json"),
                            len(vocab))
  out = tmp_path / "model"
  args = bert_testing.mrpc_train_args(tmp_path / "data", out, 48)
  trained = bert_testing.run_script("run_classifier.py", args + [
      "--pooling=mean", "--do_predict", "--seed=4"])
  assert trained.returncode == 0, trained.stderr[-3000:]
  assert json.loads((out / "task.json").read_text())["pooling"] == "mean"
  first = (out / "test_results.tsv").read_text()
  (out / "test_results.tsv").unlink()
  again = bert_testing.run_script("run_classifier.py", [
      a for a in args if a != "--do_train"] + ["--do_predict"])
  assert again.returncode == 0, again.stderr[-3000:]
  assert "reads its encoder with --pooling=mean" in again.stderr
  assert (out / "test_results.tsv").read_text() == first


@pytest.fixture(scope="module")
def mrpc_trained(tmp_path_factory):
  """A tiny model trained (padded) on 96 real MRPC pairs, for inference."""
  tmp = tmp_path_factory.mktemp("bucketing")
  texts = bert_testing.write_mrpc_slice(str(tmp / "data"), 96, 45)
  vocab = bert_testing.write_vocab(str(tmp / "data" / "vocab.txt"), texts)
  bert_testing.write_config(str(tmp / "data" / "bert_config.json"),
                            len(vocab))
  proc = bert_testing.run_script("run_classifier.py", bert_testing.
                                 mrpc_train_args(tmp / "data", tmp / "train",
                                                 64, "--seed=2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return tmp


def infer(tmp, name, *extra):
  """--do_eval and --do_predict (batch 4) from the trained checkpoint."""
  out = tmp / name
  args = [a for a in bert_testing.mrpc_train_args(tmp / "data", out, 64)
          if a != "--do_train"]
  proc = bert_testing.run_script("run_classifier.py", args + [
      "--do_eval", "--do_predict", "--eval_batch_size=4",
      "--predict_batch_size=4",
      "--init_checkpoint=%s" % (tmp / "train" / "model.ckpt-12")] +
                                 list(extra))
  assert proc.returncode == 0, proc.stderr[-3000:]
  return out, proc.stderr


def test_bucket_by_length_gives_the_padded_results_in_order(mrpc_trained):
  padded, _ = infer(mrpc_trained, "padded")
  bucketed, log = infer(mrpc_trained, "bucketed", "--bucket_by_length",
                        "--verbosity=1")  # Features are listed at debug.
  # The model got batches of any length (runtime tests check the lengths).
  assert "name = input_ids, shape = (None, None)" in log
  rows = (padded / "test_results.tsv").read_text().splitlines()
  assert len(rows) == 45 and len(set(rows)) > 40  # Rows tell examples apart.
  # Same rows in the same order, to the last digit: padding columns change
  # nothing, and the predictions are put back in input order.
  assert (bucketed / "test_results.tsv").read_text() == (
      padded / "test_results.tsv").read_text()
  metrics = lambda out: dict(
      line.split(" = ") for line in
      (out / "eval_results.txt").read_text().splitlines())
  expected = metrics(padded)
  # `loss` is Estimator's mean of per-batch mean losses: batches of other
  # examples give another mean; eval_loss is the per-example mean.
  del expected["loss"]
  assert {k: v for k, v in metrics(bucketed).items() if k != "loss"} == (
      expected)
  # Every metric: the original's, MRPC's F1, per class and the confusion.
  assert {"eval_accuracy", "eval_f1", "eval_loss", "global_step",
          "eval_f1_1", "eval_confusion_1_predicted_0"} <= set(expected)


# --- the file task (--task_name=file) ---------------------------------------


def file_processor(**options):
  return run_classifier.FileProcessor(
      run_classifier.FileTaskOptions(**options))


def fields(examples):
  return [(e.guid, e.text_a, e.text_b, e.label) for e in examples]


def test_file_task_reads_rfc4180_csv(tmp_path):
  write(tmp_path / "train.csv",
        'id,text,label\r\n'
        '7,"hello, world",pos\r\n'
        '8,"she said ""no""\nand left",neg\r\n'
        '9,plain,pos\r\n')
  p = file_processor(data_dir=str(tmp_path), id_column="id")
  assert fields(p.get_train_examples(str(tmp_path))) == [
      ("train-7", "hello, world", None, "pos"),
      ("train-8", 'she said "no"\nand left', None, "neg"),
      ("train-9", "plain", None, "pos"),
  ]
  assert p.get_labels() == ["neg", "pos"]


def test_file_task_unterminated_quote_names_its_line(tmp_path):
  write(tmp_path / "train.csv",
        'text,label\n"a\nb",x\n"open quote,y\nlast,x\n')
  with pytest.raises(ValueError, match=r"train.csv:4: malformed row .*quote"):
    file_processor(data_dir=str(tmp_path)).get_train_examples(str(tmp_path))


def test_file_task_detects_header_from_the_label_column(tmp_path):
  write(tmp_path / "train.tsv", "1\tgood film\n0\tbad film\n1\tfine\n")
  write(tmp_path / "dev.tsv", "label\ttext\n0\tdull\n")
  p = file_processor(data_dir=str(tmp_path), text_a_column="1",
                     label_column="0")
  assert fields(p.get_train_examples(None)) == [
      ("train-0", "good film", None, "1"), ("train-1", "bad film", None, "0"),
      ("train-2", "fine", None, "1")]
  # "label" occurs in no other row of dev.tsv's label column: a header.
  assert fields(p.get_dev_examples(None)) == [("dev-0", "dull", None, "0")]
  forced = file_processor(data_dir=str(tmp_path), text_a_column="1",
                          label_column="0", has_header=True)
  assert [e.text_a for e in forced.get_train_examples(None)] == ["bad film",
                                                                 "fine"]


def test_file_task_reads_json_lines_and_label_lists(tmp_path):
  write(tmp_path / "train.jsonl",
        '{"q": "is it ?", "a": "yes", "tags": ["x", "y"], "n": 3}\n\n'
        '{"q": "or not", "a": "no", "tags": [], "n": 4}\n')
  p = file_processor(data_dir=str(tmp_path), text_a_column="q",
                     text_b_column="a", label_column="tags", id_column="n",
                     multi_label=True)
  assert fields(p.get_train_examples(None)) == [
      ("train-3", "is it ?", "yes", ["x", "y"]),
      ("train-4", "or not", "no", [])]
  bad = file_processor(data_dir=str(tmp_path), text_a_column="0")
  with pytest.raises(ValueError, match=r"jsonl columns are keys, not indexes: "
                     r"--text_a_column=0 \(keys of line 1: a, n, q, tags\)"):
    bad.get_train_examples(None)


def test_file_task_reads_mrpc_as_the_mrpc_processor(tmp_path):
  data_dir = str(tmp_path / "mrpc")
  bert_testing.write_mrpc_slice(data_dir, 30, 10)
  mrpc = run_classifier.MrpcProcessor()
  p = file_processor(
      train_file=os.path.join(data_dir, "msr_paraphrase_train.txt"),
      dev_file=os.path.join(data_dir, "msr_paraphrase_test.txt"),
      input_format="tsv", text_a_column="#1 String",
      text_b_column="#2 String", label_column="Quality")
  for split in ("train", "dev"):
    got = getattr(p, "get_%s_examples" % split)(None)
    expected = getattr(mrpc, "get_%s_examples" % split)(data_dir)
    assert len(got) == len(expected) > 0
    assert fields(got) == fields(expected)


@pytest.mark.parametrize("task,text,label", [("SUBJ", 1, 0), ("CoLA", 0, 1)])
def test_file_task_reads_senteval_as_the_example_processor(task, text, label):
  run_classifier.load_processor_modules(
      os.path.join(bert_testing.ROOT, "examples", "senteval_tasks.py"))
  data_dir = os.path.join(SHARED_DATA, "senteval", task)
  p = file_processor(data_dir=data_dir, text_a_column=str(text),
                     label_column=str(label),
                     test_file=os.path.join(data_dir, "dev.tsv"))
  expected = run_classifier.get_processor("senteval")
  assert fields(p.get_dev_examples(None)) == fields(
      expected.get_dev_examples(data_dir))
  assert fields(p.get_test_examples(None)) == fields(
      expected.get_test_examples(data_dir))
  assert p.get_labels() == ["0", "1"]


def test_file_task_label_list_is_written_and_read_back(tmp_path):
  write(tmp_path / "train.csv", "text,label\na,b\nc,a\nd,c\ne,a\n")
  out = tmp_path / "out"
  out.mkdir()
  p = file_processor(data_dir=str(tmp_path), output_dir=str(out))
  assert p.get_labels() == ["a", "b", "c"]
  # Written once the output directory is ready (main calls this after
  # preparing it), not while the flags are still being checked.
  assert not (out / "label_list.txt").exists()
  p.save_label_list()
  assert (out / "label_list.txt").read_text() == "a\nb\nc\n"
  # A later run keeps the saved order, whatever the files say now.
  (out / "label_list.txt").write_text("c\na\nb\n")
  write(tmp_path / "train.csv", "text,label\nz,a\n")
  assert file_processor(data_dir=str(tmp_path),
                        output_dir=str(out)).get_labels() == ["c", "a", "b"]
  with pytest.raises(ValueError, match=r"--labels=a,b,c differs from .*"
                     r"label_list.txt \(c,a,b\)"):
    file_processor(data_dir=str(tmp_path), output_dir=str(out),
                   labels=["a", "b", "c"]).get_labels()
  # --overwrite_output_dir: the run being replaced does not decide.
  assert file_processor(data_dir=str(tmp_path), output_dir=str(out),
                        fresh_output_dir=True).get_labels() == ["a"]


@pytest.mark.parametrize("files,options,message", [
    ({"train.csv": "id,txt,label\n1,a,x\n"}, {},
     r"train.csv:1: no column named 'text' \(--text_a_column\); the file has "
     r"columns: 0='id', 1='txt', 2='label'\."),
    ({"train.tsv": "x\ta\ny\tb\n"}, {"text_a_column": "3", "label_column": "0"},
     r"train.tsv:1: no column 3 \(--text_a_column\); the file has 2 columns "
     r"\(0-1\), no header\."),
    ({"train.csv": "text,label\na,x\nb\nc,y\n"}, {},
     r"train.csv:3: 1 field\(s\), expected at least 2"),
    ({"train.csv": "text,label\na,x\nb, c,y\n"}, {},
     r"train.csv:3: 3 fields, but the header has 2; quote a text that holds "
     r"the delimiter \(the file has columns: 0='text', 1='label'\)\."),
    ({"train.csv": "text,label\na,x\n  ,y\n"}, {},
     r"train.csv:3: empty text in the text_a column 'text' \(--skip_bad_rows"),
    ({"train.csv": "text,label\na,x\nb,y\n", "dev.csv": "text,label\nc,z\n"},
     {}, r"dev.csv:2: label 'z' is not one of the training labels: x, y\."),
    ({"train.csv": "text,label\na,x\n", "dev.csv": "text,label\nc,y\n"},
     {"labels": ["x"]}, r"dev.csv:2: label 'y' is not one of the --labels "
     r"labels: x\."),
    ({"train.csv": "text,label\na,x\nb,y\n"}, {"labels": ["x"]},
     r"train.csv:3: label 'y' is not one of the --labels labels: x\."),
    ({"train.csv": "text,label\na,x\n"}, {"has_header": False},
     r"--has_header=false, but --label_column names a column"),
    ({"train.csv": "text,label\na,\n"}, {},
     r"train.csv:2: empty label in the label column 'label'"),
])
def test_file_task_bad_input_names_file_and_line(tmp_path, files, options,
                                                 message):
  for name, text in files.items():
    write(tmp_path / name, text)
  p = file_processor(data_dir=str(tmp_path), **options)
  with pytest.raises(ValueError, match=message):
    p.get_labels()
    p.get_train_examples(None)
    p.get_dev_examples(None)


def test_file_task_skip_bad_rows_counts_them(tmp_path, caplog):
  write(tmp_path / "train.csv", "text,label\na,x\n,y\nb,x\n \t,x\n")
  p = file_processor(data_dir=str(tmp_path), skip_bad_rows=True)
  assert [e.text_a for e in p.get_train_examples(None)] == ["a", "b"]
  assert p.get_labels() == ["x"]
  assert "skipped 2 rows with an empty text" in caplog.text


def test_file_task_multi_label_column_and_features(tmp_path, tokenizer):
  write(tmp_path / "train.tsv", "text\ttags\nthe cat\tb; a\nthe dog\t\n"
        "a mat\tc\n")
  p = file_processor(data_dir=str(tmp_path), label_column="tags",
                     multi_label=True, label_separator=";")
  examples = p.get_train_examples(None)
  assert [e.label for e in examples] == [["b", "a"], [], ["c"]]
  labels = p.get_labels()
  assert labels == ["a", "b", "c"]
  features = run_classifier.convert_examples_to_features(
      examples + [run_classifier.PaddingInputExample()], labels, 8, tokenizer,
      multi_label=True)
  assert [f.label_id for f in features] == [[1, 1, 0], [0, 0, 0], [0, 0, 1],
                                            [0, 0, 0]]
  path = str(tmp_path / "ml.tf_record")
  run_classifier.file_based_convert_examples_to_features(
      examples, labels, 8, tokenizer, path, multi_label=True)
  got = bert_testing.read_features(path, 3, names=("label_ids",))
  np.testing.assert_array_equal(got["label_ids"], [[1, 1, 0], [0, 0, 0],
                                                   [0, 0, 1]])


# --- multi-label, class weights, long documents -----------------------------


def head_outputs(logits, labels, **kwargs):
  """The head's outputs over a pooled output that is `logits` itself (the
  layer's weights set to the identity, bias 0)."""
  logits = np.asarray(logits, np.float32)
  with tf.Graph().as_default():
    outputs = run_classifier.create_classification_head(
        tf.constant(logits), tf.constant(labels), logits.shape[1], False, 0.0,
        **kwargs)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      weights = [v for v in tf.global_variables()
                 if v.op.name == "output_weights"][0]
      sess.run(weights.assign(np.eye(logits.shape[1], dtype=np.float32)))
      return sess.run(outputs)


def test_multi_label_head_is_sigmoid_and_binary_cross_entropy():
  logits = [[2.0, -1.0, 0.5], [-0.5, 0.3, 3.0]]
  labels = [[1, 0, 1], [0, 0, 1]]
  loss, per_example, _, probs = head_outputs(logits, labels, multi_label=True)
  x, y = np.array(logits), np.array(labels, np.float64)
  p = 1 / (1 + np.exp(-x))
  bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
  np.testing.assert_allclose(probs, p, atol=1e-6)
  np.testing.assert_allclose(per_example, bce.mean(1), atol=1e-5)
  assert loss == pytest.approx(bce.mean(), abs=1e-5)
  pos = [3.0, 1.0, 0.5]
  weighted_loss, weighted_per, _, _ = head_outputs(
      logits, labels, multi_label=True, class_weights=pos)
  expected = -(np.array(pos) * y * np.log(p) + (1 - y) * np.log(1 - p))
  assert weighted_loss == pytest.approx(expected.mean(), abs=1e-5)
  # eval_loss stays the unweighted one.
  np.testing.assert_allclose(weighted_per, bce.mean(1), atol=1e-5)


def test_class_weights_scale_each_examples_cross_entropy():
  logits = [[1.0, 0.0], [0.2, 0.9], [0.0, 0.0]]
  labels = [0, 1, 1]
  x = np.array(logits)
  nll = -np.log(np.exp(x[[0, 1, 2], labels]) / np.exp(x).sum(1))
  plain, _, _, _ = head_outputs(logits, labels)
  assert plain == pytest.approx(nll.mean(), abs=1e-5)
  weighted, per_example, _, _ = head_outputs(logits, labels,
                                             class_weights=[0.75, 1.5])
  assert weighted == pytest.approx(
      (nll * np.array([0.75, 1.5, 1.5])).mean(), abs=1e-5)
  np.testing.assert_allclose(per_example, nll, atol=1e-5)


def test_balanced_class_weights_are_inverse_frequencies():
  ex = lambda label: run_classifier.InputExample("g", "t", None, label)
  examples = [ex("a")] * 6 + [ex("b")] * 2
  # 8 examples, 2 labels: 8/(2*6) and 8/(2*2).
  assert run_classifier.class_weights_from_flag(
      "balanced", examples, ["a", "b"]) == pytest.approx([2 / 3, 2.0])
  sets = [ex(["a"]), ex(["a", "b"]), ex([]), ex(["a"])]
  # Positives a=3, b=1 of 4: negatives/positives 1/3 and 3.
  assert run_classifier.class_weights_from_flag(
      "balanced", sets, ["a", "b"], multi_label=True) == pytest.approx(
          [1 / 3, 3.0])
  assert run_classifier.class_weights_from_flag(
      "1,2.5", examples, ["a", "b"]) == [1.0, 2.5]
  with pytest.raises(ValueError, match=r"expected 2 positive numbers, one per "
                     r"label in the order a,b"):
    run_classifier.class_weights_from_flag("1,2,3", examples, ["a", "b"])
  with pytest.raises(ValueError, match=r"label 'c' is on 0 of the 8"):
    run_classifier.class_weights_from_flag("balanced", examples,
                                           ["a", "b", "c"])
  assert run_classifier.class_weights_from_flag(None, examples, ["a"]) is None


def test_multi_label_metrics_against_hand_counts():
  labels = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]]
  preds = [[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]]
  m = run_classifier.multi_label_metrics(labels, preds, ["x", "y", "z z"])
  # x: tp 2 -> F1 1; y: tp 1, fn 1 -> 2/3; z: fp 1, fn 1 -> 0.
  assert m["f1_x"] == pytest.approx(1.0)
  assert m["f1_y"] == pytest.approx(2 / 3)
  assert m["f1_z_z"] == 0.0
  assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
  # Pooled: tp 3, fp 1, fn 2 -> 6 / 9.
  assert m["micro_f1"] == pytest.approx(6 / 9)
  assert m["subset_accuracy"] == pytest.approx(2 / 4)
  assert list(m) == run_classifier.multi_label_metric_names(["x", "y", "z z"])
  assert run_classifier.predicted_label_set([0.7, 0.2, 0.5], ["x", "y", "z"],
                                            0.5) == ["x", "z"]


MULTI_LABEL_WORDS = {"sport": "goal", "tech": "chip", "food": "bread"}
# How often each label is on a sentence: a briefly trained model's
# probabilities sit near these, on both sides of 0.5 and of 0.8.
MULTI_LABEL_RATES = {"food": 0.9, "sport": 0.65, "tech": 0.2}


def write_multi_label_task(task_dir, num_train=48, num_test=16,
                           extra_tokens=()):
  """A multi-label CSV task of our own in `task_dir` (a pathlib.Path):
  sentences of 6 filler words and each label's word ("goal" sport, ...)
  with its MULTI_LABEL_RATES probability; train.csv, test.csv, vocab.txt (plus
  `extra_tokens`) and a tiny bert_config.json. Returns the test sentences."""
  rng = np.random.RandomState(0)
  filler = ["w%d" % i for i in range(20)]
  task_dir.mkdir()
  test_texts = []
  for name, n in (("train.csv", num_train), ("test.csv", num_test)):
    lines = ["sentence,tags"]
    for _ in range(n):
      tags = [t for t in sorted(MULTI_LABEL_WORDS)
              if rng.rand() < MULTI_LABEL_RATES[t]]
      text = list(rng.choice(filler, 6)) + [MULTI_LABEL_WORDS[t] for t in tags]
      rng.shuffle(text)
      lines.append('%s,"%s"' % (" ".join(text), ",".join(tags)))
      if name == "test.csv":
        test_texts.append(" ".join(text))
    (task_dir / name).write_text("\n".join(lines) + "\n")
  vocab = (bert_testing.SPECIAL_TOKENS + filler +
           sorted(MULTI_LABEL_WORDS.values()) + list(extra_tokens))
  (task_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
  bert_testing.write_config(str(task_dir / "bert_config.json"), len(vocab))
  return test_texts


def multi_label_run_args(task_dir, out, *extra):
  """run_classifier.py flags that train the `write_multi_label_task` model
  briefly (probabilities near the labels' rates) and predict test.csv."""
  return [
      "--task_name=file", "--data_dir=%s" % task_dir,
      "--text_a_column=sentence", "--label_column=tags", "--multi_label",
      "--vocab_file=%s" % (task_dir / "vocab.txt"),
      "--bert_config_file=%s" % (task_dir / "bert_config.json"),
      "--output_dir=%s" % out, "--max_seq_length=16", "--seed=1",
      "--do_train", "--do_predict", "--train_batch_size=8",
      "--num_train_epochs=4", "--learning_rate=1e-3",
      "--save_checkpoints_steps=1000"] + list(extra)


def test_multi_label_threshold_decides_test_predictions_and_the_export(
    tmp_path):
  """--multi_label_threshold=0.8 is the threshold of test_predictions.tsv,
  of task.json and of the export's predictor, not only of evaluation
  (issue 23, bug 1: both used 0.5)."""
  import predictor  # pylint: disable=g-import-not-at-top
  task_dir = tmp_path / "task"
  texts = write_multi_label_task(task_dir)
  out, export_dir = tmp_path / "out", tmp_path / "export"
  proc = bert_testing.run_script("run_classifier.py", multi_label_run_args(
      task_dir, out, "--multi_label_threshold=0.8",
      "--export_dir=%s" % export_dir))
  assert proc.returncode == 0, proc.stderr[-4000:]
  with open(str(out / "test_predictions.tsv")) as f:
    header, *rows = [line.rstrip("\n").split("\t") for line in f]
  labels = [h[len("prob_"):] for h in header[2:]]
  assert labels == ["food", "sport", "tech"]
  probabilities = np.array([[float(x) for x in row[2:]] for row in rows])
  predicted = [set(row[1].split(",")) - {""} for row in rows]
  at_threshold = [{l for l, p in zip(labels, ps) if p >= 0.8}
                  for ps in probabilities]
  assert predicted == at_threshold
  # The check tells the thresholds apart: some labels lie in [0.5, 0.8),
  # some above.
  assert ((probabilities >= 0.5) & (probabilities < 0.8)).any(), probabilities
  assert (probabilities >= 0.8).any(), probabilities
  description = task_description.read(str(out))
  assert description.kind == "multi_label"
  assert description.multi_label_threshold == 0.8
  p = predictor.Predictor(bert_testing.only_export(str(export_dir)))
  try:
    assert p.metadata["multi_label_threshold"] == 0.8
    served = p.predict(texts)
  finally:
    p.close()
  served_probabilities = np.array([[r["probabilities"][l] for l in labels]
                                   for r in served])
  np.testing.assert_allclose(served_probabilities, probabilities, atol=1e-5)
  assert [set(r["labels"]) for r in served] == [
      {l for l, q in zip(labels, ps) if q >= 0.8}
      for ps in served_probabilities]
  # Predicting again on the trained model, the flag left out: the model's
  # own threshold is in force, not the flag's default 0.5.
  args = multi_label_run_args(task_dir, out)
  args.remove("--do_train")
  (out / "test_predictions.tsv").unlink()
  proc = bert_testing.run_script("run_classifier.py", args)
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert ("was trained with multi_label_threshold=0.8; this run keeps those"
          in proc.stderr)
  with open(str(out / "test_predictions.tsv")) as f:
    again = [set(line.rstrip("\n").split("\t")[1].split(",")) - {""}
             for line in f][1:]
  assert again == at_threshold


def test_windows_cover_a_long_text_with_overlap(tokenizer):
  text = "the cat sat on the mat . a dog ran far"  # 11 tokens
  ex = run_classifier.InputExample("doc", text, None, "1")
  features = run_classifier.convert_example_to_windows(
      4, ex, ["0", "1"], 6, tokenizer, doc_stride=3)
  windows = [tokenizer.convert_ids_to_tokens(f.input_ids[1:1 + sum(
      f.input_mask) - 2]) for f in features]
  words = tokenizer.tokenize(text)
  # Windows of 4 tokens, 3 apart, until one reaches the end.
  assert windows == [words[0:4], words[3:7], words[6:10], words[9:11]]
  assert run_classifier.window_starts(11, 4, 3) == [0, 3, 6, 9]
  assert {f.example_index for f in features} == {4}
  assert {f.label_id for f in features} == {1}
  pair = run_classifier.InputExample("pair", text, "a dog", "0")
  first = run_classifier.convert_example_to_windows(
      0, pair, ["0", "1"], 9, tokenizer, doc_stride=2)[0]
  assert tokenizer.convert_ids_to_tokens(first.input_ids) == [
      "[CLS]", "the", "cat", "sat", "on", "[SEP]", "a", "dog", "[SEP]"]
  with pytest.raises(ValueError, match=r"Example pair: --doc_stride=5 is "
                     r"larger than its window of 4 tokens"):
    run_classifier.convert_example_to_windows(0, pair, ["0", "1"], 9,
                                              tokenizer, doc_stride=5)


def test_window_aggregation_and_document_predictions():
  logits = np.array([[0.0, 1.0], [2.0, -1.0], [1.0, 1.0], [5.0, 5.0]])
  docs, mean = run_classifier.aggregate_windows(logits, [3, 3, 8, -1], "mean")
  assert docs.tolist() == [3, 8]
  np.testing.assert_allclose(mean, [[1.0, 0.0], [1.0, 1.0]])
  _, most = run_classifier.aggregate_windows(logits, [3, 3, 8, -1], "max")
  np.testing.assert_allclose(most, [[2.0, 1.0], [1.0, 1.0]])
  predictions = [{"logits": l, "example_index": i}
                 for l, i in zip(logits, [0, 0, 1, -1])]
  rows = list(run_classifier.aggregate_window_predictions(predictions, "max"))
  assert len(rows) == 2
  e = np.exp([2.0, 1.0])
  np.testing.assert_allclose(rows[0]["probabilities"], e / e.sum())
  np.testing.assert_allclose(rows[1]["probabilities"], [0.5, 0.5])


def test_classifier_head_from_a_task_description():
  """One head for the records, the model and the metrics, from the run's
  task description and the task's metric names."""
  multi = run_classifier.ClassifierHead.from_description(
      task_description.TaskDescription(
          kind="multi_label", labels=("a", "b", "c"),
          multi_label_threshold=0.7, doc_stride=4, window_aggregation="max"),
      ("f1",))
  assert (multi.num_labels, multi.multi_label, multi.regression) == (
      3, True, False)
  assert multi.input_options() == dict(is_regression=False,
                                       num_multi_labels=3, windowed=True)
  assert multi.model_options() == dict(
      is_regression=False, metric_names=("f1",), multi_label=True,
      window_aggregation="max", multi_label_threshold=0.7,
      label_list=["a", "b", "c"], pooling="cls")
  assert multi.computed_metric_names()[:3] == ["micro_f1", "macro_f1",
                                               "subset_accuracy"]
  scores = run_classifier.ClassifierHead.from_description(
      task_description.TaskDescription(kind="regression"),
      ("pearson", "spearman"))
  assert (scores.num_labels, scores.regression, scores.windowed) == (
      1, True, False)
  assert scores.input_options() == dict(is_regression=True,
                                        num_multi_labels=None, windowed=False)
  assert scores.computed_metric_names() == ["pearson", "spearman"]
  mean = run_classifier.ClassifierHead.from_description(
      task_description.TaskDescription(kind="classification", labels=("0", "1"),
                                       pooling="mean"), ("accuracy",))
  assert mean.model_options()["pooling"] == "mean"
  # The original's head: one label id per record.
  assert run_classifier.ClassifierHead().input_options() == dict(
      is_regression=False, num_multi_labels=None, windowed=False)
  assert run_classifier.ClassifierHead is classifier_metrics.ClassifierHead


def test_document_metrics_of_windows_ignore_padding():
  head = run_classifier.ClassifierHead(2, label_list=["0", "1"],
                                       metric_names=("f1",),
                                       window_aggregation="max")
  # Document 0 (label 1): only its last window says 1. Document 1 (label 0).
  arrays = {
      "logits": np.array([[1, 0], [1, 0], [0, 3], [2, 0], [0, 9]], np.float32),
      "labels": np.array([1, 1, 1, 0, 1], np.float32),
      "weights": np.array([1, 1, 1, 1, 0], np.float32),
      "example_index": np.array([0, 0, 0, 1, -1]),
  }
  result = head.compute({k: v.reshape(-1) for k, v in arrays.items()})
  assert head.computed_metric_names() == ["accuracy", "f1"]
  assert result["accuracy"] == 1.0 and result["f1"] == 1.0
  mean_head = run_classifier.ClassifierHead(2, label_list=["0", "1"],
                                            doc_stride=3)
  assert mean_head.window_aggregation == "mean"
  # Mean of document 0: (1/3, 1) -> still 1.
  assert mean_head.compute(
      {k: v.reshape(-1) for k, v in arrays.items()})["accuracy"] == 1.0


def test_windows_padded_to_whole_batches_read_back(tmp_path, tokenizer):
  examples = [run_classifier.InputExample("a", "the cat sat on the mat", None,
                                          "1"),
              run_classifier.InputExample("b", "a dog", None, "0")]
  path = str(tmp_path / "eval.tf_record")
  # 6 text tokens in windows of 3, 2 apart: 3 windows; "a dog": 1; padded
  # with 2 records to 6, two batches of 3 (TPUs need whole batches).
  num_records = run_classifier.file_based_convert_examples_to_features(
      examples, ["0", "1"], 5, tokenizer, path, doc_stride=2,
      pad_to_multiple=3)
  assert num_records == 6
  input_fn = run_classifier.file_based_input_fn_builder(path, 5, False, False,
                                                        windowed=True)
  with tf.Graph().as_default():
    batch = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": 8})).get_next()
    with tf.Session() as sess:
      got = sess.run(batch)
  np.testing.assert_array_equal(got["example_index"], [0, 0, 0, 1, -1, -1])
  np.testing.assert_array_equal(got["is_real_example"], [1] * 4 + [0] * 2)
  np.testing.assert_array_equal(got["label_ids"], [1, 1, 1, 0, 0, 0])
