"""The `nlp-apps` command: core commands plus one group per installed task plug-in.

Task groups come from the entry points. A plug-in's package is imported when its group is needed
(`nlp-apps --help` needs every group's help line); plug-ins keep that cheap (no torch at import).
A broken plug-in shows up as a command that prints its error.
"""

from __future__ import annotations

import importlib
import sys

import click

from nlp_apps import __version__

CORE_COMMANDS = {
    "demo": "nlp_apps.commands.demo:demo",
    "generate": "nlp_apps.commands.lm:generate",
    "info": "nlp_apps.commands.info:info",
    "perplexity": "nlp_apps.commands.lm:perplexity",
    "pretrain": "nlp_apps.commands.pretrain:pretrain",
    "serve": "nlp_apps.commands.serve:serve",
    "tasks": "nlp_apps.commands.tasks:tasks",
}


def _import_command(target: str) -> click.Command:
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def broken_command(name: str, error: str) -> click.Command:
    """Stands in for a plug-in that failed to load (click-plugins' BrokenCommand idea)."""

    @click.command(name=name, help=f"(broken plug-in) {name} failed to load; run it to see why.",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def command() -> None:
        click.echo(f"error: task plug-in {name!r} failed to load:\n{error}", err=True)
        sys.exit(1)

    return command


class RootGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        from nlp_apps.registry import task_entry_points

        return sorted(CORE_COMMANDS) + [ep.name for ep in task_entry_points() if ep.name not in CORE_COMMANDS]

    def get_command(self, ctx: click.Context, name: str):
        if name in CORE_COMMANDS:
            return _import_command(CORE_COMMANDS[name])
        from nlp_apps.registry import get_registry

        registry = get_registry()
        if name in registry.broken:
            return broken_command(name, registry.broken[name].error)
        if name in registry.names():
            return registry.get(name).cli
        return None

    def invoke(self, ctx: click.Context):
        from nlp_apps.errors import NlpAppsError

        try:
            return super().invoke(ctx)
        except NlpAppsError as exc:
            # Bad input: one line, no traceback, non-zero exit.
            raise click.ClickException(str(exc)) from None


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nlp-apps")
@click.option("--threads", type=click.IntRange(min=1), envvar="NLP_APPS_THREADS",
              help="CPU threads [the cores this process may use; shared with other training jobs].")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), envvar="NLP_APPS_PRECISION",
              help="What 'auto' precision means for every command below [auto: bf16 where a probe shows the hardware pays].")
def cli(threads: int | None, precision: str | None) -> None:
    """nlp-apps: a pretrained RNN language-model backbone and the NLP tasks fine-tuned from it.

    Core commands pretrain and score language models; each installed task (see `nlp-apps tasks`)
    adds a group with train, evaluate and predict.
    """
    import os

    if threads is not None:
        from nlp_apps.threads import configure_threads

        configure_threads(threads)
    if precision is not None:
        os.environ["NLP_APPS_PRECISION"] = precision


def main() -> None:
    cli(prog_name="nlp-apps")


if __name__ == "__main__":
    main()
