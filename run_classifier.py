"""Fine-tunes BERT for sentence and sentence-pair classification (GLUE & co).

Run it as the original:

  python run_classifier.py --task_name=MRPC --do_train --do_eval \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
      --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 \
      --num_train_epochs=3.0 --output_dir=/tmp/mrpc_output/

Outputs in `--output_dir`: checkpoints, `train.tf_record`, `eval.tf_record`,
`eval_results.txt`, `predict.tf_record`, `test_results.tsv` (one row of
class probabilities per test example, in input order, as the original) and
`test_predictions.tsv` (the same with a header: guid, prediction as a label
name, prob_<label> per label), and `task.json` with `label_list.txt`: what
the model was trained for (`task_description.py`: task kind, labels,
multi-label threshold, windows, tokenizer options), read back by export,
prediction and checkpoint conversion.

Task data is read by a `DataProcessor`. The original four (XNLI, MNLI, MRPC,
CoLA) and the rest of GLUE (SST-2, QQP, QNLI, RTE, WNLI, STS-B) are built in.
A new task is a `DataProcessor` subclass registered with
`register_processor("name", MyProcessor)` in a module of your own, loaded with
`--processor_module=my_tasks` (or a path to a .py file): no edit here.

A task in a file of one's own needs no code: `--task_name=file` reads
train/dev/test files in TSV, CSV or JSON lines, columns chosen by flag
(`FileProcessor`), its labels kept in `<output_dir>/label_list.txt`. Any task
can have several labels per text (`--multi_label`: a sigmoid per label),
weighted classes (`--class_weights`) and texts longer than the model's window
(`--doc_stride`: windows whose logits are aggregated per document).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import csv
import importlib
import importlib.util
import io
import json
import os
import sys
import time

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import numpy as np
import tensorflow.compat.v1 as tf

import bert_inputs
from command_line import UserError
import input_pipeline
import modeling
import output_files
import runtime
import serving
import script_flags
import task_description
import tokenization
import training_loop


script_flags.define("model", "sequence", "output", "tokenizer",
                    "special_tokens", "training", "eval_during_training",
                    "epoch", "evaluation", "prediction", "tpu", "performance",
                    "bucketing", "export")

# This script's own flags. Names that another script also defines
# (`do_eval`, `eval_batch_size`, ...) allow that, so that several scripts can
# be imported into one process (tests); run as a command nothing changes.

flags.DEFINE_string(
    "data_dir", None,
    "The input data dir. Should contain the .tsv files (or other data files) "
    "for the task.",
    allow_override=True)

flags.DEFINE_string("task_name", None, "The name of the task to train.",
    allow_override=True)

flags.DEFINE_string(
    "processor_module", None,
    "Comma-separated Python modules (import paths or .py files) to import "
    "before looking up --task_name; they register their own DataProcessors "
    "with run_classifier.register_processor(name, cls).",
    allow_override=True)

## The file task (--task_name=file): a CSV, TSV or JSON-lines file by flags.
flags.DEFINE_enum(
    "input_format", None, ["tsv", "csv", "jsonl"],
    "--task_name=file: how the files are laid out. tsv: tab-separated, quotes "
    "are data (as GLUE's files); csv: RFC 4180 (quoted fields may hold "
    "commas, quotes and newlines); jsonl: one JSON object per line. Default: "
    "from the file extension (.tsv/.txt, .csv, .jsonl/.json).",
    allow_override=True)

for _split in ("train", "dev", "test"):
  flags.DEFINE_string(
      "%s_file" % _split, None,
      "--task_name=file: the %s file. Default: %s.<tsv|csv|jsonl> in "
      "--data_dir." % (_split, _split),
      allow_override=True)

flags.DEFINE_string(
    "text_a_column", "text",
    "--task_name=file: the column of the (first) text: a header name or a "
    "0-based index (a JSON key for jsonl).",
    allow_override=True)

flags.DEFINE_string(
    "text_b_column", None,
    "--task_name=file: the column of the second text of a pair (optional).",
    allow_override=True)

flags.DEFINE_string(
    "label_column", "label",
    "--task_name=file: the column of the label (name or 0-based index). "
    "Optional in the test file.",
    allow_override=True)

flags.DEFINE_string(
    "id_column", None,
    "--task_name=file: a column of example ids (optional; default: the row "
    "number).",
    allow_override=True)

flags.DEFINE_bool(
    "has_header", None,
    "--task_name=file: whether the first row of a tsv/csv file names the "
    "columns. Default: yes when a column is given by name, else detected "
    "and logged (a header's label is not a label: not one of --labels or of "
    "the training labels, or, in the training file, a value no other row "
    "has while the others repeat).",
    allow_override=True)

flags.DEFINE_list(
    "labels", None,
    "--task_name=file: the labels, comma-separated, in the order of the "
    "model's outputs. Default: the labels of the training file, sorted. "
    "Either way they are written to <output_dir>/label_list.txt, which later "
    "runs on that directory read back.",
    allow_override=True)

flags.DEFINE_bool(
    "skip_bad_rows", False,
    "--task_name=file: skip (and count) rows whose text is empty instead of "
    "stopping with an error.",
    allow_override=True)

## Multi-label, class weights, long documents.
flags.DEFINE_bool(
    "multi_label", False,
    "--task_name=file: each row has a set of labels (separated by "
    "--label_separator in the label column, or a JSON list): a sigmoid per "
    "label with binary cross-entropy instead of a softmax.",
    allow_override=True)

flags.DEFINE_string(
    "label_separator", ",",
    "With --multi_label: the separator of the labels in the label column.",
    allow_override=True)

flags.DEFINE_float(
    "multi_label_threshold", 0.5,
    "With --multi_label: a label is predicted when its probability is at "
    "least this.",
    allow_override=True)

flags.DEFINE_string(
    "class_weights", None,
    "Weights of the labels in the training loss: 'balanced' (inverse "
    "frequency in the training set; with --multi_label, positive weights "
    "negatives/positives) or comma-separated numbers in label order. Default: "
    "none, the original's loss.",
    allow_override=True)

flags.DEFINE_integer(
    "doc_stride", None,
    "Long documents: split a text_a longer than the window (--max_seq_length "
    "less [CLS], [SEP] and text_b) into windows this many tokens apart, "
    "train on each with the document's label and aggregate a document's "
    "windows at evaluation and prediction. Default: off, long texts are "
    "truncated as in the original.",
    allow_override=True)

flags.DEFINE_enum(
    "window_aggregation", "mean", ["mean", "max"],
    "With --doc_stride: how a document's window logits become one: their "
    "mean or their element-wise max.",
    allow_override=True)


class InputExample(object):
  """A single training/test example for simple sequence classification."""

  def __init__(self, guid, text_a, text_b=None, label=None):
    """Constructs a InputExample.

    Args:
      guid: Unique id for the example.
      text_a: string. The untokenized text of the first sequence. For single
        sequence tasks, only this sequence must be specified.
      text_b: (Optional) string. The untokenized text of the second sequence.
        Only must be specified for sequence pair tasks.
      label: (Optional) string. The label of the example. This should be
        specified for train and dev examples, but not for test examples.
    """
    self.guid = guid
    self.text_a = text_a
    self.text_b = text_b
    self.label = label


class PaddingInputExample(object):
  """A stand-in that pads a partial last batch up to a full one.

  TPUs need every batch full, so eval and predict sets are padded with these;
  they become all-zero features with `is_real_example=0`, weigh nothing in
  the metrics and are dropped from the predictions.
  """


class InputFeatures(object):
  """A single set of features of data."""

  def __init__(self,
               input_ids,
               input_mask,
               segment_ids,
               label_id,
               is_real_example=True,
               example_index=None):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_id = label_id  # An int, a float (regression), a 0/1 list
    self.is_real_example = is_real_example
    # With long-document windows: which example this window is of.
    self.example_index = example_index


class DataProcessor(object):
  """Base class for data converters for sequence classification data sets.

  Subclasses return `InputExample`s for each split and the list of labels.
  Class attributes say how to score the task: `metrics` names the GLUE
  metrics reported besides accuracy and loss ("f1", "mcc", "pearson",
  "spearman"), and a regression task (STS-B) sets `is_regression = True` and
  returns float labels.
  """

  metrics = ()
  is_regression = False

  def get_train_examples(self, data_dir):
    """Gets a collection of `InputExample`s for the train set."""
    raise NotImplementedError()

  def get_dev_examples(self, data_dir):
    """Gets a collection of `InputExample`s for the dev set."""
    raise NotImplementedError()

  def get_test_examples(self, data_dir):
    """Gets a collection of `InputExample`s for prediction."""
    raise NotImplementedError()

  def save_label_list(self):
    """Keeps the labels where later runs read them back, if this processor
    does that (the file task: <output_dir>/label_list.txt). Called once
    the output directory is ready."""

  def get_labels(self):
    """Gets the list of labels for this data set."""
    raise NotImplementedError()

  @classmethod
  def _read_tsv(cls, input_file, quotechar=None):
    """Reads a tab separated value file into a list of rows.

    A UTF-8 byte-order mark and Windows line endings are read as such, not
    as data. Quote characters are data (`quotechar=None`), as in GLUE.
    """
    return [row for _, row in read_tsv_rows(input_file, quotechar)]

  @classmethod
  def _read_rows(cls, input_file, min_columns, skip_header=False):
    """(line_number, row) pairs, checking each row's column count.

    Raises:
      ValueError: the file is missing or empty, or a row has fewer than
        `min_columns` columns; the message names the file and line.
    """
    rows = read_tsv_rows(input_file)
    if skip_header:
      rows = rows[1:]
    for line_number, row in rows:
      if len(row) < min_columns:
        raise UserError(
            "%s:%d: expected at least %d tab-separated columns, found %d: %r" %
            (input_file, line_number, min_columns, len(row),
             "\t".join(row)[:200]))
    if not rows:
      raise UserError("%s has no data rows." % input_file)
    return rows


def read_tsv_rows(input_file, quotechar=None, delimiter="\t"):
  """Reads a TSV (or, with `delimiter=","` and `quotechar='"'`, a CSV) file
  into (1-based line number, row) pairs.

  The line number is where the row starts (a quoted CSV field may span
  lines). With a `quotechar` the file is read strictly (RFC 4180): a quote
  left open is an error, not the rest of the file swallowed into one field.

  Raises:
    ValueError: the file does not exist, is not UTF-8 or is malformed.
  """
  text = _read_utf8(input_file)
  reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                      quotechar=quotechar, strict=quotechar is not None)
  rows = []
  start = 1
  try:
    for row in reader:
      if row:  # Blank lines, e.g. a trailing one, are not examples.
        rows.append((start, row))
      start = reader.line_num + 1
  except csv.Error as e:
    raise UserError("%s:%d: malformed row (%s; is a quote left open?)." %
                    (input_file, start, e))
  return rows


def _read_utf8(input_file):
  """The text of `input_file`; ValueError naming the line if not UTF-8."""
  if not tf.io.gfile.exists(input_file):
    raise UserError("Data file %s does not exist (check --data_dir)." %
                     input_file)
  return command_line.read_utf8(input_file)


PROCESSORS = collections.OrderedDict()


def register_processor(name, processor_class):
  """Makes `--task_name=name` (case-insensitive) use `processor_class`."""
  PROCESSORS[name.lower()] = processor_class
  return processor_class


def get_processor(task_name, settings=None):
  """The processor instance for `task_name`; lists the known names if none.

  A processor class with a `from_settings` class method (the file task) is
  made from the run's `settings`; the others take no arguments, as the
  original's."""
  key = (task_name or "").lower()
  if key not in PROCESSORS:
    raise UserError(
        "Task not found: --task_name=%s. Known tasks: %s (or register your "
        "own with --processor_module)." % (task_name, ", ".join(PROCESSORS)))
  processor_class = PROCESSORS[key]
  if settings is not None and hasattr(processor_class, "from_settings"):
    return processor_class.from_settings(settings)
  return processor_class()


