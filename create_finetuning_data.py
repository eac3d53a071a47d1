r"""Converts a fine-tuning task's data to TFRecords once, as Model Garden does.

Model Garden's command and flags, as its BERT README gives them:

  python create_finetuning_data.py --input_data_dir=$GLUE_DIR/MRPC \
      --vocab_file=$BERT_DIR/vocab.txt \
      --train_data_output_path=/tmp/finetuning/MRPC_train.tf_record \
      --eval_data_output_path=/tmp/finetuning/MRPC_eval.tf_record \
      --meta_data_file_path=/tmp/finetuning/MRPC_meta_data \
      --fine_tuning_task_type=classification --max_seq_length=128 \
      --classification_task_name=MRPC

then train without reading or tokenising text again:

  python run_classifier.py --input_meta_data_path=/tmp/finetuning/MRPC_meta_data \
      --train_data_path=/tmp/finetuning/MRPC_train.tf_record \
      --eval_data_path=/tmp/finetuning/MRPC_eval.tf_record \
      --bert_config_file=$BERT_DIR/bert_config.json --do_train --do_eval \
      --output_dir=/tmp/mrpc_output

--fine_tuning_task_type:
  classification  --classification_task_name: a task of run_classifier's
                  registry (GLUE, XNLI, `file` with the file-task flags, or
                  one of --processor_module); records as run_classifier
                  writes them (`input_ids`, `input_mask`, `segment_ids`,
                  `label_ids`, `is_real_example`, Model Garden's names).
  regression      the same for a regression task (STS-B, or a processor with
                  is_regression): a float `label_ids`.
  squad           --squad_data_file (training questions) as run_squad
                  writes them, with --doc_stride, --max_query_length,
                  --version_2_with_negative.
  tagging         run_ner's CoNLL files (train.txt, dev.txt, test.txt in
                  --input_data_dir) as run_ner writes them.

The meta data (--meta_data_file_path, JSON) has Model Garden's keys and this
project's: `label_list`, `vocab_sha256`, `do_lower_case`, which the training
scripts check against their flags. Every file is written under a temporary
name and renamed when complete; --num_shards splits each set into files
`<path>-0000i-of-0000N` (read them back with a glob, `<path>-*`).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import classifier_features
import classifier_tasks
from command_line import UserError
import finetuning_data
import ner_data
import runtime
import script_flags
import squad_data

FLAGS = flags.FLAGS

script_flags.define("sequence", "tokenizer", "special_tokens", "file_task")

flags.DEFINE_enum(
    "fine_tuning_task_type", "classification",
    ["classification", "regression", "squad", "tagging"],
    "The kind of task to convert data for: classification and regression "
    "(run_classifier.py), squad (run_squad.py), tagging (run_ner.py).")

flags.DEFINE_string(
    "input_data_dir", None,
    "The task's data directory: the .tsv files of a GLUE task (or the file "
    "task's files), or train.txt/dev.txt/test.txt in CoNLL form for "
    "tagging.")

flags.DEFINE_string(
    "classification_task_name", "MNLI",
    "The task, by run_classifier's --task_name: MNLI, MRPC, CoLA, SST-2, "
    "QQP, QNLI, RTE, WNLI, STS-B, XNLI, `file`, or a name a "
    "--processor_module registers (case-insensitive).")

flags.DEFINE_string(
    "processor_module", None,
    "Comma-separated Python modules (import paths or .py files) to import "
    "before looking up --classification_task_name; they register their own "
    "DataProcessors with run_classifier.register_processor(name, cls).",
    allow_override=True)

flags.DEFINE_string(
    "train_data_output_path", None,
    "Where the training TFRecords are written (none: no training set).")

flags.DEFINE_string(
    "eval_data_output_path", None,
    "Where the evaluation (dev set) TFRecords are written (none: no "
    "evaluation set).")

flags.DEFINE_string(
    "test_data_output_path", None,
    "Where the test set's TFRecords are written, for prediction (none: no "
    "test set).")

flags.DEFINE_string(
    "meta_data_file_path", None,
    "Where the meta data JSON is written; the training scripts read it with "
    "--input_meta_data_path.")

flags.DEFINE_string(
    "squad_data_file", None,
    "squad: the SQuAD JSON file of training questions.")

flags.DEFINE_bool(
    "version_2_with_negative", False,
    "squad: the file has unanswerable questions (SQuAD 2.0).",
    allow_override=True)

flags.DEFINE_integer(
    "doc_stride", 128,
    "squad, tagging: how many word pieces apart the windows of a long "
    "paragraph (sentence) start.",
    allow_override=True)

flags.DEFINE_integer(
    "max_query_length", 64,
    "squad: questions longer than this many word pieces are cut to it.",
    allow_override=True)

flags.DEFINE_integer(
    "num_shards", 1,
    "Write each set as this many files, <path>-00000-of-0000N and so on, "
    "examples in order (large sets; read them back with <path>-*).")


def data_flags_given(settings):
  """The output paths asked for, by split."""
  return {split: settings.get("%s_data_output_path" % split)
          for split in ("train", "eval", "test")
          if settings.get("%s_data_output_path" % split)}


def validate_flags(settings):
  """Checks the flags before any work; raises UserError if wrong."""
  if not settings.meta_data_file_path:
    raise UserError("--meta_data_file_path is required: where the meta "
                    "data JSON goes.")
  if not data_flags_given(settings):
    raise UserError("Nothing to write: give --train_data_output_path, "
                    "--eval_data_output_path and/or --test_data_output_path.")
  if settings.num_shards < 1:
    raise UserError("--num_shards=%d must be at least 1." %
                    settings.num_shards)
  if settings.max_seq_length < 3:
    raise UserError("--max_seq_length=%d is too short for [CLS] and [SEP]." %
                    settings.max_seq_length)
  task_type = settings.fine_tuning_task_type
  if task_type == "squad":
    if not settings.squad_data_file:
      raise UserError("--fine_tuning_task_type=squad needs "
                      "--squad_data_file.")
    if set(data_flags_given(settings)) != {"train"}:
      raise UserError("--fine_tuning_task_type=squad writes training "
                      "records only (--train_data_output_path); run_squad.py "
                      "predicts from the SQuAD JSON file, --predict_file.")
  elif not settings.input_data_dir and not (
      task_type in ("classification", "regression") and
      settings.classification_task_name.lower() == "file"):
    raise UserError("--fine_tuning_task_type=%s needs --input_data_dir." %
                    task_type)
  if settings.input_data_dir and not tf.io.gfile.isdir(
      settings.input_data_dir):
    raise UserError("--input_data_dir=%s is not a directory." %
                    settings.input_data_dir)


def _make_parent_dir(path):
  """Creates the directory of an output file, as Model Garden's does."""
  parent = os.path.dirname(path)
  if parent:
    tf.io.gfile.makedirs(parent)


