"""What a fine-tuned model was trained to do, in one value that travels with it.

A checkpoint holds weights; what they mean lives elsewhere: the kind of task
(a softmax over labels, a sigmoid per label, a score, a tag per token, SQuAD
spans), the label names in output order, the threshold that turns multi-label
probabilities into label sets, how long documents' windows are aggregated,
and how text was tokenised (casing, `never_split`, `preserve_unused_tokens`,
the sequence length). Whatever reads the model later (evaluation, prediction,
export, the predictor, checkpoint conversion) must do as training did, so
training records it once as a `TaskDescription`:

  description = task_description.TaskDescription(
      kind="multi_label", labels=("food", "sport"), multi_label_threshold=0.8,
      do_lower_case=True, max_seq_length=128, task_name="file")
  task_description.write(output_dir, description)   # task.json, label_list.txt
  task_description.read(output_dir)                 # the same value back

`<output_dir>/task.json` is the description as JSON (`to_json_dict`), written
atomically beside the checkpoints. `label_list.txt` (the labels, one a line)
is written with it for older readers; this module is the project's one
writer of that file. `read` of a directory of an older version, which has
`label_list.txt` alone, gives a description with those labels and `kind`
None (unknown): callers decide as they did before task.json.

An export's `bert_export.json` carries the same fields (`export_fields`,
`from_export_metadata`), beside its older keys.

Runtime layer, and free of TensorFlow at import: local files are read with
plain Python; `gs://` paths and the atomic writes (`output_files`) import
TensorFlow when used.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import dataclasses
import json
import os

from command_line import UserError

TASK_FILE = "task.json"
LABEL_LIST_FILE = "label_list.txt"
FORMAT = "bert-task"
FORMAT_VERSION = 1

# "pretraining": run_pretraining.py's, which records its run settings only.
KINDS = ("classification", "regression", "multi_label",
         "token_classification", "squad", "pretraining")
# How a long document's window logits become one (run_classifier's
# --window_aggregation).
WINDOW_AGGREGATIONS = ("mean", "max")
# What a classifier head reads of the encoder (run_classifier --pooling).
POOLINGS = ("cls", "mean")
# The export's task names (export_format.TASKS) of each kind: a multi-label
# model is exported as "classification" with "multi_label": true.
_EXPORT_TASKS = {"classification": "classification",
                 "multi_label": "classification",
                 "regression": "regression",
                 "token_classification": "token_classification",
                 "squad": "squad"}


@dataclasses.dataclass(frozen=True)
class TaskDescription(object):
  """What a model was trained for; see the module docstring.

  Attributes:
    kind: one of KINDS, or None when unknown (read from a label_list.txt of
      an older version).
    labels: the label names in the order of the model's outputs (a tuple of
      strings), or None (regression, SQuAD).
    multi_label_threshold: multi-label: a label is predicted when its
      probability is at least this.
    window_aggregation: with windows over long documents (`doc_stride`),
      "mean" or "max"; None without.
    doc_stride: tokens between windows, or None.
    do_lower_case: the tokenizer's casing.
    max_seq_length: the sequence length the model was trained with.
    never_split: tokens the tokenizer keeps whole (a tuple).
    preserve_unused_tokens: whether `[unusedN]` vocab words are kept whole.
    task_name: the script's --task_name, if any.
    pooling: what the classifier's head reads of the encoder: "cls" (the
      pooled [CLS], the original's) or "mean" (the tokens' mean).
    run_settings: a dict of the run's settings, stored as given (JSON
      values), or None.
  """
  kind: object = None
  labels: object = None
  multi_label_threshold: float = 0.5
  window_aggregation: object = None
  doc_stride: object = None
  do_lower_case: bool = True
  max_seq_length: object = None
  never_split: tuple = ()
  preserve_unused_tokens: bool = False
  task_name: object = None
  pooling: str = "cls"
  run_settings: object = dataclasses.field(default=None, hash=False)

  def __post_init__(self):
    if self.kind is not None and self.kind not in KINDS:
      raise ValueError("Unknown task kind %r; expected one of %s." %
                       (self.kind, ", ".join(KINDS)))
    fields = {}
    if self.labels is not None:
      if isinstance(self.labels, str):
        raise ValueError("labels must be a list of names, not the string %r."
                         % self.labels)
      fields["labels"] = tuple(str(l) for l in self.labels)
    threshold = float(self.multi_label_threshold)
    if not 0.0 < threshold < 1.0:
      raise ValueError("multi_label_threshold=%s must be between 0 and 1." %
                       self.multi_label_threshold)
    fields["multi_label_threshold"] = threshold
    if (self.window_aggregation is not None and
        self.window_aggregation not in WINDOW_AGGREGATIONS):
      raise ValueError("window_aggregation=%r: expected None or one of %s." %
                       (self.window_aggregation,
                        ", ".join(WINDOW_AGGREGATIONS)))
    if self.pooling not in POOLINGS:
      raise ValueError("pooling=%r: expected one of %s." %
                       (self.pooling, ", ".join(POOLINGS)))
    if self.window_aggregation is not None and self.doc_stride is None:
      raise ValueError("window_aggregation=%r needs the doc_stride of the "
                       "windows." % self.window_aggregation)
    if self.doc_stride is not None:
      fields["doc_stride"] = int(self.doc_stride)
    if self.max_seq_length is not None:
      fields["max_seq_length"] = int(self.max_seq_length)
    if isinstance(self.never_split, str):
      raise ValueError("never_split must be a list of tokens, not the "
                       "string %r." % self.never_split)
    fields["never_split"] = tuple(str(t) for t in self.never_split or ())
    fields["do_lower_case"] = bool(self.do_lower_case)
    fields["preserve_unused_tokens"] = bool(self.preserve_unused_tokens)
    if self.run_settings is not None and not isinstance(self.run_settings,
                                                        dict):
      raise ValueError("run_settings must be a dict, not %r." %
                       type(self.run_settings).__name__)
    for name, value in fields.items():
      object.__setattr__(self, name, value)

  @property
  def is_multi_label(self):
    return self.kind == "multi_label"

  def predicted_labels(self, probabilities):
    """Multi-label: the labels of probability >= multi_label_threshold, in
    label order (possibly none)."""
    return [label for label, p in zip(self.labels or (), probabilities)
            if p >= self.multi_label_threshold]

  def replace(self, **changes):
    """A copy with `changes` (field name -> value)."""
    return dataclasses.replace(self, **changes)


def from_settings(settings, kind, labels=None, **fields):
  """The description of a run of `kind` from its `script_flags.Settings`:
  casing, sequence length, tokenizer options and task name, with `labels`
  and any other field given."""
  values = dict(
      kind=kind, labels=labels, do_lower_case=settings.do_lower_case,
      max_seq_length=settings.max_seq_length,
      never_split=tuple(settings.get("never_split") or ()),
      preserve_unused_tokens=bool(settings.get("preserve_unused_tokens")),
      task_name=settings.get("task_name"))
  values.update(fields)
  return TaskDescription(**values)


def to_json_dict(description):
  """`description` as a dict of JSON values (what task.json holds)."""
  result = {"format": FORMAT, "format_version": FORMAT_VERSION}
  for field in dataclasses.fields(TaskDescription):
    value = getattr(description, field.name)
    result[field.name] = list(value) if isinstance(value, tuple) else value
  return result


def from_json_dict(data, where="the task description"):
  """The `TaskDescription` of a `to_json_dict` dict. Keys it does not know
  (of a later version) are ignored; missing ones take their defaults.

  Raises:
    UserError: not a task description, or an invalid value (names `where`).
  """
  if not isinstance(data, dict) or data.get("format") != FORMAT:
    raise UserError("%s is not a task description (no \"format\": %r)." %
                    (where, FORMAT))
  names = [f.name for f in dataclasses.fields(TaskDescription)]
  try:
    return TaskDescription(**{k: data[k] for k in names if k in data})
  except (TypeError, ValueError) as e:
    raise UserError("%s: %s" % (where, e))


def export_fields(description):
  """The entries of an export's bert_export.json that carry `description`,
  beside serving.export_metadata's own keys (task, labels, do_lower_case,
  max_seq_length), which old readers use."""
  fields = to_json_dict(description)
  for key in ("format", "format_version", "labels", "do_lower_case",
              "max_seq_length"):
    del fields[key]
  if description.kind is not None:
    fields["multi_label"] = description.is_multi_label
  return fields


def export_task(description):
  """The export's task name (export_format.TASKS) of `description`."""
  return _EXPORT_TASKS[description.kind]


