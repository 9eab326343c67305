"""kernel_agent.agent: model clients, prompts, the critic, and the command line."""
