"""Training: one task trained into plain data, the backends that execute tasks, the output folder, the run.
"""
