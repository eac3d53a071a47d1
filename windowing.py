"""Word pieces of pre-split words, and overlapping windows over them.

run_squad.py splits a long paragraph into windows of word pieces
`doc_stride` apart, and run_ner.py splits a long sentence the same way; in
both a piece seen in several windows is scored from the one where it has the
most context on both sides (the "max-context" rule of the original
run_squad.py). `tokenize_document` gives the pieces of already split words
and the word of each piece, for both. Pure Python: no TensorFlow.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

DocSpan = collections.namedtuple("DocSpan", ["start", "length"])


def make_doc_spans(num_tokens, max_tokens_for_doc, doc_stride):
  """Windows of at most `max_tokens_for_doc` pieces, `doc_stride` apart.

  The last window ends at the last piece; a window never starts past the end
  of the previous one, so every piece is in at least one window.
  """
  doc_spans = []
  start_offset = 0
  while start_offset < num_tokens:
    length = min(num_tokens - start_offset, max_tokens_for_doc)
    doc_spans.append(DocSpan(start=start_offset, length=length))
    if start_offset + length == num_tokens:
      break
    start_offset += min(length, doc_stride)
  return doc_spans


def context_score(doc_span, position):
  """How much context `position` has in `doc_span` (None if not in it).

  The score is the smaller of its left and right context (their sum is fixed
  by the window length), plus a little for longer windows to break ties.
  """
  end = doc_span.start + doc_span.length - 1
  if position < doc_span.start or position > end:
    return None
  left = position - doc_span.start
  right = end - position
  return min(left, right) + 0.01 * doc_span.length


def check_is_max_context(doc_spans, cur_span_index, position):
  """Whether `cur_span_index` is the window with most context for a piece.

  A piece in several windows gets scores from each; we keep those of the
  window where it has the most context on both sides (the first such window
  on ties). E.g. in windows "the man went to the", "to the store and
  bought" and "and bought a gallon of", "bought" counts in the third (1 left,
  3 right) rather than in the second (4 left, 0 right).
  """
  best_score = None
  best_span_index = None
  for (span_index, doc_span) in enumerate(doc_spans):
    score = context_score(doc_span, position)
    if score is not None and (best_score is None or score > best_score):
      best_score = score
      best_span_index = span_index
  return cur_span_index == best_span_index


def max_context_span_indexes(doc_spans, num_tokens):
  """For each piece, the index of its max-context window.

  The same choice as `check_is_max_context`, computed for all pieces in one
  pass over the windows instead of one pass per piece and window.
  """
  if len(doc_spans) == 1:
    return [0] * num_tokens
  best_index = [None] * num_tokens
  best_score = [None] * num_tokens
  for (span_index, doc_span) in enumerate(doc_spans):
    start = doc_span.start
    end = start + doc_span.length - 1
    bonus = 0.01 * doc_span.length
    for position in range(start, end + 1):
      # context_score, inlined: this loop runs for every piece of every
      # window of every question.
      score = min(position - start, end - position) + bonus
      if best_score[position] is None or score > best_score[position]:
        best_score[position] = score
        best_index[position] = span_index
  return best_index


def tokenize_document(doc_tokens, tokenizer, word_cache=None,
                      unknown_token=None):
  """WordPiece-tokenizes each word of a paragraph (or sentence).

  Args:
    doc_tokens: the paragraph's white-space separated words.
    tokenizer: a `FullTokenizer`.
    word_cache: optional dict word -> pieces, shared across calls: a word
      always gives the same pieces, and a dict lookup costs far less than a
      `tokenize` call (cleaning, splitting) for each of the paragraph's words.
    unknown_token: if given, a word that gives no pieces (e.g. a control
      character alone) becomes this one piece, so that every word has a
      first piece (run_ner labels and predicts each word on it); by default
      it has none, as in the original run_squad.

  Returns:
    (all_doc_tokens, tok_to_orig_index, orig_to_tok_index): the pieces, the
    word each piece came from, and the first piece of each word.
  """
  if word_cache is None:
    word_cache = {}
  tok_to_orig_index = []
  orig_to_tok_index = []
  all_doc_tokens = []
  for (i, token) in enumerate(doc_tokens):
    orig_to_tok_index.append(len(all_doc_tokens))
    sub_tokens = word_cache.get(token)
    if sub_tokens is None:
      sub_tokens = tuple(tokenizer.tokenize(token))
      if not sub_tokens and unknown_token is not None:
        sub_tokens = (unknown_token,)
      word_cache[token] = sub_tokens
    tok_to_orig_index.extend([i] * len(sub_tokens))
    all_doc_tokens.extend(sub_tokens)
  return all_doc_tokens, tok_to_orig_index, orig_to_tok_index
