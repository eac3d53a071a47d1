"""Writes the quick start's movie-review sentences (train.tsv, dev.tsv, test.tsv).

  python data/quickstart/make_data.py [output_dir]   # default: beside this file

The sentences are our own: words and phrases written for this project,
combined by seeded templates into review snippets in the GLUE SST-2 layout
(lowercase, tokenised like SST: `it 's`, ` , `, ` .`), labels 1 (positive)
and 0 (negative), balanced. No sentence is taken from SST, MR or any review
corpus, and the README's example sentences are kept out.

What makes a model trained on them right on real reviews is that only the
verdict carries the label:
- Every template is written once for both polarities; it draws its verdict
  words (adjectives, adverbs, verbs, nouns, clauses) from that polarity's
  lexicon, so no sentence shape, length or negation tells the label.
- The content is shared by both labels: invented people, titles, genres and
  topics, the grim ones (grief, a serial killer, war) as often in praise as
  in complaints. Real reviews are full of names and subjects the model has
  never seen; a model taught on bare verdicts reads them as a label.
- Negation and two-sided sentences appear in both labels, and the last
  clause decides (`despite ... moments , ...`, `... at times , but ...`).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261204
COUNTS = (("train", 1200), ("dev", 200), ("test", 100))
HELD_OUT = {"a warm , funny and moving film .",
            "tedious , with no plot to speak of ."}

# Content: the same for both labels.
FIRST_NAMES = [
    "maya", "tomas", "elena", "victor", "nadia", "oskar", "lena", "ravi",
    "ines", "marco", "hana", "jonah", "clara", "felix", "amara", "pavel",
    "sofia", "dmitri", "yuki", "bruno", "greta", "omar", "leila", "henrik",
    "rosa", "caleb", "ada", "niko", "priya", "emil"]
LAST_NAMES = [
    "varga", "lindqvist", "okafor", "brennan", "moreau", "castellano",
    "haddad", "novak", "whitfield", "tanaka", "reyes", "holm", "petrov",
    "achebe", "delacroix", "kowalski", "marsh", "ferreira", "sato",
    "abernathy", "quill", "mendez", "rask", "oyelaran", "baines"]
TITLES = [
    "the long harbor", "paper lanterns", "north of winter",
    "the glass orchard", "midnight at the depot", "small mercies",
    "the last ferry", "iron meadow", "a house of rooms", "salt and ash",
    "the quiet hour", "blue river", "the second summer", "the cartographer",
    "hollow creek", "the lighthouse keeper 's son", "city of strangers",
    "the velvet trap", "red kite", "the borrowed year", "moon over dunmore",
    "static"]
GENRES = [
    "film", "movie", "comedy", "drama", "thriller", "documentary", "romance",
    "horror film", "western", "musical", "biopic", "war film", "crime story",
    "family film", "melodrama", "caper", "satire", "animated feature",
    "coming of age story", "mystery", "road movie", "period piece", "sequel",
    "remake", "chiller", "debut", "character study", "action picture",
    "fable", "love story"]
TOPICS = [
    "grief", "a serial killer", "a small town wedding", "two sisters",
    "a failing marriage", "war", "a prison break", "first love",
    "a dying father", "a bank robbery", "a high school reunion",
    "immigrants in a new city", "a haunted house", "a boxing champion",
    "a family on the road", "loss and anger", "a missing child",
    "an aging rock star", "a chess prodigy", "the fall of a dictator",
    "addiction", "a lonely widower", "a gang of con artists", "a summer camp",
    "a royal scandal", "a space mission", "betrayal", "a cancer ward",
    "a jazz club", "religious faith", "a failing restaurant",
    "teenage rebellion", "a murder trial", "a broken family",
    "jealousy and greed", "a sports team"]
ROLES = [
    "the detective", "a grieving mother", "the villain", "a con man",
    "the lonely teacher", "a fading star", "the young soldier", "the father",
    "a killer", "the hero", "an ambitious lawyer", "the best friend",
    "a troubled priest", "the king"]
FILMS = ["the film", "this movie", "the picture", "it", "the story",
         "the whole thing", "the director 's latest", "this one"]
ASPECTS = [
    "the script", "the cast", "the acting", "the story", "the plot",
    "the dialogue", "the ending", "the soundtrack", "the pacing",
    "the photography", "the lead performance", "the characters",
    "the humor", "the direction", "the editing", "the final act",
    "the screenplay", "the jokes", "the score", "the visuals", "the premise",
    "the staging", "the supporting cast", "the tone"]
LOOKS = ["look at", "portrait of", "study of", "take on", "journey into"]
INTENSIFIERS = ["", "", "", "very ", "really ", "so ", "quite ", "rather ",
                "truly ", "a little ", "often ", "simply "]

# Verdicts: one lexicon per label (1 positive, 0 negative).
ADJECTIVES = {
    1: ["wonderful", "delightful", "moving", "funny", "charming", "gripping",
        "beautiful", "smart", "touching", "hilarious", "thrilling",
        "engaging", "brilliant", "heartfelt", "witty", "tender", "absorbing",
        "stunning", "entertaining", "powerful", "clever", "lovely",
        "memorable", "sharp", "warm", "inventive", "affecting",
        "exhilarating", "graceful", "rich", "enjoyable", "fresh", "sweet",
        "haunting", "superb", "marvelous", "riveting", "uplifting",
        "poignant", "satisfying", "honest", "intelligent", "compelling",
        "vivid", "assured", "elegant", "luminous", "playful", "bold",
        "refreshing", "heartwarming", "fascinating", "endearing", "solid",
        "terrific", "masterful", "irresistible", "spirited", "thoughtful",
        "beguiling", "ambitious", "captivating", "resonant", "exquisite",
        "lively", "sincere", "insightful", "wise", "rewarding", "original",
        "gorgeous", "taut", "suspenseful", "unforgettable", "winning", "fun",
        "good", "great", "excellent", "accomplished", "remarkable",
        "likable", "provocative", "stirring", "delicious", "sublime",
        "mesmerizing", "first rate", "well made", "well acted",
        "keenly observed", "beautifully made", "tightly plotted"],
    0: ["boring", "dull", "tedious", "stupid", "lifeless", "clumsy", "bland",
        "flat", "pointless", "tiresome", "silly", "predictable", "shallow",
        "awful", "dreary", "lazy", "sloppy", "forgettable", "painful",
        "incoherent", "empty", "overlong", "cliched", "mediocre", "grating",
        "listless", "muddled", "joyless", "trite", "sluggish", "annoying",
        "unfunny", "hollow", "dismal", "wooden", "ponderous", "tiring",
        "contrived", "lame", "dreadful", "pretentious", "bloated", "inept",
        "tired", "formulaic", "numbing", "shrill", "mawkish", "witless",
        "plodding", "stale", "derivative", "leaden", "charmless", "turgid",
        "bad", "terrible", "poor", "weak", "uninspired", "unconvincing",
        "confused", "sentimental", "obvious", "heavy handed", "smug",
        "cheap", "disjointed", "repetitive", "monotonous", "unbearable",
        "insufferable", "limp", "misguided", "soulless", "overwrought",
        "flimsy", "forced", "thin", "ugly", "sour", "aimless", "vapid",
        "tepid", "half baked", "badly written", "poorly acted",
        "overproduced", "mean spirited", "self indulgent", "humorless"],
}
ADVERBS = {
    1: ["beautifully", "wonderfully", "wildly", "deeply", "thoroughly",
        "genuinely", "remarkably", "richly", "deftly", "brilliantly",
        "quietly", "consistently", "surprisingly", "utterly", "truly"],
    0: ["painfully", "hopelessly", "utterly", "dreadfully", "woefully",
        "numbingly", "relentlessly", "frustratingly", "oddly", "merely",
        "terribly", "embarrassingly", "thoroughly", "awkwardly",
        "stubbornly"],
}
NOUNS = {
    1: ["a delight", "a triumph", "a treat", "a gem", "a pleasure",
        "a joy to watch", "a real achievement", "a small miracle",
        "one of the year 's best", "a crowd pleaser", "a must see",
        "great fun", "a winner", "a beautiful piece of work", "a rare treat",
        "a hoot", "a knockout", "a marvel", "a tour de force",
        "a welcome surprise", "a breath of fresh air", "a real find",
        "an unexpected pleasure", "a minor masterpiece", "a blast",
        "a pleasant surprise", "a film worth seeking out"],
    0: ["a mess", "a disaster", "a bore", "a chore to sit through",
        "a waste of time", "a misfire", "a dud", "a slog",
        "a big disappointment", "an embarrassment", "a failure",
        "a waste of a good cast", "a letdown", "a trainwreck",
        "a tired retread", "a muddle", "a snooze", "a botch",
        "a vanity project", "an endurance test", "a cheap knockoff",
        "a missed opportunity", "a pale imitation", "a turkey",
        "a long two hours", "an exercise in tedium", "a film to avoid"],
}
VERBS = {
    1: ["shines", "soars", "sparkles", "works", "delivers", "succeeds",
        "sings", "glows", "dazzles", "hums along", "crackles with energy",
        "finds its heart", "earns its tears", "hits all the right notes",
        "grows on you", "keeps you guessing", "holds you from start to end",
        "lands every joke", "rises above its genre", "wins you over"],
    0: ["drags", "stumbles", "sinks", "fizzles", "falls flat", "sags",
        "never takes off", "goes nowhere", "runs out of steam", "misfires",
        "collapses", "plods along", "wears out its welcome", "loses its way",
        "falls apart", "stalls", "grinds to a halt", "tries too hard",
        "misses the mark", "bores you to tears"],
}
CLAUSES = {
    1: ["i laughed all the way through", "it stays with you",
        "you will want to see it again", "every scene earns its place",
        "the actors have never been better", "it made me smile for days",
        "it never loses its nerve", "the time flies by",
        "it is worth every minute", "the audience cheered at the end",
        "it gets better as it goes", "it is full of surprises",
        "you leave the theater happy", "it knows exactly what it is doing",
        "it treats its audience as adults", "it is hard not to be moved",
        "you care about every character", "it goes by in a flash",
        "i was hooked from the first scene",
        "it reminds you why you go to the movies"],
    0: ["i checked my watch twice", "nothing much happens",
        "it goes on far too long", "the jokes fall flat",
        "you will forget it by morning", "it has nothing to say",
        "the story makes no sense", "i nearly fell asleep",
        "the actors look bored", "it is a waste of everyone 's time",
        "it never finds its footing", "the characters are paper thin",
        "you can see every twist coming", "it feels twice its length",
        "it treats its audience like children",
        "it is hard to care about anyone", "nobody seems to know why",
        "i wanted to walk out", "it never comes to life",
        "you wonder how it got made"],
}
KINDS = {
    1: ["makes you glad to be at the movies",
        "you want to tell friends about", "rewards your patience",
        "sends you out smiling", "you will remember for years",
        "restores your faith in the genre"],
    0: ["makes you want to leave early", "you forget while you watch it",
        "tests your patience", "sends you out grumbling",
        "you will regret paying for", "gives the genre a bad name"],
}
CARRIED = {1: ["elevated by", "lifted by", "carried by"],
           0: ["sunk by", "undone by", "weighed down by"]}
PROVES = {1: ["still surprise us", "direct", "act", "make us laugh",
              "tell a story"],
          0: ["still bore us", "waste a good cast", "lose an audience",
              "make a bad movie"]}
COMPARED = {1: ["more fun", "smarter", "better", "funnier"],
            0: ["less fun", "duller", "worse", "sillier"]}


def person(rng):
  return "%s %s" % (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))


def subject(rng):
  """What a sentence is about: a film, a title, someone's film, a topic."""
  kind = rng.randrange(5)
  if kind == 0:
    return rng.choice(FILMS)
  if kind == 1:
    return rng.choice(TITLES)
  if kind == 2:
    return "%s 's new %s" % (person(rng), rng.choice(GENRES))
  if kind == 3:
    return "this %s about %s" % (rng.choice(GENRES), rng.choice(TOPICS))
  return "the %s" % rng.choice(GENRES)


