"""Tests for create_pretraining_data.py.

The first tests drive the algorithm with a scripted random generator and
compare against outputs derived by hand; the rest check statistics, the
TFRecord format, the sharded mode and the errors for bad input.
"""

import collections
import logging
import os
import random
import re
import sys

from absl import flags
from absl.testing import flagsaver
import pytest
import tensorflow.compat.v1 as tf

import bert_testing
import command_line
import create_pretraining_data as cpd
import script_flags
import tokenization

FLAGS = flags.FLAGS
if not FLAGS.is_parsed():
  FLAGS.mark_as_parsed()

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Whole words, plus stems and suffixes that WordPiece splits words into:
# "playing" -> play ##ing, "undo" -> un ##do, "rerun" -> re ##run.
WORDS = ("the cat dog sat ran on mat big small red blue quick slow and then "
         "it was very happy sad home park tree house bird fish sun moon "
         "star").split()
PIECES = ["play", "jump", "walk", "talk", "un", "re", "##ing", "##ed", "##er",
          "##s", "##do", "##run"]
SPLIT_WORDS = ["playing", "jumped", "walker", "talks", "undo", "rerun",
               "played", "walking"]


class ScriptedRng(object):
  """Stands in for random.Random, returning scripted values in order.

  Each randint entry is (low, high, value): the bounds the algorithm must ask
  for, and the value to return. Each shuffle entry is a permutation:
  x becomes [x[p] for p in permutation]. Any call beyond the script, or of
  the wrong kind, fails the test.
  """

  def __init__(self, calls):
    self._calls = list(calls)

  def _next(self, kind):
    assert self._calls, "unexpected extra rng.%s() call" % kind
    got_kind, value = self._calls.pop(0)
    assert got_kind == kind, "expected rng.%s(), got rng.%s()" % (got_kind,
                                                                  kind)
    return value

  def random(self):
    return self._next("random")

  def randint(self, low, high):
    want_low, want_high, value = self._next("randint")
    assert (low, high) == (want_low, want_high)
    assert low <= value <= high
    return value

  def shuffle(self, x):
    permutation = self._next("shuffle")
    assert sorted(permutation) == list(range(len(x)))
    x[:] = [x[p] for p in permutation]

  def assert_done(self):
    assert not self._calls, "script not used up: %r" % self._calls


def R(value):  # pylint: disable=invalid-name
  return ("random", value)


def RI(low, high, value):  # pylint: disable=invalid-name
  return ("randint", (low, high, value))


def S(*permutation):  # pylint: disable=invalid-name
  return ("shuffle", list(permutation))


# ---------------------------------------------------------------------------
# Hand-derived expectations.
# ---------------------------------------------------------------------------

HAND_VOCAB = SPECIAL + ["the", "cat", "sat", "on", "mat", "##s"]
#             0..4       5      6      7      8     9      10
HAND_TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]", "on", "mat", "##s",
               "[SEP]"]
#                 0       1      2      3       4       5     6      7
#                 8


def test_masked_lm_predictions_by_hand():
  # 9 tokens * 0.3 = 2.7, rounded: 3 predictions. Candidates are every
  # position but [CLS]/[SEP]: [1], [2], [3], [5], [6], [7]. The scripted
  # shuffle [4, 0, 5, 1, 2, 3] orders them 6, 1, 7, 2, 3, 5.
  rng = ScriptedRng([
      S(4, 0, 5, 1, 2, 3),
      R(0.1),  # position 6: 0.1 < 0.8 -> [MASK]
      R(0.85), R(0.3),  # position 1: not < 0.8; 0.3 < 0.5 -> kept, "the"
      R(0.9), R(0.7), RI(0, 10, 7),  # position 7: random word HAND_VOCAB[7]
      # Three predictions made: the loop stops without more calls.
  ])
  tokens, positions, labels = cpd.create_masked_lm_predictions(
      HAND_TOKENS, 0.3, 20, HAND_VOCAB, rng)
  rng.assert_done()
  assert tokens == ["[CLS]", "the", "cat", "sat", "[SEP]", "on", "[MASK]",
                    "sat", "[SEP]"]
  assert positions == [1, 6, 7]  # sorted, whatever the masking order
  assert labels == ["the", "mat", "##s"]
  assert HAND_TOKENS[6] == "mat"  # the input is not modified


def test_whole_word_masking_by_hand():
  # With whole words, "##s" joins "mat": candidates [1], [2], [3], [5],
  # [6, 7]. Shuffle [4, 0, 1, 2, 3] puts [6, 7] first, then [1].
  rng = ScriptedRng([
      S(4, 0, 1, 2, 3),
      R(0.5),  # position 6 -> [MASK]
      R(0.95), R(0.2),  # position 7 -> kept "##s"; the word is still chosen
      R(0.79),  # position 1: 2 + 1 <= 3 fits -> [MASK]; now 3, stop
  ])
  tokens, positions, labels = cpd.create_masked_lm_predictions(
      HAND_TOKENS, 0.3, 20, HAND_VOCAB, rng, do_whole_word_mask=True)
  rng.assert_done()
  assert tokens == ["[CLS]", "[MASK]", "cat", "sat", "[SEP]", "on", "[MASK]",
                    "##s", "[SEP]"]
  assert positions == [1, 6, 7]
  assert labels == ["the", "mat", "##s"]


