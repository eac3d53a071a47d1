"""Every public name of both originals exists here, with a compatible signature.

The lists below were written from reading the two releases users import:

  * google-research/bert master (commit eedf571): its modules' classes,
    methods, functions (with their parameters and literal defaults) and
    flags, plus the private helpers its own unit tests and users' processor
    subclasses call (`tokenization._is_whitespace`, `_create_examples`, ...);
  * the PyPI release bert-tensorflow 1.0.4, where it adds to or differs from
    master: the einsum dense layers and `get_word_embedding_output` in
    modeling, `tokenization.preserve_token` and its flag
    `--preserve_unused_tokens`, `BasicTokenizer(do_lower_case, vocab)`, and
    `--tpu_job_name`. (1.0.4 predates whole-word masking, so it has no name
    that master lacks elsewhere.)

A signature here is compatible when the original's parameters come first, in
the same order, with the same defaults; new parameters may follow them.
Flags are checked in a process that imports the script alone, as a user runs
it.
"""

import ast
import inspect
import importlib
import json
import os
import subprocess
import sys

import pytest

import run_classifier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MASTER = {
    "modeling": [
        "BertConfig",
        "BertConfig.__init__(vocab_size, hidden_size=768, "
        "num_hidden_layers=12, num_attention_heads=12, "
        "intermediate_size=3072, hidden_act='gelu', hidden_dropout_prob=0.1, "
        "attention_probs_dropout_prob=0.1, max_position_embeddings=512, "
        "type_vocab_size=16, initializer_range=0.02)",
        "BertConfig.from_dict(json_object)",
        "BertConfig.from_json_file(json_file)",
        "BertConfig.to_dict()",
        "BertConfig.to_json_string()",
        "BertModel",
        "BertModel.__init__(config, is_training, input_ids, input_mask=None, "
        "token_type_ids=None, use_one_hot_embeddings=False, scope=None)",
        "BertModel.get_pooled_output()",
        "BertModel.get_sequence_output()",
        "BertModel.get_all_encoder_layers()",
        "BertModel.get_embedding_output()",
        "BertModel.get_embedding_table()",
        "gelu(x)",
        "get_activation(activation_string)",
        "get_assignment_map_from_checkpoint(tvars, init_checkpoint)",
        "dropout(input_tensor, dropout_prob)",
        "layer_norm(input_tensor, name=None)",
        "layer_norm_and_dropout(input_tensor, dropout_prob, name=None)",
        "create_initializer(initializer_range=0.02)",
        "embedding_lookup(input_ids, vocab_size, embedding_size=128, "
        "initializer_range=0.02, word_embedding_name='word_embeddings', "
        "use_one_hot_embeddings=False)",
        "embedding_postprocessor(input_tensor, use_token_type=False, "
        "token_type_ids=None, token_type_vocab_size=16, "
        "token_type_embedding_name='token_type_embeddings', "
        "use_position_embeddings=True, "
        "position_embedding_name='position_embeddings', "
        "initializer_range=0.02, max_position_embeddings=512, "
        "dropout_prob=0.1)",
        "create_attention_mask_from_input_mask(from_tensor, to_mask)",
        "attention_layer(from_tensor, to_tensor, attention_mask=None, "
        "num_attention_heads=1, size_per_head=512, query_act=None, "
        "key_act=None, value_act=None, attention_probs_dropout_prob=0.0, "
        "initializer_range=0.02, do_return_2d_tensor=False, batch_size=None, "
        "from_seq_length=None, to_seq_length=None)",
        "transformer_model(input_tensor, attention_mask=None, "
        "hidden_size=768, num_hidden_layers=12, num_attention_heads=12, "
        "intermediate_size=3072, intermediate_act_fn=gelu, "
        "hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, "
        "initializer_range=0.02, do_return_all_layers=False)",
        "get_shape_list(tensor, expected_rank=None, name=None)",
        "reshape_to_matrix(input_tensor)",
        "reshape_from_matrix(output_tensor, orig_shape_list)",
        "assert_rank(tensor, expected_rank, name=None)",
    ],
    "optimization": [
        "create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps, "
        "use_tpu)",
        "AdamWeightDecayOptimizer",
        "AdamWeightDecayOptimizer.__init__(learning_rate, "
        "weight_decay_rate=0.0, beta_1=0.9, beta_2=0.999, epsilon=1e-06, "
        "exclude_from_weight_decay=None, name='AdamWeightDecayOptimizer')",
        "AdamWeightDecayOptimizer.apply_gradients(grads_and_vars, "
        "global_step=None, name=None)",
        "AdamWeightDecayOptimizer._do_use_weight_decay(param_name)",
        "AdamWeightDecayOptimizer._get_variable_name(param_name)",
    ],
    "tokenization": [
        "validate_case_matches_checkpoint(do_lower_case, init_checkpoint)",
        "convert_to_unicode(text)",
        "printable_text(text)",
        "load_vocab(vocab_file)",
        "convert_by_vocab(vocab, items)",
        "convert_tokens_to_ids(vocab, tokens)",
        "convert_ids_to_tokens(inv_vocab, ids)",
        "whitespace_tokenize(text)",
        "FullTokenizer",
        "FullTokenizer.__init__(vocab_file, do_lower_case=True)",
        "FullTokenizer.tokenize(text)",
        "FullTokenizer.convert_tokens_to_ids(tokens)",
        "FullTokenizer.convert_ids_to_tokens(ids)",
        "BasicTokenizer",
        "BasicTokenizer.__init__(do_lower_case=True)",
        "BasicTokenizer.tokenize(text)",
        "BasicTokenizer._run_strip_accents(text)",
        "BasicTokenizer._run_split_on_punc(text)",
        "BasicTokenizer._tokenize_chinese_chars(text)",
        "BasicTokenizer._is_chinese_char(cp)",
        "BasicTokenizer._clean_text(text)",
        "WordpieceTokenizer",
        "WordpieceTokenizer.__init__(vocab, unk_token='[UNK]', "
        "max_input_chars_per_word=200)",
        "WordpieceTokenizer.tokenize(text)",
        "_is_whitespace(char)",
        "_is_control(char)",
        "_is_punctuation(char)",
    ],
    "run_classifier": [
        "FLAGS",
        "InputExample",
        "InputExample.__init__(guid, text_a, text_b=None, label=None)",
        "PaddingInputExample",
        "InputFeatures",
        "InputFeatures.__init__(input_ids, input_mask, segment_ids, "
        "label_id, is_real_example=True)",
        "DataProcessor",
        "DataProcessor.get_train_examples(data_dir)",
        "DataProcessor.get_dev_examples(data_dir)",
        "DataProcessor.get_test_examples(data_dir)",
        "DataProcessor.get_labels()",
        "DataProcessor._read_tsv(input_file, quotechar=None)",
        "XnliProcessor",
        "XnliProcessor.__init__()",
        "XnliProcessor.get_train_examples(data_dir)",
        "XnliProcessor.get_dev_examples(data_dir)",
        "XnliProcessor.get_labels()",
        "MnliProcessor",
        "MnliProcessor.get_train_examples(data_dir)",
        "MnliProcessor.get_dev_examples(data_dir)",
        "MnliProcessor.get_test_examples(data_dir)",
        "MnliProcessor.get_labels()",
        "MnliProcessor._create_examples(lines, set_type)",
        "MrpcProcessor",
        "MrpcProcessor.get_train_examples(data_dir)",
        "MrpcProcessor.get_dev_examples(data_dir)",
        "MrpcProcessor.get_test_examples(data_dir)",
        "MrpcProcessor.get_labels()",
        "MrpcProcessor._create_examples(lines, set_type)",
        "ColaProcessor",
        "ColaProcessor.get_train_examples(data_dir)",
        "ColaProcessor.get_dev_examples(data_dir)",
        "ColaProcessor.get_test_examples(data_dir)",
        "ColaProcessor.get_labels()",
        "ColaProcessor._create_examples(lines, set_type)",
        "convert_single_example(ex_index, example, label_list, "
        "max_seq_length, tokenizer)",
        "file_based_convert_examples_to_features(examples, label_list, "
        "max_seq_length, tokenizer, output_file)",
        "file_based_input_fn_builder(input_file, seq_length, is_training, "
        "drop_remainder)",
        "_truncate_seq_pair(tokens_a, tokens_b, max_length)",
        "create_model(bert_config, is_training, input_ids, input_mask, "
        "segment_ids, labels, num_labels, use_one_hot_embeddings)",
        "model_fn_builder(bert_config, num_labels, init_checkpoint, "
        "learning_rate, num_train_steps, num_warmup_steps, use_tpu, "
        "use_one_hot_embeddings)",
        "input_fn_builder(features, seq_length, is_training, drop_remainder)",
        "convert_examples_to_features(examples, label_list, max_seq_length, "
        "tokenizer)",
        "main(_)",
    ],
    "run_squad": [
        "FLAGS",
        "SquadExample",
        "SquadExample.__init__(qas_id, question_text, doc_tokens, "
        "orig_answer_text=None, start_position=None, end_position=None, "
        "is_impossible=False)",
        "SquadExample.__str__()",
        "SquadExample.__repr__()",
        "InputFeatures",
        "InputFeatures.__init__(unique_id, example_index, doc_span_index, "
        "tokens, token_to_orig_map, token_is_max_context, input_ids, "
        "input_mask, segment_ids, start_position=None, end_position=None, "
        "is_impossible=None)",
        "read_squad_examples(input_file, is_training)",
        "convert_examples_to_features(examples, tokenizer, max_seq_length, "
        "doc_stride, max_query_length, is_training, output_fn)",
        "_improve_answer_span(doc_tokens, input_start, input_end, tokenizer, "
        "orig_answer_text)",
        "_check_is_max_context(doc_spans, cur_span_index, position)",
        "create_model(bert_config, is_training, input_ids, input_mask, "
        "segment_ids, use_one_hot_embeddings)",
        "model_fn_builder(bert_config, init_checkpoint, learning_rate, "
        "num_train_steps, num_warmup_steps, use_tpu, use_one_hot_embeddings)",
        "input_fn_builder(input_file, seq_length, is_training, "
        "drop_remainder)",
        "RawResult",
        "write_predictions(all_examples, all_features, all_results, "
        "n_best_size, max_answer_length, do_lower_case, "
        "output_prediction_file, output_nbest_file, "
        "output_null_log_odds_file)",
        "get_final_text(pred_text, orig_text, do_lower_case)",
        "_get_best_indexes(logits, n_best_size)",
        "_compute_softmax(scores)",
        "FeatureWriter",
        "FeatureWriter.__init__(filename, is_training)",
        "FeatureWriter.process_feature(feature)",
        "FeatureWriter.close()",
        "validate_flags_or_throw(bert_config)",
        "main(_)",
    ],
    "run_pretraining": [
        "FLAGS",
        "model_fn_builder(bert_config, init_checkpoint, learning_rate, "
        "num_train_steps, num_warmup_steps, use_tpu, use_one_hot_embeddings)",
        "get_masked_lm_output(bert_config, input_tensor, output_weights, "
        "positions, label_ids, label_weights)",
        "get_next_sentence_output(bert_config, input_tensor, labels)",
        "gather_indexes(sequence_tensor, positions)",
        "input_fn_builder(input_files, max_seq_length, "
        "max_predictions_per_seq, is_training, num_cpu_threads=4)",
        "_decode_record(record, name_to_features)",
        "main(_)",
    ],
    "create_pretraining_data": [
        "FLAGS",
        "TrainingInstance",
        "TrainingInstance.__init__(tokens, segment_ids, masked_lm_positions, "
        "masked_lm_labels, is_random_next)",
        "TrainingInstance.__str__()",
        "TrainingInstance.__repr__()",
        "write_instance_to_example_files(instances, tokenizer, "
        "max_seq_length, max_predictions_per_seq, output_files)",
        "create_int_feature(values)",
        "create_float_feature(values)",
        "create_training_instances(input_files, tokenizer, max_seq_length, "
        "dupe_factor, short_seq_prob, masked_lm_prob, "
        "max_predictions_per_seq, rng)",
        "create_instances_from_document(all_documents, document_index, "
        "max_seq_length, short_seq_prob, masked_lm_prob, "
        "max_predictions_per_seq, vocab_words, rng)",
        "MaskedLmInstance",
        "create_masked_lm_predictions(tokens, masked_lm_prob, "
        "max_predictions_per_seq, vocab_words, rng)",
        "truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)",
        "main(_)",
    ],
    "extract_features": [
        "FLAGS",
        "InputExample",
        "InputExample.__init__(unique_id, text_a, text_b)",
        "InputFeatures",
        "InputFeatures.__init__(unique_id, tokens, input_ids, input_mask, "
        "input_type_ids)",
        "input_fn_builder(features, seq_length)",
        "model_fn_builder(bert_config, init_checkpoint, layer_indexes, "
        "use_tpu, use_one_hot_embeddings)",
        "convert_examples_to_features(examples, seq_length, tokenizer)",
        "_truncate_seq_pair(tokens_a, tokens_b, max_length)",
        "read_examples(input_file)",
        "main(_)",
    ],
    "run_classifier_with_tfhub": [
        "FLAGS",
        "create_model(is_training, input_ids, input_mask, segment_ids, "
        "labels, num_labels, bert_hub_module_handle)",
        "model_fn_builder(num_labels, learning_rate, num_train_steps, "
        "num_warmup_steps, use_tpu, bert_hub_module_handle)",
        "create_tokenizer_from_hub_module(bert_hub_module_handle)",
        "main(_)",
    ],
}

