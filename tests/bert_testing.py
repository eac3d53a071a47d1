"""Helpers for tests: tiny vocabularies, configs and checkpoints of their own.

Tests never download anything; they build a vocabulary from the text they use
and a model of 2 layers and hidden size 32-64.
"""

import collections
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def basic_words(text):
  """Lower-cased words and punctuation, roughly as BasicTokenizer splits."""
  return re.findall(r"\w+|[^\w\s]", text.lower())


def write_vocab(path, texts, max_words=3000):
  """Writes a vocab of special tokens, characters, ##characters and words.

  Every character of `texts` is in it (alone and as a ## piece), so any word
  of the text tokenizes without [UNK]; the most frequent words are whole.
  Returns the list of tokens.
  """
  counts = collections.Counter()
  chars = set()
  for text in texts:
    for word in basic_words(text):
      counts[word] += 1
      chars.update(word)
  vocab = list(SPECIAL_TOKENS)
  vocab += sorted(chars) + ["##" + c for c in sorted(chars)]
  seen = set(vocab)
  for word, _ in counts.most_common(max_words):
    if word not in seen:
      vocab.append(word)
      seen.add(word)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
  return vocab


def tiny_config_dict(vocab_size, hidden_size=32, max_position_embeddings=128,
                     **overrides):
  config = dict(
      vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=2,
      num_attention_heads=4, intermediate_size=2 * hidden_size,
      hidden_act="gelu", hidden_dropout_prob=0.1,
      attention_probs_dropout_prob=0.1,
      max_position_embeddings=max_position_embeddings, type_vocab_size=2,
      initializer_range=0.02)
  config.update(overrides)
  return config


def write_config(path, vocab_size, **kwargs):
  with open(path, "w") as f:
    json.dump(tiny_config_dict(vocab_size, **kwargs), f, indent=2)
  return path


def run_script(script, args, timeout=600, env=None):
  """Runs a top-level script in a subprocess; returns CompletedProcess."""
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  full_env.update(env or {})
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, script)] + list(args),
      capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)
