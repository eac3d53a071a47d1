"""Tests of convert_checkpoint.py: names, round trips, numerics, bad input.

Models here are tiny and random. The Hugging Face side is checked against a
numpy forward pass written from Hugging Face's BertModel semantics ([out, in]
Linear weights, erf or tanh GELU), not against the converter's own mapping;
the Model Garden side against einsum over the [hidden, heads, head_size]
kernels that Model Garden's attention layers use.
"""

import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import command_line
import convert_checkpoint
import modeling

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat",
         "on", "mat", "a", "dog", "ran", "far", ".", "##s"]
HIDDEN = 16
HEADS = 4
LAYERS = 2
INTERMEDIATE = 32
MAX_POS = 20
TYPES = 2


# --- helpers -----------------------------------------------------------------


def bert_config_dict(**overrides):
  config = dict(vocab_size=len(VOCAB), hidden_size=HIDDEN,
                num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                intermediate_size=INTERMEDIATE, hidden_act="gelu",
                hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                max_position_embeddings=MAX_POS, type_vocab_size=TYPES,
                initializer_range=0.02)
  config.update(overrides)
  return config


def hf_config_dict(**overrides):
  config = dict(bert_config_dict(hidden_act="gelu"), model_type="bert",
                architectures=["BertForMaskedLM"], layer_norm_eps=1e-12,
                pad_token_id=0, position_embedding_type="absolute",
                transformers_version="4.40.0")
  config.update(overrides)
  return config


def random_hf_weights(seed=0, layers=LAYERS, vocab_size=len(VOCAB)):
  """HF BertModel weights (no prefix), Linear weights [out, in]."""
  rng = np.random.RandomState(seed)

  def rand(*shape):
    return rng.normal(0, 0.5, size=shape).astype(np.float32)

  w = {
      "embeddings.word_embeddings.weight": rand(vocab_size, HIDDEN),
      "embeddings.position_embeddings.weight": rand(MAX_POS, HIDDEN),
      "embeddings.token_type_embeddings.weight": rand(TYPES, HIDDEN),
      "embeddings.LayerNorm.weight": 1 + rand(HIDDEN) / 5,
      "embeddings.LayerNorm.bias": rand(HIDDEN) / 5,
      "pooler.dense.weight": rand(HIDDEN, HIDDEN),
      "pooler.dense.bias": rand(HIDDEN),
  }
  for i in range(layers):
    p = "encoder.layer.%d." % i
    for name, out_dim, in_dim in (
        ("attention.self.query", HIDDEN, HIDDEN),
        ("attention.self.key", HIDDEN, HIDDEN),
        ("attention.self.value", HIDDEN, HIDDEN),
        ("attention.output.dense", HIDDEN, HIDDEN),
        ("intermediate.dense", INTERMEDIATE, HIDDEN),
        ("output.dense", HIDDEN, INTERMEDIATE)):
      w[p + name + ".weight"] = rand(out_dim, in_dim) / math.sqrt(in_dim)
      w[p + name + ".bias"] = rand(out_dim) / 5
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
      w[p + name + ".weight"] = 1 + rand(HIDDEN) / 5
      w[p + name + ".bias"] = rand(HIDDEN) / 5
  return w


def random_original_weights(seed=1, config=None):
  rng = np.random.RandomState(seed)
  config = modeling.BertConfig.from_dict(config or bert_config_dict())
  return dict((name, rng.normal(size=shape).astype(np.float32))
              for name, shape in
              convert_checkpoint.expected_shapes(config).items())


def write_vocab(path, tokens=VOCAB):
  return bert_testing.write_tokens(path, tokens)


def write_json(path, value):
  with open(path, "w") as f:
    json.dump(value, f, indent=2)
  return str(path)


def save_checkpoint(prefix, variables):
  """Saves name -> array with a plain Saver in a graph of its own."""
  with tf.Graph().as_default():
    tf_vars = dict((name, tf.Variable(value, name=name.replace("/", "__")))
                   for name, value in variables.items())
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver(tf_vars).save(sess, str(prefix), write_meta_graph=False,
                                   write_state=False)


def load_checkpoint(prefix):
  reader = tf.train.load_checkpoint(str(prefix))
  return dict((name, reader.get_tensor(name))
              for name in reader.get_variable_to_shape_map())


def make_hf_dir(path, weights=None, config=None, vocab=VOCAB, prefix=""):
  os.makedirs(str(path), exist_ok=True)
  weights = random_hf_weights() if weights is None else weights
  convert_checkpoint.write_safetensors(
      os.path.join(str(path), "model.safetensors"),
      dict((prefix + k, v) for k, v in weights.items()),
      metadata={"format": "pt"})
  write_json(os.path.join(str(path), "config.json"),
             config or hf_config_dict())
  write_vocab(os.path.join(str(path), "vocab.txt"), vocab)
  return str(path)


def make_original_dir(path, weights=None, config=None, extra=None):
  """An original-format directory; `extra` adds slots, heads, global_step."""
  os.makedirs(str(path), exist_ok=True)
  weights = random_original_weights() if weights is None else weights
  variables = dict(weights)
  variables.update(extra or {})
  save_checkpoint(os.path.join(str(path), "bert_model.ckpt"), variables)
  write_json(os.path.join(str(path), "bert_config.json"),
             config or bert_config_dict())
  write_vocab(os.path.join(str(path), "vocab.txt"))
  return str(path)


def fine_tuning_leftovers(weights):
  """What a run_classifier checkpoint holds beside the encoder."""
  rng = np.random.RandomState(7)
  extra = {"global_step": np.array(343, dtype=np.int64),
           "output_weights": rng.normal(size=(2, HIDDEN)).astype(np.float32),
           "output_bias": np.zeros(2, np.float32),
           "cls/predictions/output_bias": np.zeros(len(VOCAB), np.float32)}
  for name, value in list(weights.items())[:6]:
    extra[name + "/adam_m"] = np.ones_like(value)
    extra[name + "/adam_v"] = np.ones_like(value)
  return extra


def leftovers(parent, name):
  """Entries of `parent` that a conversion to `name` may have left."""
  return sorted(e for e in os.listdir(str(parent)) if name in e)


def erf_gelu(x):
  return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def tanh_gelu(x):
  return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) *
                                  (x + 0.044715 * x ** 3)))


