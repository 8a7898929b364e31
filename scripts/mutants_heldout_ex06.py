"""A held-out batch of plausible wrong answers ("mutants") to the ex06 tasks (conditional VAE).

Written from the exercise contracts only (the markdown, docstrings and solution code of
``solutions/ex06_cvae.ipynb``, and :mod:`vae_course.models.conditional` /
:mod:`vae_course.losses` for the data types), without reading the ex06 checks or their
catalogue of known mistakes, to measure whether the checks catch mistakes their author did
not think of. Every mutant violates its task's docstring contract.

    python scripts/mutants_heldout_ex06.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout_ex06.py --sanity   # the solutions must pass

A mutant is *killed* when its check fails for both seeds.

Result (first run): 28 of 30 killed. The survivors are both in ex06.analogy_grid: a grid
moved to the CPU (its check has no case on another device, as ex06.one_hot's meta case),
and the digit shown thresholded at 0.5 instead of x[i] itself (its cases seem to use
binary x only).
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from vae_course.grading.mutants import report
from vae_course.losses import bernoulli_log_likelihood, gaussian_kl

SEEDS = (11, 12)


# =============================================================================== solutions
# Copied from solutions/ex06_cvae.ipynb. F, gaussian_kl and bernoulli_log_likelihood are
# module-level names, as in the notebook's setup cell.
def one_hot(labels, n_classes):
    return F.one_hot(labels, n_classes).float()


def conditional_loss(model, x, labels, beta=1.0):
    out = model(x, labels)
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    kl = gaussian_kl(out["mu"], out["logvar"])
    return (-rec + beta * kl).mean()


def analogy_grid(model, x, labels):
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = torch.sigmoid(model.decode(mu[i : i + 1].expand(K, -1), classes))
            rows.append(torch.cat([x[i : i + 1], decoded]))
    return torch.cat(rows)


SOLUTIONS = {
    "ex06.one_hot": one_hot,
    "ex06.conditional_loss": conditional_loss,
    "ex06.analogy_grid": analogy_grid,
}


# ================================================================================ mutants
# ------------------------------------------------------------------ ex06.one_hot
def oh_int64(labels, n_classes):
    # F.one_hot's own dtype (int64) kept: cannot be concatenated to float32 images
    return F.one_hot(labels, n_classes)


def oh_classes_from_batch(labels, n_classes):
    # lets F.one_hot infer the width: max(labels) + 1 columns, not n_classes
    return F.one_hot(labels).float()


def oh_hardcoded_10(labels, n_classes):
    # assumes MNIST: always 10 columns
    return F.one_hot(labels, 10).float()


def oh_one_based(labels, n_classes):
    # treats labels as 1-based (class c at column c-1, wrapping class 0 to the last column)
    return F.one_hot((labels - 1) % n_classes, n_classes).float()


def oh_float64(labels, n_classes):
    # .double() instead of .float(): float64, not the images' float32
    return F.one_hot(labels, n_classes).double()


def oh_transposed(labels, n_classes):
    # (n_classes, B) instead of (B, n_classes)
    return F.one_hot(labels, n_classes).float().T


def oh_zeros_on_cpu(labels, n_classes):
    # builds the table with torch.zeros on the default device (CPU), not labels.device
    out = torch.zeros(labels.shape[0], n_classes)
    out[torch.arange(labels.shape[0]), labels.cpu()] = 1.0
    return out


def oh_eye_on_cpu(labels, n_classes):
    # rows of a CPU identity matrix: right values, wrong device for GPU labels
    return torch.eye(n_classes)[labels.cpu()]


def oh_unsqueeze_inplace(labels, n_classes):
    # scatter with labels.unsqueeze_(1): reshapes the caller's labels to (B, 1) in place
    out = torch.zeros(labels.shape[0], n_classes, device=labels.device)
    return out.scatter_(1, labels.unsqueeze_(1), 1.0)


# ------------------------------------------------------------------ ex06.conditional_loss
def cl_ignores_beta(model, x, labels, beta=1.0):
    # the plain conditional ELBO: beta accepted but never used
    out = model(x, labels)
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    kl = gaussian_kl(out["mu"], out["logvar"])
    return (-rec + kl).mean()


def cl_beta_on_reconstruction(model, x, labels, beta=1.0):
    # weights the wrong term by beta
    out = model(x, labels)
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    kl = gaussian_kl(out["mu"], out["logvar"])
    return (-beta * rec + kl).mean()


def cl_sum_over_batch(model, x, labels, beta=1.0):
    # sums over the batch instead of averaging (nats per batch, not per example)
    out = model(x, labels)
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    kl = gaussian_kl(out["mu"], out["logvar"])
    return (-rec + beta * kl).sum()


def cl_kl_sign(model, x, labels, beta=1.0):
    # subtracts the KL (sign error: the negative ELBO adds it)
    out = model(x, labels)
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    kl = gaussian_kl(out["mu"], out["logvar"])
    return (-rec - beta * kl).mean()


def cl_decodes_mean(model, x, labels, beta=1.0):
    # decodes the posterior mean instead of a reparameterized sample z ~ q(z|x,y)
    mu, logvar = model.encode(x, labels)
    logits = model.decode(mu, labels)
    rec = bernoulli_log_likelihood(x, logits)
    return (-rec + beta * gaussian_kl(mu, logvar)).mean()


def cl_detached_kl(model, x, labels, beta=1.0):
    # KL on detached mu/logvar: the encoder gets no gradient from the KL term
    out = model(x, labels)
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    kl = gaussian_kl(out["mu"].detach(), out["logvar"].detach())
    return (-rec + beta * kl).mean()


def cl_dummy_labels(model, x, labels, beta=1.0):
    # passes a placeholder class 0 to the model instead of the batch's own labels
    out = model(x, torch.zeros_like(labels))
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    kl = gaussian_kl(out["mu"], out["logvar"])
    return (-rec + beta * kl).mean()


def cl_item(model, x, labels, beta=1.0):
    # returns a Python float (.item()): not a 0-d tensor, not differentiable
    out = model(x, labels)
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    kl = gaussian_kl(out["mu"], out["logvar"])
    return (-rec + beta * kl).mean().item()


def cl_bce_mean_over_pixels(model, x, labels, beta=1.0):
    # F.binary_cross_entropy_with_logits' default mean: nats per pixel, not per example
    out = model(x, labels)
    rec = F.binary_cross_entropy_with_logits(out["x_logits"], x)
    kl = gaussian_kl(out["mu"], out["logvar"]).mean()
    return rec + beta * kl


# ------------------------------------------------------------------ ex06.analogy_grid
def ag_samples_z(model, x, labels):
    # samples z ~ q(z|x,y) instead of keeping the mean: the grid is not repeatable
    K = model.n_classes
    with torch.no_grad():
        mu, logvar = model.encode(x, labels)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = torch.sigmoid(model.decode(z[i : i + 1].expand(K, -1), classes))
            rows.append(torch.cat([x[i : i + 1], decoded]))
    return torch.cat(rows)


def ag_no_sigmoid(model, x, labels):
    # decoder logits, not probabilities in [0, 1]
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = model.decode(mu[i : i + 1].expand(K, -1), classes)
            rows.append(torch.cat([x[i : i + 1], decoded]))
    return torch.cat(rows)


def ag_no_original(model, x, labels):
    # leaves out the digit itself: B·K images instead of B·(1 + K)
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            rows.append(torch.sigmoid(model.decode(mu[i : i + 1].expand(K, -1), classes)))
    return torch.cat(rows)


def ag_original_last(model, x, labels):
    # puts the digit after its transfers instead of before them
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = torch.sigmoid(model.decode(mu[i : i + 1].expand(K, -1), classes))
            rows.append(torch.cat([decoded, x[i : i + 1]]))
    return torch.cat(rows)


def ag_column_major(model, x, labels):
    # column-major: all originals, then every digit as class 0, then every digit as 1, ...
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        cols = [x]
        for k in range(K):
            cls = torch.full((x.shape[0],), k, dtype=torch.long, device=x.device)
            cols.append(torch.sigmoid(model.decode(mu, cls)))
    return torch.cat(cols)


def ag_hardcoded_10(model, x, labels):
    # assumes MNIST: always 10 classes instead of model.n_classes
    K = 10
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = torch.sigmoid(model.decode(mu[i : i + 1].expand(K, -1), classes))
            rows.append(torch.cat([x[i : i + 1], decoded]))
    return torch.cat(rows)


def ag_encodes_with_target(model, x, labels):
    # encodes x with each target class instead of its own label (reconstruction, not transfer)
    K = model.n_classes
    with torch.no_grad():
        rows = []
        for i in range(x.shape[0]):
            xi = x[i : i + 1].expand(K, *x.shape[1:])
            classes = torch.arange(K, device=x.device)
            mu, _ = model.encode(xi, classes)
            rows.append(torch.cat([x[i : i + 1], torch.sigmoid(model.decode(mu, classes))]))
    return torch.cat(rows)


def ag_reconstruction_first(model, x, labels):
    # shows the reconstruction sigmoid(decode(mu, y)) in place of the digit itself
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        recon = torch.sigmoid(model.decode(mu, labels))
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = torch.sigmoid(model.decode(mu[i : i + 1].expand(K, -1), classes))
            rows.append(torch.cat([recon[i : i + 1], decoded]))
    return torch.cat(rows)


def ag_unflattened(model, x, labels):
    # stacks rows into (B, 1 + K, 1, H, W) instead of flattening to (B·(1 + K), 1, H, W)
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = torch.sigmoid(model.decode(mu[i : i + 1].expand(K, -1), classes))
            rows.append(torch.cat([x[i : i + 1], decoded]))
    return torch.stack(rows)


def ag_grid_on_cpu(model, x, labels):
    # moves the finished grid to the CPU "for plotting": not on the device of x and the model
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = torch.sigmoid(model.decode(mu[i : i + 1].expand(K, -1), classes))
            rows.append(torch.cat([x[i : i + 1], decoded]))
    return torch.cat(rows).cpu()


def ag_binarized_original(model, x, labels):
    # shows the digit thresholded at 0.5 instead of x[i] itself (wrong for grey-level x)
    K = model.n_classes
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        classes = torch.arange(K, device=x.device)
        rows = []
        for i in range(x.shape[0]):
            decoded = torch.sigmoid(model.decode(mu[i : i + 1].expand(K, -1), classes))
            rows.append(torch.cat([(x[i : i + 1] > 0.5).float(), decoded]))
    return torch.cat(rows)


def ag_labels_as_classes(model, x, labels):
    # decodes each z with the batch's labels instead of every class 0 … K − 1
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        rows = []
        for i in range(x.shape[0]):
            z = mu[i : i + 1].expand(x.shape[0], -1)
            rows.append(torch.cat([x[i : i + 1], torch.sigmoid(model.decode(z, labels))]))
    return torch.cat(rows)


MUTANTS = [
    ("ex06.one_hot", oh_int64),
    ("ex06.one_hot", oh_classes_from_batch),
    ("ex06.one_hot", oh_hardcoded_10),
    ("ex06.one_hot", oh_one_based),
    ("ex06.one_hot", oh_float64),
    ("ex06.one_hot", oh_transposed),
    ("ex06.one_hot", oh_zeros_on_cpu),
    ("ex06.one_hot", oh_eye_on_cpu),
    ("ex06.one_hot", oh_unsqueeze_inplace),
    ("ex06.conditional_loss", cl_ignores_beta),
    ("ex06.conditional_loss", cl_beta_on_reconstruction),
    ("ex06.conditional_loss", cl_sum_over_batch),
    ("ex06.conditional_loss", cl_kl_sign),
    ("ex06.conditional_loss", cl_decodes_mean),
    ("ex06.conditional_loss", cl_detached_kl),
    ("ex06.conditional_loss", cl_dummy_labels),
    ("ex06.conditional_loss", cl_item),
    ("ex06.conditional_loss", cl_bce_mean_over_pixels),
    ("ex06.analogy_grid", ag_samples_z),
    ("ex06.analogy_grid", ag_no_sigmoid),
    ("ex06.analogy_grid", ag_no_original),
    ("ex06.analogy_grid", ag_original_last),
    ("ex06.analogy_grid", ag_column_major),
    ("ex06.analogy_grid", ag_hardcoded_10),
    ("ex06.analogy_grid", ag_encodes_with_target),
    ("ex06.analogy_grid", ag_reconstruction_first),
    ("ex06.analogy_grid", ag_unflattened),
    ("ex06.analogy_grid", ag_grid_on_cpu),
    ("ex06.analogy_grid", ag_binarized_original),
    ("ex06.analogy_grid", ag_labels_as_classes),
]


# ==================================================================================== main
def main(argv: list[str] | None = None) -> int:
    return report(MUTANTS, SOLUTIONS, SEEDS, argv)


if __name__ == "__main__":
    sys.exit(main())
