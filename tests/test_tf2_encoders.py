"""Tests of tf2_encoders: Model Garden's own encoders (BertEncoder,
BertEncoderV2, nested, a hub SavedModel from its export_tfhub_lib) read into
this project's BertModel give the TF2 model's own outputs."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf2
import tensorflow.compat.v1 as tf

import bert_testing
import convert_checkpoint
from command_line import UserError
import modeling
import runtime
import script_flags
import tf2_encoders

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    "w%d" % i for i in range(25)]
SIZES = dict(vocab_size=len(VOCAB), hidden_size=16, num_layers=2,
             num_attention_heads=2, max_sequence_length=20, type_vocab_size=2)
INNER = 24
# Largest difference allowed between this project's outputs and Model
# Garden's on the same ids.
TOLERANCE = 1e-5
MEASURED = {}


def inputs():
  rng = np.random.RandomState(1)
  ids = rng.randint(5, len(VOCAB), (2, 9)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[1, 6:] = 0  # Padding must be masked the same way.
  types = np.zeros_like(ids)
  types[:, 5:] = 1
  return ids, mask, types


def randomise(encoder, seed):
  """Weights far from the initial ones (gammas 1, biases 0 would hide
  mistakes in the layer norms and biases)."""
  rng = np.random.RandomState(seed)
  for variable in encoder.weights:
    variable.assign(rng.normal(scale=0.3, size=variable.shape).astype(
        np.float32))


def mg_outputs(model, ids, mask, types):
  out = model(dict(input_word_ids=ids, input_mask=mask,
                   input_type_ids=types), training=False)
  return {"sequence": np.asarray(out["sequence_output"]),
          "pooled": np.asarray(out["pooled_output"]),
          "layers": [np.asarray(x) for x in out["encoder_outputs"]]}


def bert_outputs(settings, ids, mask, types):
  """This project's BertModel, restored from `settings` as a script does."""
  config = modeling.BertConfig.from_json_file(settings.bert_config_file)
  runtime.check_init_checkpoint(settings.init_checkpoint, config)
  with tf.Graph().as_default():
    model = modeling.BertModel(
        config=config, is_training=False, input_ids=tf.constant(ids),
        input_mask=tf.constant(mask), token_type_ids=tf.constant(types))
    tf.train.init_from_checkpoint(settings.init_checkpoint, {"bert/": "bert/"})
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sequence, pooled, layers = sess.run(
          [model.get_sequence_output(), model.get_pooled_output(),
           model.get_all_encoder_layers()])
  return {"sequence": sequence, "pooled": pooled, "layers": layers}


def max_difference(ours, theirs, mask):
  real = mask.astype(bool)  # Padded positions are nobody's output.
  diffs = [np.abs(ours["pooled"] - theirs["pooled"]).max(),
           np.abs(ours["sequence"][real] - theirs["sequence"][real]).max()]
  assert len(ours["layers"]) == len(theirs["layers"])
  diffs += [np.abs(a[real] - b[real]).max()
            for a, b in zip(ours["layers"], theirs["layers"])]
  return float(max(diffs))