def test_mask_whole_words_together_by_hand():
  # Same candidates and shuffle as above; one choice per word now.
  rng = ScriptedRng([
      S(4, 0, 1, 2, 3),
      R(0.95), R(0.9), RI(0, 10, 5), RI(0, 10, 9),  # [6, 7] -> both random
      R(0.85), R(0.2),  # [1] -> kept
  ])
  tokens, positions, labels = cpd.create_masked_lm_predictions(
      HAND_TOKENS, 0.3, 20, HAND_VOCAB, rng, do_whole_word_mask=True,
      mask_whole_words_together=True)
  rng.assert_done()
  assert tokens == ["[CLS]", "the", "cat", "sat", "[SEP]", "on", "the", "mat",
                    "[SEP]"]
  assert positions == [1, 6, 7]
  assert labels == ["the", "mat", "##s"]


def test_mask_whole_words_together_changes_nothing_for_single_pieces():
  """Per-WordPiece units: the same draws, so the same output as off."""
  for seed in range(20):
    off = cpd.create_masked_lm_predictions(
        HAND_TOKENS, 0.5, 20, HAND_VOCAB, random.Random(seed))
    on = cpd.create_masked_lm_predictions(
        HAND_TOKENS, 0.5, 20, HAND_VOCAB, random.Random(seed),
        mask_whole_words_together=True)
    assert on == off


def test_whole_word_masking_skips_word_over_budget():
  # Budget 3. Shuffle [0, 1, 4, 2, 3] orders [1], [2], [6, 7], [3], [5].
  # After masking 1 and 2, the word [6, 7] would make 4 > 3: skipped without
  # touching the rng (the later fix in the original), then [3] fills it.
  rng = ScriptedRng([S(0, 1, 4, 2, 3), R(0.0), R(0.0), R(0.0)])
  tokens, positions, labels = cpd.create_masked_lm_predictions(
      HAND_TOKENS, 0.3, 20, HAND_VOCAB, rng, do_whole_word_mask=True)
  rng.assert_done()
  assert tokens == ["[CLS]", "[MASK]", "[MASK]", "[MASK]", "[SEP]", "on",
                    "mat", "##s", "[SEP]"]
  assert positions == [1, 2, 3]
  assert labels == ["the", "cat", "sat"]


def test_max_predictions_caps_the_count():
  # round(9 * 0.3) = 3, but max_predictions_per_seq=2 caps it at 2.
  rng = ScriptedRng([S(0, 1, 2, 3, 4, 5), R(0.0), R(0.0)])
  _, positions, _ = cpd.create_masked_lm_predictions(HAND_TOKENS, 0.3, 2,
                                                     HAND_VOCAB, rng)
  rng.assert_done()
  assert positions == [1, 2]


def test_truncate_seq_pair_by_hand():
  a = ["a1", "a2", "a3", "a4", "a5"]
  b = ["b1", "b2"]
  rng = ScriptedRng([
      R(0.3),  # 7 > 4, A is longer; 0.3 < 0.5 -> drop the front: a2..a5
      R(0.7),  # 6 > 4, A is longer; drop the back: a2 a3 a4
      R(0.1),  # 5 > 4, A is longer; drop the front: a3 a4; now 4, stop
  ])
  cpd.truncate_seq_pair(a, b, 4, rng)
  rng.assert_done()
  assert a == ["a3", "a4"]
  assert b == ["b1", "b2"]

  # On a tie B is truncated (A only when strictly longer).
  a, b = ["x", "y"], ["p", "q"]
  rng = ScriptedRng([R(0.6)])  # 4 > 3, tie -> B; 0.6 -> drop the back
  cpd.truncate_seq_pair(a, b, 3, rng)
  rng.assert_done()
  assert (a, b) == (["x", "y"], ["p"])


DOC_VOCAB = SPECIAL + ["a", "b", "c", "d", "e", "f", "x", "y", "z"]
DOCUMENTS = [
    [["a", "b"], ["c"], ["d", "e", "f"]],  # document 0
    [["x", "y"], ["z"]],  # document 1
]


def test_instance_with_actual_next_sentence_by_hand():
  # max_seq_length 9 leaves 6 tokens for A and B.
  rng = ScriptedRng([
      R(0.5),  # not < short_seq_prob 0.1: target length 6
      # Sentences accumulate to 2, 3, then 6 >= 6: a chunk of 3 sentences.
      RI(1, 2, 2),  # A = the first 2 sentences: a b c
      R(0.7),  # not < 0.5: B is the actual rest of the chunk, d e f
      # 3 + 3 = 6 tokens fit: truncation draws nothing. 9 tokens * 0.1
      # rounds to 1 prediction; candidates 1, 2, 3, 5, 6, 7.
      S(3, 0, 1, 2, 4, 5),  # position 5 ("d") first
      R(0.2),  # -> [MASK]
  ])
  instances = cpd.create_instances_from_document(
      DOCUMENTS, 0, max_seq_length=9, short_seq_prob=0.1, masked_lm_prob=0.1,
      max_predictions_per_seq=20, vocab_words=DOC_VOCAB, rng=rng)
  rng.assert_done()
  assert len(instances) == 1
  instance = instances[0]
  assert instance.tokens == ["[CLS]", "a", "b", "c", "[SEP]", "[MASK]", "e",
                             "f", "[SEP]"]
  assert instance.segment_ids == [0, 0, 0, 0, 0, 1, 1, 1, 1]
  assert instance.masked_lm_positions == [5]
  assert instance.masked_lm_labels == ["d"]
  assert instance.is_random_next is False


