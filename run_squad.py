# coding=utf-8
r"""Fine-tunes BERT for extractive question answering on SQuAD 1.1 and 2.0.

Run it as the original:

  python run_squad.py --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
      --do_train --train_file=$SQUAD_DIR/train-v1.1.json \
      --do_predict --predict_file=$SQUAD_DIR/dev-v1.1.json \
      --train_batch_size=12 --learning_rate=3e-5 --num_train_epochs=2.0 \
      --max_seq_length=384 --doc_stride=128 --output_dir=/tmp/squad_base/

For SQuAD 2.0 add `--version_2_with_negative` (and tune
`--null_score_diff_threshold` on the dev set).

A paragraph longer than one input is read through overlapping windows of
`max_seq_length` tokens, `doc_stride` tokens apart; each token's answer scores
are taken from the window where it has the most context on both sides.

Outputs in `--output_dir`: checkpoints, `train.tf_record`, `eval.tf_record`,
`predictions.json` (question id -> answer text), `nbest_predictions.json`
(the `n_best_size` best answers of each question with probabilities and
logits) and, with `--version_2_with_negative`, `null_odds.json` (question id ->
no-answer score minus best answer score). When `--predict_file` holds gold
answers (a dev set), the exact match and F1 of the official evaluation are
also computed, logged and written to `eval_results.json`.

Data converted once (create_finetuning_data.py --fine_tuning_task_type=squad,
this project's or Model Garden's) trains as Model Garden's run_squad.py
reads it: `--input_meta_data_path` and `--train_data_path` instead of
`--train_file`, no tokenising for training, the number of steps from the
meta data's `train_data_size` (windows). `--max_seq_length`,
`--doc_stride`, `--max_query_length` and `--version_2_with_negative` not
given are the records'; given, they must be. Prediction and evaluation read
`--predict_file` as ever (answers are text of its paragraphs), so
`--vocab_file` is needed only then.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import os

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import finetuning_data
import input_pipeline
import modeling
import output_files
import record_cache
import runtime
import serving
import task_description
import script_flags
import tf2_encoders
import squad_evaluate
import tokenization
import training_loop

FLAGS = flags.FLAGS

# This script's defaults: of its own flags, and of `max_seq_length`, which
# differs from the group's. `default_settings()` holds them for callers
# without flags (the original's functions read them from FLAGS).
DEFAULTS = {
    "max_seq_length": 384,
    "train_file": None,
    "predict_file": None,
    "doc_stride": 128,
    "max_query_length": 64,
    "n_best_size": 20,
    "max_answer_length": 30,
    "verbose_logging": False,
    "version_2_with_negative": False,
    "null_score_diff_threshold": 0.0,
}

script_flags.define("model", "tf2_encoder", "sequence", "output", "tokenizer",
                    "special_tokens", "training", "eval_during_training",
                    "epoch", "prediction", "tpu", "performance", "bucketing",
                    "export", "finetuning_data",
                    max_seq_length=DEFAULTS["max_seq_length"])

# This script's own flags. Names that another script also defines allow
# that, so that several scripts can be imported into one process (tests).

flags.DEFINE_string("train_file", DEFAULTS["train_file"],
                    "SQuAD json for training. E.g., train-v1.1.json. Not with "
                    "--input_meta_data_path, whose --train_data_path records "
                    "are trained on instead.",
    allow_override=True)

flags.DEFINE_string(
    "predict_file", DEFAULTS["predict_file"],
    "SQuAD json for predictions. E.g., dev-v1.1.json or test-v1.1.json. If "
    "it holds gold answers, EM/F1 are written to eval_results.json.",
    allow_override=True)

flags.DEFINE_integer(
    "doc_stride", DEFAULTS["doc_stride"],
    "When splitting up a long document into chunks, how much stride to "
    "take between chunks. Must be smaller than max_seq_length - "
    "max_query_length - 3 so that consecutive chunks overlap. With "
    "--input_meta_data_path, default: the records'.",
    allow_override=True)

flags.DEFINE_integer(
    "max_query_length", DEFAULTS["max_query_length"],
    "The maximum number of tokens for the question. Questions longer than "
    "this will be truncated to this length. With --input_meta_data_path, "
    "default: the records'.",
    allow_override=True)

flags.DEFINE_integer(
    "n_best_size", DEFAULTS["n_best_size"],
    "The total number of n-best predictions to generate in the "
    "nbest_predictions.json output file.",
    allow_override=True)

flags.DEFINE_integer(
    "max_answer_length", DEFAULTS["max_answer_length"],
    "The maximum length of an answer that can be generated. This is needed "
    "because the start and end predictions are not conditioned on one another.",
    allow_override=True)

flags.DEFINE_bool(
    "verbose_logging", DEFAULTS["verbose_logging"],
    "If true, all of the warnings related to data processing will be printed. "
    "A number of warnings are expected for a normal SQuAD evaluation.",
    allow_override=True)

flags.DEFINE_bool(
    "version_2_with_negative", DEFAULTS["version_2_with_negative"],
    "If true, the SQuAD examples contain some that do not have an answer. "
    "With --input_meta_data_path, default: the records'.",
    allow_override=True)

flags.DEFINE_float(
    "null_score_diff_threshold", DEFAULTS["null_score_diff_threshold"],
    "If null_score - best_non_null is greater than the threshold predict null.",
    allow_override=True)

# SQuAD windows and post-processing are library modules, which the predictor
# (predictor.py) shares; their names stay importable from here.
# pylint: disable=g-multiple-import,unused-import
from squad_windows import (
    FIRST_UNIQUE_ID, NUM_EXAMPLES_TO_LOG, LOG_EVERY_N_EXAMPLES, DocSpan,
    InputFeatures, SquadExample, convert_examples_to_features,
    make_doc_spans, split_paragraph, tokenize_document, _check_is_max_context,
    _improve_answer_span, _is_whitespace, _max_context_span_indexes)
from squad_postprocess import RawResult, _compute_softmax, _get_best_indexes
# pylint: enable=g-multiple-import,unused-import
import squad_postprocess


def default_settings():
  """The settings of a run with this script's default flags (for callers
  that pass none: the original's functions read the flags instead)."""
  return script_flags.Settings(**DEFAULTS)