def with_article(phrase):
  return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def review(rng, label):
  """One review snippet whose verdict has polarity `label` (1 or 0)."""
  other = 1 - label
  a1, a2, a3 = rng.sample(ADJECTIVES[label], 3)
  contrary = rng.choice(ADJECTIVES[other])
  adverb = rng.choice(ADVERBS[label])
  clause = rng.choice(CLAUSES[label])
  film, aspect, genre = subject(rng), rng.choice(ASPECTS), rng.choice(GENRES)
  title, who, topic = rng.choice(TITLES), person(rng), rng.choice(TOPICS)
  very = rng.choice(INTENSIFIERS)
  templates = [
      "%s is %s%s ." % (film, very, a1),
      "%s is %s and %s ." % (film, a1, a2),
      "%s , %s %s ." % (with_article(a1), a2, genre),
      "%s , %s and %s ." % (a1, a2, a3),
      "%s is %s ." % (film, rng.choice(NOUNS[label])),
      "%s ." % rng.choice(NOUNS[label]),
      "%s %s ." % (adverb, a1),
      "%s is %s%s ." % (aspect, very, a1),
      "%s %s ." % (film, rng.choice(VERBS[label])),
      "%s %s in %s ." % (who, rng.choice(VERBS[label]), title),
      "%s gives %s performance as %s ." % (who, with_article(a1),
                                           rng.choice(ROLES)),
      "as %s , %s is %s ." % (rng.choice(ROLES), who, a1),
      "%s %s %s about %s ." % (with_article(adverb), a1, genre, topic),
      "%s %s %s ." % (with_article(a1), rng.choice(LOOKS), topic),
      "%s , %s about %s , is %s ." % (title, with_article(genre), topic, a1),
      "for %s about %s , %s is %s ." % (with_article(genre), topic, film, a1),
      "like %s 's earlier work , %s is %s ." % (who, film, a1),
      "%s is %s at times , but %s overall ." % (film, contrary, a1),
      "despite %s moments , %s is %s ." % (contrary, film, a1),
      "%s is %s , but %s is %s ." % (aspect, contrary, film, a1),
      "%s is not %s ; it is %s ." % (film, contrary, a1),
      "%s is never %s ." % (film, contrary),
      "%s is n't %s%s ." % (film, very, contrary),
      "there is nothing %s about %s ." % (contrary, film),
      "%s , and %s ." % (a1, clause),
      "%s is so %s that %s ." % (film, a1, clause),
      "%s : %s ." % (aspect, clause),
      "%s makes %s %s ." % (aspect, film, a1),
      "one of the most %s %ss in years ." % (a1, genre),
      "%s is %s from start to finish ." % (film, a1),
      "it 's %s%s , and %s ." % (very, a1, clause),
      "the kind of %s that %s ." % (genre, rng.choice(KINDS[label])),
      "%s , %s %s about %s ." % (a1, a2, genre, topic),
      "%s %s ." % (rng.choice(CARRIED[label]), aspect),
      "%s sounds %s on paper , but %s ." % (
          rng.choice(["the premise", "the idea", "the plot"]), contrary,
          clause),
      "%s has %s %s and %s %s ." % (
          film, with_article(a1), aspect.split()[-1], with_article(a2),
          rng.choice(ASPECTS).split()[-1]),
      "%s proves %s can %s ." % (title, who, rng.choice(PROVES[label])),
      "%s %s%s ." % (rng.choice(["i found it", "you will find it",
                                 "most viewers will find it", "it feels",
                                 "it seems"]), very, a1),
      "%s is %s than %s ." % (
          film, rng.choice(COMPARED[label]),
          rng.choice(["it has any right to be", "you might expect",
                      "the first film", "its trailer suggests"])),
  ]
  return " ".join(rng.choice(templates).split())


def sentences(rng, count, seen):
  """`count` (sentence, label) pairs not in `seen`, half of each label."""
  rows = []
  for label in (1, 0):
    made = 0
    while made < count // 2:
      text = review(rng, label)
      if text not in seen:
        seen.add(text)
        rows.append((text, label))
        made += 1
  rng.shuffle(rows)
  return rows


def main(out_dir=HERE):
  rng = random.Random(SEED)
  seen = set(HELD_OUT)
  for split, count in COUNTS:
    rows = sentences(rng, count, seen)
    with open(os.path.join(out_dir, "%s.tsv" % split), "w",
              encoding="utf-8") as f:
      if split == "test":
        f.write("index\tsentence\n")
        f.writelines("%d\t%s\n" % (i, text) for i, (text, _) in
                     enumerate(rows))
      else:
        f.write("sentence\tlabel\n")
        f.writelines("%s\t%d\n" % row for row in rows)


if __name__ == "__main__":
  main(*sys.argv[1:])
