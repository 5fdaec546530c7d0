"""Rewrite one top-level entry of a YAML manifest in place, keeping every other line and comment."""

import re
from pathlib import Path
from typing import Any

import yaml


class _ListsInline(yaml.SafeDumper):
    """Block style for mappings, flow style for lists (vectors and matrices stay compact)."""


_ListsInline.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))


def replace_top_level(path: Path, key: str, value: Any) -> None:
    """Replace the block `key: ...` (up to the next top-level line) with `value` dumped as YAML, or
    append it when the manifest has no such block yet."""
    lines = path.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}\s*:", line)), None)
    if start is None:
        text = "".join(lines)
        block = yaml.dump({key: value}, Dumper=_ListsInline, sort_keys=False, default_flow_style=False, width=100)
        path.write_text(text + ("" if text.endswith("\n") else "\n") + block)
        return
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    block = yaml.dump({key: value}, Dumper=_ListsInline, sort_keys=False, default_flow_style=False, width=100)
    if end < len(lines):
        block += "\n" if lines[end - 1].strip() == "" else ""
    path.write_text("".join(lines[:start]) + block + "".join(lines[end:]))


def replace_list_item_field(path: Path, match_key: str, match_value: str, key: str, value: str) -> None:
    """Set `key: value` in the list item whose `match_key` is `match_value` (e.g. one network's sha256)."""
    lines = path.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines)
                  if re.match(rf"\s*-\s*{re.escape(match_key)}\s*:\s*{re.escape(match_value)}\s*$", line)), None)
    if start is None:
        raise KeyError(f"{path} has no list item with {match_key}: {match_value}")
    for index in range(start + 1, len(lines)):
        if re.match(r"\s*-\s", lines[index]) or not lines[index].startswith((" ", "\t")):
            break
        found = re.match(rf"(\s*){re.escape(key)}\s*:", lines[index])
        if found:
            lines[index] = f"{found.group(1)}{key}: {value}\n"
            path.write_text("".join(lines))
            return
    raise KeyError(f"{path}: the item with {match_key}: {match_value} has no {key}")