def _setting(settings, name, value=None):
  """`value` if given, else setting `name` of `settings` (default:
  `default_settings()`), which the original's functions read as a flag.

  `read_squad_examples` and `write_predictions` take
  --version_2_with_negative, --null_score_diff_threshold and
  --verbose_logging from the run's settings, as the original's read the
  flags, unless the caller passes them.
  """
  if value is not None:
    return value
  return (settings or default_settings()).get(name, DEFAULTS[name])


# Reading SQuAD files and writing their windows' records is a module of
# its own, below the scripts (create_finetuning_data.py does it too); the
# names stay importable from here.
# pylint: disable=g-multiple-import,unused-import
from squad_data import (
    ReadStats, load_squad_json, _require_field, _iter_paragraphs,
    _training_answer, _answer_word_span, read_squad_examples, FeatureWriter,
    convert_to_tfrecord)
# pylint: enable=g-multiple-import,unused-import
import squad_data


# ---------------------------------------------------------------------------
# Model.
# ---------------------------------------------------------------------------


def create_model(bert_config, is_training, input_ids, input_mask, segment_ids,
                 use_one_hot_embeddings, compute_type=tf.float32):
  """BERT's sequence output through one [2, hidden] layer: start/end logits.

  The head's variables are `cls/squad/output_weights` [2, hidden] and
  `cls/squad/output_bias` [2], the names of the released SQuAD checkpoints.

  Returns:
    (start_logits, end_logits), each float32 [batch_size, seq_length].
  """
  model = modeling.BertModel(
      config=bert_config,
      is_training=is_training,
      input_ids=input_ids,
      input_mask=input_mask,
      token_type_ids=segment_ids,
      use_one_hot_embeddings=use_one_hot_embeddings,
      compute_type=compute_type)

  final_hidden = model.get_sequence_output()
  batch_size, seq_length, hidden_size = modeling.get_shape_list(
      final_hidden, expected_rank=3)

  output_weights = tf.get_variable(
      "cls/squad/output_weights", [2, hidden_size],
      initializer=tf.truncated_normal_initializer(stddev=0.02))
  output_bias = tf.get_variable(
      "cls/squad/output_bias", [2], initializer=tf.zeros_initializer())

  final_hidden_matrix = tf.reshape(final_hidden,
                                   [batch_size * seq_length, hidden_size])
  logits = tf.matmul(final_hidden_matrix, output_weights, transpose_b=True)
  logits = tf.nn.bias_add(logits, output_bias)
  logits = tf.reshape(logits, [batch_size, seq_length, 2])
  start_logits, end_logits = tf.unstack(logits, axis=2)
  return start_logits, end_logits