def load_processor_modules(spec):
  """Imports the modules that `--processor_module` names."""
  for name in [s.strip() for s in (spec or "").split(",") if s.strip()]:
    if name.endswith(".py"):
      if not os.path.exists(name):
        raise UserError("--processor_module file %s does not exist." % name)
      module_name = os.path.splitext(os.path.basename(name))[0]
      spec_ = importlib.util.spec_from_file_location(module_name, name)
      module = importlib.util.module_from_spec(spec_)
      spec_.loader.exec_module(module)
    else:
      importlib.import_module(name)


def _unicode(text):
  return tokenization.convert_to_unicode(text)


class XnliProcessor(DataProcessor):
  """Processor for the XNLI data set (Chinese by default, as the original)."""

  def __init__(self):
    self.language = "zh"

  def get_train_examples(self, data_dir):
    path = os.path.join(data_dir, "multinli",
                        "multinli.train.%s.tsv" % self.language)
    examples = []
    for i, (_, line) in enumerate(self._read_rows(path, 3, skip_header=True)):
      label = _unicode(line[2])
      if label == _unicode("contradictory"):
        label = _unicode("contradiction")
      examples.append(InputExample("train-%d" % i, _unicode(line[0]),
                                   _unicode(line[1]), label))
    return examples

  def get_dev_examples(self, data_dir):
    path = os.path.join(data_dir, "xnli.dev.tsv")
    examples = []
    for i, (_, line) in enumerate(self._read_rows(path, 8, skip_header=True)):
      if _unicode(line[0]) != _unicode(self.language):
        continue
      examples.append(InputExample("dev-%d" % i, _unicode(line[6]),
                                   _unicode(line[7]), _unicode(line[1])))
    return examples

  def get_labels(self):
    return ["contradiction", "entailment", "neutral"]


def _pair_examples(rows, set_type, a, b, label, test_label=None, guid_col=None):
  """InputExamples from rows, taking text and label from the given columns."""
  examples = []
  for i, (_, line) in enumerate(rows):
    guid_value = _unicode(line[guid_col]) if guid_col is not None else i
    if set_type == "test" and test_label is not None:
      label_value = test_label
    else:
      label_value = _unicode(line[label])
    examples.append(InputExample(
        guid="%s-%s" % (set_type, guid_value),
        text_a=_unicode(line[a]),
        text_b=_unicode(line[b]) if b is not None else None,
        label=label_value))
  return examples


class GlueProcessor(DataProcessor):
  """A GLUE task: `train.tsv`, `dev.tsv` and `test.tsv` in `data_dir`.

  Subclasses name their files (`train_file`, ...), their labels and
  `_create(path, set_type)`, which reads one file into `InputExample`s.
  """

  train_file = "train.tsv"
  dev_file = "dev.tsv"
  test_file = "test.tsv"
  labels = ("0", "1")

  def get_train_examples(self, data_dir):
    return self._create(self._path(data_dir, self.train_file), "train")

  def get_dev_examples(self, data_dir):
    return self._create(self._path(data_dir, self.dev_file), "dev")

  def get_test_examples(self, data_dir):
    return self._create(self._path(data_dir, self.test_file), "test")

  def get_labels(self):
    return list(self.labels)

  def _path(self, data_dir, file_name):
    return os.path.join(data_dir, file_name)

  def _create(self, path, set_type):
    raise NotImplementedError()


class MnliProcessor(GlueProcessor):
  """Processor for the MultiNLI data set (GLUE version)."""

  dev_file = "dev_matched.tsv"
  test_file = "test_matched.tsv"
  labels = ("contradiction", "entailment", "neutral")

  def _create(self, path, set_type):
    rows = self._read_rows(path, 10, skip_header=True)
    return _pair_examples(rows, set_type, 8, 9, -1, "contradiction",
                          guid_col=0)

  def _create_examples(self, lines, set_type):
    """The original's form: `lines` as `_read_tsv` returns them, header
    first (for subclasses written against the original)."""
    return _pair_examples(list(enumerate(lines, 1))[1:], set_type, 8, 9, -1,
                          "contradiction", guid_col=0)


class MrpcProcessor(GlueProcessor):
  """Processor for the MRPC data set (GLUE version, or the original MSR files).

  With GLUE's `train.tsv`/`dev.tsv`/`test.tsv` absent, the original release's
  `msr_paraphrase_train.txt` is the train set and `msr_paraphrase_test.txt`
  (which has labels) serves as both dev and test set.
  """

  metrics = ("f1",)
  msr_files = {"train.tsv": "msr_paraphrase_train.txt",
               "dev.tsv": "msr_paraphrase_test.txt",
               "test.tsv": "msr_paraphrase_test.txt"}

  def _path(self, data_dir, glue_name):
    msr_name = self.msr_files[glue_name]
    glue_path = os.path.join(data_dir, glue_name)
    msr_path = os.path.join(data_dir, msr_name)
    if not tf.io.gfile.exists(glue_path) and tf.io.gfile.exists(msr_path):
      tf.logging.info("%s not found; reading %s", glue_path, msr_path)
      return msr_path
    return glue_path

  def _create(self, path, set_type):
    rows = self._read_rows(path, 5, skip_header=True)
    # GLUE's test.tsv has an index, not a label, in column 0.
    test_label = "0" if os.path.basename(path) == "test.tsv" else None
    return _pair_examples(rows, set_type, 3, 4, 0, test_label)

  def _create_examples(self, lines, set_type):
    """The original's form: `lines` as `_read_tsv` returns them, header
    first; test labels are "0", as there."""
    return _pair_examples(list(enumerate(lines, 1))[1:], set_type, 3, 4, 0,
                          "0")


class ColaProcessor(GlueProcessor):
  """Processor for the CoLA data set (GLUE version)."""

  metrics = ("mcc",)

  def _create(self, path, set_type):
    if set_type == "test":  # index, sentence; with a header
      rows = self._read_rows(path, 2, skip_header=True)
      return _pair_examples(rows, set_type, 1, None, None, "0")
    rows = self._read_rows(path, 4)  # source, label, mark, sentence
    return _pair_examples(rows, set_type, 3, None, 1)

  def _create_examples(self, lines, set_type):
    """The original's form: `lines` as `_read_tsv` returns them (a header
    only in the test file)."""
    rows = list(enumerate(lines, 1))
    if set_type == "test":
      return _pair_examples(rows[1:], set_type, 1, None, None, "0")
    return _pair_examples(rows, set_type, 3, None, 1)


class Sst2Processor(GlueProcessor):
  """Processor for SST-2 (GLUE): `sentence, label`; test `index, sentence`."""

  def _create(self, path, set_type):
    rows = self._read_rows(path, 2, skip_header=True)
    if set_type == "test":
      return _pair_examples(rows, set_type, 1, None, None, "0")
    return _pair_examples(rows, set_type, 0, None, 1)


class QqpProcessor(GlueProcessor):
  """Processor for QQP (GLUE): id, qid1, qid2, question1, question2, label."""

  metrics = ("f1",)

  def _create(self, path, set_type):
    if set_type == "test":  # id, question1, question2
      rows = self._read_rows(path, 3, skip_header=True)
      return _pair_examples(rows, set_type, 1, 2, None, "0", guid_col=0)
    rows = self._read_rows(path, 6, skip_header=True)
    return _pair_examples(rows, set_type, 3, 4, 5, guid_col=0)


class _IndexedPairProcessor(GlueProcessor):
  """GLUE layout `index, text_a, text_b, label` (test: no label column)."""

  labels = ("entailment", "not_entailment")

  def _create(self, path, set_type):
    min_columns = 3 if set_type == "test" else 4
    rows = self._read_rows(path, min_columns, skip_header=True)
    return _pair_examples(rows, set_type, 1, 2, 3, self.labels[0],
                          guid_col=0)


class QnliProcessor(_IndexedPairProcessor):
  """Processor for QNLI (GLUE): index, question, sentence, label."""


class RteProcessor(_IndexedPairProcessor):
  """Processor for RTE (GLUE): index, sentence1, sentence2, label."""


class WnliProcessor(_IndexedPairProcessor):
  """Processor for WNLI (GLUE): index, sentence1, sentence2, label (0/1)."""

  labels = ("0", "1")


class StsbProcessor(GlueProcessor):
  """Processor for STS-B (GLUE), a regression task with scores 0 to 5."""

  metrics = ("pearson", "spearman")
  is_regression = True

  def get_labels(self):
    return None

  def _create(self, path, set_type):
    if set_type == "test":
      rows = self._read_rows(path, 9, skip_header=True)
      return _pair_examples(rows, set_type, 7, 8, None, 0.0, guid_col=0)
    rows = self._read_rows(path, 10, skip_header=True)
    examples = _pair_examples(rows, set_type, 7, 8, -1, guid_col=0)
    for example, (line_number, _) in zip(examples, rows):
      try:
        example.label = float(example.label)
      except ValueError:
        raise UserError("%s:%d: score %r is not a number." %
                         (path, line_number, example.label))
    return examples


for _name, _cls in (("xnli", XnliProcessor), ("mnli", MnliProcessor),
                    ("mrpc", MrpcProcessor), ("cola", ColaProcessor),
                    ("sst-2", Sst2Processor), ("sst2", Sst2Processor),
                    ("qqp", QqpProcessor), ("qnli", QnliProcessor),
                    ("rte", RteProcessor), ("wnli", WnliProcessor),
                    ("sts-b", StsbProcessor), ("stsb", StsbProcessor)):
  register_processor(_name, _cls)


# --- The file task: --task_name=file -------------------------------------

LABEL_LIST_FILE = task_description.LABEL_LIST_FILE

_EXTENSIONS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl",
               ".json": "jsonl"}


class FileTaskOptions(object):
  """How `FileProcessor` reads its files: the file-task flags as values.

  Columns are header names or 0-based indexes (an int, or a string of
  digits); for jsonl they are keys. `has_header` None means: detect.
  `output_dir` is where `label_list.txt` is kept (None: nowhere); with
  `fresh_output_dir` (--overwrite_output_dir) the list there, of the run
  being replaced, is not read.
  """

  def __init__(self, data_dir=None, input_format=None, train_file=None,
               dev_file=None, test_file=None, text_a_column="text",
               text_b_column=None, label_column="label", id_column=None,
               has_header=None, labels=None, multi_label=False,
               label_separator=",", skip_bad_rows=False, output_dir=None,
               fresh_output_dir=False):
    self.data_dir = data_dir
    self.input_format = input_format
    self.files = {"train": train_file, "dev": dev_file, "test": test_file}
    self.columns = {"text_a": text_a_column, "text_b": text_b_column,
                    "label": label_column, "id": id_column}
    self.has_header = has_header
    self.labels = list(labels) if labels else None
    self.multi_label = multi_label
    self.label_separator = label_separator
    self.skip_bad_rows = skip_bad_rows
    self.output_dir = output_dir
    self.fresh_output_dir = fresh_output_dir

  @classmethod
  def from_settings(cls, settings):
    """The options of a run's `script_flags.Settings` (its file-task flags)."""
    return cls(
        data_dir=settings.data_dir, input_format=settings.input_format,
        train_file=settings.train_file, dev_file=settings.dev_file,
        test_file=settings.test_file, text_a_column=settings.text_a_column,
        text_b_column=settings.text_b_column,
        label_column=settings.label_column,
        id_column=settings.id_column, has_header=settings.has_header,
        labels=settings.labels, multi_label=settings.multi_label,
        label_separator=settings.label_separator,
        skip_bad_rows=settings.skip_bad_rows, output_dir=settings.output_dir,
        fresh_output_dir=settings.overwrite_output_dir)