RELEASE_1_0_4 = {
    "modeling": [
        "BertModel.get_word_embedding_output()",
        "dense_layer_3d(input_tensor, num_attention_heads, head_size, "
        "initializer, activation, name=None)",
        "dense_layer_3d_proj(input_tensor, hidden_size, head_size, "
        "initializer, activation, name=None)",
        "dense_layer_2d(input_tensor, output_size, initializer, activation, "
        "name=None)",
    ],
    "tokenization": [
        "preserve_token(token, vocab)",
        "BasicTokenizer.__init__(do_lower_case=True, vocab=())",
        "FullTokenizer.__init__(vocab_file, do_lower_case=True)",
    ],
}

# Provided by the modeling work of issue 18 on another branch: expected to
# fail until that lands (the lead removes this at merge).

_TRAINING_FLAGS = [
    "bert_config_file", "vocab_file", "output_dir", "init_checkpoint",
    "do_lower_case", "max_seq_length", "do_train", "learning_rate",
    "num_train_epochs", "warmup_proportion", "save_checkpoints_steps",
    "iterations_per_loop", "use_tpu", "tpu_name", "tpu_zone", "gcp_project",
    "master", "num_tpu_cores",
]
_CLASSIFIER_FLAGS = _TRAINING_FLAGS + [
    "data_dir", "task_name", "do_eval", "do_predict", "train_batch_size",
    "eval_batch_size", "predict_batch_size",
]

