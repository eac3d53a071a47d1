"""CoNLL files read into sentences, and their windows written as TFRecords.

`read_conll` (one-line errors naming file and line), `ConllProcessor`, the
first-piece labels and max-context windows of `convert_single_example`, and
the records run_ner reads (`input_ids`, `input_mask`, `segment_ids`,
`label_ids`, `label_mask`, `is_real_example`, and, as Model Garden's
tagging records, `sentence_id` and `sub_sentence_id`: the sentence and the
window of it). run_ner.py and create_finetuning_data.py share them; run_ner
re-exports the names.

Converted records are read back as sentences too (`read_record_sentences`):
each word's gold label and where its prediction sits, from this project's
records or Model Garden's (tagging_data_lib: `label_ids` -1 where no label
is, no `label_mask`), so that run_ner scores them as it scores CoNLL files.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
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
  piece of each word. `example_index` is the sentence's index and
  `window_index` the window's in it. `token_to_word` maps the labelled
  positions to the word's index in the sentence, and `token_is_max_context`
  says whether this window is the one the word is predicted from. The last
  two stay in memory; the TFRecord file holds the rest.
  """

  def __init__(self, input_ids, input_mask, segment_ids, label_ids, label_mask,
               example_index=None, token_to_word=None,
               token_is_max_context=None, is_real_example=True,
               window_index=0):
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.label_ids = label_ids
    self.label_mask = label_mask
    self.example_index = example_index
    self.token_to_word = token_to_word or {}
    self.token_is_max_context = token_is_max_context or {}
    self.is_real_example = is_real_example
    self.window_index = window_index


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
        ex_index, token_to_word, token_is_max_context,
        window_index=span_index)
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
      # Model Garden's names: which sentence (its index in the file written)
      # and which of its windows, so that the records can be scored per
      # sentence (`read_record_sentences`).
      "sentence_id": ints([-1 if feature.example_index is None
                           else feature.example_index]),
      "sub_sentence_id": ints([feature.window_index]),
  }))


def write_padding_windows(output_file, count, max_seq_length):
  """Writes `count` all-zero windows (`is_real_example` 0: they weigh
  nothing and are not predicted), which fill the last batch on TPU."""
  padding = convert_single_example(0, PaddingInputExample(), {},
                                   max_seq_length, None, 1)
  with output_files.TFRecordWriter(output_file) as writer:
    for feature in padding * count:
      writer.write(_features_to_example(feature).SerializeToString())


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


def _name_to_features(seq_length, labels_from_ids=False):
  """The features run_ner reads; `labels_from_ids`: with defaults for those
  Model Garden's records lack (a label_mask of -1: absent; is_real_example
  1)."""
  absent = {"default_value": [-1] * seq_length} if labels_from_ids else {}
  real = {"default_value": 1} if labels_from_ids else {}
  return {
      "input_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "input_mask": tf.FixedLenFeature([seq_length], tf.int64),
      "segment_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "label_ids": tf.FixedLenFeature([seq_length], tf.int64),
      "label_mask": tf.FixedLenFeature([seq_length], tf.int64, **absent),
      "is_real_example": tf.FixedLenFeature([], tf.int64, **real),
  }


def mask_from_label_ids(features):
  """Model Garden's tagging records as this project's: where a record has
  no `label_mask` (read as -1), it is 1 where `label_ids` >= 0 (the first
  piece of each word; -1 marks [CLS], [SEP], later pieces and padding), and
  those -1 ids become 0, so that they weigh nothing in the loss and the
  metrics, as the positions this project's records mask out. This
  project's records pass unchanged."""
  label_ids, label_mask = features["label_ids"], features["label_mask"]
  features = dict(features)
  features["label_mask"] = tf.where(
      label_mask < 0, tf.cast(label_ids >= 0, label_mask.dtype), label_mask)
  features["label_ids"] = tf.maximum(label_ids, 0)
  return features


def file_based_input_fn_builder(input_file, seq_length, is_training,
                                drop_remainder, labels_from_ids=False):
  """Creates an `input_fn` closure to be passed to TPUEstimator.

  `labels_from_ids`: the files may be Model Garden's tagging records too
  (see `mask_from_label_ids`), as converted data (--input_meta_data_path)
  may.
  """
  return input_pipeline.tfrecord_input_fn_builder(
      input_file, _name_to_features(seq_length, labels_from_ids), is_training,
      drop_remainder,
      transform=mask_from_label_ids if labels_from_ids else None)


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


# ---------------------------------------------------------------------------
# Converted records read back as sentences.
# ---------------------------------------------------------------------------