def _column_key(spec):
  """An int index for "3" or 3, else the name; None stays None."""
  if spec is None or isinstance(spec, int):
    return spec
  spec = str(spec).strip()
  return int(spec) if spec.isdigit() else spec


class FileProcessor(DataProcessor):
  """`--task_name=file`: examples from a TSV, CSV or JSON-lines file chosen
  and laid out by flags (`FileTaskOptions`), no code needed.

  The labels are `--labels`, or else those of the training file, sorted; they
  are written to `<output_dir>/label_list.txt` and, when that file exists,
  read back from it, so their order (the model's outputs) never changes
  between training, evaluation, prediction and export. With `multi_label`
  an example's label is a list of labels (possibly empty).

  Every error names the file and line and says what was expected; bad rows
  stop the run before any training, or, with `skip_bad_rows`, rows with an
  empty text are skipped and counted.
  """

  @classmethod
  def from_settings(cls, settings):
    return cls(FileTaskOptions.from_settings(settings))

  def __init__(self, options=None):
    self.options = options or FileTaskOptions()
    self.is_multi_label = self.options.multi_label
    self._label_list = None
    self._examples = {}
    self._lines = {}  # (split, path) -> each example's line, for errors
    self._header_by_split = {}

  def get_train_examples(self, data_dir):
    return self._split_examples("train", data_dir)

  def get_dev_examples(self, data_dir):
    return self._split_examples("dev", data_dir)

  def get_test_examples(self, data_dir):
    return self._split_examples("test", data_dir)

  def get_labels(self):
    if self._label_list is None:
      self._label_list = self._resolve_labels()
    return list(self._label_list)

  # -- files --

  def split_path(self, split, data_dir=None):
    """The file of `split`: its flag, else `<split>.<ext>` in `data_dir`."""
    path = self.options.files[split]
    if path:
      return path
    data_dir = data_dir or self.options.data_dir
    if not data_dir:
      raise UserError("--task_name=file needs --data_dir or --%s_file." %
                      split)
    formats = ([self.options.input_format] if self.options.input_format
               else ["tsv", "csv", "jsonl"])
    candidates = [os.path.join(data_dir, "%s.%s" % (split, f))
                  for f in formats]
    for candidate in candidates:
      if tf.io.gfile.exists(candidate):
        return candidate
    raise UserError("No %s file: none of %s exists (or give --%s_file)." %
                    (split, ", ".join(candidates), split))

  def file_format(self, path):
    if self.options.input_format:
      return self.options.input_format
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
      raise UserError("%s: cannot tell its format from the extension %r: "
                      "give --input_format=tsv|csv|jsonl." % (path, ext))
    return _EXTENSIONS[ext]

  def _split_examples(self, split, data_dir):
    path = self.split_path(split, data_dir)
    if (split, path) not in self._examples:  # dev.tsv may be the test set too
      self._examples[(split, path)] = self.read_examples(path, split)
    return self._examples[(split, path)]

  def read_examples(self, path, split):
    """`InputExample`s of one file, their labels checked against the label
    list (except for the training file that makes the list)."""
    table = self._read_table(path, split)
    examples, lines = [], []
    skipped = 0
    for line, row in table.rows:
      example = self._example(table, line, row, split, len(examples))
      if example is None:
        skipped += 1
        continue
      examples.append(example)
      lines.append(line)
    if skipped:
      tf.logging.warning("%s: skipped %d rows with an empty text "
                         "(--skip_bad_rows).", path, skipped)
    if not examples:
      raise UserError("%s has no data rows." % path)
    tf.logging.info("Read %d %s examples from %s", len(examples), split,
                    path)
    if table.has_label:
      self._lines[(split, path)] = lines
      if split != "train" or self._label_list is not None:
        self._check_labels(path, examples, lines)
    return examples

  def _check_labels(self, path, examples, lines):
    known = set(self.get_labels())
    for example, line in zip(examples, lines):
      for value in (example.label if self.is_multi_label
                    else [example.label]):
        if value not in known:
          raise UserError(
              "%s:%d: label %r is not one of the %s labels: %s." %
              (path, line, value, "training" if self.options.labels is None
               else "--labels", ", ".join(self.get_labels())))

  def _read_table(self, path, split):
    fmt = self.file_format(path)
    if fmt == "jsonl":
      return _JsonTable(path, _read_jsonl_rows(path), self.options.columns,
                        split)
    rows = read_tsv_rows(path, quotechar='"' if fmt == "csv" else None,
                         delimiter="," if fmt == "csv" else "\t")
    if not rows:
      raise UserError("%s has no data rows." % path)
    header = self._has_header(path, rows, split)
    return _DelimitedTable(path, rows, header, self.options.columns, split)

  def _has_header(self, path, rows, split):
    """Whether the first row is a header: --has_header, or implied by named
    columns, or detected from the label column. Logged when detected."""
    columns = self.options.columns
    named = sorted(k for k, v in columns.items()
                   if isinstance(_column_key(v), str))
    if named:
      if self.options.has_header is False:
        raise UserError(
            "--has_header=false, but --%s_column names a column: give "
            "0-based indexes for a file without a header." % named[0])
      tf.logging.info("%s: first row is a header (--%s_column is a name)",
                      path, named[0])
      return True
    if self.options.has_header is not None:
      return self.options.has_header
    label = _column_key(columns["label"])
    first = rows[0][1]
    if label is None or label >= len(first):
      # No label here (a test file): the training file's layout.
      header = self._header_by_split.get("train", False)
      reason = "as the training file"
    else:
      first_labels = set(self._split_label(first[label]))
      if split != "train" or self.options.labels:
        known = (self.get_labels() if split != "train"
                 else self.options.labels)
        header = not first_labels <= set(known)
        reason = "its first row's label %r is %s" % (
            first[label], "not a label" if header else "a label")
      else:
        # A header's "label" is a word no other row has, while real labels
        # repeat; with every label different there is no telling: no header.
        others = collections.Counter()
        for _, row in rows[1:]:
          if label < len(row):
            others.update(self._split_label(row[label]))
        header = (bool(others) and max(others.values()) > 1 and
                  not first_labels <= set(others))
        reason = "its first row's label %r is %s" % (
            first[label], "no label of the other rows" if header else
            "a label too, or the labels do not repeat")
    self._header_by_split[split] = header
    tf.logging.info("%s: %s (%s; --has_header to say otherwise)", path,
                    "first row is a header" if header else "no header",
                    reason)
    return header

  # -- rows to examples --

  def _split_label(self, value):
    if isinstance(value, list):  # jsonl
      return [_unicode(str(v)).strip() for v in value]
    value = _unicode(str(value)).strip()
    if not self.options.multi_label:
      return [value]
    return [v.strip() for v in value.split(self.options.label_separator)
            if v.strip()]

  def _example(self, table, line, row, split, index):
    """An `InputExample` of one row, or None for a row skipped as bad."""
    text_a = table.value(line, row, "text_a")
    text_b = table.value(line, row, "text_b")
    for name, text in (("text_a", text_a), ("text_b", text_b)):
      if text is not None and not text.strip():
        if self.options.skip_bad_rows:
          return None
        raise UserError(
            "%s:%d: empty text in the %s column %r (--skip_bad_rows skips "
            "such rows)." % (table.path, line, name,
                             self.options.columns[name]))
    example_id = table.value(line, row, "id")
    if table.has_label:
      raw = table.raw(line, row, "label")
      labels = self._split_label(raw if raw is not None else "")
      label = labels if self.options.multi_label else labels[0]
      if label == "":
        raise UserError("%s:%d: empty label in the label column %r." %
                        (table.path, line, self.options.columns["label"]))
    elif split == "test":  # A placeholder, as GLUE's test sets.
      label = [] if self.options.multi_label else self.get_labels()[0]
    else:
      raise UserError("%s: no label column %r." %
                      (table.path, self.options.columns["label"]))
    return InputExample(
        guid="%s-%s" % (split, example_id if example_id is not None
                        else index),
        text_a=text_a, text_b=text_b, label=label)

  # -- labels --

  def save_label_list(self):
    if getattr(self, "_unsaved_label_list", None):
      write_label_list(self._unsaved_label_list, self.get_labels())
      self._unsaved_label_list = None

  def _resolve_labels(self):
    saved_path = (os.path.join(self.options.output_dir, LABEL_LIST_FILE)
                  if self.options.output_dir else None)
    saved = (read_label_list(saved_path)
             if saved_path and not self.options.fresh_output_dir else None)
    given = self.options.labels
    if given and saved and given != saved:
      raise UserError(
          "--labels=%s differs from %s (%s), the labels this output "
          "directory's model was built with: use a new --output_dir." %
          (",".join(given), saved_path, ",".join(saved)))
    if given:
      labels, source = given, "--labels"
    elif saved:
      labels, source = saved, saved_path
    else:
      labels = self._labels_from_training_file()
      source = "the training file (sorted)"
    if len(set(labels)) != len(labels):
      raise UserError("The labels from %s repeat one: %s." %
                      (source, ",".join(labels)))
    tf.logging.info("%d labels, from %s: %s", len(labels), source,
                    ", ".join(labels))
    # Written by save_label_list, once the output directory is ready.
    self._unsaved_label_list = saved_path if saved_path and not saved else None
    self._label_list = labels
    # A training file read already (to count labels, or by the caller) must
    # have no label outside the list.
    for key, examples in self._examples.items():
      if key in self._lines:
        self._check_labels(key[1], examples, self._lines[key])
    return labels

  def _labels_from_training_file(self):
    counts = collections.Counter()
    for example in self._split_examples("train", None):
      counts.update(example.label if self.options.multi_label
                    else [example.label])
    if not counts:
      raise UserError("%s has no labels." % self.split_path("train"))
    tf.logging.info("Label counts in %s: %s", self.split_path("train"),
                    ", ".join("%s=%d" % (l, counts[l]) for l in sorted(counts)))
    return sorted(counts)


def read_label_list(path):
  """The labels in `path` (one a line), or None if there is no such file
  (`task_description.read_label_list`)."""
  return task_description.read_label_list(path)


def write_label_list(path, labels):
  """Writes the labels one a line, in output order
  (`task_description.write_label_list`)."""
  task_description.write_label_list(path, labels)
  tf.logging.info("Wrote the label list to %s", path)


def _read_jsonl_rows(path):
  """(line number, object) pairs of a JSON-lines file."""
  rows = []
  for line_number, line in enumerate(_read_utf8(path).splitlines(), 1):
    if not line.strip():
      continue
    try:
      value = json.loads(line)
    except ValueError as e:
      raise UserError("%s:%d: not a JSON object (%s)." %
                      (path, line_number, e))
    if not isinstance(value, dict):
      raise UserError("%s:%d: expected a JSON object, found %s." %
                      (path, line_number, type(value).__name__))
    rows.append((line_number, value))
  return rows


# A byte-order mark that went through cp1252 and back to UTF-8, as at the
# start of the MSR paraphrase files ("\xef\xbb\xbf" read as three characters).
_MANGLED_BOM = u"\u00ef\u00bb\u00bf"


def _header_names(row):
  """Column names, without a stray byte-order mark before the first."""
  names = [_unicode(n).strip() for n in row]
  if names:
    for bom in (_MANGLED_BOM, u"\ufeff"):
      if names[0].startswith(bom):
        names[0] = names[0][len(bom):]
  return names


