r"""Fine-tunes BERT for sentence and sentence-pair classification (GLUE & co).

Run it as the original:

  python run_classifier.py --task_name=MRPC --do_train --do_eval \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
      --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 \
      --num_train_epochs=3.0 --output_dir=/tmp/mrpc_output/

Outputs in `--output_dir`: checkpoints, `train.tf_record`, `eval.tf_record`,
`eval_results.txt`, `predict.tf_record`, `test_results.tsv` (one row of
class probabilities per test example, in input order, as the original) and
`test_predictions.tsv` (the same with a header: guid, prediction as a label
name, prob_<label> per label), and `task.json` with `label_list.txt`: what
the model was trained for (`task_description.py`: task kind, labels,
multi-label threshold, windows, tokenizer options), read back by export,
prediction and checkpoint conversion.

Task data is read by a `DataProcessor`. The original four (XNLI, MNLI, MRPC,
CoLA) and the rest of GLUE (SST-2, QQP, QNLI, RTE, WNLI, STS-B) are built in.
A new task is a `DataProcessor` subclass registered with
`register_processor("name", MyProcessor)` in a module of your own, loaded with
`--processor_module=my_tasks` (or a path to a .py file): no edit here.

A task in a file of one's own needs no code: `--task_name=file` reads
train/dev/test files in TSV, CSV or JSON lines, columns chosen by flag
(`FileProcessor`), its labels kept in `<output_dir>/label_list.txt`. Any task
can have several labels per text (`--multi_label`: a sigmoid per label),
weighted classes (`--class_weights`) and texts longer than the model's window
(`--doc_stride`: windows whose logits are aggregated per document).

The task data (examples, processors, their registry, the file task) is in
`classifier_tasks.py`, the head's description (`ClassifierHead`) and the
metrics in `classifier_metrics.py`; their names are importable from here, as
the original's were.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os
import sys

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import numpy as np
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import finetuning_data
from finetuning_data import RecordSplit
import input_pipeline
import modeling
import output_files
import record_cache
import runtime
import serving
import script_flags
import tf2_encoders
import task_description
import tokenization
import training_loop

# The original's module attribute; only main() reads flags, through
# script_flags.from_flags().
FLAGS = flags.FLAGS

script_flags.define("model", "tf2_encoder", "sequence", "output",
                    "file_task", "tokenizer", "special_tokens", "training",
                    "eval_during_training", "epoch", "evaluation",
                    "prediction", "tpu", "performance", "bucketing", "export",
                    "finetuning_data")

# This script's own flags. Names that another script also defines
# (`do_eval`, `eval_batch_size`, ...) allow that, so that several scripts can
# be imported into one process (tests); run as a command nothing changes.

flags.DEFINE_string(
    "data_dir", None,
    "The input data dir. Should contain the .tsv files (or other data files) "
    "for the task.",
    allow_override=True)

flags.DEFINE_string(
    "task_name", None,
    "The name of the task to train (MRPC, CoLA, file, ...). Required, "
    "except with --input_meta_data_path, whose records say their labels.",
    allow_override=True)

flags.DEFINE_string(
    "processor_module", None,
    "Comma-separated Python modules (import paths or .py files) to import "
    "before looking up --task_name; they register their own DataProcessors "
    "with run_classifier.register_processor(name, cls).",
    allow_override=True)

## Multi-label thresholds, class weights, long documents.
flags.DEFINE_float(
    "multi_label_threshold", 0.5,
    "With --multi_label: a label is predicted when its probability is at "
    "least this.",
    allow_override=True)

flags.DEFINE_string(
    "class_weights", None,
    "Weights of the labels in the training loss: 'balanced' (inverse "
    "frequency in the training set; with --multi_label, positive weights "
    "negatives/positives) or comma-separated numbers in label order. Default: "
    "none, the original's loss.",
    allow_override=True)

flags.DEFINE_integer(
    "doc_stride", None,
    "Long documents: split a text_a longer than the window (--max_seq_length "
    "less [CLS], [SEP] and text_b) into windows this many tokens apart, "
    "train on each with the document's label and aggregate a document's "
    "windows at evaluation and prediction. Default: off, long texts are "
    "truncated as in the original.",
    allow_override=True)

flags.DEFINE_enum(
    "window_aggregation", "mean", ["mean", "max"],
    "With --doc_stride: how a document's window logits become one: their "
    "mean or their element-wise max.",
    allow_override=True)

flags.DEFINE_enum(
    "pooling", "cls", ["cls", "mean"],
    "What the classification head reads of the encoder. cls: the pooled "
    "[CLS] output, as the original (the pooler pre-trained with BERT). mean: "
    "the mean of the last layer over the real tokens, for sentence-embedding "
    "models whose pooler was never trained (sentence-transformers' MiniLM "
    "of quickstart.sh). Kept in task.json: later prediction and export runs "
    "use the trained model's own.")


# Task data (examples, processors and their registry, the file task) is a
# module of its own, below the scripts; its names stay importable from here,
# the same objects (a subclass of run_classifier.DataProcessor is one of
# classifier_tasks.DataProcessor, registered in the one registry).
# pylint: disable=g-multiple-import,unused-import
from classifier_tasks import (
    InputExample, PaddingInputExample, DataProcessor, read_tsv_rows,
    PROCESSORS, register_processor, get_processor, load_processor_modules,
    XnliProcessor, GlueProcessor, MnliProcessor, MrpcProcessor, ColaProcessor,
    Sst2Processor, QqpProcessor, QnliProcessor, RteProcessor, WnliProcessor,
    StsbProcessor, LABEL_LIST_FILE, FileTaskOptions, FileProcessor,
    read_label_list, write_label_list)
# pylint: enable=g-multiple-import,unused-import
# The head's description and its metrics are a module of their own, below
# the scripts; their names stay importable from here.
# pylint: disable=g-multiple-import,unused-import
from classifier_metrics import (
    ClassifierHead, compute_metrics, multi_label_metric_names,
    multi_label_metrics, aggregate_windows, probabilities_from_logits,
    predicted_label_set, confusion_matrix_metric, per_class_metrics,
    with_per_class_metrics, format_eval_results, write_eval_results,
    aggregate_window_predictions, _task_metric_ops, _metric_fn,
    _numpy_metric_fn)
# pylint: enable=g-multiple-import,unused-import


# The features and their records are a module of their own, below the
# scripts (create_finetuning_data.py writes them too); their names stay
# importable from here.
# pylint: disable=g-multiple-import,unused-import
from classifier_features import (
    InputFeatures, _is_regression, convert_single_example, _padding_features,
    _label_id, _features_from_tokens, window_starts,
    convert_example_to_windows, _features_to_example,
    file_based_convert_examples_to_features, _name_to_features,
    file_based_input_fn_builder, _truncate_seq_pair,
    convert_examples_to_features)
# pylint: enable=g-multiple-import,unused-import





def create_model(bert_config, is_training, input_ids, input_mask, segment_ids,
                 labels, num_labels, use_one_hot_embeddings,
                 is_regression=False, compute_type=tf.float32,
                 multi_label=False, class_weights=None, pooling="cls"):
  """Creates a classification model: BERT's pooled output, then one layer.

  `pooling` "mean" takes the mean of the last layer over the real tokens
  (`mean_pooled_output`) instead of the original's pooled [CLS]: the
  sentence embedding of models trained that way (sentence-transformers'
  MiniLM, whose pooler was never trained for it).

  The head's variables are `output_weights` [num_labels, hidden] and
  `output_bias`, as in the original. For regression `num_labels` is 1, the
  loss is the squared error and the "probabilities" are the scores. In
  training the pooled output gets dropout at the config's
  `hidden_dropout_prob`: 0.1 in every official config, the rate the original
  fixed, and 0 where a config turns dropout off. `multi_label` and
  `class_weights`: see `create_classification_head`.

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

  if pooling == "mean":
    output_layer = mean_pooled_output(model.get_sequence_output(), input_mask)
  else:
    output_layer = model.get_pooled_output()
  return create_classification_head(
      output_layer, labels, num_labels, is_training,
      bert_config.hidden_dropout_prob, is_regression, multi_label,
      class_weights)


