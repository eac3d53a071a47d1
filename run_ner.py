r"""Fine-tunes BERT for token classification: named entities, chunks, tags.

Run it as run_classifier.py, on CoNLL files:

  python run_ner.py --do_train --do_eval --do_predict \
      --data_dir=data/ner --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_lower_case=False \
      --max_seq_length=128 --train_batch_size=32 --learning_rate=5e-5 \
      --num_train_epochs=3.0 --output_dir=/tmp/ner_output/

Input: `train.txt`, `dev.txt`, `test.txt` in `--data_dir` (or
`--train_file`, `--dev_file`, `--test_file`): one token per line, columns
separated by white space, the token first and the tag in `--label_column`
(default: the last), a blank line between sentences, `-DOCSTART-` lines
skipped. The labels come from `--labels` or the training file and are
written, with the rest of the task's description, to `<output_dir>/task.json`
(and `label_list.txt`, task_description.py), which evaluation, prediction and
export read back. `--tag_scheme` (IOB1, IOB2, IOBES, or none for plain tags
such as part of speech) is detected from the gold tags unless given.

Each word's label sits on its first word piece; the word's other pieces are
masked out of the loss and of the metrics. A sentence longer than the
window is split into windows `--doc_stride` pieces apart, and each word is
predicted from the window where it has the most context (run_squad's rule,
in windowing.py), so every word is predicted exactly once.

Outputs in `--output_dir`: checkpoints, `task.json`, `label_list.txt`,
`*.tf_record`,
`eval_results.txt` (`eval_precision`, `eval_recall`, `eval_f1` over
entities as conlleval counts them, `eval_accuracy` over words, and
`eval_<TYPE>_precision` etc. per entity type; see ner_evaluate.py) and
`test_predictions.txt` (`token gold predicted`, a blank line between
sentences), which `python ner_evaluate.py test_predictions.txt` scores.

Data converted once (create_finetuning_data.py --fine_tuning_task_type=
tagging, this project's or Model Garden's tagging_data_lib) is read as Model
Garden reads it: `--input_meta_data_path` with `--train_data_path`,
`--eval_data_path`, `--predict_data_path` (default: `--eval_data_path`)
instead of `--data_dir` and its files, no tokenising. The labels are the
meta data's `label_list` (`--labels`, if given, must be the same), and
`--max_seq_length` and `--doc_stride` not given are the records'. Model
Garden's records mark the positions without a label with label id -1
instead of a `label_mask`; both kinds are read by the same input function.
The records are scored per sentence as the raw files are: each word's gold
tag is its first piece's label, taken (like its prediction) from its window
of most context, so `eval_results.txt` has the same metrics for the records
as for the files they were made from. Prediction writes
`test_predicted_tags.txt`: one line per sentence of the records, its words'
predicted tags (the records keep no words).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import numpy as np
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import finetuning_data
import modeling
import ner_data
import ner_evaluate
import output_files
import record_cache
import runtime
import serving
import script_flags
import tf2_encoders
import task_description
import tokenization
import training_loop

FLAGS = flags.FLAGS

# --doc_stride's default (also for records whose meta data has none: Model
# Garden's, whose windows never overlap).
DEFAULT_DOC_STRIDE = 64

script_flags.define("model", "tf2_encoder", "sequence", "output", "tokenizer",
                    "special_tokens", "training", "eval_during_training",
                    "epoch", "evaluation",
                    "prediction", "tpu", "performance", "export",
                    "finetuning_data")

# This script's own flags. Names that another script also defines
# (`do_eval`, `train_file`, `doc_stride`, ...) allow that, so that several
# scripts can be imported into one process (tests).
flags.DEFINE_string(
    "data_dir", None,
    "Directory with train.txt, dev.txt and test.txt in CoNLL layout (each "
    "can be replaced by --train_file, --dev_file, --test_file). Not with "
    "--input_meta_data_path, whose records are read instead.",
    allow_override=True)
flags.DEFINE_string("train_file", None,
                    "CoNLL file to train on (default: <data_dir>/train.txt).",
                    allow_override=True)
flags.DEFINE_string("dev_file", None,
                    "CoNLL file for --do_eval (default: <data_dir>/dev.txt).",
                    allow_override=True)
flags.DEFINE_string("test_file", None,
                    "CoNLL file for --do_predict (default: "
                    "<data_dir>/test.txt).",
                    allow_override=True)
flags.DEFINE_integer(
    "label_column", -1,
    "Column of the tag, counted from 0 (the token is column 0), as "
    "run_classifier's --label_column; negative counts from the end (-1: the "
    "last column, CoNLL-2003's NER tags; 1: its part of speech).",
    allow_override=True)
flags.DEFINE_list(
    "labels", None,
    "Comma-separated labels, e.g. O,B-PER,I-PER. Default: the labels of the "
    "training file, O first and the rest sorted; with --input_meta_data_path "
    "the records' label_list (given, it must be the same).",
    allow_override=True)
flags.DEFINE_enum(
    "tag_scheme", None, list(ner_evaluate.SCHEMES),
    "How tags spell entities: IOB1, IOB2 (BIO), IOBES, or none (plain tags, "
    "e.g. part of speech: token accuracy only). Default: detected from the "
    "gold tags and logged.",
    allow_override=True)
flags.DEFINE_integer(
    "doc_stride", DEFAULT_DOC_STRIDE,
    "A sentence of more word pieces than fit in --max_seq_length is split "
    "into windows that start this many pieces apart (at most "
    "--max_seq_length - 2 for windows that overlap). With "
    "--input_meta_data_path, default: the records'.",
    allow_override=True)

# Where prediction on records writes its tags (test_predictions.txt has
# another layout: `token gold predicted`, and records keep no tokens).
PREDICTED_TAGS_FILE = "test_predicted_tags.txt"

LABEL_LIST_FILE = task_description.LABEL_LIST_FILE
# CoNLL reading and the windows' records are a module of their own, below
# the scripts (create_finetuning_data.py writes them too); the names stay
# importable from here.
# pylint: disable=g-multiple-import,unused-import
from ner_data import (
    _COLUMN_SEPARATOR, DOCSTART, NUM_EXAMPLES_TO_LOG, MAX_CACHED_WORDS,
    InputExample, PaddingInputExample, InputFeatures, _column_index,
    read_conll, ConllProcessor, check_labels, convert_single_example,
    _log_feature, convert_examples_to_features, _features_to_example,
    file_based_convert_examples_to_features, _name_to_features,
    file_based_input_fn_builder)
# pylint: enable=g-multiple-import,unused-import

def check_tags(examples, scheme, detected=False):
  """Raises UserError (file:line) at the first tag not valid in `scheme`."""
  for example in examples:
    for i, label in enumerate(example.labels):
      error = ner_evaluate.tag_error(label, scheme)
      if error:
        raise UserError("%s: %s (--tag_scheme=%s%s)." % (
            example.where(i), error, scheme,
            ", detected from the gold tags" if detected else ""))


def write_label_list(output_dir, label_list):
  """Writes `<output_dir>/label_list.txt` (task_description's writer)."""
  return task_description.write_label_list(
      os.path.join(output_dir, LABEL_LIST_FILE), label_list)


def read_label_list(output_dir):
  """The labels a training run recorded in `output_dir`: its task.json, or
  the label_list.txt of an older version (`task_description.read`)."""
  description = task_description.read(output_dir)
  if description is None:
    raise UserError(
        "%s does not exist: without --do_train, --output_dir must hold a "
        "model trained by run_ner.py (it writes the labels there)." %
        os.path.join(output_dir, LABEL_LIST_FILE))
  if description.kind not in (None, "token_classification"):
    raise UserError(
        "%s describes a %s model, not a token-classification one of "
        "run_ner.py: choose another --output_dir." %
        (os.path.join(output_dir, task_description.TASK_FILE),
         description.kind))
  return [label.strip() for label in description.labels]


def resolve_labels(train_examples, given_labels, output_dir):
  """The label list: `--labels`, else the training file's, else the one a
  training run left in `output_dir`; checked against the training file."""
  if train_examples is None:
    label_list = read_label_list(output_dir)
    if given_labels and list(given_labels) != label_list:
      raise UserError(
          "--labels=%s differs from the labels the model was trained with "
          "(%s in %s)." % (",".join(given_labels), ",".join(label_list),
                           os.path.join(output_dir, LABEL_LIST_FILE)))
    return label_list
  if given_labels:
    if len(set(given_labels)) != len(given_labels):
      raise UserError("--labels=%s lists a label twice." %
                       ",".join(given_labels))
    check_labels(train_examples, given_labels, "of --labels")
    return list(given_labels)
  return ConllProcessor.get_labels(train_examples)


def resolve_tag_scheme(given, gold_examples):
  """`--tag_scheme`, or the scheme detected from the gold tags (logged)."""
  if given:
    return given
  scheme = ner_evaluate.detect_scheme(e.labels for e in gold_examples)
  tf.logging.info("Tag scheme: %s (detected from the gold tags; set "
                  "--tag_scheme to override)", scheme)
  return scheme


# The version of the training records' features in their key
# (`record_cache`): bumped when the conversion of the same sentences and
# settings changes, so that records a run wrote before are converted again.
RECORD_FORMAT = "run_ner/1"


def write_train_file(settings, examples, label_list, tokenizer, train_file):
  """Writes the windows of the training sentences `examples` to
  `train_file`, unless a run wrote it from the same sentences, tokenizer and
  settings before (`record_cache`, its key in `<train_file>.key`); returns
  the number of windows.

  eval.tf_record and predict.tf_record are written every run: the word-level
  predictions need the windows themselves (their word maps).
  """
  key = record_cache.conversion_key(
      RECORD_FORMAT, examples, tokenizer, labels=label_list,
      max_seq_length=settings.max_seq_length, doc_stride=settings.doc_stride)
  counts = record_cache.convert_once(train_file, key, lambda: {
      "num_windows": len(file_based_convert_examples_to_features(
          examples, label_list, settings.max_seq_length, tokenizer,
          settings.doc_stride, train_file))})
  return counts["num_windows"]


def create_model(bert_config, is_training, input_ids, input_mask, segment_ids,
                 label_ids, label_weights, num_labels, use_one_hot_embeddings,
                 compute_type=tf.float32):
  """A token classifier: one layer over BERT's sequence output.

  The head's variables are `output_weights` [num_labels, hidden] and
  `output_bias`, as run_classifier's; in training the sequence output gets
  dropout at the config's `hidden_dropout_prob` (0.1 in the official
  configs), as the classifier's pooled output does. The loss is the mean
  cross-entropy over the positions where `label_weights` is non-zero (the
  first piece of each word of real examples).

  Returns:
    (loss, per_token_loss [batch, seq], logits, probabilities
    [batch, seq, num_labels])
  """
  model = modeling.BertModel(
      config=bert_config,
      is_training=is_training,
      input_ids=input_ids,
      input_mask=input_mask,
      token_type_ids=segment_ids,
      use_one_hot_embeddings=use_one_hot_embeddings,
      compute_type=compute_type)
  output_layer = tf.cast(model.get_sequence_output(), tf.float32)
  hidden_size = output_layer.shape[-1]
  seq_length = tf.shape(output_layer)[1]

  output_weights = tf.get_variable(
      "output_weights", [num_labels, hidden_size],
      initializer=tf.truncated_normal_initializer(stddev=0.02))
  output_bias = tf.get_variable(
      "output_bias", [num_labels], initializer=tf.zeros_initializer())

  # No name scope "loss": it would rename the Estimator's TensorBoard `loss`
  # summary to `loss_1`. (The scope holds no variables.)
  with tf.variable_scope("loss", auxiliary_name_scope=False):
    if is_training:
      output_layer = modeling.dropout(output_layer,
                                      bert_config.hidden_dropout_prob)
    flat = tf.reshape(output_layer, [-1, hidden_size])
    logits = tf.nn.bias_add(
        tf.matmul(flat, output_weights, transpose_b=True), output_bias)
    logits = tf.reshape(logits, [-1, seq_length, num_labels])
    probabilities = tf.nn.softmax(logits, axis=-1)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    one_hot_labels = tf.one_hot(label_ids, depth=num_labels, dtype=tf.float32)
    per_token_loss = -tf.reduce_sum(one_hot_labels * log_probs, axis=-1)
    weights = tf.cast(label_weights, tf.float32)
    # Mean over labelled positions; a batch of padding alone gives 0.
    loss = tf.reduce_sum(per_token_loss * weights) / tf.maximum(
        tf.reduce_sum(weights), 1.0)
    return (loss, per_token_loss, logits, probabilities)


def model_fn_builder(bert_config, num_labels, init_checkpoint, learning_rate,
                     num_train_steps, num_warmup_steps, use_tpu,
                     use_one_hot_embeddings, settings=None):
  """Returns a `model_fn` closure for TPUEstimator.

  Training uses the optimiser, precision and accumulation of `settings`
  (default: the defaults; `runtime.train_spec`). Evaluation mode reports
  `eval_loss` and `eval_accuracy` over the first pieces of words (every
  window); the entity figures of `eval_results.txt` come from predictions,
  which map each word to its max-context window. Prediction returns
  `probabilities` [batch, seq, num_labels] per word piece; it is also the
  SavedModel's output.
  """
  settings = settings or script_flags.Settings()

  def model_fn(features, labels, mode, params):  # pylint: disable=unused-argument
    """The `model_fn` for TPUEstimator."""
    runtime.log_features(features)

    input_ids = features["input_ids"]
    # A SavedModel's serving inputs have no labels (runtime.export_saved_model).
    label_ids = features.get("label_ids", tf.zeros_like(input_ids))
    label_mask = features.get("label_mask", tf.zeros_like(input_ids))
    is_real_example = tf.cast(
        features.get("is_real_example", tf.ones(tf.shape(input_ids)[:1],
                                                tf.int32)), tf.float32)
    label_weights = tf.cast(label_mask, tf.float32) * is_real_example[:, None]

    is_training = (mode == tf.estimator.ModeKeys.TRAIN)
    (total_loss, per_token_loss, logits, probabilities) = create_model(
        bert_config, is_training, input_ids, features["input_mask"],
        features["segment_ids"], label_ids, label_weights, num_labels,
        use_one_hot_embeddings, runtime.compute_type(settings))

    scaffold_fn = runtime.init_from_checkpoint(init_checkpoint, use_tpu)

    if mode == tf.estimator.ModeKeys.TRAIN:
      return runtime.train_spec(settings, total_loss, learning_rate,
                                num_train_steps, num_warmup_steps, scaffold_fn)

    if mode == tf.estimator.ModeKeys.EVAL:

      def metric_fn(per_token_loss, label_ids, logits, label_weights):
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {
            "eval_accuracy": tf.metrics.accuracy(
                labels=label_ids, predictions=predictions,
                weights=label_weights),
            "eval_loss": tf.metrics.mean(values=per_token_loss,
                                         weights=label_weights),
        }

      eval_metrics = (metric_fn,
                      [per_token_loss, label_ids, logits, label_weights])
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, eval_metrics=eval_metrics,
          scaffold_fn=scaffold_fn)

    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, predictions={"probabilities": probabilities},
        scaffold_fn=scaffold_fn)

  return model_fn


