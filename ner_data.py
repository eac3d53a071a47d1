"""CoNLL files read into sentences, and their windows written as TFRecords.

`read_conll` (one-line errors naming file and line), `ConllProcessor`, the
first-piece labels and max-context windows of `convert_single_example`, and
the records run_ner reads (`input_ids`, `input_mask`, `segment_ids`,
`label_ids`, `label_mask`, `is_real_example`). run_ner.py and
create_finetuning_data.py share them; run_ner re-exports the names.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os
import re
import time

import command_line
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import input_pipeline
import ner_evaluate
import output_files
import tokenization
import windowing

# Columns are separated by spaces or tabs; other white space (a no-break
# space, say) is part of a token.
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")
DOCSTART = "-DOCSTART-"
# How many features convert_examples logs in full.
NUM_EXAMPLES_TO_LOG = 5
# Words whose pieces conversion remembers (the cache is cleared when full).
MAX_CACHED_WORDS = 1 << 17


class InputExample(object):
  """One sentence: its words and (for train, dev and test) their labels.

  `path` and `line_numbers` (one per word) say where it came from, for
  messages about bad input.
  """

  def __init__(self, guid, words, labels=None, path=None, line_numbers=None):
    self.guid = guid
    self.words = words
    self.labels = labels
    self.path = path
    self.line_numbers = line_numbers

  def where(self, word_index):
    """`file:line` of one word."""
    return "%s:%d" % (self.path, self.line_numbers[word_index])


class PaddingInputExample(object):
  """Pads a partial last batch on TPU; all-zero features, not predicted."""


class InputFeatures(object):
  """One window of one sentence.

  `label_ids` and `label_mask` are per position: the mask is 1 on the first
  piece of each word. `token_to_word` maps those positions to the word's
  index in the sentence, and `token_is_max_context` says whether this window
  is the one the word is predicted from. The last two stay in memory; the
  TFRecord file holds the rest.
  """

  def __init__(self, input_ids, input_mask, segment_ids, label_ids, label_mask,
               example_index=None, token_to_word=None,
               token_is_max_context=None, is_real_example=True):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_ids = label_ids
    self.label_mask = label_mask
    self.example_index = example_index
    self.token_to_word = token_to_word or {}
    self.token_is_max_context = token_is_max_context or {}
    self.is_real_example = is_real_example


def _column_index(label_column, num_columns):
  """Index of `--label_column` (0-based; negative from the end)."""
  return label_column if label_column >= 0 else num_columns + label_column


def read_conll(path, label_column=-1, set_type="train"):
  """The sentences of a CoNLL file as `InputExample`s.

  Raises:
    UserError, naming the file and line: the file is missing, empty or not
      UTF-8, a line has fewer columns than `label_column` needs, or a line
      starts with white space (a sentence with an empty token).
  """
  if not tf.io.gfile.exists(path):
    raise UserError("Data file %s does not exist (check --data_dir or "
                     "--%s_file)." % (path, set_type))
  if label_column == 0:
    # Until this project's 1.1 release run_ner counted from 1; 0 was never
    # valid, and is the token column now.
    raise UserError("--label_column=0 is the token column: the tag is in "
                    "column 1 or later (counted from 0, as run_classifier's "
                    "--label_column) or counted from the end (-1: the last).")
  text = command_line.read_utf8(path)
  needed = label_column + 1 if label_column > 0 else -label_column + 1
  examples = []
  words, labels, line_numbers = [], [], []

  def end_sentence():
    if words:
      examples.append(InputExample(
          "%s-%d" % (set_type, len(examples)), list(words), list(labels), path,
          list(line_numbers)))
    del words[:], labels[:], line_numbers[:]

  # Lines end at "\n" alone (not at U+2028 and the like, as for
  # str.splitlines), so that line numbers are an editor's.
  for line_number, line in enumerate(text.split("\n"), 1):
    stripped = line.rstrip("\r").strip(" \t")
    columns = _COLUMN_SEPARATOR.split(stripped) if stripped else []
    if not columns:
      end_sentence()
      continue
    if columns[0] == DOCSTART:
      end_sentence()
      continue
    if line[0] in " \t":
      raise UserError(
          "%s:%d: empty token: the line starts with white space, so its "
          "first column is empty: %r" % (path, line_number, line[:200]))
    index = _column_index(label_column, len(columns))
    if len(columns) < needed or not 0 < index < len(columns):
      raise UserError(
          "%s:%d: expected at least %d columns (the token first, the tag in "
          "--label_column=%d), found %d: %r" %
          (path, line_number, max(needed, 2), label_column, len(columns),
           line[:200]))
    words.append(columns[0])
    labels.append(columns[index])
    line_numbers.append(line_number)
  end_sentence()
  if not examples:
    raise UserError("%s has no sentences (expected one `token ... tag` line "
                     "per token, a blank line between sentences)." % path)
  return examples


class ConllProcessor(object):
  """Reads the CoNLL files of a task, as run_classifier's `DataProcessor`s.

  Files given to the constructor replace `train.txt`, `dev.txt` and
  `test.txt` in `data_dir`.
  """

  def __init__(self, train_file=None, dev_file=None, test_file=None,
               label_column=-1):
    self.files = {"train": train_file, "dev": dev_file, "test": test_file}
    self.label_column = label_column

  def path(self, data_dir, set_type):
    if self.files[set_type]:
      return self.files[set_type]
    if not data_dir:
      raise UserError("Give --data_dir or --%s_file." % set_type)
    return os.path.join(data_dir, set_type + ".txt")

  def get_train_examples(self, data_dir):
    return read_conll(self.path(data_dir, "train"), self.label_column, "train")

  def get_dev_examples(self, data_dir):
    return read_conll(self.path(data_dir, "dev"), self.label_column, "dev")

  def get_test_examples(self, data_dir):
    return read_conll(self.path(data_dir, "test"), self.label_column, "test")

  @staticmethod
  def get_labels(examples):
    """The labels of `examples`: O first (if present), the rest sorted."""
    seen = {label for example in examples for label in example.labels}
    first = [ner_evaluate.OUTSIDE] if ner_evaluate.OUTSIDE in seen else []
    return first + sorted(seen - set(first))


def check_labels(examples, label_list, what):
  """Raises UserError (file:line) at the first label not in `label_list`."""
  known = set(label_list)
  for example in examples:
    for i, label in enumerate(example.labels):
      if label not in known:
        raise UserError("%s: label %r is not among the labels %s (%s)." %
                         (example.where(i), label, what,
                          ", ".join(label_list)))


def convert_single_example(ex_index, example, label_map, max_seq_length,
                           tokenizer, doc_stride, word_cache=None):
  """The windows (`InputFeatures`) of one sentence.

  Each window is `[CLS] pieces [SEP]`, zero-padded to `max_seq_length`.
  A window holds up to `max_seq_length - 2` pieces; windows start
  `doc_stride` pieces apart and the last ends at the sentence's end. A word
  the tokenizer drops (a control character, say) becomes [UNK], so that
  every word has a first piece. `word_cache` (word -> pieces) may be shared
  across calls.
  """
  if isinstance(example, PaddingInputExample):
    zeros = [0] * max_seq_length
    return [InputFeatures(zeros, zeros, zeros, zeros, zeros,
                          is_real_example=False)]
  pieces, piece_word, first_pieces = windowing.tokenize_document(
      example.words, tokenizer, word_cache, unknown_token="[UNK]")
  is_first = [False] * len(pieces)
  for p in first_pieces:
    is_first[p] = True
  piece_ids = tokenizer.convert_tokens_to_ids(pieces)
  word_label_ids = [label_map[l] for l in example.labels]
  cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])

  spans = windowing.make_doc_spans(len(pieces), max_seq_length - 2,
                                   doc_stride)
  max_context = windowing.max_context_span_indexes(spans, len(pieces))
  features = []
  for span_index, span in enumerate(spans):
    piece_range = range(span.start, span.start + span.length)
    input_ids = [cls_id] + [piece_ids[p] for p in piece_range] + [sep_id]
    label_ids = [0] * len(input_ids)
    label_mask = [0] * len(input_ids)
    token_to_word, token_is_max_context = {}, {}
    for position, p in enumerate(piece_range, 1):
      if is_first[p]:
        label_ids[position] = word_label_ids[piece_word[p]]
        label_mask[position] = 1
        token_to_word[position] = piece_word[p]
        token_is_max_context[position] = max_context[p] == span_index
    input_mask = [1] * len(input_ids)
    padding = [0] * (max_seq_length - len(input_ids))
    feature = InputFeatures(
        input_ids + padding, input_mask + padding,
        [0] * max_seq_length, label_ids + padding, label_mask + padding,
        ex_index, token_to_word, token_is_max_context)
    if ex_index < NUM_EXAMPLES_TO_LOG:
      _log_feature(example, feature, ["[CLS]"] + [
          pieces[p] for p in piece_range] + ["[SEP]"])
    features.append(feature)
  return features


def _log_feature(example, feature, tokens):
  tf.logging.debug("*** Example ***")
  tf.logging.debug("guid: %s", example.guid)
  tf.logging.debug("tokens: %s",
                  " ".join(tokenization.printable_text(t) for t in tokens))
  tf.logging.debug("input_ids: %s", " ".join(str(x) for x in feature.input_ids))
  tf.logging.debug("label_ids: %s", " ".join(str(x) for x in feature.label_ids))
  tf.logging.debug("label_mask: %s",
                  " ".join(str(x) for x in feature.label_mask))


def convert_examples_to_features(examples, label_list, max_seq_length,
                                 tokenizer, doc_stride):
  """Every window of every example, in order."""
  label_map = {label: i for i, label in enumerate(label_list)}
  features = []
  word_cache = {}
  start = time.time()
  for ex_index, example in enumerate(examples):
    if ex_index % 10000 == 0 and ex_index:
      tf.logging.info("Converted %d of %d sentences (%.0f sentences/sec)",
                      ex_index, len(examples),
                      ex_index / max(time.time() - start, 1e-9))
    if len(word_cache) > MAX_CACHED_WORDS:
      word_cache.clear()
    features += convert_single_example(ex_index, example, label_map,
                                       max_seq_length, tokenizer, doc_stride,
                                       word_cache)
  return features


def _features_to_example(feature):
  """The tf.train.Example that `file_based_input_fn_builder` reads."""
  ints = output_files.int64_feature

  return tf.train.Example(features=tf.train.Features(feature={
      "input_ids": ints(feature.input_ids),
      "input_mask": ints(feature.input_mask),
      "segment_ids": ints(feature.segment_ids),
      "label_ids": ints(feature.label_ids),
      "label_mask": ints(feature.label_mask),
      "is_real_example": ints([int(feature.is_real_example)]),
  }))


def file_based_convert_examples_to_features(examples, label_list,
                                            max_seq_length, tokenizer,
                                            doc_stride, output_file,
                                            batch_multiple=1):
  """Converts `examples` to windows and writes them to a TFRecord file (under
  a temporary name, renamed when complete).

  With `batch_multiple` > 1 (TPU), all-zero padding windows follow up to a
  multiple of it.

  Returns:
    the windows, padding included.
  """
  start = time.time()
  features = convert_examples_to_features(examples, label_list, max_seq_length,
                                          tokenizer, doc_stride)
  num_real = len(features)
  while len(features) % batch_multiple:
    features += convert_single_example(0, PaddingInputExample(), {},
                                       max_seq_length, tokenizer, doc_stride)
  with output_files.TFRecordWriter(output_file) as writer:
    for feature in features:
      writer.write(_features_to_example(feature).SerializeToString())
  elapsed = max(time.time() - start, 1e-9)
  tf.logging.info("Converted %d sentences into %d windows (%d padding) in %s "
                  "in %.1fs (%.0f sentences/sec)", len(examples),
                  len(features), len(features) - num_real, output_file,
                  elapsed, len(examples) / elapsed)
  return features


def _name_to_features(seq_length):
  return {
      "input_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "label_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "label_mask": tf.FixedLenFeature([seq_length], tf.int64),
      "is_real_example": tf.FixedLenFeature([], tf.int64),
  }


def file_based_input_fn_builder(input_file, seq_length, is_training,
                                drop_remainder):
  """Creates an `input_fn` closure to be passed to TPUEstimator."""
  return input_pipeline.tfrecord_input_fn_builder(
      input_file, _name_to_features(seq_length), is_training, drop_remainder)


def labels_of_training_file(train_examples, given_labels):
  """`--labels` (checked against the training sentences), else the labels
  of the training sentences (`ConllProcessor.get_labels`)."""
  if given_labels:
    if len(set(given_labels)) != len(given_labels):
      raise UserError("--labels=%s lists a label twice." %
                      ",".join(given_labels))
    check_labels(train_examples or [], given_labels, "of --labels")
    return list(given_labels)
  if not train_examples:
    raise UserError("No training sentences to take the labels from: give "
                    "--labels.")
  return ConllProcessor.get_labels(train_examples)
