"""Kubernetes API adapter: this node's pods and their owners, and the response's pod actions.

lightkube is imported only by :mod:`vigil.kube.client` and :mod:`vigil.kube.actions`, and those
are loaded only once a Kubernetes configuration is found (:mod:`vigil.kube.setup`); the rest of
the package (:mod:`.errors`, :mod:`.objects`, :mod:`.locate`, :mod:`.pods`) works without it.
"""