def test_instances_with_random_next_sentence_by_hand():
  rng = ScriptedRng([
      R(0.05), RI(2, 6, 3),  # < 0.1: a short target of 3 tokens
      # "x y" (2) then "z" (3 >= 3): a chunk of 2 sentences.
      RI(1, 1, 1),  # A = "x y"
      R(0.2),  # < 0.5: random next. B wants 3 - 2 = 1 token.
      RI(0, 1, 1),  # document 1 is this one: draw again
      RI(0, 1, 0),  # document 0
      RI(0, 2, 1),  # from its sentence 1: "c" is enough (1 >= 1)
      # "z" was not used, so it is put back and starts the next chunk.
      # [CLS] x y [SEP] c [SEP]: 6 * 0.1 rounds to 1 prediction.
      S(2, 0, 1),  # candidates 1, 2, 4 -> 4 ("c") first
      R(0.9), R(0.8), RI(0, 13, 5),  # replaced by DOC_VOCAB[5] = "a"
      # Chunk "z" alone (last sentence): A = "z" with no draw, and a
      # one-sentence chunk is always random next, with no coin toss.
      # B wants 3 - 1 = 2 tokens.
      RI(0, 1, 0),  # document 0 differs from 1 at the first draw
      RI(0, 2, 2),  # its sentence 2: "d e f" (3 >= 2)
      # [CLS] z [SEP] d e f [SEP]: 7 * 0.1 rounds to 1 prediction.
      S(0, 1, 2, 3),  # candidates 1, 3, 4, 5 -> 1 ("z") first
      R(0.1),  # -> [MASK]
  ])
  instances = cpd.create_instances_from_document(
      DOCUMENTS, 1, max_seq_length=9, short_seq_prob=0.1, masked_lm_prob=0.1,
      max_predictions_per_seq=20, vocab_words=DOC_VOCAB, rng=rng)
  rng.assert_done()
  assert [i.tokens for i in instances] == [
      ["[CLS]", "x", "y", "[SEP]", "a", "[SEP]"],
      ["[CLS]", "[MASK]", "[SEP]", "d", "e", "f", "[SEP]"],
  ]
  assert [i.segment_ids for i in instances] == [[0, 0, 0, 0, 1, 1],
                                                [0, 0, 0, 1, 1, 1, 1]]
  assert [i.masked_lm_positions for i in instances] == [[4], [1]]
  assert [i.masked_lm_labels for i in instances] == [["c"], ["z"]]
  assert [i.is_random_next for i in instances] == [True, True]


def test_training_instance_str():
  instance = cpd.TrainingInstance(["[CLS]", "a", "[SEP]"], [0, 0, 0], [1],
                                  ["a"], True)
  assert str(instance) == ("tokens: [CLS] a [SEP]\n"
                           "segment_ids: 0 0 0\n"
                           "is_random_next: True\n"
                           "masked_lm_positions: 1\n"
                           "masked_lm_labels: a\n\n")
  assert repr(instance) == str(instance)


# ---------------------------------------------------------------------------
# Statistics over a generated corpus, with the real tokenizer.
# ---------------------------------------------------------------------------


def write_vocab(directory, tokens=None):
  return bert_testing.write_tokens(os.path.join(str(directory), "vocab.txt"),
                                   SPECIAL + list(tokens or WORDS + PIECES))


def random_corpus(rng, num_documents, words=None, min_sentences=2,
                  max_sentences=8):
  """Returns text: documents of sentences of 4-12 words, blank-separated."""
  words = words or WORDS + SPLIT_WORDS
  documents = []
  for _ in range(num_documents):
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
                 for _ in range(rng.randint(min_sentences, max_sentences))]
    documents.append("\n".join(sentences) + "\n")
  return "\n".join(documents)


def write_text(path, text, mode="w"):
  with open(str(path), mode) as f:
    f.write(text)
  return str(path)


MAX_SEQ_LENGTH = 64
MAX_PREDICTIONS = 10


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  directory = tmp_path_factory.mktemp("corpus")
  text = random_corpus(random.Random(1), 300)
  input_file = write_text(directory / "corpus.txt", text)
  tokenizer = tokenization.FullTokenizer(write_vocab(directory), True)
  return input_file, tokenizer


def make_instances(corpus, seed=7, do_whole_word_mask=False, dupe_factor=3):
  input_file, tokenizer = corpus
  return cpd.create_training_instances(
      [input_file], tokenizer, MAX_SEQ_LENGTH, dupe_factor, 0.1, 0.15,
      MAX_PREDICTIONS, random.Random(seed), do_whole_word_mask)


@pytest.fixture(scope="module")
def instances(corpus):
  return make_instances(corpus)