def write_sharded(convert, examples, path, num_shards):
  """Writes `examples` with `convert(examples, output_file)` (which returns
  how many records it wrote) to `path`, or split in order into `num_shards`
  files; returns the number of records."""
  paths = finetuning_data.shard_paths(path, num_shards)
  _make_parent_dir(path)
  size = -(-len(examples) // len(paths))
  total = 0
  for i, shard_path in enumerate(paths):
    total += convert(examples[i * size:(i + 1) * size], shard_path)
  if len(paths) > 1:
    tf.logging.info("%d records in %d files %s-*", total, len(paths), path)
  return total


def generate_classifier_dataset(settings, tokenizer):
  """Converts the splits of --classification_task_name; returns the meta
  data (Model Garden's keys and `label_list`)."""
  classifier_tasks.load_processor_modules(settings.processor_module)
  task_name = settings.classification_task_name
  processor = classifier_tasks.get_processor(
      task_name, settings.replace(data_dir=settings.input_data_dir,
                                  output_dir=None))
  if getattr(processor, "is_multi_label", False):
    raise UserError("--classification_task_name=%s: multi-label tasks are "
                    "not converted here; train on the files with "
                    "run_classifier.py." % task_name)
  label_list = processor.get_labels()
  regression = processor.is_regression or classifier_features._is_regression(  # pylint: disable=protected-access
      label_list)
  if regression != (settings.fine_tuning_task_type == "regression"):
    raise UserError(
        "--classification_task_name=%s is a %s task: give "
        "--fine_tuning_task_type=%s." %
        (task_name, "regression" if regression else "classification",
         "regression" if regression else "classification"))

  def convert(examples, output_file):
    return classifier_features.file_based_convert_examples_to_features(
        examples, label_list, settings.max_seq_length, tokenizer,
        output_file)

  readers = {"train": processor.get_train_examples,
             "eval": processor.get_dev_examples,
             "test": processor.get_test_examples}
  meta_data = {
      "processor_type": getattr(processor, "get_processor_name",
                                lambda: task_name)(),
      "max_seq_length": settings.max_seq_length,
      "train_data_size": 0,
  }
  if regression:
    meta_data.update(task_type="bert_regression", label_type="float")
  else:
    meta_data.update(task_type="bert_classification",
                     num_labels=len(label_list),
                     label_list=[str(l) for l in label_list])
  for split, path in data_flags_given(settings).items():
    examples = readers[split](settings.input_data_dir)
    if not examples:
      raise UserError("%s read no %s examples from --input_data_dir=%s." %
                      (type(processor).__name__, split,
                       settings.input_data_dir))
    tf.logging.info("Converting %d %s examples of %s", len(examples), split,
                    task_name)
    write_sharded(convert, examples, path, settings.num_shards)
    meta_data["%s_data_size" % split] = len(examples)
  return meta_data


def generate_squad_dataset(settings, tokenizer):
  """Converts --squad_data_file's training questions; returns the meta data
  (Model Garden's keys: its train_data_size counts windows)."""
  examples, _ = squad_data.read_train_examples(settings.squad_data_file,
                                                settings)

  def convert(examples, output_file):
    return squad_data.convert_to_tfrecord(settings, examples, tokenizer,
                                          output_file, is_training=True)

  num_features = write_sharded(convert, examples,
                               settings.train_data_output_path,
                               settings.num_shards)
  return {
      "task_type": "bert_squad",
      "train_data_size": num_features,
      "max_seq_length": settings.max_seq_length,
      "max_query_length": settings.max_query_length,
      "doc_stride": settings.doc_stride,
      "version_2_with_negative": settings.version_2_with_negative,
      "num_train_questions": len(examples),
  }


def generate_tagging_dataset(settings, tokenizer):
  """Converts run_ner's CoNLL files of --input_data_dir; returns the meta
  data (Model Garden's tagging keys and `label_list`)."""
  processor = ner_data.ConllProcessor()
  splits = {"train": "train", "eval": "dev", "test": "test"}
  examples = {split: ner_data.read_conll(
      processor.path(settings.input_data_dir, splits[split]), -1,
      splits[split]) for split in data_flags_given(settings)}
  label_list = ner_data.labels_of_training_file(examples.get("train"),
                                                settings.labels)
  for split, split_examples in examples.items():
    ner_data.check_labels(split_examples, label_list,
                          processor.path(settings.input_data_dir,
                                         splits[split]))
  meta_data = {
      "task_type": "tagging",
      "processor_type": "conll",
      "max_seq_length": settings.max_seq_length,
      "num_labels": len(label_list),
      "label_list": label_list,
      "label_type": "int",
      "label_shape": [settings.max_seq_length],
      "doc_stride": settings.doc_stride,
      "train_data_size": 0,
  }

  def convert(examples, output_file):
    return len(ner_data.file_based_convert_examples_to_features(
        examples, label_list, settings.max_seq_length, tokenizer,
        settings.doc_stride, output_file))

  for split, path in data_flags_given(settings).items():
    num_windows = write_sharded(convert, examples[split], path,
                                settings.num_shards)
    meta_data["%s_data_size" % split] = num_windows
    meta_data["num_%s_sentences" % split] = len(examples[split])
  return meta_data


GENERATORS = {
    "classification": generate_classifier_dataset,
    "regression": generate_classifier_dataset,
    "squad": generate_squad_dataset,
    "tagging": generate_tagging_dataset,
}


def create_finetuning_data(settings):
  """Writes the records and the meta data `settings` ask for; returns the
  meta data."""
  validate_flags(settings)
  tokenizer = runtime.load_tokenizer(settings)
  meta_data = GENERATORS[settings.fine_tuning_task_type](settings, tokenizer)
  meta_data[finetuning_data.VOCAB_KEY] = finetuning_data.vocab_sha256(
      settings.vocab_file)
  meta_data[finetuning_data.LOWER_CASE_KEY] = bool(settings.do_lower_case)
  _make_parent_dir(settings.meta_data_file_path)
  finetuning_data.write_meta_data(settings.meta_data_file_path, meta_data)
  return meta_data


def main(_):
  settings = script_flags.from_flags()
  create_finetuning_data(settings)


if __name__ == "__main__":
  flags.mark_flag_as_required("vocab_file")
  flags.mark_flag_as_required("meta_data_file_path")
  command_line.run(main, script_flags.grouped_help)
