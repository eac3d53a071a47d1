r"""Writes a BERT checkpoint as a TF Hub module of the TF1 `hub.Module` format.

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

Needs the optional package tensorflow-hub 0.15 (0.16 dropped `hub.Module`):
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

INPUT_NAMES = ("input_ids", "input_mask", "segment_ids")


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


def main(_):
  settings = script_flags.from_flags()
  script_flags.warn_if_tokenizer_settings_set(settings)
  command_line.tensorflow_hub()  # Fail now if the optional package is missing.
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
  export_module(bert_config, settings.init_checkpoint,
                os.path.abspath(settings.vocab_file), settings.do_lower_case,
                settings.export_dir)


if __name__ == "__main__":
  for required in ("bert_config_file", "init_checkpoint", "vocab_file",
                   "export_dir"):
    flags.mark_flag_as_required(required)
  command_line.run(main)
