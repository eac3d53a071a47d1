# coding=utf-8
"""Times tokenization.FullTokenizer against a plain reference tokenizer.

Usage:
  python benchmarks/bench_tokenization.py [--repeats N] [--lower|--cased]

Both tokenizers run in this process on the same real sentences (the SentEval
and MRPC training sets in ../shared/data), with a vocab built from that text.
The reference is the original algorithm written out plainly, one
`unicodedata` call per character and no caches, as google-research/bert does
it. The outputs must agree token for token before any figure is printed.

Each FullTokenizer run starts from a fresh instance, so the time includes
filling its word cache. The best of `--repeats` runs is reported for both.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import collections
import glob
import os
import sys
import tempfile
import time
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

import tokenization  # pylint: disable=g-import-not-at-top,wrong-import-position

_CJK_RANGES = [
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
]


class ReferenceTokenizer(object):
  """The original algorithm, unoptimised: every character every time."""

  def __init__(self, vocab, do_lower_case):
    self.vocab = vocab
    self.do_lower_case = do_lower_case

  def tokenize(self, text):
    tokens = []
    for word in self._basic(text):
      tokens.extend(self._wordpiece(word))
    return tokens

  def _basic(self, text):
    cleaned = []
    for char in text:
      cp = ord(char)
      if cp == 0 or cp == 0xFFFD or self._is_control(char):
        continue
      if self._is_whitespace(char):
        cleaned.append(" ")
      elif any(low <= cp <= high for low, high in _CJK_RANGES):
        cleaned.extend([" ", char, " "])
      else:
        cleaned.append(char)
    pieces = []
    for word in "".join(cleaned).split():
      if self.do_lower_case:
        word = self._strip_accents(word.lower())
      pieces.extend(self._split_on_punc(word))
    return " ".join(pieces).split()

  def _strip_accents(self, word):
    kept = []
    for char in unicodedata.normalize("NFD", word):
      if unicodedata.category(char) != "Mn":
        kept.append(char)
    return "".join(kept)

  def _split_on_punc(self, word):
    groups = []
    new_group = True
    for char in word:
      if self._is_punctuation(char):
        groups.append([char])
        new_group = True
      else:
        if new_group:
          groups.append([])
          new_group = False
        groups[-1].append(char)
    return ["".join(group) for group in groups]

  def _wordpiece(self, word):
    chars = list(word)
    if len(chars) > 200:
      return ["[UNK]"]
    pieces = []
    start = 0
    while start < len(chars):
      end = len(chars)
      found = None
      while start < end:
        piece = "".join(chars[start:end])
        if start > 0:
          piece = "##" + piece
        if piece in self.vocab:
          found = piece
          break
        end -= 1
      if found is None:
        return ["[UNK]"]
      pieces.append(found)
      start = end
    return pieces

  @staticmethod
  def _is_whitespace(char):
    if char in (" ", "\t", "\n", "\r"):
      return True
    return unicodedata.category(char) == "Zs"

  @staticmethod
  def _is_control(char):
    if char in ("\t", "\n", "\r"):
      return False
    return unicodedata.category(char) in ("Cc", "Cf")

  @staticmethod
  def _is_punctuation(char):
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
      return True
    return unicodedata.category(char).startswith("P")


def read_sentences():
  """Returns the sentences of the shared SentEval and MRPC training sets."""
  sentences = []
  pattern = os.path.join(SHARED_DATA, "senteval", "*", "train.tsv")
  for path in sorted(glob.glob(pattern)):
    with open(path, encoding="utf-8") as f:
      for line in f:
        # Drop the label column, a lone digit; keep the sentence.
        sentences.extend(x for x in line.rstrip("\n").split("\t")
                         if not x.isdigit())
  with open(os.path.join(SHARED_DATA, "mrpc", "msr_paraphrase_train.txt"),
            encoding="utf-8") as f:
    next(f)  # Header.
    for line in f:
      sentences.extend(line.rstrip("\n").split("\t")[3:5])
  if not sentences:
    sys.exit("No text found under %s" % SHARED_DATA)
  return sentences


def build_vocab(sentences, whole_words=3000, split_words=12000):
  """A vocab with frequent words whole and rarer ones as pieces.

  Like a real WordPiece vocab, common words are single tokens and rarer ones
  split into a prefix and "##" suffixes; a few letters have no "##" piece,
  so some words still end up as [UNK].
  """
  counts = collections.Counter()
  for sentence in sentences:
    counts.update(w for w in sentence.lower().split() if w.isalnum())
  ranked = [word for word, _ in counts.most_common()]
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
  vocab.extend(chr(c) for c in range(33, 127) if not chr(c).isalnum())
  vocab.extend(ranked[:whole_words])
  suffixes = collections.Counter()
  for word in ranked[whole_words:split_words]:
    for size in (2, 3, 4):
      if len(word) > size:
        vocab.append(word[:size])
        suffixes["##" + word[-size:]] += 1
  vocab.extend(suffix for suffix, _ in suffixes.most_common(800))
  vocab.extend("##" + c for c in "abcdefghiklmnoprstuvwy0123456789")
  vocab.extend(w.capitalize() for w in ranked[:500] if w.isalpha())
  return list(collections.OrderedDict.fromkeys(vocab))


def time_best(run, repeats):
  """Returns (best seconds, result of the last run)."""
  best = float("inf")
  result = None
  for _ in range(repeats):
    start = time.perf_counter()
    result = run()
    best = min(best, time.perf_counter() - start)
  return best, result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--cased", action="store_true",
                      help="Benchmark do_lower_case=False (default: uncased).")
  args = parser.parse_args()
  do_lower_case = not args.cased

  sentences = read_sentences()
  with tempfile.TemporaryDirectory() as tmp:
    vocab_file = os.path.join(tmp, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
      f.write("".join(token + "\n" for token in build_vocab(sentences)))

    def run_fast():
      tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
      return [tokenizer.tokenize(s) for s in sentences]

    vocab = tokenization.load_vocab(vocab_file)
    reference = ReferenceTokenizer(vocab, do_lower_case)
    ref_seconds, expected = time_best(
        lambda: [reference.tokenize(s) for s in sentences], args.repeats)
    fast_seconds, actual = time_best(run_fast, args.repeats)

  mismatches = [i for i, (a, b) in enumerate(zip(expected, actual)) if a != b]
  if mismatches or len(expected) != len(actual):
    first = mismatches[0] if mismatches else len(expected)
    sys.exit("Outputs differ on %d sentences; first: %r" %
             (len(mismatches), sentences[first] if mismatches else None))

  num_tokens = sum(len(tokens) for tokens in expected)
  num_unk = sum(tokens.count("[UNK]") for tokens in expected)
  num_cont = sum(t.startswith("##") for tokens in expected for t in tokens)
  print("%d sentences, %d tokens (%d '##' pieces, %d [UNK]), vocab %d, "
        "do_lower_case=%s, best of %d" %
        (len(sentences), num_tokens, num_cont, num_unk, len(vocab),
         do_lower_case, args.repeats))
  print("Outputs identical token for token.")
  print()
  print("%-26s %10s %14s %14s %9s" %
        ("tokenizer", "seconds", "lines/sec", "tokens/sec", "speed-up"))
  for name, seconds in (("reference (original algo)", ref_seconds),
                        ("tokenization.FullTokenizer", fast_seconds)):
    print("%-26s %10.3f %14.0f %14.0f %8.1fx" %
          (name, seconds, len(sentences) / seconds, num_tokens / seconds,
           ref_seconds / seconds))


if __name__ == "__main__":
  main()