def word_probabilities(examples, features, predictions):
  """Per sentence, a [num_words, num_labels] array of each word's label
  probabilities, taken from its first piece in its max-context window.

  `predictions` are the model's outputs for `features`, in order (padding
  features at the end are skipped).

  Raises:
    ValueError: a word got no prediction or two (a windowing bug), or there
      are fewer predictions than features.
  """
  result = [None] * len(examples)
  count = 0
  for feature, prediction in zip(features, predictions):
    count += 1
    if not feature.is_real_example:
      continue
    probabilities = np.asarray(prediction["probabilities"])
    index = feature.example_index
    if result[index] is None:
      result[index] = np.full(
          [len(examples[index].words), probabilities.shape[-1]], np.nan,
          np.float32)
    for position, word in feature.token_to_word.items():
      if not feature.token_is_max_context[position]:
        continue
      if not np.isnan(result[index][word, 0]):
        raise ValueError("Word %d of %s was predicted twice." %
                         (word, examples[index].guid))
      result[index][word] = probabilities[position]
  if count < len(features):
    raise ValueError("Expected %d predictions, got %d." %
                     (len(features), count))
  for example, probabilities in zip(examples, result):
    if probabilities is None or np.isnan(probabilities[:, 0]).any():
      raise ValueError("A word of %s got no prediction." % example.guid)
  return result


