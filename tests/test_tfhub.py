"""TF Hub: export_tfhub.py writes a module, run_classifier_with_tfhub.py
fine-tunes it; export_tfhub.py --format=tf2 writes the TF2 encoder format.

A tiny checkpoint (2 layers, hidden 32, plus a pre-training head variable
the module must leave out) is exported to a TF1 hub module in a subprocess.
The module's `tokens` outputs must equal `BertModel`'s on the same
checkpoint, and its `tokenization_info` must point at its own copy of the
vocabulary. Then run_classifier_with_tfhub.py fine-tunes the module for a
few steps on a slice of MRPC, as a user runs it, and its eval results,
predictions, checkpoint and SavedModel are checked.

The TF2 SavedModel (--format=tf2) is loaded by hub.KerasLayer in eager
code: its outputs (pooled, sequence, every layer) must equal BertModel's,
its call, outputs and attributes must be those of the SavedModel Model
Garden's own export_tfhub_lib writes, and a Keras classifier around it must
fine-tune.

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
  hub = bert_testing.require_optional(
      "tensorflow_hub",
      "pip install tensorflow-hub==0.15.0 'setuptools<81'")
  if not hasattr(hub, "Module"):
    bert_testing.missing_optional(
        "tensorflow-hub %s has no hub.Module (needs 0.15)" % hub.__version__)
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
  result = bert_testing.read_eval_results(os.path.join(out, "eval_results.txt"))
  assert result["global_step"] == 4
  probabilities = np.loadtxt(os.path.join(out, "test_results.tsv"), ndmin=2)
  assert probabilities.shape == (20, 2)
  with open(os.path.join(tmp, "data", "msr_paraphrase_test.txt")) as f:
    labels = [int(line.split("\t")[0]) for line in f.read().splitlines()[1:]]
  # The MSR test file is both the dev and the test set.
  accuracy = np.mean(probabilities.argmax(1) == np.array(labels))
  assert result["eval_accuracy"] == pytest.approx(accuracy, abs=1e-6)
  # The mean cross-entropy of those probabilities (printed to float32
  # precision).
  loss = -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))
  assert result["eval_loss"] == pytest.approx(loss, rel=1e-4)

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


def bert_model_outputs(bert_config, checkpoint, input_ids, input_mask,
                       segment_ids):
  """pooled, sequence and every layer's output of `BertModel`, TF1 graph."""
  with tf.Graph().as_default():
    model = modeling.BertModel(bert_config, False, tf.constant(input_ids),
                               tf.constant(input_mask),
                               tf.constant(segment_ids))
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, checkpoint)
      return sess.run([model.get_pooled_output(),
                       model.get_sequence_output(),
                       model.get_all_encoder_layers()])