def test_masking_is_80_10_10(instances):
  counts = collections.Counter()
  for instance in instances:
    # Without whole words every instance predicts exactly this many.
    expected = min(MAX_PREDICTIONS, max(1, round(len(instance.tokens) * 0.15)))
    assert len(instance.masked_lm_positions) == expected
    for position, label in zip(instance.masked_lm_positions,
                               instance.masked_lm_labels):
      token = instance.tokens[position]
      if token == "[MASK]":
        counts["mask"] += 1
      elif token == label:
        counts["kept"] += 1
      else:
        counts["random"] += 1
  total = sum(counts.values())
  assert total > 5000
  # Binomial standard errors at this size are at most 0.006; 0.02 is over 3
  # of them. A random word equal to the label counts as "kept": that shifts
  # about 0.1 / 48 vocab words = 0.002 from "random" to "kept".
  assert abs(counts["mask"] / total - 0.8) < 0.02
  assert abs(counts["kept"] / total - 0.1) < 0.02
  assert abs(counts["random"] / total - 0.1) < 0.02


def test_instance_layout(instances):
  assert len(instances) > 1000
  for instance in instances:
    tokens, segment_ids = instance.tokens, instance.segment_ids
    assert len(tokens) == len(segment_ids) <= MAX_SEQ_LENGTH
    num_a = segment_ids.count(0) - 2  # [CLS] A [SEP]
    num_b = segment_ids.count(1) - 1  # B [SEP]
    assert num_a >= 1 and num_b >= 1
    assert segment_ids == [0] * (num_a + 2) + [1] * (num_b + 1)
    assert tokens[0] == "[CLS]"
    assert tokens[num_a + 1] == "[SEP]" and tokens[-1] == "[SEP]"
    specials = {0, num_a + 1, len(tokens) - 1}
    assert not specials & set(instance.masked_lm_positions)
    assert instance.masked_lm_positions == sorted(
        set(instance.masked_lm_positions))


def test_next_sentence_labels_are_balanced(corpus, tmp_path):
  # Documents of 30-40 short sentences, so chunks hold many sentences and
  # each tosses a fair coin. A one-sentence chunk is always "random next"
  # with no toss; they occur at document ends, more so because a random-next
  # chunk puts its unused sentences back. So the fraction sits a few points
  # above 0.5 (0.52-0.56 across seeds); the standard error is about 0.015.
  rng = random.Random(2)
  documents = []
  for _ in range(60):
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6)))
                 for _ in range(rng.randint(30, 40))]
    documents.append("\n".join(sentences))
  path = write_text(tmp_path / "long.txt", "\n\n".join(documents) + "\n")
  _, tokenizer = corpus
  instances = cpd.create_training_instances(
      [path], tokenizer, MAX_SEQ_LENGTH, 4, 0.1, 0.15, MAX_PREDICTIONS,
      random.Random(0))
  assert len(instances) > 1000
  fraction = sum(i.is_random_next for i in instances) / len(instances)
  assert 0.46 < fraction < 0.60


def split_into_words(tokens):
  """Returns lists of positions, one per word: a piece and its ## pieces.

  [CLS] and [SEP] belong to no word. (Truncation can leave a "##" piece at
  the start of segment B; the original then masks it with the last word of
  A, so it is not checked as part of a word here.)
  """
  words = []
  for position, token in enumerate(tokens):
    if token in ("[CLS]", "[SEP]"):
      continue
    if token.startswith("##") and words and words[-1][-1] == position - 1:
      words[-1].append(position)
    else:
      words.append([position])
  return words


def test_whole_word_masking_never_splits_a_word(corpus):
  instances = make_instances(corpus, do_whole_word_mask=True, dupe_factor=2)
  words_masked = 0
  for instance in instances:
    masked = set(instance.masked_lm_positions)
    assert len(masked) <= MAX_PREDICTIONS
    # Read the words off the labels: the original token at each position.
    original = list(instance.tokens)
    for position, label in zip(instance.masked_lm_positions,
                               instance.masked_lm_labels):
      original[position] = label
    for word in split_into_words(original):
      if len(word) > 1 and masked & set(word):
        words_masked += 1
        assert set(word) <= masked, (word, instance)
  assert words_masked > 100  # the corpus does exercise multi-piece words


def masked_word_outcomes(instances):
  """For each masked multi-piece word: the set of what became of its pieces
  ("mask", "keep" or "random")."""
  outcomes = []
  for instance in instances:
    original = list(instance.tokens)
    for position, label in zip(instance.masked_lm_positions,
                               instance.masked_lm_labels):
      original[position] = label
    masked = set(instance.masked_lm_positions)
    for word in split_into_words(original):
      if len(word) > 1 and set(word) <= masked:
        outcomes.append({
            "mask" if instance.tokens[p] == "[MASK]" else
            "keep" if instance.tokens[p] == original[p] else "random"
            for p in word})
  return outcomes