def span_loss(logits, positions):
  """Mean cross-entropy of the true positions under softmax over the input."""
  seq_length = modeling.get_shape_list(logits)[1]
  one_hot_positions = tf.one_hot(positions, depth=seq_length, dtype=tf.float32)
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  return -tf.reduce_mean(tf.reduce_sum(one_hot_positions * log_probs, axis=-1))


def model_fn_builder(bert_config, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings, settings=None):
  """Returns the `model_fn` closure for TPUEstimator (TRAIN and PREDICT).

  `settings` (default: the defaults) give the precision and the optimiser.
  """
  settings = settings or default_settings()

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """The `model_fn` for TPUEstimator."""
    runtime.log_features(features)

    is_training = (mode == tf.estimator.ModeKeys.TRAIN)
    start_logits, end_logits = create_model(
        bert_config=bert_config,
        is_training=is_training,
        input_ids=features["input_ids"],
        input_mask=features["input_mask"],
        segment_ids=features["segment_ids"],
        use_one_hot_embeddings=use_one_hot_embeddings,
        compute_type=runtime.compute_type(settings))

    scaffold_fn = runtime.init_from_checkpoint(init_checkpoint, use_tpu)

    if mode == tf.estimator.ModeKeys.TRAIN:
      total_loss = (span_loss(start_logits, features["start_positions"]) +
                    span_loss(end_logits, features["end_positions"])) / 2.0
      return runtime.train_spec(settings, total_loss, learning_rate,
                                num_train_steps, num_warmup_steps, scaffold_fn)

    if mode == tf.estimator.ModeKeys.PREDICT:
      predictions = {"start_logits": start_logits, "end_logits": end_logits}
      # A SavedModel's serving inputs (runtime.export_saved_model) have no ids.
      if "unique_ids" in features:
        predictions["unique_ids"] = features["unique_ids"]
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, predictions=predictions, scaffold_fn=scaffold_fn)

    raise ValueError("Only TRAIN and PREDICT modes are supported: %s" % mode)

  return model_fn


def input_fn_builder(input_file, seq_length, is_training, drop_remainder,
                     bucket_by_length=False):
  """An `input_fn` over TFRecord files written by `FeatureWriter` (a path or
  a list of paths).

  Training reads only the features the loss needs, so that records of Model
  Garden's squad_lib, which add `paragraph_mask`, `class_index` and
  `is_impossible`, train as this project's do; prediction reads
  `unique_ids` too. `bucket_by_length` (CPU/GPU, see
  `input_pipeline.batch_examples`) is for training: `train` uses it,
  prediction does not (see `predict`).
  """
  name_to_features = {
      "input_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.io.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.io.FixedLenFeature([seq_length], tf.int64),
  }
  if is_training:
    name_to_features["start_positions"] = tf.io.FixedLenFeature([], tf.int64)
    name_to_features["end_positions"] = tf.io.FixedLenFeature([], tf.int64)
  else:
    name_to_features["unique_ids"] = tf.io.FixedLenFeature([], tf.int64)
  return input_pipeline.tfrecord_input_fn_builder(input_file, name_to_features,
                                           is_training, drop_remainder,
                                           bucket_by_length=bucket_by_length)


