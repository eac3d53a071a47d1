"""Writes the quick start's movie-review sentences (train.tsv, dev.tsv, test.tsv).

  python data/quickstart/make_data.py      # rewrites the three files

The sentences are our own: phrases written for this project, combined by
seeded templates into review snippets in the GLUE SST-2 layout (lowercase,
tokenised like SST: `it 's`, ` , `, ` .`), labels 1 (positive) and 0
(negative), balanced. They cover what real reviews do: plain verdicts,
fragments, praise or complaints about one aspect (acting, script, pacing,
music...), negation (`is n't funny`, `never dull`) and two-sided sentences
whose last clause decides (`despite ..., ...`). No sentence is taken from
SST, MR or any review corpus. The README's example sentences are kept out.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261202
COUNTS = {"train": 900, "dev": 200, "test": 100}
HELD_OUT = {"a warm , funny and moving film .",
            "tedious , with no plot to speak of ."}

FILMS = ["the film", "this movie", "the picture", "it", "the sequel",
         "this comedy", "the thriller", "this drama", "the documentary",
         "the remake", "this romance", "the animated feature", "this western",
         "the horror film", "this biopic", "the musical", "the adaptation",
         "the director 's latest", "this debut", "the whole thing"]
ASPECTS = ["the script", "the cast", "the acting", "the story", "the plot",
           "the dialogue", "the ending", "the soundtrack", "the pacing",
           "the photography", "the lead performance", "the characters",
           "the humor", "the direction", "the editing", "the central romance",
           "the final act", "the screenplay", "the jokes", "the score"]
GOOD = ["wonderful", "delightful", "moving", "funny", "charming", "gripping",
        "beautiful", "smart", "touching", "hilarious", "thrilling", "engaging",
        "brilliant", "heartfelt", "witty", "tender", "absorbing", "stunning",
        "entertaining", "powerful", "clever", "lovely", "memorable", "sharp",
        "warm", "inventive", "affecting", "exhilarating", "graceful", "rich",
        "enjoyable", "fresh", "sweet", "haunting", "superb", "marvelous",
        "riveting", "uplifting", "poignant", "satisfying"]
BAD = ["boring", "dull", "tedious", "stupid", "lifeless", "clumsy", "bland",
       "flat", "pointless", "tiresome", "silly", "predictable", "shallow",
       "awful", "dreary", "lazy", "sloppy", "forgettable", "painful",
       "incoherent", "empty", "overlong", "clichéd", "mediocre", "grating",
       "listless", "muddled", "joyless", "trite", "sluggish", "annoying",
       "unfunny", "hollow", "dismal", "wooden", "ponderous", "tiring",
       "contrived", "lame", "dreadful"]
GOOD_NOUNS = ["a delight", "a triumph", "a treat", "a gem", "a pleasure",
              "a joy to watch", "a real achievement", "a small miracle",
              "one of the year 's best", "a crowd pleaser", "a must-see",
              "great fun", "a winner", "a beautiful piece of work",
              "a rare treat"]
BAD_NOUNS = ["a mess", "a disaster", "a bore", "a chore to sit through",
             "a waste of time", "a misfire", "a dud", "a slog",
             "a big disappointment", "an embarrassment", "a failure",
             "a waste of a good cast", "a letdown", "a trainwreck",
             "a tired retread"]
GOOD_CLAUSES = ["i laughed all the way through", "it stays with you",
                "you will want to see it again", "every scene earns its place",
                "the actors have never been better",
                "it made me smile for days", "it never loses its nerve",
                "the time flies by", "it is worth every minute",
                "the audience cheered at the end",
                "it gets better as it goes", "it is full of surprises"]
BAD_CLAUSES = ["i checked my watch twice", "nothing much happens",
               "it goes on far too long", "the jokes fall flat",
               "you will forget it by morning", "it has nothing to say",
               "the story makes no sense", "i nearly fell asleep",
               "the actors look bored", "it is a waste of everyone 's time",
               "it never finds its footing", "the characters are paper thin"]
INTENSIFIERS = ["", "", "very ", "really ", "utterly ", "genuinely ",
                "thoroughly ", "quite ", "so ", "remarkably ", "deeply ",
                "truly "]


def _pick(rng, words):
  return rng.choice(words)


def positive(rng):
  g, g2 = rng.sample(GOOD, 2)
  b = _pick(rng, BAD)
  film, aspect = _pick(rng, FILMS), _pick(rng, ASPECTS)
  very = _pick(rng, INTENSIFIERS)
  return rng.choice([
      "%s is %s%s ." % (film, very, g),
      "%s is %s and %s ." % (film, g, g2),
      "a %s%s , %s film ." % (very, g, g2),
      "%s , %s and %s ." % (g, g2, _pick(rng, GOOD)),
      "%s is %s ." % (film, _pick(rng, GOOD_NOUNS)),
      "%s ." % _pick(rng, GOOD_NOUNS),
      "%s%s ." % (very, g),
      "%s is %s%s ." % (aspect, very, g),
      "%s is %s , and %s is even better ." % (aspect, g, _pick(rng, ASPECTS)),
      "%s is never %s ." % (film, b),
      "%s is not %s at all ; it is %s ." % (film, b, g),
      "not for a moment is it %s ." % b,
      "despite %s %s , %s is %s ." % (rng.choice(["a", "some"]), b
                                       .replace("é", "e") + " moments",
                                       film, g),
      "the premise sounds %s , but %s is %s ." % (b, film, g),
      "%s , and %s ." % (g.capitalize().lower(), _pick(rng, GOOD_CLAUSES)),
      "%s is so %s that %s ." % (film, g, _pick(rng, GOOD_CLAUSES)),
      "i loved %s : %s ." % (aspect, _pick(rng, GOOD_CLAUSES)),
      "%s made %s %s ." % (aspect, film, g),
      "one of the most %s films in years ." % g,
      "%s is %s from start to finish ." % (film, g),
      "it 's %s%s , and %s ." % (very, g, _pick(rng, GOOD_CLAUSES)),
      "an %s , %s ride ." % (rng.choice(["easy", "exciting", "unusual"]), g),
      "you could not ask for a more %s %s ." % (
          g, rng.choice(["film", "movie", "story", "comedy", "evening"])),
  ])


def negative(rng):
  b, b2 = rng.sample(BAD, 2)
  g = _pick(rng, GOOD)
  film, aspect = _pick(rng, FILMS), _pick(rng, ASPECTS)
  very = _pick(rng, INTENSIFIERS)
  return rng.choice([
      "%s is %s%s ." % (film, very, b),
      "%s is %s and %s ." % (film, b, b2),
      "a %s%s , %s film ." % (very, b, b2),
      "%s , %s and %s ." % (b, b2, _pick(rng, BAD)),
      "%s is %s ." % (film, _pick(rng, BAD_NOUNS)),
      "%s ." % _pick(rng, BAD_NOUNS),
      "%s%s ." % (very, b),
      "%s is %s%s ." % (aspect, very, b),
      "%s is %s , and %s is even worse ." % (aspect, b, _pick(rng, ASPECTS)),
      "%s is never %s ." % (film, g),
      "%s is not %s at all ; it is %s ." % (film, g, b),
      "%s is n't %s%s ." % (film, very, g),
      "%s wants to be %s but is only %s ." % (film, g, b),
      "for all its %s moments , %s is %s ." % (g, film, b),
      "the premise sounds %s , but %s is %s ." % (g, film, b),
      "%s , and %s ." % (b, _pick(rng, BAD_CLAUSES)),
      "%s is so %s that %s ." % (film, b, _pick(rng, BAD_CLAUSES)),
      "i hated %s : %s ." % (aspect, _pick(rng, BAD_CLAUSES)),
      "%s made %s %s ." % (aspect, film, b),
      "one of the most %s films in years ." % b,
      "%s is %s from start to finish ." % (film, b),
      "it 's %s%s , and %s ." % (very, b, _pick(rng, BAD_CLAUSES)),
      "not even %s can save %s ." % (aspect, film),
      "there is nothing %s about %s ." % (g, film),
  ])


def sentences(rng, count, held_out):
  """`count` distinct (sentence, label) pairs, half of each label, none in
  `held_out`."""
  rows, seen = [], set(held_out)
  for label, make in ((1, positive), (0, negative)):
    made = 0
    while made < count // 2:
      text = " ".join(make(rng).split())
      if text not in seen:
        seen.add(text)
        rows.append((text, label))
        made += 1
  rng.shuffle(rows)
  return rows, seen


def main():
  rng = random.Random(SEED)
  seen = set(HELD_OUT)
  for split in ("train", "dev", "test"):
    rows, seen = sentences(rng, COUNTS[split], seen)
    path = os.path.join(HERE, "%s.tsv" % split)
    with open(path, "w", encoding="utf-8") as f:
      if split == "test":
        f.write("index\tsentence\n")
        f.writelines("%d\t%s\n" % (i, text) for i, (text, _) in
                     enumerate(rows))
      else:
        f.write("sentence\tlabel\n")
        f.writelines("%s\t%d\n" % row for row in rows)


if __name__ == "__main__":
  main()
