"""The tasks (synthesize, translate, anomaly) and the registry every front end is built from."""
