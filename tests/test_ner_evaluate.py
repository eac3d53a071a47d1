"""ner_evaluate: conlleval's entity counts, tag schemes, the command.

Expected figures are counted by hand in the comments; a second, independent
implementation (conlleval's token-by-token state machine, as the Perl
script runs it) checks the entity-set counting on random tag sequences.
"""

import random
import subprocess
import sys

import pytest

import bert_testing
import ner_evaluate


def entities(tags, scheme="IOB2"):
  return ner_evaluate.get_entities(tags.split(), scheme)


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2"])
def test_conlleval_corner_cases_iob(scheme):
  # An I- after O starts an entity, as at the start of a sentence.
  assert entities("O I-PER I-PER O", scheme) == [("PER", 1, 2)]
  assert entities("I-LOC O", scheme) == [("LOC", 0, 0)]
  # An I- after another type starts a new entity.
  assert entities("B-PER I-LOC I-LOC", scheme) == [("PER", 0, 0),
                                                   ("LOC", 1, 2)]
  # B- separates adjacent entities of one type (IOB1's only use of it).
  assert entities("I-PER I-PER B-PER", scheme) == [("PER", 0, 1),
                                                   ("PER", 2, 2)]
  assert entities("B-ORG B-ORG", scheme) == [("ORG", 0, 0), ("ORG", 1, 1)]
  # The first and the last token; an entity is closed by the sentence end.
  assert entities("B-LOC O O B-LOC I-LOC", scheme) == [("LOC", 0, 0),
                                                       ("LOC", 3, 4)]
  assert entities("O O", scheme) == []


def test_iobes_is_read_strictly():
  assert entities("S-PER O B-LOC I-LOC E-LOC", "IOBES") == [
      ("PER", 0, 0), ("LOC", 2, 4)]
  assert entities("B-PER E-PER S-PER", "IOBES") == [("PER", 0, 1),
                                                    ("PER", 2, 2)]
  # Broken sequences make no entity...
  assert entities("B-PER I-PER", "IOBES") == []          # no E- (last token)
  assert entities("I-PER E-PER", "IOBES") == []          # no B-
  assert entities("E-PER O", "IOBES") == []
  assert entities("B-PER I-PER E-LOC", "IOBES") == []    # type changes
  # ...but the tag that broke one is read again.
  assert entities("B-PER S-LOC", "IOBES") == [("LOC", 1, 1)]
  assert entities("B-PER B-LOC E-LOC", "IOBES") == [("LOC", 1, 2)]


def test_counts_and_figures_by_hand():
  gold = ["B-PER I-PER O B-LOC".split(), "B-ORG O O".split()]
  pred = ["B-PER I-PER O B-ORG".split(), "B-ORG I-ORG O".split()]
  result = ner_evaluate.evaluate(gold, pred, "IOB2")
  # Gold: PER(0-1), LOC(3), ORG(0); predicted: PER(0-1), ORG(3), ORG(0-1).
  # Only PER is right: ORG(0-1) has the wrong end.
  assert result.overall == ner_evaluate.Counts(correct=1, gold=3, predicted=3)
  assert result.per_type["PER"] == ner_evaluate.Counts(1, 1, 1)
  assert result.per_type["LOC"] == ner_evaluate.Counts(0, 1, 0)
  assert result.per_type["ORG"] == ner_evaluate.Counts(0, 1, 2)
  metrics = result.metrics()
  assert metrics["eval_precision"] == pytest.approx(1 / 3)
  assert metrics["eval_recall"] == pytest.approx(1 / 3)
  assert metrics["eval_f1"] == pytest.approx(1 / 3)
  assert metrics["eval_accuracy"] == pytest.approx(5 / 7)   # 2 tags wrong
  assert metrics["eval_PER_f1"] == 1.0
  assert metrics["eval_LOC_precision"] == 0.0  # nothing predicted: 0
  assert metrics["eval_ORG_precision"] == 0.0
  assert metrics["eval_ORG_recall"] == 0.0
  assert result.report() == (
      "processed 7 tokens with 3 phrases; found: 3 phrases; correct: 1.\n"
      "accuracy:  71.43%; precision:  33.33%; recall:  33.33%; FB1:  33.33\n"
      "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
      "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  2\n"
      "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n")


def test_entity_right_though_tags_differ():
  # conlleval: I-PER I-PER is the same entity as B-PER I-PER; the tags
  # still count as wrong for accuracy.
  result = ner_evaluate.evaluate([["B-PER", "I-PER"]], [["I-PER", "I-PER"]],
                                 "IOB2")
  assert result.overall == ner_evaluate.Counts(1, 1, 1)
  assert result.accuracy == 0.5


def test_plain_tags_give_accuracy_only():
  result = ner_evaluate.evaluate([["NN", "VBZ", "DT"]], [["NN", "VBD", "DT"]])
  assert result.scheme == "none"
  assert result.metrics() == {"eval_accuracy": pytest.approx(2 / 3)}


