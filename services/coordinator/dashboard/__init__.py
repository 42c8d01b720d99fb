"""The coordinators' dashboard: server-rendered pages, signed-in coordinators, live updates."""
