"""squad_windows: paragraphs into words, and questions into WordPiece windows.

test_run_squad.py checks the windows on paragraphs of one piece a word; here
every word splits into one piece a character (the vocabulary has no whole
words), so pieces and words differ, and each window, its word map, its
max-context flags and its answer positions are checked against a brute-force
walk over the pieces written in the test.
"""

import random
import re

import pytest

import bert_testing
import squad_windows
import tokenization


def char_tokenizer(tmp_path, texts):
  """A tokenizer whose vocabulary holds only characters and ##characters:
  "cab" gives "c ##a ##b"."""
  path = str(tmp_path / "vocab.txt")
  bert_testing.write_vocab(path, texts, max_words=0)
  return tokenization.FullTokenizer(path, do_lower_case=True)


def pieces_of(words):
  """(piece, word index) of each character of each word."""
  return [(c if j == 0 else "##" + c, i)
          for i, word in enumerate(words) for j, c in enumerate(word)]


def convert(examples, tokenizer, max_seq_length, doc_stride, max_query_length,
            is_training, **kwargs):
  features = []
  count = squad_windows.convert_examples_to_features(
      examples, tokenizer, max_seq_length, doc_stride, max_query_length,
      is_training, features.append, **kwargs)
  assert count == len(features)
  return features


def test_split_paragraph_against_a_regex():
  rng = random.Random(3)
  alphabet = ["a", "b", "\u00e9", ".", " ", " ", "\t", "\n", "\r", "\u202f",
              "\u00a0"]
  for _ in range(200):
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25)))
    words, offsets = squad_windows.split_paragraph(text)
    spans = [m.span() for m in re.finditer("[^ \t\r\n\u202f]+", text)]
    assert words == [text[s:e] for s, e in spans]
    # A character belongs to the last word starting at or before it (-1
    # before the first word).
    assert offsets == [sum(1 for s, _ in spans if s <= i) - 1
                       for i in range(len(text))]


def test_no_break_space_is_inside_a_word():
  # U+00A0 is not one of the separators: only U+202F is.
  words, _ = squad_windows.split_paragraph("a\u00a0b c\u202fd")
  assert words == ["a\u00a0b", "c", "d"]


def brute_force_windows(num_pieces, max_doc, stride):
  """(start, length) of each window: starts 0, stride, 2 * stride, ... up to
  the first window that reaches the last piece."""
  windows = []
  for k in range(num_pieces + 1):
    start = k * stride
    windows.append((start, min(max_doc, num_pieces - start)))
    if start + max_doc >= num_pieces:
      return windows
  raise AssertionError("unreachable")


def owner(windows, piece):
  """The window where `piece` has the most context on its poorer side; a
  longer window, then the earlier one, on ties."""
  holders = [(min(piece - s, s + n - 1 - piece), n, -k)
             for k, (s, n) in enumerate(windows) if s <= piece < s + n]
  return -max(holders)[2]


@pytest.mark.parametrize("max_seq_length,doc_stride", [(20, 5), (24, 11),
                                                       (17, 1)])
