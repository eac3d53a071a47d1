"""SQuAD inputs: paragraphs split into words, then WordPiece windows.

A paragraph longer than one input is read through overlapping windows of
`max_seq_length` pieces, `doc_stride` pieces apart; each piece's answer
scores count in the window where it has the most context on both sides.

Library layer (used by run_squad.py and by the predictor, `predictor.py`):
it imports `tokenization`, `windowing` (the windows and max-context rule it
shares with run_ner.py) and TensorFlow's logging, and nothing above them.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import time

import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

import tokenization
import windowing

# Feature ids start here so that they never collide with example indexes.
FIRST_UNIQUE_ID = 1000000000

# How many examples convert_examples_to_features logs in full.
NUM_EXAMPLES_TO_LOG = 20

# Conversion progress is logged every this many examples.
LOG_EVERY_N_EXAMPLES = 5000


class SquadExample(object):
  """One question on one paragraph.

  `doc_tokens` is the paragraph split on white space. In training,
  `start_position`/`end_position` index the first and last word of the answer
  in `doc_tokens`; they are -1 for an unanswerable (SQuAD 2.0) question.
  """

  def __init__(self,
               qas_id,
               question_text,
               doc_tokens,
               orig_answer_text=None,
               start_position=None,
               end_position=None,
               is_impossible=False):
    self.qas_id = qas_id
    self.question_text = question_text
    self.doc_tokens = doc_tokens
    self.orig_answer_text = orig_answer_text
    self.start_position = start_position
    self.end_position = end_position
    self.is_impossible = is_impossible

  def __str__(self):
    return self.__repr__()

  def __repr__(self):
    parts = [
        "qas_id: %s" % tokenization.printable_text(self.qas_id),
        "question_text: %s" % tokenization.printable_text(self.question_text),
        "doc_tokens: [%s]" % " ".join(self.doc_tokens),
    ]
    if self.start_position is not None:
      parts.append("start_position: %d" % self.start_position)
      parts.append("end_position: %d" % self.end_position)
      parts.append("is_impossible: %r" % self.is_impossible)
    return ", ".join(parts)


class InputFeatures(object):
  """The model input for one window of one example.

  `token_to_orig_map` maps a position in `tokens` to the index of the
  paragraph word it came from; `token_is_max_context` tells whether this
  window is the one whose scores count for that position.
  """

  def __init__(self,
               unique_id,
               example_index,
               doc_span_index,
               tokens,
               token_to_orig_map,
               token_is_max_context,
               input_ids,
               input_mask,
               segment_ids,
               start_position=None,
               end_position=None,
               is_impossible=None):
    self.unique_id = unique_id
    self.example_index = example_index
    self.doc_span_index = doc_span_index
    self.tokens = tokens
    self.token_to_orig_map = token_to_orig_map
    self.token_is_max_context = token_is_max_context
    self.input_ids = input_ids
    self.input_mask = input_mask
    self.segment_ids = segment_ids
    self.start_position = start_position
    self.end_position = end_position
    self.is_impossible = is_impossible


def _is_whitespace(c):
  # U+202F (narrow no-break space) occurs in SQuAD and separates words there.
  return c in (" ", "\t", "\r", "\n") or ord(c) == 0x202F


def split_paragraph(paragraph_text):
  """Splits a paragraph on white space.

  Returns:
    (doc_tokens, char_to_word_offset): the words, and for each character of
    the paragraph the index of the word it belongs to (white space belongs
    to the word before it).
  """
  doc_tokens = []
  char_to_word_offset = []
  in_word = False
  for c in paragraph_text:
    if _is_whitespace(c):
      in_word = False
    elif in_word:
      doc_tokens[-1] += c
    else:
      doc_tokens.append(c)
      in_word = True
    char_to_word_offset.append(len(doc_tokens) - 1)
  return doc_tokens, char_to_word_offset


# The windows and the max-context rule are windowing's, shared with run_ner.
DocSpan = windowing.DocSpan
make_doc_spans = windowing.make_doc_spans
tokenize_document = windowing.tokenize_document
_check_is_max_context = windowing.check_is_max_context
_max_context_span_indexes = windowing.max_context_span_indexes


class _DocumentCache(object):
  """Tokenizes paragraphs for `convert_examples_to_features`, remembering.

  The questions of one paragraph share its `doc_tokens` list and, in file
  order, come one after another: the last paragraph's pieces are kept and
  reused for the next question on it. Words are memoised too, in a bounded
  dict (cleared when full, like the tokenizer's own cache).
  """

  MAX_WORDS = 1 << 17

  def __init__(self, tokenizer):
    self._tokenizer = tokenizer
    self._words = {}
    self._last_doc = None
    self._last_result = None

  def tokenize(self, doc_tokens):
    """`tokenize_document`'s results, plus the pieces' vocabulary ids."""
    # Identity, not equality: the same list object means the same paragraph,
    # and holding a reference keeps its id from being reused.
    if doc_tokens is not self._last_doc:
      if len(self._words) > self.MAX_WORDS:
        self._words.clear()
      pieces = tokenize_document(doc_tokens, self._tokenizer, self._words)
      self._last_result = pieces + (
          self._tokenizer.convert_tokens_to_ids(pieces[0]),)
      self._last_doc = doc_tokens
    return self._last_result


def _answer_token_span(example, all_doc_tokens, orig_to_tok_index, tokenizer):
  """The answer's first and last piece in `all_doc_tokens` (-1 if none)."""
  if example.is_impossible:
    return -1, -1
  start = orig_to_tok_index[example.start_position]
  if example.end_position < len(example.doc_tokens) - 1:
    end = orig_to_tok_index[example.end_position + 1] - 1
  else:
    end = len(all_doc_tokens) - 1
  return _improve_answer_span(all_doc_tokens, start, end, tokenizer,
                              example.orig_answer_text)


def _improve_answer_span(doc_tokens, input_start, input_end, tokenizer,
                         orig_answer_text):
  """Narrows a word-aligned answer span to the pieces of the answer text.

  Annotations are character spans, which we first widened to whole words: for
  "1895" in "(1895-1943)." the word span is the whole "(1895-1943).". After
  WordPiece the pieces are "( 1895 - 1943 ) .", so the exact answer can be
  found again; we take the first, longest sub-span whose pieces match those of
  the answer text. When no sub-span matches (an answer inside a word, such as
  "Japan" in "Japanese"), the word span is kept.
  """
  tok_answer_text = " ".join(tokenizer.tokenize(orig_answer_text))
  for new_start in range(input_start, input_end + 1):
    for new_end in range(input_end, new_start - 1, -1):
      if " ".join(doc_tokens[new_start:(new_end + 1)]) == tok_answer_text:
        return new_start, new_end
  return input_start, input_end


def _window_maps(doc_span, doc_span_index, doc_offset, tok_to_orig_index,
                 max_context):
  """`token_to_orig_map` and `token_is_max_context` of one window.

  Both are keyed by position in the window's input, where the paragraph's
  pieces start at `doc_offset`.
  """
  positions = range(doc_offset, doc_offset + doc_span.length)
  doc_end = doc_span.start + doc_span.length
  token_to_orig_map = dict(zip(positions,
                               tok_to_orig_index[doc_span.start:doc_end]))
  token_is_max_context = dict(zip(positions, [
      best == doc_span_index for best in max_context[doc_span.start:doc_end]]))
  return token_to_orig_map, token_is_max_context


def _window_answer_positions(tok_start, tok_end, doc_span, doc_offset,
                             is_impossible):
  """Start and end of the answer in a window's input, (0, 0) if not in it.

  Position 0 is [CLS]: a window without the answer, like an unanswerable
  question, is trained to point there.
  """
  if is_impossible:
    return 0, 0
  doc_end = doc_span.start + doc_span.length - 1
  if tok_start < doc_span.start or tok_end > doc_end:
    return 0, 0
  return (tok_start - doc_span.start + doc_offset,
          tok_end - doc_span.start + doc_offset)


def _log_feature(feature, is_training):
  tf.logging.debug("*** Example ***")
  tf.logging.debug("unique_id: %s", feature.unique_id)
  tf.logging.debug("example_index: %s", feature.example_index)
  tf.logging.debug("doc_span_index: %s", feature.doc_span_index)
  tf.logging.debug("tokens: %s", " ".join(
      tokenization.printable_text(x) for x in feature.tokens))
  tf.logging.debug("token_to_orig_map: %s", " ".join(
      "%d:%d" % item for item in feature.token_to_orig_map.items()))
  tf.logging.debug("token_is_max_context: %s", " ".join(
      "%d:%s" % item for item in feature.token_is_max_context.items()))
  tf.logging.debug("input_ids: %s", " ".join(str(x) for x in feature.input_ids))
  tf.logging.debug("input_mask: %s",
                  " ".join(str(x) for x in feature.input_mask))
  tf.logging.debug("segment_ids: %s",
                  " ".join(str(x) for x in feature.segment_ids))
  if is_training and feature.is_impossible:
    tf.logging.debug("impossible example")
  elif is_training:
    answer = " ".join(
        feature.tokens[feature.start_position:(feature.end_position + 1)])
    tf.logging.debug("start_position: %d", feature.start_position)
    tf.logging.debug("end_position: %d", feature.end_position)
    tf.logging.debug("answer: %s", tokenization.printable_text(answer))


def convert_examples_to_features(examples, tokenizer, max_seq_length,
                                 doc_stride, max_query_length, is_training,
                                 output_fn, log_examples=True):
  """Turns examples into windowed `InputFeatures`, passed to `output_fn`.

  Each input is [CLS] question [SEP] window of the paragraph [SEP], padded
  to `max_seq_length`. Features are handed over one at a time, so a caller
  that writes them out never holds them all.

  The first `NUM_EXAMPLES_TO_LOG` examples' features are logged in full
  unless `log_examples` is False (the predictor's requests).

  Returns:
    the number of features produced.
  """
  unique_id = FIRST_UNIQUE_ID
  start_time = time.time()
  documents = _DocumentCache(tokenizer)
  cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
  for (example_index, example) in enumerate(examples):
    if example_index and example_index % LOG_EVERY_N_EXAMPLES == 0:
      _log_conversion_progress(example_index, len(examples),
                               unique_id - FIRST_UNIQUE_ID, start_time)
    query_tokens = tokenizer.tokenize(example.question_text)[:max_query_length]
    (all_doc_tokens, tok_to_orig_index, orig_to_tok_index,
     doc_ids) = documents.tokenize(example.doc_tokens)
    tok_start = tok_end = None
    if is_training:
      tok_start, tok_end = _answer_token_span(example, all_doc_tokens,
                                              orig_to_tok_index, tokenizer)

    # [CLS], [SEP] and [SEP] take the other 3 places.
    max_tokens_for_doc = max_seq_length - len(query_tokens) - 3
    doc_spans = make_doc_spans(len(all_doc_tokens), max_tokens_for_doc,
                               doc_stride)
    max_context = _max_context_span_indexes(doc_spans, len(all_doc_tokens))
    query_ids = tokenizer.convert_tokens_to_ids(query_tokens)
    doc_offset = len(query_tokens) + 2

    for (doc_span_index, doc_span) in enumerate(doc_spans):
      doc_end = doc_span.start + doc_span.length
      tokens = (["[CLS]"] + query_tokens + ["[SEP]"] +
                all_doc_tokens[doc_span.start:doc_end] + ["[SEP]"])
      input_ids = ([cls_id] + query_ids + [sep_id] +
                   doc_ids[doc_span.start:doc_end] + [sep_id])
      segment_ids = [0] * doc_offset + [1] * (doc_span.length + 1)
      # Only real tokens are attended to; padding has mask 0.
      input_mask = [1] * len(input_ids)
      padding = [0] * (max_seq_length - len(input_ids))
      input_ids += padding
      input_mask += padding
      segment_ids += padding
      token_to_orig_map, token_is_max_context = _window_maps(
          doc_span, doc_span_index, doc_offset, tok_to_orig_index,
          max_context)

      start_position = end_position = None
      if is_training:
        start_position, end_position = _window_answer_positions(
            tok_start, tok_end, doc_span, doc_offset, example.is_impossible)

      feature = InputFeatures(
          unique_id=unique_id,
          example_index=example_index,
          doc_span_index=doc_span_index,
          tokens=tokens,
          token_to_orig_map=token_to_orig_map,
          token_is_max_context=token_is_max_context,
          input_ids=input_ids,
          input_mask=input_mask,
          segment_ids=segment_ids,
          start_position=start_position,
          end_position=end_position,
          is_impossible=example.is_impossible)
      if log_examples and example_index < NUM_EXAMPLES_TO_LOG:
        _log_feature(feature, is_training)
      output_fn(feature)
      unique_id += 1
  _log_conversion_progress(len(examples), len(examples),
                           unique_id - FIRST_UNIQUE_ID, start_time)
  return unique_id - FIRST_UNIQUE_ID


def _log_conversion_progress(done, total, num_features, start_time):
  elapsed = max(time.time() - start_time, 1e-9)
  tf.logging.info(
      "Converted %d/%d examples into %d features in %.1fs "
      "(%.0f examples/sec)", done, total, num_features, elapsed,
      done / elapsed)
