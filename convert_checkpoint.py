r"""Converts BERT weights: Hugging Face <-> original; Model Garden -> original.

Only TensorFlow and numpy are required: safetensors files are read and written
by a small reader/writer here (the format is an 8-byte little-endian header
length, a JSON header and raw little-endian buffers). `pytorch_model.bin` is
read only when the optional `torch` is installed.

Hugging Face BERT directory -> original checkpoint:

  python convert_checkpoint.py --direction=hf_to_bert \
      --input_dir=/path/to/hf_bert --output_dir=/path/to/bert_dir

  reads `config.json`, `vocab.txt` and the weights (`model.safetensors`,
  a sharded `model.safetensors.index.json`, or `pytorch_model.bin` with torch)
  and writes `bert_model.ckpt.{index,data-00000-of-00001}` with the official
  variable names (`bert/embeddings/word_embeddings`, ...,
  `bert/pooler/dense/kernel`) and nothing else, `bert_config.json` (the 11
  keys `modeling.BertConfig` reads) and `vocab.txt`. Hugging Face's "gelu" is
  the erf form and becomes `gelu_exact`; "gelu_new", "gelu_pytorch_tanh" and
  "gelu_fast" are the tanh approximation the original calls "gelu". Task heads
  (`cls.*`, `classifier.*`, `qa_outputs.*`) are skipped.

Original checkpoint -> Hugging Face BERT directory:

  python convert_checkpoint.py --direction=bert_to_hf \
      --input_dir=/path/to/bert_dir --output_dir=/path/to/hf_bert

  reads `bert_config.json`, `vocab.txt` and `bert_model.ckpt` (or the prefix
  given with --input_checkpoint, e.g. a fine-tuned `model.ckpt-1000`) and
  writes `model.safetensors`, `config.json` (architectures ["BertModel"]),
  `tokenizer_config.json` and `vocab.txt`. Weight names carry no "bert."
  prefix (`embeddings.word_embeddings.weight`, ..., `pooler.dense.weight`),
  as `BertModel.save_pretrained` writes them; `from_pretrained` of `BertModel`
  and of the task classes (which add the prefix themselves) loads them. Only
  the encoder is written: optimizer slots (`adam_m`, `adam_v`), `global_step`
  and task heads (`output_weights`, `cls/*`) are skipped and listed in the log.

  With --head, a fine-tuned head is converted too, for the task classes
  (encoder names then carry their "bert." prefix):
  sequence_classification (run_classifier's `output_weights` [labels,
  hidden], `output_bias`) -> BertForSequenceClassification `classifier.*`;
  question_answering (run_squad's `cls/squad/output_weights` [2, hidden]:
  start, end) -> BertForQuestionAnswering `qa_outputs.*`;
  token_classification (run_ner's `output_weights`, `output_bias` over the
  sequence output) -> BertForTokenClassification `classifier.*`. The last
  two have no pooler. config.json gets `id2label`/`label2id` from
  --labels_file (an export's assets/bert_export.json, a task.json or a
  label_list.txt), else from the task.json that run_classifier.py and
  run_ner.py write beside their checkpoints (task_description.py);
  --head=auto tells the heads apart by their variables and that task kind
  (a directory of an older version, with label_list.txt alone: a token
  head, as run_ner.py wrote that file).

TF2 Model Garden BERT encoder (checkpoint or hub SavedModel) -> original:

  python convert_checkpoint.py --direction=model_garden_to_bert \
      --input_dir=/path/to/tf2_bert --output_dir=/path/to/bert_dir

  reads, with `tf2_encoders` (no Model Garden package needed), either a TF2
  hub SavedModel in --input_dir (Model Garden's export_tfhub.py / TF Hub text
  encoder format: its variables, `assets/vocab.txt` and `do_lower_case`) or
  an object-based checkpoint (--input_checkpoint, else the latest or only
  one in --input_dir) of `official.nlp.modeling.networks.BertEncoder` or the
  legacy keras_bert `TransformerEncoder` (`layer_with_weights-N/...` keys:
  0-2 the word, position and type tables, 3 the embedding layer norm, then
  one per Transformer block, then the pooler) or of `BertEncoderV2`
  (`_embedding_layer`, `_position_embedding_layer`, `_type_embedding_layer`,
  `_embedding_norm_layer`, `_transformer_layers/<i>/...`, `_pooler_layer`),
  saved as `tf.train.Checkpoint(encoder=...)`, `(model=...)` or nested
  deeper. Each block's `_attention_layer/_{query,key,value}_dense` kernels
  [hidden, heads, head_size] and `_output_dense` [heads, head_size, hidden]
  are flattened heads-outer (older releases' `_attention_output_dense` is
  read too). Optimizer slots and other objects are ignored. Factorised
  embeddings (`embedding_width` != hidden size) are refused. Pre-norm
  encoders (`norm_first=True`) have the same variables but compute
  differently; the checkpoint cannot tell them apart, so do not convert them.
  `vocab.txt` must be in --input_dir (or the hub model's assets), and
  `bert_config.json` if there is one is used and checked; without it the
  config is read off the shapes, with hidden_act "gelu" (Model Garden's
  default, the tanh approximation) and dropout 0.1. The training scripts
  also take such checkpoints in --init_checkpoint directly, and a hub model
  in --hub_module_url.

Python: `convert_checkpoint.convert(direction, input_dir, output_dir)`.

The output directory is written in full under a temporary name beside it and
renamed at the end, so a failed conversion leaves nothing behind. It must not
exist yet (or be empty) unless --overwrite is given.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import json
import os
import re
import shutil
import struct

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import numpy as np
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import export_format
import modeling
import output_files
import script_flags
import task_description
import tf2_encoders
import tokenization

flags.DEFINE_enum(
    "direction", None, ["hf_to_bert", "bert_to_hf", "model_garden_to_bert"],
    "hf_to_bert: a Hugging Face BERT directory to an original checkpoint. "
    "bert_to_hf: an original checkpoint to a Hugging Face directory. "
    "model_garden_to_bert: a TF2 Model Garden encoder (BertEncoder, "
    "BertEncoderV2 or keras_bert checkpoint, or a TF2 hub SavedModel) to an "
    "original checkpoint.")

flags.DEFINE_string(
    "input_dir", None,
    "Directory of the model to convert: config, vocab.txt and weights (see "
    "the module docstring for the files each --direction reads).")

# Flags that run_squad.py defines too are defined with `allow_override`, so
# that tests may import both scripts into one process.
flags.DEFINE_string(
    "output_dir", None,
    "Directory to create with the converted model. Must not exist or be "
    "empty, unless --overwrite.",
    allow_override=True)

flags.DEFINE_string(
    "input_checkpoint", None,
    "Checkpoint prefix to read instead of the default one in --input_dir "
    "(bert_to_hf: <input_dir>/bert_model.ckpt; model_garden_to_bert: the "
    "latest or only checkpoint there), e.g. /tmp/mrpc_output/model.ckpt-343.")

flags.DEFINE_bool(
    "overwrite", False,
    "Replace an existing, non-empty --output_dir (only once the new one is "
    "complete).")

flags.DEFINE_bool(
    "do_lower_case", True,
    "bert_to_hf only: written to tokenizer_config.json, since the original "
    "format does not record it. Pass --nodo_lower_case for cased models.",
    allow_override=True)

flags.DEFINE_enum(
    "head", "none", ["none", "auto", "sequence_classification",
                     "question_answering", "token_classification"],
    "bert_to_hf only: the task head to convert with the encoder. none: the "
    "encoder alone (BertModel). sequence_classification: run_classifier's "
    "output_weights/output_bias -> BertForSequenceClassification "
    "(classifier.*). question_answering: run_squad's cls/squad/* -> "
    "BertForQuestionAnswering (qa_outputs.*). token_classification: "
    "run_ner's output_weights/output_bias -> BertForTokenClassification. "
    "auto: from the checkpoint's variables; output_weights is a token or a "
    "sequence head as --labels_file or the task.json beside the checkpoint "
    "says (without task.json, a label_list.txt beside it means a token "
    "head).")

flags.DEFINE_string(
    "labels_file", None,
    "bert_to_hf with a classification head: where the label names (for "
    "config.json's id2label) come from: an export's "
    "assets/bert_export.json or a training run's task.json (their task also "
    "tells a sequence from a token head and marks regression and "
    "multi-label) or a label_list.txt, one name per line. Default: the "
    "task.json (else label_list.txt) beside the checkpoint if there, else "
    "LABEL_0, LABEL_1, ...")

# File names of the two formats.
BERT_CHECKPOINT = "bert_model.ckpt"
BERT_CONFIG = "bert_config.json"
VOCAB = "vocab.txt"
HF_CONFIG = "config.json"
HF_SAFETENSORS = "model.safetensors"
HF_SAFETENSORS_INDEX = "model.safetensors.index.json"
HF_TORCH = "pytorch_model.bin"

# Hugging Face activation name -> original `hidden_act`, and back. HF's "gelu"
# is the exact erf form; the original's "gelu" is the tanh approximation.
HF_TO_BERT_ACT = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
BERT_TO_HF_ACT = {
    "gelu": "gelu_new",
    "gelu_exact": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}

# What `transformers.BertConfig()` assumes for keys a config.json leaves out.
HF_CONFIG_DEFAULTS = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
}

# Top-level parts of HF's BertModel; other top-level names are task heads.
HF_ENCODER_PARTS = ("embeddings.", "encoder.", "pooler.")
# Buffers HF stores beside the weights; they are recomputed, never trained.
HF_BUFFERS = ("embeddings.position_ids",)

# (original name, HF name, kind) of the non-layer weights. The kind says how
# the leaf names map: an embedding table is `weight`, a dense layer is
# kernel/bias <-> weight/bias (transposed), a layer norm gamma/beta <->
# weight/bias.
_EMBEDDINGS = (
    ("bert/embeddings/word_embeddings", "embeddings.word_embeddings", "table"),
    ("bert/embeddings/token_type_embeddings",
     "embeddings.token_type_embeddings", "table"),
    ("bert/embeddings/position_embeddings", "embeddings.position_embeddings",
     "table"),
    ("bert/embeddings/LayerNorm", "embeddings.LayerNorm", "norm"),
)
_LAYER_PARTS = (
    ("attention/self/query", "attention.self.query", "dense"),
    ("attention/self/key", "attention.self.key", "dense"),
    ("attention/self/value", "attention.self.value", "dense"),
    ("attention/output/dense", "attention.output.dense", "dense"),
    ("attention/output/LayerNorm", "attention.output.LayerNorm", "norm"),
    ("intermediate/dense", "intermediate.dense", "dense"),
    ("output/dense", "output.dense", "dense"),
    ("output/LayerNorm", "output.LayerNorm", "norm"),
)
_POOLER = (("bert/pooler/dense", "pooler.dense", "dense"),)

# Leaf names of each kind: (original, HF, transposed).
_LEAVES = {
    "table": ((None, "weight", False),),
    "dense": (("kernel", "weight", True), ("bias", "bias", False)),
    "norm": (("gamma", "weight", False), ("beta", "bias", False)),
}


class ConversionError(UserError):
  """The input cannot be converted; the message names the file or variable."""


# --- names and shapes --------------------------------------------------------


def weight_map(num_layers):
  """[(original name, HF name, transposed)] of each encoder weight, in order."""
  groups = list(_EMBEDDINGS)
  for i in range(num_layers):
    groups += [("bert/encoder/layer_%d/%s" % (i, tf_part),
                "encoder.layer.%d.%s" % (i, hf_part), kind)
               for tf_part, hf_part, kind in _LAYER_PARTS]
  groups += list(_POOLER)
  names = []
  for tf_base, hf_base, kind in groups:
    for tf_leaf, hf_leaf, transposed in _LEAVES[kind]:
      tf_name = tf_base if tf_leaf is None else tf_base + "/" + tf_leaf
      names.append((tf_name, hf_base + "." + hf_leaf, transposed))
  return names


def expected_shapes(config):
  """Original variable name -> shape, as `BertModel` creates it for `config`."""
  h = config.hidden_size
  shapes = collections.OrderedDict([
      ("bert/embeddings/word_embeddings", (config.vocab_size, h)),
      ("bert/embeddings/token_type_embeddings", (config.type_vocab_size, h)),
      ("bert/embeddings/position_embeddings",
       (config.max_position_embeddings, h)),
      ("bert/embeddings/LayerNorm/gamma", (h,)),
      ("bert/embeddings/LayerNorm/beta", (h,)),
  ])
  dense_shapes = {
      "attention/self/query": (h, h),
      "attention/self/key": (h, h),
      "attention/self/value": (h, h),
      "attention/output/dense": (h, h),
      "intermediate/dense": (h, config.intermediate_size),
      "output/dense": (config.intermediate_size, h),
  }
  for i in range(config.num_hidden_layers):
    for part, _, kind in _LAYER_PARTS:
      base = "bert/encoder/layer_%d/%s" % (i, part)
      if kind == "dense":
        shapes[base + "/kernel"] = dense_shapes[part]
        shapes[base + "/bias"] = dense_shapes[part][1:]
      else:
        shapes[base + "/gamma"] = (h,)
        shapes[base + "/beta"] = (h,)
  shapes["bert/pooler/dense/kernel"] = (h, h)
  shapes["bert/pooler/dense/bias"] = (h,)
  return shapes


def check_weights(weights, config, source):
  """Raises ConversionError unless `weights` are exactly what `config` needs.

  Args:
    weights: original variable name -> numpy array.
    config: the `modeling.BertConfig` the weights must fit.
    source: file the weights came from, for the messages.
  """
  shapes = expected_shapes(config)
  missing = [name for name in shapes if name not in weights]
  if missing:
    raise ConversionError(
        "%s has no variable %s (%d missing); the config asks for %d layers." %
        (source, missing[0], len(missing), config.num_hidden_layers))
  extra = sorted(name for name in weights if name not in shapes)
  if extra:
    raise ConversionError(
        "%s has variable %s, which the config (num_hidden_layers=%d) does not "
        "have." % (source, extra[0], config.num_hidden_layers))
  for name, shape in shapes.items():
    if tuple(weights[name].shape) != tuple(shape):
      raise ConversionError(
          "%s: variable %s has shape %s but the config needs %s." %
          (source, name, list(weights[name].shape), list(shape)))


def check_vocab(vocab_file, config):
  """Raises ConversionError unless `vocab_file` has `vocab_size` tokens."""
  if not os.path.isfile(vocab_file):
    raise ConversionError("Missing file %s: the vocabulary is required." %
                          vocab_file)
  try:
    vocab = tokenization.load_vocab(vocab_file)
  except ValueError as e:
    raise ConversionError(str(e))
  if len(vocab) != config.vocab_size:
    raise ConversionError(
        "%s has %d tokens but the word embedding table has %d rows "
        "(vocab_size); they must be the same vocabulary." %
        (vocab_file, len(vocab), config.vocab_size))
  return vocab


# --- safetensors ------------------------------------------------------------

# safetensors dtype name <-> numpy dtype (all little-endian). BF16 has no numpy
# type and is widened to float32 on reading, which is exact.
_SAFETENSORS_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def read_safetensors(path):
  """Reads a safetensors file into an ordered dict name -> numpy array."""
  file_size = os.path.getsize(path)
  with open(path, "rb") as f:
    prefix = f.read(8)
    if len(prefix) < 8:
      raise ConversionError("%s is not a safetensors file (too short)." % path)
    header_size = struct.unpack("<Q", prefix)[0]
    if header_size > file_size - 8:
      raise ConversionError("%s is not a safetensors file (header length %d "
                            "past the end of the file)." % (path, header_size))
    try:
      header = json.loads(f.read(header_size).decode("utf-8"))
    except ValueError as e:
      raise ConversionError("%s: safetensors header is not JSON: %s" %
                            (path, e))
  if not isinstance(header, dict):
    raise ConversionError("%s: safetensors header is not a JSON object." % path)
  if file_size > 8 + header_size:
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_size)
  else:
    data = np.zeros([0], np.uint8)  # A file of empty tensors only.
  tensors = collections.OrderedDict()
  for name, info in header.items():
    if name == "__metadata__":
      continue
    tensors[name] = _decode_tensor(path, name, info, data)
  return tensors


def _decode_tensor(path, name, info, data):
  """One tensor of a safetensors file, copied out of the memory map."""
  dtype_name = info.get("dtype")
  shape = [int(d) for d in info.get("shape", [])]
  begin, end = info.get("data_offsets", (0, -1))
  if dtype_name == "BF16":
    dtype = np.dtype("<u2")
  elif dtype_name in _SAFETENSORS_DTYPES:
    dtype = _SAFETENSORS_DTYPES[dtype_name]
  else:
    raise ConversionError("%s: tensor %s has dtype %s, which this reader does "
                          "not support." % (path, name, dtype_name))
  size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  if not 0 <= begin <= end or end - begin != size:
    raise ConversionError("%s: tensor %s has data_offsets %s that do not fit "
                          "its shape %s and dtype %s." %
                          (path, name, [begin, end], shape, dtype_name))
  if end > len(data):
    raise ConversionError("%s: tensor %s ends at byte %d of the data but the "
                          "file holds %d: the file is truncated." %
                          (path, name, end, len(data)))
  array = np.array(data[begin:end]).view(dtype).reshape(shape)
  if dtype_name == "BF16":
    # bfloat16 is the high half of a float32.
    return (array.astype(np.uint32) << 16).view(np.float32)
  return array.astype(dtype.newbyteorder("="), copy=False)


def write_safetensors(path, tensors, metadata=None):
  """Writes name -> numpy array as a safetensors file.

  Tensors are laid out in name order and the header is compact JSON padded
  with spaces to a multiple of 8 bytes, as the `safetensors` package writes
  it, so a file of one dtype is byte for byte the package's.
  """
  dtype_names = dict((dtype, name) for name, dtype in
                     _SAFETENSORS_DTYPES.items())
  header = collections.OrderedDict()
  if metadata:
    header["__metadata__"] = metadata
  offset = 0
  buffers = []
  for name in sorted(tensors):
    array = np.ascontiguousarray(tensors[name])
    little = array.dtype.newbyteorder("<")
    if little not in dtype_names:
      raise ConversionError("Tensor %s has dtype %s, which safetensors files "
                            "cannot hold here." % (name, array.dtype))
    array = array.astype(little, copy=False)
    header[name] = collections.OrderedDict([
        ("dtype", dtype_names[little]),
        ("shape", list(array.shape)),
        ("data_offsets", [offset, offset + array.nbytes]),
    ])
    offset += array.nbytes
    buffers.append(array)
  header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
  header_bytes += b" " * (-len(header_bytes) % 8)
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(header_bytes)))
    f.write(header_bytes)
    for array in buffers:
      f.write(array.tobytes())


def read_torch_weights(path):
  """Reads `pytorch_model.bin` with the optional torch package."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConversionError(
        "%s needs the optional package torch to read: `pip install torch`, or "
        "convert the model to model.safetensors first." % path)
  # weights_only refuses pickled code, which a model file must never need.
  state = torch.load(path, map_location="cpu", weights_only=True)
  tensors = collections.OrderedDict()
  for name, value in state.items():
    value = value.detach().cpu()
    if value.is_floating_point() and value.dtype != torch.float64:
      value = value.float()  # numpy has no bfloat16.
    tensors[name] = value.numpy()
  return tensors


