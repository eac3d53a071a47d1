"""The wheel is a drop-in for bert-tensorflow: package `bert`, same modules.

Builds the wheel from a copy of the checkout's files (no network, no build
isolation), installs it with no dependencies into a fresh virtualenv that
sees the running interpreter's TensorFlow (a venv's too), and from a
directory outside the checkout runs the PyPI release's import lines and a
forward pass of a tiny model.
"""

import glob
import os
import shutil
import site
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What code written against bert-tensorflow imports.
USER_CODE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow.compat.v1 as tf
    from bert import modeling, optimization, tokenization
    from bert import run_classifier, run_squad, run_pretraining
    from bert import create_pretraining_data, extract_features
    import bert

    tf.disable_eager_execution()
    # The flat names the modules use among themselves are the same objects.
    assert sys.modules["modeling"] is modeling
    assert run_classifier.modeling is modeling
    assert run_classifier.tokenization is tokenization

    with open(sys.argv[1], "w") as f:
      f.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world"])
              + "\\n")
    tokenizer = tokenization.FullTokenizer(sys.argv[1], do_lower_case=True)
    ids = tokenizer.convert_tokens_to_ids(
        ["[CLS]"] + tokenizer.tokenize("Hello WORLD") + ["[SEP]"])

    config = modeling.BertConfig(vocab_size=6, hidden_size=16,
                                 num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32)
    model = modeling.BertModel(config=config, is_training=False,
                               input_ids=tf.constant([ids]))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      pooled = sess.run(model.get_pooled_output())
    print(json.dumps({"ids": ids, "pooled_shape": list(pooled.shape),
                      "finite": bool(np.isfinite(pooled).all()),
                      "package": bert.__file__,
                      "processors": sorted(run_classifier.MrpcProcessor
                                           .__module__.split("."))}))
""")


def _run(cmd, cwd, **kwargs):
  proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                        timeout=600, **kwargs)
  assert proc.returncode == 0, "%s\n%s\n%s" % (cmd, proc.stdout[-2000:],
                                               proc.stderr[-3000:])
  return proc


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory):
  """The python of a fresh venv with the wheel of this checkout installed."""
  tmp = tmp_path_factory.mktemp("packaging")
  source = tmp / "source"
  source.mkdir()
  # A copy, so that the build's own files never land in the checkout.
  for path in glob.glob(os.path.join(ROOT, "*.py")) + [
      os.path.join(ROOT, name)
      for name in ("pyproject.toml", "requirements.txt", "README.md")]:
    shutil.copy(path, str(source))
  dist = tmp / "dist"
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
        "--no-build-isolation", "--no-index", "-q", "-w", str(dist),
        str(source)], cwd=str(tmp))
  (wheel,) = glob.glob(str(dist / "*.whl"))
  venv = tmp / "venv"
  _run([sys.executable, "-m", "venv", str(venv)], cwd=str(tmp))
  python = str(venv / "bin" / "python")
  # The new venv sees this interpreter's packages (TensorFlow), also when
  # this one is itself a virtualenv, whose packages --system-site-packages
  # would miss: a .pth file lists them after the venv's own.
  venv_site = _run([python, "-c", "import sysconfig; "
                    "print(sysconfig.get_paths()['purelib'])"],
                   cwd=str(tmp)).stdout.strip()
  with open(os.path.join(venv_site, "outer_site_packages.pth"), "w") as f:
    f.write("\n".join(site.getsitepackages()) + "\n")
  _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
        wheel], cwd=str(tmp))
  return python, tmp


def test_wheel_gives_the_pypi_release_imports_and_a_forward_pass(venv_python):
  import json  # pylint: disable=g-import-not-at-top
  python, tmp = venv_python
  outside = tmp / "elsewhere"
  outside.mkdir()
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("PYTHONPATH", None)
  proc = _run([python, "-c", USER_CODE, str(outside / "vocab.txt")],
              cwd=str(outside), env=env)
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result["ids"] == [2, 4, 5, 3]
  assert result["pooled_shape"] == [1, 16]
  assert result["finite"]
  # The installed copy, not the checkout.
  assert os.path.join(str(tmp), "venv") in result["package"]
  assert not result["package"].startswith(ROOT + os.sep)
  # run_classifier.MrpcProcessor is the package's classifier_tasks one.
  assert result["processors"] == ["bert", "classifier_tasks"]


def test_installed_script_runs_as_a_module(venv_python):
  """`python -m bert.<script>` runs the installed script end to end."""
  python, tmp = venv_python
  work = tmp / "script"
  work.mkdir()
  (work / "vocab.txt").write_text(
      "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\ndog\nran\n")
  (work / "in.txt").write_text("the cat sat\nthe dog ran\n\nthe cat ran\n"
                               "the dog sat\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("PYTHONPATH", None)
  _run([python, "-m", "bert.create_pretraining_data", "--input_file=in.txt",
        "--output_file=out.tfrecord", "--vocab_file=vocab.txt",
        "--max_seq_length=16", "--max_predictions_per_seq=3",
        "--dupe_factor=1", "--preserve_unused_tokens"], cwd=str(work), env=env)
  assert (work / "out.tfrecord").stat().st_size > 0