class _DelimitedTable(object):
  """The rows of a TSV/CSV file and where each needed column is in them."""

  def __init__(self, path, rows, has_header, columns, split):
    self.path = path
    self.names = _header_names(rows[0][1]) if has_header else None
    self.rows = rows[1:] if has_header else rows
    if not self.rows:
      raise UserError("%s has no data rows (only a header)." % path)
    self.index = {}
    for role, spec in columns.items():
      key = _column_key(spec)
      if key is None:
        continue
      optional = role == "label" and split == "test"
      index = self._resolve(role, key, optional)
      if index is not None:
        self.index[role] = index
    self.has_label = "label" in self.index
    # Rows must have every column used; a short one is an error.
    self.min_fields = max(self.index.values()) + 1

  def _columns_text(self):
    if self.names is not None:
      return "columns: " + ", ".join(
          "%d=%r" % (i, n) for i, n in enumerate(self.names))
    return "%d columns (0-%d), no header" % (len(self.rows[0][1]),
                                              len(self.rows[0][1]) - 1)

  def _resolve(self, role, key, optional):
    line, first = self.rows[0]
    if isinstance(key, str):
      if key in self.names:
        return self.names.index(key)
      if optional:
        return None
      raise UserError("%s:1: no column named %r (--%s_column); the file has "
                      "%s." % (self.path, key, role, self._columns_text()))
    if key < len(first):
      return key
    if optional:
      return None
    raise UserError("%s:%d: no column %d (--%s_column); the file has %s." %
                    (self.path, line, key, role, self._columns_text()))

  def raw(self, line, row, role):
    if role not in self.index:
      return None
    if len(row) < self.min_fields:
      raise UserError(
          "%s:%d: %d field(s), expected at least %d (the file has %s)." %
          (self.path, line, len(row), self.min_fields, self._columns_text()))
    return row[self.index[role]]

  def value(self, line, row, role):
    raw = self.raw(line, row, role)
    return None if raw is None else _unicode(raw)


class _JsonTable(object):
  """The objects of a JSON-lines file, read by key."""

  def __init__(self, path, rows, columns, split):
    self.path = path
    self.rows = rows
    if not rows:
      raise UserError("%s has no data rows." % path)
    self.keys = {}
    for role, spec in columns.items():
      if spec is None:
        continue
      if isinstance(_column_key(spec), int):
        raise UserError("%s: jsonl columns are keys, not indexes: "
                        "--%s_column=%s (keys of line %d: %s)." %
                        (path, role, spec, rows[0][0],
                          ", ".join(sorted(rows[0][1]))))
      self.keys[role] = str(spec)
    self.has_label = "label" in self.keys and not (
        split == "test" and self.keys["label"] not in rows[0][1])

  def raw(self, line, row, role):
    if role not in self.keys or (role == "label" and not self.has_label):
      return None
    key = self.keys[role]
    if key not in row:
      raise UserError("%s:%d: no key %r (--%s_column); this line has %s." %
                      (self.path, line, key, role,
                        ", ".join(sorted(row)) or "no keys"))
    return "" if row[key] is None else row[key]

  def value(self, line, row, role):
    raw = self.raw(line, row, role)
    if raw is None:
      return None
    return _unicode(raw if isinstance(raw, str) else json.dumps(raw))


register_processor("file", FileProcessor)


def _is_regression(label_list):
  return not label_list or label_list == [None]


def convert_single_example(ex_index, example, label_list, max_seq_length,
                           tokenizer, multi_label=False):
  """Converts one `InputExample` into an `InputFeatures`.

  The layout is `[CLS] A [SEP]` (segment 0) then `B [SEP]` (segment 1),
  zero-padded to `max_seq_length`; pairs are trimmed one token at a time from
  the longer side. With `label_list` None (regression), the label is a float;
  with `multi_label`, the example's label is a list of labels and `label_id`
  is a 0/1 vector in `label_list` order.

  Raises:
    ValueError: the example's label is not in `label_list`.
  """
  if isinstance(example, PaddingInputExample):
    return _padding_features(label_list, max_seq_length, multi_label)

  label_id = _label_id(example, label_list, multi_label)
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
  if tokens_b:
    # Room for [CLS], [SEP], [SEP].
    _truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  elif len(tokens_a) > max_seq_length - 2:
    tokens_a = tokens_a[0:(max_seq_length - 2)]
  return _features_from_tokens(ex_index, example, tokens_a, tokens_b,
                               label_id, max_seq_length, tokenizer)


def _padding_features(label_list, max_seq_length, multi_label=False):
  if _is_regression(label_list):
    label_id = 0.0
  elif multi_label:
    label_id = [0] * len(label_list)
  else:
    label_id = 0
  return InputFeatures(
      input_ids=[0] * max_seq_length,
      input_mask=[0] * max_seq_length,
      segment_ids=[0] * max_seq_length,
      label_id=label_id,
      is_real_example=False)


def _label_id(example, label_list, multi_label=False):
  """The float score, label index, or (multi-label) 0/1 vector of `example`."""
  if _is_regression(label_list):
    return float(example.label)
  label_map = {label: i for (i, label) in enumerate(label_list)}
  labels = list(example.label) if multi_label else [example.label]
  for label in labels:
    if label not in label_map:
      raise UserError(
          "Example %s has label %r, which is not one of get_labels() = %s." %
          (example.guid, label, list(label_list)))
  if not multi_label:
    return label_map[example.label]
  vector = [0] * len(label_list)
  for label in labels:
    vector[label_map[label]] = 1
  return vector


def _features_from_tokens(ex_index, example, tokens_a, tokens_b, label_id,
                          max_seq_length, tokenizer, example_index=None):
  """`InputFeatures` of `[CLS] A [SEP] B [SEP]`, tokens already fitted."""
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)

  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  input_mask = [1] * len(input_ids)
  padding = max_seq_length - len(input_ids)
  input_ids += [0] * padding
  input_mask += [0] * padding
  segment_ids += [0] * padding

  if ex_index < 5:
    tf.logging.info("*** Example ***")
    tf.logging.info("guid: %s", example.guid)
    tf.logging.info("tokens: %s",
                    " ".join(tokenization.printable_text(x) for x in tokens))
    tf.logging.info("input_ids: %s", " ".join(str(x) for x in input_ids))
    tf.logging.info("input_mask: %s", " ".join(str(x) for x in input_mask))
    tf.logging.info("segment_ids: %s", " ".join(str(x) for x in segment_ids))
    tf.logging.info("label: %s (id = %s)", example.label, label_id)

  return InputFeatures(
      input_ids=input_ids,
      input_mask=input_mask,
      segment_ids=segment_ids,
      label_id=label_id,
      is_real_example=True,
      example_index=example_index)


def window_starts(num_tokens, window, stride):
  """Where the windows of a text of `num_tokens` tokens start: every
  `stride` tokens until one reaches the end (as run_squad's doc spans)."""
  starts = [0]
  while starts[-1] + window < num_tokens:
    starts.append(starts[-1] + stride)
  return starts


def convert_example_to_windows(ex_index, example, label_list, max_seq_length,
                               tokenizer, doc_stride, multi_label=False):
  """`InputFeatures` of each window of a long `text_a`, `doc_stride` tokens
  apart, all with the example's label and `example_index=ex_index`.

  A `text_b` is kept whole in every window, cut to half the room if longer.
  A `PaddingInputExample` gives one padding feature (`example_index` -1).

  Raises:
    ValueError: the label is unknown, or `doc_stride` is larger than the
      window, which would skip tokens between windows.
  """
  if isinstance(example, PaddingInputExample):
    feature = _padding_features(label_list, max_seq_length, multi_label)
    feature.example_index = -1
    return [feature]
  label_id = _label_id(example, label_list, multi_label)
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else []
  if tokens_b:
    tokens_b = tokens_b[:(max_seq_length - 3) // 2]
    window = max_seq_length - 3 - len(tokens_b)
  else:
    window = max_seq_length - 2
  if doc_stride > window:
    raise UserError(
        "Example %s: --doc_stride=%d is larger than its window of %d tokens "
        "(--max_seq_length less [CLS], [SEP] and text_b): windows would skip "
        "text." % (example.guid, doc_stride, window))
  return [
      _features_from_tokens(ex_index, example, tokens_a[start:start + window],
                            tokens_b, label_id, max_seq_length, tokenizer,
                            example_index=ex_index)
      for start in window_starts(len(tokens_a), window, doc_stride)
  ]


def _features_to_example(feature):
  """The tf.train.Example that `file_based_input_fn_builder` reads."""
  ints = output_files.int64_feature

  if isinstance(feature.label_id, float):
    label = tf.train.Feature(
        float_list=tf.train.FloatList(value=[feature.label_id]))
  elif isinstance(feature.label_id, (list, tuple)):  # multi-label
    label = ints(feature.label_id)
  else:
    label = ints([feature.label_id])
  columns = {
      "input_ids": ints(feature.input_ids),
      "input_mask": ints(feature.input_mask),
      "segment_ids": ints(feature.segment_ids),
      "label_ids": label,
      "is_real_example": ints([int(feature.is_real_example)]),
  }
  if feature.example_index is not None:
    columns["example_index"] = ints([feature.example_index])
  return tf.train.Example(features=tf.train.Features(feature=columns))


def file_based_convert_examples_to_features(examples, label_list,
                                            max_seq_length, tokenizer,
                                            output_file, multi_label=False,
                                            doc_stride=None,
                                            pad_to_multiple=None):
  """Converts `examples` to features and writes them to a TFRecord file.

  With `doc_stride`, a long example becomes several windows
  (`convert_example_to_windows`). With `pad_to_multiple` (TPUs), padding
  records follow until their number is a multiple of it. The file is written
  under a temporary name and renamed at the end, so an interrupted run leaves
  no half-written `output_file`.

  Returns:
    the number of records written.
  """
  start = time.time()
  num_records = 0
  with output_files.TFRecordWriter(output_file) as writer:
    for (ex_index, example) in enumerate(examples):
      if ex_index % 10000 == 0 and ex_index:
        tf.logging.info("Writing example %d of %d (%.0f examples/sec)",
                        ex_index, len(examples),
                        ex_index / max(time.time() - start, 1e-9))
      if doc_stride:
        features = convert_example_to_windows(
            ex_index, example, label_list, max_seq_length, tokenizer,
            doc_stride, multi_label)
      else:
        features = [convert_single_example(ex_index, example, label_list,
                                           max_seq_length, tokenizer,
                                           multi_label)]
      for feature in features:
        writer.write(_features_to_example(feature).SerializeToString())
      num_records += len(features)
    while pad_to_multiple and num_records % pad_to_multiple:
      feature = _padding_features(label_list, max_seq_length, multi_label)
      feature.example_index = -1 if doc_stride else None
      writer.write(_features_to_example(feature).SerializeToString())
      num_records += 1
  elapsed = max(time.time() - start, 1e-9)
  tf.logging.info("Converted %d examples to %s in %.1fs (%.0f examples/sec)",
                  len(examples), output_file, elapsed, len(examples) / elapsed)
  if doc_stride:
    tf.logging.info("  %d records: windows of --max_seq_length=%d, "
                    "--doc_stride=%d", num_records, max_seq_length, doc_stride)
  return num_records


def _name_to_features(seq_length, regression=False, num_multi_labels=None,
                      windowed=False):
  if regression:
    label = tf.FixedLenFeature([], tf.float32)
  elif num_multi_labels:
    label = tf.FixedLenFeature([num_multi_labels], tf.int64)
  else:
    label = tf.FixedLenFeature([], tf.int64)
  name_to_features = {
      "input_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "label_ids": label,
      "is_real_example": tf.FixedLenFeature([], tf.int64),
  }
  if windowed:
    name_to_features["example_index"] = tf.FixedLenFeature([], tf.int64)
  return name_to_features


def file_based_input_fn_builder(input_file, seq_length, is_training,
                                drop_remainder, is_regression=False,
                                num_multi_labels=None, windowed=False,
                                bucket_by_length=False):
  """Creates an `input_fn` closure to be passed to TPUEstimator.

  `num_multi_labels` (multi-label) makes `label_ids` a 0/1 vector of that
  length; `windowed` reads the `example_index` of long-document windows.
  `bucket_by_length` (CPU/GPU): batches of similar-length examples, each cut
  to its longest (`input_pipeline.batch_examples`).
  """
  return input_pipeline.tfrecord_input_fn_builder(
      input_file, _name_to_features(seq_length, is_regression,
                                    num_multi_labels, windowed),
      is_training, drop_remainder, bucket_by_length=bucket_by_length)


# Kept under its original name; the layout is in bert_inputs, which the
# predictor and the exported text signature share.
_truncate_seq_pair = bert_inputs.truncate_seq_pair


def create_model(bert_config, is_training, input_ids, input_mask, segment_ids,
                 labels, num_labels, use_one_hot_embeddings,
                 is_regression=False, compute_type=tf.float32,
                 multi_label=False, class_weights=None):
  """Creates a classification model: BERT's pooled output, then one layer.

  The head's variables are `output_weights` [num_labels, hidden] and
  `output_bias`, as in the original. For regression `num_labels` is 1, the
  loss is the squared error and the "probabilities" are the scores. In
  training the pooled output gets dropout at the config's
  `hidden_dropout_prob`: 0.1 in every official config, the rate the original
  fixed, and 0 where a config turns dropout off. `multi_label` and
  `class_weights`: see `create_classification_head`.

  Returns:
    (loss, per_example_loss, logits, probabilities)
  """
  model = modeling.BertModel(
      config=bert_config,
      is_training=is_training,
      input_ids=input_ids,
      input_mask=input_mask,
      token_type_ids=segment_ids,
      use_one_hot_embeddings=use_one_hot_embeddings,
      compute_type=compute_type)

  return create_classification_head(
      model.get_pooled_output(), labels, num_labels, is_training,
      bert_config.hidden_dropout_prob, is_regression, multi_label,
      class_weights)


def create_classification_head(output_layer, labels, num_labels, is_training,
                               dropout_prob, is_regression=False,
                               multi_label=False, class_weights=None):
  """One layer over a pooled representation: `output_weights`, `output_bias`.

  Shared by `create_model` and run_classifier_with_tfhub.py, whose pooled
  output comes from a hub module.

  Single-label: softmax and cross-entropy, as the original. `multi_label`:
  `labels` are 0/1 [batch, num_labels], the probabilities are a sigmoid per
  label and the loss is binary cross-entropy averaged over the labels.
  `class_weights` ([num_labels] floats) weigh the training loss: the
  cross-entropy of an example by its label's weight, or (multi-label) the
  positive term of each label (`pos_weight`). `per_example_loss`, which
  evaluation averages into `eval_loss`, stays unweighted so that runs with
  and without weights compare.

  Returns:
    (loss, per_example_loss, logits, probabilities); for regression the
    "probabilities" are the scores.
  """
  hidden_size = output_layer.shape[-1]
  output_weights = tf.get_variable(
      "output_weights", [num_labels, hidden_size],
      initializer=tf.truncated_normal_initializer(stddev=0.02))
  output_bias = tf.get_variable(
      "output_bias", [num_labels], initializer=tf.zeros_initializer())

  # No name scope "loss": it would rename the Estimator's TensorBoard `loss`
  # summary to `loss_1`. (The scope holds no variables.)
  with tf.variable_scope("loss", auxiliary_name_scope=False):
    if is_training:
      output_layer = modeling.dropout(output_layer, dropout_prob)
    logits = tf.matmul(output_layer, output_weights, transpose_b=True)
    logits = tf.nn.bias_add(logits, output_bias)
    if is_regression:
      scores = tf.squeeze(logits, axis=-1)
      per_example_loss = tf.square(scores - tf.cast(labels, tf.float32))
      loss = tf.reduce_mean(per_example_loss)
      return (loss, per_example_loss, logits, logits)

    if multi_label:
      return _multi_label_loss(logits, labels, class_weights)

    probabilities = tf.nn.softmax(logits, axis=-1)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
    per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
    if class_weights is None:
      loss = tf.reduce_mean(per_example_loss)
    else:
      weights = tf.gather(tf.constant(class_weights, per_example_loss.dtype),
                          labels)
      loss = tf.reduce_mean(per_example_loss * weights)
    return (loss, per_example_loss, logits, probabilities)


def _multi_label_loss(logits, labels, pos_weights):
  """(loss, per_example_loss, logits, probabilities) of a sigmoid per label."""
  targets = tf.cast(labels, logits.dtype)
  per_label = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets,
                                                      logits=logits)
  per_example_loss = tf.reduce_mean(per_label, axis=-1)
  if pos_weights is None:
    loss = tf.reduce_mean(per_example_loss)
  else:
    weighted = tf.nn.weighted_cross_entropy_with_logits(
        labels=targets, logits=logits,
        pos_weight=tf.constant(pos_weights, logits.dtype))
    loss = tf.reduce_mean(weighted)
  return (loss, per_example_loss, logits, tf.sigmoid(logits))


