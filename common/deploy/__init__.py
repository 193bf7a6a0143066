"""Deployment: the Helm chart's values and checks, and the deploy and savepoint verbs."""