def numpy_bert_forward(weights, num_heads, input_ids, token_type_ids,
                       attention_mask, act=erf_gelu, eps=1e-12):
  """Hugging Face BertModel's forward pass in float64 numpy.

  Args:
    weights: HF names without prefix -> arrays; Linear weights are [out, in].
    num_heads: attention heads.
    input_ids, token_type_ids, attention_mask: int [batch, seq].
    act: the feed-forward activation.
    eps: layer-norm epsilon.

  Returns:
    (sequence output [batch, seq, hidden], pooled output [batch, hidden]).
  """
  w = dict((k, v.astype(np.float64)) for k, v in weights.items())

  def linear(x, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]

  def layer_norm(x, name):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w[name + ".weight"] + w[
        name + ".bias"]

  batch, seq = input_ids.shape
  x = (w["embeddings.word_embeddings.weight"][input_ids] +
       w["embeddings.position_embeddings.weight"][:seq][None] +
       w["embeddings.token_type_embeddings.weight"][token_type_ids])
  x = layer_norm(x, "embeddings.LayerNorm")
  hidden = x.shape[-1]
  size = hidden // num_heads
  mask_bias = (1.0 - attention_mask[:, None, None, :]) * -1e9

  def heads(t):
    return t.reshape(batch, seq, num_heads, size).transpose(0, 2, 1, 3)

  i = 0
  while "encoder.layer.%d.attention.self.query.weight" % i in w:
    p = "encoder.layer.%d." % i
    q = heads(linear(x, p + "attention.self.query"))
    k = heads(linear(x, p + "attention.self.key"))
    v = heads(linear(x, p + "attention.self.value"))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + mask_bias
    scores -= scores.max(-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
    x = layer_norm(linear(context, p + "attention.output.dense") + x,
                   p + "attention.output.LayerNorm")
    inner = act(linear(x, p + "intermediate.dense"))
    x = layer_norm(linear(inner, p + "output.dense") + x,
                   p + "output.LayerNorm")
    i += 1
  pooled = np.tanh(linear(x[:, 0], "pooler.dense"))
  return x, pooled


def run_bert_model(bert_dir, input_ids, token_type_ids, input_mask):
  """BertModel restored from a converted directory: (sequence, pooled)."""
  config = modeling.BertConfig.from_json_file(
      os.path.join(bert_dir, "bert_config.json"))
  with tf.Graph().as_default():
    model = modeling.BertModel(
        config, is_training=False,
        input_ids=tf.constant(input_ids, tf.int32),
        input_mask=tf.constant(input_mask, tf.int32),
        token_type_ids=tf.constant(token_type_ids, tf.int32))
    saver = tf.train.Saver()
    with tf.Session() as sess:
      saver.restore(sess, os.path.join(bert_dir, "bert_model.ckpt"))
      return sess.run([model.get_sequence_output(),
                       model.get_pooled_output()])


def toy_inputs():
  input_ids = np.array([[2, 5, 6, 7, 8, 5, 9, 14, 3, 0, 0],
                        [2, 10, 11, 12, 13, 3, 5, 6, 15, 14, 3]])
  token_type_ids = np.array([[0] * 11, [0] * 6 + [1] * 5])
  input_mask = (input_ids > 0).astype(np.int32)
  input_mask[1] = 1
  return input_ids, token_type_ids, input_mask


# --- names -------------------------------------------------------------------


def test_names_are_those_bert_model_creates():
  config = modeling.BertConfig.from_dict(bert_config_dict())
  with tf.Graph().as_default():
    modeling.BertModel(config, is_training=False,
                       input_ids=tf.zeros([1, 4], tf.int32))
    graph = dict((v.op.name, tuple(v.shape.as_list()))
                 for v in tf.global_variables())
  shapes = convert_checkpoint.expected_shapes(config)
  assert dict(shapes) == graph
  mapped = [tf_name for tf_name, _, _ in convert_checkpoint.weight_map(LAYERS)]
  assert sorted(mapped) == sorted(graph)
  hf_names = [hf for _, hf, _ in convert_checkpoint.weight_map(LAYERS)]
  assert sorted(hf_names) == sorted(random_hf_weights())


# --- Hugging Face -> original ------------------------------------------------


@pytest.mark.parametrize("prefix,legacy_names,hf_act", [
    ("", False, "gelu"),
    ("bert.", False, "gelu_new"),
    ("bert.", True, "gelu_pytorch_tanh"),
])
def test_hf_to_bert_matches_numpy_forward(tmp_path, prefix, legacy_names,
                                          hf_act):
  hf_weights = random_hf_weights()
  stored = dict(hf_weights)
  if legacy_names:
    # Files from before transformers 2.x call layer-norm weights gamma/beta.
    stored = dict((k.replace("LayerNorm.weight", "LayerNorm.gamma")
                   .replace("LayerNorm.bias", "LayerNorm.beta"), v)
                  for k, v in stored.items())
  stored["embeddings.position_ids"] = np.arange(MAX_POS)[None]
  hf_dir = make_hf_dir(tmp_path / "hf", stored,
                       hf_config_dict(hidden_act=hf_act), prefix=prefix)
  if prefix:
    # A pre-training head beside the encoder, as in BertForPreTraining.
    heads = convert_checkpoint.read_safetensors(hf_dir + "/model.safetensors")
    heads["cls.predictions.bias"] = np.zeros(len(VOCAB), np.float32)
    convert_checkpoint.write_safetensors(hf_dir + "/model.safetensors", heads)

  out = convert_checkpoint.convert("hf_to_bert", hf_dir,
                                   str(tmp_path / "bert"))

  assert sorted(os.listdir(out)) == [
      "bert_config.json", "bert_model.ckpt.data-00000-of-00001",
      "bert_model.ckpt.index", "vocab.txt"]
  with open(os.path.join(out, "bert_config.json")) as f:
    config = json.load(f)
  assert sorted(config) == sorted(modeling.CONFIG_KEYS)
  wanted_act = "gelu_exact" if hf_act == "gelu" else "gelu"
  assert config == bert_config_dict(hidden_act=wanted_act)
  names = [n for n, _ in tf.train.list_variables(out + "/bert_model.ckpt")]
  assert sorted(names) == sorted(convert_checkpoint.expected_shapes(
      modeling.BertConfig.from_dict(config)))

  ids, types, mask = toy_inputs()
  seq, pooled = run_bert_model(out, ids, types, mask)
  act = erf_gelu if hf_act == "gelu" else tanh_gelu
  ref_seq, ref_pooled = numpy_bert_forward(hf_weights, HEADS, ids, types, mask,
                                           act=act)
  np.testing.assert_allclose(seq, ref_seq, atol=2e-5, rtol=0)
  np.testing.assert_allclose(pooled, ref_pooled, atol=2e-5, rtol=0)


def test_hf_to_bert_transposes_linear_weights(tmp_path):
  hf_weights = random_hf_weights()
  out = convert_checkpoint.convert(
      "hf_to_bert", make_hf_dir(tmp_path / "hf", hf_weights),
      str(tmp_path / "bert"))
  ckpt = load_checkpoint(out + "/bert_model.ckpt")
  np.testing.assert_array_equal(
      ckpt["bert/encoder/layer_1/intermediate/dense/kernel"],
      hf_weights["encoder.layer.1.intermediate.dense.weight"].T)
  np.testing.assert_array_equal(
      ckpt["bert/encoder/layer_0/attention/output/LayerNorm/gamma"],
      hf_weights["encoder.layer.0.attention.output.LayerNorm.weight"])
  np.testing.assert_array_equal(
      ckpt["bert/embeddings/word_embeddings"],
      hf_weights["embeddings.word_embeddings.weight"])


def test_hf_half_precision_weights_are_widened(tmp_path):
  hf_weights = dict((k, v.astype(np.float16))
                    for k, v in random_hf_weights().items())
  out = convert_checkpoint.convert(
      "hf_to_bert", make_hf_dir(tmp_path / "hf", hf_weights),
      str(tmp_path / "bert"))
  ckpt = load_checkpoint(out + "/bert_model.ckpt")
  table = ckpt["bert/embeddings/word_embeddings"]
  assert table.dtype == np.float32
  np.testing.assert_array_equal(
      table, hf_weights["embeddings.word_embeddings.weight"].astype(np.float32))


def test_pytorch_model_bin_is_read_with_torch(tmp_path):
  torch = bert_testing.require_optional("torch", "pip install torch")
  hf_weights = random_hf_weights()
  hf_dir = make_hf_dir(tmp_path / "hf", hf_weights)
  os.remove(hf_dir + "/model.safetensors")
  torch.save(dict(("bert." + k, torch.from_numpy(v))
                  for k, v in hf_weights.items()),
             hf_dir + "/pytorch_model.bin")
  out = convert_checkpoint.convert("hf_to_bert", hf_dir,
                                   str(tmp_path / "bert"))
  ckpt = load_checkpoint(out + "/bert_model.ckpt")
  np.testing.assert_array_equal(ckpt["bert/pooler/dense/kernel"],
                                hf_weights["pooler.dense.weight"].T)


def test_pytorch_model_bin_without_torch_names_the_package(tmp_path,
                                                           monkeypatch):
  hf_dir = make_hf_dir(tmp_path / "hf")
  os.remove(hf_dir + "/model.safetensors")
  with open(hf_dir + "/pytorch_model.bin", "wb") as f:
    f.write(b"not read")
  monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails.
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"pip install torch"):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(tmp_path / "bert"))
  assert not leftovers(tmp_path, "bert")


