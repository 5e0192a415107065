"""Walks through the latent space."""

import numpy as np


def slerp(a, b, t):
  """Spherical interpolation from `a` (t = 0) to `b` (t = 1) along the great
  circle between them, with the norm interpolated linearly. Gaussian noise in
  many dimensions lies near a sphere; a straight line between two draws cuts
  through its inside, where the generator saw no noise during training."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  t = np.asarray(t, np.float64)[..., None]
  norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
  cos = np.clip(np.dot(a / norm_a, b / norm_b), -1.0, 1.0)
  omega = np.arccos(cos)
  if omega < 1e-6:  # (Nearly) the same direction: the straight line is the arc.
    return ((1 - t) * a + t * b).astype(np.float32)
  direction = (np.sin((1 - t) * omega) * a / norm_a + np.sin(t * omega) * b / norm_b) / np.sin(omega)
  return (direction * ((1 - t) * norm_a + t * norm_b)).astype(np.float32)


def walk(points, frames, closed=False):
  """`frames` vectors from each point to the next (ending at the last point,
  or, `closed`, back at the first without repeating it)."""
  points = np.asarray(points, np.float32)
  stops = np.concatenate([points, points[:1]]) if closed else points
  steps = np.arange(frames) / frames
  path = [slerp(a, b, steps) for a, b in zip(stops[:-1], stops[1:])]
  if not closed:
    path.append(points[-1:])
  return np.concatenate(path)
