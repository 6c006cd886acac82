"""Platform ML helpers shared by the apps: metrics, the MLflow model registry, fast scorers.

Nothing here imports an app; heavy libraries (MLflow, scikit-learn, LightGBM) are imported
inside the functions that need them.
"""