def test_sharded_safetensors_are_read(tmp_path):
  hf_weights = random_hf_weights()
  hf_dir = make_hf_dir(tmp_path / "hf", hf_weights)
  os.remove(hf_dir + "/model.safetensors")
  names = sorted(hf_weights)
  shards = {"model-00001-of-00002.safetensors": names[:10],
            "model-00002-of-00002.safetensors": names[10:]}
  weight_map = {}
  for shard, shard_names in shards.items():
    convert_checkpoint.write_safetensors(
        os.path.join(hf_dir, shard),
        dict((n, hf_weights[n]) for n in shard_names))
    weight_map.update((n, shard) for n in shard_names)
  write_json(hf_dir + "/model.safetensors.index.json",
             {"metadata": {}, "weight_map": weight_map})
  out = convert_checkpoint.convert("hf_to_bert", hf_dir,
                                   str(tmp_path / "bert"))
  assert len(tf.train.list_variables(out + "/bert_model.ckpt")) == len(names)


# --- original -> Hugging Face -> original ------------------------------------


@pytest.mark.parametrize("hidden_act,hf_act", [("gelu", "gelu_new"),
                                               ("gelu_exact", "gelu")])
def test_round_trip_is_bit_exact(tmp_path, hidden_act, hf_act):
  config = bert_config_dict(hidden_act=hidden_act)
  weights = random_original_weights(config=config)
  src = make_original_dir(tmp_path / "src", weights, config,
                          extra=fine_tuning_leftovers(weights))

  hf_dir = convert_checkpoint.convert("bert_to_hf", src, str(tmp_path / "hf"))
  back = convert_checkpoint.convert("hf_to_bert", hf_dir,
                                    str(tmp_path / "back"))

  ckpt = load_checkpoint(back + "/bert_model.ckpt")
  assert sorted(ckpt) == sorted(weights)  # No slots, heads or global_step.
  for name, value in weights.items():
    assert ckpt[name].dtype == value.dtype, name
    assert ckpt[name].shape == value.shape, name
    assert ckpt[name].tobytes() == value.tobytes(), name
  with open(back + "/bert_config.json") as f:
    assert json.load(f) == config
  with open(src + "/vocab.txt", "rb") as a:
    with open(back + "/vocab.txt", "rb") as b:
      assert a.read() == b.read()
  with open(hf_dir + "/config.json") as f:
    assert json.load(f)["hidden_act"] == hf_act


