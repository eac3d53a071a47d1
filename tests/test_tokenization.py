# coding=utf-8
"""Tests for tokenization.py: behaviour of each step, vocab errors, and
token-for-token agreement with a plain reference implementation on real text.
"""

import collections
import json
import random
import unicodedata

import pytest

import bert_testing
import tokenization
from conftest import SHARED_DATA
from reference_tokenization import basic_tokenize as ref_basic_tokenize
from reference_tokenization import build_vocab
from reference_tokenization import read_sentences
from reference_tokenization import tokenize as ref_tokenize


# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------


def write_vocab(tmp_path, tokens, name="vocab.txt"):
  return bert_testing.write_tokens(tmp_path / name, tokens)


_SMALL_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un",
    "runn", "##ing", ",", "low", "lowest", "hello", "Hello", "!", "cafe",
    u"café", "博", "a", "##a",
]


@pytest.fixture
def small_vocab_file(tmp_path):
  return write_vocab(tmp_path, _SMALL_VOCAB)


# ---------------------------------------------------------------------------
# Basic tokenization.
# ---------------------------------------------------------------------------


def test_lower_case_strips_accents():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
  assert tokenizer.tokenize(u" \tHäLLo!how  \n Are yoU?  ") == [
      "hallo", "!", "how", "are", "you", "?"]
  assert tokenizer.tokenize(u"Café NAÏVE Ångström") == [
      "cafe", "naive", "angstrom"]
  # NFD form input gives the same result as precomposed input.
  assert tokenizer.tokenize(unicodedata.normalize("NFD", u"Café")) == ["cafe"]


def test_cased_keeps_case_and_accents():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  assert tokenizer.tokenize(u" \tHäLLo!how  \n Are yoU?  ") == [
      u"HäLLo", "!", "how", "Are", "yoU", "?"]
  decomposed = unicodedata.normalize("NFD", u"Café")
  assert tokenizer.tokenize(decomposed) == [decomposed]


def test_cjk_ideographs_become_single_tokens():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer.tokenize(u"ah博推zz") == ["ah", u"博", u"推", "zz"]
  # Extension B and compatibility ideographs are in the CJK ranges too.
  cased = tokenization.BasicTokenizer(do_lower_case=False)
  assert cased.tokenize(u"x\U00020000y\uF900z") == [
      "x", u"\U00020000", "y", u"\uF900", "z"]
  # Uncased, NFD maps the compatibility ideograph to its unified form.
  assert tokenizer.tokenize(u"x\uF900z") == ["x", u"\u8C48", "z"]
  # Kana and Hangul are space-delimited scripts: left as whole words.
  assert cased.tokenize(u"こんにちは 안녕하세요") == [u"こんにちは", u"안녕하세요"]
  # Uncased, NFD decomposes Hangul syllables into jamo, which are letters.
  assert tokenizer.tokenize(u"안녕") == [unicodedata.normalize("NFD", u"안녕")]


def test_punctuation_splitting():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  # ASCII symbols count as punctuation even where Unicode says otherwise.
  assert tokenizer.tokenize(u"a$b^c`d+e") == [
      "a", "$", "b", "^", "c", "`", "d", "+", "e"]
  assert tokenizer.tokenize(u"«Hi»—¿qué?") == [
      u"«", "Hi", u"»", u"—", u"¿", u"qué", "?"]
  # Non-ASCII symbols (Sc, Sm) are not punctuation.
  assert tokenizer.tokenize(u"costs 5€. x≥y") == ["costs", u"5€", ".", u"x≥y"]
  assert tokenizer.tokenize(u"...") == [".", ".", "."]
  for char in u"!/:@[`{~" + u"、。・":
    assert tokenization._is_punctuation(char), char
  for char in u"aZ09 €≥":
    assert not tokenization._is_punctuation(char), char