# ---------------------------------------------------------------------------
# From logits to answers (squad_postprocess), with this script's settings.
# ---------------------------------------------------------------------------


def compute_predictions(all_examples, all_features, all_results, n_best_size,
                        max_answer_length, do_lower_case,
                        version_2_with_negative=None,
                        null_score_diff_threshold=None, verbose_logging=None,
                        settings=None):
  """`squad_postprocess.compute_predictions`; arguments left None take the
  values of the settings of the same names (`settings` default: the
  defaults)."""
  return squad_postprocess.compute_predictions(
      all_examples, all_features, all_results, n_best_size,
      max_answer_length, do_lower_case,
      _setting(settings, "version_2_with_negative", version_2_with_negative),
      _setting(settings, "null_score_diff_threshold",
               null_score_diff_threshold),
      _setting(settings, "verbose_logging", verbose_logging))


def get_final_text(pred_text, orig_text, do_lower_case, verbose_logging=None,
                   settings=None):
  """`squad_postprocess.get_final_text`, `verbose_logging` left None from
  `settings` (default: the defaults)."""
  return squad_postprocess.get_final_text(
      pred_text, orig_text, do_lower_case,
      _setting(settings, "verbose_logging", verbose_logging))


def write_predictions(all_examples, all_features, all_results, n_best_size,
                      max_answer_length, do_lower_case, output_prediction_file,
                      output_nbest_file, output_null_log_odds_file,
                      version_2_with_negative=None,
                      null_score_diff_threshold=None, verbose_logging=None,
                      settings=None):
  """Writes predictions.json, nbest_predictions.json and (2.0) null odds.

  See `compute_predictions`. Each file is written atomically.
  """
  version_2_with_negative = _setting(settings, "version_2_with_negative",
                                     version_2_with_negative)
  null_score_diff_threshold = _setting(settings, "null_score_diff_threshold",
                                       null_score_diff_threshold)
  verbose_logging = _setting(settings, "verbose_logging", verbose_logging)
  tf.logging.info("Writing predictions to: %s", output_prediction_file)
  tf.logging.info("Writing nbest to: %s", output_nbest_file)
  predictions, nbest, null_odds = compute_predictions(
      all_examples, all_features, all_results, n_best_size, max_answer_length,
      do_lower_case, version_2_with_negative, null_score_diff_threshold,
      verbose_logging)
  output_files.write_text_atomically(output_prediction_file,
                                json.dumps(predictions, indent=4) + "\n")
  output_files.write_text_atomically(output_nbest_file,
                                json.dumps(nbest, indent=4) + "\n")
  if version_2_with_negative:
    output_files.write_text_atomically(output_null_log_odds_file,
                                  json.dumps(null_odds, indent=4) + "\n")
  return predictions


# ---------------------------------------------------------------------------
# Evaluation and the script.
# ---------------------------------------------------------------------------


def evaluate_predictions(predict_file, prediction_file, null_odds_file=None):
  """EM/F1 of `prediction_file` against the gold answers of `predict_file`.

  The official SQuAD 1.1 or 2.0 evaluation (`squad_evaluate`); for 2.0 the
  null odds serve as the no-answer probabilities, as in the original's
  README.
  """
  return squad_evaluate.evaluate(predict_file, prediction_file,
                                 na_prob_file=null_odds_file)