def test_bert_to_hf_writes_bert_model_layout(tmp_path):
  weights = random_original_weights()
  src = make_original_dir(tmp_path / "src", weights,
                          extra=fine_tuning_leftovers(weights))
  hf_dir = convert_checkpoint.convert("bert_to_hf", src, str(tmp_path / "hf"))

  assert sorted(os.listdir(hf_dir)) == [
      "config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"]
  tensors = convert_checkpoint.read_safetensors(hf_dir + "/model.safetensors")
  assert sorted(tensors) == sorted(random_hf_weights())  # No "bert." prefix.
  np.testing.assert_array_equal(
      tensors["encoder.layer.0.attention.self.query.weight"],
      weights["bert/encoder/layer_0/attention/self/query/kernel"].T)
  np.testing.assert_array_equal(
      tensors["encoder.layer.1.output.LayerNorm.bias"],
      weights["bert/encoder/layer_1/output/LayerNorm/beta"])
  with open(hf_dir + "/config.json") as f:
    hf = json.load(f)
  assert hf["model_type"] == "bert"
  assert hf["architectures"] == ["BertModel"]
  assert hf["layer_norm_eps"] == 1e-12
  assert hf["hidden_act"] == "gelu_new"
  for key, value in bert_config_dict().items():
    if key != "hidden_act":
      assert hf[key] == value, key
  with open(hf_dir + "/tokenizer_config.json") as f:
    assert json.load(f)["do_lower_case"] is True


def test_bert_to_hf_reads_a_fine_tuned_checkpoint(tmp_path):
  weights = random_original_weights()
  src = make_original_dir(tmp_path / "src", random_original_weights(seed=9))
  save_checkpoint(os.path.join(src, "model.ckpt-343"),
                  dict(weights, **fine_tuning_leftovers(weights)))
  hf_dir = convert_checkpoint.convert(
      "bert_to_hf", src, str(tmp_path / "hf"),
      input_checkpoint=os.path.join(src, "model.ckpt-343"))
  tensors = convert_checkpoint.read_safetensors(hf_dir + "/model.safetensors")
  np.testing.assert_array_equal(tensors["pooler.dense.bias"],
                                weights["bert/pooler/dense/bias"])


def test_hf_output_gives_the_same_numbers(tmp_path):
  """bert_to_hf output, run as HF runs it, equals BertModel on the source."""
  config = bert_config_dict(hidden_act="gelu_exact")
  src = make_original_dir(tmp_path / "src",
                          random_original_weights(seed=3, config=config),
                          config)
  hf_dir = convert_checkpoint.convert("bert_to_hf", src, str(tmp_path / "hf"))
  ids, types, mask = toy_inputs()
  seq, _ = run_bert_model(src, ids, types, mask)
  ref, _ = numpy_bert_forward(
      convert_checkpoint.read_safetensors(hf_dir + "/model.safetensors"),
      HEADS, ids, types, mask, act=erf_gelu)
  np.testing.assert_allclose(seq, ref, atol=2e-5, rtol=0)


# --- Model Garden ------------------------------------------------------------


def model_garden_layers(seed=4):
  """{layer_with_weights index: {path: array}} of a BertEncoderV2."""
  rng = np.random.RandomState(seed)
  size = HIDDEN // HEADS

  def rand(*shape):
    return rng.normal(size=shape).astype(np.float32)

  layers = {0: {"embeddings": rand(len(VOCAB), HIDDEN)},
            1: {"embeddings": rand(MAX_POS, HIDDEN)},
            2: {"embeddings": rand(TYPES, HIDDEN)},
            3: {"gamma": rand(HIDDEN), "beta": rand(HIDDEN)}}
  for i in range(LAYERS):
    block = {}
    for name in ("query", "key", "value"):
      block["_attention_layer/_%s_dense/kernel" % name] = rand(HIDDEN, HEADS,
                                                               size)
      block["_attention_layer/_%s_dense/bias" % name] = rand(HEADS, size)
    block["_attention_layer/_output_dense/kernel"] = rand(HEADS, size, HIDDEN)
    block["_attention_layer/_output_dense/bias"] = rand(HIDDEN)
    for norm in ("_attention_layer_norm", "_output_layer_norm"):
      block[norm + "/gamma"] = rand(HIDDEN)
      block[norm + "/beta"] = rand(HIDDEN)
    block["_intermediate_dense/kernel"] = rand(HIDDEN, INTERMEDIATE)
    block["_intermediate_dense/bias"] = rand(INTERMEDIATE)
    block["_output_dense/kernel"] = rand(INTERMEDIATE, HIDDEN)
    block["_output_dense/bias"] = rand(HIDDEN)
    layers[4 + i] = block
  layers[4 + LAYERS] = {"kernel": rand(HIDDEN, HIDDEN), "bias": rand(HIDDEN)}
  return layers


def write_model_garden_checkpoint(prefix, layers, owner="encoder"):
  """A tf.train.Checkpoint with BertEncoder's object-graph key layout.

  Keras tracks a functional model's layers as `layer_with_weights-N` and
  their sublayers under their attribute names; tf.Module children give the
  same keys, e.g. encoder/layer_with_weights-4/_attention_layer/_query_dense/
  kernel/.ATTRIBUTES/VARIABLE_VALUE.
  """
  assert tf.executing_eagerly()
  encoder = tf.Module()
  for index, paths in layers.items():
    layer = tf.Module()
    for path, value in paths.items():
      parent = layer
      parts = path.split("/")
      for part in parts[:-1]:
        if not hasattr(parent, part):
          setattr(parent, part, tf.Module())
        parent = getattr(parent, part)
      setattr(parent, parts[-1], tf.Variable(value))
    setattr(encoder, "layer_with_weights-%d" % index, layer)
  root = encoder
  for part in reversed(owner.split("/")[1:]):
    wrapper = tf.Module()
    setattr(wrapper, part, root)
    root = wrapper
  optimizer = tf.Module()
  optimizer.iter = tf.Variable(100, dtype=tf.int64)
  tf.train.Checkpoint(**{owner.split("/")[0]: root,
                         "optimizer": optimizer}).write(str(prefix))


