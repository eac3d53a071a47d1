"""What every BERT training script shares: checks, Estimator, training.

The original scripts each repeated the same flag checks, `RunConfig` and
`TPUEstimator` set-up, checkpoint warm start and training call. They live
here once, so that every script behaves the same. The steps of a script's
`main()` that are not its own come from here, in this order:

  check_flags(settings, ...)  every setting checked before a file is touched
  prepare_output_dir(...)     (output_files) the directory, stale temp files
  epoch_schedule(...)         one formula for the steps, zero steps refused
  build_estimator(...)        TPUEstimator, or an Estimator over a strategy
  training_needed(...)        says whether a checkpoint there is resumed
  train(settings, ...)        progress logging, clear failures and an exact
                              resume with --seed
  estimator.evaluate / predict

Every function takes the run's `script_flags.Settings` (built once in the
script's `main()`) or plain values; none reads flags. Input pipelines are in
`input_pipeline`, evaluation during training and the best checkpoint in
`training_loop`, SavedModel export in `serving`, output files in
`output_files`, user errors in `command_line`. Nothing here knows about a
task: scripts pass their `model_fn`, their feature spec and their batch
sizes. This module may import the library modules (`modeling`,
`optimization`, `tokenization`), never a script.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import inspect
import json
import math
import os
import time

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf
from tensorflow.core.protobuf import rewriter_config_pb2

import command_line
import cpu_features
from command_line import UserError
import modeling
import optimization
import output_files
import script_flags
import serving
import task_description
import tokenization


PRECISIONS = script_flags.PRECISIONS
STRATEGIES = script_flags.STRATEGIES



def validate_runtime_flags(settings, train_batch_size):
  """Rejects inconsistent runtime flags before any work starts."""
  strategy = settings.distribution_strategy
  if settings.use_horovod and (settings.use_tpu or strategy != "none"):
    raise UserError("--use_horovod cannot be combined with --use_tpu or "
                     "--distribution_strategy=%s." % strategy)
  if settings.use_tpu and settings.bucket_by_length:
    raise UserError(
        "--bucket_by_length cannot be combined with --use_tpu: TPU batches "
        "must all have the static shape [batch, max_seq_length].")
  if settings.use_tpu and strategy != "none":
    raise UserError(
        "--use_tpu and --distribution_strategy=%s cannot be combined: "
        "TPUEstimator distributes over TPU cores itself." % strategy)
  if (settings.precision == "fp16" and
      not tf.config.list_physical_devices("GPU")):
    raise UserError(
        "--precision=fp16 needs a GPU and this machine has none; use "
        "--precision=bf16 on CPU, or --precision=fp32.")
  if (settings.precision == "bf16" and not settings.use_tpu and
      not tf.config.list_physical_devices("GPU") and
      cpu_features.bf16_support() == "none"):
    tf.logging.warning(
        "--precision=bf16: this CPU has no AVX512_BF16 or AMX_BF16 "
        "instructions (or ONEDNN_MAX_CPU_ISA caps them off), so bfloat16 is "
        "emulated: oneDNN has no bf16 kernels here, the matmuls run in "
        "TensorFlow's own unfused ones, slower than fp32; use "
        "--precision=fp32.")
  if strategy == "multi_worker_mirrored" and not os.environ.get("TF_CONFIG"):
    raise UserError(
        "--distribution_strategy=multi_worker_mirrored needs the TF_CONFIG "
        "environment variable describing the cluster and this task.")
  if settings.num_accumulation_steps < 1:
    raise UserError("--num_accumulation_steps must be at least 1.")
  if train_batch_size % settings.num_accumulation_steps != 0:
    raise UserError(
        "--num_accumulation_steps=%d does not divide --train_batch_size=%d." %
        (settings.num_accumulation_steps, train_batch_size))
  if settings.num_accumulation_steps > 1 and strategy != "none":
    raise UserError(
        "--num_accumulation_steps > 1 is not supported together with "
        "--distribution_strategy=%s; use a larger number of replicas or a "
        "single device." % strategy)
  replicas = num_replicas(settings)
  if train_batch_size % replicas != 0:
    raise UserError("--train_batch_size=%d is not divisible by the %d "
                     "replicas." % (train_batch_size, replicas))


# (flag, smallest allowed value, largest or None, whether the smallest is
# allowed): the numbers a run is refused with before any file is touched.
_NUMBER_RANGES = (
    ("learning_rate", 0.0, None, False),
    ("warmup_proportion", 0.0, 1.0, True),
    ("num_train_epochs", 0.0, None, False),
    ("save_checkpoints_steps", 1, None, True),
    ("save_summary_steps", 0, None, True),
    ("keep_checkpoint_max", 0, None, True),
    ("log_every_n_steps", 1, None, True),
    ("iterations_per_loop", 1, None, True),
    ("num_tpu_cores", 1, None, True),
    ("eval_batch_size", 1, None, True),
    ("predict_batch_size", 1, None, True),
)


def check_numbers(settings, will_train=False):
  """Refuses a number flag out of its range (the training ones only when
  `will_train`: a prediction run ignores --learning_rate)."""
  for name, low, high, low_allowed in _NUMBER_RANGES:
    value = settings.get(name)
    if value is None or (not will_train and name not in (
        "eval_batch_size", "predict_batch_size")):
      continue
    too_low = value < low or (value == low and not low_allowed)
    if too_low or (high is not None and value > high) or value != value:
      if high is not None:
        expected = "between %s and %s" % (low, high)
      elif low_allowed:
        expected = "at least %s" % low
      else:
        expected = "greater than %s" % low
      raise UserError("--%s=%s must be %s." % (name, value, expected))


def check_flags(settings, bert_config=None, max_seq_length=None,
                train_batch_size=None, will_train=False, export_dir=None,
                output_dir=None, init_checkpoint=None):
  """The checks every training script makes first, before touching a file.

  Args:
    settings: the run's `script_flags.Settings` (its numbers are checked:
      `check_numbers`).
    bert_config: the `BertConfig` of --bert_config_file, whose
      max_position_embeddings bounds `max_seq_length`.
    max_seq_length: --max_seq_length.
    train_batch_size: the global training batch, checked against the
      replicas and accumulation steps of the runtime flags.
    will_train: whether this run trains (without, --export_dir needs a
      checkpoint in `output_dir`, or a fine-tuned `init_checkpoint`).
    export_dir, output_dir: --export_dir and --output_dir.
    init_checkpoint: --init_checkpoint, which must hold the `bert/`
      variables of `bert_config`'s model (checked when the run restores
      it: training, or no checkpoint in `output_dir` yet).

  Raises:
    UserError: naming the flag at fault.
  """
  check_numbers(settings, will_train)
  # The weights come from --init_checkpoint when training starts, and when
  # evaluation, prediction or export finds no checkpoint in --output_dir.
  restores_init = will_train or not (
      output_dir and tf.train.latest_checkpoint(output_dir))
  if init_checkpoint and restores_init and bert_config is not None:
    check_init_checkpoint(init_checkpoint, bert_config)
  if bert_config is not None and max_seq_length is not None:
    check_max_seq_length(bert_config, max_seq_length)
  if train_batch_size is not None:
    if train_batch_size < 1:
      raise UserError("--train_batch_size must be positive, not %d." %
                      train_batch_size)
    validate_runtime_flags(settings, train_batch_size)
  if export_dir:
    check_export_dir(export_dir, output_dir, will_train, init_checkpoint,
                     settings.get("export_precision") or "fp32",
                     settings.get("export_format") or "saved_model")


def check_something_to_do(settings, *flag_names):
  """Raises UserError unless one of the boolean or path flags `flag_names`
  (e.g. "do_train", "do_eval", "export_dir") is set: a run with none would
  do nothing at all."""
  if not any(getattr(settings, name) for name in flag_names):
    raise UserError("At least one of %s must be set." % ", ".join(
        "--" + name for name in flag_names))


def check_max_seq_length(bert_config, max_seq_length):
  """--max_seq_length must fit the model's position embeddings and hold
  [CLS] and [SEP]."""
  if max_seq_length > bert_config.max_position_embeddings:
    raise UserError(
        "Cannot use sequence length %d because the BERT model was only "
        "trained up to sequence length %d: --max_seq_length must be at most "
        "max_position_embeddings of --bert_config_file." %
        (max_seq_length, bert_config.max_position_embeddings))
  if max_seq_length < 3:
    raise UserError("--max_seq_length=%d leaves no room for [CLS] and [SEP]." %
                    max_seq_length)


def bert_variable_shapes(bert_config):
  """{name: shape} of the variables of a `BertModel` of `bert_config`, from
  a model built in a scratch graph (nothing runs)."""
  with tf.Graph().as_default():
    ids = tf.placeholder(tf.int32, [1, 2])
    modeling.BertModel(config=bert_config, is_training=False, input_ids=ids)
    return {v.op.name: v.shape.as_list() for v in tf.global_variables()}


def check_init_checkpoint(init_checkpoint, bert_config,
                          flag="--init_checkpoint"):
  """Fails before any work unless `init_checkpoint` is a checkpoint holding
  every variable of the BERT model (`bert/...`) in the config's shapes
  (task heads are new in fine-tuning, so not required)."""
  try:
    found = dict(tf.train.list_variables(init_checkpoint))
  except (tf.errors.OpError, ValueError) as e:
    raise UserError(
        "%s=%s is not a readable checkpoint (give the prefix of its .index "
        "and .data-* files, e.g. .../bert_model.ckpt): %s" %
        (flag, init_checkpoint, command_line.error_text(e)))
  expected = bert_variable_shapes(bert_config)
  missing = sorted(n for n in expected if n not in found)
  if missing:
    raise UserError(
        "%s=%s lacks %d of the %d variables of the model of "
        "--bert_config_file: %s. Is it a BERT checkpoint of this config (or "
        "one to convert with convert_checkpoint.py)?" %
        (flag, init_checkpoint, len(missing), len(expected),
         ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")))
  wrong = sorted(n for n in expected if list(found[n]) != expected[n])
  if wrong:
    raise UserError(
        "%s=%s has variables of other shapes than the model of "
        "--bert_config_file: %s is %s in the checkpoint, %s in the model." %
        (flag, init_checkpoint, wrong[0], list(found[wrong[0]]),
         expected[wrong[0]]))


def check_trained_model(settings, task_flags=("do_eval", "do_predict")):
  """Refuses evaluation or prediction without training (`task_flags` set,
  --do_train not) when there is no trained model to read: no checkpoint in
  --output_dir and no --init_checkpoint holding a task head. Estimator would
  silently run the random initialisation instead. --allow_untrained_model
  asks for exactly that."""
  asked = [name for name in task_flags if settings.get(name)]
  if settings.get("do_train") or not asked:
    return
  output_dir = settings.output_dir
  if output_dir and tf.train.latest_checkpoint(output_dir):
    return
  init_checkpoint = settings.get("init_checkpoint")
  if init_checkpoint and _has_task_head(init_checkpoint):
    return
  if settings.get("allow_untrained_model"):
    tf.logging.warning(
        "--allow_untrained_model: %s with a task head that was never "
        "trained (random weights).", ", ".join("--" + n for n in asked))
    return
  raise UserError(
      "%s without --do_train reads the model trained in --output_dir=%s, "
      "which has no checkpoint (no 'checkpoint' file naming a "
      "model.ckpt-N)%s: train first (--do_train), point --output_dir at a "
      "trained run, or pass --allow_untrained_model for an untrained head's "
      "output." % (
          " and ".join("--" + n for n in asked), output_dir,
          ", and --init_checkpoint=%s holds no task head" % init_checkpoint
          if init_checkpoint else ""))


def _has_task_head(checkpoint):
  """Whether `checkpoint` holds variables besides the encoder's `bert/`
  ones and the optimiser's: a fine-tuned model."""
  try:
    names = [name for name, _ in tf.train.list_variables(checkpoint)]
  except (tf.errors.OpError, ValueError):
    return False
  return any(not name.startswith("bert/") and name != "global_step" and
             "/adam_" not in name and not name.startswith("cls/predictions")
             and not name.startswith("cls/seq_relationship")
             for name in names)