def validate_flags_or_throw(bert_config, settings=None):
  """Checks the settings (default: the defaults) before any work starts;
  raises UserError if wrong."""
  settings = settings or default_settings()
  runtime.check_something_to_do(settings, "do_train", "do_predict",
                                "export_dir")
  records = bool(settings.get("input_meta_data_path"))
  if settings.do_train and not settings.train_file and not records:
    raise UserError(
        "If `do_train` is True, then `train_file` must be specified "
        "(--train_file=train-v1.1.json), or the records of "
        "create_finetuning_data.py (--input_meta_data_path, "
        "--train_data_path).")
  if settings.do_predict and not settings.predict_file:
    raise UserError(
        "If `do_predict` is True, then `predict_file` must be specified "
        "(--predict_file=dev-v1.1.json).")
  for name in ("train_file", "predict_file"):
    path = getattr(settings, name)
    wanted = (settings.do_train and not records if name == "train_file"
              else settings.do_predict)
    if wanted and not tf.io.gfile.exists(path):
      raise UserError("--%s=%s does not exist." % (name, path))

  runtime.check_flags(settings, bert_config, settings.max_seq_length,
                      settings.train_batch_size, settings.do_train,
                      settings.export_dir, settings.output_dir,
                      init_checkpoint=settings.init_checkpoint)
  if settings.max_query_length < 1:
    raise UserError("--max_query_length must be positive, not %d." %
                    settings.max_query_length)
  if settings.max_seq_length <= settings.max_query_length + 3:
    raise UserError(
        "The max_seq_length (%d) must be greater than max_query_length "
        "(%d) + 3" % (settings.max_seq_length, settings.max_query_length))
  max_tokens_for_doc = (settings.max_seq_length - settings.max_query_length -
                        3)
  if settings.doc_stride < 1 or settings.doc_stride >= max_tokens_for_doc:
    raise UserError(
        "--doc_stride=%d must be at least 1 and smaller than --max_seq_length "
        "- --max_query_length - 3 = %d - %d - 3 = %d, the paragraph tokens "
        "that fit in one window; otherwise consecutive windows do not overlap "
        "and answers across a window boundary are lost. Lower --doc_stride or "
        "--max_query_length, or raise --max_seq_length." %
        (settings.doc_stride, settings.max_seq_length,
         settings.max_query_length, max_tokens_for_doc))
  for name in ("n_best_size", "max_answer_length", "train_batch_size",
               "predict_batch_size"):
    if getattr(settings, name) < 1:
      raise UserError("--%s must be positive, not %d." %
                      (name, getattr(settings, name)))
  runtime.check_trained_model(settings, ("do_predict",))


def read_train_examples(settings):
  """Reads --train_file, shuffled; returns (examples, ReadStats)."""
  return squad_data.read_train_examples(settings.train_file, settings)


# The version of the training records' features in their key
# (`record_cache`): bumped when the conversion of the same examples and
# settings changes, so that records a run wrote before are converted again.
RECORD_FORMAT = "run_squad/1"


def write_train_features(settings, tokenizer, train_examples):
  """Writes train.tf_record, unless a run wrote it from the same examples,
  tokenizer and settings before (`record_cache`, its key in
  train.tf_record.key); returns (its path, number of features).

  eval.tf_record is written every run: prediction needs the features
  themselves (their token maps), not only the records.
  """
  train_file = os.path.join(settings.output_dir, "train.tf_record")
  key = record_cache.conversion_key(
      RECORD_FORMAT, train_examples, tokenizer,
      max_seq_length=settings.max_seq_length, doc_stride=settings.doc_stride,
      max_query_length=settings.max_query_length,
      version_2_with_negative=bool(settings.version_2_with_negative))
  counts = record_cache.convert_once(train_file, key, lambda: {
      "num_features": convert_to_tfrecord(settings, train_examples, tokenizer,
                                          train_file, is_training=True)})
  return train_file, counts["num_features"]


