"""Building: specs into tf.keras models (and back), Keras set-up, checks against the data, tf.distribute.

The only part besides training that imports TensorFlow, and only inside functions that need it.
"""
