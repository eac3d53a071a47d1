"""An example of a task of your own: the SentEval sentence classification sets.

Each set is a directory with `train.tsv` and `dev.tsv` of one sentence and a
0/1 label per line; some sets put the label first (`label<TAB>sentence`), others
last (`sentence<TAB>label`), so the label column is found by looking at the
data. Load it without editing run_classifier.py:

  python run_classifier.py --processor_module=examples/senteval_tasks.py \
      --task_name=senteval --data_dir=../shared/data/senteval/SST2 ...
"""

import os

import run_classifier


class SentEvalProcessor(run_classifier.DataProcessor):
  """Single-sentence binary classification; `dev.tsv` doubles as test set."""

  def get_train_examples(self, data_dir):
    return self._create(os.path.join(data_dir, "train.tsv"), "train")

  def get_dev_examples(self, data_dir):
    return self._create(os.path.join(data_dir, "dev.tsv"), "dev")

  def get_test_examples(self, data_dir):
    return self._create(os.path.join(data_dir, "dev.tsv"), "test")

  def get_labels(self):
    return ["0", "1"]

  def _create(self, path, set_type):
    rows = self._read_rows(path, min_columns=2)
    label_column = self._label_column(rows, path)
    text_column = 1 - label_column
    return [
        run_classifier.InputExample(
            guid="%s-%d" % (set_type, i),
            text_a=row[text_column],
            label=row[label_column])
        for i, (_, row) in enumerate(rows)
    ]

  def _label_column(self, rows, path):
    """The column (0 or 1) whose every value is a label."""
    labels = set(self.get_labels())
    for column in (0, 1):
      if all(row[column] in labels for _, row in rows):
        return column
    raise ValueError("%s: neither column 0 nor column 1 holds only labels %s." %
                     (path, sorted(labels)))


run_classifier.register_processor("senteval", SentEvalProcessor)
