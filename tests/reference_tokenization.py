# coding=utf-8
"""The original tokenization algorithm, plainly, and real text to run it on.

A deliberately plain, per-character version of the original algorithm, with
no caches or fast paths: tests/test_tokenization.py checks the optimised
`tokenization.FullTokenizer` against it token for token, and
benchmarks/bench_tokenization.py times both on the same text.
"""

import collections
import glob
import os
import unicodedata


_CJK_RANGES = [
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
]


def _is_punctuation(char):
  cp = ord(char)
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char)[0] == "P"


def basic_tokenize(text, do_lower_case, kept_words=(), kept_inside=()):
  """Cleaning, CJK spacing, lower-casing/accents and punctuation splitting.

  A word equal to one of `kept_words` is left whole (bert-tensorflow 1.0.4's
  preserve_unused_tokens, and never_split); occurrences of `kept_inside`
  tokens within a word are cut out and left whole too (never_split).
  """
  spaced = []
  for char in text:
    cp = ord(char)
    category = unicodedata.category(char)
    if cp == 0 or cp == 0xFFFD:
      continue
    if char not in "\t\n\r" and category in ("Cc", "Cf"):
      continue
    if char in " \t\n\r" or category == "Zs":
      spaced.append(" ")
    elif any(low <= cp <= high for low, high in _CJK_RANGES):
      spaced.append(" " + char + " ")
    else:
      spaced.append(char)
  pieces = []
  for word in "".join(spaced).split():
    if word in kept_words:
      pieces.append(word)
      continue
    for segment, whole in _cut_out(word, kept_inside):
      if whole:
        pieces.append(segment)
      else:
        pieces.extend(_split_segment(segment, do_lower_case))
  return " ".join(pieces).split()


def _cut_out(word, tokens):
  """Yields (segment, is_a_kept_token) for `word`, scanning left to right and
  trying the longest token first at each position."""
  by_length = sorted(tokens, key=len, reverse=True)
  plain = ""
  position = 0
  while position < len(word):
    found = next((t for t in by_length if word.startswith(t, position)), None)
    if found is None:
      plain += word[position]
      position += 1
      continue
    if plain:
      yield plain, False
      plain = ""
    yield found, True
    position += len(found)
  if plain:
    yield plain, False


def _split_segment(word, do_lower_case):
  """Lower-casing/accents and punctuation splitting of one word."""
  pieces = []
  if do_lower_case:
    word = word.lower()
    decomposed = unicodedata.normalize("NFD", word)
    word = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
  current = []
  for char in word:
    if _is_punctuation(char):
      pieces.append("".join(current))
      pieces.append(char)
      current = []
    else:
      current.append(char)
  pieces.append("".join(current))
  return pieces


def wordpiece(token, vocab, max_chars=200):
  if len(token) > max_chars:
    return ["[UNK]"]
  result = []
  start = 0
  while start < len(token):
    end = len(token)
    match = None
    while end > start:
      candidate = token[start:end]
      if start > 0:
        candidate = "##" + candidate
      if candidate in vocab:
        match = candidate
        break
      end -= 1
    if match is None:
      return ["[UNK]"]
    result.append(match)
    start = end
  return result


def tokenize(text, vocab, do_lower_case, kept_words=(), kept_inside=()):
  tokens = []
  for token in basic_tokenize(text, do_lower_case, kept_words, kept_inside):
    tokens.extend(wordpiece(token, vocab))
  return tokens


def read_sentences(shared_data):
  """Returns the sentences of the shared SentEval and MRPC training sets."""
  lines = []
  for path in sorted(glob.glob(os.path.join(shared_data, "senteval", "*",
                                            "train.tsv"))):
    with open(path, encoding="utf-8") as f:
      for line in f:
        # The label column is a lone digit, the sentence is the other one.
        fields = [x for x in line.rstrip("\n").split("\t") if not x.isdigit()]
        lines.extend(fields)
  mrpc = os.path.join(shared_data, "mrpc", "msr_paraphrase_train.txt")
  with open(mrpc, encoding="utf-8") as f:
    next(f)  # Header.
    for line in f:
      fields = line.rstrip("\n").split("\t")
      lines.extend(fields[3:5])
  return lines


def build_vocab(lines, whole_words, split_words, num_suffixes,
                num_capitalised):
  """Frequent words whole, rarer ones only as prefixes and ## suffixes.

  A few letters get no "##" piece at all, so some rare words have no split
  and become [UNK], while others split into several pieces.
  """
  # The shared data is already split around punctuation, so a plain
  # whitespace split gives words; keep alphanumeric ones, plus punctuation.
  counts = collections.Counter()
  for line in lines:
    counts.update(w for w in line.lower().split() if w.isalnum())
  ranked = [w for w, _ in counts.most_common()]
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
  vocab.extend(chr(c) for c in range(33, 127) if not chr(c).isalnum())
  vocab.extend(ranked[:whole_words])
  suffixes = collections.Counter()
  for word in ranked[whole_words:split_words]:
    for size in (2, 3, 4):
      if len(word) > size:
        vocab.append(word[:size])
        suffixes["##" + word[-size:]] += 1
  vocab.extend(s for s, _ in suffixes.most_common(num_suffixes))
  vocab.extend("##" + c for c in "abcdefghiklmnoprstuvwy0123456789")
  # Capitalised forms let the cased tokenizer match some words too.
  vocab.extend(w.capitalize() for w in ranked[:num_capitalised] if w.isalpha())
  return list(collections.OrderedDict.fromkeys(vocab))
