"""Training with evaluation: eval history, best checkpoint, early stopping.

`train_and_evaluate` is what the training scripts call for --do_train. With
--eval_every_n_steps=0 (the default) it is `runtime.train`, as before. With
N > 0 it trains to the next multiple of N (and to the last step), evaluates
that step's checkpoint with the script's own `evaluate(checkpoint_path)`,
and after each evaluation:

  * logs one line and appends {"step": ..., metrics} to
    <output_dir>/eval_history.jsonl, and has the metrics in TensorBoard's
    run `eval` (<output_dir>/eval/), one tag each (Estimator.evaluate
    writes them there; `write_eval_summaries` for other evaluations);
  * if --best_checkpoint_metric improved (--best_checkpoint_mode), copies the
    checkpoint with its results file to <output_dir>/best/, replaced as a
    whole (`output_files.atomic_directory`), which --keep_checkpoint_max
    never deletes;
  * after --early_stopping_patience evaluations in a row without an
    improvement by more than --early_stopping_min_delta, stops.

A run killed and restarted goes on from its last checkpoint: the history
file tells it the best value so far and how many evaluations have passed
since. Evaluation happens in the training process between `estimator.train`
calls, which works on a single device, under MirroredStrategy and on TPU;
under MultiWorkerMirroredStrategy and Horovod every worker would have to
stop for it together, so there it is refused (evaluate after training).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import math
import os

import numpy as np
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import output_files
import runtime

HISTORY_FILE = "eval_history.jsonl"
BEST_DIR = "best"


def check_flags(settings, available_metrics, default_metric,
                dev_set_error=None):
  """The evaluation flags' checks, before any work.

  Args:
    settings: the run's `script_flags.Settings`.
    available_metrics: the metric names the task's evaluation produces.
    default_metric: the task's main metric, for --best_checkpoint_metric.
    dev_set_error: why there is no dev set to evaluate on, or None.

  Returns:
    the name of the metric that chooses the best checkpoint.

  Raises:
    UserError: naming the flag at fault.
  """
  every = settings.eval_every_n_steps
  if every < 0:
    raise UserError("--eval_every_n_steps must be 0 (off) or positive, not %d."
                    % every)
  if settings.early_stopping_patience < 0:
    raise UserError("--early_stopping_patience must be 0 (off) or positive.")
  if not every:
    if settings.early_stopping_patience:
      raise UserError(
          "--early_stopping_patience=%d needs evaluation during training: "
          "add --eval_every_n_steps=N." % settings.early_stopping_patience)
    return settings.best_checkpoint_metric or default_metric
  if dev_set_error:
    raise UserError("--eval_every_n_steps=%d needs a dev set: %s" %
                    (every, dev_set_error))
  if (settings.use_horovod or
      settings.distribution_strategy == "multi_worker_mirrored"):
    raise UserError(
        "--eval_every_n_steps is not supported with several workers "
        "(--use_horovod, multi_worker_mirrored): train, then evaluate the "
        "checkpoints with --do_eval in one process.")
  metric = settings.best_checkpoint_metric or default_metric
  if metric not in available_metrics:
    raise UserError(
        "--best_checkpoint_metric=%s is not a metric of this task; it has %s."
        % (metric, ", ".join(sorted(available_metrics))))
  return metric


def best_checkpoint(output_dir):
  """The checkpoint in <output_dir>/best/, if evaluation during training
  kept one (this run or the one it resumed); None otherwise (results then
  come from the last one)."""
  best_dir = os.path.join(output_dir, BEST_DIR)
  if not tf.io.gfile.isdir(best_dir):
    return None
  return tf.train.latest_checkpoint(best_dir)


def evaluation_name(output_dir, checkpoint_path):
  """The `name` of an `Estimator.evaluate` of `checkpoint_path`: "best" for
  the final evaluation of the best checkpoint, whose TensorBoard scalars
  then go to <output_dir>/eval_best/ (at that checkpoint's earlier step they
  would turn the eval/ curve back), None (eval/) otherwise."""
  if checkpoint_path and os.path.dirname(checkpoint_path) == os.path.join(
      output_dir, BEST_DIR):
    return BEST_DIR
  return None


def train_and_evaluate(settings, estimator, input_fn, max_steps,
                       evaluate=None, metric=None, write_results=None,
                       input_files=None, batch_size=None):
  """Trains to `max_steps`, evaluating every --eval_every_n_steps.

  Args:
    settings: the run's `script_flags.Settings`.
    estimator: from `runtime.build_estimator`.
    input_fn: the training input function.
    max_steps: the last training step.
    evaluate: function from a checkpoint path to a dict of metrics (numbers;
      arrays such as a confusion matrix are kept out of the history).
    metric: the metric that chooses the best checkpoint (`check_flags`).
    write_results: function (directory, metrics) writing the results files
      kept beside the best checkpoint (default: eval_results.txt).
    input_files, batch_size: as for `runtime.train`.

  Returns:
    the path of the best checkpoint (under <output_dir>/best/), or None
    without evaluation during training.
  """
  every = settings.eval_every_n_steps
  if not every or evaluate is None:
    runtime.train(settings, estimator, input_fn, max_steps,
                  input_files=input_files, batch_size=batch_size)
    return None
  output_dir = estimator.model_dir
  tracker = BestTracker(output_dir, metric, settings.best_checkpoint_mode,
                        settings.early_stopping_patience,
                        settings.early_stopping_min_delta,
                        write_results or output_files.write_eval_results,
                        not getattr(evaluate, "writes_summaries", False))
  progress = runtime.throughput_hook(settings, max_steps, batch_size)
  step, _ = runtime.checkpoint_step(output_dir)
  while not tracker.stopped:
    if step < max_steps:
      target = min((step // every + 1) * every, max_steps)
      runtime.train(settings, estimator, input_fn, target,
                    input_files=input_files, batch_size=batch_size,
                    progress_hook=progress)
    step, path = runtime.checkpoint_step(output_dir)
    if not tracker.has_evaluated(step):
      tracker.record(step, path, evaluate(path))
    if step >= max_steps:
      break
  if tracker.best is not None:
    tf.logging.info("Best checkpoint: step %d, %s = %s (%s).",
                    tracker.best["step"], metric, tracker.best[metric],
                    tracker.best_path())
  return tracker.best_path()


def _is_better(value, best, mode, min_delta=0.0):
  if best is None:
    return True
  if mode == "max":
    return value > best + min_delta
  return value < best - min_delta


def _scalars(metrics):
  """The metrics that are single numbers, as floats."""
  out = {}
  for name, value in metrics.items():
    value = np.asarray(value)
    if value.ndim == 0 and np.issubdtype(value.dtype, np.number):
      out[name] = float(value)
  return out


class BestTracker(object):
  """The evaluation history of a run, its best checkpoint and its patience.

  Built from <output_dir>/eval_history.jsonl, so that a resumed run goes on
  counting where the killed one stopped.
  """

  def __init__(self, output_dir, metric, mode, patience, min_delta,
               write_results, write_summaries=True):
    self.output_dir = output_dir
    self.metric = metric
    self.mode = mode
    self.patience = patience
    self.min_delta = min_delta
    self.write_results = write_results
    self.write_summaries = write_summaries
    self.history = read_history(output_dir)
    self.best = None
    self.evaluations_since_best = 0
    self.stopped = False
    for entry in self.history:
      self._update(entry)
    if self._out_of_patience():
      self.stopped = True

  def has_evaluated(self, step):
    return any(entry["step"] == step for entry in self.history)

  def best_path(self):
    if self.best is None:
      return None
    return tf.train.latest_checkpoint(os.path.join(self.output_dir, BEST_DIR))

  def _update(self, entry):
    """Whether `entry` is the new best (by more than min_delta for the
    patience count; any improvement makes it the best checkpoint)."""
    value = entry.get(self.metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
      self.evaluations_since_best += 1
      return False
    best = None if self.best is None else self.best[self.metric]
    if _is_better(value, best, self.mode, self.min_delta):
      self.evaluations_since_best = 0
    else:
      self.evaluations_since_best += 1
    if _is_better(value, best, self.mode):
      self.best = entry
      return True
    return False

  def _out_of_patience(self):
    return bool(self.patience) and self.evaluations_since_best >= self.patience

  def record(self, step, checkpoint_path, metrics):
    """Logs, stores and compares the evaluation of `checkpoint_path`.

    The best checkpoint is copied before the history line is written: a run
    killed in between evaluates that step again when resumed.
    """
    entry = dict(_scalars(metrics), step=step)
    entry.pop("global_step", None)  # The same as "step".
    improved = self._update(entry)
    if improved:
      self._keep_as_best(checkpoint_path, metrics)
    self.history.append(entry)
    append_history(self.output_dir, entry)
    if self.write_summaries:
      write_eval_summaries(os.path.join(self.output_dir, "eval"), step, entry)
    tf.logging.info(
        "Evaluation at step %d: %s%s", step,
        ", ".join("%s = %.4g" % (k, v) for k, v in sorted(entry.items())
                  if k != "step"),
        " (new best %s)" % self.metric if improved else "")
    if self._out_of_patience():
      self.stopped = True
      tf.logging.warning(
          "Early stopping at step %d: %s has not improved by more than %g for "
          "%d evaluations; the best is %s = %s at step %s.", step,
          self.metric, self.min_delta, self.patience, self.metric,
          *((self.best[self.metric], self.best["step"]) if self.best
            else ("?", "?")))

  def _keep_as_best(self, checkpoint_path, metrics):
    best_dir = os.path.join(self.output_dir, BEST_DIR)
    with output_files.atomic_directory(best_dir) as tmp:
      for source in tf.io.gfile.glob(checkpoint_path + ".*"):
        tf.io.gfile.copy(source, os.path.join(tmp, os.path.basename(source)))
      # A relative path, so that the directory can be moved or copied.
      tf.train.update_checkpoint_state(tmp, os.path.basename(checkpoint_path))
      self.write_results(tmp, metrics)


def read_history(output_dir):
  """The evaluations of <output_dir>/eval_history.jsonl, oldest first."""
  path = os.path.join(output_dir, HISTORY_FILE)
  if not tf.io.gfile.exists(path):
    return []
  entries = []
  with tf.io.gfile.GFile(path) as f:
    for line_number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        entries.append(json.loads(line))
      except ValueError:
        raise UserError("%s: line %d is not JSON; remove the file or use "
                        "--overwrite_output_dir." % (path, line_number))
  return entries


def append_history(output_dir, entry):
  """Adds one line to eval_history.jsonl, the file replaced as a whole."""
  path = os.path.join(output_dir, HISTORY_FILE)
  old = ""
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      old = f.read()
  output_files.write_text_atomically(
      path, old + json.dumps(entry, sort_keys=True) + "\n")


def estimator_evaluation(evaluate):
  """Marks `evaluate` (a script's function from a checkpoint path to
  metrics) as made by `Estimator.evaluate`, which writes its TensorBoard
  scalars itself, under <output_dir>/eval/; the others' are written there by
  `train_and_evaluate`, so that each metric has one tag."""
  evaluate.writes_summaries = True
  return evaluate


def write_final_evaluation(output_dir, checkpoint_path, metrics):
  """TensorBoard scalars of an evaluation made outside `Estimator.evaluate`
  (run_ner's, from predictions) where Estimator would write them: under
  <output_dir>/eval/ (eval_best/ for the best checkpoint), one tag per
  metric, at the checkpoint's global step."""
  name = evaluation_name(output_dir, checkpoint_path)
  write_eval_summaries(
      os.path.join(output_dir, "eval_" + name if name else "eval"),
      int(metrics["global_step"]), _scalars(metrics))


def write_eval_summaries(directory, step, metrics):
  """TensorBoard scalars of `metrics` at `step` in `directory` (a run such
  as <output_dir>/eval), one tag per metric, as Estimator names them."""
  summary = tf.Summary(value=[
      tf.Summary.Value(tag=name, simple_value=value)
      for name, value in sorted(metrics.items())
      if name not in ("step", "global_step")])
  # FileWriter needs a graph (the caller may be in eager mode, between
  # Estimator calls).
  with tf.Graph().as_default():
    writer = tf.summary.FileWriterCache.get(directory)
    writer.add_summary(summary, step)
    writer.flush()
