"""Fine-tunes BERT for sentence and sentence-pair classification (GLUE & co).

Run it as the original:

  python run_classifier.py --task_name=MRPC --do_train --do_eval \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
      --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 \
      --num_train_epochs=3.0 --output_dir=/tmp/mrpc_output/

Outputs in `--output_dir`: checkpoints, `train.tf_record`, `eval.tf_record`,
`eval_results.txt`, `predict.tf_record` and `test_results.tsv` (one row of
class probabilities per test example, in input order).

Task data is read by a `DataProcessor`. The original four (XNLI, MNLI, MRPC,
CoLA) and the rest of GLUE (SST-2, QQP, QNLI, RTE, WNLI, STS-B) are built in.
A new task is a `DataProcessor` subclass registered with
`register_processor("name", MyProcessor)` in a module of your own, loaded with
`--processor_module=my_tasks` (or a path to a .py file): no edit here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import csv
import importlib
import importlib.util
import io
import os
import sys
import time

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import numpy as np
import tensorflow.compat.v1 as tf

from command_line import UserError
import modeling
import output_files
import runtime
import script_flags
import tokenization
import training_loop

FLAGS = flags.FLAGS

script_flags.define("model", "sequence", "output", "tokenizer", "training",
                    "evaluation", "epoch", "tpu", "performance", "export")

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

flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.",
    allow_override=True)

flags.DEFINE_bool(
    "do_predict", False,
    "Whether to run the model in inference mode on the test set.",
    allow_override=True)

flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.",
    allow_override=True)

flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.",
    allow_override=True)

flags.DEFINE_string(
    "processor_module", None,
    "Comma-separated Python modules (import paths or .py files) to import "
    "before looking up --task_name; they register their own DataProcessors "
    "with run_classifier.register_processor(name, cls).",
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
               is_real_example=True):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_id = label_id
    self.is_real_example = is_real_example


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


def read_tsv_rows(input_file, quotechar=None):
  """Reads a TSV file into (1-based line number, row) pairs.

  Raises:
    ValueError: the file does not exist or is not UTF-8.
  """
  if not tf.io.gfile.exists(input_file):
    raise UserError("Data file %s does not exist (check --data_dir)." %
                     input_file)
  with tf.io.gfile.GFile(input_file, "rb") as f:
    data = f.read()
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = data[:e.start].count(b"\n") + 1
    raise UserError("%s:%d: not valid UTF-8 (%s)." % (input_file, line, e))
  reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t",
                      quotechar=quotechar)
  rows = []
  for row in reader:
    if not row:  # Blank lines, e.g. a trailing one, are not examples.
      continue
    rows.append((reader.line_num, row))
  return rows


PROCESSORS = collections.OrderedDict()


def register_processor(name, processor_class):
  """Makes `--task_name=name` (case-insensitive) use `processor_class`."""
  PROCESSORS[name.lower()] = processor_class
  return processor_class


def get_processor(task_name):
  """The processor instance for `task_name`; lists the known names if none."""
  key = (task_name or "").lower()
  if key not in PROCESSORS:
    raise UserError(
        "Task not found: --task_name=%s. Known tasks: %s (or register your "
        "own with --processor_module)." % (task_name, ", ".join(PROCESSORS)))
  return PROCESSORS[key]()


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


class ColaProcessor(GlueProcessor):
  """Processor for the CoLA data set (GLUE version)."""

  metrics = ("mcc",)

  def _create(self, path, set_type):
    if set_type == "test":  # index, sentence; with a header
      rows = self._read_rows(path, 2, skip_header=True)
      return _pair_examples(rows, set_type, 1, None, None, "0")
    rows = self._read_rows(path, 4)  # source, label, mark, sentence
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


def _is_regression(label_list):
  return not label_list or label_list == [None]


def convert_single_example(ex_index, example, label_list, max_seq_length,
                           tokenizer):
  """Converts one `InputExample` into an `InputFeatures`.

  The layout is `[CLS] A [SEP]` (segment 0) then `B [SEP]` (segment 1),
  zero-padded to `max_seq_length`; pairs are trimmed one token at a time from
  the longer side. With `label_list` None (regression), the label is a float.

  Raises:
    ValueError: the example's label is not in `label_list`.
  """
  if isinstance(example, PaddingInputExample):
    return InputFeatures(
        input_ids=[0] * max_seq_length,
        input_mask=[0] * max_seq_length,
        segment_ids=[0] * max_seq_length,
        label_id=0.0 if _is_regression(label_list) else 0,
        is_real_example=False)

  if _is_regression(label_list):
    label_id = float(example.label)
  else:
    label_map = {label: i for (i, label) in enumerate(label_list)}
    if example.label not in label_map:
      raise UserError(
          "Example %s has label %r, which is not one of get_labels() = %s." %
          (example.guid, example.label, list(label_list)))
    label_id = label_map[example.label]

  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
  if tokens_b:
    # Room for [CLS], [SEP], [SEP].
    _truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  elif len(tokens_a) > max_seq_length - 2:
    tokens_a = tokens_a[0:(max_seq_length - 2)]

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
      is_real_example=True)


def _features_to_example(feature):
  """The tf.train.Example that `file_based_input_fn_builder` reads."""

  def ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

  if isinstance(feature.label_id, float):
    label = tf.train.Feature(
        float_list=tf.train.FloatList(value=[feature.label_id]))
  else:
    label = ints([feature.label_id])
  return tf.train.Example(features=tf.train.Features(feature={
      "input_ids": ints(feature.input_ids),
      "input_mask": ints(feature.input_mask),
      "segment_ids": ints(feature.segment_ids),
      "label_ids": label,
      "is_real_example": ints([int(feature.is_real_example)]),
  }))


def file_based_convert_examples_to_features(examples, label_list,
                                            max_seq_length, tokenizer,
                                            output_file):
  """Converts `examples` to features and writes them to a TFRecord file.

  The file is written under a temporary name and renamed at the end, so an
  interrupted run leaves no half-written `output_file`.
  """
  start = time.time()
  with output_files.TFRecordWriter(output_file) as writer:
    for (ex_index, example) in enumerate(examples):
      if ex_index % 10000 == 0 and ex_index:
        tf.logging.info("Writing example %d of %d (%.0f examples/sec)",
                        ex_index, len(examples),
                        ex_index / max(time.time() - start, 1e-9))
      feature = convert_single_example(ex_index, example, label_list,
                                       max_seq_length, tokenizer)
      writer.write(_features_to_example(feature).SerializeToString())
  elapsed = max(time.time() - start, 1e-9)
  tf.logging.info("Converted %d examples to %s in %.1fs (%.0f examples/sec)",
                  len(examples), output_file, elapsed, len(examples) / elapsed)


def _name_to_features(seq_length, regression=False):
  return {
      "input_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "label_ids": tf.FixedLenFeature(
          [], tf.float32 if regression else tf.int64),
      "is_real_example": tf.FixedLenFeature([], tf.int64),
  }


def file_based_input_fn_builder(input_file, seq_length, is_training,
                                drop_remainder, is_regression=False):
  """Creates an `input_fn` closure to be passed to TPUEstimator."""
  return runtime.tfrecord_input_fn_builder(
      input_file, _name_to_features(seq_length, is_regression), is_training,
      drop_remainder)


def _truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Truncates a sequence pair in place to the maximum length.

  One token at a time comes off the end of the longer sequence: a short
  sequence usually carries more information per token than the tail of a
  long one.
  """
  while len(tokens_a) + len(tokens_b) > max_length:
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()


