"""The stack config reference (docs/stack-config.md, linked from the README) matches the presets."""

from __future__ import annotations

import re

from keel.evaluate import repo_root
from keel.stack_config import KNOWN_KEYS, PRESET_VALUES


def aws_section() -> str:
    return (repo_root() / "docs" / "stack-config.md").read_text()


def test_readme_links_the_stack_config_reference():
    readme = (repo_root() / "README.md").read_text()
    walkthrough = readme[readme.index("<!-- section:aws -->"):readme.index("<!-- /section:aws -->")]
    assert "(docs/stack-config.md)" in walkthrough


def test_every_config_key_is_documented():
    section = aws_section()
    missing = [key for key in KNOWN_KEYS if f"keel:{key}" not in section]
    assert missing == []


def test_preset_table_matches_the_presets():
    rows = re.findall(r"^\| `keel:(\w+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", aws_section(), re.MULTILINE)
    documented = {key: tuple(cell.strip() for cell in cells) for key, *cells in rows}
    for key, dev in PRESET_VALUES["dev"].items():
        expected = tuple(str(PRESET_VALUES[p][key]).lower() if isinstance(dev, bool) else str(PRESET_VALUES[p][key])
                         for p in ("dev", "staging", "prod"))
        assert documented.get(key) == expected, key
