# coding=utf-8
"""Scores tagged sentences the way the CoNLL shared tasks' `conlleval` does.

`run_ner.py` writes `test_predictions.txt` in CoNLL layout (`token gold
predicted` per line, a blank line between sentences); this module turns it,
or any file of that layout, into conlleval's figures without TensorFlow:

  python ner_evaluate.py test_predictions.txt [--tag_scheme=IOB2]

prints

  processed 2130 tokens with 301 phrases; found: 299 phrases; correct: 290.
  accuracy:  98.97%; precision:  96.99%; recall:  96.35%; FB1:  96.67
                LOC: precision: ...

How entities are counted:
  * IOB1 and IOB2 (BIO) as conlleval counts them: a `B-` tag starts an
    entity; an `I-` tag starts one after `O`, after another type or at the
    start of a sentence; an entity ends before `O`, before a tag of another
    type, before a `B-`, and at the end of the sentence. An entity is correct
    when gold and prediction have one with the same first token, last token
    and type. (conlleval counts IOB1 and IOB2 the same way.)
  * IOBES strictly: an entity is `S-X` alone or `B-X I-X ... E-X`; any other
    sequence (an `I-` or `E-` without its `B-`, a `B-` without its `E-`)
    makes no entity. conlleval itself does not know `S-` and merges `E-X
    B-X`, so for this scheme its counts would be wrong.
  * "none": plain tags (part of speech, say); only token accuracy.
  * Token accuracy is the fraction of tokens whose whole tag is right.

Pure Python, no TensorFlow: the predictor imports it too.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import collections
import re
import sys

SCHEMES = ("IOB1", "IOB2", "IOBES", "none")
# The prefixes each scheme allows before "-TYPE".
_PREFIXES = {"IOB1": "BI", "IOB2": "BI", "IOBES": "BIES"}
# A tag that looks like it belongs to a scheme: a prefix letter and a hyphen.
_SCHEME_TAG_RE = re.compile(r"^[BIES]-")
OUTSIDE = "O"


def split_tag(tag):
  """(prefix, type) of a tag as conlleval splits it: at the first hyphen.

  "B-PER" -> ("B", "PER"), "O" -> ("O", ""), "I-" -> ("I", "").
  """
  prefix, hyphen, entity_type = tag.partition("-")
  if not hyphen:
    return tag, ""
  return prefix, entity_type


def tag_error(tag, scheme):
  """Why `tag` is not valid in `scheme`, or None if it is."""
  if scheme == "none" or tag == OUTSIDE:
    return None
  prefix, entity_type = split_tag(tag)
  allowed = _PREFIXES[scheme]
  if prefix not in allowed or not entity_type:
    return ("tag %r is not valid in %s: expected O or %s followed by a type "
            "(e.g. %s-PER)" % (tag, scheme, "/".join(p + "-" for p in allowed),
                               allowed[0]))
  return None


def detect_scheme(tag_sequences):
  """The tagging scheme of gold tag sequences.

  IOBES if any tag is `E-` or `S-`; plain tags ("none") if no tag looks like
  `B-`/`I-`/`E-`/`S-` followed by a type; otherwise IOB2 if some entity
  starts with `B-` (after `O`, another type or at the start of a sentence),
  IOB1 if `B-` only ever separates two entities of one type, or never comes.
  """
  saw_scheme_tag = False
  saw_b_start = False
  for tags in tag_sequences:
    previous = OUTSIDE
    for tag in tags:
      if _SCHEME_TAG_RE.match(tag):
        saw_scheme_tag = True
        prefix, entity_type = split_tag(tag)
        if prefix in "ES":
          return "IOBES"
        if prefix == "B":
          if previous != "I-" + entity_type and previous != "B-" + entity_type:
            saw_b_start = True
      previous = tag
  if not saw_scheme_tag:
    return "none"
  return "IOB2" if saw_b_start else "IOB1"


# conlleval's endOfChunk and startOfChunk: (previous prefix, prefix) pairs
# of one type at which an entity ends before / starts at the second tag.
# Between tags of different types an entity always ends and starts.
_CONLL_ENDS = frozenset(["BB", "BO", "IB", "IO", "EE", "EI", "EO"])
_CONLL_STARTS = frozenset(["BB", "IB", "OB", "OI", "EE", "EI", "OE"])


def _conll_ends(previous, current):
  """conlleval's endOfChunk: whether an entity ends between two tags."""
  (prev_prefix, prev_type), (prefix, entity_type) = previous, current
  if prev_prefix == OUTSIDE:
    return False
  return prev_type != entity_type or prev_prefix + prefix in _CONLL_ENDS