# --- original checkpoints -------------------------------------------------


write_bert_checkpoint = tf2_encoders.write_bert_checkpoint


def read_bert_checkpoint(prefix, config):
  """Reads the encoder weights of an original checkpoint.

  Returns:
    (weights, skipped): name -> array of exactly the variables `config`
    needs, and the names left out (optimizer slots, global_step, heads).
  """
  try:
    reader = tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, ValueError) as e:
    raise ConversionError("Cannot read checkpoint %s: %s" % (prefix, e))
  wanted = expected_shapes(config)
  weights = collections.OrderedDict()
  skipped = []
  for name in sorted(reader.get_variable_to_shape_map()):
    if name in wanted:
      weights[name] = reader.get_tensor(name)
    elif not name.startswith("bert/") or _is_slot_of(name, wanted):
      skipped.append(name)
    else:
      raise ConversionError(
          "Checkpoint %s has variable %s, which the encoder of %s "
          "(num_hidden_layers=%d) does not have." %
          (prefix, name, BERT_CONFIG, config.num_hidden_layers))
  check_weights(weights, config, "Checkpoint %s" % prefix)
  return weights, skipped


def _is_slot_of(name, variable_names):
  """Whether `name` is an optimizer slot such as `<variable>/adam_m`."""
  head = name.rsplit("/", 1)[0]
  return head in variable_names