# The settings that decide what training computes: resuming a run with
# other values would continue, silently, a model trained differently.
RUN_SETTINGS = (
    "task_name", "bert_config_file", "init_checkpoint", "vocab_file",
    "do_lower_case", "max_seq_length", "train_batch_size", "learning_rate",
    "num_train_epochs", "warmup_proportion", "num_train_steps",
    "num_warmup_steps", "optimizer", "num_accumulation_steps",
    "learning_rate_decay", "adam_bias_correction", "seed", "precision",
    "bf16_implementation", "bucket_by_length", "doc_stride", "multi_label",
    "multi_label_threshold", "class_weights", "labels", "label_column",
    "max_query_length", "version_2_with_negative", "max_predictions_per_seq",
    "never_split", "preserve_unused_tokens", "train_file", "data_dir",
    "input_file")


def run_settings(settings):
  """{name: value} of the `RUN_SETTINGS` the run has, as JSON values: what
  a script records in its task description when training starts."""
  return {name: list(value) if isinstance(value, tuple) else value
          for name, value in sorted(settings.as_dict().items())
          if name in RUN_SETTINGS}


def check_resume(settings, output_dir):
  """Before training into `output_dir`: refuses to resume a checkpoint there
  that was made with other settings than this run's (the `run_settings`
  that its task.json records), naming each change, unless
  --resume_with_changed_settings (then the log lists them).
  --overwrite_output_dir starts over, so nothing is resumed."""
  if settings.get("overwrite_output_dir") or not settings.get("do_train"):
    return
  saved = task_description.read(output_dir) if output_dir else None
  recorded = saved.run_settings if saved is not None else None
  if not recorded:
    return
  step, path = checkpoint_step(output_dir)
  if path is None:
    return
  current = run_settings(settings)
  changed = ["--%s=%s (was %s)" % (name, _flag_text(current[name]),
                                   _flag_text(recorded[name]))
             for name in sorted(current)
             if name in recorded and current[name] != recorded[name]]
  if not changed:
    return
  if settings.get("resume_with_changed_settings"):
    tf.logging.warning(
        "--resume_with_changed_settings: resuming %s (step %d) with %s.",
        path, step, ", ".join(changed))
    return
  if _finished_at(output_dir, step):
    raise UserError(
        "--output_dir=%s holds a finished run (step %d of %d) made with "
        "other settings, so --do_train trains nothing on it: %s. Use "
        "--overwrite_output_dir to train anew with these settings, another "
        "--output_dir, or --resume_with_changed_settings to continue it "
        "anyway." % (output_dir, step, step, "; ".join(changed)))
  raise UserError(
      "--output_dir=%s holds a run (checkpoint at step %d) started with "
      "other settings, so --do_train would continue a model trained "
      "differently: %s. Use --overwrite_output_dir to start over, another "
      "--output_dir, or --resume_with_changed_settings to continue anyway."
      % (output_dir, step, "; ".join(changed)))