def _conll_starts(previous, current):
  """conlleval's startOfChunk: whether an entity starts at `current`."""
  (prev_prefix, prev_type), (prefix, entity_type) = previous, current
  if prefix == OUTSIDE:
    return False
  return prev_type != entity_type or prev_prefix + prefix in _CONLL_STARTS


def _conll_entities(tags):
  """(type, first, last) entities of one sentence, as conlleval finds them."""
  entities = []
  start = None
  previous = (OUTSIDE, "")
  for position, tag in enumerate(list(tags) + [OUTSIDE]):
    current = split_tag(tag)
    if start is not None and _conll_ends(previous, current):
      entities.append((previous[1], start, position - 1))
      start = None
    if _conll_starts(previous, current):
      start = position
    previous = current
  return entities


def _iobes_entities(tags):
  """(type, first, last) entities of one sentence, IOBES read strictly."""
  entities = []
  position = 0
  while position < len(tags):
    prefix, entity_type = split_tag(tags[position])
    if prefix == "S":
      entities.append((entity_type, position, position))
    elif prefix == "B":
      end = position + 1
      while end < len(tags) and tags[end] == "I-" + entity_type:
        end += 1
      if end < len(tags) and tags[end] == "E-" + entity_type:
        entities.append((entity_type, position, end))
        position = end
      else:
        position = end - 1  # The tag that broke the entity is read again.
    position += 1
  return entities


def get_entities(tags, scheme):
  """The (type, first token, last token) entities in one sentence's tags."""
  if scheme == "IOBES":
    return _iobes_entities(tags)
  if scheme in ("IOB1", "IOB2"):
    return _conll_entities(tags)
  if scheme == "none":
    return []
  raise ValueError("Unknown tag scheme %r; expected one of %s." %
                   (scheme, ", ".join(SCHEMES)))


Counts = collections.namedtuple("Counts", ["correct", "gold", "predicted"])


def _prf(counts):
  """(precision, recall, f1) as fractions; 0 where undefined, as conlleval."""
  precision = counts.correct / counts.predicted if counts.predicted else 0.0
  recall = counts.correct / counts.gold if counts.gold else 0.0
  f1 = (2 * precision * recall / (precision + recall)
        if precision + recall else 0.0)
  return precision, recall, f1


class Evaluation(object):
  """Entity and token counts over sentences; figures as fractions.

  Attributes:
    tokens, correct_tags: token counts (accuracy = correct_tags / tokens).
    overall: `Counts` over all types.
    per_type: type -> `Counts`, for every type in gold or prediction.
  """

  def __init__(self, scheme):
    self.scheme = scheme
    self.tokens = 0
    self.correct_tags = 0
    self.sentences = 0
    self._correct = collections.Counter()
    self._gold = collections.Counter()
    self._predicted = collections.Counter()

  def add(self, gold_tags, predicted_tags):
    """Counts one sentence."""
    if len(gold_tags) != len(predicted_tags):
      raise ValueError("A sentence has %d gold tags but %d predicted ones." %
                       (len(gold_tags), len(predicted_tags)))
    self.sentences += 1
    self.tokens += len(gold_tags)
    self.correct_tags += sum(1 for g, p in zip(gold_tags, predicted_tags)
                             if g == p)
    gold = set(get_entities(gold_tags, self.scheme))
    predicted = set(get_entities(predicted_tags, self.scheme))
    self._gold.update(t for t, _, _ in gold)
    self._predicted.update(t for t, _, _ in predicted)
    self._correct.update(t for t, _, _ in gold & predicted)

  @property
  def overall(self):
    return Counts(sum(self._correct.values()), sum(self._gold.values()),
                  sum(self._predicted.values()))

  @property
  def per_type(self):
    types = sorted(set(self._gold) | set(self._predicted))
    return collections.OrderedDict(
        (t, Counts(self._correct[t], self._gold[t], self._predicted[t]))
        for t in types)

  @property
  def accuracy(self):
    return self.correct_tags / self.tokens if self.tokens else 0.0

  def metrics(self, prefix="eval_"):
    """`eval_precision`, `eval_recall`, `eval_f1`, `eval_accuracy` and
    `eval_<TYPE>_precision` etc. per type, as fractions."""
    result = {prefix + "accuracy": self.accuracy}
    if self.scheme == "none":
      return result
    for name, value in zip(("precision", "recall", "f1"), _prf(self.overall)):
      result[prefix + name] = value
    for entity_type, counts in self.per_type.items():
      for name, value in zip(("precision", "recall", "f1"), _prf(counts)):
        result["%s%s_%s" % (prefix, entity_type, name)] = value
    return result

  def report(self):
    """conlleval's printout: percentages with two decimals."""
    overall = self.overall
    precision, recall, f1 = _prf(overall)
    lines = ["processed %d tokens with %d phrases; found: %d phrases; "
             "correct: %d." % (self.tokens, overall.gold, overall.predicted,
                               overall.correct)]
    if self.tokens:
      lines.append("accuracy: %6.2f%%; precision: %6.2f%%; recall: %6.2f%%; "
                   "FB1: %6.2f" % (100 * self.accuracy, 100 * precision,
                                   100 * recall, 100 * f1))
    for entity_type, counts in self.per_type.items():
      precision, recall, f1 = _prf(counts)
      lines.append("%17s: precision: %6.2f%%; recall: %6.2f%%; FB1: %6.2f  %d"
                   % (entity_type, 100 * precision, 100 * recall, 100 * f1,
                      counts.predicted))
    return "\n".join(lines) + "\n"