def from_export_metadata(metadata):
  """The `TaskDescription` of an export's bert_export.json dict; an older
  export, without the description's fields, gets their defaults (threshold
  0.5, no never_split, preserve_unused_tokens off)."""
  kind = metadata.get("kind")
  if kind is None:
    kind = metadata.get("task")
    if kind == "classification" and metadata.get("multi_label"):
      kind = "multi_label"
  names = [f.name for f in dataclasses.fields(TaskDescription)]
  values = {k: metadata[k] for k in names if metadata.get(k) is not None}
  values["kind"] = kind if kind in KINDS else None
  if kind == "squad":  # SQuAD's doc_stride has no aggregation.
    values.pop("window_aggregation", None)
  return TaskDescription(**values)


# --- files ------------------------------------------------------------------


def write(output_dir, description):
  """Writes `<output_dir>/task.json` and, if the description has labels,
  `<output_dir>/label_list.txt`, each atomically (complete or absent).

  Returns:
    the path of task.json.
  """
  import output_files  # pylint: disable=g-import-not-at-top  (TensorFlow)
  # Both texts first: a description that cannot be written changes nothing.
  path = os.path.join(output_dir, TASK_FILE)
  text = json.dumps(to_json_dict(description), indent=2, sort_keys=True)
  label_list_path = os.path.join(output_dir, LABEL_LIST_FILE)
  if description.labels is not None:
    _check_labels(label_list_path, description.labels)
  output_files.write_text_atomically(path, text + "\n")
  if description.labels is not None:
    write_label_list(label_list_path, description.labels)
  return path


