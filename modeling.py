"""The BERT encoder as a `tf.compat.v1` graph, checkpoint-compatible with Google's.

Public names, argument orders and variable scopes follow the original
google-research `modeling.py`, so that an official checkpoint restores into
this graph variable for variable (`bert/embeddings/word_embeddings`,
`bert/encoder/layer_0/attention/self/query/kernel`, `.../LayerNorm/gamma`,
`bert/pooler/dense/kernel`, ...) and code written against the original keeps
working.

No `tf.contrib` is needed: layer normalisation and dense layers are defined here
and create the variables `LayerNorm/{beta,gamma}` and `dense/{kernel,bias}` that
`tf.contrib.layers.layer_norm` and `tf.layers.dense` created.

Beyond the original, `BertModel(..., compute_type=tf.bfloat16)` runs the
encoder's matrix multiplications in a 16-bit type while the variables, the
layer-norm statistics, the softmax and every returned tensor stay float32,
and `set_dropout_seed` makes every dropout mask of a graph a pure function of
(seed, step, call site), so that a resumed training run repeats them.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import copy
import json
import math
import re

import six
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

# The keys of an official `bert_config.json`, in the constructor's order.
CONFIG_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers",
               "num_attention_heads", "intermediate_size", "hidden_act",
               "hidden_dropout_prob", "attention_probs_dropout_prob",
               "max_position_embeddings", "type_vocab_size",
               "initializer_range")

# Keys found in the official multilingual and Chinese configs that the model
# never read; accepted so that those files load, and otherwise ignored.
IGNORED_CONFIG_KEYS = ("directionality", "pooler_fc_size",
                       "pooler_num_attention_heads", "pooler_num_fc_layers",
                       "pooler_size_per_head", "pooler_type")

# contrib's layer_norm used this epsilon; other values change the outputs.
LAYER_NORM_EPSILON = 1e-12

# Added to the attention scores of positions a token may not attend to.
MASK_ADDER = -10000.0


class BertConfig(object):
  """Hyper-parameters of a `BertModel`, as stored in `bert_config.json`."""

  def __init__(self,
               vocab_size,
               hidden_size=768,
               num_hidden_layers=12,
               num_attention_heads=12,
               intermediate_size=3072,
               hidden_act="gelu",
               hidden_dropout_prob=0.1,
               attention_probs_dropout_prob=0.1,
               max_position_embeddings=512,
               type_vocab_size=16,
               initializer_range=0.02):
    """Builds a config; the defaults are those of BERT-Base.

    Args:
      vocab_size: number of rows of the word embedding table.
      hidden_size: width of every encoder layer and of the pooler.
      num_hidden_layers: number of Transformer blocks.
      num_attention_heads: heads per self-attention layer; must divide
        `hidden_size`.
      intermediate_size: width of the feed-forward layer inside each block.
      hidden_act: activation of the feed-forward layer: "gelu" (the tanh
        approximation of the original), "gelu_exact" (the erf form that
        Hugging Face and Model Garden call gelu), "relu", "tanh", "linear",
        or a callable.
      hidden_dropout_prob: dropout rate on embeddings and block outputs.
      attention_probs_dropout_prob: dropout rate on attention probabilities.
      max_position_embeddings: rows of the position table, i.e. the longest
        sequence the model accepts.
      type_vocab_size: rows of the token-type (segment) table.
      initializer_range: stddev of the truncated normal initialiser.
    """
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.num_hidden_layers = num_hidden_layers
    self.num_attention_heads = num_attention_heads
    self.hidden_act = hidden_act
    self.intermediate_size = intermediate_size
    self.hidden_dropout_prob = hidden_dropout_prob
    self.attention_probs_dropout_prob = attention_probs_dropout_prob
    self.max_position_embeddings = max_position_embeddings
    self.type_vocab_size = type_vocab_size
    self.initializer_range = initializer_range

  @classmethod
  def from_dict(cls, json_object):
    """Builds a config from a dict; unknown keys are an error, not ignored.

    A misspelt key would otherwise leave its default in place and silently
    build a model that does not match the checkpoint.
    """
    unknown = sorted(k for k in json_object
                     if k not in CONFIG_KEYS and k not in IGNORED_CONFIG_KEYS)
    if unknown:
      raise ValueError("Unknown BERT config key(s) %s; the known keys are %s." %
                       (", ".join(unknown), ", ".join(CONFIG_KEYS)))
    if json_object.get("vocab_size") is None:
      raise ValueError("The BERT config has no `vocab_size`; it is required.")
    config = cls(vocab_size=json_object["vocab_size"])
    for key in CONFIG_KEYS:
      if key in json_object:
        setattr(config, key, json_object[key])
    return config

  @classmethod
  def from_json_file(cls, json_file):
    """Reads `bert_config.json`; every key of `CONFIG_KEYS` must be present.

    A file that leaves a key out is reported rather than completed with a
    default: a default that differs from the checkpoint's true value would
    give wrong outputs without any error.
    """
    if not tf.io.gfile.exists(json_file):
      raise ValueError("BERT config file %s does not exist "
                       "(check --bert_config_file)." % json_file)
    with tf.io.gfile.GFile(json_file, "r") as reader:
      text = reader.read()
    try:
      json_object = json.loads(text)
    except ValueError as e:
      raise ValueError("BERT config file %s is not valid JSON: %s" %
                       (json_file, e))
    if not isinstance(json_object, dict):
      raise ValueError("BERT config file %s must hold a JSON object, not %s." %
                       (json_file, type(json_object).__name__))
    missing = [k for k in CONFIG_KEYS if k not in json_object]
    if missing:
      raise ValueError("BERT config file %s is missing key(s) %s." %
                       (json_file, ", ".join(missing)))
    try:
      return cls.from_dict(json_object)
    except ValueError as e:
      raise ValueError("BERT config file %s: %s" % (json_file, e))

  def to_dict(self):
    """Returns a deep copy of the hyper-parameters as a dict."""
    return copy.deepcopy(self.__dict__)

  def to_json_string(self):
    """Returns the config as indented JSON, the layout of the official files."""
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


class BertModel(object):
  """The BERT encoder: embeddings, a Transformer stack and the pooler.

  ```python
  model = modeling.BertModel(config=config, is_training=True,
      input_ids=input_ids, input_mask=input_mask, token_type_ids=segment_ids)
  pooled = model.get_pooled_output()        # [batch, hidden]
  sequence = model.get_sequence_output()    # [batch, seq, hidden]
  ```
  """

  def __init__(self,
               config,
               is_training,
               input_ids,
               input_mask=None,
               token_type_ids=None,
               use_one_hot_embeddings=False,
               scope=None,
               compute_type=tf.float32):
    """Builds the graph of the encoder.

    Args:
      config: a `BertConfig`.
      is_training: dropout is applied only when True.
      input_ids: int32 [batch_size, seq_length] wordpiece ids.
      input_mask: optional int32 [batch_size, seq_length], 1 for real tokens
        and 0 for padding; all ones when omitted.
      token_type_ids: optional int32 [batch_size, seq_length] segment ids; all
        zeros when omitted.
      use_one_hot_embeddings: look words up by a one-hot matmul (faster on
        TPU) instead of `tf.gather`.
      scope: variable scope, "bert" by default.
      compute_type: tf.float32, tf.bfloat16 or tf.float16, the type of the
        encoder's matrix multiplications. Outputs are float32 in every case.

    Raises:
      ValueError: the config or an input shape is invalid.
    """
    config = copy.deepcopy(config)
    if not is_training:
      config.hidden_dropout_prob = 0.0
      config.attention_probs_dropout_prob = 0.0

    batch_size, seq_length = get_shape_list(input_ids, expected_rank=2)
    if input_mask is None:
      input_mask = tf.ones(shape=[batch_size, seq_length], dtype=tf.int32)
    if token_type_ids is None:
      token_type_ids = tf.zeros(shape=[batch_size, seq_length], dtype=tf.int32)

    with tf.variable_scope(scope, default_name="bert"):
      with tf.variable_scope("embeddings"):
        (self.word_embedding_output, self.embedding_table) = embedding_lookup(
            input_ids=input_ids,
            vocab_size=config.vocab_size,
            embedding_size=config.hidden_size,
            initializer_range=config.initializer_range,
            word_embedding_name="word_embeddings",
            use_one_hot_embeddings=use_one_hot_embeddings)
        self.embedding_output = embedding_postprocessor(
            input_tensor=self.word_embedding_output,
            use_token_type=True,
            token_type_ids=token_type_ids,
            token_type_vocab_size=config.type_vocab_size,
            token_type_embedding_name="token_type_embeddings",
            use_position_embeddings=True,
            position_embedding_name="position_embeddings",
            initializer_range=config.initializer_range,
            max_position_embeddings=config.max_position_embeddings,
            dropout_prob=config.hidden_dropout_prob,
            for_inference=not is_training)

      with tf.variable_scope("encoder"):
        attention_mask = create_attention_mask_from_input_mask(
            input_ids, input_mask)
        layers = transformer_model(
            input_tensor=tf.cast(self.embedding_output, compute_type),
            attention_mask=attention_mask,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            intermediate_act_fn=get_activation(config.hidden_act),
            hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob,
            initializer_range=config.initializer_range,
            do_return_all_layers=True,
            for_inference=not is_training)
        # Task heads and losses are written for float32 inputs.
        self.all_encoder_layers = [tf.cast(x, tf.float32) for x in layers]

      self.sequence_output = self.all_encoder_layers[-1]
      with tf.variable_scope("pooler"):
        # The pooled representation is the [CLS] position passed through one
        # tanh layer, which pre-training's next-sentence task trains.
        first_token = tf.squeeze(self.sequence_output[:, 0:1, :], axis=1)
        self.pooled_output = dense_layer(
            first_token,
            config.hidden_size,
            activation=tf.tanh,
            kernel_initializer=create_initializer(config.initializer_range))

  def get_pooled_output(self):
    """float32 [batch_size, hidden_size]: the pooled [CLS] representation."""
    return self.pooled_output

  def get_sequence_output(self):
    """float32 [batch_size, seq_length, hidden_size]: the last layer."""
    return self.sequence_output

  def get_all_encoder_layers(self):
    """A list of every block's output, first to last."""
    return self.all_encoder_layers

  def get_word_embedding_output(self):
    """[batch_size, seq_length, hidden_size]: the word-piece embeddings alone,
    before segment and position embeddings, layer norm and dropout (1.0.4)."""
    return self.word_embedding_output

  def get_embedding_output(self):
    """The summed, normalised embeddings that enter the first block."""
    return self.embedding_output

  def get_embedding_table(self):
    """The [vocab_size, hidden_size] word embedding variable."""
    return self.embedding_table