def word_probabilities_of_records(sentences, predictions):
  """`word_probabilities` of `ner_data.RecordSentences`: each word's label
  probabilities at its slot (record, position), from `predictions`, the
  model's outputs for the records in order (padding records after them).

  Raises:
    ValueError: fewer predictions than records.
  """
  wanted = collections.defaultdict(list)
  for index, slots in enumerate(sentences.slots):
    for word, (record, position) in enumerate(slots):
      wanted[record].append((index, word, position))
  result = [None] * len(sentences)
  count = 0
  for record, prediction in enumerate(predictions):
    count += 1
    if record not in wanted:
      continue
    probabilities = np.asarray(prediction["probabilities"])
    for index, word, position in wanted[record]:
      if result[index] is None:
        result[index] = np.zeros(
            [len(sentences.slots[index]), probabilities.shape[-1]],
            np.float32)
      result[index][word] = probabilities[position]
  if count < sentences.num_records:
    raise ValueError("Expected %d predictions, got %d." %
                     (sentences.num_records, count))
  return result


def evaluate_predictions(examples, probabilities, label_list, scheme):
  """(`ner_evaluate.Evaluation`, predicted tag sequences, mean word loss)."""
  evaluation = ner_evaluate.Evaluation(scheme)
  label_map = {label: i for i, label in enumerate(label_list)}
  predicted, losses = [], []
  for example, word_probs in zip(examples, probabilities):
    tags = [label_list[i] for i in np.argmax(word_probs, axis=-1)]
    predicted.append(tags)
    evaluation.add(example.labels, tags)
    gold = np.array([label_map[l] for l in example.labels])
    losses.append(-np.log(np.maximum(
        word_probs[np.arange(len(gold)), gold], 1e-30)))
  mean_loss = float(np.mean(np.concatenate(losses))) if losses else 0.0
  return evaluation, predicted, mean_loss


