"""Task data of sentence (pair) classification: examples and processors.

What run_classifier.py (and run_classifier_with_tfhub.py) read a task with:
`InputExample`, the `DataProcessor` base class a new task subclasses, the
registry `--task_name` looks processors up in (`register_processor`,
`get_processor`, `load_processor_modules` for `--processor_module`), the
processors of XNLI and GLUE, and the file task (`FileProcessor`: TSV, CSV
or JSON lines laid out by `FileTaskOptions`, its labels kept in
`label_list.txt`).

Below the scripts, so that the scripts share one copy of each class and one
registry; run_classifier re-exports every name, and users keep importing
them from there (`class P(run_classifier.DataProcessor)` subclasses this
module's class). No flags are read here: `FileTaskOptions.from_settings` and
`get_processor(name, settings)` take the run's `script_flags.Settings`.
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

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import command_line
from command_line import UserError
import task_description
import tokenization

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
    if self.names is not None and len(row) > len(self.names):
      # Text with an unquoted delimiter: its columns would be shifted.
      raise UserError(
          "%s:%d: %d fields, but the header has %d; quote a text that holds "
          "the delimiter (the file has %s)." %
          (self.path, line, len(row), len(self.names), self._columns_text()))
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
