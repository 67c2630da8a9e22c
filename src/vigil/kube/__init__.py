"""Kubernetes API adapter: this node's pods and their owners.

lightkube is imported only in :mod:`vigil.kube.client`.
"""
