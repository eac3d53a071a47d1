"""The model input of one text or text pair: `[CLS] A [SEP] B [SEP]`, padded.

Shared by run_classifier.py (training, evaluation, `--do_predict`), the
predictor (`predictor.py`) and the in-graph tokenisation of the exported
`serving_text` signature (`serving.py`), so that a sentence gets the same ids
and the same truncation everywhere. Pure Python, like `tokenization.py`.
"""


def truncate_seq_pair(tokens_a, tokens_b, max_length):
  """Truncates a sequence pair in place to the maximum length.

  One token at a time comes off the end of the longer sequence (of the second
  one on a tie): a short sequence usually carries more information per token
  than the tail of a long one.
  """
  while len(tokens_a) + len(tokens_b) > max_length:
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()


def truncated_lengths(len_a, len_b, max_seq_length):
  """The lengths `truncate_seq_pair` (or, without B, a plain cut) leaves.

  A closed form of the one-token-at-a-time loop, for code that cannot run the
  loop (the exported graph): with room `T`, the shorter side keeps all of
  its tokens if the longer one can make up the rest; otherwise both are cut
  to half, A keeping the odd token (the loop pops B first on a tie).
  """
  if not len_b:
    return min(len_a, max_seq_length - 2), 0
  room = max_seq_length - 3
  kept_a = min(len_a, max(room - len_b, (room + 1) // 2))
  return kept_a, min(len_b, room - kept_a)


def classifier_inputs(tokens_a, tokens_b, max_seq_length):
  """Tokens and segment ids of one example, truncated to `max_seq_length`.

  `tokens_b` empty or None means a single sentence: `[CLS] A [SEP]`, with
  room for `max_seq_length - 2` tokens of A. Pairs are trimmed with
  `truncate_seq_pair` to leave room for `[CLS]`, `[SEP]`, `[SEP]`.

  Returns:
    (tokens, segment_ids, truncated): unpadded; `truncated` tells whether
    tokens were cut off.
  """
  tokens_a = list(tokens_a)
  tokens_b = list(tokens_b or ())
  total = len(tokens_a) + len(tokens_b)
  if tokens_b:
    truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
  else:
    tokens_a = tokens_a[:max_seq_length - 2]
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  return tokens, segment_ids, len(tokens_a) + len(tokens_b) < total


def pad(values, max_seq_length):
  """`values` followed by zeros up to `max_seq_length`."""
  return list(values) + [0] * (max_seq_length - len(values))
