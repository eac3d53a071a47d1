r"""Writes BERT's hidden states for each token of each input line, as JSON.

Fixed contextual embeddings for a model of your own, with no fine-tuning. Run
it as the original:

  echo 'Who was Jim Henson ? ||| Jim Henson was a puppeteer' > /tmp/input.txt
  python extract_features.py --input_file=/tmp/input.txt \
      --output_file=/tmp/output.jsonl --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
      --layers=-1,-2,-3,-4 --max_seq_length=128 --batch_size=8

Each input line is one sentence (`text_a`) or a pair separated by ` ||| `
(`text_a ||| text_b`). Each output line is the JSON object

  {"linex_index": <input line number from 0>,
   "features": [{"token": "[CLS]",
                 "layers": [{"index": -1, "values": [...]}, ...]}, ...]}

with one entry per WordPiece token ([CLS] and [SEP] included, padding not)
and, for each of `--layers` (-1 is the last layer), its hidden state rounded
to 6 decimals. The output file is written under a temporary name and renamed
when complete.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import re
import tempfile

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import bert_inputs
from command_line import UserError
import modeling
import output_files
import runtime
import script_flags
import tf2_encoders
import tokenization

FLAGS = flags.FLAGS

script_flags.define("model", "tf2_encoder", "sequence", "tokenizer",
                    "special_tokens", "tpu")

# This script's own flags. Names that another script also defines
# (`input_file`, ...) allow that, so that several scripts can be imported
# into one process (tests); run as a command nothing changes.
_SHARED = dict(allow_override=True)

flags.DEFINE_string(
    "input_file", None,
    "Text file of one example a line: `text_a` or `text_a ||| text_b`.",
    **_SHARED)

flags.DEFINE_string(
    "output_file", None,
    "Where to write the JSON lines, one per input line.", **_SHARED)

flags.DEFINE_string(
    "layers", "-1,-2,-3,-4",
    "Comma-separated indexes of the encoder layers to output: 0 is the first "
    "layer, -1 the last (Python indexing).", **_SHARED)

flags.DEFINE_integer("batch_size", 32, "Batch size for predictions.",
                     **_SHARED)

flags.DEFINE_bool(
    "use_one_hot_embeddings", False,
    "If True, embeddings are looked up by a one-hot matmul instead of "
    "tf.gather. On TPUs this should be True since it is much faster.",
    **_SHARED)



class InputExample(object):
  """One input line: a sentence, or a pair of them."""

  def __init__(self, unique_id, text_a, text_b):
    self.unique_id = unique_id
    self.text_a = text_a
    self.text_b = text_b


class InputFeatures(object):
  """The WordPiece tokens of one example and the model inputs made of them."""

  def __init__(self, unique_id, tokens, input_ids, input_mask, input_type_ids):
    self.unique_id = unique_id
    self.tokens = tokens
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.input_type_ids = input_type_ids


def input_fn_builder(features, seq_length):
  """An `input_fn` over a list of `InputFeatures`, held in memory.

  Every feature becomes a graph constant: fine for the few thousand lines
  this script is meant for, not for large data.
  """
  columns = {
      "unique_ids": [f.unique_id for f in features],
      "input_ids": [f.input_ids for f in features],
      "input_mask": [f.input_mask for f in features],
      "input_type_ids": [f.input_type_ids for f in features],
  }
  num_examples = len(features)

  def input_fn(params):
    """The `input_fn` for TPUEstimator."""
    tensors = {}
    for name, values in columns.items():
      shape = [num_examples] if name == "unique_ids" else [
          num_examples, seq_length]
      tensors[name] = tf.constant(values, shape=shape, dtype=tf.int32)
    d = tf.data.Dataset.from_tensor_slices(tensors)
    return d.batch(batch_size=params["batch_size"], drop_remainder=False)

  return input_fn


def model_fn_builder(bert_config, init_checkpoint, layer_indexes, use_tpu,
                     use_one_hot_embeddings):
  """Returns a PREDICT-only `model_fn` that outputs the chosen layers.

  Predictions are `unique_id` and `layer_output_<i>` for the i-th entry of
  `layer_indexes`, each [seq_length, hidden_size] per example.
  """

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """The `model_fn` for TPUEstimator."""
    if mode != tf.estimator.ModeKeys.PREDICT:
      raise ValueError("Only PREDICT mode is supported: %s" % mode)

    model = modeling.BertModel(
        config=bert_config,
        is_training=False,
        input_ids=features["input_ids"],
        input_mask=features["input_mask"],
        token_type_ids=features["input_type_ids"],
        use_one_hot_embeddings=use_one_hot_embeddings)
    scaffold_fn = runtime.init_from_checkpoint(init_checkpoint, use_tpu)

    all_layers = model.get_all_encoder_layers()
    predictions = {"unique_id": features["unique_ids"]}
    for (i, layer_index) in enumerate(layer_indexes):
      predictions["layer_output_%d" % i] = all_layers[layer_index]
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, predictions=predictions, scaffold_fn=scaffold_fn)

  return model_fn


def convert_examples_to_features(examples, seq_length, tokenizer):
  """Tokenizes `InputExample`s into `InputFeatures` of `seq_length` tokens.

  A single sentence becomes `[CLS] a [SEP]` with segment (type) ids 0; a pair
  becomes `[CLS] a [SEP] b [SEP]` with ids 0 up to the first [SEP] included
  and 1 after it, the layout the model was pre-trained on. Longer inputs are
  truncated, then everything is zero-padded to `seq_length`.
  """
  features = []
  for (ex_index, example) in enumerate(examples):
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
    tokens, input_type_ids, _ = bert_inputs.classifier_inputs(
        tokenizer.tokenize(example.text_a), tokens_b, seq_length)
    input_ids = bert_inputs.pad(tokenizer.convert_tokens_to_ids(tokens),
                                seq_length)
    # Only real tokens are attended to.
    input_mask = bert_inputs.pad([1] * len(tokens), seq_length)
    input_type_ids = bert_inputs.pad(input_type_ids, seq_length)

    if ex_index < 5:
      _log_example(example, tokens, input_ids, input_mask, input_type_ids)
    features.append(
        InputFeatures(
            unique_id=example.unique_id,
            tokens=tokens,
            input_ids=input_ids,
            input_mask=input_mask,
            input_type_ids=input_type_ids))
  return features


def _log_example(example, tokens, input_ids, input_mask, input_type_ids):
  tf.logging.debug("*** Example ***")
  tf.logging.debug("unique_id: %s", example.unique_id)
  tf.logging.debug("tokens: %s",
                  " ".join(tokenization.printable_text(t) for t in tokens))
  tf.logging.debug("input_ids: %s", " ".join(str(x) for x in input_ids))
  tf.logging.debug("input_mask: %s", " ".join(str(x) for x in input_mask))
  tf.logging.debug("input_type_ids: %s",
                  " ".join(str(x) for x in input_type_ids))


_truncate_seq_pair = bert_inputs.truncate_seq_pair  # The original's name.


# `text_a ||| text_b`; a line without the separator is a single sentence.
_PAIR_PATTERN = re.compile(r"^(.*) \|\|\| (.*)$")


def read_examples(input_file):
  """One `InputExample` per line of `input_file`, unique_id = line number.

  Every line counts, blank ones included, so that output line i always
  belongs to input line i.
  """
  examples = []
  with tf.io.gfile.GFile(input_file, "r") as reader:
    for (unique_id, line) in enumerate(reader):
      line = tokenization.convert_to_unicode(line).strip()
      match = _PAIR_PATTERN.match(line)
      if match:
        (text_a, text_b) = (match.group(1), match.group(2))
      else:
        (text_a, text_b) = (line, None)
      examples.append(
          InputExample(unique_id=unique_id, text_a=text_a, text_b=text_b))
  return examples


def parse_layer_indexes(layers, num_hidden_layers):
  """The integers of `--layers`, each checked against the model's depth.

  Raises:
    UserError: an entry is not an integer or names no layer of the model.
  """
  try:
    layer_indexes = [int(x) for x in layers.split(",")]
  except ValueError:
    raise UserError("--layers=%s must be comma-separated integers such as "
                     "-1,-2,-3,-4." % layers)
  for index in layer_indexes:
    if not -num_hidden_layers <= index < num_hidden_layers:
      raise UserError(
          "--layers=%s: the model has %d layers, so an index must be in "
          "[%d, %d]." % (layers, num_hidden_layers, -num_hidden_layers,
                         num_hidden_layers - 1))
  return layer_indexes


def feature_json(unique_id, feature, result, layer_indexes):
  """The output JSON object of one example, from its predictions."""
  all_features = []
  for (i, token) in enumerate(feature.tokens):
    all_layers = []
    for (j, layer_index) in enumerate(layer_indexes):
      values = result["layer_output_%d" % j][i]
      all_layers.append({
          "index": layer_index,
          "values": [round(float(x), 6) for x in values],
      })
    all_features.append({"token": token, "layers": all_layers})
  return {"linex_index": unique_id, "features": all_features}


def main(_):
  settings = script_flags.from_flags()
  # A TF2 encoder (--hub_module_url, a TF2 --init_checkpoint) becomes an
  # original checkpoint, config and vocabulary; the rest of the run is as ever.
  settings = tf2_encoders.resolve_encoder(settings)
  bert_config = runtime.load_bert_config(settings.bert_config_file)
  layer_indexes = parse_layer_indexes(settings.layers,
                                      bert_config.num_hidden_layers)
  runtime.check_flags(settings, bert_config, settings.max_seq_length)
  tokenizer = runtime.load_tokenizer(settings)
  # Every encoder variable must come from the checkpoint: whatever it lacks
  # would be random, and so would the features.
  if not settings.init_checkpoint:
    raise UserError("--init_checkpoint (or --hub_module_url) is required: "
                    "features of a randomly initialised model mean nothing.")
  runtime.check_init_checkpoint(settings.init_checkpoint, bert_config)

  with command_line.reading("--input_file=%s" % settings.input_file):
    examples = read_examples(settings.input_file)
  features = convert_examples_to_features(
      examples=examples, seq_length=settings.max_seq_length,
      tokenizer=tokenizer)
  unique_id_to_feature = {f.unique_id: f for f in features}

  model_fn = model_fn_builder(
      bert_config=bert_config,
      init_checkpoint=settings.init_checkpoint,
      layer_indexes=layer_indexes,
      use_tpu=settings.use_tpu,
      use_one_hot_embeddings=settings.use_one_hot_embeddings)
  input_fn = input_fn_builder(features=features,
                              seq_length=settings.max_seq_length)
  num_written = 0
  # Nothing is trained or saved: the Estimator's model directory is a
  # temporary one, removed however the run ends.
  with tempfile.TemporaryDirectory(prefix="extract_features-") as model_dir:
    estimator = runtime.build_estimator(
        settings, model_fn, model_dir, train_batch_size=settings.batch_size,
        predict_batch_size=settings.batch_size)
    with output_files.atomic_text_file(settings.output_file) as writer:
      if features:
        for result in estimator.predict(input_fn, yield_single_examples=True):
          unique_id = int(result["unique_id"])
          output = feature_json(unique_id, unique_id_to_feature[unique_id],
                                result, layer_indexes)
          writer.write(json.dumps(output) + "\n")
          num_written += 1
  tf.logging.info("Wrote features of %d lines to %s", num_written,
                  settings.output_file)


if __name__ == "__main__":
  flags.mark_flag_as_required("input_file")
  flags.mark_flag_as_required("output_file")
  command_line.run(main, script_flags.grouped_help)