def test_mask_whole_words_together_makes_one_choice_per_word(corpus):
  input_file, tokenizer = corpus
  def words(together):
    return masked_word_outcomes(cpd.create_training_instances(
        [input_file], tokenizer, MAX_SEQ_LENGTH, 3, 0.1, 0.15,
        MAX_PREDICTIONS, random.Random(7), True,
        mask_whole_words_together=together,
        replace_with_real_word_pieces=True))
  together = words(True)
  assert len(together) > 300
  # A random replacement can by chance equal the original piece, which reads
  # as "keep" (without replace_with_real_word_pieces, it could also be a
  # [MASK] drawn from the vocab); all three outcomes still occur whole.
  assert all(len(o) == 1 or o == {"random", "keep"} for o in together), [
      o for o in together if len(o) > 1 and o != {"random", "keep"}]
  assert sum(o == {"mask"} for o in together) > 0.7 * len(together)
  assert any(o == {"keep"} for o in together)
  assert any(o == {"random"} for o in together)
  # The original's per-piece choice leaves many words partly masked.
  mixed = [o for o in words(False) if "mask" in o and len(o) > 1]
  assert len(mixed) > 30


def test_replace_with_real_word_pieces_never_inserts_special_tokens(tmp_path):
  # Half of this vocab is [unusedN]: the original draws those half the time.
  unused = ["[unused%d]" % i for i in range(len(WORDS + PIECES))]
  tokenizer = tokenization.FullTokenizer(
      write_vocab(tmp_path, WORDS + PIECES + unused), True)
  input_file = write_text(tmp_path / "in.txt",
                          random_corpus(random.Random(3), 150))
  def replacements(flag):
    instances = cpd.create_training_instances(
        [input_file], tokenizer, MAX_SEQ_LENGTH, 2, 0.1, 0.15,
        MAX_PREDICTIONS, random.Random(5),
        replace_with_real_word_pieces=flag)
    # A position not [MASK] and not its label has a random replacement.
    return [instance.tokens[p] for instance in instances
            for p, label in zip(instance.masked_lm_positions,
                                instance.masked_lm_labels)
            if instance.tokens[p] not in ("[MASK]", label)]
  real = replacements(True)
  assert len(real) > 100
  assert set(real) <= set(WORDS + PIECES)
  original = replacements(False)
  special = [t for t in original if t in SPECIAL or t.startswith("[unused")]
  assert len(special) > 0.3 * len(original)
  assert cpd.real_word_pieces(SPECIAL + ["[unused3]", "a", "##b"]) == [
      "a", "##b"]
  with pytest.raises(cpd.InputError, match="only special tokens"):
    cpd.real_word_pieces(SPECIAL)


def test_mask_whole_words_together_needs_whole_word_masking(tmp_path):
  path = write_text(tmp_path / "in.txt", "the cat\nthe dog\n")
  with pytest.raises(cpd.InputError, match="--mask_whole_words_together "
                     "needs --do_whole_word_mask"):
    run_cli(tmp_path, input_file=path, max_seq_length=128,
            max_predictions_per_seq=20, mask_whole_words_together=True)


def test_new_flags_reach_the_output(tmp_path):
  """Through the command-line path, sharded mode included: on, the records
  differ from the default ones; off, they are the default ones."""
  text = random_corpus(random.Random(4), 40, words=SPLIT_WORDS + WORDS)
  path = write_text(tmp_path / "in.txt", text)
  outputs = {}
  for name, extra in (("off", {}), ("on", dict(
      mask_whole_words_together=True, replace_with_real_word_pieces=True))):
    for mode in ("none", "file"):
      out = str(tmp_path / ("%s-%s" % (name, mode)))
      run_cli(tmp_path, input_file=path, output_file=out, shard_mode=mode,
              do_whole_word_mask=True, max_seq_length=32,
              max_predictions_per_seq=5, **extra)
      produced = out if mode == "none" else cpd.shard_output_file(out, 0, 1)
      with open(produced, "rb") as f:
        outputs[name, mode] = f.read()
  assert outputs["on", "none"] != outputs["off", "none"]
  assert outputs["on", "file"] != outputs["off", "file"]


def parse_records(path, max_seq_length, max_predictions):
  """Parses a TFRecord file with tf.io.parse_single_example."""
  int_seq = tf.io.FixedLenFeature([max_seq_length], tf.int64)
  int_pred = tf.io.FixedLenFeature([max_predictions], tf.int64)
  spec = {
      "input_ids": int_seq,
      "input_mask": int_seq,
      "segment_ids": int_seq,
      "masked_lm_positions": int_pred,
      "masked_lm_ids": int_pred,
      "masked_lm_weights": tf.io.FixedLenFeature([max_predictions],
                                                 tf.float32),
      "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
  }
  # A graph and session work whether or not eager execution is enabled.
  with tf.Graph().as_default() as graph:
    serialized = tf.placeholder(tf.string, [])
    parsed = tf.io.parse_single_example(serialized, spec)
    with tf.Session(graph=graph) as session:
      return [session.run(parsed, {serialized: record})
              for record in tf.io.tf_record_iterator(path)]


def expected_features(instance, tokenizer, max_seq_length, max_predictions):
  ids = tokenizer.convert_tokens_to_ids(instance.tokens)
  pad = max_seq_length - len(ids)
  labels = tokenizer.convert_tokens_to_ids(instance.masked_lm_labels)
  lm_pad = max_predictions - len(labels)
  return {
      "input_ids": ids + [0] * pad,
      "input_mask": [1] * len(ids) + [0] * pad,
      "segment_ids": instance.segment_ids + [0] * pad,
      "masked_lm_positions": instance.masked_lm_positions + [0] * lm_pad,
      "masked_lm_ids": labels + [0] * lm_pad,
      "masked_lm_weights": [1.0] * len(labels) + [0.0] * lm_pad,
      "next_sentence_labels": [int(instance.is_random_next)],
  }


