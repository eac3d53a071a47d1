"""--export_dir: SavedModels from run_classifier.py and run_squad.py.

Tiny models are fine-tuned for a few steps in subprocesses, as a user runs
the scripts, with `--export_dir`. The SavedModels are then loaded with
`tf.saved_model.load` in TF2 eager mode and called through `serving_default`
on the very features the scripts predicted on: the classifier's
probabilities must equal `test_results.tsv` (written from
`Estimator.predict`), and SQuAD's start/end logits must equal a forward pass
of `run_squad.create_model` restored from the last checkpoint.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import bert_testing
from command_line import UserError
import modeling
import onnx_export
import runtime
import run_squad

SEQ_LENGTH = 32
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
  tmp = str(tmp_path_factory.mktemp("export_classifier"))
  out, export_dir, proc = bert_testing.train_mrpc_and_export(
      tmp, 64, 20, SEQ_LENGTH)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return out, export_dir, proc.stderr


def test_classifier_saved_model_equals_estimator_predict(classifier_run):
  out, export_dir, log = classifier_run
  saved_model = bert_testing.only_export(export_dir)
  assert "Exported a SavedModel to %s" % saved_model in log
  features = bert_testing.read_features(
      os.path.join(out, "predict.tf_record"), SEQ_LENGTH)
  probabilities = bert_testing.serve(saved_model, features)["probabilities"]
  expected = np.loadtxt(os.path.join(out, "test_results.tsv"), ndmin=2)
  assert probabilities.shape == expected.shape == (20, 2)
  diff = np.abs(probabilities - expected).max()
  print("classifier: max |SavedModel - Estimator.predict| = %.3g" % diff)
  assert diff < TOLERANCE
  # Rows differ far more than the tolerance: a mixed-up input would show.
  assert np.ptp(probabilities[:, 0]) > 100 * TOLERANCE


PARAGRAPHS = [
    ("The lighthouse on Gull Point was built in 1874 by the harbour board. "
     "Its lamp burned whale oil until 1911, and it was automated in 1962.",
     [("When was the lighthouse built?", "1874"),
      ("What did the lamp burn?", "whale oil"),
      ("When was it automated?", "1962")]),
    ("Marie Dubois opened her bakery in Lyon in 1998. She is known for a "
     "brioche made with orange blossom water, which she learned from her "
     "grandmother in Provence, and her shop opens at seven.",
     [("Where is the bakery?", "Lyon"),
      ("What flavours the brioche?", "orange blossom water"),
      ("When does the shop open?", "seven")]),
]


def write_squad(path):
  data = []
  for p, (context, questions) in enumerate(PARAGRAPHS):
    qas = [{"id": "p%d-q%d" % (p, q), "question": question,
            "answers": [{"text": answer,
                         "answer_start": context.index(answer)}]}
           for q, (question, answer) in enumerate(questions)]
    data.append({"title": "t%d" % p,
                 "paragraphs": [{"context": context, "qas": qas}]})
  with open(path, "w", encoding="utf-8") as f:
    json.dump({"version": "1.1", "data": data}, f)


def train_squad_and_export(tmp, num_train_epochs, *extra):
  """run_squad.py trained (batch 4, seed 3) and predicting on `write_squad`'s
  file, exporting to `<tmp>/export`, with `extra` flags: (output_dir,
  export_dir, bert_config.json's path)."""
  squad_file = os.path.join(tmp, "squad.json")
  write_squad(squad_file)
  texts = [c for c, _ in PARAGRAPHS] + [q for _, qs in PARAGRAPHS
                                        for q, _ in qs]
  vocab = bert_testing.write_vocab(os.path.join(tmp, "vocab.txt"), texts)
  config_file = bert_testing.write_config(
      os.path.join(tmp, "bert_config.json"), len(vocab))
  out = os.path.join(tmp, "out")
  export_dir = os.path.join(tmp, "export")
  proc = bert_testing.run_script("run_squad.py", [
      "--do_train", "--do_predict", "--train_file=%s" % squad_file,
      "--predict_file=%s" % squad_file,
      "--vocab_file=%s" % os.path.join(tmp, "vocab.txt"),
      "--bert_config_file=%s" % config_file,
      "--output_dir=%s" % out, "--export_dir=%s" % export_dir,
      "--max_seq_length=%d" % SEQ_LENGTH, "--doc_stride=8",
      "--max_query_length=8", "--train_batch_size=4",
      "--learning_rate=1e-3", "--num_train_epochs=%d" % num_train_epochs,
      "--seed=3",
  ] + list(extra), timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return out, export_dir, config_file


@pytest.fixture(scope="module")
def squad_run(tmp_path_factory):
  return train_squad_and_export(
      str(tmp_path_factory.mktemp("export_squad")), 2)


def checkpoint_logits(config_file, checkpoint, features):
  """run_squad.create_model's start/end logits, restored from `checkpoint`."""
  v1 = tf.compat.v1
  with tf.Graph().as_default():
    inputs = {n: v1.placeholder(tf.int32, [None, SEQ_LENGTH], name=n)
              for n in runtime.SERVING_INPUTS}
    start_logits, end_logits = run_squad.create_model(
        modeling.BertConfig.from_json_file(config_file), False,
        inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"],
        use_one_hot_embeddings=False)
    with v1.Session() as sess:
      v1.train.Saver().restore(sess, checkpoint)
      return sess.run([start_logits, end_logits],
                      {inputs[n]: v for n, v in features.items()})


def test_squad_saved_model_equals_checkpoint_forward_pass(squad_run):
  out, export_dir, config_file = squad_run
  features = bert_testing.read_features(
      os.path.join(out, "eval.tf_record"), SEQ_LENGTH)
  assert len(features["input_ids"]) > len(
      [q for _, qs in PARAGRAPHS for q in qs])  # Several windows each.
  served = bert_testing.serve(bert_testing.only_export(export_dir), features)
  assert sorted(served) == ["end_logits", "start_logits"]
  expected = checkpoint_logits(config_file, tf.train.latest_checkpoint(out),
                               features)
  for name, want in zip(("start_logits", "end_logits"), expected):
    assert served[name].shape == want.shape == (len(features["input_ids"]),
                                                SEQ_LENGTH)
    diff = np.abs(served[name] - want).max()
    print("squad %s: max |SavedModel - checkpoint| = %.3g" % (name, diff))
    assert diff < TOLERANCE


def test_export_dir_that_is_a_file_fails_before_training(tmp_path):
  texts = bert_testing.write_mrpc_slice(str(tmp_path / "data"), num_train=8,
                                        num_test=4)
  vocab = bert_testing.write_vocab(str(tmp_path / "vocab.txt"), texts)
  bert_testing.write_config(str(tmp_path / "bert_config.json"), len(vocab))
  (tmp_path / "model").write_text("not a directory\n")
  proc = bert_testing.run_script("run_classifier.py", [
      "--task_name=MRPC", "--do_train", "--data_dir=%s" % (tmp_path / "data"),
      "--vocab_file=%s" % (tmp_path / "vocab.txt"),
      "--bert_config_file=%s" % (tmp_path / "bert_config.json"),
      "--output_dir=%s" % (tmp_path / "out"),
      "--export_dir=%s" % (tmp_path / "model"),
  ], timeout=120)
  assert proc.returncode != 0
  assert ("--export_dir=%s is a file, not a directory" % (tmp_path / "model")
          in proc.stderr)
  assert not (tmp_path / "out" / "train.tf_record").exists()


def test_export_without_training_needs_a_checkpoint(tmp_path):
  with pytest.raises(ValueError, match="has no checkpoint: add --do_train"):
    runtime.check_export_dir(str(tmp_path / "export"), str(tmp_path), False)
  runtime.check_export_dir(str(tmp_path / "export"), str(tmp_path), True)
  assert (tmp_path / "export").is_dir()


def test_onnx_export_is_checked_before_any_work(tmp_path, monkeypatch):
  with pytest.raises(UserError, match=(
      r"^--export_format=onnx writes the fp32 model \(not "
      r"--export_precision=int8\): for int8 in ONNX Runtime, quantise "
      r"model.onnx with onnxruntime.quantization.quantize_dynamic.$")):
    runtime.check_export_dir(str(tmp_path / "export"), str(tmp_path), True,
                             precision="int8", output_format="onnx")
  monkeypatch.setattr(onnx_export, "missing_packages", lambda: ["tf2onnx"])
  with pytest.raises(UserError, match=(
      r"^--export_format=onnx needs tf2onnx, not installed: pip install -r "
      r"requirements-onnx.txt$")):
    runtime.check_export_dir(str(tmp_path / "export"), str(tmp_path), True,
                             output_format="onnx")
  assert not (tmp_path / "export").exists()
