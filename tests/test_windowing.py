"""windowing: word pieces of split words, windows and the max-context rule.

run_squad's tests check the windows and the rule on paragraphs
(test_run_squad.py: test_doc_spans_*, test_max_context_*); these check what
run_ner adds and the rule on its own.
"""

import bert_testing
import tokenization
import windowing


def test_tokenize_document_maps_pieces_to_words(tmp_path):
  path = str(tmp_path / "vocab.txt")
  bert_testing.write_vocab(path, ["ab cd"], max_words=0)
  tokenizer = tokenization.FullTokenizer(path, do_lower_case=True)
  words = ["ab", "\u200b", "c"]  # The middle one gives no piece.
  pieces, piece_word, first = windowing.tokenize_document(words, tokenizer)
  assert pieces == ["a", "##b", "c"]
  assert piece_word == [0, 0, 2]
  assert first == [0, 2, 2]  # As the original run_squad: no piece of its own.
  cache = {}
  pieces, piece_word, first = windowing.tokenize_document(
      words, tokenizer, cache, unknown_token="[UNK]")
  assert pieces == ["a", "##b", "[UNK]", "c"]
  assert piece_word == [0, 0, 1, 2]
  assert first == [0, 2, 3]
  assert cache["\u200b"] == ("[UNK]",)


def test_each_piece_has_one_max_context_window():
  spans = windowing.make_doc_spans(20, 8, 3)
  assert spans == [windowing.DocSpan(0, 8), windowing.DocSpan(3, 8),
                   windowing.DocSpan(6, 8), windowing.DocSpan(9, 8),
                   windowing.DocSpan(12, 8)]
  best = windowing.max_context_span_indexes(spans, 20)
  # Piece 10 is in windows 1 (7 left, 0 right), 2 (4, 3) and 3 (1, 6);
  # min(left, right) is largest in window 2.
  assert best[10] == 2
  assert best[:3] == [0, 0, 0] and best[-3:] == [4, 4, 4]
  for position in range(20):
    assert [windowing.check_is_max_context(spans, i, position)
            for i in range(len(spans))].count(True) == 1