def _finished_at(output_dir, step):
  """Whether the run in `output_dir` ended its training at `step` (its
  training_summary.json says so)."""
  path = os.path.join(output_dir, "training_summary.json")
  if not tf.io.gfile.exists(path):
    return False
  try:
    with tf.io.gfile.GFile(path) as f:
      summary = json.loads(f.read())
  except ValueError:
    return False
  return summary.get("global_step") == step and (
      summary.get("num_train_steps") == step)


def _flag_text(value):
  if isinstance(value, (list, tuple)):
    return ",".join(str(v) for v in value)
  return str(value)


def training_needed(output_dir, num_train_steps, init_checkpoint=None):
  """Says in one line what --do_train does with a checkpoint already in
  `output_dir`: resume from it (--init_checkpoint unused), or nothing if it
  is at `num_train_steps`. Returns whether any step is left to train."""
  step, path = checkpoint_step(output_dir)
  if path is None:
    return True
  unused = (" --init_checkpoint=%s is not used." % init_checkpoint
            if init_checkpoint else "")
  if step >= num_train_steps:
    tf.logging.warning(
        "Training is complete: %s is at step %d of %d, so --do_train trains "
        "nothing and the results are of that model.%s Use "
        "--overwrite_output_dir to start over.", path, step, num_train_steps,
        unused)
    return False
  tf.logging.warning(
      "Resuming training from %s (step %d of %d).%s Use "
      "--overwrite_output_dir to start over.", path, step, num_train_steps,
      unused)
  return True