@pytest.mark.parametrize("owner", ["encoder", "model/layer_with_weights-0"])
def test_model_garden_to_bert(tmp_path, owner):
  layers = model_garden_layers()
  src = tmp_path / "tf2"
  src.mkdir()
  write_model_garden_checkpoint(src / "bert_model.ckpt", layers, owner)
  write_vocab(src / "vocab.txt")
  keys = [k for k, _ in tf.train.list_variables(str(src / "bert_model.ckpt"))]
  assert (owner + "/layer_with_weights-4/_attention_layer/_query_dense/kernel"
          "/.ATTRIBUTES/VARIABLE_VALUE") in keys

  out = convert_checkpoint.convert("model_garden_to_bert", str(src),
                                   str(tmp_path / "bert"))

  ckpt = load_checkpoint(out + "/bert_model.ckpt")
  with open(out + "/bert_config.json") as f:
    config = json.load(f)
  assert config == bert_config_dict()  # Read off the shapes.
  assert sorted(ckpt) == sorted(convert_checkpoint.expected_shapes(
      modeling.BertConfig.from_dict(config)))
  np.testing.assert_array_equal(ckpt["bert/embeddings/position_embeddings"],
                                layers[1]["embeddings"])
  np.testing.assert_array_equal(ckpt["bert/embeddings/token_type_embeddings"],
                                layers[2]["embeddings"])
  np.testing.assert_array_equal(
      ckpt["bert/encoder/layer_1/output/dense/kernel"],
      layers[5]["_output_dense/kernel"])
  np.testing.assert_array_equal(ckpt["bert/pooler/dense/kernel"],
                                layers[6]["kernel"])

  # Attention: Model Garden's einsums against BertModel's matmul and split.
  rng = np.random.RandomState(0)
  x = rng.normal(size=(2, 5, HIDDEN)).astype(np.float32)
  block = layers[4]
  size = HIDDEN // HEADS
  for name in ("query", "key", "value"):
    mg = np.einsum("bsh,hnd->bsnd", x,
                   block["_attention_layer/_%s_dense/kernel" % name])
    mg += block["_attention_layer/_%s_dense/bias" % name]
    base = "bert/encoder/layer_0/attention/self/%s/" % name
    ours = (x @ ckpt[base + "kernel"] + ckpt[base + "bias"]).reshape(
        2, 5, HEADS, size)
    np.testing.assert_allclose(ours, mg, atol=1e-5)
  context = rng.normal(size=(2, 5, HEADS, size)).astype(np.float32)
  mg = np.einsum("bsnd,ndh->bsh", context,
                 block["_attention_layer/_output_dense/kernel"])
  base = "bert/encoder/layer_0/attention/output/dense/"
  ours = context.reshape(2, 5, HIDDEN) @ ckpt[base + "kernel"]
  np.testing.assert_allclose(ours, mg, atol=1e-5)


def test_model_garden_uses_its_bert_config(tmp_path):
  src = tmp_path / "tf2"
  src.mkdir()
  write_model_garden_checkpoint(src / "ckpt-7", model_garden_layers())
  write_vocab(src / "vocab.txt")
  write_json(src / "bert_config.json", bert_config_dict(
      hidden_act="gelu_exact"))
  out = convert_checkpoint.convert("model_garden_to_bert", str(src),
                                   str(tmp_path / "bert"))
  with open(out + "/bert_config.json") as f:
    assert json.load(f)["hidden_act"] == "gelu_exact"

  write_json(src / "bert_config.json", bert_config_dict(num_attention_heads=2))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"4 attention heads"):
    convert_checkpoint.convert("model_garden_to_bert", str(src),
                               str(tmp_path / "bert2"))


def test_model_garden_missing_variable_is_named(tmp_path):
  layers = model_garden_layers()
  del layers[5]["_intermediate_dense/bias"]
  src = tmp_path / "tf2"
  src.mkdir()
  write_model_garden_checkpoint(src / "bert_model.ckpt", layers)
  write_vocab(src / "vocab.txt")
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"encoder/layer_with_weights-5/_intermediate_dense"
                     r"/bias"):
    convert_checkpoint.convert("model_garden_to_bert", str(src),
                               str(tmp_path / "bert"))
  assert not leftovers(tmp_path, "bert")


def test_model_garden_factorised_embeddings_are_refused(tmp_path):
  layers = model_garden_layers()
  # embedding_width != hidden size puts a projection before the blocks.
  shifted = dict((i + 1 if i >= 4 else i, paths)
                 for i, paths in layers.items())
  shifted[4] = {"kernel": np.zeros((8, HIDDEN), np.float32),
                "bias": np.zeros(HIDDEN, np.float32)}
  src = tmp_path / "tf2"
  src.mkdir()
  write_model_garden_checkpoint(src / "bert_model.ckpt", shifted)
  write_vocab(src / "vocab.txt")
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"factorised embeddings"):
    convert_checkpoint.convert("model_garden_to_bert", str(src),
                               str(tmp_path / "bert"))


def test_model_garden_rejects_other_checkpoints(tmp_path):
  src = make_original_dir(tmp_path / "src")
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"Model Garden BertEncoder"):
    convert_checkpoint.convert("model_garden_to_bert", src,
                               str(tmp_path / "bert"))


# --- safetensors -------------------------------------------------------------


def test_safetensors_files_match_the_package(tmp_path):
  st = bert_testing.require_optional("safetensors.numpy",
                                     "pip install safetensors")
  rng = np.random.RandomState(0)
  tensors = {"b.weight": rng.normal(size=(3, 4)).astype(np.float32),
             "a.bias": rng.normal(size=(4,)).astype(np.float32),
             "z": np.zeros((0, 2), np.float32)}
  ours, theirs = str(tmp_path / "ours.st"), str(tmp_path / "theirs.st")
  convert_checkpoint.write_safetensors(ours, tensors, {"format": "pt"})
  st.save_file(tensors, theirs, metadata={"format": "pt"})
  with open(ours, "rb") as a, open(theirs, "rb") as b:
    assert a.read() == b.read()

  mixed = {"ids": np.arange(6, dtype=np.int64).reshape(2, 3),
           "half": rng.normal(size=(2, 2)).astype(np.float16),
           "w": rng.normal(size=(5,)).astype(np.float64)}
  st.save_file(mixed, theirs)
  read = convert_checkpoint.read_safetensors(theirs)
  convert_checkpoint.write_safetensors(ours, mixed)
  read_back = st.load_file(ours)
  for name, value in mixed.items():
    for got in (read[name], read_back[name]):
      assert got.dtype == value.dtype
      np.testing.assert_array_equal(got, value)


def test_safetensors_bfloat16_is_widened_exactly(tmp_path):
  values = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)
  raw = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
  header = json.dumps({"x": {"dtype": "BF16", "shape": [2, 2],
                             "data_offsets": [0, len(raw)]}}).encode()
  path = str(tmp_path / "bf16.safetensors")
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + raw)
  got = convert_checkpoint.read_safetensors(path)["x"]
  assert got.dtype == np.float32
  np.testing.assert_array_equal(got, values.reshape(2, 2))