def _checkpoint_exists(prefix):
  return tf.io.gfile.exists(prefix + ".index")


# --- Hugging Face ---------------------------------------------------------


def read_hf_config(path):
  """Reads a Hugging Face `config.json` of a BERT model into a BertConfig."""
  try:
    with open(path, encoding="utf-8") as f:
      hf = json.load(f)
  except ValueError as e:
    raise ConversionError("%s is not valid JSON: %s" % (path, e))
  if not isinstance(hf, dict):
    raise ConversionError("%s must hold a JSON object." % path)
  model_type = hf.get("model_type")
  architectures = hf.get("architectures") or []
  if model_type is not None and model_type != "bert":
    raise ConversionError(
        "%s is a %r model (model_type), not BERT; only model_type \"bert\" "
        "can be converted." % (path, model_type))
  other = [a for a in architectures if not a.startswith("Bert")]
  if model_type is None and other:
    raise ConversionError("%s describes %s, not a BERT model." %
                          (path, ", ".join(other)))
  for key, wanted in (("position_embedding_type", "absolute"),
                      ("is_decoder", False), ("add_cross_attention", False)):
    if key in hf and hf[key] != wanted:
      raise ConversionError("%s has %s=%r; the original BERT only has %r." %
                            (path, key, hf[key], wanted))
  defaulted = [k for k in HF_CONFIG_DEFAULTS if k not in hf]
  if defaulted:
    tf.logging.warning("%s has no %s; using transformers' defaults.", path,
                       ", ".join(defaulted))
  values = dict(HF_CONFIG_DEFAULTS)
  values.update((k, hf[k]) for k in HF_CONFIG_DEFAULTS if k in hf)
  if abs(values["layer_norm_eps"] - modeling.LAYER_NORM_EPSILON) > 1e-15:
    raise ConversionError(
        "%s has layer_norm_eps=%g, but the original BERT's layer norm uses "
        "%g; the converted model would give different outputs." %
        (path, values["layer_norm_eps"], modeling.LAYER_NORM_EPSILON))
  act = values["hidden_act"]
  if act not in HF_TO_BERT_ACT:
    raise ConversionError(
        "%s has hidden_act=%r; supported: %s." %
        (path, act, ", ".join(sorted(HF_TO_BERT_ACT))))
  values["hidden_act"] = HF_TO_BERT_ACT[act]
  return modeling.BertConfig.from_dict(
      dict((k, values[k]) for k in modeling.CONFIG_KEYS))


