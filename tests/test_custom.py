"""Your own networks (arch=MODULE:FUNCTION): trained, resumed, exported and
refused as a user meets them, through the command in a working directory."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, write_idx

NETWORKS = textwrap.dedent("""
    import keras
    from keras import layers

    def build(latent_dim, image_shape, num_classes=0):
      noise = keras.Input((latent_dim,))
      x = layers.Dense(7 * 7 * 16)(noise)
      x = layers.ReLU()(layers.BatchNormalization()(x))
      x = layers.Reshape((7, 7, 16))(x)
      x = layers.Conv2DTranspose(8, 4, strides=2, padding="same")(x)
      x = layers.ReLU()(layers.BatchNormalization()(x))
      images = layers.Conv2DTranspose(image_shape[-1], 4, strides=2, padding="same", activation="tanh")(x)
      generator = keras.Model(noise, images)
      seen = keras.Input(image_shape)
      y = layers.LeakyReLU(0.2)(layers.Conv2D(8, 4, strides=2, padding="same")(seen))
      y = layers.Dropout(0.3)(y)
      discriminator = keras.Model(seen, layers.Dense(1)(layers.Flatten()(y)))
      return generator, discriminator

    def wrong_size(latent_dim, image_shape, num_classes=0):
      return build(latent_dim, (28, 28, 3))[0], build(latent_dim, image_shape)[1]

    def one_model(latent_dim, image_shape, num_classes=0):
      return build(latent_dim, image_shape)[0]

    not_a_function = 3
""")


def gan_tf(*args, cwd):
  proc = subprocess.run([sys.executable, "-m", "gan_tf", *args], capture_output=True, text=True, cwd=cwd, timeout=600)
  return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, mnist):
  work = tmp_path_factory.mktemp("custom")
  (work / "my_networks.py").write_text(NETWORKS)
  write_idx(work / "t10k-images-idx3-ubyte.gz", mnist.images[:128, ..., 0])
  write_idx(work / "t10k-labels-idx1-ubyte.gz", mnist.labels[:128])
  return work


def test_custom_networks_train_resume_and_export(workdir):
  import tensorflow as tf

  common = [
    "train",
    "--arch=my_networks:build",
    f"--dataset=idx:{workdir}",
    "--split=test",
    "--batch_size=32",
    "--grid=2",
    "--latent_dim=16",
    "--noprogress",
  ]
  code, out, err = gan_tf(*common, "--epochs=2", cwd=workdir)
  assert code == 0, err
  run_dir = workdir / "checkpoints" / "build"
  assert "trained to epoch 2 (step 8)" in out
  assert '"arch": "my_networks:build"' in (run_dir / "config.json").read_text()
  code, out, err = gan_tf(*common, "--epochs=3", f"--export_dir={workdir / 'export'}", cwd=workdir)
  assert code == 0, err
  assert "trained to epoch 3 (step 12)" in out  # Continued: 4 steps an epoch, 3 epochs.
  assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == [f"epoch_000{i}.png" for i in (1, 2, 3)] + ["real.png"]
  loaded = tf.saved_model.load(str(workdir / "export"))
  images = loaded.signatures["serving_default"](noise=tf.random.normal([5, 16]))["images"].numpy()
  assert images.shape == (5, 28, 28, 1) and images.dtype == np.float32
  assert -1 <= images.min() < images.max() <= 1


@pytest.mark.parametrize(
  "arch, message",
  [
    ("no_such_module:build", "no module named 'no_such_module'"),
    ("my_networks:missing", "has no function 'missing'"),
    ("my_networks:not_a_function", "has no function 'not_a_function'"),
    ("my_networks:one_model", "must return (generator, discriminator), two Keras models"),
    ("my_networks:wrong_size", "draws images of shape (28, 28, 3), but the data's are (28, 28, 1)"),
  ],
)
def test_bad_custom_networks_get_one_line_before_training(workdir, tmp_path, arch, message):
  code, out, err = gan_tf(
    "train",
    f"--arch={arch}",
    f"--dataset=idx:{workdir}",
    "--split=test",
    "--batch_size=32",
    f"--checkpoint_dir={tmp_path / 'run'}",
    cwd=workdir,
  )
  assert code == 1, (out, err)
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
  assert "--arch=" in err and message in err, err
  assert not list((tmp_path / "run").glob("ckpt-*")) and not (tmp_path / "run" / "history.csv").exists()


@pytest.mark.parametrize(
  "args, message",
  [
    (["--arch=my_networks:build", "--pack=2"], "--pack=2 needs a discriminator built for packs"),
    (["--arch=my_networks:build", "--spectral_norm"], "--spectral_norm rebuilds the built-in discriminators only"),
    (["--arch=mlp", "--d_dropout=0.3"], "--d_dropout is the dcgan discriminator's; --arch=mlp has no dropout"),
    (["--arch=my_networks:build", "--d_width=128"], "--d_width sets the built-in discriminators' width"),
    (["--d_width=0"], "--d_width must be a positive integer"),
    (["--arch=my_networks:build", "--g_width=128"], "--g_width sets the built-in generators' width"),
    (["--g_width=-1"], "--g_width must be a positive integer"),
    (["--arch=mlp", "--g_upsample=resize"], "--g_upsample is the dcgan generator's; --arch=mlp has no maps to double"),
    (["--arch=my_networks:build", "--g_upsample=resize"], "--g_upsample is the dcgan generator's"),
    (["--arch=mlp", "--g_image_width=32"], "--g_image_width is the dcgan generator's; --arch=mlp has no maps"),
    (["--g_upsample=bilinear"], "--g_upsample=bilinear: value should be one of <transpose|resize>"),
    (["--arch=mlp", "--self_attention"], "--self_attention is the dcgan networks'; --arch=mlp has no maps to attend over"),
    (["--arch=my_networks:build", "--self_attention"], "--self_attention is the dcgan networks'"),
    (["--arch=bad"], "--arch must be one of dcgan, mlp or MODULE:FUNCTION"),
    (["--eval_every=1", "--eval_num=5"], "--eval_num must be at least 8"),
    (["--seed=-1"], "--seed must be an integer from 0 to 4294967295"),
  ],
)
def test_settings_are_checked_before_tensorflow_loads(tmp_path, args, message):
  # -X importtime lists every module imported: TensorFlow must not be among them.
  proc = subprocess.run(
    [sys.executable, "-X", "importtime", str(ROOT / "bin" / "train"), *args, f"--checkpoint_dir={tmp_path / 'run'}"],
    capture_output=True,
    text=True,
    cwd=tmp_path,
  )
  assert proc.returncode == 1
  lines = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
  assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
  assert "| tensorflow" not in proc.stderr and "| keras" not in proc.stderr


RESNET = r"""
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
import gan_tf
from gan_tf import data
digits = data.load_idx(sys.argv[1], "test").take(32)
for strategy in ("default", "mirrored"):
  config = gan_tf.Config(arch="resnet_gan:small", image_size=32, channels=3, batch_size=16, epochs=1, grid=2,
                         latent_dim=32, strategy=strategy, progress=False, progress_gif=False)
  logs = gan_tf.train(config, f"{sys.argv[2]}/{strategy}", dataset=digits)
  images = gan_tf.load_generator(f"{sys.argv[2]}/{strategy}").sample(3)
  print(strategy, logs["step"], logs["d_loss"], logs["g_loss"], images.shape, float(images.min()), float(images.max()))