def write_predictions(examples, predicted, output_path):
  """`token gold predicted` lines, a blank line after each sentence."""
  lines = []
  for example, tags in zip(examples, predicted):
    for word, gold, tag in zip(example.words, example.labels, tags):
      lines.append("%s %s %s\n" % (word, gold, tag))
    lines.append("\n")
  output_files.write_text_atomically(output_path, "".join(lines))
  tf.logging.info("Wrote the tags of %d sentences to %s", len(examples),
                  output_path)


def write_predicted_tags(predicted, output_path, source):
  """One line per sentence of the records `source` (a flag), its words'
  predicted tags separated by spaces (records keep no words: line i is the
  sentence of the records' i-th sentence)."""
  output_files.write_text_atomically(
      output_path, "".join(" ".join(tags) + "\n" for tags in predicted))
  tf.logging.info("Wrote the predicted tags of the %d sentences of %s to %s "
                  "(one line each, in the records' order)", len(predicted),
                  source, output_path)


def export(settings, estimator, description, checkpoint_path=None):
  """--export_dir: `checkpoint_path` (default: the newest checkpoint of
  --output_dir, else a fine-tuned --init_checkpoint) as a SavedModel
  carrying the vocabulary and `description` (labels, index -> tag; casing,
  tokenizer options), task token_classification (serving.py)."""
  return serving.export_run(settings, estimator, description,
                            checkpoint_path=checkpoint_path)


