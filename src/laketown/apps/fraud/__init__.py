"""Fraud detection: simulated and real transactions, online/offline features, an anomaly score
and a classifier registered in MLflow, rule-based decisions, a signed scoring API and a review
queue whose labels feed the next training run."""
