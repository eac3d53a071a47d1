"""Property-based tests (hypothesis) of the tokenizer and feature conversion.

For arbitrary Unicode text (all code points but surrogates, plus a mix
weighted towards the characters that tokenization treats specially), the
tokenizer never fails, only emits vocab tokens, and round-trips through ids;
and `run_classifier.convert_single_example` always lays a pair out as
`[CLS] A [SEP] B [SEP]` padded to `max_seq_length`.
"""

import pytest

try:
  from hypothesis import given, settings, strategies as st  # pylint: disable=g-multiple-import
except ImportError as e:  # Not skipped: CI must run these.
  raise ImportError("%s: hypothesis is a test dependency: pip install -r "
                    "requirements-test.txt" % e)

import bert_testing
import run_classifier
import tokenization

SETTINGS = settings(max_examples=200, deadline=None)

# Characters that tokenization treats specially: accents (precomposed and
# combining), case pairs whose lower case is longer or context-dependent
# (Turkish dotted I, Greek sigma, German sharp s, Kelvin sign), CJK
# ideographs, punctuation and symbols, controls, format characters,
# whitespace of all kinds, the replacement character and NUL.
SPECIAL = (u"aZ09 \t\n\r\u00a0\u3000.,!?'\"()[]#$^`~\u00bf\u00e9\u00c9"
           u"\u0301\u0308\u0130\u0131\u03a3\u03c3\u03c2\u00df\u1e9e\u212a"
           u"\u4e2d\u6587\u3042\u30ab\ud55c\u0000\u0007\u200b\u200d\ufeff"
           u"\ufffd\ufe0f\U0001f600\u00ad\u2028")

TEXTS = st.one_of(st.text(), st.text(alphabet=SPECIAL))

# Words in several scripts, so that the vocab has whole words and pieces
# beyond ASCII (write_vocab adds every character and ##character).
VOCAB_TEXTS = [
    u"the quick brown fox jumps over the lazy dog .",
    u"un caf\u00e9 cr\u00e8me , na\u00efve r\u00e9sum\u00e9 !",
    u"\u4e2d\u6587 \u65e5\u672c\u8a9e \u3042\u308a\u304c\u3068\u3046",
    u"\u03c3\u03bf\u03c6\u03af\u03b1 \u03ba\u03b1\u03b9 \u03b3\u03bd\u03ce"
    u"\u03c3\u03b7 ?",
    u"\u043f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  return bert_testing.tokenizer_for(tmp_path_factory.mktemp("vocab"),
                                    VOCAB_TEXTS)


@SETTINGS
@given(text=TEXTS)
def test_tokens_are_vocab_entries_and_round_trip_through_ids(tokenizer, text):
  tokens = tokenizer.tokenize(text)
  assert all(token in tokenizer.vocab for token in tokens)  # [UNK] included
  ids = tokenizer.convert_tokens_to_ids(tokens)
  assert all(0 <= i < len(tokenizer.vocab) for i in ids)
  assert tokenizer.convert_ids_to_tokens(ids) == tokens
  # Bytes are read as UTF-8, the same text.
  assert tokenizer.tokenize(text.encode("utf-8", "surrogatepass")) == tokens


@SETTINGS
@given(text=TEXTS, do_lower_case=st.booleans())
def test_basic_tokenization_is_idempotent(text, do_lower_case):
  """Tokenizing the tokens again, joined by spaces, gives them back.

  This holds for the original's algorithm, accent stripping after lower
  casing included (checked here and, for every code point alone and next to
  letters, while writing this test): cleaning, lower casing and stripping
  combining marks (Mn) after NFD are each idempotent, a token never holds
  whitespace, a control character or an unisolated CJK ideograph, and
  punctuation is already split off, so a second pass finds nothing to do.
  """
  basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
  tokens = basic.tokenize(text)
  assert basic.tokenize(u" ".join(tokens)) == tokens
  assert all(token and not any(c.isspace() for c in token)
             for token in tokens)


@SETTINGS
@given(text_a=TEXTS, text_b=st.one_of(st.none(), TEXTS),
       max_seq_length=st.integers(min_value=3, max_value=32))
def test_features_have_the_pair_layout(tokenizer, text_a, text_b,
                                       max_seq_length):
  """`[CLS] A [SEP] B [SEP]` (segments 0, then 1 from B on) or, without B,
  `[CLS] A [SEP]`; then 0-padding, with the mask 1s then 0s.

  A pair keeps its layout whenever B keeps a token after truncation, which
  is always so from max_seq_length 5 on: the longer side loses tokens first
  (B on a tie), so B is emptied only if at most one token is left for A and
  B together. Then, as in the original, the emptied B loses its [SEP] too.
  """
  example = run_classifier.InputExample("guid", text_a, text_b, label="1")
  # ex_index >= 5: the first five examples are logged.
  feature = run_classifier.convert_single_example(
      10, example, ["0", "1"], max_seq_length, tokenizer)
  ids, mask, segments = (feature.input_ids, feature.input_mask,
                         feature.segment_ids)
  assert len(ids) == len(mask) == len(segments) == max_seq_length
  assert feature.label_id == 1 and feature.is_real_example

  n = sum(mask)
  assert mask == [1] * n + [0] * (max_seq_length - n)
  assert ids[n:] == [0] * (max_seq_length - n)
  assert segments[n:] == [0] * (max_seq_length - n)

  cls, sep = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
  tokens_a = tokenizer.tokenize(text_a)
  tokens_b = tokenizer.tokenize(text_b) if text_b else []
  # Text never yields [CLS] or [SEP] ("[" and "]" are punctuation), so they
  # mark the layout alone.
  assert ids[0] == cls and ids[:n].count(cls) == 1
  assert ids[n - 1] == sep
  first_sep = ids.index(sep)
  part_a = ids[1:first_sep]
  assert part_a == tokenizer.convert_tokens_to_ids(tokens_a)[:len(part_a)]
  is_pair = ids[:n].count(sep) == 2
  if tokens_b and max_seq_length >= 5:
    assert is_pair
  if is_pair:
    assert tokens_b
    part_b = ids[first_sep + 1:n - 1]
    assert part_b and part_b == tokenizer.convert_tokens_to_ids(
        tokens_b)[:len(part_b)]
    assert segments[:n] == [0] * (first_sep + 1) + [1] * (n - first_sep - 1)
    if len(tokens_a) + len(tokens_b) + 3 > max_seq_length:
      # Truncated from the longer side until the pair fits.
      assert n == max_seq_length
      assert abs(len(part_a) - len(part_b)) <= 1 or (
          len(part_a) == len(tokens_a) or len(part_b) == len(tokens_b))
    else:
      assert (len(part_a), len(part_b)) == (len(tokens_a), len(tokens_b))
  else:
    assert ids[:n].count(sep) == 1 and first_sep == n - 1
    assert segments[:n] == [0] * n
    if not tokens_b:
      assert len(part_a) == min(len(tokens_a), max_seq_length - 2)