def mean_pooled_output(sequence_output, input_mask):
  """float32 [batch, hidden]: the mean of `sequence_output` over the
  positions where `input_mask` is 1 (padding left out)."""
  mask = tf.cast(tf.expand_dims(input_mask, -1), tf.float32)
  total = tf.reduce_sum(tf.cast(sequence_output, tf.float32) * mask, axis=1)
  return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


def create_classification_head(output_layer, labels, num_labels, is_training,
                               dropout_prob, is_regression=False,
                               multi_label=False, class_weights=None):
  """One layer over a pooled representation: `output_weights`, `output_bias`.

  Shared by `create_model` and run_classifier_with_tfhub.py, whose pooled
  output comes from a hub module.

  Single-label: softmax and cross-entropy, as the original. `multi_label`:
  `labels` are 0/1 [batch, num_labels], the probabilities are a sigmoid per
  label and the loss is binary cross-entropy averaged over the labels.
  `class_weights` ([num_labels] floats) weigh the training loss: the
  cross-entropy of an example by its label's weight, or (multi-label) the
  positive term of each label (`pos_weight`). `per_example_loss`, which
  evaluation averages into `eval_loss`, stays unweighted so that runs with
  and without weights compare.

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

    if multi_label:
      return _multi_label_loss(logits, labels, class_weights)

    probabilities = tf.nn.softmax(logits, axis=-1)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    one_hot_labels = tf.one_hot(labels, depth=num_labels, dtype=tf.float32)
    per_example_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
    if class_weights is None:
      loss = tf.reduce_mean(per_example_loss)
    else:
      weights = tf.gather(tf.constant(class_weights, per_example_loss.dtype),
                          labels)
      loss = tf.reduce_mean(per_example_loss * weights)
    return (loss, per_example_loss, logits, probabilities)


def _multi_label_loss(logits, labels, pos_weights):
  """(loss, per_example_loss, logits, probabilities) of a sigmoid per label."""
  targets = tf.cast(labels, logits.dtype)
  per_label = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets,
                                                      logits=logits)
  per_example_loss = tf.reduce_mean(per_label, axis=-1)
  if pos_weights is None:
    loss = tf.reduce_mean(per_example_loss)
  else:
    weighted = tf.nn.weighted_cross_entropy_with_logits(
        labels=targets, logits=logits,
        pos_weight=tf.constant(pos_weights, logits.dtype))
    loss = tf.reduce_mean(weighted)
  return (loss, per_example_loss, logits, tf.sigmoid(logits))


def model_fn_builder(bert_config, num_labels, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings, is_regression=False,
                     metric_names=(), multi_label=False, class_weights=None,
                     window_aggregation=None, multi_label_threshold=0.5,
                     label_list=None, settings=None, pooling="cls"):
  """Returns a `model_fn` closure for TPUEstimator.

  Training uses the optimiser, precision and accumulation of `settings`
  (a `script_flags.Settings`; default: the flags' defaults), through
  `runtime.train_spec`. Evaluation reports `eval_accuracy`
  (classification) and `eval_loss` as the original, plus `eval_<name>` for
  each of `metric_names` ("f1", "mcc", "pearson", "spearman").

  `multi_label` (sigmoid head; `label_list` names the per-label metrics)
  reports `eval_micro_f1`, `eval_macro_f1`, `eval_subset_accuracy` and
  `eval_f1_<label>` instead, a label predicted at `multi_label_threshold`.
  `class_weights` weigh the training loss (`create_classification_head`).
  `window_aggregation` ("mean"/"max"; None: no windows) means the features are
  long-document windows with an `example_index`: the metrics are of
  documents, their windows' logits aggregated, `eval_loss` the mean over
  windows, and predictions add `logits` and `example_index` for
  `aggregate_window_predictions`. `pooling` ("cls", "mean"): see
  `create_model`. The head's keywords make a `ClassifierHead`
  (`ClassifierHead.model_options` gives them back).
  """
  settings = settings or script_flags.Settings()
  head = ClassifierHead(num_labels, is_regression, multi_label, label_list,
                        metric_names, multi_label_threshold,
                        window_aggregation=window_aggregation,
                        pooling=pooling)

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """The `model_fn` for TPUEstimator."""
    runtime.log_features(features)

    input_ids = features["input_ids"]
    input_mask = features["input_mask"]
    segment_ids = features["segment_ids"]
    batch = tf.shape(input_ids)[:1]
    if "label_ids" in features:
      label_ids = features["label_ids"]
    elif head.multi_label:  # A SavedModel's serving inputs: no labels.
      label_ids = tf.zeros(tf.concat([batch, [num_labels]], 0), tf.int32)
    else:  # A SavedModel's serving inputs (runtime.export_saved_model).
      label_ids = tf.zeros(batch, tf.float32 if head.regression else tf.int32)
    if "is_real_example" in features:
      is_real_example = tf.cast(features["is_real_example"], dtype=tf.float32)
    else:
      is_real_example = tf.ones(batch, dtype=tf.float32)

    is_training = (mode == tf.estimator.ModeKeys.TRAIN)
    (total_loss, per_example_loss, logits, probabilities) = create_model(
        bert_config, is_training, input_ids, input_mask, segment_ids,
        label_ids, num_labels, use_one_hot_embeddings, head.regression,
        runtime.compute_type(settings), head.multi_label,
        class_weights if is_training else None, head.pooling)

    scaffold_fn = runtime.init_from_checkpoint(init_checkpoint, use_tpu)

    if mode == tf.estimator.ModeKeys.TRAIN:
      return runtime.train_spec(settings, total_loss, learning_rate,
                                num_train_steps, num_warmup_steps, scaffold_fn)

    if mode == tf.estimator.ModeKeys.EVAL:
      if head.multi_label or head.windowed:
        tensors = {"per_example_loss": per_example_loss,
                   "labels": label_ids, "logits": logits,
                   "weights": is_real_example}
        if head.windowed:
          tensors["example_index"] = features["example_index"]
        eval_metrics = (_numpy_metric_fn(head), tensors)
      else:
        eval_metrics = (_metric_fn(head.regression, head.metric_names),
                        [per_example_loss, label_ids, logits,
                         is_real_example])
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, eval_metrics=eval_metrics,
          scaffold_fn=scaffold_fn)

    predictions = {"probabilities": probabilities}
    if head.windowed:
      predictions["logits"] = logits
      if "example_index" in features:
        predictions["example_index"] = features["example_index"]
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, predictions=input_pipeline.with_example_index(predictions,
                                                          features),
        scaffold_fn=scaffold_fn)

  return model_fn


def input_fn_builder(features, seq_length, is_training, drop_remainder,
                     bucket_by_length=False):
  """An in-memory `input_fn` over a list of `InputFeatures`.

  Holds every feature as a graph constant: fine for small sets and for TF
  Hub demos, not for large data (use the TFRecord path). `bucket_by_length`
  as in `file_based_input_fn_builder`.
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
    return input_pipeline.batch_examples(d, batch_size, is_training,
                                         drop_remainder,
                                         bucket_by_length=bucket_by_length)

  return input_fn



def _padded(examples, batch_size, use_tpu):
  """On TPU, pads `examples` to a whole number of batches."""
  examples = list(examples)
  if use_tpu:
    while len(examples) % batch_size != 0:
      examples.append(PaddingInputExample())
  return examples


def require_examples(examples, split, processor, data_dir=None):
  """Raises UserError if `processor` read no `split` examples."""
  if not examples:
    raise UserError("%s produced no %s examples from --data_dir=%s." %
                     (type(processor).__name__, split, data_dir))


def validate_flags(settings, bert_config):
  """Checks the flags before any work starts; raises UserError if wrong."""
  runtime.check_something_to_do(settings, "do_train", "do_eval", "do_predict",
                                "export_dir")
  runtime.check_flags(settings, bert_config, settings.max_seq_length,
                      settings.train_batch_size, settings.do_train,
                      settings.export_dir, settings.output_dir,
                      init_checkpoint=settings.init_checkpoint)
  # The file task may name its files instead (--train_file, ...), and
  # converted records (--input_meta_data_path) replace the raw files.
  needs_data_dir = (((settings.task_name or "").lower() != "file" or
                     settings.data_dir) and
                    not settings.input_meta_data_path)
  if ((settings.do_train or settings.do_eval or settings.do_predict) and
      needs_data_dir and not tf.io.gfile.isdir(settings.data_dir or "")):
    raise UserError("--data_dir=%s is not a directory." % settings.data_dir)
  if settings.doc_stride is not None and not (
      0 < settings.doc_stride <= settings.max_seq_length - 2):
    raise UserError(
        "--doc_stride=%d must be between 1 and the window, --max_seq_length "
        "- 2 = %d, or windows would skip text." %
        (settings.doc_stride, settings.max_seq_length - 2))
  if not 0.0 < settings.multi_label_threshold < 1.0:
    raise UserError("--multi_label_threshold=%s must be between 0 and 1." %
                    settings.multi_label_threshold)
  runtime.check_trained_model(settings)


def evaluation_metrics(label_list, regression, metric_names,
                       multi_label=False):
  """(metric names the evaluation reports, the default best-checkpoint one)."""
  names = ["eval_loss"] + ["eval_" + n for n in metric_names]
  if multi_label:
    names += multi_label_metric_names(label_list)
  elif not regression:
    names.append("eval_accuracy")
    for label in label_list:
      names += ["eval_%s_%s" % (m, label)
                for m in ("precision", "recall", "f1")]
  if regression:
    default = "eval_pearson" if "pearson" in metric_names else "eval_loss"
  else:
    default = "eval_accuracy"
  return names, default


def check_evaluation_flags(settings, processor, label_list, regression,
                           metric_names, multi_label=False):
  """The evaluation flags' checks; returns (dev examples or None, metric).

  With --eval_every_n_steps the dev set is read now, so that a missing one
  is reported before any work."""
  dev_examples, no_dev = None, None
  if settings.do_train and settings.eval_every_n_steps > 0:
    try:
      dev_examples = processor.get_dev_examples(settings.data_dir)
    except (OSError, tf.errors.OpError, UserError) as e:
      no_dev = command_line.error_text(e)
    if not dev_examples and not no_dev:
      no_dev = "%s read no dev examples from --data_dir=%s." % (
          type(processor).__name__, settings.data_dir)
  names, default = evaluation_metrics(label_list, regression, metric_names,
                                      multi_label)
  metric = training_loop.check_flags(settings, names, default, no_dev)
  return dev_examples, metric


def check_task_head(settings, processor, regression):
  """Whether the task is multi-label; UserError where the head flags and
  the task do not fit together."""
  task_name = settings.task_name
  multi_label = bool(getattr(processor, "is_multi_label", False))
  if regression and (settings.multi_label or multi_label):
    raise UserError("--multi_label cannot be used with %s, a regression "
                    "task." % task_name)
  if settings.multi_label and not multi_label:
    raise UserError(
        "--multi_label needs a task whose labels are sets: --task_name=file "
        "(or a processor with is_multi_label = True), not %s." % task_name)
  if regression and settings.class_weights:
    raise UserError("--class_weights cannot be used with %s, a regression "
                    "task." % task_name)
  return multi_label


def class_weights_from_flag(spec, examples, label_list, multi_label=False):
  """The loss weights `--class_weights` asks for, in label order, or None.

  "balanced": single-label, N / (num_labels * count) for each label (weights
  averaging 1 over the training set); multi-label, negatives / positives
  per label, the positive weight that balances each sigmoid. Otherwise
  comma-separated numbers, one per label. Logged.
  """
  if not spec:
    return None
  if spec.strip().lower() == "balanced":
    if isinstance(examples, RecordSplit):
      examples = [InputExample(None, None, label=label_list[i])
                  for i in finetuning_data.label_ids_of(examples.files)]
    counts = collections.Counter()
    for example in examples:
      counts.update(example.label if multi_label else [example.label])
    n = len(examples)
    weights = []
    for label in label_list:
      count = counts[label]
      if count == 0 or (multi_label and count == n):
        raise UserError(
            "--class_weights=balanced: label %r is on %d of the %d training "
            "examples, so its weight is undefined: give the weights as "
            "numbers." % (label, count, n))
      weights.append((n - count) / count if multi_label
                     else n / (len(label_list) * count))
    how = "negatives/positives" if multi_label else "N/(labels*count)"
  else:
    try:
      weights = [float(w) for w in spec.split(",")]
    except ValueError:
      raise UserError("--class_weights=%s: expected 'balanced' or numbers "
                      "separated by commas." % spec)
    if len(weights) != len(label_list) or min(weights) <= 0:
      raise UserError(
          "--class_weights=%s: expected %d positive numbers, one per label "
          "in the order %s." % (spec, len(label_list), ",".join(label_list)))
    how = "given"
  tf.logging.info("Class weights (%s): %s", how, ", ".join(
      "%s=%.4g" % lw for lw in zip(label_list, weights)))
  return weights


def read_task_examples(settings, processor):
  """The examples of every split the run uses, read before any training so
  that a bad row of the dev or test file stops the run at once."""
  examples = {}
  for split, wanted, method in (
      ("train", settings.do_train, processor.get_train_examples),
      ("dev", settings.do_eval, processor.get_dev_examples),
      ("test", settings.do_predict, processor.get_test_examples)):
    if wanted:
      examples[split] = method(settings.data_dir)
      require_examples(examples[split], split, processor, settings.data_dir)
  return examples


class RecordsProcessor(DataProcessor):
  """The task of converted records (--input_meta_data_path): each split is
  a `finetuning_data.RecordSplit`, which the input functions read as it is.
  Labels and metrics are those of `task`, the processor of the task the
  records were made from where this project knows it, else the records'
  own labels (Model Garden's meta data: "0", "1", ...)."""

  def __init__(self, data, task=None):
    self.data = data
    self.task = task
    self.is_regression = (data.meta_data["task_type"] == "bert_regression")
    if task is not None:
      self.metrics = tuple(task.metrics)
    elif self.is_regression:
      self.metrics = ("pearson", "spearman")

  def get_train_examples(self, data_dir):
    return self.data.train

  def get_dev_examples(self, data_dir):
    return self.data.eval

  def get_test_examples(self, data_dir):
    return self.data.predict

  def get_labels(self):
    if self.task is not None:
      return self.task.get_labels()
    return self.data.labels or [None]


def processor_of(settings, bert_config, task=None):
  """(settings, the task's processor): `task` (--task_name's processor), or
  with --input_meta_data_path a `RecordsProcessor` of the records, checked
  against `task` (optional then), the flags and the model.

  Raises:
    UserError: no --task_name nor --input_meta_data_path; a head option
      the records cannot carry; records that disagree with the run.
  """
  if not settings.input_meta_data_path:
    finetuning_data.read_converted_data(settings, "run_classifier.py")
    if task is None:
      raise UserError("--task_name is required (or --input_meta_data_path: "
                      "records made by create_finetuning_data.py).")
    return settings, task
  for flag in ("multi_label", "doc_stride"):
    if settings.get(flag):
      raise UserError(
          "--%s cannot be used with --input_meta_data_path: converted "
          "records hold one label and one window per example." % flag)
  if settings.export_dir and not settings.vocab_file:
    raise UserError(
        "--export_dir with --input_meta_data_path needs --vocab_file, the "
        "vocabulary the records were made with: the SavedModel keeps it.")
  evaluate = settings.do_eval or (settings.do_train and
                                  settings.eval_every_n_steps > 0)
  settings, data = finetuning_data.read_converted_data(
      settings, "run_classifier.py", train=settings.do_train,
      evaluate=evaluate, predict=settings.do_predict,
      label_list=task.get_labels() if task else None,
      bert_config=bert_config)
  if task is None:
    task = _known_task(data)
  return settings, RecordsProcessor(data, task)


def _known_task(data):
  """The processor of the records' `processor_type` if this project has one
  with the same labels (its metrics: F1 for MRPC, ...), else None."""
  name = (data.meta_data.get("processor_type") or "").lower()
  if name not in PROCESSORS or name == "file":
    return None
  task = PROCESSORS[name]()
  labels = task.get_labels()
  if (data.labels is not None and
      [str(l) for l in labels] != data.labels and
      len(labels) != len(data.labels)):
    return None
  return task


def main(_):
  settings = script_flags.from_flags()
  # A TF2 encoder (--hub_module_url, a TF2 --init_checkpoint) becomes an
  # original checkpoint, config and vocabulary; the rest of the run is as ever.
  settings = tf2_encoders.resolve_encoder(settings)
  load_processor_modules(settings.processor_module)
  task = (get_processor(settings.task_name, settings) if settings.task_name
          else None)
  bert_config = runtime.load_bert_config(settings.bert_config_file)
  # Converted records (--input_meta_data_path) in place of --data_dir's
  # files: the task's splits are then theirs.
  settings, processor = processor_of(settings, bert_config, task)
  validate_flags(settings, bert_config)
  label_list = processor.get_labels()
  regression = processor.is_regression or _is_regression(label_list)
  multi_label = check_task_head(settings, processor, regression)
  metric_names = tuple(processor.metrics)
  dev_examples, best_metric = check_evaluation_flags(
      settings, processor, label_list, regression, metric_names, multi_label)
  # Records need no tokenizer; an export needs their vocabulary.
  tokenizer = (runtime.load_tokenizer(settings)
               if settings.vocab_file or not settings.input_meta_data_path
               else None)
  output_files.prepare_output_dir(settings.output_dir,
                                  overwrite=settings.overwrite_output_dir)
  runtime.check_resume(settings, settings.output_dir)
  description = task_description.from_settings(
      settings, ("regression" if regression else
                 "multi_label" if multi_label else "classification"),
      labels=None if regression else label_list,
      multi_label_threshold=settings.multi_label_threshold,
      window_aggregation=(settings.window_aggregation if settings.doc_stride
                          else None),
      doc_stride=settings.doc_stride, pooling=settings.pooling)
  description = save_task_description(settings.output_dir, description.replace(
      run_settings=runtime.run_settings(settings)), settings.do_train)
  trained_with = dict(
      multi_label_threshold=description.multi_label_threshold,
      do_lower_case=description.do_lower_case,
      never_split=list(description.never_split),
      preserve_unused_tokens=description.preserve_unused_tokens)
  if any(settings.get(k) != v and (settings.get(k) or v)
         for k, v in trained_with.items()):
    # A trained model's own tokenizer options and threshold are in force.
    settings = settings.replace(**trained_with)
    tokenizer = tokenizer and runtime.load_tokenizer(settings)
  processor.save_label_list()

  # One description of the head for the records, the model and its metrics.
  head = ClassifierHead.from_description(description, metric_names)
  examples = read_task_examples(settings, processor)
  if dev_examples is not None:
    examples["dev"] = dev_examples

  num_train_steps = None
  num_warmup_steps = None
  class_weights = None
  if settings.do_train:
    # Written first: with --doc_stride its windows, not its examples, make
    # the number of steps.
    train_file, num_train_records = write_train_file(
        settings, examples["train"], label_list, tokenizer, head)
    num_train_steps, num_warmup_steps = runtime.epoch_schedule(
        settings, num_train_records,
        "--train_data_path=%s" % settings.train_data_path
        if isinstance(examples["train"], RecordSplit)
        else "--data_dir=%s" % settings.data_dir)
    class_weights = class_weights_from_flag(
        settings.class_weights, examples["train"], label_list, multi_label)

  settings = runtime.with_progress_intervals(settings, num_train_steps)
  model_fn = model_fn_builder(
      bert_config=bert_config,
      num_labels=head.num_labels,
      init_checkpoint=settings.init_checkpoint,
      learning_rate=settings.learning_rate,
      num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps,
      use_tpu=settings.use_tpu,
      use_one_hot_embeddings=settings.use_tpu,
      class_weights=class_weights,
      settings=settings,
      **head.model_options())
  estimator = runtime.build_estimator(
      settings, model_fn, settings.output_dir, settings.train_batch_size,
      settings.eval_batch_size, settings.predict_batch_size)

  evaluate = None
  if settings.do_train and settings.eval_every_n_steps > 0:
    evaluate = dev_evaluation(settings, estimator, examples["dev"],
                              label_list, tokenizer, head)
  if settings.do_train and runtime.training_needed(
      settings.output_dir, num_train_steps, settings.init_checkpoint):
    train(settings, estimator, examples["train"], num_train_steps, label_list,
          tokenizer, regression, head, train_file, evaluate, best_metric)
  best = training_loop.best_checkpoint(settings.output_dir)

  # With Horovod, rank 0 alone evaluates, predicts and writes the results.
  if runtime.is_chief():
    evaluate_and_predict(settings, estimator, processor, label_list, tokenizer,
                         regression, head, examples, checkpoint_path=best,
                         evaluate=evaluate)
  if settings.export_dir and runtime.is_chief():
    export(settings, estimator, description, checkpoint_path=best)


def save_task_description(output_dir, description, training):
  """The description a run uses: when training, `description` (from the
  flags), written to `output_dir` (task.json and label_list.txt,
  `task_description.write`); on a trained model, the threshold and
  tokenizer options of its training, which `description` (a prediction
  run's flags) cannot change: the model's own are in force, and a
  difference is logged."""
  saved = task_description.read(output_dir)
  if training or saved is None or saved.kind is None:
    path = task_description.write(output_dir, description)
    tf.logging.info("Wrote the task description to %s", path)
    return description
  if saved.pooling != description.pooling:
    # A prediction run gives no --pooling: the model's is the one to use.
    tf.logging.info("The model in %s reads its encoder with --pooling=%s.",
                    output_dir, saved.pooling)
  changed = [name for name in ("multi_label_threshold", "do_lower_case",
                               "never_split", "preserve_unused_tokens")
             if getattr(saved, name) != getattr(description, name)]
  if changed:
    tf.logging.warning(
        "The model in %s was trained with %s; this run keeps those, not the "
        "flags' %s." %
        (output_dir, ", ".join("%s=%s" % (n, getattr(saved, n))
                               for n in changed),
         ", ".join("%s=%s" % (n, getattr(description, n)) for n in changed)))
  return description.replace(pooling=saved.pooling,
                             **{name: getattr(saved, name) for name in changed})


# The version of the records' features in the key of `convert_once`: bumped
# when the conversion of the same examples and settings changes, so that the
# records a run wrote before are converted again.
RECORD_FORMAT = "run_classifier/1"


def convert_once(examples, label_list, max_seq_length, tokenizer,
                 output_file, multi_label=False, doc_stride=None,
                 pad_to_multiple=None):
  """`file_based_convert_examples_to_features`, unless a run wrote
  `output_file` from the same examples, tokenizer and settings before
  (`record_cache`: its key is kept in `<output_file>.key`).

  Returns:
    the number of records in `output_file`.
  """
  key = record_cache.conversion_key(
      RECORD_FORMAT, examples, tokenizer, labels=label_list,
      max_seq_length=max_seq_length, multi_label=bool(multi_label),
      doc_stride=doc_stride, pad_to_multiple=pad_to_multiple)
  counts = record_cache.convert_once(output_file, key, lambda: {
      "num_records": file_based_convert_examples_to_features(
          examples, label_list, max_seq_length, tokenizer, output_file,
          multi_label, doc_stride, pad_to_multiple)})
  return counts["num_records"]


def write_train_file(settings, train_examples, label_list, tokenizer,
                     head=None):
  """Writes train.tf_record in --output_dir; returns (its path, how many
  records: the examples, or with --doc_stride their windows)."""
  head = head or ClassifierHead()
  if isinstance(train_examples, RecordSplit):
    return train_examples.files, len(train_examples)
  train_file = os.path.join(settings.output_dir, "train.tf_record")
  num_records = convert_once(
      train_examples, label_list, settings.max_seq_length, tokenizer,
      train_file, head.multi_label, head.doc_stride)
  return train_file, num_records


def train(settings, estimator, train_examples, num_train_steps, label_list,
          tokenizer, regression, head=None, train_file=None, evaluate=None,
          best_metric=None):
  """--do_train: writes train.tf_record in --output_dir (unless
  `write_train_file` has: `train_file`) and trains on it, evaluating with
  `evaluate` (a `dev_evaluation`) every --eval_every_n_steps."""
  head = head or ClassifierHead(regression=regression)
  if train_file is None:
    train_file, _ = write_train_file(settings, train_examples, label_list,
                                     tokenizer, head)
  tf.logging.info("***** Running training *****")
  tf.logging.info("  Num examples = %d", len(train_examples))
  tf.logging.info("  Batch size = %d", settings.train_batch_size)
  tf.logging.info("  Num steps = %d", num_train_steps)
  train_input_fn = file_based_input_fn_builder(
      input_file=train_file,
      seq_length=settings.max_seq_length,
      is_training=True,
      drop_remainder=True,
      bucket_by_length=settings.bucket_by_length,
      **head.input_options())
  training_loop.train_and_evaluate(
      settings, estimator, train_input_fn, num_train_steps, evaluate=evaluate,
      metric=best_metric,
      input_files=train_file if isinstance(train_file, list) else [train_file],
      write_results=lambda directory, result: write_eval_results(
          directory, result, label_list))


def dev_evaluation(settings, estimator, eval_examples, label_list, tokenizer,
                   head):
  """A function from a checkpoint path (None: the last) to the metrics of
  the dev set `eval_examples`, which are written to eval.tf_record once."""
  eval_input_fn, num_batches = _inference_input_fn(
      settings, "evaluation", eval_examples, settings.eval_batch_size,
      "eval.tf_record", label_list, tokenizer, head)
  # TPUs need a fixed number of full batches; elsewhere read the file once.
  eval_steps = num_batches if settings.use_tpu else None

  def evaluate(checkpoint_path=None):
    return with_per_class_metrics(
        estimator.evaluate(
            input_fn=eval_input_fn, steps=eval_steps,
            checkpoint_path=checkpoint_path,
            name=training_loop.evaluation_name(estimator.model_dir,
                                               checkpoint_path)),
        label_list)

  return training_loop.estimator_evaluation(evaluate)


def evaluate_and_predict(settings, estimator, processor, label_list, tokenizer,
                         regression, head=None, examples=None,
                         checkpoint_path=None, evaluate=None):
  """--do_eval: eval_results.txt on the dev set; --do_predict:
  test_results.tsv on the test set, one row per example (a document's
  windows aggregated); both of `checkpoint_path` (default: the last
  checkpoint). `examples` (split -> examples) spares reading the files
  again, `evaluate` (a `dev_evaluation`) writing eval.tf_record again."""
  if checkpoint_path:
    tf.logging.info("Results are those of the best checkpoint, %s.",
                    checkpoint_path)
  head = head or ClassifierHead(regression=regression)
  examples = dict(examples or {})
  for split, wanted, method in (
      ("dev", settings.do_eval, processor.get_dev_examples),
      ("test", settings.do_predict, processor.get_test_examples)):
    if wanted and split not in examples:
      examples[split] = method(settings.data_dir)
      require_examples(examples[split], split, processor, settings.data_dir)

  if settings.do_eval:
    if evaluate is None:
      evaluate = dev_evaluation(settings, estimator, examples["dev"],
                                label_list, tokenizer, head)
    write_eval_results(settings.output_dir, evaluate(checkpoint_path),
                       label_list)

  if settings.do_predict:
    predict_input_fn, _ = _inference_input_fn(
        settings, "prediction", examples["test"], settings.predict_batch_size,
        "predict.tf_record", label_list, tokenizer, head)
    # Bucketed (--bucket_by_length) predictions come out of order.
    predictions = input_pipeline.in_input_order(
        estimator.predict(input_fn=predict_input_fn,
                          checkpoint_path=checkpoint_path))
    if head.windowed:
      predictions = aggregate_window_predictions(
          predictions, head.window_aggregation, head.multi_label,
          head.regression)
    probabilities = write_test_results(
        predictions, len(examples["test"]),
        os.path.join(settings.output_dir, "test_results.tsv"))
    write_test_predictions(
        examples["test"], probabilities,
        None if head.regression else label_list,
        os.path.join(settings.output_dir, "test_predictions.tsv"),
        head.multi_label, head.multi_label_threshold)

def _predicted_labels(probabilities, label_list, multi_label, threshold=0.5):
  if multi_label:
    return ",".join(str(l) for l in predicted_label_set(
        probabilities, label_list, threshold))
  return str(label_list[int(np.argmax(probabilities))])


def export(settings, estimator, description, checkpoint_path=None):
  """--export_dir: the newest checkpoint of --output_dir (else a fine-tuned
  --init_checkpoint) as a SavedModel with its vocabulary, and `description`
  (a `task_description.TaskDescription`: labels, threshold, tokenizer
  options) in its metadata."""
  serving.export_run(settings, estimator, description, checkpoint_path,
                     task_name=settings.task_name,
                     multi_label=description.is_multi_label)


def _inference_input_fn(settings, what, examples, batch_size, file_name,
                        label_list, tokenizer, head):
  """Pads `examples` (on TPU), writes them to `file_name` in --output_dir and
  returns (an input_fn that reads them once, in order; the number of batches).

  With windows (`head.doc_stride`) the padding is of records, after the
  windows.
  """
  windowed = head.windowed
  if isinstance(examples, RecordSplit):
    path, num_records = _records_padded(settings, examples, batch_size,
                                        file_name, label_list)
    num_padded = num_records
  else:
    padded = (examples if windowed else
              _padded(examples, batch_size, settings.use_tpu))
    num_padded = len(padded)
    path = os.path.join(settings.output_dir, file_name)
    num_records = convert_once(
        padded, label_list, settings.max_seq_length, tokenizer, path,
        head.multi_label, head.doc_stride,
        pad_to_multiple=batch_size if settings.use_tpu and windowed else None)
  tf.logging.info("***** Running %s *****", what)
  tf.logging.info("  Num examples = %d (%d actual, %d padding)", num_padded,
                  len(examples), num_padded - len(examples))
  if windowed:
    tf.logging.info("  Num records = %d (windows, and padding on TPU)",
                    num_records)
  tf.logging.info("  Batch size = %d", batch_size)
  input_fn = file_based_input_fn_builder(
      input_file=path,
      seq_length=settings.max_seq_length,
      is_training=False,
      drop_remainder=settings.use_tpu,
      bucket_by_length=settings.bucket_by_length,
      **head.input_options())
  return input_fn, num_records // batch_size


def _records_padded(settings, split, batch_size, file_name, label_list):
  """(the files of converted records `split`, how many records): on TPU,
  whose batches must be full, followed by a file in --output_dir of the
  padding records that fill the last batch (`is_real_example` 0: they
  weigh nothing and are dropped from the predictions)."""
  missing = -len(split) % batch_size if settings.use_tpu else 0
  if not missing:
    return split.files, len(split)
  path = os.path.join(settings.output_dir,
                      file_name.replace(".tf_record", "_padding.tf_record"))
  file_based_convert_examples_to_features(
      [PaddingInputExample()] * missing, label_list, settings.max_seq_length,
      None, path)
  return split.files + [path], len(split) + missing


def write_test_results(predictions, num_actual_examples, output_path):
  """Writes one tab-separated row of probabilities per real example.

  Returns:
    the rows, as lists of floats.
  """
  rows = []
  for prediction in predictions:
    if len(rows) >= num_actual_examples:
      break  # The rest are padding examples.
    rows.append(np.atleast_1d(prediction["probabilities"]))
  if len(rows) != num_actual_examples:
    raise ValueError("Expected %d predictions, got %d." %
                     (num_actual_examples, len(rows)))
  output_files.write_text_atomically(output_path, "".join(
      "\t".join(str(p) for p in row) + "\n" for row in rows))
  tf.logging.info("Wrote %d predictions to %s", len(rows), output_path)
  return rows


def write_test_predictions(examples, probabilities, label_list, output_path,
                           multi_label=False, multi_label_threshold=0.5):
  """Writes test_predictions.tsv: a header `guid, prediction, prob_<label>...`
  then, per example, its guid, the label name of the highest probability
  (multi-label: every label of probability >= `multi_label_threshold`,
  comma-separated) and the probabilities. A regression task has `guid,
  prediction` (the score)."""
  if isinstance(examples, RecordSplit):
    # Records keep no ids: rows are numbered as the original's test guids.
    examples = [InputExample("test-%d" % i, None)
                for i in range(len(examples))]
  if label_list is None:
    header = ["guid", "prediction"]
    rows = [[e.guid, "%s" % float(p[0])] for e, p in zip(examples,
                                                         probabilities)]
  else:
    header = ["guid", "prediction"] + ["prob_%s" % l for l in label_list]
    rows = [[e.guid, _predicted_labels(p, label_list, multi_label,
                                       multi_label_threshold)] +
            [str(float(x)) for x in p]
            for e, p in zip(examples, probabilities)]
  output_files.write_text_atomically(output_path, "".join(
      "\t".join(row) + "\n" for row in [header] + rows))
  tf.logging.info("Wrote %d labelled predictions to %s", len(rows),
                  output_path)


if __name__ == "__main__":
  # Processor modules `import run_classifier`: let them get this module rather
  # than a second copy that would define every flag again.
  sys.modules.setdefault("run_classifier", sys.modules[__name__])
  # --data_dir: required unless --task_name=file names its files
  # (validate_flags).
  # --task_name: required unless --input_meta_data_path (processor_of).
  # --vocab_file and --bert_config_file may come from --hub_module_url;
  # without either, the run stops with an error naming them.
  flags.mark_flag_as_required("output_dir")
  command_line.run(main, script_flags.grouped_help)
