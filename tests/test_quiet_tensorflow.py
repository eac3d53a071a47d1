"""Tests of quiet_tensorflow: TensorFlow's C++ start-up noise is dropped, the
rest of what its import prints is kept."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, pythonpath, **env):
  base = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  return subprocess.run(
      [sys.executable, "-c", code], capture_output=True, text=True,
      env=dict(base, PYTHONPATH=os.pathsep.join(pythonpath), **env))


def test_known_lines_dropped_others_kept(tmp_path):
  # A stand-in `tensorflow` that prints as the real one does: straight to
  # descriptor 2, noise mixed with a line that matters.
  fake = tmp_path / "tensorflow"
  fake.mkdir()
  (fake / "__init__.py").write_text(
      "import os\n"
      "os.write(2, b'2026-01-01 E cuda_dnn.cc:9261] Unable to register cuDNN "
      "factory: Attempting to register factory\\n'\n"
      "            b'2026-01-01 E real problem: libfoo.so not found\\n'\n"
      "            b'2026-01-01 W py_utils.cc:38] TF-TRT Warning: Could not "
      "find TensorRT\\n')\n")
  proc = run_python("import quiet_tensorflow, tensorflow, sys; "
                    "sys.stdout.write(tensorflow.__file__)",
                    [str(tmp_path), ROOT])
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout == str(fake / "__init__.py")
  assert proc.stderr == "2026-01-01 E real problem: libfoo.so not found\n"
  # The user's own TF_CPP_MIN_LOG_LEVEL wins: the output is unfiltered.
  shown = run_python("import quiet_tensorflow, tensorflow",
                     [str(tmp_path), ROOT], TF_CPP_MIN_LOG_LEVEL="0")
  assert shown.stderr.count("\n") == 3 and "cuDNN" in shown.stderr


def test_onednn_turned_on_before_tensorflow_unless_the_user_chose(tmp_path):
  # A stand-in `tensorflow` that reports the variable as its import saw it.
  fake = tmp_path / "tensorflow"
  fake.mkdir()
  (fake / "__init__.py").write_text(
      "import os, sys\n"
      "sys.stdout.write(os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset'))\n")
  base = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  for user, seen in ((None, "1"), ("0", "0"), ("1", "1")):
    env = dict(base, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    if user is not None:
      env["TF_ENABLE_ONEDNN_OPTS"] = user
    proc = subprocess.run([sys.executable, "-c", "import quiet_tensorflow"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == seen, (user, proc.stdout)


def test_importing_modeling_prints_no_cuda_registration_errors():
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
  proc = subprocess.run([sys.executable, "-c", "import modeling"],
                        capture_output=True, text=True, cwd=ROOT, env=env)
  assert proc.returncode == 0, proc.stderr
  assert "Unable to register" not in proc.stderr
  assert "TensorRT" not in proc.stderr
