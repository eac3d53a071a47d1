# coding=utf-8
"""Turns raw text into BERT WordPiece tokens and ids.

The pipeline matches google-research/bert token for token:

  1. Cleaning: NUL, U+FFFD and control characters (categories Cc and Cf) are
     dropped; tab, newline, carriage return and Zs spaces become " ".
  2. Every CJK ideograph becomes its own word.
  3. The text is split on whitespace; each word is lower-cased and stripped of
     accents (only when `do_lower_case`), then split around punctuation.
  4. Each piece is split by greedy longest-match-first WordPiece, with "##"
     marking continuation pieces and "[UNK]" for pieces that cannot be split.

The original classifies every character with `unicodedata` on every call,
which makes it slow. This version produces the same output faster:

  * Steps 1 and 2 are one `str.translate` call whose table classifies each
    distinct character once per process (see `_CleaningTable`).
  * The result of steps 3 and 4 depends only on the whitespace-separated word,
    so `FullTokenizer` memoises word -> word pieces in a bounded dict.
  * ASCII words skip `unicodedata` entirely: ASCII has no accents and its
    punctuation is exactly the non-alphanumeric printable characters.
  * The WordPiece search starts at the length of the longest vocab entry
    instead of the end of the word, since longer pieces can never match.

Two options keep chosen tokens whole (both off by default, so the output is
the original's):

  * `preserve_unused_tokens` (bert-tensorflow 1.0.4): a whitespace-separated
    word that is an `[unusedN]` entry of the vocab is not lower-cased or split.
  * `never_split`: the listed tokens (which must be in the vocab) are kept
    whole, both as whole words and, for tokens that begin and end with
    punctuation such as `[MASK]` or `<e1>`, inside a word ("[MASK]." gives
    "[MASK]", "."): the basic tokenizer splits at their ends anyway.

As in 1.0.4, importing this module defines the flags `--preserve_unused_tokens`
and `--never_split`, and a tokenizer built without those arguments takes the
flags' values once flags are parsed. So every script that tokenises, the
project's and a user's own written against 1.0.4, accepts both flags.
WordPiece needs no change for either: a kept token is in the vocab, so the
longest-match search returns it whole.

The vocab is treated as read-only once a tokenizer has been built from it.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os
import re
import unicodedata

from absl import flags
from absl import logging
import six

# The flags this module defines, which the scripts that tokenise list in
# their --help (script_flags' "special_tokens" group).
TOKENIZER_FLAGS = ("never_split", "preserve_unused_tokens")

# Guarded, for a process that loads the module twice (a checkout's copy and
# an installed one, say): absl refuses to define a flag a second time.
if "preserve_unused_tokens" not in flags.FLAGS:
  flags.DEFINE_bool(
      "preserve_unused_tokens", False,
      "Keep [unusedN] vocab entries that appear as words in the text whole "
      "(not lower-cased or split), as bert-tensorflow 1.0.4 does; rename "
      "[unusedN] lines of the vocab to use them as domain tokens.")
if "never_split" not in flags.FLAGS:
  flags.DEFINE_list(
      "never_split", [],
      "Comma-separated tokens to keep whole in the text, e.g. "
      "'[MASK],<e1>,</e1>'. Each must be a line of --vocab_file (else it "
      "would map to [UNK]); tokens that begin and end with punctuation are "
      "also found inside words.")

# Checkpoints whose directory names tell us how they were trained, used by
# `validate_case_matches_checkpoint`.
_LOWER_CASED_MODELS = (
    "uncased_L-24_H-1024_A-16",
    "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12",
    "chinese_L-12_H-768_A-12",
)
_CASED_MODELS = (
    "cased_L-12_H-768_A-12",
    "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12",
)
_CHECKPOINT_NAME_RE = re.compile(r"^.*?([A-Za-z0-9_-]+)/bert_model.ckpt")

# Inclusive code point ranges that the original treats as CJK ideographs.
# Hangul, Hiragana and Katakana are deliberately absent: those scripts put
# spaces between words, so they are tokenized like any other language.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

# Tab, newline and carriage return are Cc, but text treats them as spaces.
_CONTROL_WHITESPACE = frozenset(u"\t\n\r")

# After cleaning, an ASCII word holds only printable non-space characters, and
# every non-alphanumeric one of those is punctuation to the original. So a
# run of alphanumerics is one piece and anything else is a piece on its own.
_ASCII_PIECE_RE = re.compile(r"[0-9A-Za-z]+|[^0-9A-Za-z]")
_ASCII_ALNUM_RE = re.compile(r"[0-9A-Za-z]+\Z")

# The reserved vocab entries that `preserve_unused_tokens` keeps whole.
_UNUSED_TOKEN_RE = re.compile(r"^\[unused\d+\]\Z")

# Upper bound on memoised words per FullTokenizer. English text has far fewer
# distinct words than this, so in practice the cache never fills.
_WORD_CACHE_SIZE = 1 << 17


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
  """Raises ValueError if `do_lower_case` contradicts the checkpoint's name.

  The casing a model was pre-trained with is not stored with the checkpoint,
  so we guess it from the directory name of the released models. Checkpoints
  with other names are accepted without a check.

  Args:
    do_lower_case: The value of the `--do_lower_case` flag.
    init_checkpoint: The value of the `--init_checkpoint` flag; may be empty.

  Raises:
    ValueError: if the checkpoint is a known model of the other casing.
  """
  if not init_checkpoint:
    return
  match = _CHECKPOINT_NAME_RE.match(init_checkpoint)
  if match is None:
    return
  model_name = match.group(1)

  if model_name in _LOWER_CASED_MODELS and not do_lower_case:
    casing, wanted = "lower-cased (uncased)", True
  elif model_name in _CASED_MODELS and do_lower_case:
    casing, wanted = "cased", False
  else:
    return
  raise ValueError(
      "`--do_lower_case=%s` does not match `--init_checkpoint=%s`: `%s` is a "
      "%s model. Pass `--do_lower_case=%s` so that fine-tuning sees text "
      "cased the way the model was pre-trained. If the checkpoint was renamed "
      "and this guess is wrong, rename its directory." %
      (not wanted, init_checkpoint, model_name, casing, wanted))


def convert_to_unicode(text):
  """Returns `text` as a unicode string, decoding bytes as utf-8."""
  if isinstance(text, six.text_type):
    return text
  if isinstance(text, bytes):
    # Invalid bytes are dropped rather than failing a whole training run.
    return text.decode("utf-8", "ignore")
  raise ValueError("Unsupported string type: %s" % (type(text),))


def printable_text(text):
  """Returns `text` as the native `str` type, for print and logging."""
  if isinstance(text, str):
    return text
  if six.PY3 and isinstance(text, bytes):
    return text.decode("utf-8", "ignore")
  if six.PY2 and isinstance(text, six.text_type):
    return text.encode("utf-8")
  raise ValueError("Unsupported string type: %s" % (type(text),))


def _open_vocab(vocab_file):
  """Opens a vocab file for reading as utf-8 text, local or on GCS."""
  if vocab_file.startswith("gs://"):
    # Only cloud paths need TensorFlow, so only they pay for importing it.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if not tf.io.gfile.exists(vocab_file):
      raise FileNotFoundError("Vocab file not found: %s" % vocab_file)
    return tf.io.gfile.GFile(vocab_file, "r")
  if not os.path.isfile(vocab_file):
    raise FileNotFoundError("Vocab file not found: %s" % vocab_file)
  # Lines end at "\n" only, as with tf.gfile; stray "\r" is stripped later.
  return open(vocab_file, "r", encoding="utf-8", newline="\n")


def load_vocab(vocab_file):
  """Loads a vocab file, one token per line, into an OrderedDict token -> id.

  The id of a token is its zero-based line number.

  Args:
    vocab_file: Path of the vocab file.

  Returns:
    A `collections.OrderedDict` mapping each token to its id, in file order.

  Raises:
    FileNotFoundError: if `vocab_file` does not exist.
    ValueError: if a line is blank or a token appears twice. The original
      silently kept the last id of a duplicate and mapped "" for blank lines,
      which shifts ids and makes the model read the wrong embeddings.
  """
  vocab = collections.OrderedDict()
  with _open_vocab(vocab_file) as reader:
    for line_number, line in enumerate(reader, 1):
      token = convert_to_unicode(line).strip()
      if not token:
        raise ValueError(
            "Vocab file %s: line %d is empty; every line must hold exactly "
            "one token." % (vocab_file, line_number))
      if token in vocab:
        # Ids have no gaps, so the earlier line number is the earlier id + 1.
        raise ValueError(
            "Vocab file %s: token %r appears twice, on lines %d and %d." %
            (vocab_file, token, vocab[token] + 1, line_number))
      vocab[token] = line_number - 1
  return vocab


def convert_by_vocab(vocab, items):
  """Maps each of `items` (tokens or ids) through `vocab`."""
  try:
    return [vocab[item] for item in items]
  except KeyError as error:
    missing = error.args[0]
  raise KeyError("%r is not in the vocab (%d entries)." %
                 (missing, len(vocab)))


def convert_tokens_to_ids(vocab, tokens):
  return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab, ids):
  return convert_by_vocab(inv_vocab, ids)


def preserve_token(token, vocab, preserve_unused_tokens=None):
  """Whether `token` is an `[unusedN]` entry of `vocab` to keep whole (1.0.4).

  Args:
    token: a whitespace-separated word of cleaned text.
    vocab: the vocab (anything supporting `in`).
    preserve_unused_tokens: None for the `--preserve_unused_tokens` flag (off
      until flags are parsed), as 1.0.4 reads it; or a bool.
  """
  if preserve_unused_tokens is None:
    preserve_unused_tokens = _flag_value("preserve_unused_tokens", False)
  if not preserve_unused_tokens or token not in vocab:
    return False
  return _UNUSED_TOKEN_RE.match(token) is not None


def is_unused_token(token):
  """Whether `token` has the form of a reserved `[unusedN]` vocab entry."""
  return _UNUSED_TOKEN_RE.match(token) is not None


def warn_if_tokenizer_flags_set():
  """Warns that --never_split / --preserve_unused_tokens do nothing here.

  Importing this module defines both flags, so scripts that import it without
  tokenising text (checkpoint conversion, TF Hub export) accept them too; a
  script of that kind calls this so that a user who sets them is told.
  """
  set_flags = [name for name in TOKENIZER_FLAGS if _flag_value(name, None)]
  if set_flags:
    logging.warning("%s: this script does not tokenise text, so the flag "
                    "has no effect.", ", ".join("--" + n for n in set_flags))


def _flag_value(name, default):
  """The value of flag `name` once flags are parsed, else `default`."""
  if name in flags.FLAGS and flags.FLAGS.is_parsed():
    return flags.FLAGS[name].value
  return default


def whitespace_tokenize(text):
  """Splits `text` on whitespace, dropping empty strings."""
  return text.split()


class FullTokenizer(object):
  """Runs end-to-end tokenization: basic tokenization, then WordPiece."""

  def __init__(self, vocab_file, do_lower_case=True, never_split=None,
               preserve_unused_tokens=None):
    """Loads the vocab and builds the two tokenizers.

    Args:
      vocab_file: path of the vocab, one token a line.
      do_lower_case: lower-case and strip accents.
      never_split: tokens to keep whole (see the module docstring); None for
        the `--never_split` flag (none until flags are parsed).
      preserve_unused_tokens: keep `[unusedN]` vocab entries whole; None for
        the `--preserve_unused_tokens` flag (off until flags are parsed).

    Raises:
      ValueError: if a `never_split` token is not in the vocab.
    """
    self.vocab = load_vocab(vocab_file)
    self.inv_vocab = {index: token for token, index in self.vocab.items()}
    if never_split is None:
      never_split = _flag_value("never_split", [])
    if preserve_unused_tokens is None:
      preserve_unused_tokens = _flag_value("preserve_unused_tokens", False)
    _check_kept_tokens(vocab_file, self.vocab, never_split,
                       preserve_unused_tokens)
    self.basic_tokenizer = BasicTokenizer(
        do_lower_case=do_lower_case, vocab=self.vocab, never_split=never_split,
        preserve_unused_tokens=preserve_unused_tokens)
    self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
    self._word_cache = {}

  def tokenize(self, text):
    """Returns the list of WordPiece tokens for `text` (str or utf-8 bytes)."""
    cache = self._word_cache
    tokens = []
    for word in _clean_and_split(convert_to_unicode(text)):
      pieces = cache.get(word)
      if pieces is None:
        pieces = self._tokenize_word(word)
      tokens.extend(pieces)
    return tokens

  def _tokenize_word(self, word):
    """Tokenizes one cleaned whitespace-free word and memoises the result."""
    pieces = []
    for basic_token in self.basic_tokenizer._split_word(word):  # pylint: disable=protected-access
      pieces.extend(self.wordpiece_tokenizer._split_word(basic_token))  # pylint: disable=protected-access
    pieces = tuple(pieces)  # Immutable, so callers cannot corrupt the cache.
    if len(self._word_cache) >= _WORD_CACHE_SIZE:
      # Dropping everything is crude but cheap; frequent words return at once.
      self._word_cache.clear()
    self._word_cache[word] = pieces
    return pieces

  def convert_tokens_to_ids(self, tokens):
    return convert_by_vocab(self.vocab, tokens)

  def convert_ids_to_tokens(self, ids):
    return convert_by_vocab(self.inv_vocab, ids)


def _check_kept_tokens(vocab_file, vocab, never_split, preserve_unused_tokens):
  """Rejects `never_split` tokens outside the vocab; warns when
  `preserve_unused_tokens` has no `[unusedN]` entry to act on."""
  missing = [token for token in never_split if token not in vocab]
  if missing:
    raise ValueError(
        "--never_split: %s not in the vocab file %s, so %s map to [UNK]; "
        "add each as a line of the vocab (e.g. by renaming an [unusedN] "
        "line)." % (", ".join(missing), vocab_file,
                    "it would" if len(missing) == 1 else "they would"))
  if preserve_unused_tokens and not any(
      _UNUSED_TOKEN_RE.match(token) for token in vocab):
    logging.warning(
        "--preserve_unused_tokens: the vocab file %s has no [unusedN] "
        "entries, so the flag changes nothing.", vocab_file)


def _embedded_tokens(never_split):
  """The `never_split` tokens that may sit inside a word.

  Only tokens that begin and end with punctuation qualify: the basic
  tokenizer splits at both their ends anyway, so cutting them out of a word
  changes nothing else ("a[MASK]b" -> "a", "[MASK]", "b"). Cutting "e-mail"
  out of "xe-mail" would instead give "x", where the tokenizer gives "xe".
  """
  return [t for t in never_split
          if len(t) > 1 and _is_punctuation(t[0]) and _is_punctuation(t[-1])]


def _alternation(tokens):
  """A regex matching any of `tokens`, longest first ("[MASK]]" before
  "[MASK]"), or None for no tokens."""
  if not tokens:
    return None
  return re.compile(u"|".join(
      re.escape(t) for t in sorted(tokens, key=len, reverse=True)))


class BasicTokenizer(object):
  """Runs basic tokenization (punctuation splitting, lower casing, etc.)."""

  def __init__(self, do_lower_case=True, vocab=tuple(), never_split=None,
               preserve_unused_tokens=None):
    """Constructs a BasicTokenizer.

    Args:
      do_lower_case: Whether to lower case the input and strip its accents.
      vocab: the vocab, for `preserve_unused_tokens` (1.0.4's argument).
      never_split: tokens to keep whole; None for the `--never_split` flag.
      preserve_unused_tokens: keep the `[unusedN]` entries of `vocab` whole;
        None for the `--preserve_unused_tokens` flag.
    """
    self.do_lower_case = do_lower_case
    self.vocab = vocab
    if never_split is None:
      never_split = _flag_value("never_split", [])
    self.never_split = tuple(never_split)
    kept = set(self.never_split)
    if preserve_unused_tokens is None:
      preserve_unused_tokens = _flag_value("preserve_unused_tokens", False)
    if preserve_unused_tokens:
      kept.update(t for t in vocab if _UNUSED_TOKEN_RE.match(t))
    # Empty with both options off: `_split_word` then runs as the original.
    self._kept_whole = frozenset(kept)
    embedded = _embedded_tokens(self.never_split)
    self._embedded_re = _alternation(embedded)
    # A word with none of their first characters holds none of them: a set
    # test in C, cheaper than the regex search on every new word.
    self._embedded_starts = frozenset(t[0] for t in embedded)

  def tokenize(self, text):
    """Returns the basic tokens of `text` (str or utf-8 bytes)."""
    tokens = []
    for word in _clean_and_split(convert_to_unicode(text)):
      tokens.extend(self._split_word(word))
    return tokens

  def _split_word(self, word):
    """Lower-cases (if asked) and punctuation-splits one cleaned word,
    keeping the tokens of the two options whole."""
    if not self._kept_whole:
      return self._split_plain_word(word)
    if word in self._kept_whole:
      return [word]
    if self._embedded_re is None or self._embedded_starts.isdisjoint(word):
      return self._split_plain_word(word)
    tokens = []
    start = 0
    for match in self._embedded_re.finditer(word):
      if match.start() > start:
        tokens.extend(self._split_plain_word(word[start:match.start()]))
      tokens.append(match.group())
      start = match.end()
    if start < len(word):
      tokens.extend(self._split_plain_word(word[start:]))
    return tokens

  def _split_plain_word(self, word):
    """Lower-cases (if asked) and punctuation-splits one cleaned word."""
    if word.isascii():
      # No accents to strip and no unicodedata lookups needed.
      if self.do_lower_case:
        word = word.lower()
      if _ASCII_ALNUM_RE.match(word):
        return [word]
      return _ASCII_PIECE_RE.findall(word)
    if self.do_lower_case:
      # Lower-casing the whole word, not each piece, matters: the Greek final
      # sigma depends on the letters around it.
      word = self._run_strip_accents(word.lower())
    tokens = []
    for piece in self._run_split_on_punc(word):
      # Lower-casing could in principle produce whitespace; split it again.
      tokens.extend(piece.split())
    return tokens

  def _run_strip_accents(self, text):
    """Removes combining marks (category Mn) after NFD decomposition."""
    return u"".join(char for char in unicodedata.normalize("NFD", text)
                    if unicodedata.category(char) != "Mn")

  def _run_split_on_punc(self, text):
    """Splits `text` so that every punctuation character stands alone."""
    pieces = []
    run = []
    for char in text:
      if _is_punctuation(char):
        if run:
          pieces.append(u"".join(run))
          run = []
        pieces.append(char)
      else:
        run.append(char)
    if run:
      pieces.append(u"".join(run))
    return pieces

  def _tokenize_chinese_chars(self, text):
    """Puts spaces around every CJK ideograph in `text`."""
    return u"".join(u" %s " % char if _is_chinese_char(ord(char)) else char
                    for char in text)

  def _is_chinese_char(self, cp):
    """Checks whether code point `cp` is a CJK ideograph."""
    return _is_chinese_char(cp)

  def _clean_text(self, text):
    """Drops invalid and control characters and normalises whitespace."""
    return u"".join(_clean_char(char) for char in text)


class WordpieceTokenizer(object):
  """Runs WordPiece tokenization."""

  def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=200):
    self.vocab = vocab
    self.unk_token = unk_token
    self.max_input_chars_per_word = max_input_chars_per_word
    self._max_head_len, self._max_tail_len = _piece_length_limits(vocab)

  def tokenize(self, text):
    """Tokenizes a piece of text into its word pieces.

    This uses a greedy longest-match-first algorithm to perform tokenization
    using the given vocabulary.

    For example:
      input = "unaffable"
      output = ["un", "##aff", "##able"]

    Args:
      text: A single token or whitespace separated tokens. This should have
        already been passed through `BasicTokenizer`.

    Returns:
      A list of wordpiece tokens.
    """
    tokens = []
    for word in whitespace_tokenize(convert_to_unicode(text)):
      tokens.extend(self._split_word(word))
    return tokens

  def _split_word(self, word):
    """Returns the word pieces of one word as a tuple."""
    if len(word) > self.max_input_chars_per_word:
      return (self.unk_token,)
    vocab = self.vocab
    pieces = []
    prefix = u""
    limit = self._max_head_len
    start = 0
    while start < len(word):
      end = min(len(word), start + limit)
      while end > start:
        piece = prefix + word[start:end]
        if piece in vocab:
          break
        end -= 1
      else:
        # Some position has no matching piece: the whole word is unknown.
        return (self.unk_token,)
      pieces.append(piece)
      start = end
      prefix = u"##"
      limit = self._max_tail_len
    return tuple(pieces)


def _clean_char(char):
  """Returns what cleaning turns `char` into: "", " " or `char` itself."""
  cp = ord(char)
  if cp == 0 or cp == 0xFFFD or _is_control(char):
    return u""
  if _is_whitespace(char):
    return u" "
  return char


class _CleaningTable(dict):
  """A `str.translate` table for cleaning plus CJK spacing, filled lazily.

  `str.translate` looks each code point up with `__getitem__`, which falls
  back to `__missing__` on a dict subclass. So each distinct character is
  classified with `unicodedata` once per process, and after that the whole
  step runs in C. The table can grow to at most one entry per code point.
  """

  def __missing__(self, cp):
    char = six.unichr(cp)
    cleaned = _clean_char(char)
    if cleaned == char and _is_chinese_char(cp):
      cleaned = u" %s " % char
    self[cp] = cleaned
    return cleaned


# Shared by all tokenizers; characters are classified the same way for all.
_CLEANING_TABLE = _CleaningTable()


def _clean_and_split(text):
  """Cleans `text`, isolates CJK ideographs and splits it on whitespace."""
  return text.translate(_CLEANING_TABLE).split()


def _piece_length_limits(vocab):
  """Returns the longest possible first piece and continuation piece.

  A substring longer than these cannot be in the vocab, so the WordPiece
  search may start there instead of at the end of the word.
  """
  max_head = 0
  max_tail = 0
  for token in vocab:
    max_head = max(max_head, len(token))
    if token.startswith(u"##"):
      max_tail = max(max_tail, len(token) - 2)
  return max_head, max_tail


def _is_chinese_char(cp):
  """Checks whether code point `cp` is in one of the CJK ideograph blocks."""
  for low, high in _CJK_RANGES:
    if low <= cp <= high:
      return True
  return False


def _is_whitespace(char):
  """Checks whether `char` is whitespace: space, \\t, \\n, \\r or Zs."""
  if char == u" " or char in _CONTROL_WHITESPACE:
    return True
  return unicodedata.category(char) == "Zs"


def _is_control(char):
  """Checks whether `char` is a control or format character (Cc, Cf)."""
  if char in _CONTROL_WHITESPACE:
    return False
  # Only Cc and Cf: private use (Co) and unassigned (Cn) code points are kept,
  # and emoji sequences keep their variation selectors (Mn) too.
  return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
  """Checks whether `char` is punctuation."""
  cp = ord(char)
  # All non-alphanumeric printable ASCII counts, even symbols such as "$",
  # "^" and "`" that Unicode does not call punctuation, for consistency.
  if (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or
      123 <= cp <= 126):
    return True
  return unicodedata.category(char).startswith("P")


# Classify ASCII up front so the common case never reaches __missing__.
for _cp in range(128):
  _CLEANING_TABLE[_cp]  # pylint: disable=pointless-statement
del _cp
