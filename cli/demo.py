"""`agentmesh demo`: the mesh on free ports plus the sample lead workflow, then everything stops."""

import argparse
import asyncio

from cli.mesh import Mesh
from cli.up import add_mesh_options, describe, run_mesh


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("demo", help="start the mesh, send sample leads through it, stop")
    add_mesh_options(parser)


async def _sample(mesh: Mesh) -> int:
    describe(mesh)
    return 0


def run(args: argparse.Namespace) -> int:
    args.free_ports = True
    return asyncio.run(run_mesh(args, _sample))
