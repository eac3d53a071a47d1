"""SQuAD files read into examples, and their windows written as TFRecords.

`read_squad_examples` checks a file as it reads it (one-line errors naming
the question); `convert_to_tfrecord` writes the windows of
`squad_windows.convert_examples_to_features` with `FeatureWriter`
(`unique_ids`, `input_ids`, `input_mask`, `segment_ids`, and for training
`start_positions`, `end_positions`, `is_impossible`: Model Garden's names
too). run_squad.py and create_finetuning_data.py share them; run_squad
re-exports the names.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import json
import random

import command_line
import quiet_tensorflow  # pylint: disable=unused-import  (before TensorFlow)
import tensorflow.compat.v1 as tf

from command_line import UserError
import output_files
from squad_windows import SquadExample, convert_examples_to_features
from squad_windows import split_paragraph
import tokenization


def _version_2_with_negative(settings, value):
  """`value` if given, else --version_2_with_negative of `settings` (the
  original's functions read the flag)."""
  if value is not None:
    return value
  return bool(settings.get("version_2_with_negative", False)
              if settings is not None else False)


class ReadStats(object):
  """What `read_squad_examples` found, for the summary at the end of a run."""

  def __init__(self):
    self.num_questions = 0
    self.num_skipped = 0
    self.skipped_ids = []
    self.num_with_answers = 0
    self.num_impossible = 0

  @property
  def has_answers(self):
    """Whether the file has gold answers, i.e. can be evaluated."""
    return self.num_with_answers > 0 or self.num_impossible > 0


# ---------------------------------------------------------------------------
# Reading SQuAD files.
# ---------------------------------------------------------------------------


def load_squad_json(input_file):
  """Returns the "data" list of a SQuAD file; bad files raise UserError.

  The message names the file and, for a JSON syntax error, its position.
  """
  if not tf.io.gfile.exists(input_file):
    raise UserError("SQuAD file %s does not exist." % input_file)
  text = command_line.read_utf8(input_file)
  try:
    dataset = json.loads(text)
  except json.JSONDecodeError as e:
    raise UserError("%s is not valid JSON: %s at line %d column %d (char %d)"
                     % (input_file, e.msg, e.lineno, e.colno, e.pos))
  if not isinstance(dataset, dict) or not isinstance(dataset.get("data"),
                                                     list):
    raise UserError("%s is not a SQuAD file: it needs a top-level object "
                     "with a \"data\" list." % input_file)
  return dataset["data"]


def _require_field(obj, field, kind, where, input_file):
  if not isinstance(obj, dict) or field not in obj:
    raise UserError("%s: %s has no \"%s\" field (%s)." %
                     (input_file, where, field, kind))
  return obj[field]


def _iter_paragraphs(data, input_file):
  """Yields (where, paragraph text, qas list) for each paragraph of `data`."""
  for i, entry in enumerate(data):
    paragraphs = _require_field(entry, "paragraphs", "article",
                                "data[%d]" % i, input_file)
    for j, paragraph in enumerate(paragraphs):
      where = "data[%d].paragraphs[%d]" % (i, j)
      context = _require_field(paragraph, "context", "paragraph", where,
                               input_file)
      qas = _require_field(paragraph, "qas", "paragraph", where, input_file)
      if not isinstance(context, str) or not isinstance(qas, list):
        raise UserError("%s: %s needs a string \"context\" and a list "
                         "\"qas\"." % (input_file, where))
      yield where, context, qas


def _training_answer(qa, qas_id, version_2_with_negative, input_file):
  """Returns (is_impossible, answer dict or None) of a training question."""
  is_impossible = bool(qa.get("is_impossible", False))
  if is_impossible and not version_2_with_negative:
    raise UserError(
        "%s: question %s is marked is_impossible, which only SQuAD 2.0 has; "
        "pass --version_2_with_negative to train on it." %
        (input_file, qas_id))
  if is_impossible:
    return True, None
  if "answers" not in qa:
    raise UserError("%s: training question %s has no \"answers\" field." %
                     (input_file, qas_id))
  answers = qa["answers"]
  if not isinstance(answers, list) or len(answers) != 1:
    raise UserError(
        "%s: training question %s has %s answers; for training, each "
        "question should have exactly 1 answer%s." %
        (input_file, qas_id,
         len(answers) if isinstance(answers, list) else "malformed",
         "" if version_2_with_negative else
         " (unanswerable ones need --version_2_with_negative)"))
  answer = answers[0]
  if (not isinstance(answer, dict) or
      not isinstance(answer.get("text"), str) or
      not isinstance(answer.get("answer_start"), int)):
    raise UserError("%s: the answer of training question %s needs a string "
                     "\"text\" and an integer \"answer_start\"." %
                     (input_file, qas_id))
  return False, answer


def _answer_word_span(answer, doc_tokens, char_to_word_offset):
  """Word span of a character-based answer, or None if it is not there.

  Only answers whose text can be recovered from the paragraph are kept: a
  mismatch means a wrong `answer_start` or odd Unicode in the annotation.
  """
  text = answer["text"]
  start = answer["answer_start"]
  end = start + len(text) - 1
  if not text or start < 0 or end >= len(char_to_word_offset):
    return None
  start_position = char_to_word_offset[start]
  end_position = char_to_word_offset[end]
  actual_text = " ".join(doc_tokens[start_position:(end_position + 1)])
  cleaned_answer_text = " ".join(tokenization.whitespace_tokenize(text))
  if actual_text.find(cleaned_answer_text) == -1:
    return None
  return start_position, end_position


def read_squad_examples(input_file, is_training, version_2_with_negative=None,
                        stats=None, settings=None):
  """Reads a SQuAD json file into a list of `SquadExample`.

  Args:
    input_file: path of the SQuAD json file.
    is_training: read and check the answers (exactly one per question, or
      none for an unanswerable one with `version_2_with_negative`).
    version_2_with_negative: whether questions may be unanswerable; defaults
      to --version_2_with_negative of `settings`.
    stats: optional `ReadStats`, filled with counts.
    settings: the run's `script_flags.Settings` (default: the defaults).

  Returns:
    the examples, in file order. In training, questions whose answer text is
    not found at `answer_start` are left out with a warning naming them.

  Raises:
    UserError: a malformed file, naming it (and the question id or position).
  """
  version_2_with_negative = _version_2_with_negative(
      settings, version_2_with_negative)
  stats = stats if stats is not None else ReadStats()
  examples = []
  for where, context, qas in _iter_paragraphs(load_squad_json(input_file),
                                              input_file):
    doc_tokens, char_to_word_offset = split_paragraph(context)
    for k, qa in enumerate(qas):
      qa_where = "%s.qas[%d]" % (where, k)
      qas_id = _require_field(qa, "id", "question", qa_where, input_file)
      question_text = _require_field(qa, "question", "question %s" % qas_id,
                                     qa_where, input_file)
      stats.num_questions += 1
      if qa.get("answers"):
        stats.num_with_answers += 1
      if qa.get("is_impossible"):
        stats.num_impossible += 1
      example = SquadExample(qas_id=qas_id, question_text=question_text,
                             doc_tokens=doc_tokens)
      if is_training:
        is_impossible, answer = _training_answer(
            qa, qas_id, version_2_with_negative, input_file)
        example.is_impossible = is_impossible
        if is_impossible:
          example.start_position = -1
          example.end_position = -1
          example.orig_answer_text = ""
        else:
          span = _answer_word_span(answer, doc_tokens, char_to_word_offset)
          if span is None:
            stats.num_skipped += 1
            stats.skipped_ids.append(qas_id)
            tf.logging.warning(
                "Skipping question %s: its answer %r is not in the paragraph "
                "at answer_start=%d.", qas_id, answer["text"],
                answer["answer_start"])
            continue
          example.start_position, example.end_position = span
          example.orig_answer_text = answer["text"]
      examples.append(example)
  if stats.num_skipped:
    tf.logging.warning(
        "%s: skipped %d of %d training questions whose answer text is not "
        "at its answer_start.", input_file, stats.num_skipped,
        stats.num_questions)
  return examples


# ---------------------------------------------------------------------------
# Features: WordPiece tokens in overlapping windows.
# ---------------------------------------------------------------------------

class FeatureWriter(output_files.TFRecordWriter):
  """Writes `InputFeatures` to a TFRecord file as `tf.train.Example`s.

  The file appears under its name only once `close()` has run, so a run that
  dies half way never leaves a truncated file that looks complete.
  """

  def __init__(self, filename, is_training):
    super(FeatureWriter, self).__init__(filename)
    self.filename = filename
    self.is_training = is_training

  @property
  def num_features(self):
    return self.count

  def process_feature(self, feature):
    """Serializes one feature and appends it to the file."""
    values = collections.OrderedDict()
    values["unique_ids"] = [feature.unique_id]
    values["input_ids"] = feature.input_ids
    values["input_mask"] = feature.input_mask
    values["segment_ids"] = feature.segment_ids
    if self.is_training:
      values["start_positions"] = [feature.start_position]
      values["end_positions"] = [feature.end_position]
      values["is_impossible"] = [1 if feature.is_impossible else 0]
    example = tf.train.Example(features=tf.train.Features(feature={
        name: output_files.int64_feature(value)
        for name, value in values.items()
    }))
    self.write(example.SerializeToString())


def convert_to_tfrecord(settings, examples, tokenizer, output_file,
                        is_training, output_fn=None):
  """Converts examples into the windows of `settings` and writes their
  features to `output_file`.

  Features are written as they are produced; `output_fn`, if given, also
  sees each one. Returns the number of features.
  """
  with FeatureWriter(output_file, is_training) as writer:

    def write(feature):
      writer.process_feature(feature)
      if output_fn is not None:
        output_fn(feature)

    convert_examples_to_features(
        examples=examples,
        tokenizer=tokenizer,
        max_seq_length=settings.max_seq_length,
        doc_stride=settings.doc_stride,
        max_query_length=settings.max_query_length,
        is_training=is_training,
        output_fn=write)
  return writer.num_features


def read_train_examples(input_file, settings):
  """Reads the training questions of `input_file`, shuffled; returns
  (examples, ReadStats)."""
  stats = ReadStats()
  train_examples = read_squad_examples(input_file, is_training=True,
                                       stats=stats, settings=settings)
  # Without this, the questions of one paragraph would follow each other in
  # train.tf_record, which the input_fn's shuffle buffer of 100 records
  # cannot mix well; shuffling here (with the original's seed) is cheap.
  rng = random.Random(12345)
  rng.shuffle(train_examples)
  return train_examples, stats
