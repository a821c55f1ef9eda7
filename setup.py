"""Map the top-level folders onto the ``posecog`` import namespace (DESIGN.md, "Import names").

The folders ``graph/ nodes/ pipelines/ cog/`` stay at the top of the repository, but install as
``posecog.graph`` ... so that no bare ``graph`` or ``cog`` lands in site-packages. Metadata lives
in pyproject.toml; only the package list is computed here, so new sub-packages need no edit.
The distribution is pure Python: nothing here needs a compiler.
"""

from setuptools import find_packages, setup

TOP = ("graph", "nodes", "pipelines", "cog")
#: Folders of package data only (no code), installed as data packages of their parent.
DATA = ("pipelines/samples", "pipelines/models", "nodes/vitals_worker/proto/cognitum/vitals/v1")

packages: list[str] = []
package_dir: dict[str, str] = {}
for top in TOP:
    packages.append(f"posecog.{top}")
    package_dir[f"posecog.{top}"] = top
    for sub in find_packages(where=top):
        name = f"posecog.{top}.{sub}"
        packages.append(name)
        package_dir[name] = f"{top}/{sub.replace('.', '/')}"

for folder in DATA:
    name = "posecog." + folder.replace("/", ".")
    packages.append(name)
    package_dir[name] = folder

setup(packages=packages, package_dir=package_dir)
