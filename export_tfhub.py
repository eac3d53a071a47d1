r"""Writes a BERT checkpoint as a TF Hub model: TF1 `hub.Module` or TF2 SavedModel.

  python export_tfhub.py --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
      --vocab_file=$BERT_BASE_DIR/vocab.txt --do_lower_case=True \
      --export_dir=/tmp/bert_hub_module

The module has the two signatures of the BERT modules Google published for
`hub.Module`, which `run_classifier_with_tfhub.py` uses:

  tokens: input_ids, input_mask, segment_ids (int32 [batch, seq_length]) ->
      pooled_output [batch, hidden], sequence_output [batch, seq_length,
      hidden].
  tokenization_info: no inputs -> vocab_file (path of the module's copy of
      the vocabulary), do_lower_case (bool).

and two graph versions: tags {"train"} (with the config's dropout) and the
default set() (without). Its variables are the encoder's (`bert/...`) from
--init_checkpoint; a pre-training head or optimizer slots there are left out.

With --format=tf2 it writes instead the TF2 SavedModel of TF Hub's BERT
encoders and Model Garden's `export_tfhub.py`, which TF2 code loads with
`hub.KerasLayer(path, trainable=True)` or `tf.saved_model.load(path)`:

  called with a dict of int32 [batch, seq_length] tensors input_word_ids,
  input_mask, input_type_ids -> a dict of pooled_output [batch, hidden],
  sequence_output [batch, seq_length, hidden], encoder_outputs (one
  [batch, seq_length, hidden] per layer) and default (= pooled_output);
  attributes vocab_file (an asset: assets/vocab.txt), do_lower_case (a bool
  variable), variables and trainable_variables (the encoder's).

Its forward pass is `modeling.BertModel`'s own graph (so its numbers are the
checkpoint's exactly): without dropout by default, with the config's dropout
when called with `training=True` (as hub.KerasLayer does while fine-tuning).

Needs (tf1 format only) the optional package tensorflow-hub 0.15 (0.16 dropped `hub.Module`):
  pip install "tensorflow-hub==0.15.0" "setuptools<81"
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import modeling
import output_files
import runtime
import script_flags
import tokenization

script_flags.define("model", "tokenizer")

flags.DEFINE_string(
    "export_dir", None,
    "Directory to write the module to (the --bert_hub_module_handle of "
    "run_classifier_with_tfhub.py). Must not exist or be empty; the module "
    "is written beside it under a temporary name and renamed when complete.",
    allow_override=True)

flags.DEFINE_enum(
    "format", "tf1", ["tf1", "tf2"],
    "tf1: a hub.Module (run_classifier_with_tfhub.py, TF1 code). tf2: the "
    "TF2 SavedModel of TF Hub's BERT encoders and Model Garden "
    "(hub.KerasLayer, --hub_module_url of Model Garden's scripts).")

INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")
# The TF2 format's names of the same three inputs, in the same order.
TF2_INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def module_fn_builder(bert_config, vocab_file, do_lower_case):
  """The `module_fn` of `hub.create_module_spec` for a BERT encoder."""

  def module_fn(is_training):
    hub = command_line.tensorflow_hub()
    inputs = {name: tf.placeholder(tf.int32, [None, None], name=name)
              for name in INPUT_NAMES}
    model = modeling.BertModel(
        config=bert_config,
        is_training=is_training,
        input_ids=inputs["input_ids"],
        input_mask=inputs["input_mask"],
        token_type_ids=inputs["segment_ids"])
    hub.add_signature("tokens", inputs=inputs, outputs={
        "pooled_output": model.get_pooled_output(),
        "sequence_output": model.get_sequence_output(),
    })
    # An asset: the module gets a copy, and this tensor then holds its path.
    vocab = tf.constant(vocab_file, name="vocab_file")
    tf.add_to_collection(tf.GraphKeys.ASSET_FILEPATHS, vocab)
    hub.add_signature("tokenization_info", inputs={}, outputs={
        "vocab_file": vocab,
        "do_lower_case": tf.constant(do_lower_case, name="do_lower_case"),
    })

  return module_fn


def create_module_spec(bert_config, vocab_file, do_lower_case):
  hub = command_line.tensorflow_hub()
  return hub.create_module_spec(
      module_fn_builder(bert_config, vocab_file, do_lower_case),
      tags_and_args=[({"train"}, {"is_training": True}),
                     (set(), {"is_training": False})])


def export_module(bert_config, init_checkpoint, vocab_file, do_lower_case,
                  export_dir):
  """Writes the module to `export_dir` (via a temporary directory)."""
  hub = command_line.tensorflow_hub()
  spec = create_module_spec(bert_config, vocab_file, do_lower_case)
  with output_files.atomic_directory(export_dir) as tmp_dir:
    with tf.Graph().as_default():
      module = hub.Module(spec)
      saver = tf.train.Saver(module.variable_map)
      with tf.Session() as session:
        saver.restore(session, init_checkpoint)
        # hub.Module.export creates its directory itself.
        tf.io.gfile.rmtree(tmp_dir)
        module.export(tmp_dir, session)
  tf.logging.info("Wrote the TF Hub module to %s", export_dir)


def tf2_encoder(bert_config, init_checkpoint, vocab_file, do_lower_case):
  """The encoder as the trackable object of the TF2 format (module docstring).

  `BertModel` builds its graph with the v1 variable API; `wrap_function`
  turns that graph into a function whose variables are TF2 objects, which
  are then given the checkpoint's values by name. The graph holds the model
  twice on the same variables, without and with dropout, so that a
  `training=True` call (hub.KerasLayer's while fine-tuning) drops out as
  the config says.
  """

  def encoder_graph(input_word_ids, input_mask, input_type_ids):
    outputs = {}
    with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
      for training in (False, True):
        model = modeling.BertModel(
            config=bert_config, is_training=training,
            input_ids=input_word_ids, input_mask=input_mask,
            token_type_ids=input_type_ids, scope="bert")
        outputs["training" if training else "inference"] = {
            "pooled_output": model.get_pooled_output(),
            "sequence_output": model.get_sequence_output(),
            "encoder_outputs": model.get_all_encoder_layers()}
    return outputs

  spec = tf.TensorSpec([None, None], tf.int32)
  graph = tf.wrap_function(encoder_graph, [spec] * 3)
  reader = tf.train.load_checkpoint(init_checkpoint)
  for variable in graph.variables:
    variable.assign(reader.get_tensor(variable.name.split(":")[0]))

  def pruned(mode):
    # One function per mode, each computing only its own copy of the model.
    fetches = tf.nest.map_structure(
        lambda t: graph.graph.get_tensor_by_name(t.name),
        graph.structured_outputs[mode])
    return graph.prune(graph.inputs[:3], fetches)

  root = tf.compat.v2.__internal__.tracking.AutoTrackable()
  root.encoder_graph = graph
  root.inference_graph, root.training_graph = (
      pruned("inference"), pruned("training"))
  # hub.KerasLayer fine-tunes what these two lists hold.
  root.variables = list(graph.variables)
  root.trainable_variables = list(graph.variables)
  root.regularization_losses = []
  input_spec = {name: tf.TensorSpec([None, None], tf.int32, name=name)
                for name in TF2_INPUT_NAMES}

  @tf.function
  def call(inputs, training=False):
    function = root.training_graph if training else root.inference_graph
    outputs = dict(function(*[inputs[name] for name in TF2_INPUT_NAMES]))
    outputs["default"] = outputs["pooled_output"]
    return outputs

  # Traced for both modes now, so that the SavedModel has both.
  for training in (False, True):
    call.get_concrete_function(input_spec, training)
  root.__call__ = call
  root.vocab_file = tf.saved_model.Asset(vocab_file)
  root.do_lower_case = tf.Variable(do_lower_case, trainable=False)
  return root


def export_tf2(bert_config, init_checkpoint, vocab_file, do_lower_case,
               export_dir):
  """Writes the TF2 SavedModel to `export_dir` (via a temporary directory)."""
  root = tf2_encoder(bert_config, init_checkpoint, vocab_file, do_lower_case)
  with output_files.atomic_directory(export_dir) as tmp_dir:
    tf.saved_model.save(root, tmp_dir)
  tf.logging.info("Wrote the TF2 SavedModel (TF Hub's BERT encoder format) "
                  "to %s", export_dir)


def main(_):
  settings = script_flags.from_flags()
  script_flags.warn_if_tokenizer_settings_set(settings)
  if settings.format == "tf1":
    command_line.tensorflow_hub()  # Fail now: the optional package is missing.
  for name in ("bert_config_file", "vocab_file"):
    if not tf.io.gfile.exists(getattr(settings, name)):
      raise UserError("--%s=%s does not exist." %
                      (name, getattr(settings, name)))
  if not tf.io.gfile.exists(settings.init_checkpoint + ".index"):
    raise UserError("--init_checkpoint=%s is not a checkpoint." %
                    settings.init_checkpoint)
  output_files.check_new_directory(settings.export_dir, "--export_dir")
  with command_line.reading("--do_lower_case"):
    tokenization.validate_case_matches_checkpoint(settings.do_lower_case,
                                                  settings.init_checkpoint)
  bert_config = runtime.load_bert_config(settings.bert_config_file)
  # The module's variables are the encoder's: all must be in the checkpoint.
  runtime.check_init_checkpoint(settings.init_checkpoint, bert_config)
  export = export_module if settings.format == "tf1" else export_tf2
  export(bert_config, settings.init_checkpoint,
         os.path.abspath(settings.vocab_file), settings.do_lower_case,
         settings.export_dir)


if __name__ == "__main__":
  for required in ("bert_config_file", "init_checkpoint", "vocab_file",
                   "export_dir"):
    flags.mark_flag_as_required(required)
  command_line.run(main, script_flags.grouped_help)