"""


def test_resnet_example_trains_at_32x32x3_on_one_and_two_devices(tmp_path, mnist_dir):
  env = {"PYTHONPATH": f"{ROOT / 'examples'}:{ROOT}", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
  proc = subprocess.run(
    [sys.executable, "-c", RESNET, str(mnist_dir), str(tmp_path)], capture_output=True, text=True, env=env, timeout=900
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()}
  for strategy in ("default", "mirrored"):
    step, d_loss, g_loss, *shape, low, high = rows[strategy]
    assert step == "2" and np.isfinite(float(d_loss)) and np.isfinite(float(g_loss))
    assert "".join(shape) == "(3,32,32,3)" and -1 <= float(low) < float(high) <= 1
  # Synchronised BatchNorm and the global batch's noise: two replicas train as one device does.
  assert abs(float(rows["mirrored"][1]) - float(rows["default"][1])) < 1e-3


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_custom_networks_under_mixed_precision(tmp_path, mnist, monkeypatch, precision):
  import gan_tf

  (tmp_path / "mixed_networks.py").write_text(NETWORKS)
  monkeypatch.syspath_prepend(str(tmp_path))
  config = gan_tf.Config(
    arch="mixed_networks:build",
    precision=precision,
    latent_dim=16,
    batch_size=16,
    epochs=1,
    grid=2,
    progress=False,
    progress_gif=False,
  )
  logs = gan_tf.train(config, tmp_path / "run", dataset=mnist.take(32))
  assert np.isfinite(logs["d_loss"]) and np.isfinite(logs["g_loss"])
  images = gan_tf.load_generator(tmp_path / "run").sample(3, seed=1)
  assert images.dtype == np.float32 and images.shape == (3, 28, 28, 1) and -1 <= images.min() < images.max() <= 1