def prepare_predictions(settings, tokenizer):
  """Reads --predict_file and writes its features to eval.tf_record once.

  Returns:
    (stats, examples, features, input_fn) for `predict`.
  """
  stats = ReadStats()
  eval_examples = read_squad_examples(settings.predict_file,
                                      is_training=False, stats=stats,
                                      settings=settings)
  if not eval_examples:
    raise UserError("--predict_file=%s has no questions." %
                    settings.predict_file)
  if stats.num_impossible and not settings.version_2_with_negative:
    tf.logging.warning(
        "--predict_file has %d unanswerable (is_impossible) questions but "
        "--version_2_with_negative is off: every question gets an answer.",
        stats.num_impossible)

  eval_features = []
  eval_file = os.path.join(settings.output_dir, "eval.tf_record")
  num_features = convert_to_tfrecord(settings, eval_examples, tokenizer,
                                     eval_file, is_training=False,
                                     output_fn=eval_features.append)
  tf.logging.info("***** Running predictions *****")
  tf.logging.info("  Num orig examples = %d", len(eval_examples))
  tf.logging.info("  Num split examples = %d", num_features)
  tf.logging.info("  Batch size = %d", settings.predict_batch_size)

  # Padded to --max_seq_length even with --bucket_by_length: the n-best
  # search ranks every position's logit, padding included (as the original
  # does), so logits cut to a batch's longest window could change answers.
  predict_input_fn = input_fn_builder(
      input_file=eval_file,
      seq_length=settings.max_seq_length,
      is_training=False,
      drop_remainder=False)
  return stats, eval_examples, eval_features, predict_input_fn


def predict(settings, estimator, tokenizer, checkpoint_path=None,
            prepared=None):
  """Predicts on --predict_file with `checkpoint_path` (default: the last);
  writes the predictions and, with gold answers, eval_results.json.
  `prepared` is a `prepare_predictions` result to reuse. Returns (stats,
  eval result or None)."""
  stats, eval_examples, eval_features, predict_input_fn = (
      prepared or prepare_predictions(settings, tokenizer))
  all_results = []
  for result in estimator.predict(predict_input_fn,
                                  yield_single_examples=True,
                                  checkpoint_path=checkpoint_path):
    if len(all_results) % 1000 == 0:
      tf.logging.info("Processing example: %d", len(all_results))
    all_results.append(RawResult(
        unique_id=int(result["unique_ids"]),
        start_logits=[float(x) for x in result["start_logits"].flat],
        end_logits=[float(x) for x in result["end_logits"].flat]))

  output_dir = settings.output_dir
  output_prediction_file = os.path.join(output_dir, "predictions.json")
  output_nbest_file = os.path.join(output_dir, "nbest_predictions.json")
  output_null_log_odds_file = os.path.join(output_dir, "null_odds.json")
  write_predictions(eval_examples, eval_features, all_results,
                    settings.n_best_size, settings.max_answer_length,
                    settings.do_lower_case, output_prediction_file,
                    output_nbest_file, output_null_log_odds_file,
                    settings=settings)

  if not stats.has_answers:
    tf.logging.info("--predict_file has no gold answers: no evaluation.")
    return stats, None
  result = evaluate_predictions(
      settings.predict_file, output_prediction_file,
      output_null_log_odds_file if settings.version_2_with_negative else None)
  tf.logging.info("***** Eval results *****")
  for key, value in result.items():
    tf.logging.info("  %s = %s", key, value)
  write_eval_results(output_dir, result)
  return stats, result


def write_eval_results(directory, result):
  """eval_results.json: the official evaluation's numbers."""
  output_files.write_text_atomically(
      os.path.join(directory, "eval_results.json"),
      json.dumps(result, indent=2) + "\n")


# The official evaluation's numbers (v2.0 adds HasAns_*, NoAns_*, best_*).
EVAL_METRICS_V1 = ("exact_match", "f1")
EVAL_METRICS_V2 = ("exact", "f1", "total", "HasAns_exact", "HasAns_f1",
                   "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total",
                   "best_exact", "best_exact_thresh", "best_f1",
                   "best_f1_thresh")


def check_evaluation_flags(settings):
  """The evaluation settings' checks; returns the best-checkpoint metric.
  Evaluation during training predicts on --predict_file, which must hold
  answers (read now, before any work)."""
  no_dev = None
  if settings.do_train and settings.eval_every_n_steps > 0:
    predict_file = settings.predict_file
    if not predict_file or not tf.io.gfile.exists(predict_file):
      no_dev = "--predict_file=%s does not exist." % predict_file
    else:
      stats = ReadStats()
      read_squad_examples(predict_file, is_training=False, stats=stats,
                          settings=settings)
      if not stats.has_answers:
        no_dev = ("--predict_file=%s has no answers to evaluate against." %
                  predict_file)
  names = (EVAL_METRICS_V2 if settings.version_2_with_negative
           else EVAL_METRICS_V1)
  return training_loop.check_flags(settings, names, "f1", no_dev)