def test_windows_of_multi_piece_words_against_brute_force(
    tmp_path, max_seq_length, doc_stride):
  rng = random.Random(max_seq_length)
  words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 3)))
           for _ in range(25)]
  question = "ab cd e"
  tokenizer = char_tokenizer(tmp_path, [" ".join(words), question])
  answer_words = (10, 11)
  example = squad_windows.SquadExample(
      "q", question, words,
      orig_answer_text=" ".join(words[10:12]),
      start_position=answer_words[0], end_position=answer_words[1])
  features = convert([example], tokenizer, max_seq_length, doc_stride, 10,
                     is_training=True, log_examples=False)

  pieces = pieces_of(words)
  question_pieces = ["a", "##b", "c", "##d", "e"]
  offset = len(question_pieces) + 2
  max_doc = max_seq_length - len(question_pieces) - 3
  windows = brute_force_windows(len(pieces), max_doc, doc_stride)
  assert len(features) == len(windows) > 1
  answer = [p for p, (_, w) in enumerate(pieces) if w in answer_words]
  partial = 0
  vocab = tokenizer.vocab
  for k, (feature, (start, length)) in enumerate(zip(features, windows)):
    assert feature.unique_id == squad_windows.FIRST_UNIQUE_ID + k
    assert (feature.example_index, feature.doc_span_index) == (0, k)
    window = pieces[start:start + length]
    assert feature.tokens == (["[CLS]"] + question_pieces + ["[SEP]"] +
                              [p for p, _ in window] + ["[SEP]"])
    n = len(feature.tokens)
    assert feature.input_ids == [vocab[t] for t in feature.tokens] + [0] * (
        max_seq_length - n)
    assert feature.input_mask == [1] * n + [0] * (max_seq_length - n)
    assert feature.segment_ids == [0] * offset + [1] * (length + 1) + [0] * (
        max_seq_length - n)
    assert feature.token_to_orig_map == {
        offset + i: w for i, (_, w) in enumerate(window)}
    assert feature.token_is_max_context == {
        offset + i: owner(windows, start + i) == k for i in range(length)}
    # The answer counts in a window that holds all of its pieces; a window
    # with none or part of it is trained to point at [CLS].
    if start <= answer[0] and answer[-1] < start + length:
      assert (feature.start_position, feature.end_position) == (
          answer[0] - start + offset, answer[-1] - start + offset)
      assert feature.tokens[feature.start_position:feature.end_position +
                            1] == [pieces[p][0] for p in answer]
    else:
      partial += any(start <= p < start + length for p in answer)
      assert (feature.start_position, feature.end_position) == (0, 0)
    assert feature.is_impossible is False
  assert partial  # The windows cut the answer somewhere.
  # Every piece is scored in exactly one window.
  for piece in range(len(pieces)):
    assert sum(f.token_is_max_context.get(offset + piece - s, False)
               for f, (s, n) in zip(features, windows) if s <= piece < s + n
               ) == 1


def test_answer_in_the_last_word_ends_at_the_last_piece(tmp_path):
  tokenizer = char_tokenizer(tmp_path, ["ab cde what"])
  example = squad_windows.SquadExample("q", "what", ["ab", "cde"], "cde", 1, 1)
  (feature,) = convert([example], tokenizer, 16, 4, 8, True,
                       log_examples=False)
  # [CLS] w ##h ##a ##t [SEP] a ##b c ##d ##e [SEP]
  assert (feature.start_position, feature.end_position) == (8, 10)
  assert feature.tokens[8:11] == ["c", "##d", "##e"]


def test_answer_narrowed_to_the_answer_pieces(tmp_path):
  # The annotated word is "(ab)."; the answer "ab" is its pieces 1-2.
  tokenizer = char_tokenizer(tmp_path, ["x (ab). y q"])
  example = squad_windows.SquadExample("q", "q", ["x", "(ab).", "y"], "ab", 1,
                                       1)
  (feature,) = convert([example], tokenizer, 16, 4, 8, True,
                       log_examples=False)
  # [CLS] q [SEP] x ( a ##b ) . y [SEP]
  assert feature.tokens[feature.start_position:feature.end_position + 1] == [
      "a", "##b"]
  assert feature.start_position == 5


def test_unanswerable_points_every_window_at_cls(tmp_path):
  words = ["abc"] * 10
  tokenizer = char_tokenizer(tmp_path, ["abc q"])
  example = squad_windows.SquadExample("q", "q", words, "", -1, -1,
                                       is_impossible=True)
  features = convert([example], tokenizer, 12, 3, 4, True, log_examples=False)
  assert len(features) > 1
  assert [(f.start_position, f.end_position, f.is_impossible)
          for f in features] == [(0, 0, True)] * len(features)


def test_prediction_features_have_no_positions(tmp_path):
  tokenizer = char_tokenizer(tmp_path, ["ab q"])
  (feature,) = convert([squad_windows.SquadExample("q", "q", ["ab"])],
                       tokenizer, 12, 3, 4, False, log_examples=False)
  assert (feature.start_position, feature.end_position) == (None, None)


