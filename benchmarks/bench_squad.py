"""Benchmark: how fast is run_squad.py's data path, next to the tokenizer?

  python benchmarks/bench_squad.py [--questions 2500] [--max_seq_length 384]

Builds a SQuAD-format file from the real sentences in ../shared/data (MRPC
sentences grouped into paragraphs; cloze questions made by replacing a word or
two of one sentence with "what"), in a temporary directory, with a WordPiece
vocabulary built from the same text. Then, in one run, it measures:
  1. the raw tokenizer: `FullTokenizer.tokenize` over every paragraph and
     question once (tokens/sec), the floor any conversion is compared with;
  2. reading the file (`read_squad_examples`, training mode);
  3. training conversion: `convert_examples_to_features` into train.tf_record
     through `FeatureWriter` (questions/sec and WordPiece tokens/sec);
  4. prediction conversion, features kept in memory as `--do_predict` does;
  5. `write_predictions` on random logits (n-best, text mapping, JSON files).
Nothing is written inside the repository.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top
import quiet_tensorflow  # pylint: disable=g-import-not-at-top,unused-import  (oneDNN on, as in the scripts)
import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top

import bench_tokenization  # pylint: disable=g-import-not-at-top
import run_squad  # pylint: disable=g-import-not-at-top
import tokenization  # pylint: disable=g-import-not-at-top

MRPC_TRAIN = os.path.join(os.path.dirname(ROOT), "shared", "data", "mrpc",
                          "msr_paraphrase_train.txt")


def read_mrpc_sentences():
  """Both sentences of every MRPC training pair, in file order."""
  sentences = []
  with open(MRPC_TRAIN, encoding="utf-8-sig") as f:
    next(f)  # Header.
    for line in f:
      fields = line.rstrip("\n").split("\t")
      if len(fields) == 5:
        sentences.extend(s.replace("<QUOTE>", '"') for s in fields[3:5])
  if not sentences:
    sys.exit("No sentences in %s" % MRPC_TRAIN)
  return sentences


def cloze_question(sentence, rng):
  """(question, answer, offset of the answer in `sentence`) or None.

  The answer is a number or a capitalised word (with the next one when it is
  capitalised too), else a longer lower-case word; the question is the
  sentence with the answer replaced by "what".
  """
  words = list(re.finditer(r"\S+", sentence))
  if len(words) < 6:
    return None
  candidates = [i for i, m in enumerate(words[1:], 1)
                if re.fullmatch(r"[A-Z][a-z]+|\d[\d.,]*", m.group())]
  if not candidates:
    candidates = [i for i, m in enumerate(words)
                  if re.fullmatch(r"[a-z]{5,}", m.group())]
  if not candidates:
    return None
  i = rng.choice(candidates)
  last = i
  if i + 1 < len(words) and re.fullmatch(r"[A-Z][a-z]+", words[i + 1].group()):
    last = i + 1
  start, end = words[i].start(), words[last].end()
  question = (sentence[:start] + "what" + sentence[end:]).rstrip(" .") + " ?"
  return question, sentence[start:end], start


def build_squad(sentences, num_questions, sentences_per_paragraph, seed=1):
  """A SQuAD 1.1 dict with about `num_questions` questions."""
  rng = random.Random(seed)
  data = []
  count = 0
  for p in range(0, len(sentences) - sentences_per_paragraph,
                 sentences_per_paragraph):
    if count >= num_questions:
      break
    chunk = sentences[p:p + sentences_per_paragraph]
    context = " ".join(chunk)
    qas = []
    offset = 0
    for s_index, sentence in enumerate(chunk):
      made = cloze_question(sentence, rng) if s_index % 2 == 0 else None
      if made is not None and count < num_questions:
        question, answer, start = made
        assert context[offset + start:].startswith(answer)
        qas.append({"id": "q%d" % count, "question": question,
                    "answers": [{"text": answer,
                                 "answer_start": offset + start}]})
        count += 1
      offset += len(sentence) + 1
    data.append({"title": "p%d" % p,
                 "paragraphs": [{"context": context, "qas": qas}]})
  if count < num_questions:
    sys.exit("Only %d questions could be made from the text." % count)
  return {"version": "1.1", "data": data}


def best_of(repeats, fn):
  """(best seconds, result of the last run): the CPU is shared, so the
  fastest run is the one least disturbed by other work."""
  best = float("inf")
  result = None
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    best = min(best, time.perf_counter() - start)
  return best, result


class _FeatureCounter(object):
  """An `output_fn` that counts features and the tokens in them."""

  def __init__(self, then=None, keep=False):
    self.then = then
    self.features = [] if keep else None
    self.num_features = 0
    self.num_tokens = 0

  def __call__(self, feature):
    self.num_features += 1
    self.num_tokens += len(feature.tokens)
    if self.features is not None:
      self.features.append(feature)
    if self.then is not None:
      self.then(feature)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--questions", type=int, default=2500)
  parser.add_argument("--sentences_per_paragraph", type=int, default=10)
  parser.add_argument("--max_seq_length", type=int, default=384)
  parser.add_argument("--doc_stride", type=int, default=128)
  parser.add_argument("--max_query_length", type=int, default=64)
  parser.add_argument("--n_best_size", type=int, default=20)
  parser.add_argument("--max_answer_length", type=int, default=30)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  tf.logging.set_verbosity(tf.logging.WARN)

  sentences = read_mrpc_sentences()
  squad = build_squad(sentences, args.questions, args.sentences_per_paragraph)
  paragraphs = [p for a in squad["data"] for p in a["paragraphs"]]
  questions = [qa["question"] for p in paragraphs for qa in p["qas"]]
  num_questions = len(questions)
  texts = [p["context"] for p in paragraphs] + questions
  tmp = tempfile.mkdtemp(prefix="bench_squad_")
  try:
    squad_file = os.path.join(tmp, "squad.json")
    with open(squad_file, "w", encoding="utf-8") as f:
      json.dump(squad, f)
    vocab_file = os.path.join(tmp, "vocab.txt")
    vocab = bench_tokenization.build_vocab(
        bench_tokenization.read_sentences())
    with open(vocab_file, "w", encoding="utf-8") as f:
      f.write("".join(token + "\n" for token in vocab))

    def fresh_tokenizer():
      # A new tokenizer each run, so no run profits from an earlier one's
      # word cache.
      return tokenization.FullTokenizer(vocab_file, do_lower_case=True)

    # 1. The raw tokenizer, each paragraph and each question once.
    def tokenize_all():
      tokenizer = fresh_tokenizer()
      return [tokenizer.tokenize(t) for t in texts]

    tok_seconds, tokenized = best_of(args.repeats, tokenize_all)
    raw_tokens = sum(len(t) for t in tokenized)

    # 2. Reading.
    read_seconds, examples = best_of(args.repeats, lambda: (
        run_squad.read_squad_examples(squad_file, True, False)))
    assert len(examples) == num_questions
    # Training converts examples shuffled, as run_squad.py does.
    random.Random(12345).shuffle(examples)

    # 3. Training conversion into a TFRecord.
    def convert_train():
      with run_squad.FeatureWriter(os.path.join(tmp, "train.tf_record"),
                                   is_training=True) as writer:
        counter = _FeatureCounter(then=writer.process_feature)
        run_squad.convert_examples_to_features(
            examples, fresh_tokenizer(), args.max_seq_length, args.doc_stride,
            args.max_query_length, True, counter)
      return counter

    train_seconds, train_counts = best_of(args.repeats, convert_train)

    # 4. Prediction conversion, in file order, features kept in memory.
    eval_examples = run_squad.read_squad_examples(squad_file, False, False)

    def convert_eval():
      counter = _FeatureCounter(keep=True)
      run_squad.convert_examples_to_features(
          eval_examples, fresh_tokenizer(), args.max_seq_length,
          args.doc_stride, args.max_query_length, False, counter)
      return counter

    eval_seconds, eval_counts = best_of(args.repeats, convert_eval)
    features = eval_counts.features

    # 5. Post-processing on random logits.
    rng = np.random.RandomState(0)
    results = [run_squad.RawResult(
        f.unique_id, rng.randn(args.max_seq_length).tolist(),
        rng.randn(args.max_seq_length).tolist()) for f in features]
    out = {n: os.path.join(tmp, n) for n in (
        "predictions.json", "nbest_predictions.json", "null_odds.json")}
    post_seconds, _ = best_of(args.repeats, lambda: (
        run_squad.write_predictions(
            eval_examples, features, results, args.n_best_size,
            args.max_answer_length, True, out["predictions.json"],
            out["nbest_predictions.json"], out["null_odds.json"],
            version_2_with_negative=False, verbose_logging=False)))
    with open(out["predictions.json"], encoding="utf-8") as f:
      assert len(json.load(f)) == num_questions
  finally:
    shutil.rmtree(tmp)

  print("%d questions on %d paragraphs (%d MRPC sentences, %.0f WordPiece "
        "tokens each), vocab %d; max_seq_length %d, doc_stride %d, "
        "max_query_length %d; %d features; best of %d; %d CPU cores" % (
            num_questions, len(paragraphs), args.sentences_per_paragraph,
            sum(len(t) for t in tokenized[:len(paragraphs)]) /
            len(paragraphs), len(vocab), args.max_seq_length, args.doc_stride,
            args.max_query_length, eval_counts.num_features, args.repeats,
            os.cpu_count()))
  print()
  print("%-46s %8s %12s %12s %9s" % ("stage", "seconds", "questions/s",
                                     "tokens/s", "x raw tok"))
  rows = [
      ("raw FullTokenizer, each text once", tok_seconds, None, raw_tokens),
      ("read_squad_examples", read_seconds, num_questions, None),
      ("convert, training order -> train.tf_record", train_seconds,
       num_questions, train_counts.num_tokens),
      ("convert, file order, features in memory", eval_seconds,
       num_questions, eval_counts.num_tokens),
      ("write_predictions (n_best %d, random logits)" % args.n_best_size,
       post_seconds, num_questions, None),
  ]
  for name, seconds, count, tokens in rows:
    print("%-46s %8.3f %12s %12s %8.1fx" % (
        name, seconds, "-" if count is None else "%.0f" % (count / seconds),
        "-" if tokens is None else "%.0f" % (tokens / seconds),
        seconds / tok_seconds))
  print()
  print("tokens/s: WordPiece tokens tokenized (raw) or placed into features "
        "(conversion, question and window tokens, overlaps counted twice).")
  print("x raw tok: the stage's time in units of one raw tokenizer pass over "
        "all the text.")


if __name__ == "__main__":
  main()