def bert_config_to_hf(config, vocab):
  """The `config.json` of a Hugging Face BertModel for `config`."""
  if config.hidden_act not in BERT_TO_HF_ACT:
    raise ConversionError(
        "hidden_act=%r has no Hugging Face equivalent; supported: %s." %
        (config.hidden_act, ", ".join(sorted(BERT_TO_HF_ACT))))
  hf = collections.OrderedDict([
      ("architectures", ["BertModel"]),
      ("model_type", "bert"),
  ])
  for key in modeling.CONFIG_KEYS:
    hf[key] = getattr(config, key)
  hf["hidden_act"] = BERT_TO_HF_ACT[config.hidden_act]
  hf["layer_norm_eps"] = modeling.LAYER_NORM_EPSILON
  hf["pad_token_id"] = vocab.get("[PAD]", 0)
  hf["position_embedding_type"] = "absolute"
  return hf


def find_hf_weights(input_dir):
  """The weights file of a Hugging Face directory, preferring safetensors."""
  for name in (HF_SAFETENSORS, HF_SAFETENSORS_INDEX, HF_TORCH):
    path = os.path.join(input_dir, name)
    if os.path.isfile(path):
      return path
  raise ConversionError(
      "Missing file %s in %s: no Hugging Face weights (%s, %s or %s) found." %
      (HF_SAFETENSORS, input_dir, HF_SAFETENSORS, HF_SAFETENSORS_INDEX,
       HF_TORCH))