def test_control_characters_removed_and_emoji_kept():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  # NUL, ZWSP (Cf), BOM (Cf), U+FFFD, DEL (Cc) and US (Cc) vanish.
  assert tokenizer.tokenize(u"a\x00b\u200bc\ufeffd\ufffde\x7ff\x1fg") == [
      "abcdefg"]
  assert tokenizer.tokenize(u"hi 😀 👍🏽") == ["hi", u"😀", u"👍🏽"]
  # The zero-width joiner is Cf, so a family emoji loses its joiner.
  assert tokenizer.tokenize(u"👨\u200d👩") == [u"👨👩"]
  # The variation selector is Mn: kept when cased, stripped as an accent.
  assert tokenizer.tokenize(u"❤\ufe0f") == [u"❤\ufe0f"]
  lower = tokenization.BasicTokenizer(do_lower_case=True)
  assert lower.tokenize(u"❤\ufe0f") == [u"❤"]
  assert tokenization._is_control(u"\x05")
  assert tokenization._is_control(u"\u200d")
  assert not tokenization._is_control(u"\t")
  assert not tokenization._is_control(u"A")
  assert not tokenization._is_control(u"\U0001F600")
  assert not tokenization._is_control(u"\ue000")  # Private use is Co.


def test_whitespace_kinds():
  tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
  text = u"a\tb\nc\rd e\u00a0f\u3000g\u2009h\u202fi"
  assert tokenizer.tokenize(text) == list("abcdefghi")
  # Line and paragraph separators are Zl/Zp: kept by cleaning, but the final
  # whitespace split still separates words on them.
  assert tokenizer.tokenize(u"a\u2028b\u2029c") == ["a", "b", "c"]
  # Vertical tab, form feed and NEL are Cc: removed, so they join words.
  assert tokenizer.tokenize(u"a\x0bb\x0cc\x85d") == ["abcd"]
  for char in u" \t\n\r\u00a0\u3000":
    assert tokenization._is_whitespace(char), repr(char)
  for char in u"A-\x0b\u2028":
    assert not tokenization._is_whitespace(char), repr(char)
  assert tokenization.whitespace_tokenize(u"  a  b\n") == ["a", "b"]
  assert tokenization.whitespace_tokenize(u" \t ") == []


def test_original_private_helpers_still_work():
  tokenizer = tokenization.BasicTokenizer()
  assert tokenizer._clean_text(u"a\x00b\tc\u200bd\u3000e") == u"ab cd e"
  assert tokenizer._tokenize_chinese_chars(u"a博b") == u"a 博 b"
  assert tokenizer._is_chinese_char(0x4E00)
  assert not tokenizer._is_chinese_char(0x3042)  # Hiragana.
  assert tokenizer._run_strip_accents(u"Café") == u"Cafe"
  assert tokenizer._run_split_on_punc(u"a,b!!c") == [
      "a", ",", "b", "!", "!", "c"]


# ---------------------------------------------------------------------------
# WordPiece.
# ---------------------------------------------------------------------------


def _vocab_dict(tokens):
  return {token: i for i, token in enumerate(tokens)}


def test_wordpiece_splits_and_unknown_pieces():
  tokenizer = tokenization.WordpieceTokenizer(vocab=_vocab_dict(_SMALL_VOCAB))
  assert tokenizer.tokenize("") == []
  assert tokenizer.tokenize("unwanted running") == [
      "un", "##want", "##ed", "runn", "##ing"]
  # One unmatchable position makes the whole word unknown, not just a piece.
  assert tokenizer.tokenize("unwantedX running") == [
      "[UNK]", "runn", "##ing"]
  # Longest match first: "lowest" wins over "low".
  assert tokenizer.tokenize("lowest") == ["lowest"]


def test_wordpiece_long_words_are_unknown():
  vocab = _vocab_dict(["[UNK]", "a", "##a"])
  tokenizer = tokenization.WordpieceTokenizer(vocab=vocab)
  assert tokenizer.max_input_chars_per_word == 200
  assert tokenizer.tokenize("a" * 200) == ["a"] + ["##a"] * 199
  assert tokenizer.tokenize("a" * 201) == ["[UNK]"]
  short = tokenization.WordpieceTokenizer(
      vocab=vocab, unk_token="<unk>", max_input_chars_per_word=3)
  assert short.tokenize("aaa aaaa") == ["a", "##a", "##a", "<unk>"]


def test_wordpiece_without_continuation_pieces():
  tokenizer = tokenization.WordpieceTokenizer(vocab=_vocab_dict(["ab", "c"]))
  assert tokenizer.tokenize("ab abc c") == ["ab", "[UNK]", "c"]


# ---------------------------------------------------------------------------
# FullTokenizer and ids.
# ---------------------------------------------------------------------------