def create_model(bert_config, is_training, input_ids, input_mask, segment_ids,
                 labels, num_labels, use_one_hot_embeddings,
                 is_regression=False, compute_type=tf.float32):
  """Creates a classification model: BERT's pooled output, then one layer.

  The head's variables are `output_weights` [num_labels, hidden] and
  `output_bias`, as in the original. For regression `num_labels` is 1, the
  loss is the squared error and the "probabilities" are the scores. In
  training the pooled output gets dropout at the config's
  `hidden_dropout_prob`: 0.1 in every official config, the rate the original
  fixed, and 0 where a config turns dropout off.

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
      bert_config.hidden_dropout_prob, is_regression)


def create_classification_head(output_layer, labels, num_labels, is_training,
                               dropout_prob, is_regression=False):
  """One layer over a pooled representation: `output_weights`, `output_bias`.

  Shared by `create_model` and run_classifier_with_tfhub.py, whose pooled
  output comes from a hub module.

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

    probabilities = tf.nn.softmax(logits, axis=-1)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
    per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
    loss = tf.reduce_mean(per_example_loss)
    return (loss, per_example_loss, logits, probabilities)


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


def _task_metric_ops(metric_names, labels, predictions, weights, regression):
  """Streaming (value, update_op) pairs for the GLUE metrics of a task."""
  if not metric_names:
    return {}
  dtype = tf.float32 if regression else tf.int64
  labels_all, up_labels = _collected(tf.cast(labels, dtype), "metric_labels")
  preds_all, up_preds = _collected(tf.cast(predictions, dtype), "metric_preds")
  weights_all, up_weights = _collected(tf.cast(weights, tf.float32),
                                       "metric_weights")
  update = tf.group(up_labels, up_preds, up_weights)

  def compute(l, p, w):
    real = w > 0
    result = compute_metrics(metric_names, l[real], p[real], regression)
    return np.array([result[n] for n in metric_names], np.float32)

  values = tf.numpy_function(compute, [labels_all, preds_all, weights_all],
                             tf.float32)
  return {"eval_" + name: (values[i], update)
          for i, name in enumerate(metric_names)}


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