def load_bert_config(bert_config_file):
  """`BertConfig.from_json_file`, its errors naming --bert_config_file."""
  if not bert_config_file:
    raise UserError("--bert_config_file is required.")
  with command_line.reading("--bert_config_file=%s" % bert_config_file):
    return modeling.BertConfig.from_json_file(bert_config_file)


def load_tokenizer(settings):
  """The `FullTokenizer` of the run's --vocab_file, --do_lower_case and
  tokens kept whole (--never_split, --preserve_unused_tokens), its errors
  naming the flag; also checks the casing against an official checkpoint's
  name in --init_checkpoint."""
  vocab_file, do_lower_case = settings.vocab_file, settings.do_lower_case
  init_checkpoint = settings.get("init_checkpoint")
  if not vocab_file:
    raise UserError("--vocab_file is required.")
  with command_line.reading("--do_lower_case"):
    tokenization.validate_case_matches_checkpoint(do_lower_case,
                                                  init_checkpoint)
  with command_line.reading("--vocab_file=%s" % vocab_file):
    vocab = tokenization.load_vocab(vocab_file)
  missing = [t for t in ("[CLS]", "[SEP]", "[UNK]") if t not in vocab]
  if missing:
    raise UserError(
        "--vocab_file=%s %s: a BERT vocabulary has one token a line, "
        "among them [CLS], [SEP] and [UNK]." %
        (vocab_file, "is empty" if not vocab else
         "has no %s" % " or ".join(missing)))
  with command_line.reading("--vocab_file=%s" % vocab_file):
    return tokenization.FullTokenizer(
        vocab_file=vocab_file, do_lower_case=do_lower_case,
        never_split=list(settings.get("never_split") or []),
        preserve_unused_tokens=bool(settings.get("preserve_unused_tokens")))


def num_train_steps(num_examples, train_batch_size, num_train_epochs, source):
  """Steps of `num_train_epochs` over `num_examples` training examples, as
  the original counted them (the last partial batch of an epoch dropped).

  Raises:
    UserError: that is no step at all; `source` (e.g. "--data_dir=...")
      names where the examples came from.
  """
  steps = int(num_examples / train_batch_size * num_train_epochs)
  if steps < 1:
    raise UserError(
        "%s gives %d training examples: with --train_batch_size=%d and "
        "--num_train_epochs=%s that is no training step. Use more data, a "
        "smaller batch or more epochs." %
        (source, num_examples, train_batch_size, num_train_epochs))
  return steps


def epoch_schedule(settings, num_examples, source):
  """(num_train_steps, num_warmup_steps) for --num_train_epochs over
  `num_examples` at --train_batch_size, warming up over --warmup_proportion
  of the steps (`source` names where the examples came from)."""
  steps = num_train_steps(num_examples, settings.train_batch_size,
                          settings.num_train_epochs, source)
  return steps, int(steps * settings.warmup_proportion)


def log_features(features):
  """Logs the names and shapes of a model_fn's input features."""
  tf.logging.debug("*** Features ***")
  for name in sorted(features.keys()):
    tf.logging.debug("  name = %s, shape = %s", name, features[name].shape)


def num_replicas(settings):
  """Replicas the global batch is split over (1 without a strategy)."""
  if settings.use_horovod:
    return command_line.horovod().size()
  if settings.distribution_strategy == "mirrored":
    return max(settings.num_gpus, 1)
  if settings.distribution_strategy == "multi_worker_mirrored":
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return max(len(cluster.get("worker", [])) + len(cluster.get("chief", [])),
               1) * max(settings.num_gpus, 1)
  return 1




def is_chief():
  """Whether this process writes checkpoints and results (Horovod rank 0)."""
  return (not command_line.horovod_running() or
          command_line.horovod().rank() == 0)


def _horovod_average(grads):
  """Averages every gradient over the Horovod processes."""
  hvd = command_line.horovod()
  return [None if g is None else hvd.allreduce(
      tf.convert_to_tensor(g), op=hvd.Average) for g in grads]


def input_shard(input_context=None, is_training=True):
  """(number of shards, this worker's shard) of the input records: one per
  input pipeline of a multi-worker strategy, or, in training, one per
  Horovod process."""
  if input_context is not None and input_context.num_input_pipelines > 1:
    return input_context.num_input_pipelines, input_context.input_pipeline_id
  if command_line.horovod_running() and is_training:
    return command_line.horovod().size(), command_line.horovod().rank()
  return 1, 0


def compute_type(settings):
  """The dtype scripts pass to `BertModel(compute_type=...)`."""
  if settings.precision == "fp16":
    return tf.float16
  if settings.precision == "bf16" and settings.bf16_implementation == "cast":
    return tf.bfloat16
  return tf.float32


def session_config(settings):
  """ConfigProto with the precision rewrite and XLA the flags ask for."""
  config = tf.ConfigProto(allow_soft_placement=True)
  if (settings.precision == "bf16" and
      settings.bf16_implementation == "grappler"):
    enable_onednn_bf16_rewrite(config)
  if settings.use_xla:
    config.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
    # On CPU what XLA compiles is TF_XLA_FLAGS' say: the scripts set
    # cpu_features.XLA_CPU_FLAGS before TensorFlow reads it.
    tf.logging.info("--use_xla: session-level XLA JIT, %s=%s",
                    cpu_features.XLA_FLAGS_ENV,
                    os.environ.get(cpu_features.XLA_FLAGS_ENV, "(unset)"))
  if settings.use_horovod:
    config.gpu_options.visible_device_list = str(
        command_line.horovod().local_rank())
  return config


