"""kernel_agent.evals: see DESIGN.md."""
