"""Data converted once: fine-tuning TFRecords and their `meta_data` JSON.

Model Garden's `create_finetuning_data.py` writes a task's examples as
TFRecords once and describes them in a JSON file (`meta_data`: `task_type`,
`processor_type`, `num_labels`, `train_data_size`, `eval_data_size`,
`max_seq_length`; for SQuAD `max_query_length`, `doc_stride`,
`version_2_with_negative`). This project's create_finetuning_data.py writes
the same, plus what a later run needs to use the records safely: the label
list, the vocabulary's sha256 and `do_lower_case`. run_classifier.py,
run_squad.py and run_ner.py read either kind with `--input_meta_data_path`:
this module is the one place that writes, reads and checks that file, so
that a mismatch between the records and a run's flags or model is one line
of error before any work.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import hashlib
import json

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import output_files

# `task_type` of each --fine_tuning_task_type, Model Garden's values.
TASK_TYPES = {
    "classification": "bert_classification",
    "regression": "bert_regression",
    "squad": "bert_squad",
    "tagging": "tagging",
}

# The task types each script trains on.
SCRIPT_TASK_TYPES = {
    "run_classifier.py": ("bert_classification", "bert_regression"),
    "run_squad.py": ("bert_squad",),
    "run_ner.py": ("tagging",),
}

# This project's keys beside Model Garden's (absent from its files).
LABEL_LIST_KEY = "label_list"
VOCAB_KEY = "vocab_sha256"
LOWER_CASE_KEY = "do_lower_case"


def vocab_sha256(vocab_file):
  """The sha256 of the vocabulary file's bytes, as hex."""
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(vocab_file, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def write_meta_data(path, meta_data):
  """Writes `meta_data` (a dict) as indented JSON, atomically."""
  output_files.write_text_atomically(
      path, json.dumps(meta_data, indent=4, sort_keys=True) + "\n")
  tf.logging.info("Wrote the meta data of the records to %s", path)


def read_meta_data(path):
  """The `meta_data` dict of `--input_meta_data_path=path`.

  Raises:
    UserError: the file is missing, not JSON, or has no `task_type` or
      `max_seq_length`.
  """
  where = "--input_meta_data_path=%s" % path
  if not tf.io.gfile.exists(path):
    raise UserError("%s: no such file (written by create_finetuning_data.py "
                    "--meta_data_file_path)." % where)
  with tf.io.gfile.GFile(path, "r") as f:
    text = f.read()
  try:
    meta_data = json.loads(text)
  except ValueError as e:
    raise UserError("%s: not JSON (%s)." % (where, e))
  if not isinstance(meta_data, dict):
    raise UserError("%s: expected a JSON object of meta data." % where)
  for key in ("task_type", "max_seq_length"):
    if key not in meta_data:
      raise UserError("%s has no %r: expected the meta data that "
                      "create_finetuning_data.py writes." % (where, key))
  return meta_data


def data_files(spec, flag):
  """The files of a data flag: comma-separated paths or glob patterns.

  Raises:
    UserError: a pattern matches no file.
  """
  files = []
  for pattern in [p.strip() for p in (spec or "").split(",") if p.strip()]:
    matched = sorted(tf.io.gfile.glob(pattern))
    if not matched:
      raise UserError("--%s=%s: no such file." % (flag, pattern))
    files.extend(matched)
  if not files:
    raise UserError("--%s is empty: expected TFRecord files." % flag)
  return files


def shard_paths(path, num_shards):
  """`path` itself, or with `num_shards` > 1 `path-00000-of-0000N`, ...
  (a glob `path-*` reads them all)."""
  if num_shards <= 1:
    return [path]
  return ["%s-%05d-of-%05d" % (path, i, num_shards)
          for i in range(num_shards)]


def count_records(files):
  """How many records `files` hold (one pass over them)."""
  return sum(1 for f in files for _ in tf.io.tf_record_iterator(f))


def label_ids_of(files):
  """The `label_ids` of every classification record in `files`, in order
  (e.g. to weigh the classes of a training set)."""
  ids = []
  for f in files:
    for record in tf.io.tf_record_iterator(f):
      example = tf.train.Example.FromString(record)
      ids.append(int(example.features.feature["label_ids"].int64_list.value[0]))
  return ids


def labels_of(meta_data):
  """The label names of classification records: this project's
  `label_list`, or for Model Garden's files (which keep only `num_labels`)
  the label ids "0", "1", ...; None for regression."""
  if meta_data["task_type"] == "bert_regression":
    return None
  if meta_data.get(LABEL_LIST_KEY):
    return [str(label) for label in meta_data[LABEL_LIST_KEY]]
  if "num_labels" in meta_data:
    return [str(i) for i in range(int(meta_data["num_labels"]))]
  return None


def check_meta_data(meta_data, path, script, max_seq_length=None,
                    label_list=None, vocab_file=None, do_lower_case=None,
                    bert_config=None, label_source="the task"):
  """Checks records' meta data against a run's flags and model.

  Each argument given is compared with what the records were made with:
  the script's task type, `max_seq_length` (equal, and within the model's
  `max_position_embeddings`), the labels of a `--task_name` (number, and
  names where the file has them), the vocabulary's checksum and casing
  (where the file has them: Model Garden's files do not). `label_source`
  names where `label_list` came from, for the message.

  Raises:
    UserError: the first mismatch, naming the file and the flag.
  """
  where = "--input_meta_data_path=%s" % path
  task_type = meta_data["task_type"]
  wanted = SCRIPT_TASK_TYPES[script]
  if task_type not in wanted:
    raise UserError(
        "%s holds task_type %r records; %s trains on %s (see "
        "create_finetuning_data.py --fine_tuning_task_type)." %
        (where, task_type, script, " or ".join(repr(t) for t in wanted)))
  records_length = int(meta_data["max_seq_length"])
  if max_seq_length is not None and max_seq_length != records_length:
    raise UserError(
        "%s: the records are of max_seq_length %d, but --max_seq_length=%d: "
        "give --max_seq_length=%d or convert the data again." %
        (where, records_length, max_seq_length, records_length))
  if (bert_config is not None and
      records_length > bert_config.max_position_embeddings):
    raise UserError(
        "%s: the records are of max_seq_length %d, longer than the model's "
        "max_position_embeddings %d." %
        (where, records_length, bert_config.max_position_embeddings))
  records_labels = labels_of(meta_data)
  if label_list is not None and records_labels is not None:
    if len(label_list) != len(records_labels) or (
        meta_data.get(LABEL_LIST_KEY) and
        list(label_list) != records_labels):
      raise UserError(
          "%s: the records have %d labels (%s), %s %d (%s)." %
          (where, len(records_labels), ",".join(records_labels),
           label_source, len(label_list),
           ",".join(str(l) for l in label_list)))
  if vocab_file and meta_data.get(VOCAB_KEY):
    if vocab_sha256(vocab_file) != meta_data[VOCAB_KEY]:
      raise UserError(
          "%s: the records were made with another vocabulary than "
          "--vocab_file=%s (sha256 differs): their ids would mean other "
          "word pieces." % (where, vocab_file))
  if (do_lower_case is not None and LOWER_CASE_KEY in meta_data and
      bool(meta_data[LOWER_CASE_KEY]) != bool(do_lower_case)):
    raise UserError(
        "%s: the records were made with do_lower_case=%s, but "
        "--do_lower_case=%s." % (where, meta_data[LOWER_CASE_KEY],
                                 do_lower_case))


class RecordSplit(object):
  """One split of converted data: its TFRecord files and how many examples
  they hold (`len()`), where example-based code takes a list of examples."""

  def __init__(self, files, num_records):
    self.files = list(files)
    self.num_records = int(num_records)

  def __len__(self):
    return self.num_records

  def __repr__(self):
    return "RecordSplit(%s, %d records)" % (",".join(self.files),
                                             self.num_records)


def record_split(spec, flag, meta_data=None, size_key=None):
  """The `RecordSplit` of a data flag; its size from `meta_data[size_key]`
  when the file has it, else counted."""
  files = data_files(spec, flag)
  size = (meta_data or {}).get(size_key) if size_key else None
  # Model Garden's tagging meta data give test_data_size per language (a
  # dict): those records are counted.
  if isinstance(size, int) and not isinstance(size, bool):
    return RecordSplit(files, size)
  return RecordSplit(files, count_records(files))


class ConvertedData(object):
  """The records a run reads instead of raw files (--input_meta_data_path):
  their `meta_data`, and a `RecordSplit` for each split the run uses
  (`train`, `eval`, `predict`; None where it uses none)."""

  def __init__(self, path, meta_data, train=None, eval=None, predict=None):  # pylint: disable=redefined-builtin
    self.path = path
    self.meta_data = meta_data
    self.train = train
    self.eval = eval
    self.predict = predict

  @property
  def labels(self):
    """The records' label names (`labels_of`)."""
    return labels_of(self.meta_data)

  @property
  def max_seq_length(self):
    return int(self.meta_data["max_seq_length"])

  def describe(self):
    """One line for the log: the file and the splits' sizes."""
    return "%s (%s)" % (self.path, ", ".join(
        "%s: %d records in %d file(s)" % (name, len(split), len(split.files))
        for name, split in (("train", self.train), ("eval", self.eval),
                            ("predict", self.predict)) if split is not None))


# The data flags, which mean nothing without --input_meta_data_path.
DATA_PATH_FLAGS = ("train_data_path", "eval_data_path", "predict_data_path")


def read_converted_data(settings, script, train=False, evaluate=False,
                        predict=False, label_list=None, bert_config=None,
                        defaults=None, label_source="the task"):
  """The run's converted data, checked before any work, or None.

  Args:
    settings: the run's settings; its --input_meta_data_path names the
      meta data; `max_seq_length` None (not given: `script_flags`) takes the
      records' own.
    script: "run_classifier.py", "run_squad.py" or "run_ner.py".
    train, evaluate, predict: the splits the run reads (--train_data_path;
      --eval_data_path; --predict_data_path, else --eval_data_path).
    label_list: the labels of a --task_name given beside the records.
    bert_config: the model's `BertConfig`.
    defaults: {flag: the script's default} of the other `RECORD_SETTINGS`
      the script has, for those neither given nor in the meta data.
    label_source: where `label_list` came from ("--labels"), for messages.

  Returns:
    (settings with the records' `max_seq_length` and `RECORD_SETTINGS`, a
    `ConvertedData`), or (settings, None) without --input_meta_data_path.

  Raises:
    UserError: a data flag without --input_meta_data_path, a split the run
      needs without its flag, or meta data that disagree with the flags or
      the model (`check_meta_data`).
  """
  path = settings.get("input_meta_data_path")
  if not path:
    for flag in DATA_PATH_FLAGS:
      if settings.get(flag):
        raise UserError(
            "--%s=%s needs --input_meta_data_path, the meta data written "
            "beside the records (create_finetuning_data.py "
            "--meta_data_file_path)." % (flag, settings.get(flag)))
    return settings, None
  meta_data = read_meta_data(path)
  check_meta_data(meta_data, path, script,
                  max_seq_length=settings.max_seq_length,
                  label_list=label_list, vocab_file=settings.get("vocab_file"),
                  do_lower_case=settings.get("do_lower_case"),
                  bert_config=bert_config, label_source=label_source)
  settings = settings.replace(max_seq_length=int(meta_data["max_seq_length"]))
  settings = with_record_settings(settings, meta_data, path, defaults)
  splits = {}
  for name, wanted, flags, size_key in (
      ("train", train, ("train_data_path",), "train_data_size"),
      ("eval", evaluate, ("eval_data_path",), "eval_data_size"),
      ("predict", predict, ("predict_data_path", "eval_data_path"),
       "test_data_size")):
    if not wanted:
      continue
    flag = next((f for f in flags if settings.get(f)), None)
    if flag is None:
      raise UserError(
          "--input_meta_data_path=%s: this run %s, so it needs --%s (the "
          "records create_finetuning_data.py wrote)." % (
              path, {"train": "trains", "eval": "evaluates",
                     "predict": "predicts"}[name], " or --".join(flags)))
    # The test records' size is in the meta data only when they are the
    # test file (Model Garden predicts on --eval_data_path).
    key = size_key if flag != "eval_data_path" else "eval_data_size"
    splits[name] = record_split(settings.get(flag), flag, meta_data, key)
  data = ConvertedData(path, meta_data, **splits)
  tf.logging.info("Converted data: %s", data.describe())
  return settings, data


# Settings of the windows (SQuAD, tagging) that the meta data may hold beside
# `max_seq_length`: not given (None: `script_flags.RECORD_FLAGS`), a run takes
# the records'; given, they must be the records'.
RECORD_SETTINGS = ("doc_stride", "max_query_length", "version_2_with_negative")


def with_record_settings(settings, meta_data, path, defaults=None):
  """`settings` with each of `RECORD_SETTINGS` it has that is None taken
  from `meta_data` (else from `defaults`).

  Raises:
    UserError: a setting given that differs from the meta data's.
  """
  changes = {}
  for name in RECORD_SETTINGS:
    if name not in settings:
      continue
    given, records = settings.get(name), meta_data.get(name)
    if records is None:
      if given is None and name in (defaults or {}):
        changes[name] = defaults[name]
    elif given is None:
      changes[name] = records
    elif (bool(given) != bool(records) if isinstance(records, bool)
          else given != records):
      raise UserError(
          "--input_meta_data_path=%s: the records were made with %s=%s, but "
          "--%s=%s: leave the flag out (the records' value is taken) or "
          "convert the data again." % (path, name, _flag_value(records),
                                        name, _flag_value(given)))
  return settings.replace(**changes) if changes else settings


def _flag_value(value):
  return str(value).lower() if isinstance(value, bool) else str(value)