def validate_flags(settings, bert_config):
  """Checks the settings before any work starts; raises UserError if
  wrong."""
  runtime.check_something_to_do(settings, "do_train", "do_eval",
                                "do_predict", "export_dir")
  runtime.check_flags(settings, bert_config, settings.max_seq_length,
                      settings.train_batch_size, settings.do_train,
                      settings.export_dir, settings.output_dir,
                      init_checkpoint=settings.init_checkpoint)
  if settings.doc_stride < 1:
    raise UserError("--doc_stride=%d must be at least 1." %
                    settings.doc_stride)
  if (settings.doc_stride > settings.max_seq_length - 2 and
      not settings.get("input_meta_data_path")):
    # make_doc_spans never skips a piece: the windows just do not overlap.
    # (Records are windowed already.)
    tf.logging.warning(
        "--doc_stride=%d is more than the %d pieces of a window: long "
        "sentences are cut into windows that do not overlap.",
        settings.doc_stride, settings.max_seq_length - 2)
  if settings.label_column in (0, 1):
    raise UserError(
        "--label_column=%d: columns count from 1 (or from -1 at the end) and "
        "column 1 is the token; the tag is in a later one." %
        settings.label_column)
  if settings.data_dir and not tf.io.gfile.isdir(settings.data_dir):
    raise UserError("--data_dir=%s is not a directory." % settings.data_dir)
  runtime.check_trained_model(settings)


def read_inputs(settings, processor):
  """The examples of every split the settings ask for, the label list and
  the tag scheme, all checked: bad input fails here, before any training."""
  splits = collections.OrderedDict()
  if settings.do_train:
    splits["train"] = processor.get_train_examples(settings.data_dir)
  if settings.do_eval or (settings.do_train and settings.eval_every_n_steps):
    splits["dev"] = processor.get_dev_examples(settings.data_dir)
  if settings.do_predict:
    splits["test"] = processor.get_test_examples(settings.data_dir)
  label_list = resolve_labels(splits.get("train"), settings.labels,
                              settings.output_dir)
  gold = splits.get("train") or [e for s in splits.values() for e in s]
  if not gold:  # An export alone: no tags to read or score.
    return splits, label_list, settings.tag_scheme
  scheme = resolve_tag_scheme(settings.tag_scheme, gold)
  for examples in splits.values():
    check_tags(examples, scheme, detected=not settings.tag_scheme)
  for split in ("dev", "test"):
    if split in splits:
      check_labels(splits[split], label_list,
                   "the model is trained on" if settings.do_train else
                   "in %s" % os.path.join(settings.output_dir,
                                          LABEL_LIST_FILE))
  return splits, label_list, scheme