@pytest.mark.parametrize("sequences,expected", [
    ([["B-PER", "I-PER", "O"]], "IOB2"),
    ([["O", "I-PER", "B-PER"]], "IOB1"),     # B- only between two PER
    ([["I-PER", "O"], ["I-LOC"]], "IOB1"),   # no B- at all
    ([["B-PER", "E-PER", "O"]], "IOBES"),
    ([["S-LOC"]], "IOBES"),
    ([["NN", "VBZ"], ["O"]], "none"),
    ([["O", "O"]], "none"),
])
def test_detect_scheme(sequences, expected):
  assert ner_evaluate.detect_scheme(sequences) == expected


def test_tag_error():
  assert ner_evaluate.tag_error("B-PER", "IOB2") is None
  assert ner_evaluate.tag_error("O", "IOBES") is None
  assert ner_evaluate.tag_error("S-PER", "IOBES") is None
  assert "I-" in ner_evaluate.tag_error("I-", "IOB2")
  assert "not valid in IOB2" in ner_evaluate.tag_error("S-PER", "IOB2")
  assert "not valid in IOB1" in ner_evaluate.tag_error("PER", "IOB1")
  assert ner_evaluate.tag_error("NN", "none") is None


def conlleval_state_machine(gold_sentences, pred_sentences):
  """(correct, gold, predicted) entity counts as conlleval's main loop
  computes them: token by token, a blank line between sentences read as a
  token tagged O in both columns."""
  def parts(tag):
    if "-" in tag:
      prefix, kind = tag.split("-", 1)
      return prefix, kind
    return tag, ""

  def end_of_chunk(pt, t, ptype, typ):
    end = (pt, t) in {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"),
                      ("E", "E"), ("E", "I"), ("E", "O")}
    return end or (pt != "O" and ptype != typ)

  def start_of_chunk(pt, t, ptype, typ):
    start = (pt, t) in {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"),
                        ("E", "E"), ("E", "I"), ("O", "E")}
    return start or (t != "O" and ptype != typ)

  stream = []
  for gold, pred in zip(gold_sentences, pred_sentences):
    stream += list(zip(gold, pred)) + [("O", "O")]
  correct = found_gold = found_pred = 0
  in_correct = False
  last_g, last_gt, last_p, last_pt = "O", "", "O", ""
  for gold_tag, pred_tag in stream:
    g, gt = parts(gold_tag)
    p, pt = parts(pred_tag)
    if in_correct:
      g_end = end_of_chunk(last_g, g, last_gt, gt)
      p_end = end_of_chunk(last_p, p, last_pt, pt)
      if g_end and p_end and last_pt == last_gt:
        in_correct = False
        correct += 1
      elif g_end != p_end or pt != gt:
        in_correct = False
    g_start = start_of_chunk(last_g, g, last_gt, gt)
    p_start = start_of_chunk(last_p, p, last_pt, pt)
    if g_start and p_start and pt == gt:
      in_correct = True
    found_gold += g_start
    found_pred += p_start
    last_g, last_gt, last_p, last_pt = g, gt, p, pt
  if in_correct:
    correct += 1
  return correct, found_gold, found_pred


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2"])
def test_matches_conlleval_state_machine_on_random_tags(scheme):
  rng = random.Random(17)
  tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
  gold = [[rng.choice(tags) for _ in range(rng.randint(1, 8))]
          for _ in range(3000)]
  # Predictions: gold with some tags changed, so many entities match.
  pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in s]
          for s in gold]
  result = ner_evaluate.evaluate(gold, pred, scheme)
  expected = conlleval_state_machine(gold, pred)
  assert tuple(result.overall) == expected
  assert expected[0] > 1000  # Enough agreement to exercise the matching.


def write(path, text):
  path.write_text(text, encoding="utf-8")
  return str(path)


def test_command_prints_conlleval_figures(tmp_path):
  path = write(tmp_path / "p.txt",
               "Ann B-PER B-PER\nSmith I-PER I-PER\nsaw O O\nRome B-LOC O\n"
               "\nBob B-PER B-PER\n")
  proc = subprocess.run([sys.executable, "ner_evaluate.py", path],
                        capture_output=True, text=True, cwd=bert_testing.ROOT)
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  # Gold: PER(Ann Smith), LOC(Rome), PER(Bob); predicted: both PERs.
  assert lines[0] == ("processed 5 tokens with 3 phrases; found: 2 phrases; "
                      "correct: 2.")
  assert lines[1] == ("accuracy:  80.00%; precision: 100.00%; recall:  "
                      "66.67%; FB1:  80.00")
  assert lines[2].split() == ["LOC:", "precision:", "0.00%;", "recall:",
                              "0.00%;", "FB1:", "0.00", "0"]


def test_command_names_the_bad_line(tmp_path):
  path = write(tmp_path / "p.txt", "Ann B-PER B-PER\n\nBob B-PER\n")
  proc = subprocess.run([sys.executable, "ner_evaluate.py", path],
                        capture_output=True, text=True, cwd=bert_testing.ROOT)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines() == [
      "ner_evaluate.py: error: %s:3: expected `token gold predicted` (3 or "
      "more columns), found 2: 'Bob B-PER'" % path]
  empty = write(tmp_path / "e.txt", "\n\n")
  proc = subprocess.run([sys.executable, "ner_evaluate.py", empty],
                        capture_output=True, text=True, cwd=bert_testing.ROOT)
  assert proc.returncode == 1 and "has no tokens" in proc.stderr