def read_hf_weights(path):
  """name -> array from safetensors (single or sharded) or a torch file."""
  if path.endswith(".bin"):
    return read_torch_weights(path)
  if not path.endswith(".index.json"):
    return read_safetensors(path)
  with open(path, encoding="utf-8") as f:
    weight_files = json.load(f).get("weight_map", {})
  tensors = collections.OrderedDict()
  for shard in sorted(set(weight_files.values())):
    shard_path = os.path.join(os.path.dirname(path), shard)
    if not os.path.isfile(shard_path):
      raise ConversionError("Missing file %s, a shard named in %s." %
                            (shard_path, path))
    tensors.update(read_safetensors(shard_path))
  return tensors


def hf_to_bert_weights(hf_weights, num_layers, source):
  """Renames (and transposes) HF BertModel weights to the original names.

  Returns:
    (weights, skipped): original name -> float32 array, and the HF names of
    task heads and buffers that were left out.
  """
  prefix = "bert." if any(k.startswith("bert.") for k in hf_weights) else ""
  encoder = {}
  skipped = []
  for name, value in hf_weights.items():
    if not name.startswith(prefix):
      skipped.append(name)
      continue
    short = name[len(prefix):]
    # Older files name the layer-norm parameters gamma/beta.
    short = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", short)
    short = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", short)
    if short in HF_BUFFERS or not short.startswith(HF_ENCODER_PARTS):
      skipped.append(name)
    else:
      encoder[short] = value
  weights = collections.OrderedDict()
  for tf_name, hf_name, transposed in weight_map(num_layers):
    if hf_name not in encoder:
      raise ConversionError("%s has no weight %s%s (for %s)." %
                            (source, prefix, hf_name, tf_name))
    value = encoder.pop(hf_name)
    if not np.issubdtype(value.dtype, np.floating):
      raise ConversionError("%s: weight %s%s has dtype %s, not a float." %
                            (source, prefix, hf_name, value.dtype))
    value = value.astype(np.float32, copy=False)
    weights[tf_name] = np.ascontiguousarray(value.T if transposed else value)
  if encoder:
    raise ConversionError(
        "%s has weight %s%s, which a BERT encoder with num_hidden_layers=%d "
        "does not have." % (source, prefix, sorted(encoder)[0], num_layers))
  return weights, skipped