def test_full_tokenizer_uncased(small_vocab_file):
  tokenizer = tokenization.FullTokenizer(small_vocab_file, do_lower_case=True)
  assert tokenizer.tokenize(u"UNwant\u00E9d,running") == [
      "un", "##want", "##ed", ",", "runn", "##ing"]
  assert tokenizer.tokenize(u"Hello! Café 博") == [
      "hello", "!", "cafe", u"博"]
  assert tokenizer.tokenize(u"Hello! Café 博".encode("utf-8")) == [
      "hello", "!", "cafe", u"博"]
  assert isinstance(tokenizer.basic_tokenizer, tokenization.BasicTokenizer)
  assert isinstance(tokenizer.wordpiece_tokenizer,
                    tokenization.WordpieceTokenizer)


def test_full_tokenizer_cased(small_vocab_file):
  tokenizer = tokenization.FullTokenizer(small_vocab_file, do_lower_case=False)
  assert tokenizer.tokenize(u"Hello! café Café hello UNwanted") == [
      "Hello", "!", u"café", "[UNK]", "hello", "[UNK]"]


def test_tokenize_result_is_a_fresh_list(small_vocab_file):
  tokenizer = tokenization.FullTokenizer(small_vocab_file)
  first = tokenizer.tokenize("unwanted")
  first.append("junk")
  first[0] = "junk"
  assert tokenizer.tokenize("unwanted") == ["un", "##want", "##ed"]


def test_convert_ids_round_trip(small_vocab_file):
  tokenizer = tokenization.FullTokenizer(small_vocab_file)
  tokens = tokenizer.tokenize(u"unwanted, running! 博")
  ids = tokenizer.convert_tokens_to_ids(tokens)
  assert ids == [_SMALL_VOCAB.index(t) for t in tokens]
  assert tokenizer.convert_ids_to_tokens(ids) == tokens
  assert tokenizer.inv_vocab[ids[0]] == tokens[0]
  assert tokenization.convert_tokens_to_ids(tokenizer.vocab, ["un"]) == [8]
  assert tokenization.convert_ids_to_tokens(tokenizer.inv_vocab, [8]) == ["un"]
  with pytest.raises(KeyError, match="zzz"):
    tokenizer.convert_tokens_to_ids(["un", "zzz"])
  with pytest.raises(KeyError, match="999"):
    tokenizer.convert_ids_to_tokens([999])


def test_word_cache_is_bounded(small_vocab_file, monkeypatch):
  monkeypatch.setattr(tokenization, "_WORD_CACHE_SIZE", 4)
  tokenizer = tokenization.FullTokenizer(small_vocab_file)
  text = u"unwanted running Hello, café lowest a aaa 博 xyz"
  vocab = tokenizer.vocab
  for _ in range(3):
    assert tokenizer.tokenize(text) == ref_tokenize(text, vocab, True)
    assert len(tokenizer._word_cache) <= 4


# ---------------------------------------------------------------------------
# Vocab loading.
# ---------------------------------------------------------------------------


def test_load_vocab_keeps_file_order(tmp_path):
  tokens = ["[PAD]", "zebra", "apple", u"博", "##ing", "[UNK]"]
  vocab = tokenization.load_vocab(write_vocab(tmp_path, tokens))
  assert isinstance(vocab, collections.OrderedDict)
  assert list(vocab.items()) == [(t, i) for i, t in enumerate(tokens)]


def test_load_vocab_strips_line_ends(tmp_path):
  path = tmp_path / "crlf.txt"
  path.write_bytes(b"[UNK]\r\nhello \r\n\tworld")
  vocab = tokenization.load_vocab(str(path))
  assert list(vocab.items()) == [("[UNK]", 0), ("hello", 1), ("world", 2)]


def test_missing_vocab_file_names_the_path(tmp_path):
  missing = str(tmp_path / "no_such_vocab.txt")
  with pytest.raises(FileNotFoundError) as info:
    tokenization.load_vocab(missing)
  assert missing in str(info.value)
  with pytest.raises(FileNotFoundError):
    tokenization.FullTokenizer(missing)


def test_duplicate_token_names_token_and_lines(tmp_path):
  path = write_vocab(tmp_path, ["[UNK]", "cat", "dog", "cat"])
  with pytest.raises(ValueError) as info:
    tokenization.load_vocab(path)
  message = str(info.value)
  assert "'cat'" in message
  assert "lines 2 and 4" in message