def read_records(settings, bert_config):
  """(settings, a `finetuning_data.ConvertedData` or None): with
  --input_meta_data_path, the records of each split the run reads, checked
  against the flags (--labels among them) and the model, and the settings
  of their windows (`max_seq_length`, `doc_stride`: the records' where the
  flag is not given).

  Raises:
    UserError: a flag of the CoNLL files beside the records, an
      --export_dir without --vocab_file, or meta data that disagree with the
      flags or the model.
  """
  path = settings.get("input_meta_data_path")
  if path:
    for flag in ("data_dir", "train_file", "dev_file", "test_file"):
      if settings.get(flag):
        raise UserError(
            "--%s=%s and --input_meta_data_path=%s: give one of them, the "
            "CoNLL files or the records (--train_data_path, "
            "--eval_data_path, --predict_data_path)." %
            (flag, settings.get(flag), path))
    if settings.export_dir and not settings.vocab_file:
      raise UserError(
          "--export_dir with --input_meta_data_path needs --vocab_file, the "
          "vocabulary the records were made with: the SavedModel keeps it.")
  return finetuning_data.read_converted_data(
      settings, "run_ner.py", train=settings.do_train,
      evaluate=settings.do_eval or bool(settings.do_train and
                                        settings.eval_every_n_steps),
      predict=settings.do_predict, label_list=settings.labels,
      label_source="--labels", bert_config=bert_config,
      defaults={"doc_stride": DEFAULT_DOC_STRIDE})


def read_record_inputs(settings, data):
  """`read_inputs` for converted records: the sentences of the evaluation
  and test records (`ner_data.read_record_sentences`), the labels (the
  records', or the same --labels) and the tag scheme (--tag_scheme, else
  detected from the gold tags of the training records, or else of those
  read), all checked before any work."""
  label_list = [str(l) for l in (settings.labels or data.labels or [])]
  if not label_list:
    raise UserError("--input_meta_data_path=%s has no label_list nor "
                    "num_labels: give the labels with --labels." % data.path)
  if not settings.do_train:
    check_trained_labels(settings.output_dir, label_list, data.path)
  splits = collections.OrderedDict()
  for name, split, flag in (
      ("dev", data.eval, "eval_data_path"),
      ("test", data.predict, "predict_data_path"
       if settings.predict_data_path else "eval_data_path")):
    if split is not None:
      splits[name] = ner_data.read_record_sentences(
          split, label_list, settings.doc_stride, name, flag)
  if not splits:  # Training or an export alone: no tags to score.
    return splits, label_list, settings.tag_scheme
  gold = [e for s in splits.values() for e in s]
  if data.train is not None and not settings.tag_scheme:
    # The training set's tags, as for CoNLL files.
    gold = ner_data.read_record_sentences(
        data.train, label_list, settings.doc_stride, "train",
        "train_data_path")
  scheme = resolve_tag_scheme(settings.tag_scheme, gold)
  used = sorted({tag for examples in splits.values() for example in examples
                 for tag in example.labels})
  for tag in used:
    error = ner_evaluate.tag_error(tag, scheme)
    if error:
      raise UserError("--input_meta_data_path=%s: %s (--tag_scheme=%s%s)." % (
          data.path, error, scheme,
          "" if settings.tag_scheme else ", detected from the gold tags"))
  return splits, label_list, scheme


def check_trained_labels(output_dir, label_list, path):
  """Without training: the records' labels must be those the model in
  `output_dir` was trained with (its task.json), if it says."""
  description = task_description.read(output_dir) if output_dir else None
  if description is None or not description.labels:
    return
  trained = [label.strip() for label in description.labels]
  if trained != label_list:
    raise UserError(
        "--input_meta_data_path=%s: the records' labels (%s) are not those "
        "the model in --output_dir=%s was trained with (%s)." %
        (path, ",".join(label_list), output_dir, ",".join(trained)))