def bert_to_hf_weights(weights, num_layers):
  """The inverse of `hf_to_bert_weights`: HF name (no prefix) -> array."""
  tensors = collections.OrderedDict()
  for tf_name, hf_name, transposed in weight_map(num_layers):
    value = weights[tf_name]
    tensors[hf_name] = np.ascontiguousarray(value.T if transposed else value)
  return tensors


# --- Model Garden -----------------------------------------------------------

def find_model_garden_checkpoint(input_dir, input_checkpoint):
  """The checkpoint prefix to read: the flag, the latest, or the only one."""
  if input_checkpoint:
    return input_checkpoint
  latest = tf.train.latest_checkpoint(input_dir)
  if latest:
    return latest
  prefixes = sorted(name[:-len(".index")] for name in os.listdir(input_dir)
                    if name.endswith(".index"))
  if len(prefixes) != 1:
    raise ConversionError(
        "Missing checkpoint in %s: found %s; name the one to convert with "
        "--input_checkpoint." %
        (input_dir, ", ".join(prefixes) if prefixes else "no *.index file"))
  return os.path.join(input_dir, prefixes[0])


def read_model_garden(input_dir, input_checkpoint=None):
  """The encoder of a hub SavedModel in --input_dir, else of the
  object-based checkpoint there (`tf2_encoders`), errors as ConversionError."""
  try:
    if not input_checkpoint and tf2_encoders.is_hub_saved_model(input_dir):
      return tf2_encoders.read_hub_model(input_dir)
    prefix = find_model_garden_checkpoint(input_dir, input_checkpoint)
    return tf2_encoders.read_encoder_checkpoint(prefix)
  except ConversionError:
    raise
  except UserError as e:
    raise ConversionError(str(e))


config_from_shapes = tf2_encoders.config_from_shapes


# --- directions -------------------------------------------------------------


def _require_file(input_dir, name):
  path = os.path.join(input_dir, name)
  if not os.path.isfile(path):
    raise ConversionError("Missing file %s (expected in --input_dir=%s)." %
                          (name, input_dir))
  return path


def _load_bert_config(path):
  try:
    return modeling.BertConfig.from_json_file(path)
  except ValueError as e:
    raise ConversionError(str(e))


def hf_to_bert(input_dir, output_dir):
  """Reads a Hugging Face BERT directory and writes the original files."""
  config = read_hf_config(_require_file(input_dir, HF_CONFIG))
  vocab_file = _require_file(input_dir, VOCAB)
  weights_file = find_hf_weights(input_dir)
  weights, skipped = hf_to_bert_weights(read_hf_weights(weights_file),
                                        config.num_hidden_layers, weights_file)
  check_weights(weights, config, weights_file)
  check_vocab(vocab_file, config)
  _log_skipped(skipped)
  _log_casing(input_dir)
  return _writer(output_dir, lambda tmp: _write_bert_dir(
      tmp, weights, config, vocab_file))


def _log_casing(input_dir):
  """Tells the user a cased model's flag, which the original format lacks."""
  path = os.path.join(input_dir, "tokenizer_config.json")
  try:
    with open(path, encoding="utf-8") as f:
      lower = json.load(f).get("do_lower_case", True)
  except (IOError, ValueError, AttributeError):
    return
  if lower is False:
    tf.logging.warning("%s says do_lower_case=false: this is a cased model; "
                       "pass --do_lower_case=False to run_classifier.py and "
                       "the other scripts.", path)


def model_garden_to_bert(input_dir, output_dir, input_checkpoint=None):
  """Reads a Model Garden encoder (checkpoint or hub SavedModel); writes the
  original files."""
  encoder = read_model_garden(input_dir, input_checkpoint)
  weights, num_heads, source = encoder.weights, encoder.num_heads, (
      encoder.source)
  vocab_file = (os.path.join(input_dir, VOCAB)
                if os.path.isfile(os.path.join(input_dir, VOCAB))
                else encoder.vocab_file)
  if not vocab_file:
    _require_file(input_dir, VOCAB)
  config_file = os.path.join(input_dir, BERT_CONFIG)
  if os.path.isfile(config_file):
    config = _load_bert_config(config_file)
  else:
    config = config_from_shapes(weights, num_heads)
    tf.logging.warning("No %s in %s: config read off the shapes, with "
                       "hidden_act=gelu (tanh approximation).", BERT_CONFIG,
                       input_dir)
  check_weights(weights, config, "Checkpoint %s" % source)
  if config.num_attention_heads != num_heads:
    raise ConversionError(
        "Checkpoint %s has %d attention heads, %s says %d." %
        (source, num_heads, config_file, config.num_attention_heads))
  check_vocab(vocab_file, config)
  if encoder.do_lower_case is False:
    tf.logging.warning("%s says do_lower_case=False: this is a cased model; "
                       "pass --do_lower_case=False to the other scripts.",
                       source)
  return _writer(output_dir, lambda tmp: _write_bert_dir(
      tmp, weights, config, vocab_file))


