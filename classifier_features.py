"""Classification features: `InputExample`s to the records run_classifier reads.

The one conversion of task examples into fixed-length features
(`convert_single_example`, long-document windows) and the TFRecord layout
(`input_ids`, `input_mask`, `segment_ids`, `label_ids`, `is_real_example`,
Model Garden's names too) that run_classifier.py writes and reads and that
create_finetuning_data.py writes once for many runs. run_classifier
re-exports every name, as the original's module had them.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import time

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import bert_inputs
from classifier_tasks import PaddingInputExample
from command_line import UserError
import input_pipeline
import output_files
import tokenization

class InputFeatures(object):
  """A single set of features of data."""

  def __init__(self,
               input_ids,
               input_mask,
               segment_ids,
               label_id,
               is_real_example=True,
               example_index=None):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_id = label_id  # An int, a float (regression), a 0/1 list
    self.is_real_example = is_real_example
    # With long-document windows: which example this window is of.
    self.example_index = example_index


def _is_regression(label_list):
  return not label_list or label_list == [None]


def convert_single_example(ex_index, example, label_list, max_seq_length,
                           tokenizer, multi_label=False):
  """Converts one `InputExample` into an `InputFeatures`.

  The layout is `[CLS] A [SEP]` (segment 0) then `B [SEP]` (segment 1),
  zero-padded to `max_seq_length`; pairs are trimmed one token at a time from
  the longer side. With `label_list` None (regression), the label is a float;
  with `multi_label`, the example's label is a list of labels and `label_id`
  is a 0/1 vector in `label_list` order.

  Raises:
    ValueError: the example's label is not in `label_list`.
  """
  if isinstance(example, PaddingInputExample):
    return _padding_features(label_list, max_seq_length, multi_label)

  label_id = _label_id(example, label_list, multi_label)
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
  if tokens_b:
    # Room for [CLS], [SEP], [SEP].
    _truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  elif len(tokens_a) > max_seq_length - 2:
    tokens_a = tokens_a[0:(max_seq_length - 2)]
  return _features_from_tokens(ex_index, example, tokens_a, tokens_b,
                               label_id, max_seq_length, tokenizer)


def _padding_features(label_list, max_seq_length, multi_label=False):
  if _is_regression(label_list):
    label_id = 0.0
  elif multi_label:
    label_id = [0] * len(label_list)
  else:
    label_id = 0
  return InputFeatures(
      input_ids=[0] * max_seq_length,
      input_mask=[0] * max_seq_length,
      segment_ids=[0] * max_seq_length,
      label_id=label_id,
      is_real_example=False)


def _label_id(example, label_list, multi_label=False):
  """The float score, label index, or (multi-label) 0/1 vector of `example`."""
  if _is_regression(label_list):
    return float(example.label)
  label_map = {label: i for (i, label) in enumerate(label_list)}
  labels = list(example.label) if multi_label else [example.label]
  for label in labels:
    if label not in label_map:
      raise UserError(
          "Example %s has label %r, which is not one of get_labels() = %s." %
          (example.guid, label, list(label_list)))
  if not multi_label:
    return label_map[example.label]
  vector = [0] * len(label_list)
  for label in labels:
    vector[label_map[label]] = 1
  return vector


def _features_from_tokens(ex_index, example, tokens_a, tokens_b, label_id,
                          max_seq_length, tokenizer, example_index=None):
  """`InputFeatures` of `[CLS] A [SEP] B [SEP]`, tokens already fitted."""
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)

  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  input_mask = [1] * len(input_ids)
  padding = max_seq_length - len(input_ids)
  input_ids += [0] * padding
  input_mask += [0] * padding
  segment_ids += [0] * padding

  if ex_index < 5:
    tf.logging.debug("*** Example ***")
    tf.logging.debug("guid: %s", example.guid)
    tf.logging.debug("tokens: %s",
                    " ".join(tokenization.printable_text(x) for x in tokens))
    tf.logging.debug("input_ids: %s", " ".join(str(x) for x in input_ids))
    tf.logging.debug("input_mask: %s", " ".join(str(x) for x in input_mask))
    tf.logging.debug("segment_ids: %s", " ".join(str(x) for x in segment_ids))
    tf.logging.debug("label: %s (id = %s)", example.label, label_id)

  return InputFeatures(
      input_ids=input_ids,
      input_mask=input_mask,
      segment_ids=segment_ids,
      label_id=label_id,
      is_real_example=True,
      example_index=example_index)


def window_starts(num_tokens, window, stride):
  """Where the windows of a text of `num_tokens` tokens start: every
  `stride` tokens until one reaches the end (as run_squad's doc spans)."""
  starts = [0]
  while starts[-1] + window < num_tokens:
    starts.append(starts[-1] + stride)
  return starts


def convert_example_to_windows(ex_index, example, label_list, max_seq_length,
                               tokenizer, doc_stride, multi_label=False):
  """`InputFeatures` of each window of a long `text_a`, `doc_stride` tokens
  apart, all with the example's label and `example_index=ex_index`.

  A `text_b` is kept whole in every window, cut to half the room if longer.
  A `PaddingInputExample` gives one padding feature (`example_index` -1).

  Raises:
    ValueError: the label is unknown, or `doc_stride` is larger than the
      window, which would skip tokens between windows.
  """
  if isinstance(example, PaddingInputExample):
    feature = _padding_features(label_list, max_seq_length, multi_label)
    feature.example_index = -1
    return [feature]
  label_id = _label_id(example, label_list, multi_label)
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else []
  if tokens_b:
    tokens_b = tokens_b[:(max_seq_length - 3) // 2]
    window = max_seq_length - 3 - len(tokens_b)
  else:
    window = max_seq_length - 2
  if doc_stride > window:
    raise UserError(
        "Example %s: --doc_stride=%d is larger than its window of %d tokens "
        "(--max_seq_length less [CLS], [SEP] and text_b): windows would skip "
        "text." % (example.guid, doc_stride, window))
  return [
      _features_from_tokens(ex_index, example, tokens_a[start:start + window],
                            tokens_b, label_id, max_seq_length, tokenizer,
                            example_index=ex_index)
      for start in window_starts(len(tokens_a), window, doc_stride)
  ]


def _features_to_example(feature):
  """The tf.train.Example that `file_based_input_fn_builder` reads."""
  ints = output_files.int64_feature

  if isinstance(feature.label_id, float):
    label = tf.train.Feature(
        float_list=tf.train.FloatList(value=[feature.label_id]))
  elif isinstance(feature.label_id, (list, tuple)):  # multi-label
    label = ints(feature.label_id)
  else:
    label = ints([feature.label_id])
  columns = {
      "input_ids": ints(feature.input_ids),
      "input_mask": ints(feature.input_mask),
      "segment_ids": ints(feature.segment_ids),
      "label_ids": label,
      "is_real_example": ints([int(feature.is_real_example)]),
  }
  if feature.example_index is not None:
    columns["example_index"] = ints([feature.example_index])
  return tf.train.Example(features=tf.train.Features(feature=columns))


def file_based_convert_examples_to_features(examples, label_list,
                                            max_seq_length, tokenizer,
                                            output_file, multi_label=False,
                                            doc_stride=None,
                                            pad_to_multiple=None):
  """Converts `examples` to features and writes them to a TFRecord file.

  With `doc_stride`, a long example becomes several windows
  (`convert_example_to_windows`). With `pad_to_multiple` (TPUs), padding
  records follow until their number is a multiple of it. The file is written
  under a temporary name and renamed at the end, so an interrupted run leaves
  no half-written `output_file`.

  Returns:
    the number of records written.
  """
  start = time.time()
  num_records = 0
  with output_files.TFRecordWriter(output_file) as writer:
    for (ex_index, example) in enumerate(examples):
      if ex_index % 10000 == 0 and ex_index:
        tf.logging.info("Writing example %d of %d (%.0f examples/sec)",
                        ex_index, len(examples),
                        ex_index / max(time.time() - start, 1e-9))
      if doc_stride:
        features = convert_example_to_windows(
            ex_index, example, label_list, max_seq_length, tokenizer,
            doc_stride, multi_label)
      else:
        features = [convert_single_example(ex_index, example, label_list,
                                           max_seq_length, tokenizer,
                                           multi_label)]
      for feature in features:
        writer.write(_features_to_example(feature).SerializeToString())
      num_records += len(features)
    while pad_to_multiple and num_records % pad_to_multiple:
      feature = _padding_features(label_list, max_seq_length, multi_label)
      feature.example_index = -1 if doc_stride else None
      writer.write(_features_to_example(feature).SerializeToString())
      num_records += 1
  elapsed = max(time.time() - start, 1e-9)
  tf.logging.info("Converted %d examples to %s in %.1fs (%.0f examples/sec)",
                  len(examples), output_file, elapsed, len(examples) / elapsed)
  if doc_stride:
    tf.logging.info("  %d records: windows of --max_seq_length=%d, "
                    "--doc_stride=%d", num_records, max_seq_length, doc_stride)
  return num_records


def _name_to_features(seq_length, regression=False, num_multi_labels=None,
                      windowed=False):
  if regression:
    label = tf.FixedLenFeature([], tf.float32)
  elif num_multi_labels:
    label = tf.FixedLenFeature([num_multi_labels], tf.int64)
  else:
    label = tf.FixedLenFeature([], tf.int64)
  name_to_features = {
      "input_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "label_ids": label,
      "is_real_example": tf.FixedLenFeature([], tf.int64),
  }
  if windowed:
    name_to_features["example_index"] = tf.FixedLenFeature([], tf.int64)
  return name_to_features


def file_based_input_fn_builder(input_file, seq_length, is_training,
                                drop_remainder, is_regression=False,
                                num_multi_labels=None, windowed=False,
                                bucket_by_length=False):
  """Creates an `input_fn` closure to be passed to TPUEstimator.

  `num_multi_labels` (multi-label) makes `label_ids` a 0/1 vector of that
  length; `windowed` reads the `example_index` of long-document windows.
  `bucket_by_length` (CPU/GPU): batches of similar-length examples, each cut
  to its longest (`input_pipeline.batch_examples`).
  """
  return input_pipeline.tfrecord_input_fn_builder(
      input_file, _name_to_features(seq_length, is_regression,
                                    num_multi_labels, windowed),
      is_training, drop_remainder, bucket_by_length=bucket_by_length)


# Kept under its original name; the layout is in bert_inputs, which the
# predictor and the exported text signature share.
_truncate_seq_pair = bert_inputs.truncate_seq_pair


def convert_examples_to_features(examples, label_list, max_seq_length,
                                 tokenizer, multi_label=False, doc_stride=None):
  """Converts a list of `InputExample`s into a list of `InputFeatures`:
  one each, or with `doc_stride` one per window (`example_index` says whose).
  """
  features = []
  for (ex_index, example) in enumerate(examples):
    if ex_index % 10000 == 0 and ex_index:
      tf.logging.info("Writing example %d of %d", ex_index, len(examples))
    if doc_stride:
      features.extend(convert_example_to_windows(
          ex_index, example, label_list, max_seq_length, tokenizer,
          doc_stride, multi_label))
    else:
      features.append(convert_single_example(
          ex_index, example, label_list, max_seq_length, tokenizer,
          multi_label))
  return features
