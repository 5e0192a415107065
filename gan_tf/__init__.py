"""gan-tf: GAN training in pure TensorFlow 2.

Importing the package does not import TensorFlow; the modules that need it do.
"""

__version__ = "0.1.0"
