"""gan-tf from Python: train, resume, draw, export and evaluate.

Paste it into a notebook, or run it: python examples/quickstart.py DATASET
(DATASET as the train command takes it, e.g. idx:DIR for the MNIST files in
IDX format; default: mnist from TFDS).
"""

import sys

import matplotlib.pyplot as plt

import gan_tf

dataset = sys.argv[1] if len(sys.argv) > 1 else "mnist"
split = "test" if dataset.startswith("idx:") else "train"

config = gan_tf.Config(arch="dcgan", dataset=dataset, split=split, epochs=2, batch_size=256)
logs = gan_tf.train(config, "runs/quickstart")  # Run it again with more epochs: it resumes.
print(logs)

generator = gan_tf.load_generator("runs/quickstart")
images = generator.sample(16, seed=0)  # float32 [16, 28, 28, 1] in [-1, 1]
fig, axes = plt.subplots(2, 8, figsize=(8, 2))
for image, ax in zip(images, axes.flat):
  ax.imshow(image[..., 0], cmap="gray", vmin=-1, vmax=1)
  ax.axis("off")
fig.savefig("runs/quickstart/drawn.png")

gan_tf.export("runs/quickstart", "runs/quickstart-export")
report = gan_tf.evaluate("runs/quickstart-export", dataset=dataset, split=split, num=2000)
print(f"FID {report['generated']['fid']:.1f} (real vs real: {report['real_vs_real']['fid']:.1f})")
