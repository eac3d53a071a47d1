"""TF Hub: export_tfhub.py writes a module, run_classifier_with_tfhub.py
fine-tunes it.

A tiny checkpoint (2 layers, hidden 32, plus a pre-training head variable
the module must leave out) is exported to a TF1 hub module in a subprocess.
The module's `tokens` outputs must equal `BertModel`'s on the same
checkpoint, and its `tokenization_info` must point at its own copy of the
vocabulary. Then run_classifier_with_tfhub.py fine-tunes the module for a
few steps on a slice of MRPC, as a user runs it, and its eval results,
predictions, checkpoint and SavedModel are checked.

Needs the optional extra tensorflow-hub==0.15.0 (with setuptools<81); the
import test at the end runs without it.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import modeling
import command_line

SEQ_LENGTH = 32
TOLERANCE = 1e-5


def import_hub():
  hub = pytest.importorskip(
      "tensorflow_hub",
      reason="optional extra: pip install tensorflow-hub==0.15.0 "
      "'setuptools<81'")
  if not hasattr(hub, "Module"):
    pytest.skip("tensorflow-hub %s has no hub.Module (needs 0.15)" %
                hub.__version__)
  return hub


def write_checkpoint(path, bert_config):
  """A randomly initialised encoder, plus a variable of a pre-training head."""
  with tf.Graph().as_default():
    tf.set_random_seed(1)
    modeling.BertModel(bert_config, False,
                       tf.placeholder(tf.int32, [None, None]))
    tf.get_variable("cls/predictions/output_bias", [bert_config.vocab_size])
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, path)


@pytest.fixture(scope="module")
def hub_module(tmp_path_factory):
  import_hub()
  tmp = str(tmp_path_factory.mktemp("tfhub"))
  texts = bert_testing.write_mrpc_slice(os.path.join(tmp, "data"),
                                        num_train=64, num_test=20)
  vocab_file = os.path.join(tmp, "vocab.txt")
  vocab = bert_testing.write_vocab(vocab_file, texts)
  # Wide initial weights: the checkpoint's values are far from a fresh
  # initialisation's, so the fine-tuning test can tell which it started from.
  config_file = bert_testing.write_config(
      os.path.join(tmp, "bert_config.json"), len(vocab),
      initializer_range=0.2)
  checkpoint = os.path.join(tmp, "bert_model.ckpt")
  write_checkpoint(checkpoint, modeling.BertConfig.from_json_file(config_file))
  module_dir = os.path.join(tmp, "hub_module")
  proc = bert_testing.run_script("export_tfhub.py", [
      "--bert_config_file=%s" % config_file,
      "--init_checkpoint=%s" % checkpoint, "--vocab_file=%s" % vocab_file,
      "--do_lower_case=True", "--export_dir=%s" % module_dir,
  ], timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return dict(tmp=tmp, module=module_dir, checkpoint=checkpoint,
              config=config_file, vocab=vocab_file)


def some_inputs(vocab_size):
  rng = np.random.RandomState(0)
  input_ids = rng.randint(5, vocab_size, size=(3, 11)).astype(np.int32)
  input_mask = np.ones_like(input_ids)
  input_mask[1, 6:] = 0
  input_mask[2, 9:] = 0
  segment_ids = np.zeros_like(input_ids)
  segment_ids[:, 5:] = 1
  return input_ids, input_mask, segment_ids


def test_module_outputs_equal_bert_model(hub_module):
  hub = import_hub()
  bert_config = modeling.BertConfig.from_json_file(hub_module["config"])
  input_ids, input_mask, segment_ids = some_inputs(bert_config.vocab_size)
  inputs = dict(input_ids=input_ids, input_mask=input_mask,
                segment_ids=segment_ids)
  with tf.Graph().as_default():
    module = hub.Module(hub_module["module"])
    assert sorted(module.get_signature_names()) == ["tokenization_info",
                                                    "tokens"]
    assert not [n for n in module.variable_map if n.startswith("cls/")]
    outputs = module(inputs, signature="tokens", as_dict=True)
    info = module(signature="tokenization_info", as_dict=True)
    train_outputs = hub.Module(hub_module["module"], tags={"train"})(
        inputs, signature="tokens", as_dict=True)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      got, info, train_got = sess.run([outputs, info, train_outputs])

  with tf.Graph().as_default():
    model = modeling.BertModel(bert_config, False, tf.constant(input_ids),
                               tf.constant(input_mask),
                               tf.constant(segment_ids))
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, hub_module["checkpoint"])
      pooled, sequence = sess.run([model.get_pooled_output(),
                                   model.get_sequence_output()])

  assert got["pooled_output"].shape == (3, 32)
  assert got["sequence_output"].shape == (3, 11, 32)
  pooled_diff = np.abs(got["pooled_output"] - pooled).max()
  sequence_diff = np.abs(got["sequence_output"] - sequence).max()
  print("hub vs BertModel: max |pooled| diff %.3g, max |sequence| diff %.3g" %
        (pooled_diff, sequence_diff))
  assert pooled_diff < TOLERANCE and sequence_diff < TOLERANCE
  # The "train" graph has the config's dropout.
  assert np.abs(train_got["sequence_output"] - sequence).max() > 1e-2

  vocab_path = info["vocab_file"].decode("utf-8")
  assert vocab_path == os.path.join(hub_module["module"], "assets",
                                    "vocab.txt")
  with open(vocab_path) as f, open(hub_module["vocab"]) as g:
    assert f.read() == g.read()
  assert info["do_lower_case"]


def read_eval_results(path):
  with open(path) as f:
    return {k: float(v) for k, v in
            (line.strip().split(" = ") for line in f if line.strip())}


def test_fine_tune_with_run_classifier_with_tfhub(hub_module):
  tmp = hub_module["tmp"]
  out = os.path.join(tmp, "out")
  export_dir = os.path.join(tmp, "export")
  proc = bert_testing.run_script("run_classifier_with_tfhub.py", [
      "--task_name=MRPC", "--do_train", "--do_eval", "--do_predict",
      "--data_dir=%s" % os.path.join(tmp, "data"),
      "--bert_hub_module_handle=%s" % hub_module["module"],
      "--output_dir=%s" % out, "--export_dir=%s" % export_dir,
      "--max_seq_length=%d" % SEQ_LENGTH, "--train_batch_size=16",
      "--learning_rate=1e-4", "--num_train_epochs=1", "--seed=4",
  ], timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]

  # 64 examples / 16 per batch, 1 epoch.
  result = read_eval_results(os.path.join(out, "eval_results.txt"))
  assert result["global_step"] == 4
  probabilities = np.loadtxt(os.path.join(out, "test_results.tsv"), ndmin=2)
  assert probabilities.shape == (20, 2)
  with open(os.path.join(tmp, "data", "msr_paraphrase_test.txt")) as f:
    labels = [int(line.split("\t")[0]) for line in f.read().splitlines()[1:]]
  # The MSR test file is both the dev and the test set.
  accuracy = np.mean(probabilities.argmax(1) == np.array(labels))
  assert result["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
  assert 0.0 < result["eval_loss"] < 5.0

  # Fine-tuning started from the module's weights and changed them a little
  # (Adam moves each by at most about 4 steps * 1e-4).
  name = "bert/embeddings/word_embeddings"
  start = tf.train.load_variable(hub_module["checkpoint"], name)
  tuned = tf.train.load_variable(out, "module/" + name)
  assert 0.0 < np.abs(tuned - start).max() < 2e-3

  # --export_dir works here too, with the module inside the SavedModel.
  features = bert_testing.read_features(
      os.path.join(out, "predict.tf_record"), SEQ_LENGTH)
  served = bert_testing.serve(bert_testing.only_export(export_dir), features)
  assert np.abs(served["probabilities"] - probabilities).max() < TOLERANCE


def test_import_needs_no_tensorflow_hub(monkeypatch):
  """`import run_classifier_with_tfhub` works without the optional extra;
  using a module then names the package to install."""
  monkeypatch.setitem(sys.modules, "tensorflow_hub", None)  # Import fails.
  for name in ("run_classifier_with_tfhub", "export_tfhub"):
    monkeypatch.delitem(sys.modules, name, raising=False)
    __import__(name)
  with pytest.raises(ImportError, match="tensorflow-hub==0.15.0"):
    command_line.tensorflow_hub()
