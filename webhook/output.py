"""How CLI commands print data: ``-o text`` for people, ``-o json|yaml`` for scripts."""

from __future__ import annotations

import json

import click
import yaml

OUTPUT_OPTION = click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "yaml"]),
    default="text",
    show_default=True,
    help="text for people; json or yaml: the API's records, for scripts.",
)


def data_text(data: object, output: str) -> str:
    """``data`` as JSON, or as YAML with multi-line strings (diffs) in readable blocks."""
    if output == "json":
        return json.dumps(data, indent=2) + "\n"

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False)
