r"""Fine-tunes a BERT TF Hub module (TF1 `hub.Module` format) to classify text.

Run it as the original:

  python run_classifier_with_tfhub.py --task_name=MRPC --do_train --do_eval \
      --data_dir=$GLUE_DIR/MRPC --bert_hub_module_handle=/tmp/bert_hub_module \
      --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 \
      --num_train_epochs=3.0 --output_dir=/tmp/mrpc_output/

`--bert_hub_module_handle` is a module directory (`export_tfhub.py` writes
one from any BERT checkpoint) or the URL of a TF1 BERT module. The
vocabulary and casing come from the module's `tokenization_info` signature,
so run_classifier.py's --vocab_file, --do_lower_case, --bert_config_file and
--init_checkpoint are not used; its other flags (tasks, data, batch sizes,
--do_predict, the runtime flags, --processor_module) work as there. Outputs:
checkpoints, `eval_results.txt` (eval_accuracy, eval_loss) and
`test_results.tsv` in --output_dir.

Needs the optional package tensorflow-hub 0.15 (0.16 dropped `hub.Module`):
  pip install "tensorflow-hub==0.15.0" "setuptools<81"
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import input_pipeline
import output_files
import run_classifier
import runtime
import serving
import script_flags
import task_description
import tokenization
import training_loop

# The original's module attribute; only main() reads flags, through
# script_flags.from_flags().
FLAGS = flags.FLAGS

flags.DEFINE_string(
    "bert_hub_module_handle", None,
    "Handle for the BERT TF-Hub module: a directory written by "
    "export_tfhub.py, or the URL of a TF1-format (hub.Module) BERT module.",
    allow_override=True)

# run_classifier.py's flags that mean something here (the model, its
# vocabulary and casing come from the module).
script_flags.define("sequence", "output", "special_tokens", "training",
                    "eval_during_training",
                    "epoch", "evaluation", "prediction", "tpu", "performance",
                    "bucketing", "export")
script_flags.adopt(["data_dir", "task_name", "processor_module"])

# The head's dropout on the pooled output, as the original's keep_prob=0.9.
HEAD_DROPOUT = 0.1


def create_model(is_training, input_ids, input_mask, segment_ids, labels,
                 num_labels, bert_hub_module_handle):
  """The module's pooled output through one layer (`output_weights`).

  The module is built with the "train" tags (its dropout on) in training,
  and with trainable variables, so that fine-tuning updates it.

  Returns:
    (loss, per_example_loss, logits, probabilities)
  """
  hub = command_line.tensorflow_hub()
  tags = {"train"} if is_training else set()
  bert_module = hub.Module(bert_hub_module_handle, tags=tags, trainable=True)
  bert_outputs = bert_module(
      inputs=dict(input_ids=input_ids, input_mask=input_mask,
                  segment_ids=segment_ids),
      signature="tokens", as_dict=True)
  # A token-level task would use bert_outputs["sequence_output"].
  return run_classifier.create_classification_head(
      bert_outputs["pooled_output"], labels, num_labels, is_training,
      HEAD_DROPOUT)


def model_fn_builder(num_labels, learning_rate, num_train_steps,
                     num_warmup_steps, use_tpu, bert_hub_module_handle,
                     settings=None):
  """Returns the `model_fn` closure for TPUEstimator.

  Training uses the optimiser, precision and accumulation of `settings` (a
  `script_flags.Settings`; default: the flags' defaults), through
  `runtime.train_spec`; evaluation reports `eval_accuracy` and
  `eval_loss` over the real (not padding) examples.
  """

  settings = settings or script_flags.Settings()

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """The `model_fn` for TPUEstimator."""
    runtime.log_features(features)

    input_ids = features["input_ids"]
    if "label_ids" in features:
      label_ids = features["label_ids"]
    else:  # A SavedModel's serving inputs (runtime.export_saved_model).
      label_ids = tf.zeros(tf.shape(input_ids)[:1], tf.int32)
    is_real_example = tf.cast(
        features.get("is_real_example", tf.ones_like(label_ids)), tf.float32)

    is_training = (mode == tf.estimator.ModeKeys.TRAIN)
    (total_loss, per_example_loss, logits, probabilities) = create_model(
        is_training, input_ids, features["input_mask"],
        features["segment_ids"], label_ids, num_labels, bert_hub_module_handle)

    if mode == tf.estimator.ModeKeys.TRAIN:
      return runtime.train_spec(settings, total_loss, learning_rate,
                                num_train_steps, num_warmup_steps)

    if mode == tf.estimator.ModeKeys.EVAL:

      def metric_fn(per_example_loss, label_ids, logits, is_real_example):
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        metrics = {
            "eval_accuracy": tf.metrics.accuracy(
                label_ids, predictions, weights=is_real_example),
            "eval_loss": tf.metrics.mean(per_example_loss,
                                         weights=is_real_example),
        }
        metrics.update(run_classifier.confusion_matrix_metric(
            label_ids, predictions, num_labels, is_real_example))
        return metrics

      eval_metrics = (metric_fn,
                      [per_example_loss, label_ids, logits, is_real_example])
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, eval_metrics=eval_metrics)

    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, predictions=input_pipeline.with_example_index(
            {"probabilities": probabilities}, features))

  return model_fn


def create_tokenizer_from_hub_module(bert_hub_module_handle):
  """A FullTokenizer of the module's vocabulary and casing."""
  vocab_file, do_lower_case = hub_tokenization_info(bert_hub_module_handle)
  return tokenization.FullTokenizer(vocab_file=vocab_file,
                                    do_lower_case=do_lower_case)


def hub_tokenization_info(bert_hub_module_handle):
  """(vocab_file, do_lower_case) of the module's tokenization_info."""
  hub = command_line.tensorflow_hub()
  with tf.Graph().as_default():
    bert_module = hub.Module(bert_hub_module_handle)
    tokenization_info = bert_module(signature="tokenization_info",
                                    as_dict=True)
    with tf.Session() as sess:
      vocab_file, do_lower_case = sess.run(
          [tokenization_info["vocab_file"],
           tokenization_info["do_lower_case"]])
  return tokenization.convert_to_unicode(vocab_file), bool(do_lower_case)


def validate_flags(settings, processor):
  """Checks the flags before any work starts; raises UserError if wrong."""
  runtime.check_something_to_do(settings, "do_train", "do_eval", "do_predict",
                                "export_dir")
  if processor.is_regression:
    raise UserError(
        "--task_name=%s is a regression task; run_classifier_with_tfhub.py "
        "fine-tunes classifiers only (use run_classifier.py)." %
        settings.task_name)
  handle = settings.bert_hub_module_handle
  if "://" not in handle and not tf.io.gfile.isdir(handle):
    raise UserError(
        "--bert_hub_module_handle=%s is neither a module directory nor a URL "
        "(export_tfhub.py writes a module from a checkpoint)." % handle)
  runtime.check_flags(settings, train_batch_size=settings.train_batch_size,
                      will_train=settings.do_train,
                      export_dir=settings.export_dir,
                      output_dir=settings.output_dir)
  if ((settings.do_train or settings.do_eval or settings.do_predict) and
      not tf.io.gfile.isdir(settings.data_dir or "")):
    raise UserError("--data_dir=%s is not a directory." % settings.data_dir)
  runtime.check_trained_model(settings)


def main(_):
  settings = script_flags.from_flags()
  run_classifier.load_processor_modules(settings.processor_module)
  processor = run_classifier.get_processor(settings.task_name, settings)
  validate_flags(settings, processor)
  label_list = processor.get_labels()
  # This script's head reports accuracy and loss, not the task's metrics.
  dev_examples, best_metric = run_classifier.check_evaluation_flags(
      settings, processor, label_list, False, ())
  vocab_file, do_lower_case = hub_tokenization_info(
      settings.bert_hub_module_handle)
  # The module's vocabulary and casing are the run's (and its export's).
  settings = settings.replace(vocab_file=vocab_file,
                              do_lower_case=do_lower_case)
  tokenizer = runtime.load_tokenizer(settings)
  output_files.prepare_output_dir(settings.output_dir,
                                  overwrite=settings.overwrite_output_dir)
  runtime.check_resume(settings, settings.output_dir)
  description = task_description.from_settings(settings, "classification",
                                               labels=label_list)
  if settings.do_train:
    task_description.write(settings.output_dir, description.replace(
        run_settings=runtime.run_settings(settings)))
  processor.save_label_list()

  train_examples = None
  num_train_steps = None
  num_warmup_steps = None
  if settings.do_train:
    train_examples = processor.get_train_examples(settings.data_dir)
    run_classifier.require_examples(train_examples, "train", processor,
                                    settings.data_dir)
    num_train_steps, num_warmup_steps = runtime.epoch_schedule(
        settings, len(train_examples), "--data_dir=%s" % settings.data_dir)

  settings = runtime.with_progress_intervals(settings, num_train_steps)
  model_fn = model_fn_builder(
      num_labels=len(label_list),
      learning_rate=settings.learning_rate,
      num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps,
      use_tpu=settings.use_tpu,
      bert_hub_module_handle=settings.bert_hub_module_handle,
      settings=settings)
  estimator = runtime.build_estimator(
      settings, model_fn, settings.output_dir, settings.train_batch_size,
      settings.eval_batch_size, settings.predict_batch_size)

  evaluate = None
  if settings.do_train and settings.eval_every_n_steps > 0:
    evaluate = run_classifier.dev_evaluation(
        settings, estimator, dev_examples, label_list, tokenizer,
        run_classifier.ClassifierHead())
  if settings.do_train and runtime.training_needed(settings.output_dir,
                                                num_train_steps):
    run_classifier.train(settings, estimator, train_examples, num_train_steps,
                         label_list, tokenizer, regression=False,
                         evaluate=evaluate, best_metric=best_metric)
  best = training_loop.best_checkpoint(settings.output_dir)
  # With Horovod, rank 0 alone evaluates, predicts and writes the results.
  if runtime.is_chief():
    run_classifier.evaluate_and_predict(
        settings, estimator, processor, label_list, tokenizer, regression=False,
        checkpoint_path=best, evaluate=evaluate)
  if settings.export_dir and runtime.is_chief():
    serving.export_run(settings, estimator, description, best,
                       task_name=settings.task_name)


if __name__ == "__main__":
  flags.mark_flag_as_required("task_name")
  flags.mark_flag_as_required("bert_hub_module_handle")
  flags.mark_flag_as_required("output_dir")
  command_line.run(main, script_flags.grouped_help)
