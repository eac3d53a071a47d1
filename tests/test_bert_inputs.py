"""bert_inputs: the `[CLS] A [SEP] B [SEP]` layout, its truncation and padding.

Expected ids and segments are written out by hand; the closed-form
`truncated_lengths` is checked against a one-token-at-a-time count written
here, as the original run_classifier's `_truncate_seq_pair` does it.
"""

import pytest

import bert_inputs


def letters(n, prefix):
  """n distinct tokens: a0 a1 ... (so that which ones survive shows)."""
  return ["%s%d" % (prefix, i) for i in range(n)]


def test_pair_layout_and_segment_ids():
  tokens, segments, truncated = bert_inputs.classifier_inputs(
      ["the", "cat"], ["a", "dog", "ran"], 16)
  assert tokens == ["[CLS]", "the", "cat", "[SEP]", "a", "dog", "ran",
                    "[SEP]"]
  assert segments == [0, 0, 0, 0, 1, 1, 1, 1]
  assert truncated is False


@pytest.mark.parametrize("tokens_b", [None, [], ()])
def test_single_sentence_has_one_sep_and_segment_zero(tokens_b):
  tokens, segments, truncated = bert_inputs.classifier_inputs(
      ["the", "cat", "sat"], tokens_b, 5)
  assert tokens == ["[CLS]", "the", "cat", "sat", "[SEP]"]
  assert segments == [0, 0, 0, 0, 0]
  assert truncated is False


def test_single_sentence_is_cut_at_the_end():
  tokens, segments, truncated = bert_inputs.classifier_inputs(
      letters(6, "a"), None, 5)
  assert tokens == ["[CLS]", "a0", "a1", "a2", "[SEP]"]
  assert segments == [0] * 5
  assert truncated is True


def test_longer_side_loses_its_tail_first():
  # 6 + 3 tokens, room for 9 - 3 = 6: A loses 3 and the two are even.
  tokens, segments, truncated = bert_inputs.classifier_inputs(
      letters(6, "a"), letters(3, "b"), 9)
  assert tokens == ["[CLS]", "a0", "a1", "a2", "[SEP]", "b0", "b1", "b2",
                    "[SEP]"]
  assert segments == [0, 0, 0, 0, 0, 1, 1, 1, 1]
  assert truncated is True
  # The other way round B is the longer one and loses its tail.
  tokens, _, _ = bert_inputs.classifier_inputs(letters(2, "a"),
                                               letters(7, "b"), 8)
  assert tokens == ["[CLS]", "a0", "a1", "[SEP]", "b0", "b1", "b2", "[SEP]"]


def test_tie_pops_b_so_a_keeps_the_odd_token():
  # 4 + 4 tokens, room 5: B (tie), then A (longer), then B (tie) lose one.
  tokens, segments, _ = bert_inputs.classifier_inputs(
      letters(4, "a"), letters(4, "b"), 8)
  assert tokens == ["[CLS]", "a0", "a1", "a2", "[SEP]", "b0", "b1", "[SEP]"]
  assert segments == [0, 0, 0, 0, 0, 1, 1, 1]


def test_exact_fit_is_not_truncated():
  tokens, _, truncated = bert_inputs.classifier_inputs(
      letters(3, "a"), letters(2, "b"), 8)
  assert len(tokens) == 8 and truncated is False
  _, _, truncated = bert_inputs.classifier_inputs(letters(3, "a"),
                                                  letters(3, "b"), 8)
  assert truncated is True


def test_inputs_are_not_modified():
  a, b = letters(6, "a"), letters(6, "b")
  bert_inputs.classifier_inputs(a, b, 7)
  assert a == letters(6, "a") and b == letters(6, "b")


def test_truncate_seq_pair_in_place():
  a, b = letters(5, "a"), letters(2, "b")
  bert_inputs.truncate_seq_pair(a, b, 4)
  assert a == ["a0", "a1"] and b == ["b0", "b1"]
  a, b = letters(1, "a"), letters(5, "b")
  bert_inputs.truncate_seq_pair(a, b, 3)
  assert a == ["a0"] and b == ["b0", "b1"]


def lengths_by_counting(len_a, len_b, max_seq_length):
  """What the original's loop leaves, counted one token at a time."""
  if not len_b:
    return min(len_a, max_seq_length - 2), 0
  a, b = len_a, len_b
  for _ in range(len_a + len_b):
    if a + b <= max_seq_length - 3:
      break
    if b >= a:
      b -= 1
    else:
      a -= 1
  return a, b


def test_truncated_lengths_closed_form_matches_the_loop():
  for max_seq_length in range(3, 19):
    for len_a in range(0, 15):
      for len_b in range(0, 15):
        want = lengths_by_counting(len_a, len_b, max_seq_length)
        assert bert_inputs.truncated_lengths(
            len_a, len_b, max_seq_length) == want, (len_a, len_b,
                                                    max_seq_length)
        # classifier_inputs keeps exactly those many, from the front.
        tokens, segments, truncated = bert_inputs.classifier_inputs(
            letters(len_a, "a"), letters(len_b, "b"), max_seq_length)
        kept_a = [t for t in tokens if t.startswith("a")]
        kept_b = [t for t in tokens if t.startswith("b")]
        assert (kept_a, kept_b) == (letters(want[0], "a"),
                                    letters(want[1], "b"))
        assert truncated == (sum(want) < len_a + len_b)
        assert len(segments) == len(tokens) <= max_seq_length


def test_pad_fills_with_zeros_to_the_length():
  assert bert_inputs.pad((7, 8, 9), 6) == [7, 8, 9, 0, 0, 0]
  assert bert_inputs.pad([1, 2], 2) == [1, 2]
  assert bert_inputs.pad([], 3) == [0, 0, 0]