def read_training_records(settings, bert_config):
  """(settings, a `finetuning_data.ConvertedData` or None): with
  --input_meta_data_path, the records of --train_data_path to train on
  (when training) and the settings of their windows (`max_seq_length`,
  `doc_stride`, `max_query_length`, `version_2_with_negative`: the records'
  where the flag is not given). Prediction reads --predict_file as ever.

  Raises:
    UserError: --train_file beside the records, --eval_data_path or
      --predict_data_path (SQuAD predicts from --predict_file), or meta data
      that disagree with the flags or the model.
  """
  path = settings.get("input_meta_data_path")
  if path:
    for flag in ("eval_data_path", "predict_data_path"):
      if settings.get(flag):
        raise UserError(
            "--%s=%s: run_squad.py predicts and evaluates on the SQuAD JSON "
            "of --predict_file (answers are text of its paragraphs), not on "
            "records; drop the flag." % (flag, settings.get(flag)))
    if settings.do_train and settings.train_file:
      raise UserError(
          "--train_file=%s and --input_meta_data_path=%s: give one of them, "
          "the questions of --train_file or the records of "
          "--train_data_path." % (settings.train_file, path))
  return finetuning_data.read_converted_data(
      settings, "run_squad.py", train=settings.do_train,
      bert_config=bert_config,
      defaults={name: DEFAULTS[name]
                for name in finetuning_data.RECORD_SETTINGS})


def needs_tokenizer(settings, records):
  """Whether the run tokenises text: anything but training on converted
  records (prediction reads --predict_file; an export keeps the
  vocabulary)."""
  return (records is None or settings.do_predict or settings.export_dir or
          (settings.do_train and settings.eval_every_n_steps > 0))


