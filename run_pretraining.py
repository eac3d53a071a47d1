r"""Pre-trains BERT on masked LM and next-sentence prediction.

The input is the TFRecord files that `create_pretraining_data.py` writes. Run
it as the original:

  python run_pretraining.py --input_file=/tmp/tf_examples.tfrecord \
      --output_dir=/tmp/pretraining_output --do_train --do_eval \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
      --train_batch_size=32 --max_seq_length=128 --max_predictions_per_seq=20 \
      --num_train_steps=20 --num_warmup_steps=10 --learning_rate=2e-5

Outputs in `--output_dir`: checkpoints, whose variables carry the official
names (`bert/...` for the encoder, `cls/predictions/...` and
`cls/seq_relationship/...` for the heads), so `run_classifier.py`,
`run_squad.py` and `extract_features.py` can start from them;
`eval_results.txt` (`masked_lm_accuracy`, `masked_lm_loss`,
`next_sentence_accuracy`, `next_sentence_loss`, `loss`, `global_step`) and
`training_summary.json`.

`--max_seq_length` and `--max_predictions_per_seq` must be the values the data
was created with. The first record of every input file is read and checked
before any work starts, so a mismatch is an error naming the file rather than
a parse failure deep inside training.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import functools

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import input_pipeline
import modeling
import output_files
import runtime
import script_flags
import tf2_encoders
import task_description
import training_loop

FLAGS = flags.FLAGS

script_flags.define("model", "sequence", "output", "training",
                    "eval_during_training", "evaluation", "tpu", "performance")

# This script's own flags. Names that another script also defines (input_file
# in extract_features, ...) allow that, so that several scripts can be
# imported into one process (tests); run as a command nothing changes.
_SHARED = dict(allow_override=True)

flags.DEFINE_string(
    "input_file", None,
    "Input TFRecord files from create_pretraining_data.py: a path, a glob, or "
    "a comma-separated list of them. Every glob must match at least one "
    "file.", **_SHARED)

flags.DEFINE_integer(
    "max_predictions_per_seq", 20,
    "Maximum number of masked LM predictions per sequence. Must equal the "
    "--max_predictions_per_seq the data was created with.", **_SHARED)

flags.DEFINE_integer(
    "num_train_steps", 100000,
    "Number of training steps. A run resumed from --output_dir continues to "
    "this global step.", **_SHARED)

flags.DEFINE_integer(
    "num_warmup_steps", 10000,
    "Number of steps of linear learning-rate warm-up.", **_SHARED)

flags.DEFINE_integer(
    "max_eval_steps", 100,
    "Number of eval batches (the eval data repeats, so this many are always "
    "run).", **_SHARED)

# Model Garden's run_pretraining.py names: --input_files, --warmup_steps.
script_flags.define_spellings(
    ["input_file", "num_warmup_steps", "num_train_steps",
     "max_predictions_per_seq"])


def feature_spec(max_seq_length, max_predictions_per_seq):
  """The fixed-length features of one pre-training example, by name."""
  return {
      "input_ids": tf.FixedLenFeature([max_seq_length], tf.int64),
      "input_mask": tf.FixedLenFeature([max_seq_length], tf.int64),
      "segment_ids": tf.FixedLenFeature([max_seq_length], tf.int64),
      "masked_lm_positions":
          tf.FixedLenFeature([max_predictions_per_seq], tf.int64),
      "masked_lm_ids":
          tf.FixedLenFeature([max_predictions_per_seq], tf.int64),
      "masked_lm_weights":
          tf.FixedLenFeature([max_predictions_per_seq], tf.float32),
      "next_sentence_labels": tf.FixedLenFeature([1], tf.int64),
  }


def model_fn_builder(bert_config, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings, log_every_n_steps=100,
                     settings=None):
  """Returns the `model_fn` closure for TPUEstimator (TRAIN and EVAL only).

  Off TPU, training also logs the masked LM and next-sentence losses every
  `log_every_n_steps` steps (the first step included), so a run shows its
  losses separately as they fall. `settings` (a `script_flags.Settings`;
  default: the flags' defaults) chooses the precision and optimiser.
  """
  settings = settings or script_flags.Settings()

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """The `model_fn` for TPUEstimator."""
    runtime.log_features(features)

    if mode not in (tf.estimator.ModeKeys.TRAIN, tf.estimator.ModeKeys.EVAL):
      raise ValueError("Only TRAIN and EVAL modes are supported: %s" % mode)
    is_training = (mode == tf.estimator.ModeKeys.TRAIN)

    model = modeling.BertModel(
        config=bert_config,
        is_training=is_training,
        input_ids=features["input_ids"],
        input_mask=features["input_mask"],
        token_type_ids=features["segment_ids"],
        use_one_hot_embeddings=use_one_hot_embeddings,
        compute_type=runtime.compute_type(settings))

    (masked_lm_loss, masked_lm_example_loss,
     masked_lm_log_probs) = get_masked_lm_output(
         bert_config, model.get_sequence_output(), model.get_embedding_table(),
         features["masked_lm_positions"], features["masked_lm_ids"],
         features["masked_lm_weights"])
    (next_sentence_loss, next_sentence_example_loss,
     next_sentence_log_probs) = get_next_sentence_output(
         bert_config, model.get_pooled_output(),
         features["next_sentence_labels"])
    total_loss = masked_lm_loss + next_sentence_loss

    scaffold_fn = runtime.init_from_checkpoint(init_checkpoint, use_tpu)

    if is_training:
      hooks = []
      if not use_tpu:
        # On TPU the losses live on the device; a host hook cannot read them.
        hooks.append(_loss_logging_hook(masked_lm_loss, next_sentence_loss,
                                        log_every_n_steps))
      return runtime.train_spec(settings, total_loss, learning_rate,
                                num_train_steps, num_warmup_steps,
                                scaffold_fn, training_hooks=hooks)

    eval_metrics = (metric_fn, [
        masked_lm_example_loss, masked_lm_log_probs,
        features["masked_lm_ids"], features["masked_lm_weights"],
        next_sentence_example_loss, next_sentence_log_probs,
        features["next_sentence_labels"]
    ])
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, loss=total_loss, eval_metrics=eval_metrics,
        scaffold_fn=scaffold_fn)

  return model_fn


def _loss_logging_hook(masked_lm_loss, next_sentence_loss, every_n_steps):
  tensors = {
      "step": tf.train.get_or_create_global_step(),
      "masked_lm_loss": masked_lm_loss,
      "next_sentence_loss": next_sentence_loss,
  }

  def format_losses(values):
    return "step %d: masked_lm_loss = %.4f, next_sentence_loss = %.4f" % (
        values["step"], values["masked_lm_loss"],
        values["next_sentence_loss"])

  return tf.train.LoggingTensorHook(
      tensors, every_n_iter=max(1, every_n_steps), formatter=format_losses)


def metric_fn(masked_lm_example_loss, masked_lm_log_probs, masked_lm_ids,
              masked_lm_weights, next_sentence_example_loss,
              next_sentence_log_probs, next_sentence_labels):
  """Accuracy and mean loss of both tasks, as the original reports them.

  Padding predictions (weight 0) count for neither the masked LM accuracy nor
  its loss.
  """
  masked_lm_weights = tf.reshape(masked_lm_weights, [-1])
  masked_lm_predictions = tf.argmax(
      masked_lm_log_probs, axis=-1, output_type=tf.int32)
  next_sentence_predictions = tf.argmax(
      next_sentence_log_probs, axis=-1, output_type=tf.int32)
  return {
      "masked_lm_accuracy": tf.metrics.accuracy(
          labels=tf.reshape(masked_lm_ids, [-1]),
          predictions=masked_lm_predictions,
          weights=masked_lm_weights),
      "masked_lm_loss": tf.metrics.mean(
          values=tf.reshape(masked_lm_example_loss, [-1]),
          weights=masked_lm_weights),
      "next_sentence_accuracy": tf.metrics.accuracy(
          labels=tf.reshape(next_sentence_labels, [-1]),
          predictions=next_sentence_predictions),
      "next_sentence_loss": tf.metrics.mean(values=next_sentence_example_loss),
  }


def get_masked_lm_output(bert_config, input_tensor, output_weights, positions,
                         label_ids, label_weights):
  """The masked LM head and its loss.

  Args:
    bert_config: the model's `BertConfig`.
    input_tensor: float32 [batch_size, seq_length, hidden_size], the
      encoder's sequence output.
    output_weights: the [vocab_size, hidden_size] word embedding table; the
      output layer shares it with the input.
    positions: int32 [batch_size, max_predictions_per_seq], positions of the
      masked tokens (0 where a sequence has fewer predictions).
    label_ids: int32 [batch_size, max_predictions_per_seq], the original ids.
    label_weights: float32 [batch_size, max_predictions_per_seq], 1.0 for a
      real prediction and 0.0 for padding.

  Returns:
    (loss, per_example_loss, log_probs): the weighted mean loss, the loss of
    every prediction [batch_size * max_predictions_per_seq] and the log
    probabilities [batch_size * max_predictions_per_seq, vocab_size].
  """
  hidden = gather_indexes(input_tensor, positions)

  with tf.variable_scope("cls/predictions"):
    # One more non-linear layer before the output, as in pre-training of the
    # official checkpoints; fine-tuning does not use it.
    with tf.variable_scope("transform"):
      hidden = modeling.dense_layer(
          hidden,
          bert_config.hidden_size,
          activation=modeling.get_activation(bert_config.hidden_act),
          kernel_initializer=modeling.create_initializer(
              bert_config.initializer_range))
      hidden = modeling.layer_norm(hidden)

    # Only the bias belongs to the output layer; its weights are the input
    # embeddings.
    output_bias = tf.get_variable(
        "output_bias", shape=[bert_config.vocab_size],
        initializer=tf.zeros_initializer())
    logits = tf.nn.bias_add(
        tf.matmul(hidden, output_weights, transpose_b=True), output_bias)
    log_probs = tf.nn.log_softmax(logits, axis=-1)

    label_ids = tf.reshape(label_ids, [-1])
    label_weights = tf.reshape(label_weights, [-1])
    per_example_loss = -tf.gather(log_probs, label_ids, axis=1, batch_dims=1)
    # The small constant keeps a batch without any prediction from dividing
    # by zero.
    loss = (tf.reduce_sum(label_weights * per_example_loss) /
            (tf.reduce_sum(label_weights) + 1e-5))
  return (loss, per_example_loss, log_probs)


def get_next_sentence_output(bert_config, input_tensor, labels):
  """The next-sentence head: label 0 is "B follows A", 1 is "B is random".

  Returns:
    (loss, per_example_loss, log_probs) over the batch.
  """
  with tf.variable_scope("cls/seq_relationship"):
    output_weights = tf.get_variable(
        "output_weights", shape=[2, bert_config.hidden_size],
        initializer=modeling.create_initializer(bert_config.initializer_range))
    output_bias = tf.get_variable(
        "output_bias", shape=[2], initializer=tf.zeros_initializer())
    logits = tf.nn.bias_add(
        tf.matmul(input_tensor, output_weights, transpose_b=True), output_bias)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    labels = tf.reshape(labels, [-1])
    per_example_loss = -tf.gather(log_probs, labels, axis=1, batch_dims=1)
    loss = tf.reduce_mean(per_example_loss)
  return (loss, per_example_loss, log_probs)


def gather_indexes(sequence_tensor, positions):
  """The vectors at `positions` of each sequence, as one flat batch.

  Args:
    sequence_tensor: [batch_size, seq_length, width].
    positions: int32 [batch_size, num_positions], indexes into seq_length.

  Returns:
    [batch_size * num_positions, width]; row b * num_positions + i is
    `sequence_tensor[b, positions[b, i]]`.
  """
  (batch_size, seq_length, width) = modeling.get_shape_list(
      sequence_tensor, expected_rank=3)
  # Offsets into the flattened batch turn a per-sequence gather into one
  # plain gather, which every device supports.
  offsets = tf.reshape(tf.range(batch_size, dtype=tf.int32) * seq_length,
                       [-1, 1])
  flat_positions = tf.reshape(tf.cast(positions, tf.int32) + offsets, [-1])
  flat_sequence = tf.reshape(sequence_tensor, [batch_size * seq_length, width])
  return tf.gather(flat_sequence, flat_positions)


def input_fn_builder(input_files, max_seq_length, max_predictions_per_seq,
                     is_training, num_cpu_threads=4, deterministic=False):
  """Returns the `input_fn` closure for TPUEstimator.

  Training reads several shuffled files at once, interleaved, and shuffles
  records again. The interleaving follows the files' read speed unless
  `deterministic` (with --seed, so that runs repeat exactly). Evaluation
  reads the files in order. Both repeat (evaluation runs a fixed number of
  steps) and drop the last partial batch, since TPUs need fixed shapes.
  `num_cpu_threads` is the original's argument, no longer needed: tf.data
  chooses the parallelism.
  """
  del num_cpu_threads
  return input_pipeline.tfrecord_input_fn_builder(
      input_files, feature_spec(max_seq_length, max_predictions_per_seq),
      is_training, drop_remainder=True, interleave_files=True, repeat=True,
      deterministic=deterministic)


# The original's name for it, for code that imports it from here.
_decode_record = input_pipeline.decode_record


def expand_input_files(input_file):
  """The files that a comma-separated list of paths and globs names.

  Raises:
    ValueError: the list is empty, or one of its globs matches no file (a
      typo would otherwise silently drop part of the data).
  """
  patterns = [p.strip() for p in (input_file or "").split(",") if p.strip()]
  if not patterns:
    raise UserError("--input_file is required: the TFRecord files written by "
                     "create_pretraining_data.py.")
  input_files = []
  for pattern in patterns:
    matches = tf.io.gfile.glob(pattern)
    if not matches:
      raise UserError("--input_file pattern %r matches no file." % pattern)
    input_files.extend(sorted(matches))
  return input_files


def check_input_files(input_files, max_seq_length, max_predictions_per_seq,
                      vocab_size=None):
  """Checks the first record of every file against the flags.

  Args:
    input_files: list of TFRecord paths.
    max_seq_length: the expected length of input_ids, input_mask and
      segment_ids.
    max_predictions_per_seq: the expected length of the masked_lm_* features.
    vocab_size: if given, ids must be below it.

  Raises:
    ValueError: a file cannot be read, holds no record while no other file
      holds one, or its first record has a missing feature, a feature of the
      wrong type or length, or an id outside the vocabulary.
  """
  spec = feature_spec(max_seq_length, max_predictions_per_seq)
  num_with_records = 0
  for path in input_files:
    record = _first_record(path)
    if record is None:
      tf.logging.warning("Input file %s holds no examples.", path)
      continue
    num_with_records += 1
    try:
      example = tf.train.Example.FromString(record)
    except Exception as e:  # pylint: disable=broad-except
      raise UserError("Input file %s does not hold tf.train.Example records "
                       "(%s)." % (path, e))
    for name, feature in spec.items():
      _check_feature(path, example, name, feature)
    if vocab_size is not None:
      _check_ids(path, example, vocab_size)
  if not num_with_records:
    raise UserError("None of the %d input files holds an example: %s" %
                     (len(input_files), ", ".join(input_files[:5])))


def _first_record(path):
  try:
    for record in tf.io.tf_record_iterator(path):
      return record
  except tf.errors.OpError as e:
    raise UserError("Input file %s cannot be read as a TFRecord file: %s" %
                     (path, e.message))
  return None


# The flag that sets the length of each variable-length feature.
_LENGTH_FLAGS = {
    "input_ids": "max_seq_length",
    "input_mask": "max_seq_length",
    "segment_ids": "max_seq_length",
    "masked_lm_positions": "max_predictions_per_seq",
    "masked_lm_ids": "max_predictions_per_seq",
    "masked_lm_weights": "max_predictions_per_seq",
}


def _check_feature(path, example, name, feature):
  """Raises a ValueError saying what to change if `name` does not fit."""
  if name not in example.features.feature:
    raise UserError(
        "Input file %s has no feature %r: is it pre-training data from "
        "create_pretraining_data.py?" % (path, name))
  value = example.features.feature[name]
  kind = "float_list" if feature.dtype == tf.float32 else "int64_list"
  actual_kind = value.WhichOneof("kind")
  if actual_kind != kind:
    raise UserError("Input file %s: feature %r is a %s, expected a %s." %
                     (path, name, actual_kind or "empty feature", kind))
  length = len(getattr(value, kind).value)
  expected = feature.shape[0]
  if length == expected:
    return
  flag = _LENGTH_FLAGS.get(name)
  if flag is None:
    raise UserError("Input file %s: feature %r has %d values, expected %d." %
                     (path, name, length, expected))
  raise UserError(
      "Input file %s: feature %r has length %d but --%s=%d. The data was "
      "created with --%s=%d: pass --%s=%d here, or re-create the data with "
      "the value you want." % (path, name, length, flag, expected, flag,
                               length, flag, length))


def _check_ids(path, example, vocab_size):
  for name in ("input_ids", "masked_lm_ids"):
    ids = example.features.feature[name].int64_list.value
    largest = max(ids) if ids else 0
    if largest >= vocab_size:
      raise UserError(
          "Input file %s: %s holds id %d but vocab_size in --bert_config_file "
          "is %d. The data was created with a different vocab_file." %
          (path, name, largest, vocab_size))


def validate_flags(settings, bert_config):
  """Checks the settings before any work starts; raises UserError if wrong."""
  runtime.check_something_to_do(settings, "do_train", "do_eval")
  runtime.check_flags(settings, bert_config, settings.max_seq_length,
                      settings.train_batch_size, will_train=settings.do_train,
                      init_checkpoint=settings.init_checkpoint)
  if not 0 < settings.max_predictions_per_seq <= settings.max_seq_length:
    raise UserError("--max_predictions_per_seq=%d must be in [1, "
                    "--max_seq_length=%d]." %
                    (settings.max_predictions_per_seq,
                     settings.max_seq_length))


def main(_):
  settings = script_flags.from_flags()
  # A TF2 encoder (--hub_module_url, a TF2 --init_checkpoint) becomes an
  # original checkpoint, config and vocabulary; the rest of the run is as ever.
  settings = tf2_encoders.resolve_encoder(settings)
  bert_config = runtime.load_bert_config(settings.bert_config_file)
  validate_flags(settings, bert_config)
  input_files = expand_input_files(settings.input_file)
  tf.logging.info("*** Input Files ***")
  for input_file in input_files:
    tf.logging.info("  %s", input_file)
  check_input_files(input_files, settings.max_seq_length,
                    settings.max_predictions_per_seq, bert_config.vocab_size)
  best_metric = training_loop.check_flags(settings, EVAL_METRICS,
                                          "masked_lm_accuracy")
  output_files.prepare_output_dir(settings.output_dir,
                                  overwrite=settings.overwrite_output_dir)
  runtime.check_resume(settings, settings.output_dir)
  if settings.do_train:
    task_description.write(
        settings.output_dir, task_description.TaskDescription(
            kind="pretraining", max_seq_length=settings.max_seq_length,
            run_settings=runtime.run_settings(settings)))

  settings = runtime.with_progress_intervals(settings,
                                             settings.num_train_steps)
  model_fn = model_fn_builder(
      bert_config=bert_config,
      init_checkpoint=settings.init_checkpoint,
      learning_rate=settings.learning_rate,
      num_train_steps=settings.num_train_steps,
      num_warmup_steps=settings.num_warmup_steps,
      use_tpu=settings.use_tpu,
      use_one_hot_embeddings=settings.use_tpu,
      log_every_n_steps=settings.log_every_n_steps,
      settings=settings)
  estimator = runtime.build_estimator(
      settings, model_fn, settings.output_dir, settings.train_batch_size,
      settings.eval_batch_size)

  evaluate = training_loop.estimator_evaluation(functools.partial(
      evaluate_checkpoint, settings, estimator, input_files))
  if settings.do_train and runtime.training_needed(
      settings.output_dir, settings.num_train_steps, settings.init_checkpoint):
    tf.logging.info("***** Running training *****")
    tf.logging.info("  Batch size = %d", settings.train_batch_size)
    tf.logging.info("  Num steps = %d", settings.num_train_steps)
    train_input_fn = input_fn_builder(
        input_files=input_files,
        max_seq_length=settings.max_seq_length,
        max_predictions_per_seq=settings.max_predictions_per_seq,
        is_training=True,
        deterministic=settings.seed is not None)
    training_loop.train_and_evaluate(
        settings, estimator, train_input_fn, settings.num_train_steps,
        evaluate=evaluate, metric=best_metric, input_files=input_files)

  # With Horovod, rank 0 alone evaluates and writes the results.
  if settings.do_eval and runtime.is_chief():
    result = evaluate(training_loop.best_checkpoint(settings.output_dir))
    output_files.write_eval_results(settings.output_dir, result)


# What evaluation reports (besides `loss` and `global_step`).
EVAL_METRICS = ("masked_lm_accuracy", "masked_lm_loss",
                "next_sentence_accuracy", "next_sentence_loss")


def evaluate_checkpoint(settings, estimator, input_files,
                        checkpoint_path=None):
  """The MLM and NSP metrics of `checkpoint_path` (default: the last) over
  --max_eval_steps batches of `input_files`."""
  tf.logging.info("***** Running evaluation *****")
  tf.logging.info("  Batch size = %d", settings.eval_batch_size)
  tf.logging.info("  Num steps = %d", settings.max_eval_steps)
  eval_input_fn = input_fn_builder(
      input_files=input_files,
      max_seq_length=settings.max_seq_length,
      max_predictions_per_seq=settings.max_predictions_per_seq,
      is_training=False)
  return estimator.evaluate(
      input_fn=eval_input_fn, steps=settings.max_eval_steps,
      checkpoint_path=checkpoint_path,
      name=training_loop.evaluation_name(settings.output_dir,
                                         checkpoint_path))


if __name__ == "__main__":
  flags.mark_flag_as_required("input_file")
  flags.mark_flag_as_required("bert_config_file")
  flags.mark_flag_as_required("output_dir")
  command_line.run(main, script_flags.grouped_help)
