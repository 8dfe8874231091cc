"""Results: statistics, differences, tables, plots, report and `compare`, made from plain data only.

Nothing here imports Keras or TensorFlow: results.json is all it reads.
"""
