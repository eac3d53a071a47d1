"""Writes the small SQuAD-format sample in this folder.

Six short paragraphs and their questions, all written for this project
(invented places, people and dates), as the four files of SQuAD's layout:

  train-v1.1.json, dev-v1.1.json   every question answerable (SQuAD 1.1)
  train-v2.0.json, dev-v2.0.json   the same questions plus unanswerable ones
                                   (`is_impossible`, `plausible_answers`)

  python data/squad/make_data.py [output_dir]   # default: this folder

Answers are written here as text; their `answer_start` is computed, and an
answer that is not in its paragraph, or that occurs there more than once
without an anchor saying which occurrence is meant, stops the script.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# An answer is its text, or (text, anchor): the occurrence of the text inside
# the anchor phrase, which must occur once in the paragraph. A dev question
# has a list of acceptable answers, the first the main one.
TRAIN = [
    ("The Kestrel Water ferry",
     "A small ferry called the Marigold has crossed Kestrel Water since "
     "1908, linking the villages of Hobb's End and Carrow. The crossing is "
     "1.6 kilometres long and takes about twelve minutes. The first Marigold "
     "was a rowing boat worked by a ferryman named Walter Pike; the present "
     "boat, the fourth to carry the name, was built in 1972 and runs on a "
     "diesel engine. It can carry forty passengers and their bicycles but no "
     "cars. In winter the ferry runs only at weekends, because ice sometimes "
     "forms along the eastern shore.",
     [("What is the ferry on Kestrel Water called?",
       ("Marigold", "called the Marigold")),
      ("Since when has the ferry crossed Kestrel Water?", "1908"),
      ("Which villages does the ferry link?", "Hobb's End and Carrow"),
      ("How long is the crossing?", "1.6 kilometres"),
      ("How long does the crossing take?", "about twelve minutes"),
      ("Who worked the first Marigold?", "Walter Pike"),
      ("When was the present boat built?", "1972"),
      ("How many passengers can the ferry carry?", "forty"),
      ("Why does the ferry run only at weekends in winter?",
       "ice sometimes forms along the eastern shore")],
     [("When was the second Marigold built?", "1972"),
      ("How many cars can the ferry carry?", "forty"),
      ("Who is the ferryman of the present boat?", "Walter Pike")]),
    ("The Wren Street library",
     "The public library on Wren Street in Dunmere was opened in 1896 with "
     "money left to the town by a doctor, Helena Vos. Its reading room has a "
     "glass dome that was restored in 2015 after a storm broke eleven of its "
     "panes. The library lends about 60,000 books a year and keeps a "
     "collection of local maps going back to the sixteenth century. Every "
     "Tuesday evening a chess club meets in the basement, and on the first "
     "Saturday of each month volunteers repair damaged books in the bindery.",
     [("In which town is the library on Wren Street?", "Dunmere"),
      ("When was the library opened?", "1896"),
      ("Whose money paid for the library?", "Helena Vos"),
      ("What does the reading room have?", "a glass dome"),
      ("When was the glass dome restored?", "2015"),
      ("How many panes did the storm break?", "eleven"),
      ("How many books does the library lend a year?", "about 60,000"),
      ("How far back do the local maps go?", "the sixteenth century"),
      ("When does the chess club meet?", "Every Tuesday evening"),
      ("What do volunteers do in the bindery?", "repair damaged books")],
     [("Who restored the glass dome?", "volunteers"),
      ("How many books does the library own?", "about 60,000")]),
    ("The River Alder",
     "The River Alder rises in the Calder Hills and flows south for 112 "
     "kilometres before it reaches the sea at Porth Venna. Along its upper "
     "course it passes through narrow wooded valleys where otters and "
     "kingfishers are common. Below the town of Ashby the river widens, and "
     "barges once carried slate and wool downstream to the harbour. A stone "
     "bridge with seven arches crosses the river at Ashby; it was finished "
     "in 1652 and is still used by cars today. Since 1998 a footpath has "
     "followed the whole length of the river.",
     [("Where does the River Alder rise?", "the Calder Hills"),
      ("How long is the River Alder?", "112 kilometres"),
      ("Where does the river reach the sea?", "Porth Venna"),
      ("Which animals are common in the wooded valleys?",
       "otters and kingfishers"),
      ("What did barges once carry downstream?", "slate and wool"),
      ("How many arches does the bridge at Ashby have?", "seven"),
      ("When was the stone bridge finished?", "1652"),
      ("Since when has a footpath followed the river?", "1998")],
     [("How long is the footpath along the River Calder?", "112 kilometres"),
      ("When did the barges stop carrying slate?", "1652")]),
    ("The lantern festival of Tessel",
     "Every November the village of Tessel holds a lantern festival on the "
     "first Friday after the harvest is in. Children spend the week before "
     "making lanterns from paper, willow sticks and glue, and on the night "
     "of the festival they carry them in a procession from the school to the "
     "village green. The custom is said to have begun in 1820, when a fog "
     "kept the fishing boats from finding the harbour and the villagers lit "
     "lanterns along the shore to guide them home. The procession ends with "
     "a bonfire and hot cider, and the best lantern is chosen by the oldest "
     "person in the village.",
     [("In which month is the lantern festival held?", "November"),
      ("What are the lanterns made from?", "paper, willow sticks and glue"),
      ("Where does the procession start?", "the school"),
      ("Where does the procession end?", "the village green"),
      ("When is the custom said to have begun?", "1820"),
      ("What kept the fishing boats from finding the harbour?", "a fog"),
      ("What is served after the procession?", "hot cider"),
      ("Who chooses the best lantern?",
       "the oldest person in the village")],
     [("Who won the prize for the best lantern in 1820?",
       "the oldest person in the village"),
      ("What is the name of the school?", ("Tessel", "village of Tessel"))]),
]

DEV = [
    ("The Marrowby clock tower",
     "The clock tower in the centre of Marrowby was paid for by a wool "
     "merchant named Elias Grove and completed in 1903. Its four faces are "
     "each three metres across, and the bell that strikes the hours weighs "
     "just over two tonnes. For most of the twentieth century the clock was "
     "wound by hand twice a week by the town's caretaker. An electric motor "
     "took over the winding in 1974. During repairs in 2011 workers found a "
     "tin box behind one of the faces holding a newspaper and a letter from "
     "the builders.",
     [("Who paid for the clock tower?",
       ["Elias Grove", "a wool merchant named Elias Grove"]),
      ("When was the clock tower completed?", ["1903"]),
      ("How wide is each face of the clock?",
       ["three metres", "three metres across"]),
      ("How much does the bell weigh?", ["just over two tonnes",
                                         "two tonnes"]),
      ("How often was the clock wound by hand?", ["twice a week"]),
      ("What took over the winding in 1974?",
       ["An electric motor", "electric motor"]),
      ("What did workers find behind one of the faces?", ["a tin box",
                                                          "tin box"])],
     [("Who built the electric motor?", "the builders"),
      ("How tall is the clock tower?", "three metres")]),
    ("The Greyfen Moss railway",
     "The Greyfen Moss Railway is a narrow-gauge line that runs for nine "
     "kilometres across a peat bog between the villages of Orrin and Low "
     "Brack. It opened in 1887 to carry cut peat to a drying shed near "
     "Orrin, and passenger carriages were added ten years later. The line "
     "closed in 1958 when the peat works shut down. A group of volunteers "
     "reopened the first three kilometres in 1996, and their steam engine, "
     "called Heron, now pulls visitors across the moss on summer weekends.",
     [("How long is the Greyfen Moss Railway?", ["nine kilometres"]),
      ("Which villages does the railway run between?",
       [("Orrin and Low Brack", "of Orrin and Low Brack"),
        "between the villages of Orrin and Low Brack"]),
      ("What did the railway carry when it opened?",
       [("cut peat", "carry cut peat"), ("peat", "cut peat")]),
      ("When did the line close?", ["1958"]),
      ("Who reopened the first three kilometres?",
       ["A group of volunteers", "volunteers"]),
      ("What is the name of the steam engine?", ["Heron"]),
      ("When does the steam engine pull visitors?",
       ["on summer weekends", "summer weekends"])],
     [("When were the passenger carriages taken off?", "1958"),
      ("What is the name of the drying shed?", ("Orrin", "near Orrin"))]),
]


def answer_dict(context, answer):
  """{"text", "answer_start"} of an answer given as text or (text, anchor)."""
  text, anchor = answer if isinstance(answer, tuple) else (answer, answer)
  count = context.count(anchor)
  if count != 1:
    raise ValueError("%r occurs %d times in the paragraph %r...; expected "
                     "once (give (text, anchor) to say which)" %
                     (anchor, count, context[:40]))
  return {"text": text,
          "answer_start": context.index(anchor) + anchor.index(text)}


def article(title, context, answerable, unanswerable, slug, is_dev,
            version_2):
  qas = []
  for i, (question, answers) in enumerate(answerable, 1):
    answers = answers if is_dev else [answers]
    qa = {"question": question, "id": "%s-q%d" % (slug, i),
          "answers": [answer_dict(context, a) for a in answers]}
    if version_2:
      qa["is_impossible"] = False
    qas.append(qa)
  if version_2:
    for i, (question, plausible) in enumerate(unanswerable, 1):
      qas.append({"question": question, "id": "%s-n%d" % (slug, i),
                  "answers": [], "is_impossible": True,
                  "plausible_answers": [answer_dict(context, plausible)]})
  return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}


def dataset(articles, is_dev, version_2):
  data = []
  for title, context, answerable, unanswerable in articles:
    slug = title.split()[1].lower()
    data.append(article(title, context, answerable, unanswerable, slug,
                        is_dev, version_2))
  return {"version": "v2.0" if version_2 else "1.1", "data": data}


def main(output_dir):
  for split, articles in (("train", TRAIN), ("dev", DEV)):
    for version_2, suffix in ((False, "v1.1"), (True, "v2.0")):
      path = os.path.join(output_dir, "%s-%s.json" % (split, suffix))
      with open(path, "w", encoding="utf-8") as f:
        json.dump(dataset(articles, split == "dev", version_2), f, indent=1,
                  ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else HERE)
