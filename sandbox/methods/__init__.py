"""The REST methods of the sandbox portal; importing the package registers all of them."""

from sandbox.methods import batch, events, flow_list, flows, im, people, placements, system, tasks, users

__all__ = ["batch", "events", "flow_list", "flows", "im", "people", "placements", "system", "tasks", "users"]
