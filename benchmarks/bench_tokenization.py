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

The "options on" rows tokenise the same sentences with `[MASK]`, `<e1>` and
`[unused1]` spliced into every third one, with `never_split` and
`preserve_unused_tokens` set, against the reference given the same tokens.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

import reference_tokenization  # pylint: disable=g-import-not-at-top,wrong-import-position
import tokenization  # pylint: disable=g-import-not-at-top,wrong-import-position



def read_sentences():
  """Returns the sentences of the shared SentEval and MRPC training sets."""
  sentences = reference_tokenization.read_sentences(SHARED_DATA)
  if not sentences:
    sys.exit("No text found under %s" % SHARED_DATA)
  return sentences


def build_vocab(sentences):
  """A vocab with frequent words whole and rarer ones as pieces.

  Like a real WordPiece vocab, common words are single tokens and rarer ones
  split into a prefix and "##" suffixes; a few letters have no "##" piece,
  so some words still end up as [UNK].
  """
  return reference_tokenization.build_vocab(
      sentences, whole_words=3000, split_words=12000, num_suffixes=800,
      num_capitalised=500)


# Tokens the "options on" rows keep whole, and where they are spliced in.
NEVER_SPLIT = ["[MASK]", "<e1>", "</e1>"]
UNUSED = ["[unused1]", "[unused2]"]


def with_kept_tokens(sentences):
  """Every third sentence gets kept tokens, inside words and as words."""
  spliced = []
  for i, sentence in enumerate(sentences):
    if i % 3 == 0:
      sentence = u"<e1>%s</e1>. [unused%d] [MASK]" % (sentence, i % 2 + 1)
    spliced.append(sentence)
  return spliced


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
      tokens = build_vocab(sentences)
      tokens += [t for t in NEVER_SPLIT + UNUSED if t not in tokens]
      f.write("".join(token + "\n" for token in tokens))
    vocab = tokenization.load_vocab(vocab_file)

    def run_fast():
      tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case)
      return [tokenizer.tokenize(s) for s in sentences]

    ref_seconds, expected = time_best(
        lambda: [reference_tokenization.tokenize(s, vocab, do_lower_case)
                 for s in sentences], args.repeats)
    fast_seconds, actual = time_best(run_fast, args.repeats)
    check_identical(sentences, expected, actual)

    spliced = with_kept_tokens(sentences)

    def run_fast_on():
      tokenizer = tokenization.FullTokenizer(
          vocab_file, do_lower_case, never_split=NEVER_SPLIT,
          preserve_unused_tokens=True)
      return [tokenizer.tokenize(s) for s in spliced]

    kept_words = set(NEVER_SPLIT + UNUSED)
    ref_on_seconds, expected_on = time_best(
        lambda: [reference_tokenization.tokenize(
            s, vocab, do_lower_case, kept_words, NEVER_SPLIT)
                 for s in spliced], args.repeats)
    fast_on_seconds, actual_on = time_best(run_fast_on, args.repeats)
    check_identical(spliced, expected_on, actual_on)

  num_tokens = sum(len(tokens) for tokens in expected)
  num_unk = sum(tokens.count("[UNK]") for tokens in expected)
  num_cont = sum(t.startswith("##") for tokens in expected for t in tokens)
  print("%d sentences, %d tokens (%d '##' pieces, %d [UNK]), vocab %d, "
        "do_lower_case=%s, best of %d" %
        (len(sentences), num_tokens, num_cont, num_unk, len(vocab),
         do_lower_case, args.repeats))
  print("Outputs identical token for token, with options off and on.")
  print()
  print("%-40s %10s %14s %14s %9s" %
        ("tokenizer", "seconds", "lines/sec", "tokens/sec", "speed-up"))
  num_tokens_on = sum(len(tokens) for tokens in expected_on)
  for name, seconds, count, baseline in (
      ("reference (original algo)", ref_seconds, num_tokens, ref_seconds),
      ("tokenization.FullTokenizer", fast_seconds, num_tokens, ref_seconds),
      ("reference, options on", ref_on_seconds, num_tokens_on, ref_on_seconds),
      ("FullTokenizer, options on", fast_on_seconds, num_tokens_on,
       ref_on_seconds)):
    print("%-40s %10.3f %14.0f %14.0f %8.1fx" %
          (name, seconds, len(sentences) / seconds, count / seconds,
           baseline / seconds))
  print("options on / off, FullTokenizer: %.2fx the time" %
        (fast_on_seconds / fast_seconds))


def check_identical(sentences, expected, actual):
  """Exits naming the first sentence the two tokenizers disagree on."""
  mismatches = [i for i, (a, b) in enumerate(zip(expected, actual)) if a != b]
  if mismatches or len(expected) != len(actual):
    first = mismatches[0] if mismatches else len(expected)
    sys.exit("Outputs differ on %d sentences; first: %r" %
             (len(mismatches), sentences[first] if mismatches else None))


if __name__ == "__main__":
  main()
