"""TF2 BERT encoders of TensorFlow Model Garden read as `BertModel` weights.

Two kinds of input, one mechanism (used by every script that restores weights
and by `convert_checkpoint.py --direction=model_garden_to_bert`):

- object-based TF2 checkpoints of Model Garden encoders: the functional
  `BertEncoder` and the legacy keras_bert `TransformerEncoder`
  (`layer_with_weights-N/...` keys) and the subclassed `BertEncoderV2`
  (`_embedding_layer/embeddings`, `_transformer_layers/<i>/...`,
  `_pooler_layer/...`), saved as `tf.train.Checkpoint(encoder=...)`,
  `(model=...)` or nested deeper in a bigger model;
- TF2 hub SavedModels in the Model Garden / TF Hub text-encoder format
  (`saved_model.pb`, `variables/`, `assets/vocab.txt`, a `do_lower_case`
  variable), as `official/nlp/tools/export_tfhub.py` writes them.

Both are read from their variables checkpoint with `tf.train.load_checkpoint`
and its object graph, without Model Garden's code and without running the
SavedModel: each variable is found by every path the object graph gives it,
so a Keras SavedModel's flat `variables/N` keys are found under their layer
names too. Weights are mapped to the original names and shapes
(`bert/embeddings/word_embeddings`, ...; einsum kernels [hidden, heads,
head_size] flattened heads-outer), and a `BertConfig` is read off the shapes
(hidden_act "gelu", the tanh approximation, Model Garden's default).

`resolve_encoder(settings)` turns --hub_module_url, or a TF2 checkpoint in
--init_checkpoint, into an original-format directory (`bert_model.ckpt`,
`bert_config.json`, `vocab.txt`) in a cache keyed by the source's content,
written atomically once and reused, so the rest of a run is unchanged.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import hashlib
import os
import re

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

import command_line
from command_line import UserError
import modeling
import output_files

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
SAVED_MODEL_FILE = "saved_model.pb"
CONVERTED_CHECKPOINT = "bert_model.ckpt"
CONVERTED_CONFIG = "bert_config.json"
CONVERTED_VOCAB = "vocab.txt"
# Where converted encoders are kept when the caller names no directory.
CACHE_ENV = "BERT_TF2_CACHE_DIR"

# Object-graph edges that only repeat a layer's variables (Keras bookkeeping)
# or lead to optimizer state: following them would multiply paths, not add
# variables.
_SKIPPED_EDGES = frozenset([
    "variables", "trainable_variables", "non_trainable_variables",
    "regularization_losses", "keras_api", "__call__", "signatures",
    "call_and_return_all_conditional_losses", "optimizer",
    "call_and_return_conditional_losses", "_self_tracked_trackables",
    "save_counter"])
# Deep enough for an encoder nested in a model nested in a SavedModel.
_MAX_DEPTH = 16

# Keys of a block of Model Garden's TransformerEncoderBlock, relative to it.
_V1_BLOCK = re.compile(r"^(.*)layer_with_weights-(\d+)/(_attention_layer/.+)$")
_V2_BLOCK = re.compile(r"^(.*)_transformer_layers/(\d+)/(.+)$")
_LAYER = re.compile(r"^layer_with_weights-(\d+)/(.+)$")


class Encoder(collections.namedtuple(
    "Encoder", ["weights", "num_heads", "source", "vocab_file",
                "do_lower_case"])):
  """A TF2 encoder read as original weights.

  weights: original variable name -> numpy array, exactly `BertModel`'s.
  num_heads: attention heads (the einsum kernels' second axis).
  source: the file or directory read, for messages.
  vocab_file, do_lower_case: a hub model's `assets/vocab.txt` and casing
    (None for checkpoints, which carry neither).
  """

  def config(self):
    return config_from_shapes(self.weights, self.num_heads)


# --- reading -----------------------------------------------------------------


def is_hub_saved_model(path):
  """Whether `path` is a SavedModel directory (a hub model)."""
  return bool(path) and tf.io.gfile.exists(os.path.join(path, SAVED_MODEL_FILE))


def is_object_based_checkpoint(prefix):
  """Whether `prefix` is a TF2 object-based checkpoint with no original
  (`bert/...`) variables: one to map by object path."""
  if not prefix or not tf.io.gfile.exists(prefix + ".index"):
    return False
  try:
    names = [name for name, _ in tf.train.list_variables(prefix)]
  except (tf.errors.OpError, ValueError):
    return False
  return (OBJECT_GRAPH_KEY in names and
          not any(name.startswith("bert/") for name in names))


def _load_reader(prefix, source):
  try:
    return tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, ValueError) as e:
    raise UserError("%s is not a readable checkpoint: %s" %
                    (source, command_line.error_text(e)))


def object_paths(reader):
  """{object path of a variable: its checkpoint key}, every path the object
  graph gives each variable (`a/b/kernel` for `a/b/kernel/.ATTRIBUTES/...`).
  """
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(reader.get_tensor(OBJECT_GRAPH_KEY))
  below = {}  # node id -> [(relative path, key)], memoised.

  def paths_below(node_id, depth, on_path):
    if node_id in below:
      return below[node_id]
    node = graph.nodes[node_id]
    found = [("", a.checkpoint_key) for a in node.attributes
             if a.name == "VARIABLE_VALUE"]
    if depth < _MAX_DEPTH:
      for child in node.children:
        name = child.local_name
        if (name in _SKIPPED_EDGES or name.startswith("layer-") or
            child.node_id in on_path):
          continue
        for path, key in paths_below(child.node_id, depth + 1,
                                     on_path | {child.node_id}):
          found.append((name + ("/" + path if path else ""), key))
    below[node_id] = found
    return found

  return dict(paths_below(0, 0, frozenset([0])))


def _encoder_layouts(paths):
  """{owner prefix: {role: path}} of every Model Garden BERT encoder found in
  `paths`; roles are `word`, `position`, `type`, `norm/gamma`, `norm/beta`,
  `pooler/kernel`, `pooler/bias` and `<i>/<path in block i>`."""
  layouts = {}
  v1_owners = collections.defaultdict(set)
  for path in paths:
    match = _V1_BLOCK.match(path)
    if match:
      v1_owners[match.group(1)].add(int(match.group(2)))
  for owner, block_indexes in v1_owners.items():
    first = min(block_indexes)
    layer = {}
    for path in paths:
      if path.startswith(owner):
        match = _LAYER.match(path[len(owner):])
        if match:
          layer[(int(match.group(1)), match.group(2))] = path
    roles = {"word": layer.get((0, "embeddings")),
             "position": layer.get((1, "embeddings")),
             "type": layer.get((2, "embeddings")),
             "norm/gamma": layer.get((3, "gamma")),
             "norm/beta": layer.get((3, "beta"))}
    for (index, inner), path in layer.items():
      if index in block_indexes:
        roles["%d/%s" % (index - first, inner)] = path
    pooler = max(block_indexes) + 1
    roles["pooler/kernel"] = layer.get((pooler, "kernel"))
    roles["pooler/bias"] = layer.get((pooler, "bias"))
    roles["_blocks"] = sorted(block_indexes)
    roles["_first"] = first
    roles["_v1"] = True
    layouts[owner] = roles
  v2_owners = collections.defaultdict(set)
  for path in paths:
    match = _V2_BLOCK.match(path)
    if match:
      v2_owners[match.group(1)].add(int(match.group(2)))
  for owner, block_indexes in v2_owners.items():
    roles = {"word": owner + "_embedding_layer/embeddings",
             "position": owner + "_position_embedding_layer/embeddings",
             "type": owner + "_type_embedding_layer/embeddings",
             "norm/gamma": owner + "_embedding_norm_layer/gamma",
             "norm/beta": owner + "_embedding_norm_layer/beta",
             "pooler/kernel": owner + "_pooler_layer/kernel",
             "pooler/bias": owner + "_pooler_layer/bias",
             "_blocks": sorted(block_indexes), "_first": 0}
    for path in paths:
      match = _V2_BLOCK.match(path)
      if match and match.group(1) == owner:
        roles["%s/%s" % (match.group(2), match.group(3))] = path
    layouts[owner] = roles
  return layouts


def _one_encoder(paths, source):
  """The layout of the one encoder in `paths` (aliases of one set of
  variables count once)."""
  layouts = _encoder_layouts(paths)
  distinct = {}
  for owner in sorted(layouts, key=len):
    keys = frozenset(paths[p] for role, p in layouts[owner].items()
                     if not role.startswith("_") and p in paths)
    distinct.setdefault(keys, (owner, layouts[owner]))
  if len(distinct) != 1:
    raise UserError(
        "%s: expected the variables of one Model Garden BertEncoder "
        "(<prefix>layer_with_weights-N/_attention_layer/...) or BertEncoderV2 "
        "(<prefix>_transformer_layers/N/...), found %s." %
        (source, "%d encoders (%s)" % (len(distinct), ", ".join(
            repr(o) for o, _ in distinct.values())) if distinct else "none"))
  return list(distinct.values())[0]


def _map_weights(reader, paths, owner, roles, source):
  """Original name -> array, and the number of heads, of one encoder."""

  def get(role, *alternatives):
    for candidate in (role,) + alternatives:
      path = roles.get(candidate)
      if path in paths:
        return reader.get_tensor(paths[path])
    raise UserError("%s has no variable %s." %
                    (source, roles.get(role) or _expected_path(owner, roles,
                                                               role)))

  word = get("word")
  hidden = word.shape[1]
  blocks = roles["_blocks"]
  first = roles["_first"]
  # A functional encoder's blocks follow its 4 embedding layers.
  if blocks != list(range(first, first + len(blocks))) or (
      roles.get("_v1") and first != 4):
    raise UserError(
        "%s: Transformer blocks at %s, not one run after the 4 embedding "
        "layers; factorised embeddings (embedding_width != hidden size) are "
        "not supported." % (source, blocks))
  weights = collections.OrderedDict([
      ("bert/embeddings/word_embeddings", word),
      ("bert/embeddings/token_type_embeddings", get("type")),
      ("bert/embeddings/position_embeddings", get("position")),
      ("bert/embeddings/LayerNorm/gamma", get("norm/gamma")),
      ("bert/embeddings/LayerNorm/beta", get("norm/beta")),
  ])
  num_heads = None
  for n in range(len(blocks)):
    base = "bert/encoder/layer_%d/" % n
    block = "%d/" % n
    for name in ("query", "key", "value"):
      # [hidden, heads, head_size] -> [hidden, heads * head_size]: heads are
      # the outer index of the flattened axis, as `BertModel` splits them.
      role = block + "_attention_layer/_%s_dense/kernel" % name
      kernel = _einsum_kernel(get(role), hidden, 0, source, role)
      num_heads = kernel.shape[1]
      weights[base + "attention/self/%s/kernel" % name] = kernel.reshape(
          hidden, -1)
      weights[base + "attention/self/%s/bias" % name] = get(
          block + "_attention_layer/_%s_dense/bias" % name).reshape(-1)
    # [heads, head_size, hidden] -> [heads * head_size, hidden]; older
    # releases call the layer `_attention_output_dense`.
    role = block + "_attention_layer/_output_dense/kernel"
    kernel = _einsum_kernel(
        get(role, block + "_attention_output_dense/kernel"), hidden, 2,
        source, role)
    weights[base + "attention/output/dense/kernel"] = kernel.reshape(-1, hidden)
    weights[base + "attention/output/dense/bias"] = get(
        block + "_attention_layer/_output_dense/bias",
        block + "_attention_output_dense/bias")
    for tf_part, mg_part, leaves in (
        ("attention/output/LayerNorm", "_attention_layer_norm",
         ("gamma", "beta")),
        ("intermediate/dense", "_intermediate_dense", ("kernel", "bias")),
        ("output/dense", "_output_dense", ("kernel", "bias")),
        ("output/LayerNorm", "_output_layer_norm", ("gamma", "beta"))):
      for leaf in leaves:
        weights[base + tf_part + "/" + leaf] = get(
            block + mg_part + "/" + leaf)
  weights["bert/pooler/dense/kernel"] = get("pooler/kernel")
  weights["bert/pooler/dense/bias"] = get("pooler/bias")
  return weights, num_heads


def _expected_path(owner, roles, role):
  """The object path a missing block variable would have."""
  block, _, inner = role.partition("/")
  if not block.isdigit():  # An embedding, its layer norm or the pooler.
    return "of the %s under %r" % (role, owner)
  if roles.get("_v1"):
    return "%slayer_with_weights-%d/%s" % (owner, int(block) + roles["_first"],
                                           inner)
  return "%s_transformer_layers/%s/%s" % (owner, block, inner)


def _einsum_kernel(kernel, hidden, hidden_axis, source, role):
  """Checks an attention kernel is 3-D with `hidden` on `hidden_axis`."""
  if kernel.ndim != 3 or kernel.shape[hidden_axis] != hidden:
    raise UserError(
        "%s: the kernel of %s has shape %s; expected a 3-D einsum kernel "
        "with the hidden size %d on axis %d." %
        (source, role, list(kernel.shape), hidden, hidden_axis))
  return kernel


def read_encoder_checkpoint(prefix, source=None):
  """Reads the Model Garden encoder in an object-based checkpoint."""
  source = source or "Checkpoint %s" % prefix
  reader = _load_reader(prefix, source)
  if not reader.has_tensor(OBJECT_GRAPH_KEY):
    raise UserError("%s is not an object-based TF2 checkpoint of a Model "
                    "Garden BertEncoder (it has no object graph)." % source)
  paths = object_paths(reader)
  owner, roles = _one_encoder(paths, source)
  weights, num_heads = _map_weights(reader, paths, owner, roles, source)
  return Encoder(weights, num_heads, prefix, None, None)


def read_hub_model(directory):
  """Reads a TF2 hub SavedModel encoder: weights, vocabulary, casing."""
  source = "Hub model %s" % directory
  if not is_hub_saved_model(directory):
    raise UserError("%s is not a SavedModel directory (no %s)." %
                    (source, SAVED_MODEL_FILE))
  prefix = os.path.join(directory, "variables", "variables")
  reader = _load_reader(prefix, source)
  paths = object_paths(reader)
  owner, roles = _one_encoder(paths, source)
  weights, num_heads = _map_weights(reader, paths, owner, roles, source)
  do_lower_case = None
  if "do_lower_case" in paths:
    do_lower_case = bool(reader.get_tensor(paths["do_lower_case"]))
  return Encoder(weights, num_heads, directory, _hub_vocab(directory),
                 do_lower_case)


def _hub_vocab(directory):
  """`assets/vocab.txt`, else the one .txt asset, else None."""
  assets = os.path.join(directory, "assets")
  if not tf.io.gfile.isdir(assets):
    return None
  names = tf.io.gfile.listdir(assets)
  if CONVERTED_VOCAB in names:
    return os.path.join(assets, CONVERTED_VOCAB)
  texts = [n for n in names if n.endswith(".txt")]
  return os.path.join(assets, texts[0]) if len(texts) == 1 else None


def read_tf2_encoder(path):
  """A hub SavedModel directory or an object-based checkpoint prefix."""
  if is_hub_saved_model(path):
    return read_hub_model(path)
  return read_encoder_checkpoint(path)


def config_from_shapes(weights, num_heads):
  """A BertConfig read off the weight shapes, with Model Garden's defaults."""
  word = weights["bert/embeddings/word_embeddings"]
  num_layers = len([n for n in weights if n.endswith("/attention/self/query"
                                                     "/kernel")])
  return modeling.BertConfig(
      vocab_size=word.shape[0],
      hidden_size=word.shape[1],
      num_hidden_layers=num_layers,
      num_attention_heads=num_heads,
      intermediate_size=weights[
          "bert/encoder/layer_0/intermediate/dense/kernel"].shape[1],
      hidden_act="gelu",
      max_position_embeddings=weights[
          "bert/embeddings/position_embeddings"].shape[0],
      type_vocab_size=weights["bert/embeddings/token_type_embeddings"].shape[0])


# --- writing -----------------------------------------------------------------


def write_bert_checkpoint(weights, prefix):
  """Saves name -> array as `<prefix>.index` and `<prefix>.data-*`.

  This is the name-based checkpoint layout of the official releases, written
  by a `tf.compat.v1` Saver. A fresh graph holds exactly these variables, so
  the checkpoint lists the given names and nothing else (no optimizer slots,
  no global_step).
  """
  with tf.Graph().as_default():
    variables = collections.OrderedDict()
    feeds = {}
    for name, value in weights.items():
      # Fed through a placeholder so that large tables never become graph
      # constants (a GraphDef is limited to 2 GB).
      placeholder = tf.placeholder(tf.as_dtype(value.dtype), value.shape)
      variables[name] = tf.Variable(placeholder, name=name, trainable=False)
      feeds[placeholder] = value
    saver = tf.train.Saver(variables, write_version=tf.train.SaverDef.V2)
    with tf.Session() as sess:
      sess.run([v.initializer for v in variables.values()], feed_dict=feeds)
      saver.save(sess, prefix, write_meta_graph=False, write_state=False)


def default_cache_dir():
  """$BERT_TF2_CACHE_DIR, else ~/.cache/bert/tf2_encoders."""
  return os.environ.get(CACHE_ENV) or os.path.join(
      os.path.expanduser("~"), ".cache", "bert", "tf2_encoders")


def source_key(path):
  """A key of the source's content: the SHA-256 of its checkpoint index
  (which holds every tensor's checksum), short."""
  index = (os.path.join(path, "variables", "variables.index")
           if is_hub_saved_model(path) else path + ".index")
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(index, "rb") as f:
    digest.update(f.read())
  return digest.hexdigest()[:16]


def converted_dir(path, cache_dir=None):
  """The original-format directory of the TF2 encoder at `path` (a hub
  SavedModel or an object-based checkpoint), converted now or reused."""
  target = os.path.join(cache_dir or default_cache_dir(), source_key(path))
  if tf.io.gfile.exists(os.path.join(target, CONVERTED_CONFIG)):
    tf.logging.info("TF2 encoder %s: reusing its conversion in %s", path,
                    target)
    return target
  encoder = read_tf2_encoder(path)
  with output_files.atomic_directory(target) as tmp:
    write_bert_checkpoint(encoder.weights,
                          os.path.join(tmp, CONVERTED_CHECKPOINT))
    if encoder.vocab_file:
      tf.io.gfile.copy(encoder.vocab_file,
                       os.path.join(tmp, CONVERTED_VOCAB))
    if encoder.do_lower_case is not None:
      output_files.write_text_atomically(
          os.path.join(tmp, "do_lower_case.txt"),
          "%s\n" % encoder.do_lower_case)
    # Written last: its presence marks a complete conversion.
    output_files.write_text_atomically(
        os.path.join(tmp, CONVERTED_CONFIG),
        encoder.config().to_json_string())
  tf.logging.info("TF2 encoder %s: converted to original names in %s", path,
                  target)
  return target


# --- settings ----------------------------------------------------------------


def _check_local(url):
  if re.match(r"^[a-z]+://", url or "") and not url.startswith("gs://"):
    raise UserError(
        "--hub_module_url=%s is a URL; this project reads no network: "
        "download the model first (e.g. %s?tf-hub-format=compressed, then "
        "untar it) and pass its local directory." % (url, url))


def resolve_encoder(settings, cache_dir=None):
  """Settings whose --init_checkpoint is an original checkpoint when the
  run was given a TF2 encoder (--hub_module_url, or an object-based
  checkpoint or hub directory in --init_checkpoint); also --bert_config_file
  (from the shapes, unless given: then checked) and, from a hub model when
  --vocab_file is not given, --vocab_file and --do_lower_case. Other
  settings come back unchanged."""
  hub = settings.get("hub_module_url")
  init = settings.get("init_checkpoint")
  if hub:
    if init:
      raise UserError(
          "--hub_module_url=%s and --init_checkpoint=%s both give the "
          "encoder's weights; pass one." % (hub, init))
    _check_local(hub)
    if not is_hub_saved_model(hub):
      raise UserError(
          "--hub_module_url=%s is not a SavedModel directory (no %s); give "
          "the directory of a TF2 hub encoder (a TF1 hub.Module is for "
          "run_classifier_with_tfhub.py)." % (hub, SAVED_MODEL_FILE))
    flag, path = "--hub_module_url", hub
  elif init and (is_hub_saved_model(init) or
                 is_object_based_checkpoint(init)):
    flag, path = "--init_checkpoint", init
  else:
    return settings
  try:
    target = converted_dir(path, cache_dir)
  except UserError as e:
    raise UserError("%s=%s: %s" % (flag, path, e))
  changes = {"init_checkpoint": os.path.join(target, CONVERTED_CHECKPOINT),
             "hub_module_url": None}
  config_file = settings.get("bert_config_file")
  converted_config = modeling.BertConfig.from_json_file(
      os.path.join(target, CONVERTED_CONFIG))
  if config_file:
    with command_line.reading("--bert_config_file=%s" % config_file):
      config = modeling.BertConfig.from_json_file(config_file)
    check_config(converted_config, config, path, flag,
                 "--bert_config_file=%s" % config_file)
  else:
    changes["bert_config_file"] = os.path.join(target, CONVERTED_CONFIG)
  vocab = os.path.join(target, CONVERTED_VOCAB)
  if "vocab_file" in settings and not settings.get("vocab_file") and (
      os.path.exists(vocab)):
    changes["vocab_file"] = vocab
    casing = os.path.join(target, "do_lower_case.txt")
    if os.path.exists(casing):
      with open(casing) as f:
        changes["do_lower_case"] = f.read().strip() == "True"
  tf.logging.info("%s=%s: a TF2 encoder, read as %s", flag, path,
                  changes["init_checkpoint"])
  return settings.replace(**changes)


def check_config(own, config, source, flag, config_source):
  """Raises UserError unless `config` has the shapes of `own` (the config
  read off a TF2 encoder's weights)."""
  for key in ("vocab_size", "hidden_size", "num_hidden_layers",
              "num_attention_heads", "intermediate_size",
              "max_position_embeddings", "type_vocab_size"):
    if getattr(own, key) != getattr(config, key):
      raise UserError(
          "%s=%s has %s=%d but %s says %d; drop --bert_config_file to use "
          "the model's own shapes." % (flag, source, key, getattr(own, key),
                                       config_source, getattr(config, key)))