def test_empty_line_names_line_number(tmp_path):
  path = tmp_path / "gap.txt"
  path.write_text(u"[UNK]\ncat\n\ndog\n", encoding="utf-8")
  with pytest.raises(ValueError, match="line 3 is empty"):
    tokenization.load_vocab(str(path))
  blank = tmp_path / "blank.txt"
  blank.write_text(u"[UNK]\n   \n", encoding="utf-8")
  with pytest.raises(ValueError, match="line 2 is empty"):
    tokenization.load_vocab(str(blank))


# ---------------------------------------------------------------------------
# Small helpers.
# ---------------------------------------------------------------------------


def test_validate_case_matches_checkpoint():
  validate = tokenization.validate_case_matches_checkpoint
  # Matching casing, unknown names and no checkpoint are all accepted.
  validate(True, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt")
  validate(False, "/m/cased_L-12_H-768_A-12/bert_model.ckpt")
  validate(False, "/m/my_model/bert_model.ckpt")
  validate(True, "/m/cased_L-12_H-768_A-12/model.ckpt")
  validate(False, "")
  validate(False, None)
  for name in ("uncased_L-24_H-1024_A-16", "uncased_L-12_H-768_A-12",
               "multilingual_L-12_H-768_A-12", "chinese_L-12_H-768_A-12"):
    with pytest.raises(ValueError, match="--do_lower_case=True") as info:
      validate(False, "gs://b/%s/bert_model.ckpt" % name)
    assert name in str(info.value)
  for name in ("cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16",
               "multi_cased_L-12_H-768_A-12"):
    with pytest.raises(ValueError, match="--do_lower_case=False"):
      validate(True, "/x/%s/bert_model.ckpt" % name)


def test_convert_to_unicode_and_printable_text():
  assert tokenization.convert_to_unicode(u"héllo") == u"héllo"
  assert tokenization.convert_to_unicode(u"héllo".encode("utf-8")) == u"héllo"
  # Invalid utf-8 bytes are dropped.
  assert tokenization.convert_to_unicode(b"a\xffb") == u"ab"
  assert tokenization.printable_text(b"caf\xc3\xa9") == u"café"
  assert tokenization.printable_text(u"café") == u"café"
  with pytest.raises(ValueError, match="Unsupported string type"):
    tokenization.convert_to_unicode(3)
  with pytest.raises(ValueError, match="Unsupported string type"):
    tokenization.printable_text(None)


# ---------------------------------------------------------------------------
# Agreement with the reference implementation.
# ---------------------------------------------------------------------------

_ODD_STRINGS = [
    u"", u" ", u"\t\n\r", u"\x00\ufffd", u"\ufeffHello", u"İstanbul ıi",
    u"Straße STRASSE", u"ΟΔΟΣ ΣΟΦΟΣ. σς", u"ﬁnancial ﬀ", u"ＡＢＣ１２３",
    u"naïve café résumé", u"e\u0301\u0301", u"\u0301\u0301", u"Ǆemal",
    u"日本語のテキスト", u"中文,文本。", u"한국어 텍스트", u"العربية نص",
    u"हिन्दी पाठ", u"ไทย", u"👨\u200d👩\u200d👧 👍🏽 ❤\ufe0f 🇫🇷",
    u"a\u2028b\u2029c\x85d\x0be\x0cf", u"\ud800lone surrogate",
    u"\ue000private\U000F0000", u"\u0378unassigned", u"x" * 250,
    u"a" * 199 + u"é", u"can't won't they're", u"$5.00 (50%) #1 @user",
    u"http://example.com/path?q=1&r=2", u"a.b.c...d", u"«»‹›„“”‘’",
    u"\u00a0\u2000\u2001\u200a\u3000", u"\u180e\u200b\u200c\u200d\u2060",
    u"Ⅻ ① ½ ²", u"\U0001D400\U0001D41A", u"ǅ ǆ Ǳ",
]


def _random_strings(count, seed=1234):
  """Random strings over a mix of ASCII, Latin, combining, CJK and oddities."""
  rng = random.Random(seed)
  pools = [
      (0x20, 0x7F), (0x00, 0x20), (0xA0, 0x250), (0x300, 0x370),
      (0x370, 0x400), (0x2000, 0x2070), (0x3000, 0x3100), (0x4E00, 0x4E40),
      (0xF900, 0xF910), (0xFE00, 0xFE10), (0xFF00, 0xFF60), (0xAC00, 0xAC20),
      (0x1F300, 0x1F340), (0x20000, 0x20010), (0xE000, 0xE004),
  ]
  strings = []
  for _ in range(count):
    chars = []
    for _ in range(rng.randint(0, 30)):
      low, high = rng.choice(pools)
      chars.append(chr(rng.randrange(low, high)))
    strings.append(u"".join(chars))
  return strings


@pytest.fixture(scope="module")
def real_lines():
  lines = read_sentences(SHARED_DATA)
  assert len(lines) > 40000, "shared data looks incomplete"
  # Every 12th sentence (about 4,500), plus every one with non-ASCII text.
  sample = lines[::12] + [l for l in lines if not l.isascii()]
  return lines, sample


@pytest.fixture(scope="module")
def real_vocab_file(real_lines, tmp_path_factory):
  lines, _ = real_lines
  tokens = build_vocab(lines, whole_words=1500, split_words=6000,
                       num_suffixes=400, num_capitalised=200)
  tokens += [u"é", u"##é", u"博", u"中", u"文", u"😀", u"£"]
  return write_vocab(tmp_path_factory.mktemp("real"), tokens)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_matches_reference_on_real_text(real_lines, real_vocab_file,
                                        do_lower_case):
  _, sample = real_lines
  tokenizer = tokenization.FullTokenizer(real_vocab_file, do_lower_case)
  vocab = tokenizer.vocab
  counts = collections.Counter()
  # Two passes: the second is served from the word cache.
  for _ in range(2):
    for line in sample:
      expected = ref_tokenize(line, vocab, do_lower_case)
      assert tokenizer.tokenize(line) == expected, line
      counts.update("##" if t.startswith("##") else t == "[UNK]"
                    for t in expected)
  # The comparison is only meaningful if both splitting and [UNK] occur.
  assert counts["##"] > 1000
  assert counts[True] > 100
  assert counts[False] > 10000


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_matches_reference_on_odd_unicode(real_vocab_file, do_lower_case):
  tokenizer = tokenization.FullTokenizer(real_vocab_file, do_lower_case)
  basic = tokenization.BasicTokenizer(do_lower_case)
  vocab = tokenizer.vocab
  for text in _ODD_STRINGS + _random_strings(3000):
    assert basic.tokenize(text) == ref_basic_tokenize(text, do_lower_case), (
        repr(text))
    assert tokenizer.tokenize(text) == ref_tokenize(text, vocab,
                                                    do_lower_case), repr(text)


# ---------------------------------------------------------------------------
# Tokens kept whole: preserve_unused_tokens (1.0.4) and never_split.
# ---------------------------------------------------------------------------

_KEEP_VOCAB = _SMALL_VOCAB + ["[MASK]", "[unused0]", "[unused7]", "<e1>",
                              "mask", "[", "]", "unused", "##0", "##7", ".",
                              "e", "<", ">", "##1"]


def test_preserve_token_follows_1_0_4():
  vocab = {"[unused3]": 0, "[MASK]": 1}
  assert tokenization.preserve_token("[unused3]", vocab, True)
  assert not tokenization.preserve_token("[unused3]", vocab, False)
  # Not in the vocab, or not an [unusedN] entry: tokenised as usual.
  assert not tokenization.preserve_token("[unused4]", vocab, True)
  assert not tokenization.preserve_token("[MASK]", vocab, True)
  assert not tokenization.preserve_token("[unused3]x", {"[unused3]x": 0}, True)
  # No argument: the flag, which is off until flags are parsed.
  assert not tokenization.preserve_token("[unused3]", vocab)


def test_preserve_unused_tokens_keeps_vocab_entries_whole(tmp_path):
  vocab_file = write_vocab(tmp_path, _KEEP_VOCAB)
  text = u"Want [unused7] [unused0]. [unused9] [MASK]"
  on = tokenization.FullTokenizer(vocab_file, True,
                                  preserve_unused_tokens=True)
  # Only whole words are kept, as in 1.0.4: "[unused0]." is split, and
  # [unused9] is not in the vocab.
  assert on.tokenize(text) == [
      "want", "[unused7]", "[", "unused", "##0", "]", ".", "[", "[UNK]", "]",
      "[", "mask", "]"]
  off = tokenization.FullTokenizer(vocab_file, True)
  assert off.tokenize(u"[unused7]") == ["[", "unused", "##7", "]"]
  basic = tokenization.BasicTokenizer(True, vocab=on.vocab,
                                      preserve_unused_tokens=True)
  assert basic.tokenize(u"A [unused7]") == ["a", "[unused7]"]


def test_never_split_keeps_listed_tokens_whole(tmp_path):
  vocab_file = write_vocab(tmp_path, _KEEP_VOCAB)
  tokenizer = tokenization.FullTokenizer(vocab_file, True,
                                         never_split=["[MASK]", "<e1>"])
  assert tokenizer.tokenize(u"Hello [MASK]. want[MASK]wa <e1>a [mask]") == [
      "hello", "[MASK]", ".", "want", "[MASK]", "wa", "<e1>", "a", "[",
      "mask", "]"]
  # Off, the same text is split as the original splits it.
  plain = tokenization.FullTokenizer(vocab_file, True)
  assert plain.tokenize(u"[MASK] <e1>") == ["[", "mask", "]", "<", "e", "##1",
                                             ">"]
  basic = tokenization.BasicTokenizer(False, never_split=["[MASK]"])
  assert basic.tokenize(u"Hi [MASK]!") == ["Hi", "[MASK]", "!"]


def test_never_split_word_tokens_match_whole_words_only(tmp_path):
  vocab_file = write_vocab(tmp_path, _KEEP_VOCAB + ["e-mail"])
  tokenizer = tokenization.FullTokenizer(vocab_file, False,
                                         never_split=["e-mail"])
  # "e-mail" begins with a letter, so inside "xe-mail" it is not cut out
  # (the basic tokenizer's own split there gives "xe", not "x").
  assert tokenizer.tokenize(u"e-mail") == ["e-mail"]
  assert tokenizer.basic_tokenizer.tokenize(u"xe-mail") == ["xe", "-", "mail"]


def test_never_split_tokens_outside_the_vocab_are_an_error(tmp_path):
  vocab_file = write_vocab(tmp_path, _KEEP_VOCAB)
  with pytest.raises(ValueError, match=r"--never_split: \[X\], <b> not in the "
                     r"vocab file .*vocab\.txt"):
    tokenization.FullTokenizer(vocab_file, never_split=["[MASK]", "[X]", "<b>"])


def test_preserve_unused_tokens_without_unused_entries_warns(
    small_vocab_file, caplog):
  with caplog.at_level("WARNING"):
    tokenizer = tokenization.FullTokenizer(small_vocab_file,
                                           preserve_unused_tokens=True)
  assert "has no [unusedN] entries" in caplog.text
  assert small_vocab_file in caplog.text
  assert tokenizer.tokenize(u"want") == ["want"]


def test_options_read_the_flags_once_parsed(tmp_path, monkeypatch):
  from absl import flags
  vocab_file = write_vocab(tmp_path, _KEEP_VOCAB)
  flag_values = flags.FLAGS
  was_parsed = flag_values.is_parsed()
  old = (flag_values["never_split"].value,
         flag_values["preserve_unused_tokens"].value)
  try:
    if not was_parsed:
      flag_values(["prog"])
    flag_values.never_split = ["[MASK]"]
    flag_values.preserve_unused_tokens = True
    tokenizer = tokenization.FullTokenizer(vocab_file)
    assert tokenizer.tokenize(u"[MASK] [unused0]") == ["[MASK]", "[unused0]"]
    assert tokenization.preserve_token("[unused0]", tokenizer.vocab)
    # Explicit arguments win over the flags.
    explicit = tokenization.FullTokenizer(vocab_file, never_split=[],
                                          preserve_unused_tokens=False)
    assert explicit.tokenize(u"[MASK]") == ["[", "mask", "]"]
  finally:
    flag_values.never_split, flag_values.preserve_unused_tokens = old
    if not was_parsed:
      flag_values.unparse_flags()


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_kept_tokens_match_reference_on_real_text(real_lines, real_vocab_file,
                                                  do_lower_case, tmp_path):
  """With both options on, real text with kept tokens spliced in agrees
  with the plain reference."""
  _, sample = real_lines
  base = tokenization.load_vocab(real_vocab_file)
  vocab_file = write_vocab(tmp_path, list(base) + ["[unused1]", "[unused2]",
                                                   "<e1>", "</e1>"])
  never_split = ["[MASK]", "<e1>", "</e1>", "[SEP]"]
  tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case,
                                         never_split=never_split,
                                         preserve_unused_tokens=True)
  vocab = tokenizer.vocab
  kept_words = set(never_split) | {"[unused1]", "[unused2]"}
  rng = random.Random(7)
  inserts = [u" [MASK] ", u"[MASK]", u" <e1>", u"</e1>.", u" [unused1] ",
             u"[unused2]", u"[SEP]", u" [mask] "]
  checked = 0
  for line in sample[:1500]:
    words = line.split()
    for _ in range(2):
      words.insert(rng.randrange(len(words) + 1), rng.choice(inserts))
    text = u"".join(w if rng.random() < 0.3 else w + u" " for w in words)
    expected = ref_tokenize(text, vocab, do_lower_case, kept_words,
                            never_split)
    assert tokenizer.tokenize(text) == expected, text
    checked += sum(t in kept_words for t in expected)
  assert checked > 1000