def compute_metrics(metric_names, labels, predictions, is_regression=False):
  """GLUE metrics in percent-free fractions, computed with numpy.

  Args:
    metric_names: any of "accuracy", "f1", "mcc", "pearson", "spearman".
    labels: gold label ids (or scores for regression).
    predictions: predicted label ids (or scores).
    is_regression: whether the task is a regression.

  Returns:
    a dict from metric name to float.
  """
  labels = np.asarray(labels, np.float64 if is_regression else np.int64)
  predictions = np.asarray(predictions, labels.dtype)
  out = {}
  for name in metric_names:
    if name == "accuracy":
      out[name] = float(np.mean(labels == predictions)) if labels.size else 0.0
    elif name == "f1":
      out[name] = _binary_f1(labels, predictions)
    elif name == "mcc":
      out[name] = _matthews_corrcoef(labels, predictions)
    elif name == "pearson":
      out[name] = _pearson(labels, predictions)
    elif name == "spearman":
      out[name] = _pearson(_average_ranks(labels), _average_ranks(predictions))
    else:
      raise UserError("Unknown metric %r" % name)
  return out


def _binary_f1(labels, predictions):
  tp = float(np.sum((predictions == 1) & (labels == 1)))
  fp = float(np.sum((predictions == 1) & (labels != 1)))
  fn = float(np.sum((predictions != 1) & (labels == 1)))
  return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _matthews_corrcoef(labels, predictions):
  tp = float(np.sum((predictions == 1) & (labels == 1)))
  tn = float(np.sum((predictions != 1) & (labels != 1)))
  fp = float(np.sum((predictions == 1) & (labels != 1)))
  fn = float(np.sum((predictions != 1) & (labels == 1)))
  denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
  return float((tp * tn - fp * fn) / denominator) if denominator else 0.0


def _pearson(x, y):
  x = np.asarray(x, np.float64) - np.mean(x)
  y = np.asarray(y, np.float64) - np.mean(y)
  denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
  return float(np.sum(x * y) / denominator) if denominator else 0.0


def _average_ranks(values):
  """1-based ranks, ties sharing the mean of their ranks (as Spearman needs)."""
  values = np.asarray(values)
  order = np.argsort(values, kind="mergesort")
  ranks = np.empty(len(values), np.float64)
  sorted_values = values[order]
  start = 0
  while start < len(values):
    end = start
    while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
      end += 1
    ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
    start = end + 1
  return ranks


def _collected(values, name):
  """A streaming metric's (value, update_op) that concatenates every batch."""
  store = tf.Variable(
      tf.zeros([0], values.dtype), trainable=False, shape=tf.TensorShape([None]),
      collections=[tf.GraphKeys.LOCAL_VARIABLES, tf.GraphKeys.METRIC_VARIABLES],
      name=name)
  return store, store.assign(tf.concat([store, values], axis=0))


def _numpy_metric_ops(tensors, compute, names):
  """Streaming (value, update_op) pairs of metrics numpy computes at the end
  from every batch's `tensors` (a dict of name -> tensor [batch, ...]).

  `compute` takes a dict of the same names to the concatenated arrays, each
  flattened to 1-D, and returns a dict over `names`; the metrics are
  `eval_<name>`.
  """
  keys = sorted(tensors)
  stores, updates = [], []
  for key in keys:
    store, update = _collected(tf.reshape(tensors[key], [-1]), "metric_" + key)
    stores.append(store)
    updates.append(update)
  update = tf.group(*updates)

  def run(*arrays):
    result = compute(dict(zip(keys, arrays)))
    return np.array([result[n] for n in names], np.float32)

  values = tf.numpy_function(run, stores, tf.float32)
  return {"eval_" + name: (values[i], update)
          for i, name in enumerate(names)}


def _task_metric_ops(metric_names, labels, predictions, weights, regression):
  """Streaming (value, update_op) pairs for the GLUE metrics of a task."""
  if not metric_names:
    return {}
  dtype = tf.float32 if regression else tf.int64

  def compute(arrays):
    real = arrays["weights"] > 0
    return compute_metrics(metric_names, arrays["labels"][real],
                           arrays["preds"][real], regression)

  return _numpy_metric_ops(
      {"labels": tf.cast(labels, dtype), "preds": tf.cast(predictions, dtype),
       "weights": tf.cast(weights, tf.float32)}, compute, metric_names)


def multi_label_metric_names(label_list):
  """The names `multi_label_metrics` returns, in a fixed order."""
  return (["micro_f1", "macro_f1", "subset_accuracy"] +
          ["f1_" + _metric_safe(label) for label in label_list])


def _metric_safe(label):
  """A label as part of a metric name (one word in eval_results.txt)."""
  return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def multi_label_metrics(labels, predictions, label_list):
  """Micro-F1, macro-F1, subset accuracy and each label's F1.

  Args:
    labels, predictions: 0/1 arrays [num_examples, num_labels].
    label_list: the label names, for the per-label `f1_<label>`.

  Micro-F1 pools every (example, label) decision; macro-F1 is the mean of the
  per-label F1s, a label never gold nor predicted counting 0 (as
  scikit-learn's default); subset accuracy counts examples whose whole label
  set is right.
  """
  labels = np.asarray(labels, np.int64).reshape(-1, len(label_list)) > 0
  predictions = np.asarray(predictions, np.int64).reshape(labels.shape) > 0
  tp = np.sum(labels & predictions, axis=0).astype(np.float64)
  fp = np.sum(~labels & predictions, axis=0).astype(np.float64)
  fn = np.sum(labels & ~predictions, axis=0).astype(np.float64)
  per_label = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
  micro = (2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())
           if tp.sum() else 0.0)
  out = {
      "micro_f1": float(micro),
      "macro_f1": float(np.mean(per_label)) if len(label_list) else 0.0,
      "subset_accuracy": (float(np.mean(np.all(labels == predictions, axis=1)))
                          if labels.shape[0] else 0.0),
  }
  for label, f1 in zip(label_list, per_label):
    out["f1_" + _metric_safe(label)] = float(f1)
  return out


def aggregate_windows(logits, example_index, how="mean"):
  """Per-document logits from the logits of their windows.

  Args:
    logits: [num_windows, num_labels].
    example_index: [num_windows], the document of each window; negative for
      padding, which is dropped.
    how: "mean" or "max" (element-wise over a document's windows).

  Returns:
    (document indexes in order of first appearance, [num_docs, num_labels]).
  """
  logits = np.asarray(logits, np.float64)
  example_index = np.asarray(example_index).reshape(-1)
  order = []
  groups = collections.defaultdict(list)
  for row, doc in enumerate(example_index):
    if doc < 0:
      continue
    if doc not in groups:
      order.append(doc)
    groups[doc].append(row)
  reduce_fn = {"mean": np.mean, "max": np.max}[how]
  aggregated = np.array([reduce_fn(logits[groups[d]], axis=0) for d in order])
  return np.array(order, np.int64), aggregated.reshape(len(order), -1)


