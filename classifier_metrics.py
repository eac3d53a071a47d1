"""The head of a sentence (pair) classifier and its metrics.

`ClassifierHead` says what the head of a run_classifier.py model is: how many
outputs, a softmax, a sigmoid per label (multi-label, with its threshold) or
a score (regression), one record per example or windows of long documents
(their stride and how their logits aggregate), the task's metrics. One value
of it, built in `main()` from the run's `task_description.TaskDescription`,
tells the records' conversion and reading (`input_options`), the model
(`model_options`) and the evaluation (`compute`) the same thing.

The metrics: GLUE's (`compute_metrics`: accuracy, F1, MCC, Pearson,
Spearman), multi-label ones (micro/macro F1, subset accuracy, per label),
per-class precision/recall/F1 from a streaming confusion matrix, documents'
predictions from their windows (`aggregate_windows`,
`aggregate_window_predictions`), and `eval_results.txt`
(`format_eval_results`, `write_eval_results`). Metrics TensorFlow cannot
stream are computed with numpy over every batch's rows at the end of an
evaluation (`_numpy_metric_ops`).

Below the scripts: run_classifier.py and run_classifier_with_tfhub.py share
it, and run_classifier re-exports its names. No flags are read here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os

import numpy as np
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import output_files

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
    while (end + 1 < len(values) and
           sorted_values[end + 1] == sorted_values[start]):
      end += 1
    ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
    start = end + 1
  return ranks


def _collected(values, name):
  """A streaming metric's (value, update_op) that concatenates every batch."""
  store = tf.Variable(
      tf.zeros([0], values.dtype), trainable=False,
      shape=tf.TensorShape([None]),
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


class ClassifierHead(object):
  """What a classifier's head is, for everything that must agree on it.

  The records (conversion and reading: a score, a label id or a 0/1 vector;
  one per example or, with `doc_stride`, per window), the model and its
  evaluation (outputs, softmax or sigmoids, how a document's windows
  aggregate, which metrics) and prediction (the multi-label threshold). The
  default is the original's: one label id per example, accuracy and loss.

  Attributes:
    num_labels: the model's outputs (1 for regression); None where unknown
      (reading records needs it for multi-label only).
    regression: a score per example (squared error), not labels.
    multi_label: a 0/1 vector of `num_labels` per example, a sigmoid each.
    label_list: the label names in output order ([] for regression).
    metric_names: the task's metrics besides accuracy and loss ("f1",
      "mcc", "pearson", "spearman": its `DataProcessor.metrics`).
    multi_label_threshold: a label is predicted at this probability or more.
    doc_stride: tokens between the windows of a long document; None: one
      record per example.
    window_aggregation: "mean" or "max", how a document's window logits
      become one; None without windows ("mean" if only `doc_stride` is
      given).
    pooling: what the head reads of the encoder: "cls", the original's
      pooled [CLS], or "mean", the mean of the last layer over the tokens.
  """

  def __init__(self, num_labels=None, regression=False, multi_label=False,
               label_list=None, metric_names=(), multi_label_threshold=0.5,
               doc_stride=None, window_aggregation=None, pooling="cls"):
    self.num_labels = num_labels
    self.regression = regression
    self.multi_label = multi_label
    self.label_list = list(label_list or [])
    self.metric_names = tuple(metric_names)
    self.multi_label_threshold = multi_label_threshold
    self.doc_stride = doc_stride
    if doc_stride and window_aggregation is None:
      window_aggregation = "mean"
    self.window_aggregation = window_aggregation
    self.pooling = pooling

  @classmethod
  def from_description(cls, description, metric_names=(), num_labels=None):
    """The head of a `task_description.TaskDescription` (task kind, labels,
    threshold, windows), with what a description does not hold: the task's
    `metric_names` and, if not the number of its labels (1 for a
    regression), `num_labels`."""
    regression = description.kind == "regression"
    labels = list(description.labels or [])
    if num_labels is None:
      num_labels = 1 if regression else len(labels)
    return cls(num_labels, regression, description.is_multi_label, labels,
               metric_names, description.multi_label_threshold,
               description.doc_stride, description.window_aggregation,
               description.pooling)

  @property
  def windowed(self):
    """Whether records are windows of documents (with `example_index`)."""
    return self.window_aggregation is not None

  def input_options(self):
    """run_classifier's `file_based_input_fn_builder`'s keyword arguments."""
    return dict(is_regression=self.regression,
                num_multi_labels=self.num_labels if self.multi_label else None,
                windowed=self.windowed)

  def model_options(self):
    """run_classifier's `model_fn_builder`'s keyword arguments of the head
    (`num_labels` aside, a positional one of the original's)."""
    return dict(is_regression=self.regression,
                metric_names=self.metric_names, multi_label=self.multi_label,
                window_aggregation=self.window_aggregation,
                multi_label_threshold=self.multi_label_threshold,
                label_list=self.label_list, pooling=self.pooling)

  def computed_metric_names(self):
    """The names `compute` returns (without `eval_`)."""
    if self.multi_label:
      return multi_label_metric_names(self.label_list)
    if self.regression:
      return list(self.metric_names)
    return ["accuracy"] + [n for n in self.metric_names if n != "accuracy"]

  def compute(self, arrays):
    """Document-level metrics from the collected window (or example) rows:
    `arrays` of "logits", "labels", "weights" (0 for padding) and, with
    windows, "example_index", each flattened."""
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
      preds = (_sigmoid(logits) >= self.multi_label_threshold).astype(np.int64)
      return multi_label_metrics(labels, preds, self.label_list)
    names = self.computed_metric_names()
    if self.regression:
      return compute_metrics(names, labels[:, 0], logits[:, 0], True)
    return compute_metrics(names, labels[:, 0].astype(np.int64),
                           np.argmax(logits, axis=-1))


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


def _numpy_metric_fn(head):
  """Metrics of multi-label heads and of documents made of windows
  (`head`: a `ClassifierHead`)."""

  def metric_fn(per_example_loss, labels, logits, weights,
                example_index=None):
    tensors = {"logits": tf.cast(logits, tf.float32), "weights": weights,
               "labels": tf.cast(labels, tf.float32)}
    if example_index is not None:
      tensors["example_index"] = tf.cast(example_index, tf.int64)
    metrics = _numpy_metric_ops(tensors, head.compute,
                               head.computed_metric_names())
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