# The rewrite's own lists keep Tanh in float32, which puts casts around the
# GELU and stops the remapper from fusing it into the matmul before it; in
# bfloat16 tanh loses nothing that matters (its output is in [-1, 1]).
_BF16_INFERLIST_ENV = "TF_AUTO_MIXED_PRECISION_GRAPH_REWRITE_INFERLIST_ADD"


def enable_onednn_bf16_rewrite(config):
  """Turns on the auto_mixed_precision_onednn_bfloat16 rewrite in `config`,
  with Tanh added to the ops it may run in bfloat16 (read from the
  environment when a session optimises its graph)."""
  config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
      rewriter_config_pb2.RewriterConfig.ON)
  listed = [op for op in os.environ.get(_BF16_INFERLIST_ENV, "").split(",")
            if op]
  if "Tanh" not in listed:
    os.environ[_BF16_INFERLIST_ENV] = ",".join(listed + ["Tanh"])
  return config


def create_train_op(settings, loss, learning_rate, num_train_steps,
                    num_warmup_steps):
  """`optimization.create_optimizer` with the optimiser, accumulation and
  loss scaling that the runtime flags ask for."""
  return optimization.create_optimizer(
      loss, learning_rate, num_train_steps, num_warmup_steps, settings.use_tpu,
      optimizer_name=settings.optimizer,
      num_accumulation_steps=settings.num_accumulation_steps,
      loss_scale="dynamic" if settings.precision == "fp16" else None,
      gradient_reducer=_horovod_average if settings.use_horovod else None,
      learning_rate_decay=settings.learning_rate_decay,
      adam_bias_correction=settings.adam_bias_correction)


