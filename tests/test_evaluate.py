"""The evaluator: metric functions on hand-computable cases, the classifier
cache, and the metrics on real digits (a collapsed generator, the real floor)."""

import json

import numpy as np
import pytest

from gan_tf import quality as ev
from gan_tf.data import ImageSet


def test_fid_of_a_set_with_itself_is_zero():
  x = np.random.default_rng(0).standard_normal((500, 8))
  assert ev.frechet_distance(x, x) == pytest.approx(0, abs=1e-6)


def test_fid_of_gaussians_matches_the_closed_form():
  rng = np.random.default_rng(1)
  a, b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([2.0, 0.5, 0.5, 1.0])  # Diagonal variances.
  mu = np.array([1.0, -1.0, 0.0, 2.0])
  real = rng.standard_normal((200_000, 4)) * np.sqrt(a)
  fake = mu + rng.standard_normal((200_000, 4)) * np.sqrt(b)
  # |mu|^2 + tr(A + B - 2 sqrt(AB)) for commuting covariances.
  expected = np.sum(mu**2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  assert ev.frechet_distance(real, fake) == pytest.approx(expected, rel=0.02)


def test_fid_is_finite_and_real_with_singular_covariances():
  rng = np.random.default_rng(2)
  real = rng.standard_normal((20, 64))  # Fewer points than dimensions: rank-deficient covariance.
  fake = np.zeros((20, 64))  # Zero covariance.
  value = ev.frechet_distance(real, fake)
  assert isinstance(value, float) and np.isfinite(value) and value > 0


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
  rng = np.random.default_rng(3)
  x, y = rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16))
  same, same_std = ev.kernel_inception_distance(x, y, subset_size=500, subsets=20)
  assert abs(same) < 3 * same_std + 1e-3
  shifted, shifted_std = ev.kernel_inception_distance(x, y + 1.0, subset_size=500, subsets=20)
  assert shifted > 10 * shifted_std and shifted > 0.1


def test_classifier_score_bounds():
  confident_uniform = np.eye(10)[np.arange(1000) % 10]
  assert ev.classifier_score(confident_uniform) == pytest.approx(10, rel=1e-6)
  one_class = np.eye(10)[np.zeros(1000, int)]
  assert ev.classifier_score(one_class) == pytest.approx(1, rel=1e-6)
  unsure = np.full((100, 10), 0.1)
  assert ev.classifier_score(unsure) == pytest.approx(1, rel=1e-6)


def test_precision_and_recall():
  rng = np.random.default_rng(4)
  real = rng.standard_normal((1000, 8))
  assert ev.precision_recall(real, real.copy()) == (1.0, 1.0)
  # All generated points at one real point: inside the real manifold, covering little of it.
  collapsed = np.repeat(real[:1], 1000, axis=0) + 1e-3 * rng.standard_normal((1000, 8))
  precision, recall = ev.precision_recall(real, collapsed)
  assert precision == 1.0 and recall < 0.05
  # Far from every real point.
  precision, _ = ev.precision_recall(real, real + 100.0)
  assert precision == 0.0


def test_class_coverage():
  histogram, covered, kl, gap = ev.class_coverage(np.eye(10)[np.full(500, 7)], 10)
  assert histogram[7] == 500 and sum(histogram) == 500
  assert covered == 1 and kl == pytest.approx(np.log(10)) and gap == (7, pytest.approx(9.0))
  histogram, covered, kl, (_, gap) = ev.class_coverage(np.eye(10)[np.arange(1000) % 10], 10)
  assert histogram == [100] * 10 and covered == 10 and kl == pytest.approx(0, abs=1e-12) and gap == pytest.approx(0)
  # Half its fair share counts; less does not.
  labels = np.concatenate([np.full(50, 0), np.full(49, 1), np.repeat(np.arange(2, 10), 112)])
  _, covered, _, _ = ev.class_coverage(np.eye(10)[labels], 10)
  assert covered == 8 + (50 >= 0.5 * len(labels) / 10) + (49 >= 0.5 * len(labels) / 10)