def evaluate(gold_sequences, predicted_sequences, scheme=None):
  """An `Evaluation` of parallel lists of tag sequences.

  `scheme` None detects it from the gold tags (`detect_scheme`).
  """
  gold_sequences = [list(s) for s in gold_sequences]
  if scheme is None:
    scheme = detect_scheme(gold_sequences)
  result = Evaluation(scheme)
  if len(gold_sequences) != len(predicted_sequences):
    raise ValueError("%d gold sentences but %d predicted ones." %
                     (len(gold_sequences), len(predicted_sequences)))
  for gold, predicted in zip(gold_sequences, predicted_sequences):
    result.add(gold, list(predicted))
  return result


def read_predictions(path):
  """(gold tag sequences, predicted ones) of a `token ... gold predicted`
  file: the last two columns of each line, a blank line between sentences.

  Raises:
    ValueError: a line has fewer than 3 columns, or the file has no token
      (the message names the file and line).
  """
  gold, predicted = [], []
  sentence_gold, sentence_predicted = [], []
  with open(path, encoding="utf-8-sig") as f:
    for line_number, line in enumerate(f, 1):
      columns = line.split()
      if not columns:
        if sentence_gold:
          gold.append(sentence_gold)
          predicted.append(sentence_predicted)
        sentence_gold, sentence_predicted = [], []
        continue
      if len(columns) < 3:
        raise ValueError("%s:%d: expected `token gold predicted` (3 or more "
                         "columns), found %d: %r" %
                         (path, line_number, len(columns), line.rstrip()))
      sentence_gold.append(columns[-2])
      sentence_predicted.append(columns[-1])
  if sentence_gold:
    gold.append(sentence_gold)
    predicted.append(sentence_predicted)
  if not gold:
    raise ValueError("%s has no tokens." % path)
  return gold, predicted


def main(argv=None):
  """Command-line entry point; `argv` excludes the program name.

  Returns:
    0 on success, 1 on bad input (the message goes to stderr).
  """
  parser = argparse.ArgumentParser(
      description="conlleval's entity precision, recall and F1 of a "
      "`token gold predicted` file.")
  parser.add_argument("prediction_file", metavar="predictions.txt",
                      help="CoNLL layout: one token per line, gold tag and "
                      "predicted tag in the last two columns, a blank line "
                      "between sentences.")
  parser.add_argument("--tag_scheme", choices=SCHEMES, default=None,
                      help="How tags spell entities (default: detected from "
                      "the gold tags).")
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  try:
    gold, predicted = read_predictions(args.prediction_file)
    result = evaluate(gold, predicted, args.tag_scheme)
  except (OSError, ValueError) as e:
    sys.stderr.write("ner_evaluate.py: error: %s\n" % e)
    return 1
  sys.stdout.write(result.report())
  return 0


if __name__ == "__main__":
  sys.exit(main())