def _softmax(logits):
  shifted = logits - np.max(logits, axis=-1, keepdims=True)
  exp = np.exp(shifted)
  return exp / np.sum(exp, axis=-1, keepdims=True)


def _sigmoid(logits):
  return 1.0 / (1.0 + np.exp(-logits))


def probabilities_from_logits(logits, multi_label=False, regression=False):
  """What the model's `probabilities` output is, from (aggregated) logits."""
  logits = np.asarray(logits, np.float64)
  if regression:
    return logits
  return _sigmoid(logits) if multi_label else _softmax(logits)


def predicted_label_set(probabilities, label_list, threshold=0.5):
  """Multi-label: the labels whose probability is at least `threshold`, in
  label-list order (possibly none)."""
  return [label for label, p in zip(label_list, np.atleast_1d(probabilities))
          if p >= threshold]


class _EvalHead(object):
  """What numpy evaluation needs to know of the head: how many outputs,
  whether multi-label (and its threshold), how windows aggregate."""

  def __init__(self, num_labels, multi_label, threshold, window_aggregation,
               regression, metric_names, label_list):
    self.num_labels = num_labels
    self.multi_label = multi_label
    self.threshold = threshold
    self.window_aggregation = window_aggregation
    self.regression = regression
    self.metric_names = tuple(metric_names)
    self.label_list = list(label_list or [])

  def names(self):
    if self.multi_label:
      return multi_label_metric_names(self.label_list)
    if self.regression:
      return list(self.metric_names)
    return ["accuracy"] + [n for n in self.metric_names if n != "accuracy"]

  def compute(self, arrays):
    """Document-level metrics from the collected window (or example) rows."""
    logits = arrays["logits"].reshape(-1, self.num_labels)
    width = self.num_labels if self.multi_label else 1
    labels = arrays["labels"].reshape(-1, width)
    real = arrays["weights"] > 0
    if "example_index" in arrays:
      index = np.where(real, arrays["example_index"], -1)
      docs, logits = aggregate_windows(logits, index, self.window_aggregation)
      # Every window of a document has its label; take the first's.
      first_row = {d: r for r, d in reversed(list(enumerate(index)))}
      labels = labels[[first_row[d] for d in docs]]
    else:
      logits, labels = logits[real], labels[real]
    if self.multi_label:
      preds = (_sigmoid(logits) >= self.threshold).astype(np.int64)
      return multi_label_metrics(labels, preds, self.label_list)
    if self.regression:
      return compute_metrics(self.names(), labels[:, 0], logits[:, 0], True)
    return compute_metrics(self.names(), labels[:, 0].astype(np.int64),
                           np.argmax(logits, axis=-1))


def model_fn_builder(bert_config, num_labels, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings, is_regression=False,
                     metric_names=(), multi_label=False, class_weights=None,
                     window_aggregation=None, multi_label_threshold=0.5,
                     label_list=None, settings=None):
  """Returns a `model_fn` closure for TPUEstimator.

  Training uses the optimiser, precision and accumulation of `settings`
  (a `script_flags.Settings`; default: the flags' defaults), through
  `runtime.train_spec`. Evaluation reports `eval_accuracy`
  (classification) and `eval_loss` as the original, plus `eval_<name>` for
  each of `metric_names` ("f1", "mcc", "pearson", "spearman").

  `multi_label` (sigmoid head; `label_list` names the per-label metrics)
  reports `eval_micro_f1`, `eval_macro_f1`, `eval_subset_accuracy` and
  `eval_f1_<label>` instead, a label predicted at `multi_label_threshold`.
  `class_weights` weigh the training loss (`create_classification_head`).
  `window_aggregation` ("mean"/"max"; None: no windows) means the features are
  long-document windows with an `example_index`: the metrics are of
  documents, their windows' logits aggregated, `eval_loss` the mean over
  windows, and predictions add `logits` and `example_index` for
  `aggregate_window_predictions`.
  """
  settings = settings or script_flags.Settings()
  eval_head = _EvalHead(num_labels, multi_label, multi_label_threshold,
                        window_aggregation, is_regression, metric_names,
                        label_list)

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """The `model_fn` for TPUEstimator."""
    runtime.log_features(features)

    input_ids = features["input_ids"]
    input_mask = features["input_mask"]
    segment_ids = features["segment_ids"]
    batch = tf.shape(input_ids)[:1]
    if "label_ids" in features:
      label_ids = features["label_ids"]
    elif multi_label:  # A SavedModel's serving inputs: no labels.
      label_ids = tf.zeros(tf.concat([batch, [num_labels]], 0), tf.int32)
    else:  # A SavedModel's serving inputs (runtime.export_saved_model).
      label_ids = tf.zeros(batch, tf.float32 if is_regression else tf.int32)
    if "is_real_example" in features:
      is_real_example = tf.cast(features["is_real_example"], dtype=tf.float32)
    else:
      is_real_example = tf.ones(batch, dtype=tf.float32)

    is_training = (mode == tf.estimator.ModeKeys.TRAIN)
    (total_loss, per_example_loss, logits, probabilities) = create_model(
        bert_config, is_training, input_ids, input_mask, segment_ids,
        label_ids, num_labels, use_one_hot_embeddings, is_regression,
        runtime.compute_type(settings), multi_label,
        class_weights if is_training else None)

    scaffold_fn = runtime.init_from_checkpoint(init_checkpoint, use_tpu)

    if mode == tf.estimator.ModeKeys.TRAIN:
      return runtime.train_spec(settings, total_loss, learning_rate,
                                num_train_steps, num_warmup_steps, scaffold_fn)

    if mode == tf.estimator.ModeKeys.EVAL:
      if multi_label or window_aggregation:
        tensors = {"per_example_loss": per_example_loss,
                   "labels": label_ids, "logits": logits,
                   "weights": is_real_example}
        if window_aggregation:
          tensors["example_index"] = features["example_index"]
        eval_metrics = (_numpy_metric_fn(eval_head), tensors)
      else:
        eval_metrics = (_metric_fn(is_regression, metric_names),
                        [per_example_loss, label_ids, logits,
                         is_real_example])
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, eval_metrics=eval_metrics,
          scaffold_fn=scaffold_fn)

    predictions = {"probabilities": probabilities}
    if window_aggregation:
      predictions["logits"] = logits
      if "example_index" in features:
        predictions["example_index"] = features["example_index"]
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, predictions=input_pipeline.with_example_index(predictions,
                                                          features),
        scaffold_fn=scaffold_fn)

  return model_fn


def confusion_matrix_metric(labels, predictions, num_labels, weights):
  """{"eval_confusion_matrix": streaming (value, update_op)}: counts of real
  examples by [gold label id, predicted label id]."""
  counts = tf.Variable(
      tf.zeros([num_labels, num_labels], tf.float32), trainable=False,
      collections=[tf.GraphKeys.LOCAL_VARIABLES, tf.GraphKeys.METRIC_VARIABLES],
      name="confusion_matrix")
  batch = tf.math.confusion_matrix(
      tf.reshape(labels, [-1]), tf.reshape(predictions, [-1]),
      num_classes=num_labels, weights=tf.reshape(weights, [-1]),
      dtype=tf.float32)
  return {"eval_confusion_matrix": (tf.identity(counts),
                                    counts.assign_add(batch))}


def per_class_metrics(confusion_matrix, label_list):
  """{eval_precision_<label>, eval_recall_<label>, eval_f1_<label>} from a
  [gold, predicted] count matrix (0 where a class is never predicted or
  never gold)."""
  counts = np.asarray(confusion_matrix, np.float64)
  out = {}
  for i, label in enumerate(label_list):
    tp = counts[i, i]
    predicted, gold = counts[:, i].sum(), counts[i, :].sum()
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    out["eval_precision_%s" % label] = float(precision)
    out["eval_recall_%s" % label] = float(recall)
    out["eval_f1_%s" % label] = float(
        2 * precision * recall / (precision + recall) if tp else 0.0)
  return out


def with_per_class_metrics(result, label_list):
  """`result` of estimator.evaluate with the per-class metrics added."""
  result = dict(result)
  if "eval_confusion_matrix" in result:
    result.update(per_class_metrics(result["eval_confusion_matrix"],
                                    label_list))
  return result


# The original's lines, first in eval_results.txt as there.
_FIRST_RESULTS = ("eval_accuracy", "eval_loss")


def format_eval_results(result, label_list):
  """eval_results.txt: `key = value` lines, eval_accuracy and eval_loss
  first, the rest sorted, then the confusion matrix, one count a line:
  `eval_confusion_<gold label>_predicted_<label> = N`. Every value stays a
  number, so parsers of the original's file keep working."""
  keys = [k for k in _FIRST_RESULTS if k in result]
  keys += sorted(k for k in result
                 if k not in _FIRST_RESULTS and k != "eval_confusion_matrix")
  lines = ["%s = %s\n" % (k, str(result[k])) for k in keys]
  if "eval_confusion_matrix" in result:
    counts = np.asarray(result["eval_confusion_matrix"]).astype(np.int64)
    for i, gold in enumerate(label_list):
      for j, predicted in enumerate(label_list):
        lines.append("eval_confusion_%s_predicted_%s = %d\n" %
                     (gold, predicted, counts[i, j]))
  return "".join(lines)


def write_eval_results(output_dir, result, label_list):
  """Logs `format_eval_results` and writes it to eval_results.txt."""
  text = format_eval_results(result, label_list)
  tf.logging.info("***** Eval results *****")
  for line in text.splitlines():
    tf.logging.info("  %s", line)
  output_files.write_text_atomically(
      os.path.join(output_dir, "eval_results.txt"), text)


def _metric_fn(is_regression, metric_names):
  """The original's metrics: accuracy and loss, streaming in TensorFlow."""

  def metric_fn(per_example_loss, label_ids, logits, is_real_example):
    if is_regression:
      predictions = tf.squeeze(logits, axis=-1)
      metrics = {}
    else:
      predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
      metrics = {"eval_accuracy": tf.metrics.accuracy(
          labels=label_ids, predictions=predictions,
          weights=is_real_example)}
      metrics.update(confusion_matrix_metric(
          label_ids, predictions, int(logits.shape[-1]), is_real_example))
    metrics["eval_loss"] = tf.metrics.mean(
        values=per_example_loss, weights=is_real_example)
    metrics.update(_task_metric_ops(metric_names, label_ids, predictions,
                                    is_real_example, is_regression))
    return metrics

  return metric_fn


def _numpy_metric_fn(eval_head):
  """Metrics of multi-label heads and of documents made of windows."""

  def metric_fn(per_example_loss, labels, logits, weights,
                example_index=None):
    tensors = {"logits": tf.cast(logits, tf.float32), "weights": weights,
               "labels": tf.cast(labels, tf.float32)}
    if example_index is not None:
      tensors["example_index"] = tf.cast(example_index, tf.int64)
    metrics = _numpy_metric_ops(tensors, eval_head.compute, eval_head.names())
    metrics["eval_loss"] = tf.metrics.mean(values=per_example_loss,
                                           weights=weights)
    return metrics

  return metric_fn


def aggregate_window_predictions(predictions, how="mean", multi_label=False,
                                 regression=False):
  """One prediction per document from the predictions of its windows.

  `predictions` (from a model built with `window_aggregation`) come in
  input order, a document's windows together, with `example_index` -1 for
  padding. Yields `{"probabilities": ...}` per document, from the aggregated
  logits, in order.
  """
  current, rows = None, []
  for prediction in predictions:
    index = int(prediction["example_index"])
    if index != current and rows:
      yield _document_prediction(rows, how, multi_label, regression)
      rows = []
    current = index
    if index >= 0:
      rows.append(prediction["logits"])
  if rows:
    yield _document_prediction(rows, how, multi_label, regression)