def main(_):
  settings = script_flags.from_flags()
  # A TF2 encoder (--hub_module_url, a TF2 --init_checkpoint) becomes an
  # original checkpoint, config and vocabulary; the rest of the run is as ever.
  settings = tf2_encoders.resolve_encoder(settings)
  bert_config = runtime.load_bert_config(settings.bert_config_file)
  # Data converted once (--input_meta_data_path) in place of --train_file.
  settings, records = read_training_records(settings, bert_config)
  validate_flags_or_throw(bert_config, settings)
  tokenizer = (runtime.load_tokenizer(settings)
               if needs_tokenizer(settings, records) else None)
  best_metric = check_evaluation_flags(settings)
  output_files.prepare_output_dir(settings.output_dir,
                                  overwrite=settings.overwrite_output_dir)
  runtime.check_resume(settings, settings.output_dir)
  if settings.do_train:
    task_description.write(settings.output_dir, squad_description(
        settings, run_settings=runtime.run_settings(settings)))

  train_examples = None
  train_stats = None
  num_train_steps = None
  num_warmup_steps = None
  if settings.do_train and records is not None:
    # Model Garden's count: the records' windows (train_data_size).
    num_train_steps, num_warmup_steps = runtime.epoch_schedule(
        settings, len(records.train),
        "--train_data_path=%s" % settings.train_data_path)
  elif settings.do_train:
    train_examples, train_stats = read_train_examples(settings)
    num_train_steps, num_warmup_steps = runtime.epoch_schedule(
        settings, len(train_examples), "--train_file=%s" % settings.train_file)

  settings = runtime.with_progress_intervals(settings, num_train_steps)
  model_fn = model_fn_builder(
      bert_config=bert_config,
      init_checkpoint=settings.init_checkpoint,
      learning_rate=settings.learning_rate,
      num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps,
      use_tpu=settings.use_tpu,
      use_one_hot_embeddings=settings.use_tpu,
      settings=settings)
  estimator = runtime.build_estimator(
      settings, model_fn, settings.output_dir, settings.train_batch_size,
      predict_batch_size=settings.predict_batch_size)

  evaluate = None
  if settings.do_train and settings.eval_every_n_steps > 0:
    prepared = prepare_predictions(settings, tokenizer)
    evaluate = lambda path: predict(  # pylint: disable=g-long-lambda
        settings, estimator, tokenizer, path, prepared)[1]
  if settings.do_train and runtime.training_needed(
      settings.output_dir, num_train_steps, settings.init_checkpoint):
    tf.logging.info("***** Running training *****")
    if records is not None:
      train_files, num_features = records.train.files, len(records.train)
      tf.logging.info("  Records of --train_data_path: %d files",
                      len(train_files))
    else:
      train_file, num_features = write_train_features(settings, tokenizer,
                                                      train_examples)
      train_files = [train_file]
      tf.logging.info("  Num orig examples = %d", len(train_examples))
    tf.logging.info("  Num split examples = %d", num_features)
    tf.logging.info("  Batch size = %d", settings.train_batch_size)
    tf.logging.info("  Num steps = %d", num_train_steps)
    # The features are on disk; the examples are not needed while training.
    del train_examples
    train_input_fn = input_fn_builder(
        input_file=train_files,
        seq_length=settings.max_seq_length,
        is_training=True,
        drop_remainder=True,
        bucket_by_length=settings.bucket_by_length)
    training_loop.train_and_evaluate(
        settings, estimator, train_input_fn, num_train_steps,
        evaluate=evaluate, metric=best_metric,
        write_results=write_eval_results, input_files=train_files)
  best = training_loop.best_checkpoint(settings.output_dir)
  predict_stats = None
  # With Horovod, rank 0 alone predicts and writes the results.
  if settings.do_predict and runtime.is_chief():
    if best:
      tf.logging.info("Predictions are those of the best checkpoint, %s.",
                      best)
    predict_stats, _ = predict(settings, estimator, tokenizer, best)
  if settings.export_dir and runtime.is_chief():
    export(settings, estimator, checkpoint_path=best)
  _log_summary(train_stats, predict_stats)


def export(settings, estimator, checkpoint_path=None):
  """--export_dir: `checkpoint_path` (default: the newest checkpoint of
  --output_dir, else a fine-tuned --init_checkpoint) as a SavedModel with
  its vocabulary and the windowing and answer parameters the predictor
  needs."""
  return serving.export_run(
      settings, estimator, squad_description(settings),
      checkpoint_path=checkpoint_path,
      max_query_length=settings.max_query_length,
      max_answer_length=settings.max_answer_length,
      n_best_size=settings.n_best_size,
      version_2_with_negative=settings.version_2_with_negative,
      null_score_diff_threshold=settings.null_score_diff_threshold)


def squad_description(settings, **fields):
  """The `task_description.TaskDescription` of a SQuAD run's settings (and
  `fields`)."""
  return task_description.from_settings(settings, "squad",
                                        doc_stride=settings.doc_stride,
                                        **fields)


def _log_summary(train_stats, predict_stats):
  """Repeats at the end what a user should not miss in a long log."""
  if train_stats is not None:
    tf.logging.info(
        "Summary: training read %d questions; %d skipped because their "
        "answer text is not at answer_start%s.", train_stats.num_questions,
        train_stats.num_skipped, _listed(train_stats.skipped_ids))
  if predict_stats is not None:
    tf.logging.info("Summary: predicted answers for %d questions.",
                    predict_stats.num_questions)


def _listed(ids, limit=10):
  if not ids:
    return ""
  more = " ..." if len(ids) > limit else ""
  return " (%s%s)" % (", ".join(str(i) for i in ids[:limit]), more)


if __name__ == "__main__":
  # --vocab_file and --bert_config_file may come from --hub_module_url;
  # without either, the run stops with an error naming them.
  flags.mark_flag_as_required("output_dir")
  command_line.run(main, script_flags.grouped_help)