def model_fn_builder(bert_config, num_labels, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings, is_regression=False,
                     metric_names=()):
  """Returns a `model_fn` closure for TPUEstimator.

  Training uses the optimiser, precision and accumulation of the runtime
  flags (`runtime.create_train_op`). Evaluation reports `eval_accuracy` (classification) and `eval_loss` as the
  original, plus `eval_<name>` for each of `metric_names` ("f1", "mcc",
  "pearson", "spearman").
  """

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """The `model_fn` for TPUEstimator."""
    runtime.log_features(features)

    input_ids = features["input_ids"]
    input_mask = features["input_mask"]
    segment_ids = features["segment_ids"]
    if "label_ids" in features:
      label_ids = features["label_ids"]
    else:  # A SavedModel's serving inputs (runtime.export_saved_model).
      label_ids = tf.zeros(tf.shape(input_ids)[:1],
                           tf.float32 if is_regression else tf.int32)
    if "is_real_example" in features:
      is_real_example = tf.cast(features["is_real_example"], dtype=tf.float32)
    else:
      is_real_example = tf.ones(tf.shape(label_ids), dtype=tf.float32)

    is_training = (mode == tf.estimator.ModeKeys.TRAIN)
    (total_loss, per_example_loss, logits, probabilities) = create_model(
        bert_config, is_training, input_ids, input_mask, segment_ids,
        label_ids, num_labels, use_one_hot_embeddings, is_regression,
        runtime.compute_type())

    scaffold_fn = runtime.init_from_checkpoint(init_checkpoint, use_tpu)

    if mode == tf.estimator.ModeKeys.TRAIN:
      runtime.register_train_loss(total_loss)
      train_op = runtime.create_train_op(total_loss, learning_rate,
                                         num_train_steps, num_warmup_steps)
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, train_op=train_op,
          scaffold_fn=scaffold_fn)

    if mode == tf.estimator.ModeKeys.EVAL:

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
              label_ids, predictions, num_labels, is_real_example))
        metrics["eval_loss"] = tf.metrics.mean(
            values=per_example_loss, weights=is_real_example)
        metrics.update(_task_metric_ops(metric_names, label_ids, predictions,
                                        is_real_example, is_regression))
        return metrics

      eval_metrics = (metric_fn,
                      [per_example_loss, label_ids, logits, is_real_example])
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, eval_metrics=eval_metrics,
          scaffold_fn=scaffold_fn)

    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, predictions={"probabilities": probabilities},
        scaffold_fn=scaffold_fn)

  return model_fn


