"""README.md stays true: it opens with the two commands CI and newcomers run, and documents every setting."""

import re
from pathlib import Path

from services.common.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_demo_and_test_commands_and_ci_runs_the_test_command() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block and README.index("```bash") < README.index("## ")
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_readme_configuration_table_names_every_setting() -> None:
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if alias is not None else f"AGENTMESH_{name.upper()}"  # type: ignore[union-attr]
        assert f"`{env}`" in README, f"README.md does not document {env} (Settings.{name})"
