"""`python -m gan_tf COMMAND`: the same as the `gan-tf` command."""

from gan_tf.cli import main

main(prog="gan-tf")
