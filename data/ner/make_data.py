"""Writes the small named-entity data set in this folder (train/dev/test.txt).

All text is invented here: people, places and organisations are made of
syllables drawn by a seeded random generator and put into sentence
templates, so the files are the same on every run:

  python data/ner/make_data.py            # rewrites data/ner/*.txt

The layout is CoNLL-2003's: a -DOCSTART- line, one `token tag` line per
token, a blank line between sentences; tags are IOB2 (B-/I-) of PER, LOC
and ORG. About a third of the names in dev and test never occur in train,
so a model has to use the context, not only remember names.
"""

import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = (("train.txt", 400), ("dev.txt", 100), ("test.txt", 100))

ONSETS = ["b", "br", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t",
          "th", "v", "z"]
VOWELS = ["a", "e", "i", "o", "u", "ae", "ou"]
CODAS = ["", "n", "r", "l", "s", "th", "m", "sk"]

TEMPLATES = [
    "{PER} joined {ORG} in {LOC} last spring .",
    "The mayor of {LOC} , {PER} , opened the new bridge on Sunday .",
    "{ORG} reported higher sales in {LOC} this quarter .",
    "According to {PER} , the {ORG} office in {LOC} will close .",
    "{PER} and {PER} travelled from {LOC} to {LOC} by train .",
    "Shares of {ORG} fell sharply after {PER} resigned .",
    "She met {PER} at the headquarters of {ORG} .",
    "Heavy rain is expected across {LOC} on Monday .",
    "Nothing much happened in the village today .",
    "The committee will vote again next week .",
    "{PER} said the talks with {ORG} had been useful .",
    "Fans of {ORG} gathered in central {LOC} to celebrate .",
    "A spokesman for {ORG} declined to comment .",
    "{PER} , who was born in {LOC} , now lives abroad .",
    "Delegates from {LOC} , {LOC} , {LOC} and {LOC} met {PER} , {PER} and "
    "{PER} of {ORG} to discuss trade , fishing rights , new roads , the "
    "harbour , the schools and the future of {ORG} before the winter .",
]
ORG_SUFFIXES = ["Mining", "Bank", "Textiles", "Group", "Press", "Railways",
                "United", "Institute"]
LOC_PREFIXES = ["Port", "North", "Lake", "Upper", "Saint"]


def word(rng, syllables):
  return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                 for _ in range(syllables)).capitalize()


def name_pools(rng, size):
  """Lists of names (each a list of tokens) per entity type."""
  people = [[word(rng, 2)] + ([word(rng, 2)] if rng.random() < 0.7 else [])
            for _ in range(size)]
  places = [([rng.choice(LOC_PREFIXES)] if rng.random() < 0.3 else []) +
            [word(rng, rng.choice([2, 3]))] for _ in range(size)]
  orgs = [[word(rng, 2)] + rng.sample(ORG_SUFFIXES, rng.choice([1, 2]))
          for _ in range(size)]
  return {"PER": people, "LOC": places, "ORG": orgs}


def sentence(rng, pools):
  """(token, tag) pairs of one sentence from a random template."""
  pairs = []
  for piece in rng.choice(TEMPLATES).split():
    if piece.startswith("{"):
      entity_type = piece[1:-1]
      name = rng.choice(pools[entity_type])
      pairs += [(t, ("B-" if i == 0 else "I-") + entity_type)
                for i, t in enumerate(name)]
    else:
      pairs.append((piece, "O"))
  return pairs


def main():
  rng = random.Random(2026)
  seen = name_pools(rng, 60)
  unseen = name_pools(rng, 30)
  for file_name, count in SIZES:
    lines = ["-DOCSTART- O", ""]
    for _ in range(count):
      pools = seen
      if file_name != "train.txt" and rng.random() < 0.35:
        pools = unseen
      lines += ["%s %s" % pair for pair in sentence(rng, pools)] + [""]
    with open(os.path.join(HERE, file_name), "w", encoding="utf-8") as f:
      f.write("\n".join(lines))


if __name__ == "__main__":
  main()
