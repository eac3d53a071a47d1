"""Benchmarks create_pretraining_data.py: one process vs. sharded workers.

Builds a corpus of real sentences (the SentEval train.tsv files under
/work/shared/data, grouped into documents and reshuffled until the corpus
reaches --corpus_mb) and a vocab from it, all in a temporary directory, never
in the repository. Then it runs the command-line tool in each mode, polls
/proc for the memory of its process tree, and prints a table.

Usage:
  python benchmarks/bench_pretraining_data.py [--corpus_mb=12] [--dupe_factor=2]
      [--repeats=2]

Columns:
  work s       the tool's own timing, from reading input to the last rename
  wall s       including Python start-up and the TensorFlow import (~3 s)
  CPU s        user + system CPU of the tool and its workers
  inst/s       instances / work s
  max RSS      peak resident memory of the largest single process
  tree RSS     peak of the summed RSS of the tool and its workers (pages
               shared by forked workers count once per process)
  tree PSS     same with shared pages split between processes: the memory
               the run really holds
"""

import argparse
import collections
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tokenization  # pylint: disable=g-import-not-at-top

SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SUFFIXES = ["##s", "##ing", "##ed", "##ly", "##er", "##est", "##ness"]


def read_sentences():
  """Returns the sentences of every senteval/*/train.tsv file."""
  directory = os.path.join(SHARED_DATA, "senteval")
  sentences = []
  for task in sorted(os.listdir(directory)):
    path = os.path.join(directory, task, "train.tsv")
    if not os.path.exists(path):
      continue
    with open(path, encoding="utf-8") as f:
      for line in f:
        # The sentence is the long field; the label is 0 or 1, first or last.
        sentence = max(line.rstrip("\n").split("\t"), key=len).strip()
        if len(sentence) > 1:
          sentences.append(sentence)
  if not sentences:
    sys.exit("No sentences found under %s" % directory)
  return sentences


def write_corpus(directory, sentences, target_bytes, num_files, rng):
  """Writes documents of 2-15 sentences into `num_files` files.

  Sentences are reshuffled on every pass over them, so repeated text lands
  in new documents and new neighbours.
  """
  paths = [os.path.join(directory, "corpus-%d.txt" % i)
           for i in range(num_files)]
  files = [open(p, "w", encoding="utf-8") for p in paths]
  written = 0
  documents = 0
  while written < target_bytes:
    order = list(sentences)
    rng.shuffle(order)
    position = 0
    while position < len(order) and written < target_bytes:
      size = rng.randint(2, 15)
      text = "\n".join(order[position:position + size]) + "\n\n"
      position += size
      files[documents % num_files].write(text)
      written += len(text.encode("utf-8"))
      documents += 1
  for f in files:
    f.close()
  return paths, written, documents


def write_vocab(path, sentences, size):
  """Most frequent basic tokens, plus characters so every word tokenizes."""
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  counts = collections.Counter()
  for sentence in sentences:
    counts.update(basic.tokenize(sentence))
  chars = sorted(set("".join(counts)))
  vocab = list(SPECIAL)
  seen = set(vocab)
  candidates = ([w for w, _ in counts.most_common(size)] + chars +
                ["##" + c for c in chars] + SUFFIXES)
  for token in candidates:
    if token not in seen:
      seen.add(token)
      vocab.append(token)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
  return len(vocab)


def _children(pid):
  """Returns the ids of all descendants of `pid`."""
  parents = collections.defaultdict(list)
  for entry in os.listdir("/proc"):
    if not entry.isdigit():
      continue
    try:
      with open("/proc/%s/stat" % entry) as f:
        fields = f.read().rsplit(")", 1)[1].split()
      parents[int(fields[1])].append(int(entry))
    except (OSError, IndexError):
      continue
  found, stack = [], [pid]
  while stack:
    for child in parents.get(stack.pop(), []):
      found.append(child)
      stack.append(child)
  return found


def _memory_kb(pid):
  """Returns (RSS, PSS) of a process in kB, or (0, 0) once it is gone."""
  rss = pss = 0
  try:
    with open("/proc/%d/status" % pid) as f:
      for line in f:
        if line.startswith("VmRSS:"):
          rss = int(line.split()[1])
    with open("/proc/%d/smaps_rollup" % pid) as f:
      for line in f:
        if line.startswith("Pss:"):
          pss = int(line.split()[1])
  except OSError:
    pass
  return rss, pss