def input_fn_builder(features, seq_length, is_training, drop_remainder):
  """An in-memory `input_fn` over a list of `InputFeatures`.

  Holds every feature as a graph constant: fine for small sets and for TF
  Hub demos, not for large data (use the TFRecord path).
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
    if is_training:
      d = d.repeat()
      d = d.shuffle(buffer_size=100)
    return d.batch(batch_size=batch_size, drop_remainder=drop_remainder)

  return input_fn


def convert_examples_to_features(examples, label_list, max_seq_length,
                                 tokenizer):
  """Converts a list of `InputExample`s into a list of `InputFeatures`."""
  features = []
  for (ex_index, example) in enumerate(examples):
    if ex_index % 10000 == 0 and ex_index:
      tf.logging.info("Writing example %d of %d", ex_index, len(examples))
    features.append(convert_single_example(ex_index, example, label_list,
                                           max_seq_length, tokenizer))
  return features


def _padded(examples, batch_size):
  """On TPU, pads `examples` to a whole number of batches."""
  examples = list(examples)
  if FLAGS.use_tpu:
    while len(examples) % batch_size != 0:
      examples.append(PaddingInputExample())
  return examples


def require_examples(examples, split, processor):
  """Raises UserError if `processor` read no `split` examples."""
  if not examples:
    raise UserError("%s produced no %s examples from --data_dir=%s." %
                     (type(processor).__name__, split, FLAGS.data_dir))


def validate_flags(bert_config):
  """Checks the flags before any work starts; raises UserError if wrong."""
  if (not FLAGS.do_train and not FLAGS.do_eval and not FLAGS.do_predict and
      not FLAGS.export_dir):
    raise UserError(
        "At least one of `do_train`, `do_eval`, `do_predict' or `export_dir` "
        "must be set.")
  runtime.check_flags(bert_config, FLAGS.max_seq_length,
                      FLAGS.train_batch_size, FLAGS.do_train,
                      FLAGS.export_dir, FLAGS.output_dir,
                      init_checkpoint=FLAGS.init_checkpoint)
  if ((FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict) and
      not tf.io.gfile.isdir(FLAGS.data_dir or "")):
    raise UserError("--data_dir=%s is not a directory." % FLAGS.data_dir)


def evaluation_metrics(label_list, regression, metric_names):
  """(metric names the evaluation reports, the default best-checkpoint one)."""
  names = ["eval_loss"] + ["eval_" + n for n in metric_names]
  if not regression:
    names.append("eval_accuracy")
    for label in label_list:
      names += ["eval_%s_%s" % (m, label) for m in ("precision", "recall", "f1")]
  if regression:
    default = "eval_pearson" if "pearson" in metric_names else "eval_loss"
  else:
    default = "eval_accuracy"
  return names, default


def check_evaluation_flags(processor, label_list, regression, metric_names):
  """The evaluation flags' checks; returns (dev examples or None, metric).

  With --eval_every_n_steps the dev set is read now, so that a missing one
  is reported before any work."""
  dev_examples, no_dev = None, None
  if FLAGS.do_train and FLAGS.eval_every_n_steps > 0:
    try:
      dev_examples = processor.get_dev_examples(FLAGS.data_dir)
    except (OSError, tf.errors.OpError, UserError) as e:
      no_dev = command_line.error_text(e)
    if not dev_examples and not no_dev:
      no_dev = "%s read no dev examples from --data_dir=%s." % (
          type(processor).__name__, FLAGS.data_dir)
  names, default = evaluation_metrics(label_list, regression, metric_names)
  metric = training_loop.check_flags(names, default, no_dev)
  return dev_examples, metric


def main(_):
  load_processor_modules(FLAGS.processor_module)
  processor = get_processor(FLAGS.task_name)

  bert_config = runtime.load_bert_config(FLAGS.bert_config_file)
  validate_flags(bert_config)
  label_list = processor.get_labels()
  regression = processor.is_regression or _is_regression(label_list)
  num_labels = 1 if regression else len(label_list)
  metric_names = tuple(processor.metrics)
  dev_examples, best_metric = check_evaluation_flags(
      processor, label_list, regression, metric_names)
  tokenizer = runtime.load_tokenizer(FLAGS.vocab_file, FLAGS.do_lower_case,
                                     FLAGS.init_checkpoint)
  output_files.prepare_output_dir(FLAGS.output_dir,
                                  overwrite=FLAGS.overwrite_output_dir)

  train_examples = None
  num_train_steps = None
  num_warmup_steps = None
  if FLAGS.do_train:
    train_examples = processor.get_train_examples(FLAGS.data_dir)
    require_examples(train_examples, "train", processor)
    num_train_steps, num_warmup_steps = runtime.epoch_schedule(
        len(train_examples), "--data_dir=%s" % FLAGS.data_dir)

  model_fn = model_fn_builder(
      bert_config=bert_config,
      num_labels=num_labels,
      init_checkpoint=FLAGS.init_checkpoint,
      learning_rate=FLAGS.learning_rate,
      num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps,
      use_tpu=FLAGS.use_tpu,
      use_one_hot_embeddings=FLAGS.use_tpu,
      is_regression=regression,
      metric_names=metric_names)
  estimator = runtime.build_estimator(
      model_fn, FLAGS.output_dir, FLAGS.train_batch_size,
      FLAGS.eval_batch_size, FLAGS.predict_batch_size)

  evaluate = None
  if FLAGS.do_train and FLAGS.eval_every_n_steps > 0:
    evaluate = dev_evaluation(estimator, dev_examples, label_list, tokenizer,
                              regression)
  if FLAGS.do_train and runtime.training_needed(
      FLAGS.output_dir, num_train_steps, FLAGS.init_checkpoint):
    train(estimator, train_examples, num_train_steps, label_list, tokenizer,
          regression, evaluate, best_metric)
  best = training_loop.best_checkpoint(FLAGS.output_dir)

  # With Horovod, rank 0 alone evaluates, predicts and writes the results.
  if runtime.is_chief():
    evaluate_and_predict(estimator, processor, label_list, tokenizer,
                         regression, checkpoint_path=best, evaluate=evaluate)
  if FLAGS.export_dir and runtime.is_chief():
    runtime.export_saved_model(estimator, FLAGS.export_dir,
                               FLAGS.max_seq_length, checkpoint_path=best)


def train(estimator, train_examples, num_train_steps, label_list, tokenizer,
          regression, evaluate=None, best_metric=None):
  """--do_train: writes train.tf_record in --output_dir and trains on it,
  evaluating with `evaluate` every --eval_every_n_steps."""
  train_file = os.path.join(FLAGS.output_dir, "train.tf_record")
  file_based_convert_examples_to_features(
      train_examples, label_list, FLAGS.max_seq_length, tokenizer, train_file)
  tf.logging.info("***** Running training *****")
  tf.logging.info("  Num examples = %d", len(train_examples))
  tf.logging.info("  Batch size = %d", FLAGS.train_batch_size)
  tf.logging.info("  Num steps = %d", num_train_steps)
  train_input_fn = file_based_input_fn_builder(
      input_file=train_file,
      seq_length=FLAGS.max_seq_length,
      is_training=True,
      drop_remainder=True,
      is_regression=regression)
  training_loop.train_and_evaluate(
      estimator, train_input_fn, num_train_steps, evaluate=evaluate,
      metric=best_metric, input_files=[train_file],
      write_results=lambda directory, result: write_eval_results(
          directory, result, label_list))


def dev_evaluation(estimator, eval_examples, label_list, tokenizer,
                   regression):
  """A function from a checkpoint path (None: the last) to the metrics of
  the dev set `eval_examples`, which are written to eval.tf_record once."""
  eval_input_fn, num_batches = _inference_input_fn(
      "evaluation", eval_examples, FLAGS.eval_batch_size, "eval.tf_record",
      label_list, tokenizer, regression)
  # TPUs need a fixed number of full batches; elsewhere read the file once.
  eval_steps = num_batches if FLAGS.use_tpu else None

  def evaluate(checkpoint_path=None):
    return with_per_class_metrics(
        estimator.evaluate(input_fn=eval_input_fn, steps=eval_steps,
                           checkpoint_path=checkpoint_path), label_list)

  return evaluate


def evaluate_and_predict(estimator, processor, label_list, tokenizer,
                         regression, checkpoint_path=None, evaluate=None):
  """--do_eval: eval_results.txt on the dev set; --do_predict:
  test_results.tsv on the test set; both of `checkpoint_path` (default the
  last checkpoint). `evaluate` is a `dev_evaluation` made already."""
  if checkpoint_path:
    tf.logging.info("Results are those of the best checkpoint, %s.",
                    checkpoint_path)
  if FLAGS.do_eval:
    if evaluate is None:
      eval_examples = processor.get_dev_examples(FLAGS.data_dir)
      require_examples(eval_examples, "dev", processor)
      evaluate = dev_evaluation(estimator, eval_examples, label_list,
                                tokenizer, regression)
    write_eval_results(FLAGS.output_dir, evaluate(checkpoint_path), label_list)

  if FLAGS.do_predict:
    predict_examples = processor.get_test_examples(FLAGS.data_dir)
    require_examples(predict_examples, "test", processor)
    predict_input_fn, _ = _inference_input_fn(
        "prediction", predict_examples, FLAGS.predict_batch_size,
        "predict.tf_record", label_list, tokenizer, regression)
    write_test_results(
        estimator.predict(input_fn=predict_input_fn,
                          checkpoint_path=checkpoint_path),
        len(predict_examples),
        os.path.join(FLAGS.output_dir, "test_results.tsv"))


def _inference_input_fn(what, examples, batch_size, file_name, label_list,
                        tokenizer, regression):
  """Pads `examples` (on TPU), writes them to `file_name` in --output_dir and
  returns (an input_fn that reads them once, in order; the number of batches).
  """
  padded = _padded(examples, batch_size)
  path = os.path.join(FLAGS.output_dir, file_name)
  file_based_convert_examples_to_features(
      padded, label_list, FLAGS.max_seq_length, tokenizer, path)
  tf.logging.info("***** Running %s *****", what)
  tf.logging.info("  Num examples = %d (%d actual, %d padding)", len(padded),
                  len(examples), len(padded) - len(examples))
  tf.logging.info("  Batch size = %d", batch_size)
  input_fn = file_based_input_fn_builder(
      input_file=path,
      seq_length=FLAGS.max_seq_length,
      is_training=False,
      drop_remainder=FLAGS.use_tpu,
      is_regression=regression)
  return input_fn, len(padded) // batch_size


def write_test_results(predictions, num_actual_examples, output_path):
  """Writes one tab-separated row of probabilities per real example."""
  lines = []
  for prediction in predictions:
    if len(lines) >= num_actual_examples:
      break  # The rest are padding examples.
    lines.append("\t".join(
        str(p) for p in np.atleast_1d(prediction["probabilities"])) + "\n")
  if len(lines) != num_actual_examples:
    raise ValueError("Expected %d predictions, got %d." %
                     (num_actual_examples, len(lines)))
  output_files.write_text_atomically(output_path, "".join(lines))
  tf.logging.info("Wrote %d predictions to %s", len(lines), output_path)


if __name__ == "__main__":
  # Processor modules `import run_classifier`: let them get this module rather
  # than a second copy that would define every flag again.
  sys.modules.setdefault("run_classifier", sys.modules[__name__])
  flags.mark_flag_as_required("data_dir")
  flags.mark_flag_as_required("task_name")
  flags.mark_flag_as_required("vocab_file")
  flags.mark_flag_as_required("bert_config_file")
  flags.mark_flag_as_required("output_dir")
  command_line.run(main)