# ---------------------------------------------------------------------------
# The flags on the scripts that tokenise.
# ---------------------------------------------------------------------------


def _script_args(script, tmp_path, vocab_file, config_file):
  """Enough flags for `script` to reach the building of its tokenizer."""
  text = write_text_file(tmp_path / "in.txt", u"the cat sat\n\nthe dog ran\n")
  out = str(tmp_path / "out")
  common = ["--vocab_file=" + vocab_file]
  if script == "create_pretraining_data.py":
    return common + ["--input_file=" + text, "--output_file=" + out]
  common += ["--bert_config_file=" + config_file]
  if script == "extract_features.py":
    return common + ["--input_file=" + text, "--output_file=" + out,
                     "--init_checkpoint=" + out, "--max_seq_length=16",
                     "--layers=-1"]
  if script == "run_squad.py":
    squad = write_text_file(tmp_path / "dev.json", json.dumps(
        {"version": "1.1", "data": [{"title": "t", "paragraphs": [
            {"context": "the cat", "qas": [{"id": "1", "question": "what"}]}
        ]}]}))
    return common + ["--do_predict", "--predict_file=" + squad,
                     "--output_dir=" + out, "--max_seq_length=64",
                     "--max_query_length=16", "--doc_stride=16",
                     "--allow_untrained_model"]
  (tmp_path / "mrpc").mkdir()
  return common + ["--task_name=mrpc", "--do_eval",
                   "--data_dir=" + str(tmp_path / "mrpc"),
                   "--output_dir=" + out, "--max_seq_length=16",
                   "--allow_untrained_model"]


