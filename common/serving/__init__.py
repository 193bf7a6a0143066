"""Online serving: the production feature server (Go, ``common/featureserver``) and its plan."""