def _document_prediction(window_logits, how, multi_label, regression):
  _, logits = aggregate_windows(window_logits, [0] * len(window_logits), how)
  return {"probabilities": probabilities_from_logits(logits[0], multi_label,
                                                     regression),
          "logits": logits[0]}


def input_fn_builder(features, seq_length, is_training, drop_remainder,
                     bucket_by_length=False):
  """An in-memory `input_fn` over a list of `InputFeatures`.

  Holds every feature as a graph constant: fine for small sets and for TF
  Hub demos, not for large data (use the TFRecord path). `bucket_by_length`
  as in `file_based_input_fn_builder`.
  """
  columns = collections.defaultdict(list)
  for feature in features:
    columns["input_ids"].append(feature.input_ids)
    columns["input_mask"].append(feature.input_mask)
    columns["segment_ids"].append(feature.segment_ids)
    columns["label_ids"].append(feature.label_id)
  num_examples = len(features)

  def input_fn(params):
    batch_size = params["batch_size"]
    label_dtype = tf.float32 if (
        columns["label_ids"] and
        isinstance(columns["label_ids"][0], float)) else tf.int32
    d = tf.data.Dataset.from_tensor_slices({
        "input_ids": tf.constant(columns["input_ids"], shape=[
            num_examples, seq_length], dtype=tf.int32),
        "input_mask": tf.constant(columns["input_mask"], shape=[
            num_examples, seq_length], dtype=tf.int32),
        "segment_ids": tf.constant(columns["segment_ids"], shape=[
            num_examples, seq_length], dtype=tf.int32),
        "label_ids": tf.constant(columns["label_ids"], shape=[num_examples],
                                 dtype=label_dtype),
    })
    return input_pipeline.batch_examples(d, batch_size, is_training, drop_remainder,
                                  bucket_by_length=bucket_by_length)

  return input_fn


def convert_examples_to_features(examples, label_list, max_seq_length,
                                 tokenizer, multi_label=False, doc_stride=None):
  """Converts a list of `InputExample`s into a list of `InputFeatures`:
  one each, or with `doc_stride` one per window (`example_index` says whose).
  """
  features = []
  for (ex_index, example) in enumerate(examples):
    if ex_index % 10000 == 0 and ex_index:
      tf.logging.info("Writing example %d of %d", ex_index, len(examples))
    if doc_stride:
      features.extend(convert_example_to_windows(
          ex_index, example, label_list, max_seq_length, tokenizer,
          doc_stride, multi_label))
    else:
      features.append(convert_single_example(
          ex_index, example, label_list, max_seq_length, tokenizer,
          multi_label))
  return features


def _padded(examples, batch_size, use_tpu):
  """On TPU, pads `examples` to a whole number of batches."""
  examples = list(examples)
  if use_tpu:
    while len(examples) % batch_size != 0:
      examples.append(PaddingInputExample())
  return examples


def require_examples(examples, split, processor, data_dir=None):
  """Raises UserError if `processor` read no `split` examples."""
  if not examples:
    raise UserError("%s produced no %s examples from --data_dir=%s." %
                     (type(processor).__name__, split, data_dir))


def validate_flags(settings, bert_config):
  """Checks the flags before any work starts; raises UserError if wrong."""
  runtime.check_something_to_do(settings, "do_train", "do_eval", "do_predict",
                                "export_dir")
  runtime.check_flags(settings, bert_config, settings.max_seq_length,
                      settings.train_batch_size, settings.do_train,
                      settings.export_dir, settings.output_dir,
                      init_checkpoint=settings.init_checkpoint)
  # The file task may name its files instead (--train_file, ...).
  needs_data_dir = ((settings.task_name or "").lower() != "file" or
                    settings.data_dir)
  if ((settings.do_train or settings.do_eval or settings.do_predict) and
      needs_data_dir and not tf.io.gfile.isdir(settings.data_dir or "")):
    raise UserError("--data_dir=%s is not a directory." % settings.data_dir)
  if settings.doc_stride is not None and not (
      0 < settings.doc_stride <= settings.max_seq_length - 2):
    raise UserError(
        "--doc_stride=%d must be between 1 and the window, --max_seq_length "
        "- 2 = %d, or windows would skip text." %
        (settings.doc_stride, settings.max_seq_length - 2))
  if not 0.0 < settings.multi_label_threshold < 1.0:
    raise UserError("--multi_label_threshold=%s must be between 0 and 1." %
                    settings.multi_label_threshold)
  runtime.check_trained_model(settings)


def evaluation_metrics(label_list, regression, metric_names,
                       multi_label=False):
  """(metric names the evaluation reports, the default best-checkpoint one)."""
  names = ["eval_loss"] + ["eval_" + n for n in metric_names]
  if multi_label:
    names += multi_label_metric_names(label_list)
  elif not regression:
    names.append("eval_accuracy")
    for label in label_list:
      names += ["eval_%s_%s" % (m, label) for m in ("precision", "recall", "f1")]
  if regression:
    default = "eval_pearson" if "pearson" in metric_names else "eval_loss"
  else:
    default = "eval_accuracy"
  return names, default


def check_evaluation_flags(settings, processor, label_list, regression,
                           metric_names, multi_label=False):
  """The evaluation flags' checks; returns (dev examples or None, metric).

  With --eval_every_n_steps the dev set is read now, so that a missing one
  is reported before any work."""
  dev_examples, no_dev = None, None
  if settings.do_train and settings.eval_every_n_steps > 0:
    try:
      dev_examples = processor.get_dev_examples(settings.data_dir)
    except (OSError, tf.errors.OpError, UserError) as e:
      no_dev = command_line.error_text(e)
    if not dev_examples and not no_dev:
      no_dev = "%s read no dev examples from --data_dir=%s." % (
          type(processor).__name__, settings.data_dir)
  names, default = evaluation_metrics(label_list, regression, metric_names,
                                      multi_label)
  metric = training_loop.check_flags(settings, names, default, no_dev)
  return dev_examples, metric


def check_task_head(settings, processor, regression):
  """Whether the task is multi-label; UserError where the head flags and
  the task do not fit together."""
  task_name = settings.task_name
  multi_label = bool(getattr(processor, "is_multi_label", False))
  if regression and (settings.multi_label or multi_label):
    raise UserError("--multi_label cannot be used with %s, a regression "
                    "task." % task_name)
  if settings.multi_label and not multi_label:
    raise UserError(
        "--multi_label needs a task whose labels are sets: --task_name=file "
        "(or a processor with is_multi_label = True), not %s." % task_name)
  if regression and settings.class_weights:
    raise UserError("--class_weights cannot be used with %s, a regression "
                    "task." % task_name)
  return multi_label


def class_weights_from_flag(spec, examples, label_list, multi_label=False):
  """The loss weights `--class_weights` asks for, in label order, or None.

  "balanced": single-label, N / (num_labels * count) for each label (weights
  averaging 1 over the training set); multi-label, negatives / positives
  per label, the positive weight that balances each sigmoid. Otherwise
  comma-separated numbers, one per label. Logged.
  """
  if not spec:
    return None
  if spec.strip().lower() == "balanced":
    counts = collections.Counter()
    for example in examples:
      counts.update(example.label if multi_label else [example.label])
    n = len(examples)
    weights = []
    for label in label_list:
      count = counts[label]
      if count == 0 or (multi_label and count == n):
        raise UserError(
            "--class_weights=balanced: label %r is on %d of the %d training "
            "examples, so its weight is undefined: give the weights as "
            "numbers." % (label, count, n))
      weights.append((n - count) / count if multi_label
                     else n / (len(label_list) * count))
    how = "negatives/positives" if multi_label else "N/(labels*count)"
  else:
    try:
      weights = [float(w) for w in spec.split(",")]
    except ValueError:
      raise UserError("--class_weights=%s: expected 'balanced' or numbers "
                      "separated by commas." % spec)
    if len(weights) != len(label_list) or min(weights) <= 0:
      raise UserError(
          "--class_weights=%s: expected %d positive numbers, one per label "
          "in the order %s." % (spec, len(label_list), ",".join(label_list)))
    how = "given"
  tf.logging.info("Class weights (%s): %s", how, ", ".join(
      "%s=%.4g" % lw for lw in zip(label_list, weights)))
  return weights


class FeatureLayout(object):
  """What a run's records hold beyond the tokens, for conversion, reading
  and prediction: a score (regression), a label id or (multi-label) a 0/1
  vector of `num_labels`; one record per example or, with `doc_stride`, per
  window, whose logits `window_aggregation` combines per document; a
  multi-label prediction is the labels of probability >=
  `multi_label_threshold`. The default is the original's: one label id per
  example.
  """

  def __init__(self, regression=False, multi_label=False, num_labels=None,
               doc_stride=None, window_aggregation="mean",
               multi_label_threshold=0.5):
    self.regression = regression
    self.multi_label = multi_label
    self.multi_label_threshold = multi_label_threshold
    self.num_labels = num_labels
    self.doc_stride = doc_stride
    self.window_aggregation = window_aggregation

  def input_options(self):
    """`file_based_input_fn_builder`'s keyword arguments."""
    return dict(is_regression=self.regression,
                num_multi_labels=self.num_labels if self.multi_label else None,
                windowed=bool(self.doc_stride))


def read_task_examples(settings, processor):
  """The examples of every split the run uses, read before any training so
  that a bad row of the dev or test file stops the run at once."""
  examples = {}
  for split, wanted, method in (
      ("train", settings.do_train, processor.get_train_examples),
      ("dev", settings.do_eval, processor.get_dev_examples),
      ("test", settings.do_predict, processor.get_test_examples)):
    if wanted:
      examples[split] = method(settings.data_dir)
      require_examples(examples[split], split, processor, settings.data_dir)
  return examples


def main(_):
  settings = script_flags.from_flags()
  load_processor_modules(settings.processor_module)
  processor = get_processor(settings.task_name, settings)

  bert_config = runtime.load_bert_config(settings.bert_config_file)
  validate_flags(settings, bert_config)
  label_list = processor.get_labels()
  regression = processor.is_regression or _is_regression(label_list)
  multi_label = check_task_head(settings, processor, regression)
  num_labels = 1 if regression else len(label_list)
  metric_names = tuple(processor.metrics)
  dev_examples, best_metric = check_evaluation_flags(
      settings, processor, label_list, regression, metric_names, multi_label)
  tokenizer = runtime.load_tokenizer(settings)
  runtime.check_resume(settings, settings.output_dir)
  output_files.prepare_output_dir(settings.output_dir,
                                  overwrite=settings.overwrite_output_dir)
  description = task_description.from_settings(
      settings, ("regression" if regression else
                 "multi_label" if multi_label else "classification"),
      labels=None if regression else label_list,
      multi_label_threshold=settings.multi_label_threshold,
      window_aggregation=(settings.window_aggregation if settings.doc_stride
                          else None),
      doc_stride=settings.doc_stride)
  save_task_description(settings.output_dir, description.replace(
      run_settings=runtime.run_settings(settings)), settings.do_train)
  processor.save_label_list()

  layout = FeatureLayout(regression, multi_label, num_labels,
                         settings.doc_stride, settings.window_aggregation,
                         settings.multi_label_threshold)
  examples = read_task_examples(settings, processor)
  if dev_examples is not None:
    examples["dev"] = dev_examples

  num_train_steps = None
  num_warmup_steps = None
  class_weights = None
  if settings.do_train:
    # Written first: with --doc_stride its windows, not its examples, make
    # the number of steps.
    train_file, num_train_records = write_train_file(
        settings, examples["train"], label_list, tokenizer, layout)
    num_train_steps, num_warmup_steps = runtime.epoch_schedule(
        settings, num_train_records, "--data_dir=%s" % settings.data_dir)
    class_weights = class_weights_from_flag(
        settings.class_weights, examples["train"], label_list, multi_label)

  model_fn = model_fn_builder(
      bert_config=bert_config,
      num_labels=num_labels,
      init_checkpoint=settings.init_checkpoint,
      learning_rate=settings.learning_rate,
      num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps,
      use_tpu=settings.use_tpu,
      use_one_hot_embeddings=settings.use_tpu,
      is_regression=regression,
      metric_names=metric_names,
      multi_label=multi_label,
      class_weights=class_weights,
      window_aggregation=(settings.window_aggregation if settings.doc_stride
                          else None),
      multi_label_threshold=settings.multi_label_threshold,
      label_list=label_list,
      settings=settings)
  estimator = runtime.build_estimator(
      settings, model_fn, settings.output_dir, settings.train_batch_size,
      settings.eval_batch_size, settings.predict_batch_size)

  evaluate = None
  if settings.do_train and settings.eval_every_n_steps > 0:
    evaluate = dev_evaluation(settings, estimator, examples["dev"],
                              label_list, tokenizer, layout)
  if settings.do_train and runtime.training_needed(
      settings.output_dir, num_train_steps, settings.init_checkpoint):
    train(settings, estimator, examples["train"], num_train_steps, label_list,
          tokenizer, regression, layout, train_file, evaluate, best_metric)
  best = training_loop.best_checkpoint(settings.output_dir)

  # With Horovod, rank 0 alone evaluates, predicts and writes the results.
  if runtime.is_chief():
    evaluate_and_predict(settings, estimator, processor, label_list, tokenizer,
                         regression, layout, examples, checkpoint_path=best,
                         evaluate=evaluate)
  if settings.export_dir and runtime.is_chief():
    export(settings, estimator, description, checkpoint_path=best)