def gelu(x):
  """GELU, tanh approximation (https://arxiv.org/abs/1606.08415), as original.

  Written as `0.5 * x * (1 + tanh(...x * x * x...))` because that is the
  form TF's grappler remapper recognises after a matmul and bias and folds
  into one oneDNN `_FusedMatMul` with a GELU epilogue; the original's
  `x * (0.5 * (...tf.pow(x, 3)...))` equals it within float rounding but
  is left as six separate element-wise ops over the whole intermediate
  activation.
  """
  inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
  return 0.5 * x * (1.0 + tf.tanh(inner))


def gelu_exact(x):
  """GELU in its exact erf form, which other ecosystems call "gelu"."""
  return x * (0.5 * (1.0 + tf.math.erf(x / math.sqrt(2.0))))


_ACTIVATIONS = {
    "linear": None,
    "relu": tf.nn.relu,
    "gelu": gelu,
    "gelu_exact": gelu_exact,
    "tanh": tf.tanh,
}


def get_activation(activation_string):
  """Returns the activation function that a config names.

  A non-string is returned as it is (it is taken to be a function already);
  None, "" and "linear" give None.

  Raises:
    ValueError: the name is not a known activation.
  """
  if not isinstance(activation_string, six.string_types):
    return activation_string
  if not activation_string:
    return None
  name = activation_string.lower()
  if name not in _ACTIVATIONS:
    raise ValueError("Unsupported activation: %s (expected one of %s)" %
                     (name, ", ".join(sorted(_ACTIVATIONS))))
  return _ACTIVATIONS[name]


