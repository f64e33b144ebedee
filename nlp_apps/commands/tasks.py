"""`nlp-apps tasks`: the installed task plug-ins and any that failed to load."""

from __future__ import annotations

import click


@click.command()
@click.option("--verbose", "-v", is_flag=True, help="Show the full error of broken plug-ins.")
def tasks(verbose: bool) -> None:
    """List task plug-ins found through the `nlp_apps.tasks` entry-point group."""
    from nlp_apps.registry import get_registry, task_entry_points

    registry = get_registry()
    if not task_entry_points():
        click.echo("no task plug-ins installed")
        return
    for name in registry.names():
        spec = registry.get(name)
        origin = registry.distribution(name) or "unknown distribution"
        click.echo(f"{name:<16} ok      {spec.description}  [{origin}]")
    for name, broken in sorted(registry.broken.items()):
        last_line = broken.error.strip().splitlines()[-1]
        click.echo(f"{name:<16} BROKEN  {last_line}  [{broken.distribution or 'unknown distribution'}]")
        if verbose:
            click.echo(broken.error)