def main(_):
  settings = script_flags.from_flags()
  # A TF2 encoder (--hub_module_url, a TF2 --init_checkpoint) becomes an
  # original checkpoint, config and vocabulary; the rest of the run is as ever.
  settings = tf2_encoders.resolve_encoder(settings)
  bert_config = runtime.load_bert_config(settings.bert_config_file)
  # Data converted once (--input_meta_data_path) in place of the CoNLL files.
  settings, records = read_records(settings, bert_config)
  validate_flags(settings, bert_config)
  if records is None:
    tokenizer = runtime.load_tokenizer(settings)
    processor = ConllProcessor(settings.train_file, settings.dev_file,
                               settings.test_file, settings.label_column)
    splits, label_list, scheme = read_inputs(settings, processor)
  else:
    # Records hold word-piece ids: nothing is tokenised.
    tokenizer = None
    splits, label_list, scheme = read_record_inputs(settings, records)
  best_metric = check_evaluation_flags(settings, splits, label_list)
  output_files.prepare_output_dir(settings.output_dir,
                                  overwrite=settings.overwrite_output_dir)
  runtime.check_resume(settings, settings.output_dir)
  tf.logging.info("Labels (%d): %s", len(label_list), ", ".join(label_list))

  train_file = os.path.join(settings.output_dir, "train.tf_record")
  num_train_steps = num_warmup_steps = None
  description = task_description.from_settings(
      settings, "token_classification", labels=label_list,
      doc_stride=settings.doc_stride)
  if settings.do_train:
    task_description.write(settings.output_dir, description.replace(
        run_settings=runtime.run_settings(settings)))
    if records is not None:
      train_files, num_train_windows = records.train.files, len(records.train)
      source = "--train_data_path=%s" % settings.train_data_path
    else:
      num_train_windows = write_train_file(settings, splits["train"],
                                           label_list, tokenizer, train_file)
      train_files = [train_file]
      source = processor.path(settings.data_dir, "train")
    num_train_steps, num_warmup_steps = runtime.epoch_schedule(
        settings, num_train_windows, source)

  settings = runtime.with_progress_intervals(settings, num_train_steps)
  model_fn = model_fn_builder(
      bert_config=bert_config,
      num_labels=len(label_list),
      init_checkpoint=settings.init_checkpoint,
      learning_rate=settings.learning_rate,
      num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps,
      use_tpu=settings.use_tpu,
      use_one_hot_embeddings=settings.use_tpu,
      settings=settings)
  estimator = runtime.build_estimator(
      settings, model_fn, settings.output_dir, settings.train_batch_size,
      settings.eval_batch_size, settings.predict_batch_size)

  if settings.do_train and runtime.training_needed(
      settings.output_dir, num_train_steps, settings.init_checkpoint):
    tf.logging.info("***** Running training *****")
    if records is not None:
      tf.logging.info("  Num windows = %d (records of %s)", num_train_windows,
                      source)
    else:
      tf.logging.info("  Num sentences = %d (%d windows)",
                      len(splits["train"]), num_train_windows)
    tf.logging.info("  Batch size = %d", settings.train_batch_size)
    tf.logging.info("  Num steps = %d", num_train_steps)
    train_input_fn = file_based_input_fn_builder(
        train_files, settings.max_seq_length, is_training=True,
        drop_remainder=True, labels_from_ids=records is not None)
    evaluate = None
    if settings.eval_every_n_steps:
      evaluate = lambda path: dev_metrics(  # pylint: disable=g-long-lambda
          settings, estimator, splits["dev"], label_list, tokenizer, scheme,
          path)
    training_loop.train_and_evaluate(
        settings, estimator, train_input_fn, num_train_steps,
        evaluate=evaluate, metric=best_metric, input_files=train_files)
  best = training_loop.best_checkpoint(settings.output_dir)

  # With Horovod, rank 0 alone evaluates, predicts and writes the results.
  if runtime.is_chief():
    evaluate_and_predict(settings, estimator, splits, label_list, tokenizer,
                         scheme, checkpoint_path=best)
  if settings.export_dir and runtime.is_chief():
    export(settings, estimator, description, checkpoint_path=best)


def check_evaluation_flags(settings, splits, label_list):
  """The evaluation-during-training settings' checks; returns the metric
  that chooses the best checkpoint (entity F1 by default)."""
  no_dev = None
  if (settings.do_train and settings.eval_every_n_steps and
      not splits.get("dev")):
    no_dev = "no dev sentences (%s)." % (
        settings.dev_file or os.path.join(settings.data_dir or "", "dev.txt"))
  types = sorted({tag.split("-", 1)[1] for tag in label_list if "-" in tag})
  names = ["eval_precision", "eval_recall", "eval_f1", "eval_accuracy",
           "eval_loss"] + ["eval_%s_%s" % (t, m) for t in types
                           for m in ("precision", "recall", "f1")]
  return training_loop.check_flags(settings, names, "eval_f1", no_dev)


def dev_metrics(settings, estimator, examples, label_list, tokenizer, scheme,
                checkpoint_path=None):
  """eval_results.txt's metrics of the dev sentences `examples` at
  `checkpoint_path` (None: the newest), conlleval's report logged."""
  probabilities = _predict(settings, estimator, "evaluation", examples,
                           label_list, tokenizer, settings.eval_batch_size,
                           "eval.tf_record", checkpoint_path)
  evaluation, _, loss = evaluate_predictions(examples, probabilities,
                                             label_list, scheme)
  result = evaluation.metrics()
  result["eval_loss"] = loss
  result["global_step"] = _step_of(estimator, checkpoint_path)
  tf.logging.info("Dev set, conlleval figures (%s):\n%s", scheme,
                  evaluation.report())
  return result