MASTER_FLAGS = {
    "run_classifier": _CLASSIFIER_FLAGS,
    "run_squad": _TRAINING_FLAGS + [
        "train_file", "predict_file", "doc_stride", "max_query_length",
        "do_predict", "train_batch_size", "predict_batch_size", "n_best_size",
        "max_answer_length", "verbose_logging", "version_2_with_negative",
        "null_score_diff_threshold"],
    "run_pretraining": [
        "bert_config_file", "input_file", "output_dir", "init_checkpoint",
        "max_seq_length", "max_predictions_per_seq", "do_train", "do_eval",
        "train_batch_size", "eval_batch_size", "learning_rate",
        "num_train_steps", "num_warmup_steps", "save_checkpoints_steps",
        "iterations_per_loop", "max_eval_steps", "use_tpu", "tpu_name",
        "tpu_zone", "gcp_project", "master", "num_tpu_cores"],
    "create_pretraining_data": [
        "input_file", "output_file", "vocab_file", "do_lower_case",
        "do_whole_word_mask", "max_seq_length", "max_predictions_per_seq",
        "random_seed", "dupe_factor", "masked_lm_prob", "short_seq_prob"],
    "extract_features": [
        "input_file", "output_file", "layers", "bert_config_file",
        "max_seq_length", "init_checkpoint", "vocab_file", "do_lower_case",
        "batch_size", "use_tpu", "master", "num_tpu_cores",
        "use_one_hot_embeddings"],
    # It imports run_classifier, so it has all of that script's flags too.
    "run_classifier_with_tfhub": _CLASSIFIER_FLAGS + ["bert_hub_module_handle"],
}

