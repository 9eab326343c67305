"""kernel_agent.tools: problem and candidate format, and the verifier that runs in the sandbox."""