def read(output_dir):
  """The description written in `output_dir`: its task.json, else (a
  directory of an older version) its label_list.txt with `kind` None, else
  None.

  Raises:
    UserError: task.json is not valid JSON or not a description, or
      label_list.txt lists no label.
  """
  path = os.path.join(output_dir, TASK_FILE)
  text = _read_text(path)
  if text is None:
    labels = read_label_list(os.path.join(output_dir, LABEL_LIST_FILE))
    return None if labels is None else TaskDescription(labels=labels)
  try:
    data = json.loads(text)
  except ValueError as e:
    raise UserError("%s is not JSON (%s): remove it, or train again in a "
                    "new --output_dir." % (path, e))
  return from_json_dict(data, path)


def write_label_list(path, labels):
  """Writes the labels one a line, in output order, atomically."""
  import output_files  # pylint: disable=g-import-not-at-top  (TensorFlow)
  _check_labels(path, labels)
  output_files.write_text_atomically(path, "".join(l + "\n" for l in labels))
  return path


def _check_labels(path, labels):
  for label in labels:
    if not label or "\n" in label or "\r" in label:
      raise UserError("Label %r cannot be written to %s." % (label, path))


def read_label_list(path):
  """The labels in the label_list.txt `path` (one a line, kept as written;
  blank lines skipped), or None if there is no such file.

  Raises:
    UserError: the file lists no label.
  """
  text = _read_text(path)
  if text is None:
    return None
  labels = [l.rstrip("\r\n") for l in text.splitlines() if l.strip()]
  if not labels:
    raise UserError("%s lists no labels: remove it or give --labels." % path)
  return labels


def _read_text(path):
  """The text of `path`, or None if there is no such file."""
  if "://" in path:
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    if not tf.io.gfile.exists(path):
      return None
    with tf.io.gfile.GFile(path, "r") as f:
      return f.read()
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    return f.read()