def test_truncated_safetensors_is_an_error(tmp_path):
  hf_dir = make_hf_dir(tmp_path / "hf")
  path = hf_dir + "/model.safetensors"
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:len(data) // 2])
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"safetensors: tensor .* the file is truncated"):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(tmp_path / "bert"))
  assert not leftovers(tmp_path, "bert")


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("model_type", ["roberta", "distilbert"])
def test_other_architectures_are_rejected(tmp_path, model_type):
  hf_dir = make_hf_dir(tmp_path / "hf", config=hf_config_dict(
      model_type=model_type, architectures=["RobertaModel"]))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"config.json is a '%s' model" % model_type):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(tmp_path / "bert"))
  assert not leftovers(tmp_path, "bert")


@pytest.mark.parametrize("overrides,message", [
    ({"layer_norm_eps": 1e-5}, r"layer_norm_eps=1e-05"),
    ({"hidden_act": "silu"}, r"hidden_act='silu'"),
    ({"position_embedding_type": "relative_key"}, r"position_embedding_type"),
])
def test_hf_configs_the_original_cannot_express(tmp_path, overrides,
                                                 message):
  hf_dir = make_hf_dir(tmp_path / "hf", config=hf_config_dict(**overrides))
  with pytest.raises(convert_checkpoint.ConversionError, match=message):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(tmp_path / "bert"))


def test_hf_weights_that_disagree_with_the_config(tmp_path):
  hf_dir = make_hf_dir(tmp_path / "hf",
                       config=hf_config_dict(intermediate_size=48))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"bert/encoder/layer_0/intermediate/dense/kernel "
                     r"has shape \[16, 32\] but the config needs \[16, 48\]"):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(tmp_path / "bert"))

  hf_dir = make_hf_dir(tmp_path / "hf3", random_hf_weights(layers=3))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"weight encoder.layer.2.\S+, which a BERT encoder "
                     r"with num_hidden_layers=2 does not have"):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(tmp_path / "bert"))

  weights = random_hf_weights()
  del weights["pooler.dense.bias"]
  hf_dir = make_hf_dir(tmp_path / "nopool", weights)
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"no weight pooler.dense.bias"):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(tmp_path / "bert"))
  assert not leftovers(tmp_path, "bert")


def test_vocab_that_disagrees_with_the_embeddings(tmp_path):
  hf_dir = make_hf_dir(tmp_path / "hf", vocab=VOCAB + ["extra"])
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"vocab.txt has 17 tokens but the word embedding "
                     r"table has 16 rows"):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(tmp_path / "bert"))

  src = make_original_dir(tmp_path / "src")
  write_vocab(os.path.join(src, "vocab.txt"), VOCAB[:-1])
  with pytest.raises(convert_checkpoint.ConversionError, match=r"vocab.txt"):
    convert_checkpoint.convert("bert_to_hf", src, str(tmp_path / "bert"))
  assert not leftovers(tmp_path, "bert")


def test_checkpoint_that_disagrees_with_bert_config(tmp_path):
  src = make_original_dir(tmp_path / "src")
  write_json(os.path.join(src, "bert_config.json"),
             bert_config_dict(max_position_embeddings=32))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"bert/embeddings/position_embeddings has shape "
                     r"\[20, 16\] but the config needs \[32, 16\]"):
    convert_checkpoint.convert("bert_to_hf", src, str(tmp_path / "hf"))

  write_json(os.path.join(src, "bert_config.json"),
             bert_config_dict(num_hidden_layers=1))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"bert/encoder/layer_1/\S+, which the encoder of "
                     r"bert_config.json \(num_hidden_layers=1\) does not"):
    convert_checkpoint.convert("bert_to_hf", src, str(tmp_path / "hf"))

  write_json(os.path.join(src, "bert_config.json"),
             bert_config_dict(num_hidden_layers=3))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"no variable bert/encoder/layer_2/"):
    convert_checkpoint.convert("bert_to_hf", src, str(tmp_path / "hf"))
  assert not leftovers(tmp_path, "hf")


@pytest.mark.parametrize("direction,missing", [
    ("hf_to_bert", "config.json"),
    ("hf_to_bert", "vocab.txt"),
    ("hf_to_bert", "model.safetensors"),
    ("bert_to_hf", "bert_config.json"),
    ("bert_to_hf", "vocab.txt"),
    ("bert_to_hf", "bert_model.ckpt.index"),
])
def test_missing_files_are_named(tmp_path, direction, missing):
  if direction == "hf_to_bert":
    src = make_hf_dir(tmp_path / "src")
  else:
    src = make_original_dir(tmp_path / "src")
  os.remove(os.path.join(src, missing))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"Missing file .*%s" % missing.replace(".", r"\.")):
    convert_checkpoint.convert(direction, src, str(tmp_path / "out"))
  assert not leftovers(tmp_path, "out")


def test_input_checkpoint_is_refused_with_hf_to_bert(tmp_path):
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"--input_checkpoint is not used"):
    convert_checkpoint.convert("hf_to_bert", make_hf_dir(tmp_path / "hf"),
                               str(tmp_path / "bert"),
                               input_checkpoint="/x/model.ckpt-1")


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
  def fail(weights, prefix):
    with open(prefix + ".index", "w") as f:
      f.write("half")
    raise IOError("disk full")

  monkeypatch.setattr(convert_checkpoint, "write_bert_checkpoint", fail)
  with pytest.raises(IOError, match="disk full"):
    convert_checkpoint.convert("hf_to_bert", make_hf_dir(tmp_path / "hf"),
                               str(tmp_path / "bert"))
  assert not leftovers(tmp_path, "bert")


def test_existing_output_needs_overwrite(tmp_path):
  hf_dir = make_hf_dir(tmp_path / "hf")
  out = tmp_path / "bert"
  out.mkdir()  # An empty directory is fine.
  convert_checkpoint.convert("hf_to_bert", hf_dir, str(out))
  with pytest.raises(command_line.UserError,
                     match=r"not empty; choose a new directory or pass "
                     r"--overwrite"):
    convert_checkpoint.convert("hf_to_bert", hf_dir, str(out))
  (out / "stale.txt").write_text("old")
  convert_checkpoint.convert("hf_to_bert", hf_dir, str(out), overwrite=True)
  assert "stale.txt" not in os.listdir(str(out))
  assert leftovers(tmp_path, "bert") == ["bert"]