@pytest.fixture(scope="module")
def mg(tmp_path_factory):
  """Model Garden encoders, their checkpoints, a hub model and outputs."""
  networks = bert_testing.model_garden("official.nlp.modeling.networks")
  export_lib = bert_testing.model_garden("official.nlp.tools.export_tfhub_lib")
  configs = bert_testing.model_garden("official.legacy.bert.configs")
  tmp = tmp_path_factory.mktemp("mg")
  vocab = tmp / "vocab.txt"
  vocab.write_text("\n".join(VOCAB) + "\n")
  ids, mask, types = inputs()
  made = {"dir": tmp, "vocab": str(vocab), "outputs": {}, "paths": {}}

  mg_config = configs.BertConfig(
      vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2,
      num_attention_heads=2, intermediate_size=INNER,
      max_position_embeddings=20, type_vocab_size=2)
  v1 = export_lib.get_bert_encoder(mg_config)  # The functional BertEncoder.
  v2 = networks.BertEncoderV2(inner_dim=INNER, **SIZES)
  mg_outputs(v2, ids, mask, types)  # Builds its variables.
  randomise(v1, 1)
  randomise(v2, 2)
  made["outputs"]["v1"] = mg_outputs(v1, ids, mask, types)
  made["outputs"]["v2"] = mg_outputs(v2, ids, mask, types)
  made["outputs"]["nested"] = made["outputs"]["v2"]
  made["paths"]["v1"] = tf.train.Checkpoint(model=v1).save(
      str(tmp / "v1" / "ckpt"))
  made["paths"]["v2"] = tf.train.Checkpoint(encoder=v2).save(
      str(tmp / "v2" / "ckpt"))
  outer = tf.Module()
  outer.classifier_body = tf.Module()
  outer.classifier_body.bert = v2
  made["paths"]["nested"] = tf.train.Checkpoint(model=outer).save(
      str(tmp / "nested" / "ckpt"))

  encoder_ckpt = tf.train.Checkpoint(encoder=v1).save(str(tmp / "hubsrc" /
                                                          "ckpt"))
  hub_dir = str(tmp / "hub")
  export_lib.export_model(hub_dir, bert_config=mg_config,
                          model_checkpoint_path=encoder_ckpt, with_mlm=False,
                          vocab_file=str(vocab), do_lower_case=False)
  made["paths"]["hub"] = hub_dir
  made["outputs"]["hub"] = mg_outputs(tf2.saved_model.load(hub_dir), ids, mask,
                                      types)
  return made


@pytest.mark.parametrize("kind", ["v1", "v2", "nested"])
def test_init_checkpoint_gives_model_garden_outputs(mg, kind):
  settings = script_flags.Settings(init_checkpoint=mg["paths"][kind],
                                   vocab_file=mg["vocab"])
  resolved = tf2_encoders.resolve_encoder(settings,
                                          cache_dir=str(mg["dir"] / "cache"))
  assert resolved.init_checkpoint.endswith("/bert_model.ckpt")
  assert resolved.vocab_file == mg["vocab"]  # Given: kept.
  with open(resolved.bert_config_file) as f:
    config = json.load(f)
  assert (config["num_attention_heads"], config["intermediate_size"],
          config["hidden_act"]) == (2, INNER, "gelu")
  ids, mask, types = inputs()
  diff = max_difference(bert_outputs(resolved, ids, mask, types),
                        mg["outputs"][kind], mask)
  MEASURED[kind] = diff
  print("max |BertModel - Model Garden %s| = %.2e" % (kind, diff))
  assert diff < TOLERANCE


def test_hub_model_gives_its_own_outputs_vocab_and_casing(mg):
  settings = script_flags.Settings(hub_module_url=mg["paths"]["hub"])
  resolved = tf2_encoders.resolve_encoder(settings,
                                          cache_dir=str(mg["dir"] / "cache"))
  assert resolved.hub_module_url is None
  with open(resolved.vocab_file) as f:
    assert f.read().split() == VOCAB
  assert resolved.do_lower_case is False  # export_model's do_lower_case.
  ids, mask, types = inputs()
  diff = max_difference(bert_outputs(resolved, ids, mask, types),
                        mg["outputs"]["hub"], mask)
  MEASURED["hub"] = diff
  print("max |BertModel - hub SavedModel| = %.2e" % diff)
  assert diff < TOLERANCE


def test_conversion_is_reused(mg, caplog):
  cache = str(mg["dir"] / "reuse")
  first = tf2_encoders.converted_dir(mg["paths"]["v2"], cache)
  stamp = os.path.getmtime(os.path.join(first, "bert_model.ckpt.index"))
  with caplog.at_level("INFO"):
    second = tf2_encoders.converted_dir(mg["paths"]["v2"], cache)
  assert second == first
  assert os.path.getmtime(os.path.join(first, "bert_model.ckpt.index")) == stamp
  assert "reusing its conversion" in caplog.text
  assert os.listdir(cache) == [os.path.basename(first)]  # No temp left.