def save_task_description(output_dir, description, training):
  """Writes `description` to `output_dir` (task.json and label_list.txt,
  `task_description.write`) when training, or when the directory has none
  yet; a run on a trained model leaves the one of its training."""
  saved = task_description.read(output_dir)
  if training or saved is None or saved.kind is None:
    path = task_description.write(output_dir, description)
    tf.logging.info("Wrote the task description to %s", path)
    return
  changed = [name for name in ("do_lower_case", "never_split",
                               "preserve_unused_tokens")
             if getattr(saved, name) != getattr(description, name)]
  if changed:
    tf.logging.warning(
        "The model in %s was trained with %s; this run tokenises with %s." %
        (output_dir, ", ".join("%s=%s" % (n, getattr(saved, n))
                               for n in changed),
         ", ".join("%s=%s" % (n, getattr(description, n)) for n in changed)))


def write_train_file(settings, train_examples, label_list, tokenizer,
                     layout=None):
  """Writes train.tf_record in --output_dir; returns (its path, how many
  records: the examples, or with --doc_stride their windows)."""
  layout = layout or FeatureLayout()
  train_file = os.path.join(settings.output_dir, "train.tf_record")
  num_records = file_based_convert_examples_to_features(
      train_examples, label_list, settings.max_seq_length, tokenizer,
      train_file, layout.multi_label, layout.doc_stride)
  return train_file, num_records


def train(settings, estimator, train_examples, num_train_steps, label_list,
          tokenizer, regression, layout=None, train_file=None, evaluate=None,
          best_metric=None):
  """--do_train: writes train.tf_record in --output_dir (unless
  `write_train_file` has: `train_file`) and trains on it, evaluating with
  `evaluate` (a `dev_evaluation`) every --eval_every_n_steps."""
  layout = layout or FeatureLayout(regression)
  if train_file is None:
    train_file, _ = write_train_file(settings, train_examples, label_list,
                                     tokenizer, layout)
  tf.logging.info("***** Running training *****")
  tf.logging.info("  Num examples = %d", len(train_examples))
  tf.logging.info("  Batch size = %d", settings.train_batch_size)
  tf.logging.info("  Num steps = %d", num_train_steps)
  train_input_fn = file_based_input_fn_builder(
      input_file=train_file,
      seq_length=settings.max_seq_length,
      is_training=True,
      drop_remainder=True,
      bucket_by_length=settings.bucket_by_length,
      **layout.input_options())
  training_loop.train_and_evaluate(
      settings, estimator, train_input_fn, num_train_steps, evaluate=evaluate,
      metric=best_metric, input_files=[train_file],
      write_results=lambda directory, result: write_eval_results(
          directory, result, label_list))


def dev_evaluation(settings, estimator, eval_examples, label_list, tokenizer,
                   layout):
  """A function from a checkpoint path (None: the last) to the metrics of
  the dev set `eval_examples`, which are written to eval.tf_record once."""
  eval_input_fn, num_batches = _inference_input_fn(
      settings, "evaluation", eval_examples, settings.eval_batch_size,
      "eval.tf_record", label_list, tokenizer, layout)
  # TPUs need a fixed number of full batches; elsewhere read the file once.
  eval_steps = num_batches if settings.use_tpu else None

  def evaluate(checkpoint_path=None):
    return with_per_class_metrics(
        estimator.evaluate(input_fn=eval_input_fn, steps=eval_steps,
                           checkpoint_path=checkpoint_path), label_list)

  return evaluate


def evaluate_and_predict(settings, estimator, processor, label_list, tokenizer,
                         regression, layout=None, examples=None,
                         checkpoint_path=None, evaluate=None):
  """--do_eval: eval_results.txt on the dev set; --do_predict:
  test_results.tsv on the test set, one row per example (a document's
  windows aggregated); both of `checkpoint_path` (default: the last
  checkpoint). `examples` (split -> examples) spares reading the files
  again, `evaluate` (a `dev_evaluation`) writing eval.tf_record again."""
  if checkpoint_path:
    tf.logging.info("Results are those of the best checkpoint, %s.",
                    checkpoint_path)
  layout = layout or FeatureLayout(regression)
  examples = dict(examples or {})
  for split, wanted, method in (
      ("dev", settings.do_eval, processor.get_dev_examples),
      ("test", settings.do_predict, processor.get_test_examples)):
    if wanted and split not in examples:
      examples[split] = method(settings.data_dir)
      require_examples(examples[split], split, processor, settings.data_dir)

  if settings.do_eval:
    if evaluate is None:
      evaluate = dev_evaluation(settings, estimator, examples["dev"],
                                label_list, tokenizer, layout)
    write_eval_results(settings.output_dir, evaluate(checkpoint_path),
                       label_list)

  if settings.do_predict:
    predict_input_fn, _ = _inference_input_fn(
        settings, "prediction", examples["test"], settings.predict_batch_size,
        "predict.tf_record", label_list, tokenizer, layout)
    # Bucketed (--bucket_by_length) predictions come out of order.
    predictions = input_pipeline.in_input_order(
        estimator.predict(input_fn=predict_input_fn,
                          checkpoint_path=checkpoint_path))
    if layout.doc_stride:
      predictions = aggregate_window_predictions(
          predictions, layout.window_aggregation, layout.multi_label,
          layout.regression)
    probabilities = write_test_results(
        predictions, len(examples["test"]),
        os.path.join(settings.output_dir, "test_results.tsv"))
    write_test_predictions(
        examples["test"], probabilities,
        None if layout.regression else label_list,
        os.path.join(settings.output_dir, "test_predictions.tsv"),
        layout.multi_label, layout.multi_label_threshold)

def _predicted_labels(probabilities, label_list, multi_label, threshold=0.5):
  if multi_label:
    return ",".join(str(l) for l in predicted_label_set(
        probabilities, label_list, threshold))
  return str(label_list[int(np.argmax(probabilities))])


def export(settings, estimator, description, checkpoint_path=None):
  """--export_dir: the newest checkpoint of --output_dir (else a fine-tuned
  --init_checkpoint) as a SavedModel with its vocabulary, and `description`
  (a `task_description.TaskDescription`: labels, threshold, tokenizer
  options) in its metadata."""
  serving.export_run(settings, estimator, description, checkpoint_path,
                     task_name=settings.task_name,
                     multi_label=description.is_multi_label)


def _inference_input_fn(settings, what, examples, batch_size, file_name,
                        label_list, tokenizer, layout):
  """Pads `examples` (on TPU), writes them to `file_name` in --output_dir and
  returns (an input_fn that reads them once, in order; the number of batches).

  With windows (`layout.doc_stride`) the padding is of records, after the
  windows.
  """
  windowed = bool(layout.doc_stride)
  padded = (examples if windowed else
            _padded(examples, batch_size, settings.use_tpu))
  path = os.path.join(settings.output_dir, file_name)
  num_records = file_based_convert_examples_to_features(
      padded, label_list, settings.max_seq_length, tokenizer, path,
      layout.multi_label, layout.doc_stride,
      pad_to_multiple=batch_size if settings.use_tpu and windowed else None)
  tf.logging.info("***** Running %s *****", what)
  tf.logging.info("  Num examples = %d (%d actual, %d padding)", len(padded),
                  len(examples), len(padded) - len(examples))
  if windowed:
    tf.logging.info("  Num records = %d (windows, and padding on TPU)",
                    num_records)
  tf.logging.info("  Batch size = %d", batch_size)
  input_fn = file_based_input_fn_builder(
      input_file=path,
      seq_length=settings.max_seq_length,
      is_training=False,
      drop_remainder=settings.use_tpu,
      bucket_by_length=settings.bucket_by_length,
      **layout.input_options())
  return input_fn, num_records // batch_size


def write_test_results(predictions, num_actual_examples, output_path):
  """Writes one tab-separated row of probabilities per real example.

  Returns:
    the rows, as lists of floats.
  """
  rows = []
  for prediction in predictions:
    if len(rows) >= num_actual_examples:
      break  # The rest are padding examples.
    rows.append(np.atleast_1d(prediction["probabilities"]))
  if len(rows) != num_actual_examples:
    raise ValueError("Expected %d predictions, got %d." %
                     (num_actual_examples, len(rows)))
  output_files.write_text_atomically(output_path, "".join(
      "\t".join(str(p) for p in row) + "\n" for row in rows))
  tf.logging.info("Wrote %d predictions to %s", len(rows), output_path)
  return rows


def write_test_predictions(examples, probabilities, label_list, output_path,
                           multi_label=False, multi_label_threshold=0.5):
  """Writes test_predictions.tsv: a header `guid, prediction, prob_<label>...`
  then, per example, its guid, the label name of the highest probability
  (multi-label: every label of probability >= `multi_label_threshold`,
  comma-separated) and the probabilities. A regression task has `guid,
  prediction` (the score)."""
  if label_list is None:
    header = ["guid", "prediction"]
    rows = [[e.guid, "%s" % float(p[0])] for e, p in zip(examples,
                                                         probabilities)]
  else:
    header = ["guid", "prediction"] + ["prob_%s" % l for l in label_list]
    rows = [[e.guid, _predicted_labels(p, label_list, multi_label,
                                       multi_label_threshold)] +
            [str(float(x)) for x in p]
            for e, p in zip(examples, probabilities)]
  output_files.write_text_atomically(output_path, "".join(
      "\t".join(row) + "\n" for row in [header] + rows))
  tf.logging.info("Wrote %d labelled predictions to %s", len(rows),
                  output_path)


if __name__ == "__main__":
  # Processor modules `import run_classifier`: let them get this module rather
  # than a second copy that would define every flag again.
  sys.modules.setdefault("run_classifier", sys.modules[__name__])
  # --data_dir: required unless --task_name=file names its files
  # (validate_flags).
  flags.mark_flag_as_required("task_name")
  flags.mark_flag_as_required("vocab_file")
  flags.mark_flag_as_required("bert_config_file")
  flags.mark_flag_as_required("output_dir")
  command_line.run(main)
