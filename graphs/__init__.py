"""kernel_agent.graphs: see DESIGN.md."""