def _children_cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def run_measured(command, log_path):
  """Runs `command`, sampling its process tree's memory every 200 ms."""
  peak = {"max_rss": 0, "tree_rss": 0, "tree_pss": 0}
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  cpu_before = _children_cpu_seconds()
  start = time.time()
  with open(log_path, "w") as log:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               cwd=ROOT, env=env)
    while process.poll() is None:
      samples = [_memory_kb(p) for p in [process.pid] + _children(process.pid)]
      peak["max_rss"] = max([peak["max_rss"]] + [s[0] for s in samples])
      peak["tree_rss"] = max(peak["tree_rss"], sum(s[0] for s in samples))
      peak["tree_pss"] = max(peak["tree_pss"], sum(s[1] for s in samples))
      time.sleep(0.2)
  wall = time.time() - start
  # Workers are waited for by the tool, so their CPU time is included.
  cpu = _children_cpu_seconds() - cpu_before
  with open(log_path) as log:
    output = log.read()
  if process.returncode:
    sys.exit("Command failed (%d): %s\n%s" %
             (process.returncode, " ".join(command), output[-3000:]))
  match = re.search(r"Done: (\d+) documents, (\d+) instances in (\d+) files, "
                    r"([\d.]+)s", output)
  if not match:
    sys.exit("No summary line in the log of %s" % " ".join(command))
  return dict(peak, wall=wall, cpu=cpu, documents=int(match.group(1)),
              instances=int(match.group(2)), files=int(match.group(3)),
              work=float(match.group(4)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--corpus_mb", type=float, default=12.0)
  parser.add_argument("--num_files", type=int, default=4)
  parser.add_argument("--dupe_factor", type=int, default=2)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--max_predictions_per_seq", type=int, default=20)
  parser.add_argument("--documents_per_shard", type=int, default=1000)
  parser.add_argument("--num_workers", type=int, default=2)
  parser.add_argument("--vocab_size", type=int, default=20000)
  parser.add_argument("--repeats", type=int, default=2,
                      help="Runs per mode; the table shows the fastest run "
                      "and the highest memory, which damps noise from other "
                      "jobs on the machine.")
  parser.add_argument("--keep", action="store_true",
                      help="Keep the temporary directory.")
  args = parser.parse_args()

  directory = tempfile.mkdtemp(prefix="bench_pretraining_data-")
  try:
    rng = random.Random(0)
    sentences = read_sentences()
    inputs, size, documents = write_corpus(
        directory, sentences, int(args.corpus_mb * 1e6), args.num_files, rng)
    vocab_file = os.path.join(directory, "vocab.txt")
    vocab_size = write_vocab(vocab_file, sentences, args.vocab_size)
    print("Corpus: %.1f MB, %d documents in %d files, from %d distinct "
          "sentences; vocab %d; dupe_factor %d, max_seq_length %d; %d CPUs" %
          (size / 1e6, documents, len(inputs), len(sentences), vocab_size,
           args.dupe_factor, args.max_seq_length, os.cpu_count()))

    common = [
        sys.executable, os.path.join(ROOT, "create_pretraining_data.py"),
        "--input_file=" + ",".join(inputs), "--vocab_file=" + vocab_file,
        "--dupe_factor=%d" % args.dupe_factor,
        "--max_seq_length=%d" % args.max_seq_length,
        "--max_predictions_per_seq=%d" % args.max_predictions_per_seq,
    ]
    sharded = ["--shard_mode=documents",
               "--documents_per_shard=%d" % args.documents_per_shard]
    runs = [
        ("single process (shard_mode=none)", ["--shard_mode=none"]),
        ("sharded, 1 worker", sharded + ["--num_workers=1"]),
        ("sharded, %d workers" % args.num_workers,
         sharded + ["--num_workers=%d" % args.num_workers]),
    ]
    baseline = run_measured_import(directory)
    results = []
    for index, (name, extra) in enumerate(runs):
      output = os.path.join(directory, "out-%d" % index, "examples")
      repeats = [
          run_measured(common + extra + ["--output_file=" + output],
                       os.path.join(directory, "log-%d.txt" % index))
          for _ in range(args.repeats)
      ]
      results.append((name, combine(repeats)))
      print("  done: %s (work s per run: %s)" %
            (name, ", ".join("%.1f" % r["work"] for r in repeats)),
            flush=True)

    print()
    print("| mode | files | instances | work s | wall s | CPU s | inst/s "
          "| max RSS MB | tree RSS MB | tree PSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results:
      print("| %s | %d | %d | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f | %.0f |"
            % (name, r["files"], r["instances"], r["work"], r["wall"],
               r["cpu"], r["instances"] / r["work"], r["max_rss"] / 1024.0,
               r["tree_rss"] / 1024.0, r["tree_pss"] / 1024.0))
    print("| baseline: python, import tensorflow + tokenization | | | | "
          "%.1f | %.1f | | %.0f | %.0f | %.0f |" %
          (baseline["wall"], baseline["cpu"], baseline["max_rss"] / 1024.0,
           baseline["tree_rss"] / 1024.0, baseline["tree_pss"] / 1024.0))
    print("Load average after the runs (other jobs share the CPUs): %.2f" %
          os.getloadavg()[0])
  finally:
    if args.keep:
      print("Kept %s" % directory)
    else:
      shutil.rmtree(directory, ignore_errors=True)


def combine(repeats):
  """The fastest run's times, and the highest memory seen in any run."""
  best = dict(min(repeats, key=lambda r: r["work"]))
  for key in ("max_rss", "tree_rss", "tree_pss"):
    best[key] = max(r[key] for r in repeats)
  return best


def run_measured_import(directory):
  """Memory of a process that only imports what the tool imports."""
  command = [sys.executable, "-c",
             "import tensorflow.compat.v1, tokenization; "
             "print('Done: 0 documents, 0 instances in 0 files, 0.0s')"]
  return run_measured(command, os.path.join(directory, "log-baseline.txt"))


if __name__ == "__main__":
  main()