# tokenization.py defines --preserve_unused_tokens in 1.0.4, so every script
# that imports it has the flag.
RELEASE_1_0_4_FLAGS = {
    "run_classifier": ["tpu_job_name", "preserve_unused_tokens"],
    "run_squad": ["preserve_unused_tokens"],
    "create_pretraining_data": ["preserve_unused_tokens"],
    "extract_features": ["preserve_unused_tokens"],
    "run_classifier_with_tfhub": ["tpu_job_name", "preserve_unused_tokens"],
}


def _entries(release):
  for module, names in sorted(release.items()):
    for entry in names:
      name = entry.split("(")[0]
      yield pytest.param(module, entry, id="%s.%s" % (module, name))


def _parse(entry):
  """"A.b(x, y=1)" -> ("A.b", [("x", NO_DEFAULT), ("y", 1)]), or params None
  for a name without a signature."""
  if "(" not in entry:
    return entry, None
  function = ast.parse("def f(%s): pass" % entry.split("(", 1)[1][:-1]).body[0]
  args = function.args
  defaults = [_NO_DEFAULT] * (len(args.args) - len(args.defaults)) + [
      _literal(d) for d in args.defaults]
  return entry.split("(")[0], list(zip([a.arg for a in args.args], defaults))


_NO_DEFAULT = object()
_NOT_LITERAL = object()