@pytest.fixture(scope="module")
def tf2_export(hub_module):
  export_dir = os.path.join(hub_module["tmp"], "tf2_hub")
  proc = bert_testing.run_script("export_tfhub.py", [
      "--format=tf2", "--bert_config_file=%s" % hub_module["config"],
      "--init_checkpoint=%s" % hub_module["checkpoint"],
      "--vocab_file=%s" % hub_module["vocab"], "--do_lower_case=True",
      "--export_dir=%s" % export_dir,
  ], timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return export_dir


def tf2_inputs(input_ids, input_mask, segment_ids):
  return dict(input_word_ids=input_ids, input_mask=input_mask,
              input_type_ids=segment_ids)


def test_tf2_format_outputs_equal_bert_model_in_eager_code(hub_module,
                                                           tf2_export):
  hub = import_hub()
  bert_config = modeling.BertConfig.from_json_file(hub_module["config"])
  inputs = some_inputs(bert_config.vocab_size)
  pooled, sequence, layers = bert_model_outputs(
      bert_config, hub_module["checkpoint"], *inputs)
  assert tf.executing_eagerly()
  encoder = hub.KerasLayer(tf2_export, trainable=True)
  got = encoder(tf2_inputs(*inputs))
  diffs = [np.abs(got["pooled_output"].numpy() - pooled).max(),
           np.abs(got["sequence_output"].numpy() - sequence).max()] + [
               np.abs(g.numpy() - l).max()
               for g, l in zip(got["encoder_outputs"], layers)]
  print("TF2 hub export vs BertModel: max |diff| pooled %.3g, sequence %.3g, "
        "layers %s" % (diffs[0], diffs[1], diffs[2:]))
  assert len(got["encoder_outputs"]) == bert_config.num_hidden_layers
  assert max(diffs) < TOLERANCE
  assert np.array_equal(got["default"].numpy(), got["pooled_output"].numpy())
  # training=True (hub.KerasLayer's call while fine-tuning) drops out.
  if bert_config.hidden_dropout_prob > 0:
    dropped = encoder(tf2_inputs(*inputs), training=True)
    assert np.abs(dropped["sequence_output"].numpy() - sequence).max() > 1e-3
  # The encoder's variables, and nothing of the pre-training head.
  names = sorted(v.name for v in encoder.trainable_weights)
  reader = tf.train.load_checkpoint(hub_module["checkpoint"])
  assert names == sorted(n + ":0" for n in reader.get_variable_to_shape_map()
                         if n.startswith("bert/"))

  loaded = tf.compat.v2.saved_model.load(tf2_export)
  with open(loaded.vocab_file.asset_path.numpy().decode("utf-8")) as f, \
      open(hub_module["vocab"]) as g:
    assert f.read() == g.read()
  assert loaded.vocab_file.asset_path.numpy().decode("utf-8") == os.path.join(
      tf2_export, "assets", "vocab.txt")
  assert bool(loaded.do_lower_case.numpy())


def model_garden_export(tmp, bert_config_file, vocab_file):
  """A TF2 hub encoder written by Model Garden's own export_tfhub_lib."""
  lib = bert_testing.model_garden("official.nlp.tools.export_tfhub_lib")
  configs = bert_testing.model_garden("official.legacy.bert.configs")
  mg_config = configs.BertConfig.from_json_file(bert_config_file)
  encoder = lib.get_bert_encoder(mg_config)
  checkpoint = tf.compat.v2.train.Checkpoint(model=encoder).save(
      os.path.join(tmp, "mg_encoder", "ckpt"))
  export_dir = os.path.join(tmp, "mg_hub")
  lib.export_model(export_dir, bert_config=mg_config,
                   model_checkpoint_path=checkpoint, with_mlm=False,
                   vocab_file=vocab_file, do_lower_case=True)
  return export_dir


def test_tf2_format_is_model_gardens_and_fine_tunes_in_keras(hub_module,
                                                             tf2_export):
  hub = import_hub()
  bert_config = modeling.BertConfig.from_json_file(hub_module["config"])
  inputs = tf2_inputs(*some_inputs(bert_config.vocab_size))
  theirs_dir = model_garden_export(hub_module["tmp"], hub_module["config"],
                                   hub_module["vocab"])
  ours, theirs = (tf.compat.v2.saved_model.load(d) for d in (tf2_export, theirs_dir))
  ours_out, theirs_out = ours(inputs), theirs(inputs)
  assert sorted(ours_out) == sorted(theirs_out)
  for key in ("pooled_output", "sequence_output", "default"):
    assert ours_out[key].shape == theirs_out[key].shape, key
  assert [t.shape for t in ours_out["encoder_outputs"]] == [
      t.shape for t in theirs_out["encoder_outputs"]]
  for name in ("vocab_file", "do_lower_case"):
    assert hasattr(ours, name) and hasattr(theirs, name), name
  assert len(ours.trainable_variables) == len(theirs.trainable_variables)

  # Model Garden's way to fine-tune a hub encoder: a Keras classifier
  # around hub.KerasLayer(trainable=True). A few steps of Adam on one batch
  # lower the loss and move the encoder's own weights.
  tf2 = tf.compat.v2
  keras_inputs = {name: tf2.keras.Input([None], dtype=tf.int32, name=name)
                  for name in inputs}
  encoder = hub.KerasLayer(tf2_export, trainable=True)
  logits = tf2.keras.layers.Dense(2)(encoder(keras_inputs)["pooled_output"])
  classifier = tf2.keras.Model(keras_inputs, logits)
  classifier.compile(
      optimizer=tf2.keras.optimizers.Adam(1e-3),
      loss=tf2.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  labels = np.array([0, 1, 1])
  before = encoder.trainable_weights[0].numpy().copy()
  history = classifier.fit(inputs, labels, epochs=5, verbose=0)
  losses = history.history["loss"]
  assert losses[-1] < losses[0], losses
  assert np.abs(encoder.trainable_weights[0].numpy() - before).max() > 0


def test_import_needs_no_tensorflow_hub(monkeypatch):
  """`import run_classifier_with_tfhub` works without the optional extra;
  using a module then names the package to install."""
  monkeypatch.setitem(sys.modules, "tensorflow_hub", None)  # Import fails.
  for name in ("run_classifier_with_tfhub", "export_tfhub"):
    monkeypatch.delitem(sys.modules, name, raising=False)
    __import__(name)
  with pytest.raises(ImportError, match="tensorflow-hub==0.15.0"):
    command_line.tensorflow_hub()