def get_assignment_map_from_checkpoint(tvars, init_checkpoint):
  """Pairs the graph's variables with the checkpoint's by name.

  Args:
    tvars: variables of the graph (usually `tf.trainable_variables()`).
    init_checkpoint: path or prefix of the checkpoint.

  Returns:
    (assignment_map, initialized_variable_names): an ordered map from
    checkpoint name to the same graph name, for
    `tf.train.init_from_checkpoint`, and a dict whose keys are the matched
    names both with and without the ":0" suffix.
  """
  graph_names = set(_variable_name(v.name) for v in tvars)
  assignment_map = collections.OrderedDict()
  initialized_variable_names = {}
  for name, _ in tf.train.list_variables(init_checkpoint):
    if name in graph_names:
      assignment_map[name] = name
      initialized_variable_names[name] = 1
      initialized_variable_names[name + ":0"] = 1
  return (assignment_map, initialized_variable_names)


def _variable_name(tensor_name):
  """Strips the output index: "bert/x/kernel:0" -> "bert/x/kernel"."""
  match = re.match(r"^(.*):\d+$", tensor_name)
  return match.group(1) if match else tensor_name


# The graph collection holding the `_DropoutSeed` of a graph whose dropout
# masks are seeded (`set_dropout_seed`): a graph's own, not a module global,
# so graphs built side by side (train and eval, tests) never share one.
DROPOUT_SEED_COLLECTION = "bert_dropout_seed"


class _DropoutSeed(object):
  """The key of a graph's seeded dropout and the call sites seen so far."""

  def __init__(self, key):
    self.key = key  # int64 [2], the seed with the step etc. folded in.
    self.sites = 0  # `dropout` calls made under it, in construction order.