def test_config_that_disagrees_is_refused(mg, tmp_path):
  config = bert_testing.write_config(str(tmp_path / "bert_config.json"),
                                     len(VOCAB), hidden_size=16,
                                     num_attention_heads=4,
                                     intermediate_size=INNER,
                                     max_position_embeddings=20)
  settings = script_flags.Settings(hub_module_url=mg["paths"]["hub"],
                                   bert_config_file=config)
  with pytest.raises(UserError, match=r"^--hub_module_url=.*hub has "
                     r"num_attention_heads=2 but --bert_config_file=.* says "
                     r"4; drop --bert_config_file"):
    tf2_encoders.resolve_encoder(settings, cache_dir=str(tmp_path / "c"))


def test_urls_and_non_models_are_refused(mg, tmp_path):
  cache = str(tmp_path / "c")
  with pytest.raises(UserError, match=r"https://tfhub.dev/x/bert/1 is a URL"
                     r".*download the model first.*local directory"):
    tf2_encoders.resolve_encoder(script_flags.Settings(
        hub_module_url="https://tfhub.dev/x/bert/1"), cache)
  with pytest.raises(UserError, match=r"not a SavedModel directory"):
    tf2_encoders.resolve_encoder(script_flags.Settings(
        hub_module_url=str(tmp_path)), cache)
  with pytest.raises(UserError, match=r"pass one"):
    tf2_encoders.resolve_encoder(script_flags.Settings(
        hub_module_url=mg["paths"]["hub"],
        init_checkpoint=mg["paths"]["v2"]), cache)
  # An object-based checkpoint of something else: no encoder in it.
  other = tf.Module()
  other.dense = tf.Variable(np.zeros((3, 3), np.float32))
  prefix = tf.train.Checkpoint(model=other).save(str(tmp_path / "o" / "ckpt"))
  with pytest.raises(UserError, match=r"^--init_checkpoint=.*/o/ckpt-1: "
                     r"Checkpoint .*/o/ckpt-1: expected "
                     r"the variables of one Model Garden BertEncoder.*found "
                     r"none"):
    tf2_encoders.resolve_encoder(script_flags.Settings(
        init_checkpoint=prefix), cache)
  assert not os.path.exists(cache) or not os.listdir(cache)


def test_original_checkpoints_pass_through(tmp_path):
  settings = script_flags.Settings(init_checkpoint=str(tmp_path / "none"))
  assert tf2_encoders.resolve_encoder(settings, str(tmp_path)) is settings