def write_text_file(path, text):
  path.write_text(text, encoding="utf-8")
  return str(path)


@pytest.mark.parametrize("script", [
    "run_classifier.py", "run_squad.py", "create_pretraining_data.py",
    "extract_features.py"])
def test_scripts_reject_never_split_tokens_outside_the_vocab(tmp_path, script):
  """Each script that tokenises takes --never_split and
  --preserve_unused_tokens, and a token that would map to [UNK] stops it
  with one line naming the token and the vocab file."""
  import bert_testing  # pylint: disable=g-import-not-at-top
  vocab_file = write_vocab(tmp_path, _KEEP_VOCAB)
  config_file = bert_testing.write_config(str(tmp_path / "config.json"),
                                          len(_KEEP_VOCAB))
  args = _script_args(script, tmp_path, vocab_file, config_file) + [
      "--never_split=[MASK],[NOPE],<x>", "--preserve_unused_tokens"]
  proc = bert_testing.run_script(script, args, timeout=300)
  assert proc.returncode == 1, proc.stderr[-3000:]
  message = ("--never_split: [NOPE], <x> not in the vocab file %s, so they "
             "would map to [UNK]" % vocab_file)
  assert message in proc.stderr, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr


def test_scripts_that_do_not_tokenise_warn_about_the_flags(tmp_path):
  """convert_checkpoint.py imports tokenization (for its vocab reader), so it
  accepts the flags; setting one is answered with a warning."""
  import bert_testing  # pylint: disable=g-import-not-at-top
  proc = bert_testing.run_script("convert_checkpoint.py", [
      "--direction=hf_to_bert", "--input_dir=%s" % (tmp_path / "none"),
      "--output_dir=%s" % (tmp_path / "out"), "--never_split=[MASK]"],
      timeout=300)
  assert ("--never_split: this script does not tokenise text, so the flag "
          "has no effect.") in proc.stderr, proc.stderr[-3000:]
