"""Past epochs' rewards from public APIs (`indexer rewards fetch`, docs/spec.md §5 "History")."""
