"""The installed layout: `curation` is the only top-level module, and a user's own files cannot shadow it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"curation": "curation", "filters": "curation.filters", "dedup": "curation.dedup"}
FOLDERS |= {"mixer": "curation.mixer", "train": "curation.train", "ablate": "curation.ablate"}


def test_every_package_folder_is_installed_under_curation() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {name: folder for folder, name in FOLDERS.items()}
    expected = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            expected.add(".".join((name, *parts)))
    assert set(setuptools["packages"]) == expected  # a new sub-package must be listed, or it is not installed


@pytest.mark.slow
def test_the_wheel_has_only_curation_at_the_top(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("curation-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"curation"}
    assert {"curation/filters/presets/pt.yaml", "curation/filters/prompts/edu.md"} <= set(names)
    assert "curation/train/run.py" in names and "curation/dedup/stage.py" in names
    top_level = next(n for n in names if n.endswith("top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["curation"]


def test_a_users_train_py_does_not_shadow_the_package(tmp_path: Path) -> None:
    for name in ("train", "filters", "dedup", "mixer", "ablate"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('shadowed by the working directory')\n")
    for command in ([str(Path(sys.executable).parent / "curation")], [sys.executable, "-m", "curation.cli"]):
        proc = subprocess.run([*command, "train", "--help"], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "--schedule.lr" in proc.stdout and "shadowed" not in proc.stderr


def test_help_starts_without_heavy_imports() -> None:
    code = (
        "import sys\nfrom curation.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "for cmd in ('build', 'train', 'dedup', 'mix', 'report', 'eval', 'evalsets', 'ablate', 'plan'):\n"
        "    try:\n        main([cmd, '--help'])\n    except SystemExit:\n        pass\n"
        "print('HEAVY', sorted(m for m in ('torch', 'ray', 'polars', 'pyarrow', 'transformers') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_every_command_takes_a_config_file_and_documents_its_flags() -> None:
    from click.testing import CliRunner

    from curation.cli import COMMANDS, app, load_stage
    from curation.core.cli import leaves

    targets = [([c], t) for c, t in COMMANDS.items() if isinstance(t, str)]
    targets += [
        ([c, sub], t) for c, group in COMMANDS.items() if isinstance(group, dict) for sub, t in group.items()
    ]
    for path, target in targets:
        res = CliRunner().invoke(app, [*path, "--help"])
        assert res.exit_code == 0 and "--config" in res.output, (path, res.output)
        model = load_stage(target).config_model
        undocumented = [key for key, info, _ in leaves(model) if not (info.description or "").strip()]
        assert not undocumented, (path, undocumented)