def _step_of(estimator, checkpoint_path):
  if checkpoint_path:
    return int(tf.train.load_variable(checkpoint_path, "global_step"))
  return int(estimator.get_variable_value("global_step"))


def evaluate_and_predict(settings, estimator, splits, label_list, tokenizer,
                         scheme, checkpoint_path=None):
  """--do_eval: eval_results.txt on the dev set; --do_predict:
  test_predictions.txt on the test set, of `checkpoint_path` (None: the
  newest). Both log conlleval's report."""
  if settings.do_eval:
    result = dev_metrics(settings, estimator, splits["dev"], label_list,
                         tokenizer, scheme, checkpoint_path)
    output_files.write_eval_results(settings.output_dir, result)
    training_loop.write_final_evaluation(settings.output_dir,
                                         checkpoint_path, result)

  if settings.do_predict:
    examples = splits["test"]
    probabilities = _predict(settings, estimator, "prediction", examples,
                             label_list, tokenizer,
                             settings.predict_batch_size, "predict.tf_record",
                             checkpoint_path)
    evaluation, predicted, _ = evaluate_predictions(examples, probabilities,
                                                    label_list, scheme)
    if isinstance(examples, ner_data.RecordSentences):
      write_predicted_tags(
          predicted, os.path.join(settings.output_dir, PREDICTED_TAGS_FILE),
          "--predict_data_path=%s" % (settings.predict_data_path or
                                      settings.eval_data_path))
    else:
      write_predictions(examples, predicted,
                        os.path.join(settings.output_dir,
                                     "test_predictions.txt"))
    tf.logging.info("Test set, conlleval figures (%s):\n%s", scheme,
                    evaluation.report())


def _predict(settings, estimator, what, examples, label_list, tokenizer,
             batch_size, file_name, checkpoint_path=None):
  """Each sentence's word-level label probabilities (`word_probabilities`).

  The windows are written to `file_name` in --output_dir, padded on TPU to
  whole batches; converted records (`ner_data.RecordSentences`) are read as
  they are.
  """
  if isinstance(examples, ner_data.RecordSentences):
    return _predict_records(settings, estimator, what, examples, batch_size,
                            file_name, checkpoint_path)
  path = os.path.join(settings.output_dir, file_name)
  features = file_based_convert_examples_to_features(
      examples, label_list, settings.max_seq_length, tokenizer,
      settings.doc_stride, path, batch_size if settings.use_tpu else 1)
  tf.logging.info("***** Running %s *****", what)
  tf.logging.info("  Num sentences = %d, windows = %d", len(examples),
                  len(features))
  tf.logging.info("  Batch size = %d", batch_size)
  input_fn = file_based_input_fn_builder(
      path, settings.max_seq_length, is_training=False,
      drop_remainder=settings.use_tpu)
  return word_probabilities(
      examples, features,
      estimator.predict(input_fn=input_fn, checkpoint_path=checkpoint_path))


def _predict_records(settings, estimator, what, sentences, batch_size,
                     file_name, checkpoint_path=None):
  """`_predict` of converted records: each sentence's word-level label
  probabilities (`word_probabilities_of_records`). On TPU, whose batches
  must be full, padding windows follow them in `file_name` (as
  `_padding.tf_record`) in --output_dir."""
  files = list(sentences.files)
  missing = -sentences.num_records % batch_size if settings.use_tpu else 0
  if missing:
    path = os.path.join(settings.output_dir,
                        file_name.replace(".tf_record", "_padding.tf_record"))
    ner_data.write_padding_windows(path, missing, settings.max_seq_length)
    files.append(path)
  tf.logging.info("***** Running %s *****", what)
  tf.logging.info("  Num sentences = %d, windows = %d (records of %s)",
                  len(sentences), sentences.num_records,
                  ",".join(sentences.files))
  tf.logging.info("  Batch size = %d", batch_size)
  input_fn = file_based_input_fn_builder(
      files, settings.max_seq_length, is_training=False,
      drop_remainder=settings.use_tpu, labels_from_ids=True)
  return word_probabilities_of_records(
      sentences,
      estimator.predict(input_fn=input_fn, checkpoint_path=checkpoint_path))

if __name__ == "__main__":
  # --vocab_file and --bert_config_file may come from --hub_module_url;
  # without either, the run stops with an error naming them.
  flags.mark_flag_as_required("output_dir")
  command_line.run(main, script_flags.grouped_help)