def set_dropout_seed(seed, *keys):
  """Makes the masks of every later `dropout` in the default graph a pure
  function of (`seed`, `keys`, the call site).

  Without it, masks come from a stateful generator whose state is in no
  checkpoint, so a resumed run draws other masks than an uninterrupted one.
  Under it, each `dropout` call draws its mask from stateless random ops
  keyed by `seed`, then each of `keys` in turn (e.g. the global step, the
  micro-batch of an accumulation window, the replica), then its call site:
  the number of `dropout` calls made before it under this seed (fixed by the
  graph's construction order). Stateless ops compile under XLA and on TPU.

  Args:
    seed: a Python int, or None to go back to stateful, unseeded masks.
    *keys: integer scalars (Python ints or tensors), folded into the key in
      order; a tensor is read each time the graph runs.

  Returns:
    the int64 [2] key tensor the call sites fold their number into (None
    when `seed` is None).
  """
  collection = tf.get_collection_ref(DROPOUT_SEED_COLLECTION)
  del collection[:]
  if seed is None:
    return None
  with tf.name_scope("dropout_seed"):
    # Seeds of any size: the stateless ops take two int64 halves.
    key = tf.constant([seed % 2**63, seed // 2**63 % 2**63], tf.int64)
    for value in keys:
      key = tf.random.experimental.stateless_fold_in(
          key, tf.cast(value, tf.int64))
  collection.append(_DropoutSeed(key))
  return key


def dropout_seed():
  """The key of the default graph's seeded dropout (`set_dropout_seed`), or
  None when its masks are unseeded."""
  collection = tf.get_collection(DROPOUT_SEED_COLLECTION)
  return collection[0].key if collection else None


def dropout(input_tensor, dropout_prob):
  """Drops each value with probability `dropout_prob` (a drop rate, not keep).

  None or 0.0 returns the input unchanged, so inference graphs carry no
  dropout ops. The kept values are scaled by 1 / (1 - dropout_prob), as
  `tf.nn.dropout` does; unlike it, no float32 random tensor of the input's
  size is drawn: each 32-bit random integer gives two 16-bit draws, so the
  random-number work is halved, and the rate is applied at a resolution of
  1/65536 (0.1 drops 6554/65536 = 0.100006 of the values).

  In a graph with a dropout seed (`set_dropout_seed`, which the training
  scripts set with --seed) the integers come from a stateless generator
  keyed by that seed and this call's site, so a resumed run repeats the
  masks of an uninterrupted one; otherwise from the stateful generator of
  the graph seed, as in the original.

  Raises:
    ValueError: `dropout_prob` is outside [0, 1).
  """
  if dropout_prob is None or dropout_prob == 0.0:
    return input_tensor
  if not 0.0 <= dropout_prob < 1.0:
    raise ValueError("dropout_prob must be in [0, 1), got %r" % dropout_prob)
  seeded = tf.get_collection(DROPOUT_SEED_COLLECTION)
  with tf.name_scope("dropout"):
    shape = get_shape_list(input_tensor)
    if all(isinstance(d, int) for d in shape):
      count = _product(shape)
    else:
      count = tf.reduce_prod(tf.shape(input_tensor))
    if seeded:
      site = seeded[0].sites
      seeded[0].sites += 1
      key = tf.random.experimental.stateless_fold_in(seeded[0].key, site)
      # minval=maxval=None: every int32 value, as below.
      bits = tf.random.stateless_uniform([(count + 1) // 2], key, minval=None,
                                         maxval=None, dtype=tf.int32)
    else:
      bits = tf.random.uniform([(count + 1) // 2], minval=-2**31,
                               maxval=2**31 - 1, dtype=tf.int32)
    draws = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])
    if not isinstance(count, int) or count % 2:
      draws = draws[:count]
    threshold = tf.constant(int(round(dropout_prob * 65536)), tf.uint16)
    keep = tf.reshape(draws >= threshold, tf.shape(input_tensor))
    scaled = input_tensor * tf.cast(1.0 / (1.0 - dropout_prob),
                                    input_tensor.dtype)
    return tf.where(keep, scaled, tf.zeros_like(input_tensor))


def _product(values):
  """The product of a list of ints (1 for an empty list)."""
  product = 1
  for value in values:
    product *= value
  return product


def layer_norm(input_tensor, name=None, for_inference=False):
  """Normalises the last axis, with variables `<name or LayerNorm>/{beta,gamma}`.

  Statistics are computed in float32 whatever the input type, and the result
  is returned in the input type.

  `for_inference=True` builds the same function in the form TensorFlow's
  grappler remapper replaces by one oneDNN `_MklLayerNorm` (Keras' fused
  layer norm: a training-mode batch norm over a [1, rows, width, 1] view);
  it takes about a quarter of the time of the separate ops. The remapper
  fuses it only when the row count is known at run time alone (a batch
  dimension of None, as in exports and Estimator prediction): with static
  rows grappler folds the pattern's Fill nodes into constants and the
  unfused form is slower, so such graphs keep the separate ops. Gradients
  through the fused form are slower too, which is why training does not use
  it.
  """
  with tf.variable_scope(name, default_name="LayerNorm"):
    width = input_tensor.shape[-1:]
    beta = tf.get_variable("beta", shape=width,
                           initializer=tf.zeros_initializer())
    gamma = tf.get_variable("gamma", shape=width,
                            initializer=tf.ones_initializer())
    x = tf.cast(input_tensor, tf.float32)
    if for_inference and not input_tensor.shape[:-1].is_fully_defined():
      normalised = _fused_normalisation(x)
    else:
      # The variance squares the centred values the output reuses. Written
      # with tf.nn.moments (SquaredDifference against the mean), TF 2.15's
      # remapper aborts the process ("CHECK failed: key not found: value")
      # on a layer norm of a placeholder with variable gamma and beta, and
      # its gradient is about 10% slower. contrib's
      # `x * scale + (beta - mean * scale)` takes a pass more, since
      # `rsqrt * gamma` is already full-size.
      mean = tf.reduce_mean(x, axis=[-1], keepdims=True)
      centred = x - mean
      variance = tf.reduce_mean(tf.square(centred), axis=[-1], keepdims=True)
      normalised = centred * tf.math.rsqrt(variance + LAYER_NORM_EPSILON)
    return tf.cast(normalised * gamma + beta, input_tensor.dtype)


def _fused_normalisation(x):
  """(x - mean) / sqrt(variance + epsilon) over the last axis, as the batch
  norm the remapper's layer norm pattern starts from."""
  shape = tf.shape(x)
  rows = tf.reduce_prod(shape[:-1])
  width = x.shape[-1]
  as_channels = tf.reshape(x, tf.stack([1, rows, width, 1]))
  ones = tf.ones(tf.reshape(rows, [1]), tf.float32)
  zeros = tf.zeros(tf.reshape(rows, [1]), tf.float32)
  normalised, _, _ = tf.nn.fused_batch_norm(
      as_channels, ones, zeros, epsilon=LAYER_NORM_EPSILON,
      data_format="NCHW", is_training=True)
  return tf.reshape(normalised, shape)


def layer_norm_and_dropout(input_tensor, dropout_prob, name=None,
                           for_inference=False):
  """`layer_norm` then `dropout`."""
  return dropout(layer_norm(input_tensor, name, for_inference), dropout_prob)


def create_initializer(initializer_range=0.02):
  """The truncated normal initialiser every BERT weight matrix uses."""
  return tf.truncated_normal_initializer(stddev=initializer_range)


def dense_layer(input_tensor, units, activation=None, kernel_initializer=None,
                name=None):
  """A fully connected layer with `tf.layers.dense`'s variable names.

  Creates `<name or dense>/kernel` and `.../bias` in float32. The kernel is
  cast to the input's type, so a bfloat16 input gives a bfloat16 matmul with
  float32 master weights.
  """
  with tf.variable_scope(name, default_name="dense"):
    kernel = tf.get_variable("kernel", shape=[input_tensor.shape[-1], units],
                             initializer=kernel_initializer)
    bias = tf.get_variable("bias", shape=[units],
                           initializer=tf.zeros_initializer())
    dtype = input_tensor.dtype
    if input_tensor.shape.ndims == 2:
      output = tf.matmul(input_tensor, tf.cast(kernel, dtype))
    else:
      output = tf.tensordot(input_tensor, tf.cast(kernel, dtype), [[-1], [0]])
    output = tf.nn.bias_add(output, tf.cast(bias, dtype))
    return activation(output) if activation is not None else output


def _einsum_dense(input_tensor, equation, variable_shape, kernel_shape,
                  bias_shape, initializer, activation, name):
  """The einsum dense layers' shared body, over `tf.layers.dense`'s variables.

  The kernel and bias are created with the 2-D and 1-D `variable_shape` that
  every BERT checkpoint stores, then reshaped to `kernel_shape` and
  `bias_shape` for the einsum, so one checkpoint restores into these layers
  and into `dense_layer` alike. As in `dense_layer`, the weights are cast to
  the input's type.
  """
  with tf.variable_scope(name, default_name="dense"):
    kernel = tf.get_variable("kernel", shape=variable_shape,
                             initializer=initializer)
    bias = tf.get_variable("bias", shape=variable_shape[-1:],
                           initializer=tf.zeros_initializer())
  dtype = input_tensor.dtype
  kernel = tf.reshape(tf.cast(kernel, dtype), kernel_shape)
  output = tf.einsum(equation, input_tensor, kernel)
  output += tf.reshape(tf.cast(bias, dtype), bias_shape)
  return activation(output) if activation is not None else output


def dense_layer_3d(input_tensor,
                   num_attention_heads,
                   head_size,
                   initializer,
                   activation,
                   name=None):
  """[B, S, D] -> [B, S, N, H] by one einsum (bert-tensorflow 1.0.4).

  The kernel variable is the 2-D [D, N * H] `kernel` of `dense_layer`, so
  the heads come out split without a reshape of the activations.
  """
  width = get_shape_list(input_tensor, expected_rank=3)[-1]
  heads_width = num_attention_heads * head_size
  return _einsum_dense(input_tensor, "BSD,DNH->BSNH", [width, heads_width],
                       [width, num_attention_heads, head_size],
                       [num_attention_heads, head_size], initializer,
                       activation, name)


def dense_layer_3d_proj(input_tensor,
                        hidden_size,
                        head_size,
                        initializer,
                        activation,
                        name=None):
  """[B, F, N, H] -> [B, F, hidden_size] by one einsum (1.0.4).

  The inverse of `dense_layer_3d`: it merges the heads while projecting,
  over a 2-D [N * H, hidden_size] `kernel`; N is the input's third axis.
  """
  num_attention_heads = get_shape_list(input_tensor, expected_rank=4)[2]
  return _einsum_dense(input_tensor, "BFNH,NHD->BFD",
                       [num_attention_heads * head_size, hidden_size],
                       [num_attention_heads, head_size, hidden_size],
                       [hidden_size], initializer, activation, name)


def dense_layer_2d(input_tensor, output_size, initializer, activation,
                   name=None):
  """[B, S, D] -> [B, S, output_size] by one einsum (1.0.4)."""
  width = get_shape_list(input_tensor, expected_rank=3)[-1]
  return _einsum_dense(input_tensor, "BSD,DO->BSO", [width, output_size],
                       [width, output_size], [output_size], initializer,
                       activation, name)


def embedding_lookup(input_ids,
                     vocab_size,
                     embedding_size=128,
                     initializer_range=0.02,
                     word_embedding_name="word_embeddings",
                     use_one_hot_embeddings=False):
  """Looks word ids up in a new embedding table.

  Args:
    input_ids: int32 [batch_size, seq_length] (or with a trailing axis of
      several ids, whose embeddings are concatenated).
    vocab_size: rows of the table.
    embedding_size: width of the table.
    initializer_range: stddev of the table's initialiser.
    word_embedding_name: name of the table variable.
    use_one_hot_embeddings: one-hot matmul instead of `tf.gather`.

  Returns:
    (embeddings [batch_size, seq_length, embedding_size], table variable).
  """
  if input_ids.shape.ndims == 2:
    input_ids = tf.expand_dims(input_ids, axis=[-1])

  embedding_table = tf.get_variable(
      name=word_embedding_name,
      shape=[vocab_size, embedding_size],
      initializer=create_initializer(initializer_range))

  flat_ids = tf.reshape(input_ids, [-1])
  if use_one_hot_embeddings:
    output = tf.matmul(tf.one_hot(flat_ids, depth=vocab_size), embedding_table)
  else:
    output = tf.gather(embedding_table, flat_ids)

  shape = get_shape_list(input_ids)
  output = tf.reshape(output, shape[0:-1] + [shape[-1] * embedding_size])
  return (output, embedding_table)


def embedding_postprocessor(input_tensor,
                            use_token_type=False,
                            token_type_ids=None,
                            token_type_vocab_size=16,
                            token_type_embedding_name="token_type_embeddings",
                            use_position_embeddings=True,
                            position_embedding_name="position_embeddings",
                            initializer_range=0.02,
                            max_position_embeddings=512,
                            dropout_prob=0.1,
                            for_inference=False):
  """Adds segment and position embeddings, then layer norm and dropout.

  Args:
    input_tensor: float [batch_size, seq_length, width] word embeddings.
    use_token_type: add the embeddings of `token_type_ids`.
    token_type_ids: int32 [batch_size, seq_length]; required with
      `use_token_type`.
    token_type_vocab_size: rows of the token-type table.
    token_type_embedding_name: name of the token-type table variable.
    use_position_embeddings: add an embedding per position.
    position_embedding_name: name of the position table variable.
    initializer_range: stddev of the tables' initialiser.
    max_position_embeddings: rows of the position table; sequences may be
      shorter but not longer.
    dropout_prob: dropout rate on the result.
    for_inference: build the layer norm in its inference form (`layer_norm`).

  Returns:
    float tensor of the input's shape.

  Raises:
    ValueError: a tensor has the wrong rank, `token_type_ids` is missing, or
      the sequence is longer than `max_position_embeddings`.
  """
  batch_size, seq_length, width = get_shape_list(input_tensor, expected_rank=3)
  output = input_tensor

  if use_token_type:
    if token_type_ids is None:
      raise ValueError("`token_type_ids` must be specified if "
                       "`use_token_type` is True.")
    token_type_table = tf.get_variable(
        name=token_type_embedding_name,
        shape=[token_type_vocab_size, width],
        initializer=create_initializer(initializer_range))
    # The table has a handful of rows, where a one-hot matmul beats a gather.
    one_hot_ids = tf.one_hot(tf.reshape(token_type_ids, [-1]),
                             depth=token_type_vocab_size)
    token_type_embeddings = tf.matmul(one_hot_ids, token_type_table)
    output += tf.reshape(token_type_embeddings, [batch_size, seq_length, width])

  if use_position_embeddings:
    if isinstance(seq_length, int) and seq_length > max_position_embeddings:
      raise ValueError(
          "The sequence length %d is longer than max_position_embeddings=%d "
          "in the BERT config; use sequences of at most %d tokens." %
          (seq_length, max_position_embeddings, max_position_embeddings))
    in_range = tf.assert_less_equal(
        seq_length, max_position_embeddings,
        message="Sequence longer than max_position_embeddings")
    with tf.control_dependencies([in_range]):
      full_position_embeddings = tf.get_variable(
          name=position_embedding_name,
          shape=[max_position_embeddings, width],
          initializer=create_initializer(initializer_range))
      # The table is trained at full length; shorter inputs use its first rows.
      position_embeddings = tf.slice(full_position_embeddings, [0, 0],
                                     [seq_length, -1])
      rank = len(output.shape.as_list())
      broadcast_shape = [1] * (rank - 2) + [seq_length, width]
      output += tf.reshape(position_embeddings, broadcast_shape)

  return layer_norm_and_dropout(output, dropout_prob,
                                for_inference=for_inference)


def create_attention_mask_from_input_mask(from_tensor, to_mask):
  """Turns a [batch, to_seq] padding mask into a [batch, from_seq, to_seq] one.

  Only the positions attended *to* are masked: what padding positions attend
  to does not matter, since their outputs are never used.

  Args:
    from_tensor: [batch_size, from_seq_length, ...] tensor (only its shape is
      read).
    to_mask: int32 [batch_size, to_seq_length], 1 for real tokens.

  Returns:
    float32 [batch_size, from_seq_length, to_seq_length].
  """
  batch_size, from_seq_length = get_shape_list(
      from_tensor, expected_rank=[2, 3])[:2]
  to_seq_length = get_shape_list(to_mask, expected_rank=2)[1]
  to_mask = tf.cast(tf.reshape(to_mask, [batch_size, 1, to_seq_length]),
                    tf.float32)
  return tf.ones([batch_size, from_seq_length, 1], dtype=tf.float32) * to_mask


def _split_heads(tensor_2d, batch_size, num_heads, seq_length, head_size):
  """[B*S, N*H] -> [B, N, S, H]."""
  tensor = tf.reshape(tensor_2d, [batch_size, seq_length, num_heads, head_size])
  return tf.transpose(tensor, [0, 2, 1, 3])


def attention_layer(from_tensor,
                    to_tensor,
                    attention_mask=None,
                    num_attention_heads=1,
                    size_per_head=512,
                    query_act=None,
                    key_act=None,
                    value_act=None,
                    attention_probs_dropout_prob=0.0,
                    initializer_range=0.02,
                    do_return_2d_tensor=False,
                    batch_size=None,
                    from_seq_length=None,
                    to_seq_length=None):
  """Multi-head scaled dot-product attention of `from_tensor` over `to_tensor`.

  Projections are dense layers named "query", "key" and "value"; scores are
  scaled by 1/sqrt(size_per_head) and positions where the mask is 0 get
  -10000 before the softmax. Scores, mask and softmax run in float32 even in
  reduced precision, where -10000 and the exponentials lose too much.

  Args:
    from_tensor: float [batch_size, from_seq_length, width], or 2D
      [batch_size * from_seq_length, width] with the sizes given below.
    to_tensor: float [batch_size, to_seq_length, width], or 2D likewise.
    attention_mask: optional [batch_size, from_seq_length, to_seq_length] of
      1 (may attend) and 0 (may not).
    num_attention_heads: number of heads.
    size_per_head: width of each head.
    query_act: optional activation of the query projection.
    key_act: optional activation of the key projection.
    value_act: optional activation of the value projection.
    attention_probs_dropout_prob: dropout rate on the probabilities.
    initializer_range: stddev of the projections' initialiser.
    do_return_2d_tensor: return [batch*from_seq, heads*size] rather than
      [batch, from_seq, heads*size].
    batch_size: required with 2D inputs.
    from_seq_length: required with 2D inputs.
    to_seq_length: required with 2D inputs.

  Returns:
    float tensor of the attended values, 2D or 3D as asked.

  Raises:
    ValueError: ranks disagree, or a size needed for 2D inputs is missing.
  """
  from_shape = get_shape_list(from_tensor, expected_rank=[2, 3])
  to_shape = get_shape_list(to_tensor, expected_rank=[2, 3])
  if len(from_shape) != len(to_shape):
    raise ValueError(
        "The rank of `from_tensor` must match the rank of `to_tensor`.")
  if len(from_shape) == 3:
    batch_size, from_seq_length = from_shape[0], from_shape[1]
    to_seq_length = to_shape[1]
  elif batch_size is None or from_seq_length is None or to_seq_length is None:
    raise ValueError(
        "When passing in rank 2 tensors to attention_layer, the values "
        "for `batch_size`, `from_seq_length`, and `to_seq_length` "
        "must all be specified.")

  context = _attention_from_matrices(
      reshape_to_matrix(from_tensor), reshape_to_matrix(to_tensor),
      attention_mask_adder(attention_mask), num_attention_heads,
      size_per_head, query_act, key_act, value_act,
      attention_probs_dropout_prob, initializer_range, batch_size,
      from_seq_length, to_seq_length)
  if do_return_2d_tensor:
    return context
  return tf.reshape(context, [batch_size, from_seq_length,
                              num_attention_heads * size_per_head])


def attention_mask_adder(attention_mask):
  """[B, F, T] 1/0 mask -> float32 [B, 1, F, T] of 0 / -10000, or None.

  Built once per encoder rather than once per layer: it is added to every
  layer's attention scores.
  """
  if attention_mask is None:
    return None
  blocked = 1.0 - tf.cast(tf.expand_dims(attention_mask, axis=[1]),
                          tf.float32)
  return blocked * MASK_ADDER


def _attention_from_matrices(from_2d, to_2d, mask_adder, num_attention_heads,
                             size_per_head, query_act, key_act, value_act,
                             attention_probs_dropout_prob, initializer_range,
                             batch_size, from_seq_length, to_seq_length):
  """`attention_layer` on [B*F, D] / [B*T, D] inputs; returns [B*F, N*H]."""
  width = num_attention_heads * size_per_head
  init = create_initializer(initializer_range)
  query = dense_layer(from_2d, width, query_act, init, name="query")
  key = dense_layer(to_2d, width, key_act, init, name="key")
  value = dense_layer(to_2d, width, value_act, init, name="value")

  query = _split_heads(query, batch_size, num_attention_heads,
                       from_seq_length, size_per_head)
  key = _split_heads(key, batch_size, num_attention_heads, to_seq_length,
                     size_per_head)
  value = _split_heads(value, batch_size, num_attention_heads, to_seq_length,
                       size_per_head)

  # [B, N, F, T]. Written as matmul, scale, add: the form grappler's
  # remapper fuses into one oneDNN batch matmul.
  scores = tf.cast(tf.matmul(query, key, transpose_b=True), tf.float32)
  scores *= 1.0 / math.sqrt(float(size_per_head))
  if mask_adder is not None:
    scores += mask_adder
  probs = tf.nn.softmax(scores)
  # As in the original Transformer, dropout removes whole attended tokens.
  probs = dropout(probs, attention_probs_dropout_prob)

  context = tf.matmul(tf.cast(probs, value.dtype), value)  # [B, N, F, H]
  context = tf.transpose(context, [0, 2, 1, 3])  # [B, F, N, H]
  return tf.reshape(context, [batch_size * from_seq_length, width])


def transformer_model(input_tensor,
                      attention_mask=None,
                      hidden_size=768,
                      num_hidden_layers=12,
                      num_attention_heads=12,
                      intermediate_size=3072,
                      intermediate_act_fn=gelu,
                      hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1,
                      initializer_range=0.02,
                      do_return_all_layers=False,
                      for_inference=False):
  """The Transformer encoder stack of "Attention is All You Need".

  Each block `layer_N` is self-attention (`attention/self`), a projection with
  residual and layer norm (`attention/output`), a feed-forward layer
  (`intermediate`) and a projection with residual and layer norm (`output`).
  Post-layer-norm, as in BERT.

  Args:
    input_tensor: float [batch_size, seq_length, hidden_size].
    attention_mask: optional [batch_size, seq_length, seq_length], 1 where
      attention is allowed.
    hidden_size: width of the blocks.
    num_hidden_layers: number of blocks.
    num_attention_heads: heads per block; must divide `hidden_size`.
    intermediate_size: width of the feed-forward layer.
    intermediate_act_fn: activation of the feed-forward layer.
    hidden_dropout_prob: dropout rate on block outputs.
    attention_probs_dropout_prob: dropout rate on attention probabilities.
    initializer_range: stddev of the initialiser.
    do_return_all_layers: return every block's output instead of the last.
    for_inference: build the layer norms in their inference form
      (`layer_norm`).

  Returns:
    float [batch_size, seq_length, hidden_size], or a list of them.

  Raises:
    ValueError: the sizes are inconsistent.
  """
  if hidden_size % num_attention_heads != 0:
    raise ValueError(
        "The hidden size (%d) is not a multiple of the number of attention "
        "heads (%d)" % (hidden_size, num_attention_heads))
  head_size = hidden_size // num_attention_heads
  input_shape = get_shape_list(input_tensor, expected_rank=3)
  batch_size, seq_length, input_width = input_shape
  # Residual connections need the input to be as wide as the blocks.
  if input_width != hidden_size:
    raise ValueError("The width of the input tensor (%d) != hidden size (%d)" %
                     (input_width, hidden_size))

  init = create_initializer(initializer_range)
  mask_adder = attention_mask_adder(attention_mask)
  # Blocks work on [batch*seq, width] matrices: one reshape in, one out.
  prev_output = reshape_to_matrix(input_tensor)
  all_layer_outputs = []
  for layer_idx in range(num_hidden_layers):
    with tf.variable_scope("layer_%d" % layer_idx):
      layer_input = prev_output
      with tf.variable_scope("attention"):
        with tf.variable_scope("self"):
          attended = _attention_from_matrices(
              layer_input, layer_input, mask_adder, num_attention_heads,
              head_size, None, None, None, attention_probs_dropout_prob,
              initializer_range, batch_size, seq_length, seq_length)
        with tf.variable_scope("output"):
          attention_output = dense_layer(attended, hidden_size,
                                         kernel_initializer=init)
          attention_output = dropout(attention_output, hidden_dropout_prob)
          attention_output = layer_norm(attention_output + layer_input,
                                        for_inference=for_inference)

      with tf.variable_scope("intermediate"):
        intermediate_output = dense_layer(
            attention_output, intermediate_size,
            activation=intermediate_act_fn, kernel_initializer=init)

      with tf.variable_scope("output"):
        layer_output = dense_layer(intermediate_output, hidden_size,
                                   kernel_initializer=init)
        layer_output = dropout(layer_output, hidden_dropout_prob)
        layer_output = layer_norm(layer_output + attention_output,
                                  for_inference=for_inference)
      prev_output = layer_output
      all_layer_outputs.append(layer_output)

  if do_return_all_layers:
    return [reshape_from_matrix(x, input_shape) for x in all_layer_outputs]
  return reshape_from_matrix(prev_output, input_shape)


def get_shape_list(tensor, expected_rank=None, name=None):
  """The tensor's shape as a list: ints where static, scalar tensors elsewhere.

  Args:
    tensor: the tensor.
    expected_rank: optional int or list of ints; another rank raises.
    name: name used in the error message (the tensor's own by default).

  Returns:
    a list with one entry per dimension.
  """
  if name is None:
    name = getattr(tensor, "name", "tensor")
  if expected_rank is not None:
    assert_rank(tensor, expected_rank, name)

  shape = tensor.shape.as_list()
  dynamic = [i for i, dim in enumerate(shape) if dim is None]
  if dynamic:
    dyn_shape = tf.shape(tensor)
    for i in dynamic:
      shape[i] = dyn_shape[i]
  return shape


def reshape_to_matrix(input_tensor):
  """Folds every axis but the last: [..., width] -> [N, width]."""
  ndims = input_tensor.shape.ndims
  if ndims < 2:
    raise ValueError("Input tensor must have at least rank 2. Shape = %s" %
                     (input_tensor.shape))
  if ndims == 2:
    return input_tensor
  return tf.reshape(input_tensor, [-1, input_tensor.shape[-1]])


def reshape_from_matrix(output_tensor, orig_shape_list):
  """Undoes `reshape_to_matrix` given the original shape list."""
  if len(orig_shape_list) == 2:
    return output_tensor
  width = get_shape_list(output_tensor)[-1]
  return tf.reshape(output_tensor, orig_shape_list[0:-1] + [width])


def assert_rank(tensor, expected_rank, name=None):
  """Raises ValueError unless the tensor's rank is `expected_rank` (or in it).

  Args:
    tensor: the tensor to check.
    expected_rank: an int or a list of ints.
    name: name used in the error message (the tensor's own by default).
  """
  if name is None:
    name = getattr(tensor, "name", "tensor")
  if isinstance(expected_rank, six.integer_types):
    allowed = {expected_rank}
  else:
    allowed = set(expected_rank)
  actual_rank = tensor.shape.ndims
  if actual_rank not in allowed:
    scope_name = tf.get_variable_scope().name
    raise ValueError(
        "For the tensor `%s` in scope `%s`, the actual rank "
        "`%s` (shape = %s) is not equal to the expected rank `%s`" %
        (name, scope_name, actual_rank, str(tensor.shape), str(expected_rank)))