class RecordSentences(list):
  """The sentences of converted tagging records, as `InputExample`s with
  their gold labels and no words (records keep word pieces' ids only).

  `slots[i]` says where each word of sentence i has its label, and so its
  prediction: one (record index, position) per word, in the word's window
  of most context; `num_records` counts the records (padding too), i.e. the
  predictions to expect; `split` is the `finetuning_data.RecordSplit` read.
  """

  def __init__(self, examples, slots, split, num_records):
    super(RecordSentences, self).__init__(examples)
    self.slots = slots
    self.split = split
    self.num_records = num_records

  @property
  def files(self):
    return self.split.files


# A window of a sentence in records: its record index, how many word pieces
# it holds, its labelled (position, label id) pairs, and whether it may
# overlap the window before (this project's records).
_RecordWindow = collections.namedtuple(
    "_RecordWindow", ["record", "length", "labelled", "overlapping"])


def _int_feature(feature_map, name):
  """The int64 values of feature `name` of a tf.train.Example, or None."""
  if name not in feature_map:
    return None
  return list(feature_map[name].int64_list.value)


def _record_window(index, serialized, path):
  """(the `_RecordWindow` of a record, whether it starts a sentence), or
  None for padding.

  This project's records mark labelled positions in `label_mask`; Model
  Garden's (tagging_data_lib) have no mask and label -1 where no label is,
  and their windows never overlap.
  """
  feature_map = tf.train.Example.FromString(serialized).features.feature
  label_ids = _int_feature(feature_map, "label_ids")
  input_mask = _int_feature(feature_map, "input_mask")
  if label_ids is None or input_mask is None:
    raise UserError("%s: record %d has no label_ids or input_mask: expected "
                    "tagging records (create_finetuning_data.py "
                    "--fine_tuning_task_type=tagging)." % (path, index))
  if (_int_feature(feature_map, "is_real_example") or [1])[0] == 0:
    return None
  label_mask = _int_feature(feature_map, "label_mask")
  overlapping = label_mask is not None
  if not overlapping:
    label_mask = [int(label >= 0) for label in label_ids]
  labelled = [(position, label) for position, (label, mask) in
              enumerate(zip(label_ids, label_mask)) if mask]
  window = (_int_feature(feature_map, "sub_sentence_id") or [0])[0]
  # [CLS] and [SEP] around the word pieces.
  length = sum(input_mask) - 2
  return _RecordWindow(index, length, labelled, overlapping), window == 0


def _sentence_words(windows, doc_stride):
  """[(record, position, label id)] of each word of a sentence's windows,
  in word order, each from its window of most context.

  The windows start as `windowing.make_doc_spans` placed them:
  `min(length, doc_stride)` pieces after the one before, or right after it
  in Model Garden's records (not `overlapping`) or without a `doc_stride`.
  """
  spans = []
  for window in windows:
    start = 0
    if spans:
      previous = spans[-1]
      start = previous.start + (
          min(previous.length, doc_stride)
          if doc_stride and window.overlapping else previous.length)
    spans.append(windowing.DocSpan(start, window.length))
  best = windowing.max_context_span_indexes(
      spans, spans[-1].start + spans[-1].length)
  words = []
  for span_index, (span, window) in enumerate(zip(spans, windows)):
    for position, label in window.labelled:
      piece = span.start + position - 1
      if 0 <= piece < len(best) and best[piece] == span_index:
        words.append((piece, window.record, position, label))
  return [(record, position, label)
          for _, record, position, label in sorted(words)]


def read_record_sentences(split, label_list, doc_stride=None,
                          set_type="dev", flag="eval_data_path"):
  """The sentences of the tagging records `split` (a
  `finetuning_data.RecordSplit`), as `RecordSentences`.

  A record of `sub_sentence_id` 0 (or without one) starts a sentence; the
  windows of this project's records overlap `doc_stride` (the meta data's)
  pieces apart, and each word counts once, in its window of most context,
  as run_ner predicts raw sentences.

  Raises:
    UserError: a record that is not a tagging record, or a label id that is
      not one of `label_list`'s (naming `flag`).
  """
  examples, slots = [], []
  current = []

  def end_sentence():
    if not current:
      return
    words = _sentence_words(current, doc_stride)
    for _, _, label in words:
      if not 0 <= label < len(label_list):
        raise UserError(
            "--%s: label id %d is not one of the %d labels (%s) of "
            "--input_meta_data_path." % (flag, label, len(label_list),
                                         ",".join(label_list)))
    examples.append(InputExample(
        "%s-%d" % (set_type, len(examples)), None,
        [label_list[label] for _, _, label in words]))
    slots.append([(record, position) for record, position, _ in words])
    del current[:]

  index = 0
  for path in split.files:
    for serialized in tf.io.tf_record_iterator(path):
      read = _record_window(index, serialized, path)
      index += 1
      if read is None:
        continue
      window, starts = read
      if starts:
        end_sentence()
      current.append(window)
  end_sentence()
  return RecordSentences(examples, slots, split, index)