# --- the command -------------------------------------------------------------


def test_command_line_needs_no_optional_package(tmp_path):
  """The script runs, as a user types it, with torch and safetensors absent."""
  hf_dir = make_hf_dir(tmp_path / "hf")
  argv = ["convert_checkpoint.py", "--direction=hf_to_bert",
          "--input_dir=%s" % hf_dir, "--output_dir=%s" % (tmp_path / "bert")]
  code = ("import runpy, sys; sys.modules['torch'] = None; "
          "sys.modules['safetensors'] = None; sys.argv = %r; "
          "runpy.run_path('convert_checkpoint.py', run_name='__main__')" %
          argv)
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, cwd=bert_testing.ROOT, timeout=300,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert sorted(os.listdir(str(tmp_path / "bert"))) == [
      "bert_config.json", "bert_model.ckpt.data-00000-of-00001",
      "bert_model.ckpt.index", "vocab.txt"]


def test_command_line_error_is_one_clear_line(tmp_path):
  src = make_hf_dir(tmp_path / "hf", config=hf_config_dict(
      model_type="roberta"))
  proc = bert_testing.run_script("convert_checkpoint.py", [
      "--direction=hf_to_bert", "--input_dir=%s" % src,
      "--output_dir=%s" % (tmp_path / "bert")])
  assert proc.returncode != 0
  assert "convert_checkpoint.py: error: " in proc.stderr
  assert "is a 'roberta' model" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not leftovers(tmp_path, "bert")


# --- fine-tuned heads to Hugging Face task classes ---------------------------


def torch_bert_task_forward(tensors, config, input_ids, token_type_ids,
                            attention_mask, architecture):
  """Hugging Face's task classes' forward pass, written out in torch (the
  optional extra CI installs) over the converted file's names.

  Returns the logits: [batch, labels] (sequence), [batch, seq, labels]
  (token), or (start, end) [batch, seq] (question answering).
  """
  torch = bert_testing.require_optional("torch", "pip install torch")
  fn = torch.nn.functional
  w = {k: torch.tensor(v, dtype=torch.float64) for k, v in tensors.items()}
  ids = torch.tensor(input_ids)
  batch, seq = ids.shape
  heads = config["num_attention_heads"]
  size = config["hidden_size"] // heads

  def linear(x, name):
    return x @ w[name + ".weight"].T + w[name + ".bias"]

  def norm(x, name):
    return fn.layer_norm(x, x.shape[-1:], w[name + ".weight"],
                         w[name + ".bias"], eps=config["layer_norm_eps"])

  def split(t):
    return t.reshape(batch, seq, heads, size).transpose(1, 2)

  b = "bert."
  x = (w[b + "embeddings.word_embeddings.weight"][ids] +
       w[b + "embeddings.position_embeddings.weight"][:seq][None] +
       w[b + "embeddings.token_type_embeddings.weight"][
           torch.tensor(token_type_ids)])
  x = norm(x, b + "embeddings.LayerNorm")
  blocked = (1.0 - torch.tensor(attention_mask, dtype=torch.float64)) * -1e4
  act = {"gelu": lambda t: fn.gelu(t, approximate="tanh"),
         "gelu_new": lambda t: fn.gelu(t, approximate="tanh")}.get(
             config["hidden_act"], fn.gelu)
  for i in range(config["num_hidden_layers"]):
    p = b + "encoder.layer.%d." % i
    scores = (split(linear(x, p + "attention.self.query")) @
              split(linear(x, p + "attention.self.key")).transpose(-1, -2))
    probs = torch.softmax(scores / math.sqrt(size) + blocked[:, None, None],
                          dim=-1)
    context = (probs @ split(linear(x, p + "attention.self.value"))
               ).transpose(1, 2).reshape(batch, seq, -1)
    x = norm(x + linear(context, p + "attention.output.dense"),
             p + "attention.output.LayerNorm")
    x = norm(x + linear(act(linear(x, p + "intermediate.dense")),
                        p + "output.dense"), p + "output.LayerNorm")
  if architecture == "BertForSequenceClassification":
    pooled = torch.tanh(linear(x[:, 0], b + "pooler.dense"))
    return linear(pooled, "classifier").numpy()
  if architecture == "BertForTokenClassification":
    return linear(x, "classifier").numpy()
  start, end = linear(x, "qa_outputs").split(1, dim=-1)
  return start.squeeze(-1).numpy(), end.squeeze(-1).numpy()


def tf_head_logits(bert_dir, kind, input_ids, token_type_ids, input_mask):
  """The scripts' own heads, restored from the original checkpoint."""
  import run_classifier  # pylint: disable=g-import-not-at-top
  import run_squad  # pylint: disable=g-import-not-at-top
  config = modeling.BertConfig.from_json_file(
      os.path.join(bert_dir, "bert_config.json"))
  with tf.Graph().as_default():
    args = [tf.constant(v, tf.int32) for v in (input_ids, input_mask,
                                               token_type_ids)]
    if kind == "sequence_classification":
      logits = run_classifier.create_model(
          config, False, args[0], args[1], args[2],
          tf.zeros([len(input_ids)], tf.int32), 3, False)[2]
    elif kind == "question_answering":
      logits = run_squad.create_model(config, False, args[0], args[1],
                                      args[2], use_one_hot_embeddings=False)
    else:  # run_ner's head: one layer over the sequence output.
      sequence = modeling.BertModel(
          config, False, args[0], args[1], args[2]).get_sequence_output()
      weights = tf.get_variable("output_weights", [4, HIDDEN])
      bias = tf.get_variable("output_bias", [4])
      logits = tf.einsum("bsh,lh->bsl", sequence, weights) + bias
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, os.path.join(bert_dir,
                                                  "bert_model.ckpt"))
      return sess.run(logits)


HEAD_CASES = {
    # kind: (head variables, label names, labels file kind)
    "sequence_classification": (
        {"output_weights": (3, HIDDEN), "output_bias": (3,)},
        ["contradiction", "entailment", "neutral"], "json"),
    "question_answering": (
        {"cls/squad/output_weights": (2, HIDDEN),
         "cls/squad/output_bias": (2,)}, None, None),
    "token_classification": (
        {"output_weights": (4, HIDDEN), "output_bias": (4,)},
        ["O", "B-PER", "I-PER", "B-LOC"], "label_list"),
}


