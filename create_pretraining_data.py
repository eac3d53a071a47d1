# coding=utf-8
r"""Creates masked-LM / next-sentence TFRecord examples for BERT pre-training.

Input: plain UTF-8 text, one sentence per line, with a blank line between
documents. Sentence boundaries matter because segments "A" and "B" of a
training instance are built from whole sentences, and document boundaries
matter because the "next sentence" task must not span two documents.

Output: TFRecord files of `tf.train.Example`s with the int64 features
`input_ids`, `input_mask`, `segment_ids` (padded to --max_seq_length),
`masked_lm_positions`, `masked_lm_ids` (padded to --max_predictions_per_seq),
`next_sentence_labels` and the float feature `masked_lm_weights`.

Two ways to run, chosen with --shard_mode:

  none (default)
    Exactly the algorithm of google-research/bert: the whole corpus is read
    into memory, documents are shuffled, --dupe_factor passes create
    instances, all instances are shuffled together and written round-robin
    to the comma-separated --output_file list. With the same input, vocab,
    flags and --random_seed the examples are the same, one for one, as the
    original's. Like the original, a file that does not end with a blank line
    continues its last document into the next file. Memory grows with the
    corpus times --dupe_factor.

  file / documents
    Bounded memory, several processes. The input is cut into shards: one per
    input file (`file`), or runs of --documents_per_shard documents inside
    each input file (`documents`; a shard never spans two files). A pool of
    --num_workers processes turns each shard, independently, into one output
    file named `<output_file>-SSSSS-of-NNNNN` (shards are numbered in input
    order, the files of each glob sorted by name). A shard is processed with
    the same algorithm as above, seeded from (--random_seed, shard index), so
    its output depends only on the seed, the shard index and the shard's
    text, never on --num_workers or scheduling. Only one shard's documents
    and instances are in memory per worker. The catch: instances are shuffled
    within a shard, not across shards (shuffle the files when training), and
    next-sentence negatives are drawn only from documents of the same shard,
    so keep shards large enough (thousands of documents) for negatives to be
    varied.

In every mode each output file is written under a temporary name and renamed
when complete, so a crash never leaves a truncated TFRecord under the final
name (a killed run leaves `<name>.tmp-<host>-<pid>-<hex>` files, which a
failed sharded run removes itself).

Example:
  python create_pretraining_data.py --input_file='corpus/*.txt' \
    --output_file=/tmp/tf_examples --vocab_file=vocab.txt \
    --shard_mode=documents --documents_per_shard=10000 --num_workers=8
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import multiprocessing
import os
import random
import time

import command_line  # pylint: disable=g-bad-import-order  (first: quiet start)
from absl import flags
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
from output_files import TFRecordWriter
from output_files import int64_feature
from output_files import is_temp_name
import script_flags
import tokenization

FLAGS = flags.FLAGS

script_flags.define("tokenizer", "special_tokens")

# This script's own flags. Other scripts define some of the same names
# (`input_file`, `max_seq_length`, ...); `allow_override` lets tests and tools
# import several scripts into one process; run as a command, nothing changes.
_SHARED = dict(allow_override=True)

flags.DEFINE_string(
    "input_file", None,
    "Input raw text: a file or glob, or a comma-separated list of them. One "
    "sentence per line, a blank line between documents, UTF-8.", **_SHARED)

flags.DEFINE_string(
    "output_file", None,
    "Output TFRecord file, or a comma-separated list of files that instances "
    "are spread over round-robin. With --shard_mode=file or documents this "
    "is a single path prefix; shards are written to "
    "<output_file>-SSSSS-of-NNNNN.", **_SHARED)

flags.DEFINE_bool(
    "do_whole_word_mask", False,
    "Whether to use whole word masking rather than per-WordPiece masking: "
    "all the WordPieces of a word (a piece plus the `##` pieces after it) "
    "are masked together.", **_SHARED)

flags.DEFINE_bool(
    "mask_whole_words_together", False,
    "With --do_whole_word_mask: choose [MASK] / keep / random once per word, "
    "so all of a masked word's WordPieces are [MASK], or all kept, or all "
    "random. Off (the original's), the choice is made for each WordPiece, so "
    "a word can come out half masked.", **_SHARED)

flags.DEFINE_bool(
    "replace_with_real_word_pieces", False,
    "Draw the 10% random replacements only from real WordPieces of the "
    "vocab, never [PAD], [UNK], [CLS], [SEP], [MASK] or [unusedN]. Off (the "
    "original's), any vocab entry can be inserted.", **_SHARED)

flags.DEFINE_integer(
    "max_seq_length", 128,
    "Maximum sequence length in WordPieces, including [CLS] and two [SEP]. "
    "Must be at least 5.", **_SHARED)

flags.DEFINE_integer(
    "max_predictions_per_seq", 20,
    "Maximum number of masked LM predictions per sequence. Must be at least "
    "round(max_seq_length * masked_lm_prob), e.g. 20 for 128 and 80 for "
    "512.", **_SHARED)

flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.",
                     **_SHARED)

flags.DEFINE_integer(
    "dupe_factor", 10,
    "Number of times to duplicate the input data (with different masks).",
    **_SHARED)

flags.DEFINE_float("masked_lm_prob", 0.15,
                   "Masked LM probability: the fraction of WordPieces of each "
                   "sequence to predict, in [0, 1].", **_SHARED)

flags.DEFINE_float(
    "short_seq_prob", 0.1,
    "Probability of creating sequences which are shorter than the "
    "maximum length, in [0, 1].", **_SHARED)

flags.DEFINE_enum(
    "shard_mode", "none", ["none", "file", "documents"],
    "`none`: read the whole corpus into memory and shuffle all instances "
    "together, as the original BERT script does. `file`: one output shard "
    "per input file. `documents`: one output shard per --documents_per_shard "
    "documents of an input file. In the sharded modes each shard is "
    "processed independently with bounded memory by --num_workers processes; "
    "next-sentence negatives come only from documents of the same shard.",
    **_SHARED)

flags.DEFINE_integer(
    "documents_per_shard", 10000,
    "With --shard_mode=documents: documents per shard. Larger shards give "
    "more varied next-sentence negatives and a better shuffle; smaller "
    "shards use less memory per worker.", **_SHARED)

flags.DEFINE_integer(
    "num_workers", 1,
    "With --shard_mode=file or documents: number of worker processes that "
    "create shards in parallel. Each needs memory for one shard.", **_SHARED)

# Seconds between progress lines in the log.
_LOG_EVERY_SECONDS = 15.0

# Examples written to the log at INFO level, so a user can eyeball the data.
_NUM_EXAMPLES_TO_LOG = 20


class InputError(UserError):
  """Bad flags or input data; the message says what to change."""


class TrainingInstance(object):
  """A single training instance (sentence pair)."""

  def __init__(self, tokens, segment_ids, masked_lm_positions, masked_lm_labels,
               is_random_next):
    self.tokens = tokens
    self.segment_ids = segment_ids
    self.is_random_next = is_random_next
    self.masked_lm_positions = masked_lm_positions
    self.masked_lm_labels = masked_lm_labels

  def __str__(self):
    lines = [
        "tokens: %s" % _join_printable(self.tokens),
        "segment_ids: %s" % " ".join(str(x) for x in self.segment_ids),
        "is_random_next: %s" % self.is_random_next,
        "masked_lm_positions: %s" % " ".join(
            str(x) for x in self.masked_lm_positions),
        "masked_lm_labels: %s" % _join_printable(self.masked_lm_labels),
    ]
    return "\n".join(lines) + "\n\n"

  def __repr__(self):
    return self.__str__()


def _join_printable(tokens):
  return " ".join(tokenization.printable_text(x) for x in tokens)


MaskedLmInstance = collections.namedtuple("MaskedLmInstance",
                                          ["index", "label"])

# Settings of the instance-creation algorithm, passed as one value to workers.
GenerationConfig = collections.namedtuple("GenerationConfig", [
    "max_seq_length", "max_predictions_per_seq", "dupe_factor",
    "short_seq_prob", "masked_lm_prob", "do_whole_word_mask", "random_seed",
    "mask_whole_words_together", "replace_with_real_word_pieces"
], defaults=(False, False))

# Vocab entries that are not text: never a random replacement with
# --replace_with_real_word_pieces ([unusedN] entries are matched separately).
_NOT_WORD_PIECES = frozenset(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])

# A byte range [start, end) of an input file; end=None means end of file.
# `first_line` is the line number at `start`, for error messages.
InputSlice = collections.namedtuple("InputSlice",
                                    ["path", "start", "end", "first_line"])


class _Progress(object):
  """Counts something and logs the count and its rate now and then."""

  def __init__(self, what, interval=_LOG_EVERY_SECONDS):
    self._what = what
    self._interval = interval
    self._start = self._last_log = time.time()
    self.count = 0

  def add(self, n=1, detail=""):
    self.count += n
    now = time.time()
    if now - self._last_log >= self._interval:
      self._last_log = now
      self.log(detail)

  def seconds(self):
    return time.time() - self._start

  def rate(self):
    return self.count / max(self.seconds(), 1e-9)

  def log(self, detail=""):
    tf.logging.info("%s: %d (%.1f/s)%s", self._what, self.count, self.rate(),
                    detail)


class CorpusStats(object):
  """What reading the corpus found; worth a warning when it looks wrong."""

  def __init__(self):
    self.files = 0
    self.lines = 0
    self.documents = 0
    self.sentences = 0
    self.single_sentence_documents = 0
    self.empty_files = []
    self.files_without_breaks = []

  def merge(self, other):
    self.files += other.files
    self.lines += other.lines
    self.documents += other.documents
    self.sentences += other.sentences
    self.single_sentence_documents += other.single_sentence_documents
    self.empty_files.extend(other.empty_files)
    self.files_without_breaks.extend(other.files_without_breaks)

  def count_documents(self, documents):
    self.documents += len(documents)
    for document in documents:
      self.sentences += len(document)
      if len(document) < 2:
        self.single_sentence_documents += 1

  def log_warnings(self):
    """Logs the counts, and a warning for each oddity in the input."""
    tf.logging.info("Read %d documents (%d sentences, %d lines) from %d files",
                    self.documents, self.sentences, self.lines, self.files)
    if self.empty_files:
      tf.logging.warning(
          "%d input files hold no text and were skipped: %s",
          len(self.empty_files), ", ".join(_abbreviate(self.empty_files)))
    if self.files_without_breaks:
      tf.logging.warning(
          "%d input files have no blank line, so each is one single document "
          "(separate documents with blank lines): %s",
          len(self.files_without_breaks),
          ", ".join(_abbreviate(self.files_without_breaks)))
    if self.single_sentence_documents:
      tf.logging.warning(
          "%d of %d documents have a single sentence; their instances always "
          "take segment B from another document (is_random_next=True).",
          self.single_sentence_documents, self.documents)


def _abbreviate(names, limit=10):
  if len(names) <= limit:
    return list(names)
  return list(names[:limit]) + ["... (%d more)" % (len(names) - limit)]


def _as_slice(source):
  if isinstance(source, InputSlice):
    return source
  return InputSlice(source, 0, None, 1)


def _describe_slice(source):
  if source.start == 0 and source.end is None:
    return source.path
  return "%s[bytes %d-%s]" % (source.path, source.start,
                              "end" if source.end is None else source.end)


def _read_lines(source):
  """Yields (line_number, text) for each line of an `InputSlice`.

  Lines are decoded strictly: dropping undecodable bytes silently would
  corrupt the text, and the user needs the file and line to fix it.
  """
  with tf.io.gfile.GFile(source.path, "rb") as reader:
    if source.start:
      reader.seek(source.start)
    offset = source.start
    line_number = source.first_line
    while source.end is None or offset < source.end:
      raw = reader.readline()
      if not raw:
        break
      offset += len(raw)
      try:
        text = raw.decode("utf-8")
      except UnicodeDecodeError as error:
        raise InputError(
            "%s:%d: not valid UTF-8 (byte 0x%02x at column %d). Convert the "
            "file to UTF-8, e.g. `iconv -f latin1 -t utf-8`." %
            (source.path, line_number, raw[error.start], error.start + 1))
      yield line_number, text
      line_number += 1


def _add_documents(source, tokenizer, all_documents, stats, progress):
  """Appends the tokenized sentences of `source` to `all_documents`.

  A blank line starts a new document; other lines are tokenized and added to
  the last document. The last document is left open, so text after it (the
  next file, in the whole-corpus mode) continues it, as in the original.
  """
  saw_text = False
  saw_break = False
  for _, line in _read_lines(source):
    stats.lines += 1
    line = line.strip()
    if not line:
      saw_break = True
      all_documents.append([])
      progress.add()
      continue
    saw_text = True
    tokens = tokenizer.tokenize(line)
    if tokens:
      all_documents[-1].append(tokens)
  if source.start:
    # A later slice of a file: the slice that starts the file has counted and
    # checked it; slices end at blank lines, so those checks cover the file.
    return
  stats.files += 1
  if not saw_text:
    stats.empty_files.append(source.path)
  elif not saw_break:
    stats.files_without_breaks.append(source.path)


def read_documents(input_files, tokenizer, stats=None):
  """Reads and tokenizes `input_files` (paths or `InputSlice`s).

  Returns:
    A list of documents, each a non-empty list of sentences, each a non-empty
    list of WordPiece tokens.
  """
  if stats is None:
    stats = CorpusStats()
  progress = _Progress("Documents read")
  all_documents = [[]]
  for source in input_files:
    _add_documents(_as_slice(source), tokenizer, all_documents, stats,
                   progress)
  all_documents = [document for document in all_documents if document]
  stats.count_documents(all_documents)
  return all_documents


def create_training_instances(input_files, tokenizer, max_seq_length,
                              dupe_factor, short_seq_prob, masked_lm_prob,
                              max_predictions_per_seq, rng,
                              do_whole_word_mask=False, stats=None,
                              mask_whole_words_together=False,
                              replace_with_real_word_pieces=False):
  """Create `TrainingInstance`s from raw text."""
  all_documents = read_documents(input_files, tokenizer, stats)
  vocab_words = list(tokenizer.vocab.keys())
  if replace_with_real_word_pieces:
    vocab_words = real_word_pieces(vocab_words)
  return create_instances_from_documents(
      all_documents, vocab_words, max_seq_length, dupe_factor,
      short_seq_prob, masked_lm_prob, max_predictions_per_seq, rng,
      do_whole_word_mask, mask_whole_words_together)


def real_word_pieces(vocab_words):
  """The entries of `vocab_words` that stand for text: no special tokens.

  `vocab_words` only serves to draw random replacements, so passing this
  list instead of the whole vocab is all --replace_with_real_word_pieces
  takes.
  """
  words = [w for w in vocab_words
           if w not in _NOT_WORD_PIECES and not tokenization.is_unused_token(w)]
  if not words:
    raise InputError("--replace_with_real_word_pieces: the vocab has only "
                     "special tokens to draw replacements from.")
  return words


def create_instances_from_documents(all_documents, vocab_words, max_seq_length,
                                    dupe_factor, short_seq_prob,
                                    masked_lm_prob, max_predictions_per_seq,
                                    rng, do_whole_word_mask=False,
                                    mask_whole_words_together=False):
  """Shuffles documents, makes `dupe_factor` passes, shuffles the instances.

  `all_documents` is shuffled in place.
  """
  rng.shuffle(all_documents)
  progress = _Progress("Instances created")
  instances = []
  for pass_index in range(dupe_factor):
    for document_index in range(len(all_documents)):
      new_instances = create_instances_from_document(
          all_documents, document_index, max_seq_length, short_seq_prob,
          masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
          do_whole_word_mask, mask_whole_words_together)
      instances.extend(new_instances)
      progress.add(len(new_instances),
                   " [pass %d/%d, document %d/%d]" %
                   (pass_index + 1, dupe_factor, document_index + 1,
                    len(all_documents)))
  rng.shuffle(instances)
  return instances


def create_instances_from_document(
    all_documents, document_index, max_seq_length, short_seq_prob,
    masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
    do_whole_word_mask=False, mask_whole_words_together=False):
  """Creates `TrainingInstance`s for a single document."""
  document = all_documents[document_index]

  # Room for [CLS], [SEP], [SEP].
  max_num_tokens = max_seq_length - 3

  # Sequences are padded to max_seq_length anyway, so filling them wastes no
  # compute; but a few short ones lessen the mismatch with fine-tuning, where
  # inputs are often short. This is only a target: max_seq_length is the
  # hard limit.
  target_seq_length = max_num_tokens
  if rng.random() < short_seq_prob:
    target_seq_length = rng.randint(2, max_num_tokens)

  # Segments A and B end on real sentence boundaries; splitting a stream of
  # tokens at an arbitrary point would make next-sentence prediction trivial.
  instances = []
  current_chunk = []
  current_length = 0
  i = 0
  while i < len(document):
    current_chunk.append(document[i])
    current_length += len(document[i])
    chunk_is_done = (i == len(document) - 1 or
                     current_length >= target_seq_length)
    if chunk_is_done and current_chunk:
      # The first `a_end` sentences of the chunk form segment A.
      a_end = 1
      if len(current_chunk) >= 2:
        a_end = rng.randint(1, len(current_chunk) - 1)
      tokens_a = [token for sentence in current_chunk[:a_end]
                  for token in sentence]

      # A one-sentence chunk has no actual next sentence to offer; the `or`
      # also means no coin is tossed for it, which the random sequence (and
      # so the output) depends on.
      is_random_next = len(current_chunk) == 1 or rng.random() < 0.5
      if is_random_next:
        tokens_b = _take_random_next(all_documents, document_index,
                                     target_seq_length - len(tokens_a), rng)
        # Sentences of the chunk that B did not use go back to the document,
        # so they start the next chunk instead of being wasted.
        i -= len(current_chunk) - a_end
      else:
        tokens_b = [token for sentence in current_chunk[a_end:]
                    for token in sentence]
      truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
      assert tokens_a and tokens_b

      tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
      segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
      (tokens, masked_lm_positions,
       masked_lm_labels) = create_masked_lm_predictions(
           tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
           do_whole_word_mask, mask_whole_words_together)
      instances.append(
          TrainingInstance(
              tokens=tokens,
              segment_ids=segment_ids,
              is_random_next=is_random_next,
              masked_lm_positions=masked_lm_positions,
              masked_lm_labels=masked_lm_labels))
    if chunk_is_done:
      current_chunk = []
      current_length = 0
    i += 1

  return instances


def _take_random_next(all_documents, document_index, target_b_length, rng):
  """Returns segment B for a negative: sentences from another document."""
  # With a large corpus the first draw almost always differs from the
  # current document; a tiny one may hit it ten times and use it anyway.
  for _ in range(10):
    random_document_index = rng.randint(0, len(all_documents) - 1)
    if random_document_index != document_index:
      break
  random_document = all_documents[random_document_index]
  random_start = rng.randint(0, len(random_document) - 1)
  tokens_b = []
  for sentence in random_document[random_start:]:
    tokens_b.extend(sentence)
    if len(tokens_b) >= target_b_length:
      break
  return tokens_b


def _masking_candidates(tokens, do_whole_word_mask):
  """Groups the maskable positions of `tokens`, one group per masking unit.

  A unit is one WordPiece, or with whole word masking a word: a piece and
  the `##` pieces after it. Only what is masked changes; each WordPiece is
  still predicted on its own.
  """
  cand_indexes = []
  for (i, token) in enumerate(tokens):
    if token in ("[CLS]", "[SEP]"):
      continue
    if do_whole_word_mask and cand_indexes and token.startswith("##"):
      cand_indexes[-1].append(i)
    else:
      cand_indexes.append([i])
  return cand_indexes


def create_masked_lm_predictions(tokens, masked_lm_prob,
                                 max_predictions_per_seq, vocab_words, rng,
                                 do_whole_word_mask=False,
                                 mask_whole_words_together=False):
  """Creates the predictions for the masked LM objective.

  With `mask_whole_words_together`, one [MASK] / keep / random choice is made
  for each masked unit (a word under whole word masking) instead of one for
  each WordPiece. For single-piece units the random draws are the same, so
  per-WordPiece masking gives the same output either way.

  Returns:
    (output_tokens, masked_lm_positions, masked_lm_labels): the tokens with
    the chosen positions replaced, and the chosen positions (ascending) with
    their original tokens.
  """
  cand_indexes = _masking_candidates(tokens, do_whole_word_mask)
  rng.shuffle(cand_indexes)

  output_tokens = list(tokens)
  num_to_predict = min(max_predictions_per_seq,
                       max(1, int(round(len(tokens) * masked_lm_prob))))

  masked_lms = []
  covered_indexes = set()
  for index_set in cand_indexes:
    if len(masked_lms) >= num_to_predict:
      break
    # A whole word that does not fit in the remaining budget is skipped
    # rather than split or allowed to overflow max_predictions_per_seq.
    if len(masked_lms) + len(index_set) > num_to_predict:
      continue
    is_any_index_covered = any(index in covered_indexes for index in index_set)
    if is_any_index_covered:
      continue
    if mask_whole_words_together:
      _mask_unit_together(index_set, tokens, output_tokens, vocab_words, rng)
    for index in index_set:
      covered_indexes.add(index)
      if not mask_whole_words_together:
        output_tokens[index] = _choose_masked_token(tokens[index], vocab_words,
                                                    rng)
      masked_lms.append(MaskedLmInstance(index=index, label=tokens[index]))
  assert len(masked_lms) <= num_to_predict

  masked_lms.sort(key=lambda x: x.index)
  masked_lm_positions = [p.index for p in masked_lms]
  masked_lm_labels = [p.label for p in masked_lms]
  return (output_tokens, masked_lm_positions, masked_lm_labels)


def _choose_masked_token(token, vocab_words, rng):
  """[MASK] 80% of the time, `token` itself 10%, a random word 10%.

  Keeping or replacing some tokens stops the model from learning that only
  [MASK] positions matter, since fine-tuning inputs never contain [MASK].
  """
  if rng.random() < 0.8:
    return "[MASK]"
  if rng.random() < 0.5:
    return token
  return vocab_words[rng.randint(0, len(vocab_words) - 1)]


def _mask_unit_together(index_set, tokens, output_tokens, vocab_words, rng):
  """One 80/10/10 choice for all the positions of `index_set`.

  The draws are those of `_choose_masked_token` for the first position, plus
  one random word for each further position when the choice is "random".
  """
  if rng.random() < 0.8:
    replacements = ["[MASK]"] * len(index_set)
  elif rng.random() < 0.5:
    replacements = [tokens[index] for index in index_set]
  else:
    replacements = [vocab_words[rng.randint(0, len(vocab_words) - 1)]
                    for _ in index_set]
  for index, replacement in zip(index_set, replacements):
    output_tokens[index] = replacement


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
  """Truncates a pair of sequences to a maximum sequence length."""
  while len(tokens_a) + len(tokens_b) > max_num_tokens:
    trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
    assert trunc_tokens
    # Cutting sometimes the front and sometimes the back adds randomness and
    # avoids a bias towards the start (or end) of sentences.
    if rng.random() < 0.5:
      del trunc_tokens[0]
    else:
      trunc_tokens.pop()


# The original's public name for `output_files.int64_feature`.
create_int_feature = int64_feature


def create_float_feature(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def instance_to_features(instance, tokenizer, max_seq_length,
                         max_predictions_per_seq):
  """Returns the padded features of `instance`, in the order written."""
  input_ids = tokenizer.convert_tokens_to_ids(instance.tokens)
  assert len(input_ids) <= max_seq_length
  padding = [0] * (max_seq_length - len(input_ids))
  input_mask = [1] * len(input_ids) + padding
  segment_ids = list(instance.segment_ids) + padding
  input_ids = list(input_ids) + padding

  masked_lm_ids = tokenizer.convert_tokens_to_ids(instance.masked_lm_labels)
  num_masked = len(masked_lm_ids)
  assert num_masked <= max_predictions_per_seq
  lm_padding = [0] * (max_predictions_per_seq - num_masked)
  masked_lm_positions = list(instance.masked_lm_positions) + lm_padding
  masked_lm_ids = list(masked_lm_ids) + lm_padding
  masked_lm_weights = [1.0] * num_masked + [0.0] * len(lm_padding)

  features = collections.OrderedDict()
  features["input_ids"] = create_int_feature(input_ids)
  features["input_mask"] = create_int_feature(input_mask)
  features["segment_ids"] = create_int_feature(segment_ids)
  features["masked_lm_positions"] = create_int_feature(masked_lm_positions)
  features["masked_lm_ids"] = create_int_feature(masked_lm_ids)
  features["masked_lm_weights"] = create_float_feature(masked_lm_weights)
  features["next_sentence_labels"] = create_int_feature(
      [1 if instance.is_random_next else 0])
  return features


def _log_example(instance, features):
  tf.logging.debug("*** Example ***")
  tf.logging.debug("tokens: %s", _join_printable(instance.tokens))
  for name, feature in features.items():
    values = feature.int64_list.value or feature.float_list.value
    tf.logging.debug("%s: %s", name, " ".join(str(x) for x in values))


def write_instance_to_example_files(instances, tokenizer, max_seq_length,
                                    max_predictions_per_seq, output_files,
                                    num_examples_to_log=_NUM_EXAMPLES_TO_LOG):
  """Create TF example files from `TrainingInstance`s.

  Instances go round-robin to `output_files`. Each file is written under a
  temporary name and renamed only once all are complete.

  Returns:
    The number of instances written.
  """
  for path in output_files:
    if os.path.dirname(path):
      tf.io.gfile.makedirs(os.path.dirname(path))
  writers = []
  progress = _Progress("Instances written")
  try:
    writers = [TFRecordWriter(path) for path in output_files]
    writer_index = 0
    for (inst_index, instance) in enumerate(instances):
      features = instance_to_features(instance, tokenizer, max_seq_length,
                                      max_predictions_per_seq)
      tf_example = tf.train.Example(
          features=tf.train.Features(feature=features))
      writers[writer_index].write(tf_example.SerializeToString())
      writer_index = (writer_index + 1) % len(writers)
      progress.add()
      if inst_index < num_examples_to_log:
        _log_example(instance, features)
  except BaseException:
    for writer in writers:
      writer.abort()
    raise
  for writer in writers:
    writer.close()
  tf.logging.info("Wrote %d total instances", progress.count)
  return progress.count


def expand_input_patterns(input_file, sort_matches=False):
  """Returns the files matched by a comma-separated list of globs, in order.

  With `sort_matches` the files of each glob are sorted, so shard indexes do
  not depend on the order a file system lists a directory in. The whole-corpus
  mode keeps the glob's order, as the original does.

  Raises:
    InputError: if the list is empty or a glob matches no file; silently
      producing less (or no) data is the worst outcome of a typo.
  """
  patterns = [pattern for pattern in input_file.split(",") if pattern]
  if not patterns:
    raise InputError("--input_file is empty; give a file or glob.")
  input_files = []
  unmatched = []
  for pattern in patterns:
    matches = tf.io.gfile.glob(pattern)
    if sort_matches:
      matches = sorted(matches)
    if not matches:
      unmatched.append(pattern)
    input_files.extend(matches)
  if unmatched:
    raise InputError("--input_file: no file matches %s" %
                     ", ".join(repr(p) for p in unmatched))
  return input_files


def validate_options(max_seq_length, max_predictions_per_seq, masked_lm_prob,
                     short_seq_prob, dupe_factor, shard_mode="none",
                     documents_per_shard=1, num_workers=1, output_file="x"):
  """Raises `InputError` for flag values that cannot give sensible data."""
  if max_seq_length < 5:
    raise InputError(
        "--max_seq_length=%d is too small: an instance is [CLS] A [SEP] B "
        "[SEP] and needs room for at least 2 WordPieces of text, so "
        "--max_seq_length must be at least 5 (BERT uses 128 or 512)." %
        max_seq_length)
  if not 0.0 <= masked_lm_prob <= 1.0:
    raise InputError("--masked_lm_prob=%g must be between 0 and 1." %
                     masked_lm_prob)
  if not 0.0 <= short_seq_prob <= 1.0:
    raise InputError("--short_seq_prob=%g must be between 0 and 1." %
                     short_seq_prob)
  # Same formula as for the number to predict in a full-length sequence.
  minimum = max(1, int(round(max_seq_length * masked_lm_prob)))
  if max_predictions_per_seq < minimum:
    raise InputError(
        "--max_predictions_per_seq=%d is too small for --max_seq_length=%d "
        "and --masked_lm_prob=%g: a full-length sequence has %d positions to "
        "predict, so --max_predictions_per_seq must be at least %d (or lower "
        "--masked_lm_prob)." % (max_predictions_per_seq, max_seq_length,
                                masked_lm_prob, minimum, minimum))
  if dupe_factor < 1:
    raise InputError("--dupe_factor=%d must be at least 1." % dupe_factor)
  if shard_mode == "none":
    if num_workers != 1:
      raise InputError(
          "--num_workers=%d needs --shard_mode=file or documents; "
          "--shard_mode=none runs in one process." % num_workers)
    return
  if num_workers < 1:
    raise InputError("--num_workers=%d must be at least 1." % num_workers)
  if shard_mode == "documents" and documents_per_shard < 1:
    raise InputError("--documents_per_shard=%d must be at least 1." %
                     documents_per_shard)
  if "," in output_file:
    raise InputError(
        "--shard_mode=%s writes <output_file>-SSSSS-of-NNNNN, so "
        "--output_file must be a single path prefix, not a list: %r" %
        (shard_mode, output_file))


def check_vocab(tokenizer, vocab_file):
  """Fails early, rather than with a KeyError after reading the corpus."""
  missing = [token for token in ("[CLS]", "[SEP]", "[MASK]")
             if token not in tokenizer.vocab]
  if missing:
    raise InputError("Vocab file %s lacks the special tokens %s." %
                     (vocab_file, ", ".join(missing)))


def plan_shards(input_files, shard_mode, documents_per_shard):
  """Cuts the input into `InputSlice`s, one per output shard.

  In `documents` mode each file is scanned once (decoded, not tokenized) to
  find the byte offset after every `documents_per_shard`-th document; the
  plan holds only offsets, never text.
  """
  if shard_mode == "file":
    return [_as_slice(path) for path in input_files]
  slices = []
  for path in input_files:
    slices.extend(_plan_file(path, documents_per_shard))
  return slices


def _plan_file(path, documents_per_shard):
  """Returns the slices of `path`, each ending just after a blank line."""
  slices = []
  start, start_line = 0, 1
  offset = 0
  documents = 0
  in_document = False
  for line_number, line in _read_lines(_as_slice(path)):
    offset += len(line.encode("utf-8"))
    if line.strip():
      if not in_document:
        documents += 1
        in_document = True
    elif in_document:
      in_document = False
      if documents >= documents_per_shard:
        slices.append(InputSlice(path, start, offset, start_line))
        start, start_line = offset, line_number + 1
        documents = 0
  if documents or not slices:
    # A file with no text still gets a slice, so it is reported as empty.
    slices.append(InputSlice(path, start, None, start_line))
  return slices


def shard_output_file(output_prefix, index, num_shards):
  return "%s-%05d-of-%05d" % (output_prefix, index, num_shards)


ShardTask = collections.namedtuple("ShardTask",
                                   ["index", "num_shards", "source",
                                    "output_file"])

ShardResult = collections.namedtuple("ShardResult",
                                     ["index", "output_file", "stats",
                                      "num_instances", "seconds"])


def create_shard(task, tokenizer, config):
  """Turns one shard of input into one output file, independently of others.

  The seed is a string of (random_seed, shard index): Python seeds
  `random.Random` from a string through SHA-512, so it is the same in every
  process and run, and distinct for every shard.
  """
  start = time.time()
  rng = random.Random("%d:%d" % (config.random_seed, task.index))
  stats = CorpusStats()
  instances = create_training_instances(
      [task.source], tokenizer, config.max_seq_length, config.dupe_factor,
      config.short_seq_prob, config.masked_lm_prob,
      config.max_predictions_per_seq, rng, config.do_whole_word_mask, stats,
      config.mask_whole_words_together, config.replace_with_real_word_pieces)
  num_written = write_instance_to_example_files(
      instances, tokenizer, config.max_seq_length,
      config.max_predictions_per_seq, [task.output_file],
      num_examples_to_log=_NUM_EXAMPLES_TO_LOG if task.index == 0 else 0)
  return ShardResult(task.index, task.output_file, stats, num_written,
                     time.time() - start)


# State of a worker process, set once by `_init_worker`.
_WORKER = {}


def _init_worker(tokenizer, config):
  _WORKER["tokenizer"] = tokenizer
  _WORKER["config"] = config


def _create_shard_in_worker(task):
  return create_shard(task, _WORKER["tokenizer"], _WORKER["config"])


def _pool_context():
  # Forked workers share the parent's imported TensorFlow and tokenizer pages
  # instead of re-importing (seconds and hundreds of MB each). The parent has
  # run no TensorFlow ops, only file system calls, so forking is safe.
  if "fork" in multiprocessing.get_all_start_methods():
    return multiprocessing.get_context("fork")
  return multiprocessing.get_context("spawn")


def create_sharded_examples(input_files, output_prefix, tokenizer, config,
                            shard_mode, documents_per_shard, num_workers):
  """Writes one output file per shard of the input; see the module docstring.

  Returns:
    (list of output files, total instances written, `CorpusStats`).
  """
  slices = plan_shards(input_files, shard_mode, documents_per_shard)
  tasks = [
      ShardTask(index, len(slices), source,
                shard_output_file(output_prefix, index, len(slices)))
      for index, source in enumerate(slices)
  ]
  tf.logging.info("*** %d shards, %d worker processes ***", len(tasks),
                  num_workers)

  stats = CorpusStats()
  progress = _Progress("Instances written")
  done = 0

  def record(result):
    stats.merge(result.stats)
    progress.count += result.num_instances
    tf.logging.info(
        "Shard %d/%d done in %.1fs: %s -> %s, %d documents, %d instances. "
        "Total: %d/%d shards, %d documents read, %d instances written, "
        "%.1f instances/s", result.index + 1, len(tasks), result.seconds,
        _describe_slice(tasks[result.index].source), result.output_file,
        result.stats.documents, result.num_instances, done, len(tasks),
        stats.documents, progress.count, progress.rate())

  try:
    if num_workers == 1 or len(tasks) == 1:
      for task in tasks:
        done += 1
        record(create_shard(task, tokenizer, config))
    else:
      context = _pool_context()
      with context.Pool(min(num_workers, len(tasks)), initializer=_init_worker,
                        initargs=(tokenizer, config)) as pool:
        for result in pool.imap_unordered(_create_shard_in_worker, tasks):
          done += 1
          record(result)
  except BaseException:
    # Leaving the `with` terminated the workers, possibly mid-shard, before
    # they could delete their partial files.
    _remove_partial_files([task.output_file for task in tasks])
    raise

  if not stats.documents:
    raise InputError("The input holds no text: %s" % ", ".join(input_files))
  return [task.output_file for task in tasks], progress.count, stats


def _remove_partial_files(output_files):
  """Removes what the workers were writing (`output_files.temp_path` names)
  when they were terminated."""
  for output_file in output_files:
    for path in tf.io.gfile.glob(output_file + ".tmp-*"):
      if is_temp_name(path):
        tf.io.gfile.remove(path)


def create_examples(settings):
  """Creates the examples that `settings` (this script's flags, from
  `script_flags.from_flags()`) ask for."""
  validate_options(settings.max_seq_length, settings.max_predictions_per_seq,
                   settings.masked_lm_prob, settings.short_seq_prob,
                   settings.dupe_factor, settings.shard_mode,
                   settings.documents_per_shard, settings.num_workers,
                   settings.output_file)
  if settings.mask_whole_words_together and not settings.do_whole_word_mask:
    raise InputError("--mask_whole_words_together needs --do_whole_word_mask: "
                     "without it every masked unit is a single WordPiece.")
  input_files = expand_input_patterns(
      settings.input_file, sort_matches=settings.shard_mode != "none")
  with command_line.reading("--vocab_file=%s" % settings.vocab_file):
    tokenizer = tokenization.FullTokenizer(
        vocab_file=settings.vocab_file, do_lower_case=settings.do_lower_case,
        never_split=settings.never_split,
        preserve_unused_tokens=settings.preserve_unused_tokens)
  check_vocab(tokenizer, settings.vocab_file)

  tf.logging.info("*** Reading from input files ***")
  for input_file in input_files:
    tf.logging.info("  %s", input_file)

  start = time.time()
  if settings.shard_mode == "none":
    rng = random.Random(settings.random_seed)
    stats = CorpusStats()
    instances = create_training_instances(
        input_files, tokenizer, settings.max_seq_length, settings.dupe_factor,
        settings.short_seq_prob, settings.masked_lm_prob,
        settings.max_predictions_per_seq, rng, settings.do_whole_word_mask,
        stats, settings.mask_whole_words_together,
        settings.replace_with_real_word_pieces)
    stats.log_warnings()
    if not stats.documents:
      raise InputError("The input holds no text: %s" % ", ".join(input_files))
    output_files = settings.output_file.split(",")
    tf.logging.info("*** Writing to output files ***")
    for output_file in output_files:
      tf.logging.info("  %s", output_file)
    total = write_instance_to_example_files(instances, tokenizer,
                                            settings.max_seq_length,
                                            settings.max_predictions_per_seq,
                                            output_files)
  else:
    config = GenerationConfig(
        max_seq_length=settings.max_seq_length,
        max_predictions_per_seq=settings.max_predictions_per_seq,
        dupe_factor=settings.dupe_factor,
        short_seq_prob=settings.short_seq_prob,
        masked_lm_prob=settings.masked_lm_prob,
        do_whole_word_mask=settings.do_whole_word_mask,
        random_seed=settings.random_seed,
        mask_whole_words_together=settings.mask_whole_words_together,
        replace_with_real_word_pieces=settings.replace_with_real_word_pieces)
    output_files, total, stats = create_sharded_examples(
        input_files, settings.output_file, tokenizer, config,
        settings.shard_mode, settings.documents_per_shard,
        settings.num_workers)
    stats.log_warnings()
  seconds = time.time() - start
  tf.logging.info(
      "Done: %d documents, %d instances in %d files, %.1fs, %.1f instances/s",
      stats.documents, total, len(output_files), seconds,
      total / max(seconds, 1e-9))


def main(_):
  create_examples(script_flags.from_flags())


if __name__ == "__main__":
  flags.mark_flag_as_required("input_file")
  flags.mark_flag_as_required("output_file")
  flags.mark_flag_as_required("vocab_file")
  command_line.run(main, script_flags.grouped_help)
