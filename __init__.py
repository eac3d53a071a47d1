"""The package `bert` of an installed wheel: the same modules as bert-tensorflow.

`pip install .` (see pyproject.toml) installs the flat top-level files of this
checkout as the package `bert`, so that code written against the PyPI release
runs unchanged:

    from bert import modeling, optimization, tokenization, run_classifier

In the checkout the files stay plain scripts and modules, and import each
other by their flat names (`import modeling`), which is also how
`python run_classifier.py` runs. Inside the package those flat imports would
find nothing (or an unrelated `modeling.py` of the user's), so importing
`bert` installs a finder that resolves the flat name of each module of this
package to the package's own module: `import modeling` and `from bert import
modeling` then give the same module object, registered under both names.
One object matters: the scripts define absl flags at import, and a second
copy of a module would define them twice.

The finder answers only for this package's module names, and only once
`bert` has been imported; it goes first so that those names mean this
package's modules, as the flat files expect.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# The package's modules, read off its directory: every top-level file of the
# checkout is one.
MODULES = frozenset(
    name[:-3] for name in os.listdir(_PACKAGE_DIR)
    if name.endswith(".py") and name != "__init__.py")


class _AliasLoader(importlib.abc.Loader):
  """Loads flat name `x` as the already importable `bert.x`."""

  def create_module(self, spec):
    # importlib keeps the module's own __name__, __spec__ and __file__, and
    # registers it under the flat name too.
    return importlib.import_module("%s.%s" % (__name__, spec.name))

  def exec_module(self, module):
    del module  # Executed once, as `bert.<name>`.


class _FlatNameFinder(importlib.abc.MetaPathFinder):
  """Finds the top-level names in MODULES as this package's modules."""

  def find_spec(self, fullname, path=None, target=None):
    del target
    if path is not None or fullname not in MODULES:
      return None
    return importlib.util.spec_from_loader(fullname, _AliasLoader())


# Only as the package: a tool that imports this file as a plain module named
# `__init__` (it has no __path__ then) must not change how imports resolve.
if "__path__" in globals() and not any(
    isinstance(f, _FlatNameFinder) for f in sys.meta_path):
  sys.meta_path.insert(0, _FlatNameFinder())