@pytest.mark.parametrize("kind", sorted(HEAD_CASES))
def test_bert_to_hf_head_logits_equal_torch_forward(tmp_path, kind):
  head_shapes, labels, labels_kind = HEAD_CASES[kind]
  rng = np.random.RandomState(5)
  # Moderate weights keep activations, and so float32 error, small.
  weights = {k: 0.5 * v for k, v in random_original_weights(seed=3).items()}
  # Slots and global_step as fine-tuning leaves them, then this head.
  extra = {k: v for k, v in fine_tuning_leftovers(weights).items()
           if not k.startswith("output_")}
  extra.update({k: rng.normal(size=s).astype(np.float32) * 0.5
                for k, s in head_shapes.items()})
  src = make_original_dir(tmp_path / "src", weights=weights, extra=extra)
  labels_file = None
  if labels_kind == "json":
    labels_file = str(tmp_path / "bert_export.json")
    write_json(labels_file, {"format": "bert-savedmodel", "task":
                             "classification", "labels": labels})
  elif labels_kind == "label_list":  # run_ner writes it beside checkpoints.
    with open(os.path.join(src, "label_list.txt"), "w") as f:
      f.write("\n".join(labels) + "\n")
  out = str(tmp_path / "hf")
  convert_checkpoint.convert("bert_to_hf", src, out, head="auto",
                             labels_file=labels_file)
  tensors = convert_checkpoint.read_safetensors(os.path.join(out,
                                                             "model.safetensors"))
  with open(os.path.join(out, "config.json")) as f:
    hf_config = json.load(f)
  architecture = convert_checkpoint.HEADS[kind][1]
  assert hf_config["architectures"] == [architecture]
  if labels:
    assert hf_config["id2label"] == {str(i): l for i, l in enumerate(labels)}
    assert hf_config["label2id"] == {l: i for i, l in enumerate(labels)}
  assert all(k.startswith(("bert.", "classifier.", "qa_outputs."))
             for k in tensors)
  assert any(k.startswith("bert.pooler.") for k in tensors) == (
      kind == "sequence_classification")
  input_ids = np.array([[2, 5, 6, 7, 3, 0], [2, 7, 6, 3, 5, 3]])
  token_type_ids = np.array([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]])
  input_mask = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
  want = tf_head_logits(src, kind, input_ids, token_type_ids, input_mask)
  got = torch_bert_task_forward(tensors, hf_config, input_ids, token_type_ids,
                                input_mask, architecture)
  want, got = np.array(want), np.array(got)
  assert want.shape == got.shape
  diff = np.abs(want - got).max()
  print("%s: max |TF head - torch HF layout| = %.2g (logits up to %.2f)" %
        (kind, diff, np.abs(want).max()))
  assert diff < 1e-4
  assert np.abs(want).max() > 100 * 1e-4  # Not all near zero.


def test_head_auto_on_a_file_task_classifier_is_a_sequence_head(tmp_path):
  """A --task_name=file single-label run_classifier output directory (which
  also holds label_list.txt) converts to BertForSequenceClassification:
  --head=auto reads the kind from task.json (issue 23, bug 2: the old code
  took label_list.txt for run_ner's and wrote BertForTokenClassification)."""
  task = tmp_path / "task"
  task.mkdir()
  rows = ["the cat sat,pos", "the dog ran,neg", "a cat ran,pos",
          "a dog sat,neg"] * 2
  (task / "train.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
  vocab = bert_testing.write_vocab(str(task / "vocab.txt"),
                                   [r.split(",")[0] for r in rows])
  bert_testing.write_config(str(task / "bert_config.json"), len(vocab))
  out = tmp_path / "out"
  proc = bert_testing.run_script("run_classifier.py", [
      "--task_name=file", "--data_dir=%s" % task, "--do_train",
      "--vocab_file=%s" % (task / "vocab.txt"),
      "--bert_config_file=%s" % (task / "bert_config.json"),
      "--output_dir=%s" % out, "--max_seq_length=8",
      "--train_batch_size=4", "--num_train_epochs=1"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert (out / "label_list.txt").read_text() == "neg\npos\n"
  hf = str(tmp_path / "hf")
  convert_checkpoint.convert(
      "bert_to_hf", str(task), hf, head="auto",
      input_checkpoint=tf.train.latest_checkpoint(str(out)))
  with open(os.path.join(hf, "config.json")) as f:
    hf_config = json.load(f)
  assert hf_config["architectures"] == ["BertForSequenceClassification"]
  assert hf_config["id2label"] == {"0": "neg", "1": "pos"}
  assert "problem_type" not in hf_config


@pytest.mark.parametrize("kind,architecture,extra_config", [
    ("multi_label", "BertForSequenceClassification",
     {"problem_type": "multi_label_classification"}),
    ("token_classification", "BertForTokenClassification", {}),
    (None, "BertForTokenClassification", {}),  # label_list.txt alone (old).
])
def test_head_auto_follows_task_json_else_label_list(tmp_path, kind,
                                                     architecture,
                                                     extra_config):
  import task_description  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(1)
  src = make_original_dir(tmp_path / "src", extra={
      "output_weights": rng.normal(size=(2, HIDDEN)).astype(np.float32),
      "output_bias": np.zeros(2, np.float32)})
  if kind:
    task_description.write(src, task_description.TaskDescription(
        kind=kind, labels=["a", "b"]))
  else:
    with open(os.path.join(src, "label_list.txt"), "w") as f:
      f.write("a\nb\n")
  hf = str(tmp_path / "hf")
  convert_checkpoint.convert("bert_to_hf", src, hf, head="auto")
  with open(os.path.join(hf, "config.json")) as f:
    hf_config = json.load(f)
  assert hf_config["architectures"] == [architecture]
  assert hf_config["id2label"] == {"0": "a", "1": "b"}
  for key, value in extra_config.items():
    assert hf_config[key] == value


def test_bert_to_hf_head_auto_without_head_fails(tmp_path):
  src = make_original_dir(tmp_path / "src")
  with pytest.raises(convert_checkpoint.ConversionError,
                     match="has no task head"):
    convert_checkpoint.convert("bert_to_hf", src, str(tmp_path / "hf"),
                               head="auto")
  assert not (tmp_path / "hf").exists()
