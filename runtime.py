"""What every BERT training script shares: flags, Estimator, inputs, logging.

The original scripts each repeated the same TPU flags, `RunConfig` and
`TPUEstimator` set-up, checkpoint warm start, TFRecord input function and
result writing. They live here once, and `run_classifier.py`, `run_squad.py`
and `run_pretraining.py` call them, so that every script behaves the same.

Nothing here knows about a task: scripts pass their `model_fn`, their feature
spec and their batch sizes. This module may import the library modules
(`modeling`, `optimization`, `tokenization`) and never a script.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import math
import os
import time
import uuid

from absl import flags
import tensorflow.compat.v1 as tf

import modeling

FLAGS = flags.FLAGS


def define_flags():
  """Defines the flags common to all training scripts (TPU, checkpoints...).

  Safe to call more than once (a script that imports another script's module,
  as `run_classifier_with_tfhub.py` does, gets each flag once).
  """
  if "use_tpu" in FLAGS:
    return
  flags.DEFINE_integer("save_checkpoints_steps", 1000,
                       "How often to save the model checkpoint.")
  flags.DEFINE_integer("iterations_per_loop", 1000,
                       "How many steps to make in each estimator call.")
  flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")
  flags.DEFINE_string(
      "tpu_name", None,
      "The Cloud TPU to use for training. This should be either the name "
      "used when creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 "
      "url.")
  flags.DEFINE_string(
      "tpu_zone", None,
      "[Optional] GCE zone where the Cloud TPU is located in. If not "
      "specified, we will attempt to automatically detect the GCE project from "
      "metadata.")
  flags.DEFINE_string(
      "gcp_project", None,
      "[Optional] Project name for the Cloud TPU-enabled project. If not "
      "specified, we will attempt to automatically detect the GCE project from "
      "metadata.")
  flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")
  flags.DEFINE_integer(
      "num_tpu_cores", 8,
      "Only used if `use_tpu` is True. Total number of TPU cores to use.")
  flags.DEFINE_enum(
      "optimizer", "adamw", ["adamw", "lamb"],
      "adamw: Adam with decoupled weight decay, as the original BERT. lamb: "
      "layer-wise adaptive steps (You et al. 2019), for large batches.")
  flags.DEFINE_integer(
      "seed", None,
      "Graph-level random seed (initialisation, dropout, shuffling). Unset, "
      "runs differ from each other as the original's did.")
  flags.DEFINE_integer(
      "log_every_n_steps", 100,
      "How often to log steps/sec, examples/sec, loss and ETA in training.")


def check_output_dir(output_dir):
  """Creates `output_dir`, failing early and clearly if it cannot be used."""
  if not output_dir:
    raise ValueError("--output_dir is required.")
  if tf.io.gfile.exists(output_dir) and not tf.io.gfile.isdir(output_dir):
    raise ValueError("--output_dir=%s is a file, not a directory." %
                     output_dir)
  try:
    tf.io.gfile.makedirs(output_dir)
  except (tf.errors.OpError, OSError) as e:
    raise ValueError("--output_dir=%s cannot be created: %s" % (output_dir, e))
  if "://" not in output_dir and not os.access(output_dir, os.W_OK):
    raise ValueError("--output_dir=%s is not writable." % output_dir)


def build_estimator(model_fn, output_dir, train_batch_size,
                    eval_batch_size=None, predict_batch_size=None):
  """A `TPUEstimator` configured from the shared flags.

  With `--use_tpu=False` (the default) it runs on the CPU or GPU, as the
  original did.
  """
  cluster = None
  if FLAGS.use_tpu and FLAGS.tpu_name:
    cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
        FLAGS.tpu_name, zone=FLAGS.tpu_zone, project=FLAGS.gcp_project)
  run_config = tf.estimator.tpu.RunConfig(
      cluster=cluster,
      master=FLAGS.master,
      model_dir=output_dir,
      save_checkpoints_steps=FLAGS.save_checkpoints_steps,
      tf_random_seed=FLAGS.seed,
      log_step_count_steps=FLAGS.log_every_n_steps,
      tpu_config=tf.estimator.tpu.TPUConfig(
          iterations_per_loop=FLAGS.iterations_per_loop,
          num_shards=FLAGS.num_tpu_cores,
          per_host_input_for_training=(
              tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2)))
  return tf.estimator.tpu.TPUEstimator(
      use_tpu=FLAGS.use_tpu,
      model_fn=model_fn,
      config=run_config,
      train_batch_size=train_batch_size,
      eval_batch_size=eval_batch_size,
      predict_batch_size=predict_batch_size)


def init_from_checkpoint(init_checkpoint, use_tpu):
  """Warm-starts the graph's variables from `init_checkpoint`.

  Logs every trainable variable, marking those found in the checkpoint.

  Returns:
    the `scaffold_fn` a `TPUEstimatorSpec` needs on TPU (None otherwise).
  """
  tvars = tf.trainable_variables()
  initialized = {}
  scaffold_fn = None
  if init_checkpoint:
    (assignment_map, initialized
    ) = modeling.get_assignment_map_from_checkpoint(tvars, init_checkpoint)
    if use_tpu:

      def tpu_scaffold():
        tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
        return tf.train.Scaffold()

      scaffold_fn = tpu_scaffold
    else:
      tf.train.init_from_checkpoint(init_checkpoint, assignment_map)

  tf.logging.info("**** Trainable Variables ****")
  for var in tvars:
    init_string = ", *INIT_FROM_CKPT*" if var.name in initialized else ""
    tf.logging.info("  name = %s, shape = %s%s", var.name, var.shape,
                    init_string)
  return scaffold_fn


def tfrecord_input_fn_builder(input_files, name_to_features, is_training,
                              drop_remainder, shuffle_buffer=100):
  """An `input_fn` over TFRecord files of fixed-length features.

  int64 features are cast to int32, which TPUs need and which costs nothing
  elsewhere. Training repeats and shuffles; evaluation reads once, in order.
  """
  if isinstance(input_files, str):
    input_files = [input_files]

  def decode_record(record):
    example = tf.parse_single_example(record, name_to_features)
    for name in list(example.keys()):
      if example[name].dtype == tf.int64:
        example[name] = tf.cast(example[name], tf.int32)
    return example

  def input_fn(params):
    batch_size = params["batch_size"]
    d = tf.data.TFRecordDataset(input_files)
    if is_training:
      d = d.repeat()
      d = d.shuffle(buffer_size=shuffle_buffer)
    d = d.map(decode_record, num_parallel_calls=tf.data.AUTOTUNE)
    d = d.batch(batch_size, drop_remainder=drop_remainder)
    return d.prefetch(tf.data.AUTOTUNE)

  return input_fn


class TFRecordWriter(object):
  """Writes a TFRecord file under a temporary name and renames it when done.

  A run killed while writing leaves no file under the final name, so a later
  run never reads a half-written file as if it were complete.
  """

  def __init__(self, path):
    self.path = path
    self._tmp_path = "%s.tmp-%s" % (path, uuid.uuid4().hex[:8])
    self._writer = tf.io.TFRecordWriter(self._tmp_path)
    self.count = 0

  def write(self, serialized):
    self._writer.write(serialized)
    self.count += 1

  def close(self):
    self._writer.close()
    tf.io.gfile.rename(self._tmp_path, self.path, overwrite=True)

  def abort(self):
    self._writer.close()
    if tf.io.gfile.exists(self._tmp_path):
      tf.io.gfile.remove(self._tmp_path)

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc_value, traceback):
    if exc_type is None:
      self.close()
    else:
      self.abort()


def write_text_atomically(path, text):
  """Writes `text` to `path` so that readers see the old file or the new one."""
  tmp_path = "%s.tmp-%s" % (path, uuid.uuid4().hex[:8])
  with tf.io.gfile.GFile(tmp_path, "w") as writer:
    writer.write(text)
  tf.io.gfile.rename(tmp_path, path, overwrite=True)


def write_eval_results(output_dir, result, file_name="eval_results.txt"):
  """Logs and writes `key = value` lines, sorted by key, as the original."""
  lines = []
  tf.logging.info("***** Eval results *****")
  for key in sorted(result.keys()):
    tf.logging.info("  %s = %s", key, str(result[key]))
    lines.append("%s = %s\n" % (key, str(result[key])))
  path = os.path.join(output_dir, file_name)
  write_text_atomically(path, "".join(lines))
  return path


class ThroughputHook(tf.train.SessionRunHook):
  """Logs steps/sec, examples/sec, loss and ETA while training.

  At the end it logs a one-line JSON summary (prefixed `TRAINING_SUMMARY`)
  with examples/sec, steps, wall time and final loss, for benchmarks and
  users to parse, and writes it to `<output_dir>/training_summary.json`.
  """

  def __init__(self, batch_size, num_train_steps, every_n_steps=100,
               output_dir=None):
    self._batch_size = batch_size
    self._num_train_steps = num_train_steps
    self._every_n_steps = max(1, every_n_steps)
    self._output_dir = output_dir

  def begin(self):
    self._global_step = tf.train.get_global_step()
    self._loss = _find_loss()
    self._start_time = None
    self._last = None
    self._steps_run = 0
    self._final_loss = None
    self._first_step = None

  def before_run(self, run_context):
    fetches = {"step": self._global_step}
    if self._loss is not None:
      fetches["loss"] = self._loss
    return tf.train.SessionRunArgs(fetches)

  def after_run(self, run_context, run_values):
    now = time.time()
    step = int(run_values.results["step"])
    loss = run_values.results.get("loss")
    if loss is not None:
      self._final_loss = float(loss)
    if self._start_time is None:
      # The first step includes graph optimisation; time from its end.
      self._start_time = now
      self._first_step = step
      self._last = (now, step)
      return
    self._steps_run = step - self._first_step
    last_time, last_step = self._last
    if step - last_step >= self._every_n_steps:
      steps_per_sec = (step - last_step) / max(now - last_time, 1e-9)
      remaining = max(self._num_train_steps - step, 0)
      eta = remaining / steps_per_sec if steps_per_sec > 0 else float("inf")
      tf.logging.info(
          "step %d/%d: %.2f steps/sec, %.1f examples/sec, loss = %s, "
          "ETA %s", step, self._num_train_steps, steps_per_sec,
          steps_per_sec * self._batch_size,
          "%.4f" % self._final_loss if self._final_loss is not None else "?",
          _format_duration(eta))
      self._last = (now, step)

  def end(self, session):
    if self._start_time is None:
      return
    wall = time.time() - self._start_time
    summary = {
        "steps": self._steps_run,
        "wall_time_sec": round(wall, 3),
        "examples_per_sec": round(
            self._steps_run * self._batch_size / max(wall, 1e-9), 3),
        "batch_size": self._batch_size,
        "final_loss": self._final_loss,
    }
    line = json.dumps(summary, sort_keys=True)
    tf.logging.info("TRAINING_SUMMARY %s", line)
    if self._output_dir:
      write_text_atomically(
          os.path.join(self._output_dir, "training_summary.json"), line + "\n")


# Graph collection through which a model_fn shows its loss to ThroughputHook.
TRAIN_LOSS_COLLECTION = "runtime_train_loss"


def register_train_loss(loss):
  """Makes `loss` visible to `ThroughputHook` (call it in the model_fn)."""
  tf.add_to_collection(TRAIN_LOSS_COLLECTION, loss)


def _find_loss():
  losses = tf.get_collection(TRAIN_LOSS_COLLECTION)
  return losses[0] if losses else None


def _format_duration(seconds):
  if math.isinf(seconds):
    return "?"
  seconds = int(seconds)
  return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)
