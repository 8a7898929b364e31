"""vae_course: the tested helper package of the Variational Autoencoder course.

Layers (imports only point down)::

    cli
    grading
    widgets · models · train · metrics · data
    losses · plot · device

Units: log-likelihoods, KL terms and ELBOs are in nats *per example* unless a name
says otherwise (``..._per_dim``, ``..._bits``).
"""

__version__ = "0.1.0"
