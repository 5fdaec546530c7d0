"""Load a YAML file into a typed model, reporting every problem with file, line, key path and value."""

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kiosk.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


def _line_of(node: yaml.Node | None, path: tuple) -> int | None:
    """1-based line of the deepest node on `path` that exists in the composed YAML tree."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((value for key, value in node.value if key.value == str(part)), None)
            if match is None:
                key = next((key for key, _ in node.value if key.value == str(part)), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _value_at(data: Any, path: tuple) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML's "last wins" would let a second
    `liveness:` section quietly switch liveness off)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first on line {seen[key] + 1}); keep one",
                    key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """A date YAML reads as one but the calendar lacks (2027-02-30) names its line, not a traceback."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a date on the calendar ({exc})",
                                                    node.start_mark) from None


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


def parse_yaml(text: str, where: Path | str) -> tuple[Any, yaml.Node | None]:
    """The data and the node tree of a YAML text; ConfigError names the file and line of a problem."""
    try:
        return yaml.load(text, Loader=_StrictLoader) or {}, yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"{where}:{mark.line + 1}" if mark else str(where)
        raise ConfigError(f"{place}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to be a facegate file") from None


def read_text_file(path: Path) -> str:
    """The text of a regular UTF-8 file, or ConfigError saying what it is instead."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if not path.is_file():
        raise ConfigError(f"{path}: not a regular file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None


SHOWN_CHARS = 80


def _shortened(text: str) -> str:
    """A value as an error shows it: a 10 MB field is named, not printed."""
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"


def load_yaml_model(path: Path, model: type[Model]) -> Model:
    """Parse and validate; ConfigError lists every error as `file:line: key.path = value: reason`."""
    text = read_text_file(path)
    data, tree = parse_yaml(text, path)
    try:
        return model.model_validate(data, context={"file": path})
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            location = tuple(error["loc"])
            line = _line_of(tree, location)
            key_path = ".".join(str(p) for p in location) or "(top level)"
            value = _value_at(data, location)
            shown = "" if value is None or isinstance(value, (dict, list)) else f" = {_shortened(repr(value))}"
            lines.append(f"{path}:{line or '?'}: {key_path}{shown}: {error['msg']}")
        raise ConfigError("\n".join(lines)) from None


def with_scalar(text: str, section: str, key: str, value: str, comment: str) -> str:
    """`text` with `section.key` set to `value` and `comment` at the end of its line; every other
    line (and its comments) is kept as the administrator wrote it."""
    lines = text.splitlines()
    tree = yaml.compose(text) if text.strip() else None
    mapping = next((node for name, node in tree.value if name.value == section), None) \
        if isinstance(tree, yaml.MappingNode) else None
    entry = f"{key}: {value}  # {comment}"
    if mapping is None:
        return "\n".join([*lines, f"{section}:", f"  {entry}"]) + "\n"
    if not isinstance(mapping, yaml.MappingNode) or mapping.flow_style or not mapping.value:
        raise ConfigError(f"{section} (line {mapping.start_mark.line + 1}) is not a block mapping: write it as "
                          f"`{section}:` with one key per line below it")
    for name, node in mapping.value:
        if name.value == key:
            line = name.start_mark.line
            if node.end_mark.line != line:
                raise ConfigError(f"{section}.{key} (line {line + 1}) spans several lines; write it on one")
            lines[line] = " " * name.start_mark.column + entry
            return "\n".join(lines) + "\n"
    first_key = mapping.value[0][0]
    lines.insert(first_key.start_mark.line, " " * first_key.start_mark.column + entry)
    return "\n".join(lines) + "\n"