def bert_to_hf(input_dir, output_dir, input_checkpoint=None,
               do_lower_case=True, head="none", labels_file=None):
  """Reads an original checkpoint directory and writes a Hugging Face one.

  With a `head` other than "none", the task head is converted too (see
  `convert_head`) and the encoder's names get the task classes' "bert."
  prefix.
  """
  config = _load_bert_config(_require_file(input_dir, BERT_CONFIG))
  vocab_file = _require_file(input_dir, VOCAB)
  prefix = input_checkpoint or os.path.join(input_dir, BERT_CHECKPOINT)
  if not _checkpoint_exists(prefix):
    raise ConversionError("Missing file %s.index: no checkpoint %s." %
                          (prefix, prefix))
  weights, skipped = read_bert_checkpoint(prefix, config)
  vocab = check_vocab(vocab_file, config)
  tensors = bert_to_hf_weights(weights, config.num_hidden_layers)
  hf_config = bert_config_to_hf(config, vocab)
  if head != "none":
    head_tensors, head_config, used = convert_head(
        prefix, head, labels_file, config.hidden_size)
    skipped = [n for n in skipped if n not in used]
    if head_config["architectures"][0] != "BertForSequenceClassification":
      # BertForQuestionAnswering and BertForTokenClassification have no
      # pooler (add_pooling_layer=False).
      tensors = collections.OrderedDict(
          (k, v) for k, v in tensors.items() if not k.startswith("pooler."))
    tensors = collections.OrderedDict(
        [("bert." + k, v) for k, v in tensors.items()] +
        list(head_tensors.items()))
    hf_config.update(head_config)
  _log_skipped(skipped)
  tokenizer_config = collections.OrderedDict([
      ("tokenizer_class", "BertTokenizer"),
      ("do_lower_case", bool(do_lower_case)),
      ("model_max_length", config.max_position_embeddings),
  ])

  def write(tmp):
    # "pt" marks the layout transformers expects of a PyTorch model.
    write_safetensors(os.path.join(tmp, HF_SAFETENSORS), tensors,
                      metadata={"format": "pt"})
    _write_json(os.path.join(tmp, HF_CONFIG), hf_config)
    _write_json(os.path.join(tmp, "tokenizer_config.json"), tokenizer_config)
    shutil.copyfile(vocab_file, os.path.join(tmp, VOCAB))

  return _writer(output_dir, write)


# --- task heads (bert_to_hf) -------------------------------------------------

# Checkpoint variables of each head ([num_outputs, hidden] weights, as the
# original's scripts create them) and the Hugging Face class and layer name.
HEADS = collections.OrderedDict([
    ("sequence_classification", (("output_weights", "output_bias"),
                                 "BertForSequenceClassification",
                                 "classifier")),
    ("token_classification", (("output_weights", "output_bias"),
                              "BertForTokenClassification", "classifier")),
    ("question_answering", (("cls/squad/output_weights",
                             "cls/squad/output_bias"),
                            "BertForQuestionAnswering", "qa_outputs")),
])
LABEL_LIST = "label_list.txt"


def convert_head(prefix, head, labels_file, hidden_size):
  """The head of checkpoint `prefix` in Hugging Face names.

  Returns:
    (tensors: HF name -> array, config.json entries, checkpoint names used).
  """
  reader = tf.train.load_checkpoint(prefix)
  names = reader.get_variable_to_shape_map()
  task, labels, labels_file = _task_and_labels(prefix, labels_file)
  kind = _head_kind(head, names, task, prefix)
  (weight_name, bias_name), architecture, layer = HEADS[kind]
  for name in (weight_name, bias_name):
    if name not in names:
      raise ConversionError(
          "--head=%s: checkpoint %s has no %s; it is not a fine-tuned %s "
          "checkpoint." % (kind, prefix, name, architecture))
  weight = reader.get_tensor(weight_name)
  bias = reader.get_tensor(bias_name)
  if (weight.ndim != 2 or weight.shape[1] != hidden_size or
      bias.shape != (weight.shape[0],)):
    raise ConversionError(
        "Checkpoint %s: %s %s and %s %s are not a head [outputs, %d] over "
        "the encoder." % (prefix, weight_name, list(weight.shape), bias_name,
                          list(bias.shape), hidden_size))
  config = collections.OrderedDict([("architectures", [architecture])])
  if kind != "question_answering":
    config.update(_label_config(weight.shape[0], labels, task, labels_file))
  tensors = collections.OrderedDict([
      (layer + ".weight", np.ascontiguousarray(weight)),
      (layer + ".bias", np.ascontiguousarray(bias))])
  tf.logging.info("Converted the %s head (%s, %d outputs) to %s", kind,
                  weight_name, weight.shape[0], architecture)
  return tensors, config, (weight_name, bias_name)


def _task_and_labels(prefix, labels_file):
  """(task kind or None, label names or None, where they came from) of the
  checkpoint `prefix`: --labels_file, else the description its training run
  wrote beside it (`task_description.read`: task.json, else label_list.txt).
  The kind is --labels_file's, else task.json's; label_list.txt alone (a
  directory of an older version) is run_ner.py's, a token head."""
  directory = os.path.dirname(prefix)
  try:
    described = task_description.read(directory)
  except UserError as e:
    raise ConversionError(str(e))
  if labels_file:
    task, labels = read_labels(labels_file)
  elif described is not None:
    task, labels = described.kind, described.labels
    labels_file = os.path.join(directory, task_description.TASK_FILE
                               if described.kind else LABEL_LIST)
  else:
    return None, None, None
  if task is None and described is not None:
    task = described.kind
  if task is None and labels is not None:
    task = "token_classification"
  return task, None if labels is None else list(labels), labels_file