def with_progress_intervals(settings, num_train_steps):
  """`settings` with --log_every_n_steps and --save_summary_steps resolved
  for a run of `num_train_steps` (None: not training): unset, every 5% of
  the run (so a short run has a curve and progress too), at most every
  `script_flags.MAX_PROGRESS_INTERVAL` steps."""
  interval = script_flags.MAX_PROGRESS_INTERVAL
  if num_train_steps:
    interval = max(1, min(interval,
                          num_train_steps // script_flags.PROGRESS_POINTS))
  changes = {name: interval
             for name in ("log_every_n_steps", "save_summary_steps")
             if settings.get(name) is None}
  return settings.replace(**changes) if changes else settings


def train_spec(settings, loss, learning_rate, num_train_steps,
               num_warmup_steps, scaffold_fn=None, training_hooks=None):
  """The TRAIN branch of every script's `model_fn`: the `TPUEstimatorSpec`
  that minimises `loss` with the optimiser of `settings`
  (`create_train_op`), its loss shown in the progress log (and any
  `training_hooks` of the script's own run)."""
  register_train_loss(loss)
  train_op = create_train_op(settings, loss, learning_rate, num_train_steps,
                             num_warmup_steps)
  return tf.estimator.tpu.TPUEstimatorSpec(
      mode=tf.estimator.ModeKeys.TRAIN, loss=loss, train_op=train_op,
      training_hooks=training_hooks, scaffold_fn=scaffold_fn)


def seed_dropout(settings):
  """With --seed, keys the dropout masks of the training graph being built
  (`modeling.set_dropout_seed`) by the seed, the global step, the
  micro-batch of an accumulation window and the replica, so that a run
  resumed from a checkpoint draws the masks the uninterrupted run drew: the
  stateful generator's state is in no checkpoint. Without --seed, dropout
  stays as random as the original's. `build_estimator` calls it before
  every TRAIN model_fn; call it first in a model_fn run otherwise."""
  if settings.seed is None:
    return None
  keys = [tf.train.get_or_create_global_step()]
  if settings.num_accumulation_steps > 1:
    # The micro-batches of one update share its step.
    keys.append(tf.math.floormod(optimization.accumulation_counter(),
                                 settings.num_accumulation_steps))
  if tf.distribute.has_strategy():
    keys.append(tf.distribute.get_replica_context().replica_id_in_sync_group)
  if command_line.horovod_running():
    keys.append(command_line.horovod().rank())
  return modeling.set_dropout_seed(settings.seed, *keys)


def _with_seeded_dropout(settings, model_fn):
  """`model_fn`, its training graphs' dropout keyed by --seed
  (`seed_dropout`); `model_fn` itself without --seed."""
  if settings.seed is None:
    return model_fn

  def seeded_model_fn(features, labels, mode, params):
    if mode == tf.estimator.ModeKeys.TRAIN:
      seed_dropout(settings)
    return model_fn(features, labels, mode, params)

  return seeded_model_fn


def _strategy(settings):
  if settings.distribution_strategy == "mirrored":
    if settings.num_gpus > 0:
      return tf.distribute.MirroredStrategy(
          devices=["/gpu:%d" % i for i in range(settings.num_gpus)])
    # NCCL is GPU-only, and the default all-reduce hangs on CPU devices.
    return tf.distribute.MirroredStrategy(
        devices=["/cpu:0"],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
  if settings.distribution_strategy == "multi_worker_mirrored":
    return tf.distribute.experimental.MultiWorkerMirroredStrategy()
  return None


# SavedModel export lives in serving.py; these names stay for callers that
# use them from here.
SERVING_INPUTS = serving.SERVING_INPUTS
check_export_dir = serving.check_export_dir
serving_input_receiver_fn = serving.serving_input_receiver_fn
export_saved_model = serving.export_saved_model


def build_estimator(settings, model_fn, output_dir, train_batch_size,
                    eval_batch_size=None, predict_batch_size=None):
  """A `TPUEstimator` configured from the shared flags.

  With `--use_tpu=False` (the default) it runs on the CPU or GPU, as the
  original did. With a `--distribution_strategy` it is a plain `Estimator`
  over that strategy, running the same `model_fn` (its `TPUEstimatorSpec`s are
  converted). `train_batch_size` is the global batch: each replica and each
  accumulation micro-step reads its share. With --seed, training graphs
  draw their dropout masks keyed by the seed and step (`seed_dropout`).
  """
  settings = with_progress_intervals(settings, None)
  micro_batch = train_batch_size // settings.num_accumulation_steps
  model_fn = _with_seeded_dropout(settings, model_fn)
  if settings.use_horovod:
    micro_batch //= command_line.horovod().size()
    if not is_chief():
      # Only rank 0 keeps checkpoints; the others train in a scratch dir.
      output_dir = os.path.join(output_dir, "horovod_rank_%d" %
                                command_line.horovod().rank())
  strategy = _strategy(settings)
  if strategy is not None:
    return _distributed_estimator(settings, model_fn, output_dir, strategy,
                                  micro_batch // num_replicas(settings),
                                  eval_batch_size, predict_batch_size)
  cluster = None
  if settings.use_tpu and settings.tpu_name:
    cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
        settings.tpu_name, zone=settings.tpu_zone,
        project=settings.gcp_project)
  run_config = tf.estimator.tpu.RunConfig(
      cluster=cluster,
      master=settings.master,
      model_dir=output_dir,
      save_checkpoints_steps=settings.save_checkpoints_steps,
      save_summary_steps=settings.save_summary_steps,
      keep_checkpoint_max=settings.keep_checkpoint_max,
      tf_random_seed=settings.seed,
      # TPUEstimator logs every ceil(n / iterations_per_loop) session runs,
      # i.e. every step off TPU; ThroughputHook logs there instead.
      log_step_count_steps=(settings.log_every_n_steps if settings.use_tpu
                            else None),
      session_config=session_config(settings),
      tpu_config=tf.estimator.tpu.TPUConfig(
          iterations_per_loop=settings.iterations_per_loop,
          num_shards=settings.num_tpu_cores,
          per_host_input_for_training=(
              tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2),
          tpu_job_name=settings.tpu_job_name))
  return tf.estimator.tpu.TPUEstimator(
      use_tpu=settings.use_tpu,
      model_fn=model_fn,
      config=run_config,
      train_batch_size=micro_batch,
      eval_batch_size=eval_batch_size,
      predict_batch_size=predict_batch_size,
      # An empty dict, not None: TPUEstimator adds batch_size to it, and
      # with None Estimator warns that the model_fn's params are not passed.
      params={},
      # Off TPU there is nothing to evaluate on (TPUEstimator warns).
      eval_on_tpu=settings.use_tpu,
      # Off TPU, export one CPU graph: tf.saved_model.load needs no tags.
      export_to_tpu=settings.use_tpu)


def _distributed_estimator(settings, model_fn, output_dir, strategy,
                           replica_batch,
                           eval_batch_size, predict_batch_size):
  """A plain Estimator over `strategy` that runs a TPUEstimator model_fn."""

  def estimator_model_fn(features, labels, mode, params):
    batch_size = {
        tf.estimator.ModeKeys.TRAIN: replica_batch,
        tf.estimator.ModeKeys.EVAL: eval_batch_size,
        tf.estimator.ModeKeys.PREDICT: predict_batch_size,
    }[mode]
    spec = model_fn(features, labels, mode, dict(params, batch_size=batch_size))
    if isinstance(spec, tf.estimator.tpu.TPUEstimatorSpec):
      spec = spec.as_estimator_spec()
    if mode == tf.estimator.ModeKeys.TRAIN and spec.loss is not None:
      # Estimator sums the replicas' losses; report their mean instead, the
      # loss of the global batch, comparable with a single-device run.
      replicas = tf.distribute.get_replica_context().num_replicas_in_sync
      spec = spec._replace(loss=spec.loss / float(replicas))
    return spec

  run_config = tf.estimator.RunConfig(
      model_dir=output_dir,
      save_checkpoints_steps=settings.save_checkpoints_steps,
      save_summary_steps=settings.save_summary_steps,
      keep_checkpoint_max=settings.keep_checkpoint_max,
      tf_random_seed=settings.seed,
      log_step_count_steps=None,  # ThroughputHook logs progress.
      session_config=session_config(settings),
      train_distribute=strategy)
  estimator = tf.estimator.Estimator(model_fn=estimator_model_fn,
                                     config=run_config, params={})
  return _PerModeBatchSize(
      estimator, {"train": replica_batch, "evaluate": eval_batch_size,
                  "predict": predict_batch_size})


class _PerModeBatchSize(object):
  """Wraps an Estimator so that each input_fn gets `params["batch_size"]` of
  its mode, as TPUEstimator's do; scripts' input functions work unchanged.

  Everything else is delegated to the Estimator.
  """

  def __init__(self, estimator, batch_sizes):
    self.estimator = estimator
    self.batch_sizes = batch_sizes

  def __getattr__(self, name):
    method = getattr(self.estimator, name)
    if name not in self.batch_sizes:
      return method
    batch_size = self.batch_sizes[name]

    def call(input_fn, *args, **kwargs):
      return method(_with_batch_size(input_fn, batch_size), *args, **kwargs)

    return call


def _with_batch_size(input_fn, batch_size):
  takes_context = "input_context" in inspect.signature(input_fn).parameters

  def wrapped(params, input_context=None):
    params = dict(params or {}, batch_size=batch_size)
    if takes_context:
      return input_fn(params, input_context=input_context)
    return input_fn(params)

  return wrapped


class NonFiniteLossError(UserError, RuntimeError):
  """Training stopped because the loss became NaN or infinite."""


class InputDataError(UserError):
  """An input file is corrupt or truncated, found while reading it."""


def train(settings, estimator, input_fn, max_steps, input_files=None,
          hooks=None, batch_size=None, progress_hook=None):
  """Trains to `max_steps`; multi-worker runs go through train_and_evaluate,
  which is how Estimator starts a MultiWorkerMirroredStrategy cluster.

  Off TPU, progress (steps/sec, examples/sec, loss, ETA) is logged every
  --log_every_n_steps and a summary written at the end (`ThroughputHook`);
  on TPU, TPUEstimator logs it. `batch_size` defaults to
  --train_batch_size; `progress_hook` is one made by `throughput_hook()`
  to go on with (training between evaluations). `input_files`, the files
  `input_fn` reads, are named if one is corrupt.

  With --seed, an `input_fn` of `tfrecord_input_fn_builder` resumes where the
  restored checkpoint's step left the data (`resumed_at`): a run killed and
  started again sees the batches the uninterrupted run would have seen.

  Raises:
    NonFiniteLossError: the loss became NaN or infinite; the step that
      produced it was not applied and no checkpoint of it was written.
    InputDataError: an input file is truncated or corrupt (TensorFlow finds
      it only when reading reaches the damage).
  """
  hooks = list(hooks or [])
  if not settings.use_tpu:
    hooks.append(progress_hook or
                 throughput_hook(settings, max_steps, batch_size))
  last = [h for h in hooks or () if isinstance(h, ThroughputHook)]
  input_fn = _resumed_input_fn(settings, input_fn, estimator)
  try:
    _train(settings, estimator, input_fn, max_steps, hooks)
  except tf.errors.DataLossError as e:
    step = last[0].last_step if last else None
    files = list(input_files or [])
    raise InputDataError(
        "Training stopped%s: an input file is corrupt or truncated (%s). "
        "Input files: %s. A file cut short, e.g. by an interrupted copy or "
        "write, cannot be read past the damage: copy or create it again. "
        "The checkpoints in %s are intact; a rerun resumes from the last." %
        (" after step %d" % step if step is not None else "",
         command_line.error_text(e),
         ", ".join(files[:5]) + (" and %d more" % (len(files) - 5)
                                 if len(files) > 5 else "") or "?",
         estimator.model_dir))
  except tf.errors.InvalidArgumentError as e:
    if optimization.NON_FINITE_LOSS_MESSAGE not in str(e.message):
      raise
    last = [h.last_step for h in last]
    step = "%d" % (last[0] + 1) if last and last[0] is not None else "?"
    raise NonFiniteLossError(
        "The training loss became NaN or infinite at step %s; training "
        "stopped before applying that step, and the last checkpoint in %s "
        "is from before it. Lower --learning_rate, check the input data, or "
        "use --precision=fp32." % (step, estimator.model_dir))


def throughput_hook(settings, max_steps, batch_size=None):
  """The `ThroughputHook` of the runtime flags, for `train`."""
  settings = with_progress_intervals(settings, max_steps)
  return ThroughputHook(
      batch_size or settings.train_batch_size, max_steps,
      settings.log_every_n_steps,
      settings.output_dir if is_chief() else None,
      summary_steps=settings.save_summary_steps)


def checkpoint_step(model_dir):
  """(global step, path) of the latest checkpoint in `model_dir`, or
  (0, None) without one."""
  path = tf.train.latest_checkpoint(model_dir) if model_dir else None
  if not path:
    return 0, None
  return int(tf.train.load_variable(path, tf.GraphKeys.GLOBAL_STEP)), path


def _resumed_input_fn(settings, input_fn, estimator):
  """`input_fn` skipping the data of the steps already made, with --seed
  (without one, the order of a rerun differs anyway)."""
  if settings.seed is None or not hasattr(input_fn, "resumed_at"):
    return input_fn
  model_dir = estimator.model_dir
  if command_line.horovod_running() and not is_chief():
    # Rank 0's checkpoint is the one every process starts from.
    model_dir = os.path.dirname(model_dir.rstrip("/"))
  step, _ = checkpoint_step(model_dir)
  if not step:
    return input_fn
  return input_fn.resumed_at(step, settings.num_accumulation_steps,
                             num_replicas(settings))


def _train(settings, estimator, input_fn, max_steps, hooks):
  if settings.use_horovod:
    # Every process starts from rank 0's initial weights.
    hooks = list(hooks or []) + [
        command_line.horovod().BroadcastGlobalVariablesHook(0)]
  if settings.distribution_strategy == "multi_worker_mirrored":
    # train_and_evaluate wants the Estimator itself, not the wrapper.
    input_fn = _with_batch_size(input_fn, estimator.batch_sizes["train"])
    tf.estimator.train_and_evaluate(
        estimator.estimator,
        tf.estimator.TrainSpec(input_fn=input_fn, max_steps=max_steps,
                               hooks=hooks),
        tf.estimator.EvalSpec(input_fn=input_fn, steps=1))
    return
  estimator.train(input_fn=input_fn, max_steps=max_steps, hooks=hooks)


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

  tf.logging.info("%d trainable variables, %d of them from %s (each listed "
                  "with --verbosity=1)", len(tvars),
                  sum(var.name in initialized for var in tvars),
                  init_checkpoint or "no checkpoint")
  # The original's listing, one line per variable: hundreds of lines.
  tf.logging.debug("**** Trainable Variables ****")
  for var in tvars:
    init_string = ", *INIT_FROM_CKPT*" if var.name in initialized else ""
    tf.logging.debug("  name = %s, shape = %s%s", var.name, var.shape,
                     init_string)
  return scaffold_fn


class ThroughputHook(tf.train.SessionRunHook):
  """Logs steps/sec, examples/sec, loss and ETA while training.

  Step numbers are the global step after the step ran, as checkpoints are
  named. The first step and the last are always logged, and every
  `every_n_steps` in between. Every `summary_steps` it also writes
  `global_step/sec` and `examples_per_sec` to TensorBoard in `output_dir`.

  At the end it logs a one-line JSON summary (prefixed `TRAINING_SUMMARY`)
  with the steps this run made, the global step reached, examples/sec (timed
  from the end of the first step, which includes graph optimisation), wall
  time and final loss, for benchmarks and users to parse, and writes it to
  `<output_dir>/training_summary.json`. One hook may serve several
  `estimator.train` calls of one run (training between evaluations): the
  summary then covers them all.
  """

  def __init__(self, batch_size, num_train_steps, every_n_steps=100,
               output_dir=None, summary_steps=None):
    self._batch_size = batch_size
    self._num_train_steps = num_train_steps
    self._every_n_steps = max(1, every_n_steps)
    self._output_dir = output_dir
    self._summary_steps = summary_steps
    self._start_step = None  # Global step before this run's first step.
    self._timed_steps = 0
    self._timed_wall = 0.0
    self._final_loss = None
    self._logged_step = None  # Of the last progress line, over all sessions.
    self.last_step = None

  def begin(self):
    self._global_step = tf.train.get_global_step()
    self._loss = _find_loss()
    self._last_time = None  # End of the previous step of this session.
    self._logged = None  # (time, step) of the last progress line.
    self._summarised = None  # (time, step) of the last speed summary.

  def after_create_session(self, session, coord):
    # Known before the first step runs, so a failure in it can be placed.
    self.last_step = int(session.run(self._global_step))
    if self._start_step is None:
      self._start_step = self.last_step

  def before_run(self, run_context):
    if self._loss is not None:
      return tf.train.SessionRunArgs({"loss": self._loss})
    return None

  def after_run(self, run_context, run_values):
    now = time.time()
    # After the update: the step just made, and the one a failure in the
    # next run would come after.
    step = int(run_context.session.run(self._global_step))
    results = run_values.results or {}
    if results.get("loss") is not None:
      self._final_loss = float(results["loss"])
    if self._last_time is None:
      # The first step of a session: no speed yet (graph optimisation).
      self._last_time = now
      self._logged = self._summarised = (now, step)
      if (self._logged_step is None or
          step - self._logged_step >= self._every_n_steps):
        self._log_progress(step, None)
      self.last_step = step
      return
    if step > self.last_step:
      self._timed_steps += step - self.last_step
    self._timed_wall += now - self._last_time
    self._last_time = now
    self.last_step = step
    if step - self._logged_step >= self._every_n_steps:
      self._log_progress(step, self._rate(self._logged, now, step))
      self._logged = (now, step)
    if (self._summary_steps and self._output_dir and
        step // self._summary_steps > self._summarised[1] // self._summary_steps):
      self._write_speed_summary(step, self._rate(self._summarised, now, step))
      self._summarised = (now, step)

  @staticmethod
  def _rate(since, now, step):
    return (step - since[1]) / max(now - since[0], 1e-9)

  def _log_progress(self, step, steps_per_sec):
    self._logged_step = step
    if steps_per_sec:
      remaining = max(self._num_train_steps - step, 0)
      speed = "%.2f steps/sec, %.1f examples/sec, " % (
          steps_per_sec, steps_per_sec * self._batch_size)
      eta = _format_duration(remaining / steps_per_sec)
    else:
      speed, eta = "", "?"
    tf.logging.info(
        "step %d/%d: %sloss = %s, ETA %s", step, self._num_train_steps, speed,
        "%.4f" % self._final_loss if self._final_loss is not None else "?",
        eta)

  def _write_speed_summary(self, step, steps_per_sec):
    summary = tf.Summary(value=[
        tf.Summary.Value(tag="global_step/sec", simple_value=steps_per_sec),
        tf.Summary.Value(tag="examples_per_sec",
                         simple_value=steps_per_sec * self._batch_size)])
    writer = tf.summary.FileWriterCache.get(self._output_dir)
    writer.add_summary(summary, step)

  def end(self, session):
    if self._last_time is None:
      return
    if self._logged_step != self.last_step:
      rate = self._rate(self._logged, self._last_time, self.last_step)
      self._log_progress(self.last_step, rate)
    if self._output_dir and self._summary_steps:
      tf.summary.FileWriterCache.get(self._output_dir).flush()
    summary = {
        "steps": self.last_step - self._start_step,
        "global_step": self.last_step,
        "num_train_steps": self._num_train_steps,
        "wall_time_sec": round(self._timed_wall, 3),
        "examples_per_sec": round(
            self._timed_steps * self._batch_size / max(self._timed_wall, 1e-9),
            3),
        "batch_size": self._batch_size,
        "final_loss": self._final_loss,
    }
    line = json.dumps(summary, sort_keys=True)
    tf.logging.info("TRAINING_SUMMARY %s", line)
    if self._output_dir:
      output_files.write_text_atomically(
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