class CountingTokenizer(object):
  """A tokenizer that counts the words it is asked to tokenize."""

  def __init__(self, tokenizer):
    self.tokenizer = tokenizer
    self.calls = []

  def tokenize(self, text):
    self.calls.append(text)
    return self.tokenizer.tokenize(text)

  def convert_tokens_to_ids(self, tokens):
    return self.tokenizer.convert_tokens_to_ids(tokens)


def test_document_cache_reuses_the_same_paragraph_and_its_words(tmp_path):
  tokenizer = CountingTokenizer(char_tokenizer(tmp_path, ["ab cd ef"]))
  cache = squad_windows._DocumentCache(tokenizer)
  doc = ["ab", "cd", "ab"]
  first = cache.tokenize(doc)
  assert first[0] == ["a", "##b", "c", "##d", "a", "##b"]
  assert first[3] == tokenizer.convert_tokens_to_ids(first[0])
  assert tokenizer.calls == ["ab", "cd"]
  assert cache.tokenize(doc) is first  # The same list: nothing tokenized.
  # An equal paragraph in another list is tokenized anew, from cached words.
  again = cache.tokenize(list(doc))
  assert again is not first and again == first
  assert tokenizer.calls == ["ab", "cd"]
  cache.tokenize(["ef", "ab"])
  assert tokenizer.calls == ["ab", "cd", "ef"]


def test_document_cache_clears_its_words_when_full(tmp_path, monkeypatch):
  tokenizer = CountingTokenizer(char_tokenizer(tmp_path, ["ab cd ef"]))
  monkeypatch.setattr(squad_windows._DocumentCache, "MAX_WORDS", 2)
  cache = squad_windows._DocumentCache(tokenizer)
  cache.tokenize(["ab", "cd", "ef"])  # 3 words cached: over the bound.
  cache.tokenize(["ab"])  # Cleared first, so "ab" is tokenized again.
  assert tokenizer.calls == ["ab", "cd", "ef", "ab"]


def test_logging_of_features_and_progress(tmp_path, monkeypatch):
  tokenizer = char_tokenizer(tmp_path, ["ab q"])
  examples = [squad_windows.SquadExample("q%d" % i, "q", ["ab"])
              for i in range(5)]
  logged = []
  for level in ("info", "debug"):  # The example dumps are debug-level.
    monkeypatch.setattr(squad_windows.tf.logging, level,
                        lambda fmt, *args: logged.append(fmt % args))
  monkeypatch.setattr(squad_windows, "NUM_EXAMPLES_TO_LOG", 2)
  monkeypatch.setattr(squad_windows, "LOG_EVERY_N_EXAMPLES", 2)
  convert(examples, tokenizer, 12, 3, 4, False)
  assert logged.count("*** Example ***") == 2
  assert "unique_id: %d" % (squad_windows.FIRST_UNIQUE_ID + 1) in logged
  assert "unique_id: %d" % (squad_windows.FIRST_UNIQUE_ID + 2) not in logged
  progress = [line.split(" in ")[0] for line in logged
              if line.startswith("Converted")]
  assert progress == ["Converted 2/5 examples into 2 features",
                      "Converted 4/5 examples into 4 features",
                      "Converted 5/5 examples into 5 features"]
  del logged[:]
  convert(examples, tokenizer, 12, 3, 4, False, log_examples=False)
  assert "*** Example ***" not in logged


def test_example_repr():
  example = squad_windows.SquadExample("id1", "who?", ["a", "b"], "b", 1, 1)
  assert repr(example) == ("qas_id: id1, question_text: who?, doc_tokens: "
                           "[a b], start_position: 1, end_position: 1, "
                           "is_impossible: False")
  assert str(squad_windows.SquadExample("id2", "who?", ["a"])) == (
      "qas_id: id2, question_text: who?, doc_tokens: [a]")