def _head_kind(head, names, task, prefix):
  if head != "auto":
    return head
  if "cls/squad/output_weights" in names:
    return "question_answering"
  if "output_weights" in names:
    if task == "token_classification":
      return "token_classification"
    return "sequence_classification"
  raise ConversionError(
      "--head=auto: checkpoint %s has no task head (no output_weights, no "
      "cls/squad/output_weights); use --head=none for the encoder." % prefix)


def read_labels(path):
  """(task kind or None, label names or None) of a bert_export.json, a
  task.json (task_description.py) or a label_list.txt (kind None: unknown).
  """
  if not os.path.isfile(path):
    raise ConversionError("--labels_file=%s does not exist." % path)
  if not path.endswith(".json"):
    try:
      return None, task_description.read_label_list(path)
    except UserError as e:
      raise ConversionError(str(e))
  with open(path, encoding="utf-8") as f:
    text = f.read()
  try:
    data = json.loads(text)
    if isinstance(data, dict) and data.get("format") == task_description.FORMAT:
      described = task_description.from_json_dict(data, path)
      return described.kind, described.labels
    if data["task"] not in export_format.TASKS:
      raise ValueError("unknown task %r" % data["task"])
    return (task_description.from_export_metadata(data).kind,
            data["labels"])
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise ConversionError("%s is not an export's bert_export.json or a "
                          "task.json (%s)." % (path, e))


def _label_config(num_outputs, labels, task, labels_file):
  """id2label / label2id (and the problem_type of regression and
  multi-label) of config.json."""
  if task == "regression" or (labels is None and task is not None):
    return collections.OrderedDict([("problem_type", "regression"),
                                    ("num_labels", num_outputs)])
  if labels is None:
    labels = ["LABEL_%d" % i for i in range(num_outputs)]
  if len(labels) != num_outputs:
    raise ConversionError(
        "%s names %d labels, but the head has %d outputs." %
        (labels_file, len(labels), num_outputs))
  config = collections.OrderedDict([
      ("id2label", collections.OrderedDict(
          (str(i), str(l)) for i, l in enumerate(labels))),
      ("label2id", collections.OrderedDict(
          (str(l), i) for i, l in enumerate(labels)))])
  if task == "multi_label":  # A sigmoid per label, as transformers names it.
    config["problem_type"] = "multi_label_classification"
  return config


def _write_bert_dir(tmp, weights, config, vocab_file):
  write_bert_checkpoint(weights, os.path.join(tmp, BERT_CHECKPOINT))
  output_files.write_text_atomically(os.path.join(tmp, BERT_CONFIG),
                                config.to_json_string())
  shutil.copyfile(vocab_file, os.path.join(tmp, VOCAB))


def _write_json(path, value):
  output_files.write_text_atomically(path, json.dumps(value, indent=2) + "\n")


def _log_skipped(skipped):
  if skipped:
    tf.logging.info("Skipped %d variable(s) that are not encoder weights: %s",
                    len(skipped), ", ".join(skipped[:20]) +
                    (", ..." if len(skipped) > 20 else ""))


# --- output directory -------------------------------------------------------


def _writer(output_dir, write):
  """Runs `write(tmp)` in a new directory beside `output_dir`, which then
  replaces `output_dir` (`output_files.atomic_directory`): nothing appears
  under `output_dir` unless `write` finished."""
  output_dir = os.path.abspath(output_dir)
  with output_files.atomic_directory(output_dir) as tmp:
    write(tmp)
  return output_dir


def convert(direction, input_dir, output_dir, input_checkpoint=None,
            overwrite=False, do_lower_case=True, head="none",
            labels_file=None):
  """Converts the model in `input_dir` as `direction` says; see the flags."""
  if not input_dir or not os.path.isdir(input_dir):
    raise ConversionError("--input_dir=%s is not a directory." % input_dir)
  if not output_dir:
    raise ConversionError("--output_dir is required.")
  if os.path.abspath(input_dir) == os.path.abspath(output_dir):
    raise ConversionError("--output_dir must differ from --input_dir.")
  output_files.check_new_directory(output_dir, "--output_dir", "--overwrite",
                                   overwrite)
  if input_checkpoint and direction == "hf_to_bert":
    raise ConversionError("--input_checkpoint is not used with "
                          "--direction=hf_to_bert; the weights are read from "
                          "--input_dir.")
  if direction == "hf_to_bert":
    return hf_to_bert(input_dir, output_dir)
  if head != "none" and direction != "bert_to_hf":
    raise ConversionError("--head=%s is for --direction=bert_to_hf; the other "
                          "directions convert the encoder only." % head)
  if direction == "bert_to_hf":
    return bert_to_hf(input_dir, output_dir, input_checkpoint, do_lower_case,
                      head, labels_file)
  if direction == "model_garden_to_bert":
    return model_garden_to_bert(input_dir, output_dir, input_checkpoint)
  raise ConversionError("Unknown --direction=%s." % direction)


def main(_):
  settings = script_flags.from_flags()
  script_flags.warn_if_tokenizer_settings_set(settings)
  path = convert(settings.direction, settings.input_dir, settings.output_dir,
                 input_checkpoint=settings.input_checkpoint,
                 overwrite=settings.overwrite,
                 do_lower_case=settings.do_lower_case, head=settings.head,
                 labels_file=settings.labels_file)
  tf.logging.info("Wrote %s: %s", path, ", ".join(sorted(os.listdir(path))))


if __name__ == "__main__":
  flags.mark_flag_as_required("direction")
  flags.mark_flag_as_required("input_dir")
  flags.mark_flag_as_required("output_dir")
  command_line.run(main, script_flags.grouped_help)