def test_tfrecords_read_back_round_robin(corpus, instances, tmp_path):
  _, tokenizer = corpus
  some = instances[:41]
  outputs = [str(tmp_path / "a.tfrecord"), str(tmp_path / "sub" / "b")]
  written = cpd.write_instance_to_example_files(
      some, tokenizer, MAX_SEQ_LENGTH, MAX_PREDICTIONS, outputs)
  assert written == 41
  assert sorted(os.listdir(str(tmp_path))) == ["a.tfrecord", "sub"]
  first = parse_records(outputs[0], MAX_SEQ_LENGTH, MAX_PREDICTIONS)
  second = parse_records(outputs[1], MAX_SEQ_LENGTH, MAX_PREDICTIONS)
  assert (len(first), len(second)) == (21, 20)
  # Round-robin: instance i is record i // 2 of file i % 2.
  for index, instance in enumerate(some):
    record = (first, second)[index % 2][index // 2]
    want = expected_features(instance, tokenizer, MAX_SEQ_LENGTH,
                             MAX_PREDICTIONS)
    for name, values in want.items():
      assert list(record[name]) == values, name


def test_same_seed_same_bytes_different_seed_differs(corpus, tmp_path):
  _, tokenizer = corpus

  def output_bytes(seed, name):
    path = str(tmp_path / name)
    cpd.write_instance_to_example_files(
        make_instances(corpus, seed=seed, dupe_factor=1), tokenizer,
        MAX_SEQ_LENGTH, MAX_PREDICTIONS, [path])
    with open(path, "rb") as f:
      return f.read()

  first = output_bytes(5, "first")
  assert first == output_bytes(5, "again")
  assert first != output_bytes(6, "other")


def test_a_crash_leaves_no_output_under_the_final_name(corpus, instances,
                                                       tmp_path):
  _, tokenizer = corpus

  def failing_instances():
    yield from instances[:5]
    raise RuntimeError("disk full")

  output = str(tmp_path / "out.tfrecord")
  with pytest.raises(RuntimeError, match="disk full"):
    cpd.write_instance_to_example_files(failing_instances(), tokenizer,
                                        MAX_SEQ_LENGTH, MAX_PREDICTIONS,
                                        [output])
  assert os.listdir(str(tmp_path)) == []


# ---------------------------------------------------------------------------
# Sharded mode.
# ---------------------------------------------------------------------------

GROUPS = [WORDS[0:9], WORDS[9:18], WORDS[18:27]]


def sharded_config(seed=12345):
  return cpd.GenerationConfig(
      max_seq_length=32, max_predictions_per_seq=5, dupe_factor=2,
      short_seq_prob=0.1, masked_lm_prob=0.15, do_whole_word_mask=False,
      random_seed=seed)


@pytest.fixture(scope="module")
def sharded_input(tmp_path_factory):
  """Two files; each group of 3 documents uses words of its own."""
  directory = tmp_path_factory.mktemp("sharded")
  rng = random.Random(3)
  # File a: 3 documents of group 0, then 3 of group 1, and extra blank lines
  # between documents. File b: 2 documents of group 2 and no final newline.
  text_a = (random_corpus(rng, 3, GROUPS[0]) + "\n\n" +
            random_corpus(rng, 3, GROUPS[1]))
  text_b = random_corpus(rng, 2, GROUPS[2]).rstrip("\n")
  files = [write_text(directory / "a.txt", text_a),
           write_text(directory / "b.txt", text_b)]
  tokenizer = tokenization.FullTokenizer(write_vocab(directory), True)
  return files, tokenizer


def test_plan_cuts_files_after_every_nth_document(sharded_input):
  files, _ = sharded_input
  slices = cpd.plan_shards(files, "documents", 3)
  assert [(s.path, s.start == 0, s.end is None) for s in slices] == [
      (files[0], True, False), (files[0], False, True),
      (files[1], True, True)]
  with open(files[0], "rb") as f:
    data = f.read()
  # The cut is just after the blank line that ends document 3.
  assert data[:slices[0].end].endswith(b"\n\n")
  assert slices[1].start == slices[0].end
  assert slices[1].first_line == data[:slices[0].end].count(b"\n") + 1
  assert [s.path for s in cpd.plan_shards(files, "file", 3)] == files


def read_shard_tokens(path, tokenizer):
  """Returns (unmasked tokens, labels) of every record in a shard."""
  records = parse_records(path, 32, 5)
  tokens, labels = set(), set()
  for record in records:
    length = int(record["input_mask"].sum())
    masked = set(int(p) for p, w in zip(record["masked_lm_positions"],
                                        record["masked_lm_weights"]) if w)
    ids = [int(i) for i in record["input_ids"][:length]]
    tokens.update(tokenizer.inv_vocab[i] for p, i in enumerate(ids)
                  if p not in masked)
    labels.update(tokenizer.inv_vocab[int(i)] for i, w in zip(
        record["masked_lm_ids"], record["masked_lm_weights"]) if w)
  return records, tokens, labels


def test_sharded_mode_is_deterministic_and_stays_in_its_shard(
    sharded_input, tmp_path):
  files, tokenizer = sharded_input
  outputs, total, stats = cpd.create_sharded_examples(
      files, str(tmp_path / "two" / "shard"), tokenizer, sharded_config(),
      "documents", 3, num_workers=2)
  assert [os.path.basename(p) for p in outputs] == [
      "shard-00000-of-00003", "shard-00001-of-00003", "shard-00002-of-00003"]
  assert stats.documents == 8 and stats.files == 2
  assert sorted(os.listdir(str(tmp_path / "two"))) == [
      os.path.basename(p) for p in outputs]  # no partial files left

  counted = 0
  for path, group in zip(outputs, GROUPS):
    records, tokens, labels = read_shard_tokens(path, tokenizer)
    counted += len(records)
    # Every sentence, including next-sentence negatives, comes from the
    # shard's own documents.
    assert tokens <= set(group) | {"[CLS]", "[SEP]"}
    assert labels <= set(group)
  assert counted == total > 0

  # One worker, in-process: the same bytes, shard for shard.
  again, _, _ = cpd.create_sharded_examples(
      files, str(tmp_path / "one" / "shard"), tokenizer, sharded_config(),
      "documents", 3, num_workers=1)
  for first, second in zip(outputs, again):
    with open(first, "rb") as f1, open(second, "rb") as f2:
      assert f1.read() == f2.read()

  # Another seed changes the data.
  other, _, _ = cpd.create_sharded_examples(
      files, str(tmp_path / "seed" / "shard"), tokenizer,
      sharded_config(seed=1), "documents", 3, num_workers=2)
  with open(outputs[0], "rb") as f1, open(other[0], "rb") as f2:
    assert f1.read() != f2.read()


def test_file_shard_mode_writes_one_shard_per_file(sharded_input, tmp_path):
  files, tokenizer = sharded_input
  outputs, total, _ = cpd.create_sharded_examples(
      files, str(tmp_path / "f"), tokenizer, sharded_config(), "file", 0,
      num_workers=2)
  assert [os.path.basename(p) for p in outputs] == ["f-00000-of-00002",
                                                    "f-00001-of-00002"]
  _, tokens, _ = read_shard_tokens(outputs[1], tokenizer)
  assert tokens <= set(GROUPS[2]) | {"[CLS]", "[SEP]"}
  assert sum(len(parse_records(p, 32, 5)) for p in outputs) == total


# ---------------------------------------------------------------------------
# Bad input and flags, through the command-line entry point.
# ---------------------------------------------------------------------------


def run_cli(tmp_path, **overrides):
  values = dict(vocab_file=write_vocab(tmp_path),
                output_file=str(tmp_path / "out.tfrecord"),
                dupe_factor=1, max_seq_length=32, max_predictions_per_seq=5)
  values.update(overrides)
  cpd.create_examples(script_flags.from_flags().replace(**values))


def test_cli_writes_output_and_main_reports_errors(tmp_path, monkeypatch):
  text = random_corpus(random.Random(0), 5)
  run_cli(tmp_path, input_file=write_text(tmp_path / "in.txt", text))
  assert parse_records(str(tmp_path / "out.tfrecord"), 32, 5)

  # Bad input ends the command with one line naming the flag, exit status 1.
  monkeypatch.setattr(sys, "argv", ["create_pretraining_data.py"])
  main = command_line.exit_on_user_error(cpd.main)
  # Explicit lengths: scripts imported earlier in this process may have
  # redefined the shared flags' defaults (e.g. run_squad's max_seq_length).
  with flagsaver.flagsaver(input_file=str(tmp_path / "missing*.txt"),
                           output_file=str(tmp_path / "x"),
                           vocab_file=write_vocab(tmp_path),
                           max_seq_length=128, max_predictions_per_seq=20):
    with pytest.raises(SystemExit) as exit_info:
      main([])
  assert exit_info.value.code == (
      "create_pretraining_data.py: error: --input_file: no file matches "
      "'%s'" % (tmp_path / "missing*.txt"))


def test_glob_matching_nothing_is_an_error(tmp_path):
  real = write_text(tmp_path / "real.txt", "a sentence\n")
  pattern = str(tmp_path / "nothing-*.txt")
  with pytest.raises(cpd.InputError,
                     match=re.escape("no file matches '%s'" % pattern)):
    run_cli(tmp_path, input_file=real + "," + pattern)


def test_empty_input_files_are_an_error(tmp_path):
  empty = write_text(tmp_path / "empty.txt", "")
  blank = write_text(tmp_path / "blank.txt", "\n  \n\n")
  with pytest.raises(cpd.InputError, match="holds no text: .*empty.txt"):
    run_cli(tmp_path, input_file=empty + "," + blank)
  with pytest.raises(cpd.InputError, match="holds no text"):
    run_cli(tmp_path, input_file=empty + "," + blank, shard_mode="file",
            output_file=str(tmp_path / "sharded"))
  assert not os.path.exists(str(tmp_path / "out.tfrecord"))


def test_file_without_blank_lines_warns_and_is_one_document(tmp_path, caplog):
  caplog.set_level(logging.WARNING, logger="tensorflow")
  text = "the cat sat on the mat\nthe dog ran home\nthe sun was red\n"
  path = write_text(tmp_path / "one.txt", text)
  stats = cpd.CorpusStats()
  documents = cpd.read_documents([path], tokenization.FullTokenizer(
      write_vocab(tmp_path), True), stats)
  assert len(documents) == 1 and len(documents[0]) == 3
  assert stats.files_without_breaks == [path]
  run_cli(tmp_path, input_file=path)
  assert "1 input files have no blank line" in caplog.text
  assert path in caplog.text


def test_non_utf8_input_names_file_and_line(tmp_path):
  path = write_text(tmp_path / "latin1.txt",
                    b"the cat\n\ncaf\xe9 noir\n", mode="wb")
  with pytest.raises(cpd.InputError,
                     match=r"latin1.txt:3: not valid UTF-8 \(byte 0xe9 at "
                     r"column 4\)"):
    run_cli(tmp_path, input_file=path)
  # In a later shard the line number still counts from the start of the file.
  text = b"a b\n\nc d\n\ne f\n\n\xff\n"
  path = write_text(tmp_path / "late.txt", text, mode="wb")
  with pytest.raises(cpd.InputError, match="late.txt:7: not valid UTF-8"):
    run_cli(tmp_path, input_file=path, shard_mode="documents",
            documents_per_shard=1, output_file=str(tmp_path / "s"))


def test_single_sentence_documents_are_counted_and_still_used(tmp_path,
                                                              caplog):
  caplog.set_level(logging.WARNING, logger="tensorflow")
  # As in the original, a one-sentence document still gives an instance:
  # its sentence is A and B comes from another document.
  text = "the cat sat on the mat\n\nthe dog ran\nto the park\n\nbig red sun\n"
  path = write_text(tmp_path / "short.txt", text)
  tokenizer = tokenization.FullTokenizer(write_vocab(tmp_path), True)
  stats = cpd.CorpusStats()
  instances = cpd.create_training_instances(
      [path], tokenizer, 32, 5, 0.0, 0.15, 5, random.Random(0), stats=stats)
  assert (stats.documents, stats.single_sentence_documents) == (3, 2)
  single = {"the cat sat on the mat", "big red sun"}
  from_single = [
      i for i in instances
      if " ".join(i.tokens[1:i.segment_ids.index(1) - 1]) in single]
  assert from_single and all(i.is_random_next for i in from_single)
  run_cli(tmp_path, input_file=path)
  assert "2 of 3 documents have a single sentence" in caplog.text


def test_worker_error_reaches_the_caller_and_leaves_no_files(tmp_path):
  # In `file` mode the worker, not the planning scan, meets the bad byte;
  # the other worker may be mid-shard when the pool is terminated.
  good = write_text(tmp_path / "good.txt", random_corpus(random.Random(0), 50))
  bad = write_text(tmp_path / "bad.txt", b"a b\n\n\xff\n", mode="wb")
  tokenizer = tokenization.FullTokenizer(write_vocab(tmp_path), True)
  with pytest.raises(cpd.InputError, match="bad.txt:3: not valid UTF-8"):
    cpd.create_sharded_examples([good, bad], str(tmp_path / "out" / "s"),
                                tokenizer, sharded_config(), "file", 0,
                                num_workers=2)
  out = tmp_path / "out"
  leftovers = os.listdir(str(out)) if out.exists() else []
  assert not [name for name in leftovers if ".tmp-" in name]


@pytest.mark.parametrize("overrides, message", [
    (dict(max_predictions_per_seq=18, max_seq_length=128, masked_lm_prob=0.15),
     r"--max_predictions_per_seq=18 is too small for --max_seq_length=128 "
     r"and --masked_lm_prob=0.15: .* at least 19"),
    (dict(max_predictions_per_seq=76, max_seq_length=512),
     r"--max_predictions_per_seq must be at least 77"),
    (dict(max_seq_length=4), r"--max_seq_length=4 is too small.*at least 5"),
    (dict(masked_lm_prob=1.5), r"--masked_lm_prob=1.5 must be between 0 and 1"),
    (dict(short_seq_prob=-0.1), r"--short_seq_prob=-0.1 must be between"),
    (dict(dupe_factor=0), r"--dupe_factor=0 must be at least 1"),
    (dict(num_workers=2), r"--num_workers=2 needs --shard_mode"),
    (dict(shard_mode="file", output_file="a,b"),
     r"--output_file must be a single path prefix"),
    (dict(shard_mode="documents", documents_per_shard=0),
     r"--documents_per_shard=0 must be at least 1"),
])
def test_nonsense_flags_are_errors(tmp_path, overrides, message):
  path = write_text(tmp_path / "in.txt", "the cat\nthe dog\n")
  values = dict(max_seq_length=128, max_predictions_per_seq=20)
  values.update(overrides)
  with pytest.raises(cpd.InputError, match=message):
    run_cli(tmp_path, input_file=path, **values)


def test_vocab_without_special_tokens_is_an_error(tmp_path):
  path = write_text(tmp_path / "in.txt", "the cat\nthe dog\n")
  vocab = write_text(tmp_path / "v.txt", "[PAD]\n[UNK]\n[CLS]\nthe\ncat\n")
  with pytest.raises(cpd.InputError, match="v.txt lacks .*SEP.*MASK"):
    run_cli(tmp_path, input_file=path, vocab_file=vocab)
