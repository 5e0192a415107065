"""Sample quality, measured in the feature space of a domain classifier.

The classifier (classifier.py) is a small CNN trained on the real data
itself. Its penultimate layer gives the features for the Fréchet distance,
KID and precision/recall; its class probabilities give the classifier score
and the class balance.

Every report carries the same metrics for two disjoint halves of the real
data, the floor a generator is compared with.
"""

import numpy as np

from gan_tf.classifier import Classifier, load_classifier  # noqa: F401  (part of this module's interface)
from gan_tf.errors import UserError
from gan_tf.images import from_uint8

K_NEAREST = 3


# --- Metrics on features and class probabilities (numpy, float64).


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
  """Fréchet distance between Gaussians fitted to two feature sets.

  tr(sqrt(S1 S2)) is taken as the sum of the square roots of the eigenvalues
  of sqrt(S1) S2 sqrt(S1), which is symmetric positive semi-definite: real
  arithmetic throughout, and no NaN when a covariance is singular.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  mu1, mu2 = real.mean(0), fake.mean(0)
  s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
  w, v = np.linalg.eigh(s1)
  root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  middle = root1 @ s2 @ root1
  eig = np.linalg.eigvalsh((middle + middle.T) / 2)
  trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
  value = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
  return float(max(value, 0.0))


def kernel_inception_distance(real, fake, subset_size=1000, subsets=100, seed=0):
  """KID: the unbiased MMD² with the kernel (x·y/d + 1)³, averaged over random
  subsets of both sets; returns (mean, standard deviation over subsets)."""
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  d = real.shape[1]
  m = min(subset_size, len(real), len(fake))
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(subsets):
    x = real[rng.choice(len(real), m, replace=False)]
    y = fake[rng.choice(len(fake), m, replace=False)]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    values.append(within - 2 * kxy.mean())
  return float(np.mean(values)), float(np.std(values))


def classifier_score(probs) -> float:
  """exp(E_x KL(p(y|x) || p(y))), the Inception Score with the domain
  classifier; between 1 and the number of classes."""
  p = np.asarray(probs, np.float64)
  marginal = p.mean(0, keepdims=True)
  kl = np.sum(p * (np.log(p + 1e-12) - np.log(marginal + 1e-12)), axis=1)
  return float(np.exp(kl.mean()))


def _squared_distances(queries, points, chunk=1024):
  """Squared distances from `queries` to `points`, `chunk` rows at a time
  (10,000 x 10,000 at once would hold 800 MB)."""
  squared = np.sum(points**2, 1)
  for start in range(0, len(queries), chunk):
    block = queries[start : start + chunk]
    yield start, np.sum(block**2, 1)[:, None] + squared[None] - 2 * block @ points.T


def _kth_neighbour_distances(points, k):
  """Distance from each point to its k-th nearest other point in the same set."""
  out = np.empty(len(points))
  for start, d2 in _squared_distances(points, points):
    # The k+1-th smallest: the smallest is the point itself.
    out[start : start + len(d2)] = np.sqrt(np.clip(np.partition(d2, k, axis=1)[:, k], 0, None))
  return out


def _fraction_inside(queries, points, radii):
  """The fraction of `queries` within the radius of at least one of `points`."""
  inside = sum(np.count_nonzero(np.any(d2 <= radii[None] ** 2, axis=1)) for _, d2 in _squared_distances(queries, points))
  return inside / len(queries)


def precision_recall(real, fake, k=K_NEAREST):
  """Improved precision and recall (Kynkäänniemi et al., 2019): each set's
  manifold is the union of balls reaching every point's k-th nearest
  neighbour. Precision: generated points inside the real manifold; recall:
  real points inside the generated one."""
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  precision = _fraction_inside(fake, real, _kth_neighbour_distances(real, k))
  recall = _fraction_inside(real, fake, _kth_neighbour_distances(fake, k))
  return precision, recall


def class_histogram(probs, num_classes) -> np.ndarray:
  """How many images the classifier puts in each class."""
  return np.bincount(np.argmax(probs, axis=1), minlength=num_classes)[:num_classes]


def class_coverage(probs, num_classes, reference=None):
  """The histogram of predicted classes against each class's share of the
  `reference` predictions (the real images'; None: equal shares), as
  (histogram, covered, kl, gap): how many classes get at least half their
  share, the KL divergence of the histogram from those shares, and the
  class furthest from its share with its relative gap (0.3: 30% over)."""
  counts = class_histogram(probs, num_classes)
  share = counts / counts.sum()
  if reference is None:
    expected = np.full(num_classes, 1.0 / num_classes)
  else:
    expected = class_histogram(reference, num_classes)
    expected = expected / expected.sum()
  # A class the reference never shows has no share to be measured against.
  present = expected > 0
  nonzero = (share > 0) & present
  kl = float(np.sum(share[nonzero] * np.log(share[nonzero] / expected[nonzero])))
  covered = int(np.sum(share >= 0.5 * expected))
  gaps = np.where(present, share / np.where(present, expected, 1.0) - 1.0, 0.0)
  worst = int(np.argmax(np.abs(gaps)))
  return counts.tolist(), covered, kl, (worst, float(gaps[worst]))


def metrics(classifier, real_images, fake_images, fake_labels=None) -> dict:
  """Every metric of `fake_images` against `real_images` (both float in
  [-1, 1]); with the labels the fakes were drawn for, the label accuracy too."""
  real_features, real_probs = classifier.embed(real_images)
  fake_features, fake_probs = classifier.embed(fake_images)
  kid, kid_std = kernel_inception_distance(real_features, fake_features)
  precision, recall = precision_recall(real_features, fake_features)
  histogram, covered, kl, (gap_class, gap) = class_coverage(fake_probs, classifier.num_classes, real_probs)
  conditional = {}
  if fake_labels is not None:
    conditional["label_accuracy"], conditional["per_class_accuracy"] = label_accuracy(fake_probs, fake_labels)
  return {
    "fid": frechet_distance(real_features, fake_features),
    "kid": kid,
    "kid_std": kid_std,
    "precision": precision,
    "recall": recall,
    "classifier_score": classifier_score(fake_probs),
    "classes_covered": covered,
    "class_kl": kl,
    "class_gap": gap,
    "class_gap_class": gap_class,
    "class_histogram": histogram,
    "real_class_histogram": class_histogram(real_probs, classifier.num_classes).tolist(),
    **conditional,
  }


# --- A whole report.


def keras_generate(generator):
  """`generate(noise, labels=None) -> images` for a Keras generator (conditional or not)."""

  def generate(noise, labels=None):
    return generator(noise if labels is None else [noise, labels], training=False).numpy()

  return generate


def draw(generate, latent_dim, num, seed, batch_size=500, labels=None) -> np.ndarray:
  """`num` images from `generate(noise[, labels]) -> images`, noise from `seed`."""
  noise = np.random.default_rng(seed).standard_normal((num, latent_dim)).astype(np.float32)
  if labels is None:
    parts = [generate(noise[i : i + batch_size]) for i in range(0, num, batch_size)]
  else:
    parts = [generate(noise[i : i + batch_size], labels[i : i + batch_size]) for i in range(0, num, batch_size)]
  return np.concatenate([np.asarray(p) for p in parts])


def label_accuracy(probs, labels) -> tuple:
  """The share of conditional samples the classifier assigns (`probs`) to the
  class they were drawn for, overall and per class."""
  right = np.argmax(probs, axis=1) == labels
  per_class = [float(right[labels == c].mean()) if np.any(labels == c) else float("nan") for c in range(int(labels.max()) + 1)]
  return float(right.mean()), per_class


def evaluate(generate, latent_dim, data, classifier, num=10000, seed=0, num_classes=0) -> dict:
  """Metrics of `num` generated against `num` real images, and of two
  disjoint real halves against each other (the floor). A conditional
  generator (`num_classes` > 0) draws the classes in equal shares, and the
  report adds how often the classifier agrees with the class asked for."""
  if num < 2 * (K_NEAREST + 1):
    raise UserError(f"@num must be at least {2 * (K_NEAREST + 1)}, got {num}")
  n = min(num, len(data))
  order = np.random.default_rng(seed + 1).permutation(len(data))
  real = from_uint8(data.images[order])
  labels = np.arange(n, dtype=np.int32) % num_classes if num_classes else None
  if num_classes and num_classes != classifier.num_classes:
    raise UserError(f"the generator knows {num_classes} classes but the data has {classifier.num_classes}")
  fake = draw(generate, latent_dim, n, seed, labels=labels)
  if fake.shape[1:] != real.shape[1:]:
    raise UserError(f"the generator draws {fake.shape[1:]} images but the data's are {real.shape[1:]}")
  half = min(n, len(data) // 2)
  return {
    "num": n,
    "real_vs_real_num": half,
    "seed": seed,
    "classifier_accuracy": classifier.accuracy,
    "generated": metrics(classifier, real[:n], fake, labels),
    "real_vs_real": metrics(classifier, real[:half], real[half : 2 * half]),
  }


ROWS = [
  ("FID", "fid", "{:.3f}"),
  ("KID", "kid", "{:.5f}"),
  ("KID std", "kid_std", "{:.5f}"),
  ("precision", "precision", "{:.3f}"),
  ("recall", "recall", "{:.3f}"),
  ("classifier score", "classifier_score", "{:.2f}"),
  ("classes covered", "classes_covered", "{}"),
  ("KL(classes || real)", "class_kl", "{:.4f}"),
]


def format_report(report: dict) -> str:
  gen, floor = report["generated"], report["real_vs_real"]
  width = max(len(name) for name, _, _ in ROWS)
  lines = [
    f"{'':{width}}  {'generated':>12}  {'real vs real':>12}",
    f"{'images':{width}}  {report['num']:>12}  {report['real_vs_real_num']:>12}",
  ]
  for name, key, fmt in ROWS:
    lines.append(f"{name:{width}}  {fmt.format(gen[key]):>12}  {fmt.format(floor[key]):>12}")
  gap = lambda metrics: f"{metrics['class_gap']:+.0%} ({metrics['class_gap_class']})"  # noqa: E731
  lines.append(f"{'largest class gap':{width}}  {gap(gen):>12}  {gap(floor):>12}")
  lines.append(f"{'class histogram':{width}}  {' '.join(map(str, gen['class_histogram']))}")
  lines.append(f"{'  of real images':{width}}  {' '.join(map(str, gen['real_class_histogram']))}")
  if "label_accuracy" in gen:
    lines.append(f"{'label accuracy':{width}}  {gen['label_accuracy']:>12.3f}  (the classifier agrees with the class asked for)")
    lines.append(f"{'  per class':{width}}  {' '.join(f'{a:.2f}' for a in gen['per_class_accuracy'])}")
  lines.append(
    f"classes covered: of {len(gen['class_histogram'])}, those given at least half their share of the real images; "
    "largest class gap: the class furthest from that share, relative to it; "
    f"classifier accuracy on held-out real images {report['classifier_accuracy']:.4f}"
  )
  return "\n".join(lines)