def _literal(node):
  try:
    return ast.literal_eval(node)
  except ValueError:
    return _NOT_LITERAL  # e.g. `intermediate_act_fn=gelu`: not compared.


def _check(module_name, entry):
  name, params = _parse(entry)
  obj = importlib.import_module(module_name)
  for part in name.split("."):
    assert hasattr(obj, part), "%s.%s is missing" % (module_name, name)
    obj = getattr(obj, part)
  if params is None:
    return
  ours = [p for p in inspect.signature(obj).parameters.values()
          if p.name not in ("self", "cls")]
  names = [p.name for p in ours]
  assert names[:len(params)] == [n for n, _ in params], (
      "%s.%s%s: the original's parameters %s must come first" %
      (module_name, name, inspect.signature(obj), [n for n, _ in params]))
  for (param, default), p in zip(params, ours):
    if default is _NOT_LITERAL:
      continue
    if default is _NO_DEFAULT:
      assert p.default is inspect.Parameter.empty, (
          "%s.%s: %s has a default here, not in the original" %
          (module_name, name, param))
    else:
      assert p.default == default, "%s.%s: %s=%r, the original's is %r" % (
          module_name, name, param, p.default, default)
  # Anything new must be optional, so the original's calls still work.
  for p in ours[len(params):]:
    assert p.default is not inspect.Parameter.empty or p.kind in (
        p.VAR_POSITIONAL, p.VAR_KEYWORD), "%s.%s: new %s needs a default" % (
            module_name, name, p.name)


@pytest.mark.parametrize("module_name,entry", list(_entries(MASTER)))
def test_master_name_exists_with_compatible_signature(module_name, entry):
  _check(module_name, entry)


@pytest.mark.parametrize("module_name,entry", list(_entries(RELEASE_1_0_4)))
def test_release_1_0_4_name_exists_with_compatible_signature(module_name,
                                                             entry):
  _check(module_name, entry)


@pytest.fixture(scope="module")
def script_flags():
  """{script: its flag names}, each script imported alone in its own process
  (started together, so the imports overlap)."""
  code = ("import json, sys; sys.argv = ['x']; import %s; "
          "from absl import flags; print(json.dumps(sorted(flags.FLAGS)))")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  procs = {script: subprocess.Popen(
      [sys.executable, "-c", code % script], cwd=ROOT, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for script in MASTER_FLAGS}
  found = {}
  for script, proc in procs.items():
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    found[script] = set(json.loads(out.strip().splitlines()[-1]))
  return found


@pytest.mark.parametrize("release", ["master", "1.0.4"])
def test_every_flag_of_the_originals_exists(script_flags, release):
  wanted = MASTER_FLAGS if release == "master" else RELEASE_1_0_4_FLAGS
  missing = {script: sorted(set(names) - script_flags[script])
             for script, names in wanted.items()}
  assert not any(missing.values()), missing


def test_processor_subclass_written_against_the_original(tmp_path):
  """The original's pattern for a new task: `_read_tsv` a file and hand the
  rows, header included, to an inherited `_create_examples`."""
  path = tmp_path / "train.tsv"
  path.write_text("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                  "1\t1\t2\tthe cat sat\ta cat sat\n"
                  "0\t3\t4\ta dog ran\tit rained\n", encoding="utf-8")

  class MyMrpc(run_classifier.MrpcProcessor):

    def get_train_examples(self, data_dir):
      return self._create_examples(
          self._read_tsv(os.path.join(data_dir, "train.tsv")), "train")

  examples = MyMrpc().get_train_examples(str(tmp_path))
  assert [(e.text_a, e.text_b, e.label) for e in examples] == [
      ("the cat sat", "a cat sat", "1"), ("a dog ran", "it rained", "0")]
  assert [(e.text_a, e.text_b, e.label) for e in examples] == [
      (e.text_a, e.text_b, e.label)
      for e in run_classifier.MrpcProcessor().get_train_examples(
          str(tmp_path))]
  cola = run_classifier.ColaProcessor()._create_examples(
      [["src", "1", "", "good sentence"], ["src", "0", "*", "bad sentence"]],
      "dev")
  assert [(e.text_a, e.label) for e in cola] == [("good sentence", "1"),
                                                 ("bad sentence", "0")]
  mnli = run_classifier.MnliProcessor()._create_examples(
      [["index"] + ["x"] * 10, ["7"] + ["x"] * 7 + ["p", "h", "neutral"]],
      "test")
  assert [(e.guid, e.text_a, e.text_b, e.label) for e in mnli] == [
      ("test-7", "p", "h", "contradiction")]