def test_extract_features_with_bert_encoder_v2_checkpoint(mg, tmp_path):
  """The script end to end: a BertEncoderV2 checkpoint in --init_checkpoint
  gives Model Garden's outputs; an unrelated one is refused by name."""
  text = "w3 w7 w1 ||| w20 w4"
  input_file = tmp_path / "input.txt"
  input_file.write_text(text + "\n")
  out = tmp_path / "features.jsonl"
  args = ["--input_file=%s" % input_file, "--output_file=%s" % out,
          "--vocab_file=%s" % mg["vocab"], "--max_seq_length=12",
          "--layers=-1,-2", "--init_checkpoint=%s" % mg["paths"]["v2"]]
  env = {"BERT_TF2_CACHE_DIR": str(tmp_path / "cache")}
  result = bert_testing.run_script("extract_features.py", args, env=env)
  assert result.returncode == 0, result.stderr
  assert "a TF2 encoder, read as" in result.stderr
  with open(out) as f:
    features = json.loads(f.readline())["features"]
  tokens = [f["token"] for f in features]
  assert tokens == ["[CLS]", "w3", "w7", "w1", "[SEP]", "w20", "w4", "[SEP]"]
  ids = np.array([[VOCAB.index(t) for t in tokens]], np.int32)
  types = np.array([[0] * 5 + [1] * 3], np.int32)
  networks = bert_testing.model_garden("official.nlp.modeling.networks")
  v2 = networks.BertEncoderV2(inner_dim=INNER, **SIZES)
  tf.train.Checkpoint(encoder=v2).restore(mg["paths"]["v2"]).expect_partial()
  theirs = mg_outputs(v2, ids, np.ones_like(ids), types)
  ours_last = np.array([f["layers"][0]["values"] for f in features])
  ours_prev = np.array([f["layers"][1]["values"] for f in features])
  # The script rounds to 6 decimals.
  assert np.abs(ours_last - theirs["layers"][-1][0]).max() < TOLERANCE
  assert np.abs(ours_prev - theirs["layers"][-2][0]).max() < TOLERANCE

  # A checkpoint that covers nothing of the encoder: refused, by name.
  with tf.Graph().as_default():
    tf.Variable(np.zeros(3, np.float32), name="other/w")
    saver = tf.train.Saver()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      unrelated = saver.save(sess, str(tmp_path / "unrelated" / "model.ckpt"))
  with open(os.path.join(str(tmp_path / "cache"),
                         os.listdir(str(tmp_path / "cache"))[0],
                         "bert_config.json")) as f:
    config = modeling.BertConfig.from_dict(json.load(f))
  with pytest.raises(UserError, match=r"^--init_checkpoint=.*unrelated/"
                     r"model.ckpt lacks 39 of the 39 variables"):
    runtime.check_init_checkpoint(unrelated, config)


def test_run_classifier_trains_from_a_hub_model(mg, tmp_path):
  """run_classifier.py as Model Garden's README runs it: --hub_module_url,
  no --vocab_file nor --bert_config_file."""
  (tmp_path / "task").mkdir()
  task = bert_testing.write_toy_mrpc_task(tmp_path / "task")
  args = ["--task_name=MRPC", "--do_train", "--data_dir=%s" % task,
          "--output_dir=%s" % (tmp_path / "out"), "--max_seq_length=16",
          "--train_batch_size=8", "--num_train_epochs=1"]
  env = {"BERT_TF2_CACHE_DIR": str(tmp_path / "cache")}
  result = bert_testing.run_script(
      "run_classifier.py", args + ["--hub_module_url=%s" % mg["paths"]["hub"]],
      env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "--hub_module_url=%s: a TF2 encoder" % mg["paths"]["hub"] in (
      result.stderr)
  reader = tf.train.load_checkpoint(
      tf.train.latest_checkpoint(str(tmp_path / "out")))
  assert reader.get_variable_to_shape_map()[
      "bert/embeddings/word_embeddings"] == [len(VOCAB), 16]



@pytest.mark.parametrize("kind", ["hub", "v2"])
def test_convert_checkpoint_reads_hub_models_and_encoder_v2(mg, tmp_path, kind):
  source = mg["paths"][kind]
  input_dir = source if kind == "hub" else os.path.dirname(source)
  if kind == "v2":  # A checkpoint carries no vocabulary.
    shutil.copyfile(mg["vocab"], os.path.join(input_dir, "vocab.txt"))
  out = convert_checkpoint.convert("model_garden_to_bert", input_dir,
                                   str(tmp_path / "bert"))
  with open(os.path.join(out, "vocab.txt")) as f:
    assert f.read().split() == VOCAB
  settings = script_flags.Settings(bert_config_file=os.path.join(
      out, "bert_config.json"), init_checkpoint=os.path.join(
          out, "bert_model.ckpt"))
  ids, mask, types = inputs()
  assert max_difference(bert_outputs(settings, ids, mask, types),
                        mg["outputs"][kind], mask) < TOLERANCE
