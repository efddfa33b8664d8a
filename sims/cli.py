"""`nodeapp sim`: run one simulation from the command line and report it."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from sims.run import SimConfig, run

# bounds that keep one run within minutes and memory: an hour of virtual time, a minute of delay
VIRTUAL_MS_MAX = 3_600_000
DELAY_MS_MAX = 60_000


def sim_command(
    nodes: Annotated[int, typer.Option(min=2, max=5000, help="Simulated nodes.")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="Seed: the same seed replays the run.")] = 1,
    commits: Annotated[int, typer.Option(min=0, max=100_000)] = 40,
    fault_ms: Annotated[int, typer.Option(min=100, max=VIRTUAL_MS_MAX,
                                          help="Virtual ms with faults.")] = 20_000,
    settle_ms: Annotated[int, typer.Option(min=0, max=VIRTUAL_MS_MAX,
                                           help="Virtual ms of healthy links after.")] = 40_000,
    loss: Annotated[float, typer.Option(min=0.0, max=0.9, help="Drop probability.")] = 0.0,
    duplicate: Annotated[float, typer.Option(min=0.0, max=0.9)] = 0.0,
    delay_min_ms: Annotated[int, typer.Option(min=0, max=DELAY_MS_MAX)] = 5,
    delay_max_ms: Annotated[int, typer.Option(min=0, max=DELAY_MS_MAX)] = 50,
    partition: Annotated[bool, typer.Option(help="Split the network in two for a while.")]
    = False,
    crashes: Annotated[int, typer.Option(min=0, max=5000,
                                         help="Crash-and-restart events.")] = 0,
    byzantine_fork: Annotated[int, typer.Option(min=0)] = 0,
    byzantine_invalid: Annotated[int, typer.Option(min=0)] = 0,
    intruder: Annotated[bool, typer.Option(help="Add a node that has no invite.")] = False,
    replication_factor: Annotated[int, typer.Option(min=1, max=50)] = 5,
    warm: Annotated[bool, typer.Option(help="Start with membership already formed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Simulate a network under faults and check its invariants (exit 1 if one breaks)."""
    if delay_max_ms < delay_min_ms:
        raise typer.BadParameter("--delay-max-ms must not be below --delay-min-ms")
    if byzantine_fork + byzantine_invalid >= nodes - 1:
        raise typer.BadParameter("leave at least two honest nodes")
    logging.getLogger("nodeapp").setLevel(logging.ERROR)
    config = SimConfig(nodes=nodes, seed=seed, commits=commits, fault_ms=fault_ms,
                       settle_ms=settle_ms, loss=loss, duplicate=duplicate,
                       delay_min_ms=delay_min_ms, delay_max_ms=delay_max_ms, partition=partition,
                       crashes=crashes, byzantine_fork=byzantine_fork,
                       byzantine_invalid=byzantine_invalid, intruder=intruder,
                       replication_factor=replication_factor, warm=warm)
    report = run(config)
    if as_json:
        data = {k: v for k, v in report.__dict__.items()}
        typer.echo(json.dumps(data, sort_keys=True))
    else:
        typer.echo(report.summary())
        for violation in report.violations:
            typer.echo(f"  violation: {violation}")
        if not report.ok:
            typer.echo(f"rerun with: nodeapp sim --seed {seed} (and the same options)")
    if not report.ok:
        raise typer.Exit(1)