def test_class_balance_is_measured_against_the_real_shares():
  # Real images: the 1 twice as common as each other class.
  real = np.eye(10)[np.concatenate([np.arange(900) % 10, np.full(100, 1)])]
  # Equal shares are 47% short of the 1's share of the real images (0.19), and 11% over the others'.
  _, covered, kl, gap = ev.class_coverage(np.eye(10)[np.arange(1000) % 10], 10, real)
  assert covered == 10 and kl > 0.01 and gap == (1, pytest.approx(0.1 / 0.19 - 1))
  # The real images' own shares: no gap.
  _, covered, kl, (_, gap) = ev.class_coverage(real, 10, real)
  assert covered == 10 and kl == pytest.approx(0, abs=1e-12) and gap == pytest.approx(0)
  # 1s at a third of their real share: not covered, though above half an equal share.
  others = np.arange(900) % 10
  fewer = np.eye(10)[np.concatenate([others[others != 1], np.full(60, 1)])]
  _, covered, _, gap = ev.class_coverage(fewer, 10, real)
  assert ev.class_coverage(fewer, 10)[1] == 10 and covered == 9 and gap[0] == 1 and gap[1] < -0.5
  # A class the real images never show is left out of the gap and the KL.
  _, covered, kl, (_, gap) = ev.class_coverage(np.eye(10)[np.arange(1000) % 10], 10, np.eye(10)[np.arange(900) % 9])
  assert covered == 10 and np.isfinite(kl) and gap == pytest.approx(-0.1)


@pytest.fixture(scope="module")
def classifier(mnist, tmp_path_factory):
  return ev.load_classifier(mnist.take(3000), tmp_path_factory.mktemp("classifiers"), epochs=3, verbose=False)


def test_classifier_learns_the_digits_and_is_cached(mnist, classifier, tmp_path_factory, capsys):
  assert classifier.num_classes == 10
  assert classifier.accuracy > 0.8
  cache = tmp_path_factory.getbasetemp() / "again"
  first = ev.load_classifier(mnist.take(500), cache, epochs=1)
  assert "training the evaluator's classifier" in capsys.readouterr().out
  assert len(list(cache.glob("*.keras"))) == 1
  again = ev.load_classifier(mnist.take(500), cache, epochs=1)
  assert capsys.readouterr().out == ""  # Read from the cache, not trained again.
  x = mnist.images[:50].astype(np.float32) / 127.5 - 1
  np.testing.assert_allclose(first.embed(x)[0], again.embed(x)[0], rtol=1e-5, atol=1e-5)
  # Other data, another classifier.
  ev.load_classifier(mnist.take(400), cache, epochs=1, verbose=False)
  assert len(list(cache.glob("*.keras"))) == 2


def test_classifier_needs_labels(mnist, tmp_path):
  unlabelled = ImageSet(mnist.images[:100], np.full(100, -1), "unlabelled")
  with pytest.raises(ev.UserError, match="no labels"):
    ev.load_classifier(unlabelled, tmp_path)


def _real_images(images):
  return images.astype(np.float32) / 127.5 - 1


def test_real_vs_real_is_the_floor_and_falls_with_more_images(mnist, classifier):
  data = mnist.take(3000)
  real = _real_images(data.images)
  fid_small = ev.frechet_distance(*(classifier.embed(real[i * 250 : (i + 1) * 250])[0] for i in range(2)))
  fid_large = ev.frechet_distance(*(classifier.embed(real[i * 1500 : (i + 1) * 1500])[0] for i in range(2)))
  assert fid_large < fid_small


def test_a_collapsed_generator_scores_badly(mnist, classifier):
  """A generator that only ever draws one digit: real threes, whatever the noise."""
  data = mnist.take(3000)
  threes = _real_images(data.images[data.labels == 3])

  def collapsed(noise):
    return threes[np.arange(len(noise)) % len(threes)]

  report = ev.evaluate(collapsed, 100, data, classifier, num=1000, seed=0)
  gen, floor = report["generated"], report["real_vs_real"]
  assert report["num"] == 1000 and report["real_vs_real_num"] == 1000
  assert gen["classes_covered"] == 1 and floor["classes_covered"] == 10
  assert gen["fid"] > 20 * max(floor["fid"], 1.0)
  assert gen["recall"] < 0.3 < floor["recall"]
  assert gen["classifier_score"] < 2 < floor["classifier_score"]
  assert gen["class_kl"] > 1.5 and floor["class_kl"] < 0.1
  assert gen["class_gap_class"] == 3 and gen["class_gap"] > 5 and abs(floor["class_gap"]) < 0.5
  assert gen["real_class_histogram"] == floor["real_class_histogram"] and sum(gen["real_class_histogram"]) == 1000
  assert gen["kid"] > floor["kid"] + 5 * gen["kid_std"]
  json.dumps(report)  # Serialisable as it is.
  text = ev.format_report(report)
  assert "FID" in text and "real vs real" in text
  assert f"{gen['class_gap']:+.0%} (3)" in text
